# SPDX-License-Identifier: MIT
# Sourced by the bench's guest scripts (guest-hydration.sh, guest-during.sh),
# after tests/e2e/guest-lib.sh: bench/clone-watch.py around a timed clone.

# watch_start KIND TARGET INTERVAL_MS OUT: starts clone-watch.py on TARGET
# (a dm device's name, a lunclone socket), its samples into OUT, and
# returns once it runs (WATCH_PID): its start-up comes before the clock,
# since in a one-CPU guest a poller's CPU is taken from what it times.
watch_start() {
	local ready=/srv/watch.ready
	rm -f "$ready"
	python3 "$(dirname "${BASH_SOURCE[0]}")/clone-watch.py" "$1" "$2" "$3" "$ready" >"$4" &
	WATCH_PID=$!
	while [[ ! -e $ready ]]; do
		kill -0 "$WATCH_PID" 2>/dev/null || gl_fail "clone-watch $1 $2 did not start"
		sleep 0.01
	done
}

# watch_end OUT: waits for the watcher (in this shell: not in $(...), whose
# subshell cannot wait for it); WATCH_T1 is the time (epoch seconds) of the
# sample that saw the clone complete.
watch_end() {
	local last
	wait "$WATCH_PID" || gl_fail "clone-watch: the clone did not complete (see $1)"
	last=$(tail -n 1 "$1")
	WATCH_T1=${last%% *}
}
