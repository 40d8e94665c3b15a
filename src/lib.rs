//! pysyslog: a syslog collector over TCP (and TLS) whose output is routed by
//! Python `logging.config.dictConfig` files.
//!
//! Two processes, for crash isolation:
//!
//! ```text
//!   peers --TCP/TLS--> receiver (mio loop) --ipc-channel batches--> writer (handlers)
//!                          ^                                           |
//!                          +------------------ acks -------------------+
//! ```
//!
//! - [`receiver`] owns sockets: accept, read, frame, batch. It knows nothing of formatting.
//! - [`ipc`] is the only code that knows the batch wire format.
//! - [`writer`] owns every output handler and drives the [`logging`] engine.
//! - [`logging`] is a pure library mirroring CPython's `logging` and `dictConfig`.
//! - [`daemon`] knows the start-up order, fork, signals and process lifecycle.
//! - [`cli`] parses arguments into settings; [`error`] maps failures to exit codes.

// What the collector runs never panics on input, the network or the disk:
// a failure there is an error with its context. Tests may unwrap.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod cli;
pub mod daemon;
pub mod error;
pub mod ipc;
pub mod link;
pub mod logging;
pub mod privdrop;
pub mod receiver;
pub mod service;
pub mod tls;
pub mod writer;
