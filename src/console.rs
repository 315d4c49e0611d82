//! The compliance console: server-rendered pages (tera, templates compiled into the
//! binary) at `/console` for the people who approve, hold, disclose and audit
//! (docs/CONSOLE.md). A person signs in with their own API key and every page then acts as
//! that key, through the same domain and engine commands as the API and the same
//! visibility rule (another workspace's record is a 404). Plain forms, no JavaScript
//! needed; each form carries the session's CSRF token; every response carries a strict
//! Content-Security-Policy and refuses framing.

mod audit;
mod authority;
mod deadlines;
mod headers;
mod holds;
mod inbox;
mod page;
mod privacy;
mod refusals;
mod render;
mod retention;
mod runs;
mod scope_diff;
mod session;
mod sign_in;

use poem::{Endpoint, EndpointExt, Route, get, post};

/// The console's routes, to be nested at `/console`.
pub fn routes() -> impl Endpoint {
    Route::new()
        .at("/", get(inbox::home))
        .at("/sign-in", get(sign_in::show_form).post(sign_in::submit))
        .at("/sign-out", post(sign_in::sign_out))
        .at("/inbox", get(inbox::inbox))
        .at("/privacy-requests/:id", get(privacy::show))
        .at("/privacy-requests/:id/decision", post(privacy::decide))
        .at(
            "/privacy-requests/:id/evidence",
            get(privacy::download_evidence),
        )
        .at("/privacy-requests/:id/extension", post(privacy::extend))
        .at("/authority-requests", get(authority::list))
        .at("/authority-requests/:id", get(authority::show))
        .at(
            "/authority-requests/:id/evidence",
            get(authority::download_evidence),
        )
        .at("/authority-requests/:id/:action", post(authority::act))
        .at("/deadlines", get(deadlines::show))
        .at("/holds", get(holds::list).post(holds::place))
        .at("/holds/:id/release", post(holds::release))
        .at("/holds/:id/renewal", post(holds::renew))
        .at("/retention", get(retention::show))
        .at("/retention/preview", get(retention::show_preview))
        .at("/runs", get(runs::list))
        .at("/runs/:id", get(runs::show))
        .at("/runs/:id/decision", post(runs::decide))
        .at("/audit", get(audit::show))
        .at("/audit/verify", get(audit::verify))
        .at("/static/console.css", get(render::stylesheet))
        .at("/static/console.js", get(render::script))
        .around(headers::secure)
}
