//! Metrics at the HTTP edge: every answer counted by route template, and the
//! `GET /metrics` exposition (served on its own listener, see
//! `startup::serve_metrics`).

use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::metrics::{Exposition, Snapshot, UNMATCHED_ROUTE};
use crate::service::outbox;
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

/// `GET /metrics`: the exposition, gauges read now, in the format `Accept`
/// asks for (see [`negotiate`]).
pub async fn serve_metrics(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let format = negotiate(
        req.headers()
            .get_all(header::ACCEPT)
            .filter_map(|value| value.to_str().ok()),
    );
    let (idle, in_use) = state.db.pool_connections();
    let pending = tokio::time::timeout(OUTBOX_COUNT_TIMEOUT, outbox::backlog(state.get_ref()))
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
    match state.metrics.render(&snapshot, format) {
        Ok(exposition) => HttpResponse::Ok()
            .content_type(format.content_type())
            .insert_header((header::VARY, "Accept"))
            .body(exposition),
        Err(error) => {
            tracing::error!(%error, "the metrics could not be rendered");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// One media range of `Accept`: its quality, its type and its parameters.
type MediaRange<'a> = (f32, &'a str, Vec<(&'a str, &'a str)>);

/// The format of a scrape, chosen as Prometheus's own client libraries do
/// (`expfmt.Negotiate` of client_golang): the media types of `Accept` by
/// preference (`q`, then the order given); the first that is
/// `application/openmetrics-text` (version 1.0.0, 0.0.1 or none) gets
/// OpenMetrics, the first that is `text/plain` the Prometheus text format;
/// anything else (no `Accept`, `*/*`, protobuf) gets the Prometheus text
/// format too.
pub fn negotiate<'a>(accept: impl Iterator<Item = &'a str>) -> Exposition {
    let mut ranges: Vec<MediaRange<'_>> = accept
        .flat_map(|value| value.split(','))
        .filter_map(|range| {
            let mut parts = range.split(';').map(str::trim);
            let media_type = parts.next().filter(|media_type| !media_type.is_empty())?;
            let mut quality = 1.0;
            let mut parameters = Vec::new();
            for parameter in parts.filter(|parameter| !parameter.is_empty()) {
                let (name, value) = parameter.split_once('=')?;
                let (name, value) = (name.trim(), value.trim().trim_matches('"'));
                if name.eq_ignore_ascii_case("q") {
                    quality = value.parse().ok()?;
                } else {
                    parameters.push((name, value));
                }
            }
            (quality > 0.0).then_some((quality, media_type, parameters))
        })
        .collect();
    // Stable: equal preferences keep the order the client gave.
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (_, media_type, parameters) in ranges {
        let version = parameters
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("version"))
            .map(|(_, version)| *version);
        if media_type.eq_ignore_ascii_case("application/openmetrics-text")
            && matches!(version, None | Some("1.0.0" | "0.0.1"))
        {
            return Exposition::OpenMetrics;
        }
        if media_type.eq_ignore_ascii_case("text/plain") {
            return Exposition::PrometheusText;
        }
    }
    Exposition::PrometheusText
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(accept: &[&str]) -> Exposition {
        negotiate(accept.iter().copied())
    }

    #[test]
    fn scrapers_get_the_format_they_prefer() {
        assert_eq!(of(&[]), Exposition::PrometheusText);
        assert_eq!(of(&["*/*"]), Exposition::PrometheusText);
        assert_eq!(
            of(&["text/plain; version=0.0.4"]),
            Exposition::PrometheusText
        );
        assert_eq!(
            of(&["application/openmetrics-text"]),
            Exposition::OpenMetrics
        );
        // What Prometheus 2 sends by default.
        assert_eq!(
            of(&[
                "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
            ]),
            Exposition::OpenMetrics
        );
        // Preference wins over order; q=0 refuses.
        assert_eq!(
            of(&["application/openmetrics-text;q=0.2, text/plain;q=0.9"]),
            Exposition::PrometheusText
        );
        assert_eq!(
            of(&["application/openmetrics-text;q=0, */*"]),
            Exposition::PrometheusText
        );
        assert_eq!(
            of(&["application/openmetrics-text; version=2.0.0, text/plain"]),
            Exposition::PrometheusText
        );
        assert_eq!(
            of(&[
                "application/vnd.google.protobuf",
                "application/openmetrics-text"
            ]),
            Exposition::OpenMetrics
        );
    }
}
