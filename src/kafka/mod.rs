//! Kafka output: the `pysyslog.handlers.KafkaHandler` class's producer.
//!
//! Owns: the handler's librdkafka settings ([`settings`]), its producer and
//! poll thread ([`output`]) and what librdkafka reports back ([`reports`]).
//! Does not own: the handler's formatting and counters (the logging
//! engine's `handler/kafka.rs`), nor when a batch is acknowledged (the
//! writer's gate, which implements [`DeliverySink`]).
//!
//! It lives in the writer only: librdkafka starts threads, and the receiver
//! and the monitor stay single-threaded. The receiver and the monitor only
//! check the settings, which makes no thread.

mod error;
pub mod output;
pub mod reports;
pub mod settings;

pub use error::KafkaError;
pub use output::{DeliverySink, KafkaOut, Progress};

pub use reports::UNTRACKED;
pub use settings::{Compression, KafkaArgs, KeySource};
