//! The top-level error: every module's error, and the exit status it maps to.
//!
//! Exit statuses: 2 for anything wrong at start-up that the operator must fix
//! (usage, configuration, address, permissions); 1 for failures at run time.

use super::daemonize::DaemonizeError;
use super::pidfile::PidFileError;
use crate::cli::UsageError;
use crate::link::SpawnError;
use crate::logging::ConfigError;
use crate::permissions::PermissionError;
use crate::privdrop::PrivError;
use crate::receiver::listener::BindError;
use crate::receiver::ReceiverError;
use crate::tls::TlsError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Usage(#[from] UsageError),
    #[error("logging configuration: {0}")]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Permissions(#[from] PermissionError),
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    #[error(transparent)]
    Receiver(#[from] ReceiverError),
    #[error(transparent)]
    Privileges(#[from] PrivError),
    #[error(transparent)]
    Daemonize(#[from] DaemonizeError),
    #[error(transparent)]
    PidFile(#[from] PidFileError),
    #[error("{0}")]
    Io(#[source] std::io::Error),
    #[error(transparent)]
    Monitor(#[from] crate::monitor::MonitorError),
    /// The receiver ended with this status, having said why itself: the
    /// monitor leaves with it and prints nothing.
    #[error("the receiver process exited with status {0}")]
    ReceiverExited(i32),
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_)
            | Error::Config(_)
            | Error::Bind(_)
            | Error::Tls(_)
            | Error::Permissions(_) => 2,
            Error::Spawn(SpawnError::Config(_)) => 2,
            Error::Privileges(e) => e.exit_code(),
            Error::PidFile(e) => e.exit_code(),
            Error::Daemonize(_) => 1,
            Error::Spawn(_) | Error::Receiver(_) | Error::Io(_) | Error::Monitor(_) => 1,
            Error::ReceiverExited(code) => *code,
        }
    }
}
