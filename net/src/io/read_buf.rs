//! `ReadBuf`: the buffer an [`AsyncRead`](super::AsyncRead) fills.
//!
//! A reader is handed a slice and reports how much of it it filled; `ReadBuf` carries that
//! count with the slice, so a reader that fills part of it in one call and more in the next
//! cannot lose track. Tokio's `ReadBuf` also tracks *uninitialised* memory, which needs
//! `unsafe`; Kiln's networking layer has none, so its `ReadBuf` only wraps initialised bytes
//! (`ReadBuf::new(&mut [u8])`). Code ported from Tokio that uses `ReadBuf::uninit` must zero
//! its buffer first.

use std::fmt;

/// A byte slice with a count of how much of it has been filled.
pub struct ReadBuf<'a> {
    buf: &'a mut [u8],
    filled: usize,
}

impl<'a> ReadBuf<'a> {
    /// Wraps `buf`; nothing is filled yet.
    pub fn new(buf: &'a mut [u8]) -> ReadBuf<'a> {
        ReadBuf { buf, filled: 0 }
    }

    /// The total size of the buffer.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// The bytes filled so far.
    pub fn filled(&self) -> &[u8] {
        &self.buf[..self.filled]
    }

    /// The bytes filled so far, mutably.
    pub fn filled_mut(&mut self) -> &mut [u8] {
        &mut self.buf[..self.filled]
    }

    /// The part not yet filled: a reader writes here, then calls [`ReadBuf::advance`].
    pub fn unfilled_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.filled..]
    }

    /// Same as [`ReadBuf::unfilled_mut`] (Kiln's buffers are always initialised); kept so
    /// code written for Tokio's `ReadBuf` ports unchanged.
    pub fn initialize_unfilled(&mut self) -> &mut [u8] {
        self.unfilled_mut()
    }

    /// How many bytes can still be filled.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.filled
    }

    /// Marks `n` more bytes of the unfilled part as filled.
    ///
    /// # Panics
    /// If that would go past the end of the buffer.
    pub fn advance(&mut self, n: usize) {
        assert!(n <= self.remaining(), "ReadBuf::advance({n}) past the end ({} remaining)", self.remaining());
        self.filled += n;
    }

    /// Sets the filled count directly.
    ///
    /// # Panics
    /// If `n` is larger than the buffer.
    pub fn set_filled(&mut self, n: usize) {
        assert!(n <= self.buf.len(), "ReadBuf::set_filled({n}) past the end ({})", self.buf.len());
        self.filled = n;
    }

    /// Copies `bytes` into the unfilled part and marks them filled.
    ///
    /// # Panics
    /// If they do not fit.
    pub fn put_slice(&mut self, bytes: &[u8]) {
        assert!(bytes.len() <= self.remaining(), "ReadBuf::put_slice: {} bytes do not fit", bytes.len());
        self.buf[self.filled..self.filled + bytes.len()].copy_from_slice(bytes);
        self.filled += bytes.len();
    }

    /// Forgets what was filled.
    pub fn clear(&mut self) {
        self.filled = 0;
    }
}

impl fmt::Debug for ReadBuf<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadBuf").field("filled", &self.filled).field("capacity", &self.capacity()).finish()
    }
}
