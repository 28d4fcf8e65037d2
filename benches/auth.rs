//! Micro-benchmarks of the costs that bound throughput: argon2id (the login
//! ceiling is 1 / verify time per core), token signing and verification, and
//! the access-token check every authenticated request makes before its one
//! database query. Run with `cargo bench`.

use std::hint::black_box;

use actix_web::test::TestRequest;
use clap::Parser;
use criterion::{Criterion, criterion_group, criterion_main};
use portcullis::auth::password::{hash_blocking, params, verify_blocking};
use portcullis::auth::tokens::TokenService;
use portcullis::config::{Settings, TokenSettings};
use portcullis::db::DatabaseUrl;
use portcullis::web::extractors::bearer_token;

#[derive(Parser)]
struct Defaults {
    #[command(flatten)]
    settings: Settings,
}

/// The shipped defaults, whatever the environment says.
fn defaults(extra: &[&str]) -> Settings {
    let mut args = vec!["portcullis"];
    args.extend_from_slice(extra);
    Defaults::try_parse_from(args)
        .expect("default settings")
        .settings
}

fn token_service(settings: &TokenSettings) -> TokenService {
    TokenService::from_settings(
        settings,
        &DatabaseUrl::parse("sqlite::memory:").expect("URL"),
    )
    .expect("keys")
}

fn argon2(c: &mut Criterion) {
    let settings = defaults(&[]);
    let params = params(&settings.passwords).expect("argon2 parameters");
    let stored = hash_blocking(&params, "correct horse battery staple").expect("hash");
    let mut group = c.benchmark_group("argon2id default cost");
    group.sample_size(20);
    group.bench_function("hash", |b| {
        b.iter(|| hash_blocking(&params, black_box("correct horse battery staple")))
    });
    group.bench_function("verify", |b| {
        b.iter(|| verify_blocking(black_box("correct horse battery staple"), &stored))
    });
    group.finish();
}

fn tokens(c: &mut Criterion) {
    let now = chrono::Utc::now().timestamp();
    for (name, extra) in [
        ("EdDSA", vec![]),
        (
            "HS256",
            vec![
                "--jwt-algorithm",
                "HS256",
                "--jwt-secret",
                "0123456789abcdef0123456789abcdef",
            ],
        ),
    ] {
        let tokens = token_service(&defaults(&extra).tokens);
        let token = tokens
            .issue_access("user", "session", "user", &[], now)
            .expect("sign");
        c.bench_function(&format!("{name} access token sign"), |b| {
            b.iter(|| tokens.issue_access(black_box("user"), "session", "user", &[], now))
        });
        c.bench_function(&format!("{name} access token verify"), |b| {
            b.iter(|| tokens.verify_access(black_box(&token), now))
        });
    }
}

/// What `AuthUser` does before its database query: read the header, verify the token.
fn extractor_without_database(c: &mut Criterion) {
    let tokens = token_service(&defaults(&[]).tokens);
    let now = chrono::Utc::now().timestamp();
    let token = tokens
        .issue_access("user", "session", "user", &[], now)
        .expect("sign");
    let request = TestRequest::get()
        .uri("/me")
        .insert_header(("Authorization", format!("Bearer {token}")))
        .to_http_request();
    c.bench_function("access-token check (header + EdDSA verify)", |b| {
        b.iter(|| {
            bearer_token(black_box(&request))
                .ok()
                .and_then(|token| tokens.verify_access(&token, now).ok())
        })
    });
}

criterion_group!(benches, argon2, tokens, extractor_without_database);
criterion_main!(benches);
