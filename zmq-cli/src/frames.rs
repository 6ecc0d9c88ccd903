//! Messages as lines: frames separated by TAB, verbatim or as lowercase hex;
//! routing ids and subscription messages in their readable notations.

use bytes::Bytes;

/// A stdin line that cannot be read (bad hex).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct BadLine(pub String);

/// Splits a line (without its LF) into frames: N TABs make N+1 frames.
pub(crate) fn parse_line(line: &[u8], hex: bool) -> Result<Vec<Vec<u8>>, BadLine> {
    line.split(|&b| b == b'\t')
        .map(|f| if hex { unhex(f) } else { Ok(f.to_vec()) })
        .collect()
}

/// One output line for a message (without the LF).
pub(crate) fn format_msg(frames: &[Bytes], hex: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        push_frame(&mut out, f, hex);
    }
    out
}

fn push_frame(out: &mut Vec<u8>, f: &[u8], hex: bool) {
    if hex {
        out.extend_from_slice(to_hex(f).as_bytes());
    } else {
        out.extend_from_slice(f);
    }
}

/// A router's line: the routing id as text when it is printable ASCII and not
/// mistakable for hex notation, else `0x` and hex; plain hex with `--hex`.
pub(crate) fn format_routed(frames: &[Bytes], hex: bool) -> Vec<u8> {
    let Some((id, rest)) = frames.split_first() else {
        return Vec::new();
    };
    let mut out = if hex {
        to_hex(id).into_bytes()
    } else {
        routing_id_text(id).into_bytes()
    };
    for f in rest {
        out.push(b'\t');
        push_frame(&mut out, f, hex);
    }
    out
}

/// The text notation of a routing id.
pub(crate) fn routing_id_text(id: &[u8]) -> String {
    let printable =
        !id.is_empty() && id.iter().all(|b| (0x20..=0x7e).contains(b)) && !id.starts_with(b"0x");
    if printable {
        String::from_utf8_lossy(id).into_owned()
    } else {
        format!("0x{}", to_hex(id))
    }
}

/// A router's stdin frame naming the peer: `0x` plus an even number of hex
/// digits is decoded (text mode only; with `--hex` every frame is hex already).
pub(crate) fn parse_routing_id(frame: Vec<u8>) -> Vec<u8> {
    if let Some(digits) = frame.strip_prefix(b"0x") {
        if digits.len() % 2 == 0 {
            if let Ok(id) = unhex(digits) {
                return id;
            }
        }
    }
    frame
}

/// An xpub line: a subscription message's first byte as `\x01` or `\x00` in
/// text mode; plain hex with `--hex`.
pub(crate) fn format_subscription(frames: &[Bytes], hex: bool) -> Vec<u8> {
    if hex {
        return format_msg(frames, true);
    }
    let Some((first, rest)) = frames.split_first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    match first.first() {
        Some(&b @ (0 | 1)) => {
            out.extend_from_slice(if b == 1 { b"\\x01" } else { b"\\x00" });
            out.extend_from_slice(&first[1..]);
        }
        _ => out.extend_from_slice(first),
    }
    for f in rest {
        out.push(b'\t');
        out.extend_from_slice(f);
    }
    out
}

/// An xsub stdin frame: a leading `\x01` or `\x00` (four characters) becomes
/// that byte.
pub(crate) fn parse_subscription(mut frame: Vec<u8>) -> Vec<u8> {
    for (text, byte) in [(&b"\\x01"[..], 1u8), (&b"\\x00"[..], 0u8)] {
        if frame.starts_with(text) {
            frame.splice(..4, [byte]);
            break;
        }
    }
    frame
}

/// Lowercase hex.
pub(crate) fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(text: &[u8]) -> Result<Vec<u8>, BadLine> {
    let bad = || {
        BadLine(format!(
            "bad hex on stdin: {:?}",
            String::from_utf8_lossy(text)
        ))
    };
    if text.len() % 2 != 0 {
        return Err(bad());
    }
    if !text.iter().all(u8::is_ascii_hexdigit) {
        return Err(bad());
    }
    text.chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|s| u8::from_str_radix(s, 16).ok())
                .ok_or_else(bad)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(v: &[&[u8]]) -> Vec<Bytes> {
        v.iter().map(|f| Bytes::copy_from_slice(f)).collect()
    }

    #[test]
    fn tabs_split_frames_and_empty_lines_are_one_empty_frame() {
        assert_eq!(parse_line(b"", false).unwrap(), vec![Vec::<u8>::new()]);
        assert_eq!(
            parse_line(b"a\t\tb\r", false).unwrap(),
            vec![b"a".to_vec(), vec![], b"b\r".to_vec()]
        );
        assert_eq!(parse_line(b"\t", false).unwrap().len(), 2);
        assert_eq!(format_msg(&b(&[b"a", b"", b"b"]), false), b"a\t\tb");
    }

    #[test]
    fn hex_frames_both_ways() {
        assert_eq!(
            parse_line(b"00ff\t\tAB", true).unwrap(),
            vec![vec![0, 255], vec![], vec![0xab]]
        );
        assert_eq!(format_msg(&b(&[&[0, 255], b""]), true), b"00ff\t");
        for bad in [&b"0"[..], b"zz", b"0g", b"+f", b"-1"] {
            let e = parse_line(bad, true).unwrap_err();
            assert!(e.0.contains("bad hex"), "{e:?}");
        }
    }

    #[test]
    fn routing_ids_in_text_and_hex() {
        assert_eq!(routing_id_text(b"peer-1"), "peer-1");
        assert_eq!(routing_id_text(&[0, 1, 2, 3, 4]), "0x0001020304");
        assert_eq!(routing_id_text(b"0xabc"), "0x3078616263");
        assert_eq!(routing_id_text(b""), "0x");
        assert_eq!(routing_id_text(b"tab\there"), "0x7461620968657265");
        assert_eq!(parse_routing_id(b"0x00ab".to_vec()), vec![0, 0xab]);
        assert_eq!(parse_routing_id(b"0xabc".to_vec()), b"0xabc");
        assert_eq!(parse_routing_id(b"0xzz".to_vec()), b"0xzz");
        assert_eq!(parse_routing_id(b"0x+1".to_vec()), b"0x+1");
        assert_eq!(parse_routing_id(b"0x".to_vec()), b"");
        assert_eq!(parse_routing_id(b"plain".to_vec()), b"plain");
        assert_eq!(format_routed(&b(&[&[0, 1], b"hi"]), false), b"0x0001\thi");
        assert_eq!(format_routed(&b(&[b"A", b"hi"]), true), b"41\t6869");
    }

    #[test]
    fn subscriptions_in_text_and_hex() {
        assert_eq!(
            format_subscription(&b(&[b"\x01topic"]), false),
            b"\\x01topic"
        );
        assert_eq!(format_subscription(&b(&[b"\x00t"]), false), b"\\x00t");
        assert_eq!(
            format_subscription(&b(&[b"\x01topic"]), true),
            b"01746f706963"
        );
        assert_eq!(parse_subscription(b"\\x01abc".to_vec()), b"\x01abc");
        assert_eq!(parse_subscription(b"\\x00".to_vec()), b"\x00");
        assert_eq!(parse_subscription(b"data".to_vec()), b"data");
    }
}
