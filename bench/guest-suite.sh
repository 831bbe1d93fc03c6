#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs INSIDE the one User-Mode-Linux guest that bench/uml-suite boots: every
# in-guest part of issue 7, one after the other, each by the guest script
# that also serves its own bench/uml-* command (run as a child process with
# its own result directory, /e2eout/<part>):
#   hydration  guest-hydration.sh  parts 1 and 2: the copy ceiling (fio
#              sequential read of the source, write of the destination), dd,
#              idle hydration by kernel dm-clone and by lunclone
#   during     guest-during.sh     part 4: fio jobs while hydration runs
#              (lunclone yield on / off, dm-clone), against the same job idle
#   userio     guest-userio.sh     part 3: fio on a hydrated clone against
#              user:file and LIO fileio
#   memory     guest-memory.sh     part 5: tcmu-runner's RSS per 64 GiB clone
# Parts 1, 2 and 4 share one pair of loop devices (source read-only, over
# random data; destination) on the guest's tmpfs, made here. A part that
# fails fails the suite, naming it; LIO must be empty after each part.
#
# Environment: E2E_SUITE_PARTS (default "hydration during userio memory"),
# E2E_SUITE_MIB (source size for parts 1, 2, 4), and each part's own knobs
# (E2E_BENCH_*, E2E_DUR_*, E2E_UIO_MIB / E2E_UIO_SECONDS for userio's
# E2E_BENCH_MIB / E2E_BENCH_SECONDS, E2E_MEM_*), E2E_HANDLER_DIR,
# E2E_LUNCLONE.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/e2e/guest-lib.sh
. "$HERE/../tests/e2e/guest-lib.sh"
trap 'rc=$?; gl_teardown; exit $rc' EXIT

PARTS=${E2E_SUITE_PARTS:-hydration during userio memory}
MIB=${E2E_SUITE_MIB:-512}
gl_init
gl_require losetup
modprobe -a loop || gl_fail "modprobe loop failed"

S='' D=''
devices() {
	[[ -n $S ]] && return 0
	head -c $((MIB << 20)) /dev/urandom >/srv/suite-src.img
	truncate -s $((MIB << 20)) /srv/suite-dst.img
	S=$(losetup -f --show -r /srv/suite-src.img)
	D=$(losetup -f --show /srv/suite-dst.img)
	gl_step "suite: source $S, destination $D, $MIB MiB"
}
drop_devices() {
	[[ -n $S ]] || return 0
	losetup -d "$S" "$D"
	rm -f /srv/suite-src.img /srv/suite-dst.img
	S='' D=''
}

# part NAME SCRIPT [VAR=VALUE...]: SCRIPT with its results in /e2eout/NAME.
part() {
	local name=$1 script=$2 t rc=0
	shift 2
	gl_step "suite: part $name ($script)"
	t=$EPOCHREALTIME
	env GL_OUT="$GL_OUT/$name" "$@" bash "$HERE/$script" || rc=$?
	gl_note "SUITE_${name}_SECONDS" "$(echo "$EPOCHREALTIME - $t" | bc)"
	((rc == 0)) || gl_fail "suite: part $name failed (rc $rc; its evidence: $GL_OUT/$name)"
	! compgen -G "$GL_CFS/iscsi/iqn.*" >/dev/null ||
		gl_fail "suite: part $name left iSCSI targets behind"
}

for p in $PARTS; do
	case $p in
	hydration)
		devices
		part hydration guest-hydration.sh E2E_BENCH_MIB="$MIB" E2E_BENCH_SRC="$S" E2E_BENCH_DST="$D"
		;;
	during)
		devices
		part during guest-during.sh E2E_BENCH_MIB="$MIB" E2E_BENCH_SRC="$S" E2E_BENCH_DST="$D"
		;;
	userio)
		drop_devices # tmpfs is the guest's memory: one part's data at a time
		part userio guest-userio.sh E2E_BENCH_MIB="${E2E_UIO_MIB:-256}" E2E_BENCH_SECONDS="${E2E_UIO_SECONDS:-10}"
		;;
	memory)
		drop_devices
		part memory guest-memory.sh
		;;
	*) gl_fail "suite: unknown part '$p'" ;;
	esac
done
drop_devices
gl_note SUITE_PARTS "$PARTS"
gl_note SUITE_KERNEL "$(uname -r)"
gl_step "suite: done"
