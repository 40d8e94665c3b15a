//! RELP, the Reliable Event Logging Protocol of rsyslog's `librelp`: the
//! frame parser and the server's session rules, pure and free of I/O.
//!
//! Owns: the frame syntax `TXNR SP COMMAND SP DATALEN [SP DATA] LF` parsed
//! from any chunking, the bounds on what a peer may make us hold, the
//! transaction-number sequence, the commands a server answers (`open`,
//! `syslog`, `close`) and the bytes of every reply (`rsp`, `serverclose`).
//! Does not own: sockets, when a `syslog` message's `rsp` may be sent (the
//! connection sends it once the writer acknowledged the batch holding it), or
//! logging.
//!
//! The parser holds at most one header (a few dozen bytes) and one frame's
//! data, and refuses a data length above its bound before reading any of it,
//! so a peer can never make it hold more than that bound: `--max-line-length`
//! plus 4 KiB for a `syslog` message, 4 KiB for the other commands. What it
//! holds of a `syslog` message still arriving may be handed out early
//! ([`Server::spill`], when the partial frames of all connections pass
//! their budget): it is logged then, and the rest of the message later.

use std::fmt;

/// The highest transaction number the syntax allows in nine digits.
pub const MAX_TXNR: u32 = 999_999_999;

/// What follows `txnr` in a librelp session. librelp's `relpEngineNextTXNR`
/// wraps only once the number is *above* [`MAX_TXNR`], so a librelp sender
/// does send 1,000,000,000 (ten digits) before 1; the parser accepts that one
/// ten-digit number so a long session survives the wrap.
pub fn next_txnr(txnr: u32) -> u32 {
    if txnr > MAX_TXNR {
        1
    } else {
        txnr + 1
    }
}

/// The largest number a peer's TXNR field may hold (see [`next_txnr`]).
const MAX_PEER_TXNR: u64 = MAX_TXNR as u64 + 1;
/// The longest TXNR field: nine digits, and the ten of librelp's wrap.
const MAX_TXNR_DIGITS: usize = 10;
/// The longest command the syntax allows.
pub const MAX_COMMAND_BYTES: usize = 32;
/// The longest DATALEN field.
const MAX_DATALEN_DIGITS: usize = 9;

/// Room above `--max-line-length` for a frame's data: an `open` offer list is
/// a few lines whatever the line length.
pub const DATA_ALLOWANCE: usize = 4096;

/// A command a server understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Open,
    Syslog,
    Close,
}

impl Command {
    fn parse(name: &[u8]) -> Option<Command> {
        match name {
            b"open" => Some(Command::Open),
            b"syslog" => Some(Command::Syslog),
            b"close" => Some(Command::Close),
            _ => None,
        }
    }
}

/// Why a peer's bytes are not RELP this server serves. Every one ends the
/// session with a `serverclose`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelpError {
    #[error("malformed RELP frame: {0}")]
    Syntax(&'static str),
    #[error("RELP frame with {len} bytes of data, more than the {max} allowed")]
    TooLong { len: usize, max: usize },
    #[error("unknown RELP command {0:?}")]
    UnknownCommand(String),
    #[error("RELP transaction number {got} where {expected} was due")]
    OutOfOrder { expected: u32, got: u32 },
    #[error("RELP command {0:?} before the session was opened")]
    NotOpen(&'static str),
    #[error("RELP session opened twice")]
    OpenedTwice,
    #[error("RELP open without the syslog command in its offers")]
    NoSyslogOffer,
    #[error("RELP frame after close")]
    AfterClose,
    #[error("more than {0} RELP messages unanswered: the sender ignores its window")]
    WindowIgnored(usize),
}

/// One complete frame. `data` borrows the parser's buffer until the next push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pub txnr: u32,
    pub command: Command,
    pub data: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Txnr,
    Command,
    DataLen,
    /// After DATALEN: SP when data follows, LF when DATALEN is 0.
    AfterDataLen,
    Data,
    Trailer,
    Failed,
}

/// The frame parser: bytes in, frames out, from any chunking.
pub struct Parser {
    max_data: usize,
    state: State,
    /// Digits or letters of the field being read.
    field: Vec<u8>,
    txnr: u32,
    command: Option<Command>,
    datalen: usize,
    data: Vec<u8>,
    /// Bytes of the current frame's data handed out by [`Parser::take_partial`].
    taken: usize,
}

impl fmt::Debug for Parser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Parser")
            .field("state", &self.state)
            .field("held", &self.data.len())
            .finish()
    }
}

fn number(digits: &[u8]) -> u64 {
    digits
        .iter()
        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'))
}

impl Parser {
    /// A parser refusing frames with more than `max_data` bytes of data.
    pub fn new(max_data: usize) -> Parser {
        Parser {
            max_data,
            state: State::Txnr,
            field: Vec::with_capacity(MAX_COMMAND_BYTES),
            txnr: 0,
            command: None,
            datalen: 0,
            data: Vec::new(),
            taken: 0,
        }
    }

    /// Bytes held for a frame not complete yet.
    pub fn held(&self) -> usize {
        self.field.len() + self.data.len()
    }

    /// Memory held for a `syslog` message still arriving, which
    /// [`Parser::take_partial`] can give back: its data buffer's size.
    /// (The header, at most a few dozen bytes, and another command's data,
    /// at most [`DATA_ALLOWANCE`], stay with the session.)
    pub fn held_bytes(&self) -> usize {
        match self.frame_in_progress() {
            Some((_, Command::Syslog)) if !self.data.is_empty() => self.data.capacity(),
            _ => 0,
        }
    }

    /// The transaction number and command of a frame whose header is read
    /// and whose data is still arriving.
    pub fn frame_in_progress(&self) -> Option<(u32, Command)> {
        match self.state {
            State::Data | State::Trailer => self.command.map(|c| (self.txnr, c)),
            _ => None,
        }
    }

    /// Take what has arrived of a `syslog` message's data, leaving the parser
    /// to read the rest as the frame's data; `None` for other commands or
    /// when nothing is held.
    pub fn take_partial(&mut self) -> Option<Vec<u8>> {
        if self.frame_in_progress().map(|(_, c)| c) != Some(Command::Syslog) || self.data.is_empty()
        {
            return None;
        }
        let data = std::mem::take(&mut self.data);
        self.taken += data.len();
        Some(data)
    }

    /// Parse `input`, calling `on_frame` for every complete frame in order.
    /// `on_frame` may stop the parse by returning an error (a session rule
    /// broken); after any error the parser refuses everything.
    pub fn push<E>(
        &mut self,
        input: &[u8],
        mut on_frame: impl FnMut(Frame<'_>) -> Result<(), E>,
    ) -> Result<(), E>
    where
        E: From<RelpError>,
    {
        let mut rest = input;
        while !rest.is_empty() {
            match self.state {
                State::Failed => return Err(RelpError::Syntax("input after an error").into()),
                State::Data => {
                    let want = self.datalen - self.taken - self.data.len();
                    let take = want.min(rest.len());
                    self.data.extend_from_slice(&rest[..take]);
                    rest = &rest[take..];
                    if self.taken + self.data.len() == self.datalen {
                        self.state = State::Trailer;
                    }
                }
                State::Trailer => {
                    let byte = rest[0];
                    rest = &rest[1..];
                    if byte == b'\n' {
                        self.finish_frame(&mut on_frame)?;
                    } else {
                        return Err(self
                            .fail(RelpError::Syntax("data not followed by LF"))
                            .into());
                    }
                }
                _ => {
                    let byte = rest[0];
                    rest = &rest[1..];
                    if let Some(frame_done) = self.header_byte(byte).map_err(|e| self.fail(e))? {
                        if frame_done {
                            self.finish_frame(&mut on_frame)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The session is over: hold nothing more, read nothing more.
    pub fn discard(&mut self) {
        let _ = self.fail(RelpError::AfterClose);
    }

    fn fail(&mut self, error: RelpError) -> RelpError {
        self.state = State::Failed;
        self.field = Vec::new();
        self.data = Vec::new();
        self.taken = 0;
        error
    }

    fn finish_frame<E>(
        &mut self,
        on_frame: &mut impl FnMut(Frame<'_>) -> Result<(), E>,
    ) -> Result<(), E>
    where
        E: From<RelpError>,
    {
        let Some(command) = self.command.take() else {
            return Err(self
                .fail(RelpError::Syntax("frame without a command"))
                .into());
        };
        let frame = Frame {
            txnr: self.txnr,
            command,
            data: &self.data,
        };
        let result = on_frame(frame);
        self.taken = 0;
        if self.data.capacity() > KEEP_BUFFER {
            self.data = Vec::new();
        } else {
            self.data.clear();
        }
        self.state = State::Txnr;
        if result.is_err() {
            self.state = State::Failed;
            self.data = Vec::new();
        }
        result
    }

    /// One byte of the header. `Ok(Some(true))` when it completed a frame
    /// without data, `Ok(Some(false))`/`Ok(None)` when more is needed.
    fn header_byte(&mut self, byte: u8) -> Result<Option<bool>, RelpError> {
        match self.state {
            State::Txnr => match byte {
                b'0'..=b'9' if self.field.len() < MAX_TXNR_DIGITS => self.field.push(byte),
                b'0'..=b'9' => return Err(RelpError::Syntax("transaction number too long")),
                b' ' if !self.field.is_empty() => {
                    let txnr = number(&self.field);
                    if txnr > MAX_PEER_TXNR {
                        return Err(RelpError::Syntax("transaction number too large"));
                    }
                    self.txnr = txnr as u32;
                    self.field.clear();
                    self.state = State::Command;
                }
                _ => return Err(RelpError::Syntax("transaction number expected")),
            },
            State::Command => match byte {
                b'a'..=b'z' | b'A'..=b'Z' if self.field.len() < MAX_COMMAND_BYTES => {
                    self.field.push(byte)
                }
                b'a'..=b'z' | b'A'..=b'Z' => return Err(RelpError::Syntax("command too long")),
                b' ' if !self.field.is_empty() => {
                    let Some(command) = Command::parse(&self.field) else {
                        return Err(RelpError::UnknownCommand(
                            String::from_utf8_lossy(&self.field).into_owned(),
                        ));
                    };
                    self.command = Some(command);
                    self.field.clear();
                    self.state = State::DataLen;
                }
                _ => return Err(RelpError::Syntax("command expected")),
            },
            State::DataLen => match byte {
                b'0'..=b'9' if self.field.len() < MAX_DATALEN_DIGITS => {
                    self.field.push(byte);
                    let len = number(&self.field) as usize;
                    // Only a message may be long: other commands' data is
                    // a few offers, and could not be split.
                    let max = match self.command {
                        Some(Command::Syslog) => self.max_data,
                        _ => self.max_data.min(DATA_ALLOWANCE),
                    };
                    if len > max {
                        return Err(RelpError::TooLong { len, max });
                    }
                }
                b'0'..=b'9' => return Err(RelpError::Syntax("data length too long")),
                b' ' | b'\n' if !self.field.is_empty() => {
                    self.datalen = number(&self.field) as usize;
                    self.field.clear();
                    self.state = State::AfterDataLen;
                    return self.after_datalen(byte);
                }
                _ => return Err(RelpError::Syntax("data length expected")),
            },
            State::AfterDataLen | State::Data | State::Trailer | State::Failed => {
                return Err(RelpError::Syntax("unexpected parser state"))
            }
        }
        Ok(None)
    }

    fn after_datalen(&mut self, byte: u8) -> Result<Option<bool>, RelpError> {
        match (byte, self.datalen) {
            (b'\n', 0) => Ok(Some(true)),
            (b' ', 0) => {
                // librelp writes "0 serverclose 0\n", but tolerates a space
                // before the trailer; the trailer must follow.
                self.state = State::Trailer;
                Ok(None)
            }
            (b' ', _) => {
                // Not reserved from the header: a peer announcing a long
                // message holds memory only as its bytes arrive.
                self.state = State::Data;
                Ok(None)
            }
            _ => Err(RelpError::Syntax("data length not followed by its data")),
        }
    }
}

/// Append the frame `TXNR SP COMMAND SP DATALEN [SP DATA] LF` to `out`.
pub fn encode(out: &mut Vec<u8>, txnr: u32, command: &str, data: &[u8]) {
    out.extend_from_slice(format!("{txnr} {command} {}", data.len()).as_bytes());
    if !data.is_empty() {
        out.push(b' ');
        out.extend_from_slice(data);
    }
    out.push(b'\n');
}

/// `TXNR rsp 6 200 OK LF`: the answer to a `syslog` message once it is safe.
pub fn encode_ok(out: &mut Vec<u8>, txnr: u32) {
    encode(out, txnr, "rsp", b"200 OK");
}

/// What a server sends before it closes a session on an error (librelp
/// sends it with transaction number 0, which peers do not check).
pub const SERVERCLOSE: &[u8] = b"0 serverclose 0\n";

/// The software offer this server makes.
const SOFTWARE: &str = concat!("pysyslog,", env!("CARGO_PKG_VERSION"));

/// What the session asks its connection to do for a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action<'a> {
    /// Send these bytes now (the answer to `open`).
    Reply(Vec<u8>),
    /// Log this message; its `rsp 200` goes out once it is written.
    Message { txnr: u32, data: &'a [u8] },
    /// Send these bytes once every earlier message is answered, then close.
    Close(Vec<u8>),
}

/// A server session's rules: `open` first and once, transaction numbers one
/// after another, nothing after `close`.
#[derive(Debug, Clone)]
pub struct Session {
    expected: u32,
    opened: bool,
    closed: bool,
}

impl Default for Session {
    fn default() -> Self {
        Session::new()
    }
}

impl Session {
    pub fn new() -> Session {
        // A librelp server session starts counting at 1.
        Session {
            expected: 1,
            opened: false,
            closed: false,
        }
    }

    /// Whether a frame with this header may come now (checked once its
    /// header is read, before its data: a frame that will be refused is
    /// refused before it is held).
    pub fn check(&self, txnr: u32, command: Command) -> Result<(), RelpError> {
        if self.closed {
            return Err(RelpError::AfterClose);
        }
        if txnr != self.expected {
            return Err(RelpError::OutOfOrder {
                expected: self.expected,
                got: txnr,
            });
        }
        match command {
            Command::Open if self.opened => Err(RelpError::OpenedTwice),
            Command::Syslog if !self.opened => Err(RelpError::NotOpen("syslog")),
            Command::Close if !self.opened => Err(RelpError::NotOpen("close")),
            _ => Ok(()),
        }
    }

    /// Apply one frame.
    pub fn frame<'a>(&mut self, frame: Frame<'a>) -> Result<Action<'a>, RelpError> {
        self.check(frame.txnr, frame.command)?;
        self.expected = next_txnr(self.expected);
        match frame.command {
            Command::Open => {
                if !offers_syslog(frame.data) {
                    return Err(RelpError::NoSyslogOffer);
                }
                self.opened = true;
                let offers =
                    format!("200 OK\nrelp_version=0\nrelp_software={SOFTWARE}\ncommands=syslog");
                let mut out = Vec::new();
                encode(&mut out, frame.txnr, "rsp", offers.as_bytes());
                Ok(Action::Reply(out))
            }
            Command::Syslog => Ok(Action::Message {
                txnr: frame.txnr,
                data: frame.data,
            }),
            Command::Close => {
                self.closed = true;
                let mut out = Vec::new();
                encode_ok(&mut out, frame.txnr);
                Ok(Action::Close(out))
            }
        }
    }
}

/// Messages a session may leave unanswered: far above any sender's window
/// (librelp's default is 128), so only a sender ignoring its window meets it.
pub const MAX_UNANSWERED: usize = 65_536;

/// Answers encoded ahead of the socket: the rest of those due wait as a
/// range of transaction numbers, which costs nothing however many there are.
const OUT_CHUNK: usize = 4096;

/// The longest `rsp 200` answer: a ten-digit transaction number.
const MAX_ANSWER_BYTES: usize = 24;

/// A buffer larger than this is given back once it is empty (a long
/// message's data, a burst of answers): a quiet session keeps little.
const KEEP_BUFFER: usize = 8192;

/// A message, or a piece of one, to log: `first` and `last` say whether it
/// begins and ends the message (a message split by [`Server::spill`] comes
/// in several pieces).
#[derive(Debug, Clone, Copy)]
pub struct Piece<'a> {
    pub data: &'a [u8],
    pub first: bool,
    pub last: bool,
}

/// Messages logged in one batch: consecutive transaction numbers, answered
/// together once the batch is acknowledged.
#[derive(Debug, Clone, Copy)]
struct Run {
    /// The sequence number of the batch they went into.
    seq: u64,
    first: u32,
    last: u32,
    count: usize,
}

/// One connection's RELP server: frames in, messages out to be logged,
/// replies out in transaction order once the batches holding their messages
/// are acknowledged. Pure: the connection moves the bytes.
///
/// What it holds does not grow with what the peer leaves unread: messages
/// waiting for their batch are kept as one run per batch, answers due as a
/// range of transaction numbers, and only [`OUT_CHUNK`] bytes of them are
/// encoded ahead of the socket. The connection stops reading a session
/// whose answers the socket does not take ([`Server::backlogged`]), so a
/// peer that sends without reading is slowed as TCP slows any sender.
#[derive(Debug)]
pub struct Server {
    parser: Parser,
    session: Session,
    /// Messages logged and not yet acknowledged, in transaction order.
    unanswered: std::collections::VecDeque<Run>,
    /// How many messages `unanswered` holds.
    unanswered_count: usize,
    /// Answers due (their batches are acknowledged) and not yet encoded:
    /// `due_count` transaction numbers from `due_first`.
    due_first: u32,
    due_count: usize,
    /// The answer to `close`, held until every message before it is answered.
    close_reply: Option<Vec<u8>>,
    /// Bytes to send; `out[sent..]` is what is left.
    out: Vec<u8>,
    sent: usize,
    /// Set once `close` is answered or the session failed: nothing more is read.
    done: bool,
    /// Why the session failed, until the connection takes it to report.
    error: Option<RelpError>,
    /// The batch of the last piece logged of the message still arriving
    /// ([`Server::spill`]); its answer waits for that batch too.
    piece_seq: Option<u64>,
}

impl Server {
    /// A session refusing frames with more than `max_data` bytes of data.
    pub fn new(max_data: usize) -> Server {
        Server {
            parser: Parser::new(max_data),
            session: Session::new(),
            unanswered: std::collections::VecDeque::new(),
            unanswered_count: 0,
            due_first: 0,
            due_count: 0,
            close_reply: None,
            out: Vec::new(),
            sent: 0,
            done: false,
            error: None,
            piece_seq: None,
        }
    }

    /// Feed bytes from the peer. `log` logs one message (or the rest of one,
    /// after [`Server::spill`]) and returns the sequence number of the batch
    /// it went into, `None` if it logged nothing. On an error the session is
    /// over: a `serverclose` is queued to send and nothing more is read.
    pub fn push(
        &mut self,
        data: &[u8],
        mut log: impl FnMut(Piece<'_>) -> Option<u64>,
    ) -> Result<(), RelpError> {
        if self.done {
            return Ok(());
        }
        let Server {
            parser,
            session,
            unanswered,
            unanswered_count,
            close_reply,
            out,
            piece_seq,
            ..
        } = self;
        let mut result = parser.push(data, |frame| {
            match session.frame(frame)? {
                Action::Reply(reply) => out.extend_from_slice(&reply),
                Action::Message { txnr, data } => {
                    if *unanswered_count >= MAX_UNANSWERED {
                        return Err(RelpError::WindowIgnored(MAX_UNANSWERED));
                    }
                    let earlier = piece_seq.take();
                    let piece = Piece {
                        data,
                        first: earlier.is_none(),
                        last: true,
                    };
                    let seq = log(piece).max(earlier).unwrap_or(0);
                    note_unanswered(unanswered, seq, txnr);
                    *unanswered_count += 1;
                }
                Action::Close(reply) => *close_reply = Some(reply),
            }
            Ok(())
        });
        if let (Ok(()), Some((txnr, command))) = (&result, parser.frame_in_progress()) {
            // Refused from its header, before its data is held.
            result = session.check(txnr, command);
        }
        if let Err(e) = result {
            self.fail();
            self.error = Some(e.clone());
            return Err(e);
        }
        self.fill();
        Ok(())
    }

    /// Log now what has arrived of a message still arriving (its header is
    /// valid: [`Server::push`] checked it), and give its buffer back; the
    /// rest is logged when it is complete, and the message answered once
    /// every piece is written. Returns the bytes it held (0: nothing to
    /// split).
    pub fn spill(&mut self, mut log: impl FnMut(Piece<'_>) -> Option<u64>) -> usize {
        if self.done {
            return 0;
        }
        let Some(data) = self.parser.take_partial() else {
            return 0;
        };
        let piece = Piece {
            data: &data,
            first: self.piece_seq.is_none(),
            last: false,
        };
        if let Some(seq) = log(piece) {
            self.piece_seq = Some(self.piece_seq.map_or(seq, |s| s.max(seq)));
        }
        data.capacity()
    }

    /// Memory held for a message still arriving that [`Server::spill`] can
    /// give back.
    pub fn held_bytes(&self) -> usize {
        self.parser.held_bytes()
    }

    /// Queue a `serverclose` (the session failed, or the collector stops):
    /// unanswered messages stay unanswered, for the sender to send again.
    pub fn fail(&mut self) {
        if !self.done {
            self.done = true;
            self.unanswered = std::collections::VecDeque::new();
            self.unanswered_count = 0;
            self.due_count = 0;
            self.close_reply = None;
            self.piece_seq = None;
            self.parser.discard();
            self.out.extend_from_slice(SERVERCLOSE);
        }
    }

    /// Batches up to `acknowledged` are written: their messages' answers
    /// are due.
    pub fn answer(&mut self, acknowledged: u64) {
        while let Some(run) = self.unanswered.front().copied() {
            if run.seq > acknowledged {
                break;
            }
            if self.due_count == 0 {
                self.due_first = run.first;
            }
            self.due_count += run.count;
            self.unanswered_count -= run.count;
            self.unanswered.pop_front();
        }
        if self.unanswered.is_empty() && self.unanswered.capacity() > 64 {
            self.unanswered = std::collections::VecDeque::new();
        }
        self.fill();
    }

    /// Encode due answers until [`OUT_CHUNK`] bytes wait to be sent; once
    /// every message is answered, the answer to `close`.
    fn fill(&mut self) {
        if self.due_count > 0 && self.out.capacity() < OUT_CHUNK {
            // One allocation of the chunk, not a doubling past it.
            self.out.reserve_exact(OUT_CHUNK - self.out.len());
        }
        while self.due_count > 0 && self.out.len() + MAX_ANSWER_BYTES <= OUT_CHUNK {
            encode_ok(&mut self.out, self.due_first);
            self.due_first = next_txnr(self.due_first);
            self.due_count -= 1;
        }
        if self.unanswered.is_empty() && self.due_count == 0 {
            if let Some(reply) = self.close_reply.take() {
                self.out.extend_from_slice(&reply);
                self.done = true;
            }
        }
    }

    /// Why the session failed, once.
    pub fn take_error(&mut self) -> Option<RelpError> {
        self.error.take()
    }

    /// Messages waiting for their batch to be acknowledged.
    pub fn unanswered(&self) -> usize {
        self.unanswered_count
    }

    /// Bytes waiting to be sent.
    pub fn output(&self) -> &[u8] {
        &self.out[self.sent..]
    }

    /// Answers wait that the socket did not take: the connection reads no
    /// more of this session until it does (the peer reads its answers).
    pub fn backlogged(&self) -> bool {
        !self.output().is_empty()
    }

    /// `n` bytes of [`Server::output`] were sent.
    pub fn sent(&mut self, n: usize) {
        self.sent = (self.sent + n).min(self.out.len());
        if self.sent == self.out.len() {
            if self.out.capacity() > KEEP_BUFFER {
                self.out = Vec::new();
            } else {
                self.out.clear();
            }
            self.sent = 0;
            self.fill();
        }
    }

    /// The session is over (closed or failed) and everything is sent: the
    /// connection may close.
    pub fn finished(&self) -> bool {
        self.done && self.out.is_empty()
    }

    /// Nothing more is read: `close` was answered or the session failed.
    pub fn is_done(&self) -> bool {
        self.done
    }
}

/// A message logged in batch `seq`: it joins the run of its batch, if it is
/// the last one (a session's messages follow one another, and so do the
/// batches they go into).
fn note_unanswered(unanswered: &mut std::collections::VecDeque<Run>, seq: u64, txnr: u32) {
    if let Some(run) = unanswered.back_mut() {
        if run.seq == seq && next_txnr(run.last) == txnr {
            run.last = txnr;
            run.count += 1;
            return;
        }
    }
    unanswered.push_back(Run {
        seq,
        first: txnr,
        last: txnr,
        count: 1,
    });
}

/// Whether an `open`'s offers (`name=value[,value]` lines) list `syslog`
/// among the commands.
fn offers_syslog(data: &[u8]) -> bool {
    data.split(|&b| b == b'\n').any(|line| {
        line.strip_prefix(b"commands=").is_some_and(|values| {
            values
                .split(|&b| b == b',')
                .any(|v| v.trim_ascii() == b"syslog")
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFERS: &[u8] =
        b"relp_version=0\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com\ncommands=syslog";

    fn open() -> Vec<u8> {
        let mut out = Vec::new();
        encode(&mut out, 1, "open", OFFERS);
        out
    }

    #[derive(Debug, PartialEq)]
    enum Seen {
        Frame(u32, Command, Vec<u8>),
        Error(RelpError),
    }

    fn parse_chunks(max: usize, chunks: &[&[u8]]) -> Vec<Seen> {
        let mut parser = Parser::new(max);
        let mut seen = Vec::new();
        for chunk in chunks {
            let result = parser.push(chunk, |f| {
                seen.push(Seen::Frame(f.txnr, f.command, f.data.to_vec()));
                Ok::<(), RelpError>(())
            });
            if let Err(e) = result {
                seen.push(Seen::Error(e));
                break;
            }
        }
        seen
    }

    #[test]
    fn parses_librelps_open_and_messages() {
        let mut input = open();
        input.extend_from_slice(b"2 syslog 5 hello\n3 close 0\n");
        assert_eq!(
            parse_chunks(1000, &[&input]),
            vec![
                Seen::Frame(1, Command::Open, OFFERS.to_vec()),
                Seen::Frame(2, Command::Syslog, b"hello".to_vec()),
                Seen::Frame(3, Command::Close, Vec::new()),
            ]
        );
    }

    #[test]
    fn data_may_hold_lf_and_nul() {
        assert_eq!(
            parse_chunks(100, &[b"7 syslog 5 a\n\0b\n\n"]),
            vec![Seen::Frame(7, Command::Syslog, b"a\n\0b\n".to_vec())]
        );
    }

    #[test]
    fn refuses_bad_lengths_and_commands() {
        let cases: &[(&[u8], RelpError)] = &[
            (
                b"1 syslog 2 hi!\n",
                RelpError::Syntax("data not followed by LF"),
            ),
            (b"1 syslog x", RelpError::Syntax("data length expected")),
            (b"1 syslog 3hi", RelpError::Syntax("data length expected")),
            (
                b"1 syslog 3\n",
                RelpError::Syntax("data length not followed by its data"),
            ),
            (b"x", RelpError::Syntax("transaction number expected")),
            (b" 1", RelpError::Syntax("transaction number expected")),
            (
                b"12345678901 ",
                RelpError::Syntax("transaction number too long"),
            ),
            (
                b"1000000001 ",
                RelpError::Syntax("transaction number too large"),
            ),
            (b"1 1", RelpError::Syntax("command expected")),
            (b"1 bogus 0\n", RelpError::UnknownCommand("bogus".into())),
            (b"1 rsp 0\n", RelpError::UnknownCommand("rsp".into())),
            (
                b"1 syslog 1001 ",
                RelpError::TooLong {
                    len: 1001,
                    max: 1000,
                },
            ),
            (
                b"1 syslog 9999999999",
                RelpError::TooLong {
                    len: 9999,
                    max: 1000,
                },
            ),
        ];
        for (input, error) in cases {
            let seen = parse_chunks(1000, &[input]);
            assert_eq!(seen.last(), Some(&Seen::Error(error.clone())), "{input:?}");
        }
        let long_command = [b"1 ".as_slice(), &[b'a'; 33]].concat();
        assert_eq!(
            parse_chunks(1000, &[&long_command]),
            vec![Seen::Error(RelpError::Syntax("command too long"))]
        );
    }

    #[test]
    fn a_huge_length_is_refused_before_its_data() {
        let mut parser = Parser::new(64 * 1024);
        let result = parser.push(b"2 syslog 999999999 ", |_| Ok::<(), RelpError>(()));
        assert!(matches!(result, Err(RelpError::TooLong { .. })));
        assert_eq!(parser.held(), 0);
    }

    #[test]
    fn txnr_wraps_as_librelp_does() {
        assert_eq!(next_txnr(1), 2);
        assert_eq!(next_txnr(MAX_TXNR), MAX_TXNR + 1);
        assert_eq!(next_txnr(MAX_TXNR + 1), 1);
    }

    fn run_session(input: &[u8]) -> (Vec<Vec<u8>>, Vec<u32>, Option<RelpError>) {
        let mut parser = Parser::new(1000);
        let mut session = Session::new();
        let (mut replies, mut messages) = (Vec::new(), Vec::new());
        let result = parser.push(input, |f| {
            match session.frame(f)? {
                Action::Reply(r) | Action::Close(r) => replies.push(r),
                Action::Message { txnr, .. } => messages.push(txnr),
            }
            Ok::<(), RelpError>(())
        });
        (replies, messages, result.err())
    }

    #[test]
    fn open_offers_what_omrelp_needs() {
        let (replies, _, error) = run_session(&open());
        assert_eq!(error, None);
        let reply = String::from_utf8(replies[0].clone()).unwrap_or_default();
        let body = format!("200 OK\nrelp_version=0\nrelp_software={SOFTWARE}\ncommands=syslog");
        assert_eq!(reply, format!("1 rsp {} {body}\n", body.len()));
    }

    #[test]
    fn session_rules() {
        let (replies, messages, error) = run_session(
            &[
                open().as_slice(),
                b"2 syslog 1 a\n3 syslog 1 b\n4 close 0\n",
            ]
            .concat(),
        );
        assert_eq!(error, None);
        assert_eq!(messages, vec![2, 3]);
        assert_eq!(replies[1], b"4 rsp 6 200 OK\n");

        let out_of_order =
            run_session(&[open().as_slice(), b"2 syslog 1 a\n4 syslog 1 b\n"].concat());
        assert_eq!(
            out_of_order.2,
            Some(RelpError::OutOfOrder {
                expected: 3,
                got: 4
            })
        );
        assert_eq!(out_of_order.1, vec![2]);
        let not_open = run_session(b"1 syslog 1 a\n");
        assert_eq!(not_open.2, Some(RelpError::NotOpen("syslog")));
        let twice = run_session(&[open().as_slice(), b"2 open 15 commands=syslog\n"].concat());
        assert_eq!(twice.2, Some(RelpError::OpenedTwice));
        let no_syslog = run_session(b"1 open 14 commands=other\n");
        assert_eq!(no_syslog.2, Some(RelpError::NoSyslogOffer));
        let after = run_session(&[open().as_slice(), b"2 close 0\n3 syslog 1 a\n"].concat());
        assert_eq!(after.2, Some(RelpError::AfterClose));
    }

    #[test]
    fn encodes_frames() {
        let mut out = Vec::new();
        encode_ok(&mut out, 42);
        encode(&mut out, 0, "serverclose", b"");
        assert_eq!(out, b"42 rsp 6 200 OK\n0 serverclose 0\n");
        assert_eq!(SERVERCLOSE, b"0 serverclose 0\n");
    }

    #[test]
    fn server_answers_in_order_once_acknowledged() {
        let mut server = Server::new(1000);
        let mut seqs = [5u64, 5, 6].into_iter();
        let mut logged = Vec::new();
        let input = [
            open().as_slice(),
            b"2 syslog 1 a\n3 syslog 1 b\n4 syslog 1 c\n5 close 0\n",
        ]
        .concat();
        let result = server.push(&input, |m| {
            logged.push(m.data.to_vec());
            seqs.next()
        });
        assert_eq!(result, Ok(()));
        assert_eq!(logged, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        assert!(server.output().starts_with(b"1 rsp "));
        let n = server.output().len();
        server.sent(n);
        server.answer(4);
        assert_eq!(server.output(), b"");
        server.answer(5);
        assert_eq!(server.output(), b"2 rsp 6 200 OK\n3 rsp 6 200 OK\n");
        assert!(!server.is_done());
        server.answer(6);
        assert!(server
            .output()
            .ends_with(b"4 rsp 6 200 OK\n5 rsp 6 200 OK\n"));
        assert!(server.is_done() && !server.finished());
        let n = server.output().len();
        server.sent(n);
        assert!(server.finished());
    }

    #[test]
    fn server_sends_serverclose_on_error() {
        let mut server = Server::new(1000);
        let result = server.push(b"1 open 15 commands=syslog\n2 bogus 0\n", |_| Some(1));
        assert_eq!(result, Err(RelpError::UnknownCommand("bogus".into())));
        assert!(server.output().ends_with(SERVERCLOSE));
        assert!(server.is_done());
        assert_eq!(server.push(b"3 syslog 1 a\n", |_| Some(1)), Ok(()));
    }

    #[test]
    fn a_sender_ignoring_its_window_is_stopped() {
        let mut server = Server::new(1000);
        let mut input = open();
        for i in 0..MAX_UNANSWERED as u32 + 1 {
            encode(&mut input, i + 2, "syslog", b"m");
        }
        let result = server.push(&input, |_| Some(1));
        assert_eq!(result, Err(RelpError::WindowIgnored(MAX_UNANSWERED)));
    }

    #[test]
    fn answers_a_sender_does_not_read_wait_as_a_range_not_as_bytes() {
        let mut server = Server::new(1000);
        let mut input = open();
        assert_eq!(server.push(&input, |_| Some(0)), Ok(()));
        let n = server.output().len();
        server.sent(n);
        const N: u32 = 200_000;
        for txnr in 2..N + 2 {
            input.clear();
            encode(&mut input, txnr, "syslog", b"m");
            // A new batch every 1,000 messages, each acknowledged at once.
            let seq = u64::from(txnr / 1000);
            assert_eq!(server.push(&input, |_| Some(seq)), Ok(()));
            server.answer(seq.saturating_sub(1));
        }
        server.answer(u64::MAX);
        assert_eq!(server.unanswered(), 0);
        assert!(server.backlogged());
        assert!(server.out.len() <= OUT_CHUNK, "{}", server.out.len());
        // Read at last: every answer, in order, and nothing is kept after.
        let mut answers = Vec::new();
        while !server.output().is_empty() {
            answers.extend_from_slice(server.output());
            let n = server.output().len();
            server.sent(n);
        }
        let mut expected = Vec::new();
        for txnr in 2..N + 2 {
            encode_ok(&mut expected, txnr);
        }
        assert!(answers == expected, "answers differ");
        assert!(!server.backlogged() && server.out.capacity() <= KEEP_BUFFER);
    }

    #[test]
    fn a_long_message_is_not_reserved_from_its_header_nor_kept_after() {
        let mut server = Server::new(100_000);
        assert_eq!(server.push(&open(), |_| Some(0)), Ok(()));
        assert_eq!(server.push(b"2 syslog 90000 ", |_| Some(0)), Ok(()));
        assert!(server.parser.data.capacity() < 1000);
        let mut rest = vec![b'x'; 90_000];
        rest.push(b'\n');
        assert_eq!(server.push(&rest, |_| Some(0)), Ok(()));
        assert_eq!(server.parser.data.capacity(), 0);
    }

    #[test]
    fn a_message_still_arriving_is_logged_in_pieces_and_answered_after_the_last() {
        let mut server = Server::new(1000);
        let mut logged: Vec<(Vec<u8>, bool, bool)> = Vec::new();
        let mut push = |server: &mut Server, input: &[u8], seq: u64| {
            server.push(input, |p| {
                logged.push((p.data.to_vec(), p.first, p.last));
                Some(seq)
            })
        };
        assert_eq!(push(&mut server, &open(), 1), Ok(()));
        let n = server.output().len();
        server.sent(n);
        assert_eq!(push(&mut server, b"2 syslog 11 hello ", 1), Ok(()));
        assert!(server.held_bytes() > 0);
        let mut pieces = Vec::new();
        let held = server.spill(|p| {
            pieces.push((p.data.to_vec(), p.first, p.last));
            Some(2)
        });
        assert!(held > 0);
        assert_eq!(pieces, vec![(b"hello ".to_vec(), true, false)]);
        assert_eq!(server.held_bytes(), 0);
        assert_eq!(server.spill(|_| Some(9)), 0, "nothing more held");
        assert_eq!(push(&mut server, b"world\n3 syslog 1 x\n", 1), Ok(()));
        assert_eq!(
            logged,
            [
                (b"world".to_vec(), false, true),
                (b"x".to_vec(), true, true)
            ]
        );
        // Answered once the batch of its first piece (2) is written too.
        server.answer(1);
        assert_eq!(server.output(), b"");
        server.answer(2);
        assert_eq!(server.output(), b"2 rsp 6 200 OK\n3 rsp 6 200 OK\n");
    }

    #[test]
    fn a_frame_is_refused_from_its_header_and_control_data_is_short() {
        let mut server = Server::new(100_000);
        assert_eq!(server.push(&open(), |_| Some(1)), Ok(()));
        assert_eq!(
            server.push(b"5 syslog 50000 xx", |_| Some(1)),
            Err(RelpError::OutOfOrder {
                expected: 2,
                got: 5
            })
        );
        assert_eq!(server.held_bytes(), 0);
        let mut server = Server::new(100_000);
        assert_eq!(
            server.push(b"1 open 5000 ", |_| Some(1)),
            Err(RelpError::TooLong {
                len: 5000,
                max: DATA_ALLOWANCE
            })
        );
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn split_at_cuts<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
            let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
            points.sort_unstable();
            let mut chunks = Vec::new();
            let mut last = 0;
            for p in points {
                chunks.push(&input[last..p]);
                last = p;
            }
            chunks.push(&input[last..]);
            chunks
        }

        proptest! {
            #[test]
            fn any_chunking_gives_the_same_frames(
                messages in proptest::collection::vec(
                    proptest::collection::vec(any::<u8>(), 0..80), 0..8),
                cuts in proptest::collection::vec(any::<usize>(), 0..10),
            ) {
                let mut input = open();
                for (i, m) in messages.iter().enumerate() {
                    encode(&mut input, i as u32 + 2, "syslog", m);
                }
                let whole = parse_chunks(1000, &[&input]);
                prop_assert_eq!(whole.len(), messages.len() + 1);
                prop_assert_eq!(&parse_chunks(1000, &split_at_cuts(&input, &cuts)), &whole);
            }

            #[test]
            fn garbage_never_panics_and_stays_bounded(
                input in proptest::collection::vec(any::<u8>(), 0..400),
                prefix in 0usize..3,
                cuts in proptest::collection::vec(any::<usize>(), 0..6),
            ) {
                let heads: [&[u8]; 3] = [b"", b"1 syslog ", b"1 open 30 "];
                let input = [heads[prefix], &input].concat();
                let whole = parse_chunks(100, &[&input]);
                prop_assert_eq!(&parse_chunks(100, &split_at_cuts(&input, &cuts)), &whole);
                let mut parser = Parser::new(100);
                for chunk in split_at_cuts(&input, &cuts) {
                    let _ = parser.push(chunk, |_| Ok::<(), RelpError>(()));
                    prop_assert!(parser.held() <= 100 + MAX_COMMAND_BYTES);
                }
            }
        }
    }
}
