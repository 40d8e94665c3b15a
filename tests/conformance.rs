//! Conformance with CPython 3.11: every fixture in `tests/data/configs/` is run
//! through `tests/data/pyref.py` (CPython's logging, driven as pysyslog's writer
//! drives it, with a fixed clock) and through our `Engine` in-process, each in
//! its own temporary directory; stdout, stderr, every file created and what
//! syslog listeners received must be byte-identical. Expected output always
//! comes from running Python now, never from a stored copy.
//!
//! A fixture may carry a `"//"` comment and a `"_test"` object (both ignored by
//! dictConfig as unknown top-level keys):
//! `records` ([name, line] or [name, line, levelno]), `step` (seconds between
//! records' `created`), `batch` (records per batch), `files` (pre-existing
//! files) with `mtime`, `expect_error` (true: both fail; "exact": our message
//! equals Python's exception chain), `listeners` (["udp", "tcp"]: ports are
//! substituted for `@UDP_PORT@` / `@TCP_PORT@`).

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;

use pysyslog::logging::{Config, Engine, LogRecord};
use serde_json::{json, Value};

/// 2026-11-24 02:06:43.125 UTC.
const T0: f64 = 1_795_486_003.125;
/// `logging._startTime`.
const START: f64 = 1_795_486_000.5;

fn default_records() -> Vec<Value> {
    json!([
        ["127.0.0.1", "hello from localhost"],
        ["10.1.2.3", "from ten-one"],
        ["100.1.2.3", "not under ten"],
        ["192.168.1.1", "lan host"],
        ["192.1680.1.1", "not under 192.168"],
        ["::1", "ipv6 has no dots"],
        ["10.2.0.7", "50% done %s %(name)s"],
        ["10.1.9.9", "h\u{e9}llo \u{20ac} \u{1f600}"],
        ["127.0.0.1", ""],
        [
            "pysyslog.cli",
            "Listening for syslog over TCP on: 127.0.0.1:514 polling: 0.5",
            30
        ],
        ["10.1.2.3", "last line"]
    ])
    .as_array()
    .cloned()
    .unwrap_or_default()
}

struct Outcome {
    error: Option<String>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    files: BTreeMap<String, Vec<u8>>,
    udp: Vec<Vec<u8>>,
    tcp: Vec<u8>,
}

struct Listeners {
    udp: Option<UdpSocket>,
    tcp: Option<TcpListener>,
}

impl Listeners {
    fn new(kinds: &[String]) -> Listeners {
        let udp = kinds
            .iter()
            .any(|k| k == "udp")
            .then(|| UdpSocket::bind("127.0.0.1:0").unwrap());
        let tcp = kinds
            .iter()
            .any(|k| k == "tcp")
            .then(|| TcpListener::bind("127.0.0.1:0").unwrap());
        Listeners { udp, tcp }
    }

    fn substitute(&self, text: &str) -> String {
        let mut t = text.to_owned();
        if let Some(u) = &self.udp {
            t = t.replace(
                "\"@UDP_PORT@\"",
                &u.local_addr().unwrap().port().to_string(),
            );
        }
        if let Some(l) = &self.tcp {
            t = t.replace(
                "\"@TCP_PORT@\"",
                &l.local_addr().unwrap().port().to_string(),
            );
        }
        t
    }

    /// After the run: everything sent is already queued in the kernel, and the
    /// sender has closed, so draining without blocking sees all of it.
    fn collect(&self) -> (Vec<Vec<u8>>, Vec<u8>) {
        let mut datagrams = Vec::new();
        if let Some(u) = &self.udp {
            u.set_nonblocking(true).unwrap();
            let mut buf = vec![0u8; 65536];
            while let Ok(n) = u.recv(&mut buf) {
                datagrams.push(buf[..n].to_vec());
            }
        }
        let mut stream = Vec::new();
        if let Some(l) = &self.tcp {
            l.set_nonblocking(true).unwrap();
            while let Ok((mut s, _)) = l.accept() {
                s.set_nonblocking(false).unwrap();
                s.read_to_end(&mut stream).unwrap();
            }
        }
        (datagrams, stream)
    }
}

fn fresh_dir(name: &str, side: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("conformance")
        .join(name)
        .join(side);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn prepare(dir: &Path, test: &Value) {
    if let Some(files) = test.get("files").and_then(Value::as_object) {
        for (name, content) in files {
            let p = dir.join(name);
            std::fs::write(&p, content.as_str().unwrap()).unwrap();
            if let Some(mtime) = test.get("mtime").and_then(Value::as_f64) {
                let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(mtime);
                std::fs::File::options()
                    .write(true)
                    .open(&p)
                    .unwrap()
                    .set_modified(t)
                    .unwrap();
            }
        }
    }
}

fn read_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            if rel == "logging.json" || rel == "input.json" {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// `[name, line, created, levelno]` for both sides.
fn records(test: &Value) -> Vec<(String, String, f64, i32)> {
    let step = test.get("step").and_then(Value::as_f64).unwrap_or(0.25);
    let recs = test
        .get("records")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_else(default_records);
    recs.iter()
        .enumerate()
        .map(|(i, r)| {
            let name = r[0].as_str().unwrap().to_owned();
            let line = r[1].as_str().unwrap().to_owned();
            let level = r.get(2).and_then(Value::as_i64).unwrap_or(20) as i32;
            (name, line, T0 + step * i as f64, level)
        })
        .collect()
}

fn run_python(name: &str, text: &str, test: &Value) -> Outcome {
    let dir = fresh_dir(name, "py");
    prepare(&dir, test);
    let l = Listeners::new(&listener_kinds(test));
    std::fs::write(dir.join("logging.json"), l.substitute(text)).unwrap();
    let recs: Vec<Value> = records(test)
        .into_iter()
        .map(|(n, m, c, lv)| json!([n, m, c, lv]))
        .collect();
    let input = json!({"config_time": T0, "start_time": START, "records": recs});
    std::fs::write(dir.join("input.json"), input.to_string()).unwrap();
    let pyref = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pyref.py");
    let out = Command::new("python3")
        .arg(pyref)
        .arg("logging.json")
        .arg("input.json")
        .current_dir(&dir)
        .env("PYTHONIOENCODING", "utf-8")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python3 on PATH");
    let (udp, tcp) = l.collect();
    let stdout_text = String::from_utf8_lossy(&out.stdout);
    let error = (out.status.code() == Some(3)).then(|| {
        stdout_text
            .trim_end()
            .trim_start_matches("CONFIG-ERROR: ")
            .replace(&*dir.to_string_lossy(), "$DIR")
    });
    assert!(
        out.status.success() || error.is_some(),
        "pyref failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Outcome {
        error: error.clone(),
        stdout: if error.is_some() {
            Vec::new()
        } else {
            out.stdout
        },
        stderr: out.stderr,
        files: read_files(&dir),
        udp,
        tcp,
    }
}

fn run_rust(name: &str, text: &str, test: &Value) -> Outcome {
    let dir = fresh_dir(name, "rs");
    prepare(&dir, test);
    let l = Listeners::new(&listener_kinds(test));
    let text = l.substitute(text);
    let batch = test
        .get("batch")
        .and_then(Value::as_u64)
        .unwrap_or(3)
        .max(1) as usize;
    let built = Config::from_json_str_in(&text, Path::new("logging.json"), &dir)
        .and_then(|c| Engine::build_at(&c, T0));
    let mut out = Outcome {
        error: None,
        stdout: Vec::new(),
        stderr: Vec::new(),
        files: BTreeMap::new(),
        udp: Vec::new(),
        tcp: Vec::new(),
    };
    match built {
        Err(e) => out.error = Some(e.message.replace(&*dir.to_string_lossy(), "$DIR")),
        Ok(mut engine) => {
            engine.capture_output();
            for (i, (n, m, created, lv)) in records(test).iter().enumerate() {
                let rec = LogRecord {
                    name: n,
                    msg: m,
                    levelno: *lv,
                    created: *created,
                    relative_created: (created - START) * 1000.0,
                    attrs: None,
                };
                engine.handle(&rec);
                if (i + 1) % batch == 0 {
                    engine.end_batch();
                }
            }
            engine.end_batch();
            engine.close();
            let c = engine.captured().cloned().unwrap_or_default();
            out.stdout = c.stdout;
            out.stderr = c.stderr;
            drop(engine);
        }
    }
    out.files = read_files(&dir);
    (out.udp, out.tcp) = l.collect();
    out
}

fn listener_kinds(test: &Value) -> Vec<String> {
    test.get("listeners")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn check(fixture: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/configs")
        .join(format!("{fixture}.json"));
    let text = std::fs::read_to_string(&path).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let test = doc.get("_test").cloned().unwrap_or(Value::Null);
    let py = run_python(fixture, &text, &test);
    let rs = run_rust(fixture, &text, &test);
    // Fixtures named NN-err-* must fail on both sides even without a `_test` (bad JSON).
    let expect_error = test.get("expect_error").cloned().or_else(|| {
        fixture[2..]
            .starts_with("-err-")
            .then_some(Value::Bool(true))
    });
    match expect_error {
        Some(kind) => {
            let pe = py
                .error
                .as_deref()
                .unwrap_or_else(|| panic!("{fixture}: Python accepted the config"));
            let re = rs
                .error
                .as_deref()
                .unwrap_or_else(|| panic!("{fixture}: we accepted the config; Python said: {pe}"));
            if kind == json!("exact") {
                assert_eq!(re, pe, "{fixture}: error message differs from Python's");
            }
            return;
        }
        None => {
            assert_eq!(rs.error, py.error, "{fixture}: config outcome differs");
        }
    }
    assert_eq!(
        show(&rs.stdout),
        show(&py.stdout),
        "{fixture}: stdout differs"
    );
    assert_eq!(rs.stdout, py.stdout, "{fixture}: stdout bytes differ");
    assert_eq!(
        show(&rs.stderr),
        show(&py.stderr),
        "{fixture}: stderr differs"
    );
    let names = |f: &BTreeMap<String, Vec<u8>>| f.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(&rs.files),
        names(&py.files),
        "{fixture}: set of files differs"
    );
    for (k, v) in &py.files {
        assert_eq!(show(&rs.files[k]), show(v), "{fixture}: file {k} differs");
        assert_eq!(&rs.files[k], v, "{fixture}: file {k} bytes differ");
    }
    let kinds = listener_kinds(&test);
    assert!(
        !kinds.contains(&"udp".to_string()) || !py.udp.is_empty(),
        "{fixture}: Python sent no datagram"
    );
    assert!(
        !kinds.contains(&"tcp".to_string()) || !py.tcp.is_empty(),
        "{fixture}: Python sent nothing over TCP"
    );
    assert_eq!(rs.udp, py.udp, "{fixture}: UDP datagrams differ");
    assert_eq!(
        show(&rs.tcp),
        show(&py.tcp),
        "{fixture}: TCP stream differs"
    );
}

macro_rules! fixtures {
    ($($f:ident => $name:literal),* $(,)?) => {
        $( #[test] fn $f() { check($name); } )*
    };
}

include!("data/fixtures.rs");
