//! Loom models of the sync primitives' core state machines: the semaphore (and so `Mutex`
//! and bounded `mpsc`), `Notify`, `oneshot` and `mpsc`. Each model runs the real code under
//! every interleaving loom explores; a lost wake-up shows as a deadlock loom reports, a lost
//! permit or message as a failed assertion.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p kiln-runtime --lib --release loom`.

use super::{mpsc, oneshot, Notify, Semaphore};
use loom::future::block_on;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::thread;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Runs `f` on a second loom thread with its own handle to `notify`.
fn on_another_thread(
    notify: &Arc<Notify>,
    f: impl FnOnce(&Notify) + Send + 'static,
) -> thread::JoinHandle<()> {
    let notify = notify.clone();
    thread::spawn(move || f(&notify))
}

#[test]
fn loom_semaphore_is_exclusive_and_loses_no_permit() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let inside = Arc::new(AtomicUsize::new(0));
        let worker = {
            let (sem, inside) = (sem.clone(), inside.clone());
            thread::spawn(move || {
                block_on(async {
                    let _p = sem.acquire().await.unwrap();
                    assert_eq!(inside.fetch_add(1, SeqCst), 0, "two holders at once");
                    inside.fetch_sub(1, SeqCst);
                })
            })
        };
        block_on(async {
            let _p = sem.acquire().await.unwrap();
            assert_eq!(inside.fetch_add(1, SeqCst), 0, "two holders at once");
            inside.fetch_sub(1, SeqCst);
        });
        worker.join().unwrap();
        assert_eq!(sem.available_permits(), 1);
    });
}

#[test]
fn loom_cancelled_acquire_racing_a_release_returns_the_permit() {
    loom::model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.try_acquire_n(1);
        assert!(held.is_ok());
        let releaser = {
            let sem = sem.clone();
            thread::spawn(move || sem.release(1))
        };
        {
            // Queue an acquire (it may or may not be handed the permit), then cancel it.
            let mut acquire = pin!(sem.acquire_n(1));
            let waker = std::task::Waker::noop();
            let mut cx = Context::from_waker(waker);
            let got = matches!(acquire.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
            if got {
                sem.release(1);
            }
        }
        releaser.join().unwrap();
        assert_eq!(sem.available_permits(), 1, "a cancelled acquire must give back what it was handed");
    });
}

#[test]
fn loom_notify_one_is_never_lost() {
    loom::model(|| {
        let notify = Arc::new(Notify::new());
        let notifier = on_another_thread(&notify, Notify::notify_one);
        block_on(notify.notified());
        notifier.join().unwrap();
    });
}

#[test]
fn loom_a_dropped_waiter_passes_its_notification_on() {
    loom::model(|| {
        let notify = Arc::new(Notify::new());
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut first = Box::pin(notify.notified());
        let mut second = Box::pin(notify.notified());
        assert!(first.as_mut().poll(&mut cx).is_pending());
        assert!(second.as_mut().poll(&mut cx).is_pending());
        let notifier = on_another_thread(&notify, Notify::notify_one);
        drop(first); // before or after it was handed the notification
        block_on(second);
        notifier.join().unwrap();
    });
}

#[test]
fn loom_notify_ping_pong_over_two_rounds_never_mixes_outcomes() {
    // Two rounds of ping-pong over two Notify values: each round's waits reuse the ring slots
    // of the wait lists that the round before left, and must never see an earlier wait's
    // outcome.
    loom::model(|| {
        let ping = Arc::new(Notify::new());
        let pong = Arc::new(Notify::new());
        let other = {
            let (ping, pong) = (ping.clone(), pong.clone());
            thread::spawn(move || {
                for _ in 0..2 {
                    ping.notify_one();
                    block_on(pong.notified());
                }
            })
        };
        for _ in 0..2 {
            block_on(ping.notified());
            pong.notify_one();
        }
        other.join().unwrap();
    });
}

#[test]
fn loom_a_notification_racing_a_new_waiter_completes_exactly_the_first() {
    // `first` is queued; a notify_one races with `second` registering. The notification must
    // complete `first` (FIFO), and only `first`.
    loom::model(|| {
        let notify = Arc::new(Notify::new());
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut first = Box::pin(notify.notified());
        assert!(first.as_mut().poll(&mut cx).is_pending());
        let notifier = on_another_thread(&notify, Notify::notify_one);
        let mut second = Box::pin(notify.notified());
        let second_ready = second.as_mut().poll(&mut cx).is_ready();
        notifier.join().unwrap();
        assert!(first.as_mut().poll(&mut cx).is_ready(), "the first waiter was notified");
        assert!(!second_ready, "one notify_one completes one waiter");
    });
}

#[test]
fn loom_a_waiter_released_by_notify_waiters_leaves_the_next_permit_stored() {
    // `notified` was created before both calls, so `notify_waiters` releases it whatever the
    // interleaving (queued, or not yet polled: its first poll guesses "a permit, no
    // notify_waiters since creation", and the guess must fail on the generation alone).
    // The `notify_one` that follows must still be stored for the next waiter, and only once.
    loom::model(|| {
        let notify = Arc::new(Notify::new());
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut notified = Box::pin(notify.notified());
        let notifier = on_another_thread(&notify, |notify| {
            notify.notify_waiters();
            notify.notify_one();
        });
        let early = notified.as_mut().poll(&mut cx).is_ready();
        notifier.join().unwrap();
        assert!(early || notified.as_mut().poll(&mut cx).is_ready(), "released by notify_waiters");
        assert!(Box::pin(notify.notified()).as_mut().poll(&mut cx).is_ready(), "the permit is stored");
        assert!(Box::pin(notify.notified()).as_mut().poll(&mut cx).is_pending(), "and only one");
    });
}

#[test]
fn loom_notify_waiters_reaches_a_future_created_before_it() {
    loom::model(|| {
        let notify = Arc::new(Notify::new());
        let notified = notify.notified();
        let notifier = on_another_thread(&notify, Notify::notify_waiters);
        notifier.join().unwrap();
        block_on(notified);
    });
}

#[test]
fn loom_oneshot_value_or_error_is_always_delivered() {
    loom::model(|| {
        let (tx, rx) = oneshot::channel::<u32>();
        let sender = thread::spawn(move || {
            let _ = tx.send(3);
        });
        assert_eq!(block_on(rx), Ok(3));
        sender.join().unwrap();

        let (tx, rx) = oneshot::channel::<u32>();
        let dropper = thread::spawn(move || drop(tx));
        assert!(block_on(rx).is_err());
        dropper.join().unwrap();
    });
}

/// Everything a receiver (bounded or not: both are `Stream`s) gets until the channel ends.
fn receive_all<R: futures_core::Stream<Item = u32> + Unpin>(mut rx: R) -> Vec<u32> {
    block_on(async {
        let mut got = Vec::new();
        while let Some(v) = std::future::poll_fn(|cx| std::pin::Pin::new(&mut rx).poll_next(cx)).await {
            got.push(v);
        }
        got
    })
}

#[test]
fn loom_mpsc_two_senders_on_a_full_channel() {
    loom::model(|| {
        let (tx, rx) = mpsc::channel::<u32>(1);
        let tx2 = tx.clone();
        let a = thread::spawn(move || block_on(tx.send(1)).unwrap());
        let b = thread::spawn(move || block_on(tx2.send(2)).unwrap());
        let mut got = receive_all(rx);
        a.join().unwrap();
        b.join().unwrap();
        got.sort();
        assert_eq!(got, vec![1, 2]);
    });
}

#[test]
fn loom_mpsc_batches_keep_each_senders_order() {
    // The receiver swaps the shared queue for its batch: under every interleaving with two
    // senders, nothing is lost or duplicated and each sender's messages stay in order.
    loom::model(|| {
        let (tx, rx) = mpsc::unbounded_channel::<u32>();
        let tx2 = tx.clone();
        let a = thread::spawn(move || {
            tx.send(1).unwrap();
            tx.send(2).unwrap();
        });
        let b = thread::spawn(move || tx2.send(10).unwrap());
        let got = receive_all(rx);
        a.join().unwrap();
        b.join().unwrap();
        let ones: Vec<u32> = got.iter().copied().filter(|&v| v < 10).collect();
        assert_eq!(ones, vec![1, 2]);
        assert_eq!(got.len(), 3);
    });
}
