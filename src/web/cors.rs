//! Cross-origin calls from browsers: which origins may call the API (with
//! the refresh cookie), and the headers that say so, only to them.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_cors::Cors;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;

use crate::state::AppState;
use crate::web::origins;
use crate::web::problem::ApiError;

/// The methods browsers may call the API with from another origin.
const ALLOWED_METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];
/// The request headers they may send (beyond the CORS-safelisted ones).
const ALLOWED_HEADERS: [&str; 4] = [
    "authorization",
    "content-type",
    "x-request-id",
    super::cookies::CSRF_HEADER,
];

/// The refused-origin warning, at most once a minute per node.
static REFUSED_ORIGIN_WARNINGS: WarnThrottle = WarnThrottle::new(Duration::from_secs(60));

/// Lets a warning through at most once per `interval`, however often its
/// cause happens (a page retrying in a loop, or preflights from made-up
/// origins must not flood the log); the next one let through says how many
/// were held back. Each refused page still learns why from its own answer.
struct WarnThrottle {
    interval: Duration,
    /// When one was last let through, and how many were held back since.
    state: Mutex<(Option<Instant>, u64)>,
}

impl WarnThrottle {
    const fn new(interval: Duration) -> Self {
        Self {
            interval,
            state: Mutex::new((None, 0)),
        }
    }

    /// `Some(held back since the last one)` if a warning at `now` may be
    /// logged, `None` if it is held back.
    fn admit(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (last, held_back) = &mut *state;
        if last.is_some_and(|last| now.saturating_duration_since(last) < self.interval) {
            *held_back += 1;
            return None;
        }
        *last = Some(now);
        Some(std::mem::take(held_back))
    }
}

/// Browsers from the listed origins may call the API with a bearer token, and
/// with the refresh cookie; any other origin gets no CORS headers (and so no
/// access from scripts).
pub fn cors(origins: &[String]) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(ALLOWED_METHODS)
        .allowed_headers(ALLOWED_HEADERS)
        .expose_headers([
            header::RETRY_AFTER,
            header::WWW_AUTHENTICATE,
            header::HeaderName::from_static("x-request-id"),
        ])
        .max_age(3600)
        .block_on_origin_mismatch(false);
    for origin in origins {
        cors = if origin == "*" {
            cors.allow_any_origin()
        } else {
            cors.allowed_origin(origin)
        };
    }
    // Credentials (the refresh cookie) only for origins listed by name: with
    // `*`, any site could ride a user's cookie.
    if !origins.iter().any(|origin| origin == "*") {
        cors = cors.supports_credentials();
    }
    cors
}

/// Wraps [`cors`] (and runs without it too): actix-cors adds
/// `Access-Control-Allow-Credentials` (and the exposed headers) to every
/// answer, also to an origin it did not allow; they go unless the answer
/// allows its origin. And every answer may depend on `Origin` (the CORS
/// headers, a refused preflight, the refresh cookie's origin check), so each
/// says so in `Vary`: no cache hands one origin's answer to another.
///
/// A preflight that would be refused answers here, before actix-cors (whose
/// own refusal is a bare 400): `403` naming the origin and the setting that
/// would allow it (and a warning in the log), or the method or header the
/// API does not take from browsers, where the page itself only sees "Failed
/// to fetch".
pub async fn only_allowed_origins_get_cors_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> actix_web::Result<ServiceResponse<EitherBody<impl MessageBody>>> {
    if let Some(refusal) = refused_preflight(&req) {
        let mut response = req.error_response(refusal);
        tidy(response.headers_mut());
        return Ok(response.map_into_right_body());
    }
    match next.call(req).await {
        Ok(mut response) => {
            tidy(response.headers_mut());
            Ok(response.map_into_left_body())
        }
        // The answer is made from the error later: tidy it then.
        Err(mut error) => {
            error.add_response_mapper(|mut response| {
                tidy(response.headers_mut());
                response
            });
            Err(error)
        }
    }
}

/// The refusal of a CORS preflight (`OPTIONS` with `Origin` and
/// `Access-Control-Request-Method`) from an origin outside
/// `CORS_ALLOWED_ORIGINS`, or from an allowed one asking for a method or
/// header the API does not take; `None` for anything else.
fn refused_preflight(req: &ServiceRequest) -> Option<ApiError> {
    let headers = req.headers();
    if req.method() != Method::OPTIONS
        || !headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        return None;
    }
    let origin = headers.get(header::ORIGIN)?.to_str().unwrap_or_default();
    let allowed_origins = &req
        .app_data::<web::Data<AppState>>()?
        .edge
        .cors_allowed_origins;
    if origins::allowed(origin, allowed_origins) {
        return refused_method_or_headers(headers);
    }
    let shown = origins::shown(origin);
    let page = shown.map_or_else(
        || "This page".to_owned(),
        |origin| format!("The page at {origin}"),
    );
    let example = shown.unwrap_or("http://localhost:5173");
    let listed = if allowed_origins.is_empty() {
        "CORS_ALLOWED_ORIGINS is empty".to_owned()
    } else {
        "its origin is not in CORS_ALLOWED_ORIGINS".to_owned()
    };
    if let Some(not_logged) = REFUSED_ORIGIN_WARNINGS.admit(std::time::Instant::now()) {
        tracing::warn!(
            origin = shown.unwrap_or("(not a web origin)"),
            allowed = %allowed_origins.join(","),
            refused_since_last_warning = not_logged,
            "refused a CORS preflight: the origin is not in CORS_ALLOWED_ORIGINS"
        );
    }
    Some(ApiError::PreflightRefused {
        why: format!(
            "{page} may not call this API from a browser: {listed}. Add the page's origin to \
             CORS_ALLOWED_ORIGINS (comma-separated, each scheme://host:port exactly as the \
             address bar shows it; localhost and 127.0.0.1 differ), e.g. \
             CORS_ALLOWED_ORIGINS={example}, and restart the server."
        ),
    })
}

/// An allowed origin's preflight asking for a method or a header outside
/// [`ALLOWED_METHODS`] and [`ALLOWED_HEADERS`]: which one, and what is taken.
fn refused_method_or_headers(headers: &HeaderMap) -> Option<ApiError> {
    let method = headers
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)?
        .to_str()
        .unwrap_or_default();
    if !ALLOWED_METHODS.contains(&method) {
        return Some(ApiError::PreflightRefused {
            why: format!(
                "This API takes no {} request from a browser on another origin; it takes {}.",
                method.chars().take(32).collect::<String>(),
                ALLOWED_METHODS.join(", ")
            ),
        });
    }
    let requested = headers
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let refused: Vec<String> = requested
        .split(',')
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty() && !ALLOWED_HEADERS.contains(&name.as_str()))
        .take(8)
        .map(|name| name.chars().take(64).collect())
        .collect();
    if refused.is_empty() {
        return None;
    }
    Some(ApiError::PreflightRefused {
        why: format!(
            "This API does not take the header{} {} from a browser on another origin: \
             send only {} (and the CORS-safelisted ones).",
            if refused.len() == 1 { "" } else { "s" },
            refused.join(", "),
            ALLOWED_HEADERS.join(", ")
        ),
    })
}

fn tidy(headers: &mut HeaderMap) {
    if !headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
        headers.remove(header::ACCESS_CONTROL_ALLOW_CREDENTIALS);
        headers.remove(header::ACCESS_CONTROL_EXPOSE_HEADERS);
    }
    let varies_by_origin = headers.get_all(header::VARY).any(|value| {
        value.to_str().is_ok_and(|value| {
            value
                .split(',')
                .any(|name| name.trim().eq_ignore_ascii_case("origin") || name.trim() == "*")
        })
    });
    if !varies_by_origin {
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_warning_goes_out_once_per_interval_and_then_says_how_many_were_held_back() {
        let throttle = WarnThrottle::new(Duration::from_secs(60));
        let start = Instant::now();
        assert_eq!(throttle.admit(start), Some(0));
        assert_eq!(throttle.admit(start + Duration::from_secs(1)), None);
        assert_eq!(throttle.admit(start + Duration::from_secs(59)), None);
        assert_eq!(throttle.admit(start + Duration::from_secs(60)), Some(2));
        assert_eq!(throttle.admit(start + Duration::from_secs(61)), None);
        assert_eq!(throttle.admit(start + Duration::from_secs(200)), Some(1));
    }
}
