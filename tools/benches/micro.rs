//! Micro-benchmarks of the per-line hot paths, one line = 120 bytes as in the
//! peer benchmark: framing in the receiver, the batch format between receiver
//! and writer, the writer's `%(asctime)s %(name)s %(message)s` formatting, and
//! the engine taking records into a file handler's batch buffer.
//! Run with `cargo bench -p pysyslog-tools --bench micro`; a quick pass: `-- --quick`.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use pysyslog::ipc::{BatchBuilder, BatchReader, Item};
use pysyslog::logging::{Config, Engine, Formatter, LogRecord, Style};
use pysyslog::receiver::framing::{Frame, Framer};
use pysyslog_tools::flood::payload::{ChunkBuilder, Framing, LineFormat};

const LINE: usize = 120;

/// `lines` flood lines of 120 bytes in one buffer.
fn stream(lines: u64, framing: Framing) -> Vec<u8> {
    let f = LineFormat::new("bench", LINE, framing).expect("line format");
    let mut b = ChunkBuilder::new(&f, 0, lines, lines as usize * LINE);
    b.next_chunk(usize::MAX).expect("chunk").to_vec()
}

fn framing(c: &mut Criterion) {
    let mut g = c.benchmark_group("framing");
    let lines = 2048u64; // 240 KiB, about one 256 KiB read turn
    g.throughput(Throughput::Elements(lines));
    for (name, framing) in [("lf", Framing::Lf), ("octet", Framing::Octet)] {
        let data = stream(lines, framing);
        g.bench_function(name, |b| {
            let mut framer = Framer::new(64 * 1024);
            b.iter(|| {
                let mut n = 0usize;
                framer.push(black_box(&data), |f| {
                    if let Frame::Line(l) = f {
                        n += l.len();
                    }
                });
                n
            })
        });
        // The same bytes split into 1500-byte reads: frames straddle reads.
        g.bench_function(format!("{name}_split_reads"), |b| {
            let mut framer = Framer::new(64 * 1024);
            b.iter(|| {
                let mut n = 0usize;
                for piece in data.chunks(1500) {
                    framer.push(black_box(piece), |f| {
                        if let Frame::Line(l) = f {
                            n += l.len();
                        }
                    });
                }
                n
            })
        });
    }
    g.finish();
}

fn batch(c: &mut Criterion) {
    let mut g = c.benchmark_group("batch");
    let lines: Vec<Vec<u8>> = stream(540, Framing::Lf)
        .chunks(LINE)
        .map(|l| l[..LINE - 1].to_vec())
        .collect(); // 540 lines: one 64 KiB batch
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function("encode", |b| {
        let mut bb = BatchBuilder::new();
        let mut seq = 0;
        // As in the receiver, the sealed buffer comes back for the next batch.
        let mut spare = Vec::new();
        b.iter(|| {
            for l in &lines {
                bb.push_line("127.0.0.1", black_box(l));
            }
            seq += 1;
            spare = bb.take(seq, std::mem::take(&mut spare));
            spare.len()
        })
    });
    let mut bb = BatchBuilder::new();
    for l in &lines {
        bb.push_line("127.0.0.1", l);
    }
    let encoded = bb.take(1, Vec::new());
    g.bench_function("decode", |b| {
        b.iter(|| {
            let (_, items) = BatchReader::new(black_box(&encoded)).expect("batch");
            let mut n = 0usize;
            for item in items {
                if let Ok(Item::Record { text, .. }) = item {
                    n += text.len();
                }
            }
            n
        })
    });
    g.finish();
}

fn formatting(c: &mut Criterion) {
    let mut g = c.benchmark_group("format");
    g.throughput(Throughput::Elements(1));
    let line = stream(1, Framing::Lf);
    let msg = std::str::from_utf8(&line[..LINE - 1]).expect("ascii");
    let defaults = serde_json::Map::new();
    let mut f = Formatter::new(
        Some("%(asctime)s %(name)s %(message)s"),
        None,
        Style::Percent,
        true,
        &defaults,
    )
    .expect("formatter");
    let now = 1_795_000_000.123;
    let record = |created: f64| LogRecord {
        name: "127.0.0.1",
        msg,
        levelno: 20,
        created,
        relative_created: 12.5,
        attrs: None,
    };
    let mut out = String::with_capacity(256);
    // As in the writer: one clock reading per batch, so consecutive records
    // share `created`.
    g.bench_function("asctime_name_message/same_time", |b| {
        b.iter(|| {
            out.clear();
            f.format(black_box(&record(now)), &mut out).expect("format");
            out.len()
        })
    });
    // A new millisecond every record: the time text is rebuilt each time.
    let mut t = now;
    g.bench_function("asctime_name_message/new_time", |b| {
        b.iter(|| {
            t += 0.001;
            out.clear();
            f.format(black_box(&record(t)), &mut out).expect("format");
            out.len()
        })
    });
    let mut basic = Formatter::basic();
    g.bench_function("basic_levelname_name_message", |b| {
        b.iter(|| {
            out.clear();
            basic
                .format(black_box(&record(now)), &mut out)
                .expect("format");
            out.len()
        })
    });
    g.finish();
}

/// `Engine::handle` into a FileHandler on /dev/null, written every 430
/// records (a 64 KiB batch of flood lines), as the writer drives it.
fn engine(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(1));
    let line = stream(1, Framing::Lf);
    let msg = std::str::from_utf8(&line[..LINE - 1]).expect("ascii");
    let json = r#"{"version": 1,
        "formatters": {"f": {"format": "%(asctime)s %(name)s %(message)s"}},
        "handlers": {"h": {"class": "logging.FileHandler", "filename": "/dev/null", "formatter": "f"}},
        "root": {"level": "INFO", "handlers": ["h"]}}"#;
    let config = Config::from_json_str_in(
        json,
        std::path::Path::new("bench.json"),
        std::path::Path::new("/"),
    )
    .expect("config");
    let mut e = Engine::build(&config).expect("engine");
    let record = |name| LogRecord {
        name,
        msg,
        levelno: 20,
        created: 1_795_000_000.123,
        relative_created: 12.5,
        attrs: None,
    };
    let mut n = 0u32;
    // One peer's lines in a row: routed and formatted once per batch.
    g.bench_function("file_handler/one_peer_runs", |b| {
        b.iter(|| {
            e.handle(black_box(&record("127.0.0.1")));
            n += 1;
            if n % 430 == 0 {
                e.end_batch();
            }
        })
    });
    // Peers alternating line by line: every record starts a new run.
    let peers = ["127.0.0.1", "127.0.0.2"];
    g.bench_function("file_handler/alternating_peers", |b| {
        b.iter(|| {
            n += 1;
            e.handle(black_box(&record(peers[n as usize % 2])));
            if n % 430 == 0 {
                e.end_batch();
            }
        })
    });
    g.finish();
}

criterion_group!(benches, framing, batch, formatting, engine);
criterion_main!(benches);
