//! Blocking a plain thread until a future completes (the multi-thread `block_on`).
//!
//! The future's waker sets a flag and unparks the thread; the thread polls, and sleeps in
//! `std::thread::park` until the flag is set. The flag matters because `park` may return
//! spuriously, and an `unpark` that arrives before `park` must not be lost.
//!
//! Before it sleeps, the thread watches the flag for a few microseconds (`SPINS`), because
//! what `block_on` usually waits for — a task it spawned, a reply from one — is often done
//! that soon, and a sleep and wake-up through the kernel cost more than that on both sides.
//! It spins only when it may run on more than one CPU: pinned to one, it would hold the very
//! CPU that the thread it waits for needs. This is the trade `std`'s own mutex makes before
//! it sleeps. BENCHMARKS.md has the paired runs with and without the spin.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

struct ThreadNotify {
    thread: Thread,
    notified: AtomicBool,
}

impl Wake for ThreadNotify {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.notified.swap(true, Ordering::Release) {
            self.thread.unpark();
        }
    }
}

/// `pause`s to watch the wake flag before parking: about 5 µs on this project's machine (an
/// AMD EPYC vCPU), less than a sleep and wake-up through the kernel costs the two threads.
const SPINS: u32 = 200;

/// Whether the calling thread may run on two or more CPUs. One `sched_getaffinity` (~0.2 µs),
/// asked each time the thread is about to park, so a thread pinned after it started is seen.
fn may_run_on_several_cpus() -> bool {
    // SAFETY: `set` is a plain bitmask owned by this frame; `sched_getaffinity` writes at most
    // `size_of::<cpu_set_t>()` bytes into it, and `CPU_COUNT` only reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0
            && libc::CPU_COUNT(&set) >= 2
    }
}

pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let notify = Arc::new(ThreadNotify { thread: std::thread::current(), notified: AtomicBool::new(false) });
    let waker = Waker::from(notify.clone());
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(out) = crate::task::coop::with_budget(|| future.as_mut().poll(&mut cx)) {
            return out;
        }
        if !notify.notified.load(Ordering::Relaxed) && may_run_on_several_cpus() {
            for _ in 0..SPINS {
                if notify.notified.load(Ordering::Relaxed) {
                    break;
                }
                std::hint::spin_loop();
            }
        }
        while !notify.notified.swap(false, Ordering::Acquire) {
            std::thread::park();
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Pins the calling thread to `cpus`.
    fn pin(cpus: &[usize]) {
        // SAFETY: as in `may_run_on_several_cpus`; `CPU_SET` writes inside the zeroed mask.
        let ok = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            for &c in cpus {
                libc::CPU_SET(c, &mut set);
            }
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
        };
        assert!(ok, "sched_setaffinity: {}", std::io::Error::last_os_error());
    }

    #[test]
    fn a_thread_pinned_to_one_cpu_does_not_spin_and_still_wakes() {
        std::thread::spawn(|| {
            // SAFETY: `sched_getcpu` has no preconditions.
            let cpu = unsafe { libc::sched_getcpu() };
            pin(&[cpu.max(0) as usize]);
            assert!(!may_run_on_several_cpus(), "pinned to one CPU, the thread must not spin");
            // And block_on still completes a future woken from another thread.
            let (tx, rx) = std::sync::mpsc::channel::<std::task::Waker>();
            let waker_thread = std::thread::spawn(move || rx.recv().unwrap().wake());
            let mut tx = Some(tx);
            let mut polled = 0;
            block_on(std::future::poll_fn(|cx| {
                polled += 1;
                match tx.take() {
                    Some(tx) => {
                        tx.send(cx.waker().clone()).unwrap();
                        Poll::Pending
                    }
                    None => Poll::Ready(()),
                }
            }));
            assert_eq!(polled, 2);
            waker_thread.join().unwrap();
        })
        .join()
        .unwrap();
    }

    /// The CPUs the calling thread may run on.
    fn allowed_cpus() -> Vec<usize> {
        // SAFETY: as in `may_run_on_several_cpus`; `CPU_ISSET` only reads the mask.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            assert_eq!(libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set), 0);
            (0..libc::CPU_SETSIZE as usize).filter(|&c| libc::CPU_ISSET(c, &set)).collect()
        }
    }

    #[test]
    fn a_thread_that_may_use_two_cpus_spins() {
        let cpus = allowed_cpus();
        assert!(cpus.len() >= 2, "this test needs two CPUs or more (CI has two); allowed: {cpus:?}");
        std::thread::spawn(move || {
            pin(&cpus[..2]);
            assert!(may_run_on_several_cpus());
        })
        .join()
        .unwrap();
    }
}
