//! JWKS publication and key rotation.

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::Engine as _;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    STRONG_PASSWORD, assert_problem, client, jwt_parts, spawn_app, spawn_app_with,
    write_signing_key,
};

#[actix_web::test]
async fn the_jwks_alone_verifies_an_access_token_with_a_standard_library() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    let response = app.get("/.well-known/jwks.json", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let jwks: Value = response.json().await.unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(
        (
            key["kty"].as_str(),
            key["crv"].as_str(),
            key["alg"].as_str(),
            key["use"].as_str()
        ),
        (Some("OKP"), Some("Ed25519"), Some("EdDSA"), Some("sig"))
    );
    assert!(key.get("d").is_none(), "never private material");

    let set: JwkSet = serde_json::from_value(jwks).unwrap();
    let (header, _) = jwt_parts(&ada.access_token);
    let jwk = set
        .find(header["kid"].as_str().unwrap())
        .expect("the token's kid is published");
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&["portcullis"]);
    validation.set_audience(&["portcullis"]);
    let verified = jsonwebtoken::decode::<Value>(
        &ada.access_token,
        &DecodingKey::from_jwk(jwk).unwrap(),
        &validation,
    )
    .expect("verifies with the published key");
    assert_eq!(verified.claims["sub"], ada.id.as_str());
}

#[actix_web::test]
async fn after_rotation_tokens_of_the_old_key_still_verify_and_new_ones_use_the_new_key() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    let new_key = write_signing_key(app.database.dir.path(), "new.pem");
    let old_key = app.signing_key.display().to_string();

    let rotated = app
        .another_node(|s| {
            s.tokens.jwt_private_key_file = Some(new_key.clone());
            s.tokens.jwt_verification_key_files = vec![std::path::PathBuf::from(old_key)];
        })
        .await;
    let http = client();

    let me = http
        .get(format!("{rotated}/me"))
        .bearer_auth(&ada.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK, "old-key token still accepted");
    let jwks: Value = http
        .get(format!("{rotated}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The new and the old Ed25519 keys, and the ID tokens' RSA key.
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 3);
    let fresh: Value = http
        .post(format!("{rotated}/login"))
        .json(&json!({"email": ada.email, "password": STRONG_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (old_header, _) = jwt_parts(&ada.access_token);
    let (new_header, _) = jwt_parts(fresh["access_token"].as_str().unwrap());
    assert_ne!(old_header["kid"], new_header["kid"]);
    assert_eq!(
        jwks["keys"][0]["kid"], new_header["kid"],
        "the signing key comes first"
    );

    let without_old = app
        .another_node(|s| s.tokens.jwt_private_key_file = Some(new_key.clone()))
        .await;
    let refused = http
        .get(format!("{without_old}/me"))
        .bearer_auth(&ada.access_token)
        .send()
        .await
        .unwrap();
    assert_problem(refused, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[actix_web::test]
async fn a_token_whose_header_embeds_the_attackers_own_jwk_is_refused() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    let (header, claims) = jwt_parts(&ada.access_token);
    let attacker_path = write_signing_key(app.database.dir.path(), "attacker.pem");
    let attacker_pem = std::fs::read(&attacker_path).unwrap();
    let der = pem::parse(&attacker_pem).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(der.contents()).unwrap();
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());

    let mut forged = Header::new(Algorithm::EdDSA);
    forged.typ = Some("at+jwt".into());
    forged.kid = header["kid"].as_str().map(str::to_owned);
    forged.jwk =
        Some(serde_json::from_value(json!({"kty": "OKP", "crv": "Ed25519", "x": x})).unwrap());
    let token = jsonwebtoken::encode(
        &forged,
        &claims,
        &jsonwebtoken::EncodingKey::from_ed_pem(&attacker_pem).unwrap(),
    )
    .unwrap();

    let response = app.get("/me", Some(&token)).await;

    assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[actix_web::test]
async fn in_hs256_mode_tokens_work_and_the_jwks_is_empty() {
    let app = spawn_app_with(|s| {
        s.tokens.jwt_algorithm = portcullis::config::JwtAlgorithm::Hs256;
        s.tokens.jwt_secret = Some("0123456789abcdef0123456789abcdef".parse().unwrap());
    })
    .await;
    let ada = app.signed_up("ada").await;

    let (header, _) = jwt_parts(&ada.access_token);
    assert_eq!(header["alg"], "HS256");
    assert_eq!(
        app.get("/me", Some(&ada.access_token)).await.status(),
        StatusCode::OK
    );
    let jwks: Value = app
        .get("/.well-known/jwks.json", None)
        .await
        .json()
        .await
        .unwrap();
    // The shared secret is never published: only the ID tokens' RSA key is.
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{jwks}");
    assert_eq!(keys[0]["kty"], "RSA");
}

/// The development signing key the service writes is read by the tools
/// resource servers use: OpenSSL and Node's crypto (a standard PKCS#8 v1 PEM
/// with LF line endings), and by the service itself on the next start.
#[test]
fn the_generated_development_key_is_read_by_openssl_and_node() {
    let dir = tempfile::tempdir().unwrap();
    let database =
        portcullis::db::DatabaseUrl::Sqlite(dir.path().join("dev.db").display().to_string());
    let mut settings = crate::helpers::test_settings("sqlite::memory:", &dir.path().join("unused"));
    settings.tokens.jwt_private_key_file = None;
    let first =
        portcullis::auth::tokens::TokenService::from_settings(&settings.tokens, &database).unwrap();
    let key = dir.path().join("dev.db.jwt-ed25519.pem");
    let pem = std::fs::read_to_string(&key).unwrap();
    assert!(!pem.contains('\r'), "CRLF line endings");

    let openssl = std::process::Command::new("openssl")
        .args(["pkey", "-noout", "-in"])
        .arg(&key)
        .output();
    match openssl {
        Ok(output) => assert!(
            output.status.success(),
            "openssl: {}",
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(_) => assert!(std::env::var("CI").is_err(), "openssl is missing"),
    }
    let script = "require('crypto').createPrivateKey(require('fs').readFileSync(process.argv[1]))";
    let node = std::process::Command::new("node")
        .args(["-e", script])
        .arg(&key)
        .output();
    match node {
        Ok(output) => assert!(
            output.status.success(),
            "node: {}",
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(_) => assert!(std::env::var("CI").is_err(), "node is missing"),
    }

    let again =
        portcullis::auth::tokens::TokenService::from_settings(&settings.tokens, &database).unwrap();
    assert_eq!(first.jwks().keys[0].kid, again.jwks().keys[0].kid);
}
