//! Metrics at the HTTP edge: every answer counted by route template, and the
//! `GET /metrics` exposition (served on its own listener, see
//! `startup::serve_metrics`).

use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};

use crate::metrics::{CONTENT_TYPE, Snapshot, UNMATCHED_ROUTE};
use crate::service::mail;
use crate::state::AppState;

/// How long a scrape waits for the outbox count; past it the gauge keeps its
/// last value rather than holding the scrape.
const OUTBOX_COUNT_TIMEOUT: Duration = Duration::from_secs(1);

/// Counts the answer to every request (`http_requests_total`,
/// `http_request_duration_seconds`, and 429s in `portcullis_rate_limited_total`).
pub async fn observe_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> actix_web::Result<ServiceResponse<impl MessageBody>> {
    let started = Instant::now();
    let response = next.call(req).await?;
    let request = response.request();
    if let Some(state) = request.app_data::<web::Data<AppState>>() {
        let route = request.match_pattern();
        state.metrics.request_answered(
            request.method().as_str(),
            route.as_deref().unwrap_or(UNMATCHED_ROUTE),
            response.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    Ok(response)
}

/// `GET /metrics`: the exposition, gauges read now.
pub async fn serve_metrics(state: web::Data<AppState>) -> HttpResponse {
    let (idle, in_use) = state.db.pool_connections();
    let pending = tokio::time::timeout(OUTBOX_COUNT_TIMEOUT, mail::backlog(&state))
        .await
        .ok()
        .and_then(Result::ok)
        .map(|backlog| backlog.pending);
    let snapshot = Snapshot {
        hash_queue_depth: i64::try_from(state.passwords.queue_depth()).unwrap_or(i64::MAX),
        db_connections_idle: i64::from(idle),
        db_connections_in_use: i64::from(in_use),
        mail_outbox_pending: pending,
    };
    match state.metrics.render(&snapshot) {
        Ok(exposition) => HttpResponse::Ok()
            .content_type(CONTENT_TYPE)
            .body(exposition),
        Err(error) => {
            tracing::error!(%error, "the metrics could not be rendered");
            HttpResponse::InternalServerError().finish()
        }
    }
}
