//! Week 1: a complete async executor in one file, using only the standard library.
//!
//! Before reading Kiln's real runtime, read this. It has the same moving parts, minus the
//! performance work:
//!
//! - a **task** is a boxed future plus a way to put itself back on the run queue;
//! - a **waker** is that "put me back" handle (here `Arc<Task>` through `std::task::Wake`);
//! - the **executor** pops tasks off a channel and polls them; a task that returns `Pending`
//!   is simply dropped from the queue until its waker fires;
//! - a **timer thread** (the "reactor" of this toy) sleeps until the earliest deadline and
//!   wakes the tasks whose timers are due.
//!
//! Kiln's runtime replaces the channel with per-worker lock-free queues and work stealing, the
//! `Mutex` around each future with one atomic state word, and the timer thread with a timer
//! wheel driven by the same thread that waits on epoll. See `docs/week1.md`.
//!
//! Run it:
//!
//! ```text
//! cargo run --example week1_mini_executor
//! ```
//!
//! What to look for: all three tasks are polled once and park (`is waiting`) before any
//! finishes; each comes back only when the timer thread wakes it, shortest wait first; the
//! whole run takes the longest wait (300 ms), not the sum, on one thread.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A spawned future and the queue it goes back to when woken.
struct Task {
    name: String,
    /// `None` once the future has completed.
    future: Mutex<Option<BoxFuture>>,
    queue: Sender<Arc<Task>>,
}

impl Wake for Task {
    fn wake(self: Arc<Self>) {
        println!("  [waker]    {} woken: back on the run queue", self.name);
        let queue = self.queue.clone();
        let _ = queue.send(self);
    }
}

/// The executor: a run queue and a count of unfinished tasks.
struct MiniExecutor {
    queue: Sender<Arc<Task>>,
    ready: Receiver<Arc<Task>>,
    live: Arc<AtomicUsize>,
}

impl MiniExecutor {
    fn new() -> MiniExecutor {
        let (queue, ready) = mpsc::channel();
        MiniExecutor { queue, ready, live: Arc::new(AtomicUsize::new(0)) }
    }

    fn spawn(&self, name: &str, future: impl Future<Output = ()> + Send + 'static) {
        self.live.fetch_add(1, Ordering::SeqCst);
        let live = self.live.clone();
        let future = async move {
            future.await;
            live.fetch_sub(1, Ordering::SeqCst);
        };
        let task = Arc::new(Task {
            name: name.to_string(),
            future: Mutex::new(Some(Box::pin(future))),
            queue: self.queue.clone(),
        });
        println!("  [spawn]    {name}");
        self.queue.send(task).expect("the executor owns the receiver");
    }

    /// Polls tasks as they become ready until every task has finished.
    fn run(&self) {
        while self.live.load(Ordering::SeqCst) > 0 {
            let task = self.ready.recv().expect("the executor owns a sender");
            let mut slot = task.future.lock().unwrap();
            let Some(future) = slot.as_mut() else { continue };
            let waker = Waker::from(task.clone());
            let mut cx = Context::from_waker(&waker);
            println!("  [executor] polling {}", task.name);
            match future.as_mut().poll(&mut cx) {
                Poll::Ready(()) => {
                    println!("  [executor] {} is done", task.name);
                    *slot = None;
                }
                Poll::Pending => println!("  [executor] {} is waiting", task.name),
            }
        }
    }
}

/// The timer thread: a heap of (deadline, waker), served in deadline order.
#[derive(Clone)]
struct TimerThread {
    requests: Sender<(Instant, Waker)>,
}

impl TimerThread {
    fn start() -> TimerThread {
        let (requests, incoming) = mpsc::channel::<(Instant, Waker)>();
        thread::spawn(move || {
            let mut heap: BinaryHeap<Reverse<(Instant, u64, WakerCell)>> = BinaryHeap::new();
            let mut seq = 0;
            loop {
                // Sleep until the earliest deadline, or until a new timer arrives.
                let next = heap.peek().map(|Reverse((at, _, _))| *at);
                let received = match next {
                    Some(at) => incoming.recv_timeout(at.saturating_duration_since(Instant::now())).ok(),
                    None => match incoming.recv() {
                        Ok(r) => Some(r),
                        Err(_) => return, // every TimerThread handle is gone
                    },
                };
                if let Some((at, waker)) = received {
                    seq += 1;
                    heap.push(Reverse((at, seq, WakerCell(waker))));
                }
                while heap.peek().is_some_and(|Reverse((at, _, _))| *at <= Instant::now()) {
                    let Reverse((_, _, WakerCell(waker))) = heap.pop().unwrap();
                    println!("  [timer]    a deadline passed");
                    waker.wake();
                }
            }
        });
        TimerThread { requests }
    }

    /// A future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> Sleep {
        Sleep { deadline: Instant::now() + duration, registered: false, timers: self.clone() }
    }
}

/// Wakers cannot be compared; the heap only orders by (deadline, sequence number).
struct WakerCell(Waker);
impl PartialEq for WakerCell {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for WakerCell {}
impl PartialOrd for WakerCell {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for WakerCell {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

/// The hand-written state machine behind `timers.sleep(d).await`.
struct Sleep {
    deadline: Instant,
    registered: bool,
    timers: TimerThread,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        if !self.registered {
            // Hand our waker to the timer thread: it calls `wake` at the deadline, which puts
            // our task back on the executor's queue, which polls us again.
            self.registered = true;
            let _ = self.timers.requests.send((self.deadline, cx.waker().clone()));
        }
        Poll::Pending
    }
}

fn main() {
    println!("A mini executor: three tasks, one thread, one timer thread.\n");
    let executor = MiniExecutor::new();
    let timers = TimerThread::start();
    let start = Instant::now();
    for (name, ms) in [("fetch-a", 300u64), ("fetch-b", 100), ("fetch-c", 200)] {
        let timers = timers.clone();
        executor.spawn(name, async move {
            timers.sleep(Duration::from_millis(ms)).await;
            println!("  [task]     {name} finished after {ms} ms");
        });
    }
    executor.run();
    println!(
        "\nAll three finished in {} ms on one thread: the waits overlapped, because a waiting task \
         costs nothing but a waker in the timer heap.",
        start.elapsed().as_millis()
    );
}
