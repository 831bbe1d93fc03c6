# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Scenario 8, the kill/restart soak (issue 8), sourced by guest-scenarios.sh.
#
# Cycles of: the whole LUN read back and compared with what it must hold
# (the source overlaid with every write acknowledged so far); random writes
# through the initiator, each made durable (O_DIRECT + fsync, that is a
# SYNCHRONIZE CACHE); then, with a reader in flight, tcmu-runner killed -9 at
# a random moment and restarted. After each restart the store must hold at
# least what it had committed, and the LUN must come back. At the end
# hydration runs to 100 % and the destination must equal the source overlaid
# with the writes.
#
#   E2E_SOAK_CYCLES   kill/restart cycles (CI: 5)
#   E2E_SOAK_SECONDS  stop starting new cycles after this long (default 600)

# soak_lun_back IQN: waits for the LUN to answer after a restart, logging in
# again if open-iscsi gave the session up.
soak_lun_back() {
	local i
	for ((i = 0; i < 60; i++)); do
		dd if="$GL_DEV" of=/dev/null bs=4k count=1 iflag=direct status=none 2>/dev/null && return 0
		sleep 0.5
	done
	echo "s8: LUN not answering through the old session; logging in again"
	gl_iscsi_logout "$1"
	gl_iscsi_login "$1"
	dd if="$GL_DEV" of=/dev/null bs=4k count=1 iflag=direct status=none ||
		gl_fail "s8: the LUN does not answer after the restart"
}

# soak_write EXPECTED: one random durable write through the LUN, also
# applied to EXPECTED; prints its length.
soak_write() {
	local exp=$1 blocks off len
	blocks=$((SIZE / 4096))
	len=$(((RANDOM % 48 + 1) * 4096))
	off=$(((RANDOM * 32768 + RANDOM) % (blocks - len / 4096) * 4096))
	head -c "$len" /dev/urandom >/srv/s8-w.bin
	dd if=/srv/s8-w.bin of="$GL_DEV" bs="$len" seek="$off" oflag=direct,seek_bytes \
		conv=notrunc,fsync status=none || gl_fail "s8: durable write of $len bytes at $off failed"
	dd if=/srv/s8-w.bin of="$exp" bs="$len" seek="$off" oflag=seek_bytes conv=notrunc status=none
	echo "$len"
}

scenario8() {
	local iqn cfg dst=/srv/d8.img meta=/srv/m8.meta exp=/srv/s8-expected.img
	local cycles=${E2E_SOAK_CYCLES:-5} tmax=${E2E_SOAK_SECONDS:-600}
	local c=0 t0 total committed first reader w bytes_w=0 bytes_v=0 sha_exp
	iqn=$(iqn_of s8)
	truncate -s "$SIZE" "$dst"
	cp "$SRC" "$exp"
	# 1 MiB/s: hydration of the 40 MiB source spans the cycles
	cfg="src=$SRC;dst=$dst;meta=$meta;name=s8;rate=1"
	gl_step "s8: kill/restart soak, $cycles cycles, cfgstring=$cfg"
	gl_lio_configfs c8 clone "$SIZE" "$cfg" "$iqn"
	wait_until "s8 status socket" 20 sock_up s8
	gl_iscsi_login "$iqn"
	total=$(gl_sock_get s8 regions_total)
	t0=$(date +%s)
	while ((c < cycles && $(date +%s) - t0 < tmax)); do
		c=$((c + 1))
		sha_exp=$(gl_sha "$exp")
		read_lun "$GL_DEV" /srv/s8-lun.img
		[[ $(gl_sha /srv/s8-lun.img) == "$sha_exp" ]] ||
			gl_fail "s8 cycle $c: the LUN differs from the source overlaid with the acknowledged writes"
		bytes_v=$((bytes_v + SIZE))
		rm -f /srv/s8-lun.img
		for w in 1 2 3 4 5 6; do
			bytes_w=$((bytes_w + $(soak_write "$exp")))
		done
		dd if="$GL_DEV" of=/dev/null bs=64k iflag=direct status=none 2>/dev/null &
		reader=$!
		sleep "0.$((RANDOM % 9 + 1))"
		gl_tcmu_kill9
		committed=$(gl_meta_hydrated "$meta")
		gl_tcmu_start "$E2E_HANDLER_DIR" dbus
		wait_until "s8 status socket after restart $c" 30 sock_up s8
		first=$(gl_sock_get s8 regions_hydrated)
		[[ $first -ge $committed ]] ||
			gl_fail "s8 cycle $c: reopened at $first regions, below the $committed committed"
		soak_lun_back "$iqn"
		wait "$reader" 2>/dev/null || true
		echo "s8: cycle $c: killed at $committed/$total committed, reopened at $first; LUN verified, 6 durable writes"
	done
	gl_check "s8: $c kill -9/restart cycles survived, each time the LUN held every acknowledged write" \
		[ "$c" -ge 1 ]
	gl_check "s8: socket 'throttle 0' answers ok" [ "$(gl_sock s8 'throttle 0')" = ok ]
	wait_until "s8 hydration to complete" 120 hydration_done s8
	read_lun "$GL_DEV" /srv/s8-lun.img
	bytes_v=$((bytes_v + SIZE))
	gl_check "s8: after the last restart the LUN equals the source overlaid with the writes" \
		[ "$(gl_sha /srv/s8-lun.img)" = "$(gl_sha "$exp")" ]
	gl_iscsi_logout "$iqn"
	gl_lio_remove c8 clone "$iqn"
	gl_check "s8: store says $total/$total hydrated after close" [ "$(gl_meta_hydrated "$meta")" = "$total" ]
	gl_check "s8: the destination equals the source overlaid with the writes" \
		[ "$(gl_sha "$dst")" = "$(gl_sha "$exp")" ]
	gl_note S8_CYCLES "$c"
	gl_note S8_BYTES_VERIFIED "$bytes_v"
	gl_note S8_BYTES_WRITTEN "$bytes_w"
	echo "s8: $c cycles, $bytes_w bytes written durably, $bytes_v bytes read back and verified"
	rm -f "$dst" "$meta" "$exp" /srv/s8-*
}
