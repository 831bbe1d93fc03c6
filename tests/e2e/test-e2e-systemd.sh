#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Scenario 14: luncloned as a systemd service, in a UML guest whose PID 1 is
# systemd (guest-systemd.sh says what it asserts).
#
# usage: test-e2e-systemd.sh --build DIR [--work DIR] [--cpu N]
#   --build  a configured and built tree (handler_clone.so, luncloned,
#            lunclonectl): the guest installs it with `cmake --install`
#   --work   guest output (console, journal, assertions); kept on failure or
#            with E2E_KEEP=1
#   --cpu    host CPU the guest is pinned to (default 0)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=
WORK=
CPU=${E2E_CPU:-0}

fail() {
	echo "test-e2e-systemd: FAIL: $*" >&2
	exit 1
}

while (($#)); do
	case $1 in
	--build) BUILD=$2 ;;
	--work) WORK=$2 ;;
	--cpu) CPU=$2 ;;
	*) fail "unknown argument '$1' (see the usage in $0)" ;;
	esac
	shift 2
done

[[ $(id -u) -eq 0 ]] || fail "must run as root (UML's hostfs, LIO configuration in the guest)"
[[ -n $BUILD && -f $BUILD/CMakeCache.txt ]] || fail "--build: '$BUILD' is not a configured build tree"
BUILD=$(realpath "$BUILD")
for t in handler/handler_clone.so daemon/luncloned cli/lunclonectl cli/lunclone; do
	[[ -e $BUILD/$t ]] || fail "$BUILD/$t not built"
done
missing=()
for c in linux.uml taskset tcmu-runner iscsiadm iscsid iscsi-inq fio cmake python3 bc; do
	command -v "$c" >/dev/null || missing+=("$c")
done
[[ -x /lib/systemd/systemd ]] || missing+=(systemd)
((${#missing[@]} == 0)) ||
	fail "missing on the host: ${missing[*]} (run: bash tests/e2e/install-host.sh)"

WORK=${WORK:-$(mktemp -d /tmp/lunclone-e2e-sysd.XXXXXX)}
rm -rf "$WORK/guest"
mkdir -p "$WORK/guest"
WORK=$(realpath "$WORK")
status=0
E2E_OUT=$WORK/guest E2E_CPU=$CPU E2E_BUILD=$BUILD \
	"$HERE/run-uml-systemd.sh" "$HERE/guest-systemd.sh" "${E2E_SYSD_TIMEOUT:-600}" || status=$?

echo "=== scenario 14 (systemd guest): exit $status"
sed 's/^/  /' "$WORK/guest/assertions.txt" 2>/dev/null || true
if [[ $status -ne 0 ]]; then
	echo "--- guest console without kernel lines (last 80 of $WORK/guest/console.log)"
	grep -a -v -E '^\[ *[0-9.]+\]' "$WORK/guest/console.log" | tail -n 80 || true
	echo "test-e2e-systemd: artefacts kept in $WORK"
	exit 1
fi
[[ ${E2E_KEEP:-0} == 1 ]] && echo "test-e2e-systemd: artefacts kept in $WORK" || rm -rf "$WORK"
echo "test-e2e-systemd: PASS"
