#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The end-to-end scenarios, run INSIDE the UML guest by test-e2e.sh (through
# run-uml.sh).  Each scenario prints "ASSERT ok: ..." lines, leaves its
# artefacts in /e2eout/sN/ for the host-side checks, and fails the whole
# script on the first broken assertion.
#
# Environment (from test-e2e.sh, via /e2eout/env):
#   E2E_SCENARIOS     space-separated list, of: 0 1 2 3 4
#                     0 harness self-check on user:file (targetcli + configfs)
#                     1 unhydrated LUN reads equal the source (paused clone)
#                     2 fio verify during hydration, then 100 %
#                     3 kill -9 tcmu-runner mid-hydration, restart, resume
#                     4 iscsi-test-cu on user:clone and on user:file
#                     5 FUA and SYNCHRONIZE CACHE commit the bitmap
#                     6 destination write and flush errors (dm-flakey)
#                     7 bad source sectors (dm-dust): MEDIUM ERROR, quarantine
#                     8 kill -9/restart soak (E2E_SOAK_CYCLES, default 5)
#                     10 iscsi:// source: LIO fileio LUN as the old array
#                     9 power cut replayed at the block layer (dm-log-writes)
#                     11 metadata device errors (dm-flakey); socket and secrets
#                     12 full destination (ENOSPC on a thin file)
#                     13 slow source (dm-delay): user p99 while hydrating
#   E2E_HANDLER_DIR   dir holding handler_clone.so and handler_file.so
#   E2E_SRC           source image (host path, seen read-only here)
#   E2E_LUNCLONE      the lunclone CLI
#   E2E_TESTCU        iscsi-test-cu test spec (scenario 4)
#   E2E_RATE          hydration rate in MiB/s while I/O runs (scenarios 2-4)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/e2e/guest-lib.sh
. "$HERE/guest-lib.sh"

# run-uml.sh's timeout sends TERM: exit through the EXIT trap (logs, teardown)
trap 'exit 143' TERM
trap 'rc=$?; if [ $rc -ne 0 ]; then echo "guest: failed (rc=$rc)"; [ -n "${GL_DUMPED:-}" ] || gl_dump; fi; gl_teardown; exit $rc' EXIT

: "${E2E_SCENARIOS:?E2E_SCENARIOS not set}"
: "${E2E_HANDLER_DIR:?E2E_HANDLER_DIR not set}"
: "${E2E_SRC:?E2E_SRC not set}"
: "${E2E_LUNCLONE:?E2E_LUNCLONE not set}"
RATE=${E2E_RATE:-1}
TESTCU=${E2E_TESTCU:-SCSI}
gl_init
gl_require fio python3 qemu-img sg_inq sg_raw sg_sync sg_modes cmp dmsetup losetup
[[ -x $E2E_LUNCLONE ]] || gl_fail "lunclone CLI $E2E_LUNCLONE not executable"
[[ -r $E2E_SRC ]] || gl_fail "source image $E2E_SRC not readable in the guest"

# Images live on the guest's tmpfs (fast, private); artefacts are copied to
# the host at the end of each scenario.
SRC=/srv/src.img
cp "$E2E_SRC" "$SRC"
SIZE=$(stat -c %s "$SRC")
SRC_SHA=$(gl_sha "$SRC")
gl_step "source $SIZE bytes, sha256 $SRC_SHA"
gl_note SIZE "$SIZE"

gl_dbus_start
gl_tcmu_start "$E2E_HANDLER_DIR" dbus

iqn_of() { echo "iqn.2025-01.org.lunclone.e2e:$1"; }

# wait_until DESC SECONDS CMD...: polls CMD every 0.5 s.
wait_until() {
	local desc=$1 secs=$2 i
	shift 2
	for ((i = 0; i < secs * 2; i++)); do
		"$@" && return 0
		sleep 0.5
	done
	gl_fail "timed out after ${secs}s waiting for: $desc"
}

sock_up() { [[ -n $(gl_sock_get "$1" state) ]]; }
hydration_done() {
	local h t
	h=$(gl_sock_get "$1" regions_hydrated)
	t=$(gl_sock_get "$1" regions_total)
	[[ -n $h && $h == "$t" ]]
}

# read_lun DEV OUT: the whole LUN through the kernel initiator, O_DIRECT.
read_lun() {
	dd if="$1" of="$2" bs=1M iflag=direct status=none || gl_fail "reading $1 through the initiator failed"
	[[ $(stat -c %s "$2") == "$SIZE" ]] || gl_fail "read $(stat -c %s "$2") bytes from $1, expected $SIZE"
}

# finish_clone N NAME DST META: close the LUN, copy the artefacts to the host.
save_artefacts() {
	local d=/e2eout/s$1
	shift
	mkdir -p "$d"
	cp "$@" "$d/"
}

# --- scenario 0: the harness itself, on user:file --------------------------
scenario0() {
	local iqn img sha1 sha2 mode
	for mode in targetcli configfs; do
		gl_step "s0: user:file via $mode"
		iqn=$(iqn_of s0-$mode)
		img=/srv/s0-$mode.img
		truncate -s "$SIZE" "$img"
		if [[ $mode == targetcli ]]; then
			gl_lio_targetcli f0 file "$SIZE" "$img" "$iqn"
		else
			gl_lio_configfs f0 file "$SIZE" "$img" "$iqn"
		fi
		gl_libiscsi_check "iscsi://127.0.0.1/$iqn/0" "$SIZE"
		gl_iscsi_login "$iqn"
		dd if="$SRC" of="$GL_DEV" bs=1M oflag=direct conv=fsync status=none
		read_lun "$GL_DEV" /srv/s0-back.img
		sha1=$(gl_sha /srv/s0-back.img)
		sha2=$(gl_sha "$img")
		gl_check "s0 $mode: user:file LUN read back equals what was written" [ "$sha1" = "$SRC_SHA" ]
		gl_check "s0 $mode: user:file backing file holds it" [ "$sha2" = "$SRC_SHA" ]
		gl_iscsi_logout "$iqn"
		gl_lio_remove f0 file "$iqn"
		rm -f "$img" /srv/s0-back.img
	done
}

# --- scenario 1: unhydrated reads ------------------------------------------
scenario1() {
	local iqn cfg dst=/srv/d1.img meta=/srv/m1.meta sha h total last
	iqn=$(iqn_of s1)
	truncate -s "$SIZE" "$dst"
	cfg="src=$SRC;dst=$dst;meta=$meta;name=s1;paused=on"
	gl_step "s1: user:clone via targetcli, cfgstring=$cfg"
	gl_lio_targetcli c1 clone "$SIZE" "$cfg" "$iqn"
	wait_until "s1 status socket" 20 sock_up s1
	gl_sock s1 status | sed 's/^/s1 status: /'
	gl_check "s1: clone starts paused" [ "$(gl_sock_get s1 state)" = paused ]
	gl_check "s1: nothing hydrated before the reads" [ "$(gl_sock_get s1 regions_hydrated)" = 0 ]

	gl_libiscsi_check "iscsi://127.0.0.1/$iqn/0" "$SIZE"
	gl_step "s1: whole LUN through libiscsi (qemu-img convert iscsi://)"
	qemu-img convert -f raw -O raw "iscsi://127.0.0.1/$iqn/0" /srv/s1-libiscsi.img ||
		gl_fail "qemu-img convert from the LUN failed"
	sha=$(gl_sha /srv/s1-libiscsi.img)
	gl_check "s1: libiscsi read of the unhydrated LUN equals the source (sha256 $sha)" [ "$sha" = "$SRC_SHA" ]
	rm -f /srv/s1-libiscsi.img

	gl_iscsi_login "$iqn"
	gl_check "s1: kernel initiator sees $SIZE bytes" [ "$(blockdev --getsize64 "$GL_DEV")" = "$SIZE" ]
	gl_step "s1: whole LUN through the kernel initiator ($GL_DEV, O_DIRECT)"
	read_lun "$GL_DEV" /srv/s1-lun.img
	sha=$(gl_sha /srv/s1-lun.img)
	gl_check "s1: kernel-initiator read of the unhydrated LUN equals the source (sha256 $sha)" [ "$sha" = "$SRC_SHA" ]
	rm -f /srv/s1-lun.img
	h=$(gl_sock_get s1 regions_hydrated)
	gl_check "s1: still paused after the reads, hydrated=$h (reads served from the source)" \
		[ "$(gl_sock_get s1 state)" = paused ]

	gl_step "s1: resume over the socket, hydrate to the end"
	gl_check "s1: 'lunclone ctl resume' succeeds" \
		"$E2E_LUNCLONE" ctl --socket /run/lunclone/s1.sock resume
	# lunclone ctl watch: the progress bar, until complete (exit 0)
	watch_s1() {
		timeout 180 "$E2E_LUNCLONE" ctl --socket /run/lunclone/s1.sock watch \
			--interval 200 >/srv/s1-watch.txt
	}
	gl_check "s1: 'lunclone ctl watch' follows hydration to complete" watch_s1
	sed -n '1p;$p' /srv/s1-watch.txt | sed 's/^/s1 watch: /'
	# (no /dev/fd in the guest: no <(...) here)
	last=$(tail -n 1 /srv/s1-watch.txt)
	gl_check "s1: watch printed progress lines, the last one complete at 100 %" \
		grep -qE '^\[#+\] +100\.00%.*complete$' <<<"$last"
	gl_sock s1 status | sed 's/^/s1 status: /'
	read_lun "$GL_DEV" /srv/s1-lun.img
	sha=$(gl_sha /srv/s1-lun.img)
	gl_check "s1: LUN still equals the source after hydration" [ "$sha" = "$SRC_SHA" ]
	gl_iscsi_logout "$iqn"
	gl_lio_remove c1 clone "$iqn"
	total=$(gl_meta_total "$meta")
	gl_check "s1: store says $total/$total hydrated after close" [ "$(gl_meta_hydrated "$meta")" = "$total" ]
	save_artefacts 1 "$dst" "$meta"
	rm -f "$dst" "$meta" /srv/s1-lun.img /srv/s1-watch.txt
}

# fio_jobfile DEV PREFIX SEED: random writes, partial regions (4k), full regions
# (64k aligned), spanning ones (4k-192k) and 512-byte writes in the last,
# short region; fsync every 8 writes; crc32c verify headers in each block.
# Each job logs its I/O (write_iolog) so the host can rebuild the expected
# destination.  Jobs run one after another on disjoint ranges.  The seed is
# fixed in the job file: fio --verify_only replays the same offsets.
fio_jobfile() {
	local dev=$1 p=$2 seed=$3 c_size tail_off
	c_size=$(((SIZE - 24 * 1048576 - 65536) / 4096 * 4096))
	tail_off=$((SIZE - 32768))
	cat <<EOF
[global]
filename=$dev
direct=1
ioengine=libaio
iodepth=4
rw=randwrite
fsync=8
verify=crc32c
verify_fatal=1
do_verify=1
randseed=$seed
stonewall

[partial4k]
offset=0
size=12m
bs=4k
io_size=2m
write_iolog=$p.partial4k

[full64k]
offset=12m
size=12m
bs=64k
blockalign=64k
io_size=4m
write_iolog=$p.full64k

[span]
offset=24m
size=$c_size
bsrange=4k-192k
blockalign=4k
io_size=4m
write_iolog=$p.span

[tail512]
offset=$tail_off
size=32k
bs=512
io_size=8k
write_iolog=$p.tail512
EOF
}

# --- scenario 2: fio verify during hydration --------------------------------
scenario2() {
	local iqn cfg dst=/srv/d2.img meta=/srv/m2.meta sha total pct_before pct_after
	iqn=$(iqn_of s2)
	truncate -s "$SIZE" "$dst"
	# paused=on, resumed just before fio starts: hydration and fio overlap
	# from the first write, however slow the machine
	cfg="src=$SRC;dst=$dst;meta=$meta;name=s2;rate=$RATE;paused=on"
	gl_step "s2: user:clone via raw configfs, cfgstring=$cfg"
	gl_lio_configfs c2 clone "$SIZE" "$cfg" "$iqn"
	wait_until "s2 status socket" 20 sock_up s2
	gl_iscsi_login "$iqn"
	fio_jobfile "$GL_DEV" /srv/s2-iolog "$RANDOM$RANDOM" >/srv/s2.fio
	gl_check "s2: socket 'resume' answers ok" [ "$(gl_sock s2 resume)" = ok ]
	pct_before=$(gl_sock_get s2 percent)
	gl_check "s2: hydration running when fio starts (state $(gl_sock_get s2 state), $pct_before %)" \
		[ "$(gl_sock_get s2 state)" != paused -a "$(gl_sock_get s2 regions_hydrated)" != "$(gl_sock_get s2 regions_total)" ]
	gl_step "s2: fio randwrite+verify while hydrating (at $pct_before %)"
	fio --output=/srv/s2-fio.txt /srv/s2.fio || { cat /srv/s2-fio.txt; gl_fail "s2: fio reported an error or a verify failure"; }
	grep -E '^\s*(write|read):|err=' /srv/s2-fio.txt | sed 's/^/s2 fio: /'
	gl_check "s2: fio random writes + crc32c verify passed (all 4 jobs err=0)" \
		[ "$(grep -c 'err= 0' /srv/s2-fio.txt)" = 4 ]
	pct_after=$(gl_sock_get s2 percent)
	echo "s2: hydration was at $pct_before % when fio started, $pct_after % when it ended"
	gl_check "s2: socket 'throttle 0' answers ok" [ "$(gl_sock s2 'throttle 0')" = ok ]
	wait_until "s2 hydration to complete" 120 hydration_done s2
	gl_sock s2 status | sed 's/^/s2 status: /'
	read_lun "$GL_DEV" /srv/s2-lun.img
	gl_iscsi_logout "$iqn"
	gl_lio_remove c2 clone "$iqn"
	total=$(gl_meta_total "$meta")
	gl_check "s2: store says $total/$total hydrated after close" [ "$(gl_meta_hydrated "$meta")" = "$total" ]
	sha=$(gl_sha /srv/s2-lun.img)
	gl_check "s2: destination equals what the initiator reads" [ "$(gl_sha "$dst")" = "$sha" ]
	save_artefacts 2 "$dst" "$meta" /srv/s2-lun.img /srv/s2-iolog.* /srv/s2-fio.txt
	rm -f "$dst" "$meta" /srv/s2-*
}

# --- scenario 3: kill -9 tcmu-runner mid-hydration ---------------------------
scenario3() {
	local iqn cfg dst=/srv/d3.img meta=/srv/m3.meta total c_kill r0 ropen reader rrc i ok
	iqn=$(iqn_of s3)
	truncate -s "$SIZE" "$dst"
	# paused=on: the writes go in first, then hydration runs and the crash
	# comes at a known point (a quarter committed) whatever the machine's speed
	cfg="src=$SRC;dst=$dst;meta=$meta;name=s3;rate=$RATE;paused=on"
	gl_step "s3: user:clone via raw configfs, cfgstring=$cfg"
	gl_lio_configfs c3 clone "$SIZE" "$cfg" "$iqn"
	wait_until "s3 status socket" 20 sock_up s3
	gl_iscsi_login "$iqn"
	total=$(gl_sock_get s3 regions_total)
	fio_jobfile "$GL_DEV" /srv/s3-iolog "$RANDOM$RANDOM" >/srv/s3.fio
	gl_step "s3: fio writes (verify later) before the crash"
	fio --do_verify=0 --output=/srv/s3-fio-w.txt /srv/s3.fio ||
		{ cat /srv/s3-fio-w.txt; gl_fail "s3: fio write phase failed"; }
	gl_check "s3: socket 'resume' answers ok" [ "$(gl_sock s3 resume)" = ok ]
	# let the committed count grow past a quarter
	wait_until "s3: a quarter committed in the store" 120 \
		eval '[ "$(gl_meta_hydrated "$meta")" -ge $((total / 4)) ]'
	# a reader in flight across the crash: the LUN must come back to it
	dd if="$GL_DEV" of=/dev/null bs=64k iflag=direct status=none &
	reader=$!
	sleep 0.3
	gl_step "s3: kill -9 tcmu-runner (pid $GL_TCMU_PID) at $(gl_sock_get s3 percent) %"
	gl_tcmu_kill9
	c_kill=$(gl_meta_hydrated "$meta")
	echo "s3: store after the crash: $c_kill/$total regions committed"
	gl_check "s3: crash was mid-hydration (0 < $c_kill < $total committed)" \
		[ "$c_kill" -gt 0 -a "$c_kill" -lt "$total" ]
	sleep 2
	gl_step "s3: restart tcmu-runner"
	gl_tcmu_start "$E2E_HANDLER_DIR" dbus
	wait_until "s3 status socket after restart" 30 sock_up s3
	r0=$(gl_sock_get s3 regions_hydrated)
	echo "s3: first status after restart: regions_hydrated=$r0 (store had $c_kill)"
	gl_check "s3: hydration resumes from the last commit, not from zero ($r0 >= $c_kill > 0)" \
		[ "$r0" -ge "$c_kill" -a "$r0" -gt 0 ]
	# the cfgstring says paused=on again: resume, as an operator would
	[[ $(gl_sock_get s3 state) != paused ]] || gl_check "s3: socket 'resume' after the restart answers ok" [ "$(gl_sock s3 resume)" = ok ]
	# the reopen itself reports what it found in the store
	ropen=$(grep 'clone/c3: opened clone' "$GL_LOG/tcmu-runner.log" | tail -n 1)
	echo "s3: tcmu-runner after restart: ${ropen#*INFO] }"
	ropen=${ropen##*: }
	gl_check "s3: the reopen started at exactly the committed $c_kill/$total regions" \
		[ "${ropen%%/*}" = "$c_kill" ]
	# The LUN comes back: the reader in flight finishes, new I/O works
	# (open-iscsi recovers the session; log in again if it gave up).
	rrc=0
	for ((i = 0; i < 120; i++)); do
		kill -0 "$reader" 2>/dev/null || break
		sleep 0.5
	done
	if kill -0 "$reader" 2>/dev/null; then
		kill "$reader" 2>/dev/null || true
		rrc=timeout
	else
		wait "$reader" || rrc=$?
	fi
	echo "s3: reader in flight across the crash: rc=$rrc"
	ok=0
	for ((i = 0; i < 60; i++)); do
		if dd if="$GL_DEV" of=/dev/null bs=4k count=1 iflag=direct status=none 2>/dev/null; then
			ok=1
			break
		fi
		sleep 0.5
	done
	if [[ $ok == 0 ]]; then
		echo "s3: LUN not readable through the old session; logging in again"
		gl_iscsi_logout "$iqn"
		gl_iscsi_login "$iqn"
	fi
	gl_check "s3: the LUN answers I/O after the restart" \
		dd if="$GL_DEV" of=/dev/null bs=4k count=1 iflag=direct status=none
	gl_step "s3: fio verify of the data written before the crash"
	fio --verify_only --output=/srv/s3-fio-v.txt /srv/s3.fio ||
		{ cat /srv/s3-fio-v.txt; gl_fail "s3: fio verify after the restart failed"; }
	gl_check "s3: fio verify of pre-crash writes passed (4 jobs err=0)" \
		[ "$(grep -c 'err= 0' /srv/s3-fio-v.txt)" = 4 ]
	gl_check "s3: socket 'throttle 0' answers ok" [ "$(gl_sock s3 'throttle 0')" = ok ]
	wait_until "s3 hydration to complete" 120 hydration_done s3
	gl_sock s3 status | sed 's/^/s3 status: /'
	read_lun "$GL_DEV" /srv/s3-lun.img
	gl_iscsi_logout "$iqn"
	gl_lio_remove c3 clone "$iqn"
	gl_check "s3: store says $total/$total hydrated after close" [ "$(gl_meta_hydrated "$meta")" = "$total" ]
	gl_check "s3: destination equals what the initiator reads" \
		[ "$(gl_sha "$dst")" = "$(gl_sha /srv/s3-lun.img)" ]
	gl_note S3_COMMITTED_AT_KILL "$c_kill"
	gl_note S3_FIRST_AFTER_RESTART "$r0"
	gl_note S3_TOTAL "$total"
	save_artefacts 3 "$dst" "$meta" /srv/s3-lun.img /srv/s3-iolog.* /srv/s3-fio-*.txt
	rm -f "$dst" "$meta" /srv/s3-*
}

# --- scenario 5: FUA and SYNCHRONIZE CACHE commit the bitmap ----------------
# be_hex N BYTES: N as BYTES big-endian hex bytes, for sg_raw's CDB.
be_hex() {
	local n=$1 b=$2 i out=
	for ((i = b - 1; i >= 0; i--)); do
		out+=" $(printf '%02x' $(((n >> (8 * i)) & 0xff)))"
	done
	echo "$out"
}

# committed_ranges META: the store's hydrated ranges, as lunclone dump says.
committed_ranges() {
	local out
	out=$("$E2E_LUNCLONE" dump --meta "$1") || gl_fail "lunclone dump --meta $1 failed"
	sed -n 's/.*"hydrated": *\(\[.*\]\).*/\1/p' <<<"$out" | tr -d ' '
}

# write16 DEV FUA LBA FILE: WRITE(16) of FILE at LBA, FUA bit 0 or 1.
write16() {
	local dev=$1 fua=$2 lba=$3 file=$4 len bs
	len=$(stat -c %s "$file")
	bs=$(blockdev --getss "$dev")
	sg_raw -s "$len" -i "$file" "$dev" 8a "$(printf '%02x' $((fua ? 0x08 : 0)))" \
		$(be_hex "$lba" 8) $(be_hex $((len / bs)) 4) 00 00 >/dev/null 2>&1 ||
		gl_fail "WRITE(16) fua=$fua of $file at LBA $lba on $dev failed"
}

scenario5() {
	local iqn cfg dst=/srv/d5.img meta=/srv/m5.meta bs got msense sd
	iqn=$(iqn_of s5)
	truncate -s "$SIZE" "$dst"
	# Paused, and no periodic commit for 10 minutes: the only commits are
	# the ones FUA and SYNCHRONIZE CACHE make.
	cfg="src=$SRC;dst=$dst;meta=$meta;name=s5;paused=on;commit_interval=600000"
	gl_step "s5: user:clone via raw configfs, cfgstring=$cfg"
	gl_lio_configfs c5 clone "$SIZE" "$cfg" "$iqn"
	wait_until "s5 status socket" 20 sock_up s5
	gl_iscsi_login "$iqn"
	bs=$(blockdev --getss "$GL_DEV")
	msense=$(sg_modes --page=0x08 "$GL_DEV" 2>&1) || gl_fail "sg_modes on $GL_DEV failed: $msense"
	gl_check "s5: MODE SENSE advertises DPOFUA" grep -q 'DpoFua=1' <<<"$msense"
	# What the kernel initiator concluded from it (sd.c's attributes).
	sd=$(ls "/sys/block/${GL_DEV#/dev/}/device/scsi_disk/")
	gl_check "s5: the kernel initiator uses FUA" \
		[ "$(cat "/sys/class/scsi_disk/$sd/FUA")" = 1 ]
	gl_check "s5: the kernel initiator sees a volatile write cache (WCE=1)" \
		[ "$(cat "/sys/class/scsi_disk/$sd/cache_type")" = "write back" ]
	head -c 8192 /dev/urandom >/srv/s5-fua.bin
	head -c 8192 /dev/urandom >/srv/s5-plain.bin
	gl_check "s5: nothing committed before the writes" [ "$(committed_ranges "$meta")" = "[]" ]

	# 8 KiB inside region 3, not at its start: the region is copied first.
	gl_step "s5: WRITE(16) with FUA into region 3, a plain WRITE(16) into region 5"
	write16 "$GL_DEV" 1 $(((3 * 65536 + 4096) / bs)) /srv/s5-fua.bin
	got=$(committed_ranges "$meta")
	gl_check "s5: once the FUA write completed, region 3 is committed in the store ($got)" \
		[ "$got" = "[[3,3]]" ]
	write16 "$GL_DEV" 0 $(((5 * 65536 + 4096) / bs)) /srv/s5-plain.bin
	got=$(committed_ranges "$meta")
	gl_check "s5: the plain write is not committed yet (control: the check can fail) ($got)" \
		[ "$got" = "[[3,3]]" ]
	gl_check "s5: the FUA data is on the destination" \
		cmp -s -i 0:$((3 * 65536 + 4096)) -n 8192 /srv/s5-fua.bin "$dst"
	gl_check "s5: the rest of region 3 on the destination is the source's" \
		cmp -s -n 4096 -i $((3 * 65536)):$((3 * 65536)) "$SRC" "$dst"
	gl_step "s5: SYNCHRONIZE CACHE"
	sg_sync "$GL_DEV" || gl_fail "sg_sync $GL_DEV failed"
	got=$(committed_ranges "$meta")
	gl_check "s5: after SYNCHRONIZE CACHE both regions are committed ($got)" \
		[ "$got" = "[[3,3],[5,5]]" ]
	gl_check "s5: the plain write's data is on the destination" \
		cmp -s -i 0:$((5 * 65536 + 4096)) -n 8192 /srv/s5-plain.bin "$dst"
	gl_iscsi_logout "$iqn"
	gl_lio_remove c5 clone "$iqn"
	rm -f "$dst" "$meta" /srv/s5-*
}

# --- scenario 4: iscsi-test-cu on user:file and user:clone -------------------
# testcu URL OUTPREFIX: runs the suite, writes OUTPREFIX.txt (console) and
# OUTPREFIX.results (one "name PASS|FAIL" line per test).
testcu() {
	local url=$1 p=$2 rc=0
	local tmo=${E2E_TESTCU_TIMEOUT:-500} cu i
	(cd /srv && exec iscsi-test-cu --dataloss --ignore --xml --test="$TESTCU" "$url" \
		>"$p.txt" 2>&1) &
	cu=$!
	# Watch both: once tcmu-runner is gone every command crawls to NOT READY,
	# so stop the suite at once rather than let it run into the timeout.
	for ((i = 0; i < tmo; i++)); do
		kill -0 "$cu" 2>/dev/null || break
		kill -0 "$GL_TCMU_PID" 2>/dev/null || break
		sleep 1
	done
	local killed=0
	if kill -0 "$cu" 2>/dev/null; then
		kill "$cu" 2>/dev/null || true
		killed=1
	fi
	wait "$cu" || rc=$?
	[[ $killed == 0 ]] || rc=124
	if [[ -n $GL_TCMU_PID ]] && ! kill -0 "$GL_TCMU_PID" 2>/dev/null; then
		wait "$GL_TCMU_PID" 2>/dev/null || echo "tcmu-runner exit status: $?"
		echo "--- last CDBs tcmu-runner logged:"
		grep DEBUG_SCSI_CMD "$GL_LOG/tcmu-runner.log" | tail -n 8 |
			sed 's/.*tcmu_cdb_print_info:[0-9]* /  CDB /' || true
		echo "--- iscsi-test-cu output (tail):"
		tail -n 15 "$p.txt"
		GL_TCMU_PID=
		gl_fail "tcmu-runner died during iscsi-test-cu on $url"
	fi
	[[ $rc == 124 ]] && gl_fail "iscsi-test-cu on $url did not finish in ${tmo}s"
	mv /srv/CUnitAutomated-Results.xml "$p.xml" 2>/dev/null ||
		gl_fail "iscsi-test-cu wrote no results for $url (rc=$rc): $(tail -5 "$p.txt")"
	python3 - "$p.xml" >"$p.results" <<'PY'
import re, sys
x = open(sys.argv[1], errors="replace").read()
suite, res = None, {}
pat = (r"<SUITE_NAME>\s*(.*?)\s*</SUITE_NAME>"
       r"|<CUNIT_RUN_TEST_(SUCCESS|FAILURE)>\s*<TEST_NAME>\s*(.*?)\s*</TEST_NAME>")
for m in re.finditer(pat, x, re.S):
    if m.group(1) is not None:
        suite = m.group(1)
    else:
        k = f"{suite}.{m.group(3)}"
        # a test fails when any of its assertions failed
        if m.group(2) == "FAILURE" or k not in res:
            res[k] = "PASS" if m.group(2) == "SUCCESS" else "FAIL"
for k in sorted(res):
    print(k, res[k])
PY
	echo "$p: $(grep -c ' PASS$' "$p.results" || true) passed, $(grep -c ' FAIL$' "$p.results" || true) failed (iscsi-test-cu rc=$rc)"
}

scenario4() {
	local iqnf iqnc cfg dst=/srv/d4.img meta=/srv/m4.meta fimg=/srv/f4.img n
	iqnf=$(iqn_of s4-file)
	iqnc=$(iqn_of s4-clone)
	truncate -s "$SIZE" "$dst"
	cp "$SRC" "$fimg"
	cfg="src=$SRC;dst=$dst;meta=$meta;name=s4;rate=$RATE"
	gl_step "s4: user:file and user:clone ($cfg) via targetcli"
	gl_lio_targetcli f4 file "$SIZE" "$fimg" "$iqnf"
	gl_lio_targetcli c4 clone "$SIZE" "$cfg" "$iqnc"
	wait_until "s4 status socket" 20 sock_up s4
	mkdir -p /e2eout/s4
	gl_step "s4: iscsi-test-cu --test=$TESTCU on user:file"
	testcu "iscsi://127.0.0.1/$iqnf/0" /e2eout/s4/file
	gl_step "s4: iscsi-test-cu --test=$TESTCU on user:clone (hydrating at $(gl_sock_get s4 percent) %)"
	testcu "iscsi://127.0.0.1/$iqnc/0" /e2eout/s4/clone
	echo "s4: clone at $(gl_sock_get s4 percent) % after the suite"
	n=$(grep -c . /e2eout/s4/file.results || true)
	gl_check "s4: the suite ran tests on user:file ($n)" [ "$n" -gt 0 ]
	gl_check "s4: the same tests ran on user:clone" \
		[ "$(grep -c . /e2eout/s4/clone.results || true)" = "$n" ]
	gl_lio_remove f4 file "$iqnf"
	gl_lio_remove c4 clone "$iqnc"
	rm -f "$dst" "$meta" "$fimg"
}

# shellcheck source=tests/e2e/guest-faults.sh
. "$HERE/guest-faults.sh"
# shellcheck source=tests/e2e/guest-powercut.sh
. "$HERE/guest-powercut.sh"
# shellcheck source=tests/e2e/guest-soak.sh
. "$HERE/guest-soak.sh"
# shellcheck source=tests/e2e/guest-iscsi-source.sh
. "$HERE/guest-iscsi-source.sh"
# shellcheck source=tests/e2e/guest-faults2.sh
. "$HERE/guest-faults2.sh"

for s in $E2E_SCENARIOS; do
	t0=$(gl_elapsed)
	echo "=== scenario $s"
	"scenario$s"
	gl_note "S${s}_SECONDS" "$(echo "$(gl_elapsed) - $t0" | bc)"
	printf '=== scenario %s passed in %.1fs\n' "$s" "$(echo "$(gl_elapsed) - $t0" | bc)"
done
gl_step "guest: all scenarios passed ($E2E_SCENARIOS)"
