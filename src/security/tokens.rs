//! API key tokens: random, shown once, stored only as a SHA-256 digest.
//!
//! Tokens carry 192 bits from the OS generator, so a fast digest is enough: nothing can
//! be learned by guessing against it, unlike a password.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// Every token starts with this, so a leaked token is recognisable by secret scanners.
pub const TOKEN_PREFIX: &str = "bzs_";

/// Characters of a token kept for display (`bzs_` + 8), enough to tell keys apart.
const DISPLAY_CHARS: usize = 12;

/// Longest token the API will even look up; anything longer is malformed.
pub const MAX_TOKEN_LEN: usize = 128;

/// A new random token.
pub fn generate() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

/// The digest stored for a token.
pub fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The part of a token that may be displayed and logged.
pub fn display_prefix(token: &str) -> String {
    token.chars().take(DISPLAY_CHARS).collect()
}

/// Whether `token` has the shape of one of ours (checked before any lookup).
pub fn well_formed(token: &str) -> bool {
    token.len() <= MAX_TOKEN_LEN
        && token
            .strip_prefix(TOKEN_PREFIX)
            .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_well_formed_and_distinct() {
        let a = generate();
        let b = generate();
        assert!(well_formed(&a) && well_formed(&b));
        assert_ne!(a, b);
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 48);
        assert_ne!(digest(&a), digest(&b));
    }

    #[test]
    fn malformed_tokens_are_recognised() {
        assert!(!well_formed("bzs_"));
        assert!(!well_formed("Bearer xyz"));
        assert!(!well_formed("bzs_zz' or 1=1"));
        assert!(!well_formed(&format!("bzs_{}", "a".repeat(200))));
    }
}
