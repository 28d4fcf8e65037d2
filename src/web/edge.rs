//! How the HTTP edge behaves around the handlers: how bodies, paths and
//! queries are parsed, what unknown routes answer, the request log, and the
//! safety net that turns any error response not produced by [`ApiError`] into
//! problem+json.

use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ResourceDef, ServiceRequest, ServiceResponse};
use actix_web::error::{JsonPayloadError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::{ErrorHandlerResponse, Next};
use actix_web::{HttpRequest, ResponseError, web};
use tracing::Instrument as _;
use utoipa::openapi::OpenApi;

use super::problem::{ApiError, FieldError, PROBLEM_CONTENT_TYPE};

/// Largest JSON body accepted.
pub const JSON_BODY_LIMIT: usize = 16 * 1024;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(JSON_BODY_LIMIT)
        .content_type_required(true)
        .error_handler(|error, _| json_error(error).into())
}

fn json_error(error: JsonPayloadError) -> ApiError {
    match error {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            ApiError::PayloadTooLarge
        }
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType,
        JsonPayloadError::Deserialize(error) => {
            ApiError::MalformedRequest(describe_json_error(&error))
        }
        other => ApiError::MalformedRequest(format!("the body could not be read: {other}")),
    }
}

/// Says what is wrong with a body without quoting it: serde's messages for
/// wrong types include the value, which may be a password.
fn describe_json_error(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let position = format!("line {}, column {}", error.line(), error.column());
    match error.classify() {
        serde_json::error::Category::Data
            if message.starts_with("missing field") || message.starts_with("unknown field") =>
        {
            message
        }
        serde_json::error::Category::Data => {
            format!("a field has the wrong type or format ({position})")
        }
        _ => format!("the body is not valid JSON ({position})"),
    }
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_, _| ApiError::NotFound.into())
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|error, _| {
        let message = match &error {
            QueryPayloadError::Deserialize(inner) => inner.to_string(),
            _ => "the query string could not be read".to_owned(),
        };
        // Serde names the parameter; say which without quoting the value.
        let message = message
            .split(':')
            .next()
            .unwrap_or("invalid query parameter")
            .to_owned();
        ApiError::invalid_field("query", FieldError::new("invalid", message)).into()
    })
}

/// Every path the API serves and the methods it accepts there, taken from the
/// OpenAPI document (so it cannot drift from the routes), to tell 404 from 405.
pub struct RouteTable {
    routes: Vec<(ResourceDef, Vec<&'static str>)>,
}

impl RouteTable {
    pub fn from_openapi(openapi: &OpenApi) -> Self {
        let mut routes: Vec<(ResourceDef, Vec<&'static str>)> = openapi
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let methods = [
                    ("GET", item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ]
                .into_iter()
                .filter_map(|(method, present)| present.then_some(method))
                .collect();
                (ResourceDef::new(path.as_str()), methods)
            })
            .collect();
        // Served by Swagger UI rather than by annotated handlers.
        routes.push((ResourceDef::new("/openapi.json"), vec!["GET"]));
        routes.push((ResourceDef::new("/docs"), vec!["GET"]));
        routes.push((ResourceDef::new("/docs/{_:.*}"), vec!["GET"]));
        Self { routes }
    }

    fn allowed_methods(&self, path: &str) -> Vec<&'static str> {
        let mut allowed: Vec<&'static str> = self
            .routes
            .iter()
            .filter(|(pattern, _)| pattern.is_match(path))
            .flat_map(|(_, methods)| methods.iter().copied())
            .collect();
        allowed.sort_unstable();
        allowed.dedup();
        allowed
    }
}

/// `/docs` → `/docs/`, where Swagger UI's relative asset paths resolve.
pub async fn redirect_to_docs() -> actix_web::HttpResponse {
    actix_web::HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/docs/"))
        .finish()
}

/// The default service: 405 with `Allow` for a known path, 404 otherwise.
pub async fn no_such_route(
    req: HttpRequest,
    routes: web::Data<RouteTable>,
) -> Result<actix_web::HttpResponse, ApiError> {
    let allowed = routes.allowed_methods(req.path());
    Err(if allowed.is_empty() {
        ApiError::NotFound
    } else {
        ApiError::MethodNotAllowed {
            allow: allowed.join(", "),
        }
    })
}

/// Safety net for error responses that did not come from [`ApiError`] (actix
/// internals, Swagger UI): same status, problem+json body.
pub fn render_bare_error_as_problem<B>(
    response: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes() == PROBLEM_CONTENT_TYPE.as_bytes());
    if is_problem {
        return Ok(ErrorHandlerResponse::Response(
            response.map_into_left_body(),
        ));
    }
    let error = match response.status() {
        StatusCode::NOT_FOUND => ApiError::NotFound,
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType,
        StatusCode::UNAUTHORIZED => ApiError::InvalidToken,
        StatusCode::FORBIDDEN => ApiError::Forbidden,
        StatusCode::SERVICE_UNAVAILABLE => ApiError::ServiceUnavailable,
        status if status.is_client_error() => {
            ApiError::MalformedRequest("the request could not be understood".to_owned())
        }
        _ => ApiError::Internal(anyhow::anyhow!(
            "unhandled error response with status {}",
            response.status()
        )),
    };
    let (request, original) = response.into_parts();
    let mut replacement = error.error_response();
    *replacement.status_mut() = original.status();
    // Keep what the original said about the request (Allow, CORS, …).
    for (name, value) in original.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            replacement
                .headers_mut()
                .insert(name.clone(), value.clone());
        }
    }
    let response = ServiceResponse::new(request, replacement).map_into_right_body();
    Ok(ErrorHandlerResponse::Response(response))
}

/// One log line per request, tagged with a request id that is taken from
/// `X-Request-Id` when the client (or a proxy) sent a sane one, and returned.
pub async fn request_log(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> actix_web::Result<ServiceResponse<EitherBody<impl MessageBody>>> {
    let request_id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|value| {
            !value.is_empty()
                && value.len() <= 128
                && value.bytes().all(|byte| byte.is_ascii_graphic())
        })
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), ToOwned::to_owned);
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %req.method(),
        path = %req.path(),
    );
    let started = Instant::now();
    let mut response = next.call(req).instrument(span.clone()).await?;
    let status = response.status().as_u16();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| tracing::info!(status, elapsed_ms, "request"));
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    Ok(response.map_into_left_body())
}

/// A JSON body that may be left out: an empty body is `None`, anything else
/// must be valid JSON of `T` (unlike `Option<Json<T>>`, which would silently
/// turn a malformed body into `None`).
pub struct OptionalJson<T>(pub Option<T>);

impl<T: serde::de::DeserializeOwned + 'static> actix_web::FromRequest for OptionalJson<T> {
    type Error = actix_web::Error;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let declared_empty = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|length| length.trim() == "0");
        let has_body = req.headers().contains_key(header::TRANSFER_ENCODING)
            || (req.headers().contains_key(header::CONTENT_LENGTH) && !declared_empty);
        if !has_body {
            return Box::pin(std::future::ready(Ok(Self(None))));
        }
        let json = web::Json::<T>::from_request(req, payload);
        Box::pin(async move { Ok(Self(Some(json.await?.into_inner()))) })
    }
}
