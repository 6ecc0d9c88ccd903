#!/usr/bin/env python3
"""libzmq's four perf tools (local_thr, remote_thr, local_lat, remote_lat) on
pyzmq's libzmq, with their arguments and output, for `zmq perf` interop tests.

  perf_peer.py local-thr  EP SIZE COUNT   binds PULL, prints throughput
  perf_peer.py remote-thr EP SIZE COUNT   connects PUSH, sends
  perf_peer.py local-lat  EP SIZE COUNT   binds REP, echoes
  perf_peer.py remote-lat EP SIZE COUNT   connects REQ, prints latency
  perf_peer.py local-sub  EP SIZE COUNT   connects SUB, counts received/lost
  perf_peer.py remote-pub EP SIZE COUNT NSUBS
                                          binds XPUB, waits for NSUBS, publishes

The last two are ../shared/bench/libzmq-perf's local_sub.c and remote_pub.c
(PERF_HWM=N sets RCVHWM / SNDHWM, 0 = no limit).
A binding side prints "BOUND <endpoint>" on stderr once it listens.
"""

import os
import sys
import time

import zmq


def local_sub(ctx, ep, size, count):
    s = ctx.socket(zmq.SUB)
    s.setsockopt(zmq.SUBSCRIBE, b"")
    s.setsockopt(zmq.LINGER, 0)
    if "PERF_HWM" in os.environ:
        s.setsockopt(zmq.RCVHWM, int(os.environ["PERF_HWM"]))
    s.connect(ep)
    received, start, last = 0, 0.0, 0.0
    while True:
        try:
            msg = s.recv(copy=False)
        except zmq.Again:
            sys.stderr.write("local_sub: 5 s without a message; no end marker\n")
            break
        if len(msg) == 0:
            break
        assert len(msg) == size, "message of incorrect size received"
        last = time.monotonic()
        if received == 0:
            start = last
            s.setsockopt(zmq.RCVTIMEO, 5000)
        received += 1
    elapsed = max(int((last - start) * 1e6), 1)
    throughput = int(received / elapsed * 1000000)
    print("message size: %d [B]" % size)
    print("message count: %d" % count)
    print("received: %d" % received)
    print("lost: %d" % (count - received))
    print("mean throughput: %d [msg/s]" % throughput)
    print("mean throughput: %.3f [Mb/s]" % (throughput * size * 8 / 1000000))
    sys.stdout.flush()
    s.close()
    ctx.term()
    sys.exit(0 if received > 0 else 1)


def remote_pub(ctx, ep, size, count, nsubs):
    s = ctx.socket(zmq.XPUB)
    s.setsockopt(zmq.XPUB_VERBOSE, 1)
    s.setsockopt(zmq.LINGER, 0)
    if "PERF_HWM" in os.environ:
        s.setsockopt(zmq.SNDHWM, int(os.environ["PERF_HWM"]))
    s.bind(ep)
    sys.stderr.write("BOUND %s\n" % s.getsockopt(zmq.LAST_ENDPOINT).decode())
    sys.stderr.flush()
    subs = 0
    while subs < nsubs:
        m = s.recv()
        if m[:1] == b"\x01":
            subs += 1
    payload = b"\0" * size
    start = time.monotonic()
    for _ in range(count):
        s.send(payload)
    elapsed = max(int((time.monotonic() - start) * 1e6), 1)
    print("subscribers: %d" % nsubs)
    print("publish rate: %d [msg/s]" % int(count / elapsed * 1000000))
    sys.stdout.flush()
    for _ in range(200):
        try:
            s.send(b"", zmq.DONTWAIT)
        except zmq.Again:
            pass
        time.sleep(0.01)
    s.close()
    ctx.term()


def main():
    mode, ep, size, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    ctx = zmq.Context()
    if mode == "local-sub":
        return local_sub(ctx, ep, size, count)
    if mode == "remote-pub":
        return remote_pub(ctx, ep, size, count, int(sys.argv[5]))
    kind = {"local-thr": zmq.PULL, "remote-thr": zmq.PUSH, "local-lat": zmq.REP, "remote-lat": zmq.REQ}[mode]
    s = ctx.socket(kind)
    if mode.startswith("local"):
        s.bind(ep)
        sys.stderr.write("BOUND %s\n" % s.getsockopt(zmq.LAST_ENDPOINT).decode())
        sys.stderr.flush()
    else:
        s.connect(ep)
    if mode == "local-thr":
        msg = s.recv(copy=False)
        assert len(msg) == size, "message of incorrect size received"
        start = time.monotonic()
        for _ in range(count - 1):
            assert len(s.recv(copy=False)) == size, "message of incorrect size received"
        elapsed = max(int((time.monotonic() - start) * 1e6), 1)
        throughput = int(count / elapsed * 1000000)
        print("message size: %d [B]" % size)
        print("message count: %d" % count)
        print("mean throughput: %d [msg/s]" % throughput)
        print("mean throughput: %.3f [Mb/s]" % (throughput * size * 8 / 1000000))
    elif mode == "remote-thr":
        payload = b"\0" * size
        for _ in range(count):
            s.send(payload)
    elif mode == "local-lat":
        for _ in range(count):
            s.send(s.recv())
    else:
        payload = b"\0" * size
        start = time.monotonic()
        for _ in range(count):
            s.send(payload)
            assert len(s.recv()) == size, "message of incorrect size received"
        elapsed = (time.monotonic() - start) * 1e6
        print("message size: %d [B]" % size)
        print("roundtrip count: %d" % count)
        print("average latency: %.3f [us]" % (elapsed / (count * 2)))
    sys.stdout.flush()
    s.close()
    ctx.term()


if __name__ == "__main__":
    main()
