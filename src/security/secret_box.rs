//! Encryption of stored secrets (Meta access tokens) with AES-256-GCM: a random 96-bit
//! nonce per value, stored in front of the ciphertext.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

const NONCE_LEN: usize = 12;

/// Seals and opens secrets with one key, and digests short secrets (one-time codes) with a
/// key derived from it, so a stored digest cannot be reversed by trying every code without
/// the key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
    digest_key: [u8; 32],
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

/// A sealed value that does not open: wrong key, or altered.
#[derive(Debug, thiserror::Error)]
#[error("a stored secret could not be decrypted (wrong BAZAARSTREET_SECRET_KEY, or altered)")]
pub struct OpenError;

impl SecretBox {
    /// A box for a 32-byte key given as 64 hex characters.
    pub fn from_hex(key: &str) -> Option<Self> {
        let bytes: [u8; 32] = hex::decode(key).ok()?.try_into().ok()?;
        Some(Self::from_bytes(bytes))
    }

    /// The development key the sandbox falls back to. Never use it with real tokens.
    pub fn development() -> Self {
        Self::from_bytes(
            Sha256::digest(b"bazaarstreet development key: not for live tokens").into(),
        )
    }

    fn from_bytes(key: [u8; 32]) -> Self {
        let mut derivation = Sha256::new();
        derivation.update(b"bazaarstreet digest key\0");
        derivation.update(key);
        Self {
            cipher: Aes256Gcm::new(&Key::<Aes256Gcm>::from(key)),
            digest_key: derivation.finalize().into(),
        }
    }

    /// HMAC-SHA256 of `value` in `context` (e.g. a request id) under the box's digest key.
    pub fn digest(&self, context: &str, value: &str) -> Vec<u8> {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.digest_key)
            .expect("HMAC takes any key length");
        mac.update(context.as_bytes());
        mac.update(b"\0");
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// Encrypts `secret`: nonce || ciphertext || tag.
    pub fn seal(&self, secret: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(&Nonce::from(nonce), secret.as_bytes())
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut sealed = nonce.to_vec();
        sealed.extend(ciphertext);
        sealed
    }

    /// Decrypts what [`SecretBox::seal`] produced.
    pub fn open(&self, sealed: &[u8]) -> Result<String, OpenError> {
        if sealed.len() < NONCE_LEN {
            return Err(OpenError);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| OpenError)?;
        let plain = self
            .cipher
            .decrypt(&Nonce::from(nonce), ciphertext)
            .map_err(|_| OpenError)?;
        String::from_utf8(plain).map_err(|_| OpenError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_unaltered() {
        let sealed_box = SecretBox::from_hex(&"ab".repeat(32)).unwrap();
        let sealed = sealed_box.seal("EAAGtoken");
        assert!(!sealed.windows(9).any(|w| w == b"EAAGtoken"));
        assert_eq!(sealed_box.open(&sealed).unwrap(), "EAAGtoken");
        assert_ne!(
            sealed,
            sealed_box.seal("EAAGtoken"),
            "a fresh nonce each time"
        );
        assert!(SecretBox::development().open(&sealed).is_err());
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(sealed_box.open(&altered).is_err());
        assert!(SecretBox::from_hex("zz").is_none());
    }
}
