//! `bench-peers`: compares our collector with rsyslog, syslog-ng, pysyslog 0.1.0
//! and a raw socket-to-file copier, interleaved, and prints Markdown tables.
//! `bench/bench-peers` builds the release binaries and runs this; all logic is
//! in [`pysyslog_tools::bench`].

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use pysyslog_tools::bench::{self, Env, Kind, Plan};

/// Compare syslog collectors side by side on loopback (see tools/RESULTS.md).
#[derive(Parser, Debug)]
#[command(name = "bench-peers", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    /// Collectors compared (ours, rsyslog, syslog-ng, pysyslog, copier); empty skips.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "ours,rsyslog,syslog-ng,pysyslog,copier"
    )]
    collectors: Vec<String>,
    /// Connection counts of the comparison.
    #[arg(long, value_delimiter = ',', default_value = "4,100")]
    connections: Vec<u32>,
    /// Transports of the comparison (plain, tls).
    #[arg(long, value_delimiter = ',', default_value = "plain,tls")]
    transports: Vec<String>,
    /// Runs per collector and scenario.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Lines per run (all connections together).
    #[arg(long, default_value_t = 2_000_000)]
    lines: u64,
    /// Lines per run for pysyslog 0.1.0 (about 50 k lines/s).
    #[arg(long, default_value_t = 200_000)]
    pysyslog_lines: u64,
    /// Connection counts of the scaling table (plain TCP).
    #[arg(long, value_delimiter = ',', default_value = "1,10,100,1000")]
    scaling_connections: Vec<u32>,
    /// Collectors of the scaling table; empty skips it.
    #[arg(long, value_delimiter = ',', default_value = "ours,rsyslog,copier")]
    scaling_collectors: Vec<String>,
    /// Collectors whose latency is measured (idle and at half their throughput); empty skips.
    #[arg(long, value_delimiter = ',', default_value = "ours,rsyslog")]
    latency_collectors: Vec<String>,
    /// Probe lines per latency measurement.
    #[arg(long, default_value_t = 500)]
    latency_probes: usize,
    /// Milliseconds between probe lines.
    #[arg(long, default_value_t = 5)]
    latency_interval_ms: u64,
    /// Extra scenarios (udp, churn, idle10k, all; empty skips): `auto` runs
    /// all of them when rsyslog is among --collectors, none otherwise.
    #[arg(long, value_delimiter = ',', default_value = "auto")]
    scenarios: Vec<String>,
    /// Collectors of the extra scenarios (ours, rsyslog, syslog-ng).
    #[arg(long, value_delimiter = ',', default_value = "ours,rsyslog,syslog-ng")]
    scenario_collectors: Vec<String>,
    /// Datagrams per udp run.
    #[arg(long, default_value_t = 500_000)]
    udp_lines: u64,
    /// Seconds of each churn run.
    #[arg(long, default_value_t = 5.0)]
    churn_seconds: f64,
    /// Concurrent connecting workers of a churn run.
    #[arg(long, default_value_t = 8)]
    churn_workers: usize,
    /// Connections held open by an idle10k run.
    #[arg(long, default_value_t = 10_000)]
    idle_connections: u32,
    /// Seconds an idle10k run stays idle while CPU is measured.
    #[arg(long, default_value_t = 10.0)]
    idle_seconds: f64,
    /// Source addresses (127.0.0.2, ...) churn and idle10k connect from.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u8).range(1..=250))]
    source_addresses: u8,
    /// Also draw the comparison (lines/s and CPU per line) as an SVG chart here.
    #[arg(long, value_name = "FILE.svg")]
    chart: Option<PathBuf>,
    /// Runs of the kafka scenario (ours, a librdkafka producer, rsyslog's
    /// omkafka; plus one run of ours with the broker paused); 0 skips it.
    #[arg(long, default_value_t = 0)]
    kafka_runs: usize,
    /// Lines per kafka run (all connections together).
    #[arg(long, default_value_t = 1_000_000)]
    kafka_lines: u64,
    /// Seconds the broker is paused in the paused kafka run.
    #[arg(long, default_value_t = 5)]
    kafka_pause_secs: u64,
    /// The tansu broker (default: $PYSYSLOG_TANSU, else what
    /// tests/peers/tansu.sh --check finds).
    #[arg(long, value_name = "PATH")]
    tansu: Option<PathBuf>,
    /// Our collector's --max-queue-bytes in the kafka scenario (default: its
    /// own default).
    #[arg(long, value_name = "BYTES")]
    kafka_max_queue_bytes: Option<usize>,
    /// Leave rsyslog's omkafka out of the kafka scenario.
    #[arg(long)]
    no_omkafka: bool,
    /// Runs of the parse scenario (4 plain TCP connections of RFC 5424 and
    /// RFC 3164 lines in turn; ours with --parse-syslog, ours without
    /// parsing, rsyslog and syslog-ng writing the parsed host, app, procid,
    /// severity and message); 0, the default, skips it (opt-in, as kafka).
    #[arg(long, default_value_t = 0)]
    parse_runs: usize,
    /// Lines per parse run (all connections together).
    #[arg(long, default_value_t = 1_000_000)]
    parse_lines: u64,
    /// Collectors of the parse scenario (ours, rsyslog, syslog-ng; ours is
    /// two rows, with and without --parse-syslog).
    #[arg(long, value_delimiter = ',', default_value = "ours,rsyslog,syslog-ng")]
    parse_collectors: Vec<String>,
    /// Runs of the dynfile scenario (a file per sender: --dynfile-sources
    /// source addresses, --dynfile-connections connections at a time; ours
    /// with DynamicFileHandler, rsyslog with dynaFile, syslog-ng with
    /// file("DIR/$SOURCEIP.log")); 0, the default, skips it (opt-in).
    #[arg(long, default_value_t = 0)]
    dynfile_runs: usize,
    /// Lines per dynfile run (all senders together).
    #[arg(long, default_value_t = 1_000_000)]
    dynfile_lines: u64,
    /// Distinct senders of a dynfile run (127.0.1.1, 127.0.1.2, ...), one
    /// connection each.
    #[arg(long, default_value_t = 1000)]
    dynfile_sources: u32,
    /// Connections open at a time in a dynfile run (each sender closes its
    /// connection when done and the next sender's opens).
    #[arg(long, default_value_t = 100)]
    dynfile_connections: u32,
    /// Collectors of the dynfile scenario (ours, rsyslog, syslog-ng).
    #[arg(long, value_delimiter = ',', default_value = "ours,rsyslog,syslog-ng")]
    dynfile_collectors: Vec<String>,
    /// Runs of the json scenario (the parse scenario's lines written as one
    /// JSON object each: ours with --parse-syslog and python-json-logger's
    /// JsonFormatter, rsyslog with option.jsonf, syslog-ng with
    /// $(format-json)); 0, the default, skips it (opt-in).
    #[arg(long, default_value_t = 0)]
    json_runs: usize,
    /// Lines per json run (all connections together).
    #[arg(long, default_value_t = 1_000_000)]
    json_lines: u64,
    /// Collectors of the json scenario (ours, rsyslog, syslog-ng).
    #[arg(long, value_delimiter = ',', default_value = "ours,rsyslog,syslog-ng")]
    json_collectors: Vec<String>,
    /// Runs of the outage scenario (4 plain TCP connections; every line
    /// written to a file and forwarded over TCP to a target that is down for
    /// --outage-seconds shortly after the flood begins: ours with
    /// --spool-dir, rsyslog's omfwd with a disk-assisted queue, syslog-ng
    /// with disk-buffer(reliable(yes))); 0, the default, skips it (opt-in).
    #[arg(long, default_value_t = 0)]
    outage_runs: usize,
    /// Lines per outage run (all connections together).
    #[arg(long, default_value_t = 10_000_000)]
    outage_lines: u64,
    /// Seconds the forwarding target is down in an outage run.
    #[arg(long, default_value_t = 10.0)]
    outage_seconds: f64,
    /// Seconds after the target's return an outage run waits for it to
    /// have every line.
    #[arg(long, default_value_t = 180.0)]
    outage_drain_timeout: f64,
    /// Collectors of the outage scenario (ours, rsyslog, syslog-ng).
    #[arg(long, value_delimiter = ',', default_value = "ours,rsyslog,syslog-ng")]
    outage_collectors: Vec<String>,
    /// Ours' --spool-fsync policies in the outage scenario, a row each
    /// (batch, second, never).
    #[arg(long, value_delimiter = ',', default_value = "batch")]
    outage_fsync: Vec<String>,
    /// Seconds to wait for the last line of a run to reach the file.
    #[arg(long, default_value_t = 60.0)]
    verify_timeout: f64,
    /// Do not install missing peers; fail instead.
    #[arg(long)]
    no_install: bool,
    /// Exit 1 if any line was lost or duplicated, or a run failed.
    #[arg(long)]
    check_loss: bool,
    /// Also write the Markdown report to this file.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// The repository, the workspace root (tests/peers/install.sh, tests/data/tls).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/.."))]
    repo: PathBuf,
    /// Where run directories go (default: REPO/target/bench).
    #[arg(long)]
    work: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// The raw socket-to-file copier (the physical limit): no per-line work.
    Copier {
        host: String,
        port: u16,
        /// File every connection's bytes are appended to.
        #[arg(long)]
        out: PathBuf,
        /// TLS certificate chain (PEM).
        #[arg(long, requires = "key")]
        cert: Option<PathBuf>,
        /// TLS private key (PEM).
        #[arg(long, requires = "cert")]
        key: Option<PathBuf>,
    },
}

fn kinds(names: &[String]) -> Result<Vec<Kind>, String> {
    names
        .iter()
        .filter(|n| !n.is_empty())
        .map(|n| Kind::parse(n).ok_or(format!("unknown collector {n:?}")))
        .collect()
}

/// The tansu binary for the kafka scenario.
fn tansu(given: Option<PathBuf>, repo: &std::path::Path) -> Result<PathBuf, String> {
    if let Some(p) = given.or_else(|| std::env::var_os("PYSYSLOG_TANSU").map(PathBuf::from)) {
        return Ok(p);
    }
    let out = std::process::Command::new(repo.join("tests/peers/tansu.sh"))
        .arg("--check")
        .output()
        .map_err(|e| format!("tests/peers/tansu.sh: {e}"))?;
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if !out.status.success() {
        return Err(format!(
            "tansu is not built at {}: run tests/peers/tansu.sh (20-30 minutes cold), or give --tansu",
            path.display()
        ));
    }
    Ok(path)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("bench-peers: error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    if let Some(Cmd::Copier {
        host,
        port,
        out,
        cert,
        key,
    }) = cli.cmd
    {
        let tls = match (cert, key) {
            (Some(cert), Some(key)) => Some(
                pysyslog::tls::load(&pysyslog::tls::TlsFiles {
                    cert,
                    key,
                    client_ca: None,
                    min_version: pysyslog::tls::MinVersion::Tls12,
                    client_names: Vec::new(),
                })
                .map_err(|e| e.to_string())?
                .config,
            )
            .map(|c: Arc<_>| c),
            _ => None,
        };
        bench::copier::run(&host, port, &out, tls).map_err(|e| e.to_string())?;
        return Ok(ExitCode::SUCCESS);
    }

    let transports = cli
        .transports
        .iter()
        .filter(|t| !t.is_empty())
        .map(|t| match t.as_str() {
            "plain" => Ok(false),
            "tls" => Ok(true),
            o => Err(format!("unknown transport {o:?} (plain, tls)")),
        })
        .collect::<Result<Vec<bool>, String>>()?;
    let collectors = kinds(&cli.collectors)?;
    let extra = bench::scenarios::ExtraPlan {
        scenarios: bench::scenarios::parse_extras(
            &cli.scenarios,
            collectors.contains(&Kind::Rsyslog),
        )?,
        collectors: kinds(&cli.scenario_collectors)?,
        udp_lines: cli.udp_lines.max(1),
        churn_seconds: cli.churn_seconds.max(0.1),
        churn_workers: cli.churn_workers.max(1),
        idle_connections: cli.idle_connections.max(1),
        idle_seconds: cli.idle_seconds.max(0.1),
        source_addresses: cli.source_addresses,
    };
    if let Some(k) = extra
        .collectors
        .iter()
        .find(|k| matches!(k, Kind::Pysyslog | Kind::Copier))
        .filter(|_| !extra.scenarios.is_empty())
    {
        return Err(format!(
            "{} cannot run the extra scenarios (ours, rsyslog, syslog-ng)",
            k.name()
        ));
    }
    let parse = if cli.parse_runs > 0 {
        Some(bench::parse::ParsePlan {
            runs: cli.parse_runs,
            lines: cli.parse_lines.max(4),
            connections: 4,
            sides: bench::parse::Side::of(&kinds(&cli.parse_collectors)?)?,
            verify_timeout: cli.verify_timeout,
        })
    } else {
        None
    };
    let dynfile = if cli.dynfile_runs > 0 {
        let connections = cli.dynfile_connections.clamp(1, 10_000);
        Some(bench::dynfile::DynfilePlan {
            runs: cli.dynfile_runs,
            lines: cli.dynfile_lines,
            sources: cli.dynfile_sources.clamp(connections, 10_000),
            connections,
            kinds: bench::dynfile::kinds(&kinds(&cli.dynfile_collectors)?)?,
            verify_timeout: cli.verify_timeout,
        })
    } else {
        None
    };
    let json = if cli.json_runs > 0 {
        Some(bench::json::JsonPlan {
            runs: cli.json_runs,
            lines: cli.json_lines.max(4),
            connections: 4,
            kinds: bench::json::kinds(&kinds(&cli.json_collectors)?)?,
            verify_timeout: cli.verify_timeout,
        })
    } else {
        None
    };
    let outage = if cli.outage_runs > 0 {
        Some(bench::outage::OutagePlan {
            runs: cli.outage_runs,
            lines: cli.outage_lines.max(4),
            connections: 4,
            outage: Duration::from_secs_f64(cli.outage_seconds.max(0.1)),
            sides: bench::outage::Side::of(&kinds(&cli.outage_collectors)?, &cli.outage_fsync)?,
            verify_timeout: cli.verify_timeout.max(cli.outage_drain_timeout),
            drain_timeout: Duration::from_secs_f64(cli.outage_drain_timeout.max(1.0)),
        })
    } else {
        None
    };
    let mut opt_in_collectors = match &parse {
        Some(_) => kinds(&cli.parse_collectors)?,
        None => Vec::new(),
    };
    opt_in_collectors.extend(dynfile.iter().flat_map(|d| d.kinds.iter().copied()));
    opt_in_collectors.extend(json.iter().flat_map(|j| j.kinds.iter().copied()));
    if outage.is_some() {
        opt_in_collectors.extend(kinds(&cli.outage_collectors)?);
    }
    let plan = Plan {
        opt_in_collectors,
        collectors,
        connections: cli.connections,
        transports,
        runs: cli.runs.max(1),
        lines: cli.lines,
        pysyslog_lines: cli.pysyslog_lines,
        scaling_connections: cli.scaling_connections,
        scaling_collectors: kinds(&cli.scaling_collectors)?,
        latency_collectors: kinds(&cli.latency_collectors)?,
        latency_probes: cli.latency_probes.max(1),
        latency_interval: Duration::from_millis(cli.latency_interval_ms),
        verify_timeout: cli.verify_timeout,
        extra,
    };
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let bin_dir = exe.parent().ok_or("no binary directory")?.to_path_buf();
    let repo = cli.repo;
    let env = Env {
        peers: std::env::var_os("PYSYSLOG_PEERS")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo.join("target/peers/root")),
        venv: repo.join("target/bench/venv"),
        work: cli.work.unwrap_or_else(|| repo.join("target/bench")),
        bin_dir,
        repo,
    };
    std::fs::create_dir_all(&env.work).map_err(|e| format!("{}: {e}", env.work.display()))?;
    for b in ["pysyslog", "pysyslog-flood"] {
        if !env.bin_dir.join(b).exists() {
            return Err(format!(
                "{} is missing next to bench-peers: build with cargo build --release --workspace --bins",
                b
            ));
        }
    }
    bench::ensure_installed(&env, &plan.all_collectors(), !cli.no_install)?;
    bench::raise_nofile();

    let kafka = if cli.kafka_runs > 0 {
        Some(bench::kafka::KafkaPlan {
            runs: cli.kafka_runs,
            lines: cli.kafka_lines.max(4),
            connections: 4,
            pause: Duration::from_secs(cli.kafka_pause_secs),
            tansu: tansu(cli.tansu.clone(), &env.repo)?,
            omkafka: !cli.no_omkafka,
            max_queue_bytes: cli.kafka_max_queue_bytes,
        })
    } else {
        None
    };

    let started = Instant::now();
    let results = bench::run(&env, &plan);
    let kafka_results = kafka.as_ref().map(|k| (k, bench::kafka::run(&env, k)));
    let parse_results = parse.as_ref().map(|p| (p, bench::parse::run(&env, p)));
    let dynfile_results = dynfile.as_ref().map(|p| (p, bench::dynfile::run(&env, p)));
    let json_results = json.as_ref().map(|p| (p, bench::json::run(&env, p)));
    let outage_results = outage.as_ref().map(|p| (p, bench::outage::run(&env, p)));
    let header = bench::header(&env, &plan, Some(started.elapsed()));
    let mut text = bench::report(&plan, &results, &header);
    if let Some((k, r)) = &kafka_results {
        text.push('\n');
        text.push_str(&bench::kafka::report(k, r));
    }
    if let Some((p, r)) = &parse_results {
        text.push('\n');
        text.push_str(&bench::parse::report(p, r));
    }
    if let Some((p, r)) = &dynfile_results {
        text.push('\n');
        text.push_str(&bench::dynfile::report(p, r));
    }
    if let Some((p, r)) = &json_results {
        text.push('\n');
        text.push_str(&bench::json::report(p, r));
    }
    if let Some((p, r)) = &outage_results {
        text.push('\n');
        text.push_str(&bench::outage::report(p, r));
    }
    println!("{text}");
    if let Some(path) = &cli.output {
        std::fs::write(path, &text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if let Some(path) = &cli.chart {
        bench::chart::draw(path, &bench::chart::data(&plan, &results))?;
        bench::say(&format!("chart written to {}", path.display()));
    }
    if cli.check_loss {
        let (kafka_lost, kafka_errors) = kafka_results
            .as_ref()
            .map_or((0, 0), |(_, r)| (r.losses(), r.errors.len()));
        let (parse_lost, parse_errors) = parse_results
            .as_ref()
            .map_or((0, 0), |(_, r)| (r.losses(), r.errors.len()));
        let (dynfile_lost, dynfile_errors) = dynfile_results
            .as_ref()
            .map_or((0, 0), |(_, r)| (r.losses(), r.errors.len()));
        let (json_lost, json_errors) = json_results
            .as_ref()
            .map_or((0, 0), |(_, r)| (r.losses(), r.errors.len()));
        let (outage_lost, outage_errors) = outage_results
            .as_ref()
            .map_or((0, 0), |(_, r)| (r.losses(), r.errors.len()));
        let lost = bench::losses(&results)
            + kafka_lost
            + parse_lost
            + dynfile_lost
            + json_lost
            + outage_lost;
        let errors = results.errors.len()
            + kafka_errors
            + parse_errors
            + dynfile_errors
            + json_errors
            + outage_errors;
        if lost > 0 || errors > 0 {
            eprintln!("bench-peers: {lost} lines lost or duplicated, {errors} failed runs");
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}
