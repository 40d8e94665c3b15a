//! Everything start-up reads before it binds a port: the paths made absolute,
//! the `--user` identity, the logging configuration and the TLS files. Start-up
//! and `--check-config` read them through the same code, so a check that
//! passes means a start that gets as far as binding.
//!
//! `--check-config` adds what start-up only finds out later by doing it: the
//! listeners' addresses resolved and checked against each other (without
//! binding), and each output file that is opened at start (not `delay`ed)
//! checked writable by the user the writer will run as. It binds nothing,
//! drops nothing and writes nothing.
//!
//! Started as root, each file is checked first: one that a user other than
//! root and the service user could change is refused, and so is a TLS key
//! the service user could read ([`crate::permissions`]).
//!
//! Owns: that reading and those checks. Does not own: the order of start-up
//! (`daemon`), what each file means (`logging`, `tls`, `receiver::listener`).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::unistd::{Gid, Uid};

use super::error::Error;
use crate::cli::Settings;
use crate::control::{ConfigText, EngineSource};
use crate::logging::spec::{FileArgs, HandlerClass};
use crate::logging::{Config, ConfigError};
use crate::permissions;
use crate::privdrop::{self, Identity};
use crate::receiver::listener;
use crate::tls;

/// What start-up read, ready for binding and forking.
pub struct Prepared {
    /// The directory the collector was started in (reloads resolve against it).
    pub cwd: PathBuf,
    pub identity: Option<Identity>,
    pub engine_source: EngineSource,
    /// The logging configuration as validated (`None` without one).
    pub config: Option<Config>,
    pub tls: Option<tls::Loaded>,
    /// For the operator once start-up succeeded (never part of an error).
    pub warnings: Vec<String>,
    /// The logging configuration's own warnings (also logged under
    /// `pysyslog.config` once the collector runs).
    pub config_warnings: Vec<String>,
}

fn absolute(path: &mut PathBuf) -> Result<(), Error> {
    if path.is_relative() {
        *path = std::path::absolute(&*path).map_err(Error::Io)?;
    }
    Ok(())
}

/// Make `settings`' paths absolute (a daemon changes to `/`) and read what
/// they name. With `refuse_if_running`, a collector already holding
/// `--pidfile` is refused before the files are read, so the error names the
/// real cause (`--check-config` runs beside the collector it checks for).
pub fn prepare(settings: &mut Settings, refuse_if_running: bool) -> Result<Prepared, Error> {
    let cwd = std::env::current_dir().map_err(Error::Io)?;
    for path in settings
        .logging_config
        .iter_mut()
        .chain(&mut settings.pidfile)
    {
        absolute(path)?;
    }
    if let Some(files) = &mut settings.tls {
        absolute(&mut files.cert)?;
        absolute(&mut files.key)?;
        if let Some(ca) = &mut files.client_ca {
            absolute(ca)?;
        }
    }
    let identity = match &settings.user {
        Some(user) => Some(privdrop::resolve(user, settings.group.as_deref())?),
        None => None,
    };
    let mut warnings = Vec::new();
    if identity.is_none() && nix::unistd::geteuid().is_root() {
        warnings.push(
            "running as root; use --user (for example --user pysyslog) to drop privileges once the port is bound".to_owned(),
        );
    }
    if let (true, Some(path)) = (refuse_if_running, &settings.pidfile) {
        super::pidfile::check_free(path)?;
    }
    check_trusted_files(settings, identity.as_ref())?;
    if let Some(spool) = &mut settings.spool {
        absolute(&mut spool.dir)?;
        crate::permissions::check_spool_dir(&spool.dir, identity.as_ref(), refuse_if_running)?;
    }
    let (engine_source, config) = match &settings.logging_config {
        Some(path) => {
            let json = std::fs::read_to_string(path).map_err(|e| {
                crate::logging::ConfigError::new(path, "", crate::logging::os_error_text(&e, path))
            })?;
            let text = ConfigText::new(json, path, &cwd);
            let config = text.parse()?;
            (EngineSource::DictConfig(text), Some(config))
        }
        None => (EngineSource::Basic, None),
    };
    let config_warnings = config
        .as_ref()
        .map(|c| c.warnings.clone())
        .unwrap_or_default();
    warnings.extend(config_warnings.iter().cloned());
    if let (false, Some(c)) = (settings.records.parse_syslog, &config) {
        let users = c.syslog_attribute_users();
        if !users.is_empty() {
            warnings.push(format!(
                "{}: {} read syslog attributes, which records have only with --parse-syslog: without it a format naming one fails on every record, a SyslogFilter passes nothing, and a DynamicFileHandler's field is `-`",
                c.source.display(),
                users.join(", ")
            ));
        }
    }
    let tls = match &settings.tls {
        Some(files) => Some(tls::load(files)?),
        None => None,
    };
    Ok(Prepared {
        cwd,
        identity,
        engine_source,
        config,
        tls,
        warnings,
        config_warnings,
    })
}

/// Started as root: the logging configuration and the TLS files must not be
/// writable by users other than root and the service user, and under
/// `--user` the key must not be readable by the service user.
fn check_trusted_files(settings: &Settings, identity: Option<&Identity>) -> Result<(), Error> {
    let root = nix::unistd::geteuid().is_root();
    if let Some(path) = &settings.logging_config {
        permissions::check_not_writable_by_others("--logging-config", path, identity, root)?;
    }
    if let Some(files) = &settings.tls {
        permissions::check_tls_files(files, identity, root)?;
        if let Some(id) = identity {
            permissions::check_key_private(&files.key, id, root)?;
        }
    }
    Ok(())
}

/// `--check-config`: every check start-up makes before binding, the
/// listeners planned without binding, and the outputs opened at start
/// checked writable. Returns the warnings start-up would print.
pub fn check(mut settings: Settings) -> Result<Vec<String>, Error> {
    let prepared = prepare(&mut settings, false)?;
    listener::plan(&settings.listeners)?;
    if let Some(config) = &prepared.config {
        check_outputs(config, prepared.identity.as_ref())?;
    }
    let mut warnings = prepared.warnings;
    if let Some(loaded) = &prepared.tls {
        warnings.extend(loaded.warnings.iter().cloned());
    }
    Ok(warnings)
}

/// The files a handler opens at start (`delay` false), with whether it also
/// renames in the directory (rotation).
fn opened_at_start(class: &HandlerClass) -> Option<(&FileArgs, bool)> {
    let (file, rotates) = match class {
        HandlerClass::File(f) | HandlerClass::Watched(f) => (f, false),
        HandlerClass::Rotating { file, .. } | HandlerClass::Timed { file, .. } => (file, true),
        _ => return None,
    };
    (!file.delay).then_some((file, rotates))
}

/// Who the writer will be: `--user`, or this process.
struct Writer {
    uid: Uid,
    gid: Gid,
    name: String,
}

impl Writer {
    fn of(identity: Option<&Identity>) -> Writer {
        match identity {
            Some(id) => Writer {
                uid: id.uid,
                gid: id.gid,
                name: id.user.clone(),
            },
            None => Writer {
                uid: nix::unistd::geteuid(),
                gid: nix::unistd::getegid(),
                name: format!("uid {}", nix::unistd::geteuid()),
            },
        }
    }

    /// Whether the permission bits let this user do `want` (a mask of the
    /// owner's bits: 0o2 write, 0o1 search) to a file. After dropping
    /// privileges the writer has no supplementary groups, so only its own
    /// group counts.
    fn may(&self, meta: &fs::Metadata, want: u32) -> bool {
        if self.uid.is_root() {
            return true;
        }
        let shift = if meta.uid() == self.uid.as_raw() {
            6
        } else if meta.gid() == self.gid.as_raw() {
            3
        } else {
            0
        };
        (meta.mode() >> shift) & want == want
    }
}

fn check_outputs(config: &Config, identity: Option<&Identity>) -> Result<(), Error> {
    let writer = Writer::of(identity);
    for spec in &config.handlers {
        let Some((file, rotates)) = opened_at_start(&spec.class) else {
            continue;
        };
        let fail = |path: &Path, reason: String| {
            Error::Config(ConfigError::new(
                &config.source,
                format!("handlers.{}", spec.name),
                format!("{}: {reason}", path.display()),
            ))
        };
        let dir = file.path.parent().unwrap_or(Path::new("/"));
        let dir_meta = match fs::metadata(dir) {
            Ok(m) if m.is_dir() => m,
            Ok(_) => return Err(fail(dir, "is not a directory".into())),
            Err(e) => return Err(fail(dir, format!("the directory cannot be used: {e}"))),
        };
        // Not following a link: the file handlers open with O_NOFOLLOW.
        let exists = match fs::symlink_metadata(&file.path) {
            Ok(meta) => {
                if meta.file_type().is_symlink() {
                    return Err(fail(
                        &file.path,
                        "is a symbolic link: file handlers never write through one".into(),
                    ));
                }
                if meta.is_dir() {
                    return Err(fail(&file.path, "is a directory".into()));
                }
                if !writer.may(&meta, 0o2) {
                    return Err(fail(
                        &file.path,
                        format!("{} may not write it", writer.name),
                    ));
                }
                true
            }
            Err(_) => false,
        };
        if (!exists || rotates) && !writer.may(&dir_meta, 0o3) {
            let what = if exists {
                "rotate files in its directory"
            } else {
                "create it in its directory"
            };
            return Err(fail(&file.path, format!("{} may not {what}", writer.name)));
        }
    }
    Ok(())
}
