//! Accounts' identities at other providers (see `service::federation`): a
//! (provider, subject) pair belongs to at most one account.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::identities;
use super::{Conflict, DbConnection, refused_as_conflict};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = identities)]
pub struct IdentityRow {
    pub id: String,
    pub user_id: String,
    /// The provider's id in `PROVIDERS`.
    pub provider: String,
    /// The provider's stable id of the person (`sub`, or GitHub's numeric id).
    pub subject: String,
    /// The address the provider gave when the identity was linked.
    pub email: Option<String>,
    pub created_at: NaiveDateTime,
    pub last_login_at: Option<NaiveDateTime>,
}

/// Links an identity; one another account already has is a [`Conflict`].
pub fn insert(conn: &mut DbConnection, row: &IdentityRow) -> QueryResult<Result<(), Conflict>> {
    refused_as_conflict(
        conn,
        |conn| {
            diesel::insert_into(identities::table)
                .values(row)
                .execute(conn)
                .map(|_| ())
        },
        |_| Conflict::Identity,
    )
}

/// The identity a provider's subject is, if some account has it.
pub fn find(
    conn: &mut DbConnection,
    provider: &str,
    subject: &str,
) -> QueryResult<Option<IdentityRow>> {
    identities::table
        .filter(identities::provider.eq(provider))
        .filter(identities::subject.eq(subject))
        .select(IdentityRow::as_select())
        .get_result(conn)
        .optional()
}

/// An account's identities, oldest first.
pub fn for_user(conn: &mut DbConnection, user_id: &str) -> QueryResult<Vec<IdentityRow>> {
    identities::table
        .filter(identities::user_id.eq(user_id))
        .order((identities::created_at.asc(), identities::id.asc()))
        .select(IdentityRow::as_select())
        .load(conn)
}

/// Records a login through an identity.
pub fn record_login(conn: &mut DbConnection, id: &str, at: NaiveDateTime) -> QueryResult<()> {
    diesel::update(identities::table.find(id))
        .set(identities::last_login_at.eq(at))
        .execute(conn)
        .map(|_| ())
}

/// Unlinks one of the account's identities; `false` if it has no such one.
pub fn delete(conn: &mut DbConnection, user_id: &str, id: &str) -> QueryResult<bool> {
    diesel::delete(
        identities::table
            .filter(identities::id.eq(id))
            .filter(identities::user_id.eq(user_id)),
    )
    .execute(conn)
    .map(|deleted| deleted == 1)
}

/// Unlinks every identity of the account (a reset of a never-verified
/// address); returns how many there were.
pub fn delete_all(conn: &mut DbConnection, user_id: &str) -> QueryResult<usize> {
    diesel::delete(identities::table.filter(identities::user_id.eq(user_id))).execute(conn)
}
