//! Random values: refresh tokens (256 bits, base64url), their SHA-256 hashes (the only form
//! stored), and ids for token families and JWT `jti`s; and the successor of a refresh token.
//!
//! A login's first refresh token is random. Each later one is *derived*: the successor of
//! token `t` is `HMAC-SHA256(k, t)`, with `k` a key derived from the service's secret. Nobody
//! without `k` can compute it, and the service can compute it again — which is what lets a
//! client that retries a refresh (its first answer lost on the way) receive the very same
//! new pair within the grace window, with nothing but hashes stored (`session.rs`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Derives successors of refresh tokens.
#[derive(Clone)]
pub struct SuccessorKey(Hmac<Sha256>);

impl std::fmt::Debug for SuccessorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SuccessorKey(..)")
    }
}

impl SuccessorKey {
    /// The key for `secret` (the JWT secret: one secret to manage, a distinct key per use).
    pub fn new(secret: &[u8]) -> SuccessorKey {
        let mut derive = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
        derive.update(b"kiln refresh-token successor v1");
        SuccessorKey(
            Hmac::new_from_slice(&derive.finalize().into_bytes()).expect("HMAC takes any key length"),
        )
    }

    /// The token that replaces `token` when it is spent.
    pub fn successor(&self, token: &str) -> String {
        let mut mac = self.0.clone();
        mac.update(token.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

/// A token id derived from `seed`: the same seed gives the same id.
pub fn id_from(seed: &str) -> String {
    URL_SAFE_NO_PAD.encode(&Sha256::digest(seed.as_bytes())[..16])
}

/// `n` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("the operating system's random source works");
    b
}

/// A new refresh token: 32 random bytes, base64url (43 characters).
pub fn new_refresh_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// A random id (128 bits, base64url).
pub fn new_id() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<16>())
}

/// What is stored for a refresh token: its SHA-256. A leaked database does not leak tokens.
pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hashed() {
        let (a, b) = (new_refresh_token(), new_refresh_token());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert_eq!(hash_token(&a).len(), 32);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), hash_token(&b));
    }

    #[test]
    fn successors_are_repeatable_per_key_and_unlike_their_token() {
        let (k, other) = (SuccessorKey::new(&[1; 32]), SuccessorKey::new(&[2; 32]));
        let t = new_refresh_token();
        assert_eq!(k.successor(&t), k.successor(&t));
        assert_eq!(k.successor(&t).len(), 43);
        assert_ne!(k.successor(&t), t);
        assert_ne!(k.successor(&t), other.successor(&t), "another secret, another chain");
        assert_ne!(k.successor(&t), k.successor(&k.successor(&t)));
    }
}
