//! Any bytes into the request-head parser: no panic, and a complete head never claims more
//! bytes than it was given.
#![no_main]

use kiln_http::h1::{parse_request_head, HeadLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((_, len))) = parse_request_head(data, &HeadLimits::default()) {
        assert!(len <= data.len());
    }
});
