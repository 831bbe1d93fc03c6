# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Helpers for scripts that run INSIDE the UML guest (run-uml.sh), as root,
# chrooted in an overlay of the host's root.  Source it, then call gl_init.
#
#   gl_init                      modules, configfs, lo, /srv tmpfs, result dir
#   gl_dbus_start                system D-Bus (targetcli sees user:* through it)
#   gl_tcmu_start DIR [DBUS]     tcmu-runner --handler-path DIR, wait until up
#   gl_tcmu_kill9 / gl_tcmu_stop
#   gl_lio_targetcli / gl_lio_configfs  NAME SUBTYPE SIZE CFG IQN
#   gl_lio_remove NAME SUBTYPE IQN
#   gl_iscsi_login IQN           open-iscsi login; sets GL_DEV=/dev/sdX
#   gl_iscsi_logout IQN
#   gl_libiscsi_check URL SIZE   iscsi-inq, iscsi-readcapacity16
#   gl_check / gl_fail / gl_step  assertions printed as "ASSERT ok|FAIL: ..."
#
# Every function fails loudly (gl_fail) rather than returning quietly.

GL_T0=$(date +%s.%N)
GL_OUT=${GL_OUT:-/e2eout}
GL_LOG=/var/log/lunclone-e2e
GL_TCMU_PID=
GL_DEV=
GL_PORTAL=127.0.0.1:3260
GL_CFS=/sys/kernel/config/target
GL_NFAIL=0

gl_elapsed() { echo "$(date +%s.%N) - $GL_T0" | bc; }
gl_step() { printf '### [%7.2fs] %s\n' "$(gl_elapsed)" "$*"; }

# gl_dump: the evidence a failure needs, on the console and in the out dir.
gl_dump() {
	GL_DUMPED=1
	mkdir -p "$GL_OUT/logs"
	cp -f "$GL_LOG"/tcmu-runner*.log "$GL_OUT/logs/" 2>/dev/null || true
	dmesg >"$GL_OUT/logs/dmesg.txt" 2>/dev/null || true
	echo "--- tcmu-runner.log (tail, without the per-CDB debug lines)"
	grep -v DEBUG_SCSI_CMD "$GL_LOG/tcmu-runner.log" 2>/dev/null | tail -n 40 || true
	echo "--- dmesg (tail)"
	dmesg 2>/dev/null | tail -n 30 || true
}

gl_fail() {
	echo "ASSERT FAIL: $*"
	echo "FAIL: $*" >>"$GL_OUT/assertions.txt"
	gl_dump
	exit 1
}

# gl_check DESC CMD...: runs CMD, records the assertion, fails on error.
gl_check() {
	local desc=$1
	shift
	if "$@"; then
		echo "ASSERT ok: $desc"
		echo "ok: $desc" >>"$GL_OUT/assertions.txt"
	else
		gl_fail "$desc"
	fi
}

# gl_note KEY VALUE: a result for the host side (key=value, sourced there).
gl_note() { printf '%s=%q\n' "$1" "$2" >>"$GL_OUT/results.env"; }

gl_require() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null || gl_fail "required command '$c' not found in the guest (install it on the host: tests/e2e/install-host.sh)"
	done
}

gl_init() {
	gl_require modprobe tcmu-runner iscsiadm iscsid bc sha256sum
	mkdir -p "$GL_LOG" "$GL_OUT"
	: >"$GL_OUT/assertions.txt"
	: >"$GL_OUT/results.env"
	gl_step "kernel $(uname -r); tcmu-runner $(tcmu-runner --version 2>&1 | awk '{v=$NF} END{print v}' || true)"
	modprobe -a configfs target_core_mod target_core_user iscsi_target_mod \
		iscsi_tcp sd_mod sg || gl_fail "modprobe of the LIO/iSCSI modules failed"
	# iscsi_target_mod needs crc32c at login (crypto_alloc_ahash): preload
	modprobe -q crc32c 2>/dev/null || modprobe -q crc32c_generic 2>/dev/null || true
	mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config
	[[ -d $GL_CFS ]] || gl_fail "$GL_CFS missing after loading target_core_mod"
	ip link set lo up 2>/dev/null || true
	mkdir -p /srv
	mountpoint -q /srv || mount -t tmpfs -o size=90% tmpfs /srv
}

gl_dbus_start() {
	gl_require dbus-daemon dbus-uuidgen dbus-send
	mkdir -p /run/dbus /var/lib/dbus
	dbus-uuidgen --ensure
	[[ -S /run/dbus/system_bus_socket ]] || dbus-daemon --system --fork --nopidfile ||
		gl_fail "cannot start the system D-Bus"
}

gl_dbus_has_tcmu() {
	local names
	names=$(dbus-send --system --print-reply --dest=org.freedesktop.DBus / \
		org.freedesktop.DBus.ListNames 2>/dev/null || true)
	[[ $names == *org.kernel.TCMUService1* ]]
}

# gl_tcmu_start HANDLER_DIR [dbus]: starts tcmu-runner with its handlers from
# HANDLER_DIR (--handler-path replaces Debian's dir).  With "dbus", waits for
# it to own org.kernel.TCMUService1 on the system bus (targetcli needs that).
gl_tcmu_start() {
	local hdir=$1 want_dbus=${2:-} i
	[[ -d $hdir ]] || gl_fail "handler dir $hdir missing"
	# debug log on: the evidence when a handler misbehaves
	tcmu-runner -d --handler-path "$hdir" -l "$GL_LOG" \
		>>"$GL_LOG/tcmu-runner.stdout" 2>&1 &
	GL_TCMU_PID=$!
	for i in $(seq 1 100); do
		kill -0 "$GL_TCMU_PID" 2>/dev/null || gl_fail "tcmu-runner exited at start (see logs/tcmu-runner.log)"
		if [[ $want_dbus == dbus ]]; then
			gl_dbus_has_tcmu && break
		elif grep -q 'runner handlers\|handler registered\|registered' "$GL_LOG/tcmu-runner.log" 2>/dev/null; then
			sleep 0.3
			break
		fi
		sleep 0.1
	done
	if [[ $want_dbus == dbus ]] && ! gl_dbus_has_tcmu; then
		gl_fail "tcmu-runner did not register org.kernel.TCMUService1 on the system D-Bus"
	fi
	kill -0 "$GL_TCMU_PID" 2>/dev/null || gl_fail "tcmu-runner died after start"
	echo "tcmu-runner pid $GL_TCMU_PID, handlers in $hdir: $(cd "$hdir" && echo handler_*)"
}

gl_tcmu_kill9() {
	[[ -n $GL_TCMU_PID ]] || gl_fail "gl_tcmu_kill9: tcmu-runner not started here"
	kill -9 "$GL_TCMU_PID"
	wait "$GL_TCMU_PID" 2>/dev/null || true
	GL_TCMU_PID=
}

gl_tcmu_stop() {
	[[ -n $GL_TCMU_PID ]] || return 0
	kill -TERM "$GL_TCMU_PID" 2>/dev/null || true
	local i
	for i in $(seq 1 100); do
		kill -0 "$GL_TCMU_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$GL_TCMU_PID" 2>/dev/null && kill -9 "$GL_TCMU_PID" 2>/dev/null
	wait "$GL_TCMU_PID" 2>/dev/null || true
	GL_TCMU_PID=
}

# gl_lio_targetcli NAME SUBTYPE SIZE_BYTES CFGSTRING IQN
# The admin's path: targetcli (rtslib), system D-Bus and tcmu-runner on it.
gl_lio_targetcli() {
	local name=$1 sub=$2 size=$3 cfg=$4 iqn=$5 out
	gl_require targetcli
	# rtslib asks LIO to keep APTPL reservations here; without the dir the
	# kernel logs "filp_open(...) for APTPL metadata failed" at every PR command
	mkdir -p /etc/rtslib-fb-target/pr /etc/rtslib-fb-target/alua
	gl_dbus_has_tcmu || gl_fail "targetcli needs tcmu-runner on the system D-Bus (user:$sub would be missing)"
	# one python start-up: targetcli reads its commands from stdin
	out=$(targetcli 2>&1 <<EOF
set global auto_save_on_exit=false auto_add_default_portal=false
/backstores/user:$sub create name=$name size=${size}b cfgstring=$cfg
/iscsi create $iqn
/iscsi/$iqn/tpg1/luns create /backstores/user:$sub/$name
/iscsi/$iqn/tpg1/portals create ${GL_PORTAL%:*} ${GL_PORTAL#*:}
/iscsi/$iqn/tpg1 set attribute authentication=0 demo_mode_write_protect=0 generate_node_acls=1 cache_dynamic_acls=1
exit
EOF
) || true
	echo "$out" | sed 's/^/targetcli: /'
	[[ -e $GL_CFS/iscsi/$iqn/tpgt_1/lun/lun_0 ]] ||
		gl_fail "targetcli did not create $iqn LUN 0 (user:$sub $name)"
}

# gl_lio_configfs NAME SUBTYPE SIZE_BYTES CFGSTRING IQN
# The daemon-free path: raw configfs writes, as a script or our daemon would.
gl_lio_configfs() {
	local name=$1 sub=$2 size=$3 cfg=$4 iqn=$5 hba so t
	hba=$GL_CFS/core/user_${GL_HBA_INDEX:-7}
	so=$hba/$name
	mkdir -p "$so" || gl_fail "mkdir $so"
	echo -n "dev_config=$sub/$cfg" >"$so/control" || gl_fail "configfs: dev_config=$sub/$cfg rejected"
	echo -n "dev_size=$size" >"$so/control" || gl_fail "configfs: dev_size=$size rejected"
	echo -n 1 >"$so/enable" || gl_fail "configfs: enabling user:$sub $name failed (tcmu-runner refused the device? see logs/tcmu-runner.log)"
	t=$GL_CFS/iscsi/$iqn/tpgt_1
	mkdir -p "$t/lun/lun_0" "$t/np/$GL_PORTAL" || gl_fail "configfs: creating $iqn failed"
	ln -s "$so" "$t/lun/lun_0/$name"
	echo 0 >"$t/attrib/authentication"
	echo 1 >"$t/attrib/generate_node_acls"
	echo 1 >"$t/attrib/cache_dynamic_acls"
	echo 0 >"$t/attrib/demo_mode_write_protect"
	echo 1 >"$t/enable"
}

# gl_lio_remove NAME SUBTYPE IQN: undo either of the above.
gl_lio_remove() {
	local name=$1 sub=$2 iqn=$3 t so
	t=$GL_CFS/iscsi/$iqn/tpgt_1
	if [[ -d $t ]]; then
		echo 0 >"$t/enable" 2>/dev/null || true
		find "$t/lun" -mindepth 2 -maxdepth 2 -type l -delete 2>/dev/null || true
		rmdir "$t"/lun/lun_* "$t"/np/* 2>/dev/null || true
		rmdir "$t" "$GL_CFS/iscsi/$iqn" 2>/dev/null || true
	fi
	for so in "$GL_CFS"/core/user_*/"$name"; do
		[[ -d $so ]] && rmdir "$so" 2>/dev/null
	done
	[[ ! -d $GL_CFS/iscsi/$iqn ]] || gl_fail "could not remove target $iqn"
}

gl_iscsid_start() {
	pidof iscsid >/dev/null && return 0
	[[ -s /etc/iscsi/initiatorname.iscsi ]] && grep -q '^InitiatorName=' /etc/iscsi/initiatorname.iscsi ||
		echo "InitiatorName=$(iscsi-iname)" >/etc/iscsi/initiatorname.iscsi
	mkdir -p /run/lock/iscsi
	iscsid || gl_fail "iscsid did not start"
	sleep 0.3
}

# gl_iscsi_dev IQN: the sdX attached through the session to IQN, or "".
gl_iscsi_dev() {
	local out
	out=$(iscsiadm -m session -P3 2>/dev/null) || return 0
	awk -v iqn="$1" '/^Target: /{t=($2==iqn)} t && /Attached scsi disk/ {print $4; exit}' <<<"$out"
}

# gl_iscsi_login IQN: discovery + login with open-iscsi; GL_DEV=/dev/sdX.
gl_iscsi_login() {
	local iqn=$1 i d=
	gl_iscsid_start
	iscsiadm -m discovery -t sendtargets -p "$GL_PORTAL" >/dev/null ||
		gl_fail "iSCSI discovery on $GL_PORTAL failed"
	iscsiadm -m node -T "$iqn" -p "$GL_PORTAL" --login ||
		gl_fail "iscsiadm login to $iqn failed"
	for i in $(seq 1 100); do
		d=$(gl_iscsi_dev "$iqn")
		[[ -n $d && -b /dev/$d ]] && break
		sleep 0.1
	done
	[[ -n $d && -b /dev/$d ]] || gl_fail "no /dev/sdX after login to $iqn"
	GL_DEV=/dev/$d
	echo "logged in to $iqn: $GL_DEV ($(blockdev --getsize64 "$GL_DEV") bytes)"
}

gl_iscsi_logout() {
	local iqn=$1
	iscsiadm -m node -T "$iqn" -p "$GL_PORTAL" --logout >/dev/null 2>&1 || true
	iscsiadm -m node -T "$iqn" -p "$GL_PORTAL" -o delete >/dev/null 2>&1 || true
	GL_DEV=
}

# gl_libiscsi_check URL SIZE: libiscsi's user-space initiator sees the LUN.
gl_libiscsi_check() {
	local url=$1 size=$2 out
	gl_require iscsi-inq iscsi-readcapacity16
	out=$(iscsi-inq "$url" 2>&1) || gl_fail "iscsi-inq $url failed: $out"
	echo "$out" | sed -n '1,6s/^/iscsi-inq: /p'
	out=$(iscsi-readcapacity16 "$url" 2>&1) || gl_fail "iscsi-readcapacity16 $url failed: $out"
	gl_check "libiscsi iscsi-readcapacity16 reports $size bytes" \
		grep -qx "Total size:$size" <<<"$out"
}

# gl_sha FILE|DEV [BYTES]: sha256 of the first BYTES (default: all).
gl_sha() {
	local f=$1 n=${2:-} out
	if [[ -n $n ]]; then
		out=$(head -c "$n" "$f" | sha256sum)
	else
		out=$(sha256sum <"$f")
	fi
	echo "${out%% *}"
}

# gl_sock NAME REQUEST: one exchange on the handler's status/control socket
# /run/lunclone/NAME.sock; prints the reply.
gl_sock() {
	python3 - "/run/lunclone/$1.sock" "$2" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall((sys.argv[2] + "\n").encode())
data = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    data += b
sys.stdout.write(data.decode())
PY
}

# gl_sock_get NAME KEY: one field of the socket's status reply ("" if none).
gl_sock_get() {
	local out
	out=$(gl_sock "$1" status 2>/dev/null) || return 0
	sed -n "s/^$2=//p" <<<"$out"
}

# gl_meta_hydrated META: regions committed as hydrated in the store (lunclone
# status reads the store itself, read-only: what survives a crash).
gl_meta_hydrated() {
	local out
	out=$("$E2E_LUNCLONE" status --meta "$1" --json) || gl_fail "lunclone status --meta $1 failed"
	sed -n 's/^ *"nr_hydrated": *\([0-9]*\).*/\1/p' <<<"$out"
}
gl_meta_total() {
	local out
	out=$("$E2E_LUNCLONE" status --meta "$1" --json) || gl_fail "lunclone status --meta $1 failed"
	sed -n 's/^ *"nr_regions": *\([0-9]*\).*/\1/p' <<<"$out"
}

# gl_teardown: sessions first (a logout needs the LUN to answer), then
# tcmu-runner.  For EXIT traps: never fails.
gl_teardown() {
	mkdir -p "$GL_OUT/logs"
	cp -f "$GL_LOG"/tcmu-runner*.log "$GL_OUT/logs/" 2>/dev/null || true
	if pidof iscsid >/dev/null 2>&1; then
		iscsiadm -m node --logoutall=all >/dev/null 2>&1 || true
	fi
	gl_tcmu_stop || true
}
