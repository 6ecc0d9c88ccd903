//! Authentication handlers: the decisions PLAIN and CURVE servers ask for.

use std::collections::HashSet;

use bytes::Bytes;
use subtle::ConstantTimeEq;
use zmtp_core::{AuthReply, AuthRequest, Credentials, PublicKey};

/// Decides authentication requests as they arrive (ZAP, RFC 27, as a callback).
///
/// Returning `None` leaves the request to the application, which finds it with
/// [`Engine::poll_auth`](super::Engine::poll_auth) and answers later.
///
/// It runs inside [`Engine::handle_input`](super::Engine::handle_input): a
/// runtime calls it with the socket's state locked, so it must decide at
/// once; a decision that waits for I/O returns `None` and answers later.
pub trait Authenticator: Send {
    /// The decision for `request`, or `None` to defer it.
    fn authenticate(&mut self, request: &AuthRequest) -> Option<AuthReply>;
}

/// A closure decides as well as a type does:
/// `.authenticator(|req: &AuthRequest| Some(AuthReply::allow()))`.
impl<F: FnMut(&AuthRequest) -> Option<AuthReply> + Send> Authenticator for F {
    fn authenticate(&mut self, request: &AuthRequest) -> Option<AuthReply> {
        self(request)
    }
}

/// libzmq's decision when a socket has neither an authenticator nor a ZAP
/// handler: NULL and CURVE clients pass (CURVE still encrypts, "Stonehouse"),
/// PLAIN clients are refused with 400, since a password nobody checks would
/// only pretend to protect.
pub fn libzmq_default(req: &AuthRequest) -> AuthReply {
    match req.credentials {
        Credentials::Plain { .. } => {
            AuthReply::deny("PLAIN needs a ZAP handler or an authenticator")
        }
        _ => AuthReply::allow(),
    }
}

/// A ready-made authenticator: PLAIN users with passwords, CURVE public keys, and
/// peer addresses, each list optional.
///
/// A mechanism whose list is unset is accepted as libzmq accepts it without a ZAP
/// handler: CURVE ("Stonehouse", encryption without client authentication) and
/// NULL are allowed; PLAIN with no user list allows any user, as the `zmq cat
/// --plain-server` contract asks.
///
/// Passwords are compared in constant time, against every listed user, so the
/// time a refusal takes tells nothing about which user or how much of a
/// password matched; `Debug` shows the user names, never the passwords.
#[derive(Clone, Default)]
pub struct AllowList {
    users: Option<Vec<(Bytes, Bytes)>>,
    keys: Option<HashSet<PublicKey>>,
    addresses: Option<HashSet<String>>,
}

impl std::fmt::Debug for AllowList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let users: Option<Vec<&Bytes>> = self
            .users
            .as_ref()
            .map(|u| u.iter().map(|(name, _)| name).collect());
        f.debug_struct("AllowList")
            .field("users", &users)
            .field("keys", &self.keys)
            .field("addresses", &self.addresses)
            .finish()
    }
}

/// Whether `username`/`password` is one of `users`, in time that depends only
/// on the lengths involved, never on where the first differing byte is.
fn user_listed(users: &[(Bytes, Bytes)], username: &[u8], password: &[u8]) -> bool {
    let mut found = subtle::Choice::from(0);
    for (name, pass) in users {
        found |= name[..].ct_eq(username) & pass[..].ct_eq(password);
    }
    found.into()
}

impl AllowList {
    /// Allows everyone.
    pub fn new() -> Self {
        Self::default()
    }

    /// Allows this PLAIN user with this password (and, once any user is added, no
    /// other PLAIN credentials).
    pub fn allow_user(mut self, user: impl Into<Bytes>, password: impl Into<Bytes>) -> Self {
        self.users
            .get_or_insert_with(Vec::new)
            .push((user.into(), password.into()));
        self
    }

    /// Allows this CURVE client key (and, once any key is added, no other).
    pub fn allow_key(mut self, key: PublicKey) -> Self {
        self.keys.get_or_insert_with(HashSet::new).insert(key);
        self
    }

    /// Allows peers from this address (and, once any address is added, from no
    /// other).
    pub fn allow_address(mut self, address: impl Into<String>) -> Self {
        self.addresses
            .get_or_insert_with(HashSet::new)
            .insert(address.into());
        self
    }
}

impl Authenticator for AllowList {
    fn authenticate(&mut self, req: &AuthRequest) -> Option<AuthReply> {
        if let Some(addrs) = &self.addresses {
            if !addrs.contains(&req.address) {
                return Some(AuthReply::deny("address not allowed"));
            }
        }
        let ok = match &req.credentials {
            Credentials::Plain { username, password } => self
                .users
                .as_ref()
                .is_none_or(|u| user_listed(u, username, password)),
            Credentials::Curve { public_key } => {
                self.keys.as_ref().is_none_or(|k| k.contains(public_key))
            }
            _ => true,
        };
        Some(if ok {
            let user_id = match &req.credentials {
                Credentials::Plain { username, .. } => username.clone(),
                Credentials::Curve { public_key } => Bytes::from(public_key.to_z85()),
                _ => Bytes::new(),
            };
            AuthReply::Allow {
                user_id,
                metadata: Default::default(),
            }
        } else {
            AuthReply::deny("credentials not allowed")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> Vec<(Bytes, Bytes)> {
        vec![
            (Bytes::from_static(b"admin"), Bytes::from_static(b"secret")),
            (Bytes::from_static(b"guest"), Bytes::from_static(b"guest")),
        ]
    }

    #[test]
    fn only_a_listed_user_with_its_own_password_passes() {
        let users = users();
        assert!(user_listed(&users, b"admin", b"secret"));
        assert!(user_listed(&users, b"guest", b"guest"));
        for (user, pass) in [
            (&b"admin"[..], &b"secre"[..]),
            (b"admin", b"secret!"),
            (b"admin", b"guest"),
            (b"guest", b"secret"),
            (b"admi", b"secret"),
            (b"", b""),
        ] {
            assert!(!user_listed(&users, user, pass), "{user:?} {pass:?}");
        }
        assert!(!user_listed(&[], b"admin", b"secret"));
    }

    #[test]
    fn debug_shows_user_names_but_never_passwords() {
        let list = AllowList::new()
            .allow_user("admin", "hunter2")
            .allow_address("127.0.0.1");
        let shown = format!("{list:?}");
        assert!(shown.contains("admin"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
