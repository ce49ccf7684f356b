//! People's passwords for the web console: the rules a username and a password must meet, and
//! argon2id hashing and verification (PHC strings, a fresh random salt per hash). Also the
//! random secrets of browser sessions and residents' questionnaire links, which are stored only
//! as their SHA-256.
//!
//! A password is never logged, stored or returned: only its hash leaves this module. Hashing is
//! deliberately slow (argon2's default cost, ~19 MiB and two passes); callers in async code run
//! it with `spawn_blocking`.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use sha2::{Digest, Sha256};

use crate::error::{Result, ServerError};

/// A fresh random secret: 244 bits from the OS generator (two UUID v4s), 64 hex digits.
pub fn random_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Whether `s` has the shape of a [`random_secret`] (checked before anything is looked up).
pub fn well_formed_secret(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// SHA-256 of `s`, 64 lower-case hex digits: how secrets are stored.
pub fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The shortest password accepted, characters.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// The longest password accepted, bytes (hashing cost must not be the caller's choice).
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// The longest username, bytes.
pub const MAX_USERNAME_BYTES: usize = 64;

/// Checks a username: 3 to 64 characters of `a-z`, `0-9`, `.`, `_`, `-` (lower case, so two
/// people cannot hold names that differ only in case).
pub fn validate_username(username: &str) -> Result<()> {
    let ok = (3..=MAX_USERNAME_BYTES).contains(&username.len())
        && username
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ServerError::InvalidArgument(
            "a username is 3 to 64 characters of a-z, 0-9, '.', '_' and '-'".into(),
        ))
    }
}

/// Checks a new password: at least [`MIN_PASSWORD_CHARS`] characters, at most
/// [`MAX_PASSWORD_BYTES`] bytes.
pub fn validate_password(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS || password.len() > MAX_PASSWORD_BYTES {
        return Err(ServerError::InvalidArgument(format!(
            "a password has at least {MIN_PASSWORD_CHARS} characters and at most \
             {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    Ok(())
}

/// The argon2id PHC string of `password`, with a random 16-byte salt (from the OS generator,
/// via UUID v4).
pub fn hash_password(password: &str) -> Result<String> {
    let salt = uuid::Uuid::new_v4().into_bytes();
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ServerError::Internal(format!("password hashing: {e}")))
}

/// Whether `password` matches the PHC string `hash` (false for a malformed hash).
pub fn verify_password(password: &str, hash: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    <Argon2<'_> as PasswordVerifier<str>>::verify_password(
        &Argon2::default(),
        password.as_bytes(),
        hash,
    )
    .is_ok()
}

/// A hash of a password nobody has, verified against when a username is unknown so that the
/// answer takes as long as for a known one.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password for unknown users").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ_by_salt() {
        let a = hash_password("correct horse battery").expect("hash");
        let b = hash_password("correct horse battery").expect("hash");
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "a fresh salt each time");
        assert!(verify_password("correct horse battery", &a));
        assert!(!verify_password("correct horse batterz", &a));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn usernames_and_passwords_are_checked() {
        for ok in ["dr.sato", "nurse_1", "abc"] {
            assert!(validate_username(ok).is_ok(), "{ok}");
        }
        for bad in ["", "ab", "Dr", "dr sato", "佐藤", &"a".repeat(65)] {
            assert!(validate_username(bad).is_err(), "{bad}");
        }
        assert!(validate_password("short").is_err());
        assert!(validate_password("twelve chars").is_ok());
        assert!(validate_password(&"x".repeat(1025)).is_err());
    }
}
