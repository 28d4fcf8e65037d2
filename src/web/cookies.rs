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

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::header;

use actix_web::HttpResponse;

use crate::config::CookieSameSite;
use crate::service::login::IssuedTokens;
use crate::state::AppState;
use crate::web::dto::{TokenDelivery, TokenPair};
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
            let mut pair = TokenPair::from(tokens);
            pair.refresh_token = None;
            HttpResponse::Ok().cookie(cookie).json(pair)
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
    cookie.set_same_site(match policy.same_site {
        CookieSameSite::Strict => SameSite::Strict,
        CookieSameSite::Lax => SameSite::Lax,
        CookieSameSite::None => SameSite::None,
    });
    cookie
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
