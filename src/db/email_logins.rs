//! Sign-ins by email waiting for their link or code (see
//! `service::email_login`). One address has at most one: a new request
//! replaces the older one.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::email_logins;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = email_logins)]
pub struct EmailLoginRow {
    /// SHA-256 of the link's token, hex; the token itself is never stored.
    pub token_hash: String,
    /// The address, as accounts store it.
    pub email: String,
    /// The account; `None` for an account to create when the sign-in succeeds.
    pub user_id: Option<String>,
    /// SHA-256 of the code keyed by `token_hash`, hex.
    pub code_hash: String,
    pub attempts: i32,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

/// Stores a new sign-in for its address, replacing any older one.
pub fn replace(conn: &mut DbConnection, row: &EmailLoginRow) -> QueryResult<()> {
    diesel::delete(email_logins::table.filter(email_logins::email.eq(&row.email))).execute(conn)?;
    diesel::insert_into(email_logins::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// The live sign-in of a link; `None` if it is unknown, used or expired.
/// (Spent by [`finish`], which decides between two requests racing with it.)
pub fn find_by_token(
    conn: &mut DbConnection,
    token_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<EmailLoginRow>> {
    Ok(email_logins::table
        .find(token_hash)
        .select(EmailLoginRow::as_select())
        .get_result(conn)
        .optional()?
        .filter(|row| row.expires_at > now))
}

/// Counts one try at the code of the address's live sign-in and returns it,
/// unless there is none, it expired, or it has had `max_attempts` tries.
pub fn count_code_try(
    conn: &mut DbConnection,
    email: &str,
    max_attempts: i32,
    now: NaiveDateTime,
) -> QueryResult<Option<EmailLoginRow>> {
    // At most one row per address (see `replace`).
    let Some(row) = email_logins::table
        .filter(email_logins::email.eq(email))
        .select(EmailLoginRow::as_select())
        .load(conn)?
        .into_iter()
        .max_by_key(|row| row.created_at)
    else {
        return Ok(None);
    };
    let counted = diesel::update(
        email_logins::table
            .filter(email_logins::token_hash.eq(&row.token_hash))
            .filter(email_logins::attempts.lt(max_attempts))
            .filter(email_logins::expires_at.gt(now)),
    )
    .set(email_logins::attempts.eq(email_logins::attempts + 1))
    .execute(conn)?;
    Ok((counted == 1).then_some(row))
}

/// Spends a sign-in; `false` if another request spent it first.
pub fn finish(conn: &mut DbConnection, token_hash: &str) -> QueryResult<bool> {
    diesel::delete(email_logins::table.find(token_hash))
        .execute(conn)
        .map(|deleted| deleted == 1)
}

/// Deletes sign-ins that expired before `now`.
pub fn prune(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(email_logins::table.filter(email_logins::expires_at.le(now))).execute(conn)
}
