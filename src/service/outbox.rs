//! The outbox: messages are rendered and put in it inside the transaction of
//! the change that causes them, and every node's sender delivers what is due,
//! with retries and backoff, deleting each message once it is accepted. An SMTP
//! outage therefore only delays mail: the request that caused it has already
//! succeeded, and the message waits in the database.

use super::ports::{HasClock, HasMailer, HasMetrics, HasPolicy, HasStore};
use crate::clock::seconds;
use crate::db::StoreError;
use crate::db::outbox;

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

/// Delivers the messages that are due; returns how many went out. Each is
/// leased while it is sent, so another node does not send it at the same
/// moment; a failure frees it with a later next attempt.
pub async fn deliver_due(
    deps: &(impl HasStore + HasClock + HasMailer + HasMetrics),
) -> Result<usize, StoreError> {
    let now = deps.now();
    let owner = uuid::Uuid::new_v4().to_string();
    let until = now + LEASE;
    let claimed = deps
        .db()
        .transaction(move |conn| {
            Ok::<_, StoreError>(outbox::claim_due(conn, now, until, &owner, BATCH)?)
        })
        .await?;
    let mut sent = 0;
    for message in claimed {
        let rendered = crate::mail::RenderedMail {
            subject: message.subject.clone(),
            text: message.body_text.clone(),
            html: message.body_html.clone(),
        };
        let outcome = deps.mailer().send(&message.recipient, &rendered).await;
        let id = message.id.clone();
        match outcome {
            Ok(()) => {
                deps.db()
                    .transaction(move |conn| Ok::<_, StoreError>(outbox::delivered(conn, &id)?))
                    .await?;
                sent += 1;
            }
            Err(error) if deps.now() - message.created_at > GIVE_UP_AFTER => {
                deps.metrics().mail_delivery_failed();
                tracing::error!(kind = %message.kind, attempts = message.attempts, error = %format!("{error:#}"), "mail given up after 8 days of failed deliveries");
                deps.db()
                    .transaction(move |conn| Ok::<_, StoreError>(outbox::delivered(conn, &id)?))
                    .await?;
            }
            Err(error) => {
                deps.metrics().mail_delivery_failed();
                let attempts = message.attempts.saturating_add(1);
                let next = deps.now() + backoff(attempts);
                let reason = format!("{error:#}");
                tracing::warn!(kind = %message.kind, attempts, error = %reason, "mail not delivered; will retry");
                deps.db()
                    .transaction(move |conn| {
                        Ok::<_, StoreError>(outbox::failed(conn, &id, attempts, next, &reason)?)
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
pub async fn backlog(deps: &impl HasStore) -> Result<outbox::Backlog, StoreError> {
    deps.db()
        .run(|conn| Ok::<_, StoreError>(outbox::backlog(conn)?))
        .await
}

/// Forgets what no longer matters: spent or expired link tokens, and the
/// per-address send times older than `MAIL_MIN_INTERVAL` (every node runs it
/// now and then; the deletes are idempotent).
pub async fn prune(deps: &(impl HasStore + HasClock + HasPolicy)) {
    let now = deps.now();
    let interval = seconds(deps.policy().mail_min_interval);
    let pruned = deps
        .db()
        .transaction(move |conn| Ok::<_, StoreError>(outbox::prune(conn, now, now - interval)?))
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
}
