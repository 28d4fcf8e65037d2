//! The audit trail: every auth event is recorded, readable by admins,
//! survives the account, and is pruned after the retention period.

use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{STRONG_PASSWORD, TestApp, assert_problem, spawn_app, spawn_app_with};

async fn events(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let response = app
        .get(&format!("/admin/events?per_page=100&{query}"), Some(token))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let page: Value = response.json().await.unwrap();
    page["items"].as_array().unwrap().clone()
}

#[actix_web::test]
async fn every_kind_of_auth_event_is_recorded_with_who_and_where_and_no_secrets() {
    let app = spawn_app().await;
    let root = app.signed_in_admin("root").await;
    let ada = app.signed_up("ada").await;
    app.login(&json!({"email": ada.email, "password": "not the password"}))
        .await;
    app.login(&json!({"email": "nobody@example.com", "password": STRONG_PASSWORD}))
        .await;
    let second: Value = app.refresh(&ada.refresh_token).await.json().await.unwrap();
    let third: Value = app
        .refresh(second["refresh_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    app.refresh(&ada.refresh_token).await; // reuse: two rotations old
    let laptop = app.logged_in(&ada.email, STRONG_PASSWORD).await;
    let phone = app.logged_in(&ada.email, STRONG_PASSWORD).await;
    let (_, phone_claims) = crate::helpers::jwt_parts(phone["access_token"].as_str().unwrap());
    let path = format!("/me/sessions/{}", phone_claims["sid"].as_str().unwrap());
    app.client
        .delete(app.url(&path))
        .bearer_auth(laptop["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    app.logout(laptop["access_token"].as_str().unwrap()).await;
    let tablet = app.logged_in(&ada.email, STRONG_PASSWORD).await;
    let tablet_token = tablet["access_token"].as_str().unwrap();
    app.send_json(
        Method::PUT,
        "/me/password",
        tablet_token,
        &json!({"current_password": STRONG_PASSWORD, "new_password": "another long passphrase"}),
    )
    .await;
    app.send_json(Method::POST, "/logout", tablet_token, &json!({"all": true}))
        .await;
    let user_path = format!("/admin/users/{}", ada.id);
    for change in [
        json!({"role": "admin"}),
        json!({"role": "user"}),
        json!({"disabled": true}),
        json!({"disabled": false}),
    ] {
        let response = app
            .send_json(Method::PATCH, &user_path, &root.access_token, &change)
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let grace = app.signed_up("grace").await;
    app.delete_json(
        "/account",
        &grace.access_token,
        &json!({"password": STRONG_PASSWORD}),
    )
    .await;
    app.client
        .delete(app.url(&user_path))
        .bearer_auth(&root.access_token)
        .send()
        .await
        .unwrap();
    assert!(third.is_object());

    let all = events(&app, &root.access_token, "").await;

    let types: HashSet<&str> = all.iter().map(|e| e["type"].as_str().unwrap()).collect();
    for expected in [
        "user_registered",
        "login_succeeded",
        "login_failed",
        "refresh_reuse_detected",
        "logged_out",
        "logged_out_all",
        "session_revoked",
        "password_changed",
        "role_changed",
        "user_disabled",
        "user_enabled",
        "user_deleted",
    ] {
        assert!(
            types.contains(expected),
            "{expected} missing from {types:?}"
        );
    }
    assert!(
        !types.contains("token_refreshed"),
        "a successful refresh is no event: {types:?}"
    );
    let role_change = all
        .iter()
        .find(|e| e["type"] == "role_changed" && e["actor_id"] == root.id.as_str())
        .unwrap();
    assert_eq!(role_change["user_id"], ada.id.as_str());
    assert_eq!(role_change["ip"], "127.0.0.1");
    assert!(role_change["detail"]["to"].is_string());
    let unknown = all
        .iter()
        .find(|e| e["type"] == "login_failed" && e["user_id"].is_null())
        .unwrap();
    assert!(
        !unknown.to_string().contains("nobody"),
        "an unknown identifier is not kept"
    );
    let text = serde_json::to_string(&all).unwrap();
    for secret in [
        STRONG_PASSWORD,
        "another long passphrase",
        "argon2",
        ada.refresh_token.as_str(),
        ada.access_token.as_str(),
    ] {
        assert!(!text.contains(secret), "the audit trail leaks {secret}");
    }
    // Compared as times, not as text: RFC 3339 strings with 3, 6 or 9
    // fraction digits do not sort as the times they stand for.
    let newest: Vec<chrono::DateTime<chrono::FixedOffset>> = all
        .iter()
        .map(|e| chrono::DateTime::parse_from_rfc3339(e["occurred_at"].as_str().unwrap()).unwrap())
        .collect();
    assert!(
        newest.windows(2).all(|pair| pair[0] >= pair[1]),
        "newest first"
    );
}

#[actix_web::test]
async fn events_filter_by_user_and_type_and_survive_the_accounts_deletion() {
    let app = spawn_app().await;
    let root = app.signed_in_admin("root").await;
    let ada = app.signed_up("ada").await;
    app.signed_up("grace").await;
    app.delete_json(
        "/account",
        &ada.access_token,
        &json!({"password": STRONG_PASSWORD}),
    )
    .await;

    let adas = events(&app, &root.access_token, &format!("user_id={}", ada.id)).await;
    let types: Vec<&str> = adas.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        ["user_deleted", "login_succeeded", "user_registered"]
    );
    assert_eq!(adas[0]["detail"]["by"], "self");

    let logins = events(&app, &root.access_token, "type=login_succeeded").await;
    assert_eq!(logins.len(), 3, "root, ada, grace");
    assert!(logins.iter().all(|e| e["type"] == "login_succeeded"));

    let bad = app
        .get("/admin/events?type=nonsense", Some(&root.access_token))
        .await;
    assert_problem(bad, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
}

#[actix_web::test]
async fn refresh_events_written_by_earlier_versions_still_show() {
    let app = spawn_app().await;
    let root = app.signed_in_admin("root").await;
    app.sql(
        "INSERT INTO auth_events (id, occurred_at, event_type, user_id, detail) \
         VALUES ('0193b1c0-0000-7000-8000-000000000001', '2026-11-25 10:00:00', \
         'token_refreshed', '0193b1c0-0000-4000-8000-000000000002', \
         '{\"session_id\": \"s\", \"within_grace\": true}')",
    )
    .await;

    let old = events(&app, &root.access_token, "type=token_refreshed").await;

    assert_eq!(old.len(), 1, "{old:?}");
    assert_eq!(old[0]["type"], "token_refreshed");
    assert_eq!(old[0]["user_id"], "0193b1c0-0000-4000-8000-000000000002");
    assert_eq!(old[0]["detail"]["within_grace"], true);
}

#[actix_web::test]
async fn an_event_whose_stored_id_is_not_a_uuid_fails_the_listing_plainly() {
    let app = spawn_app().await;
    let root = app.signed_in_admin("root").await;
    app.sql(
        "INSERT INTO auth_events (id, occurred_at, event_type, detail) \
         VALUES ('restored-by-hand', '2026-11-25 10:00:00', 'user_registered', '{}')",
    )
    .await;

    let response = app
        .get(
            "/admin/events?type=user_registered",
            Some(&root.access_token),
        )
        .await;

    // Neither a nil id nor a listing that silently leaves the row out.
    let problem = assert_problem(
        response,
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
    )
    .await;
    assert!(
        !problem.to_string().contains("restored-by-hand"),
        "{problem}"
    );
}

#[actix_web::test]
async fn failed_logins_show_on_the_dashboard() {
    let app = spawn_app().await;
    let root = app.signed_in_admin("root").await;
    for _ in 0..2 {
        app.login(&json!({"email": "nobody@example.com", "password": STRONG_PASSWORD}))
            .await;
    }

    let figures: Value = app
        .get("/admin", Some(&root.access_token))
        .await
        .json()
        .await
        .unwrap();

    assert_eq!(figures["failed_logins_last_24h"], 2);
}

#[actix_web::test]
async fn a_node_starting_up_prunes_events_older_than_the_retention() {
    let app = spawn_app_with(|s| s.audit_retention_days = 30).await;
    app.signed_up("ada").await;
    app.sql(
        "INSERT INTO auth_events (id, occurred_at, event_type, detail) \
         VALUES ('old-event', '2000-01-01 00:00:00', 'login_failed', '{}')",
    )
    .await;
    let recent_before = app.count("auth_events", "id <> 'old-event'").await;

    // Building a node sweeps before it serves.
    app.another_node(|_| {}).await;

    assert_eq!(
        app.count("auth_events", "id = 'old-event'").await,
        0,
        "the old event was pruned"
    );
    let recent_after = app.count("auth_events", "id <> 'old-event'").await;
    assert!(recent_before > 0);
    assert_eq!(recent_before, recent_after, "recent events stay");
}

#[actix_web::test]
async fn the_sweep_prunes_events_once_time_has_moved_past_the_retention() {
    let app = spawn_app_with(|s| s.audit_retention_days = 30).await;
    app.signed_up("ada").await;
    let events = app.count("auth_events", "1 = 1").await;
    portcullis::service::audit::prune(app.state.get_ref()).await;
    assert_eq!(app.count("auth_events", "1 = 1").await, events, "too young");

    app.clock.advance(chrono::Duration::days(31));
    portcullis::service::audit::prune(app.state.get_ref()).await;

    assert_eq!(app.count("auth_events", "1 = 1").await, 0);
}

#[actix_web::test]
async fn the_sweep_deletes_more_than_one_step_of_old_events_and_keeps_the_recent_ones() {
    let app = spawn_app_with(|s| s.audit_retention_days = 30).await;
    app.signed_up("ada").await;
    let recent = app.count("auth_events", "1 = 1").await;
    let old = portcullis::db::events::PRUNE_BATCH * 2 + 7;
    let old_time = match crate::helpers::backend() {
        crate::helpers::Backend::Sqlite => "'2000-01-01 00:00:00'",
        crate::helpers::Backend::Postgres => "TIMESTAMP '2000-01-01 00:00:00'",
    };
    app.sql(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {old}) \
         INSERT INTO auth_events (id, occurred_at, event_type, detail) \
         SELECT 'old-' || i, {old_time}, 'login_failed', '{{}}' FROM n"
    ))
    .await;
    assert_eq!(app.count("auth_events", "1 = 1").await, recent + old);

    portcullis::service::audit::prune(app.state.get_ref()).await;

    assert_eq!(app.count("auth_events", "id LIKE 'old-%'").await, 0);
    assert_eq!(
        app.count("auth_events", "1 = 1").await,
        recent,
        "recent events stay"
    );
}

#[actix_web::test]
async fn a_retention_of_zero_days_keeps_events_forever() {
    let app = spawn_app_with(|s| s.audit_retention_days = 0).await;
    app.sql(
        "INSERT INTO auth_events (id, occurred_at, event_type, detail) \
         VALUES ('old-event', '2000-01-01 00:00:00', 'login_failed', '{}')",
    )
    .await;

    app.another_node(|_| {}).await;
    app.clock.advance(chrono::Duration::days(36_500));
    portcullis::service::audit::prune(app.state.get_ref()).await;

    assert_eq!(app.count("auth_events", "id = 'old-event'").await, 1);
}
