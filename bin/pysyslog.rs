//! The collector's executable: parse arguments, run, map errors to exit codes.

// What the collector runs never panics on input, the network or the disk:
// a failure there is an error with its context. Tests may unwrap.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::process::ExitCode;

use clap::Parser;
use pysyslog::cli::Args;

fn main() -> ExitCode {
    // A writer process, started by the collector itself (fork and exec).
    if std::env::args_os().nth(1).as_deref()
        == Some(std::ffi::OsStr::new(pysyslog::writer::boot::SUBCOMMAND))
    {
        let rest: Vec<String> = std::env::args_os()
            .skip(2)
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let code = pysyslog::writer::boot::main(&rest);
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("pysyslog: error: {first} (see 'pysyslog --help')");
            return ExitCode::from(2);
        }
    };
    let result = args
        .into_settings()
        .map_err(pysyslog::error::Error::from)
        .and_then(|settings| {
            if settings.check_config {
                pysyslog::daemon::check_config(settings)
            } else {
                pysyslog::daemon::run(settings)
            }
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The receiver said why, on stderr or to the launcher.
        Err(pysyslog::error::Error::ReceiverExited(code)) => {
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
        Err(e) => {
            eprintln!("pysyslog: error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
