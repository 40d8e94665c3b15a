//! Dropping root: `--user` / `--group`.
//!
//! Owns: resolving the service identity (at start-up, while `/etc/passwd` is
//! certainly readable), the drop itself in the order OpenBSD's privsep uses
//! (supplementary groups, then gid, then uid), and checking that it worked:
//! every real/effective/saved id is the service one, no supplementary group is
//! left, and getting root back fails. Does not own: when to drop (see
//! [`crate::daemon`]: after binding and reading keys and configuration, in both
//! processes).

use nix::unistd::{self, Gid, Group, Uid, User};

/// The user and group both processes run as after start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    pub uid: Uid,
    pub group: String,
    pub gid: Gid,
}

/// Why the identity could not be resolved or taken.
#[derive(Debug, thiserror::Error)]
pub enum PrivError {
    #[error("--user {0}: no such user")]
    UnknownUser(String),
    #[error("--group {0}: no such group")]
    UnknownGroup(String),
    #[error("cannot look up {what} {name}: {source}")]
    Lookup {
        what: &'static str,
        name: String,
        #[source]
        source: nix::Error,
    },
    #[error("--user {user}: switching to another user needs root; start the collector as root (it drops to {user} once the port is bound and the files are read) or leave out --user")]
    NotRoot { user: String },
    #[error("dropping privileges to {user}:{group} failed at {step}: {source}")]
    Step {
        user: String,
        group: String,
        step: &'static str,
        #[source]
        source: nix::Error,
    },
    #[error("dropping privileges to {user}:{group} did not hold: {what}")]
    Verify {
        user: String,
        group: String,
        what: String,
    },
}

impl PrivError {
    /// Every failure here is a start-up failure the operator must fix.
    pub fn exit_code(&self) -> i32 {
        2
    }
}

/// Look up `user` (a name, or a numeric uid) and `group` (default: the user's
/// primary group).
pub fn resolve(user: &str, group: Option<&str>) -> Result<Identity, PrivError> {
    let found = match user.parse::<u32>() {
        Ok(n) => User::from_uid(Uid::from_raw(n)),
        Err(_) => User::from_name(user),
    }
    .map_err(|source| PrivError::Lookup {
        what: "user",
        name: user.to_owned(),
        source,
    })?
    .ok_or_else(|| PrivError::UnknownUser(user.to_owned()))?;
    let (group_name, gid) = match group {
        None => {
            let name = Group::from_gid(found.gid)
                .ok()
                .flatten()
                .map_or_else(|| found.gid.to_string(), |g| g.name);
            (name, found.gid)
        }
        Some(g) => {
            let grp = match g.parse::<u32>() {
                Ok(n) => Group::from_gid(Gid::from_raw(n)),
                Err(_) => Group::from_name(g),
            }
            .map_err(|source| PrivError::Lookup {
                what: "group",
                name: g.to_owned(),
                source,
            })?
            .ok_or_else(|| PrivError::UnknownGroup(g.to_owned()))?;
            (grp.name, grp.gid)
        }
    };
    Ok(Identity {
        user: found.name,
        uid: found.uid,
        group: group_name,
        gid,
    })
}

/// Become `id` for good: clear supplementary groups, set gid, set uid, verify.
///
/// A process already running as `id` (not root) only verifies.
pub fn drop_to(id: &Identity) -> Result<(), PrivError> {
    let step = |step: &'static str| {
        move |source| PrivError::Step {
            user: id.user.clone(),
            group: id.group.clone(),
            step,
            source,
        }
    };
    if !unistd::geteuid().is_root() {
        if unistd::getuid() == id.uid && unistd::getgid() == id.gid {
            return verify(id);
        }
        return Err(PrivError::NotRoot {
            user: id.user.clone(),
        });
    }
    unistd::setgroups(&[]).map_err(step("setgroups"))?;
    unistd::setresgid(id.gid, id.gid, id.gid).map_err(step("setresgid"))?;
    unistd::setresuid(id.uid, id.uid, id.uid).map_err(step("setresuid"))?;
    // Changing the uid made the process dumpable again.
    crate::hardening::forbid_core_dumps().map_err(|e| {
        step("forbid core dumps")(nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0)))
    })?;
    verify(id)
}

/// Check that the process is `id` with no way back to root.
pub fn verify(id: &Identity) -> Result<(), PrivError> {
    let fail = |what: String| PrivError::Verify {
        user: id.user.clone(),
        group: id.group.clone(),
        what,
    };
    let uids = unistd::getresuid().map_err(|e| fail(format!("getresuid: {e}")))?;
    let gids = unistd::getresgid().map_err(|e| fail(format!("getresgid: {e}")))?;
    if [uids.real, uids.effective, uids.saved] != [id.uid; 3] {
        return Err(fail(format!(
            "uids are {}/{}/{} (real/effective/saved), wanted {}",
            uids.real, uids.effective, uids.saved, id.uid
        )));
    }
    if [gids.real, gids.effective, gids.saved] != [id.gid; 3] {
        return Err(fail(format!(
            "gids are {}/{}/{} (real/effective/saved), wanted {}",
            gids.real, gids.effective, gids.saved, id.gid
        )));
    }
    let groups = unistd::getgroups().map_err(|e| fail(format!("getgroups: {e}")))?;
    if groups.iter().any(|g| *g != id.gid) {
        return Err(fail(format!(
            "supplementary groups left: {}",
            groups
                .iter()
                .map(|g| g.to_string())
                .collect::<Vec<_>>()
                .join(",")
        )));
    }
    if !id.uid.is_root() {
        if unistd::setuid(Uid::from_raw(0)).is_ok() || unistd::seteuid(Uid::from_raw(0)).is_ok() {
            return Err(fail("setuid(0) succeeded afterwards".into()));
        }
        if id.gid.as_raw() != 0 && unistd::setgid(Gid::from_raw(0)).is_ok() {
            return Err(fail("setgid(0) succeeded afterwards".into()));
        }
    }
    Ok(())
}

/// Load the local time zone now (libc `tzset`), while `/etc/localtime` and the
/// zone files are certainly readable: the formatter's `asctime` uses it later.
pub fn preload_time_zone() {
    let _ = crate::logging::timefmt::localtime_secs(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_are_errors_naming_them() {
        let e = resolve("no-such-user-pysyslog", None).expect_err("unknown user");
        assert_eq!(e.to_string(), "--user no-such-user-pysyslog: no such user");
        let e = resolve("0", Some("no-such-group-pysyslog")).expect_err("unknown group");
        assert_eq!(
            e.to_string(),
            "--group no-such-group-pysyslog: no such group"
        );
    }

    #[test]
    fn group_defaults_to_the_primary_group() {
        let id = resolve("0", None).expect("uid 0 exists");
        assert_eq!((id.uid.as_raw(), id.gid.as_raw()), (0, 0));
        assert_eq!(id.user, "root");
    }
}
