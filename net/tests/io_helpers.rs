//! The IO traits' helpers on in-memory streams: `duplex`, `split`, buffered reading and
//! writing, `copy`, framing limits, and cancel safety of `next_line`.

use kiln_net::frame::{write_frame, write_line, FrameError, LengthDelimitedReader, LineReader};
use kiln_net::io::{
    copy, copy_bidirectional, duplex, split, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader,
    BufWriter,
};
use kiln_test_support::on_each;
use std::time::Duration;

#[test]
fn duplex_carries_bytes_both_ways_with_backpressure_and_eof() {
    on_each(|| async {
        let (mut a, mut b) = duplex(8);
        // 20 bytes through an 8-byte pipe: the writer must wait for the reader.
        let writer = kiln_runtime::spawn(async move {
            a.write_all(b"0123456789abcdefghij").await.unwrap();
            a.shutdown().await.unwrap();
            let mut back = String::new();
            a.read_to_string(&mut back).await.unwrap();
            back
        });
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"0123456789abcdefghij");
        b.write_all(b"pong").await.unwrap();
        drop(b);
        assert_eq!(writer.await.unwrap(), "pong");
    });
}

#[test]
fn writing_to_a_dropped_duplex_fails_instead_of_hanging() {
    on_each(|| async {
        let (mut a, b) = duplex(4);
        drop(b);
        let err = a.write_all(b"hello").await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
    });
}

#[test]
fn read_exact_reports_a_short_stream() {
    on_each(|| async {
        let mut short: &[u8] = b"abc";
        let mut buf = [0; 5];
        let err = short.read_exact(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
        let mut num: &[u8] = &[0, 0, 1, 2, 0xff];
        assert_eq!(num.read_u32().await.unwrap(), 258);
        assert_eq!(num.read_u8().await.unwrap(), 255);
    });
}

#[test]
fn lines_and_read_line_split_on_newlines_and_strip_crlf() {
    on_each(|| async {
        let input: &[u8] = b"one\r\ntwo\n\nlast without newline";
        let mut lines = BufReader::new(input).lines();
        let mut seen = Vec::new();
        while let Some(l) = lines.next_line().await.unwrap() {
            seen.push(l);
        }
        assert_eq!(seen, ["one", "two", "", "last without newline"]);

        let mut reader = BufReader::with_capacity(2, &b"ab\ncd"[..]);
        let mut line = String::new();
        assert_eq!(reader.read_line(&mut line).await.unwrap(), 3);
        assert_eq!(line, "ab\n");
        let mut bad = BufReader::new(&b"\xff\xfe\n"[..]);
        assert_eq!(bad.read_line(&mut line).await.unwrap_err().kind(), std::io::ErrorKind::InvalidData);
        assert_eq!(line, "ab\n", "a failed read_line leaves the buffer as it was");
    });
}

#[test]
fn buf_writer_holds_small_writes_until_flush() {
    on_each(|| async {
        let (a, mut b) = duplex(1024);
        let mut w = BufWriter::with_capacity(64, a);
        w.write_all(b"hello").await.unwrap();
        assert_eq!(w.buffer(), b"hello");
        let mut buf = [0; 16];
        let nothing = kiln_runtime::time::timeout(Duration::from_millis(20), b.read(&mut buf)).await;
        assert!(nothing.is_err(), "nothing reaches the pipe before flush");
        w.flush().await.unwrap();
        let n = b.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"hello");
        // A write larger than the buffer goes straight through.
        w.write_all(&[7; 100]).await.unwrap();
        assert!(w.buffer().is_empty());
    });
}

#[test]
fn split_halves_work_from_two_tasks_and_unsplit() {
    on_each(|| async {
        let (a, mut b) = duplex(64);
        let (mut r, mut w) = split(a);
        let echo = kiln_runtime::spawn(async move {
            let mut buf = [0; 5];
            r.read_exact(&mut buf).await.unwrap();
            (r, buf)
        });
        b.write_all(b"hello").await.unwrap();
        let (r, buf) = echo.await.unwrap();
        assert_eq!(&buf, b"hello");
        w.write_all(b"back").await.unwrap();
        let mut back = [0; 4];
        b.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"back");
        assert!(r.is_pair_of(&w));
        let _whole = r.unsplit(w);
    });
}

#[test]
fn copy_and_copy_bidirectional_move_everything() {
    on_each(|| async {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut src: &[u8] = &data;
        let mut out = Vec::new();
        assert_eq!(copy(&mut src, &mut out).await.unwrap(), data.len() as u64);
        assert_eq!(out, data);

        // client <-> [proxy a | proxy b] <-> server
        let (mut client, mut a) = duplex(1000);
        let (mut b, mut server) = duplex(1000);
        let proxy = kiln_runtime::spawn(async move { copy_bidirectional(&mut a, &mut b).await.unwrap() });
        let sent = data.clone();
        let client_task = kiln_runtime::spawn(async move {
            client.write_all(&sent).await.unwrap();
            client.shutdown().await.unwrap();
            let mut reply = Vec::new();
            client.read_to_end(&mut reply).await.unwrap();
            reply
        });
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, data, "the half-close reached the server after all the data");
        server.write_all(b"done").await.unwrap();
        server.shutdown().await.unwrap();
        assert_eq!(client_task.await.unwrap(), b"done");
        assert_eq!(proxy.await.unwrap(), (data.len() as u64, 4));
    });
}

#[test]
fn line_reader_skips_an_oversized_line_and_goes_on() {
    on_each(|| async {
        let mut input = b"short\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 5000));
        input.extend(b"\nnext\r\n\xff\nlast");
        let mut lines = LineReader::new(&input[..], 100);
        assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("short"));
        let err = lines.next_line().await.unwrap_err();
        assert!(matches!(err, FrameError::LineTooLong { max: 100 }), "{err}");
        assert!(err.is_recoverable());
        assert_eq!(err.to_string(), "line too long (max 100 bytes)");
        assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("next"));
        assert!(matches!(lines.next_line().await.unwrap_err(), FrameError::NotUtf8));
        assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("last"));
        assert_eq!(lines.next_line().await.unwrap(), None);
    });
}

#[test]
fn line_reader_is_cancel_safe() {
    on_each(|| async {
        let (mut w, r) = duplex(64);
        let mut lines = LineReader::new(r, 1024);
        w.write_all(b"hel").await.unwrap();
        // The first half of the line arrives, then the read is cancelled by a timeout.
        let cancelled = kiln_runtime::time::timeout(Duration::from_millis(20), lines.next_line()).await;
        assert!(cancelled.is_err());
        w.write_all(b"lo\n").await.unwrap();
        assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("hello"), "no byte was lost");
    });
}

#[test]
fn length_delimited_frames_round_trip_and_oversize_is_skipped() {
    on_each(|| async {
        let mut wire = Vec::new();
        write_frame(&mut wire, b"first").await.unwrap();
        write_frame(&mut wire, &[9; 300]).await.unwrap();
        write_frame(&mut wire, b"").await.unwrap();
        write_frame(&mut wire, b"after").await.unwrap();
        let mut frames = LengthDelimitedReader::new(&wire[..], 100);
        assert_eq!(frames.next_frame().await.unwrap().as_deref(), Some(&b"first"[..]));
        assert!(matches!(
            frames.next_frame().await.unwrap_err(),
            FrameError::FrameTooLarge { len: 300, max: 100 }
        ));
        assert_eq!(frames.next_frame().await.unwrap().as_deref(), Some(&b""[..]));
        assert_eq!(frames.next_frame().await.unwrap().as_deref(), Some(&b"after"[..]));
        assert_eq!(frames.next_frame().await.unwrap(), None);

        let truncated = &wire[..7];
        let mut frames = LengthDelimitedReader::new(truncated, 100);
        assert!(matches!(frames.next_frame().await.unwrap_err(), FrameError::Truncated));

        let mut out = Vec::new();
        write_line(&mut out, "a line").await.unwrap();
        assert_eq!(out, b"a line\n");
        assert_eq!(
            write_line(&mut out, "two\nlines").await.unwrap_err().kind(),
            std::io::ErrorKind::InvalidInput
        );
    });
}
