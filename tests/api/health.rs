use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    STRONG_PASSWORD, assert_problem, serve_unchecked, spawn_app, test_settings, write_signing_key,
};

#[actix_web::test]
async fn liveness_and_readiness_answer_when_the_database_is_up() {
    let app = spawn_app().await;

    assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);
    assert_eq!(app.get("/readyz", None).await.status(), StatusCode::OK);
}

#[actix_web::test]
async fn an_unreachable_postgres_gives_a_prompt_503_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let key = write_signing_key(dir.path(), "signing.pem");
    // Nothing listens on port 1.
    let settings = test_settings("postgres://postgres@127.0.0.1:1/portcullis", &key);
    let address = serve_unchecked(&settings);
    let client = crate::helpers::client();

    let started = Instant::now();
    let ready = client
        .get(format!("{address}/readyz"))
        .send()
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(ready.headers().contains_key("retry-after"));
    assert_problem(
        ready,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    )
    .await;

    let login = client
        .post(format!("{address}/login"))
        .json(&json!({"email": "ada@example.com", "password": STRONG_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_problem(
        login,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    )
    .await;
    assert_eq!(
        client
            .get(format!("{address}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK,
        "liveness does not depend on the database"
    );
}

#[actix_web::test]
async fn the_service_recovers_by_itself_when_the_database_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let key = write_signing_key(dir.path(), "signing.pem");
    let missing = dir.path().join("not-yet");
    let url = format!("sqlite://{}", missing.join("portcullis.db").display());
    let settings = test_settings(&url, &key);
    let address = serve_unchecked(&settings);
    let client = crate::helpers::client();

    let down = client
        .get(format!("{address}/readyz"))
        .send()
        .await
        .unwrap();
    assert_problem(down, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable").await;

    std::fs::create_dir(&missing).unwrap();
    let up = client
        .get(format!("{address}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(up.status(), StatusCode::OK);
}
