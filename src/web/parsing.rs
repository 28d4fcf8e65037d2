//! How request bodies, paths and queries are read: size and type limits, and
//! errors that say what is wrong without quoting what was sent.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::{JsonPayloadError, QueryPayloadError};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{HttpMessage as _, HttpRequest, web};

use super::connections::ConnectionTicket;
use super::problem::{ApiError, FieldError, FieldErrors};
use crate::domain::{EMAIL_MAX, USERNAME_MAX, Violation};
use crate::service::login::Identifier;
use crate::state::AppState;

/// Reads a request's body, once its headers have arrived, within
/// `REQUEST_BODY_TIMEOUT`: a client that declares a body and sends it slowly
/// (or never) gets `408 request_timeout` and its connection is closed, instead
/// of holding a connection (and a file descriptor) for as long as it likes.
/// Bodies are small here (`JSON_BODY_LIMIT`), so reading them whole first
/// costs nothing; a longer one is refused with `413` at once.
///
/// While it waits for the body, the connection may also be closed (with the
/// same `408`) to make room for new connections when the node is near
/// capacity (`connections`): stalled bodies cannot fill it within the deadline.
pub async fn read_body_in_time(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> actix_web::Result<ServiceResponse<EitherBody<impl MessageBody>>> {
    if declares_body(req.headers()) {
        let timeout = req
            .app_data::<web::Data<AppState>>()
            .map_or(std::time::Duration::from_secs(5), |state| {
                state.edge.request_body_timeout
            });
        let waiting = req
            .conn_data::<ConnectionTicket>()
            .map(ConnectionTicket::wait_for_body);
        let closed_to_make_room = async {
            match &waiting {
                Some(waiting) => waiting.closed_to_make_room().await,
                None => std::future::pending().await,
            }
        };
        let payload = req.extract::<web::Payload>().await?;
        let read = tokio::select! {
            // A body that has arrived is taken, even if room is wanted.
            biased;
            read = tokio::time::timeout(timeout, payload.to_bytes_limited(JSON_BODY_LIMIT)) => Some(read),
            () = closed_to_make_room => None,
        };
        // No longer waiting: from here on the connection is not closed for room.
        drop(waiting);
        let refusal = match read {
            None => Some(ApiError::RequestTimeout),
            Some(Ok(Ok(Ok(body)))) => {
                // Kept (the same buffer) so that a body that does not fit its
                // type can be told by field name: see `json_error`.
                req.extensions_mut().insert(RawBody(body.clone()));
                req.set_payload(actix_web::dev::Payload::from(body));
                None
            }
            Some(Ok(Ok(Err(error)))) => Some(ApiError::MalformedRequest(format!(
                "the body could not be read: {error}"
            ))),
            Some(Ok(Err(_too_long))) => Some(ApiError::PayloadTooLarge),
            Some(Err(_elapsed)) => Some(ApiError::RequestTimeout),
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

/// The request's body as it arrived, kept in the request's extensions by
/// [`read_body_in_time`].
#[derive(Clone)]
struct RawBody(actix_web::web::Bytes);

/// Largest JSON body accepted.
pub const JSON_BODY_LIMIT: usize = 16 * 1024;
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(JSON_BODY_LIMIT)
        .content_type_required(true)
        .error_handler(|error, req| json_error(error, req).into())
}

fn json_error(error: JsonPayloadError, req: &HttpRequest) -> ApiError {
    match error {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            ApiError::PayloadTooLarge
        }
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType,
        JsonPayloadError::Deserialize(error) => {
            let body = req.extensions().get::<RawBody>().cloned();
            ApiError::MalformedRequest(describe_json_error(
                &error,
                body.as_ref().map(|body| body.0.as_ref()),
            ))
        }
        other => ApiError::MalformedRequest(format!("the body could not be read: {other}")),
    }
}

/// Says what is wrong with a body without quoting it: serde's messages for
/// wrong types include the value, which may be a password. A field of the
/// wrong value is named (found in `body` at the error's position) with what
/// it accepts: "`token_delivery` must be `body` or `cookie`".
fn describe_json_error(error: &serde_json::Error, body: Option<&[u8]>) -> String {
    let message = error.to_string();
    let position = format!("line {}, column {}", error.line(), error.column());
    match error.classify() {
        serde_json::error::Category::Data
            if message.starts_with("missing field") || message.starts_with("unknown field") =>
        {
            message
        }
        serde_json::error::Category::Data => {
            let field = body.and_then(|body| field_at(body, error.line(), error.column()));
            let message = message
                .strip_suffix(&format!(
                    " at line {} column {}",
                    error.line(),
                    error.column()
                ))
                .unwrap_or(&message);
            match (field, expectation(message)) {
                (Some(field), Some(expected)) => format!("`{field}` {expected} ({position})"),
                (Some(field), None) => {
                    format!("`{field}` has the wrong type or format ({position})")
                }
                (None, _) => format!("a field has the wrong type or format ({position})"),
            }
        }
        _ => format!("the body is not valid JSON ({position})"),
    }
}

/// What a field accepts, from serde's message about it without the part
/// that quotes the value: "must be `body` or `cookie`", "must be a boolean".
fn expectation(message: &str) -> Option<String> {
    if message.starts_with("unknown variant") {
        let accepted = accepted_values(message);
        return (accepted != "is not a valid value").then_some(accepted);
    }
    if !(message.starts_with("invalid type:") || message.starts_with("invalid value:")) {
        return None;
    }
    let (_, expected) = message.rsplit_once(", expected ")?;
    let expected = match expected {
        // An enum given something other than a string.
        "variant identifier" => "a string",
        other => other,
    };
    let plain = expected.len() <= 80
        && expected
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '`' | '_' | '-' | '.'));
    plain.then(|| format!("must be {expected}"))
}

/// The field (`a.b[2].c`) whose value ends at `line`/`column` (serde_json's
/// 1-based line and byte column) in `body`, if its name is a plain
/// identifier: the body is walked up to that point, keeping track of the
/// objects and arrays it is in and the key each object is at.
fn field_at(body: &[u8], line: usize, column: usize) -> Option<String> {
    enum Frame {
        Object(Option<String>),
        Array(usize),
    }
    let line_start = if line <= 1 {
        0
    } else {
        body.iter()
            .enumerate()
            .filter(|(_, byte)| **byte == b'\n')
            .nth(line - 2)?
            .0
            + 1
    };
    let end = (line_start + column).min(body.len());
    let mut stack: Vec<Frame> = Vec::new();
    let mut expecting_key = false;
    let mut i = 0;
    while i < end {
        match body[i] {
            b'{' => {
                stack.push(Frame::Object(None));
                expecting_key = true;
            }
            b'[' => stack.push(Frame::Array(0)),
            b'}' | b']' => {
                stack.pop();
                expecting_key = false;
            }
            b',' => match stack.last_mut() {
                Some(Frame::Object(key)) => {
                    *key = None;
                    expecting_key = true;
                }
                Some(Frame::Array(index)) => *index += 1,
                None => {}
            },
            b'"' => {
                let start = i + 1;
                let mut j = start;
                let mut escaped = false;
                while j < body.len() {
                    match body[j] {
                        _ if escaped => escaped = false,
                        b'\\' => escaped = true,
                        b'"' => break,
                        _ => {}
                    }
                    j += 1;
                }
                if expecting_key && let Some(Frame::Object(key)) = stack.last_mut() {
                    *key = Some(String::from_utf8_lossy(&body[start..j]).into_owned());
                    expecting_key = false;
                }
                i = j;
            }
            _ => {}
        }
        i += 1;
    }
    let mut path = String::new();
    for frame in &stack {
        match frame {
            Frame::Object(Some(key)) => {
                let plain = !key.is_empty()
                    && key.len() <= 64
                    && key
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
                if !plain {
                    return None;
                }
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
            }
            Frame::Array(index) => path.push_str(&format!("[{index}]")),
            Frame::Object(None) => {}
        }
    }
    (!path.is_empty()).then_some(path)
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_, _| ApiError::NotFound.into())
}

/// For `web::Query` extractors that do not go through [`Query`]: a 422 that
/// quotes nothing the client sent.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|_, _| {
        ApiError::invalid_field(
            "query",
            FieldError::new("invalid", "the query string could not be read"),
        )
        .into()
    })
}

/// A query string read into `T`. A parameter that does not fit answers 422
/// `validation_failed` naming the parameter and what it accepts (the allowed
/// values of an enum), never the value sent: that may be markup or a secret
/// that the client would display or log.
pub struct Query<T>(pub T);

impl<T> Query<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: serde::de::DeserializeOwned> actix_web::FromRequest for Query<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(read_query(req.query_string()).map(Self))
    }
}

fn read_query<T: serde::de::DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    web::Query::<T>::from_query(query)
        .map(web::Query::into_inner)
        .map_err(|_| ApiError::Validation(query_violations::<T>(query)))
}

/// Which parameters of `query` make it unreadable as `T`, and why. Every
/// field of `T` is optional, so each parameter can be tried on its own.
fn query_violations<T: serde::de::DeserializeOwned>(query: &str) -> super::problem::FieldErrors {
    let names = field_names::<T>();
    let pairs = web::Query::<Vec<(String, String)>>::from_query(query)
        .map(web::Query::into_inner)
        .unwrap_or_default();
    let mut violations = super::problem::FieldErrors::new();
    let mut seen = std::collections::HashSet::new();
    for (key, value) in &pairs {
        let Some(name) = names.iter().copied().find(|name| *name == key) else {
            continue;
        };
        if !seen.insert(name) {
            violations
                .entry(name)
                .or_default()
                .push(FieldError::new("invalid", "must be given at most once"));
            continue;
        }
        let alone = url::form_urlencoded::Serializer::new(String::new())
            .append_pair(key, value)
            .finish();
        if let Err(error) = web::Query::<T>::from_query(&alone) {
            let message = match &error {
                QueryPayloadError::Deserialize(error) => accepted_values(&error.to_string()),
                _ => "is not a valid value".to_owned(),
            };
            violations
                .entry(name)
                .or_default()
                .push(FieldError::new("invalid", message));
        }
    }
    if violations.is_empty() {
        violations.insert(
            "query",
            vec![FieldError::new(
                "invalid",
                "the query string could not be read",
            )],
        );
    }
    violations
}

/// What a parameter accepts, from serde's message about it without the part
/// that quotes the value: "unknown variant `<x>`, expected `user` or `admin`"
/// says "must be `user` or `admin`".
fn accepted_values(message: &str) -> String {
    if message.starts_with("unknown variant")
        && let Some((_, expected)) = message.rsplit_once(", expected ")
    {
        // The list is of the type's own variants; anything else is refused
        // rather than shown.
        let listed = expected
            .strip_prefix("one of ")
            .unwrap_or(expected)
            .split(", ")
            .flat_map(|part| part.split(" or "))
            .all(|variant| {
                variant.len() > 2
                    && variant.starts_with('`')
                    && variant.ends_with('`')
                    && variant[1..variant.len() - 1]
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            });
        if listed {
            return format!("must be {expected}");
        }
    }
    if message.contains("`true` or `false`") {
        return "must be `true` or `false`".to_owned();
    }
    "is not a valid value".to_owned()
}

/// The parameter names serde reads `T` from (renames applied): the derived
/// `Deserialize` of a struct hands them to `deserialize_struct`.
fn field_names<T: serde::de::DeserializeOwned>() -> &'static [&'static str] {
    use serde::de::Visitor;

    #[derive(Debug)]
    struct Stop;
    impl std::fmt::Display for Stop {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("field names read")
        }
    }
    impl std::error::Error for Stop {}
    impl serde::de::Error for Stop {
        fn custom<M: std::fmt::Display>(_: M) -> Self {
            Stop
        }
    }

    struct FieldNames<'a>(&'a mut &'static [&'static str]);
    impl<'de> serde::Deserializer<'de> for FieldNames<'_> {
        type Error = Stop;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Stop> {
            *self.0 = fields;
            Err(Stop)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }

    let mut names: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldNames(&mut names));
    names
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

/// Whether a request must name an account or may leave it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// A password login: exactly one of `email` and `username`.
    Required,
    /// A passkey login: a discoverable passkey names the account itself.
    Optional,
}

/// The account a login names by `email` or `username`, each within its
/// length and free of control characters; every broken rule goes into
/// `errors` (the one way every login route reads an identifier).
pub fn login_identifier(
    email: Option<String>,
    username: Option<String>,
    naming: Naming,
    errors: &mut FieldErrors,
) -> Option<Identifier> {
    for (field, value, max) in [
        ("email", &email, EMAIL_MAX),
        ("username", &username, USERNAME_MAX),
    ] {
        let Some(value) = value else { continue };
        if value.chars().count() > max {
            errors
                .entry(field)
                .or_default()
                .push(Violation::too_long(max));
        }
        if let Err(violation) = Violation::check_no_control_characters(value) {
            errors.entry(field).or_default().push(violation);
        }
    }
    let mut one_of = |rule: &str| {
        errors
            .entry("email")
            .or_default()
            .push(Violation::new("one_of", rule));
    };
    match (email, username) {
        (Some(email), None) => Some(Identifier::Email(email)),
        (None, Some(username)) => Some(Identifier::Username(username)),
        (None, None) if naming == Naming::Optional => None,
        (None, None) | (Some(_), Some(_)) if naming == Naming::Required => {
            one_of("give exactly one of `email` and `username`");
            None
        }
        _ => {
            one_of("give at most one of `email` and `username`");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Delivery {
        Body,
        Cookie,
    }

    #[derive(Debug, serde::Deserialize)]
    #[expect(dead_code, reason = "only deserialized")]
    struct Login {
        email: String,
        remember: Option<bool>,
        token_delivery: Option<Delivery>,
        nested: Option<Vec<Inner>>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[expect(dead_code, reason = "only deserialized")]
    struct Inner {
        count: u32,
    }

    fn described(body: &str) -> String {
        let error = serde_json::from_str::<Login>(body).unwrap_err();
        describe_json_error(&error, Some(body.as_bytes()))
    }

    #[test]
    fn a_wrong_enum_value_names_its_field_and_the_allowed_values_but_not_the_value() {
        let said = described(r#"{"email": "a@example.com", "token_delivery": "cookies"}"#);
        assert!(
            said.starts_with("`token_delivery` must be `body` or `cookie`"),
            "{said}"
        );
        assert!(!said.contains("cookies"), "{said}");
    }

    #[test]
    fn a_wrong_type_names_its_field_and_the_type_expected() {
        let said = described("{\"email\": \"a@example.com\",\n \"remember\": \"yes please\"}");
        assert!(said.starts_with("`remember` must be a boolean"), "{said}");
        assert!(!said.contains("please"), "{said}");
        let said = described(r#"{"email": "x", "nested": [{"count": 1}, {"count": "many"}]}"#);
        assert!(said.starts_with("`nested[1].count` must be"), "{said}");
        assert!(!said.contains("many"), "{said}");
    }
}
