//! Mail that carries a link (password reset, address verification and
//! change, invitations): the token row and the rendered message, made in one
//! place and stored by the caller in the transaction of the change that
//! causes them; and the per-address budget every mail request counts against.

use chrono::NaiveDateTime;

use super::one_time::OneTimeToken;
use super::ports::{HasLimits, HasMailer, HasPolicy};
use crate::db::StoreError;
use crate::db::outbox::{MailTokenRow, OutboxRow};
use crate::db::users::UserRow;
use crate::domain::Email;
use crate::limits::UNKNOWN_PREFIX;
use crate::mail::{MailContext, MailKind, in_words};

/// What a mail token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    PasswordReset,
    EmailVerification,
    EmailChange,
}

impl TokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PasswordReset => "password_reset",
            Self::EmailVerification => "email_verification",
            Self::EmailChange => "email_change",
        }
    }
}

/// A token row for `user_id`, valid for `ttl_secs` from `now`.
pub fn token_row(
    hash: String,
    user_id: &str,
    purpose: TokenPurpose,
    new_email: Option<String>,
    now: NaiveDateTime,
    ttl_secs: u64,
) -> MailTokenRow {
    MailTokenRow {
        token_hash: hash,
        user_id: user_id.to_owned(),
        purpose: purpose.as_str().to_owned(),
        new_email,
        created_at: now,
        expires_at: now
            + chrono::Duration::seconds(i64::try_from(ttl_secs).unwrap_or(i64::MAX / 4_000)),
        used_at: None,
    }
}

/// A mail carrying a link: the token row to store and the message to queue.
pub struct LinkMail {
    pub token: MailTokenRow,
    pub message: OutboxRow,
}

/// Who a link mail goes to and what it is for.
pub struct LinkMailTo<'a> {
    pub user_id: &'a str,
    pub username: &'a str,
    pub recipient: &'a str,
    /// For an email change: the address moved to (the token keeps it).
    pub new_email: Option<&'a str>,
    /// Shown in the message (the address being left, for an email change).
    pub other_address: Option<&'a str>,
}

/// A fresh token for `purpose`, valid `ttl_secs`, and the `kind` of message
/// carrying its link (the reset page for reset tokens, the verification page
/// otherwise): the one way every link mail is made.
pub fn link_mail(
    deps: &impl HasMailer,
    kind: MailKind,
    purpose: TokenPurpose,
    to: &LinkMailTo<'_>,
    ttl_secs: u64,
    now: NaiveDateTime,
) -> Result<LinkMail, StoreError> {
    let OneTimeToken { token, hash } = OneTimeToken::new()?;
    let link = match purpose {
        TokenPurpose::PasswordReset => deps.mailer().reset_link(&token),
        TokenPurpose::EmailVerification | TokenPurpose::EmailChange => {
            deps.mailer().verification_link(&token)
        }
    };
    let context = MailContext {
        username: to.username.to_owned(),
        link: Some(link),
        valid_for: Some(in_words(ttl_secs)),
        other_address: to.other_address.map(ToOwned::to_owned),
        code: None,
    };
    Ok(LinkMail {
        token: token_row(
            hash,
            to.user_id,
            purpose,
            to.new_email.map(ToOwned::to_owned),
            now,
            ttl_secs,
        ),
        message: outbox_row(deps, to.recipient, kind, &context, now)?,
    })
}

/// A rendered message for the outbox, due at once.
pub fn outbox_row(
    deps: &impl HasMailer,
    recipient: &str,
    kind: MailKind,
    context: &MailContext,
    now: NaiveDateTime,
) -> Result<OutboxRow, StoreError> {
    let rendered = deps
        .mailer()
        .render(kind, context)
        .map_err(StoreError::Failed)?;
    Ok(OutboxRow {
        id: uuid::Uuid::new_v4().to_string(),
        recipient: recipient.to_owned(),
        kind: kind.as_str().to_owned(),
        subject: rendered.subject,
        body_text: rendered.text,
        body_html: rendered.html,
        created_at: now,
        next_attempt_at: now,
        attempts: 0,
        last_error: None,
        lease_until: None,
        lease_owner: None,
    })
}

/// The verification token and message for a new (or unverified) account.
pub(super) fn verification_mail(
    deps: &(impl HasMailer + HasPolicy),
    user: &UserRow,
    now: NaiveDateTime,
) -> Result<LinkMail, StoreError> {
    link_mail(
        deps,
        MailKind::EmailVerification,
        TokenPurpose::EmailVerification,
        &LinkMailTo {
            user_id: &user.id,
            username: &user.username,
            recipient: &user.email,
            new_email: None,
            other_address: None,
        },
        deps.policy().email_verification_ttl,
        now,
    )
}

/// Counts a mail request for `email` against its per-address budget (the
/// login backoff's `LOGIN_BACKOFF_FAILURES` per `LOGIN_BACKOFF_WINDOW`), for
/// existing and unknown addresses alike. `Err` carries the seconds until the next request may be made.
pub(super) async fn count_mail_request(deps: &impl HasLimits, email: &Email) -> Result<(), u64> {
    let counter = format!("{UNKNOWN_PREFIX}mail:{}", email.as_str());
    match deps.limits().login_attempt(&counter).await {
        Some(retry_after_secs) => Err(retry_after_secs),
        None => Ok(()),
    }
}
