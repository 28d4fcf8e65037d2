use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{STRONG_PASSWORD, assert_problem, spawn_app};

#[actix_web::test]
async fn deleting_the_account_needs_the_right_password() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;

    let response = app
        .delete_json(
            "/account",
            &ada.access_token,
            &json!({"password": "not the password"}),
        )
        .await;

    assert_problem(response, StatusCode::FORBIDDEN, "wrong_password").await;
    assert_eq!(
        app.get("/me", Some(&ada.access_token)).await.status(),
        StatusCode::OK
    );
}

#[actix_web::test]
async fn a_deleted_account_is_gone_at_once_and_its_email_can_register_again() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    let other_session = app.logged_in(&ada.email, STRONG_PASSWORD).await;

    let response = app
        .delete_json(
            "/account",
            &ada.access_token,
            &json!({"password": STRONG_PASSWORD}),
        )
        .await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    for token in [
        ada.access_token.as_str(),
        other_session["access_token"].as_str().unwrap(),
    ] {
        let me = app.get("/me", Some(token)).await;
        assert_problem(me, StatusCode::UNAUTHORIZED, "invalid_token").await;
    }
    let login = app
        .login(&json!({"email": ada.email, "password": STRONG_PASSWORD}))
        .await;
    assert_problem(login, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert_eq!(app.count("sessions", "1 = 1").await, 0, "sessions cascade");
    let again = app.register("ada", &ada.email, STRONG_PASSWORD).await;
    assert_eq!(again.status(), StatusCode::CREATED);
}

#[actix_web::test]
async fn the_last_admin_cannot_delete_itself_but_one_of_two_can() {
    let app = spawn_app().await;
    let root = app.signed_in_admin("root").await;

    let refused = app
        .delete_json(
            "/account",
            &root.access_token,
            &json!({"password": STRONG_PASSWORD}),
        )
        .await;
    assert_problem(refused, StatusCode::CONFLICT, "last_admin").await;
    assert_eq!(
        app.get("/me", Some(&root.access_token)).await.status(),
        StatusCode::OK
    );

    app.signed_in_admin("second").await;
    let allowed = app
        .delete_json(
            "/account",
            &root.access_token,
            &json!({"password": STRONG_PASSWORD}),
        )
        .await;
    assert_eq!(allowed.status(), StatusCode::NO_CONTENT);
}

#[actix_web::test]
async fn deleting_the_account_needs_a_token() {
    let app = spawn_app().await;

    let response = app
        .client
        .delete(app.url("/account"))
        .json(&json!({"password": STRONG_PASSWORD}))
        .send()
        .await
        .unwrap();

    assert_problem(response, StatusCode::UNAUTHORIZED, "missing_token").await;
}
