//! The tables of [`super`] against their generator, `gen_pyunicode.py`.

use std::process::Command;

/// The committed tables are what `gen_pyunicode.py` prints under CPython
/// 3.11 (Unicode 14.0.0, the same as the CPython pysyslog is compared with);
/// another Unicode version would print other tables, so it is refused.
#[test]
fn tables_are_what_the_generator_prints() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/logging/pyfmt");
    let python = ["python3.11", "python3"]
        .into_iter()
        .find(|p| {
            Command::new(p)
                .arg("-V")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("python3 is needed for this test");
    let version = Command::new(python)
        .args([
            "-c",
            "import unicodedata; print(unicodedata.unidata_version)",
        ])
        .output()
        .expect("python3 runs");
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        "14.0.0",
        "the tables are CPython 3.11's (Unicode 14.0.0); run this test with that Python"
    );
    let out = Command::new(python)
        .arg(format!("{dir}/gen_pyunicode.py"))
        .output()
        .expect("python3 runs the generator");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let committed = std::fs::read_to_string(format!("{dir}/pyunicode.rs")).unwrap();
    // The tables: from the first line that is `#[rustfmt::skip]` to the
    // test module's declaration at the end.
    let start = committed.find("\n#[rustfmt::skip]\n").unwrap() + 1;
    let end = committed.rfind("\n#[cfg(test)]").unwrap();
    let generated = String::from_utf8(out.stdout).unwrap();
    // Compared by line so that a failure shows where, not 29 kB of text.
    for (n, (ours, theirs)) in committed[start..end]
        .lines()
        .zip(generated.lines())
        .enumerate()
    {
        assert_eq!(ours, theirs, "table line {}", n + 1);
    }
    assert_eq!(committed[start..end].len(), generated.len());
}
