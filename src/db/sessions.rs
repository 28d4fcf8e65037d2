//! Session rows: one per login, holding the id of its one current refresh token.

use chrono::NaiveDateTime;
use diesel::dsl::count_star;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};

use super::DbConnection;
use super::events::EventRow;
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
        .get_result(conn)
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

/// Rotates the session's current refresh token `old_jti` to `new_jti` and
/// records `event`, atomically, when the session is live, `old_jti` is still
/// current and the account is enabled; returns the rotated session and its
/// user. `None` changes nothing: the caller then works out why (a spent
/// token, an ended session, a disabled account).
///
/// This is the whole of a successful refresh, the hottest write there is, so
/// it costs one round trip on PostgreSQL: one statement whose data-modifying
/// CTEs rotate and record (a single statement is atomic without BEGIN and
/// COMMIT). SQLite has no such CTEs and runs the same steps in a transaction,
/// where a statement is a function call rather than a round trip.
pub fn rotate_current(
    conn: &mut DbConnection,
    session_id: &str,
    user_id: &str,
    old_jti: &str,
    new_jti: &str,
    now: NaiveDateTime,
    event: &EventRow,
) -> QueryResult<Option<(SessionRow, UserRow)>> {
    match conn {
        DbConnection::Postgresql(_) => RotateInOneStatement {
            session_id,
            user_id,
            old_jti,
            new_jti,
            now,
            event,
        }
        .run(conn),
        DbConnection::Sqlite(_) => conn.transaction(|conn| {
            let rotated = diesel::update(
                sessions::table
                    .filter(sessions::id.eq(session_id))
                    .filter(sessions::user_id.eq(user_id))
                    .filter(sessions::refresh_jti.eq(old_jti))
                    .filter(live(now))
                    .filter(diesel::dsl::exists(
                        users::table
                            .filter(users::id.eq(user_id))
                            .filter(users::disabled.eq(false)),
                    )),
            )
            .set((
                sessions::refresh_jti.eq(new_jti),
                sessions::previous_refresh_jti.eq(old_jti),
                sessions::rotated_at.eq(now),
                sessions::last_used_at.eq(now),
            ))
            .execute(conn)?;
            if rotated == 0 {
                return Ok(None);
            }
            let found = find_with_user(conn, session_id, user_id)?;
            super::events::record(conn, event)?;
            Ok(found)
        }),
    }
}

/// A rotated session (its columns prefixed `session_`) beside its user.
#[derive(QueryableByName)]
struct RotatedSession {
    #[diesel(sql_type = diesel::sql_types::Text)]
    session_id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    session_refresh_jti: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    session_previous_refresh_jti: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamp>)]
    session_rotated_at: Option<NaiveDateTime>,
    #[diesel(sql_type = diesel::sql_types::Timestamp)]
    session_created_at: NaiveDateTime,
    #[diesel(sql_type = diesel::sql_types::Timestamp)]
    session_last_used_at: NaiveDateTime,
    #[diesel(sql_type = diesel::sql_types::Timestamp)]
    session_expires_at: NaiveDateTime,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamp>)]
    session_revoked_at: Option<NaiveDateTime>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    session_user_agent: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    session_ip: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    session_amr: String,
    #[diesel(embed)]
    user: UserRow,
}

/// The statement [`rotate_current`] runs on PostgreSQL. A query type of its
/// own rather than `sql_query` text, which Diesel never caches: PostgreSQL
/// would parse and plan it on every call, which costs more than running it
/// (2,190 against 5,850 statements/s in pgbench here). This one is prepared
/// once per connection.
struct RotateInOneStatement<'a> {
    session_id: &'a str,
    user_id: &'a str,
    old_jti: &'a str,
    new_jti: &'a str,
    now: NaiveDateTime,
    event: &'a EventRow,
}

impl QueryId for RotateInOneStatement<'_> {
    type QueryId = RotateInOneStatement<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for RotateInOneStatement<'_> {
    type SqlType = diesel::sql_types::Untyped;
}

impl<Conn> RunQueryDsl<Conn> for RotateInOneStatement<'_> {}

impl QueryFragment<super::MultiBackend> for RotateInOneStatement<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, super::MultiBackend>) -> QueryResult<()> {
        use diesel::sql_types::{Nullable, Text, Timestamp};
        // The conditions are those of `live`, plus the current token and an
        // enabled account; the event row goes in only when a session row
        // came out.
        out.push_sql("WITH rotated AS (UPDATE sessions SET refresh_jti = ");
        out.push_bind_param::<Text, _>(self.new_jti)?;
        out.push_sql(", previous_refresh_jti = ");
        out.push_bind_param::<Text, _>(self.old_jti)?;
        out.push_sql(", rotated_at = ");
        out.push_bind_param::<Timestamp, _>(&self.now)?;
        out.push_sql(", last_used_at = ");
        out.push_bind_param::<Timestamp, _>(&self.now)?;
        out.push_sql(" WHERE id = ");
        out.push_bind_param::<Text, _>(self.session_id)?;
        out.push_sql(" AND user_id = ");
        out.push_bind_param::<Text, _>(self.user_id)?;
        out.push_sql(" AND refresh_jti = ");
        out.push_bind_param::<Text, _>(self.old_jti)?;
        out.push_sql(" AND revoked_at IS NULL AND expires_at > ");
        out.push_bind_param::<Timestamp, _>(&self.now)?;
        out.push_sql(" AND EXISTS (SELECT 1 FROM users WHERE users.id = ");
        out.push_bind_param::<Text, _>(self.user_id)?;
        out.push_sql(
            " AND NOT users.disabled) RETURNING *), recorded AS (INSERT INTO auth_events \
             (id, occurred_at, event_type, user_id, actor_id, ip, user_agent, detail) SELECT ",
        );
        out.push_bind_param::<Text, _>(&self.event.id)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamp, _>(&self.event.occurred_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.event.event_type)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&self.event.user_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&self.event.actor_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&self.event.ip)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&self.event.user_agent)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.event.detail)?;
        out.push_sql(
            " FROM rotated) \
             SELECT rotated.id AS session_id, rotated.refresh_jti AS session_refresh_jti, \
             rotated.previous_refresh_jti AS session_previous_refresh_jti, \
             rotated.rotated_at AS session_rotated_at, rotated.created_at AS session_created_at, \
             rotated.last_used_at AS session_last_used_at, rotated.expires_at AS session_expires_at, \
             rotated.revoked_at AS session_revoked_at, rotated.user_agent AS session_user_agent, \
             rotated.ip AS session_ip, rotated.amr AS session_amr, users.* \
             FROM rotated JOIN users ON users.id = rotated.user_id",
        );
        Ok(())
    }
}

impl RotateInOneStatement<'_> {
    fn run(self, conn: &mut DbConnection) -> QueryResult<Option<(SessionRow, UserRow)>> {
        let row: Option<RotatedSession> = self.get_result(conn).optional()?;
        Ok(row.map(|row| {
            let session = SessionRow {
                id: row.session_id,
                user_id: row.user.id.clone(),
                refresh_jti: row.session_refresh_jti,
                previous_refresh_jti: row.session_previous_refresh_jti,
                rotated_at: row.session_rotated_at,
                created_at: row.session_created_at,
                last_used_at: row.session_last_used_at,
                expires_at: row.session_expires_at,
                revoked_at: row.session_revoked_at,
                user_agent: row.session_user_agent,
                ip: row.session_ip,
                amr: row.session_amr,
            };
            (session, row.user)
        }))
    }
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
        .get_result(conn)
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
