#!/bin/sh
# SPDX-License-Identifier: MIT
# PID 1 of the User-Mode-Linux guest (run-uml.sh passes it as init=).  The UML
# kernel has mounted the host's / read-only over hostfs.  This builds an
# overlay (hostfs lower, tmpfs upper) so that the guest may write anywhere
# without touching the host, mounts the host's out dir writable at /e2eout,
# chroots into the overlay, runs the guest script with /e2eout/env exported,
# and powers off.  The script's exit status is printed as "E2E_RESULT rc=N" and
# written to <out>/rc.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
KVER=$(uname -r)
SCRIPT=
TMO=300
OUTDIR=
mount -t proc proc /proc
for a in $(cat /proc/cmdline); do
	case "$a" in
	e2e.script=*) SCRIPT=${a#e2e.script=} ;;
	e2e.timeout=*) TMO=${a#e2e.timeout=} ;;
	e2e.out=*) OUTDIR=${a#e2e.out=} ;;
	esac
done
say() { echo "E2E-INIT: $*"; }
fin() {
	echo "E2E_RESULT rc=$1"
	[ -d /srv/root/e2eout ] && echo "$1" >/srv/root/e2eout/rc
	sync
	exec /bin/busybox poweroff -f
}

M=/usr/lib/uml/modules/$KVER
[ -d "$M" ] || { say "no UML modules at $M"; fin 95; }
insmod "$M/kernel/fs/overlayfs/overlay.ko" || { say "insmod overlay failed"; fin 98; }
mount -t tmpfs -o size=85% tmpfs /srv || fin 97
mkdir -p /srv/upper /srv/work /srv/root
mount -t overlay overlay -o lowerdir=/,upperdir=/srv/upper,workdir=/srv/work /srv/root ||
	{ say "overlay failed"; fin 96; }
R=/srv/root
mount -t proc proc $R/proc
mount -t sysfs sysfs $R/sys
mount -t devtmpfs devtmpfs $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts devpts $R/dev/pts
mount -t tmpfs tmpfs $R/dev/shm
mount -t tmpfs tmpfs $R/run
mkdir -p $R/lib/modules/$KVER $R/e2eout
mount --bind "$M" $R/lib/modules/$KVER # modprobe finds the UML modules
mount -t hostfs -o "$OUTDIR" hostfs $R/e2eout || { say "cannot mount out dir $OUTDIR"; fin 94; }
# The host's root may carry /.dockerenv; nothing here needs it, drop it.
rm -f $R/.dockerenv 2>/dev/null
# The kernel's request_module() runs /sbin/modprobe in PID 1's root (the
# read-only hostfs, whose /lib/modules has no $KVER): route it into the chroot.
printf '#!/bin/sh\nexec /usr/sbin/chroot /srv/root /sbin/modprobe "$@"\n' >/srv/modprobe
chmod 755 /srv/modprobe
echo /srv/modprobe >/proc/sys/kernel/modprobe
hostname e2e-guest 2>/dev/null
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up

say "kernel $KVER, running $SCRIPT (timeout ${TMO}s)"
# shellcheck disable=SC2016
timeout "$TMO" chroot $R /bin/bash -c \
	'set -a; [ -f /e2eout/env ] && . /e2eout/env; set +a; cd /; exec /bin/bash "$0"' \
	"$SCRIPT" </dev/null 2>&1
rc=$?
[ $rc = 124 ] && say "guest script timed out after ${TMO}s"
fin $rc
