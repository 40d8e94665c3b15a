//! systemd readiness notification (`Type=notify`), without libsystemd.
//!
//! Owns: reading `NOTIFY_SOCKET` (a path, or `@name` for the abstract
//! namespace) and sending state datagrams: `READY=1` once listening with the
//! writer ready, `RELOADING=1` + `MONOTONIC_USEC=` and `READY=1` around a
//! SIGHUP reload, `STOPPING=1` when a stop begins. Failures to notify are
//! ignored: the collector works the same without a service manager.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Where to send notifications; `None` of it means "not under systemd".
#[derive(Debug, Clone)]
pub struct Notifier {
    addr: SocketAddr,
}

impl Notifier {
    /// From `NOTIFY_SOCKET`, when set to something usable.
    pub fn from_env() -> Option<Notifier> {
        let value = std::env::var_os("NOTIFY_SOCKET")?;
        Notifier::new(value.as_encoded_bytes())
    }

    pub fn new(socket: &[u8]) -> Option<Notifier> {
        let addr = match socket.first()? {
            b'@' => {
                use std::os::linux::net::SocketAddrExt;
                SocketAddr::from_abstract_name(&socket[1..]).ok()?
            }
            b'/' => {
                use std::os::unix::ffi::OsStrExt;
                SocketAddr::from_pathname(std::ffi::OsStr::from_bytes(socket)).ok()?
            }
            _ => return None,
        };
        Some(Notifier { addr })
    }

    /// Send one state message (newline-separated `KEY=VALUE` assignments).
    pub fn send(&self, state: &str) -> io::Result<()> {
        let socket = UnixDatagram::unbound()?;
        socket.send_to_addr(state.as_bytes(), &self.addr)?;
        Ok(())
    }

    pub fn ready(&self) {
        let _ = self.send(&format!(
            "READY=1\nSTATUS=listening\nMAINPID={}",
            std::process::id()
        ));
    }

    pub fn reloading(&self) {
        let _ = self.send(&format!("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec()));
    }

    pub fn stopping(&self) {
        let _ = self.send("STOPPING=1");
    }
}

/// `CLOCK_MONOTONIC` in microseconds, as systemd wants with `RELOADING=1`.
fn monotonic_usec() -> u64 {
    // SAFETY: an all-zero timespec is valid; clock_gettime writes into it.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a timespec.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) } != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abstract_and_path_sockets_receive_states() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify");
        let server = UnixDatagram::bind(&path).expect("bind");
        let n = Notifier::new(path.as_os_str().as_encoded_bytes()).expect("path notifier");
        n.reloading();
        let mut buf = [0u8; 256];
        let len = server.recv(&mut buf).expect("recv");
        let text = std::str::from_utf8(&buf[..len]).expect("utf8");
        assert!(text.starts_with("RELOADING=1\nMONOTONIC_USEC="), "{text}");

        let name = format!("pysyslog-test-{}", std::process::id());
        use std::os::linux::net::SocketAddrExt;
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).expect("addr");
        let server = UnixDatagram::bind_addr(&addr).expect("bind abstract");
        let n = Notifier::new(format!("@{name}").as_bytes()).expect("abstract notifier");
        n.stopping();
        let len = server.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..len], b"STOPPING=1");
        assert!(Notifier::new(b"relative").is_none());
    }
}
