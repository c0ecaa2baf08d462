//! `select!`, `join!`, `try_join!`, `pin!` and the entry macros.

extern crate kiln_runtime as kiln;

use futures::channel::oneshot;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

/// Records its index into a shared log each time it is polled; ready after `pending_polls`.
struct Probe {
    index: usize,
    pending_polls: usize,
    log: Rc<RefCell<Vec<usize>>>,
}

impl Future for Probe {
    type Output = usize;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        self.log.borrow_mut().push(self.index);
        if self.pending_polls == 0 {
            return Poll::Ready(self.index);
        }
        self.pending_polls -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

fn probe(index: usize, pending_polls: usize, log: &Rc<RefCell<Vec<usize>>>) -> Probe {
    Probe { index, pending_polls, log: log.clone() }
}

fn block_on<F: Future>(f: F) -> F::Output {
    kiln::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
}

#[test]
fn join_rotates_which_branch_it_polls_first() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let out = block_on(async { kiln::join!(probe(0, 2, &log), probe(1, 2, &log), probe(2, 2, &log)) });
    assert_eq!(out, (0, 1, 2));
    // Three rounds, each starting one branch later.
    assert_eq!(*log.borrow(), vec![0, 1, 2, 1, 2, 0, 2, 0, 1]);
}

#[test]
fn biased_join_always_starts_with_the_first_branch() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let out =
        block_on(async { kiln::join!(biased; probe(0, 2, &log), probe(1, 2, &log), probe(2, 2, &log)) });
    assert_eq!(out, (0, 1, 2));
    assert_eq!(*log.borrow(), vec![0, 1, 2, 0, 1, 2, 0, 1, 2]);
}

#[test]
fn try_join_returns_the_first_error_and_drops_the_rest() {
    block_on(async {
        let (guard, dropped) = {
            let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            struct G(std::sync::Arc<std::sync::atomic::AtomicBool>);
            impl Drop for G {
                fn drop(&mut self) {
                    self.0.store(true, std::sync::atomic::Ordering::SeqCst)
                }
            }
            (G(flag.clone()), flag)
        };
        let slow = async move {
            let _g = guard;
            kiln::time::sleep(Duration::from_secs(3600)).await;
            Ok::<u32, &str>(1)
        };
        let fails = async { Err::<u32, &str>("nope") };
        let r = kiln::try_join!(slow, fails);
        assert_eq!(r, Err("nope"));
        assert!(dropped.load(std::sync::atomic::Ordering::SeqCst), "the pending future was dropped");
        let ok = kiln::try_join!(async { Ok::<_, ()>(1) }, async { Ok::<_, ()>("two") });
        assert_eq!(ok, Ok((1, "two")));
    });
}

#[test]
fn select_runs_the_first_ready_branch_and_cancels_the_others() {
    block_on(async {
        let (tx, rx) = oneshot::channel::<u32>();
        let (_keep, never) = oneshot::channel::<u32>();
        tx.send(5).unwrap();
        let v = kiln::select! {
            v = never => v.unwrap() * 100,
            v = rx => v.unwrap(),
        };
        assert_eq!(v, 5);
    });
}

#[test]
fn select_without_biased_starts_at_random_branches() {
    // Both branches are always ready: over many runs both must win sometimes.
    let mut wins = [0u32; 2];
    block_on(async {
        for _ in 0..200 {
            let i = kiln::select! {
                _ = async {} => 0,
                _ = async {} => 1,
            };
            wins[i] += 1;
        }
    });
    assert!(wins[0] > 20 && wins[1] > 20, "random start expected, got {wins:?}");
}

#[test]
fn biased_select_always_prefers_the_first_ready_branch() {
    block_on(async {
        for _ in 0..100 {
            let i = kiln::select! {
                biased;
                _ = async {} => 0,
                _ = async {} => 1,
            };
            assert_eq!(i, 0);
        }
    });
}

#[test]
fn select_guards_patterns_and_else() {
    block_on(async {
        // A false guard disables its branch; the other wins even though it is slower.
        let fast_enabled = false;
        let v = kiln::select! {
            _ = async {}, if fast_enabled => "fast",
            _ = kiln::time::sleep(Duration::from_millis(1)) => "slow",
        };
        assert_eq!(v, "slow");

        // A completed future whose output does not match disables the branch.
        let v = kiln::select! {
            Some(x) = async { None::<u32> } => x,
            y = async { 7u32 } => y + 1,
        };
        assert_eq!(v, 8);

        // Every branch disabled: `else` runs.
        let v = kiln::select! {
            Some(x) = async { None::<u32> } => x,
            _ = async {}, if false => 1,
            else => 99,
        };
        assert_eq!(v, 99);
    });
}

#[test]
#[should_panic(expected = "all branches are disabled and there is no else branch")]
fn select_with_every_branch_disabled_and_no_else_panics() {
    block_on(async {
        kiln::select! {
            _ = async {}, if false => {},
        }
    });
}

#[test]
fn select_handlers_may_use_what_the_futures_borrowed() {
    block_on(async {
        let rx_a = futures::channel::mpsc::unbounded::<u32>();
        rx_a.0.unbounded_send(3).unwrap();
        let (_tx, mut rx) = (rx_a.0, rx_a.1);
        use futures::StreamExt;
        let mut total = 0;
        loop {
            kiln::select! {
                Some(v) = rx.next() => {
                    total += v;
                    // `rx` is borrowed by the future above; the handler may use it again.
                    let _ = &mut rx;
                }
                _ = kiln::time::sleep(Duration::from_millis(2)) => break,
            }
        }
        assert_eq!(total, 3);
    });
}

#[test]
fn select_in_a_loop_with_return_and_question_mark() {
    async fn first_even(values: Vec<u32>) -> Result<u32, String> {
        for v in values {
            kiln::select! {
                x = async move { v } => {
                    if x % 2 == 0 {
                        return Ok(x);
                    }
                    if x > 100 {
                        Err(format!("too big: {x}"))?;
                    }
                }
            }
        }
        Err("none".into())
    }
    block_on(async {
        assert_eq!(first_even(vec![1, 3, 4, 5]).await, Ok(4));
        assert_eq!(first_even(vec![1, 101]).await, Err("too big: 101".into()));
    });
}

#[test]
fn pin_macro_pins_on_the_stack() {
    block_on(async {
        let fut = async { 1 };
        kiln::pin!(fut);
        assert_eq!(fut.as_mut().await, 1);
        kiln::pin! {
            let a = async { 2 };
        }
        assert_eq!(a.await, 2);
    });
}

#[kiln::test]
async fn test_macro_defaults_to_current_thread() {
    assert_eq!(
        kiln::runtime::Handle::current().runtime_flavor(),
        kiln::runtime::RuntimeFlavor::CurrentThread
    );
}

#[kiln::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_macro_multi_thread() {
    let h = kiln::runtime::Handle::current();
    assert_eq!(h.runtime_flavor(), kiln::runtime::RuntimeFlavor::MultiThread);
    assert_eq!(h.metrics().num_workers(), 2);
}

#[kiln::test(start_paused = true)]
async fn test_macro_start_paused() {
    let start = kiln::time::Instant::now();
    kiln::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(kiln::time::Instant::now() - start, Duration::from_secs(3600));
}

#[kiln::test]
async fn test_macro_returning_result() -> Result<(), std::io::Error> {
    let v: Result<u8, std::io::Error> = Ok(1);
    assert_eq!(v?, 1);
    Ok(())
}
