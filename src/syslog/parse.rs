//! One syslog line into its header fields: RFC 5424, else RFC 3164 as real
//! senders write it (rsyslog's pmrfc3164 is the model where it is sane).
//!
//! Owns: telling the formats apart and every field boundary. Does not own:
//! stripping the frame's trailing LF or NUL (the framer did), a default PRI
//! or hostname (the caller decides what a line without them becomes),
//! splitting structured data ([`super::sd::elements`]) or reading timestamps
//! as times. Every field is a subslice of the line and nothing is allocated:
//! this runs on every line received.
//!
//! Decisions, and the peer followed:
//! - PRI is `<`, 1-3 digits, `>`, at most 191; leading zeros are accepted
//!   (`<013>`, rsyslog). Anything else, and PRI > 191, is no syslog header:
//!   [`parse`] returns None and there is deliberately no default PRI.
//! - RFC 5424 is tried first and needs VERSION (1-3 digits, the first not
//!   `0`) and SP after PRI, then SP-separated TIMESTAMP HOSTNAME APP-NAME
//!   PROCID MSGID of the RFC's lengths (255, 48, 128, 32 bytes).
//! - A 5424 field may hold any character but SP and ASCII controls: bytes
//!   above 126 (UTF-8) are accepted (rsyslog takes any octet but SP; the RFC
//!   says printable ASCII), so a non-ASCII hostname does not cost the header.
//! - The 5424 TIMESTAMP is `-` or RFC 3339 with upper-case `T` and `Z`
//!   (RFC 5424 §6.2.3), calendar ranges checked; the fraction may have any
//!   number of digits (rsyslog), not only the RFC's 6, since senders with
//!   nanoseconds exist and the text is kept as sent anyway.
//! - A 5424 header that is malformed anywhere makes the line RFC 3164
//!   (rsyslog: pmrfc5424 declines and pmrfc3164 takes the line).
//! - STRUCTURED-DATA that is malformed, or missing (the line goes straight
//!   from MSGID to text, syslog-loose#2), is taken as absent and everything
//!   after MSGID's SP is MSG: no text is lost and the header is kept.
//!   A line that ends right after MSGID is a header with no SD and MSG "".
//! - A MSG starting with a BOM loses it (RFC 5424 §6.4), in both formats.
//! - RFC 3164 timestamps, tried at the start or after one SP (HP ProCurve):
//!   RFC 3339, or `Mmm dd hh:mm:ss` (month any case, day space-padded or 1-2
//!   digits), with an optional year before the time (Cisco/ASA) and optional
//!   fractional seconds (Cisco IOS), as rsyslog; a stray `:` after either
//!   kind (Cisco) is skipped. It must be followed by SP or the line's end.
//! - A 3164 hostname is looked for only after a timestamp. rsyslog looks for
//!   one regardless, which makes `<13>hello world` a message from host
//!   "hello"; Python's `SysLogHandler` sends neither, so we do not.
//! - A 3164 hostname is the next word if it has only ASCII alphanumerics,
//!   `.`, `_`, `-`, ends alphanumeric, is at most 255 bytes and is followed
//!   by SP (rsyslog). An IPv6 address is accepted too: at least two `:`
//!   and only hex digits, `:` and `.`, so `tag:` and `a:b` stay tags.
//! - Spaces before the TAG are skipped. If the TAG would start with `[` or
//!   `{`, the line has no TAG and that is where MSG starts (rsyslog's
//!   headerless rule, applied after the timestamp and hostname too, so
//!   `host [error] x` keeps `[error] x` as MSG where rsyslog makes `[error]`
//!   the TAG).
//! - The TAG runs to the first `:` or SP (rsyslog) and is at most 178 bytes
//!   (APP-NAME, PROCID and the brackets); a longer word is no TAG and is MSG.
//! - A word that runs to the line's end without `:` or SP is MSG, not a TAG
//!   (rsyslog would make it the TAG with an empty MSG): `<14>hello` from
//!   `SysLogHandler` is the message "hello", while `<14>myapp: hello` is the
//!   message "hello" from app "myapp".
//! - APP-NAME is the TAG up to its first `[`, None if empty; PROCID is what
//!   is between that `[` and a `]` ending the TAG (rsyslog's programname and
//!   procid). After a `:` one SP is skipped; after a SP-ended TAG, MSG
//!   starts right after that SP. Nothing at MSG's end is ever removed.
//! - `<187>123: *Mar  1 ...` (a Cisco sequence number) gives app "123", as
//!   rsyslog's TAG `123:`.

use super::sd;

/// The RFC 5424 field limits (§6).
const HOSTNAME_MAX: usize = 255;
const APPNAME_MAX: usize = 48;
const PROCID_MAX: usize = 128;
const MSGID_MAX: usize = 32;
/// An RFC 3164 TAG long enough for `APP-NAME[PROCID]`, its colon excluded.
const TAG_MAX: usize = APPNAME_MAX + PROCID_MAX + 2;

// Byte classes, so that the loops that run over most of a header's bytes do
// one table look-up per byte instead of a chain of range tests.
/// May be in a 5424 header field: not SP, not an ASCII control.
const FIELD: u8 = 1;
/// May be in a 3164 hostname: ASCII alphanumerics, `.`, `_`, `-`, `:`.
const HOST: u8 = 2;
const ALNUM: u8 = 4;
/// In a hostname but not in an IPv6 address.
const NOT_IPV6: u8 = 8;
const COLON: u8 = 16;

static CLASS: [u8; 256] = classes();

const fn classes() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        let mut k = 0;
        if c > 0x20 && c != 0x7f {
            k |= FIELD;
        }
        if c.is_ascii_alphanumeric() {
            k |= HOST | ALNUM;
            if !c.is_ascii_hexdigit() {
                k |= NOT_IPV6;
            }
        }
        match c {
            b'.' => k |= HOST,
            b'_' | b'-' => k |= HOST | NOT_IPV6,
            b':' => k |= HOST | COLON,
            _ => {}
        }
        t[i] = k;
        i += 1;
    }
    t
}

fn class(c: u8) -> u8 {
    CLASS[usize::from(c)]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Rfc5424,
    Rfc3164,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Rfc5424 => "rfc5424",
            Format::Rfc3164 => "rfc3164",
        }
    }
}

/// A line's header fields, each a subslice of the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    pub format: Format,
    /// 0..=191: facility = pri >> 3, severity = pri & 7.
    pub pri: u8,
    /// As sent (None: absent or NILVALUE "-").
    pub timestamp: Option<&'a str>,
    /// As sent (None: absent or "-").
    pub hostname: Option<&'a str>,
    /// RFC 5424 APP-NAME; RFC 3164: the TAG without "[pid]" and without the ':'.
    pub appname: Option<&'a str>,
    /// RFC 5424 PROCID; RFC 3164: the pid inside "[...]" of the TAG.
    pub procid: Option<&'a str>,
    /// RFC 5424 only.
    pub msgid: Option<&'a str>,
    /// The STRUCTURED-DATA text exactly as sent, e.g. `[a@1 x="1"][b@2]` (None: "-" or absent).
    pub structured_data: Option<&'a str>,
    /// The MSG part, a suffix of the line: a leading UTF-8 BOM removed; for
    /// RFC 3164 the one space after the tag's colon removed.
    pub message: &'a str,
}

impl Header<'_> {
    pub fn facility(&self) -> u8 {
        self.pri >> 3
    }

    pub fn severity(&self) -> u8 {
        self.pri & 7
    }
}

/// None: the line is neither RFC 5424 nor RFC 3164 (no valid <PRI> at its start, or PRI > 191, malformed PRI).
pub fn parse(line: &str) -> Option<Header<'_>> {
    let (pri, body) = pri(line.as_bytes())?;
    rfc5424(line, pri, body).or_else(|| rfc3164(line, pri, body))
}

/// The PRI value and the index just after its `>`.
fn pri(b: &[u8]) -> Option<(u8, usize)> {
    if b.first() != Some(&b'<') {
        return None;
    }
    let mut value: u16 = 0;
    let mut i = 1;
    while let Some(d) = b.get(i).filter(|c| c.is_ascii_digit()) {
        if i > 3 {
            return None;
        }
        value = value * 10 + u16::from(d - b'0');
        i += 1;
    }
    if i == 1 || b.get(i) != Some(&b'>') {
        return None;
    }
    let value = u8::try_from(value).ok().filter(|&v| v <= 191)?;
    Some((value, i + 1))
}

/// The line from `at` on; the empty suffix if `at` is past it.
fn tail(line: &str, at: usize) -> &str {
    line.get(at..).unwrap_or(&line[line.len()..])
}

fn strip_bom(message: &str) -> &str {
    message.strip_prefix('\u{feff}').unwrap_or(message)
}

fn non_nil(field: &str) -> Option<&str> {
    (field != "-").then_some(field)
}

fn non_empty(field: &str) -> Option<&str> {
    (!field.is_empty()).then_some(field)
}

// ---------------------------------------------------------------- RFC 5424

fn rfc5424(line: &str, pri: u8, body: usize) -> Option<Header<'_>> {
    let b = line.as_bytes();
    let version = token(b, body, 3)?;
    let digits = b.get(body..version)?;
    if !matches!(digits.first(), Some(b'1'..=b'9')) || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let ts_start = space(b, version)?;
    let ts_end = if b.get(ts_start) == Some(&b'-') {
        ts_start + 1
    } else {
        ts_start + rfc3339_len(b, ts_start)?
    };
    let host_start = space(b, ts_end)?;
    let host_end = token(b, host_start, HOSTNAME_MAX)?;
    let app_start = space(b, host_end)?;
    let app_end = token(b, app_start, APPNAME_MAX)?;
    let proc_start = space(b, app_end)?;
    let proc_end = token(b, proc_start, PROCID_MAX)?;
    let msgid_start = space(b, proc_end)?;
    let msgid_end = token(b, msgid_start, MSGID_MAX)?;
    let (structured_data, message) = sd_and_message(line, msgid_end);
    Some(Header {
        format: Format::Rfc5424,
        pri,
        timestamp: non_nil(line.get(ts_start..ts_end)?),
        hostname: non_nil(line.get(host_start..host_end)?),
        appname: non_nil(line.get(app_start..app_end)?),
        procid: non_nil(line.get(proc_start..proc_end)?),
        msgid: non_nil(line.get(msgid_start..msgid_end)?),
        structured_data,
        message: strip_bom(message),
    })
}

/// The end of a header field of 1..=`max` bytes from `at`, none of them SP
/// or an ASCII control; it must be followed by SP or the line's end.
fn token(b: &[u8], at: usize, max: usize) -> Option<usize> {
    let field = b.get(at..)?;
    let len = field
        .iter()
        .take(max + 1)
        .position(|&c| class(c) & FIELD == 0)
        .unwrap_or(field.len().min(max + 1));
    let ends_well = matches!(field.get(len), None | Some(b' '));
    (len > 0 && len <= max && ends_well).then_some(at + len)
}

/// The index after the SP at `at`.
fn space(b: &[u8], at: usize) -> Option<usize> {
    (b.get(at) == Some(&b' ')).then_some(at + 1)
}

/// STRUCTURED-DATA and MSG after MSGID, which ends at `at`.
fn sd_and_message(line: &str, at: usize) -> (Option<&str>, &str) {
    let b = line.as_bytes();
    let start = at + 1;
    if b.get(at).is_none() {
        return (None, tail(line, at));
    }
    let sd_end = match b.get(start) {
        Some(b'-') => Some(start + 1),
        Some(b'[') => sd::end_of(b, start),
        _ => None,
    };
    match sd_end {
        Some(end) if matches!(b.get(end), None | Some(b' ')) => {
            let sd = line.get(start..end).and_then(non_nil);
            let after = if end < b.len() { end + 1 } else { end };
            (sd, tail(line, after))
        }
        _ => (None, tail(line, start)),
    }
}

// ---------------------------------------------------------------- RFC 3164

fn rfc3164(line: &str, pri: u8, body: usize) -> Option<Header<'_>> {
    let b = line.as_bytes();
    let (timestamp, mut pos) = match bsd_header_time(b, body) {
        Some((start, end, next)) => (Some(line.get(start..end)?), next),
        None => (None, body),
    };
    let mut hostname = None;
    if timestamp.is_some() {
        if let Some(end) = hostname_end(b, pos) {
            hostname = Some(line.get(pos..end)?);
            pos = end + 1;
        }
    }
    let (tag, message) = tag_and_message(line, pos);
    let (appname, procid) = split_tag(tag);
    Some(Header {
        format: Format::Rfc3164,
        pri,
        timestamp,
        hostname,
        appname,
        procid,
        msgid: None,
        structured_data: None,
        message: strip_bom(message),
    })
}

/// A 3164 header's timestamp at `at` or after one SP there: its start, its
/// end, and where the next field starts.
fn bsd_header_time(b: &[u8], at: usize) -> Option<(usize, usize, usize)> {
    let try_at = |start: usize| {
        let end = rfc3339_len(b, start)
            .map(|n| start + n)
            .or_else(|| bsd_time_end(b, start))?;
        let next = if b.get(end) == Some(&b':') {
            end + 1
        } else {
            end
        };
        match b.get(next) {
            None => Some((start, end, next)),
            Some(b' ') => Some((start, end, next + 1)),
            _ => None,
        }
    };
    try_at(at).or_else(|| space(b, at).and_then(try_at))
}

/// The end of `Mmm dd [yyyy ]hh:mm:ss[.fff]` at `at`.
fn bsd_time_end(b: &[u8], at: usize) -> Option<usize> {
    let month = b.get(at..at + 3)?;
    if !is_month(month) {
        return None;
    }
    let mut s = Scan { b, i: at + 3 };
    s.byte(b' ')?;
    if s.peek() == Some(b' ') {
        s.i += 1;
        s.number(1, 1, 1, 9)?;
    } else {
        s.number(1, 2, 1, 31)?;
    }
    s.byte(b' ')?;
    let mut year = Scan { b, i: s.i };
    if year.four().is_some() && year.byte(b' ').is_some() {
        s.i = year.i;
    }
    s.clock()?;
    Some(s.i)
}

/// An English month abbreviation in any case. Setting bit 5 lowercases an
/// ASCII letter and turns no other byte into one.
fn is_month(m: &[u8]) -> bool {
    let [a, b, c] = *m else {
        return false;
    };
    matches!(
        [a | 0x20, b | 0x20, c | 0x20],
        [b'j', b'a', b'n']
            | [b'f', b'e', b'b']
            | [b'm', b'a', b'r']
            | [b'a', b'p', b'r']
            | [b'm', b'a', b'y']
            | [b'j', b'u', b'n']
            | [b'j', b'u', b'l']
            | [b'a', b'u', b'g']
            | [b's', b'e', b'p']
            | [b'o', b'c', b't']
            | [b'n', b'o', b'v']
            | [b'd', b'e', b'c']
    )
}

/// The length of an RFC 3339 timestamp at `at`.
fn rfc3339_len(b: &[u8], at: usize) -> Option<usize> {
    let mut s = Scan { b, i: at };
    s.four()?;
    s.byte(b'-')?;
    s.two(1, 12)?;
    s.byte(b'-')?;
    s.two(1, 31)?;
    s.byte(b'T')?;
    s.clock()?;
    match s.peek()? {
        b'Z' => s.i += 1,
        b'+' | b'-' => {
            s.i += 1;
            s.two(0, 23)?;
            s.byte(b':')?;
            s.two(0, 59)?;
        }
        _ => return None,
    }
    Some(s.i - at)
}

/// A cursor over digits and separators of a timestamp.
struct Scan<'b> {
    b: &'b [u8],
    i: usize,
}

impl Scan<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn byte(&mut self, c: u8) -> Option<()> {
        (self.peek() == Some(c)).then(|| self.i += 1)
    }

    /// Exactly two digits whose value is in `lo..=hi`.
    fn two(&mut self, lo: u32, hi: u32) -> Option<()> {
        let value = match *self.b.get(self.i..self.i + 2)? {
            [t, u] if t.is_ascii_digit() && u.is_ascii_digit() => {
                u32::from(t - b'0') * 10 + u32::from(u - b'0')
            }
            _ => return None,
        };
        self.i += 2;
        (lo..=hi).contains(&value).then_some(())
    }

    /// Exactly four digits.
    fn four(&mut self) -> Option<()> {
        let d = self.b.get(self.i..self.i + 4)?;
        d.iter().all(u8::is_ascii_digit).then(|| self.i += 4)
    }

    /// `min..=max_digits` digits whose value is in `lo..=hi`.
    fn number(&mut self, min: usize, max_digits: usize, lo: u32, hi: u32) -> Option<u32> {
        let start = self.i;
        let mut value = 0;
        while let Some(d) = self.peek().filter(u8::is_ascii_digit) {
            if self.i - start == max_digits {
                break;
            }
            value = value * 10 + u32::from(d - b'0');
            self.i += 1;
        }
        (self.i - start >= min && (lo..=hi).contains(&value)).then_some(value)
    }

    /// `hh:mm:ss` with optional fractional seconds (any number of digits).
    fn clock(&mut self) -> Option<()> {
        self.two(0, 23)?;
        self.byte(b':')?;
        self.two(0, 59)?;
        self.byte(b':')?;
        self.two(0, 60)?;
        if self.peek() == Some(b'.') && self.b.get(self.i + 1).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.i += 1;
            }
        }
        Some(())
    }
}

/// The end of a 3164 hostname at `at` (the index of the SP after it).
fn hostname_end(b: &[u8], at: usize) -> Option<usize> {
    let word = b.get(at..)?;
    let mut seen = 0;
    let mut len = 0;
    for &c in word.iter().take(HOSTNAME_MAX + 1) {
        let k = class(c);
        if k & HOST == 0 {
            break;
        }
        seen |= k;
        len += 1;
    }
    let ends_well = len > 0
        && len <= HOSTNAME_MAX
        && word.get(len) == Some(&b' ')
        && word.get(len - 1).is_some_and(|&c| class(c) & ALNUM != 0);
    let ipv6_ok = seen & COLON == 0
        || (seen & NOT_IPV6 == 0 && word.iter().take(len).filter(|&&c| c == b':').count() >= 2);
    (ends_well && ipv6_ok).then_some(at + len)
}

/// The TAG (colon excluded) and the MSG from `at`.
fn tag_and_message(line: &str, at: usize) -> (Option<&str>, &str) {
    let b = line.as_bytes();
    let mut start = at;
    while b.get(start) == Some(&b' ') {
        start += 1;
    }
    if matches!(b.get(start), Some(b'[' | b'{')) {
        return (None, tail(line, start));
    }
    let word = b.get(start..).unwrap_or_default();
    let Some(len) = word
        .iter()
        .take(TAG_MAX + 1)
        .position(|&c| c == b':' || c == b' ')
    else {
        return (None, tail(line, start));
    };
    let end = start + len;
    let message_start = match (b.get(end), b.get(end + 1)) {
        (Some(b':'), Some(b' ')) => end + 2,
        _ => end + 1,
    };
    (line.get(start..end), tail(line, message_start))
}

/// APP-NAME and PROCID from a 3164 TAG such as `sshd[42]`.
fn split_tag(tag: Option<&str>) -> (Option<&str>, Option<&str>) {
    let Some(tag) = tag else {
        return (None, None);
    };
    let Some(open) = tag.find('[') else {
        return (non_empty(tag), None);
    };
    let app = tag.get(..open).and_then(non_empty);
    let procid = tag
        .get(open + 1..)
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(non_empty);
    (app, procid)
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
