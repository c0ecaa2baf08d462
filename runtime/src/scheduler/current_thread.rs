//! The current-thread scheduler: every task runs on the thread that calls `block_on`.
//!
//! There is one [`Core`] (a `VecDeque` run queue plus the driver). `block_on` takes it, then
//! alternates between polling the future it was given, running queued tasks, and parking in
//! the driver when there is nothing to run. Tasks woken on this thread go straight into the
//! core's queue; tasks woken elsewhere go into the inject queue and the driver is unparked.
//!
//! No LIFO slot: with a single thread there is no cache to keep warm on one core rather than
//! another, and strict FIFO order is easier to reason about in tests.

use crate::blocking::BlockingPool;
use crate::driver::{self, Driver};
use crate::loom::sync::lock;
use crate::scheduler::inject::Inject;
use crate::scheduler::metrics::WorkerMetrics;
use crate::scheduler::owned::OwnedTasks;
use crate::task::cell::{Notified, Schedule};
use crate::task::Header;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

/// Tasks run between two looks at the driver and the `block_on` future.
const EVENT_INTERVAL: u32 = 61;
/// Ticks between checks of the inject queue ahead of the local queue.
const GLOBAL_QUEUE_INTERVAL: u32 = 31;
/// How long a second `block_on` caller waits before trying again to take the core.
const CORE_RETRY: Duration = Duration::from_millis(1);

pub(crate) struct Shared {
    pub(crate) inject: Inject,
    pub(crate) owned: OwnedTasks,
    pub(crate) driver_handle: driver::Handle,
    pub(crate) blocking: Arc<BlockingPool>,
    /// The core, while no thread is inside `block_on`.
    core: Mutex<Option<Box<Core>>>,
    /// Set when the `block_on` future is woken.
    woken: AtomicBool,
    shutdown: AtomicBool,
    pub(crate) metrics: WorkerMetrics,
    local_depth: std::sync::atomic::AtomicUsize,
}

pub(crate) struct Core {
    tasks: VecDeque<Notified>,
    tick: u32,
    driver: Option<Driver>,
}

/// What `block_on` lends to wakes happening on its thread: the core, so they can queue
/// locally.
struct CoreContext {
    shared: Arc<Shared>,
    core: RefCell<Option<Box<Core>>>,
}

thread_local! {
    static CURRENT: Cell<*const CoreContext> = const { Cell::new(std::ptr::null()) };
}

impl Shared {
    pub(crate) fn new(
        driver: Driver,
        driver_handle: driver::Handle,
        blocking: Arc<BlockingPool>,
        poll_time: bool,
    ) -> Arc<Shared> {
        Arc::new(Shared {
            inject: Inject::new(),
            owned: OwnedTasks::new(),
            driver_handle,
            blocking,
            core: Mutex::new(Some(Box::new(Core {
                tasks: VecDeque::with_capacity(64),
                tick: 0,
                driver: Some(driver),
            }))),
            woken: AtomicBool::new(false),
            shutdown: AtomicBool::new(false),
            metrics: WorkerMetrics::new(poll_time),
            local_depth: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    pub(crate) fn local_queue_depth(&self) -> usize {
        self.local_depth.load(Ordering::Relaxed)
    }

    /// Runs `future` to completion on this thread, running spawned tasks meanwhile.
    pub(crate) fn block_on<F: Future>(self: &Arc<Self>, future: F) -> F::Output {
        let mut future = pin!(future);
        loop {
            // (A `let`, so the guard is released before the core is used.)
            let core = lock(&self.core).take();
            if let Some(core) = core {
                return self.run_with_core(core, future.as_mut());
            }
            // Another thread is inside `block_on` and drives the tasks. Poll our future with
            // a waker that unparks this thread, and retry taking the core now and then.
            let thread = std::thread::current();
            let waker = Waker::from(Arc::new(ThreadWaker(thread)));
            let mut cx = Context::from_waker(&waker);
            if let Poll::Ready(out) = crate::task::coop::with_budget(|| future.as_mut().poll(&mut cx)) {
                return out;
            }
            std::thread::park_timeout(CORE_RETRY);
        }
    }

    fn run_with_core<F: Future>(
        self: &Arc<Self>,
        core: Box<Core>,
        mut future: std::pin::Pin<&mut F>,
    ) -> F::Output {
        let cx = CoreContext { shared: self.clone(), core: RefCell::new(Some(core)) };
        let prev = CURRENT.with(|c| c.replace(&cx));
        // Return the core however we leave (including by a panic in the future), so the
        // runtime can still shut down and later `block_on` calls still work.
        struct Restore<'a>(&'a CoreContext, *const CoreContext);
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                CURRENT.with(|c| c.set(self.1));
                if let Some(core) = self.0.core.borrow_mut().take() {
                    *lock(&self.0.shared.core) = Some(core);
                }
            }
        }
        let _restore = Restore(&cx, prev);

        let waker = Waker::from(self.clone());
        let mut task_cx = Context::from_waker(&waker);
        self.woken.store(true, Ordering::Release);
        let mut since_driver = 0u32;
        loop {
            if self.woken.swap(false, Ordering::AcqRel) {
                if let Poll::Ready(out) =
                    crate::task::coop::with_budget(|| future.as_mut().poll(&mut task_cx))
                {
                    return out;
                }
            }
            let mut ran_all = false;
            // Run a batch of tasks even if the `block_on` future was woken meanwhile: a future
            // that keeps yielding must not starve the tasks it is waiting for.
            for _ in 0..EVENT_INTERVAL {
                let task = {
                    let mut slot = cx.core.borrow_mut();
                    let core = slot.as_mut().expect("current-thread core missing");
                    core.tick = core.tick.wrapping_add(1);
                    let task = if core.tick % GLOBAL_QUEUE_INTERVAL == 0 {
                        self.inject.pop().or_else(|| core.tasks.pop_front())
                    } else {
                        core.tasks.pop_front().or_else(|| self.inject.pop())
                    };
                    self.local_depth.store(core.tasks.len(), Ordering::Relaxed);
                    task
                };
                match task {
                    Some(task) => {
                        WorkerMetrics::bump(&self.metrics.polls);
                        self.metrics.poll(|| task.run());
                    }
                    None => {
                        ran_all = true;
                        break;
                    }
                }
            }
            if !ran_all {
                // A full batch ran and more is queued: look at IO and timers before going on,
                // so a busy queue cannot starve them.
                self.park(&cx, Some(Duration::ZERO));
                since_driver = 0;
            } else if !self.woken.load(Ordering::Acquire) {
                // Nothing to run and nothing woke the block_on future: sleep in the driver.
                self.park(&cx, None);
                since_driver = 0;
            } else {
                // The queue is empty but the block_on future was woken (it yields in a loop,
                // say): poll it again at once. Visit the driver only every EVENT_INTERVAL
                // rounds, as with tasks; an epoll_wait per round would dominate such a loop.
                since_driver += 1;
                if since_driver >= EVENT_INTERVAL {
                    self.park(&cx, Some(Duration::ZERO));
                    since_driver = 0;
                }
            }
        }
    }

    /// Parks in the driver. The core stays in the context, so tasks the driver wakes land in
    /// the local queue.
    fn park(&self, cx: &CoreContext, limit: Option<Duration>) {
        let mut driver = {
            let mut slot = cx.core.borrow_mut();
            let core = slot.as_mut().expect("current-thread core missing");
            if limit.is_none() && (!core.tasks.is_empty() || !self.inject.is_empty()) {
                return;
            }
            core.driver.take().expect("current-thread driver missing")
        };
        if limit.is_none() {
            WorkerMetrics::bump(&self.metrics.parks);
        }
        driver.park(&self.driver_handle, limit);
        let mut slot = cx.core.borrow_mut();
        slot.as_mut().expect("current-thread core missing").driver = Some(driver);
    }

    /// Shuts the runtime down: drops every task's future, on this thread.
    pub(crate) fn shutdown(self: &Arc<Self>) {
        self.shutdown.store(true, Ordering::Release);
        let core = lock(&self.core).take();
        if let Some(mut core) = core {
            core.tasks.clear();
            *lock(&self.core) = Some(core);
        }
        self.inject.close();
        self.owned.close_and_shutdown_all();
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }
}

impl Schedule for Arc<Shared> {
    fn schedule(&self, task: Notified, _is_yield: bool) {
        let task = CURRENT.with(|current| {
            let ptr = current.get();
            if ptr.is_null() {
                return Some(task);
            }
            // SAFETY: `run_with_core` points CURRENT at a context on its own stack frame and
            // restores the previous value before that frame ends.
            let cx = unsafe { &*ptr };
            if !Arc::ptr_eq(&cx.shared, self) {
                return Some(task);
            }
            match cx.core.try_borrow_mut() {
                Ok(mut slot) => match slot.as_mut() {
                    Some(core) => {
                        core.tasks.push_back(task);
                        None
                    }
                    None => Some(task),
                },
                Err(_) => Some(task),
            }
        });
        if let Some(task) = task {
            if self.is_shutdown() {
                return;
            }
            self.inject.push(task);
            self.driver_handle.io.unpark();
        }
    }

    fn release(&self, header: &Header) {
        self.owned.remove(header);
    }
}

/// The `block_on` future's waker: flag it and make sure the thread is not asleep.
impl Wake for Shared {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        // Woken from our own thread, the loop sees the flag before it parks: skip the syscall.
        let on_this_thread = CURRENT.with(|c| {
            let ptr = c.get();
            // SAFETY: as in `schedule`.
            !ptr.is_null() && Arc::ptr_eq(unsafe { &(*ptr).shared }, self)
        });
        if !on_this_thread {
            self.driver_handle.io.unpark();
        }
    }
}

struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}
