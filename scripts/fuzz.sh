#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the libFuzzer targets (clang, ASan + UBSan, coverage) into
# build-fuzz/ and runs each for SECONDS, two at a time, starting from the
# seeds in fuzz/corpus/<target>/. Prints executions per second and coverage
# per target; exits 1 if any target crashed, leaked or hung, with the input
# that did it kept in build-fuzz/findings/<target>/ (fix the bug, then add
# the input to fuzz/corpus/<target>/: the corpus replay test keeps it fixed).
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
#   SECONDS  per target, default 60 (CI's smoke form); the long form is e.g.
#            scripts/fuzz.sh 3600
#   TARGET   cfgstring status-request meta iscsi-url config control-request
#            (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(cfgstring status-request meta iscsi-url config control-request)
[[ $secs =~ ^[0-9]+$ && $secs -ge 1 ]] || { echo "fuzz.sh: SECONDS must be a positive number" >&2; exit 2; }
command -v clang >/dev/null || { echo "fuzz.sh: clang is missing (scripts/install-deps.sh)" >&2; exit 1; }

build=build-fuzz
cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DLC_FUZZ=ON -DLC_BUILD_HANDLER=OFF \
	-DLC_WERROR=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$build" -j"$(nproc)" --target "${targets[@]/#/fuzz-}" >/dev/null

out=$build/findings
rm -rf "$build/work" "$out"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:symbolize=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# run TARGET: SECONDS of libFuzzer; its log in $build/work/TARGET.log.
run() {
	local t=$1 work=$build/work/$t
	mkdir -p "$work/corpus" "$out/$t"
	# The first directory collects what the run finds; the repository's
	# corpus is only read.
	"$build/fuzz/fuzz-$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$out/$t/" \
		"$work/corpus" "fuzz/corpus/$t" >"$work.log" 2>&1
}

pids=() names=()
status=0
for t in "${targets[@]}"; do
	run "$t" &
	pids+=($!)
	names+=("$t")
	# Two at a time: one per CPU of the machines we run on.
	if ((${#pids[@]} == $(nproc))); then
		wait "${pids[0]}" || status=1
		pids=("${pids[@]:1}")
	fi
done
for p in "${pids[@]}"; do wait "$p" || status=1; done

printf '%-16s %10s %10s %8s %8s  %s\n' target execs exec/s cov ft result
for t in "${names[@]}"; do
	log=$build/work/$t.log
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 | cut -d' ' -f2)
	ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -n 1 | cut -d' ' -f2)
	if ls "$out/$t"/* >/dev/null 2>&1; then
		res="FAILED: $(ls "$out/$t")"
	else
		res=ok
	fi
	printf '%-16s %10s %10s %8s %8s  %s\n' "$t" "${execs:--}" "${rate:--}" "${cov:--}" "${ft:--}" "$res"
	if [[ $res != ok ]]; then
		status=1
		echo "--- $log (tail)"
		tail -n 40 "$log"
	fi
done
exit "$status"
