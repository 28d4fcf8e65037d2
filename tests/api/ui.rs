//! The built-in web interface's serving rules: its CSP, its caching (versioned
//! immutable assets, revalidated pages), `UI=off`, and problem+json for what
//! it does not have. What the pages do is tested in Chromium (tests/browser).

use reqwest::StatusCode;

use crate::helpers::{assert_problem, spawn_app, spawn_app_with};

const UI_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The versioned asset folder a page names, e.g. `/ui/assets/0123abcd…`.
fn asset_folder(html: &str) -> String {
    let start = html.find("/ui/assets/").expect("the page names its assets");
    let rest = &html[start..];
    let end = rest["/ui/assets/".len()..]
        .find('/')
        .expect("a versioned folder")
        + "/ui/assets/".len();
    rest[..end].to_owned()
}

#[actix_web::test]
async fn every_page_is_html_under_the_strict_policy_and_revalidated() {
    let app = spawn_app().await;

    for page in portcullis::web::ui::PAGES {
        let response = app.get(&format!("/ui/{page}"), None).await;

        assert_eq!(response.status(), StatusCode::OK, "/ui/{page}");
        assert_eq!(
            header(&response, "content-type"),
            "text/html; charset=utf-8"
        );
        assert_eq!(header(&response, "content-security-policy"), UI_POLICY);
        assert_eq!(header(&response, "cache-control"), "no-cache");
        assert_eq!(header(&response, "x-content-type-options"), "nosniff");
        assert!(header(&response, "etag").starts_with('"'));
        let html = response.text().await.unwrap();
        assert!(!html.contains("{{assets}}"), "/ui/{page} placeholder left");
        assert!(
            !html.contains("<script>"),
            "/ui/{page} has an inline script"
        );
        assert!(!html.contains("style="), "/ui/{page} has a style attribute");
        assert!(!html.contains("<style"), "/ui/{page} has a style element");
        assert!(!html.contains("http://") && !html.contains("https://"));
    }
}

#[actix_web::test]
async fn a_page_answers_304_to_its_own_etag() {
    let app = spawn_app().await;
    let first = app.get("/ui/login", None).await;
    let etag = header(&first, "etag");

    let again = app
        .client
        .get(app.url("/ui/login"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();

    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(&again, "etag"), etag);
    assert_eq!(header(&again, "content-security-policy"), UI_POLICY);
}

#[actix_web::test]
async fn assets_are_versioned_and_cached_for_a_year_and_another_version_is_404() {
    let app = spawn_app().await;
    let html = app.get("/ui/account", None).await.text().await.unwrap();
    let folder = asset_folder(&html);

    for (name, content_type) in [
        ("app.css", "text/css; charset=utf-8"),
        ("account.js", "text/javascript; charset=utf-8"),
        ("client.js", "text/javascript; charset=utf-8"),
        (
            "vendor/qrcode-generator.mjs",
            "text/javascript; charset=utf-8",
        ),
    ] {
        let response = app.get(&format!("{folder}/{name}"), None).await;
        assert_eq!(response.status(), StatusCode::OK, "{name}");
        assert_eq!(header(&response, "content-type"), content_type, "{name}");
        assert_eq!(
            header(&response, "cache-control"),
            "public, max-age=31536000, immutable"
        );
        assert_eq!(header(&response, "content-security-policy"), UI_POLICY);
    }
    // The client module is the committed TypeScript client, byte for byte.
    let client = app.get(&format!("{folder}/client.js"), None).await;
    let committed = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/clients/typescript/dist/index.js"
    ))
    .unwrap();
    assert_eq!(client.bytes().await.unwrap().as_ref(), committed.as_slice());

    let stale = app.get("/ui/assets/0000000000000000/app.css", None).await;
    assert_problem(stale, StatusCode::NOT_FOUND, "not_found").await;
}

#[actix_web::test]
async fn an_unknown_page_or_asset_is_a_404_problem() {
    let app = spawn_app().await;
    let html = app.get("/ui/login", None).await.text().await.unwrap();
    let folder = asset_folder(&html);

    for path in [
        "/ui/nothing-here".to_owned(),
        format!("{folder}/nothing.js"),
        format!("{folder}/../../../Cargo.toml"),
    ] {
        let response = app.get(&path, None).await;
        assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    }
}

#[actix_web::test]
async fn ui_redirects_to_the_account_console() {
    let app = spawn_app().await;

    for path in ["/ui", "/ui/"] {
        let response = app.get(path, None).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(header(&response, "location"), "/ui/account");
    }
}

#[actix_web::test]
async fn ui_off_turns_every_ui_route_into_a_404_problem() {
    let app = spawn_app_with(|settings| settings.ui = portcullis::config::Switch::Off).await;

    for path in ["/ui", "/ui/", "/ui/login", "/ui/account", "/ui/admin"] {
        let response = app.get(path, None).await;
        assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
    }
    // The API itself is untouched.
    assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);
}

#[actix_web::test]
async fn the_ui_is_not_part_of_the_openapi_document() {
    let document = portcullis::web::openapi::document_json();

    assert!(!document.contains("\"/ui"));
}
