#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A stand-in for handler_clone.so's status sockets (handler_clone(8)), for
tests of luncloned's control socket without LIO or tcmu-runner.

Usage: fake_handler.py DIR LOG NAME[:MODE]...

Serves DIR/NAME.sock for each NAME, speaking the handler's protocol: one
request line (at most 128 bytes) per connection, then the reply and a close.
Every request is appended to LOG as "NAME REQUEST". MODE:
  hydrating  (default) 10 regions of 1 MiB; each status hydrates 2 more,
             until complete; pause/resume/throttle change what status says
  error      every request gets "error: fake failure"
  garbage    every request gets a reply that is not the protocol
DIR/ready is created once every socket listens.
"""
import os
import socket
import sys
import threading

MIB = 1 << 20


class Device:
    def __init__(self, name, mode):
        self.name = name
        self.mode = mode
        self.hydrated = 0
        self.total = 10
        self.paused = False
        self.rate_limit = 0
        self.lock = threading.Lock()

    def status(self):
        if not self.paused and self.hydrated < self.total:
            self.hydrated = min(self.total, self.hydrated + 2)
        if self.hydrated == self.total:
            state = "complete"
        elif self.paused:
            state = "paused"
        else:
            state = "hydrating"
        left = (self.total - self.hydrated) * MIB
        rate = 0 if self.paused or state == "complete" else 4 * MIB
        eta = 0 if left == 0 else (left // rate if rate else "unknown")
        pct = "%.2f" % (100.0 * self.hydrated / self.total)
        return ("state=%s\nregions_hydrated=%d\nregions_total=%d\nregion_size=%d\n"
                "percent=%s\nrate=%d\neta=%s\nquarantined=0\nrate_limit=%d\n"
                "last_error=0\n" % (state, self.hydrated, self.total, MIB, pct, rate, eta,
                                    self.rate_limit))

    def answer(self, line):
        if self.mode == "error":
            return "error: fake failure\n"
        if self.mode == "garbage":
            return "this is not the protocol\n"
        words = line.split(" ")
        with self.lock:
            if words == ["status"]:
                return self.status()
            if words == ["pause"]:
                self.paused = True
                return "ok\n"
            if words == ["resume"]:
                self.paused = False
                return "ok\n"
            if len(words) == 2 and words[0] == "throttle" and words[1].isdigit():
                self.rate_limit = int(words[1]) * MIB
                return "ok\n"
        return "error: unknown verb\n"


def serve(dev, sock, log, log_lock):
    while True:
        conn, _ = sock.accept()
        with conn:
            conn.settimeout(2)
            data = b""
            try:
                while b"\n" not in data and len(data) <= 128:
                    chunk = conn.recv(129 - len(data))
                    if not chunk:
                        break
                    data += chunk
            except OSError:
                continue
            line = data.decode(errors="replace").rstrip("\n")
            with log_lock:
                log.write("%s %s\n" % (dev.name, line))
                log.flush()
            try:
                conn.sendall(dev.answer(line).encode())
            except OSError:
                pass


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    directory, log_path = sys.argv[1], sys.argv[2]
    log = open(log_path, "a")
    log_lock = threading.Lock()
    threads = []
    for arg in sys.argv[3:]:
        name, _, mode = arg.partition(":")
        path = os.path.join(directory, name + ".sock")
        if os.path.exists(path):
            os.unlink(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(path)
        sock.listen(8)
        t = threading.Thread(target=serve, args=(Device(name, mode or "hydrating"), sock,
                                                  log, log_lock), daemon=True)
        t.start()
        threads.append(t)
    open(os.path.join(directory, "ready"), "w").close()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
