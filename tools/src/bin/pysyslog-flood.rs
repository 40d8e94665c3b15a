//! `pysyslog-flood`: load generator for pysyslog. Parses arguments and hands
//! the run to [`pysyslog_tools::flood::run`]; all logic lives in the library.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use pysyslog_tools::flood::{self, Framing, Header, Options};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum FramingArg {
    /// MSG followed by a newline.
    Lf,
    /// RFC 6587 octet counting: LEN SP MSG.
    Octet,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum HeaderArg {
    /// `<14>` alone before the payload.
    Pri,
    /// An RFC 5424 header: `<134>1 2026-12-07T21:36:51.123456Z host1 app1 4242 - - `.
    Rfc5424,
    /// An RFC 3164 header: `<134>Dec  7 21:36:51 host1 app1[4242]: `.
    Rfc3164,
    /// RFC 5424 and RFC 3164 in turn (even line numbers 5424, odd 3164).
    Mixed,
}

/// Send uniquely numbered syslog lines over TCP or TLS as fast as possible (or at a
/// given rate), report the throughput, and optionally verify that every line
/// arrived in the collector's output file.
#[derive(Parser, Debug)]
#[command(name = "pysyslog-flood", version)]
struct Cli {
    /// Collector host name or address.
    host: String,
    /// Collector TCP port.
    port: u16,
    /// Number of TCP connections.
    #[arg(short = 'c', long, default_value_t = 4)]
    connections: u32,
    /// Lines per connection.
    #[arg(short = 'n', long, default_value_t = 100_000)]
    lines: u64,
    /// Bytes per line on the wire, framing included.
    #[arg(short = 's', long, default_value_t = 120)]
    size: usize,
    /// How lines are delimited.
    #[arg(long, value_enum, default_value_t = FramingArg::Lf)]
    framing: FramingArg,
    /// What starts each message before its numbered payload (the line
    /// size stays the same: the filler is shortened).
    #[arg(long, value_enum, default_value_t = HeaderArg::Pri)]
    header: HeaderArg,
    /// Send over TLS (RFC 5425), accepting any server certificate.
    #[arg(long)]
    tls: bool,
    /// Send over TLS and verify the server certificate against this PEM CA
    /// bundle (and its name against HOST). Implies --tls.
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// Total lines per second over all connections (default: as fast as possible).
    #[arg(long, value_name = "LINES_PER_SEC")]
    rate: Option<f64>,
    /// Identifier embedded in every line (default: derived from pid and time).
    #[arg(long, value_name = "STR")]
    run_id: Option<String>,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
    /// Collector output file to check for every line of this run.
    #[arg(long, value_name = "FILE")]
    verify: Option<PathBuf>,
    /// Seconds to wait after sending for all lines to appear in the file.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    verify_timeout: f64,
    /// Send N connections' lines (-n each), each from its own loopback
    /// source address (127.0.1.1, 127.0.1.2, ... 127.0.1.250, 127.0.2.1, ...),
    /// --connections of them at a time: each sender closes its connection
    /// when done, waits for the collector to close it too, then opens the
    /// next. Plain TCP to IPv4 only.
    #[arg(long, value_name = "N")]
    source_addresses: Option<u32>,
    /// With --verify: a line holding the same line's token twice counts it
    /// once (a JSON record with the line as received and its parsed message).
    #[arg(long)]
    token_once_per_line: bool,
}

fn main() {
    let cli = Cli::parse();
    let opts = Options {
        host: cli.host,
        port: cli.port,
        connections: cli.connections,
        lines: cli.lines,
        size: cli.size,
        framing: match cli.framing {
            FramingArg::Lf => Framing::Lf,
            FramingArg::Octet => Framing::Octet,
        },
        header: match cli.header {
            HeaderArg::Pri => Header::Pri,
            HeaderArg::Rfc5424 => Header::Rfc5424,
            HeaderArg::Rfc3164 => Header::Rfc3164,
            HeaderArg::Mixed => Header::Mixed,
        },
        tls: match (cli.ca, cli.tls) {
            (Some(ca), _) => Some(flood::tls::Verify::Ca(ca)),
            (None, true) => Some(flood::tls::Verify::Any),
            (None, false) => None,
        },
        rate: cli.rate,
        run_id: cli.run_id,
        json: cli.json,
        verify: cli.verify,
        verify_timeout: cli.verify_timeout,
        source_addresses: cli.source_addresses,
        token_once_per_line: cli.token_once_per_line,
    };
    std::process::exit(flood::run(&opts));
}
