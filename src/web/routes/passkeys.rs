//! Passkeys: adding, listing and removing them, and logging in with one.

use actix_web::{HttpResponse, delete, get, post, web};

use crate::service::caller::ClientInfo;
use crate::service::login;
use crate::service::passkeys::{self, Ceremony};
use crate::state::AppState;
use crate::web::client::IpRateLimit;
use crate::web::cookies;
use crate::web::dto::{
    PasskeyCeremony, PasskeyChallengeRequest, PasskeyCreateRequest, PasskeyLoginRequest,
    PasskeyRegistrationRequest, PasskeyView, TokenPair,
};
use crate::web::extractors::AuthUser;
use crate::web::parsing::{Naming, OptionalJson, login_identifier};
use crate::web::problem::{ApiError, FieldErrors, Problem, ValidationProblem};
use crate::web::responses::{
    BodyTooLarge, BusyOrUnavailable, DatabaseUnavailable, MalformedBody, NotJson, RateLimited,
    Unauthenticated,
};

/// Starts adding a passkey to the caller's account (the password again; on
/// an account that already has a second factor, from a session opened with
/// it). Hand `options` to `navigator.credentials.create`, then post what it
/// returns to `POST /me/passkeys` within {{ceremony_ttl_secs}} s. At most {{max_passkeys}} per account.
#[utoipa::path(
    tag = "passkeys",
    operation_id = "start_passkey_registration",
    security(("bearer" = [])),
    request_body = PasskeyRegistrationRequest,
    responses(
        (status = 200, description = "The ceremony: its id and the creation options.", body = PasskeyCeremony,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        MalformedBody,
        Unauthenticated,
        (status = 403, description = "`wrong_password`; `step_up_required`: the account has a second factor and this session was opened without one (log in again with it).", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`too_many_passkeys`: the account has 20; remove one first.", body = Problem, content_type = "application/problem+json"),
        BodyTooLarge,
        NotJson,
        RateLimited,
        BusyOrUnavailable,
    ),
)]
#[post("/me/passkeys/registration")]
pub async fn start_passkey_registration(
    _limit: IpRateLimit,
    state: web::Data<AppState>,
    client: ClientInfo,
    AuthUser(caller): AuthUser,
    body: web::Json<PasskeyRegistrationRequest>,
) -> Result<HttpResponse, ApiError> {
    let password = body.into_inner().password;
    let ceremony =
        passkeys::begin_registration(state.get_ref(), &caller, password, &client).await?;
    Ok(ceremony_response(ceremony))
}

/// Finishes adding a passkey: the ceremony, a name for the passkey and the
/// credential `navigator.credentials.create` returned (`credential.toJSON()`).
#[utoipa::path(
    tag = "passkeys",
    operation_id = "create_passkey",
    security(("bearer" = [])),
    request_body = PasskeyCreateRequest,
    responses(
        (status = 201, description = "The passkey is added.", body = PasskeyView),
        (status = 400, description = "`invalid_or_expired_token`: the ceremony is unknown, used, older than {{ceremony_ttl_secs}} s or another account's (start again); or `malformed_request`.", body = Problem, content_type = "application/problem+json"),
        Unauthenticated,
        (status = 403, description = "`step_up_required`: the account has a second factor and this session was opened without one (log in again with it).", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`too_many_passkeys`: the account has 20; remove one first.", body = Problem, content_type = "application/problem+json"),
        BodyTooLarge,
        NotJson,
        (status = 422, description = "`validation_failed`: `name` (1–64 characters), or `credential` (`passkey_rejected`: not an answer to this ceremony from an allowed origin with user verification; `passkey_already_registered`).", body = ValidationProblem, content_type = "application/problem+json"),
        RateLimited,
        DatabaseUnavailable,
    ),
)]
#[post("/me/passkeys")]
pub async fn create_passkey(
    _limit: IpRateLimit,
    state: web::Data<AppState>,
    client: ClientInfo,
    AuthUser(caller): AuthUser,
    body: web::Json<PasskeyCreateRequest>,
) -> Result<HttpResponse, ApiError> {
    let PasskeyCreateRequest {
        ceremony_id,
        name,
        credential,
    } = body.into_inner();
    let added = passkeys::finish_registration(
        state.get_ref(),
        &caller,
        &ceremony_id,
        &name,
        credential,
        &client,
    )
    .await?;
    Ok(HttpResponse::Created().json(PasskeyView::from(added)))
}

/// The caller's passkeys, oldest first.
#[utoipa::path(
    tag = "passkeys",
    operation_id = "list_passkeys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The passkeys.", body = Vec<PasskeyView>),
        Unauthenticated,
        DatabaseUnavailable,
    ),
)]
#[get("/me/passkeys")]
pub async fn list_passkeys(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<HttpResponse, ApiError> {
    let listed: Vec<PasskeyView> = passkeys::list(state.get_ref(), &caller)
        .await?
        .into_iter()
        .map(PasskeyView::from)
        .collect();
    Ok(HttpResponse::Ok().json(listed))
}

/// Removes one of the caller's passkeys; it can no longer log in. Only from
/// a session opened with a second factor.
#[utoipa::path(
    tag = "passkeys",
    operation_id = "delete_passkey",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The passkey's id.")),
    responses(
        (status = 204, description = "Removed."),
        Unauthenticated,
        (status = 403, description = "`step_up_required`: the account has a second factor and this session was opened without one (log in again with it).", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: the caller has no passkey with this id.", body = Problem, content_type = "application/problem+json"),
        DatabaseUnavailable,
    ),
)]
#[delete("/me/passkeys/{id}")]
pub async fn delete_passkey(
    state: web::Data<AppState>,
    client: ClientInfo,
    AuthUser(caller): AuthUser,
    id: web::Path<uuid::Uuid>,
) -> Result<HttpResponse, ApiError> {
    passkeys::remove(state.get_ref(), &caller, &id.to_string(), &client).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Starts a passkey login. With `email` or `username`, the options list that
/// account's passkeys (an unknown account gets options of the same shape,
/// which cannot succeed); without a body, any discoverable passkey may answer
/// (usernameless login). Hand `options` to `navigator.credentials.get`.
#[utoipa::path(
    tag = "auth",
    operation_id = "start_passkey_login",
    request_body(content = Option<PasskeyChallengeRequest>, description = "Optional: leave it out (or send `{}`) for a usernameless login."),
    responses(
        (status = 200, description = "The ceremony: its id and the request options.", body = PasskeyCeremony,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        MalformedBody,
        BodyTooLarge,
        NotJson,
        (status = 422, description = "`validation_failed`: give at most one of `email` and `username`, within their lengths, without control characters.", body = ValidationProblem, content_type = "application/problem+json"),
        RateLimited,
        DatabaseUnavailable,
    ),
)]
#[post("/login/passkey/challenge")]
pub async fn start_passkey_login(
    _limit: IpRateLimit,
    state: web::Data<AppState>,
    body: OptionalJson<PasskeyChallengeRequest>,
) -> Result<HttpResponse, ApiError> {
    let PasskeyChallengeRequest { email, username } = body.0.unwrap_or_default();
    let mut errors = FieldErrors::new();
    let identifier = login_identifier(email, username, Naming::Optional, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let ceremony = passkeys::begin_login(state.get_ref(), identifier).await?;
    Ok(ceremony_response(ceremony))
}

/// Finishes a passkey login: the ceremony and the credential
/// `navigator.credentials.get` returned. The session's tokens carry
/// `amr: ["hwk","user"]`: a passkey login is a two-factor login (it
/// satisfies `ADMIN_REQUIRE_MFA`, and TOTP is not asked for).
#[utoipa::path(
    tag = "auth",
    operation_id = "login_passkey",
    request_body = PasskeyLoginRequest,
    responses(
        (status = 200, description = "A new session's token pair.", body = TokenPair,
            headers(
                ("Cache-Control" = String, description = "`no-store`"),
                ("Set-Cookie" = String, description = "With `\"token_delivery\": \"cookie\"` only: the refresh cookie (`refresh_token` is then absent from the body)."),
            )),
        (status = 400, description = "`invalid_or_expired_token`: the ceremony is unknown, used (a ceremony is used once, even by a failed try) or older than {{ceremony_ttl_secs}} s; or `malformed_request`.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`invalid_credentials`: an unknown or removed passkey, another account's, a wrong origin or signature, no user verification, or a signature counter that went backwards (a cloned authenticator).", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`account_disabled`, or `email_not_verified` (with `EMAIL_VERIFICATION=required`).", body = Problem, content_type = "application/problem+json"),
        BodyTooLarge,
        NotJson,
        RateLimited,
        DatabaseUnavailable,
    ),
)]
#[post("/login/passkey")]
pub async fn login_passkey(
    _limit: IpRateLimit,
    state: web::Data<AppState>,
    client: ClientInfo,
    body: web::Json<PasskeyLoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let PasskeyLoginRequest {
        ceremony_id,
        credential,
        remember,
        token_delivery,
    } = body.into_inner();
    let logged_in =
        passkeys::finish_login(state.get_ref(), &ceremony_id, credential, remember, &client).await;
    login::count_login(state.get_ref(), &logged_in);
    Ok(cookies::token_response(&state, logged_in?, token_delivery))
}

fn ceremony_response(ceremony: Ceremony) -> HttpResponse {
    HttpResponse::Ok().json(PasskeyCeremony {
        ceremony_id: ceremony.ceremony_id.expose().to_owned(),
        options: ceremony.options,
    })
}
