//! The stateless wire parsers on arbitrary bytes: `FrameHeader::parse`,
//! `RawCommand::parse`, `Command::parse`, `Metadata::parse`, `z85::decode` /
//! `encode`. Never panics, and whatever parses re-emits to the same value (and,
//! where `emit` does not truncate, to the very same bytes).
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use zmtp_core::wire::command::{Command, RawCommand, MAX_PING_CONTEXT};
use zmtp_core::wire::frame::FrameHeader;
use zmtp_core::{z85, Metadata};

/// Whether `emit` would shorten a field of this command.
fn truncates(c: &Command) -> bool {
    match c {
        Command::Ping { context, .. } | Command::Pong(context) => context.len() > MAX_PING_CONTEXT,
        Command::Error(reason) => reason.len() > 255,
        Command::Other(raw) => raw.name.len() > 255,
        Command::Ready(_) | Command::Subscribe(_) | Command::Cancel(_) => false,
    }
}

fn check_command(body: &Bytes) {
    let raw = RawCommand::parse(body.clone());
    let parsed = Command::parse(body.clone());
    match (&raw, &parsed) {
        (Err(_), Ok(_)) => panic!("Command parsed where RawCommand did not"),
        (Ok(raw), _) => {
            assert!(!raw.name.is_empty() && raw.name.len() <= 255);
            assert_eq!(usize::from(body[0]), raw.name.len());
            assert_eq!(1 + raw.name.len() + raw.data.len(), body.len());
            assert_eq!(&body[1..1 + raw.name.len()], &raw.name[..]);
            assert_eq!(&body[1 + raw.name.len()..], &raw.data[..]);
        }
        (Err(_), Err(_)) => {}
    }
    let Ok(cmd) = parsed else { return };
    let mut wire = Vec::new();
    cmd.emit(&mut wire);
    let (h, n) = FrameHeader::parse(&wire).expect("emitted command has a header");
    assert!(h.command && !h.more);
    assert_eq!(h.size as usize, wire.len() - n);
    let again = Command::parse(Bytes::copy_from_slice(&wire[n..])).expect("re-parse");
    if truncates(&cmd) {
        match (&cmd, &again) {
            (Command::Ping { ttl: a, context: c }, Command::Ping { ttl: b, context: d }) => {
                assert_eq!(a, b);
                assert_eq!(&c[..MAX_PING_CONTEXT], &d[..]);
            }
            (Command::Pong(c), Command::Pong(d)) => assert_eq!(&c[..MAX_PING_CONTEXT], &d[..]),
            _ => panic!("truncated command changed kind: {cmd:?} -> {again:?}"),
        }
    } else {
        assert_eq!(again, cmd);
        assert_eq!(&wire[n..], &body[..], "emit is not byte-exact");
    }
}

fn check_metadata(body: &Bytes) {
    let Ok(md) = Metadata::parse(body) else {
        return;
    };
    assert_eq!(md.encoded_len(), body.len());
    let mut out = Vec::new();
    md.emit(&mut out);
    assert_eq!(&out[..], &body[..]);
    assert_eq!(Metadata::parse(&Bytes::from(out)), Ok(md));
}

fn check_frame_header(data: &[u8]) {
    let Some((h, n)) = FrameHeader::parse(data) else {
        // Only too-short input needs more bytes.
        assert!(data.len() < 9);
        return;
    };
    assert!(n == 2 || n == 9);
    let mut out = Vec::new();
    h.emit(&mut out);
    assert_eq!(out.len(), h.encoded_len());
    assert_eq!(FrameHeader::parse(&out), Some((h, out.len())));
}

fn check_z85(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(bin) = z85::decode(&text) {
        assert_eq!(bin.len(), text.len() / 5 * 4);
        assert_eq!(z85::encode(&bin).as_deref(), Ok(&*text));
        if bin.len() == 32 {
            assert_eq!(z85::decode_key(&text).map(|k| k.to_vec()), Ok(bin));
        }
    }
    let _ = z85::decode_key(&text);
    if let Ok(text) = z85::encode(data) {
        assert_eq!(text.len(), data.len() / 4 * 5);
        assert_eq!(z85::decode(&text).as_deref(), Ok(data));
    }
}

fuzz_target!(|data: &[u8]| {
    let body = Bytes::copy_from_slice(data);
    check_frame_header(data);
    check_command(&body);
    check_metadata(&body);
    check_z85(data);
    // Also as a framed command: `[flags, size, body]`.
    if let Some((h, n)) = FrameHeader::parse(data) {
        let end = n
            .saturating_add(h.size.min(data.len() as u64) as usize)
            .min(data.len());
        let inner = body.slice(n..end);
        check_command(&inner);
        check_metadata(&inner);
    }
});
