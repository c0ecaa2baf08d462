//! Framing: turning a byte stream into messages, with limits.
//!
//! TCP delivers bytes, not messages: one read may hold half a message or three. Two framings
//! cover most simple protocols:
//! - **lines**, ended by `\n` (an optional `\r` before it is dropped): [`LineReader`] and
//!   [`write_line`]. Human-typable; the chat server speaks it, so `nc` is a client.
//! - **length-delimited**: a 4-byte big-endian length, then that many bytes:
//!   [`LengthDelimitedReader`] and [`write_frame`]. Binary-safe.
//!
//! Both readers enforce a maximum size, because a peer that never sends `\n` (or announces a
//! 4 GiB frame) must not make the server buffer without bound. An oversized message is an
//! error for *that message only*: the reader skips the rest of it and the next call returns the
//! next message, so a server can answer "line too long" and carry on. Both readers keep
//! their partial message inside themselves, so `next_line` / `next_frame` are cancel-safe
//! (they can sit in a `select!` beside a timeout or a shutdown signal).

use crate::io::{AsyncBufRead, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// Default [`LineReader`] limit: 8 KiB per line.
pub const DEFAULT_MAX_LINE: usize = 8 * 1024;
/// Default [`LengthDelimitedReader`] limit: 8 MiB per frame.
pub const DEFAULT_MAX_FRAME: usize = 8 * 1024 * 1024;

/// Why a message could not be read.
#[derive(Debug)]
pub enum FrameError {
    /// The stream failed.
    Io(io::Error),
    /// A line was longer than the limit; it was skipped.
    LineTooLong {
        /// The limit, in bytes.
        max: usize,
    },
    /// A line was not UTF-8; it was skipped.
    NotUtf8,
    /// A frame announced more bytes than the limit; it is being skipped.
    FrameTooLarge {
        /// The announced length.
        len: u64,
        /// The limit, in bytes.
        max: usize,
    },
    /// The stream ended in the middle of a frame.
    Truncated,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Io(e) => write!(f, "connection error: {e}"),
            FrameError::LineTooLong { max } => write!(f, "line too long (max {max} bytes)"),
            FrameError::NotUtf8 => f.write_str("line is not valid UTF-8"),
            FrameError::FrameTooLarge { len, max } => {
                write!(f, "frame of {len} bytes is over the {max}-byte limit")
            }
            FrameError::Truncated => f.write_str("the stream ended in the middle of a frame"),
        }
    }
}

impl std::error::Error for FrameError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FrameError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for FrameError {
    fn from(e: io::Error) -> FrameError {
        FrameError::Io(e)
    }
}

impl FrameError {
    /// True for errors about one message (too long, not UTF-8), after which the reader can
    /// go on; false for a broken stream.
    pub fn is_recoverable(&self) -> bool {
        matches!(
            self,
            FrameError::LineTooLong { .. } | FrameError::NotUtf8 | FrameError::FrameTooLarge { .. }
        )
    }
}

/// Reads `\n`-terminated lines of at most `max_line` bytes.
#[derive(Debug)]
pub struct LineReader<R> {
    reader: BufReader<R>,
    /// The line so far (kept here so `next_line` is cancel-safe).
    line: Vec<u8>,
    max_line: usize,
    /// Skipping the rest of an oversized line.
    discarding: bool,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    /// Lines of at most `max_line` bytes (not counting the line ending) from `reader`.
    pub fn new(reader: R, max_line: usize) -> LineReader<R> {
        LineReader { reader: BufReader::new(reader), line: Vec::new(), max_line, discarding: false }
    }

    /// The next line without its line ending; `None` at end of stream. A final line without
    /// `\n` is still returned. Cancel-safe.
    ///
    /// # Errors
    /// [`FrameError::LineTooLong`] or [`FrameError::NotUtf8`] for one bad line (the next call
    /// reads the line after it), [`FrameError::Io`] if the stream failed.
    pub async fn next_line(&mut self) -> Result<Option<String>, FrameError> {
        std::future::poll_fn(|cx| self.poll_next_line(cx)).await
    }

    /// Poll form of [`LineReader::next_line`].
    pub fn poll_next_line(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<String>, FrameError>> {
        loop {
            let available = ready!(Pin::new(&mut self.reader).poll_fill_buf(cx))?;
            if available.is_empty() {
                if self.discarding || self.line.is_empty() {
                    self.discarding = false;
                    return Poll::Ready(Ok(None));
                }
                return Poll::Ready(self.finish_line());
            }
            let newline = available.iter().position(|&b| b == b'\n');
            let take = newline.unwrap_or(available.len());
            let used = newline.map_or(take, |i| i + 1);
            if self.discarding {
                Pin::new(&mut self.reader).consume(used);
                self.discarding = newline.is_none();
                continue;
            }
            if self.line.len() + take > self.max_line {
                Pin::new(&mut self.reader).consume(used);
                self.line.clear();
                self.discarding = newline.is_none();
                return Poll::Ready(Err(FrameError::LineTooLong { max: self.max_line }));
            }
            self.line.extend_from_slice(&available[..take]);
            Pin::new(&mut self.reader).consume(used);
            if newline.is_some() {
                return Poll::Ready(self.finish_line());
            }
        }
    }

    fn finish_line(&mut self) -> Result<Option<String>, FrameError> {
        let mut line = std::mem::take(&mut self.line);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        String::from_utf8(line).map(Some).map_err(|_| FrameError::NotUtf8)
    }

    /// The underlying reader (bytes already buffered are not in it).
    pub fn get_mut(&mut self) -> &mut R {
        self.reader.get_mut()
    }
}

/// Writes `line` and a `\n`. Use a [`BufWriter`](crate::io::BufWriter) and flush when many
/// lines go out at once.
///
/// # Errors
/// `InvalidInput` if `line` contains a `\n` (it would split into two messages); otherwise the
/// write's error.
pub async fn write_line<W: AsyncWrite + Unpin + ?Sized>(writer: &mut W, line: &str) -> io::Result<()> {
    if line.contains('\n') {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "a line must not contain '\\n'"));
    }
    let mut framed = Vec::with_capacity(line.len() + 1);
    framed.extend_from_slice(line.as_bytes());
    framed.push(b'\n');
    writer.write_all(&framed).await
}

/// Reads frames of a 4-byte big-endian length followed by that many bytes.
#[derive(Debug)]
pub struct LengthDelimitedReader<R> {
    reader: BufReader<R>,
    max_frame: usize,
    state: LengthState,
    header: [u8; 4],
    header_len: usize,
    payload: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
enum LengthState {
    Header,
    Payload(usize),
    Skip(u64),
}

impl<R: AsyncRead + Unpin> LengthDelimitedReader<R> {
    /// Frames of at most `max_frame` bytes from `reader`.
    pub fn new(reader: R, max_frame: usize) -> LengthDelimitedReader<R> {
        LengthDelimitedReader {
            reader: BufReader::new(reader),
            max_frame,
            state: LengthState::Header,
            header: [0; 4],
            header_len: 0,
            payload: Vec::new(),
        }
    }

    /// The next frame's payload; `None` if the stream ends cleanly between frames.
    /// Cancel-safe.
    ///
    /// # Errors
    /// [`FrameError::FrameTooLarge`] for one oversized frame (skipped; the next call reads the
    /// frame after it), [`FrameError::Truncated`] if the stream ends inside a frame,
    /// [`FrameError::Io`] if it failed.
    pub async fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        std::future::poll_fn(|cx| self.poll_next_frame(cx)).await
    }

    /// Poll form of [`LengthDelimitedReader::next_frame`].
    pub fn poll_next_frame(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Vec<u8>>, FrameError>> {
        loop {
            let available = ready!(Pin::new(&mut self.reader).poll_fill_buf(cx))?;
            if available.is_empty() {
                let clean = matches!(self.state, LengthState::Header) && self.header_len == 0;
                return Poll::Ready(if clean { Ok(None) } else { Err(FrameError::Truncated) });
            }
            match self.state {
                LengthState::Header => {
                    let n = (4 - self.header_len).min(available.len());
                    self.header[self.header_len..self.header_len + n].copy_from_slice(&available[..n]);
                    self.header_len += n;
                    Pin::new(&mut self.reader).consume(n);
                    if self.header_len == 4 {
                        self.header_len = 0;
                        let len = u32::from_be_bytes(self.header) as usize;
                        if len > self.max_frame {
                            self.state = LengthState::Skip(len as u64);
                            return Poll::Ready(Err(FrameError::FrameTooLarge {
                                len: len as u64,
                                max: self.max_frame,
                            }));
                        }
                        self.payload = Vec::with_capacity(len);
                        self.state = LengthState::Payload(len);
                        if len == 0 {
                            self.state = LengthState::Header;
                            return Poll::Ready(Ok(Some(Vec::new())));
                        }
                    }
                }
                LengthState::Payload(len) => {
                    let n = (len - self.payload.len()).min(available.len());
                    self.payload.extend_from_slice(&available[..n]);
                    Pin::new(&mut self.reader).consume(n);
                    if self.payload.len() == len {
                        self.state = LengthState::Header;
                        return Poll::Ready(Ok(Some(std::mem::take(&mut self.payload))));
                    }
                }
                LengthState::Skip(left) => {
                    let n = (left.min(available.len() as u64)) as usize;
                    Pin::new(&mut self.reader).consume(n);
                    self.state = if left == n as u64 {
                        LengthState::Header
                    } else {
                        LengthState::Skip(left - n as u64)
                    };
                }
            }
        }
    }
}

/// Writes a 4-byte big-endian length and `payload`.
///
/// # Errors
/// `InvalidInput` if `payload` is 4 GiB or more; otherwise the write's error.
pub async fn write_frame<W: AsyncWrite + Unpin + ?Sized>(writer: &mut W, payload: &[u8]) -> io::Result<()> {
    let len = u32::try_from(payload.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a frame must be under 4 GiB"))?;
    let mut framed = Vec::with_capacity(4 + payload.len());
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(payload);
    writer.write_all(&framed).await
}
