//! CURVE certificates as CZMQ's `zcert` and pyzmq's `zmq.auth` write them:
//! ZPL text with a `metadata` section and a `curve` section holding
//! `public-key = "<Z85>"`, and, in the secret file, `secret-key` too.
//!
//! Text in, text out: reading and writing the files is the runtime's
//! (`zmq_runtime::cert`), so this stays free of I/O.
//!
//! ```
//! use zmtp_core::{cert::Certificate, KeyPair};
//!
//! let cert = Certificate::new(KeyPair::generate()).with_metadata("name", "server")?;
//! let public = Certificate::parse(&cert.public_text())?;
//! assert_eq!(public.public(), cert.public());
//! assert!(public.secret().is_none());
//! let secret = Certificate::parse(&cert.secret_text().unwrap())?;
//! assert_eq!(secret.metadata(), [("name".to_owned(), "server".to_owned())]);
//! # Ok::<(), zmtp_core::cert::CertError>(())
//! ```

mod zpl;

use std::fmt::Write as _;

use thiserror::Error;

use crate::keys::{KeyPair, PublicKey, SecretKey};
use crate::z85::{self, Z85Error};

/// Why a certificate's text, or a metadata entry for one, was refused.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertError {
    /// The text is not ZPL (what zconfig would refuse to load).
    #[error("line {line}: {what}")]
    Syntax {
        /// The 1-based line number.
        line: usize,
        /// What is wrong there.
        what: String,
    },
    /// No `curve` section with a `public-key`.
    #[error("no public-key in a curve section")]
    MissingPublicKey,
    /// A key that is not 40 characters of Z85.
    #[error("curve/{name} is not a 40-character Z85 key: {source}")]
    BadKey {
        /// `public-key` or `secret-key`.
        name: &'static str,
        /// Why it does not decode.
        #[source]
        source: Z85Error,
    },
    /// The secret key's public half is not the public key: the file was
    /// edited or pieced together from two certificates.
    #[error("curve/secret-key does not belong to curve/public-key")]
    KeyMismatch,
    /// A metadata name or value that cannot be written so that it reads back
    /// the same.
    #[error(
        "metadata {name:?} = {value:?} cannot be written: names are letters, digits and \
         $-_@.&+, values have no control characters and not all of \", ' and #"
    )]
    BadMetadata {
        /// The name.
        name: String,
        /// The value.
        value: String,
    },
}

/// A CURVE certificate: a public key, perhaps its secret key, and metadata.
#[derive(Clone, Debug)]
pub struct Certificate {
    public: PublicKey,
    secret: Option<SecretKey>,
    metadata: Vec<(String, String)>,
}

impl Certificate {
    /// A certificate holding both keys (saved as a public and a secret file).
    pub fn new(keys: KeyPair) -> Self {
        Self {
            public: keys.public,
            secret: Some(keys.secret),
            metadata: Vec::new(),
        }
    }

    /// A peer's certificate: its public key only.
    pub fn from_public(public: PublicKey) -> Self {
        Self {
            public,
            secret: None,
            metadata: Vec::new(),
        }
    }

    /// Adds a metadata entry (replacing one of the same name), as
    /// `zcert_set_meta` does.
    pub fn with_metadata(mut self, name: &str, value: &str) -> Result<Self, CertError> {
        if !zpl::is_name(name) || zpl::quote(value).is_none() {
            return Err(CertError::BadMetadata {
                name: name.to_owned(),
                value: value.to_owned(),
            });
        }
        self.metadata.retain(|(n, _)| n != name);
        self.metadata.push((name.to_owned(), value.to_owned()));
        Ok(self)
    }

    /// The public key.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// The secret key, if this came from a secret certificate.
    pub fn secret(&self) -> Option<&SecretKey> {
        self.secret.as_ref()
    }

    /// Both keys, if this came from a secret certificate: what a CURVE
    /// server or client needs.
    pub fn keypair(&self) -> Option<KeyPair> {
        self.secret.clone().map(|secret| KeyPair {
            public: self.public,
            secret,
        })
    }

    /// The metadata entries, in file order.
    pub fn metadata(&self) -> &[(String, String)] {
        &self.metadata
    }

    /// Reads a public or secret certificate. As `zcert_load`, only
    /// `curve/public-key` is required; a `curve/secret-key` makes it a
    /// secret certificate, and every entry under `metadata` is kept.
    pub fn parse(text: &str) -> Result<Self, CertError> {
        let root = zpl::parse(text)?;
        let curve = root.child("curve");
        let key = |name: &'static str| {
            curve.and_then(|c| c.child(name)).map(|n| {
                z85::decode_key(&n.value).map_err(|source| CertError::BadKey { name, source })
            })
        };
        let public = PublicKey(key("public-key").ok_or(CertError::MissingPublicKey)??);
        let secret = key("secret-key").transpose()?.map(SecretKey);
        if secret.as_ref().is_some_and(|s| s.public_key() != public) {
            return Err(CertError::KeyMismatch);
        }
        let metadata = root
            .child("metadata")
            .map(|m| {
                m.children
                    .iter()
                    .map(|n| (n.name.clone(), n.value.clone()))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            public,
            secret,
            metadata,
        })
    }

    /// The public file, to give to peers, as `zcert_save_public` writes it.
    pub fn public_text(&self) -> String {
        self.text(
            &[
                "ZeroMQ CURVE Public Certificate",
                "Exchange securely, or use a secure mechanism to verify the contents",
                "of this file after exchange. Store public certificates in your home",
                "directory, in the .curve subdirectory.",
            ],
            None,
        )
    }

    /// The secret file (both keys), as `zcert_save_secret` writes it; `None`
    /// for a certificate without a secret key.
    pub fn secret_text(&self) -> Option<String> {
        let secret = self.secret.as_ref()?;
        Some(self.text(
            &[
                "ZeroMQ CURVE **Secret** Certificate",
                "DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.",
            ],
            Some(secret),
        ))
    }

    fn text(&self, banner: &[&str], secret: Option<&SecretKey>) -> String {
        // zcert's banner opens with the time it was written; this crate reads
        // no clock, so it names the writer only.
        let mut out = String::from("#   ****  Generated by zmtp-core  ****\n");
        for line in banner {
            let _ = writeln!(out, "#   {line}");
        }
        out.push_str("\nmetadata\n");
        for (name, value) in &self.metadata {
            // `with_metadata` and `parse` only let in values that quote.
            let value = zpl::quote(value).unwrap_or_default();
            let _ = writeln!(out, "    {name} = {value}");
        }
        out.push_str("curve\n");
        let _ = writeln!(out, "    public-key = \"{}\"", self.public.to_z85());
        if let Some(secret) = secret {
            let _ = writeln!(out, "    secret-key = \"{}\"", secret.to_z85());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What pyzmq's `zmq.auth.create_certificates` writes (keys from
    /// zmq_curve(7)), metadata unquoted as it writes it.
    const PYZMQ_SECRET: &str = "#   ****  Generated on 2026-01-01 00:00:00 by pyzmq  ****\n\
        #   ZeroMQ CURVE **Secret** Certificate\n\
        #   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n\
        \n\
        metadata\n    \
            name = server one\n\
        curve\n    \
            public-key = \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\"\n    \
            secret-key = \"JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6\"\n";

    #[test]
    fn reads_what_pyzmq_writes() {
        let cert = Certificate::parse(PYZMQ_SECRET).unwrap();
        assert_eq!(
            cert.public().to_z85(),
            "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
        );
        assert_eq!(cert.keypair().unwrap().secret.public_key(), *cert.public());
        assert_eq!(
            cert.metadata(),
            [("name".to_owned(), "server one".to_owned())]
        );
    }

    #[test]
    fn writes_what_it_reads() {
        let cert = Certificate::new(KeyPair::generate())
            .with_metadata("name", "it's \"quoted\"")
            .unwrap()
            .with_metadata("email", "a@b")
            .unwrap()
            .with_metadata("name", "x")
            .unwrap();
        let secret = cert.secret_text().unwrap();
        assert!(secret.contains("\nmetadata\n    email = \"a@b\"\n    name = \"x\"\ncurve\n"));
        let back = Certificate::parse(&secret).unwrap();
        assert_eq!(back.public(), cert.public());
        assert_eq!(back.metadata(), cert.metadata());
        let public = Certificate::parse(&cert.public_text()).unwrap();
        assert!(public.secret().is_none() && public.public() == cert.public());
        assert!(!cert.public_text().contains("secret-key"));
        assert!(Certificate::from_public(*cert.public())
            .secret_text()
            .is_none());
    }

    #[test]
    fn malformed_certificates_say_what_is_wrong() {
        let good = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
        let other = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";
        let cases: [(String, &str); 6] = [
            ("metadata\ncurve\n".into(), "no public-key"),
            (
                "curve\n    public-key = \"short\"\n".into(),
                "curve/public-key",
            ),
            (
                format!(
                    "curve\n    public-key = \"{good}\"\n    secret-key = \"{}\"\n",
                    &other[..39]
                ),
                "curve/secret-key is not",
            ),
            (
                format!("curve\n    public-key = \"{good}\"\n    secret-key = \"{other}\"\n"),
                "does not belong",
            ),
            (format!("curve\n  public-key = \"{good}\"\n"), "line 2"),
            (
                "curve\n    public-key = \"unterminated\n".into(),
                "missing closing",
            ),
        ];
        for (text, what) in cases {
            let e = Certificate::parse(&text).unwrap_err().to_string();
            assert!(e.contains(what), "{text:?}: {e}");
        }
        let e = Certificate::new(KeyPair::generate())
            .with_metadata("a/b", "v")
            .unwrap_err();
        assert!(e.to_string().contains("\"a/b\""), "{e}");
        assert!(Certificate::new(KeyPair::generate())
            .with_metadata("k", "line\nbreak")
            .is_err());
    }
}
