//! Channels: mpsc (bounded and unbounded), oneshot, broadcast, watch — on every flavour.

extern crate kiln_runtime as kiln;

use kiln::sync::{broadcast, mpsc, oneshot, watch};
use kiln_test_support::runtimes;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

/// Counts drops of the values it is attached to.
#[derive(Clone)]
struct Tracked(Arc<AtomicUsize>);
impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn mpsc_delivers_in_order_and_ends_when_senders_are_gone() {
    for (name, rt) in runtimes() {
        rt.block_on(async {
            let (tx, mut rx) = mpsc::channel(4);
            let producers: Vec<_> = (0..3u32)
                .map(|p| {
                    let tx = tx.clone();
                    kiln::spawn(async move {
                        for i in 0..100u32 {
                            tx.send((p, i)).await.unwrap();
                        }
                    })
                })
                .collect();
            drop(tx);
            let mut last = [None::<u32>; 3];
            let mut count = 0;
            while let Some((p, i)) = rx.recv().await {
                assert!(last[p as usize].is_none_or(|l| l + 1 == i), "{name}: per-producer order");
                last[p as usize] = Some(i);
                count += 1;
            }
            assert_eq!(count, 300, "{name}");
            for p in producers {
                p.await.unwrap();
            }
            assert_eq!(rx.recv().await, None, "{name}: stays closed");
        });
    }
}

#[test]
fn mpsc_backpressure_and_try_send() {
    for (name, rt) in runtimes() {
        rt.block_on(async {
            let (tx, mut rx) = mpsc::channel::<u32>(2);
            tx.try_send(1).unwrap();
            tx.send(2).await.unwrap();
            assert_eq!(tx.capacity(), 0);
            match tx.try_send(3) {
                Err(mpsc::error::TrySendError::Full(v)) => assert_eq!(v, 3, "{name}: value given back"),
                other => panic!("{name}: expected Full, got {other:?}"),
            }
            // A send on a full channel waits...
            let blocked = kiln::time::timeout(Duration::from_millis(20), tx.send(3)).await;
            assert!(blocked.is_err(), "{name}: send must wait while full");
            // ...and proceeds once the receiver makes room.
            let sender = {
                let tx = tx.clone();
                kiln::spawn(async move { tx.send(3).await })
            };
            assert_eq!(rx.recv().await, Some(1));
            sender.await.unwrap().unwrap();
            assert_eq!(rx.recv().await, Some(2));
            assert_eq!(rx.recv().await, Some(3));
            assert_eq!(tx.max_capacity(), 2);
        });
    }
}

#[test]
fn dropping_the_receiver_frees_buffered_messages_and_fails_senders() {
    for (name, rt) in runtimes() {
        rt.block_on(async {
            let drops = Arc::new(AtomicUsize::new(0));
            let (tx, rx) = mpsc::channel(8);
            for _ in 0..5 {
                tx.send(Tracked(drops.clone())).await.unwrap();
            }
            let closed = {
                let tx = tx.clone();
                kiln::spawn(async move { tx.closed().await })
            };
            kiln::task::yield_now().await;
            drop(rx);
            assert_eq!(drops.load(SeqCst), 5, "{name}: buffered messages dropped with the receiver");
            closed.await.unwrap();
            assert!(tx.is_closed());
            let err = tx.send(Tracked(drops.clone())).await.unwrap_err();
            drop(err);
            assert!(matches!(
                tx.try_send(0u8.into_tracked(&drops)),
                Err(mpsc::error::TrySendError::Closed(_))
            ));
        });
    }
}

trait IntoTracked {
    fn into_tracked(self, drops: &Arc<AtomicUsize>) -> Tracked;
}
impl IntoTracked for u8 {
    fn into_tracked(self, drops: &Arc<AtomicUsize>) -> Tracked {
        Tracked(drops.clone())
    }
}

#[test]
fn a_sender_blocked_on_a_full_channel_fails_when_the_receiver_drops() {
    let rt = kiln::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    rt.block_on(async {
        let (tx, rx) = mpsc::channel::<u32>(1);
        tx.send(0).await.unwrap();
        let blocked = kiln::spawn(async move { tx.send(1).await });
        kiln::time::sleep(Duration::from_millis(5)).await;
        drop(rx);
        assert_eq!(blocked.await.unwrap().unwrap_err().0, 1);
    });
}

#[test]
fn mpsc_close_reserve_recv_many_and_try_recv() {
    for (name, rt) in runtimes() {
        rt.block_on(async {
            let (tx, mut rx) = mpsc::channel::<u32>(3);
            let permit = tx.reserve().await.unwrap();
            assert_eq!(tx.capacity(), 2);
            drop(permit);
            assert_eq!(tx.capacity(), 3, "{name}: an unused permit gives its slot back");
            tx.reserve().await.unwrap().send(1);
            tx.send(2).await.unwrap();
            tx.send(3).await.unwrap();
            assert!(matches!(tx.try_reserve(), Err(mpsc::error::TrySendError::Full(()))));
            let mut buf = Vec::new();
            assert_eq!(rx.recv_many(&mut buf, 2).await, 2);
            assert_eq!(buf, vec![1, 2]);
            rx.close();
            assert!(tx.send(4).await.is_err(), "{name}: closed for sending");
            assert_eq!(rx.try_recv(), Ok(3), "{name}: buffered messages survive close");
            assert_eq!(rx.try_recv(), Err(mpsc::error::TryRecvError::Disconnected));
            assert_eq!(rx.recv_many(&mut buf, 10).await, 0);
        });
    }
}

#[test]
#[should_panic(expected = "mpsc bounded channel requires capacity > 0")]
fn mpsc_capacity_zero_panics() {
    let _ = mpsc::channel::<()>(0);
}

#[test]
fn blocking_send_and_recv_work_outside_and_panic_inside_a_runtime() {
    let rt = kiln::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap();
    let (tx, mut rx) = mpsc::channel::<u32>(1);
    let consumer = rt.spawn(async move {
        let mut sum = 0;
        while let Some(v) = rx.recv().await {
            sum += v;
        }
        sum
    });
    let producer = std::thread::spawn(move || {
        for i in 0..100 {
            tx.blocking_send(i).unwrap();
        }
    });
    producer.join().unwrap();
    assert_eq!(rt.block_on(consumer).unwrap(), 4950);

    let (_tx, mut rx) = mpsc::channel::<u32>(1);
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async move { rx.blocking_recv() });
    }))
    .unwrap_err();
    let msg = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("from inside a Kiln runtime"), "{msg}");
}

#[test]
fn recv_is_cancel_safe() {
    for (name, rt) in runtimes() {
        rt.block_on(async {
            let (tx, mut rx) = mpsc::unbounded_channel::<u32>();
            kiln::spawn(async move {
                for i in 0..200 {
                    tx.send(i).unwrap();
                    if i % 10 == 0 {
                        kiln::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            });
            let mut got = Vec::new();
            loop {
                kiln::select! {
                    v = rx.recv() => match v {
                        Some(v) => got.push(v),
                        None => break,
                    },
                    // Constantly cancels the recv above: nothing may be lost.
                    _ = kiln::task::yield_now() => {}
                }
            }
            assert_eq!(got, (0..200).collect::<Vec<_>>(), "{name}");
        });
    }
}

#[test]
fn an_always_full_channel_loop_still_yields() {
    let rt = kiln::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let (tx, mut rx) = mpsc::unbounded_channel::<()>();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let spinner = kiln::spawn(async move {
            let mut n = 0u64;
            // The sender refills faster than we drain: recv is always ready.
            while !s.load(SeqCst) {
                tx.send(()).unwrap();
                rx.recv().await.unwrap();
                n += 1;
            }
            n
        });
        kiln::spawn(async move { stop.store(true, SeqCst) }).await.unwrap();
        assert!(spinner.await.unwrap() > 0);
    });
}

#[test]
fn receivers_are_streams() {
    use futures::StreamExt;
    let rt = kiln::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let (tx, rx) = mpsc::channel(10);
        for i in 0..5 {
            tx.send(i).await.unwrap();
        }
        drop(tx);
        let v: Vec<i32> = rx.map(|x| x * 2).collect().await;
        assert_eq!(v, vec![0, 2, 4, 6, 8]);
    });
}

#[test]
fn oneshot_send_receive_and_closing_rules() {
    for (name, rt) in runtimes() {
        rt.block_on(async {
            let (tx, rx) = oneshot::channel();
            kiln::spawn(async move { tx.send(5).unwrap() });
            assert_eq!(rx.await.unwrap(), 5, "{name}");

            let (tx, rx) = oneshot::channel::<u32>();
            drop(tx);
            assert!(rx.await.is_err(), "{name}: sender dropped");

            let (tx, rx) = oneshot::channel::<u32>();
            drop(rx);
            assert_eq!(tx.send(7), Err(7), "{name}: receiver gone, value back");

            let (mut tx, mut rx) = oneshot::channel::<u32>();
            assert_eq!(rx.try_recv(), Err(oneshot::error::TryRecvError::Empty));
            let waiter = kiln::spawn(async move {
                tx.closed().await;
                tx.is_closed()
            });
            kiln::task::yield_now().await;
            rx.close();
            assert!(waiter.await.unwrap(), "{name}: closed() completes on close");
            assert_eq!(rx.try_recv(), Err(oneshot::error::TryRecvError::Closed));
        });
    }
}

#[test]
fn broadcast_every_receiver_gets_every_message() {
    for (name, rt) in runtimes() {
        rt.block_on(async {
            let (tx, mut a) = broadcast::channel(16);
            let mut b = tx.subscribe();
            let handles: Vec<_> = [a.resubscribe(), tx.subscribe()]
                .into_iter()
                .map(|mut rx| {
                    kiln::spawn(async move {
                        let mut got = Vec::new();
                        while let Ok(v) = rx.recv().await {
                            got.push(v);
                        }
                        got
                    })
                })
                .collect();
            for i in 0..10 {
                assert_eq!(tx.send(i).unwrap(), 4);
                kiln::task::yield_now().await;
            }
            drop(tx);
            for h in handles {
                assert_eq!(h.await.unwrap(), (0..10).collect::<Vec<_>>(), "{name}");
            }
            for rx in [&mut a, &mut b] {
                for i in 0..10 {
                    assert_eq!(rx.recv().await.unwrap(), i);
                }
                assert_eq!(rx.recv().await, Err(broadcast::error::RecvError::Closed));
            }
        });
    }
}

#[test]
fn broadcast_lag_is_per_receiver_and_reported_once() {
    let rt = kiln::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let (tx, mut slow) = broadcast::channel(4);
        let mut fast = tx.subscribe();
        for i in 0..10 {
            tx.send(i).unwrap();
            assert_eq!(fast.recv().await.unwrap(), i, "the fast receiver is unaffected");
        }
        assert_eq!(slow.recv().await, Err(broadcast::error::RecvError::Lagged(6)));
        for i in 6..10 {
            assert_eq!(slow.recv().await.unwrap(), i, "continues from the oldest retained");
        }
        assert_eq!(slow.try_recv(), Err(broadcast::error::TryRecvError::Empty));
    });
}

#[test]
fn broadcast_closed_only_after_draining_and_send_needs_receivers() {
    let rt = kiln::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let (tx, mut rx) = broadcast::channel(8);
        tx.send("a").unwrap();
        tx.send("b").unwrap();
        let tx2 = tx.clone();
        drop(tx);
        tx2.send("c").unwrap();
        drop(tx2);
        assert_eq!(rx.recv().await.unwrap(), "a");
        assert_eq!(rx.recv().await.unwrap(), "b");
        assert_eq!(rx.recv().await.unwrap(), "c");
        assert_eq!(rx.recv().await, Err(broadcast::error::RecvError::Closed));

        let (tx, rx) = broadcast::channel::<u8>(2);
        drop(rx);
        assert_eq!(tx.send(1).unwrap_err().0, 1);
        assert_eq!(tx.receiver_count(), 0);
    });
}

#[test]
#[should_panic(expected = "broadcast channel capacity must be greater than 0")]
fn broadcast_capacity_zero_panics() {
    let _ = broadcast::channel::<u8>(0);
}

#[test]
fn watch_latest_value_changed_and_closing() {
    for (name, rt) in runtimes() {
        rt.block_on(async {
            let (tx, mut rx) = watch::channel(0u32);
            assert!(!rx.has_changed().unwrap());
            let watcher = {
                let mut rx = rx.clone();
                kiln::spawn(async move {
                    let mut seen = Vec::new();
                    while rx.changed().await.is_ok() {
                        seen.push(*rx.borrow_and_update());
                    }
                    seen
                })
            };
            for i in 1..=3 {
                tx.send(i).unwrap();
                kiln::time::sleep(Duration::from_millis(2)).await;
            }
            tx.send_modify(|v| *v += 10);
            assert_eq!(tx.send_replace(42), 13);
            drop(tx); // 42 was sent just before: it must still be observed
            let seen = watcher.await.unwrap();
            assert_eq!(seen.last(), Some(&42), "{name}: {seen:?}");
            assert!(seen.windows(2).all(|w| w[0] < w[1]), "{name}: {seen:?}");
            assert!(rx.has_changed().unwrap());
            assert_eq!(*rx.borrow_and_update(), 42);
            assert!(rx.changed().await.is_err(), "{name}: closed once seen");
        });
    }
}

#[test]
fn watch_wait_for_send_errors_and_closed() {
    let rt = kiln::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    rt.block_on(async {
        let (tx, mut rx) = watch::channel(1u32);
        let t = kiln::spawn(async move {
            for i in 2..=5 {
                tx.send(i).unwrap();
                kiln::time::sleep(Duration::from_millis(1)).await;
            }
            tx
        });
        let v = *rx.wait_for(|v| *v >= 4).await.unwrap();
        assert!((4..=5).contains(&v), "wait_for returns a value that satisfies the predicate: {v}");
        let tx = t.await.unwrap();
        drop(rx);
        kiln::time::timeout(Duration::from_secs(5), tx.closed()).await.expect("closed() completes");
        assert_eq!(tx.send(9).unwrap_err().0, 9);
    });
}

#[test]
fn watch_receiver_is_a_stream_of_latest_values() {
    use futures::StreamExt;
    for (name, rt) in runtimes() {
        rt.block_on(async {
            let (tx, rx) = watch::channel(0u32);
            let producer = kiln::spawn(async move {
                for i in 1..=5 {
                    tx.send(i).unwrap();
                    kiln::time::sleep(Duration::from_millis(2)).await;
                }
                // dropping tx ends the stream once the last value is seen
            });
            let seen: Vec<u32> = rx.collect().await;
            producer.await.unwrap();
            assert_eq!(seen.last(), Some(&5), "{name}: the last value is always delivered: {seen:?}");
            assert!(seen.windows(2).all(|w| w[0] < w[1]), "{name}: only newer values: {seen:?}");
        });
    }
}

#[test]
fn mpsc_messages_in_the_receivers_batch_count_close_and_drop_like_the_rest() {
    // The receiver takes the whole queue at once into its own batch: messages there must
    // still show in `len`, survive `close`, come out in order, and be dropped with it.
    for (name, rt) in runtimes() {
        rt.block_on(async {
            let (tx, mut rx) = mpsc::channel::<u32>(5);
            for i in 0..5 {
                tx.send(i).await.unwrap();
            }
            assert_eq!(rx.recv().await, Some(0), "{name}");
            // 4 in the batch now; the freed permit lets one more in, into the shared queue.
            tx.try_send(5).expect("receiving gave back a permit");
            assert!(matches!(tx.try_send(6), Err(mpsc::error::TrySendError::Full(6))), "{name}");
            assert_eq!(rx.len(), 5, "{name}: batch and shared queue both count");
            rx.close();
            assert!(tx.try_send(7).is_err(), "{name}: closed to senders");
            let mut rest = Vec::new();
            while let Some(v) = rx.recv().await {
                rest.push(v);
            }
            assert_eq!(rest, vec![1, 2, 3, 4, 5], "{name}: everything sent before close, in order");

            let drops = Arc::new(AtomicUsize::new(0));
            let (tx, mut rx) = mpsc::unbounded_channel();
            for _ in 0..4 {
                tx.send(Tracked(drops.clone())).unwrap();
            }
            drop(rx.recv().await); // takes the batch, hands one out
            tx.send(Tracked(drops.clone())).unwrap(); // into the shared queue
            assert_eq!(drops.load(SeqCst), 1);
            drop(rx);
            assert_eq!(drops.load(SeqCst), 5, "{name}: batch and shared queue dropped with the receiver");
        });
    }
}
