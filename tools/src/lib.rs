//! The tools around the pysyslog collector, kept out of the product crate so
//! that the collector's dependencies and build stay its own:
//!
//! - [`flood`] is the load generator behind `pysyslog-flood` (tests and benchmarks).
//! - [`bench`](mod@bench) is the comparison driver behind `bench-peers`: it starts
//!   each collector (ours, rsyslog, syslog-ng, pysyslog 0.1.0, a raw copier) on
//!   loopback, floods it and reports the figures in the README's Performance section.

pub mod bench;
pub mod flood;
