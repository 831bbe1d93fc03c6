#!/usr/bin/env bash
# Runs every ctest test program of a build under valgrind memcheck: any
# memory error or leak (definite, indirect, possible) fails.
# Usage: tests/valgrind.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: tests/valgrind.sh BUILD_DIR}
command -v valgrind >/dev/null || { echo "valgrind: not installed" >&2; exit 1; }

# ctest knows each test's command line; run each under valgrind.
# Tests labelled "large" (hundreds of MiB of bitmap) are left to the native
# and ASan runs.
mapfile -t cmds < <(ctest --test-dir "$build" -N -V -LE large | awk '
	/^[0-9]+: Test command: / { n = $1; sub(/:$/, "", n); c = $0; sub(/^[0-9]+: Test command: /, "", c); gsub(/"/, "", c); cmd[n] = c }
	/^ *Test +#[0-9]+: / { n = $2; sub(/^#/, "", n); sub(/:$/, "", n); name = $3
		# Shell tests drive C programs that are run here directly anyway.
		if (cmd[n] !~ /(^|\/)(bash|sh)( |$)|\.sh( |$)/) print name "\t" cmd[n] }')
[ ${#cmds[@]} -gt 0 ] || { echo "valgrind: no test programs found in $build" >&2; exit 1; }

log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
fail=0 pass=0
run_one() {
	local name=$1 cmd=$2
	# shellcheck disable=SC2086
	# --fair-sched=yes: threads take turns in order; with the default
	# lock a thread that spins (a test's busy reader, a worker's retry
	# loop) can hold the CPU for good and hang the test.
	valgrind -q --fair-sched=yes --error-exitcode=99 --leak-check=full \
		--errors-for-leak-kinds=definite,indirect,possible \
		--show-leak-kinds=definite,indirect,possible $cmd >"$log/$name.out" 2>&1
}
for line in "${cmds[@]}"; do
	name=${line%%$'\t'*} cmd=${line#*$'\t'}
	if run_one "$name" "$cmd"; then
		echo "valgrind: $name: ok"
		pass=$((pass + 1))
	else
		echo "valgrind: $name: FAILED"
		tail -n 40 "$log/$name.out"
		fail=$((fail + 1))
	fi
done
echo "valgrind: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
