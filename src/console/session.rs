//! The console's cookies and the signed-in check every page makes: the session cookie
//! (`HttpOnly`, `SameSite=Strict`, `Secure` over TLS), the pre-sign-in CSRF cookie, and the
//! CSRF check of every form a signed-in person posts.

use poem::Request;
use poem::http::StatusCode;
use poem::web::Redirect;
use poem::{IntoResponse, Response};

use crate::engine::Engine;
use crate::security::secret_box::SecretBox;
use crate::security::sessions::{self, Session};

/// The session cookie.
pub const COOKIE: &str = "bzs_console";
/// The sign-in form's own CSRF cookie (double submit; no session exists yet).
pub const LOGIN_COOKIE: &str = "bzs_console_login";

/// The value of cookie `name`, if the request carries it.
pub fn cookie<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request
        .headers()
        .get_all("cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// Whether the request came over TLS (directly, or through a proxy that says so).
fn over_tls(request: &Request) -> bool {
    request.uri().scheme_str() == Some("https")
        || request
            .header("x-forwarded-proto")
            .is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` value for `name` on `path`; `None` clears it.
pub fn set_cookie(request: &Request, name: &str, value: Option<&str>, path: &str) -> String {
    let secure = if over_tls(request) { "; Secure" } else { "" };
    match value {
        Some(value) => format!(
            "{name}={value}; Path={path}; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            sessions::ABSOLUTE.num_seconds()
        ),
        None => format!("{name}=; Path={path}; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

/// The engine and secret box the service put in the request.
pub fn parts(request: &Request) -> (Engine, SecretBox) {
    (
        request
            .data::<Engine>()
            .cloned()
            .expect("the service puts the engine in every request"),
        request
            .data::<SecretBox>()
            .cloned()
            .expect("the service puts the secret box in every request"),
    )
}

/// The signed-in session, or the response to send instead (to the sign-in form).
pub async fn signed_in(request: &Request) -> Result<Session, Response> {
    let (engine, secrets) = parts(request);
    let Some(id) = cookie(request, COOKIE) else {
        return Err(to_sign_in());
    };
    match sessions::resume(engine.pool(), &secrets, id).await {
        Ok(Some(session)) => Ok(session),
        Ok(None) => Err(to_sign_in()),
        Err(error) => {
            tracing::error!(error = %error, "console session lookup failed");
            Err((StatusCode::SERVICE_UNAVAILABLE, "try again in a moment").into_response())
        }
    }
}

fn to_sign_in() -> Response {
    Redirect::see_other("/console/sign-in").into_response()
}

/// The signed-in session of a form post whose `csrf` field matches it; 403 otherwise.
pub async fn posting(request: &Request, csrf: &str) -> Result<Session, Response> {
    let session = signed_in(request).await?;
    if !sessions::csrf_matches(&session, csrf) {
        return Err(super::page::refused(
            &session,
            StatusCode::FORBIDDEN,
            "This form has expired",
            "The form was not sent from this session (its CSRF token did not match). Reload the page and try again.",
        ));
    }
    Ok(session)
}

/// The signed-in session as a handler argument: a request without one is answered with
/// the redirect to the sign-in form (or 503) before the handler runs.
pub struct SignedIn(pub Session);

impl<'a> poem::FromRequest<'a> for SignedIn {
    async fn from_request(
        request: &'a Request,
        _body: &mut poem::RequestBody,
    ) -> poem::Result<Self> {
        signed_in(request)
            .await
            .map(SignedIn)
            .map_err(poem::Error::from_response)
    }
}

/// A record id from a path: anything that is not a UUID names no record, so it is the
/// same 404 page as a record the key may not see.
// The page is what the handler answers anyway; it is built once, on the error path.
#[allow(clippy::result_large_err)]
pub fn record_id(session: &Session, text: &str) -> Result<uuid::Uuid, Response> {
    text.parse().map_err(|_| super::page::not_found(session))
}

/// [`posting`] for a form about one record: the session and the record's id from the
/// path, or the response to send instead (refused form, or the 404 page).
pub async fn posting_record(
    request: &Request,
    csrf: &str,
    id: &str,
) -> Result<(Session, uuid::Uuid), Response> {
    let session = posting(request, csrf).await?;
    let id = record_id(&session, id)?;
    Ok((session, id))
}
