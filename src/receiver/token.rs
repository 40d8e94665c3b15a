//! The event loop's tokens: which source an event is for.
//!
//! Owns: the token layout (signals, the writer's status stream, listeners,
//! connections). Does not own: registering the sources.

use mio::Token;

pub const SIGNALS: Token = Token(0);
pub const STATUS: Token = Token(1);
/// The monitor's orders (a reload, with what it read).
pub const ORDERS: Token = Token(CONNECTION_BASE - 1);
const LISTENER_BASE: usize = 2;
/// TCP and TLS listeners take the tokens below this one, UDP listeners those
/// from it to [`METRICS_BASE`].
const DATAGRAM_BASE: usize = 512;
/// The metrics endpoint's listener, then its clients, take the tokens from
/// this one up to [`CONNECTION_BASE`].
pub const METRICS_BASE: usize = 1024;
/// Connections (slab keys) take the tokens from this one.
pub const CONNECTION_BASE: usize = 1040;
/// The most listeners of each kind the token layout has room for.
pub const MAX_LISTENERS: usize = DATAGRAM_BASE - LISTENER_BASE;

/// What an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// SIGTERM, SIGINT or SIGHUP arrived.
    Signals,
    /// The writer sent acks, or its status stream closed.
    Status,
    /// The monitor sent an order, or its end closed.
    Orders,
    /// A listener, by its index in the listener set.
    Listener(usize),
    /// A UDP listener, by its index among them.
    Datagram(usize),
    /// A connection, by its slab key.
    Connection(usize),
    /// The metrics endpoint: 0 its listener, `1 + i` its client `i`.
    Metrics(usize),
}

pub fn source(token: Token) -> Source {
    match token {
        SIGNALS => Source::Signals,
        STATUS => Source::Status,
        ORDERS => Source::Orders,
        Token(t) if t >= CONNECTION_BASE => Source::Connection(t - CONNECTION_BASE),
        Token(t) if t >= METRICS_BASE => Source::Metrics(t - METRICS_BASE),
        Token(t) if t >= DATAGRAM_BASE => Source::Datagram(t - DATAGRAM_BASE),
        Token(t) => Source::Listener(t - LISTENER_BASE),
    }
}

pub fn listener(index: usize) -> Token {
    Token(LISTENER_BASE + index)
}

pub fn datagram(index: usize) -> Token {
    Token(DATAGRAM_BASE + index)
}

pub fn connection(key: usize) -> Token {
    Token(CONNECTION_BASE + key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_token_maps_back_to_its_source() {
        assert_eq!(source(SIGNALS), Source::Signals);
        assert_eq!(source(STATUS), Source::Status);
        assert_eq!(source(ORDERS), Source::Orders);
        assert_eq!(source(listener(3)), Source::Listener(3));
        assert_eq!(
            source(listener(MAX_LISTENERS - 1)),
            Source::Listener(MAX_LISTENERS - 1)
        );
        assert_eq!(source(datagram(0)), Source::Datagram(0));
        assert_eq!(
            source(datagram(MAX_LISTENERS - 1)),
            Source::Datagram(MAX_LISTENERS - 1)
        );
        assert_eq!(source(connection(0)), Source::Connection(0));
        assert_eq!(source(Token(METRICS_BASE + 2)), Source::Metrics(2));
        assert_eq!(source(connection(70_000)), Source::Connection(70_000));
    }
}
