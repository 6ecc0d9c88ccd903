#!/usr/bin/env python3
"""Captures fuzz seeds from real libzmq exchanges (pyzmq, libzmq 4.3.5).

Each scenario connects a libzmq client to a libzmq server through a recording
TCP relay, lets them talk (messages, subscriptions, heartbeats) and writes the
bytes each side sent into fuzz/corpus/<target>/seed_libzmq_*.bin, shaped as
each target reads its input (see fuzz/README.md). Also captures what libzmq
and pyzmq produce for the text-level targets: Z85 keys, zcert files, bound
endpoints and ZAP handler replies.

CURVE scenarios use the fuzz harness's fixed keys (secret 0x11 * 32 for the
server, 0x22 * 32 for the client), so libzmq's HELLO and vouch are valid for the
fuzzed server; its cookie is not (libzmq's cookie key is random), which takes
the fuzzer straight to the INITIATE checks.

Run from the repository root: python3 scripts/capture-fuzz-seeds.py
"""

import asyncio
import os
import socket
import sys
import tempfile
import threading
import time

import zmq
import zmq.auth
from zmq.auth.base import Authenticator

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fuzz", "corpus")

SERVER_SECRET = bytes([0x11] * 32)
CLIENT_SECRET = bytes([0x22] * 32)

# (server type, client type) as the conn_server_* targets number them
# (fuzz_targets/common/mod.rs PAIRS).
SERVER_PAIRS = [
    (zmq.ROUTER, zmq.DEALER),
    (zmq.PULL, zmq.PUSH),
    (zmq.XPUB, zmq.XSUB),
    (zmq.PUB, zmq.SUB),
    (zmq.REP, zmq.REQ),
    (zmq.PAIR, zmq.PAIR),
    (zmq.SUB, zmq.XPUB),
]

# (engine's type, peer's type) as engine_peer numbers them.
ENGINE_PAIRS = [
    (zmq.REP, zmq.REQ),
    (zmq.REQ, zmq.REP),
    (zmq.ROUTER, zmq.DEALER),
    (zmq.DEALER, zmq.ROUTER),
    (zmq.PUB, zmq.SUB),
    (zmq.XPUB, zmq.XSUB),
    (zmq.SUB, zmq.PUB),
    (zmq.XSUB, zmq.XPUB),
    (zmq.PULL, zmq.PUSH),
    (zmq.PUSH, zmq.PULL),
    (zmq.PAIR, zmq.PAIR),
]

NAMES = {
    zmq.ROUTER: "router", zmq.DEALER: "dealer", zmq.PULL: "pull", zmq.PUSH: "push",
    zmq.XPUB: "xpub", zmq.XSUB: "xsub", zmq.PUB: "pub", zmq.SUB: "sub",
    zmq.REP: "rep", zmq.REQ: "req", zmq.PAIR: "pair",
}


class Relay:
    """A one-connection TCP relay that records the bytes of each direction."""

    def __init__(self, target_port):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.target_port = target_port
        self.client_bytes = bytearray()
        self.server_bytes = bytearray()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _pump(self, src, dst, record):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                record.extend(data)
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _run(self):
        client, _ = self.listener.accept()
        server = socket.create_connection(("127.0.0.1", self.target_port))
        a = threading.Thread(target=self._pump, args=(client, server, self.client_bytes))
        b = threading.Thread(target=self._pump, args=(server, client, self.server_bytes))
        a.start()
        b.start()
        a.join()
        b.join()

    def close(self):
        self.listener.close()


def frames(stream, start):
    """Splits a ZMTP/3.x stream after its greeting into (header+body, flags, body)."""
    out = []
    i = start
    while i < len(stream):
        flags = stream[i]
        if flags & 2:
            if i + 9 > len(stream):
                break
            size = int.from_bytes(stream[i + 1:i + 9], "big")
            head = 9
        else:
            if i + 2 > len(stream):
                break
            size = stream[i + 1]
            head = 2
        end = i + head + size
        if end > len(stream):
            break
        out.append((bytes(stream[i:end]), flags, bytes(stream[i + head:end])))
        i = end
    return out


def handshake_end(stream, mech):
    """Offset of the first byte after the handshake commands of a client stream."""
    commands = {"null": 1, "plain": 2, "curve": 2}[mech]
    i = 64
    for raw, flags, _ in frames(stream, 64):
        if commands == 0 or not flags & 4:
            break
        i += len(raw)
        commands -= 1
    return i


def configure(server, client, mech):
    if mech == "plain":
        server.plain_server = True
        server.zap_domain = b"global"
        client.plain_username = b"admin"
        client.plain_password = b"secret"
    elif mech == "curve":
        server_secret = zmq.utils.z85.encode(SERVER_SECRET)
        client_secret = zmq.utils.z85.encode(CLIENT_SECRET)
        server.curve_server = True
        server.curve_secretkey = server_secret
        client.curve_serverkey = zmq.curve_public(server_secret)
        client.curve_secretkey = client_secret
        client.curve_publickey = zmq.curve_public(client_secret)


def exchange(ctx, server_type, client_type, mech, heartbeat):
    """Runs one scenario; returns (client bytes, server bytes)."""
    server = ctx.socket(server_type)
    client = ctx.socket(client_type)
    for s in (server, client):
        s.linger = 0
    if client_type in (zmq.DEALER, zmq.REQ):
        client.routing_id = b"libzmq-client"
    configure(server, client, mech)
    if heartbeat:
        client.heartbeat_ivl = 20
        client.heartbeat_timeout = 1000
    if server_type == zmq.SUB:
        server.subscribe(b"")
    port = server.bind_to_random_port("tcp://127.0.0.1")
    relay = Relay(port)
    client.connect(f"tcp://127.0.0.1:{relay.port}")
    if client_type == zmq.SUB:
        client.subscribe(b"topic")
        client.subscribe(b"")
        client.unsubscribe(b"topic")
    elif client_type == zmq.XSUB:
        send(client, [b"\x01news"])
        send(client, [b"\x00news"])
        send(client, [b"\x01"])
    poller_in = zmq.POLLIN
    time.sleep(0.3)
    if client_type in (zmq.DEALER, zmq.REQ, zmq.PUSH, zmq.PAIR):
        send(client, [b"hello", b"", b"world" * 30])
        if client_type == zmq.REQ:
            if server.poll(2000, poller_in):
                request = server.recv_multipart()
                send(server, [b"reply"] + request[-1:])
            if client.poll(2000, poller_in):
                client.recv_multipart()
                send(client, [b"second request" * 30])
        else:
            send(client, [b"x" * 300])
            send(client, [b""])
    elif client_type == zmq.XPUB:
        if client.poll(2000, poller_in):
            client.recv()
        send(client, [b"news", b"flash"])
    if server_type in (zmq.PUB, zmq.XPUB):
        if server_type == zmq.XPUB and server.poll(2000, poller_in):
            server.recv()
        send(server, [b"news", b"published"])
        send(server, [b"topic and more"])
    if server_type in (zmq.ROUTER, zmq.PAIR) and server.poll(2000, poller_in):
        msg = server.recv_multipart()
        send(server, msg[:1] + [b"back"] if server_type == zmq.ROUTER else [b"back"])
    time.sleep(0.15 if heartbeat else 0.05)
    client.close()
    time.sleep(0.05)
    server.close()
    relay.thread.join(2)
    relay.close()
    return bytes(relay.client_bytes), bytes(relay.server_bytes)


def send(sock, frames):
    """Sends without blocking: a scenario whose handshake failed sends nothing."""
    try:
        sock.send_multipart(frames, zmq.NOBLOCK)
    except zmq.Again:
        pass


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"seed_libzmq_{name}.bin"), "wb") as f:
        f.write(data)


def capture_streams(ctx):
    commands = {}
    for mech_index, mech in enumerate(["null", "plain", "curve"]):
        for pair_index, (stype, ctype) in enumerate(SERVER_PAIRS):
            for heartbeat in (False, True):
                if heartbeat and pair_index not in (0, 3):
                    continue
                up, down = exchange(ctx, stype, ctype, mech, heartbeat)
                if len(up) < 64 or len(down) < 64:
                    print(f"short capture: {mech} {NAMES[ctype]}->{NAMES[stype]}", file=sys.stderr)
                    continue
                label = f"{mech}_{NAMES[ctype]}_to_{NAMES[stype]}" + ("_heartbeat" if heartbeat else "")
                mode = 1 if heartbeat else 0
                # [mode, sel, seed(2), client bytes]: no recorded prefix.
                write(f"conn_server_{mech}", label, bytes([mode, pair_index, 0, 0]) + up)
                if pair_index == 0 and not heartbeat:
                    write("greeting", f"{mech}_client", up[:64])
                    write("greeting", f"{mech}_server", down[:64])
                for stream in (up, down):
                    for raw, flags, body in frames(stream, 64):
                        if flags & 4 or mech == "curve":
                            key = body[:24] if flags & 4 else body[:8]
                            commands.setdefault(key, (raw, body))
                if mech == "null":
                    after = up[handshake_end(up, mech):]
                    if after:
                        write("frame_decoder", f"{label}", bytes([pair_index, 0, 0]) + after)
                    # engine_peer: the libzmq client, then the libzmq server,
                    # as the engine's peer after its greeting and READY.
                    for peer_type, stream in ((ctype, up), (stype, down)):
                        for sel, (_, p) in enumerate(ENGINE_PAIRS):
                            if p == peer_type:
                                tail = stream[handshake_end(stream, mech):]
                                if tail:
                                    write("engine_peer", f"{label}_{NAMES[p]}_speaks", bytes([sel]) + tail)
    for i, (raw, body) in enumerate(sorted(commands.values())):
        if len(raw) <= 512:
            write("wire_commands", f"{i:02}_framed", raw)
            write("wire_commands", f"{i:02}_body", body)


def capture_text():
    public, secret = zmq.curve_keypair()
    write("z85_keys", "public", public)
    write("z85_keys", "secret", secret)
    write("z85_keys", "fixed_server", zmq.utils.z85.encode(SERVER_SECRET))
    write("z85_keys", "hello_world", zmq.utils.z85.encode(bytes([0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B])))
    with tempfile.TemporaryDirectory() as d:
        pub_file, sec_file = zmq.auth.create_certificates(d, "server", metadata={"name": "libzmq peer", "email": "a@b.c"})
        for name, path in (("public", pub_file), ("secret", sec_file)):
            with open(path, "rb") as f:
                write("cert", name, f.read())
        pub_file, sec_file = zmq.auth.create_certificates(d, "plain")
        with open(sec_file, "rb") as f:
            write("cert", "secret_no_metadata", f.read())

    ctx = zmq.Context()
    endpoints = []
    with tempfile.TemporaryDirectory() as d:
        for ep in ["tcp://127.0.0.1:*", "tcp://*:*", f"ipc://{d}/sock", "inproc://seeds"]:
            s = ctx.socket(zmq.PAIR)
            s.bind(ep)
            endpoints.append(s.last_endpoint)
            s.close(0)
        s = ctx.socket(zmq.PAIR)
        s.ipv6 = True
        s.bind("tcp://[::1]:*")
        endpoints.append(s.last_endpoint)
        s.close(0)
    endpoints += [b"tcp://localhost:5555", b"ipc://@abstract", b"tcp://*:5555"]
    for i, ep in enumerate(endpoints):
        write("endpoint", f"{i}", ep)
    ctx.term()

    class Capture:
        def __init__(self):
            self.sent = []

        def send_multipart(self, frames):
            self.sent.append(frames)

    auth = Authenticator()
    auth.zap_socket = Capture()
    auth.allow("127.0.0.1")
    auth.configure_plain("global", {"admin": "secret"})
    auth.configure_curve("global", zmq.auth.CURVE_ALLOW_ANY)
    requests = [
        [b"1.0", b"1", b"global", b"127.0.0.1", b"", b"PLAIN", b"admin", b"secret"],
        [b"1.0", b"1", b"global", b"127.0.0.1", b"", b"PLAIN", b"admin", b"wrong"],
        [b"1.0", b"1", b"global", b"127.0.0.1", b"", b"CURVE", bytes(32)],
        [b"1.0", b"1", b"global", b"10.0.0.1", b"", b"NULL"],
        [b"2.0", b"1", b"global", b"127.0.0.1", b"", b"NULL"],
    ]
    for request in requests:
        asyncio.run(auth.handle_zap_message(request))
    for i, reply in enumerate(auth.zap_socket.sent):
        # The handler's REP socket puts the empty delimiter first on the wire.
        body = bytearray([0, 0])
        for frame in reply:
            frame = bytes(frame) if not isinstance(frame, bytes) else frame
            body += bytes([len(frame)]) + frame
        write("zap_reply", f"{i}", bytes(body))


def main():
    ctx = zmq.Context()
    # A ZAP handler that allows everyone, so PLAIN and CURVE handshakes complete.
    zap = ctx.socket(zmq.REP)
    zap.linger = 0
    zap.bind("inproc://zeromq.zap.01")
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            if zap.poll(50):
                request = zap.recv_multipart()
                zap.send_multipart([b"1.0", request[1], b"200", b"OK", b"user", b""])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    capture_streams(ctx)
    stop.set()
    thread.join()
    zap.close()
    ctx.term()
    capture_text()


if __name__ == "__main__":
    main()
