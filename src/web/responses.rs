//! Error answers that many operations share, documented once. A route lists
//! them by name in `responses(...)`; answers particular to a route stay
//! written out there.

#![expect(
    dead_code,
    reason = "these types only describe answers in the OpenAPI document"
)]

use utoipa::IntoResponses;

use crate::web::problem::{Problem, ValidationProblem};

/// `malformed_request`: the body is not JSON, has wrong types or unknown fields.
#[derive(IntoResponses)]
#[response(status = 400, content_type = "application/problem+json")]
pub struct MalformedBody(Problem);

/// `missing_token`, `invalid_token` (bad token, or its session has ended) or `token_expired`.
#[derive(IntoResponses)]
#[response(
    status = 401,
    content_type = "application/problem+json",
    headers(("WWW-Authenticate" = String, description = "Bearer challenge"))
)]
pub struct Unauthenticated(Problem);

/// `forbidden`: the caller is not an admin; `mfa_required_for_admin`:
/// `ADMIN_REQUIRE_MFA` is on and the caller's session was opened without a
/// second factor (log in again with TOTP or a passkey).
#[derive(IntoResponses)]
#[response(status = 403, content_type = "application/problem+json")]
pub struct NotAdmin(Problem);

/// `not_found`: no such account.
#[derive(IntoResponses)]
#[response(status = 404, content_type = "application/problem+json")]
pub struct NotFound(Problem);

/// `last_admin`: this would leave no enabled admin; promote another admin first.
#[derive(IntoResponses)]
#[response(status = 409, content_type = "application/problem+json")]
pub struct LastAdmin(Problem);

/// `validation_failed`: a query parameter is out of range or not a valid value.
#[derive(IntoResponses)]
#[response(status = 422, content_type = "application/problem+json")]
pub struct BadQuery(ValidationProblem);

/// `rate_limited`: too many requests from this address or, where a password
/// is checked, too many failed attempts for the account; retry after `Retry-After`.
#[derive(IntoResponses)]
#[response(
    status = 429,
    content_type = "application/problem+json",
    headers(("Retry-After" = u64, description = "Seconds to wait"))
)]
pub struct RateLimited(Problem);

/// `payload_too_large`: the body is over 16 KiB.
#[derive(IntoResponses)]
#[response(status = 413, content_type = "application/problem+json")]
pub struct BodyTooLarge(Problem);

/// `unsupported_media_type`: the body is not `application/json`.
#[derive(IntoResponses)]
#[response(status = 415, content_type = "application/problem+json")]
pub struct NotJson(Problem);

/// `service_unavailable`: the database is unreachable; retry after `Retry-After`.
#[derive(IntoResponses)]
#[response(
    status = 503,
    content_type = "application/problem+json",
    headers(("Retry-After" = u64, description = "Seconds to wait"))
)]
pub struct DatabaseUnavailable(Problem);

/// `overloaded` (the password-hashing queue is full) or `service_unavailable` (database down); retry after `Retry-After`.
#[derive(IntoResponses)]
#[response(
    status = 503,
    content_type = "application/problem+json",
    headers(("Retry-After" = u64, description = "Seconds to wait"))
)]
pub struct BusyOrUnavailable(Problem);
