//! The task cell: a spawned future, its output and its join waker in one allocation.
//!
//! `spawn` allocates one `Arc<TaskCell<F, S>>`. Everything else refers to that allocation:
//!
//! - the scheduler's queues hold it as a [`Notified`] (an `Arc<dyn RawTask>`: the permit to poll
//!   it once, rule 1 of `state.rs`);
//! - wakers are the same `Arc`, behind a hand-written `RawWakerVTable`, so cloning a waker is a
//!   reference-count increment and polling needs no clone at all (see [`TaskCell::run`]);
//! - the `JoinHandle<T>` holds it as an `Arc<dyn JoinTarget<T>>`, which erases the future's
//!   type but keeps the output's.
//!
//! The fields that several threads could touch (`stage` and `join_waker`) sit in
//! `UnsafeCell`s; the state word's rules say who owns them, and each access cites the rule.

use super::error::JoinError;
use super::state::{Snapshot, State, ToIdle, ToRunning};
use super::{Header, Id};
use crate::loom::cell::UnsafeCell;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

/// What a scheduler does with tasks. Implemented by each runtime flavour's shared state and
/// by the blocking pool.
pub(crate) trait Schedule: Send + Sync + 'static {
    /// Queues a task that holds the NOTIFIED permit. `is_yield` is true when the task woke
    /// itself during its own poll (`yield_now`), so it should go behind other work.
    fn schedule(&self, task: Notified, is_yield: bool);

    /// The task completed: forget it (remove it from the owned-task list).
    fn release(&self, header: &Header);
}

/// Type-erased operations on a task, used by queues and the owned-task list.
pub(crate) trait RawTask: Send + Sync {
    fn header(&self) -> &Header;
    /// Polls the task once. The caller hands over the NOTIFIED permit it held.
    fn run(self: Arc<Self>);
    /// Runtime shutdown: drops the future if the task is idle (rule 4).
    fn shutdown(self: Arc<Self>);
}

/// Operations the `JoinHandle<T>` and `AbortHandle` need, erased over the future's type.
pub(crate) trait JoinTarget<T>: RawTask {
    /// Polls for the output; see rule 7 for the waker handshake.
    fn poll_join(&self, cx: &mut Context<'_>) -> Poll<Result<T, JoinError>>;
    /// The JoinHandle is being dropped (rule 6).
    fn drop_join_handle(&self);
    /// `abort()`: cancel the task (rule 4).
    fn abort(self: Arc<Self>);
}

/// A reference to a task of any type.
pub(crate) type TaskRef = Arc<dyn RawTask>;

/// A task reference that carries the NOTIFIED permit: the right to poll the task once.
pub(crate) struct Notified(pub(super) TaskRef);

impl Notified {
    /// The permit of a task that was just created: a new task's state starts NOTIFIED, so
    /// whoever spawns it holds the right to its first poll.
    pub(crate) fn first_poll(task: TaskRef) -> Notified {
        Notified(task)
    }

    pub(crate) fn run(self) {
        self.0.run()
    }

    /// Cancels the task without polling it (a runtime shutting down); its JoinHandle
    /// reports cancellation.
    pub(crate) fn shutdown(self) {
        self.0.shutdown()
    }
}

/// Where the task is in its life. Owned by whoever the state word says (rules 2 and 5).
enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, JoinError>),
    Consumed,
}

/// One spawned task. `#[repr(C)]` keeps the header first, where a debugger expects it.
#[repr(C)]
pub(crate) struct TaskCell<F: Future, S> {
    header: Header,
    scheduler: S,
    /// # Invariant
    /// Accessed only by the holder of RUNNING, or after COMPLETE by the owner named in rule 5.
    stage: UnsafeCell<Stage<F>>,
    /// # Invariant
    /// Written only by the JoinHandle while JOIN_WAKER is clear; read-only while it is set
    /// (rule 7).
    join_waker: UnsafeCell<Option<Waker>>,
}

// SAFETY: the `UnsafeCell` fields are only accessed under the exclusive ownership the state
// word hands out (rules 2, 5, 7), so sharing the cell across threads is sound as long as the
// future and its output can move between threads, which `F: Send` and `F::Output: Send` say.
unsafe impl<F: Future + Send, S: Send + Sync> Sync for TaskCell<F, S> where F::Output: Send {}

impl<F, S> TaskCell<F, S>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    pub(crate) fn new(future: F, scheduler: S, id: Id, location: &'static Location<'static>) -> Arc<Self> {
        Arc::new(TaskCell {
            header: Header::new(id, location),
            scheduler,
            stage: UnsafeCell::new(Stage::Running(future)),
            join_waker: UnsafeCell::new(None),
        })
    }

    /// Polls the future once, with the cooperative budget reset and panics caught.
    fn poll_future(&self, cx: &mut Context<'_>) -> Result<Poll<F::Output>, Box<dyn std::any::Any + Send>> {
        catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: we hold RUNNING (rule 2), so nobody else touches the stage; the future
            // lives inside the `Arc` allocation and is dropped in place, never moved, so
            // pinning it is sound.
            self.stage.with_mut(|stage| unsafe {
                match &mut *stage {
                    Stage::Running(future) => {
                        crate::task::coop::with_budget(|| Pin::new_unchecked(future).poll(cx))
                    }
                    _ => unreachable!("a task is polled only while its future is present"),
                }
            })
        }))
    }

    /// Replaces the stage, dropping the old one (the future, or an unread output). A panic
    /// from a `Drop` impl is caught: it must not unwind through a worker.
    ///
    /// # Safety
    /// The caller owns the stage (rules 2 and 5).
    unsafe fn set_stage(&self, stage: Stage<F>) {
        self.stage.with_mut(|ptr| {
            // SAFETY: the caller owns the stage, per this function's contract. The old stage is
            // dropped where it lives: a future was pinned there, and a pinned value must be
            // dropped in place — moving it out first (`mem::replace`) would leave its
            // self-references pointing at the slot the new stage overwrites, for its `Drop`
            // impls to read. A panic part-way leaves the rest of it leaked, never dropped twice.
            let _ = catch_unwind(AssertUnwindSafe(|| unsafe { std::ptr::drop_in_place(ptr) }));
            // SAFETY: the slot's old value is dropped (or abandoned) above; writing does not
            // drop it again.
            unsafe { std::ptr::write(ptr, stage) };
        });
    }

    /// Drops the future of a cancelled task and completes it with `JoinError::Cancelled`.
    /// The caller holds RUNNING.
    fn cancel_and_complete(self: &Arc<Self>) {
        // SAFETY: the caller holds RUNNING (rule 2).
        unsafe { self.set_stage(Stage::Consumed) };
        self.complete(Err(JoinError::cancelled(self.header.id)));
    }

    /// Writes the output, sets COMPLETE and hands the output to its owner (rule 5).
    fn complete(self: &Arc<Self>, output: Result<F::Output, JoinError>) {
        // SAFETY: the caller holds RUNNING (rule 2).
        unsafe { self.set_stage(Stage::Finished(output)) };
        let prev = self.state().transition_to_complete();
        if !prev.is_join_interested() {
            // Rule 5: nobody will read the output, and the stage is ours.
            // SAFETY: COMPLETE is set and JOIN_INTEREST was already gone.
            unsafe { self.set_stage(Stage::Consumed) };
        } else if prev.is_join_waker_set() {
            // Rule 7: JOIN_WAKER was set when COMPLETE was, so the slot is frozen.
            // SAFETY: nobody writes the slot while JOIN_WAKER is set.
            self.join_waker.with(|slot| unsafe {
                if let Some(waker) = &*slot {
                    waker.wake_by_ref();
                }
            });
        }
        self.scheduler.release(&self.header);
    }

    fn state(&self) -> &State {
        &self.header.state
    }

    /// Reads the output out of a COMPLETE task.
    ///
    /// # Safety
    /// The caller is the JoinHandle and has seen COMPLETE (rule 5).
    unsafe fn take_output(&self) -> Result<F::Output, JoinError> {
        // SAFETY: per the contract, the stage belongs to the JoinHandle now.
        self.stage.with_mut(|ptr| match unsafe { std::mem::replace(&mut *ptr, Stage::Consumed) } {
            Stage::Finished(output) => output,
            _ => panic!("JoinHandle polled after it returned its output"),
        })
    }

    // --- the waker vtable -------------------------------------------------------------------

    const WAKER_VTABLE: RawWakerVTable =
        RawWakerVTable::new(Self::waker_clone, Self::waker_wake, Self::waker_wake_by_ref, Self::waker_drop);

    /// A waker that borrows `self` for the duration of one poll, without touching the
    /// reference count.
    fn borrowed_waker(self: &Arc<Self>) -> ManuallyDrop<Waker> {
        let raw = RawWaker::new(Arc::as_ptr(self) as *const (), &Self::WAKER_VTABLE);
        // SAFETY: the vtable's functions treat the data pointer as an `Arc<Self>`, which it
        // is; `ManuallyDrop` stops this borrowed waker from releasing a count it never took.
        ManuallyDrop::new(unsafe { Waker::from_raw(raw) })
    }

    /// The vtable's `clone`: a new owned waker, one more strong count.
    ///
    /// # Safety
    /// `ptr` is the data pointer of a live waker of this vtable: `Arc::as_ptr` of an
    /// `Arc<Self>` that the waker owns a count of or borrows for the call.
    unsafe fn waker_clone(ptr: *const ()) -> RawWaker {
        // SAFETY: `ptr` came from `Arc::as_ptr` on a live `Arc<Self>` (every waker holds or
        // borrows one), so adding a count is sound.
        unsafe { Arc::increment_strong_count(ptr as *const Self) };
        RawWaker::new(ptr, &Self::WAKER_VTABLE)
    }

    /// The vtable's `wake`: schedules the task and consumes the waker.
    ///
    /// # Safety
    /// `ptr` is the data pointer of an owned waker of this vtable; the call takes over its
    /// strong count, and the waker is not used again.
    unsafe fn waker_wake(ptr: *const ()) {
        // SAFETY: an owned waker holds one count, which this consumes.
        let task = unsafe { Arc::from_raw(ptr as *const Self) };
        task.wake_by_val();
    }

    /// The vtable's `wake_by_ref`: schedules the task and leaves the waker's count alone.
    ///
    /// # Safety
    /// `ptr` is the data pointer of a waker of this vtable that stays alive for the call.
    unsafe fn waker_wake_by_ref(ptr: *const ()) {
        // SAFETY: the waker is alive for the call, so the `Arc` is; `ManuallyDrop` leaves its
        // count alone.
        let task = ManuallyDrop::new(unsafe { Arc::from_raw(ptr as *const Self) });
        if task.state().transition_to_notified() {
            task.scheduler.schedule(Notified((*task).clone()), false);
        }
    }

    /// The vtable's `drop`: releases the waker's strong count.
    ///
    /// # Safety
    /// `ptr` is the data pointer of an owned waker of this vtable, dropped exactly once.
    unsafe fn waker_drop(ptr: *const ()) {
        // SAFETY: an owned waker holds one count, which this releases.
        drop(unsafe { Arc::from_raw(ptr as *const Self) });
    }

    fn wake_by_val(self: Arc<Self>) {
        if self.state().transition_to_notified() {
            let scheduler = &self.scheduler as *const S;
            // SAFETY: `scheduler` points into the cell, which the `Arc` moved into
            // `Notified` keeps alive until `schedule` has taken it.
            unsafe { (*scheduler).schedule(Notified(self), false) };
        }
    }
}

impl<F, S> RawTask for TaskCell<F, S>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    fn header(&self) -> &Header {
        &self.header
    }

    fn run(self: Arc<Self>) {
        match self.state().transition_to_running() {
            ToRunning::Failed => return,
            ToRunning::Cancel => return self.cancel_and_complete(),
            ToRunning::Poll => {}
        }
        let waker = self.borrowed_waker();
        let mut cx = Context::from_waker(&waker);
        match self.poll_future(&mut cx) {
            Ok(Poll::Ready(output)) => self.complete(Ok(output)),
            Ok(Poll::Pending) => match self.state().transition_to_idle() {
                ToIdle::Idle => {}
                ToIdle::Notified => {
                    let task: TaskRef = self.clone();
                    self.scheduler.schedule(Notified(task), true);
                }
                ToIdle::Cancelled => self.cancel_and_complete(),
            },
            Err(panic) => {
                // SAFETY: we still hold RUNNING; the panicking future must go.
                unsafe { self.set_stage(Stage::Consumed) };
                self.complete(Err(JoinError::panic(self.header.id, panic)));
            }
        }
    }

    fn shutdown(self: Arc<Self>) {
        if self.state().transition_to_shutdown() {
            self.cancel_and_complete();
        }
    }
}

impl<F, S> JoinTarget<F::Output> for TaskCell<F, S>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    fn poll_join(&self, cx: &mut Context<'_>) -> Poll<Result<F::Output, JoinError>> {
        let snapshot = self.state().load();
        if !snapshot.is_complete() && !self.register_join_waker(snapshot, cx.waker()) {
            return Poll::Pending;
        }
        // SAFETY: COMPLETE is set and we are the JoinHandle (rule 5).
        Poll::Ready(unsafe { self.take_output() })
    }

    fn drop_join_handle(&self) {
        match self.state().unset_join_interested() {
            Ok(_) => {
                // Rule 7: JOIN_WAKER is now clear and we are the JoinHandle, so the slot is ours.
                // SAFETY: as above.
                self.join_waker.with_mut(|slot| unsafe { *slot = None });
            }
            Err(_) => {
                // Rule 6: the task is COMPLETE, so the output is ours to drop.
                // SAFETY: as above.
                unsafe { self.set_stage(Stage::Consumed) };
            }
        }
    }

    fn abort(self: Arc<Self>) {
        if self.state().transition_to_notified_and_cancel() {
            let task: TaskRef = self.clone();
            self.scheduler.schedule(Notified(task), false);
        }
    }
}

impl<F, S> TaskCell<F, S>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    /// Rule 7: stores `waker` so the completer wakes it. Returns true if the task completed
    /// meanwhile, in which case the caller reads the output instead of waiting.
    fn register_join_waker(&self, snapshot: Snapshot, waker: &Waker) -> bool {
        if snapshot.is_join_waker_set() {
            // SAFETY: while JOIN_WAKER is set the slot is read-only for everyone.
            let same =
                self.join_waker.with(|slot| unsafe { (*slot).as_ref().is_some_and(|w| w.will_wake(waker)) });
            if same {
                return false;
            }
            if self.state().unset_join_waker().is_err() {
                return true;
            }
        }
        // SAFETY: JOIN_WAKER is clear and only the JoinHandle (us) writes the slot then.
        self.join_waker.with_mut(|slot| unsafe { *slot = Some(waker.clone()) });
        self.state().set_join_waker().is_err()
    }
}
