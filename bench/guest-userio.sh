#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs INSIDE the User-Mode-Linux guest that bench/uml-userio boots: user I/O
# on a hydrated clone against the ceilings (issue 7, part 3).
#
# Three LUNs of the same size on the same tmpfs, served by LIO over iSCSI on
# loopback and used through the kernel initiator (open-iscsi, O_DIRECT):
#   clone   user:clone (handler_clone.so), hydrated to 100 % before measuring
#   file    user:file (tcmu-runner's file_example.c): the user-space ceiling
#   fileio  LIO's kernel fileio backstore: the kernel ceiling
# Each fio job (4 KiB random read and write, 128 KiB sequential read and
# write, at queue depths 1 and 32) runs on the three in an order that
# rotates from job to job.  IOPS, MB/s and p50/p99 completion latency go to
# /e2eout/results.env as UIO_<config>_<job>_<measure>.
#
# Environment: E2E_BENCH_MIB, E2E_BENCH_SECONDS (per job and LUN),
# E2E_HANDLER_DIR (handler_clone.so and handler_file.so), E2E_LUNCLONE.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/e2e/guest-lib.sh
. "$HERE/../tests/e2e/guest-lib.sh"
trap 'rc=$?; gl_teardown; exit $rc' EXIT

MIB=${E2E_BENCH_MIB:-256}
SECS=${E2E_BENCH_SECONDS:-10}
SIZE=$((MIB << 20))
: "${E2E_HANDLER_DIR:?}" "${E2E_LUNCLONE:?}"
gl_init
gl_require fio python3
IQN=iqn.2025-01.org.lunclone.bench

head -c "$SIZE" /dev/urandom >/srv/src.img
cp /srv/src.img /srv/file.img
cp /srv/src.img /srv/fileio.img
truncate -s "$SIZE" /srv/clone.dst
gl_tcmu_start "$E2E_HANDLER_DIR"

# clone: hydrated first, so that only the clone's data path is measured.
GL_HBA_INDEX=7 gl_lio_configfs uclone clone "$SIZE" \
	"src=/srv/src.img;dst=/srv/clone.dst;meta=/srv/clone.meta;name=uclone" "$IQN:clone"
while [[ ! -S /run/lunclone/uclone.sock ]]; do sleep 0.05; done
"$E2E_LUNCLONE" ctl --socket /run/lunclone/uclone.sock watch --interval 200 >/dev/null ||
	gl_fail "the clone did not hydrate"
GL_HBA_INDEX=8 gl_lio_configfs ufile file "$SIZE" /srv/file.img "$IQN:file"
# fileio: LIO's own backstore, then the same target layout.
so=$GL_CFS/core/fileio_9/kfileio
mkdir -p "$so"
echo -n "fd_dev_name=/srv/fileio.img,fd_dev_size=$SIZE" >"$so/control" || gl_fail "fileio control rejected"
echo -n 1 >"$so/enable" || gl_fail "enabling the fileio backstore failed"
t=$GL_CFS/iscsi/$IQN:fileio/tpgt_1
mkdir -p "$t/lun/lun_0" "$t/np/$GL_PORTAL" || gl_fail "configfs: creating the fileio target failed"
ln -s "$so" "$t/lun/lun_0/kfileio"
echo 1 >"$t/attrib/generate_node_acls"
echo 1 >"$t/attrib/cache_dynamic_acls"
echo 0 >"$t/attrib/demo_mode_write_protect"
echo 0 >"$t/attrib/authentication"
echo 1 >"$t/enable"

declare -A DEV
for c in clone file fileio; do
	gl_iscsi_login "$IQN:$c" >/dev/null
	DEV[$c]=$GL_DEV
	[[ $(blockdev --getsize64 "$GL_DEV") == "$SIZE" ]] || gl_fail "$c: LUN size is not $SIZE"
done

# job NAME RW BS QD CONFIG: one fio run; notes IOPS, MB/s, p50/p99 (us).
job() {
	local name=$1 rw=$2 bs=$3 qd=$4 c=$5 out res
	out=/srv/fio-$c-$name.json
	fio --name="$name" --filename="${DEV[$c]}" --rw="$rw" --bs="$bs" --iodepth="$qd" \
		--ioengine=libaio --direct=1 --time_based --runtime="$SECS" --ramp_time=1 \
		--randrepeat=0 --output-format=json --output="$out" >/dev/null ||
		gl_fail "fio $name on $c failed"
	res=$(python3 - "$out" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
d = j["read"] if j["read"]["io_bytes"] > 0 else j["write"]
p = d["clat_ns"]["percentile"]
print(f"{d['iops']:.0f} {d['bw_bytes'] / 1e6:.1f} {p['50.000000'] / 1000:.0f} {p['99.000000'] / 1000:.0f}")
PY
)
	read -r iops mbs p50 p99 <<<"$res"
	echo "bench: $name $c: $iops IOPS, $mbs MB/s, p50 $p50 us, p99 $p99 us"
	gl_note "UIO_${c}_${name}_IOPS" "$iops"
	gl_note "UIO_${c}_${name}_MBS" "$mbs"
	gl_note "UIO_${c}_${name}_P50" "$p50"
	gl_note "UIO_${c}_${name}_P99" "$p99"
}

# One untimed second of 4 KiB random reads on each LUN first: the first fio
# run after the logins ran slower (randread 4k qd1 always came first, on
# the clone: 0.93 of user:file, against 0.95-1.07 for the rotated jobs).
for c in clone file fileio; do
	fio --name=warmup --filename="${DEV[$c]}" --rw=randread --bs=4k --iodepth=1 \
		--ioengine=libaio --direct=1 --time_based --runtime=1 --randrepeat=0 \
		--output=/dev/null >/dev/null || gl_fail "fio warm-up on $c failed"
done

orders=("clone file fileio" "file fileio clone" "fileio clone file")
n=0
for spec in randread:4k randwrite:4k read:128k write:128k; do
	rw=${spec%%:*} bs=${spec#*:}
	for qd in 1 32; do
		name=${rw}_${bs}_qd${qd}
		for c in ${orders[n % 3]}; do
			job "$name" "$rw" "$bs" "$qd" "$c"
		done
		n=$((n + 1))
	done
done
# Leave LIO empty for whatever runs next in this guest (bench/guest-suite.sh).
for c in clone file fileio; do
	gl_iscsi_logout "$IQN:$c"
done
gl_lio_remove uclone clone "$IQN:clone"
gl_lio_remove ufile file "$IQN:file"
gl_lio_remove kfileio fileio "$IQN:fileio"
rmdir "$so" || gl_fail "removing the fileio backstore failed"
rm -f /srv/src.img /srv/file.img /srv/fileio.img /srv/clone.dst /srv/clone.meta /srv/fio-*.json
gl_note UIO_MIB "$MIB"
gl_note UIO_SECONDS "$SECS"
gl_step "bench: done"
