//! The open connections and the fairness queue of those with unread data.
//!
//! Owns: opening a connection from an accepted socket (registration, its TLS
//! session, its process-wide id), the ready queue (each connection with data
//! gets one budgeted turn, those with more left go to the back), closing,
//! and the budget of partial lines across all connections. Does not own:
//! what a turn does ([`super::conn`]) or deadlines ([`super::deadlines`]).
//!
//! The budget (`--max-partial-bytes`) bounds what lines still arriving hold
//! in all, whatever the number of connections or sources. Past it, the
//! connections holding the longest are split ([`Connection::spill`]): what
//! each holds is logged now and the rest of its line follows as a line of
//! its own, until the total is down to three quarters of the budget (so the
//! next sort of the holders is a quarter of the budget away). Nothing is
//! lost and nothing waits on a sender: pausing a connection instead would
//! wait for the end of a line that only reading it can bring. The pieces go
//! to the writer like any line, so while the queue to it is full the split
//! waits (reading is paused then too, so the total does not grow).
//!
//! A connection whose source is out of tokens (`--rate-limit-per-source`,
//! [`super::rates`]) is paused: it keeps its place as scheduled, so its
//! readiness events (the loop is edge-triggered) queue nothing, and it is
//! queued again when its time comes ([`Connections::wake_due`]), from a heap
//! of at most one entry per paused connection (and entries of connections
//! closed while paused, until their time). It then reads until the socket
//! is drained or its tokens are spent, so no event is lost.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use mio::{Interest, Registry};
use slab::Slab;

use super::accept::Accepted;
use super::conn::{Connection, ProxyState, LOGGER};
use super::escape::ControlChars;
use super::framing::Framer;
use super::listener::peer_name;
use super::origin::Origins;
use super::refusals::Throttle;
use super::source::{SourceGrouping, SourceKey};
use super::token;
use crate::link::WriterLink;
use crate::logging::level;
use crate::metrics::counts::{ListenerCounts, Refusal};

#[derive(Debug)]
struct Entry {
    conn: Connection,
    /// Queued in the ready queue.
    scheduled: bool,
    /// The source it counts against in `per_source`.
    source: Option<SourceKey>,
    /// A balancer's connection not yet counted: its client's address, from
    /// the PROXY header, is counted once the header is read.
    uncounted_balancer: Option<IpAddr>,
    /// What its line still arriving holds, as last counted in `partial_total`.
    partial: usize,
    /// Paused by the rate limit since then (it stays `scheduled`).
    paused_since: Option<Instant>,
}

/// A connection just opened.
#[derive(Debug, Clone, Copy)]
pub struct Opened {
    pub key: usize,
    pub id: u64,
    /// A TLS handshake has to complete (within its deadline).
    pub handshaking: bool,
}

#[derive(Debug)]
pub struct Connections {
    slab: Slab<Entry>,
    /// Keys of connections with unread data, served in turn.
    ready: VecDeque<usize>,
    /// Ids are unique for the life of the process (slab keys are reused).
    next_id: u64,
    max_line_bytes: usize,
    control: ControlChars,
    /// Per listener: what closed connections received, accepts, refusals.
    counts: Vec<ListenerCounts>,
    /// Keys of the RELP connections, which wait for acks; empty without RELP.
    relp: Vec<usize>,
    /// The writer's acknowledgement they were last answered up to.
    relp_acknowledged: u64,
    /// `--max-connections-per-source`; 0: no limit.
    per_source_cap: usize,
    /// Open connections per source (an IPv6 network counts as one, see
    /// [`SourceGrouping`]); only sources with one are kept.
    per_source: HashMap<SourceKey, usize>,
    sources: SourceGrouping,
    /// Listeners' origins, when lines carry them (`--parse-syslog`).
    origins: Option<Origins>,
    /// `--max-partial-bytes`: what lines still arriving may hold in all.
    partial_budget: usize,
    /// What they hold now: the sum of the entries' `partial`.
    partial_total: usize,
    /// Lines split since the last report, and the reports' rate.
    splits_unreported: u64,
    split_report: Throttle,
    /// Connections paused by the rate limit: (when to wake, key, id).
    paused: BinaryHeap<Reverse<(Instant, usize, u64)>>,
}

/// How often splitting lines is reported.
const SPLIT_REPORT: Duration = Duration::from_secs(10);

impl Connections {
    pub fn new(
        max_line_bytes: usize,
        control: ControlChars,
        per_source_cap: usize,
        sources: SourceGrouping,
    ) -> Connections {
        Connections {
            slab: Slab::new(),
            ready: VecDeque::new(),
            next_id: 0,
            max_line_bytes,
            control,
            counts: Vec::new(),
            relp: Vec::new(),
            relp_acknowledged: 0,
            per_source_cap,
            per_source: HashMap::new(),
            sources,
            origins: None,
            // Unbounded until told (`with_partial_budget`).
            partial_budget: usize::MAX,
            partial_total: 0,
            splits_unreported: 0,
            split_report: Throttle::default(),
            paused: BinaryHeap::new(),
        }
    }

    /// Lines still arriving may hold `bytes` in all (`--max-partial-bytes`).
    pub fn with_partial_budget(mut self, bytes: usize) -> Connections {
        self.partial_budget = bytes;
        self
    }

    /// Connection `key` had a turn: count what its line still arriving holds.
    pub fn note_partial(&mut self, key: usize) {
        if let Some(entry) = self.slab.get_mut(key) {
            let now = entry.conn.partial_bytes();
            self.partial_total = self.partial_total.saturating_sub(entry.partial) + now;
            entry.partial = now;
        }
    }

    /// Past the budget, split the longest lines still arriving (see the
    /// module's doc) while the link takes lines.
    pub fn spill_over_budget(&mut self, link: &mut WriterLink) {
        if self.partial_total <= self.partial_budget || link.is_full() {
            return;
        }
        let target = self.partial_budget - self.partial_budget / 4;
        let mut holders: Vec<(usize, usize)> = self
            .slab
            .iter()
            .filter(|(_, e)| e.partial > 0)
            .map(|(key, e)| (e.partial, key))
            .collect();
        holders.sort_unstable_by(|a, b| b.cmp(a));
        for (_, key) in holders {
            if self.partial_total <= target || link.is_full() {
                break;
            }
            if let Some(entry) = self.slab.get_mut(key) {
                if entry.conn.spill(link) > 0 {
                    self.splits_unreported += 1;
                }
            }
            self.note_partial(key);
        }
        self.report_splits(link);
    }

    /// Say, at most every [`SPLIT_REPORT`], how many lines were split.
    fn report_splits(&mut self, link: &mut WriterLink) {
        if self.splits_unreported == 0
            || self
                .split_report
                .due(Instant::now(), SPLIT_REPORT)
                .is_none()
        {
            return;
        }
        link.warning(
            LOGGER,
            &format!(
                "lines still arriving held more than --max-partial-bytes ({} bytes) on all \
                 connections: {} of the longest were logged as far as they had come, the rest of \
                 each follows as a line of its own",
                self.partial_budget,
                std::mem::take(&mut self.splits_unreported)
            ),
        );
    }

    /// Lines carry their origin (the writer parses syslog).
    pub fn with_origins(mut self, origins: Option<Origins>) -> Connections {
        self.origins = origins;
        self
    }

    /// `--max-connections-per-source`; 0: no limit.
    pub fn per_source_cap(&self) -> usize {
        self.per_source_cap
    }

    /// Whether a new direct connection from `ip` would pass the per-source
    /// cap: `Some(its source)` when it would.
    pub fn source_is_full(&self, ip: IpAddr) -> Option<SourceKey> {
        let key = self.sources.key(ip);
        let open = self.per_source.get(&key).copied().unwrap_or(0);
        (self.per_source_cap != 0 && open >= self.per_source_cap).then_some(key)
    }

    /// A balancer's connection read its PROXY header ([`super::conn::Turn::HeaderRead`]):
    /// count it against the client the header names. `Err((client, its
    /// source))` when that source is already at the cap (the caller closes
    /// it). A header naming no client (a balancer's health check) counts
    /// nothing.
    pub fn count_proxied_client(&mut self, key: usize) -> Result<(), (IpAddr, SourceKey)> {
        let Some(entry) = self.slab.get_mut(key) else {
            return Ok(());
        };
        let Some(balancer) = entry.uncounted_balancer else {
            return Ok(());
        };
        entry.uncounted_balancer = None;
        let client = entry.conn.addr().ip().to_canonical();
        if client == balancer {
            return Ok(());
        }
        let source = self.sources.key(client);
        let n = self.per_source.entry(source).or_insert(0);
        if *n >= self.per_source_cap {
            if *n == 0 {
                self.per_source.remove(&source);
            }
            return Err((client, source));
        }
        *n += 1;
        entry.source = Some(source);
        Ok(())
    }

    /// A connection counted against `source` left.
    fn source_left(&mut self, source: Option<SourceKey>) {
        let Some(key) = source else { return };
        if let Some(n) = self.per_source.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_source.remove(&key);
            }
        }
    }

    /// The counters of listener `index`.
    fn counts_mut(&mut self, index: usize) -> &mut ListenerCounts {
        counts_of(&mut self.counts, index)
    }

    /// A connection accepted on listener `index` was closed at once for `why`
    /// (`--allow`, `--max-connections-per-source`): it never became one.
    pub fn count_refused(&mut self, index: usize, why: Refusal) {
        self.counts_mut(index).refuse(why);
    }

    /// Close connection `key`, refused for `why`.
    pub fn close_refused(&mut self, key: usize, why: Refusal, registry: &Registry) {
        if let Some(entry) = self.slab.get_mut(key) {
            entry.conn.refuse(why);
        }
        self.close(key, registry);
    }

    /// The counters of the first `listeners` listeners, open connections included.
    pub fn listener_counts(&self, listeners: usize) -> Vec<ListenerCounts> {
        let mut all: Vec<ListenerCounts> = (0..listeners)
            .map(|i| self.counts.get(i).copied().unwrap_or_default())
            .collect();
        for (_, entry) in &self.slab {
            if let Some(c) = all.get_mut(entry.conn.listener().0) {
                c.open += 1;
                c.received.add(entry.conn.received());
            }
        }
        all
    }

    /// Watch an accepted socket and start its TLS session, if any. A failure
    /// is reported under the receiver's logger and the socket closed.
    pub fn open(
        &mut self,
        accepted: Accepted,
        proxy: Option<ProxyState>,
        registry: &Registry,
        link: &mut WriterLink,
    ) -> Option<Opened> {
        let Accepted {
            mut socket,
            addr,
            listener,
            tls,
            relp,
        } = accepted;
        self.counts_mut(listener.0).accepted += 1;
        let entry = self.slab.vacant_entry();
        let key = entry.key();
        if let Err(e) = registry.register(&mut socket, token::connection(key), Interest::READABLE) {
            self.counts[listener.0].refuse(Refusal::Setup);
            link.push_record(
                level::ERROR,
                LOGGER,
                &format!("cannot watch connection from {addr}: {e}"),
            );
            return None;
        }
        let id = self.next_id;
        self.next_id += 1;
        let session = match tls {
            None => None,
            Some(config) => match rustls::ServerConnection::new(config) {
                Ok(session) => Some(session),
                Err(e) => {
                    counts_of(&mut self.counts, listener.0).refuse(Refusal::Setup);
                    link.push_record(
                        level::ERROR,
                        LOGGER,
                        &format!("cannot start TLS with {addr}: {e}"),
                    );
                    let _ = registry.deregister(&mut socket);
                    return None;
                }
            },
        };
        let handshaking_tls = session.is_some();
        let handshaking = handshaking_tls || proxy.is_some();
        // A balancer's connections carry many clients: each counts against
        // its client, once the header names it.
        let (source, uncounted_balancer) = match (&proxy, self.per_source_cap) {
            (_, 0) => (None, None),
            (None, _) => (Some(self.sources.key(addr.ip())), None),
            (Some(_), _) => (None, Some(addr.ip().to_canonical())),
        };
        if let Some(ip) = source {
            *self.per_source.entry(ip).or_insert(0) += 1;
        }
        let mut conn = Connection::new(
            socket,
            id,
            listener,
            addr,
            peer_name(&addr),
            Framer::with_control(self.max_line_bytes, self.control),
            session,
        );
        if let Some(state) = proxy {
            conn.expect_proxy_header(state);
        }
        if let Some(origins) = &self.origins {
            conn.set_origin(origins.connection(listener.0, handshaking_tls));
        }
        if relp {
            // Answers are small writes a sender waits for: Nagle's algorithm
            // would hold one back while an earlier one is unacknowledged.
            let _ = conn.set_nodelay();
            conn.speak_relp();
            self.relp.push(key);
        }
        entry.insert(Entry {
            conn,
            scheduled: false,
            source,
            uncounted_balancer,
            partial: 0,
            paused_since: None,
        });
        // Data may have arrived with the connection; the edge may already be gone.
        self.mark_readable(key);
        Some(Opened {
            key,
            id,
            handshaking,
        })
    }

    pub fn len(&self) -> usize {
        self.slab.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slab.is_empty()
    }

    pub fn get(&self, key: usize) -> Option<&Connection> {
        self.slab.get(key).map(|e| &e.conn)
    }

    pub fn get_mut(&mut self, key: usize) -> Option<&mut Connection> {
        self.slab.get_mut(key).map(|e| &mut e.conn)
    }

    /// The connection may have data: give it a turn, unless it has one queued.
    pub fn mark_readable(&mut self, key: usize) {
        if let Some(entry) = self.slab.get_mut(key) {
            if !entry.scheduled {
                entry.scheduled = true;
                self.ready.push_back(key);
            }
        }
    }

    /// Stopping: every connection gets a turn to deliver what it sent.
    pub fn mark_all_readable(&mut self) {
        for (key, entry) in &mut self.slab {
            if !entry.scheduled {
                entry.scheduled = true;
                self.ready.push_back(key);
            }
        }
    }

    /// Connections waiting for a turn.
    pub fn ready_len(&self) -> usize {
        self.ready.len()
    }

    /// The next connection to get a turn (it stays scheduled until
    /// [`Connections::unschedule`], closed, or queued again).
    pub fn next_ready(&mut self) -> Option<usize> {
        self.ready.pop_front()
    }

    /// The turn's budget ran out with data left: to the back of the queue.
    pub fn requeue(&mut self, key: usize) {
        self.ready.push_back(key);
    }

    /// Its source is out of tokens: no turn until `until` (readiness events
    /// meanwhile queue nothing, see the module's doc).
    pub fn pause(&mut self, key: usize, now: Instant, until: Instant) {
        let Some(entry) = self.slab.get_mut(key) else {
            return;
        };
        entry.scheduled = true;
        if entry.paused_since.is_none() {
            entry.paused_since = Some(now);
            counts_of(&mut self.counts, entry.conn.listener().0).rate_limit_pauses += 1;
        }
        self.paused.push(Reverse((until, key, entry.conn.id())));
    }

    /// When the first paused connection is due, if any is.
    pub fn next_wake(&self) -> Option<Instant> {
        self.paused.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Queue the paused connections whose time has come.
    pub fn wake_due(&mut self, now: Instant) {
        while let Some(&Reverse((at, key, id))) = self.paused.peek() {
            if at > now {
                break;
            }
            self.paused.pop();
            self.resume(key, id, now);
        }
    }

    /// Stopping: every paused connection is queued now.
    pub fn wake_all(&mut self, now: Instant) {
        while let Some(Reverse((_, key, id))) = self.paused.pop() {
            self.resume(key, id, now);
        }
    }

    /// Queue connection `key` if it is still the one (`id`) paused.
    fn resume(&mut self, key: usize, id: u64, now: Instant) {
        let Some(entry) = self.slab.get_mut(key) else {
            return;
        };
        if entry.conn.id() != id {
            return;
        }
        if let Some(since) = entry.paused_since.take() {
            count_pause(&mut self.counts, &entry.conn, since, now);
            self.ready.push_back(key);
        }
    }

    /// The socket is drained: the next readiness event schedules it again.
    pub fn unschedule(&mut self, key: usize) {
        if let Some(entry) = self.slab.get_mut(key) {
            entry.scheduled = false;
        }
    }

    /// While reading is paused (the queue is full), a peer that closed and has
    /// nothing unread is closed at once, so it does not hold a connection slot
    /// in CLOSE_WAIT until the writer catches up. Returns whether it was.
    pub fn close_if_nothing_unread(
        &mut self,
        key: usize,
        registry: &Registry,
        link: &mut WriterLink,
    ) -> bool {
        let Some(entry) = self.slab.get_mut(key) else {
            return false;
        };
        if entry.scheduled || entry.conn.unread_bytes() != 0 {
            return false;
        }
        entry.conn.finish(link);
        self.close(key, registry);
        true
    }

    /// Keys of connections that received nothing for `limit` (not those
    /// paused by the rate limit: their silence is ours).
    pub fn idle(&self, limit: Duration, now: Instant) -> Vec<usize> {
        self.slab
            .iter()
            .filter(|(_, e)| e.paused_since.is_none())
            .filter(|(_, e)| now.duration_since(e.conn.last_active()) >= limit)
            .map(|(k, _)| k)
            .collect()
    }

    /// The writer acknowledged batches up to `acknowledged`: RELP connections
    /// answer the messages those held. Closes those whose session is over.
    pub fn answer_relp(&mut self, acknowledged: u64, registry: &Registry) {
        if self.relp.is_empty() || acknowledged == self.relp_acknowledged {
            return;
        }
        self.relp_acknowledged = acknowledged;
        let mut done = Vec::new();
        for &key in &self.relp {
            if let Some(entry) = self.slab.get_mut(key) {
                if !entry.conn.answer_relp(acknowledged) {
                    done.push(key);
                } else {
                    entry.conn.update_interest(registry, token::connection(key));
                }
            }
        }
        for key in done {
            self.close(key, registry);
        }
    }

    pub fn close(&mut self, key: usize, registry: &Registry) {
        if let Some(index) = self.relp.iter().position(|&k| k == key) {
            self.relp.swap_remove(index);
        }
        if let Some(mut entry) = self.slab.try_remove(key) {
            entry.conn.deregister(registry);
            if let Some(since) = entry.paused_since {
                count_pause(&mut self.counts, &entry.conn, since, Instant::now());
            }
            fold(&mut self.counts, &entry.conn);
            self.source_left(entry.source);
            self.partial_total = self.partial_total.saturating_sub(entry.partial);
        }
    }

    /// Close every connection now, logging what each had buffered.
    pub fn abandon_all(&mut self, link: &mut WriterLink) {
        self.relp.clear();
        for mut entry in self.slab.drain() {
            entry.conn.finish(link);
            fold(&mut self.counts, &entry.conn);
        }
        self.per_source.clear();
        self.ready.clear();
        self.paused.clear();
        self.partial_total = 0;
    }
}

/// The counters of listener `index`, made when first needed.
fn counts_of(counts: &mut Vec<ListenerCounts>, index: usize) -> &mut ListenerCounts {
    if counts.len() <= index {
        counts.resize(index + 1, ListenerCounts::default());
    }
    &mut counts[index]
}

/// `conn` was paused by the rate limit from `since` to `now`.
fn count_pause(counts: &mut Vec<ListenerCounts>, conn: &Connection, since: Instant, now: Instant) {
    let paused = now.saturating_duration_since(since).as_nanos();
    let c = counts_of(counts, conn.listener().0);
    c.rate_limit_paused_ns = c
        .rate_limit_paused_ns
        .saturating_add(u64::try_from(paused).unwrap_or(u64::MAX));
}

/// A connection leaves: what it received joins its listener's counters.
fn fold(counts: &mut Vec<ListenerCounts>, conn: &Connection) {
    let c = counts_of(counts, conn.listener().0);
    c.received.add(conn.received());
    if let Some(why) = conn.refusal() {
        c.refuse(why);
    }
}
