//! Two-factor authentication: TOTP enrollment, the two-step login, recovery
//! codes, step-up for sensitive changes, the admin reset and
//! `ADMIN_REQUIRE_MFA`. Codes are computed here from the secret the API hands
//! out, at the app's own (manual) clock.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    Account, STRONG_PASSWORD, TestApp, assert_problem, events_of, jwt_parts, spawn_app,
    spawn_app_with, totp_code,
};

fn code_now(app: &TestApp, secret: &str) -> String {
    totp_code(app, secret)
}

/// Moves to the next 30-second step and returns its code: a code is accepted
/// once, so each use needs a step of its own.
fn next_code(app: &TestApp, secret: &str) -> String {
    app.clock.advance(chrono::Duration::seconds(30));
    code_now(app, secret)
}

/// A code that is not the current one (nor a neighbour's).
fn wrong_code(app: &TestApp, secret: &str) -> String {
    let right = code_now(app, secret);
    let wrong: u32 = (right.parse::<u32>().expect("digits") + 500_000) % 1_000_000;
    format!("{wrong:06}")
}

async fn post_auth(app: &TestApp, path: &str, token: &str, body: &Value) -> reqwest::Response {
    app.send_json(reqwest::Method::POST, path, token, body)
        .await
}

async fn me(app: &TestApp, token: &str) -> Value {
    let response = app.get("/me", Some(token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("user JSON")
}

/// Turns TOTP on for `account`; returns the secret and the recovery codes.
pub(crate) async fn enable_totp(app: &TestApp, account: &Account) -> (String, Vec<String>) {
    let started = post_auth(
        app,
        "/me/mfa/totp",
        &account.access_token,
        &json!({"password": STRONG_PASSWORD}),
    )
    .await;
    assert_eq!(started.status(), StatusCode::OK);
    let enrollment: Value = started.json().await.expect("enrollment JSON");
    let secret = enrollment["secret"].as_str().expect("secret").to_owned();
    let confirmed = post_auth(
        app,
        "/me/mfa/totp/confirm",
        &account.access_token,
        &json!({"code": code_now(app, &secret)}),
    )
    .await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    let body: Value = confirmed.json().await.expect("codes JSON");
    let codes = body["recovery_codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|code| code.as_str().expect("code").to_owned())
        .collect();
    (secret, codes)
}

/// The `mfa_token` of a right password on an account with TOTP on.
async fn mfa_token(app: &TestApp, email: &str) -> String {
    let response = app
        .login(&json!({"email": email, "password": STRONG_PASSWORD}))
        .await;
    let problem = assert_problem(response, StatusCode::UNAUTHORIZED, "mfa_required").await;
    assert_eq!(problem["methods"], json!(["totp", "recovery_code"]));
    problem["mfa_token"].as_str().expect("mfa_token").to_owned()
}

async fn login_mfa(app: &TestApp, body: &Value) -> reqwest::Response {
    app.post_json("/login/mfa", body).await
}

#[actix_web::test]
async fn enrollment_needs_the_password_and_stays_pending_until_a_right_code() {
    let app = spawn_app_with(|s| s.guards.rate_limit_per_minute = 0).await;
    let ada = app.signed_up("ada").await;

    let wrong = post_auth(
        &app,
        "/me/mfa/totp",
        &ada.access_token,
        &json!({"password": "not the password"}),
    )
    .await;
    assert_problem(wrong, StatusCode::FORBIDDEN, "wrong_password").await;

    let started = post_auth(
        &app,
        "/me/mfa/totp",
        &ada.access_token,
        &json!({"password": STRONG_PASSWORD}),
    )
    .await;
    assert_eq!(started.status(), StatusCode::OK);
    assert_eq!(started.headers()["cache-control"], "no-store");
    let enrollment: Value = started.json().await.unwrap();
    let secret = enrollment["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 32, "160 bits in base32");
    let uri = enrollment["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/Portcullis:ada%40example.com?")
            && uri.contains(&format!("secret={secret}"))
            && uri.contains("issuer=Portcullis"),
        "{uri}"
    );

    // Pending: the password alone still logs in, and /me says TOTP is off.
    app.logged_in(&ada.email, STRONG_PASSWORD).await;
    assert_eq!(me(&app, &ada.access_token).await["mfa"]["totp"], false);

    let wrong_code = wrong_code(&app, secret);
    let refused = post_auth(
        &app,
        "/me/mfa/totp/confirm",
        &ada.access_token,
        &json!({"code": wrong_code}),
    )
    .await;
    assert_problem(refused, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
    assert_eq!(me(&app, &ada.access_token).await["mfa"]["totp"], false);

    let confirmed = post_auth(
        &app,
        "/me/mfa/totp/confirm",
        &ada.access_token,
        &json!({"code": code_now(&app, secret)}),
    )
    .await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    let codes: Value = confirmed.json().await.unwrap();
    let codes = codes["recovery_codes"].as_array().unwrap();
    assert_eq!(codes.len(), 10);
    assert_eq!(
        me(&app, &ada.access_token).await["mfa"],
        json!({"totp": true, "passkeys": 0, "recovery_codes_left": 10})
    );

    let again = post_auth(
        &app,
        "/me/mfa/totp",
        &ada.access_token,
        &json!({"password": STRONG_PASSWORD}),
    )
    .await;
    assert_problem(again, StatusCode::CONFLICT, "mfa_already_enabled").await;
}

#[actix_web::test]
async fn a_new_enrollment_replaces_a_pending_one_and_confirming_needs_one() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    let none = post_auth(
        &app,
        "/me/mfa/totp/confirm",
        &ada.access_token,
        &json!({"code": "123456"}),
    )
    .await;
    assert_problem(none, StatusCode::NOT_FOUND, "not_found").await;

    let begin = || async {
        let response = post_auth(
            &app,
            "/me/mfa/totp",
            &ada.access_token,
            &json!({"password": STRONG_PASSWORD}),
        )
        .await;
        let body: Value = response.json().await.unwrap();
        body["secret"].as_str().unwrap().to_owned()
    };
    let first = begin().await;
    let second = begin().await;
    assert_ne!(first, second);
    let with_first = post_auth(
        &app,
        "/me/mfa/totp/confirm",
        &ada.access_token,
        &json!({"code": code_now(&app, &first)}),
    )
    .await;
    assert_problem(with_first, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
    let with_second = post_auth(
        &app,
        "/me/mfa/totp/confirm",
        &ada.access_token,
        &json!({"code": code_now(&app, &second)}),
    )
    .await;
    assert_eq!(with_second.status(), StatusCode::OK);
}

#[actix_web::test]
async fn confirming_ends_the_other_sessions_but_not_the_callers() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    let elsewhere = app.logged_in(&ada.email, STRONG_PASSWORD).await;
    enable_totp(&app, &ada).await;

    let other = app.get("/me", elsewhere["access_token"].as_str()).await;
    assert_problem(other, StatusCode::UNAUTHORIZED, "invalid_token").await;
    me(&app, &ada.access_token).await;
}

#[actix_web::test]
async fn a_login_with_totp_takes_the_password_then_a_code() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    let (secret, _) = enable_totp(&app, &ada).await;

    let token = mfa_token(&app, &ada.email).await;
    let finished = login_mfa(
        &app,
        &json!({"mfa_token": token, "code": next_code(&app, &secret)}),
    )
    .await;
    assert_eq!(finished.status(), StatusCode::OK);
    assert_eq!(finished.headers()["cache-control"], "no-store");
    let pair: Value = finished.json().await.unwrap();
    assert_eq!(pair["user"]["mfa"]["totp"], true);
    let (_, claims) = jwt_parts(pair["access_token"].as_str().unwrap());
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    me(&app, pair["access_token"].as_str().unwrap()).await;

    // The mfa_token is spent by the login it finished.
    let reused = login_mfa(
        &app,
        &json!({"mfa_token": token, "code": next_code(&app, &secret)}),
    )
    .await;
    assert_problem(reused, StatusCode::BAD_REQUEST, "invalid_or_expired_token").await;
}

#[actix_web::test]
async fn refresh_keeps_the_sessions_amr_and_a_password_login_says_pwd() {
    let app = spawn_app().await;
    let bob = app.signed_up("bob").await;
    let (_, claims) = jwt_parts(&bob.access_token);
    assert_eq!(claims["amr"], json!(["pwd"]));

    let ada = app.signed_up("ada").await;
    let (secret, _) = enable_totp(&app, &ada).await;
    let token = mfa_token(&app, &ada.email).await;
    let pair: Value = login_mfa(
        &app,
        &json!({"mfa_token": token, "code": next_code(&app, &secret)}),
    )
    .await
    .json()
    .await
    .unwrap();
    let refreshed = app.refresh(pair["refresh_token"].as_str().unwrap()).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let refreshed: Value = refreshed.json().await.unwrap();
    let (_, claims) = jwt_parts(refreshed["access_token"].as_str().unwrap());
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
}

#[actix_web::test]
async fn a_totp_code_is_accepted_once() {
    let app = spawn_app_with(|s| s.guards.rate_limit_per_minute = 0).await;
    let ada = app.signed_up("ada").await;
    let (secret, _) = enable_totp(&app, &ada).await;
    let code = next_code(&app, &secret);

    let first = login_mfa(
        &app,
        &json!({"mfa_token": mfa_token(&app, &ada.email).await, "code": code}),
    )
    .await;
    assert_eq!(first.status(), StatusCode::OK);
    let replayed = login_mfa(
        &app,
        &json!({"mfa_token": mfa_token(&app, &ada.email).await, "code": code}),
    )
    .await;
    assert_problem(replayed, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;

    // Nor is the code of the step before, once a later one was used.
    app.clock.advance(chrono::Duration::seconds(-30));
    let earlier = code_now(&app, &secret);
    app.clock.advance(chrono::Duration::seconds(30));
    let older = login_mfa(
        &app,
        &json!({"mfa_token": mfa_token(&app, &ada.email).await, "code": earlier}),
    )
    .await;
    assert_problem(older, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
}

#[actix_web::test]
async fn two_logins_racing_with_one_code_give_one_session() {
    let app = spawn_app_with(|s| s.guards.rate_limit_per_minute = 0).await;
    let ada = app.signed_up("ada").await;
    let (secret, _) = enable_totp(&app, &ada).await;
    let code = next_code(&app, &secret);
    let (first, second) = (
        mfa_token(&app, &ada.email).await,
        mfa_token(&app, &ada.email).await,
    );

    let (a, b) = futures_util::future::join(
        login_mfa(&app, &json!({"mfa_token": first, "code": code})),
        login_mfa(&app, &json!({"mfa_token": second, "code": code})),
    )
    .await;
    let mut statuses = [a.status(), b.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::UNAUTHORIZED]);
}

#[actix_web::test]
async fn a_recovery_code_logs_in_once() {
    let app = spawn_app_with(|s| s.guards.rate_limit_per_minute = 0).await;
    let root = app.signed_in_admin("root").await;
    let ada = app.signed_up("ada").await;
    let (_, codes) = enable_totp(&app, &ada).await;

    // Typed in capitals without dashes, as someone reading it off paper might.
    let typed = codes[3].replace('-', "").to_uppercase();
    let finished = login_mfa(
        &app,
        &json!({"mfa_token": mfa_token(&app, &ada.email).await, "recovery_code": typed}),
    )
    .await;
    assert_eq!(finished.status(), StatusCode::OK);
    let pair: Value = finished.json().await.unwrap();
    let (_, claims) = jwt_parts(pair["access_token"].as_str().unwrap());
    assert_eq!(claims["amr"], json!(["pwd", "mfa"]));
    assert_eq!(pair["user"]["mfa"]["recovery_codes_left"], 9);

    let again = login_mfa(
        &app,
        &json!({"mfa_token": mfa_token(&app, &ada.email).await, "recovery_code": codes[3]}),
    )
    .await;
    assert_problem(again, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
    assert_eq!(
        events_of(&app, &root, "recovery_code_used", &ada.id)
            .await
            .len(),
        1
    );
}

#[actix_web::test]
async fn the_second_step_takes_exactly_one_kind_of_code() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    let (secret, codes) = enable_totp(&app, &ada).await;
    let token = mfa_token(&app, &ada.email).await;
    for body in [
        json!({"mfa_token": token}),
        json!({"mfa_token": token, "code": next_code(&app, &secret), "recovery_code": codes[0]}),
    ] {
        let response = login_mfa(&app, &body).await;
        assert_problem(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
    }
    let unknown = login_mfa(&app, &json!({"mfa_token": "nonsense", "code": "123456"})).await;
    assert_problem(unknown, StatusCode::BAD_REQUEST, "invalid_or_expired_token").await;
}

#[actix_web::test]
async fn a_wrong_password_on_an_mfa_account_answers_as_on_any_other() {
    let app = spawn_app_with(|s| s.guards.rate_limit_per_minute = 0).await;
    let ada = app.signed_up("ada").await;
    enable_totp(&app, &ada).await;
    app.signed_up("bob").await;

    let mut answers = Vec::new();
    for email in ["ada@example.com", "bob@example.com", "nobody@example.com"] {
        let response = app
            .login(&json!({"email": email, "password": "not the password"}))
            .await;
        let headers = response.headers().clone();
        let body = assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        assert!(body.get("mfa_token").is_none() && body.get("methods").is_none());
        let mut names: Vec<_> = headers
            .keys()
            .map(|name| name.as_str().to_owned())
            .collect();
        names.sort();
        answers.push((body, names));
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[1], answers[2]);
}

#[actix_web::test]
async fn an_mfa_token_expires_after_300_seconds() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    let (secret, _) = enable_totp(&app, &ada).await;
    let token = mfa_token(&app, &ada.email).await;

    app.clock.advance(chrono::Duration::seconds(301));
    let late = login_mfa(
        &app,
        &json!({"mfa_token": token, "code": code_now(&app, &secret)}),
    )
    .await;
    assert_problem(late, StatusCode::BAD_REQUEST, "invalid_or_expired_token").await;
}

#[actix_web::test]
async fn an_mfa_token_allows_five_tries() {
    let app = spawn_app_with(|s| {
        s.guards.rate_limit_per_minute = 0;
        s.guards.login_backoff_failures = 0;
    })
    .await;
    let root = app.signed_in_admin("root").await;
    let ada = app.signed_up("ada").await;
    let (secret, _) = enable_totp(&app, &ada).await;
    let token = mfa_token(&app, &ada.email).await;
    app.clock.advance(chrono::Duration::seconds(30));

    for _ in 0..5 {
        let wrong = login_mfa(
            &app,
            &json!({"mfa_token": token, "code": wrong_code(&app, &secret)}),
        )
        .await;
        assert_problem(wrong, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
    }
    let right_but_too_late = login_mfa(
        &app,
        &json!({"mfa_token": token, "code": code_now(&app, &secret)}),
    )
    .await;
    assert_problem(
        right_but_too_late,
        StatusCode::BAD_REQUEST,
        "invalid_or_expired_token",
    )
    .await;
    let failures = events_of(&app, &root, "mfa_challenge_failed", &ada.id).await;
    assert_eq!(failures.len(), 5);
    assert_eq!(failures[0]["detail"]["method"], "totp");
}

#[actix_web::test]
async fn wrong_codes_count_in_the_accounts_backoff() {
    let app = spawn_app_with(|s| {
        s.guards.rate_limit_per_minute = 0;
        s.guards.login_backoff_failures = 3;
    })
    .await;
    let ada = app.signed_up("ada").await;
    let (secret, _) = enable_totp(&app, &ada).await;
    // No live session from this address: it is not a familiar one.
    assert_eq!(
        app.logout(&ada.access_token).await.status(),
        StatusCode::NO_CONTENT
    );
    app.clock.advance(chrono::Duration::seconds(30));

    // Each login counts its password step and its wrong code: 2 + 2 attempts
    // pass the limit of 3, whichever step the next attempt reaches.
    for _ in 0..2 {
        let token = mfa_token(&app, &ada.email).await;
        let wrong = login_mfa(
            &app,
            &json!({"mfa_token": token, "code": wrong_code(&app, &secret)}),
        )
        .await;
        let status = wrong.status();
        assert!(
            status == StatusCode::UNAUTHORIZED || status == StatusCode::TOO_MANY_REQUESTS,
            "{status}"
        );
    }
    let held_back = app
        .login(&json!({"email": ada.email, "password": STRONG_PASSWORD}))
        .await;
    assert_problem(held_back, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[actix_web::test]
async fn turning_totp_off_needs_the_password_and_a_code() {
    let app = spawn_app_with(|s| s.guards.rate_limit_per_minute = 0).await;
    let root = app.signed_in_admin("root").await;
    let ada = app.signed_up("ada").await;
    let (secret, _) = enable_totp(&app, &ada).await;
    let disable = |body: Value| {
        let token = ada.access_token.clone();
        let app = &app;
        async move { app.delete_json("/me/mfa/totp", &token, &body).await }
    };

    let wrong_password =
        disable(json!({"password": "nope nope", "code": next_code(&app, &secret)})).await;
    assert_problem(wrong_password, StatusCode::FORBIDDEN, "wrong_password").await;
    let wrong =
        disable(json!({"password": STRONG_PASSWORD, "code": wrong_code(&app, &secret)})).await;
    assert_problem(wrong, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
    let done =
        disable(json!({"password": STRONG_PASSWORD, "code": next_code(&app, &secret)})).await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);

    assert_eq!(
        me(&app, &ada.access_token).await["mfa"],
        json!({"totp": false, "passkeys": 0, "recovery_codes_left": 0})
    );
    app.logged_in(&ada.email, STRONG_PASSWORD).await;
    let not_on = disable(json!({"password": STRONG_PASSWORD, "code": "123456"})).await;
    assert_problem(not_on, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(app.count("totp_credentials", "1 = 1").await, 0);
    assert_eq!(app.count("recovery_codes", "1 = 1").await, 0);
    assert_eq!(
        events_of(&app, &root, "mfa_disabled", &ada.id).await.len(),
        1
    );
}

#[actix_web::test]
async fn a_recovery_code_can_turn_totp_off() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    let (_, codes) = enable_totp(&app, &ada).await;
    let done = app
        .delete_json(
            "/me/mfa/totp",
            &ada.access_token,
            &json!({"password": STRONG_PASSWORD, "code": codes[0]}),
        )
        .await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);
    assert_eq!(me(&app, &ada.access_token).await["mfa"]["totp"], false);
}

#[actix_web::test]
async fn regenerating_recovery_codes_voids_the_old_set() {
    let app = spawn_app_with(|s| s.guards.rate_limit_per_minute = 0).await;
    let root = app.signed_in_admin("root").await;
    let ada = app.signed_up("ada").await;
    let (secret, old) = enable_totp(&app, &ada).await;

    let wrong_password = post_auth(
        &app,
        "/me/mfa/recovery-codes",
        &ada.access_token,
        &json!({"password": "nope nope", "code": next_code(&app, &secret)}),
    )
    .await;
    assert_problem(wrong_password, StatusCode::FORBIDDEN, "wrong_password").await;
    let renewed = post_auth(
        &app,
        "/me/mfa/recovery-codes",
        &ada.access_token,
        &json!({"password": STRONG_PASSWORD, "code": next_code(&app, &secret)}),
    )
    .await;
    assert_eq!(renewed.status(), StatusCode::OK);
    let renewed: Value = renewed.json().await.unwrap();
    let new: Vec<String> = renewed["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|code| code.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(new.len(), 10);
    assert!(new.iter().all(|code| !old.contains(code)));

    let with_old = login_mfa(
        &app,
        &json!({"mfa_token": mfa_token(&app, &ada.email).await, "recovery_code": old[0]}),
    )
    .await;
    assert_problem(with_old, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
    let with_new = login_mfa(
        &app,
        &json!({"mfa_token": mfa_token(&app, &ada.email).await, "recovery_code": new[0]}),
    )
    .await;
    assert_eq!(with_new.status(), StatusCode::OK);
    assert_eq!(
        events_of(&app, &root, "recovery_codes_regenerated", &ada.id)
            .await
            .len(),
        1
    );
    assert_eq!(
        events_of(&app, &root, "mfa_enabled", &ada.id).await.len(),
        1
    );
}

#[actix_web::test]
async fn an_admin_can_reset_a_users_second_factors() {
    let app = spawn_app().await;
    let root = app.signed_in_admin("root").await;
    let ada = app.signed_up("ada").await;
    enable_totp(&app, &ada).await;
    let dashboard: Value = app
        .get("/admin", Some(&root.access_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(dashboard["mfa_enabled_users"], 1);

    let by_user = app
        .send_json(
            reqwest::Method::DELETE,
            &format!("/admin/users/{}/mfa", ada.id),
            &ada.access_token,
            &json!({}),
        )
        .await;
    assert_problem(by_user, StatusCode::FORBIDDEN, "forbidden").await;
    let reset = app
        .send_json(
            reqwest::Method::DELETE,
            &format!("/admin/users/{}/mfa", ada.id),
            &root.access_token,
            &json!({}),
        )
        .await;
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);

    let ended = app.get("/me", Some(&ada.access_token)).await;
    assert_problem(ended, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let pair = app.logged_in(&ada.email, STRONG_PASSWORD).await;
    assert_eq!(
        pair["user"]["mfa"],
        json!({"totp": false, "passkeys": 0, "recovery_codes_left": 0})
    );
    let events = events_of(&app, &root, "mfa_disabled", &ada.id).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["actor_id"], root.id.as_str());

    let unknown = app
        .send_json(
            reqwest::Method::DELETE,
            &format!("/admin/users/{}/mfa", uuid::Uuid::new_v4()),
            &root.access_token,
            &json!({}),
        )
        .await;
    assert_problem(unknown, StatusCode::NOT_FOUND, "not_found").await;
}

#[actix_web::test]
async fn admin_require_mfa_turns_away_admins_without_a_second_factor() {
    let app = spawn_app_with(|s| s.mfa.admin_require_mfa = true).await;
    let root = app.signed_in_admin("root").await;

    let refused = app.get("/admin", Some(&root.access_token)).await;
    assert_problem(refused, StatusCode::FORBIDDEN, "mfa_required_for_admin").await;
    // The admin's own account routes still work, to turn TOTP on.
    let (secret, _) = enable_totp(&app, &root).await;
    let still = app.get("/admin", Some(&root.access_token)).await;
    assert_problem(still, StatusCode::FORBIDDEN, "mfa_required_for_admin").await;

    let pair: Value = login_mfa(
        &app,
        &json!({"mfa_token": mfa_token(&app, &root.email).await, "code": next_code(&app, &secret)}),
    )
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
async fn the_stored_secret_is_not_the_secret() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    let (secret, codes) = enable_totp(&app, &ada).await;

    let stored = sealed_secret(&app).await;
    assert!(stored.starts_with("v1."), "{stored}");
    assert!(!stored.to_uppercase().contains(&secret[..16]), "{stored}");
    for code in &codes {
        let bare = code.replace('-', "");
        assert_eq!(
            app.count("recovery_codes", &format!("code_hash LIKE '%{bare}%'"))
                .await,
            0
        );
    }
}

#[actix_web::test]
async fn a_rotated_key_still_opens_secrets_and_reseals_them_on_use() {
    let app = spawn_app_with(|s| s.guards.rate_limit_per_minute = 0).await;
    let ada = app.signed_up("ada").await;
    let (secret, _) = enable_totp(&app, &ada).await;
    let sealed_before = sealed_secret(&app).await;

    let old_key = app
        .settings
        .encryption
        .data_encryption_key_file
        .clone()
        .unwrap();
    let new_dir = tempfile::tempdir().unwrap();
    let new_key = crate::helpers::write_data_key(new_dir.path());
    let rotated = app
        .another_node(|s| {
            s.encryption.data_encryption_key_file = Some(new_key.clone());
            s.encryption.data_encryption_old_key_files = vec![old_key];
        })
        .await;
    let finished = login_with_totp_at(&rotated, &ada.email, &next_code(&app, &secret)).await;
    assert_eq!(finished, StatusCode::OK);

    let sealed_after = sealed_secret(&app).await;
    let kid = |sealed: &str| sealed.split('.').nth(1).unwrap().to_owned();
    assert_ne!(kid(&sealed_before), kid(&sealed_after));

    // A node with only the new key reads it now.
    let new_only = app
        .another_node(|s| s.encryption.data_encryption_key_file = Some(new_key.clone()))
        .await;
    let finished = login_with_totp_at(&new_only, &ada.email, &next_code(&app, &secret)).await;
    assert_eq!(finished, StatusCode::OK);
}

/// Both login steps against the node at `address`; the second step's status.
async fn login_with_totp_at(address: &str, email: &str, code: &str) -> StatusCode {
    let client = crate::helpers::client();
    let challenge: Value = client
        .post(format!("{address}/login"))
        .json(&json!({"email": email, "password": STRONG_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    client
        .post(format!("{address}/login/mfa"))
        .json(&json!({"mfa_token": challenge["mfa_token"], "code": code}))
        .send()
        .await
        .unwrap()
        .status()
}

async fn sealed_secret(app: &TestApp) -> String {
    #[derive(diesel::QueryableByName)]
    struct Sealed {
        #[diesel(sql_type = diesel::sql_types::Text)]
        secret_sealed: String,
    }
    app.state
        .db
        .run(|conn| {
            use diesel::RunQueryDsl as _;
            Ok::<_, portcullis::db::StoreError>(
                diesel::sql_query("SELECT secret_sealed FROM totp_credentials")
                    .get_result::<Sealed>(conn)?
                    .secret_sealed,
            )
        })
        .await
        .unwrap()
}

#[actix_web::test]
async fn a_password_change_ends_logins_waiting_for_their_code() {
    let app = spawn_app_with(|s| s.guards.rate_limit_per_minute = 0).await;
    let ada = app.signed_up("ada").await;
    let (secret, _) = enable_totp(&app, &ada).await;
    let token = mfa_token(&app, &ada.email).await;

    let changed = app
        .send_json(
            reqwest::Method::PUT,
            "/me/password",
            &ada.access_token,
            &json!({"current_password": STRONG_PASSWORD, "new_password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    let late = login_mfa(
        &app,
        &json!({"mfa_token": token, "code": next_code(&app, &secret)}),
    )
    .await;
    assert_problem(late, StatusCode::BAD_REQUEST, "invalid_or_expired_token").await;
}

#[actix_web::test]
async fn a_login_checked_before_totp_was_turned_on_gets_no_password_only_session() {
    use portcullis::service::login::LoginError;
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    let started = crate::helpers::start_session_after(&app, &ada, async || {
        enable_totp(&app, &ada).await;
    })
    .await;

    assert!(matches!(started, Err(LoginError::InvalidCredentials)));
    assert_eq!(app.count("sessions", "revoked_at IS NULL").await, 1);
}

#[actix_web::test]
async fn wrong_codes_on_sensitive_changes_are_counted_per_account_across_sessions() {
    let app = spawn_app_with(|s| {
        s.guards.rate_limit_per_minute = 0;
        s.guards.login_backoff_failures = 3;
    })
    .await;
    let ada = app.signed_up("ada").await;
    let (secret, _) = enable_totp(&app, &ada).await;
    let token = |pair: Value| pair["access_token"].as_str().unwrap().to_owned();
    let second = token(
        login_mfa(
            &app,
            &json!({"mfa_token": mfa_token(&app, &ada.email).await, "code": next_code(&app, &secret)}),
        )
        .await
        .json()
        .await
        .unwrap(),
    );

    // A right password each time, a wrong code, from two sessions.
    let mut statuses = Vec::new();
    for session in [&ada.access_token, &second, &ada.access_token, &second] {
        let response = app
            .delete_json(
                "/me/mfa/totp",
                session,
                &json!({"password": STRONG_PASSWORD, "code": wrong_code(&app, &secret)}),
            )
            .await;
        statuses.push(response.status());
    }
    assert_eq!(
        statuses,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    // Held back even with the right code, until the window passes.
    let right = app
        .delete_json(
            "/me/mfa/totp",
            &second,
            &json!({"password": STRONG_PASSWORD, "code": next_code(&app, &secret)}),
        )
        .await;
    assert_problem(right, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[actix_web::test]
async fn a_familiar_address_does_not_exempt_code_guesses_at_login() {
    let app = spawn_app_with(|s| {
        s.guards.rate_limit_per_minute = 0;
        s.guards.login_backoff_failures = 3;
    })
    .await;
    let ada = app.signed_up("ada").await;
    // Ada's live session is from this address: a familiar one for passwords.
    let (secret, _) = enable_totp(&app, &ada).await;
    app.clock.advance(chrono::Duration::seconds(30));

    let mut statuses = Vec::new();
    for _ in 0..4 {
        let token = mfa_token(&app, &ada.email).await;
        let response = login_mfa(
            &app,
            &json!({"mfa_token": token, "code": wrong_code(&app, &secret)}),
        )
        .await;
        statuses.push(response.status());
    }
    assert_eq!(statuses[..3], [StatusCode::UNAUTHORIZED; 3]);
    assert_eq!(statuses[3], StatusCode::TOO_MANY_REQUESTS);
}

#[actix_web::test]
async fn one_recovery_code_used_twice_at_once_logs_in_once() {
    let app = spawn_app_with(|s| s.guards.rate_limit_per_minute = 0).await;
    let ada = app.signed_up("ada").await;
    let (_, codes) = enable_totp(&app, &ada).await;
    let (first, second) = (
        mfa_token(&app, &ada.email).await,
        mfa_token(&app, &ada.email).await,
    );

    let (a, b) = futures_util::future::join(
        login_mfa(
            &app,
            &json!({"mfa_token": first, "recovery_code": codes[0]}),
        ),
        login_mfa(
            &app,
            &json!({"mfa_token": second, "recovery_code": codes[0]}),
        ),
    )
    .await;
    let mut statuses = [a.status(), b.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::UNAUTHORIZED]);
    assert_eq!(
        me(&app, &ada.access_token).await["mfa"]["recovery_codes_left"],
        9
    );
}

#[actix_web::test]
async fn expired_login_challenges_are_pruned() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    enable_totp(&app, &ada).await;
    mfa_token(&app, &ada.email).await;
    portcullis::service::mfa::prune(app.state.get_ref()).await;
    assert_eq!(app.count("mfa_challenges", "1 = 1").await, 1, "still live");

    app.clock.advance(chrono::Duration::seconds(301));
    portcullis::service::mfa::prune(app.state.get_ref()).await;
    assert_eq!(app.count("mfa_challenges", "1 = 1").await, 0);
}

#[actix_web::test]
async fn the_login_event_names_the_second_factor_used() {
    let app = spawn_app_with(|s| s.guards.rate_limit_per_minute = 0).await;
    let root = app.signed_in_admin("root").await;
    let ada = app.signed_up("ada").await;
    let (secret, codes) = enable_totp(&app, &ada).await;
    let with_totp = login_mfa(
        &app,
        &json!({"mfa_token": mfa_token(&app, &ada.email).await, "code": next_code(&app, &secret)}),
    )
    .await;
    assert_eq!(with_totp.status(), StatusCode::OK);
    let with_code = login_mfa(
        &app,
        &json!({"mfa_token": mfa_token(&app, &ada.email).await, "recovery_code": codes[0]}),
    )
    .await;
    assert_eq!(with_code.status(), StatusCode::OK);

    let methods: Vec<Value> = events_of(&app, &root, "login_succeeded", &ada.id)
        .await
        .iter()
        .map(|event| event["detail"]["method"].clone())
        .collect();
    // Newest first: the recovery code, the TOTP code, then the sign-up login.
    assert_eq!(
        methods,
        [json!("recovery_code"), json!("totp"), json!("password")]
    );
}
