#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs, from Debian's own packages only, what the end-to-end harness needs
# on the host.  The UML guest boots over the host's root file system, so every
# tool the guest uses (tcmu-runner, targetcli, initiators, fio) is installed
# here and seen in the guest at the same path.  Idempotent: a second run only
# checks.  Run as root.
#
#   user-mode-linux   Linux 6.1 as a user process, with LIO, target_core_user
#                     and the iSCSI modules (the host kernel has no configfs)
#   tcmu-runner       Debian's 1.5.4, loads handler_clone.so
#   targetcli-fb      the admin path (needs the system D-Bus: dbus)
#   open-iscsi        kernel initiator (iscsid, iscsiadm)
#   libiscsi-bin      user-space initiator tools, iscsi-test-cu
#   sg3-utils fio     SCSI commands and I/O load with verify
#   qemu-utils qemu-block-extra  qemu-img reads a whole LUN through libiscsi
#   python3           host-side checks (also a dependency of targetcli-fb)
#   dmsetup           device-mapper fault injection in the guest (dm-flakey,
#                     dm-dust: the UML kernel has the modules)
#   busybox-static    poweroff from the guest's PID 1
#   dpkg-dev          apt-get source tcmu-runner (handler_file.so for scenario 4)
set -euo pipefail

PKGS=(user-mode-linux busybox-static kmod bc iproute2 util-linux procps psmisc
	tcmu-runner targetcli-fb dbus open-iscsi libiscsi-bin sg3-utils fio
	qemu-utils qemu-block-extra python3 dmsetup
	gcc libc6-dev dpkg-dev xxd)

if [[ $(id -u) -ne 0 ]]; then
	echo "install-host.sh: must run as root (apt-get install)" >&2
	exit 1
fi

missing=()
for p in "${PKGS[@]}"; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ $st == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]})); then
	echo "install-host.sh: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# Keep package scripts from starting iscsid/tcmu-runner/dbus on the host:
	# the guest starts its own.  Only if no policy is in place already.
	policy=/usr/sbin/policy-rc.d
	own_policy=0
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		own_policy=1
	fi
	trap '[[ $own_policy == 1 ]] && rm -f "$policy"' EXIT
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

for c in linux.uml tcmu-runner targetcli iscsiadm iscsid iscsi-inq \
	iscsi-test-cu fio sg_inq dbus-daemon busybox qemu-img python3; do
	command -v "$c" >/dev/null || {
		echo "install-host.sh: $c still missing after install" >&2
		exit 1
	}
done
echo "install-host.sh: ok ($(linux.uml --version 2>/dev/null | head -c 80 || true))"
