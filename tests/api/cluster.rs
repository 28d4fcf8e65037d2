//! Three nodes on one database behind a real load balancer (HAProxy,
//! round-robin): a session works whichever node answers, and refresh-token
//! reuse and logout seen by one node hold on all of them.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{STRONG_PASSWORD, TestHaproxy, assert_problem, spawn_app};

/// `POST` through the proxy; returns the answer and the node that gave it.
async fn post(client: &reqwest::Client, url: &str, body: &Value) -> (reqwest::Response, String) {
    let response = client
        .post(url)
        .json(body)
        .send()
        .await
        .expect("request sent");
    let node = served_by(&response);
    (response, node)
}

fn served_by(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-served-by")
        .expect("HAProxy names the node")
        .to_str()
        .unwrap()
        .to_owned()
}

#[actix_web::test]
async fn three_nodes_behind_haproxy_share_sessions_reuse_detection_and_logout() {
    let app = spawn_app().await;
    let second = app.another_node(|_| {}).await;
    let third = app.another_node(|_| {}).await;
    let Some(proxy) = TestHaproxy::start(&[&app.address, &second, &third]).await else {
        return;
    };
    let client = crate::helpers::client();
    let url = |path: &str| format!("{}{path}", proxy.url);

    let (registered, _) = post(
        &client,
        &url("/register"),
        &json!({"username": "ada", "email": "ada@example.com", "password": STRONG_PASSWORD}),
    )
    .await;
    assert_eq!(registered.status(), StatusCode::CREATED);
    let (logged_in, _) = post(
        &client,
        &url("/login"),
        &json!({"email": "ada@example.com", "password": STRONG_PASSWORD}),
    )
    .await;
    assert_eq!(logged_in.status(), StatusCode::OK);
    let pair: Value = logged_in.json().await.unwrap();

    // Each rotation may land on another node; the chain holds.
    let mut nodes = BTreeSet::new();
    let mut refresh_token = pair["refresh_token"].as_str().unwrap().to_owned();
    let first_token = refresh_token.clone();
    let mut access_token = String::new();
    for _ in 0..3 {
        let (rotated, node) = post(
            &client,
            &url("/token/refresh"),
            &json!({"refresh_token": refresh_token}),
        )
        .await;
        assert_eq!(rotated.status(), StatusCode::OK, "on {node}");
        nodes.insert(node);
        let rotated: Value = rotated.json().await.unwrap();
        refresh_token = rotated["refresh_token"].as_str().unwrap().to_owned();
        access_token = rotated["access_token"].as_str().unwrap().to_owned();
    }
    assert_eq!(nodes.len(), 3, "round-robin reached every node: {nodes:?}");
    for _ in 0..3 {
        let me = client
            .get(url("/me"))
            .bearer_auth(&access_token)
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), StatusCode::OK, "on {}", served_by(&me));
    }

    // The first token, spent long ago, shown again: whichever node sees it
    // revokes the session for all of them.
    app.clock.advance(chrono::Duration::seconds(11));
    let (reused, _) = post(
        &client,
        &url("/token/refresh"),
        &json!({"refresh_token": first_token}),
    )
    .await;
    assert_problem(reused, StatusCode::UNAUTHORIZED, "refresh_token_reused").await;
    for _ in 0..3 {
        let (refused, node) = post(
            &client,
            &url("/token/refresh"),
            &json!({"refresh_token": refresh_token}),
        )
        .await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "on {node}");
        let me = client
            .get(url("/me"))
            .bearer_auth(&access_token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            me.status(),
            StatusCode::UNAUTHORIZED,
            "on {}",
            served_by(&me)
        );
    }

    // A new session, logged out through one node, is over on every node.
    let (logged_in, _) = post(
        &client,
        &url("/login"),
        &json!({"email": "ada@example.com", "password": STRONG_PASSWORD}),
    )
    .await;
    let pair: Value = logged_in.json().await.unwrap();
    let access_token = pair["access_token"].as_str().unwrap();
    let logout = client
        .post(url("/logout"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let mut refused_on = BTreeSet::new();
    for _ in 0..3 {
        let me = client
            .get(url("/me"))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap();
        refused_on.insert(served_by(&me));
        assert_problem(me, StatusCode::UNAUTHORIZED, "invalid_token").await;
    }
    assert_eq!(refused_on.len(), 3, "{refused_on:?}");
    let (refused, _) = post(
        &client,
        &url("/token/refresh"),
        &json!({"refresh_token": pair["refresh_token"]}),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
}
