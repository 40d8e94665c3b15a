//! The documents stay true to the binary: every collector option they name
//! exists in `pysyslog --help`, every repository file they name exists, and
//! every logging configuration they show passes `--check-config`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const BIN: &str = env!("CARGO_BIN_EXE_pysyslog");

/// README, ARCHITECTURE, CHANGELOG, CONTRIBUTING and every chapter under
/// docs/.
fn documents() -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> = [
        "README.md",
        "ARCHITECTURE.md",
        "CHANGELOG.md",
        "CONTRIBUTING.md",
    ]
    .iter()
    .map(|d| Path::new(ROOT).join(d))
    .collect();
    let mut chapters: Vec<PathBuf> = fs::read_dir(Path::new(ROOT).join("docs"))
        .expect("docs/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    chapters.sort();
    docs.extend(chapters);
    docs
}

/// Backquoted spans of `text` (inline code).
fn code_spans(text: &str) -> impl Iterator<Item = &str> {
    text.split('`').skip(1).step_by(2)
}

/// `--option` words of `text` (not `#--anchor` link fragments).
fn options_in(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("--") {
        let start = i + at;
        let before = start.checked_sub(1).map(|b| bytes[b]);
        let name: String = text[start + 2..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
            .collect();
        let word_start = !matches!(before, Some(b'#' | b'-' | b'a'..=b'z' | b'0'..=b'9'));
        if word_start && name.len() > 1 && name.starts_with(|c: char| c.is_ascii_lowercase()) {
            out.push(format!("--{}", name.trim_end_matches('-')));
        }
        i = start + 2 + name.len();
    }
    out
}

/// Options the documents give the collector: in a command that runs
/// `pysyslog` (not the benchmark tools or cargo) or in a row of an options
/// table.
fn collector_options(doc: &str) -> Vec<String> {
    let other_tool = |s: &str| {
        [
            "bench-peers",
            "pysyslog-flood",
            "cargo ",
            "logger ",
            "systemctl",
            "openssl",
        ]
        .iter()
        .any(|t| s.contains(t))
    };
    let mut found = Vec::new();
    let mut in_fence = false;
    for line in doc.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            if line.contains("pysyslog ") && !other_tool(line) {
                found.extend(options_in(line));
            }
            continue;
        }
        if line.starts_with("| `-") {
            let first_cell = line.split('|').nth(1).unwrap_or_default();
            found.extend(options_in(first_cell));
        }
        for span in code_spans(line) {
            if span.starts_with("pysyslog ") && !other_tool(span) {
                found.extend(options_in(span));
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

#[test]
fn every_option_the_documents_give_the_collector_exists() {
    let out = Command::new(BIN).arg("--help").output().expect("--help");
    let help = String::from_utf8_lossy(&out.stdout);
    let mut missing = Vec::new();
    let mut seen = 0;
    for doc in documents() {
        let text = fs::read_to_string(&doc).expect("read");
        for option in collector_options(&text) {
            seen += 1;
            let known = help
                .split(|c: char| c.is_whitespace() || c == ',' || c == '=' || c == '[')
                .any(|w| w == option);
            if !known {
                missing.push(format!("{}: {option}", doc.display()));
            }
        }
    }
    assert!(
        seen >= 20,
        "too few options found ({seen}): is the extraction broken?"
    );
    assert!(missing.is_empty(), "options not in --help: {missing:#?}");
}

/// Repository paths a document names: in code spans or link targets.
fn named_paths(doc: &Path, text: &str) -> Vec<PathBuf> {
    const TOP: [&str; 8] = [
        "src/",
        "tests/",
        "tools/",
        "bin/",
        "packaging/",
        "examples/",
        "docs/",
        "scripts/",
    ];
    let mut out = Vec::new();
    let links = text
        .split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next());
    for candidate in code_spans(text).chain(links) {
        let candidate = candidate.split(['#', ':', ' ']).next().unwrap_or_default();
        if candidate.contains('*') || candidate.contains('{') || candidate.contains("://") {
            continue;
        }
        if TOP.iter().any(|t| candidate.starts_with(t)) {
            out.push(Path::new(ROOT).join(candidate));
        } else if candidate.ends_with(".md") && !candidate.contains('/') {
            // A link between chapters, relative to the document.
            let dir = doc.parent().unwrap_or(Path::new(ROOT));
            out.push(dir.join(candidate));
        }
    }
    out
}

#[test]
fn every_file_the_documents_name_exists() {
    let mut missing = Vec::new();
    for doc in documents() {
        let text = fs::read_to_string(&doc).expect("read");
        for path in named_paths(&doc, &text) {
            if !path.exists() {
                missing.push(format!("{}: {}", doc.display(), path.display()));
            }
        }
    }
    assert!(missing.is_empty(), "named but missing: {missing:#?}");
}

/// GitHub's anchor for a heading: lower case, spaces as hyphens, punctuation
/// other than hyphens and underscores dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a document's headings (outside fenced blocks), a repeated
/// one numbered as GitHub numbers it (`-1`, `-2`).
fn anchors(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut times = std::collections::HashMap::new();
    let mut in_fence = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        let hashes = line.len() - line.trim_start_matches('#').len();
        if in_fence || !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
            continue;
        }
        let base = slug(&line[hashes..]);
        let seen: &mut usize = times.entry(base.clone()).or_default();
        out.push(if *seen == 0 {
            base
        } else {
            format!("{base}-{seen}")
        });
        *seen += 1;
    }
    out
}

/// Every relative link of the documents (`[text](target)`, the README's to
/// its chapters, the chapters' to each other and back) leads to a file that
/// exists and, with a `#section`, to a heading of that file: moving a section
/// cannot leave a reference to where it was.
#[test]
fn every_link_between_the_documents_resolves() {
    let mut broken = Vec::new();
    let mut seen = 0;
    for doc in documents() {
        let text = fs::read_to_string(&doc).expect("read");
        let dir = doc.parent().unwrap_or(Path::new(ROOT));
        for target in text
            .split("](")
            .skip(1)
            .filter_map(|rest| rest.split(')').next())
        {
            if target.contains("://") || target.contains(' ') || target.starts_with("mailto:") {
                continue;
            }
            seen += 1;
            let (path, anchor) = target.split_once('#').unwrap_or((target, ""));
            let file = if path.is_empty() {
                doc.clone()
            } else {
                dir.join(path)
            };
            if !file.exists() {
                broken.push(format!("{}: {target}: no such file", doc.display()));
                continue;
            }
            if anchor.is_empty() || !file.extension().is_some_and(|e| e == "md") {
                continue;
            }
            let heads = anchors(&fs::read_to_string(&file).expect("read"));
            if !heads.iter().any(|h| h == anchor) {
                broken.push(format!("{}: {target}: no such heading", doc.display()));
            }
        }
    }
    assert!(
        seen >= 50,
        "too few links found ({seen}): is the extraction broken?"
    );
    assert!(broken.is_empty(), "broken links: {broken:#?}");
}

/// The fenced JSON blocks of `text` that are whole dictConfig documents.
fn configurations(text: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut block: Option<String> = None;
    for line in text.lines() {
        match (&mut block, line.trim_start()) {
            (None, l) if l.starts_with("```json") => block = Some(String::new()),
            (Some(b), l) if l.starts_with("```") => {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(b) {
                    if v.get("version").is_some() {
                        out.push(v);
                    }
                }
                block = None;
            }
            (Some(b), l) => {
                b.push_str(l);
                b.push('\n');
            }
            (None, _) => {}
        }
    }
    out
}

/// Point every absolute `filename` into `root` (making its directory), so
/// the check needs no system directory.
fn rehome(config: &mut serde_json::Value, root: &Path) {
    let Some(handlers) = config.get_mut("handlers").and_then(|h| h.as_object_mut()) else {
        return;
    };
    for handler in handlers.values_mut() {
        let Some(name) = handler.get("filename").and_then(|f| f.as_str()) else {
            continue;
        };
        let moved = if name.starts_with('/') {
            format!("{}{name}", root.display())
        } else {
            name.to_owned()
        };
        if let Some(dir) = Path::new(&moved).parent() {
            if !dir.as_os_str().to_string_lossy().contains('{') {
                fs::create_dir_all(dir).expect("mkdir");
            }
        }
        handler["filename"] = serde_json::Value::String(moved);
    }
}

#[test]
fn every_configuration_the_documents_show_passes_check_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut checked = 0;
    let mut failures = Vec::new();
    for doc in documents() {
        let text = fs::read_to_string(&doc).expect("read");
        for (i, mut config) in configurations(&text).into_iter().enumerate() {
            let root = dir.path().join(format!("{checked}"));
            rehome(&mut config, &root);
            let path = dir.path().join(format!("{checked}.json"));
            fs::write(&path, config.to_string()).expect("write");
            let out = Command::new(BIN)
                .args(["--check-config", "--parse-syslog", "--logging-config"])
                .arg(&path)
                .current_dir(dir.path())
                .output()
                .expect("--check-config");
            if !out.status.success() {
                failures.push(format!(
                    "{} block {i}: {}",
                    doc.display(),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            checked += 1;
        }
    }
    assert!(checked >= 5, "too few configurations found ({checked})");
    assert!(failures.is_empty(), "{failures:#?}");
}
