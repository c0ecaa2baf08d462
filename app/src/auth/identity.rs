//! The rules for what identifies a person: emails and display names.
//!
//! Text that people compare by eye must compare the same way in the database. Unicode lets
//! one visible string be spelt several ways: "é" is one code point (NFC) or "e" plus a
//! combining accent (NFD), and a browser on macOS may send either. So an email is trimmed
//! and brought to NFC before it is stored or looked up, and two spellings of one address
//! are one account.
//!
//! Characters that change how text *looks* without being visible are refused in emails and
//! display names (`text.rs`).

use crate::text::has_hidden;
use unicode_normalization::UnicodeNormalization;

/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME: usize = 100;
/// Longest email, in characters (RFC 5321's path limit is 254 octets).
pub const MAX_EMAIL: usize = 254;

/// An email as it is stored and looked up: trimmed, in Unicode NFC.
pub fn normalize_email(email: &str) -> String {
    email.trim().nfc().collect()
}

/// Why an email or display name is refused (the message is the 422 field error's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdentityRule {
    /// A control, zero-width or bidirectional character (`text.rs`).
    #[error("must not contain control, zero-width or bidirectional characters")]
    Hidden,
    /// Not `local@domain.tld`, or over [`MAX_EMAIL`] characters.
    #[error("must be an email address (at most {MAX_EMAIL} characters)")]
    NotAnEmail,
    /// A display name over [`MAX_DISPLAY_NAME`] characters.
    #[error("must be at most {MAX_DISPLAY_NAME} characters")]
    NameTooLong,
    /// A display name of nothing but spaces.
    #[error("must not be empty or only spaces")]
    NameBlank,
}

/// Checks a normalized email: one `@`, something on both sides, a dot in the domain, no
/// spaces, nothing hidden, at most [`MAX_EMAIL`] characters.
///
/// # Errors
/// The rule it breaks.
pub fn check_email(email: &str) -> Result<(), IdentityRule> {
    if has_hidden(email) {
        return Err(IdentityRule::Hidden);
    }
    let ok = email.chars().count() <= MAX_EMAIL
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        });
    if ok {
        Ok(())
    } else {
        Err(IdentityRule::NotAnEmail)
    }
}

/// Checks a display name: at most [`MAX_DISPLAY_NAME`] characters, not only spaces, nothing
/// hidden. (It is stored trimmed.)
///
/// # Errors
/// The rule it breaks.
pub fn check_display_name(name: &str) -> Result<(), IdentityRule> {
    if has_hidden(name) {
        return Err(IdentityRule::Hidden);
    }
    if name.chars().count() > MAX_DISPLAY_NAME {
        return Err(IdentityRule::NameTooLong);
    }
    if name.trim().is_empty() {
        return Err(IdentityRule::NameBlank);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_and_names() {
        for ok in ["a@b.co", "first.last+tag@example.com", "josé@example.com"] {
            assert!(check_email(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a", "a@", "@b.co", "a@b", "a b@c.d", "a@b.", "a@.b", "a@b@c.d"] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
        assert_eq!(check_display_name("  "), Err(IdentityRule::NameBlank));
        assert_eq!(check_display_name(&"n".repeat(101)), Err(IdentityRule::NameTooLong));
        assert!(check_display_name("Ursula").is_ok());
        assert!(check_display_name("Zoë Ødegaard").is_ok());
    }

    #[test]
    fn two_spellings_of_one_address_are_one_address() {
        let nfc = "jos\u{e9}@example.com";
        let nfd = "jose\u{301}@example.com";
        assert_ne!(nfc, nfd);
        assert_eq!(normalize_email(nfd), nfc);
        assert_eq!(normalize_email(&format!("  {nfc} ")), nfc);
    }

    #[test]
    fn hidden_characters_are_refused() {
        for c in ['\u{0}', '\u{7}', '\u{200B}', '\u{200D}', '\u{202E}', '\u{2066}', '\u{FEFF}', '\u{AD}'] {
            assert_eq!(
                check_email(&format!("a{c}b@example.com")),
                Err(IdentityRule::Hidden),
                "{c:?} in an email"
            );
            assert_eq!(check_display_name(&format!("Ad{c}a")), Err(IdentityRule::Hidden), "{c:?} in a name");
        }
    }
}
