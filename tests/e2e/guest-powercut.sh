# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Power cut, replayed at the block layer (issue 8), sourced by
# guest-scenarios.sh (which provides wait_until, sock_up, iqn_of, and the
# gl_* helpers; guest-faults.sh provides dm_create):
#   9  the clone's destination and metadata store are two dm-linear devices
#      carved from one dm-log-writes device, so every write, flush and FUA
#      that reaches either is in one ordered log; powercut-workload
#      (tests/crash) writes stamped data through the LUN, partial and whole
#      regions and 512-byte writes into the short last region, with fsync
#      after every 1-3 writes and FUA on every 7th write, in the first half
#      of the LUN (the other half is hydrated by copying alone), while
#      hydration runs (rate-limited), and marks the log after every
#      acknowledged fsync and FUA write.  The log, the source and the workload's records go to
#      /e2eout/s9/; the host replays every crash point (tests/crash/
#      log-replay.c, run by test-e2e.sh).
#
# Knobs (environment, passed through run-uml.sh):
#   E2E_S9_FSYNCS   fsyncs of the workload (default 1000: ~25 s in UML, and
#                   ~2,500 FLUSH entries in the log)
#   E2E_S9_SIZE     source bytes (default: the whole source, 40 MiB + 12800;
#                   a short last region)
#   E2E_S9_RATE     hydration MiB/s while the workload runs (default: E2E_RATE)
#   E2E_CRASH_BIN   the build dir of tests/crash (powercut-workload)

scenario9() {
	local iqn cfg size src=/srv/s9-src.img dev=/srv/s9-dev.img logimg=/srv/s9-log.img
	local dloop lloop dsec msec logw=lc-s9-logw fsyncs rate st entries highest out d=/e2eout/s9
	local wl=${E2E_CRASH_BIN:-}/powercut-workload
	[[ -x $wl ]] || gl_fail "s9: $wl not built (E2E_CRASH_BIN: the tests/crash build dir)"
	iqn=$(iqn_of s9)
	fsyncs=${E2E_S9_FSYNCS:-1000}
	rate=${E2E_S9_RATE:-$RATE}
	size=${E2E_S9_SIZE:-$SIZE}
	((size <= SIZE)) || gl_fail "s9: E2E_S9_SIZE $size is larger than the source ($SIZE)"
	modprobe -a dm_mod dm_log_writes loop || gl_fail "modprobe dm_log_writes loop failed"
	head -c "$size" "$SRC" >"$src"
	# destination: the source rounded up to 4 KiB; the store: 2 MiB after it
	dsec=$(((size + 4095) / 4096 * 8))
	msec=4096
	truncate -s $(((dsec + msec) * 512)) "$dev"
	# the log: sparse, room for everything (hydration + writes + metadata)
	truncate -s 1G "$logimg"
	dloop=$(losetup -f --show "$dev") || gl_fail "losetup $dev failed"
	lloop=$(losetup -f --show "$logimg") || gl_fail "losetup $logimg failed"
	dm_create "$logw" "0 $((dsec + msec)) log-writes $dloop $lloop"
	dm_create lc-s9-dst "0 $dsec linear /dev/mapper/$logw 0"
	dm_create lc-s9-meta "0 $msec linear /dev/mapper/$logw $dsec"
	dmsetup message "$logw" 0 mark start || gl_fail "dm-log-writes: cannot mark the log"

	cfg="src=$src;dst=/dev/mapper/lc-s9-dst;meta=/dev/mapper/lc-s9-meta;name=s9;rate=$rate;paused=on"
	gl_step "s9: user:clone on dm-linear over dm-log-writes, cfgstring=$cfg"
	gl_lio_configfs c9 clone "$size" "$cfg" "$iqn"
	wait_until "s9 status socket" 20 sock_up s9
	gl_iscsi_login "$iqn"
	gl_check "s9: socket 'resume' answers ok" [ "$(gl_sock s9 resume)" = ok ]
	gl_step "s9: workload: $fsyncs fsyncs, hydration at $rate MiB/s"
	out=$("$wl" --dev "$GL_DEV" --dm "$logw" --size "$size" --fsyncs "$fsyncs" \
		--records /srv/s9-records.txt --seed "$RANDOM$RANDOM" 2>&1) ||
		gl_fail "s9: powercut-workload failed: $out"
	echo "s9: $out"
	echo "s9: clone after the workload: $(gl_sock_get s9 percent) % hydrated"
	gl_iscsi_logout "$iqn"
	gl_lio_remove c9 clone "$iqn"
	st=$(dmsetup status "$logw") || gl_fail "dmsetup status $logw failed"
	echo "s9: dm-log-writes status: $st"
	s9_log_complete() { [[ $st != *logging_disabled* ]]; }
	gl_check "s9: dm-log-writes logged everything (no logging_disabled)" s9_log_complete
	read -r _ _ _ entries highest _ <<<"$st"
	# removing the log-writes device logs its end mark and the final super
	dmsetup remove lc-s9-dst || gl_fail "s9: dmsetup remove lc-s9-dst failed"
	dmsetup remove lc-s9-meta || gl_fail "s9: dmsetup remove lc-s9-meta failed"
	dmsetup remove "$logw" || gl_fail "s9: dmsetup remove $logw failed"
	losetup -d "$dloop" "$lloop"
	mkdir -p "$d"
	# only the used part of the log (+ the end mark the removal added)
	dd if="$logimg" of="$d/log.img" bs=1M count=$(((highest + 64) * 512 / 1048576 + 1)) \
		status=none || gl_fail "s9: copying the log failed"
	cp "$src" /srv/s9-records.txt "$d/"
	gl_note S9_DEST "0,$dsec"
	gl_note S9_META "$dsec,$msec"
	gl_note S9_ENTRIES "$entries"
	gl_note S9_WORKLOAD "$out"
	gl_check "s9: log of $entries entries ($(((highest + 1) / 2048)) MiB) saved for the host's replay" \
		test -s "$d/log.img"
	rm -f "$src" "$dev" "$logimg" /srv/s9-records.txt
}
