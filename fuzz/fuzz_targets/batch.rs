//! The batch and status decoders: no panic on any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pysyslog::ipc::{BatchReader, StatusDecoder};

fuzz_target!(|data: &[u8]| {
    if let Ok((_, reader)) = BatchReader::new(data) {
        for item in reader {
            if item.is_err() {
                break;
            }
        }
    }
    let mut d = StatusDecoder::default();
    d.push(data);
    while let Ok(Some(_)) = d.next_message() {}
});
