//! The `X-Hub-Signature-256` of Meta's webhook deliveries: an HMAC-SHA256 of the exact
//! body bytes under the app secret. The receiver checks it; the sandbox and the tests
//! make it.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Whether `header` (`sha256=<hex>`) is the HMAC-SHA256 of exactly `body` under
/// `app_secret`, compared in constant time.
pub fn signature_valid(app_secret: &str, body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_digest) = header.and_then(|value| value.strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_digest.trim()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// `sha256=<hex>` for `body`, as Meta (and the sandbox) sign deliveries.
pub fn sign(app_secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_cover_the_exact_bytes() {
        let body = br#"{"text":"\u00e9t\u00e9"}"#;
        let header = sign("secret", body);
        assert!(signature_valid("secret", body, Some(&header)));
        assert!(!signature_valid(
            "secret",
            "{\"text\":\"été\"}".as_bytes(),
            Some(&header)
        ));
        assert!(!signature_valid("other", body, Some(&header)));
        assert!(!signature_valid("secret", body, None));
        assert!(!signature_valid("secret", body, Some("sha256=zz")));
        assert!(!signature_valid(
            "secret",
            body,
            Some(&header.replace("sha256=", "sha1="))
        ));
    }
}
