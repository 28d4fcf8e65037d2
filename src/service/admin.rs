//! What operators do: dashboard figures, finding accounts, changing their role
//! or state, deleting them. Every change that could leave no enabled admin
//! goes through the last-admin guard in `db::users`.

use chrono::NaiveDateTime;
use serde_json::json;

use super::account::Account;
use super::audit::Event;
use super::caller::{Caller, ClientInfo};
use super::carries_store_errors;
use super::links::{LinkMail, LinkMailTo, TokenPurpose, link_mail};
use super::one_time::OneTimeToken;
use super::ports::{HasClock, HasHasher, HasLimits, HasMailer, HasPolicy, HasStore};
use crate::db::user_search::{self, PageStart, UserFilter};
use crate::db::users::{self, AccountChange, Guarded};
use crate::db::{Conflict, DbConnection, StoreError, events, outbox, sessions};
use crate::domain::{
    AccountCursor, Email, EventType, Pagination, Role, UserId, Username, Violations,
};
use crate::mail::MailKind;

/// Figures at a glance.
#[derive(Debug, Clone, Copy)]
pub struct Dashboard {
    pub users: i64,
    pub users_estimated: bool,
    pub admins: i64,
    pub disabled_users: i64,
    /// Accounts with a second factor (TOTP or a passkey).
    pub mfa_enabled_users: i64,
    pub active_sessions: i64,
    pub failed_logins_last_24h: i64,
    /// Wrong current passwords given through sessions in the last 24 hours.
    pub password_check_failures_last_24h: i64,
    pub signups_last_24h: i64,
    /// Times this node could not reach Redis and let a request through.
    pub rate_limit_store_errors: u64,
    pub mail_pending: i64,
    pub mail_oldest_pending_secs: i64,
    pub mail_failing: i64,
}

pub async fn dashboard(
    deps: &(impl HasStore + HasClock + HasLimits),
) -> Result<Dashboard, StoreError> {
    let now = deps.now();
    let since = now - chrono::Duration::hours(24);
    let rate_limit_store_errors = deps.limits().store_errors();
    deps.db()
        .run(move |conn| {
            let counts = user_search::counts(conn, since)?;
            let backlog = crate::db::outbox::backlog(conn)?;
            Ok(Dashboard {
                users: counts.users.count,
                users_estimated: counts.users.estimated,
                admins: counts.admins,
                disabled_users: counts.disabled,
                mfa_enabled_users: crate::db::mfa::count_enabled(conn)?,
                active_sessions: sessions::count_active(conn, now)?,
                failed_logins_last_24h: events::count_since(
                    conn,
                    EventType::LoginFailed.as_str(),
                    since,
                )?,
                password_check_failures_last_24h: events::count_since(
                    conn,
                    EventType::PasswordCheckFailed.as_str(),
                    since,
                )?,
                signups_last_24h: counts.registered_since,
                rate_limit_store_errors,
                mail_pending: backlog.pending,
                mail_oldest_pending_secs: backlog
                    .oldest_created_at
                    .map_or(0, |oldest| (now - oldest).num_seconds().max(0)),
                mail_failing: backlog.failing,
            })
        })
        .await
}

/// Which accounts to list.
#[derive(Debug, Clone, Default)]
pub struct AccountQuery {
    /// Case-insensitive substring of the username or email.
    pub search: Option<String>,
    pub role: Option<Role>,
    pub disabled: Option<bool>,
}

/// One page of accounts, newest first, and how many match.
pub async fn list_accounts(
    deps: &impl HasStore,
    query: AccountQuery,
    pagination: Pagination,
    after: Option<AccountCursor>,
) -> Result<AccountPage, StoreError> {
    let filter = UserFilter {
        search: query.search.filter(|search| !search.is_empty()),
        role: query.role,
        disabled: query.disabled,
    };
    let start = match after {
        Some(cursor) => PageStart::After {
            created_at: cursor.created_at,
            id: cursor.id,
        },
        None => PageStart::Offset(pagination.offset()),
    };
    let limit = pagination.limit();
    let (rows, total) = deps
        .db()
        .run(move |conn| Ok::<_, StoreError>(user_search::page(conn, &filter, &start, limit)?))
        .await?;
    // A full page may have a next one.
    let next_after = (i64::try_from(rows.len()).unwrap_or(i64::MAX) == limit)
        .then(|| rows.last())
        .flatten()
        .map(|last| AccountCursor {
            created_at: last.created_at,
            id: last.id.clone(),
        });
    let accounts = rows
        .iter()
        .map(Account::from_row)
        .collect::<Result<_, _>>()?;
    Ok(AccountPage {
        accounts,
        total,
        next_after,
    })
}

/// A page of accounts, how many match, and where the next page starts.
pub struct AccountPage {
    pub accounts: Vec<Account>,
    pub total: user_search::Total,
    pub next_after: Option<AccountCursor>,
}

/// Why an admin action on an account did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no such account")]
    NotFound,
    /// A field of a new account breaks a rule.
    #[error("invalid input")]
    Invalid(crate::domain::Violations),
    #[error("email taken")]
    EmailTaken,
    #[error("username taken")]
    UsernameTaken,
    #[error(transparent)]
    Hash(#[from] crate::auth::password::HashError),
    /// The acting admin was demoted or disabled while the request was under way.
    #[error("no longer an admin")]
    NoLongerAdmin,
    /// The acting admin's session ended while the request was under way.
    #[error("session ended")]
    SessionEnded,
    /// It would leave no enabled admin.
    #[error("last admin")]
    LastAdmin,
    /// `ADMIN_REQUIRE_MFA` and the admin's session was opened without a
    /// second factor.
    #[error("second factor required for admin routes")]
    SecondFactorRequired,
    #[error(transparent)]
    Store(#[from] StoreError),
}
carries_store_errors!(AdminError);

/// Checks, under the admin lock and inside the transaction that acts, that
/// the admin is still one and their session still live: a request that
/// started before its author was demoted, disabled or logged out must not
/// complete.
fn ensure_still_admin(
    conn: &mut DbConnection,
    admin: &Caller,
    now: NaiveDateTime,
) -> Result<(), AdminError> {
    users::lock_admin_changes(conn)?;
    let actor =
        sessions::find_live_user(conn, &admin.session_id, &admin.account.id.to_string(), now)?
            .ok_or(AdminError::SessionEnded)?
            .0;
    if actor.is_admin() {
        Ok(())
    } else {
        Err(AdminError::NoLongerAdmin)
    }
}

/// Runs `work` in one transaction on behalf of `admin`, once
/// [`ensure_still_admin`] has passed inside it: the one way every admin write
/// begins. `work` gets the connection and the acting admin's id and time.
async fn as_admin<T: Send + 'static>(
    deps: &(impl HasStore + HasClock),
    admin: &Caller,
    work: impl FnOnce(&mut DbConnection, &AdminAct) -> Result<T, AdminError> + Send + 'static,
) -> Result<T, AdminError> {
    let act = AdminAct {
        actor: admin.account.id.to_string(),
        now: deps.now(),
    };
    let admin = admin.clone();
    deps.db()
        .transaction(move |conn| {
            ensure_still_admin(conn, &admin, act.now)?;
            work(conn, &act)
        })
        .await
}

/// Who acts in an admin write, and when.
struct AdminAct {
    actor: String,
    now: NaiveDateTime,
}

impl AdminAct {
    /// An event of this act about the account `user_id`.
    fn event(&self, event_type: EventType, client: &ClientInfo, user_id: &str) -> Event {
        Event::new(event_type, client, self.now)
            .user(user_id)
            .actor(&self.actor)
    }
}

pub async fn get_account(deps: &impl HasStore, id: UserId) -> Result<Account, AdminError> {
    let id = id.to_string();
    let row = deps
        .db()
        .run(move |conn| Ok::<_, StoreError>(users::find_by_id(conn, &id)?))
        .await?
        .ok_or(AdminError::NotFound)?;
    Ok(Account::from_row(&row)?)
}

/// Changes an account's role and/or disabled state. A role change or
/// disabling ends all of the account's sessions at once.
pub async fn change_account(
    deps: &(impl HasStore + HasClock),
    admin: &Caller,
    id: UserId,
    role: Option<Role>,
    disabled: Option<bool>,
    client: &ClientInfo,
) -> Result<Account, AdminError> {
    let id = id.to_string();
    let change = AccountChange { role, disabled };
    let client = client.clone();
    let updated = as_admin(deps, admin, move |conn, act| {
        let now = act.now;
        let (before, after) = match users::change_keeping_an_admin(conn, &id, &change, now)? {
            Guarded::Done(rows) => rows,
            Guarded::NotFound => return Err(AdminError::NotFound),
            Guarded::LastAdmin => return Err(AdminError::LastAdmin),
        };
        let event = |event_type| act.event(event_type, &client, &after.id);
        if before.role != after.role {
            event(EventType::RoleChanged)
                .detail(json!({"from": before.role, "to": after.role}))
                .record(conn)?;
        }
        if before.disabled != after.disabled {
            let toggled = if after.disabled {
                EventType::UserDisabled
            } else {
                EventType::UserEnabled
            };
            event(toggled).record(conn)?;
        }
        if before.role != after.role || (after.disabled && !before.disabled) {
            sessions::revoke_all_for_user(conn, &after.id, now)?;
        }
        Ok(after)
    })
    .await?;
    Ok(Account::from_row(&updated)?)
}

/// Deletes an account and its sessions; its audit history stays.
pub async fn delete_account(
    deps: &(impl HasStore + HasClock),
    admin: &Caller,
    id: UserId,
    client: &ClientInfo,
) -> Result<(), AdminError> {
    let id = id.to_string();
    let client = client.clone();
    as_admin(deps, admin, move |conn, act| {
        let deleted = match users::delete_keeping_an_admin(conn, &id)? {
            Guarded::Done(row) => row,
            Guarded::NotFound => return Err(AdminError::NotFound),
            Guarded::LastAdmin => return Err(AdminError::LastAdmin),
        };
        act.event(EventType::UserDeleted, &client, &deleted.id)
            .detail(json!({"by": "admin", "username": deleted.username}))
            .record(conn)?;
        Ok(())
    })
    .await
}

/// Removes every second factor of an account (for a user who lost their
/// authenticator and their recovery codes) and ends its sessions. The user
/// logs in with the password alone next time and can set TOTP up again.
pub async fn reset_mfa(
    deps: &(impl HasStore + HasClock),
    admin: &Caller,
    id: UserId,
    client: &ClientInfo,
) -> Result<(), AdminError> {
    let id = id.to_string();
    let client = client.clone();
    as_admin(deps, admin, move |conn, act| {
        if users::find_by_id(conn, &id)?.is_none() {
            return Err(AdminError::NotFound);
        }
        let had_totp = crate::db::mfa::remove_all(conn, &id)?;
        let passkeys_removed = crate::db::passkeys::delete_all(conn, &id)?;
        sessions::revoke_all_for_user(conn, &id, act.now)?;
        act.event(EventType::MfaDisabled, &client, &id)
            .detail(json!({
                "by": "admin",
                "had_totp": had_totp,
                "passkeys_removed": passkeys_removed,
            }))
            .record(conn)?;
        Ok(())
    })
    .await
}

/// Lets `caller` use the admin routes: the admin role (in the database, not
/// only in the token) and, with `ADMIN_REQUIRE_MFA`, a session opened with a
/// second factor.
pub fn authorize(deps: &impl HasPolicy, caller: Caller) -> Result<Caller, AdminError> {
    if caller.account.role != Role::Admin {
        return Err(AdminError::NoLongerAdmin);
    }
    if deps.policy().admin_require_mfa && !caller.has_second_factor() {
        return Err(AdminError::SecondFactorRequired);
    }
    Ok(caller)
}

/// Makes an account for someone, with no password anyone knows, and mails
/// them an invitation whose link (a reset token valid `INVITATION_TTL`) sets
/// the first one. The admin never sees or sets the password.
pub async fn invite(
    deps: &(impl HasStore + HasClock + HasHasher + HasMailer + HasPolicy),
    admin: &Caller,
    username: &str,
    email: &str,
    role: Role,
    client: &ClientInfo,
) -> Result<Account, AdminError> {
    let mut violations = Violations::new();
    let username = Username::parse(username)
        .map_err(|violation| violations.entry("username").or_default().push(violation))
        .ok();
    let email = Email::parse(email)
        .map_err(|violation| violations.entry("email").or_default().push(violation))
        .ok();
    let (Some(username), Some(email)) = (username, email) else {
        return Err(AdminError::Invalid(violations));
    };
    // A password nobody knows, hashed like any other, so the account answers
    // a login exactly like one with a forgotten password.
    let OneTimeToken {
        token: unknowable, ..
    } = OneTimeToken::new()?;
    let password_hash = deps.passwords().hash(unknowable.into()).await?;
    let now = deps.now();
    let row = users::UserRow {
        id: uuid::Uuid::new_v4().to_string(),
        username: username.as_str().to_owned(),
        email: email.as_str().to_owned(),
        password_hash,
        role: role.as_str().to_owned(),
        disabled: false,
        created_at: now,
        updated_at: now,
        last_login_at: None,
        email_verified: false,
        totp_enabled: false,
        recovery_codes_left: 0,
        passkey_count: 0,
        has_password: false,
    };
    let LinkMail {
        token,
        message: invitation,
    } = link_mail(
        deps,
        MailKind::Invitation,
        TokenPurpose::PasswordReset,
        &LinkMailTo {
            user_id: &row.id,
            username: &row.username,
            recipient: &row.email,
            new_email: None,
            other_address: None,
        },
        deps.policy().invitation_ttl,
        now,
    )?;
    let client = client.clone();
    let created = as_admin(deps, admin, move |conn, act| {
        if users::email_exists(conn, &row.email)? {
            return Err(AdminError::EmailTaken);
        }
        if users::username_exists(conn, &row.username)? {
            return Err(AdminError::UsernameTaken);
        }
        users::insert(conn, &row)?.map_err(|conflict| match conflict {
            Conflict::Username => AdminError::UsernameTaken,
            Conflict::Email | Conflict::Passkey | Conflict::Identity | Conflict::Consent => {
                AdminError::EmailTaken
            }
        })?;
        outbox::insert_token(conn, &token)?;
        outbox::enqueue(conn, &invitation)?;
        act.event(EventType::UserRegistered, &client, &row.id)
            .detail(json!({"role": role.as_str(), "via": "invitation"}))
            .record(conn)?;
        Ok(row)
    })
    .await?;
    deps.wake_mail_sender();
    Ok(Account::from_row(&created)?)
}

/// Mails an account a password-reset link on an admin's request.
///
/// The message is prepared from the account as read before the transaction,
/// but queued only if, under the account's row lock inside the transaction
/// that stores the token, the address is still that one: otherwise (the
/// account moved meanwhile) it is prepared again for the new address. So the
/// link never goes to an address the account has just left; an email change
/// committed after the check waits for the lock and then voids the token.
pub async fn send_password_reset(
    deps: &(impl HasStore + HasClock + HasMailer + HasPolicy),
    admin: &Caller,
    id: UserId,
    client: &ClientInfo,
) -> Result<(), AdminError> {
    /// An address that moves between every read and every check is a fault.
    const ATTEMPTS: usize = 3;
    for _ in 0..ATTEMPTS {
        if queue_password_reset(deps, admin, id, client).await? {
            deps.wake_mail_sender();
            return Ok(());
        }
    }
    Err(AdminError::Store(StoreError::Failed(anyhow::anyhow!(
        "the account's address kept changing during an admin's reset request"
    ))))
}

/// One try of [`send_password_reset`]: `false` when the address changed
/// between the read and the transaction (nothing was stored).
async fn queue_password_reset(
    deps: &(impl HasStore + HasClock + HasMailer + HasPolicy),
    admin: &Caller,
    id: UserId,
    client: &ClientInfo,
) -> Result<bool, AdminError> {
    let user = get_account(deps, id).await?;
    let now = deps.now();
    let user_id = user.id.to_string();
    let address = user.email.as_str().to_owned();
    let LinkMail { token, message } = link_mail(
        deps,
        MailKind::PasswordReset,
        TokenPurpose::PasswordReset,
        &LinkMailTo {
            user_id: &user_id,
            username: user.username.as_str(),
            recipient: &address,
            new_email: None,
            other_address: None,
        },
        deps.policy().password_reset_ttl,
        now,
    )?;
    let client = client.clone();
    as_admin(deps, admin, move |conn, act| {
        users::lock(conn, &user_id)?;
        match users::find_by_id(conn, &user_id)? {
            // Deleted since it was looked up: as unknown as any other id.
            None => return Err(AdminError::NotFound),
            Some(current) if current.email != address => return Ok(false),
            Some(_) => {}
        }
        outbox::void_tokens(conn, &user_id, &[TokenPurpose::PasswordReset.as_str()])?;
        outbox::insert_token(conn, &token)?;
        outbox::enqueue(conn, &message)?;
        act.event(EventType::PasswordResetRequested, &client, &user_id)
            .detail(json!({"by": "admin"}))
            .record(conn)?;
        Ok(true)
    })
    .await
}
