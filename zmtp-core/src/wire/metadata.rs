//! Metadata property lists, as carried by READY and INITIATE (RFC 23 §3.4):
//! `name-len(1) name value-len(4, BE) value`, repeated to the end of the body.

use bytes::{BufMut, Bytes};

use super::WireError;

/// Property name of the peer's socket type.
pub const SOCKET_TYPE: &str = "Socket-Type";
/// Property name of the peer's routing id. The wire name is always `Identity`.
pub const IDENTITY: &str = "Identity";
/// Most properties accepted in one list.
pub const MAX_PROPERTIES: usize = 1024;

/// An ordered list of metadata properties.
///
/// Names compare case-insensitively (RFC); emitted names keep the casing they were
/// given, since libzmq itself matches `Socket-Type` and `Identity` case-sensitively.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metadata {
    props: Vec<(Bytes, Bytes)>,
}

impl Metadata {
    /// An empty property list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a property. Names longer than 255 bytes cannot be encoded and are
    /// truncated by [`Metadata::emit`]'s caller contract; use [`Metadata::try_push`]
    /// to be told.
    pub fn push(&mut self, name: impl Into<Bytes>, value: impl Into<Bytes>) {
        self.props.push((name.into(), value.into()));
    }

    /// Appends a property, refusing names of 0 or more than 255 bytes and values
    /// longer than 2^31-1 bytes.
    pub fn try_push(&mut self, name: impl Into<Bytes>, value: impl Into<Bytes>) -> bool {
        let (name, value) = (name.into(), value.into());
        if name.is_empty() || name.len() > 255 || value.len() > i32::MAX as usize {
            return false;
        }
        self.props.push((name, value));
        true
    }

    /// Removes every property named `name`, ignoring ASCII case.
    pub fn remove(&mut self, name: &str) {
        self.props
            .retain(|(n, _)| !n.eq_ignore_ascii_case(name.as_bytes()));
    }

    /// The value of the first property named `name`, ignoring ASCII case.
    pub fn get(&self, name: &str) -> Option<&Bytes> {
        self.props
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// All properties in order.
    pub fn iter(&self) -> impl Iterator<Item = (&Bytes, &Bytes)> {
        self.props.iter().map(|(n, v)| (n, v))
    }

    /// Number of properties.
    pub fn len(&self) -> usize {
        self.props.len()
    }

    /// Whether there are no properties.
    pub fn is_empty(&self) -> bool {
        self.props.is_empty()
    }

    /// Parses a property list that fills `body` exactly. As libzmq, a zero-length
    /// name is tolerated; a length that runs past the end, or a stray trailing byte,
    /// is an error.
    pub fn parse(body: &Bytes) -> Result<Self, WireError> {
        let mut props = Vec::new();
        let mut pos = 0usize;
        while pos < body.len() {
            // Each property costs far more in memory than its 5-byte minimum on
            // the wire; an honest peer sends a handful.
            if props.len() == MAX_PROPERTIES {
                return Err(WireError::MalformedMetadata);
            }
            let name_len = usize::from(body[pos]);
            pos += 1;
            let name_end = pos + name_len;
            let len_end = name_end + 4;
            let raw_len: [u8; 4] = body
                .get(name_end..len_end)
                .and_then(|s| s.try_into().ok())
                .ok_or(WireError::MalformedMetadata)?;
            let value_len = u32::from_be_bytes(raw_len) as usize;
            let value_end = len_end
                .checked_add(value_len)
                .filter(|&e| e <= body.len())
                .ok_or(WireError::MalformedMetadata)?;
            props.push((body.slice(pos..name_end), body.slice(len_end..value_end)));
            pos = value_end;
        }
        Ok(Self { props })
    }

    /// Encoded length in bytes.
    pub fn encoded_len(&self) -> usize {
        self.props
            .iter()
            .map(|(n, v)| 1 + n.len().min(255) + 4 + v.len())
            .sum()
    }

    /// Writes the property list. Names are cut to 255 bytes (the constructor paths
    /// that matter, [`Metadata::try_push`] and the configuration, refuse longer ones).
    pub fn emit(&self, out: &mut impl BufMut) {
        for (name, value) in &self.props {
            let name = &name[..name.len().min(255)];
            out.put_u8(name.len() as u8);
            out.put_slice(name);
            out.put_u32(value.len() as u32);
            out.put_slice(value);
        }
    }

    /// The encoded property list on its own, for commands that box it or carry it
    /// as raw data.
    pub(crate) fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.encoded_len());
        self.emit(&mut v);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libzmq_dealer_ready_properties() {
        let mut m = Metadata::new();
        m.push(SOCKET_TYPE, "DEALER");
        m.push(IDENTITY, "");
        let mut out = Vec::new();
        m.emit(&mut out);
        let expected: &[u8] = b"\x0bSocket-Type\x00\x00\x00\x06DEALER\x08Identity\x00\x00\x00\x00";
        assert_eq!(out, expected);
        assert_eq!(m.encoded_len(), expected.len());
        let back = Metadata::parse(&Bytes::from(out)).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.get("socket-type").unwrap().as_ref(), b"DEALER");
    }

    #[test]
    fn rejects_truncation_and_stray_bytes() {
        let good: &[u8] = b"\x01A\x00\x00\x00\x01B";
        assert!(Metadata::parse(&Bytes::from_static(good)).is_ok());
        for n in 1..good.len() {
            assert_eq!(
                Metadata::parse(&Bytes::copy_from_slice(&good[..n])),
                Err(WireError::MalformedMetadata),
                "prefix {n}"
            );
        }
        let huge: &[u8] = b"\x01A\xff\xff\xff\xffB";
        assert_eq!(
            Metadata::parse(&Bytes::from_static(huge)),
            Err(WireError::MalformedMetadata)
        );
    }
}
