//! The admin API: listing, changing and deleting accounts, with the
//! last-admin rules.

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{STRONG_PASSWORD, TestApp, assert_problem, spawn_app};

async fn patch_user(app: &TestApp, token: &str, id: &str, body: Value) -> reqwest::Response {
    app.send_json(Method::PATCH, &format!("/admin/users/{id}"), token, &body)
        .await
}

async fn delete_user(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    app.client
        .delete(app.url(&format!("/admin/users/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// The page `GET /admin/users?{query}` answers.
async fn list_users(app: &TestApp, token: &str, query: &str) -> Value {
    app.get(&format!("/admin/users?{query}"), Some(token))
        .await
        .json()
        .await
        .unwrap()
}

/// The usernames on a page of accounts, in its order.
fn usernames(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn every_admin_route_refuses_anonymous_callers_and_plain_users() {
    let app = spawn_app().await;
    let ada = app.signed_up("ada").await;
    let user_path = format!("/admin/users/{}", ada.id);
    let routes = [
        (Method::GET, "/admin"),
        (Method::GET, "/admin/users"),
        (Method::GET, user_path.as_str()),
        (Method::PATCH, user_path.as_str()),
        (Method::DELETE, user_path.as_str()),
        (Method::GET, "/admin/events"),
    ];
    for (method, path) in routes {
        let anonymous = app
            .client
            .request(method.clone(), app.url(path))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_problem(anonymous, StatusCode::UNAUTHORIZED, "missing_token").await;
        let user = app
            .send_json(method.clone(), path, &ada.access_token, &json!({}))
            .await;
        assert_problem(user, StatusCode::FORBIDDEN, "forbidden").await;
    }
}

#[actix_web::test]
async fn users_are_listed_newest_first_in_pages_with_a_total() {
    let app = spawn_app().await;
    let root = app.signed_in_admin("root").await;
    for n in 0..24 {
        app.seed_user(&format!("user{n:02}")).await;
    }

    let first = list_users(&app, &root.access_token, "").await;
    assert_eq!(
        (
            first["page"].as_u64(),
            first["per_page"].as_u64(),
            first["total"].as_u64()
        ),
        (Some(1), Some(20), Some(25))
    );
    assert_eq!(first["items"].as_array().unwrap().len(), 20);
    assert_eq!(first["items"][0]["username"], "user23");
    let item = &first["items"][0];
    for field in [
        "id",
        "username",
        "email",
        "role",
        "disabled",
        "created_at",
        "updated_at",
        "last_login_at",
    ] {
        assert!(item.get(field).is_some(), "{field} in {item}");
    }
    assert!(item.get("password_hash").is_none());

    let second = list_users(&app, &root.access_token, "page=2").await;
    let names: Vec<&str> = second["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["user03", "user02", "user01", "user00", "root"]);

    let beyond = list_users(&app, &root.access_token, "page=3").await;
    assert_eq!(beyond["items"].as_array().unwrap().len(), 0);
    assert_eq!(beyond["total"], 25);

    let all = list_users(&app, &root.access_token, "per_page=100").await;
    assert_eq!(all["items"].as_array().unwrap().len(), 25);
}

#[actix_web::test]
async fn bad_pagination_values_are_validation_failures() {
    let app = spawn_app().await;
    let root = app.signed_in_admin("root").await;
    for query in [
        "page=0",
        "page=1000001",
        "per_page=0",
        "per_page=101",
        "page=abc",
        "per_page=-5",
        "page=99999999999",
        "role=superuser",
        "disabled=maybe",
    ] {
        for route in ["/admin/users", "/admin/events"] {
            if route == "/admin/events"
                && (query.starts_with("role") || query.starts_with("disabled"))
            {
                continue;
            }
            let response = app
                .get(&format!("{route}?{query}"), Some(&root.access_token))
                .await;
            assert_problem(
                response,
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            )
            .await;
        }
    }
}

#[actix_web::test]
async fn a_bad_query_value_is_named_by_its_parameter_and_never_quoted() {
    let app = spawn_app().await;
    let root = app.signed_in_admin("root").await;
    let cases = [
        (
            "/admin/users?role=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
            "role",
            "must be `user` or `admin`",
        ),
        (
            "/admin/users?disabled=%3Cscript%3E",
            "disabled",
            "must be `true` or `false`",
        ),
        // A value that quotes serde's own wording cannot smuggle itself in.
        (
            "/admin/users?role=x%60%2C%20expected%20%60%3Cb%3E",
            "role",
            "must be `user` or `admin`",
        ),
        (
            "/admin/users?per_page=%3Cscript%3E",
            "per_page",
            "is not a valid value",
        ),
        (
            "/admin/events?user_id=%3Cscript%3E",
            "user_id",
            "is not a valid value",
        ),
    ];
    for (path, field, message) in cases {
        let response = app.get(path, Some(&root.access_token)).await;

        let problem = assert_problem(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        let text = problem.to_string();
        assert!(
            !text.contains("script") && !text.contains("<b>"),
            "{path}: {text}"
        );
        assert_eq!(
            problem["errors"][field][0]["message"], message,
            "{path}: {text}"
        );
    }

    let event_type = app
        .get("/admin/events?type=%3Cscript%3E", Some(&root.access_token))
        .await;
    let problem = assert_problem(
        event_type,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let message = problem["errors"]["type"][0]["message"].as_str().unwrap();
    assert!(message.starts_with("must be one of `"), "{message}");
    assert!(!problem.to_string().contains("script"), "{problem}");
}

#[actix_web::test]
async fn a_cursor_outside_what_the_databases_store_is_a_validation_failure() {
    use base64::Engine as _;
    let app = spawn_app().await;
    let root = app.signed_in_admin("root").await;
    let id = uuid::Uuid::new_v4();
    // Times chrono reads: before 4713 BC (PostgreSQL has no such timestamp),
    // before the year 1, and past the year 9999.
    for micros in [
        -6_000_000_000_000_000_000_i64,
        -200_000_000_000_000_000,
        253_402_300_800_000_000,
        8_000_000_000_000_000_000,
    ] {
        let cursor =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{micros}.{id}"));

        let response = app
            .get(
                &format!("/admin/users?after={cursor}"),
                Some(&root.access_token),
            )
            .await;

        let problem = assert_problem(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert!(problem["errors"]["after"].is_array(), "{micros}: {problem}");
    }
    // The earliest and latest cursors the bound lets through still list.
    for micros in [-62_135_596_800_000_000_i64, 253_402_300_799_999_999] {
        let cursor =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{micros}.{id}"));
        let response = app
            .get(
                &format!("/admin/users?after={cursor}"),
                Some(&root.access_token),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{micros}");
    }
}

#[actix_web::test]
async fn users_can_be_searched_and_filtered() {
    let app = spawn_app().await;
    let root = app.signed_in_admin("root").await;
    app.seed_user("Ada_Lovelace").await;
    app.seed_user("grace").await;
    app.register("percent", "100%sure@example.com", STRONG_PASSWORD)
        .await;
    app.sql("UPDATE users SET disabled = TRUE WHERE username = 'grace'")
        .await;

    let search = |query: &'static str| list_users(&app, &root.access_token, query);

    assert_eq!(usernames(&search("q=LOVE").await), ["Ada_Lovelace"]);
    assert_eq!(usernames(&search("q=grace%40EXAMPLE").await), ["grace"]);
    assert_eq!(
        usernames(&search("q=%25").await),
        ["percent"],
        "% is literal"
    );
    assert_eq!(usernames(&search("role=admin").await), ["root"]);
    assert_eq!(usernames(&search("disabled=true").await), ["grace"]);
    let enabled = search("disabled=false&role=user").await;
    assert_eq!(enabled["total"], 2);
}

#[actix_web::test]
async fn one_user_can_be_read_and_unknown_or_malformed_ids_are_not_found() {
    let app = spawn_app().await;
    let root = app.signed_in_admin("root").await;
    let ada = app.signed_up("ada").await;

    let found: Value = app
        .get(
            &format!("/admin/users/{}", ada.id),
            Some(&root.access_token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["username"], "ada");
    assert!(found["last_login_at"].is_string());

    for id in [uuid::Uuid::new_v4().to_string(), "not-a-uuid".to_owned()] {
        let response = app
            .get(&format!("/admin/users/{id}"), Some(&root.access_token))
            .await;
        assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
        let patched = patch_user(&app, &root.access_token, &id, json!({"disabled": true})).await;
        assert_problem(patched, StatusCode::NOT_FOUND, "not_found").await;
        let deleted = delete_user(&app, &root.access_token, &id).await;
        assert_problem(deleted, StatusCode::NOT_FOUND, "not_found").await;
    }
}

#[actix_web::test]
async fn promotion_ends_the_old_session_and_a_new_login_reaches_the_dashboard() {
    let app = spawn_app().await;
    let root = app.signed_in_admin("root").await;
    let ada = app.signed_up("ada").await;

    let promoted = patch_user(&app, &root.access_token, &ada.id, json!({"role": "admin"})).await;

    assert_eq!(promoted.status(), StatusCode::OK);
    let body: Value = promoted.json().await.unwrap();
    assert_eq!(body["role"], "admin");
    let old = app.get("/me", Some(&ada.access_token)).await;
    assert_problem(old, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let fresh = app.logged_in(&ada.email, STRONG_PASSWORD).await;
    assert_eq!(fresh["user"]["role"], "admin");
    assert_eq!(
        crate::helpers::jwt_parts(fresh["access_token"].as_str().unwrap()).1["role"],
        "admin"
    );
    assert_eq!(
        app.get("/admin", fresh["access_token"].as_str())
            .await
            .status(),
        StatusCode::OK
    );
}

#[actix_web::test]
async fn a_demoted_admins_token_stops_working_at_once() {
    let app = spawn_app().await;
    let root = app.signed_in_admin("root").await;
    let second = app.signed_in_admin("second").await;

    let demoted = patch_user(
        &app,
        &root.access_token,
        &second.id,
        json!({"role": "user"}),
    )
    .await;

    assert_eq!(demoted.status(), StatusCode::OK);
    let refused = app.get("/admin", Some(&second.access_token)).await;
    assert_problem(refused, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let fresh = app.logged_in(&second.email, STRONG_PASSWORD).await;
    let forbidden = app.get("/admin", fresh["access_token"].as_str()).await;
    assert_problem(forbidden, StatusCode::FORBIDDEN, "forbidden").await;
}

#[actix_web::test]
async fn disabling_ends_sessions_and_blocks_login_until_enabled_again() {
    let app = spawn_app().await;
    let root = app.signed_in_admin("root").await;
    let ada = app.signed_up("ada").await;

    let disabled = patch_user(&app, &root.access_token, &ada.id, json!({"disabled": true})).await;
    assert_eq!(disabled.status(), StatusCode::OK);
    assert_eq!(disabled.json::<Value>().await.unwrap()["disabled"], true);

    let me = app.get("/me", Some(&ada.access_token)).await;
    assert_problem(me, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let refresh = app.refresh(&ada.refresh_token).await;
    assert_problem(refresh, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let wrong = app
        .login(&json!({"email": ada.email, "password": "not the password"}))
        .await;
    assert_problem(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let right = app
        .login(&json!({"email": ada.email, "password": STRONG_PASSWORD}))
        .await;
    assert_problem(right, StatusCode::FORBIDDEN, "account_disabled").await;

    let enabled = patch_user(
        &app,
        &root.access_token,
        &ada.id,
        json!({"disabled": false}),
    )
    .await;
    assert_eq!(enabled.status(), StatusCode::OK);
    app.logged_in(&ada.email, STRONG_PASSWORD).await;
}

#[actix_web::test]
async fn a_patch_with_unknown_fields_or_bad_values_is_refused() {
    let app = spawn_app().await;
    let root = app.signed_in_admin("root").await;
    let ada = app.signed_up("ada").await;
    for body in [
        json!({"role": "superuser"}),
        json!({"email": "x@example.com"}),
        json!({"disabled": "yes"}),
    ] {
        let response = patch_user(&app, &root.access_token, &ada.id, body).await;
        assert_problem(response, StatusCode::BAD_REQUEST, "malformed_request").await;
    }
    assert_eq!(
        app.get("/me", Some(&ada.access_token)).await.status(),
        StatusCode::OK
    );
}

#[actix_web::test]
async fn the_last_admin_can_be_neither_demoted_nor_disabled_nor_deleted() {
    let app = spawn_app().await;
    let root = app.signed_in_admin("root").await;

    for body in [json!({"role": "user"}), json!({"disabled": true})] {
        let response = patch_user(&app, &root.access_token, &root.id, body).await;
        assert_problem(response, StatusCode::CONFLICT, "last_admin").await;
    }
    let deleted = delete_user(&app, &root.access_token, &root.id).await;
    assert_problem(deleted, StatusCode::CONFLICT, "last_admin").await;
    let own = app
        .delete_json(
            "/account",
            &root.access_token,
            &json!({"password": STRONG_PASSWORD}),
        )
        .await;
    assert_problem(own, StatusCode::CONFLICT, "last_admin").await;
    assert_eq!(
        app.get("/admin", Some(&root.access_token)).await.status(),
        StatusCode::OK
    );

    let second = app.signed_in_admin("second").await;
    let now_allowed = patch_user(
        &app,
        &root.access_token,
        &second.id,
        json!({"disabled": true}),
    )
    .await;
    assert_eq!(now_allowed.status(), StatusCode::OK);
    let again = patch_user(&app, &root.access_token, &root.id, json!({"role": "user"})).await;
    assert_problem(again, StatusCode::CONFLICT, "last_admin").await;
}

#[actix_web::test]
async fn two_admins_demoting_each_other_at_once_leave_exactly_one() {
    let app = spawn_app().await;
    let root = app.signed_in_admin("root").await;
    let second = app.signed_in_admin("second").await;

    let responses = join_all([
        patch_user(
            &app,
            &root.access_token,
            &second.id,
            json!({"role": "user"}),
        ),
        patch_user(
            &app,
            &second.access_token,
            &root.id,
            json!({"role": "user"}),
        ),
    ])
    .await;

    let mut statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    statuses.sort_unstable();
    // The loser is refused either as the last admin or, if the winner's change
    // ended its session first, as an invalid token.
    assert!(
        statuses == [200, 409] || statuses == [200, 401],
        "{statuses:?}"
    );
    let admins = app
        .count("users", "role = 'admin' AND disabled = FALSE")
        .await;
    assert_eq!(admins, 1);
}

#[actix_web::test]
async fn an_admin_can_delete_an_account_with_its_sessions() {
    let app = spawn_app().await;
    let root = app.signed_in_admin("root").await;
    let ada = app.signed_up("ada").await;

    let response = delete_user(&app, &root.access_token, &ada.id).await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let me = app.get("/me", Some(&ada.access_token)).await;
    assert_problem(me, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let gone = app
        .get(
            &format!("/admin/users/{}", ada.id),
            Some(&root.access_token),
        )
        .await;
    assert_problem(gone, StatusCode::NOT_FOUND, "not_found").await;
    let sessions = app
        .count("sessions", &format!("user_id = '{}'", ada.id))
        .await;
    assert_eq!(sessions, 0);
}

/// A password hash for seeded accounts (nobody logs in as them).
const SEEDED_PASSWORD_HASH: &str =
    "$argon2id$v=19$m=4096,t=1,p=1$c2VlZHNlZWRzZWVk$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// Seeds `count` accounts straight into the database (as `portcullis
/// seed-users` does), numbered from `first`.
async fn seed(app: &TestApp, first: i64, count: i64) {
    let newest = chrono::Utc::now().naive_utc() - chrono::Duration::days(1);
    app.state
        .db
        .transaction(move |conn| {
            Ok::<_, portcullis::db::StoreError>(portcullis::db::bench::seeding::seed(
                conn,
                "seeded",
                first,
                count,
                SEEDED_PASSWORD_HASH,
                newest,
            )?)
        })
        .await
        .expect("seeded");
}

#[actix_web::test]
async fn keyset_paging_walks_every_account_once_and_totals_stay_exact_when_small() {
    let app = spawn_app().await;
    let root = app.signed_in_admin("root").await;
    seed(&app, 1, 45).await;
    let mut seen = std::collections::BTreeSet::new();
    let mut path = "/admin/users?per_page=20".to_owned();
    let mut pages = 0;
    loop {
        let page: Value = app
            .get(&path, Some(&root.access_token))
            .await
            .json()
            .await
            .unwrap();
        pages += 1;
        assert_eq!(page["total"], 46);
        assert_eq!(page["total_estimated"], false);
        for item in page["items"].as_array().unwrap() {
            assert!(
                seen.insert(item["id"].as_str().unwrap().to_owned()),
                "twice: {item}"
            );
        }
        match page["next_after"].as_str() {
            Some(after) => path = format!("/admin/users?per_page=20&after={after}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 46);
    assert_eq!(pages, 3);

    let both = app
        .get("/admin/users?page=2&after=x", Some(&root.access_token))
        .await;
    assert_problem(both, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let forged = app
        .get(
            "/admin/users?after=bm90LWEtY3Vyc29y",
            Some(&root.access_token),
        )
        .await;
    let problem = assert_problem(
        forged,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert!(problem["errors"]["after"].is_array());
}

/// A filtered listing with few matches is cut from their keys in the server:
/// its pages, by cursor and by number, follow the database's order of the
/// whole listing.
#[actix_web::test]
async fn filtered_pages_follow_the_listing_order_by_cursor_and_by_number() {
    let app = spawn_app().await;
    let root = app.signed_in_admin("root").await;
    seed(&app, 1, 45).await;
    let ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let whole = list_users(&app, &root.access_token, "per_page=100").await;
    let expected: Vec<String> = whole["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|item| item["username"].as_str().unwrap().starts_with("seeded"))
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(expected.len(), 45);

    let mut by_cursor = Vec::new();
    let mut path = "/admin/users?q=seeded&per_page=20".to_owned();
    loop {
        let page: Value = app
            .get(&path, Some(&root.access_token))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            (page["total"].as_i64(), page["total_estimated"].as_bool()),
            (Some(45), Some(false))
        );
        by_cursor.extend(ids(&page));
        match page["next_after"].as_str() {
            Some(after) => path = format!("/admin/users?q=seeded&per_page=20&after={after}"),
            None => break,
        }
    }
    assert_eq!(by_cursor, expected);

    let mut by_number = Vec::new();
    for number in 1..=3 {
        let page: Value = app
            .get(
                &format!("/admin/users?q=seeded&per_page=20&page={number}"),
                Some(&root.access_token),
            )
            .await
            .json()
            .await
            .unwrap();
        by_number.extend(ids(&page));
    }
    assert_eq!(by_number, expected);
}

#[actix_web::test]
async fn large_lists_report_an_estimated_total_instead_of_counting_every_row() {
    let app = spawn_app().await;
    let root = app.signed_in_admin("root").await;
    seed(&app, 1, 12_000).await;
    // Contains the rare part of `seeded1177` that PostgreSQL's trigram index
    // is asked for past 10,000 accounts (`d1177` or `ed1177`), but not the
    // term: the whole term is still checked on what the index returns.
    app.seed_user("seed1177").await;
    // PostgreSQL's estimate comes from its statistics (autovacuum keeps them).
    app.sql("ANALYZE users").await;

    let all = list_users(&app, &root.access_token, "").await;
    assert_eq!(all["total_estimated"], true, "{}", all["total"]);
    let estimate = all["total"].as_i64().unwrap();
    assert!((11_000..=13_000).contains(&estimate), "{estimate}");

    let broad = list_users(&app, &root.access_token, "q=seeded").await;
    assert_eq!(broad["total_estimated"], true);
    assert_eq!(broad["total"], 10_001);
    assert_eq!(broad["items"].as_array().unwrap().len(), 20);

    let narrow = list_users(&app, &root.access_token, "q=seeded1177").await;
    // seeded1177 and seeded11770 … seeded11779.
    assert_eq!(narrow["total_estimated"], false);
    assert_eq!(narrow["total"], 11);

    // With filters that many accounts pass, and with ones that few pass.
    let get = |query: &'static str| list_users(&app, &root.access_token, query);
    let narrow_users = get("q=seeded1177&role=user&disabled=false").await;
    assert_eq!(narrow_users["total"], 11);
    assert_eq!(get("q=seeded1177&role=admin").await["total"], 0);
    assert_eq!(get("q=seeded&disabled=true").await["total"], 0);
    let admins = get("role=admin").await;
    assert_eq!(admins["total"], 1);
    assert_eq!(admins["items"][0]["username"], "root");
    let enabled = get("role=user&disabled=false&per_page=3").await;
    assert_eq!(enabled["total_estimated"], true);
    assert_eq!(enabled["total"], 10_001);
    // Newest first: the account registered last, then seeded1, seeded2.
    assert_eq!(usernames(&enabled), ["seed1177", "seeded1", "seeded2"]);
}

#[actix_web::test]
async fn search_follows_renames_address_changes_and_deletes_by_any_writer() {
    let app = spawn_app().await;
    let root = app.signed_in_admin("root").await;
    let alpha = app.seed_user("alpha_one").await;
    app.seed_user("bravo_two").await;
    let found = |query: &'static str| {
        let search = format!("q={query}");
        let (app, token) = (&app, &root.access_token);
        async move { usernames(&list_users(app, token, &search).await) }
    };
    assert_eq!(found("alpha").await, ["alpha_one"]);

    // Changed behind the service's back: SQLite's index is kept by triggers.
    app.sql("UPDATE users SET username = 'charlie_three' WHERE username = 'alpha_one'")
        .await;
    app.sql("UPDATE users SET email = 'delta@example.org' WHERE username = 'bravo_two'")
        .await;
    assert_eq!(found("charlie").await, ["charlie_three"]);
    // Still found by its address, alpha_one@example.com.
    assert_eq!(found("alpha").await, ["charlie_three"]);
    assert!(found("alpha_one_").await.is_empty());
    assert_eq!(found("delta%40example").await, ["bravo_two"]);
    assert!(found("bravo_two%40").await.is_empty());

    let deleted = delete_user(&app, &root.access_token, &alpha).await;
    assert_eq!(deleted.status(), 204);
    if crate::helpers::backend() == crate::helpers::Backend::Sqlite {
        // VACUUM may renumber the rowids of a table without an INTEGER
        // PRIMARY KEY; the index must not follow them to other accounts.
        app.sql("VACUUM").await;
    }
    app.seed_user("echo_four").await;
    assert!(found("charlie").await.is_empty());
    assert_eq!(found("echo_f").await, ["echo_four"]);
    assert_eq!(found("bravo").await, ["bravo_two"]);
    // Quotes and the index's query syntax are only characters of the term.
    assert!(found("bravo%22%20OR%20%22echo").await.is_empty());
    assert!(found("%22%22%22").await.is_empty());
    assert!(found("NEAR(ech%20o)*").await.is_empty());
}

#[actix_web::test]
async fn accounts_created_before_the_search_index_are_found_after_upgrading() {
    use diesel::{Connection as _, PgConnection, SqliteConnection};
    use diesel_migrations::{FileBasedMigrations, MigrationHarness};
    use portcullis::db::DbConnection;
    let database = crate::helpers::TestDatabase::create();
    let backend = crate::helpers::backend();
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(match backend {
        crate::helpers::Backend::Sqlite => "migrations/sqlite",
        crate::helpers::Backend::Postgres => "migrations/postgres",
    });
    let migrations = FileBasedMigrations::from_path(folder).unwrap();
    let mut conn = match backend {
        crate::helpers::Backend::Sqlite => DbConnection::Sqlite(
            SqliteConnection::establish(database.url.trim_start_matches("sqlite://")).unwrap(),
        ),
        crate::helpers::Backend::Postgres => {
            DbConnection::Postgresql(PgConnection::establish(&database.url).unwrap())
        }
    };
    // The schema as it was before migration 000008, with accounts in it.
    loop {
        let applied = match &mut conn {
            DbConnection::Sqlite(sqlite) => sqlite.run_next_migration(migrations.clone()),
            DbConnection::Postgresql(pg) => pg.run_next_migration(migrations.clone()),
        }
        .unwrap();
        if applied.to_string() == "20261126000007" {
            break;
        }
    }
    let newest = chrono::Utc::now().naive_utc() - chrono::Duration::days(1);
    portcullis::db::bench::seeding::seed(&mut conn, "older", 1, 12, SEEDED_PASSWORD_HASH, newest)
        .unwrap();
    drop(conn);

    let app = crate::helpers::spawn_app_on(database).await;
    let root = app.signed_in_admin("root").await;
    let older = list_users(&app, &root.access_token, "q=older1").await;
    // older1, older10, older11, older12.
    assert_eq!(older["total"], 4, "{older}");
    let exact = list_users(&app, &root.access_token, "q=older12%40example").await;
    assert_eq!(exact["items"][0]["username"], "older12");
    assert_eq!(exact["total"], 1);
}

#[actix_web::test]
async fn admin_search_has_its_indexes() {
    let app = spawn_app().await;
    let (table, column, names) = match crate::helpers::backend() {
        // The trigram indexes that make substring search fast at millions
        // of accounts (the test cluster allows CREATE EXTENSION).
        crate::helpers::Backend::Postgres => (
            "pg_indexes",
            "indexname",
            &[
                "users_username_trgm_idx",
                "users_email_trgm_idx",
                "users_disabled_idx",
                "users_second_factor_idx",
            ][..],
        ),
        // The full-text index (an FTS5 table with trigram tokens) and
        // what keeps it in step with the accounts.
        crate::helpers::Backend::Sqlite => (
            "sqlite_master",
            "name",
            &[
                "users_disabled_idx",
                "users_second_factor_idx",
                "users_search",
                "users_search_row_key",
                "users_search_insert",
                "users_search_update",
                "users_search_delete",
            ][..],
        ),
    };
    for name in names {
        assert_eq!(
            app.count(table, &format!("{column} = '{name}'")).await,
            1,
            "{name}"
        );
    }
}

#[actix_web::test]
async fn sqlite_answers_searches_of_three_characters_or_more_from_its_full_text_index() {
    if crate::helpers::backend() != crate::helpers::Backend::Sqlite {
        return;
    }
    let app = spawn_app().await;
    let root = app.signed_in_admin("root").await;
    app.seed_user("foxtrot").await;
    let total = |query: &'static str| {
        let search = format!("q={query}");
        let (app, token) = (&app, &root.access_token);
        async move { list_users(app, token, &search).await["total"].as_i64() }
    };
    assert_eq!(total("foxt").await, Some(1));
    // Emptied, the index finds nothing: it, not a scan, answered. Terms too
    // short for a trigram still scan.
    app.sql("INSERT INTO users_search (users_search) VALUES ('delete-all')")
        .await;
    assert_eq!(total("foxt").await, Some(0));
    assert_eq!(total("fo").await, Some(1));
}
