//! Unit tests of [`super::parse`]: the corpus of real inputs (shared
//! SYSLOG-SEMANTICS.md §A2), the RFC 5424 §6.5 examples, what common senders
//! emit, and properties over arbitrary and syslog-shaped input.

use super::*;
use crate::syslog::sd;
use proptest::prelude::*;

fn bsd<'a>(
    pri: u8,
    timestamp: Option<&'a str>,
    hostname: Option<&'a str>,
    appname: Option<&'a str>,
    procid: Option<&'a str>,
    message: &'a str,
) -> Header<'a> {
    Header {
        format: Format::Rfc3164,
        pri,
        timestamp,
        hostname,
        appname,
        procid,
        msgid: None,
        structured_data: None,
        message,
    }
}

/// TIMESTAMP, HOSTNAME, APP-NAME, PROCID, MSGID, STRUCTURED-DATA.
type Ietf<'a> = [Option<&'a str>; 6];

fn ietf<'a>(pri: u8, f: Ietf<'a>, message: &'a str) -> Header<'a> {
    Header {
        format: Format::Rfc5424,
        pri,
        timestamp: f[0],
        hostname: f[1],
        appname: f[2],
        procid: f[3],
        msgid: f[4],
        structured_data: f[5],
        message,
    }
}

fn within(line: &str, field: &str) -> bool {
    let (l, f) = (line.as_ptr() as usize, field.as_ptr() as usize);
    f >= l && f + field.len() <= l + line.len()
}

/// Every field borrows from the line and MSG is a suffix of it.
fn borrows_from(line: &str, h: &Header<'_>) -> bool {
    let fields = [
        h.timestamp,
        h.hostname,
        h.appname,
        h.procid,
        h.msgid,
        h.structured_data,
    ];
    let msg_end = h.message.as_ptr() as usize + h.message.len();
    fields.iter().flatten().all(|f| within(line, f))
        && within(line, h.message)
        && msg_end == line.as_ptr() as usize + line.len()
}

fn check(line: &str, expected: Header<'_>) {
    let got = parse(line);
    assert_eq!(got, Some(expected), "{line:?}");
    if let Some(h) = got {
        assert!(borrows_from(line, &h), "{line:?}");
    }
}

// ------------------------------------------------------- the §A2 corpus

#[test]
fn corpus_python_handler() {
    check(
        "<14>myapp: hello",
        bsd(14, None, None, Some("myapp"), None, "hello"),
    );
}

#[test]
fn corpus_tag_with_pid_and_no_host() {
    check(
        "<34>Oct 11 22:14:15 su[123]: x",
        bsd(
            34,
            Some("Oct 11 22:14:15"),
            None,
            Some("su"),
            Some("123"),
            "x",
        ),
    );
}

#[test]
fn corpus_word_with_colon_is_a_tag() {
    check(
        "<34>Oct 11 22:14:15 host: x",
        bsd(34, Some("Oct 11 22:14:15"), None, Some("host"), None, "x"),
    );
}

#[test]
fn corpus_ip_host_and_bare_tag() {
    check(
        "<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!",
        bsd(
            13,
            Some("Feb  5 17:32:18"),
            Some("10.0.0.99"),
            Some("Use"),
            None,
            "the BFG!",
        ),
    );
}

#[test]
fn corpus_year_before_time() {
    check(
        "<34>Oct 11 2023 22:14:15 host app: x",
        bsd(
            34,
            Some("Oct 11 2023 22:14:15"),
            Some("host"),
            Some("app"),
            None,
            "x",
        ),
    );
}

#[test]
fn corpus_fractional_seconds() {
    check(
        "<13>May  4 14:03:14.123 host app: x",
        bsd(
            13,
            Some("May  4 14:03:14.123"),
            Some("host"),
            Some("app"),
            None,
            "x",
        ),
    );
}

#[test]
fn corpus_cisco_sequence_number() {
    check(
        "<187>123: *Mar  1 00:01:02.345: %LINK-3-UPDOWN: Interface up",
        bsd(
            187,
            None,
            None,
            Some("123"),
            None,
            "*Mar  1 00:01:02.345: %LINK-3-UPDOWN: Interface up",
        ),
    );
}

#[test]
fn corpus_asa_without_header() {
    check(
        "<166>%ASA-6-302013: Built inbound TCP connection",
        bsd(
            166,
            None,
            None,
            Some("%ASA-6-302013"),
            None,
            "Built inbound TCP connection",
        ),
    );
}

#[test]
fn corpus_asa_with_year_and_stray_colon() {
    check(
        "<166>Jun 08 2022 14:46:28: %ASA-6-302013: Built",
        bsd(
            166,
            Some("Jun 08 2022 14:46:28"),
            None,
            Some("%ASA-6-302013"),
            None,
            "Built",
        ),
    );
}

#[test]
fn corpus_bracket_after_host_is_message() {
    check(
        "<13>Jun  8 09:32:33 host [error] x",
        bsd(
            13,
            Some("Jun  8 09:32:33"),
            Some("host"),
            None,
            None,
            "[error] x",
        ),
    );
}

#[test]
fn corpus_trailing_spaces_kept() {
    check(
        "<13>Oct 11 22:14:15 host app: x   ",
        bsd(
            13,
            Some("Oct 11 22:14:15"),
            Some("host"),
            Some("app"),
            None,
            "x   ",
        ),
    );
}

#[test]
fn corpus_pri_above_191() {
    assert_eq!(
        parse("<300>1 2003-10-11T22:14:15.003Z host app - - - m"),
        None
    );
}

#[test]
fn corpus_nil_timestamp() {
    check(
        "<7>1 - foo bar - - - m",
        ietf(7, [None, Some("foo"), Some("bar"), None, None, None], "m"),
    );
}

#[test]
fn corpus_bom_removed() {
    check(
        "<13>1 - h a - - - \u{feff}héllo",
        ietf(13, [None, Some("h"), Some("a"), None, None, None], "héllo"),
    );
}

// ------------------------------------------------------- RFC 5424 §6.5

#[test]
fn rfc5424_example_1_no_sd_with_bom() {
    check(
        "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \u{feff}'su root' failed for lonvick on /dev/pts/8",
        ietf(
            34,
            [
                Some("2003-10-11T22:14:15.003Z"),
                Some("mymachine.example.com"),
                Some("su"),
                None,
                Some("ID47"),
                None,
            ],
            "'su root' failed for lonvick on /dev/pts/8",
        ),
    );
}

#[test]
fn rfc5424_example_2_no_sd_no_bom() {
    check(
        "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.",
        ietf(
            165,
            [
                Some("2003-08-24T05:14:15.000003-07:00"),
                Some("192.0.2.1"),
                Some("myproc"),
                Some("8710"),
                None,
                None,
            ],
            "%% It's time to make the do-nuts.",
        ),
    );
}

#[test]
fn rfc5424_example_3_sd_and_bom() {
    let sd = r#"[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"]"#;
    let line = format!(
        "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 {sd} \u{feff}An application event log entry..."
    );
    check(
        &line,
        ietf(
            165,
            [
                Some("2003-10-11T22:14:15.003Z"),
                Some("mymachine.example.com"),
                Some("evntslog"),
                None,
                Some("ID47"),
                Some(sd),
            ],
            "An application event log entry...",
        ),
    );
}

#[test]
fn rfc5424_example_4_two_elements_no_msg() {
    let sd = r#"[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]"#;
    let line =
        format!("<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 {sd}");
    check(
        &line,
        ietf(
            165,
            [
                Some("2003-10-11T22:14:15.003Z"),
                Some("mymachine.example.com"),
                Some("evntslog"),
                None,
                Some("ID47"),
                Some(sd),
            ],
            "",
        ),
    );
    let els = sd::elements(sd).unwrap();
    assert_eq!(els.len(), 2);
    assert_eq!(els[1].params[0].0, "class");
}

// ------------------------------------------------------- common senders

#[test]
fn logger_rfc5424() {
    let sd = r#"[timeQuality tzKnown="1" isSynced="0"]"#;
    check(
        &format!("<13>1 2026-12-07T21:36:51.123456+00:00 myhost root 4242 - {sd} hello"),
        ietf(
            13,
            [
                Some("2026-12-07T21:36:51.123456+00:00"),
                Some("myhost"),
                Some("root"),
                Some("4242"),
                None,
                Some(sd),
            ],
            "hello",
        ),
    );
}

#[test]
fn logger_rfc3164_with_and_without_id() {
    check(
        "<13>Dec  7 21:36:51 myhost root: hello",
        bsd(
            13,
            Some("Dec  7 21:36:51"),
            Some("myhost"),
            Some("root"),
            None,
            "hello",
        ),
    );
    check(
        "<13>Dec  7 21:36:51 myhost root[4242]: hello",
        bsd(
            13,
            Some("Dec  7 21:36:51"),
            Some("myhost"),
            Some("root"),
            Some("4242"),
            "hello",
        ),
    );
}

#[test]
fn rsyslog_forward_formats() {
    check(
        "<30>Dec  7 21:36:51 host sshd[42]: Accepted publickey",
        bsd(
            30,
            Some("Dec  7 21:36:51"),
            Some("host"),
            Some("sshd"),
            Some("42"),
            "Accepted publickey",
        ),
    );
    // RSYSLOG_SyslogProtocol23Format: %msg% keeps the space after the TAG.
    check(
        "<30>1 2026-12-07T21:36:51.123456+00:00 host sshd 42 - -  Accepted publickey",
        ietf(
            30,
            [
                Some("2026-12-07T21:36:51.123456+00:00"),
                Some("host"),
                Some("sshd"),
                Some("42"),
                None,
                None,
            ],
            " Accepted publickey",
        ),
    );
}

#[test]
fn syslog_ng_syslog_driver() {
    check(
        r#"<13>1 2026-12-07T21:36:51+00:00 myhost myapp 1234 - [meta sequenceId="1"] hello"#,
        ietf(
            13,
            [
                Some("2026-12-07T21:36:51+00:00"),
                Some("myhost"),
                Some("myapp"),
                Some("1234"),
                None,
                Some(r#"[meta sequenceId="1"]"#),
            ],
            "hello",
        ),
    );
}

#[test]
fn python_handler_lone_word_is_the_message() {
    check("<14>hello", bsd(14, None, None, None, None, "hello"));
    check("<14>myapp:", bsd(14, None, None, Some("myapp"), None, ""));
    // rsyslog's ambiguity (#5098): without a timestamp the first word is a
    // TAG, never a host.
    check(
        "<13>hello world",
        bsd(13, None, None, Some("hello"), None, "world"),
    );
}

// ------------------------------------------------------- PRI

#[test]
fn pri_bounds_and_shapes() {
    check("<0>x", bsd(0, None, None, None, None, "x"));
    check("<191>x", bsd(191, None, None, None, None, "x"));
    check("<013>x", bsd(13, None, None, None, None, "x"));
    check("<13>", bsd(13, None, None, None, None, ""));
    let h = parse("<191>x").unwrap();
    assert_eq!((h.facility(), h.severity()), (23, 7));
    for bad in [
        "",
        "x",
        "no pri here",
        "<192>x",
        "<>x",
        "<1234>x",
        "<0013>x",
        "<13",
        "<1a>x",
        "<-1>x",
        "< 13>x",
        " <13>x",
        "<999>x",
        "<256>x",
    ] {
        assert_eq!(parse(bad), None, "{bad:?}");
    }
}

// ------------------------------------------------------- RFC 3164 details

#[test]
fn timestamps_3164() {
    let cases = [
        ("<13>oct 11 22:14:15 h a: x", "oct 11 22:14:15"),
        ("<13>Oct 1 22:14:15 h a: x", "Oct 1 22:14:15"),
        ("<13>Oct 01 22:14:15 h a: x", "Oct 01 22:14:15"),
        ("<13>Oct 11 22:14:15: h a: x", "Oct 11 22:14:15"),
        ("<13> Oct 11 22:14:15 h a: x", "Oct 11 22:14:15"),
        (
            "<13>2026-12-07T21:36:51.5Z h a: x",
            "2026-12-07T21:36:51.5Z",
        ),
    ];
    for (line, ts) in cases {
        check(line, bsd(13, Some(ts), Some("h"), Some("a"), None, "x"));
    }
    check(
        "<13>Oct 11 22:14:15",
        bsd(13, Some("Oct 11 22:14:15"), None, None, None, ""),
    );
}

#[test]
fn not_timestamps_3164() {
    for line in [
        "<13>Oct 32 22:14:15 h a: x",
        "<13>Oct 11 24:14:15 h a: x",
        "<13>Oct  11 22:14:15 h a: x",
        "<13>Foo 11 22:14:15 h a: x",
        "<13>Oct 11 22:14:15x h a: x",
        "<13>Oct 11 22:14 h a: x",
        "<13>  Oct 11 22:14:15 h a: x",
    ] {
        let h = parse(line).unwrap();
        assert_eq!((h.timestamp, h.hostname), (None, None), "{line:?}");
        assert!(borrows_from(line, &h));
    }
}

#[test]
fn hostnames_3164() {
    let ok = [
        "fe80::1",
        "::1",
        "::ffff:10.0.0.1",
        "a_b-c.example.com",
        "H0",
    ];
    for host in ok {
        let line = format!("<13>Oct 11 22:14:15 {host} a: x");
        check(
            &line,
            bsd(
                13,
                Some("Oct 11 22:14:15"),
                Some(host),
                Some("a"),
                None,
                "x",
            ),
        );
    }
    let long = "h".repeat(256);
    for word in ["a:b", "host-", "hôte", "h/x", "g::1", long.as_str()] {
        let line = format!("<13>Oct 11 22:14:15 {word} a: x");
        let h = parse(&line).unwrap();
        assert_eq!(h.hostname, None, "{word}");
    }
    let max = "h".repeat(255);
    let line = format!("<13>Oct 11 22:14:15 {max} a: x");
    assert_eq!(parse(&line).unwrap().hostname, Some(max.as_str()));
}

#[test]
fn tags_3164() {
    let ts = Some("Oct 11 22:14:15");
    let cases = [
        ("app[42] x", Some("app"), Some("42"), "x"),
        ("app[] x", Some("app"), None, "x"),
        ("app[42]x: y", Some("app"), None, "y"),
        ("[42]: y", None, None, "[42]: y"),
        ("{\"a\":1}", None, None, "{\"a\":1}"),
        (": y", None, None, "y"),
        ("app:y", Some("app"), None, "y"),
        ("app:  y", Some("app"), None, " y"),
        ("  app: y", Some("app"), None, "y"),
        ("приложение: привет", Some("приложение"), None, "привет"),
    ];
    for (rest, app, pid, msg) in cases {
        let line = format!("<13>Oct 11 22:14:15 h {rest}");
        check(&line, bsd(13, ts, Some("h"), app, pid, msg));
    }
    let long = format!("<13>{}: x", "t".repeat(179));
    check(&long, bsd(13, None, None, None, None, &long[4..]));
    let max = format!("<13>{}: x", "t".repeat(178));
    check(&max, bsd(13, None, None, Some(&max[4..182]), None, "x"));
}

#[test]
fn headerless_3164() {
    check(
        "<14>{\"a\":1}",
        bsd(14, None, None, None, None, "{\"a\":1}"),
    );
    check("<14>  [x] y", bsd(14, None, None, None, None, "[x] y"));
    check("<14>   ", bsd(14, None, None, None, None, ""));
}

#[test]
fn non_ascii_3164() {
    check(
        "<13>Oct 11 22:14:15 hôte app: é",
        bsd(
            13,
            Some("Oct 11 22:14:15"),
            None,
            Some("hôte"),
            None,
            "app: é",
        ),
    );
    check("<14>\u{feff}é", bsd(14, None, None, None, None, "é"));
}

// ------------------------------------------------------- RFC 5424 details

#[test]
fn rfc5424_leniencies() {
    check(
        "<13>1 2026-12-07T21:36:51.123456789Z hôte app - - - x",
        ietf(
            13,
            [
                Some("2026-12-07T21:36:51.123456789Z"),
                Some("hôte"),
                Some("app"),
                None,
                None,
                None,
            ],
            "x",
        ),
    );
    let nil = [None; 6];
    check("<13>2 - - - - - - m", ietf(13, nil, "m"));
    check("<13>1 - - - - - -", ietf(13, nil, ""));
    check("<13>1 - - - - - - ", ietf(13, nil, ""));
    check("<13>1 - - - - -", ietf(13, nil, ""));
}

#[test]
fn rfc5424_bad_sd_becomes_message() {
    let nil = [None; 6];
    for rest in [
        "no sd here",
        "[a]x",
        "[a x=1] m",
        "-x",
        "[a",
        "[a x=\"1\"]m",
    ] {
        let line = format!("<13>1 - - - - - {rest}");
        check(&line, ietf(13, nil, rest));
    }
}

#[test]
fn rfc5424_malformed_header_falls_back_to_3164() {
    let app49 = "a".repeat(49);
    let lines = [
        "<13>1 2026-13-07T21:36:51Z h a - - - m".to_string(),
        "<13>1 2026-12-07 21:36:51Z h a - - - m".to_string(),
        "<13>1 2026-12-07T21:36:51 h a - - - m".to_string(),
        "<13>1 2026-12-07t21:36:51z h a - - - m".to_string(),
        "<13>1 2026-12-07T21:36:51Z h a -".to_string(),
        "<13>1  - h a - - - m".to_string(),
        "<13>01 - h a - - - m".to_string(),
        "<13>1234 - h a - - - m".to_string(),
        "<13>1 - h\ta - - - m".to_string(),
        format!("<13>1 - h {app49} - - - m"),
    ];
    for line in &lines {
        let h = parse(line).unwrap();
        assert_eq!(h.format, Format::Rfc3164, "{line:?}");
        assert!(borrows_from(line, &h));
    }
    let app48 = "a".repeat(48);
    let line = format!("<13>1 - h {app48} - - - m");
    assert_eq!(parse(&line).unwrap().appname, Some(app48.as_str()));
}

#[test]
fn sd_escapes_through_parse() {
    let line = r#"<13>1 - h a - - [x@1 q="a\"b" r="c\\d" s="e\]f" t="g\nh" u="]"] m"#;
    let h = parse(line).unwrap();
    assert_eq!(h.message, "m");
    let sd = h.structured_data.unwrap();
    assert_eq!(sd, &line[16..line.len() - 2]);
    let els = sd::elements(sd).unwrap();
    let values: Vec<&str> = els[0].params.iter().map(|(_, v)| v.as_ref()).collect();
    assert_eq!(values, ["a\"b", "c\\d", "e]f", "g\\nh", "]"]);
}

#[test]
fn long_lines_stay_linear_and_whole() {
    let open_value = format!("[a x=\"{}", "\\\"".repeat(100_000));
    let line = format!("<13>1 - h a - - {open_value}");
    check(
        &line,
        ietf(
            13,
            [None, Some("h"), Some("a"), None, None, None],
            &open_value,
        ),
    );
    let word = "w".repeat(1_000_000);
    let line = format!("<13>Oct 11 22:14:15 {word}");
    check(
        &line,
        bsd(13, Some("Oct 11 22:14:15"), None, None, None, &word),
    );
}

#[test]
fn format_names() {
    assert_eq!(Format::Rfc5424.name(), "rfc5424");
    assert_eq!(Format::Rfc3164.name(), "rfc3164");
}

// ------------------------------------------------------- properties

const PIECES: &[&str] = &[
    "<13>",
    "<191>",
    "<0>",
    "<",
    ">",
    "1",
    "1 ",
    " ",
    "  ",
    "-",
    "- ",
    "Oct",
    "oct ",
    "11",
    " 1",
    "2022 ",
    "22:14:15",
    ":",
    ".123",
    "2026-12-07T21:36:51",
    ".5",
    "Z",
    "+00:00",
    "T",
    "host ",
    "fe80::1 ",
    "app",
    "[",
    "]",
    "[42]",
    "\"",
    "\\",
    "=",
    "a@1",
    " x=\"1\"",
    "\\\"",
    "\\]",
    "\u{feff}",
    "é",
    "日本",
    "{",
    "\t",
    "\0",
    "\r",
    "%ASA-6-1: ",
];

fn syslogish() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..24).prop_map(|p| p.concat())
}

fn assert_sound(line: &str) {
    if let Some(h) = parse(line) {
        assert!(h.pri <= 191);
        assert!(borrows_from(line, &h), "{line:?} -> {h:?}");
        if let Some(raw) = h.structured_data {
            assert!(sd::elements(raw).is_some(), "{raw:?}");
        }
        if h.format == Format::Rfc3164 {
            assert_eq!((h.msgid, h.structured_data), (None, None));
        }
    }
    let _ = sd::elements(line);
}

proptest! {
    #[test]
    fn any_string(line in any::<String>()) {
        assert_sound(&line);
        assert_sound(&format!("<13>{line}"));
        assert_sound(&format!("<13>1 - h a - - {line}"));
    }

    #[test]
    fn any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let line = String::from_utf8_lossy(&bytes);
        assert_sound(&line);
        assert_sound(&format!("<165>{line}"));
    }

    #[test]
    fn syslog_shaped(line in syslogish()) {
        assert_sound(&line);
        assert_sound(&format!("<13>{line}"));
        assert_sound(&format!("<13>1 - h a - - [{line}"));
    }
}
