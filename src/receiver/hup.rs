//! SIGHUP: reopen output files, re-read the logging configuration and the TLS
//! certificate, in that order, in band with the data.
//!
//! Owns: the HUP sequence. The reopen and the reload travel as batch items
//! after every line read before the signal, so those lines are written with
//! the old configuration and later ones with the new. An invalid new
//! configuration is logged under `pysyslog.config` and the old one stays.
//! A respawned writer starts from the newest valid configuration (falling back
//! to the one before it if the newest cannot be applied).

use super::Receiver;
use crate::logging::level;
use crate::tls;

const LOGGER: &str = "pysyslog.config";

impl Receiver {
    pub(super) fn on_hup(&mut self) {
        self.config.hooks.notify_reloading();
        self.link.reopen();
        self.reload_logging();
        self.reload_tls();
        self.config.hooks.notify_ready();
    }

    fn reload_logging(&mut self) {
        let Some(reload) = &self.config.hooks.reload else {
            return;
        };
        match reload.load() {
            Ok(new) => {
                self.link.reload(
                    reload.source_bytes(),
                    reload.cwd_bytes(),
                    new.json.as_bytes(),
                    new.config,
                );
            }
            Err(e) => self.link.push_record(
                level::ERROR,
                LOGGER,
                &format!("logging configuration not reloaded, keeping the previous one: {e}"),
            ),
        }
    }

    /// Re-read the certificate and key: new connections use them, established
    /// ones keep theirs. A bad file keeps the old configuration.
    fn reload_tls(&mut self) {
        let Some(files) = &self.config.tls else {
            return;
        };
        match tls::load(files) {
            Ok(loaded) => {
                for warning in &loaded.warnings {
                    self.link.warning("pysyslog.tls", warning);
                }
                self.tls_config = Some(loaded.config);
                self.link.push_record(
                    level::INFO,
                    "pysyslog.tls",
                    "TLS certificate and key reloaded",
                );
            }
            Err(e) => self.link.push_record(
                level::ERROR,
                "pysyslog.tls",
                &format!("TLS reload failed, keeping the previous certificate: {e}"),
            ),
        }
    }
}
