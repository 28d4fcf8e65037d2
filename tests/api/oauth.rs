//! Portcullis as an OpenID Provider, driven over HTTP as a relying party
//! would: registration, authorization with login and consent, the token
//! endpoint's three grants, userinfo, introspection, revocation, single
//! sign-on and logout.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Account, STRONG_PASSWORD, TestApp, assert_problem, jwt_parts, spawn_app};

const REDIRECT: &str = "https://app.example/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// A registered OpenID client: its id, and its secret when confidential.
pub(crate) struct Client {
    pub(crate) id: String,
    pub(crate) secret: Option<String>,
}

/// Registers a client through the admin API (`body` as `POST /admin/clients` takes it).
pub(crate) async fn register_client(app: &TestApp, admin: &Account, body: Value) -> Client {
    let response = app
        .client
        .post(app.url("/admin/clients"))
        .bearer_auth(&admin.access_token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let made: Value = response.json().await.unwrap();
    Client {
        id: made["client_id"].as_str().unwrap().to_owned(),
        secret: made["client_secret"].as_str().map(str::to_owned),
    }
}

async fn confidential(app: &TestApp, admin: &Account) -> Client {
    register_client(
        app,
        admin,
        json!({
            "name": "Wiki",
            "type": "confidential",
            "redirect_uris": [REDIRECT],
            "post_logout_redirect_uris": ["https://app.example/bye"],
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
            "scopes": ["openid", "profile", "email", "wiki:read"],
        }),
    )
    .await
}

/// The query of a `Location`, as pairs.
fn location(response: &reqwest::Response) -> url::Url {
    let location = response
        .headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location on a {}", response.status()))
        .to_str()
        .unwrap();
    url::Url::parse(location).unwrap()
}

fn param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

async fn authorize(app: &TestApp, query: &[(&str, &str)], sso: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(app.url("/oauth2/authorize")).query(query);
    if let Some(sso) = sso {
        request = request.header("cookie", format!("portcullis_sso={sso}"));
    }
    request.send().await.unwrap()
}

fn code_request<'a>(client: &'a Client, state: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", client.id.as_str()),
        ("redirect_uri", REDIRECT),
        ("scope", "openid email profile"),
        ("state", state),
        ("nonce", "n-0S6_WzA2Mj"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
}

/// Authorizes as `user` through the login page's API, consenting; returns
/// the code and the SSO cookie.
async fn code_for(app: &TestApp, client: &Client, user: &Account) -> (String, String) {
    let response = authorize(app, &code_request(client, "xyz"), None).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let login = location(&response);
    assert_eq!(login.path(), "/ui/login");
    let request_id = param(&login, "request_id").unwrap();
    let accepted = app
        .client
        .post(app.url(&format!("/oauth2/requests/{request_id}/accept")))
        .bearer_auth(&user.access_token)
        .json(&json!({"consent": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), StatusCode::OK);
    let sso = accepted
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(|cookie| cookie.strip_prefix("portcullis_sso="))
        .and_then(|rest| rest.split(';').next())
        .expect("the SSO cookie")
        .to_owned();
    let body: Value = accepted.json().await.unwrap();
    let back = url::Url::parse(body["redirect_to"].as_str().unwrap()).unwrap();
    (param(&back, "code").unwrap(), sso)
}

/// A request to the token endpoint, with the client's secret by HTTP Basic when it has one.
pub(crate) async fn token(
    app: &TestApp,
    client: &Client,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = app.client.post(app.url("/oauth2/token")).form(form);
    request = match &client.secret {
        Some(secret) => request.basic_auth(&client.id, Some(secret)),
        None => request,
    };
    request.send().await.unwrap()
}

async fn exchange(app: &TestApp, client: &Client, code: &str) -> reqwest::Response {
    token(
        app,
        client,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
}

async fn oauth_error(response: reqwest::Response, status: StatusCode, error: &str) {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers().get("cache-control").unwrap(), "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
}

#[actix_web::test]
async fn discovery_names_the_endpoints_and_the_jwks_holds_the_rsa_key() {
    let app = spawn_app().await;
    let metadata: Value = app
        .get("/.well-known/openid-configuration", None)
        .await
        .json()
        .await
        .unwrap();
    let issuer = metadata["issuer"].as_str().unwrap();
    assert_eq!(metadata["token_endpoint"], format!("{issuer}/oauth2/token"));
    assert_eq!(metadata["response_types_supported"], json!(["code"]));
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        json!(["S256"])
    );
    assert_eq!(
        metadata["id_token_signing_alg_values_supported"],
        json!(["RS256", "EdDSA"])
    );
    let jwks: Value = app
        .get("/.well-known/jwks.json", None)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|key| key["kty"] == "RSA" && key["alg"] == "RS256")
    );
}

#[actix_web::test]
async fn an_admin_registers_clients_whose_secret_is_shown_once() {
    let app = spawn_app().await;
    let admin = app.signed_in_admin("root").await;
    let client = confidential(&app, &admin).await;
    assert_eq!(client.secret.as_ref().unwrap().len(), 43);

    let listed: Value = app
        .get("/admin/clients", Some(&admin.access_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["client_id"], client.id);
    assert!(listed[0].get("client_secret").is_none());
    let stored = app
        .count(
            "oauth_clients",
            &format!("secret_hash = '{}'", client.secret.as_ref().unwrap()),
        )
        .await;
    assert_eq!(stored, 0, "the secret is stored hashed");

    let user = app.signed_up("ada").await;
    let refused = app
        .client
        .post(app.url("/admin/clients"))
        .bearer_auth(&user.access_token)
        .json(&json!({"name": "x", "type": "public", "redirect_uris": [REDIRECT]}))
        .send()
        .await
        .unwrap();
    assert_problem(refused, StatusCode::FORBIDDEN, "forbidden").await;

    let unsafe_uri = app
        .client
        .post(app.url("/admin/clients"))
        .bearer_auth(&admin.access_token)
        .json(&json!({"name": "x", "type": "public", "redirect_uris": ["http://app.example/cb"], "grant_types": ["client_credentials"]}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(
        unsafe_uri,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert!(problem["errors"]["redirect_uris"].is_array(), "{problem}");
    assert!(problem["errors"]["grant_types"].is_array(), "{problem}");

    let rotated: Value = app
        .client
        .post(app.url(&format!("/admin/clients/{}/secret", client.id)))
        .bearer_auth(&admin.access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let old = token(&app, &client, &[("grant_type", "client_credentials")]).await;
    oauth_error(old, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let renewed = Client {
        id: client.id.clone(),
        secret: rotated["client_secret"].as_str().map(str::to_owned),
    };
    let fresh = token(&app, &renewed, &[("grant_type", "client_credentials")]).await;
    assert_eq!(fresh.status(), StatusCode::OK);
}

#[actix_web::test]
async fn the_code_flow_logs_in_consents_and_issues_verifiable_tokens() {
    let app = spawn_app().await;
    let admin = app.signed_in_admin("root").await;
    let client = confidential(&app, &admin).await;
    let ada = app.signed_up("ada").await;

    let response = authorize(&app, &code_request(&client, "xyz"), None).await;
    let login = location(&response);
    let request_id = param(&login, "request_id").unwrap();
    let shown: Value = app
        .get(&format!("/oauth2/requests/{request_id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["client"]["name"], "Wiki");
    assert_eq!(shown["scopes"], json!(["email", "openid", "profile"]));

    let without_consent = app
        .client
        .post(app.url(&format!("/oauth2/requests/{request_id}/accept")))
        .bearer_auth(&ada.access_token)
        .send()
        .await
        .unwrap();
    let problem = assert_problem(without_consent, StatusCode::CONFLICT, "consent_required").await;
    assert_eq!(problem["scopes"], json!(["email", "openid", "profile"]));

    let accepted: Value = app
        .client
        .post(app.url(&format!("/oauth2/requests/{request_id}/accept")))
        .bearer_auth(&ada.access_token)
        .json(&json!({"consent": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let back = url::Url::parse(accepted["redirect_to"].as_str().unwrap()).unwrap();
    assert!(back.as_str().starts_with(REDIRECT));
    assert_eq!(param(&back, "state").as_deref(), Some("xyz"));
    let code = param(&back, "code").unwrap();

    let issued = exchange(&app, &client, &code).await;
    assert_eq!(issued.status(), StatusCode::OK);
    assert_eq!(issued.headers().get("cache-control").unwrap(), "no-store");
    let tokens: Value = issued.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "email openid profile");

    // The ID token verifies with the RSA key of the JWKS alone.
    let id_token = tokens["id_token"].as_str().unwrap();
    let jwks: jsonwebtoken::jwk::JwkSet = app
        .get("/.well-known/jwks.json", None)
        .await
        .json()
        .await
        .unwrap();
    let (header, _) = jwt_parts(id_token);
    assert_eq!(header["alg"], "RS256");
    let jwk = jwks
        .find(header["kid"].as_str().unwrap())
        .expect("the key is published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[&client.id]);
    validation.validate_exp = false;
    let claims = jsonwebtoken::decode::<Value>(id_token, &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["sub"], ada.id);
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(claims["azp"], client.id);
    assert_eq!(claims["email"], ada.email);
    assert_eq!(claims["preferred_username"], "ada");
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert!(claims["auth_time"].is_i64());

    let (access_header, access_claims) = jwt_parts(tokens["access_token"].as_str().unwrap());
    assert_eq!(access_header["typ"], "at+jwt");
    assert_eq!(access_claims["client_id"], client.id);
    assert_eq!(access_claims["aud"], client.id);
    let userinfo: Value = app
        .get("/oauth2/userinfo", tokens["access_token"].as_str())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        userinfo,
        json!({"sub": ada.id, "email": ada.email, "email_verified": false, "preferred_username": "ada", "updated_at": claims["updated_at"]})
    );
    // Not a token of the service's own API.
    let me = app.get("/me", tokens["access_token"].as_str()).await;
    assert_problem(me, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[actix_web::test]
async fn a_code_works_once_and_its_second_use_revokes_what_the_first_issued() {
    let app = spawn_app().await;
    let admin = app.signed_in_admin("root").await;
    let client = confidential(&app, &admin).await;
    let ada = app.signed_up("ada").await;
    let (code, _) = code_for(&app, &client, &ada).await;

    let first: Value = exchange(&app, &client, &code).await.json().await.unwrap();
    oauth_error(
        exchange(&app, &client, &code).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;

    let refreshed = token(
        &app,
        &client,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", first["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    oauth_error(refreshed, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert_eq!(
        app.count("auth_events", "event_type = 'oauth_code_reused'")
            .await,
        1
    );
}

#[actix_web::test]
async fn a_code_is_bound_to_its_verifier_redirect_uri_client_and_minute() {
    let app = spawn_app().await;
    let admin = app.signed_in_admin("root").await;
    let client = confidential(&app, &admin).await;
    let other = confidential(&app, &admin).await;
    let ada = app.signed_up("ada").await;

    let (code, _) = code_for(&app, &client, &ada).await;
    let wrong_verifier = token(
        &app,
        &client,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &"a".repeat(43)),
        ],
    )
    .await;
    oauth_error(wrong_verifier, StatusCode::BAD_REQUEST, "invalid_grant").await;

    let (code, _) = code_for(&app, &client, &ada).await;
    let wrong_uri = token(
        &app,
        &client,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://app.example/other"),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    oauth_error(wrong_uri, StatusCode::BAD_REQUEST, "invalid_grant").await;

    let (code, _) = code_for(&app, &client, &ada).await;
    oauth_error(
        exchange(&app, &other, &code).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;

    let (code, _) = code_for(&app, &client, &ada).await;
    app.clock.advance(chrono::Duration::seconds(61));
    oauth_error(
        exchange(&app, &client, &code).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
}

#[actix_web::test]
async fn unknown_clients_and_unregistered_redirects_are_never_redirected_to() {
    let app = spawn_app().await;
    let admin = app.signed_in_admin("root").await;
    let client = confidential(&app, &admin).await;

    let unknown = authorize(
        &app,
        &[
            ("response_type", "code"),
            ("client_id", "nobody"),
            ("redirect_uri", REDIRECT),
            ("scope", "openid"),
        ],
        None,
    )
    .await;
    assert!(unknown.headers().get("location").is_none());
    assert_problem(unknown, StatusCode::BAD_REQUEST, "malformed_request").await;

    let evil = authorize(
        &app,
        &[
            ("response_type", "code"),
            ("client_id", &client.id),
            ("redirect_uri", "https://evil.example/cb"),
            ("scope", "openid"),
        ],
        None,
    )
    .await;
    assert!(evil.headers().get("location").is_none());
    assert_problem(evil, StatusCode::BAD_REQUEST, "malformed_request").await;

    // Errors after the client is known go back to it, with the state.
    let mut query = code_request(&client, "s1");
    query[0] = ("response_type", "token");
    let unsupported = authorize(&app, &query, None).await;
    let back = location(&unsupported);
    assert_eq!(
        param(&back, "error").as_deref(),
        Some("unsupported_response_type")
    );
    assert_eq!(param(&back, "state").as_deref(), Some("s1"));

    let mut query = code_request(&client, "s2");
    query[3] = ("scope", "openid admin");
    let back = location(&authorize(&app, &query, None).await);
    assert_eq!(param(&back, "error").as_deref(), Some("invalid_scope"));

    let mut query = code_request(&client, "s3");
    query.push(("prompt", "none"));
    let back = location(&authorize(&app, &query, None).await);
    assert_eq!(param(&back, "error").as_deref(), Some("login_required"));
}

#[actix_web::test]
async fn public_clients_must_use_s256_pkce_and_native_apps_come_back_on_any_loopback_port() {
    let app = spawn_app().await;
    let admin = app.signed_in_admin("root").await;
    let native = register_client(
        &app,
        &admin,
        json!({"name": "CLI", "type": "public", "redirect_uris": ["http://127.0.0.1/callback"], "first_party": true}),
    )
    .await;
    let ada = app.signed_up("ada").await;
    let redirect = "http://127.0.0.1:49152/callback";
    let base = [
        ("response_type", "code"),
        ("client_id", native.id.as_str()),
        ("redirect_uri", redirect),
        ("scope", "openid"),
        ("state", "st"),
    ];

    let back = location(&authorize(&app, &base, None).await);
    assert_eq!(param(&back, "error").as_deref(), Some("invalid_request"));
    let mut plain = base.to_vec();
    plain.extend([
        ("code_challenge", VERIFIER),
        ("code_challenge_method", "plain"),
    ]);
    let back = location(&authorize(&app, &plain, None).await);
    assert_eq!(param(&back, "error").as_deref(), Some("invalid_request"));

    let mut s256 = base.to_vec();
    s256.extend([
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    let login = location(&authorize(&app, &s256, None).await);
    let request_id = param(&login, "request_id").unwrap();
    // First-party: no consent asked.
    let accepted: Value = app
        .client
        .post(app.url(&format!("/oauth2/requests/{request_id}/accept")))
        .bearer_auth(&ada.access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let back = url::Url::parse(accepted["redirect_to"].as_str().unwrap()).unwrap();
    assert_eq!(back.port(), Some(49152));
    let code = param(&back, "code").unwrap();

    let issued = token(
        &app,
        &native,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &native.id),
            ("code", &code),
            ("redirect_uri", redirect),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(issued.status(), StatusCode::OK);
    let tokens: Value = issued.json().await.unwrap();
    assert!(tokens["id_token"].is_string());
    // A public client cannot use client_credentials, nor claim a secret.
    let refused = token(
        &app,
        &native,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &native.id),
        ],
    )
    .await;
    oauth_error(refused, StatusCode::BAD_REQUEST, "unauthorized_client").await;
}

#[actix_web::test]
async fn refresh_tokens_rotate_and_a_stale_one_revokes_the_grant() {
    let app = spawn_app().await;
    let admin = app.signed_in_admin("root").await;
    let client = confidential(&app, &admin).await;
    let ada = app.signed_up("ada").await;
    let (code, _) = code_for(&app, &client, &ada).await;
    let first: Value = exchange(&app, &client, &code).await.json().await.unwrap();
    let first_refresh = first["refresh_token"].as_str().unwrap().to_owned();

    let refresh = |token_text: String| {
        let app = &app;
        let client = &client;
        async move {
            token(
                app,
                client,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &token_text),
                ],
            )
            .await
        }
    };
    let second: Value = refresh(first_refresh.clone()).await.json().await.unwrap();
    let second_refresh = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, first_refresh);
    // Within the grace, the previous token gets the current one back.
    let again: Value = refresh(first_refresh.clone()).await.json().await.unwrap();
    let (_, again_claims) = jwt_parts(again["refresh_token"].as_str().unwrap());
    let (_, second_claims) = jwt_parts(&second_refresh);
    assert_eq!(again_claims["jti"], second_claims["jti"]);

    app.clock.advance(chrono::Duration::seconds(11));
    oauth_error(
        refresh(first_refresh).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    oauth_error(
        refresh(second_refresh).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
}

#[actix_web::test]
async fn client_credentials_introspection_and_revocation() {
    let app = spawn_app().await;
    let admin = app.signed_in_admin("root").await;
    let client = confidential(&app, &admin).await;

    let issued: Value = token(&app, &client, &[("grant_type", "client_credentials")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(issued["scope"], "wiki:read");
    assert!(issued.get("refresh_token").is_none() && issued.get("id_token").is_none());
    let (_, claims) = jwt_parts(issued["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], client.id);

    let asked = token(
        &app,
        &client,
        &[("grant_type", "client_credentials"), ("scope", "openid")],
    )
    .await;
    oauth_error(asked, StatusCode::BAD_REQUEST, "invalid_scope").await;
    let wrong = Client {
        id: client.id.clone(),
        secret: Some("wrong".into()),
    };
    oauth_error(
        token(&app, &wrong, &[("grant_type", "client_credentials")]).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;
    let json_body = app
        .client
        .post(app.url("/oauth2/token"))
        .basic_auth(&client.id, client.secret.as_ref())
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    oauth_error(json_body, StatusCode::BAD_REQUEST, "invalid_request").await;
    oauth_error(
        token(&app, &client, &[("grant_type", "password")]).await,
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
    )
    .await;

    let introspect = |token_text: String| {
        let app = &app;
        let client = &client;
        async move {
            app.client
                .post(app.url("/oauth2/introspect"))
                .basic_auth(&client.id, client.secret.as_ref())
                .form(&[("token", token_text)])
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let active = introspect(issued["access_token"].as_str().unwrap().to_owned()).await;
    assert_eq!(active["active"], true);
    assert_eq!(active["client_id"], client.id);
    assert_eq!(introspect("garbage".into()).await, json!({"active": false}));

    // A user's grant: revoking the refresh token ends the access token too.
    let ada = app.signed_up("ada").await;
    let (code, _) = code_for(&app, &client, &ada).await;
    let tokens: Value = exchange(&app, &client, &code).await.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(introspect(access.clone()).await["sub"], ada.id);
    let revoked = app
        .client
        .post(app.url("/oauth2/revoke"))
        .basic_auth(&client.id, client.secret.as_ref())
        .form(&[("token", tokens["refresh_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(introspect(access.clone()).await, json!({"active": false}));
    let userinfo = app.get("/oauth2/userinfo", Some(&access)).await;
    assert_problem(userinfo, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[actix_web::test]
async fn single_sign_on_skips_the_login_until_logout_and_consents_can_be_withdrawn() {
    let app = spawn_app().await;
    let admin = app.signed_in_admin("root").await;
    let client = confidential(&app, &admin).await;
    let ada = app.signed_up("ada").await;
    let (code, sso) = code_for(&app, &client, &ada).await;
    let tokens: Value = exchange(&app, &client, &code).await.json().await.unwrap();

    // Signed in, consent on record: straight back with a code.
    let mut silent = code_request(&client, "again");
    silent.push(("prompt", "none"));
    let back = location(&authorize(&app, &silent, Some(&sso)).await);
    assert!(back.as_str().starts_with(REDIRECT), "{back}");
    assert!(param(&back, "code").is_some());
    assert_eq!(param(&back, "iss").as_deref(), Some(app.address.as_str()));
    // prompt=login always goes to the login page.
    let mut fresh = code_request(&client, "again");
    fresh.push(("prompt", "login"));
    assert_eq!(
        location(&authorize(&app, &fresh, Some(&sso)).await).path(),
        "/ui/login"
    );

    let consents: Value = app
        .get("/me/consents", Some(&ada.access_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(consents[0]["client_id"], client.id);
    assert_eq!(consents[0]["scopes"], json!(["email", "openid", "profile"]));

    // Logout with the ID token as hint ends the SSO and goes back.
    let logout = app
        .client
        .get(app.url("/oauth2/logout"))
        .query(&[
            ("id_token_hint", tokens["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", "https://app.example/bye"),
            ("state", "bye"),
        ])
        .header("cookie", format!("portcullis_sso={sso}"))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&logout).as_str(),
        "https://app.example/bye?state=bye"
    );
    let back = location(&authorize(&app, &silent, Some(&sso)).await);
    assert_eq!(param(&back, "error").as_deref(), Some("login_required"));

    // The logout ended the session the login page had opened; withdrawing
    // consent (from a new one) revokes the client's grants.
    assert_problem(
        app.get("/me", Some(&ada.access_token)).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
    let again = app.logged_in(&ada.email, STRONG_PASSWORD).await;
    let withdrawn = app
        .client
        .delete(app.url(&format!("/me/consents/{}", client.id)))
        .bearer_auth(again["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(withdrawn.status(), StatusCode::NO_CONTENT);
    let refreshed = token(
        &app,
        &client,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    oauth_error(refreshed, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[actix_web::test]
async fn a_logout_without_a_hint_asks_the_user_first() {
    let app = spawn_app().await;
    let admin = app.signed_in_admin("root").await;
    let client = confidential(&app, &admin).await;
    let ada = app.signed_up("ada").await;
    let (_, sso) = code_for(&app, &client, &ada).await;

    let asked = app
        .client
        .get(app.url("/oauth2/logout"))
        .header("cookie", format!("portcullis_sso={sso}"))
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), StatusCode::OK);
    assert!(
        asked
            .text()
            .await
            .unwrap()
            .contains(r#"<form method="post" action="/oauth2/logout">"#)
    );
    // Still signed in.
    let mut silent = code_request(&client, "s");
    silent.push(("prompt", "none"));
    assert!(
        param(
            &location(&authorize(&app, &silent, Some(&sso)).await),
            "code"
        )
        .is_some()
    );

    let confirmed = app
        .client
        .post(app.url("/oauth2/logout"))
        .header("cookie", format!("portcullis_sso={sso}"))
        .form(&[("client_id", client.id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), StatusCode::OK);
    let back = location(&authorize(&app, &silent, Some(&sso)).await);
    assert_eq!(param(&back, "error").as_deref(), Some("login_required"));
}

#[actix_web::test]
async fn the_command_line_registers_lists_rotates_and_deletes_clients() {
    let app = spawn_app().await;
    let cli = |args: Vec<&'static str>| {
        let url = app.database.url.clone();
        async move {
            let output = crate::helpers::run_cli(&args, &url, None).await;
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8(output.stdout).unwrap()
        }
    };
    let made: Value = serde_json::from_str(
        &cli(vec![
            "client",
            "create",
            "--name",
            "Batch",
            "--type",
            "confidential",
            "--grant-type",
            "client_credentials",
            "--scope",
            "reports:read",
        ])
        .await,
    )
    .unwrap();
    let client = Client {
        id: made["client_id"].as_str().unwrap().to_owned(),
        secret: made["client_secret"].as_str().map(str::to_owned),
    };
    let issued: Value = token(&app, &client, &[("grant_type", "client_credentials")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(issued["scope"], "reports:read");

    let listed = cli(vec!["client", "list"]).await;
    assert!(listed.contains(&client.id) && !listed.contains(client.secret.as_deref().unwrap()));

    let id: &'static str = client.id.clone().leak();
    let rotated: Value =
        serde_json::from_str(&cli(vec!["client", "rotate-secret", id]).await).unwrap();
    oauth_error(
        token(&app, &client, &[("grant_type", "client_credentials")]).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;
    let renewed = Client {
        id: client.id.clone(),
        secret: rotated["client_secret"].as_str().map(str::to_owned),
    };
    assert_eq!(
        token(&app, &renewed, &[("grant_type", "client_credentials")])
            .await
            .status(),
        StatusCode::OK
    );

    cli(vec!["client", "delete", id]).await;
    oauth_error(
        token(&app, &renewed, &[("grant_type", "client_credentials")]).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;
}

#[actix_web::test]
async fn parameters_over_their_documented_bounds_or_repeated_are_refused() {
    let app = spawn_app().await;
    let admin = app.signed_in_admin("root").await;
    let client = confidential(&app, &admin).await;

    let long_state = "s".repeat(513);
    let mut query = code_request(&client, &long_state);
    query.push(("prompt", "none"));
    let refused = authorize(&app, &query, None).await;
    assert!(refused.headers().get("location").is_none());
    assert_problem(refused, StatusCode::BAD_REQUEST, "malformed_request").await;

    let long_code = "c".repeat(129);
    let answer = token(
        &app,
        &client,
        &[
            ("grant_type", "authorization_code"),
            ("code", &long_code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    oauth_error(answer, StatusCode::BAD_REQUEST, "invalid_request").await;
    let twice = app
        .client
        .post(app.url("/oauth2/token"))
        .basic_auth(&client.id, client.secret.as_ref())
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    oauth_error(twice, StatusCode::BAD_REQUEST, "invalid_request").await;

    let hint = app
        .get("/oauth2/logout?id_token_hint=%3Cscript%3E", None)
        .await;
    assert_problem(hint, StatusCode::BAD_REQUEST, "malformed_request").await;
}

#[actix_web::test]
async fn a_new_password_revokes_the_grants_apps_hold() {
    let app = spawn_app().await;
    let admin = app.signed_in_admin("root").await;
    let client = confidential(&app, &admin).await;
    let ada = app.signed_up("ada").await;
    let (code, _) = code_for(&app, &client, &ada).await;
    let tokens: Value = exchange(&app, &client, &code).await.json().await.unwrap();

    let changed = app
        .client
        .put(app.url("/me/password"))
        .bearer_auth(&ada.access_token)
        .json(&json!({"current_password": STRONG_PASSWORD, "new_password": "an entirely new passphrase"}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);

    let refreshed = token(
        &app,
        &client,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    oauth_error(refreshed, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let userinfo = app
        .get("/oauth2/userinfo", tokens["access_token"].as_str())
        .await;
    assert_problem(userinfo, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

/// Opens the login page for a request; returns its `request_id`.
async fn request_id_for(app: &TestApp, query: &[(&str, &str)]) -> String {
    let login = location(&authorize(app, query, None).await);
    assert_eq!(login.path(), "/ui/login");
    param(&login, "request_id").unwrap()
}

#[actix_web::test]
async fn a_declined_request_goes_back_with_access_denied_and_its_state_and_is_spent() {
    let app = spawn_app().await;
    let admin = app.signed_in_admin("root").await;
    let client = confidential(&app, &admin).await;
    let request_id = request_id_for(&app, &code_request(&client, "st-9")).await;

    let declined: Value = app
        .client
        .post(app.url(&format!("/oauth2/requests/{request_id}/reject")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let back = url::Url::parse(declined["redirect_to"].as_str().unwrap()).unwrap();
    assert!(back.as_str().starts_with(REDIRECT));
    assert_eq!(param(&back, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&back, "state").as_deref(), Some("st-9"));
    assert!(param(&back, "code").is_none());
    let again = app
        .get(&format!("/oauth2/requests/{request_id}"), None)
        .await;
    assert_problem(again, StatusCode::NOT_FOUND, "not_found").await;
}

#[actix_web::test]
async fn prompt_login_and_max_age_refuse_a_session_older_than_they_allow() {
    let app = spawn_app().await;
    let admin = app.signed_in_admin("root").await;
    let client = confidential(&app, &admin).await;
    let ada = app.signed_up("ada").await;
    let accept = |request_id: String, token: String| {
        let app = &app;
        async move {
            app.client
                .post(app.url(&format!("/oauth2/requests/{request_id}/accept")))
                .bearer_auth(token)
                .json(&json!({"consent": true}))
                .send()
                .await
                .unwrap()
        }
    };

    app.clock.advance(chrono::Duration::seconds(5));
    let mut fresh = code_request(&client, "a");
    fresh.push(("prompt", "login"));
    let request_id = request_id_for(&app, &fresh).await;
    let stale = accept(request_id.clone(), ada.access_token.clone()).await;
    assert_problem(stale, StatusCode::FORBIDDEN, "step_up_required").await;
    let relogged = app.logged_in(&ada.email, STRONG_PASSWORD).await;
    let new_token = relogged["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        accept(request_id, new_token.clone()).await.status(),
        StatusCode::OK
    );

    let mut bounded = code_request(&client, "b");
    bounded.push(("max_age", "60"));
    let request_id = request_id_for(&app, &bounded).await;
    app.clock.advance(chrono::Duration::seconds(61));
    let too_old = accept(request_id, new_token).await;
    assert_problem(too_old, StatusCode::FORBIDDEN, "step_up_required").await;
}

#[actix_web::test]
async fn a_client_may_ask_for_eddsa_id_tokens_verified_by_the_service_key() {
    let app = spawn_app().await;
    let admin = app.signed_in_admin("root").await;
    let client = register_client(
        &app,
        &admin,
        json!({"name": "Ed", "type": "confidential", "redirect_uris": [REDIRECT], "id_token_signed_response_alg": "EdDSA"}),
    )
    .await;
    let ada = app.signed_up("ada").await;
    let (code, _) = code_for(&app, &client, &ada).await;
    let tokens: Value = exchange(&app, &client, &code).await.json().await.unwrap();
    let (header, claims) = jwt_parts(tokens["id_token"].as_str().unwrap());
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(claims["aud"], client.id);
    let jwks: Value = app
        .get("/.well-known/jwks.json", None)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|key| key["kid"] == header["kid"] && key["kty"] == "OKP")
    );
}

#[actix_web::test]
async fn only_confidential_clients_introspect() {
    let app = spawn_app().await;
    let admin = app.signed_in_admin("root").await;
    let public = register_client(
        &app,
        &admin,
        json!({"name": "SPA", "type": "public", "redirect_uris": [REDIRECT]}),
    )
    .await;
    let answer = app
        .client
        .post(app.url("/oauth2/introspect"))
        .form(&[("token", "anything"), ("client_id", public.id.as_str())])
        .send()
        .await
        .unwrap();
    oauth_error(answer, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

/// Two accepts of one user for one app at once (two tabs) must both succeed
/// and keep both sets of scopes. On PostgreSQL the interleaving is made
/// deterministic: another transaction records a consent to `wiki:read` and
/// holds it; the accept, which read no consent, must wait for that row (seen
/// in `pg_locks`) and, once it is committed, add its scopes to it instead of
/// colliding with it. (On SQLite writers take turns; there the consent is on
/// record before the accept, and the same union is checked.)
#[actix_web::test]
async fn two_consents_at_once_to_one_app_keep_both_sets_of_scopes() {
    let app = spawn_app().await;
    let admin = app.signed_in_admin("root").await;
    let client = confidential(&app, &admin).await;
    let ada = app.signed_up("ada").await;
    let request_id = request_id_for(&app, &code_request(&client, "tab-2")).await;
    let accept = app
        .client
        .post(app.url(&format!("/oauth2/requests/{request_id}/accept")))
        .bearer_auth(&ada.access_token)
        .json(&json!({"consent": true}))
        .send();
    let other_tab = format!(
        "INSERT INTO oauth_consents (user_id, client_id, scope, granted_at) \
         VALUES ('{}', '{}', 'wiki:read', CURRENT_TIMESTAMP)",
        ada.id, client.id
    );

    let accepted = if crate::helpers::backend() == crate::helpers::Backend::Postgres {
        app.racing_a_held_write(&[&other_tab], accept).await
    } else {
        app.sql(&other_tab).await;
        accept.await.unwrap()
    };
    assert_eq!(accepted.status(), StatusCode::OK);

    let consents: Value = app
        .get("/me/consents", Some(&ada.access_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(consents.as_array().unwrap().len(), 1, "{consents}");
    assert_eq!(
        consents[0]["scopes"],
        json!(["email", "openid", "profile", "wiki:read"])
    );
}

/// RFC 9207: every answer sent back to a client's redirect URI, errors
/// included, names the issuer, so a client talking to several providers can
/// tell whose answer it holds; the state comes back too. A request object
/// (`request`, `request_uri`) is refused as OpenID Connect Core 6 says.
#[actix_web::test]
async fn errors_sent_back_to_the_client_carry_the_issuer_and_the_state() {
    let app = spawn_app().await;
    let admin = app.signed_in_admin("root").await;
    let client = confidential(&app, &admin).await;
    let cases: [(&str, &str, &str); 4] = [
        (
            "request",
            "eyJhbGciOiJub25lIn0.e30.",
            "request_not_supported",
        ),
        (
            "request_uri",
            "https://app.example/request.jwt",
            "request_not_supported",
        ),
        ("response_type", "token", "unsupported_response_type"),
        ("scope", "openid admin:all", "invalid_scope"),
    ];
    for (name, value, error) in cases {
        let mut query: Vec<(&str, &str)> = code_request(&client, "s-42")
            .into_iter()
            .filter(|(key, _)| *key != name)
            .collect();
        query.push((name, value));
        let response = authorize(&app, &query, None).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{name}");
        let back = location(&response);
        assert!(back.as_str().starts_with(REDIRECT), "{name}: {back}");
        assert_eq!(param(&back, "error").as_deref(), Some(error), "{name}");
        assert_eq!(param(&back, "state").as_deref(), Some("s-42"), "{name}");
        assert_eq!(
            param(&back, "iss").as_deref(),
            Some(app.address.as_str()),
            "{name}"
        );
        assert!(param(&back, "code").is_none(), "{name}");
    }
}

/// RFC 6749 section 6: a refresh may ask for less than was granted (the new
/// access token carries only that), never for more; the grant itself keeps
/// its scopes.
#[actix_web::test]
async fn a_refresh_may_narrow_the_scope_but_never_widen_it() {
    let app = spawn_app().await;
    let admin = app.signed_in_admin("root").await;
    let client = confidential(&app, &admin).await;
    let ada = app.signed_up("ada").await;
    let (code, _) = code_for(&app, &client, &ada).await;
    let first: Value = exchange(&app, &client, &code).await.json().await.unwrap();
    let scopes_of = |answer: &Value| {
        let mut scopes: Vec<String> = answer["scope"]
            .as_str()
            .unwrap()
            .split(' ')
            .map(str::to_owned)
            .collect();
        scopes.sort();
        scopes
    };
    assert_eq!(scopes_of(&first), ["email", "openid", "profile"]);

    let narrowed = token(
        &app,
        &client,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", first["refresh_token"].as_str().unwrap()),
            ("scope", "openid email"),
        ],
    )
    .await;
    assert_eq!(narrowed.status(), StatusCode::OK);
    let narrowed: Value = narrowed.json().await.unwrap();
    assert_eq!(scopes_of(&narrowed), ["email", "openid"]);
    let (_, access) = jwt_parts(narrowed["access_token"].as_str().unwrap());
    assert_eq!(access["scope"], "email openid");

    // wiki:read is allowed for the client but was not granted.
    let widened = token(
        &app,
        &client,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", narrowed["refresh_token"].as_str().unwrap()),
            ("scope", "openid wiki:read"),
        ],
    )
    .await;
    oauth_error(widened, StatusCode::BAD_REQUEST, "invalid_scope").await;

    let whole = token(
        &app,
        &client,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", narrowed["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(whole.status(), StatusCode::OK);
    let whole: Value = whole.json().await.unwrap();
    assert_eq!(scopes_of(&whole), ["email", "openid", "profile"]);
}
