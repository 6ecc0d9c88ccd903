//! `zmq`: the project's command-line tool.
//!
//! Today it has `zmq keygen`, which prints a CURVE key pair as libzmq's
//! `curve_keygen` does. `zmq cat`, `zmq perf` and `zmq bench` need the runtimes
//! and come with them.

use clap::{Parser, Subcommand};
use zmtp_core::{KeyPair, OsRandom};

/// A pure-Rust ZeroMQ tool.
#[derive(Parser)]
#[command(name = "zmq", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print a new CURVE key pair: `public: Z85` then `secret: Z85`.
    Keygen,
}

fn main() {
    let cli = Cli::parse();
    match cli.command {
        Command::Keygen => {
            let kp = KeyPair::generate(&OsRandom);
            println!("public: {}", kp.public.to_z85());
            println!("secret: {}", kp.secret.to_z85());
        }
    }
}
