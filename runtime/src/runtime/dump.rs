//! `Dump`: a snapshot of every live task, for debugging a stuck service.

use crate::scheduler::Handle;
use crate::task::Id;
use std::fmt;
use std::panic::Location;
use std::time::Duration;

/// What a task was doing when the dump was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskState {
    /// Waiting for a wake-up.
    Idle,
    /// Woken and waiting in a run queue.
    Scheduled,
    /// Being polled right now.
    Running,
    /// Finished; about to leave the list.
    Complete,
}

/// One task in a [`Dump`].
#[derive(Debug, Clone)]
pub struct TaskInfo {
    /// The task's id.
    pub id: Id,
    /// Where it was spawned.
    pub location: &'static Location<'static>,
    /// How long ago it was spawned (on a coarse clock: precise to a few milliseconds).
    pub age: Duration,
    /// What it was doing.
    pub state: TaskState,
}

/// Every live task of a runtime, oldest first. `Display` renders a table.
#[derive(Debug, Clone)]
pub struct Dump {
    tasks: Vec<TaskInfo>,
}

impl Dump {
    pub(crate) fn capture(handle: &Handle) -> Dump {
        let now = crate::util::coarse_clock::now_nanos();
        let mut tasks = Vec::new();
        handle.owned().for_each(|header| {
            let s = header.state.load();
            let state = if s.is_complete() {
                TaskState::Complete
            } else if s.is_running() {
                TaskState::Running
            } else if s.is_notified() {
                TaskState::Scheduled
            } else {
                TaskState::Idle
            };
            tasks.push(TaskInfo {
                id: header.id,
                location: header.location,
                age: Duration::from_nanos(now.saturating_sub(header.spawned_at)),
                state,
            });
        });
        tasks.sort_by_key(|t| t.id);
        Dump { tasks }
    }

    /// The tasks, oldest first.
    pub fn tasks(&self) -> &[TaskInfo] {
        &self.tasks
    }
}

impl fmt::Display for Dump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} live task(s)", self.tasks.len())?;
        writeln!(f, "{:>8}  {:<9}  {:>10}  spawned at", "id", "state", "age")?;
        for t in &self.tasks {
            writeln!(f, "{:>8}  {:<9}  {:>10.3?}  {}", t.id, format!("{:?}", t.state), t.age, t.location)?;
        }
        Ok(())
    }
}
