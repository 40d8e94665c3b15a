//! The layout stays what ARCHITECTURE.md says: every file it names exists, and
//! no module of the product imports a module that imports it.

use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Paths such as `src/link/queue.rs` or `tools/BENCHMARKS.md` in backquotes.
fn named_paths(text: &str) -> Vec<&str> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|span| {
            let first = span.split('/').next().unwrap_or("");
            [
                "src",
                "tests",
                "tools",
                "bin",
                "packaging",
                "fuzz",
                "scripts",
                "docs",
            ]
            .contains(&first)
                && span.contains('.')
                && !span.contains(' ')
                && !span.contains('*')
        })
        .map(|span| span.split("::").next().unwrap_or(span))
        .collect()
}

#[test]
fn every_file_architecture_md_names_exists() {
    let text = std::fs::read_to_string(Path::new(ROOT).join("ARCHITECTURE.md"))
        .expect("ARCHITECTURE.md at the top of the repository");
    let named = named_paths(&text);
    assert!(named.len() >= 20, "too few paths found: {named:?}");
    let missing: Vec<_> = named
        .iter()
        .filter(|p| !Path::new(ROOT).join(p).exists())
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names missing files: {missing:?}"
    );
}

/// `scripts/import_cycles.py` with `args` on the crate's sources: it
/// reports no cycle.
fn assert_no_cycles(args: &[&str]) {
    let out = Command::new("python3")
        .arg(Path::new(ROOT).join("scripts/import_cycles.py"))
        .args(args)
        .arg(Path::new(ROOT).join("src"))
        .output()
        .expect("python3 runs scripts/import_cycles.py (tests/run installs it)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn no_module_imports_a_module_that_imports_it() {
    assert_no_cycles(&[]);
}

/// Nor does a folder import a folder that imports it: the per-file check
/// cannot see `a/x.rs -> b/y.rs -> a/z.rs`, which still ties the two
/// folders together.
#[test]
fn no_folder_imports_a_folder_that_imports_it() {
    assert_no_cycles(&["--folders"]);
}

/// Layers point down: what the lower folders never import. (`logging`
/// still imports `kafka`, whose handler it drives.)
#[test]
fn lower_layers_never_import_higher_ones() {
    let rules: &[(&str, &[&str])] = &[
        (
            "logging",
            &["receiver", "link", "monitor", "writer", "daemon", "control"],
        ),
        ("receiver", &["writer", "monitor", "daemon"]),
        ("link", &["writer", "monitor", "daemon"]),
        (
            "control",
            &["receiver", "link", "monitor", "writer", "daemon"],
        ),
        (
            "spool",
            &["logging", "receiver", "link", "monitor", "writer", "kafka"],
        ),
        (
            "kafka",
            &["logging", "receiver", "link", "monitor", "writer"],
        ),
    ];
    let src = Path::new(ROOT).join("src");
    let mut broken = Vec::new();
    for (folder, never) in rules {
        let dir = src.join(folder);
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).expect("read_dir").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs")
                    || path.to_string_lossy().ends_with("tests.rs")
                {
                    continue;
                }
                let text = std::fs::read_to_string(&path).expect("read");
                // Unit tests may reach anywhere.
                let code = text.split("#[cfg(test)]").next().unwrap_or_default();
                for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
                    for higher in *never {
                        if line.contains(&format!("crate::{higher}::"))
                            || line.contains(&format!("crate::{higher}}}"))
                            || line.contains(&format!("crate::{higher};"))
                        {
                            broken.push(format!("{}: {}", path.display(), line.trim()));
                        }
                    }
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "lower layers import higher ones:\n{}",
        broken.join("\n")
    );
}

/// The folder check sees a cycle the file check does not.
#[test]
fn the_folder_check_sees_a_cycle_between_folders() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path();
    for (path, text) in [
        ("lib.rs", "mod a;\nmod b;\n"),
        ("a/mod.rs", "mod x;\nmod z;\n"),
        ("a/x.rs", "use crate::b::y::Y;\npub struct X;\n"),
        ("a/z.rs", "pub struct Z;\n"),
        ("b/mod.rs", "pub mod y;\n"),
        ("b/y.rs", "use crate::a::z::Z;\npub struct Y;\n"),
    ] {
        let p = src.join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }
    let run = |folders: bool| {
        let mut cmd = Command::new("python3");
        cmd.arg(Path::new(ROOT).join("scripts/import_cycles.py"));
        if folders {
            cmd.arg("--folders");
        }
        cmd.arg(src).output().expect("python3")
    };
    assert!(run(false).status.success(), "no cycle between files");
    let out = run(true);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("crate::a"));
}

/// The script finds a cycle when there is one (so a pass above means something).
#[test]
fn the_cycle_check_sees_a_planted_cycle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path();
    std::fs::write(src.join("lib.rs"), "mod a;\nmod b;\n").expect("lib.rs");
    std::fs::write(src.join("a.rs"), "use crate::b::B;\npub struct A;\n").expect("a.rs");
    std::fs::write(src.join("b.rs"), "use super::a::A;\npub struct B;\n").expect("b.rs");
    let out = Command::new("python3")
        .arg(Path::new(ROOT).join("scripts/import_cycles.py"))
        .arg(src)
        .output()
        .expect("python3");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("crate::a"));
}

/// The Kafka output knows nothing of the logging engine (the engine's
/// handler drives it), so it can be tested and replaced on its own.
#[test]
fn the_kafka_output_does_not_import_the_logging_engine() {
    let dir = Path::new(ROOT).join("src/kafka");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("src/kafka") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("source");
        checked += 1;
        assert!(
            !text.contains("crate::logging") && !text.contains("super::super::logging"),
            "{} imports the logging engine",
            path.display()
        );
    }
    assert!(checked >= 3, "src/kafka has {checked} files");
}

/// stderr is unbuffered: `eprintln!` writes a line in pieces that another
/// process's line can split. The collector's lines go through `say!`.
#[test]
fn no_stderr_line_is_written_in_pieces() {
    let mut offenders = Vec::new();
    let mut stack = vec![Path::new(ROOT).join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("src").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let product = text.split("#[cfg(test)]").next().unwrap_or_default();
            if product.contains("eprintln!(") {
                offenders.push(path.display().to_string());
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "eprintln! in {offenders:?}: use crate::say!"
    );
}
