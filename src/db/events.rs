//! The audit trail: one row per auth event, never a password, hash or token.

use chrono::NaiveDateTime;
use diesel::dsl::count_star;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::auth_events;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = auth_events)]
pub struct EventRow {
    pub id: String,
    pub occurred_at: NaiveDateTime,
    pub event_type: String,
    pub user_id: Option<String>,
    pub actor_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// A small JSON object.
    pub detail: String,
}

pub fn record(conn: &mut DbConnection, event: &EventRow) -> QueryResult<()> {
    diesel::insert_into(auth_events::table)
        .values(event)
        .execute(conn)
        .map(|_| ())
}

/// Which events to list.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub user_id: Option<String>,
    pub event_type: Option<String>,
}

fn filtered(filter: &EventFilter) -> auth_events::BoxedQuery<'static, super::MultiBackend> {
    let mut query = auth_events::table.into_boxed();
    if let Some(user_id) = &filter.user_id {
        query = query.filter(auth_events::user_id.eq(user_id.clone()));
    }
    if let Some(event_type) = &filter.event_type {
        query = query.filter(auth_events::event_type.eq(event_type.clone()));
    }
    query
}

/// One page of matching events, newest first, and how many match in all.
pub fn page(
    conn: &mut DbConnection,
    filter: &EventFilter,
    offset: i64,
    limit: i64,
) -> QueryResult<(Vec<EventRow>, i64)> {
    let total = filtered(filter).select(count_star()).get_result(conn)?;
    let rows = filtered(filter)
        .order((auth_events::occurred_at.desc(), auth_events::id.desc()))
        .offset(offset)
        .limit(limit)
        .select(auth_events::all_columns)
        .load(conn)?;
    Ok((rows, total))
}

pub fn count_since(
    conn: &mut DbConnection,
    event_type: &str,
    since: NaiveDateTime,
) -> QueryResult<i64> {
    auth_events::table
        .filter(auth_events::event_type.eq(event_type))
        .filter(auth_events::occurred_at.ge(since))
        .select(count_star())
        .get_result(conn)
}

/// How many events one pruning step deletes at most: a step is a short
/// transaction (the writes queued behind it wait milliseconds, not for the
/// whole sweep), and a sweep of millions still takes few steps.
pub const PRUNE_BATCH: i64 = 5_000;

/// Deletes up to `batch` of the oldest events older than `before`, found
/// through the time index (`auth_events_occurred_at_idx`); returns how many.
pub fn prune_oldest(
    conn: &mut DbConnection,
    before: NaiveDateTime,
    batch: i64,
) -> QueryResult<usize> {
    // Diesel's DSL takes no LIMIT in a DELETE's subquery; both backends do.
    diesel::sql_query(
        "DELETE FROM auth_events WHERE id IN (SELECT id FROM auth_events \
         WHERE occurred_at < $1 ORDER BY occurred_at, id LIMIT $2)",
    )
    .bind::<diesel::sql_types::Timestamp, _>(before)
    .bind::<diesel::sql_types::BigInt, _>(batch)
    .execute(conn)
}
