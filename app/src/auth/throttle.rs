//! Login throttling: a growing delay per (account, client address) and per client address.
//!
//! Password guessing is slowed down without handing the attacker a way to lock the real
//! owner out. The rules, with the defaults of [`ThrottleConfig`]:
//!
//! - Every login attempt is counted **before** its password is checked, under one lock, so
//!   twenty concurrent guesses cannot all slip past a budget of five: the sixth is refused
//!   while the first five are still hashing. A correct password then takes its own count
//!   back (and clears its account's record); a wrong one leaves it.
//! - Two keys are counted: the pair (email, address) and the address alone. After
//!   `free_failures` failures on a pair (5), each further attempt on that pair must wait
//!   `base_delay · 2^(n − free)` — 1 s, 2 s, 4 s, … — capped at `max_delay` (15 min). The
//!   address alone gets `free_failures_per_address` (100) before the same growing delay:
//!   that bounds one address guessing across many accounts.
//! - The owner logging in from another address is not slowed by someone else's guesses:
//!   there is no account-wide lock for an attacker to trigger.
//! - A key's record is forgotten once `window` (15 min) has passed since its last failure.
//! - The email is counted whether or not an account has it, and a throttled attempt is
//!   answered before any lookup — so a 429 says nothing about which accounts exist.
//! - IPv6 addresses are counted per /64: one host usually holds a whole /64.
//!
//! The records live in this process's memory (one mutex: logins are rare next to other
//! requests, bounded by bcrypt). They are capped at [`MAX_RECORDS`]; past that, records not
//! currently delaying anyone are dropped first. Several API processes each count on their own.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most records kept (each ~100 bytes).
pub const MAX_RECORDS: usize = 100_000;

/// The throttling policy; every value is configurable (`config.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// Failures on one (email, address) pair before delays start (default 5).
    pub free_failures: u32,
    /// Failures from one address, over all emails, before delays start (default 100).
    pub free_failures_per_address: u32,
    /// The first delay (default 1 s); each further failure doubles it.
    pub base_delay: Duration,
    /// The longest delay (default 15 min).
    pub max_delay: Duration,
    /// A record is forgotten this long after its last failure (default 15 min).
    pub window: Duration,
}

impl Default for ThrottleConfig {
    fn default() -> ThrottleConfig {
        ThrottleConfig {
            free_failures: 5,
            free_failures_per_address: 100,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(15 * 60),
            window: Duration::from_secs(15 * 60),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Pair(String, IpAddr),
    Address(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    last: Instant,
    /// No attempt on this key before this instant.
    until: Option<Instant>,
}

/// The counters. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct LoginThrottle {
    config: ThrottleConfig,
    records: Mutex<HashMap<Key, Record>>,
    /// Attempts refused for waiting, since start.
    refused: std::sync::atomic::AtomicU64,
}

/// An attempt that was let through and counted as a failure; report how it went with
/// [`LoginThrottle::succeeded`]. Dropping it leaves the failure counted.
#[derive(Debug)]
#[must_use = "a successful login must give its count back"]
pub struct Attempt {
    pair: Key,
    address: Key,
}

impl LoginThrottle {
    /// Counters with `config`.
    pub fn new(config: ThrottleConfig) -> LoginThrottle {
        LoginThrottle { config, records: Mutex::new(HashMap::new()), refused: Default::default() }
    }

    /// The policy.
    pub fn config(&self) -> ThrottleConfig {
        self.config
    }

    /// Counts an attempt to log in as `email` from `address` at `now`, or refuses it.
    ///
    /// # Errors
    /// How long the client must wait (for `Retry-After`).
    pub fn begin(&self, email: &str, address: IpAddr, now: Instant) -> Result<Attempt, Duration> {
        let address = per_host(address);
        let pair = Key::Pair(email.trim().to_lowercase(), address);
        let address = Key::Address(address);
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        let window = self.config.window;
        let live = |r: &Record| now.saturating_duration_since(r.last) < window;
        let wait = [&pair, &address]
            .into_iter()
            .filter_map(|k| records.get(k).filter(|r| live(r)).and_then(|r| r.until))
            .map(|until| until.saturating_duration_since(now))
            .max()
            .filter(|w| !w.is_zero());
        if let Some(wait) = wait {
            self.refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Err(wait);
        }
        if records.len() >= MAX_RECORDS {
            records.retain(|_, r| live(r) && r.until.is_some_and(|u| u > now));
        }
        for (key, free) in
            [(&pair, self.config.free_failures), (&address, self.config.free_failures_per_address)]
        {
            let record = records.entry(key.clone()).or_insert(Record { failures: 0, last: now, until: None });
            if !live(record) {
                *record = Record { failures: 0, last: now, until: None };
            }
            record.failures += 1;
            record.last = now;
            record.until = (record.failures >= free).then(|| now + self.delay(record.failures - free));
        }
        Ok(Attempt { pair, address })
    }

    /// The attempt's password was right: its pair's record is cleared and its address's
    /// count given back.
    pub fn succeeded(&self, attempt: Attempt) {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        records.remove(&attempt.pair);
        give_back(&mut records, &attempt.address, self.config.free_failures_per_address);
    }

    /// The attempt's password was never checked (the hasher was busy, say): its counts are
    /// given back, as if it had not been made.
    pub fn undo(&self, attempt: Attempt) {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        give_back(&mut records, &attempt.pair, self.config.free_failures);
        give_back(&mut records, &attempt.address, self.config.free_failures_per_address);
    }

    /// Attempts refused since start (each a 429 with `Retry-After`).
    pub fn refused(&self) -> u64 {
        self.refused.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The email/address pairs and addresses it holds failures for now.
    pub fn tracked(&self) -> usize {
        self.records.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// `base · 2^excess`, capped.
    fn delay(&self, excess: u32) -> Duration {
        let factor = 1u32.checked_shl(excess.min(31)).unwrap_or(u32::MAX);
        self.config.base_delay.saturating_mul(factor).min(self.config.max_delay)
    }
}

/// Takes one failure off `key`'s count; below `free` it delays nobody any more.
fn give_back(records: &mut HashMap<Key, Record>, key: &Key, free: u32) {
    if let Some(r) = records.get_mut(key) {
        r.failures = r.failures.saturating_sub(1);
        if r.failures < free {
            r.until = None;
        }
    }
}

/// The part of an address that names one client: the address itself for IPv4, the /64 for
/// IPv6 (a v4-mapped IPv6 address counts as its IPv4 address).
fn per_host(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_budget_is_taken_before_any_answer_and_the_delay_grows() {
        let t = LoginThrottle::new(ThrottleConfig::default());
        let now = Instant::now();
        // Twenty attempts at once (none has finished): five get through.
        let through: Vec<Attempt> =
            (0..20).filter_map(|_| t.begin("ada@example.com", ip("10.0.0.1"), now).ok()).collect();
        assert_eq!(through.len(), 5);
        assert_eq!(t.begin("ada@example.com", ip("10.0.0.1"), now).unwrap_err(), Duration::from_secs(1));
        // After the wait one more, and then the delay doubles.
        let later = now + Duration::from_secs(1);
        let _sixth = t.begin("ADA@example.com ", ip("10.0.0.1"), later).expect("the delay has passed");
        assert_eq!(t.begin("ada@example.com", ip("10.0.0.1"), later).unwrap_err(), Duration::from_secs(2));
        // The owner, from elsewhere, is not slowed; nor is another account from here.
        assert!(t.begin("ada@example.com", ip("10.0.0.2"), later).is_ok());
        assert!(t.begin("bob@example.com", ip("10.0.0.1"), later).is_ok());
        // Forgotten after the window.
        assert!(t.begin("ada@example.com", ip("10.0.0.1"), later + Duration::from_secs(15 * 60)).is_ok());
    }

    #[test]
    fn a_success_gives_its_count_back_and_clears_the_pair() {
        let t = LoginThrottle::new(ThrottleConfig::default());
        let now = Instant::now();
        for _ in 0..4 {
            let _ = t.begin("ada@example.com", ip("10.0.0.1"), now).unwrap();
        }
        let right = t.begin("ada@example.com", ip("10.0.0.1"), now).unwrap();
        t.succeeded(right);
        for _ in 0..4 {
            let _ = t.begin("ada@example.com", ip("10.0.0.1"), now).expect("the pair starts again");
        }
        // An attempt whose password was never checked is given back whole.
        let unchecked = t.begin("ada@example.com", ip("10.0.0.1"), now).unwrap();
        t.undo(unchecked);
        let _ = t.begin("ada@example.com", ip("10.0.0.1"), now).expect("the undone attempt left no count");
        assert!(t.begin("ada@example.com", ip("10.0.0.1"), now).is_err());
    }

    #[test]
    fn one_address_guessing_many_accounts_is_slowed_and_ipv6_counts_per_64() {
        let config = ThrottleConfig { free_failures_per_address: 10, ..ThrottleConfig::default() };
        let t = LoginThrottle::new(config);
        let now = Instant::now();
        for i in 0..10 {
            let _ = t.begin(&format!("user{i}@example.com"), ip("2001:db8::1"), now).unwrap();
        }
        // Another host in the same /64 is the same client; another /64 is not.
        assert!(t.begin("someone@example.com", ip("2001:db8::ffff"), now).is_err());
        assert!(t.begin("someone@example.com", ip("2001:db8:0:1::1"), now).is_ok());
    }

    #[test]
    fn delays_are_capped() {
        let t = LoginThrottle::new(ThrottleConfig::default());
        assert_eq!(t.delay(0), Duration::from_secs(1));
        assert_eq!(t.delay(3), Duration::from_secs(8));
        assert_eq!(t.delay(40), Duration::from_secs(15 * 60));
    }
}
