//! The writers the monitor has started for the running receiver, and what a
//! writer is started with.
//!
//! Owns: the logging configuration every writer boots from (the one read at
//! start-up or at the last SIGHUP, with the one before it to fall back to),
//! the cap on writers alive at once, and reaping them. Does not own:
//! starting one ([`super::spawn`]), reading the configuration
//! ([`crate::service`]) or deciding when a writer is needed
//! ([`crate::link`], in the receiver).
//!
//! Why the monitor's copy: a writer's Landlock rights, the files it opens
//! and the places it connects to all follow from the configurations it
//! boots with. The receiver faces the network; if a writer were built from
//! what the receiver sends, code running there could have writers write
//! wherever the service user may (anywhere, as root without `--user`) and
//! connect anywhere. So the receiver's request names no configuration: it
//! says only that a writer is needed, and whether one died before.
//!
//! Why one at a time: the receiver reaps a writer before it asks for the
//! next (after a death, and at a reload's hand-over, where the old writer
//! has exited before its successor is asked for), and the monitor finishes
//! a receiver's writers before it starts a new receiver. A request while a
//! writer runs is therefore not the receiver's code at work: it is refused
//! and reported.

use std::time::{Duration, Instant};

use ipc_channel::ipc::IpcBytesReceiver;
use nix::unistd::Pid;

use super::spawn::{self, SpawnedWriter};
use crate::control::SpawnError;
use crate::control::{ConfigText, EngineSource, Start};
use crate::ipc::counters::SharedCounters;
use crate::ipc::Slots;
use crate::writer::records::RecordOptions;

/// Writers alive at once (started and not reaped).
pub const MAX_WRITERS: usize = 1;

/// How long writers left behind by a receiver that ended are given to exit
/// (they finish what they hold first).
const WRITER_EXIT_PATIENCE: Duration = Duration::from_secs(10);

/// The running receiver's writers and what the next one boots with.
#[derive(Debug)]
pub struct Writers {
    /// The newest logging configuration and the one before it.
    source: EngineSource,
    /// How lines become records (`--parse-syslog` and its options).
    records: RecordOptions,
    /// `--spool-dir` and its options.
    spool: Option<crate::spool::Settings>,
    /// Started and not reaped yet, oldest first.
    running: Vec<Pid>,
}

impl Writers {
    pub fn new(
        source: EngineSource,
        records: RecordOptions,
        spool: Option<crate::spool::Settings>,
    ) -> Writers {
        Writers {
            source,
            records,
            spool,
            running: Vec::new(),
        }
    }

    /// Start a writer that reads batches from `data`, built from the
    /// monitor's configuration; refused while [`MAX_WRITERS`] run.
    pub fn start(
        &mut self,
        data: IpcBytesReceiver,
        start: Start,
        (slots, counters): (&Slots, &SharedCounters),
    ) -> Result<SpawnedWriter, SpawnError> {
        if self.running.len() >= MAX_WRITERS {
            return Err(SpawnError::TooMany {
                running: self.running[0],
                max: MAX_WRITERS,
            });
        }
        let writer = spawn::spawn(
            data,
            &self.source,
            (slots, counters),
            start,
            (&self.records, &self.spool),
        )?;
        self.running.push(writer.pid);
        Ok(writer)
    }

    /// Whether `pid` is one of these writers.
    pub fn is_running(&self, pid: Pid) -> bool {
        self.running.contains(&pid)
    }

    /// Wait up to `patience` for writer `pid` to exit (then kill it); how it
    /// ended, in words. A pid that is not one of these writers is left alone.
    pub fn reap(&mut self, pid: Pid, patience: Duration) -> String {
        if !self.is_running(pid) {
            return "not known: not a writer of this collector".to_owned();
        }
        self.running.retain(|w| *w != pid);
        spawn::reap(pid, patience)
    }

    /// A SIGHUP read `config`: writers started from now on boot from it,
    /// falling back to the one in force before.
    pub fn reloaded(&mut self, config: ConfigText) {
        let current = std::mem::replace(&mut self.source, EngineSource::Basic);
        self.source = current.reloaded(config);
    }

    /// The receiver ended: its writers finish what they hold (their data
    /// channel closed) and exit; any still running after the patience is
    /// killed.
    pub fn finish(&mut self) {
        let deadline = Instant::now() + WRITER_EXIT_PATIENCE;
        for pid in self.running.drain(..) {
            let left = deadline.saturating_duration_since(Instant::now());
            let _ = spawn::reap(pid, left);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_while_one_runs() {
        let mut writers = Writers::new(EngineSource::Basic, RecordOptions::default(), None);
        // A pid that is not ours: only the bookkeeping is exercised.
        writers.running.push(Pid::from_raw(i32::MAX));
        let (_tx, rx) = ipc_channel::ipc::bytes_channel().expect("channel");
        let refused = writers
            .start(
                rx,
                Start::AfterCrash,
                (&Slots::none(), &SharedCounters::none()),
            )
            .expect_err("a second writer");
        assert_eq!(
            refused.to_string(),
            format!(
                "refused the receiver's request for a writer: writer process (pid {}) is running, and at most 1 may run at a time",
                i32::MAX
            )
        );
        assert!(writers.is_running(Pid::from_raw(i32::MAX)));
    }

    #[test]
    fn writers_boot_from_the_newest_configuration_and_the_one_before() {
        let mut writers = Writers::new(EngineSource::Basic, RecordOptions::default(), None);
        let text =
            |n: &str| ConfigText::new(format!("{{\"n\": \"{n}\"}}"), "/c".as_ref(), "/".as_ref());
        writers.reloaded(text("a"));
        writers.reloaded(text("b"));
        writers.reloaded(text("c"));
        let jsons: Vec<&str> = writers
            .source
            .configs()
            .iter()
            .map(|c| c.json.as_str())
            .collect();
        assert_eq!(jsons, ["{\"n\": \"c\"}", "{\"n\": \"b\"}"]);
    }
}
