//! A session's life: log in, refresh (rotation with reuse detection), log out.

use actix_web::{HttpResponse, post, web};
use chrono::NaiveDateTime;
use serde_json::json;

use crate::audit::{Event, EventType};

use crate::auth::extractors::AuthUser;
use crate::auth::password::Verification;
use crate::db::events;
use crate::db::sessions::{self, SessionRow};
use crate::db::users::{self, UserRow};
use crate::domain::{EMAIL_MAX, USERNAME_MAX};
use crate::dto::{LoginRequest, LogoutRequest, RefreshRequest, TokenPair, User};
use crate::error::{ApiError, FieldError, FieldErrors, Problem, ValidationProblem};
use crate::http::{ClientInfo, IpRateLimit, OptionalJson};
use crate::limits::UNKNOWN_PREFIX;
use crate::openapi::responses::{
    BodyTooLarge, BusyOrUnavailable, DatabaseUnavailable, MalformedBody, NotJson, RateLimited,
    Unauthenticated,
};
use crate::startup::AppState;

/// Longest password accepted at login (new passwords are limited to 128
/// characters; this only bounds the work an attacker can ask for).
const LOGIN_PASSWORD_MAX: usize = 1024;

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
        (status = 401, description = "`invalid_credentials`: unknown account or wrong password (indistinguishable).", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`account_disabled` (only after a correct password).", body = Problem, content_type = "application/problem+json"),
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
    check_login_lengths(email.as_deref(), username.as_deref(), &password)?;
    let (identifier, by_email) = match (email, username) {
        (Some(email), None) => (email.to_lowercase(), true),
        (None, Some(username)) => (username.to_lowercase(), false),
        _ => {
            return Err(ApiError::invalid_field(
                "email",
                FieldError::new("one_of", "give exactly one of `email` and `username`"),
            ));
        }
    };
    let lookup = identifier.clone();
    let user = state
        .db
        .run(move |conn| {
            Ok(if by_email {
                users::find_by_email(conn, &lookup)?
            } else {
                users::find_by_username(conn, &lookup)?
            })
        })
        .await?;
    // Unknown accounts are held back exactly like real ones, so the backoff
    // cannot be used to find out which accounts exist.
    let backoff_key = user.as_ref().map_or_else(
        || format!("{UNKNOWN_PREFIX}{identifier}"),
        |user| user.id.clone(),
    );
    hold_back_if_failing(&state, &client, user.as_ref(), &backoff_key).await?;

    let stored_hash = user.as_ref().map(|user| user.password_hash.clone());
    let verification = state.passwords.verify(password, stored_hash).await?;
    let failure = Event::new(EventType::LoginFailed, &client);
    let (user, upgraded_hash) = match (user, verification) {
        (Some(user), Verification::Match { upgraded_hash }) => (user, upgraded_hash),
        (Some(user), Verification::Mismatch) => {
            let event = failure
                .user(&user.id)
                .detail(json!({"reason": "wrong_password"}));
            record(&state, event).await?;
            return Err(ApiError::InvalidCredentials);
        }
        // The attempted identifier is not kept: it may be a mistyped password.
        (None, _) => {
            record(&state, failure.detail(json!({"reason": "unknown_account"}))).await?;
            return Err(ApiError::InvalidCredentials);
        }
    };
    state.limits.reset_login_failures(&backoff_key).await;
    if user.disabled {
        let event = failure
            .user(&user.id)
            .detail(json!({"reason": "account_disabled"}));
        record(&state, event).await?;
        return Err(ApiError::AccountDisabled);
    }

    let now = crate::db::now();
    let session_ttl = state.tokens.session_ttl(remember);
    let session = SessionRow {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: user.id.clone(),
        refresh_jti: uuid::Uuid::new_v4().to_string(),
        previous_refresh_jti: None,
        rotated_at: None,
        created_at: now,
        last_used_at: now,
        expires_at: now
            + chrono::Duration::seconds(i64::try_from(session_ttl).unwrap_or(i64::MAX / 4_000)),
        revoked_at: None,
        user_agent: client.user_agent.clone(),
        ip: client.ip.clone(),
    };
    let pair = token_pair(&state, &user, &session, now)?;
    let checked = user.clone();
    let event = Event::new(EventType::LoginSucceeded, &client)
        .user(&user.id)
        .detail(json!({"session_id": session.id}));
    state
        .db
        .transaction(move |conn| {
            // First, so that on PostgreSQL it also locks the row until commit.
            if !users::record_login(conn, &checked, now, upgraded_hash.as_deref())? {
                return Err(ApiError::InvalidCredentials);
            }
            sessions::insert(conn, &session)?;
            events::record(conn, event.row())?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::Ok().json(pair))
}

/// Counts the attempt and refuses it with 429 once the account has had too
/// many recent failed ones, unless the client's address is one this account
/// has logged in from before: an attacker elsewhere can then slow a user down
/// but not lock them out of their usual network.
async fn hold_back_if_failing(
    state: &AppState,
    client: &ClientInfo,
    user: Option<&UserRow>,
    backoff_key: &str,
) -> Result<(), ApiError> {
    let Some(retry_after_secs) = state.limits.login_attempt(backoff_key).await else {
        return Ok(());
    };
    // Asked for unknown accounts too, so both answers take the same path.
    let user_id = user.map(|user| user.id.clone()).unwrap_or_default();
    let ip = client.ip.clone().unwrap_or_default();
    let familiar = state
        .db
        .run(move |conn| Ok(sessions::ip_seen(conn, &user_id, &ip)?))
        .await?;
    if familiar && user.is_some() {
        return Ok(());
    }
    let mut event =
        Event::new(EventType::LoginFailed, client).detail(json!({"reason": "held_back"}));
    if let Some(user) = user {
        event = event.user(&user.id);
    }
    record(state, event).await?;
    Err(ApiError::RateLimited { retry_after_secs })
}

fn check_login_lengths(
    email: Option<&str>,
    username: Option<&str>,
    password: &str,
) -> Result<(), ApiError> {
    let mut errors = FieldErrors::new();
    let too_long =
        |max: usize| FieldError::new("too_long", format!("must be at most {max} characters"));
    if email.is_some_and(|email| email.chars().count() > EMAIL_MAX) {
        errors.insert("email", vec![too_long(EMAIL_MAX)]);
    }
    if username.is_some_and(|username| username.chars().count() > USERNAME_MAX) {
        errors.insert("username", vec![too_long(USERNAME_MAX)]);
    }
    if password.chars().count() > LOGIN_PASSWORD_MAX {
        errors.insert("password", vec![too_long(LOGIN_PASSWORD_MAX)]);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// What a refresh token turned out to be.
enum Refresh {
    /// The current token: the session was rotated to a new one.
    Rotated(SessionRow, UserRow),
    /// The token just rotated out, within the grace window: the current one is
    /// handed back unchanged.
    WithinGrace(SessionRow, UserRow),
    /// A token rotated out earlier: the session has been revoked.
    Reused,
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
    let claims = state.tokens.verify_refresh(&body.refresh_token)?;
    let grace = chrono::Duration::seconds(
        i64::try_from(state.token_settings.refresh_reuse_grace).unwrap_or(i64::MAX / 4_000),
    );
    let now = crate::db::now();
    let new_jti = uuid::Uuid::new_v4().to_string();
    let outcome = state
        .db
        .transaction(move |conn| {
            // Write first: the conditional update decides races, and on SQLite
            // it takes the write lock before anything is read.
            let rotated =
                sessions::rotate(conn, &claims.sid, &claims.sub, &claims.jti, &new_jti, now)?;
            let (session, user) = sessions::find_with_user(conn, &claims.sid, &claims.sub)?
                .ok_or(ApiError::InvalidToken)?;
            if session.revoked_at.is_some() || user.disabled {
                return Err(ApiError::InvalidToken);
            }
            if session.expires_at <= now {
                return Err(ApiError::TokenExpired);
            }
            let event = |event_type, detail| {
                Event::new(event_type, &client)
                    .user(&user.id)
                    .detail(detail)
            };
            if rotated == 1 {
                let refreshed = event(EventType::TokenRefreshed, json!({"session_id": session.id}));
                events::record(conn, refreshed.row())?;
                return Ok(Refresh::Rotated(session, user));
            }
            let just_rotated_out = session.previous_refresh_jti.as_deref()
                == Some(claims.jti.as_str())
                && session.rotated_at.is_some_and(|at| now - at <= grace)
                && !grace.is_zero();
            if just_rotated_out {
                let refreshed = event(
                    EventType::TokenRefreshed,
                    json!({"session_id": session.id, "within_grace": true}),
                );
                events::record(conn, refreshed.row())?;
                return Ok(Refresh::WithinGrace(session, user));
            }
            sessions::revoke(conn, &session.id, &user.id, now)?;
            let reused = event(
                EventType::RefreshReuseDetected,
                json!({"session_id": session.id}),
            );
            events::record(conn, reused.row())?;
            Ok(Refresh::Reused)
        })
        .await?;
    match outcome {
        Refresh::Rotated(session, user) | Refresh::WithinGrace(session, user) => {
            Ok(HttpResponse::Ok().json(token_pair(&state, &user, &session, now)?))
        }
        Refresh::Reused => {
            tracing::warn!("refresh token reuse detected; session revoked");
            Err(ApiError::RefreshTokenReused)
        }
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
    caller: AuthUser,
    body: OptionalJson<Option<LogoutRequest>>,
) -> Result<HttpResponse, ApiError> {
    let all = body.0.flatten().is_some_and(|request| request.all);
    let now = crate::db::now();
    let event = if all {
        Event::new(EventType::LoggedOutAll, &client)
    } else {
        Event::new(EventType::LoggedOut, &client)
    }
    .user(&caller.user.id)
    .detail(json!({"session_id": caller.session_id()}));
    state
        .db
        .transaction(move |conn| {
            if all {
                sessions::revoke_all_for_user(conn, &caller.user.id, now)?;
            } else {
                sessions::revoke(conn, caller.session_id(), &caller.user.id, now)?;
            }
            events::record(conn, event.row())?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The pair for `session` as it stands: an access token, and the refresh
/// token of the session's current id. The refresh token's claims are fixed by
/// the session (issued at its last rotation, expiring with it), so handing the
/// current token back within the grace window gives the very same token.
fn token_pair(
    state: &AppState,
    user: &UserRow,
    session: &SessionRow,
    now: NaiveDateTime,
) -> Result<TokenPair, ApiError> {
    let access_token =
        state
            .tokens
            .issue_access(&user.id, &session.id, &user.role, now.and_utc().timestamp())?;
    let refresh_token = state.tokens.issue_refresh(
        &user.id,
        &session.id,
        &session.refresh_jti,
        session
            .rotated_at
            .unwrap_or(session.created_at)
            .and_utc()
            .timestamp(),
        session.expires_at.and_utc().timestamp(),
    )?;
    let remaining = (session.expires_at - now).num_seconds().max(0);
    Ok(TokenPair {
        access_token,
        token_type: "Bearer",
        expires_in: state.tokens.access_ttl(),
        refresh_token,
        refresh_expires_in: u64::try_from(remaining).unwrap_or_default(),
        user: User::from(user),
    })
}

/// Records an event that has no transaction of its own to join.
async fn record(state: &AppState, event: Event) -> Result<(), ApiError> {
    state
        .db
        .transaction(move |conn| Ok(events::record(conn, event.row())?))
        .await
}
