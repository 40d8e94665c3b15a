//! The packaged files, run for real: the logrotate snippet, with its paths and
//! user moved to a temporary directory and `nobody`, rotated by the real
//! logrotate (tests/run installs it).

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const NOBODY: u32 = 65534;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn the_logrotate_snippet_rotates_as_the_service_user_and_reloads() {
    assert!(
        is_root(),
        "this test runs logrotate as root, as the package does (CI runs as root)"
    );
    let work = tempfile::tempdir().expect("tempdir");
    fs::set_permissions(work.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    // The package's directory: the service user's, group adm, setgid, 2750.
    let logs = work.path().join("log");
    fs::create_dir(&logs).expect("mkdir");
    std::os::unix::fs::chown(&logs, Some(NOBODY), Some(NOBODY)).expect("chown");
    fs::set_permissions(&logs, fs::Permissions::from_mode(0o2750)).expect("chmod");
    let log = logs.join("messages.log");
    fs::write(&log, "a line\n").expect("write");
    std::os::unix::fs::chown(&log, Some(NOBODY), Some(NOBODY)).expect("chown");

    let reloaded = work.path().join("reloaded");
    let snippet = fs::read_to_string(Path::new(ROOT).join("packaging/logrotate/pysyslog"))
        .expect("packaging/logrotate/pysyslog");
    let reopen = "if [ -d /run/systemd/system ]; then systemctl kill --kill-who=main --signal=USR1 pysyslog.service >/dev/null 2>&1 || true; else /etc/init.d/pysyslog reopen >/dev/null 2>&1 || true; fi";
    assert!(snippet.contains(reopen), "{snippet}");
    let conf = snippet
        .replace("/var/log/pysyslog", &logs.display().to_string())
        .replace("pysyslog adm", "nobody nogroup")
        .replace(reopen, &format!("touch {}", reloaded.display()));
    let conf_path = work.path().join("logrotate.conf");
    fs::write(&conf_path, &conf).expect("write conf");

    let out = Command::new("logrotate")
        .arg("-v")
        .arg("-f")
        .arg("-s")
        .arg(work.path().join("state"))
        .arg(&conf_path)
        .output()
        .expect("logrotate (tests/run installs it)");
    let report =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}");
    assert!(
        report.contains(&format!("switching euid from 0 to {NOBODY}")),
        "logrotate must work in the service user's directory as that user: {report}"
    );
    assert!(!report.contains("error"), "{report}");
    // Rotated, a new file made for the service user, and the collector told.
    assert_eq!(
        fs::read_to_string(logs.join("messages.log.1")).expect("rotated"),
        "a line\n"
    );
    let new = fs::metadata(&log).expect("a new messages.log");
    assert_eq!(
        (new.uid(), new.gid(), new.mode() & 0o777),
        (NOBODY, NOBODY, 0o640)
    );
    assert!(reloaded.exists(), "postrotate tells the service to reopen");
}
