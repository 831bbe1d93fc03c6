#!/usr/bin/env bash
# luncloned's modes against a plain directory as configfs root: --dry-run
# plans without touching anything; --once applies (and, a plain directory
# having no attribute files, fails at the first write, naming it, after
# writing the session file the handler would read); the daemon tells
# systemd READY=1 through NOTIFY_SOCKET, reloads on SIGHUP (an invalid file
# changes nothing and says why, a valid one is planned) and stops on
# SIGTERM. The planner itself is tested against a strict fake configfs in
# test-plan.c.
# Usage: daemon.sh LUNCLONED
set -euo pipefail
luncloned=${1:?usage: daemon.sh LUNCLONED}

tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	for f in "$tmp"/*.log; do [ -e "$f" ] && { echo "--- $f" >&2; cat "$f" >&2; }; done
	exit 1
}
command -v python3 >/dev/null || fail "python3 missing (the NOTIFY_SOCKET listener)"

mkdir -p "$tmp/root/core" "$tmp/root/iscsi"
truncate -s 1M "$tmp/src.img" "$tmp/dst.img"
empty='{ "version": 1, "state_directory": "'"$tmp"'/state", "sessions": [] }'
one='{ "version": 1, "state_directory": "'"$tmp"'/state", "sessions": [ { "name": "vol1",
  "source": "'"$tmp"'/src.img", "destination": "'"$tmp"'/dst.img",
  "metadata": "'"$tmp"'/vol1.meta", "hydration": { "rate_limit_mibps": 50 } } ] }'
echo "$one" >"$tmp/one.json"
echo "$empty" >"$tmp/empty.json"

# --dry-run: the plan, and nothing changed.
"$luncloned" --once --dry-run --config "$tmp/one.json" --configfs-root "$tmp/root" \
	2>"$tmp/dry.log" || fail "dry run: exit $?"
grep -qF "would mkdir core/user_4242/lc-vol1" "$tmp/dry.log" || fail "dry run: no mkdir"
grep -qF "would write core/user_4242/lc-vol1/control = 'dev_config=clone/@$tmp/state/sessions/vol1.conf'" \
	"$tmp/dry.log" || fail "dry run: no cfgstring"
grep -qF "would write core/user_4242/lc-vol1/control = 'dev_size=1048576'" "$tmp/dry.log" ||
	fail "dry run: no size"
[ -z "$(ls "$tmp/root/core")" ] || fail "dry run changed configfs"
[ ! -e "$tmp/state" ] || fail "dry run wrote the state directory"

# --once on a directory without attribute files: the first write fails, named.
rc=0
"$luncloned" --once --config "$tmp/one.json" --configfs-root "$tmp/root" 2>"$tmp/once.log" || rc=$?
[ "$rc" -eq 1 ] || fail "once: exit $rc, expected 1"
grep -qF "write core/user_4242/lc-vol1/control = 'dev_config=clone/@$tmp/state/sessions/vol1.conf': No such file or directory (operation" \
	"$tmp/once.log" || fail "once: failure not named"
grep -qx "rate=50" "$tmp/state/sessions/vol1.conf" || fail "once: session file"
[ "$(stat -c %a "$tmp/state/sessions/vol1.conf")" = 600 ] || fail "session file mode"
rm -rf "$tmp/root/core/user_4242"

# No sessions: the stale session file goes, then there is nothing to do.
"$luncloned" --once --config "$tmp/empty.json" --configfs-root "$tmp/root" 2>"$tmp/empty.log" ||
	fail "empty once: exit $?"
grep -qF "file-remove $tmp/state/sessions/vol1.conf" "$tmp/empty.log" || fail "stale file kept"
grep -qF "$tmp/empty.json: 1 operation applied" "$tmp/empty.log" || fail "empty once: summary"
"$luncloned" --once --config "$tmp/empty.json" --configfs-root "$tmp/root" 2>"$tmp/empty.log" ||
	fail "empty once again: exit $?"
grep -qF "$tmp/empty.json: 0 operations applied" "$tmp/empty.log" || fail "empty again: summary"
rc=0
"$luncloned" --once --config "$tmp/missing.json" --configfs-root "$tmp/root" 2>/dev/null || rc=$?
[ "$rc" -eq 1 ] || fail "missing config: exit $rc"

# The daemon: READY=1, SIGHUP with an invalid then a valid file, SIGTERM.
python3 - "$tmp/notify.sock" "$tmp/notify.txt" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        out.write(s.recv(4096).decode().replace("\n", " ") + "\n")
PY
pids+=($!)
for _ in $(seq 50); do [ -S "$tmp/notify.sock" ] && break; sleep 0.1; done
[ -S "$tmp/notify.sock" ] || fail "notify listener did not start"
cp "$tmp/empty.json" "$tmp/live.json"
NOTIFY_SOCKET="$tmp/notify.sock" "$luncloned" --dry-run --config "$tmp/live.json" \
	--configfs-root "$tmp/root" --control-socket "$tmp/ctl/luncloned.sock" 2>"$tmp/daemon.log" &
daemon=$!
pids+=("$daemon")
wait_for() { # FILE PATTERN: up to 10 s
	for _ in $(seq 100); do grep -qF -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
	fail "no '$2' in $1"
}
wait_for "$tmp/notify.txt" "READY=1"
echo '{ "version": 1, "bogus": 1 }' >"$tmp/live.json"
kill -HUP "$daemon"
wait_for "$tmp/daemon.log" "reload: $tmp/live.json is invalid (see above): keeping the running configuration"
grep -qF "$tmp/live.json: \$.bogus: unknown key" "$tmp/daemon.log" || fail "reload: reason not logged"
wait_for "$tmp/notify.txt" "Reload refused"
grep -qF "RELOADING=1" "$tmp/notify.txt" || fail "no RELOADING=1"
kill -0 "$daemon" || fail "daemon died on an invalid reload"
cp "$tmp/one.json" "$tmp/live.json"
kill -HUP "$daemon"
wait_for "$tmp/daemon.log" "would mkdir core/user_4242/lc-vol1"
wait_for "$tmp/notify.txt" "STATUS=Configuration applied"
kill -TERM "$daemon"
rc=0
wait "$daemon" || rc=$?
[ "$rc" -eq 0 ] || fail "daemon: exit $rc on SIGTERM"
wait_for "$tmp/notify.txt" "STOPPING=1"
echo "daemon.sh: ok"
