//! A session's life: check a password, start a session, authenticate its
//! access tokens, refresh it (rotation with reuse detection), list and end it.
//! Logging in is [`verify_password`] then [`start_session`]; for an account
//! with a second factor, `start_session` hands out a challenge instead, and
//! [`finish_login`] opens the session once the code is right.

use chrono::NaiveDateTime;
use serde_json::json;

use super::audit::Event;
use super::{Account, ClientInfo, carries_store_errors};
use crate::auth::password::{HashError, Verification};
use crate::auth::tokens::TokenError;
use crate::clock::seconds;
use crate::config::EmailVerification;
use crate::db::StoreError;
use crate::db::sessions::{self, SessionRow};
use crate::db::users::{self, UserRow};
use crate::domain::{Email, EventType};
use crate::limits::UNKNOWN_PREFIX;
use crate::state::AppState;

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

/// Counts a login attempt (password, second step or passkey) by outcome.
pub fn count_login<T>(state: &AppState, result: &Result<T, LoginError>) {
    state.metrics.login(match result {
        Ok(_) => "success",
        Err(error) => error.outcome(),
    });
}

/// An account whose password was just checked; only [`verify_password`] makes
/// one, and only [`start_session`] consumes it.
#[derive(Debug)]
pub struct VerifiedUser {
    row: UserRow,
    upgraded_hash: Option<String>,
}

/// What a client needs to finish a login with its second factor.
#[derive(Debug)]
pub struct MfaChallenge {
    /// Opaque, single-use; only its hash is stored.
    pub mfa_token: crate::config::Secret,
    /// The factors that can finish it.
    pub methods: Vec<&'static str>,
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

/// Checks a password for the account `identifier` names. An unknown account
/// and a wrong password get the same answer in the same time; a disabled
/// account is told so only after the right password. Failures count towards
/// the account's backoff (see [`hold_back_if_failing`]).
pub async fn verify_password(
    state: &AppState,
    identifier: Identifier,
    password: String,
    client: &ClientInfo,
) -> Result<VerifiedUser, LoginError> {
    let identifier = identifier.normalised();
    let lookup = identifier.clone();
    let user = state
        .db
        .run(move |conn| {
            Ok::<_, StoreError>(match &lookup {
                Identifier::Email(email) => users::find_by_email(conn, email)?,
                Identifier::Username(name) => users::find_by_username(conn, name)?,
            })
        })
        .await?;
    // Unknown accounts are held back exactly like real ones, so the backoff
    // cannot be used to find out which accounts exist.
    let backoff_key = user.as_ref().map_or_else(
        || format!("{UNKNOWN_PREFIX}{}", identifier.as_str()),
        |user| user.id.clone(),
    );
    hold_back_if_failing(state, client, user.as_ref(), &backoff_key).await?;

    let stored_hash = user.as_ref().map(|user| user.password_hash.clone());
    let verification = state.passwords.verify(password, stored_hash).await?;
    let failure = Event::new(EventType::LoginFailed, client, state.clock.now());
    let (row, upgraded_hash) = match (user, verification) {
        (Some(user), Verification::Match { upgraded_hash }) => (user, upgraded_hash),
        (Some(user), Verification::Mismatch) => {
            let event = failure
                .user(&user.id)
                .detail(json!({"reason": "wrong_password"}));
            super::audit::record_alone(state, event).await?;
            return Err(LoginError::InvalidCredentials);
        }
        // The attempted identifier is not kept: it may be a mistyped password.
        (None, _) => {
            let event = failure.detail(json!({"reason": "unknown_account"}));
            super::audit::record_alone(state, event).await?;
            return Err(LoginError::InvalidCredentials);
        }
    };
    // With a second factor to come, the password alone is no success: the
    // failures counted so far stand until the whole login succeeds, so a
    // thief who has the password cannot reset the count between code guesses.
    if !row.has_second_factor() {
        state.limits.reset_login_failures(&backoff_key).await;
    }
    if row.disabled {
        let event = failure
            .user(&row.id)
            .detail(json!({"reason": "account_disabled"}));
        super::audit::record_alone(state, event).await?;
        return Err(LoginError::AccountDisabled);
    }
    if state.policy.email_verification == EmailVerification::Required && !row.email_verified {
        let event = failure
            .user(&row.id)
            .detail(json!({"reason": "email_not_verified"}));
        super::audit::record_alone(state, event).await?;
        return Err(LoginError::EmailNotVerified);
    }
    Ok(VerifiedUser { row, upgraded_hash })
}

/// Counts the attempt and refuses it once the account has had too many recent
/// failed ones, unless the client's address is one this account has logged in
/// from before: an attacker elsewhere can then slow a user down but not lock
/// them out of their usual network.
async fn hold_back_if_failing(
    state: &AppState,
    client: &ClientInfo,
    user: Option<&UserRow>,
    backoff_key: &str,
) -> Result<(), LoginError> {
    let Some(retry_after_secs) = state.limits.login_attempt(backoff_key).await else {
        return Ok(());
    };
    // Asked for unknown accounts too, so both answers take the same path.
    let user_id = user.map(|user| user.id.clone()).unwrap_or_default();
    let ip = client.ip.clone().unwrap_or_default();
    let now = state.clock.now();
    let familiar = state
        .db
        .run(move |conn| Ok::<_, StoreError>(sessions::ip_seen(conn, &user_id, &ip, now)?))
        .await?;
    if familiar && user.is_some() {
        return Ok(());
    }
    let mut event = Event::new(EventType::LoginFailed, client, state.clock.now())
        .detail(json!({"reason": "held_back"}));
    if let Some(user) = user {
        event = event.user(&user.id);
    }
    super::audit::record_alone(state, event).await?;
    Err(LoginError::HeldBack { retry_after_secs })
}

/// Starts a session for a verified account and issues its first token pair,
/// or, if the account has a second factor (TOTP or a passkey), hands out the
/// challenge [`finish_login`] needs (as [`LoginError::SecondFactorRequired`]):
/// one factor never opens an account that has two. `remember` keeps the
/// session for `REFRESH_TOKEN_TTL`, otherwise at most a day.
pub async fn start_session(
    state: &AppState,
    verified: VerifiedUser,
    remember: bool,
    client: &ClientInfo,
) -> Result<IssuedTokens, LoginError> {
    let VerifiedUser { row, upgraded_hash } = verified;
    if row.has_second_factor() {
        let challenge = super::mfa::challenge(
            state,
            &row,
            upgraded_hash,
            remember,
            super::mfa::FirstFactor::Password,
        )
        .await?;
        return Err(LoginError::SecondFactorRequired(challenge));
    }
    let login = Login {
        amr: AMR_PASSWORD,
        method: "password",
        remember,
    };
    open_session(state, row, upgraded_hash, login, client, |_, _| Ok(())).await
}

/// The `amr` of a session opened with a password alone.
const AMR_PASSWORD: &[&str] = &["pwd"];

/// How a login was proven, as its session and audit event record it.
pub(super) struct Login {
    /// RFC 8176 methods, carried by the session's access tokens.
    pub amr: &'static [&'static str],
    /// The last factor, as the `login_succeeded` event names it.
    pub method: &'static str,
    pub remember: bool,
}

/// Finishes a login waiting for its second factor: `mfa_token` from the
/// challenge and a TOTP code, a recovery code or a passkey's answer to the
/// challenge's `passkey_options`. Each try counts against the
/// challenge (`MFA_TOKEN_MAX_ATTEMPTS`) and the account's count of codes (see
/// `mfa::count_code_try`); the code and the challenge are spent in the
/// transaction that opens the session.
pub async fn finish_login(
    state: &AppState,
    mfa_token: &str,
    factor: super::mfa::SecondFactor,
    client: &ClientInfo,
) -> Result<IssuedTokens, LoginError> {
    let (challenge, row) = super::mfa::spend_attempt(state, mfa_token).await?;
    super::mfa::count_code_try(state, &row.id)
        .await
        .map_err(|retry_after_secs| LoginError::HeldBack { retry_after_secs })?;
    let proof = match &factor {
        super::mfa::SecondFactor::Passkey(credential) => {
            super::passkeys::check_second_factor(state, mfa_token, &row.id, credential).await?
        }
        code => super::mfa::check(state, &row.id, code).await?,
    };
    let Some(proof) = proof else {
        super::mfa::code_was_wrong(state, &row.id, factor.method(), client).await?;
        return Err(LoginError::InvalidMfaCode);
    };
    let login = Login {
        amr: proof.amr(super::mfa::first_factor_of(&challenge)),
        method: proof.method(),
        remember: challenge.remember,
    };
    let user_id = row.id.clone();
    let owner = row.id.clone();
    let event = Event::new(EventType::RecoveryCodeUsed, client, state.clock.now()).user(&row.id);
    let opened = open_session(state, row, None, login, client, move |conn, account| {
        if !crate::db::mfa::finish_challenge(conn, &challenge.token_hash)? {
            return Err(LoginError::ChallengeInvalid);
        }
        if !proof.spend(conn, &owner)? {
            return Err(LoginError::InvalidMfaCode);
        }
        if proof.is_recovery_code() {
            // The token pair's account shows the codes left after this one.
            account.recovery_codes_left = crate::db::mfa::recovery_codes_left(conn, &owner)?;
            event.record(conn)?;
        }
        Ok(())
    })
    .await;
    match opened {
        Err(LoginError::InvalidMfaCode) => {
            super::mfa::code_was_wrong(state, &user_id, factor.method(), client).await?;
            Err(LoginError::InvalidMfaCode)
        }
        Ok(tokens) => {
            super::mfa::code_was_right(state, &user_id).await;
            Ok(tokens)
        }
        failed => failed,
    }
}

/// Opens a session for `row` and issues its first token pair. The login is
/// recorded only if the account is unchanged since its password was checked
/// (otherwise it is refused as invalid credentials), in one transaction with
/// whatever `also` spends (a challenge, a code); `also` updates the account
/// the token pair shows if it changed it.
pub(super) async fn open_session(
    state: &AppState,
    row: UserRow,
    upgraded_hash: Option<String>,
    login: Login,
    client: &ClientInfo,
    also: impl FnOnce(&mut crate::db::DbConnection, &mut UserRow) -> Result<(), LoginError>
    + Send
    + 'static,
) -> Result<IssuedTokens, LoginError> {
    let now = state.clock.now();
    let session_ttl = state.tokens.session_ttl(login.remember);
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
        amr: login.amr.join(","),
    };
    let event = Event::new(EventType::LoginSucceeded, client, now)
        .user(&row.id)
        .detail(json!({"session_id": session.id, "method": login.method}));
    let inserted = session.clone();
    let logged_in = state
        .db
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
    issue(state, &logged_in, &session, now)
}

/// Why a refresh token was refused.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("invalid token")]
    InvalidToken,
    #[error("token expired")]
    TokenExpired,
    /// A token rotated out earlier: the whole session has been revoked.
    #[error("refresh token reused")]
    Reused,
    #[error(transparent)]
    Token(TokenError),
    #[error(transparent)]
    Store(#[from] StoreError),
}
carries_store_errors!(RefreshError);

impl From<TokenError> for RefreshError {
    fn from(error: TokenError) -> Self {
        match error {
            TokenError::Invalid => Self::InvalidToken,
            TokenError::Expired => Self::TokenExpired,
            failed @ TokenError::Failed(_) => Self::Token(failed),
        }
    }
}

/// What a refresh token that did not rotate turned out to be.
enum NotRotated {
    /// The token just rotated out, within the grace window: the current one is
    /// handed back unchanged.
    WithinGrace(Box<(SessionRow, UserRow)>),
    /// A token rotated out earlier: the session has been revoked.
    Reused,
}

/// Trades a refresh token for a new pair; the presented token is spent.
/// Showing a spent token again is reuse (a sign of theft): the whole session
/// is revoked. Within `REFRESH_REUSE_GRACE` seconds of a rotation, the token
/// just replaced instead gets the session's current refresh token back, so two
/// tabs or a retried request do not log the user out.
pub async fn refresh(
    state: &AppState,
    refresh_token: &str,
    client: &ClientInfo,
) -> Result<IssuedTokens, RefreshError> {
    let now = state.clock.now();
    let claims = state
        .tokens
        .verify_refresh(refresh_token, now.and_utc().timestamp())?;
    // The common case first, in one conditional write: the token is the
    // session's current one, so it rotates. The write decides races: of two
    // requests with one token, exactly one rotates it. A successful refresh
    // is no audit event: the session row keeps its count, time and client.
    let new_jti = uuid::Uuid::new_v4().to_string();
    let rotated = {
        let claims = claims.clone();
        let client = client.clone();
        state
            .db
            .write(move |conn| {
                Ok::<_, RefreshError>(
                    sessions::Rotation {
                        session_id: &claims.sid,
                        user_id: &claims.sub,
                        old_jti: &claims.jti,
                        new_jti: &new_jti,
                        now,
                        ip: client.ip.as_deref(),
                        user_agent: client.user_agent.as_deref(),
                    }
                    .run(conn)?,
                )
            })
            .await?
    };
    if let Some((session, user)) = rotated {
        return issue(state, &user, &session, now);
    }
    let grace = seconds(state.policy.refresh_reuse_grace);
    let client = client.clone();
    let outcome = state
        .db
        .transaction(move |conn| {
            let (session, user) = sessions::find_with_user(conn, &claims.sid, &claims.sub)?
                .ok_or(RefreshError::InvalidToken)?;
            if session.revoked_at.is_some() || user.disabled {
                return Err(RefreshError::InvalidToken);
            }
            if session.expires_at <= now {
                return Err(RefreshError::TokenExpired);
            }
            // Still current yet not rotated: the account was disabled when the
            // rotation ran and has been enabled since. Not reuse.
            if session.refresh_jti == claims.jti {
                return Err(RefreshError::InvalidToken);
            }
            let just_rotated_out = session.previous_refresh_jti.as_deref()
                == Some(claims.jti.as_str())
                && session.rotated_at.is_some_and(|at| now - at <= grace)
                && !grace.is_zero();
            if just_rotated_out {
                // The refresh that rotated it, repeated (a retry, another
                // tab): it changes nothing, so it writes nothing either.
                return Ok(NotRotated::WithinGrace(Box::new((session, user))));
            }
            sessions::revoke(conn, &session.id, &user.id, now)?;
            Event::new(EventType::RefreshReuseDetected, &client, now)
                .user(&user.id)
                .detail(json!({"session_id": session.id}))
                .record(conn)?;
            Ok(NotRotated::Reused)
        })
        .await?;
    match outcome {
        NotRotated::WithinGrace(pair) => issue(state, &pair.1, &pair.0, now),
        NotRotated::Reused => {
            tracing::warn!("refresh token reuse detected; session revoked");
            state.metrics.refresh_reuse_detected();
            Err(RefreshError::Reused)
        }
    }
}

/// Why an access token does not authenticate its bearer.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Malformed, forged, of the wrong kind, or its session has ended.
    #[error("invalid token")]
    InvalidToken,
    #[error("token expired")]
    TokenExpired,
    #[error(transparent)]
    Store(#[from] StoreError),
}
carries_store_errors!(AuthError);

/// The bearer of a valid access token whose session is still live and whose
/// account is enabled.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account: Account,
    pub session_id: String,
    /// How the session was authenticated (the access token's `amr`).
    pub amr: Vec<String>,
    /// For confirming the caller's password; never leaves the service layer.
    pub(in crate::service) password_hash: String,
}

/// Checks an access token and, against the database, that its session is still
/// live and its account enabled, so logout, deletion and disabling take
/// effect at once.
pub async fn authenticate(state: &AppState, access_token: &str) -> Result<Caller, AuthError> {
    let now = state.clock.now();
    let claims = state
        .tokens
        .verify_access(access_token, now.and_utc().timestamp())
        .map_err(|error| match error {
            TokenError::Expired => AuthError::TokenExpired,
            TokenError::Invalid | TokenError::Failed(_) => AuthError::InvalidToken,
        })?;
    let (session_id, user_id) = (claims.sid.clone(), claims.sub);
    let row = state
        .db
        .run(move |conn| {
            Ok::<_, StoreError>(sessions::find_live_user(conn, &session_id, &user_id, now)?)
        })
        .await?
        .ok_or(AuthError::InvalidToken)?;
    Ok(Caller {
        account: Account::from_row(&row)?,
        session_id: claims.sid,
        amr: claims.amr,
        password_hash: row.password_hash,
    })
}

/// Ends the caller's session, or with `all` every session of the caller.
pub async fn end(
    state: &AppState,
    caller: &Caller,
    all: bool,
    client: &ClientInfo,
) -> Result<(), StoreError> {
    let now = state.clock.now();
    let kind = if all {
        EventType::LoggedOutAll
    } else {
        EventType::LoggedOut
    };
    let user_id = caller.account.id.to_string();
    let session_id = caller.session_id.clone();
    let event = Event::new(kind, client, now)
        .user(&user_id)
        .detail(json!({"session_id": session_id}));
    state
        .db
        .transaction(move |conn| {
            if all {
                sessions::revoke_all_for_user(conn, &user_id, now)?;
            } else {
                sessions::revoke(conn, &session_id, &user_id, now)?;
            }
            event.record(conn)?;
            Ok(())
        })
        .await
}

/// One live session, as its owner sees it.
#[derive(Debug, Clone)]
pub struct LiveSession {
    pub id: String,
    pub created_at: NaiveDateTime,
    pub last_used_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// The latest refresh; `None` before the first.
    pub last_refreshed_at: Option<NaiveDateTime>,
    pub refresh_count: i32,
    /// The client of the latest refresh; `None` before the first.
    pub last_ip: Option<String>,
    pub last_user_agent: Option<String>,
    /// The session of the request asking.
    pub current: bool,
}

/// The caller's live sessions, newest first.
pub async fn list(state: &AppState, caller: &Caller) -> Result<Vec<LiveSession>, StoreError> {
    let user_id = caller.account.id.to_string();
    let now = state.clock.now();
    let rows = state
        .db
        .run(move |conn| Ok::<_, StoreError>(sessions::list_live(conn, &user_id, now)?))
        .await?;
    Ok(rows
        .into_iter()
        .map(|(row, refreshes)| LiveSession {
            current: row.id == caller.session_id,
            id: row.id,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            expires_at: row.expires_at,
            user_agent: row.user_agent,
            ip: row.ip,
            last_refreshed_at: row.rotated_at,
            refresh_count: refreshes.refresh_count,
            last_ip: refreshes.last_ip,
            last_user_agent: refreshes.last_user_agent,
        })
        .collect())
}

/// Why a session could not be ended.
#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    /// No live session of the caller has this id (another user's answers the same).
    #[error("no such session")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}
carries_store_errors!(RevokeError);

/// Ends one of the caller's sessions (for example a lost phone's).
pub async fn revoke(
    state: &AppState,
    caller: &Caller,
    session_id: String,
    client: &ClientInfo,
) -> Result<(), RevokeError> {
    let now = state.clock.now();
    let user_id = caller.account.id.to_string();
    let event = Event::new(EventType::SessionRevoked, client, now)
        .user(&user_id)
        .detail(json!({"session_id": session_id}));
    state
        .db
        .transaction(move |conn| {
            if sessions::revoke(conn, &session_id, &user_id, now)? == 0 {
                return Err(RevokeError::NotFound);
            }
            event.record(conn)?;
            Ok(())
        })
        .await
}

impl Caller {
    /// The session was opened with a second factor (a TOTP code, a recovery
    /// code or a passkey), not a password alone.
    pub fn has_second_factor(&self) -> bool {
        self.amr
            .iter()
            .any(|method| method == "mfa" || method == "hwk")
    }

    /// The factor rule for adding or removing a factor: an account that has a
    /// second factor (TOTP or a passkey) changes its factors only from a
    /// session that proved one, so a stolen password (or a session opened
    /// with it before the factor existed) cannot add its own or remove the
    /// owner's. An account without one may add its first with the password.
    pub fn may_change_factors(&self) -> Result<(), StepUpRequired> {
        let account_has_one = self.account.mfa.totp || self.account.mfa.passkeys > 0;
        if account_has_one && !self.has_second_factor() {
            return Err(StepUpRequired);
        }
        Ok(())
    }
}

/// A factor change asked for from a session opened with one factor only, on
/// an account that has two: log in again with the second factor.
#[derive(Debug, thiserror::Error)]
#[error("a session opened with a second factor is required")]
pub struct StepUpRequired;

/// The pair for `session` as it stands: an access token, and the refresh
/// token of the session's current id. The refresh token's claims are fixed by
/// the session (issued at its last rotation, expiring with it), so handing the
/// current token back within the grace window gives the very same token.
fn issue<E: From<TokenError> + From<StoreError>>(
    state: &AppState,
    user: &UserRow,
    session: &SessionRow,
    now: NaiveDateTime,
) -> Result<IssuedTokens, E> {
    let amr: Vec<String> = session.amr.split(',').map(str::to_owned).collect();
    let access_token = state.tokens.issue_access(
        &user.id,
        &session.id,
        &user.role,
        &amr,
        now.and_utc().timestamp(),
    )?;
    let refresh_token = state.tokens.issue_refresh(
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
        expires_in: state.tokens.access_ttl(),
        refresh_token,
        refresh_expires_in: u64::try_from(remaining).unwrap_or_default(),
        account: Account::from_row(user)?,
    })
}
