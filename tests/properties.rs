//! Property tests (proptest): the framer gives the same frames under any
//! chunking and never holds more than its bound; the batch and status codecs
//! round-trip and never panic on garbage; the config parser never panics.

use std::path::Path;

use proptest::prelude::*;
use pysyslog::ipc::{BatchBuilder, BatchReader, Item, StatusDecoder};
use pysyslog::logging::Config;
use pysyslog::metrics::http;
use pysyslog::receiver::escape::ControlChars;
use pysyslog::receiver::framing::{Frame, Framer};

/// (frame bytes, truncated?) for `input` fed in the given chunk sizes.
fn frames(max: usize, input: &[u8], cuts: &[usize]) -> Vec<(Vec<u8>, bool)> {
    frames_with(max, input, cuts, ControlChars::Keep)
}

fn frames_with(
    max: usize,
    input: &[u8],
    cuts: &[usize],
    control: ControlChars,
) -> Vec<(Vec<u8>, bool)> {
    let mut f = Framer::with_control(max, control);
    let mut out = Vec::new();
    let mut sink = |fr: Frame<'_>| match fr {
        Frame::Line(l) => out.push((l.to_vec(), false)),
        Frame::Truncated(l) => out.push((l.to_vec(), true)),
    };
    let mut rest = input;
    for &cut in cuts {
        let (a, b) = rest.split_at(cut.min(rest.len()));
        f.push(a, &mut sink);
        assert!(
            f.buffered() <= max + 11,
            "framer holds {} bytes",
            f.buffered()
        );
        rest = b;
    }
    f.push(rest, &mut sink);
    f.finish(&mut sink);
    out
}

/// A decoded batch item, owned: `Some((level, logger, text))`, or `None` for a reopen.
type Owned = Option<(i32, Vec<u8>, Vec<u8>)>;

/// Inputs rich in what matters to the framer: digits, spaces, `<`, LF, NUL, CR.
fn framing_input() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        Just(b'\n'),
        Just(b'\0'),
        Just(b'\r'),
        Just(b' '),
        Just(b'<'),
        (b'0'..=b'9'),
        (b'a'..=b'c'),
        any::<u8>(),
    ];
    proptest::collection::vec(byte, 0..300)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn framing_is_the_same_under_any_chunking(
        input in framing_input(),
        cuts in proptest::collection::vec(0usize..40, 0..20),
        max in 1usize..64,
    ) {
        let whole = frames(max, &input, &[]);
        prop_assert_eq!(frames(max, &input, &cuts), whole.clone());
        for (frame, truncated) in &whole {
            prop_assert!(frame.len() <= max || !truncated);
            prop_assert!(frame.len() <= max.max(input.len()));
        }
    }

    /// Splitting lines still arriving (`Framer::spill`, past the partial
    /// budget) at any point loses no byte and adds none: the pieces hold
    /// what the whole frames hold, in order.
    #[test]
    fn splitting_lines_still_arriving_loses_no_byte(
        input in proptest::collection::vec(prop_oneof![Just(b'\n'), (b'a'..=b'e')], 0..300),
        cuts in proptest::collection::vec(0usize..40, 0..20),
    ) {
        let joined = |frames: Vec<(Vec<u8>, bool)>| -> Vec<u8> {
            frames.into_iter().flat_map(|(f, _)| f).collect()
        };
        let whole = joined(frames(1024, &input, &[]));
        let mut f = Framer::new(1024);
        let mut out = Vec::new();
        let mut sink = |fr: Frame<'_>| match fr {
            Frame::Line(l) | Frame::Truncated(l) => out.push((l.to_vec(), false)),
        };
        let mut rest = &input[..];
        for &cut in &cuts {
            let (a, b) = rest.split_at(cut.min(rest.len()));
            f.push(a, &mut sink);
            f.spill(&mut sink);
            prop_assert_eq!(f.held_bytes(), 0);
            rest = b;
        }
        f.push(rest, &mut sink);
        f.finish(&mut sink);
        prop_assert_eq!(joined(out), whole);
    }

    /// With the default escaping, no frame holds LF or NUL, under any chunking,
    /// and escaping never takes a frame past the bound.
    #[test]
    fn every_message_stays_one_line(
        input in framing_input(),
        cuts in proptest::collection::vec(0usize..40, 0..20),
        max in 1usize..64,
    ) {
        let whole = frames_with(max, &input, &[], ControlChars::default());
        prop_assert_eq!(frames_with(max, &input, &cuts, ControlChars::default()), whole.clone());
        for (frame, _) in &whole {
            prop_assert!(!frame.contains(&b'\n') && !frame.contains(&0), "{:?}", frame);
            prop_assert!(frame.len() <= max.max(input.len()));
        }
    }

    #[test]
    fn batches_round_trip(items in proptest::collection::vec(
        prop_oneof![
            (0u8..3, proptest::collection::vec(any::<u8>(), 0..50)).prop_map(|(p, l)| (0u8, p, l)),
            (0u8..3, proptest::collection::vec(any::<u8>(), 0..50)).prop_map(|(p, l)| (1u8, p, l)),
            Just((2u8, 0u8, Vec::new())),
        ], 0..60), seq in any::<u64>())
    {
        let peers = ["10.0.0.1", "::1", "pysyslog.receiver"];
        let mut b = BatchBuilder::new();
        let mut want: Vec<Owned> = Vec::new();
        for (kind, p, bytes) in &items {
            let peer = peers[*p as usize];
            match kind {
                0 => {
                    b.push_line(peer, bytes);
                    want.push(Some((20, peer.into(), bytes.clone())));
                }
                1 => {
                    let text = String::from_utf8_lossy(bytes).into_owned();
                    b.push_record(30, peer, &text);
                    want.push(Some((30, peer.into(), text.into_bytes())));
                }
                _ => {
                    b.push_reopen();
                    want.push(None);
                }
            }
        }
        let buf = b.take(seq, Vec::new());
        let (got_seq, reader) = BatchReader::new(&buf).expect("header");
        prop_assert_eq!(got_seq, seq);
        let got: Vec<Owned> = reader
            .map(|i| match i.expect("valid item") {
                Item::Record {
                    level, name, text, ..
                } => Some((level, name.to_vec(), text.to_vec())),
                Item::Reopen => None,
                // Never pushed here: make the comparison fail if one appears.
                Item::Reload { .. } => Some((-1, Vec::new(), Vec::new())),
            })
            .collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn decoders_never_panic_on_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok((_, reader)) = BatchReader::new(&bytes) {
            prop_assert!(reader.count() <= bytes.len());
        }
        let mut d = StatusDecoder::default();
        d.push(&bytes);
        for _ in 0..bytes.len() + 1 {
            match d.next_message() {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
    }

    #[test]
    fn the_metrics_request_parser_never_panics(
        head in "(GET|HEAD|POST|get) (/metrics|/|\\PC{0,20})(\\?\\PC{0,10})? HTTP/1\\.[01]\r\n",
        rest in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        // A head, then anything: every prefix parses to some answer.
        let mut bytes = head.into_bytes();
        bytes.extend(rest);
        for end in 0..=bytes.len() {
            let _ = http::parse(&bytes[..end]);
        }
        let _ = http::error_response(http::parse(&bytes));
    }

    #[test]
    fn the_config_parser_never_panics(doc in config_like_json()) {
        let _ = Config::from_json_str(&doc.to_string(), Path::new("fuzz.json"));
    }

    #[test]
    fn the_config_parser_never_panics_on_raw_text(text in "\\PC{0,200}") {
        let _ = Config::from_json_str(&text, Path::new("fuzz.json"));
    }
}

/// JSON shaped like dictConfig documents: the schema's own keys and values.
fn config_like_json() -> impl Strategy<Value = serde_json::Value> {
    let word = prop_oneof![
        Just("version"),
        Just("formatters"),
        Just("filters"),
        Just("handlers"),
        Just("loggers"),
        Just("root"),
        Just("level"),
        Just("class"),
        Just("format"),
        Just("style"),
        Just("stream"),
        Just("filename"),
        Just("maxBytes"),
        Just("backupCount"),
        Just("when"),
        Just("target"),
        Just("capacity"),
        Just("address"),
        Just("facility"),
        Just("propagate"),
        Just("."),
        Just("()"),
        Just("incremental"),
        Just("disable_existing_loggers"),
        Just("name"),
        Just("delay"),
        Just("x"),
    ]
    .prop_map(str::to_owned);
    let leaf = prop_oneof![
        Just(serde_json::json!(1)),
        Just(serde_json::json!("INFO")),
        Just(serde_json::json!("info")),
        Just(serde_json::json!("logging.StreamHandler")),
        Just(serde_json::json!("logging.handlers.RotatingFileHandler")),
        Just(serde_json::json!("logging.handlers.SysLogHandler")),
        Just(serde_json::json!("logging.handlers.MemoryHandler")),
        Just(serde_json::json!("ext://sys.stdout")),
        Just(serde_json::json!("cfg://handlers.h")),
        Just(serde_json::json!("cfg://x[0]")),
        Just(serde_json::json!("%(message)s %(")),
        Just(serde_json::json!("{")),
        Just(serde_json::json!(null)),
        Just(serde_json::json!(-1)),
        Just(serde_json::json!(1e300)),
        Just(serde_json::json!(true)),
        Just(serde_json::json!(["h", 1])),
        Just(serde_json::json!("/nonexistent/dir/x.log")),
    ];
    leaf.prop_recursive(4, 40, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            proptest::collection::btree_map(word.clone(), inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A line that looks like syslog, often enough to reach every branch.
fn syslogish() -> impl Strategy<Value = String> {
    let pri = prop_oneof![
        Just(String::new()),
        (0u32..300).prop_map(|p| format!("<{p}>"))
    ];
    let head = prop_oneof![
        Just(String::new()),
        Just("1 2003-10-11T22:14:15.003Z host app 42 ID7 ".to_owned()),
        Just("1 - - - - - ".to_owned()),
        Just("Oct 11 22:14:15 host ".to_owned()),
        Just("Jun 08 2022 14:46:28: ".to_owned()),
    ];
    let sd = prop_oneof![
        Just(String::new()),
        Just("- ".to_owned()),
        Just("[a@1 x=\"y\\\"]\"] ".to_owned()),
        Just("[unclosed ".to_owned()),
    ];
    (pri, head, sd, "[ -~\u{feff}\u{e9}]{0,40}").prop_map(|(p, h, s, m)| p + &h + &s + &m)
}

proptest! {
    /// Parsing adds attributes and never changes `%(message)s` (the whole
    /// line, as pysyslog logged it); `syslog_message` is always a part of it.
    #[test]
    fn parsing_never_changes_the_message(line in prop_oneof![syslogish(), any::<String>()]) {
        use pysyslog::logging::{Formatter, LogRecord, Origin, Style, SyslogAttrs};
        let attrs = SyslogAttrs::of(
            Origin { peer: "10.0.0.1", transport: "tcp", listener: "tcp://h:1", tls_client_name: None },
            &line,
        );
        let record = LogRecord {
            name: "10.0.0.1",
            msg: &line,
            levelno: 20,
            created: 0.0,
            relative_created: 0.0,
            attrs: Some(&attrs),
        };
        let format = |fmt: &str| {
            let mut f = Formatter::new(Some(fmt), None, Style::Percent, true, &serde_json::Map::new())
                .expect("format");
            let mut out = String::new();
            f.format(&record, &mut out).expect("formats");
            out
        };
        prop_assert_eq!(format("%(message)s"), line.clone());
        prop_assert!(line.contains(&format("%(syslog_message)s")));
        // Every other attribute formats, whatever the line.
        format("%(hostname)s %(appname)s %(procid)s %(msgid)s %(pri)s %(structured_data)r");
    }
}
