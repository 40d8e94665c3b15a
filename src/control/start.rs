//! What a writer is started from: the logging configuration as it travels
//! (its text, file name and directory), the configurations a writer may
//! apply, and whether it follows a writer that died. Shared by the monitor
//! (which starts writers), the receiver (which passes reloads on) and the
//! writer (which builds its engine from them).
//!
//! Owns: those types and building an engine from them.

use std::path::Path;

use crate::logging::{Config, Engine};

/// A logging configuration as the writer receives it: the file's text, the
/// file's name and the directory relative names inside it are resolved
/// against. The writer parses it again: it shares no memory with the
/// receiver, and what the receiver validated is what the writer parses.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConfigText {
    pub json: String,
    /// The file's name, as bytes (a path need not be UTF-8).
    pub source: Vec<u8>,
    /// The start-up directory, as bytes.
    pub cwd: Vec<u8>,
}

impl ConfigText {
    pub fn new(json: String, source: &Path, cwd: &Path) -> ConfigText {
        use std::os::unix::ffi::OsStrExt;
        ConfigText {
            json,
            source: source.as_os_str().as_bytes().to_vec(),
            cwd: cwd.as_os_str().as_bytes().to_vec(),
        }
    }

    pub fn source(&self) -> &Path {
        use std::os::unix::ffi::OsStrExt;
        Path::new(std::ffi::OsStr::from_bytes(&self.source))
    }

    pub fn cwd(&self) -> &Path {
        use std::os::unix::ffi::OsStrExt;
        Path::new(std::ffi::OsStr::from_bytes(&self.cwd))
    }

    pub fn parse(&self) -> Result<Config, crate::logging::ConfigError> {
        Config::from_json_str_in(&self.json, self.source(), self.cwd())
    }
}

/// What the writer builds its engine from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum EngineSource {
    /// No `--logging-config`: Python's `basicConfig(stream=sys.stdout, level=INFO)`.
    Basic,
    /// A validated dictConfig file.
    DictConfig(ConfigText),
    /// A configuration re-read on SIGHUP, and the one in force before it. A
    /// writer started later (after a crash) tries the new one first and falls
    /// back to the previous one when it cannot be applied (a file that cannot
    /// be opened: validation cannot tell), as the running writer did.
    Reloaded {
        config: ConfigText,
        previous: Box<EngineSource>,
    },
}

impl EngineSource {
    /// `config` replaces `self`; only the latest previous one is kept.
    pub fn reloaded(self, config: ConfigText) -> EngineSource {
        let previous = match self {
            EngineSource::Reloaded { config, .. } => EngineSource::DictConfig(config),
            other => other,
        };
        EngineSource::Reloaded {
            config,
            previous: Box::new(previous),
        }
    }

    /// Every configuration a writer built from this may apply, newest first.
    pub fn configs(&self) -> Vec<&ConfigText> {
        match self {
            EngineSource::Basic => Vec::new(),
            EngineSource::DictConfig(c) => vec![c],
            EngineSource::Reloaded { config, previous } => {
                let mut all = vec![config];
                all.extend(previous.configs());
                all
            }
        }
    }

    /// Build the engine; also returns what to report when it had to fall back.
    pub fn build(&self, start: Start) -> Result<(Engine, Option<String>), String> {
        let after_crash = matches!(start, Start::AfterCrash);
        let open = |text: &ConfigText| {
            text.parse().map_err(|e| e.to_string()).and_then(|config| {
                Engine::build_opening(&config, after_crash).map_err(|e| e.to_string())
            })
        };
        match self {
            EngineSource::Basic => Ok((Engine::basic_config(), None)),
            EngineSource::DictConfig(config) => open(config).map(|e| (e, None)),
            EngineSource::Reloaded { config, previous } => match open(config) {
                Ok(engine) => Ok((engine, None)),
                Err(e) => {
                    let (engine, _) = previous.build(start)?;
                    Ok((
                        engine,
                        Some(format!(
                            "the reloaded logging configuration cannot be applied, using the previous one: {e}"
                        )),
                    ))
                }
            },
        }
    }
}

/// Whether a writer is the collector's first or replaces one that died.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Start {
    /// At start-up: files are opened as Python opens them (`mode: 'w'`
    /// truncates).
    First,
    /// After a writer died: a file (or stdout, stderr when they are regular
    /// files) that ends in the middle of a line was cut there by the kill, in
    /// a batch the dead writer never acknowledged; the partial line is cut
    /// off before anything is appended, and the replay writes that batch
    /// whole. Cutting rather than ending the line keeps every line one that a
    /// peer sent: an ended fragment would be a line nobody sent. Nothing is
    /// truncated for `mode: 'w'`: what the dead writer wrote was acknowledged.
    AfterCrash,
}
