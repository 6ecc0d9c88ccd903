#!/usr/bin/env python3
"""libzmq's four perf tools (local_thr, remote_thr, local_lat, remote_lat) on
pyzmq's libzmq, with their arguments and output, for `zmq perf` interop tests.

  perf_peer.py local-thr  EP SIZE COUNT   binds PULL, prints throughput
  perf_peer.py remote-thr EP SIZE COUNT   connects PUSH, sends
  perf_peer.py local-lat  EP SIZE COUNT   binds REP, echoes
  perf_peer.py remote-lat EP SIZE COUNT   connects REQ, prints latency

A binding side prints "BOUND <endpoint>" on stderr once it listens.
"""

import sys
import time

import zmq


def main():
    mode, ep, size, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    ctx = zmq.Context()
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
