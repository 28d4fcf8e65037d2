//! Passkeys and the WebAuthn ceremonies in progress. The account row's
//! `passkey_count` changes in the same transaction as the passkeys, so that
//! reading an account stays one query.

use chrono::NaiveDateTime;
use diesel::dsl::count_star;
use diesel::prelude::*;

use super::schema::{passkeys, users, webauthn_ceremonies};
use super::{Conflict, DbConnection};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = passkeys)]
pub struct PasskeyRow {
    pub id: String,
    pub user_id: String,
    /// base64url, as WebAuthn JSON carries it.
    pub credential_id: String,
    pub name: String,
    pub credential_sealed: String,
    pub sign_count: i64,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
}

pub fn list_for_user(conn: &mut DbConnection, user_id: &str) -> QueryResult<Vec<PasskeyRow>> {
    passkeys::table
        .filter(passkeys::user_id.eq(user_id))
        .order((passkeys::created_at.asc(), passkeys::id.asc()))
        .select(PasskeyRow::as_select())
        .load(conn)
}

pub fn find_by_credential_id(
    conn: &mut DbConnection,
    credential_id: &str,
) -> QueryResult<Option<PasskeyRow>> {
    passkeys::table
        .filter(passkeys::credential_id.eq(credential_id))
        .select(PasskeyRow::as_select())
        .get_result(conn)
        .optional()
}

/// Adds a passkey; `false` if its credential id is registered already (to
/// this account or another), found by the check or, for the second of two
/// racing inserts, by the unique index.
pub fn insert(conn: &mut DbConnection, row: &PasskeyRow) -> QueryResult<bool> {
    if find_by_credential_id(conn, &row.credential_id)?.is_some() {
        return Ok(false);
    }
    let inserted = super::refused_as_conflict(
        conn,
        |conn| {
            diesel::insert_into(passkeys::table)
                .values(row)
                .execute(conn)
        },
        |_| Conflict::Passkey,
    )?;
    if inserted.is_err() {
        return Ok(false);
    }
    refresh_count(conn, &row.user_id)?;
    Ok(true)
}

/// Deletes one of the account's passkeys; `false` if it has none by that id.
pub fn delete(conn: &mut DbConnection, user_id: &str, id: &str) -> QueryResult<bool> {
    let deleted = diesel::delete(
        passkeys::table
            .filter(passkeys::id.eq(id))
            .filter(passkeys::user_id.eq(user_id)),
    )
    .execute(conn)?;
    if deleted == 1 {
        refresh_count(conn, user_id)?;
    }
    Ok(deleted == 1)
}

/// Deletes every passkey of the account and its ceremonies in progress.
pub fn delete_all(conn: &mut DbConnection, user_id: &str) -> QueryResult<usize> {
    diesel::delete(webauthn_ceremonies::table.filter(webauthn_ceremonies::user_id.eq(user_id)))
        .execute(conn)?;
    let deleted =
        diesel::delete(passkeys::table.filter(passkeys::user_id.eq(user_id))).execute(conn)?;
    refresh_count(conn, user_id)?;
    Ok(deleted)
}

/// Records a login with the passkey: the counter moves forward (or stays 0
/// for authenticators that keep none) and the stored credential is replaced
/// when it changed. `false` if another login got in first with this counter
/// value or a later one: the answer came from a cloned authenticator, or
/// twice.
pub fn record_use(
    conn: &mut DbConnection,
    id: &str,
    counter: i64,
    updated_credential: Option<&str>,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    // A counter must exceed the stored one; an authenticator without a
    // counter always says 0, which passes only while the stored one is 0
    // (a passkey that once counted and now says 0 is refused).
    let target = passkeys::table
        .filter(passkeys::id.eq(id))
        .filter(passkeys::sign_count.lt(counter.max(1)));
    let updated = match updated_credential {
        Some(sealed) => diesel::update(target)
            .set((
                passkeys::sign_count.eq(counter),
                passkeys::last_used_at.eq(at),
                passkeys::credential_sealed.eq(sealed),
            ))
            .execute(conn)?,
        None => diesel::update(target)
            .set((
                passkeys::sign_count.eq(counter),
                passkeys::last_used_at.eq(at),
            ))
            .execute(conn)?,
    };
    Ok(updated == 1)
}

fn refresh_count(conn: &mut DbConnection, user_id: &str) -> QueryResult<()> {
    let count: i64 = passkeys::table
        .filter(passkeys::user_id.eq(user_id))
        .select(count_star())
        .get_result(conn)?;
    diesel::update(users::table.find(user_id))
        .set(users::passkey_count.eq(i32::try_from(count).unwrap_or(i32::MAX)))
        .execute(conn)?;
    Ok(())
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webauthn_ceremonies)]
pub struct CeremonyRow {
    pub id_hash: String,
    /// `registration` or `login`.
    pub purpose: String,
    pub user_id: Option<String>,
    pub state_sealed: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

pub fn insert_ceremony(conn: &mut DbConnection, ceremony: &CeremonyRow) -> QueryResult<()> {
    diesel::insert_into(webauthn_ceremonies::table)
        .values(ceremony)
        .execute(conn)
        .map(|_| ())
}

/// Takes a ceremony for finishing: it is deleted whatever comes of it (a
/// ceremony is used once). `None` if it is unknown, used, expired or for
/// another purpose.
pub fn take_ceremony(
    conn: &mut DbConnection,
    id_hash: &str,
    purpose: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<CeremonyRow>> {
    let Some(ceremony) = webauthn_ceremonies::table
        .find(id_hash)
        .select(CeremonyRow::as_select())
        .get_result(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let deleted = diesel::delete(webauthn_ceremonies::table.find(id_hash)).execute(conn)?;
    // Of two requests racing with one ceremony, only the one that deleted
    // it goes on.
    let usable = deleted == 1 && ceremony.purpose == purpose && ceremony.expires_at > now;
    Ok(usable.then_some(ceremony))
}

pub fn prune_ceremonies(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(webauthn_ceremonies::table.filter(webauthn_ceremonies::expires_at.le(now)))
        .execute(conn)
}
