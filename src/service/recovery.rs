//! Recovering an account and proving its address: a forgotten password reset
//! by a link in the mail, verification links, changing the address (which
//! changes only once the new one is proven), and changing the username.
//!
//! Links carry a token of 256 random bits; the database keeps only its
//! SHA-256, and spends it once. Mail goes through the outbox, written in the
//! same transaction as the change that causes it.

use std::sync::Arc;

use chrono::NaiveDateTime;

use super::account::Account;
use super::accounts::{AccountError, PasswordChange, PasswordUpdate, confirm_password};
use super::audit::Event;
use super::caller::{Caller, ClientInfo};
use super::links::{LinkMail, LinkMailTo, TokenPurpose, link_mail, outbox_row};
use super::links::{count_mail_request, verification_mail};
use super::one_time::token_hash;
use super::ports::{HasClock, HasHasher, HasLimits, HasMailer, HasPolicy, HasStore};
use crate::clock::seconds;
use crate::db::StoreError;
use crate::db::outbox::{self, OutboxRow};
use crate::db::users::{self, UserRow};
use crate::domain::{Email, EventType, NewPassword, Secret, Username, Violations};
use crate::mail::{MailContext, MailKind};

fn invalid(field: &'static str, violation: crate::domain::Violation) -> AccountError {
    AccountError::Invalid(Violations::from([(field, vec![violation])]))
}

/// Mails a reset link to the account with this address, if there is one and
/// it is enabled, at most once per `MAIL_MIN_INTERVAL`. The caller learns
/// nothing: after the address is parsed and counted, the answer is given and
/// the rest (the lookup, and for a real account the token and the message)
/// happens in the background, so neither the answer nor its timing depends on
/// whether the account exists.
pub async fn request_password_reset(
    deps: Arc<impl HasStore + HasClock + HasLimits + HasMailer + HasPolicy + Send + Sync + 'static>,
    email: &str,
    client: &ClientInfo,
) -> Result<(), AccountError> {
    let email = Email::parse(email).map_err(|violation| invalid("email", violation))?;
    count_mail_request(&*deps, &email)
        .await
        .map_err(|retry_after_secs| AccountError::HeldBack { retry_after_secs })?;
    let now = deps.now();
    let client = client.clone();
    tokio::spawn(async move {
        if let Err(error) = queue_password_reset(&*deps, email, &client, now).await {
            tracing::warn!(%error, "a password-reset request could not be handled");
        }
    });
    Ok(())
}

async fn queue_password_reset(
    deps: &(impl HasStore + HasMailer + HasPolicy),
    email: Email,
    client: &ClientInfo,
    now: NaiveDateTime,
) -> Result<(), AccountError> {
    let min_interval = seconds(deps.policy().mail_min_interval);
    let lookup = email.clone();
    let user = deps
        .db()
        .run(move |conn| Ok::<_, StoreError>(users::find_by_email(conn, lookup.as_str())?))
        .await?
        .filter(|user| !user.disabled);
    // Made for an unknown address too (and thrown away), so both take the
    // same time.
    let LinkMail { token, message } = link_mail(
        deps,
        MailKind::PasswordReset,
        TokenPurpose::PasswordReset,
        &LinkMailTo {
            user_id: user.as_ref().map_or("", |user| user.id.as_str()),
            username: user.as_ref().map_or("", |user| user.username.as_str()),
            recipient: email.as_str(),
            new_email: None,
            other_address: None,
        },
        deps.policy().password_reset_ttl,
        now,
    )?;
    let client = client.clone();
    let queued = deps
        .db()
        .transaction(move |conn| {
            let may_send = outbox::may_send(
                conn,
                email.as_str(),
                MailKind::PasswordReset.as_str(),
                now,
                min_interval,
            )?;
            let Some(user) = user.filter(|_| may_send) else {
                return Ok::<_, AccountError>(false);
            };
            // The lookup above ran outside this transaction: the account may
            // have moved to another address (or been disabled or deleted)
            // since. Read it again under its row lock, so the link goes only
            // to the address the account has when the token is made; an email
            // change committed after this waits for it and voids the token.
            users::lock(conn, &user.id)?;
            let still_there = users::find_by_id(conn, &user.id)?
                .is_some_and(|current| current.email == email.as_str() && !current.disabled);
            if !still_there {
                return Ok(false);
            }
            outbox::void_tokens(conn, &user.id, &[TokenPurpose::PasswordReset.as_str()])?;
            outbox::insert_token(conn, &token)?;
            outbox::enqueue(conn, &message)?;
            Event::new(EventType::PasswordResetRequested, &client, now)
                .user(&user.id)
                .record(conn)?;
            Ok(true)
        })
        .await?;
    if queued {
        deps.wake_mail_sender();
    }
    Ok(())
}

/// Sets a new password with a reset link's token: every session ends, the
/// address counts as proven (the link reached it), other reset links die, and
/// a notice is mailed.
///
/// If the address had never been proven, every second factor goes too (with a
/// notice of its own): whoever set them up had not shown they own the
/// address, and may have registered it before its owner to wait for them
/// (pre-hijacking). An account whose address was proven keeps its factors.
pub async fn reset_password(
    deps: &(impl HasStore + HasClock + HasHasher + HasMailer),
    token: &str,
    new_password: Secret,
    client: &ClientInfo,
) -> Result<(), AccountError> {
    let hash = token_hash(token);
    let now = deps.now();
    let lookup = hash.clone();
    let user = deps
        .db()
        .run(move |conn| {
            let Some(token) =
                outbox::find_token(conn, &lookup, &[TokenPurpose::PasswordReset.as_str()], now)?
            else {
                return Ok::<_, StoreError>(None);
            };
            Ok(users::find_by_id(conn, &token.user_id)?)
        })
        .await?
        .ok_or(AccountError::InvalidOrExpiredToken)?;
    let account = Account::from_row(&user)?;
    let new_password =
        NewPassword::parse(new_password, &user.username, &user.email).map_err(|violations| {
            AccountError::Invalid(Violations::from([("new_password", violations)]))
        })?;
    let new_hash = deps.passwords().hash(new_password.into_inner()).await?;
    let now = deps.now();
    let event = Event::new(EventType::PasswordReset, client, now).user(&user.id);
    let update = PasswordUpdate::new(
        deps,
        &account,
        new_hash,
        PasswordChange::Regardless,
        None,
        client,
        now,
    )?
    .with_event(event);
    // Prepared in case the address turns out never proven. (A token still
    // unspent means the address is the one it was mailed to: moving the
    // account to another address voids its reset links.)
    let factors_notice = outbox_row(
        deps,
        &user.email,
        MailKind::FactorsRemoved,
        &MailContext {
            username: user.username.clone(),
            ..MailContext::default()
        },
        now,
    )?;
    let client = client.clone();
    deps.db()
        .transaction(move |conn| {
            if outbox::consume_token(conn, &hash, &[TokenPurpose::PasswordReset.as_str()], now)?
                .is_none()
            {
                return Err(AccountError::InvalidOrExpiredToken);
            }
            // Read under the row's lock, so a factor added meanwhile is seen
            // (and one added later finds the address proven).
            users::lock(conn, &user.id)?;
            let Some(current) = users::find_by_id(conn, &user.id)? else {
                return Err(AccountError::InvalidOrExpiredToken);
            };
            if !current.email_verified {
                remove_unproven_factors(conn, &current, &factors_notice, &client, now)?;
            }
            update.apply(conn, now)?;
            users::set_email_verified(conn, &user.id, now)?;
            Ok(())
        })
        .await?;
    deps.wake_mail_sender();
    Ok(())
}

/// Removes every second factor of an account whose address was never proven
/// (its TOTP, pending or confirmed, its recovery codes, its passkeys and
/// their ceremonies, its linked provider identities), as an admin's MFA reset does; if it had any, records
/// `mfa_disabled` (by `password_reset`) and queues `notice`. Run it in the
/// transaction of the reset.
fn remove_unproven_factors(
    conn: &mut crate::db::DbConnection,
    account: &UserRow,
    notice: &OutboxRow,
    client: &ClientInfo,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    let had_totp = crate::db::mfa::remove_all(conn, &account.id)?;
    let passkeys_removed = crate::db::passkeys::delete_all(conn, &account.id)?;
    let identities_removed = crate::db::identities::delete_all(conn, &account.id)?;
    let removed_any = had_totp
        || passkeys_removed > 0
        || identities_removed > 0
        || account.recovery_codes_left > 0;
    if removed_any {
        Event::new(EventType::MfaDisabled, client, now)
            .user(&account.id)
            .detail(serde_json::json!({
                "by": "password_reset",
                "reason": "email_never_verified",
                "had_totp": had_totp,
                "passkeys_removed": passkeys_removed,
                "recovery_codes_removed": account.recovery_codes_left,
                "identities_removed": identities_removed,
            }))
            .record(conn)?;
        outbox::enqueue(conn, notice)?;
    }
    Ok(())
}

/// Proves an address with a verification link's token; for an email-change
/// token, the account moves to the new address (409 if it was taken
/// meanwhile) and the old address gets a notice.
pub async fn verify_email(
    deps: &(impl HasStore + HasClock + HasMailer),
    token: &str,
    client: &ClientInfo,
) -> Result<(), AccountError> {
    let hash = token_hash(token);
    let now = deps.now();
    let purposes = [
        TokenPurpose::EmailVerification.as_str(),
        TokenPurpose::EmailChange.as_str(),
    ];
    let lookup = hash.clone();
    let found = deps
        .db()
        .run(move |conn| {
            let Some(token) = outbox::find_token(conn, &lookup, &purposes, now)? else {
                return Ok::<_, StoreError>(None);
            };
            Ok(users::find_by_id(conn, &token.user_id)?.map(|user| (token, user)))
        })
        .await?;
    let (found_token, user) = found.ok_or(AccountError::InvalidOrExpiredToken)?;
    // The notice to the address being left, prepared outside the transaction.
    let notice = match &found_token.new_email {
        Some(_) => Some(outbox_row(
            deps,
            &user.email,
            MailKind::EmailChanged,
            &MailContext {
                username: user.username.clone(),
                ..MailContext::default()
            },
            now,
        )?),
        None => None,
    };
    let client = client.clone();
    deps.db()
        .transaction(move |conn| {
            let Some(token) = outbox::consume_token(conn, &hash, &purposes, now)? else {
                return Err(AccountError::InvalidOrExpiredToken);
            };
            match (&token.new_email, notice) {
                (Some(new_email), Some(notice)) => {
                    users::change_email(conn, &token.user_id, new_email, now)?
                        .map_err(|_| AccountError::EmailTaken)?;
                    // Links already mailed to the address being left must not
                    // work for whoever still reads it.
                    outbox::void_tokens(
                        conn,
                        &token.user_id,
                        &[
                            TokenPurpose::EmailChange.as_str(),
                            TokenPurpose::PasswordReset.as_str(),
                            TokenPurpose::EmailVerification.as_str(),
                        ],
                    )?;
                    outbox::enqueue(conn, &notice)?;
                    Event::new(EventType::EmailChanged, &client, now)
                        .user(&token.user_id)
                        .record(conn)?;
                }
                _ => {
                    users::set_email_verified(conn, &token.user_id, now)?;
                    Event::new(EventType::EmailVerified, &client, now)
                        .user(&token.user_id)
                        .record(conn)?;
                }
            }
            Ok(())
        })
        .await?;
    deps.wake_mail_sender();
    Ok(())
}

/// Mails the caller a new verification link, unless the address is already
/// proven (or one went out within `MAIL_MIN_INTERVAL`).
pub async fn send_verification(
    deps: &(impl HasStore + HasClock + HasLimits + HasMailer + HasPolicy),
    caller: &Caller,
) -> Result<(), AccountError> {
    if caller.account.email_verified {
        return Ok(());
    }
    count_mail_request(deps, &caller.account.email)
        .await
        .map_err(|retry_after_secs| AccountError::HeldBack { retry_after_secs })?;
    let now = deps.now();
    let user_id = caller.account.id.to_string();
    let lookup = user_id.clone();
    let Some(user) = deps
        .db()
        .run(move |conn| Ok::<_, StoreError>(users::find_by_id(conn, &lookup)?))
        .await?
    else {
        return Ok(());
    };
    let LinkMail { token, message } = verification_mail(deps, &user, now)?;
    let min_interval = seconds(deps.policy().mail_min_interval);
    let queued = deps
        .db()
        .transaction(move |conn| {
            if !outbox::may_send(
                conn,
                &user.email,
                MailKind::EmailVerification.as_str(),
                now,
                min_interval,
            )? {
                return Ok::<_, StoreError>(false);
            }
            // Deleted since it was looked up: nothing to send.
            if users::find_by_id(conn, &user_id)?.is_none() {
                return Ok(false);
            }
            outbox::void_tokens(conn, &user_id, &[TokenPurpose::EmailVerification.as_str()])?;
            outbox::insert_token(conn, &token)?;
            outbox::enqueue(conn, &message)?;
            Ok(true)
        })
        .await?;
    if queued {
        deps.wake_mail_sender();
    }
    Ok(())
}

/// Starts moving the caller's account to `new_email`: a link to the new
/// address, a notice to the current one; nothing changes until the link is
/// used.
///
/// The new address is anyone's, so the request counts against its mail budget
/// like `/password/forgot` (429 past it), and it gets at most one
/// confirmation per `MAIL_MIN_INTERVAL` (the current address likewise one
/// notice): within it the answer is the same, nothing is sent, and the link
/// already mailed stays the one that works.
pub async fn change_email(
    deps: &(impl HasStore + HasClock + HasHasher + HasLimits + HasMailer + HasPolicy),
    caller: &Caller,
    new_email: &str,
    password: Secret,
    client: &ClientInfo,
) -> Result<(), AccountError> {
    let new_email = Email::parse(new_email).map_err(|violation| invalid("new_email", violation))?;
    confirm_password(deps, caller, password, client).await?;
    let taken = new_email.clone();
    if deps
        .db()
        .run(move |conn| Ok::<_, StoreError>(users::email_exists(conn, taken.as_str())?))
        .await?
    {
        return Err(AccountError::EmailTaken);
    }
    count_mail_request(deps, &new_email)
        .await
        .map_err(|retry_after_secs| AccountError::HeldBack { retry_after_secs })?;
    let now = deps.now();
    let min_interval = seconds(deps.policy().mail_min_interval);
    let user_id = caller.account.id.to_string();
    let username = caller.account.username.as_str();
    let current = caller.account.email.as_str();
    let LinkMail {
        token,
        message: confirm,
    } = link_mail(
        deps,
        MailKind::EmailChange,
        TokenPurpose::EmailChange,
        &LinkMailTo {
            user_id: &user_id,
            username,
            recipient: new_email.as_str(),
            new_email: Some(new_email.as_str()),
            other_address: Some(current),
        },
        deps.policy().email_verification_ttl,
        now,
    )?;
    let notice = outbox_row(
        deps,
        current,
        MailKind::EmailChanged,
        &MailContext {
            username: username.to_owned(),
            other_address: Some(new_email.as_str().to_owned()),
            ..MailContext::default()
        },
        now,
    )?;
    let event = Event::new(EventType::EmailChangeRequested, client, now).user(&user_id);
    let queued = deps
        .db()
        .transaction(move |conn| {
            event.record(conn)?;
            if !outbox::may_send(
                conn,
                &confirm.recipient,
                MailKind::EmailChange.as_str(),
                now,
                min_interval,
            )? {
                return Ok::<_, StoreError>(false);
            }
            outbox::void_tokens(conn, &user_id, &[TokenPurpose::EmailChange.as_str()])?;
            outbox::insert_token(conn, &token)?;
            outbox::enqueue(conn, &confirm)?;
            if outbox::may_send(
                conn,
                &notice.recipient,
                MailKind::EmailChanged.as_str(),
                now,
                min_interval,
            )? {
                outbox::enqueue(conn, &notice)?;
            }
            Ok(true)
        })
        .await?;
    if queued {
        deps.wake_mail_sender();
    }
    Ok(())
}

/// Renames the caller's account (same rules as at registration). A rename is
/// audited (`username_changed`, with the old and the new name), so a squatter
/// taking a name such as `root` is seen.
pub async fn change_username(
    deps: &(impl HasStore + HasClock),
    caller: &Caller,
    username: &str,
    client: &ClientInfo,
) -> Result<Account, AccountError> {
    let username = Username::parse(username).map_err(|violation| invalid("username", violation))?;
    let now = deps.now();
    let user_id = caller.account.id.to_string();
    let client = client.clone();
    let row = deps
        .db()
        .transaction(move |conn| {
            let taken = users::find_by_username(conn, username.as_str())?
                .is_some_and(|other| other.id != user_id);
            if taken {
                return Err(AccountError::UsernameTaken);
            }
            users::lock(conn, &user_id)?;
            let Some(before) = users::find_by_id(conn, &user_id)? else {
                return Ok(None);
            };
            users::set_username(conn, &user_id, username.as_str(), now)?
                .map_err(|_| AccountError::UsernameTaken)?;
            if before.username != username.as_str() {
                Event::new(EventType::UsernameChanged, &client, now)
                    .user(&user_id)
                    .detail(serde_json::json!({
                        "from": before.username,
                        "to": username.as_str(),
                    }))
                    .record(conn)?;
            }
            Ok(users::find_by_id(conn, &user_id)?)
        })
        .await?
        .ok_or(AccountError::Store(StoreError::Failed(anyhow::anyhow!(
            "the account vanished"
        ))))?;
    Ok(Account::from_row(&row)?)
}
