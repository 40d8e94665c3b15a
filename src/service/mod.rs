//! What the receiver needs to act as a service: re-reading the logging
//! configuration on SIGHUP, and telling systemd about its state.
//!
//! Owns: where the configuration is re-read from (an absolute path, with
//! relative file names inside it resolved against the start-up directory, as
//! at start, even after `--daemonize` changed to `/`). Does not own: the
//! signal handling ([`crate::receiver`]) or applying a configuration
//! ([`crate::writer`]).

pub mod notify;

use std::path::PathBuf;

use crate::logging::ConfigError;
use crate::writer::ConfigText;
use notify::Notifier;

/// Receiver-side hooks, all optional.
#[derive(Debug, Clone, Default)]
pub struct ServiceHooks {
    /// `--logging-config`, re-read on SIGHUP; `None` without one.
    pub reload: Option<ConfigReload>,
    /// systemd's notification socket, when run with `Type=notify`.
    pub notify: Option<Notifier>,
}

impl ServiceHooks {
    pub fn notify_ready(&self) {
        if let Some(n) = &self.notify {
            n.ready();
        }
    }

    pub fn notify_reloading(&self) {
        if let Some(n) = &self.notify {
            n.reloading();
        }
    }

    pub fn notify_stopping(&self) {
        if let Some(n) = &self.notify {
            n.stopping();
        }
    }
}

/// The logging configuration file, and the directory it is read relative to.
#[derive(Debug, Clone)]
pub struct ConfigReload {
    pub path: PathBuf,
    pub cwd: PathBuf,
}

impl ConfigReload {
    /// Read and validate the file again; the text is what the writer gets.
    pub fn load(&self) -> Result<ConfigText, ConfigError> {
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
