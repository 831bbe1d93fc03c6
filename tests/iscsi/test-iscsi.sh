#!/usr/bin/env bash
# lunclone with an iscsi:// source against a real target: Debian's tgtd on
# 127.0.0.1 (a free port), started here and stopped by its PID.
#
# Cases: clone and verify (also with CRC32C header digests; status shows
# the LUN's designator); CHAP right
# (URL, secret file, mutual) and wrong (clear error); tgtd killed with
# SIGKILL mid-hydration and restarted: hydration resumes and the result
# equals the source; the LUN swapped behind the URL for another image, at
# open and across a reconnect: refused; the target away longer than the
# read timeout and the retries: hydration waits (reported once, shown in the
# progress line), quarantines nothing and finishes once it is back; source
# larger than the destination: refused. A missing tgtd or libiscsi-bin (or
# script(1)) fails the test.
#
# Usage: test-iscsi.sh --lunclone PATH [--work DIR]
set -euo pipefail

work=""
lunclone=""
cleanup() {
	local rc=$?
	tgt_cleanup || true
	if [ -n "$hydrate_pid" ]; then
		kill "$hydrate_pid" 2>/dev/null || true
		wait "$hydrate_pid" 2>/dev/null || true
	fi
	if [ "$rc" -ne 0 ] && [ -n "$work" ] && [ -f "$work/tgtd.log" ]; then
		echo "--- tgtd log (last lines) ---" >&2
		tail -n 20 "$work/tgtd.log" >&2
	fi
	[ -n "$work" ] && [ -z "$keep_work" ] && rm -rf "$work"
	exit "$rc"
}
hydrate_pid=""
keep_work=""
# Defined before anything can need cleaning up; tgt_cleanup comes with the lib.
tgt_cleanup() { :; }
trap cleanup EXIT

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tgtd-lib.sh
. "$here/tgtd-lib.sh"

while [ $# -gt 0 ]; do
	case $1 in
	--lunclone) lunclone=$2; shift 2 ;;
	--work) work=$2; keep_work=1; shift 2 ;;
	*) echo "usage: $0 --lunclone PATH [--work DIR]" >&2; exit 2 ;;
	esac
done
[ -x "$lunclone" ] || { echo "FAIL: lunclone binary '$lunclone' missing" >&2; exit 1; }
tgt_require
command -v script >/dev/null || { echo "FAIL: missing script(1) (Debian package bsdutils)" >&2; exit 1; }
if [ -z "$work" ]; then
	work=$(mktemp -d /tmp/lunclone-iscsi.XXXXXX)
else
	mkdir -p "$work"
fi
TGT_WORK=$work

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

# Random content (not zeros: a clone that copied nothing would compare
# equal to a sparse destination).
mkimage() { head -c "$2" /dev/urandom >"$1"; }

IQN=iqn.2026-11.org.lunclone.test:src
MiB=$((1024 * 1024))
mkimage "$work/src.img" $((64 * MiB))
mkimage "$work/other.img" $((48 * MiB))
mkimage "$work/big.img" $((96 * MiB))

tgt_start
url() { echo "iscsi://${1:+$1@}127.0.0.1:$TGT_PORT/$IQN/1${2:+?$2}"; }

fresh_dest() {
	rm -f "$work/dst.img" "$work/meta.img"
	truncate -s "${1:-$((64 * MiB))}" "$work/dst.img"
}

# --- clone and verify ---------------------------------------------------
tgt_target 1 "$IQN" "$work/src.img"
fresh_dest
"$lunclone" hydrate --format -q -s "$(url)" -d "$work/dst.img" -m "$work/meta.img"
cmp "$work/src.img" "$work/dst.img" || fail "clone differs from the source"
"$lunclone" verify -s "$(url)" -d "$work/dst.img" -m "$work/meta.img" >/dev/null ||
	fail "lunclone verify against the iscsi source"
# Header digests negotiated through libiscsi's URL option.
"$lunclone" verify -s "$(url "" header_digest=crc32c)" -d "$work/dst.img" \
	-m "$work/meta.img" >/dev/null || fail "verify with header_digest=crc32c"
if "$lunclone" verify -s "$(url "" header_digest=md5)" -d "$work/dst.img" \
	-m "$work/meta.img" 2>"$work/err"; then
	fail "an unknown header digest was accepted"
fi
grep -q "expected crc32c or none" "$work/err" || fail "bad digest: unclear error: $(cat "$work/err")"
"$lunclone" status -m "$work/meta.img" >"$work/status.txt"
grep -q '^source designator: naa\.' "$work/status.txt" ||
	fail "status does not show the LUN's NAA designator: $(cat "$work/status.txt")"
ok "clone from iscsi:// equals the source; status shows $(grep designator "$work/status.txt")"

# A write path does not exist: the backend refuses a writable open.
if "$lunclone" format -s "$work/src.img" -d "$(url)" -m "$work/m2.img" 2>"$work/err"; then
	fail "an iscsi:// destination was accepted"
fi
grep -q "read only" "$work/err" || fail "iscsi destination: unclear error: $(cat "$work/err")"
ok "iscsi:// refused as a destination: $(cat "$work/err")"

# --- source larger than the destination -----------------------------------
tgt_delete_target 1
tgt_target 1 "$IQN" "$work/big.img"
fresh_dest
if "$lunclone" format -s "$(url)" -d "$work/dst.img" -m "$work/meta.img" 2>"$work/err"; then
	fail "a destination smaller than the source was accepted"
fi
grep -q "destination is smaller than the source" "$work/err" ||
	fail "smaller destination: unclear error: $(cat "$work/err")"
[ ! -e "$work/meta.img" ] || fail "a refused format left a store behind"
ok "source larger than destination refused: $(cat "$work/err")"
tgt_delete_target 1

# --- CHAP -------------------------------------------------------------------
tgt_target 1 "$IQN" "$work/src.img" alice alices-secret-1 array arrays-secret-2
fresh_dest
if "$lunclone" format -s "$(url alice%wrong-password)" -d "$work/dst.img" \
	-m "$work/meta.img" 2>"$work/err"; then
	fail "CHAP with a wrong password logged in"
fi
grep -qi "login failed" "$work/err" || fail "wrong CHAP: unclear error: $(cat "$work/err")"
grep -q "wrong-password" "$work/err" && fail "the password appears in the message"
ok "wrong CHAP password refused: $(cat "$work/err")"
if "$lunclone" format -s "$(url)" -d "$work/dst.img" -m "$work/meta.img" 2>"$work/err"; then
	fail "no CHAP credentials logged in to a CHAP target"
fi
ok "no CHAP credentials refused"

"$lunclone" format -q -s "$(url alice%alices-secret-1)" -d "$work/dst.img" -m "$work/meta.img"
ok "CHAP with the password in the URL"

# Secret file: mode 600 accepted, 644 refused; mutual CHAP through it.
printf 'user=alice\npassword=alices-secret-1\ntarget_user=array\ntarget_password=arrays-secret-2\n' \
	>"$work/chap"
chmod 644 "$work/chap"
if "$lunclone" hydrate -q -s "$(url "" "secret_file=$work/chap")" -d "$work/dst.img" \
	-m "$work/meta.img" 2>"$work/err"; then
	fail "a world-readable secret file was accepted"
fi
grep -q "chmod 600" "$work/err" || fail "secret file mode: unclear error: $(cat "$work/err")"
chmod 600 "$work/chap"
"$lunclone" hydrate -q -s "$(url "" "secret_file=$work/chap")" -d "$work/dst.img" \
	-m "$work/meta.img"
cmp "$work/src.img" "$work/dst.img" || fail "clone through CHAP differs from the source"
ok "mutual CHAP from a secret file (0600; 0644 refused), clone equals the source"

printf 'user=alice\npassword=alices-secret-1\ntarget_user=array\ntarget_password=not-the-target\n' \
	>"$work/chap-bad-target"
chmod 600 "$work/chap-bad-target"
if "$lunclone" verify -s "$(url "" "secret_file=$work/chap-bad-target")" -d "$work/dst.img" \
	-m "$work/meta.img" 2>"$work/err"; then
	fail "mutual CHAP accepted a target that does not know the target secret"
fi
ok "mutual CHAP: a target with the wrong secret refused"
tgt_delete_target 1

# --- tgtd killed mid-hydration and restarted --------------------------------
# Hydration reads a failing source region by region, each retried before it
# is quarantined: 1 MiB regions keep those cases short.
mkimage "$work/src.img" $((48 * MiB))
tgt_target 1 "$IQN" "$work/src.img"
fresh_dest $((48 * MiB))
# 8 MiB/s: about 6 s, room to kill and restart in the middle.
"$lunclone" hydrate --format -r 1M --rate 8 -s "$(url "" timeout=20)" -d "$work/dst.img" \
	-m "$work/meta.img" >"$work/hydrate.out" 2>"$work/hydrate.err" &
hydrate_pid=$!
sleep 2
kill -0 "$hydrate_pid" 2>/dev/null || fail "hydration ended before tgtd could be killed"
tgt_kill
sleep 1
tgt_start
tgt_target 1 "$IQN" "$work/src.img"
rc=0
wait "$hydrate_pid" || rc=$?
hydrate_pid=""
[ "$rc" -eq 0 ] || fail "hydration did not survive the tgtd restart (exit $rc): $(cat "$work/hydrate.err")"
cmp "$work/src.img" "$work/dst.img" || fail "clone differs from the source after the restart"
# The summary counts the source's logins: the restart shows as failed
# attempts and at least one more login.
line=$(grep "^source '" "$work/hydrate.out") || fail "no source summary: $(cat "$work/hydrate.out")"
[[ $line =~ :\ ([0-9]+)\ logins,\ ([0-9]+)\ failed ]] || fail "source summary: '$line'"
[ "${BASH_REMATCH[1]}" -ge 2 ] && [ "${BASH_REMATCH[2]}" -ge 1 ] ||
	fail "no reconnection seen in '$line'"
ok "tgtd SIGKILLed mid-hydration and restarted: hydration resumed, clone equals the source ($line)"

# --- the LUN swapped behind the URL ----------------------------------------
# tgtd derives the NAA designator from the target's tid: the same IQN
# recreated as tid 2 over another image of the same size is another LUN.
tgt_delete_target 1
tgt_target 2 "$IQN" "$work/other.img"
if "$lunclone" hydrate -q -s "$(url)" -d "$work/dst.img" -m "$work/meta.img" \
	2>"$work/err"; then
	fail "hydrate accepted another LUN behind the same URL"
fi
grep -q "wrong LUN" "$work/err" || fail "swapped LUN: unclear error: $(cat "$work/err")"
ok "swapped LUN refused at open: $(cat "$work/err")"

# Swapped while hydrating: the reconnect sees it and every read fails.
tgt_delete_target 2
tgt_target 1 "$IQN" "$work/src.img"
fresh_dest $((48 * MiB))
"$lunclone" hydrate --format -q -r 1M --rate 8 -s "$(url "" timeout=20)" -d "$work/dst.img" \
	-m "$work/meta.img" 2>"$work/hydrate.err" &
hydrate_pid=$!
sleep 2
kill -0 "$hydrate_pid" 2>/dev/null || fail "hydration ended before the LUN could be swapped"
tgt_kill
tgt_start
tgt_target 2 "$IQN" "$work/other.img"
rc=0
wait "$hydrate_pid" || rc=$?
hydrate_pid=""
[ "$rc" -ne 0 ] || fail "hydration completed from a swapped LUN"
grep -q "wrong LUN" "$work/hydrate.err" ||
	fail "swap mid-hydration: unclear error: $(cat "$work/hydrate.err")"
# Nothing from the other image was marked hydrated: what the store vouches
# for still equals the original source.
"$lunclone" verify -s "$work/src.img" -d "$work/dst.img" -m "$work/meta.img" >/dev/null ||
	fail "regions marked hydrated differ from the original source"
ok "LUN swapped mid-hydration refused; hydrated regions all from the right LUN"
tgt_delete_target 2

# --- the target away for longer than the retry budget: hydration waits -----
# With timeout=2 a read gives up 2 s after tgtd went; hydration used to
# retry each region 3 times 100 ms apart and then quarantine it, so after a
# few seconds every region left was quarantined and hydrate exited 1. Now a
# source that cannot be reached makes hydration wait: said once with the
# reason, the progress line shows it, nothing quarantined, and it finishes
# by itself once tgtd is back. Run on a terminal (script(1)) so that the
# progress line, the command's view of the clone's status, is drawn.
tgt_target 1 "$IQN" "$work/src.img"
fresh_dest $((48 * MiB))
cmd=$(printf '%q ' "$lunclone" hydrate --format -r 1M --rate 8 -s "$(url "" timeout=2)" \
	-d "$work/dst.img" -m "$work/meta.img")
script -qfec "$cmd" "$work/tty.log" </dev/null >/dev/null 2>&1 &
hydrate_pid=$!
sleep 2
kill -0 "$hydrate_pid" 2>/dev/null || fail "hydration ended before tgtd could be stopped: $(cat "$work/tty.log")"
tgt_kill
down_at=$SECONDS
for ((i = 0; i < 100; i++)); do
	grep -q "hydration waits for it" "$work/tty.log" && break
	sleep 0.1
done
said=$(grep -a "source unreachable, hydration waits for it" "$work/tty.log") ||
	fail "no message that hydration waits for the source: $(tr '\r' '\n' <"$work/tty.log" | tail -n 5)"
# Well past the old budget: 2 s timeout, then 3 retries per region.
sleep 8
kill -0 "$hydrate_pid" 2>/dev/null ||
	fail "hydration ended while the target was away: $(tr '\r' '\n' <"$work/tty.log" | tail -n 5)"
tr '\r' '\n' <"$work/tty.log" | tail -n 2 | grep -q "waiting for the source" ||
	fail "the progress line does not show the wait: $(tr '\r' '\n' <"$work/tty.log" | tail -n 2)"
[ "$(grep -ac "hydration waits for it" "$work/tty.log")" -eq 1 ] ||
	fail "the wait was reported more than once: $(grep -a "waits for it" "$work/tty.log")"
! grep -aqi "quarantin" "$work/tty.log" || fail "regions quarantined: $(cat "$work/tty.log")"
tgt_start
tgt_target 1 "$IQN" "$work/src.img"
rc=0
wait "$hydrate_pid" || rc=$?
hydrate_pid=""
[ "$rc" -eq 0 ] || fail "hydration did not finish after the target came back (exit $rc): $(tr '\r' '\n' <"$work/tty.log" | tail -n 5)"
cmp "$work/src.img" "$work/dst.img" || fail "clone differs from the source after the outage"
[ "$(grep -ac "source reachable again, hydration resumed" "$work/tty.log")" -eq 1 ] ||
	fail "the return of the source was not reported once: $(tr '\r' '\n' <"$work/tty.log" | tail -n 5)"
"$lunclone" status -m "$work/meta.img" >"$work/status.txt"
grep -Eq "^regions: +48/48 hydrated" "$work/status.txt" ||
	fail "the store does not record every region: $(cat "$work/status.txt")"
ok "target away $((SECONDS - down_at)) s: hydration waited (${said##*: }), nothing quarantined, resumed by itself, clone equals the source"

echo "iscsi: all cases passed"
