//! The caller's own account.

use actix_web::{HttpResponse, delete, get, web};

use crate::auth::extractors::AuthUser;
use crate::auth::password::Verification;
use crate::db::users;
use crate::dto::{DeleteAccountRequest, User};
use crate::error::{ApiError, Problem};
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
        (status = 503, description = "`service_unavailable`", body = Problem, content_type = "application/problem+json"),
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
        (status = 400, description = "`malformed_request`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`missing_token`, `invalid_token` or `token_expired`.", body = Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "Bearer challenge"))),
        (status = 403, description = "`wrong_password`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`last_admin`: promote another admin first.", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`overloaded` or `service_unavailable`", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[delete("/account")]
pub async fn delete_account(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: web::Json<DeleteAccountRequest>,
) -> Result<HttpResponse, ApiError> {
    let verification = state
        .passwords
        .verify(
            body.into_inner().password,
            Some(caller.user.password_hash.clone()),
        )
        .await?;
    if verification == Verification::Mismatch {
        return Err(ApiError::WrongPassword);
    }
    let user = caller.user;
    state
        .db
        .transaction(move |conn| {
            if user.is_admin() && !user.disabled {
                users::lock_admin_changes(conn)?;
                if users::count_enabled_admins(conn)? <= 1 {
                    return Err(ApiError::LastAdmin);
                }
            }
            users::delete(conn, &user.id)?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
