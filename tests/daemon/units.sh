#!/usr/bin/env bash
# systemd/: the unit (as configured for this build, pointed at the built
# luncloned) passes systemd-analyze verify without a word, and the tmpfiles
# snippet creates /run/lunclone with mode 0700 under a scratch root.
# Usage: units.sh UNIT_FILE LUNCLONED TMPFILES
set -euo pipefail
unit=${1:?usage: units.sh UNIT LUNCLONED TMPFILES}
luncloned=${2:?usage: units.sh UNIT LUNCLONED TMPFILES}
tmpfiles=${3:?usage: units.sh UNIT LUNCLONED TMPFILES}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v systemd-analyze >/dev/null || fail "systemd-analyze missing (package systemd)"
command -v systemd-tmpfiles >/dev/null || fail "systemd-tmpfiles missing (package systemd)"

grep -q '^Type=notify$' "$unit" || fail "not Type=notify"
grep -q '^ExecReload=/bin/kill -HUP \$MAINPID$' "$unit" || fail "no SIGHUP reload"
# verify wants ExecStart to exist: the built binary, same arguments.
sed "s|^ExecStart=[^ ]*|ExecStart=$luncloned|" "$unit" >"$tmp/luncloned.service"
systemd-analyze verify --man=no "$tmp/luncloned.service" >"$tmp/out" 2>&1 ||
	fail "systemd-analyze verify: $(cat "$tmp/out")"
[ ! -s "$tmp/out" ] || fail "systemd-analyze verify: $(cat "$tmp/out")"

systemd-tmpfiles --root="$tmp/root" --create "$(realpath "$tmpfiles")" ||
	fail "systemd-tmpfiles failed"
[ "$(stat -c %a "$tmp/root/run/lunclone")" = 700 ] || fail "/run/lunclone is not 0700"
echo "units.sh: ok"
