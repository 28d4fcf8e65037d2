use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{STRONG_PASSWORD, assert_problem, jwt_parts, spawn_app};

#[actix_web::test]
async fn logging_in_by_email_returns_a_token_pair_that_must_not_be_cached() {
    let app = spawn_app().await;
    app.register("ada", "ada@example.com", STRONG_PASSWORD)
        .await;

    let response = app
        .login(&json!({"email": "ADA@example.com", "password": STRONG_PASSWORD}))
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let pair: Value = response.json().await.unwrap();
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 900);
    assert_eq!(pair["refresh_expires_in"], 86_400);
    assert_eq!(pair["user"]["username"], "ada");
    assert!(pair["access_token"].is_string() && pair["refresh_token"].is_string());
}

#[actix_web::test]
async fn the_access_token_has_the_contract_header_and_claims() {
    let app = spawn_app().await;
    app.register("ada", "ada@example.com", STRONG_PASSWORD)
        .await;
    let pair = app.logged_in("ada@example.com", STRONG_PASSWORD).await;
    let jwks: Value = app
        .get("/.well-known/jwks.json", None)
        .await
        .json()
        .await
        .unwrap();

    let (header, claims) = jwt_parts(pair["access_token"].as_str().unwrap());

    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["kid"], jwks["keys"][0]["kid"]);
    assert_eq!(claims["iss"], "portcullis");
    assert_eq!(claims["aud"], "portcullis");
    assert_eq!(claims["sub"], pair["user"]["id"]);
    assert_eq!(claims["role"], "user");
    assert!(uuid::Uuid::parse_str(claims["sid"].as_str().unwrap()).is_ok());
    assert!(uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).is_ok());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );

    let (refresh_header, refresh_claims) = jwt_parts(pair["refresh_token"].as_str().unwrap());
    assert_eq!(refresh_header["typ"], "refresh+jwt");
    assert_eq!(refresh_claims["sid"], claims["sid"]);
}

#[actix_web::test]
async fn logging_in_by_username_ignores_case_and_remember_extends_the_session() {
    let app = spawn_app().await;
    app.register("Ada", "ada@example.com", STRONG_PASSWORD)
        .await;

    let response = app
        .login(&json!({"username": "aDA", "password": STRONG_PASSWORD, "remember": true}))
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    let pair: Value = response.json().await.unwrap();
    assert_eq!(pair["refresh_expires_in"], 2_592_000);
    let (_, claims) = jwt_parts(pair["refresh_token"].as_str().unwrap());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        2_592_000
    );
}

#[actix_web::test]
async fn an_unknown_email_and_a_wrong_password_get_the_same_answer() {
    let app = spawn_app().await;
    app.register("ada", "ada@example.com", STRONG_PASSWORD)
        .await;

    let unknown = app
        .login(&json!({"email": "nobody@example.com", "password": STRONG_PASSWORD}))
        .await;
    let wrong = app
        .login(&json!({"email": "ada@example.com", "password": "not the password"}))
        .await;

    let unknown_headers = unknown.headers().clone();
    let wrong_headers = wrong.headers().clone();
    let unknown = assert_problem(unknown, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let wrong = assert_problem(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert_eq!(unknown, wrong);
    assert_eq!(
        unknown_headers.get("www-authenticate"),
        wrong_headers.get("www-authenticate")
    );
}

#[actix_web::test]
async fn a_disabled_account_is_told_so_only_after_the_right_password() {
    let app = spawn_app().await;
    app.register("ada", "ada@example.com", STRONG_PASSWORD)
        .await;
    app.sql("UPDATE users SET disabled = TRUE WHERE email = 'ada@example.com'")
        .await;

    let wrong = app
        .login(&json!({"email": "ada@example.com", "password": "not the password"}))
        .await;
    assert_problem(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;

    let right = app
        .login(&json!({"email": "ada@example.com", "password": STRONG_PASSWORD}))
        .await;
    assert_problem(right, StatusCode::FORBIDDEN, "account_disabled").await;
}

#[actix_web::test]
async fn a_disabled_accounts_existing_tokens_stop_working() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    app.sql("UPDATE users SET disabled = TRUE WHERE username = 'ada'")
        .await;

    let response = app.get("/me", Some(&ada.access_token)).await;

    assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[actix_web::test]
async fn login_needs_exactly_one_of_email_and_username() {
    let app = spawn_app().await;

    let neither = app.login(&json!({"password": STRONG_PASSWORD})).await;
    assert_problem(
        neither,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;

    let both = app
        .login(&json!({"email": "ada@example.com", "username": "ada", "password": STRONG_PASSWORD}))
        .await;
    assert_problem(both, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
}

#[actix_web::test]
async fn a_hash_made_with_older_parameters_is_upgraded_at_login() {
    let app = spawn_app().await;
    app.register("ada", "ada@example.com", STRONG_PASSWORD)
        .await;
    // A hash of STRONG_PASSWORD with m=1024, t=1 (not the app's 4096, t=1).
    let old = argon2_hash(1024);
    app.sql(&format!(
        "UPDATE users SET password_hash = '{old}' WHERE username = 'ada'"
    ))
    .await;

    app.logged_in("ada@example.com", STRONG_PASSWORD).await;

    let upgraded = app
        .count(
            "users",
            "username = 'ada' AND password_hash LIKE '$argon2id$v=19$m=4096,t=1,p=1$%'",
        )
        .await;
    assert_eq!(
        upgraded, 1,
        "the stored hash uses the configured parameters"
    );
    app.logged_in("ada@example.com", STRONG_PASSWORD).await;
}

fn argon2_hash(memory_kib: u32) -> String {
    use argon2::password_hash::{PasswordHasher as _, SaltString, rand_core::OsRng};
    let params = argon2::Params::new(memory_kib, 1, 1, None).unwrap();
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password(
            STRONG_PASSWORD.as_bytes(),
            &SaltString::generate(&mut OsRng),
        )
        .unwrap()
        .to_string()
}
