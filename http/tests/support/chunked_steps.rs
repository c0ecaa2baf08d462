//! Feeding the chunked decoder its input in pieces: shared by the mutation test
//! (`tests/mutations.rs`) and the cargo-fuzz target (`fuzz/fuzz_targets/chunked.rs`).

use kiln_http::h1::ChunkedDecoder;

/// Decodes `input` fed in pieces of `step` bytes; returns the body data and whether the body
/// finished, or the error's text. Checks on the way that the decoder never claims more input
/// than it was given.
pub fn decode(input: &[u8], step: usize) -> Result<(Vec<u8>, bool), String> {
    let mut decoder = ChunkedDecoder::new();
    let (mut data, mut pending, mut pos) = (Vec::new(), Vec::new(), 0);
    while pos < input.len() && !decoder.is_done() {
        let end = (pos + step).min(input.len());
        pending.extend_from_slice(&input[pos..end]);
        pos = end;
        loop {
            let out = decoder.decode(&pending).map_err(|e| e.to_string())?;
            assert!(out.consumed <= pending.len());
            if let Some(d) = out.data {
                data.extend_from_slice(d);
            }
            let (used, finished) = (out.consumed, out.done);
            pending.drain(..used);
            if used == 0 || finished {
                break;
            }
        }
    }
    Ok((data, decoder.is_done()))
}
