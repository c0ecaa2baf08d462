//! Passwords: bcrypt, always on the blocking pool (a cost-12 hash takes ~250 ms of CPU, which
//! on a worker thread would stall every other request on it).
//!
//! bcrypt reads at most 72 bytes of a password; longer ones would be silently truncated, so
//! they are refused instead, as are passwords under 8 bytes. Login verifies against a fixed
//! dummy hash when the email is unknown, so "no such user" and "wrong password" take about
//! the same time and cannot be told apart by timing.

use std::sync::OnceLock;

/// Shortest password, in bytes.
pub const MIN_LEN: usize = 8;
/// Longest password, in bytes (bcrypt's limit).
pub const MAX_LEN: usize = 72;
/// Default bcrypt cost.
pub const DEFAULT_COST: u32 = 12;

/// Why a password is not acceptable, for the 422 field error.
pub fn check(password: &str) -> Result<(), String> {
    match password.len() {
        n if n < MIN_LEN => Err(format!("must be at least {MIN_LEN} bytes")),
        n if n > MAX_LEN => Err(format!("must be at most {MAX_LEN} bytes (bcrypt ignores the rest)")),
        _ => Ok(()),
    }
}

/// Hashes `password` with `cost` on the blocking pool.
///
/// # Errors
/// bcrypt failed (an invalid cost).
pub async fn hash(password: String, cost: u32) -> Result<String, String> {
    kiln_runtime::task::spawn_blocking(move || bcrypt::hash(password, cost).map_err(|e| e.to_string()))
        .await
        .map_err(|e| e.to_string())?
}

/// True if `password` matches `hash`; with `hash` = `None` (unknown user) it checks against
/// a dummy hash of the same cost and returns false, taking the same time.
pub async fn verify(password: String, hash: Option<String>, cost: u32) -> bool {
    kiln_runtime::task::spawn_blocking(move || {
        let real = hash.is_some();
        let target = hash.unwrap_or_else(|| dummy_hash(cost).to_owned());
        bcrypt::verify(password, &target).unwrap_or(false) && real
    })
    .await
    .unwrap_or(false)
}

/// Computes the dummy hash ahead of the first login (called at startup): computed lazily, the
/// first login with an unknown email would take two hashes' time and stand out.
pub async fn prepare(cost: u32) {
    let _ = kiln_runtime::task::spawn_blocking(move || {
        dummy_hash(cost);
    })
    .await;
}

fn dummy_hash(cost: u32) -> &'static str {
    static DUMMY: OnceLock<(u32, String)> = OnceLock::new();
    let (c, h) = DUMMY.get_or_init(|| {
        (cost, bcrypt::hash("not a real password, never matches", cost).expect("a valid cost"))
    });
    debug_assert_eq!(*c, cost, "one bcrypt cost per process");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_limits_in_bytes() {
        assert!(check("1234567").is_err());
        assert!(check("12345678").is_ok());
        assert!(check(&"x".repeat(72)).is_ok());
        assert!(check(&"x".repeat(73)).unwrap_err().contains("72"));
        assert!(check(&"é".repeat(37)).is_err(), "74 bytes in 37 characters");
    }

    #[test]
    fn hash_and_verify_on_the_blocking_pool() {
        let rt = kiln_runtime::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let h = hash("correct horse".into(), 4).await.unwrap();
            assert!(verify("correct horse".into(), Some(h.clone()), 4).await);
            assert!(!verify("wrong horse!".into(), Some(h), 4).await);
            assert!(!verify("correct horse".into(), None, 4).await, "unknown user never matches");
        });
    }
}
