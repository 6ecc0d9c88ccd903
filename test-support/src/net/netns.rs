//! Two network namespaces joined by a veth pair, with nftables rules on
//! both ends that drop a share of the packets, or all of them (a partition).
//!
//! Everything is created by [`Link::new`] under names unique to the process
//! and the link, and removed when the [`Link`] drops, also on a panic;
//! nothing outside the two namespaces is touched. Needs root, `ip`
//! (iproute2) and `nft` (nftables); [`ensure_tools`] installs the missing
//! ones through apt-get, once per process, and fails the test if it cannot.

use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

/// The nftables table every namespace gets (one per namespace, so the name
/// needs no uniqueness).
const TABLE: &str = "zmqnet";

/// Runs `program args`; the output on success, panics with stderr otherwise.
fn run(program: &str, args: &[&str]) -> String {
    run_with_input(program, args, None)
}

fn run_with_input(program: &str, args: &[&str], input: Option<&str>) -> String {
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `{program}`: {e}"));
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(text.as_bytes())
            .unwrap_or_else(|e| panic!("cannot write to `{program}`: {e}"));
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("`{program}` did not finish: {e}"));
    assert!(
        out.status.success(),
        "`{program} {}` failed ({}): {}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn runs(program: &str, probe: &str) -> bool {
    Command::new(program)
        .arg(probe)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn apt_install(package: &str) -> bool {
    Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends", package])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Makes sure `ip` and `nft` run, installing iproute2 and nftables with
/// apt-get when they do not (refreshing the package lists once if the first
/// attempt fails); panics naming what is missing otherwise. Checked once per
/// process.
pub fn ensure_tools() {
    static TOOLS: OnceLock<Result<(), String>> = OnceLock::new();
    let result = TOOLS.get_or_init(|| {
        let mut updated = false;
        for (program, probe, package) in
            [("ip", "-V", "iproute2"), ("nft", "--version", "nftables")]
        {
            if runs(program, probe) {
                continue;
            }
            let mut installed = apt_install(package);
            if !installed && !updated {
                updated = true;
                let _ = Command::new("apt-get")
                    .arg("update")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
                installed = apt_install(package);
            }
            if !installed || !runs(program, probe) {
                return Err(format!(
                    "the network tests need `{program}` ({package}); \
                     `apt-get install -y {package}` failed (they need root and the Debian \
                     package registry)"
                ));
            }
        }
        Ok(())
    });
    if let Err(why) = result {
        panic!("{why}");
    }
}

/// A network namespace of our own, deleted on drop with every process
/// still inside it.
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates namespace `name` with its loopback up; a leftover of that
    /// name (from a killed run whose pid came back) is deleted first.
    fn create(name: String) -> Self {
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(Stdio::null())
            .status();
        run("ip", &["netns", "add", &name]);
        let ns = Self { name };
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// The namespace's name, for `ip netns exec`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs a command inside the namespace; panics if it fails.
    pub fn exec(&self, command: &[&str]) -> String {
        let mut args = vec!["netns", "exec", &self.name];
        args.extend_from_slice(command);
        run("ip", &args)
    }

    /// Feeds an nftables script to `nft -f -` inside the namespace.
    fn nft(&self, script: &str) -> String {
        run_with_input(
            "ip",
            &["netns", "exec", &self.name, "nft", "-f", "-"],
            Some(script),
        )
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Peers are killed by their own handles first; this catches what a
        // panic left behind, so the namespace can really go.
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Two namespaces `a` and `b` joined by a veth pair (`a` holds
/// [`addr_a`](Self::addr_a), `b` [`addr_b`](Self::addr_b)), each dropping
/// incoming packets from the other by an nftables rule that
/// [`loss`](Self::loss) sets.
///
/// Packets are dropped where they arrive, never where they leave: a drop
/// on output would fail the sender's system call (EPERM), which no real
/// network does.
pub struct Link {
    /// The first namespace (the connecting side, in the tests).
    pub a: Netns,
    /// The second namespace (the binding side and the relay).
    pub b: Netns,
    /// `a`'s address on the veth pair.
    pub addr_a: Ipv4Addr,
    /// `b`'s address on the veth pair.
    pub addr_b: Ipv4Addr,
    veth_a: String,
    veth_b: String,
}

impl Link {
    /// Creates the namespaces, the veth pair and the (empty) drop rules.
    pub fn new() -> Self {
        ensure_tools();
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        // Interface names are at most 15 bytes; pid and counter keep parallel
        // tests (and parallel test binaries) apart.
        let tag = format!("{}x{}", pid % 1_000_000, n % 1000);
        let a = Netns::create(format!("zmqnet-{tag}-a"));
        let b = Netns::create(format!("zmqnet-{tag}-b"));
        let veth_a = format!("zv{tag}a");
        let veth_b = format!("zv{tag}b");
        // Each namespace has a routing table of its own, so these cannot clash
        // with anything; they still differ per link to keep logs readable.
        let second = (pid % 200 + 20) as u8;
        let third = (n % 250) as u8;
        let addr_a = Ipv4Addr::new(10, second, third, 1);
        let addr_b = Ipv4Addr::new(10, second, third, 2);
        let link = Self {
            a,
            b,
            addr_a,
            addr_b,
            veth_a,
            veth_b,
        };
        link.a.exec(&[
            "ip",
            "link",
            "add",
            &link.veth_a,
            "type",
            "veth",
            "peer",
            "name",
            &link.veth_b,
            "netns",
            &link.b.name,
        ]);
        for (ns, veth, addr) in [
            (&link.a, &link.veth_a, addr_a),
            (&link.b, &link.veth_b, addr_b),
        ] {
            ns.exec(&["ip", "addr", "add", &format!("{addr}/24"), "dev", veth]);
            ns.exec(&["ip", "link", "set", veth, "up"]);
            ns.nft(&format!(
                "table inet {TABLE} {{\n  chain input {{ type filter hook input priority 0; policy accept; }}\n}}\n"
            ));
        }
        link
    }

    /// Drops `percent` of the packets arriving over the veth pair, in both
    /// directions, at random (`numgen random mod 100`); 100 drops every
    /// one (a partition), 0 none.
    pub fn loss(&self, percent: u8) {
        for (ns, veth) in [(&self.a, &self.veth_a), (&self.b, &self.veth_b)] {
            let rule = match percent {
                0 => String::new(),
                100.. => format!("add rule inet {TABLE} input iifname \"{veth}\" counter drop\n"),
                p => format!(
                    "add rule inet {TABLE} input iifname \"{veth}\" numgen random mod 100 < {p} counter drop\n"
                ),
            };
            ns.nft(&format!("flush chain inet {TABLE} input\n{rule}"));
        }
    }

    /// Takes `a`'s end of the veth pair down (`up` false) or brings it
    /// back: a pulled cable, which `a` sees as a network that is
    /// unreachable and `b` as silence.
    pub fn set_up(&self, up: bool) {
        let state = if up { "up" } else { "down" };
        self.a.exec(&["ip", "link", "set", &self.veth_a, state]);
    }

    /// Packets dropped by the current rules, both namespaces together.
    pub fn dropped(&self) -> u64 {
        [&self.a, &self.b]
            .iter()
            .map(|ns| {
                let listing = ns.exec(&["nft", "list", "chain", "inet", TABLE, "input"]);
                let words: Vec<&str> = listing.split_whitespace().collect();
                words
                    .windows(2)
                    .filter(|w| w[0] == "packets")
                    .filter_map(|w| w[1].parse::<u64>().ok())
                    .sum::<u64>()
            })
            .sum()
    }
}

impl Default for Link {
    fn default() -> Self {
        Self::new()
    }
}
