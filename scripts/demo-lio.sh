#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The demo's LIO part, run as root where LIO is: natively on a host that has
# it, or inside the User-Mode-Linux guest that scripts/demo.sh boots.
#
# Serves a user:clone LUN (created with targetcli, as an admin would) of the
# source that demo.sh generated, logs in with open-iscsi, reads the LUN while
# nothing is hydrated, starts hydration and follows it with `lunclone ctl
# watch` while writing into the LUN, then reads the whole LUN back and
# compares it with the source overlaid with the writes. The destination and
# the metadata store are left in LC_DEMO_DIR for demo.sh to check.
#
# Environment (set by demo.sh):
#   LC_DEMO_DIR      source.img, writes.txt (+ the write payloads), expected
#                    sha256; destination and store are created here
#   LC_DEMO_HANDLER  directory holding handler_clone.so
#   LC_DEMO_LUNCLONE the lunclone CLI
#   LC_DEMO_RATE     hydration rate limit, MiB/s
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
: "${LC_DEMO_DIR:?}" "${LC_DEMO_HANDLER:?}" "${LC_DEMO_LUNCLONE:?}" "${LC_DEMO_RATE:?}"
GL_OUT=$LC_DEMO_DIR/lio
# shellcheck source=tests/e2e/guest-lib.sh
. "$HERE/../tests/e2e/guest-lib.sh"

D=$LC_DEMO_DIR
LC=$LC_DEMO_LUNCLONE
NAME=lcdemo
IQN=iqn.2025-01.org.lunclone:demo
SOCK=/run/lunclone/$NAME.sock
say() { echo "demo: $*"; }

cleanup() {
	local rc=$?
	[[ -z ${WATCH_PID:-} ]] || kill "$WATCH_PID" 2>/dev/null || true
	gl_iscsi_logout "$IQN" 2>/dev/null || true
	gl_lio_remove "$NAME" clone "$IQN" 2>/dev/null || true
	gl_teardown
	[[ $rc -eq 0 ]] || say "FAILED (exit $rc); tcmu-runner's log: $GL_OUT/logs/"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

mkdir -p "$GL_OUT" "$GL_LOG"
: >"$GL_OUT/assertions.txt"
if pidof tcmu-runner >/dev/null; then
	gl_fail "tcmu-runner is already running here: stop it (systemctl stop tcmu-runner) so that the demo can start one with handler_clone.so"
fi
modprobe -a configfs target_core_mod target_core_user iscsi_target_mod iscsi_tcp sd_mod ||
	gl_fail "cannot load the LIO and iSCSI modules"
modprobe -q crc32c 2>/dev/null || true
mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config
ip link set lo up 2>/dev/null || true
gl_dbus_start
gl_tcmu_start "$LC_DEMO_HANDLER" dbus

SIZE=$(stat -c %s "$D/source.img")
truncate -s "$SIZE" "$D/dest.img"
rm -f "$D/clone.meta"
cfg="src=$D/source.img;dst=$D/dest.img;meta=$D/clone.meta;name=$NAME;rate=$LC_DEMO_RATE;paused=on"
say "creating the LUN: targetcli /backstores/user:clone create name=$NAME size=$SIZE cfgstring=$cfg"
gl_lio_targetcli "$NAME" clone "$SIZE" "$cfg" "$IQN"
gl_iscsi_login "$IQN"
say "logged in with open-iscsi: $GL_DEV is the clone ($SIZE bytes), nothing copied yet"

# The LUN serves the source before any of it is copied.
n=$((16 << 20))
gl_check "the first 16 MiB read through iSCSI equal the source (0 % hydrated)" \
	[ "$(gl_sha "$GL_DEV" $n)" = "$(gl_sha "$D/source.img" $n)" ]
say "$(grep '^ok' "$GL_OUT/assertions.txt" | tail -n 1)"

say "hydration starts at up to $LC_DEMO_RATE MiB/s (lunclone ctl --socket $SOCK watch):"
"$LC" ctl --socket "$SOCK" resume || gl_fail "lunclone ctl resume over $SOCK failed"
# Through a pipe: a guest's console is a terminal, where watch would redraw
# one line in place, and demo.sh follows the console line by line.
"$LC" ctl --socket "$SOCK" watch --interval 1000 | cat &
WATCH_PID=$!

# Writes while it hydrates: "offset file" lines; each through O_DIRECT, then
# read back through the LUN.
sleep 2
while read -r off file; do
	len=$(stat -c %s "$D/$file")
	dd if="$D/$file" of="$GL_DEV" bs="$len" count=1 seek="$off" oflag=direct,seek_bytes \
		conv=notrunc,fsync status=none || gl_fail "writing $file at $off failed"
	got=$(dd if="$GL_DEV" bs="$len" count=1 skip="$off" iflag=direct,skip_bytes status=none | sha256sum)
	gl_check "wrote $len bytes at offset $off during hydration and read them back" \
		[ "${got%% *}" = "$(gl_sha "$D/$file")" ]
	say "$(grep '^ok' "$GL_OUT/assertions.txt" | tail -n 1)"
	sleep 1
done <"$D/writes.txt"

wait "$WATCH_PID" || gl_fail "lunclone ctl watch: hydration did not complete"
WATCH_PID=
say "hydration complete; reading the whole LUN back through iSCSI"
gl_check "the whole LUN equals the source overlaid with the writes" \
	[ "$(gl_sha "$GL_DEV")" = "$(cat "$D/expected.sha256")" ]
say "$(grep '^ok' "$GL_OUT/assertions.txt" | tail -n 1)"
gl_iscsi_logout "$IQN"
gl_lio_remove "$NAME" clone "$IQN"
say "logged out, LUN removed (the clone's final commit is in $D/clone.meta)"
