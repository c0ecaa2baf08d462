//! Access tokens: JSON Web Tokens (RFC 7519) signed with HMAC-SHA256, built here from `hmac`,
//! `sha2` and `base64` — no JWT library, because the rules below are the whole point.
//!
//! A token is `base64url(header) . base64url(claims) . base64url(HMAC-SHA256(secret, first two))`
//! (base64url without padding). Verification is strict, in this order:
//! 1. exactly three segments;
//! 2. the header segment must be *exactly* the one this module writes
//!    (`{"alg":"HS256","typ":"JWT"}`): an `alg` of `none`, another algorithm, or any other
//!    header is refused without being parsed — the classic algorithm-confusion attacks need a
//!    verifier that believes the token's own header;
//! 3. the signature is checked in constant time over the exact bytes received, **before** the
//!    claims are decoded: nothing from an unauthenticated token is trusted;
//! 4. only then the claims: `exp` (with a 60 s leeway for clock skew), `iss`, `aud`.
//!
//! A valid signature proves Kiln issued the token, not that its session is still open: the
//! `sid` claim names the session (the refresh-token family of the login), and `AuthUser`
//! refuses a token whose session has ended (`ended.rs`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The one header this module writes and accepts, encoded.
const HEADER_B64: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"; // {"alg":"HS256","typ":"JWT"}

/// Allowed clock skew when checking `exp`, in seconds.
pub const LEEWAY_SECS: i64 = 60;

/// Shortest secret accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 32;

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// The session: the refresh-token family this token was issued with.
    pub sid: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Token id (random).
    pub jti: String,
}

/// Why a token was refused. The variants are for logs and tests; clients get one answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not three dot-separated segments.
    #[error("malformed token")]
    Malformed,
    /// A header other than the pinned HS256 one.
    #[error("unsupported token header")]
    Header,
    /// The signature does not match (or is not base64url).
    #[error("bad signature")]
    Signature,
    /// The claims are not the expected JSON.
    #[error("malformed claims")]
    Claims,
    /// Past `exp` + leeway.
    #[error("token expired")]
    Expired,
    /// Wrong `iss` or `aud`.
    #[error("token not meant for this service")]
    Audience,
}

/// Signs and verifies tokens with one secret, issuer and audience.
#[derive(Clone)]
pub struct JwtKeys {
    mac: Hmac<Sha256>,
    issuer: String,
    audience: String,
    leeway: i64,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

/// A signing secret too short to be a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the JWT secret is {0} bytes; at least {MIN_SECRET_LEN} are needed")]
pub struct ShortSecret(pub usize);

impl JwtKeys {
    /// Keys from `secret` (at least [`MIN_SECRET_LEN`] bytes).
    ///
    /// # Errors
    /// [`ShortSecret`] if the secret is shorter than [`MIN_SECRET_LEN`].
    pub fn new(secret: &[u8], issuer: &str, audience: &str) -> Result<JwtKeys, ShortSecret> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(ShortSecret(secret.len()));
        }
        let mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
        Ok(JwtKeys { mac, issuer: issuer.to_owned(), audience: audience.to_owned(), leeway: LEEWAY_SECS })
    }

    /// The same keys with another clock-skew allowance for `exp` (default [`LEEWAY_SECS`]).
    #[must_use]
    pub fn with_leeway(mut self, secs: i64) -> JwtKeys {
        self.leeway = secs;
        self
    }

    /// A signed token for user `sub` in session `sid`, valid for `ttl_secs` from `now`.
    pub fn issue(&self, sub: &str, sid: &str, now: i64, ttl_secs: i64, jti: &str) -> String {
        let claims = Claims {
            sub: sub.to_owned(),
            sid: sid.to_owned(),
            iat: now,
            exp: now + ttl_secs,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            jti: jti.to_owned(),
        };
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("claims serialize"));
        let signing_input = format!("{HEADER_B64}.{payload}");
        let mut mac = self.mac.clone();
        mac.update(signing_input.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signing_input}.{signature}")
    }

    /// The claims of `token` if it is authentic, unexpired and meant for this service.
    ///
    /// # Errors
    /// [`JwtError`] (see the module docs for the order of checks).
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, JwtError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed);
        };
        if header != HEADER_B64 {
            return Err(JwtError::Header);
        }
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| JwtError::Signature)?;
        let mut mac = self.mac.clone();
        mac.update(header.as_bytes());
        mac.update(b".");
        mac.update(payload.as_bytes());
        mac.verify_slice(&signature).map_err(|_| JwtError::Signature)?; // constant time
        let claims: Claims = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .ok_or(JwtError::Claims)?;
        if now > claims.exp.saturating_add(self.leeway) {
            return Err(JwtError::Expired);
        }
        if claims.iss != self.issuer || claims.aud != self.audience {
            return Err(JwtError::Audience);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> JwtKeys {
        JwtKeys::new(&[7u8; 32], "kiln", "kiln-api").unwrap()
    }

    fn forge(header: &str, claims: &str, secret: &[u8]) -> String {
        let h = URL_SAFE_NO_PAD.encode(header);
        let c = URL_SAFE_NO_PAD.encode(claims);
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(format!("{h}.{c}").as_bytes());
        format!("{h}.{c}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn the_pinned_header_is_what_it_says() {
        assert_eq!(URL_SAFE_NO_PAD.decode(HEADER_B64).unwrap(), br#"{"alg":"HS256","typ":"JWT"}"#);
    }

    #[test]
    fn round_trip_and_expiry_with_leeway() {
        let k = keys();
        let t = k.issue("42", "s1", 1_000, 900, "j1");
        let c = k.verify(&t, 1_000).unwrap();
        assert_eq!((c.sub.as_str(), c.sid.as_str(), c.exp, c.jti.as_str()), ("42", "s1", 1_900, "j1"));
        assert!(k.verify(&t, 1_900 + LEEWAY_SECS).is_ok(), "within the leeway");
        assert_eq!(k.verify(&t, 1_901 + LEEWAY_SECS), Err(JwtError::Expired));
    }

    #[test]
    fn tampering_is_refused() {
        let k = keys();
        let t = k.issue("42", "s1", 1_000, 900, "j1");
        let (head, rest) = t.split_once('.').unwrap();
        let (payload, sig) = rest.split_once('.').unwrap();
        // A changed payload (sub 42 → 1) with the old signature.
        let evil = URL_SAFE_NO_PAD.encode(
            String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap().replace("\"42\"", "\"1\""),
        );
        assert_eq!(k.verify(&format!("{head}.{evil}.{sig}"), 1_000), Err(JwtError::Signature));
        // alg none, and HS384, even when "signed" with the right secret.
        let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        let none = format!("{}.{payload}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#));
        assert_eq!(k.verify(&none, 1_000), Err(JwtError::Header));
        assert_eq!(
            k.verify(&forge(r#"{"alg":"HS384","typ":"JWT"}"#, &claims, &[7u8; 32]), 1_000),
            Err(JwtError::Header)
        );
        // The same header with other spacing is another header.
        assert_eq!(
            k.verify(&forge(r#"{"typ":"JWT","alg":"HS256"}"#, &claims, &[7u8; 32]), 1_000),
            Err(JwtError::Header)
        );
        // Another secret, truncation, extra segments, bad base64.
        assert_eq!(
            k.verify(&forge(r#"{"alg":"HS256","typ":"JWT"}"#, &claims, &[8u8; 32]), 1_000),
            Err(JwtError::Signature)
        );
        assert_eq!(k.verify(&t[..t.len() - 3], 1_000), Err(JwtError::Signature));
        assert_eq!(k.verify(&format!("{t}.x"), 1_000), Err(JwtError::Malformed));
        assert_eq!(k.verify("abc", 1_000), Err(JwtError::Malformed));
        assert_eq!(k.verify(&format!("{head}.{payload}.!!!"), 1_000), Err(JwtError::Signature));
        // Signed with the right key but for another audience or issuer.
        let other = JwtKeys::new(&[7u8; 32], "kiln", "someone-else").unwrap();
        assert_eq!(k.verify(&other.issue("42", "s1", 1_000, 900, "j"), 1_000), Err(JwtError::Audience));
        // Authentic but not our claims shape: a token from before sessions (no `sid`) too.
        assert_eq!(
            k.verify(
                &forge(
                    r#"{"alg":"HS256","typ":"JWT"}"#,
                    r#"{"sub":"42","iat":1000,"exp":1900,"iss":"kiln","aud":"kiln-api","jti":"j"}"#,
                    &[7u8; 32]
                ),
                1_000
            ),
            Err(JwtError::Claims)
        );
        assert_eq!(
            k.verify(&forge(r#"{"alg":"HS256","typ":"JWT"}"#, r#"{"sub":1}"#, &[7u8; 32]), 1_000),
            Err(JwtError::Claims)
        );
    }

    #[test]
    fn short_secrets_are_refused() {
        let e = JwtKeys::new(&[1u8; 31], "i", "a").unwrap_err();
        assert_eq!(e, ShortSecret(31));
        assert!(e.to_string().contains("at least 32"), "{e}");
    }
}
