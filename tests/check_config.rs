//! `--check-config`: what start-up would refuse is refused with the same
//! one-line error and exit 2; a good configuration prints `configuration OK`
//! and exits 0; and nothing is bound, created or written either way.

mod util;

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use util::*;

fn check(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--check-config")
        .stdin(Stdio::null())
        .output()
        .expect("run pysyslog --check-config")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn file_config(dir: &Path, out: &Path, extra: &str) -> String {
    let config = dir.join("logging.json");
    let json = serde_json::json!({
        "version": 1,
        "handlers": {"f": serde_json::from_str::<serde_json::Value>(&format!(
            r#"{{"class": "logging.FileHandler", "filename": {}{extra}}}"#,
            serde_json::Value::from(out.display().to_string())
        )).expect("handler json")},
        "root": {"level": "INFO", "handlers": ["f"]},
    });
    fs::write(&config, json.to_string()).expect("write config");
    config.display().to_string()
}

#[test]
fn a_good_configuration_is_ok_and_nothing_is_bound_or_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("messages.log");
    let config = file_config(dir.path(), &out, "");
    // The port is taken: a check that bound it would fail.
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let o = check(&["127.0.0.1", &port, "-l", &config]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "configuration OK\n");
    // The kernel's Landlock ABI, as the kernel itself answers.
    let abi = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32,
        )
    };
    let err = text(&o.stderr);
    if abi > 0 {
        assert!(
            err.contains(&format!("confinement: Landlock ABI {abi} ")),
            "{err}"
        );
    } else {
        assert!(err.contains("confinement: no Landlock"), "{err}");
    }
    assert!(err.contains("seccomp"), "{err}");
    assert!(!out.exists(), "the check created the output file");
}

#[test]
fn what_start_up_refuses_is_refused_with_one_line_and_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port().to_string();
    let bad_json = dir.path().join("bad.json");
    fs::write(
        &bad_json,
        r#"{"version": 1, "handlers": {"x": {"class": "no.Such"}}}"#,
    )
    .expect("write");
    let missing_dir = file_config(dir.path(), &dir.path().join("nowhere/messages.log"), "");
    let other = free_port();
    let tcp = format!("tcp://127.0.0.1:{other}");
    let wildcard = format!("tcp://0.0.0.0:{other}");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["-l".into(), bad_json.display().to_string()],
            "logging configuration:",
        ),
        (vec!["-l".into(), missing_dir.clone()], "handlers.f:"),
        (
            vec![
                "--cert".into(),
                "/nonexistent/cert.pem".into(),
                "--key".into(),
                "/nonexistent/key.pem".into(),
            ],
            "/nonexistent/cert.pem",
        ),
        (
            vec!["--listen".into(), tcp, "--listen".into(), wildcard],
            "0.0.0.0",
        ),
        (
            vec!["--user".into(), "no-such-user-pysyslog".into()],
            "no such user",
        ),
    ];
    for (args, wanted) in cases {
        let mut full = vec!["127.0.0.1".to_owned(), port.clone()];
        full.extend(args.iter().cloned());
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        let o = check(&refs);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(wanted), "{args:?}: {err}");
        assert!(o.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn warnings_come_before_ok() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = file_config(
        dir.path(),
        &dir.path().join("m.log"),
        r#", ".": {"foo": 1}"#,
    );
    let port = free_port().to_string();
    let o = check(&["127.0.0.1", &port, "-l", &config]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("'foo'"), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "configuration OK\n");
}

/// The writer runs as --user: a directory that user cannot write to fails the
/// check (start-up would only find out in the writer, after binding).
#[test]
fn an_output_the_service_user_cannot_create_is_refused() {
    assert!(
        unsafe { libc::geteuid() } == 0,
        "this test checks files as another user (CI runs as root)"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    fs::create_dir(&logs).expect("mkdir");
    fs::set_permissions(&logs, fs::Permissions::from_mode(0o755)).expect("chmod");
    let config = file_config(dir.path(), &logs.join("m.log"), "");
    let port = free_port().to_string();
    let o = check(&[
        "127.0.0.1",
        &port,
        "-l",
        &config,
        "--user",
        "nobody",
        "--group",
        "nogroup",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stdout));
    assert!(
        text(&o.stderr).contains("nobody may not create it"),
        "{}",
        text(&o.stderr)
    );
    // Given to nobody, the same directory passes.
    std::os::unix::fs::chown(&logs, Some(65534), Some(65534)).expect("chown");
    let o = check(&[
        "127.0.0.1",
        &port,
        "-l",
        &config,
        "--user",
        "nobody",
        "--group",
        "nogroup",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
}

/// The check runs beside the collector it checks (before a reload): the pid
/// file that collector holds is not a reason to refuse.
#[test]
fn a_running_collector_does_not_fail_the_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pidfile = dir.path().join("p.pid").display().to_string();
    let c = Collector::start(&["--pidfile", &pidfile]);
    let port = c.port.to_string();
    let o = check(&["127.0.0.1", &port, "--pidfile", &pidfile]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "configuration OK\n");
}

/// Start-up refuses a symlink at an output path (file handlers open with
/// O_NOFOLLOW): so does the check, without touching the link's target.
#[test]
fn a_symlink_at_an_output_path_is_refused_by_the_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("precious");
    fs::write(&target, "precious\n").expect("target");
    let out = dir.path().join("messages.log");
    std::os::unix::fs::symlink(&target, &out).expect("symlink");
    let config = file_config(dir.path(), &out, "");
    let port = free_port().to_string();
    let o = check(&["127.0.0.1", &port, "-l", &config]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("messages.log: is a symbolic link"), "{err}");
    assert_eq!(fs::read_to_string(&target).expect("target"), "precious\n");
}

/// Started as root, a logging configuration or a TLS file that a user other
/// than root and the service user could change is refused, as sshd's
/// `StrictModes` does: by the check and by start-up alike, with the file,
/// who may write it and the fix. The service user may own them.
#[test]
fn trusted_files_that_others_could_change_are_refused_as_root() {
    assert!(
        unsafe { libc::geteuid() } == 0,
        "this test makes files of other owners (CI runs as root)"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let config = file_config(dir.path(), &dir.path().join("m.log"), "");
    let port = free_port().to_string();
    let chmod = |path: &str, mode: u32| {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod")
    };
    let refused = |args: &[&str], wanted: &str| {
        let o = check(args);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o.stdout));
        assert!(text(&o.stderr).contains(wanted), "{}", text(&o.stderr));
    };
    let o = check(&["127.0.0.1", &port, "-l", &config]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));

    chmod(&config, 0o664);
    refused(
        &["127.0.0.1", &port, "-l", &config],
        &format!("--logging-config {config}: is writable by users other than root (owner uid 0, mode 664): they could change what the collector, started as root, reads from it; make it owned by root and writable by its owner only (chown root {config} && chmod go-w {config})"),
    );
    chmod(&config, 0o644);
    std::os::unix::fs::chown(&config, Some(65534), None).expect("chown");
    let owned_by_nobody = "(owner uid 65534, mode 644)";
    refused(&["127.0.0.1", &port, "-l", &config], owned_by_nobody);
    // Start-up says the same, before binding anything.
    let (status, err) = run_with_timeout(
        Command::new(BIN)
            .args(["127.0.0.1", &port, "-l", &config])
            .stdin(Stdio::null()),
    )
    .expect("run");
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains(owned_by_nobody), "{err}");
    // Owned by the service user, the file and its directory pass.
    std::os::unix::fs::chown(dir.path(), Some(65534), Some(65534)).expect("chown");
    let as_nobody = [
        "127.0.0.1",
        &port,
        "-l",
        &config,
        "--user",
        "nobody",
        "--group",
        "nogroup",
    ];
    let o = check(&as_nobody);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    // Without --user, nobody's directory is one another user could change.
    std::os::unix::fs::chown(&config, Some(0), None).expect("chown");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    refused(
        &["127.0.0.1", &port, "-l", &config],
        &format!(
            "--logging-config {config}: its directory {} is writable by users other than root (owner uid 65534, mode 755)",
            dir.path().display()
        ),
    );

    // The TLS files too.
    let tls = tempfile::tempdir().expect("tempdir");
    let (cert, key) = (tls.path().join("s.pem"), tls.path().join("s.key"));
    fs::copy(tls_fixture("server-ec.pem"), &cert).expect("copy");
    fs::copy(tls_fixture("server-ec.key"), &key).expect("copy");
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let with_tls = ["127.0.0.1", &port, "--cert", &cert, "--key", &key];
    chmod(&key, 0o600);
    let o = check(&with_tls);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    chmod(&key, 0o602);
    refused(
        &with_tls,
        &format!("--key {key}: is writable by users other than root (owner uid 0, mode 602)"),
    );
    chmod(&key, 0o600);
    chmod(&cert, 0o666);
    refused(&with_tls, &format!("--cert {cert}: is writable"));
}

/// `--spool-dir` must be the writers' alone: writable by others, a
/// symbolic link, or too small a `--spool-max-bytes` is refused with exit 2;
/// a missing one is not created by the check; a real start creates it 0700.
#[test]
fn a_spool_dir_others_may_change_is_refused_and_a_missing_one_is_created_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let open = dir.path().join("open");
    fs::create_dir(&open).expect("mkdir");
    fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).expect("chmod");
    let o = check(&[
        "127.0.0.1",
        "0",
        "--spool-dir",
        open.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("writable by others"),
        "{}",
        text(&o.stderr)
    );

    let link = dir.path().join("link");
    std::os::unix::fs::symlink(dir.path(), &link).expect("symlink");
    let o = check(&[
        "127.0.0.1",
        "0",
        "--spool-dir",
        link.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("not a directory"),
        "{}",
        text(&o.stderr)
    );

    let missing = dir.path().join("spool");
    let spool_arg = missing.to_str().expect("utf-8");
    let o = check(&[
        "127.0.0.1",
        "0",
        "--spool-dir",
        spool_arg,
        "--spool-max-bytes",
        "100K",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("too small"), "{}", text(&o.stderr));
    let o = check(&["127.0.0.1", "0", "--spool-dir", spool_arg]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(!missing.exists(), "the check created the directory");

    let mut c = Collector::start(&["--spool-dir", spool_arg]);
    let meta = fs::symlink_metadata(&missing).expect("created");
    assert!(meta.is_dir());
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);
    c.stop();
}
