//! Session rows: one per login, holding the id of its one current refresh token.

use chrono::NaiveDateTime;
use diesel::dsl::count_star;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::{sessions, users};
use super::users::UserRow;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub refresh_jti: String,
    pub previous_refresh_jti: Option<String>,
    pub rotated_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub last_used_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// The RFC 8176 methods the session was opened with, comma-separated.
    pub amr: String,
}

/// Not revoked and not expired at `now`: the condition every use of a
/// session checks.
#[diesel::dsl::auto_type]
fn live(now: NaiveDateTime) -> _ {
    sessions::revoked_at
        .is_null()
        .and(sessions::expires_at.gt(now))
}

pub fn insert(conn: &mut DbConnection, session: &SessionRow) -> QueryResult<()> {
    diesel::insert_into(sessions::table)
        .values(session)
        .execute(conn)
        .map(|_| ())
}

/// The user behind an access token, if the token's session is still live and
/// the account enabled: one indexed query, run on every authenticated request.
pub fn find_live_user(
    conn: &mut DbConnection,
    session_id: &str,
    user_id: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<UserRow>> {
    sessions::table
        .inner_join(users::table)
        .filter(sessions::id.eq(session_id))
        .filter(sessions::user_id.eq(user_id))
        .filter(live(now))
        .filter(users::disabled.eq(false))
        .select(users::all_columns)
        .first(conn)
        .optional()
}

pub fn count_active(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<i64> {
    sessions::table
        .filter(live(now))
        .select(count_star())
        .get_result(conn)
}

/// Ends every live session of a user; returns how many.
pub fn revoke_all_for_user(
    conn: &mut DbConnection,
    user_id: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::revoked_at.is_null()),
    )
    .set(sessions::revoked_at.eq(now))
    .execute(conn)
}

/// Replaces the session's current refresh-token id `old_jti` with `new_jti`,
/// keeping `old_jti` as the previous one for the grace window. Conditional on
/// `old_jti` still being current, so of concurrent rotations of one token
/// exactly one updates a row; the others see 0 and must re-read.
pub fn rotate(
    conn: &mut DbConnection,
    session_id: &str,
    user_id: &str,
    old_jti: &str,
    new_jti: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        sessions::table
            .filter(sessions::id.eq(session_id))
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::refresh_jti.eq(old_jti))
            .filter(live(now)),
    )
    .set((
        sessions::refresh_jti.eq(new_jti),
        sessions::previous_refresh_jti.eq(old_jti),
        sessions::rotated_at.eq(now),
        sessions::last_used_at.eq(now),
    ))
    .execute(conn)
}

/// A session (live or not) with its user.
pub fn find_with_user(
    conn: &mut DbConnection,
    session_id: &str,
    user_id: &str,
) -> QueryResult<Option<(SessionRow, UserRow)>> {
    sessions::table
        .inner_join(users::table)
        .filter(sessions::id.eq(session_id))
        .filter(sessions::user_id.eq(user_id))
        .select((sessions::all_columns, users::all_columns))
        .first(conn)
        .optional()
}

/// The user's live sessions, newest first.
pub fn list_live(
    conn: &mut DbConnection,
    user_id: &str,
    now: NaiveDateTime,
) -> QueryResult<Vec<SessionRow>> {
    sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(live(now))
        .order((sessions::created_at.desc(), sessions::id.desc()))
        .select(sessions::all_columns)
        .load(conn)
}

/// Ends one live session of `user_id`; 0 when there is no such live session.
pub fn revoke(
    conn: &mut DbConnection,
    session_id: &str,
    user_id: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        sessions::table
            .filter(sessions::id.eq(session_id))
            .filter(sessions::user_id.eq(user_id))
            .filter(live(now)),
    )
    .set(sessions::revoked_at.eq(now))
    .execute(conn)
}

/// Ends every live session of the user but `keep`.
pub fn revoke_all_except(
    conn: &mut DbConnection,
    user_id: &str,
    keep: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::id.ne(keep))
            .filter(sessions::revoked_at.is_null()),
    )
    .set(sessions::revoked_at.eq(now))
    .execute(conn)
}

/// Whether the user has a live session that logged in from `ip`. A session
/// ended by logout, revocation or a password change no longer counts, so an
/// address a thief once used stops being "familiar" when the owner acts.
pub fn ip_seen(
    conn: &mut DbConnection,
    user_id: &str,
    ip: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::ip.eq(ip))
            .filter(live(now)),
    ))
    .get_result(conn)
}
