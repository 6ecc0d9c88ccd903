//! The address of an IPC peer, as libzmq reports it in a message's
//! `Peer-Address` property and in ZAP requests: `localhost:UID:GID:PID`, the
//! kernel's credentials of the process at the other end of the socket.

use std::os::fd::AsFd;

/// `localhost:UID:GID:PID` of the peer of a connected Unix domain socket, as
/// libzmq builds it (`getnameinfo` names any Unix socket `localhost`, then
/// `SO_PEERCRED` adds the credentials). Empty when the kernel cannot tell,
/// and on systems without `SO_PEERCRED`, where libzmq's form differs.
pub(crate) fn ipc_peer_address(stream: &impl AsFd) -> String {
    peer_credentials(stream)
        .map(|(uid, gid, pid)| format!("localhost:{uid}:{gid}:{pid}"))
        .unwrap_or_default()
}

#[cfg(any(target_os = "linux", target_os = "android"))]
#[allow(unsafe_code)]
fn peer_credentials(stream: &impl AsFd) -> Option<(u32, u32, i32)> {
    use std::os::fd::AsRawFd;

    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: the descriptor is borrowed, so open for the call; `cred` and
    // `len` are live locals, and `len` holds `cred`'s exact size, so the
    // kernel writes within it.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_fd().as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            std::ptr::addr_of_mut!(cred).cast(),
            &mut len,
        )
    };
    (rc == 0 && len as usize == size_of::<libc::ucred>()).then_some((cred.uid, cred.gid, cred.pid))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn peer_credentials(_stream: &impl AsFd) -> Option<(u32, u32, i32)> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn names_this_process_at_the_other_end_of_a_socket_pair() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let addr = ipc_peer_address(&a);
        let pid = std::process::id();
        assert!(addr.starts_with("localhost:"), "{addr}");
        assert!(addr.ends_with(&format!(":{pid}")), "{addr}");
        assert_eq!(addr.split(':').count(), 4, "{addr}");
    }
}
