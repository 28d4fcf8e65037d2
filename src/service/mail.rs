//! The outbox: messages are rendered and put in it inside the transaction of
//! the change that causes them, and every node's sender delivers what is due,
//! with retries and backoff, deleting each message once it is accepted. An SMTP
//! outage therefore only delays mail: the request that caused it has already
//! succeeded, and the message waits in the database.

use chrono::NaiveDateTime;

use crate::clock::seconds;
use crate::db::StoreError;
use crate::db::mail::{self, MailTokenRow, OutboxRow};
use crate::mail::{MailContext, MailKind, in_words};
use crate::state::AppState;

/// Messages one pass of the sender takes at most.
const BATCH: i64 = 5;
/// How long a node may hold messages it is sending before another node may
/// take them over (longer than a batch of SMTP timeouts).
const LEASE: chrono::Duration = chrono::Duration::seconds(120);
/// The first retry waits this long, doubling up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: chrono::Duration = chrono::Duration::seconds(5);
const MAX_BACKOFF: chrono::Duration = chrono::Duration::hours(1);
/// A message still not accepted this long after it was queued is dropped:
/// every link in it has expired by then (the longest, an invitation, lives
/// 7 days by default), and its body should not stay in the database for ever.
const GIVE_UP_AFTER: chrono::Duration = chrono::Duration::days(8);

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

/// A fresh token for a link: 256 random bits, base64url, and the SHA-256
/// (hex) that is all the database keeps of it.
pub fn new_token() -> Result<(String, String), StoreError> {
    use aws_lc_rs::rand::SecureRandom as _;
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| StoreError::Failed(anyhow::anyhow!("no randomness for a mail token")))?;
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = token_hash(&token);
    Ok((token, hash))
}

/// The SHA-256 of a token, hex: how a token is looked up.
pub fn token_hash(token: &str) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes())
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
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
    state: &AppState,
    kind: MailKind,
    purpose: TokenPurpose,
    to: &LinkMailTo<'_>,
    ttl_secs: u64,
    now: NaiveDateTime,
) -> Result<LinkMail, StoreError> {
    let (token, hash) = new_token()?;
    let link = match purpose {
        TokenPurpose::PasswordReset => state.mailer.reset_link(&token),
        TokenPurpose::EmailVerification | TokenPurpose::EmailChange => {
            state.mailer.verification_link(&token)
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
        message: outbox_row(state, to.recipient, kind, &context, now)?,
    })
}

/// A rendered message for the outbox, due at once.
pub fn outbox_row(
    state: &AppState,
    recipient: &str,
    kind: MailKind,
    context: &MailContext,
    now: NaiveDateTime,
) -> Result<OutboxRow, StoreError> {
    let rendered = state
        .mailer
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

/// Delivers the messages that are due; returns how many went out. Each is
/// leased while it is sent, so another node does not send it at the same
/// moment; a failure frees it with a later next attempt.
pub async fn deliver_due(state: &AppState) -> Result<usize, StoreError> {
    let now = state.clock.now();
    let owner = uuid::Uuid::new_v4().to_string();
    let until = now + LEASE;
    let claimed = state
        .db
        .transaction(move |conn| {
            Ok::<_, StoreError>(mail::claim_due(conn, now, until, &owner, BATCH)?)
        })
        .await?;
    let mut sent = 0;
    for message in claimed {
        let rendered = crate::mail::RenderedMail {
            subject: message.subject.clone(),
            text: message.body_text.clone(),
            html: message.body_html.clone(),
        };
        let outcome = state.mailer.send(&message.recipient, &rendered).await;
        let id = message.id.clone();
        match outcome {
            Ok(()) => {
                state
                    .db
                    .transaction(move |conn| Ok::<_, StoreError>(mail::delivered(conn, &id)?))
                    .await?;
                sent += 1;
            }
            Err(error) if state.clock.now() - message.created_at > GIVE_UP_AFTER => {
                state.metrics.mail_delivery_failed();
                tracing::error!(kind = %message.kind, attempts = message.attempts, error = %format!("{error:#}"), "mail given up after 8 days of failed deliveries");
                state
                    .db
                    .transaction(move |conn| Ok::<_, StoreError>(mail::delivered(conn, &id)?))
                    .await?;
            }
            Err(error) => {
                state.metrics.mail_delivery_failed();
                let attempts = message.attempts.saturating_add(1);
                let next = state.clock.now() + backoff(attempts);
                let reason = format!("{error:#}");
                tracing::warn!(kind = %message.kind, attempts, error = %reason, "mail not delivered; will retry");
                state
                    .db
                    .transaction(move |conn| {
                        Ok::<_, StoreError>(mail::failed(conn, &id, attempts, next, &reason)?)
                    })
                    .await?;
            }
        }
    }
    Ok(sent)
}

/// How long to wait after the `attempts`-th failure.
fn backoff(attempts: i32) -> chrono::Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 16)).unwrap_or(16);
    (FIRST_BACKOFF * 2_i32.saturating_pow(doublings)).min(MAX_BACKOFF)
}

/// The outbox at a glance, for the dashboard.
pub async fn backlog(state: &AppState) -> Result<mail::Backlog, StoreError> {
    state
        .db
        .run(|conn| Ok::<_, StoreError>(mail::backlog(conn)?))
        .await
}

/// Forgets what no longer matters: spent or expired link tokens, and the
/// per-address send times older than `MAIL_MIN_INTERVAL` (every node runs it
/// now and then; the deletes are idempotent).
pub async fn prune(state: &AppState) {
    let now = state.clock.now();
    let interval = seconds(state.policy.mail_min_interval);
    let pruned = state
        .db
        .transaction(move |conn| Ok::<_, StoreError>(mail::prune(conn, now, now - interval)?))
        .await;
    if let Err(error) = pruned {
        tracing::warn!(%error, "mail bookkeeping could not be pruned; will retry");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_an_hour() {
        assert_eq!(backoff(1), chrono::Duration::seconds(5));
        assert_eq!(backoff(2), chrono::Duration::seconds(10));
        assert_eq!(backoff(4), chrono::Duration::seconds(40));
        assert_eq!(backoff(40), chrono::Duration::hours(1));
    }

    #[test]
    fn tokens_are_256_bits_and_only_their_hash_is_kept() {
        let (token, hash) = new_token().unwrap();
        assert_eq!(token.len(), 43);
        assert_eq!(hash, token_hash(&token));
        assert_eq!(hash.len(), 64);
        assert_ne!(token, hash);
    }
}
