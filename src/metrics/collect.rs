//! What a scrape reports: every metric's name, HELP and TYPE, from a
//! [`Snapshot`] and the two processes' usage.
//!
//! Owns: the metric names (Prometheus conventions: a `pysyslog_` prefix,
//! base units, `_total` on counters) and their meaning; `docs/monitoring.md`
//! lists the same. Does not own: keeping the numbers.

use super::counts::{Refusal, Snapshot};
use super::encode::{Exposition, Kind};
use super::process::Usage;
use crate::ipc::counters::HANDLER_METRICS;

/// The exposition of `s`, with the usage of the receiver and of the writer
/// it holds.
pub fn render(s: &Snapshot) -> String {
    render_with(s, s.receiver_usage, s.writer_usage)
}

/// [`render`] with the usage given (tests).
pub fn render_with(s: &Snapshot, receiver: Option<Usage>, writer: Option<Usage>) -> String {
    let mut e = Exposition::new();
    e.family(
        "pysyslog_build_info",
        Kind::Gauge,
        "Always 1; the version of the running collector.",
    );
    e.sample(&[("version", env!("CARGO_PKG_VERSION"))], 1u64);
    listeners(&mut e, s);
    link(&mut e, s);
    handlers(&mut e, s);
    reloads(&mut e, s);
    syslog_lines(&mut e, s);
    processes(&mut e, receiver, writer);
    e.finish()
}

fn listeners(e: &mut Exposition, s: &Snapshot) {
    connections(e, s);
    received_lines(e, s);
    datagrams(e, s);
    rate_limits(e, s);
    accepting(e, s);
}

/// One sample per TCP, TLS or RELP listener.
fn each(e: &mut Exposition, s: &Snapshot, f: &dyn Fn(&super::counts::ListenerCounts) -> u64) {
    for (label, c) in &s.listeners {
        e.sample(&[("listener", label)], f(c));
    }
}

/// One sample per UDP listener.
fn udp(e: &mut Exposition, s: &Snapshot, f: &dyn Fn(&super::counts::UdpCounts) -> u64) {
    for (label, c) in &s.udp {
        e.sample(&[("listener", label)], f(c));
    }
}

/// Families both kinds of listener have: one sample per listener.
fn received(e: &mut Exposition, s: &Snapshot, f: &dyn Fn(&super::counts::Received) -> u64) {
    for (label, c) in &s.listeners {
        e.sample(&[("listener", label)], f(&c.received));
    }
    for (label, c) in &s.udp {
        e.sample(&[("listener", label)], f(&c.received));
    }
}

fn connections(e: &mut Exposition, s: &Snapshot) {
    e.family(
        "pysyslog_connections_open",
        Kind::Gauge,
        "Connections open now, TLS handshakes included.",
    );
    each(e, s, &|c| c.open);
    e.family(
        "pysyslog_connections_accepted_total",
        Kind::Counter,
        "Connections accepted.",
    );
    each(e, s, &|c| c.accepted);
    e.family(
        "pysyslog_connections_refused_total",
        Kind::Counter,
        "Connections refused, or closed for breaking their protocol, by reason: tls_handshake, tls_handshake_timeout, wrong_protocol (TLS on a plain listener or plain text on a TLS one), setup, allow_list (the source, or the client its PROXY header names, is outside --allow), proxy_header (missing or malformed PROXY header), relp_protocol (a RELP session broke the protocol), per_source_limit (--max-connections-per-source).",
    );
    for (label, c) in &s.listeners {
        for why in Refusal::ALL {
            e.sample(
                &[("listener", label), ("reason", why.label())],
                c.refused[why as usize],
            );
        }
    }
}

fn received_lines(e: &mut Exposition, s: &Snapshot) {
    e.family(
        "pysyslog_lines_received_total",
        Kind::Counter,
        "Lines (frames, or non-empty datagrams) received and queued for the writer, truncated ones included.",
    );
    received(e, s, &|r| r.lines);
    e.family(
        "pysyslog_received_bytes_total",
        Kind::Counter,
        "Bytes of syslog data received (after TLS decryption; for UDP, the datagrams of allowed sources).",
    );
    received(e, s, &|r| r.bytes);
    e.family(
        "pysyslog_lines_truncated_total",
        Kind::Counter,
        "Lines longer than --max-line-length, logged truncated.",
    );
    received(e, s, &|r| r.truncated);
    e.family(
        "pysyslog_lines_split_total",
        Kind::Counter,
        "Lines logged in pieces (the first while the rest had not arrived): the partial lines of all connections passed --max-partial-bytes.",
    );
    received(e, s, &|r| r.split);
}

fn datagrams(e: &mut Exposition, s: &Snapshot) {
    e.family(
        "pysyslog_udp_datagrams_received_total",
        Kind::Counter,
        "UDP datagrams read from the socket (refused and empty ones included).",
    );
    udp(e, s, &|c| c.datagrams);
    e.family(
        "pysyslog_udp_datagrams_dropped_total",
        Kind::Counter,
        "UDP datagrams the kernel dropped because the socket's receive buffer was full (SO_RXQ_OVFL; raise --udp-recv-buffer). Learnt with the next datagram read.",
    );
    udp(e, s, &|c| c.dropped);
    e.family(
        "pysyslog_udp_datagrams_refused_total",
        Kind::Counter,
        "UDP datagrams from sources outside --allow, not logged.",
    );
    udp(e, s, &|c| c.refused);
    e.family(
        "pysyslog_udp_datagrams_rate_limited_total",
        Kind::Counter,
        "UDP datagrams dropped because their source was over --rate-limit-per-source, not logged.",
    );
    udp(e, s, &|c| c.rate_limited);
}

fn rate_limits(e: &mut Exposition, s: &Snapshot) {
    e.family(
        "pysyslog_rate_limit_pauses_total",
        Kind::Counter,
        "Times a TCP, TLS or RELP connection was paused (not read) because its source was over --rate-limit-per-source; nothing is dropped.",
    );
    each(e, s, &|c| c.rate_limit_pauses);
    e.family(
        "pysyslog_rate_limit_paused_seconds_total",
        Kind::Counter,
        "Seconds TCP, TLS and RELP connections spent paused by --rate-limit-per-source, summed over connections (a pause counts once it ends).",
    );
    for (label, c) in &s.listeners {
        e.sample(&[("listener", label)], c.rate_limit_paused_ns as f64 / 1e9);
    }
    if let Some(n) = s.spool_max_bytes {
        e.single(
            "pysyslog_spool_max_bytes",
            Kind::Gauge,
            "--spool-max-bytes: what the disk backlogs of every handler may take together (pysyslog_handler_spool_bytes summed).",
            n,
        );
        e.single(
            "pysyslog_spool_orphaned_bytes",
            Kind::Gauge,
            "Bytes in backlogs under --spool-dir that no handler of the configuration is named for (renamed or removed): left in place, never delivered until a handler has that name again.",
            s.spool_orphaned_bytes,
        );
    }
    if let Some(n) = s.rate_limit_sources {
        e.single(
            "pysyslog_rate_limit_sources",
            Kind::Gauge,
            "Sources whose --rate-limit-per-source buckets are kept now (bounded: past the bound the least recently seen is forgotten).",
            n,
        );
    }
}

fn accepting(e: &mut Exposition, s: &Snapshot) {
    e.family(
        "pysyslog_accept_pauses_total",
        Kind::Counter,
        "Times accepting paused, by reason: limit (--max-connections reached; peers wait in the backlog), descriptors (out of file descriptors).",
    );
    e.sample(&[("reason", "limit")], s.accept_pauses.limit);
    e.sample(&[("reason", "descriptors")], s.accept_pauses.descriptors);
}

fn link(e: &mut Exposition, s: &Snapshot) {
    let l = &s.link;
    e.single(
        "pysyslog_queue_lines",
        Kind::Gauge,
        "Lines held between receiver and writer, not yet acknowledged.",
        l.queued_lines,
    );
    e.single(
        "pysyslog_queue_max_lines",
        Kind::Gauge,
        "Bound on pysyslog_queue_lines (--max-queue-size).",
        l.max_lines,
    );
    e.single(
        "pysyslog_queue_bytes",
        Kind::Gauge,
        "Bytes of batch buffers held between receiver and writer (a batch in a shared slot counts the slot).",
        l.queued_bytes,
    );
    e.single(
        "pysyslog_queue_max_bytes",
        Kind::Gauge,
        "Bound on pysyslog_queue_bytes (--max-queue-bytes).",
        l.max_bytes,
    );
    e.single(
        "pysyslog_backpressure_seconds_total",
        Kind::Counter,
        "Seconds reading from peers was paused because the queue was at a bound.",
        l.backpressure_seconds,
    );
    e.single(
        "pysyslog_batches_replayed_total",
        Kind::Counter,
        "Unacknowledged batches sent again to a new writer after one died.",
        l.batches_replayed,
    );
    e.single(
        "pysyslog_writer_restarts_total",
        Kind::Counter,
        "Writer processes started again after one died.",
        l.writer_restarts,
    );
}

fn handlers(e: &mut Exposition, s: &Snapshot) {
    for m in HANDLER_METRICS {
        let kind = if m.gauge { Kind::Gauge } else { Kind::Counter };
        e.family(m.name, kind, m.help);
        for h in &s.handlers {
            let v = h.values.get(m.index).copied().unwrap_or(0);
            if m.divisor == 1 {
                e.sample(&[("handler", &h.name)], v);
            } else {
                e.sample(&[("handler", &h.name)], v as f64 / f64::from(m.divisor));
            }
        }
    }
}

fn reloads(e: &mut Exposition, s: &Snapshot) {
    e.family(
        "pysyslog_config_reloads_total",
        Kind::Counter,
        "Logging configuration reloads (SIGHUP), by result: success (applied by the writer), failure (invalid, or the writer could not apply it; the previous one stays).",
    );
    e.sample(&[("result", "success")], s.reloads.succeeded);
    e.sample(&[("result", "failure")], s.reloads.failed);
    e.single(
        "pysyslog_config_last_reload_success_timestamp_seconds",
        Kind::Gauge,
        "Unix time the logging configuration in force was loaded (start-up or the last successful reload).",
        s.reloads.last_success,
    );
}

fn syslog_lines(e: &mut Exposition, s: &Snapshot) {
    e.family(
        "pysyslog_syslog_lines_total",
        Kind::Counter,
        "Lines parsed with --parse-syslog, by format: rfc5424, rfc3164, or none (not syslog: logged with every field absent).",
    );
    for (format, n) in ["rfc5424", "rfc3164", "none"].iter().zip(s.syslog_lines) {
        e.sample(&[("format", format)], n);
    }
}

fn processes(e: &mut Exposition, receiver: Option<Usage>, writer: Option<Usage>) {
    let both = [("receiver", receiver), ("writer", writer)];
    e.family(
        "pysyslog_process_cpu_seconds_total",
        Kind::Counter,
        "User and system CPU time of the process (for the writer, of every writer so far).",
    );
    for (p, u) in both {
        if let Some(u) = u {
            e.sample(&[("process", p)], u.cpu_seconds);
        }
    }
    e.family(
        "pysyslog_process_resident_memory_bytes",
        Kind::Gauge,
        "Resident memory of the process (the shared batch slots count in both).",
    );
    for (p, u) in both {
        if let Some(u) = u {
            e.sample(&[("process", p)], u.resident_bytes);
        }
    }
    e.family(
        "pysyslog_process_open_fds",
        Kind::Gauge,
        "Open file descriptors of the process (absent for a writer whose /proc entry cannot be read).",
    );
    for (p, u) in both {
        if let Some(n) = u.and_then(|u| u.open_fds) {
            e.sample(&[("process", p)], n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::counts::ListenerCounts;
    use super::*;
    use crate::ipc::counters::{HandlerValues, VALUES};

    #[test]
    fn every_family_has_help_and_type_and_counters_end_in_total() {
        let mut s = Snapshot::default();
        s.listeners
            .push(("tcp://127.0.0.1:514".into(), ListenerCounts::default()));
        s.handlers.push(HandlerValues {
            name: "file".into(),
            values: [0; VALUES],
        });
        let text = render_with(&s, Some(Usage::default()), None);
        let mut families = 0;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                families += 1;
                let (name, kind) = rest.split_once(' ').expect("name and type");
                assert!(
                    text.contains(&format!("# HELP {name} ")),
                    "{name} has no HELP"
                );
                assert_eq!(kind == "counter", name.ends_with("_total"), "{name}");
            }
        }
        assert!(families >= 25, "{families} families");
        assert!(
            text.contains("pysyslog_lines_received_total{listener=\"tcp://127.0.0.1:514\"} 0\n")
        );
        assert!(text.contains("pysyslog_handler_records_emitted_total{handler=\"file\"} 0\n"));
        assert!(text.contains("pysyslog_build_info{version=\""));
    }
}
