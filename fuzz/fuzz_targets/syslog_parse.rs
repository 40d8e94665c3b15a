//! The syslog header parser: no panic on any line, every field borrowed from
//! the line, MSG a suffix of it, and structured data it accepts splittable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pysyslog::syslog::{parse::parse, sd};

fn within(line: &str, field: &str) -> bool {
    let (l, f) = (line.as_ptr() as usize, field.as_ptr() as usize);
    f >= l && f + field.len() <= l + line.len()
}

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    let _ = sd::elements(&line);
    let Some(h) = parse(&line) else { return };
    assert!(h.pri <= 191);
    let fields = [
        h.timestamp,
        h.hostname,
        h.appname,
        h.procid,
        h.msgid,
        h.structured_data,
    ];
    assert!(fields.iter().flatten().all(|f| within(&line, f)));
    assert!(within(&line, h.message) && line.ends_with(h.message));
    assert_eq!(
        h.message.as_ptr() as usize + h.message.len(),
        line.as_ptr() as usize + line.len()
    );
    if let Some(raw) = h.structured_data {
        assert!(sd::elements(raw).is_some());
    }
});
