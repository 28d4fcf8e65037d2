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
