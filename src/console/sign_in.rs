//! Signing in (a form taking the person's own API key) and out. The form is protected by
//! a double-submit CSRF cookie; a refused key is counted against the client's address
//! (rate-limited) and recorded, as are sign-ins and sign-outs.

use poem::http::StatusCode;
use poem::web::{Form, Redirect};
use poem::{IntoResponse, Request, Response, handler};
use rand::RngCore;
use serde::Deserialize;
use subtle::ConstantTimeEq;
use tera::Context;

use super::render;
use super::session::{self, COOKIE, LOGIN_COOKIE};
use crate::security::sessions::{self, SignInError};

fn fresh_token() -> String {
    let mut raw = [0u8; 16];
    rand::rng().fill_bytes(&mut raw);
    hex::encode(raw)
}

/// The sign-in form with `error`, and its CSRF cookie.
fn form_page(request: &Request, status: StatusCode, error: Option<&str>) -> Response {
    let token = fresh_token();
    let mut context = Context::new();
    context.insert("session", &false);
    context.insert("login_csrf", &token);
    context.insert("error", &error);
    let mut response = render::page(status, "sign_in.html", &context);
    if let Ok(value) =
        session::set_cookie(request, LOGIN_COOKIE, Some(&token), "/console/sign-in").parse()
    {
        response.headers_mut().append("set-cookie", value);
    }
    response
}

/// `GET /console/sign-in`.
#[handler]
pub async fn show_form(request: &Request) -> Response {
    if session::signed_in(request).await.is_ok() {
        return Redirect::see_other("/console/inbox").into_response();
    }
    form_page(request, StatusCode::OK, None)
}

/// What the sign-in form posts.
#[derive(Debug, Deserialize)]
pub struct SignInForm {
    key: String,
    csrf: String,
}

/// `POST /console/sign-in`.
#[handler]
pub async fn submit(request: &Request, Form(form): Form<SignInForm>) -> Response {
    let expected = session::cookie(request, LOGIN_COOKIE).unwrap_or_default();
    let same: bool = expected.as_bytes().ct_eq(form.csrf.as_bytes()).into();
    if expected.is_empty() || !same {
        return form_page(
            request,
            StatusCode::FORBIDDEN,
            Some("The sign-in form expired. Enter your key again."),
        );
    }
    let (engine, secrets) = session::parts(request);
    let address = request.remote_addr().to_string();
    let address = address
        .rsplit_once(':')
        .map_or(address.as_str(), |(host, _)| host);
    match sessions::sign_in(engine.pool(), &secrets, &form.key, address).await {
        Ok((id, _)) => {
            let mut response = Redirect::see_other("/console/inbox").into_response();
            for cookie in [
                session::set_cookie(request, COOKIE, Some(&id), "/console"),
                session::set_cookie(request, LOGIN_COOKIE, None, "/console/sign-in"),
            ] {
                if let Ok(value) = cookie.parse() {
                    response.headers_mut().append("set-cookie", value);
                }
            }
            response
        }
        Err(SignInError::Refused) => form_page(
            request,
            StatusCode::UNAUTHORIZED,
            Some(&SignInError::Refused.to_string()),
        ),
        Err(SignInError::RateLimited) => form_page(
            request,
            StatusCode::TOO_MANY_REQUESTS,
            Some(&SignInError::RateLimited.to_string()),
        ),
        Err(SignInError::Database(error)) => {
            tracing::error!(error = %error, "console sign-in failed");
            form_page(
                request,
                StatusCode::SERVICE_UNAVAILABLE,
                Some("The service could not sign you in just now. Try again in a moment."),
            )
        }
    }
}

/// What the sign-out form posts.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// `POST /console/sign-out`: ends the session.
#[handler]
pub async fn sign_out(request: &Request, Form(form): Form<CsrfForm>) -> Response {
    let session = match session::posting(request, &form.csrf).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let (engine, _) = session::parts(request);
    let id = session::cookie(request, COOKIE).unwrap_or_default();
    if let Err(error) = sessions::sign_out(engine.pool(), id, &session.caller.person).await {
        return super::page::failed(&session, &error);
    }
    let mut response = Redirect::see_other("/console/sign-in").into_response();
    if let Ok(value) = session::set_cookie(request, COOKIE, None, "/console").parse() {
        response.headers_mut().append("set-cookie", value);
    }
    response
}
