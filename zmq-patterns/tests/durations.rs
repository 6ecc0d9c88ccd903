//! Every duration a user can set (LINGER, RECONNECT_IVL and its maximum, the
//! heartbeat interval, timeout and TTL, HANDSHAKE_IVL), at any value up to
//! `Duration::MAX`, never panics the engine: deadlines that do not fit in an
//! `Instant` mean "never", as an infinite setting would.

// The test drives time itself; it reads the clock once, for a starting point.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use bytes::BytesMut;
use proptest::prelude::*;
use zmq_patterns::engine::{Action, ConnId, Engine, EngineConfig};
use zmtp_core::{Config, Msg, SocketType};

/// Durations around the places arithmetic can overflow: zero, tiny, ordinary,
/// and the largest values a caller can pass.
fn duration() -> impl Strategy<Value = Option<Duration>> {
    prop_oneof![
        Just(None),
        Just(Some(Duration::ZERO)),
        Just(Some(Duration::from_nanos(1))),
        (1u64..10_000).prop_map(|ms| Some(Duration::from_millis(ms))),
        Just(Some(Duration::from_secs(u64::MAX / 2))),
        Just(Some(Duration::from_secs(u64::MAX))),
        Just(Some(Duration::MAX)),
    ]
}

#[derive(Debug, Clone)]
struct Settings {
    linger: Option<Duration>,
    reconnect_ivl: Option<Duration>,
    reconnect_ivl_max: Option<Duration>,
    heartbeat_ivl: Option<Duration>,
    heartbeat_timeout: Option<Duration>,
    heartbeat_ttl: Option<Duration>,
    handshake_ivl: Option<Duration>,
}

fn settings() -> impl Strategy<Value = Settings> {
    (
        duration(),
        duration(),
        duration(),
        duration(),
        duration(),
        duration(),
        duration(),
    )
        .prop_map(|(a, b, c, d, e, f, g)| Settings {
            linger: a,
            reconnect_ivl: b,
            reconnect_ivl_max: c,
            heartbeat_ivl: d,
            heartbeat_timeout: e,
            heartbeat_ttl: f,
            handshake_ivl: g,
        })
}

fn engine(now: Instant, t: SocketType, s: &Settings) -> Engine {
    let connection = Config::new(t)
        .with_heartbeat_ivl(s.heartbeat_ivl)
        .with_heartbeat_timeout(s.heartbeat_timeout)
        .with_heartbeat_ttl(s.heartbeat_ttl)
        .with_handshake_ivl(s.handshake_ivl);
    let mut cfg = EngineConfig::new(connection);
    cfg.linger = s.linger;
    cfg.reconnect_ivl = s.reconnect_ivl;
    cfg.reconnect_ivl_max = s.reconnect_ivl_max;
    Engine::new(now, cfg)
}

/// The actions an engine asks for, with flushes and resumes left to the
/// byte shuttle below.
fn actions(e: &mut Engine) -> Vec<Action> {
    std::iter::from_fn(|| e.poll_action()).collect()
}

/// Moves bytes both ways between two streams until neither has more. Each
/// side's receive buffer keeps what it has not consumed yet, as a runtime's
/// does.
fn shuttle(now: Instant, a: &mut Engine, ca: ConnId, b: &mut Engine, cb: ConnId) {
    let (mut to_a, mut to_b) = (BytesMut::new(), BytesMut::new());
    for _ in 0..100 {
        let moved = pass(now, a, ca, b, cb, &mut to_b) | pass(now, b, cb, a, ca, &mut to_a);
        actions(a);
        actions(b);
        if !moved {
            return;
        }
    }
}

/// Moves what `from` has to write into `to`; whether anything moved.
fn pass(
    now: Instant,
    from: &mut Engine,
    cf: ConnId,
    to: &mut Engine,
    ct: ConnId,
    rbuf: &mut BytesMut,
) -> bool {
    let mut moved = false;
    while let Some(bytes) = from.poll_transmit(cf) {
        moved = true;
        rbuf.extend_from_slice(&bytes);
        to.handle_input(now, ct, rbuf);
    }
    moved
}

/// Instants at and far after `start`, as far as an `Instant` reaches.
fn later(start: Instant) -> Vec<Instant> {
    [
        Duration::ZERO,
        Duration::from_millis(150),
        Duration::from_secs(60),
        Duration::from_secs(86_400 * 365),
        Duration::from_secs(86_400 * 365 * 100),
    ]
    .into_iter()
    .filter_map(|d| start.checked_add(d))
    .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// A connected pair exchanges a message, then its connect side fails,
    /// reconnects on its schedule, and both close and linger, at every setting.
    #[test]
    fn extreme_durations_never_panic(s in settings(), peer in settings()) {
        let start = Instant::now();
        let mut pull = engine(start, SocketType::Pull, &peer);
        let mut push = engine(start, SocketType::Push, &s);

        let lid = pull.bind("tcp://127.0.0.1:5555").unwrap();
        for a in actions(&mut pull) {
            if let Action::Listen { id, endpoint } = a {
                pull.handle_listening(id, endpoint);
            }
        }
        let cid = push.connect("tcp://127.0.0.1:5555").unwrap();
        let asked = actions(&mut push);
        let connects = asked.iter().filter(|a| matches!(a, Action::Connect { .. })).count();
        prop_assert_eq!(connects, 1);
        push.send(Msg::from("before")).unwrap();

        let c_push = push.handle_connected(start, cid, "127.0.0.1:5555".into()).unwrap();
        let c_pull = pull.handle_accepted(start, lid, "127.0.0.1:40000".into());
        shuttle(start, &mut push, c_push, &mut pull, c_pull);
        prop_assert_eq!(pull.recv().ok(), Some(Msg::from("before")));

        // The stream breaks: reconnect on the schedule, whatever it is.
        push.handle_eof(start, c_push);
        pull.handle_eof(start, c_pull);
        for now in later(start) {
            push.handle_timeout(now);
            pull.handle_timeout(now);
            for a in actions(&mut push) {
                if let Action::Connect { id, .. } = a {
                    push.handle_connect_failed(now, id);
                }
            }
            let _ = push.poll_timeout();
            let _ = pull.poll_timeout();
        }

        // Close with a message queued for a peer that is gone: LINGER runs.
        let _ = push.send(Msg::from("after"));
        let last = *later(start).last().unwrap();
        push.close(last);
        pull.close(last);
        for now in later(last) {
            push.handle_timeout(now);
            pull.handle_timeout(now);
            let _ = push.poll_timeout();
            let _ = actions(&mut push);
            let _ = actions(&mut pull);
        }
        let _ = push.is_closed();
    }
}
