//! How request bodies, paths and queries are read: size and type limits, and
//! errors that say what is wrong without quoting what was sent.

use actix_web::error::{JsonPayloadError, QueryPayloadError};
use actix_web::http::header;
use actix_web::{HttpRequest, web};

use super::problem::{ApiError, FieldError};

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
