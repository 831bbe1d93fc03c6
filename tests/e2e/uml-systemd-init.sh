#!/bin/sh
# SPDX-License-Identifier: MIT
# Stage 0 of the User-Mode-Linux guest with systemd as PID 1
# (run-uml-systemd.sh passes it as init=).  The kernel mounted the host's /
# read-only over hostfs.  Build an overlay (hostfs lower, tmpfs upper) whose
# upper layer starts from the template the host prepared (units, masks,
# module path), mount the host's out dir at /e2eout, and switch_root into the
# overlay with systemd, which boots systemd.unit=e2e.target: the test script
# as e2e-test.service, then power-off.  Every exec costs ~40 ms in UML.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
mount -t proc proc /proc
OUTDIR=
UPPER=
for a in $(cat /proc/cmdline); do
	case "$a" in
	e2e.out=*) OUTDIR=${a#e2e.out=} ;;
	e2e.upper=*) UPPER=${a#e2e.upper=} ;;
	esac
done
die() {
	echo "E2E-INIT: FATAL: $1"
	mount -t hostfs -o "$OUTDIR" hostfs /mnt && echo "$2" >/mnt/rc
	sync
	exec /bin/busybox poweroff -f
}

KVER=$(uname -r)
insmod /usr/lib/uml/modules/$KVER/kernel/fs/overlayfs/overlay.ko || die "insmod overlay" 98
mount -t tmpfs -o size=85%,mode=755 tmpfs /srv || die "tmpfs" 97
mkdir -p /srv/upper /srv/work /srv/root
cp -a "$UPPER/." /srv/upper/ || die "copy of the upper template $UPPER" 94
mount -t overlay overlay -o lowerdir=/,upperdir=/srv/upper,workdir=/srv/work /srv/root ||
	die "overlay" 96
R=/srv/root
# The host's /.dockerenv would make systemd detect a container and ignore the
# kernel command line (systemd.unit=): the boot would hang at a login prompt.
rm -f $R/.dockerenv
mount -t hostfs -o "$OUTDIR" hostfs $R/e2eout || die "cannot mount the out dir $OUTDIR" 93
# util-linux switch_root (busybox's refuses a hostfs old root).  PID 1 itself
# chroots, so the kernel's request_module() finds the overlay's modprobe and
# the UML modules through the template's /usr/lib/modules link.
exec /usr/sbin/switch_root $R /lib/systemd/systemd
die "switch_root failed" 95
