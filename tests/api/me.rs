use jsonwebtoken::{Algorithm, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Account, TestApp, assert_problem, jwt_parts, spawn_app};

#[actix_web::test]
async fn me_returns_the_callers_account() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;

    let response = app.get("/me", Some(&ada.access_token)).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["id"], ada.id.as_str());
    assert_eq!(user["email"], "ada@example.com");
}

#[actix_web::test]
async fn without_a_token_me_asks_for_one() {
    let app = spawn_app().await;

    let response = app.get("/me", None).await;

    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    assert_problem(response, StatusCode::UNAUTHORIZED, "missing_token").await;
}

#[actix_web::test]
async fn a_garbage_token_or_another_scheme_is_invalid() {
    let app = spawn_app().await;

    let garbage = app.get("/me", Some("not-a-jwt")).await;
    assert!(
        garbage.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    assert_problem(garbage, StatusCode::UNAUTHORIZED, "invalid_token").await;

    let basic = app
        .client
        .get(app.url("/me"))
        .header("authorization", "Basic YWRhOnB3")
        .send()
        .await
        .unwrap();
    assert_problem(basic, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[actix_web::test]
async fn a_refresh_token_is_not_an_access_token() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;

    let response = app.get("/me", Some(&ada.refresh_token)).await;

    assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[actix_web::test]
async fn a_tampered_token_is_refused() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    let (_, mut claims) = jwt_parts(&ada.access_token);
    claims["role"] = json!("admin");
    let mut parts: Vec<String> = ada.access_token.split('.').map(str::to_owned).collect();
    parts[1] = b64(claims.to_string().as_bytes());

    let response = app.get("/me", Some(&parts.join("."))).await;

    assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[actix_web::test]
async fn an_unsigned_alg_none_token_is_refused() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    let (_, claims) = jwt_parts(&ada.access_token);
    let header = json!({"alg": "none", "typ": "at+jwt"});
    let token = format!(
        "{}.{}.",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );

    let response = app.get("/me", Some(&token)).await;

    assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[actix_web::test]
async fn an_expired_token_says_it_expired() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    let now = chrono::Utc::now().timestamp();
    let token = forge_access(&app, &ada, |claims| {
        claims["iat"] = json!(now - 1000);
        claims["exp"] = json!(now - 100);
    });

    let response = app.get("/me", Some(&token)).await;

    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains("invalid_token") && challenge.contains("expired"),
        "{challenge}"
    );
    assert_problem(response, StatusCode::UNAUTHORIZED, "token_expired").await;
}

#[actix_web::test]
async fn the_same_claims_signed_by_our_key_pass_so_the_refusals_above_are_meaningful() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;

    let token = forge_access(&app, &ada, |_| {});

    assert_eq!(app.get("/me", Some(&token)).await.status(), StatusCode::OK);
}

#[actix_web::test]
async fn a_token_for_another_issuer_or_audience_is_refused() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    for (claim, value) in [("iss", "evil"), ("aud", "another-service")] {
        let token = forge_access(&app, &ada, |claims| claims[claim] = json!(value));
        let response = app.get("/me", Some(&token)).await;
        assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
    }
}

#[actix_web::test]
async fn a_token_with_an_unknown_kid_or_no_typ_is_refused() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    let (header, claims) = jwt_parts(&ada.access_token);

    let mut unknown_kid = Header::new(Algorithm::EdDSA);
    unknown_kid.typ = Some("at+jwt".into());
    unknown_kid.kid = Some("somebody-elses-key".into());
    let response = app.get("/me", Some(&app.forge(unknown_kid, &claims))).await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_token").await;

    let mut no_typ = Header::new(Algorithm::EdDSA);
    no_typ.typ = None;
    no_typ.kid = header["kid"].as_str().map(str::to_owned);
    let response = app.get("/me", Some(&app.forge(no_typ, &claims))).await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[actix_web::test]
async fn an_hs256_token_keyed_with_the_public_key_is_refused() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    let (header, claims) = jwt_parts(&ada.access_token);
    let jwks: Value = app
        .get("/.well-known/jwks.json", None)
        .await
        .json()
        .await
        .unwrap();
    let public_key = jwks["keys"][0]["x"].as_str().unwrap().to_owned();

    let mut confused = Header::new(Algorithm::HS256);
    confused.typ = Some("at+jwt".into());
    confused.kid = header["kid"].as_str().map(str::to_owned);
    let token = jsonwebtoken::encode(
        &confused,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(public_key.as_bytes()),
    )
    .unwrap();

    let response = app.get("/me", Some(&token)).await;

    assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[actix_web::test]
async fn a_token_signed_by_an_attacker_key_named_in_jku_is_refused() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    let (header, claims) = jwt_parts(&ada.access_token);
    let attacker_key = crate::helpers::write_signing_key(app.database.dir.path(), "attacker.pem");
    let attacker_pem = std::fs::read(&attacker_key).unwrap();
    let mut forged = Header::new(Algorithm::EdDSA);
    forged.typ = Some("at+jwt".into());
    forged.kid = header["kid"].as_str().map(str::to_owned);
    forged.jku = Some("https://attacker.example/jwks.json".into());

    let token = jsonwebtoken::encode(
        &forged,
        &claims,
        &jsonwebtoken::EncodingKey::from_ed_pem(&attacker_pem).unwrap(),
    )
    .unwrap();
    let response = app.get("/me", Some(&token)).await;

    assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

/// The caller's access token re-signed by the app's key after `edit`.
fn forge_access(app: &TestApp, account: &Account, edit: impl FnOnce(&mut Value)) -> String {
    let (header, mut claims) = jwt_parts(&account.access_token);
    edit(&mut claims);
    let mut forged = Header::new(Algorithm::EdDSA);
    forged.typ = Some("at+jwt".into());
    forged.kid = header["kid"].as_str().map(str::to_owned);
    app.forge(forged, &claims)
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
