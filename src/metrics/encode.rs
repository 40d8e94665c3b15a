//! The Prometheus text exposition format (version 0.0.4), written by hand.
//!
//! Owns: metric families with their HELP and TYPE lines, label and help
//! escaping, number formatting. Does not own: what is measured
//! ([`super::collect`]) or HTTP ([`super::http`]).
//!
//! Why not `prometheus-client`: its model is metric objects holding atomics
//! that the code updates where events happen, registered once in a registry.
//! Ours are plain integers in the structs the event loop already touches,
//! read only when a scraper asks; adopting the crate would mean atomics on
//! the per-line path or a custom collector that rebuilds its objects per
//! scrape, for a format that is a few lines of escaping. This encoder writes
//! exactly what the format specifies, and `promtool check metrics` checks its
//! output in the tests.

use std::fmt::Write;

/// The `# TYPE` of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (names end in `_total`); survives writer restarts.
    Counter,
    /// Goes up and down.
    Gauge,
}

/// A sample's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Int(u64),
    Float(f64),
}

impl From<u64> for Value {
    fn from(v: u64) -> Value {
        Value::Int(v)
    }
}

impl From<usize> for Value {
    fn from(v: usize) -> Value {
        Value::Int(v as u64)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Float(v)
    }
}

/// An exposition being written. Families must be written whole: a family's
/// line, then all its samples.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
    /// The family whose samples are being written.
    family: String,
}

/// The content type of what [`Exposition::finish`] returns.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

impl Exposition {
    pub fn new() -> Exposition {
        Exposition::default()
    }

    /// Start a family. `name` must be a valid metric name (ours are constants).
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        self.out.push_str("# HELP ");
        self.out.push_str(name);
        self.out.push(' ');
        escape_into(&mut self.out, help, false);
        self.out.push_str("\n# TYPE ");
        self.out.push_str(name);
        self.out.push(' ');
        self.out.push_str(kind);
        self.out.push('\n');
        self.family.clear();
        self.family.push_str(name);
    }

    /// One sample of the current family; label values are escaped.
    pub fn sample(&mut self, labels: &[(&str, &str)], value: impl Into<Value>) {
        self.out.push_str(&self.family);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (name, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(name);
                self.out.push_str("=\"");
                escape_into(&mut self.out, value, true);
                self.out.push('"');
            }
            self.out.push('}');
        }
        self.out.push(' ');
        match value.into() {
            // Writing into a String cannot fail.
            Value::Int(v) => {
                let _ = write!(self.out, "{v}");
            }
            Value::Float(v) if v.is_nan() => self.out.push_str("NaN"),
            Value::Float(v) if v.is_infinite() => {
                self.out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" })
            }
            Value::Float(v) => {
                let _ = write!(self.out, "{v}");
            }
        }
        self.out.push('\n');
    }

    /// A family with one sample.
    pub fn single(&mut self, name: &str, kind: Kind, help: &str, value: impl Into<Value>) {
        self.family(name, kind, help);
        self.sample(&[], value);
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// The format's escapes: backslash and newline everywhere, double quotes in
/// label values.
fn escape_into(out: &mut String, text: &str, quotes: bool) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quotes => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_have_help_and_type_and_samples_follow() {
        let mut e = Exposition::new();
        e.family("x_total", Kind::Counter, "Things.\nMore \\ text.");
        e.sample(&[("listener", "tcp://127.0.0.1:514")], 3u64);
        e.sample(&[("a", "q\"\\\n"), ("b", "")], 0u64);
        e.single("y_seconds", Kind::Gauge, "Time.", 1.5);
        e.single("z", Kind::Gauge, "Inf.", f64::INFINITY);
        assert_eq!(
            e.finish(),
            "# HELP x_total Things.\\nMore \\\\ text.\n# TYPE x_total counter\n\
             x_total{listener=\"tcp://127.0.0.1:514\"} 3\n\
             x_total{a=\"q\\\"\\\\\\n\",b=\"\"} 0\n\
             # HELP y_seconds Time.\n# TYPE y_seconds gauge\ny_seconds 1.5\n\
             # HELP z Inf.\n# TYPE z gauge\nz +Inf\n"
        );
    }
}
