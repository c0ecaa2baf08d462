//! Any bytes into the chunked decoder, whole and one byte at a time: no panic, the same
//! outcome both ways, never more data out than bytes in.
#![no_main]

use kiln_http::h1::ChunkedDecoder;
use libfuzzer_sys::fuzz_target;

fn decode(input: &[u8], step: usize) -> Result<(Vec<u8>, bool), String> {
    let mut decoder = ChunkedDecoder::new();
    let (mut data, mut pending, mut pos) = (Vec::new(), Vec::new(), 0);
    while pos < input.len() && !decoder.is_done() {
        let end = (pos + step).min(input.len());
        pending.extend_from_slice(&input[pos..end]);
        pos = end;
        loop {
            let out = decoder.decode(&pending).map_err(|e| e.to_string())?;
            if let Some(d) = out.data {
                data.extend_from_slice(d);
            }
            let (used, done) = (out.consumed, out.done);
            pending.drain(..used);
            if used == 0 || done {
                break;
            }
        }
    }
    Ok((data, decoder.is_done()))
}

fuzz_target!(|input: &[u8]| {
    let whole = decode(input, input.len().max(1));
    assert_eq!(whole, decode(input, 1));
    if let Ok((data, _)) = whole {
        assert!(data.len() <= input.len());
    }
});
