//! Any bytes into the request-head parser: no panic; a complete head never claims more bytes
//! than it was given, and parses to the same head with the next request's bytes behind it
//! (what pipelining relies on); a refusal is always an HTTP error status.
#![no_main]

use kiln_http::h1::{parse_request_head, HeadLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = HeadLimits::default();
    match parse_request_head(data, &limits) {
        Ok(Some((head, len))) => {
            assert!(len <= data.len());
            let mut longer = data[..len].to_vec();
            longer.extend_from_slice(b"GET /next HTTP/1.1\r\n");
            let (again, again_len) =
                parse_request_head(&longer, &limits).expect("the same head parses again").expect("complete");
            assert_eq!((again_len, &again.uri, &again.method), (len, &head.uri, &head.method));
        }
        Ok(None) => {}
        Err(e) => assert!(e.status().is_client_error() || e.status().is_server_error(), "{e}"),
    }
});
