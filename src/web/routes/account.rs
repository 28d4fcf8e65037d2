//! The caller's own account.

use actix_web::{HttpResponse, delete, get, put, web};

use crate::service::caller::ClientInfo;
use crate::service::{accounts, sessions};
use crate::state::AppState;
use crate::web::client::IpRateLimit;
use crate::web::dto::{ChangePasswordRequest, DeleteAccountRequest, Session, User};
use crate::web::extractors::AuthUser;
use crate::web::problem::{ApiError, Problem, ValidationProblem};
use crate::web::responses::{
    BodyTooLarge, BusyOrUnavailable, DatabaseUnavailable, LastAdmin, MalformedBody, NotJson,
    RateLimited, Unauthenticated,
};

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
pub async fn get_me(AuthUser(caller): AuthUser) -> HttpResponse {
    HttpResponse::Ok().json(User::from(&caller.account))
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
    AuthUser(caller): AuthUser,
    body: web::Json<DeleteAccountRequest>,
) -> Result<HttpResponse, ApiError> {
    let password = body.into_inner().password;
    accounts::delete_account(state.get_ref(), &caller, password, &client).await?;
    Ok(HttpResponse::NoContent().finish())
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
    AuthUser(caller): AuthUser,
    body: web::Json<ChangePasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let ChangePasswordRequest {
        current_password,
        new_password,
    } = body.into_inner();
    accounts::change_password(
        state.get_ref(),
        &caller,
        current_password,
        new_password,
        &client,
    )
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
    AuthUser(caller): AuthUser,
) -> Result<HttpResponse, ApiError> {
    let live = sessions::list(state.get_ref(), &caller).await?;
    let listed: Vec<Session> = live.into_iter().map(Session::from_live).collect();
    Ok(HttpResponse::Ok().json(listed))
}

/// Ends one of the caller's sessions (for example a lost phone's). A session
/// that is not the caller's answers 404, as if it did not exist.
#[utoipa::path(
    tag = "sessions",
    operation_id = "delete_session",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Session id from `GET /me/sessions`.")),
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
    AuthUser(caller): AuthUser,
    id: web::Path<uuid::Uuid>,
) -> Result<HttpResponse, ApiError> {
    // Not a session id at all: as unknown as any other id that is not the caller's.
    sessions::revoke(state.get_ref(), &caller, id.to_string(), &client).await?;
    Ok(HttpResponse::NoContent().finish())
}
