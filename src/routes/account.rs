//! The caller's own account.

use actix_web::{HttpResponse, delete, get, put, web};
use serde_json::json;

use crate::audit::{Event, EventType};

use crate::auth::extractors::AuthUser;
use crate::auth::password::Verification;
use crate::db::{events, sessions, users};
use crate::domain::check_new_password;
use crate::dto::{ChangePasswordRequest, DeleteAccountRequest, Session, User};
use crate::error::{ApiError, FieldErrors, Problem, ValidationProblem};
use crate::http::{ClientInfo, IpRateLimit};
use crate::openapi::responses::{
    BodyTooLarge, BusyOrUnavailable, DatabaseUnavailable, LastAdmin, MalformedBody, NotJson,
    RateLimited, Unauthenticated,
};
use crate::startup::AppState;

/// The account behind the access token.
#[utoipa::path(
    tag = "account",
    operation_id = "get_me",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's account.", body = User),
        (status = 401, description = "`missing_token`, `invalid_token` (also: session ended) or `token_expired`.", body = Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "Bearer challenge"))),
        DatabaseUnavailable,
    ),
)]
#[get("/me")]
pub async fn get_me(caller: AuthUser) -> HttpResponse {
    HttpResponse::Ok().json(User::from(&caller.user))
}

/// Deletes the caller's account with all its sessions; every token it holds
/// stops working at once. The last enabled admin cannot delete itself.
#[utoipa::path(
    tag = "account",
    operation_id = "delete_account",
    security(("bearer" = [])),
    request_body = DeleteAccountRequest,
    responses(
        (status = 204, description = "The account and its sessions are gone."),
        MalformedBody,
        Unauthenticated,
        (status = 403, description = "`wrong_password`", body = Problem, content_type = "application/problem+json"),
        LastAdmin,
        BodyTooLarge,
        NotJson,
        RateLimited,
        BusyOrUnavailable,
    ),
)]
#[delete("/account")]
pub async fn delete_account(
    _limit: IpRateLimit,
    state: web::Data<AppState>,
    client: ClientInfo,
    caller: AuthUser,
    body: web::Json<DeleteAccountRequest>,
) -> Result<HttpResponse, ApiError> {
    confirm_password(&state, &caller, body.into_inner().password).await?;
    let user = caller.user;
    let event = Event::new(EventType::UserDeleted, &client)
        .user(&user.id)
        .detail(json!({"by": "self", "username": user.username}));
    state
        .db
        .transaction(move |conn| {
            users::delete_keeping_an_admin(conn, &user.id)?;
            events::record(conn, event.row())?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Fails with `wrong_password` unless `password` is the caller's. Wrong
/// guesses count towards the account's login backoff, so a stolen session
/// cannot be used to test passwords at hashing speed.
async fn confirm_password(
    state: &AppState,
    caller: &AuthUser,
    password: String,
) -> Result<(), ApiError> {
    let account = &caller.user.id;
    if let Some(retry_after_secs) = state.limits.login_attempt(account).await {
        return Err(ApiError::RateLimited { retry_after_secs });
    }
    let verification = state
        .passwords
        .verify(password, Some(caller.user.password_hash.clone()))
        .await?;
    match verification {
        Verification::Match { .. } => {
            state.limits.reset_login_failures(account).await;
            Ok(())
        }
        Verification::Mismatch => Err(ApiError::WrongPassword),
    }
}

/// Changes the caller's password. Every other session of the account ends (a
/// stolen session dies with the old password); the caller's own stays.
#[utoipa::path(
    tag = "account",
    operation_id = "change_password",
    security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Changed; the account's other sessions are revoked."),
        MalformedBody,
        Unauthenticated,
        (status = 403, description = "`wrong_password`: `current_password` is wrong.", body = Problem, content_type = "application/problem+json"),
        BodyTooLarge,
        NotJson,
        (status = 422, description = "`validation_failed`: the new password breaks a rule.", body = ValidationProblem, content_type = "application/problem+json"),
        RateLimited,
        BusyOrUnavailable,
    ),
)]
#[put("/me/password")]
pub async fn change_password(
    _limit: IpRateLimit,
    state: web::Data<AppState>,
    client: ClientInfo,
    caller: AuthUser,
    body: web::Json<ChangePasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let ChangePasswordRequest {
        current_password,
        new_password,
    } = body.into_inner();
    confirm_password(&state, &caller, current_password).await?;
    if let Err(errors) =
        check_new_password(&new_password, &caller.user.username, &caller.user.email)
    {
        return Err(ApiError::Validation(FieldErrors::from([(
            "new_password",
            errors,
        )])));
    }
    let new_hash = state.passwords.hash(new_password).await?;
    let now = crate::db::now();
    let event = Event::new(EventType::PasswordChanged, &client).user(&caller.user.id);
    state
        .db
        .transaction(move |conn| {
            users::set_password_hash(conn, &caller.user.id, &new_hash, now)?;
            sessions::revoke_all_except(conn, &caller.user.id, caller.session_id(), now)?;
            events::record(conn, event.row())?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's live sessions, newest first, with the one making this request
/// marked `current`.
#[utoipa::path(
    tag = "sessions",
    operation_id = "list_sessions",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Live sessions.", body = Vec<Session>),
        Unauthenticated,
        DatabaseUnavailable,
    ),
)]
#[get("/me/sessions")]
pub async fn list_sessions(
    state: web::Data<AppState>,
    caller: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let user_id = caller.user.id.clone();
    let now = crate::db::now();
    let rows = state
        .db
        .run(move |conn| Ok(sessions::list_live(conn, &user_id, now)?))
        .await?;
    let listed: Vec<Session> = rows
        .iter()
        .map(|row| Session::from_row(row, caller.session_id()))
        .collect();
    Ok(HttpResponse::Ok().json(listed))
}

/// Ends one of the caller's sessions (for example a lost phone's). A session
/// that is not the caller's answers 404, as if it did not exist.
#[utoipa::path(
    tag = "sessions",
    operation_id = "delete_session",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Session id from `GET /me/sessions`.")),
    responses(
        (status = 204, description = "The session is revoked; its tokens stop working."),
        Unauthenticated,
        (status = 404, description = "`not_found`: no live session of the caller has this id.", body = Problem, content_type = "application/problem+json"),
        DatabaseUnavailable,
    ),
)]
#[delete("/me/sessions/{id}")]
pub async fn delete_session(
    state: web::Data<AppState>,
    client: ClientInfo,
    caller: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let session_id = id.into_inner();
    let now = crate::db::now();
    let event = Event::new(EventType::SessionRevoked, &client)
        .user(&caller.user.id)
        .detail(json!({"session_id": session_id}));
    state
        .db
        .transaction(move |conn| {
            if sessions::revoke(conn, &session_id, &caller.user.id, now)? == 0 {
                return Err(ApiError::NotFound);
            }
            events::record(conn, event.row())?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
