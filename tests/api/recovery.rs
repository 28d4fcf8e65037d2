//! Account recovery and email: reset by mail, verification, email change,
//! username change, and mail that survives an SMTP outage. The service talks
//! real SMTP to an aiosmtpd server started by each test.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    STRONG_PASSWORD, TestApp, TestSmtp, assert_problem, eventually, recipient_of, run_cli_with_env,
    spawn_app_with, stop_mail_sender, token_in,
};

/// The message sent to `recipient`.
fn mail_to<'a>(messages: &'a [String], recipient: &str) -> &'a str {
    messages
        .iter()
        .find(|message| recipient_of(message) == recipient)
        .unwrap_or_else(|| panic!("no message to {recipient}"))
}

/// An app whose mail goes to `smtp`, with the rate limits out of the way.
pub(crate) async fn app_mailing(
    smtp: &TestSmtp,
    configure: impl FnOnce(&mut portcullis::config::Settings),
) -> TestApp {
    let url = smtp.url();
    spawn_app_with(move |s| {
        s.guards.rate_limit_per_minute = 0;
        s.mail.mail_url = portcullis::config::MailUrl::parse(&url).unwrap();
        s.mail.email_verification = portcullis::config::EmailVerification::Off;
        configure(s);
    })
    .await
}

async fn put_email(app: &TestApp, token: &str, body: &Value) -> reqwest::Response {
    app.send_json(reqwest::Method::PUT, "/me/email", token, body)
        .await
}

async fn patch_me(app: &TestApp, token: &str, body: &Value) -> reqwest::Response {
    app.send_json(reqwest::Method::PATCH, "/me", token, body)
        .await
}

async fn forgot(app: &TestApp, email: &str) -> reqwest::Response {
    app.post_json("/password/forgot", &json!({"email": email}))
        .await
}

async fn reset(app: &TestApp, token: &str, new_password: &str) -> reqwest::Response {
    app.post_json(
        "/password/reset",
        &json!({"token": token, "new_password": new_password}),
    )
    .await
}

#[actix_web::test]
async fn a_forgotten_password_is_reset_by_the_link_in_the_mail() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let app = app_mailing(&smtp, |_| {}).await;
    let ada = app.signed_up("ada").await;

    let asked = forgot(&app, "ADA@example.com").await;
    assert_eq!(asked.status(), StatusCode::ACCEPTED);
    let mail = smtp.wait_for(1).await;
    assert_eq!(recipient_of(&mail[0]), "ada@example.com");
    assert!(
        mail[0].contains("http://localhost:3000/reset-password?token="),
        "{}",
        mail[0]
    );
    assert!(mail[0].contains("text/html"), "an HTML part too");
    let token = token_in(&mail[0]);
    assert_eq!(token.len(), 43, "256 bits, base64url");

    let done = reset(&app, &token, "a brand new passphrase").await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);

    app.logged_in(&ada.email, "a brand new passphrase").await;
    let old = app
        .login(&json!({"email": ada.email, "password": STRONG_PASSWORD}))
        .await;
    assert_problem(old, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let ended = app.get("/me", Some(&ada.access_token)).await;
    assert_problem(ended, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let again = reset(&app, &token, "yet another passphrase").await;
    assert_problem(again, StatusCode::BAD_REQUEST, "invalid_or_expired_token").await;
    // The link reached the address: it counts as verified now; and a notice went out.
    let tokens = app.logged_in(&ada.email, "a brand new passphrase").await;
    assert_eq!(tokens["user"]["email_verified"], true);
    let mail = smtp.wait_for(2).await;
    assert!(mail[1].contains("Your password was changed"), "{}", mail[1]);
    assert!(app.count("mail_tokens", "used_at IS NULL").await == 0);
}

#[actix_web::test]
async fn an_unknown_address_gets_the_same_answer_and_no_mail() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let app = app_mailing(&smtp, |_| {}).await;
    app.signed_up("ada").await;

    let unknown = forgot(&app, "nobody@example.com").await;
    let (unknown_status, unknown_body) = (unknown.status(), unknown.bytes().await.unwrap());
    let known = forgot(&app, "ada@example.com").await;
    let (known_status, known_body) = (known.status(), known.bytes().await.unwrap());

    assert_eq!(unknown_status, known_status);
    assert_eq!(unknown_body, known_body);
    let mail = smtp.wait_for(1).await;
    assert_eq!(mail.len(), 1);
    assert_eq!(recipient_of(&mail[0]), "ada@example.com");
    // The message reaches the SMTP server a moment before the sender hears
    // back and deletes it from the outbox.
    eventually("delivered mail to leave the outbox", async || {
        (app.count("mail_outbox", "1 = 1").await == 0).then_some(())
    })
    .await;
}

#[actix_web::test]
async fn a_reset_link_expires_and_a_newer_one_voids_it() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let app = app_mailing(&smtp, |s| s.mail.password_reset_ttl = 600).await;
    app.signed_up("ada").await;

    forgot(&app, "ada@example.com").await;
    let first = token_in(&smtp.wait_for(1).await[0]);
    // Within MAIL_MIN_INTERVAL a second request sends nothing.
    forgot(&app, "ada@example.com").await;
    app.clock.advance(chrono::Duration::seconds(61));
    forgot(&app, "ada@example.com").await;
    let mail = smtp.wait_for(2).await;
    assert_eq!(mail.len(), 2);
    let second = token_in(&mail[1]);

    let voided = reset(&app, &first, "a brand new passphrase").await;
    assert_problem(voided, StatusCode::BAD_REQUEST, "invalid_or_expired_token").await;
    app.clock.advance(chrono::Duration::seconds(601));
    let expired = reset(&app, &second, "a brand new passphrase").await;
    assert_problem(expired, StatusCode::BAD_REQUEST, "invalid_or_expired_token").await;
}

#[actix_web::test]
async fn a_reset_password_follows_the_registration_rules() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let app = app_mailing(&smtp, |_| {}).await;
    app.signed_up("ada").await;
    forgot(&app, "ada@example.com").await;
    let token = token_in(&smtp.wait_for(1).await[0]);

    let weak = reset(&app, &token, "password").await;

    let body = assert_problem(weak, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(body["errors"]["new_password"].is_array(), "{body}");
    // The token was not spent by the refusal.
    let done = reset(&app, &token, "a brand new passphrase").await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);
}

#[actix_web::test]
async fn mail_requests_for_one_address_are_limited() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let app = app_mailing(&smtp, |_| {}).await;

    for _ in 0..5 {
        assert_eq!(
            forgot(&app, "someone@example.com").await.status(),
            StatusCode::ACCEPTED
        );
    }
    let limited = forgot(&app, "someone@example.com").await;

    assert!(limited.headers().contains_key("retry-after"));
    assert_problem(limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[actix_web::test]
async fn registration_mails_a_verification_link_that_proves_the_address() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let app = app_mailing(&smtp, |s| {
        s.mail.email_verification = portcullis::config::EmailVerification::Optional;
    })
    .await;
    let ada = app.signed_up("ada").await;
    let me: Value = app
        .get("/me", Some(&ada.access_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["email_verified"], false);

    let mail = smtp.wait_for(1).await;
    assert!(mail[0].contains("verify-email?token="), "{}", mail[0]);
    let token = token_in(&mail[0]);
    let verified = app
        .post_json("/email/verify", &json!({"token": token}))
        .await;
    assert_eq!(verified.status(), StatusCode::NO_CONTENT);

    let me: Value = app
        .get("/me", Some(&ada.access_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["email_verified"], true);
    let again = app
        .post_json("/email/verify", &json!({"token": token}))
        .await;
    assert_problem(again, StatusCode::BAD_REQUEST, "invalid_or_expired_token").await;
    // Already verified: asking again sends nothing.
    app.clock.advance(chrono::Duration::seconds(61));
    let resend = app
        .send_json(
            reqwest::Method::POST,
            "/me/email/verification",
            &ada.access_token,
            &json!({}),
        )
        .await;
    assert_eq!(resend.status(), StatusCode::ACCEPTED);
    app.signed_up("grace").await;
    let mail = smtp.wait_for(2).await;
    assert_eq!(mail.len(), 2);
    assert_eq!(recipient_of(&mail[1]), "grace@example.com");
}

#[actix_web::test]
async fn required_verification_refuses_login_only_after_the_right_password() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let app = app_mailing(&smtp, |s| {
        s.mail.email_verification = portcullis::config::EmailVerification::Required;
    })
    .await;
    let registered = app
        .register("ada", "ada@example.com", STRONG_PASSWORD)
        .await;
    assert_eq!(registered.status(), StatusCode::CREATED);

    let wrong = app
        .login(&json!({"email": "ada@example.com", "password": "a wrong guess"}))
        .await;
    assert_problem(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let refused = app
        .login(&json!({"email": "ada@example.com", "password": STRONG_PASSWORD}))
        .await;
    assert_problem(refused, StatusCode::FORBIDDEN, "email_not_verified").await;

    let token = token_in(&smtp.wait_for(1).await[0]);
    app.post_json("/email/verify", &json!({"token": token}))
        .await;
    app.logged_in("ada@example.com", STRONG_PASSWORD).await;
}

#[actix_web::test]
async fn a_new_verification_link_can_be_asked_for_once_per_interval() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let app = app_mailing(&smtp, |_| {}).await;
    let ada = app.signed_up("ada").await;
    let empty = json!({});
    let ask = || {
        app.send_json(
            reqwest::Method::POST,
            "/me/email/verification",
            &ada.access_token,
            &empty,
        )
    };

    assert_eq!(ask().await.status(), StatusCode::ACCEPTED);
    assert_eq!(ask().await.status(), StatusCode::ACCEPTED);
    let first = smtp.wait_for(1).await;
    app.clock.advance(chrono::Duration::seconds(61));
    assert_eq!(ask().await.status(), StatusCode::ACCEPTED);
    let mail = smtp.wait_for(2).await;

    assert_eq!(mail.len(), 2, "one per MAIL_MIN_INTERVAL");
    let old = app
        .post_json("/email/verify", &json!({"token": token_in(&first[0])}))
        .await;
    assert_problem(old, StatusCode::BAD_REQUEST, "invalid_or_expired_token").await;
    let new = app
        .post_json("/email/verify", &json!({"token": token_in(&mail[1])}))
        .await;
    assert_eq!(new.status(), StatusCode::NO_CONTENT);
}

#[actix_web::test]
async fn an_email_change_happens_only_when_the_new_address_is_proven() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let app = app_mailing(&smtp, |_| {}).await;
    let ada = app.signed_up("ada").await;
    let change = |password: &str| json!({"new_email": "ada@new.example", "password": password});

    let wrong = put_email(&app, &ada.access_token, &change("a wrong guess")).await;
    assert_problem(wrong, StatusCode::FORBIDDEN, "wrong_password").await;
    let asked = put_email(&app, &ada.access_token, &change(STRONG_PASSWORD)).await;
    assert_eq!(asked.status(), StatusCode::ACCEPTED);

    let mail = smtp.wait_for(2).await;
    let to_new = mail_to(&mail, "ada@new.example");
    let to_old = mail_to(&mail, "ada@example.com");
    assert!(
        to_old.contains("ada@new.example") && !to_old.contains("token="),
        "{to_old}"
    );
    let me: Value = app
        .get("/me", Some(&ada.access_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        me["email"], "ada@example.com",
        "nothing changes before the link is used"
    );

    let verified = app
        .post_json("/email/verify", &json!({"token": token_in(to_new)}))
        .await;
    assert_eq!(verified.status(), StatusCode::NO_CONTENT);
    let me: Value = app
        .get("/me", Some(&ada.access_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (me["email"].as_str(), me["email_verified"].as_bool()),
        (Some("ada@new.example"), Some(true))
    );
    app.logged_in("ada@new.example", STRONG_PASSWORD).await;
    let mail = smtp.wait_for(3).await;
    assert_eq!(
        recipient_of(&mail[2]),
        "ada@example.com",
        "the old address hears of the change"
    );
}

#[actix_web::test]
async fn an_email_change_to_an_address_taken_meanwhile_is_refused() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let app = app_mailing(&smtp, |_| {}).await;
    let ada = app.signed_up("ada").await;
    let taken = put_email(
        &app,
        &ada.access_token,
        &json!({"new_email": "ada@example.com", "password": STRONG_PASSWORD}),
    )
    .await;
    assert_problem(taken, StatusCode::CONFLICT, "email_taken").await;
    put_email(
        &app,
        &ada.access_token,
        &json!({"new_email": "grace@example.com", "password": STRONG_PASSWORD}),
    )
    .await;
    let mail = smtp.wait_for(2).await;
    let link = mail_to(&mail, "grace@example.com");
    app.signed_up("grace").await;

    let verified = app
        .post_json("/email/verify", &json!({"token": token_in(link)}))
        .await;

    assert_problem(verified, StatusCode::CONFLICT, "email_taken").await;
}

#[actix_web::test]
async fn the_username_can_be_changed_under_the_usual_rules() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let app = app_mailing(&smtp, |_| {}).await;
    let ada = app.signed_up("ada").await;
    app.signed_up("grace").await;
    let rename = |name: &str| json!({"username": name});

    let renamed = patch_me(&app, &ada.access_token, &rename("Ada.Lovelace")).await;
    assert_eq!(renamed.status(), StatusCode::OK);
    let user: Value = renamed.json().await.unwrap();
    assert_eq!(user["username"], "Ada.Lovelace");
    let taken = patch_me(&app, &ada.access_token, &rename("GRACE")).await;
    assert_problem(taken, StatusCode::CONFLICT, "username_taken").await;
    let invalid = patch_me(&app, &ada.access_token, &rename("a b")).await;
    assert_problem(
        invalid,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    app.login(&json!({"username": "ada.lovelace", "password": STRONG_PASSWORD}))
        .await;
}

#[actix_web::test]
async fn mail_survives_an_smtp_outage_and_goes_out_when_smtp_returns() {
    let Some(mut smtp) = TestSmtp::start().await else {
        return;
    };
    let app = app_mailing(&smtp, |_| {}).await;
    let root = app.signed_in_admin("root").await;
    app.signed_up("ada").await;
    smtp.stop();

    let asked = forgot(&app, "ada@example.com").await;
    assert_eq!(asked.status(), StatusCode::ACCEPTED, "the request succeeds");
    // The sender tries, fails, and keeps the message for later.
    let figures = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            let figures: Value = app
                .get("/admin", Some(&root.access_token))
                .await
                .json()
                .await
                .unwrap();
            if figures["mail_failing"] == 1 {
                return figures;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the failed attempt shows on the dashboard");
    assert_eq!(figures["mail_pending"], 1);

    smtp.resume().await;
    app.clock.advance(chrono::Duration::seconds(6));
    let mail = smtp.wait_for(1).await;

    assert_eq!(recipient_of(&mail[0]), "ada@example.com");
    let done = reset(&app, &token_in(&mail[0]), "a brand new passphrase").await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);
}

#[actix_web::test]
async fn two_nodes_on_one_database_deliver_each_message_once() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let app = app_mailing(&smtp, |s| {
        s.mail.email_verification = portcullis::config::EmailVerification::Optional;
    })
    .await;
    let (_, other_node) = app.another_node_with_state(|_| {}).await;

    for n in 0..8 {
        app.register(
            &format!("user{n}"),
            &format!("user{n}@example.com"),
            STRONG_PASSWORD,
        )
        .await;
    }
    let mail = smtp.wait_for(8).await;
    // Both senders stopped: whatever either had begun to send has arrived, so
    // a double delivery, if there were one, shows now.
    stop_mail_sender(app.state.get_ref()).await;
    stop_mail_sender(&other_node).await;

    let mut recipients: Vec<String> = smtp.messages().iter().map(|m| recipient_of(m)).collect();
    recipients.sort();
    recipients.dedup();
    assert_eq!(mail.len(), 8);
    assert_eq!(smtp.messages().len(), 8, "{recipients:?}");
    assert_eq!(recipients.len(), 8);
}

#[actix_web::test]
async fn every_recovery_step_is_audited() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let app = app_mailing(&smtp, |s| {
        s.mail.email_verification = portcullis::config::EmailVerification::Optional;
    })
    .await;
    let root = app.signed_in_admin("root").await;
    let ada = app.signed_up("ada").await;
    let verification = token_in(&smtp.wait_for(1).await[0]);
    app.post_json("/email/verify", &json!({"token": verification}))
        .await;
    put_email(
        &app,
        &ada.access_token,
        &json!({"new_email": "ada@new.example", "password": STRONG_PASSWORD}),
    )
    .await;
    let mail = smtp.wait_for(3).await;
    let link = mail_to(&mail, "ada@new.example");
    app.post_json("/email/verify", &json!({"token": token_in(link)}))
        .await;
    forgot(&app, "ada@new.example").await;
    let mail = smtp.wait_for(5).await;
    let reset_mail = mail
        .iter()
        .find(|m| m.contains("reset-password?token="))
        .unwrap();
    reset(&app, &token_in(reset_mail), "a brand new passphrase").await;

    let events: Value = app
        .get(
            &format!("/admin/events?user_id={}&per_page=100", ada.id),
            Some(&root.access_token),
        )
        .await
        .json()
        .await
        .unwrap();
    let types: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    for expected in [
        "email_verified",
        "email_change_requested",
        "email_changed",
        "password_reset_requested",
        "password_reset",
    ] {
        assert!(
            types.contains(&expected),
            "{expected} missing from {types:?}"
        );
    }
    assert!(
        !events.to_string().contains(&verification),
        "no token in the trail"
    );
}

#[actix_web::test]
async fn the_file_transport_writes_one_owner_only_eml_per_message_in_an_owner_only_directory() {
    use std::os::unix::fs::PermissionsExt as _;
    let root = tempfile::tempdir().unwrap();
    // Not there yet: the app creates it (and its parent).
    let dir = root.path().join("spool").join("mail");
    let url = format!("file://{}", dir.display());
    let app = spawn_app_with(move |s| {
        s.guards.rate_limit_per_minute = 0;
        s.mail.mail_url = portcullis::config::MailUrl::parse(&url).unwrap();
    })
    .await;
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700, "the mail directory");

    app.signed_up("ada").await; // optional verification: one message

    let (path, found) = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            let files: Vec<_> = std::fs::read_dir(&dir)
                .unwrap()
                .filter_map(Result::ok)
                .collect();
            if let Some(file) = files
                .iter()
                .find(|f| f.path().extension().is_some_and(|e| e == "eml"))
            {
                let text = std::fs::read_to_string(file.path()).unwrap();
                if !text.is_empty() {
                    return (file.path(), text);
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("an .eml file appears");
    assert!(found.contains("To: ada@example.com"), "{found}");
    assert_eq!(mode(&path), 0o600, "the message file");
}

#[actix_web::test]
async fn production_refuses_file_mail_without_its_opt_in() {
    let dir = tempfile::tempdir().unwrap();
    let key = crate::helpers::write_signing_key(dir.path(), "signing.pem");
    let data_key = crate::helpers::write_data_key(dir.path());
    let database = format!("sqlite://{}", dir.path().join("p.db").display());
    let mail_url = format!("file://{}", dir.path().join("mail").display());
    let env = [
        ("PORTCULLIS_ENV", "production"),
        ("BIND_ADDR", "127.0.0.1:0"),
        ("JWT_PRIVATE_KEY_FILE", key.to_str().unwrap()),
        ("DATA_ENCRYPTION_KEY_FILE", data_key.to_str().unwrap()),
        ("MAIL_URL", mail_url.as_str()),
    ];
    let output = actix_web::rt::time::timeout(
        std::time::Duration::from_secs(20),
        run_cli_with_env(&["serve"], &database, &env, None),
    )
    .await
    .expect("a refused configuration exits at once");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "file:// was accepted in production"
    );
    assert!(stderr.contains("MAIL_FILE_IN_PRODUCTION"), "{stderr}");
}

#[actix_web::test]
async fn smtp_without_starttls_is_refused_unless_tls_off_says_so() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    // aiosmtpd here offers no STARTTLS: a plain smtp:// URL must not fall back.
    let url = format!("smtp://127.0.0.1:{}", smtp.port);
    let app = spawn_app_with(move |s| {
        s.mail.mail_url = portcullis::config::MailUrl::parse(&url).unwrap();
    })
    .await;
    let root = app.signed_in_admin("root").await;
    app.signed_up("ada").await; // a verification mail

    eventually("the refused delivery on the dashboard", async || {
        let figures: Value = app
            .get("/admin", Some(&root.access_token))
            .await
            .json()
            .await
            .unwrap();
        (figures["mail_failing"] == 1).then_some(())
    })
    .await;
    assert!(smtp.messages().is_empty(), "nothing went out in clear");
}

#[actix_web::test]
async fn an_admin_invites_a_user_who_sets_the_first_password_by_the_link() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let app = app_mailing(&smtp, |_| {}).await;
    let root = app.signed_in_admin("root").await;
    let ada = app.signed_up("ada").await;
    let invite = |body: Value, token: &str| {
        let token = token.to_owned();
        let app = &app;
        async move {
            app.send_json(reqwest::Method::POST, "/admin/users", &token, &body)
                .await
        }
    };

    let refused = invite(
        json!({"username": "grace", "email": "grace@example.com"}),
        &ada.access_token,
    )
    .await;
    assert_problem(refused, StatusCode::FORBIDDEN, "forbidden").await;
    let invalid = invite(
        json!({"username": "g", "email": "not an address"}),
        &root.access_token,
    )
    .await;
    let body = assert_problem(
        invalid,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert!(body["errors"]["username"].is_array() && body["errors"]["email"].is_array());
    let taken = invite(
        json!({"username": "grace", "email": "ada@example.com"}),
        &root.access_token,
    )
    .await;
    assert_problem(taken, StatusCode::CONFLICT, "email_taken").await;
    let created = invite(
        json!({"username": "grace", "email": "grace@example.com", "role": "admin"}),
        &root.access_token,
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let grace: Value = created.json().await.unwrap();
    assert_eq!(
        (grace["role"].as_str(), grace["email_verified"].as_bool()),
        (Some("admin"), Some(false))
    );

    let mail = smtp.wait_for(1).await;
    assert_eq!(recipient_of(&mail[0]), "grace@example.com");
    assert!(
        mail[0].contains("An account was made for you"),
        "{}",
        mail[0]
    );
    let no_password = app
        .login(&json!({"username": "grace", "password": STRONG_PASSWORD}))
        .await;
    assert_problem(no_password, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let set = reset(&app, &token_in(&mail[0]), "grace chose this passphrase").await;
    assert_eq!(set.status(), StatusCode::NO_CONTENT);
    let tokens = app
        .logged_in("grace@example.com", "grace chose this passphrase")
        .await;
    assert_eq!(tokens["user"]["email_verified"], true);
}

#[actix_web::test]
async fn an_admin_sends_a_reset_link_without_ever_seeing_the_password() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let app = app_mailing(&smtp, |_| {}).await;
    let root = app.signed_in_admin("root").await;
    let ada = app.signed_up("ada").await;

    let sent = app
        .send_json(
            reqwest::Method::POST,
            &format!("/admin/users/{}/password-reset", ada.id),
            &root.access_token,
            &json!({}),
        )
        .await;
    assert_eq!(sent.status(), StatusCode::ACCEPTED);
    assert!(
        sent.bytes().await.unwrap().is_empty(),
        "no token or password in the answer"
    );
    let unknown = app
        .send_json(
            reqwest::Method::POST,
            &format!("/admin/users/{}/password-reset", uuid::Uuid::new_v4()),
            &root.access_token,
            &json!({}),
        )
        .await;
    assert_problem(unknown, StatusCode::NOT_FOUND, "not_found").await;

    let mail = smtp.wait_for(1).await;
    assert_eq!(recipient_of(&mail[0]), "ada@example.com");
    let done = reset(&app, &token_in(&mail[0]), "a brand new passphrase").await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);
    app.logged_in(&ada.email, "a brand new passphrase").await;
}

#[actix_web::test]
async fn a_password_reset_voids_an_email_change_someone_else_started() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let app = app_mailing(&smtp, |_| {}).await;
    let ada = app.signed_up("ada").await;
    // A thief with the session and the password starts moving the account.
    put_email(
        &app,
        &ada.access_token,
        &json!({"new_email": "thief@evil.example", "password": STRONG_PASSWORD}),
    )
    .await;
    let mail = smtp.wait_for(2).await;
    let thiefs_link = token_in(mail_to(&mail, "thief@evil.example"));

    // The owner, warned by the notice, resets the password.
    forgot(&app, "ada@example.com").await;
    let mail = smtp.wait_for(3).await;
    let reset_link = token_in(
        mail.iter()
            .find(|m| m.contains("reset-password?token="))
            .unwrap(),
    );
    assert_eq!(
        reset(&app, &reset_link, "the owner's new passphrase")
            .await
            .status(),
        StatusCode::NO_CONTENT
    );

    let moved = app
        .post_json("/email/verify", &json!({"token": thiefs_link}))
        .await;
    assert_problem(moved, StatusCode::BAD_REQUEST, "invalid_or_expired_token").await;
    app.logged_in("ada@example.com", "the owner's new passphrase")
        .await;
}

#[actix_web::test]
async fn links_mailed_to_an_address_the_account_left_stop_working() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let app = app_mailing(&smtp, |_| {}).await;
    let ada = app.signed_up("ada").await;
    forgot(&app, "ada@example.com").await;
    let old_reset = token_in(&smtp.wait_for(1).await[0]);
    put_email(
        &app,
        &ada.access_token,
        &json!({"new_email": "ada@new.example", "password": STRONG_PASSWORD}),
    )
    .await;
    let mail = smtp.wait_for(3).await;
    let change = token_in(mail_to(&mail, "ada@new.example"));
    assert_eq!(
        app.post_json("/email/verify", &json!({"token": change}))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );

    let stale = reset(&app, &old_reset, "whoever reads the old mailbox").await;

    assert_problem(stale, StatusCode::BAD_REQUEST, "invalid_or_expired_token").await;
}

/// `POST /password/forgot` answers first and stores the link afterwards, in
/// the background: every request's work is seen in the database before a
/// prune, so nothing lands between the prunes and the counts.
#[actix_web::test]
async fn spent_or_expired_links_and_old_send_times_are_pruned() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let app = app_mailing(&smtp, |s| {
        s.mail.password_reset_ttl = 3_600;
        s.mail.mail_min_interval = 60;
    })
    .await;
    app.signed_up("ada").await;
    app.signed_up("bob").await;
    forgot(&app, "ada@example.com").await;
    let spent = token_in(&smtp.wait_for(1).await[0]);
    assert_eq!(
        reset(&app, &spent, "a brand new passphrase").await.status(),
        StatusCode::NO_CONTENT,
        "ada's link is spent"
    );
    forgot(&app, "bob@example.com").await;
    // Bob's link and send time are stored in one transaction.
    eventually("bob's link stored", async || {
        (app.count("mail_tokens", "used_at IS NULL").await == 1).then_some(())
    })
    .await;
    assert_eq!(app.count("mail_tokens", "1 = 1").await, 2);
    assert_eq!(app.count("mail_sent", "1 = 1").await, 2);

    portcullis::service::outbox::prune(app.state.get_ref()).await;
    assert_eq!(
        app.count("mail_tokens", "1 = 1").await,
        1,
        "the spent link goes at once, the live one stays"
    );
    assert_eq!(
        app.count("mail_sent", "1 = 1").await,
        2,
        "recent send times stay"
    );

    app.clock.advance(chrono::Duration::seconds(61));
    portcullis::service::outbox::prune(app.state.get_ref()).await;
    assert_eq!(
        app.count("mail_sent", "1 = 1").await,
        0,
        "send times older than MAIL_MIN_INTERVAL go"
    );
    assert_eq!(
        app.count("mail_tokens", "1 = 1").await,
        1,
        "a link within its hour stays"
    );

    app.clock.advance(chrono::Duration::hours(1));
    portcullis::service::outbox::prune(app.state.get_ref()).await;
    assert_eq!(
        app.count("mail_tokens", "1 = 1").await,
        0,
        "an expired link goes"
    );
}

#[actix_web::test]
async fn mail_undeliverable_for_eight_days_is_given_up() {
    let Some(mut smtp) = TestSmtp::start().await else {
        return;
    };
    let app = app_mailing(&smtp, |_| {}).await;
    app.signed_up("ada").await;
    smtp.stop();
    forgot(&app, "ada@example.com").await;
    eventually("a failed attempt", async || {
        (app.count("mail_outbox", "attempts > 0").await == 1).then_some(())
    })
    .await;

    app.clock.advance(chrono::Duration::days(7));
    eventually("another failed attempt, kept", async || {
        (app.count("mail_outbox", "attempts > 1").await == 1).then_some(())
    })
    .await;
    app.clock.advance(chrono::Duration::days(2));

    eventually("the message dropped", async || {
        (app.count("mail_outbox", "1 = 1").await == 0).then_some(())
    })
    .await;
}

/// An account whose address `mallory` never proved, with a passkey and TOTP
/// (and recovery codes) set up by whoever registered it: the passkey first,
/// then TOTP through a session opened with that passkey (a second factor is
/// added from a second-factor session). Returns the account.
async fn squatted_with_factors(app: &TestApp, username: &str) -> crate::helpers::Account {
    use crate::passkeys::{Authenticator, add_passkey, passkey_login};
    let squatter = app.signed_up(username).await;
    let mut authenticator = Authenticator::new();
    add_passkey(app, &squatter, &mut authenticator).await;
    let by_passkey = passkey_login(app, &squatter.email, &mut authenticator).await;
    assert_eq!(by_passkey.status(), StatusCode::OK);
    let pair: Value = by_passkey.json().await.unwrap();
    let strong = crate::helpers::Account {
        id: squatter.id.clone(),
        email: squatter.email.clone(),
        access_token: pair["access_token"].as_str().unwrap().to_owned(),
        refresh_token: pair["refresh_token"].as_str().unwrap().to_owned(),
    };
    crate::mfa::enable_totp(app, &strong).await;
    let me: Value = app
        .get("/me", Some(&strong.access_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        me["mfa"],
        json!({"totp": true, "passkeys": 1, "recovery_codes_left": 10})
    );
    strong
}

/// Every message reached the server and left the outbox; returns them all.
async fn all_mail_delivered(app: &TestApp, smtp: &TestSmtp, at_least: usize) -> Vec<String> {
    smtp.wait_for(at_least).await;
    eventually("the outbox to empty", async || {
        (app.count("mail_outbox", "1 = 1").await == 0).then_some(())
    })
    .await;
    smtp.messages()
}

#[actix_web::test]
async fn a_reset_of_an_address_never_verified_removes_every_second_factor() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let app = app_mailing(&smtp, |_| {}).await;
    let root = app.signed_in_admin("root").await;
    // Someone registered the victim's address first and set up factors.
    let squatter = squatted_with_factors(&app, "victim").await;

    // The victim recovers the account through the address.
    forgot(&app, &squatter.email).await;
    let link = smtp.wait_for(1).await;
    let done = reset(&app, &token_in(&link[0]), "the victims own passphrase").await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);

    // The password alone logs in now: nothing the squatter set up is left.
    let pair = app
        .logged_in(&squatter.email, "the victims own passphrase")
        .await;
    assert_eq!(
        pair["user"]["mfa"],
        json!({"totp": false, "passkeys": 0, "recovery_codes_left": 0})
    );
    let (_, claims) = crate::helpers::jwt_parts(pair["access_token"].as_str().unwrap());
    assert_eq!(claims["amr"], json!(["pwd"]));
    let user = format!("user_id = '{}'", squatter.id);
    assert_eq!(app.count("passkeys", &user).await, 0);
    assert_eq!(app.count("totp_credentials", &user).await, 0);
    assert_eq!(app.count("recovery_codes", &user).await, 0);
    let ended = app.get("/me", Some(&squatter.access_token)).await;
    assert_problem(ended, StatusCode::UNAUTHORIZED, "invalid_token").await;
    // Audited, and the owner is told.
    let events = crate::helpers::events_of(&app, &root, "mfa_disabled", &squatter.id).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["detail"]["by"], "password_reset");
    assert_eq!(events[0]["detail"]["had_totp"], true);
    assert_eq!(events[0]["detail"]["passkeys_removed"], 1);
    let mail = all_mail_delivered(&app, &smtp, 3).await;
    assert_eq!(
        mail.len(),
        3,
        "the link, the password notice, the factors notice"
    );
    assert!(
        mail.iter().any(|message| {
            message.contains("Sign-in methods were removed")
                && recipient_of(message) == squatter.email
        }),
        "{mail:?}"
    );
}

#[actix_web::test]
async fn a_reset_of_a_verified_address_keeps_the_second_factors() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let app = app_mailing(&smtp, |_| {}).await;
    let root = app.signed_in_admin("root").await;
    let owner = squatted_with_factors(&app, "ada").await;
    // The owner proved the address before.
    app.sql(&format!(
        "UPDATE users SET email_verified = TRUE WHERE id = '{}'",
        owner.id
    ))
    .await;

    forgot(&app, &owner.email).await;
    let link = smtp.wait_for(1).await;
    let done = reset(&app, &token_in(&link[0]), "a brand new passphrase").await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);

    let login = app
        .login(&json!({"email": owner.email, "password": "a brand new passphrase"}))
        .await;
    assert_problem(login, StatusCode::UNAUTHORIZED, "mfa_required").await;
    let user = format!("user_id = '{}'", owner.id);
    assert_eq!(app.count("passkeys", &user).await, 1);
    assert_eq!(app.count("recovery_codes", &user).await, 10);
    assert!(
        crate::helpers::events_of(&app, &root, "mfa_disabled", &owner.id)
            .await
            .is_empty()
    );
    let mail = all_mail_delivered(&app, &smtp, 2).await;
    assert_eq!(mail.len(), 2, "the link and the password notice: {mail:?}");
}

#[actix_web::test]
async fn changing_the_email_counts_against_the_new_addresss_mail_budget() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let app = app_mailing(&smtp, |_| {}).await;
    let mallory = app.signed_up("mallory").await;
    let body = json!({"new_email": "victim@example.org", "password": STRONG_PASSWORD});

    // The same per-address budget as /password/forgot (5 by default).
    for _ in 0..3 {
        assert_eq!(
            forgot(&app, "victim@example.org").await.status(),
            StatusCode::ACCEPTED
        );
    }
    for _ in 0..2 {
        let asked = put_email(&app, &mallory.access_token, &body).await;
        assert_eq!(asked.status(), StatusCode::ACCEPTED);
    }
    let held = put_email(&app, &mallory.access_token, &body).await;
    let problem = assert_problem(held, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert!(problem["detail"].is_string());
    let other = json!({"new_email": "someone@example.org", "password": STRONG_PASSWORD});
    let elsewhere = put_email(&app, &mallory.access_token, &other).await;
    assert_eq!(
        elsewhere.status(),
        StatusCode::ACCEPTED,
        "another address has its own"
    );
}

#[actix_web::test]
async fn changing_the_email_mails_an_address_at_most_once_per_interval() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let app = app_mailing(&smtp, |_| {}).await;
    let mallory = app.signed_up("mallory").await;
    let body = json!({"new_email": "victim@example.org", "password": STRONG_PASSWORD});
    let to_victim = |mail: &[String]| {
        mail.iter()
            .filter(|message| recipient_of(message) == "victim@example.org")
            .count()
    };

    for _ in 0..3 {
        let asked = put_email(&app, &mallory.access_token, &body).await;
        assert_eq!(asked.status(), StatusCode::ACCEPTED, "the same answer");
    }
    let mail = all_mail_delivered(&app, &smtp, 2).await;
    assert_eq!(to_victim(&mail), 1, "{mail:?}");
    assert_eq!(mail.len(), 2, "one confirmation and one notice: {mail:?}");
    // The link that went out is still the one that works.
    let first = token_in(mail_to(&mail, "victim@example.org"));

    app.clock.advance(chrono::Duration::seconds(61));
    let again = put_email(&app, &mallory.access_token, &body).await;
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    let mail = all_mail_delivered(&app, &smtp, 4).await;
    assert_eq!(to_victim(&mail), 2, "{mail:?}");
    assert_ne!(
        token_in(
            mail.iter()
                .rev()
                .find(|m| recipient_of(m) == "victim@example.org")
                .unwrap()
        ),
        first
    );
}

#[actix_web::test]
async fn a_rename_is_audited_with_the_old_and_the_new_name() {
    let app = spawn_app_with(|s| s.guards.rate_limit_per_minute = 0).await;
    let root = app.signed_in_admin("root").await;
    let mallory = app.signed_up("mallory").await;

    let renamed = patch_me(&app, &mallory.access_token, &json!({"username": "r00t"})).await;
    assert_eq!(renamed.status(), StatusCode::OK);

    let events = crate::helpers::events_of(&app, &root, "username_changed", &mallory.id).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        events[0]["detail"],
        json!({"from": "mallory", "to": "r00t"})
    );
}

/// On PostgreSQL the interleaving is made deterministic: another transaction
/// moves the account to a new address and holds its row; the admin's reset
/// reads the old address, then must wait for the row inside the transaction
/// that makes the token (seen in `pg_locks`), and after the move commits it
/// mails the new address, never the one the account left. (On SQLite writers
/// take turns, and each of these transactions starts with a write, so the
/// address it reads is the current one; there the normal path is checked.)
#[actix_web::test]
async fn an_admins_reset_link_goes_to_the_address_the_account_has_when_it_is_made() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let app = app_mailing(&smtp, |_| {}).await;
    let root = app.signed_in_admin("root").await;
    let ada = app.signed_up("ada").await;
    let request = app
        .client
        .post(app.url(&format!("/admin/users/{}/password-reset", ada.id)))
        .bearer_auth(&root.access_token)
        .send();

    let expected = if crate::helpers::backend() == crate::helpers::Backend::Postgres {
        let move_away = format!(
            "UPDATE users SET email = 'ada.new@example.com' WHERE id = '{}'",
            ada.id
        );
        let answered = app.racing_a_held_write(&[&move_away], request).await;
        assert_eq!(answered.status(), StatusCode::ACCEPTED);
        "ada.new@example.com"
    } else {
        let answered = request.await.unwrap();
        assert_eq!(answered.status(), StatusCode::ACCEPTED);
        "ada@example.com"
    };

    let mail = all_mail_delivered(&app, &smtp, 1).await;
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert_eq!(recipient_of(&mail[0]), expected);
    assert_eq!(app.count("mail_tokens", "used_at IS NULL").await, 1);
}
