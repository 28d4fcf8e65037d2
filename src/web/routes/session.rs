//! A session's life: log in, refresh (rotation with reuse detection), log out.

use actix_web::{HttpResponse, post, web};

use crate::domain::{EMAIL_MAX, LOGIN_PASSWORD_MAX, USERNAME_MAX, Violation};
use crate::service::ClientInfo;
use crate::service::sessions::{self, Identifier};
use crate::state::AppState;
use crate::web::client::IpRateLimit;
use crate::web::dto::{LoginRequest, LogoutRequest, RefreshRequest, TokenPair};
use crate::web::extractors::AuthUser;
use crate::web::openapi::responses::{
    BodyTooLarge, BusyOrUnavailable, DatabaseUnavailable, MalformedBody, NotJson, RateLimited,
    Unauthenticated,
};
use crate::web::parsing::OptionalJson;
use crate::web::problem::{ApiError, FieldErrors, Problem, ValidationProblem};

/// Logs in by email or username and starts a session. An unknown account and a
/// wrong password get the same answer in the same time; a disabled account is
/// told so only after the right password.
#[utoipa::path(
    tag = "auth",
    operation_id = "login_user",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "A new session's token pair.", body = TokenPair,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        MalformedBody,
        (status = 401, description = "`invalid_credentials`: unknown account or wrong password (indistinguishable). `mfa_required`: the password is right and the account has TOTP on; the problem carries `mfa_token` and `methods` for `POST /login/mfa`.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`account_disabled` or `email_not_verified` (only after a correct password).", body = Problem, content_type = "application/problem+json"),
        BodyTooLarge,
        NotJson,
        (status = 422, description = "`validation_failed`: give exactly one of `email` and `username`, within their lengths.", body = ValidationProblem, content_type = "application/problem+json"),
        RateLimited,
        BusyOrUnavailable,
    ),
)]
#[post("/login")]
pub async fn login_user(
    _limit: IpRateLimit,
    state: web::Data<AppState>,
    client: ClientInfo,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest {
        email,
        username,
        password,
        remember,
    } = body.into_inner();
    let identifier = parse_login(email, username, &password)?;
    let verified = sessions::verify_password(&state, identifier, password, &client).await?;
    let tokens = sessions::start_session(&state, verified, remember, &client).await?;
    Ok(HttpResponse::Ok().json(TokenPair::from(tokens)))
}

/// Exactly one of `email` and `username`, each within its length, and a
/// password of bounded length.
fn parse_login(
    email: Option<String>,
    username: Option<String>,
    password: &str,
) -> Result<Identifier, ApiError> {
    let mut errors = FieldErrors::new();
    if email
        .as_ref()
        .is_some_and(|email| email.chars().count() > EMAIL_MAX)
    {
        errors.insert("email", vec![Violation::too_long(EMAIL_MAX)]);
    }
    if username
        .as_ref()
        .is_some_and(|username| username.chars().count() > USERNAME_MAX)
    {
        errors.insert("username", vec![Violation::too_long(USERNAME_MAX)]);
    }
    if password.chars().count() > LOGIN_PASSWORD_MAX {
        errors.insert("password", vec![Violation::too_long(LOGIN_PASSWORD_MAX)]);
    }
    for (field, value) in [("email", &email), ("username", &username)] {
        if let Some(Err(violation)) = value.as_deref().map(Violation::check_no_control_characters) {
            errors.entry(field).or_default().push(violation);
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    match (email, username) {
        (Some(email), None) => Ok(Identifier::Email(email)),
        (None, Some(username)) => Ok(Identifier::Username(username)),
        _ => Err(ApiError::invalid_field(
            "email",
            Violation::new("one_of", "give exactly one of `email` and `username`"),
        )),
    }
}

/// Trades a refresh token for a new pair. The presented token is spent. Showing
/// a spent token again is reuse (a sign of theft): the whole session is
/// revoked. Within `REFRESH_REUSE_GRACE` seconds of a rotation, the token just
/// replaced instead gets the session's current refresh token back, so two tabs
/// or a retried request do not log the user out.
#[utoipa::path(
    tag = "auth",
    operation_id = "refresh_token_pair",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new token pair; the presented refresh token is spent.", body = TokenPair,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        MalformedBody,
        (status = 401, description = "`token_expired`; `invalid_token` (bad token, an access token, ended session, disabled account); `refresh_token_reused` (the session is now revoked).", body = Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "Bearer challenge"))),
        BodyTooLarge,
        NotJson,
        RateLimited,
        DatabaseUnavailable,
    ),
)]
#[post("/token/refresh")]
pub async fn refresh_token_pair(
    _limit: IpRateLimit,
    state: web::Data<AppState>,
    client: ClientInfo,
    body: web::Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let tokens = sessions::refresh(&state, &body.refresh_token, &client).await?;
    Ok(HttpResponse::Ok().json(TokenPair::from(tokens)))
}

/// Ends the caller's session, or with `{"all": true}` every session of the
/// caller. Their access tokens stop working at once on every route that checks
/// sessions; their refresh tokens are refused.
#[utoipa::path(
    tag = "auth",
    operation_id = "logout_session",
    security(("bearer" = [])),
    request_body(content = Option<LogoutRequest>, description = "Optional; an empty body ends only this session."),
    responses(
        (status = 204, description = "Logged out."),
        MalformedBody,
        Unauthenticated,
        BodyTooLarge,
        NotJson,
        DatabaseUnavailable,
    ),
)]
#[post("/logout")]
pub async fn logout_session(
    state: web::Data<AppState>,
    client: ClientInfo,
    AuthUser(caller): AuthUser,
    body: OptionalJson<Option<LogoutRequest>>,
) -> Result<HttpResponse, ApiError> {
    let all = body.0.flatten().is_some_and(|request| request.all);
    sessions::end(&state, &caller, all, &client).await?;
    Ok(HttpResponse::NoContent().finish())
}
