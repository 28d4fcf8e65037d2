use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{STRONG_PASSWORD, assert_problem, spawn_app};

#[actix_web::test]
async fn the_dashboard_refuses_anonymous_callers_and_plain_users() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;

    let anonymous = app.get("/admin", None).await;
    assert_problem(anonymous, StatusCode::UNAUTHORIZED, "missing_token").await;

    let user = app.get("/admin", Some(&ada.access_token)).await;
    assert_problem(user, StatusCode::FORBIDDEN, "forbidden").await;
}

#[actix_web::test]
async fn an_admin_made_with_create_admin_sees_the_dashboard_figures() {
    let app = spawn_app().await;
    app.signed_up("ada").await;
    app.signed_up("grace").await;
    app.sql("UPDATE users SET disabled = TRUE WHERE username = 'grace'")
        .await;
    let root = app.signed_in_admin("root").await;

    let response = app.get("/admin", Some(&root.access_token)).await;

    assert_eq!(response.status(), StatusCode::OK);
    let figures: Value = response.json().await.unwrap();
    assert_eq!(figures["users"], 3);
    assert_eq!(figures["admins"], 1);
    assert_eq!(figures["disabled_users"], 1);
    assert_eq!(figures["active_sessions"], 3);
    assert_eq!(figures["signups_last_24h"], 3);
    assert_eq!(figures["failed_logins_last_24h"], 0);
}

#[actix_web::test]
async fn create_admin_promotes_an_existing_account_and_ends_its_sessions() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;

    let output = app
        .create_admin("ada", &ada.email, "ignored for an existing account")
        .await;

    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("promoted"));
    let old = app.get("/admin", Some(&ada.access_token)).await;
    assert_problem(old, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let fresh = app.logged_in(&ada.email, STRONG_PASSWORD).await;
    assert_eq!(fresh["user"]["role"], "admin");
    let dashboard = app.get("/admin", fresh["access_token"].as_str()).await;
    assert_eq!(dashboard.status(), StatusCode::OK);
}

#[actix_web::test]
async fn create_admin_refuses_a_weak_password_and_reads_it_only_from_stdin() {
    let app = spawn_app().await;

    let weak = app
        .create_admin("root", "root@example.com", "password123")
        .await;
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("common"));

    let without_flag = crate::helpers::run_cli(
        &[
            "create-admin",
            "--username",
            "root",
            "--email",
            "root@example.com",
        ],
        &app.database.url,
        Some(STRONG_PASSWORD),
    )
    .await;
    assert!(!without_flag.status.success());
}
