//! In-process metrics, rendered in the Prometheus text format at `/metrics` together
//! with figures read from the database at scrape time (see `api::metrics`).
//!
//! One registry per process (like Prometheus clients' default registry): step durations,
//! HTTP requests, runs started and finished, step failures and retries, Graph API calls
//! and webhooks are counted where they happen; a scrape of every process adds up
//! (`sum by (…)` across replicas).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

/// Upper bounds of the step-duration buckets, in seconds.
const STEP_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
];

/// The process's metrics.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::default);

/// Counters and histograms kept by this process.
#[derive(Debug, Default)]
pub struct Metrics {
    steps: Mutex<BTreeMap<(String, String), Histogram>>,
    http: Mutex<BTreeMap<(String, String, u16), u64>>,
    counters: Mutex<BTreeMap<(Counter, String), u64>>,
}

/// A labelled counter of this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Counter {
    /// Runs this process started, by workflow.
    RunsStarted,
    /// Runs this process finished, by workflow and final status.
    RunsFinished,
    /// Task attempts that failed, by workflow, step and kind (retryable or fatal).
    StepFailures,
    /// Steps put back for another attempt, by workflow and step.
    StepRetries,
    /// Calls to Meta's Graph API, by operation and outcome (ok or error).
    GraphCalls,
    /// Webhook deliveries received, by outcome (stored, duplicate, bad_signature, error).
    WebhooksReceived,
    /// Webhook deliveries processed, by outcome (ok, or error: kept with its error).
    WebhooksProcessed,
    /// Rows the retention sweep purged, by table.
    RetentionPurged,
}

impl Counter {
    /// Every counter, in the order they are rendered.
    const ALL: [Counter; 8] = [
        Counter::RunsStarted,
        Counter::RunsFinished,
        Counter::StepFailures,
        Counter::StepRetries,
        Counter::GraphCalls,
        Counter::WebhooksReceived,
        Counter::WebhooksProcessed,
        Counter::RetentionPurged,
    ];

    fn name(self) -> &'static str {
        match self {
            Counter::RunsStarted => "bazaarstreet_runs_started_total",
            Counter::RunsFinished => "bazaarstreet_runs_finished_total",
            Counter::StepFailures => "bazaarstreet_step_failures_total",
            Counter::StepRetries => "bazaarstreet_step_retries_total",
            Counter::GraphCalls => "bazaarstreet_graph_calls_total",
            Counter::WebhooksReceived => "bazaarstreet_webhooks_received_total",
            Counter::WebhooksProcessed => "bazaarstreet_webhooks_processed_total",
            Counter::RetentionPurged => "bazaarstreet_retention_purged_total",
        }
    }

    fn help(self) -> &'static str {
        match self {
            Counter::RunsStarted => "Runs started by this process, by workflow.",
            Counter::RunsFinished => "Runs finished by this process, by workflow and final status.",
            Counter::StepFailures => "Failed task attempts, by workflow, step and kind.",
            Counter::StepRetries => "Steps scheduled for another attempt, by workflow and step.",
            Counter::GraphCalls => "Calls to Meta's Graph API, by operation and outcome.",
            Counter::WebhooksReceived => "Webhook deliveries received, by outcome.",
            Counter::WebhooksProcessed => "Webhook deliveries processed, by outcome.",
            Counter::RetentionPurged => "Rows the retention sweep purged, by table.",
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Histogram {
    buckets: [u64; STEP_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Metrics {
    /// Records how long one attempt of a task step took.
    pub fn observe_step(&self, workflow: &str, step: &str, took: Duration) {
        let seconds = took.as_secs_f64();
        let mut steps = self.steps.lock().expect("metrics lock");
        let histogram = steps
            .entry((workflow.to_owned(), step.to_owned()))
            .or_default();
        for (bucket, bound) in histogram.buckets.iter_mut().zip(STEP_BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        histogram.count += 1;
        histogram.sum += seconds;
    }

    /// Counts one HTTP request by route template, method and status.
    pub fn count_request(&self, route: &str, method: &str, status: u16) {
        *self
            .http
            .lock()
            .expect("metrics lock")
            .entry((route.to_owned(), method.to_owned(), status))
            .or_default() += 1;
    }

    /// Adds one to `counter` with these labels (`name`, value).
    pub fn count(&self, counter: Counter, labels: &[(&str, &str)]) {
        self.add(counter, labels, 1);
    }

    /// Adds `n` to `counter` with these labels (`name`, value).
    pub fn add(&self, counter: Counter, labels: &[(&str, &str)], n: u64) {
        let labels: Vec<String> = labels
            .iter()
            .map(|(name, value)| format!("{name}=\"{}\"", escape(value)))
            .collect();
        *self
            .counters
            .lock()
            .expect("metrics lock")
            .entry((counter, labels.join(",")))
            .or_default() += n;
    }

    /// Appends this process's metrics in the Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP bazaarstreet_build_info The running build.\n# TYPE bazaarstreet_build_info gauge\nbazaarstreet_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        let counters = self.counters.lock().expect("metrics lock");
        for counter in Counter::ALL {
            let _ = writeln!(
                out,
                "# HELP {0} {1}\n# TYPE {0} counter",
                counter.name(),
                counter.help()
            );
            for ((_, labels), value) in counters.iter().filter(|((c, _), _)| *c == counter) {
                let _ = writeln!(out, "{}{{{labels}}} {value}", counter.name());
            }
        }
        drop(counters);
        out.push_str("# HELP bazaarstreet_step_duration_seconds Duration of task step attempts.\n");
        out.push_str("# TYPE bazaarstreet_step_duration_seconds histogram\n");
        for ((workflow, step), histogram) in self.steps.lock().expect("metrics lock").iter() {
            let labels = format!(
                "workflow=\"{}\",step=\"{}\"",
                escape(workflow),
                escape(step)
            );
            for (count, bound) in histogram.buckets.iter().zip(STEP_BUCKETS) {
                let _ = writeln!(
                    out,
                    "bazaarstreet_step_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "bazaarstreet_step_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                histogram.count
            );
            let _ = writeln!(
                out,
                "bazaarstreet_step_duration_seconds_sum{{{labels}}} {}",
                histogram.sum
            );
            let _ = writeln!(
                out,
                "bazaarstreet_step_duration_seconds_count{{{labels}}} {}",
                histogram.count
            );
        }
        out.push_str("# HELP bazaarstreet_http_requests_total HTTP requests by route template, method and status.\n");
        out.push_str("# TYPE bazaarstreet_http_requests_total counter\n");
        for ((route, method, status), count) in self.http.lock().expect("metrics lock").iter() {
            let _ = writeln!(
                out,
                "bazaarstreet_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {count}",
                escape(route)
            );
        }
    }
}

/// Escapes a label value (backslash, quote, newline).
pub fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Route templates of the API; a request path is counted under the one it matches, or
/// under `unmatched` (so unknown paths cannot blow up the number of series).
const ROUTES: [&str; 66] = [
    "/v1/runs",
    "/v1/runs/{id}",
    "/v1/runs/{id}/cancel",
    "/v1/runs/{id}/events",
    "/v1/runs/{id}/steps/{step_id}/decision",
    "/v1/approvals",
    "/v1/workflows",
    "/v1/workflows/{name}",
    "/v1/keys",
    "/v1/keys/{id}",
    "/v1/keys/{id}/approve",
    "/v1/people",
    "/v1/people/{id}",
    "/v1/workspaces",
    "/v1/workspaces/{id}",
    "/v1/workspaces/{id}/onboarding",
    "/v1/workspaces/{id}/reopen",
    "/v1/workspaces/{id}/templates",
    "/v1/workspaces/{id}/templates/{tid}",
    "/v1/workspaces/{id}/customers",
    "/v1/workspaces/{id}/customers/{customer_id}",
    "/v1/workspaces/{id}/customers/{customer_id}/consent",
    "/v1/workspaces/{id}/reminder-policy",
    "/v1/workspaces/{id}/appointments",
    "/v1/workspaces/{id}/appointments/{appointment_id}",
    "/v1/workspaces/{id}/appointments/{appointment_id}/cancel",
    "/webhooks/whatsapp",
    "/v1/audit",
    "/v1/audit/verify",
    "/v1/audit/head",
    "/v1/data-map",
    "/v1/legal-holds",
    "/v1/legal-holds/check",
    "/v1/legal-holds/{id}",
    "/v1/legal-holds/{id}/renew",
    "/v1/legal-holds/{id}/release",
    "/v1/privacy-requests",
    "/v1/privacy-requests/{id}",
    "/v1/privacy-requests/{id}/decision",
    "/v1/privacy-requests/{id}/extensions",
    "/v1/privacy-requests/{id}/verification",
    "/v1/privacy-requests/{id}/verification/code",
    "/v1/privacy-requests/{id}/package/link",
    "/v1/privacy-requests/{id}/responses",
    "/v1/privacy-requests/{id}/evidence",
    "/v1/authority-requests",
    "/v1/authority-requests/{id}",
    "/v1/authority-requests/{id}/review",
    "/v1/authority-requests/{id}/clarification",
    "/v1/authority-requests/{id}/renewal",
    "/v1/authority-requests/{id}/disclosure",
    "/v1/authority-requests/{id}/post-review",
    "/v1/authority-requests/{id}/package",
    "/v1/authority-requests/{id}/evidence",
    "/v1/transparency",
    "/v1/notices",
    "/privacy/packages/{token}",
    "/meta/data-deletion",
    "/privacy/deletion-status/{code}",
    "/v1/retention/policies",
    "/v1/retention/preview",
    "/v1/retention/sweeps/{run_id}",
    "/healthz",
    "/readyz",
    "/openapi.json",
    "/metrics",
];

/// The method label of a request: its method when it is one of HTTP's own, `other` for
/// anything else a client sends (so made-up methods cannot add series).
pub fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT",
    ];
    KNOWN
        .into_iter()
        .find(|known| *known == method)
        .unwrap_or("other")
}

/// The route template `path` matches.
pub fn route_of(path: &str) -> &'static str {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    ROUTES
        .into_iter()
        .find(|route| {
            let pattern: Vec<&str> = route.split('/').collect();
            pattern.len() == segments.len()
                && pattern
                    .iter()
                    .zip(&segments)
                    .all(|(want, got)| (want.starts_with('{') && !got.is_empty()) || want == got)
        })
        .unwrap_or(if path.starts_with("/docs") {
            "/docs"
        } else {
            "unmatched"
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_counted_under_their_route_template() {
        assert_eq!(route_of("/v1/runs"), "/v1/runs");
        assert_eq!(route_of("/v1/runs/0193-abc"), "/v1/runs/{id}");
        assert_eq!(
            route_of("/v1/runs/x/steps/review/decision"),
            "/v1/runs/{id}/steps/{step_id}/decision"
        );
        assert_eq!(route_of("/v1/audit/verify"), "/v1/audit/verify");
        assert_eq!(route_of("/wp-admin/login.php"), "unmatched");
        assert_eq!(route_of("/docs/index.css"), "/docs");
    }

    #[test]
    fn made_up_methods_share_one_label() {
        assert_eq!(method_label("DELETE"), "DELETE");
        assert_eq!(method_label("FOO1"), "other");
        assert_eq!(method_label("get"), "other");
    }

    #[test]
    fn counters_render_by_their_labels() {
        let metrics = Metrics::default();
        metrics.count(
            Counter::RunsFinished,
            &[("workflow", "wf"), ("status", "failed")],
        );
        metrics.count(
            Counter::RunsFinished,
            &[("workflow", "wf"), ("status", "failed")],
        );
        metrics.count(
            Counter::GraphCalls,
            &[("operation", "template.create"), ("outcome", "ok")],
        );
        let mut out = String::new();
        metrics.render(&mut out);
        assert!(
            out.contains("bazaarstreet_runs_finished_total{workflow=\"wf\",status=\"failed\"} 2"),
            "{out}"
        );
        assert!(out.contains(
            "bazaarstreet_graph_calls_total{operation=\"template.create\",outcome=\"ok\"} 1"
        ));
        assert!(!out.contains("bazaarstreet_runs_started_total{"), "{out}");
        assert!(out.contains("bazaarstreet_build_info{version="));
    }

    #[test]
    fn histograms_render_cumulative_buckets() {
        let metrics = Metrics::default();
        metrics.observe_step("wf", "a", Duration::from_millis(3));
        metrics.observe_step("wf", "a", Duration::from_millis(200));
        let mut out = String::new();
        metrics.render(&mut out);
        assert!(out.contains(
            "bazaarstreet_step_duration_seconds_bucket{workflow=\"wf\",step=\"a\",le=\"0.005\"} 1"
        ));
        assert!(out.contains(
            "bazaarstreet_step_duration_seconds_bucket{workflow=\"wf\",step=\"a\",le=\"0.25\"} 2"
        ));
        assert!(
            out.contains("bazaarstreet_step_duration_seconds_count{workflow=\"wf\",step=\"a\"} 2")
        );
    }
}
