//! A socket's endpoints: bind (synchronous, as in libzmq, so `bind` returns
//! its error), listen through the runtime or the inproc registry, connect,
//! and undo both.

use std::net::ToSocketAddrs;

use zmq_patterns::engine::{Action, Endpoint, EngineError, Host, ListenerId};

use super::run;
use super::work::Work;
use super::{inproc, Core, CoreShared, LockedState};
use crate::error::Error;
use crate::net;

/// A listener as the socket keeps it: what the user asked for, what was
/// bound, and the runtime's guard that stops accepting when dropped.
pub(super) struct Listener {
    given: String,
    bound: Option<Endpoint>,
    guard: Option<Box<dyn Send>>,
}

impl LockedState {
    /// Binds an endpoint and starts listening on it: synchronous, as in
    /// libzmq, so that the caller of `bind` gets the error.
    fn bind(
        &mut self,
        me: &Core,
        endpoint: &str,
        mut resolved: net::Resolved,
        work: &mut Vec<Work>,
    ) -> Result<Endpoint, Error> {
        let id = self.engine.bind(endpoint).map_err(engine_error)?;
        self.listeners.insert(
            id,
            Listener {
                given: endpoint.to_owned(),
                bound: None,
                guard: None,
            },
        );
        let mut result = Err(Error::Closed);
        while let Some(action) = self.engine.poll_action() {
            match action {
                Action::Listen { id: l, endpoint } if l == id => {
                    result = self.listen(me, id, endpoint, resolved.take(), work);
                }
                action => self.act(me, action, work),
            }
        }
        result
    }

    pub(super) fn listen(
        &mut self,
        me: &Core,
        id: ListenerId,
        endpoint: Endpoint,
        resolved: net::Resolved,
        work: &mut Vec<Work>,
    ) -> Result<Endpoint, Error> {
        let given = self
            .listeners
            .get(&id)
            .map(|l| l.given.clone())
            .unwrap_or_else(|| endpoint.to_string());
        let result = match &endpoint {
            Endpoint::Inproc(name) => {
                inproc::bind(me, id, name, &given, work).map(|()| (None, endpoint.clone()))
            }
            _ => {
                net::bind(&endpoint, &given, &me.tcp_options(), resolved).and_then(|(l, bound)| {
                    me.0.rt
                        .listen(me, id, l)
                        .map(|g| (Some(g), bound))
                        .map_err(|source| Error::Bind {
                            endpoint: given.clone(),
                            source,
                        })
                })
            }
        };
        match result {
            Ok((guard, bound)) => {
                self.engine.handle_listening(id, bound.clone());
                if let Some(l) = self.listeners.get_mut(&id) {
                    l.guard = guard;
                    l.bound = Some(bound.clone());
                }
                Ok(bound)
            }
            Err(e) => {
                self.engine.handle_bind_failed(id, e.to_string());
                self.listeners.remove(&id);
                Err(e)
            }
        }
    }
}

impl Listener {
    /// Whether this listener was bound as `ipc://*`, so its directory is ours.
    fn ipc_wildcard(&self) -> bool {
        matches!(Endpoint::parse_bind(&self.given), Ok(Endpoint::Ipc(a)) if a.is_wildcard())
    }
}

pub(super) fn stop_listener(shared: &CoreShared, l: Listener) {
    match &l.bound {
        Some(Endpoint::Inproc(name)) => inproc::unbind(shared, name),
        Some(ep) => net::unlink_ipc(ep, l.ipc_wildcard()),
        None => {}
    }
    drop(l.guard);
}

fn engine_error(e: EngineError) -> Error {
    match e {
        EngineError::Endpoint(e) => Error::Endpoint(e),
        EngineError::Option { option, reason } => Error::InvalidOption { option, reason },
        _ => Error::Closed,
    }
}

impl Core {
    /// Binds an endpoint, returning the one actually bound.
    pub(crate) fn bind(&self, endpoint: &str) -> Result<Endpoint, Error> {
        // A host name is looked up first: the lock is held only briefly.
        let resolved = net::resolve_bind(endpoint);
        let mut work = Vec::new();
        let result = {
            let mut st = self.lock();
            st.timers_dirty = true;
            let r = st.bind(self, endpoint, resolved, &mut work);
            st.dispatch(self, &mut work);
            r
        };
        run(work);
        result
    }

    /// Connects to an endpoint (refused at once if an incompatible socket is
    /// bound at that inproc name).
    pub(crate) fn connect(&self, endpoint: &str) -> Result<(), Error> {
        let ep = Endpoint::parse_connect(endpoint)?;
        if let Endpoint::Inproc(name) = &ep {
            if let Some(peer) = inproc::incompatible_peer(name, self.socket_type()) {
                return Err(Error::IncompatibleSocketType {
                    endpoint: endpoint.to_owned(),
                    ours: self.socket_type(),
                    peer,
                });
            }
        }
        self.with(|st| {
            let id = st.engine.connect(endpoint).map_err(engine_error)?;
            st.connectors.insert(id, endpoint.to_owned());
            st.connect_tcp.insert(id, self.tcp_options());
            Ok(())
        })
    }

    /// Stops listening on an endpoint `bind` returned. As in libzmq's
    /// `zmq_unbind`, a listener is known by its resolved address: a wildcard
    /// is refused (it could name any of several listeners), and a TCP host
    /// name or another spelling of the address matches what it resolves to.
    pub(crate) fn unbind(&self, endpoint: &str) -> Result<(), Error> {
        // Resolved before locking: a host name may need a DNS lookup.
        let wanted = unbind_targets(endpoint)?;
        self.with(|st| {
            let ids: Vec<ListenerId> = st
                .listeners
                .iter()
                .filter(|(_, l)| l.bound.as_ref().is_some_and(|b| wanted.contains(b)))
                .map(|(id, _)| *id)
                .collect();
            if ids.is_empty() {
                return Err(Error::UnknownEndpoint(endpoint.to_owned()));
            }
            for id in ids {
                st.engine.unbind(id);
            }
            Ok(())
        })
    }

    /// Stops connecting to an endpoint.
    pub(crate) fn disconnect(&self, endpoint: &str) -> Result<(), Error> {
        self.with(|st| {
            let ids: Vec<_> = st
                .connectors
                .iter()
                .filter(|(_, e)| e.as_str() == endpoint)
                .map(|(id, _)| *id)
                .collect();
            if ids.is_empty() {
                return Err(Error::UnknownEndpoint(endpoint.to_owned()));
            }
            for id in ids {
                st.connectors.remove(&id);
                st.connect_tcp.remove(&id);
                st.engine.disconnect(id);
            }
            Ok(())
        })
    }
}

/// The bound endpoints an `unbind` argument names: itself, or for a TCP host
/// name every address it resolves to (libzmq's `resolve_tcp_addr`).
fn unbind_targets(endpoint: &str) -> Result<Vec<Endpoint>, Error> {
    let ep = Endpoint::parse_unbind(endpoint)?;
    match &ep {
        Endpoint::Tcp {
            host: Host::Name(name),
            port: Some(port),
        } => {
            let addrs = (name.as_str(), *port).to_socket_addrs().map_err(|_| {
                // A name that does not resolve cannot be one we bound.
                Error::UnknownEndpoint(endpoint.to_owned())
            })?;
            Ok(addrs
                .map(|a| Endpoint::Tcp {
                    host: Host::Ip(a.ip()),
                    port: Some(a.port()),
                })
                .collect())
        }
        _ => Ok(vec![ep]),
    }
}
