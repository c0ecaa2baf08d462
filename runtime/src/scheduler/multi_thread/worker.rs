//! A worker thread's loop: find a task, run it, repeat; park when there is nothing to do.
//!
//! The worker's [`Core`] (its run queue and LIFO slot) is owned by the loop, and lent to a
//! thread-local [`WorkerContext`] while a task runs, so that wakes happening during that poll
//! can push straight into the local queue without any synchronisation.

use super::queue::{self, Local};
use super::Shared;
use crate::scheduler::metrics::WorkerMetrics;
use crate::task::cell::Notified;
use crate::util::rand::FastRand;
use std::cell::{Cell, RefCell};
use std::sync::Arc;

/// After this many polls of LIFO-slot tasks in a row the slot is bypassed for the rest of the
/// tick, so two tasks that keep waking each other cannot starve the rest of the queue.
const MAX_LIFO_POLLS_PER_TICK: usize = 3;

pub(crate) struct Core {
    index: usize,
    tick: u32,
    lifo_slot: Option<Notified>,
    lifo_enabled: bool,
    run_queue: Local<Notified>,
    is_searching: bool,
    /// True while the worker is parked (the driver may wake tasks into this core then; no
    /// other worker needs waking for those, this one is about to run them).
    is_parked: bool,
    rng: FastRand,
}

impl Core {
    pub(crate) fn new(index: usize, run_queue: Local<Notified>) -> Core {
        Core {
            index,
            tick: 0,
            lifo_slot: None,
            lifo_enabled: true,
            run_queue,
            is_searching: false,
            is_parked: false,
            rng: FastRand::new(),
        }
    }

    fn has_tasks(&self) -> bool {
        self.lifo_slot.is_some() || !self.run_queue.is_empty()
    }

    fn push_back(&mut self, shared: &Shared, task: Notified) {
        self.run_queue.push_back_or_overflow(task, |batch| shared.inject.push_batch(batch.into_iter()));
    }

    fn next_local(&mut self) -> Option<Notified> {
        self.lifo_slot.take().or_else(|| self.run_queue.pop())
    }

    fn next_task(&mut self, shared: &Shared) -> Option<Notified> {
        if self.tick % shared.config.global_queue_interval == 0 {
            // Fairness check: remote work goes first now and then, even when the local queue
            // never empties (a task that keeps yielding). Take a fair share, not just one task,
            // or a busy worker would drain a large inject queue one task per interval.
            return self.refill_from_inject(shared).or_else(|| self.next_local());
        }
        self.next_local().or_else(|| self.refill_from_inject(shared))
    }

    /// Moves a fair share of the inject queue into the local queue, in one lock acquisition,
    /// and returns the first task of it.
    fn refill_from_inject(&mut self, shared: &Shared) -> Option<Notified> {
        let n = (shared.inject.len() / shared.remotes.len() + 1)
            .min(self.run_queue.remaining_slots())
            .min(queue::CAPACITY / 2);
        let mut first = None;
        shared.inject.pop_batch(n.max(1), |task| match first {
            None => first = Some(task),
            Some(_) => self.push_back(shared, task),
        });
        first
    }

    fn steal_work(&mut self, shared: &Shared) -> Option<Notified> {
        if !self.is_searching {
            if !shared.idle.transition_worker_to_searching() {
                return None;
            }
            self.is_searching = true;
        }
        let n = shared.remotes.len();
        let start = self.rng.below(n as u32) as usize;
        for i in 0..n {
            let victim = (start + i) % n;
            if victim == self.index {
                continue;
            }
            if let Some(task) = shared.remotes[victim].steal.steal_into(&mut self.run_queue) {
                WorkerMetrics::bump(&shared.remotes[self.index].metrics.steals);
                return Some(task);
            }
        }
        shared.inject.pop()
    }

    /// Leaves the searching state; the last searcher to find work wakes another worker, so
    /// that if more work is waiting someone looks for it.
    fn transition_from_searching(&mut self, shared: &Shared) {
        if self.is_searching {
            self.is_searching = false;
            if shared.idle.transition_worker_from_searching() {
                shared.notify_parked();
            }
        }
    }
}

/// What a worker thread lends to wakes happening on it.
struct WorkerContext {
    shared: Arc<Shared>,
    core: RefCell<Option<Box<Core>>>,
}

thread_local! {
    /// The worker running on this thread, or null.
    static CURRENT: Cell<*const WorkerContext> = const { Cell::new(std::ptr::null()) };
}

/// Schedules `task` on the current worker if this thread is a worker of `shared`'s runtime and
/// its core is available; otherwise hands the task back.
pub(super) fn try_schedule_local(shared: &Arc<Shared>, task: Notified, is_yield: bool) -> Option<Notified> {
    CURRENT.with(|current| {
        let ptr = current.get();
        if ptr.is_null() {
            return Some(task);
        }
        // SAFETY: `run` sets CURRENT to a `WorkerContext` on its own stack frame and resets it
        // before that frame ends, so a non-null pointer is valid for this whole call.
        let cx = unsafe { &*ptr };
        if !Arc::ptr_eq(&cx.shared, shared) {
            return Some(task);
        }
        let Ok(mut slot) = cx.core.try_borrow_mut() else { return Some(task) };
        let Some(core) = slot.as_mut() else { return Some(task) };
        schedule_local(shared, core, task, is_yield);
        None
    })
}

fn schedule_local(shared: &Shared, core: &mut Core, task: Notified, is_yield: bool) {
    let should_notify = if is_yield {
        // A task that yields is work this worker already had, not new work: no one to wake
        // now. Nothing is stranded: tasks reach a queue by a spawn or wake that notifies, a
        // worker that parks re-checks the queues (`park`), and `maintenance` wakes a parked
        // worker when this queue holds stealable work. Waking one per yield would cost a
        // futex wake each time round a lock-and-yield loop; Tokio likewise defers yielded
        // tasks and wakes a worker for them in batches.
        core.push_back(shared, task);
        false
    } else if !core.lifo_enabled {
        core.push_back(shared, task);
        true
    } else {
        match core.lifo_slot.replace(task) {
            Some(prev) => {
                core.push_back(shared, prev);
                true
            }
            // Only the LIFO slot holds work, and it cannot be stolen: no one to wake.
            None => false,
        }
    };
    if should_notify && !core.is_parked {
        shared.notify_parked();
    }
}

/// The body of a worker thread.
pub(crate) fn run(shared: Arc<Shared>, core: Box<Core>) {
    let cx = WorkerContext { shared, core: RefCell::new(None) };
    CURRENT.with(|c| c.set(&cx));
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            CURRENT.with(|c| c.set(std::ptr::null()));
        }
    }
    let _reset = Reset;
    let core = run_loop(&cx, core);
    drop(core); // drops queued task references; shutdown cancels the tasks themselves
}

fn run_loop(cx: &WorkerContext, mut core: Box<Core>) -> Box<Core> {
    let shared = &*cx.shared;
    while !shared.is_shutdown() {
        core.tick = core.tick.wrapping_add(1);
        if core.tick % shared.config.event_interval == 0 {
            core = maintenance(cx, core);
        }
        if let Some(task) = core.next_task(shared) {
            core = run_task(cx, core, task);
            continue;
        }
        if let Some(task) = core.steal_work(shared) {
            core = run_task(cx, core, task);
            continue;
        }
        core = park(cx, core);
    }
    core
}

/// Runs `task`, then whatever lands in the LIFO slot, up to the limit.
fn run_task(cx: &WorkerContext, mut core: Box<Core>, task: Notified) -> Box<Core> {
    let shared = &*cx.shared;
    core.transition_from_searching(shared);
    core.lifo_enabled = true;
    let metrics = &shared.remotes[core.index].metrics;
    let mut polls = 1;
    *cx.core.borrow_mut() = Some(core);
    metrics.poll(|| task.run());
    let mut lifo_polls = 0;
    let core = loop {
        let mut core = cx.core.borrow_mut().take().expect("worker core missing after a poll");
        let Some(task) = core.lifo_slot.take() else { break core };
        if lifo_polls >= MAX_LIFO_POLLS_PER_TICK {
            core.lifo_enabled = false;
            core.push_back(shared, task);
            break core;
        }
        lifo_polls += 1;
        polls += 1;
        *cx.core.borrow_mut() = Some(core);
        metrics.poll(|| task.run());
    };
    WorkerMetrics::add(&metrics.polls, polls);
    core
}

/// Polls the driver without blocking, so IO and timers progress on a busy runtime; and if
/// this worker has work queued that others could steal, makes sure a parked worker hears of
/// it (yields re-queue tasks without waking anyone, see `schedule_local`).
fn maintenance(cx: &WorkerContext, core: Box<Core>) -> Box<Core> {
    let shared = &*cx.shared;
    if !core.run_queue.is_empty() {
        shared.notify_parked();
    }
    *cx.core.borrow_mut() = Some(core);
    super::Parker::poll_driver(&shared.driver, &shared.driver_handle);
    cx.core.borrow_mut().take().expect("worker core missing after maintenance")
}

fn park(cx: &WorkerContext, mut core: Box<Core>) -> Box<Core> {
    let shared = &*cx.shared;
    let index = core.index;
    if let Some(task) = core.lifo_slot.take() {
        core.push_back(shared, task);
        return core;
    }
    if shared.idle.transition_worker_to_parked(index, core.is_searching) {
        // We were the last searcher: work that arrived while we searched has nobody else
        // looking for it.
        if !shared.inject.is_empty() || shared.remotes.iter().any(|r| !r.steal.is_empty()) {
            shared.notify_parked();
        }
    }
    core.is_searching = false;
    while !shared.is_shutdown() {
        WorkerMetrics::bump(&shared.remotes[index].metrics.parks);
        core.is_parked = true;
        *cx.core.borrow_mut() = Some(core);
        shared.remotes[index].parker.park(&shared.driver, &shared.driver_handle);
        core = cx.core.borrow_mut().take().expect("worker core missing after park");
        core.is_parked = false;
        if core.has_tasks() {
            // The driver woke tasks into our queue while we slept. If `worker_to_notify`
            // picked us meanwhile, it counted us as searching: keep the books straight.
            if !shared.idle.unpark_worker_by_id(index) {
                core.is_searching = true;
            }
            if core.run_queue.len() > 1 {
                shared.notify_parked();
            }
            break;
        }
        if !shared.idle.is_parked(index) {
            // `worker_to_notify` picked us and counted us as searching.
            core.is_searching = true;
            break;
        }
    }
    core
}
