//! Signing in by a link or code mailed to the address (`EMAIL_LOGIN=on`).

use actix_web::{HttpResponse, post, web};

use crate::domain::Violation;
use crate::service::caller::ClientInfo;
use crate::service::email_login::{self, EmailProof};
use crate::service::login;
use crate::state::AppState;
use crate::web::client::IpRateLimit;
use crate::web::cookies;
use crate::web::dto::{EmailLoginRequest, EmailLoginVerifyRequest, TokenPair};
use crate::web::problem::{ApiError, Problem, ValidationProblem};
use crate::web::responses::{
    BodyTooLarge, BusyOrUnavailable, DatabaseUnavailable, NotJson, RateLimited,
};

/// Mails a sign-in link and a {{email_code_digits}}-digit code to the address, if it may sign in
/// (an enabled account; with `EMAIL_LOGIN_SIGNUP=on`, any address). The
/// answer is the same, in about the same time, either way; one address gets
/// at most one message per `MAIL_MIN_INTERVAL`, and a new one voids the older.
#[utoipa::path(
    tag = "auth",
    operation_id = "request_email_login",
    request_body = EmailLoginRequest,
    responses(
        (status = 202, description = "Accepted: if the address may sign in, a link and a code are on their way (valid `MAGIC_LINK_TTL`, 600 s by default)."),
        (status = 400, description = "`redirect_not_allowed`: `redirect_to` is not on an allowed origin; or `malformed_request`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: signing in by email is off (`EMAIL_LOGIN`).", body = Problem, content_type = "application/problem+json"),
        BodyTooLarge,
        NotJson,
        (status = 422, description = "`validation_failed`: `email` is not an address.", body = ValidationProblem, content_type = "application/problem+json"),
        RateLimited,
        DatabaseUnavailable,
    ),
)]
#[post("/login/email")]
pub async fn request_email_login(
    _limit: IpRateLimit,
    state: web::Data<AppState>,
    client: ClientInfo,
    body: web::Json<EmailLoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let EmailLoginRequest { email, redirect_to } = body.into_inner();
    email_login::request(state.into_inner(), &email, redirect_to.as_deref(), &client).await?;
    Ok(HttpResponse::Accepted().finish())
}

/// Signs in with the mailed link's `token`, or `email` and the mailed `code`;
/// either works once. The address counts as verified. An account with a
/// second factor answers `mfa_required`, finished at `POST /login/mfa`.
#[utoipa::path(
    tag = "auth",
    operation_id = "verify_email_login",
    request_body = EmailLoginVerifyRequest,
    responses(
        (status = 200, description = "A new session's token pair (`amr` `[\"email\"]`).", body = TokenPair,
            headers(
                ("Cache-Control" = String, description = "`no-store`"),
                ("Set-Cookie" = String, description = "With `\"token_delivery\": \"cookie\"` only: the refresh cookie (`refresh_token` is then absent from the body)."),
            )),
        (status = 400, description = "`invalid_or_expired_token`: the link or code is unknown, used, expired, wrong, or out of its {{email_code_max_attempts}} tries (ask for a new one); or `malformed_request`.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`mfa_required`: the account has a second factor; the problem carries `mfa_token`, `methods` and, with `passkey`, `passkey_options` for `POST /login/mfa`.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`account_disabled`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: signing in by email is off (`EMAIL_LOGIN`).", body = Problem, content_type = "application/problem+json"),
        BodyTooLarge,
        NotJson,
        (status = 422, description = "`validation_failed`: give either `token`, or `email` and `code`.", body = ValidationProblem, content_type = "application/problem+json"),
        RateLimited,
        BusyOrUnavailable,
    ),
)]
#[post("/login/email/verify")]
pub async fn verify_email_login(
    _limit: IpRateLimit,
    state: web::Data<AppState>,
    client: ClientInfo,
    body: web::Json<EmailLoginVerifyRequest>,
) -> Result<HttpResponse, ApiError> {
    let EmailLoginVerifyRequest {
        token,
        email,
        code,
        remember,
        token_delivery,
    } = body.into_inner();
    let proof = match (token, email, code) {
        (Some(token), None, None) => EmailProof::Link {
            token: token.into(),
        },
        (None, Some(email), Some(code)) => EmailProof::Code { email, code },
        _ => {
            return Err(ApiError::invalid_field(
                "token",
                Violation::new("one_of", "give either `token`, or `email` and `code`"),
            ));
        }
    };
    let logged_in = email_login::verify(state.get_ref(), proof, remember, &client).await;
    login::count_login(state.get_ref(), &logged_in);
    Ok(cookies::token_response(&state, logged_in?, token_delivery))
}
