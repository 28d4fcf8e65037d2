use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{STRONG_PASSWORD, TestApp, assert_problem, spawn_app};

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

/// Marks `username`'s address as proven (as its verification link does).
async fn verify_address(app: &TestApp, username: &str) {
    app.sql(&format!(
        "UPDATE users SET email_verified = TRUE WHERE username = '{username}'"
    ))
    .await;
}

/// `create-admin --promote-existing`, the real binary.
async fn create_admin_promoting(
    app: &TestApp,
    username: &str,
    email: &str,
    password: &str,
) -> std::process::Output {
    crate::helpers::run_cli(
        &[
            "create-admin",
            "--username",
            username,
            "--email",
            email,
            "--password-stdin",
            "--promote-existing",
            "--argon2-memory-kib",
            "4096",
            "--argon2-iterations",
            "1",
        ],
        &app.database.url,
        Some(&format!("{password}\n")),
    )
    .await
}

async fn role_of(app: &TestApp, username: &str) -> (i64, i64) {
    (
        app.count(
            "users",
            &format!("username = '{username}' AND role = 'admin'"),
        )
        .await,
        app.count("users", "role = 'admin'").await,
    )
}

fn refused(output: &std::process::Output, says: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "accepted: {stderr}");
    assert!(stderr.contains(says), "{stderr}");
}

#[actix_web::test]
async fn create_admin_promotes_a_verified_account_whose_password_it_is_told_and_ends_its_sessions()
{
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    verify_address(&app, "ada").await;

    let output = app.create_admin("ada", &ada.email, STRONG_PASSWORD).await;

    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("promoted ada"));
    let old = app.get("/admin", Some(&ada.access_token)).await;
    assert_problem(old, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let fresh = app.logged_in(&ada.email, STRONG_PASSWORD).await;
    assert_eq!(fresh["user"]["role"], "admin");
    let dashboard = app.get("/admin", fresh["access_token"].as_str()).await;
    assert_eq!(dashboard.status(), StatusCode::OK);
}

#[actix_web::test]
async fn create_admin_creates_an_admin_when_neither_name_nor_address_exists() {
    let app = spawn_app().await;
    app.signed_up("ada").await;

    let output = app
        .create_admin("root", "root@example.com", STRONG_PASSWORD)
        .await;

    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("created admin root"));
    let pair = app.logged_in("root@example.com", STRONG_PASSWORD).await;
    assert_eq!(pair["user"]["role"], "admin");
    assert_eq!(pair["user"]["email_verified"], true);
    assert_eq!(role_of(&app, "ada").await, (0, 1));
}

#[actix_web::test]
async fn create_admin_refuses_a_username_someone_else_registered() {
    let app = spawn_app().await;
    // A squatter took the name the docs suggest, with an address of their own
    // (even a proven one).
    app.register("ops", "mallory@evil.example", STRONG_PASSWORD)
        .await;
    verify_address(&app, "ops").await;

    let output = app
        .create_admin("OPS", "ops-team@corp.example", STRONG_PASSWORD)
        .await;
    refused(&output, "username");
    let forced =
        create_admin_promoting(&app, "OPS", "ops-team@corp.example", "whatever it is").await;
    refused(&forced, "username");

    assert_eq!(role_of(&app, "ops").await, (0, 0));
    assert_eq!(
        app.count("users", "email = 'ops-team@corp.example'").await,
        0
    );
}

#[actix_web::test]
async fn create_admin_refuses_an_address_its_account_never_verified() {
    let app = spawn_app().await;
    // Registered first with the CEO's address, never proven, with a password
    // the squatter knows; the operator even types that very password.
    app.register("ceo", "ceo@corp.example", STRONG_PASSWORD)
        .await;

    let output = app
        .create_admin("ceo", "ceo@corp.example", STRONG_PASSWORD)
        .await;
    refused(&output, "never verified");
    let forced = create_admin_promoting(&app, "ceo", "ceo@corp.example", "anything at all").await;
    refused(&forced, "never verified");

    assert_eq!(role_of(&app, "ceo").await, (0, 0));
}

#[actix_web::test]
async fn create_admin_refuses_a_password_that_is_not_the_accounts() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    verify_address(&app, "ada").await;

    let output = app
        .create_admin("ada", &ada.email, "not the password of ada")
        .await;
    refused(&output, "password");
    assert_eq!(role_of(&app, "ada").await, (0, 0));
    // The account's sessions were left alone.
    assert_eq!(
        app.get("/me", Some(&ada.access_token)).await.status(),
        StatusCode::OK
    );

    // The explicit flag promotes the verified account without its password.
    let forced = create_admin_promoting(&app, "ada", &ada.email, "not the password of ada").await;
    assert!(forced.status.success(), "{forced:?}");
    assert_eq!(role_of(&app, "ada").await, (1, 1));
    let pair = app.logged_in(&ada.email, STRONG_PASSWORD).await;
    assert_eq!(
        pair["user"]["role"], "admin",
        "the password stays the owner's"
    );
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
