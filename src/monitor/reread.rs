//! Re-reading the logging configuration on SIGHUP, in the monitor.
//!
//! Owns: where the configuration is re-read from (an absolute path, with
//! relative file names inside it resolved against the start-up directory, as
//! at start, even after `--daemonize` changed to `/`), and checking it as
//! start-up did (a monitor still root refuses a file others could change).

use std::path::PathBuf;

use crate::control::ConfigText;
use crate::logging::ConfigError;
use crate::permissions::{self, PermissionError};

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
