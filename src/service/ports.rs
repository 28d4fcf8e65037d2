//! What the use-cases need from the world, one capability per trait. Each
//! use-case names the capabilities it uses in its signature (`deps: &(impl
//! HasStore + HasClock)`), so reading a signature tells what a flow touches,
//! and an entry point provides exactly those: the server's state provides them
//! all (`crate::state`), the `create-admin` command only a store, a clock and
//! a hasher. Nothing here depends on how a capability is built.

use chrono::NaiveDateTime;

use crate::auth::encryption::DataCipher;
use crate::auth::oauth_tokens::OAuthTokens;
use crate::auth::passkeys::PasskeyVerifier;
use crate::auth::password::PasswordHasher;
use crate::auth::providers::Providers;
use crate::auth::tokens::TokenService;
use crate::config::EmailVerification;
use crate::db::Database;
use crate::limits::Limits;
use crate::mail::Mailer;
use crate::metrics::Metrics;

/// The database.
pub trait HasStore {
    fn db(&self) -> &Database;
}

/// The time, from the clock the entry point chose (tests move a manual one).
pub trait HasClock {
    fn now(&self) -> NaiveDateTime;
}

/// Hashing and checking passwords.
pub trait HasHasher {
    fn passwords(&self) -> &PasswordHasher;
}

/// Issuing and checking access and refresh tokens.
pub trait HasTokens {
    fn tokens(&self) -> &TokenService;
}

/// The OpenID Provider's keys and issuer.
pub trait HasOAuth {
    fn oauth(&self) -> &OAuthTokens;
}

/// Rate limits and the per-account backoff.
pub trait HasLimits {
    fn limits(&self) -> &Limits;
}

/// Sealing secrets kept in the database (TOTP secrets, passkeys, ceremonies).
pub trait HasCipher {
    fn cipher(&self) -> &DataCipher;
}

/// The WebAuthn relying party.
pub trait HasPasskeys {
    fn passkeys(&self) -> &PasskeyVerifier;
}

/// The other providers users sign in with.
pub trait HasProviders {
    fn providers(&self) -> &Providers;
}

/// Rendering and sending mail; messages go through the outbox.
pub trait HasMailer {
    fn mailer(&self) -> &Mailer;
    /// Tells this node's sender that a message was just queued.
    fn wake_mail_sender(&self);
}

/// Counters and histograms for `/metrics`.
pub trait HasMetrics {
    fn metrics(&self) -> &Metrics;
}

/// The settings the use-cases consult.
pub trait HasPolicy {
    fn policy(&self) -> &Policy;
}

/// The settings the use-cases consult (the HTTP edge has its own).
#[derive(Debug, Clone)]
pub struct Policy {
    /// Seconds after a rotation during which the previous refresh token still
    /// gets the current one back (0: strictly single-use).
    pub refresh_reuse_grace: u64,
    /// Audit events older than this many days are pruned; 0 keeps them.
    pub audit_retention_days: u32,
    pub email_verification: EmailVerification,
    pub password_reset_ttl: u64,
    pub email_verification_ttl: u64,
    pub invitation_ttl: u64,
    /// Seconds during which one address gets at most one message of a kind.
    pub mail_min_interval: u64,
    /// The issuer authenticator apps show beside a TOTP account.
    pub mfa_issuer: String,
    /// Admin routes need a session opened with a second factor.
    pub admin_require_mfa: bool,
    pub email_login: EmailLoginPolicy,
    /// Origins an app may ask to come back to after a sign-in by email or at
    /// a provider (`LOGIN_REDIRECT_ALLOWLIST`).
    pub redirect_origins: Vec<String>,
    /// A provider's verified address may create an account (`SIGNUP=open`).
    pub signup_open: bool,
    /// Seconds after its login during which a session of an account without
    /// a password may confirm a change (`REAUTH_WINDOW`).
    pub reauth_window: u64,
    /// Where an authorization request sends the browser to log in, with
    /// `?request_id=…` (`OAUTH_LOGIN_URL`).
    pub oauth_login_url: url::Url,
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
}
