//! `/metrics` on `METRICS_BIND_ADDR`: off by default, never on the public
//! port, and every metric of the contract, read back through real parsers of
//! both text formats it answers in (OpenMetrics when asked for, the
//! Prometheus text format 0.0.4 otherwise).

use std::collections::{BTreeMap, HashMap};

use openmetrics_parser::{MetricNumber, OpenMetricsValue, PrometheusValue};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{STRONG_PASSWORD, TestApp, eventually, spawn_app, spawn_app_with};
use crate::oauth::{Client, register_client, token};

/// One sample: its labels and its value (a histogram's count).
type Samples = Vec<(BTreeMap<String, String>, f64)>;

struct Scrape {
    text: String,
    families: HashMap<String, Samples>,
}

impl Scrape {
    /// The samples of a family (by its OpenMetrics name: a counter's
    /// without `_total`).
    fn family(&self, name: &str) -> &Samples {
        self.families
            .get(name)
            .unwrap_or_else(|| panic!("no family {name} in\n{}", self.text))
    }

    /// The value of the sample of `name` whose labels include `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.family(name)
            .iter()
            .find(|(have, _)| {
                labels
                    .iter()
                    .all(|(key, value)| have.get(*key).map(String::as_str) == Some(*value))
            })
            .map(|(_, value)| *value)
    }
}

fn number(value: &MetricNumber) -> f64 {
    value.as_f64()
}

/// What Prometheus 2 asks for by default: OpenMetrics first.
const OPENMETRICS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// A scrape in OpenMetrics, read by a real OpenMetrics parser.
async fn scrape(app: &TestApp) -> Scrape {
    let address = app.metrics_address.as_ref().expect("metrics are on");
    let response = app
        .client
        .get(format!("{address}/metrics"))
        .header("accept", OPENMETRICS_ACCEPT)
        .send()
        .await
        .expect("scrape");
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    let exposition = openmetrics_parser::openmetrics::parse_openmetrics(&text)
        .unwrap_or_else(|error| panic!("not valid OpenMetrics ({error:?}):\n{text}"));
    let mut families = HashMap::new();
    for (name, family) in &exposition.families {
        let samples: Samples = family
            .iter_samples()
            .map(|sample| {
                let labels = sample
                    .get_labelset()
                    .map(|set| {
                        set.iter()
                            .map(|(key, value)| (key.clone(), value.clone()))
                            .collect()
                    })
                    .unwrap_or_default();
                let value = match &sample.value {
                    OpenMetricsValue::Counter(counter) => number(&counter.value),
                    OpenMetricsValue::Gauge(value) | OpenMetricsValue::Unknown(value) => {
                        number(value)
                    }
                    OpenMetricsValue::Histogram(histogram) => {
                        histogram.count.map_or(f64::NAN, |count| count as f64)
                    }
                    other => panic!("unexpected {other:?}"),
                };
                (labels, value)
            })
            .collect();
        families.insert(name.clone(), samples);
    }
    Scrape { text, families }
}

fn with_metrics(settings: &mut portcullis::config::Settings) {
    settings.metrics_bind_addr = Some("127.0.0.1:0".to_owned());
}

#[actix_web::test]
async fn metrics_are_off_by_default_and_never_on_the_public_port() {
    let app = spawn_app().await;
    assert!(app.metrics_address.is_none());
    let public = app.get("/metrics", None).await;
    assert_eq!(public.status(), StatusCode::NOT_FOUND);

    let app = spawn_app_with(with_metrics).await;
    let public = app.get("/metrics", None).await;
    assert_eq!(public.status(), StatusCode::NOT_FOUND);
    scrape(&app).await;
}

#[actix_web::test]
async fn requests_are_counted_by_route_template_and_status() {
    let app = spawn_app_with(with_metrics).await;
    let root = app.signed_in_admin("root").await;
    let ada = app.signed_up("ada").await;
    let found = app
        .get(
            &format!("/admin/users/{}", ada.id),
            Some(&root.access_token),
        )
        .await;
    assert_eq!(found.status(), StatusCode::OK);
    let missing = app.get("/no/such/route/4711", None).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    let scraped = scrape(&app).await;
    assert!(
        scraped.text.contains("http_requests_total{"),
        "{}",
        scraped.text
    );
    assert_eq!(
        scraped.value(
            "http_requests",
            &[
                ("method", "GET"),
                ("route", "/admin/users/{id}"),
                ("status", "200")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        scraped.value(
            "http_requests",
            &[
                ("method", "POST"),
                ("route", "/register"),
                ("status", "201")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        scraped.value(
            "http_requests",
            &[("route", "unmatched"), ("status", "404")]
        ),
        Some(1.0)
    );
    assert_eq!(
        scraped.value(
            "http_request_duration_seconds",
            &[("route", "/admin/users/{id}")]
        ),
        Some(1.0)
    );
    // Templates only: no raw path, no id.
    assert!(!scraped.text.contains(&ada.id));
    assert!(!scraped.text.contains("4711"));
}

#[actix_web::test]
async fn logins_hashes_and_refresh_reuse_are_counted() {
    let app = spawn_app_with(with_metrics).await;
    let ada = app.signed_up("ada").await;
    let wrong = app
        .login(&json!({"email": ada.email, "password": "not the password"}))
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let refreshed = app.refresh(&ada.refresh_token).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    // Past the grace window, the spent token again: reuse.
    app.clock.advance(chrono::Duration::seconds(11));
    let reused = app.refresh(&ada.refresh_token).await;
    assert_eq!(reused.status(), StatusCode::UNAUTHORIZED);

    let scraped = scrape(&app).await;
    assert_eq!(
        scraped.value("portcullis_logins", &[("outcome", "success")]),
        Some(1.0)
    );
    assert_eq!(
        scraped.value("portcullis_logins", &[("outcome", "invalid_credentials")]),
        Some(1.0)
    );
    assert_eq!(
        scraped.value("portcullis_refresh_reuse_detected", &[]),
        Some(1.0)
    );
    // Registration, the login and the wrong password: three hashes.
    assert!(
        scraped
            .value("portcullis_password_hash_seconds", &[])
            .unwrap()
            >= 3.0
    );
    assert_eq!(scraped.value("portcullis_hash_queue_depth", &[]), Some(0.0));
    let idle = scraped
        .value("portcullis_db_pool_connections", &[("state", "idle")])
        .unwrap();
    let in_use = scraped
        .value("portcullis_db_pool_connections", &[("state", "in_use")])
        .unwrap();
    assert!(idle + in_use >= 1.0, "idle {idle}, in use {in_use}");
    assert!(scraped.value("process_resident_memory_bytes", &[]).unwrap() > 1_000_000.0);
}

#[actix_web::test]
async fn rate_limited_answers_are_counted_by_route() {
    let app = spawn_app_with(|s| {
        with_metrics(s);
        s.guards.rate_limit_per_minute = 1;
    })
    .await;
    let body = json!({"email": "nobody@example.com", "password": STRONG_PASSWORD});
    app.login(&body).await;
    let limited = app.login(&body).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let scraped = scrape(&app).await;
    assert_eq!(
        scraped.value("portcullis_rate_limited", &[("route", "/login")]),
        Some(1.0)
    );
}

#[actix_web::test]
async fn mail_that_cannot_be_delivered_shows_in_the_outbox_and_the_failures() {
    // Nothing listens on port 9 of loopback: every delivery fails.
    let app = spawn_app_with(|s| {
        with_metrics(s);
        s.mail.mail_url = portcullis::config::MailUrl::parse("smtp://127.0.0.1:9?tls=off").unwrap();
    })
    .await;
    let registered = app
        .register("ada", "ada@example.com", STRONG_PASSWORD)
        .await;
    assert_eq!(registered.status(), StatusCode::CREATED);
    let scraped = eventually("a failed delivery", async || {
        let scraped = scrape(&app).await;
        (scraped.value("portcullis_mail_delivery_failures", &[]) >= Some(1.0)).then_some(scraped)
    })
    .await;
    assert_eq!(
        scraped.value("portcullis_mail_outbox_pending", &[]),
        Some(1.0)
    );
}

#[actix_web::test]
async fn made_up_methods_share_one_label() {
    let app = spawn_app_with(with_metrics).await;
    for method in ["FOO1", "FOO2", "FOO3"] {
        app.client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                app.url("/x"),
            )
            .send()
            .await
            .unwrap();
    }
    let scraped = scrape(&app).await;
    assert!(!scraped.text.contains("FOO"), "{}", scraped.text);
    assert_eq!(
        scraped.value("http_requests", &[("method", "other")]),
        Some(3.0)
    );
}

#[actix_web::test]
async fn a_scrape_that_does_not_ask_for_openmetrics_gets_the_prometheus_text_format() {
    let app = spawn_app_with(with_metrics).await;
    let ada = app.signed_up("ada").await;
    app.get("/me", Some(&ada.access_token)).await;
    let address = app.metrics_address.as_ref().expect("metrics are on");

    for accept in [
        None,
        Some("*/*"),
        Some("text/plain; version=0.0.4"),
        Some("text/plain;version=0.0.4;q=0.5,application/openmetrics-text;q=0.2"),
    ] {
        let mut request = app.client.get(format!("{address}/metrics"));
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }

        let response = request.send().await.unwrap();

        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["content-type"],
            "text/plain; version=0.0.4; charset=utf-8",
            "{accept:?}"
        );
        let text = response.text().await.unwrap();
        assert!(!text.contains("# EOF"), "{text}");
        let exposition = openmetrics_parser::prometheus::parse_prometheus(&text)
            .unwrap_or_else(|error| panic!("not the Prometheus text format ({error:?}):\n{text}"));
        // Every metric of the contract, by its name in this format.
        for name in [
            "http_requests_total",
            "http_request_duration_seconds",
            "portcullis_logins_total",
            "portcullis_password_hash_seconds",
            "portcullis_hash_queue_depth",
            "portcullis_db_pool_connections",
            "portcullis_refresh_reuse_detected_total",
            "portcullis_mail_outbox_pending",
            "portcullis_mail_delivery_failures_total",
            "process_resident_memory_bytes",
        ] {
            assert!(
                exposition.families.contains_key(name),
                "no {name} in\n{text}"
            );
        }
        let me = exposition.families["http_requests_total"]
            .iter_samples()
            .find(|sample| {
                sample.get_labelset().is_ok_and(|labels| {
                    labels
                        .iter()
                        .any(|(key, value)| key == "route" && value == "/me")
                        && labels
                            .iter()
                            .any(|(key, value)| key == "status" && value == "200")
                })
            })
            .map(|sample| match &sample.value {
                PrometheusValue::Counter(counter) => number(&counter.value),
                other => panic!("http_requests_total is not a counter: {other:?}"),
            });
        assert_eq!(me, Some(1.0), "{text}");
        let logins = &exposition.families["portcullis_logins_total"];
        assert!(
            logins
                .iter_samples()
                .all(|sample| matches!(sample.value, PrometheusValue::Counter(_))),
            "{text}"
        );
    }
}

/// The OpenID Provider's token endpoint counts its answers by grant type and
/// outcome: tokens issued, and each RFC 6749 error.
#[actix_web::test]
async fn token_endpoint_answers_are_counted_by_grant_and_outcome() {
    let app = spawn_app_with(with_metrics).await;
    let admin = app.signed_in_admin("root").await;
    let client = register_client(
        &app,
        &admin,
        json!({
            "name": "Reports",
            "type": "confidential",
            "redirect_uris": ["https://reports.example/callback"],
            "grant_types": ["client_credentials"],
            "scopes": ["reports:read"],
        }),
    )
    .await;
    let impostor = Client {
        id: client.id.clone(),
        secret: Some("not the secret".to_owned()),
    };
    let grant = |grant_type| [("grant_type", grant_type)];
    assert_eq!(
        token(&app, &client, &grant("client_credentials"))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        token(&app, &impostor, &grant("client_credentials"))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        token(&app, &client, &grant("password")).await.status(),
        StatusCode::BAD_REQUEST
    );

    let scraped = scrape(&app).await;
    let counted = |grant_type: &str, outcome: &str| {
        scraped.value(
            "portcullis_oauth_tokens",
            &[("grant_type", grant_type), ("outcome", outcome)],
        )
    };
    assert_eq!(counted("client_credentials", "issued"), Some(1.0));
    assert_eq!(counted("client_credentials", "invalid_client"), Some(1.0));
    assert_eq!(counted("other", "unsupported_grant_type"), Some(1.0));
}
