//! CURVE certificate files as CZMQ's `zcert_save` and pyzmq's
//! `zmq.auth.create_certificates` write them: `PATH` holds the public key
//! (hand it to peers), `PATH_secret` both keys (pyzmq names its pair
//! `NAME.key` and `NAME.key_secret`, the same rule).
//!
//! ```no_run
//! use zmq_runtime::cert::{self, Certificate};
//! use zmq_runtime::KeyPair;
//!
//! // Once: a certificate for the server.
//! cert::save(&Certificate::new(KeyPair::generate()), "server.cert")?;
//!
//! // The server loads both keys (for `Builder::curve_server(keys.secret)`);
//! // clients get `server.cert`, the public file (for `Builder::curve_client`).
//! let keys = cert::load("server.cert_secret")?.keypair().expect("a secret certificate");
//! let server_key = *cert::load("server.cert")?.public();
//! assert_eq!(keys.public, server_key);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use thiserror::Error;

pub use zmtp_core::cert::{CertError, Certificate};

/// A certificate file that could not be read, parsed or written; the
/// message names the file.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CertFileError {
    /// Reading or writing the file failed.
    #[error("certificate {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// The file is not a certificate.
    #[error("certificate {}: {source}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong in it.
        #[source]
        source: CertError,
    },
}

/// Reads one certificate file: a public one (`PATH`, public key only) or a
/// secret one (`PATH_secret`, both keys), as pyzmq's `load_certificate`.
pub fn load(path: impl AsRef<Path>) -> Result<Certificate, CertFileError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| CertFileError::Io {
        path: path.to_owned(),
        source,
    })?;
    Certificate::parse(&text).map_err(|source| CertFileError::Invalid {
        path: path.to_owned(),
        source,
    })
}

/// Writes `PATH` (the public certificate) and, when the certificate has a
/// secret key, `PATH_secret`, readable by its owner only, as `zcert_save`.
pub fn save(cert: &Certificate, path: impl AsRef<Path>) -> Result<(), CertFileError> {
    let path = path.as_ref();
    write(path, &cert.public_text(), 0o644)?;
    if let Some(text) = cert.secret_text() {
        write(&secret_path(path), &text, 0o600)?;
    }
    Ok(())
}

/// `PATH_secret`, where [`save`] puts the secret certificate of `PATH`.
pub fn secret_path(path: impl AsRef<Path>) -> PathBuf {
    let mut name = OsString::from(path.as_ref());
    name.push("_secret");
    PathBuf::from(name)
}

fn write(path: &Path, text: &str, mode: u32) -> Result<(), CertFileError> {
    let io_err = |source| CertFileError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(io_err)?;
    // `mode` applies to a new file only: an old secret file left readable by
    // others is narrowed before the key goes in.
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(io_err)?;
    file.write_all(text.as_bytes()).map_err(io_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use zmtp_core::KeyPair;

    #[test]
    fn saves_a_pair_of_files_and_loads_each() {
        let dir = std::env::temp_dir().join(format!("zmqrt-cert-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("server.cert");
        let cert = Certificate::new(KeyPair::generate())
            .with_metadata("name", "server")
            .unwrap();
        save(&cert, &path).unwrap();
        let public = load(&path).unwrap();
        assert_eq!(public.public(), cert.public());
        assert!(public.secret().is_none());
        let secret_file = secret_path(&path);
        assert_eq!(secret_file, dir.join("server.cert_secret"));
        let secret = load(&secret_file).unwrap();
        assert_eq!(secret.keypair().unwrap().public, *cert.public());
        let mode = std::fs::metadata(&secret_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);

        let e = load(dir.join("missing")).unwrap_err();
        assert!(matches!(e, CertFileError::Io { .. }) && e.to_string().contains("missing"));
        std::fs::write(&path, "curve\n    public-key = \"nope\"\n").unwrap();
        let e = load(&path).unwrap_err().to_string();
        assert!(e.contains("server.cert") && e.contains("public-key"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
