//! The raw socket-to-file copier: the physical limit a collector is compared
//! with. It accepts connections (plain TCP or TLS), reads each into a 256 KiB
//! buffer and appends what it read to one file, with no per-line work: the only
//! look at the data is one backwards search for the last LF per read, so that a
//! write never ends inside a line (lines of different connections must not mix,
//! or no one could verify the output). One thread per connection, each writing
//! whole buffers with `O_APPEND` (atomic per write on a regular file).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::thread;

use rustls::{ServerConfig, ServerConnection, StreamOwned};

const BUF: usize = 256 << 10;
const STACK: usize = 64 << 10;

/// Serve on `listener` forever (until killed), appending to `out`.
pub fn serve(listener: TcpListener, out: &Path, tls: Option<Arc<ServerConfig>>) -> io::Result<()> {
    let file = Arc::new(OpenOptions::new().create(true).append(true).open(out)?);
    loop {
        let (tcp, _) = match listener.accept() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let file = Arc::clone(&file);
        let tls = tls.clone();
        thread::Builder::new().stack_size(STACK).spawn(move || {
            let r = match tls {
                None => copy(tcp, &file),
                Some(cfg) => match ServerConnection::new(cfg) {
                    Ok(conn) => copy(StreamOwned::new(conn, tcp), &file),
                    Err(e) => Err(io::Error::other(e)),
                },
            };
            if let Err(e) = r {
                eprintln!("copier: connection failed: {e}");
            }
        })?;
    }
}

/// Copy one connection to `file` in whole lines per write.
fn copy<R: Read>(mut conn: R, mut file: &File) -> io::Result<()> {
    let mut buf = vec![0u8; BUF];
    let mut held = 0; // bytes of an unfinished line at the start of buf
    loop {
        if held == buf.len() {
            // A line longer than the buffer: write it as it is.
            file.write_all(&buf)?;
            held = 0;
        }
        let n = match conn.read(&mut buf[held..]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // A TLS peer that closes without close_notify: its data is complete.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        };
        let end = held + n;
        match memchr::memrchr(b'\n', &buf[held..end]) {
            Some(i) => {
                let cut = held + i + 1;
                file.write_all(&buf[..cut])?;
                buf.copy_within(cut..end, 0);
                held = end - cut;
            }
            None => held = end,
        }
    }
    if held > 0 {
        file.write_all(&buf[..held])?;
    }
    Ok(())
}

/// Stand-alone use (`bench-peers copier`): bind, then serve.
pub fn run(host: &str, port: u16, out: &Path, tls: Option<Arc<ServerConfig>>) -> io::Result<()> {
    let listener = TcpListener::bind((host, port))?;
    serve(listener, out, tls)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A reader that hands out data in small, uneven pieces.
    struct Trickle(Cursor<Vec<u8>>, usize);
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.1 = self.1 % 7 + 1;
            let n = buf.len().min(self.1 * 13);
            self.0.read(&mut buf[..n])
        }
    }

    #[test]
    fn copies_everything_in_whole_lines() {
        let dir = std::env::temp_dir().join(format!("copier-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out");
        let data: Vec<u8> = (0..2000)
            .flat_map(|i| format!("line {i} abc\n").into_bytes())
            .chain(b"tail".iter().copied())
            .collect();
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        copy(Trickle(Cursor::new(data.clone()), 0), &f).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), data);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
