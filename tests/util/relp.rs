//! A raw RELP client's pieces: frames as librelp writes them, and reading
//! one back (header, then DATALEN bytes, then LF).

use std::io::{BufReader, Read};
use std::net::TcpStream;

/// What a client offers in `open`.
pub const OFFERS: &str = "relp_version=0\nrelp_software=test\ncommands=syslog";

pub fn frame(txnr: u32, command: &str, data: &str) -> Vec<u8> {
    if data.is_empty() {
        format!("{txnr} {command} 0\n").into_bytes()
    } else {
        format!("{txnr} {command} {} {data}\n", data.len()).into_bytes()
    }
}

/// Read one frame: (txnr, command, data); `None` at EOF or on bad framing.
pub fn read_frame(r: &mut BufReader<TcpStream>) -> Option<(u32, String, String)> {
    let mut head = Vec::new();
    for _ in 0..3 {
        let mut field = Vec::new();
        loop {
            let mut b = [0u8];
            if r.read(&mut b).ok()? == 0 {
                return None;
            }
            if b[0] == b' ' || b[0] == b'\n' {
                field.push(b[0]);
                break;
            }
            field.push(b[0]);
        }
        head.push(field);
    }
    let text = |f: &Vec<u8>| String::from_utf8_lossy(&f[..f.len() - 1]).into_owned();
    let txnr: u32 = text(&head[0]).parse().ok()?;
    let command = text(&head[1]);
    let len: usize = text(&head[2]).parse().ok()?;
    let mut data = vec![0u8; len];
    if len > 0 {
        r.read_exact(&mut data).ok()?;
        let mut lf = [0u8];
        r.read_exact(&mut lf).ok()?;
    }
    Some((txnr, command, String::from_utf8_lossy(&data).into_owned()))
}
