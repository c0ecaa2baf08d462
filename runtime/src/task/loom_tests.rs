//! Loom models of the task state protocol: the real `TaskCell`, `State` and `JoinHandle`, run
//! under every interleaving loom can find (within its preemption bound).
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p kiln-runtime --lib --release loom`.
//! Each model checks one race the protocol in `state.rs` must win: loom fails the model if
//! two threads ever touch the task's `UnsafeCell`s at once, and the assertions check that
//! outputs are delivered (or dropped) exactly once and that no task is queued twice.

use super::cell::{Notified, Schedule, TaskCell};
use super::{Header, Id, JoinHandle};
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Mutex;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// A scheduler that just collects submitted tasks, and checks none is ever queued twice.
#[derive(Clone)]
struct TestQueue(Arc<Mutex<Vec<Notified>>>);

impl Schedule for TestQueue {
    fn schedule(&self, task: Notified, _is_yield: bool) {
        let mut q = self.0.lock().unwrap();
        assert!(
            !q.iter().any(|t| std::ptr::eq(t.0.header(), task.0.header())),
            "a task was queued twice (rule 1 broken)"
        );
        q.push(task);
    }
    fn release(&self, _header: &Header) {}
}

impl TestQueue {
    fn new() -> TestQueue {
        TestQueue(Arc::new(Mutex::new(Vec::new())))
    }
    fn pop(&self) -> Option<Notified> {
        self.0.lock().unwrap().pop()
    }
    /// Runs queued tasks until none is left.
    fn drain(&self) {
        while let Some(task) = self.pop() {
            task.run();
        }
    }
}

/// Counts drops, so a test can check a value was dropped exactly once.
struct DropCounter(Arc<AtomicUsize>);
impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

struct FlagWaker(AtomicUsize);
impl Wake for FlagWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

fn flag_waker() -> (Arc<FlagWaker>, Waker) {
    let flag = Arc::new(FlagWaker(AtomicUsize::new(0)));
    (flag.clone(), Waker::from(flag))
}

/// Pending on its first poll (after publishing its waker), ready on the second.
struct TwoStep {
    polled: bool,
    waker_slot: Arc<Mutex<Option<Waker>>>,
    _guard: DropCounter,
}

impl Future for TwoStep {
    type Output = u32;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
        if self.polled {
            return Poll::Ready(7);
        }
        self.polled = true;
        *self.waker_slot.lock().unwrap() = Some(cx.waker().clone());
        Poll::Pending
    }
}

fn spawn<F>(future: F, queue: &TestQueue) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let cell = TaskCell::new(future, queue.clone(), Id::next(), std::panic::Location::caller());
    let join = JoinHandle::new(cell.clone());
    queue.schedule(Notified(cell), false);
    join
}

fn poll_join<T: Send + 'static>(
    join: &mut JoinHandle<T>,
    waker: &Waker,
) -> Poll<Result<T, super::JoinError>> {
    let mut cx = Context::from_waker(waker);
    Pin::new(join).poll(&mut cx)
}

#[test]
fn loom_join_waker_races_completion() {
    loom::model(|| {
        let queue = TestQueue::new();
        let mut join = spawn(async { 7u32 }, &queue);
        let runner = {
            let queue = queue.clone();
            loom::thread::spawn(move || queue.drain())
        };
        let (flag, waker) = flag_waker();
        let first = poll_join(&mut join, &waker);
        runner.join().unwrap();
        match first {
            Poll::Ready(out) => assert_eq!(out.unwrap(), 7),
            Poll::Pending => {
                assert_eq!(flag.0.load(SeqCst), 1, "the completer must wake the stored join waker");
                match poll_join(&mut join, &waker) {
                    Poll::Ready(out) => assert_eq!(out.unwrap(), 7),
                    Poll::Pending => panic!("complete task reported Pending"),
                }
            }
        }
    });
}

#[test]
fn loom_join_handle_drop_races_completion() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let queue = TestQueue::new();
        let output = DropCounter(drops.clone());
        let join = spawn(async move { output }, &queue);
        let runner = {
            let queue = queue.clone();
            loom::thread::spawn(move || queue.drain())
        };
        drop(join);
        runner.join().unwrap();
        assert_eq!(drops.load(SeqCst), 1, "the output must be dropped exactly once (rule 6)");
    });
}

#[test]
fn loom_wake_while_running_is_not_lost_or_doubled() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let slot = Arc::new(Mutex::new(None::<Waker>));
        let queue = TestQueue::new();
        let future = TwoStep { polled: false, waker_slot: slot.clone(), _guard: DropCounter(drops.clone()) };
        let mut join = spawn(future, &queue);
        let first = queue.pop().expect("spawned task queued");
        let waker_thread = loom::thread::spawn(move || loop {
            if let Some(w) = slot.lock().unwrap().take() {
                w.wake();
                break;
            }
            loom::thread::yield_now();
        });
        first.run(); // Pending; the wake may land during or after this poll
        waker_thread.join().unwrap();
        queue.drain();
        let (_flag, waker) = flag_waker();
        match poll_join(&mut join, &waker) {
            Poll::Ready(out) => assert_eq!(out.unwrap(), 7),
            Poll::Pending => panic!("a wake was lost: the task never ran again"),
        }
        assert_eq!(drops.load(SeqCst), 1, "the future must be dropped exactly once");
    });
}

#[test]
fn loom_abort_races_a_poll() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let slot = Arc::new(Mutex::new(None::<Waker>));
        let queue = TestQueue::new();
        let future = TwoStep { polled: false, waker_slot: slot, _guard: DropCounter(drops.clone()) };
        let mut join = spawn(future, &queue);
        let abort = join.abort_handle();
        let runner = {
            let queue = queue.clone();
            loom::thread::spawn(move || queue.drain())
        };
        abort.abort();
        runner.join().unwrap();
        queue.drain();
        let (_flag, waker) = flag_waker();
        match poll_join(&mut join, &waker) {
            Poll::Ready(Err(e)) => assert!(e.is_cancelled()),
            Poll::Ready(Ok(_)) => panic!("TwoStep is never woken, so it cannot have completed"),
            Poll::Pending => panic!("an aborted task must complete with a cancellation"),
        }
        assert_eq!(drops.load(SeqCst), 1, "the future must be dropped exactly once");
    });
}
