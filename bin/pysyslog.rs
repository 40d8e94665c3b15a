//! The collector's executable: parse arguments, run, map errors to exit codes.

// What the collector runs never panics on input, the network or the disk:
// a failure there is an error with its context. Tests may unwrap.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::process::ExitCode;

use clap::Parser;
use pysyslog::cli::Args;

fn main() -> ExitCode {
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
        Err(e) => {
            eprintln!("pysyslog: error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
