//! An account as the use-cases hand it out: typed, and never with its
//! password hash.

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::db::StoreError;
use crate::db::users::UserRow;
use crate::domain::{Email, Role, UserId, Username};

/// An account as the use-cases hand it out: typed, and never with its
/// password hash.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: UserId,
    pub username: Username,
    pub email: Email,
    pub role: Role,
    pub disabled: bool,
    /// The owner proved the address.
    pub email_verified: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub mfa: MfaStatus,
}

/// Which second factors an account has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MfaStatus {
    /// TOTP is confirmed: logins need a code.
    pub totp: bool,
    pub passkeys: u32,
    pub recovery_codes_left: u32,
}

impl Account {
    /// Reads a stored row; a row this version cannot read (an unknown role, an
    /// id that is not a UUID) is a storage failure, never a silent default.
    pub(super) fn from_row(row: &UserRow) -> Result<Self, StoreError> {
        let unreadable =
            |what: &str| StoreError::Failed(anyhow::anyhow!("account {}: {what}", row.id));
        Ok(Self {
            id: UserId::from(crate::db::stored_uuid("account", &row.id)?),
            username: Username::from_stored(row.username.clone()),
            email: Email::from_stored(row.email.clone()),
            role: Role::from_stored(&row.role).ok_or_else(|| unreadable("unknown role"))?,
            disabled: row.disabled,
            email_verified: row.email_verified,
            created_at: utc(row.created_at),
            updated_at: utc(row.updated_at),
            last_login_at: row.last_login_at.map(utc),
            mfa: MfaStatus {
                totp: row.totp_enabled,
                passkeys: u32::try_from(row.passkey_count).unwrap_or_default(),
                recovery_codes_left: u32::try_from(row.recovery_codes_left).unwrap_or_default(),
            },
        })
    }
}

fn utc(at: NaiveDateTime) -> DateTime<Utc> {
    at.and_utc()
}
