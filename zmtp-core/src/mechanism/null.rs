//! NULL (RFC 23 §3.5 / RFC 37): both sides send READY at once, without waiting for
//! the peer's, as libzmq does. With authentication on, our READY waits for the
//! owner's decision.

use bytes::Bytes;

use super::{parse_raw, peer_metadata, unexpected, Cx, Established};
use crate::error::ConnectionError;
use crate::event::{AuthId, AuthReply, Credentials};
use crate::wire::command::Command;
use crate::wire::greeting::MechanismName;
use crate::wire::metadata::Metadata;

pub(crate) struct Null {
    ready_sent: bool,
    peer: Option<Metadata>,
    pending: Option<AuthId>,
    granted: Option<(Bytes, Metadata)>,
}

impl Null {
    pub(crate) fn start(cx: &mut Cx<'_>) -> Self {
        let mut me = Self {
            ready_sent: false,
            peer: None,
            pending: None,
            granted: None,
        };
        if cx.config.authenticate_null {
            me.pending = Some(cx.request_auth(MechanismName::Null, Credentials::Null));
        } else {
            me.send_ready(cx);
        }
        me
    }

    pub(crate) fn handle_command(
        &mut self,
        body: Bytes,
        cx: &mut Cx<'_>,
    ) -> Result<Option<Established>, ConnectionError> {
        let raw = parse_raw(body)?;
        if !raw.is("READY") || self.peer.is_some() {
            return Err(unexpected(&raw));
        }
        let md = peer_metadata(cx.config.socket_type, &raw.data)?;
        self.peer = Some(md);
        Ok(self.finish())
    }

    pub(crate) fn pending_auth(&self) -> Option<AuthId> {
        self.pending
    }

    pub(crate) fn handle_auth_reply(
        &mut self,
        reply: AuthReply,
        cx: &mut Cx<'_>,
    ) -> Result<Option<Established>, ConnectionError> {
        self.pending = None;
        match reply {
            AuthReply::Allow { user_id, metadata } => {
                self.granted = Some((user_id, metadata));
                self.send_ready(cx);
                Ok(self.finish())
            }
            AuthReply::Deny { status, text } => Err(cx.deny(status, text)),
        }
    }

    fn send_ready(&mut self, cx: &mut Cx<'_>) {
        cx.send(&Command::Ready(cx.config.local_metadata()));
        self.ready_sent = true;
    }

    fn finish(&mut self) -> Option<Established> {
        if !self.ready_sent || self.peer.is_none() {
            return None;
        }
        let md = self.peer.take()?;
        Some(Established::new(md).with_auth(self.granted.take()))
    }
}
