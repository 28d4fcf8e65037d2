//! Signing in at another provider (OpenID Connect, GitHub): the start that
//! sends the browser there, the callback that comes back, and the exchange of
//! the Portcullis login code for a session.
//!
//! The attempt between start and callback lives in the database (any node
//! finishes what another began), is used once, and is bound to the browser
//! that began it by the `portcullis_oauth` cookie, so that nobody can finish
//! a sign-in in someone else's browser (login CSRF). Towards the provider it
//! carries `state`, `nonce` and a PKCE verifier; towards the app, the login
//! code is single use, lives 60 s and, when the app sent a `code_challenge`,
//! needs the app's own verifier.
//!
//! Accounts are never linked by address: a provider's address that an
//! account already has answers `account_exists`, and the owner links the
//! identity from a logged-in session (see `service::identities`).

use chrono::NaiveDateTime;
use serde_json::json;

use super::audit::Event;
use super::caller::ClientInfo;
use super::carries_store_errors;
use super::login::{FirstFactor, IssuedTokens, Login, LoginError, LoginOutcome, open_session};
use super::one_time::{OneTimeToken, token_hash};
use super::ports::{
    HasCipher, HasClock, HasHasher, HasPasskeys, HasPolicy, HasProviders, HasStore, HasTokens,
};
use super::redirects::{allowed_redirect, with_query};
use crate::auth::providers::{
    AttemptSecrets, ProviderError, ProviderIdentity, is_pkce_verifier, is_s256_challenge, pkce_s256,
};
use crate::clock::seconds;
use crate::config::EmailVerification;
use crate::db::StoreError;
use crate::db::identities::{self, IdentityRow};
use crate::db::provider_logins::{self, LoginCodeRow, ProviderAttemptRow};
use crate::db::users;
use crate::domain::{AuthMethod, Email, EventType, LoginMethod, Secret, Violation, Violations};

/// Seconds between the start and the provider's callback.
pub const ATTEMPT_TTL_SECS: u64 = 600;
/// Seconds a Portcullis login code may wait for its exchange.
pub const LOGIN_CODE_TTL_SECS: u64 = 60;

/// The `amr` of a session opened at a provider alone.
const AMR_PROVIDER: &[AuthMethod] = &[AuthMethod::Federated];

/// What the sealed column of an attempt holds.
const SEALING_CONTEXT: &str = "provider_attempt";

/// Why a provider's sign-in did not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum FederationError {
    /// No provider of that id is configured.
    #[error("unknown provider")]
    UnknownProvider,
    #[error("redirect not allowed")]
    RedirectNotAllowed,
    #[error("invalid input")]
    Invalid(Violations),
    /// The provider could not be reached (or answered nonsense) in time;
    /// `back` is the app's page with `error=provider_unavailable`, where a
    /// browser navigation should go.
    #[error("the provider is unavailable")]
    ProviderUnavailable { back: url::Url },
    /// A callback with no attempt to go back to: unknown or spent state.
    #[error("unknown or spent sign-in")]
    NoSafePlace,
    #[error(transparent)]
    Login(#[from] LoginError),
    #[error(transparent)]
    Store(#[from] StoreError),
}
carries_store_errors!(FederationError);

impl LoginOutcome for FederationError {
    fn login_outcome(&self) -> Option<&'static str> {
        match self {
            Self::Login(refused) => Some(refused.outcome()),
            _ => None,
        }
    }
}

/// How the sign-in was asked for (no `Debug`: it holds the browser's
/// binding and a link ticket).
pub struct StartRequest {
    pub provider: String,
    /// Where the app wants the login code (or the error) delivered.
    pub redirect_to: String,
    /// The app's PKCE challenge (S256), for `POST /login/code`.
    pub code_challenge: Option<String>,
    pub remember: bool,
    /// The browser's `portcullis_oauth` cookie, if it has one already (a
    /// second tab reuses it, so that either attempt can finish).
    pub browser_binding: Option<String>,
    /// Linking rather than logging in: the ticket `POST /me/identities/{id}`
    /// handed out.
    pub link_ticket: Option<Secret>,
}

/// Where to send the browser, and the value of its binding cookie.
pub struct Started {
    pub location: url::Url,
    pub browser_binding: String,
}

/// Starts a sign-in at `request.provider`: stores the attempt and returns
/// the provider's authorization URL. A `redirect_to` outside the allow-list
/// is refused, never redirected to.
pub async fn start(
    deps: &(impl HasStore + HasClock + HasCipher + HasPolicy + HasProviders),
    request: StartRequest,
) -> Result<Started, FederationError> {
    if !deps.providers().knows(&request.provider) {
        return Err(FederationError::UnknownProvider);
    }
    let now = deps.now();
    let (redirect_to, link_user_id) = match &request.link_ticket {
        Some(ticket) => {
            let hash = token_hash(ticket.expose());
            let ticket = deps
                .db()
                .transaction(move |conn| {
                    Ok::<_, StoreError>(provider_logins::take_ticket(conn, &hash, now)?)
                })
                .await?
                .filter(|ticket| ticket.provider == request.provider)
                .ok_or(LoginError::ChallengeInvalid)?;
            (ticket.redirect_to, Some(ticket.user_id))
        }
        None => (request.redirect_to.clone(), None),
    };
    let redirect_url =
        allowed_redirect(deps, &redirect_to).ok_or(FederationError::RedirectNotAllowed)?;
    let redirect_to = redirect_url.to_string();
    if let Some(challenge) = &request.code_challenge
        && !is_s256_challenge(challenge)
    {
        return Err(FederationError::Invalid(Violations::from([(
            "code_challenge",
            vec![Violation::new(
                "invalid",
                "must be the base64url SHA-256 of a PKCE verifier (43 characters, S256)",
            )],
        )])));
    }
    let OneTimeToken {
        token: state,
        hash: state_hash,
    } = OneTimeToken::new()?;
    let OneTimeToken { token: nonce, .. } = OneTimeToken::new()?;
    let OneTimeToken {
        token: pkce_verifier,
        ..
    } = OneTimeToken::new()?;
    let browser_binding = match request.browser_binding.filter(|value| is_token(value)) {
        Some(existing) => existing,
        None => OneTimeToken::new()?.token,
    };
    let secrets = AttemptSecrets {
        nonce,
        pkce_verifier,
    };
    let location = deps
        .providers()
        .authorization_url(&request.provider, &state, &secrets)
        .await
        .map_err(|error| provider_failure(error, redirect_url))?;
    let sealed_secrets = deps
        .cipher()
        .seal(SEALING_CONTEXT, &secrets.to_bytes())
        .map_err(StoreError::Failed)?;
    let row = ProviderAttemptRow {
        state_hash,
        provider: request.provider,
        browser_hash: token_hash(&browser_binding),
        sealed_secrets,
        redirect_to,
        code_challenge: request.code_challenge,
        remember: request.remember,
        link_user_id,
        created_at: now,
        expires_at: now + seconds(ATTEMPT_TTL_SECS),
    };
    deps.db()
        .transaction(move |conn| Ok::<_, StoreError>(provider_logins::insert_attempt(conn, &row)?))
        .await?;
    Ok(Started {
        location,
        browser_binding,
    })
}

/// What the provider sent the browser back with (no `Debug`: it holds the
/// provider's code, the state and the browser's binding).
#[derive(Default)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    /// The provider's refusal (`access_denied`, …).
    pub error: Option<String>,
    /// The browser's `portcullis_oauth` cookie.
    pub browser_binding: Option<String>,
}

/// Why a callback is refused, as the app reads it in `?error=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackRefusal {
    /// The provider refused or the user cancelled there.
    ProviderError,
    /// The attempt expired, belongs to another provider, or another browser.
    InvalidState,
    /// The provider's answer did not verify (ID token, code exchange).
    InvalidResponse,
    ProviderUnavailable,
    /// The provider does not vouch for the address.
    EmailNotVerified,
    /// An account has the address; its owner may link the identity.
    AccountExists,
    AccountDisabled,
    /// `SIGNUP=closed` and no account has the identity.
    SignupClosed,
    /// Linking an identity that another account has.
    IdentityTaken,
}

impl CallbackRefusal {
    pub const ALL: [Self; 9] = [
        Self::ProviderError,
        Self::InvalidState,
        Self::InvalidResponse,
        Self::ProviderUnavailable,
        Self::EmailNotVerified,
        Self::AccountExists,
        Self::AccountDisabled,
        Self::SignupClosed,
        Self::IdentityTaken,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ProviderError => "provider_error",
            Self::InvalidState => "invalid_state",
            Self::InvalidResponse => "invalid_response",
            Self::ProviderUnavailable => "provider_unavailable",
            Self::EmailNotVerified => "email_not_verified",
            Self::AccountExists => "account_exists",
            Self::AccountDisabled => "account_disabled",
            Self::SignupClosed => "signup_closed",
            Self::IdentityTaken => "identity_taken",
        }
    }
}

/// Finishes the provider's side: spends the attempt, checks the browser and
/// the provider's answer, finds or makes the account (or links the
/// identity), and returns where to send the browser: `redirect_to` with
/// `code=…` (a login), `linked=…` (a link) or `error=…`. A state with no
/// attempt is [`FederationError::NoSafePlace`]: there is nowhere safe to go.
pub async fn callback(
    deps: &(impl HasStore + HasClock + HasHasher + HasCipher + HasPolicy + HasProviders),
    provider: &str,
    callback: Callback,
    client: &ClientInfo,
) -> Result<url::Url, FederationError> {
    let now = deps.now();
    let Some(state) = callback.state.filter(|state| is_token(state)) else {
        return Err(FederationError::NoSafePlace);
    };
    let state_hash = token_hash(&state);
    let attempt = deps
        .db()
        .transaction(move |conn| {
            Ok::<_, StoreError>(provider_logins::take_attempt(conn, &state_hash)?)
        })
        .await?
        .ok_or(FederationError::NoSafePlace)?;
    let redirect_to = url::Url::parse(&attempt.redirect_to)
        .map_err(|error| StoreError::Failed(anyhow::anyhow!("stored redirect_to: {error}")))?;
    let refuse =
        |refusal: CallbackRefusal| with_query(redirect_to.clone(), "error", refusal.as_str());
    let same_browser = callback.browser_binding.as_deref().is_some_and(|binding| {
        aws_lc_rs::constant_time::verify_slices_are_equal(
            token_hash(binding).as_bytes(),
            attempt.browser_hash.as_bytes(),
        )
        .is_ok()
    });
    if attempt.provider != provider || attempt.expires_at <= now || !same_browser {
        return Ok(refuse(CallbackRefusal::InvalidState));
    }
    if callback.error.is_some() {
        return Ok(refuse(CallbackRefusal::ProviderError));
    }
    let Some(code) = callback
        .code
        .filter(|code| !code.is_empty() && code.len() <= 2048)
    else {
        return Ok(refuse(CallbackRefusal::InvalidResponse));
    };
    let secrets = deps
        .cipher()
        .open(SEALING_CONTEXT, &attempt.sealed_secrets)
        .ok()
        .and_then(|opened| AttemptSecrets::from_bytes(&opened.plaintext))
        .ok_or_else(|| StoreError::Failed(anyhow::anyhow!("an attempt's secrets do not open")))?;
    let identity = match deps
        .providers()
        .identify(provider, &code, &secrets, now.and_utc())
        .await
    {
        Ok(identity) => identity,
        Err(ProviderError::Unavailable(reason)) => {
            tracing::warn!(provider, %reason, "a provider could not be reached at its callback");
            return Ok(refuse(CallbackRefusal::ProviderUnavailable));
        }
        Err(ProviderError::Refused(reason)) => {
            tracing::warn!(provider, %reason, "a provider's answer was refused");
            return Ok(refuse(CallbackRefusal::InvalidResponse));
        }
        Err(ProviderError::Unknown) => return Err(FederationError::UnknownProvider),
    };
    let outcome = match &attempt.link_user_id {
        Some(user_id) => link(deps, &attempt, user_id, identity, client, now).await?,
        None => sign_in(deps, &attempt, identity, client, now).await?,
    };
    Ok(match outcome {
        Ok(Arrival::LoginCode(code)) => with_query(redirect_to, "code", &code),
        Ok(Arrival::Linked) => with_query(redirect_to, "linked", provider),
        Err(refusal) => refuse(refusal),
    })
}

/// What the browser brings back to the app.
enum Arrival {
    LoginCode(String),
    Linked,
}

/// A login: the account of the identity, or a new one for a verified
/// address no account has; then a login code for the app.
async fn sign_in(
    deps: &(impl HasStore + HasHasher + HasPolicy),
    attempt: &ProviderAttemptRow,
    identity: ProviderIdentity,
    client: &ClientInfo,
    now: NaiveDateTime,
) -> Result<Result<Arrival, CallbackRefusal>, FederationError> {
    let provider = attempt.provider.clone();
    let subject = identity.subject.clone();
    let known = deps
        .db()
        .run(move |conn| {
            let Some(identity) = identities::find(conn, &provider, &subject)? else {
                return Ok::<_, StoreError>(None);
            };
            Ok(users::find_by_id(conn, &identity.user_id)?.map(|user| (identity, user)))
        })
        .await?;
    let OneTimeToken {
        token: code,
        hash: code_hash,
    } = OneTimeToken::new()?;
    let code_row = |user_id: &str| LoginCodeRow {
        code_hash: code_hash.clone(),
        user_id: user_id.to_owned(),
        provider: attempt.provider.clone(),
        code_challenge: attempt.code_challenge.clone(),
        remember: attempt.remember,
        created_at: now,
        expires_at: now + seconds(LOGIN_CODE_TTL_SECS),
    };
    if let Some((linked, user)) = known {
        if user.disabled {
            return Ok(Err(CallbackRefusal::AccountDisabled));
        }
        let row = code_row(&user.id);
        deps.db()
            .transaction(move |conn| {
                identities::record_login(conn, &linked.id, now)?;
                provider_logins::insert_code(conn, &row)?;
                Ok::<_, StoreError>(())
            })
            .await?;
        return Ok(Ok(Arrival::LoginCode(code)));
    }
    // A new identity: only a verified address, never one an account has.
    let email = match identity.email.as_deref().map(Email::parse) {
        Some(Ok(email)) if identity.email_verified => email,
        _ => return Ok(Err(CallbackRefusal::EmailNotVerified)),
    };
    let lookup = email.clone();
    let exists = deps
        .db()
        .run(move |conn| Ok::<_, StoreError>(users::email_exists(conn, lookup.as_str())?))
        .await?;
    if exists {
        return Ok(Err(CallbackRefusal::AccountExists));
    }
    if !deps.policy().signup_open {
        return Ok(Err(CallbackRefusal::SignupClosed));
    }
    let account = super::signup::passwordless_account(
        deps,
        email.as_str(),
        identity.username.as_deref(),
        now,
    )
    .await?;
    let linked = IdentityRow {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: account.id.clone(),
        provider: attempt.provider.clone(),
        subject: identity.subject,
        email: Some(email.as_str().to_owned()),
        created_at: now,
        last_login_at: Some(now),
    };
    let row = code_row(&account.id);
    let client = client.clone();
    let created = deps
        .db()
        .transaction(move |conn| {
            // The same person's other attempt may have made the account
            // meanwhile: this one signs in to it (`/login/code` checks it is
            // still enabled).
            if code_for_linked(conn, &linked, &row)? {
                return Ok(Ok(()));
            }
            // Re-checked in the transaction: a registration or another
            // callback for the address may have committed meanwhile.
            if users::email_exists(conn, &account.email)? {
                return Ok::<_, StoreError>(Err(CallbackRefusal::AccountExists));
            }
            // The account and its identity are made together or not at all.
            // Either may still be committed by the other writer between the
            // checks above and these inserts: then this callback answers as
            // if it had come second, which it did.
            let made = crate::db::in_savepoint(conn, |conn| {
                let account = match super::signup::insert_with_free_username(conn, account)? {
                    Ok(account) => account,
                    Err(conflict) => return Ok(Err(conflict)),
                };
                Ok::<_, StoreError>(identities::insert(conn, &linked)?.map(|()| account))
            })?;
            let Ok(account) = made else {
                return Ok(if code_for_linked(conn, &linked, &row)? {
                    Ok(())
                } else {
                    Err(CallbackRefusal::AccountExists)
                });
            };
            Event::new(EventType::UserRegistered, &client, now)
                .user(&account.id)
                .detail(json!({"method": "provider", "provider": linked.provider}))
                .record(conn)?;
            Event::new(EventType::IdentityLinked, &client, now)
                .user(&account.id)
                .detail(json!({"provider": linked.provider, "identity_id": linked.id}))
                .record(conn)?;
            provider_logins::insert_code(conn, &row)?;
            Ok(Ok(()))
        })
        .await?;
    Ok(created.map(|()| Arrival::LoginCode(code)))
}

/// Issues `code` for the account that has the identity `linked` names, if
/// one has it; whether one does.
fn code_for_linked(
    conn: &mut crate::db::DbConnection,
    linked: &IdentityRow,
    code: &LoginCodeRow,
) -> Result<bool, StoreError> {
    let Some(existing) = identities::find(conn, &linked.provider, &linked.subject)? else {
        return Ok(false);
    };
    provider_logins::insert_code(
        conn,
        &LoginCodeRow {
            user_id: existing.user_id,
            ..code.clone()
        },
    )?;
    Ok(true)
}

/// Linking: the identity joins the account the ticket was for, unless
/// another account has it.
async fn link(
    deps: &impl HasStore,
    attempt: &ProviderAttemptRow,
    user_id: &str,
    identity: ProviderIdentity,
    client: &ClientInfo,
    now: NaiveDateTime,
) -> Result<Result<Arrival, CallbackRefusal>, FederationError> {
    let row = IdentityRow {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: user_id.to_owned(),
        provider: attempt.provider.clone(),
        subject: identity.subject,
        email: identity.email,
        created_at: now,
        last_login_at: None,
    };
    let client = client.clone();
    Ok(deps
        .db()
        .transaction(move |conn| {
            let Some(user) = users::find_by_id(conn, &row.user_id)? else {
                return Ok::<_, StoreError>(Err(CallbackRefusal::InvalidState));
            };
            if user.disabled {
                return Ok(Err(CallbackRefusal::AccountDisabled));
            }
            let already_linked = |conn: &mut crate::db::DbConnection| {
                Ok::<_, StoreError>(identities::find(conn, &row.provider, &row.subject)?.map(
                    |existing| {
                        if existing.user_id == row.user_id {
                            Ok(Arrival::Linked)
                        } else {
                            Err(CallbackRefusal::IdentityTaken)
                        }
                    },
                ))
            };
            if let Some(answer) = already_linked(conn)? {
                return Ok(answer);
            }
            if identities::insert(conn, &row)?.is_err() {
                // Linked meanwhile: by this account's other callback, or by
                // another account.
                return Ok(already_linked(conn)?.unwrap_or(Err(CallbackRefusal::IdentityTaken)));
            }
            Event::new(EventType::IdentityLinked, &client, now)
                .user(&row.user_id)
                .detail(json!({"provider": row.provider, "identity_id": row.id}))
                .record(conn)?;
            Ok(Ok(Arrival::Linked))
        })
        .await?)
}

/// Exchanges a Portcullis login code for a session, with the app's PKCE
/// verifier when the start carried a challenge. A spent, expired or unknown
/// code, or a wrong verifier, is refused alike; the code is spent either way.
pub async fn exchange_code(
    deps: &(impl HasStore + HasClock + HasTokens + HasCipher + HasPasskeys + HasPolicy),
    code: &Secret,
    code_verifier: Option<&Secret>,
    client: &ClientInfo,
) -> Result<IssuedTokens, FederationError> {
    let now = deps.now();
    let hash = token_hash(code.expose());
    let taken = deps
        .db()
        .transaction(move |conn| {
            let Some(code) = provider_logins::take_code(conn, &hash, now)? else {
                return Ok::<_, StoreError>(None);
            };
            Ok(users::find_by_id(conn, &code.user_id)?.map(|user| (code, user)))
        })
        .await?;
    let Some((code, user)) = taken else {
        return Err(LoginError::ChallengeInvalid.into());
    };
    if let Some(challenge) = &code.code_challenge {
        let verified = code_verifier.is_some_and(|verifier| {
            is_pkce_verifier(verifier.expose())
                && aws_lc_rs::constant_time::verify_slices_are_equal(
                    pkce_s256(verifier.expose()).as_bytes(),
                    challenge.as_bytes(),
                )
                .is_ok()
        });
        if !verified {
            return Err(LoginError::ChallengeInvalid.into());
        }
    }
    if user.disabled {
        return Err(LoginError::AccountDisabled.into());
    }
    if deps.policy().email_verification == EmailVerification::Required && !user.email_verified {
        return Err(LoginError::EmailNotVerified.into());
    }
    if user.has_second_factor() {
        let challenge =
            super::mfa::challenge(deps, &user, None, code.remember, FirstFactor::Provider).await?;
        return Err(LoginError::SecondFactorRequired(challenge).into());
    }
    let login = Login {
        amr: AMR_PROVIDER,
        method: LoginMethod::Provider,
        remember: code.remember,
        provider: Some(code.provider),
    };
    Ok(open_session(deps, user, None, login, client, |_, _| Ok(())).await?)
}

/// Deletes attempts, codes and link tickets nobody finished. Every node runs
/// it now and then.
pub async fn prune(deps: &(impl HasStore + HasClock)) {
    let now = deps.now();
    if let Err(error) = deps
        .db()
        .transaction(move |conn| Ok::<_, StoreError>(provider_logins::prune(conn, now)?))
        .await
    {
        tracing::warn!(%error, "pruning expired provider sign-ins failed; will retry");
    }
}

fn provider_failure(error: ProviderError, redirect_to: url::Url) -> FederationError {
    match error {
        ProviderError::Unknown => FederationError::UnknownProvider,
        ProviderError::Unavailable(reason) | ProviderError::Refused(reason) => {
            tracing::warn!(%reason, "a provider could not start a sign-in");
            FederationError::ProviderUnavailable {
                back: with_query(
                    redirect_to,
                    "error",
                    CallbackRefusal::ProviderUnavailable.as_str(),
                ),
            }
        }
    }
}

/// 256 random bits as [`OneTimeToken`] writes them (43 base64url characters).
fn is_token(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_has_its_own_name() {
        let names: std::collections::HashSet<_> = CallbackRefusal::ALL
            .iter()
            .map(|refusal| refusal.as_str())
            .collect();
        assert_eq!(names.len(), CallbackRefusal::ALL.len());
    }
}
