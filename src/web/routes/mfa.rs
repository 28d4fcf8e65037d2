//! Two-factor authentication: TOTP enrollment and removal, recovery codes, the
//! second step of a login, and the admin's reset.

use actix_web::{HttpResponse, delete, post, web};

use crate::domain::UserId;
use crate::service::caller::ClientInfo;
use crate::service::mfa::{self, SecondFactor};
use crate::service::{admin, login, sessions};
use crate::state::AppState;
use crate::web::client::IpRateLimit;
use crate::web::cookies;
use crate::web::dto::{
    LoginMfaRequest, RecoveryCodes, StepUpRequest, TokenPair, TotpConfirmRequest,
    TotpEnrollRequest, TotpEnrollment,
};
use crate::web::extractors::{AdminCaller, AuthUser};
use crate::web::problem::{ApiError, Problem, ValidationProblem};
use crate::web::responses::{
    BodyTooLarge, BusyOrUnavailable, DatabaseUnavailable, MalformedBody, NotAdmin, NotFound,
    NotJson, RateLimited, Unauthenticated,
};

/// Starts turning TOTP on: a new secret for the authenticator app, pending
/// until `POST /me/mfa/totp/confirm` gets its first code. A new call replaces
/// a pending secret.
#[utoipa::path(
    tag = "mfa",
    operation_id = "enroll_totp",
    security(("bearer" = [])),
    request_body = TotpEnrollRequest,
    responses(
        (status = 200, description = "The pending secret, as base32 and as an otpauth:// URI.", body = TotpEnrollment,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        MalformedBody,
        Unauthenticated,
        (status = 403, description = "`wrong_password`; `step_up_required`: the account has a passkey and this session was opened without a second factor (log in again with the passkey).", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`mfa_already_enabled`: turn TOTP off first.", body = Problem, content_type = "application/problem+json"),
        BodyTooLarge,
        NotJson,
        RateLimited,
        BusyOrUnavailable,
    ),
)]
#[post("/me/mfa/totp")]
pub async fn enroll_totp(
    _limit: IpRateLimit,
    state: web::Data<AppState>,
    client: ClientInfo,
    AuthUser(caller): AuthUser,
    body: web::Json<TotpEnrollRequest>,
) -> Result<HttpResponse, ApiError> {
    let password = body.into_inner().password;
    let enrollment = mfa::begin_totp(state.get_ref(), &caller, password, &client).await?;
    Ok(HttpResponse::Ok().json(TotpEnrollment {
        secret: enrollment.secret,
        otpauth_uri: enrollment.otpauth_uri,
    }))
}

/// Turns TOTP on with the first code of the pending secret. Answers the ten
/// recovery codes, shown only now; every other session of the account ends.
#[utoipa::path(
    tag = "mfa",
    operation_id = "confirm_totp",
    security(("bearer" = [])),
    request_body = TotpConfirmRequest,
    responses(
        (status = 200, description = "TOTP is on; the recovery codes.", body = RecoveryCodes,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        MalformedBody,
        (status = 401, description = "`invalid_mfa_code`: not the current code of the pending secret (or a bearer-token problem).", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`step_up_required`: the account has a second factor and this session was opened without one (log in again with it).", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no pending secret; `POST /me/mfa/totp` first.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`mfa_already_enabled`.", body = Problem, content_type = "application/problem+json"),
        BodyTooLarge,
        NotJson,
        RateLimited,
        DatabaseUnavailable,
    ),
)]
#[post("/me/mfa/totp/confirm")]
pub async fn confirm_totp(
    _limit: IpRateLimit,
    state: web::Data<AppState>,
    client: ClientInfo,
    AuthUser(caller): AuthUser,
    body: web::Json<TotpConfirmRequest>,
) -> Result<HttpResponse, ApiError> {
    let code = body.into_inner().code;
    let recovery_codes =
        mfa::confirm_totp(state.get_ref(), &caller, code.expose(), &client).await?;
    Ok(HttpResponse::Ok().json(RecoveryCodes { recovery_codes }))
}

/// Turns TOTP off and voids the recovery codes. Needs the password and a
/// current code (TOTP or recovery code).
#[utoipa::path(
    tag = "mfa",
    operation_id = "disable_totp",
    security(("bearer" = [])),
    request_body = StepUpRequest,
    responses(
        (status = 204, description = "TOTP and the recovery codes are gone."),
        MalformedBody,
        (status = 401, description = "`invalid_mfa_code` (or a bearer-token problem).", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`wrong_password`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: TOTP is not on.", body = Problem, content_type = "application/problem+json"),
        BodyTooLarge,
        NotJson,
        RateLimited,
        BusyOrUnavailable,
    ),
)]
#[delete("/me/mfa/totp")]
pub async fn disable_totp(
    _limit: IpRateLimit,
    state: web::Data<AppState>,
    client: ClientInfo,
    AuthUser(caller): AuthUser,
    body: web::Json<StepUpRequest>,
) -> Result<HttpResponse, ApiError> {
    let StepUpRequest { password, code } = body.into_inner();
    let factor = SecondFactor::typed(code);
    mfa::disable_totp(state.get_ref(), &caller, password, factor, &client).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Replaces the recovery codes by ten new ones (shown only now); the old set
/// stops working. Needs the password and a current code.
#[utoipa::path(
    tag = "mfa",
    operation_id = "regenerate_recovery_codes",
    security(("bearer" = [])),
    request_body = StepUpRequest,
    responses(
        (status = 200, description = "The new recovery codes.", body = RecoveryCodes,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        MalformedBody,
        (status = 401, description = "`invalid_mfa_code` (or a bearer-token problem).", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`wrong_password`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: TOTP is not on.", body = Problem, content_type = "application/problem+json"),
        BodyTooLarge,
        NotJson,
        RateLimited,
        BusyOrUnavailable,
    ),
)]
#[post("/me/mfa/recovery-codes")]
pub async fn regenerate_recovery_codes(
    _limit: IpRateLimit,
    state: web::Data<AppState>,
    client: ClientInfo,
    AuthUser(caller): AuthUser,
    body: web::Json<StepUpRequest>,
) -> Result<HttpResponse, ApiError> {
    let StepUpRequest { password, code } = body.into_inner();
    let factor = SecondFactor::typed(code);
    let recovery_codes =
        mfa::regenerate_recovery_codes(state.get_ref(), &caller, password, factor, &client).await?;
    Ok(HttpResponse::Ok().json(RecoveryCodes { recovery_codes }))
}

/// Finishes a login that answered `mfa_required`: the `mfa_token` and a TOTP
/// code (`code`), a recovery code (`recovery_code`) or a passkey's answer to
/// the problem's `passkey_options` (`credential`). The session is the same as
/// a password login's, with `amr` saying how it was proven
/// (`["pwd","otp","mfa"]`, `["pwd","mfa"]`, `["pwd","hwk","mfa"]`).
#[utoipa::path(
    tag = "auth",
    operation_id = "login_mfa",
    request_body = LoginMfaRequest,
    responses(
        (status = 200, description = "A new session's token pair.", body = TokenPair,
            headers(
                ("Cache-Control" = String, description = "`no-store`"),
                ("Set-Cookie" = String, description = "With `\"token_delivery\": \"cookie\"` only: the refresh cookie (`refresh_token` is then absent from the body)."),
            )),
        (status = 400, description = "`invalid_or_expired_token`: the `mfa_token` is unknown, used, older than {{mfa_token_ttl_secs}} s or out of its {{mfa_token_max_attempts}} tries (log in again); or `malformed_request`.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`invalid_mfa_code`: wrong, expired or already used code, or a passkey answer that is not one of the account's passkeys signing this login's `passkey_options` (each `mfa_token` takes one passkey answer). `invalid_credentials`: the account's password, role or second factors changed since the password step (log in again).", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`account_disabled`: disabled since the password step.", body = Problem, content_type = "application/problem+json"),
        BodyTooLarge,
        NotJson,
        (status = 422, description = "`validation_failed`: give exactly one of `code`, `recovery_code` and `credential`.", body = ValidationProblem, content_type = "application/problem+json"),
        RateLimited,
        DatabaseUnavailable,
    ),
)]
#[post("/login/mfa")]
pub async fn login_mfa(
    _limit: IpRateLimit,
    state: web::Data<AppState>,
    client: ClientInfo,
    body: web::Json<LoginMfaRequest>,
) -> Result<HttpResponse, ApiError> {
    let LoginMfaRequest {
        mfa_token,
        code,
        recovery_code,
        credential,
        token_delivery,
    } = body.into_inner();
    let factor = match (code, recovery_code, credential) {
        (Some(code), None, None) => SecondFactor::Totp(code),
        (None, Some(code), None) => SecondFactor::RecoveryCode(code),
        (None, None, Some(credential)) if credential.is_object() => {
            SecondFactor::Passkey(credential)
        }
        (None, None, Some(_)) => {
            return Err(ApiError::invalid_field(
                "credential",
                crate::domain::Violation::new(
                    "not_an_object",
                    "`credential` is the object `credential.toJSON()` returns",
                ),
            ));
        }
        _ => {
            return Err(ApiError::invalid_field(
                "code",
                crate::domain::Violation::new(
                    "exactly_one",
                    "give exactly one of `code`, `recovery_code` and `credential`",
                ),
            ));
        }
    };
    let logged_in = sessions::finish_login(state.get_ref(), &mfa_token, factor, &client).await;
    login::count_login(state.get_ref(), &logged_in);
    Ok(cookies::token_response(&state, logged_in?, token_delivery))
}

/// Removes every second factor of an account (TOTP, recovery codes, passkeys)
/// and ends its sessions: for a user who lost their authenticator and their
/// recovery codes, once you know it is them.
#[utoipa::path(
    tag = "admin",
    operation_id = "reset_user_mfa",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The account's id.")),
    responses(
        (status = 204, description = "The account has no second factor now; its sessions are revoked."),
        Unauthenticated,
        NotAdmin,
        NotFound,
        DatabaseUnavailable,
    ),
)]
#[delete("/admin/users/{id}/mfa")]
pub async fn reset_user_mfa(
    state: web::Data<AppState>,
    client: ClientInfo,
    AdminCaller(admin_caller): AdminCaller,
    id: web::Path<uuid::Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = UserId::from(id.into_inner());
    admin::reset_mfa(state.get_ref(), &admin_caller, id, &client).await?;
    Ok(HttpResponse::NoContent().finish())
}
