//! `pysyslog-docs DIR`: the collector's man page (`pysyslog.8`) and shell
//! completions (bash, zsh, fish), generated from its clap definition so they
//! never disagree with `pysyslog --help`. The package ships them (`.ci/run`
//! and the README's packaging steps run this before `cargo deb`).

use std::fs::{self, File};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;

fn generate(dir: &PathBuf) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    let mut command = pysyslog::cli::Args::command();
    let mut page = File::create(dir.join("pysyslog.8"))?;
    clap_mangen::Man::new(command.clone())
        .section("8")
        .render(&mut page)?;
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
