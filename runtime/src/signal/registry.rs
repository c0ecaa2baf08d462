//! Process-wide signal bookkeeping, and the bridge from signal handlers to the reactor.
//!
//! A signal handler may do almost nothing safely: no locks, no allocation. Ours sets the
//! signal's `pending` flag and writes one byte to a non-blocking Unix socket pair. The read
//! end is registered with each runtime's reactor (token `TOKEN_SIGNAL`); when it turns
//! readable, the reactor drains it and calls [`dispatch`], which, outside the handler, bumps
//! each pending signal's generation and wakes its listeners.

use crate::loom::sync::lock;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::sync::{Mutex, OnceLock};
use std::task::Waker;

/// Signal numbers go up to `SIGRTMAX` (64 on Linux).
const MAX_SIGNAL: usize = 65;

pub(crate) struct Globals {
    sender: UnixStream,
    pub(crate) receiver: UnixStream,
    slots: Box<[Slot]>,
}

pub(crate) struct Slot {
    installed: OnceLock<Result<(), String>>,
    pending: AtomicBool,
    /// Deliveries seen so far; a listener remembers the last one it consumed.
    pub(crate) generation: AtomicU64,
    waiters: Mutex<Vec<Waker>>,
}

pub(crate) fn globals() -> &'static Globals {
    static GLOBALS: OnceLock<Globals> = OnceLock::new();
    GLOBALS.get_or_init(|| {
        let (sender, receiver) = UnixStream::pair().expect("kiln: could not create the signal socket pair");
        sender.set_nonblocking(true).expect("kiln: signal socket set_nonblocking");
        receiver.set_nonblocking(true).expect("kiln: signal socket set_nonblocking");
        let slots = (0..MAX_SIGNAL)
            .map(|_| Slot {
                installed: OnceLock::new(),
                pending: AtomicBool::new(false),
                generation: AtomicU64::new(0),
                waiters: Mutex::new(Vec::new()),
            })
            .collect();
        Globals { sender, receiver, slots }
    })
}

/// Installs Kiln's handler for `signum` (once per process) and returns its slot.
pub(crate) fn install(signum: i32) -> io::Result<&'static Slot> {
    let forbidden = [libc::SIGILL, libc::SIGFPE, libc::SIGKILL, libc::SIGSEGV, libc::SIGSTOP];
    if signum <= 0 || signum as usize >= MAX_SIGNAL || forbidden.contains(&signum) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("signal {signum} cannot be listened for"),
        ));
    }
    let g = globals();
    let slot = &g.slots[signum as usize];
    let result = slot.installed.get_or_init(|| {
        let action = move || {
            // Async-signal-safe: an atomic store and a non-blocking write(2).
            let g = globals();
            g.slots[signum as usize].pending.store(true, Release);
            let _ = (&g.sender).write(&[1]);
        };
        // SAFETY: the handler only does async-signal-safe work (an atomic store and write(2)
        // on a socket created before the handler was installed).
        unsafe { signal_hook_registry::register(signum, action) }.map(|_| ()).map_err(|e| e.to_string())
    });
    match result {
        Ok(()) => Ok(slot),
        Err(e) => Err(io::Error::other(format!("could not install a handler for signal {signum}: {e}"))),
    }
}

impl Slot {
    /// Registers `waker` for the next delivery after `seen`. Returns the current generation
    /// if it is already past `seen`.
    pub(crate) fn poll(&self, seen: u64, waker: &Waker) -> Option<u64> {
        let now = self.generation.load(Acquire);
        if now != seen {
            return Some(now);
        }
        let mut waiters = lock(&self.waiters);
        if !waiters.iter().any(|w| w.will_wake(waker)) {
            waiters.push(waker.clone());
        }
        let now = self.generation.load(Acquire);
        (now != seen).then_some(now)
    }
}

/// Called by a reactor whose signal socket became readable.
pub(crate) fn dispatch() {
    let g = globals();
    let mut buf = [0u8; 128];
    while let Ok(n) = (&g.receiver).read(&mut buf) {
        if n == 0 {
            break;
        }
    }
    for slot in g.slots.iter() {
        if slot.pending.swap(false, AcqRel) {
            slot.generation.fetch_add(1, AcqRel);
            let waiters = std::mem::take(&mut *lock(&slot.waiters));
            for w in waiters {
                w.wake();
            }
        }
    }
}

/// The raw fd each reactor registers.
pub(crate) fn receiver_fd() -> i32 {
    globals().receiver.as_raw_fd()
}
