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

pub mod output;
pub mod reports;
pub mod settings;

pub use output::{DeliverySink, KafkaOut, Progress};

/// What goes wrong with a KafkaHandler's settings or producer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KafkaError {
    /// A `properties` entry the handler sets itself (from `argument`).
    #[error("properties: '{property}' is set by the handler's '{argument}' argument")]
    SetByArgument {
        property: String,
        argument: &'static str,
    },
    /// A `properties` entry the handler relies on its own value for.
    #[error("properties: '{0}' cannot be set: the handler relies on its own value")]
    Reserved(String),
    /// What librdkafka says of the properties.
    #[error("properties: {0}")]
    Properties(String),
    #[error("bootstrap_servers: {0:?} is not host:port")]
    BadServer(String),
    #[error("cannot create the Kafka producer: {0}")]
    Create(String),
    #[error("cannot start the Kafka poll thread: {0}")]
    PollThread(String),
    /// librdkafka refused a record for good (too large, say).
    #[error("Kafka refused the record: {0}")]
    Refused(String),
}
pub use reports::UNTRACKED;
pub use settings::{Compression, KafkaArgs, KeySource};
