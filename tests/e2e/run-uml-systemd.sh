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

command -v linux.uml >/dev/null ||
	die "linux.uml not found: install Debian's user-mode-linux (tests/e2e/install-host.sh)"
KVER=$(linux.uml --version 2>/dev/null || true)
[[ -n $KVER && -d /usr/lib/uml/modules/$KVER/kernel ]] ||
	die "UML modules missing: /usr/lib/uml/modules/$KVER (reinstall user-mode-linux)"
[[ -x /lib/systemd/systemd ]] || die "systemd missing (/lib/systemd/systemd): apt-get install systemd"
[[ -x /usr/sbin/switch_root ]] || die "util-linux switch_root missing"
command -v taskset >/dev/null || die "taskset missing (util-linux)"
[[ $(id -u) -eq 0 ]] || die "must run as root"

OUT=${E2E_OUT:-$(mktemp -d /tmp/lunclone-e2e.XXXXXX)}
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
rm -f "$OUT/rc"
{
	while IFS= read -r v; do
		printf '%s=%q\n' "$v" "${!v}"
	done < <(compgen -e | grep -E '^(E2E|LC)_' || true)
	printf 'E2E_OUT_HOST=%q\n' "$OUT"
} >"$OUT/env"

UMLDIR=$(mktemp -d /tmp/lunclone-uml.XXXXXX)
trap 'rm -rf "$UMLDIR"' EXIT
# shellcheck source=tests/e2e/uml-host-lib.sh
. "$HERE/uml-host-lib.sh"
SHIM=$(uml_xstate_shim "$UMLDIR") || die "cannot build the UML xstate shim (gcc)"

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

LOG=$OUT/console.log
start=$(date +%s.%N)
set +e
TMPDIR=/dev/shm timeout --kill-after=10 $((TMO + 60)) \
	env LD_PRELOAD="$SHIM" taskset -c "$CPU" linux.uml \
	mem="$MEM" umid="lc-sysd-$$" uml_dir="$UMLDIR" \
	root=/dev/root rootfstype=hostfs rootflags=/ ro \
	init="$HERE/uml-systemd-init.sh" \
	con=null con0=null,fd:1 \
	quiet systemd.unit=e2e.target systemd.show_status=1 \
	e2e.out="$OUT" e2e.upper="$T" \
	</dev/null >"$LOG" 2>&1
urc=$?
set -e
end=$(date +%s.%N)
rc=$(cat "$OUT/rc" 2>/dev/null || echo none)
printf 'run-uml-systemd.sh: %s on cpu %s: uml exit=%s guest rc=%s wall=%.1fs log=%s\n' \
	"$(basename "$SCRIPT")" "$CPU" "$urc" "$rc" "$(echo "$end - $start" | bc)" "$LOG"
if [[ $rc == none ]]; then
	echo "run-uml-systemd.sh: the guest did not report a result; console tail:" >&2
	tail -n 30 "$LOG" >&2 || true
	exit 3
fi
exit "$rc"
