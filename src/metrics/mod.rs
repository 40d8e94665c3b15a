//! The Prometheus metrics endpoint (`--metrics-listen HOST:PORT`).
//!
//! Owns: serving `GET /metrics` on the receiver's event loop ([`server`],
//! [`http`]), the exposition format ([`encode`]), the metric names
//! ([`collect`]), the counter shapes the other parts keep ([`counts`]) and
//! reading process usage ([`process`]). Does not own: counting. The
//! receiver's parts and the link count where events happen, with plain
//! integers; the writer's counters cross in shared memory
//! ([`crate::ipc::counters`]). Nothing is computed until a scraper asks.

pub mod collect;
pub mod counts;
mod encode;
pub mod http;
pub mod process;
pub mod server;

pub use encode::CONTENT_TYPE;
pub use server::{MetricsServer, Wants};

/// The whole HTTP response for a scrape of `snapshot`.
pub fn scrape_response(snapshot: &counts::Snapshot, head: bool) -> Vec<u8> {
    let body = collect::render(snapshot);
    http::response("200 OK", CONTENT_TYPE, body.as_bytes(), head)
}
