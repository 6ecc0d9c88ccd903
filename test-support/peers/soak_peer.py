#!/usr/bin/env python3
"""The libzmq side of `zmq soak`: four CURVE servers in one process, served
by one loop, while the Rust side connects to each.

  soak_peer.py SERVER_SECRET_Z85

binds, on tcp://127.0.0.1:*, a PULL (checks the sequence numbers our PUSH
sends), a REP (echoes), a PUB (publishes sequence numbers while running) and a
ROUTER (echoes to the sender), then prints "PORTS pull rep pub router".
Commands on stdin:

  stop N  -> STATS moved dup reordered lost published   once the PULL has seen
             sequence number N-1 (or 10 s passed): PUB stops, the PULL's tally
  quit    -> BYE
"""

import os
import sys
import time

import zmq


class Seq:
    """moved: distinct numbers seen; lost: gaps not filled later; dup: seen
    twice; reordered: arrived after a later one (filled a gap)."""

    def __init__(self):
        self.next = 0
        self.moved = self.dup = self.reordered = 0
        self.gaps = set()

    def see(self, n):
        if n == self.next:
            self.moved += 1
            self.next += 1
        elif n > self.next:
            self.gaps.update(range(self.next, n))
            self.moved += 1
            self.next = n + 1
        elif n in self.gaps:
            self.gaps.discard(n)
            self.moved += 1
            self.reordered += 1
        else:
            self.dup += 1


def main():
    secret = sys.argv[1].encode()
    ctx = zmq.Context()
    socks = {}
    for name, kind in [("pull", zmq.PULL), ("rep", zmq.REP), ("pub", zmq.PUB), ("router", zmq.ROUTER)]:
        s = ctx.socket(kind)
        s.linger = 0
        s.curve_server = True
        s.curve_secretkey = secret
        s.curve_publickey = zmq.curve_public(secret)
        s.bind("tcp://127.0.0.1:*")
        socks[name] = s
    ports = [socks[n].getsockopt_string(zmq.LAST_ENDPOINT).rsplit(":", 1)[1] for n in ("pull", "rep", "pub", "router")]
    os.write(1, ("PORTS %s\n" % " ".join(ports)).encode())

    poller = zmq.Poller()
    for n in ("pull", "rep", "router"):
        poller.register(socks[n], zmq.POLLIN)
    poller.register(sys.stdin.fileno(), zmq.POLLIN)
    seq = Seq()
    published = 0
    publishing = True
    stop_at = None
    deadline = None
    pull, rep, router, pub = socks["pull"], socks["rep"], socks["router"], socks["pub"]
    while True:
        ready = dict(poller.poll(2))
        for _ in range(1000):
            try:
                seq.see(int.from_bytes(pull.recv(zmq.NOBLOCK)[:8], "big"))
            except zmq.Again:
                break
        for _ in range(200):
            try:
                rep.send(rep.recv(zmq.NOBLOCK))
            except zmq.Again:
                break
        for _ in range(200):
            try:
                router.send_multipart(router.recv_multipart(zmq.NOBLOCK))
            except zmq.Again:
                break
        if publishing:
            for _ in range(20):
                try:
                    pub.send(published.to_bytes(8, "big") + b"p" * 56, zmq.NOBLOCK)
                    published += 1
                except zmq.Again:
                    break
        if stop_at is not None and (seq.next >= stop_at or time.monotonic() > deadline):
            lost = len(seq.gaps) + max(0, stop_at - seq.next)
            os.write(1, ("STATS %d %d %d %d %d\n" % (seq.moved, seq.dup, seq.reordered, lost, published)).encode())
            stop_at = None
        if ready.get(sys.stdin.fileno()):
            line = sys.stdin.readline()
            parts = line.split()
            if not parts or parts[0] == "quit":
                os.write(1, b"BYE\n")
                break
            if parts[0] == "stop":
                publishing = False
                stop_at = int(parts[1])
                deadline = time.monotonic() + 10
    for s in socks.values():
        s.close(0)
    ctx.term()


if __name__ == "__main__":
    main()
