//! Messages: one or more frames, each a zero-copy [`Bytes`].

use bytes::Bytes;
use smallvec::SmallVec;

/// A ZeroMQ message: an ordered list of frames, delivered and sent atomically.
///
/// Up to two frames live inline, so the common one- and two-frame messages cost no
/// heap allocation beyond their payloads (which are usually slices of a receive
/// buffer or of the caller's own `Bytes`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Msg {
    frames: SmallVec<[Bytes; 2]>,
}

impl Msg {
    /// A message with no frames yet; push at least one before sending it.
    pub fn new() -> Self {
        Self::default()
    }

    /// A one-frame message.
    pub fn single(frame: impl Into<Bytes>) -> Self {
        let mut m = Self::new();
        m.push(frame);
        m
    }

    /// Appends a frame.
    pub fn push(&mut self, frame: impl Into<Bytes>) {
        self.frames.push(frame.into());
    }

    /// Inserts a frame at the front (an envelope part, a routing id).
    pub fn push_front(&mut self, frame: impl Into<Bytes>) {
        self.frames.insert(0, frame.into());
    }

    /// Removes and returns the first frame.
    pub fn pop_front(&mut self) -> Option<Bytes> {
        if self.frames.is_empty() {
            None
        } else {
            Some(self.frames.remove(0))
        }
    }

    /// The frames in order.
    pub fn frames(&self) -> &[Bytes] {
        &self.frames
    }

    /// The first frame, if any.
    pub fn first(&self) -> Option<&Bytes> {
        self.frames.first()
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether the message has no frames.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Sum of the frame lengths.
    pub fn byte_len(&self) -> usize {
        self.frames.iter().map(Bytes::len).sum()
    }

    /// Consumes the message, yielding its frames.
    pub fn into_frames(self) -> impl Iterator<Item = Bytes> {
        self.frames.into_iter()
    }
}

impl From<Bytes> for Msg {
    fn from(b: Bytes) -> Self {
        Self::single(b)
    }
}

impl From<&'static str> for Msg {
    fn from(s: &'static str) -> Self {
        Self::single(Bytes::from_static(s.as_bytes()))
    }
}

impl From<&'static [u8]> for Msg {
    fn from(s: &'static [u8]) -> Self {
        Self::single(Bytes::from_static(s))
    }
}

impl From<Vec<u8>> for Msg {
    fn from(v: Vec<u8>) -> Self {
        Self::single(v)
    }
}

impl<T: Into<Bytes>> FromIterator<T> for Msg {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Self {
            frames: iter.into_iter().map(Into::into).collect(),
        }
    }
}
