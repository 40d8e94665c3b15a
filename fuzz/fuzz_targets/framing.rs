//! The framer: no panic, bounded buffer, and the same frames however the input is cut.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pysyslog::receiver::framing::{Frame, Framer};

fn run(max: usize, input: &[u8], step: usize) -> Vec<(Vec<u8>, bool)> {
    let mut f = Framer::new(max);
    let mut out = Vec::new();
    let mut sink = |fr: Frame<'_>| match fr {
        Frame::Line(l) => out.push((l.to_vec(), false)),
        Frame::Truncated(l) => out.push((l.to_vec(), true)),
    };
    for chunk in input.chunks(step.max(1)) {
        f.push(chunk, &mut sink);
        assert!(f.buffered() <= max.max(1) + 11);
    }
    f.finish(&mut sink);
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&knobs, input)) = data.split_first() else { return };
    let max = 1 + (knobs as usize & 0x3f);
    let step = 1 + (knobs as usize >> 6);
    assert_eq!(run(max, input, step), run(max, input, input.len()));
});
