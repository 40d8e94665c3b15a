//! The control channel between the receiver and the monitor.
//!
//! Owns: what the receiver asks (a writer started, a dead writer reaped, a
//! change of the service's state to report) and how the answers travel.
//! Requests go over an ipc-channel, because the one for a new writer carries
//! the receiving end of its data channel; answers come back over a Unix
//! stream, because the one for a new writer carries the receiver's end of
//! its status stream, a plain descriptor (`SCM_RIGHTS`), which an
//! ipc-channel cannot carry. Every answer is a `u32` length and JSON.
//!
//! Does not own: starting writers ([`crate::monitor::spawn`]) or what the
//! monitor does with the states ([`crate::monitor`]). Shared by both sides,
//! so that the receiver and its link import it, not the monitor.

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use ipc_channel::ipc::{self, IpcBytesReceiver, IpcBytesSender, IpcSender};
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

pub mod start;

use crate::metrics::process::Usage;
pub use start::{ConfigText, EngineSource, Start};
use zeroize::Zeroizing;

/// How long a new writer may take to build its handlers before start-up fails.
pub const WRITER_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a writer could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("cannot create the channel to the writer process: {0}")]
    Channel(#[source] io::Error),
    #[error("cannot fork the writer process: {0}")]
    Fork(#[source] nix::Error),
    /// The writer could not apply the logging configuration.
    #[error("{0}")]
    Config(String),
    #[error("the writer process (pid {pid}) did not become ready: {reason}")]
    NotReady { pid: Pid, reason: String },
    /// The monitor could not be asked, or answered something else.
    #[error("cannot reach the monitor process: {0}")]
    Monitor(String),
    /// What the monitor reported, as it worded it.
    #[error("{0}")]
    Reported(String),
    /// A writer runs already (see [`crate::monitor::writers`]).
    #[error("refused the receiver's request for a writer: writer process (pid {running}) is running, and at most {max} may run at a time")]
    TooMany { running: Pid, max: usize },
}

/// Longest answer accepted: a failure's text is the longest there is.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// What the receiver asks of the monitor.
#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    /// Start a writer that reads batches from `data`; answered
    /// [`Answer::Spawned`] (with the status stream) or [`Answer::Failed`].
    /// What it is built from is the monitor's to say, never the receiver's
    /// (see [`super::writers`]).
    Spawn {
        data: IpcBytesReceiver,
        start: Start,
    },
    /// A writer closed its status stream: wait up to `patience_ms` for it to
    /// exit (then kill it); answered [`Answer::Ended`].
    Reap { pid: i32, patience_ms: u64 },
    /// Not answered: the monitor tells the launcher and systemd.
    State(ServiceState),
    /// What a writer uses (CPU, memory, descriptors), read from its /proc
    /// entry, which a confined receiver may not open; answered
    /// [`Answer::Usage`].
    Usage { pid: i32 },
    /// Not answered: SIGHUP reached the receiver rather than the monitor;
    /// the monitor reloads as for its own SIGHUP.
    Reload,
}

/// Service states the monitor passes on (systemd takes notifications from
/// the main process only, and the launcher's readiness pipe is the monitor's).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum ServiceState {
    /// Listening with the writer ready; `warnings` are start-up's.
    Ready {
        warnings: Vec<String>,
    },
    Reloading,
    /// A reload is over.
    Reloaded,
    Stopping,
    /// Start-up failed with this exit status and error.
    Failed {
        code: i32,
        message: String,
    },
}

/// The monitor's answers.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub enum Answer {
    Spawned { pid: i32 },
    Failed { config: bool, message: String },
    Ended { how: String },
    Usage(Option<Usage>),
}

impl Answer {
    pub fn failed(e: &SpawnError) -> Answer {
        Answer::Failed {
            config: matches!(e, SpawnError::Config(_)),
            message: e.to_string(),
        }
    }
}

/// A running writer as the receiver sees it.
#[derive(Debug)]
pub struct WriterProcess {
    pub pid: Pid,
    /// Batches go here.
    pub data: IpcBytesSender,
    /// Ready/Failed/acks come from here (blocking until the receiver makes it non-blocking).
    pub status: UnixStream,
}

/// `value` as a frame: a `u32` length (little-endian), then JSON. Wiped
/// when dropped: an order may hold the private key.
fn encode_frame<T: Serialize>(value: &T) -> io::Result<Zeroizing<Vec<u8>>> {
    let body = Zeroizing::new(serde_json::to_vec(value).map_err(io::Error::other)?);
    let len = u32::try_from(body.len()).map_err(io::Error::other)?;
    let mut frame = Zeroizing::new(Vec::with_capacity(4 + body.len()));
    frame.extend_from_slice(&len.to_le_bytes());
    frame.extend_from_slice(&body);
    Ok(frame)
}

/// The length of the body of the frame `buf` starts with, once `buf` holds
/// all of it; the length as the error when it is past `max`.
fn whole_frame(buf: &[u8], max: usize) -> Result<Option<usize>, usize> {
    let Some(head) = buf.first_chunk::<4>() else {
        return Ok(None);
    };
    let len = u32::from_le_bytes(*head) as usize;
    if len > max {
        return Err(len);
    }
    Ok((buf.len() >= 4 + len).then_some(len))
}

/// Send `answer`, with `fd` passed alongside when given.
pub fn send_answer(stream: &UnixStream, answer: &Answer, fd: Option<RawFd>) -> io::Result<()> {
    let frame = encode_frame(answer)?;
    let fds: Vec<RawFd> = fd.into_iter().collect();
    let cmsgs: Vec<ControlMessage> = if fds.is_empty() {
        Vec::new()
    } else {
        vec![ControlMessage::ScmRights(&fds)]
    };
    let mut sent = 0;
    while sent < frame.len() {
        let iov = [IoSlice::new(&frame[sent..])];
        // The descriptor goes with the first byte only.
        let c = if sent == 0 { &cmsgs[..] } else { &[] };
        match sendmsg::<()>(stream.as_raw_fd(), &iov, c, MsgFlags::MSG_NOSIGNAL, None) {
            Ok(n) => sent += n,
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Read one answer and any descriptor passed with it.
pub fn read_answer(stream: &UnixStream) -> io::Result<(Answer, Option<OwnedFd>)> {
    let mut frame = Vec::new();
    let mut passed: Option<OwnedFd> = None;
    let mut buf = [0u8; 4096];
    loop {
        if let Some(len) = whole_frame(&frame, MAX_ANSWER_BYTES)
            .map_err(|len| io::Error::other(format!("an answer of {len} bytes")))?
        {
            let answer = serde_json::from_slice(&frame[4..4 + len]).map_err(io::Error::other)?;
            return Ok((answer, passed));
        }
        let mut cmsg = nix::cmsg_space!([RawFd; 2]);
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = match recvmsg::<()>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Ok(msg) => msg,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(nix::errno::Errno::EAGAIN) => {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no answer in time"))
            }
            Err(e) => return Err(e.into()),
        };
        let n = msg.bytes;
        for c in msg.cmsgs().map_err(io::Error::from)? {
            if let ControlMessageOwned::ScmRights(fds) = c {
                for fd in fds {
                    // SAFETY: the kernel just installed this descriptor for us.
                    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                    if passed.is_none() {
                        passed = Some(owned);
                    }
                }
            }
        }
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the monitor closed the control channel",
            ));
        }
        frame.extend_from_slice(&buf[..n]);
    }
}

/// What the monitor tells the receiver, unasked: written on a third
/// channel (a Unix stream the receiver's event loop watches), framed as the
/// answers are.
#[derive(Debug, Serialize, Deserialize)]
pub enum Order {
    /// SIGHUP: reopen the outputs, then apply what the monitor read again:
    /// the logging configuration (or why it could not be read) and the TLS
    /// files' bytes (or why not). `None`: not configured.
    Reload {
        logging: Option<Result<ConfigText, String>>,
        tls: Option<TlsReload>,
    },
    /// SIGUSR1: reopen the output files, and nothing else (logrotate's
    /// `postrotate`: a broken configuration cannot keep files from being
    /// reopened).
    Reopen,
}

/// What a SIGHUP did with the TLS files.
#[derive(Debug, Serialize, Deserialize)]
pub enum TlsReload {
    /// Their bytes, read again.
    Read(PemBytes),
    /// Why they could not be read, or do not build.
    Failed(String),
    /// Not read again (under `--user`, where the key is root's alone), and
    /// why.
    Kept(String),
}

/// The TLS files' bytes, as they cross to the receiver (which wipes them
/// once parsed, see [`crate::tls::TlsPems`]).
#[derive(Serialize, Deserialize)]
pub struct PemBytes {
    pub cert: Vec<u8>,
    pub key: Vec<u8>,
    pub client_ca: Option<Vec<u8>>,
}

impl std::fmt::Debug for PemBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PemBytes { .. }")
    }
}

impl From<PemBytes> for crate::tls::TlsPems {
    fn from(p: PemBytes) -> crate::tls::TlsPems {
        crate::tls::TlsPems {
            cert: Zeroizing::new(p.cert),
            key: Zeroizing::new(p.key),
            client_ca: p.client_ca.map(Zeroizing::new),
        }
    }
}

impl From<&crate::tls::TlsPems> for PemBytes {
    fn from(p: &crate::tls::TlsPems) -> PemBytes {
        PemBytes {
            cert: p.cert.to_vec(),
            key: p.key.to_vec(),
            client_ca: p.client_ca.as_ref().map(|c| c.to_vec()),
        }
    }
}

/// Longest order accepted: a logging configuration and PEM files.
const MAX_ORDER_BYTES: usize = 16 << 20;

/// An order as bytes on the orders stream (wiped after sending: it may hold
/// the private key).
pub fn encode_order(order: &Order) -> io::Result<Zeroizing<Vec<u8>>> {
    encode_frame(order)
}

/// The receiver's side of the orders stream: bytes in, orders out.
#[derive(Debug, Default)]
pub struct OrderDecoder {
    buf: Zeroizing<Vec<u8>>,
}

impl OrderDecoder {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole order, if one has arrived; an error for a frame that
    /// is too long or not an order (the stream is then unusable).
    pub fn next_order(&mut self) -> Result<Option<Order>, String> {
        let Some(len) = whole_frame(&self.buf, MAX_ORDER_BYTES)
            .map_err(|len| format!("an order of {len} bytes from the monitor"))?
        else {
            return Ok(None);
        };
        let order = serde_json::from_slice(&self.buf[4..4 + len])
            .map_err(|e| format!("an order from the monitor that does not parse: {e}"));
        // Wiped as it goes: the PEM bytes were in it.
        self.buf[..4 + len].iter_mut().for_each(|b| *b = 0);
        self.buf.drain(..4 + len);
        order.map(Some)
    }
}

/// The receiver's end of the control channel.
#[derive(Debug)]
pub struct MonitorClient {
    requests: IpcSender<Request>,
    answers: UnixStream,
}

impl MonitorClient {
    pub fn new(requests: IpcSender<Request>, answers: UnixStream) -> io::Result<MonitorClient> {
        // A monitor that stops answering must not hang the receiver for ever.
        answers.set_read_timeout(Some(WRITER_READY_TIMEOUT + Duration::from_secs(30)))?;
        Ok(MonitorClient { requests, answers })
    }

    /// A client with no monitor behind it, for tests of the link: every
    /// request fails.
    #[cfg(test)]
    pub(crate) fn detached() -> MonitorClient {
        let (requests, _) = ipc::channel().expect("channel");
        let (answers, _) = UnixStream::pair().expect("pair");
        MonitorClient { requests, answers }
    }

    /// Where the receiver reports its state.
    pub fn states(&self) -> StateReporter {
        StateReporter(self.requests.clone())
    }

    /// Have the monitor start a writer; wait until it is ready.
    pub fn spawn(&mut self, start: Start) -> Result<WriterProcess, SpawnError> {
        let (data_tx, data_rx) = ipc::bytes_channel().map_err(SpawnError::Channel)?;
        let forged = match crate::fault::injected() {
            Some(crate::fault::Fault::ReceiverForgedSpawn(path)) => Some(path),
            _ => None,
        };
        match &forged {
            Some(path) => forged::send_spawn(&self.requests, data_rx, start, path),
            None => self.requests.send(Request::Spawn {
                data: data_rx,
                start,
            }),
        }
        .map_err(|e| SpawnError::Monitor(e.to_string()))?;
        let (answer, fd) =
            read_answer(&self.answers).map_err(|e| SpawnError::Monitor(e.to_string()))?;
        match (answer, fd) {
            (Answer::Spawned { pid }, Some(fd)) => {
                if let Some(path) = &forged {
                    forged::ask_again(&self.requests, &self.answers, path);
                }
                Ok(WriterProcess {
                    pid: Pid::from_raw(pid),
                    data: data_tx,
                    status: UnixStream::from(fd),
                })
            }
            (
                Answer::Failed {
                    config: true,
                    message,
                },
                _,
            ) => Err(SpawnError::Config(message)),
            (Answer::Failed { message, .. }, _) => Err(SpawnError::Reported(message)),
            (other, _) => Err(SpawnError::Monitor(format!(
                "it answered {other:?} to a request for a writer"
            ))),
        }
    }

    /// Have the monitor reap a writer that closed its status stream; how it
    /// ended, in words.
    pub fn reap(&mut self, pid: Pid, patience: Duration) -> String {
        let asked = self.requests.send(Request::Reap {
            pid: pid.as_raw(),
            patience_ms: u64::try_from(patience.as_millis()).unwrap_or(u64::MAX),
        });
        if let Err(e) = asked {
            return format!("not known: cannot reach the monitor process: {e}");
        }
        match read_answer(&self.answers) {
            Ok((Answer::Ended { how }, _)) => how,
            Ok((other, _)) => format!("not known: the monitor answered {other:?}"),
            Err(e) => format!("not known: the monitor did not answer: {e}"),
        }
    }

    /// What writer `pid` uses, as the monitor reads it; `None` if unknown.
    pub fn usage(&mut self, pid: Pid) -> Option<Usage> {
        self.requests
            .send(Request::Usage { pid: pid.as_raw() })
            .ok()?;
        match read_answer(&self.answers) {
            Ok((Answer::Usage(usage), _)) => usage,
            _ => None,
        }
    }
}

/// `PYSYSLOG_FAULT_INJECT=receiver-forged-spawn:PATH` (see [`crate::fault`]):
/// what a compromised receiver would send when asking for a writer.
mod forged {
    use std::os::unix::net::UnixStream;
    use std::path::Path;

    use ipc_channel::ipc::{self, IpcBytesReceiver, IpcSender};
    use serde::{Deserialize, Serialize};

    use crate::control::{read_answer, Request};
    use crate::control::{ConfigText, EngineSource, Start};

    /// A request for a writer as a receiver of its own making would send it:
    /// [`Request::Spawn`]'s fields, then a logging configuration (which the
    /// monitor's decoding never reads).
    #[derive(Serialize, Deserialize)]
    enum Forged {
        Spawn {
            data: IpcBytesReceiver,
            start: Start,
            source: EngineSource,
        },
    }

    /// A configuration writing every line to `path`.
    fn source(path: &Path) -> EngineSource {
        let json = serde_json::json!({
            "version": 1,
            "handlers": {"forged": {"class": "logging.FileHandler", "filename": path}},
            "root": {"level": "INFO", "handlers": ["forged"]},
        });
        EngineSource::DictConfig(ConfigText::new(json.to_string(), path, Path::new("/")))
    }

    /// Ask for a writer built from the configuration of [`source`].
    pub(super) fn send_spawn(
        requests: &IpcSender<Request>,
        data: IpcBytesReceiver,
        start: Start,
        path: &Path,
    ) -> Result<(), ipc_channel::IpcError> {
        let forged: IpcSender<Forged> = requests.clone().to_opaque().to();
        forged.send(Forged::Spawn {
            data,
            start,
            source: source(path),
        })
    }

    /// Ask for a second writer while one runs, and say on stderr what the
    /// monitor answered (a writer started is dropped at once: its channel
    /// closes and it exits).
    pub(super) fn ask_again(requests: &IpcSender<Request>, answers: &UnixStream, path: &Path) {
        let answer = ipc::bytes_channel()
            .map_err(|e| e.to_string())
            .and_then(|(_tx, rx)| {
                send_spawn(requests, rx, Start::AfterCrash, path).map_err(|e| e.to_string())
            })
            .and_then(|()| read_answer(answers).map_err(|e| e.to_string()));
        match answer {
            Ok((answer, _)) => crate::say!(
                "pysyslog-recv: fault injection: the monitor answered a second request for a writer: {answer:?}"
            ),
            Err(e) => crate::say!(
                "pysyslog-recv: fault injection: a second request for a writer failed: {e}"
            ),
        }
    }
}

/// Reports the receiver's service state to the monitor (cloned into the
/// receiver's service hooks).
#[derive(Debug, Clone)]
pub struct StateReporter(IpcSender<Request>);

impl StateReporter {
    pub fn report(&self, state: ServiceState) {
        let _ = self.0.send(Request::State(state));
    }

    pub fn request_reload(&self) {
        let _ = self.0.send(Request::Reload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_cross_with_a_descriptor_and_without() {
        let (a, b) = UnixStream::pair().expect("pair");
        let (passed, _keep) = UnixStream::pair().expect("pair");
        send_answer(&a, &Answer::Spawned { pid: 42 }, Some(passed.as_raw_fd())).expect("send");
        send_answer(
            &a,
            &Answer::Ended {
                how: "killed by SIGKILL".into(),
            },
            None,
        )
        .expect("send");
        let (first, fd) = read_answer(&b).expect("first");
        assert_eq!(first, Answer::Spawned { pid: 42 });
        let fd = fd.expect("a descriptor");
        // The same socket as sent: its peer is still connected.
        let got = UnixStream::from(fd);
        assert!(got.peer_addr().is_ok());
        let (second, none) = read_answer(&b).expect("second");
        assert_eq!(
            second,
            Answer::Ended {
                how: "killed by SIGKILL".into()
            }
        );
        assert!(none.is_none());
    }

    #[test]
    fn a_closed_monitor_is_an_error_not_a_hang() {
        let (a, b) = UnixStream::pair().expect("pair");
        drop(a);
        let err = read_answer(&b).expect_err("closed");
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn an_oversized_answer_is_refused() {
        use std::io::Write;
        let (mut a, b) = UnixStream::pair().expect("pair");
        a.write_all(&(1u32 << 30).to_le_bytes()).expect("write");
        assert!(read_answer(&b).is_err());
    }
}
