//! Passkeys: adding one (the password again, then a WebAuthn registration),
//! listing and removing them, and logging in with one (by identifier or
//! usernameless). The WebAuthn checks are webauthn-rs's (`auth::passkeys`);
//! this is the bookkeeping around them.
//!
//! Each ceremony is a database row between its two requests, so any node can
//! finish it; taking it to finish deletes it, so it is used once whatever the
//! outcome. Stored passkeys and ceremony state are sealed with the data
//! encryption key, bound to their account (or ceremony).

use chrono::NaiveDateTime;
use serde_json::json;

use super::accounts::{AccountError, confirm_password};
use super::audit::Event;
use super::caller::{Caller, ClientInfo, StepUpRequired};
use super::carries_store_errors;
use super::login::{Identifier, IssuedTokens, Login, LoginError, Proof, open_session};
use super::one_time::{OneTimeToken, token_hash};
use super::ports::{
    HasCipher, HasClock, HasHasher, HasLimits, HasPasskeys, HasPolicy, HasStore, HasTokens,
};
use crate::auth::passkeys::{CEREMONY_TTL_SECS, Identified, Started};
use crate::config::{EmailVerification, Secret};
use crate::db::StoreError;
use crate::db::passkeys::{self, CeremonyRow, PasskeyRow};
use crate::db::users::{self, UserRow};
use crate::domain::{AuthMethod, EventType, LoginMethod, Violation};

/// The `amr` of a passkey login (RFC 8176: a hardware-bound key, and the
/// user verified on the authenticator): a second factor in itself.
const AMR_PASSKEY: &[AuthMethod] = &[AuthMethod::HardwareKey, AuthMethod::UserPresence];

/// Longest passkey name, in characters.
pub const NAME_MAX_CHARS: usize = 64;

/// Most passkeys one account may have: a login challenge opens and lists
/// them all.
pub const MAX_PASSKEYS: usize = 20;

const REGISTRATION: &str = "registration";
const LOGIN: &str = "login";
/// The passkey half of a password login's second step.
const SECOND_FACTOR: &str = "second_factor";

/// Why a passkey change did not happen.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// The ceremony is unknown, used, expired or someone else's.
    #[error("unknown or expired ceremony")]
    CeremonyInvalid,
    #[error("invalid passkey field")]
    Invalid(&'static str, Violation),
    #[error("no such passkey")]
    NotFound,
    /// The account has `MAX_PASSKEYS` already.
    #[error("too many passkeys")]
    TooMany,
    #[error(transparent)]
    Password(#[from] AccountError),
    /// The account has a second factor and the session did not prove one.
    #[error(transparent)]
    StepUp(#[from] StepUpRequired),
    #[error(transparent)]
    Failed(anyhow::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}
carries_store_errors!(PasskeyError);

/// A ceremony's first half, for the client.
pub struct Ceremony {
    /// Opaque, single-use; only its hash is stored.
    pub ceremony_id: Secret,
    /// WebAuthn JSON options for `navigator.credentials.create`/`get`.
    pub options: serde_json::Value,
}

/// A passkey as its owner sees it.
#[derive(Debug, Clone)]
pub struct PasskeyInfo {
    pub id: uuid::Uuid,
    pub name: String,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
}

impl TryFrom<PasskeyRow> for PasskeyInfo {
    type Error = StoreError;

    fn try_from(row: PasskeyRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: crate::db::stored_uuid("passkey", &row.id)?,
            name: row.name,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
        })
    }
}

/// Starts adding a passkey to the caller's account; needs the password, and
/// on an account that has a second factor a session that proved one.
pub async fn begin_registration(
    deps: &(impl HasStore + HasClock + HasHasher + HasLimits + HasCipher + HasPasskeys + HasPolicy),
    caller: &Caller,
    password: Secret,
    client: &ClientInfo,
) -> Result<Ceremony, PasskeyError> {
    caller.may_change_factors()?;
    confirm_password(deps, caller, password, client).await?;
    if caller.account.mfa.passkeys as usize >= MAX_PASSKEYS {
        return Err(PasskeyError::TooMany);
    }
    let user_id = caller.account.id.to_string();
    let existing = {
        let user_id = user_id.clone();
        deps.db()
            .run(move |conn| Ok::<_, StoreError>(passkeys::list_for_user(conn, &user_id)?))
            .await?
    };
    // The ids are public: no need to open the sealed passkeys for them.
    let existing = existing
        .iter()
        .map(|row| from_base64url(&row.credential_id))
        .collect::<Result<Vec<_>, _>>()?;
    let account = &caller.account;
    let started = deps
        .passkeys()
        .start_registration(
            account.id.as_uuid(),
            account.email.as_str(),
            account.username.as_str(),
            existing,
        )
        .map_err(PasskeyError::Failed)?;
    store_ceremony(deps, REGISTRATION, Some(user_id), started)
        .await
        .map_err(PasskeyError::from)
}

/// Finishes adding a passkey: checks the authenticator's answer to the
/// ceremony and stores the passkey under `name`.
pub async fn finish_registration(
    deps: &(impl HasStore + HasClock + HasCipher + HasPasskeys),
    caller: &Caller,
    ceremony_id: &str,
    name: &str,
    credential: serde_json::Value,
    client: &ClientInfo,
) -> Result<PasskeyInfo, PasskeyError> {
    caller.may_change_factors()?;
    let name = valid_name(name)?;
    let user_id = caller.account.id.to_string();
    let ceremony = take_ceremony(deps, ceremony_id, REGISTRATION).await?;
    if ceremony.user_id.as_deref() != Some(user_id.as_str()) {
        return Err(PasskeyError::CeremonyInvalid);
    }
    let ceremony_state = open_ceremony(deps, &ceremony)?;
    let registered = deps
        .passkeys()
        .finish_registration(credential, &ceremony_state)
        .map_err(|rejected| {
            tracing::info!(%rejected, "a passkey registration was refused");
            PasskeyError::Invalid(
                "credential",
                Violation::new(
                    "passkey_rejected",
                    "the authenticator's answer does not match this ceremony (origin, challenge, relying party or user verification)",
                ),
            )
        })?;
    let id = uuid::Uuid::new_v4().to_string();
    let now = deps.now();
    let row = PasskeyRow {
        credential_sealed: seal_passkey(deps, &user_id, &id, &registered.passkey)?,
        id,
        user_id: user_id.clone(),
        credential_id: base64url(&registered.credential_id),
        name,
        sign_count: 0,
        created_at: now,
        last_used_at: None,
    };
    let event = Event::new(EventType::PasskeyAdded, client, now)
        .user(&user_id)
        .detail(json!({"passkey_id": row.id, "name": row.name}));
    let info = PasskeyInfo::try_from(row.clone())?;
    let added = deps
        .db()
        .transaction(move |conn| {
            // Counted in the transaction that adds one, so that registrations
            // racing each other cannot pass the limit together.
            if passkeys::list_for_user(conn, &row.user_id)?.len() >= MAX_PASSKEYS {
                return Err(PasskeyError::TooMany);
            }
            let inserted = passkeys::insert(conn, &row)?;
            if inserted {
                event.record(conn)?;
            }
            Ok::<_, PasskeyError>(inserted)
        })
        .await?;
    if !added {
        return Err(PasskeyError::Invalid(
            "credential",
            Violation::new(
                "passkey_already_registered",
                "this passkey is registered already",
            ),
        ));
    }
    Ok(info)
}

/// The caller's passkeys, oldest first.
pub async fn list(deps: &impl HasStore, caller: &Caller) -> Result<Vec<PasskeyInfo>, StoreError> {
    let user_id = caller.account.id.to_string();
    let rows = deps
        .db()
        .run(move |conn| Ok::<_, StoreError>(passkeys::list_for_user(conn, &user_id)?))
        .await?;
    rows.into_iter().map(PasskeyInfo::try_from).collect()
}

/// Removes one of the caller's passkeys, from a session that proved a
/// second factor (the account has one: this passkey).
pub async fn remove(
    deps: &(impl HasStore + HasClock),
    caller: &Caller,
    id: &str,
    client: &ClientInfo,
) -> Result<(), PasskeyError> {
    caller.may_change_factors()?;
    let user_id = caller.account.id.to_string();
    let id = id.to_owned();
    let event = Event::new(EventType::PasskeyRemoved, client, deps.now())
        .user(&user_id)
        .detail(json!({"passkey_id": id}));
    deps.db()
        .transaction(move |conn| {
            if !passkeys::delete(conn, &user_id, &id)? {
                return Err(PasskeyError::NotFound);
            }
            event.record(conn)?;
            Ok(())
        })
        .await
}

/// Starts a passkey login. With an identifier, the options name that
/// account's passkeys; an identifier with none (or no account) gets options
/// of the same shape that nothing can finish. Without one, any discoverable
/// passkey may answer and names its account itself.
pub async fn begin_login(
    deps: &(impl HasStore + HasClock + HasCipher + HasPasskeys),
    identifier: Option<Identifier>,
) -> Result<Ceremony, LoginError> {
    let Some(identifier) = identifier.map(|named| named.normalised()) else {
        let started = deps.passkeys().start_discoverable_login().map_err(failed)?;
        return Ok(store_ceremony(deps, LOGIN, None, started).await?);
    };
    let lookup = identifier.clone();
    let found = deps
        .db()
        .run(move |conn| {
            let user = match &lookup {
                Identifier::Email(email) => users::find_by_email(conn, email)?,
                Identifier::Username(name) => users::find_by_username(conn, name)?,
            };
            let Some(user) = user else {
                return Ok::<_, StoreError>(None);
            };
            let rows = passkeys::list_for_user(conn, &user.id)?;
            Ok(Some((user.id, rows)))
        })
        .await?
        .filter(|(_, rows)| !rows.is_empty());
    let (user_id, started) = match found {
        Some((user_id, rows)) => {
            let stored = rows
                .iter()
                .map(|row| open_passkey(deps, row))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| LoginError::Store(store_failure(error)))?;
            let started = deps.passkeys().start_login(&stored).map_err(failed)?;
            (Some(user_id), started)
        }
        None => (
            None,
            deps.passkeys()
                .start_decoy_login(identifier.as_str())
                .map_err(failed)?,
        ),
    };
    Ok(store_ceremony(deps, LOGIN, user_id, started).await?)
}

/// Finishes a passkey login: the authenticator's answer to the ceremony,
/// checked against the passkey it names. A session like a password login's,
/// whose tokens carry `amr: ["hwk","user"]` (a second factor in itself).
pub async fn finish_login(
    deps: &(impl HasStore + HasClock + HasTokens + HasCipher + HasPasskeys + HasPolicy),
    ceremony_id: &str,
    credential: serde_json::Value,
    remember: bool,
    client: &ClientInfo,
) -> Result<IssuedTokens, LoginError> {
    let ceremony = take_ceremony(deps, ceremony_id, LOGIN)
        .await
        .map_err(|error| match error {
            PasskeyError::Store(error) => LoginError::Store(error),
            _ => LoginError::ChallengeInvalid,
        })?;
    let answer = deps.passkeys().identify(&credential).map_err(|rejected| {
        tracing::info!(%rejected, "a passkey login answer does not parse");
        LoginError::InvalidCredentials
    })?;
    let credential_id = base64url(&answer.credential_id);
    let found = deps
        .db()
        .run(move |conn| {
            let Some(passkey) = passkeys::find_by_credential_id(conn, &credential_id)? else {
                return Ok::<_, StoreError>(None);
            };
            let user = users::find_by_id(conn, &passkey.user_id)?;
            Ok(user.map(|user| (passkey, user)))
        })
        .await?;
    let Some((passkey, user)) =
        found.filter(|(passkey, _)| names_its_account(&ceremony, &answer, passkey))
    else {
        let event = Event::new(EventType::LoginFailed, client, deps.now())
            .detail(json!({"reason": "unknown_passkey", "method": LoginMethod::Passkey.as_str()}));
        super::audit::record_alone(deps, event).await?;
        return Err(LoginError::InvalidCredentials);
    };
    let ceremony_state =
        open_ceremony(deps, &ceremony).map_err(|error| LoginError::Store(store_failure(error)))?;
    let stored =
        open_passkey(deps, &passkey).map_err(|error| LoginError::Store(store_failure(error)))?;
    let asserted = match deps
        .passkeys()
        .finish_login(&answer, &ceremony_state, &stored)
    {
        Ok(asserted) => asserted,
        Err(rejected) => {
            tracing::info!(%rejected, user_id = %user.id, "a passkey login was refused");
            let event = Event::new(EventType::LoginFailed, client, deps.now())
                .user(&user.id)
                .detail(json!({"reason": "passkey_rejected", "passkey_id": passkey.id}));
            super::audit::record_alone(deps, event).await?;
            return Err(LoginError::InvalidCredentials);
        }
    };
    refuse_unless_allowed(deps, &user, client).await?;
    let resealed = asserted
        .updated_passkey
        .as_deref()
        .map(|updated| seal_passkey(deps, &user.id, &passkey.id, updated))
        .transpose()
        .map_err(|error| LoginError::Store(store_failure(error)))?;
    let now = deps.now();
    let counter = i64::from(asserted.counter);
    let login = Login {
        amr: AMR_PASSKEY,
        method: LoginMethod::Passkey,
        remember,
        provider: None,
    };
    open_session(deps, user, None, login, client, move |conn, _| {
        if !passkeys::record_use(conn, &passkey.id, counter, resealed.as_deref(), now)? {
            return Err(LoginError::InvalidCredentials);
        }
        Ok(())
    })
    .await
}

/// The passkey half of a password login's second step: WebAuthn request
/// options naming the account's passkeys, whose ceremony is kept under the
/// login's `mfa_token` (see [`check_second_factor`]). `None` if the account
/// has no passkey left.
pub(super) async fn start_second_factor(
    deps: &(impl HasStore + HasCipher + HasPasskeys),
    user_id: &str,
    mfa_token: &str,
    now: NaiveDateTime,
) -> Result<Option<serde_json::Value>, LoginError> {
    let owner = user_id.to_owned();
    let rows = deps
        .db()
        .run(move |conn| Ok::<_, StoreError>(passkeys::list_for_user(conn, &owner)?))
        .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let stored = rows
        .iter()
        .map(|row| open_passkey(deps, row))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| LoginError::Store(store_failure(error)))?;
    let started = deps.passkeys().start_login(&stored).map_err(failed)?;
    let id_hash = token_hash(&second_factor_ceremony_id(mfa_token));
    let row = CeremonyRow {
        state_sealed: deps
            .cipher()
            .seal(&ceremony_context(&id_hash), started.state.as_bytes())
            .map_err(failed)?,
        id_hash,
        purpose: SECOND_FACTOR.to_owned(),
        user_id: Some(user_id.to_owned()),
        created_at: now,
        expires_at: now + crate::clock::seconds(CEREMONY_TTL_SECS),
    };
    deps.db()
        .transaction(move |conn| Ok::<_, StoreError>(passkeys::insert_ceremony(conn, &row)?))
        .await?;
    Ok(Some(started.options))
}

/// Checks a passkey's answer to the second step of `mfa_token`'s login: one
/// of `user_id`'s passkeys, signing the challenge of that login's
/// `passkey_options`. The ceremony is spent by the first answer, right or
/// wrong (WebAuthn challenges are single-use); `None` when the answer cannot
/// be right. The signature counter is recorded when the proof is spent.
pub(super) async fn check_second_factor(
    deps: &(impl HasStore + HasClock + HasCipher + HasPasskeys),
    mfa_token: &str,
    user_id: &str,
    credential: &serde_json::Value,
) -> Result<Option<Proof>, StoreError> {
    let ceremony =
        match take_ceremony(deps, &second_factor_ceremony_id(mfa_token), SECOND_FACTOR).await {
            Ok(ceremony) => ceremony,
            Err(PasskeyError::Store(error)) => return Err(error),
            Err(_) => return Ok(None),
        };
    if ceremony.user_id.as_deref() != Some(user_id) {
        return Ok(None);
    }
    let Ok(answer) = deps.passkeys().identify(credential) else {
        return Ok(None);
    };
    let credential_id = base64url(&answer.credential_id);
    let Some(passkey) = deps
        .db()
        .run(move |conn| {
            Ok::<_, StoreError>(passkeys::find_by_credential_id(conn, &credential_id)?)
        })
        .await?
        .filter(|passkey| passkey.user_id == user_id)
    else {
        return Ok(None);
    };
    let ceremony_state = open_ceremony(deps, &ceremony).map_err(store_failure)?;
    let stored = open_passkey(deps, &passkey).map_err(store_failure)?;
    let asserted = match deps
        .passkeys()
        .finish_login(&answer, &ceremony_state, &stored)
    {
        Ok(asserted) => asserted,
        Err(rejected) => {
            tracing::info!(%rejected, %user_id, "a passkey second factor was refused");
            return Ok(None);
        }
    };
    let resealed = asserted
        .updated_passkey
        .as_deref()
        .map(|updated| seal_passkey(deps, user_id, &passkey.id, updated))
        .transpose()
        .map_err(store_failure)?;
    Ok(Some(Proof::Passkey {
        passkey_id: passkey.id,
        counter: i64::from(asserted.counter),
        resealed,
        at: deps.now(),
    }))
}

/// The ceremony of a login's passkey step is named after its `mfa_token`,
/// apart from every id a client can name at `/login/passkey`.
fn second_factor_ceremony_id(mfa_token: &str) -> String {
    format!("second-factor:{mfa_token}")
}

/// Deletes ceremonies nobody finished within `CEREMONY_TTL_SECS`. Every node
/// runs it now and then.
pub async fn prune(deps: &(impl HasStore + HasClock)) {
    let now = deps.now();
    if let Err(error) = deps
        .db()
        .transaction(move |conn| Ok::<_, StoreError>(passkeys::prune_ceremonies(conn, now)?))
        .await
    {
        tracing::warn!(%error, "pruning expired passkey ceremonies failed; will retry");
    }
}

/// Whether the passkey an answer names may finish this ceremony: the
/// account the ceremony was started for, or for a usernameless login the
/// account in the answer's user handle.
fn names_its_account(ceremony: &CeremonyRow, answer: &Identified, passkey: &PasskeyRow) -> bool {
    match &ceremony.user_id {
        Some(user_id) => *user_id == passkey.user_id,
        None => answer
            .user_id
            .is_some_and(|handle| handle.to_string() == passkey.user_id),
    }
}

/// A proven passkey still does not open a disabled account, or (with
/// `EMAIL_VERIFICATION=required`) an unproven address: told now, as after a
/// right password.
async fn refuse_unless_allowed(
    deps: &(impl HasStore + HasClock + HasPolicy),
    user: &UserRow,
    client: &ClientInfo,
) -> Result<(), LoginError> {
    let (reason, error) = if user.disabled {
        ("account_disabled", LoginError::AccountDisabled)
    } else if deps.policy().email_verification == EmailVerification::Required
        && !user.email_verified
    {
        ("email_not_verified", LoginError::EmailNotVerified)
    } else {
        return Ok(());
    };
    let event = Event::new(EventType::LoginFailed, client, deps.now())
        .user(&user.id)
        .detail(json!({"reason": reason, "method": LoginMethod::Passkey.as_str()}));
    super::audit::record_alone(deps, event).await?;
    Err(error)
}

async fn store_ceremony(
    deps: &(impl HasStore + HasClock + HasCipher),
    purpose: &'static str,
    user_id: Option<String>,
    started: Started,
) -> Result<Ceremony, StoreError> {
    let OneTimeToken {
        token: ceremony_id,
        hash: id_hash,
    } = OneTimeToken::new()?;
    let now = deps.now();
    let row = CeremonyRow {
        state_sealed: deps
            .cipher()
            .seal(&ceremony_context(&id_hash), started.state.as_bytes())
            .map_err(StoreError::Failed)?,
        id_hash,
        purpose: purpose.to_owned(),
        user_id,
        created_at: now,
        expires_at: now + crate::clock::seconds(CEREMONY_TTL_SECS),
    };
    deps.db()
        .transaction(move |conn| Ok::<_, StoreError>(passkeys::insert_ceremony(conn, &row)?))
        .await?;
    Ok(Ceremony {
        ceremony_id: ceremony_id.into(),
        options: started.options,
    })
}

async fn take_ceremony(
    deps: &(impl HasStore + HasClock),
    ceremony_id: &str,
    purpose: &'static str,
) -> Result<CeremonyRow, PasskeyError> {
    let id_hash = token_hash(ceremony_id);
    let now = deps.now();
    deps.db()
        .transaction(move |conn| {
            Ok::<_, StoreError>(passkeys::take_ceremony(conn, &id_hash, purpose, now)?)
        })
        .await?
        .ok_or(PasskeyError::CeremonyInvalid)
}

fn open_ceremony(deps: &impl HasCipher, ceremony: &CeremonyRow) -> Result<String, PasskeyError> {
    let opened = deps
        .cipher()
        .open(&ceremony_context(&ceremony.id_hash), &ceremony.state_sealed)
        .map_err(|error| PasskeyError::Failed(anyhow::Error::new(error)))?;
    String::from_utf8(opened.plaintext).map_err(|error| PasskeyError::Failed(error.into()))
}

/// What a stored passkey is sealed for: copied to another row or account,
/// it does not open.
fn passkey_context(user_id: &str, passkey_id: &str) -> String {
    format!("passkey:{user_id}:{passkey_id}")
}

fn ceremony_context(id_hash: &str) -> String {
    format!("webauthn-ceremony:{id_hash}")
}

fn seal_passkey(
    deps: &impl HasCipher,
    user_id: &str,
    passkey_id: &str,
    passkey: &str,
) -> Result<String, PasskeyError> {
    deps.cipher()
        .seal(&passkey_context(user_id, passkey_id), passkey.as_bytes())
        .map_err(PasskeyError::Failed)
}

/// The stored passkey's JSON. One sealed by an older data key opens too; it
/// is sealed again with the current key when its counter next moves.
fn open_passkey(deps: &impl HasCipher, row: &PasskeyRow) -> Result<String, PasskeyError> {
    let opened = deps
        .cipher()
        .open(
            &passkey_context(&row.user_id, &row.id),
            &row.credential_sealed,
        )
        .map_err(|error| PasskeyError::Failed(anyhow::Error::new(error)))?;
    String::from_utf8(opened.plaintext).map_err(|error| PasskeyError::Failed(error.into()))
}

fn valid_name(name: &str) -> Result<String, PasskeyError> {
    let name = name.trim();
    let invalid = |message| PasskeyError::Invalid("name", Violation::new("invalid_name", message));
    if name.is_empty() || name.chars().count() > NAME_MAX_CHARS {
        return Err(invalid("1 to 64 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid("no control characters"));
    }
    Ok(name.to_owned())
}

fn from_base64url(encoded: &str) -> Result<Vec<u8>, PasskeyError> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|error| PasskeyError::Failed(error.into()))
}

fn base64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn failed(error: anyhow::Error) -> LoginError {
    LoginError::Store(StoreError::Failed(error))
}

fn store_failure(error: PasskeyError) -> StoreError {
    match error {
        PasskeyError::Store(error) => error,
        other => StoreError::Failed(anyhow::Error::new(other)),
    }
}
