//! How request bodies, paths and queries are read: size and type limits, and
//! errors that say what is wrong without quoting what was sent.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::{JsonPayloadError, QueryPayloadError};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{HttpRequest, web};

use super::problem::{ApiError, FieldError};
use crate::state::AppState;

/// Reads a request's body, once its headers have arrived, within
/// `REQUEST_BODY_TIMEOUT`: a client that declares a body and sends it slowly
/// (or never) gets `408 request_timeout` and its connection is closed, instead
/// of holding a connection (and a file descriptor) for as long as it likes.
/// Bodies are small here (`JSON_BODY_LIMIT`), so reading them whole first
/// costs nothing; a longer one is refused with `413` at once.
pub async fn read_body_in_time(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> actix_web::Result<ServiceResponse<EitherBody<impl MessageBody>>> {
    if declares_body(req.headers()) {
        let timeout = req
            .app_data::<web::Data<AppState>>()
            .map_or(std::time::Duration::from_secs(5), |state| {
                state.policy.request_body_timeout
            });
        let payload = req.extract::<web::Payload>().await?;
        let read = tokio::time::timeout(timeout, payload.to_bytes_limited(JSON_BODY_LIMIT)).await;
        let refusal = match read {
            Ok(Ok(Ok(body))) => {
                req.set_payload(actix_web::dev::Payload::from(body));
                None
            }
            Ok(Ok(Err(error))) => Some(ApiError::MalformedRequest(format!(
                "the body could not be read: {error}"
            ))),
            Ok(Err(_too_long)) => Some(ApiError::PayloadTooLarge),
            Err(_elapsed) => Some(ApiError::RequestTimeout),
        };
        if let Some(refusal) = refusal {
            return Ok(req.error_response(refusal).map_into_right_body());
        }
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

/// A body follows the headers: chunked, or a non-zero `Content-Length`.
fn declares_body(headers: &header::HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|length| length.trim() != "0")
}

/// Largest JSON body accepted.
pub const JSON_BODY_LIMIT: usize = 16 * 1024;
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

/// A JSON body that may be left out: an empty body is `None`, anything else
/// must be valid JSON of `T` (unlike `Option<Json<T>>`, which would silently
/// turn a malformed body into `None`).
pub struct OptionalJson<T>(pub Option<T>);

impl<T: serde::de::DeserializeOwned + 'static> actix_web::FromRequest for OptionalJson<T> {
    type Error = actix_web::Error;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        if !declares_body(req.headers()) {
            return Box::pin(std::future::ready(Ok(Self(None))));
        }
        let json = web::Json::<T>::from_request(req, payload);
        Box::pin(async move { Ok(Self(Some(json.await?.into_inner()))) })
    }
}
