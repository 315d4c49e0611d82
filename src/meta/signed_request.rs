//! Meta's `signed_request` (the Data Deletion Request Callback): `<signature>.<payload>`,
//! both base64url; the signature is HMAC-SHA256 of the encoded payload under the app
//! secret; the payload names the algorithm, the app-scoped `user_id` and `issued_at`.
//! Checked in constant time before anything in the payload is trusted.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What a verified signed request says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    /// The app-scoped id of the Meta user.
    pub user_id: String,
    /// When Meta issued it (Unix seconds).
    pub issued_at: Option<i64>,
}

/// Why a signed request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignedRequestError {
    /// Not `<signature>.<payload>` in base64url, or a payload that is not JSON.
    #[error("the signed_request is not `<signature>.<payload>` in base64url with a JSON payload")]
    Malformed,
    /// The payload names another algorithm.
    #[error("the signed_request's algorithm must be HMAC-SHA256")]
    Algorithm,
    /// The signature does not match the payload under the app secret.
    #[error("the signed_request's signature does not match")]
    Signature,
    /// No `user_id`.
    #[error("the signed_request names no user_id")]
    NoUser,
}

fn decode(text: &str) -> Result<Vec<u8>, SignedRequestError> {
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| SignedRequestError::Malformed)
}

/// Checks `signed` under `app_secret` and answers what it says.
pub fn verify(signed: &str, app_secret: &str) -> Result<SignedRequest, SignedRequestError> {
    let (signature, payload) = signed
        .trim()
        .split_once('.')
        .ok_or(SignedRequestError::Malformed)?;
    let signature = decode(signature)?;
    let decoded = decode(payload)?;
    let body: serde_json::Value =
        serde_json::from_slice(&decoded).map_err(|_| SignedRequestError::Malformed)?;
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(app_secret.as_bytes()).expect("any key length");
    mac.update(payload.as_bytes());
    // `verify_slice` compares in constant time.
    mac.verify_slice(&signature)
        .map_err(|_| SignedRequestError::Signature)?;
    if !body["algorithm"]
        .as_str()
        .is_some_and(|algorithm| algorithm.eq_ignore_ascii_case("HMAC-SHA256"))
    {
        return Err(SignedRequestError::Algorithm);
    }
    let user_id = match &body["user_id"] {
        serde_json::Value::String(id) if !id.is_empty() => id.clone(),
        serde_json::Value::Number(id) => id.to_string(),
        _ => return Err(SignedRequestError::NoUser),
    };
    Ok(SignedRequest {
        user_id,
        issued_at: body["issued_at"].as_i64(),
    })
}

/// Signs `payload` as Meta does (the sandbox sends such callbacks).
pub fn sign(payload: &serde_json::Value, app_secret: &str) -> String {
    let encoded = URL_SAFE_NO_PAD.encode(payload.to_string());
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(app_secret.as_bytes()).expect("any key length");
    mac.update(encoded.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signature}.{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_signed_request_is_trusted_only_with_the_right_signature_and_algorithm() {
        let payload = json!({ "algorithm": "HMAC-SHA256", "user_id": "1234567890", "issued_at": 1_700_000_000 });
        let signed = sign(&payload, "secret");
        assert_eq!(
            verify(&signed, "secret"),
            Ok(SignedRequest {
                user_id: "1234567890".into(),
                issued_at: Some(1_700_000_000)
            })
        );
        assert_eq!(verify(&signed, "other"), Err(SignedRequestError::Signature));
        // Padding, as some senders add it, is accepted.
        let (signature, body) = signed.split_once('.').unwrap();
        assert!(verify(&format!("{signature}==.{body}"), "secret").is_ok());
        let altered = format!(
            "{signature}.{}",
            URL_SAFE_NO_PAD.encode(r#"{"algorithm":"HMAC-SHA256","user_id":"999"}"#)
        );
        assert_eq!(
            verify(&altered, "secret"),
            Err(SignedRequestError::Signature)
        );
        let weak = sign(&json!({ "algorithm": "none", "user_id": "1" }), "secret");
        assert_eq!(verify(&weak, "secret"), Err(SignedRequestError::Algorithm));
        let anonymous = sign(&json!({ "algorithm": "HMAC-SHA256" }), "secret");
        assert_eq!(
            verify(&anonymous, "secret"),
            Err(SignedRequestError::NoUser)
        );
        for malformed in ["", "abc", "!!.??", "e30.bm90IGpzb24"] {
            assert_eq!(
                verify(malformed, "secret"),
                Err(SignedRequestError::Malformed),
                "{malformed}"
            );
        }
    }
}
