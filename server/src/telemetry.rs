//! Logs and metrics. Logs are JSON lines by default and carry the route
//! pattern (`/api/v1/tasks/{id}`), never the raw path, query string, body or
//! any token, so personal data and secrets cannot reach them. Metrics are
//! Prometheus counters and histograms kept per instance; the job queue depth
//! is read from the database at scrape time (it is shared by all instances).

use std::{sync::Arc, time::Instant};

use actix_web::{
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    middleware::Next,
};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

use crate::config::{Config, LogFormat};

/// Installs the global tracing subscriber (once per process; later calls
/// are ignored, which tests rely on).
pub fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match config.log_format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

/// This instance's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    jobs: Family<StateLabels, Gauge>,
    sync_mutations: Family<OutcomeLabels, Counter>,
    sync_changes: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("mystery_buyer");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route pattern and status",
            requests.clone(),
        );
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ])
        });
        registry.register(
            "http_request_duration_seconds",
            "Time to answer HTTP requests, by method and route pattern",
            latency.clone(),
        );
        let jobs = Family::<StateLabels, Gauge>::default();
        registry.register(
            "jobs",
            "Background jobs in the shared queue, by state",
            jobs.clone(),
        );
        let sync_mutations = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "sync_mutations",
            "Pushed mutations, by outcome (applied, held, duplicate, rejected)",
            sync_mutations.clone(),
        );
        let sync_changes = Counter::default();
        registry.register(
            "sync_pulled_changes",
            "Changes (puts and removes) delivered by pulls",
            sync_changes.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            jobs,
            sync_mutations,
            sync_changes,
        }
    }

    /// Sets the job queue gauges from a fresh count.
    pub fn set_job_counts(&self, counts: &[(String, i64)]) {
        for state in ["queued", "running", "done", "dead"] {
            let n = counts
                .iter()
                .find(|(s, _)| s == state)
                .map_or(0, |(_, n)| *n);
            self.jobs
                .get_or_create(&StateLabels {
                    state: state.into(),
                })
                .set(n);
        }
    }

    /// Counts one pushed mutation by outcome.
    pub fn count_mutation(&self, outcome: &str) {
        self.sync_mutations
            .get_or_create(&OutcomeLabels {
                outcome: outcome.into(),
            })
            .inc();
    }

    /// Counts changes delivered by a pull.
    pub fn count_pulled(&self, changes: usize) {
        self.sync_changes.inc_by(changes as u64);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.into(),
                route: route.into(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                method: method.into(),
                route: route.into(),
            })
            .observe(seconds);
    }
}

/// Middleware: times every request, counts it by route pattern and status,
/// and logs one line without the raw path.
pub async fn observe(
    metrics: Arc<Metrics>,
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().to_string();
    // The pattern, not the path: bounded label values, no ids or tokens.
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
    let result = next.call(req).await;
    let status = match &result {
        Ok(res) => res.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    let seconds = started.elapsed().as_secs_f64();
    metrics.record(&method, &route, status, seconds);
    tracing::info!(target: "http", method = %method, route = %route, status, ms = seconds * 1000.0, "request");
    result
}
