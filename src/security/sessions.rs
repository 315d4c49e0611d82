//! The compliance console's sign-in sessions. A person signs in with their own API key;
//! the session is a random id kept in a cookie (only its SHA-256 is stored), valid until
//! sign-out, [`IDLE`] without use or [`ABSOLUTE`] after sign-in, or until the key is
//! revoked. Every page acts as the key: the same role, workspace scope and commands as the
//! API. Each form carries a CSRF token derived from the session id under the service's
//! secret key (nothing more to store). Sign-ins are rate-limited per client address
//! (stored as a hash only) and recorded in the ledger, as are sign-outs.

use chrono::{Duration, Utc};
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use subtle::ConstantTimeEq;

use super::audit::{self, AuditEntry};
use super::keys;
use super::roles::{Caller, Role};
use super::secret_box::SecretBox;
use crate::store::console_sessions as store;
use crate::store::ids::WorkspaceId;

/// A session ends this long after its last use.
pub const IDLE: Duration = Duration::minutes(30);
/// And at the latest this long after sign-in.
pub const ABSOLUTE: Duration = Duration::hours(12);
/// Failed sign-ins allowed from one address within [`RATE_WINDOW`].
pub const MAX_FAILURES: i64 = 10;
/// The window the failures are counted in.
pub const RATE_WINDOW: Duration = Duration::minutes(15);

/// The actor the console's own records are written under when nobody is signed in.
const ACTOR: &str = "console";

/// A session in use: who is signed in and the token every form must return.
#[derive(Debug, Clone)]
pub struct Session {
    /// The signed-in key, as the API would see it.
    pub caller: Caller,
    /// The CSRF token of this session.
    pub csrf: String,
}

/// Why a sign-in was refused.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Unknown, revoked, malformed or unapproved key.
    #[error("that key was not accepted: it is unknown, revoked, or not yet approved")]
    Refused,
    /// Too many failures from this address lately.
    #[error("too many failed sign-ins from this address; try again in 15 minutes")]
    RateLimited,
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

fn sha256(value: &[u8]) -> Vec<u8> {
    Sha256::digest(value).to_vec()
}

fn csrf_for(secrets: &SecretBox, session_id: &str) -> String {
    hex::encode(secrets.digest("console-csrf", session_id))
}

/// Signs in with `token` from `address`: the new session's id (for the cookie) and the
/// session. Refusals are counted against the address.
pub async fn sign_in(
    pool: &PgPool,
    secrets: &SecretBox,
    token: &str,
    address: &str,
) -> Result<(String, Session), SignInError> {
    let address_sha256 = sha256(address.as_bytes());
    let mut tx = pool.begin().await?;
    store::forget_attempts(&mut tx, Utc::now() - Duration::days(1)).await?;
    let failures =
        store::failures_since(&mut tx, &address_sha256, Utc::now() - RATE_WINDOW).await?;
    if failures >= MAX_FAILURES {
        tx.commit().await?;
        return Err(SignInError::RateLimited);
    }
    let Some(caller) = keys::authenticate(pool, token.trim()).await? else {
        store::record_attempt(&mut tx, &address_sha256, false).await?;
        audit::append(
            &mut tx,
            &[AuditEntry::now(
                ACTOR,
                "console.sign_in_refused",
                format!("address:{}", hex::encode(&address_sha256[..8])),
                None,
                json!({ "failures_in_window": failures + 1 }),
            )],
        )
        .await?;
        tx.commit().await?;
        return Err(SignInError::Refused);
    };
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let session_id = hex::encode(raw);
    let id_sha256 = sha256(session_id.as_bytes());
    store::record_attempt(&mut tx, &address_sha256, true).await?;
    store::insert(&mut tx, &id_sha256, caller.key_id.uuid()).await?;
    audit::append(
        &mut tx,
        &[AuditEntry::now(
            &caller.person,
            "console.signed_in",
            format!("key:{}", caller.key_id),
            caller.workspace_id.as_ref().map(|w| w.as_str()),
            json!({ "session": hex::encode(&id_sha256[..8]) }),
        )],
    )
    .await?;
    tx.commit().await?;
    let session = Session {
        csrf: csrf_for(secrets, &session_id),
        caller,
    };
    Ok((session_id, session))
}

/// The session of cookie id `session_id`, if it is still valid; one past its idle or
/// absolute lifetime is ended (and recorded) on the way.
pub async fn resume(
    pool: &PgPool,
    secrets: &SecretBox,
    session_id: &str,
) -> Result<Option<Session>, sqlx::Error> {
    if session_id.len() != 64 || !session_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let id_sha256 = sha256(session_id.as_bytes());
    let mut conn = pool.acquire().await?;
    let Some(row) = store::find_live(&mut conn, &id_sha256).await? else {
        return Ok(None);
    };
    let now = Utc::now();
    let expired = if now - row.last_seen_at > IDLE {
        Some("idle")
    } else if now - row.created_at > ABSOLUTE {
        Some("absolute")
    } else {
        None
    };
    if let Some(reason) = expired {
        end(pool, &id_sha256, &row.person, reason).await?;
        return Ok(None);
    }
    // One write a minute at most, not one per page.
    if now - row.last_seen_at > Duration::minutes(1) {
        store::touch(&mut conn, &id_sha256).await?;
    }
    let Ok(role) = row.role.parse::<Role>() else {
        return Ok(None);
    };
    Ok(Some(Session {
        caller: Caller {
            key_id: row.key_id.into(),
            key_name: row.key_name,
            person_id: row.person_id.into(),
            person: row.person,
            role,
            workspace_id: row.workspace_id.and_then(|w| WorkspaceId::parse(&w).ok()),
        },
        csrf: csrf_for(secrets, session_id),
    }))
}

/// Whether `offered` is the session's CSRF token (constant time).
pub fn csrf_matches(session: &Session, offered: &str) -> bool {
    session.csrf.as_bytes().ct_eq(offered.as_bytes()).into()
}

/// Signs out: the session ends now and the ledger records it.
pub async fn sign_out(pool: &PgPool, session_id: &str, person: &str) -> Result<(), sqlx::Error> {
    end(pool, &sha256(session_id.as_bytes()), person, "signed_out").await
}

async fn end(
    pool: &PgPool,
    id_sha256: &[u8],
    person: &str,
    reason: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    if store::end(&mut tx, id_sha256, reason).await? {
        audit::append(
            &mut tx,
            &[AuditEntry::now(
                person,
                "console.session_ended",
                format!("session:{}", hex::encode(&id_sha256[..8])),
                None,
                // `ended_by`, not `reason`: the ledger redacts free-text reasons, and this
                // is one of three fixed words (signed_out, idle, absolute).
                json!({ "ended_by": reason }),
            )],
        )
        .await?;
    }
    tx.commit().await
}
