#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs INSIDE the User-Mode-Linux guest that bench/uml-latency boots: how
# much an application suffers while the clone hydrates (issue 7, part 4).
#
# One user:clone LUN, served over iSCSI on loopback and used through the
# kernel initiator (open-iscsi), runs the same fio job (4 KiB random reads,
# queue depth 1, O_DIRECT, time-based) in three states:
#   idle       the clone is fully hydrated: the baseline
#   yield-on   hydration running, yield=on (it backs off to min_rate while
#              the initiator does I/O)
#   yield-off  hydration running at full speed, yield=off
# and records fio's p50/p99 completion latency and IOPS, and how long
# hydration took from resume to complete. Results to /e2eout/results.env.
#
# Environment: E2E_BENCH_MIB, E2E_BENCH_SECONDS (fio runtime),
# E2E_HANDLER_DIR, E2E_LUNCLONE.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/e2e/guest-lib.sh
. "$HERE/../tests/e2e/guest-lib.sh"
trap 'rc=$?; gl_teardown; exit $rc' EXIT

MIB=${E2E_BENCH_MIB:-512}
SECS=${E2E_BENCH_SECONDS:-5}
: "${E2E_HANDLER_DIR:?}" "${E2E_LUNCLONE:?}"
gl_init
gl_require fio python3
IQN=iqn.2025-01.org.lunclone.bench:lat
SOCK=/run/lunclone/lat.sock

head -c $((MIB << 20)) /dev/urandom >/srv/src.img
gl_dbus_start
gl_tcmu_start "$E2E_HANDLER_DIR"
now() { date +%s.%N; }

# fio_job NAME: the job on $GL_DEV; prints "p50_us p99_us iops".
fio_job() {
	fio --name="$1" --filename="$GL_DEV" --rw=randread --bs=4k --iodepth=1 \
		--ioengine=libaio --direct=1 --time_based --runtime="$SECS" \
		--output-format=json --output="/srv/fio-$1.json" || gl_fail "fio $1 failed"
	python3 - "/srv/fio-$1.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["jobs"][0]["read"]
p = r["clat_ns"]["percentile"]
print(f"{p['50.000000'] / 1000:.0f} {p['99.000000'] / 1000:.0f} {r['iops']:.0f}")
PY
}

# state NAME YIELD: a fresh clone (paused), logged in; then the job runs
# idle (after hydrating) or during hydration.
state() {
	local name=$1 yield=$2 t res secs
	rm -f /srv/dst.img /srv/m.meta
	truncate -s $((MIB << 20)) /srv/dst.img
	gl_lio_configfs lat clone $((MIB << 20)) \
		"src=/srv/src.img;dst=/srv/dst.img;meta=/srv/m.meta;name=lat;paused=on;yield=$yield" \
		"$IQN" >/dev/null
	while [[ ! -S $SOCK ]]; do sleep 0.05; done
	gl_iscsi_login "$IQN" >/dev/null
	t=$(now)
	"$E2E_LUNCLONE" ctl --socket "$SOCK" resume || gl_fail "resume failed"
	if [[ $name == idle ]]; then
		"$E2E_LUNCLONE" ctl --socket "$SOCK" watch --interval 100 >/dev/null ||
			gl_fail "hydration did not complete"
		secs=$(echo "$(now) - $t" | bc)
		res=$(fio_job "$name")
	else
		res=$(fio_job "$name")
		"$E2E_LUNCLONE" ctl --socket "$SOCK" watch --interval 100 >/dev/null ||
			gl_fail "hydration did not complete"
		secs=$(echo "$(now) - $t" | bc)
	fi
	read -r p50 p99 iops <<<"$res"
	echo "bench: $name: p50 ${p50} us, p99 ${p99} us, ${iops} IOPS; hydration ${secs} s"
	gl_note "LAT_${name//-/_}_P50" "$p50"
	gl_note "LAT_${name//-/_}_P99" "$p99"
	gl_note "LAT_${name//-/_}_IOPS" "$iops"
	gl_note "LAT_${name//-/_}_HYDRATION" "$secs"
	gl_iscsi_logout "$IQN"
	gl_lio_remove lat clone "$IQN"
	[[ $(gl_sha /srv/dst.img) == $(gl_sha /srv/src.img) ]] || gl_fail "$name: destination differs"
}

state idle on
state yield-on on
state yield-off off
gl_note LAT_MIB "$MIB"
gl_note LAT_SECONDS "$SECS"
gl_step "bench: done"
