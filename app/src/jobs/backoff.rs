//! When a failed job runs again: exponential backoff with a cap and full jitter.
//!
//! After attempt `n` fails, the next one waits a random time between zero and
//! `min(cap, base · 2^(n-1))`. The exponent spreads a failing job's attempts out, so a
//! service that is down is not hammered; the cap keeps the wait bounded; the jitter ("full
//! jitter", from AWS's architecture blog) spreads the retries of many jobs that failed
//! together — say, every email while the mailer was down — over the whole window instead of
//! sending them back in one wave when the window ends.
//!
//! With the defaults (base 1 s, cap 10 min) the windows are 1 s, 2 s, 4 s, … 512 s, then
//! 10 min for every later attempt; docs/week5.md has the table.

use std::time::Duration;

/// The backoff policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first window.
    pub base: Duration,
    /// The largest window.
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff { base: Duration::from_secs(1), cap: Duration::from_secs(600) }
    }
}

impl Backoff {
    /// The window after failed attempt `attempt` (1 for the first): `min(cap, base · 2^(attempt-1))`.
    pub fn window(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(40);
        self.base.checked_mul(1 << doublings.min(31)).unwrap_or(self.cap).min(self.cap)
    }

    /// The wait before the next attempt: uniform in `[0, window(attempt)]`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let window = u64::try_from(self.window(attempt).as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(random_below(window.saturating_add(1)))
    }
}

/// A uniform random number below `n` (`n` ≥ 1). The modulo bias is below 2^-40 for any
/// window of a few hours, far below what a retry schedule can notice.
fn random_below(n: u64) -> u64 {
    let bytes = crate::auth::tokens::random_bytes::<8>();
    u64::from_le_bytes(bytes) % n.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_double_up_to_the_cap() {
        let b = Backoff { base: Duration::from_secs(1), cap: Duration::from_secs(600) };
        let windows: Vec<u64> = (1..=12).map(|n| b.window(n).as_secs()).collect();
        assert_eq!(windows, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]);
        assert_eq!(b.window(1000), Duration::from_secs(600), "no overflow far out");
    }

    #[test]
    fn delays_fall_inside_the_window_and_spread_over_it() {
        let b = Backoff { base: Duration::from_millis(100), cap: Duration::from_secs(60) };
        let delays: Vec<Duration> = (0..2000).map(|_| b.delay(4)).collect();
        assert!(delays.iter().all(|d| *d <= Duration::from_millis(800)));
        let low = delays.iter().filter(|d| **d < Duration::from_millis(400)).count();
        assert!((800..1200).contains(&low), "about half in the lower half of the window: {low}");
    }
}
