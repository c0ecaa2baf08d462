//! The IO reactor through its public `Registration` API, on real Unix sockets.

extern crate kiln_runtime as kiln;

use kiln::io::{Interest, Registration};
use kiln_test_support::runtimes;
use mio::net::UnixStream;
use std::future::poll_fn;
use std::io::{ErrorKind, Read, Write};

async fn read_some(reg: &Registration, sock: &mut UnixStream, buf: &mut [u8]) -> std::io::Result<usize> {
    poll_fn(|cx| reg.poll_read_io(cx, || sock.read(buf))).await
}

#[test]
fn readiness_wakes_a_waiting_reader() {
    for (name, rt) in runtimes() {
        rt.block_on(async {
            let (mut a, mut b) = UnixStream::pair().unwrap();
            let reg = Registration::new(&mut a, Interest::READABLE).unwrap();
            let writer = std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(5));
                b.write_all(b"hello").unwrap();
                b
            });
            let mut buf = [0u8; 16];
            let n = read_some(&reg, &mut a, &mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"hello", "{name}");
            drop(writer.join().unwrap()); // peer closes
            let n = read_some(&reg, &mut a, &mut buf).await.unwrap();
            assert_eq!(n, 0, "{name}: EOF after the peer closes");
        });
    }
}

#[test]
fn no_data_is_lost_across_many_edges() {
    // Edge-triggered readiness must never be cleared past a newer edge: a writer on another
    // thread keeps sending while the reader drains; every byte must arrive.
    for (name, rt) in runtimes() {
        rt.block_on(async {
            let (mut a, b) = UnixStream::pair().unwrap();
            let reg = Registration::new(&mut a, Interest::READABLE).unwrap();
            const TOTAL: usize = 2_000_000;
            let writer = std::thread::spawn(move || {
                let mut b = std::os::unix::net::UnixStream::from(std::os::fd::OwnedFd::from(b));
                b.set_nonblocking(false).unwrap();
                let chunk = [7u8; 997];
                let mut sent = 0;
                while sent < TOTAL {
                    let n = (TOTAL - sent).min(chunk.len());
                    b.write_all(&chunk[..n]).unwrap();
                    sent += n;
                }
            });
            let mut buf = vec![0u8; 4096];
            let mut got = 0;
            while got < TOTAL {
                let n = read_some(&reg, &mut a, &mut buf).await.unwrap();
                assert!(n > 0, "{name}: unexpected EOF at {got}");
                assert!(buf[..n].iter().all(|&x| x == 7));
                got += n;
            }
            writer.join().unwrap();
            assert_eq!(got, TOTAL, "{name}");
        });
    }
}

#[test]
fn write_readiness_returns_after_the_buffer_drains() {
    let rt = kiln::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    rt.block_on(async {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let reg = Registration::new(&mut a, Interest::READABLE | Interest::WRITABLE).unwrap();
        // Fill the socket buffer until the kernel says WouldBlock.
        let chunk = [1u8; 65536];
        let mut written = 0usize;
        loop {
            match a.write(&chunk) {
                Ok(n) => written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        let reader = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(5));
            let mut buf = vec![0u8; written + 65536];
            let mut total = 0;
            while total < written + 1 {
                match b.read(&mut buf) {
                    Ok(n) => total += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            }
            total
        });
        let n = poll_fn(|cx| reg.poll_write_io(cx, || a.write(b"x"))).await.unwrap();
        assert_eq!(n, 1);
        assert_eq!(reader.join().unwrap(), written + 1);
    });
}

#[test]
fn try_io_reports_would_block_without_readiness() {
    let rt = kiln::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let reg = Registration::new(&mut a, Interest::READABLE).unwrap();
        let mut buf = [0u8; 8];
        let e = reg.try_io(Interest::READABLE, || a.read(&mut buf)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WouldBlock);
        b.write_all(b"ab").unwrap();
        let ev = reg.readable().await.unwrap();
        assert!(ev.ready().is_readable());
        assert_eq!(reg.try_io(Interest::READABLE, || a.read(&mut buf)).unwrap(), 2);
    });
}

#[test]
fn io_events_are_counted_in_metrics() {
    let rt = kiln::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let before = kiln::runtime::Handle::current().metrics().io_ready_count();
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let reg = Registration::new(&mut a, Interest::READABLE).unwrap();
        b.write_all(b"z").unwrap();
        let mut buf = [0u8; 1];
        read_some(&reg, &mut a, &mut buf).await.unwrap();
        assert!(kiln::runtime::Handle::current().metrics().io_ready_count() > before);
    });
}
