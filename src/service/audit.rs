//! What gets written to the audit trail, reading it, and its retention.
//! Use-cases build an [`Event`] and record it in the same transaction as the
//! change it describes.

use chrono::{DateTime, NaiveDateTime, Utc};

use super::caller::ClientInfo;
use super::ports::{HasClock, HasPolicy, HasStore};
use crate::db::events::{self, EventFilter, EventRow};
use crate::db::{DbConnection, StoreError};
use crate::domain::{EventType, Pagination};

/// An event about to be recorded.
pub struct Event(EventRow);

impl Event {
    pub fn new(event_type: EventType, client: &ClientInfo, at: NaiveDateTime) -> Self {
        Self(EventRow {
            // Time-ordered: each new id goes at the right-hand end of the
            // primary-key index instead of at a random page of it.
            id: uuid::Uuid::now_v7().to_string(),
            occurred_at: at,
            event_type: event_type.as_str().to_owned(),
            user_id: None,
            actor_id: None,
            ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
            detail: "{}".to_owned(),
        })
    }

    /// The account the event is about.
    pub fn user(mut self, user_id: &str) -> Self {
        self.0.user_id = Some(user_id.to_owned());
        self
    }

    /// Who did it, when that is not the account itself (an admin).
    pub fn actor(mut self, actor_id: &str) -> Self {
        self.0.actor_id = Some(actor_id.to_owned());
        self
    }

    /// Small structured context. Never put a secret here.
    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.0.detail = detail.to_string();
        self
    }

    /// Writes the event on `conn` (inside the caller's transaction).
    pub fn record(&self, conn: &mut DbConnection) -> diesel::QueryResult<()> {
        events::record(conn, &self.0)
    }
}

/// Records an event that has no transaction of its own to join.
pub async fn record_alone(deps: &impl HasStore, event: Event) -> Result<(), StoreError> {
    deps.db()
        .transaction(move |conn| Ok(event.record(conn)?))
        .await
}

/// One entry of the audit trail, as read back.
#[derive(Debug, Clone)]
pub struct RecordedEvent {
    pub id: uuid::Uuid,
    pub occurred_at: DateTime<Utc>,
    pub event_type: EventType,
    pub user_id: Option<String>,
    pub actor_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: serde_json::Value,
}

impl RecordedEvent {
    /// `None` for a row whose type this version does not know (written by a
    /// newer version during a rolling upgrade).
    fn from_row(row: EventRow) -> Result<Option<Self>, StoreError> {
        let Some(event_type) = EventType::from_stored(&row.event_type) else {
            return Ok(None);
        };
        Ok(Some(Self {
            event_type,
            detail: serde_json::from_str(&row.detail).unwrap_or_default(),
            id: crate::db::stored_uuid("event", &row.id)?,
            occurred_at: row.occurred_at.and_utc(),
            user_id: row.user_id,
            actor_id: row.actor_id,
            ip: row.ip,
            user_agent: row.user_agent,
        }))
    }
}

/// One page of the audit trail, newest first, and how many events match.
pub async fn list(
    deps: &impl HasStore,
    user_id: Option<String>,
    event_type: Option<EventType>,
    pagination: Pagination,
) -> Result<(Vec<RecordedEvent>, i64), StoreError> {
    let filter = EventFilter {
        user_id,
        event_type: event_type.map(|kind| kind.as_str().to_owned()),
    };
    let (rows, total) = deps
        .db()
        .run(move |conn| {
            Ok::<_, StoreError>(events::page(
                conn,
                &filter,
                pagination.offset(),
                pagination.limit(),
            )?)
        })
        .await?;
    let events = rows
        .into_iter()
        .filter_map(|row| RecordedEvent::from_row(row).transpose())
        .collect::<Result<_, _>>()?;
    Ok((events, total))
}

/// Deletes events older than `AUDIT_RETENTION_DAYS` (0 keeps them forever).
/// Every node runs it now and then; the deletes are idempotent.
pub async fn prune(deps: &(impl HasStore + HasClock + HasPolicy)) {
    let retention_days = deps.policy().audit_retention_days;
    if retention_days == 0 {
        return;
    }
    let before = deps.now() - chrono::Duration::days(i64::from(retention_days));
    // Step by step, oldest first, each step a transaction of its own: other
    // writes (logins, refreshes) go between the steps instead of waiting for
    // the whole sweep, and a sweep cut short keeps what it deleted.
    let mut pruned = 0;
    loop {
        let step = deps
            .db()
            .transaction(move |conn| {
                Ok::<_, StoreError>(events::prune_oldest(conn, before, events::PRUNE_BATCH)?)
            })
            .await;
        match step {
            Ok(deleted) => {
                pruned += deleted;
                if (deleted as i64) < events::PRUNE_BATCH {
                    break;
                }
            }
            Err(error) => {
                tracing::warn!(%error, pruned, "audit pruning failed; will retry");
                return;
            }
        }
    }
    if pruned > 0 {
        tracing::info!(pruned, "pruned old audit events");
    }
}
