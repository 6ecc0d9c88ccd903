#!/usr/bin/env bash
# Soak: PUSH/PULL, REQ/REP, PUB/SUB and ROUTER/DEALER with CURVE against libzmq
# (pyzmq, a separate process) for a set time; exits non-zero on a loss where
# ZeroMQ promises delivery, a duplicate, reordering, or RSS growth after the
# warm-up. Not part of the test suite: CI runs it for two minutes after the
# tests. Usage: scripts/soak.sh [DURATION [RUNTIME]], e.g. scripts/soak.sh 10m smol.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-120s}
runtime=${2:-tokio}
python3 -c 'import zmq, sys; assert zmq.has("curve"), "pyzmq lacks CURVE"'
# Release: a soak measures the build users run, and moves more messages.
cargo build --quiet --release -p zmq-cli
exec target/release/zmq soak --duration "$duration" --runtime "$runtime" \
    --peer-script test-support/peers/soak_peer.py
