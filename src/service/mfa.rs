//! Second factors: turning TOTP on (a pending secret, confirmed by its first
//! code, which also issues the recovery codes), turning it off and renewing
//! the recovery codes (both need the password and a current code), and the
//! pieces of a two-step login that [`super::sessions::finish_login`] uses.
//!
//! A code is checked against the stored secret first and *spent* inside the
//! transaction that acts on it (a conditional write on the last used time
//! step, or the deletion of a recovery code), so of two requests racing with
//! one code exactly one succeeds.

use serde_json::json;

use super::accounts::{AccountError, confirm_password};
use super::audit::Event;
use super::caller::{Caller, ClientInfo, StepUpRequired};
use super::carries_store_errors;
use super::login::{FirstFactor, Proof};
use super::login::{LoginError, MfaChallenge};
use super::one_time::{OneTimeToken, token_hash};
use super::ports::{HasCipher, HasClock, HasHasher, HasLimits, HasPasskeys, HasPolicy, HasStore};
use crate::auth::{recovery_codes, totp};
use crate::db::mfa::{self, ChallengeRow, TotpRow};
use crate::db::users::{self, UserRow};
use crate::db::{DbConnection, StoreError, sessions as session_rows};
use crate::domain::{EventType, LoginMethod, Secret};

/// Seconds an `mfa_token` lives.
pub const MFA_TOKEN_TTL_SECS: u64 = 300;
/// Codes one `mfa_token` may try.
pub const MFA_TOKEN_MAX_ATTEMPTS: i32 = 5;

/// A second factor offered to finish a login or confirm a change: a code the
/// user typed, and which kind it claims to be, or a passkey's answer.
#[derive(Clone)]
pub enum SecondFactor {
    Totp(Secret),
    RecoveryCode(Secret),
    /// `navigator.credentials.get`'s answer to a login challenge's
    /// `passkey_options` (`AuthenticationResponseJSON`).
    Passkey(serde_json::Value),
}

/// Names the kind only: a code never reaches a log.
impl std::fmt::Debug for SecondFactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecondFactor::{}(***)", self.method().as_str())
    }
}

impl SecondFactor {
    /// A code typed where either kind is accepted: six digits (spaces
    /// ignored) are a TOTP code, anything else a recovery code.
    pub fn typed(code: Secret) -> Self {
        let digits = code.expose().chars().filter(|c| !c.is_whitespace()).count();
        let totp_shaped = digits == crate::auth::totp::DIGITS
            && code
                .expose()
                .chars()
                .all(|c| c.is_ascii_digit() || c.is_whitespace());
        if totp_shaped {
            Self::Totp(code)
        } else {
            Self::RecoveryCode(code)
        }
    }

    /// The method as challenges list it and audit events name it.
    pub fn method(&self) -> LoginMethod {
        match self {
            Self::Totp(_) => LoginMethod::Totp,
            Self::RecoveryCode(_) => LoginMethod::RecoveryCode,
            Self::Passkey(_) => LoginMethod::Passkey,
        }
    }
}

/// Why a change to a second factor did not happen.
#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    #[error("TOTP is already on")]
    AlreadyEnabled,
    #[error("TOTP is not on")]
    NotEnabled,
    #[error("no TOTP enrollment is waiting for its first code")]
    NoPendingEnrollment,
    #[error("invalid code")]
    InvalidCode,
    /// The password check failed (wrong, or too many guesses).
    #[error(transparent)]
    Password(#[from] AccountError),
    /// The account has a second factor and the session did not prove one.
    #[error(transparent)]
    StepUp(#[from] StepUpRequired),
    #[error("too many wrong codes")]
    HeldBack { retry_after_secs: u64 },
    #[error(transparent)]
    Failed(anyhow::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}
carries_store_errors!(MfaError);

/// What an authenticator app needs to start making codes (no `Debug`: it
/// holds the secret).
pub struct Enrollment {
    /// The secret in base32, for typing in by hand.
    pub secret: String,
    /// `otpauth://totp/…`, for a QR code.
    pub otpauth_uri: String,
}

/// Starts (or restarts) turning TOTP on: a new secret, pending until
/// [`confirm_totp`] gets its first code. Needs the password.
pub async fn begin_totp(
    deps: &(impl HasStore + HasClock + HasHasher + HasLimits + HasCipher + HasPolicy),
    caller: &Caller,
    password: Secret,
    client: &ClientInfo,
) -> Result<Enrollment, MfaError> {
    // Before the password: a session that may not change factors spends
    // none of its guesses on it. (With TOTP on already, the answer is
    // `AlreadyEnabled`, after the password, as before.)
    if !caller.account.mfa.totp {
        caller.may_change_factors()?;
    }
    confirm_password(deps, caller, password, client).await?;
    if caller.account.mfa.totp {
        return Err(MfaError::AlreadyEnabled);
    }
    let user_id = caller.account.id.to_string();
    let secret = totp::generate_secret().map_err(MfaError::Failed)?;
    let otpauth_uri = totp::otpauth_uri(
        &secret,
        &deps.policy().mfa_issuer,
        caller.account.email.as_str(),
    )
    .map_err(MfaError::Failed)?;
    let row = TotpRow {
        secret_sealed: seal(deps, &user_id, &secret)?,
        user_id,
        created_at: deps.now(),
        confirmed_at: None,
        last_used_step: None,
    };
    let stored = deps
        .db()
        .transaction(move |conn| Ok::<_, StoreError>(mfa::put_pending_totp(conn, &row)?))
        .await?;
    if !stored {
        return Err(MfaError::AlreadyEnabled);
    }
    Ok(Enrollment {
        secret: totp::secret_base32(&secret),
        otpauth_uri,
    })
}

/// Turns TOTP on with the first code of the pending secret; returns the new
/// recovery codes (shown this once). Every other session of the account ends:
/// whoever else was logged in did not prove the new factor.
pub async fn confirm_totp(
    deps: &(impl HasStore + HasClock + HasLimits + HasCipher),
    caller: &Caller,
    code: &str,
    client: &ClientInfo,
) -> Result<Vec<String>, MfaError> {
    if caller.account.mfa.totp {
        return Err(MfaError::AlreadyEnabled);
    }
    // A secret made pending before the account's first passkey does not
    // become a factor from a password-only session.
    caller.may_change_factors()?;
    let user_id = caller.account.id.to_string();
    let pending = {
        let user_id = user_id.clone();
        deps.db()
            .run(move |conn| Ok::<_, StoreError>(mfa::find_totp(conn, &user_id)?))
            .await?
            .filter(|row| row.confirmed_at.is_none())
            .ok_or(MfaError::NoPendingEnrollment)?
    };
    let budget = spend_session_budget(deps, caller).await?;
    let secret = open(deps, &user_id, &pending.secret_sealed)?.0;
    let Some(step) = totp::matching_step(&secret, code, unix_now(deps)) else {
        record_failed_challenge(deps, &user_id, LoginMethod::Totp, client).await?;
        return Err(MfaError::InvalidCode);
    };
    let codes = recovery_codes::generate_set().map_err(MfaError::Failed)?;
    let hashes = hash_all(&user_id, &codes)?;
    let now = deps.now();
    let session_id = caller.session_id.clone();
    let event = Event::new(EventType::MfaEnabled, client, now)
        .user(&user_id)
        .detail(json!({"method": LoginMethod::Totp.as_str()}));
    deps.db()
        .transaction(move |conn| {
            let step = i64::try_from(step).map_err(|_| MfaError::InvalidCode)?;
            if !mfa::confirm_totp(conn, &user_id, &pending.secret_sealed, step, now)? {
                return Err(MfaError::NoPendingEnrollment);
            }
            mfa::replace_recovery_codes(conn, &user_id, &hashes)?;
            session_rows::revoke_all_except(conn, &user_id, &session_id, now)?;
            event.record(conn)?;
            Ok(())
        })
        .await?;
    deps.limits().reset_login_failures(&budget).await;
    Ok(codes)
}

/// Turns TOTP off and voids the recovery codes. Needs the password and a
/// current code (TOTP or recovery code).
pub async fn disable_totp(
    deps: &(impl HasStore + HasClock + HasHasher + HasLimits + HasCipher + HasPolicy),
    caller: &Caller,
    password: Secret,
    factor: SecondFactor,
    client: &ClientInfo,
) -> Result<(), MfaError> {
    step_up(deps, caller, password, factor, client, |conn, user_id| {
        mfa::remove_all(conn, user_id)?;
        Ok(EventType::MfaDisabled)
    })
    .await
}

/// Replaces the recovery codes by a new set (returned, shown this once).
/// Needs the password and a current code (TOTP or recovery code).
pub async fn regenerate_recovery_codes(
    deps: &(impl HasStore + HasClock + HasHasher + HasLimits + HasCipher + HasPolicy),
    caller: &Caller,
    password: Secret,
    factor: SecondFactor,
    client: &ClientInfo,
) -> Result<Vec<String>, MfaError> {
    let codes = recovery_codes::generate_set().map_err(MfaError::Failed)?;
    let hashes = hash_all(&caller.account.id.to_string(), &codes)?;
    step_up(
        deps,
        caller,
        password,
        factor,
        client,
        move |conn, user_id| {
            mfa::replace_recovery_codes(conn, user_id, &hashes)?;
            Ok(EventType::RecoveryCodesRegenerated)
        },
    )
    .await?;
    Ok(codes)
}

/// A sensitive change: the caller proves the password and a current second
/// factor, then `change` runs in the transaction that spends the code and
/// records the event it names.
async fn step_up(
    deps: &(impl HasStore + HasClock + HasHasher + HasLimits + HasCipher + HasPolicy),
    caller: &Caller,
    password: Secret,
    factor: SecondFactor,
    client: &ClientInfo,
    change: impl FnOnce(&mut DbConnection, &str) -> Result<EventType, MfaError> + Send + 'static,
) -> Result<(), MfaError> {
    let user_id = caller.account.id.to_string();
    // Counted before the password, so that neither a right password nor a
    // new session resets the count of wrong codes.
    count_code_try(deps, &user_id)
        .await
        .map_err(|retry_after_secs| MfaError::HeldBack { retry_after_secs })?;
    confirm_password(deps, caller, password, client).await?;
    if !caller.account.mfa.totp {
        return Err(MfaError::NotEnabled);
    }
    let Some(proof) = check(deps, &user_id, &factor).await? else {
        code_was_wrong(deps, &user_id, factor.method(), client).await?;
        return Err(MfaError::InvalidCode);
    };
    let now = deps.now();
    let used_event = Event::new(EventType::RecoveryCodeUsed, client, now).user(&user_id);
    let method = factor.method();
    let owner = user_id.clone();
    let event_client = client.clone();
    let done = deps
        .db()
        .transaction(move |conn| {
            if !proof.spend(conn, &owner)? {
                return Err(MfaError::InvalidCode);
            }
            if proof.is_recovery_code() {
                used_event.record(conn)?;
            }
            let kind = change(conn, &owner)?;
            Event::new(kind, &event_client, now)
                .user(&owner)
                .detail(json!({"method": method.as_str()}))
                .record(conn)?;
            Ok(())
        })
        .await;
    if matches!(done, Err(MfaError::InvalidCode)) {
        code_was_wrong(deps, &user_id, method, client).await?;
    }
    done?;
    code_was_right(deps, &user_id).await;
    Ok(())
}

/// The per-account count of second-factor codes tried (`LOGIN_BACKOFF_*`):
/// every try counts before it is checked, only a right code resets it, and no
/// address is exempt (only someone with the password, or a session, gets to
/// try a code). Past the limit: the seconds to wait.
pub(super) async fn count_code_try(deps: &impl HasLimits, user_id: &str) -> Result<(), u64> {
    match deps.limits().login_attempt(&code_budget(user_id)).await {
        Some(retry_after_secs) => Err(retry_after_secs),
        None => Ok(()),
    }
}

/// A wrong code: audited, and counted in the account's login backoff too.
pub(super) async fn code_was_wrong(
    deps: &(impl HasStore + HasClock + HasLimits),
    user_id: &str,
    method: LoginMethod,
    client: &ClientInfo,
) -> Result<(), StoreError> {
    // The count matters, not the verdict: the next attempt is refused by it.
    let _ = deps.limits().login_attempt(user_id).await;
    record_failed_challenge(deps, user_id, method, client).await
}

/// A right code clears the account's counts of codes and passwords.
pub(super) async fn code_was_right(deps: &impl HasLimits, user_id: &str) {
    deps.limits()
        .reset_login_failures(&code_budget(user_id))
        .await;
    deps.limits().reset_login_failures(user_id).await;
}

fn code_budget(user_id: &str) -> String {
    format!("mfa:{user_id}")
}

/// Guesses at a pending secret's first code through a session share the
/// budget of its password guesses (see [`confirm_password`]). Returns the
/// budget's name, to reset once a code is right.
async fn spend_session_budget(deps: &impl HasLimits, caller: &Caller) -> Result<String, MfaError> {
    let budget = format!("session:{}", caller.session_id);
    match deps.limits().login_attempt(&budget).await {
        Some(retry_after_secs) => Err(MfaError::HeldBack { retry_after_secs }),
        None => Ok(budget),
    }
}

/// Checks `factor` against the user's confirmed TOTP secret (or shapes a
/// recovery code for spending); `None` when it cannot be right. A passkey is
/// checked against its login challenge instead
/// (`passkeys::check_second_factor`): offered here, it cannot be right.
pub(super) async fn check(
    deps: &(impl HasStore + HasClock + HasCipher),
    user_id: &str,
    factor: &SecondFactor,
) -> Result<Option<Proof>, StoreError> {
    let code = match factor {
        SecondFactor::RecoveryCode(typed) => {
            return Ok(recovery_codes::hash(user_id, typed.expose()).map(Proof::RecoveryCode));
        }
        SecondFactor::Totp(code) => code,
        SecondFactor::Passkey(_) => return Ok(None),
    };
    let owner = user_id.to_owned();
    let Some(row) = deps
        .db()
        .run(move |conn| Ok::<_, StoreError>(mfa::find_totp(conn, &owner)?))
        .await?
        .filter(|row| row.confirmed_at.is_some())
    else {
        return Ok(None);
    };
    let (secret, stale) = open(deps, user_id, &row.secret_sealed).map_err(store_failure)?;
    let Some(step) = totp::matching_step(&secret, code.expose(), unix_now(deps)) else {
        return Ok(None);
    };
    let Ok(step) = i64::try_from(step) else {
        return Ok(None);
    };
    if row.last_used_step.is_some_and(|used| used >= step) {
        return Ok(None);
    }
    let resealed = if stale {
        Some(seal(deps, user_id, &secret).map_err(store_failure)?)
    } else {
        None
    };
    Ok(Some(Proof::Totp { step, resealed }))
}

/// Creates the challenge of a login whose password was right, for an
/// account with a second factor; its methods are the factors the account
/// has. A password hash due for an upgrade is upgraded now: the password is
/// proven, whatever becomes of the second step.
pub(super) async fn challenge(
    deps: &(impl HasStore + HasClock + HasCipher + HasPasskeys),
    row: &UserRow,
    upgraded_hash: Option<String>,
    remember: bool,
    first_factor: FirstFactor,
) -> Result<MfaChallenge, LoginError> {
    let OneTimeToken {
        token: mfa_token,
        hash: token_hash,
    } = OneTimeToken::new()?;
    let now = deps.now();
    let challenge = ChallengeRow {
        token_hash,
        user_id: row.id.clone(),
        remember,
        attempts: 0,
        created_at: now,
        expires_at: now + crate::clock::seconds(MFA_TOKEN_TTL_SECS),
        first_factor: first_factor.as_str().to_owned(),
    };
    let (user_id, checked_hash) = (row.id.clone(), row.password_hash.clone());
    deps.db()
        .transaction(move |conn| {
            if let Some(upgraded) = upgraded_hash {
                users::set_password_hash(conn, &user_id, &upgraded, Some(&checked_hash), now)?;
            }
            mfa::insert_challenge(conn, &challenge)?;
            Ok::<_, StoreError>(())
        })
        .await?;
    let mut methods = Vec::new();
    if row.totp_enabled {
        methods.extend([LoginMethod::Totp, LoginMethod::RecoveryCode]);
    }
    let passkey_options = if row.passkey_count > 0 {
        super::passkeys::start_second_factor(deps, &row.id, &mfa_token, now).await?
    } else {
        None
    };
    if passkey_options.is_some() {
        methods.push(LoginMethod::Passkey);
    }
    Ok(MfaChallenge {
        mfa_token: mfa_token.into(),
        methods,
        passkey_options,
        expires_in: MFA_TOKEN_TTL_SECS,
    })
}

/// How the login of `challenge` began.
pub(super) fn first_factor_of(challenge: &ChallengeRow) -> FirstFactor {
    FirstFactor::from_stored(&challenge.first_factor)
}

/// Counts a try at the challenge of `mfa_token` and returns it with its
/// account, unless it is unknown, expired or out of tries.
pub(super) async fn spend_attempt(
    deps: &(impl HasStore + HasClock),
    mfa_token: &str,
) -> Result<(ChallengeRow, UserRow), LoginError> {
    let hash = token_hash(mfa_token);
    let now = deps.now();
    let found = deps
        .db()
        .transaction(move |conn| {
            let Some(challenge) = mfa::spend_attempt(conn, &hash, MFA_TOKEN_MAX_ATTEMPTS, now)?
            else {
                return Ok::<_, StoreError>(None);
            };
            let user = users::find_by_id(conn, &challenge.user_id)?;
            Ok(user.map(|user| (challenge, user)))
        })
        .await?;
    let (challenge, user) = found.ok_or(LoginError::ChallengeInvalid)?;
    if user.disabled {
        return Err(LoginError::AccountDisabled);
    }
    Ok((challenge, user))
}

/// Deletes logins that waited for their code past `MFA_TOKEN_TTL_SECS`
/// (they can no longer finish). Every node runs it now and then.
pub async fn prune(deps: &(impl HasStore + HasClock)) {
    let now = deps.now();
    if let Err(error) = deps
        .db()
        .transaction(move |conn| Ok::<_, StoreError>(mfa::prune_challenges(conn, now)?))
        .await
    {
        tracing::warn!(%error, "pruning expired login challenges failed; will retry");
    }
}

/// Audits a wrong second-factor code.
async fn record_failed_challenge(
    deps: &(impl HasStore + HasClock),
    user_id: &str,
    method: LoginMethod,
    client: &ClientInfo,
) -> Result<(), StoreError> {
    let event = Event::new(EventType::MfaChallengeFailed, client, deps.now())
        .user(user_id)
        .detail(json!({"method": method.as_str()}));
    super::audit::record_alone(deps, event).await
}

/// What TOTP secrets of `user_id` are sealed for: a sealed secret copied to
/// another account does not open there.
fn sealing_context(user_id: &str) -> String {
    format!("totp:{user_id}")
}

fn seal(deps: &impl HasCipher, user_id: &str, secret: &[u8]) -> Result<String, MfaError> {
    deps.cipher()
        .seal(&sealing_context(user_id), secret)
        .map_err(MfaError::Failed)
}

/// The secret, and whether an older key sealed it.
fn open(deps: &impl HasCipher, user_id: &str, sealed: &str) -> Result<(Vec<u8>, bool), MfaError> {
    let opened = deps
        .cipher()
        .open(&sealing_context(user_id), sealed)
        .map_err(|error| MfaError::Failed(anyhow::Error::new(error)))?;
    Ok((opened.plaintext, opened.stale))
}

fn store_failure(error: MfaError) -> StoreError {
    match error {
        MfaError::Store(error) => error,
        other => StoreError::Failed(anyhow::Error::new(other)),
    }
}

fn hash_all(user_id: &str, codes: &[String]) -> Result<Vec<String>, MfaError> {
    codes
        .iter()
        .map(|code| {
            recovery_codes::hash(user_id, code)
                .ok_or_else(|| MfaError::Failed(anyhow::anyhow!("a generated code does not parse")))
        })
        .collect()
}

fn unix_now(deps: &impl HasClock) -> u64 {
    u64::try_from(deps.now().and_utc().timestamp()).unwrap_or_default()
}
