//! Refresh tokens in an `HttpOnly` cookie, for browser apps that should not
//! keep them where a script can read them (`"token_delivery": "cookie"`).
//!
//! The cookie goes only to `/token/*` (`Path=/token`), only over HTTPS
//! (`Secure`, unless `COOKIE_SECURE=false` outside production) and, by
//! default, never with a request another site started (`SameSite=Strict`).
//! A refresh that reads it must also come from an allowed origin and carry
//! `X-Requested-With: portcullis`, a header no form or simple request can
//! send: a cross-origin page cannot send it without a CORS preflight, which
//! only the allowed origins pass.
//!
//! Beside it goes a hint that a page may read, `{COOKIE_NAME}_hint=1`
//! (`Path=/`, not `HttpOnly`, no secret in it, living and dying with the
//! refresh cookie): a signed-out page can tell that there is no session
//! without a refresh that would answer `401` (and log an error in the
//! browser's console). It is only a hint: the refresh cookie decides.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::header;

use actix_web::HttpResponse;

use crate::config::CookieSameSite;
use crate::service::login::IssuedTokens;
use crate::state::AppState;
use crate::web::dto::{TokenDelivery, TokenPair};
use crate::web::origins;
use crate::web::problem::ApiError;

/// The header (and value) a cookie-authenticated call must carry.
pub const CSRF_HEADER: &str = "x-requested-with";
pub const CSRF_HEADER_VALUE: &str = "portcullis";
/// Where the cookie is sent: the refresh endpoint and nothing else.
const COOKIE_PATH: &str = "/token";

/// The 200 answer with a new token pair: the refresh token in the body, or
/// with cookie delivery in the cookie only.
pub fn token_response(
    state: &AppState,
    tokens: IssuedTokens,
    delivery: TokenDelivery,
) -> HttpResponse {
    match delivery {
        TokenDelivery::Body => HttpResponse::Ok().json(TokenPair::from(tokens)),
        TokenDelivery::Cookie => {
            let cookie = refresh_cookie(state, &tokens.refresh_token, tokens.refresh_expires_in);
            let hint = hint_cookie(state, tokens.refresh_expires_in);
            let mut pair = TokenPair::from(tokens);
            pair.refresh_token = None;
            HttpResponse::Ok().cookie(cookie).cookie(hint).json(pair)
        }
    }
}

/// The `Set-Cookie` that delivers `refresh_token`, living as long as its session.
pub fn refresh_cookie(state: &AppState, refresh_token: &str, max_age_secs: u64) -> Cookie<'static> {
    let mut cookie = base_cookie(state, refresh_token.to_owned());
    cookie.set_max_age(CookieDuration::seconds(
        i64::try_from(max_age_secs).unwrap_or(i64::MAX),
    ));
    cookie
}

/// The `Set-Cookie` that makes the browser forget the refresh cookie.
pub fn cleared_cookie(state: &AppState) -> Cookie<'static> {
    let mut cookie = base_cookie(state, String::new());
    cookie.make_removal();
    cookie
}

fn base_cookie(state: &AppState, value: String) -> Cookie<'static> {
    let policy = &state.edge.cookie;
    let mut cookie = Cookie::new(policy.name.clone(), value);
    cookie.set_http_only(true);
    cookie.set_secure(policy.secure);
    cookie.set_path(COOKIE_PATH);
    cookie.set_same_site(same_site(policy.same_site));
    cookie
}

fn same_site(setting: CookieSameSite) -> SameSite {
    match setting {
        CookieSameSite::Strict => SameSite::Strict,
        CookieSameSite::Lax => SameSite::Lax,
        CookieSameSite::None => SameSite::None,
    }
}

/// The name of the hint cookie: the refresh cookie's name with `_hint`.
pub fn hint_cookie_name(state: &AppState) -> String {
    format!("{}_hint", state.edge.cookie.name)
}

/// The hint that a refresh cookie is set: `1`, readable by the page's
/// scripts (on every path of the API's host name, which pages on the same
/// host name see whatever their port), as long-lived as the refresh cookie.
fn hint_cookie(state: &AppState, max_age_secs: u64) -> Cookie<'static> {
    let policy = &state.edge.cookie;
    let mut cookie = Cookie::new(hint_cookie_name(state), "1");
    cookie.set_http_only(false);
    cookie.set_secure(policy.secure);
    cookie.set_path("/");
    cookie.set_same_site(same_site(policy.same_site));
    cookie.set_max_age(CookieDuration::seconds(
        i64::try_from(max_age_secs).unwrap_or(i64::MAX),
    ));
    cookie
}

/// The `Set-Cookie` that makes the browser forget the hint.
pub fn cleared_hint_cookie(state: &AppState) -> Cookie<'static> {
    let mut cookie = hint_cookie(state, 0);
    cookie.set_value("");
    cookie.make_removal();
    cookie
}

/// `401 missing_token` for a refresh that has neither a body token nor the
/// refresh cookie, saying what the browser did not send and the likeliest
/// reason: a page on another site (the cookie is `SameSite`), a `Secure`
/// cookie over plain HTTP, or simply no cookie login yet.
pub fn missing_cookie(req: &HttpRequest, state: &AppState) -> ApiError {
    let policy = &state.edge.cookie;
    let name = &policy.name;
    let info = req.connection_info();
    let own_origin = format!("{}://{}", info.scheme(), info.host());
    let own = origins::shown(&own_origin).unwrap_or("this API");
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok())
        .and_then(origins::shown);
    let same_site_setting = match policy.same_site {
        CookieSameSite::Strict => "Strict",
        CookieSameSite::Lax => "Lax",
        CookieSameSite::None => "None",
    };
    let unsent = format!(
        "No refresh token: the body has no `refresh_token` and the request carried no `{name}` cookie."
    );
    let why = match origin {
        Some(origin)
            if policy.same_site != CookieSameSite::None
                && !origins::same_site(origin, &own_origin) =>
        {
            format!(
                "{unsent} The page at {origin} and this API at {own} are different sites \
                 (localhost and 127.0.0.1 are two sites, whatever the ports), and the cookie is \
                 SameSite={same_site_setting}, so the browser does not send it with a request \
                 that page makes. Open the page and the API under the same host name (both on \
                 localhost, say, or behind one origin); an app that must live on another site \
                 needs HTTPS and COOKIE_SAMESITE=None."
            )
        }
        _ if policy.secure && info.scheme() == "http" && !info.host().starts_with("localhost") => {
            format!(
                "{unsent} The cookie is Secure, and browsers keep a Secure cookie only over \
                 HTTPS (or on localhost): in development use http://localhost, or set \
                 COOKIE_SECURE=false."
            )
        }
        _ => format!(
            "{unsent} Log in with \"token_delivery\": \"cookie\" first (a logout or a refused \
             refresh removes the cookie), and send the refresh from the page with \
             `credentials: \"include\"`."
        ),
    };
    ApiError::MissingRefreshCookie { why }
}

/// The refresh token of the request's cookie, once the request proved it
/// comes from an allowed page; `None` without the cookie.
pub fn refresh_token_from_cookie(
    req: &HttpRequest,
    state: &AppState,
) -> Result<Option<String>, ApiError> {
    let Some(cookie) = req.cookie(&state.edge.cookie.name) else {
        return Ok(None);
    };
    check_origin(req, state)?;
    Ok(Some(cookie.value().to_owned()))
}

/// A cookie-authenticated call must name an allowed origin (one of
/// `CORS_ALLOWED_ORIGINS`, or the service's own) and carry the CSRF header.
fn check_origin(req: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    let headers = req.headers();
    let marked = headers
        .get(CSRF_HEADER)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case(CSRF_HEADER_VALUE));
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let info = req.connection_info();
    let own = format!("{}://{}", info.scheme(), info.host());
    let allowed = !origin.is_empty()
        && (origin.eq_ignore_ascii_case(&own)
            || state
                .edge
                .cors_allowed_origins
                .iter()
                .any(|allowed| allowed != "*" && allowed.eq_ignore_ascii_case(origin)));
    if marked && allowed {
        Ok(())
    } else {
        Err(ApiError::CsrfRejected)
    }
}

/// The cookie that binds a provider sign-in to the browser that began it
/// (`HttpOnly`, `SameSite=Lax` so that it comes back with the provider's
/// top-level redirect, only under `/login/providers`, as long as an attempt).
pub const OAUTH_COOKIE: &str = "portcullis_oauth";

pub fn oauth_cookie(state: &AppState, binding: String, max_age_secs: u64) -> Cookie<'static> {
    let mut cookie = Cookie::new(OAUTH_COOKIE, binding);
    cookie.set_http_only(true);
    cookie.set_secure(state.edge.cookie.secure);
    cookie.set_path("/login/providers");
    cookie.set_same_site(SameSite::Lax);
    cookie.set_max_age(CookieDuration::seconds(
        i64::try_from(max_age_secs).unwrap_or(i64::MAX),
    ));
    cookie
}

/// The browser's single sign-on at the OpenID Provider: sent with the
/// authorization endpoint's top-level navigations (`SameSite=Lax`), only
/// under `/oauth2`, tied to the session the login page opened (it ends with
/// it). A session cookie: closing the browser signs out of the provider.
pub const SSO_COOKIE: &str = "portcullis_sso";

pub fn sso_cookie(state: &AppState, token: String) -> Cookie<'static> {
    let mut cookie = Cookie::new(SSO_COOKIE, token);
    cookie.set_http_only(true);
    cookie.set_secure(state.edge.cookie.secure);
    cookie.set_path("/oauth2");
    cookie.set_same_site(SameSite::Lax);
    cookie
}

/// Removes the single sign-on cookie.
pub fn sso_cookie_removal(state: &AppState) -> Cookie<'static> {
    let mut cookie = sso_cookie(state, String::new());
    cookie.make_removal();
    cookie
}

/// The documented bounds of the refresh endpoint's cookie (4096) and
/// `X-Requested-With` (64): longer ones are refused whether or not the body
/// carries the token, as the OpenAPI document says.
pub fn check_refresh_input_lengths(req: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    let cookie_too_long = req
        .cookie(&state.edge.cookie.name)
        .is_some_and(|cookie| cookie.value().len() > 4096);
    let header_too_long = req
        .headers()
        .get(CSRF_HEADER)
        .is_some_and(|value| value.len() > 64);
    if cookie_too_long || header_too_long {
        return Err(ApiError::MalformedRequest(
            "the refresh cookie (at most 4096 characters) or X-Requested-With (at most 64) is too long"
                .to_owned(),
        ));
    }
    Ok(())
}
