//! Kiln's async runtime: a work-stealing executor, a reactor on `mio`, a timer wheel, tasks,
//! a blocking pool and signals, with an API shaped like Tokio's.
//!
//! ```
//! use std::time::Duration;
//!
//! let rt = kiln_runtime::runtime::Runtime::new().unwrap();
//! let answer = rt.block_on(async {
//!     let task = kiln_runtime::spawn(async {
//!         kiln_runtime::time::sleep(Duration::from_millis(5)).await;
//!         21
//!     });
//!     task.await.unwrap() * 2
//! });
//! assert_eq!(answer, 42);
//! ```
//!
//! # How it fits together
//!
//! A [`Runtime`](runtime::Runtime) is three things started together: a **scheduler** that
//! decides which task runs where, a **driver** that a thread blocks on when it has nothing to
//! run (the `mio` reactor for IO readiness, and the timer wheel), and a **blocking pool** for
//! code that must not run on a worker. A spawned future becomes a **task**: one heap
//! allocation holding the future, its output slot and a state word that says who may touch
//! what. A task's waker is a pointer to that allocation; waking pushes the task onto a run
//! queue.
//!
//! # Layout
//! - `task/`: the task cell and its state protocol, `JoinHandle`, `JoinSet`, `spawn_blocking`,
//!   the cooperative budget.
//! - `scheduler/`: the multi-thread (work-stealing) and current-thread schedulers.
//! - `driver/`: the IO reactor and the timer wheel.
//! - `blocking/`: the blocking thread pool.
//! - `runtime/`: `Builder`, `Runtime`, `Handle`, metrics, task dumps.
//! - `time/`: `sleep`, `timeout`, `interval`, `Instant`, the paused test clock.
//! - `signal/`: `ctrl_c` and Unix signals.
//! - `sync/`: channels (`mpsc`, `oneshot`, `broadcast`, `watch`), `Mutex`, `RwLock`,
//!   `Semaphore`, `Notify`, `Barrier`, `OnceCell`.
//! - `io/`: `Registration`, the reactor API that `kiln-net` builds sockets on.
//! - `loom.rs`: the switch between `std` and `loom` for the model-checked parts.

#![cfg_attr(loom, allow(dead_code, unused_imports))]

pub(crate) mod loom;
pub mod task;

#[cfg(not(loom))]
mod blocking;
#[cfg(not(loom))]
pub(crate) mod driver;
#[cfg(not(loom))]
pub mod io;
#[cfg(not(loom))]
pub mod runtime;
#[cfg(not(loom))]
pub(crate) mod scheduler;
#[cfg(loom)]
pub(crate) mod scheduler {
    //! Under loom only the lock-free run queue is built and modelled.
    pub(crate) mod multi_thread {
        #[path = "queue.rs"]
        pub(crate) mod queue;
    }
}
#[cfg(not(loom))]
pub mod signal;
pub mod sync;
#[cfg(not(loom))]
pub mod time;
#[cfg(not(loom))]
pub(crate) mod util;

#[cfg(not(loom))]
#[doc(hidden)]
#[path = "macros_support.rs"]
pub mod __private;

#[cfg(not(loom))]
pub use task::spawn;

/// Marks `async fn main` to run on a Kiln runtime. See `kiln_macros::main`.
pub use kiln_macros::main;
/// Marks an `async fn` test to run on a Kiln runtime. See `kiln_macros::test`.
pub use kiln_macros::test;

/// Waits on several futures at once and runs the handler of the first to complete; the others
/// are dropped (cancelled).
///
/// ```
/// # kiln_runtime::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use kiln_runtime::time::sleep;
/// let winner = kiln_runtime::select! {
///     _ = sleep(Duration::from_millis(50)) => "slow",
///     _ = sleep(Duration::from_millis(1)) => "fast",
/// };
/// assert_eq!(winner, "fast");
/// # });
/// ```
///
/// Syntax, as Tokio's: `pattern = future [, if condition] => handler,` for each branch,
/// optionally `biased;` first (poll branches in order instead of from a random one) and
/// `else => handler` last (runs when every branch is disabled). A branch is disabled when its
/// condition is false or when its future's output does not match its pattern.
#[macro_export]
macro_rules! select {
    ($($tokens:tt)*) => {
        $crate::__private::select_impl!($crate; $($tokens)*)
    };
}

/// Runs several futures concurrently on the current task and returns all their outputs as a
/// tuple. Starts polling from a different future each time, unless `biased;` comes first.
#[macro_export]
macro_rules! join {
    ($($tokens:tt)*) => {
        $crate::__private::join_impl!($crate; $($tokens)*)
    };
}

/// Like [`join!`] for futures returning `Result`: returns `Ok` of all outputs, or the first
/// `Err` as soon as it appears (dropping the other futures).
#[macro_export]
macro_rules! try_join {
    ($($tokens:tt)*) => {
        $crate::__private::try_join_impl!($crate; $($tokens)*)
    };
}

/// Pins values on the stack: `pin!(fut);` shadows `fut` with a `Pin<&mut _>` to it.
#[macro_export]
macro_rules! pin {
    ($($x:ident),* $(,)?) => {
        $( let mut $x = ::core::pin::pin!($x); )*
    };
    ($(let $x:ident = $init:expr;)*) => {
        $( let mut $x = ::core::pin::pin!($init); )*
    };
}
