//! A session's life: check a password, start a session, authenticate its
//! access tokens, refresh it (rotation with reuse detection), list and end it.
//! Logging in is [`verify_password`] then [`start_session`]; for an account
//! with a second factor, `start_session` hands out a challenge instead, and
//! [`finish_login`] opens the session once the code is right.

use chrono::NaiveDateTime;
use serde_json::json;

use super::account::Account;
use super::audit::Event;
use super::caller::Caller;
use super::caller::ClientInfo;
use super::carries_store_errors;
use super::login::{Identifier, IssuedTokens, Login, LoginError, issue, open_session};
use super::ports::{
    HasCipher, HasClock, HasHasher, HasLimits, HasMetrics, HasPasskeys, HasPolicy, HasStore,
    HasTokens,
};
use crate::auth::password::Verification;
use crate::auth::tokens::TokenError;
use crate::clock::seconds;
use crate::config::EmailVerification;
use crate::db::StoreError;
use crate::db::sessions::{self, SessionRow};
use crate::db::users::{self, UserRow};
use crate::domain::{AuthMethod, EventType, LoginMethod, Secret};
use crate::limits::UNKNOWN_PREFIX;

/// An account whose password was just checked; only [`verify_password`] makes
/// one, and only [`start_session`] consumes it.
#[derive(Debug)]
pub struct VerifiedUser {
    row: UserRow,
    upgraded_hash: Option<String>,
}

/// Checks a password for the account `identifier` names. An unknown account
/// and a wrong password get the same answer in the same time; a disabled
/// account is told so only after the right password. Failures count towards
/// the account's backoff (see [`hold_back_if_failing`]).
pub async fn verify_password(
    deps: &(impl HasStore + HasClock + HasHasher + HasLimits + HasPolicy),
    identifier: Identifier,
    password: Secret,
    client: &ClientInfo,
) -> Result<VerifiedUser, LoginError> {
    let identifier = identifier.normalised();
    let lookup = identifier.clone();
    let user = deps
        .db()
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
    hold_back_if_failing(deps, client, user.as_ref(), &backoff_key).await?;

    let stored_hash = user.as_ref().map(|user| user.password_hash.clone());
    let verification = deps.passwords().verify(password, stored_hash).await?;
    let failure = Event::new(EventType::LoginFailed, client, deps.now());
    let (row, upgraded_hash) = match (user, verification) {
        (Some(user), Verification::Match { upgraded_hash }) => (user, upgraded_hash),
        (Some(user), Verification::Mismatch) => {
            let event = failure
                .user(&user.id)
                .detail(json!({"reason": "wrong_password"}));
            super::audit::record_alone(deps, event).await?;
            return Err(LoginError::InvalidCredentials);
        }
        // The attempted identifier is not kept: it may be a mistyped password.
        (None, _) => {
            let event = failure.detail(json!({"reason": "unknown_account"}));
            super::audit::record_alone(deps, event).await?;
            return Err(LoginError::InvalidCredentials);
        }
    };
    // With a second factor to come, the password alone is no success: the
    // failures counted so far stand until the whole login succeeds, so a
    // thief who has the password cannot reset the count between code guesses.
    if !row.has_second_factor() {
        deps.limits().reset_login_failures(&backoff_key).await;
    }
    if row.disabled {
        let event = failure
            .user(&row.id)
            .detail(json!({"reason": "account_disabled"}));
        super::audit::record_alone(deps, event).await?;
        return Err(LoginError::AccountDisabled);
    }
    if deps.policy().email_verification == EmailVerification::Required && !row.email_verified {
        let event = failure
            .user(&row.id)
            .detail(json!({"reason": "email_not_verified"}));
        super::audit::record_alone(deps, event).await?;
        return Err(LoginError::EmailNotVerified);
    }
    Ok(VerifiedUser { row, upgraded_hash })
}

/// Counts the attempt and refuses it once the account has had too many recent
/// failed ones, unless the client's address is one this account has logged in
/// from before: an attacker elsewhere can then slow a user down but not lock
/// them out of their usual network.
async fn hold_back_if_failing(
    deps: &(impl HasStore + HasClock + HasLimits),
    client: &ClientInfo,
    user: Option<&UserRow>,
    backoff_key: &str,
) -> Result<(), LoginError> {
    let Some(retry_after_secs) = deps.limits().login_attempt(backoff_key).await else {
        return Ok(());
    };
    // Asked for unknown accounts too, so both answers take the same path.
    let user_id = user.map(|user| user.id.clone()).unwrap_or_default();
    let ip = client.ip.clone().unwrap_or_default();
    let now = deps.now();
    let familiar = deps
        .db()
        .run(move |conn| Ok::<_, StoreError>(sessions::ip_seen(conn, &user_id, &ip, now)?))
        .await?;
    if familiar && user.is_some() {
        return Ok(());
    }
    let mut event = Event::new(EventType::LoginFailed, client, deps.now())
        .detail(json!({"reason": "held_back"}));
    if let Some(user) = user {
        event = event.user(&user.id);
    }
    super::audit::record_alone(deps, event).await?;
    Err(LoginError::HeldBack { retry_after_secs })
}

/// Starts a session for a verified account and issues its first token pair,
/// or, if the account has a second factor (TOTP or a passkey), hands out the
/// challenge [`finish_login`] needs (as [`LoginError::SecondFactorRequired`]):
/// one factor never opens an account that has two. `remember` keeps the
/// session for `REFRESH_TOKEN_TTL`, otherwise at most a day.
pub async fn start_session(
    deps: &(impl HasStore + HasClock + HasTokens + HasCipher + HasPasskeys),
    verified: VerifiedUser,
    remember: bool,
    client: &ClientInfo,
) -> Result<IssuedTokens, LoginError> {
    let VerifiedUser { row, upgraded_hash } = verified;
    if row.has_second_factor() {
        let challenge = super::mfa::challenge(
            deps,
            &row,
            upgraded_hash,
            remember,
            super::login::FirstFactor::Password,
        )
        .await?;
        return Err(LoginError::SecondFactorRequired(challenge));
    }
    let login = Login {
        amr: AMR_PASSWORD,
        method: LoginMethod::Password,
        remember,
        provider: None,
    };
    open_session(deps, row, upgraded_hash, login, client, |_, _| Ok(())).await
}

/// The `amr` of a session opened with a password alone.
const AMR_PASSWORD: &[AuthMethod] = &[AuthMethod::Password];

/// Finishes a login waiting for its second factor: `mfa_token` from the
/// challenge and a TOTP code, a recovery code or a passkey's answer to the
/// challenge's `passkey_options`. Each try counts against the
/// challenge (`MFA_TOKEN_MAX_ATTEMPTS`) and the account's count of codes (see
/// `mfa::count_code_try`); the code and the challenge are spent in the
/// transaction that opens the session.
pub async fn finish_login(
    deps: &(impl HasStore + HasClock + HasTokens + HasLimits + HasCipher + HasPasskeys),
    mfa_token: &str,
    factor: super::mfa::SecondFactor,
    client: &ClientInfo,
) -> Result<IssuedTokens, LoginError> {
    let (challenge, row) = super::mfa::spend_attempt(deps, mfa_token).await?;
    super::mfa::count_code_try(deps, &row.id)
        .await
        .map_err(|retry_after_secs| LoginError::HeldBack { retry_after_secs })?;
    let proof = match &factor {
        super::mfa::SecondFactor::Passkey(credential) => {
            super::passkeys::check_second_factor(deps, mfa_token, &row.id, credential).await?
        }
        code => super::mfa::check(deps, &row.id, code).await?,
    };
    let Some(proof) = proof else {
        super::mfa::code_was_wrong(deps, &row.id, factor.method(), client).await?;
        return Err(LoginError::InvalidMfaCode);
    };
    let login = Login {
        amr: proof.amr(super::mfa::first_factor_of(&challenge)),
        method: proof.method(),
        remember: challenge.remember,
        provider: None,
    };
    let user_id = row.id.clone();
    let owner = row.id.clone();
    let event = Event::new(EventType::RecoveryCodeUsed, client, deps.now()).user(&row.id);
    let opened = open_session(deps, row, None, login, client, move |conn, account| {
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
            super::mfa::code_was_wrong(deps, &user_id, factor.method(), client).await?;
            Err(LoginError::InvalidMfaCode)
        }
        Ok(tokens) => {
            super::mfa::code_was_right(deps, &user_id).await;
            Ok(tokens)
        }
        failed => failed,
    }
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
    deps: &(impl HasStore + HasClock + HasTokens + HasMetrics + HasPolicy),
    refresh_token: &str,
    client: &ClientInfo,
) -> Result<IssuedTokens, RefreshError> {
    let now = deps.now();
    let claims = deps
        .tokens()
        .verify_refresh(refresh_token, now.and_utc().timestamp())?;
    // The common case first, in one conditional write: the token is the
    // session's current one, so it rotates. The write decides races: of two
    // requests with one token, exactly one rotates it. A successful refresh
    // is no audit event: the session row keeps its count, time and client.
    let new_jti = uuid::Uuid::new_v4().to_string();
    let rotated = {
        let claims = claims.clone();
        let client = client.clone();
        deps.db()
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
        return issue(deps, &user, &session, now);
    }
    let grace = seconds(deps.policy().refresh_reuse_grace);
    let client = client.clone();
    let outcome = deps
        .db()
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
        NotRotated::WithinGrace(pair) => issue(deps, &pair.1, &pair.0, now),
        NotRotated::Reused => {
            tracing::warn!("refresh token reuse detected; session revoked");
            deps.metrics().refresh_reuse_detected();
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

/// Checks an access token and, against the database, that its session is still
/// live and its account enabled, so logout, deletion and disabling take
/// effect at once.
pub async fn authenticate(
    deps: &(impl HasStore + HasClock + HasTokens),
    access_token: &str,
) -> Result<Caller, AuthError> {
    let now = deps.now();
    let claims = deps
        .tokens()
        .verify_access(access_token, now.and_utc().timestamp())
        .map_err(|error| match error {
            TokenError::Expired => AuthError::TokenExpired,
            TokenError::Invalid | TokenError::Failed(_) => AuthError::InvalidToken,
        })?;
    let (session_id, user_id) = (claims.sid.clone(), claims.sub);
    let row = deps
        .db()
        .run(move |conn| {
            Ok::<_, StoreError>(sessions::find_live_user(conn, &session_id, &user_id, now)?)
        })
        .await?
        .ok_or(AuthError::InvalidToken)?;
    let (row, session_started_at) = row;
    Ok(Caller {
        account: Account::from_row(&row)?,
        session_id: claims.sid,
        amr: crate::domain::Amr::from_names(claims.amr.iter().map(String::as_str)),
        password_hash: row.password_hash,
        has_password: row.has_password,
        session_started_at,
    })
}

/// Ends the caller's session, or with `all` every session of the caller.
pub async fn end(
    deps: &(impl HasStore + HasClock),
    caller: &Caller,
    all: bool,
    client: &ClientInfo,
) -> Result<(), StoreError> {
    let now = deps.now();
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
    deps.db()
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
    pub id: uuid::Uuid,
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
pub async fn list(
    deps: &(impl HasStore + HasClock),
    caller: &Caller,
) -> Result<Vec<LiveSession>, StoreError> {
    let user_id = caller.account.id.to_string();
    let now = deps.now();
    let rows = deps
        .db()
        .run(move |conn| Ok::<_, StoreError>(sessions::list_live(conn, &user_id, now)?))
        .await?;
    rows.into_iter()
        .map(|(row, refreshes)| {
            Ok(LiveSession {
                current: row.id == caller.session_id,
                id: crate::db::stored_uuid("session", &row.id)?,
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
        })
        .collect()
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
    deps: &(impl HasStore + HasClock),
    caller: &Caller,
    session_id: String,
    client: &ClientInfo,
) -> Result<(), RevokeError> {
    let now = deps.now();
    let user_id = caller.account.id.to_string();
    let event = Event::new(EventType::SessionRevoked, client, now)
        .user(&user_id)
        .detail(json!({"session_id": session_id}));
    deps.db()
        .transaction(move |conn| {
            if sessions::revoke(conn, &session_id, &user_id, now)? == 0 {
                return Err(RevokeError::NotFound);
            }
            event.record(conn)?;
            Ok(())
        })
        .await
}
