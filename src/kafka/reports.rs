//! What librdkafka reports back to one handler: delivery reports, errors and
//! its log, gathered under one lock and taken by the handler's poll thread.
//!
//! Owns: deciding what a failed delivery means (produce it again, or give it
//! up with a count and a warning), and keeping librdkafka's own messages
//! bounded. Does not own: producing, or telling the writer (see
//! [`super::output`]).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Instant;

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::ProducerContext;

/// The delivery opaque of a record produced outside any batch (the writer's
/// own messages): its delivery acknowledges nothing.
pub const UNTRACKED: u64 = u64::MAX;

/// Set in the delivery opaque of a record read from the handler's disk
/// backlog: the rest is its sequence number there, not a batch's.
pub const SPOOLED: u64 = 1 << 62;

/// librdkafka messages kept between two takes; the rest are counted.
const MAX_EVENTS: usize = 16;

/// A librdkafka message identical to the last one shown is held back for
/// this long (a broker that stays down repeats the same error at every
/// reconnect), then shown again with how often it came meanwhile.
const REPEAT_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

/// A record to produce again (its delivery failed in a way that may pass).
#[derive(Debug)]
pub struct Resend {
    pub seq: u64,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
}

/// What happened since the last take, and the running totals.
#[derive(Debug, Default)]
pub struct Tally {
    /// Records settled (delivered, or given up) per batch sequence number,
    /// in the order reported; runs of one batch are merged.
    pub settled: Vec<(u64, u64)>,
    /// Backlog sequence numbers of records from the backlog settled, for
    /// the writer's thread to take (not the poll thread's).
    pub spooled: Vec<u64>,
    pub resend: Vec<Resend>,
    /// librdkafka's errors and warnings, oldest first.
    pub events: VecDeque<String>,
    pub events_lost: u64,
    /// The last message shown, when, and its copies held back since.
    last_event: Option<(String, Instant, u64)>,
    /// The running totals (they stay across takes).
    pub totals: Totals,
}

impl Tally {
    fn settle(&mut self, seq: u64) {
        if seq == UNTRACKED {
            return;
        }
        if seq & SPOOLED != 0 {
            self.spooled.push(seq & !SPOOLED);
            return;
        }
        match self.settled.last_mut() {
            Some((s, n)) if *s == seq => *n += 1,
            _ => self.settled.push((seq, 1)),
        }
    }

    /// A record that can never be delivered: counted, and settled.
    fn give_up(&mut self, seq: u64, bytes: u64, error: String) {
        self.totals.given_up += 1;
        self.totals.given_up_bytes += bytes;
        self.totals.last_give_up = Some(error);
        self.settle(seq);
    }

    fn event(&mut self, text: String) {
        self.event_at(text, Instant::now());
    }

    fn event_at(&mut self, text: String, now: Instant) {
        let shown = match &mut self.last_event {
            Some((last, at, held)) if *last == text => {
                if now.duration_since(*at) < REPEAT_WINDOW {
                    *held += 1;
                    return;
                }
                let held = std::mem::take(held);
                *at = now;
                if held > 0 {
                    format!("{text} ({held} more times since it was last shown)")
                } else {
                    text
                }
            }
            _ => {
                self.last_event = Some((text.clone(), now, 0));
                text
            }
        };
        let text = shown;
        if self.events.len() >= MAX_EVENTS {
            self.events_lost += 1;
        } else {
            self.events.push_back(text);
        }
    }
}

/// The handler's librdkafka context.
#[derive(Debug, Default)]
pub struct Reports {
    pub tally: Mutex<Tally>,
}

impl Reports {
    fn with<R>(&self, f: impl FnOnce(&mut Tally) -> R) -> R {
        let mut t = match self.tally.lock() {
            Ok(t) => t,
            // A panic elsewhere while holding it: the numbers are still numbers.
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut t)
    }

    /// Take what happened since the last take (the totals stay).
    pub fn take(&self) -> (Vec<(u64, u64)>, Vec<Resend>, Vec<String>) {
        self.with(|t| {
            let mut events: Vec<String> = t.events.drain(..).collect();
            if t.events_lost > 0 {
                events.push(format!(
                    "{} more librdkafka messages not shown",
                    std::mem::take(&mut t.events_lost)
                ));
            }
            (
                std::mem::take(&mut t.settled),
                std::mem::take(&mut t.resend),
                events,
            )
        })
    }

    /// The backlog records settled since the last call.
    pub fn take_spooled(&self) -> Vec<u64> {
        self.with(|t| std::mem::take(&mut t.spooled))
    }

    /// A record of batch `seq` that can never be delivered: given up,
    /// counted, and settled.
    pub fn give_up(&self, seq: u64, bytes: u64, error: String) {
        self.with(|t| t.give_up(seq, bytes, error));
    }

    /// The totals and when a delivery last succeeded.
    pub fn totals(&self) -> Totals {
        self.with(|t| t.totals.clone())
    }
}

/// The running totals: delivered, bytes delivered, failed deliveries (each
/// attempt), records given up and the error of the last one, and when a
/// delivery last succeeded.
#[derive(Debug, Clone, Default)]
pub struct Totals {
    pub delivered: u64,
    pub delivered_bytes: u64,
    pub failed: u64,
    pub given_up: u64,
    pub given_up_bytes: u64,
    pub last_give_up: Option<String>,
    pub last_delivery: Option<Instant>,
}

/// Whether a failed delivery may succeed if produced again. With the
/// handler's defaults (no delivery timeout, idempotence) librdkafka retries
/// these itself and they seldom reach us; a `message.timeout.ms` set in
/// `properties` makes timeouts common.
pub fn retriable(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        code,
        C::MessageTimedOut
            | C::RequestTimedOut
            | C::BrokerTransportFailure
            | C::AllBrokersDown
            | C::NotEnoughReplicas
            | C::NotEnoughReplicasAfterAppend
            | C::NotLeaderForPartition
            | C::LeaderNotAvailable
            | C::NetworkException
            | C::OperationTimedOut
    )
}

impl ClientContext for Reports {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        use RDKafkaLogLevel as L;
        if matches!(
            level,
            L::Emerg | L::Alert | L::Critical | L::Error | L::Warning
        ) {
            self.with(|t| t.event(format!("librdkafka {fac}: {message}")));
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.with(|t| t.event(format!("{error}: {reason}")));
    }
}

impl ProducerContext for Reports {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: usize) {
        let seq = u64::try_from(opaque).unwrap_or(UNTRACKED);
        self.with(|t| match result {
            Ok(message) => {
                t.totals.delivered += 1;
                t.totals.delivered_bytes += message.payload_len() as u64;
                t.totals.last_delivery = Some(Instant::now());
                t.settle(seq);
            }
            Err((error, message)) => {
                t.totals.failed += 1;
                let code = error.rdkafka_error_code();
                let purged = matches!(
                    code,
                    Some(RDKafkaErrorCode::PurgeQueue | RDKafkaErrorCode::PurgeInflight)
                );
                if code.is_some_and(retriable) {
                    t.resend.push(Resend {
                        seq,
                        key: message.key().map(<[u8]>::to_vec),
                        payload: message.payload().unwrap_or_default().to_vec(),
                    });
                } else if !purged {
                    // Purged at stop is not given up, only not delivered
                    // (the batch is not acknowledged and goes to the next
                    // writer).
                    t.give_up(seq, message.payload_len() as u64, error.to_string());
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settled_runs_of_one_batch_merge_and_untracked_records_settle_nothing() {
        let mut t = Tally::default();
        for seq in [4, 4, 5, UNTRACKED, 5, 4] {
            t.settle(seq);
        }
        assert_eq!(t.settled, [(4, 2), (5, 2), (4, 1)]);
    }

    #[test]
    fn backlog_records_settle_apart_from_batches() {
        let mut t = Tally::default();
        for seq in [4, SPOOLED | 7, SPOOLED, 4] {
            t.settle(seq);
        }
        assert_eq!(t.settled, [(4, 2)]);
        assert_eq!(t.spooled, [7, 0]);
    }

    #[test]
    fn librdkafka_messages_are_bounded_and_the_rest_counted() {
        let r = Reports::default();
        for i in 0..MAX_EVENTS + 5 {
            r.error(KafkaError::Canceled, &format!("e{i}"));
        }
        let (_, _, events) = r.take();
        assert_eq!(events.len(), MAX_EVENTS + 1);
        assert_eq!(
            events.last().map(String::as_str),
            Some("5 more librdkafka messages not shown")
        );
        assert!(r.take().2.is_empty());
    }

    #[test]
    fn a_repeated_librdkafka_message_is_held_back_and_counted() {
        let mut t = Tally::default();
        let t0 = Instant::now();
        let down = || "AllBrokersDown: 1/1 brokers are down".to_owned();
        t.event_at(down(), t0);
        t.event_at(down(), t0 + std::time::Duration::from_secs(10));
        t.event_at(down(), t0 + std::time::Duration::from_secs(20));
        assert_eq!(t.events.len(), 1);
        t.event_at(
            down(),
            t0 + REPEAT_WINDOW + std::time::Duration::from_secs(1),
        );
        assert_eq!(
            t.events.back().map(String::as_str),
            Some("AllBrokersDown: 1/1 brokers are down (2 more times since it was last shown)")
        );
        t.event_at(
            "another".into(),
            t0 + REPEAT_WINDOW + std::time::Duration::from_secs(2),
        );
        assert_eq!(t.events.len(), 3);
    }

    #[test]
    fn timeouts_are_produced_again_and_a_too_large_record_is_not() {
        assert!(retriable(RDKafkaErrorCode::MessageTimedOut));
        assert!(retriable(RDKafkaErrorCode::AllBrokersDown));
        assert!(!retriable(RDKafkaErrorCode::MessageSizeTooLarge));
        assert!(!retriable(RDKafkaErrorCode::TopicAuthorizationFailed));
    }
}
