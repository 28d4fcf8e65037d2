//! User rows and the queries on them.

use chrono::NaiveDateTime;
use diesel::dsl::count_star;
use diesel::prelude::*;

use super::schema::{locks, users};
use super::{Conflict, DbConnection};
use crate::domain::Role;

diesel::define_sql_function! {
    /// SQL `lower()`, which both backends index (`users_username_lower_key`).
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

pub(super) const ROLE_ADMIN: &str = Role::Admin.as_str();

/// A row of `users`. Stays inside the server: responses are built from it, never
/// serialised from it, so the password hash can't leak by accident.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub role: String,
    pub disabled: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub last_login_at: Option<NaiveDateTime>,
    /// The owner proved the address (a verification link, a reset by mail,
    /// or created by an operator).
    pub email_verified: bool,
    /// TOTP is confirmed (see `db::mfa`, the only writer of these three).
    pub totp_enabled: bool,
    pub recovery_codes_left: i32,
    pub passkey_count: i32,
    /// The owner chose a password (accounts made by a provider, a mailed
    /// link or an invitation start with a random one nobody knows).
    pub has_password: bool,
}

impl UserRow {
    pub fn is_admin(&self) -> bool {
        self.role == ROLE_ADMIN
    }

    /// TOTP or at least one passkey: a first factor alone does not log in.
    pub fn has_second_factor(&self) -> bool {
        self.totp_enabled || self.passkey_count > 0
    }
}

/// Inserts an account; a taken email address or username is a [`Conflict`].
pub fn insert(conn: &mut DbConnection, user: &UserRow) -> QueryResult<Result<(), Conflict>> {
    super::refused_as_conflict(
        conn,
        |conn| {
            diesel::insert_into(users::table)
                .values(user)
                .execute(conn)
                .map(|_| ())
        },
        taken_by,
    )
}

/// Which of an account's unique values the index or constraint `named` holds.
fn taken_by(named: &str) -> Conflict {
    if named.contains("username") {
        Conflict::Username
    } else {
        Conflict::Email
    }
}

pub fn find_by_id(conn: &mut DbConnection, id: &str) -> QueryResult<Option<UserRow>> {
    users::table
        .find(id)
        .select(users::all_columns)
        .get_result(conn)
        .optional()
}

/// `email` must already be lower-cased, as stored.
pub fn find_by_email(conn: &mut DbConnection, email: &str) -> QueryResult<Option<UserRow>> {
    users::table
        .filter(users::email.eq(email))
        .select(users::all_columns)
        .get_result(conn)
        .optional()
}

/// Usernames match ignoring case.
pub fn find_by_username(conn: &mut DbConnection, username: &str) -> QueryResult<Option<UserRow>> {
    users::table
        .filter(lower(users::username).eq(username.to_lowercase()))
        .select(users::all_columns)
        .get_result(conn)
        .optional()
}

pub fn email_exists(conn: &mut DbConnection, email: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        users::table.filter(users::email.eq(email)),
    ))
    .get_result(conn)
}

pub fn username_exists(conn: &mut DbConnection, username: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        users::table.filter(lower(users::username).eq(username.to_lowercase())),
    ))
    .get_result(conn)
}

/// Records a login, but only if the account is still exactly as it was when
/// its password was checked (same hash, same role, still enabled, TOTP still
/// as it was, passkeys or none as there were): the check takes tens of
/// milliseconds, and a password change, demotion, disabling, deletion or a
/// second factor added committed meanwhile must win. Returns whether it was recorded.
pub fn record_login(
    conn: &mut DbConnection,
    checked: &UserRow,
    at: NaiveDateTime,
    upgraded_password_hash: Option<&str>,
) -> QueryResult<bool> {
    let unchanged = users::table
        .filter(users::id.eq(&checked.id))
        .filter(users::password_hash.eq(&checked.password_hash))
        .filter(users::role.eq(&checked.role))
        .filter(users::disabled.eq(false))
        .filter(users::totp_enabled.eq(checked.totp_enabled))
        .filter(users::passkey_count.gt(0).eq(checked.passkey_count > 0));
    let hash = upgraded_password_hash.unwrap_or(&checked.password_hash);
    diesel::update(unchanged)
        .set((users::last_login_at.eq(at), users::password_hash.eq(hash)))
        .execute(conn)
        .map(|updated| updated == 1)
}

/// Renames an account; a username another account has is a [`Conflict`].
pub fn set_username(
    conn: &mut DbConnection,
    id: &str,
    username: &str,
    at: NaiveDateTime,
) -> QueryResult<Result<usize, Conflict>> {
    super::refused_as_conflict(
        conn,
        |conn| {
            diesel::update(users::table.find(id))
                .set((users::username.eq(username), users::updated_at.eq(at)))
                .execute(conn)
        },
        taken_by,
    )
}

/// Replaces the stored form of an address by another form of the same
/// address (its normalised one), if it is still `stored`.
pub fn replace_email(
    conn: &mut DbConnection,
    id: &str,
    stored: &str,
    replacement: &str,
    at: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        users::table
            .filter(users::id.eq(id))
            .filter(users::email.eq(stored)),
    )
    .set((users::email.eq(replacement), users::updated_at.eq(at)))
    .execute(conn)
}

/// Marks the address proven.
pub fn set_email_verified(
    conn: &mut DbConnection,
    id: &str,
    at: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set((users::email_verified.eq(true), users::updated_at.eq(at)))
        .execute(conn)
}

/// Moves the account to a new (proven) address; a unique violation means the
/// address was taken meanwhile.
pub fn change_email(
    conn: &mut DbConnection,
    id: &str,
    email: &str,
    at: NaiveDateTime,
) -> QueryResult<Result<usize, Conflict>> {
    super::refused_as_conflict(
        conn,
        |conn| {
            diesel::update(users::table.find(id))
                .set((
                    users::email.eq(email),
                    users::email_verified.eq(true),
                    users::updated_at.eq(at),
                ))
                .execute(conn)
        },
        taken_by,
    )
}

pub fn set_role(
    conn: &mut DbConnection,
    id: &str,
    role: Role,
    at: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set((users::role.eq(role.as_str()), users::updated_at.eq(at)))
        .execute(conn)
}

/// Sets the user's password hash; with `expected`, only if the stored hash is
/// still that one (0 rows otherwise), so a change decided on a password check
/// cannot overwrite a change committed since.
pub fn set_password_hash(
    conn: &mut DbConnection,
    id: &str,
    hash: &str,
    expected: Option<&str>,
    at: NaiveDateTime,
) -> QueryResult<usize> {
    // The condition is on the row itself, so PostgreSQL re-checks it against a
    // row a concurrent transaction changed while this one waited for its lock.
    let changes = (
        users::password_hash.eq(hash),
        users::has_password.eq(true),
        users::updated_at.eq(at),
    );
    match expected {
        Some(expected) => diesel::update(
            users::table
                .filter(users::id.eq(id))
                .filter(users::password_hash.eq(expected)),
        )
        .set(changes)
        .execute(conn),
        None => diesel::update(users::table.find(id))
            .set(changes)
            .execute(conn),
    }
}

/// Takes the account row's write lock until the transaction ends, so that
/// changes to one account's second factors happen one after the other.
pub fn lock(conn: &mut DbConnection, id: &str) -> QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set(users::id.eq(users::id))
        .execute(conn)
}

/// Deletes the user; their sessions go with them (`ON DELETE CASCADE`).
/// Only through [`delete_keeping_an_admin`], which guards the last admin.
fn delete(conn: &mut DbConnection, id: &str) -> QueryResult<usize> {
    diesel::delete(users::table.find(id)).execute(conn)
}

/// Serialises every change that could leave no enabled admin (and every
/// admin's action on accounts). The guards below take it themselves; call it
/// first in a transaction that must read something else under it, such as
/// whether the acting admin is still one.
pub fn lock_admin_changes(conn: &mut DbConnection) -> QueryResult<()> {
    diesel::update(locks::table.find("admins"))
        .set(locks::version.eq(locks::version + 1))
        .execute(conn)
        .map(|_| ())
}

fn count_enabled_admins(conn: &mut DbConnection) -> QueryResult<i64> {
    users::table
        .filter(users::role.eq(ROLE_ADMIN))
        .filter(users::disabled.eq(false))
        .select(count_star())
        .get_result(conn)
}

/// What a change guarded by the last-admin rule came to.
#[derive(Debug)]
pub enum Guarded<T> {
    Done(T),
    NotFound,
    /// Refused: it would leave no enabled admin.
    LastAdmin,
}

/// Deletes the user unless it is the last enabled admin. Run it in a
/// transaction; the admin count is read under [`lock_admin_changes`].
pub fn delete_keeping_an_admin(conn: &mut DbConnection, id: &str) -> QueryResult<Guarded<UserRow>> {
    lock_admin_changes(conn)?;
    let Some(user) = find_by_id(conn, id)? else {
        return Ok(Guarded::NotFound);
    };
    if user.is_admin() && !user.disabled && count_enabled_admins(conn)? <= 1 {
        return Ok(Guarded::LastAdmin);
    }
    delete(conn, id)?;
    Ok(Guarded::Done(user))
}

/// An admin's change to an account; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AccountChange {
    pub role: Option<Role>,
    pub disabled: Option<bool>,
}

/// Applies `change` unless it would leave no enabled admin. Returns the row
/// before and after. Run it in a transaction.
pub fn change_keeping_an_admin(
    conn: &mut DbConnection,
    id: &str,
    change: &AccountChange,
    now: NaiveDateTime,
) -> QueryResult<Guarded<(UserRow, UserRow)>> {
    lock_admin_changes(conn)?;
    let Some(before) = find_by_id(conn, id)? else {
        return Ok(Guarded::NotFound);
    };
    let mut after = before.clone();
    if let Some(role) = change.role {
        after.role = role.as_str().to_owned();
    }
    if let Some(disabled) = change.disabled {
        after.disabled = disabled;
    }
    let enabled_admin = |user: &UserRow| user.is_admin() && !user.disabled;
    if enabled_admin(&before) && !enabled_admin(&after) && count_enabled_admins(conn)? <= 1 {
        return Ok(Guarded::LastAdmin);
    }
    if after.role != before.role || after.disabled != before.disabled {
        after.updated_at = now;
        diesel::update(users::table.find(id))
            .set((
                users::role.eq(&after.role),
                users::disabled.eq(after.disabled),
                users::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(Guarded::Done((before, after)))
}

/// A `SELECT COUNT(*) AS n …` without parameters.
pub(super) fn count_literal(conn: &mut DbConnection, query: &'static str) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    Ok(diesel::sql_query(query).get_result::<Count>(conn)?.n)
}

/// An account's id and stored email.
#[derive(Debug, Clone, QueryableByName)]
pub struct StoredEmail {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub email: String,
}

/// Accounts whose stored email has a character outside printable ASCII: the
/// only ones an older version could have stored in a form that is not the
/// normalised one. The partial index `users_non_ascii_email_idx` holds just
/// these rows (each backend matches "not printable ASCII" its own way, in
/// the index's predicate and here alike), so every start checks them
/// without reading the other accounts.
pub fn with_non_ascii_email(conn: &mut DbConnection) -> QueryResult<Vec<StoredEmail>> {
    diesel::sql_query(non_ascii_email_query(conn)).load(conn)
}

/// The query of [`with_non_ascii_email`] on `conn`'s backend.
pub fn non_ascii_email_query(conn: &DbConnection) -> &'static str {
    match conn {
        DbConnection::Postgresql(_) => "SELECT id, email FROM users WHERE email ~ '[^ -~]'",
        DbConnection::Sqlite(_) => "SELECT id, email FROM users WHERE email GLOB '*[^ -~]*'",
    }
}
