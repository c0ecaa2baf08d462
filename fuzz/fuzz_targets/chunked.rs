//! Any bytes into the chunked decoder, whole and one byte at a time: no panic, the same
//! outcome both ways, never more data out than bytes in.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../http/tests/support/chunked_steps.rs"]
mod chunked_steps;
use chunked_steps::decode;

fuzz_target!(|input: &[u8]| {
    let whole = decode(input, input.len().max(1));
    assert_eq!(whole, decode(input, 1));
    if let Ok((data, _)) = whole {
        assert!(data.len() <= input.len());
    }
});
