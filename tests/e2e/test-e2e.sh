#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# End-to-end test of handler_clone.so: real LIO + Debian's tcmu-runner + iSCSI
# initiators, in two User-Mode-Linux guests (the host kernel has no LIO).
#
# usage: test-e2e.sh --handler PATH/handler_clone.so --lunclone PATH/lunclone
#                    [--tcmu-src DIR] [--work DIR] [--scenarios "0 1 2 3 4 5 6 7 8 9 10 11 12 13"]
#                    [--testcu SPEC] [--rate MIB] [--crash-bin DIR]
#                    [--s9-mutant HANDLER]
#
#   --tcmu-src  extracted tcmu-runner 1.5.4 source (handler_file.so is built
#               from its file_example.c for scenario 4); default: fetched with
#               scripts/tcmu-headers.sh into the work dir
#   --work      where images, logs and guest output go (default: a new dir
#               under /tmp; kept on failure, removed on success unless
#               E2E_KEEP=1)
#   --testcu    iscsi-test-cu test spec for scenario 4 (default: SCSI, the
#               whole SCSI family: ~100 s per LUN in UML)
#   --crash-bin scenario 9: the build dir of tests/crash (powercut-workload,
#               log-replay); default: tests/crash next to --lunclone's cli/
#   --s9-mutant handler built with the reversed commit (CMake target
#               handler_clone_mutant_reversed, in tests/crash): scenario 9
#               runs once more on it, in a guest of its own, and its replay
#               must find violations (~2 min more); default: not run
#
# Guest A (CPU 0) runs scenarios 1 2 3 5 6 7 10 12 13, guest B (CPU 1) runs 0 4 8 9 11, side by
# side.  Then the host checks what the guests left: destination images
# against the source overlaid with fio's logged writes, the metadata store at
# 100 % (lunclone status), and the iscsi-test-cu comparison table.  Needs
# root and the packages of tests/e2e/install-host.sh; a missing one fails the
# test with a message, never skips it.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
HANDLER=
LUNCLONE=
TCMU_SRC=
WORK=
SCENARIOS=${E2E_SCENARIOS:-"0 1 2 3 4 5 6 7 8 9 10 11 12 13"}
TESTCU=${E2E_TESTCU:-SCSI}
RATE=${E2E_RATE:-1}
CRASH_BIN=
S9_MUTANT=${E2E_S9_MUTANT:-}

fail() {
	echo "test-e2e: FAIL: $*" >&2
	exit 1
}

while (($#)); do
	case $1 in
	--handler) HANDLER=$2 ;;
	--lunclone) LUNCLONE=$2 ;;
	--tcmu-src) TCMU_SRC=$2 ;;
	--work) WORK=$2 ;;
	--scenarios) SCENARIOS=$2 ;;
	--testcu) TESTCU=$2 ;;
	--rate) RATE=$2 ;;
	--crash-bin) CRASH_BIN=$2 ;;
	--s9-mutant) S9_MUTANT=$2 ;;
	*) fail "unknown argument '$1' (see the usage in $0)" ;;
	esac
	shift 2
done

T0=$(date +%s)
PIDS=()
cleanup() {
	local rc=$? p
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	if [[ -n $WORK && -d $WORK ]]; then
		if [[ $rc -eq 0 && ${E2E_KEEP:-0} != 1 ]]; then
			rm -rf "$WORK"
		else
			echo "test-e2e: artefacts kept in $WORK"
		fi
	fi
	exit "$rc"
}
trap cleanup EXIT

# --- requirements: each missing one fails with what to do ------------------
[[ $(id -u) -eq 0 ]] || fail "must run as root (UML's hostfs, LIO configuration in the guest)"
[[ -n $HANDLER ]] || fail "--handler not given: handler_clone.so was not built"
[[ -f $HANDLER ]] || fail "handler $HANDLER does not exist: build the handler_clone target first"
[[ -n $LUNCLONE && -x $LUNCLONE ]] || fail "--lunclone: '$LUNCLONE' is not an executable lunclone CLI"
missing=()
for c in linux.uml taskset busybox tcmu-runner targetcli iscsiadm iscsid \
	iscsi-inq iscsi-readcapacity16 iscsi-test-cu fio qemu-img dbus-daemon \
	python3 gcc bc sha256sum; do
	command -v "$c" >/dev/null || missing+=("$c")
done
((${#missing[@]} == 0)) ||
	fail "missing on the host: ${missing[*]} (run: bash tests/e2e/install-host.sh)"
KVER=$(linux.uml --version 2>/dev/null || true)
[[ -n $KVER && -d /usr/lib/uml/modules/$KVER/kernel/drivers/target ]] ||
	fail "UML kernel modules for LIO missing (/usr/lib/uml/modules/$KVER/kernel/drivers/target): reinstall user-mode-linux"

# scenario 9: the workload (guest) and the log replayer (host)
if [[ " $SCENARIOS " == *" 9 "* ]]; then
	CRASH_BIN=${CRASH_BIN:-$(dirname "$LUNCLONE")/../tests/crash}
	[[ -x $CRASH_BIN/powercut-workload && -x $CRASH_BIN/log-replay ]] ||
		fail "scenario 9: powercut-workload and log-replay not built in '$CRASH_BIN' (--crash-bin; targets powercut-workload log-replay)"
	CRASH_BIN=$(realpath "$CRASH_BIN")
	[[ -z $S9_MUTANT || -f $S9_MUTANT ]] || fail "--s9-mutant: '$S9_MUTANT' does not exist (build the target handler_clone_mutant_reversed)"
fi

WORK=${WORK:-$(mktemp -d /tmp/lunclone-e2e.XXXXXX)}
mkdir -p "$WORK"
WORK=$(realpath "$WORK")
rm -rf "$WORK/a" "$WORK/b" "$WORK/handlers"
mkdir -p "$WORK/handlers" "$WORK/a" "$WORK/b"
echo "test-e2e: work dir $WORK, scenarios: $SCENARIOS"

# --- handlers: ours and user:file built from tcmu-runner's example ---------
if [[ -z $TCMU_SRC || ! -f $TCMU_SRC/file_example.c ]]; then
	TCMU_SRC=$("$REPO/scripts/tcmu-headers.sh" "$WORK/tcmu-runner-src") ||
		fail "cannot get tcmu-runner's source (scripts/tcmu-headers.sh) for handler_file.so"
fi
[[ -f $TCMU_SRC/file_example.c ]] || fail "$TCMU_SRC/file_example.c missing: not a tcmu-runner source tree"
cp "$HANDLER" "$WORK/handlers/handler_clone.so"
# handler_file.so: Debian does not ship it; no -ltcmu, tcmu-runner provides
# the symbols at dlopen() time.  Never committed: it lives in the work dir.
gcc -std=gnu99 -O2 -fPIC -shared -I"$TCMU_SRC" -I"$TCMU_SRC/ccan" \
	-o "$WORK/handlers/handler_file.so" "$TCMU_SRC/file_example.c" ||
	fail "building handler_file.so from $TCMU_SRC/file_example.c failed"

# --- source image: random, size a multiple of 512 but not of the 64 KiB region
SIZE=${E2E_SIZE:-$((40 * 1048576 + 12800))}
head -c "$SIZE" /dev/urandom >"$WORK/src.img"
SRC_SHA=$(sha256sum <"$WORK/src.img")
SRC_SHA=${SRC_SHA%% *}
echo "test-e2e: source $SIZE bytes ($((SIZE % 65536)) past the last full 64 KiB region), sha256 $SRC_SHA"

# --- the guests ---------------------------------------------------------------
ga=() gb=()
for s in $SCENARIOS; do
	case $s in
	1 | 2 | 3 | 5 | 6 | 7 | 10 | 12 | 13) ga+=("$s") ;;
	0 | 4 | 8) gb+=("$s") ;;
	9) gb+=("$s") ;;
	11) gb+=("$s") ;;
	*) fail "unknown scenario '$s' (0-13)" ;;
	esac
done

# run_guest NAME CPU SCENARIOS TIMEOUT: in the background; PIDS+=
run_guest() {
	local name=$1 cpu=$2 scen=$3 tmo=$4
	E2E_OUT=$WORK/$name E2E_CPU=$cpu E2E_SCENARIOS=$scen \
		E2E_HANDLER_DIR=$WORK/handlers E2E_SRC=$WORK/src.img \
		E2E_LUNCLONE=$(realpath "$LUNCLONE") E2E_TESTCU=$TESTCU E2E_RATE=$RATE \
		E2E_CRASH_BIN=$CRASH_BIN \
		"$HERE/run-uml.sh" "$HERE/guest-scenarios.sh" "$tmo" \
		>"$WORK/$name.run.txt" 2>&1 &
	PIDS+=($!)
}

ncpu=$(nproc)
cpu_b=1
((ncpu > 1)) || cpu_b=0
# Limits for a loaded machine, where guests run 2-3x slower than on a quiet
# one (~8 min each before scenarios 11 and 12, which add ~2-5 min to B and
# ~1-2 min to A; 13 and 10's outage add ~1-3 min to A: on a quiet machine
# A takes ~105 s of scenarios, B ~120 s); E2E_TIMEOUT_A/B: the long forms
# (scripts/long-tests.sh).
[[ ${#ga[@]} -gt 0 ]] && run_guest a 0 "${ga[*]}" "${E2E_TIMEOUT_A:-1200}"
[[ ${#gb[@]} -gt 0 ]] && run_guest b "$cpu_b" "${gb[*]}" "${E2E_TIMEOUT_B:-1500}"
rc_a=0 rc_b=0
if [[ ${#ga[@]} -gt 0 ]]; then wait "${PIDS[0]}" || rc_a=$?; fi
if [[ ${#gb[@]} -gt 0 ]]; then wait "${PIDS[-1]}" || rc_b=$?; fi
PIDS=()
T_GUESTS=$(($(date +%s) - T0))

# --- report: each guest's assertions -------------------------------------------
status=0
report_guest() {
	local name=$1 rc=$2
	echo
	echo "=== guest $name (scenarios: $3): exit $rc"
	cat "$WORK/$name.run.txt"
	if [[ -f $WORK/$name/assertions.txt ]]; then
		sed 's/^/  /' "$WORK/$name/assertions.txt"
	fi
	grep -a '^=== scenario .* passed' "$WORK/$name/console.log" 2>/dev/null | sed 's/^/  /' || true
	if [[ $rc -ne 0 ]]; then
		status=1
		echo "--- guest $name console, without kernel and tcmu-runner debug lines (last 60 of $WORK/$name/console.log)"
		grep -a -v -E '^\[ *[0-9.]+\]|\[DEBUG|^targetcli: ' "$WORK/$name/console.log" 2>/dev/null | tail -n 60 || true
	fi
}
[[ ${#ga[@]} -gt 0 ]] && report_guest a "$rc_a" "${ga[*]}"
[[ ${#gb[@]} -gt 0 ]] && report_guest b "$rc_b" "${gb[*]}"

# --- host-side checks -----------------------------------------------------------
echo
echo "=== host-side checks"
host_ok() { echo "  ok: $*"; }
host_fail() {
	echo "  FAIL: $*"
	status=1
}

meta_100() {
	local meta=$1 out
	out=$("$LUNCLONE" status --meta "$meta") || {
		host_fail "lunclone status --meta $meta failed"
		return
	}
	if grep -q 'hydrated (100.0%)' <<<"$out"; then
		host_ok "$2: lunclone status --meta: $(grep 'regions:' <<<"$out" | sed 's/^regions: *//')"
	else
		host_fail "$2: lunclone status --meta is not at 100 %: $(grep 'regions:' <<<"$out")"
	fi
}

if [[ " ${ga[*]} " == *" 1 "* && $rc_a -eq 0 ]]; then
	d=$WORK/a/s1
	sha=$(sha256sum <"$d/d1.img")
	if [[ ${sha%% *} == "$SRC_SHA" ]]; then
		host_ok "s1: destination equals the source (sha256 ${SRC_SHA:0:16}...)"
	else
		host_fail "s1: destination differs from the source"
	fi
	meta_100 "$d/m1.meta" s1
fi

# overlay_check N: the destination equals the source overlaid with the
# initiator's view of every range fio wrote (write_iolog), and equals the
# initiator's view of the whole LUN.
overlay_check() {
	local n=$1 d=$WORK/a/s$1 out
	if out=$(python3 - "$WORK/src.img" "$d/d$n.img" "$d/s$n-lun.img" "$d"/s"$n"-iolog.* 2>&1 <<'PY'
import sys
src, dst, lun = (open(p, "rb").read() for p in sys.argv[1:4])
exp = bytearray(src)
nw = nbytes = partial = full = 0
region = 65536
tail = len(src) - len(src) % region
for log in sys.argv[4:]:
    for line in open(log):
        # iolog v2: "file action offset length"; v3 puts a timestamp first
        f = line.split()
        if len(f) >= 4 and f[-3] == "write":
            off, ln = int(f[-2]), int(f[-1])
            exp[off:off + ln] = lun[off:off + ln]
            nw += 1
            nbytes += ln
            if off % region == 0 and ln % region == 0:
                full += 1
            else:
                partial += 1
assert len(dst) == len(src), f"destination is {len(dst)} bytes, source {len(src)}"
assert nw > 0, "fio logged no writes"
bad = [i for i in range(0, len(src), region) if exp[i:i + region] != dst[i:i + region]]
if bad:
    print(f"destination differs from source+writes in {len(bad)} regions, first at byte {bad[0]}")
    sys.exit(1)
if lun != dst:
    print("destination differs from the initiator's final read of the LUN")
    sys.exit(1)
unchanged = sum(1 for i in range(0, len(src), region) if src[i:i + region] == dst[i:i + region])
print(f"{nw} writes ({nbytes} bytes: {full} whole-region, {partial} partial/unaligned) "
      f"overlaid on the source == destination; {unchanged} regions untouched == source")
PY
	); then
		host_ok "s$n: $out"
	else
		host_fail "s$n: $out"
	fi
}

for n in 2 3 10; do
	if [[ " ${ga[*]} " == *" $n "* && $rc_a -eq 0 ]]; then
		overlay_check "$n"
		meta_100 "$WORK/a/s$n/m$n.meta" "s$n"
	fi
done
if [[ " ${ga[*]} " == *" 3 "* && $rc_a -eq 0 ]]; then
	# shellcheck disable=SC1091
	. "$WORK/a/results.env"
	host_ok "s3: committed at kill -9: $S3_COMMITTED_AT_KILL/$S3_TOTAL regions; first status after restart: $S3_FIRST_AFTER_RESTART"
fi

if [[ " ${gb[*]} " == *" 8 "* && $rc_b -eq 0 ]]; then
	# shellcheck disable=SC1091
	. "$WORK/b/results.env"
	host_ok "s8: $S8_CYCLES kill -9/restart cycles survived; $S8_BYTES_WRITTEN bytes written durably, $S8_BYTES_VERIFIED bytes read back and verified"
fi

if [[ " ${gb[*]} " == *" 4 "* && $rc_b -eq 0 ]]; then
	f=$WORK/b/s4/file.results c=$WORK/b/s4/clone.results
	echo
	echo "=== iscsi-test-cu --test=$TESTCU: user:file vs user:clone"
	trc=0
	python3 - "$f" "$c" >"$WORK/b/s4/table.txt" <<'PY' || trc=$?
import sys
def load(p):
    return dict(l.split() for l in open(p) if l.strip())
fi, cl = load(sys.argv[1]), load(sys.argv[2])
names = sorted(set(fi) | set(cl))
w = max(len(n) for n in names)
cnt = {}
for n in names:
    k = (fi.get(n, "-"), cl.get(n, "-"))
    cnt[k] = cnt.get(k, 0) + 1
print(f"  {'user:file':>10} {'user:clone':>10}  tests")
for k in sorted(cnt):
    print(f"  {k[0]:>10} {k[1]:>10}  {cnt[k]}")
reg = [n for n in names if fi.get(n) == "PASS" and cl.get(n) != "PASS"]
better = [n for n in names if fi.get(n) != "PASS" and cl.get(n) == "PASS"]
print(f"  passing on user:file but not on user:clone: {len(reg)}")
for n in reg:
    print(f"    REGRESSION {n}")
print(f"  failing on user:file, passing on user:clone: {len(better)}")
for n in better:
    print(f"    better {n}")
print(f"  failing on both: {sum(1 for n in names if fi.get(n) == 'FAIL' and cl.get(n) == 'FAIL')}"
      " (limits of tcmu-runner 1.5.4's generic SCSI emulation, shared by both handlers)")
sys.exit(1 if reg else 0)
PY
	cat "$WORK/b/s4/table.txt"
	if [[ $trc -eq 0 ]]; then
		host_ok "s4: no iscsi-test-cu test passes on user:file and fails on user:clone"
	else
		host_fail "s4: tests pass on user:file and fail on user:clone (REGRESSION lines above)"
	fi
fi

# scenario 9: every crash point of the dm-log-writes log, replayed here.
# s9_replay DIR [--expect-violations]: DIR holds the guest's results.env and s9/.
s9_replay() {
	local dir=$1 rrc=0 t9
	shift
	# shellcheck disable=SC1091
	. "$dir/results.env"
	echo "  guest: $S9_WORKLOAD"
	mkdir -p "$dir/s9/replay"
	t9=$(date +%s)
	"$CRASH_BIN/log-replay" --log "$dir/s9/log.img" --source "$dir/s9/s9-src.img" \
		--records "$dir/s9/s9-records.txt" --dest "$S9_DEST" --meta "$S9_META" \
		--lunclone "$(realpath "$LUNCLONE")" --work "$dir/s9/replay" \
		--min-flushes "${E2E_S9_MIN_FLUSHES:-1000}" "$@" >"$dir/s9/replay.txt" 2>&1 || rrc=$?
	sed 's/^/  /' "$dir/s9/replay.txt"
	rm -f "$dir/s9/replay/dest.img" "$dir/s9/replay/meta.img"
	S9_POINTS=$(grep -o 'points: .*' "$dir/s9/replay.txt" || true)
	S9_POINTS="${S9_POINTS##*$'\n'} (replay $(($(date +%s) - t9)) s)"
	return "$rrc"
}
if [[ " ${gb[*]} " == *" 9 "* && $rc_b -eq 0 ]]; then
	echo
	echo "=== s9: power cuts replayed from the dm-log-writes log (log-replay)"
	if s9_replay "$WORK/b"; then
		host_ok "s9: $S9_POINTS"
	else
		host_fail "s9: log-replay failed (above)"
	fi
fi
# --s9-mutant: scenario 9 once more, in a guest of its own, on a handler whose
# commit runs before the destination flush; the replay must catch it.
if [[ -n $S9_MUTANT && " ${gb[*]} " == *" 9 "* && $rc_b -eq 0 ]]; then
	echo
	echo "=== s9 mutant: scenario 9 again with $S9_MUTANT (metadata committed before the destination flush)"
	mkdir -p "$WORK/handlers-mutant" "$WORK/m"
	cp "$S9_MUTANT" "$WORK/handlers-mutant/handler_clone.so"
	mrc=0
	E2E_OUT=$WORK/m E2E_CPU=$cpu_b E2E_SCENARIOS=9 \
		E2E_HANDLER_DIR=$WORK/handlers-mutant E2E_SRC=$WORK/src.img \
		E2E_LUNCLONE=$(realpath "$LUNCLONE") E2E_RATE=$RATE E2E_CRASH_BIN=$CRASH_BIN \
		"$HERE/run-uml.sh" "$HERE/guest-scenarios.sh" 600 >"$WORK/m.run.txt" 2>&1 || mrc=$?
	cat "$WORK/m.run.txt"
	if [[ $mrc -ne 0 ]]; then
		host_fail "s9 mutant: the guest failed (exit $mrc, $WORK/m/console.log)"
	elif s9_replay "$WORK/m" --expect-violations; then
		host_ok "s9 mutant: the replay catches the reversed commit: $S9_POINTS"
	else
		host_fail "s9 mutant: the replay did not catch the reversed commit (above)"
	fi
fi

echo
printf 'test-e2e: guests %ss, total %ss\n' "$T_GUESTS" "$(($(date +%s) - T0))"
if [[ $status -eq 0 ]]; then
	echo "test-e2e: PASS (scenarios $SCENARIOS)"
else
	echo "test-e2e: FAIL"
fi
exit "$status"
