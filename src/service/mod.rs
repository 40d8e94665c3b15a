//! What the collector needs to act as a service: the receiver reporting its
//! state to the monitor, which tells systemd (whose notifications it sends:
//! [`notify`]).
//!
//! Owns: the receiver's hooks. Does not own: the signal handling
//! ([`crate::receiver`]), re-reading the configuration on SIGHUP
//! ([`crate::monitor::reread`]) or applying it ([`crate::writer`]).

pub mod notify;

use crate::control::{ServiceState, StateReporter};

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
