//! Recovering an account and proving its address.

use actix_web::{HttpResponse, patch, post, put, web};

use crate::service::caller::ClientInfo;
use crate::service::recovery;
use crate::state::AppState;
use crate::web::client::IpRateLimit;
use crate::web::dto::{
    ChangeEmailRequest, ForgotPasswordRequest, ResetPasswordRequest, UpdateMeRequest, User,
    VerifyEmailRequest,
};
use crate::web::extractors::AuthUser;
use crate::web::problem::{ApiError, Problem, ValidationProblem};
use crate::web::responses::{
    BodyTooLarge, BusyOrUnavailable, DatabaseUnavailable, MalformedBody, NotJson, RateLimited,
    Unauthenticated,
};

/// Mails a reset link to the account with this address, if there is one
/// (and it is enabled). The answer is the same, in about the same time,
/// whether or not it exists; one address gets at most one link per
/// `MAIL_MIN_INTERVAL`.
#[utoipa::path(
    tag = "recovery",
    operation_id = "request_password_reset",
    request_body = ForgotPasswordRequest,
    responses(
        (status = 202, description = "Accepted: if the account exists, a reset link is on its way."),
        MalformedBody,
        BodyTooLarge,
        NotJson,
        (status = 422, description = "`validation_failed`: `email` is not an address.", body = ValidationProblem, content_type = "application/problem+json"),
        RateLimited,
        DatabaseUnavailable,
    ),
)]
#[post("/password/forgot")]
pub async fn request_password_reset(
    _limit: IpRateLimit,
    state: web::Data<AppState>,
    client: ClientInfo,
    body: web::Json<ForgotPasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    recovery::request_password_reset(state.into_inner(), &body.email, &client).await?;
    Ok(HttpResponse::Accepted().finish())
}

/// Sets a new password with the token of a reset link. Every session of the
/// account ends, the address counts as verified, and a notice is mailed.
#[utoipa::path(
    tag = "recovery",
    operation_id = "reset_password",
    request_body = ResetPasswordRequest,
    responses(
        (status = 204, description = "The password is set; log in with it."),
        (status = 400, description = "`malformed_request`, or `invalid_or_expired_token`: the link is unknown, used or expired.", body = Problem, content_type = "application/problem+json"),
        BodyTooLarge,
        NotJson,
        (status = 422, description = "`validation_failed`: the new password breaks a rule.", body = ValidationProblem, content_type = "application/problem+json"),
        RateLimited,
        BusyOrUnavailable,
    ),
)]
#[post("/password/reset")]
pub async fn reset_password(
    _limit: IpRateLimit,
    state: web::Data<AppState>,
    client: ClientInfo,
    body: web::Json<ResetPasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let ResetPasswordRequest {
        token,
        new_password,
    } = body.into_inner();
    recovery::reset_password(state.get_ref(), &token, new_password, &client).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Proves an address with the token of a verification link. For an
/// email-change link, the account's address becomes the new one.
#[utoipa::path(
    tag = "recovery",
    operation_id = "verify_email",
    request_body = VerifyEmailRequest,
    responses(
        (status = 204, description = "The address is verified (or the account moved to it)."),
        (status = 400, description = "`malformed_request`, or `invalid_or_expired_token`.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`email_taken`: another account took the new address meanwhile.", body = Problem, content_type = "application/problem+json"),
        BodyTooLarge,
        NotJson,
        RateLimited,
        DatabaseUnavailable,
    ),
)]
#[post("/email/verify")]
pub async fn verify_email(
    _limit: IpRateLimit,
    state: web::Data<AppState>,
    client: ClientInfo,
    body: web::Json<VerifyEmailRequest>,
) -> Result<HttpResponse, ApiError> {
    recovery::verify_email(state.get_ref(), &body.token, &client).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Mails the caller a new verification link (none if the address is already
/// verified, or one went out within `MAIL_MIN_INTERVAL`).
#[utoipa::path(
    tag = "recovery",
    operation_id = "send_email_verification",
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Accepted: a verification link is on its way if one was due."),
        Unauthenticated,
        RateLimited,
        DatabaseUnavailable,
    ),
)]
#[post("/me/email/verification")]
pub async fn send_email_verification(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<HttpResponse, ApiError> {
    recovery::send_verification(state.get_ref(), &caller).await?;
    Ok(HttpResponse::Accepted().finish())
}

/// Starts moving the caller's account to a new address: a link to the new
/// address, a notice to the current one. Nothing changes until the link is
/// used.
#[utoipa::path(
    tag = "recovery",
    operation_id = "change_email",
    security(("bearer" = [])),
    request_body = ChangeEmailRequest,
    responses(
        (status = 202, description = "Accepted: the link is on its way to the new address."),
        MalformedBody,
        Unauthenticated,
        (status = 403, description = "`wrong_password`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`email_taken`", body = Problem, content_type = "application/problem+json"),
        BodyTooLarge,
        NotJson,
        (status = 422, description = "`validation_failed`: `new_email` is not an address.", body = ValidationProblem, content_type = "application/problem+json"),
        RateLimited,
        BusyOrUnavailable,
    ),
)]
#[put("/me/email")]
pub async fn change_email(
    _limit: IpRateLimit,
    state: web::Data<AppState>,
    client: ClientInfo,
    AuthUser(caller): AuthUser,
    body: web::Json<ChangeEmailRequest>,
) -> Result<HttpResponse, ApiError> {
    let ChangeEmailRequest {
        new_email,
        password,
    } = body.into_inner();
    recovery::change_email(state.get_ref(), &caller, &new_email, password, &client).await?;
    Ok(HttpResponse::Accepted().finish())
}

/// Renames the caller's account.
#[utoipa::path(
    tag = "account",
    operation_id = "update_me",
    security(("bearer" = [])),
    request_body = UpdateMeRequest,
    responses(
        (status = 200, description = "The account after the change.", body = User),
        MalformedBody,
        Unauthenticated,
        (status = 409, description = "`username_taken` (usernames compare ignoring case).", body = Problem, content_type = "application/problem+json"),
        BodyTooLarge,
        NotJson,
        (status = 422, description = "`validation_failed`: the username breaks a rule.", body = ValidationProblem, content_type = "application/problem+json"),
        DatabaseUnavailable,
    ),
)]
#[patch("/me")]
pub async fn update_me(
    state: web::Data<AppState>,
    client: ClientInfo,
    AuthUser(caller): AuthUser,
    body: web::Json<UpdateMeRequest>,
) -> Result<HttpResponse, ApiError> {
    let account =
        recovery::change_username(state.get_ref(), &caller, &body.username, &client).await?;
    Ok(HttpResponse::Ok().json(User::from(&account)))
}
