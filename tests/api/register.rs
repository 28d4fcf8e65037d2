use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{STRONG_PASSWORD, assert_problem, spawn_app};

#[actix_web::test]
async fn registering_returns_the_user_without_secrets_and_with_a_lower_cased_email() {
    let app = spawn_app().await;

    let response = app
        .register("Ada.L", "Ada@Example.COM", STRONG_PASSWORD)
        .await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let user: Value = response.json().await.unwrap();
    let mut keys: Vec<&str> = user
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "created_at",
            "email",
            "email_verified",
            "id",
            "mfa",
            "role",
            "username"
        ]
    );
    assert_eq!(user["email_verified"], false);
    assert_eq!(
        user["mfa"],
        serde_json::json!({"totp": false, "passkeys": 0, "recovery_codes_left": 0})
    );
    assert_eq!(user["username"], "Ada.L");
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["role"], "user");
    assert!(uuid::Uuid::parse_str(user["id"].as_str().unwrap()).is_ok());
    assert!(chrono::DateTime::parse_from_rfc3339(user["created_at"].as_str().unwrap()).is_ok());
    assert!(!user.to_string().contains("argon2"));
}

#[actix_web::test]
async fn an_email_already_registered_in_another_case_is_taken() {
    let app = spawn_app().await;
    app.register("ada", "ada@example.com", STRONG_PASSWORD)
        .await;

    let response = app
        .register("someone", "ADA@example.com", STRONG_PASSWORD)
        .await;

    assert_problem(response, StatusCode::CONFLICT, "email_taken").await;
}

#[actix_web::test]
async fn a_username_already_registered_in_another_case_is_taken() {
    let app = spawn_app().await;
    app.register("ada", "ada@example.com", STRONG_PASSWORD)
        .await;

    let response = app
        .register("ADA", "other@example.com", STRONG_PASSWORD)
        .await;

    assert_problem(response, StatusCode::CONFLICT, "username_taken").await;
}

#[actix_web::test]
async fn invalid_fields_are_each_reported_without_echoing_the_values() {
    let app = spawn_app().await;

    let response = app.register("a!b", "not-an-email", "tiny").await;

    let body = assert_problem(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"]["username"][0]["code"], "invalid_characters");
    assert_eq!(body["errors"]["email"][0]["code"], "invalid_email");
    assert_eq!(body["errors"]["password"][0]["code"], "too_short");
    for field in ["username", "email", "password"] {
        assert!(body["errors"][field][0]["message"].is_string());
    }
    let text = body.to_string();
    assert!(!text.contains("not-an-email") && !text.contains("tiny") && !text.contains("a!b"));
}

#[actix_web::test]
async fn common_passwords_and_passwords_equal_to_the_identity_are_refused() {
    let app = spawn_app().await;

    let common = app.register("ada", "ada@example.com", "iloveyou1").await;
    let body = assert_problem(
        common,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"]["password"][0]["code"], "too_common");

    let same = app
        .register("ada-lovelace", "ada@example.com", "ada-lovelace")
        .await;
    let body = assert_problem(same, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(body["errors"]["password"][0]["code"], "matches_identity");

    let long = app
        .register("ada", "ada@example.com", &"x".repeat(129))
        .await;
    let body = assert_problem(long, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(body["errors"]["password"][0]["code"], "too_long");
}

#[actix_web::test]
async fn a_128_character_password_is_kept_whole() {
    let app = spawn_app().await;
    let password = format!("{}{}", "k".repeat(127), "!");
    app.register("ada", "ada@example.com", &password).await;

    let truncated = app
        .login(&json!({"email": "ada@example.com", "password": &password[..127]}))
        .await;
    assert_eq!(truncated.status(), StatusCode::UNAUTHORIZED);
    let whole = app
        .login(&json!({"email": "ada@example.com", "password": password}))
        .await;
    assert_eq!(whole.status(), StatusCode::OK);
}

#[actix_web::test]
async fn a_body_that_is_not_json_is_a_malformed_request() {
    let app = spawn_app().await;

    let response = app
        .client
        .post(app.url("/register"))
        .header("content-type", "application/json")
        .body("{\"username\": ")
        .send()
        .await
        .unwrap();

    assert_problem(response, StatusCode::BAD_REQUEST, "malformed_request").await;
}

#[actix_web::test]
async fn wrong_types_unknown_fields_and_missing_fields_are_malformed_requests() {
    let app = spawn_app().await;
    let bodies = [
        json!({"username": 7, "email": "ada@example.com", "password": STRONG_PASSWORD}),
        json!({"username": "ada", "email": "ada@example.com", "password": STRONG_PASSWORD, "role": "admin"}),
        json!({"username": "ada", "password": STRONG_PASSWORD}),
    ];
    for body in bodies {
        let response = app.post_json("/register", &body).await;
        let problem = assert_problem(response, StatusCode::BAD_REQUEST, "malformed_request").await;
        assert!(!problem.to_string().contains(STRONG_PASSWORD));
    }
}

#[actix_web::test]
async fn a_body_that_is_not_declared_as_json_is_unsupported() {
    let app = spawn_app().await;

    let response = app
        .client
        .post(app.url("/register"))
        .header("content-type", "text/plain")
        .body(
            json!({"username": "ada", "email": "ada@example.com", "password": STRONG_PASSWORD})
                .to_string(),
        )
        .send()
        .await
        .unwrap();

    assert_problem(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
}

#[actix_web::test]
async fn a_body_over_16_kib_is_too_large() {
    let app = spawn_app().await;
    let padding = "x".repeat(17 * 1024);

    let response = app
        .post_json(
            "/register",
            &json!({"username": "ada", "email": "ada@example.com", "password": padding}),
        )
        .await;

    assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}
