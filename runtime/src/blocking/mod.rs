//! The blocking pool: threads for work that would stall a worker (file IO, CPU-heavy work,
//! blocking libraries such as `rusqlite` and `bcrypt`).
//!
//! A `spawn_blocking` closure becomes an ordinary task (the same cell as `spawn`, so its
//! `JoinHandle` behaves the same) whose "future" runs the closure once. Tasks queue in one
//! mutex-protected `VecDeque`. A thread is started only when a task arrives and no thread is
//! idle, up to `max_blocking_threads`; beyond that, tasks wait in the queue. A thread that has
//! been idle for `keep_alive` exits, so a burst does not leave hundreds of threads behind.

mod pool;
mod task;

pub(crate) use pool::BlockingPool;
pub(crate) use task::{BlockingSchedule, BlockingTask};
