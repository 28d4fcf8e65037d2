//! The test harness. [`spawn_app`] (or [`spawn_app_with`], with typed changes
//! to the settings) builds the real application through the same
//! `Application::build_with_clock` as the binary, on a random port, against a
//! fresh database of its own, with a [`ManualClock`] the test can advance
//! instead of sleeping. [`TestApp`] talks HTTP to it, seeds accounts directly
//! through the application's own use-cases, and reads the database through the
//! application's pool.
//!
//! The backend comes from `PORTCULLIS_TEST_DATABASE`: `sqlite` (default; a file
//! in a temporary directory) or `postgres` (a new database on the server named by
//! `PORTCULLIS_TEST_POSTGRES_URL`, dropped when the test ends).

use std::path::PathBuf;
use std::sync::Arc;

use actix_web::web;
use aws_lc_rs::signature::Ed25519KeyPair;
use clap::Parser;
use diesel::{Connection as _, PgConnection, RunQueryDsl as _};
use portcullis::clock::ManualClock;
use portcullis::config::Settings;
use portcullis::service::accounts::{self, NewAccount};
use portcullis::service::caller::ClientInfo;
use portcullis::startup::Application;
use portcullis::state::AppState;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

pub const STRONG_PASSWORD: &str = "correct horse battery staple";

/// The shipped defaults, whatever this process's environment says.
#[derive(Parser)]
#[command(args_override_self = true)]
struct Defaults {
    #[command(flatten)]
    settings: Settings,
}

/// Which database the suite runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn backend() -> Backend {
    match std::env::var("PORTCULLIS_TEST_DATABASE").as_deref() {
        Ok("postgres") => Backend::Postgres,
        Ok("sqlite") | Err(_) => Backend::Sqlite,
        Ok(other) => panic!("PORTCULLIS_TEST_DATABASE must be sqlite or postgres, not {other}"),
    }
}

/// `PORTCULLIS_TEST_PGBOUNCER_URL` (a URL with a database name, like
/// `postgres://postgres@127.0.0.1:6432/postgres`): run the app through a
/// PgBouncer in transaction mode (`scripts/pgbouncer`), as `.ci/run` does.
pub fn pgbouncer_url() -> Option<String> {
    std::env::var("PORTCULLIS_TEST_PGBOUNCER_URL")
        .ok()
        .filter(|url| !url.is_empty())
}

fn postgres_admin_url() -> String {
    std::env::var("PORTCULLIS_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database that exists for one test only.
pub struct TestDatabase {
    pub url: String,
    postgres_name: Option<String>,
    pub dir: tempfile::TempDir,
}

impl TestDatabase {
    pub fn create() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        match backend() {
            Backend::Sqlite => Self {
                url: format!("sqlite://{}", dir.path().join("portcullis.db").display()),
                postgres_name: None,
                dir,
            },
            Backend::Postgres => {
                let name = format!("portcullis_test_{}", uuid::Uuid::new_v4().simple());
                let admin_url = postgres_admin_url();
                let mut admin = PgConnection::establish(&admin_url)
                    .expect("PostgreSQL must be reachable at PORTCULLIS_TEST_POSTGRES_URL");
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .expect("create the test database");
                // The app may reach the database through PgBouncer (the
                // database itself is made and dropped directly).
                let app_url = pgbouncer_url().unwrap_or_else(|| admin_url.clone());
                let base = app_url
                    .rsplit_once('/')
                    .map_or(app_url.as_str(), |(base, _)| base);
                Self {
                    url: format!("{base}/{name}"),
                    postgres_name: Some(name),
                    dir,
                }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(name) = &self.postgres_name
            && let Ok(mut admin) = PgConnection::establish(&postgres_admin_url())
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin);
        }
    }
}

/// A fresh Ed25519 signing key as a PKCS#8 PEM file in `dir`.
pub fn write_signing_key(dir: &std::path::Path, name: &str) -> PathBuf {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let document = Ed25519KeyPair::generate_pkcs8(&rng).expect("generate a key");
    let path = dir.join(name);
    std::fs::write(
        &path,
        pem::encode(&pem::Pem::new("PRIVATE KEY", document.as_ref().to_vec())),
    )
    .expect("write the key");
    path
}

/// One RSA key for every app of this test binary: generating a 2048-bit
/// key takes a noticeable fraction of a second, too much for each test.
pub fn shared_rsa_key() -> PathBuf {
    static KEY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        use std::os::unix::fs::PermissionsExt as _;
        let path = std::env::temp_dir().join(format!(
            "portcullis-test-oauth-rsa-{}.pem",
            std::process::id()
        ));
        let pem = portcullis::auth::oauth_tokens::generate_rsa_pem().expect("an RSA key");
        std::fs::write(&path, pem).expect("write the RSA key");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .expect("chmod the RSA key");
        path
    })
    .clone()
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub database: TestDatabase,
    pub signing_key: PathBuf,
    /// The application's clock: `app.clock.advance(…)` moves its time.
    pub clock: ManualClock,
    /// The settings the app runs with (a second node starts from them).
    pub settings: Settings,
    pub state: web::Data<AppState>,
    /// `http://127.0.0.1:PORT` of the metrics listener, with `METRICS_BIND_ADDR` set.
    pub metrics_address: Option<String>,
}

/// A data encryption key file in `dir` (made once, then reused), owner-only.
pub fn write_data_key(dir: &std::path::Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join("data.key");
    if !path.exists() {
        let key = portcullis::auth::encryption::generate_key().expect("a data key");
        std::fs::write(&path, key).expect("write the data key");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .expect("chmod the data key");
    }
    path
}

/// Starts the app with test defaults (cheap argon2 so the suite stays fast).
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the app with the test defaults changed by `configure`.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    start_on(TestDatabase::create(), configure).await
}

/// Starts the app on `database`, which may already hold a schema and data:
/// it is migrated on start, as the binary does.
pub async fn spawn_app_on(database: TestDatabase) -> TestApp {
    start_on(database, |_| {}).await
}

async fn start_on(database: TestDatabase, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let signing_key = write_signing_key(database.dir.path(), "signing.pem");
    let mut settings = test_settings(&database.url, &signing_key);
    configure(&mut settings);
    let clock = ManualClock::new();
    let (address, state, metrics_address) = start(&settings, &clock).await;
    TestApp {
        address,
        metrics_address,
        client: client(),
        database,
        signing_key,
        clock,
        settings,
        state,
    }
}

/// The test defaults: the given database and signing key, any free local
/// port, a cheap argon2 cost and a short database timeout.
pub fn test_settings(database_url: &str, signing_key: &std::path::Path) -> Settings {
    let mut settings = Defaults::try_parse_from(["portcullis"])
        .expect("the defaults parse")
        .settings;
    settings.bind_addr = "127.0.0.1:0".to_owned();
    settings.database.database_url =
        portcullis::db::DatabaseUrl::parse(database_url).expect("a valid database URL");
    settings.database.database_timeout = 1;
    if pgbouncer_url().is_some() {
        settings.database.database_pool_mode = portcullis::config::PoolMode::Transaction;
    }
    settings.tokens.jwt_private_key_file = Some(signing_key.to_path_buf());
    settings.oauth.oauth_rsa_key_file = Some(shared_rsa_key());
    let key_dir = signing_key
        .parent()
        .expect("the signing key is in a directory");
    settings.encryption.data_encryption_key_file = Some(write_data_key(key_dir));
    settings.passwords.argon2_memory_kib = 4096;
    settings.passwords.argon2_iterations = 1;
    // Retries become due when a test moves the clock; look for them often.
    settings.mail.mail_poll_interval_ms = 50;
    settings
}

/// Builds and starts the application as the binary does; returns its address.
async fn start(
    settings: &Settings,
    clock: &ManualClock,
) -> (String, web::Data<AppState>, Option<String>) {
    let application = Application::build_with_clock(settings, Arc::new(clock.clone()))
        .await
        .expect("the application starts");
    let address = format!("http://127.0.0.1:{}", application.port());
    let metrics_address = application
        .metrics_port()
        .map(|port| format!("http://127.0.0.1:{port}"));
    let state = application.state();
    actix_web::rt::spawn(application.run_until_stopped());
    (address, state, metrics_address)
}

/// Serves `settings` without migrating or checking anything first (for a
/// database that is not there yet); returns the base address.
pub fn serve_unchecked(settings: &Settings) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let port = listener.local_addr().expect("local address").port();
    let state = AppState::new(settings).expect("application state");
    let server = portcullis::startup::serve(
        listener,
        web::Data::new(state),
        settings.guards.shutdown_timeout,
    )
    .expect("server starts");
    actix_web::rt::spawn(server);
    format!("http://127.0.0.1:{port}")
}

pub fn client() -> reqwest::Client {
    // reqwest is built without a TLS provider of its own (see Cargo.toml).
    portcullis::auth::providers::install_tls_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client")
}

/// A registered user and a logged-in session.
pub struct Account {
    pub id: String,
    pub email: String,
    pub access_token: String,
    pub refresh_token: String,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request sent")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn delete_json(&self, path: &str, token: &str, body: &Value) -> Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn register(&self, username: &str, email: &str, password: &str) -> Response {
        self.post_json(
            "/register",
            &json!({"username": username, "email": email, "password": password}),
        )
        .await
    }

    pub async fn login(&self, body: &Value) -> Response {
        self.post_json("/login", body).await
    }

    /// Registers `username` (email `username@example.com`) and logs in.
    pub async fn signed_up(&self, username: &str) -> Account {
        let email = format!("{username}@example.com");
        let registered = self.register(username, &email, STRONG_PASSWORD).await;
        assert_eq!(
            registered.status(),
            StatusCode::CREATED,
            "register {username}"
        );
        let user: Value = registered.json().await.expect("user JSON");
        let tokens = self.logged_in(&email, STRONG_PASSWORD).await;
        Account {
            id: user["id"].as_str().expect("id").to_owned(),
            email,
            access_token: tokens["access_token"].as_str().expect("access").to_owned(),
            refresh_token: tokens["refresh_token"]
                .as_str()
                .expect("refresh")
                .to_owned(),
        }
    }

    /// Logs in by email and returns the token pair.
    pub async fn logged_in(&self, email: &str, password: &str) -> Value {
        let response = self
            .login(&json!({"email": email, "password": password}))
            .await;
        assert_eq!(response.status(), StatusCode::OK, "login {email}");
        response.json().await.expect("token pair JSON")
    }

    /// Runs the real `portcullis create-admin` binary against this app's database.
    pub async fn create_admin(
        &self,
        username: &str,
        email: &str,
        password: &str,
    ) -> std::process::Output {
        run_cli(
            &[
                "create-admin",
                "--username",
                username,
                "--email",
                email,
                "--password-stdin",
                "--argon2-memory-kib",
                "4096",
                "--argon2-iterations",
                "1",
            ],
            &self.database.url,
            Some(&format!("{password}\n")),
        )
        .await
    }

    /// Inserts a user (email `username@example.com`, [`STRONG_PASSWORD`])
    /// through the application's own use-case, without HTTP; returns its id.
    pub async fn seed_user(&self, username: &str) -> String {
        accounts::sign_up(
            self.state.get_ref(),
            seed_account(username),
            &ClientInfo::default(),
        )
        .await
        .expect("the account is created")
        .id
        .to_string()
    }

    /// Inserts an admin as `create-admin` does, without running the binary.
    pub async fn seed_admin(&self, username: &str) -> String {
        accounts::create_admin(self.state.get_ref(), seed_account(username))
            .await
            .expect("the account is created")
            .id
            .to_string()
    }

    /// A seeded admin, logged in.
    pub async fn signed_in_admin(&self, username: &str) -> Account {
        self.seed_admin(username).await;
        let email = format!("{username}@example.com");
        let tokens = self.logged_in(&email, STRONG_PASSWORD).await;
        Account {
            id: tokens["user"]["id"].as_str().expect("id").to_owned(),
            email,
            access_token: tokens["access_token"].as_str().expect("access").to_owned(),
            refresh_token: tokens["refresh_token"]
                .as_str()
                .expect("refresh")
                .to_owned(),
        }
    }

    /// Signs arbitrary claims and headers with this app's key.
    pub fn forge(&self, header: jsonwebtoken::Header, claims: &Value) -> String {
        let pem = std::fs::read(&self.signing_key).expect("read key");
        let key = jsonwebtoken::EncodingKey::from_ed_pem(&pem).expect("Ed25519 key");
        jsonwebtoken::encode(&header, claims, &key).expect("sign")
    }

    /// Runs one SQL statement on this app's database, through the app's own
    /// pool (to arrange states the API cannot reach, such as a disabled
    /// account); returns the rows it changed.
    pub async fn sql(&self, statement: &str) -> usize {
        let statement = statement.to_owned();
        self.state
            .db
            .run(move |conn| {
                Ok::<_, portcullis::db::StoreError>(diesel::sql_query(statement).execute(conn)?)
            })
            .await
            .expect("SQL statement runs")
    }

    /// Runs one SQL statement the way the app writes (on SQLite, on the
    /// writer's own connection, in its next batch): for per-connection
    /// settings such as `PRAGMA max_page_count` that the app's writes must see.
    pub async fn sql_as_writer(&self, statement: &str) -> usize {
        let statement = statement.to_owned();
        self.state
            .db
            .write(move |conn| {
                Ok::<_, portcullis::db::StoreError>(diesel::sql_query(statement).execute(conn)?)
            })
            .await
            .expect("SQL statement runs")
    }

    /// On PostgreSQL, makes a race between `request` and another writer
    /// deterministic: `statements` run in a transaction of their own, held
    /// open while `request` runs until the request waits for a lock that
    /// transaction holds (seen in `pg_locks`); then it commits, and the
    /// request's answer is returned. Panics if the request finishes without
    /// ever waiting.
    pub async fn racing_a_held_write(
        &self,
        statements: &[&str],
        request: impl std::future::Future<Output = reqwest::Result<Response>> + Send + 'static,
    ) -> Response {
        use diesel::{Connection as _, RunQueryDsl as _};
        let mut other = diesel::PgConnection::establish(&self.database.url).unwrap();
        diesel::sql_query("BEGIN").execute(&mut other).unwrap();
        for statement in statements {
            diesel::sql_query(*statement).execute(&mut other).unwrap();
        }
        let mut pending = tokio::spawn(request);
        let waiting = async {
            let here = "NOT granted AND pid IN (SELECT pid FROM pg_stat_activity \
                        WHERE datname = current_database())";
            while self.count("pg_locks", here).await == 0 {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        };
        tokio::select! {
            () = waiting => {}
            done = &mut pending => panic!(
                "the request never waited for the other transaction: {:?}",
                done.map(|answer| answer.map(|answer| answer.status()))
            ),
        }
        diesel::sql_query("COMMIT").execute(&mut other).unwrap();
        pending.await.unwrap().unwrap()
    }

    /// How many rows of `table` meet `condition` (an SQL expression).
    pub async fn count(&self, table: &str, condition: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let query = format!("SELECT COUNT(*) AS n FROM {table} WHERE {condition}");
        self.state
            .db
            .run(move |conn| {
                Ok::<_, portcullis::db::StoreError>(
                    diesel::sql_query(query).get_result::<Count>(conn)?.n,
                )
            })
            .await
            .expect("count query runs")
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post_json("/token/refresh", &json!({"refresh_token": refresh_token}))
            .await
    }

    pub async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: &Value,
    ) -> Response {
        self.client
            .request(method, self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// `POST /logout` with no body.
    pub async fn logout(&self, token: &str) -> Response {
        self.client
            .post(self.url("/logout"))
            .bearer_auth(token)
            .send()
            .await
            .expect("request sent")
    }

    /// Starts another node on this app's database and clock, with this app's
    /// settings changed by `configure` (as after a restart with a new
    /// configuration, or a second node behind a load balancer); returns its
    /// address.
    pub async fn another_node(&self, configure: impl FnOnce(&mut Settings)) -> String {
        self.another_node_with_state(configure).await.0
    }

    /// [`TestApp::another_node`], with the node's state as well (to stop its
    /// mail sender, for one).
    pub async fn another_node_with_state(
        &self,
        configure: impl FnOnce(&mut Settings),
    ) -> (String, web::Data<AppState>) {
        let mut settings = self.settings.clone();
        configure(&mut settings);
        let (address, state, _) = start(&settings, &self.clock).await;
        (address, state)
    }
}

/// Stops a node's mail sender as SIGTERM does and waits (up to 20 s) until it
/// has stopped: every message it had begun to send is out by then, and it
/// sends nothing more.
pub async fn stop_mail_sender(state: &AppState) {
    state
        .draining
        .store(true, std::sync::atomic::Ordering::SeqCst);
    state.mail_wakeup.notify_one();
    let mut stopped = state.mail_sender_stopped.subscribe();
    tokio::time::timeout(
        std::time::Duration::from_secs(20),
        stopped.wait_for(|stopped| *stopped),
    )
    .await
    .expect("the mail sender stops")
    .expect("the node is still there");
}

/// Runs the `portcullis` binary with `DATABASE_URL` set and optional stdin.
pub async fn run_cli(
    args: &[&str],
    database_url: &str,
    stdin: Option<&str>,
) -> std::process::Output {
    run_cli_with_env(args, database_url, &[], stdin).await
}

/// [`run_cli`] with extra environment variables.
pub async fn run_cli_with_env(
    args: &[&str],
    database_url: &str,
    env: &[(&str, &str)],
    stdin: Option<&str>,
) -> std::process::Output {
    use tokio::io::AsyncWriteExt as _;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .envs(pgbouncer_url().map(|_| ("DATABASE_POOL_MODE", "transaction")))
        .envs(env.iter().copied())
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("portcullis binary runs");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        // The process may exit before reading (a usage error): ignore the broken pipe.
        let _ = input.write_all(text.as_bytes()).await;
    }
    drop(input);
    child.wait_with_output().await.expect("portcullis exits")
}

/// An `INSERT` of a verified account with no usable password, for a test's
/// other writer (`TestApp::racing_a_held_write`) to make on its own.
pub fn insert_account_sql(id: &str, username: &str, email: &str) -> String {
    format!(
        "INSERT INTO users (id, username, email, password_hash, role, disabled, created_at, \
         updated_at, email_verified, totp_enabled, recovery_codes_left, passkey_count, \
         has_password) VALUES ('{id}', '{username}', '{email}', 'x', 'user', false, \
         CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, true, false, 0, 0, false)"
    )
}

/// Asserts a problem+json answer with this status and code; returns the body.
pub async fn assert_problem(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status, "status for {code}");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("problem JSON");
    assert_eq!(body["code"], code, "body: {body}");
    assert_eq!(body["status"], status.as_u16());
    assert!(
        body["type"].is_string() && body["title"].is_string(),
        "body: {body}"
    );
    body
}

/// Decodes a JWT's header and claims without verifying (for shape checks).
pub fn jwt_parts(token: &str) -> (Value, Value) {
    use base64::Engine as _;
    let mut parts = token.split('.');
    let decode = |part: Option<&str>| -> Value {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part.expect("JWT part"))
            .expect("base64url");
        serde_json::from_slice(&bytes).expect("JSON")
    };
    let header = decode(parts.next());
    let claims = decode(parts.next());
    (header, claims)
}

/// Parses a comma-separated list of networks, as `TRUSTED_PROXIES` does.
pub fn networks(list: &str) -> Vec<ipnet::IpNet> {
    list.split(',')
        .map(|entry| {
            let entry = entry.trim();
            entry
                .parse::<ipnet::IpNet>()
                .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .expect("a network")
        })
        .collect()
}

/// A `redis-server` of this test's own on a free loopback port, stopped when
/// dropped. `None` (with a notice) when `redis-server` is not installed,
/// unless CI is set: there a missing Redis fails the test.
pub struct TestRedis {
    pub url: String,
    process: std::process::Child,
}

impl TestRedis {
    pub async fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let spawned = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        let process = match spawned {
            Ok(process) => process,
            Err(error) if services_required() => {
                panic!("CI needs redis-server on PATH for the Redis tests: {error}")
            }
            Err(_) => {
                eprintln!(
                    "skipped: this test needs redis-server on PATH (Debian/Ubuntu: apt-get install redis-server)"
                );
                return None;
            }
        };
        let redis = Self {
            url: format!("redis://127.0.0.1:{port}/"),
            process,
        };
        wait_for_listener(port, "redis-server").await;
        Some(redis)
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// A real SMTP server of this test's own (aiosmtpd, from Debian's
/// `python3-aiosmtpd` or PyPI) on a free loopback port, keeping every message
/// it receives in a Maildir; stopped when dropped. `None` (with a notice) when
/// aiosmtpd is not installed, unless CI is set.
pub struct TestSmtp {
    pub port: u16,
    python: String,
    maildir: tempfile::TempDir,
    process: Option<std::process::Child>,
}

impl TestSmtp {
    pub async fn start() -> Option<Self> {
        let python = ["/usr/bin/python3", "python3"].into_iter().find(|python| {
            std::process::Command::new(python)
                .args(["-c", "import aiosmtpd"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|status| status.success())
        });
        let Some(python) = python else {
            if services_required() {
                panic!("CI needs aiosmtpd (Debian: python3-aiosmtpd) for the mail tests");
            }
            eprintln!(
                "skipped: this test needs aiosmtpd (Debian/Ubuntu: apt-get install python3-aiosmtpd)"
            );
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let mut smtp = Self {
            port,
            python: python.to_owned(),
            maildir: tempfile::tempdir().expect("a maildir"),
            process: None,
        };
        smtp.resume().await;
        Some(smtp)
    }

    /// `MAIL_URL` for this server (plain SMTP on loopback).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=off", self.port)
    }

    /// Stops the server, as in an outage; [`TestSmtp::resume`] brings it back.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    /// Starts the server (again) on its port and waits until it answers.
    pub async fn resume(&mut self) {
        let process = std::process::Command::new(&self.python)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{}", self.port))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            // A path that does not exist yet: the Maildir is created there.
            .arg(self.maildir.path().join("maildir"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("aiosmtpd starts");
        self.process = Some(process);
        wait_for_listener(self.port, "aiosmtpd").await;
    }

    /// Every message received so far, raw, oldest first.
    pub fn messages(&self) -> Vec<String> {
        let new = self.maildir.path().join("maildir").join("new");
        let mut files: Vec<_> = std::fs::read_dir(&new)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|entry| entry.path())
                    .collect()
            })
            .unwrap_or_default();
        files.sort_by_key(|path| std::fs::metadata(path).and_then(|m| m.modified()).ok());
        files
            .iter()
            .filter_map(|path| std::fs::read_to_string(path).ok())
            .map(|raw| decode_quoted_printable(&raw))
            .collect()
    }

    /// Waits (up to 20 s) until `count` messages have arrived; returns them all.
    pub async fn wait_for(&self, count: usize) -> Vec<String> {
        let waited = tokio::time::timeout(std::time::Duration::from_secs(20), async {
            loop {
                let messages = self.messages();
                if messages.len() >= count {
                    return messages;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
        .await;
        waited.unwrap_or_else(|_| panic!("expected {count} messages, got {:?}", self.messages()))
    }
}

impl Drop for TestSmtp {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Undoes quoted-printable soft line breaks and the `=3D` escape, enough to
/// read a link out of a message.
fn decode_quoted_printable(raw: &str) -> String {
    raw.replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=")
}

/// The token of the first link in `message`.
pub fn token_in(message: &str) -> String {
    let start = message.find("token=").expect("a link with a token") + "token=".len();
    message[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// The recipient of a raw message.
pub fn recipient_of(message: &str) -> String {
    message
        .lines()
        .find_map(|line| line.strip_prefix("To: "))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// A TCP proxy on a free loopback port in front of `target`, which can be
/// frozen: while frozen it relays nothing in either direction (as a
/// SIGSTOPped server or a silent network path), and then resumes.
pub struct FreezableProxy {
    pub port: u16,
    frozen: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Connections accepted so far.
    accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    accepting: tokio::task::JoinHandle<()>,
}

impl FreezableProxy {
    pub async fn start(target: String) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("address").port();
        let frozen = std::sync::Arc::new(AtomicBool::new(false));
        let relay_frozen = frozen.clone();
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = accepted.clone();
        let accepting = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let Ok(server) = tokio::net::TcpStream::connect(target.as_str()).await else {
                    continue;
                };
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                for (mut from, mut to) in [
                    (
                        Box::new(client_read) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
                        Box::new(server_write) as Box<dyn tokio::io::AsyncWrite + Unpin + Send>,
                    ),
                    (Box::new(server_read), Box::new(client_write)),
                ] {
                    let frozen = relay_frozen.clone();
                    tokio::spawn(async move {
                        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
                        let mut buffer = vec![0u8; 16 * 1024];
                        loop {
                            let Ok(read) = from.read(&mut buffer).await else {
                                return;
                            };
                            if read == 0 {
                                return;
                            }
                            while frozen.load(Ordering::SeqCst) {
                                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                            }
                            if to.write_all(&buffer[..read]).await.is_err() {
                                return;
                            }
                        }
                    });
                }
            }
        });
        Self {
            port,
            frozen,
            accepted,
            accepting,
        }
    }

    /// How many connections have reached the proxy (frozen or not).
    pub fn connections(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn freeze(&self) {
        self.frozen.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn thaw(&self) {
        self.frozen
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for FreezableProxy {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

/// Waits for something another task does (a message delivered, a file
/// written): asks `check` until it answers, for up to 20 s, then fails
/// naming `what`. Not a timer: the test goes on as soon as it happened.
pub async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let waited = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            if let Some(found) = check().await {
                return found;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    waited.unwrap_or_else(|_| panic!("waited in vain for {what}"))
}

/// Under CI every test must run: a missing service fails instead of skipping.
fn services_required() -> bool {
    std::env::var("CI").is_ok_and(|value| !value.is_empty() && value != "false")
}

/// The TOTP code of `secret` (base32, as `POST /me/mfa/totp` gives it) at the
/// app's current time: what an authenticator app would show.
pub fn totp_code(app: &TestApp, secret: &str) -> String {
    use portcullis::clock::Clock as _;
    let bytes = base32::decode(base32::Alphabet::Rfc4648 { padding: false }, secret)
        .expect("the secret is base32");
    let now = u64::try_from(app.clock.now().and_utc().timestamp()).expect("after 1970");
    totp_rs::TOTP::new_unchecked(
        totp_rs::Algorithm::SHA1,
        6,
        0,
        30,
        bytes,
        None,
        String::new(),
    )
    .generate(now)
}

/// A real HAProxy (Debian's `haproxy`) on a free loopback port, balancing
/// round-robin over `backends` and naming the one that answered in
/// `X-Served-By`; stopped on drop. `None` (the test is skipped) when haproxy
/// is not installed, unless CI is set: there it fails.
pub struct TestHaproxy {
    pub url: String,
    process: std::process::Child,
    _config: tempfile::TempDir,
}

impl TestHaproxy {
    pub async fn start(backends: &[&str]) -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let servers: String = backends
            .iter()
            .enumerate()
            .map(|(index, url)| {
                let target = url.trim_start_matches("http://");
                format!("    server node{index} {target}\n")
            })
            .collect();
        let config = format!(
            "global\n    maxconn 1000\n\
             defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n\
             frontend portcullis\n    bind 127.0.0.1:{port}\n    default_backend nodes\n\
             backend nodes\n    balance roundrobin\n    http-response set-header X-Served-By %s\n{servers}"
        );
        let dir = tempfile::tempdir().expect("a config directory");
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, config).expect("write haproxy.cfg");
        let spawned = std::process::Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        let process = match spawned {
            Ok(process) => process,
            Err(error) if services_required() => {
                panic!("CI needs haproxy on PATH for the multi-node tests: {error}")
            }
            Err(_) => {
                eprintln!(
                    "skipped: this test needs haproxy on PATH (Debian/Ubuntu: apt-get install haproxy)"
                );
                return None;
            }
        };
        let proxy = Self {
            url: format!("http://127.0.0.1:{port}"),
            process,
            _config: dir,
        };
        wait_for_listener(port, "haproxy").await;
        Some(proxy)
    }
}

impl Drop for TestHaproxy {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// The audit events of `kind` for `user_id`, newest first, as `admin` reads them.
pub async fn events_of(app: &TestApp, admin: &Account, kind: &str, user_id: &str) -> Vec<Value> {
    let response = app
        .get(
            &format!("/admin/events?type={kind}&user_id={user_id}"),
            Some(&admin.access_token),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let page: Value = response.json().await.expect("events JSON");
    page["items"].as_array().expect("items").clone()
}

/// Waits (up to 5 s) until a service the test started accepts connections on
/// `port` of loopback.
pub async fn wait_for_listener(port: u16, what: &str) {
    for _ in 0..500 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{what} did not start listening on port {port}");
}

/// A connection to `database` with the project's migrations applied up to and
/// including `last` (a version such as `"20261126000008"`) and no further: the
/// schema an earlier release left, to put data in before [`spawn_app_on`]
/// upgrades it.
pub fn migrated_until(database: &TestDatabase, last: &str) -> portcullis::db::DbConnection {
    use diesel::SqliteConnection;
    use diesel_migrations::{FileBasedMigrations, MigrationHarness};
    use portcullis::db::DbConnection;
    let backend = backend();
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(match backend {
        Backend::Sqlite => "migrations/sqlite",
        Backend::Postgres => "migrations/postgres",
    });
    let migrations = FileBasedMigrations::from_path(folder).expect("the migrations");
    let mut conn = match backend {
        Backend::Sqlite => DbConnection::Sqlite(
            SqliteConnection::establish(database.url.trim_start_matches("sqlite://"))
                .expect("open the SQLite file"),
        ),
        Backend::Postgres => DbConnection::Postgresql(
            PgConnection::establish(&database.url).expect("connect to PostgreSQL"),
        ),
    };
    loop {
        let applied = match &mut conn {
            DbConnection::Sqlite(sqlite) => sqlite.run_next_migration(migrations.clone()),
            DbConnection::Postgresql(pg) => pg.run_next_migration(migrations.clone()),
        }
        .expect("the next migration applies");
        if applied.to_string() == last {
            return conn;
        }
    }
}

/// Checks `account`'s password, lets `meanwhile` change the account (add a
/// second factor, say), then tries to open the session the check allowed:
/// what `start_session` answers. (The hashing takes long enough for such a
/// change to commit in between for real.)
pub async fn start_session_after(
    app: &TestApp,
    account: &Account,
    meanwhile: impl AsyncFnOnce(),
) -> Result<(), portcullis::service::login::LoginError> {
    use portcullis::service::caller::ClientInfo;
    use portcullis::service::login::Identifier;
    use portcullis::service::sessions;
    let client = ClientInfo::default();
    let verified = sessions::verify_password(
        app.state.get_ref(),
        Identifier::Email(account.email.clone()),
        STRONG_PASSWORD.into(),
        &client,
    )
    .await
    .expect("the password is right");
    meanwhile().await;
    sessions::start_session(app.state.get_ref(), verified, false, &client)
        .await
        .map(|_| ())
}

/// A seed account's values: email `username@example.com`, [`STRONG_PASSWORD`].
fn seed_account(username: &str) -> NewAccount {
    let email = format!("{username}@example.com");
    NewAccount::parse(username, &email, STRONG_PASSWORD.into()).expect("valid seed account")
}

/// A real OpenID provider (`oidc-provider-mock` from PyPI: discovery,
/// RS256-signed ID tokens, a consent form) on a free loopback port, one for
/// the whole test binary (each test has its own app and database, and names
/// its own people; a Python start per test would load two cores for
/// nothing). Found at `PORTCULLIS_TEST_OIDC_PROVIDER` or on `PATH`; `None`
/// (with a notice) when it is not installed, unless CI is set (`.ci/run`
/// installs it). It is stopped when the test binary exits: a shell holds its
/// PID and kills it when the binary's end of a pipe closes.
pub struct TestOidcProvider {
    pub port: u16,
    _process: std::sync::Mutex<std::process::Child>,
}

static OIDC_PROVIDER: tokio::sync::OnceCell<Option<TestOidcProvider>> =
    tokio::sync::OnceCell::const_new();

impl TestOidcProvider {
    pub async fn start() -> Option<&'static Self> {
        OIDC_PROVIDER.get_or_init(Self::spawn).await.as_ref()
    }

    async fn spawn() -> Option<Self> {
        let program = std::env::var("PORTCULLIS_TEST_OIDC_PROVIDER")
            .ok()
            .filter(|path| !path.is_empty())
            .unwrap_or_else(|| "oidc-provider-mock".to_owned());
        let installed = if program.contains('/') {
            std::path::Path::new(&program).is_file()
        } else {
            std::env::var_os("PATH").is_some_and(|paths| {
                std::env::split_paths(&paths).any(|dir| dir.join(&program).is_file())
            })
        };
        if !installed {
            if services_required() {
                panic!("CI needs oidc-provider-mock ({program}); .ci/run installs it");
            }
            eprintln!(
                "skipped: this test needs oidc-provider-mock (pip install oidc-provider-mock, or set PORTCULLIS_TEST_OIDC_PROVIDER)"
            );
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        // The shell waits for the end of its standard input (this process's
        // pipe, open until the test binary exits), then kills the provider.
        let process = std::process::Command::new("sh")
            .args([
                "-c",
                r#""$0" -H 127.0.0.1 -p "$1" & provider=$!; while read -r _; do :; done; kill "$provider""#,
                &program,
                &port.to_string(),
            ])
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("sh starts");
        let provider = Self {
            port,
            _process: std::sync::Mutex::new(process),
        };
        let discovery = format!("{}/.well-known/openid-configuration", provider.issuer());
        eventually("the OpenID provider to start", async || {
            let answer = client().get(&discovery).send().await.ok()?;
            answer.status().is_success().then_some(())
        })
        .await;
        Some(provider)
    }

    /// The issuer as the provider names itself when reached directly.
    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Sets the claims of the person `subject` at the provider.
    pub async fn set_user(&self, subject: &str, claims: Value) {
        // A client of this call's own: the provider outlives each test's runtime.
        let answer = client()
            .put(format!("{}/users/{subject}", self.issuer()))
            .json(&claims)
            .send()
            .await
            .expect("the provider answers");
        assert!(answer.status().is_success(), "{}", answer.status());
    }

    /// Plays the person at the provider's authorization page: `subject`
    /// consents (or, with `None`, denies). Returns where the provider sends
    /// the browser back to (the callback URL with `code` and `state`).
    pub async fn consent(&self, authorization_url: &str, subject: Option<&str>) -> String {
        let form = match subject {
            Some(subject) => vec![("sub", subject)],
            None => vec![("action", "deny")],
        };
        let answer = client()
            .post(authorization_url)
            .form(&form)
            .send()
            .await
            .expect("the provider answers");
        assert!(answer.status().is_redirection(), "{}", answer.status());
        answer.headers()[reqwest::header::LOCATION]
            .to_str()
            .expect("a readable location")
            .to_owned()
    }
}
