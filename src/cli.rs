//! The command line: `serve` (the default), `migrate`, `create-admin`,
//! `client`, `healthcheck`, `openapi` and `config-reference`, and hidden benchmark helpers (`seed-users`, `hash-benchmark`,
//! `write-ceiling`, `empty-server`).

use std::io::BufRead as _;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};

use crate::config::{DatabaseSettings, LogFormat, PasswordSettings, Settings};
use crate::db::Database;
use crate::domain::{Email, Username};
use crate::service::accounts::{self, AdminBootstrap, CreateAdminError, ExistingAccount};
use crate::startup::Application;

#[derive(Debug, Parser)]
#[command(
    name = "portcullis",
    version,
    about = "Authentication API: JWT access tokens, rotating refresh tokens, JWKS, admin API."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations, then serve (the default).
    Serve(Box<Settings>),
    /// Apply pending migrations and exit.
    Migrate(DatabaseSettings),
    /// Create an admin; or promote the existing account with that email (verified) and username, given its password or --promote-existing.
    CreateAdmin(CreateAdminArgs),
    /// Register, list, delete OpenID clients (the apps that sign in through Portcullis), or give one a new secret.
    Client(Box<ClientArgs>),
    /// Ask the server at BIND_ADDR for GET /healthz and exit 0 when it answers 200 (the container image's HEALTHCHECK: the image has no curl).
    Healthcheck {
        /// Where the server listens; an unspecified address (0.0.0.0, ::) is asked on loopback.
        #[arg(long, env = "BIND_ADDR", default_value = "127.0.0.1:8080")]
        bind_addr: String,
        /// Seconds to wait for the connection and the answer.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=60))]
        timeout: u64,
    },
    /// Print the OpenAPI document to standard output.
    Openapi,
    /// Print the configuration reference (docs/configuration.md) to standard output.
    ConfigReference,
    /// Create many accounts at once for benchmarks (bench/seed.sh): one shared
    /// password hash, set-based inserts.
    #[command(hide = true)]
    SeedUsers(SeedArgs),
    /// Time one argon2id verification at the configured cost and print the
    /// login ceiling it implies (used by bench/run.sh).
    #[command(hide = true)]
    HashBenchmark {
        #[command(flatten)]
        passwords: PasswordSettings,
        #[arg(long, default_value_t = 20)]
        rounds: u32,
    },
    /// Measure the database's own write ceiling: single-row UPDATE
    /// transactions per second from CONNECTIONS connections (used by
    /// bench/run.sh beside the refresh figure).
    #[command(hide = true)]
    WriteCeiling {
        #[command(flatten)]
        database: DatabaseSettings,
        #[arg(long, default_value_t = 16)]
        connections: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Serve `GET /me` from an empty handler with the server's HTTP settings:
    /// the HTTP stack's own ceiling (used by bench/run.sh beside /me).
    #[command(hide = true)]
    EmptyServer {
        #[arg(long, default_value = "127.0.0.1:18791")]
        bind: String,
    },
}

#[derive(Debug, Args)]
pub struct SeedArgs {
    /// Accounts to create.
    #[arg(long)]
    pub count: i64,
    /// Number of the first one (`{prefix}{n}`, `{prefix}{n}@example.com`).
    #[arg(long, default_value_t = 1)]
    pub first: i64,
    #[arg(long, default_value = "user")]
    pub prefix: String,
    #[command(flatten)]
    pub database: DatabaseSettings,
    #[command(flatten)]
    pub passwords: PasswordSettings,
}

/// The password of every seeded account.
pub const SEEDED_PASSWORD: &str = "seeded password 1234";

#[derive(Debug, Args)]
pub struct ClientArgs {
    #[command(subcommand)]
    pub action: ClientAction,
    #[command(flatten)]
    pub database: DatabaseSettings,
    #[command(flatten)]
    pub passwords: PasswordSettings,
    #[command(flatten)]
    pub tokens: crate::config::TokenSettings,
}

#[derive(Debug, Subcommand)]
pub enum ClientAction {
    /// Register a client; prints it as JSON, with its secret (shown once) when confidential.
    Create {
        #[arg(long)]
        name: String,
        /// `public` (SPA, native app) or `confidential` (server).
        #[arg(long = "type")]
        client_type: String,
        /// A redirect URI (repeat for several).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// A post-logout redirect URI (repeat for several).
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// `authorization_code`, `refresh_token`, `client_credentials` (repeat; default the first two).
        #[arg(long = "grant-type")]
        grant_types: Vec<String>,
        /// A scope the client may ask for (repeat; default `openid profile email`).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Skip the consent screen.
        #[arg(long)]
        first_party: bool,
        /// `RS256` (default) or `EdDSA`.
        #[arg(long)]
        id_token_signed_response_alg: Option<String>,
    },
    /// Print every client as JSON lines.
    List,
    /// Delete a client and every grant it had.
    Delete { client_id: String },
    /// Give a confidential client a new secret (printed once); the old one stops working.
    RotateSecret { client_id: String },
}

#[derive(Debug, Args)]
pub struct CreateAdminArgs {
    #[arg(long)]
    pub username: String,
    #[arg(long)]
    pub email: String,
    /// Read the password as one line from standard input (required: passwords
    /// never go on the command line, where `ps` shows them).
    #[arg(long, required = true)]
    pub password_stdin: bool,
    /// Promote an existing account whose email is --email (verified, and named --username) without proving its password; without this flag the typed password must be that account's.
    #[arg(long)]
    pub promote_existing: bool,
    #[command(flatten)]
    pub database: DatabaseSettings,
    #[command(flatten)]
    pub passwords: PasswordSettings,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        // A bad variable is a usage error: clap says which, once, and exits 2.
        None => serve(Settings::from_env().unwrap_or_else(|error| error.exit())).await,
        Some(Command::Serve(settings)) => serve(*settings).await,
        Some(Command::Migrate(database)) => {
            crate::telemetry::init(LogFormat::Text);
            let db = Database::connect_lazily(&database.database_url, &database.pool_options());
            let applied = tokio::task::spawn_blocking(move || db.migrate()).await??;
            println!("applied {} migration(s)", applied.len());
            for migration in applied {
                println!("  {migration}");
            }
            Ok(())
        }
        Some(Command::CreateAdmin(args)) => {
            crate::telemetry::init(LogFormat::Text);
            let outcome = create_admin(args).await?;
            println!("{outcome}");
            Ok(())
        }
        Some(Command::Client(args)) => {
            let args = *args;
            crate::telemetry::init(LogFormat::Text);
            println!("{}", manage_clients(args).await?);
            Ok(())
        }
        Some(Command::Healthcheck { bind_addr, timeout }) => {
            let timeout = std::time::Duration::from_secs(timeout);
            tokio::task::spawn_blocking(move || probe_health(&bind_addr, timeout)).await?
        }
        Some(Command::Openapi) => {
            print!("{}", crate::web::openapi::document_json());
            Ok(())
        }
        Some(Command::ConfigReference) => {
            print!("{}", crate::config::reference());
            Ok(())
        }
        Some(Command::SeedUsers(args)) => seed_users(args).await,
        Some(Command::WriteCeiling {
            database,
            connections,
            seconds,
        }) => {
            let url = database.database_url.clone();
            let per_second = tokio::task::spawn_blocking(move || {
                crate::db::bench::ceiling::single_row_updates(
                    &url,
                    connections,
                    std::time::Duration::from_secs(seconds),
                )
            })
            .await??;
            println!(
                "single-row UPDATE transactions from {connections} connections: {per_second:.0}/s"
            );
            Ok(())
        }
        Some(Command::EmptyServer { bind }) => {
            let listener = std::net::TcpListener::bind(&bind)
                .with_context(|| format!("cannot listen on {bind}"))?;
            crate::startup::empty_server(listener)?.await?;
            Ok(())
        }
        Some(Command::HashBenchmark { passwords, rounds }) => {
            let (per_second, per_verify) =
                crate::auth::password::measure_verify(&passwords, rounds.max(1))?;
            println!(
                "argon2id m={} KiB t={} p={}: {:.2} ms per verification with {} running at once; ceiling {:.1} logins/s ({} fill)",
                passwords.argon2_memory_kib,
                passwords.argon2_iterations,
                passwords.argon2_parallelism,
                per_verify.as_secs_f64() * 1000.0,
                passwords.concurrency(),
                per_second,
                crate::auth::password::fill_backend(),
            );
            Ok(())
        }
    }
}

/// Creates the accounts in batches of 50,000 (one transaction each, well
/// within `DATABASE_TIMEOUT`), printing progress.
async fn seed_users(args: SeedArgs) -> anyhow::Result<()> {
    const BATCH: i64 = 50_000;
    let params = crate::auth::password::params(&args.passwords)?;
    let hash = crate::auth::password::hash_blocking(&params, SEEDED_PASSWORD)?;
    let db = Database::connect_lazily(&args.database.database_url, &args.database.pool_options());
    let newest = chrono::Utc::now().naive_utc();
    let started = std::time::Instant::now();
    let mut done = 0;
    while done < args.count {
        let (first, count) = (args.first + done, BATCH.min(args.count - done));
        let (prefix, hash) = (args.prefix.clone(), hash.clone());
        db.transaction(move |conn| {
            Ok::<_, crate::db::StoreError>(crate::db::bench::seeding::seed(
                conn, &prefix, first, count, &hash, newest,
            )?)
        })
        .await?;
        done += count;
        println!(
            "{done} of {} accounts in {:.1} s",
            args.count,
            started.elapsed().as_secs_f64()
        );
    }
    println!("every seeded account's password: {SEEDED_PASSWORD}");
    Ok(())
}

async fn serve(mut settings: Settings) -> anyhow::Result<()> {
    crate::telemetry::init(settings.log_format);
    settings
        .providers
        .read_definitions(|name| std::env::var(name).ok())
        .map_err(anyhow::Error::msg)?;
    let mut application = Application::build(&settings).await?;
    application.drain_on_termination();
    print_welcome(&settings, application.port());
    application.run_until_stopped().await?;
    Ok(())
}

/// What a newcomer needs once the server is ready: where it is (as
/// `localhost` when it listens on the loopback or every address: the name a
/// page in development should use too), which pages may call it, and how to
/// get the first admin, as a command for the way this process was started.
/// On standard output; the logs go to standard error, so a log collector
/// reading JSON lines never sees it mixed in.
fn print_welcome(settings: &Settings, port: u16) {
    let host = welcome_host(&settings.bind_addr);
    let base = format!("http://{host}:{port}");
    let origins = &settings.guards.cors_allowed_origins;
    let pages = if origins.is_empty() {
        format!("none but {base} itself (set CORS_ALLOWED_ORIGINS to the page's origin)")
    } else {
        origins.join(", ")
    };
    let cookie = &settings.cookie;
    let same_site = match cookie.cookie_samesite {
        crate::config::CookieSameSite::Strict => "Strict",
        crate::config::CookieSameSite::Lax => "Lax",
        crate::config::CookieSameSite::None => "None",
    };
    let secure = if cookie.cookie_secure { "; Secure" } else { "" };
    println!(
        "\nPortcullis is ready at {base}\n  \
         API explorer (Swagger UI): {base}/docs/\n  \
         Browser pages allowed (CORS_ALLOWED_ORIGINS): {pages}\n  \
         Refresh cookie: {name}; SameSite={same_site}{secure} (a page must be on the same site as the API: localhost and 127.0.0.1 are two sites)\n  \
         First admin:  {command} create-admin --username root --email root@example.com --password-stdin\n",
        name = cookie.cookie_name,
        command = own_command(),
    );
}

/// The host to show for a bind address: `localhost` for the loopback and
/// the unspecified addresses, otherwise the address itself.
fn welcome_host(bind_addr: &str) -> &str {
    let host = bind_addr
        .rsplit_once(':')
        .map_or(bind_addr, |(host, _)| host);
    match host {
        "127.0.0.1" | "0.0.0.0" | "[::1]" | "[::]" | "::" | "::1" | "" | "localhost" => "localhost",
        other => other,
    }
}

/// How to run this binary again: `cargo run --release --` under Cargo (it
/// sets `CARGO` for what it runs), else the program path the process was
/// started with (`portcullis` when found on `PATH`); `DATABASE_URL` first
/// when it came from the environment, so the command reaches this database
/// (a PostgreSQL one as `"$DATABASE_URL"`: it may hold a password).
fn own_command() -> String {
    let under_cargo = std::env::var_os("CARGO").is_some()
        && std::env::var_os("CARGO_PKG_NAME").is_some_and(|name| name == "portcullis");
    let program = if under_cargo {
        if cfg!(debug_assertions) {
            "cargo run --".to_owned()
        } else {
            "cargo run --release --".to_owned()
        }
    } else {
        std::env::args_os()
            .next()
            .and_then(|program| program.into_string().ok())
            .filter(|program| program.contains('/'))
            .map_or_else(|| "portcullis".to_owned(), |program| shell_word(&program))
    };
    match std::env::var("DATABASE_URL") {
        Ok(url) if url.starts_with("sqlite:") => {
            format!("DATABASE_URL={} {program}", shell_word(&url))
        }
        // A PostgreSQL URL may hold a password: not on the screen.
        Ok(_) => format!("DATABASE_URL=\"$DATABASE_URL\" {program}"),
        Err(_) => program,
    }
}

/// `word` as one shell word: as it is when plain, else single-quoted.
fn shell_word(word: &str) -> String {
    let plain = word.chars().all(|c| {
        c.is_ascii_alphanumeric()
            || matches!(c, '/' | '.' | '_' | '-' | ':' | '=' | '+' | '@' | ',')
    });
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// `portcullis client …`: the same use-cases as the admin API.
async fn manage_clients(args: ClientArgs) -> anyhow::Result<String> {
    use crate::service::oauth_clients::{self, ClientChanges, ClientError, OAuthClient};
    let db = Database::connect_lazily(&args.database.database_url, &args.database.pool_options());
    tokio::task::spawn_blocking(move || db.migrate()).await??;
    let context = crate::state::CommandContext::new(&args.database, &args.passwords)?;
    let eddsa = args.tokens.jwt_algorithm == crate::config::JwtAlgorithm::EdDsa;
    let refused = |error: ClientError| match error {
        ClientError::Invalid(violations) => anyhow::anyhow!(
            "refused: {}",
            violations
                .into_iter()
                .flat_map(|(field, list)| list
                    .into_iter()
                    .map(move |v| format!("{field}: {}", v.message)))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        ClientError::NotFound => anyhow::anyhow!("no such client"),
        ClientError::NoSecret => anyhow::anyhow!("a public client has no secret"),
        ClientError::Store(error) => anyhow::Error::new(error),
    };
    let shown = |client: &OAuthClient, secret: Option<&str>| {
        serde_json::json!({
            "client_id": client.id,
            "client_secret": secret,
            "name": client.name,
            "type": client.client_type.as_str(),
            "redirect_uris": client.redirect_uris,
            "post_logout_redirect_uris": client.post_logout_redirect_uris,
            "grant_types": client.grant_types,
            "scopes": client.scopes,
            "first_party": client.first_party,
            "id_token_signed_response_alg": client.id_token_alg.as_str(),
        })
    };
    let no_one = crate::service::caller::ClientInfo::default();
    match args.action {
        ClientAction::Create {
            name,
            client_type,
            redirect_uris,
            post_logout_redirect_uris,
            grant_types,
            scopes,
            first_party,
            id_token_signed_response_alg,
        } => {
            let changes = ClientChanges {
                name: Some(name),
                redirect_uris: Some(redirect_uris),
                post_logout_redirect_uris: Some(post_logout_redirect_uris),
                grant_types: (!grant_types.is_empty()).then_some(grant_types),
                scopes: (!scopes.is_empty()).then_some(scopes),
                first_party: Some(first_party),
                id_token_signed_response_alg,
            };
            let made = oauth_clients::create(&context, &client_type, changes, eddsa, None, &no_one)
                .await
                .map_err(refused)?;
            let secret = made.secret.as_ref().map(|secret| secret.expose());
            Ok(shown(&made.client, secret).to_string())
        }
        ClientAction::List => Ok(oauth_clients::list(&context)
            .await
            .map_err(refused)?
            .iter()
            .map(|client| shown(client, None).to_string())
            .collect::<Vec<_>>()
            .join("\n")),
        ClientAction::Delete { client_id } => {
            oauth_clients::delete(&context, &client_id, None, &no_one)
                .await
                .map_err(refused)?;
            Ok(format!("deleted client {client_id}"))
        }
        ClientAction::RotateSecret { client_id } => {
            let secret = oauth_clients::rotate_secret(&context, &client_id)
                .await
                .map_err(refused)?;
            Ok(
                serde_json::json!({"client_id": client_id, "client_secret": secret.expose()})
                    .to_string(),
            )
        }
    }
}

async fn create_admin(args: CreateAdminArgs) -> anyhow::Result<String> {
    let mut password = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut password)
        .context("could not read the password from standard input")?;
    let password = password.trim_end_matches(['\r', '\n']).to_owned();
    let username = Username::parse(&args.username)
        .map_err(|error| anyhow::anyhow!("--username {}", error.message))?;
    let email =
        Email::parse(&args.email).map_err(|error| anyhow::anyhow!("--email {}", error.message))?;

    let db = Database::connect_lazily(&args.database.database_url, &args.database.pool_options());
    tokio::task::spawn_blocking(move || db.migrate()).await??;
    let context = crate::state::CommandContext::new(&args.database, &args.passwords)?;
    let existing = if args.promote_existing {
        ExistingAccount::PromoteWithoutPassword
    } else {
        ExistingAccount::ProvePassword
    };
    match accounts::create_or_promote_admin(&context, username, email, password.into(), existing)
        .await
    {
        Ok(AdminBootstrap::Created(name)) => Ok(format!("created admin {}", name.as_str())),
        Ok(AdminBootstrap::Promoted(name)) => Ok(format!("promoted {} to admin", name.as_str())),
        Ok(AdminBootstrap::AlreadyAdmin(name)) => {
            Ok(format!("{} is already an admin", name.as_str()))
        }
        Err(CreateAdminError::Refused(reason)) => bail!("create-admin refused: {reason}"),
        Err(CreateAdminError::Invalid(violations)) => {
            let reasons: Vec<String> = violations
                .into_values()
                .flatten()
                .map(|violation| violation.message)
                .collect();
            bail!("the password {}", reasons.join("; "))
        }
        Err(other) => Err(anyhow::Error::new(other)),
    }
}

/// One `GET /healthz` over HTTP/1.1 to the server at `bind_addr`, within
/// `timeout`: enough for a container's health probe, with no HTTP client in
/// the binary (the server's own listener speaks plain HTTP).
fn probe_health(bind_addr: &str, timeout: std::time::Duration) -> anyhow::Result<()> {
    use std::io::{Read as _, Write as _};
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpStream, ToSocketAddrs as _};

    let mut address = bind_addr
        .to_socket_addrs()
        .with_context(|| format!("BIND_ADDR {bind_addr} is not an address"))?
        .next()
        .with_context(|| format!("BIND_ADDR {bind_addr} resolves to no address"))?;
    if address.ip().is_unspecified() {
        address.set_ip(match address.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    let mut stream = TcpStream::connect_timeout(&address, timeout)
        .with_context(|| format!("nothing answers at {address}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    // One write: `write!` would send the request in pieces, and a server that
    // answers after the first could close before the rest is sent.
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes())?;
    // The status line is all that is read: "HTTP/1.1 200 OK".
    let mut head = [0_u8; 64];
    let mut read = 0;
    while read < head.len() && !head[..read].contains(&b'\n') {
        match stream.read(&mut head[read..])? {
            0 => break,
            more => read += more,
        }
    }
    let status_line = String::from_utf8_lossy(&head[..read]);
    let status = status_line.split_whitespace().nth(1).unwrap_or_default();
    if status != "200" {
        bail!(
            "GET /healthz at {address} answered {:?}",
            status_line.lines().next().unwrap_or_default()
        );
    }
    println!("healthy");
    Ok(())
}
