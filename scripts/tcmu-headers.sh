#!/usr/bin/env bash
# Fetches Debian's tcmu-runner source package (for its headers: Debian ships no
# libtcmu-dev) into DIR and prints the path of the extracted source tree.
# Usage: scripts/tcmu-headers.sh [DIR]      (default: build/tcmu-runner-src)
# The source package is called tcmu: the tree is DIR/tcmu-<version>.
#
# Idempotent: when DIR already holds an extracted tree, prints it and exits.
# Enables deb-src for Debian's main archive when no source index has it
# (needs root then), and installs dpkg-dev when dpkg-source is missing.
# tcmu-runner's code must never be committed: DIR must not be inside the
# repository unless under a build*/ directory (gitignored).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$repo/build/tcmu-runner-src}
dir=$(realpath -m "$dir")

case "$dir/" in
"$repo"/build*/*) ;;
"$repo"/*)
	echo "tcmu-headers.sh: '$dir' is inside the repository but not under build*/;" \
		"refusing (tcmu-runner code must never be committed)" >&2
	exit 1
	;;
esac
mkdir -p "$dir"

# Captured first, then matched: `apt-cache ... | grep -q` under pipefail fails
# at random with SIGPIPE.
have_source_index() {
	local out
	out=$(apt-cache showsrc tcmu-runner 2>/dev/null) || return 1
	[[ $out == *"Binary:"*tcmu-runner* ]]
}

find_tree() {
	local d
	for d in "$dir"/tcmu-[0-9]*/ "$dir"/tcmu-runner-[0-9]*/; do
		if [ -f "$d/tcmu-runner.h" ] && [ -f "$d/libtcmu.h" ]; then
			echo "${d%/}"
			return 0
		fi
	done
	return 1
}

if tree=$(find_tree); then
	echo "$tree"
	exit 0
fi

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		echo "tcmu-headers.sh: need root for: $*" >&2
		return 1
	fi
}

if ! command -v dpkg-source >/dev/null; then
	echo "tcmu-headers.sh: installing dpkg-dev (for dpkg-source)" >&2
	as_root apt-get install -y dpkg-dev >&2
fi

if ! have_source_index; then
	list=/etc/apt/sources.list.d/lunclone-deb-src.sources
	echo "tcmu-headers.sh: no deb-src index has tcmu-runner; writing $list" >&2
	. /etc/os-release
	codename=${VERSION_CODENAME:?cannot tell the Debian release from /etc/os-release}
	as_root tee "$list" >/dev/null <<SRC
# Written by lunclone scripts/tcmu-headers.sh: tcmu-runner's headers come from
# its source package.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $codename $codename-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
	as_root apt-get update >&2
	if ! have_source_index; then
		echo "tcmu-headers.sh: tcmu-runner source package still unknown after" \
			"enabling deb-src in $list" >&2
		exit 1
	fi
fi

echo "tcmu-headers.sh: apt-get source tcmu-runner into $dir" >&2
# Not as the sandbox user _apt: it may not be able to write into $dir.
(cd "$dir" && apt-get source -o APT::Sandbox::User=root tcmu-runner >&2)

if ! tree=$(find_tree); then
	echo "tcmu-headers.sh: apt-get source ran but no tcmu-<version>/tcmu-runner.h" \
		"appeared in '$dir'" >&2
	exit 1
fi
echo "$tree"
