//! Accounts: creating one (by sign-up or by the `create-admin` command),
//! confirming and setting its password, deleting it.

use chrono::NaiveDateTime;
use serde_json::json;

use super::account::Account;
use super::audit::Event;
use super::caller::{Caller, ClientInfo};
use super::carries_store_errors;
use super::links::LinkMail;
use super::links::{TokenPurpose, outbox_row};
use super::ports::{HasClock, HasHasher, HasLimits, HasMailer, HasPolicy, HasStore};
use crate::auth::password::{HashError, Verification};
use crate::config::EmailVerification;
use crate::db::outbox::{self, OutboxRow};
use crate::db::users::{self, Guarded, UserRow};
use crate::db::{DbConnection, StoreError, sessions};
use crate::domain::{Email, EventType, NewPassword, Role, Secret, Username, Violations};
use crate::mail::{MailContext, MailKind};

/// A new account's values, each checked against its rules.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub username: Username,
    pub email: Email,
    pub password: NewPassword,
}

impl NewAccount {
    /// Checks every field at once, so the answer names every broken rule.
    pub fn parse(username: &str, email: &str, password: Secret) -> Result<Self, Violations> {
        let mut errors = Violations::new();
        let parsed_username = Username::parse(username)
            .map_err(|error| errors.entry("username").or_default().push(error))
            .ok();
        let parsed_email = Email::parse(email)
            .map_err(|error| errors.entry("email").or_default().push(error))
            .ok();
        let parsed_password = NewPassword::parse(password, username, email)
            .map_err(|violations| errors.insert("password", violations))
            .ok();
        match (parsed_username, parsed_email, parsed_password) {
            (Some(username), Some(email), Some(password)) if errors.is_empty() => Ok(Self {
                username,
                email,
                password,
            }),
            _ => Err(errors),
        }
    }
}

/// Why an account was not created or changed, or a recovery step (a mailed
/// link, a reset, an address change) did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("email taken")]
    EmailTaken,
    #[error("username taken")]
    UsernameTaken,
    /// The confirming password is wrong.
    #[error("wrong password")]
    WrongPassword,
    /// An account without a password confirms with a login newer than
    /// `REAUTH_WINDOW`; this session's is older.
    #[error("a fresh login is required")]
    FreshLoginRequired,
    /// Too many wrong passwords for this account recently.
    #[error("held back")]
    HeldBack { retry_after_secs: u64 },
    /// A field breaks a rule (field name → violations).
    #[error("invalid input")]
    Invalid(Violations),
    /// A mailed link's token is unknown, already used or expired.
    #[error("invalid or expired token")]
    InvalidOrExpiredToken,
    /// Deleting would leave no enabled admin.
    #[error("last admin")]
    LastAdmin,
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Store(#[from] StoreError),
}
carries_store_errors!(AccountError);

/// Creates a `user` account for someone signing up, with its verification
/// mail unless `EMAIL_VERIFICATION=off`.
pub async fn sign_up(
    deps: &(impl HasStore + HasClock + HasHasher + HasMailer + HasPolicy),
    new: NewAccount,
    client: &ClientInfo,
) -> Result<Account, AccountError> {
    let mails = deps.policy().email_verification != EmailVerification::Off;
    let event =
        |row: &UserRow, now| Event::new(EventType::UserRegistered, client, now).user(&row.id);
    let account = create(deps, new, Role::User, event, |row, now| {
        Ok(if mails {
            Some(super::links::verification_mail(deps, row, now)?)
        } else {
            None
        })
    })
    .await?;
    if mails {
        deps.wake_mail_sender();
    }
    Ok(account)
}

/// Creates an `admin` account as `create-admin` does: the operator vouches
/// for its address, and no mail is sent.
pub async fn create_admin(
    deps: &(impl HasStore + HasClock + HasHasher),
    new: NewAccount,
) -> Result<Account, AccountError> {
    let event = |row: &UserRow, now| {
        Event::new(EventType::UserRegistered, &ClientInfo::default(), now)
            .user(&row.id)
            .detail(json!({"role": Role::Admin.as_str(), "via": "create-admin"}))
    };
    create(deps, new, Role::Admin, event, |_, _| Ok(None)).await
}

/// Inserts an account with `role` and the event `event` makes for it, plus
/// the link mail `mail` makes for it, if any, in one transaction.
async fn create(
    deps: &(impl HasStore + HasClock + HasHasher),
    new: NewAccount,
    role: Role,
    event: impl FnOnce(&UserRow, NaiveDateTime) -> Event,
    mail: impl FnOnce(&UserRow, NaiveDateTime) -> Result<Option<LinkMail>, StoreError>,
) -> Result<Account, AccountError> {
    // Fail fast on a taken name before spending a hash on it.
    let (email, username) = (new.email.clone(), new.username.clone());
    deps.db()
        .run(move |conn| ensure_available(conn, &email, &username))
        .await?;

    let password_hash = deps.passwords().hash(new.password.into_inner()).await?;
    let now = deps.now();
    let row = UserRow {
        id: uuid::Uuid::new_v4().to_string(),
        username: new.username.as_str().to_owned(),
        email: new.email.as_str().to_owned(),
        password_hash,
        role: role.as_str().to_owned(),
        disabled: false,
        created_at: now,
        updated_at: now,
        last_login_at: None,
        // An operator vouches for the address of an account they create.
        email_verified: role == Role::Admin,
        totp_enabled: false,
        recovery_codes_left: 0,
        passkey_count: 0,
        has_password: true,
    };
    let event = event(&row, now);
    let mail = mail(&row, now)?;
    let inserted = deps
        .db()
        .transaction(move |conn| {
            // Either name taken meanwhile: which one is told below.
            users::insert(conn, &row)?.map_err(|_| AccountError::EmailTaken)?;
            if let Some(LinkMail { token, message }) = &mail {
                outbox::insert_token(conn, token)?;
                outbox::enqueue(conn, message)?;
            }
            event.record(conn)?;
            Ok(row)
        })
        .await;
    match inserted {
        Ok(row) => Ok(Account::from_row(&row)?),
        // Lost a race with a concurrent registration: say which name was taken.
        Err(AccountError::EmailTaken) => {
            let (email, username) = (new.email, new.username);
            deps.db()
                .run(move |conn| ensure_available(conn, &email, &username))
                .await?;
            Err(AccountError::EmailTaken)
        }
        Err(other) => Err(other),
    }
}

fn ensure_available(
    conn: &mut DbConnection,
    email: &Email,
    username: &Username,
) -> Result<(), AccountError> {
    if users::email_exists(conn, email.as_str())? {
        return Err(AccountError::EmailTaken);
    }
    if users::username_exists(conn, username.as_str())? {
        return Err(AccountError::UsernameTaken);
    }
    Ok(())
}

/// What `create-admin` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminBootstrap {
    Created(Username),
    Promoted(Username),
    AlreadyAdmin(Username),
}

/// How `create-admin` may treat an account that already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExistingAccount {
    /// Promote it only if the typed password is its password.
    ProvePassword,
    /// `--promote-existing`: promote it without its password (the email must
    /// still match and be verified).
    PromoteWithoutPassword,
}

/// Creates an admin with `password` when neither the username nor the email
/// exists; otherwise promotes the existing account, but only if it is the one
/// both name, its address is verified, and the operator proved its password
/// (or passed `--promote-existing`). Anything else is refused and nothing
/// changes: someone may have registered the name or the address first,
/// waiting for an operator to promote their account (an unverified address
/// proves nothing, and an account found by its username alone is anyone's).
pub async fn create_or_promote_admin(
    deps: &(impl HasStore + HasClock + HasHasher),
    username: Username,
    email: Email,
    password: Secret,
    existing: ExistingAccount,
) -> Result<AdminBootstrap, CreateAdminError> {
    let (by_email, by_username) = (email.clone(), username.clone());
    let found = deps
        .db()
        .run(move |conn| {
            Ok::<_, StoreError>((
                users::find_by_email(conn, by_email.as_str())?,
                users::find_by_username(conn, by_username.as_str())?,
            ))
        })
        .await?;
    let user = match found {
        (None, None) => {
            let new = NewAccount::parse(username.as_str(), email.as_str(), password)
                .map_err(CreateAdminError::Invalid)?;
            let created = create_admin(deps, new).await?;
            return Ok(AdminBootstrap::Created(created.username));
        }
        (None, Some(other)) => {
            return Err(CreateAdminError::Refused(format!(
                "the username {} belongs to an account with another email address; nothing changed \
                 (choose another --username, or give that account's email if it is yours)",
                other.username
            )));
        }
        (Some(user), Some(other)) if user.id != other.id => {
            return Err(CreateAdminError::Refused(format!(
                "{} belongs to one account and the username {} to another; nothing changed",
                email.as_str(),
                other.username
            )));
        }
        (Some(user), None) => {
            return Err(CreateAdminError::Refused(format!(
                "the account with {} is named {}, not {}; nothing changed (pass --username {} to promote it)",
                email.as_str(),
                user.username,
                username.as_str(),
                user.username
            )));
        }
        (Some(user), Some(_)) => user,
    };
    let name = Username::from_stored(user.username.clone());
    if !user.email_verified {
        return Err(CreateAdminError::Refused(format!(
            "the account with {} has never verified its address, so whoever made it may not own it; \
             nothing changed (verify the address first, or delete that account and run create-admin again)",
            email.as_str()
        )));
    }
    if existing == ExistingAccount::ProvePassword {
        let verification = deps
            .passwords()
            .verify(password, Some(user.password_hash.clone()))
            .await?;
        if verification == Verification::Mismatch {
            return Err(CreateAdminError::Refused(format!(
                "the password is not the password of the existing account {}; nothing changed \
                 (type that account's password, or pass --promote-existing to promote it without it)",
                user.username
            )));
        }
    }
    if user.is_admin() {
        return Ok(AdminBootstrap::AlreadyAdmin(name));
    }
    let client = ClientInfo::default();
    let now = deps.now();
    let id = user.id.clone();
    let event = Event::new(EventType::RoleChanged, &client, now)
        .user(&id)
        .detail(json!({
            "from": user.role,
            "to": Role::Admin.as_str(),
            "via": "create-admin",
            "password_proven": existing == ExistingAccount::ProvePassword,
        }));
    let expected_hash = user.password_hash.clone();
    let promoted = deps
        .db()
        .transaction(move |conn| {
            // Only the account as it was checked: not one whose address or
            // password changed meanwhile.
            let unchanged = users::find_by_id(conn, &id)?.is_some_and(|current| {
                current.email_verified && current.password_hash == expected_hash
            });
            if !unchanged {
                return Ok::<_, StoreError>(false);
            }
            users::set_role(conn, &id, Role::Admin, now)?;
            // A role change ends the account's sessions, as it does through the API.
            sessions::revoke_all_for_user(conn, &id, now)?;
            event.record(conn)?;
            Ok(true)
        })
        .await?;
    if !promoted {
        return Err(CreateAdminError::Refused(
            "the account changed while it was being checked; nothing changed (run create-admin again)"
                .to_owned(),
        ));
    }
    Ok(AdminBootstrap::Promoted(name))
}

/// Why `create-admin` failed.
#[derive(Debug, thiserror::Error)]
pub enum CreateAdminError {
    #[error("the password breaks a rule")]
    Invalid(Violations),
    /// An existing account may not be promoted: the message says why.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Fails with `WrongPassword` unless `password` is the caller's. An account
/// whose owner never chose a password (made by a provider or a mailed link)
/// confirms with its session instead: one opened within `REAUTH_WINDOW`.
///
/// A session's guesses have a budget of their own (`LOGIN_BACKOFF_FAILURES`
/// per `LOGIN_BACKOFF_WINDOW`): failed logins from elsewhere cannot lock the
/// owner out of securing their account, and a stolen session still cannot test
/// passwords at hashing speed. Every wrong guess is audited.
pub async fn confirm_password(
    deps: &(impl HasStore + HasClock + HasHasher + HasLimits + HasPolicy),
    caller: &Caller,
    password: Secret,
    client: &ClientInfo,
) -> Result<(), AccountError> {
    if !caller.has_password {
        let age = deps.now() - caller.session_started_at;
        let window = i64::try_from(deps.policy().reauth_window).unwrap_or(i64::MAX);
        return if age.num_seconds() <= window {
            Ok(())
        } else {
            Err(AccountError::FreshLoginRequired)
        };
    }
    let budget = format!("session:{}", caller.session_id);
    if let Some(retry_after_secs) = deps.limits().login_attempt(&budget).await {
        return Err(AccountError::HeldBack { retry_after_secs });
    }
    let verification = deps
        .passwords()
        .verify(password, Some(caller.password_hash.clone()))
        .await?;
    match verification {
        Verification::Match { .. } => {
            deps.limits().reset_login_failures(&budget).await;
            Ok(())
        }
        Verification::Mismatch => {
            let event = Event::new(EventType::PasswordCheckFailed, client, deps.now())
                .user(&caller.account.id.to_string())
                .detail(json!({"session_id": caller.session_id}));
            super::audit::record_alone(deps, event).await?;
            Err(AccountError::WrongPassword)
        }
    }
}

/// Changes the caller's password after confirming the current one. Every other
/// session of the account ends (a stolen session dies with the old password);
/// the caller's own stays.
pub async fn change_password(
    deps: &(impl HasStore + HasClock + HasHasher + HasLimits + HasMailer + HasPolicy),
    caller: &Caller,
    current_password: Secret,
    new_password: Secret,
    client: &ClientInfo,
) -> Result<(), AccountError> {
    confirm_password(deps, caller, current_password, client).await?;
    let new_password = NewPassword::parse(
        new_password,
        caller.account.username.as_str(),
        caller.account.email.as_str(),
    )
    .map_err(|violations| {
        AccountError::Invalid(Violations::from([("new_password", violations)]))
    })?;
    // Only if the password is still the one just confirmed: of two changes
    // racing, the second finds it changed and is told its current password is
    // wrong, instead of both being told "changed".
    let confirmed = PasswordChange::Replacing(caller.password_hash.clone());
    set_password(
        deps,
        &caller.account,
        new_password,
        confirmed,
        Some(&caller.session_id),
        client,
    )
    .await
}

/// Which password a change may replace.
#[derive(Debug, Clone)]
pub enum PasswordChange {
    /// Only this hash (the one the caller just proved they know).
    Replacing(String),
    /// Whatever it is (a reset by mail proves the address, not the password).
    Regardless,
}

/// Sets an account's password, ends its sessions but `keep_session`, and
/// records it: the one place a password changes (a change now, a reset later).
pub async fn set_password(
    deps: &(impl HasStore + HasClock + HasHasher + HasMailer),
    account: &Account,
    new_password: NewPassword,
    change: PasswordChange,
    keep_session: Option<&str>,
    client: &ClientInfo,
) -> Result<(), AccountError> {
    let new_hash = deps.passwords().hash(new_password.into_inner()).await?;
    let now = deps.now();
    let update = PasswordUpdate::new(deps, account, new_hash, change, keep_session, client, now)?;
    deps.db()
        .transaction(move |conn| {
            if update.apply(conn, now)? {
                Ok(())
            } else {
                Err(AccountError::WrongPassword)
            }
        })
        .await?;
    deps.wake_mail_sender();
    Ok(())
}

/// A new password about to be stored, with everything that goes with it: the
/// one place a password changes (a change through a session now, a reset by
/// mail in `recovery`).
pub(super) struct PasswordUpdate {
    user_id: String,
    new_hash: String,
    change: PasswordChange,
    keep_session: Option<String>,
    event: Event,
    notice: OutboxRow,
}

impl PasswordUpdate {
    pub(super) fn new(
        deps: &impl HasMailer,
        account: &Account,
        new_hash: String,
        change: PasswordChange,
        keep_session: Option<&str>,
        client: &ClientInfo,
        now: chrono::NaiveDateTime,
    ) -> Result<Self, StoreError> {
        let user_id = account.id.to_string();
        let event = Event::new(EventType::PasswordChanged, client, now).user(&user_id);
        let context = MailContext {
            username: account.username.as_str().to_owned(),
            ..MailContext::default()
        };
        let notice = outbox_row(
            deps,
            account.email.as_str(),
            MailKind::PasswordChanged,
            &context,
            now,
        )?;
        Ok(Self {
            user_id,
            new_hash,
            change,
            keep_session: keep_session.map(ToOwned::to_owned),
            event,
            notice,
        })
    }

    /// The event recorded (a reset records its own kind).
    pub(super) fn with_event(mut self, event: Event) -> Self {
        self.event = event;
        self
    }

    /// Stores the hash (if the password is still the expected one: `false`
    /// otherwise, and nothing changed), ends the account's sessions but the
    /// one kept, voids its reset links, queues the notice and records the
    /// event. Run it inside a transaction.
    pub(super) fn apply(
        &self,
        conn: &mut DbConnection,
        now: chrono::NaiveDateTime,
    ) -> diesel::QueryResult<bool> {
        let expected = match &self.change {
            PasswordChange::Replacing(hash) => Some(hash.as_str()),
            PasswordChange::Regardless => None,
        };
        if users::set_password_hash(conn, &self.user_id, &self.new_hash, expected, now)? == 0 {
            return Ok(false);
        }
        match &self.keep_session {
            Some(keep) => sessions::revoke_all_except(conn, &self.user_id, keep, now)?,
            None => sessions::revoke_all_for_user(conn, &self.user_id, now)?,
        };
        // The apps the user signed in to through Portcullis too: a grant
        // someone opened with the old password must not outlive it.
        crate::db::oauth::revoke_all_grants_of_user(conn, &self.user_id, now)?;
        // A new password ends every pending link: a reset (or invitation)
        // link, and an email change someone with the old password may have
        // started (otherwise it would outlive the owner's recovery).
        outbox::void_tokens(
            conn,
            &self.user_id,
            &[
                TokenPurpose::PasswordReset.as_str(),
                TokenPurpose::EmailChange.as_str(),
                TokenPurpose::EmailVerification.as_str(),
            ],
        )?;
        // Logins that proved the old password and wait for their code end too.
        crate::db::mfa::void_challenges(conn, &self.user_id)?;
        outbox::enqueue(conn, &self.notice)?;
        self.event.record(conn)?;
        Ok(true)
    }
}

/// Deletes the caller's account with all its sessions after confirming the
/// password. The last enabled admin cannot delete itself.
pub async fn delete_account(
    deps: &(impl HasStore + HasClock + HasHasher + HasLimits + HasPolicy),
    caller: &Caller,
    password: Secret,
    client: &ClientInfo,
) -> Result<(), AccountError> {
    confirm_password(deps, caller, password, client).await?;
    let user_id = caller.account.id.to_string();
    let event = Event::new(EventType::UserDeleted, client, deps.now())
        .user(&user_id)
        .detail(json!({"by": "self", "username": caller.account.username.as_str()}));
    deps.db()
        .transaction(
            move |conn| match users::delete_keeping_an_admin(conn, &user_id)? {
                Guarded::Done(_) => Ok(event.record(conn)?),
                // Deleted meanwhile by someone else: nothing left to do.
                Guarded::NotFound => Ok(()),
                Guarded::LastAdmin => Err(AccountError::LastAdmin),
            },
        )
        .await
}

/// What [`normalise_stored_emails`] found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoredEmailReport {
    /// Rows moved to the normalised form of their address.
    pub normalised: usize,
    /// Rows left as they are, each reported in the log: a lookalike of another
    /// account's address, or no longer a valid address.
    pub conflicts: usize,
}

/// Brings addresses stored before emails were normalised to their normalised
/// form, so their accounts can log in and recover by email; an address whose
/// normalised form belongs to another account (a lookalike pair), or that is
/// no longer valid, is left alone and reported in the log: the service cannot
/// tell which account the mailbox's owner holds, so an operator decides.
pub async fn normalise_stored_emails(
    deps: &(impl HasStore + HasClock),
) -> Result<StoredEmailReport, StoreError> {
    let now = deps.now();
    let (report, conflicts) = deps
        .db()
        .transaction(move |conn| {
            let mut report = StoredEmailReport::default();
            let mut conflicts = Vec::new();
            for stored in users::with_non_ascii_email(conn)? {
                match Email::parse(&stored.email) {
                    Ok(normalised) if normalised.as_str() == stored.email => {}
                    Ok(normalised) => match users::find_by_email(conn, normalised.as_str())? {
                        Some(other) => conflicts.push((stored.id, Some(other.id))),
                        None => {
                            report.normalised += users::replace_email(
                                conn,
                                &stored.id,
                                &stored.email,
                                normalised.as_str(),
                                now,
                            )?;
                        }
                    },
                    Err(_) => conflicts.push((stored.id, None)),
                }
            }
            report.conflicts = conflicts.len();
            Ok::<_, StoreError>((report, conflicts))
        })
        .await?;
    for (account, other) in &conflicts {
        match other {
            Some(other) => tracing::warn!(
                account = %account,
                other_account = %other,
                "two accounts have lookalike spellings of one email address; change or merge one"
            ),
            None => tracing::warn!(
                account = %account,
                "an account's stored email is not a valid address under the current rules"
            ),
        }
    }
    if report.normalised > 0 {
        tracing::info!(
            accounts = report.normalised,
            "stored email addresses normalised"
        );
    }
    Ok(report)
}
