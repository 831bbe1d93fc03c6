#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The long forms of the tests whose smoke forms run in CI (issue 8): longer
# fuzzing, a longer kill/restart soak, the power-cut replay with more crash
# points (and its mutant), the fault scenarios with longer measurements, and
# the benchmarks at full size. One command, each part bounded by its knobs;
# a summary table at the end; exit 1 if any part failed. Runs as root (the
# UML guests), hours with the defaults.
#
# Usage: scripts/long-tests.sh [--build DIR] [--out DIR] [--only "PART..."]
#   --build  build directory (default build; built with scripts/build.sh
#            first if its handler or CLI is missing)
#   --out    logs and results (default /var/tmp/lunclone-long.<date>)
#   --only   parts to run, of: fuzz soak powercut faults bench (default all)
#
# Knobs (environment), default in brackets:
#   LONG_FUZZ_SECONDS   per fuzz target [3600]            (CI: 60)
#   LONG_SOAK_CYCLES    kill -9/restart cycles [200]      (CI: 5)
#   LONG_SOAK_SECONDS   soak time bound [7200]
#   LONG_S9_FSYNCS      power-cut workload fsyncs [5000]  (CI: 1000)
#   LONG_S9_MUTANT      1: also run the reversed-commit mutant, whose replay
#                       must find violations [1]
#   LONG_S13_PAIRS      slow source: hydrating fio windows, each between two
#                       paused ones [11]                  (CI: 5)
#   LONG_S13_SECONDS    ... seconds per window [4]        (CI: 2)
#   LONG_S13_MAX_RATIO  ... bound on the median p99 ratio, issue 7's
#                       target [1.5]                      (CI: 3)
#   LONG_BENCH_SIZE     bench/hydrate size [2G]; bench/iscsi-source [1G]
#   LONG_BENCH_MIB      UML benchmarks, MiB [512]         (CI: 64)
#   LONG_BENCH_RUNS     runs per benchmark [3]            (CI: 1)
#   LONG_GUEST_TIMEOUT  seconds a UML guest may run [36000]
set -euo pipefail
cd "$(dirname "$0")/.."

build=build
out=/var/tmp/lunclone-long.$(date +%Y%m%d-%H%M%S)
only="fuzz soak powercut faults bench"
usage() { sed -n '10,15p' "$0" >&2; exit 2; }
while (($#)); do
	case $1 in
	--build) build=$2 ;;
	--out) out=$2 ;;
	--only) only=$2 ;;
	-h | --help) usage ;;
	*) usage ;;
	esac
	shift 2
done
for p in $only; do
	case $p in
	fuzz | soak | powercut | faults | bench) ;;
	*) echo "long-tests.sh: unknown part '$p' (fuzz soak powercut faults bench)" >&2; exit 2 ;;
	esac
done
[[ $(id -u) -eq 0 ]] || { echo "long-tests.sh: must run as root (UML guests)" >&2; exit 1; }

fuzz_secs=${LONG_FUZZ_SECONDS:-3600}
soak_cycles=${LONG_SOAK_CYCLES:-200}
soak_secs=${LONG_SOAK_SECONDS:-7200}
s9_fsyncs=${LONG_S9_FSYNCS:-5000}
s9_mutant=${LONG_S9_MUTANT:-1}
s13_pairs=${LONG_S13_PAIRS:-11}
s13_secs=${LONG_S13_SECONDS:-4}
s13_max=${LONG_S13_MAX_RATIO:-1.5}
bench_size=${LONG_BENCH_SIZE:-}
bench_mib=${LONG_BENCH_MIB:-512}
bench_runs=${LONG_BENCH_RUNS:-3}
export E2E_TIMEOUT_A=${LONG_GUEST_TIMEOUT:-36000} E2E_TIMEOUT_B=${LONG_GUEST_TIMEOUT:-36000}

mkdir -p "$out"
out=$(realpath "$out")
if [[ ! -f $build/handler/handler_clone.so || ! -x $build/cli/lunclone ]]; then
	bash scripts/build.sh "$build" >"$out/build.log" 2>&1 ||
		{ echo "long-tests.sh: build failed, see $out/build.log" >&2; exit 1; }
fi
handler=$(realpath "$build/handler/handler_clone.so")
lunclone=$(realpath "$build/cli/lunclone")
e2e=(bash tests/e2e/test-e2e.sh --handler "$handler" --lunclone "$lunclone")

results=()
status=0
# part NAME CMD...: runs CMD with its output in $out/NAME.log.
part() {
	local name=$1 t0 rc=0
	shift
	printf '=== %s: %s\n' "$name" "$*"
	t0=$(date +%s)
	"$@" >"$out/$name.log" 2>&1 || rc=$?
	results+=("$(printf '%-22s %-4s %6ss  %s' "$name" "$([[ $rc -eq 0 ]] && echo ok || echo FAIL)" \
		"$(($(date +%s) - t0))" "$out/$name.log")")
	((rc == 0)) || status=1
	tail -n 5 "$out/$name.log" | sed 's/^/    /'
}

want() { [[ " $only " == *" $1 "* ]]; }

if want fuzz; then
	part fuzz bash scripts/fuzz.sh "$fuzz_secs"
fi
if want soak; then
	part soak env E2E_SOAK_CYCLES="$soak_cycles" E2E_SOAK_SECONDS="$soak_secs" \
		"${e2e[@]}" --work "$out/soak" --scenarios 8
fi
if want powercut; then
	mutant=()
	if [[ $s9_mutant == 1 ]]; then
		cmake --build "$build" --target handler_clone_mutant_reversed >"$out/mutant-build.log" 2>&1 ||
			{ echo "long-tests.sh: building the mutant failed ($out/mutant-build.log)" >&2; exit 1; }
		mutant=(--s9-mutant "$(realpath "$build/tests/crash/handler_clone_mutant_reversed.so")")
	fi
	cmake --build "$build" --target powercut-workload log-replay >"$out/crash-build.log" 2>&1 ||
		{ echo "long-tests.sh: building the power-cut tools failed ($out/crash-build.log)" >&2; exit 1; }
	part powercut env E2E_S9_FSYNCS="$s9_fsyncs" E2E_S9_MIN_FLUSHES="$s9_fsyncs" \
		"${e2e[@]}" --work "$out/powercut" --scenarios 9 "${mutant[@]}"
fi
if want faults; then
	# E2E_MEM: scenario 13's source and destination grow with its windows.
	part faults env E2E_S13_PAIRS="$s13_pairs" E2E_S13_SECONDS="$s13_secs" \
		E2E_S13_MAX_RATIO="$s13_max" E2E_MEM=2048M \
		"${e2e[@]}" --work "$out/faults" --scenarios "6 7 11 12 13"
fi
if want bench; then
	part bench-hydrate bash bench/hydrate --size "${bench_size:-2G}" --runs "$bench_runs" \
		--lunclone "$lunclone" --output "$out/hydrate.md"
	part bench-iscsi-source bash bench/iscsi-source --size "${bench_size:-1G}" \
		--runs "$bench_runs" --lunclone "$lunclone" --output "$out/iscsi-source.md"
	part bench-uml-hydration bash bench/uml-hydration --size-mib "$bench_mib" \
		--runs "$bench_runs" --handler "$handler" --lunclone "$lunclone" \
		--output "$out/uml-hydration.md"
	part bench-uml-latency bash bench/uml-latency --size-mib "$bench_mib" --seconds 10 \
		--handler "$handler" --lunclone "$lunclone" --output "$out/uml-latency.md"
fi

echo
echo "=== long tests (logs and results in $out)"
printf '%s\n' "${results[@]}"
exit "$status"
