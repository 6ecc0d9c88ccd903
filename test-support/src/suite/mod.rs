//! The runtime test suite, written once and instantiated by each runtime
//! crate (`runtime-*/tests/suite.rs` implement [`Env`] and call
//! [`suite_tests!`](crate::suite_tests)). Sockets are driven through the runtime-neutral blocking
//! calls, so the same code tests tokio, smol and threads; each crate adds its
//! own tests of its async or blocking API.
//!
//! The peer is real libzmq: pyzmq, installed by `scripts/test.sh`. A missing
//! peer fails the tests; they never skip.

pub mod cases;
pub mod certs;
pub mod endpoints;
pub mod ends;
pub mod faults;
pub mod first_hour;
pub mod inproc;
pub mod lifecycle;
pub mod limits;
pub mod logs;
pub mod monitoring;
pub mod old_peers;
pub mod options;
pub mod properties;
pub mod refusals;
pub mod router_options;
pub mod stream;
pub mod turns;

use std::sync::Mutex;

use zmq_runtime::{Builder, RuntimeKind, Socket};

/// Held by the tests that bind a ZAP handler and by those that need none to
/// be bound: the handler's address is process-wide.
pub(crate) static ZAP_HANDLER: Mutex<()> = Mutex::new(());

/// A runtime under test.
pub trait Env: 'static {
    /// The runtime's type.
    type R: RuntimeKind;
    /// Whatever must be held while sockets are created (tokio's runtime
    /// context).
    fn enter() -> Box<dyn std::any::Any>;
}

/// Builds a socket on the runtime under test.
pub fn build<E: Env>(b: Builder<E::R>) -> Socket<E::R> {
    let _ctx = E::enter();
    b.build_socket().expect("socket")
}

/// The tests every runtime runs.
#[macro_export]
macro_rules! suite_tests {
    ($env:ident) => {
        mod matrix {
            use $crate::suite::cases::{interop, same_runtime, Mech, Transport};
            type E = super::$env;

            #[test]
            fn libzmq_tcp_null() {
                interop::<E>(Transport::Tcp, Mech::Null);
            }
            #[test]
            fn libzmq_tcp_plain() {
                interop::<E>(Transport::Tcp, Mech::Plain);
            }
            #[test]
            fn libzmq_tcp_curve() {
                interop::<E>(Transport::Tcp, Mech::Curve);
            }
            #[test]
            fn libzmq_tcp_plain_refused() {
                interop::<E>(Transport::Tcp, Mech::PlainRefused);
            }
            #[test]
            fn libzmq_tcp_curve_refused() {
                interop::<E>(Transport::Tcp, Mech::CurveRefused);
            }
            #[test]
            fn libzmq_ipc_null() {
                interop::<E>(Transport::Ipc, Mech::Null);
            }
            #[test]
            fn libzmq_ipc_plain() {
                interop::<E>(Transport::Ipc, Mech::Plain);
            }
            #[test]
            fn libzmq_ipc_curve() {
                interop::<E>(Transport::Ipc, Mech::Curve);
            }
            #[test]
            fn libzmq_ipc_plain_refused() {
                interop::<E>(Transport::Ipc, Mech::PlainRefused);
            }
            #[test]
            fn libzmq_ipc_curve_refused() {
                interop::<E>(Transport::Ipc, Mech::CurveRefused);
            }
            #[test]
            fn ours_inproc() {
                same_runtime::<E>(Transport::Inproc, Mech::Null);
            }
            #[test]
            fn ours_tcp_null() {
                same_runtime::<E>(Transport::Tcp, Mech::Null);
            }
            #[test]
            fn ours_ipc_null() {
                same_runtime::<E>(Transport::Ipc, Mech::Null);
            }
            #[test]
            fn ours_tcp_plain_and_refused() {
                same_runtime::<E>(Transport::Tcp, Mech::Plain);
                same_runtime::<E>(Transport::Tcp, Mech::PlainRefused);
            }
            #[test]
            fn ours_tcp_curve_and_refused() {
                same_runtime::<E>(Transport::Tcp, Mech::Curve);
                same_runtime::<E>(Transport::Tcp, Mech::CurveRefused);
            }
        }

        mod lifecycle {
            use $crate::suite::lifecycle as l;
            type E = super::$env;

            #[test]
            fn reconnect_after_libzmq_restarts() {
                l::reconnect_after_libzmq_restarts::<E>();
            }
            #[test]
            fn connect_before_bind() {
                l::connect_before_bind::<E>();
            }
            #[test]
            fn linger() {
                l::linger::<E>();
            }
            #[test]
            fn extreme_durations() {
                l::extreme_durations::<E>();
            }
            #[test]
            fn heartbeat_timeout() {
                l::heartbeat_timeout::<E>();
            }
            #[test]
            fn hwm_back_pressure() {
                l::hwm_back_pressure::<E>();
            }
            #[test]
            fn send_resumes_through_a_stop_and_go_reader() {
                l::send_resumes_through_a_stop_and_go_reader::<E>();
            }
            #[test]
            fn many_endpoints() {
                l::many_endpoints::<E>();
            }
            #[test]
            fn receive_back_pressure() {
                l::receive_back_pressure::<E>();
            }
            #[test]
            fn monitor_curve() {
                l::monitor_curve::<E>();
            }
            #[test]
            fn errors() {
                l::errors::<E>();
            }
            #[test]
            fn addresses() {
                l::addresses::<E>();
            }
            #[test]
            fn proxies() {
                l::proxies::<E>();
            }
            #[test]
            fn zap_handler_socket() {
                l::zap_handler_socket::<E>();
            }
        }

        mod first_hour {
            use $crate::suite::first_hour;
            type E = super::$env;

            #[test]
            fn send_anything_and_read_text() {
                first_hour::send_anything_and_read_text::<E>();
            }
            #[test]
            fn closure_authenticator() {
                first_hour::closure_authenticator::<E>();
            }
            #[test]
            fn misuse_is_explained() {
                first_hour::misuse_is_explained::<E>();
            }
        }

        mod options {
            use $crate::suite::options as o;
            type E = super::$env;

            #[test]
            fn live_sndhwm() {
                o::live_sndhwm::<E>();
            }
            #[test]
            fn live_connection_settings() {
                o::live_connection_settings::<E>();
            }
            #[test]
            fn live_server_security() {
                o::live_server_security::<E>();
            }
            #[test]
            fn live_linger_and_timeouts() {
                o::live_linger_and_timeouts::<E>();
            }
            #[test]
            fn last_endpoint_and_events() {
                o::last_endpoint_and_events::<E>();
            }
            #[test]
            fn connect_timeout() {
                o::connect_timeout::<E>();
            }
            #[test]
            fn ipv6_dual_stack() {
                o::ipv6_dual_stack::<E>();
            }
            #[test]
            fn socket_level_options() {
                o::socket_level_options::<E>();
            }
            #[test]
            fn getters_and_errors() {
                o::getters_and_errors::<E>();
            }
        }

        mod endpoints {
            use $crate::suite::endpoints as ep;
            type E = super::$env;

            #[test]
            fn ipc_wildcard() {
                ep::ipc_wildcard::<E>();
            }
            #[test]
            fn unbind_wildcards() {
                ep::unbind_wildcards::<E>();
            }
        }

        mod certs {
            use $crate::suite::certs;
            type E = super::$env;

            #[test]
            fn pyzmq_certificates() {
                certs::pyzmq_certificates::<E>();
            }
            #[test]
            fn certificates_load_in_pyzmq() {
                certs::certificates_load_in_pyzmq::<E>();
            }
        }

        mod inproc {
            use $crate::suite::inproc as i;
            type E = super::$env;

            #[test]
            fn capacity_matches_libzmq() {
                i::capacity_matches_libzmq::<E>();
            }
            #[test]
            fn sender_thread_blocks_and_resumes() {
                i::sender_thread_blocks_and_resumes::<E>();
            }
            #[test]
            fn both_ends_send_at_once() {
                i::both_ends_send_at_once::<E>();
            }
            #[test]
            fn closing_sender_delivers_everything() {
                i::closing_sender_delivers_everything::<E>();
            }
            #[test]
            fn conflate_receiver_keeps_the_newest() {
                i::conflate_receiver_keeps_the_newest::<E>();
            }
            #[test]
            fn publisher_reaches_every_subscriber() {
                i::publisher_reaches_every_subscriber::<E>();
            }
        }

        mod properties {
            use $crate::suite::cases::Transport;
            use $crate::suite::properties as p;
            type E = super::$env;

            #[test]
            fn with_libzmq_tcp() {
                p::with_libzmq::<E>(Transport::Tcp);
            }
            #[test]
            fn with_libzmq_ipc() {
                p::with_libzmq::<E>(Transport::Ipc);
            }
            #[test]
            fn authenticator_grant() {
                p::authenticator_grant::<E>();
            }
            #[test]
            fn libzmq_zap_grant() {
                p::libzmq_zap_grant::<E>();
            }
            #[test]
            fn inproc_and_forwarded() {
                p::inproc_and_forwarded::<E>();
            }
        }

        mod monitoring {
            use $crate::suite::{logs, monitoring as m, refusals as r};
            type E = super::$env;

            #[test]
            fn every_monitor_sees_every_event() {
                m::every_monitor_sees_every_event::<E>();
            }
            #[test]
            fn connected_peer_is_the_remote_end() {
                m::connected_peer_is_the_remote_end::<E>();
            }
            #[test]
            fn unread_monitor_overflows() {
                m::unread_monitor_overflows::<E>();
            }
            #[test]
            fn refused_wrong_curve_server_key() {
                r::wrong_curve_server_key::<E>();
            }
            #[test]
            fn refused_plain_denied_by_zap() {
                r::plain_denied_by_zap::<E>();
            }
            #[test]
            fn refused_curve_client_denied_by_zap() {
                r::curve_client_denied_by_zap::<E>();
            }
            #[test]
            fn refused_only_when_every_endpoint_is() {
                r::refused_only_when_every_endpoint_is::<E>();
            }
            #[test]
            fn lifecycle_is_logged_escaped() {
                logs::lifecycle_is_logged_escaped::<E>();
            }
        }

        mod stream {
            use $crate::suite::cases::Transport;
            use $crate::suite::stream as s;
            type E = super::$env;

            #[test]
            fn plain_tcp_client() {
                s::plain_tcp_client::<E>();
            }
            #[test]
            fn libzmq_stream_connects() {
                s::libzmq_stream_connects::<E>(Transport::Tcp);
            }
            #[test]
            fn libzmq_stream_connects_over_ipc() {
                s::libzmq_stream_connects::<E>(Transport::Ipc);
            }
            #[test]
            fn connects_to_libzmq_stream() {
                s::connects_to_libzmq_stream::<E>();
            }
            #[test]
            fn zmtp_peer_sees_only_bytes() {
                s::zmtp_peer_sees_only_bytes::<E>();
            }
        }

        mod limits {
            use $crate::suite::limits as l;
            type E = super::$env;

            #[test]
            fn pending_handshakes_capped() {
                l::pending_handshakes_capped::<E>();
            }
            #[test]
            fn rcvhwm_stops_reading() {
                l::rcvhwm_stops_reading::<E>();
            }
            #[test]
            fn hwm_bytes() {
                l::hwm_bytes::<E>();
            }
        }

        mod router_options {
            use $crate::suite::router_options as r;
            type E = super::$env;

            #[test]
            fn router_notify() {
                r::router_notify::<E>();
            }
            #[test]
            fn probe_router() {
                r::probe_router::<E>();
            }
            #[test]
            fn connect_routing_id() {
                r::connect_routing_id::<E>();
            }
            #[test]
            fn zap_enforce_domain() {
                r::zap_enforce_domain::<E>();
            }
            #[test]
            fn option_errors() {
                r::option_errors::<E>();
            }
        }

        mod faults {
            use $crate::suite::faults as f;
            type E = super::$env;

            #[test]
            fn killed_mid_message() {
                f::killed_mid_message::<E>();
            }
            #[test]
            fn stalled_reader() {
                f::stalled_reader::<E>();
            }
            #[test]
            fn reset_storm() {
                f::reset_storm::<E>();
            }
            #[test]
            fn bind_unbind_loop() {
                f::bind_unbind_loop::<E>();
            }
            #[test]
            fn libzmq_restarts_100() {
                f::libzmq_restarts::<E>(100);
            }
            #[test]
            fn protocol_error_after_handshake() {
                f::protocol_error_after_handshake::<E>();
            }
        }

        mod old_peers {
            use $crate::suite::old_peers as o;
            type E = super::$env;

            #[test]
            fn zmtp2() {
                o::old_zmtp2::<E>();
            }
            #[test]
            fn zmtp1() {
                o::old_zmtp1::<E>();
            }
            #[test]
            fn refused() {
                o::old_refused::<E>();
            }
            #[test]
            fn maxmsgsize() {
                o::old_maxmsgsize::<E>();
            }
            #[test]
            fn malformed() {
                o::old_malformed::<E>();
            }
        }
    };
}
