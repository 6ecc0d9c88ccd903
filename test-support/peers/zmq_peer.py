#!/usr/bin/env python3
"""A scripted libzmq (pyzmq) peer with many sockets, for the runtime interop suite.

Started by zmq-test-support (test-support/src/peer.rs). Reads one command per
line on stdin and answers each with exactly one line on stdout. Frames are written as hex joined by "," with "-"
for an empty frame.

  new ID TYPE [KEY=VALUE ...]  -> OK            create socket ID (options below)
  bind ID EP                   -> OK LAST_EP
  connect ID EP                -> OK
  unbind ID EP / disconnect ID EP -> OK
  send ID FRAMES [MS]          -> OK | EAGAIN | ERR why   (retries EAGAIN and
                                  EHOSTUNREACH until MS, default 3000)
  recv ID MS                   -> MSG FRAMES | TIMEOUT
  recvn ID N MS                -> MSGS COUNT FRAMES;FRAMES;...  (up to N within MS)
  close ID                     -> OK
  monitor ID                   -> OK            start recording monitor events
  event ID NAMES MS            -> EVENT NAME VALUE | NOEVENT SEEN
                                  (first event whose name is in the comma list)
  zap MODE ARGS                -> OK            ZAP handler on inproc://zeromq.zap.01:
                                  "zap plain user:pass,..." allows those users,
                                  "zap curve Z85,..." allows those client keys
  zaplog                       -> ZAPLOG entry;entry  (MECH,cred-hex,status)
  pid                          -> PID n
  quit                         -> BYE

Options of "new": sndhwm rcvhwm linger routing_id(hex) subscribe(hex, "-" empty;
repeatable) plain_server plain_username plain_password curve_server
curve_secretkey curve_publickey curve_serverkey zap_domain heartbeat_ivl
heartbeat_timeout heartbeat_ttl reconnect_ivl immediate router_mandatory
xpub_verbose conflate ipv6.

A watchdog ends the process after WATCHDOG seconds (env, default 120) and EOF on
stdin ends it too, so nothing here can outlive a failed test.
"""

import os
import signal
import sys
import threading
import time

try:
    import zmq
    import zmq.utils.z85
    from zmq.utils.monitor import recv_monitor_message
except ImportError as exc:  # pragma: no cover - reported to the Rust side
    sys.stderr.write(
        "zmq_peer: cannot import pyzmq (%s); install it with: "
        "pip install -r requirements-test.txt\n" % exc
    )
    sys.exit(3)

TYPES = {
    name: getattr(zmq, name)
    for name in (
        "PAIR PUB SUB REQ REP DEALER ROUTER PULL PUSH XPUB XSUB".split()
    )
}

INT_OPTS = {
    "sndhwm": zmq.SNDHWM,
    "rcvhwm": zmq.RCVHWM,
    "linger": zmq.LINGER,
    "heartbeat_ivl": zmq.HEARTBEAT_IVL,
    "heartbeat_timeout": zmq.HEARTBEAT_TIMEOUT,
    "heartbeat_ttl": zmq.HEARTBEAT_TTL,
    "reconnect_ivl": zmq.RECONNECT_IVL,
    "immediate": zmq.IMMEDIATE,
    "router_mandatory": zmq.ROUTER_MANDATORY,
    "xpub_verbose": zmq.XPUB_VERBOSE,
    "conflate": zmq.CONFLATE,
    "ipv6": zmq.IPV6,
    "plain_server": zmq.PLAIN_SERVER,
    "curve_server": zmq.CURVE_SERVER,
}

STR_OPTS = {
    "plain_username": zmq.PLAIN_USERNAME,
    "plain_password": zmq.PLAIN_PASSWORD,
    "curve_secretkey": zmq.CURVE_SECRETKEY,
    "curve_publickey": zmq.CURVE_PUBLICKEY,
    "curve_serverkey": zmq.CURVE_SERVERKEY,
    "zap_domain": zmq.ZAP_DOMAIN,
}

EVENT_NAMES = {
    getattr(zmq, n): n[len("EVENT_"):]
    for n in dir(zmq)
    if n.startswith("EVENT_") and n not in ("EVENT_ALL", "EVENT_ALL_V1", "EVENT_ALL_V2")
}

ctx = zmq.Context()
sockets = {}
monitors = {}
zaplog = []


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def frames_to_text(frames):
    return ",".join(f.hex() if f else "-" for f in frames)


def text_to_frames(text):
    return [b"" if p == "-" else bytes.fromhex(p) for p in text.split(",")]


def cmd_new(sid, kind, *opts):
    s = ctx.socket(TYPES[kind])
    s.setsockopt(zmq.LINGER, 0)
    for opt in opts:
        key, _, value = opt.partition("=")
        if key in INT_OPTS:
            s.setsockopt(INT_OPTS[key], int(value))
        elif key in STR_OPTS:
            s.setsockopt(STR_OPTS[key], value.encode())
        elif key == "routing_id":
            s.setsockopt(zmq.ROUTING_ID, bytes.fromhex(value))
        elif key == "subscribe":
            s.setsockopt(zmq.SUBSCRIBE, b"" if value == "-" else bytes.fromhex(value))
        else:
            raise ValueError("unknown option " + key)
    sockets[sid] = s
    return "OK"


def cmd_bind(sid, ep):
    s = sockets[sid]
    s.bind(ep)
    return "OK " + s.getsockopt(zmq.LAST_ENDPOINT).decode()


def cmd_send(sid, text, ms="3000"):
    s = sockets[sid]
    frames = text_to_frames(text)
    end = time.monotonic() + int(ms) / 1000.0
    while True:
        try:
            s.send_multipart(frames, flags=zmq.NOBLOCK)
            return "OK"
        except zmq.ZMQError as e:
            if e.errno not in (zmq.EAGAIN, zmq.EHOSTUNREACH):
                return "ERR " + str(e)
            if time.monotonic() >= end:
                return "EAGAIN"
            time.sleep(0.002)


def cmd_recv(sid, ms):
    s = sockets[sid]
    if s.poll(int(ms), zmq.POLLIN):
        return "MSG " + frames_to_text(s.recv_multipart())
    return "TIMEOUT"


def cmd_recvn(sid, n, ms):
    s = sockets[sid]
    got = []
    end = time.monotonic() + int(ms) / 1000.0
    while len(got) < int(n):
        left = int((end - time.monotonic()) * 1000)
        if left <= 0 or not s.poll(left, zmq.POLLIN):
            break
        got.append(frames_to_text(s.recv_multipart()))
    return "MSGS %d %s" % (len(got), ";".join(got))


def cmd_close(sid):
    sockets.pop(sid).close(0)
    m = monitors.pop(sid, None)
    if m is not None:
        m[0].close(0)
    return "OK"


def cmd_monitor(sid):
    s = sockets[sid]
    m = s.get_monitor_socket()
    monitors[sid] = (m, [])
    return "OK"


def cmd_event(sid, names, ms):
    m, seen = monitors[sid]
    wanted = names.split(",")
    end = time.monotonic() + int(ms) / 1000.0
    while True:
        left = int((end - time.monotonic()) * 1000)
        if left <= 0 or not m.poll(left):
            return "NOEVENT " + ",".join(seen)
        ev = recv_monitor_message(m)
        name = EVENT_NAMES.get(ev["event"], str(ev["event"]))
        seen.append("%s:%s" % (name, ev["value"]))
        if name in wanted:
            return "EVENT %s %s" % (name, ev["value"])


def zap_handler(mode, allowed, ready):
    z = ctx.socket(zmq.REP)
    z.setsockopt(zmq.LINGER, 0)
    z.bind("inproc://zeromq.zap.01")
    ready.set()
    while True:
        try:
            msg = z.recv_multipart()
        except zmq.ZMQError:
            return
        version, request_id, _domain, _address, _identity, mech = msg[:6]
        creds = msg[6:]
        if mech == b"PLAIN":
            ok = mode == "plain" and b":".join(creds) in allowed
        elif mech == b"CURVE":
            ok = mode == "curve" and zmq.utils.z85.encode(creds[0]) in allowed
        else:
            ok = True
        status = b"200" if ok else b"400"
        zaplog.append("%s,%s,%s" % (mech.decode(), b":".join(creds).hex(), status.decode()))
        # An empty user id: with a non-empty one, libzmq 4.3.5's REQ (as a PLAIN
        # or CURVE server) drops the connection on the reply that follows.
        z.send_multipart([version, request_id, status, b"OK" if ok else b"denied", b"", b""])


def cmd_zap(mode, args):
    allowed = set(a.encode() for a in args.split(","))
    ready = threading.Event()
    threading.Thread(target=zap_handler, args=(mode, allowed, ready), daemon=True).start()
    ready.wait(5)
    return "OK"


def main():
    watchdog = int(os.environ.get("WATCHDOG", "120"))
    signal.signal(signal.SIGALRM, lambda *_: os._exit(9))
    signal.alarm(watchdog)
    out("READY")
    handlers = {
        "new": cmd_new,
        "bind": cmd_bind,
        "connect": lambda sid, ep: (sockets[sid].connect(ep), "OK")[1],
        "unbind": lambda sid, ep: (sockets[sid].unbind(ep), "OK")[1],
        "disconnect": lambda sid, ep: (sockets[sid].disconnect(ep), "OK")[1],
        "send": cmd_send,
        "recv": cmd_recv,
        "recvn": cmd_recvn,
        "close": cmd_close,
        "monitor": cmd_monitor,
        "event": cmd_event,
        "zap": cmd_zap,
        "zaplog": lambda: "ZAPLOG " + ";".join(zaplog),
        "pid": lambda: "PID %d" % os.getpid(),
    }
    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "quit":
            out("BYE")
            break
        try:
            out(handlers[parts[0]](*parts[1:]))
        except Exception as e:  # answer, so the Rust side sees what went wrong
            out("ERR %s: %s" % (type(e).__name__, str(e).replace("\n", " ")))
    os._exit(0)


if __name__ == "__main__":
    main()
