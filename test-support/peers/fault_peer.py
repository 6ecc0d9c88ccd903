#!/usr/bin/env python3
"""The libzmq peers the fault tests kill: a zygote that forks one process per
libzmq socket, so a test can SIGKILL a peer at any moment and start the next
one in milliseconds instead of paying a Python start-up per round.

The zygote imports pyzmq but never makes a context (a forked child may not
share one); each child makes its own. Commands on stdin, one line each:

  pull EP        -> PID n   fork a child binding a PULL (LINGER 0) on EP (retrying
                            while the port is still taken); the child then prints
                            "BOUND n" and "M n HEX" for every message it receives
                            (n: its pid, HEX: the first 8 bytes of frame 0)
  push EP N SIZE PARTS -> PID n   fork a child connecting a PUSH to EP and
                            sending N messages of PARTS frames of SIZE bytes
                            each: bytes 0..8 the big-endian sequence number,
                            the rest that number's low byte; the child prints
                            "PUSHED n" when all were queued
  quit           -> BYE

Children write whole lines with one write(2) each, so their lines and the
zygote's never interleave mid-line on the shared stdout.
"""

import os
import signal
import sys
import time

import zmq


def line(text):
    os.write(1, (text + "\n").encode())


def child_pull(ep):
    ctx = zmq.Context()
    s = ctx.socket(zmq.PULL)
    s.linger = 0
    end = time.monotonic() + 10
    while True:
        try:
            s.bind(ep)
            break
        except zmq.ZMQError as e:
            if e.errno != zmq.EADDRINUSE or time.monotonic() > end:
                raise
            time.sleep(0.005)
    pid = os.getpid()
    line("BOUND %d" % pid)
    while True:
        frames = s.recv_multipart()
        line("M %d %s" % (pid, frames[0][:8].hex()))


def child_push(ep, n, size, parts):
    ctx = zmq.Context()
    s = ctx.socket(zmq.PUSH)
    s.linger = 0
    s.connect(ep)
    for seq in range(int(n)):
        head = seq.to_bytes(8, "big")
        frame = head + bytes([seq & 0xFF]) * (int(size) - 8)
        s.send_multipart([frame] * int(parts))
    line("PUSHED %d" % os.getpid())
    time.sleep(60)


def die_with_zygote():
    # PR_SET_PDEATHSIG: a child outlives neither the zygote nor the test that
    # killed it, so no orphan keeps a port.
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)
    except Exception:
        signal.alarm(60)


def fork(body, *args):
    pid = os.fork()
    if pid == 0:
        die_with_zygote()
        try:
            body(*args)
        except BaseException as e:  # a child never returns into the zygote's loop
            sys.stderr.write("fault_peer child: %r\n" % (e,))
        os._exit(0)
    return "PID %d" % pid


def main():
    # Children are reaped by the kernel: the tests SIGKILL them at will.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    signal.signal(signal.SIGALRM, lambda *_: os._exit(9))
    signal.alarm(int(os.environ.get("WATCHDOG", 120)))
    line("READY")
    commands = {"pull": child_pull, "push": child_push}
    for text in iter(sys.stdin.readline, ""):
        parts = text.split()
        if not parts:
            continue
        if parts[0] == "quit":
            line("BYE")
            break
        try:
            line(fork(commands[parts[0]], *parts[1:]))
        except Exception as e:
            line("ERR %s: %s" % (type(e).__name__, e))
    os._exit(0)


if __name__ == "__main__":
    main()
