#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Boots Debian's User-Mode-Linux kernel over the host's root with systemd as
# PID 1 (uml-systemd-init.sh), runs a guest script as the service
# e2e-test.service and exits with its exit status.  For what needs the real
# service manager: luncloned.service, tcmu-runner.service, systemctl reload.
#
# usage: run-uml-systemd.sh GUEST-SCRIPT [TIMEOUT-SECONDS]
#
# Environment: as run-uml.sh (E2E_OUT, E2E_CPU, E2E_MEM, E2E_*/LC_* passed to
# the guest through <out>/env).  The script writes its exit status to
# /e2eout/rc itself; if it never does, the unit writes 124 (timeout) or 125.
set -euo pipefail

die() {
	echo "run-uml-systemd.sh: $*" >&2
	exit 2
}

[[ $# -ge 1 ]] || die "usage: run-uml-systemd.sh GUEST-SCRIPT [TIMEOUT-SECONDS]"
SCRIPT=$(realpath "$1")
TMO=${2:-300}
[[ -r $SCRIPT ]] || die "guest script $1 not found"
HERE=$(cd "$(dirname "$0")" && pwd)
CPU=${E2E_CPU:-0}
MEM=${E2E_MEM:-1024M}

# shellcheck source=tests/e2e/uml-host-lib.sh
. "$HERE/uml-host-lib.sh"
uml_require run-uml-systemd.sh
[[ -x /lib/systemd/systemd ]] || die "systemd missing (/lib/systemd/systemd): apt-get install systemd"
[[ -x /usr/sbin/switch_root ]] || die "util-linux switch_root missing"
uml_out_dir

UMLDIR=$(mktemp -d /tmp/lunclone-uml.XXXXXX)
trap 'rm -rf "$UMLDIR"' EXIT
# The upper layer of the guest's overlay, copied in by stage 0.
T=$UMLDIR/upper
mkdir -p "$T/etc/systemd/system" "$T/etc/systemd/system-generators" \
	"$T/etc/tmpfiles.d" "$T/usr/lib/modules" "$T/e2eout"
ln -s "/usr/lib/uml/modules/$KVER" "$T/usr/lib/modules/$KVER"
echo e2e-guest >"$T/etc/hostname"
: >"$T/etc/fstab"
# Debian's tmpfiles.d/tmp.conf ("D /tmp") would empty /tmp in the overlay,
# taking every host path under /tmp (scripts, builds) away from the guest.
ln -s /dev/null "$T/etc/tmpfiles.d/tmp.conf"
for f in "$HERE"/systemd/*; do
	sed -e "s|@SCRIPT@|$SCRIPT|g" -e "s|@TMO@|$TMO|g" "$f" \
		>"$T/etc/systemd/system/${f##*/}"
done
# Host services, hardware, network and timers have no place in the guest;
# udev neither (devtmpfs creates /dev/sdX and /dev/uioN).  The initiator's
# iscsid is started by the test itself, like the other scenarios.
mask="systemd-timesyncd.service open-iscsi.service iscsid.service iscsid.socket
 proc-sys-fs-binfmt_misc.automount systemd-binfmt.service systemd-firstboot.service
 systemd-repart.service systemd-pcrphase.service systemd-pcrphase-sysinit.service
 systemd-hwdb-update.service apt-daily.timer apt-daily-upgrade.timer man-db.timer
 e2scrub_all.timer fstrim.timer dpkg-db-backup.timer postgresql.service tgt.service
 rtslib-fb-targetctl.service target.service getty@tty1.service
 systemd-udevd.service systemd-udev-trigger.service systemd-udev-settle.service
 systemd-udevd-control.socket systemd-udevd-kernel.socket
 systemd-sysusers.service systemd-update-utmp.service systemd-random-seed.service
 systemd-tmpfiles-setup-dev.service systemd-remount-fs.service
 systemd-sysctl.service kmod-static-nodes.service systemd-pstore.service
 modprobe@efi_pstore.service modprobe@drm.service modprobe@fuse.service
 sys-fs-fuse-connections.mount dev-hugepages.mount sys-kernel-debug.mount
 sys-kernel-tracing.mount systemd-ask-password-console.path
 systemd-ask-password-wall.path systemd-machine-id-commit.service first-boot-complete.target"
for u in $mask; do
	ln -sfn /dev/null "$T/etc/systemd/system/$u"
done
# Generators run at boot and at every daemon-reload (~40 ms per exec here).
for g in systemd-sysv-generator systemd-gpt-auto-generator systemd-getty-generator \
	systemd-cryptsetup-generator systemd-veritysetup-generator \
	systemd-integritysetup-generator systemd-hibernate-resume-generator \
	systemd-system-update-generator systemd-rc-local-generator \
	systemd-fstab-generator postgresql-generator; do
	ln -s /dev/null "$T/etc/systemd/system-generators/$g"
done

uml_boot run-uml-systemd.sh "lc-sysd-$$" "$TMO" \
	init="$HERE/uml-systemd-init.sh" \
	quiet systemd.unit=e2e.target systemd.show_status=1 \
	e2e.out="$OUT" e2e.upper="$T"
