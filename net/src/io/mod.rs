//! Async IO: the traits sockets implement and the helpers built on them (`kiln::io`).
//!
//! # Layout
//! - `read_buf.rs` — [`ReadBuf`], the buffer a reader fills.
//! - `traits.rs` — [`AsyncRead`], [`AsyncWrite`], [`AsyncBufRead`] (Tokio's shapes).
//! - `read_ext.rs`, `write_ext.rs`, `buf_read_ext.rs` — the `async` methods (`read_exact`,
//!   `write_all`, `read_line`, `lines()`…), as named futures.
//! - `buf_reader.rs`, `buf_writer.rs` — [`BufReader`], [`BufWriter`].
//! - `copy.rs` — [`copy`], [`copy_bidirectional`].
//! - `split.rs` — [`split`] for any reader-writer (sockets have lock-free splits of their own).
//! - `duplex.rs` — [`duplex`], an in-memory pipe for tests.
//! - `compat.rs` — the `futures-io` traits for Kiln's IO types, so crates written against
//!   them run on Kiln.

mod buf_read_ext;
mod buf_reader;
mod buf_writer;
pub(crate) mod compat;
mod copy;
mod duplex;
mod read_buf;
mod read_ext;
mod split;
mod traits;
mod write_ext;

pub use buf_read_ext::{AsyncBufReadExt, Lines, ReadLine, ReadUntil};
pub use buf_reader::BufReader;
pub use buf_writer::BufWriter;
pub use compat::Compat;
pub use copy::{copy, copy_bidirectional};
pub use duplex::{duplex, DuplexStream};
pub use read_buf::ReadBuf;
pub use read_ext::{AsyncReadExt, ReadExact, ReadFut, ReadToEnd, ReadToString};
pub use split::{split, ReadHalf, WriteHalf};
pub use traits::{AsyncBufRead, AsyncRead, AsyncWrite};
pub use write_ext::{AsyncWriteExt, Flush, Shutdown, WriteAll, WriteFut};

pub use kiln_runtime::io::{Interest, Ready};
