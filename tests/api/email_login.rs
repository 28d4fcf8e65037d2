//! Signing in by email: a link and a code mailed through a real SMTP server
//! (aiosmtpd, started by each test), used once; sign-up by email; the second
//! step for accounts with a second factor; and the redirect allow-list.

use portcullis::config::Switch;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    STRONG_PASSWORD, TestApp, TestSmtp, assert_problem, events_of, jwt_parts, recipient_of,
    spawn_app, token_in, totp_code,
};

/// An app with sign-in by email on, mailing to `smtp`.
async fn app_signing_in_by_email(
    smtp: &TestSmtp,
    configure: impl FnOnce(&mut portcullis::config::Settings),
) -> TestApp {
    crate::recovery::app_mailing(smtp, move |s| {
        s.email_login.email_login = Switch::On;
        configure(s);
    })
    .await
}

async fn ask(app: &TestApp, body: &Value) -> reqwest::Response {
    app.post_json("/login/email", body).await
}

async fn verify(app: &TestApp, body: &Value) -> reqwest::Response {
    app.post_json("/login/email/verify", body).await
}

/// The 6-digit code in a sign-in message (alone on its line).
fn code_in(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .find(|line| line.len() == 6 && line.chars().all(|c| c.is_ascii_digit()))
        .unwrap_or_else(|| panic!("no code in {message}"))
        .to_owned()
}

/// A code that is not `right`.
fn other_code(right: &str) -> String {
    let wrong = (right.parse::<u32>().unwrap() + 1) % 1_000_000;
    format!("{wrong:06}")
}

fn amr_of(pair: &Value) -> Value {
    jwt_parts(pair["access_token"].as_str().expect("access token")).1["amr"].clone()
}

#[actix_web::test]
async fn signing_in_by_email_is_off_unless_turned_on() {
    let app = spawn_app().await;
    let asked = ask(&app, &json!({"email": "ada@example.com"})).await;
    assert_problem(asked, StatusCode::NOT_FOUND, "not_found").await;
    let verified = verify(&app, &json!({"token": "x"})).await;
    assert_problem(verified, StatusCode::NOT_FOUND, "not_found").await;
}

#[actix_web::test]
async fn a_mailed_link_signs_in_once_and_proves_the_address() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let app = app_signing_in_by_email(&smtp, |_| {}).await;
    let root = app.signed_in_admin("root").await;
    let ada = app.signed_up("ada").await;

    let asked = ask(&app, &json!({"email": "ADA@example.com"})).await;
    assert_eq!(asked.status(), StatusCode::ACCEPTED);
    let mail = smtp.wait_for(1).await;
    assert_eq!(recipient_of(&mail[0]), "ada@example.com");
    assert!(
        mail[0].contains("http://localhost:3000/magic?token="),
        "{}",
        mail[0]
    );
    let token = token_in(&mail[0]);

    let signed_in = verify(&app, &json!({"token": token})).await;
    assert_eq!(signed_in.status(), StatusCode::OK);
    let pair: Value = signed_in.json().await.unwrap();
    assert_eq!(amr_of(&pair), json!(["email"]));
    assert_eq!(pair["user"]["email_verified"], true);
    let logins = events_of(&app, &root, "login_succeeded", &ada.id).await;
    assert_eq!(logins[0]["detail"]["method"], "email");
    assert_eq!(
        events_of(&app, &root, "email_verified", &ada.id)
            .await
            .len(),
        1
    );

    let again = verify(&app, &json!({"token": token})).await;
    assert_problem(again, StatusCode::BAD_REQUEST, "invalid_or_expired_token").await;
    // Neither is the code of a spent sign-in any good.
    let code = verify(
        &app,
        &json!({"email": ada.email, "code": code_in(&mail[0])}),
    )
    .await;
    assert_problem(code, StatusCode::BAD_REQUEST, "invalid_or_expired_token").await;
}

#[actix_web::test]
async fn a_mailed_code_allows_five_tries() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let app = app_signing_in_by_email(&smtp, |_| {}).await;
    let ada = app.signed_up("ada").await;

    ask(&app, &json!({"email": ada.email})).await;
    let right = code_in(&smtp.wait_for(1).await[0]);
    for _ in 0..4 {
        let wrong = verify(
            &app,
            &json!({"email": ada.email, "code": other_code(&right)}),
        )
        .await;
        assert_problem(wrong, StatusCode::BAD_REQUEST, "invalid_or_expired_token").await;
    }
    let fifth = verify(&app, &json!({"email": ada.email, "code": right})).await;
    assert_eq!(fifth.status(), StatusCode::OK);

    // A new code, after MAIL_MIN_INTERVAL: five wrong tries use it up.
    app.clock.advance(chrono::Duration::seconds(61));
    ask(&app, &json!({"email": ada.email})).await;
    let right = code_in(&smtp.wait_for(2).await[1]);
    for _ in 0..5 {
        verify(
            &app,
            &json!({"email": ada.email, "code": other_code(&right)}),
        )
        .await;
    }
    let sixth = verify(&app, &json!({"email": ada.email, "code": right})).await;
    assert_problem(sixth, StatusCode::BAD_REQUEST, "invalid_or_expired_token").await;
}

#[actix_web::test]
async fn a_link_expires_and_a_newer_one_voids_it() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let app = app_signing_in_by_email(&smtp, |_| {}).await;
    let ada = app.signed_up("ada").await;

    ask(&app, &json!({"email": ada.email})).await;
    let first = token_in(&smtp.wait_for(1).await[0]);
    // Within MAIL_MIN_INTERVAL nothing more is sent (and the first stands).
    ask(&app, &json!({"email": ada.email})).await;
    app.clock.advance(chrono::Duration::seconds(61));
    ask(&app, &json!({"email": ada.email})).await;
    let mail = smtp.wait_for(2).await;
    assert_eq!(mail.len(), 2);
    let second = token_in(&mail[1]);

    let voided = verify(&app, &json!({"token": first})).await;
    assert_problem(voided, StatusCode::BAD_REQUEST, "invalid_or_expired_token").await;
    app.clock.advance(chrono::Duration::seconds(601));
    let expired = verify(&app, &json!({"token": second})).await;
    assert_problem(expired, StatusCode::BAD_REQUEST, "invalid_or_expired_token").await;
}

#[actix_web::test]
async fn unknown_addresses_get_the_same_answer_and_an_account_only_with_sign_up_on() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let app = app_signing_in_by_email(&smtp, |_| {}).await;
    app.signed_up("ada").await;
    let unknown = ask(&app, &json!({"email": "nobody@example.com"})).await;
    let (unknown_status, unknown_body) = (unknown.status(), unknown.bytes().await.unwrap());
    let known = ask(&app, &json!({"email": "ada@example.com"})).await;
    assert_eq!(unknown_status, known.status());
    assert_eq!(unknown_body, known.bytes().await.unwrap());
    let mail = smtp.wait_for(1).await;
    assert_eq!(mail.len(), 1);
    assert_eq!(recipient_of(&mail[0]), "ada@example.com");

    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let open =
        app_signing_in_by_email(&smtp, |s| s.email_login.email_login_signup = Switch::On).await;
    let root = open.signed_in_admin("root").await;
    ask(&open, &json!({"email": "grace.hopper@example.com"})).await;
    let token = token_in(&smtp.wait_for(1).await[0]);
    let signed_up = verify(&open, &json!({"token": token, "token_delivery": "body"})).await;
    assert_eq!(signed_up.status(), StatusCode::OK);
    let pair: Value = signed_up.json().await.unwrap();
    assert_eq!(pair["user"]["username"], "grace.hopper");
    assert_eq!(pair["user"]["email_verified"], true);
    let id = pair["user"]["id"].as_str().unwrap();
    let registered = events_of(&open, &root, "user_registered", id).await;
    assert_eq!(registered[0]["detail"]["method"], "email");
    // No password anyone knows.
    let guessed = open
        .login(&json!({"email": "grace.hopper@example.com", "password": STRONG_PASSWORD}))
        .await;
    assert_problem(guessed, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
}

#[actix_web::test]
async fn a_second_sign_up_with_a_taken_username_gets_a_unique_one() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let app =
        app_signing_in_by_email(&smtp, |s| s.email_login.email_login_signup = Switch::On).await;
    app.signed_up("ada").await;
    ask(&app, &json!({"email": "ada@other.example"})).await;
    let token = token_in(&smtp.wait_for(1).await[0]);
    let pair: Value = verify(&app, &json!({"token": token}))
        .await
        .json()
        .await
        .unwrap();
    let username = pair["user"]["username"].as_str().unwrap();
    assert!(username.starts_with("ada-"), "{username}");
}

#[actix_web::test]
async fn an_account_with_a_second_factor_takes_the_second_step() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let app = app_signing_in_by_email(&smtp, |_| {}).await;
    let ada = app.signed_up("ada").await;
    let (secret, _) = crate::mfa::enable_totp(&app, &ada).await;

    ask(&app, &json!({"email": ada.email})).await;
    let code = code_in(&smtp.wait_for(1).await[0]);
    let first = verify(&app, &json!({"email": ada.email, "code": code})).await;
    let challenge = assert_problem(first, StatusCode::UNAUTHORIZED, "mfa_required").await;
    assert_eq!(challenge["methods"], json!(["totp", "recovery_code"]));
    app.clock.advance(chrono::Duration::seconds(30));
    let finished = app
        .post_json(
            "/login/mfa",
            &json!({"mfa_token": challenge["mfa_token"], "code": totp_code(&app, &secret)}),
        )
        .await;
    assert_eq!(finished.status(), StatusCode::OK);
    let pair: Value = finished.json().await.unwrap();
    assert_eq!(amr_of(&pair), json!(["email", "otp", "mfa"]));
}

#[actix_web::test]
async fn a_disabled_account_gets_no_link() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let app = app_signing_in_by_email(&smtp, |_| {}).await;
    let root = app.signed_in_admin("root").await;
    let ada = app.signed_up("ada").await;
    app.signed_up("bob").await;
    let disabled = app
        .send_json(
            reqwest::Method::PATCH,
            &format!("/admin/users/{}", ada.id),
            &root.access_token,
            &json!({"disabled": true}),
        )
        .await;
    assert_eq!(disabled.status(), StatusCode::OK);

    ask(&app, &json!({"email": ada.email})).await;
    ask(&app, &json!({"email": "bob@example.com"})).await;
    let mail = smtp.wait_for(1).await;
    assert_eq!(mail.len(), 1);
    assert_eq!(recipient_of(&mail[0]), "bob@example.com");
}

#[actix_web::test]
async fn the_link_leads_only_to_an_allowed_origin() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let app = app_signing_in_by_email(&smtp, |s| {
        s.guards.cors_allowed_origins = vec!["https://spa.example".to_owned()];
    })
    .await;
    let ada = app.signed_up("ada").await;
    for refused in [
        "https://evil.example/magic",
        "https://spa.example.evil.example/magic",
        "javascript:alert(1)",
        "https://user@spa.example/magic",
        "not a url",
    ] {
        let asked = ask(&app, &json!({"email": ada.email, "redirect_to": refused})).await;
        assert_problem(asked, StatusCode::BAD_REQUEST, "redirect_not_allowed").await;
    }
    let asked = ask(
        &app,
        &json!({"email": ada.email, "redirect_to": "https://spa.example/welcome?next=%2Fhome&token=old#frag"}),
    )
    .await;
    assert_eq!(asked.status(), StatusCode::ACCEPTED);
    let mail = smtp.wait_for(1).await;
    assert!(
        mail[0].contains("https://spa.example/welcome?next=%2Fhome&token="),
        "{}",
        mail[0]
    );
    let token = token_in(&mail[0]);
    assert_ne!(token, "old");
    assert_eq!(
        verify(&app, &json!({"token": token})).await.status(),
        StatusCode::OK
    );
}

#[actix_web::test]
async fn the_proof_is_a_token_or_an_address_and_its_code() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let app = app_signing_in_by_email(&smtp, |_| {}).await;
    for body in [
        json!({}),
        json!({"token": "x", "code": "123456"}),
        json!({"email": "ada@example.com"}),
        json!({"code": "123456"}),
    ] {
        let refused = verify(&app, &body).await;
        assert_problem(
            refused,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
    }
    let not_an_address = ask(&app, &json!({"email": "not an address"})).await;
    assert_problem(
        not_an_address,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
}

/// A sign-up by email racing another writer for its username or its address
/// gets an answer, never an error. On PostgreSQL the interleaving is made
/// deterministic: another transaction takes the name (or the address) and
/// holds it; the sign-up, which found it free, must wait for that row and,
/// once it is committed, takes a name with a suffix (or is refused as a
/// spent link is). On SQLite writers take turns, so the check inside the
/// sign-up's own transaction sees the other account: the same answers.
#[actix_web::test]
async fn a_sign_up_racing_another_for_its_name_or_address_gets_an_answer() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let app =
        app_signing_in_by_email(&smtp, |s| s.email_login.email_login_signup = Switch::On).await;
    ask(&app, &json!({"email": "grace.hopper@example.com"})).await;
    let grace = token_in(&smtp.wait_for(1).await[0]);
    ask(&app, &json!({"email": "ada.byron@example.com"})).await;
    let ada = token_in(&smtp.wait_for(2).await[1]);
    let racer = |username: &str, email: &str| {
        crate::helpers::insert_account_sql(&uuid::Uuid::new_v4().to_string(), username, email)
    };
    let race = async |statement: String, token: String| {
        let request = app
            .client
            .post(app.url("/login/email/verify"))
            .json(&json!({"token": token}))
            .send();
        if crate::helpers::backend() == crate::helpers::Backend::Postgres {
            app.racing_a_held_write(&[&statement], request).await
        } else {
            app.sql(&statement).await;
            request.await.unwrap()
        }
    };

    let named = race(racer("grace.hopper", "someone.else@example.com"), grace).await;
    assert_eq!(named.status(), StatusCode::OK);
    let pair: Value = named.json().await.unwrap();
    let username = pair["user"]["username"].as_str().unwrap();
    assert!(username.starts_with("grace.hopper-"), "{username}");

    let addressed = race(racer("ada.byron.first", "ada.byron@example.com"), ada).await;
    assert_problem(
        addressed,
        StatusCode::BAD_REQUEST,
        "invalid_or_expired_token",
    )
    .await;
    assert_eq!(
        app.count("users", "email = 'ada.byron@example.com'").await,
        1
    );
}
