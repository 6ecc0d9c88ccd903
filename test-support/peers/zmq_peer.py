#!/usr/bin/env python3
"""The libzmq (pyzmq) peer of the workspace's interop tests.

Spawned by zmq-test-support (test-support/src/python.rs), which finds it next to
its own manifest. It reads one command per line on stdin and answers each with
exactly one line on stdout. Two front ends share the sockets, the ZAP handler,
the monitor bookkeeping and the frame codec below:

MANY SOCKETS (no arguments; the runtime suite and the zmq-cli tests). Prints
"READY", then:

  new ID TYPE [KEY=VALUE ...]  -> OK            create socket ID (options below)
  bind ID EP                   -> OK LAST_EP
  connect ID EP                -> OK
  unbind ID EP / disconnect ID EP -> OK
  send ID FRAMES [MS]          -> OK | EAGAIN | ERR why   (retries EAGAIN and
                                  EHOSTUNREACH until MS, default 3000)
  recv ID MS                   -> MSG FRAMES | TIMEOUT
  recvn ID N MS                -> MSGS COUNT FRAMES;FRAMES;...  (up to N within MS)
  recvprops ID MS NAMES        -> MSG FRAMES PROPS V,V,... | TIMEOUT   the message's
                                  properties (zmq_msg_gets) for the comma list
                                  NAMES, each value hex ("-" empty, "?" absent)
  close ID                     -> OK
  events ID                    -> OK n          ZMQ_EVENTS: lets libzmq process
                                  its commands (a STREAM's close by an empty
                                  frame takes effect only then)
  monitor ID                   -> OK            start recording monitor events
  event ID NAMES MS            -> EVENT NAME VALUE | NOEVENT SEEN
                                  (first event whose name is in the comma list)
  zap MODE ARGS                -> OK            ZAP handler on inproc://zeromq.zap.01:
                                  "zap plain user:pass,..." allows those users,
                                  "zap curve Z85,..." allows those client keys
                                  (and any other mechanism)
  zapgrant USER [K=V,...]      -> OK            the running ZAP handler allows
                                  with this user id and these metadata properties
  zaplog                       -> ZAPLOG entry;entry  (entry: MECH CRED1HEX ... STATUS)
  pid                          -> PID n
  tmpdir PATH                  -> OK            TMPDIR for later ipc://* binds
  certs DIR NAME               -> OK PUBLIC_FILE SECRET_FILE
                                  (zmq.auth.create_certificates)
  loadcert FILE                -> OK PUBLIC_Z85 SECRET_Z85|-
                                  (zmq.auth.load_certificate)
  ids                          -> IDS uid gid pid
  quit                         -> BYE

  Plain TCP, no libzmq (the peers of STREAM sockets):
  tcp_connect ID EP            -> OK            connect to tcp://HOST:PORT
  tcp_listen ID                -> OK EP         listen on tcp://127.0.0.1:*
  tcp_accept ID NEWID MS       -> OK | TIMEOUT  accept one connection as NEWID
  tcp_send ID FRAMES           -> OK            write the frames' bytes, joined
  tcp_recv ID N MS             -> DATA HEX | EOF HEX | TIMEOUT HEX
                                  (until N bytes, end of file or MS)
  tcp_close ID                 -> OK

  FRAMES are hex joined by ",", "-" for an empty frame, "*N" for N pattern
  bytes (byte i = i % 251). A failing command answers "ERR Type: why".

  Options of "new": sndhwm rcvhwm rcvbuf rcvtimeo sndtimeo linger routing_id(hex)
  subscribe(hex, "-" empty; repeatable) plain_server plain_username
  plain_password curve_server curve_secretkey curve_publickey curve_serverkey
  zap_domain heartbeat_ivl heartbeat_timeout heartbeat_ttl reconnect_ivl
  immediate router_mandatory xpub_verbose conflate maxmsgsize ipv6
  metadata (ZMQ_METADATA "Name:value", sent in READY).
  probe_router stream_notify zap_enforce_domain connect_routing_id(hex).

ONE SOCKET (--type ...; zmtp-core's and zmq-patterns' byte-level interop
tests). The socket is set up from argv; every socket gets LINGER 200 and
RCVTIMEO/SNDTIMEO 5000 so nothing here can hang:

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
                              (and nothing else)
  --zap-curve=PUBLIC_Z85      start a ZAP handler allowing this client key
                              (and nothing else)
  --heartbeat IVL_MS:TIMEOUT_MS
  --monitor                   record socket monitor events (see "event")

  send SPEC          -> SENT                 (SPEC: FRAMES as above)
  recv [MS]          -> MSG f1 f2 ... (hex, "-" for empty) | TIMEOUT
  event NAMES MS     -> EVENT NAME VALUE | NOEVENT seen=...
                        (events passed over are remembered: see "seen")
  seen               -> SEEN name:value,...  every monitor event read so far
  zaplog             -> ZAPLOG entry;entry   (as above)
  quit               -> BYE, then a clean exit (status 0)

  A failure prints "ERROR why" and exits with status 2.

A watchdog ends the process after WATCHDOG seconds (env; default 120 with many
sockets, 40 with one) and EOF on stdin ends it too, so nothing here can outlive
a failed test.
"""

import argparse
import os
import signal
import socket
import sys
import threading
import time

from frame_text import frames_to_text, text_to_frames

try:
    import zmq
    import zmq.auth
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
        "PAIR PUB SUB REQ REP DEALER ROUTER PULL PUSH XPUB XSUB STREAM".split()
    )
}

INT_OPTS = {
    "sndhwm": zmq.SNDHWM,
    "rcvhwm": zmq.RCVHWM,
    "rcvbuf": zmq.RCVBUF,
    "rcvtimeo": zmq.RCVTIMEO,
    "sndtimeo": zmq.SNDTIMEO,
    "linger": zmq.LINGER,
    "heartbeat_ivl": zmq.HEARTBEAT_IVL,
    "heartbeat_timeout": zmq.HEARTBEAT_TIMEOUT,
    "heartbeat_ttl": zmq.HEARTBEAT_TTL,
    "reconnect_ivl": zmq.RECONNECT_IVL,
    "immediate": zmq.IMMEDIATE,
    "router_mandatory": zmq.ROUTER_MANDATORY,
    "xpub_verbose": zmq.XPUB_VERBOSE,
    "conflate": zmq.CONFLATE,
    "maxmsgsize": zmq.MAXMSGSIZE,
    "ipv6": zmq.IPV6,
    "plain_server": zmq.PLAIN_SERVER,
    "curve_server": zmq.CURVE_SERVER,
    "probe_router": zmq.PROBE_ROUTER,
    "stream_notify": zmq.STREAM_NOTIFY,
    "zap_enforce_domain": zmq.ZAP_ENFORCE_DOMAIN,
}

STR_OPTS = {
    "plain_username": zmq.PLAIN_USERNAME,
    "plain_password": zmq.PLAIN_PASSWORD,
    "curve_secretkey": zmq.CURVE_SECRETKEY,
    "curve_publickey": zmq.CURVE_PUBLICKEY,
    "curve_serverkey": zmq.CURVE_SERVERKEY,
    "zap_domain": zmq.ZAP_DOMAIN,
}

# With one socket its own receive timeout bounds every wait.
ONE_SOCKET_TIMEOUT_MS = 5000

ctx = zmq.Context()
sockets = {}
# Socket id -> (monitor socket, "NAME:VALUE" of every event read so far): a
# test that waits for one event may still ask about the ones passed over.
monitors = {}
monitor_count = 0
zap = None


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def watchdog(default_seconds):
    signal.signal(signal.SIGALRM, lambda *_: os._exit(9))
    signal.alarm(int(os.environ.get("WATCHDOG", default_seconds)))


def event_name(number):
    try:
        return zmq.Event(number).name
    except Exception:  # unknown numbers stay numeric
        return str(int(number))


class ZapHandler(threading.Thread):
    """A hand-written ZAP handler (RFC 27) on inproc://zeromq.zap.01."""

    def __init__(self, plain, curve, allow_others):
        super().__init__(daemon=True)
        self.plain = plain  # set of (user, password) bytes pairs
        self.curve = curve  # set of Z85 public keys (bytes)
        self.allow_others = allow_others  # NULL, when a ZAP domain asks
        self.log = []
        # What an allowed client is granted (see "zapgrant").
        self.user_id = b""
        self.metadata = b""
        self.lock = threading.Lock()
        self.stopping = False
        # Bound here, before any server socket exists, so no handshake misses it.
        self.sock = ctx.socket(zmq.REP)
        self.sock.linger = 0
        self.sock.bind("inproc://zeromq.zap.01")

    def allows(self, mechanism, creds):
        if mechanism == b"PLAIN":
            return len(creds) == 2 and (creds[0], creds[1]) in self.plain
        if mechanism == b"CURVE":
            return len(creds) == 1 and zmq.utils.z85.encode(creds[0]) in self.curve
        return self.allow_others

    def run(self):
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        while not self.stopping:
            if not dict(poller.poll(50)):
                continue
            req = self.sock.recv_multipart()
            version, request_id, _domain, _address, _identity, mechanism = req[:6]
            creds = req[6:]
            status = b"200" if self.allows(mechanism, creds) else b"400"
            with self.lock:
                entry = [mechanism.decode()] + [c.hex() or "-" for c in creds]
                self.log.append(" ".join(entry + [status.decode()]))
            text = b"OK" if status == b"200" else b"denied"
            # An empty user id: with a non-empty one, libzmq 4.3.5's REQ (as a
            # PLAIN or CURVE server) drops the connection on the reply that follows.
            grant = [self.user_id, self.metadata] if status == b"200" else [b"", b""]
            self.sock.send_multipart([version, request_id, status, text] + grant)
        self.sock.close()

    def entries(self):
        with self.lock:
            return list(self.log)


def start_zap(plain=(), curve=(), allow_others=False):
    global zap
    zap = ZapHandler(set(plain), set(curve), allow_others)
    zap.start()


def user_pass(text):
    user, _, password = text.partition(":")
    return (user.encode(), password.encode())


def set_option(s, key, value):
    if key in INT_OPTS:
        s.setsockopt(INT_OPTS[key], int(value))
    elif key in STR_OPTS:
        s.setsockopt(STR_OPTS[key], value.encode())
    elif key == "routing_id":
        s.setsockopt(zmq.ROUTING_ID, bytes.fromhex(value))
    elif key == "metadata":
        s.setsockopt(zmq.METADATA, value.encode())
    elif key == "connect_routing_id":
        s.setsockopt(zmq.CONNECT_ROUTING_ID, bytes.fromhex(value))
    elif key == "subscribe":
        s.setsockopt(zmq.SUBSCRIBE, b"" if value == "-" else bytes.fromhex(value))
    else:
        raise ValueError("unknown option " + key)


def new_socket(sid, kind, options):
    s = ctx.socket(TYPES[kind])
    s.setsockopt(zmq.LINGER, 0)
    for key, value in options:
        set_option(s, key, value)
    sockets[sid] = s
    return s


def start_monitor(sid):
    # A unique address: pyzmq's default is named after the socket's fd, which
    # a new socket reuses while libzmq still tears the old monitor down.
    global monitor_count
    monitor_count += 1
    addr = "inproc://peer-monitor-%d" % monitor_count
    m = sockets[sid].get_monitor_socket(addr=addr)
    m.linger = 0
    monitors[sid] = (m, [])


def record(seen, ev):
    name = event_name(ev["event"])
    seen.append("%s:%s" % (name, ev["value"]))
    return name


def wait_event(sid, names, ms):
    """The first event of socket `sid` named in `names` within `ms`, or None."""
    m, seen = monitors[sid]
    end = time.monotonic() + ms / 1000.0
    while True:
        left = int((end - time.monotonic()) * 1000)
        if left <= 0 or not m.poll(left, zmq.POLLIN):
            return None
        ev = recv_monitor_message(m)
        name = record(seen, ev)
        if name in names:
            return "EVENT %s %s" % (name, ev["value"])


def zaplog():
    return "ZAPLOG " + (";".join(zap.entries()) if zap else "")


# --- many sockets -----------------------------------------------------------


def cmd_new(sid, kind, *opts):
    new_socket(sid, kind, [opt.partition("=")[::2] for opt in opts])
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


def prop_text(frame, name):
    try:
        value = frame.get(name)
    except zmq.ZMQError:
        return "?"
    if isinstance(value, int):  # pyzmq answers a few names with integers
        value = str(value)
    return value.encode("utf-8", "surrogateescape").hex() or "-"


def cmd_recvprops(sid, ms, names):
    s = sockets[sid]
    if not s.poll(int(ms), zmq.POLLIN):
        return "TIMEOUT"
    frames = s.recv_multipart(copy=False)
    props = ",".join(prop_text(frames[0], n) for n in names.split(","))
    return "MSG %s PROPS %s" % (frames_to_text([f.bytes for f in frames]), props)


def metadata_bytes(pairs):
    """ZMTP metadata (RFC 23): name-len(1) name value-len(4, BE) value."""
    out = b""
    for name, value in pairs:
        out += bytes([len(name)]) + name + len(value).to_bytes(4, "big") + value
    return out


def cmd_zapgrant(user, pairs=""):
    zap.user_id = user.encode()
    zap.metadata = metadata_bytes(
        [tuple(p.encode().split(b"=", 1)) for p in pairs.split(",") if p]
    )
    return "OK"


def cmd_close(sid):
    s = sockets.pop(sid)
    m = monitors.pop(sid, None)
    if m is not None:
        # Stopped before the close: a monitored socket closed as it is leaves
        # the next socket's connect silently undone (libzmq 4.3.5).
        s.disable_monitor()
        m[0].close(0)
    s.close(0)
    return "OK"


def cmd_monitor(sid):
    start_monitor(sid)
    return "OK"


def cmd_event(sid, names, ms):
    found = wait_event(sid, names.split(","), int(ms))
    return found or "NOEVENT " + ",".join(monitors[sid][1])


def cmd_zap(mode, args):
    allowed = args.split(",")
    if mode == "plain":
        start_zap(plain=[user_pass(a) for a in allowed], allow_others=True)
    else:
        start_zap(curve=[a.encode() for a in allowed], allow_others=True)
    return "OK"


def cmd_tmpdir(path):
    # libzmq reads TMPDIR when it binds ipc://*; os.environ sets it for C too.
    os.environ["TMPDIR"] = path
    return "OK"


def cmd_certs(directory, name):
    public, secret = zmq.auth.create_certificates(directory, name)
    return "OK %s %s" % (public, secret)


def cmd_loadcert(path):
    public, secret = zmq.auth.load_certificate(path)
    return "OK %s %s" % (public.decode(), secret.decode() if secret else "-")
# Plain TCP sockets by id, for the raw peers of STREAM sockets.
tcp = {}


def tcp_address(ep):
    host, _, port = ep[len("tcp://"):].rpartition(":")
    return (host, int(port))


def cmd_tcp_connect(tid, ep):
    tcp[tid] = socket.create_connection(tcp_address(ep), timeout=5)
    return "OK"


def cmd_tcp_listen(tid):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    tcp[tid] = s
    return "OK tcp://127.0.0.1:%d" % s.getsockname()[1]


def cmd_tcp_accept(tid, new_tid, ms):
    s = tcp[tid]
    s.settimeout(int(ms) / 1000.0)
    try:
        conn, _ = s.accept()
    except socket.timeout:
        return "TIMEOUT"
    tcp[new_tid] = conn
    return "OK"


def cmd_tcp_send(tid, text):
    tcp[tid].sendall(b"".join(text_to_frames(text)))
    return "OK"


def cmd_tcp_recv(tid, n, ms):
    s = tcp[tid]
    got = b""
    end = time.monotonic() + int(ms) / 1000.0
    while len(got) < int(n):
        left = end - time.monotonic()
        if left <= 0:
            return "TIMEOUT " + got.hex()
        s.settimeout(left)
        try:
            chunk = s.recv(int(n) - len(got))
        except socket.timeout:
            return "TIMEOUT " + got.hex()
        if not chunk:
            return "EOF " + got.hex()
        got += chunk
    return "DATA " + got.hex()


def cmd_tcp_close(tid):
    tcp.pop(tid).close()
    return "OK"


def cmd_rtt(sid, n, ms):
    # Round trips of a REQ (or DEALER with an empty delimiter) timed here,
    # where libzmq is: the median is what a client of the server sees.
    s = sockets[sid]
    s.setsockopt(zmq.RCVTIMEO, int(ms))
    times = []
    for i in range(int(n)):
        start = time.perf_counter_ns()
        s.send(b"%d" % i)
        s.recv()
        times.append(time.perf_counter_ns() - start)
    times.sort()
    return "OK %d %d" % (times[len(times) // 2] // 1000, times[len(times) * 9 // 10] // 1000)


def cmd_flood(sid, n, size, ms):
    # Sends until libzmq's pipe stays full for `ms` (its HWM and the kernel
    # buffers behind it are full): how much a peer that stopped reading let
    # in before the sender was stopped.
    s = sockets[sid]
    body = b"x" * int(size)
    sent = 0
    while sent < int(n):
        try:
            s.send(body, zmq.NOBLOCK)
            sent += 1
        except zmq.Again:
            if not s.poll(int(ms), zmq.POLLOUT):
                break
    return "OK %d" % sent


def many_sockets():
    watchdog(120)
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
        "events": lambda sid: "OK %d" % sockets[sid].getsockopt(zmq.EVENTS),
        "monitor": cmd_monitor,
        "event": cmd_event,
        "zap": cmd_zap,
        "zaplog": zaplog,
        "zapgrant": cmd_zapgrant,
        "recvprops": cmd_recvprops,
        "pid": lambda: "PID %d" % os.getpid(),
        "tmpdir": cmd_tmpdir,
        "certs": cmd_certs,
        "loadcert": cmd_loadcert,
        "ids": lambda: "IDS %d %d %d" % (os.getuid(), os.getgid(), os.getpid()),
        "tcp_connect": cmd_tcp_connect,
        "tcp_listen": cmd_tcp_listen,
        "tcp_accept": cmd_tcp_accept,
        "tcp_send": cmd_tcp_send,
        "tcp_recv": cmd_tcp_recv,
        "tcp_close": cmd_tcp_close,
        "rtt": cmd_rtt,
        "flood": cmd_flood,
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


# --- one socket -------------------------------------------------------------


def fail(msg):
    sys.stderr.write("zmq_peer: %s\n" % msg)
    sys.stderr.flush()
    out("ERROR " + msg)
    sys.exit(2)


def one_socket_options(args):
    """The argv of the one-socket front end as options of `new_socket`."""
    opts = [
        ("linger", "200"),
        ("rcvtimeo", str(ONE_SOCKET_TIMEOUT_MS)),
        ("sndtimeo", str(ONE_SOCKET_TIMEOUT_MS)),
    ]
    if args.routing_id:
        opts.append(("routing_id", args.routing_id))
    opts += [("subscribe", topic) for topic in args.subscribe]
    if args.plain_server:
        opts.append(("plain_server", "1"))
    if args.plain_client:
        user, _, password = args.plain_client.partition(":")
        opts += [("plain_username", user), ("plain_password", password)]
    if args.curve_server:
        public = zmq.curve_public(args.curve_server.encode()).decode()
        opts += [
            ("curve_server", "1"),
            ("curve_secretkey", args.curve_server),
            ("curve_publickey", public),
        ]
    if args.curve_client:
        server_key, public, secret = args.curve_client.split(",")
        opts += [
            ("curve_serverkey", server_key),
            ("curve_publickey", public),
            ("curve_secretkey", secret),
        ]
    if args.heartbeat:
        ivl, _, timeout = args.heartbeat.partition(":")
        opts += [("heartbeat_ivl", ivl), ("heartbeat_timeout", timeout or ivl)]
    return opts


def one_socket(argv):
    watchdog(40)
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
    args = p.parse_args(argv)

    if not zmq.has("curve") and (args.curve_server or args.curve_client):
        fail("this libzmq has no CURVE support; reinstall pyzmq (pip install -r requirements-test.txt)")

    if args.zap_plain or args.zap_curve:
        start_zap(
            plain=[user_pass(args.zap_plain)] if args.zap_plain else [],
            curve=[args.zap_curve.encode()] if args.zap_curve else [],
        )

    sock = new_socket("s", args.type, one_socket_options(args))
    if args.monitor:
        start_monitor("s")

    if args.bind:
        sock.bind("tcp://127.0.0.1:*")
        endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)
        out("PORT %s" % endpoint.rsplit(":", 1)[1])
    else:
        sock.connect(args.connect)
        out("READY")

    for line in iter(sys.stdin.readline, ""):
        parts = line.strip().split(" ")
        cmd, rest = parts[0], parts[1:]
        if cmd == "send":
            try:
                sock.send_multipart(text_to_frames(rest[0] if rest else "-"))
            except zmq.Again:
                fail("send timed out")
            out("SENT")
        elif cmd == "recv":
            ms = int(rest[0]) if rest else ONE_SOCKET_TIMEOUT_MS
            if sock.poll(ms, zmq.POLLIN):
                out("MSG " + frames_to_text(sock.recv_multipart(), " "))
            else:
                out("TIMEOUT")
        elif cmd == "event":
            if "s" not in monitors:
                fail("event needs --monitor")
            found = wait_event("s", rest[0].split(","), int(rest[1]))
            out(found or "NOEVENT seen=" + ",".join(monitors["s"][1]))
        elif cmd == "seen":
            seen = []
            if "s" in monitors:
                m, seen = monitors["s"]
                while m.poll(0, zmq.POLLIN):
                    record(seen, recv_monitor_message(m))
            out("SEEN " + ",".join(seen))
        elif cmd == "zaplog":
            out(zaplog())
        elif cmd == "quit":
            out("BYE")
            break
        else:
            fail("unknown command %r" % line)

    if "s" in monitors:
        sock.disable_monitor()
        monitors.pop("s")[0].close()
    sock.close()
    if zap is not None:
        zap.stopping = True
        zap.join(2)
    ctx.term()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        one_socket(sys.argv[1:])
    else:
        many_sockets()
