//! Where a backlog's delivery stands: the sequence number of the first
//! record not yet delivered, kept in a file of two checksummed slots written
//! in turn, so a write cut by a crash leaves the other slot whole. The file
//! is a hint: records below it are skipped when the backlog is read again,
//! and a lost or damaged file only means records delivered again.
//!
//! Owns: that file's format and its reads and writes.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

const SLOT: usize = 16;

fn slot(seq: u64) -> [u8; SLOT] {
    let mut b = [0u8; SLOT];
    b[..8].copy_from_slice(&seq.to_le_bytes());
    b[8..12].copy_from_slice(&crc32fast::hash(&seq.to_le_bytes()).to_le_bytes());
    b
}

fn read_slot(b: &[u8]) -> Option<u64> {
    let seq = u64::from_le_bytes(b.get(..8)?.try_into().ok()?);
    let crc = u32::from_le_bytes(b.get(8..12)?.try_into().ok()?);
    (crc32fast::hash(&seq.to_le_bytes()) == crc).then_some(seq)
}

/// The head file, open for reading and writing.
#[derive(Debug)]
pub struct Head {
    file: File,
    seq: u64,
}

impl Head {
    /// Read the file: the larger of its whole slots, 0 when none is whole.
    pub fn open(file: File) -> io::Result<Head> {
        let mut b = [0u8; 2 * SLOT];
        let n = file.read_at(&mut b, 0)?;
        let seq = [b.get(..SLOT.min(n)), b.get(SLOT..n.max(SLOT))]
            .into_iter()
            .flatten()
            .filter_map(read_slot)
            .max()
            .unwrap_or(0);
        Ok(Head { file, seq })
    }

    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Record that every record below `seq` was delivered; `sync` makes it
    /// durable before returning.
    pub fn set(&mut self, seq: u64, sync: bool) -> io::Result<()> {
        if seq == self.seq {
            return Ok(());
        }
        let at = (seq % 2) * SLOT as u64;
        self.file.write_all_at(&slot(seq), at)?;
        if sync {
            self.file.sync_data()?;
        }
        self.seq = seq;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> File {
        tempfile::tempfile().unwrap()
    }

    #[test]
    fn the_newest_whole_slot_wins() {
        let f = file();
        let mut h = Head::open(f.try_clone().unwrap()).unwrap();
        assert_eq!(h.seq(), 0);
        h.set(41, false).unwrap();
        h.set(42, false).unwrap();
        assert_eq!(Head::open(f.try_clone().unwrap()).unwrap().seq(), 42);
        // A torn write of the slot of 43 (odd: the second) leaves 42.
        f.write_all_at(&slot(43)[..5], SLOT as u64).unwrap();
        assert_eq!(Head::open(f).unwrap().seq(), 42);
    }
}
