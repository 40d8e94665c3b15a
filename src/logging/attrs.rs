//! The syslog attributes of a record (`--parse-syslog`): where a line came
//! from and what its syslog header says, as extra `LogRecord` attributes, as
//! `logger.info(line, extra={...})` would set them in Python.
//!
//! Owns: the attribute names and their order, and each one's Python value.
//! Does not own: parsing the header ([`crate::syslog`]), nor where the
//! origin comes from (the receiver, through the batch).
//!
//! Every attribute is always present on a parsed record; an absent field is
//! the string `-` (RFC 5424's NILVALUE). Two exceptions keep a line's text
//! and sender reachable from any format: `hostname` falls back to the peer
//! (as rsyslog's does), and `syslog_message` of a line that is not syslog
//! is the whole line, so that no format prints `-` instead of a message.
//! None shadows an attribute Python's `LogRecord` defines.

use std::cell::OnceCell;

use serde_json::{Map, Value as Json};

use super::pyfmt::pyvalue::Value;
use crate::syslog::{names, sd, Header};

/// NILVALUE: what an absent field is.
pub const NIL: &str = "-";

/// One syslog attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Attr {
    Peer,
    Transport,
    Listener,
    TlsClientName,
    SyslogFormat,
    Facility,
    Severity,
    FacilityCode,
    SeverityCode,
    Pri,
    SyslogTimestamp,
    Hostname,
    Appname,
    Procid,
    Msgid,
    StructuredData,
    SyslogMessage,
}

/// Every attribute by name, in the order a formatter that enumerates a
/// record's attributes sees them.
pub const ATTRS: [(&str, Attr); 17] = [
    ("peer", Attr::Peer),
    ("transport", Attr::Transport),
    ("listener", Attr::Listener),
    ("tls_client_name", Attr::TlsClientName),
    ("syslog_format", Attr::SyslogFormat),
    ("facility", Attr::Facility),
    ("severity", Attr::Severity),
    ("facility_code", Attr::FacilityCode),
    ("severity_code", Attr::SeverityCode),
    ("pri", Attr::Pri),
    ("syslog_timestamp", Attr::SyslogTimestamp),
    ("hostname", Attr::Hostname),
    ("appname", Attr::Appname),
    ("procid", Attr::Procid),
    ("msgid", Attr::Msgid),
    ("structured_data", Attr::StructuredData),
    ("syslog_message", Attr::SyslogMessage),
];

impl Attr {
    pub fn from_name(name: &str) -> Option<Attr> {
        ATTRS.iter().find(|(n, _)| *n == name).map(|&(_, a)| a)
    }

    pub fn name(self) -> &'static str {
        ATTRS
            .iter()
            .find(|(_, a)| *a == self)
            .map_or("", |&(n, _)| n)
    }
}

/// Where a line came from: known to the receiver, carried in the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin<'a> {
    /// pysyslog's logger name: the client's address (behind a trusted
    /// balancer, the one in the PROXY header).
    pub peer: &'a str,
    /// `tcp`, `tls`, `udp` or `relp`.
    pub transport: &'a str,
    /// The listener's URL as the command line gave it.
    pub listener: &'a str,
    /// The name of the client's certificate, when it presented one.
    pub tls_client_name: Option<&'a str>,
}

/// A record's syslog attributes.
#[derive(Debug)]
pub struct SyslogAttrs<'a> {
    pub origin: Origin<'a>,
    /// `None`: the line is neither RFC 5424 nor RFC 3164.
    pub header: Option<Header<'a>>,
    /// The whole line: `syslog_message` when there is no header.
    line: &'a str,
    /// `structured_data` as a mapping, made when a format first indexes or
    /// reprs it (most formats print it as sent, or not at all).
    sd: OnceCell<Json>,
}

impl<'a> SyslogAttrs<'a> {
    /// The attributes of `line` from `origin`.
    pub fn of(origin: Origin<'a>, line: &'a str) -> SyslogAttrs<'a> {
        SyslogAttrs {
            origin,
            header: crate::syslog::parse(line),
            line,
            sd: OnceCell::new(),
        }
    }

    /// The attribute's text when it is a Python `str` (the usual `%(x)s`
    /// path, which needs no value built); `None` for the numbers and the
    /// structured data.
    pub fn text(&self, attr: Attr) -> Option<&str> {
        let h = self.header.as_ref();
        let or_nil = |v: Option<&'a str>| v.unwrap_or(NIL);
        Some(match attr {
            Attr::Peer => self.origin.peer,
            Attr::Transport => self.origin.transport,
            Attr::Listener => self.origin.listener,
            Attr::TlsClientName => or_nil(self.origin.tls_client_name),
            Attr::SyslogFormat => h.map_or(NIL, |h| h.format.name()),
            Attr::Facility => h.map_or(NIL, |h| name_of(&names::FACILITIES, h.facility())),
            Attr::Severity => h.map_or(NIL, |h| name_of(&names::SEVERITIES, h.severity())),
            Attr::SyslogTimestamp => or_nil(h.and_then(|h| h.timestamp)),
            Attr::Hostname => h.and_then(|h| h.hostname).unwrap_or(self.origin.peer),
            Attr::Appname => or_nil(h.and_then(|h| h.appname)),
            Attr::Procid => or_nil(h.and_then(|h| h.procid)),
            Attr::Msgid => or_nil(h.and_then(|h| h.msgid)),
            Attr::SyslogMessage => h.map_or(self.line, |h| h.message),
            Attr::FacilityCode | Attr::SeverityCode | Attr::Pri => match h {
                Some(_) => return None,
                None => NIL,
            },
            Attr::StructuredData => match h.and_then(|h| h.structured_data) {
                Some(_) => return None,
                None => NIL,
            },
        })
    }

    /// The attribute's `str()`, as text: what `%(x)s` prints.
    pub fn display(&self, attr: Attr) -> &str {
        if let Some(text) = self.text(attr) {
            return text;
        }
        match (attr, self.header.as_ref()) {
            (Attr::FacilityCode, Some(h)) => decimal(h.facility()),
            (Attr::SeverityCode, Some(h)) => decimal(h.severity()),
            (Attr::Pri, Some(h)) => decimal(h.pri),
            (Attr::StructuredData, Some(h)) => h.structured_data.unwrap_or(NIL),
            _ => NIL,
        }
    }

    /// The attribute as a Python value.
    pub(crate) fn value(&self, attr: Attr) -> Value<'_> {
        if let Some(text) = self.text(attr) {
            return Value::Str(text);
        }
        let Some(h) = self.header.as_ref() else {
            return Value::Str(NIL);
        };
        match attr {
            Attr::FacilityCode => Value::Int(i128::from(h.facility())),
            Attr::SeverityCode => Value::Int(i128::from(h.severity())),
            Attr::Pri => Value::Int(i128::from(h.pri)),
            _ => match h.structured_data {
                Some(text) => Value::Mapping {
                    text,
                    map: self.sd.get_or_init(|| sd_mapping(text)),
                },
                None => Value::Str(NIL),
            },
        }
    }
}

/// `str(n)` for a PRI, facility or severity code (0 to 191).
fn decimal(n: u8) -> &'static str {
    // Cut from runs of digits: no allocation per record.
    const DIGITS: &str = "0123456789";
    const TENS: &str = "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899";
    match n {
        0..=9 => DIGITS
            .get(usize::from(n)..usize::from(n) + 1)
            .unwrap_or(NIL),
        10..=99 => TENS
            .get(2 * usize::from(n)..2 * usize::from(n) + 2)
            .unwrap_or(NIL),
        _ => HUNDREDS
            .get(3 * usize::from(n - 100)..3 * usize::from(n - 100) + 3)
            .unwrap_or(NIL),
    }
}

/// "100" to "255", three bytes each.
const HUNDREDS: &str = concat!(
    "100101102103104105106107108109110111112113114115116117118119",
    "120121122123124125126127128129130131132133134135136137138139",
    "140141142143144145146147148149150151152153154155156157158159",
    "160161162163164165166167168169170171172173174175176177178179",
    "180181182183184185186187188189190191192193194195196197198199",
    "200201202203204205206207208209210211212213214215216217218219",
    "220221222223224225226227228229230231232233234235236237238239",
    "240241242243244245246247248249250251252253254255"
);

fn name_of(table: &[&'static str], code: u8) -> &'static str {
    table.get(usize::from(code)).copied().unwrap_or(NIL)
}

/// SD-ID to a mapping of parameter names to values (escapes undone). An
/// SD-ID sent twice merges; a parameter sent twice keeps its last value.
fn sd_mapping(raw: &str) -> Json {
    let mut out = Map::new();
    for element in sd::elements(raw).unwrap_or_default() {
        let entry = out
            .entry(element.id.to_owned())
            .or_insert_with(|| Json::Object(Map::new()));
        if let Json::Object(params) = entry {
            for (name, value) in element.params {
                params.insert(name.to_owned(), Json::String(value.into_owned()));
            }
        }
    }
    Json::Object(out)
}

/// An owned copy of an [`Origin`], for records a MemoryHandler keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedOrigin {
    pub peer: Box<str>,
    pub transport: Box<str>,
    pub listener: Box<str>,
    pub tls_client_name: Option<Box<str>>,
}

impl OwnedOrigin {
    pub fn of(o: &Origin<'_>) -> OwnedOrigin {
        OwnedOrigin {
            peer: o.peer.into(),
            transport: o.transport.into(),
            listener: o.listener.into(),
            tls_client_name: o.tls_client_name.map(Into::into),
        }
    }

    pub fn as_origin(&self) -> Origin<'_> {
        Origin {
            peer: &self.peer,
            transport: &self.transport,
            listener: &self.listener,
            tls_client_name: self.tls_client_name.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::pyfmt::pyvalue::write_repr;

    const ORIGIN: Origin<'static> = Origin {
        peer: "10.0.0.1",
        transport: "tcp",
        listener: "tcp://0.0.0.0:514",
        tls_client_name: None,
    };

    #[test]
    fn codes_print_as_python_prints_ints() {
        for n in 0..=255u8 {
            assert_eq!(decimal(n), n.to_string());
        }
    }

    #[test]
    fn names_round_trip_in_order() {
        for (name, attr) in ATTRS {
            assert_eq!(Attr::from_name(name), Some(attr));
            assert_eq!(attr.name(), name);
        }
        assert_eq!(Attr::from_name("message"), None);
    }

    #[test]
    fn an_rfc3164_line_gives_its_fields() {
        let a = SyslogAttrs::of(ORIGIN, "<38>Oct 11 22:14:15 h sshd[42]: Accepted");
        let text = |attr| a.text(attr).map(str::to_owned);
        assert_eq!(text(Attr::Facility).as_deref(), Some("auth"));
        assert_eq!(text(Attr::Severity).as_deref(), Some("info"));
        assert_eq!(text(Attr::Hostname).as_deref(), Some("h"));
        assert_eq!(text(Attr::Appname).as_deref(), Some("sshd"));
        assert_eq!(text(Attr::Procid).as_deref(), Some("42"));
        assert_eq!(text(Attr::Msgid).as_deref(), Some("-"));
        assert_eq!(text(Attr::SyslogMessage).as_deref(), Some("Accepted"));
        assert!(matches!(a.value(Attr::Pri), Value::Int(38)));
        assert!(matches!(a.value(Attr::FacilityCode), Value::Int(4)));
        assert!(matches!(a.value(Attr::SeverityCode), Value::Int(6)));
        assert!(matches!(a.value(Attr::StructuredData), Value::Str("-")));
    }

    #[test]
    fn a_line_that_is_not_syslog_keeps_its_text_and_sender() {
        let a = SyslogAttrs::of(ORIGIN, "just text");
        assert_eq!(a.text(Attr::SyslogFormat), Some("-"));
        assert_eq!(a.text(Attr::Hostname), Some("10.0.0.1"));
        assert_eq!(a.text(Attr::SyslogMessage), Some("just text"));
        assert!(matches!(a.value(Attr::Pri), Value::Str("-")));
    }

    #[test]
    fn structured_data_prints_as_sent_and_indexes_unescaped() {
        let line =
            r#"<165>1 2003-10-11T22:14:15.003Z h app 1 ID47 [ex@32473 iut="3" v="a\"b\]"] m"#;
        let a = SyslogAttrs::of(ORIGIN, line);
        let v = a.value(Attr::StructuredData);
        let mut s = String::new();
        crate::logging::pyfmt::pyvalue::write_str(&v, &mut s);
        assert_eq!(s, r#"[ex@32473 iut="3" v="a\"b\]"]"#);
        let mut r = String::new();
        write_repr(&v, &mut r, false);
        assert_eq!(r, r#"{'ex@32473': {'iut': '3', 'v': 'a"b]'}}"#);
    }
}
