//! The private directory an `ipc://*` listener's socket file lives in.
//!
//! libzmq 4.3 binds `ipc://*` as `<tmp>/tmpXXXXXX/socket`, in a directory
//! `mkdtemp` made (mode 0700, so no other user can race for the name), and
//! removes both the file and the directory when the listener closes. The
//! same shape here means a path printed by one can be read by people and
//! scripts used to the other.

use std::fs::DirBuilder;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use zmtp_core::{OsRandom, Random};

/// The file name inside the directory, as libzmq names it.
const SOCKET_FILE: &str = "socket";

/// The environment variables libzmq looks at, in its order, for the parent
/// directory.
const TMP_VARS: [&str; 3] = ["TMPDIR", "TEMPDIR", "TMP"];

/// Creates a fresh directory and returns the socket path inside it.
pub(crate) fn create() -> io::Result<PathBuf> {
    let parent = parent_dir();
    // 62^6 names: a clash means someone else's directory, so try another,
    // but not forever (a parent full of them, or unwritable and reported as
    // something else, must come back as an error).
    for _ in 0..100 {
        let dir = parent.join(format!("tmp{}", random_suffix()));
        match DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir.join(SOCKET_FILE)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("no unused temporary directory name in {}", parent.display()),
    ))
}

/// Removes the socket file and its directory, once the listener is closed.
pub(crate) fn remove(socket: &Path) {
    let _ = std::fs::remove_file(socket);
    if let Some(dir) = socket.parent() {
        let _ = std::fs::remove_dir(dir);
    }
}

/// Where the directory goes: the first of TMPDIR, TEMPDIR and TMP that is a
/// directory, else `/tmp`. (libzmq falls back to the working directory,
/// which leaves `tmpXXXXXX` directories wherever a program happens to run;
/// `/tmp` is where a user looks for them.)
fn parent_dir() -> PathBuf {
    TMP_VARS
        .iter()
        .filter_map(std::env::var_os)
        .map(PathBuf::from)
        .find(|p| p.is_dir())
        .unwrap_or_else(|| PathBuf::from("/tmp"))
}

/// Six characters from mkdtemp's alphabet.
fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 6];
    OsRandom.fill(&mut bytes);
    bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn makes_a_private_directory_per_call_and_removes_it() {
        use std::os::unix::fs::PermissionsExt;
        let a = create().unwrap();
        let b = create().unwrap();
        assert_ne!(a.parent(), b.parent());
        for p in [&a, &b] {
            assert_eq!(p.file_name().unwrap(), "socket");
            let dir = p.parent().unwrap();
            let name = dir.file_name().unwrap().to_str().unwrap();
            assert!(name.starts_with("tmp") && name.len() == 9, "{name}");
            let mode = std::fs::metadata(dir).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        std::fs::write(&a, b"").unwrap();
        remove(&a);
        remove(&b);
        assert!(!a.parent().unwrap().exists());
        assert!(!b.parent().unwrap().exists());
    }
}
