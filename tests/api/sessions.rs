//! The token lifecycle: rotation with reuse detection, logout, session
//! management and password change.

use std::collections::HashSet;

use futures_util::future::join_all;
use jsonwebtoken::{Algorithm, Header};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{STRONG_PASSWORD, assert_problem, jwt_parts, spawn_app, spawn_app_with};

#[actix_web::test]
async fn refreshing_rotates_the_pair_and_spends_the_old_refresh_token() {
    let app = spawn_app_with(|s| s.tokens.refresh_reuse_grace = 0).await;
    let ada = app.signed_up("ada").await;

    let response = app.refresh(&ada.refresh_token).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let pair: Value = response.json().await.unwrap();
    let new_refresh = pair["refresh_token"].as_str().unwrap();
    assert_ne!(new_refresh, ada.refresh_token);
    assert_eq!(pair["user"]["id"], ada.id.as_str());
    let (_, old_claims) = jwt_parts(&ada.refresh_token);
    let (_, new_claims) = jwt_parts(new_refresh);
    assert_eq!(old_claims["sid"], new_claims["sid"]);
    assert_eq!(
        old_claims["exp"], new_claims["exp"],
        "a refresh never extends the session"
    );
    let me = app.get("/me", pair["access_token"].as_str()).await;
    assert_eq!(me.status(), StatusCode::OK);
}

#[actix_web::test]
async fn reusing_a_spent_refresh_token_revokes_the_session_and_the_newer_tokens_die() {
    let app = spawn_app_with(|s| s.tokens.refresh_reuse_grace = 0).await;
    let ada = app.signed_up("ada").await;
    let newer: Value = app.refresh(&ada.refresh_token).await.json().await.unwrap();

    let reused = app.refresh(&ada.refresh_token).await;

    assert_problem(reused, StatusCode::UNAUTHORIZED, "refresh_token_reused").await;
    let newer_refresh = app.refresh(newer["refresh_token"].as_str().unwrap()).await;
    assert_problem(newer_refresh, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let newer_access = app.get("/me", newer["access_token"].as_str()).await;
    assert_problem(newer_access, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let original_access = app.get("/me", Some(&ada.access_token)).await;
    assert_problem(original_access, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[actix_web::test]
async fn sixteen_concurrent_refreshes_of_one_token_in_strict_mode_give_exactly_one_pair() {
    let app = spawn_app_with(|s| s.tokens.refresh_reuse_grace = 0).await;
    let ada = app.signed_up("ada").await;

    let attempts = (0..16).map(|_| app.refresh(&ada.refresh_token));
    let statuses: Vec<StatusCode> = join_all(attempts)
        .await
        .iter()
        .map(reqwest::Response::status)
        .collect();

    let succeeded = statuses
        .iter()
        .filter(|status| **status == StatusCode::OK)
        .count();
    assert_eq!(succeeded, 1, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|status| *status == StatusCode::OK || *status == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
}

#[actix_web::test]
async fn sixteen_concurrent_refreshes_in_grace_mode_rotate_once_and_all_get_the_current_token() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;

    let attempts = (0..16).map(|_| app.refresh(&ada.refresh_token));
    let mut refresh_tokens = HashSet::new();
    for response in join_all(attempts).await {
        assert_eq!(response.status(), StatusCode::OK);
        let pair: Value = response.json().await.unwrap();
        refresh_tokens.insert(pair["refresh_token"].as_str().unwrap().to_owned());
    }

    assert_eq!(refresh_tokens.len(), 1, "one rotation, one current token");
    let current = refresh_tokens.into_iter().next().unwrap();
    assert_ne!(current, ada.refresh_token);
    assert_eq!(app.refresh(&current).await.status(), StatusCode::OK);
}

#[actix_web::test]
async fn within_the_grace_window_the_previous_token_gets_the_current_one_back() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    let first: Value = app.refresh(&ada.refresh_token).await.json().await.unwrap();

    let again = app.refresh(&ada.refresh_token).await;

    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["refresh_token"], first["refresh_token"]);
    assert_eq!(
        app.get("/me", again["access_token"].as_str())
            .await
            .status(),
        StatusCode::OK
    );
}

#[actix_web::test]
async fn a_token_two_rotations_old_is_reuse_even_within_the_grace_window() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    let second: Value = app.refresh(&ada.refresh_token).await.json().await.unwrap();
    let third: Value = app
        .refresh(second["refresh_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();

    let reused = app.refresh(&ada.refresh_token).await;

    assert_problem(reused, StatusCode::UNAUTHORIZED, "refresh_token_reused").await;
    let current = app.refresh(third["refresh_token"].as_str().unwrap()).await;
    assert_problem(current, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[actix_web::test]
async fn after_the_grace_window_the_previous_token_is_reuse() {
    let app = spawn_app_with(|s| s.tokens.refresh_reuse_grace = 1).await;
    let ada = app.signed_up("ada").await;
    app.refresh(&ada.refresh_token).await;
    let within = app.refresh(&ada.refresh_token).await;
    assert_eq!(within.status(), StatusCode::OK, "within the grace window");

    app.clock.advance(chrono::Duration::milliseconds(1001));
    let late = app.refresh(&ada.refresh_token).await;

    assert_problem(late, StatusCode::UNAUTHORIZED, "refresh_token_reused").await;
}

#[actix_web::test]
async fn reuse_in_one_session_leaves_the_users_other_sessions_alone() {
    let app = spawn_app_with(|s| s.tokens.refresh_reuse_grace = 0).await;
    let ada = app.signed_up("ada").await;
    let laptop = app.logged_in(&ada.email, STRONG_PASSWORD).await;
    app.refresh(&ada.refresh_token).await;

    let reused = app.refresh(&ada.refresh_token).await;
    assert_problem(reused, StatusCode::UNAUTHORIZED, "refresh_token_reused").await;

    assert_eq!(
        app.get("/me", laptop["access_token"].as_str())
            .await
            .status(),
        StatusCode::OK
    );
    let refreshed = app.refresh(laptop["refresh_token"].as_str().unwrap()).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
}

#[actix_web::test]
async fn an_expired_refresh_token_says_it_expired_and_an_access_token_is_not_one() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    let (header, mut claims) = jwt_parts(&ada.refresh_token);
    let now = chrono::Utc::now().timestamp();
    claims["iat"] = json!(now - 100);
    claims["exp"] = json!(now - 10);
    let mut expired_header = Header::new(Algorithm::EdDSA);
    expired_header.typ = Some("refresh+jwt".into());
    expired_header.kid = header["kid"].as_str().map(str::to_owned);

    let expired = app.refresh(&app.forge(expired_header, &claims)).await;
    assert_problem(expired, StatusCode::UNAUTHORIZED, "token_expired").await;

    let access = app.refresh(&ada.access_token).await;
    assert_problem(access, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[actix_web::test]
async fn a_disabled_users_refresh_token_is_refused() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    app.sql("UPDATE users SET disabled = TRUE WHERE username = 'ada'")
        .await;

    let response = app.refresh(&ada.refresh_token).await;

    assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[actix_web::test]
async fn logout_ends_only_the_current_session_and_at_once() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    let laptop = app.logged_in(&ada.email, STRONG_PASSWORD).await;

    let response = app.logout(&ada.access_token).await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let me = app.get("/me", Some(&ada.access_token)).await;
    assert_problem(me, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let refresh = app.refresh(&ada.refresh_token).await;
    assert_problem(refresh, StatusCode::UNAUTHORIZED, "invalid_token").await;
    assert_eq!(
        app.get("/me", laptop["access_token"].as_str())
            .await
            .status(),
        StatusCode::OK
    );
}

#[actix_web::test]
async fn logout_all_ends_every_session_of_the_user() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    let laptop = app.logged_in(&ada.email, STRONG_PASSWORD).await;
    let grace = app.signed_up("grace").await;

    let response = app
        .send_json(
            Method::POST,
            "/logout",
            &ada.access_token,
            &json!({"all": true}),
        )
        .await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    for token in [
        ada.access_token.as_str(),
        laptop["access_token"].as_str().unwrap(),
    ] {
        let me = app.get("/me", Some(token)).await;
        assert_problem(me, StatusCode::UNAUTHORIZED, "invalid_token").await;
    }
    assert_eq!(
        app.get("/me", Some(&grace.access_token)).await.status(),
        StatusCode::OK
    );
}

#[actix_web::test]
async fn logout_with_a_malformed_body_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;

    let response = app
        .send_json(
            Method::POST,
            "/logout",
            &ada.access_token,
            &json!({"all": "yes"}),
        )
        .await;
    assert_problem(response, StatusCode::BAD_REQUEST, "malformed_request").await;
    // The body is optional, but when there is one it is an object, not `null`.
    let null = app
        .send_json(Method::POST, "/logout", &ada.access_token, &Value::Null)
        .await;
    assert_problem(null, StatusCode::BAD_REQUEST, "malformed_request").await;

    assert_eq!(
        app.get("/me", Some(&ada.access_token)).await.status(),
        StatusCode::OK
    );
}

#[actix_web::test]
async fn the_session_list_shows_each_login_and_deleting_one_ends_it() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    let phone = app
        .client
        .post(app.url("/login"))
        .header("user-agent", "PhoneApp/1.0")
        .json(&json!({"email": ada.email, "password": STRONG_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();

    let listed: Value = app
        .get("/me/sessions", Some(&ada.access_token))
        .await
        .json()
        .await
        .unwrap();

    let sessions = listed.as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    let (_, phone_claims) = jwt_parts(phone["access_token"].as_str().unwrap());
    let phone_session = sessions
        .iter()
        .find(|s| s["id"] == phone_claims["sid"])
        .unwrap();
    assert_eq!(phone_session["user_agent"], "PhoneApp/1.0");
    assert_eq!(phone_session["ip"], "127.0.0.1");
    assert_eq!(phone_session["current"], false);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    for field in ["created_at", "last_used_at", "expires_at"] {
        assert!(phone_session[field].is_string(), "{field}");
    }

    let path = format!("/me/sessions/{}", phone_claims["sid"].as_str().unwrap());
    let deleted = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&ada.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

    let refresh = app.refresh(phone["refresh_token"].as_str().unwrap()).await;
    assert_problem(refresh, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let me = app.get("/me", phone["access_token"].as_str()).await;
    assert_problem(me, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let remaining: Value = app
        .get("/me/sessions", Some(&ada.access_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(remaining.as_array().unwrap().len(), 1);
}

#[actix_web::test]
async fn another_users_session_id_is_not_found_and_stays_alive() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    let grace = app.signed_up("grace").await;
    let (_, grace_claims) = jwt_parts(&grace.access_token);

    for id in [grace_claims["sid"].as_str().unwrap(), "not-a-uuid"] {
        let path = format!("/me/sessions/{id}");
        let response = app
            .client
            .delete(app.url(&path))
            .bearer_auth(&ada.access_token)
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    }
    assert_eq!(
        app.get("/me", Some(&grace.access_token)).await.status(),
        StatusCode::OK
    );
}

#[actix_web::test]
async fn changing_the_password_keeps_this_session_and_ends_the_others() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    let laptop = app.logged_in(&ada.email, STRONG_PASSWORD).await;
    let new_password = "a different long passphrase";

    let response = app
        .send_json(
            Method::PUT,
            "/me/password",
            &ada.access_token,
            &json!({"current_password": STRONG_PASSWORD, "new_password": new_password}),
        )
        .await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/me", Some(&ada.access_token)).await.status(),
        StatusCode::OK
    );
    let other = app.get("/me", laptop["access_token"].as_str()).await;
    assert_problem(other, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let other_refresh = app.refresh(laptop["refresh_token"].as_str().unwrap()).await;
    assert_problem(other_refresh, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let old = app
        .login(&json!({"email": ada.email, "password": STRONG_PASSWORD}))
        .await;
    assert_problem(old, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    app.logged_in(&ada.email, new_password).await;
}

#[actix_web::test]
async fn changing_the_password_needs_the_current_one_and_a_good_new_one() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;

    let wrong = app
        .send_json(
            Method::PUT,
            "/me/password",
            &ada.access_token,
            &json!({"current_password": "not it", "new_password": "a different long passphrase"}),
        )
        .await;
    assert_problem(wrong, StatusCode::FORBIDDEN, "wrong_password").await;

    let weak = app
        .send_json(
            Method::PUT,
            "/me/password",
            &ada.access_token,
            &json!({"current_password": STRONG_PASSWORD, "new_password": "password123"}),
        )
        .await;
    let body = assert_problem(weak, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(body["errors"]["new_password"][0]["code"], "too_common");
    app.logged_in(&ada.email, STRONG_PASSWORD).await;
}

/// The caller's session `sid`, as `GET /me/sessions` shows it.
async fn session_shown(app: &crate::helpers::TestApp, access_token: &str, sid: &Value) -> Value {
    let listed: Value = app
        .get("/me/sessions", Some(access_token))
        .await
        .json()
        .await
        .unwrap();
    listed
        .as_array()
        .unwrap()
        .iter()
        .find(|session| session["id"] == *sid)
        .unwrap_or_else(|| panic!("session {sid} not in {listed}"))
        .clone()
}

fn time(value: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(value.as_str().unwrap_or_else(|| panic!("{value}")))
        .unwrap()
}

/// `POST /token/refresh` as a client with this `User-Agent`, from `ip` (the
/// app must trust 127.0.0.1 as a proxy).
async fn refresh_as(
    app: &crate::helpers::TestApp,
    refresh_token: &str,
    user_agent: &str,
    ip: &str,
) -> Value {
    let response = app
        .client
        .post(app.url("/token/refresh"))
        .header("user-agent", user_agent)
        .header("x-forwarded-for", ip)
        .json(&json!({"refresh_token": refresh_token}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[actix_web::test]
async fn a_refresh_is_no_audit_event_but_counted_and_timed_on_the_session() {
    let app = spawn_app_with(|s| s.tokens.refresh_reuse_grace = 0).await;
    let ada = app.signed_up("ada").await;
    let (_, claims) = jwt_parts(&ada.access_token);
    let before = session_shown(&app, &ada.access_token, &claims["sid"]).await;
    assert_eq!(before["refresh_count"], 0);
    for field in ["last_refreshed_at", "last_ip", "last_user_agent"] {
        assert!(
            before[field].is_null(),
            "{field} before a refresh: {before}"
        );
    }
    let events = app.count("auth_events", "1 = 1").await;

    app.clock.advance(chrono::Duration::seconds(60));
    let first: Value = app.refresh(&ada.refresh_token).await.json().await.unwrap();
    let token = first["access_token"].as_str().unwrap();
    let once = session_shown(&app, token, &claims["sid"]).await;
    app.clock.advance(chrono::Duration::seconds(60));
    let second: Value = app
        .refresh(first["refresh_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    let twice = session_shown(
        &app,
        second["access_token"].as_str().unwrap(),
        &claims["sid"],
    )
    .await;

    assert_eq!(
        app.count("auth_events", "1 = 1").await,
        events,
        "a successful refresh writes no audit event"
    );
    assert_eq!(once["refresh_count"], 1);
    assert_eq!(twice["refresh_count"], 2);
    let created = time(&before["created_at"]);
    let (at_first, at_second) = (
        time(&once["last_refreshed_at"]),
        time(&twice["last_refreshed_at"]),
    );
    assert!(
        at_first - created >= chrono::Duration::seconds(60),
        "{once}"
    );
    assert!(
        at_second - at_first >= chrono::Duration::seconds(60),
        "{twice}"
    );
    assert_eq!(twice["last_used_at"], twice["last_refreshed_at"]);
    assert_eq!(twice["last_ip"], "127.0.0.1");
    assert_eq!(twice["created_at"], before["created_at"]);
    assert_eq!(twice["expires_at"], before["expires_at"]);
}

#[actix_web::test]
async fn the_session_shows_the_address_and_user_agent_of_its_latest_refresh() {
    let app = spawn_app_with(|s| {
        s.guards.trusted_proxies = crate::helpers::networks("127.0.0.1");
    })
    .await;
    let ada = app.signed_up("ada").await;
    let (_, claims) = jwt_parts(&ada.access_token);

    let laptop = refresh_as(&app, &ada.refresh_token, "Laptop/1.0", "203.0.113.7").await;
    let on_laptop = session_shown(
        &app,
        laptop["access_token"].as_str().unwrap(),
        &claims["sid"],
    )
    .await;
    let phone = refresh_as(
        &app,
        laptop["refresh_token"].as_str().unwrap(),
        "Phone/2.0",
        "198.51.100.9",
    )
    .await;
    let on_phone = session_shown(
        &app,
        phone["access_token"].as_str().unwrap(),
        &claims["sid"],
    )
    .await;

    assert_eq!(on_laptop["last_ip"], "203.0.113.7");
    assert_eq!(on_laptop["last_user_agent"], "Laptop/1.0");
    assert_eq!(on_phone["last_ip"], "198.51.100.9");
    assert_eq!(on_phone["last_user_agent"], "Phone/2.0");
    assert_eq!(on_phone["refresh_count"], 2);
    // The login's client stays as it was.
    assert_eq!(on_phone["ip"], "127.0.0.1");
    assert_eq!(on_phone["user_agent"], on_laptop["user_agent"]);
    assert_ne!(on_phone["user_agent"], "Phone/2.0");
}

#[actix_web::test]
async fn a_repeat_within_the_grace_window_changes_and_records_nothing() {
    let app = spawn_app_with(|s| {
        s.guards.trusted_proxies = crate::helpers::networks("127.0.0.1");
    })
    .await;
    let ada = app.signed_up("ada").await;
    let (_, claims) = jwt_parts(&ada.access_token);
    let first = refresh_as(&app, &ada.refresh_token, "Tab/1", "203.0.113.7").await;
    let token = first["access_token"].as_str().unwrap();
    let after_first = session_shown(&app, token, &claims["sid"]).await;
    let events = app.count("auth_events", "1 = 1").await;

    app.clock.advance(chrono::Duration::seconds(1));
    let again = refresh_as(&app, &ada.refresh_token, "Tab/2", "198.51.100.9").await;

    assert_eq!(again["refresh_token"], first["refresh_token"]);
    assert_eq!(app.count("auth_events", "1 = 1").await, events);
    let after_again = session_shown(&app, token, &claims["sid"]).await;
    for field in [
        "refresh_count",
        "last_refreshed_at",
        "last_used_at",
        "last_ip",
        "last_user_agent",
    ] {
        assert_eq!(after_again[field], after_first[field], "{field}");
    }
}

#[actix_web::test]
async fn a_reused_refresh_token_is_still_an_audit_event() {
    let app = spawn_app_with(|s| s.tokens.refresh_reuse_grace = 0).await;
    let root = app.signed_in_admin("root").await;
    let ada = app.signed_up("ada").await;
    app.refresh(&ada.refresh_token).await;

    let reused = app.refresh(&ada.refresh_token).await;

    assert_problem(reused, StatusCode::UNAUTHORIZED, "refresh_token_reused").await;
    let (_, claims) = jwt_parts(&ada.access_token);
    let detected = crate::helpers::events_of(&app, &root, "refresh_reuse_detected", &ada.id).await;
    assert_eq!(detected.len(), 1);
    assert_eq!(detected[0]["detail"]["session_id"], claims["sid"]);
    let refreshed = crate::helpers::events_of(&app, &root, "token_refreshed", &ada.id).await;
    assert!(refreshed.is_empty(), "{refreshed:?}");
}

#[actix_web::test]
async fn sessions_from_before_the_upgrade_are_kept_and_count_their_refreshes_from_there() {
    let database = crate::helpers::TestDatabase::create();
    let mut conn = crate::helpers::migrated_until(&database, "20261126000008");
    let (user, sid, jti) = (
        "0193b1c0-0000-4000-8000-0000000000a1",
        "0193b1c0-0000-4000-8000-0000000000b2",
        "0193b1c0-0000-4000-8000-0000000000c3",
    );
    diesel::RunQueryDsl::execute(
        diesel::sql_query(format!(
            "INSERT INTO users (id, username, email, password_hash, role, disabled, \
             created_at, updated_at, email_verified) VALUES ('{user}', 'older', \
             'older@example.com', 'unused', 'user', FALSE, '2026-11-19 09:00:00', \
             '2026-11-19 09:00:00', TRUE)"
        )),
        &mut conn,
    )
    .unwrap();
    diesel::RunQueryDsl::execute(
        diesel::sql_query(format!(
            "INSERT INTO sessions (id, user_id, refresh_jti, previous_refresh_jti, rotated_at, \
             created_at, last_used_at, expires_at, user_agent, ip, amr) VALUES ('{sid}', \
             '{user}', '{jti}', 'spent', '2026-11-20 10:00:00', '2026-11-19 10:00:00', \
             '2026-11-20 10:00:00', '2099-01-01 00:00:00', 'OldApp/1.0', '192.0.2.1', 'pwd')"
        )),
        &mut conn,
    )
    .unwrap();
    drop(conn);

    let app = crate::helpers::spawn_app_on(database).await;

    // Tokens for the old session, signed as the app signs (bob's as templates).
    let bob = app.signed_up("bob").await;
    let forge_like = |template: &str, changes: Value| {
        let (header, mut claims) = jwt_parts(template);
        for (name, value) in changes.as_object().unwrap() {
            claims[name] = value.clone();
        }
        let mut forged = Header::new(Algorithm::EdDSA);
        forged.typ = header["typ"].as_str().map(str::to_owned);
        forged.kid = header["kid"].as_str().map(str::to_owned);
        app.forge(forged, &claims)
    };
    let access = forge_like(&bob.access_token, json!({"sub": user, "sid": sid}));
    let kept = session_shown(&app, &access, &json!(sid)).await;
    assert_eq!(kept["refresh_count"], 0);
    assert_eq!(
        time(&kept["last_refreshed_at"]),
        time(&json!("2026-11-20T10:00:00Z"))
    );
    assert!(kept["last_ip"].is_null(), "{kept}");
    assert!(kept["last_user_agent"].is_null(), "{kept}");
    assert_eq!(kept["ip"], "192.0.2.1");
    assert_eq!(kept["user_agent"], "OldApp/1.0");

    let refresh = forge_like(
        &bob.refresh_token,
        json!({"sub": user, "sid": sid, "jti": jti}),
    );
    let pair = app.refresh(&refresh).await;
    assert_eq!(pair.status(), StatusCode::OK);
    let pair: Value = pair.json().await.unwrap();
    let refreshed = session_shown(&app, pair["access_token"].as_str().unwrap(), &json!(sid)).await;
    assert_eq!(refreshed["refresh_count"], 1);
    assert_eq!(refreshed["last_ip"], "127.0.0.1");
    assert_eq!(refreshed["ip"], "192.0.2.1");
}
