//! SIGHUP: reopen output files, re-read the logging configuration and the TLS
//! certificate, in that order, in band with the data.
//!
//! Owns: the HUP sequence and where it re-reads from. The reopen and the
//! reload travel as batch items after every line read before the signal, so
//! those lines are written with the old configuration and later ones with the
//! new. An invalid new configuration is logged under `pysyslog.config` and the
//! old one stays. A respawned writer starts from the newest valid
//! configuration (the link keeps it, see [`crate::link`]).

use super::accept::Acceptor;
use crate::link::WriterLink;
use crate::logging::level;
use crate::metrics::counts::Reloads;
use crate::service::ConfigReload;
use crate::tls::{self, TlsFiles};

const LOGGER: &str = "pysyslog.config";

#[derive(Debug)]
pub struct Reloader {
    /// `--logging-config`; `None` without one.
    logging: Option<ConfigReload>,
    /// The certificate and key; `None` for plain TCP.
    tls: Option<TlsFiles>,
    /// Reloads of the logging configuration, for the metrics.
    reloads: Reloads,
}

impl Reloader {
    pub fn new(logging: Option<ConfigReload>, tls: Option<TlsFiles>) -> Reloader {
        Reloader {
            logging,
            tls,
            reloads: Reloads {
                last_success: unix_now(),
                ..Reloads::default()
            },
        }
    }

    /// How reloads went.
    pub fn reloads(&self) -> Reloads {
        self.reloads
    }

    pub fn on_hup(&mut self, link: &mut WriterLink, listeners: &mut Acceptor) {
        link.reopen();
        self.reload_logging(link);
        self.reload_tls(link, listeners);
    }

    fn reload_logging(&mut self, link: &mut WriterLink) {
        let Some(reload) = &self.logging else {
            return;
        };
        match reload.load() {
            Ok(new) => {
                link.reload(new);
                // Applied or not: the writer counts it (it opens the files).
            }
            Err(e) => {
                self.reloads.failed += 1;
                link.push_record(
                    level::ERROR,
                    LOGGER,
                    &format!("logging configuration not reloaded, keeping the previous one: {e}"),
                )
            }
        }
    }

    /// Re-read the certificate and key: new connections use them, established
    /// ones keep theirs. A bad file keeps the old configuration.
    fn reload_tls(&self, link: &mut WriterLink, listeners: &mut Acceptor) {
        let Some(files) = &self.tls else {
            return;
        };
        match tls::load(files) {
            Ok(loaded) => {
                for warning in &loaded.warnings {
                    link.warning("pysyslog.tls", warning);
                }
                listeners.replace_tls_config(&loaded.config);
                link.push_record(
                    level::INFO,
                    "pysyslog.tls",
                    "TLS certificate and key reloaded",
                );
            }
            Err(e) => link.push_record(
                level::ERROR,
                "pysyslog.tls",
                &format!("TLS reload failed, keeping the previous certificate: {e}"),
            ),
        }
    }
}

/// Seconds since the Unix epoch, now.
fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
