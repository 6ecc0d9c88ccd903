//! `zmq`: the project's command-line tool, a pure-Rust ZeroMQ on a shell.
//!
//! - `zmq cat TYPE -b|-c EP...`: one socket between stdin and stdout, one
//!   message per line, frames separated by TAB (`--hex` for binary frames).
//! - `zmq keygen`: a CURVE key pair, as libzmq's `curve_keygen` prints it, or
//!   with `--cert PATH` saved as a certificate, as CZMQ's `zcert_save` writes
//!   it (PATH and PATH_secret).
//! - `zmq perf MODE EP SIZE COUNT`: libzmq's perf tools, compatible on the wire
//!   and in their output; `local-sub` and `remote-pub EP SIZE COUNT NSUBS`
//!   are the PUB/SUB fan-out pair of `../shared/bench/libzmq-perf`.
//! - `zmq bench`: throughput and latency of every runtime over tcp, ipc and
//!   inproc in one process.
//! - `zmq soak --duration 120s --peer-script test-support/peers/soak_peer.py`:
//!   four patterns with CURVE against libzmq for a set time; exit 1 on a
//!   loss where delivery is promised, a duplicate, reordering, or RSS growth.
//!
//! Exit codes: 0 done, 1 runtime failure, 2 bad input (one line on stderr
//! naming it), 3 `--timeout` passed with nothing received, 4 every connected
//! endpoint refused us.

mod bench;
mod cat;
mod exec;
mod fanout;
mod frames;
mod idle;
mod perf;
mod soak;

use std::io::Write;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use zmq_runtime::cert::Certificate;
use zmtp_core::{KeyPair, PublicKey, SecretKey};

use crate::cat::Security;
use crate::exec::Choice;

/// Why `zmq` stops early.
pub(crate) enum Failure {
    /// Bad input from the user: exit 2.
    Usage(String),
    /// `--timeout` passed with nothing received: exit 3.
    Timeout,
    /// Anything else: exit 1.
    Runtime(String),
    /// `zmq cat`: every connected endpoint refused us: exit 4 (the refusals
    /// are already on stderr).
    Refused,
    /// Our reader went away (`| head -1`): exit 0, quietly, as any Unix filter.
    StdoutClosed,
}

/// A pure-Rust ZeroMQ tool.
#[derive(Parser)]
#[command(name = "zmq", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A socket on stdin/stdout: one message per line, frames separated by TAB.
    Cat(Box<CatArgs>),
    /// Print a new CURVE key pair: `public: Z85` then `secret: Z85`; or save
    /// it as a certificate (`--cert PATH`).
    Keygen(KeygenArgs),
    /// libzmq's perf tools: local-thr, remote-thr, local-lat, remote-lat, and
    /// the fan-out pair local-sub, remote-pub.
    Perf(PerfArgs),
    /// Throughput and latency of every runtime over tcp, ipc and inproc.
    Bench(BenchArgs),
    /// PUSH/PULL, REQ/REP, PUB/SUB and ROUTER/DEALER with CURVE against a
    /// libzmq peer for a set time: sequence numbers and RSS checked.
    Soak(SoakArgs),
}

#[derive(Args)]
struct SoakArgs {
    /// How long to run: 120s, 2m, 500ms (a bare number is seconds).
    #[arg(long, value_name = "TIME", default_value = "120s")]
    duration: String,
    /// The libzmq side: test-support/peers/soak_peer.py (run with python3 and
    /// pyzmq).
    #[arg(long = "peer-script", value_name = "PATH")]
    peer_script: std::path::PathBuf,
    /// Fail when RSS grows by more than this many MiB after the warm-up.
    #[arg(long = "max-rss-growth", value_name = "MIB", default_value_t = 16)]
    max_rss_growth: u64,
    /// tokio, smol or blocking.
    #[arg(long, value_name = "RUNTIME", default_value = "tokio")]
    runtime: String,
}

#[derive(Args)]
struct CatArgs {
    /// pair pub sub req rep dealer router push pull xpub xsub stream
    #[arg(value_name = "TYPE")]
    kind: Option<String>,
    /// Bind to an endpoint (repeatable).
    #[arg(short = 'b', long = "bind", value_name = "EP")]
    bind: Vec<String>,
    /// Connect to an endpoint (repeatable).
    #[arg(short = 'c', long = "connect", value_name = "EP")]
    connect: Vec<String>,
    /// sub: subscribe to a prefix (repeatable; none = everything). xsub: send
    /// these subscriptions at start.
    #[arg(
        short = 's',
        long = "subscribe",
        value_name = "PREFIX",
        allow_hyphen_values = true
    )]
    subscribe: Vec<String>,
    /// Exit 0 after N messages (replies for req, answered requests for rep and
    /// router --echo, subscriptions for xpub).
    #[arg(short = 'n', long = "count", value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    /// Exit 3 when MS pass with nothing received.
    #[arg(long, value_name = "MS")]
    timeout: Option<u64>,
    /// ROUTING_ID, as text.
    #[arg(long = "routing-id", value_name = "ID", allow_hyphen_values = true)]
    routing_id: Option<String>,
    /// SNDHWM (messages; 0 = no limit).
    #[arg(long, value_name = "N")]
    sndhwm: Option<usize>,
    /// RCVHWM (messages; 0 = no limit).
    #[arg(long, value_name = "N")]
    rcvhwm: Option<usize>,
    /// LINGER in ms (-1, the default, waits for ever).
    #[arg(long, value_name = "MS", allow_negative_numbers = true, value_parser = clap::value_parser!(i64).range(-1..))]
    linger: Option<i64>,
    /// HEARTBEAT_IVL in ms.
    #[arg(long = "heartbeat-ivl", value_name = "MS")]
    heartbeat_ivl: Option<u64>,
    /// HEARTBEAT_TIMEOUT in ms.
    #[arg(long = "heartbeat-timeout", value_name = "MS")]
    heartbeat_timeout: Option<u64>,
    /// RECONNECT_IVL in ms (-1 never reconnects).
    #[arg(long = "reconnect-ivl", value_name = "MS", allow_negative_numbers = true, value_parser = clap::value_parser!(i64).range(-1..))]
    reconnect_ivl: Option<i64>,
    /// tokio, smol or blocking.
    #[arg(long, value_name = "RUNTIME", default_value = "tokio")]
    runtime: String,
    /// PLAIN client user name.
    #[arg(long = "plain-user", value_name = "U", allow_hyphen_values = true)]
    plain_user: Option<String>,
    /// PLAIN client password.
    #[arg(long = "plain-password", value_name = "P", allow_hyphen_values = true)]
    plain_password: Option<String>,
    /// Be a PLAIN server.
    #[arg(long = "plain-server")]
    plain_server: bool,
    /// PLAIN server: allow this user (repeatable; none = anyone).
    #[arg(long, value_name = "USER:PASS", allow_hyphen_values = true)]
    allow: Vec<String>,
    /// Be a CURVE server (needs --curve-secret).
    #[arg(long = "curve-server")]
    curve_server: bool,
    /// CURVE secret key (Z85): the server's, or the client's own. Z85 has
    /// `-` in its alphabet, so these values may start with one.
    #[arg(long = "curve-secret", value_name = "Z85", allow_hyphen_values = true)]
    curve_secret: Option<String>,
    /// CURVE server: allow this client public key (repeatable; none = anyone).
    #[arg(
        long = "curve-allow",
        value_name = "Z85PUBLIC",
        allow_hyphen_values = true
    )]
    curve_allow: Vec<String>,
    /// CURVE client: the server's public key.
    #[arg(
        long = "curve-serverkey",
        value_name = "Z85PUBLIC",
        allow_hyphen_values = true
    )]
    curve_serverkey: Option<String>,
    /// Frames as lowercase hex.
    #[arg(long)]
    hex: bool,
    /// rep, router: send every message back, print nothing.
    #[arg(long)]
    echo: bool,
}

#[derive(Args)]
struct PerfArgs {
    /// local-thr, remote-thr, local-lat, remote-lat; local-sub (a SUB that
    /// counts what arrives, lost = COUNT - received) or remote-pub (an XPUB
    /// that waits for NSUBS subscriptions, then publishes); idle-conns N
    /// (the memory of N idle connections, each side: a ROUTER here, N
    /// DEALERs in a second process). PERF_CURVE=1: the binding side is a
    /// CURVE server; PERF_HWM=N: SNDHWM/RCVHWM of the fan-out pair (0 = no
    /// limit). Senders make each message fresh, as libzmq's tools do;
    /// PERF_REUSE_BODY=1 shares one body between them instead (a profile of
    /// this crate without the allocator).
    #[arg(value_name = "MODE")]
    mode: String,
    /// The endpoint to bind (local-thr, local-lat, remote-pub) or connect
    /// (remote-thr, remote-lat, local-sub); for idle-conns, the number of
    /// connections.
    #[arg(value_name = "EP")]
    endpoint: String,
    /// Message size in bytes (not for idle-conns).
    #[arg(value_name = "SIZE", value_parser = clap::value_parser!(u64).range(1..))]
    size: Option<u64>,
    /// Messages (thr, sub, pub) or round trips (lat).
    #[arg(value_name = "COUNT", value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
    /// remote-pub only: the subscriptions to wait for before publishing.
    #[arg(value_name = "NSUBS", value_parser = clap::value_parser!(u64).range(1..))]
    nsubs: Option<u64>,
    /// tokio (current-thread), tokio-mt (tokio's default multi-thread
    /// runtime, the loop in a task spawned on it), tokio-mt-main (the same
    /// runtime, the loop on the thread blocked on it, as code straight in
    /// `#[tokio::main]` runs), smol or blocking.
    #[arg(long, value_name = "RUNTIME", default_value = "tokio")]
    runtime: String,
}

#[derive(Args)]
struct KeygenArgs {
    /// Write the key pair as a zcert certificate instead of printing it: PATH
    /// (public key, for peers) and PATH_secret (both keys, mode 0600), the
    /// files CZMQ's zcert and pyzmq's zmq.auth read. Prints `public: Z85`.
    #[arg(long, value_name = "PATH")]
    cert: Option<std::path::PathBuf>,
    /// A metadata entry for the certificate (repeatable; needs --cert).
    #[arg(long = "meta", value_name = "NAME=VALUE", requires = "cert")]
    meta: Vec<String>,
}

#[derive(Args)]
struct BenchArgs {
    /// Message size in bytes.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    size: u64,
    /// Messages per throughput run.
    #[arg(long, default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1..))]
    count: u64,
    /// Round trips per latency run.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    roundtrips: u64,
    /// Only this runtime (repeatable): tokio, tokio-mt, tokio-mt-main, smol,
    /// blocking.
    #[arg(long, value_name = "RUNTIME")]
    runtime: Vec<String>,
    /// Only this transport (repeatable): tcp, ipc, inproc.
    #[arg(long, value_name = "TRANSPORT")]
    transport: Vec<String>,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind::*;
            if matches!(e.kind(), DisplayHelp | DisplayVersion) {
                let _ = e.print();
                std::process::exit(0);
            }
            if e.kind() == DisplayHelpOnMissingArgumentOrSubcommand {
                exit(Err(Failure::Usage(
                    "missing command: cat, keygen, perf, bench or soak (see zmq --help)".into(),
                )));
            }
            // One line that names the offending argument: clap's first
            // paragraph (a missing argument is named on the lines after the
            // first), joined.
            let text = e.render().to_string();
            let line = text
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" ");
            exit(Err(Failure::Usage(
                line.trim_start_matches("error: ").to_owned(),
            )));
        }
    };
    let result = match cli.command {
        Command::Keygen(args) => keygen(args),
        Command::Cat(args) => cat_config(*args).and_then(cat::run),
        Command::Perf(args) => perf_command(args),
        Command::Bench(args) => bench_command(args),
        Command::Soak(args) => soak_command(args),
    };
    exit(result);
}

fn soak_command(args: SoakArgs) -> Result<(), Failure> {
    if !args.peer_script.is_file() {
        return Err(usage(format!(
            "--peer-script {}: no such file",
            args.peer_script.display()
        )));
    }
    soak::run(&soak::Plan {
        duration: soak::parse_duration(&args.duration).map_err(usage)?,
        peer_script: args.peer_script.display().to_string(),
        max_rss_growth_kib: args.max_rss_growth.saturating_mul(1024),
        runtime: Choice::parse(&args.runtime).map_err(usage)?,
    })
}

fn keygen(args: KeygenArgs) -> Result<(), Failure> {
    let kp = KeyPair::generate();
    let Some(path) = args.cert else {
        out(&format!(
            "public: {}\nsecret: {}",
            kp.public.to_z85(),
            kp.secret.to_z85()
        ));
        return Ok(());
    };
    let public = kp.public;
    let mut cert = Certificate::new(kp);
    for entry in &args.meta {
        let (name, value) = entry
            .split_once('=')
            .ok_or_else(|| usage(format!("--meta {entry:?}: expected NAME=VALUE")))?;
        cert = cert
            .with_metadata(name, value)
            .map_err(|e| usage(format!("--meta {entry:?}: {e}")))?;
    }
    // A path that cannot be written is the user's to fix, as a bad argument.
    zmq_runtime::cert::save(&cert, &path).map_err(|e| usage(e.to_string()))?;
    out(&format!("public: {}", public.to_z85()));
    Ok(())
}

fn exit(result: Result<(), Failure>) -> ! {
    let _ = std::io::stdout().flush();
    let code = match result {
        Ok(()) | Err(Failure::StdoutClosed) => 0,
        Err(Failure::Usage(why)) => {
            eprintln!("error: {why}");
            2
        }
        Err(Failure::Timeout) => {
            eprintln!("timeout: nothing received");
            3
        }
        Err(Failure::Runtime(why)) => {
            eprintln!("error: {why}");
            1
        }
        Err(Failure::Refused) => 4,
    };
    std::process::exit(code);
}

/// Writes lines to stdout; a reader that went away (`| head`) is not an error.
pub(crate) fn out(text: &str) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{text}").and_then(|()| o.flush());
}

fn usage(why: impl Into<String>) -> Failure {
    Failure::Usage(why.into())
}

fn public_key(opt: &str, v: &str) -> Result<PublicKey, Failure> {
    v.parse()
        .map_err(|e| usage(format!("bad CURVE key for {opt} '{v}': {e}")))
}

fn secret_key(opt: &str, v: &str) -> Result<SecretKey, Failure> {
    v.parse()
        .map_err(|e| usage(format!("bad CURVE key for {opt} '{v}': {e}")))
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn cat_config(a: CatArgs) -> Result<cat::Config, Failure> {
    let kind = a
        .kind
        .as_deref()
        .ok_or_else(|| {
            usage("missing socket TYPE (pair pub sub req rep dealer router push pull xpub xsub stream)")
        })
        .and_then(|k| cat::parse_type(k).map_err(usage))?;
    if a.bind.is_empty() && a.connect.is_empty() {
        return Err(usage("no endpoint: give -b/--bind EP or -c/--connect EP"));
    }
    cat::check_endpoints(&a.bind, &a.connect).map_err(usage)?;
    let runtime = Choice::parse(&a.runtime).map_err(usage)?;
    let security = security(&a)?;
    Ok(cat::Config {
        kind,
        binds: a.bind,
        connects: a.connect,
        subscribe: a.subscribe,
        count: a.count,
        timeout: a.timeout.map(ms),
        routing_id: a.routing_id,
        sndhwm: a.sndhwm,
        rcvhwm: a.rcvhwm,
        linger: match a.linger {
            None | Some(-1) => None,
            Some(v) => Some(ms(v.unsigned_abs())),
        },
        heartbeat_ivl: a.heartbeat_ivl.map(ms),
        heartbeat_timeout: a.heartbeat_timeout.map(ms),
        reconnect_ivl: a
            .reconnect_ivl
            .map(|v| (v >= 0).then(|| ms(v.unsigned_abs()))),
        runtime,
        security,
        hex: a.hex,
        echo: a.echo,
    })
}

fn security(a: &CatArgs) -> Result<Security, Failure> {
    let plain_client = a.plain_user.is_some() || a.plain_password.is_some();
    let curve_client = a.curve_serverkey.is_some();
    let chosen = [plain_client, a.plain_server, a.curve_server, curve_client]
        .iter()
        .filter(|on| **on)
        .count();
    if chosen > 1 {
        return Err(usage(
            "choose one of --plain-user/--plain-password, --plain-server, --curve-server, --curve-serverkey",
        ));
    }
    if !a.allow.is_empty() && !a.plain_server {
        return Err(usage("--allow needs --plain-server"));
    }
    if !a.curve_allow.is_empty() && !a.curve_server {
        return Err(usage("--curve-allow needs --curve-server"));
    }
    if a.curve_secret.is_some() && !(a.curve_server || curve_client) {
        return Err(usage(
            "--curve-secret needs --curve-server or --curve-serverkey",
        ));
    }
    if plain_client {
        let (Some(user), Some(password)) = (&a.plain_user, &a.plain_password) else {
            return Err(usage("--plain-user and --plain-password go together"));
        };
        return Ok(Security::PlainClient {
            user: user.clone(),
            password: password.clone(),
        });
    }
    if a.plain_server {
        let allow = a
            .allow
            .iter()
            .map(|v| {
                v.split_once(':')
                    .map(|(u, p)| (u.to_owned(), p.to_owned()))
                    .ok_or_else(|| usage(format!("bad --allow '{v}': expected USER:PASS")))
            })
            .collect::<Result<_, _>>()?;
        return Ok(Security::PlainServer { allow });
    }
    if a.curve_server {
        let Some(secret) = &a.curve_secret else {
            return Err(usage("--curve-server needs --curve-secret"));
        };
        let secret = secret_key("--curve-secret", secret)?;
        let allow = a
            .curve_allow
            .iter()
            .map(|k| public_key("--curve-allow", k))
            .collect::<Result<_, _>>()?;
        return Ok(Security::CurveServer { secret, allow });
    }
    if let Some(server) = &a.curve_serverkey {
        let server = public_key("--curve-serverkey", server)?;
        let secret = a
            .curve_secret
            .as_deref()
            .map(|s| secret_key("--curve-secret", s))
            .transpose()?;
        return Ok(Security::CurveClient { server, secret });
    }
    Ok(Security::Null)
}

/// `zmq perf`'s six modes: libzmq's four tools (`perf.rs`) and the fan-out
/// pair (`fanout.rs`).
#[derive(Clone, Copy)]
enum PerfMode {
    Pair(perf::Mode),
    Fanout(fanout::Mode),
}

fn perf_command(a: PerfArgs) -> Result<(), Failure> {
    if let Some(done) = idle_command(&a) {
        return done;
    }
    let (Some(size), Some(count)) = (a.size, a.count) else {
        return Err(usage(format!("{} needs EP SIZE COUNT", a.mode)));
    };
    let mode = match fanout::Mode::parse(&a.mode) {
        Some(f) => PerfMode::Fanout(f),
        None => PerfMode::Pair(perf::Mode::parse(&a.mode).map_err(usage)?),
    };
    let nsubs = match (mode, a.nsubs) {
        (PerfMode::Fanout(fanout::Mode::RemotePub), Some(n)) => n,
        (PerfMode::Fanout(fanout::Mode::RemotePub), None) => {
            return Err(usage(
                "remote-pub needs NSUBS: remote-pub EP SIZE COUNT NSUBS",
            ))
        }
        (_, Some(n)) => {
            return Err(usage(format!(
                "unexpected argument '{n}': NSUBS is for remote-pub only"
            )))
        }
        (_, None) => 0,
    };
    let runtime = Choice::parse(&a.runtime).map_err(usage)?;
    let size = usize::try_from(size).map_err(|_| usage(format!("SIZE {size} is too large")))?;
    match mode {
        PerfMode::Pair(m) => perf::run(m, &a.endpoint, size, count, runtime),
        PerfMode::Fanout(f) => fanout::run(f, &a.endpoint, size, count, nsubs, runtime),
    }
}

/// `idle-conns N`, and `idle-conns-dealers EP N`, the second process it
/// starts (not for users: its output is a line for the first); `None` for
/// every other mode.
fn idle_command(a: &PerfArgs) -> Option<Result<(), Failure>> {
    let count = |v: &str| -> Result<u64, Failure> {
        v.parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| usage(format!("idle-conns: '{v}' is not a number of connections")))
    };
    let run = || match a.mode.as_str() {
        "idle-conns" => {
            if let Some(extra) = a.size {
                return Err(usage(format!(
                    "unexpected argument '{extra}': idle-conns takes only N"
                )));
            }
            let runtime = Choice::parse(&a.runtime).map_err(usage)?;
            idle::run(count(&a.endpoint)?, runtime)
        }
        _ => {
            let n = a
                .size
                .filter(|_| a.count.is_none())
                .ok_or_else(|| usage("idle-conns-dealers needs EP N"))?;
            let runtime = Choice::parse(&a.runtime).map_err(usage)?;
            idle::run_dealers(&a.endpoint, n, runtime)
        }
    };
    matches!(a.mode.as_str(), "idle-conns" | "idle-conns-dealers").then(run)
}

fn bench_command(a: BenchArgs) -> Result<(), Failure> {
    let runtimes = if a.runtime.is_empty() {
        Choice::ALL.to_vec()
    } else {
        a.runtime
            .iter()
            .map(|r| Choice::parse(r).map_err(usage))
            .collect::<Result<_, _>>()?
    };
    let transports = if a.transport.is_empty() {
        bench::TRANSPORTS.to_vec()
    } else {
        a.transport
            .iter()
            .map(|t| {
                bench::TRANSPORTS
                    .iter()
                    .copied()
                    .find(|k| k == t)
                    .ok_or_else(|| usage(format!("unknown --transport '{t}' (tcp, ipc or inproc)")))
            })
            .collect::<Result<_, _>>()?
    };
    let size =
        usize::try_from(a.size).map_err(|_| usage(format!("--size {} is too large", a.size)))?;
    bench::run(&bench::Plan {
        size,
        count: a.count,
        roundtrips: a.roundtrips,
        runtimes,
        transports,
        json: a.json,
    })
}
