//! `/metrics` in the Prometheus text format, and the middleware counting HTTP requests.

use std::fmt::Write;

use poem::http::StatusCode;
use poem::web::Data;
use poem::{Endpoint, IntoResponse, Request, Response, handler};

use crate::engine::{Engine, EngineError};
use crate::metrics::{METRICS, escape, method_label, route_of};

/// Database figures and this process's counters.
#[handler]
pub async fn metrics(engine: Data<&Engine>) -> Response {
    match render(engine.0).await {
        Ok(text) => Response::builder()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(text),
        Err(error) => {
            tracing::error!(error = %error, "metrics query failed");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

async fn render(engine: &Engine) -> Result<String, EngineError> {
    let gauges = engine.gauges().await?;
    let depth = gauges.queue_depth;
    let (approvals, oldest) = (gauges.pending_approvals, gauges.oldest_approval_seconds);
    let mut out = String::new();
    out.push_str(
        "# HELP bazaarstreet_runs_in_progress Runs not finished, by workflow and status.\n",
    );
    out.push_str("# TYPE bazaarstreet_runs_in_progress gauge\n");
    for run in &gauges.runs_in_progress {
        let _ = writeln!(
            out,
            "bazaarstreet_runs_in_progress{{workflow=\"{}\",status=\"{}\"}} {}",
            escape(&run.workflow),
            run.status,
            run.count
        );
    }
    out.push_str("# HELP bazaarstreet_queue_depth Step jobs due and not yet started.\n");
    out.push_str("# TYPE bazaarstreet_queue_depth gauge\n");
    let _ = writeln!(out, "bazaarstreet_queue_depth {depth}");
    out.push_str("# HELP bazaarstreet_pending_approvals Approval steps waiting for decisions.\n");
    out.push_str("# TYPE bazaarstreet_pending_approvals gauge\n");
    let _ = writeln!(out, "bazaarstreet_pending_approvals {approvals}");
    out.push_str(
        "# HELP bazaarstreet_oldest_pending_approval_seconds Age of the oldest waiting approval.\n",
    );
    out.push_str("# TYPE bazaarstreet_oldest_pending_approval_seconds gauge\n");
    let _ = writeln!(out, "bazaarstreet_oldest_pending_approval_seconds {oldest}");
    out.push_str(
        "# HELP bazaarstreet_runs_sla Unfinished runs of workflows with an sla, by state.\n",
    );
    out.push_str("# TYPE bazaarstreet_runs_sla gauge\n");
    for (workflow, state, count) in &gauges.sla {
        let _ = writeln!(
            out,
            "bazaarstreet_runs_sla{{workflow=\"{}\",state=\"{}\"}} {count}",
            escape(workflow),
            state.as_str()
        );
    }
    out.push_str(
        "# HELP bazaarstreet_privacy_requests_open Open privacy requests by kind and SLA state.\n",
    );
    out.push_str("# TYPE bazaarstreet_privacy_requests_open gauge\n");
    for (kind, sla, count) in crate::privacy::requests::open_by_sla(engine.pool()).await? {
        let _ = writeln!(
            out,
            "bazaarstreet_privacy_requests_open{{kind=\"{kind}\",sla=\"{sla}\"}} {count}"
        );
    }
    METRICS.render(&mut out);
    Ok(out)
}

/// Counts every request by route template, method and final status.
pub async fn count_requests<E: Endpoint>(endpoint: E, request: Request) -> poem::Result<Response> {
    let route = route_of(request.uri().path());
    let method = method_label(request.method().as_str());
    let response = endpoint.get_response(request).await;
    METRICS.count_request(route, method, response.status().as_u16());
    Ok(response)
}
