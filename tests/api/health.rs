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

/// A full disk, simulated with SQLite's `PRAGMA max_page_count` (the file may
/// not grow past its current size; SQLite then answers `SQLITE_FULL` exactly
/// as on a full file system, deterministically and without root). The pragma
/// holds per connection: it is set on the connection the app writes through. This runs on SQLite
/// whatever the suite's backend; PostgreSQL's `disk_full` is recognised by
/// the unit test of the error mapping in `src/db`.
#[actix_web::test]
async fn a_full_database_answers_503_is_not_ready_and_recovers_with_space() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("full.db").display());
    let app = crate::helpers::spawn_app_with(move |s| {
        s.database.database_url = portcullis::db::DatabaseUrl::parse(&url).unwrap();
        s.database.database_pool_size = 1;
        s.guards.rate_limit_per_minute = 0;
    })
    .await;
    app.signed_up("ada").await;
    // No page more than the file has now (SQLite keeps the cap at the current size).
    app.sql_as_writer("PRAGMA max_page_count = 1").await;

    let mut registered: i64 = 1;
    let full = loop {
        assert!(registered < 500, "the database never filled up");
        let name = format!("user{registered}");
        let response = app
            .register(&name, &format!("{name}@example.com"), STRONG_PASSWORD)
            .await;
        if response.status() != StatusCode::CREATED {
            break response;
        }
        registered += 1;
    };
    assert!(full.headers().contains_key("retry-after"));
    assert_problem(full, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable").await;
    let ready = app.get("/readyz", None).await;
    assert!(ready.headers().contains_key("retry-after"));
    assert_problem(
        ready,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    )
    .await;
    // Asking again probes again, and the probe takes no room of its own.
    let again = app.get("/readyz", None).await;
    assert_eq!(again.status(), StatusCode::SERVICE_UNAVAILABLE);
    // Nothing acknowledged was lost.
    assert_eq!(app.count("users", "1 = 1").await, registered);

    // Space comes back: the node is ready again and takes writes.
    app.sql_as_writer("PRAGMA max_page_count = 1073741823")
        .await;
    assert_eq!(app.get("/readyz", None).await.status(), StatusCode::OK);
    let after = app
        .register("grace", "grace@example.com", STRONG_PASSWORD)
        .await;
    assert_eq!(after.status(), StatusCode::CREATED);
    assert_eq!(app.count("users", "1 = 1").await, registered + 1);
}

/// `portcullis healthcheck` (the image's HEALTHCHECK) exits 0 only when the
/// server at BIND_ADDR answers /healthz with 200: not when nothing listens,
/// and not when something else answers there.
#[actix_web::test]
async fn the_healthcheck_command_succeeds_only_on_a_200_from_healthz() {
    use std::io::{Read as _, Write as _};
    let app = spawn_app().await;
    let bind_addr = app.address.trim_start_matches("http://").to_owned();
    let healthy = crate::helpers::run_cli_with_env(
        &["healthcheck"],
        &app.database.url,
        &[("BIND_ADDR", &bind_addr)],
        None,
    )
    .await;
    assert!(healthy.status.success(), "{healthy:?}");
    // Listening on every address is probed on loopback.
    let port = bind_addr.rsplit(':').next().unwrap();
    let unspecified = crate::helpers::run_cli(
        &["healthcheck", "--bind-addr", &format!("0.0.0.0:{port}")],
        &app.database.url,
        None,
    )
    .await;
    assert!(unspecified.status.success(), "{unspecified:?}");

    let refusing = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let refusing_addr = refusing.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = refusing.accept() {
            // The whole request head, then the answer.
            let mut request = Vec::new();
            let mut piece = [0_u8; 512];
            while !request.ends_with(b"\r\n\r\n") {
                match stream.read(&mut piece) {
                    Ok(0) | Err(_) => break,
                    Ok(read) => request.extend_from_slice(&piece[..read]),
                }
            }
            let _ =
                stream.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n");
        }
    });
    let unhealthy = crate::helpers::run_cli_with_env(
        &["healthcheck"],
        &app.database.url,
        &[("BIND_ADDR", &refusing_addr)],
        None,
    )
    .await;
    assert!(!unhealthy.status.success());
    assert!(
        String::from_utf8_lossy(&unhealthy.stderr).contains("503"),
        "{unhealthy:?}"
    );

    let nobody = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nobody_addr = nobody.local_addr().unwrap().to_string();
    drop(nobody);
    let down = crate::helpers::run_cli_with_env(
        &["healthcheck"],
        &app.database.url,
        &[("BIND_ADDR", &nobody_addr)],
        None,
    )
    .await;
    assert!(!down.status.success());
}
