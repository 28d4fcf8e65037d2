//! Browser sessions: the refresh token in an HttpOnly cookie
//! (`"token_delivery": "cookie"`), refreshed only from allowed origins with
//! the CSRF header, cleared at logout; CORS with credentials.

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, SET_COOKIE};
use serde_json::{Value, json};

use crate::helpers::{
    STRONG_PASSWORD, TestApp, assert_problem, spawn_app, spawn_app_with, totp_code,
};

const APP_ORIGIN: &str = "https://app.example.com";

/// The `Set-Cookie` header for the refresh cookie.
fn refresh_set_cookie(headers: &HeaderMap) -> String {
    set_cookie_named(headers, "portcullis_refresh")
}

/// The `Set-Cookie` header that sets the cookie `name`.
fn set_cookie_named(headers: &HeaderMap, name: &str) -> String {
    let prefix = format!("{name}=");
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {name} cookie in {headers:?}"))
        .to_owned()
}

/// The cookie's value, as the browser would send it back.
fn cookie_value(set_cookie: &str) -> String {
    let pair = set_cookie.split(';').next().unwrap();
    pair.split_once('=').unwrap().1.to_owned()
}

async fn app_for_browsers() -> TestApp {
    spawn_app_with(|s| {
        s.guards.rate_limit_per_minute = 0;
        s.guards.cors_allowed_origins = vec![APP_ORIGIN.to_owned()];
    })
    .await
}

/// Logs `username` in with cookie delivery; the body and the cookie's value.
async fn cookie_login(app: &TestApp, username: &str) -> (Value, String) {
    app.signed_up(username).await;
    let response = app
        .login(&json!({
            "email": format!("{username}@example.com"),
            "password": STRONG_PASSWORD,
            "token_delivery": "cookie"
        }))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = cookie_value(&refresh_set_cookie(response.headers()));
    (response.json().await.unwrap(), cookie)
}

/// `POST /token/refresh` with the cookie and no body, as the browser client does.
async fn cookie_refresh(
    app: &TestApp,
    cookie: &str,
    origin: Option<&str>,
    csrf_header: bool,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/token/refresh"))
        .header("Cookie", format!("portcullis_refresh={cookie}"));
    if let Some(origin) = origin {
        request = request.header("Origin", origin);
    }
    if csrf_header {
        request = request.header("X-Requested-With", "portcullis");
    }
    request.send().await.unwrap()
}

#[actix_web::test]
async fn a_cookie_login_keeps_the_refresh_token_out_of_the_body() {
    let app = app_for_browsers().await;
    app.signed_up("ada").await;
    let response = app
        .login(&json!({
            "email": "ada@example.com",
            "password": STRONG_PASSWORD,
            "token_delivery": "cookie"
        }))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let set_cookie = refresh_set_cookie(response.headers());
    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/token",
        "Max-Age=86400",
    ] {
        assert!(
            set_cookie.contains(attribute),
            "{attribute} in {set_cookie}"
        );
    }
    let body: Value = response.json().await.unwrap();
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert!(body["access_token"].is_string());
    assert_eq!(body["refresh_expires_in"], 86400);

    // Body delivery (the default) is unchanged: no cookie.
    let plain = app
        .login(&json!({"email": "ada@example.com", "password": STRONG_PASSWORD}))
        .await;
    assert!(plain.headers().get(SET_COOKIE).is_none());
    let plain: Value = plain.json().await.unwrap();
    assert!(plain["refresh_token"].is_string());
}

#[actix_web::test]
async fn a_cookie_refresh_rotates_the_cookie_and_reuse_revokes_the_session() {
    let app = app_for_browsers().await;
    let (_, first) = cookie_login(&app, "ada").await;

    let refreshed = cookie_refresh(&app, &first, Some(APP_ORIGIN), true).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let second = cookie_value(&refresh_set_cookie(refreshed.headers()));
    assert_ne!(first, second);
    let body: Value = refreshed.json().await.unwrap();
    assert!(body.get("refresh_token").is_none());

    app.clock.advance(chrono::Duration::seconds(11));
    let reused = cookie_refresh(&app, &first, Some(APP_ORIGIN), true).await;
    let cleared = refresh_set_cookie(reused.headers());
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_problem(reused, StatusCode::UNAUTHORIZED, "refresh_token_reused").await;
    let after = cookie_refresh(&app, &second, Some(APP_ORIGIN), true).await;
    assert_problem(after, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[actix_web::test]
async fn two_tabs_refreshing_with_one_cookie_both_stay_logged_in() {
    let app = app_for_browsers().await;
    let (_, cookie) = cookie_login(&app, "ada").await;

    let (a, b) = futures_util::future::join(
        cookie_refresh(&app, &cookie, Some(APP_ORIGIN), true),
        cookie_refresh(&app, &cookie, Some(APP_ORIGIN), true),
    )
    .await;
    assert_eq!((a.status(), b.status()), (StatusCode::OK, StatusCode::OK));
    assert_eq!(
        cookie_value(&refresh_set_cookie(a.headers())),
        cookie_value(&refresh_set_cookie(b.headers()))
    );
}

#[actix_web::test]
async fn a_cookie_refresh_needs_an_allowed_origin_and_the_csrf_header() {
    let app = app_for_browsers().await;
    let (_, cookie) = cookie_login(&app, "ada").await;

    for (origin, marked) in [
        (Some(APP_ORIGIN), false),
        (Some("https://evil.example.net"), true),
        (None, true),
        (Some("null"), true),
    ] {
        let refused = cookie_refresh(&app, &cookie, origin, marked).await;
        assert_problem(refused, StatusCode::FORBIDDEN, "csrf_rejected").await;
    }
    // The service's own origin is allowed too (an app served beside it).
    let own = app.address.clone();
    let allowed = cookie_refresh(&app, &cookie, Some(&own), true).await;
    assert_eq!(allowed.status(), StatusCode::OK);
}

#[actix_web::test]
async fn a_refresh_with_neither_body_nor_cookie_is_missing_its_token() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/token/refresh"))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::UNAUTHORIZED, "missing_token").await;
}

#[actix_web::test]
async fn a_body_token_can_move_to_a_cookie() {
    let app = app_for_browsers().await;
    let ada = app.signed_up("ada").await;
    let moved = app
        .post_json(
            "/token/refresh",
            &json!({"refresh_token": ada.refresh_token, "token_delivery": "cookie"}),
        )
        .await;
    assert_eq!(moved.status(), StatusCode::OK);
    let cookie = cookie_value(&refresh_set_cookie(moved.headers()));
    let body: Value = moved.json().await.unwrap();
    assert!(body.get("refresh_token").is_none());
    let next = cookie_refresh(&app, &cookie, Some(APP_ORIGIN), true).await;
    assert_eq!(next.status(), StatusCode::OK);
}

#[actix_web::test]
async fn logout_clears_the_cookie() {
    let app = app_for_browsers().await;
    let (body, cookie) = cookie_login(&app, "ada").await;
    let response = app.logout(body["access_token"].as_str().unwrap()).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let cleared = refresh_set_cookie(response.headers());
    assert!(
        cleared.contains("Max-Age=0") && cleared.contains("Path=/token"),
        "{cleared}"
    );
    let after = cookie_refresh(&app, &cookie, Some(APP_ORIGIN), true).await;
    assert_problem(after, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[actix_web::test]
async fn cors_answers_allowed_origins_with_credentials_and_the_csrf_header() {
    let app = app_for_browsers().await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/token/refresh"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "content-type,x-requested-with",
            )
            .send()
    };
    let allowed = preflight(APP_ORIGIN).await.unwrap();
    assert_eq!(allowed.status(), StatusCode::OK);
    let headers = allowed.headers();
    assert_eq!(headers["access-control-allow-origin"], APP_ORIGIN);
    assert_eq!(headers["access-control-allow-credentials"], "true");
    let allowed_headers = headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(
        allowed_headers.contains("x-requested-with"),
        "{allowed_headers}"
    );

    let other = preflight("https://evil.example.net").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    assert!(
        other
            .headers()
            .get("access-control-allow-credentials")
            .is_none()
    );
    // The refusal says which origin and which setting.
    let problem = assert_problem(other, StatusCode::FORBIDDEN, "forbidden").await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("https://evil.example.net") && detail.contains("CORS_ALLOWED_ORIGINS"),
        "{detail}"
    );
}

#[actix_web::test]
async fn a_preflight_to_a_service_without_allowed_origins_says_the_setting_is_empty() {
    let app = spawn_app().await;
    let refused = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/login"))
        .header("Origin", "http://localhost:5173")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    let problem = assert_problem(refused, StatusCode::FORBIDDEN, "forbidden").await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("CORS_ALLOWED_ORIGINS is empty")
            && detail.contains("CORS_ALLOWED_ORIGINS=http://localhost:5173"),
        "{detail}"
    );
}

#[actix_web::test]
async fn a_missing_cookie_from_a_page_of_another_site_says_why_it_was_not_sent() {
    let app = spawn_app_with(|s| {
        s.guards.rate_limit_per_minute = 0;
        s.guards.cors_allowed_origins = vec!["http://localhost:5173".to_owned()];
        s.cookie.cookie_secure = false;
    })
    .await;
    // The API at 127.0.0.1, the page at localhost: two sites.
    let refused = app
        .client
        .post(app.url("/token/refresh"))
        .header("Origin", "http://localhost:5173")
        .header("X-Requested-With", "portcullis")
        .send()
        .await
        .unwrap();
    let problem = assert_problem(refused, StatusCode::UNAUTHORIZED, "missing_token").await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("http://localhost:5173")
            && detail.contains("different sites")
            && detail.contains("SameSite=Strict"),
        "{detail}"
    );

    // From a page of the same site, the advice is to log in in cookie mode.
    let same_site = app
        .client
        .post(app.url("/token/refresh"))
        .header("Origin", app.address.as_str())
        .header("X-Requested-With", "portcullis")
        .send()
        .await
        .unwrap();
    let problem = assert_problem(same_site, StatusCode::UNAUTHORIZED, "missing_token").await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("token_delivery") && !detail.contains("different sites"),
        "{detail}"
    );

    // A Secure cookie over plain HTTP to an address (not localhost): said too.
    let secure = spawn_app().await;
    let refused = secure
        .client
        .post(secure.url("/token/refresh"))
        .header("Origin", secure.address.as_str())
        .header("X-Requested-With", "portcullis")
        .send()
        .await
        .unwrap();
    let problem = assert_problem(refused, StatusCode::UNAUTHORIZED, "missing_token").await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("COOKIE_SECURE=false"), "{detail}");
}

/// The `Set-Cookie` header for the hint cookie.
fn hint_set_cookie(headers: &HeaderMap) -> String {
    set_cookie_named(headers, "portcullis_refresh_hint")
}

#[actix_web::test]
async fn a_readable_hint_cookie_comes_and_goes_with_the_refresh_cookie() {
    let app = app_for_browsers().await;
    app.signed_up("ada").await;
    let response = app
        .login(&json!({
            "email": "ada@example.com",
            "password": STRONG_PASSWORD,
            "token_delivery": "cookie"
        }))
        .await;
    let hint = hint_set_cookie(response.headers());
    assert!(hint.starts_with("portcullis_refresh_hint=1;"), "{hint}");
    assert!(
        hint.contains("Path=/;") || hint.ends_with("Path=/"),
        "{hint}"
    );
    assert!(!hint.contains("HttpOnly"), "{hint}");
    assert!(hint.contains("Max-Age="), "{hint}");
    let body: Value = response.json().await.unwrap();

    // A body login sets no cookie at all.
    let plain = app
        .login(&json!({"email": "ada@example.com", "password": STRONG_PASSWORD}))
        .await;
    assert!(plain.headers().get(SET_COOKIE).is_none());

    let out = app.logout(body["access_token"].as_str().unwrap()).await;
    let cleared = hint_set_cookie(out.headers());
    assert!(cleared.contains("Max-Age=0"), "{cleared}");

    // A refused cookie refresh drops the hint with the cookie.
    let refused = cookie_refresh(&app, "not-a-token", Some(APP_ORIGIN), true).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let cleared = hint_set_cookie(refused.headers());
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
}

#[actix_web::test]
async fn the_cookie_follows_its_settings() {
    let app = spawn_app_with(|s| {
        s.cookie.cookie_name = "sid".to_owned();
        s.cookie.cookie_secure = false;
        s.cookie.cookie_samesite = portcullis::config::CookieSameSite::Lax;
    })
    .await;
    app.signed_up("ada").await;
    let response = app
        .login(&json!({
            "email": "ada@example.com",
            "password": STRONG_PASSWORD,
            "token_delivery": "cookie"
        }))
        .await;
    let set_cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(set_cookie.starts_with("sid="), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    assert!(!set_cookie.contains("Secure"), "{set_cookie}");
}

#[actix_web::test]
async fn a_second_factor_login_can_deliver_a_cookie() {
    let app = app_for_browsers().await;
    let ada = app.signed_up("ada").await;
    let started: Value = app
        .send_json(
            reqwest::Method::POST,
            "/me/mfa/totp",
            &ada.access_token,
            &json!({"password": STRONG_PASSWORD}),
        )
        .await
        .json()
        .await
        .unwrap();
    let secret = started["secret"].as_str().unwrap();
    let code = |app: &TestApp| totp_code(app, secret);
    let confirmed = app
        .send_json(
            reqwest::Method::POST,
            "/me/mfa/totp/confirm",
            &ada.access_token,
            &json!({"code": code(&app)}),
        )
        .await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    app.clock.advance(chrono::Duration::seconds(30));

    let challenge: Value = app
        .login(&json!({"email": ada.email, "password": STRONG_PASSWORD}))
        .await
        .json()
        .await
        .unwrap();
    let finished = app
        .post_json(
            "/login/mfa",
            &json!({"mfa_token": challenge["mfa_token"], "code": code(&app), "token_delivery": "cookie"}),
        )
        .await;
    assert_eq!(finished.status(), StatusCode::OK);
    let cookie = cookie_value(&refresh_set_cookie(finished.headers()));
    let body: Value = finished.json().await.unwrap();
    assert!(body.get("refresh_token").is_none());
    assert_eq!(
        cookie_refresh(&app, &cookie, Some(APP_ORIGIN), true)
            .await
            .status(),
        StatusCode::OK
    );
}

#[actix_web::test]
async fn a_mistyped_token_delivery_names_the_field_and_its_values_not_the_typo() {
    let app = app_for_browsers().await;
    app.signed_up("ada").await;
    let response = app
        .login(&json!({
            "email": "ada@example.com",
            "password": STRONG_PASSWORD,
            "token_delivery": "cookies"
        }))
        .await;
    let problem = assert_problem(response, StatusCode::BAD_REQUEST, "malformed_request").await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("`token_delivery` must be `body` or `cookie`"),
        "{detail}"
    );
    assert!(!detail.contains("cookies"), "{detail}");
}
