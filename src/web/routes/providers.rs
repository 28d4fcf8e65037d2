//! Signing in with another provider, and the caller's linked identities.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};

use crate::domain::Secret;
use crate::service::caller::ClientInfo;
use crate::service::federation::{self, ATTEMPT_TTL_SECS, Callback, StartRequest};
use crate::service::identities;
use crate::service::login;
use crate::state::AppState;
use crate::web::client::IpRateLimit;
use crate::web::cookies::{self, OAUTH_COOKIE};
use crate::web::dto::{
    IdentityView, LinkIdentityRequest, LinkIdentityStart, LoginCodeRequest, ProviderCallbackQuery,
    ProviderStartQuery, ProviderView, TokenPair,
};
use crate::web::extractors::AuthUser;
use crate::web::parsing::Query;
use crate::web::problem::{ApiError, Problem, ValidationProblem};
use crate::web::responses::{
    BodyTooLarge, BusyOrUnavailable, DatabaseUnavailable, NotJson, RateLimited, Unauthenticated,
};

/// The providers users may sign in with, in configured order (empty when
/// `PROVIDERS` is not set).
#[utoipa::path(
    tag = "providers",
    operation_id = "list_providers",
    responses((status = 200, description = "The providers.", body = Vec<ProviderView>)),
)]
#[get("/login/providers")]
pub async fn list_providers(state: web::Data<AppState>) -> HttpResponse {
    let listed: Vec<ProviderView> = state
        .providers
        .list()
        .map(|(id, name)| ProviderView {
            id: id.to_owned(),
            name: name.to_owned(),
        })
        .collect();
    HttpResponse::Ok().json(listed)
}

/// Starts a sign-in at the provider: a browser navigation (not a fetch) that
/// answers 303 to the provider with `state`, `nonce` and a PKCE challenge,
/// and sets the `portcullis_oauth` cookie that binds the attempt to this
/// browser. The provider sends the browser back to the callback, which sends
/// it on to `redirect_to` with a login code (or an error) within {{attempt_ttl_secs}} s.
#[utoipa::path(
    tag = "providers",
    operation_id = "start_provider_login",
    params(("provider" = String, Path, description = "The provider's id.", max_length = 32, pattern = "^[a-z0-9_]{1,32}$"), ProviderStartQuery),
    responses(
        (status = 303, description = "To the provider's authorization page; or to `redirect_to?error=provider_unavailable` when the provider cannot be reached.",
            headers(
                ("Location" = String, description = "Where to go next."),
                ("Set-Cookie" = String, description = "`portcullis_oauth=…; HttpOnly; SameSite=Lax; Path=/login/providers; Max-Age=600`"),
            )),
        (status = 400, description = "`redirect_not_allowed`: `redirect_to` is missing or not on an allowed origin; `invalid_or_expired_token`: the link ticket is unknown, used or expired.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no provider has this id.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: `code_challenge` is not an S256 challenge, or `code_challenge_method` is not `S256`.", body = ValidationProblem, content_type = "application/problem+json"),
        RateLimited,
        DatabaseUnavailable,
    ),
)]
#[get("/login/providers/{provider}")]
pub async fn start_provider_login(
    _limit: IpRateLimit,
    req: HttpRequest,
    state: web::Data<AppState>,
    provider: web::Path<String>,
    query: Query<ProviderStartQuery>,
) -> Result<HttpResponse, ApiError> {
    let ProviderStartQuery {
        redirect_to,
        code_challenge,
        code_challenge_method,
        remember,
        link_ticket,
    } = query.into_inner();
    if code_challenge_method
        .as_deref()
        .is_some_and(|method| method != "S256")
    {
        return Err(ApiError::invalid_field(
            "code_challenge_method",
            crate::domain::Violation::new("invalid", "only S256 is supported"),
        ));
    }
    let request = StartRequest {
        provider: provider.into_inner(),
        redirect_to: redirect_to.unwrap_or_default(),
        code_challenge,
        remember: remember.unwrap_or(false),
        browser_binding: req
            .cookie(OAUTH_COOKIE)
            .map(|cookie| cookie.value().to_owned()),
        link_ticket: link_ticket.map(Secret::from),
    };
    match federation::start(state.get_ref(), request).await {
        Ok(started) => Ok(see_other(&started.location)
            .cookie(cookies::oauth_cookie(
                &state,
                started.browser_binding,
                ATTEMPT_TTL_SECS,
            ))
            .finish()),
        // A browser navigation: back to the app, which can say so.
        Err(federation::FederationError::ProviderUnavailable { back }) => {
            Ok(see_other(&back).finish())
        }
        Err(error) => Err(error.into()),
    }
}

/// A 303 to `location` that no cache keeps (it carries a state or a code).
fn see_other(location: &url::Url) -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::SeeOther();
    response
        .insert_header((header::LOCATION, location.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    response
}

/// Where the provider sends the browser back. Answers 303 to the start's
/// `redirect_to` with `code=…` (a login code for `POST /login/code`: single
/// use, {{login_code_ttl_secs}} s), `linked={id}` (an identity linked) or `error=…`
/// (`provider_error`, `invalid_state`, `invalid_response`,
/// `provider_unavailable`, `email_not_verified`, `account_exists`,
/// `account_disabled`, `signup_closed`, `identity_taken`); 400 when the
/// `state` names no attempt, so that there is no safe place to go.
#[utoipa::path(
    tag = "providers",
    operation_id = "provider_callback",
    params(("provider" = String, Path, description = "The provider's id.", max_length = 32, pattern = "^[a-z0-9_]{1,32}$"), ProviderCallbackQuery),
    responses(
        (status = 303, description = "To `redirect_to` with `code`, `linked` or `error`.",
            headers(
                ("Location" = String, description = "`redirect_to` with the outcome in its query."),
                ("Set-Cookie" = String, description = "Clears `portcullis_oauth`."),
            )),
        (status = 400, description = "`invalid_or_expired_token`: the `state` is unknown or was used.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no provider has this id.", body = Problem, content_type = "application/problem+json"),
        RateLimited,
        DatabaseUnavailable,
    ),
)]
#[get("/login/providers/{provider}/callback")]
pub async fn provider_callback(
    _limit: IpRateLimit,
    req: HttpRequest,
    state: web::Data<AppState>,
    client: ClientInfo,
    provider: web::Path<String>,
    query: Query<ProviderCallbackQuery>,
) -> Result<HttpResponse, ApiError> {
    let ProviderCallbackQuery {
        code,
        state: attempt,
        error,
    } = query.into_inner();
    let callback = Callback {
        code,
        state: attempt,
        error,
        browser_binding: req
            .cookie(OAUTH_COOKIE)
            .map(|cookie| cookie.value().to_owned()),
    };
    let location = federation::callback(state.get_ref(), &provider, callback, &client).await?;
    Ok(see_other(&location)
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .finish())
}

/// Exchanges the login code a provider's callback handed to `redirect_to`
/// for a session, with the PKCE verifier when the start carried a challenge.
#[utoipa::path(
    tag = "providers",
    operation_id = "exchange_login_code",
    request_body = LoginCodeRequest,
    responses(
        (status = 200, description = "A new session's token pair (`amr` `[\"fed\"]`).", body = TokenPair,
            headers(
                ("Cache-Control" = String, description = "`no-store`"),
                ("Set-Cookie" = String, description = "With `\"token_delivery\": \"cookie\"` only: the refresh cookie (`refresh_token` is then absent from the body)."),
            )),
        (status = 400, description = "`invalid_or_expired_token`: the code is unknown, used, older than {{login_code_ttl_secs}} s, or its `code_verifier` is missing or wrong (the code is spent either way); or `malformed_request`.", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`mfa_required`: the account has a second factor; the problem carries `mfa_token`, `methods` and, with `passkey`, `passkey_options` for `POST /login/mfa`.", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`account_disabled`, or `email_not_verified` (with `EMAIL_VERIFICATION=required`).", body = Problem, content_type = "application/problem+json"),
        BodyTooLarge,
        NotJson,
        RateLimited,
        BusyOrUnavailable,
    ),
)]
#[post("/login/code")]
pub async fn exchange_login_code(
    _limit: IpRateLimit,
    state: web::Data<AppState>,
    client: ClientInfo,
    body: web::Json<LoginCodeRequest>,
) -> Result<HttpResponse, ApiError> {
    let LoginCodeRequest {
        code,
        code_verifier,
        token_delivery,
    } = body.into_inner();
    let logged_in =
        federation::exchange_code(state.get_ref(), &code, code_verifier.as_ref(), &client).await;
    login::count_login(state.get_ref(), &logged_in);
    Ok(cookies::token_response(&state, logged_in?, token_delivery))
}

/// The caller's identities at other providers, oldest first.
#[utoipa::path(
    tag = "providers",
    operation_id = "list_identities",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The identities.", body = Vec<IdentityView>),
        Unauthenticated,
        DatabaseUnavailable,
    ),
)]
#[get("/me/identities")]
pub async fn list_identities(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<HttpResponse, ApiError> {
    let listed: Vec<IdentityView> = identities::list(state.get_ref(), &caller)
        .await?
        .into_iter()
        .map(IdentityView::from)
        .collect();
    Ok(HttpResponse::Ok().json(listed))
}

/// Starts linking an identity at the provider to the caller's account:
/// open the returned `url` in the browser (it leads to the provider, and
/// back to `redirect_to` with `linked={provider}` or `error=…`). On an
/// account with a second factor, only from a session opened with it.
#[utoipa::path(
    tag = "providers",
    operation_id = "link_identity",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The provider's id (as `GET /login/providers` lists it): the path is `DELETE /me/identities/{id}`'s, where `id` is an identity's.", max_length = 32, pattern = "^[a-z0-9_]{1,32}$")),
    request_body = LinkIdentityRequest,
    responses(
        (status = 200, description = "Where to send the browser (valid {{link_ticket_ttl_secs}} s, once).", body = LinkIdentityStart,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, description = "`redirect_not_allowed`, or `malformed_request`.", body = Problem, content_type = "application/problem+json"),
        Unauthenticated,
        (status = 403, description = "`step_up_required`: the account has a second factor and this session was opened without one.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no provider has this id.", body = Problem, content_type = "application/problem+json"),
        BodyTooLarge,
        NotJson,
        DatabaseUnavailable,
    ),
)]
#[post("/me/identities/{id}")]
pub async fn link_identity(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
    provider: web::Path<String>,
    body: web::Json<LinkIdentityRequest>,
) -> Result<HttpResponse, ApiError> {
    let ticket =
        identities::link_ticket(state.get_ref(), &caller, &provider, &body.redirect_to).await?;
    let mut url = url::Url::parse(&format!(
        "{}/login/providers/{}",
        state.edge.public_url, provider
    ))
    .map_err(|error| ApiError::Internal(error.into()))?;
    url.query_pairs_mut()
        .append_pair("link_ticket", ticket.expose());
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(LinkIdentityStart {
            url: url.to_string(),
        }))
}

/// Unlinks one of the caller's identities; it can no longer log in. Refused
/// when the account would be left with no way to log in (no password of its
/// own, no other identity, no passkey, and sign-in by email off): set a
/// password first (`/password/forgot`). On an account with a second factor,
/// only from a session opened with it.
#[utoipa::path(
    tag = "providers",
    operation_id = "unlink_identity",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The identity's id.")),
    responses(
        (status = 204, description = "Unlinked."),
        Unauthenticated,
        (status = 403, description = "`step_up_required`.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: the caller has no identity with this id.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`last_login_method`: it is the account's only way to log in.", body = Problem, content_type = "application/problem+json"),
        DatabaseUnavailable,
    ),
)]
#[delete("/me/identities/{id}")]
pub async fn unlink_identity(
    state: web::Data<AppState>,
    client: ClientInfo,
    AuthUser(caller): AuthUser,
    id: web::Path<uuid::Uuid>,
) -> Result<HttpResponse, ApiError> {
    identities::unlink(state.get_ref(), &caller, &id.to_string(), &client).await?;
    Ok(HttpResponse::NoContent().finish())
}
