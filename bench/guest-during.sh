#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs INSIDE the User-Mode-Linux guest (bench/guest-suite.sh calls it): user
# I/O while the clone hydrates (issue 7, part 4), lunclone against the
# kernel's dm-clone, both over the same source and destination devices and
# both used through the same path: open-iscsi -> LIO on loopback -> the
# clone (user:clone in tcmu-runner, or an iblock backstore over dm-clone).
#
# Configurations:
#   yield-on   user:clone, yield=on (hydration backs off to min_rate while
#              the initiator does I/O)
#   yield-off  user:clone, yield=off (hydration at full speed)
#   dmclone    the kernel's dm-clone (no yield: it has none)
# For each, first hydration alone (resume, nobody doing I/O) for the
# reference time; then for every fio job (and repeat): a fresh clone,
# paused, logged in; fio started; once fio's first I/Os reach the disk,
# hydration is resumed (t0) and waited for (t1, state complete or
# hydrated == total); then, on the now hydrated clone, the same job again
# (the idle baseline, measured right after, so that both share the
# machine's load). fio logs every I/O's completion latency with its time
# (log_unix_epoch); "during" is what completed between t0 and t1 (or fio's
# end, if hydration outlasted it), "idle" the second run minus its first
# 0.5 s. Results to $GL_OUT/results.env as
# DUR_<config>_<job>_<repeat>_<measure>; progress ("epoch hydrated total",
# every 100 ms) and latency per 250 ms bin (seconds from t0, mean us, p99 us)
# to $GL_OUT for the plots.
#
# Environment: E2E_BENCH_SRC, E2E_BENCH_DST (loop devices; made here over
# /srv files when unset, of E2E_BENCH_MIB MiB), E2E_BENCH_REGION_KIB,
# E2E_BENCH_BATCH, E2E_DUR_SECONDS (fio runtime), E2E_DUR_JOBS
# ("rw:bs:qd ..."), E2E_DUR_CONFIGS, E2E_DUR_REPEATS, E2E_DUR_REPEAT_CONFIGS
# (the configurations that run the repeats after the first; default all),
# E2E_HANDLER_DIR, E2E_LUNCLONE, E2E_BENCH_TOOLS (build/bench: devcmp).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/e2e/guest-lib.sh
. "$HERE/../tests/e2e/guest-lib.sh"
# shellcheck source=bench/guest-watch.sh
. "$HERE/guest-watch.sh"
trap 'rc=$?; gl_teardown; dmsetup remove lc-dur >/dev/null 2>&1 || true; exit $rc' EXIT
export DM_DISABLE_UDEV=1

MIB=${E2E_BENCH_MIB:-256}
REGION_KIB=${E2E_BENCH_REGION_KIB:-64}
BATCH=${E2E_BENCH_BATCH:-16}
SECS=${E2E_DUR_SECONDS:-5}
JOBS=${E2E_DUR_JOBS:-randread:4k:1}
CONFIGS=${E2E_DUR_CONFIGS:-yield-on yield-off dmclone}
REPEATS=${E2E_DUR_REPEATS:-1}
REPEAT_CONFIGS=${E2E_DUR_REPEAT_CONFIGS:-$CONFIGS}
: "${E2E_HANDLER_DIR:?}" "${E2E_LUNCLONE:?}" "${E2E_BENCH_TOOLS:?}"
gl_init
gl_require dmsetup losetup fio python3 blkdiscard
modprobe -a dm_mod dm_clone loop target_core_iblock || gl_fail "modprobe dm_clone loop target_core_iblock failed"
IQN=iqn.2025-01.org.lunclone.bench:during
SOCK=/run/lunclone/dur.sock

if [[ -n ${E2E_BENCH_SRC:-} ]]; then
	S=$E2E_BENCH_SRC D=${E2E_BENCH_DST:?E2E_BENCH_SRC without E2E_BENCH_DST}
else
	head -c $((MIB << 20)) /dev/urandom >/srv/dur-src.img
	truncate -s $((MIB << 20)) /srv/dur-dst.img
	S=$(losetup -f --show -r /srv/dur-src.img)
	D=$(losetup -f --show /srv/dur-dst.img)
fi
SIZE=$(blockdev --getsize64 "$S")
SECTORS=$((SIZE / 512))
gl_step "during: $S -> $D, $((SIZE >> 20)) MiB; jobs: $JOBS; configs: $CONFIGS; $REPEATS repeat(s) of $SECS s"

# export_so SO: the backstore SO as LUN 0 of $IQN, logged in; sets GL_DEV.
export_so() {
	local t=$GL_CFS/iscsi/$IQN/tpgt_1
	mkdir -p "$t/lun/lun_0" "$t/np/$GL_PORTAL" || gl_fail "configfs: creating $IQN failed"
	ln -s "$1" "$t/lun/lun_0/$(basename "$1")"
	echo 0 >"$t/attrib/authentication"
	echo 1 >"$t/attrib/generate_node_acls"
	echo 1 >"$t/attrib/cache_dynamic_acls"
	echo 0 >"$t/attrib/demo_mode_write_protect"
	echo 1 >"$t/enable"
	gl_iscsi_login "$IQN" >/dev/null
}

# setup CONFIG: a fresh clone of S on D, hydration not started, exported.
setup() {
	blkdiscard "$D" 2>/dev/null || dd if=/dev/zero of="$D" bs=1M oflag=direct status=none
	sync
	echo 3 >/proc/sys/vm/drop_caches
	rm -f /srv/dur.meta
	case $1 in
	yield-on | yield-off)
		local so=$GL_CFS/core/user_9/dur
		mkdir -p "$so"
		echo -n "dev_config=clone/src=$S;dst=$D;meta=/srv/dur.meta;name=dur;direct=on;region_size=${REGION_KIB}K;batch=$BATCH;paused=on;yield=${1#yield-}" >"$so/control" ||
			gl_fail "configfs refused the cfgstring"
		echo -n "dev_size=$SIZE" >"$so/control"
		echo -n 1 >"$so/enable" || gl_fail "enabling the user:clone backstore failed"
		while [[ ! -S $SOCK ]]; do sleep 0.05; done
		export_so "$so"
		;;
	dmclone)
		truncate -s 64M /srv/dur.meta
		DMC_META=$(losetup -f --show /srv/dur.meta)
		dmsetup create lc-dur --table "0 $SECTORS clone $DMC_META $D $S $((REGION_KIB * 2)) 2 no_hydration no_discard_passdown 2 hydration_batch_size $BATCH" ||
			gl_fail "dmsetup create clone failed"
		local so=$GL_CFS/core/iblock_9/dmc
		mkdir -p "$so"
		echo -n "udev_path=/dev/mapper/lc-dur" >"$so/control" || gl_fail "iblock control rejected"
		echo -n 1 >"$so/enable" || gl_fail "enabling the iblock backstore over dm-clone failed"
		export_so "$so"
		;;
	esac
}

teardown() {
	gl_iscsi_logout "$IQN"
	local t=$GL_CFS/iscsi/$IQN/tpgt_1
	echo 0 >"$t/enable"
	find "$t/lun" -mindepth 2 -maxdepth 2 -type l -delete
	rmdir "$t"/lun/lun_0 "$t"/np/* "$t" "$GL_CFS/iscsi/$IQN" || gl_fail "removing $IQN failed"
	case $1 in
	yield-on | yield-off) rmdir "$GL_CFS/core/user_9/dur" || gl_fail "removing the user:clone backstore failed" ;;
	dmclone)
		rmdir "$GL_CFS/core/iblock_9/dmc" || gl_fail "removing the iblock backstore failed"
		dmsetup remove lc-dur >/dev/null || gl_fail "dmsetup remove failed"
		losetup -d "$DMC_META"
		;;
	esac
	rm -f /srv/dur.meta
}

# hydrate CONFIG PROGRESS: starts bench/clone-watch.py on the clone
# (guest-watch.sh), resumes hydration, and returns once it is complete,
# the progress sampled every 100 ms into PROGRESS. HYD_T0: when
# hydration was resumed; HYD_T1: the sample that saw it complete.
hydrate() {
	case $1 in
	yield-on | yield-off) watch_start lunclone "$SOCK" 100 "$2" ;;
	dmclone) watch_start dm lc-dur 100 "$2" ;;
	esac
	HYD_T0=$EPOCHREALTIME
	case $1 in
	yield-on | yield-off)
		"$E2E_LUNCLONE" ctl --socket "$SOCK" resume >/dev/null || gl_fail "resume failed" ;;
	dmclone)
		dmsetup message lc-dur 0 enable_hydration || gl_fail "dm-clone enable_hydration failed" ;;
	esac
	watch_end "$2"
	HYD_T1=$WATCH_T1
}

# io_count: requests completed on $GL_DEV so far (reads + writes).
io_count() {
	local f
	read -ra f <"/sys/block/${GL_DEV#/dev/}/stat"
	echo $((f[0] + f[4]))
}

# fio_start NAME RW BS QD LOG: fio in the background (FIO_PID), every I/O's
# completion latency logged with its wall-clock time.
fio_start() {
	fio --name="$1" --filename="$GL_DEV" --rw="$2" --bs="$3" --iodepth="$4" \
		--ioengine=libaio --direct=1 --time_based --runtime="$SECS" --randrepeat=0 \
		--write_lat_log="$5" --log_avg_msec=0 --log_unix_epoch=1 \
		--output-format=json --output="$5.json" >/dev/null &
	FIO_PID=$!
}

# stats LOG FROM TO BINS_FILE: "n p50_us p99_us iops" of the I/Os completed
# in [FROM, TO] (epoch seconds; TO empty = fio's end, FROM empty = the first
# completion + 0.5 s); the whole log in 250 ms bins from FROM to BINS_FILE.
stats() {
	python3 - "$@" <<'PY'
import math, sys
log, lo, hi, bins = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
pts = []
for line in open(log):
    f = line.split(",")
    pts.append((int(f[0]) / 1000.0, int(f[1]) / 1000.0))  # epoch s, us
if not pts:
    sys.exit("no I/O in " + log)
pts.sort()
lo = float(lo) if lo else pts[0][0] + 0.5
hi = float(hi) if hi else pts[-1][0]
hi = min(hi, pts[-1][0])
win = sorted(v for t, v in pts if lo <= t <= hi)
n = len(win)
pct = lambda p: win[max(0, math.ceil(p * n) - 1)] if n else 0
span = max(hi - lo, 1e-3)
print(f"{n} {pct(0.50):.0f} {pct(0.99):.0f} {n / span:.0f}")
with open(bins, "w") as out:
    by = {}
    for t, v in pts:
        by.setdefault(math.floor((t - lo) / 0.25), []).append(v)
    for b in sorted(by):
        vs = sorted(by[b])
        out.write(f"{b * 0.25 + 0.125:.3f} {sum(vs) / len(vs):.0f} {vs[max(0, math.ceil(0.99 * len(vs)) - 1)]:.0f}\n")
PY
}

# measure CONFIG JOB REPEAT: one "during" run and its idle baseline.
measure() {
	local c=$1 spec=$2 rep=$3 rw bs qd name key base t0 t1 i res n p50 p99 iops
	IFS=: read -r rw bs qd <<<"$spec"
	name=${rw}_${bs}_qd${qd}
	key=DUR_${c//-/_}_${name}_$rep
	setup "$c"
	base=$(io_count)
	fio_start "$name" "$rw" "$bs" "$qd" "/srv/lat-during"
	# fio takes a while to start in UML: hydration begins once its I/O does.
	for i in $(seq 1 600); do
		(($(io_count) > base + 8)) && break
		sleep 0.05
	done
	(($(io_count) > base + 8)) || gl_fail "$c $name: fio did no I/O within 30 s"
	hydrate "$c" "$GL_OUT/progress-$c-$name-$rep.txt"
	t0=$HYD_T0 t1=$HYD_T1
	wait "$FIO_PID" || gl_fail "fio $name during hydration ($c) failed"
	res=$(stats /srv/lat-during_clat.1.log "$t0" "$t1" "$GL_OUT/lat-$c-$name-$rep-during.txt")
	read -r n p50 p99 iops <<<"$res"
	((n >= 20)) || gl_fail "$c $name: only $n I/Os completed during hydration (fio ${SECS} s, hydration $(echo "$t1 - $t0" | bc) s)"
	gl_note "${key}_N" "$n"
	gl_note "${key}_P50" "$p50"
	gl_note "${key}_P99" "$p99"
	gl_note "${key}_IOPS" "$iops"
	gl_note "${key}_T0" "$t0"
	gl_note "${key}_HYD" "$(echo "$t1 - $t0" | bc)"
	echo "bench: during $c $name #$rep: $n I/Os, p50 $p50 us, p99 $p99 us, $iops IOPS; hydration $(echo "$t1 - $t0" | bc) s"
	fio_start "$name" "$rw" "$bs" "$qd" "/srv/lat-idle"
	wait "$FIO_PID" || gl_fail "fio $name on the hydrated clone ($c) failed"
	res=$(stats /srv/lat-idle_clat.1.log "" "" "$GL_OUT/lat-$c-$name-$rep-idle.txt")
	read -r n p50 p99 iops <<<"$res"
	gl_note "${key}_IDLE_P50" "$p50"
	gl_note "${key}_IDLE_P99" "$p99"
	gl_note "${key}_IDLE_IOPS" "$iops"
	echo "bench: idle   $c $name #$rep: $n I/Os, p50 $p50 us, p99 $p99 us, $iops IOPS"
	rm -f /srv/lat-*
	teardown "$c"
}

gl_dbus_start
gl_tcmu_start "$E2E_HANDLER_DIR"
for c in $CONFIGS; do
	setup "$c"
	hydrate "$c" "$GL_OUT/progress-$c-alone.txt"
	secs=$(echo "$HYD_T1 - $HYD_T0" | bc)
	gl_note "DUR_${c//-/_}_ALONE_HYD" "$secs"
	gl_note "DUR_${c//-/_}_ALONE_T0" "$HYD_T0"
	echo "bench: $c alone: hydration $secs s"
	teardown "$c"
	# No user I/O wrote to this clone: it must equal the source.
	"$E2E_BENCH_TOOLS/devcmp" "$S" "$D" || gl_fail "$c: the destination differs from the source after hydration"
done
n=0
for ((rep = 1; rep <= REPEATS; rep++)); do
	for spec in $JOBS; do
		# The order of the configurations rotates from job to job.
		# shellcheck disable=SC2086 # a list of words
		set -- $CONFIGS
		for ((i = 0; i < $#; i++)); do
			k=$(((i + n) % $# + 1))
			((rep == 1)) || [[ " $REPEAT_CONFIGS " == *" ${!k} "* ]] || continue
			measure "${!k}" "$spec" "$rep"
		done
		n=$((n + 1))
	done
done
gl_note DUR_SIZE "$SIZE"
gl_note DUR_SECONDS "$SECS"
gl_note DUR_JOBS "$JOBS"
gl_note DUR_CONFIGS "$CONFIGS"
gl_note DUR_REPEATS "$REPEATS"
gl_step "bench: during done"
