//! Configuration. Every setting is a command-line flag backed by an environment
//! variable (a `.env` file in the working directory is honoured), so `portcullis serve --help` documents
//! all of them with their defaults.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::db::{DatabaseUrl, PoolOptions};

/// What became of the working directory's `.env`, said in the log once
/// logging is up (see [`env_file`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvFile {
    /// Read: its variables filled the settings not set otherwise.
    Loaded(PathBuf),
    /// There is none.
    Absent,
    /// There is one, but it could not be read whole (lines before the fault
    /// were applied). The reason never quotes its content.
    Unreadable(PathBuf, String),
}

static ENV_FILE: std::sync::OnceLock<EnvFile> = std::sync::OnceLock::new();

/// Reads `.env` from the working directory, and from nowhere else: a stray
/// `.env` in a parent directory (`/.env`) must not fill unset settings such
/// as `TRUSTED_PROXIES` or `PORTCULLIS_ENV`. Variables already set win.
/// Call it once, before the settings are parsed.
pub fn load_env_file() -> &'static EnvFile {
    ENV_FILE.get_or_init(|| {
        let path = std::env::current_dir()
            .map(|dir| dir.join(".env"))
            .unwrap_or_else(|_| PathBuf::from(".env"));
        match dotenvy::from_path(&path) {
            Ok(()) => EnvFile::Loaded(path),
            Err(error) if error.not_found() => EnvFile::Absent,
            // Its Display would quote the line, which may hold a secret.
            Err(dotenvy::Error::LineParse(_, position)) => EnvFile::Unreadable(
                path,
                format!("a line is not `NAME=value` (fault at character {position})"),
            ),
            Err(dotenvy::Error::Io(error)) => EnvFile::Unreadable(path, error.to_string()),
            Err(_) => EnvFile::Unreadable(path, "a value could not be read".to_owned()),
        }
    })
}

/// What [`load_env_file`] found; `None` if it was not called (tests, the
/// library used on its own).
pub fn env_file() -> Option<&'static EnvFile> {
    ENV_FILE.get()
}

/// Where the data lives and how the pool behaves.
#[derive(Debug, Clone, Args)]
pub struct DatabaseSettings {
    /// `postgres://…` selects PostgreSQL; `sqlite://PATH` or `sqlite::memory:` SQLite.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://portcullis.db", value_parser = DatabaseUrl::parse, hide_env_values = true)]
    pub database_url: DatabaseUrl,

    /// Most connections this node keeps open.
    #[arg(long, env = "DATABASE_POOL_SIZE", default_value_t = 10)]
    pub database_pool_size: u32,

    /// Seconds a request waits for a database connection before answering 503.
    #[arg(long, env = "DATABASE_TIMEOUT", default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub database_timeout: u64,

    /// `transaction` when PostgreSQL is reached through a pooler in transaction mode (PgBouncer `pool_mode = transaction`): no prepared-statement cache, nothing kept in the server session; `session` (the default) otherwise.
    #[arg(
        long,
        env = "DATABASE_POOL_MODE",
        value_enum,
        default_value = "session"
    )]
    pub database_pool_mode: PoolMode,
}

/// How the server connections behind `DATABASE_URL` are shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PoolMode {
    /// A connection is this node's for as long as it keeps it.
    Session,
    /// A pooler hands the server connection to someone else after each transaction.
    Transaction,
}

impl DatabaseSettings {
    pub fn pool_options(&self) -> PoolOptions {
        PoolOptions {
            max_size: self.database_pool_size,
            checkout_timeout: Duration::from_secs(self.database_timeout.max(1)),
            transaction_pooling: self.database_pool_mode == PoolMode::Transaction,
        }
    }
}

/// Cost and concurrency of password hashing.
#[derive(Debug, Clone, Args)]
pub struct PasswordSettings {
    /// argon2id memory cost in KiB.
    #[arg(long, env = "ARGON2_MEMORY_KIB", default_value_t = 19_456)]
    pub argon2_memory_kib: u32,

    /// argon2id iterations.
    #[arg(long, env = "ARGON2_ITERATIONS", default_value_t = 2)]
    pub argon2_iterations: u32,

    /// argon2id lanes.
    #[arg(long, env = "ARGON2_PARALLELISM", default_value_t = 1)]
    pub argon2_parallelism: u32,

    /// Password hashes computed at once (default: the number of cores).
    #[arg(long, env = "HASH_CONCURRENCY")]
    pub hash_concurrency: Option<usize>,

    /// Hashes allowed to wait for a slot; past that, 503 `overloaded` (default: 32 × cores).
    #[arg(long, env = "HASH_QUEUE")]
    pub hash_queue: Option<usize>,
}

impl PasswordSettings {
    pub fn concurrency(&self) -> usize {
        self.hash_concurrency.unwrap_or_else(cores).max(1)
    }

    pub fn queue(&self) -> usize {
        self.hash_queue.unwrap_or_else(|| 32 * cores())
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum JwtAlgorithm {
    #[value(name = "EdDSA")]
    EdDsa,
    #[value(name = "HS256")]
    Hs256,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Settings that are secrets (database passwords in URLs, HS256 keys).
pub use crate::domain::Secret;

/// Signing keys and token lifetimes.
#[derive(Debug, Clone, Args)]
pub struct TokenSettings {
    /// `EdDSA` (Ed25519, published in the JWKS) or `HS256` (shared secret).
    #[arg(long, env = "JWT_ALGORITHM", value_enum, default_value = "EdDSA")]
    pub jwt_algorithm: JwtAlgorithm,

    /// PEM file of the Ed25519 signing key (PKCS#8). Unset in development: one is
    /// generated on first start and kept beside the SQLite file (FILE.jwt-ed25519.pem),
    /// in the working directory for PostgreSQL, or in memory for sqlite::memory:.
    #[arg(long, env = "JWT_PRIVATE_KEY_FILE")]
    pub jwt_private_key_file: Option<PathBuf>,

    /// HS256 secret (at least 32 bytes in production).
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<Secret>,

    /// Comma-separated PEM files of older keys whose tokens are still accepted (rotation).
    #[arg(long, env = "JWT_VERIFICATION_KEY_FILES", value_delimiter = ',')]
    pub jwt_verification_key_files: Vec<PathBuf>,

    /// `iss` claim issued and required.
    #[arg(long, env = "JWT_ISSUER", default_value = "portcullis")]
    pub jwt_issuer: String,

    /// `aud` claim issued and required.
    #[arg(long, env = "JWT_AUDIENCE", default_value = "portcullis")]
    pub jwt_audience: String,

    /// Access-token lifetime in seconds.
    #[arg(long, env = "ACCESS_TOKEN_TTL", default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub access_token_ttl: u64,

    /// Refresh-token (session) lifetime in seconds for `remember: true`; otherwise at most 86400.
    #[arg(long, env = "REFRESH_TOKEN_TTL", default_value_t = 2_592_000, value_parser = clap::value_parser!(u64).range(1..=315_360_000))]
    pub refresh_token_ttl: u64,

    /// Seconds after a rotation during which the previous refresh token still gets the current one back; 0 = strictly single-use.
    #[arg(long, env = "REFRESH_REUSE_GRACE", default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=3_600))]
    pub refresh_reuse_grace: u64,
}

/// The key that seals secrets kept in the database (TOTP secrets).
#[derive(Debug, Clone, Args)]
pub struct EncryptionSettings {
    /// File holding the AES-256-GCM key (32 random bytes, base64: `openssl rand -base64 32`) that encrypts TOTP secrets at rest. Unset in development: one is generated on first start and kept beside the SQLite file (FILE.data.key) or in the working directory for PostgreSQL; required in production.
    #[arg(long, env = "DATA_ENCRYPTION_KEY_FILE")]
    pub data_encryption_key_file: Option<PathBuf>,

    /// Comma-separated files of older data encryption keys: values they sealed are still read, and sealed again with the current key when next used (rotation).
    #[arg(long, env = "DATA_ENCRYPTION_OLD_KEY_FILES", value_delimiter = ',')]
    pub data_encryption_old_key_files: Vec<PathBuf>,
}

/// Second factors.
#[derive(Debug, Clone, Args)]
pub struct MfaSettings {
    /// Issuer shown by authenticator apps beside the account (the `issuer` of the otpauth:// URI); no `:`.
    #[arg(long, env = "MFA_ISSUER", default_value = "Portcullis", value_parser = parse_issuer)]
    pub mfa_issuer: String,

    /// `true`: /admin routes answer 403 `mfa_required_for_admin` to an admin whose session was not opened with a second factor (TOTP, a recovery code or a passkey).
    #[arg(long, env = "ADMIN_REQUIRE_MFA", default_value_t = false, action = clap::ArgAction::Set)]
    pub admin_require_mfa: bool,
}

/// Authenticator apps split the otpauth label at `:`.
fn parse_issuer(value: &str) -> Result<String, String> {
    let issuer = value.trim();
    if issuer.is_empty() || issuer.contains(':') || issuer.chars().count() > 64 {
        return Err("MFA_ISSUER must be 1 to 64 characters without `:`".to_owned());
    }
    Ok(issuer.to_owned())
}

/// Passkeys (WebAuthn): who the relying party is and which pages may run its
/// ceremonies.
#[derive(Debug, Clone, Args)]
pub struct PasskeySettings {
    /// Address of the client app users open in their browser; the defaults of the WebAuthn origin and relying-party id come from it.
    #[arg(long, env = "APP_URL", default_value = "http://localhost:3000")]
    pub app_url: url::Url,

    /// WebAuthn relying-party id: the domain passkeys are bound to (default: the host of APP_URL). Every origin must be this domain or a subdomain of it. Changing it later orphans every registered passkey.
    #[arg(long, env = "WEBAUTHN_RP_ID")]
    pub webauthn_rp_id: Option<String>,

    /// Comma-separated origins (scheme://host[:port]) whose pages may register and use passkeys (default: APP_URL's origin). `https://` except for `localhost`.
    #[arg(long, env = "WEBAUTHN_ORIGINS", value_delimiter = ',')]
    pub webauthn_origins: Vec<url::Url>,

    /// The service's name, as authenticators show it beside the account.
    #[arg(long, env = "WEBAUTHN_RP_NAME", default_value = "Portcullis")]
    pub webauthn_rp_name: String,
}

/// What WebAuthn ceremonies are checked against, resolved from
/// [`PasskeySettings`] and its defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelyingParty {
    pub id: String,
    pub name: String,
    pub origins: Vec<url::Url>,
}

impl PasskeySettings {
    /// The relying party, or the reason these settings cannot work, naming
    /// the variable to fix.
    pub fn relying_party(&self) -> Result<RelyingParty, String> {
        let id =
            match &self.webauthn_rp_id {
                Some(id) => id.trim().trim_end_matches('.').to_ascii_lowercase(),
                None => self.app_url.host_str().map(str::to_ascii_lowercase).ok_or(
                    "APP_URL has no host to default WEBAUTHN_RP_ID from: set WEBAUTHN_RP_ID",
                )?,
            };
        if id.is_empty() || id.contains(['/', ':', ' ']) {
            return Err(format!(
                "WEBAUTHN_RP_ID must be a bare domain such as example.com, not {id:?}"
            ));
        }
        let origins = if self.webauthn_origins.is_empty() {
            vec![self.app_url.clone()]
        } else {
            self.webauthn_origins.clone()
        };
        for origin in &origins {
            let host = origin.host_str().unwrap_or_default().to_ascii_lowercase();
            let secure =
                origin.scheme() == "https" || (origin.scheme() == "http" && host == "localhost");
            if !secure {
                return Err(format!(
                    "WEBAUTHN_ORIGINS: browsers run WebAuthn only on https:// origins (or http://localhost), not {origin}"
                ));
            }
            if host != id && !host.ends_with(&format!(".{id}")) {
                return Err(format!(
                    "WEBAUTHN_RP_ID {id:?} does not match the origin {origin} (WEBAUTHN_ORIGINS, default APP_URL): the id must be the origin's host or a parent domain of it"
                ));
            }
        }
        let name = self.webauthn_rp_name.trim();
        if name.is_empty() {
            return Err("WEBAUTHN_RP_NAME must not be empty".to_owned());
        }
        Ok(RelyingParty {
            id,
            name: name.to_owned(),
            origins,
        })
    }
}

/// `SameSite` of the refresh cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CookieSameSite {
    /// Sent only with requests the cookie's own site started.
    Strict,
    /// Also with top-level navigations from other sites.
    Lax,
    /// With every request, cross-site too (needs COOKIE_SECURE=true).
    None,
}

/// The cookie that carries refresh tokens for browsers (`"token_delivery": "cookie"`).
#[derive(Debug, Clone, Args)]
pub struct CookieSettings {
    /// Name of the HttpOnly cookie that carries the refresh token with `"token_delivery": "cookie"`.
    #[arg(long, env = "COOKIE_NAME", default_value = "portcullis_refresh", value_parser = parse_cookie_name)]
    pub cookie_name: String,

    /// `SameSite` of the refresh cookie: `Strict`, `Lax`, or `None` (for an app on another site than the API; needs COOKIE_SECURE=true).
    #[arg(
        long,
        env = "COOKIE_SAMESITE",
        value_enum,
        ignore_case = true,
        default_value = "strict"
    )]
    pub cookie_samesite: CookieSameSite,

    /// `Secure` attribute of the refresh cookie: browsers send it over HTTPS only (and to http://localhost). `false` is refused in production.
    #[arg(long, env = "COOKIE_SECURE", default_value_t = true, action = clap::ArgAction::Set)]
    pub cookie_secure: bool,
}

/// A cookie name is an RFC 6265 token.
fn parse_cookie_name(value: &str) -> Result<String, String> {
    let valid = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if valid {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "`{value}` is not a cookie name (letters, digits and !#$%&'*+-.^_`|~)"
        ))
    }
}

/// Abuse limits and the HTTP surface.
#[derive(Debug, Clone, Args)]
pub struct GuardSettings {
    /// Requests per minute per client IP on each of /register, /login, /token/refresh, PUT /me/password and DELETE /account (counted per route); 0 turns the limit off.
    #[arg(long, env = "RATE_LIMIT_PER_MINUTE", default_value_t = 30)]
    pub rate_limit_per_minute: u32,

    /// Password attempts for one account (login, PUT /me/password, DELETE /account) within LOGIN_BACKOFF_WINDOW after which further attempts get 429, except logins from an address the account has logged in from before; counted before the password is checked and reset by a correct one; 0 turns the backoff off.
    #[arg(long, env = "LOGIN_BACKOFF_FAILURES", default_value_t = 5)]
    pub login_backoff_failures: u32,

    /// Seconds of the password-attempt window of LOGIN_BACKOFF_FAILURES.
    #[arg(long, env = "LOGIN_BACKOFF_WINDOW", default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..=2_592_000))]
    pub login_backoff_window: u64,

    /// `redis://…`: keep the limits in Redis, shared by every node.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Comma-separated proxy addresses or CIDR ranges whose forwarded-address header (FORWARDED_HEADER) is believed.
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_network)]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// The one header a trusted proxy writes the client's address into: `x-forwarded-for` or `forwarded` (RFC 7239, its `for=`). The other is ignored, since a client could send it through the proxy untouched.
    #[arg(
        long,
        env = "FORWARDED_HEADER",
        value_enum,
        ignore_case = true,
        default_value = "x-forwarded-for"
    )]
    pub forwarded_header: ForwardedHeader,

    /// Comma-separated origins allowed to call the API from a browser (`*` for any, refused in production).
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", value_delimiter = ',', value_parser = parse_origin)]
    pub cors_allowed_origins: Vec<String>,

    /// Seconds a client has to send a request body once its headers arrived; a slower (or stalled) body gets 408 and the connection is closed.
    #[arg(long, env = "REQUEST_BODY_TIMEOUT", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=60))]
    pub request_body_timeout: u64,

    /// Open connections one client (an IPv4 address or an IPv6 /64, as the rate limits count; an IPv6 /48 may hold 16 times as many) may hold while the node is busy (over half the connections it can take): past it, a new connection from that client is shut at once, so a few clients holding connections open cannot starve everyone. Proxies in TRUSTED_PROXIES are exempt.
    #[arg(long, env = "MAX_CONNECTIONS_PER_CLIENT", default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub max_connections_per_client: u64,

    /// Seconds between SIGTERM and closing the listener, while /readyz answers 503 (so load balancers stop sending) and everything else is still served.
    #[arg(long, env = "SHUTDOWN_READY_DELAY", default_value_t = 5, value_parser = clap::value_parser!(u64).range(0..=300))]
    pub shutdown_ready_delay: u64,

    /// Seconds requests in flight get to finish once the listener is closed.
    #[arg(long, env = "SHUTDOWN_TIMEOUT", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub shutdown_timeout: u64,

    /// Lets PORTCULLIS_ENV=production run with RATE_LIMIT_PER_MINUTE=0 (for a deployment limited by its proxy).
    #[arg(long, env = "ALLOW_NO_RATE_LIMIT", default_value_t = false, action = clap::ArgAction::Set)]
    pub allow_no_rate_limit: bool,
}

/// Where trusted proxies put the client's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, …` (nginx, HAProxy, most cloud load balancers).
    #[value(name = "x-forwarded-for")]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    #[value(name = "forwarded")]
    Forwarded,
}

/// `*`, or a scheme and host (and port) with no path: what browsers send as `Origin`.
fn parse_origin(value: &str) -> Result<String, String> {
    let origin = value.trim();
    let host_and_port = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    let valid = origin == "*"
        || host_and_port.is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':' | '[' | ']'))
        });
    if valid {
        Ok(origin.to_owned())
    } else {
        Err(format!(
            "`{origin}` is not an origin like https://app.example.com"
        ))
    }
}

fn parse_network(value: &str) -> Result<ipnet::IpNet, String> {
    let value = value.trim();
    value
        .parse::<ipnet::IpNet>()
        .or_else(|_| value.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("`{value}` is neither an IP address nor a CIDR range"))
}

/// How an address is proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EmailVerification {
    /// No verification mail is sent.
    Off,
    /// A verification mail is sent at registration; nothing is refused.
    Optional,
    /// As `optional`, and login of an unverified account is refused (403).
    Required,
}

/// Outbound mail: where it goes, what links it carries, how often.
#[derive(Debug, Clone, Args)]
pub struct MailSettings {
    /// `log` (development: the whole message goes to the log; refused in production), `file:///DIR` (one .eml per message), `smtp://[user:pass@]host[:587]` (STARTTLS required), `smtps://[user:pass@]host[:465]` (implicit TLS), or `smtp://host:port?tls=off` (plain, for a relay on the same host).
    #[arg(long, env = "MAIL_URL", default_value = "log", value_parser = MailUrl::parse, hide_env_values = true)]
    pub mail_url: MailUrl,

    /// Lets PORTCULLIS_ENV=production write mail to `MAIL_URL=file:///DIR` (the files hold live reset and invitation links; they are owner-only, but nothing deletes them).
    #[arg(long, env = "MAIL_FILE_IN_PRODUCTION", default_value_t = false, action = clap::ArgAction::Set)]
    pub mail_file_in_production: bool,

    /// The From of every message.
    #[arg(
        long,
        env = "MAIL_FROM",
        default_value = "Portcullis <no-reply@localhost>"
    )]
    pub mail_from: String,

    /// Link of the client app's reset page; `{token}` is replaced by the (URL-encoded) token.
    #[arg(
        long,
        env = "PASSWORD_RESET_URL",
        default_value = "http://localhost:3000/reset-password?token={token}"
    )]
    pub password_reset_url: String,

    /// Link of the client app's verification page; `{token}` is replaced by the token.
    #[arg(
        long,
        env = "EMAIL_VERIFICATION_URL",
        default_value = "http://localhost:3000/verify-email?token={token}"
    )]
    pub email_verification_url: String,

    /// Seconds a password-reset link works.
    #[arg(long, env = "PASSWORD_RESET_TTL", default_value_t = 3_600, value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub password_reset_ttl: u64,

    /// Seconds an email-verification link works.
    #[arg(long, env = "EMAIL_VERIFICATION_TTL", default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(1..=2_592_000))]
    pub email_verification_ttl: u64,

    /// Seconds the link of an invitation (an account made by an admin) works.
    #[arg(long, env = "INVITATION_TTL", default_value_t = 604_800, value_parser = clap::value_parser!(u64).range(1..=2_592_000))]
    pub invitation_ttl: u64,

    /// `off`, `optional` (a verification mail at registration) or `required` (unverified accounts cannot log in).
    #[arg(
        long,
        env = "EMAIL_VERIFICATION",
        value_enum,
        default_value = "optional"
    )]
    pub email_verification: EmailVerification,

    /// Seconds during which one address gets at most one message of a kind.
    #[arg(long, env = "MAIL_MIN_INTERVAL", default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub mail_min_interval: u64,

    /// Milliseconds between two looks at the outbox for mail that is due (new mail also wakes the sender at once).
    #[arg(long, env = "MAIL_POLL_INTERVAL_MS", default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(10..=600_000))]
    pub mail_poll_interval_ms: u64,
}

/// `on` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

/// Signing in by a link or code mailed to the address (`POST /login/email`).
#[derive(Debug, Clone, Args)]
pub struct EmailLoginSettings {
    /// `on` lets accounts sign in with a link or a 6-digit code mailed to their address.
    #[arg(long, env = "EMAIL_LOGIN", value_enum, default_value = "off")]
    pub email_login: Switch,

    /// `on` also creates an account (no password, address verified) for an address that has none, when its link or code is used.
    #[arg(long, env = "EMAIL_LOGIN_SIGNUP", value_enum, default_value = "off")]
    pub email_login_signup: Switch,

    /// Link of the client app's sign-in page; `{token}` is replaced by the (URL-encoded) token.
    #[arg(
        long,
        env = "MAGIC_LINK_URL",
        default_value = "http://localhost:3000/magic?token={token}"
    )]
    pub magic_link_url: String,

    /// Seconds a sign-in link and its code work.
    #[arg(long, env = "MAGIC_LINK_TTL", default_value_t = 600, value_parser = clap::value_parser!(u64).range(60..=86_400))]
    pub magic_link_ttl: u64,

    /// Comma-separated origins an app may name in `redirect_to` (the sign-in link then leads there); default: the origins of APP_URL and CORS_ALLOWED_ORIGINS.
    #[arg(long, env = "LOGIN_REDIRECT_ALLOWLIST", value_delimiter = ',', value_parser = parse_origin)]
    pub login_redirect_allowlist: Vec<String>,
}

/// Signing in with another provider (`PROVIDERS` and `PROVIDER_<ID>_*`).
#[derive(Debug, Clone, Args)]
pub struct ProviderSettings {
    /// Comma-separated ids of the providers users may sign in with (e.g. `google,github,corp`); each is configured by `PROVIDER_<ID>_ISSUER`, `_CLIENT_ID`, `_CLIENT_SECRET` or `_CLIENT_SECRET_FILE`, `_SCOPES` (default `openid email profile`), `_NAME` and `_KIND` (`oidc` default, or `github`), with `<ID>` the id in upper case (see docs/providers.md).
    #[arg(long, env = "PROVIDERS", value_delimiter = ',')]
    pub providers: Vec<String>,

    /// The address this service is reached at by browsers, without a trailing slash; a provider sends users back to `{PUBLIC_URL}/login/providers/{id}/callback` (default: `http://` and the address BIND_ADDR bound, port included).
    #[arg(long, env = "PUBLIC_URL")]
    pub public_url: Option<url::Url>,

    /// `closed` stops a provider's sign-in from creating accounts (only accounts that exist, or that an admin invites, sign in); `open` lets a provider's verified address create one.
    #[arg(long, env = "SIGNUP", value_enum, default_value = "open")]
    pub signup: Signup,

    /// Seconds a call to a provider (discovery, keys, code exchange, user info) may take before the sign-in is refused as the provider being unavailable.
    #[arg(long, env = "PROVIDER_TIMEOUT", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=60))]
    pub provider_timeout: u64,

    /// Seconds after a login during which its session may confirm a change (a factor, the address, deleting the account) on an account that has no password of its own (made by a provider or a mailed link), in place of the password.
    #[arg(long, env = "REAUTH_WINDOW", default_value_t = 600, value_parser = clap::value_parser!(u64).range(60..=86_400))]
    pub reauth_window: u64,

    /// The providers' definitions, read from `PROVIDER_<ID>_*` by
    /// [`ProviderSettings::read_definitions`] (tests set them directly).
    #[arg(skip)]
    pub definitions: Vec<ProviderDefinition>,
}

/// Portcullis as an OpenID Provider (see docs/oauth.md).
#[derive(Debug, Clone, Args)]
pub struct OAuthSettings {
    /// PKCS#8 PEM file of the RSA key (at least 2048 bits) that signs RS256 ID tokens, listed in the JWKS: `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`. Unset in development: one is generated on first start and kept beside the SQLite file (FILE.oauth-rsa.pem); required in production.
    #[arg(long, env = "OAUTH_RSA_KEY_FILE")]
    pub oauth_rsa_key_file: Option<std::path::PathBuf>,

    /// The login page an authorization request sends the browser to, with `?request_id=…` (default: the built-in page, `{PUBLIC_URL}/ui/login`).
    #[arg(long, env = "OAUTH_LOGIN_URL")]
    pub oauth_login_url: Option<url::Url>,

    /// The `aud` of access tokens issued to clients (default: the client's id).
    #[arg(long, env = "OAUTH_ACCESS_TOKEN_AUDIENCE")]
    pub oauth_access_token_audience: Option<String>,
}

/// Whether sign-in through a provider may create accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Signup {
    Open,
    Closed,
}

/// How a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// OpenID Connect with discovery.
    Oidc,
    /// GitHub's OAuth 2.0 and its user and email APIs.
    Github,
}

/// One provider of `PROVIDERS`. Its `Debug` never shows the client secret.
#[derive(Debug, Clone)]
pub struct ProviderDefinition {
    /// Lower-case letters, digits and `_`: the id in URLs and in stored identities.
    pub id: String,
    /// Shown to users ("Sign in with {name}").
    pub name: String,
    pub kind: ProviderKind,
    /// OpenID Connect: the issuer, whose discovery document names the rest.
    /// GitHub: `https://github.com` (or a GitHub Enterprise server).
    pub issuer: url::Url,
    pub client_id: String,
    pub client_secret: Secret,
    pub scopes: Vec<String>,
}

impl ProviderSettings {
    /// Reads each provider's `PROVIDER_<ID>_*` variables through `lookup`
    /// (the environment, `.env` included). Every fault at once, each naming
    /// its variable.
    pub fn read_definitions(
        &mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), String> {
        let mut definitions = Vec::new();
        let mut faults = Vec::new();
        for id in self
            .providers
            .iter()
            .map(|id| id.trim())
            .filter(|id| !id.is_empty())
        {
            match ProviderDefinition::read(id, &lookup) {
                Ok(definition) => definitions.push(definition),
                Err(mut fault) => faults.append(&mut fault),
            }
        }
        if !faults.is_empty() {
            return Err(faults.join("\n"));
        }
        self.definitions = definitions;
        Ok(())
    }
}

impl ProviderDefinition {
    fn read(id: &str, lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, Vec<String>> {
        let valid_id = !id.is_empty()
            && id.len() <= 32
            && id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid_id {
            return Err(vec![format!(
                "PROVIDERS: {id:?} is not a provider id (1 to 32 lower-case letters, digits or _)"
            )]);
        }
        let prefix = format!("PROVIDER_{}_", id.to_ascii_uppercase());
        let var = |name: &str| {
            lookup(&format!("{prefix}{name}"))
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
        };
        let mut faults = Vec::new();
        let kind = match var("KIND").as_deref() {
            None | Some("oidc") => ProviderKind::Oidc,
            Some("github") => ProviderKind::Github,
            Some(_) => {
                faults.push(format!("{prefix}KIND must be oidc or github"));
                ProviderKind::Oidc
            }
        };
        let issuer = match (var("ISSUER"), kind) {
            (Some(issuer), _) => url::Url::parse(&issuer)
                .ok()
                .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
                .ok_or_else(|| format!("{prefix}ISSUER must be an http(s) URL")),
            (None, ProviderKind::Github) => {
                url::Url::parse("https://github.com").map_err(|error| error.to_string())
            }
            (None, ProviderKind::Oidc) => Err(format!("{prefix}ISSUER is not set")),
        };
        let client_id = var("CLIENT_ID").ok_or_else(|| format!("{prefix}CLIENT_ID is not set"));
        let client_secret = match (var("CLIENT_SECRET"), var("CLIENT_SECRET_FILE")) {
            (Some(secret), None) => Ok(Secret::from(secret)),
            (None, Some(path)) => std::fs::read_to_string(&path)
                .map(|secret| Secret::from(secret.trim().to_owned()))
                .map_err(|error| format!("{prefix}CLIENT_SECRET_FILE {path}: {error}")),
            (Some(_), Some(_)) => Err(format!(
                "{prefix}CLIENT_SECRET and {prefix}CLIENT_SECRET_FILE are both set: keep one"
            )),
            (None, None) => Err(format!(
                "{prefix}CLIENT_SECRET or {prefix}CLIENT_SECRET_FILE is not set"
            )),
        };
        let scopes = var("SCOPES").map_or_else(
            || match kind {
                ProviderKind::Oidc => vec!["openid".into(), "email".into(), "profile".into()],
                ProviderKind::Github => vec!["read:user".into(), "user:email".into()],
            },
            |scopes| {
                scopes
                    .split([' ', ','])
                    .filter(|scope| !scope.is_empty())
                    .map(str::to_owned)
                    .collect()
            },
        );
        let (issuer, client_id, client_secret) = match (issuer, client_id, client_secret) {
            (Ok(issuer), Ok(client_id), Ok(client_secret)) if faults.is_empty() => {
                (issuer, client_id, client_secret)
            }
            (issuer, client_id, client_secret) => {
                faults.extend(issuer.err());
                faults.extend(client_id.err());
                faults.extend(client_secret.err());
                return Err(faults);
            }
        };
        Ok(Self {
            id: id.to_owned(),
            name: var("NAME").unwrap_or_else(|| id.to_owned()),
            kind,
            issuer,
            client_id,
            client_secret,
            scopes,
        })
    }
}

/// Where mail goes, parsed from `MAIL_URL`. Its `Debug` never shows a password.
#[derive(Clone, PartialEq, Eq)]
pub enum MailUrl {
    Log,
    File(PathBuf),
    Smtp {
        host: String,
        port: u16,
        security: SmtpSecurity,
        credentials: Option<(String, Secret)>,
    },
}

impl Eq for Secret {}

/// How an SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// `smtp://`: STARTTLS, required.
    StartTls,
    /// `smtps://`: TLS from the first byte.
    Implicit,
    /// `smtp://…?tls=off`: none (a relay on the same host, a test server).
    Off,
}

impl MailUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw == "log" {
            return Ok(Self::Log);
        }
        let url = url::Url::parse(raw)
            .map_err(|_| "must be log, file:///DIR, smtp://… or smtps://…".to_owned())?;
        let security = match (url.scheme(), url.query()) {
            ("file", _) => {
                let dir = url
                    .to_file_path()
                    .map_err(|()| "file:// needs an absolute directory".to_owned())?;
                return Ok(Self::File(dir));
            }
            ("smtp", None | Some("tls=required")) => SmtpSecurity::StartTls,
            ("smtp", Some("tls=off")) => SmtpSecurity::Off,
            ("smtps", None) => SmtpSecurity::Implicit,
            ("smtp" | "smtps", Some(_)) => {
                return Err(
                    "the only query smtp:// takes is ?tls=off (or ?tls=required)".to_owned(),
                );
            }
            _ => return Err("must be log, file:///DIR, smtp://… or smtps://…".to_owned()),
        };
        let host = url
            .host_str()
            .filter(|host| !host.is_empty())
            .ok_or_else(|| "names no host".to_owned())?
            .to_owned();
        let port = url.port().unwrap_or(match security {
            SmtpSecurity::Implicit => 465,
            SmtpSecurity::StartTls => 587,
            SmtpSecurity::Off => 25,
        });
        // The user part of a URL is percent-encoded (a literal `+` is a plus).
        let decode = |text: &str| {
            percent_encoding::percent_decode_str(text)
                .decode_utf8_lossy()
                .into_owned()
        };
        let credentials = (!url.username().is_empty()).then(|| {
            (
                decode(url.username()),
                Secret::from(decode(url.password().unwrap_or_default())),
            )
        });
        Ok(Self::Smtp {
            host,
            port,
            security,
            credentials,
        })
    }
}

impl fmt::Debug for MailUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Log => f.write_str("log"),
            Self::File(dir) => write!(f, "file://{}", dir.display()),
            Self::Smtp {
                host,
                port,
                security,
                credentials,
            } => {
                let scheme = if *security == SmtpSecurity::Implicit {
                    "smtps"
                } else {
                    "smtp"
                };
                let user = credentials
                    .as_ref()
                    .map(|(user, _)| format!("{user}:***@"))
                    .unwrap_or_default();
                let query = if *security == SmtpSecurity::Off {
                    "?tls=off"
                } else {
                    ""
                };
                write!(f, "{scheme}://{user}{host}:{port}{query}")
            }
        }
    }
}

/// Everything `portcullis serve` needs.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Listen address.
    #[arg(long, env = "BIND_ADDR", default_value = "127.0.0.1:8080")]
    pub bind_addr: String,

    /// Address of a second listener serving only `GET /metrics` (the Prometheus text format 0.0.4, or OpenMetrics text when the scraper asks for it), e.g. `127.0.0.1:9100`. Off unless set; keep it off the public network.
    #[arg(long, env = "METRICS_BIND_ADDR")]
    pub metrics_bind_addr: Option<String>,

    /// `production` refuses to start with a generated signing key, RSA key or data encryption key, an HS256 secret under 32 bytes, CORS_ALLOWED_ORIGINS=*, MAIL_URL=log, MAIL_URL=file://… without MAIL_FILE_IN_PRODUCTION=true, or RATE_LIMIT_PER_MINUTE=0 without ALLOW_NO_RATE_LIMIT=true.
    #[arg(
        long,
        env = "PORTCULLIS_ENV",
        value_enum,
        default_value = "development"
    )]
    pub portcullis_env: Environment,

    /// `text`, or `json` for one JSON object per line; the level comes from `RUST_LOG`.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// `on` serves the built-in web interface under `/ui/` (login, registration, password reset, email verification, the account console and the admin console; see docs/ui.md); `off` answers 404 to every `/ui` path.
    #[arg(long, env = "UI", value_enum, default_value = "on")]
    pub ui: Switch,

    /// Audit events older than this many days are pruned; 0 keeps them forever.
    #[arg(long, env = "AUDIT_RETENTION_DAYS", default_value_t = 90, value_parser = clap::value_parser!(u32).range(0..=36_500))]
    pub audit_retention_days: u32,

    #[command(flatten)]
    pub database: DatabaseSettings,

    #[command(flatten)]
    pub passwords: PasswordSettings,

    #[command(flatten)]
    pub tokens: TokenSettings,

    #[command(flatten)]
    pub guards: GuardSettings,

    #[command(flatten)]
    pub mail: MailSettings,

    #[command(flatten)]
    pub encryption: EncryptionSettings,

    #[command(flatten)]
    pub mfa: MfaSettings,

    #[command(flatten)]
    pub cookie: CookieSettings,

    #[command(flatten)]
    pub passkeys: PasskeySettings,

    #[command(flatten)]
    pub email_login: EmailLoginSettings,

    #[command(flatten)]
    pub providers: ProviderSettings,

    #[command(flatten)]
    pub oauth: OAuthSettings,
}

impl Settings {
    /// Settings from the environment and defaults alone, as `portcullis` with no
    /// arguments uses them.
    pub fn from_env() -> Result<Self, clap::Error> {
        #[derive(clap::Parser)]
        struct EnvOnly {
            #[command(flatten)]
            settings: Settings,
        }
        <EnvOnly as clap::Parser>::try_parse_from(["portcullis"]).map(|parsed| parsed.settings)
    }

    /// The address browsers reach this service at (`PUBLIC_URL`, by default
    /// `http://{BIND_ADDR}`), without a trailing slash.
    pub fn public_url(&self) -> String {
        self.providers.public_url.as_ref().map_or_else(
            || format!("http://{}", self.bind_addr),
            |url| url.as_str().trim_end_matches('/').to_owned(),
        )
    }

    /// Refuses configurations that cannot work, and in production those that
    /// are unsafe to expose to the internet: every refused setting at once,
    /// one per line, so that an operator fixes them in one go.
    pub fn check_production(&self) -> Result<(), String> {
        let refusals = self.refusals();
        match refusals.as_slice() {
            [] => Ok(()),
            [one] => Err(one.clone()),
            several => Err(format!(
                "{} settings are refused:\n- {}",
                several.len(),
                several.join("\n- ")
            )),
        }
    }

    /// What [`Settings::check_production`] refuses, each naming its variable.
    fn refusals(&self) -> Vec<String> {
        let mut refused = Vec::new();
        if let Err(refusal) = self.passkeys.relying_party() {
            refused.push(refusal);
        }
        // (Port 0 is a fresh port for each, as in tests.)
        if self.metrics_bind_addr.as_deref() == Some(self.bind_addr.as_str())
            && !self.bind_addr.ends_with(":0")
        {
            refused.push(
                "METRICS_BIND_ADDR must differ from BIND_ADDR: metrics get a listener of their own"
                    .to_owned(),
            );
        }
        // Not only in production: browsers drop such a cookie without a word.
        if self.cookie.cookie_samesite == CookieSameSite::None && !self.cookie.cookie_secure {
            refused.push(
                "COOKIE_SAMESITE=None needs COOKIE_SECURE=true: browsers refuse a SameSite=None cookie without Secure"
                    .to_owned(),
            );
        }
        let defined: Vec<&str> = self
            .providers
            .definitions
            .iter()
            .map(|definition| definition.id.as_str())
            .collect();
        for id in &self.providers.providers {
            if !id.trim().is_empty() && !defined.contains(&id.trim()) {
                refused.push(format!(
                    "PROVIDERS names {id:?}, whose PROVIDER_{}_* settings were not read",
                    id.trim().to_ascii_uppercase()
                ));
            }
        }
        if self.portcullis_env != Environment::Production {
            return refused;
        }
        if !self.cookie.cookie_secure {
            refused.push(
                "PORTCULLIS_ENV=production refuses COOKIE_SECURE=false: the refresh cookie would travel over plain HTTP"
                    .to_owned(),
            );
        }
        if self
            .guards
            .cors_allowed_origins
            .iter()
            .any(|origin| origin.trim() == "*")
        {
            refused.push(
                "PORTCULLIS_ENV=production refuses CORS_ALLOWED_ORIGINS=*: list the origins"
                    .to_owned(),
            );
        }
        if self.mail.mail_url == MailUrl::Log {
            refused.push(
                "PORTCULLIS_ENV=production refuses MAIL_URL=log (it writes reset links to the log): set MAIL_URL to smtp://… or smtps://…"
                    .to_owned(),
            );
        }
        if matches!(self.mail.mail_url, MailUrl::File(_)) && !self.mail.mail_file_in_production {
            refused.push(
                "PORTCULLIS_ENV=production refuses MAIL_URL=file://… (its files hold live reset links; set MAIL_FILE_IN_PRODUCTION=true if a local agent delivers them)"
                    .to_owned(),
            );
        }
        if self.guards.rate_limit_per_minute == 0 && !self.guards.allow_no_rate_limit {
            refused.push(
                "PORTCULLIS_ENV=production refuses RATE_LIMIT_PER_MINUTE=0 (set ALLOW_NO_RATE_LIMIT=true if a proxy limits instead)"
                    .to_owned(),
            );
        }
        match self.tokens.jwt_algorithm {
            JwtAlgorithm::EdDsa if self.tokens.jwt_private_key_file.is_none() => refused.push(
                "PORTCULLIS_ENV=production needs JWT_PRIVATE_KEY_FILE: a generated development key is refused"
                    .to_owned(),
            ),
            JwtAlgorithm::Hs256
                if self
                    .tokens
                    .jwt_secret
                    .as_ref()
                    .is_none_or(|secret| secret.expose().len() < 32) =>
            {
                refused.push(
                    "PORTCULLIS_ENV=production needs a JWT_SECRET of at least 32 bytes".to_owned(),
                );
            }
            _ => {}
        }
        for provider in &self.providers.definitions {
            if provider.issuer.scheme() != "https" {
                refused.push(format!(
                    "PORTCULLIS_ENV=production needs an https issuer for provider {} (PROVIDER_{}_ISSUER)",
                    provider.id,
                    provider.id.to_ascii_uppercase()
                ));
            }
        }
        if !self.providers.definitions.is_empty() && !self.public_url().starts_with("https://") {
            refused.push(
                "PORTCULLIS_ENV=production with PROVIDERS needs an https PUBLIC_URL (the callback providers send users back to)"
                    .to_owned(),
            );
        }
        if self.oauth.oauth_rsa_key_file.is_none() {
            refused.push(
                "PORTCULLIS_ENV=production needs OAUTH_RSA_KEY_FILE (the RSA key of ID tokens): a generated development key is refused"
                    .to_owned(),
            );
        }
        if self.encryption.data_encryption_key_file.is_none() {
            refused.push(
                "PORTCULLIS_ENV=production needs DATA_ENCRYPTION_KEY_FILE: a generated development key is refused"
                    .to_owned(),
            );
        }
        refused
    }
}

/// The configuration reference in Markdown, generated from the settings
/// themselves (so it cannot drift from `portcullis serve --help`); committed
/// as `docs/configuration.md`, which a test keeps in step.
pub fn reference() -> String {
    #[derive(clap::Parser)]
    #[command(name = "portcullis serve")]
    struct Serve {
        #[command(flatten)]
        settings: Settings,
    }
    let command = <Serve as clap::CommandFactory>::command();
    let mut out = String::from(
        "# Configuration\n\n\
         <!-- Generated by `portcullis config-reference`; do not edit by hand. -->\n\n\
         Every setting is an environment variable (a `.env` file in the working \
         directory is read too) and the `portcullis serve` flag of the same name in \
         lower-case kebab form (`DATABASE_URL` ↔ `--database-url`). \
         `portcullis serve --help` prints the same list.\n\n\
         | variable | flag | default | meaning |\n|---|---|---|---|\n",
    );
    for arg in command.get_arguments() {
        let Some(env) = arg.get_env() else { continue };
        let flag = arg
            .get_long()
            .map_or_else(String::new, |long| format!("`--{long}`"));
        let default = arg
            .get_default_values()
            .iter()
            .map(|value| value.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(",");
        let default = if default.is_empty() {
            "—".to_owned()
        } else {
            format!("`{default}`")
        };
        let help = arg
            .get_help()
            .map(|help| help.to_string().replace('|', "\\|"))
            .unwrap_or_default();
        out.push_str(&format!(
            "| `{}` | {flag} | {default} | {help} |\n",
            env.to_string_lossy()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passkeys(app_url: &str, rp_id: Option<&str>, origins: &[&str]) -> PasskeySettings {
        PasskeySettings {
            app_url: url::Url::parse(app_url).unwrap(),
            webauthn_rp_id: rp_id.map(str::to_owned),
            webauthn_origins: origins
                .iter()
                .map(|o| url::Url::parse(o).unwrap())
                .collect(),
            webauthn_rp_name: "Portcullis".to_owned(),
        }
    }

    #[test]
    fn the_relying_party_defaults_from_app_url_and_must_fit_its_origins() {
        let defaults = passkeys("http://localhost:3000", None, &[])
            .relying_party()
            .unwrap();
        assert_eq!(defaults.id, "localhost");
        assert_eq!(defaults.origins[0].as_str(), "http://localhost:3000/");

        let parent = passkeys(
            "https://app.example.com",
            Some("example.com"),
            &["https://app.example.com", "https://admin.example.com"],
        );
        assert_eq!(parent.relying_party().unwrap().id, "example.com");

        let mismatch = passkeys("https://app.example.com", Some("example.org"), &[])
            .relying_party()
            .unwrap_err();
        assert!(mismatch.contains("WEBAUTHN_RP_ID"), "{mismatch}");
        // A suffix that is not a parent domain does not fit either.
        let lookalike = passkeys("https://notexample.com", Some("example.com"), &[])
            .relying_party()
            .unwrap_err();
        assert!(lookalike.contains("WEBAUTHN_RP_ID"), "{lookalike}");
        let insecure = passkeys("http://app.example.com", None, &[])
            .relying_party()
            .unwrap_err();
        assert!(insecure.contains("WEBAUTHN_ORIGINS"), "{insecure}");
    }

    #[test]
    fn every_mail_url_form_of_the_contract_parses() {
        assert_eq!(MailUrl::parse("log"), Ok(MailUrl::Log));
        assert_eq!(
            MailUrl::parse("file:///var/mail/out"),
            Ok(MailUrl::File(PathBuf::from("/var/mail/out")))
        );
        let smtp = |raw: &str| match MailUrl::parse(raw).unwrap() {
            MailUrl::Smtp {
                host,
                port,
                security,
                credentials,
            } => (
                host,
                port,
                security,
                credentials.map(|(user, pass)| (user, pass.expose().to_owned())),
            ),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            smtp("smtp://relay.example.com"),
            (
                "relay.example.com".into(),
                587,
                SmtpSecurity::StartTls,
                None
            )
        );
        assert_eq!(
            smtp("smtps://me%40x.com:p%40ss@mail.example.com"),
            (
                "mail.example.com".into(),
                465,
                SmtpSecurity::Implicit,
                Some(("me@x.com".into(), "p@ss".into()))
            )
        );
        assert_eq!(
            smtp("smtp://localhost:2525?tls=off"),
            ("localhost".into(), 2525, SmtpSecurity::Off, None)
        );
        assert_eq!(
            smtp("smtp://u:a+b%26c@h?tls=off").3,
            Some(("u".into(), "a+b&c".into()))
        );
        assert!(MailUrl::parse("smtp://host?tls=maybe").is_err());
        assert!(MailUrl::parse("imap://host").is_err());
    }

    #[test]
    fn a_mail_url_never_shows_its_password() {
        let url = MailUrl::parse("smtps://user:hunter2@mail.example.com").unwrap();
        let shown = format!("{url:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("user:***@mail.example.com"), "{shown}");
    }

    #[test]
    fn production_takes_file_mail_only_with_its_opt_in() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            settings: Settings,
        }
        let production = |extra: &[&str]| {
            let mut args = vec![
                "portcullis",
                "--portcullis-env",
                "production",
                "--jwt-private-key-file",
                "/etc/portcullis/signing.pem",
                "--data-encryption-key-file",
                "/etc/portcullis/data.key",
                "--oauth-rsa-key-file",
                "/etc/portcullis/oauth-rsa.pem",
                "--mail-url",
                "file:///var/spool/portcullis",
            ];
            args.extend_from_slice(extra);
            <Cli as clap::Parser>::try_parse_from(args)
                .unwrap()
                .settings
                .check_production()
        };
        let refused = production(&[]).unwrap_err();
        assert!(refused.contains("MAIL_URL=file://"), "{refused}");
        assert!(refused.contains("MAIL_FILE_IN_PRODUCTION"), "{refused}");
        assert_eq!(production(&["--mail-file-in-production", "true"]), Ok(()));
    }
}
