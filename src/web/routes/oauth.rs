//! Portcullis as an OpenID Provider: discovery, the authorization endpoint
//! and the login page's API, the token endpoint, userinfo, introspection,
//! revocation, RP-initiated logout and the user's consents.
//!
//! The token, introspection and revocation endpoints speak RFC 6749 (forms
//! in, `{error, error_description}` out), not the problem+json of the rest of
//! the API: every OAuth client library expects exactly that.

use std::collections::HashMap;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use base64::Engine as _;
use serde_json::json;

use crate::service::authorization::{self, AuthorizeRequest, Authorized, LoggedOut, LogoutRequest};
use crate::service::caller::ClientInfo;
use crate::service::oauth_clients::OIDC_SCOPES;
use crate::service::oauth_grants::{self, ClientCredentials, GrantError, TokenRequest};
use crate::state::AppState;
use crate::web::cookies::{self, SSO_COOKIE};
use crate::web::dto::{AcceptRequest, AuthorizationRequestView, ConsentView, RedirectView};
use crate::web::extractors::{AuthUser, bearer_token};
use crate::web::parsing::OptionalJson;
use crate::web::problem::{ApiError, Problem};
use crate::web::responses::{
    BodyTooLarge, BusyOrUnavailable, DatabaseUnavailable, MalformedBody, NotFound, NotJson,
    Unauthenticated,
};

/// A form's or query's parameters, and the first one sent twice (RFC 6749
/// §3.1: parameters must not repeat).
struct Params {
    values: HashMap<String, String>,
    repeated: Option<String>,
    /// The first parameter longer than the OpenAPI document allows (or an
    /// `id_token_hint` that cannot be a JWT).
    out_of_bounds: Option<String>,
}

/// The most characters each parameter may have, as the OpenAPI document
/// says (and so that a request at the bounds fits in a URL).
fn max_length(name: &str) -> usize {
    match name {
        "id_token_hint" | "refresh_token" | "token" => 4096,
        "redirect_uri" | "post_logout_redirect_uri" => 1024,
        "code" | "code_challenge" | "code_verifier" | "client_secret" => 128,
        "client_id" | "prompt" | "grant_type" | "token_type_hint" => 64,
        "response_type" | "code_challenge_method" => 32,
        "max_age" => 10,
        _ => 512,
    }
}

impl Params {
    fn parse(encoded: &[u8]) -> Self {
        let mut values = HashMap::new();
        let mut repeated = None;
        let mut out_of_bounds = None;
        for (name, value) in url::form_urlencoded::parse(encoded) {
            // An empty parameter counts as absent (RFC 6749 §3.1).
            if value.is_empty() {
                continue;
            }
            let not_a_jwt = name == "id_token_hint"
                && !value
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'));
            if (value.chars().count() > max_length(&name) || not_a_jwt) && out_of_bounds.is_none() {
                out_of_bounds = Some(name.to_string());
            }
            if values
                .insert(name.to_string(), value.into_owned())
                .is_some()
                && repeated.is_none()
            {
                repeated = Some(name.into_owned());
            }
        }
        Self {
            values,
            repeated,
            out_of_bounds,
        }
    }

    /// Refuses a parameter over its bound.
    fn within_bounds(&self) -> Result<(), String> {
        match &self.out_of_bounds {
            Some(name) => Err(format!(
                "{name} is longer than {} characters, or malformed",
                max_length(name)
            )),
            None => Ok(()),
        }
    }

    fn take(&mut self, name: &str) -> Option<String> {
        self.values.remove(name)
    }
}

/// The parameters of a form body, which must be `application/x-www-form-urlencoded`.
fn form(req: &HttpRequest, body: &[u8]) -> Result<Params, GrantError> {
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| {
            mime.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(GrantError::InvalidRequest(
            "send the parameters as application/x-www-form-urlencoded".into(),
        ));
    }
    let params = Params::parse(body);
    params.within_bounds().map_err(GrantError::InvalidRequest)?;
    Ok(params)
}

/// The client's credentials: HTTP Basic (`client_secret_basic`, each part
/// form-encoded, RFC 6749 §2.3.1), or `client_id` and `client_secret` in the
/// form (`client_secret_post`), or `client_id` alone (a public client).
fn client_credentials(
    req: &HttpRequest,
    params: &mut Params,
) -> Result<ClientCredentials, GrantError> {
    let form_id = params.take("client_id");
    let form_secret = params.take("client_secret");
    let basic = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"));
    let Some((_, encoded)) = basic else {
        return Ok(ClientCredentials {
            client_id: form_id,
            client_secret: form_secret,
            several_methods: false,
        });
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or(GrantError::InvalidClient)?;
    let (id, secret) = decoded.split_once(':').ok_or(GrantError::InvalidClient)?;
    let id = form_decode(id);
    if form_id.as_ref().is_some_and(|form_id| *form_id != id) {
        return Err(GrantError::InvalidRequest(
            "client_id differs from the Basic credentials".into(),
        ));
    }
    Ok(ClientCredentials {
        client_id: Some(id),
        client_secret: Some(form_decode(secret)),
        several_methods: form_secret.is_some(),
    })
}

fn form_decode(part: &str) -> String {
    let pair = format!("v={}", part.replace('&', "%26"));
    url::form_urlencoded::parse(pair.as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

/// An RFC 6749 §5.2 answer (or, for our own failures, the problem+json the
/// rest of the API gives).
fn grant_error(error: GrantError) -> HttpResponse {
    let code = error.code();
    let (status, description) = match error {
        GrantError::InvalidRequest(why) | GrantError::InvalidScope(why) => {
            (StatusCode::BAD_REQUEST, why)
        }
        GrantError::InvalidClient => (
            StatusCode::UNAUTHORIZED,
            "client authentication failed".to_owned(),
        ),
        GrantError::InvalidGrant(why) => (StatusCode::BAD_REQUEST, why.to_owned()),
        GrantError::UnauthorizedClient => (
            StatusCode::BAD_REQUEST,
            "this client may not use this grant type".to_owned(),
        ),
        GrantError::UnsupportedGrantType => (
            StatusCode::BAD_REQUEST,
            "authorization_code, refresh_token or client_credentials".to_owned(),
        ),
        GrantError::Store(error) => return no_store(ApiError::from(error).error_response()),
        GrantError::Token(error) => {
            return no_store(ApiError::Internal(anyhow::Error::new(error)).error_response());
        }
    };
    let mut response = HttpResponse::build(status);
    response
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    if status == StatusCode::UNAUTHORIZED {
        response.insert_header((header::WWW_AUTHENTICATE, r#"Basic realm="portcullis""#));
    }
    response.json(json!({"error": code, "error_description": description}))
}

fn no_store(mut response: HttpResponse) -> HttpResponse {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

use actix_web::ResponseError as _;

/// OpenID Connect Discovery 1.0 and RFC 8414 metadata.
#[utoipa::path(
    tag = "oauth2",
    operation_id = "get_openid_configuration",
    responses((status = 200, description = "The provider's metadata.", body = Object)),
)]
#[get("/.well-known/openid-configuration")]
pub async fn openid_configuration(state: web::Data<AppState>) -> HttpResponse {
    let issuer = state.oauth.issuer();
    let at = |path: &str| format!("{issuer}{path}");
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(json!({
            "issuer": issuer,
            "authorization_endpoint": at("/oauth2/authorize"),
            "token_endpoint": at("/oauth2/token"),
            "userinfo_endpoint": at("/oauth2/userinfo"),
            "jwks_uri": at("/.well-known/jwks.json"),
            "introspection_endpoint": at("/oauth2/introspect"),
            "revocation_endpoint": at("/oauth2/revoke"),
            "end_session_endpoint": at("/oauth2/logout"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "code_challenge_methods_supported": ["S256"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": if state.tokens.signs_eddsa() { json!(["RS256", "EdDSA"]) } else { json!(["RS256"]) },
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "scopes_supported": OIDC_SCOPES,
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "amr", "azp", "email", "email_verified", "preferred_username", "updated_at"],
            "prompt_values_supported": ["none", "login", "consent"],
            "claims_parameter_supported": false,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
            "authorization_response_iss_parameter_supported": true,
            "frontchannel_logout_supported": false,
            "backchannel_logout_supported": false,
        }))
}

fn authorize_request(mut params: Params, req: &HttpRequest) -> AuthorizeRequest {
    AuthorizeRequest {
        request_object: params.values.contains_key("request")
            || params.values.contains_key("request_uri"),
        response_type: params.take("response_type"),
        client_id: params.take("client_id"),
        redirect_uri: params.take("redirect_uri"),
        scope: params.take("scope"),
        state: params.take("state"),
        nonce: params.take("nonce"),
        code_challenge: params.take("code_challenge"),
        code_challenge_method: params.take("code_challenge_method"),
        prompt: params.take("prompt"),
        max_age: params.take("max_age"),
        repeated: params.repeated,
        sso: req
            .cookie(SSO_COOKIE)
            .map(|cookie| cookie.value().to_owned()),
    }
}

/// The authorization endpoint (authorization code flow): 303 back to the
/// client with `code` (signed in, consent on record) or `error`, or to the
/// login page with `request_id`. An unknown client or an unregistered
/// redirect URI is answered here, never redirected to.
#[utoipa::path(
    tag = "oauth2",
    operation_id = "authorize",
    params(
        ("response_type" = String, Query, description = "`code`.", max_length = 32),
        ("client_id" = String, Query, max_length = 64),
        ("redirect_uri" = String, Query, description = "One of the client's registered redirect URIs.", max_length = 1024),
        ("scope" = String, Query, description = "Space-separated; `openid` for an ID token.", max_length = 512),
        ("state" = Option<String>, Query, max_length = 512),
        ("nonce" = Option<String>, Query, max_length = 512),
        ("code_challenge" = Option<String>, Query, description = "PKCE S256 challenge; required for public clients.", max_length = 128),
        ("code_challenge_method" = Option<String>, Query, description = "`S256`.", max_length = 32),
        ("prompt" = Option<String>, Query, description = "`none`, `login` or `consent`.", max_length = 64),
        ("max_age" = Option<u32>, Query, description = "Seconds since the login after which the user logs in again."),
    ),
    responses(
        (status = 303, description = "Back to the client (`code` or `error`, with `state` and `iss`), or to the login page with `request_id`.", headers(("Location" = String))),
        (status = 400, description = "`malformed_request`: the client is unknown or the redirect URI is not registered (never redirected).", body = Problem, content_type = "application/problem+json"),
        DatabaseUnavailable,
    ),
)]
#[get("/oauth2/authorize")]
pub async fn authorize(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::parse(req.query_string().as_bytes());
    params.within_bounds().map_err(ApiError::MalformedRequest)?;
    authorize_with(&req, &state, params).await
}

/// The authorization endpoint with its parameters in a form (OpenID Connect
/// Core §3.1.2.1).
#[utoipa::path(
    tag = "oauth2",
    operation_id = "authorize_form",
    request_body(content = crate::web::dto::AuthorizeForm, content_type = "application/x-www-form-urlencoded", description = "The parameters of `GET /oauth2/authorize`."),
    responses(
        (status = 303, description = "As `GET /oauth2/authorize`.", headers(("Location" = String))),
        (status = 400, description = "`malformed_request`: not a form, an unknown client or an unregistered redirect URI.", body = Problem, content_type = "application/problem+json"),
        BodyTooLarge,
        DatabaseUnavailable,
    ),
)]
#[post("/oauth2/authorize")]
pub async fn authorize_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let params = form(&req, &body).map_err(|_| {
        ApiError::MalformedRequest(
            "send the parameters as application/x-www-form-urlencoded".into(),
        )
    })?;
    authorize_with(&req, &state, params).await
}

async fn authorize_with(
    req: &HttpRequest,
    state: &AppState,
    params: Params,
) -> Result<HttpResponse, ApiError> {
    let location = match authorization::authorize(state, authorize_request(params, req)).await? {
        Authorized::ToClient(url) | Authorized::ToLogin(url) => url,
    };
    Ok(see_other(location.as_str()))
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// A waiting authorization request, for the login page: which app asks, for
/// what, until when.
#[utoipa::path(
    tag = "oauth2",
    operation_id = "get_authorization_request",
    params(("request_id" = String, Path, description = "The `request_id` the login page was opened with.", max_length = 64)),
    responses(
        (status = 200, description = "The request.", body = AuthorizationRequestView),
        NotFound,
        DatabaseUnavailable,
    ),
)]
#[get("/oauth2/requests/{request_id}")]
pub async fn get_authorization_request(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let pending = authorization::pending(state.get_ref(), &id).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(AuthorizationRequestView::from(pending)))
}

/// The signed-in user accepts the request (with `consent: true` when the
/// client needs it): the answer says where the browser goes (the client,
/// with a code) and sets the single sign-on cookie for the next request.
#[utoipa::path(
    tag = "oauth2",
    operation_id = "accept_authorization_request",
    security(("bearer" = [])),
    params(("request_id" = String, Path, description = "The `request_id`.", max_length = 64)),
    request_body(content = Option<AcceptRequest>, description = "Optional."),
    responses(
        (status = 200, description = "Accepted.", body = RedirectView,
            headers(("Set-Cookie" = String, description = "`portcullis_sso=…; HttpOnly; Secure; SameSite=Lax; Path=/oauth2`"))),
        MalformedBody,
        Unauthenticated,
        BodyTooLarge,
        NotJson,
        (status = 403, description = "`step_up_required`: the request asks for a login newer than this session's (`prompt=login`, `max_age`); log in again.", body = Problem, content_type = "application/problem+json"),
        NotFound,
        (status = 409, description = "`consent_required`: show `scopes` and accept again with `consent: true`.", body = Problem, content_type = "application/problem+json"),
        BusyOrUnavailable,
    ),
)]
#[post("/oauth2/requests/{request_id}/accept")]
pub async fn accept_authorization_request(
    state: web::Data<AppState>,
    client: ClientInfo,
    AuthUser(caller): AuthUser,
    id: web::Path<String>,
    body: OptionalJson<AcceptRequest>,
) -> Result<HttpResponse, ApiError> {
    let consent = body.0.unwrap_or_default().consent;
    let accepted = authorization::accept(state.get_ref(), &caller, &id, consent, &client).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(cookies::sso_cookie(
            &state,
            accepted.sso.expose().to_owned(),
        ))
        .json(RedirectView {
            redirect_to: accepted.redirect_to.to_string(),
        }))
}

/// The user declines the request: the client hears `access_denied`.
#[utoipa::path(
    tag = "oauth2",
    operation_id = "reject_authorization_request",
    params(("request_id" = String, Path, description = "The `request_id`.", max_length = 64)),
    responses(
        (status = 200, description = "Declined.", body = RedirectView),
        NotFound,
        BusyOrUnavailable,
    ),
)]
#[post("/oauth2/requests/{request_id}/reject")]
pub async fn reject_authorization_request(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let back = authorization::reject(state.get_ref(), &id).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(RedirectView {
            redirect_to: back.to_string(),
        }))
}

/// The token endpoint (RFC 6749 §3.2): `authorization_code` (with the PKCE
/// verifier), `refresh_token` (rotating) and `client_credentials`.
#[utoipa::path(
    tag = "oauth2",
    operation_id = "token",
    request_body(content = crate::web::dto::TokenForm, content_type = "application/x-www-form-urlencoded", description = "`grant_type` and its parameters; client authentication by HTTP Basic (`client_secret_basic`), `client_id` + `client_secret` (`client_secret_post`), or `client_id` alone (public clients)."),
    responses(
        (status = 200, description = "`{access_token, token_type: \"Bearer\", expires_in, scope, refresh_token?, id_token?}`.", body = Object),
        (status = 400, description = "RFC 6749 `{error, error_description}`: `invalid_request`, `invalid_grant`, `unauthorized_client`, `unsupported_grant_type`, `invalid_scope`.", body = Object),
        (status = 401, description = "`{error: \"invalid_client\"}`.", body = Object),
        BodyTooLarge,
        BusyOrUnavailable,
    ),
)]
#[post("/oauth2/token")]
pub async fn token(
    req: HttpRequest,
    state: web::Data<AppState>,
    client: ClientInfo,
    body: web::Bytes,
) -> HttpResponse {
    let result = async {
        let mut params = form(&req, &body)?;
        if let Some(name) = params.repeated.clone() {
            return Err(GrantError::InvalidRequest(format!(
                "{name} was sent more than once"
            )));
        }
        let credentials = client_credentials(&req, &mut params)?;
        let request = TokenRequest {
            grant_type: params.take("grant_type"),
            code: params.take("code"),
            redirect_uri: params.take("redirect_uri"),
            code_verifier: params.take("code_verifier"),
            refresh_token: params.take("refresh_token"),
            scope: params.take("scope"),
        };
        oauth_grants::token(state.get_ref(), &credentials, request, &client).await
    }
    .await;
    match result {
        Ok(issued) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"))
            .json(issued),
        Err(error) => grant_error(error),
    }
}

/// Claims about the user (OpenID Connect Core §5.3), by the access token's
/// scopes: `sub`; `email`, `email_verified`; `preferred_username`, `updated_at`.
#[utoipa::path(
    tag = "oauth2",
    operation_id = "userinfo",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The claims.", body = Object),
        Unauthenticated,
        (status = 403, description = "`forbidden`: the token lacks the `openid` scope.", body = Problem, content_type = "application/problem+json"),
        DatabaseUnavailable,
    ),
)]
#[get("/oauth2/userinfo")]
pub async fn userinfo(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    userinfo_answer(&req, &state).await
}

/// Userinfo by POST (OpenID Connect Core §5.3.1): the same answer as `GET`.
#[utoipa::path(
    tag = "oauth2",
    operation_id = "userinfo_post",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The claims.", body = Object),
        Unauthenticated,
        (status = 403, description = "`forbidden`: the token lacks the `openid` scope.", body = Problem, content_type = "application/problem+json"),
        DatabaseUnavailable,
    ),
)]
#[post("/oauth2/userinfo")]
pub async fn userinfo_post(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    userinfo_answer(&req, &state).await
}

async fn userinfo_answer(req: &HttpRequest, state: &AppState) -> Result<HttpResponse, ApiError> {
    let access_token = bearer_token(req)?;
    let claims = oauth_grants::userinfo(state, &access_token).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(claims))
}

/// Token introspection (RFC 7662), for confidential clients: `{active:
/// false}` for anything not live.
#[utoipa::path(
    tag = "oauth2",
    operation_id = "introspect",
    request_body(content = crate::web::dto::TokenActionForm, content_type = "application/x-www-form-urlencoded", description = "`token`; client authentication as at the token endpoint."),
    responses(
        (status = 200, description = "`{active, sub, client_id, scope, exp, iat, token_type, iss, aud}`, or `{active: false}`.", body = Object),
        (status = 400, description = "RFC 6749 `{error: \"invalid_request\"}`: not a form, no `token`, or a parameter repeated or too long.", body = Object),
        (status = 401, description = "`{error: \"invalid_client\"}`.", body = Object),
        BodyTooLarge,
        DatabaseUnavailable,
    ),
)]
#[post("/oauth2/introspect")]
pub async fn introspect(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let result = match token_form(&req, &body) {
        Ok((credentials, presented)) => {
            oauth_grants::introspect(state.get_ref(), &credentials, presented.as_deref()).await
        }
        Err(error) => Err(error),
    };
    match result {
        Ok(answer) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(answer),
        Err(error) => grant_error(error),
    }
}

/// The client's credentials and the `token` of an introspection or
/// revocation form.
fn token_form(
    req: &HttpRequest,
    body: &[u8],
) -> Result<(ClientCredentials, Option<String>), GrantError> {
    let mut params = form(req, body)?;
    let credentials = client_credentials(req, &mut params)?;
    Ok((credentials, params.take("token")))
}

/// Token revocation (RFC 7009): a refresh or access token ends its grant.
/// 200 whatever the token was.
#[utoipa::path(
    tag = "oauth2",
    operation_id = "revoke",
    request_body(content = crate::web::dto::TokenActionForm, content_type = "application/x-www-form-urlencoded", description = "`token`; client authentication as at the token endpoint."),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke."),
        (status = 400, description = "RFC 6749 `{error: \"invalid_request\"}`: not a form, no `token`, or a parameter repeated or too long.", body = Object),
        (status = 401, description = "`{error: \"invalid_client\"}`.", body = Object),
        BodyTooLarge,
        BusyOrUnavailable,
    ),
)]
#[post("/oauth2/revoke")]
pub async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let result = match token_form(&req, &body) {
        Ok((credentials, presented)) => {
            oauth_grants::revoke(state.get_ref(), &credentials, presented.as_deref()).await
        }
        Err(error) => Err(error),
    };
    match result {
        Ok(()) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
        Err(error) => grant_error(error),
    }
}

/// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): ends the
/// browser's single sign-on and its session, then 303 to a registered
/// `post_logout_redirect_uri` (with `state`). Without an `id_token_hint`
/// naming the signed-in user, the user confirms on a page first.
#[utoipa::path(
    tag = "oauth2",
    operation_id = "logout",
    params(
        ("id_token_hint" = Option<String>, Query, max_length = 4096, pattern = "^[A-Za-z0-9_.-]*$"),
        ("client_id" = Option<String>, Query, max_length = 64),
        ("post_logout_redirect_uri" = Option<String>, Query, max_length = 1024),
        ("state" = Option<String>, Query, max_length = 512),
    ),
    responses(
        (status = 303, description = "Signed out; back to the client.", headers(("Location" = String))),
        (status = 200, description = "A page: signed out, or asking the user to confirm.", content_type = "text/html"),
        (status = 400, description = "`malformed_request`: an invalid hint or an unregistered redirect URI.", body = Problem, content_type = "application/problem+json"),
        BusyOrUnavailable,
    ),
)]
#[get("/oauth2/logout")]
pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    client: ClientInfo,
) -> Result<HttpResponse, ApiError> {
    let params = Params::parse(req.query_string().as_bytes());
    params.within_bounds().map_err(ApiError::MalformedRequest)?;
    logout_with(&req, &state, params, false, &client).await
}

/// The logout page's confirmation (a form posted from this origin; the
/// `SameSite=Lax` SSO cookie does not come with another site's post).
#[utoipa::path(
    tag = "oauth2",
    operation_id = "confirm_logout",
    request_body(content = crate::web::dto::LogoutForm, content_type = "application/x-www-form-urlencoded", description = "The parameters of `GET /oauth2/logout`."),
    responses(
        (status = 303, description = "Signed out; back to the client.", headers(("Location" = String))),
        (status = 200, description = "A page: signed out.", content_type = "text/html"),
        (status = 400, description = "`malformed_request`: not a form, an invalid hint or an unregistered redirect URI.", body = Problem, content_type = "application/problem+json"),
        BodyTooLarge,
        BusyOrUnavailable,
    ),
)]
#[post("/oauth2/logout")]
pub async fn confirm_logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    client: ClientInfo,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let params = form(&req, &body).map_err(|_| ApiError::MalformedRequest("not a form".into()))?;
    logout_with(&req, &state, params, true, &client).await
}

async fn logout_with(
    req: &HttpRequest,
    state: &AppState,
    mut params: Params,
    confirmed: bool,
    client: &ClientInfo,
) -> Result<HttpResponse, ApiError> {
    let request = LogoutRequest {
        id_token_hint: params.take("id_token_hint"),
        client_id: params.take("client_id"),
        post_logout_redirect_uri: params.take("post_logout_redirect_uri"),
        state: params.take("state"),
        sso: req
            .cookie(SSO_COOKIE)
            .map(|cookie| cookie.value().to_owned()),
        confirmed,
    };
    let shown = request.clone();
    Ok(match authorization::logout(state, request, client).await? {
        LoggedOut::ToClient(url) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, url.as_str()))
            .cookie(cookies::sso_cookie_removal(state))
            .finish(),
        LoggedOut::Done => {
            let mut response = page("Signed out", "<p>You are signed out.</p>");
            response
                .add_cookie(&cookies::sso_cookie_removal(state))
                .map_err(|error| ApiError::Internal(error.into()))?;
            response
        }
        LoggedOut::ConfirmFirst => {
            let hidden: String = [
                ("id_token_hint", &shown.id_token_hint),
                ("client_id", &shown.client_id),
                ("post_logout_redirect_uri", &shown.post_logout_redirect_uri),
                ("state", &shown.state),
            ]
            .into_iter()
            .filter_map(|(name, value)| {
                value.as_ref().map(|value| {
                    format!(
                        r#"<input type="hidden" name="{name}" value="{}">"#,
                        escape(value)
                    )
                })
            })
            .collect();
            page(
                "Sign out?",
                &format!(
                    r#"<form method="post" action="/oauth2/logout">{hidden}<p>Sign out of Portcullis on this browser?</p><button type="submit">Sign out</button></form>"#
                ),
            )
        }
    })
}

/// A minimal page: no script, nothing from elsewhere, forms only to here.
fn page(title: &str, content: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; form-action 'self'; frame-ancestors 'none'",
        ))
        .body(format!(
            r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title></head><body><main><h1>{title}</h1>{content}</main></body></html>"#
        ))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The caller's consents to apps, most recent first.
#[utoipa::path(
    tag = "oauth2",
    operation_id = "list_consents",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The consents.", body = Vec<ConsentView>),
        Unauthenticated,
        DatabaseUnavailable,
    ),
)]
#[get("/me/consents")]
pub async fn list_consents(
    state: web::Data<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<HttpResponse, ApiError> {
    let consents = authorization::consents(state.get_ref(), &caller).await?;
    Ok(HttpResponse::Ok().json(
        consents
            .into_iter()
            .map(ConsentView::from)
            .collect::<Vec<_>>(),
    ))
}

/// Withdraws consent to an app: every grant the caller gave it is revoked.
#[utoipa::path(
    tag = "oauth2",
    operation_id = "revoke_consent",
    security(("bearer" = [])),
    params(("client_id" = String, Path, max_length = 64)),
    responses(
        (status = 204, description = "Withdrawn; the app's tokens for the caller are revoked."),
        Unauthenticated,
        NotFound,
        BusyOrUnavailable,
    ),
)]
#[delete("/me/consents/{client_id}")]
pub async fn revoke_consent(
    state: web::Data<AppState>,
    client: ClientInfo,
    AuthUser(caller): AuthUser,
    client_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    authorization::revoke_consent(state.get_ref(), &caller, &client_id, &client).await?;
    Ok(HttpResponse::NoContent().finish())
}
