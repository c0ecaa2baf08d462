//! Mutation testing of the two parsers that face raw network input — the request-head parser
//! and the chunked decoder — on the stable toolchain (cargo-fuzz needs nightly; its targets
//! are in `fuzz/` for machines that have one).
//!
//! From a corpus of valid and nearly-valid inputs, a seeded generator makes tens of
//! thousands of variants (bit flips, inserted CR/LF/NUL/`:`/digits, deletions, duplicated
//! ranges, truncations) and checks properties that must hold for *any* input:
//! - neither parser panics;
//! - a complete head never claims more bytes than it was given, and parsing it again from a
//!   longer buffer gives the same head (extra bytes belong to the next request);
//! - the chunked decoder reaches the same result fed in one piece or one byte at a time, and
//!   never hands out more data than the input held.

use kiln_http::h1::{parse_request_head, HeadLimits};

/// xorshift64*: deterministic, so a failure names a seed that reproduces it.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: &[u8] = b"\r\n\0:; \t0123456789abcdefABCDEF,-+xX\x7f\xff";

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(6) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 => v.insert(at, INTERESTING[rng.below(INTERESTING.len())]),
            2 if at < v.len() => {
                let n = 1 + rng.below(8).min(v.len() - at - 1);
                v.drain(at..at + n);
            }
            3 if at < v.len() => {
                let end = (at + 1 + rng.below(16)).min(v.len());
                let piece = v[at..end].to_vec();
                let to = rng.below(v.len() + 1);
                v.splice(to..to, piece);
            }
            4 => v.truncate(at),
            _ => {
                if !v.is_empty() {
                    let i = rng.below(v.len());
                    v[i] = INTERESTING[rng.below(INTERESTING.len())];
                }
            }
        }
    }
    v
}

const HEADS: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST /books?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Type: application/json\r\n\r\nhello",
    b"POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
    b"GET /k HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"PUT /a/b HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
    b"OPTIONS * HTTP/1.1\r\nHost: a:8080\r\nOrigin: https://x\r\n\r\n",
];

#[test]
fn the_head_parser_survives_mutations() {
    let limits = HeadLimits::default();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut complete, mut refused, mut partial) = (0, 0, 0);
    for round in 0..40_000 {
        let seed = HEADS[round % HEADS.len()];
        let input = mutate(&mut rng, seed);
        match parse_request_head(&input, &limits) {
            Ok(Some((head, len))) => {
                complete += 1;
                assert!(len <= input.len(), "round {round}: claimed {len} of {} bytes", input.len());
                let mut longer = input[..len].to_vec();
                longer.extend_from_slice(b"GET /next HTTP/1.1\r\n");
                let again =
                    parse_request_head(&longer, &limits).expect("same head parses again").expect("complete");
                assert_eq!(
                    (again.1, &again.0.uri, &again.0.method),
                    (len, &head.uri, &head.method),
                    "round {round}"
                );
            }
            Ok(None) => partial += 1,
            Err(e) => {
                refused += 1;
                assert!(e.status().is_client_error() || e.status().is_server_error(), "round {round}: {e}");
            }
        }
    }
    // The mutations must exercise all three outcomes, or the test proves little.
    assert!(complete > 1_000 && refused > 1_000 && partial > 1_000, "{complete} / {refused} / {partial}");
}

const BODIES: &[&[u8]] = &[
    b"5\r\nhello\r\n0\r\n\r\n",
    b"3;ext=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nTrailer: x\r\n\r\n",
    b"1\r\na\r\n1\r\nb\r\n0\r\n\r\n",
    b"FFFFFFFFFFFFFFFF\r\n",
];

#[path = "support/chunked_steps.rs"]
mod chunked_steps;
use chunked_steps::decode;

#[test]
fn the_chunked_decoder_survives_mutations_and_is_split_invariant() {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let (mut done, mut errors) = (0, 0);
    for round in 0..30_000 {
        let input = mutate(&mut rng, BODIES[round % BODIES.len()]);
        let whole = decode(&input, input.len().max(1));
        let bytewise = decode(&input, 1);
        assert_eq!(whole, bytewise, "round {round}: {:?}", String::from_utf8_lossy(&input));
        match whole {
            Ok((data, finished)) => {
                assert!(data.len() <= input.len(), "round {round}: more data than input");
                done += usize::from(finished);
            }
            Err(_) => errors += 1,
        }
    }
    assert!(done > 1_000 && errors > 1_000, "{done} finished / {errors} refused");
}
