#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Boots Debian's User-Mode-Linux kernel over the host's root (read-only
# hostfs, tmpfs overlay inside the guest: uml-init.sh), runs a guest script as
# root there and exits with that script's exit status.
#
# usage: run-uml.sh GUEST-SCRIPT [TIMEOUT-SECONDS]
#
# Environment:
#   E2E_OUT    host dir mounted writable at /e2eout in the guest (results,
#              console.log, rc); default: a new dir under /tmp
#   E2E_CPU    host CPU to pin the guest to (UML is uniprocessor), default 0
#   E2E_MEM    guest memory, default 1024M
#   E2E_*, LC_*  every exported variable with these prefixes is written to
#              <out>/env and exported to the guest script
set -euo pipefail

die() {
	echo "run-uml.sh: $*" >&2
	exit 2
}

[[ $# -ge 1 ]] || die "usage: run-uml.sh GUEST-SCRIPT [TIMEOUT-SECONDS]"
SCRIPT=$(realpath "$1") # absolute: the guest's cwd is /
TMO=${2:-300}
[[ -r $SCRIPT ]] || die "guest script $1 not found"
HERE=$(cd "$(dirname "$0")" && pwd)
CPU=${E2E_CPU:-0}
MEM=${E2E_MEM:-1024M}

command -v linux.uml >/dev/null ||
	die "linux.uml not found: install Debian's user-mode-linux (tests/e2e/install-host.sh)"
KVER=$(linux.uml --version 2>/dev/null || true)
[[ -n $KVER ]] || die "linux.uml --version printed nothing"
[[ -d /usr/lib/uml/modules/$KVER/kernel ]] ||
	die "UML modules missing: /usr/lib/uml/modules/$KVER (reinstall user-mode-linux)"
command -v busybox >/dev/null || die "busybox missing (busybox-static)"
command -v taskset >/dev/null || die "taskset missing (util-linux)"
# root: UML's hostfs lets the guest see only what the calling user may; the
# guest configures LIO as root and reads root-owned files.
[[ $(id -u) -eq 0 ]] || die "must run as root"

OUT=${E2E_OUT:-$(mktemp -d /tmp/lunclone-e2e.XXXXXX)}
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
rm -f "$OUT/rc"
# Pass knobs to the guest.
{
	while IFS= read -r v; do
		printf '%s=%q\n' "$v" "${!v}"
	done < <(compgen -e | grep -E '^(E2E|LC)_' || true)
	printf 'E2E_OUT_HOST=%q\n' "$OUT"
} >"$OUT/env"

UMLDIR=$(mktemp -d /tmp/lunclone-uml.XXXXXX)
cleanup() { rm -rf "$UMLDIR"; }
trap cleanup EXIT
# shellcheck source=tests/e2e/uml-host-lib.sh
. "$HERE/uml-host-lib.sh"
SHIM=$(uml_xstate_shim "$UMLDIR") || die "cannot build the UML xstate shim (gcc)"

LOG=$OUT/console.log
start=$(date +%s.%N)
set +e
TMPDIR=/dev/shm timeout --kill-after=10 $((TMO + 60)) \
	env LD_PRELOAD="$SHIM" taskset -c "$CPU" linux.uml \
	mem="$MEM" umid="lc-e2e-$$" uml_dir="$UMLDIR" \
	root=/dev/root rootfstype=hostfs rootflags=/ ro \
	init="$HERE/uml-init.sh" \
	con=null con0=null,fd:1 \
	e2e.script="$SCRIPT" e2e.timeout="$TMO" e2e.out="$OUT" \
	</dev/null >"$LOG" 2>&1
urc=$?
set -e
end=$(date +%s.%N)
rc=$(cat "$OUT/rc" 2>/dev/null || echo none)
printf 'run-uml.sh: %s on cpu %s: uml exit=%s guest rc=%s wall=%.1fs log=%s\n' \
	"$(basename "$SCRIPT")" "$CPU" "$urc" "$rc" "$(echo "$end - $start" | bc)" "$LOG"
if [[ $rc == none ]]; then
	echo "run-uml.sh: the guest did not report a result; console tail:" >&2
	tail -n 30 "$LOG" >&2 || true
	exit 3
fi
exit "$rc"
