//! Passkeys, with a software authenticator (webauthn-authenticator-rs's
//! `SoftToken`, which signs real WebAuthn answers): registration, login by
//! identifier and usernameless, single-use and expiring ceremonies, origins,
//! the signature counter, removal, the admin reset and two nodes.

use reqwest::StatusCode;
use serde_json::{Value, json};
use url::Url;
use webauthn_authenticator_rs::AuthenticatorBackend;
use webauthn_authenticator_rs::softtoken::SoftToken;
use webauthn_rs_proto::{AllowCredentials, CreationChallengeResponse, RequestChallengeResponse};

use crate::helpers::{
    Account, STRONG_PASSWORD, TestApp, assert_problem, events_of, jwt_parts, spawn_app,
    spawn_app_with,
};

/// The origin the app trusts by default (`APP_URL`).
const ORIGIN: &str = "http://localhost:3000";

/// A roaming authenticator with user verification, as a browser drives it.
pub(crate) struct Authenticator {
    token: SoftToken,
    origin: Url,
    /// The credential ids it made, newest last.
    credentials: Vec<Vec<u8>>,
}

impl Authenticator {
    pub(crate) fn new() -> Self {
        Self::at(ORIGIN)
    }

    /// One whose page is at `origin` (the browser puts it in the answer).
    fn at(origin: &str) -> Self {
        let (token, _) = SoftToken::new(true).expect("a soft token");
        Self {
            token,
            origin: Url::parse(origin).expect("origin URL"),
            credentials: Vec::new(),
        }
    }

    /// `navigator.credentials.create({publicKey: options})`, as JSON.
    fn create(&mut self, options: &Value) -> Value {
        let request: CreationChallengeResponse =
            serde_json::from_value(json!({ "publicKey": options })).expect("creation options");
        let credential = AuthenticatorBackend::perform_register(
            &mut self.token,
            self.origin.clone(),
            request.public_key,
            60_000,
        )
        .expect("the authenticator registers");
        self.credentials.push(credential.raw_id.to_vec());
        serde_json::to_value(credential).expect("credential JSON")
    }

    /// `navigator.credentials.get({publicKey: options})`, as JSON.
    fn get(&mut self, options: &Value) -> Value {
        let request = request_options(options);
        let assertion = AuthenticatorBackend::perform_auth(
            &mut self.token,
            self.origin.clone(),
            request.public_key,
            60_000,
        )
        .expect("the authenticator signs");
        serde_json::to_value(assertion).expect("assertion JSON")
    }

    /// A usernameless `get`: options without `allowCredentials`, answered
    /// with the newest credential and the user handle it was created with
    /// (a discoverable credential keeps both).
    fn get_discoverable(&mut self, options: &Value, user_id: &str) -> Value {
        let mut request = request_options(options);
        assert!(request.public_key.allow_credentials.is_empty());
        let newest = self.credentials.last().expect("a credential").clone();
        request.public_key.allow_credentials = vec![AllowCredentials {
            type_: "public-key".to_owned(),
            id: newest.into(),
            transports: None,
        }];
        let mut assertion = AuthenticatorBackend::perform_auth(
            &mut self.token,
            self.origin.clone(),
            request.public_key,
            60_000,
        )
        .expect("the authenticator signs");
        let handle = uuid::Uuid::parse_str(user_id).expect("a user id");
        assertion.response.user_handle = Some(handle.as_bytes().to_vec().into());
        serde_json::to_value(assertion).expect("assertion JSON")
    }

    /// Its whole state, keys and signature counter included.
    fn snapshot(&self) -> Vec<u8> {
        self.token.to_cbor().expect("soft token state")
    }

    /// Back to an earlier state: a clone of the authenticator as it was.
    fn restore(&mut self, snapshot: &[u8]) {
        self.token = SoftToken::from_cbor(snapshot).expect("soft token state");
    }
}

fn request_options(options: &Value) -> RequestChallengeResponse {
    serde_json::from_value(json!({ "publicKey": options })).expect("request options")
}

async fn post_auth(app: &TestApp, path: &str, token: &str, body: &Value) -> reqwest::Response {
    app.send_json(reqwest::Method::POST, path, token, body)
        .await
}

/// `POST /me/passkeys/registration`: the ceremony id and the options.
async fn start_registration(app: &TestApp, account: &Account) -> (String, Value) {
    let started = post_auth(
        app,
        "/me/passkeys/registration",
        &account.access_token,
        &json!({"password": STRONG_PASSWORD}),
    )
    .await;
    assert_eq!(started.status(), StatusCode::OK);
    ceremony(started).await
}

async fn ceremony(response: reqwest::Response) -> (String, Value) {
    let body: Value = response.json().await.expect("ceremony JSON");
    (
        body["ceremony_id"]
            .as_str()
            .expect("ceremony_id")
            .to_owned(),
        body["options"].clone(),
    )
}

/// Adds a passkey made by `authenticator` to `account`; returns it.
pub(crate) async fn add_passkey(
    app: &TestApp,
    account: &Account,
    authenticator: &mut Authenticator,
) -> Value {
    let (ceremony_id, options) = start_registration(app, account).await;
    let credential = authenticator.create(&options);
    let added = post_auth(
        app,
        "/me/passkeys",
        &account.access_token,
        &json!({"ceremony_id": ceremony_id, "name": "Laptop", "credential": credential}),
    )
    .await;
    assert_eq!(added.status(), StatusCode::CREATED);
    added.json().await.expect("passkey JSON")
}

async fn start_login(app: &TestApp, body: Option<Value>) -> (String, Value) {
    let mut request = app.client.post(app.url("/login/passkey/challenge"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let started = request.send().await.expect("request sent");
    assert_eq!(started.status(), StatusCode::OK);
    ceremony(started).await
}

async fn finish_login(app: &TestApp, ceremony_id: &str, credential: &Value) -> reqwest::Response {
    app.post_json(
        "/login/passkey",
        &json!({"ceremony_id": ceremony_id, "credential": credential}),
    )
    .await
}

/// A whole login by email with `authenticator`.
pub(crate) async fn passkey_login(
    app: &TestApp,
    email: &str,
    authenticator: &mut Authenticator,
) -> reqwest::Response {
    let (ceremony_id, options) = start_login(app, Some(json!({"email": email}))).await;
    let assertion = authenticator.get(&options);
    finish_login(app, &ceremony_id, &assertion).await
}

async fn passkeys_of(app: &TestApp, account: &Account) -> Vec<Value> {
    let listed = app.get("/me/passkeys", Some(&account.access_token)).await;
    assert_eq!(listed.status(), StatusCode::OK);
    listed
        .json::<Value>()
        .await
        .expect("list JSON")
        .as_array()
        .expect("an array")
        .clone()
}

#[actix_web::test]
async fn a_passkey_is_added_and_logs_in_by_email_with_amr_hwk() {
    let app = spawn_app().await;
    let root = app.signed_in_admin("root").await;
    let ada = app.signed_up("ada").await;
    let mut authenticator = Authenticator::new();

    let (ceremony_id, options) = start_registration(&app, &ada).await;
    assert_eq!(options["rp"]["id"], "localhost");
    assert_eq!(options["user"]["name"], "ada@example.com");
    assert_eq!(
        options["authenticatorSelection"]["residentKey"], "preferred",
        "{options}"
    );
    let credential = authenticator.create(&options);
    let added = post_auth(
        &app,
        "/me/passkeys",
        &ada.access_token,
        &json!({"ceremony_id": ceremony_id, "name": "  Laptop  ", "credential": credential}),
    )
    .await;
    assert_eq!(added.status(), StatusCode::CREATED);
    let passkey: Value = added.json().await.unwrap();
    assert_eq!(passkey["name"], "Laptop");
    assert!(passkey["created_at"].is_string());
    assert_eq!(passkey["last_used_at"], Value::Null);
    let me: Value = app
        .get("/me", Some(&ada.access_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["mfa"]["passkeys"], 1);

    let (ceremony_id, options) = start_login(&app, Some(json!({"email": "ADA@example.com"}))).await;
    let allowed = options["allowCredentials"]
        .as_array()
        .expect("allowCredentials");
    assert_eq!(allowed.len(), 1);
    let assertion = authenticator.get(&options);
    let logged_in = finish_login(&app, &ceremony_id, &assertion).await;
    assert_eq!(logged_in.status(), StatusCode::OK);
    let pair: Value = logged_in.json().await.unwrap();
    let (_, claims) = jwt_parts(pair["access_token"].as_str().unwrap());
    assert_eq!(claims["amr"], json!(["hwk", "user"]));
    assert_eq!(pair["user"]["id"], ada.id.as_str());
    // Refreshing keeps the session's methods.
    let refreshed: Value = app
        .refresh(pair["refresh_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    let (_, claims) = jwt_parts(refreshed["access_token"].as_str().unwrap());
    assert_eq!(claims["amr"], json!(["hwk", "user"]));

    let listed = passkeys_of(&app, &ada).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], passkey["id"]);
    assert!(listed[0]["last_used_at"].is_string());
    assert_eq!(
        events_of(&app, &root, "passkey_added", &ada.id).await.len(),
        1
    );
    let logins = events_of(&app, &root, "login_succeeded", &ada.id).await;
    assert_eq!(logins[0]["detail"]["method"], "passkey");
}

#[actix_web::test]
async fn a_usernameless_login_finds_the_account_from_the_passkey() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    let bob = app.signed_up("bob").await;
    let mut adas = Authenticator::new();
    add_passkey(&app, &ada, &mut adas).await;
    add_passkey(&app, &bob, &mut Authenticator::new()).await;

    let (ceremony_id, options) = start_login(&app, None).await;
    assert_eq!(options["allowCredentials"], json!([]));
    let assertion = adas.get_discoverable(&options, &ada.id);
    let logged_in = finish_login(&app, &ceremony_id, &assertion).await;
    assert_eq!(logged_in.status(), StatusCode::OK);
    let pair: Value = logged_in.json().await.unwrap();
    assert_eq!(pair["user"]["id"], ada.id.as_str());

    // `{}` is a usernameless login too; a user handle naming another account
    // than the passkey's is refused.
    let (ceremony_id, options) = start_login(&app, Some(json!({}))).await;
    let lying = adas.get_discoverable(&options, &bob.id);
    let refused = finish_login(&app, &ceremony_id, &lying).await;
    assert_problem(refused, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
}

#[actix_web::test]
async fn a_ceremony_is_used_once() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    let mut authenticator = Authenticator::new();

    let (ceremony_id, options) = start_registration(&app, &ada).await;
    let credential = authenticator.create(&options);
    let body = json!({"ceremony_id": ceremony_id, "name": "Laptop", "credential": credential});
    let first = post_auth(&app, "/me/passkeys", &ada.access_token, &body).await;
    assert_eq!(first.status(), StatusCode::CREATED);

    let (ceremony_id, options) = start_login(&app, Some(json!({"email": ada.email}))).await;
    let assertion = authenticator.get(&options);
    let first = finish_login(&app, &ceremony_id, &assertion).await;
    assert_eq!(first.status(), StatusCode::OK);
    // (From a session opened with the passkey: the account has a second
    // factor now, and factor changes need one.)
    let owner = with_tokens(&ada, &first.json().await.unwrap());
    let again = post_auth(&app, "/me/passkeys", &owner.access_token, &body).await;
    assert_problem(again, StatusCode::BAD_REQUEST, "invalid_or_expired_token").await;
    let replayed = finish_login(&app, &ceremony_id, &assertion).await;
    assert_problem(
        replayed,
        StatusCode::BAD_REQUEST,
        "invalid_or_expired_token",
    )
    .await;
    assert_eq!(app.count("webauthn_ceremonies", "1 = 1").await, 0);
}

#[actix_web::test]
async fn a_ceremony_expires_after_300_seconds() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    let mut authenticator = Authenticator::new();

    let (ceremony_id, options) = start_registration(&app, &ada).await;
    let credential = authenticator.create(&options);
    app.clock.advance(chrono::Duration::seconds(301));
    let late = post_auth(
        &app,
        "/me/passkeys",
        &ada.access_token,
        &json!({"ceremony_id": ceremony_id, "name": "Laptop", "credential": credential}),
    )
    .await;
    assert_problem(late, StatusCode::BAD_REQUEST, "invalid_or_expired_token").await;

    add_passkey(&app, &ada, &mut authenticator).await;
    let (ceremony_id, options) = start_login(&app, Some(json!({"email": ada.email}))).await;
    let assertion = authenticator.get(&options);
    app.clock.advance(chrono::Duration::seconds(299));
    let in_time = finish_login(&app, &ceremony_id, &assertion).await;
    assert_eq!(in_time.status(), StatusCode::OK);

    let (ceremony_id, options) = start_login(&app, Some(json!({"email": ada.email}))).await;
    let assertion = authenticator.get(&options);
    app.clock.advance(chrono::Duration::seconds(301));
    let late = finish_login(&app, &ceremony_id, &assertion).await;
    assert_problem(late, StatusCode::BAD_REQUEST, "invalid_or_expired_token").await;
}

#[actix_web::test]
async fn answers_from_another_origin_are_refused() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;

    let mut elsewhere = Authenticator::at("http://localhost:4000");
    let (ceremony_id, options) = start_registration(&app, &ada).await;
    let credential = elsewhere.create(&options);
    let refused = post_auth(
        &app,
        "/me/passkeys",
        &ada.access_token,
        &json!({"ceremony_id": ceremony_id, "name": "Laptop", "credential": credential}),
    )
    .await;
    let problem = assert_problem(
        refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(
        problem["errors"]["credential"][0]["code"],
        "passkey_rejected"
    );
    assert_eq!(app.count("passkeys", "1 = 1").await, 0);

    // A passkey made on the right page, used from another one.
    let mut authenticator = Authenticator::new();
    add_passkey(&app, &ada, &mut authenticator).await;
    authenticator.origin = Url::parse("http://evil.localhost:3000").unwrap();
    let refused = passkey_login(&app, &ada.email, &mut authenticator).await;
    assert_problem(refused, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
}

#[actix_web::test]
async fn a_configured_second_origin_is_accepted() {
    let app = spawn_app_with(|s| {
        s.passkeys.app_url = Url::parse("https://app.example.com").unwrap();
        s.passkeys.webauthn_rp_id = Some("example.com".to_owned());
        s.passkeys.webauthn_origins = vec![
            Url::parse("https://app.example.com").unwrap(),
            Url::parse("https://admin.example.com").unwrap(),
        ];
    })
    .await;
    let ada = app.signed_up("ada").await;
    let mut authenticator = Authenticator::at("https://admin.example.com");
    let (_, options) = start_registration(&app, &ada).await;
    assert_eq!(options["rp"]["id"], "example.com");
    add_passkey(&app, &ada, &mut authenticator).await;
    let logged_in = passkey_login(&app, &ada.email, &mut authenticator).await;
    assert_eq!(logged_in.status(), StatusCode::OK);
}

#[actix_web::test]
async fn a_signature_counter_that_goes_back_is_refused() {
    let app = spawn_app().await;
    let root = app.signed_in_admin("root").await;
    let ada = app.signed_up("ada").await;
    let mut authenticator = Authenticator::new();
    add_passkey(&app, &ada, &mut authenticator).await;
    let cloned = authenticator.snapshot();

    let first = passkey_login(&app, &ada.email, &mut authenticator).await;
    assert_eq!(first.status(), StatusCode::OK);
    // A clone of the authenticator from before that login signs with the
    // counter value already seen.
    authenticator.restore(&cloned);
    let replayed = passkey_login(&app, &ada.email, &mut authenticator).await;
    assert_problem(replayed, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let failures = events_of(&app, &root, "login_failed", &ada.id).await;
    assert_eq!(failures[0]["detail"]["reason"], "passkey_rejected");
}

#[actix_web::test]
async fn a_removed_passkey_no_longer_logs_in() {
    let app = spawn_app().await;
    let root = app.signed_in_admin("root").await;
    let ada = app.signed_up("ada").await;
    let bob = app.signed_up("bob").await;
    let mut authenticator = Authenticator::new();
    let passkey = add_passkey(&app, &ada, &mut authenticator).await;
    let path = format!("/me/passkeys/{}", passkey["id"].as_str().unwrap());
    let ada = passkey_session(&app, &ada, &mut authenticator).await;

    // Only its owner can remove it.
    let by_bob = app
        .send_json(
            reqwest::Method::DELETE,
            &path,
            &bob.access_token,
            &json!({}),
        )
        .await;
    assert_problem(by_bob, StatusCode::NOT_FOUND, "not_found").await;
    let (ceremony_id, options) = start_login(&app, Some(json!({"email": ada.email}))).await;
    let assertion = authenticator.get(&options);

    let removed = app
        .send_json(
            reqwest::Method::DELETE,
            &path,
            &ada.access_token,
            &json!({}),
        )
        .await;
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    let again = app
        .send_json(
            reqwest::Method::DELETE,
            &path,
            &ada.access_token,
            &json!({}),
        )
        .await;
    assert_problem(again, StatusCode::NOT_FOUND, "not_found").await;
    let not_an_id = app
        .send_json(
            reqwest::Method::DELETE,
            "/me/passkeys/x",
            &ada.access_token,
            &json!({}),
        )
        .await;
    assert_problem(not_an_id, StatusCode::NOT_FOUND, "not_found").await;

    // An answer signed before the removal does not get in either.
    let refused = finish_login(&app, &ceremony_id, &assertion).await;
    assert_problem(refused, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert!(passkeys_of(&app, &ada).await.is_empty());
    let me: Value = app
        .get("/me", Some(&ada.access_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["mfa"]["passkeys"], 0);
    assert_eq!(
        events_of(&app, &root, "passkey_removed", &ada.id)
            .await
            .len(),
        1
    );
}

#[actix_web::test]
async fn a_ceremony_begun_on_one_node_finishes_on_another() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    let other = app.another_node(|_| {}).await;
    let mut authenticator = Authenticator::new();

    let (ceremony_id, options) = start_registration(&app, &ada).await;
    let credential = authenticator.create(&options);
    let added = app
        .client
        .post(format!("{other}/me/passkeys"))
        .bearer_auth(&ada.access_token)
        .json(&json!({"ceremony_id": ceremony_id, "name": "Laptop", "credential": credential}))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), StatusCode::CREATED);

    let (ceremony_id, options) = start_login(&app, Some(json!({"username": "ada"}))).await;
    let assertion = authenticator.get(&options);
    let logged_in = app
        .client
        .post(format!("{other}/login/passkey"))
        .json(&json!({"ceremony_id": ceremony_id, "credential": assertion}))
        .send()
        .await
        .unwrap();
    assert_eq!(logged_in.status(), StatusCode::OK);
}

#[actix_web::test]
async fn registration_needs_the_password_and_the_ceremony_of_the_same_account() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    let bob = app.signed_up("bob").await;

    let wrong = post_auth(
        &app,
        "/me/passkeys/registration",
        &ada.access_token,
        &json!({"password": "not the password"}),
    )
    .await;
    assert_problem(wrong, StatusCode::FORBIDDEN, "wrong_password").await;
    let anonymous = app
        .post_json(
            "/me/passkeys/registration",
            &json!({"password": STRONG_PASSWORD}),
        )
        .await;
    assert_problem(anonymous, StatusCode::UNAUTHORIZED, "missing_token").await;

    // Bob cannot finish a ceremony Ada began (nor put his key on her account).
    let (ceremony_id, options) = start_registration(&app, &ada).await;
    let credential = Authenticator::new().create(&options);
    let by_bob = post_auth(
        &app,
        "/me/passkeys",
        &bob.access_token,
        &json!({"ceremony_id": ceremony_id, "name": "Laptop", "credential": credential}),
    )
    .await;
    assert_problem(by_bob, StatusCode::BAD_REQUEST, "invalid_or_expired_token").await;

    let (ceremony_id, options) = start_registration(&app, &ada).await;
    let credential = Authenticator::new().create(&options);
    for name in ["", "   ", &"x".repeat(65)] {
        let refused = post_auth(
            &app,
            "/me/passkeys",
            &ada.access_token,
            &json!({"ceremony_id": ceremony_id, "name": name, "credential": credential}),
        )
        .await;
        let problem = assert_problem(
            refused,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert!(problem["errors"]["name"].is_array());
    }
    let garbage = post_auth(
        &app,
        "/me/passkeys",
        &ada.access_token,
        &json!({"ceremony_id": ceremony_id, "name": "Laptop", "credential": {"id": 1}}),
    )
    .await;
    assert_problem(
        garbage,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
}

#[actix_web::test]
async fn one_authenticator_credential_is_registered_once() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    let mut authenticator = Authenticator::new();
    add_passkey(&app, &ada, &mut authenticator).await;
    let ada = passkey_session(&app, &ada, &mut authenticator).await;

    // The options name the passkey Ada has, for the browser to skip it.
    let (_, options) = start_registration(&app, &ada).await;
    let excluded = options["excludeCredentials"]
        .as_array()
        .expect("excludeCredentials");
    assert_eq!(excluded.len(), 1);
}

#[actix_web::test]
async fn an_identifier_without_passkeys_gets_options_of_the_same_shape() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    add_passkey(&app, &ada, &mut Authenticator::new()).await;

    let (_, real) = start_login(&app, Some(json!({"email": ada.email}))).await;
    let (ceremony_id, unknown) =
        start_login(&app, Some(json!({"email": "nobody@example.com"}))).await;
    let (_, unknown_again) = start_login(&app, Some(json!({"email": "nobody@example.com"}))).await;
    let keys = |options: &Value| {
        let mut keys: Vec<String> = options.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(&real), keys(&unknown));
    assert!(!unknown["allowCredentials"].as_array().unwrap().is_empty());
    // The made-up credentials stay the same, as real ones would.
    assert_eq!(
        unknown["allowCredentials"],
        unknown_again["allowCredentials"]
    );
    assert_ne!(unknown["challenge"], unknown_again["challenge"]);

    // Nothing finishes it, not even a real passkey of another account.
    let mut bobs = Authenticator::new();
    let bob = app.signed_up("bob").await;
    add_passkey(&app, &bob, &mut bobs).await;
    let (_, options) = start_login(&app, Some(json!({"email": bob.email}))).await;
    let answer = bobs.get(&options);
    let refused = finish_login(&app, &ceremony_id, &answer).await;
    assert_problem(refused, StatusCode::UNAUTHORIZED, "invalid_credentials").await;

    let both = app
        .post_json(
            "/login/passkey/challenge",
            &json!({"email": ada.email, "username": "ada"}),
        )
        .await;
    assert_problem(both, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let unknown_field = app
        .post_json("/login/passkey/challenge", &json!({"user": "ada"}))
        .await;
    assert_problem(unknown_field, StatusCode::BAD_REQUEST, "malformed_request").await;
}

#[actix_web::test]
async fn a_passkey_login_is_a_second_factor() {
    let app = spawn_app_with(|s| s.mfa.admin_require_mfa = true).await;
    let root = app.signed_in_admin("root").await;
    let refused = app.get("/admin", Some(&root.access_token)).await;
    assert_problem(refused, StatusCode::FORBIDDEN, "mfa_required_for_admin").await;

    let mut authenticator = Authenticator::new();
    add_passkey(&app, &root, &mut authenticator).await;
    let pair: Value = passkey_login(&app, &root.email, &mut authenticator)
        .await
        .json()
        .await
        .unwrap();
    let admitted = app
        .get("/admin", Some(pair["access_token"].as_str().unwrap()))
        .await;
    assert_eq!(admitted.status(), StatusCode::OK);
}

#[actix_web::test]
async fn the_admin_reset_removes_passkeys() {
    let app = spawn_app().await;
    let root = app.signed_in_admin("root").await;
    let ada = app.signed_up("ada").await;
    let mut authenticator = Authenticator::new();
    add_passkey(&app, &ada, &mut authenticator).await;
    let (waiting, options) = start_login(&app, Some(json!({"email": ada.email}))).await;
    let signed_before = authenticator.get(&options);

    let reset = app
        .send_json(
            reqwest::Method::DELETE,
            &format!("/admin/users/{}/mfa", ada.id),
            &root.access_token,
            &json!({}),
        )
        .await;
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.count("passkeys", "1 = 1").await, 0);
    // The login waiting for the passkey is void, and a usernameless one
    // finds no passkey.
    let voided = finish_login(&app, &waiting, &signed_before).await;
    assert_problem(voided, StatusCode::BAD_REQUEST, "invalid_or_expired_token").await;
    let (ceremony_id, options) = start_login(&app, None).await;
    let assertion = authenticator.get_discoverable(&options, &ada.id);
    let refused = finish_login(&app, &ceremony_id, &assertion).await;
    assert_problem(refused, StatusCode::UNAUTHORIZED, "invalid_credentials").await;

    let pair = app.logged_in(&ada.email, STRONG_PASSWORD).await;
    assert_eq!(pair["user"]["mfa"]["passkeys"], 0);
    let events = events_of(&app, &root, "mfa_disabled", &ada.id).await;
    assert_eq!(events[0]["detail"]["passkeys_removed"], 1);
}

#[actix_web::test]
async fn a_disabled_account_is_told_so_after_the_passkey_proves_it() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    let mut authenticator = Authenticator::new();
    add_passkey(&app, &ada, &mut authenticator).await;
    app.sql(&format!(
        "UPDATE users SET disabled = TRUE WHERE id = '{}'",
        ada.id
    ))
    .await;
    let refused = passkey_login(&app, &ada.email, &mut authenticator).await;
    assert_problem(refused, StatusCode::FORBIDDEN, "account_disabled").await;
}

/// The stored passkey row: its id, its owner and the sealed credential.
async fn stored_passkey(app: &TestApp) -> (String, String, String) {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        id: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        user_id: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        credential_sealed: String,
    }
    let row = app
        .state
        .db
        .run(|conn| {
            use diesel::RunQueryDsl as _;
            Ok::<_, portcullis::db::StoreError>(
                diesel::sql_query("SELECT id, user_id, credential_sealed FROM passkeys")
                    .get_result::<Row>(conn)?,
            )
        })
        .await
        .expect("one stored passkey");
    (row.id, row.user_id, row.credential_sealed)
}

#[actix_web::test]
async fn stored_passkeys_are_sealed() {
    use base64::Engine as _;
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    let mut authenticator = Authenticator::new();
    add_passkey(&app, &ada, &mut authenticator).await;

    let (id, user_id, sealed) = stored_passkey(&app).await;
    // "v1.<key id>.<base64url>": only base64url letters and dots, so none of
    // the braces or quotes webauthn-rs's JSON is made of (not a matter of
    // chance, unlike looking for a word in random base64).
    let body = sealed.strip_prefix("v1.").expect("the sealed format");
    assert!(
        body.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')),
        "{sealed}"
    );
    // It opens with the data key, bound to this passkey, to the credential
    // the authenticator made.
    let context = format!("passkey:{user_id}:{id}");
    let opened = app
        .state
        .cipher
        .open(&context, &sealed)
        .expect("the sealed credential opens");
    let credential: Value = serde_json::from_slice(&opened.plaintext).expect("webauthn-rs JSON");
    let credential_id = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(authenticator.credentials.last().expect("a credential"));
    assert!(
        credential
            .to_string()
            .contains(&format!("\"{credential_id}\"")),
        "{credential}"
    );
    assert!(
        app.state
            .cipher
            .open(&format!("passkey:{user_id}:another"), &sealed)
            .is_err(),
        "bound to its passkey"
    );
}

#[actix_web::test]
async fn a_passkey_login_can_deliver_the_refresh_token_as_a_cookie() {
    let app = spawn_app_with(|s| s.cookie.cookie_secure = false).await;
    let ada = app.signed_up("ada").await;
    let mut authenticator = Authenticator::new();
    add_passkey(&app, &ada, &mut authenticator).await;
    let (ceremony_id, options) = start_login(&app, Some(json!({"email": ada.email}))).await;
    let assertion = authenticator.get(&options);
    let logged_in = app
        .post_json(
            "/login/passkey",
            &json!({"ceremony_id": ceremony_id, "credential": assertion, "token_delivery": "cookie"}),
        )
        .await;
    assert_eq!(logged_in.status(), StatusCode::OK);
    let cookie = logged_in
        .headers()
        .get("set-cookie")
        .expect("a refresh cookie")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("portcullis_refresh="), "{cookie}");
    let pair: Value = logged_in.json().await.unwrap();
    assert!(pair.get("refresh_token").is_none());
}

#[actix_web::test]
async fn a_login_challenge_body_must_be_an_object() {
    let app = spawn_app().await;
    for body in [json!([null, null]), json!("ada"), json!(null)] {
        let refused = app.post_json("/login/passkey/challenge", &body).await;
        assert_problem(refused, StatusCode::BAD_REQUEST, "malformed_request").await;
    }
}

#[actix_web::test]
async fn a_login_challenge_identifier_is_bounded() {
    let app = spawn_app().await;
    for body in [
        json!({"email": format!("{}@example.com", "a".repeat(250))}),
        json!({"username": "u".repeat(33)}),
        json!({"email": "ada\u{0}@example.com"}),
    ] {
        let refused = app.post_json("/login/passkey/challenge", &body).await;
        assert_problem(
            refused,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
    }
}

// ---- Factor rules: a passkey guards the password login too, and factors
// change only from a session that proved a second factor.

impl Authenticator {
    /// `navigator.credentials.get` with this authenticator's newest
    /// credential, whatever the options list: an attacker's own passkey
    /// answering someone else's challenge.
    fn get_as_own(&mut self, options: &Value) -> Value {
        let mut request = request_options(options);
        let newest = self.credentials.last().expect("a credential").clone();
        request.public_key.allow_credentials = vec![AllowCredentials {
            type_: "public-key".to_owned(),
            id: newest.into(),
            transports: None,
        }];
        let assertion = AuthenticatorBackend::perform_auth(
            &mut self.token,
            self.origin.clone(),
            request.public_key,
            60_000,
        )
        .expect("the authenticator signs");
        serde_json::to_value(assertion).expect("assertion JSON")
    }
}

/// The `mfa_required` problem of a right password.
async fn password_challenge(app: &TestApp, email: &str) -> Value {
    let response = app
        .login(&json!({"email": email, "password": STRONG_PASSWORD}))
        .await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "mfa_required").await
}

/// `account` with the tokens of a passkey login (a second-factor session).
async fn passkey_session(
    app: &TestApp,
    account: &Account,
    authenticator: &mut Authenticator,
) -> Account {
    let response = passkey_login(app, &account.email, authenticator).await;
    assert_eq!(response.status(), StatusCode::OK);
    let pair: Value = response.json().await.expect("token pair");
    with_tokens(account, &pair)
}

/// `account` with the tokens of `pair`.
fn with_tokens(account: &Account, pair: &Value) -> Account {
    Account {
        id: account.id.clone(),
        email: account.email.clone(),
        access_token: pair["access_token"].as_str().expect("token").to_owned(),
        refresh_token: pair["refresh_token"].as_str().expect("token").to_owned(),
    }
}

fn amr_of(pair: &Value) -> Value {
    jwt_parts(pair["access_token"].as_str().expect("access token")).1["amr"].clone()
}

#[actix_web::test]
async fn a_password_login_of_an_account_with_a_passkey_takes_the_passkey_as_second_step() {
    let app = spawn_app().await;
    let root = app.signed_in_admin("root").await;
    let ada = app.signed_up("ada").await;
    let mut authenticator = Authenticator::new();
    add_passkey(&app, &ada, &mut authenticator).await;

    let challenge = password_challenge(&app, &ada.email).await;
    assert_eq!(challenge["methods"], json!(["passkey"]));
    let options = &challenge["passkey_options"];
    let allowed = options["allowCredentials"]
        .as_array()
        .expect("allowCredentials");
    assert_eq!(allowed.len(), 1, "the account's one passkey: {options}");
    assert_eq!(options["userVerification"], "required");

    let credential = authenticator.get(options);
    let finished = app
        .post_json(
            "/login/mfa",
            &json!({"mfa_token": challenge["mfa_token"], "credential": credential}),
        )
        .await;
    assert_eq!(finished.status(), StatusCode::OK);
    let pair: Value = finished.json().await.unwrap();
    assert_eq!(amr_of(&pair), json!(["pwd", "hwk", "mfa"]));
    let logins = events_of(&app, &root, "login_succeeded", &ada.id).await;
    assert_eq!(logins[0]["detail"]["method"], "passkey");

    // The same answer again: the challenge is spent with the login.
    let replayed = app
        .post_json(
            "/login/mfa",
            &json!({"mfa_token": challenge["mfa_token"], "credential": credential}),
        )
        .await;
    assert_problem(
        replayed,
        StatusCode::BAD_REQUEST,
        "invalid_or_expired_token",
    )
    .await;
}

#[actix_web::test]
async fn another_accounts_passkey_does_not_answer_the_second_step_and_one_answer_spends_it() {
    let app = spawn_app().await;
    let root = app.signed_in_admin("root").await;
    let ada = app.signed_up("ada").await;
    let mallory = app.signed_up("mallory").await;
    let mut adas = Authenticator::new();
    add_passkey(&app, &ada, &mut adas).await;
    let mut mallorys = Authenticator::new();
    add_passkey(&app, &mallory, &mut mallorys).await;

    // Mallory has Ada's password, and a passkey of her own.
    let challenge = password_challenge(&app, &ada.email).await;
    let foreign = mallorys.get_as_own(&challenge["passkey_options"]);
    let refused = app
        .post_json(
            "/login/mfa",
            &json!({"mfa_token": challenge["mfa_token"], "credential": foreign}),
        )
        .await;
    assert_problem(refused, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
    let failures = events_of(&app, &root, "mfa_challenge_failed", &ada.id).await;
    assert_eq!(failures[0]["detail"]["method"], "passkey");

    // The options' challenge answered once: even Ada's own passkey needs a
    // new login now.
    let own = adas.get(&challenge["passkey_options"]);
    let spent = app
        .post_json(
            "/login/mfa",
            &json!({"mfa_token": challenge["mfa_token"], "credential": own}),
        )
        .await;
    assert_problem(spent, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
    // Root's, Ada's and Mallory's sign-up sessions: nothing more.
    assert_eq!(app.count("sessions", "revoked_at IS NULL").await, 3);

    let again = password_challenge(&app, &ada.email).await;
    let own = adas.get(&again["passkey_options"]);
    let finished = app
        .post_json(
            "/login/mfa",
            &json!({"mfa_token": again["mfa_token"], "credential": own}),
        )
        .await;
    assert_eq!(finished.status(), StatusCode::OK);
}

#[actix_web::test]
async fn the_second_step_takes_one_kind_of_factor_and_a_credential_object() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    add_passkey(&app, &ada, &mut Authenticator::new()).await;
    let challenge = password_challenge(&app, &ada.email).await;
    let token = &challenge["mfa_token"];
    for body in [
        json!({"mfa_token": token, "code": "123456", "credential": {}}),
        json!({"mfa_token": token, "recovery_code": "x", "credential": {}}),
        json!({"mfa_token": token, "credential": "a string"}),
        json!({"mfa_token": token}),
    ] {
        let refused = app.post_json("/login/mfa", &body).await;
        assert_problem(
            refused,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
    }
    // A TOTP code where the account has none cannot be right.
    let code = app
        .post_json("/login/mfa", &json!({"mfa_token": token, "code": "123456"}))
        .await;
    assert_problem(code, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
}

#[actix_web::test]
async fn an_account_with_totp_and_a_passkey_offers_both_and_each_finishes_the_login() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    let (secret, _) = crate::mfa::enable_totp(&app, &ada).await;
    // The enrolling session proved the password only.
    let mut authenticator = Authenticator::new();
    let refused = post_auth(
        &app,
        "/me/passkeys/registration",
        &ada.access_token,
        &json!({"password": STRONG_PASSWORD}),
    )
    .await;
    assert_problem(refused, StatusCode::FORBIDDEN, "step_up_required").await;

    // Logged in with the code, Ada adds her passkey.
    let challenge = password_challenge(&app, &ada.email).await;
    assert_eq!(challenge["methods"], json!(["totp", "recovery_code"]));
    assert!(challenge.get("passkey_options").is_none());
    // The next code: the enrolment spent the current one.
    app.clock.advance(chrono::Duration::seconds(30));
    let with_code = app
        .post_json(
            "/login/mfa",
            &json!({"mfa_token": challenge["mfa_token"], "code": crate::helpers::totp_code(&app, &secret)}),
        )
        .await;
    assert_eq!(with_code.status(), StatusCode::OK);
    let pair: Value = with_code.json().await.unwrap();
    let stepped_up = with_tokens(&ada, &pair);
    add_passkey(&app, &stepped_up, &mut authenticator).await;

    let challenge = password_challenge(&app, &ada.email).await;
    assert_eq!(
        challenge["methods"],
        json!(["totp", "recovery_code", "passkey"])
    );
    let credential = authenticator.get(&challenge["passkey_options"]);
    let finished = app
        .post_json(
            "/login/mfa",
            &json!({"mfa_token": challenge["mfa_token"], "credential": credential}),
        )
        .await;
    assert_eq!(finished.status(), StatusCode::OK);
    assert_eq!(
        amr_of(&finished.json().await.unwrap()),
        json!(["pwd", "hwk", "mfa"])
    );
}

#[actix_web::test]
async fn factors_change_only_from_a_session_that_proved_a_second_factor() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    // A second session opened with the password before the passkey existed
    // (a thief's, say).
    let thief = app.logged_in(&ada.email, STRONG_PASSWORD).await["access_token"]
        .as_str()
        .expect("access token")
        .to_owned();
    let mut authenticator = Authenticator::new();
    // The account's first factor: the password is enough.
    let passkey = add_passkey(&app, &ada, &mut authenticator).await;
    let passkey_path = format!("/me/passkeys/{}", passkey["id"].as_str().unwrap());

    for token in [&thief, &ada.access_token] {
        let add = post_auth(
            &app,
            "/me/passkeys/registration",
            token,
            &json!({"password": STRONG_PASSWORD}),
        )
        .await;
        assert_problem(add, StatusCode::FORBIDDEN, "step_up_required").await;
        let finish = post_auth(
            &app,
            "/me/passkeys",
            token,
            &json!({"ceremony_id": "x", "name": "Mine", "credential": {}}),
        )
        .await;
        assert_problem(finish, StatusCode::FORBIDDEN, "step_up_required").await;
        let remove = app
            .send_json(reqwest::Method::DELETE, &passkey_path, token, &json!({}))
            .await;
        assert_problem(remove, StatusCode::FORBIDDEN, "step_up_required").await;
        let totp = post_auth(
            &app,
            "/me/mfa/totp",
            token,
            &json!({"password": STRONG_PASSWORD}),
        )
        .await;
        assert_problem(totp, StatusCode::FORBIDDEN, "step_up_required").await;
    }
    assert_eq!(passkeys_of(&app, &ada).await.len(), 1);

    // A session opened with the passkey may add and remove.
    let owner = passkey_session(&app, &ada, &mut authenticator).await;
    let second = add_passkey(&app, &owner, &mut Authenticator::new()).await;
    let removed = app
        .send_json(
            reqwest::Method::DELETE,
            &format!("/me/passkeys/{}", second["id"].as_str().unwrap()),
            &owner.access_token,
            &json!({}),
        )
        .await;
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    let totp = post_auth(
        &app,
        "/me/mfa/totp",
        &owner.access_token,
        &json!({"password": STRONG_PASSWORD}),
    )
    .await;
    assert_eq!(totp.status(), StatusCode::OK);
}

#[actix_web::test]
async fn a_login_checked_before_a_passkey_was_added_gets_no_password_only_session() {
    use portcullis::service::login::LoginError;
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    let started = crate::helpers::start_session_after(&app, &ada, async || {
        add_passkey(&app, &ada, &mut Authenticator::new()).await;
    })
    .await;

    assert!(matches!(started, Err(LoginError::InvalidCredentials)));
    assert_eq!(app.count("sessions", "revoked_at IS NULL").await, 1);
}

#[actix_web::test]
async fn an_account_holds_at_most_twenty_passkeys() {
    let app = spawn_app_with(|s| s.guards.rate_limit_per_minute = 0).await;
    let ada = app.signed_up("ada").await;
    let mut first = Authenticator::new();
    add_passkey(&app, &ada, &mut first).await;
    let owner = passkey_session(&app, &ada, &mut first).await;
    for _ in 1..20 {
        add_passkey(&app, &owner, &mut Authenticator::new()).await;
    }
    assert_eq!(passkeys_of(&app, &owner).await.len(), 20);

    let refused = post_auth(
        &app,
        "/me/passkeys/registration",
        &owner.access_token,
        &json!({"password": STRONG_PASSWORD}),
    )
    .await;
    assert_problem(refused, StatusCode::CONFLICT, "too_many_passkeys").await;
    assert_eq!(passkeys_of(&app, &owner).await.len(), 20);
}

#[actix_web::test]
async fn registrations_begun_below_the_limit_cannot_pass_it_together() {
    let app = spawn_app_with(|s| s.guards.rate_limit_per_minute = 0).await;
    let ada = app.signed_up("ada").await;
    let mut first = Authenticator::new();
    add_passkey(&app, &ada, &mut first).await;
    let owner = passkey_session(&app, &ada, &mut first).await;
    for _ in 1..19 {
        add_passkey(&app, &owner, &mut Authenticator::new()).await;
    }
    // Two ceremonies begun at 19 passkeys: only one may finish.
    let (one, one_options) = start_registration(&app, &owner).await;
    let (two, two_options) = start_registration(&app, &owner).await;
    let mut statuses = Vec::new();
    for (ceremony_id, options) in [(one, one_options), (two, two_options)] {
        let credential = Authenticator::new().create(&options);
        let finished = post_auth(
            &app,
            "/me/passkeys",
            &owner.access_token,
            &json!({"ceremony_id": ceremony_id, "name": "Key", "credential": credential}),
        )
        .await;
        statuses.push(finished.status());
        if finished.status() == StatusCode::CONFLICT {
            assert_problem(finished, StatusCode::CONFLICT, "too_many_passkeys").await;
        }
    }
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT]);
    assert_eq!(passkeys_of(&app, &owner).await.len(), 20);
}
