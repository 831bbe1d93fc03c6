# shellcheck shell=bash
# Helpers to run Debian's tgtd (a user-space iSCSI target, no kernel modules)
# on 127.0.0.1 as a real source for lunclone: sourced by tests/iscsi and
# bench/iscsi-source. The caller sets TGT_WORK (a scratch directory) and
# registers tgt_cleanup in its EXIT trap before starting anything.
#
# One tgtd per caller: a free iSCSI port (TGT_PORT) and a free control port
# (TGT_CP, tgtadm -C). tgtd ignores SIGTERM while targets exist, so a clean
# stop takes it offline and deletes the system through tgtadm; a crash is
# SIGKILL of its PID. Never pkill: other tgtd may belong to someone else.

TGT_PID=""
TGT_PORT=""
TGT_CP=""

tgt_require() {
	local missing=() t
	for t in tgtd tgtadm iscsi-perf iscsi-inq; do
		command -v "$t" >/dev/null || missing+=("$t")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "FAIL: missing ${missing[*]} (Debian packages tgt and libiscsi-bin;" \
			"scripts/install-deps.sh installs them)" >&2
		return 1
	fi
}

# A TCP port on 127.0.0.1 nobody listens on, from a random start.
tgt_free_port() {
	local p=$((20000 + RANDOM % 20000)) i
	for ((i = 0; i < 200; i++, p++)); do
		if ! ss -Hltn "sport = :$p" 2>/dev/null | grep -q .; then
			echo "$p"
			return 0
		fi
	done
	echo "FAIL: no free TCP port found" >&2
	return 1
}

tgtadm_() { tgtadm -C "$TGT_CP" --lld iscsi "$@"; }

# Starts tgtd on TGT_PORT (picked once, then reused: a restart must come back
# on the same URL) and waits until it answers tgtadm.
tgt_start() {
	local i
	[ -n "$TGT_PORT" ] || TGT_PORT=$(tgt_free_port)
	if [ -z "$TGT_CP" ]; then
		# Control ports name abstract sockets; pick one no tgtd uses.
		TGT_CP=$((1000 + RANDOM % 30000))
		while [ -e "/var/run/tgtd/socket.$TGT_CP" ]; do TGT_CP=$((TGT_CP + 1)); done
	fi
	tgtd -f -C "$TGT_CP" --iscsi "portal=127.0.0.1:$TGT_PORT" >>"$TGT_WORK/tgtd.log" 2>&1 &
	TGT_PID=$!
	for ((i = 0; i < 100; i++)); do
		if tgtadm_ --op show --mode sys >/dev/null 2>&1 &&
			ss -Hltn "sport = :$TGT_PORT" | grep -q .; then
			return 0
		fi
		if ! kill -0 "$TGT_PID" 2>/dev/null; then
			echo "FAIL: tgtd exited at start; its log:" >&2
			tail -n 20 "$TGT_WORK/tgtd.log" >&2
			TGT_PID=""
			return 1
		fi
		sleep 0.1
	done
	echo "FAIL: tgtd did not come up on 127.0.0.1:$TGT_PORT" >&2
	return 1
}

# tgt_target TID IQN IMAGE [CHAP_USER CHAP_PASSWORD [TARGET_USER TARGET_PASSWORD]]
# A target with the image as LUN 1 (LUN 0 is tgtd's controller), open to
# every initiator, with CHAP (and mutual CHAP) when credentials are given.
tgt_target() {
	local tid=$1 iqn=$2 image=$3
	tgtadm_ --op new --mode target --tid "$tid" -T "$iqn"
	tgtadm_ --op new --mode logicalunit --tid "$tid" --lun 1 -b "$image"
	tgtadm_ --op bind --mode target --tid "$tid" -I ALL
	if [ $# -ge 5 ]; then
		tgtadm_ --op new --mode account --user "$4" --password "$5"
		tgtadm_ --op bind --mode account --tid "$tid" --user "$4"
	fi
	if [ $# -ge 7 ]; then
		tgtadm_ --op new --mode account --user "$6" --password "$7"
		tgtadm_ --op bind --mode account --tid "$tid" --user "$6" --outgoing
	fi
}

tgt_delete_target() {
	tgtadm_ --op delete --mode target --tid "$1" --force
}

# Simulates a crash: SIGKILL, then waits until the process is gone.
tgt_kill() {
	[ -n "$TGT_PID" ] || return 0
	kill -9 "$TGT_PID" 2>/dev/null || true
	wait "$TGT_PID" 2>/dev/null || true
	TGT_PID=""
}

# Clean stop; SIGKILL if tgtd does not go within 5 s.
tgt_stop() {
	local i
	[ -n "$TGT_PID" ] || return 0
	tgtadm -C "$TGT_CP" --op update --mode sys --name State -v offline >/dev/null 2>&1 || true
	tgtadm -C "$TGT_CP" --op delete --mode system >/dev/null 2>&1 || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "$TGT_PID" 2>/dev/null || break
		sleep 0.1
	done
	tgt_kill
}

tgt_cleanup() {
	tgt_stop
}
