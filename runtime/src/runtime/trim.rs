//! Giving freed heap memory back to the operating system.
//!
//! After a burst — ten thousand connections opened and closed, say — the allocator keeps
//! the memory their tasks and buffers used: glibc's malloc returns only the top of each heap
//! to the kernel, and the freed task cells sit in the middle of heaps spread over every
//! worker thread's arena. The process then stays at its peak size. `malloc_trim(0)` walks
//! every arena and releases the free pages wherever they are (measured on `http_hello` after
//! 10 000 idle connections closed: 68 MiB resident → 6 MiB; BENCHMARKS.md). It takes the
//! arenas' locks and can take milliseconds on a large heap, so call it off the hot path —
//! `kiln-net`'s accept loop calls it on the blocking pool when a storm of connections has
//! subsided.

/// Returns free heap memory to the operating system, where the allocator can (glibc); does
/// nothing elsewhere. Blocking: run it with `spawn_blocking`.
pub fn trim_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only inspects and releases the allocator's own free memory, under
    // the allocator's locks; it is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
