//! Supervising the writer: replacing one that died, and letting the last one
//! finish at stop.
//!
//! Owns: the restart budget and the replay hand-over to a new writer. Does not
//! own: forking ([`crate::daemon::spawn`]) or the queues ([`super::link`]).

use std::time::{Duration, Instant};

use mio::Interest;

use super::link::LinkError;
use super::{
    Receiver, ReceiverError, FORCED_STOP_WRITER_TIMEOUT, MAX_RESTARTS, RESTART_WINDOW, STATUS,
    STOP_TIMEOUT,
};
use crate::daemon::spawn;
use crate::logging::level;

impl Receiver {
    /// The writer died: reap it, start a new one, replay what it had not acknowledged.
    pub(super) fn restart_writer(&mut self, cause: LinkError) -> Result<(), ReceiverError> {
        let old = self.sink.link.pid();
        let _ = self.poll.registry().deregister(&mut self.sink.link.status);
        let how = spawn::reap(old, Duration::from_secs(2));
        let now = Instant::now();
        while self
            .restarts
            .front()
            .is_some_and(|t| now.duration_since(*t) > RESTART_WINDOW)
        {
            self.restarts.pop_front();
        }
        if self.restarts.len() >= MAX_RESTARTS {
            return Err(ReceiverError::RestartBudget {
                restarts: self.restarts.len(),
                window: RESTART_WINDOW.as_secs(),
                last: format!("pid {old}, {how}"),
            });
        }
        self.restarts.push_back(now);
        let writer = spawn::spawn_writer(&self.engine_source, self.sink.link.slots())
            .map_err(ReceiverError::Respawn)?;
        let replay = self.sink.link.unacknowledged();
        self.sink
            .link
            .replace_writer(writer)
            .map_err(ReceiverError::Setup)?;
        self.poll
            .registry()
            .register(&mut self.sink.link.status, STATUS, Interest::READABLE)
            .map_err(ReceiverError::Setup)?;
        self.sink.record(
            level::ERROR,
            "pysyslog.writer",
            &format!(
                "writer process (pid {old}) died ({cause}; {how}); started pid {}, replaying {replay} unacknowledged batches",
                self.sink.link.pid()
            ),
        );
        Ok(())
    }

    /// Close the data channel and wait for the writer to write the rest and exit.
    pub(super) fn finish_writer(self) {
        let Receiver {
            sink, forced_stop, ..
        } = self;
        let pid = sink.link.close();
        let patience = if forced_stop {
            FORCED_STOP_WRITER_TIMEOUT
        } else {
            STOP_TIMEOUT
        };
        let _ = spawn::reap(pid, patience);
    }
}
