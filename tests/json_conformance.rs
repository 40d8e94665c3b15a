//! Byte-for-byte conformance of pysyslog's JsonFormatter with
//! python-json-logger 4.2.0 on CPython 3.11 (python3 on PATH with the
//! package installed; `tests/run` installs it).
//!
//! Each case is a whole dictConfig document whose formatter `j` is a
//! `{"()": "pythonjsonlogger.json.JsonFormatter", ...}` factory, handed
//! as the same text to CPython's `logging.config.dictConfig` and to
//! `Config::from_json_str_in`; construction must fail on both sides or on
//! neither (some messages are compared exactly, and a few arguments are
//! deliberately refused here), and every record must format to the same
//! text. Records: the lines of the other conformance tests (the default
//! records of `tests/conformance.rs` and every fixture's `_test.records`),
//! messages with quotes, backslashes, control characters, DEL, invalid
//! UTF-8 decoded as the writer decodes it, non-ASCII in and beyond the BMP,
//! and a 100 kB line; and syslog lines as records with syslog attributes
//! (`--parse-syslog`), which Python gets as `makeRecord(..., extra=)` with
//! the values our `%(attr)r` prints (itself checked against CPython by
//! `tests/formatter_conformance.rs`). Both sides get the same `created`,
//! `msecs` and `relativeCreated` and run under one `TZ`.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use pysyslog::logging::{Config, Formatter, LogRecord, Origin, Style, SyslogAttrs};
use serde_json::{json, Map, Value};

const PYTHON: &str = r#"
import ast, json, sys, logging, logging.config, warnings
warnings.simplefilter("ignore")
logging.logThreads = False
logging.logProcesses = False
logging.logMultiprocessing = False
logging._srcfile = None
from importlib.metadata import version
data = json.load(sys.stdin)
for r in data["records"]:
    r["extra"] = None if r["attrs"] is None else {k: ast.literal_eval(v) for k, v in r["attrs"]}

def make(r):
    rec = logging.root.makeRecord(r["name"], r["levelno"], "(unknown file)", 0, r["msg"], (),
                                  None, "(unknown function)", r["extra"], None)
    ct = float(r["created"])
    rec.created = ct
    rec.msecs = int((ct - int(ct)) * 1000) + 0.0
    rec.relativeCreated = float(r["relativeCreated"])
    return rec

def chain(e):
    parts = []
    while e is not None:
        parts.append(str(e))
        e = e.__cause__
    return ": ".join(parts)

out = []
for doc in data["cases"]:
    try:
        logging.config.dictConfig(json.loads(doc))
    except Exception as e:
        out.append({"error": chain(e)})
        continue
    f = logging.root.handlers[0].formatter
    res = []
    for r in data["records"]:
        try:
            res.append({"ok": f.format(make(r))})
        except Exception as e:
            res.append({"error": "%s: %s" % (type(e).__name__, e)})
    out.append({"results": res})
json.dump({"version": sys.version, "pjl": version("python-json-logger"), "out": out}, sys.stdout)
"#;

const J: &str = "pythonjsonlogger.json.JsonFormatter";

/// What a case expects of construction.
#[derive(Clone, Copy, PartialEq)]
enum Expect {
    /// Both build (then every record is compared) or both refuse.
    Same,
    /// Both refuse with the same message.
    ExactError,
    /// A deliberate difference: we refuse what Python accepts.
    Refused,
}

fn cases() -> Vec<(Expect, String)> {
    use Expect::*;
    let same = [
        r#"{"()": "J"}"#,
        r#"{"()": "pythonjsonlogger.jsonlogger.JsonFormatter", "format": "%(levelname)s %(name)s %(message)s"}"#,
        r#"{"()": "J", "fmt": "%(asctime)s %(levelname)s %(message)s"}"#,
        r#"{"()": "J", "format": "%(asctime)s %(message)s", "datefmt": "%Y-%m-%dT%H:%M:%S%z"}"#,
        r#"{"()": "J", "format": "%(asctime)s", "datefmt": ""}"#,
        r#"{"()": "J", "format": "{levelname} {message} {asctime} {created}", "style": "{"}"#,
        r#"{"()": "J", "format": "{levelname:>8} {message!r} {{x}}", "style": "{"}"#,
        r#"{"()": "J", "format": "{asctime:>30}|{message}", "style": "{"}"#,
        r#"{"()": "J", "format": "$levelname ${message} $$ $asctime ${msecs}", "style": "$", "datefmt": "%H:%M"}"#,
        r#"{"()": "J", "format": "${asctime} $message", "style": "$", "datefmt": "%d/%b/%Y:%H:%M:%S %z"}"#,
        r#"{"()": "J", "format": "levelname, message ,name,,", "style": ","}"#,
        r#"{"()": "J", "format": ["name", "levelno", "message", "created", "relativeCreated", "msecs", "asctime"]}"#,
        r#"{"()": "J", "format": "%(levelname)s %(message)s %(asctime)s", "rename_fields": {"levelname": "level", "message": "msg", "asctime": "@t", "nope": "gone"}}"#,
        r#"{"()": "J", "format": "%(levelname)s %(message)s", "rename_fields": {"levelname": "level", "nope": "gone", "hostname": "host"}, "rename_fields_keep_missing": true}"#,
        r#"{"()": "J", "format": "%(name)s %(levelname)s", "rename_fields": {"name": "x", "levelname": "x"}}"#,
        r#"{"()": "J", "prefix": "@cee: ", "format": "%(message)s"}"#,
        r#"{"()": "J", "static_fields": {"app": "pysyslog", "n": 7, "f": 2.5, "big": 1e16, "small": 1e-7, "neg0": -0.0, "t": true, "z": null, "l": [1, "x", 2.0, null, {}, []], "d": {"k": "v", "nested": {"a": [1]}}, "u": "\u00e9\ud83d\ude00\u007f\"\\", "big_int": 123456789012345678901234567890, "inf": 1e400, "lvl": "cfg://levels.info", "message": "static wins"}}"#,
        r#"{"()": "J", "reserved_attrs": []}"#,
        r#"{"()": "J", "reserved_attrs": [], "format": "%(asctime)s", "rename_fields": {"msg": "_msg", "pri": "priority"}}"#,
        r#"{"()": "J", "reserved_attrs": ["msg", "args", "hostname", "structured_data", 5], "format": "%(message)s"}"#,
        r#"{"()": "J", "reserved_attrs": "msg", "format": "%(message)s"}"#,
        r#"{"()": "J", "timestamp": true}"#,
        r#"{"()": "J", "timestamp": "ts", "rename_fields": {"ts": "@timestamp"}}"#,
        r#"{"()": "J", "timestamp": "", "json_indent": -3}"#,
        r#"{"()": "J", "defaults": {"message": "d", "env": "prod", "levelname": "X", "hostname": "none"}, "format": "%(levelname)s %(message)s %(hostname)s"}"#,
        r#"{"()": "J", "json_ensure_ascii": false, "reserved_attrs": []}"#,
        r#"{"()": "J", "json_indent": 2, "reserved_attrs": [], "timestamp": true}"#,
        r#"{"()": "J", "json_indent": 0, "static_fields": {"e": {}, "l": [1]}}"#,
        r#"{"()": "J", "json_indent": "\t", "json_ensure_ascii": false, "static_fields": {"d": {"a": {"b": []}}}}"#,
        r#"{"()": "J", "json_indent": true, "format": "%(message)s %(structured_data)s"}"#,
        r#"{"()": "J", "format": "%(message", "validate": false}"#,
        r#"{"()": "J", "format": "%(message)s %(message)s %(name)s %(nope)s"}"#,
        r#"{"()": "J", "format": "%(hostname)s %(structured_data)s %(pri)s %(message)s"}"#,
        r#"{"()": "J", "format": ""}"#,
        r#"{"()": "J", "style": "x", "validate": false}"#,
        r#"{"()": "J", "exc_info_as_array": true, "stack_info_as_array": true, "json_default": null, "json_encoder": null}"#,
        r#"{"()": "J", "fmt": "%(message)s", "format": "%(levelname)s"}"#,
    ];
    let exact = [
        r#"{"()": "J", "format": "%(message)s", "foo": 1}"#,
        r#"{"()": "J", "class": "logging.Formatter"}"#,
        r#"{"()": "J", "bad-key": 1}"#,
        r#"{"()": "J", "style": "x"}"#,
        r#"{"()": "J", "style": "x", "validate": false, "format": "%(message)s"}"#,
        r#"{"()": "J", "format": "%(message)"}"#,
        r#"{"()": "J", "format": "{message!x}", "style": "{"}"#,
        r#"{"()": "J", "format": "$message $", "style": "$"}"#,
    ];
    let refused = [
        r#"{"()": "J", "json_default": "str"}"#,
        r#"{"()": "J", "json_serializer": "ext://json.dumps"}"#,
        r#"{"()": "J", ".": {"prefix": "x"}}"#,
    ];
    let doc = |spec: &str| {
        format!(
            r#"{{"version": 1, "levels": {{"info": "ext://logging.INFO"}},
                "formatters": {{"j": {}}},
                "handlers": {{"h": {{"class": "logging.NullHandler", "formatter": "j"}}}},
                "root": {{"level": "DEBUG", "handlers": ["h"]}}}}"#,
            spec.replace("\"J\"", &format!("\"{J}\""))
        )
    };
    let mut v = Vec::new();
    v.extend(same.iter().map(|s| (Same, doc(s))));
    v.extend(exact.iter().map(|s| (ExactError, doc(s))));
    v.extend(refused.iter().map(|s| (Refused, doc(s))));
    v
}

/// One record: logger name, message, level, and whether it carries the
/// syslog attributes of its line (from which origin).
struct Rec {
    name: String,
    msg: String,
    levelno: i32,
    origin: Option<Origin<'static>>,
}

const TCP: Origin<'static> = Origin {
    peer: "10.0.0.1",
    transport: "tcp",
    listener: "tcp://0.0.0.0:514",
    tls_client_name: None,
};
const TLS: Origin<'static> = Origin {
    peer: "2001:db8::7",
    transport: "tls",
    listener: "tls://[::]:6514",
    tls_client_name: Some("client.example.org"),
};

fn plain(name: &str, msg: &str, levelno: i32) -> Rec {
    Rec {
        name: name.into(),
        msg: msg.into(),
        levelno,
        origin: None,
    }
}

/// The lines of the other conformance tests: `tests/conformance.rs`'s
/// default records and every fixture's `_test.records`.
fn corpus() -> Vec<Rec> {
    let mut recs: Vec<Rec> = [
        ("127.0.0.1", "hello from localhost", 20),
        ("10.1.2.3", "from ten-one", 20),
        ("100.1.2.3", "not under ten", 20),
        ("192.168.1.1", "lan host", 20),
        ("192.1680.1.1", "not under 192.168", 20),
        ("::1", "ipv6 has no dots", 20),
        ("10.2.0.7", "50% done %s %(name)s", 20),
        ("10.1.9.9", "h\u{e9}llo \u{20ac} \u{1f600}", 20),
        ("127.0.0.1", "", 20),
        (
            "pysyslog.cli",
            "Listening for syslog over TCP on: 127.0.0.1:514 polling: 0.5",
            30,
        ),
        ("10.1.2.3", "last line", 20),
    ]
    .iter()
    .map(|(n, m, l)| plain(n, m, *l))
    .collect();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/configs");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let Ok(doc) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        for r in doc["_test"]["records"].as_array().into_iter().flatten() {
            let (Some(name), Some(msg)) = (r[0].as_str(), r[1].as_str()) else {
                continue;
            };
            let level = r[2].as_i64().map_or(20, |l| l as i32);
            if !recs.iter().any(|x| x.name == name && x.msg == msg) {
                recs.push(plain(name, msg, level));
            }
        }
    }
    recs
}

/// Messages that exercise the encoder, without syslog attributes.
fn specials() -> Vec<Rec> {
    let invalid =
        String::from_utf8_lossy(b"ab\xff\xfecd\xc3 \xe2\x82 \xf0\x9f\x98 end").into_owned();
    let mut big = String::new();
    while big.len() < 100_000 {
        big.push_str("0123456789 abcdefghij \"q\" \\ \u{e9}\u{1f600}\t");
    }
    vec![
        plain(
            "10.0.0.5",
            "say \"hi\" \\ back\\\\slash 'single' /slash",
            20,
        ),
        plain(
            "10.0.0.5",
            "\u{0}\u{1}\u{8}\t\n\u{b}\u{c}\r\u{1b}\u{1f} ctl",
            40,
        ),
        plain("10.0.0.5", "del \u{7f} and \u{80}\u{9f}\u{a0}", 5),
        plain("10.0.0.5", &invalid, 0),
        plain(
            "2001:db8::1",
            "bmp \u{e9}\u{20ac}\u{4e2d}\u{6587}\u{2028}\u{2029}\u{fffd}\u{feff}",
            35,
        ),
        plain("::1", "astral \u{1f600}\u{10ffff}\u{1d11e}\u{10000}", 50),
        plain("10.0.0.6", &big, 20),
        plain("10.0.0.6", "{\"a\": 1, \"b\": [true, null]}", 10),
        plain("pysyslog.writer", "%(message)s {message} ${message} $$", 30),
    ]
}

/// Syslog lines, as records with their attributes.
fn syslog_lines() -> Vec<Rec> {
    let lines = [
        "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed for lonvick on /dev/pts/8",
        r#"<165>1 2003-10-11T22:14:15.003Z h app 1 ID47 [ex@32473 iut="3" v="a\"b\]\\c\n"] m"#,
        "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - [a@1 x=\"1\"]\
         [b@2 y=\"\u{e9}\u{1f600}\"][a@1 x=\"2\" z=\"3\"][empty@1] %% It's time",
        "<14>1 - h a - - - \u{feff}BOM message \u{e9}",
        "<0>1 - - - - - -",
        "<14>myapp: hello",
        "<38>Oct 11 22:14:15 h sshd[42]: Accepted publickey for \"root\"",
        "<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!",
        "<34>Oct 11 2023 22:14:15 host app: x",
        "<13>May  4 14:03:14.123 host app: tab\tand\u{7f}",
        "<999>bad pri",
        "just text, not syslog",
        "",
    ];
    let mut recs = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let origin = if i % 3 == 2 { TLS } else { TCP };
        recs.push(Rec {
            name: origin.peer.into(),
            msg: (*line).into(),
            levelno: [20, 40, 10, 30][i % 4],
            origin: Some(origin),
        });
    }
    recs
}

const CREATED: [f64; 8] = [
    1_795_486_003.125,
    1_700_000_000.0,
    1_700_000_000.123_456,
    1_719_835_200.999,
    0.5,
    1_700_000_000.999_999_9,
    -1.25,
    1_000_000_000.000_001_5,
];
const RELATIVE: [f64; 12] = [
    2.5,
    1e16,
    2.5e-7,
    1.234_567_890_123_456_8e17,
    -0.0,
    0.0,
    123.456,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
    1e-5,
    0.1,
];

/// The syslog attributes in the order `--parse-syslog` sets them
/// (`attrs::ATTRS`), which is the order Python's `extra=` gives them.
const ATTR_NAMES: [&str; 17] = [
    "peer",
    "transport",
    "listener",
    "tls_client_name",
    "syslog_format",
    "facility",
    "severity",
    "facility_code",
    "severity_code",
    "pri",
    "syslog_timestamp",
    "hostname",
    "appname",
    "procid",
    "msgid",
    "structured_data",
    "syslog_message",
];

/// `repr(record.<attr>)` for each syslog attribute, as our formatter prints it.
fn attr_reprs(attrs: &SyslogAttrs<'_>, rec: &Rec) -> Vec<(String, String)> {
    ATTR_NAMES
        .iter()
        .map(|name| {
            let mut f = Formatter::new(
                Some(&format!("%({name})r")),
                None,
                Style::Percent,
                true,
                &Map::new(),
            )
            .unwrap_or_else(|e| panic!("{e}"));
            let record = LogRecord {
                name: &rec.name,
                msg: &rec.msg,
                levelno: rec.levelno,
                created: 0.0,
                relative_created: 0.0,
                attrs: Some(attrs),
            };
            let mut out = String::new();
            f.format(&record, &mut out)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            ((*name).to_owned(), out)
        })
        .collect()
}

fn run_python(input: Vec<u8>, tz: &str) -> Value {
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(PYTHON)
        .env("TZ", tz)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("python3 is needed for this test: {e}"));
    let mut stdin = child.stdin.take().unwrap_or_else(|| panic!("no stdin"));
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    writer
        .join()
        .unwrap_or_else(|_| panic!("writer thread"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        output.status.success(),
        "python3 failed (is python-json-logger 4.2.0 installed? tests/run installs it)"
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("bad JSON from python: {e}"))
}

#[test]
fn json_formatter_matches_python_json_logger() {
    let tz = std::env::var("PYSYSLOG_TEST_TZ").unwrap_or_else(|_| "Europe/Berlin".to_string());
    // Before any formatting: the library calls tzset() once, on first use.
    std::env::set_var("TZ", &tz);

    let mut recs = corpus();
    let n_corpus = recs.len();
    recs.extend(specials());
    recs.extend(syslog_lines());
    let attrs: Vec<Option<SyslogAttrs<'_>>> = recs
        .iter()
        .map(|r| r.origin.map(|o| SyslogAttrs::of(o, &r.msg)))
        .collect();
    let times: Vec<(f64, f64)> = (0..recs.len())
        .map(|i| (CREATED[i % CREATED.len()], RELATIVE[i % RELATIVE.len()]))
        .collect();
    let records: Vec<Value> = recs
        .iter()
        .zip(&attrs)
        .zip(&times)
        .map(|((r, a), (c, rel))| {
            json!({"name": r.name, "msg": r.msg, "levelno": r.levelno,
                   "created": format!("{c:?}"), "relativeCreated": format!("{rel:?}"),
                   "attrs": a.as_ref().map(|a| attr_reprs(a, r))})
        })
        .collect();
    let cases = cases();
    let docs: Vec<&str> = cases.iter().map(|(_, d)| d.as_str()).collect();
    let input = serde_json::to_vec(&json!({"records": records, "cases": docs}))
        .unwrap_or_else(|e| panic!("{e}"));
    let py = run_python(input, &tz);
    let version = py["version"].as_str().unwrap_or("");
    assert!(
        version.starts_with("3.11"),
        "expected CPython 3.11, got {version}"
    );
    assert_eq!(py["pjl"], "4.2.0", "expected python-json-logger 4.2.0");
    let py_out = py["out"].as_array().unwrap_or_else(|| panic!("no output"));
    assert_eq!(py_out.len(), cases.len());

    let mut mismatches = Vec::new();
    let (mut compared, mut errors_agreed, mut refused) = (0, 0, 0);
    for (i, ((expect, doc), p)) in cases.iter().zip(py_out).enumerate() {
        let label = format!(
            "case {i} {}",
            doc.split_whitespace().collect::<Vec<_>>().join(" ")
        );
        let built = Config::from_json_str_in(doc, Path::new("logging.json"), Path::new("/"));
        let python_error = p.get("error").and_then(Value::as_str);
        let config = match (built, python_error, expect) {
            (Err(ours), Some(theirs), Expect::ExactError) if ours.message == theirs => {
                errors_agreed += 1;
                continue;
            }
            (Err(_), Some(_), Expect::Same) => {
                errors_agreed += 1;
                continue;
            }
            (Err(_), None, Expect::Refused) => {
                refused += 1;
                continue;
            }
            (Ok(c), None, Expect::Same) => c,
            (ours, _, _) => {
                let ours = ours.map(|_| "built").map_err(|e| e.message);
                mismatches.push(format!("{label}: ours {ours:?}, Python {p}"));
                continue;
            }
        };
        let mut f = config.formatters["j"].clone();
        let results = p["results"].as_array().cloned().unwrap_or_default();
        assert_eq!(results.len(), recs.len());
        for (k, ((r, a), pr)) in recs.iter().zip(&attrs).zip(&results).enumerate() {
            let record = LogRecord {
                name: &r.name,
                msg: &r.msg,
                levelno: r.levelno,
                created: times[k].0,
                relative_created: times[k].1,
                attrs: a.as_ref(),
            };
            let mut out = String::new();
            let ours = f.format(&record, &mut out).map(|()| out);
            compared += 1;
            match (ours, pr.get("ok").and_then(Value::as_str)) {
                (Ok(a), Some(b)) if a == b => {}
                (Err(_), None) => errors_agreed += 1,
                (ours, _) => {
                    let ours = ours.map(|s| s.chars().take(2000).collect::<String>());
                    let theirs: String = pr.to_string().chars().take(2000).collect();
                    mismatches.push(format!(
                        "{label} record {k}: ours {ours:?}, Python {theirs}"
                    ))
                }
            }
        }
    }
    eprintln!(
        "TZ={tz}: {} cases x {} records ({n_corpus} from the conformance corpus): \
         {compared} outputs compared, {errors_agreed} errors agreed, {refused} deliberately \
         refused, {} mismatches",
        cases.len(),
        recs.len(),
        mismatches.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches[..mismatches.len().min(20)].join("\n")
    );
}
