//! What the collector needs to act as a service: re-reading the logging
//! configuration on SIGHUP (in the monitor), and the receiver reporting its
//! state (the monitor tells
//! systemd, whose notifications it sends: [`notify`]).
//!
//! Owns: where the configuration is re-read from (an absolute path, with
//! relative file names inside it resolved against the start-up directory, as
//! at start, even after `--daemonize` changed to `/`), and checking it as
//! start-up did (a monitor still root refuses a file others could change). Does not own: the
//! signal handling ([`crate::receiver`]) or applying a configuration
//! ([`crate::writer`]).

pub mod notify;

use std::path::PathBuf;

use crate::logging::ConfigError;
use crate::monitor::control::{ServiceState, StateReporter};
use crate::permissions::{self, PermissionError};
use crate::writer::ConfigText;

/// Receiver-side hooks, all optional.
#[derive(Debug, Clone, Default)]
pub struct ServiceHooks {
    /// The monitor, which tells systemd and the launcher (`None` in tests).
    pub states: Option<StateReporter>,
}

impl ServiceHooks {
    fn report(&self, state: ServiceState) {
        if let Some(s) = &self.states {
            s.report(state);
        }
    }

    /// Start-up is done: listening, with the writer ready.
    pub fn notify_ready(&self, warnings: &[String]) {
        self.report(ServiceState::Ready {
            warnings: warnings.to_vec(),
        });
    }

    /// SIGHUP reached the receiver itself: the monitor reads the files
    /// again and sends them.
    pub fn request_reload(&self) {
        if let Some(s) = &self.states {
            s.request_reload();
        }
    }

    pub fn notify_reloaded(&self) {
        self.report(ServiceState::Reloaded);
    }

    pub fn notify_stopping(&self) {
        self.report(ServiceState::Stopping);
    }
}

/// The logging configuration file, and the directory it is read relative to.
#[derive(Debug, Clone)]
pub struct ConfigReload {
    pub path: PathBuf,
    pub cwd: PathBuf,
}

/// Why a SIGHUP did not reload the logging configuration.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Permissions(#[from] PermissionError),
}

impl ConfigReload {
    /// Read and validate the file again; the text is what the writer gets.
    /// Still root (no `--user`), the file is checked as at start-up.
    pub fn load(&self) -> Result<ConfigText, ReloadError> {
        let root = nix::unistd::geteuid().is_root();
        permissions::check_not_writable_by_others("--logging-config", &self.path, None, root)?;
        let json = std::fs::read_to_string(&self.path).map_err(|e| {
            ConfigError::new(
                &self.path,
                "",
                crate::logging::os_error_text(&e, &self.path),
            )
        })?;
        let text = ConfigText::new(json, &self.path, &self.cwd);
        text.parse()?;
        Ok(text)
    }
}
