//! Mail rows: tokens sent by mail (kept as hashes), the outbox of messages
//! to deliver, and when each address last got a message of each kind.

use chrono::NaiveDateTime;
use diesel::dsl::count_star;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::{mail_outbox, mail_sent, mail_tokens};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = mail_tokens)]
pub struct MailTokenRow {
    /// SHA-256 of the token, hex; the token itself is never stored.
    pub token_hash: String,
    pub user_id: String,
    pub purpose: String,
    /// For an email change: the address the account changes to.
    pub new_email: Option<String>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}

pub fn insert_token(conn: &mut DbConnection, token: &MailTokenRow) -> QueryResult<()> {
    diesel::insert_into(mail_tokens::table)
        .values(token)
        .execute(conn)
        .map(|_| ())
}

/// Deletes the user's unused tokens of these purposes (a newer request, a
/// password change or a reset voids them).
pub fn void_tokens(
    conn: &mut DbConnection,
    user_id: &str,
    purposes: &[&str],
) -> QueryResult<usize> {
    diesel::delete(
        mail_tokens::table
            .filter(mail_tokens::user_id.eq(user_id))
            .filter(mail_tokens::purpose.eq_any(purposes))
            .filter(mail_tokens::used_at.is_null()),
    )
    .execute(conn)
}

/// The unused, unexpired token with this hash of one of `purposes`.
pub fn find_token(
    conn: &mut DbConnection,
    token_hash: &str,
    purposes: &[&str],
    now: NaiveDateTime,
) -> QueryResult<Option<MailTokenRow>> {
    mail_tokens::table
        .filter(mail_tokens::token_hash.eq(token_hash))
        .filter(mail_tokens::purpose.eq_any(purposes))
        .filter(mail_tokens::used_at.is_null())
        .filter(mail_tokens::expires_at.gt(now))
        .select(MailTokenRow::as_select())
        .get_result(conn)
        .optional()
}

/// Spends the token with this hash if it is of one of `purposes`, unused and
/// unexpired at `now`; `None` otherwise. Of two requests racing with one token,
/// exactly one gets it.
pub fn consume_token(
    conn: &mut DbConnection,
    token_hash: &str,
    purposes: &[&str],
    now: NaiveDateTime,
) -> QueryResult<Option<MailTokenRow>> {
    let spent = diesel::update(
        mail_tokens::table
            .filter(mail_tokens::token_hash.eq(token_hash))
            .filter(mail_tokens::purpose.eq_any(purposes))
            .filter(mail_tokens::used_at.is_null())
            .filter(mail_tokens::expires_at.gt(now)),
    )
    .set(mail_tokens::used_at.eq(now))
    .execute(conn)?;
    if spent == 0 {
        return Ok(None);
    }
    mail_tokens::table
        .find(token_hash)
        .select(MailTokenRow::as_select())
        .get_result(conn)
        .optional()
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = mail_outbox)]
pub struct OutboxRow {
    pub id: String,
    pub recipient: String,
    pub kind: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    pub created_at: NaiveDateTime,
    pub next_attempt_at: NaiveDateTime,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub lease_until: Option<NaiveDateTime>,
    pub lease_owner: Option<String>,
}

pub fn enqueue(conn: &mut DbConnection, message: &OutboxRow) -> QueryResult<()> {
    diesel::insert_into(mail_outbox::table)
        .values(message)
        .execute(conn)
        .map(|_| ())
}

/// Takes up to `limit` due messages for `owner` until `until`: another node
/// looking at the same moment gets other messages or none (the lease is
/// re-checked on each row as it is claimed). A message whose lease ran out
/// (its node died mid-send) is due again.
pub fn claim_due(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    until: NaiveDateTime,
    owner: &str,
    limit: i64,
) -> QueryResult<Vec<OutboxRow>> {
    let free = mail_outbox::lease_until
        .is_null()
        .or(mail_outbox::lease_until.lt(now));
    let due = mail_outbox::table
        .filter(mail_outbox::next_attempt_at.le(now))
        .filter(free)
        .order((mail_outbox::next_attempt_at, mail_outbox::id))
        .limit(limit)
        .select(mail_outbox::id);
    let due: Vec<String> = due.load(conn)?;
    if due.is_empty() {
        return Ok(Vec::new());
    }
    diesel::update(
        mail_outbox::table
            .filter(mail_outbox::id.eq_any(&due))
            .filter(free),
    )
    .set((
        mail_outbox::lease_until.eq(until),
        mail_outbox::lease_owner.eq(owner),
    ))
    .execute(conn)?;
    mail_outbox::table
        .filter(mail_outbox::lease_owner.eq(owner))
        .filter(mail_outbox::lease_until.eq(until))
        .select(OutboxRow::as_select())
        .load(conn)
}

/// Removes a delivered message, body and all.
pub fn delivered(conn: &mut DbConnection, id: &str) -> QueryResult<usize> {
    diesel::delete(mail_outbox::table.find(id)).execute(conn)
}

/// Records a failed attempt and when to try again; frees the lease.
pub fn failed(
    conn: &mut DbConnection,
    id: &str,
    attempts: i32,
    next_attempt_at: NaiveDateTime,
    error: &str,
) -> QueryResult<usize> {
    diesel::update(mail_outbox::table.find(id))
        .set((
            mail_outbox::attempts.eq(attempts),
            mail_outbox::next_attempt_at.eq(next_attempt_at),
            mail_outbox::last_error.eq(error),
            mail_outbox::lease_until.eq(None::<NaiveDateTime>),
            mail_outbox::lease_owner.eq(None::<String>),
        ))
        .execute(conn)
}

/// The outbox at a glance.
#[derive(Debug, Clone, Copy)]
pub struct Backlog {
    pub pending: i64,
    pub oldest_created_at: Option<NaiveDateTime>,
    /// Pending messages that failed at least once.
    pub failing: i64,
}

pub fn backlog(conn: &mut DbConnection) -> QueryResult<Backlog> {
    Ok(Backlog {
        pending: mail_outbox::table.select(count_star()).get_result(conn)?,
        oldest_created_at: mail_outbox::table
            .select(diesel::dsl::min(mail_outbox::created_at))
            .get_result(conn)?,
        failing: mail_outbox::table
            .filter(mail_outbox::attempts.gt(0))
            .select(count_star())
            .get_result(conn)?,
    })
}

/// Whether `recipient` may get a message of `kind` now, given the last one
/// went out at least `min_interval` ago; if so, that is recorded as now.
pub fn may_send(
    conn: &mut DbConnection,
    recipient: &str,
    kind: &str,
    now: NaiveDateTime,
    min_interval: chrono::Duration,
) -> QueryResult<bool> {
    let long_ago = chrono::DateTime::UNIX_EPOCH.naive_utc();
    diesel::sql_query(
        "INSERT INTO mail_sent (recipient, kind, last_at) VALUES ($1, $2, $3) \
         ON CONFLICT (recipient, kind) DO NOTHING",
    )
    .bind::<diesel::sql_types::Text, _>(recipient)
    .bind::<diesel::sql_types::Text, _>(kind)
    .bind::<diesel::sql_types::Timestamp, _>(long_ago)
    .execute(conn)?;
    let updated = diesel::update(
        mail_sent::table
            .filter(mail_sent::recipient.eq(recipient))
            .filter(mail_sent::kind.eq(kind))
            .filter(mail_sent::last_at.le(now - min_interval)),
    )
    .set(mail_sent::last_at.eq(now))
    .execute(conn)?;
    Ok(updated == 1)
}

/// Deletes tokens that are spent or expired at `now`, and send times older
/// than `sent_before`; returns how many rows went.
pub fn prune(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    sent_before: NaiveDateTime,
) -> QueryResult<usize> {
    let tokens = diesel::delete(
        mail_tokens::table.filter(
            mail_tokens::used_at
                .is_not_null()
                .or(mail_tokens::expires_at.le(now)),
        ),
    )
    .execute(conn)?;
    let sent = diesel::delete(mail_sent::table.filter(mail_sent::last_at.lt(sent_before)))
        .execute(conn)?;
    Ok(tokens + sent)
}
