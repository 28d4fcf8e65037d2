//! Signing in by email: a link and a 6-digit code mailed to the address
//! (`EMAIL_LOGIN=on`). Either one, used once within `MAGIC_LINK_TTL`, is a
//! first factor like a password: an account with a second factor still
//! takes the second step. Using it proves the address. With
//! `EMAIL_LOGIN_SIGNUP=on`, an address without an account gets one (no
//! password, address verified) when its link or code is used.
//!
//! Asking answers the same, in the same time, whether or not the address
//! has an account: the lookup and the mail happen after the answer, as for a
//! forgotten password, and count against the same per-address limits.

use std::sync::Arc;

use chrono::NaiveDateTime;
use serde_json::json;

use super::audit::Event;
use super::caller::ClientInfo;
use super::carries_store_errors;
use super::links::outbox_row;
use super::login::{IssuedTokens, Login, LoginError, LoginOutcome, open_session};
use super::one_time::{OneTimeToken, token_hash};
use super::ports::{
    HasCipher, HasClock, HasHasher, HasLimits, HasMailer, HasPasskeys, HasPolicy, HasStore,
    HasTokens,
};
use crate::clock::seconds;
use crate::db::StoreError;
use crate::db::email_logins::{self, EmailLoginRow};
use crate::db::outbox;
use crate::db::users::{self, UserRow};
use crate::domain::{Email, EventType, Secret, Violations};
use crate::mail::{MailContext, MailKind, fill, in_words};

/// Tries one mailed code allows.
pub const CODE_MAX_ATTEMPTS: i32 = 5;
/// Digits of the mailed code.
pub const CODE_DIGITS: usize = 6;

/// The `amr` of a session opened by a mailed link or code alone.
const AMR_EMAIL: &[crate::domain::AuthMethod] = &[crate::domain::AuthMethod::Email];

/// Why a sign-in by email did not happen.
#[derive(Debug, thiserror::Error)]
pub enum EmailLoginError {
    /// `EMAIL_LOGIN` is off.
    #[error("signing in by email is off")]
    Disabled,
    #[error("invalid input")]
    Invalid(Violations),
    /// `redirect_to` is not on the allow-list.
    #[error("redirect not allowed")]
    RedirectNotAllowed,
    /// Too many requests for this address.
    #[error("held back")]
    HeldBack { retry_after_secs: u64 },
    #[error(transparent)]
    Login(#[from] LoginError),
    #[error(transparent)]
    Store(#[from] StoreError),
}
carries_store_errors!(EmailLoginError);

/// Only a proof that reached the account is a login attempt.
impl LoginOutcome for EmailLoginError {
    fn login_outcome(&self) -> Option<&'static str> {
        match self {
            Self::Login(refused) => Some(refused.outcome()),
            _ => None,
        }
    }
}

/// What proves the address: the link's token, or the address and its code.
pub enum EmailProof {
    Link { token: Secret },
    Code { email: String, code: Secret },
}

/// Names the kind only: neither a token nor a code reaches a log.
impl std::fmt::Debug for EmailProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Link { .. } => f.write_str("EmailProof::Link(***)"),
            Self::Code { .. } => f.write_str("EmailProof::Code(***)"),
        }
    }
}

/// Mails a sign-in link and code to `email` if it may sign in (an enabled
/// account, or with sign-up on any address), at most once per
/// `MAIL_MIN_INTERVAL`; a new one replaces the older one. The caller learns
/// nothing: after the input is checked and counted, the answer is given and
/// the rest happens in the background.
pub async fn request(
    deps: Arc<impl HasStore + HasClock + HasLimits + HasMailer + HasPolicy + Send + Sync + 'static>,
    email: &str,
    redirect_to: Option<&str>,
    client: &ClientInfo,
) -> Result<(), EmailLoginError> {
    if !deps.policy().email_login.enabled {
        return Err(EmailLoginError::Disabled);
    }
    let email = Email::parse(email).map_err(|violation| {
        EmailLoginError::Invalid(Violations::from([("email", vec![violation])]))
    })?;
    let link_template = link_template(&*deps, redirect_to)?;
    super::links::count_mail_request(&*deps, &email)
        .await
        .map_err(|retry_after_secs| EmailLoginError::HeldBack { retry_after_secs })?;
    let now = deps.now();
    let client = client.clone();
    tokio::spawn(async move {
        if let Err(error) = queue(&*deps, email, &link_template, &client, now).await {
            tracing::warn!(%error, "a sign-in by email could not be handled");
        }
    });
    Ok(())
}

/// The sign-in page's link: `MAGIC_LINK_URL`, or `redirect_to` (an origin on
/// the allow-list) with the token added to its query.
fn link_template(
    deps: &impl HasPolicy,
    redirect_to: Option<&str>,
) -> Result<String, EmailLoginError> {
    let Some(redirect_to) = redirect_to else {
        return Ok(deps.policy().email_login.link.clone());
    };
    let mut url = super::redirects::allowed_redirect(deps, redirect_to)
        .ok_or(EmailLoginError::RedirectNotAllowed)?;
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(name, _)| name != "token")
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    url.query_pairs_mut().clear().extend_pairs(kept);
    // `{token}` stays literal (the brace is not escaped by `fill` users).
    let separator = if url.query().is_some_and(|query| !query.is_empty()) {
        "&"
    } else {
        "?"
    };
    let base = url.as_str().trim_end_matches('?').to_owned();
    Ok(format!("{base}{separator}token={{token}}"))
}

async fn queue(
    deps: &(impl HasStore + HasMailer + HasPolicy),
    email: Email,
    link_template: &str,
    client: &ClientInfo,
    now: NaiveDateTime,
) -> Result<(), EmailLoginError> {
    let lookup = email.clone();
    let user = deps
        .db()
        .run(move |conn| Ok::<_, StoreError>(users::find_by_email(conn, lookup.as_str())?))
        .await?;
    let may_sign_in = match &user {
        Some(user) => !user.disabled,
        None => deps.policy().email_login.signup,
    };
    // Made for every address (and thrown away when it may not sign in), so
    // that each takes the same time.
    let OneTimeToken { token, hash } = OneTimeToken::new()?;
    let code = crate::auth::random::decimal_code(CODE_DIGITS)?;
    let ttl = deps.policy().email_login.ttl;
    let row = EmailLoginRow {
        code_hash: code_hash(&hash, &code),
        token_hash: hash,
        email: email.as_str().to_owned(),
        user_id: user.as_ref().map(|user| user.id.clone()),
        attempts: 0,
        created_at: now,
        expires_at: now + seconds(ttl),
    };
    let message = outbox_row(
        deps,
        email.as_str(),
        MailKind::LoginLink,
        &MailContext {
            username: user
                .as_ref()
                .map_or_else(|| email.as_str().to_owned(), |user| user.username.clone()),
            link: Some(fill(link_template, &token)),
            valid_for: Some(in_words(ttl)),
            code: Some(code),
            ..MailContext::default()
        },
        now,
    )?;
    let min_interval = seconds(deps.policy().mail_min_interval);
    let client = client.clone();
    let queued = deps
        .db()
        .transaction(move |conn| {
            if !may_sign_in {
                return Ok::<_, StoreError>(false);
            }
            if !outbox::may_send(
                conn,
                &row.email,
                MailKind::LoginLink.as_str(),
                now,
                min_interval,
            )? {
                return Ok(false);
            }
            email_logins::replace(conn, &row)?;
            outbox::enqueue(conn, &message)?;
            let mut event = Event::new(EventType::EmailLoginRequested, &client, now);
            if let Some(user_id) = &row.user_id {
                event = event.user(user_id);
            }
            event.record(conn)?;
            Ok(true)
        })
        .await?;
    if queued {
        deps.wake_mail_sender();
    }
    Ok(())
}

/// Signs in with a mailed link or code. The address counts as proven. An
/// account with a second factor answers with its challenge
/// ([`LoginError::SecondFactorRequired`]) instead of a session.
pub async fn verify(
    deps: &(impl HasStore + HasClock + HasHasher + HasTokens + HasCipher + HasPasskeys + HasPolicy),
    proof: EmailProof,
    remember: bool,
    client: &ClientInfo,
) -> Result<IssuedTokens, EmailLoginError> {
    if !deps.policy().email_login.enabled {
        return Err(EmailLoginError::Disabled);
    }
    let now = deps.now();
    let taken = match proof {
        EmailProof::Link { token } => {
            let hash = token_hash(token.expose());
            deps.db()
                .run(move |conn| {
                    Ok::<_, StoreError>(email_logins::find_by_token(conn, &hash, now)?)
                })
                .await?
        }
        EmailProof::Code { email, code } => {
            let Ok(email) = Email::parse(&email) else {
                return Err(LoginError::ChallengeInvalid.into());
            };
            let counted = deps
                .db()
                .transaction(move |conn| {
                    Ok::<_, StoreError>(email_logins::count_code_try(
                        conn,
                        email.as_str(),
                        CODE_MAX_ATTEMPTS,
                        now,
                    )?)
                })
                .await?;
            counted.filter(|row| code_matches(row, code.expose()))
        }
    };
    let Some(login) = taken else {
        return Err(LoginError::ChallengeInvalid.into());
    };
    let user = claim_account(deps, login, client, now).await?;
    if user.disabled {
        return Err(LoginError::AccountDisabled.into());
    }
    if user.has_second_factor() {
        let challenge = super::mfa::challenge(
            deps,
            &user,
            None,
            remember,
            super::login::FirstFactor::Email,
        )
        .await?;
        return Err(LoginError::SecondFactorRequired(challenge).into());
    }
    let session = Login {
        amr: AMR_EMAIL,
        method: crate::domain::LoginMethod::Email,
        remember,
        provider: None,
    };
    Ok(open_session(deps, user, None, session, client, |_, _| Ok(())).await?)
}

/// Spends the sign-in and returns its account, with the address marked
/// proven: the account it was made for, or with sign-up a new one. A sign-in
/// made for a new account finds the address taken meanwhile: refused (ask
/// again, and the new link signs in to that account).
async fn claim_account(
    deps: &(impl HasStore + HasHasher),
    login: EmailLoginRow,
    client: &ClientInfo,
    now: NaiveDateTime,
) -> Result<UserRow, EmailLoginError> {
    let new_account = match &login.user_id {
        Some(_) => None,
        None => Some(
            super::signup::passwordless_account(deps, &login.email, None, now)
                .await
                .map_err(EmailLoginError::Login)?,
        ),
    };
    let client = client.clone();
    let claimed = deps
        .db()
        .transaction(move |conn| {
            if !email_logins::finish(conn, &login.token_hash)? {
                return Ok::<_, StoreError>(None);
            }
            let user = match (&login.user_id, new_account) {
                (Some(user_id), _) => users::find_by_id(conn, user_id)?,
                (None, Some(row)) => {
                    if users::find_by_email(conn, &row.email)?.is_some() {
                        return Ok(None);
                    }
                    // A registration or another sign-in may take the
                    // address between the check and the insert: refused alike.
                    let Ok(row) = super::signup::insert_with_free_username(conn, row)? else {
                        return Ok(None);
                    };
                    Event::new(EventType::UserRegistered, &client, now)
                        .user(&row.id)
                        .detail(json!({"method": "email"}))
                        .record(conn)?;
                    Some(row)
                }
                (None, None) => None,
            };
            let Some(mut user) = user.filter(|user| user.email == login.email) else {
                return Ok(None);
            };
            if !user.email_verified {
                users::set_email_verified(conn, &user.id, now)?;
                user.email_verified = true;
                Event::new(EventType::EmailVerified, &client, now)
                    .user(&user.id)
                    .record(conn)?;
            }
            Ok(Some(user))
        })
        .await?;
    claimed.ok_or_else(|| LoginError::ChallengeInvalid.into())
}

/// Deletes sign-ins nobody finished within `MAGIC_LINK_TTL`. Every node runs
/// it now and then.
pub async fn prune(deps: &(impl HasStore + HasClock)) {
    let now = deps.now();
    if let Err(error) = deps
        .db()
        .transaction(move |conn| Ok::<_, StoreError>(email_logins::prune(conn, now)?))
        .await
    {
        tracing::warn!(%error, "pruning expired sign-ins by email failed; will retry");
    }
}

/// The stored form of a code: keyed by its sign-in's token hash, so equal
/// codes of two sign-ins differ.
fn code_hash(token_hash: &str, code: &str) -> String {
    super::one_time::token_hash(&format!("{token_hash}:{code}"))
}

fn code_matches(row: &EmailLoginRow, typed: &str) -> bool {
    let typed: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    let candidate = code_hash(&row.token_hash, &typed);
    aws_lc_rs::constant_time::verify_slices_are_equal(
        candidate.as_bytes(),
        row.code_hash.as_bytes(),
    )
    .is_ok()
}
