//! The final report on stdout: human-readable `key: value` lines, or one JSON
//! object with `--json`.

use serde_json::{json, Value};

use super::verify::Tally;

/// Numbers of the send phase.
#[derive(Debug, Clone)]
pub struct SendReport {
    pub run_id: String,
    pub framing: &'static str,
    pub size: usize,
    pub connections: u32,
    /// With `--source-addresses`: connection ids (one per address), each
    /// sending `lines_per_connection` lines.
    pub source_addresses: Option<u32>,
    pub lines_per_connection: u64,
    /// Lines actually written (all connections).
    pub lines: u64,
    /// Bytes actually written (all connections).
    pub bytes: u64,
    /// Duration of the send phase.
    pub seconds: f64,
    /// When sending started and ended, in seconds since the Unix epoch.
    pub start_unix: f64,
    pub end_unix: f64,
}

impl SendReport {
    pub fn lines_per_sec(&self) -> f64 {
        per_sec(self.lines as f64, self.seconds)
    }

    pub fn mb_per_sec(&self) -> f64 {
        per_sec(self.bytes as f64 / 1e6, self.seconds)
    }
}

fn per_sec(v: f64, secs: f64) -> f64 {
    if secs > 0.0 {
        v / secs
    } else {
        0.0
    }
}

/// Numbers of the verification phase.
#[derive(Debug, Clone, Copy)]
pub struct VerifyReport {
    pub tally: Tally,
    /// From the end of sending until the last new line was seen in the file.
    pub drain_seconds: Option<f64>,
    /// From the start of sending until the last new line was seen in the file:
    /// the end-to-end time of the run.
    pub complete_seconds: Option<f64>,
    pub timed_out: bool,
}

/// The whole report as one JSON object.
pub fn to_json(s: &SendReport, v: Option<&VerifyReport>) -> Value {
    let mut o = json!({
        "run_id": s.run_id,
        "framing": s.framing,
        "size": s.size,
        "connections": s.connections,
        "lines_per_connection": s.lines_per_connection,
        "lines": s.lines,
        "bytes": s.bytes,
        "seconds": s.seconds,
        "lines_per_sec": s.lines_per_sec(),
        "mb_per_sec": s.mb_per_sec(),
        "start_unix_s": s.start_unix,
        "end_unix_s": s.end_unix,
    });
    if let (Some(n), Some(map)) = (s.source_addresses, o.as_object_mut()) {
        map.insert("source_addresses".into(), n.into());
    }
    if let (Some(v), Some(map)) = (v, o.as_object_mut()) {
        map.insert("expected".into(), v.tally.expected.into());
        map.insert("received".into(), v.tally.received.into());
        map.insert("lost".into(), v.tally.lost.into());
        map.insert("duplicated".into(), v.tally.duplicated.into());
        map.insert("invalid".into(), v.tally.invalid.into());
        map.insert("drain_seconds".into(), json!(v.drain_seconds));
        map.insert("complete_seconds".into(), json!(v.complete_seconds));
        map.insert("verify_timed_out".into(), v.timed_out.into());
    }
    o
}

/// The whole report as human-readable lines.
pub fn to_text(s: &SendReport, v: Option<&VerifyReport>) -> String {
    let mut t = format!(
        "run id:       {}\n\
         connections:  {}\n\
         lines:        {} ({} per connection)\n\
         bytes:        {} ({} per line, {} framing)\n\
         seconds:      {:.6}\n\
         lines/s:      {:.0}\n\
         MB/s:         {:.2}\n",
        s.run_id,
        s.connections,
        s.lines,
        s.lines_per_connection,
        s.bytes,
        s.size,
        s.framing,
        s.seconds,
        s.lines_per_sec(),
        s.mb_per_sec(),
    );
    if let Some(n) = s.source_addresses {
        t.push_str(&format!(
            "sources:      {n} addresses, {} to {}, {} connections at a time\n",
            super::sender::source_address(0),
            super::sender::source_address(n.saturating_sub(1)),
            s.connections
        ));
    }
    if let Some(v) = v {
        t.push_str(&format!(
            "received:     {}\n\
             lost:         {}\n\
             duplicated:   {}\n",
            v.tally.received, v.tally.lost, v.tally.duplicated
        ));
        if v.tally.invalid > 0 {
            t.push_str(&format!("invalid:      {}\n", v.tally.invalid));
        }
        match v.drain_seconds {
            Some(d) => t.push_str(&format!("last line:    {d:.3} s after end of sending\n")),
            None => t.push_str("last line:    none arrived\n"),
        }
        if let Some(c) = v.complete_seconds {
            let lines = v.tally.received as f64;
            t.push_str(&format!(
                "end to end:   {c:.6} s, {:.0} lines/s (first line sent to last line in the file)\n",
                per_sec(lines, c)
            ));
        }
        if v.timed_out {
            t.push_str("verify:       timed out\n");
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SendReport {
        SendReport {
            run_id: "x".into(),
            framing: "lf",
            size: 120,
            connections: 2,
            source_addresses: None,
            lines_per_connection: 5,
            lines: 10,
            bytes: 1200,
            seconds: 0.5,
            start_unix: 1000.0,
            end_unix: 1000.5,
        }
    }

    #[test]
    fn json_has_the_numbers() {
        let v = VerifyReport {
            tally: Tally {
                expected: 10,
                received: 9,
                lost: 1,
                duplicated: 0,
                invalid: 0,
            },
            drain_seconds: Some(0.25),
            complete_seconds: Some(0.75),
            timed_out: true,
        };
        let j = to_json(&sample(), Some(&v));
        assert_eq!(j["lines"], 10);
        assert_eq!(j["bytes"], 1200);
        assert_eq!(j["lines_per_sec"], 20.0);
        assert_eq!(j["mb_per_sec"], 0.0024);
        assert_eq!(j["lost"], 1);
        assert_eq!(j["drain_seconds"], 0.25);
        assert!(to_json(&sample(), None).get("lost").is_none());
    }

    #[test]
    fn text_has_the_numbers() {
        let t = to_text(&sample(), None);
        assert!(t.contains("lines:        10 (5 per connection)\n"));
        assert!(t.contains("lines/s:      20\n"));
        let s = SendReport {
            source_addresses: Some(1000),
            ..sample()
        };
        assert!(to_text(&s, None).contains(
            "sources:      1000 addresses, 127.0.1.1 to 127.0.4.250, 2 connections at a time\n"
        ));
        assert_eq!(to_json(&s, None)["source_addresses"], 1000);
        assert_eq!(to_json(&s, None)["end_unix_s"], 1000.5);
    }
}
