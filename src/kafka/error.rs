//! The Kafka output's errors (settings, producer, refused records).

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
