//! RotatingFileHandler's rollover: `base.N-1 -> base.N ... base -> base.1`.
//!
//! Owns: the renames. Does not own: deciding when (`file.rs`).

use std::io;
use std::path::{Path, PathBuf};

fn numbered(base: &Path, i: u32) -> PathBuf {
    let mut s = base.as_os_str().to_owned();
    s.push(format!(".{i}"));
    PathBuf::from(s)
}

/// `doRollover` with `backupCount > 0`, as Python does it.
pub fn rotate(base: &Path, backup_count: u32) -> io::Result<()> {
    for i in (1..backup_count).rev() {
        let sfn = numbered(base, i);
        let dfn = numbered(base, i + 1);
        if sfn.exists() {
            if dfn.exists() {
                std::fs::remove_file(&dfn)?;
            }
            std::fs::rename(&sfn, &dfn)?;
        }
    }
    let dfn = numbered(base, 1);
    if dfn.exists() {
        std::fs::remove_file(&dfn)?;
    }
    if base.exists() {
        std::fs::rename(base, &dfn)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifts_backups_and_drops_the_oldest() {
        let dir = std::env::temp_dir().join(format!("pysyslog-rot-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let base = dir.join("a.log");
        for (p, c) in [
            (base.clone(), "0"),
            (numbered(&base, 1), "1"),
            (numbered(&base, 2), "2"),
        ] {
            std::fs::write(p, c).unwrap();
        }
        rotate(&base, 2).unwrap();
        assert!(!base.exists());
        assert_eq!(std::fs::read_to_string(numbered(&base, 1)).unwrap(), "0");
        assert_eq!(std::fs::read_to_string(numbered(&base, 2)).unwrap(), "1");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
