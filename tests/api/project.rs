//! Checks on the repository itself: migrations and the committed OpenAPI document.

use std::collections::BTreeSet;
use std::path::Path;

fn versions(backend: &str) -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn both_backends_have_the_same_migrations() {
    let postgres = versions("postgres");
    assert!(!postgres.is_empty());
    assert_eq!(postgres, versions("sqlite"));
}

#[test]
fn the_committed_openapi_document_matches_the_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/openapi.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = portcullis::openapi::document_json();
    assert!(
        committed == generated,
        "openapi/openapi.json is out of date; regenerate it with\n    cargo run -- openapi > openapi/openapi.json"
    );
}

#[actix_web::test]
async fn migrate_applies_pending_migrations_once() {
    let database = crate::helpers::TestDatabase::create();

    let first = crate::helpers::run_cli(&["migrate"], &database.url, None).await;
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(String::from_utf8_lossy(&first.stdout).contains("applied 2 migration"));

    let second = crate::helpers::run_cli(&["migrate"], &database.url, None).await;
    assert!(String::from_utf8_lossy(&second.stdout).contains("applied 0 migration"));
}

#[actix_web::test]
async fn serve_help_documents_every_setting_of_the_contract() {
    let output = crate::helpers::run_cli(&["serve", "--help"], "sqlite::memory:", None).await;
    let help = String::from_utf8_lossy(&output.stdout);
    for variable in [
        "DATABASE_URL",
        "BIND_ADDR",
        "PORTCULLIS_ENV",
        "JWT_ALGORITHM",
        "JWT_PRIVATE_KEY_FILE",
        "JWT_SECRET",
        "JWT_VERIFICATION_KEY_FILES",
        "JWT_ISSUER",
        "JWT_AUDIENCE",
        "ACCESS_TOKEN_TTL",
        "REFRESH_TOKEN_TTL",
        "REFRESH_REUSE_GRACE",
        "RATE_LIMIT_PER_MINUTE",
        "HASH_CONCURRENCY",
        "HASH_QUEUE",
        "TRUSTED_PROXIES",
        "REDIS_URL",
        "AUDIT_RETENTION_DAYS",
        "ARGON2_MEMORY_KIB",
        "ARGON2_ITERATIONS",
        "ARGON2_PARALLELISM",
        "CORS_ALLOWED_ORIGINS",
        "LOG_FORMAT",
    ] {
        assert!(
            help.contains(&format!("[env: {variable}")),
            "{variable} missing from serve --help"
        );
    }
}

#[actix_web::test]
async fn json_logs_have_one_line_per_request_with_its_id_and_no_secrets() {
    use tokio::io::AsyncReadExt as _;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("http://127.0.0.1:{port}");
    let password = "a very secret passphrase";
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("serve")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.path().join("p.db").display()),
        )
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .env("ARGON2_MEMORY_KIB", "4096")
        .env("ARGON2_ITERATIONS", "1")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = crate::helpers::client();
    let mut ready = false;
    for _ in 0..100 {
        if client.get(format!("{address}/readyz")).send().await.is_ok() {
            ready = true;
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(ready, "the server came up");
    let body =
        serde_json::json!({"username": "ada", "email": "ada@example.com", "password": password});
    client
        .post(format!("{address}/register"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let login = serde_json::json!({"email": "ada@example.com", "password": password});
    let tokens: serde_json::Value = client
        .post(format!("{address}/login"))
        .json(&login)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    client
        .get(format!("{address}/me"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();

    server.start_kill().unwrap();
    let mut logs = String::new();
    server
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .await
        .unwrap();

    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let me = lines
        .iter()
        .find(|line| line.to_string().contains("trace-me-123"))
        .expect("the /me request is logged with its id");
    assert!(me.to_string().contains("\"status\":200"), "{me}");
    for secret in [
        password,
        tokens["access_token"].as_str().unwrap(),
        tokens["refresh_token"].as_str().unwrap(),
        "$argon2id$",
    ] {
        assert!(!logs.contains(secret), "the logs contain a secret");
    }
}
