//! What every response shares: problem+json for unknown routes and methods,
//! request ids and security headers.

use reqwest::StatusCode;

use crate::helpers::{assert_problem, spawn_app};

#[actix_web::test]
async fn an_unknown_route_is_a_problem_404() {
    let app = spawn_app().await;

    let response = app.get("/no/such/thing", None).await;

    assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
}

#[actix_web::test]
async fn a_wrong_method_is_a_problem_405_that_says_what_is_allowed() {
    let app = spawn_app().await;

    let response = app.client.put(app.url("/login")).send().await.unwrap();

    assert_eq!(response.headers()["allow"], "POST");
    assert_problem(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
}

#[actix_web::test]
async fn allow_lists_the_methods_of_the_path_itself_when_a_template_also_matches_it() {
    let app = spawn_app().await;
    // `/me/passkeys/registration` is also matched by `/me/passkeys/{id}` (DELETE).
    for (path, allow) in [
        ("/me/passkeys/registration", "POST"),
        (
            "/me/passkeys/0b9e6c2e-5a0f-4a57-9d1c-2f8e3c7b1a4d",
            "DELETE",
        ),
        (
            "/admin/users/0b9e6c2e-5a0f-4a57-9d1c-2f8e3c7b1a4d",
            "DELETE, GET, PATCH",
        ),
    ] {
        let response = app
            .client
            .request(reqwest::Method::OPTIONS, app.url(path))
            .send()
            .await
            .unwrap();

        assert_eq!(response.headers()["allow"], allow, "{path}");
        assert_problem(
            response,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        )
        .await;
    }
}

#[actix_web::test]
async fn a_request_id_is_returned_and_a_sane_one_from_the_client_is_kept() {
    let app = spawn_app().await;

    let generated = app.get("/healthz", None).await;
    let id = generated.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok());

    let kept = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.headers()["x-request-id"], "trace-abc-123");
}

#[actix_web::test]
async fn responses_carry_the_security_headers() {
    let app = spawn_app().await;

    for response in [
        app.get("/healthz", None).await,
        app.get("/nope", None).await,
    ] {
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        assert_eq!(response.headers()["referrer-policy"], "no-referrer");
        assert_eq!(response.headers()["cache-control"], "no-store");
    }
}

#[actix_web::test]
async fn the_openapi_document_and_swagger_ui_are_served() {
    let app = spawn_app().await;

    let document: serde_json::Value = app.get("/openapi.json", None).await.json().await.unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    assert!(document["paths"]["/login"]["post"].is_object());

    let bare = app.get("/docs", None).await;
    assert_eq!(bare.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(bare.headers()["location"], "/docs/");
    let docs = app.get("/docs/", None).await;
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.unwrap().contains("swagger"));
}
