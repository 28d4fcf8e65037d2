//! The OpenID Provider's rows (see `service::oauth_clients`,
//! `service::authorization` and `service::oauth_grants`): clients, pending
//! authorization requests, codes, grants, consents and the single sign-on of
//! browsers. Single-use values are spent by one conditional write, which
//! decides between two requests racing with the same value.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::{
    oauth_clients, oauth_codes, oauth_consents, oauth_grants, oauth_requests, oauth_sso, sessions,
    users,
};
use super::sessions::SessionRow;
use super::users::UserRow;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = oauth_clients, treat_none_as_null = true)]
pub struct ClientRow {
    pub id: String,
    pub name: String,
    /// `public` or `confidential`.
    pub client_type: String,
    /// SHA-256 of the secret, hex (confidential clients).
    pub secret_hash: Option<String>,
    /// JSON arrays of strings.
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    pub grant_types: String,
    pub scopes: String,
    pub first_party: bool,
    pub id_token_signed_response_alg: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub fn insert_client(conn: &mut DbConnection, row: &ClientRow) -> QueryResult<()> {
    diesel::insert_into(oauth_clients::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn find_client(conn: &mut DbConnection, id: &str) -> QueryResult<Option<ClientRow>> {
    oauth_clients::table
        .find(id)
        .select(ClientRow::as_select())
        .get_result(conn)
        .optional()
}

/// Every client, oldest first.
pub fn list_clients(conn: &mut DbConnection) -> QueryResult<Vec<ClientRow>> {
    oauth_clients::table
        .order((oauth_clients::created_at.asc(), oauth_clients::id.asc()))
        .select(ClientRow::as_select())
        .load(conn)
}

/// Writes every column of `row` over the client's; whether it existed.
pub fn update_client(conn: &mut DbConnection, row: &ClientRow) -> QueryResult<bool> {
    diesel::update(oauth_clients::table.find(&row.id))
        .set(row)
        .execute(conn)
        .map(|updated| updated == 1)
}

/// Deletes a client with its requests, codes, grants and consents (foreign
/// keys cascade); whether it existed.
pub fn delete_client(conn: &mut DbConnection, id: &str) -> QueryResult<bool> {
    diesel::delete(oauth_clients::table.find(id))
        .execute(conn)
        .map(|deleted| deleted == 1)
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = oauth_requests)]
pub struct RequestRow {
    /// SHA-256 of the request id, hex.
    pub id_hash: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<i64>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

pub fn insert_request(conn: &mut DbConnection, row: &RequestRow) -> QueryResult<()> {
    diesel::insert_into(oauth_requests::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// A request still waiting at `now`, with its client.
pub fn find_request(
    conn: &mut DbConnection,
    id_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<(RequestRow, ClientRow)>> {
    oauth_requests::table
        .inner_join(oauth_clients::table)
        .filter(oauth_requests::id_hash.eq(id_hash))
        .filter(oauth_requests::expires_at.gt(now))
        .select((RequestRow::as_select(), ClientRow::as_select()))
        .get_result(conn)
        .optional()
}

/// Spends a request: whether this call is the one that removed it.
pub fn delete_request(conn: &mut DbConnection, id_hash: &str) -> QueryResult<bool> {
    diesel::delete(oauth_requests::table.find(id_hash))
        .execute(conn)
        .map(|deleted| deleted == 1)
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = oauth_codes)]
pub struct CodeRow {
    /// SHA-256 of the code, hex.
    pub code_hash: String,
    pub client_id: String,
    pub user_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: NaiveDateTime,
    /// RFC 8176 methods, comma-separated.
    pub amr: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    /// The grant the code's use made; set once.
    pub grant_id: Option<String>,
}

pub fn insert_code(conn: &mut DbConnection, row: &CodeRow) -> QueryResult<()> {
    diesel::insert_into(oauth_codes::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn find_code(conn: &mut DbConnection, code_hash: &str) -> QueryResult<Option<CodeRow>> {
    oauth_codes::table
        .find(code_hash)
        .select(CodeRow::as_select())
        .get_result(conn)
        .optional()
}

/// Marks a code used by `grant_id`, unless a use got there first: whether
/// this call is the one that used it.
pub fn spend_code(conn: &mut DbConnection, code_hash: &str, grant_id: &str) -> QueryResult<bool> {
    diesel::update(
        oauth_codes::table
            .filter(oauth_codes::code_hash.eq(code_hash))
            .filter(oauth_codes::grant_id.is_null()),
    )
    .set(oauth_codes::grant_id.eq(grant_id))
    .execute(conn)
    .map(|updated| updated == 1)
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = oauth_grants)]
pub struct GrantRow {
    pub id: String,
    pub client_id: String,
    pub user_id: String,
    pub scope: String,
    /// The current refresh token's id (none when the client has no refresh grant).
    pub refresh_jti: Option<String>,
    pub previous_refresh_jti: Option<String>,
    pub rotated_at: Option<NaiveDateTime>,
    pub auth_time: NaiveDateTime,
    pub amr: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

pub fn insert_grant(conn: &mut DbConnection, row: &GrantRow) -> QueryResult<()> {
    diesel::insert_into(oauth_grants::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// A grant that is neither revoked nor expired at `now`, with its user.
pub fn find_live_grant(
    conn: &mut DbConnection,
    id: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<(GrantRow, UserRow)>> {
    oauth_grants::table
        .inner_join(users::table)
        .filter(oauth_grants::id.eq(id))
        .filter(oauth_grants::revoked_at.is_null())
        .filter(oauth_grants::expires_at.gt(now))
        .select((GrantRow::as_select(), users::all_columns))
        .get_result(conn)
        .optional()
}

/// Rotates a grant's refresh token from `current` to `next`, unless another
/// rotation got there first: whether this call rotated it.
pub fn rotate_refresh(
    conn: &mut DbConnection,
    id: &str,
    current: &str,
    next: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        oauth_grants::table
            .filter(oauth_grants::id.eq(id))
            .filter(oauth_grants::refresh_jti.eq(current))
            .filter(oauth_grants::revoked_at.is_null()),
    )
    .set((
        oauth_grants::refresh_jti.eq(next),
        oauth_grants::previous_refresh_jti.eq(current),
        oauth_grants::rotated_at.eq(now),
    ))
    .execute(conn)
    .map(|updated| updated == 1)
}

pub fn revoke_grant(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> QueryResult<()> {
    diesel::update(
        oauth_grants::table
            .filter(oauth_grants::id.eq(id))
            .filter(oauth_grants::revoked_at.is_null()),
    )
    .set(oauth_grants::revoked_at.eq(now))
    .execute(conn)
    .map(|_| ())
}

/// Revokes every grant a user gave (a new password ends them, as it ends
/// the user's sessions).
pub fn revoke_all_grants_of_user(
    conn: &mut DbConnection,
    user_id: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(
        oauth_grants::table
            .filter(oauth_grants::user_id.eq(user_id))
            .filter(oauth_grants::revoked_at.is_null()),
    )
    .set(oauth_grants::revoked_at.eq(now))
    .execute(conn)
    .map(|_| ())
}

/// Revokes every grant a user gave a client.
pub fn revoke_grants_of(
    conn: &mut DbConnection,
    user_id: &str,
    client_id: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(
        oauth_grants::table
            .filter(oauth_grants::user_id.eq(user_id))
            .filter(oauth_grants::client_id.eq(client_id))
            .filter(oauth_grants::revoked_at.is_null()),
    )
    .set(oauth_grants::revoked_at.eq(now))
    .execute(conn)
    .map(|_| ())
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = oauth_consents)]
pub struct ConsentRow {
    pub user_id: String,
    pub client_id: String,
    /// Space-separated scopes consented to.
    pub scope: String,
    pub granted_at: NaiveDateTime,
}

pub fn find_consent(
    conn: &mut DbConnection,
    user_id: &str,
    client_id: &str,
) -> QueryResult<Option<ConsentRow>> {
    oauth_consents::table
        .find((user_id, client_id))
        .select(ConsentRow::as_select())
        .get_result(conn)
        .optional()
}

/// How often [`add_consent`] tries: each retry follows a commit of another
/// writer of the same consent, so only a crowd of simultaneous accepts of one
/// user for one app runs out (then the answer is 503, worth retrying).
const CONSENT_WRITE_ATTEMPTS: usize = 16;

/// Records that `user_id` consented to `client_id` at `now`, the scopes being
/// `merge(what was on record)`. Two accepts at once (two tabs of one app)
/// neither collide on the key nor lose each other's scopes: a refused insert
/// is undone alone, and the update replaces only the scopes it read; either,
/// refused by the other writer's commit, reads again.
pub fn add_consent(
    conn: &mut DbConnection,
    user_id: &str,
    client_id: &str,
    merge: impl Fn(Option<&str>) -> String,
    now: NaiveDateTime,
) -> QueryResult<()> {
    for _ in 0..CONSENT_WRITE_ATTEMPTS {
        match find_consent(conn, user_id, client_id)? {
            None => {
                let row = ConsentRow {
                    user_id: user_id.to_owned(),
                    client_id: client_id.to_owned(),
                    scope: merge(None),
                    granted_at: now,
                };
                let inserted = super::refused_as_conflict(
                    conn,
                    |conn| {
                        diesel::insert_into(oauth_consents::table)
                            .values(&row)
                            .execute(conn)
                    },
                    |_| super::Conflict::Consent,
                )?;
                if inserted.is_ok() {
                    return Ok(());
                }
            }
            Some(on_record) => {
                let updated = diesel::update(
                    oauth_consents::table
                        .find((user_id, client_id))
                        .filter(oauth_consents::scope.eq(&on_record.scope)),
                )
                .set((
                    oauth_consents::scope.eq(merge(Some(&on_record.scope))),
                    oauth_consents::granted_at.eq(now),
                ))
                .execute(conn)?;
                if updated == 1 {
                    return Ok(());
                }
            }
        }
    }
    Err(diesel::result::Error::DatabaseError(
        diesel::result::DatabaseErrorKind::SerializationFailure,
        Box::new("the consent kept changing under this transaction".to_owned()),
    ))
}

/// A user's consents with their clients' names, most recent first.
pub fn consents_of(
    conn: &mut DbConnection,
    user_id: &str,
) -> QueryResult<Vec<(ConsentRow, String)>> {
    oauth_consents::table
        .inner_join(oauth_clients::table)
        .filter(oauth_consents::user_id.eq(user_id))
        .order((
            oauth_consents::granted_at.desc(),
            oauth_consents::client_id.asc(),
        ))
        .select((ConsentRow::as_select(), oauth_clients::name))
        .load(conn)
}

/// Whether a consent was there to delete.
pub fn delete_consent(
    conn: &mut DbConnection,
    user_id: &str,
    client_id: &str,
) -> QueryResult<bool> {
    diesel::delete(oauth_consents::table.find((user_id, client_id)))
        .execute(conn)
        .map(|deleted| deleted == 1)
}

pub fn insert_sso(
    conn: &mut DbConnection,
    token_hash: &str,
    session_id: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(oauth_sso::table)
        .values((
            oauth_sso::token_hash.eq(token_hash),
            oauth_sso::session_id.eq(session_id),
            oauth_sso::created_at.eq(now),
        ))
        .execute(conn)
        .map(|_| ())
}

/// The live session (and enabled account) behind an SSO cookie.
pub fn find_sso_session(
    conn: &mut DbConnection,
    token_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<(SessionRow, UserRow)>> {
    oauth_sso::table
        .inner_join(sessions::table.inner_join(users::table))
        .filter(oauth_sso::token_hash.eq(token_hash))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .filter(users::disabled.eq(false))
        .select((SessionRow::as_select(), users::all_columns))
        .get_result(conn)
        .optional()
}

/// Removes what has expired: requests, codes (kept a while after their
/// expiry, so that a late second use still revokes what the first issued)
/// and grants.
pub fn prune(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    codes_before: NaiveDateTime,
) -> QueryResult<usize> {
    let requests = diesel::delete(oauth_requests::table.filter(oauth_requests::expires_at.le(now)))
        .execute(conn)?;
    let codes = diesel::delete(oauth_codes::table.filter(oauth_codes::expires_at.le(codes_before)))
        .execute(conn)?;
    let grants = diesel::delete(oauth_grants::table.filter(oauth_grants::expires_at.le(now)))
        .execute(conn)?;
    Ok(requests + codes + grants)
}
