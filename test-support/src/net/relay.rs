//! A TCP relay that delays what it forwards: the network tests' slow,
//! jittery link (the kernel here has no netem qdisc).
//!
//! Every chunk read from one side is written to the other `delay` +-
//! `jitter` after it arrived, never before the chunk read ahead of it, so
//! the byte stream keeps its order as TCP keeps it on a real link with a
//! varying delay. When either side ends or fails, both connections of the
//! pair are shut down, as a middlebox losing one half would.

use std::io::{BufRead, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// What the relay does: listen on `listen`, forward each connection to
/// `target`, delaying every chunk by `delay` +- `jitter` in each direction.
#[derive(Clone, Copy, Debug)]
pub struct RelayConfig {
    /// Where the relay accepts connections (port 0: any).
    pub listen: SocketAddr,
    /// Where it forwards them.
    pub target: SocketAddr,
    /// The mean one-way delay.
    pub delay: Duration,
    /// The largest deviation from `delay`, either way.
    pub jitter: Duration,
}

impl RelayConfig {
    /// The configuration as one argument (`listen target delay_ms jitter_ms`),
    /// for a relay process.
    pub fn to_arg(&self) -> String {
        format!(
            "{} {} {} {}",
            self.listen,
            self.target,
            self.delay.as_millis(),
            self.jitter.as_millis()
        )
    }

    /// Parses [`to_arg`](Self::to_arg)'s text.
    pub fn from_arg(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split_whitespace().collect();
        let [listen, target, delay, jitter] = parts[..] else {
            return Err(format!(
                "relay config `{text}`: want LISTEN TARGET DELAY_MS JITTER_MS"
            ));
        };
        let addr = |s: &str| s.parse().map_err(|e| format!("relay address `{s}`: {e}"));
        let ms = |s: &str| {
            s.parse()
                .map(Duration::from_millis)
                .map_err(|e| format!("relay milliseconds `{s}`: {e}"))
        };
        Ok(Self {
            listen: addr(listen)?,
            target: addr(target)?,
            delay: ms(delay)?,
            jitter: ms(jitter)?,
        })
    }
}

/// A small xorshift generator: the jitter needs no quality, only variety,
/// and no dependency.
struct Jitter(u64);

impl Jitter {
    fn seeded(salt: u64) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let seed = (u64::from(std::process::id()) << 32) ^ salt ^ nanos ^ 0x9e37_79b9_7f4a_7c15;
        Self(seed | 1)
    }

    /// A delay in `delay - jitter ..= delay + jitter`.
    fn sample(&mut self, delay: Duration, jitter: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let span = jitter.as_micros() as u64 * 2 + 1;
        let offset = Duration::from_micros(self.0 % span);
        (delay + offset).saturating_sub(jitter)
    }
}

/// Forwards `from` to `to`, each chunk released after its delay and never
/// before the one ahead of it; shuts both down when done.
fn pipe(from: TcpStream, to: TcpStream, config: RelayConfig, salt: u64) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let mut reader = from.try_clone().expect("clone relay stream");
    thread::spawn(move || {
        let mut jitter = Jitter::seeded(salt);
        let mut last = Instant::now();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let due =
                        (Instant::now() + jitter.sample(config.delay, config.jitter)).max(last);
                    last = due;
                    if tx.send((due, buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let mut writer = to;
    for (due, chunk) in rx {
        let wait = due.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            thread::sleep(wait);
        }
        if writer.write_all(&chunk).is_err() {
            break;
        }
    }
    let _ = writer.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

/// Runs the relay: prints `PORT n` (the port it listens on) and forwards
/// connections until stdin closes, then exits the process (the test that
/// started it has gone).
pub fn serve(config: RelayConfig) -> ! {
    let listener = TcpListener::bind(config.listen)
        .unwrap_or_else(|e| panic!("relay cannot listen on {}: {e}", config.listen));
    let port = listener.local_addr().expect("relay address").port();
    println!("PORT {port}");
    let _ = std::io::stdout().flush();
    thread::spawn(|| {
        // The parent holds our stdin; its end means nobody needs us.
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            if line.is_err() {
                break;
            }
        }
        std::process::exit(0);
    });
    let mut salt = 0u64;
    for incoming in listener.incoming() {
        let Ok(client) = incoming else { continue };
        let Ok(server) = TcpStream::connect(config.target) else {
            // Nobody behind us: refuse the way a dead port would.
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        for (from, to) in [
            (client.try_clone(), server.try_clone()),
            (server.try_clone(), client.try_clone()),
        ] {
            let (Ok(from), Ok(to)) = (from, to) else {
                break;
            };
            salt += 1;
            let s = salt;
            thread::spawn(move || pipe(from, to, config, s));
        }
    }
    std::process::exit(0)
}
