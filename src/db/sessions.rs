//! Session rows: one per login, holding the id of its one current refresh token.

use chrono::NaiveDateTime;
use diesel::dsl::count_star;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};

use super::DbConnection;
use super::schema::{sessions, users};
use super::users::UserRow;

/// What a login writes; what refreshes add since is [`Refreshes`].
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
) -> QueryResult<Option<(UserRow, NaiveDateTime)>> {
    sessions::table
        .inner_join(users::table)
        .filter(sessions::id.eq(session_id))
        .filter(sessions::user_id.eq(user_id))
        .filter(live(now))
        .filter(users::disabled.eq(false))
        .select((users::all_columns, sessions::created_at))
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

/// What the refreshes of a session left on its row: how many there were, and
/// the client of the latest (`None` before the first). The time of the latest
/// is the row's `rotated_at`.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sessions)]
pub struct Refreshes {
    pub refresh_count: i32,
    pub last_ip: Option<String>,
    pub last_user_agent: Option<String>,
}

/// A refresh: rotates the session's current refresh token `old_jti` to
/// `new_jti` and records the refresh on the row (its time, count and client),
/// when the session is live, `old_jti` is still current and the account is
/// enabled. A successful refresh is no audit event (the row says it all).
pub struct Rotation<'a> {
    pub session_id: &'a str,
    pub user_id: &'a str,
    pub old_jti: &'a str,
    pub new_jti: &'a str,
    pub now: NaiveDateTime,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

impl Rotation<'_> {
    /// Runs the rotation; returns the rotated session and its user. `None`
    /// changes nothing: the caller then works out why (a spent token, an ended
    /// session, a disabled account).
    ///
    /// This is the whole of a successful refresh, the hottest write there is,
    /// so it is one statement on both backends (atomic without BEGIN and
    /// COMMIT, one round trip on PostgreSQL): an UPDATE of the session row
    /// whose RETURNING also gives the user the new tokens are issued for.
    pub fn run(self, conn: &mut DbConnection) -> QueryResult<Option<(SessionRow, UserRow)>> {
        let on_sqlite = matches!(conn, DbConnection::Sqlite(_));
        let row: Option<RotatedSession> = RotateInOneStatement {
            rotation: self,
            on_sqlite,
        }
        .get_result(conn)
        .optional()?;
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

/// The user's columns but `id` (which is the session's `user_id`), as
/// [`UserRow`] reads them by name. SQLite's RETURNING may not name a joined
/// table, so there each is a lookup of the user by primary key.
const USER_COLUMNS_BUT_ID: [&str; 13] = [
    "username",
    "email",
    "password_hash",
    "role",
    "disabled",
    "created_at",
    "updated_at",
    "last_login_at",
    "email_verified",
    "totp_enabled",
    "recovery_codes_left",
    "passkey_count",
    "has_password",
];

/// The statement [`Rotation::run`] runs. A query type of its own rather than
/// `sql_query` text, which Diesel never caches: PostgreSQL would parse and
/// plan it on every call, which costs more than running it (2,190 against
/// 5,850 statements/s in pgbench here). This one is prepared once per
/// connection (unless a transaction pooler forbids it: see `db::mod`). Its
/// text depends on `on_sqlite`, which is fixed for a connection, and
/// statements are cached per connection, so one static query id is sound. It
/// binds no LIMIT (SQLite re-prepares a statement with a bound LIMIT on every
/// run); the primary key makes it one row at most.
struct RotateInOneStatement<'a> {
    rotation: Rotation<'a>,
    on_sqlite: bool,
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
        let rotation = &self.rotation;
        out.push_sql("UPDATE sessions SET refresh_jti = ");
        out.push_bind_param::<Text, _>(rotation.new_jti)?;
        out.push_sql(", previous_refresh_jti = ");
        out.push_bind_param::<Text, _>(rotation.old_jti)?;
        out.push_sql(", rotated_at = ");
        out.push_bind_param::<Timestamp, _>(&rotation.now)?;
        out.push_sql(", last_used_at = ");
        out.push_bind_param::<Timestamp, _>(&rotation.now)?;
        out.push_sql(", refresh_count = refresh_count + 1, last_ip = ");
        out.push_bind_param::<Nullable<Text>, _>(&rotation.ip)?;
        out.push_sql(", last_user_agent = ");
        out.push_bind_param::<Nullable<Text>, _>(&rotation.user_agent)?;
        // The conditions are those of `live`, plus the current token and an
        // enabled account.
        if !self.on_sqlite {
            out.push_sql(" FROM users");
        }
        out.push_sql(" WHERE sessions.id = ");
        out.push_bind_param::<Text, _>(rotation.session_id)?;
        out.push_sql(" AND sessions.user_id = ");
        out.push_bind_param::<Text, _>(rotation.user_id)?;
        out.push_sql(" AND sessions.refresh_jti = ");
        out.push_bind_param::<Text, _>(rotation.old_jti)?;
        out.push_sql(" AND sessions.revoked_at IS NULL AND sessions.expires_at > ");
        out.push_bind_param::<Timestamp, _>(&rotation.now)?;
        if self.on_sqlite {
            out.push_sql(
                " AND EXISTS (SELECT 1 FROM users \
                 WHERE users.id = sessions.user_id AND NOT users.disabled)",
            );
        } else {
            out.push_sql(" AND users.id = sessions.user_id AND NOT users.disabled");
        }
        out.push_sql(
            " RETURNING sessions.id AS session_id, sessions.refresh_jti AS session_refresh_jti, \
             sessions.previous_refresh_jti AS session_previous_refresh_jti, \
             sessions.rotated_at AS session_rotated_at, \
             sessions.created_at AS session_created_at, \
             sessions.last_used_at AS session_last_used_at, \
             sessions.expires_at AS session_expires_at, \
             sessions.revoked_at AS session_revoked_at, \
             sessions.user_agent AS session_user_agent, sessions.ip AS session_ip, \
             sessions.amr AS session_amr, sessions.user_id AS id",
        );
        for column in USER_COLUMNS_BUT_ID {
            out.push_sql(", ");
            if self.on_sqlite {
                out.push_sql("(SELECT users.");
                out.push_sql(column);
                out.push_sql(" FROM users WHERE users.id = sessions.user_id)");
            } else {
                out.push_sql("users.");
                out.push_sql(column);
            }
            out.push_sql(" AS ");
            out.push_sql(column);
        }
        Ok(())
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
        .select((SessionRow::as_select(), users::all_columns))
        .get_result(conn)
        .optional()
}

/// The user's live sessions, newest first, with what their refreshes left.
pub fn list_live(
    conn: &mut DbConnection,
    user_id: &str,
    now: NaiveDateTime,
) -> QueryResult<Vec<(SessionRow, Refreshes)>> {
    sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(live(now))
        .order((sessions::created_at.desc(), sessions::id.desc()))
        .select((SessionRow::as_select(), Refreshes::as_select()))
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
