//! Passwords: bcrypt over a keyed pre-hash, always on a bounded set of blocking threads (a
//! cost-12 hash takes ~250 ms of CPU, which on a worker thread would stall every other
//! request on it).
//!
//! bcrypt reads at most 72 bytes and stops at a NUL byte, so a long passphrase would be
//! silently cut and two passwords sharing their first 72 bytes would both match. Kiln hashes
//! `base64(HMAC-SHA384(k, NFC(password)))` instead (OWASP's construction for this, with
//! `k` a fixed, Kiln-specific key): 64 ASCII characters, no NUL, every character of the
//! password counted. The key being Kiln's own means a leak of plain SHA hashes elsewhere
//! cannot be tested against Kiln's hashes ("password shucking"). Passwords are 8 to
//! [`MAX_LEN`] characters in any script, brought to Unicode NFC first so that the same
//! password typed on two systems is the same password.
//!
//! Stored hashes carry the scheme: [`PREFIX`] and the bcrypt string. A hash without it is
//! from before the pre-hash (plain bcrypt of the password, at most 72 bytes); it still
//! verifies, and login replaces it with the current scheme (`session.rs`).
//!
//! Login verifies against a dummy hash when the email is unknown, so "no such user" and
//! "wrong password" take the same time and cannot be told apart by timing.

use crate::error::AppError;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use kiln_runtime::sync::Semaphore;
use sha2::Sha384;
use std::sync::Arc;
use unicode_normalization::UnicodeNormalization;

/// Shortest password, in characters.
pub const MIN_LEN: usize = 8;
/// Longest password, in characters: far above any passphrase (NIST SP 800-63B asks for at
/// least 64), and a bound on the work one request can ask for.
pub const MAX_LEN: usize = 256;
/// Default bcrypt cost.
pub const DEFAULT_COST: u32 = 12;
/// What the stored hashes of the current scheme start with.
pub const PREFIX: &str = "kiln1$";
/// The pre-hash key: public, it only makes the pre-hash Kiln's own.
const PREHASH_KEY: &[u8] = b"kiln password pre-hash v1";

/// Why a new password is not acceptable (the message is the 422 field error's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRule {
    /// Fewer than [`MIN_LEN`] characters.
    #[error("must be at least {MIN_LEN} characters")]
    TooShort,
    /// More than [`MAX_LEN`] characters.
    #[error("must be at most {MAX_LEN} characters")]
    TooLong,
}

/// Checks a new password against [`MIN_LEN`] and [`MAX_LEN`] (characters, in any script).
///
/// # Errors
/// The rule it breaks.
pub fn check(password: &str) -> Result<(), PasswordRule> {
    match password.chars().count() {
        n if n < MIN_LEN => Err(PasswordRule::TooShort),
        n if n > MAX_LEN => Err(PasswordRule::TooLong),
        _ => Ok(()),
    }
}

/// Why a hasher could not start.
#[derive(Debug, thiserror::Error)]
pub enum HasherError {
    /// bcrypt refused the cost.
    #[error("bcrypt cost {cost}: {source}")]
    Cost {
        /// The cost configured.
        cost: u32,
        /// bcrypt's reason.
        source: bcrypt::BcryptError,
    },
    /// The first hash, made on the blocking pool, did not finish.
    #[error("the first hash failed: {0}")]
    Task(#[from] kiln_runtime::task::JoinError),
}

/// True if `password` is too long to be checked at all (login answers 422, not 401).
pub fn too_long(password: &str) -> bool {
    password.chars().count() > MAX_LEN
}

/// What bcrypt is given: 64 ASCII characters derived from every character of the password.
fn prehash(password: &str) -> String {
    let mut mac = Hmac::<Sha384>::new_from_slice(PREHASH_KEY).expect("HMAC takes any key length");
    mac.update(password.nfc().collect::<String>().as_bytes());
    STANDARD_NO_PAD.encode(mac.finalize().into_bytes())
}

/// True if `stored` is from before the pre-hash, and should be replaced at the next login.
pub fn is_legacy(stored: &str) -> bool {
    !stored.starts_with(PREFIX)
}

/// bcrypt-verifies `password` against a stored hash of either scheme.
fn matches(password: &str, stored: &str) -> bool {
    match stored.strip_prefix(PREFIX) {
        Some(bcrypt_hash) => bcrypt::verify(prehash(password), bcrypt_hash).unwrap_or(false),
        // The old scheme hashed the raw password, which was at most 72 bytes.
        None => password.len() <= 72 && bcrypt::verify(password, stored).unwrap_or(false),
    }
}

/// Default threads that may hash at once: half the CPUs (at least one), so that a flood of
/// logins leaves the other half to every other route.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().div_ceil(2))
}

/// Default hashes that may wait for a thread, per thread: at cost 12 (~250 ms) eight queued
/// hashes are a two-second wait, the most a login should sit in a queue.
pub const DEFAULT_QUEUE_PER_THREAD: usize = 8;

/// bcrypt work, bounded: at most `threads` hashes run at once (on the blocking pool) and at
/// most `queue` more wait for one. A hash that finds the queue full is refused at once with
/// [`AppError::Busy`] (503 with `Retry-After`) — a login flood is answered quickly instead of
/// piling up tens of seconds of work, and the threads left over keep the rest of the
/// service fast.
#[derive(Debug)]
pub struct Hasher {
    cost: u32,
    running: Arc<Semaphore>,
    admitted: Arc<Semaphore>,
    /// What an unknown email's password is checked against. Computed at construction: made
    /// lazily, the first login with an unknown email would take two hashes' time and stand out.
    dummy: Arc<str>,
}

impl Hasher {
    /// A hasher at `cost` with `threads` running and `queue` waiting.
    ///
    /// # Errors
    /// [`HasherError`]: an invalid cost, or the first hash did not finish.
    pub async fn new(cost: u32, threads: usize, queue: usize) -> Result<Hasher, HasherError> {
        let threads = threads.max(1);
        let dummy =
            kiln_runtime::task::spawn_blocking(move || bcrypt::hash(prehash("not a real password"), cost))
                .await?
                .map(|h| format!("{PREFIX}{h}"))
                .map_err(|source| HasherError::Cost { cost, source })?;
        Ok(Hasher {
            cost,
            running: Arc::new(Semaphore::new(threads)),
            admitted: Arc::new(Semaphore::new(threads + queue)),
            dummy: dummy.into(),
        })
    }

    /// The bcrypt cost.
    pub fn cost(&self) -> u32 {
        self.cost
    }

    /// Hashes `password`.
    ///
    /// # Errors
    /// [`AppError::Busy`] when the queue is full; internal errors from bcrypt.
    pub async fn hash(&self, password: String) -> Result<String, AppError> {
        let cost = self.cost;
        self.run(move || bcrypt::hash(prehash(&password), cost).map(|h| format!("{PREFIX}{h}")))
            .await?
            .map_err(|e| AppError::Internal(e.to_string()))
    }

    /// True if `password` matches `hash`; with `hash` = `None` (unknown user) it checks
    /// against a dummy hash of the same cost and returns false, taking the same time.
    ///
    /// # Errors
    /// [`AppError::Busy`] when the queue is full.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, AppError> {
        let dummy = self.dummy.clone();
        self.run(move || {
            let real = hash.is_some();
            let target = hash.as_deref().unwrap_or(&dummy);
            matches(&password, target) && real
        })
        .await
    }

    async fn run<T: Send + 'static>(&self, job: impl FnOnce() -> T + Send + 'static) -> Result<T, AppError> {
        let Ok(admitted) = self.admitted.clone().try_acquire_owned() else {
            return Err(AppError::Busy { retry_after: 1 });
        };
        let running =
            self.running.clone().acquire_owned().await.expect("the hasher's semaphores never close");
        kiln_runtime::task::spawn_blocking(move || {
            let _slots = (admitted, running);
            job()
        })
        .await
        .map_err(|e| AppError::Internal(format!("a password hash did not finish: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_limits_in_characters() {
        assert!(check("1234567").is_err());
        assert!(check("12345678").is_ok());
        assert!(check(&"é".repeat(8)).is_ok(), "16 bytes, 8 characters");
        assert!(check(&"語".repeat(MAX_LEN)).is_ok(), "768 bytes, and bcrypt sees all of it");
        assert_eq!(check(&"x".repeat(MAX_LEN + 1)), Err(PasswordRule::TooLong));
        assert!(PasswordRule::TooLong.to_string().contains("256"));
    }

    #[test]
    fn every_character_counts_and_spellings_agree() {
        let long = "p".repeat(72);
        assert_ne!(prehash(&long), prehash(&format!("{long}!")), "past bcrypt's 72 bytes");
        assert_ne!(prehash("abc\0def12"), prehash("abc\0xyz12"));
        assert_eq!(prehash("caf\u{e9} au lait"), prehash("cafe\u{301} au lait"), "NFC");
        assert_eq!(prehash("x").len(), 64);
    }

    #[test]
    fn legacy_hashes_still_verify_and_are_marked() {
        let legacy = bcrypt::hash("correct horse", 4).unwrap();
        assert!(is_legacy(&legacy));
        assert!(matches("correct horse", &legacy));
        assert!(!matches("correct horse!", &legacy));
        assert!(!matches(&"p".repeat(80), &bcrypt::hash("p".repeat(72), 4).unwrap()), "never by truncation");
    }

    #[test]
    fn hash_and_verify_on_the_blocking_pool() {
        let rt = kiln_runtime::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let h = Hasher::new(4, 1, 1).await.unwrap();
            let hash = h.hash("correct horse".into()).await.unwrap();
            assert!(hash.starts_with(PREFIX) && !is_legacy(&hash));
            assert!(h.verify("correct horse".into(), Some(hash.clone())).await.unwrap());
            assert!(!h.verify("wrong horse!".into(), Some(hash)).await.unwrap());
            assert!(!h.verify("correct horse".into(), None).await.unwrap(), "unknown user never matches");
        });
    }

    #[test]
    fn a_full_queue_is_refused_at_once() {
        let rt = kiln_runtime::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            // One thread, one waiting, and the thread is taken (by the test): of six hashes
            // started together, two are admitted and wait, four are refused without waiting.
            let h = Arc::new(Hasher::new(4, 1, 1).await.unwrap());
            let taken = h.running.clone().try_acquire_owned().unwrap();
            let tasks: Vec<_> = (0..6)
                .map(|_| {
                    let h = h.clone();
                    kiln_runtime::spawn(async move { h.hash("correct horse".into()).await })
                })
                .collect();
            kiln_runtime::task::yield_now().await;
            assert_eq!(h.admitted.available_permits(), 0, "two admitted");
            drop(taken);
            let mut outcomes = (0, 0);
            for t in tasks {
                match t.await.unwrap() {
                    Ok(_) => outcomes.0 += 1,
                    Err(AppError::Busy { .. }) => outcomes.1 += 1,
                    Err(e) => panic!("{e}"),
                }
            }
            assert_eq!(outcomes, (2, 4));
            assert!(h.hash("correct horse".into()).await.is_ok(), "slots come back");
        });
    }
}
