//! The dictConfig parser: no panic on any text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pysyslog::logging::Config;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Config::from_json_str(text, std::path::Path::new("fuzz.json"));
    }
});
