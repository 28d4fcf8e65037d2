//! Signing in with another provider, against a real OpenID provider on
//! loopback (oidc-provider-mock, started by each test): the whole flow from
//! the start to `POST /login/code`, new accounts and known identities, the
//! never-automatic linking, the app's PKCE, login CSRF, the redirect
//! allow-list, a provider that is down or hangs, second factors, and the
//! linked identities of `/me/identities`.

use portcullis::config::{ProviderDefinition, ProviderKind, Settings, Signup, Switch};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    FreezableProxy, STRONG_PASSWORD, TestApp, TestOidcProvider, assert_problem, jwt_parts,
    spawn_app_with, totp_code,
};

/// Where the tests' app wants to come back to (APP_URL's origin).
const BACK: &str = "http://localhost:3000/auth/done";
/// An RFC 7636 verifier and its S256 challenge (appendix B).
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn provider_settings(settings: &mut Settings, issuer: &str) {
    settings.providers.providers = vec!["mock".to_owned()];
    settings.providers.definitions = vec![ProviderDefinition {
        id: "mock".to_owned(),
        name: "Mock ID".to_owned(),
        kind: ProviderKind::Oidc,
        issuer: url::Url::parse(issuer).expect("an issuer URL"),
        client_id: "portcullis-test".to_owned(),
        client_secret: "test-secret".into(),
        scopes: vec!["openid".into(), "email".into(), "profile".into()],
    }];
    settings.providers.provider_timeout = 2;
}

async fn app_with(provider: &TestOidcProvider, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let issuer = provider.issuer();
    spawn_app_with(move |s| {
        provider_settings(s, &issuer);
        configure(s);
    })
    .await
}

/// A browser's visit: the start, the provider's consent, the callback.
struct Visit {
    /// The `portcullis_oauth` cookie the start set.
    cookie: String,
    /// The provider's authorization URL.
    authorization_url: String,
}

/// `GET /login/providers/mock?…`: 303 to the provider, with the cookie.
async fn start(app: &TestApp, query: &[(&str, &str)]) -> Visit {
    let answer = app
        .client
        .get(app.url("/login/providers/mock"))
        .query(query)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let cookie = answer
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with("portcullis_oauth="))
        .expect("the binding cookie")
        .to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/login/providers"), "{cookie}");
    Visit {
        cookie: cookie.split(';').next().expect("name=value").to_owned(),
        authorization_url: location(&answer),
    }
}

fn location(answer: &reqwest::Response) -> String {
    answer.headers()[reqwest::header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned()
}

/// Brings the provider's redirect (addressed to the callback) to the app,
/// with `cookie` as the browser's; returns the app's answer.
async fn callback(
    app: &TestApp,
    provider_redirect: &str,
    cookie: Option<&str>,
) -> reqwest::Response {
    callback_request(app, provider_redirect, cookie)
        .await
        .unwrap()
}

/// [`callback`], not yet awaited (to run beside another writer).
fn callback_request(
    app: &TestApp,
    provider_redirect: &str,
    cookie: Option<&str>,
) -> impl std::future::Future<Output = reqwest::Result<reqwest::Response>> + Send + 'static {
    let url = url::Url::parse(provider_redirect).unwrap();
    assert_eq!(url.path(), "/login/providers/mock/callback");
    let mut request = app.client.get(app.url(&format!(
        "{}?{}",
        url.path(),
        url.query().unwrap_or_default()
    )));
    if let Some(cookie) = cookie {
        request = request.header(reqwest::header::COOKIE, cookie);
    }
    request.send()
}

/// The query of where the callback sent the browser, which must be `BACK`.
fn arrival(answer: &reqwest::Response) -> Vec<(String, String)> {
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let url = url::Url::parse(&location(answer)).unwrap();
    assert_eq!(
        format!("{}{}", url.origin().ascii_serialization(), url.path()),
        BACK
    );
    url.query_pairs()
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect()
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// The whole browser side for `subject`: start, consent, callback; the query
/// the app receives at `BACK`.
async fn sign_in_at_provider(
    app: &TestApp,
    provider: &TestOidcProvider,
    subject: &str,
    query: &[(&str, &str)],
) -> Vec<(String, String)> {
    let visit = start(app, query).await;
    let back = provider
        .consent(&visit.authorization_url, Some(subject))
        .await;
    arrival(&callback(app, &back, Some(&visit.cookie)).await)
}

/// `POST /me/identities/mock` for the bearer of `access_token`: the ticket
/// in the URL it answers with.
async fn link_ticket(app: &TestApp, access_token: &str) -> String {
    let answer = app
        .client
        .post(app.url("/me/identities/mock"))
        .bearer_auth(access_token)
        .json(&json!({"redirect_to": BACK}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let link: Value = answer.json().await.unwrap();
    let url = url::Url::parse(link["url"].as_str().unwrap()).unwrap();
    assert_eq!(url.path(), "/login/providers/mock");
    url.query_pairs()
        .find(|(name, _)| name == "link_ticket")
        .expect("a link ticket")
        .1
        .into_owned()
}

async fn exchange(app: &TestApp, body: &Value) -> reqwest::Response {
    app.post_json("/login/code", body).await
}

/// Signs `subject` in and exchanges the code (no PKCE): the token pair.
async fn signed_in(app: &TestApp, provider: &TestOidcProvider, subject: &str) -> Value {
    let arrived = sign_in_at_provider(app, provider, subject, &[("redirect_to", BACK)]).await;
    let code = param(&arrived, "code").unwrap_or_else(|| panic!("no code: {arrived:?}"));
    let answer = exchange(app, &json!({"code": code})).await;
    assert_eq!(answer.status(), StatusCode::OK);
    answer.json().await.unwrap()
}

fn verified(email: &str, username: &str) -> Value {
    json!({"email": email, "email_verified": true, "preferred_username": username})
}

async fn identities(app: &TestApp, access_token: &str) -> Vec<Value> {
    let answer = app.get("/me/identities", Some(access_token)).await;
    assert_eq!(answer.status(), StatusCode::OK);
    answer.json().await.unwrap()
}

#[actix_web::test]
async fn the_providers_are_listed_by_id_and_name() {
    let Some(provider) = TestOidcProvider::start().await else {
        return;
    };
    let app = app_with(provider, |_| {}).await;
    let listed: Value = app
        .get("/login/providers", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed, json!([{"id": "mock", "name": "Mock ID"}]));
    let unknown = app
        .client
        .get(app.url("/login/providers/nope?redirect_to=http://localhost:3000/"))
        .send()
        .await
        .unwrap();
    assert_problem(unknown, StatusCode::NOT_FOUND, "not_found").await;
}

#[actix_web::test]
async fn a_verified_address_makes_an_account_and_the_same_subject_comes_back_to_it() {
    let Some(provider) = TestOidcProvider::start().await else {
        return;
    };
    let app = app_with(provider, |_| {}).await;
    provider
        .set_user("grace-1", verified("grace@example.com", "grace"))
        .await;

    let first = signed_in(&app, provider, "grace-1").await;
    let (_, claims) = jwt_parts(first["access_token"].as_str().unwrap());
    assert_eq!(claims["amr"], json!(["fed"]));
    assert_eq!(first["user"]["email"], "grace@example.com");
    assert_eq!(first["user"]["username"], "grace");
    assert_eq!(first["user"]["email_verified"], true);

    let again = signed_in(&app, provider, "grace-1").await;
    assert_eq!(again["user"]["id"], first["user"]["id"]);
    let linked = identities(&app, again["access_token"].as_str().unwrap()).await;
    assert_eq!(linked.len(), 1);
    assert_eq!(linked[0]["provider"], "mock");
    assert_eq!(linked[0]["subject"], "grace-1");
    assert_eq!(linked[0]["email"], "grace@example.com");
    assert_eq!(app.count("users", "email = 'grace@example.com'").await, 1);

    // No password anyone knows: a password login fails like a wrong one.
    let guessed = app
        .login(&json!({"email": "grace@example.com", "password": STRONG_PASSWORD}))
        .await;
    assert_problem(guessed, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
}

#[actix_web::test]
async fn an_address_an_account_has_is_never_linked_until_its_owner_links_it() {
    let Some(provider) = TestOidcProvider::start().await else {
        return;
    };
    let app = app_with(provider, |_| {}).await;
    let ada = app.signed_up("ada").await;
    provider
        .set_user("ada-at-mock", verified(&ada.email, "ada"))
        .await;

    let arrived =
        sign_in_at_provider(&app, provider, "ada-at-mock", &[("redirect_to", BACK)]).await;
    assert_eq!(param(&arrived, "error"), Some("account_exists"));
    assert_eq!(param(&arrived, "code"), None);
    assert!(identities(&app, &ada.access_token).await.is_empty());

    // The owner links it from a logged-in session.
    let started = app
        .client
        .post(app.url("/me/identities/mock"))
        .bearer_auth(&ada.access_token)
        .json(&json!({"redirect_to": BACK}))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::OK);
    let link: Value = started.json().await.unwrap();
    let link_url = url::Url::parse(link["url"].as_str().unwrap()).unwrap();
    assert_eq!(link_url.path(), "/login/providers/mock");
    let ticket_query: Vec<(String, String)> = link_url
        .query_pairs()
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    let ticket_query: Vec<(&str, &str)> = ticket_query
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let visit = start(&app, &ticket_query).await;
    let back = provider
        .consent(&visit.authorization_url, Some("ada-at-mock"))
        .await;
    let arrived = arrival(&callback(&app, &back, Some(&visit.cookie)).await);
    assert_eq!(param(&arrived, "linked"), Some("mock"));
    let linked = identities(&app, &ada.access_token).await;
    assert_eq!(linked.len(), 1);

    // The ticket was used once.
    let again = app
        .client
        .get(app.url("/login/providers/mock"))
        .query(&ticket_query)
        .send()
        .await
        .unwrap();
    assert_problem(again, StatusCode::BAD_REQUEST, "invalid_or_expired_token").await;

    // Now the provider signs in to Ada's account.
    let pair = signed_in(&app, provider, "ada-at-mock").await;
    assert_eq!(pair["user"]["id"].as_str(), Some(ada.id.as_str()));

    // Unlinking is fine: Ada has a password.
    let id = linked[0]["id"].as_str().unwrap();
    let unlinked = app
        .client
        .delete(app.url(&format!("/me/identities/{id}")))
        .bearer_auth(&ada.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(unlinked.status(), StatusCode::NO_CONTENT);
    let arrived =
        sign_in_at_provider(&app, provider, "ada-at-mock", &[("redirect_to", BACK)]).await;
    assert_eq!(param(&arrived, "error"), Some("account_exists"));
}

#[actix_web::test]
async fn an_identity_another_account_has_is_not_linked() {
    let Some(provider) = TestOidcProvider::start().await else {
        return;
    };
    let app = app_with(provider, |_| {}).await;
    provider
        .set_user("shared", verified("grace@example.com", "grace"))
        .await;
    signed_in(&app, provider, "shared").await;
    let ada = app.signed_up("ada").await;
    let ticket = link_ticket(&app, &ada.access_token).await;
    let visit = start(&app, &[("link_ticket", &ticket)]).await;
    let back = provider
        .consent(&visit.authorization_url, Some("shared"))
        .await;
    let arrived = arrival(&callback(&app, &back, Some(&visit.cookie)).await);
    assert_eq!(param(&arrived, "error"), Some("identity_taken"));
    assert!(identities(&app, &ada.access_token).await.is_empty());
}

#[actix_web::test]
async fn an_unverified_address_creates_nothing() {
    let Some(provider) = TestOidcProvider::start().await else {
        return;
    };
    let app = app_with(provider, |_| {}).await;
    provider
        .set_user(
            "mallory",
            json!({"email": "victim@example.com", "email_verified": false}),
        )
        .await;
    let arrived = sign_in_at_provider(&app, provider, "mallory", &[("redirect_to", BACK)]).await;
    assert_eq!(param(&arrived, "error"), Some("email_not_verified"));
    assert_eq!(app.count("users", "1 = 1").await, 0);
    assert_eq!(app.count("identities", "1 = 1").await, 0);
}

#[actix_web::test]
async fn with_signup_closed_a_new_identity_makes_no_account() {
    let Some(provider) = TestOidcProvider::start().await else {
        return;
    };
    let app = app_with(provider, |s| s.providers.signup = Signup::Closed).await;
    provider
        .set_user("grace-1", verified("grace@example.com", "grace"))
        .await;
    let arrived = sign_in_at_provider(&app, provider, "grace-1", &[("redirect_to", BACK)]).await;
    assert_eq!(param(&arrived, "error"), Some("signup_closed"));
    assert_eq!(app.count("users", "1 = 1").await, 0);
}

#[actix_web::test]
async fn the_apps_pkce_verifier_is_required_when_it_sent_a_challenge() {
    let Some(provider) = TestOidcProvider::start().await else {
        return;
    };
    let app = app_with(provider, |_| {}).await;
    provider
        .set_user("grace-1", verified("grace@example.com", "grace"))
        .await;
    let with_challenge = [
        ("redirect_to", BACK),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];

    // Without the verifier: refused, and the code is spent.
    let arrived = sign_in_at_provider(&app, provider, "grace-1", &with_challenge).await;
    let code = param(&arrived, "code").unwrap().to_owned();
    let refused = exchange(&app, &json!({"code": code})).await;
    assert_problem(refused, StatusCode::BAD_REQUEST, "invalid_or_expired_token").await;
    let spent = exchange(&app, &json!({"code": code, "code_verifier": VERIFIER})).await;
    assert_problem(spent, StatusCode::BAD_REQUEST, "invalid_or_expired_token").await;

    // With another verifier: refused.
    let arrived = sign_in_at_provider(&app, provider, "grace-1", &with_challenge).await;
    let wrong = exchange(
        &app,
        &json!({"code": param(&arrived, "code").unwrap(), "code_verifier": "x".repeat(43)}),
    )
    .await;
    assert_problem(wrong, StatusCode::BAD_REQUEST, "invalid_or_expired_token").await;

    // With the right one: a session.
    let arrived = sign_in_at_provider(&app, provider, "grace-1", &with_challenge).await;
    let right = exchange(
        &app,
        &json!({"code": param(&arrived, "code").unwrap(), "code_verifier": VERIFIER, "token_delivery": "cookie"}),
    )
    .await;
    assert_eq!(right.status(), StatusCode::OK);
    assert!(
        right
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .any(|value| value.to_str().unwrap().starts_with("portcullis_refresh="))
    );
    let pair: Value = right.json().await.unwrap();
    assert!(pair.get("refresh_token").is_none() || pair["refresh_token"].is_null());

    // A challenge that is not S256's shape is refused at the start.
    let plain = app
        .client
        .get(app.url("/login/providers/mock"))
        .query(&[("redirect_to", BACK), ("code_challenge", "plain")])
        .send()
        .await
        .unwrap();
    assert_problem(plain, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let method = app
        .client
        .get(app.url("/login/providers/mock"))
        .query(&[
            ("redirect_to", BACK),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "plain"),
        ])
        .send()
        .await
        .unwrap();
    assert_problem(
        method,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
}

#[actix_web::test]
async fn a_login_code_is_used_once_within_60_seconds() {
    let Some(provider) = TestOidcProvider::start().await else {
        return;
    };
    let app = app_with(provider, |_| {}).await;
    provider
        .set_user("grace-1", verified("grace@example.com", "grace"))
        .await;
    let arrived = sign_in_at_provider(&app, provider, "grace-1", &[("redirect_to", BACK)]).await;
    let code = param(&arrived, "code").unwrap();
    assert_eq!(
        exchange(&app, &json!({"code": code})).await.status(),
        StatusCode::OK
    );
    let replayed = exchange(&app, &json!({"code": code})).await;
    assert_problem(
        replayed,
        StatusCode::BAD_REQUEST,
        "invalid_or_expired_token",
    )
    .await;

    let arrived = sign_in_at_provider(&app, provider, "grace-1", &[("redirect_to", BACK)]).await;
    app.clock.advance(chrono::Duration::seconds(61));
    let late = exchange(&app, &json!({"code": param(&arrived, "code").unwrap()})).await;
    assert_problem(late, StatusCode::BAD_REQUEST, "invalid_or_expired_token").await;
}

#[actix_web::test]
async fn a_callback_outside_the_browser_that_began_it_is_refused() {
    let Some(provider) = TestOidcProvider::start().await else {
        return;
    };
    let app = app_with(provider, |_| {}).await;
    provider
        .set_user("grace-1", verified("grace@example.com", "grace"))
        .await;

    // Login CSRF: the attacker's own callback URL, opened in the victim's
    // browser, which has no cookie (or its own).
    let visit = start(&app, &[("redirect_to", BACK)]).await;
    let back = provider
        .consent(&visit.authorization_url, Some("grace-1"))
        .await;
    let without = arrival(&callback(&app, &back, None).await);
    assert_eq!(param(&without, "error"), Some("invalid_state"));
    // The attempt is spent by that: not even the right browser finishes it.
    let replayed = callback(&app, &back, Some(&visit.cookie)).await;
    assert_problem(
        replayed,
        StatusCode::BAD_REQUEST,
        "invalid_or_expired_token",
    )
    .await;

    let visit = start(&app, &[("redirect_to", BACK)]).await;
    let other_browser = start(&app, &[("redirect_to", BACK)]).await;
    let back = provider
        .consent(&visit.authorization_url, Some("grace-1"))
        .await;
    let other = arrival(&callback(&app, &back, Some(&other_browser.cookie)).await);
    assert_eq!(param(&other, "error"), Some("invalid_state"));

    // A state nobody issued: nowhere safe to go.
    let visit = start(&app, &[("redirect_to", BACK)]).await;
    let back = provider
        .consent(&visit.authorization_url, Some("grace-1"))
        .await;
    let mut tampered = url::Url::parse(&back).unwrap();
    let pairs: Vec<(String, String)> = tampered
        .query_pairs()
        .map(|(name, value)| {
            let value = if name == "state" {
                // Another last character, whatever the state's was.
                let (kept, last) = value.split_at(value.len() - 1);
                format!("{kept}{}", if last == "A" { "B" } else { "A" })
            } else {
                value.into_owned()
            };
            (name.into_owned(), value)
        })
        .collect();
    tampered.query_pairs_mut().clear().extend_pairs(pairs);
    let answer = callback(&app, tampered.as_str(), Some(&visit.cookie)).await;
    assert_problem(answer, StatusCode::BAD_REQUEST, "invalid_or_expired_token").await;
    assert_eq!(app.count("users", "1 = 1").await, 0);

    // An attempt older than 600 s.
    let visit = start(&app, &[("redirect_to", BACK)]).await;
    let back = provider
        .consent(&visit.authorization_url, Some("grace-1"))
        .await;
    app.clock.advance(chrono::Duration::seconds(601));
    let late = arrival(&callback(&app, &back, Some(&visit.cookie)).await);
    assert_eq!(param(&late, "error"), Some("invalid_state"));

    // The person said no at the provider. (oidc-provider-mock's refusal
    // leaves out the `state` RFC 6749 §4.1.2.1 requires; a provider that
    // follows it sends the request's back, as added here.)
    let visit = start(&app, &[("redirect_to", BACK)]).await;
    let mut back =
        url::Url::parse(&provider.consent(&visit.authorization_url, None).await).unwrap();
    if !back.query_pairs().any(|(name, _)| name == "state") {
        let sent = url::Url::parse(&visit.authorization_url).unwrap();
        let state = sent
            .query_pairs()
            .find(|(name, _)| name == "state")
            .map(|(_, value)| value.into_owned())
            .unwrap();
        back.query_pairs_mut().append_pair("state", &state);
    }
    let back = back.to_string();
    let denied = arrival(&callback(&app, &back, Some(&visit.cookie)).await);
    assert_eq!(param(&denied, "error"), Some("provider_error"));
}

#[actix_web::test]
async fn a_redirect_outside_the_allow_list_is_refused_not_followed() {
    let Some(provider) = TestOidcProvider::start().await else {
        return;
    };
    let app = app_with(provider, |_| {}).await;
    for redirect_to in [
        "https://evil.example/steal",
        "http://localhost:3001/",
        "http://user@localhost:3000/",
        "javascript:alert(1)",
    ] {
        let answer = app
            .client
            .get(app.url("/login/providers/mock"))
            .query(&[("redirect_to", redirect_to)])
            .send()
            .await
            .unwrap();
        assert!(answer.headers().get(reqwest::header::LOCATION).is_none());
        assert_problem(answer, StatusCode::BAD_REQUEST, "redirect_not_allowed").await;
    }
    let missing = app
        .client
        .get(app.url("/login/providers/mock"))
        .send()
        .await
        .unwrap();
    assert_problem(missing, StatusCode::BAD_REQUEST, "redirect_not_allowed").await;

    // The built-in login page comes back to itself (PUBLIC_URL's origin),
    // unless the interface is off.
    let own_page = app.url("/ui/login?provider=mock");
    start(&app, &[("redirect_to", own_page.as_str())]).await;
    let without_ui = app.another_node(|s| s.ui = Switch::Off).await;
    let refused = app
        .client
        .get(format!("{without_ui}/login/providers/mock"))
        .query(&[("redirect_to", format!("{without_ui}/ui/login").as_str())])
        .send()
        .await
        .unwrap();
    assert_problem(refused, StatusCode::BAD_REQUEST, "redirect_not_allowed").await;
}

#[actix_web::test]
async fn a_provider_that_is_down_or_hangs_gets_a_clean_answer() {
    let Some(provider) = TestOidcProvider::start().await else {
        return;
    };
    // The provider behind a proxy that can stop relaying: it then accepts
    // connections and never answers. (The provider names itself after the
    // address it is reached at, the proxy's.)
    let proxy = FreezableProxy::start(format!("127.0.0.1:{}", provider.port)).await;
    let issuer = format!("http://127.0.0.1:{}", proxy.port);
    let app = spawn_app_with(|s| provider_settings(s, &issuer)).await;
    provider
        .set_user("grace-1", verified("grace@example.com", "grace"))
        .await;

    proxy.freeze();
    let answer = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        app.client
            .get(app.url("/login/providers/mock"))
            .query(&[("redirect_to", BACK)])
            .send(),
    )
    .await
    .expect("an answer, not a hang")
    .unwrap();
    let arrived = arrival(&answer);
    assert_eq!(param(&arrived, "error"), Some("provider_unavailable"));

    // Discovered while it answers; then it hangs at the code exchange.
    proxy.thaw();
    let visit = start(&app, &[("redirect_to", BACK)]).await;
    let back = provider
        .consent(
            &visit.authorization_url.replace(
                &format!(":{}/", proxy.port),
                &format!(":{}/", provider.port),
            ),
            Some("grace-1"),
        )
        .await;
    proxy.freeze();
    let answer = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        callback(&app, &back, Some(&visit.cookie)),
    )
    .await
    .expect("an answer, not a hang");
    let arrived = arrival(&answer);
    assert_eq!(param(&arrived, "error"), Some("provider_unavailable"));
    assert_eq!(app.count("users", "1 = 1").await, 0);
}

#[actix_web::test]
async fn an_account_with_a_second_factor_takes_the_second_step_after_the_provider() {
    let Some(provider) = TestOidcProvider::start().await else {
        return;
    };
    let app = app_with(provider, |_| {}).await;
    provider
        .set_user("grace-1", verified("grace@example.com", "grace"))
        .await;
    let pair = signed_in(&app, provider, "grace-1").await;
    let grace = crate::helpers::Account {
        id: pair["user"]["id"].as_str().unwrap().to_owned(),
        email: "grace@example.com".to_owned(),
        access_token: pair["access_token"].as_str().unwrap().to_owned(),
        refresh_token: pair["refresh_token"].as_str().unwrap().to_owned(),
    };
    let (secret, _) = crate::mfa::enable_totp(&app, &grace).await;

    let arrived = sign_in_at_provider(&app, provider, "grace-1", &[("redirect_to", BACK)]).await;
    let first = exchange(&app, &json!({"code": param(&arrived, "code").unwrap()})).await;
    let challenge = assert_problem(first, StatusCode::UNAUTHORIZED, "mfa_required").await;
    app.clock.advance(chrono::Duration::seconds(30));
    let finished = app
        .post_json(
            "/login/mfa",
            &json!({"mfa_token": challenge["mfa_token"], "code": totp_code(&app, &secret)}),
        )
        .await;
    assert_eq!(finished.status(), StatusCode::OK);
    let pair: Value = finished.json().await.unwrap();
    let (_, claims) = jwt_parts(pair["access_token"].as_str().unwrap());
    assert_eq!(claims["amr"], json!(["fed", "otp", "mfa"]));
}

#[actix_web::test]
async fn a_disabled_account_is_told_so_at_the_callback() {
    let Some(provider) = TestOidcProvider::start().await else {
        return;
    };
    let app = app_with(provider, |_| {}).await;
    provider
        .set_user("grace-1", verified("grace@example.com", "grace"))
        .await;
    let pair = signed_in(&app, provider, "grace-1").await;
    let id = pair["user"]["id"].as_str().unwrap();
    app.sql(&format!(
        "UPDATE users SET disabled = TRUE WHERE id = '{id}'"
    ))
    .await;
    let arrived = sign_in_at_provider(&app, provider, "grace-1", &[("redirect_to", BACK)]).await;
    assert_eq!(param(&arrived, "error"), Some("account_disabled"));
}

#[actix_web::test]
async fn the_last_way_to_log_in_cannot_be_unlinked() {
    let Some(provider) = TestOidcProvider::start().await else {
        return;
    };
    let app = app_with(provider, |_| {}).await;
    provider
        .set_user("grace-1", verified("grace@example.com", "grace"))
        .await;
    let pair = signed_in(&app, provider, "grace-1").await;
    let token = pair["access_token"].as_str().unwrap();
    let linked = identities(&app, token).await;
    let id = linked[0]["id"].as_str().unwrap();
    let refused = app
        .client
        .delete(app.url(&format!("/me/identities/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_problem(refused, StatusCode::CONFLICT, "last_login_method").await;
    let unknown = app
        .client
        .delete(app.url(&format!("/me/identities/{}", uuid::Uuid::new_v4())))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_problem(unknown, StatusCode::NOT_FOUND, "not_found").await;

    // With sign-in by email on, the address is a way in: unlinking is fine.
    let mailing = app
        .another_node(|s| s.email_login.email_login = Switch::On)
        .await;
    let unlinked = app
        .client
        .delete(format!("{mailing}/me/identities/{id}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(unlinked.status(), StatusCode::NO_CONTENT);
}

#[actix_web::test]
async fn an_account_without_a_password_confirms_changes_with_a_fresh_login() {
    let Some(provider) = TestOidcProvider::start().await else {
        return;
    };
    let app = app_with(provider, |_| {}).await;
    provider
        .set_user("grace-1", verified("grace@example.com", "grace"))
        .await;
    let pair = signed_in(&app, provider, "grace-1").await;

    // Ten minutes later the session (refreshed: its tokens are new) is too
    // old to stand for a password.
    app.clock.advance(chrono::Duration::seconds(601));
    let refreshed: Value = app
        .refresh(pair["refresh_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    let refused = app
        .delete_json(
            "/account",
            refreshed["access_token"].as_str().unwrap(),
            &json!({"password": "anything"}),
        )
        .await;
    assert_problem(refused, StatusCode::FORBIDDEN, "step_up_required").await;

    // A fresh login confirms it.
    let fresh = signed_in(&app, provider, "grace-1").await;
    let deleted = app
        .delete_json(
            "/account",
            fresh["access_token"].as_str().unwrap(),
            &json!({"password": "anything"}),
        )
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.count("identities", "1 = 1").await, 0);
}

#[actix_web::test]
async fn a_reset_of_a_never_verified_address_removes_the_identities_linked_to_it() {
    let Some(provider) = TestOidcProvider::start().await else {
        return;
    };
    let Some(smtp) = crate::helpers::TestSmtp::start().await else {
        return;
    };
    let issuer = provider.issuer();
    let app = crate::recovery::app_mailing(&smtp, move |s| provider_settings(s, &issuer)).await;
    // Someone registers the victim's address (never verified) and links
    // their own provider identity to it.
    let squatter = app.signed_up("victim").await;
    provider
        .set_user(
            "squatter",
            json!({"email": "squatter@example.com", "email_verified": true}),
        )
        .await;
    let ticket = link_ticket(&app, &squatter.access_token).await;
    let visit = start(&app, &[("link_ticket", &ticket)]).await;
    let back = provider
        .consent(&visit.authorization_url, Some("squatter"))
        .await;
    let arrived = arrival(&callback(&app, &back, Some(&visit.cookie)).await);
    assert_eq!(param(&arrived, "linked"), Some("mock"));

    // The owner of the address resets the password: the identity is gone.
    app.post_json("/password/forgot", &json!({"email": squatter.email}))
        .await;
    let mail = smtp.wait_for(1).await;
    let reset = app
        .post_json(
            "/password/reset",
            &json!({"token": crate::helpers::token_in(&mail[0]), "new_password": "the victims own passphrase"}),
        )
        .await;
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.count("identities", &format!("user_id = '{}'", squatter.id))
            .await,
        0
    );
    let arrived = sign_in_at_provider(&app, provider, "squatter", &[("redirect_to", BACK)]).await;
    assert_ne!(
        param(&arrived, "code").map(str::to_owned),
        None,
        "the squatter's identity makes an account of its own now, not the victim's"
    );
    let code = param(&arrived, "code").unwrap();
    let pair: Value = exchange(&app, &json!({"code": code}))
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(pair["user"]["id"].as_str(), Some(squatter.id.as_str()));
}

/// Two callbacks of one person at once (two tabs) both sign in, to one
/// account. On PostgreSQL the interleaving is made deterministic: the other
/// callback's transaction makes the account and its identity and holds them;
/// this callback, which found neither, must wait for the address and, once
/// they are committed, signs in to that account instead of failing. On SQLite
/// writers take turns; there the account is made first and the same answer
/// is checked.
#[actix_web::test]
async fn a_callback_racing_the_same_persons_other_callback_signs_in_to_its_account() {
    let Some(provider) = TestOidcProvider::start().await else {
        return;
    };
    let app = app_with(provider, |_| {}).await;
    provider
        .set_user("grace-1", verified("grace@example.com", "grace"))
        .await;
    let visit = start(&app, &[("redirect_to", BACK)]).await;
    let back = provider
        .consent(&visit.authorization_url, Some("grace-1"))
        .await;
    let request = callback_request(&app, &back, Some(&visit.cookie));
    let other_tab = uuid::Uuid::new_v4().to_string();
    let account = crate::helpers::insert_account_sql(&other_tab, "grace", "grace@example.com");
    let identity = format!(
        "INSERT INTO identities (id, user_id, provider, subject, email, created_at) \
         VALUES ('{}', '{other_tab}', 'mock', 'grace-1', 'grace@example.com', CURRENT_TIMESTAMP)",
        uuid::Uuid::new_v4()
    );
    let answer = if crate::helpers::backend() == crate::helpers::Backend::Postgres {
        app.racing_a_held_write(&[&account, &identity], request)
            .await
    } else {
        app.sql(&account).await;
        app.sql(&identity).await;
        request.await.unwrap()
    };
    let arrived = arrival(&answer);
    let code = param(&arrived, "code").unwrap_or_else(|| panic!("no code: {arrived:?}"));
    let signed_in = exchange(&app, &json!({"code": code})).await;
    assert_eq!(signed_in.status(), StatusCode::OK);
    let pair: Value = signed_in.json().await.unwrap();
    assert_eq!(pair["user"]["id"], other_tab);
    assert_eq!(app.count("users", "email = 'grace@example.com'").await, 1);
}

/// An OpenID provider on loopback whose discovery document carries `padding`
/// bytes of a member clients ignore (with or without announcing its length),
/// and an empty key set: valid, only large.
async fn padded_provider(padding: usize, announce_length: bool) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let served = issuer.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let issuer = served.clone();
            tokio::spawn(async move {
                let mut request = vec![0_u8; 8192];
                let read = stream.read(&mut request).await.unwrap_or(0);
                let body = if request[..read].starts_with(b"GET /jwks") {
                    json!({"keys": []}).to_string()
                } else {
                    json!({
                        "issuer": issuer,
                        "authorization_endpoint": format!("{issuer}/authorize"),
                        "token_endpoint": format!("{issuer}/token"),
                        "jwks_uri": format!("{issuer}/jwks"),
                        "response_types_supported": ["code"],
                        "subject_types_supported": ["public"],
                        "id_token_signing_alg_values_supported": ["RS256"],
                        "x_padding": "a".repeat(padding),
                    })
                    .to_string()
                };
                let length = if announce_length {
                    format!("content-length: {}\r\n", body.len())
                } else {
                    String::new()
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{length}connection: close\r\n\r\n"
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(body.as_bytes()).await;
            });
        }
    });
    issuer
}

/// A provider's answer is read up to 1 MiB: a larger one, announced or
/// streamed, is refused as from a provider that is down, so a broken or
/// hostile provider cannot make a node hold what it sends.
#[actix_web::test]
async fn a_provider_answer_over_a_mebibyte_is_refused_not_read() {
    let normal = padded_provider(64 * 1024, true).await;
    let app = spawn_app_with(|s| provider_settings(s, &normal)).await;
    let visit = start(&app, &[("redirect_to", BACK)]).await;
    assert!(
        visit
            .authorization_url
            .starts_with(&format!("{normal}/authorize?")),
        "{}",
        visit.authorization_url
    );

    for announce_length in [true, false] {
        let heavy = padded_provider(2 * 1024 * 1024, announce_length).await;
        let app = spawn_app_with(|s| provider_settings(s, &heavy)).await;
        let answer = app
            .client
            .get(app.url("/login/providers/mock"))
            .query(&[("redirect_to", BACK)])
            .send()
            .await
            .unwrap();
        let arrived = arrival(&answer);
        assert_eq!(
            param(&arrived, "error"),
            Some("provider_unavailable"),
            "announced: {announce_length}"
        );
    }
}

/// Linking while the provider is down ends like a sign-in then: back at the
/// app with `provider_unavailable`, nothing linked.
#[actix_web::test]
async fn linking_while_the_provider_is_down_gets_a_clean_answer() {
    // Nothing listens on port 1.
    let app = spawn_app_with(|s| provider_settings(s, "http://127.0.0.1:1")).await;
    let ada = app.signed_up("ada").await;
    let ticket = link_ticket(&app, &ada.access_token).await;
    let answer = app
        .client
        .get(app.url("/login/providers/mock"))
        .query(&[("link_ticket", ticket.as_str())])
        .send()
        .await
        .unwrap();
    let arrived = arrival(&answer);
    assert_eq!(param(&arrived, "error"), Some("provider_unavailable"));
    assert!(identities(&app, &ada.access_token).await.is_empty());
}
