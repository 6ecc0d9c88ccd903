#!/usr/bin/env bash
# scripts/bench.sh — build everything and measure this project against libzmq
# and the other Rust ZeroMQ stacks, ending with ONE markdown table.
#
# usage: scripts/bench.sh [--quick] [options]
#
#   --quick            a look in a few minutes: 1 repetition, 64 B cells only,
#                      small counts, idle connections left out
#   --reps N           repetitions per cell, the median is reported  (full: 3)
#   --transports LIST  comma list of tcp,ipc                         (tcp,ipc)
#   --cells "LIST"     run-perf.sh cells, TEST:SIZE:COUNT            (full:
#                      "thr:64:1000000 thr:1024:300000 thr:65536:20000 lat:64:20000")
#   --runtimes "LIST"  ours: any of tokio tokio-mt tokio-mt-main smol blocking (all)
#   --peers "LIST"     any of zmqrs omq rzmq monocoque (libzmq always runs;
#                      "" = libzmq only)                             (all four)
#   --skip "LIST"      sections to leave out: matrix mixed inproc fanout memory
#                      curve
#   --quiet PCT        run-perf.sh: wait before each run until the machine is at
#                      most PCT % busy (0 = don't wait)   (full: 20, quick: 0)
#   --out DIR          where the CSVs, logs and table.md go
#                      (default $BUILD/results-DATE-TIME)
#   -h, --help         this text
#
# env: BENCH_DIR  the peers' perf programs and scripts (default ../shared/bench
#                 next to this repository; it is not part of it)
#      BUILD      build folder for libzmq's tools, the peers and the downstream
#                 crate, each peer with its own CARGO_TARGET_DIR
#                 (default ${TMPDIR:-/tmp}/zmq-bench); must be outside the repo
#      PERF_HWM   SNDHWM/RCVHWM of the fan-out (see BENCH_DIR/README.md); 0
#                 (the default here) = no limit, so nothing is dropped and the
#                 per-subscriber rate is the rate of the whole stream. At
#                 libzmq's default of 1000 a 64 B stream loses ~98 % at the
#                 publisher and the subscribers' rate is that of a burst.
#
# What runs, every implementation interleaved within a repetition so that the
# machine's noise hits all alike:
#   matrix  BENCH_DIR/run-perf.sh: thr/lat over tcp and ipc, libzmq, the peers
#           (zmq.rs, omq, rzmq and monocoque in their best modes) and
#           `zmq perf --runtime R` for each of our runtimes
#   mixed   BENCH_DIR/run-perf.sh --pair over tcp: each runtime's sender into
#           libzmq's receiver and libzmq's sender into ours, beside libzmq to
#           libzmq in the same run (the matrix's cells)
#   inproc  libzmq's inproc_thr/inproc_lat (libzmq-perf/inproc.c) against
#           `zmq bench --transport inproc` (two threads, one process)
#   fanout  BENCH_DIR/run-fanout.sh: one XPUB, N SUB processes, libzmq and ours
#           (`zmq perf remote-pub/local-sub`)
#   memory  BENCH_DIR/run-memory.sh: peak RSS of local_thr/remote_thr at
#           64 KiB; the RSS of idle connections, libzmq's idle_conns against
#           `zmq perf idle-conns` (full run)
#   curve   PERF_CURVE=1 thr over tcp, libzmq and `zmq perf --runtime tokio`
#           as the workspace builds it, and bench/downstream, the same socket
#           code built as a downstream crate (no flags)
#
# Needs gcc, libzmq3-dev, GNU time, python3 (installed with apt-get when
# missing and this runs as root) and cargo with the registry reachable or its
# cache warm. Once built, a full run takes about 5 minutes on 2 cores with 3
# repetitions and 10 with 5; --quick about one.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
BENCH_DIR=$(cd "${BENCH_DIR:-$repo/../shared/bench}" 2>/dev/null && pwd) || {
    echo "bench.sh: BENCH_DIR ${BENCH_DIR:-$repo/../shared/bench} not found (set BENCH_DIR)" >&2
    exit 2
}
BUILD=${BUILD:-${TMPDIR:-/tmp}/zmq-bench}

die() { echo "bench.sh: $*" >&2; exit 2; }
say() { echo "== $*" >&2; }

quick=0 reps="" transports="tcp,ipc" cells="" runtimes="tokio tokio-mt tokio-mt-main smol blocking"
peers="zmqrs omq rzmq monocoque" skip="" quiet="" out=""
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1; shift ;;
        --reps) reps=$2; shift 2 ;;
        --transports) transports=$2; shift 2 ;;
        --cells) cells=$2; shift 2 ;;
        --runtimes) runtimes=$2; shift 2 ;;
        --peers) peers=$2; shift 2 ;;
        --skip) skip=$2; shift 2 ;;
        --quiet) quiet=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done
for rt in $runtimes; do
    case "$rt" in tokio|tokio-mt|tokio-mt-main|smol|blocking) ;; *) die "unknown runtime in --runtimes: $rt" ;; esac
done
for p in $peers; do
    case "$p" in zmqrs|omq|rzmq|monocoque) ;; *) die "unknown peer in --peers: $p" ;; esac
done
for s in $skip; do
    case "$s" in matrix|mixed|inproc|fanout|memory|curve) ;; *) die "unknown section in --skip: $s" ;; esac
done
if [ -n "$reps" ]; then
    case "$reps" in *[!0-9]*|0*) die "--reps $reps: expected a positive number" ;; esac
fi

# Sizes of each section: the full run and --quick.
if [ $quick = 1 ]; then
    reps=${reps:-1}; quiet=${quiet:-0}
    cells=${cells:-"thr:64:200000 lat:64:5000"}
    inproc_thr=200000 inproc_lat=5000
    fan_subs=3 fan_count=20000
    mem_count=2000 mem_conns=0
    curve_count=50000 curve_big=2000
else
    reps=${reps:-3}; quiet=${quiet:-20}
    cells=${cells:-"thr:64:1000000 thr:1024:300000 thr:65536:20000 lat:64:20000"}
    inproc_thr=1000000 inproc_lat=20000
    fan_subs=10 fan_count=200000
    mem_count=20000 mem_conns=1000
    curve_count=300000 curve_big=5000
fi
runs() { case " $skip " in *" $1 "*) return 1 ;; *) return 0 ;; esac; }

case "$BUILD/" in "$repo"/*) die "BUILD ($BUILD) must be outside the repository: the downstream crate must not see its .cargo/config.toml" ;; esac
mkdir -p "$BUILD"
BUILD=$(cd "$BUILD" && pwd)
out=${out:-$BUILD/results-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
logs=$out/logs
mkdir -p "$logs"

# ---- prerequisites ---------------------------------------------------------
missing=()
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
printf '#include <zmq.h>\n' | gcc -E -x c - >/dev/null 2>&1 || missing+=(libzmq3-dev)
[ -x /usr/bin/time ] || missing+=(time)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        say "installing ${missing[*]} with apt-get"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        die "missing ${missing[*]}: run as root, or apt-get install -y ${missing[*]}"
    fi
fi
command -v cargo >/dev/null 2>&1 || die "cargo not found (https://rustup.rs)"

# ---- builds ----------------------------------------------------------------
say "building zmq (release)"
(cd "$repo" && cargo build --release -q -p zmq-cli)
zmq=$repo/target/release/zmq

say "building libzmq's perf tools into $BUILD/libzmq"
"$BENCH_DIR/libzmq-perf/build.sh" "$BUILD/libzmq" 2>"$logs/libzmq-build.log"
L=$BUILD/libzmq

# Each peer with its own target folder: their dependency trees differ and
# must not rebuild one another. Built from $BUILD: cargo reads .cargo/config.toml
# from the folder it runs in and its parents, and this repository's flags are
# not the peers'.
peer_bin() { echo "$BUILD/$1-target/release/$1-perf"; }
for p in $peers; do
    say "building $p's perf tool"
    (cd "$BUILD" && CARGO_TARGET_DIR="$BUILD/$p-target" cargo build --release --locked -q \
        --manifest-path "$BENCH_DIR/$p-perf/Cargo.toml")
done

if runs curve; then
    # Built from $BUILD, outside the repository, with no flags from the
    # environment: cargo reads .cargo/config.toml from the folder it runs in
    # and its parents; a flag set there (or in the environment) would make
    # the figure something a user's crate does not get.
    say "building bench/downstream as a downstream crate (no flags)"
    (cd "$BUILD" && env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS -u CARGO_BUILD_RUSTFLAGS \
        CARGO_TARGET_DIR="$BUILD/downstream-target" cargo build --release --locked -q \
        --manifest-path "$repo/bench/downstream/Cargo.toml")
    downstream=$BUILD/downstream-target/release/downstream-curve
fi

# Our tools in libzmq's shape (one binary per mode), one folder per runtime,
# for the scripts that take such a folder (run-fanout.sh, run-memory.sh).
ours_dir() {
    local d=$BUILD/zmq-$1
    mkdir -p "$d"
    for m in local_thr remote_thr local_lat remote_lat local_sub remote_pub idle_conns; do
        printf '#!/bin/sh\nexec "%s" perf %s "$@" --runtime %s\n' "$zmq" "${m/_/-}" "$1" > "$d/$m"
        chmod +x "$d/$m"
    done
    echo "$d"
}

# ---- matrix ------------------------------------------------------------------
if runs matrix; then
    say "matrix: $transports, cells $cells, $reps rep(s), libzmq, ${peers:-no peers}, ours on $runtimes"
    impls=(--impl libzmq "$L")
    for rt in $runtimes; do impls+=(--impl "zmq-$rt" "$zmq perf" --args "--runtime $rt"); done
    for p in $peers; do
        b=$(peer_bin "$p")
        case "$p" in
            # each peer in the modes BENCH_DIR/run-peers.sh found best
            # (--quick: only the mode that is usually the best)
            zmqrs) [ $quick = 1 ] || impls+=(--impl zmqrs "$b")
                   impls+=(--impl zmqrs-ct "$b" --args "--runtime current") ;;
            omq) impls+=(--impl omq "$b" --args "--runtime current")
                 [ $quick = 1 ] || impls+=(--impl omq-owned "$b" --args "--runtime owned") ;;
            rzmq) impls+=(--impl rzmq-ct "$b" --args "--runtime current") ;;
            monocoque) impls+=(--impl monocoque "$b") ;;
        esac
    done
    "$BENCH_DIR/run-perf.sh" --transports "$transports" --cells "$cells" --reps "$reps" \
        --quiet "$quiet" --detail "$out/matrix-detail.csv" --logdir "$logs/matrix" \
        "${impls[@]}" > "$out/matrix.csv" 2> "$logs/matrix.err" || die "run-perf.sh failed (see $logs/matrix.err)"
    grep -h "FAILED" "$logs/matrix.err" >&2 || true
fi

# ---- mixed pairs ---------------------------------------------------------------
if runs mixed; then
    say "mixed pairs over tcp: ours -> libzmq and libzmq -> ours, cells $cells, $reps rep(s), on $runtimes"
    pairs=(--impl libzmq "$L")
    for rt in $runtimes; do
        d=$(ours_dir "$rt")
        # --pair NAME RECEIVER SENDER
        pairs+=(--pair "zmq-$rt>libzmq" "$L" "$d" --pair "libzmq>zmq-$rt" "$d" "$L")
    done
    "$BENCH_DIR/run-perf.sh" --transports tcp --cells "$cells" --reps "$reps" \
        --quiet "$quiet" --logdir "$logs/mixed" \
        "${pairs[@]}" > "$out/mixed.csv" 2> "$logs/mixed.err" || die "run-perf.sh failed (see $logs/mixed.err)"
    grep -h "FAILED" "$logs/mixed.err" >&2 || true
fi

# ---- inproc ------------------------------------------------------------------
if runs inproc; then
    say "inproc: thr 64 B x $inproc_thr, lat 64 B x $inproc_lat, $reps rep(s)"
    echo "impl,test,size,count,value,unit" > "$out/inproc.csv"
    for r in $(seq 1 "$reps"); do
        t=$("$L/inproc" thr 64 "$inproc_thr" | sed -n 's/^mean throughput: \([0-9]*\) \[msg\/s\]$/\1/p')
        echo "libzmq,thr,64,$inproc_thr,$t,msg/s" >> "$out/inproc.csv"
        l=$("$L/inproc" lat 64 "$inproc_lat" | sed -n 's/^average latency: \([0-9.]*\) \[us\]$/\1/p')
        echo "libzmq,lat,64,$inproc_lat,$l,us" >> "$out/inproc.csv"
        for rt in $runtimes; do
            # Parsed once the run is over, as libzmq's figures are: a python3
            # started beside it (a pipe) would share the two cores with it.
            j=$("$zmq" bench --transport inproc --runtime "$rt" --size 64 --count "$inproc_thr" \
                --roundtrips "$inproc_lat" --json)
            printf '%s' "$j" | python3 -c '
import json, sys
rt, thr, lat = sys.argv[1:]
for c in json.load(sys.stdin):
    n = thr if c["test"] == "thr" else lat
    print(",".join(str(v) for v in ("zmq-" + rt, c["test"], c["size"], n, c["value"], c["unit"])))
' "$rt" "$inproc_thr" "$inproc_lat" >> "$out/inproc.csv"
        done
    done
fi

# ---- fan-out -----------------------------------------------------------------
if runs fanout; then
    export PERF_HWM=${PERF_HWM:-0}
    say "fan-out: 1 XPUB -> $fan_subs SUB, 64 B x $fan_count, PERF_HWM=$PERF_HWM, $reps rep(s)"
    echo "impl,rep,nsubs,size,count,sub_rate_median,sub_rate_min,sub_rate_max,lost_median,lost_min,lost_max,lost_total,pub_rate" > "$out/fanout.csv"
    for r in $(seq 1 "$reps"); do
        for impl in libzmq $runtimes; do
            if [ "$impl" = libzmq ]; then d=$L name=libzmq; else d=$(ours_dir "$impl") name=zmq-$impl; fi
            "$BENCH_DIR/run-fanout.sh" "$d" "$fan_subs" 64 "$fan_count" 1 2>>"$logs/fanout.err" \
                | grep '^csv,[0-9]' | sed "s/^csv,[0-9]*,/$name,$r,/" >> "$out/fanout.csv" || true
        done
    done
fi

# ---- memory ------------------------------------------------------------------
if runs memory; then
    say "memory: peak RSS at tcp 64 KiB x $mem_count, $reps rep(s)"
    echo "impl,what,rep,a,b,c,d,e,f" > "$out/memory.csv"
    for r in $(seq 1 "$reps"); do
        for impl in libzmq $runtimes; do
            if [ "$impl" = libzmq ]; then d=$L name=libzmq; else d=$(ours_dir "$impl") name=zmq-$impl; fi
            if [ "$mem_conns" -gt 0 ]; then conns=$mem_conns; else conns=1; fi
            "$BENCH_DIR/run-memory.sh" "$d" 1 65536 "$mem_count" "$conns" 2>>"$logs/memory.err" \
                | grep -v '^csv,what' | { [ "$conns" -gt 1 ] && cat || grep -v '^csv,idle'; } \
                | sed "s/^csv,\([^,]*\),[0-9]*,/$name,\1,$r,/" >> "$out/memory.csv" || true
        done
    done
fi

# ---- CURVE: the workspace's build against a downstream crate's ------------------
if runs curve; then
    say "CURVE over tcp: libzmq, zmq perf (workspace build), bench/downstream (no flags), $reps rep(s)"
    echo "impl,size,count,value" > "$out/downstream.csv"
    : > "$out/curve.csv"
    for r in $(seq 1 "$reps"); do
        "$BENCH_DIR/run-perf.sh" --transports tcp --cells "thr:64:$curve_count thr:65536:$curve_big" \
            --reps 1 --quiet "$quiet" --logdir "$logs/curve-$r" \
            --impl libzmq-curve "env PERF_CURVE=1 $L/perf" \
            --impl zmq-tokio-curve "env PERF_CURVE=1 $zmq perf" --args "--runtime tokio" \
            2>>"$logs/curve.err" | grep -v '^impl,' >> "$out/curve.csv" || true
        "$downstream" "$curve_count" "$curve_big" > "$logs/downstream-$r.out" 2>&1 || true
        grep -q 'poly1305 backend: default' "$logs/downstream-$r.out" \
            || echo "bench.sh: bench/downstream was not built as a downstream crate: $(head -1 "$logs/downstream-$r.out")" >&2
        sed -n 's/^CURVE tcp \([0-9]*\) B: \([0-9]*\) \[msg\/s\] (\([0-9]*\) messages)$/zmq-tokio,\1,\3,\2/p' \
            "$logs/downstream-$r.out" >> "$out/downstream.csv"
    done
fi

# ---- the table -----------------------------------------------------------------
# shellcheck disable=SC2086
python3 "$repo/scripts/bench_table.py" "$out" $runtimes | tee "$out/table.md"
echo >&2
echo "bench.sh: CSVs, logs and table.md in $out" >&2
