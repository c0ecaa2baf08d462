//! A tiny, fast, non-cryptographic random number generator (xorshift64*).
//!
//! The scheduler uses it to pick which worker to steal from, and `select!` to pick which
//! branch to poll first. Neither needs good randomness, only cheap spread.

use std::cell::Cell;

#[derive(Debug, Clone)]
pub(crate) struct FastRand(u64);

impl FastRand {
    pub(crate) fn new() -> FastRand {
        FastRand(seed())
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (`n > 0`), by the multiply-shift method (no division).
    pub(crate) fn below(&mut self, n: u32) -> u32 {
        (((self.next_u64() >> 32) * n as u64) >> 32) as u32
    }
}

/// A seed that differs between threads and runs: the address of a thread-local mixed with the
/// time. Never zero (xorshift's one fixed point).
fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_usize(&h as *const _ as usize);
    h.finish() | 1
}

thread_local! {
    static THREAD_RNG: Cell<u64> = Cell::new(seed());
}

/// A number in `0..n` from a per-thread generator.
pub fn thread_rng_n(n: u32) -> u32 {
    THREAD_RNG.with(|cell| {
        let mut rng = FastRand(cell.get());
        let value = rng.below(n);
        cell.set(rng.0);
        value
    })
}
