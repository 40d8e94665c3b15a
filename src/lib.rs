//! pysyslog: a syslog collector over TCP (and TLS) whose output is routed by
//! Python `logging.config.dictConfig` files.
//!
//! Three kinds of process, for crash isolation: a monitor that starts the
//! others, the receiver and its writers:
//!
//! ```text
//!   peers --TCP/TLS--> receiver ---- 9-byte slot references (ipc-channel) ---> writer --> files,
//!                      (mio loop) <------------- acks (Unix socket) ---------- (handlers)  streams,
//!                          |                                                      ^        syslog
//!                          +------ batches: shared slots of 64 KiB ---------------+
//!                                  (written by the receiver, read-only to the writer)
//! ```
//!
//! A sealed batch is copied into a free slot and only a reference to it goes
//! over the channel (a batch larger than a slot goes whole); the slot is
//! filled again once the writer acknowledges the batch, after every handler
//! wrote and flushed it. The receiver keeps every unacknowledged batch and
//! replays them to a new writer if the writer dies.
//!
//! - [`receiver`] owns sockets: accept, read, frame. It knows nothing of formatting.
//! - [`link`] owns everything between the framer and the writer process: the
//!   open batch, the queues and their bounds, the shared slots, acks, replay,
//!   forking and replacing the writer.
//! - [`ipc`] is the only code that knows the wire formats (batches, slot
//!   references, the status stream) and the shared slot mapping.
//! - [`writer`] owns every output handler and drives the [`logging`] engine.
//! - [`logging`] mirrors CPython's `logging` and `dictConfig`, and owns the
//!   output handlers (the Kafka producer itself lives in [`kafka`]).
//! - [`syslog`] parses RFC 5424 and RFC 3164 headers (pure).
//! - [`cidr`] is networks in CIDR notation, for the receiver and the filters.
//! - [`daemon`] knows the start-up order, detaching and the pid file.
//! - [`hardening`] closes inherited descriptors and forbids core dumps in both
//!   processes; [`privdrop`] drops root in both; [`permissions`] refuses
//!   trusted files others could change; [`service`] re-reads the
//!   configuration on SIGHUP and talks to systemd; [`tls`] loads certificates.
//! - [`cli`] parses arguments into settings; [`error`] maps failures to exit codes;
//!   [`fault`] names the faults the tests inject.

// What the collector runs never panics on input, the network or the disk:
// a failure there is an error with its context. Tests may unwrap.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod cidr;
pub mod cli;
pub mod confine;
pub mod control;
pub mod daemon;
/// The top-level error and its exit statuses (`daemon::error`).
pub use daemon::error;
pub mod fault;
pub mod hardening;
pub mod ipc;
pub mod kafka;
pub mod link;
pub mod logging;
pub mod metrics;
pub mod monitor;
pub mod permissions;
pub mod privdrop;
pub mod receiver;
pub mod say;
pub mod service;
pub mod spool;
pub mod syslog;
pub mod tls;
pub mod writer;
