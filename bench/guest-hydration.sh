#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs INSIDE the User-Mode-Linux guest that bench/uml-hydration boots: idle
# hydration of the same source onto the same destination device, one after
# the other, in one kernel:
#   ceiling   the slower of fio reading the source and fio writing the
#             destination, sequential, 1 MiB, 16 in flight, O_DIRECT; and
#             the same two jobs at once (one fio run), until both are done
#   dd        dd copy of the source device onto the destination, O_DIRECT
#   aiocopy   bench/aiocopy.c: a one-thread native-AIO copy, 4 batches in
#             flight, O_DIRECT, by its own clock (no start-up)
#   dm-clone  the kernel's dm-clone (same region size, batch), start to
#             hydrated == total in its status (bench/clone-watch.py)
#   lunclone  handler_clone.so in tcmu-runner (user:clone backstore, direct=on),
#             backstore enabled to state=complete on its status socket
# All of them read and write loop devices over files on the guest's tmpfs.
# Results go to $GL_OUT/results.env (default /e2eout) as KEY=VALUE
# (seconds); the host makes the table. Every copy is checked against the
# source (bench/devcmp.c). Both clones' progress, sampled every 20 ms, goes to
# $GL_OUT/progress-<tool>-<run>.txt as "epoch-seconds hydrated total" lines
# (regions), for the plot of bench/uml-suite.
#
# Environment (from the host): E2E_BENCH_MIB, E2E_BENCH_RUNS,
# E2E_BENCH_REGION_KIB, E2E_BENCH_BATCH, E2E_HANDLER_DIR, E2E_LUNCLONE,
# E2E_BENCH_TOOLS (build/bench: aiocopy, devcmp);
# E2E_BENCH_LC_KEYS: more cfgstring keys for lunclone (e.g. workers=4);
# E2E_BENCH_SRC and E2E_BENCH_DST: loop devices set up by the caller
# (bench/guest-suite.sh, so that every part uses the same devices), else
# this script makes them over files on /srv.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/e2e/guest-lib.sh
. "$HERE/../tests/e2e/guest-lib.sh"
# shellcheck source=bench/guest-watch.sh
. "$HERE/guest-watch.sh"
trap 'rc=$?; gl_teardown; exit $rc' EXIT
export DM_DISABLE_UDEV=1

MIB=${E2E_BENCH_MIB:-256}
RUNS=${E2E_BENCH_RUNS:-3}
REGION_KIB=${E2E_BENCH_REGION_KIB:-64}
BATCH=${E2E_BENCH_BATCH:-16}
: "${E2E_HANDLER_DIR:?}" "${E2E_LUNCLONE:?}" "${E2E_BENCH_TOOLS:?}"
gl_init
gl_require dmsetup losetup fio
modprobe -a dm_mod dm_clone loop || gl_fail "modprobe dm_clone loop failed"

# Both clones are polled for 100 % every POLL_MS by one process each (no
# process per poll): the finish is known to within that, 2.5 % of a 1 GiB
# run.
POLL_MS=20

now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc; }

if [[ -n ${E2E_BENCH_SRC:-} ]]; then
	S=$E2E_BENCH_SRC D=${E2E_BENCH_DST:?E2E_BENCH_SRC without E2E_BENCH_DST}
	[[ $(blockdev --getsize64 "$S") == $((MIB << 20)) ]] || gl_fail "bench: $S is not $MIB MiB"
else
	head -c $((MIB << 20)) /dev/urandom >/srv/src.img
	truncate -s $((MIB << 20)) /srv/dst.img
	S=$(losetup -f --show -r /srv/src.img)
	D=$(losetup -f --show /srv/dst.img)
fi
SECTORS=$(blockdev --getsz "$S")
gl_step "bench: $MIB MiB, regions of $REGION_KIB KiB, batch $BATCH, $RUNS runs; src $S dst $D"

fresh_dst() {
	# A destination that holds nothing of the source, and no dirty pages.
	blkdiscard "$D" 2>/dev/null || dd if=/dev/zero of="$D" bs=1M oflag=direct status=none
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

check_dst() {
	"$E2E_BENCH_TOOLS/devcmp" "$S" "$D" || gl_fail "bench: $1 run $2: destination differs from the source"
}

run_dd() {
	local t
	t=$(now)
	dd if="$S" of="$D" bs=1M iflag=direct oflag=direct status=none || gl_fail "dd copy failed"
	sync
	elapsed "$t"
}

# fio_secs JOB...: seconds until fio has done every job given as
# "name=read|write,filename=DEV" (name = direction), running at once: the
# longest job's time at the bandwidth fio measures, sequentially, 1 MiB
# requests, 16 in flight, O_DIRECT (fio's own figure: its start-up, slow in
# UML, is not the device's).
fio_secs() {
	local args=() j
	for j in "$@"; do
		args+=(--name="${j%%,*}" --rw="${j%%,*}" --filename="${j#*,}")
	done
	fio --bs=1M --iodepth=16 --ioengine=libaio --direct=1 --size=$((MIB << 20)) "${args[@]}" \
		--output-format=json --output=/srv/fio.json >/dev/null || gl_fail "fio $* failed"
	python3 - $((MIB << 20)) <<'PY'
import json, sys
jobs = json.load(open("/srv/fio.json"))["jobs"]
print(f"{max(int(sys.argv[1]) / j[j['jobname']]['bw_bytes'] for j in jobs):.3f}")
PY
}

# The copy ceiling: a copy can be no faster than the slower of reading the
# source and writing the destination, each alone at their best (the
# issue's ceiling); nor than doing both at once (BENCH_ceilboth).
run_ceiling() {
	local r w
	r=$(fio_secs "read,$S")
	w=$(fio_secs "write,$D")
	gl_note "BENCH_ceilread_$RUN" "$r"
	gl_note "BENCH_ceilwrite_$RUN" "$w"
	# Both at once: the sum of the two alone if they could not overlap at
	# all; 0.88 of the slower alone on the AMD host, where fio's queues do.
	gl_note "BENCH_ceilboth_$RUN" "$(fio_secs "read,$S" "write,$D")"
	# The write above is not the source's data: copy it for check_dst.
	dd if="$S" of="$D" bs=1M iflag=direct oflag=direct status=none
	if [[ $(echo "$r > $w" | bc) == 1 ]]; then echo "$r"; else echo "$w"; fi
}

# The leanest copy (bench/aiocopy.c: one thread, native AIO, 4 chunks of one
# batch in flight), by its own clock: what no copy can beat by much here.
run_aiocopy() {
	"$E2E_BENCH_TOOLS/aiocopy" "$S" "$D" 4 $((REGION_KIB * BATCH * 1024)) || gl_fail "aiocopy failed"
}

run_dmclone() {
	local t meta
	truncate -s 64M /srv/dmc.meta
	dd if=/dev/zero of=/srv/dmc.meta bs=4k count=1 conv=notrunc status=none
	meta=$(losetup -f --show /srv/dmc.meta)
	watch_start dm lc-bench "$POLL_MS" "$GL_OUT/progress-dmclone-$RUN.txt"
	t=$EPOCHREALTIME
	gl_note "BENCH_dmclone_t0_$RUN" "$t"
	dmsetup create lc-bench --table "0 $SECTORS clone $meta $D $S $((REGION_KIB * 2)) 1 no_discard_passdown 2 hydration_batch_size $BATCH" ||
		gl_fail "dmsetup create clone failed"
	watch_end "$GL_OUT/progress-dmclone-$RUN.txt"
	echo "$WATCH_T1 - $t" | bc
	dmsetup remove lc-bench >/dev/null
	losetup -d "$meta"
	rm -f /srv/dmc.meta
}

run_lunclone() {
	local t i so=/sys/kernel/config/target/core/user_9/lcbench sock=/run/lunclone/lcbench.sock
	# The previous run's device must be gone (its close unlinks the
	# socket), or its socket would answer "complete" for this run.
	for ((i = 0; i < 500; i++)); do
		[[ -e $sock ]] || break
		sleep 0.01
	done
	[[ ! -e $sock ]] || gl_fail "bench: $sock of an earlier clone is still there"
	rm -f /srv/lc.meta
	mkdir -p "$so"
	echo -n "dev_config=clone/src=$S;dst=$D;meta=/srv/lc.meta;name=lcbench;direct=on;region_size=${REGION_KIB}K;batch=$BATCH${E2E_BENCH_LC_KEYS:+;$E2E_BENCH_LC_KEYS}" >"$so/control"
	echo -n "dev_size=$((MIB << 20))" >"$so/control"
	watch_start lunclone "$sock" "$POLL_MS" "$GL_OUT/progress-lunclone-$RUN.txt"
	t=$EPOCHREALTIME
	gl_note "BENCH_lunclone_t0_$RUN" "$t"
	echo -n 1 >"$so/enable" || gl_fail "enabling the user:clone backstore failed"
	watch_end "$GL_OUT/progress-lunclone-$RUN.txt"
	echo "$WATCH_T1 - $t" | bc
	rmdir "$so"
}

gl_dbus_start
gl_tcmu_start "$E2E_HANDLER_DIR"
# Untimed: the first write of the destination touches the guest's memory
# for the first time (host page faults): fio wrote 598 MiB/s in run 1
# against 1707-1864 in runs 2 and 3, which made whoever wrote first look
# slow. Discarding it afterwards (fresh_dst) frees the pages to the guest,
# not to the host.
dd if=/dev/zero of="$D" bs=1M count="$MIB" oflag=direct status=none || gl_fail "bench: warm-up write of $D failed"
TOOLS=(ceiling dd aiocopy dmclone lunclone)
for ((r = 1; r <= RUNS; r++)); do
	# Rotate the order so that none always runs first.
	order="${TOOLS[*]:(r - 1) % ${#TOOLS[@]}} ${TOOLS[*]:0:(r - 1) % ${#TOOLS[@]}}"
	RUN=$r
	for tool in $order; do
		fresh_dst
		secs=$("run_$tool")
		check_dst "$tool" "$r"
		echo "bench: run $r $tool ${secs}s"
		gl_note "BENCH_${tool}_$r" "$secs"
	done
done
gl_note BENCH_MIB "$MIB"
gl_note BENCH_RUNS "$RUNS"
gl_note BENCH_REGION_KIB "$REGION_KIB"
gl_note BENCH_BATCH "$BATCH"
gl_note BENCH_KERNEL "$(uname -r)"
gl_step "bench: done"
