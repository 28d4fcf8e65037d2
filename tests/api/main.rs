//! HTTP tests against the real application and a real database (SQLite by
//! default; `PORTCULLIS_TEST_DATABASE=postgres` for PostgreSQL).

mod abuse;
mod account;
mod admin;
mod admin_users;
mod audit;
mod cluster;
mod cookies;
mod edge;
mod email_login;
mod hardening;
mod health;
mod helpers;
mod keys;
mod login;
mod me;
mod metrics;
mod mfa;
mod oauth;
mod passkeys;
mod project;
mod providers;
mod recovery;
mod register;
mod sessions;
mod ui;
