#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Scenario 14, in a UML guest whose PID 1 is systemd (run-uml-systemd.sh):
# the storage admin's path with luncloned.service.
#
#  1. `cmake --install` of the build (E2E_BUILD) puts luncloned, lunclonectl,
#     the unit, the tmpfiles snippet and handler_clone.so where systemd and
#     Debian's tcmu-runner.service find them.
#  2. A lunclone.json with two sessions: A behind an open target, B behind a
#     target whose only ACL needs CHAP (secrets in a 0600 file).
#     `systemctl start luncloned` (Type=notify) brings both up in LIO.
#  3. An initiator logs in to both; B with the right CHAP secret, and a wrong
#     secret is refused.  Secrets appear in no log, process list or status.
#  4. fio verify runs on A while the file is edited (session C and its target
#     added, B's rate changed, A untouched) and `systemctl reload luncloned`:
#     C appears, B's rate changes, A sees no I/O error and no reconnect, and
#     its backstore is the same one (same uio device).
#  5. An invalid edit + reload: the daemon logs why, keeps running, and LIO is
#     unchanged.
#  6. `lunclonectl status` follows every session to 100 %; destinations equal
#     their sources (B, C) or what the initiator reads (A, written by fio).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=guest-lib.sh
. "$HERE/guest-lib.sh"

BUILD=${E2E_BUILD:?E2E_BUILD (the build dir to install) not set}
SIZE=$((32 * 1048576))
D=/srv/lc
INIT_IQN=iqn.2026-12.test.e2e:initiator
IQN_A=iqn.2026-12.test.lunclone:a
IQN_B=iqn.2026-12.test.lunclone:b
IQN_C=iqn.2026-12.test.lunclone:c
CHAP_USER=hostb
CHAP_PASS=e2e-chap-Secret-0147
CFG=/etc/lunclone/lunclone.json
# A's second portal: an address the host does not have yet (TEST-NET-1).
LATE_IP=192.0.2.77
FIO_STOP=/run/e2e-fio.stop

finish() {
	local rc=$?
	mkdir -p "$GL_OUT/logs"
	journalctl -b --no-pager >"$GL_OUT/logs/journal.txt" 2>&1 || true
	journalctl -u luncloned --no-pager >"$GL_OUT/logs/luncloned.journal.txt" 2>&1 || true
	journalctl -u tcmu-runner --no-pager >"$GL_OUT/logs/tcmu-runner.journal.txt" 2>&1 || true
	cp -f /var/log/tcmu-runner.log "$GL_OUT/logs/" 2>/dev/null || true
	touch "$FIO_STOP"
	if [[ $rc -ne 0 ]]; then
		echo "--- luncloned journal (tail)"
		tail -n 40 "$GL_OUT/logs/luncloned.journal.txt" || true
		echo "--- tcmu-runner journal (tail)"
		tail -n 20 "$GL_OUT/logs/tcmu-runner.journal.txt" || true
	fi
	iscsiadm -m node --logoutall=all >/dev/null 2>&1 || true
	echo "$rc" >/e2eout/rc
	echo "E2E_RESULT rc=$rc"
	exit "$rc"
}
trap finish EXIT

# wait_for SECONDS DESC CMD...: polls CMD every 0.2 s (systemd 252's reload
# returns before the daemon has reloaded: tests poll for the effect).
wait_for() {
	local tmo=$1 desc=$2 end
	shift 2
	end=$(($(date +%s) + tmo))
	until "$@"; do
		(($(date +%s) < end)) || gl_fail "$desc (not within ${tmo}s)"
		sleep 0.2
	done
	echo "ASSERT ok: $desc"
	echo "ok: $desc" >>"$GL_OUT/assertions.txt"
}

cfs_bs() { echo "$GL_CFS/core/user_4242/lc-$1"; }
bs_enabled() { [[ $(cat "$(cfs_bs "$1")/enable" 2>/dev/null) == 1 ]]; }
# The uio device LIO created for a user backstore: a recreated backstore
# (close + reopen in tcmu-runner) gets a new one.
bs_uio() {
	local u
	for u in /sys/class/uio/uio*; do
		[[ $(cat "$u/name" 2>/dev/null) == */lc-$1/* ]] && { echo "${u##*/}"; return 0; }
	done
	echo none
}
sock_field() { gl_sock_get "$1" "$2"; }
# Predicates for wait_for: evaluated at every poll, not once at the call.
sock_has() { [[ -n $(sock_field "$1" "$2") ]]; }
sock_is() { [[ $(sock_field "$1" "$2") == "$3" ]]; }
fio_passes_at_least() { [[ $(cat /run/fio-a.count 2>/dev/null || echo 0) -ge $1 ]]; }

# --- 1. install -----------------------------------------------------------------
gl_init
gl_require cmake systemctl journalctl fio iscsi-inq
gl_step "install: cmake --install $BUILD"
cmake --install "$BUILD" >"$GL_OUT/install.txt" 2>&1 || { cat "$GL_OUT/install.txt"; gl_fail "cmake --install $BUILD failed"; }
HDIR=$(sed -n 's/^LC_TCMU_HANDLER_DIR:PATH=//p' "$BUILD/CMakeCache.txt")
for f in /usr/local/sbin/luncloned /usr/local/sbin/lunclonectl /usr/local/sbin/lunclone \
	"$HDIR/handler_clone.so" /usr/local/lib/systemd/system/luncloned.service \
	/usr/local/lib/tmpfiles.d/lunclone.conf /usr/local/share/man/man8/luncloned.8; do
	gl_check "installed: $f" test -e "$f"
done
gl_check "the handler went to tcmu-runner's own directory" \
	test "$HDIR" = /usr/lib/x86_64-linux-gnu/tcmu-runner
systemctl daemon-reload
systemd-tmpfiles --create /usr/local/lib/tmpfiles.d/lunclone.conf
gl_check "/run/lunclone is root-only (tmpfiles)" test "$(stat -c %a:%U /run/lunclone)" = 700:root

# --- 2. images and the configuration ---------------------------------------------
mkdir -p "$D/meta" /etc/lunclone
for s in a b c; do
	head -c "$SIZE" /dev/urandom >"$D/$s.src"
	truncate -s "$SIZE" "$D/$s.dst"
done
echo "InitiatorName=$INIT_IQN" >/etc/iscsi/initiatorname.iscsi
umask 077
cat >/etc/lunclone/secrets.json <<EOF
{ "credentials": { "hostb": { "userid": "$CHAP_USER", "password": "$CHAP_PASS" } } }
EOF
umask 022

# write_config RATE_B WITH_C: the file as the admin edits it.
write_config() {
	local rate_b=$1 with_c=$2 sc= tc=
	if [[ $with_c == 1 ]]; then
		sc=',
		{ "name": "sc", "source": "'$D'/c.src", "destination": "'$D'/c.dst",
		  "metadata": "'$D'/meta/c.meta", "hydration": { "rate_limit_mibps": 2 } }'
		tc=',
		{ "iqn": "'$IQN_C'", "tpgs": [ { "tag": 1, "portals": [ "127.0.0.1:3260" ],
		    "open_access": true, "luns": [ { "lun": 0, "session": "sc" } ] } ] }'
	fi
	cat >"$CFG.new" <<EOF
{
	"version": 1,
	"secrets_file": "/etc/lunclone/secrets.json",
	"sessions": [
		{ "name": "sa", "source": "$D/a.src", "destination": "$D/a.dst",
		  "metadata": "$D/meta/a.meta", "direct_io": false,
		  "hydration": { "rate_limit_mibps": 1 } },
		{ "name": "sb", "source": "$D/b.src", "destination": "$D/b.dst",
		  "metadata": "$D/meta/b.meta", "direct_io": false,
		  "hydration": { "rate_limit_mibps": $rate_b } }$sc
	],
	"targets": [
		{ "iqn": "$IQN_A", "tpgs": [ { "tag": 1, "portals": [ "127.0.0.1:3260", "$LATE_IP:3260" ],
		    "open_access": true, "luns": [ { "lun": 0, "session": "sa" } ] } ] },
		{ "iqn": "$IQN_B", "tpgs": [ { "tag": 1, "portals": [ "127.0.0.1:3260" ],
		    "luns": [ { "lun": 0, "session": "sb" } ],
		    "acls": [ { "initiator": "$INIT_IQN", "chap": { "credential": "hostb" },
		                "mapped_luns": [ { "lun": 0, "mapped_lun": 0 } ] } ] } ] }$tc
	]
}
EOF
	mv "$CFG.new" "$CFG"
}
write_config 1 0
gl_check "luncloned --check accepts the file" luncloned --check "$CFG"

# --- 3. start ------------------------------------------------------------------------
gl_step "systemctl start luncloned"
gl_check "systemctl start luncloned (Type=notify: returns after READY=1)" \
	systemctl start luncloned
gl_check "luncloned is active" systemctl is-active -q luncloned
gl_check "tcmu-runner.service was pulled in (Wants=)" systemctl is-active -q tcmu-runner
for s in sa sb; do
	gl_check "backstore lc-$s exists and is enabled" bs_enabled "$s"
	wait_for 20 "session $s answers on its status socket" sock_has "$s" state
done
gl_check "target A has its portal" test -d "$GL_CFS/iscsi/$IQN_A/tpgt_1/np/127.0.0.1:3260"
gl_check "target A is open (generate_node_acls=1)" \
	test "$(cat "$GL_CFS/iscsi/$IQN_A/tpgt_1/attrib/generate_node_acls")" = 1
gl_check "target B requires authentication" \
	test "$(cat "$GL_CFS/iscsi/$IQN_B/tpgt_1/attrib/authentication")" = 1
gl_check "target B's ACL carries the CHAP user" \
	test "$(cat "$GL_CFS/iscsi/$IQN_B/tpgt_1/acls/$INIT_IQN/auth/userid")" = "$CHAP_USER"
gl_check "A's portal on $LATE_IP is not created while the address is missing" \
	test ! -e "$GL_CFS/iscsi/$IQN_A/tpgt_1/np/$LATE_IP:3260"
gl_check "luncloned reports the pending portal" \
	bash -c "journalctl -u luncloned --no-pager | grep -q 'waits for address $LATE_IP'"
UIO_A=$(bs_uio sa)
gl_check "A has a uio device ($UIO_A)" test "$UIO_A" != none

# --- 4. initiators -------------------------------------------------------------------
gl_step "logins"
gl_iscsi_login "$IQN_A"
DEV_A=$GL_DEV
gl_check "A's LUN is $SIZE bytes" test "$(blockdev --getsize64 "$DEV_A")" = "$SIZE"
out=$(iscsi-inq -i "$INIT_IQN" "iscsi://$CHAP_USER%$CHAP_PASS@127.0.0.1/$IQN_B/0" 2>&1) ||
	gl_fail "login to B with the right CHAP secret failed: $out"
gl_check "B answers INQUIRY after a CHAP login" grep -q 'LIO-ORG\|Vendor' <<<"$out"
if out=$(iscsi-inq -i "$INIT_IQN" "iscsi://$CHAP_USER%wrong-secret-9999@127.0.0.1/$IQN_B/0" 2>&1); then
	gl_fail "a wrong CHAP secret logged in to B: $out"
fi
gl_check "a wrong CHAP secret is refused" true
if out=$(iscsi-inq -i "iqn.2026-12.test.e2e:stranger" "iscsi://$CHAP_USER%$CHAP_PASS@127.0.0.1/$IQN_B/0" 2>&1); then
	gl_fail "an initiator without an ACL logged in to B: $out"
fi
gl_check "an initiator without an ACL is refused" true

gl_step "the pending portal's address appears"
ip addr add "$LATE_IP/32" dev lo || gl_fail "ip addr add $LATE_IP/32 dev lo"
wait_for 120 "the portal $LATE_IP:3260 is created once the address is up" \
	test -d "$GL_CFS/iscsi/$IQN_A/tpgt_1/np/$LATE_IP:3260"
out=$(iscsi-inq -i "$INIT_IQN" "iscsi://$LATE_IP/$IQN_A/0" 2>&1) ||
	gl_fail "A through the late portal $LATE_IP:3260: $out"
gl_check "A answers through the late portal" true

# --- 5. fio on A, reload with C added and B's rate changed -------------------------
gl_step "fio verify on A, then reload"
SID_A=$(iscsiadm -m session 2>/dev/null | awk -v i="$IQN_A" '$0 ~ i {print $2}')
CONN_ERR0=$(dmesg | grep -c 'conn error\|detected conn\|session recovery' || true)
rm -f "$FIO_STOP"
(
	n=0
	while [[ ! -e $FIO_STOP ]]; do
		t0=$(date +%s.%N)
		fio --name=a --filename="$DEV_A" --ioengine=psync --direct=1 --rw=randwrite \
			--bsrange=4k-64k --size=4M --offset=$((n % 6 * 4))M --verify=crc32c \
			--verify_fatal=1 --randseed=$((n + 7)) --output="/run/fio-a.$n.txt" ||
			{ echo "fio iteration $n failed" >/run/fio-a.failed; cat "/run/fio-a.$n.txt"; break; }
		n=$((n + 1))
		echo "$n" >/run/fio-a.count
		printf 'fio pass %d: %.1fs\n' "$n" "$(echo "$(date +%s.%N) - $t0" | bc)"
	done
) &
FIO_PID=$!
wait_for 120 "fio completed a first verified pass on A" test -s /run/fio-a.count

write_config 3 1
gl_check "the edited file is valid" luncloned --check "$CFG"
PID0=$(systemctl show -p MainPID --value luncloned)
gl_check "systemctl reload luncloned" systemctl reload luncloned
wait_for 120 "session C's backstore appears after the reload" bs_enabled sc
wait_for 120 "target C appears with its LUN" test -d "$GL_CFS/iscsi/$IQN_C/tpgt_1/lun/lun_0"
wait_for 60 "B's rate limit is 3 MiB/s on its status socket" \
	sock_is sb rate_limit $((3 * 1048576))
gl_check "A's rate limit is unchanged (1 MiB/s)" test "$(sock_field sa rate_limit)" = 1048576
n0=$(cat /run/fio-a.count)
wait_for 240 "fio keeps completing verified passes on A after the reload" \
	fio_passes_at_least $((n0 + 1))
gl_check "luncloned kept its PID across the reload" \
	test "$(systemctl show -p MainPID --value luncloned)" = "$PID0"
gl_check "A's backstore was not recreated (same uio device $UIO_A)" test "$(bs_uio sa)" = "$UIO_A"

# --- 6. an invalid edit --------------------------------------------------------------
gl_step "invalid edit + reload"
snap() { find "$GL_CFS" -path '*/statistics' -prune -o -print | sort; }
snap >/run/cfs.before
cp "$CFG" /run/cfg.good
sed -i 's/"name": "sc",/"name": "sc", "bogus_key": 1,/' "$CFG"
if luncloned --check "$CFG" >/run/check.out 2>&1; then
	gl_fail "luncloned --check accepted an unknown key"
fi
gl_check "luncloned --check names the unknown key" grep -q bogus_key /run/check.out
since=$(date '+%Y-%m-%d %H:%M:%S')
sleep 1
gl_check "systemctl reload luncloned (invalid file)" systemctl reload luncloned
wait_for 30 "the journal says why the reload was refused" \
	bash -c "journalctl -u luncloned --since '$since' --no-pager | grep -q bogus_key"
sleep 1
gl_check "luncloned is still active after the invalid reload" systemctl is-active -q luncloned
gl_check "same PID after the invalid reload" \
	test "$(systemctl show -p MainPID --value luncloned)" = "$PID0"
snap >/run/cfs.after
gl_check "LIO is unchanged by the invalid reload" cmp -s /run/cfs.before /run/cfs.after
cp /run/cfg.good "$CFG"

# --- 7. fio stops; no error, no reconnect ------------------------------------------
touch "$FIO_STOP"
wait "$FIO_PID" || true
gl_check "fio on A never failed (no I/O error, every pass verified)" test ! -e /run/fio-a.failed
gl_note fio_passes "$(cat /run/fio-a.count)"
gl_check "A's iSCSI session is the same one (sid $SID_A)" \
	test "$(iscsiadm -m session 2>/dev/null | awk -v i="$IQN_A" '$0 ~ i {print $2}')" = "$SID_A"
CONN_ERR1=$(dmesg | grep -c 'conn error\|detected conn\|session recovery' || true)
gl_check "no iSCSI connection error or recovery in the kernel log" test "$CONN_ERR1" = "$CONN_ERR0"

# --- 8. lunclonectl: unthrottle, follow to 100 % -----------------------------------
gl_step "lunclonectl"
for s in sa sb sc; do
	gl_check "lunclonectl throttle $s 0" lunclonectl throttle "$s" 0
done
gl_check "the throttle reached the handler (sa unlimited)" test "$(sock_field sa rate_limit)" = 0
if setpriv --reuid=65534 --regid=65534 --clear-groups lunclonectl status >/run/ctl-nobody.txt 2>&1; then
	gl_fail "lunclonectl status worked for an unprivileged user"
fi
gl_check "an unprivileged user is refused by the control socket" true
gl_check "lunclonectl status --watch follows every session to complete (exit 0)" \
	timeout 300 lunclonectl status --watch --interval 500 >/run/ctl-watch.txt
tail -n 5 /run/ctl-watch.txt
all_complete() {
	python3 -c '
import json, sys
d = json.load(sys.stdin)
ss = d["sessions"] if isinstance(d, dict) else d
sys.exit(0 if len(ss) == 3 and all(s.get("state") == "complete" for s in ss) else 1)'
}
lunclonectl status --json >/run/ctl-status.json
gl_check "lunclonectl status --json: three sessions, all complete" all_complete </run/ctl-status.json
lunclonectl status | tee /run/ctl-status.txt
for s in sa sb sc; do
	gl_check "lunclonectl status shows $s at 100 %" grep -Eq "^ *$s .*100" /run/ctl-status.txt
done

# --- 9. data and secrets -------------------------------------------------------------
gl_step "data and secrets"
for s in b c; do
	gl_check "destination $s == source $s" \
		test "$(gl_sha "$D/$s.dst" "$SIZE")" = "$(gl_sha "$D/$s.src")"
done
sync
gl_check "A's destination == what the initiator reads" \
	test "$(gl_sha "$D/a.dst" "$SIZE")" = "$(dd if="$DEV_A" bs=1M iflag=direct status=none | sha256sum | cut -d' ' -f1)"
leak() {
	grep -rqa -- "$CHAP_PASS" /run/ctl-status.txt "$GL_OUT/logs" 2>/dev/null && return 0
	journalctl -b --no-pager | grep -qa -- "$CHAP_PASS" && return 0
	ps -eo args | grep -v grep | grep -qa -- "$CHAP_PASS" && return 0
	grep -rqa -- "$CHAP_PASS" "$GL_CFS"/core/user_4242/*/info 2>/dev/null && return 0
	return 1
}
if leak; then
	gl_fail "the CHAP secret appears in a journal, process list, status or backstore info"
fi
gl_check "the CHAP secret appears in no journal, process list, status or backstore info" true

gl_step "=== scenario 14 passed"
