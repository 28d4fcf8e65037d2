//! What every way of logging in shares: how a user names an account, why a
//! login fails, the second step's challenge, the proof a second factor gives,
//! and opening the session once a login is proven ([`open_session`]).
//! Password, passkey, mailed-link and (later) provider logins each prove the
//! user in their own module and end here.

use chrono::NaiveDateTime;
use serde_json::json;

use super::account::Account;
use super::audit::Event;
use super::caller::ClientInfo;
use super::carries_store_errors;
use super::ports::{HasClock, HasMetrics, HasStore, HasTokens};
use crate::auth::password::HashError;
use crate::auth::tokens::TokenError;
use crate::clock::seconds;
use crate::db::mfa;
use crate::db::sessions::{self, SessionRow};
use crate::db::users::{self, UserRow};
use crate::db::{DbConnection, StoreError};
use crate::domain::{Amr, AuthMethod, Email, EventType, LoginMethod};

/// How a user names their account at login.
#[derive(Debug, Clone)]
pub enum Identifier {
    Email(String),
    Username(String),
}

impl Identifier {
    /// The form accounts are looked up and counted by: an email as it is
    /// stored (lookalike spellings of one address are one address), a username
    /// lower-cased (usernames compare ignoring case).
    pub(super) fn normalised(&self) -> Self {
        match self {
            Self::Email(email) => Self::Email(
                Email::parse(email)
                    .map_or_else(|_| email.to_lowercase(), |email| email.as_str().to_owned()),
            ),
            Self::Username(name) => Self::Username(name.to_lowercase()),
        }
    }

    pub(super) fn as_str(&self) -> &str {
        match self {
            Self::Email(text) | Self::Username(text) => text,
        }
    }
}

/// Why a login did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown account or wrong password: indistinguishable on purpose.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Told only after the right password.
    #[error("account disabled")]
    AccountDisabled,
    /// `EMAIL_VERIFICATION=required` and the address is not proven; told only
    /// after the right password.
    #[error("email not verified")]
    EmailNotVerified,
    /// Too many recent failures for this account from an unfamiliar address.
    #[error("held back")]
    HeldBack { retry_after_secs: u64 },
    /// The password was right and the account has a second factor: finish
    /// with [`finish_login`] and this challenge.
    #[error("second factor required")]
    SecondFactorRequired(MfaChallenge),
    /// The `mfa_token` is unknown, used, expired or out of tries.
    #[error("unknown or expired mfa token")]
    ChallengeInvalid,
    #[error("invalid second-factor code")]
    InvalidMfaCode,
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    Store(#[from] StoreError),
}
carries_store_errors!(LoginError);

impl LoginError {
    /// The outcome label a refused login is counted under (`portcullis_logins_total`).
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::InvalidCredentials => "invalid_credentials",
            Self::AccountDisabled => "account_disabled",
            Self::EmailNotVerified => "email_not_verified",
            Self::HeldBack { .. } => "held_back",
            Self::SecondFactorRequired(_) => "mfa_required",
            Self::ChallengeInvalid => "challenge_invalid",
            Self::InvalidMfaCode => "invalid_mfa_code",
            Self::Hash(HashError::Overloaded) => "overloaded",
            Self::Hash(_) | Self::Token(_) | Self::Store(_) => "error",
        }
    }
}

/// An error a login attempt may end in: a refused login, counted under its
/// outcome, or something that happened before there was a login to count.
pub trait LoginOutcome {
    fn login_outcome(&self) -> Option<&'static str>;
}

impl LoginOutcome for LoginError {
    fn login_outcome(&self) -> Option<&'static str> {
        Some(self.outcome())
    }
}

/// Counts a login attempt (password, second step, passkey, mailed link or
/// code) by outcome (`portcullis_logins_total`).
pub fn count_login<T>(deps: &impl HasMetrics, result: &Result<T, impl LoginOutcome>) {
    let outcome = match result {
        Ok(_) => Some("success"),
        Err(error) => error.login_outcome(),
    };
    if let Some(outcome) = outcome {
        deps.metrics().login(outcome);
    }
}

/// What a client needs to finish a login with its second factor.
#[derive(Debug)]
pub struct MfaChallenge {
    /// Opaque, single-use; only its hash is stored.
    pub mfa_token: crate::config::Secret,
    /// The factors that can finish it.
    pub methods: Vec<LoginMethod>,
    /// With `passkey` among the methods: WebAuthn request options naming the
    /// account's passkeys, for `navigator.credentials.get`.
    pub passkey_options: Option<serde_json::Value>,
    pub expires_in: u64,
}

/// A token pair and the account it is for (no `Debug`: it holds the tokens).
pub struct IssuedTokens {
    pub access_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub refresh_token: String,
    /// Seconds until the refresh token (and its session) expires.
    pub refresh_expires_in: u64,
    pub account: Account,
}

/// How a login was proven, as its session and audit event record it.
pub(super) struct Login {
    /// RFC 8176 methods, carried by the session's access tokens.
    pub amr: &'static [AuthMethod],
    /// The last factor, as the `login_succeeded` event names it.
    pub method: LoginMethod,
    pub remember: bool,
    /// The provider of a provider's sign-in, as the event names it.
    pub provider: Option<String>,
}

/// Opens a session for `row` and issues its first token pair. The login is
/// recorded only if the account is unchanged since its password was checked
/// (otherwise it is refused as invalid credentials), in one transaction with
/// whatever `also` spends (a challenge, a code); `also` updates the account
/// the token pair shows if it changed it.
pub(super) async fn open_session(
    deps: &(impl HasStore + HasClock + HasTokens),
    row: UserRow,
    upgraded_hash: Option<String>,
    login: Login,
    client: &ClientInfo,
    also: impl FnOnce(&mut crate::db::DbConnection, &mut UserRow) -> Result<(), LoginError>
    + Send
    + 'static,
) -> Result<IssuedTokens, LoginError> {
    let now = deps.now();
    let session_ttl = deps.tokens().session_ttl(login.remember);
    let session = SessionRow {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: row.id.clone(),
        refresh_jti: uuid::Uuid::new_v4().to_string(),
        previous_refresh_jti: None,
        rotated_at: None,
        created_at: now,
        last_used_at: now,
        expires_at: now + seconds(session_ttl),
        revoked_at: None,
        user_agent: client.user_agent.clone(),
        ip: client.ip.clone(),
        amr: Amr::of(login.amr).to_stored(),
    };
    let mut detail = json!({"session_id": session.id, "method": login.method.as_str()});
    if let Some(provider) = login.provider {
        detail["provider"] = json!(provider);
    }
    let event = Event::new(EventType::LoginSucceeded, client, now)
        .user(&row.id)
        .detail(detail);
    let inserted = session.clone();
    let logged_in = deps
        .db()
        .transaction(move |conn| {
            let mut row = row;
            // First, so that on PostgreSQL it also locks the row until commit.
            if !users::record_login(conn, &row, now, upgraded_hash.as_deref())? {
                return Err(LoginError::InvalidCredentials);
            }
            also(conn, &mut row)?;
            sessions::insert(conn, &inserted)?;
            event.record(conn)?;
            Ok(row)
        })
        .await?;
    issue(deps, &logged_in, &session, now)
}

/// The pair for `session` as it stands: an access token, and the refresh
/// token of the session's current id. The refresh token's claims are fixed by
/// the session (issued at its last rotation, expiring with it), so handing the
/// current token back within the grace window gives the very same token.
pub(super) fn issue<E: From<TokenError> + From<StoreError>>(
    deps: &impl HasTokens,
    user: &UserRow,
    session: &SessionRow,
    now: NaiveDateTime,
) -> Result<IssuedTokens, E> {
    let amr = Amr::from_stored(&session.amr).names();
    let access_token = deps.tokens().issue_access(
        &user.id,
        &session.id,
        &user.role,
        &amr,
        now.and_utc().timestamp(),
    )?;
    let refresh_token = deps.tokens().issue_refresh(
        &user.id,
        &session.id,
        &session.refresh_jti,
        session
            .rotated_at
            .unwrap_or(session.created_at)
            .and_utc()
            .timestamp(),
        session.expires_at.and_utc().timestamp(),
    )?;
    let remaining = (session.expires_at - now).num_seconds().max(0);
    Ok(IssuedTokens {
        access_token,
        expires_in: deps.tokens().access_ttl(),
        refresh_token,
        refresh_expires_in: u64::try_from(remaining).unwrap_or_default(),
        account: Account::from_row(user)?,
    })
}
/// How a login waiting for its second factor began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstFactor {
    Password,
    /// A link or code mailed to the address.
    Email,
    /// Another provider's sign-in.
    Provider,
}

impl FirstFactor {
    /// As RFC 8176 names it in `amr`.
    pub fn auth_method(self) -> AuthMethod {
        match self {
            Self::Password => AuthMethod::Password,
            Self::Email => AuthMethod::Email,
            Self::Provider => AuthMethod::Federated,
        }
    }

    /// As challenges store it: its `amr` name.
    pub fn as_str(self) -> &'static str {
        self.auth_method().as_str()
    }

    pub(super) fn from_stored(stored: &str) -> Self {
        [Self::Email, Self::Provider]
            .into_iter()
            .find(|first| first.as_str() == stored)
            .unwrap_or(Self::Password)
    }
}

/// A second factor that matched, still to be spent (see [`Proof::spend`]).
#[derive(Debug)]
pub(super) enum Proof {
    /// A TOTP code of this time step; `resealed` is the secret sealed again
    /// under the current key when an older key had sealed it.
    Totp { step: i64, resealed: Option<String> },
    /// A recovery code with this hash (whether the account has it is decided
    /// when it is spent).
    RecoveryCode(String),
    /// A passkey's valid answer: its signature counter (and the passkey
    /// sealed again when webauthn-rs updated it) still to be recorded, which
    /// refuses a counter that went back meanwhile.
    Passkey {
        passkey_id: String,
        counter: i64,
        resealed: Option<String>,
        at: chrono::NaiveDateTime,
    },
}

impl Proof {
    /// Spends the code; `false` if it was already spent (a replayed TOTP
    /// code, a used or unknown recovery code).
    pub(super) fn spend(
        &self,
        conn: &mut DbConnection,
        user_id: &str,
    ) -> diesel::QueryResult<bool> {
        match self {
            Self::Totp { step, resealed } => {
                mfa::spend_totp_step(conn, user_id, *step, resealed.as_deref())
            }
            Self::RecoveryCode(hash) => mfa::spend_recovery_code(conn, user_id, hash),
            Self::Passkey {
                passkey_id,
                counter,
                resealed,
                at,
            } => crate::db::passkeys::record_use(
                conn,
                passkey_id,
                *counter,
                resealed.as_deref(),
                *at,
            ),
        }
    }

    /// RFC 8176 methods of a login begun with `first` and finished with
    /// this factor.
    pub(super) fn amr(&self, first: FirstFactor) -> &'static [AuthMethod] {
        use AuthMethod::{
            Email, Federated, HardwareKey, MultipleFactors, OneTimePassword, Password,
        };
        match (first, self) {
            (FirstFactor::Password, Self::Totp { .. }) => {
                &[Password, OneTimePassword, MultipleFactors]
            }
            (FirstFactor::Password, Self::RecoveryCode(_)) => &[Password, MultipleFactors],
            (FirstFactor::Password, Self::Passkey { .. }) => {
                &[Password, HardwareKey, MultipleFactors]
            }
            (FirstFactor::Email, Self::Totp { .. }) => &[Email, OneTimePassword, MultipleFactors],
            (FirstFactor::Email, Self::RecoveryCode(_)) => &[Email, MultipleFactors],
            (FirstFactor::Email, Self::Passkey { .. }) => &[Email, HardwareKey, MultipleFactors],
            (FirstFactor::Provider, Self::Totp { .. }) => {
                &[Federated, OneTimePassword, MultipleFactors]
            }
            (FirstFactor::Provider, Self::RecoveryCode(_)) => &[Federated, MultipleFactors],
            (FirstFactor::Provider, Self::Passkey { .. }) => {
                &[Federated, HardwareKey, MultipleFactors]
            }
        }
    }

    pub(super) fn method(&self) -> LoginMethod {
        match self {
            Self::Totp { .. } => LoginMethod::Totp,
            Self::RecoveryCode(_) => LoginMethod::RecoveryCode,
            Self::Passkey { .. } => LoginMethod::Passkey,
        }
    }

    pub(super) fn is_recovery_code(&self) -> bool {
        matches!(self, Self::RecoveryCode(_))
    }
}
