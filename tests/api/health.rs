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

#[actix_web::test]
async fn a_frozen_database_gives_503_in_bounded_time_and_recovery_after() {
    use crate::helpers::{Backend, FreezableProxy, backend, spawn_app_with};
    if backend() != Backend::Postgres {
        return; // A server process that stops answering: PostgreSQL's case.
    }
    // In front of whatever the tests reach PostgreSQL through (PgBouncer too).
    let database = crate::helpers::pgbouncer_url().unwrap_or_else(|| {
        std::env::var("PORTCULLIS_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
    });
    let database = url::Url::parse(&database).unwrap();
    let target = format!(
        "{}:{}",
        database.host_str().unwrap(),
        database.port().unwrap_or(5432)
    );
    let proxy = FreezableProxy::start(target.clone()).await;
    let port = proxy.port;
    let app = spawn_app_with(move |s| {
        let portcullis::db::DatabaseUrl::Postgres(url) = &s.database.database_url else {
            unreachable!("a PostgreSQL test database")
        };
        let through_proxy = url.replacen(&target, &format!("127.0.0.1:{port}"), 1);
        assert_ne!(&through_proxy, url, "the app goes through the proxy");
        s.database.database_url = portcullis::db::DatabaseUrl::parse(&through_proxy).unwrap();
    })
    .await;
    let ada = app.signed_up("ada").await;

    proxy.freeze();
    let started = Instant::now();
    let me = tokio::time::timeout(
        Duration::from_secs(15),
        app.get("/me", Some(&ada.access_token)),
    )
    .await
    .expect("the request is answered while the database is frozen");
    let elapsed = started.elapsed();

    assert_problem(me, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable").await;
    // DATABASE_TIMEOUT is 1 s in tests: the bound is that plus a second.
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    proxy.thaw();
    crate::helpers::eventually("ready again after the thaw", async || {
        (app.get("/readyz", None).await.status() == StatusCode::OK).then_some(())
    })
    .await;
    let me = app.get("/me", Some(&ada.access_token)).await;
    assert_eq!(me.status(), StatusCode::OK);
}
