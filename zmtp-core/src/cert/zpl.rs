//! The ZeroMQ Property Language (ZPL, ZeroMQ RFC 4) as CZMQ's zconfig reads
//! and writes it: one `name` or `name = value` per line, nesting by four
//! spaces, `#` comments. Only what a certificate needs: a tree to look
//! paths up in, and the writer's quoting.

use super::CertError;

/// One named entry and the entries indented under it.
#[derive(Debug, Default)]
pub(super) struct Node {
    pub(super) name: String,
    pub(super) value: String,
    pub(super) children: Vec<Self>,
}

impl Node {
    /// The first child called `name`, as zconfig's path lookup finds it.
    pub(super) fn child(&self, name: &str) -> Option<&Self> {
        self.children.iter().find(|c| c.name == name)
    }
}

/// Parses a whole document; like zconfig, the first bad line fails it all.
pub(super) fn parse(text: &str) -> Result<Node, CertError> {
    let mut root = Node::default();
    for (index, raw) in text.split('\n').enumerate() {
        let line = index + 1;
        let syntax = |what: &str| CertError::Syntax {
            line,
            what: what.to_owned(),
        };
        let trimmed = raw.trim_end();
        let body = trimmed.trim_start_matches(' ');
        let indent = trimmed.len() - body.len();
        if indent % 4 != 0 {
            return Err(syntax("indentation must be a multiple of 4 spaces"));
        }
        let name_len = body.bytes().take_while(|b| is_name_byte(*b)).count();
        let (name, rest) = body.split_at(name_len);
        if name.is_empty() {
            // A blank line or a comment; anything else is not ZPL.
            if end_of_line(rest) {
                continue;
            }
            return Err(syntax(&format!("expected a name, found {rest:?}")));
        }
        if name.starts_with('/') || name.ends_with('/') {
            return Err(syntax(&format!(
                "'/' cannot start or end the name {name:?}"
            )));
        }
        let value = value(rest).map_err(|what| syntax(&what))?;
        let parent = at_depth(&mut root, indent / 4).ok_or_else(|| {
            syntax(&format!(
                "{name:?} is indented deeper than the entry above it"
            ))
        })?;
        parent.children.push(Node {
            name: name.to_owned(),
            value,
            children: Vec::new(),
        });
    }
    Ok(root)
}

/// The node that entries at `depth` hang under: the last one at each level
/// above it.
fn at_depth(root: &mut Node, depth: usize) -> Option<&mut Node> {
    let mut node = root;
    for _ in 0..depth {
        node = node.children.last_mut()?;
    }
    Some(node)
}

/// The value after a name: `= "quoted"`, `= 'quoted'`, `= bare text` up to a
/// comment, or nothing at all (an empty value).
fn value(rest: &str) -> Result<String, String> {
    let rest = rest.trim_start();
    let Some(after) = rest.strip_prefix('=') else {
        return if end_of_line(rest) {
            Ok(String::new())
        } else {
            Err(format!(
                "expected '=' or the end of the line, found {rest:?}"
            ))
        };
    };
    let after = after.trim_start();
    match after.chars().next() {
        Some(quote @ ('"' | '\'')) => {
            let inner = &after[1..];
            let end = inner
                .find(quote)
                .ok_or_else(|| format!("missing closing {quote} in {after:?}"))?;
            if !end_of_line(&inner[end + 1..]) {
                return Err(format!(
                    "unexpected {:?} after the quoted value",
                    &inner[end + 1..]
                ));
            }
            Ok(inner[..end].to_owned())
        }
        _ => {
            let bare = after.split('#').next().unwrap_or_default();
            Ok(bare.trim_end().to_owned())
        }
    }
}

/// Nothing but spaces and perhaps a comment.
fn end_of_line(rest: &str) -> bool {
    let rest = rest.trim_start();
    rest.is_empty() || rest.starts_with('#')
}

/// The characters of a ZPL name.
fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"$-_@.&+/".contains(&b)
}

/// Whether `name` can be written as a ZPL name that a path lookup finds
/// again (so no `/` at all).
pub(super) fn is_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| is_name_byte(b) && b != b'/')
}

/// `value` as it is written after `name = `, quoted as zconfig quotes it
/// when it can be; `None` if no form reads back the same.
pub(super) fn quote(value: &str) -> Option<String> {
    if value.chars().any(char::is_control) {
        return None;
    }
    if !value.contains('"') {
        Some(format!("\"{value}\""))
    } else if !value.contains('\'') {
        Some(format!("'{value}'"))
    } else if !value.contains('#') && value.trim() == value {
        // Both quotes: bare text reads back whole if nothing ends it early.
        Some(value.to_owned())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nesting_quotes_and_comments() {
        let doc = "# top comment\n\nroot\n    a = \"x # y\"   # note\n    b = 'it''s'\n";
        assert!(parse(doc).is_err(), "junk after a quoted value");
        let doc = "# c\nroot\n    a = \"x # y\"  # note\n    b = 'say \"hi\"'\n    c = bare text # c\n    d\n        e=1\nnext\n";
        let root = parse(doc).unwrap();
        let r = root.child("root").unwrap();
        assert_eq!(r.child("a").unwrap().value, "x # y");
        assert_eq!(r.child("b").unwrap().value, "say \"hi\"");
        assert_eq!(r.child("c").unwrap().value, "bare text");
        assert_eq!(r.child("d").unwrap().child("e").unwrap().value, "1");
        assert!(root.child("next").is_some());
    }

    #[test]
    fn errors_name_the_line_and_the_problem() {
        for (doc, line, what) in [
            ("a\n  b = 1\n", 2, "multiple of 4"),
            ("a\n        b = 1\n", 2, "deeper"),
            ("a = \"open\n", 1, "missing closing"),
            ("a = 1\n= 2\n", 2, "expected a name"),
            ("/a = 1\n", 1, "'/'"),
            ("a b\n", 1, "expected '='"),
        ] {
            match parse(doc) {
                Err(CertError::Syntax { line: l, what: w }) => {
                    assert_eq!(l, line, "{doc:?}: {w}");
                    assert!(w.contains(what), "{doc:?}: {w}");
                }
                other => panic!("{doc:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn every_quoted_value_reads_back() {
        for v in [
            "plain",
            "with \"double\"",
            "with 'single'",
            "both \" and '",
            "",
        ] {
            let line = format!("k = {}\n", quote(v).unwrap());
            assert_eq!(parse(&line).unwrap().child("k").unwrap().value, v, "{line}");
        }
        assert_eq!(quote("both \" ' and # hash"), None);
        assert_eq!(quote("new\nline"), None);
    }
}
