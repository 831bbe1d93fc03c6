#!/usr/bin/env bash
# luncloned's control socket and lunclonectl, without LIO: the daemon runs
# with --dry-run against an empty configfs directory, its control socket and
# the devices' status sockets in a temporary directory, and the devices are
# stand-ins (fake_handler.py, speaking handler_clone(8)'s protocol).
# Asserts:
#   - the socket's directory is 0700 and the socket 0600; a directory open
#     to others is refused (and the daemon runs on without the socket);
#   - status: every configured session, the running one with its progress,
#     the other "not running" with the reason; status NAME; --json fields;
#     an iscsi:// password never shown (unit test: test-control.c);
#   - pause, resume, throttle reach the device as the handler's verbs and
#     change what status says; a device's refusal and a session not running
#     are exit 1 with the reason;
#   - an unknown session is exit 1; usage errors are exit 2;
#   - --watch (not a terminal) ends with exit 0 when the session completes;
#   - no daemon: exit 1, "cannot connect to PATH: ... (is luncloned
#     running?)";
#   - an unprivileged user is kept out by the modes, and refused by the
#     daemon (SO_PEERCRED) when the modes are opened up;
#   - 1 MiB of garbage, binary bytes, no newline, a silent client: an error
#     reply or a close, and the daemon keeps answering;
#   - SIGHUP still reloads, SIGTERM removes the socket.
# Usage: control.sh LUNCLONED LUNCLONECTL FAKE_HANDLER
# With VALGRIND set (a command line, e.g. "valgrind -q --error-exitcode=99
# --leak-check=full"), the daemon and most lunclonectl runs go under it and
# must report no error.
set -euo pipefail
luncloned=${1:?usage: control.sh LUNCLONED LUNCLONECTL FAKE_HANDLER}
ctl=${2:?usage: control.sh LUNCLONED LUNCLONECTL FAKE_HANDLER}
fake=${3:?usage: control.sh LUNCLONED LUNCLONECTL FAKE_HANDLER}

tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	for f in "$tmp"/*.log "$tmp"/out; do [ -e "$f" ] && { echo "--- $f" >&2; cat "$f" >&2; }; done
	exit 1
}
command -v python3 >/dev/null || fail "python3 missing (the stand-in devices)"
command -v setpriv >/dev/null || fail "setpriv missing (util-linux: the unprivileged user)"
[ "$(id -u)" = 0 ] || fail "must run as root (the control socket is root's)"

# run EXPECTED_RC DESCRIPTION -- COMMAND...: output in $tmp/out.
run() {
	local want=$1 what=$2 rc=0
	shift 3
	"$@" >"$tmp/out" 2>&1 || rc=$?
	[ "$rc" -eq "$want" ] || fail "$what: exit $rc, expected $want"
}
# shellcheck disable=SC2086
lctl() { ${VALGRIND:-} "$ctl" "$@"; }
expect() { grep -qF -- "$1" "$tmp/out" || fail "$2: no '$1' in the output"; }

mkdir -p "$tmp/root/core" "$tmp/root/iscsi" "$tmp/dev" "$tmp/loose"
# Others may pass through $tmp: what keeps them out must be the daemon's
# modes (it creates run/).
chmod 0711 "$tmp"
chmod 0755 "$tmp/loose"
truncate -s 10M "$tmp/src1.img" "$tmp/dst1.img" "$tmp/src2.img" "$tmp/dst2.img" \
	"$tmp/src3.img" "$tmp/dst3.img"
cat >"$tmp/cfg.json" <<EOF
{ "version": 1, "state_directory": "$tmp/state", "sessions": [
  { "name": "vol1", "source": "$tmp/src1.img", "destination": "$tmp/dst1.img",
    "metadata": "$tmp/vol1.meta", "hydration": { "rate_limit_mibps": 50 } },
  { "name": "vol2", "source": "$tmp/src2.img", "destination": "$tmp/dst2.img",
    "metadata": "$tmp/vol2.meta" },
  { "name": "bad", "source": "$tmp/src3.img", "destination": "$tmp/dst3.img",
    "metadata": "$tmp/bad.meta" } ] }
EOF
sock=$tmp/run/luncloned.sock

# A directory open to others: no control socket, the daemon goes on.
${VALGRIND:-} "$luncloned" --dry-run --config "$tmp/cfg.json" --configfs-root "$tmp/root" \
	--control-socket "$tmp/loose/luncloned.sock" 2>"$tmp/loose.log" &
loose=$!
pids+=("$loose")
for _ in $(seq 300); do grep -qF "operations planned" "$tmp/loose.log" && break; sleep 0.1; done
grep -qF "directory '$tmp/loose' is open to others (mode 0755), refusing it" "$tmp/loose.log" ||
	fail "loose directory: not refused"
grep -qF "lunclonectl cannot reach this daemon, continuing without it" "$tmp/loose.log" ||
	fail "loose directory: not said"
[ ! -e "$tmp/loose/luncloned.sock" ] || fail "loose directory: socket made"
[ "$(stat -c %a "$tmp/loose")" = 755 ] || fail "loose directory: mode changed"
kill -TERM "$loose"
wait "$loose" || fail "loose directory: daemon exit $?"

# No daemon yet.
run 1 "no daemon" -- lctl --socket "$sock" status
expect "lunclonectl: cannot connect to $sock: No such file or directory (is luncloned running?)" \
	"no daemon"

python3 "$fake" "$tmp/dev" "$tmp/handler.log" vol1 bad:error &
pids+=($!)
for _ in $(seq 100); do [ -e "$tmp/dev/ready" ] && break; sleep 0.1; done
[ -e "$tmp/dev/ready" ] || fail "the stand-in devices did not start"

# shellcheck disable=SC2086
${VALGRIND:-} "$luncloned" --dry-run --config "$tmp/cfg.json" --configfs-root "$tmp/root" \
	--control-socket "$sock" --socket-dir "$tmp/dev" 2>"$tmp/daemon.log" &
daemon=$!
pids+=("$daemon")
for _ in $(seq 300); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || fail "no control socket"
[ "$(stat -c %a "$tmp/run")" = 700 ] || fail "socket directory mode $(stat -c %a "$tmp/run")"
[ "$(stat -c %a "$sock")" = 600 ] || fail "socket mode $(stat -c %a "$sock")"
# The socket is bound before the first reconcile: wait for its end.
for _ in $(seq 300); do grep -qF "operations planned" "$tmp/daemon.log" && break; sleep 0.1; done

# status: all, one, JSON.
run 0 "status" -- lctl --socket "$sock" status
expect "NAME" "status: header"
grep -qE '^vol1 +hydrating +\[####\.+\] +20\.00% +2\.0 MiB/10\.0 MiB +4\.0 MiB/s' "$tmp/out" ||
	fail "status: vol1's row"
grep -qE '^vol2 +not running +- ' "$tmp/out" || fail "status: vol2's row"
expect "vol2: $tmp/dev/vol2.sock: No such file or directory" "status: vol2's reason"
grep -qE '^bad +unreachable ' "$tmp/out" || fail "status: a refusing device"
expect "bad: the handler says: fake failure" "status: the device's refusal"
run 0 "status NAME" -- lctl --socket "$sock" status vol2
grep -q '^vol1' "$tmp/out" && fail "status vol2 shows vol1"
expect "vol2" "status NAME"
run 0 "status --json" -- lctl --socket "$sock" status vol1 --json
python3 - "$tmp/out" <<'PY' || fail "status --json: fields"
import json, sys
top = json.load(open(sys.argv[1]))
[s] = top["sessions"]
keys = ["name", "source", "destination", "state", "paused", "regions_hydrated",
        "regions_total", "region_size", "bytes_hydrated", "bytes_total", "percent", "rate",
        "eta", "quarantined", "rate_limit", "rate_limit_config", "last_error",
        "failed_device", "error"]
assert list(s) == keys, list(s)
assert s["name"] == "vol1" and s["state"] == "hydrating" and s["paused"] is False
assert s["regions_hydrated"] == 4 and s["regions_total"] == 10
assert s["region_size"] == 1 << 20 and s["bytes_hydrated"] == 4 << 20
assert s["bytes_total"] == 10 << 20 and s["percent"] == 40.0
assert s["rate_limit_config"] == 50 << 20 and s["error"] is None
PY
run 1 "status of an unknown session" -- lctl --socket "$sock" status nope
expect "lunclonectl: unknown session 'nope'" "unknown session"

# pause, resume, throttle.
run 0 "pause" -- lctl --socket "$sock" pause vol1
run 0 "status after pause" -- lctl --socket "$sock" status vol1 --json
grep -qF '"state": "paused"' "$tmp/out" || fail "pause: not paused"
grep -qF '"paused": true' "$tmp/out" || fail "pause: paused false"
run 0 "throttle" -- lctl --socket "$sock" throttle vol1 7
run 0 "status after throttle" -- lctl --socket "$sock" status vol1 --json
grep -qF "\"rate_limit\": $((7 << 20))," "$tmp/out" || fail "throttle: rate_limit"
run 0 "resume" -- lctl --socket "$sock" resume vol1
run 0 "throttle 0" -- lctl --socket "$sock" throttle vol1 0
for verb in "vol1 pause" "vol1 throttle 7" "vol1 resume" "vol1 throttle 0"; do
	grep -qx "$verb" "$tmp/handler.log" || fail "the device did not get '$verb'"
done
grep -qF "control: throttle 'vol1' 7 MiB/s: ok" "$tmp/daemon.log" || fail "throttle not logged"
run 1 "pause, not running" -- lctl --socket "$sock" pause vol2
expect "lunclonectl: session 'vol2' is not running ($tmp/dev/vol2.sock: No such file or directory)" \
	"pause, not running"
run 1 "throttle, refused by the device" -- lctl --socket "$sock" throttle bad 5
expect "lunclonectl: session 'bad': the handler says: fake failure" "device refusal"
run 1 "resume an unknown session" -- lctl --socket "$sock" resume nope
expect "unknown session 'nope'" "resume unknown"

# Usage.
run 2 "no command" -- lctl --socket "$sock"
run 2 "unknown command" -- lctl --socket "$sock" frob
run 2 "pause without a name" -- lctl --socket "$sock" pause
run 2 "throttle without a rate" -- lctl --socket "$sock" throttle vol1
run 2 "throttle, bad rate" -- lctl --socket "$sock" throttle vol1 fast
run 2 "bad name" -- lctl --socket "$sock" pause ../etc
run 2 "--json with pause" -- lctl --socket "$sock" pause vol1 --json
run 2 "--interval without --watch" -- lctl --socket "$sock" status --interval 500
run 2 "--interval out of range" -- lctl --socket "$sock" status --watch --interval 5
run 0 "--help" -- lctl --help
expect "Usage: lunclonectl" "--help"

# --watch to the end (stdout is not a terminal: one table per change).
run 0 "status --watch" -- timeout 60 "$ctl" --socket "$sock" status vol1 --watch --interval 100
grep -qE '^vol1 +complete +\[#{20}\] +100\.00%' "$tmp/out" || fail "--watch: no complete row"

# Unprivileged: kept out by the modes...
nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
run 1 "unprivileged" -- nobody "$ctl" --socket "$sock" status
expect "cannot connect to $sock: Permission denied (root only)" "unprivileged"
# ...and refused by the daemon when they are opened up.
chmod 0755 "$tmp/run"
chmod 0666 "$sock"
run 1 "unprivileged, modes opened" -- nobody "$ctl" --socket "$sock" pause vol1
expect "lunclonectl: permission denied (root only)" "SO_PEERCRED"
grep -qF "refused a connection from uid $(id -u nobody)" "$tmp/daemon.log" || fail "refusal not logged"
chmod 0700 "$tmp/run"
chmod 0600 "$sock"

# Hostile requests: each gets an error or a close, and the daemon goes on.
python3 - "$sock" <<'PY' || fail "hostile requests"
import socket, sys, time
path = sys.argv[1]

def ask(data, shut=True, timeout=10):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    out = b""
    try:
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except (BrokenPipeError, ConnectionResetError):
        return None  # closed on us: allowed
    finally:
        s.close()
    return out

def alive():
    r = ask(b"status\n")
    assert r and r.startswith(b'{"sessions":['), r

cases = [
    (b"x" * (1 << 20), True),            # 1 MiB, no newline
    (b"\x00\x01\x02\xff\xfe" * 100, True),  # binary
    (b"status vol1", True),                # no newline, ended by EOF: fine
    (b"status\x00vol1\n", True),
    (b"pause vol1\npause vol1\n", True),
    (b"throttle vol1 99999999999999999999\n", True),
    (b"", True),
    (b"stat", False),                      # no newline and no EOF: timeout
]
for data, shut in cases:
    t = time.monotonic()
    r = ask(data, shut)
    assert time.monotonic() - t < 8, ("slow", data[:20])
    if r is not None and data != b"status vol1":
        assert r.startswith(b"error: "), (data[:20], r[:80])
    alive()
# A client that connects and says nothing, while another asks.
idle = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
idle.connect(path)
alive()
idle.close()
alive()
PY
grep -qF "request too long, refused" "$tmp/daemon.log" || fail "oversized request not logged"
run 0 "status after the hostile requests" -- lctl --socket "$sock" status vol1

# SIGHUP with the control socket open; SIGTERM removes it.
kill -HUP "$daemon"
for _ in $(seq 100); do [ "$(grep -c "operations planned" "$tmp/daemon.log")" -ge 2 ] && break; sleep 0.1; done
[ "$(grep -c "operations planned" "$tmp/daemon.log")" -ge 2 ] || fail "SIGHUP: no second reconcile"
run 0 "status after SIGHUP" -- lctl --socket "$sock" status
kill -TERM "$daemon"
rc=0
wait "$daemon" || rc=$?
[ "$rc" -eq 0 ] || fail "daemon: exit $rc on SIGTERM"
[ ! -e "$sock" ] || fail "the socket outlived the daemon"
run 1 "daemon gone" -- lctl --socket "$sock" status
expect "is luncloned running?" "daemon gone"
echo "control.sh: ok"
