//! Keeps a benchmark's servers and its client on separate CPUs.
//!
//! On a small VM the round-trip time of one connection depends mostly on *where* the kernel
//! happens to place the client and the server threads: on the same CPU a wake-up is a local
//! context switch (~15 µs per echo round trip here), across CPUs it needs an inter-processor
//! interrupt into a possibly idle virtual CPU (~60 µs). Left alone, that placement changes
//! from run to run and decides the result, for whichever runtime it happens to. Pinning the
//! servers to one half of the CPUs and the client to the other makes every run pay the same
//! cross-CPU price, as `scripts/bench-http.sh` does for wrk.
//!
//! Threads inherit their creator's CPU mask, so a runtime built while the calling thread is
//! pinned to the server CPUs keeps all its workers (and the blocking threads they start)
//! there. `KILN_BENCH_PIN=none` turns pinning off.

/// Runs `start` (which builds the server runtimes) with this thread on the server CPUs, then
/// moves this thread, the client, to the client CPUs. Says once per process, on stderr, what
/// `bench` runs where.
pub fn start_servers<T>(bench: &str, start: impl FnOnce() -> T) -> T {
    let split = Split::from_env();
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| match &split {
        Some(split) => {
            eprintln!("{bench} bench: servers on CPU {:?}, client on CPU {:?}", split.server, split.client)
        }
        None => eprintln!("{bench} bench: threads not pinned"),
    });
    if let Some(split) = &split {
        pin_current(&split.server);
    }
    let servers = start();
    if let Some(split) = &split {
        pin_current(&split.client);
    }
    servers
}

/// Which CPUs the servers and the client get.
struct Split {
    server: Vec<usize>,
    client: Vec<usize>,
}

impl Split {
    /// Servers on the first half of the CPUs this process may use, the client on the rest;
    /// `None` with fewer than two CPUs or with `KILN_BENCH_PIN=none`.
    fn from_env() -> Option<Split> {
        if std::env::var("KILN_BENCH_PIN").is_ok_and(|v| v == "none") {
            return None;
        }
        let cpus = allowed_cpus();
        if cpus.len() < 2 {
            return None;
        }
        let half = cpus.len() / 2;
        Some(Split { server: cpus[..half].to_vec(), client: cpus[half..].to_vec() })
    }
}

fn allowed_cpus() -> Vec<usize> {
    // SAFETY: `set` is a plain bitmask owned by this frame; sched_getaffinity writes at most
    // `size_of::<cpu_set_t>()` bytes into it, and CPU_ISSET only reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize).filter(|&c| libc::CPU_ISSET(c, &set)).collect()
    }
}

fn pin_current(cpus: &[usize]) {
    // SAFETY: as above; CPU_SET writes inside the zeroed mask, sched_setaffinity only reads it.
    let ok = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in cpus {
            libc::CPU_SET(c, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    };
    assert!(ok, "sched_setaffinity({cpus:?}) failed: {}", std::io::Error::last_os_error());
}
