//! Abuse resistance: per-IP limits (local and shared through Redis), the
//! per-account login backoff, bounded hashing, timing, CORS and production
//! refusals.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use portcullis::config::ForwardedHeader;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    STRONG_PASSWORD, TestApp, TestRedis, assert_problem, client, networks, run_cli_with_env,
    spawn_app_with,
};

/// A made-up client address, unique to the test, as a trusted proxy would
/// report it (keeps tests that share Redis out of each other's budgets).
fn random_client_ip() -> String {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    format!("10.{}.{}.{}", bytes[0], bytes[1], bytes[2])
}

async fn post_from(
    app_address: &str,
    path: &str,
    forwarded_for: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut request = client().post(format!("{app_address}{path}")).json(body);
    if let Some(ip) = forwarded_for {
        request = request.header("x-forwarded-for", ip);
    }
    request.send().await.unwrap()
}

#[actix_web::test]
async fn each_limited_route_answers_429_with_retry_after_past_its_budget() {
    let app = spawn_app_with(|s| s.guards.rate_limit_per_minute = 3).await;
    let routes = [
        (
            "/register",
            json!({"username": "a", "email": "bad", "password": "x"}),
        ),
        (
            "/login",
            json!({"email": "nobody@example.com", "password": STRONG_PASSWORD}),
        ),
        ("/token/refresh", json!({"refresh_token": "not-a-token"})),
    ];
    for (path, body) in routes {
        for _ in 0..3 {
            let allowed = app.post_json(path, &body).await;
            assert_ne!(allowed.status(), StatusCode::TOO_MANY_REQUESTS, "{path}");
        }
        let limited = app.post_json(path, &body).await;
        let retry_after: u64 = limited.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=61).contains(&retry_after), "{retry_after}");
        assert_problem(limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    }
    assert_eq!(
        app.get("/healthz", None).await.status(),
        StatusCode::OK,
        "other routes are not limited"
    );
}

#[actix_web::test]
async fn x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() {
    let body = json!({"email": "nobody@example.com", "password": STRONG_PASSWORD});

    let untrusted = spawn_app_with(|s| s.guards.rate_limit_per_minute = 2).await;
    for n in 0..2 {
        post_from(
            &untrusted.address,
            "/login",
            Some(&format!("192.0.2.{n}")),
            &body,
        )
        .await;
    }
    let spoofed = post_from(&untrusted.address, "/login", Some("192.0.2.99"), &body).await;
    assert_problem(spoofed, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;

    let trusted = spawn_app_with(|s| {
        s.guards.rate_limit_per_minute = 2;
        s.guards.trusted_proxies = networks("127.0.0.0/8");
    })
    .await;
    for n in 0..4 {
        let response = post_from(
            &trusted.address,
            "/login",
            Some(&format!("192.0.2.{n}")),
            &body,
        )
        .await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "each client has its own budget"
        );
    }
    for _ in 0..2 {
        post_from(
            &trusted.address,
            "/login",
            Some("198.51.100.7, 127.0.0.1"),
            &body,
        )
        .await;
    }
    let third = post_from(&trusted.address, "/login", Some("198.51.100.7"), &body).await;
    assert_problem(third, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[actix_web::test]
async fn sessions_record_the_forwarded_client_address_behind_a_trusted_proxy() {
    let app = spawn_app_with(|s| s.guards.trusted_proxies = networks("127.0.0.1")).await;
    let ada = app.signed_up("ada").await;
    let login = post_from(
        &app.address,
        "/login",
        Some("203.0.113.9"),
        &json!({"email": ada.email, "password": STRONG_PASSWORD}),
    )
    .await;
    assert_eq!(login.status(), StatusCode::OK);

    let sessions: Value = app
        .get("/me/sessions", Some(&ada.access_token))
        .await
        .json()
        .await
        .unwrap();

    let ips: Vec<&str> = sessions
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["ip"].as_str().unwrap())
        .collect();
    assert!(
        ips.contains(&"203.0.113.9") && ips.contains(&"127.0.0.1"),
        "{ips:?}"
    );
}

/// The address each login of `ada` was recorded with, as `/me/sessions` shows them.
async fn session_addresses(app: &TestApp, access_token: &str) -> Vec<String> {
    let sessions: Value = app
        .get("/me/sessions", Some(access_token))
        .await
        .json()
        .await
        .unwrap();
    sessions
        .as_array()
        .unwrap()
        .iter()
        .map(|session| session["ip"].as_str().unwrap().to_owned())
        .collect()
}

/// Logs `email` in through the trusted proxy with both forwarded headers: the
/// proxy's `Forwarded` and a client-made `X-Forwarded-For` (or the reverse).
async fn login_with_both_headers(app: &TestApp, email: &str) {
    let login = client()
        .post(app.url("/login"))
        .header("forwarded", "for=8.8.8.8;proto=https")
        .header("x-forwarded-for", "7.7.7.7")
        .json(&json!({"email": email, "password": STRONG_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
}

#[actix_web::test]
async fn only_the_forwarded_header_the_operator_names_is_read() {
    for (header, recorded) in [
        (ForwardedHeader::XForwardedFor, "7.7.7.7"),
        (ForwardedHeader::Forwarded, "8.8.8.8"),
    ] {
        let app = spawn_app_with(|s| {
            s.guards.trusted_proxies = networks("127.0.0.1");
            s.guards.forwarded_header = header;
        })
        .await;
        let ada = app.signed_up("ada").await;

        login_with_both_headers(&app, &ada.email).await;

        let ips = session_addresses(&app, &ada.access_token).await;
        assert!(ips.contains(&recorded.to_owned()), "{header:?}: {ips:?}");
        assert!(
            ips.iter().all(|ip| ip == recorded || ip == "127.0.0.1"),
            "{header:?}: {ips:?}"
        );
    }
}

#[actix_web::test]
async fn with_forwarded_named_a_lone_x_forwarded_for_is_ignored() {
    let app = spawn_app_with(|s| {
        s.guards.trusted_proxies = networks("127.0.0.1");
        s.guards.forwarded_header = ForwardedHeader::Forwarded;
    })
    .await;
    let ada = app.signed_up("ada").await;

    let login = post_from(
        &app.address,
        "/login",
        Some("7.7.7.7"),
        &json!({"email": ada.email, "password": STRONG_PASSWORD}),
    )
    .await;
    assert_eq!(login.status(), StatusCode::OK);

    let ips = session_addresses(&app, &ada.access_token).await;
    assert!(ips.iter().all(|ip| ip == "127.0.0.1"), "{ips:?}");
}

#[actix_web::test]
async fn two_nodes_sharing_redis_enforce_one_limit() {
    let Some(redis) = TestRedis::start().await else {
        return;
    };
    let app = spawn_app_with(|s| {
        s.guards.rate_limit_per_minute = 3;
        s.guards.redis_url = Some(redis.url.clone());
        s.guards.trusted_proxies = networks("127.0.0.1");
    })
    .await;
    // A second node with the same settings: one budget between them.
    let other_node = app.another_node(|_| {}).await;
    let ip = random_client_ip();
    // Unique, so no other test's failures for the account count here.
    let body = json!({"email": format!("nobody-{}@example.com", uuid::Uuid::new_v4()), "password": STRONG_PASSWORD});

    for address in [&app.address, &other_node, &app.address] {
        let allowed = post_from(address, "/login", Some(&ip), &body).await;
        assert_eq!(allowed.status(), StatusCode::UNAUTHORIZED);
    }
    let limited = post_from(&other_node, "/login", Some(&ip), &body).await;

    assert!(limited.headers().contains_key("retry-after"));
    assert_problem(limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[actix_web::test]
async fn the_login_backoff_is_shared_through_redis_too() {
    let Some(redis) = TestRedis::start().await else {
        return;
    };
    let app = spawn_app_with(|s| {
        s.guards.rate_limit_per_minute = 0;
        s.guards.redis_url = Some(redis.url.clone());
        s.guards.trusted_proxies = networks("127.0.0.1");
    })
    .await;
    let other_node = app.another_node(|_| {}).await;
    app.register("ada", "ada@example.com", STRONG_PASSWORD)
        .await;
    let attacker = random_client_ip();
    let wrong = json!({"email": "ada@example.com", "password": "guess"});

    for n in 0..5 {
        let address = if n % 2 == 0 {
            &app.address
        } else {
            &other_node
        };
        let response = post_from(address, "/login", Some(&attacker), &wrong).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let held = post_from(
        &other_node,
        "/login",
        Some(&attacker),
        &json!({"email": "ada@example.com", "password": STRONG_PASSWORD}),
    )
    .await;

    assert_problem(held, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[actix_web::test]
async fn when_redis_is_down_the_limits_fail_open() {
    let app = spawn_app_with(|s| {
        s.guards.rate_limit_per_minute = 1;
        s.guards.redis_url = Some("redis://127.0.0.1:1/".to_owned());
    })
    .await;
    let body = json!({"email": "nobody@example.com", "password": STRONG_PASSWORD});

    for _ in 0..3 {
        let response = app.post_json("/login", &body).await;
        assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }

    let root = app.signed_in_admin("root").await;
    let figures: Value = app
        .get("/admin", Some(&root.access_token))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        figures["rate_limit_store_errors"].as_u64().unwrap() >= 1,
        "{figures}"
    );
}

/// Five wrong passwords for `email` from `attacker`.
async fn fail_five_times(app: &TestApp, attacker: &str, email: &str) {
    for _ in 0..5 {
        let response = post_from(
            &app.address,
            "/login",
            Some(attacker),
            &json!({"email": email, "password": "wrong guess"}),
        )
        .await;
        assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
}

#[actix_web::test]
async fn five_failed_logins_hold_the_account_back_but_not_from_a_familiar_address() {
    let app = spawn_app_with(|s| {
        s.guards.rate_limit_per_minute = 0;
        s.guards.trusted_proxies = networks("127.0.0.1");
    })
    .await;
    let ada = app.signed_up("ada").await; // logged in once from 127.0.0.1

    fail_five_times(&app, "203.0.113.66", &ada.email).await;
    let held = post_from(
        &app.address,
        "/login",
        Some("203.0.113.66"),
        &json!({"email": ada.email, "password": STRONG_PASSWORD}),
    )
    .await;
    let retry_after: u64 = held.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=901).contains(&retry_after), "{retry_after}");
    assert_problem(held, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let elsewhere = post_from(
        &app.address,
        "/login",
        Some("198.51.100.1"),
        &json!({"email": ada.email, "password": STRONG_PASSWORD}),
    )
    .await;
    assert_problem(elsewhere, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;

    let familiar = app
        .login(&json!({"email": ada.email, "password": STRONG_PASSWORD}))
        .await;
    assert_eq!(
        familiar.status(),
        StatusCode::OK,
        "the user is not locked out of their usual address"
    );
}

#[actix_web::test]
async fn a_successful_login_resets_the_failure_count() {
    let app = spawn_app_with(|s| {
        s.guards.rate_limit_per_minute = 0;
        s.guards.trusted_proxies = networks("127.0.0.1");
    })
    .await;
    app.register("ada", "ada@example.com", STRONG_PASSWORD)
        .await;
    let new_address = "203.0.113.5";
    let wrong = json!({"email": "ada@example.com", "password": "wrong guess"});
    for _ in 0..4 {
        post_from(&app.address, "/login", Some(new_address), &wrong).await;
    }
    let success = post_from(
        &app.address,
        "/login",
        Some("198.51.100.20"),
        &json!({"email": "ada@example.com", "password": STRONG_PASSWORD}),
    )
    .await;
    assert_eq!(success.status(), StatusCode::OK);

    for _ in 0..4 {
        let response = post_from(&app.address, "/login", Some(new_address), &wrong).await;
        assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
}

#[actix_web::test]
async fn under_backoff_an_unknown_account_looks_like_a_real_one() {
    let app = spawn_app_with(|s| {
        s.guards.rate_limit_per_minute = 0;
        s.guards.trusted_proxies = networks("127.0.0.1");
    })
    .await;
    app.register("ada", "ada@example.com", STRONG_PASSWORD)
        .await;
    let attacker = "203.0.113.77";

    fail_five_times(&app, attacker, "ada@example.com").await;
    fail_five_times(&app, attacker, "nobody@example.com").await;
    let real = post_from(
        &app.address,
        "/login",
        Some(attacker),
        &json!({"email": "ada@example.com", "password": "another guess"}),
    )
    .await;
    let unknown = post_from(
        &app.address,
        "/login",
        Some(attacker),
        &json!({"email": "nobody@example.com", "password": "another guess"}),
    )
    .await;

    assert!(
        real.headers().contains_key("retry-after") && unknown.headers().contains_key("retry-after")
    );
    let real = assert_problem(real, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let unknown = assert_problem(unknown, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_eq!(real, unknown);
}

#[actix_web::test]
async fn a_login_flood_past_the_hashing_queue_gets_quick_503s_while_accepted_logins_succeed() {
    let app = spawn_app_with(|s| {
        s.guards.rate_limit_per_minute = 0;
        s.guards.login_backoff_failures = 0;
        s.passwords.hash_concurrency = Some(1);
        s.passwords.hash_queue = Some(2);
        s.passwords.argon2_memory_kib = 19456;
        s.passwords.argon2_iterations = 2;
    })
    .await;
    app.register("ada", "ada@example.com", STRONG_PASSWORD)
        .await;
    let body = json!({"email": "ada@example.com", "password": STRONG_PASSWORD});

    let attempts = (0..24).map(|_| async {
        let started = Instant::now();
        let response = app.post_json("/login", &body).await;
        (
            response.status(),
            response.headers().get("retry-after").is_some(),
            started.elapsed(),
        )
    });
    let outcomes = join_all(attempts).await;

    let accepted = outcomes
        .iter()
        .filter(|(status, _, _)| *status == StatusCode::OK)
        .count();
    let overloaded: Vec<_> = outcomes
        .iter()
        .filter(|(status, _, _)| *status == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert!(accepted >= 1, "{outcomes:?}");
    assert!(!overloaded.is_empty(), "{outcomes:?}");
    assert_eq!(accepted + overloaded.len(), outcomes.len(), "{outcomes:?}");
    for (_, has_retry_after, elapsed) in overloaded {
        assert!(has_retry_after);
        // Refused without queueing: far below the time the accepted ones wait.
        assert!(*elapsed < Duration::from_secs(2), "{elapsed:?}");
    }
    let refused = app.post_json("/login", &body).await;
    assert_eq!(
        refused.status(),
        StatusCode::OK,
        "the service recovers at once"
    );
}

/// An unknown account costs what a wrong password does: exactly one argon2id
/// verification (against a dummy hash made at the configured cost), so the
/// answer time does not tell which addresses have accounts. Counted, not
/// timed, so that a busy machine cannot upset it; `bench/login-timing.sh`
/// times the two on a quiet one.
#[actix_web::test]
async fn unknown_accounts_and_wrong_passwords_cost_one_verification_each() {
    let app = spawn_app_with(|s| {
        s.guards.rate_limit_per_minute = 0;
        s.guards.login_backoff_failures = 0;
        s.metrics_bind_addr = Some("127.0.0.1:0".to_owned());
    })
    .await;
    app.register("ada", "ada@example.com", STRONG_PASSWORD)
        .await;
    // Every hash and verification is counted before its caller gets the
    // outcome, so the count is settled when the answer arrives.
    let metrics = format!("{}/metrics", app.metrics_address.as_ref().unwrap());
    let verifications = async || -> u64 {
        let text = app
            .client
            .get(&metrics)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|line| line.strip_prefix("portcullis_password_hash_seconds_count "))
            .and_then(|count| count.trim().parse().ok())
            .unwrap_or_else(|| panic!("no hash count in\n{text}"))
    };
    for n in 0..3 {
        for email in [
            format!("nobody{n}@example.com"),
            "ada@example.com".to_owned(),
        ] {
            let before = verifications().await;
            let response = app
                .login(&json!({"email": email, "password": "not the password"}))
                .await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            assert_eq!(verifications().await - before, 1, "{email}");
        }
    }
}

#[actix_web::test]
async fn a_preflight_from_an_allowed_origin_may_send_the_authorization_header() {
    let app = spawn_app_with(|s| {
        s.guards.cors_allowed_origins = "https://app.example.com,https://admin.example.com"
            .split(',')
            .map(ToOwned::to_owned)
            .collect()
    })
    .await;

    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/me"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();

    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let allowed = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(allowed.contains("authorization"), "{allowed}");

    let simple = app
        .client
        .get(app.url("/healthz"))
        .header("origin", "https://admin.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        simple.headers()["access-control-allow-origin"],
        "https://admin.example.com"
    );
}

#[actix_web::test]
async fn other_origins_get_no_cors_headers() {
    let app = spawn_app_with(|s| {
        s.guards.cors_allowed_origins = "https://app.example.com"
            .split(',')
            .map(ToOwned::to_owned)
            .collect()
    })
    .await;

    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/me"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();
    assert!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    if !preflight.status().is_success() {
        assert_eq!(
            preflight.headers()["content-type"],
            "application/problem+json"
        );
    }

    let simple = app
        .client
        .get(app.url("/healthz"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(simple.status(), StatusCode::OK);
    assert!(
        simple
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

/// Whether `Vary` names `Origin`.
fn varies_by_origin(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get_all("vary")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|name| name.trim().eq_ignore_ascii_case("origin"))
}

#[actix_web::test]
async fn credentials_are_allowed_only_with_the_origin_and_every_answer_varies_by_origin() {
    let app = spawn_app_with(|s| {
        s.guards.cors_allowed_origins = vec!["https://app.example.com".to_owned()];
    })
    .await;
    let get = |origin: &'static str, path: &'static str| {
        app.client
            .get(app.url(path))
            .header("origin", origin)
            .send()
    };

    for path in ["/healthz", "/me", "/no/such/route"] {
        let other = get("https://evil.example", path).await.unwrap();
        for name in [
            "access-control-allow-origin",
            "access-control-allow-credentials",
            "access-control-expose-headers",
        ] {
            assert!(other.headers().get(name).is_none(), "{path}: {name}");
        }
        assert!(varies_by_origin(&other), "{path}: {:?}", other.headers());

        let allowed = get("https://app.example.com", path).await.unwrap();
        assert_eq!(
            allowed.headers()["access-control-allow-origin"],
            "https://app.example.com"
        );
        assert_eq!(
            allowed.headers()["access-control-allow-credentials"],
            "true"
        );
        assert!(
            varies_by_origin(&allowed),
            "{path}: {:?}",
            allowed.headers()
        );
    }

    let refused_preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/me"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert!(
        refused_preflight
            .headers()
            .get("access-control-allow-credentials")
            .is_none()
    );
    assert!(varies_by_origin(&refused_preflight));
}

#[actix_web::test]
async fn responses_carry_a_content_security_policy() {
    let app = spawn_app_with(|_| {}).await;

    let response = app.get("/healthz", None).await;

    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(
        policy.contains("default-src 'self'") && policy.contains("frame-ancestors 'none'"),
        "{policy}"
    );
}

#[actix_web::test]
async fn production_mode_refuses_unsafe_configurations_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let key = crate::helpers::write_signing_key(dir.path(), "signing.pem");
    let key = key.to_str().unwrap();
    let database = format!("sqlite://{}", dir.path().join("p.db").display());
    let cases: [(&[(&str, &str)], &str); 9] = [
        (&[], "JWT_PRIVATE_KEY_FILE"),
        (
            &[("JWT_PRIVATE_KEY_FILE", key), ("MAIL_URL", "log")],
            "MAIL_URL",
        ),
        (
            &[("JWT_ALGORITHM", "HS256"), ("JWT_SECRET", "short")],
            "JWT_SECRET",
        ),
        (&[("JWT_ALGORITHM", "HS256")], "JWT_SECRET"),
        (
            &[("JWT_PRIVATE_KEY_FILE", key), ("CORS_ALLOWED_ORIGINS", "*")],
            "CORS_ALLOWED_ORIGINS",
        ),
        (
            &[
                ("JWT_PRIVATE_KEY_FILE", key),
                ("RATE_LIMIT_PER_MINUTE", "0"),
            ],
            "RATE_LIMIT_PER_MINUTE",
        ),
        (&[("JWT_PRIVATE_KEY_FILE", key)], "DATA_ENCRYPTION_KEY_FILE"),
        (&[("COOKIE_SECURE", "false")], "COOKIE_SECURE"),
        (
            &[("COOKIE_SAMESITE", "None"), ("COOKIE_SECURE", "false")],
            "COOKIE_SAMESITE",
        ),
    ];
    for (settings, named) in cases {
        let mut env = vec![
            ("PORTCULLIS_ENV", "production"),
            ("BIND_ADDR", "127.0.0.1:0"),
            ("MAIL_URL", "smtp://127.0.0.1:1?tls=off"),
        ];
        env.extend_from_slice(settings);
        let output = actix_web::rt::time::timeout(
            Duration::from_secs(20),
            run_cli_with_env(&["serve"], &database, &env, None),
        )
        .await
        .expect("a refused configuration exits at once");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{settings:?} was accepted");
        assert!(stderr.contains(named), "{settings:?}: {stderr}");
    }
}

#[actix_web::test]
async fn production_mode_names_every_refused_setting_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("p.db").display());
    let env = [
        ("PORTCULLIS_ENV", "production"),
        ("BIND_ADDR", "127.0.0.1:0"),
        ("MAIL_URL", "log"),
        ("CORS_ALLOWED_ORIGINS", "*"),
        ("RATE_LIMIT_PER_MINUTE", "0"),
        ("COOKIE_SECURE", "false"),
    ];

    let output = actix_web::rt::time::timeout(
        Duration::from_secs(20),
        run_cli_with_env(&["serve"], &database, &env, None),
    )
    .await
    .expect("a refused configuration exits at once");

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for named in [
        "MAIL_URL",
        "CORS_ALLOWED_ORIGINS",
        "RATE_LIMIT_PER_MINUTE",
        "COOKIE_SECURE",
        "JWT_PRIVATE_KEY_FILE",
        "OAUTH_RSA_KEY_FILE",
        "DATA_ENCRYPTION_KEY_FILE",
    ] {
        assert!(stderr.contains(named), "{named} not named: {stderr}");
    }
    assert!(stderr.contains("7 settings are refused"), "{stderr}");
}

#[actix_web::test]
async fn concurrent_guesses_cannot_all_slip_past_the_backoff() {
    let app = spawn_app_with(|s| {
        s.guards.rate_limit_per_minute = 0;
        s.guards.trusted_proxies = networks("127.0.0.1");
    })
    .await;
    app.register("ada", "ada@example.com", STRONG_PASSWORD)
        .await;

    let guesses = (0..12).map(|n| {
        let body = json!({"email": "ada@example.com", "password": format!("guess number {n}")});
        let address = app.address.clone();
        async move {
            post_from(&address, "/login", Some("203.0.113.50"), &body)
                .await
                .status()
        }
    });
    let statuses = join_all(guesses).await;

    let checked = statuses
        .iter()
        .filter(|status| **status == StatusCode::UNAUTHORIZED)
        .count();
    let held = statuses
        .iter()
        .filter(|status| **status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((checked, held), (5, 7), "{statuses:?}");
}

#[actix_web::test]
async fn a_stolen_session_cannot_guess_the_password_at_hashing_speed() {
    let app = spawn_app_with(|s| s.guards.rate_limit_per_minute = 0).await;
    let ada = app.signed_up("ada").await;
    let guess = |n: u32| json!({"current_password": format!("guess {n}"), "new_password": "a brand new passphrase"});

    for n in 0..5 {
        let response = app
            .send_json(
                reqwest::Method::PUT,
                "/me/password",
                &ada.access_token,
                &guess(n),
            )
            .await;
        assert_problem(response, StatusCode::FORBIDDEN, "wrong_password").await;
    }
    let held = app
        .send_json(
            reqwest::Method::PUT,
            "/me/password",
            &ada.access_token,
            &guess(5),
        )
        .await;
    assert!(held.headers().contains_key("retry-after"));
    assert_problem(held, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let deleting = app
        .delete_json(
            "/account",
            &ada.access_token,
            &json!({"password": "guess 6"}),
        )
        .await;
    assert_problem(deleting, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[actix_web::test]
async fn forwarded_entries_beyond_one_that_is_not_an_address_are_not_believed() {
    let app = spawn_app_with(|s| {
        s.guards.rate_limit_per_minute = 2;
        s.guards.trusted_proxies = networks("127.0.0.1");
    })
    .await;
    let body = json!({"email": "nobody@example.com", "password": STRONG_PASSWORD});

    // "unknown" was not written by a proxy we trust, so the address before it
    // (chosen by the client) is ignored and the trusted peer is the client.
    for n in 0..2 {
        post_from(
            &app.address,
            "/login",
            Some(&format!("198.51.100.{n}, unknown")),
            &body,
        )
        .await;
    }
    let third = post_from(
        &app.address,
        "/login",
        Some("198.51.100.99, unknown"),
        &body,
    )
    .await;

    assert_problem(third, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

/// A preflight from an allowed origin asking for a header or a method the
/// API does not take from browsers gets a 403 saying which and what is
/// taken (actix-cors alone answers a bare 400), and no CORS headers.
#[actix_web::test]
async fn a_preflight_asking_for_a_header_the_api_does_not_take_is_told_which() {
    let app = spawn_app_with(|s| {
        s.guards.cors_allowed_origins = vec!["https://app.example.com".to_owned()];
    })
    .await;
    let preflight = |method: &'static str, headers: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/me"))
            .header("origin", "https://app.example.com")
            .header("access-control-request-method", method)
            .header("access-control-request-headers", headers)
            .send()
    };

    let taken = preflight("POST", "Content-Type, X-Requested-With")
        .await
        .unwrap();
    assert!(taken.status().is_success(), "{}", taken.status());

    let header = preflight("GET", "authorization, X-Tenant").await.unwrap();
    assert!(
        header
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let body = assert_problem(header, StatusCode::FORBIDDEN, "forbidden").await;
    let detail = body["detail"].as_str().unwrap();
    // Only the header it does not take is named as refused; the rest is
    // what it takes.
    assert!(detail.contains("the header x-tenant from"), "{detail}");
    assert!(
        detail.contains("send only authorization, content-type"),
        "{detail}"
    );

    let method = preflight("TRACE", "authorization").await.unwrap();
    let body = assert_problem(method, StatusCode::FORBIDDEN, "forbidden").await;
    assert!(body["detail"].as_str().unwrap().contains("TRACE"), "{body}");
}
