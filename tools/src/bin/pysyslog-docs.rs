//! `pysyslog-docs DIR`: the collector's man page (`pysyslog.8`) and shell
//! completions (bash, zsh, fish), generated from its clap definition so they
//! never disagree with `pysyslog --help`. The package ships them (`.ci/run`
//! and the README's packaging steps run this before `cargo deb`).

use std::fs::{self, File};
use std::path::PathBuf;
use std::process::ExitCode;

use std::io::Write;

use clap::CommandFactory;
use clap_complete::Shell;

/// What `--help` cannot say: the files, the signals, the exit statuses and
/// examples (roff).
const EXTRA_SECTIONS: &str = r#".SH FILES
.TP
/etc/pysyslog/logging.json
The logging configuration (Python's logging.config.dictConfig schema, as JSON).
.TP
/etc/default/pysyslog
The options of the service (PYSYSLOG_OPTS), read by the systemd unit and the init script.
.TP
/var/log/pysyslog/
Where the packaged configuration writes; rotated by /etc/logrotate.d/pysyslog.
.TP
/run/pysyslog.pid
The pid file the init script asks for (\-\-pidfile).
.SH SIGNALS
.TP
SIGTERM, SIGINT
Stop: read what every peer already sent, write it, exit 0 (a second signal cuts it short).
.TP
SIGUSR1
Reopen the output files, and nothing else (logrotate's postrotate).
.TP
SIGHUP
Reopen the output files, re\-read the logging configuration (an invalid one is logged and the old one kept) and, unless running as \-\-user, the TLS certificate and key. Lines before the signal use the old configuration, later ones the new.
.SH EXIT STATUS
.TP
0
Stopped by a signal, or \-\-check\-config found nothing wrong.
.TP
1
A failure while running.
.TP
2
A start\-up error (usage, configuration, address, permissions), printed on one line.
.SH EXAMPLES
.TP
pysyslog 127.0.0.1 5140
Listen on TCP 5140; print INFO:<peer>:<line> on stdout, as pysyslog 0.1.0 did.
.TP
pysyslog 0.0.0.0 514 \-\-listen udp://0.0.0.0:514 \-\-logging\-config /etc/pysyslog/logging.json \-\-user pysyslog
As the service does: TCP and UDP 514, routed by the configuration, as the pysyslog user once the ports are bound.
.TP
pysyslog \-\-parse\-syslog \-\-level\-from\-severity \-\-logger\-name '{facility}.{appname}' \-\-logging\-config routing.json 0.0.0.0 514
Parse each message's syslog header: levels follow severities, loggers are named after facility and program.
.TP
pysyslog \-\-check\-config \-\-logging\-config /etc/pysyslog/logging.json
Check a configuration without starting.
"#;

fn generate(dir: &PathBuf) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    let mut command = pysyslog::cli::Args::command();
    let mut page = File::create(dir.join("pysyslog.8"))?;
    let man = clap_mangen::Man::new(command.clone()).section("8");
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    page.write_all(EXTRA_SECTIONS.as_bytes())?;
    man.render_version_section(&mut page)?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut command, "pysyslog", dir)?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: pysyslog-docs DIR");
        return ExitCode::from(2);
    };
    match generate(&dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pysyslog-docs: {}: {e}", dir.display());
            ExitCode::FAILURE
        }
    }
}
