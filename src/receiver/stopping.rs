//! Stopping: where the receiver is between the first stop request and exit.
//!
//! Owns: the stop deadlines, how much a connection may still be read while
//! stopping, and how long the writer gets to finish. Does not own: what a stop
//! does to listeners and connections (the loop).

use std::time::{Duration, Instant};

/// A graceful stop gives up on draining sockets after this long.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// After a second stop request, the writer gets this long to write what it
/// holds before it is killed.
const FORCED_STOP_WRITER_TIMEOUT: Duration = Duration::from_secs(2);
/// Bytes read from one connection while stopping, at most: a sender that never
/// pauses must not keep the collector from stopping.
const STOP_READ_CAP_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopping {
    /// No stop was asked for.
    Running,
    /// A stop was asked for: read what every peer already sent, then finish,
    /// or give up draining at `until`.
    Draining { until: Instant },
    /// A second stop request: connections were abandoned, the loop ends at
    /// `until` (now) and the writer gets little time.
    Forced { until: Instant },
}

impl Stopping {
    pub fn is_running(&self) -> bool {
        *self == Stopping::Running
    }

    /// When the loop ends at the latest; `None` while running.
    pub fn deadline(&self) -> Option<Instant> {
        match *self {
            Stopping::Running => None,
            Stopping::Draining { until } | Stopping::Forced { until } => Some(until),
        }
    }

    /// The first stop request.
    pub fn begin(&mut self) {
        *self = Stopping::Draining {
            until: Instant::now() + STOP_TIMEOUT,
        };
    }

    /// Another stop request: end now.
    pub fn force(&mut self) {
        *self = Stopping::Forced {
            until: Instant::now(),
        };
    }

    /// Bytes one connection may read in a turn: `running` while running; while
    /// stopping, a connection gets one turn to deliver what it sent.
    pub fn read_budget(&self, running: usize) -> usize {
        match self {
            Stopping::Running => running,
            Stopping::Draining { .. } | Stopping::Forced { .. } => STOP_READ_CAP_BYTES,
        }
    }

    /// How long the writer may take to write the rest and exit.
    pub fn writer_patience(&self) -> Duration {
        match self {
            Stopping::Forced { .. } => FORCED_STOP_WRITER_TIMEOUT,
            Stopping::Running | Stopping::Draining { .. } => STOP_TIMEOUT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_stop_request_ends_now_and_shortens_the_writers_time() {
        let mut stopping = Stopping::Running;
        assert!(stopping.is_running());
        assert_eq!(stopping.deadline(), None);
        assert_eq!(stopping.read_budget(100), 100);

        stopping.begin();
        assert!(!stopping.is_running());
        assert!(stopping.deadline().is_some_and(|d| d > Instant::now()));
        assert_eq!(stopping.read_budget(100), STOP_READ_CAP_BYTES);
        assert_eq!(stopping.writer_patience(), STOP_TIMEOUT);

        stopping.force();
        assert!(stopping.deadline().is_some_and(|d| d <= Instant::now()));
        assert_eq!(stopping.writer_patience(), FORCED_STOP_WRITER_TIMEOUT);
    }
}
