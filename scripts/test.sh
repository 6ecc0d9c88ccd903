#!/usr/bin/env bash
# The project's test command: installs the interop peer (pyzmq, which bundles
# libzmq 4.3.5 with CURVE) and runs every test of the workspace. A missing peer
# fails the interop tests; it never skips them.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -r requirements-test.txt
python3 -c 'import zmq, sys; assert zmq.has("curve"), "pyzmq lacks CURVE"; print("libzmq", zmq.zmq_version(), "with CURVE", file=sys.stderr)'
cargo test --workspace --all-targets
cargo test --workspace --doc
