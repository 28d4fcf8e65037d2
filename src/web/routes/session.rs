//! A session's life: log in, refresh (rotation with reuse detection), log out.

use actix_web::{HttpRequest, HttpResponse, ResponseError as _, post, web};

use crate::domain::{LOGIN_PASSWORD_MAX, Violation};
use crate::service::caller::ClientInfo;
use crate::service::login::{self, Identifier};
use crate::service::sessions;
use crate::state::AppState;
use crate::web::client::IpRateLimit;
use crate::web::cookies;
use crate::web::dto::{
    LoginRequest, LoginRequestSchema, LogoutRequest, RefreshRequest, TokenDelivery, TokenPair,
};
use crate::web::extractors::AuthUser;
use crate::web::parsing::{Naming, OptionalJson, login_identifier};
use crate::web::problem::{ApiError, FieldErrors, Problem, ValidationProblem};
use crate::web::responses::{
    BodyTooLarge, BusyOrUnavailable, DatabaseUnavailable, MalformedBody, NotJson, RateLimited,
    Unauthenticated,
};

/// Logs in by email or username and starts a session. An unknown account and a
/// wrong password get the same answer in the same time; a disabled account is
/// told so only after the right password.
#[utoipa::path(
    tag = "auth",
    operation_id = "login_user",
    request_body = LoginRequestSchema,
    responses(
        (status = 200, description = "A new session's token pair.", body = TokenPair,
            headers(
                ("Cache-Control" = String, description = "`no-store`"),
                ("Set-Cookie" = String, description = "With `\"token_delivery\": \"cookie\"` only: the refresh cookie, `portcullis_refresh=…; HttpOnly; Secure; SameSite=Strict; Path=/token; Max-Age=…` (`refresh_token` is then absent from the body)."),
            )),
        MalformedBody,
        (status = 401, description = "`invalid_credentials`: unknown account or wrong password (indistinguishable). `mfa_required`: the password is right and the account has a second factor (TOTP or a passkey); the problem carries `mfa_token`, `methods` (`totp`, `recovery_code`, `passkey`: what the account has) and, with `passkey`, `passkey_options` for `POST /login/mfa`.", body = Problem, content_type = "application/problem+json"),
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
        token_delivery,
    } = body.into_inner();
    let identifier = parse_login(email, username, password.expose())?;
    let logged_in = async {
        let verified =
            sessions::verify_password(state.get_ref(), identifier, password, &client).await?;
        sessions::start_session(state.get_ref(), verified, remember, &client).await
    }
    .await;
    login::count_login(state.get_ref(), &logged_in);
    Ok(cookies::token_response(&state, logged_in?, token_delivery))
}

/// Exactly one of `email` and `username`, each within its length, and a
/// password of bounded length.
fn parse_login(
    email: Option<String>,
    username: Option<String>,
    password: &str,
) -> Result<Identifier, ApiError> {
    let mut errors = FieldErrors::new();
    let identifier = login_identifier(email, username, Naming::Required, &mut errors);
    if password.chars().count() > LOGIN_PASSWORD_MAX {
        errors.insert("password", vec![Violation::too_long(LOGIN_PASSWORD_MAX)]);
    }
    match identifier {
        Some(identifier) if errors.is_empty() => Ok(identifier),
        _ => Err(ApiError::Validation(errors)),
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
    request_body(content = Option<RefreshRequest>, description = "Optional for a browser session: without `refresh_token`, the refresh cookie is used."),
    params(
        ("portcullis_refresh" = Option<String>, Cookie, description = "The refresh cookie of a browser session (`COOKIE_NAME`); used when the body has no `refresh_token`. Then `Origin` must be an allowed origin and `X-Requested-With` must be `portcullis`.", max_length = 4096),
        ("X-Requested-With" = Option<String>, Header, description = "`portcullis`: required with the refresh cookie (a header no cross-site form can send).", max_length = 64),
    ),
    responses(
        (status = 200, description = "A new token pair; the presented refresh token is spent.", body = TokenPair,
            headers(
                ("Cache-Control" = String, description = "`no-store`"),
                ("Set-Cookie" = String, description = "With the refresh cookie or `\"token_delivery\": \"cookie\"`: the new refresh cookie (`refresh_token` is then absent from the body), and its hint `{COOKIE_NAME}_hint=1` (`Path=/`, readable by scripts: a page can tell there is a session without a refresh)."),
            )),
        MalformedBody,
        (status = 401, description = "`token_expired`; `invalid_token` (bad token, an access token, ended session, disabled account); `refresh_token_reused` (the session is now revoked); `missing_token` (neither a body token nor the cookie; `detail` says why a browser may not have sent it: a page on another site, a `Secure` cookie over HTTP). A refused cookie is cleared, and its hint with it.", body = Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "Bearer challenge"))),
        (status = 403, description = "`csrf_rejected`: the refresh cookie came without an allowed `Origin` or without `X-Requested-With: portcullis`.", body = Problem, content_type = "application/problem+json"),
        BodyTooLarge,
        NotJson,
        RateLimited,
        DatabaseUnavailable,
    ),
)]
#[post("/token/refresh")]
pub async fn refresh_token_pair(
    _limit: IpRateLimit,
    req: HttpRequest,
    state: web::Data<AppState>,
    client: ClientInfo,
    body: OptionalJson<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let RefreshRequest {
        refresh_token,
        token_delivery,
    } = body.0.unwrap_or_default();
    cookies::check_refresh_input_lengths(&req, &state)?;
    let (refresh_token, delivery) = match refresh_token {
        Some(token) => (token, token_delivery),
        None => {
            let token = cookies::refresh_token_from_cookie(&req, &state)?
                .ok_or_else(|| cookies::missing_cookie(&req, &state))?;
            (token, TokenDelivery::Cookie)
        }
    };
    match sessions::refresh(state.get_ref(), &refresh_token, &client).await {
        Ok(tokens) => Ok(cookies::token_response(&state, tokens, delivery)),
        // A dead cookie is dropped, so the browser stops sending it.
        Err(refused) if delivery == TokenDelivery::Cookie => {
            let mut answer = ApiError::from(refused).error_response();
            for cleared in [
                cookies::cleared_cookie(&state),
                cookies::cleared_hint_cookie(&state),
            ] {
                answer
                    .add_cookie(&cleared)
                    .map_err(|error| ApiError::Internal(error.into()))?;
            }
            Ok(answer)
        }
        Err(refused) => Err(refused.into()),
    }
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
        (status = 204, description = "Logged out.",
            headers(("Set-Cookie" = String, description = "Clears the refresh cookie of a browser session and its hint."))),
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
    body: OptionalJson<LogoutRequest>,
) -> Result<HttpResponse, ApiError> {
    let all = body.0.is_some_and(|request| request.all);
    sessions::end(state.get_ref(), &caller, all, &client).await?;
    // A browser session's cookie goes with it (harmless without one).
    Ok(HttpResponse::NoContent()
        .cookie(cookies::cleared_cookie(&state))
        .cookie(cookies::cleared_hint_cookie(&state))
        .finish())
}
