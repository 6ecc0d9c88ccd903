//! CURVE with client authentication (the ZeroMQ guide, chapter 5's
//! "Ironhouse" pattern): every connection is encrypted, and the server lets in
//! only the clients whose public keys it knows.
//!
//! The server holds a long-term key pair whose public half the clients know in
//! advance; each client proves its own key pair during the handshake. Without
//! an authenticator a CURVE server would admit any client that knows the
//! server's key (encryption without authentication); the authenticator here is
//! a closure that allows one key, where libzmq would need a ZAP handler socket.
//!
//! tokio runtime: the server is a task, the two clients run in `main`.
//!
//! `cargo run -p zmq-examples --bin curve`

use runtime_tokio::{
    AuthReply, AuthRequest, Credentials, KeyPair, MonitorEvent, Socket, SocketType,
};

/// Errors that may cross from a task to `main`.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // Real deployments load these from files (`zmq keygen` writes them); the
    // secret halves never leave their owner.
    let server_keys = KeyPair::generate();
    let known_client = KeyPair::generate();
    let stranger = KeyPair::generate();

    let allowed = known_client.public;
    let server = Socket::builder(SocketType::Rep)
        .curve_server(server_keys.secret.clone())
        // Called once per handshake, after the client proved it holds the
        // secret key of the public key it presents.
        .authenticator(move |request: &AuthRequest| {
            Some(match &request.credentials {
                Credentials::Curve { public_key } if *public_key == allowed => {
                    println!("server: allowing client {public_key}");
                    AuthReply::allow()
                }
                Credentials::Curve { public_key } => {
                    println!("server: refusing client {public_key}");
                    AuthReply::deny("unknown client key")
                }
                _ => AuthReply::deny("CURVE only"),
            })
        })
        .build()?;
    let endpoint = server.bind("tcp://127.0.0.1:*")?;
    tokio::spawn(async move {
        while let Ok(request) = server.recv().await {
            if server.send(request).await.is_err() {
                break;
            }
        }
    });

    let client = Socket::builder(SocketType::Req)
        .curve_client(server_keys.public, known_client)
        .build()?;
    client.connect(&endpoint)?;
    client.send("hello over CURVE").await?;
    println!(
        "known client: got {:?} back",
        client.recv().await?.to_str()?
    );

    // The stranger knows the server's key too, but not a key the server
    // knows: its handshake fails, which only its monitor shows (a refused
    // socket's sends just wait, as for a peer that never came).
    let unknown = Socket::builder(SocketType::Req)
        .curve_client(server_keys.public, stranger)
        .build()?;
    let mut monitor = unknown.monitor();
    unknown.connect(&endpoint)?;
    loop {
        match monitor.next_event().await {
            Some(MonitorEvent::HandshakeFailed { error, .. }) => {
                // A denial is permanent: the socket does not retry, as libzmq
                // does not.
                let retry = if error.is_permanent() {
                    "no retry"
                } else {
                    "will retry"
                };
                println!("unknown client: refused ({error}), {retry}");
                break;
            }
            Some(MonitorEvent::HandshakeSucceeded { .. }) => {
                return Err("the server let an unknown client in".into())
            }
            Some(_) => {}
            None => return Err("the unknown client's socket closed".into()),
        }
    }
    Ok(())
}
