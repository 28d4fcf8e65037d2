//! The command line: `serve` (the default), `migrate`, `create-admin` and
//! `openapi`.

use std::io::BufRead as _;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};

use crate::audit::{Event, EventType};
use crate::auth::password::PasswordHasher;
use crate::config::{DatabaseSettings, LogFormat, PasswordSettings, Settings};
use crate::db::{Database, events, sessions, users};
use crate::domain::{Email, Username, check_new_password};
use crate::http::ClientInfo;
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
    /// Create an admin, or promote an existing account with that email or username.
    CreateAdmin(CreateAdminArgs),
    /// Print the OpenAPI document to standard output.
    Openapi,
    /// Time one argon2id verification at the configured cost and print the
    /// login ceiling it implies (used by bench/run.sh).
    #[command(hide = true)]
    HashBenchmark {
        #[command(flatten)]
        passwords: PasswordSettings,
        #[arg(long, default_value_t = 20)]
        rounds: u32,
    },
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
    #[command(flatten)]
    pub database: DatabaseSettings,
    #[command(flatten)]
    pub passwords: PasswordSettings,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        None => serve(Settings::from_env()?).await,
        Some(Command::Serve(settings)) => serve(*settings).await,
        Some(Command::Migrate(database)) => {
            crate::telemetry::init(LogFormat::Text);
            let db = Database::connect_lazily(&database.database_url, &database.pool_options());
            let applied = actix_web::web::block(move || db.migrate()).await??;
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
        Some(Command::Openapi) => {
            print!("{}", crate::openapi::document_json());
            Ok(())
        }
        Some(Command::HashBenchmark { passwords, rounds }) => {
            let (per_second, per_verify) =
                crate::auth::password::measure_verify(&passwords, rounds.max(1))?;
            println!(
                "argon2id m={} KiB t={} p={}: {:.2} ms per verification with {} running at once; ceiling {:.1} logins/s",
                passwords.argon2_memory_kib,
                passwords.argon2_iterations,
                passwords.argon2_parallelism,
                per_verify.as_secs_f64() * 1000.0,
                passwords.concurrency(),
                per_second,
            );
            Ok(())
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    crate::telemetry::init(settings.log_format);
    let application = Application::build(&settings).await?;
    application.run_until_stopped().await?;
    Ok(())
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
    let migrator = db.clone();
    actix_web::web::block(move || migrator.migrate()).await??;

    let (by_email, by_username) = (email.clone(), username.clone());
    let existing = db
        .run(move |conn| {
            Ok((
                users::find_by_email(conn, by_email.as_str())?,
                users::find_by_username(conn, by_username.as_str())?,
            ))
        })
        .await?;
    let existing = match existing {
        (Some(a), Some(b)) if a.id != b.id => {
            bail!("the email and the username belong to two different accounts")
        }
        (Some(user), _) | (None, Some(user)) => Some(user),
        (None, None) => None,
    };

    let now = crate::db::now();
    if let Some(user) = existing {
        if user.is_admin() {
            return Ok(format!("{} is already an admin", user.username));
        }
        let id = user.id.clone();
        let event = Event::new(EventType::RoleChanged, &ClientInfo::default())
            .user(&id)
            .detail(serde_json::json!({"from": user.role, "to": users::ROLE_ADMIN, "via": "create-admin"}));
        db.transaction(move |conn| {
            users::set_role(conn, &id, users::ROLE_ADMIN, now)?;
            // A role change ends the account's sessions, as it does through the API.
            sessions::revoke_all_for_user(conn, &id, now)?;
            events::record(conn, event.row())?;
            Ok(())
        })
        .await?;
        return Ok(format!("promoted {} to admin", user.username));
    }

    if let Err(errors) = check_new_password(&password, username.as_str(), email.as_str()) {
        let reasons: Vec<String> = errors.into_iter().map(|error| error.message).collect();
        bail!("the password {}", reasons.join("; "));
    }
    let hasher = PasswordHasher::new(&args.passwords)?;
    let password_hash = hasher.hash(password).await?;
    let row = users::UserRow {
        id: uuid::Uuid::new_v4().to_string(),
        username: username.as_str().to_owned(),
        email: email.as_str().to_owned(),
        password_hash,
        role: users::ROLE_ADMIN.to_owned(),
        disabled: false,
        created_at: now,
        updated_at: now,
        last_login_at: None,
    };
    let name = row.username.clone();
    let event = Event::new(EventType::UserRegistered, &ClientInfo::default())
        .user(&row.id)
        .detail(serde_json::json!({"role": users::ROLE_ADMIN, "via": "create-admin"}));
    db.transaction(move |conn| {
        users::insert(conn, &row)?;
        events::record(conn, event.row())?;
        Ok(())
    })
    .await?;
    Ok(format!("created admin {name}"))
}
