#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# In the UML guest (bench/uml-memory): tcmu-runner's resident memory with
# E2E_MEM_DEVICES user:clone devices of E2E_MEM_GIB GiB each (sparse source
# and destination files on tmpfs), opened paused, then hydrating for
# E2E_MEM_HYDRATE_S seconds.  Results as key=value in /e2eout/results.env.
set -euo pipefail
. "$(dirname "$0")/../tests/e2e/guest-lib.sh"

N=${E2E_MEM_DEVICES:-8}
GIB=${E2E_MEM_GIB:-64}
HYD_S=${E2E_MEM_HYDRATE_S:-5}
REGION_KIB=64
trap 'gl_teardown' EXIT
gl_init
gl_tcmu_start "$E2E_HANDLER_DIR"

status_kib() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$GL_TCMU_PID/status"; }
settle() {
	sleep 1
	sync
}

settle
gl_note rss0_kib "$(status_kib VmRSS)"
hba=$GL_CFS/core/user_9
for i in $(seq 1 "$N"); do
	truncate -s "${GIB}G" "/srv/m$i.src" "/srv/m$i.dst"
	so=$hba/mem$i
	mkdir -p "$so"
	echo -n "dev_config=clone/src=/srv/m$i.src;dst=/srv/m$i.dst;meta=/srv/m$i.meta;name=mem$i;direct=off;region_size=${REGION_KIB}K;paused=on" >"$so/control" ||
		gl_fail "configfs refused the cfgstring of mem$i"
	echo -n "dev_size=$((GIB << 30))" >"$so/control"
	echo -n 1 >"$so/enable" || gl_fail "enabling mem$i failed (see logs/tcmu-runner.log)"
	for _ in $(seq 1 200); do
		[[ -S /run/lunclone/mem$i.sock ]] && break
		sleep 0.05
	done
	[[ -S /run/lunclone/mem$i.sock ]] || gl_fail "mem$i: no status socket"
	if [[ $i == 1 ]]; then
		settle
		gl_note rss1_kib "$(status_kib VmRSS)"
	fi
done
settle
gl_step "$N devices open"
gl_note rssn_kib "$(status_kib VmRSS)"
gl_note regions_per_device "$(gl_sock_get mem1 regions_total)"
gl_note meta_bytes_per_device "$(stat -c %s /srv/m1.meta)"
gl_check "every device opened: regions_total = $GIB GiB / $REGION_KIB KiB" \
	test "$(gl_sock_get mem$N regions_total)" = $((GIB * 1024 * 1024 / REGION_KIB))

gl_step "resume all, $HYD_S s"
# Each at 8 MiB/s: a sparse source hydrates at the speed of reading zeros,
# and 8 devices x 2 unthrottled workers starve the uniprocessor guest.  The
# buffers in flight, not the rate, make the memory.
for i in $(seq 1 "$N"); do
	[[ $(gl_sock mem$i "throttle 8") == ok* ]] || gl_fail "throttle of mem$i failed"
	[[ $(gl_sock mem$i resume) == ok* ]] || gl_fail "resume of mem$i failed"
done
peak=0
for _ in $(seq 1 $((HYD_S * 5))); do
	r=$(status_kib VmRSS)
	((r > peak)) && peak=$r
	sleep 0.2
done
gl_note rss_hydrating_peak_kib "$peak"
gl_note hydrated_regions_mem1 "$(gl_sock_get mem1 regions_hydrated)"
gl_check "hydration ran on mem1" test "$(gl_sock_get mem1 regions_hydrated)" -gt 0
gl_note vmhwm_kib "$(status_kib VmHWM)"
gl_step "close the devices"
for i in $(seq 1 "$N"); do
	rmdir "$hba/mem$i" || gl_fail "removing mem$i failed"
done
gl_step "=== memory bench done"
