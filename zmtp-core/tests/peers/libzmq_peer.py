#!/usr/bin/env python3
"""A scripted libzmq (pyzmq) peer for zmtp-core's interop tests.

Started by tests/interop_libzmq.rs. One socket, set up from argv, then driven by
one-line commands on stdin; every command answers with exactly one line on stdout.

Setup (argv):
  --type ROUTER|DEALER|REP|REQ|PUB|SUB|XPUB|XSUB|PAIR|PUSH|PULL
  --bind                      bind tcp://127.0.0.1:* and print "PORT <n>" first
  --connect tcp://HOST:PORT   connect and print "READY" first
  --routing-id HEX            ZMQ_ROUTING_ID
  --subscribe HEX             ZMQ_SUBSCRIBE (repeatable; "-" = empty topic)
  --plain-server              ZMQ_PLAIN_SERVER (needs the ZAP handler below)
  --plain-client USER:PASS    ZMQ_PLAIN_USERNAME / ZMQ_PLAIN_PASSWORD
  --curve-server=SECRET_Z85   ZMQ_CURVE_SERVER with this secret key
  --curve-client=SERVERKEY_Z85,PUBLIC_Z85,SECRET_Z85
  --zap-plain USER:PASS       start a ZAP handler allowing these credentials
  --zap-curve=PUBLIC_Z85      start a ZAP handler allowing this client key
  --heartbeat IVL_MS:TIMEOUT_MS
  --monitor                   record socket monitor events (see "event")

Commands (stdin) and answers (stdout):
  send SPEC          -> "SENT"               (SPEC: frames joined by ",";
                                               "-" = empty frame, "*N" = N pattern
                                               bytes i % 251, else hex)
  recv [MS]          -> "MSG f1 f2 ..." (hex, "-" for empty) or "TIMEOUT"
  event NAMES MS     -> "EVENT NAME VALUE" for the first monitor event whose name
                        is in the comma-separated NAMES, or "NOEVENT seen=..."
                        (events passed over are remembered: see "seen")
  seen               -> "SEEN name:value,..." every monitor event read so far
  zaplog             -> "ZAPLOG entry;entry" (entry: "MECH cred1hex cred2hex status")
  quit               -> "BYE", then exit 0

Every socket gets LINGER and RCVTIMEO/SNDTIMEO so nothing here can hang; a watchdog
alarm ends the process after 40 s regardless, and EOF on stdin ends it too.
"""

import argparse
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
        "libzmq_peer: cannot import pyzmq (%s); "
        "install it with: pip install -r requirements-test.txt\n" % exc
    )
    sys.exit(3)

TIMEOUT_MS = 5000


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def fail(msg):
    sys.stderr.write("libzmq_peer: %s\n" % msg)
    sys.stderr.flush()
    out("ERROR " + msg)
    sys.exit(2)


def pattern(n):
    base = bytes(range(251))
    return (base * (n // 251 + 1))[:n]


def parse_frames(spec):
    frames = []
    for part in spec.split(","):
        if part == "-":
            frames.append(b"")
        elif part.startswith("*"):
            frames.append(pattern(int(part[1:])))
        else:
            frames.append(bytes.fromhex(part))
    return frames


def fmt_frames(frames):
    return "MSG " + " ".join(f.hex() if f else "-" for f in frames)


def event_name(ev):
    try:
        return zmq.Event(ev).name
    except Exception:  # unknown numbers stay numeric
        return str(int(ev))


class ZapHandler(threading.Thread):
    """A hand-written ZAP handler (RFC 27) on inproc://zeromq.zap.01."""

    def __init__(self, ctx, plain, curve):
        super().__init__(daemon=True)
        self.plain = plain  # (user, password) bytes or None
        self.curve = curve  # z85 bytes or None
        self.log = []
        self.lock = threading.Lock()
        self.stopping = False
        # Bound here, before the server socket exists, so no handshake misses it.
        self.sock = ctx.socket(zmq.REP)
        self.sock.linger = 0
        self.sock.bind("inproc://zeromq.zap.01")

    def run(self):
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        while not self.stopping:
            if not dict(poller.poll(50)):
                continue
            req = self.sock.recv_multipart()
            version, request_id, _domain, _address, _identity, mechanism = req[:6]
            creds = req[6:]
            status = b"400"
            if mechanism == b"PLAIN" and self.plain is not None:
                if len(creds) == 2 and (creds[0], creds[1]) == self.plain:
                    status = b"200"
            elif mechanism == b"CURVE" and self.curve is not None:
                if len(creds) == 1 and zmq.utils.z85.encode(creds[0]) == self.curve:
                    status = b"200"
            with self.lock:
                entry = [mechanism.decode()] + [c.hex() or "-" for c in creds]
                self.log.append(" ".join(entry + [status.decode()]))
            text = b"OK" if status == b"200" else b"denied"
            self.sock.send_multipart([version, request_id, status, text, b"zap-user", b""])
        self.sock.close()

    def entries(self):
        with self.lock:
            return list(self.log)


def main():
    signal.alarm(40)
    p = argparse.ArgumentParser()
    p.add_argument("--type", required=True)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--bind", action="store_true")
    g.add_argument("--connect")
    p.add_argument("--routing-id")
    p.add_argument("--subscribe", action="append", default=[])
    p.add_argument("--plain-server", action="store_true")
    p.add_argument("--plain-client")
    p.add_argument("--curve-server")
    p.add_argument("--curve-client")
    p.add_argument("--zap-plain")
    p.add_argument("--zap-curve")
    p.add_argument("--heartbeat")
    p.add_argument("--monitor", action="store_true")
    args = p.parse_args()

    if not zmq.has("curve") and (args.curve_server or args.curve_client):
        fail("this libzmq has no CURVE support; reinstall pyzmq (pip install -r requirements-test.txt)")

    ctx = zmq.Context()
    zap = None
    if args.zap_plain or args.zap_curve:
        plain = None
        if args.zap_plain:
            user, _, password = args.zap_plain.partition(":")
            plain = (user.encode(), password.encode())
        curve = args.zap_curve.encode() if args.zap_curve else None
        zap = ZapHandler(ctx, plain, curve)
        zap.start()

    sock = ctx.socket(getattr(zmq, args.type))
    sock.linger = 200
    sock.rcvtimeo = TIMEOUT_MS
    sock.sndtimeo = TIMEOUT_MS
    if args.routing_id:
        sock.routing_id = bytes.fromhex(args.routing_id)
    for topic in args.subscribe:
        sock.setsockopt(zmq.SUBSCRIBE, b"" if topic == "-" else bytes.fromhex(topic))
    if args.plain_server:
        sock.plain_server = True
    if args.plain_client:
        user, _, password = args.plain_client.partition(":")
        sock.plain_username = user.encode()
        sock.plain_password = password.encode()
    if args.curve_server:
        secret = args.curve_server.encode()
        sock.curve_server = True
        sock.curve_secretkey = secret
        sock.curve_publickey = zmq.curve_public(secret)
    if args.curve_client:
        server_key, public, secret = args.curve_client.split(",")
        sock.curve_serverkey = server_key.encode()
        sock.curve_publickey = public.encode()
        sock.curve_secretkey = secret.encode()
    if args.heartbeat:
        ivl, _, timeout = args.heartbeat.partition(":")
        sock.heartbeat_ivl = int(ivl)
        sock.heartbeat_timeout = int(timeout or ivl)

    mon = None
    seen = []
    if args.monitor:
        mon = sock.get_monitor_socket()
        mon.linger = 0

    if args.bind:
        sock.bind("tcp://127.0.0.1:*")
        endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)
        out("PORT %s" % endpoint.rsplit(":", 1)[1])
    else:
        sock.connect(args.connect)
        out("READY")

    def wait_event(names, ms):
        if mon is None:
            fail("event needs --monitor")
        poller = zmq.Poller()
        poller.register(mon, zmq.POLLIN)
        end = time.monotonic() + ms / 1000.0
        while True:
            left = int((end - time.monotonic()) * 1000)
            if left <= 0 or not dict(poller.poll(left)):
                return None
            ev = recv_monitor_message(mon)
            name = event_name(ev["event"])
            seen.append("%s:%s" % (name, ev["value"]))
            if name in names:
                return "EVENT %s %s" % (name, ev["value"])

    for line in iter(sys.stdin.readline, ""):
        parts = line.strip().split(" ")
        cmd, rest = parts[0], parts[1:]
        if cmd == "send":
            frames = parse_frames(rest[0] if rest else "-")
            try:
                sock.send_multipart(frames)
            except zmq.Again:
                fail("send timed out")
            out("SENT")
        elif cmd == "recv":
            ms = int(rest[0]) if rest else TIMEOUT_MS
            if sock.poll(ms, zmq.POLLIN):
                out(fmt_frames(sock.recv_multipart()))
            else:
                out("TIMEOUT")
        elif cmd == "event":
            found = wait_event(rest[0].split(","), int(rest[1]))
            out(found or "NOEVENT seen=" + ",".join(seen))
        elif cmd == "seen":
            if mon is not None:
                while mon.poll(0, zmq.POLLIN):
                    ev = recv_monitor_message(mon)
                    seen.append("%s:%s" % (event_name(ev["event"]), ev["value"]))
            out("SEEN " + ",".join(seen))
        elif cmd == "zaplog":
            out("ZAPLOG " + (";".join(zap.entries()) if zap else ""))
        elif cmd == "quit":
            out("BYE")
            break
        else:
            fail("unknown command %r" % line)

    if mon is not None:
        sock.disable_monitor()
        mon.close()
    sock.close()
    if zap is not None:
        zap.stopping = True
        zap.join(2)
    ctx.term()


if __name__ == "__main__":
    main()
