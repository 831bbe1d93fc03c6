#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's demo: a live clone served over iSCSI while it hydrates.
#
# Installs the dependencies, builds, generates a source image (random data
# with zero-filled stretches, a short last region) and the writes an
# initiator will make, then runs scripts/demo-lio.sh where LIO is: on this
# host when its kernel has LIO (configfs, target_core_user, iscsi_target_mod),
# else inside a User-Mode-Linux guest over this host's root (Debian's
# user-mode-linux kernel has LIO). That serves the clone as a user:clone LUN
# through tcmu-runner and handler_clone.so, logs in with open-iscsi, reads
# and writes while a progress bar follows hydration to 100 %, and reads the
# LUN back. Finally, here, the destination is checked against the source
# overlaid with the writes, and the metadata store must say 100 %.
#
# Usage: scripts/demo.sh [SIZE_MIB] [RATE_MIB_S]     (default 256 and 16)
#        LC_DEMO_MODE=uml|native to choose where LIO runs (default: native
#        when this kernel has LIO, else uml), LC_DEMO_CPU=N to pin the guest
#        to another CPU than 0. Runs as root.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
size_mib=${1:-256}
rate=${2:-16}
[[ $size_mib =~ ^[0-9]+$ && $size_mib -ge 16 ]] || { echo "demo: SIZE_MIB must be a number >= 16" >&2; exit 2; }
[[ $rate =~ ^[0-9]+$ && $rate -ge 1 ]] || { echo "demo: RATE_MIB_S must be a number >= 1" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "demo: run as root (LIO, tcmu-runner, the UML guest)" >&2; exit 1; }

bash scripts/install-deps.sh
echo "demo: building"
bash scripts/build.sh build >/dev/null

dir=$(mktemp -d /var/tmp/lunclone-demo.XXXXXX)
uml_pid=
cleanup() {
	local rc=$?
	[[ -z $uml_pid ]] || kill "$uml_pid" 2>/dev/null || true
	if [[ $rc -eq 0 ]]; then rm -rf "$dir"; else echo "demo: FAILED; files kept in $dir" >&2; fi
	exit "$rc"
}
trap cleanup EXIT

echo "demo: generating a ${size_mib} MiB source image in $dir"
head -c $((size_mib << 20)) /dev/urandom >"$dir/source.img"
# Every fourth MiB zero (hydration discards those instead of writing them),
# and an odd tail: the last 64 KiB region is short.
for ((i = 0; i < size_mib; i += 4)); do
	dd if=/dev/zero of="$dir/source.img" bs=1M seek=$i count=1 conv=notrunc status=none
done
head -c 12288 /dev/urandom >>"$dir/source.img"
size=$(stat -c %s "$dir/source.img")

# What the initiator will write while hydration runs: part of a region, a
# whole MiB of regions, and the short last region.
head -c 8192 /dev/urandom >"$dir/w1.bin"
head -c $((1 << 20)) /dev/urandom >"$dir/w2.bin"
head -c 4096 /dev/urandom >"$dir/w3.bin"
{
	echo "$(((1 << 20) + 4096)) w1.bin"
	echo "$(((size_mib / 2) << 20)) w2.bin"
	echo "$((size - 4096)) w3.bin"
} >"$dir/writes.txt"
cp "$dir/source.img" "$dir/expected.img"
while read -r off file; do
	dd if="$dir/$file" of="$dir/expected.img" bs=1M seek="$off" oflag=seek_bytes conv=notrunc status=none
done <"$dir/writes.txt"
sha=$(sha256sum <"$dir/expected.img")
echo "${sha%% *}" >"$dir/expected.sha256"
rm -f "$dir/expected.img"
mkdir -p "$dir/handlers"
cp build/handler/handler_clone.so "$dir/handlers/"

mode=${LC_DEMO_MODE:-}
if [[ -z $mode ]]; then
	mode=uml
	if modprobe -q target_core_user 2>/dev/null && modprobe -q iscsi_target_mod 2>/dev/null; then
		mode=native
	fi
fi
case $mode in
native)
	echo "demo: this kernel has LIO: running natively"
	LC_DEMO_DIR=$dir LC_DEMO_HANDLER=$dir/handlers LC_DEMO_LUNCLONE=$REPO/build/cli/lunclone \
		LC_DEMO_RATE=$rate bash scripts/demo-lio.sh
	;;
uml)
	echo "demo: this kernel has no LIO: booting a User-Mode-Linux guest (Linux $(linux.uml --version)) for it"
	# The guest sees this host's files read-only at the same paths, and
	# $dir writable at /e2eout; its console streams into console.log.
	mkdir -p "$dir/guest"
	E2E_OUT=$dir/guest E2E_CPU=${LC_DEMO_CPU:-0} LC_DEMO_DIR=/e2eout LC_DEMO_HANDLER=$dir/handlers \
		LC_DEMO_LUNCLONE=$REPO/build/cli/lunclone LC_DEMO_RATE=$rate \
		bash tests/e2e/run-uml.sh "$REPO/scripts/demo-lio.sh" 900 >"$dir/uml.txt" 2>&1 &
	uml_pid=$!
	# The guest writes into $dir through /e2eout: give it the files.
	for f in source.img writes.txt expected.sha256 w1.bin w2.bin w3.bin; do
		ln "$dir/$f" "$dir/guest/$f"
	done
	while [[ ! -e $dir/guest/console.log ]]; do sleep 0.2; done
	tail -n +1 -f --pid="$uml_pid" "$dir/guest/console.log" |
		grep --line-buffered -aE '^(demo:|\[[#.]+\]|ASSERT FAIL|lunclone: )' || true
	rc=0
	wait "$uml_pid" || rc=$?
	uml_pid=
	if [[ $rc -ne 0 ]]; then
		cat "$dir/uml.txt" >&2
		echo "demo: the guest failed (exit $rc); its console: $dir/guest/console.log" >&2
		exit 1
	fi
	dir_out=$dir/guest
	;;
*)
	echo "demo: LC_DEMO_MODE must be uml or native" >&2
	exit 2
	;;
esac
dir_out=${dir_out:-$dir}

# Checks on this side, from the files the clone left.
sha=$(head -c "$size" "$dir_out/dest.img" | sha256sum)
if [[ ${sha%% *} != "$(cat "$dir/expected.sha256")" ]]; then
	echo "demo: FAIL: the destination differs from the source overlaid with the writes" >&2
	exit 1
fi
echo "demo: the destination equals the source overlaid with the initiator's writes"
build/cli/lunclone status --meta "$dir_out/clone.meta"
build/cli/lunclone status --meta "$dir_out/clone.meta" | grep -q 'hydrated (100.0%)' || {
	echo "demo: FAIL: the metadata store does not say 100 %" >&2
	exit 1
}
echo "demo: done"
