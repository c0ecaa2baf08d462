//! The blocking pool's threads and queue.

use crate::loom::sync::lock;
use crate::scheduler::Handle;
use crate::task::cell::Notified;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub(crate) struct BlockingPool {
    inner: Mutex<Inner>,
    condvar: Condvar,
    thread_cap: usize,
    keep_alive: Duration,
    thread_name: Arc<dyn Fn() -> String + Send + Sync>,
    stack_size: Option<usize>,
    /// For the metrics: threads alive and threads idle.
    num_threads: AtomicUsize,
    num_idle: AtomicUsize,
    queue_depth: AtomicUsize,
}

struct Inner {
    queue: VecDeque<Notified>,
    /// Threads waiting on the condvar.
    idle: usize,
    /// Wake-ups sent to idle threads and not yet consumed (tells a real wake from a spurious one).
    notified: usize,
    threads: Vec<JoinHandle<()>>,
    /// Threads started (or being started) and not yet exited; bounded by `thread_cap`.
    spawned: usize,
    shutdown: bool,
    /// The runtime the threads enter, so a closure can call `Handle::current()`. Cleared at
    /// shutdown (it points back at the scheduler, which owns this pool).
    handle: Option<Handle>,
}

impl BlockingPool {
    pub(crate) fn new(
        thread_cap: usize,
        keep_alive: Duration,
        thread_name: Arc<dyn Fn() -> String + Send + Sync>,
        stack_size: Option<usize>,
    ) -> BlockingPool {
        BlockingPool {
            inner: Mutex::new(Inner {
                queue: VecDeque::new(),
                idle: 0,
                notified: 0,
                threads: Vec::new(),
                spawned: 0,
                shutdown: false,
                handle: None,
            }),
            condvar: Condvar::new(),
            thread_cap,
            keep_alive,
            thread_name,
            stack_size,
            num_threads: AtomicUsize::new(0),
            num_idle: AtomicUsize::new(0),
            queue_depth: AtomicUsize::new(0),
        }
    }

    pub(crate) fn set_handle(&self, handle: Handle) {
        lock(&self.inner).handle = Some(handle);
    }

    /// Queues a task, starting a thread for it if none is idle and the cap allows.
    ///
    /// The condvar signal and the thread start happen after the lock is released: starting an
    /// OS thread takes tens of microseconds, and every other `push` and every thread coming
    /// back for work would otherwise wait behind it.
    pub(crate) fn push(self: &Arc<Self>, task: Notified) {
        enum Then {
            Nothing,
            Notify,
            Spawn,
        }
        let then = {
            let mut inner = lock(&self.inner);
            if inner.shutdown {
                drop(inner);
                task.shutdown(); // its JoinHandle reports cancellation
                return;
            }
            inner.queue.push_back(task);
            self.queue_depth.store(inner.queue.len(), Relaxed);
            if inner.idle > inner.notified {
                inner.notified += 1;
                Then::Notify
            } else if inner.spawned < self.thread_cap {
                inner.spawned += 1;
                Then::Spawn
            } else {
                Then::Nothing // at the cap: a running thread will take it when it is done
            }
        };
        match then {
            Then::Nothing => {}
            Then::Notify => self.condvar.notify_one(),
            Then::Spawn => self.spawn_thread(),
        }
    }

    fn spawn_thread(self: &Arc<Self>) {
        let pool = self.clone();
        let mut builder = std::thread::Builder::new().name((self.thread_name)());
        if let Some(size) = self.stack_size {
            builder = builder.stack_size(size);
        }
        match builder.spawn(move || pool.run()) {
            Ok(handle) => {
                self.num_threads.fetch_add(1, Relaxed);
                let mut inner = lock(&self.inner);
                if inner.shutdown {
                    // Shutdown began while we started it: let shutdown's caller not wait for a
                    // thread it never saw; it exits on its own as soon as it sees the flag.
                    return;
                }
                inner.threads.push(handle);
            }
            Err(_) => {
                // Out of threads. If no other thread exists, the queued tasks would wait forever:
                // fail them instead.
                let stranded: Vec<Notified> = {
                    let mut inner = lock(&self.inner);
                    inner.spawned -= 1;
                    if inner.spawned == 0 {
                        inner.queue.drain(..).collect()
                    } else {
                        Vec::new()
                    }
                };
                for task in stranded {
                    task.shutdown();
                }
            }
        }
    }

    fn run(self: Arc<Self>) {
        let handle = lock(&self.inner).handle.clone();
        let _guard = handle.as_ref().map(|h| crate::runtime::context::enter(h.clone()));
        let mut inner = lock(&self.inner);
        loop {
            while let Some(task) = inner.queue.pop_front() {
                self.queue_depth.store(inner.queue.len(), Relaxed);
                drop(inner);
                task.run();
                inner = lock(&self.inner);
            }
            if inner.shutdown {
                inner.spawned -= 1;
                break;
            }
            inner.idle += 1;
            self.num_idle.fetch_add(1, Relaxed);
            let deadline = Instant::now() + self.keep_alive;
            let timed_out = loop {
                let now = Instant::now();
                if now >= deadline {
                    break true;
                }
                inner = self.condvar.wait_timeout(inner, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
                if inner.notified > 0 {
                    inner.notified -= 1;
                    break false;
                }
                if inner.shutdown {
                    break false;
                }
            };
            inner.idle -= 1;
            self.num_idle.fetch_sub(1, Relaxed);
            if timed_out && inner.queue.is_empty() && !inner.shutdown {
                // Idle for `keep_alive`: exit. Forget our join handle so the pool does not wait
                // on it at shutdown.
                let me = std::thread::current().id();
                inner.threads.retain(|t| t.thread().id() != me);
                inner.spawned -= 1;
                self.num_threads.fetch_sub(1, Relaxed);
                return;
            }
        }
        self.num_threads.fetch_sub(1, Relaxed);
    }

    /// Stops the pool: queued tasks are cancelled, running ones are waited for up to `timeout`
    /// (`None`: as long as they take).
    pub(crate) fn shutdown(&self, timeout: Option<Duration>) {
        let (threads, queued) = {
            let mut inner = lock(&self.inner);
            inner.shutdown = true;
            inner.handle = None;
            let queued: Vec<Notified> = inner.queue.drain(..).collect();
            (std::mem::take(&mut inner.threads), queued)
        };
        self.condvar.notify_all();
        for task in queued {
            task.shutdown();
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        for thread in threads {
            if thread.thread().id() == std::thread::current().id() {
                continue; // shutting down from a blocking thread: do not join ourselves
            }
            match deadline {
                None => {
                    let _ = thread.join();
                }
                Some(deadline) => {
                    while !thread.is_finished() && Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    if thread.is_finished() {
                        let _ = thread.join();
                    }
                    // Otherwise leave it running, detached: shutdown_timeout's promise.
                }
            }
        }
    }

    pub(crate) fn num_threads(&self) -> usize {
        self.num_threads.load(Relaxed)
    }

    pub(crate) fn num_idle_threads(&self) -> usize {
        self.num_idle.load(Relaxed)
    }

    pub(crate) fn queue_depth(&self) -> usize {
        self.queue_depth.load(Relaxed)
    }
}
