//! The status stream, writer -> receiver: readiness, start-up failure and acks.
//!
//! Owns: the byte format of status messages and their incremental decoding.
//! Does not own: the socket (a `UnixStream` pair, because ipc-channel receivers
//! expose no fd that mio could poll) or what the receiver does with an ack.
//!
//! ```text
//! msg = 1                         ready: the engine is built, batches are welcome
//!     | 2 | u32 len | text        failed: the configuration could not be applied
//!     | 3 | u64 seq               ack: batch `seq` and all before it are written and flushed
//!     | 4 | u32 len | name        bootstrap: a new writer (after exec) waits on
//!                                 this ipc-channel one-shot server for its channel
//!     | 5 | u32 len | reason      retire: this writer cannot apply the reload that
//!                                 comes next (it needs more than its confinement
//!                                 grants); it exits, the batch unacknowledged, and a
//!                                 new writer built from the new configuration takes over
//! ```

/// Longest failure text accepted; longer ones are cut.
pub const MAX_TEXT: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Ready,
    Failed(String),
    Ack(u64),
    Bootstrap(String),
    Retire(String),
}

impl Status {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Status::Ready => vec![1],
            Status::Failed(text) | Status::Bootstrap(text) | Status::Retire(text) => {
                let tag = match self {
                    Status::Failed(_) => 2,
                    Status::Bootstrap(_) => 4,
                    _ => 5,
                };
                let mut end = text.len().min(MAX_TEXT);
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                let mut v = vec![tag];
                v.extend_from_slice(&(end as u32).to_le_bytes());
                v.extend_from_slice(&text.as_bytes()[..end]);
                v
            }
            Status::Ack(seq) => {
                let mut v = vec![3];
                v.extend_from_slice(&seq.to_le_bytes());
                v
            }
        }
    }
}

/// A status stream that does not follow the format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed status message from the writer (tag {0})")]
pub struct StatusError(pub u8);

/// Reassembles status messages from arbitrary reads. Holds at most one message.
#[derive(Debug, Default)]
pub struct StatusDecoder {
    buf: Vec<u8>,
}

impl StatusDecoder {
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete message, if any.
    pub fn next_message(&mut self) -> Result<Option<Status>, StatusError> {
        let Some(&tag) = self.buf.first() else {
            return Ok(None);
        };
        let (msg, used) = match tag {
            1 => (Status::Ready, 1),
            2 | 4 | 5 => {
                let Some(len) = self.buf.get(1..5) else {
                    return Ok(None);
                };
                let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
                if len > MAX_TEXT {
                    return Err(StatusError(tag));
                }
                let Some(text) = self.buf.get(5..5 + len) else {
                    return Ok(None);
                };
                let text = String::from_utf8_lossy(text).into_owned();
                let msg = match tag {
                    2 => Status::Failed(text),
                    4 => Status::Bootstrap(text),
                    _ => Status::Retire(text),
                };
                (msg, 5 + len)
            }
            3 => {
                let Some(seq) = self.buf.get(1..9) else {
                    return Ok(None);
                };
                let mut b = [0u8; 8];
                b.copy_from_slice(seq);
                (Status::Ack(u64::from_le_bytes(b)), 9)
            }
            _ => return Err(StatusError(tag)),
        };
        self.buf.drain(..used);
        Ok(Some(msg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_survive_any_split() {
        let msgs = [
            Status::Ready,
            Status::Ack(7),
            Status::Failed("bad ünïcode".into()),
            Status::Bootstrap("/tmp/.tmpAbC/socket".into()),
            Status::Retire("writing in /srv/new".into()),
            Status::Ack(u64::MAX),
        ];
        let bytes: Vec<u8> = msgs.iter().flat_map(Status::encode).collect();
        for split in 0..=bytes.len() {
            let mut d = StatusDecoder::default();
            let mut got = Vec::new();
            for part in [&bytes[..split], &bytes[split..]] {
                d.push(part);
                while let Some(m) = d.next_message().expect("valid") {
                    got.push(m);
                }
            }
            assert_eq!(got, msgs, "split at {split}");
        }
    }

    #[test]
    fn unknown_tags_and_huge_lengths_are_errors() {
        let mut d = StatusDecoder::default();
        d.push(&[9]);
        assert_eq!(d.next_message(), Err(StatusError(9)));
        let mut d = StatusDecoder::default();
        d.push(&[2, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(d.next_message(), Err(StatusError(2)));
    }

    #[test]
    fn long_failure_text_is_cut_on_a_char_boundary() {
        let text = "é".repeat(MAX_TEXT);
        let mut d = StatusDecoder::default();
        d.push(&Status::Failed(text).encode());
        match d.next_message() {
            Ok(Some(Status::Failed(t))) => {
                assert!(t.len() <= MAX_TEXT && t.chars().all(|c| c == 'é'))
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
