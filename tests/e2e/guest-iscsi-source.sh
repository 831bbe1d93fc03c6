# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Scenario 10 (issue 5): a migration off an "old array". LIO exports a
# fileio LUN (the array), read-only to initiators; a user:clone LUN whose
# source is that LUN's iscsi:// URL (reached with libiscsi from inside
# tcmu-runner) is served to the kernel initiator, which runs fio verify while
# the clone hydrates. Sourced by guest-scenarios.sh.

scenario10() {
	local iqns iqnc so t url img=/srv/s10-src.img dst=/srv/d10.img meta=/srv/m10.meta sha total
	iqns=$(iqn_of s10-array)
	iqnc=$(iqn_of s10-clone)
	cp "$SRC" "$img"
	gl_step "s10: the old array: LIO fileio LUN $iqns, write-protected for initiators"
	so=$GL_CFS/core/fileio_3/s10array
	mkdir -p "$so" || gl_fail "mkdir $so"
	echo -n "fd_dev_name=$img,fd_dev_size=$SIZE" >"$so/control" || gl_fail "fileio control rejected"
	echo -n 1 >"$so/enable" || gl_fail "enabling the fileio backstore failed"
	t=$GL_CFS/iscsi/$iqns/tpgt_1
	mkdir -p "$t/lun/lun_0" "$t/np/$GL_PORTAL" || gl_fail "creating $iqns failed"
	ln -s "$so" "$t/lun/lun_0/s10array"
	echo 0 >"$t/attrib/authentication"
	echo 1 >"$t/attrib/generate_node_acls"
	echo 1 >"$t/attrib/cache_dynamic_acls"
	# The array's LUN is read-only to every initiator: lunclone never writes
	# its source, and this makes sure of it.
	echo 1 >"$t/attrib/demo_mode_write_protect"
	echo 1 >"$t/enable"
	url="iscsi://127.0.0.1:${GL_PORTAL#*:}/$iqns/0"
	gl_libiscsi_check "$url" "$SIZE"

	# The cfgstring names a file: targetcli refuses ':' inline, and a URL
	# may carry CHAP secrets that do not belong in configfs.
	cat >/srv/s10.cfg <<EOF
# the old array, through libiscsi
src=$url
dst=$dst
meta=$meta
name=s10
rate=$RATE
paused=on
EOF
	truncate -s "$SIZE" "$dst"
	gl_step "s10: user:clone of $url, cfgstring=@/srv/s10.cfg"
	gl_lio_configfs c10 clone "$SIZE" "@/srv/s10.cfg" "$iqnc"
	wait_until "s10 status socket" 30 sock_up s10
	total=$(gl_sock_get s10 regions_total)
	gl_check "s10: the store records the source LUN's identity (VPD 0x83)" \
		bash -c "! '$E2E_LUNCLONE' status --meta '$meta' | grep -qE '^source id: +none'"
	gl_iscsi_login "$iqnc"
	fio_jobfile "$GL_DEV" /srv/s10-iolog "$RANDOM$RANDOM" >/srv/s10.fio
	gl_check "s10: socket 'resume' answers ok" [ "$(gl_sock s10 resume)" = ok ]
	gl_step "s10: fio randwrite+verify on the clone while it hydrates from the array"
	fio --eta=never --output=/srv/s10-fio.txt /srv/s10.fio || { cat /srv/s10-fio.txt; gl_fail "s10: fio reported an error or a verify failure"; }
	gl_check "s10: fio random writes + crc32c verify passed (all 4 jobs err=0)" \
		[ "$(grep -c 'err= 0' /srv/s10-fio.txt)" = 4 ]
	gl_check "s10: socket 'throttle 0' answers ok" [ "$(gl_sock s10 'throttle 0')" = ok ]
	wait_until "s10 hydration to complete" 120 hydration_done s10
	read_lun "$GL_DEV" /srv/s10-lun.img
	gl_iscsi_logout "$iqnc"
	gl_lio_remove c10 clone "$iqnc"
	gl_lio_remove s10array fileio "$iqns"
	rmdir "$so" || gl_fail "cannot remove the fileio backstore"
	gl_check "s10: store says $total/$total hydrated after close" [ "$(gl_meta_hydrated "$meta")" = "$total" ]
	gl_check "s10: the array's LUN was never written (its image still equals the source)" \
		[ "$(gl_sha "$img")" = "$SRC_SHA" ]
	sha=$(gl_sha /srv/s10-lun.img)
	gl_check "s10: destination equals what the initiator reads" [ "$(gl_sha "$dst")" = "$sha" ]
	save_artefacts 10 "$dst" "$meta" /srv/s10-lun.img /srv/s10-iolog.* /srv/s10-fio.txt
	rm -f "$img" "$dst" "$meta" /srv/s10*
}
