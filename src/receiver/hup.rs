//! SIGHUP: reopen output files, apply the logging configuration and the TLS
//! certificate the monitor read again, in that order, in band with the data
//! (under `--user` the TLS files are not read again: the monitor says so).
//!
//! Owns: the HUP sequence. The monitor reads the files (the receiver may
//! open none) and sends them as an order ([`crate::control::Order`]). The reopen and the
//! reload travel as batch items after every line read before the signal, so
//! those lines are written with the old configuration and later ones with the
//! new. An invalid new configuration is logged under `pysyslog.config` and the
//! old one stays. A respawned writer starts from the newest valid
//! configuration (the monitor keeps it, see [`crate::monitor::writers`]).

use super::accept::Acceptor;
use crate::control::ConfigText;
use crate::control::{PemBytes, TlsReload};
use crate::link::WriterLink;
use crate::logging::level;
use crate::metrics::counts::Reloads;
use crate::tls::{self, TlsFiles};

const LOGGER: &str = "pysyslog.config";

#[derive(Debug)]
pub struct Reloader {
    /// The certificate and key's names and settings; `None` for plain TCP.
    tls: Option<TlsFiles>,
    /// Reloads of the logging configuration, for the metrics.
    reloads: Reloads,
}

impl Reloader {
    pub fn new(tls: Option<TlsFiles>) -> Reloader {
        Reloader {
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

    /// The monitor's reload order: reopen, then the logging configuration
    /// and the TLS files it read again (`None`: not configured).
    pub fn apply(
        &mut self,
        logging: Option<Result<ConfigText, String>>,
        pems: Option<TlsReload>,
        link: &mut WriterLink,
        listeners: &mut Acceptor,
    ) {
        link.reopen();
        match logging {
            None => {}
            // Applied or not: the writer counts it (it opens the files).
            Some(Ok(new)) => link.reload(new),
            Some(Err(e)) => {
                self.reloads.failed += 1;
                link.push_record(
                    level::ERROR,
                    LOGGER,
                    &format!("logging configuration not reloaded, keeping the previous one: {e}"),
                )
            }
        }
        match (&self.tls, pems) {
            (Some(files), Some(TlsReload::Read(pems))) => {
                reload_tls(files, Ok(pems), link, listeners)
            }
            (Some(files), Some(TlsReload::Failed(e))) => reload_tls(files, Err(e), link, listeners),
            (_, Some(TlsReload::Kept(why))) => link.push_record(
                level::INFO,
                "pysyslog.tls",
                &format!("TLS certificate and key not re-read: {why}"),
            ),
            _ => {}
        }
    }
}

/// New connections use the new certificate and key, established ones keep
/// theirs. A bad file keeps the old configuration.
fn reload_tls(
    files: &TlsFiles,
    pems: Result<PemBytes, String>,
    link: &mut WriterLink,
    listeners: &mut Acceptor,
) {
    let built = pems.and_then(|p| {
        let pems = tls::TlsPems::from(p);
        tls::build(files, &pems).map_err(|e| e.to_string())
    });
    match built {
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

/// Seconds since the Unix epoch, now.
fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
