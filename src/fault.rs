//! Faults the tests inject into a running collector, named by the
//! environment variable `PYSYSLOG_FAULT_INJECT`.
//!
//! Owns: the switches' names and reading them. Each makes one process do
//! what a compromised or broken one would, so that a test can check what
//! the others and the confinement make of it; the code that acts on a
//! switch lives where the fault happens. Unset (always, outside the
//! tests), none is on.
//!
//! - `receiver-open-on-reload`: the receiver opens a file on its next
//!   reload (its seccomp filter must stop it);
//! - `receiver-forged-spawn:PATH`: the receiver sends, with every request
//!   for a writer, a logging configuration of its own that writes to PATH,
//!   and asks for a second writer once it has one (the monitor must use
//!   its own configuration and refuse the second writer);
//! - `writer-read:PATH[:PATH...]`: a writer, once confined, tries to read
//!   each PATH and says on stderr whether it could (its Landlock rules
//!   decide).

use std::path::PathBuf;

/// The variable the switches are read from.
pub const VARIABLE: &str = "PYSYSLOG_FAULT_INJECT";

/// One injected fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    ReceiverOpenOnReload,
    ReceiverForgedSpawn(PathBuf),
    WriterRead(Vec<PathBuf>),
}

/// The fault this process was started with, if any (an unknown name is
/// none: a switch never changes what a collector does unless a test set it
/// exactly).
pub fn injected() -> Option<Fault> {
    let value = std::env::var_os(VARIABLE)?;
    parse(value.to_str()?)
}

fn parse(value: &str) -> Option<Fault> {
    if value == "receiver-open-on-reload" {
        return Some(Fault::ReceiverOpenOnReload);
    }
    let (name, path) = value.split_once(':')?;
    match name {
        "receiver-forged-spawn" => Some(Fault::ReceiverForgedSpawn(path.into())),
        "writer-read" => Some(Fault::WriterRead(
            path.split(':').map(PathBuf::from).collect(),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_are_named_exactly() {
        assert_eq!(
            parse("receiver-open-on-reload"),
            Some(Fault::ReceiverOpenOnReload)
        );
        assert_eq!(
            parse("receiver-forged-spawn:/tmp/x.log"),
            Some(Fault::ReceiverForgedSpawn("/tmp/x.log".into()))
        );
        assert_eq!(
            parse("writer-read:/etc/hosts:/etc/passwd"),
            Some(Fault::WriterRead(vec![
                "/etc/hosts".into(),
                "/etc/passwd".into()
            ]))
        );
        assert_eq!(parse("receiver-open-on-reload:x"), None);
        assert_eq!(parse("something-else"), None);
    }
}
