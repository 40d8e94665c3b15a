//! `pysyslog-flood`: a load generator for pysyslog (and any syslog-over-TCP
//! collector). Owns the whole run: validating options, connecting, sending,
//! verifying the collector's output and choosing the exit status. The binary
//! only parses arguments into [`Options`] and calls [`run`].
//!
//! - [`payload`]: the exact bytes of each line and the reusable chunk buffers.
//! - [`sender`]: connections and sender threads (any [`sender::FloodStream`]).
//! - [`tls`]: the TLS client (`--tls`, `--ca`): rustls with the ring provider.
//! - [`verify`]: finding this run's tokens in the collector's output file.
//! - [`progress`]: counters and the terminal progress bar.
//! - [`report`]: the final report, text or JSON.

pub mod growth;
pub mod payload;
pub mod progress;
pub mod report;
pub mod sender;
pub mod tls;
pub mod verify;

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use payload::{Framing, Header};

/// Every line arrived exactly once (or nothing was verified).
pub const EXIT_OK: i32 = 0;
/// Verification found lost or duplicated lines.
pub const EXIT_MISMATCH: i32 = 1;
/// Bad options, or connecting/sending/reading failed.
pub const EXIT_ERROR: i32 = 2;

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A run, as given on the command line.
#[derive(Debug, Clone)]
pub struct Options {
    pub host: String,
    pub port: u16,
    pub connections: u32,
    /// Lines per connection.
    pub lines: u64,
    /// Bytes per line on the wire, framing included.
    pub size: usize,
    pub framing: Framing,
    /// What starts each message before the payload (`<14>`, or a syslog header).
    pub header: Header,
    /// Send over TLS, checking the collector's certificate this way.
    pub tls: Option<tls::Verify>,
    /// Total lines per second, spread over the connections.
    pub rate: Option<f64>,
    pub run_id: Option<String>,
    pub json: bool,
    pub verify: Option<PathBuf>,
    /// Seconds to wait after sending for the lines to arrive in `verify`.
    pub verify_timeout: f64,
    /// Connection ids `0..N`, each from its own source address
    /// ([`sender::source_address`]), sent over `connections` connections at
    /// a time (each sender goes on with the next id once the collector has
    /// closed the connection before): `lines` lines per id. Plain TCP to an
    /// IPv4 address only.
    pub source_addresses: Option<u32>,
    /// A line holding the same token twice counts it once when verifying.
    pub token_once_per_line: bool,
}

/// Why a run could not be carried out (exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum FloodError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Payload(#[from] payload::PayloadError),
    #[error(transparent)]
    Send(#[from] sender::SendError),
    #[error(transparent)]
    Verify(#[from] verify::VerifyError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("TLS handshake on connection {index} of {count} to {addr} failed: {source}")]
    Handshake {
        addr: SocketAddr,
        index: u32,
        count: u32,
        #[source]
        source: std::io::Error,
    },
}

/// A run id unlikely to repeat: pid and wall-clock nanoseconds, mixed.
pub fn default_run_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut z = nanos ^ (u64::from(std::process::id()) << 40);
    // splitmix64 finaliser
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    format!("{:012x}", z & 0xffff_ffff_ffff)
}

fn validate(o: &Options) -> Result<(), FloodError> {
    let usage = |m: String| Err(FloodError::Usage(m));
    if o.connections == 0 || o.connections > payload::MAX_CONNECTIONS {
        return usage(format!(
            "--connections must be 1 to {}, not {}",
            payload::MAX_CONNECTIONS,
            o.connections
        ));
    }
    if o.lines == 0 || o.lines > payload::MAX_LINES {
        return usage(format!(
            "--lines must be 1 to {}, not {}",
            payload::MAX_LINES,
            o.lines
        ));
    }
    if let Some(r) = o.rate {
        if !(r.is_finite() && r > 0.0) {
            return usage(format!("--rate must be a positive number, not {r}"));
        }
    }
    if let Some(n) = o.source_addresses {
        if n < o.connections || n > payload::MAX_CONNECTIONS {
            return usage(format!(
                "--source-addresses must be {} (--connections) to {}, not {n}",
                o.connections,
                payload::MAX_CONNECTIONS
            ));
        }
        if o.tls.is_some() {
            return usage("--source-addresses is for plain TCP (no --tls or --ca)".into());
        }
    }
    if !(o.verify_timeout.is_finite() && o.verify_timeout >= 0.0) {
        return usage(format!(
            "--verify-timeout must be zero or more seconds, not {}",
            o.verify_timeout
        ));
    }
    Ok(())
}

/// Carry out a run and return the process exit status. Errors are reported
/// on stderr as one line each; the report goes to stdout.
pub fn run(opts: &Options) -> i32 {
    match run_inner(opts) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pysyslog-flood: {e}");
            EXIT_ERROR
        }
    }
}

fn run_inner(o: &Options) -> Result<i32, FloodError> {
    validate(o)?;
    let run_id = o.run_id.clone().unwrap_or_else(default_run_id);
    let format = payload::LineFormat::with_header(&run_id, o.size, o.framing, o.header)?;
    // Connection ids: one per source address with --source-addresses.
    let ids = o.source_addresses.unwrap_or(o.connections);

    // Everything that allocates or touches the output file happens before timing.
    let verifier = match &o.verify {
        Some(path) => Some((
            path.clone(),
            verify::Verifier::new(&run_id, ids, o.lines)?.once_per_line(o.token_once_per_line),
            verify::start_position(path)?,
        )),
        None => None,
    };

    let tls = match &o.tls {
        Some(v) => Some((tls::client_config(v)?, tls::server_name(&o.host)?)),
        None => None,
    };
    let addrs = sender::resolve(&o.host, o.port)?;
    let mut rounds = None;
    let (addr, streams, sessions) = match tls {
        None if o.source_addresses.is_some() => {
            let Some(dst) = addrs.iter().find_map(|a| match a {
                SocketAddr::V4(v4) => Some(*v4),
                SocketAddr::V6(_) => None,
            }) else {
                return Err(FloodError::Usage(format!(
                    "--source-addresses needs an IPv4 address for {}",
                    o.host
                )));
            };
            let from = move |id: u32| -> std::io::Result<TcpStream> {
                let src = sender::source_address(id);
                let s = sender::connect_from(src, dst).map_err(|e| {
                    std::io::Error::new(e.kind(), format!("connecting from {src}: {e}"))
                })?;
                let _ = s.set_nodelay(true);
                Ok(s)
            };
            let mut streams = Vec::with_capacity(o.connections as usize);
            for c in 0..o.connections {
                streams.push(from(c).map_err(|source| sender::SendError::Connect {
                    addr: dst.to_string(),
                    index: c + 1,
                    count: o.connections,
                    source,
                })?);
            }
            if ids > o.connections {
                rounds = Some(sender::Rounds {
                    total: ids,
                    connect: Arc::new(from),
                });
            }
            (SocketAddr::V4(dst), streams, None)
        }
        None => {
            let (addr, streams) = sender::connect_all(&addrs, o.connections, CONNECT_TIMEOUT)?;
            (addr, streams, None)
        }
        Some((config, name)) => {
            // Each connection is handshaken as soon as it is open, before the
            // next one (a server that handshakes in its accept loop, as
            // pysyslog 0.1.0 does, would otherwise stall on the first while
            // the others overflow its listen backlog), and before the clock starts.
            let count = o.connections;
            let handshake = |addr: SocketAddr, index: u32, tcp: TcpStream| {
                tls::TlsStream::connect(&config, name.clone(), tcp).map_err(|source| {
                    FloodError::Handshake {
                        addr,
                        index,
                        count,
                        source,
                    }
                })
            };
            let (addr, mut first) = sender::connect_all(&addrs, 1, CONNECT_TIMEOUT)?;
            let mut sessions = Vec::with_capacity(count as usize);
            sessions.push(handshake(addr, 1, first.remove(0))?);
            for index in 2..=count {
                let tcp = sender::connect_one(addr, index, count, CONNECT_TIMEOUT)?;
                sessions.push(handshake(addr, index, tcp)?);
            }
            (addr, Vec::new(), Some(sessions))
        }
    };

    // The output's length is followed while sending and the file scanned
    // after (see verify::watch_file_until): the time the last line arrived is
    // known to the sample interval, without taking CPU from the collector.
    let deadline: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let watcher = verifier.map(|(path, mut v, start)| {
        let deadline = Arc::clone(&deadline);
        thread::spawn(move || {
            let d = || *deadline.lock().unwrap_or_else(|p| p.into_inner());
            let w = verify::watch_file_until(&path, start, &mut v, &d);
            (v, w)
        })
    });
    let set_deadline = |at: Instant| {
        *deadline.lock().unwrap_or_else(|p| p.into_inner()) = Some(at);
    };

    let outcome = match sessions {
        None => sender::run_senders_rounds(streams, addr, &format, o.lines, o.rate, rounds),
        Some(sessions) => sender::run_senders(sessions, addr, &format, o.lines, o.rate),
    };
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(e) => {
            set_deadline(Instant::now());
            if let Some(h) = watcher {
                let _ = h.join();
            }
            return Err(e.into());
        }
    };

    // The wall-clock time of an instant of the run (for a caller that dates
    // the collector's output itself, as bench-peers' dynfile scenario does).
    let (now, wall) = (Instant::now(), SystemTime::now());
    let unix = |t: Instant| {
        wall.checked_sub(now.saturating_duration_since(t))
            .and_then(|w| w.duration_since(UNIX_EPOCH).ok())
            .map_or(0.0, |d| d.as_secs_f64())
    };
    let send_report = report::SendReport {
        run_id,
        framing: o.framing.name(),
        size: format.size(),
        connections: o.connections,
        source_addresses: o.source_addresses,
        start_unix: unix(outcome.start),
        end_unix: unix(outcome.end),
        lines_per_connection: o.lines,
        lines: outcome.lines,
        bytes: outcome.bytes,
        seconds: outcome.seconds,
    };

    if !outcome.errors.is_empty() {
        set_deadline(Instant::now());
        if let Some(h) = watcher {
            let _ = h.join();
        }
        for e in &outcome.errors {
            eprintln!("pysyslog-flood: {e}");
        }
        print_report(o.json, &send_report, None);
        return Ok(EXIT_ERROR);
    }

    set_deadline(outcome.end + Duration::from_secs_f64(o.verify_timeout));
    let verify_report = match watcher {
        None => None,
        Some(h) => {
            let (v, w) = h
                .join()
                .map_err(|_| FloodError::Usage("the verifier thread panicked".into()))?;
            let w = w?;
            Some(report::VerifyReport {
                tally: v.tally(),
                drain_seconds: w
                    .last_arrival
                    .map(|t| t.saturating_duration_since(outcome.end).as_secs_f64()),
                complete_seconds: w
                    .last_arrival
                    .map(|t| t.saturating_duration_since(outcome.start).as_secs_f64()),
                timed_out: w.timed_out,
            })
        }
    };
    print_report(o.json, &send_report, verify_report.as_ref());
    Ok(match verify_report {
        Some(v) if v.tally.lost > 0 || v.tally.duplicated > 0 => EXIT_MISMATCH,
        _ => EXIT_OK,
    })
}

fn print_report(json: bool, s: &report::SendReport, v: Option<&report::VerifyReport>) {
    if json {
        println!("{}", report::to_json(s, v));
    } else {
        print!("{}", report::to_text(s, v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> Options {
        Options {
            host: "127.0.0.1".into(),
            port: 1,
            connections: 4,
            lines: 10,
            size: 120,
            framing: Framing::Lf,
            header: Header::Pri,
            tls: None,
            rate: None,
            run_id: None,
            json: false,
            verify: None,
            verify_timeout: 30.0,
            source_addresses: None,
            token_once_per_line: false,
        }
    }

    #[test]
    fn default_run_id_is_a_valid_token() {
        let id = default_run_id();
        assert_eq!(id.len(), 12);
        assert!(payload::validate_run_id(&id).is_ok());
    }

    #[test]
    fn bad_options_are_usage_errors() {
        let cases = [
            Options {
                connections: 0,
                ..opts()
            },
            Options { lines: 0, ..opts() },
            Options {
                rate: Some(0.0),
                ..opts()
            },
            Options {
                verify_timeout: -1.0,
                ..opts()
            },
            Options { size: 10, ..opts() },
            Options {
                run_id: Some("has space".into()),
                ..opts()
            },
            Options {
                source_addresses: Some(3),
                ..opts()
            },
            Options {
                source_addresses: Some(10_001),
                ..opts()
            },
            Options {
                source_addresses: Some(8),
                tls: Some(tls::Verify::Any),
                ..opts()
            },
        ];
        for o in cases {
            assert!(
                matches!(
                    run_inner(&o),
                    Err(FloodError::Usage(_) | FloodError::Payload(_))
                ),
                "{o:?}"
            );
        }
    }
}
