//! Everything that crosses between the receiver and the writer process.
//!
//! Owns: the batch wire format ([`batch`]), the status stream format
//! ([`status`]), a line's origin ([`origin`]) and the shared batch slots ([`slots`]). Does not own: sockets,
//! processes or queues.

pub mod batch;
pub mod counters;
pub mod origin;
mod shared_memory;
pub mod slots;
pub mod status;

pub use batch::{BatchBuilder, BatchReader, Item};
pub use slots::{SlotRef, Slots};
pub use status::{Status, StatusDecoder};
