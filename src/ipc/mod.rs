//! Everything that crosses between the receiver and the writer process.
//!
//! Owns: the batch wire format ([`batch`]) and the status stream format
//! ([`status`]). Does not own: sockets, processes or queues.

pub mod batch;
pub mod status;

pub use batch::{BatchBuilder, BatchReader, Item};
pub use status::{Status, StatusDecoder};
