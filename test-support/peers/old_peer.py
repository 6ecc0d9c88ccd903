#!/usr/bin/env python3
"""Raw ZMTP/2.0 (RFC 15, libzmq 3.x) and ZMTP/1.0 (RFC 13, libzmq 2.x) peers.

Plain sockets, no pyzmq: they play the old libzmq that libzmq 4 (and we) must
still serve, and report the bytes the other side sent, so a test can hold our
sockets to what libzmq 4.3.5 does. Spawned by zmq-test-support
(test-support/src/old_peer.rs); one process hosts many peers, so a table of
cases pays for one interpreter start.

It prints "READY", then reads one command per line and answers each with one
line ("ERR why" when a command fails):

  new ID ARGS   -> ENDPOINT ep | READY      a new old peer ID; ARGS:
    --zmtp 2|1|1v     the protocol to speak: 1v is ZMTP/1.0 framing after a
                      versioned greeting with revision 0x00 (libzmq 4 still
                      reads one; it sends no catch-all subscription for it)
    --type TYPE       PAIR PUB SUB REQ REP DEALER ROUTER PULL PUSH XPUB XSUB
                      (only a versioned greeting carries it; the peer itself
                      has no socket semantics: it sends and receives frames)
    --bind EP         tcp://127.0.0.1:0 or ipc:///path; answers "ENDPOINT ep"
                      and serves the first connection (later ones are counted)
    --connect EP      answers "READY" once connected
    --identity HEX    its identity ("-" or absent: empty)
    --eager           versioned: send the whole greeting and the identity in
                      one write before reading anything (libzmq 3.2 waits for
                      the other side's signature first)
    --dribble         send the greeting and identity one byte per write, so
                      the other side must put its input together
  close ID      -> OK               closes its listener and connection
  peer ID MS    -> PEER STATE GREETING IDENTITY     after the handshake or MS:
                   STATE ready|closed|waiting; GREETING the other side's
                   greeting bytes in hex (versioned: signature, revision,
                   socket type; ZMTP/1.0: the header of its identity message),
                   IDENTITY the identity body ("-" for empty or not seen)
  send ID FRAMES -> SENT | CLOSED   FRAMES: hex joined by ",", "-" for empty,
                   "*N" for N pattern bytes (byte i = i % 251)
  raw ID HEX    -> SENT | CLOSED    bytes as they are (after the handshake)
  recv ID MS    -> MSG FRAMES | TIMEOUT | CLOSED
  closed ID MS  -> CLOSED | OPEN    whether the other side closed within MS
  conns ID      -> CONNS n          connections accepted or made so far
  errors ID     -> ERRORS e;e       what the other side sent that an old peer
                                    would not accept (empty: none)
  quit          -> BYE

Reading never trusts a declared length: bytes are buffered as they come, and
a frame longer than MAX_FRAME is an error, not an allocation. A watchdog ends
the process after WATCHDOG seconds (default 300), and EOF on stdin ends it.
"""

import argparse
import os
import queue
import signal
import socket
import struct
import sys
import threading
import time

from frame_text import frames_to_text, text_to_frames

TYPES = {
    name: number
    for number, name in enumerate(
        "PAIR PUB SUB REQ REP DEALER ROUTER PULL PUSH XPUB XSUB".split()
    )
}

# Larger than any frame a test sends; a bigger declared length is reported,
# never allocated.
MAX_FRAME = 1 << 24


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def hex_or_dash(b):
    return b.hex() if b else "-"


class Closed(Exception):
    """The other side closed the connection (or it broke)."""


class Conn:
    """One connection: a reader thread does the handshake and decodes frames;
    the command loop writes once the handshake is done."""

    def __init__(self, sock, args):
        self.sock = sock
        self.args = args
        self.buf = bytearray()
        self.eof = False
        self.greeting = b""
        self.identity = None
        self.state = "waiting"
        self.changed = threading.Condition()
        self.messages = queue.Queue()
        self.errors = []
        self.write_lock = threading.Lock()
        threading.Thread(target=self.run, daemon=True).start()

    # --- input ---------------------------------------------------------

    def need(self, n):
        """Blocks until n bytes are buffered; takes them."""
        while len(self.buf) < n:
            if self.eof:
                raise Closed()
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                self.eof = True
                raise Closed()
            self.buf += chunk
        taken = bytes(self.buf[:n])
        del self.buf[:n]
        return taken

    def length(self, n):
        if n > MAX_FRAME:
            self.errors.append("declared length %d" % n)
            raise Closed()
        return n

    def read_frame_v2(self):
        """(more, body) of one ZMTP/2.0 frame."""
        flags = self.need(1)[0]
        if flags & ~0x03:
            # ZMTP/2.0 has no commands and no other flags: a 3.x frame
            # (a command, or greeting bytes read as frames) lands here.
            self.errors.append("flags %02x" % flags)
        if flags & 0x02:
            size = self.length(struct.unpack(">Q", self.need(8))[0])
        else:
            size = self.need(1)[0]
        return bool(flags & 0x01), self.need(size)

    def read_frame_v1(self):
        """(header bytes, more, body) of one ZMTP/1.0 frame."""
        first = self.need(1)
        header = first
        if first[0] == 0xFF:
            wide = self.need(8)
            header += wide
            size = struct.unpack(">Q", wide)[0]
        else:
            size = first[0]
        if size == 0:
            # The length counts the flags byte: zero is not a frame.
            self.errors.append("zero length")
            raise Closed()
        self.length(size)
        flags = self.need(1)
        return header + flags, flags[0], self.need(size - 1)

    def read_frame(self):
        if self.args.zmtp == "2":
            return self.read_frame_v2()
        _, flags, body = self.read_frame_v1()
        if flags & ~0x01:
            self.errors.append("flags %02x" % flags)
        return bool(flags & 0x01), body

    # --- output --------------------------------------------------------

    def write(self, data, dribble=False):
        with self.write_lock:
            if dribble:
                for i in range(len(data)):
                    self.sock.sendall(data[i : i + 1])
                    time.sleep(0.001)
            else:
                self.sock.sendall(data)

    def encode(self, frames):
        wire = bytearray()
        for i, body in enumerate(frames):
            more = i + 1 < len(frames)
            if self.args.zmtp == "2":
                if len(body) > 255:
                    wire += bytes([0x02 | more]) + struct.pack(">Q", len(body))
                else:
                    wire += bytes([more, len(body)])
            else:
                size = len(body) + 1
                if size < 255:
                    wire += bytes([size])
                else:
                    wire += b"\xff" + struct.pack(">Q", size)
                wire += bytes([more])
            wire += body
        return bytes(wire)

    # --- the connection's life -----------------------------------------

    def set_state(self, state):
        with self.changed:
            self.state = state
            self.changed.notify_all()

    def run(self):
        try:
            if self.args.zmtp in ("2", "1v"):
                self.handshake_versioned()
            else:
                self.handshake_v1()
            self.set_state("ready")
            frames = []
            while True:
                more, body = self.read_frame()
                frames.append(body)
                if not more:
                    self.messages.put(frames)
                    frames = []
        except Closed:
            pass
        except Exception as e:  # reported, so the test sees what went wrong
            self.errors.append("%s: %s" % (type(e).__name__, e))
        self.eof = True
        self.messages.put(None)
        self.set_state("closed")

    def handshake_versioned(self):
        ident = self.args.identity
        sig = b"\xff" + struct.pack(">Q", len(ident) + 1) + b"\x7f"
        revision = 0x01 if self.args.zmtp == "2" else 0x00
        rest = bytes([revision, TYPES[self.args.type]])
        if self.args.eager:
            # All at once: the other side gets revision, type and identity in
            # the same read as the signature.
            self.write(sig + rest + self.encode([ident]))
        else:
            # Staged as libzmq 3.2 does: signature, then revision and type
            # only after the other side's signature shows it is versioned.
            self.write(sig, self.args.dribble)
        theirs = self.need(10)
        self.greeting = theirs
        if theirs[0] != 0xFF or not theirs[9] & 0x01:
            self.errors.append("unversioned signature %s" % theirs.hex())
            raise Closed()
        if not self.args.eager:
            self.write(rest, self.args.dribble)
        self.greeting += self.need(2)
        if not self.args.eager:
            self.write(self.encode([ident]), self.args.dribble)
        if self.args.zmtp == "2":
            more, body = self.read_frame_v2()
        else:
            _header, flags, body = self.read_frame_v1()
            more = flags & 0x01
        if more:
            self.errors.append("identity frame with MORE")
        self.identity = body

    def handshake_v1(self):
        ident = self.args.identity
        self.write(self.encode([ident]), self.args.dribble)
        # The other side's identity message; libzmq's comes as its 10-byte
        # signature (flags 0x7f, MORE among them: not a multipart message).
        header, _flags, body = self.read_frame_v1()
        self.greeting = header
        self.identity = body

    # --- commands ------------------------------------------------------

    def wait_state(self, ms):
        end = time.monotonic() + ms / 1000.0
        with self.changed:
            while self.state == "waiting":
                left = end - time.monotonic()
                if left <= 0:
                    break
                self.changed.wait(left)
            return self.state

    def wait_closed(self, ms):
        end = time.monotonic() + ms / 1000.0
        with self.changed:
            while self.state != "closed":
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(left)
            return True


class Peer:
    def __init__(self, args):
        self.args = args
        self.conn = None
        self.conns = 0
        self.first = threading.Event()
        self.listener = None
        self.closing = False

    def close(self):
        self.closing = True
        if self.listener is not None:
            # shutdown wakes the accept thread; close alone may not.
            try:
                self.listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.listener.close()
        if self.conn is not None:
            try:
                self.conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.conn.sock.close()

    def accept_loop(self, listener):
        while True:
            try:
                s, _ = listener.accept()
            except OSError:
                return
            if self.closing:
                s.close()
                return
            self.conns += 1
            if self.conn is None:
                self.start(s)
            else:
                # Only the first connection is served: later ones are counted
                # (a refused peer that reconnects shows here) and dropped.
                s.close()

    def start(self, s):
        if s.family != socket.AF_UNIX:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn = Conn(s, self.args)
        self.first.set()

    def bind(self, ep):
        if ep.startswith("tcp://"):
            host, _, port = ep[6:].rpartition(":")
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((host, int(port)))
            bound = "tcp://%s:%d" % listener.getsockname()
        elif ep.startswith("ipc://"):
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            path = ep[6:]
            if os.path.exists(path):
                os.unlink(path)
            listener.bind(path)
            bound = ep
        else:
            raise ValueError("unsupported endpoint " + ep)
        listener.listen(8)
        self.listener = listener
        threading.Thread(target=self.accept_loop, args=(listener,), daemon=True).start()
        return bound

    def connect(self, ep, ms=10000):
        end = time.monotonic() + ms / 1000.0
        while True:
            if ep.startswith("tcp://"):
                host, _, port = ep[6:].rpartition(":")
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                addr = (host.strip("[]"), int(port))
            elif ep.startswith("ipc://"):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                addr = ep[6:]
            else:
                raise ValueError("unsupported endpoint " + ep)
            try:
                s.connect(addr)
                break
            except OSError:
                s.close()
                if time.monotonic() >= end:
                    raise
                time.sleep(0.01)
        self.conns += 1
        self.start(s)

    def session(self, ms):
        """The connection, once there is one (None if none within ms)."""
        self.first.wait(ms / 1000.0)
        return self.conn


def parser():
    p = argparse.ArgumentParser(prog="new", exit_on_error=False)
    p.add_argument("--zmtp", choices=("1", "1v", "2"), required=True)
    p.add_argument("--type", required=True, choices=sorted(TYPES))
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--bind")
    g.add_argument("--connect")
    p.add_argument("--identity", default="-")
    p.add_argument("--dribble", action="store_true")
    p.add_argument("--eager", action="store_true")
    return p


def cmd_new(peers, pid, argv):
    args = parser().parse_args(argv)
    args.identity = b"" if args.identity == "-" else bytes.fromhex(args.identity)
    peer = Peer(args)
    if args.bind:
        answer = "ENDPOINT " + peer.bind(args.bind)
    else:
        peer.connect(args.connect)
        answer = "READY"
    peers[pid] = peer
    return answer


def cmd_peer(peer, cmd, rest):
    """One command addressed to an old peer; its answer line."""
    if cmd == "conns":
        return "CONNS %d" % peer.conns
    ms = int(rest[0]) if cmd in ("peer", "recv", "closed") and rest else 5000
    conn = peer.session(ms)
    if cmd == "errors":
        return "ERRORS " + (";".join(conn.errors) if conn else "")
    if conn is None:
        return {"peer": "PEER waiting - -", "closed": "OPEN"}.get(cmd, "CLOSED")
    if cmd == "peer":
        state = conn.wait_state(ms)
        ident = conn.identity if conn.identity is not None else b""
        return "PEER %s %s %s" % (state, hex_or_dash(conn.greeting), hex_or_dash(ident))
    if cmd in ("send", "raw"):
        if conn.wait_state(5000) != "ready":
            return "CLOSED"
        data = bytes.fromhex(rest[0]) if cmd == "raw" else conn.encode(text_to_frames(rest[0]))
        try:
            conn.write(data)
            return "SENT"
        except OSError:
            return "CLOSED"
    if cmd == "recv":
        try:
            msg = conn.messages.get(timeout=ms / 1000.0)
        except queue.Empty:
            return "TIMEOUT"
        if msg is None:
            conn.messages.put(None)  # stays closed for the next recv
            return "CLOSED"
        return "MSG " + frames_to_text(msg)
    if cmd == "closed":
        return "CLOSED" if conn.wait_closed(ms) else "OPEN"
    return "ERR unknown command " + cmd


def main():
    signal.signal(signal.SIGALRM, lambda *_: os._exit(9))
    signal.alarm(int(os.environ.get("WATCHDOG", 300)))
    peers = {}
    out("READY")
    for line in iter(sys.stdin.readline, ""):
        parts = line.split()
        if not parts:
            continue
        cmd = parts[0]
        if cmd == "quit":
            out("BYE")
            break
        try:
            if cmd == "new":
                out(cmd_new(peers, parts[1], parts[2:]))
            elif cmd == "close":
                peers.pop(parts[1]).close()
                out("OK")
            else:
                out(cmd_peer(peers[parts[1]], cmd, parts[2:]))
        except (Exception, SystemExit) as e:  # answered, so the test sees why
            out("ERR %s: %s" % (type(e).__name__, str(e).replace("\n", " ")))
    os._exit(0)


if __name__ == "__main__":
    main()
