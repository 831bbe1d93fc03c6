# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Scenario 10 (issue 5): a migration off an "old array". LIO exports a
# fileio LUN (the array), read-only to initiators; a user:clone LUN whose
# source is that LUN's iscsi:// URL (reached with libiscsi from inside
# tcmu-runner) is served to the kernel initiator, which runs fio verify while
# the clone hydrates. Before that, the array goes away mid-hydration (its
# TPG disabled): hydration waits for it (state=waiting-for-source, nothing
# quarantined, nothing marked), user reads of regions not yet copied fail
# with MEDIUM ERROR (never zeros) while copied ones are served, and once the
# TPG is enabled again hydration resumes by itself. Sourced by
# guest-scenarios.sh (after guest-faults.sh: sense_of).

scenario10() {
	local iqns iqnc so t url img=/srv/s10-src.img dst=/srv/d10.img meta=/srv/m10.meta sha total
	local tmo
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
	# may carry CHAP secrets that do not belong in configfs. timeout=: how
	# long a read waits for the array before the outage below counts as one
	# (default 30 s; 10 s leaves a loaded guest's stalls far behind).
	tmo=${E2E_S10_TIMEOUT:-10}
	cat >/srv/s10.cfg <<EOF
# the old array, through libiscsi
src=$url?timeout=$tmo
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
	s10_outage "$t" "$url" "$tmo"
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

# s10_outage TPG URL TIMEOUT: the array (LIO target portal group TPG, at URL,
# read with timeout=TIMEOUT) goes away mid-hydration and comes back.
s10_outage() {
	local t=$1 url=$2 tmo=$3 h0 h1 h2 st q err bs lba_u lba_h out
	wait_until "s10: hydration to copy its first regions" 60 \
		eval '[ "$(gl_sock_get s10 regions_hydrated)" -ge 32 ]'
	h0=$(gl_sock_get s10 regions_hydrated)
	gl_step "s10: the array goes away mid-hydration ($h0 regions copied): its TPG disabled"
	echo 0 >"$t/enable" || gl_fail "s10: cannot disable the array's TPG"
	gl_check "s10: the array refuses logins now" \
		bash -c "! iscsi-inq '$url' >/dev/null 2>&1"
	# A read in flight reconnects with backoff until the URL's timeout;
	# past it, hydration waits for the source.
	wait_until "s10: state=waiting-for-source" $((tmo * 6 + 30)) \
		eval '[ "$(gl_sock_get s10 state)" = waiting-for-source ]'
	gl_sock s10 status | sed 's/^/s10 status: /'
	q=$(gl_sock_get s10 quarantined)
	err=$(gl_sock_get s10 last_error)
	gl_check "s10: nothing quarantined while the array is away (quarantined=$q)" [ "$q" = 0 ]
	gl_check "s10: last_error says why: $err (-110 ETIMEDOUT)" [ "$err" = -110 ]
	gl_check "s10: tcmu-runner's log says the source is unreachable and hydration waits" \
		grep -q "source '.*': unreachable, hydration waits for it and retries" "$GL_LOG/tcmu-runner.log"
	h1=$(gl_sock_get s10 regions_hydrated)
	bs=$(blockdev --getss "$GL_DEV")
	# Region 600 (37.5 MiB in) is far past the cursor: not copied yet.
	lba_u=$((600 * 65536 / bs))
	st=$(sense_of "$GL_DEV" "$lba_u")
	gl_check "s10: a read of a region not yet copied fails: MEDIUM ERROR, not zeros ($st)" \
		[ "$st" = "Medium Error" ]
	rc=0
	dd if="$GL_DEV" of=/srv/s10-r600.bin bs=64k skip=600 count=1 iflag=direct status=none 2>/dev/null || rc=$?
	dd if="$SRC" of=/srv/s10-s600.bin bs=64k skip=600 count=1 status=none
	if [[ $rc -eq 0 ]]; then
		gl_check "s10: ... and through the block layer: served, then only the source's bytes" \
			cmp -s /srv/s10-r600.bin /srv/s10-s600.bin
	else
		gl_check "s10: ... and through the block layer: an I/O error (dd exit $rc)" [ "$rc" -ne 0 ]
	fi
	# A region copied before the outage (region 1) is served from the
	# destination throughout.
	lba_h=$((65536 / bs))
	gl_check "s10: a copied region still reads ($(sense_of "$GL_DEV" "$lba_h"))" \
		[ "$(sense_of "$GL_DEV" "$lba_h")" = good ]
	dd if="$GL_DEV" of=/srv/s10-r1.bin bs=64k skip=1 count=1 iflag=direct status=none ||
		gl_fail "s10: reading copied region 1 failed while the array was away"
	dd if="$SRC" of=/srv/s10-s1.bin bs=64k skip=1 count=1 status=none
	gl_check "s10: ... with the source's bytes" cmp -s /srv/s10-r1.bin /srv/s10-s1.bin
	sleep 2
	h2=$(gl_sock_get s10 regions_hydrated)
	gl_check "s10: nothing newly marked while the array is away ($h1 -> $h2)" [ "$h1" = "$h2" ]
	gl_check "s10: still waiting-for-source, still nothing quarantined" \
		[ "$(gl_sock_get s10 state)/$(gl_sock_get s10 quarantined)" = waiting-for-source/0 ]

	gl_step "s10: the array comes back (its TPG enabled)"
	echo 1 >"$t/enable" || gl_fail "s10: cannot enable the array's TPG again"
	# Probes back off up to every 5 s.
	wait_until "s10: hydration to resume by itself" 60 \
		eval '[ "$(gl_sock_get s10 state)" = hydrating ] && [ "$(gl_sock_get s10 regions_hydrated)" -gt '"$h2"' ]'
	gl_sock s10 status | sed 's/^/s10 status: /'
	gl_check "s10: tcmu-runner's log says the source is reachable again" \
		grep -q "source '.*': reachable again, hydration resumed" "$GL_LOG/tcmu-runner.log"
	gl_check "s10: the region not copied reads again, as the source" \
		bash -c "dd if=$GL_DEV bs=64k skip=600 count=1 iflag=direct status=none | cmp -s - /srv/s10-s600.bin"
	gl_check "s10: nothing was quarantined ($(gl_sock_get s10 quarantined))" \
		[ "$(gl_sock_get s10 quarantined)" = 0 ]
	rm -f /srv/s10-r600.bin /srv/s10-s600.bin /srv/s10-r1.bin /srv/s10-s1.bin
}
