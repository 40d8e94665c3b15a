//! One KafkaHandler's producer: records go in on the writer's thread, their
//! delivery reports come back on the handler's poll thread, which tells the
//! writer which batches Kafka has settled.
//!
//! Owns: the librdkafka producer and its poll thread, the batch each record
//! belongs to (the delivery opaque), producing again what may still pass,
//! noticing a broker that stopped acknowledging and when it came back, and
//! flushing at a reload or a stop. Does not own: formatting or encoding the
//! record (the logging handler), nor acknowledging batches to the receiver
//! (the writer's [`DeliverySink`]).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError as RdKafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, PurgeConfig};

use super::error::KafkaError;
use super::reports::{Reports, Resend, Totals, SPOOLED, UNTRACKED};
use super::settings::KafkaArgs;

/// Where the writer learns which records of which batch Kafka settled.
pub trait DeliverySink: Send + Sync {
    /// `runs`: (batch sequence number, records settled), in report order.
    fn settled(&self, runs: &[(u64, u64)]);
}

/// A broker that acknowledges nothing for this long while records wait is
/// reported as an outage (once, and once again when it comes back).
const STALL_AFTER: Duration = Duration::from_secs(5);

/// How long the poll thread waits for librdkafka's events at a time: also
/// how soon it sees the stop flag.
const POLL_WAIT: Duration = Duration::from_millis(100);

/// How long a closing handler waits for librdkafka's reports at a time.
const CLOSE_POLL: Duration = Duration::from_millis(50);

/// How often a closing handler that waits for Kafka says so.
const CLOSE_REMINDER: Duration = Duration::from_secs(10);

/// What the poll thread leaves for the writer's thread.
#[derive(Default)]
struct Shared {
    notices: Mutex<Vec<String>>,
    /// Outages noticed (each is counted once as a write error).
    outages: AtomicU64,
}

impl Shared {
    fn notice(&self, text: String) {
        match self.notices.lock() {
            Ok(mut n) => n.push(text),
            Err(p) => p.into_inner().push(text),
        }
    }
}

/// A KafkaHandler's output.
pub struct KafkaOut {
    name: String,
    topic: String,
    producer: Arc<BaseProducer<Reports>>,
    sink: Arc<OnceLock<Arc<dyn DeliverySink>>>,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    /// The poll thread; it hands back what it held to produce again.
    poller: Option<JoinHandle<VecDeque<Resend>>>,
    /// The batch the records produced now belong to.
    current: u64,
    /// Records produced for `current` since [`KafkaOut::take_produced`].
    produced: u64,
    produced_bytes: u64,
    /// Records librdkafka's queue had no room for, oldest first, produced
    /// by [`KafkaOut::produce_waiting`] as room comes. While any wait the
    /// engine reports the handler as holding and the writer takes no new
    /// batch, so they are at most the rest of one batch.
    waiting: VecDeque<Resend>,
    /// Totals already folded into the handler's counters.
    seen: Totals,
    seen_outages: u64,
}

/// Why a record was not produced.
enum Refusal {
    /// The queue is full: try again later.
    Full,
    /// For good (too large, say).
    Never(KafkaError),
}

impl std::fmt::Debug for KafkaOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaOut")
            .field("name", &self.name)
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

/// What changed in a handler's counters since the last [`KafkaOut::sync`].
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Failed delivery attempts, and outages noticed.
    pub write_errors: u64,
    /// Records given up for good.
    pub given_up: u64,
    /// Why the last one was given up.
    pub last_give_up: Option<String>,
    /// Bytes produced and not settled yet.
    pub held_bytes: u64,
}

impl KafkaOut {
    /// Create the producer (no connection is made yet: librdkafka connects
    /// in the background) and its poll thread.
    pub fn open(args: &KafkaArgs, name: &str) -> Result<KafkaOut, KafkaError> {
        let producer: BaseProducer<Reports> = args
            .client_config()
            .create_with_context(Reports::default())
            .map_err(|e| KafkaError::Create(e.to_string()))?;
        let producer = Arc::new(producer);
        let sink: Arc<OnceLock<Arc<dyn DeliverySink>>> = Arc::new(OnceLock::new());
        let shared = Arc::new(Shared::default());
        let stop = Arc::new(AtomicBool::new(false));
        let poller = {
            let (producer, sink, shared, stop) =
                (producer.clone(), sink.clone(), shared.clone(), stop.clone());
            let (name, topic) = (name.to_owned(), args.topic.clone());
            std::thread::Builder::new()
                .name("pysyslog-kafka".into())
                .spawn(move || poll_loop(&producer, &sink, &shared, &stop, &name, &topic))
                .map_err(|e| KafkaError::PollThread(e.to_string()))?
        };
        Ok(KafkaOut {
            name: name.to_owned(),
            topic: args.topic.clone(),
            producer,
            sink,
            shared,
            stop,
            poller: Some(poller),
            current: UNTRACKED,
            produced: 0,
            produced_bytes: 0,
            waiting: VecDeque::new(),
            seen: Totals::default(),
            seen_outages: 0,
        })
    }

    /// Where settled batches are reported (once; later calls change nothing).
    pub fn attach(&self, sink: Arc<dyn DeliverySink>) {
        let _ = self.sink.set(sink);
    }

    /// Records produced from now on belong to batch `seq` ([`UNTRACKED`]:
    /// to none).
    pub fn begin_batch(&mut self, seq: u64) {
        self.current = seq;
    }

    /// Records produced for the current batch since the last call.
    pub fn take_produced(&mut self) -> u64 {
        std::mem::take(&mut self.produced)
    }

    /// Produce one record. When librdkafka's queue is full (the handler's
    /// byte bound: a broker outage) the record waits here, in order, and
    /// [`KafkaOut::holds`] says so: the writer then takes no new batch,
    /// which is the backpressure. `Err`: librdkafka refused the record for
    /// good (too large, say); nothing was produced.
    pub fn send(&mut self, key: Option<&[u8]>, payload: &[u8]) -> Result<(), KafkaError> {
        if self.waiting.is_empty() {
            match produce(&self.producer, &self.topic, self.current, key, payload) {
                Ok(()) => {
                    self.count(payload.len());
                    return Ok(());
                }
                Err(Refusal::Never(e)) => return Err(e),
                Err(Refusal::Full) => {}
            }
        }
        self.waiting.push_back(Resend {
            seq: self.current,
            key: key.map(<[u8]>::to_vec),
            payload: payload.to_vec(),
        });
        self.count(payload.len());
        Ok(())
    }

    /// Produce a record read from the handler's disk backlog, whose
    /// delivery settles no batch but marks it delivered there (see
    /// [`KafkaOut::take_spooled`]). `false`: librdkafka's queue is full,
    /// nothing was produced. One refused for good is given up (counted,
    /// warned about and settled): taken.
    pub fn send_spooled(&mut self, seq: u64, key: Option<&[u8]>, payload: &[u8]) -> bool {
        match produce(&self.producer, &self.topic, seq | SPOOLED, key, payload) {
            Ok(()) => {
                self.produced_bytes += payload.len() as u64;
                true
            }
            Err(Refusal::Full) => false,
            Err(Refusal::Never(e)) => {
                self.producer
                    .context()
                    .give_up(seq | SPOOLED, payload.len() as u64, e.to_string());
                true
            }
        }
    }

    /// Backlog records Kafka settled (delivered, or given up) since the
    /// last call.
    pub fn take_spooled(&self) -> Vec<u64> {
        self.producer.context().take_spooled()
    }

    /// A record taken for the current batch (produced, or waiting to be).
    fn count(&mut self, bytes: usize) {
        if self.current != UNTRACKED {
            self.produced += 1;
        }
        self.produced_bytes += bytes as u64;
    }

    /// Records wait for room in librdkafka's queue.
    pub fn holds(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// Produce the waiting records while librdkafka has room (see
    /// [`produce_in_order`]).
    pub fn produce_waiting(&mut self) {
        produce_in_order(&self.producer, &self.topic, &mut self.waiting);
    }

    /// What the poll thread has to tell the operator since the last call.
    pub fn take_notices(&self) -> Vec<String> {
        match self.shared.notices.lock() {
            Ok(mut n) => std::mem::take(&mut *n),
            Err(p) => std::mem::take(&mut *p.into_inner()),
        }
    }

    /// The counters' changes since the last call.
    pub fn sync(&mut self) -> Progress {
        let now = self.producer.context().totals();
        let outages = self.shared.outages.load(Ordering::Relaxed);
        let progress = Progress {
            write_errors: (now.failed - self.seen.failed) + (outages - self.seen_outages),
            given_up: now.given_up - self.seen.given_up,
            last_give_up: now.last_give_up.clone(),
            held_bytes: self
                .produced_bytes
                .saturating_sub(now.delivered_bytes + now.given_up_bytes),
        };
        self.seen = now;
        self.seen_outages = outages;
        progress
    }

    /// Records librdkafka still holds (queued, in flight, or reported but
    /// not yet handed to the poll thread).
    pub fn outstanding(&self) -> u64 {
        u64::try_from(self.producer.in_flight_count()).unwrap_or(0)
    }

    /// Wait for every record to be settled: `None` waits as long as it
    /// takes (a reload: the batches that hold them must be acknowledged),
    /// `Some(deadline)` until then (a stop), then gives up what is left and
    /// says how much. Closing twice does nothing.
    ///
    /// The poll thread stops first: from then on this thread alone serves
    /// librdkafka's reports, so none is taken by one thread and lost by the
    /// other, and a record to produce again cannot slip between them.
    pub fn close(&mut self, deadline: Option<Instant>) {
        let Some(poller) = self.poller.take() else {
            return;
        };
        self.stop.store(true, Ordering::Relaxed);
        match poller.join() {
            // What it held to produce again goes first: it is older.
            Ok(mut held) => {
                held.append(&mut self.waiting);
                self.waiting = held;
            }
            Err(_) => self.shared.notice(format!(
                "handler '{}': the Kafka poll thread panicked",
                self.name
            )),
        }
        let mut reminded = Instant::now();
        loop {
            self.produce_waiting();
            self.producer.poll(CLOSE_POLL);
            let resend = forward_reports(&self.producer, &self.sink, &self.shared, &self.name);
            self.waiting.extend(resend);
            if self.waiting.is_empty() && self.producer.in_flight_count() == 0 {
                break;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            if reminded.elapsed() >= CLOSE_REMINDER {
                reminded = Instant::now();
                // The writer's loop is waiting here, so this cannot wait
                // for it to log: straight to stderr, like the handlers'
                // own warnings.
                crate::say!(
                    "pysyslog: handler '{}': waiting for Kafka to acknowledge {} records before the configuration is replaced",
                    self.name,
                    self.outstanding() + self.waiting.len() as u64
                );
            }
        }
        let left = self.outstanding() + self.waiting.len() as u64;
        self.waiting.clear();
        if left > 0 {
            self.producer
                .purge(PurgeConfig::default().queue().inflight());
            // Serve the purged records' reports (they settle nothing).
            self.producer.poll(Duration::ZERO);
            self.shared.notice(format!(
                "handler '{}': stopping with {left} records Kafka has not acknowledged; their batches are not acknowledged either",
                self.name
            ));
        }
    }
}

impl Drop for KafkaOut {
    fn drop(&mut self) {
        self.close(Some(Instant::now()));
    }
}

/// Produce one record of batch `seq`.
fn produce(
    producer: &BaseProducer<Reports>,
    topic: &str,
    seq: u64,
    key: Option<&[u8]>,
    payload: &[u8],
) -> Result<(), Refusal> {
    let opaque = usize::try_from(seq).unwrap_or(usize::MAX);
    let record = BaseRecord::<[u8], [u8], usize>::with_opaque_to(topic, opaque).payload(payload);
    let record = match key {
        Some(k) => record.key(k),
        None => record,
    };
    match producer.send(record) {
        Ok(()) => Ok(()),
        Err((RdKafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
            Err(Refusal::Full)
        }
        Err((e, _)) => Err(Refusal::Never(KafkaError::Refused(e.to_string()))),
    }
}

/// Produce `waiting` in order while librdkafka has room; one it refuses
/// for good is given up (counted, warned about, and settled, so its batch
/// is not held forever).
fn produce_in_order(producer: &BaseProducer<Reports>, topic: &str, waiting: &mut VecDeque<Resend>) {
    while let Some(r) = waiting.front() {
        match produce(producer, topic, r.seq, r.key.as_deref(), &r.payload) {
            Ok(()) => {}
            Err(Refusal::Full) => return,
            Err(Refusal::Never(e)) => {
                producer
                    .context()
                    .give_up(r.seq, r.payload.len() as u64, e.to_string());
            }
        }
        waiting.pop_front();
    }
}

/// Pass on what librdkafka reported since the last call: the batches it
/// settled to the writer's sink, its messages as the handler's notices.
/// Returns the records to produce again.
fn forward_reports(
    producer: &BaseProducer<Reports>,
    sink: &OnceLock<Arc<dyn DeliverySink>>,
    shared: &Shared,
    name: &str,
) -> Vec<Resend> {
    let (settled, resend, events) = producer.context().take();
    if !settled.is_empty() {
        if let Some(sink) = sink.get() {
            sink.settled(&settled);
        }
    }
    for text in events {
        shared.notice(format!("handler '{name}': {text}"));
    }
    resend
}

/// The poll thread: serve librdkafka's events, pass settled batches on,
/// produce again what may pass, and watch for a broker that stopped
/// acknowledging.
fn poll_loop(
    producer: &BaseProducer<Reports>,
    sink: &OnceLock<Arc<dyn DeliverySink>>,
    shared: &Shared,
    stop: &AtomicBool,
    name: &str,
    topic: &str,
) -> VecDeque<Resend> {
    let mut waiting: VecDeque<Resend> = VecDeque::new();
    let mut watch = StallWatch::default();
    loop {
        producer.poll(POLL_WAIT);
        waiting.extend(forward_reports(producer, sink, shared, name));
        produce_in_order(producer, topic, &mut waiting);
        let outstanding =
            u64::try_from(producer.in_flight_count()).unwrap_or(0) + waiting.len() as u64;
        let last_delivery = producer.context().totals().last_delivery;
        if let Some(turn) = watch.observe(Instant::now(), outstanding, last_delivery) {
            let text = match turn {
                Turn::Down(text) => {
                    shared.outages.fetch_add(1, Ordering::Relaxed);
                    text
                }
                Turn::Up(text) => text,
            };
            shared.notice(format!("handler '{name}': {text}"));
        }
        if stop.load(Ordering::Relaxed) {
            return waiting;
        }
    }
}

/// What [`StallWatch`] noticed, and what to tell the operator.
#[derive(Debug, PartialEq, Eq)]
enum Turn {
    /// Kafka stopped acknowledging (an outage, counted).
    Down(String),
    /// It acknowledges again.
    Up(String),
}

/// Notices a broker that acknowledges nothing while records wait, and its
/// return.
#[derive(Debug, Default)]
struct StallWatch {
    /// Since when records have waited without a delivery.
    busy_since: Option<Instant>,
    /// When the outage was reported (the time of the last progress then).
    stalled_from: Option<Instant>,
}

impl StallWatch {
    fn observe(
        &mut self,
        now: Instant,
        outstanding: u64,
        last_delivery: Option<Instant>,
    ) -> Option<Turn> {
        if let Some(from) = self.stalled_from {
            if last_delivery.is_some_and(|d| d > from) || outstanding == 0 {
                self.stalled_from = None;
                self.busy_since = if outstanding == 0 { None } else { Some(now) };
                return Some(Turn::Up(format!(
                    "Kafka acknowledges records again, after {:.1} s; {outstanding} still wait",
                    now.duration_since(from).as_secs_f64()
                )));
            }
            return None;
        }
        if outstanding == 0 {
            self.busy_since = None;
            return None;
        }
        let since = *self.busy_since.get_or_insert(now);
        let progress = last_delivery.map_or(since, |d| d.max(since));
        if now.duration_since(progress) >= STALL_AFTER {
            self.stalled_from = Some(progress);
            return Some(Turn::Down(format!(
                "Kafka has acknowledged nothing for {} s while {outstanding} records wait; \
                 they are kept, and the collector reads from its peers only as fast as Kafka takes them",
                STALL_AFTER.as_secs()
            )));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_told_once_and_its_end_once() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut w = StallWatch::default();
        assert_eq!(w.observe(at(0), 0, None), None);
        assert_eq!(w.observe(at(1), 10, None), None);
        assert_eq!(w.observe(at(5), 10, None), None);
        let Some(Turn::Down(down)) = w.observe(at(6), 10, None) else {
            panic!("no outage")
        };
        assert!(
            down.starts_with("Kafka has acknowledged nothing for 5 s while 10"),
            "{down}"
        );
        assert_eq!(w.observe(at(9), 12, None), None);
        let Some(Turn::Up(up)) = w.observe(at(16), 3, Some(at(16))) else {
            panic!("no end")
        };
        assert!(
            up.starts_with("Kafka acknowledges records again, after 15.0 s"),
            "{up}"
        );
        assert_eq!(w.observe(at(18), 3, Some(at(17))), None);
    }

    #[test]
    fn steady_deliveries_are_no_outage() {
        let t0 = Instant::now();
        let mut w = StallWatch::default();
        for s in 0..60 {
            let now = t0 + Duration::from_secs(s);
            assert_eq!(w.observe(now, 100, Some(now)), None);
        }
    }
}
