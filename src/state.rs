//! The shared services every request may use, built once from the settings.
//! Use-cases (`service`) take it, handlers (`web`) pass it on, `startup`
//! builds it; it imports nothing above it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::auth::encryption::DataCipher;
use crate::auth::passkeys::PasskeyVerifier;
use crate::auth::password::PasswordHasher;
use crate::auth::tokens::TokenService;
use crate::clock::{Clock, SystemClock};
use crate::config::{
    CookieSameSite, CookieSettings, EmailVerification, ForwardedHeader, MailSettings, Switch,
};
use crate::config::{DatabaseSettings, JwtAlgorithm, PasswordSettings, Settings, TokenSettings};
use crate::db::Database;
use crate::limits::{BackoffPolicy, Limits};
use crate::mail::Mailer;
use crate::metrics::Metrics;

/// Everything a request handler may need, shared by all workers.
pub struct AppState {
    pub db: Database,
    pub passwords: PasswordHasher,
    pub tokens: TokenService,
    /// Seals the secrets kept in the database (TOTP secrets).
    pub cipher: DataCipher,
    pub passkeys: PasskeyVerifier,
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
    pub policy: Policy,
}

/// Settings the use-cases and the HTTP edge consult on every request.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Seconds after a rotation during which the previous refresh token still
    /// gets the current one back (0: strictly single-use).
    pub refresh_reuse_grace: u64,
    /// Audit events older than this many days are pruned; 0 keeps them.
    pub audit_retention_days: u32,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The header trusted proxies write the client's address into.
    pub forwarded_header: ForwardedHeader,
    pub cors_allowed_origins: Vec<String>,
    pub email_verification: EmailVerification,
    pub password_reset_ttl: u64,
    pub email_verification_ttl: u64,
    pub invitation_ttl: u64,
    /// Seconds during which one address gets at most one message of a kind.
    pub mail_min_interval: u64,
    /// How often the sender looks for due mail without being woken.
    pub mail_poll_interval: Duration,
    /// The issuer authenticator apps show beside a TOTP account.
    pub mfa_issuer: String,
    /// Admin routes need a session opened with a second factor.
    pub admin_require_mfa: bool,
    pub cookie: CookiePolicy,
    /// How long a client has to send a request body.
    pub request_body_timeout: Duration,
    /// See `MAX_CONNECTIONS_PER_CLIENT`.
    pub max_connections_per_client: usize,
    pub email_login: EmailLoginPolicy,
}

/// Signing in by email (`EMAIL_LOGIN` and its settings).
#[derive(Debug, Clone, Default)]
pub struct EmailLoginPolicy {
    pub enabled: bool,
    /// An address without an account gets one when its link or code is used.
    pub signup: bool,
    /// The sign-in page's link, with `{token}`.
    pub link: String,
    pub ttl: u64,
    /// Origins `redirect_to` may lead to.
    pub redirect_origins: Vec<String>,
}

impl EmailLoginPolicy {
    fn from_settings(settings: &Settings) -> Self {
        let email_login = &settings.email_login;
        let redirect_origins = if email_login.login_redirect_allowlist.is_empty() {
            let app = settings.passkeys.app_url.origin().ascii_serialization();
            std::iter::once(app)
                .chain(settings.guards.cors_allowed_origins.iter().cloned())
                .filter(|origin| origin != "*")
                .collect()
        } else {
            email_login.login_redirect_allowlist.clone()
        };
        Self {
            enabled: email_login.email_login == Switch::On,
            signup: email_login.email_login_signup == Switch::On,
            link: email_login.magic_link_url.clone(),
            ttl: email_login.magic_link_ttl,
            redirect_origins,
        }
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
            cipher,
            passkeys,
            limits,
            clock,
            mailer: Mailer::new(&settings.mail)?,
            mail_wakeup: tokio::sync::Notify::new(),
            mail_sender_stopped: tokio::sync::watch::Sender::new(false),
            draining: std::sync::atomic::AtomicBool::new(false),
            policy: Policy {
                refresh_reuse_grace: settings.tokens.refresh_reuse_grace,
                audit_retention_days: settings.audit_retention_days,
                trusted_proxies: guards.trusted_proxies.clone(),
                forwarded_header: guards.forwarded_header,
                cors_allowed_origins: guards.cors_allowed_origins.clone(),
                email_verification: settings.mail.email_verification,
                password_reset_ttl: settings.mail.password_reset_ttl,
                email_verification_ttl: settings.mail.email_verification_ttl,
                invitation_ttl: settings.mail.invitation_ttl,
                mail_min_interval: settings.mail.mail_min_interval,
                mail_poll_interval: Duration::from_millis(settings.mail.mail_poll_interval_ms),
                mfa_issuer: settings.mfa.mfa_issuer.clone(),
                admin_require_mfa: settings.mfa.admin_require_mfa,
                cookie: CookiePolicy::from_settings(&settings.cookie),
                request_body_timeout: Duration::from_secs(guards.request_body_timeout),
                max_connections_per_client: usize::try_from(guards.max_connections_per_client)
                    .unwrap_or(usize::MAX),
                email_login: EmailLoginPolicy::from_settings(settings),
            },
        })
    }
}

impl AppState {
    /// The state a one-shot command (such as `create-admin`) needs: the
    /// database and the hasher. It issues no tokens, so it gets a throwaway
    /// in-memory signing secret and never creates a development key file.
    pub fn for_command(
        database: &DatabaseSettings,
        passwords: &PasswordSettings,
    ) -> anyhow::Result<Self> {
        let throwaway = TokenSettings {
            jwt_algorithm: JwtAlgorithm::Hs256,
            jwt_private_key_file: None,
            jwt_secret: Some(uuid::Uuid::new_v4().simple().to_string().parse()?),
            jwt_verification_key_files: Vec::new(),
            jwt_issuer: "portcullis".to_owned(),
            jwt_audience: "portcullis".to_owned(),
            access_token_ttl: 60,
            refresh_token_ttl: 60,
            refresh_reuse_grace: 0,
        };
        let tokens = TokenService::from_settings(&throwaway, &database.database_url)?;
        let passwords = PasswordHasher::new(passwords)?;
        let metrics = Metrics::new(passwords.timings());
        // Commands run no WebAuthn ceremony.
        let passkeys = PasskeyVerifier::new(
            &crate::config::RelyingParty {
                id: "localhost".to_owned(),
                name: "Portcullis".to_owned(),
                origins: vec![url::Url::parse("http://localhost")?],
            },
            &tokens.derive_secret("unused"),
        )?;
        Ok(Self {
            db: Database::connect_lazily(&database.database_url, &database.pool_options()),
            passwords,
            limits: Limits::new(0, None, None, &tokens.derive_secret("unused"))?,
            tokens,
            cipher: DataCipher::throwaway()?,
            passkeys,
            metrics,
            clock: Arc::new(SystemClock),
            // Commands send no mail.
            mailer: Mailer::new(&MailSettings {
                mail_url: crate::config::MailUrl::Log,
                mail_file_in_production: false,
                mail_from: "Portcullis <no-reply@localhost>".to_owned(),
                password_reset_url: "http://localhost/{token}".to_owned(),
                email_verification_url: "http://localhost/{token}".to_owned(),
                password_reset_ttl: 1,
                email_verification_ttl: 1,
                invitation_ttl: 1,
                email_verification: EmailVerification::Off,
                mail_min_interval: 0,
                mail_poll_interval_ms: 1_000,
            })?,
            mail_wakeup: tokio::sync::Notify::new(),
            mail_sender_stopped: tokio::sync::watch::Sender::new(false),
            draining: std::sync::atomic::AtomicBool::new(false),
            policy: Policy {
                refresh_reuse_grace: 0,
                audit_retention_days: 0,
                trusted_proxies: Vec::new(),
                forwarded_header: ForwardedHeader::XForwardedFor,
                cors_allowed_origins: Vec::new(),
                email_verification: EmailVerification::Off,
                password_reset_ttl: 1,
                email_verification_ttl: 1,
                invitation_ttl: 1,
                mail_min_interval: 0,
                mail_poll_interval: Duration::from_secs(1),
                mfa_issuer: "Portcullis".to_owned(),
                admin_require_mfa: false,
                cookie: CookiePolicy {
                    name: "portcullis_refresh".to_owned(),
                    same_site: CookieSameSite::Strict,
                    secure: true,
                },
                request_body_timeout: Duration::from_secs(5),
                max_connections_per_client: 16,
                email_login: EmailLoginPolicy::default(),
            },
        })
    }
}
