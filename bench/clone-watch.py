#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Polls a clone until it is hydrated, from one process, for the benchmarks.

Usage: clone-watch.py dm NAME INTERVAL_MS READY_FILE
       clone-watch.py lunclone SOCKET INTERVAL_MS READY_FILE

Creates READY_FILE once started, then waits for the clone to exist (the dm
device NAME; lunclone's status SOCKET), then prints "epoch-seconds hydrated
total" (regions) at every poll and exits 0 once it is complete: dm-clone's
hydrated == total; lunclone's state=complete (hydrated and committed).
Exits 1 when the clone can never complete (lunclone degraded or read-only)
or on an error.

Why: bench/guest-hydration.sh times both clones to 100 % by polling them at
the same interval. In a one-CPU UML guest the poller's own CPU is taken
from the copy it times: `dmsetup status` every 100 ms cost dm-clone ~30 %
of its rate (a process per poll), and a bash loop reading `lunclone ctl
watch` every 20 ms cost lunclone ~10 %. One Python process, started (and
its start-up paid) before the clock starts, asking the kernel directly
(the DM_TABLE_STATUS ioctl, as dmsetup does) or lunclone's socket, costs
each the same little.
"""
import errno
import fcntl
import os
import socket
import struct
import sys
import time

# struct dm_ioctl (linux/dm-ioctl.h): version[3], data_size, data_start,
# target_count, open_count, flags, event_nr, padding (u32 each), dev (u64),
# name[128], uuid[129], data[7]: 312 bytes.
DM_IOCTL = struct.Struct("=3IIIIiIII Q 128s 129s 7s")
# struct dm_target_spec: sector_start, length (u64), status (s32), next
# (u32), target_type[16]; the status text follows it.
DM_TARGET_SPEC = struct.Struct("=QQiI16s")
DM_TABLE_STATUS = (3 << 30) | (DM_IOCTL.size << 16) | (0xFD << 8) | 12
DM_BUF_SIZE = 16384


class NotYet(Exception):
    """The clone does not exist yet."""


def dm_status(ctl, name):
    """dm-clone's (hydrated, total, complete) from its status line."""
    head = DM_IOCTL.pack(4, 0, 0, DM_BUF_SIZE, DM_IOCTL.size, 0, 0, 0, 0, 0, 0,
                         name.encode(), b"", b"")
    buf = bytearray(head + bytes(DM_BUF_SIZE - len(head)))
    try:
        fcntl.ioctl(ctl, DM_TABLE_STATUS, buf)
    except OSError as e:
        if e.errno == errno.ENXIO:
            raise NotYet from e
        raise
    fields = DM_IOCTL.unpack_from(buf)
    data_start, target_count = fields[4], fields[5]
    if target_count == 0:
        raise NotYet  # created, its table not loaded yet
    spec = DM_TARGET_SPEC.unpack_from(buf, data_start)
    if target_count != 1 or spec[4].rstrip(b"\0") != b"clone":
        raise RuntimeError(f"{name}: not one dm-clone target")
    text = buf[data_start + DM_TARGET_SPEC.size:]
    # "<meta block size> <used>/<total meta blocks> <region size>
    # <hydrated>/<total regions> ..." (dm-clone's documentation)
    hydrated, total = map(int, text[:text.index(0)].decode().split()[3].split("/"))
    return hydrated, total, hydrated == total


def lunclone_status(path):
    """lunclone's (hydrated, total, complete) from its status socket."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            s.connect(path)
        except (FileNotFoundError, ConnectionRefusedError) as e:
            raise NotYet from e
        s.sendall(b"status\n")
        reply = b""
        while chunk := s.recv(4096):
            reply += chunk
    finally:
        s.close()
    kv = dict(line.split("=", 1) for line in reply.decode().splitlines() if "=" in line)
    if "state" not in kv:
        raise RuntimeError(f"{path}: unexpected reply {reply[:80]!r}")
    if kv["state"] in ("degraded", "read-only"):
        raise RuntimeError(f"{path}: the clone is {kv['state']}: it cannot complete")
    return int(kv["regions_hydrated"]), int(kv["regions_total"]), kv["state"] == "complete"


def main():
    if len(sys.argv) != 5 or sys.argv[1] not in ("dm", "lunclone"):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    kind, target, interval, ready = sys.argv[1], sys.argv[2], int(sys.argv[3]) / 1000, sys.argv[4]
    ctl = os.open("/dev/mapper/control", os.O_RDWR) if kind == "dm" else None
    open(ready, "w").close()
    try:
        while True:
            try:
                hydrated, total, done = (dm_status(ctl, target) if kind == "dm"
                                         else lunclone_status(target))
            except NotYet:
                time.sleep(0.005)
                continue
            print(f"{time.time():.6f} {hydrated} {total}", flush=True)
            if done:
                return 0
            time.sleep(interval)
    except (OSError, RuntimeError, ValueError, IndexError, KeyError) as e:
        print(f"clone-watch: {e}", file=sys.stderr)
        return 1
    finally:
        if ctl is not None:
            os.close(ctl)


if __name__ == "__main__":
    sys.exit(main())
