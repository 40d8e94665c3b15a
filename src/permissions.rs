//! Who may change, or read, the files the collector trusts: checked before
//! they are read, at start-up, by `--check-config` and at each SIGHUP.
//!
//! Owns two rules and their errors. Started as root, the logging configuration
//! and the TLS files (certificate, key, client CA bundle) must not be
//! writable by a user other than root and the service user (`--user`): not
//! owned by another user, not group- or world-writable, and the same for
//! every directory above them (a sticky directory such as `/tmp` excepted,
//! where nobody can replace a file they do not own). Whoever can change
//! them chooses what a collector started as root writes, where it sends,
//! and which clients and key it trusts; sshd's `StrictModes` refuses the
//! same. Not root, the collector can do nothing its user cannot, and
//! nothing is checked.
//!
//! Dropping to `--user`, the TLS key must not be readable by the service
//! user (as its owner, through its group, or as anyone): once start-up is
//! done every process runs as that user, and a compromised one could read
//! the key from the file. The key stays in the receiver's memory, which the
//! service user cannot read (the processes are not dumpable). The price: a
//! monitor running as that user cannot read a new key on SIGHUP either, so
//! under `--user` a new key or certificate takes a restart.
//!
//! Does not own: reading the files (`crate::daemon::configuration`,
//! `crate::tls`) or the identity (`crate::privdrop`).

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::privdrop::Identity;

/// A file the collector trusts that others could change or read.
#[derive(Debug, thiserror::Error)]
pub enum PermissionError {
    /// `file`, or the directory `dir` above it, may be written by a user
    /// other than `trusted` (a description: "root", "root and pysyslog").
    WritableByOthers {
        option: &'static str,
        file: PathBuf,
        dir: Option<PathBuf>,
        trusted: String,
        uid: u32,
        mode: u32,
    },
    /// The service user could read the TLS key.
    KeyReadable {
        file: PathBuf,
        user: String,
        uid: u32,
        gid: u32,
        mode: u32,
    },
    Inspect {
        option: &'static str,
        file: PathBuf,
        #[source]
        source: io::Error,
    },
    /// `--spool-dir` is not a directory of the service user's alone.
    SpoolDir { dir: PathBuf, why: String },
}

impl std::fmt::Display for PermissionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PermissionError::WritableByOthers {
                option,
                file,
                dir,
                trusted,
                uid,
                mode,
            } => {
                let (what, fix, or_move) = match dir {
                    None => ("is".to_owned(), file, ""),
                    Some(d) => (
                        format!("its directory {} is", d.display()),
                        d,
                        ", or move the file to a directory that is",
                    ),
                };
                write!(
                    f,
                    "{option} {}: {what} writable by users other than {trusted} (owner uid {uid}, mode {mode:03o}): they could change what the collector, started as root, reads from it; make it owned by root and writable by its owner only (chown root {fix} && chmod go-w {fix}){or_move}",
                    file.display(),
                    fix = fix.display(),
                )
            }
            PermissionError::KeyReadable {
                file,
                user,
                uid,
                gid,
                mode,
            } => write!(
                f,
                "--key {0}: readable by the service user {user} (owner uid {uid}, group gid {gid}, mode {mode:03o}): once start-up is done every process runs as {user}, and one that is compromised could read the key; make it readable by root only (chown root:root {0} && chmod 600 {0}); under --user a new key takes a restart",
                file.display()
            ),
            PermissionError::SpoolDir { dir, why } => write!(
                f,
                "--spool-dir {}: {why}: the writers keep the backlogs there and must be the only ones to change them",
                dir.display()
            ),
            PermissionError::Inspect {
                option,
                file,
                source,
            } => write!(
                f,
                "{option} {}: cannot check who may change it: {source}",
                file.display()
            ),
        }
    }
}

/// Who may own a trusted file: root, and the service user.
struct Trusted<'a>(Option<&'a Identity>);

impl Trusted<'_> {
    fn owns(&self, uid: u32) -> bool {
        uid == 0 || self.0.is_some_and(|u| u.uid.as_raw() == uid)
    }

    fn who(&self) -> String {
        match self.0 {
            Some(u) if !u.uid.is_root() => format!("root and {}", u.user),
            _ => "root".to_owned(),
        }
    }
}

/// Started as root (`euid_root`): refuse `file` (named by `option` in the
/// error) if a user other than root and `service` could write it or a
/// directory above it. A file that does not exist passes: reading it
/// reports that, as before.
pub fn check_not_writable_by_others(
    option: &'static str,
    file: &Path,
    service: Option<&Identity>,
    euid_root: bool,
) -> Result<(), PermissionError> {
    if !euid_root {
        return Ok(());
    }
    let inspect = |source: io::Error| PermissionError::Inspect {
        option,
        file: file.to_owned(),
        source,
    };
    let real = match fs::canonicalize(file) {
        Ok(real) => real,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(inspect(e)),
    };
    let trusted = Trusted(service);
    let meta = fs::metadata(&real).map_err(inspect)?;
    if !trusted.owns(meta.uid()) || meta.mode() & 0o022 != 0 {
        return Err(writable(option, file, None, &trusted, &meta));
    }
    // The directories of the name given (a link there could be swapped)
    // and of the file it names.
    let dirs = file.ancestors().skip(1).chain(real.ancestors().skip(1));
    for dir in dirs.filter(|d| !d.as_os_str().is_empty()) {
        let meta = fs::metadata(dir).map_err(inspect)?;
        let sticky = meta.mode() & libc::S_ISVTX != 0;
        if !trusted.owns(meta.uid()) || (meta.mode() & 0o022 != 0 && !sticky) {
            return Err(writable(option, file, Some(dir), &trusted, &meta));
        }
    }
    Ok(())
}

/// [`check_not_writable_by_others`] for each TLS file.
pub fn check_tls_files(
    files: &crate::tls::TlsFiles,
    service: Option<&Identity>,
    euid_root: bool,
) -> Result<(), PermissionError> {
    check_not_writable_by_others("--cert", &files.cert, service, euid_root)?;
    check_not_writable_by_others("--key", &files.key, service, euid_root)?;
    if let Some(ca) = &files.client_ca {
        check_not_writable_by_others("--client-ca", ca, service, euid_root)?;
    }
    Ok(())
}

/// Dropping to `service` (started as root, `service` not root): refuse a
/// key file the service user could read through its owner, group or other
/// bits. A file that does not exist passes: reading it reports that.
pub fn check_key_private(
    key: &Path,
    service: &Identity,
    euid_root: bool,
) -> Result<(), PermissionError> {
    if !euid_root || service.uid.is_root() {
        return Ok(());
    }
    let meta = match fs::metadata(key) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(PermissionError::Inspect {
                option: "--key",
                file: key.to_owned(),
                source,
            })
        }
    };
    if readable_by(&meta, service) {
        return Err(PermissionError::KeyReadable {
            file: key.to_owned(),
            user: service.user.clone(),
            uid: meta.uid(),
            gid: meta.gid(),
            mode: meta.mode() & 0o7777,
        });
    }
    Ok(())
}

/// Whether the permission bits let `user` read the file. After dropping
/// privileges it has no supplementary groups: only its own group counts.
fn readable_by(meta: &fs::Metadata, user: &Identity) -> bool {
    let mode = meta.mode();
    if meta.uid() == user.uid.as_raw() {
        return mode & 0o400 != 0;
    }
    if meta.gid() == user.gid.as_raw() {
        return mode & 0o040 != 0;
    }
    mode & 0o004 != 0
}

fn writable(
    option: &'static str,
    file: &Path,
    dir: Option<&Path>,
    trusted: &Trusted<'_>,
    meta: &fs::Metadata,
) -> PermissionError {
    PermissionError::WritableByOthers {
        option,
        file: file.to_owned(),
        dir: dir.map(Path::to_owned),
        trusted: trusted.who(),
        uid: meta.uid(),
        mode: meta.mode() & 0o7777,
    }
}

/// `--spool-dir`: created (mode 0700, owned by the service user) when
/// missing and `create`; then it must be a directory (not a link), owned
/// by the user the writers run as (`service`, or the user starting the
/// collector), and writable by no one else; the directories above it must
/// not be writable by others either.
pub fn check_spool_dir(
    dir: &Path,
    service: Option<&Identity>,
    create: bool,
) -> Result<(), PermissionError> {
    use std::os::unix::fs::DirBuilderExt;
    let bad = |why: String| PermissionError::SpoolDir {
        dir: dir.to_owned(),
        why,
    };
    let owner = service.map_or_else(|| nix::unistd::geteuid().as_raw(), |u| u.uid.as_raw());
    if create && fs::symlink_metadata(dir).is_err() {
        // Missing parents 0755 (the writers must pass through them), the
        // directory itself 0700.
        if let Some(parent) = dir.parent() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(parent)
                .map_err(|e| bad(format!("cannot create its parent: {e}")))?;
        }
        fs::DirBuilder::new()
            .mode(0o700)
            .create(dir)
            .map_err(|e| bad(format!("cannot create it: {e}")))?;
        if let Some(u) = service {
            nix::unistd::chown(dir, Some(u.uid), Some(u.gid))
                .map_err(|e| bad(format!("cannot give it to {}: {e}", u.user)))?;
        }
    }
    let meta = match fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound && !create => return Ok(()),
        Err(e) => return Err(bad(e.to_string())),
    };
    if !meta.is_dir() {
        return Err(bad("not a directory (a symbolic link is refused)".into()));
    }
    if meta.uid() != owner {
        let who = service.map_or_else(|| format!("uid {owner}"), |u| u.user.clone());
        return Err(bad(format!(
            "owned by uid {}, not by {who}, who runs the writers (chown {who} {})",
            meta.uid(),
            dir.display()
        )));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(bad(format!(
            "writable by others (mode {:03o}; chmod go-w {})",
            meta.mode() & 0o777,
            dir.display()
        )));
    }
    // The directories of the name given (a link there could be swapped)
    // and of the directory it names.
    let real = fs::canonicalize(dir).map_err(|e| bad(e.to_string()))?;
    let group = service.map(|u| u.gid.as_raw());
    for above in dir
        .ancestors()
        .skip(1)
        .chain(real.ancestors().skip(1))
        .filter(|d| !d.as_os_str().is_empty())
    {
        let m = fs::metadata(above).map_err(|e| bad(e.to_string()))?;
        let sticky = m.mode() & libc::S_ISVTX != 0;
        let trusted = m.uid() == 0 || m.uid() == owner;
        if !trusted || (m.mode() & 0o022 != 0 && !sticky) {
            return Err(bad(format!(
                "the directory above it, {}, may be changed by others (owner uid {}, mode {:03o})",
                above.display(),
                m.uid(),
                m.mode() & 0o777
            )));
        }
        let passes = owner == 0
            || (m.uid() == owner && m.mode() & 0o100 != 0)
            || (group == Some(m.gid()) && m.mode() & 0o010 != 0)
            || m.mode() & 0o001 != 0;
        if !passes {
            return Err(bad(format!(
                "the user the writers run as cannot pass through the directory above it, {} (mode {:03o})",
                above.display(),
                m.mode() & 0o777
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn nobody() -> Identity {
        Identity {
            user: "nobody".into(),
            uid: nix::unistd::Uid::from_raw(65534),
            group: "nogroup".into(),
            gid: nix::unistd::Gid::from_raw(65534),
        }
    }

    fn chmod(path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    /// Only root can make files of other owners; elsewhere the checks are
    /// not applied (not root), which is what `euid_root: false` tests.
    #[test]
    fn nothing_is_checked_when_not_started_as_root() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("l.json");
        fs::write(&file, "{}").unwrap();
        chmod(&file, 0o666);
        assert!(check_not_writable_by_others("-l", &file, None, false).is_ok());
    }

    #[test]
    fn group_or_world_writable_files_and_directories_are_refused() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("l.json");
        fs::write(&file, "{}").unwrap();
        chmod(&file, 0o644);
        assert!(check_not_writable_by_others("-l", &file, None, true).is_ok());
        chmod(&file, 0o664);
        let e = check_not_writable_by_others("-l", &file, None, true).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "-l {0}: is writable by users other than root (owner uid 0, mode 664): they could change what the collector, started as root, reads from it; make it owned by root and writable by its owner only (chown root {0} && chmod go-w {0})",
                file.display()
            )
        );
        chmod(&file, 0o644);
        chmod(dir.path(), 0o777);
        let e = check_not_writable_by_others("-l", &file, None, true).unwrap_err();
        assert!(
            e.to_string().starts_with(&format!(
                "-l {}: its directory {} is writable by users other than root (owner uid 0, mode 777)",
                file.display(),
                dir.path().display()
            )),
            "{e}"
        );
        // Sticky, as /tmp: nobody replaces a file they do not own.
        chmod(dir.path(), 0o1777);
        assert!(check_not_writable_by_others("-l", &file, None, true).is_ok());
    }

    #[test]
    fn the_service_user_may_own_them_another_user_may_not() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("l.json");
        fs::write(&file, "{}").unwrap();
        std::os::unix::fs::chown(&file, Some(65534), None).unwrap();
        assert!(check_not_writable_by_others("-l", &file, Some(&nobody()), true).is_ok());
        let e = check_not_writable_by_others("-l", &file, None, true).unwrap_err();
        assert!(e.to_string().contains("(owner uid 65534, mode 644)"), "{e}");
        // A link is judged by the file it names.
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(check_not_writable_by_others("-l", &link, None, true).is_err());
    }

    #[test]
    fn a_key_the_service_user_could_read_is_refused() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k.pem");
        fs::write(&key, "key").unwrap();
        chmod(&key, 0o600);
        assert!(check_key_private(&key, &nobody(), true).is_ok());
        assert!(check_key_private(&key, &nobody(), false).is_ok());
        for (owner, group, mode) in [(0, 0, 0o644), (0, 65534, 0o640), (65534, 0, 0o600)] {
            std::os::unix::fs::chown(&key, Some(owner), Some(group)).unwrap();
            chmod(&key, mode);
            let e = check_key_private(&key, &nobody(), true).unwrap_err();
            assert!(
                e.to_string().starts_with(&format!(
                    "--key {}: readable by the service user nobody (owner uid {owner}, group gid {group}, mode {mode:03o})",
                    key.display()
                )),
                "{e}"
            );
        }
        // Dropping to root is no drop.
        let root = Identity {
            user: "root".into(),
            uid: nix::unistd::Uid::from_raw(0),
            group: "root".into(),
            gid: nix::unistd::Gid::from_raw(0),
        };
        assert!(check_key_private(&key, &root, true).is_ok());
    }
}
