//! Second-factor rows: an account's TOTP secret (sealed), its recovery codes
//! (hashed), and logins waiting for their second factor. The account row's
//! `totp_enabled` and `recovery_codes_left` change only here, in the same
//! statements' transaction as the rows they summarise.
//!
//! Every "use once" rule is a conditional write whose row count decides, so
//! two requests racing with one code cannot both succeed.

use chrono::NaiveDateTime;
use diesel::dsl::count_star;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::{mfa_challenges, recovery_codes, totp_credentials, users};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = totp_credentials)]
pub struct TotpRow {
    pub user_id: String,
    /// The secret, sealed by `auth::encryption` for `totp:<user id>`.
    pub secret_sealed: String,
    pub created_at: NaiveDateTime,
    /// `None` while the enrollment waits for its first code.
    pub confirmed_at: Option<NaiveDateTime>,
    /// The last time step a code was accepted for.
    pub last_used_step: Option<i64>,
}

pub fn find_totp(conn: &mut DbConnection, user_id: &str) -> QueryResult<Option<TotpRow>> {
    totp_credentials::table
        .find(user_id)
        .select(TotpRow::as_select())
        .get_result(conn)
        .optional()
}

/// Replaces the user's pending enrollment (if any) by `row`. Returns `false`,
/// changing nothing, when TOTP is already confirmed.
pub fn put_pending_totp(conn: &mut DbConnection, row: &TotpRow) -> QueryResult<bool> {
    // Two enrollments racing would both delete, then both insert.
    super::users::lock(conn, &row.user_id)?;
    if find_totp(conn, &row.user_id)?.is_some_and(|existing| existing.confirmed_at.is_some()) {
        return Ok(false);
    }
    diesel::delete(
        totp_credentials::table
            .filter(totp_credentials::user_id.eq(&row.user_id))
            .filter(totp_credentials::confirmed_at.is_null()),
    )
    .execute(conn)?;
    diesel::insert_into(totp_credentials::table)
        .values(row)
        .execute(conn)?;
    Ok(true)
}

/// Turns the pending enrollment sealed as `secret_sealed` on, with `step`
/// spent; `false` if it is no longer the pending one (replaced, or confirmed
/// by a racing request).
pub fn confirm_totp(
    conn: &mut DbConnection,
    user_id: &str,
    secret_sealed: &str,
    step: i64,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let confirmed = diesel::update(
        totp_credentials::table
            .filter(totp_credentials::user_id.eq(user_id))
            .filter(totp_credentials::secret_sealed.eq(secret_sealed))
            .filter(totp_credentials::confirmed_at.is_null()),
    )
    .set((
        totp_credentials::confirmed_at.eq(now),
        totp_credentials::last_used_step.eq(step),
    ))
    .execute(conn)?;
    if confirmed == 1 {
        diesel::update(users::table.find(user_id))
            .set(users::totp_enabled.eq(true))
            .execute(conn)?;
    }
    Ok(confirmed == 1)
}

/// Spends time step `step` of the user's confirmed TOTP: `false` if that step
/// or a later one was already used (a replayed code). `resealed` replaces the
/// stored secret (sealed again under the current key).
pub fn spend_totp_step(
    conn: &mut DbConnection,
    user_id: &str,
    step: i64,
    resealed: Option<&str>,
) -> QueryResult<bool> {
    let unused = totp_credentials::table
        .filter(totp_credentials::user_id.eq(user_id))
        .filter(totp_credentials::confirmed_at.is_not_null())
        .filter(
            totp_credentials::last_used_step
                .is_null()
                .or(totp_credentials::last_used_step.lt(step)),
        );
    let spent = match resealed {
        Some(sealed) => diesel::update(unused)
            .set((
                totp_credentials::last_used_step.eq(step),
                totp_credentials::secret_sealed.eq(sealed),
            ))
            .execute(conn)?,
        None => diesel::update(unused)
            .set(totp_credentials::last_used_step.eq(step))
            .execute(conn)?,
    };
    Ok(spent == 1)
}

/// Replaces the user's recovery codes by these hashes.
pub fn replace_recovery_codes(
    conn: &mut DbConnection,
    user_id: &str,
    hashes: &[String],
) -> QueryResult<()> {
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
        .execute(conn)?;
    // One row at a time: a multi-row insert is not portable across the two
    // backends of a `MultiConnection`, and ten rows cost nothing.
    for hash in hashes {
        diesel::insert_into(recovery_codes::table)
            .values((
                recovery_codes::user_id.eq(user_id),
                recovery_codes::code_hash.eq(hash),
            ))
            .execute(conn)?;
    }
    let left = i32::try_from(hashes.len()).unwrap_or(i32::MAX);
    diesel::update(users::table.find(user_id))
        .set(users::recovery_codes_left.eq(left))
        .execute(conn)?;
    Ok(())
}

/// Spends one recovery code: `false` if the user has no such unused code.
pub fn spend_recovery_code(
    conn: &mut DbConnection,
    user_id: &str,
    code_hash: &str,
) -> QueryResult<bool> {
    let spent = diesel::delete(
        recovery_codes::table
            .filter(recovery_codes::user_id.eq(user_id))
            .filter(recovery_codes::code_hash.eq(code_hash)),
    )
    .execute(conn)?;
    if spent == 1 {
        let left = recovery_codes_left(conn, user_id)?;
        diesel::update(users::table.find(user_id))
            .set(users::recovery_codes_left.eq(left))
            .execute(conn)?;
    }
    Ok(spent == 1)
}

/// How many unused recovery codes the user has.
pub fn recovery_codes_left(conn: &mut DbConnection, user_id: &str) -> QueryResult<i32> {
    let left: i64 = recovery_codes::table
        .filter(recovery_codes::user_id.eq(user_id))
        .select(count_star())
        .get_result(conn)?;
    Ok(i32::try_from(left).unwrap_or(i32::MAX))
}

/// Removes the user's TOTP (pending or not) and recovery codes and every
/// login waiting for one of them. Returns whether TOTP was on. (Passkeys are
/// apart: see `passkeys::delete_all`.)
pub fn remove_all(conn: &mut DbConnection, user_id: &str) -> QueryResult<bool> {
    let was_on = diesel::delete(
        totp_credentials::table
            .filter(totp_credentials::user_id.eq(user_id))
            .filter(totp_credentials::confirmed_at.is_not_null()),
    )
    .execute(conn)?
        == 1;
    diesel::delete(totp_credentials::table.filter(totp_credentials::user_id.eq(user_id)))
        .execute(conn)?;
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
        .execute(conn)?;
    void_challenges(conn, user_id)?;
    diesel::update(users::table.find(user_id))
        .set((
            users::totp_enabled.eq(false),
            users::recovery_codes_left.eq(0),
        ))
        .execute(conn)?;
    Ok(was_on)
}

/// Accounts with a second factor on, for the dashboard.
pub fn count_enabled(conn: &mut DbConnection) -> QueryResult<i64> {
    // Literal SQL, so both planners match the partial index's predicate.
    super::users::count_literal(
        conn,
        "SELECT COUNT(*) AS n FROM users WHERE totp_enabled OR passkey_count > 0",
    )
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = mfa_challenges)]
pub struct ChallengeRow {
    /// SHA-256 of the `mfa_token`, hex; the token itself is never stored.
    pub token_hash: String,
    pub user_id: String,
    /// The `remember` of the login this finishes.
    pub remember: bool,
    pub attempts: i32,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    /// How the login began: `pwd` (a password) or `email` (a mailed link or code).
    pub first_factor: String,
}

pub fn insert_challenge(conn: &mut DbConnection, challenge: &ChallengeRow) -> QueryResult<()> {
    diesel::insert_into(mfa_challenges::table)
        .values(challenge)
        .execute(conn)
        .map(|_| ())
}

/// Counts one try at the challenge and returns it, unless it is unknown,
/// expired or has had `max_attempts` tries already.
pub fn spend_attempt(
    conn: &mut DbConnection,
    token_hash: &str,
    max_attempts: i32,
    now: NaiveDateTime,
) -> QueryResult<Option<ChallengeRow>> {
    let counted = diesel::update(
        mfa_challenges::table
            .filter(mfa_challenges::token_hash.eq(token_hash))
            .filter(mfa_challenges::attempts.lt(max_attempts))
            .filter(mfa_challenges::expires_at.gt(now)),
    )
    .set(mfa_challenges::attempts.eq(mfa_challenges::attempts + 1))
    .execute(conn)?;
    if counted == 0 {
        return Ok(None);
    }
    mfa_challenges::table
        .find(token_hash)
        .select(ChallengeRow::as_select())
        .get_result(conn)
        .optional()
}

/// Ends a challenge; `false` if it was already ended (by a racing request).
pub fn finish_challenge(conn: &mut DbConnection, token_hash: &str) -> QueryResult<bool> {
    diesel::delete(mfa_challenges::table.find(token_hash))
        .execute(conn)
        .map(|deleted| deleted == 1)
}

/// Ends every waiting login of the user (a password change voids them).
pub fn void_challenges(conn: &mut DbConnection, user_id: &str) -> QueryResult<usize> {
    diesel::delete(mfa_challenges::table.filter(mfa_challenges::user_id.eq(user_id))).execute(conn)
}

/// Deletes challenges that expired before `now`.
pub fn prune_challenges(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(mfa_challenges::table.filter(mfa_challenges::expires_at.le(now))).execute(conn)
}
