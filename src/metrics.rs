//! Prometheus metrics (the contract's "Observability" section), kept in a
//! registry of this application's own (no process-wide globals: two apps in
//! one process, as in the tests, count apart) and rendered on
//! `METRICS_BIND_ADDR` in the text format the scraper asks for: OpenMetrics or
//! the Prometheus text format 0.0.4.
//!
//! Counters and histograms are updated where things happen; the gauges that
//! describe a state (pool, hash queue, outbox, memory) are read when scraped.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The text formats a scrape can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposition {
    /// OpenMetrics 1.0 text (`application/openmetrics-text`): `_total`
    /// counters, `# EOF`.
    OpenMetrics,
    /// The Prometheus text format 0.0.4 (`text/plain; version=0.0.4`), which
    /// every Prometheus-compatible tool reads, and the answer when a scraper
    /// names neither.
    PrometheusText,
}

impl Exposition {
    /// The `Content-Type` of the exposition in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Self::PrometheusText => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        }
    }
}

/// Answers to requests that matched no route share one label value, so that
/// scanners cannot grow the series without bound.
pub const UNMATCHED_ROUTE: &str = "unmatched";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GrantLabels {
    grant_type: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

/// Every metric the service exports.
pub struct Metrics {
    registry: Registry,
    http_requests: Family<RequestLabels, Counter>,
    http_request_duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    logins: Family<OutcomeLabels, Counter>,
    refresh_reuse_detected: Counter,
    oauth_tokens: Family<GrantLabels, Counter>,
    rate_limited: Family<RouteLabels, Counter>,
    mail_delivery_failures: Counter,
    hash_queue_depth: Gauge,
    db_pool_connections: Family<StateLabels, Gauge>,
    mail_outbox_pending: Gauge,
    resident_memory: Gauge,
}

/// What the gauges show, read at scrape time.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Password hashes admitted but not yet running.
    pub hash_queue_depth: i64,
    pub db_connections_idle: i64,
    pub db_connections_in_use: i64,
    /// `None` when the database did not answer in time: the last value stays.
    pub mail_outbox_pending: Option<i64>,
}

/// Request latencies from 0.5 ms to about 16 s.
fn request_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_5, 2.0, 16))
}

/// Password hash durations from 1 ms to about 4 s (argon2id at the default
/// cost takes tens of milliseconds).
pub fn password_hash_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 13))
}

impl Metrics {
    /// `password_hash_seconds` is the histogram the password hasher records
    /// into (it times the hashes where they run).
    pub fn new(password_hash_seconds: Histogram) -> Self {
        let mut registry = Registry::default();
        let http_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            http_requests.clone(),
        );
        let http_request_duration =
            Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                request_histogram,
            );
        registry.register(
            "http_request_duration_seconds",
            "Time from request to response, by route template",
            http_request_duration.clone(),
        );
        let logins = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "portcullis_logins",
            "Login attempts (password, second step, passkey) by outcome",
            logins.clone(),
        );
        registry.register(
            "portcullis_password_hash_seconds",
            "Time one argon2id hash or verification takes, queueing excluded",
            password_hash_seconds,
        );
        let hash_queue_depth = Gauge::default();
        registry.register(
            "portcullis_hash_queue_depth",
            "Password hashes waiting for a hashing thread",
            hash_queue_depth.clone(),
        );
        let db_pool_connections = Family::<StateLabels, Gauge>::default();
        registry.register(
            "portcullis_db_pool_connections",
            "Database connections of this node's pool, by state (idle, in_use)",
            db_pool_connections.clone(),
        );
        let refresh_reuse_detected = Counter::default();
        registry.register(
            "portcullis_refresh_reuse_detected",
            "Spent refresh tokens shown again (the session was revoked)",
            refresh_reuse_detected.clone(),
        );
        let oauth_tokens = Family::<GrantLabels, Counter>::default();
        registry.register(
            "portcullis_oauth_tokens",
            "Token endpoint answers (OpenID Provider), by grant type and outcome: issued, or the RFC 6749 error",
            oauth_tokens.clone(),
        );
        let rate_limited = Family::<RouteLabels, Counter>::default();
        registry.register(
            "portcullis_rate_limited",
            "Requests answered 429, by route template",
            rate_limited.clone(),
        );
        let mail_outbox_pending = Gauge::default();
        registry.register(
            "portcullis_mail_outbox_pending",
            "Messages in the outbox, not yet delivered (all nodes)",
            mail_outbox_pending.clone(),
        );
        let mail_delivery_failures = Counter::default();
        registry.register(
            "portcullis_mail_delivery_failures",
            "Failed attempts to hand a message to the mail server",
            mail_delivery_failures.clone(),
        );
        let resident_memory = Gauge::default();
        registry.register(
            "process_resident_memory_bytes",
            "Resident memory size of this process",
            resident_memory.clone(),
        );
        Self {
            registry,
            http_requests,
            http_request_duration,
            logins,
            refresh_reuse_detected,
            oauth_tokens,
            rate_limited,
            mail_delivery_failures,
            hash_queue_depth,
            db_pool_connections,
            mail_outbox_pending,
            resident_memory,
        }
    }

    /// One answered request. `route` is the template (`/admin/users/{id}`),
    /// never the raw path; a method outside the standard ones counts as
    /// `other` (any token is a valid method: labels must not grow with them).
    pub fn request_answered(&self, method: &str, route: &str, status: u16, seconds: f64) {
        const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
        let method = METHODS
            .into_iter()
            .find(|known| *known == method)
            .unwrap_or("other");
        self.http_requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status: status.to_string(),
            })
            .inc();
        let route = RouteLabels {
            route: route.to_owned(),
        };
        self.http_request_duration
            .get_or_create(&route)
            .observe(seconds);
        if status == 429 {
            self.rate_limited.get_or_create(&route).inc();
        }
    }

    /// A login attempt's outcome (`success`, `mfa_required`,
    /// `invalid_credentials`, …).
    pub fn login(&self, outcome: &str) {
        self.logins
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    pub fn refresh_reuse_detected(&self) {
        self.refresh_reuse_detected.inc();
    }

    /// One answer of the OpenID Provider's token endpoint: `grant_type` one
    /// of the three it knows or `other`, `outcome` `issued` or an RFC 6749
    /// error code (both from fixed sets, so the series stay few).
    pub fn oauth_token(&self, grant_type: &'static str, outcome: &'static str) {
        self.oauth_tokens
            .get_or_create(&GrantLabels {
                grant_type,
                outcome,
            })
            .inc();
    }

    pub fn mail_delivery_failed(&self) {
        self.mail_delivery_failures.inc();
    }

    /// The exposition in `format`, with the gauges set from `snapshot`.
    pub fn render(
        &self,
        snapshot: &Snapshot,
        format: Exposition,
    ) -> Result<String, std::fmt::Error> {
        self.hash_queue_depth.set(snapshot.hash_queue_depth);
        for (state, value) in [
            ("idle", snapshot.db_connections_idle),
            ("in_use", snapshot.db_connections_in_use),
        ] {
            self.db_pool_connections
                .get_or_create(&StateLabels {
                    state: state.to_owned(),
                })
                .set(value);
        }
        if let Some(pending) = snapshot.mail_outbox_pending {
            self.mail_outbox_pending.set(pending);
        }
        if let Some(bytes) = resident_memory_bytes() {
            self.resident_memory.set(bytes);
        }
        let mut exposition = String::new();
        match format {
            Exposition::OpenMetrics => {
                prometheus_client::encoding::text::encode(&mut exposition, &self.registry)?;
            }
            Exposition::PrometheusText => {
                prometheus_client::encoding::prometheus_text::encode(
                    &mut exposition,
                    &self.registry,
                )?;
            }
        }
        Ok(exposition)
    }
}

/// The resident set size, from `VmRSS` in `/proc/self/status` on Linux;
/// `None` elsewhere.
fn resident_memory_bytes() -> Option<i64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}
