//! The composition root: the shared services every request may use, built
//! once from the settings, providing each capability the use-cases ask for
//! (`service::ports`). Handlers (`web`) pass it to the use-cases, `startup`
//! builds it; a one-shot command builds a [`CommandContext`] instead.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::auth::encryption::DataCipher;
use crate::auth::oauth_tokens::OAuthTokens;
use crate::auth::passkeys::PasskeyVerifier;
use crate::auth::password::PasswordHasher;
use crate::auth::providers::Providers;
use crate::auth::tokens::TokenService;
use crate::clock::{Clock, SystemClock};
use crate::config::{CookieSameSite, CookieSettings, ForwardedHeader, Switch};
use crate::config::{DatabaseSettings, PasswordSettings, Settings};
use crate::db::Database;
use crate::limits::{BackoffPolicy, Limits};
use crate::mail::Mailer;
use crate::metrics::Metrics;
use crate::service::ports::{
    EmailLoginPolicy, HasCipher, HasClock, HasHasher, HasLimits, HasMailer, HasMetrics, HasOAuth,
    HasPasskeys, HasPolicy, HasProviders, HasStore, HasTokens, Policy,
};

/// Everything a request handler may need, shared by all workers.
pub struct AppState {
    pub db: Database,
    pub passwords: PasswordHasher,
    pub tokens: TokenService,
    /// The OpenID Provider's RSA key and issuer.
    pub oauth: OAuthTokens,
    /// Seals the secrets kept in the database (TOTP secrets).
    pub cipher: DataCipher,
    pub passkeys: PasskeyVerifier,
    /// The other providers users sign in with (`PROVIDERS`).
    pub providers: Providers,
    pub metrics: Metrics,
    pub limits: Limits,
    pub clock: Arc<dyn Clock>,
    pub mailer: Mailer,
    /// Woken when a message is put in the outbox, so it goes out at once.
    pub mail_wakeup: tokio::sync::Notify,
    /// Becomes `true` when this node's mail sender has stopped (after a
    /// SIGTERM, once the message it was sending is out).
    pub mail_sender_stopped: tokio::sync::watch::Sender<bool>,
    /// SIGTERM arrived: /readyz answers 503 until the listener closes.
    pub draining: std::sync::atomic::AtomicBool,
    /// What the use-cases consult.
    pub policy: Policy,
    /// What the HTTP edge consults.
    pub edge: EdgePolicy,
}

/// Settings the HTTP edge consults on every request (the use-cases have
/// their own, [`Policy`]).
#[derive(Debug, Clone)]
pub struct EdgePolicy {
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The header trusted proxies write the client's address into.
    pub forwarded_header: ForwardedHeader,
    pub cors_allowed_origins: Vec<String>,
    /// How often the sender looks for due mail without being woken.
    pub mail_poll_interval: Duration,
    pub cookie: CookiePolicy,
    /// How long a client has to send a request body.
    pub request_body_timeout: Duration,
    /// See `MAX_CONNECTIONS_PER_CLIENT`.
    pub max_connections_per_client: usize,
    /// `UI=on`: the built-in web interface is served under `/ui/`.
    pub ui: bool,
    /// Where browsers reach this service (`PUBLIC_URL`), without a trailing slash.
    pub public_url: String,
}

/// `LOGIN_REDIRECT_ALLOWLIST`, by default the origins of `APP_URL` and
/// `CORS_ALLOWED_ORIGINS`; with `UI=on`, `PUBLIC_URL`'s origin too (the
/// built-in pages come back to themselves).
fn redirect_origins(settings: &Settings) -> Vec<String> {
    let email_login = &settings.email_login;
    let mut origins: Vec<String> = if email_login.login_redirect_allowlist.is_empty() {
        let app = settings.passkeys.app_url.origin().ascii_serialization();
        std::iter::once(app)
            .chain(settings.guards.cors_allowed_origins.iter().cloned())
            .filter(|origin| origin != "*")
            .collect()
    } else {
        email_login.login_redirect_allowlist.clone()
    };
    let own = url::Url::parse(&settings.public_url())
        .ok()
        .map(|url| url.origin().ascii_serialization());
    if let Some(own) = own.filter(|_| settings.ui == Switch::On)
        && !origins.contains(&own)
    {
        origins.push(own);
    }
    origins
}

/// `OAUTH_LOGIN_URL`, by default the built-in page `{PUBLIC_URL}/ui/login`.
fn oauth_login_url(settings: &Settings) -> anyhow::Result<url::Url> {
    match &settings.oauth.oauth_login_url {
        Some(url) => Ok(url.clone()),
        None => url::Url::parse(&format!("{}/ui/login", settings.public_url()))
            .context("PUBLIC_URL does not make a login page address"),
    }
}

fn email_login_policy(settings: &Settings) -> EmailLoginPolicy {
    let email_login = &settings.email_login;
    EmailLoginPolicy {
        enabled: email_login.email_login == Switch::On,
        signup: email_login.email_login_signup == Switch::On,
        link: email_login.magic_link_url.clone(),
        ttl: email_login.magic_link_ttl,
    }
}

/// The refresh cookie of browser sessions.
#[derive(Debug, Clone)]
pub struct CookiePolicy {
    pub name: String,
    pub same_site: CookieSameSite,
    pub secure: bool,
}

impl CookiePolicy {
    fn from_settings(settings: &CookieSettings) -> Self {
        Self {
            name: settings.cookie_name.clone(),
            same_site: settings.cookie_samesite,
            secure: settings.cookie_secure,
        }
    }
}

impl AppState {
    /// Builds the state on the real clock without touching the database (see
    /// [`Database::connect_lazily`]).
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        Self::with_clock(settings, Arc::new(SystemClock))
    }

    /// [`AppState::new`] with another clock (tests move a manual one).
    pub fn with_clock(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let db = Database::connect_lazily(
            &settings.database.database_url,
            &settings.database.pool_options(),
        );
        let passwords = PasswordHasher::new(&settings.passwords)?;
        let tokens = TokenService::from_settings(&settings.tokens, &settings.database.database_url)
            .context("could not load the JWT keys")?;
        let oauth = OAuthTokens::load(
            settings.oauth.oauth_rsa_key_file.as_deref(),
            settings.public_url(),
            settings.oauth.oauth_access_token_audience.clone(),
            &settings.database.database_url,
        )
        .context("could not load the OpenID Provider's RSA key")?;
        let cipher =
            DataCipher::from_settings(&settings.encryption, &settings.database.database_url)
                .context("could not load the data encryption key")?;
        let relying_party = settings
            .passkeys
            .relying_party()
            .map_err(anyhow::Error::msg)?;
        let passkeys = PasskeyVerifier::new(
            &relying_party,
            &tokens.derive_secret("portcullis passkey decoys"),
        )?;
        let providers = Providers::new(
            &settings.providers.definitions,
            &settings.public_url(),
            Duration::from_secs(settings.providers.provider_timeout),
            settings.portcullis_env == crate::config::Environment::Production,
        )
        .context("could not set up the sign-in providers")?;
        let guards = &settings.guards;
        let limits = Limits::new(
            guards.rate_limit_per_minute,
            Some(BackoffPolicy {
                failures: guards.login_backoff_failures,
                window: Duration::from_secs(guards.login_backoff_window.max(1)),
            }),
            guards.redis_url.as_deref(),
            &tokens.derive_secret("portcullis backoff counter names"),
        )?;
        Ok(Self {
            db,
            metrics: Metrics::new(passwords.timings()),
            passwords,
            tokens,
            oauth,
            cipher,
            passkeys,
            providers,
            limits,
            clock,
            mailer: Mailer::new(&settings.mail)?,
            mail_wakeup: tokio::sync::Notify::new(),
            mail_sender_stopped: tokio::sync::watch::Sender::new(false),
            draining: std::sync::atomic::AtomicBool::new(false),
            policy: Policy {
                refresh_reuse_grace: settings.tokens.refresh_reuse_grace,
                audit_retention_days: settings.audit_retention_days,
                email_verification: settings.mail.email_verification,
                password_reset_ttl: settings.mail.password_reset_ttl,
                email_verification_ttl: settings.mail.email_verification_ttl,
                invitation_ttl: settings.mail.invitation_ttl,
                mail_min_interval: settings.mail.mail_min_interval,
                mfa_issuer: settings.mfa.mfa_issuer.clone(),
                admin_require_mfa: settings.mfa.admin_require_mfa,
                email_login: email_login_policy(settings),
                redirect_origins: redirect_origins(settings),
                signup_open: settings.providers.signup == crate::config::Signup::Open,
                reauth_window: settings.providers.reauth_window,
                oauth_login_url: oauth_login_url(settings)?,
            },
            edge: EdgePolicy {
                trusted_proxies: guards.trusted_proxies.clone(),
                forwarded_header: guards.forwarded_header,
                cors_allowed_origins: guards.cors_allowed_origins.clone(),
                mail_poll_interval: Duration::from_millis(settings.mail.mail_poll_interval_ms),
                cookie: CookiePolicy::from_settings(&settings.cookie),
                request_body_timeout: Duration::from_secs(guards.request_body_timeout),
                max_connections_per_client: usize::try_from(guards.max_connections_per_client)
                    .unwrap_or(usize::MAX),
                ui: settings.ui == Switch::On,
                public_url: settings.public_url(),
            },
        })
    }
}

impl HasStore for AppState {
    fn db(&self) -> &Database {
        &self.db
    }
}

impl HasClock for AppState {
    fn now(&self) -> chrono::NaiveDateTime {
        self.clock.now()
    }
}

impl HasHasher for AppState {
    fn passwords(&self) -> &PasswordHasher {
        &self.passwords
    }
}

impl HasTokens for AppState {
    fn tokens(&self) -> &TokenService {
        &self.tokens
    }
}

impl HasOAuth for AppState {
    fn oauth(&self) -> &OAuthTokens {
        &self.oauth
    }
}

impl HasLimits for AppState {
    fn limits(&self) -> &Limits {
        &self.limits
    }
}

impl HasCipher for AppState {
    fn cipher(&self) -> &DataCipher {
        &self.cipher
    }
}

impl HasProviders for AppState {
    fn providers(&self) -> &Providers {
        &self.providers
    }
}

impl HasPasskeys for AppState {
    fn passkeys(&self) -> &PasskeyVerifier {
        &self.passkeys
    }
}

impl HasMailer for AppState {
    fn mailer(&self) -> &Mailer {
        &self.mailer
    }

    fn wake_mail_sender(&self) {
        self.mail_wakeup.notify_one();
    }
}

impl HasMetrics for AppState {
    fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

impl HasPolicy for AppState {
    fn policy(&self) -> &Policy {
        &self.policy
    }
}

/// What a one-shot command (`create-admin`) needs: the database, the hasher
/// and the clock; it issues no tokens and sends no mail, so it has neither.
pub struct CommandContext {
    pub db: Database,
    pub passwords: PasswordHasher,
    pub clock: Arc<dyn Clock>,
}

impl CommandContext {
    pub fn new(database: &DatabaseSettings, passwords: &PasswordSettings) -> anyhow::Result<Self> {
        Ok(Self {
            db: Database::connect_lazily(&database.database_url, &database.pool_options()),
            passwords: PasswordHasher::new(passwords)?,
            clock: Arc::new(SystemClock),
        })
    }
}

impl HasStore for CommandContext {
    fn db(&self) -> &Database {
        &self.db
    }
}

impl HasClock for CommandContext {
    fn now(&self) -> chrono::NaiveDateTime {
        self.clock.now()
    }
}

impl HasHasher for CommandContext {
    fn passwords(&self) -> &PasswordHasher {
        &self.passwords
    }
}
