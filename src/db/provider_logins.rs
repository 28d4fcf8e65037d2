//! Sign-ins at another provider in flight (see `service::federation`): the
//! attempt between the start and the provider's callback, and the login code
//! the app exchanges for tokens. Both are spent by deleting them, which
//! decides between two requests racing with one state or code.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::{link_tickets, login_codes, provider_attempts};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = provider_attempts)]
pub struct ProviderAttemptRow {
    /// SHA-256 of the `state` sent to the provider, hex.
    pub state_hash: String,
    pub provider: String,
    /// SHA-256 of the `portcullis_oauth` cookie that binds it to a browser.
    pub browser_hash: String,
    /// The nonce and the PKCE verifier towards the provider, sealed.
    pub sealed_secrets: String,
    pub redirect_to: String,
    /// The app's own PKCE challenge (S256), checked at `/login/code`.
    pub code_challenge: Option<String>,
    pub remember: bool,
    /// Linking: the account the identity is for.
    pub link_user_id: Option<String>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

pub fn insert_attempt(conn: &mut DbConnection, row: &ProviderAttemptRow) -> QueryResult<()> {
    diesel::insert_into(provider_attempts::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// Spends the attempt of a state: returns it if it existed (expired or not;
/// the caller decides), and it is gone afterwards either way.
pub fn take_attempt(
    conn: &mut DbConnection,
    state_hash: &str,
) -> QueryResult<Option<ProviderAttemptRow>> {
    let Some(row) = provider_attempts::table
        .find(state_hash)
        .select(ProviderAttemptRow::as_select())
        .get_result(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let deleted = diesel::delete(provider_attempts::table.find(state_hash)).execute(conn)?;
    Ok((deleted == 1).then_some(row))
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = login_codes)]
pub struct LoginCodeRow {
    /// SHA-256 of the code, hex.
    pub code_hash: String,
    pub user_id: String,
    pub provider: String,
    pub code_challenge: Option<String>,
    pub remember: bool,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

pub fn insert_code(conn: &mut DbConnection, row: &LoginCodeRow) -> QueryResult<()> {
    diesel::insert_into(login_codes::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// Spends a login code: returns it if it was live, and it is gone afterwards
/// whatever comes of it (a wrong verifier spends it too).
pub fn take_code(
    conn: &mut DbConnection,
    code_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<LoginCodeRow>> {
    let Some(row) = login_codes::table
        .find(code_hash)
        .select(LoginCodeRow::as_select())
        .get_result(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let deleted = diesel::delete(login_codes::table.find(code_hash)).execute(conn)?;
    Ok((deleted == 1 && row.expires_at > now).then_some(row))
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = link_tickets)]
pub struct LinkTicketRow {
    /// SHA-256 of the ticket, hex.
    pub ticket_hash: String,
    pub user_id: String,
    pub provider: String,
    pub redirect_to: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

pub fn insert_ticket(conn: &mut DbConnection, row: &LinkTicketRow) -> QueryResult<()> {
    diesel::insert_into(link_tickets::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// Spends a link ticket: returns it if it was live; gone afterwards.
pub fn take_ticket(
    conn: &mut DbConnection,
    ticket_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<LinkTicketRow>> {
    let Some(row) = link_tickets::table
        .find(ticket_hash)
        .select(LinkTicketRow::as_select())
        .get_result(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let deleted = diesel::delete(link_tickets::table.find(ticket_hash)).execute(conn)?;
    Ok((deleted == 1 && row.expires_at > now).then_some(row))
}

/// Deletes attempts, codes and tickets that expired before `now`.
pub fn prune(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<usize> {
    let tickets = diesel::delete(link_tickets::table.filter(link_tickets::expires_at.le(now)))
        .execute(conn)?;
    let attempts =
        diesel::delete(provider_attempts::table.filter(provider_attempts::expires_at.le(now)))
            .execute(conn)?;
    let codes =
        diesel::delete(login_codes::table.filter(login_codes::expires_at.le(now))).execute(conn)?;
    Ok(tickets + attempts + codes)
}
