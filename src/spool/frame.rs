//! One record in a backlog segment: `len u32 | crc32 u32 | seq u64 |
//! time_ms u64 | payload`, little-endian. The checksum covers `seq`,
//! `time_ms` and the payload, so a record that is whole but damaged is told
//! apart from one cut short by a crash (a torn tail), and the sequence
//! number tells how many records a damaged stretch held.
//!
//! Owns: the layout, encoding and checking one record. Pure.

/// Bytes before the payload.
pub const HEADER: usize = 24;

/// The largest payload a record may have: a length above it is damage, not a
/// record (the collector's lines are far smaller: `--max-line-length`).
pub const MAX_PAYLOAD: usize = 64 << 20;

/// What the bytes at an offset are.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// A whole record, checked: `len` bytes from the offset, header included.
    Record {
        seq: u64,
        time_ms: u64,
        payload: &'a [u8],
        len: usize,
    },
    /// The bytes end before the record does: the end of what was written,
    /// or a tail a crash cut.
    Incomplete,
    /// A length no record has, or a checksum that does not match.
    Damaged,
}

fn checksum(seq: u64, time_ms: u64, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&seq.to_le_bytes());
    h.update(&time_ms.to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// Append one record to `out`.
pub fn encode(seq: u64, time_ms: u64, payload: &[u8], out: &mut Vec<u8>) {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.reserve(HEADER + payload.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&checksum(seq, time_ms, payload).to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&time_ms.to_le_bytes());
    out.extend_from_slice(payload);
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_le_bytes)
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_le_bytes)
}

/// The record at the start of `b`.
pub fn parse(b: &[u8]) -> Parsed<'_> {
    let (Some(len), Some(crc), Some(seq), Some(time_ms)) =
        (u32_at(b, 0), u32_at(b, 4), u64_at(b, 8), u64_at(b, 16))
    else {
        return Parsed::Incomplete;
    };
    let len = len as usize;
    if len > MAX_PAYLOAD {
        return Parsed::Damaged;
    }
    let Some(payload) = b.get(HEADER..HEADER + len) else {
        return Parsed::Incomplete;
    };
    if checksum(seq, time_ms, payload) != crc {
        return Parsed::Damaged;
    }
    Parsed::Record {
        seq,
        time_ms,
        payload,
        len: HEADER + len,
    }
}

/// The offset of the next whole, checked record after a damaged one at the
/// start of `b` (searched from byte 1) whose sequence number is in `seqs`,
/// if any. Only offsets whose sequence number fits have their checksum
/// computed, so the search stays linear in practice.
pub fn resync(b: &[u8], seqs: std::ops::Range<u64>) -> Option<usize> {
    (1..b.len()).find(|&at| {
        u64_at(b, at + 8).is_some_and(|seq| seqs.contains(&seq))
            && matches!(parse(&b[at..]), Parsed::Record { .. })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_record_round_trips() {
        let mut b = Vec::new();
        encode(7, 1234, b"<14>hello\0", &mut b);
        assert_eq!(
            parse(&b),
            Parsed::Record {
                seq: 7,
                time_ms: 1234,
                payload: b"<14>hello\0",
                len: HEADER + 10
            }
        );
        assert_eq!(parse(&b[..b.len() - 1]), Parsed::Incomplete);
        assert_eq!(parse(&b[..3]), Parsed::Incomplete);
    }

    proptest! {
        /// A flipped bit anywhere in a record is found: never read back as
        /// a record with other contents.
        #[test]
        fn any_flipped_bit_is_found(payload in proptest::collection::vec(any::<u8>(), 0..300),
                                    seq in any::<u64>(), bit in any::<usize>()) {
            let mut b = Vec::new();
            encode(seq, 99, &payload, &mut b);
            let bit = bit % (b.len() * 8);
            b[bit / 8] ^= 1 << (bit % 8);
            match parse(&b) {
                Parsed::Record { seq: s, payload: p, .. } => {
                    prop_assert!(false, "damage read as a record: seq {s}, {} bytes", p.len());
                }
                Parsed::Incomplete | Parsed::Damaged => {}
            }
        }

        /// After damage, the next record is found again.
        #[test]
        fn resync_finds_the_next_record(garbage in proptest::collection::vec(any::<u8>(), 1..100)) {
            let mut b = garbage.clone();
            let at = b.len();
            encode(5, 1, b"next", &mut b);
            let found = resync(&b, 0..u64::MAX).expect("found");
            // Garbage can hold a valid record by chance only with a
            // matching CRC; the record written is found at the latest.
            prop_assert!(found <= at);
        }
    }
}
