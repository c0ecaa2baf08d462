//! The chunked transfer coding (RFC 9112 §7.1), decoded incrementally and strictly.
//!
//! A chunked body is a series of `size-in-hex [; extensions] CRLF data CRLF`, ended by a
//! zero-size chunk, optional trailer fields and a final CRLF. Being lenient here is how
//! request smuggling happens (a proxy and a server that disagree on where a body ends), so
//! the decoder accepts exactly the grammar:
//! - the size is one or more hex digits, parsed with checked arithmetic (an overflowing size
//!   is an error, never a wrap-around);
//! - every line ends in CRLF: a bare LF or a CR not followed by LF is an error;
//! - chunk extensions are skipped but bounded ([`MAX_CHUNK_EXT`]);
//! - trailer fields are read, bounded ([`MAX_TRAILERS`]) and discarded: they never affect
//!   framing.
//!
//! The decoder is a state machine fed whatever bytes have arrived; it reports how much of the
//! input it consumed and hands out body data as sub-slices of the input, without copying.

use std::fmt;

/// Longest chunk-extension section accepted on one chunk-size line, in bytes.
pub const MAX_CHUNK_EXT: usize = 4 * 1024;
/// Longest trailer section accepted, in bytes.
pub const MAX_TRAILERS: usize = 16 * 1024;

/// Why a chunked body is malformed. Every case means "400 and close the connection": after a
/// framing error nobody knows where the next request starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkedError {
    /// A chunk-size line did not start with a hex digit.
    MissingSize,
    /// A chunk size does not fit in 64 bits.
    SizeOverflow,
    /// A byte that the grammar does not allow at that point.
    Invalid(&'static str),
    /// Chunk extensions longer than [`MAX_CHUNK_EXT`].
    ExtensionTooLong,
    /// A trailer section longer than [`MAX_TRAILERS`].
    TrailersTooLong,
}

impl fmt::Display for ChunkedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChunkedError::MissingSize => f.write_str("chunk size missing"),
            ChunkedError::SizeOverflow => f.write_str("chunk size overflows 64 bits"),
            ChunkedError::Invalid(what) => write!(f, "malformed chunked body: {what}"),
            ChunkedError::ExtensionTooLong => write!(f, "chunk extensions over {MAX_CHUNK_EXT} bytes"),
            ChunkedError::TrailersTooLong => write!(f, "trailer section over {MAX_TRAILERS} bytes"),
        }
    }
}

impl std::error::Error for ChunkedError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading hex digits; `any` says whether one was seen.
    Size {
        size: u64,
        any: bool,
    },
    /// After the size: optional whitespace, then `;` extensions or CR.
    AfterSize {
        size: u64,
        ext: usize,
        in_ext: bool,
    },
    /// Saw the CR of a chunk-size line.
    SizeLf {
        size: u64,
    },
    Data {
        remaining: u64,
    },
    DataCr,
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    TrailerStart {
        total: usize,
    },
    /// Inside a trailer field line.
    TrailerLine {
        total: usize,
    },
    TrailerLf {
        total: usize,
    },
    /// Saw the CR of the final empty line.
    EndLf,
    Done,
}

/// Incremental decoder state; see the module docs.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
}

/// What one call to [`ChunkedDecoder::decode`] produced.
#[derive(Debug, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// Input bytes consumed.
    pub consumed: usize,
    /// Body data found (a sub-slice of the input), if any. At most one slice per call: call
    /// again with the rest of the input.
    pub data: Option<&'a [u8]>,
    /// True once the whole body, trailers included, has been read.
    pub done: bool,
}

impl Default for ChunkedDecoder {
    fn default() -> ChunkedDecoder {
        ChunkedDecoder::new()
    }
}

impl ChunkedDecoder {
    /// A decoder at the start of a chunked body.
    pub fn new() -> ChunkedDecoder {
        ChunkedDecoder { state: State::Size { size: 0, any: false } }
    }

    /// True once the final chunk and trailers have been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Consumes framing bytes from `input` until it finds body data (returned as a slice of
    /// `input`), reaches the end of the body, or runs out of input.
    ///
    /// # Errors
    /// [`ChunkedError`] on anything the grammar does not allow.
    pub fn decode<'a>(&mut self, input: &'a [u8]) -> Result<Decoded<'a>, ChunkedError> {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            self.state = match self.state {
                State::Done => break,
                State::Size { size, any } => match hex(b) {
                    Some(d) => {
                        let size = size
                            .checked_mul(16)
                            .and_then(|s| s.checked_add(d))
                            .ok_or(ChunkedError::SizeOverflow)?;
                        State::Size { size, any: true }
                    }
                    None if !any => return Err(ChunkedError::MissingSize),
                    None => {
                        // Re-read this byte in the next state.
                        self.state = State::AfterSize { size, ext: 0, in_ext: false };
                        continue;
                    }
                },
                State::AfterSize { size, ext, in_ext } => match b {
                    b'\r' => State::SizeLf { size },
                    b'\n' => return Err(ChunkedError::Invalid("bare LF after chunk size")),
                    b';' => State::AfterSize { size, ext: ext + 1, in_ext: true },
                    b' ' | b'\t' if !in_ext => State::AfterSize { size, ext: ext + 1, in_ext },
                    _ if in_ext && b != 0 && b != 0x7f => {
                        if ext + 1 > MAX_CHUNK_EXT {
                            return Err(ChunkedError::ExtensionTooLong);
                        }
                        State::AfterSize { size, ext: ext + 1, in_ext }
                    }
                    _ => return Err(ChunkedError::Invalid("unexpected byte after chunk size")),
                },
                State::SizeLf { size } => match b {
                    b'\n' if size == 0 => State::TrailerStart { total: 0 },
                    b'\n' => State::Data { remaining: size },
                    _ => return Err(ChunkedError::Invalid("CR not followed by LF")),
                },
                State::Data { remaining } => {
                    let take = (input.len() - i).min(usize::try_from(remaining).unwrap_or(usize::MAX));
                    let left = remaining - take as u64;
                    self.state = if left == 0 { State::DataCr } else { State::Data { remaining: left } };
                    return Ok(Decoded { consumed: i + take, data: Some(&input[i..i + take]), done: false });
                }
                State::DataCr => match b {
                    b'\r' => State::DataLf,
                    _ => return Err(ChunkedError::Invalid("chunk data not followed by CRLF")),
                },
                State::DataLf => match b {
                    b'\n' => State::Size { size: 0, any: false },
                    _ => return Err(ChunkedError::Invalid("CR not followed by LF")),
                },
                State::TrailerStart { total } => match b {
                    b'\r' => State::EndLf,
                    b'\n' => return Err(ChunkedError::Invalid("bare LF in trailers")),
                    _ => State::TrailerLine { total: bump(total)? },
                },
                State::TrailerLine { total } => match b {
                    b'\r' => State::TrailerLf { total: bump(total)? },
                    b'\n' | 0 => return Err(ChunkedError::Invalid("bad byte in a trailer field")),
                    _ => State::TrailerLine { total: bump(total)? },
                },
                State::TrailerLf { total } => match b {
                    b'\n' => State::TrailerStart { total: bump(total)? },
                    _ => return Err(ChunkedError::Invalid("CR not followed by LF")),
                },
                State::EndLf => match b {
                    b'\n' => {
                        self.state = State::Done;
                        return Ok(Decoded { consumed: i + 1, data: None, done: true });
                    }
                    _ => return Err(ChunkedError::Invalid("CR not followed by LF")),
                },
            };
            i += 1;
        }
        Ok(Decoded { consumed: i, data: None, done: self.state == State::Done })
    }
}

/// Why [`ChunkedDecoder::decode_into`] stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeIntoError {
    /// The framing is malformed.
    Malformed(ChunkedError),
    /// The body grew past the caller's limit.
    TooLarge,
}

impl ChunkedDecoder {
    /// Decodes as much of `input` as it can, appending body data to `out` but never past
    /// `max_body` bytes in all; returns how much input it consumed. Call again with more
    /// input until [`ChunkedDecoder::is_done`]. The loop the server's request reader and the
    /// client's response reader share.
    ///
    /// # Errors
    /// [`DecodeIntoError`].
    pub fn decode_into(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        max_body: usize,
    ) -> Result<usize, DecodeIntoError> {
        let mut used = 0;
        while used < input.len() && !self.is_done() {
            let step = self.decode(&input[used..]).map_err(DecodeIntoError::Malformed)?;
            if let Some(data) = step.data {
                if out.len() + data.len() > max_body {
                    return Err(DecodeIntoError::TooLarge);
                }
                out.extend_from_slice(data);
            }
            if step.consumed == 0 {
                break;
            }
            used += step.consumed;
        }
        Ok(used)
    }
}

fn hex(b: u8) -> Option<u64> {
    match b {
        b'0'..=b'9' => Some(u64::from(b - b'0')),
        b'a'..=b'f' => Some(u64::from(b - b'a' + 10)),
        b'A'..=b'F' => Some(u64::from(b - b'A' + 10)),
        _ => None,
    }
}

fn bump(total: usize) -> Result<usize, ChunkedError> {
    if total + 1 > MAX_TRAILERS {
        return Err(ChunkedError::TrailersTooLong);
    }
    Ok(total + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed in pieces of `step` bytes; returns the body or the error.
    fn decode_all(input: &[u8], step: usize) -> Result<(Vec<u8>, usize), ChunkedError> {
        let mut d = ChunkedDecoder::new();
        let mut body = Vec::new();
        let mut pos = 0;
        let mut fed = 0;
        while !d.is_done() {
            fed = (fed + step).min(input.len());
            let window = &input[pos..fed];
            let r = d.decode(window)?;
            if let Some(data) = r.data {
                body.extend_from_slice(data);
            }
            pos += r.consumed;
            if r.consumed == 0 && fed == input.len() {
                break; // needs more input than there is
            }
        }
        assert!(d.is_done(), "incomplete body");
        Ok((body, pos))
    }

    #[test]
    fn decodes_in_any_split_and_stops_at_the_end() {
        let input = b"5\r\nhello\r\nA;name=value\r\n0123456789\r\n0\r\nX-Trailer: yes\r\n\r\nNEXT REQUEST";
        for step in [1, 2, 3, 7, 100] {
            let (body, used) = decode_all(input, step).unwrap();
            assert_eq!(body, b"hello0123456789", "step {step}");
            assert_eq!(&input[used..], b"NEXT REQUEST", "the next request is untouched");
        }
        assert_eq!(decode_all(b"0\r\n\r\n", 1).unwrap().0, b"");
        assert_eq!(decode_all(b"00000003 ;x\r\nabc\r\n0\r\n\r\n", 4).unwrap().0, b"abc");
    }

    #[test]
    fn rejects_what_the_grammar_does_not_allow() {
        let cases: &[(&[u8], ChunkedError)] = &[
            (b"\r\n", ChunkedError::MissingSize),
            (b"-5\r\nhello\r\n0\r\n\r\n", ChunkedError::MissingSize),
            (b"0x5\r\nhello\r\n0\r\n\r\n", ChunkedError::Invalid("unexpected byte after chunk size")),
            (b"5\nhello\r\n0\r\n\r\n", ChunkedError::Invalid("bare LF after chunk size")),
            (b"5\rxhello\r\n0\r\n\r\n", ChunkedError::Invalid("CR not followed by LF")),
            (b"5\r\nhelloX\r\n0\r\n\r\n", ChunkedError::Invalid("chunk data not followed by CRLF")),
            (b"5\r\nhello\n0\r\n\r\n", ChunkedError::Invalid("chunk data not followed by CRLF")),
            (b"5\r\nhello\r\n0\r\n\n", ChunkedError::Invalid("bare LF in trailers")),
            (b"10000000000000000\r\n", ChunkedError::SizeOverflow),
            (b"ffffffffffffffff0\r\n", ChunkedError::SizeOverflow),
        ];
        for (input, expected) in cases {
            assert_eq!(decode_all(input, 1).unwrap_err(), *expected, "{:?}", String::from_utf8_lossy(input));
        }
        let mut long_ext = b"1;".to_vec();
        long_ext.extend(std::iter::repeat_n(b'a', MAX_CHUNK_EXT + 1));
        assert_eq!(decode_all(&long_ext, 64).unwrap_err(), ChunkedError::ExtensionTooLong);
        let mut long_trailer = b"0\r\nX: ".to_vec();
        long_trailer.extend(std::iter::repeat_n(b'a', MAX_TRAILERS));
        assert_eq!(decode_all(&long_trailer, 64).unwrap_err(), ChunkedError::TrailersTooLong);
    }

    #[test]
    fn a_max_size_chunk_is_not_an_overflow() {
        let mut d = ChunkedDecoder::new();
        let r = d.decode(b"ffffffffffffffff\r\nab").unwrap();
        assert_eq!(r.data, Some(&b"ab"[..]));
    }
}
