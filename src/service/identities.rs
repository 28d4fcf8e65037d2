//! An account's identities at other providers: listing them, linking one
//! from a logged-in session, and unlinking one. Linking and unlinking are
//! factor changes: an account with a second factor makes them only from a
//! session that proved it.

use serde_json::json;

use super::audit::Event;
use super::caller::{Caller, ClientInfo, StepUpRequired};
use super::carries_store_errors;
use super::one_time::OneTimeToken;
use super::ports::{HasClock, HasPolicy, HasProviders, HasStore};
use super::redirects::allowed_redirect;
use crate::clock::seconds;
use crate::db::StoreError;
use crate::db::identities::{self, IdentityRow};
use crate::db::provider_logins::{self, LinkTicketRow};
use crate::db::users;
use crate::domain::{EventType, Secret};

/// Seconds a link ticket waits for the browser to take it to the start.
pub const LINK_TICKET_TTL_SECS: u64 = 600;

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("unknown provider")]
    UnknownProvider,
    #[error("redirect not allowed")]
    RedirectNotAllowed,
    #[error(transparent)]
    StepUp(#[from] StepUpRequired),
    /// Unlinking would leave the account no way to log in.
    #[error("the account's last way to log in")]
    LastLoginMethod,
    #[error("no such identity")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}
carries_store_errors!(IdentityError);

/// An identity as its owner sees it.
#[derive(Debug, Clone)]
pub struct IdentityInfo {
    pub id: uuid::Uuid,
    pub provider: String,
    pub subject: String,
    pub email: Option<String>,
    pub created_at: chrono::NaiveDateTime,
}

impl IdentityInfo {
    fn from_row(row: IdentityRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: crate::db::stored_uuid("identity", &row.id)?,
            provider: row.provider,
            subject: row.subject,
            email: row.email,
            created_at: row.created_at,
        })
    }
}

/// The caller's identities, oldest first.
pub async fn list(
    deps: &impl HasStore,
    caller: &Caller,
) -> Result<Vec<IdentityInfo>, IdentityError> {
    let user_id = caller.account.id.to_string();
    let rows = deps
        .db()
        .run(move |conn| Ok::<_, StoreError>(identities::for_user(conn, &user_id)?))
        .await?;
    Ok(rows
        .into_iter()
        .map(IdentityInfo::from_row)
        .collect::<Result<_, _>>()?)
}

/// Hands out a ticket for linking an identity at `provider` to the caller's
/// account: the browser opens the returned start URL (with the ticket),
/// which binds the attempt to it, and the provider's callback links the
/// identity and returns to `redirect_to` with `linked=…` or `error=…`.
pub async fn link_ticket(
    deps: &(impl HasStore + HasClock + HasPolicy + HasProviders),
    caller: &Caller,
    provider: &str,
    redirect_to: &str,
) -> Result<Secret, IdentityError> {
    if !deps.providers().knows(provider) {
        return Err(IdentityError::UnknownProvider);
    }
    caller.may_change_factors()?;
    let redirect_to = allowed_redirect(deps, redirect_to)
        .ok_or(IdentityError::RedirectNotAllowed)?
        .to_string();
    let OneTimeToken {
        token: ticket,
        hash: ticket_hash,
    } = OneTimeToken::new()?;
    let now = deps.now();
    let row = LinkTicketRow {
        ticket_hash,
        user_id: caller.account.id.to_string(),
        provider: provider.to_owned(),
        redirect_to,
        created_at: now,
        expires_at: now + seconds(LINK_TICKET_TTL_SECS),
    };
    deps.db()
        .transaction(move |conn| Ok::<_, StoreError>(provider_logins::insert_ticket(conn, &row)?))
        .await?;
    Ok(Secret::from(ticket))
}

/// Unlinks one of the caller's identities, unless the account would be left
/// with no way to log in: no password of its own, no other identity, no
/// passkey, and sign-in by email off.
pub async fn unlink(
    deps: &(impl HasStore + HasClock + HasPolicy),
    caller: &Caller,
    identity_id: &str,
    client: &ClientInfo,
) -> Result<(), IdentityError> {
    caller.may_change_factors()?;
    let user_id = caller.account.id.to_string();
    let identity_id = identity_id.to_owned();
    let email_login = deps.policy().email_login.enabled;
    let now = deps.now();
    let client = client.clone();
    deps.db()
        .transaction(move |conn| {
            // Locks the account row, so that two unlinks cannot each leave
            // the other's identity as the last way in and remove both.
            users::lock(conn, &user_id)?;
            let Some(user) = users::find_by_id(conn, &user_id)? else {
                return Err(IdentityError::NotFound);
            };
            let linked = identities::for_user(conn, &user_id)?;
            let Some(identity) = linked.iter().find(|identity| identity.id == identity_id) else {
                return Err(IdentityError::NotFound);
            };
            let another_way_in =
                user.has_password || linked.len() > 1 || user.passkey_count > 0 || email_login;
            if !another_way_in {
                return Err(IdentityError::LastLoginMethod);
            }
            identities::delete(conn, &user_id, &identity.id)?;
            Event::new(EventType::IdentityUnlinked, &client, now)
                .user(&user_id)
                .detail(json!({"provider": identity.provider, "identity_id": identity.id}))
                .record(conn)?;
            Ok(())
        })
        .await
}
