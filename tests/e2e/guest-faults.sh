# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Faults injected below the clone by the guest's kernel (issue 8), sourced by
# guest-scenarios.sh (which provides wait_until, sock_up, hydration_done,
# iqn_of, read_lun and the gl_* helpers):
#   6  destination write errors (dm-flakey error_writes): failed commands
#      are SCSI errors, nothing is marked, hydration retries; a failed
#      SYNCHRONIZE CACHE turns the metadata read-only until the LUN is
#      reopened, and the data is right afterwards
#   7  bad sectors on the source (dm-dust): MEDIUM ERROR for reads of them,
#      their regions quarantined and reported, the rest hydrates; once the
#      source is healed, resume finishes the clone

# No udev in the guest: dmsetup makes the /dev/mapper nodes itself.
export DM_DISABLE_UDEV=1

# dm_create NAME TABLE [dmsetup options]: a device-mapper device and its node.
dm_create() {
	local name=$1 table=$2
	shift 2
	dmsetup create "$name" "$@" --table "$table" || gl_fail "dmsetup create $name ($table) failed"
	dmsetup mknodes "$name" 2>/dev/null || true
	[[ -b /dev/mapper/$name ]] || gl_fail "/dev/mapper/$name missing after dmsetup create"
}

# dm_table NAME TABLE: swaps the table of a live device-mapper device.
dm_table() {
	dmsetup suspend "$1" && dmsetup load "$1" --table "$2" && dmsetup resume "$1" ||
		gl_fail "dmsetup: cannot load '$2' into $1"
}

# sense_of DEV LBA: the sense key of a READ(16) of one block at LBA, or "good".
sense_of() {
	local out bs
	bs=$(blockdev --getss "$1")
	out=$(sg_raw -r "$bs" "$1" 88 00 $(be_hex "$2" 8) 00 00 00 01 00 00 2>&1 >/dev/null) && {
		echo good
		return
	}
	out=$(sed -n 's/.*Sense key: *\([A-Za-z ]*\).*/\1/p' <<<"$out")
	echo "${out%%$'\n'*}"
}

# --- scenario 6: destination write errors ------------------------------------
scenario6() {
	local iqn cfg img=/srv/d6.img meta=/srv/m6.meta loop sloop sectors dm=lc-d6 dev out i total
	iqn=$(iqn_of s6)
	dev=/dev/mapper/$dm
	modprobe -a dm_mod dm_flakey loop || gl_fail "modprobe dm_flakey loop failed"
	truncate -s "$SIZE" "$img"
	loop=$(losetup -f --show "$img") || gl_fail "losetup $img failed"
	sectors=$(blockdev --getsz "$loop")
	dm_create "$dm" "0 $sectors linear $loop 0"
	# O_DIRECT: a write error reaches the command that caused it (through
	# the page cache it would surface only at the next flush).
	# direct=on is for source and destination, and the guest's tmpfs has
	# no O_DIRECT: the source goes through a loop device too.
	sloop=$(losetup -f --show -r "$SRC") || gl_fail "losetup $SRC failed"
	cfg="src=$sloop;dst=$dev;meta=$meta;name=s6;direct=on;paused=on;retry_delay=100"
	gl_step "s6: user:clone on a dm-flakey destination, cfgstring=$cfg"
	gl_lio_configfs c6 clone "$SIZE" "$cfg" "$iqn"
	wait_until "s6 status socket" 20 sock_up s6
	gl_iscsi_login "$iqn"
	total=$(gl_sock_get s6 regions_total)

	gl_step "s6: destination fails every write (dm-flakey error_writes)"
	dm_table "$dm" "0 $sectors flakey $loop 0 0 1 1 error_writes"
	head -c 65536 /dev/urandom >/srv/s6-w.bin
	gl_check "s6: a write into an unhydrated region fails at the initiator" \
		bash -c "! dd if=/srv/s6-w.bin of=$GL_DEV bs=64k seek=10 count=1 oflag=direct status=none 2>/dev/null"
	gl_check "s6: status reports the error (last_error=-5, EIO)" [ "$(gl_sock_get s6 last_error)" = -5 ]
	gl_check "s6: ... and the clone still accepts writes (state $(gl_sock_get s6 state))" \
		[ "$(gl_sock_get s6 state)" = paused ]
	# (files, not <(...): the guest has no /dev/fd)
	dd if="$GL_DEV" of=/srv/s6-lun10.bin bs=64k skip=10 count=1 iflag=direct status=none
	dd if="$SRC" of=/srv/s6-src10.bin bs=64k skip=10 count=1 status=none
	gl_check "s6: the failed write's region reads as the source" \
		cmp -s /srv/s6-lun10.bin /srv/s6-src10.bin
	gl_check "s6: socket 'resume' answers ok" [ "$(gl_sock s6 resume)" = ok ]
	sleep 2
	gl_check "s6: hydration marks nothing while the destination fails ($(gl_sock_get s6 regions_hydrated) hydrated)" \
		[ "$(gl_sock_get s6 regions_hydrated)" = 0 ]
	gl_check "s6: nothing committed in the store" [ "$(gl_meta_hydrated "$meta")" = 0 ]

	gl_step "s6: the destination heals"
	dm_table "$dm" "0 $sectors linear $loop 0"
	wait_until "s6 hydration to complete after the fault" 120 hydration_done s6
	# The source's own bytes: the clone must end equal to the source.
	dd if=/srv/s6-src10.bin of="$GL_DEV" bs=64k seek=10 count=1 oflag=direct status=none ||
		gl_fail "s6: a write after the fault cleared failed"

	gl_step "s6: SYNCHRONIZE CACHE while the destination fails"
	dm_table "$dm" "0 $sectors flakey $loop 0 0 1 1 error_writes"
	gl_check "s6: SYNCHRONIZE CACHE fails at the initiator" bash -c "! sg_sync $GL_DEV 2>/dev/null"
	gl_check "s6: the metadata is read-only, and status says so" \
		[ "$(gl_sock_get s6 state)" = read-only ]
	dm_table "$dm" "0 $sectors linear $loop 0"
	gl_check "s6: never silently back: SYNCHRONIZE CACHE still fails after the device healed" \
		bash -c "! sg_sync $GL_DEV 2>/dev/null"
	gl_check "s6: reads still work while read-only" \
		dd if="$GL_DEV" of=/dev/null bs=1M count=4 iflag=direct status=none

	# The documented recovery: reopen the LUN (here: restart tcmu-runner).
	gl_step "s6: recovery: reopen the LUN (restart tcmu-runner)"
	gl_tcmu_kill9
	gl_tcmu_start "$E2E_HANDLER_DIR" dbus
	wait_until "s6 status socket after restart" 30 sock_up s6
	gl_check "s6: after the reopen the clone is complete ($(gl_sock_get s6 state))" \
		[ "$(gl_sock_get s6 state)" = complete ]
	# open-iscsi recovers the session; log in again if it gave up (as s3)
	out=0
	for ((i = 0; i < 60; i++)); do
		sg_sync "$GL_DEV" 2>/dev/null && { out=1; break; }
		sleep 0.5
	done
	if [[ $out == 0 ]]; then
		echo "s6: LUN not answering through the old session; logging in again"
		gl_iscsi_logout "$iqn"
		gl_iscsi_login "$iqn"
	fi
	gl_check "s6: SYNCHRONIZE CACHE works again after the reopen" sg_sync "$GL_DEV"
	read_lun "$GL_DEV" /srv/s6-lun.img
	gl_check "s6: the LUN equals the source" [ "$(gl_sha /srv/s6-lun.img)" = "$SRC_SHA" ]
	gl_iscsi_logout "$iqn"
	gl_lio_remove c6 clone "$iqn"
	gl_check "s6: store says $total/$total hydrated after close" [ "$(gl_meta_hydrated "$meta")" = "$total" ]
	gl_check "s6: lunclone verify: every hydrated region equals the source" \
		"$E2E_LUNCLONE" verify --source "$SRC" --dest "$dev" --meta "$meta"
	dmsetup remove "$dm"
	losetup -d "$loop"
	losetup -d "$sloop"
	rm -f "$img" "$meta" /srv/s6-*
}

# --- scenario 7: bad sectors on the source -----------------------------------
scenario7() {
	local iqn cfg simg=/srv/s7-src.img dst=/srv/d7.img meta=/srv/m7.meta loop sectors
	local dm=lc-s7 dev total q bad1 bad2 rc
	iqn=$(iqn_of s7)
	dev=/dev/mapper/$dm
	modprobe -a dm_mod dm_dust loop || gl_fail "modprobe dm_dust loop failed"
	cp "$SRC" "$simg"
	loop=$(losetup -f --show -r "$simg") || gl_fail "losetup $simg failed"
	sectors=$(blockdev --getsz "$loop")
	dm_create "$dm" "0 $sectors dust $loop 0 512" --readonly
	# One bad sector in region 20, one in region 30 (64 KiB = 128 sectors).
	bad1=$((20 * 128 + 5))
	bad2=$((30 * 128 + 127))
	dmsetup message "$dm" 0 addbadblock "$bad1" && dmsetup message "$dm" 0 addbadblock "$bad2" &&
		dmsetup message "$dm" 0 enable || gl_fail "dm-dust: cannot add bad blocks"
	truncate -s "$SIZE" "$dst"
	cfg="src=$dev;dst=$dst;meta=$meta;name=s7;paused=on;retries=1;retry_delay=10"
	gl_step "s7: user:clone of a dm-dust source with bad sectors $bad1 and $bad2, cfgstring=$cfg"
	gl_lio_configfs c7 clone "$SIZE" "$cfg" "$iqn"
	wait_until "s7 status socket" 20 sock_up s7
	gl_iscsi_login "$iqn"
	total=$(gl_sock_get s7 regions_total)

	gl_check "s7: reading a bad source sector through the LUN is MEDIUM ERROR, not data" \
		[ "$(sense_of "$GL_DEV" "$bad1")" = "Medium Error" ]
	# (the source is read through the page cache, in 4 KiB pages: the good
	# sector is in another page of the same region)
	gl_check "s7: a good sector of the same region reads" [ "$(sense_of "$GL_DEV" $((bad1 + 16)))" = good ]
	gl_check "s7: socket 'resume' answers ok" [ "$(gl_sock s7 resume)" = ok ]
	wait_until "s7 to stop with only bad regions left" 120 \
		eval '[ "$(gl_sock_get s7 state)" = degraded ]'
	q=$(gl_sock_get s7 quarantined)
	gl_check "s7: the two regions with bad sectors are quarantined ($q)" [ "$q" = 2 ]
	gl_check "s7: everything else hydrated ($(gl_sock_get s7 regions_hydrated)/$total)" \
		[ "$(gl_sock_get s7 regions_hydrated)" = $((total - 2)) ]
	rc=0
	timeout 30 "$E2E_LUNCLONE" ctl --socket /run/lunclone/s7.sock watch >/srv/s7-watch.txt \
		2>/srv/s7-watch.err || rc=$?
	watch_failed_degraded() { [ "$rc" = 1 ] && grep -q degraded /srv/s7-watch.err; }
	gl_check "s7: 'lunclone ctl watch' exits 1 on a degraded clone, saying why" \
		watch_failed_degraded
	gl_check "s7: a bad sector still reads as MEDIUM ERROR" \
		[ "$(sense_of "$GL_DEV" "$bad2")" = "Medium Error" ]

	gl_step "s7: the source heals (dm-dust disabled); resume retries the quarantined regions"
	dmsetup message "$dm" 0 disable || gl_fail "dm-dust: cannot disable"
	gl_check "s7: socket 'resume' answers ok" [ "$(gl_sock s7 resume)" = ok ]
	wait_until "s7 hydration to complete" 60 hydration_done s7
	read_lun "$GL_DEV" /srv/s7-lun.img
	gl_check "s7: the LUN equals the source" [ "$(gl_sha /srv/s7-lun.img)" = "$SRC_SHA" ]
	gl_iscsi_logout "$iqn"
	gl_lio_remove c7 clone "$iqn"
	gl_check "s7: store says $total/$total hydrated after close" [ "$(gl_meta_hydrated "$meta")" = "$total" ]
	gl_check "s7: destination equals the source" [ "$(gl_sha "$dst")" = "$SRC_SHA" ]
	dmsetup remove "$dm"
	losetup -d "$loop"
	rm -f "$simg" "$dst" "$meta" /srv/s7-*
}
