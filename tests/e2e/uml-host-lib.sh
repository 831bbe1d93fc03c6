# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Host-side helpers shared by run-uml.sh, run-uml-systemd.sh and the
# bench/uml-* commands. Source it.

# uml_xstate_shim DIR: builds uml-xstate-shim.c into DIR and prints the
# library's path, for LD_PRELOAD of linux.uml. Without it Debian's UML
# panics at its first guest process on a host with AVX-512 or AMX ("ptrace
# set fp regs failed, errno = 14": see the shim's comment); elsewhere it
# changes nothing (it only completes short NT_X86_XSTATE ptrace buffers).
uml_xstate_shim() {
	local src
	src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/uml-xstate-shim.c
	gcc -O2 -fPIC -shared -o "$1/uml-xstate-shim.so" "$src" -ldl ||
		{ echo "uml: building $src failed" >&2; return 1; }
	echo "$1/uml-xstate-shim.so"
}

# What both run-uml scripts need. uml_require NAME checks the host (NAME
# prefixes the messages) and sets KVER, the UML kernel's version.
uml_die() {
	echo "$1: ${*:2}" >&2
	exit 2
}
uml_require() {
	command -v linux.uml >/dev/null ||
		uml_die "$1" "linux.uml not found: install Debian's user-mode-linux (tests/e2e/install-host.sh)"
	KVER=$(linux.uml --version 2>/dev/null || true)
	[[ -n $KVER ]] || uml_die "$1" "linux.uml --version printed nothing"
	[[ -d /usr/lib/uml/modules/$KVER/kernel ]] ||
		uml_die "$1" "UML modules missing: /usr/lib/uml/modules/$KVER (reinstall user-mode-linux)"
	command -v taskset >/dev/null || uml_die "$1" "taskset missing (util-linux)"
	# root: UML's hostfs lets the guest see only what the calling user
	# may; the guest configures LIO as root and reads root-owned files.
	[[ $(id -u) -eq 0 ]] || uml_die "$1" "must run as root"
}

# uml_out_dir: sets OUT (E2E_OUT or a new dir) and writes OUT/env, the
# E2E_* and LC_* variables the guest script gets.
uml_out_dir() {
	OUT=${E2E_OUT:-$(mktemp -d /tmp/lunclone-e2e.XXXXXX)}
	mkdir -p "$OUT"
	OUT=$(realpath "$OUT")
	rm -f "$OUT/rc"
	{
		while IFS= read -r v; do
			printf '%s=%q\n' "$v" "${!v}"
		done < <(compgen -e | grep -E '^(E2E|LC)_' || true)
		printf 'E2E_OUT_HOST=%q\n' "$OUT"
	} >"$OUT/env"
}

# uml_boot NAME UMID TIMEOUT ARG...: boots linux.uml pinned to CPU with MEM,
# the xstate shim (built into UMLDIR) and the console in OUT/console.log,
# then exits with the guest's rc (3 when it reported none).
uml_boot() {
	local name=$1 umid=$2 tmo=$3 shim start end urc rc log=$OUT/console.log
	shift 3
	shim=$(uml_xstate_shim "$UMLDIR") || uml_die "$name" "cannot build the UML xstate shim (gcc)"
	start=$(date +%s.%N)
	set +e
	TMPDIR=/dev/shm timeout --kill-after=10 $((tmo + 60)) \
		env LD_PRELOAD="$shim" taskset -c "$CPU" linux.uml \
		mem="$MEM" umid="$umid" uml_dir="$UMLDIR" \
		root=/dev/root rootfstype=hostfs rootflags=/ ro \
		con=null con0=null,fd:1 "$@" \
		</dev/null >"$log" 2>&1
	urc=$?
	set -e
	end=$(date +%s.%N)
	rc=$(cat "$OUT/rc" 2>/dev/null || echo none)
	printf '%s: %s on cpu %s: uml exit=%s guest rc=%s wall=%.1fs log=%s\n' \
		"$name" "$(basename "$SCRIPT")" "$CPU" "$urc" "$rc" "$(echo "$end - $start" | bc)" "$log"
	if [[ $rc == none ]]; then
		echo "$name: the guest did not report a result; console tail:" >&2
		tail -n 30 "$log" >&2 || true
		exit 3
	fi
	exit "$rc"
}
