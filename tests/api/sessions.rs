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
