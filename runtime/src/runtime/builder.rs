//! `Builder`: configure and build a runtime.

use super::{Flavor, Handle, Runtime};
use crate::blocking::BlockingPool;
use crate::scheduler::{self, current_thread, multi_thread};
use crate::{driver, runtime::context};
use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// Default cap on blocking-pool threads (Tokio's figure): enough for hundreds of concurrent
/// blocking calls, bounded so a flood cannot exhaust the process's threads.
pub const DEFAULT_MAX_BLOCKING_THREADS: usize = 512;
/// How long an idle blocking thread lingers before it exits.
pub const DEFAULT_THREAD_KEEP_ALIVE: Duration = Duration::from_secs(10);
/// Ticks between non-blocking driver polls on a busy worker ("copied from Go", as Tokio says:
/// a prime, so it does not beat in step with other periodic work).
pub const DEFAULT_EVENT_INTERVAL: u32 = 61;
/// Ticks between inject-queue checks ahead of the local queue on a multi-thread worker.
pub const DEFAULT_GLOBAL_QUEUE_INTERVAL: u32 = 61;

/// Builds a [`Runtime`] with custom settings.
///
/// ```
/// let rt = kiln_runtime::runtime::Builder::new_multi_thread()
///     .worker_threads(2)
///     .thread_name("my-worker")
///     .enable_all()
///     .build()
///     .unwrap();
/// assert_eq!(rt.block_on(async { 1 + 1 }), 2);
/// ```
pub struct Builder {
    flavor: Flavor,
    worker_threads: Option<usize>,
    max_blocking_threads: usize,
    thread_name: Arc<dyn Fn() -> String + Send + Sync>,
    thread_stack_size: Option<usize>,
    keep_alive: Duration,
    event_interval: u32,
    global_queue_interval: u32,
    start_paused: bool,
    poll_time: bool,
}

impl Builder {
    /// A work-stealing runtime with one worker per CPU by default.
    pub fn new_multi_thread() -> Builder {
        Builder::new(Flavor::MultiThread)
    }

    /// A runtime that runs every task on the thread calling `block_on`.
    pub fn new_current_thread() -> Builder {
        Builder::new(Flavor::CurrentThread)
    }

    fn new(flavor: Flavor) -> Builder {
        Builder {
            flavor,
            worker_threads: None,
            max_blocking_threads: DEFAULT_MAX_BLOCKING_THREADS,
            thread_name: Arc::new(|| "kiln-runtime-worker".to_string()),
            thread_stack_size: None,
            keep_alive: DEFAULT_THREAD_KEEP_ALIVE,
            event_interval: DEFAULT_EVENT_INTERVAL,
            global_queue_interval: DEFAULT_GLOBAL_QUEUE_INTERVAL,
            start_paused: false,
            poll_time: false,
        }
    }

    /// Number of worker threads (multi-thread flavour). Defaults to the number of CPUs, or to
    /// `KILN_WORKER_THREADS` when that is set.
    ///
    /// # Panics
    /// If `n` is 0.
    #[track_caller]
    pub fn worker_threads(&mut self, n: usize) -> &mut Self {
        assert!(n > 0, "worker_threads cannot be set to 0");
        self.worker_threads = Some(n);
        self
    }

    /// Cap on blocking-pool threads.
    ///
    /// # Panics
    /// If `n` is 0.
    #[track_caller]
    pub fn max_blocking_threads(&mut self, n: usize) -> &mut Self {
        assert!(n > 0, "max_blocking_threads cannot be set to 0");
        self.max_blocking_threads = n;
        self
    }

    /// Name of the runtime's threads.
    pub fn thread_name(&mut self, name: impl Into<String>) -> &mut Self {
        let name = name.into();
        self.thread_name = Arc::new(move || name.clone());
        self
    }

    /// A function naming each new thread (to number them, say).
    pub fn thread_name_fn(&mut self, f: impl Fn() -> String + Send + Sync + 'static) -> &mut Self {
        self.thread_name = Arc::new(f);
        self
    }

    /// Stack size of the runtime's threads, in bytes.
    pub fn thread_stack_size(&mut self, bytes: usize) -> &mut Self {
        self.thread_stack_size = Some(bytes);
        self
    }

    /// How long an idle blocking thread waits for work before exiting.
    pub fn thread_keep_alive(&mut self, d: Duration) -> &mut Self {
        self.keep_alive = d;
        self
    }

    /// Ticks between non-blocking driver polls on a busy worker.
    ///
    /// # Panics
    /// If `n` is 0.
    #[track_caller]
    pub fn event_interval(&mut self, n: u32) -> &mut Self {
        assert!(n > 0, "event_interval must be at least 1");
        self.event_interval = n;
        self
    }

    /// Ticks between inject-queue checks ahead of the local queue.
    ///
    /// # Panics
    /// If `n` is 0.
    #[track_caller]
    pub fn global_queue_interval(&mut self, n: u32) -> &mut Self {
        assert!(n > 0, "global_queue_interval must be at least 1");
        self.global_queue_interval = n;
        self
    }

    /// Times every task poll into a per-worker histogram ([`RuntimeMetrics`]'s
    /// `poll_time_histogram_*`): two clock reads per poll, so off unless asked for.
    ///
    /// [`RuntimeMetrics`]: crate::runtime::RuntimeMetrics
    pub fn enable_metrics_poll_time_histogram(&mut self) -> &mut Self {
        self.poll_time = true;
        self
    }

    /// Kiln's IO and time drivers are always on; this exists so Tokio code ports unchanged.
    pub fn enable_all(&mut self) -> &mut Self {
        self
    }

    /// Always on in Kiln; see [`Builder::enable_all`].
    pub fn enable_io(&mut self) -> &mut Self {
        self
    }

    /// Always on in Kiln; see [`Builder::enable_all`].
    pub fn enable_time(&mut self) -> &mut Self {
        self
    }

    /// Starts with the clock paused (current-thread flavour only): time then moves only with
    /// `time::advance`, or by auto-advance when every task is idle.
    pub fn start_paused(&mut self, paused: bool) -> &mut Self {
        self.start_paused = paused;
        self
    }

    /// Builds the runtime: creates the driver and, for the multi-thread flavour, starts the
    /// worker threads.
    ///
    /// # Errors
    /// If the OS refuses the epoll instance, the eventfd or a worker thread.
    ///
    /// # Panics
    /// If `start_paused(true)` was set on a multi-thread builder.
    #[track_caller]
    pub fn build(&mut self) -> io::Result<Runtime> {
        let (driver, driver_handle) = driver::new(false)?;
        let blocking_name = self.thread_name.clone();
        let blocking = Arc::new(BlockingPool::new(
            self.max_blocking_threads,
            self.keep_alive,
            blocking_name,
            self.thread_stack_size,
        ));
        let (handle, workers) = match self.flavor {
            Flavor::CurrentThread => {
                let shared =
                    current_thread::Shared::new(driver, driver_handle, blocking.clone(), self.poll_time);
                (scheduler::Handle::CurrentThread(shared), Vec::new())
            }
            Flavor::MultiThread => {
                assert!(!self.start_paused, "start_paused requires the current_thread runtime flavour");
                let workers = self.worker_threads.unwrap_or_else(default_worker_threads);
                let config = multi_thread::Config {
                    event_interval: self.event_interval,
                    global_queue_interval: self.global_queue_interval,
                    poll_time: self.poll_time,
                };
                let (shared, cores) =
                    multi_thread::Shared::new(workers, driver, driver_handle, blocking.clone(), config);
                let handle = scheduler::Handle::MultiThread(shared.clone());
                let mut threads = Vec::with_capacity(workers);
                for core in cores {
                    let worker_shared = shared.clone();
                    let handle = handle.clone();
                    let mut builder = std::thread::Builder::new().name((self.thread_name)());
                    if let Some(size) = self.thread_stack_size {
                        builder = builder.stack_size(size);
                    }
                    let thread = builder.spawn(move || {
                        let _ctx = context::enter(handle);
                        let _driving = context::enter_driving();
                        multi_thread::worker::run(worker_shared, core);
                    });
                    match thread {
                        Ok(t) => threads.push(t),
                        Err(e) => {
                            shared.begin_shutdown();
                            for t in threads {
                                let _ = t.join();
                            }
                            return Err(e);
                        }
                    }
                }
                (handle, threads)
            }
        };
        if self.start_paused {
            handle.driver().time.clock.pause();
        }
        blocking.set_handle(handle.clone());
        Ok(Runtime::from_parts(Handle { inner: handle }, self.flavor, workers, blocking))
    }
}

fn default_worker_threads() -> usize {
    if let Ok(s) = std::env::var("KILN_WORKER_THREADS") {
        match s.trim().parse::<usize>() {
            Ok(n) if n > 0 => return n,
            _ => panic!("KILN_WORKER_THREADS must be a whole number above 0, got {s:?}"),
        }
    }
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("flavor", &self.flavor)
            .field("worker_threads", &self.worker_threads)
            .field("max_blocking_threads", &self.max_blocking_threads)
            .field("event_interval", &self.event_interval)
            .field("global_queue_interval", &self.global_queue_interval)
            .field("start_paused", &self.start_paused)
            .finish()
    }
}
