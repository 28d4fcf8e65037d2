//! Who is asking: the client of a request, and the bearer of a valid access
//! token with the factor rules that depend on how its session was opened.
//! Every use-case that acts for someone takes these; they depend on nothing
//! but the account they describe.

use super::account::Account;
use crate::domain::Amr;

/// Who is calling, as recorded on sessions and audit events and as counted by
/// the rate limits: the client address and user agent. Empty for the CLI.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The bearer of a valid access token whose session is still live and whose
/// account is enabled.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account: Account,
    pub session_id: String,
    /// How the session was authenticated (the access token's `amr`).
    pub amr: Amr,
    /// For confirming the caller's password; never leaves the service layer.
    pub(in crate::service) password_hash: String,
    /// The owner chose a password (accounts made by a provider or a mailed
    /// link confirm changes with a fresh login instead).
    pub(in crate::service) has_password: bool,
    /// When the caller's session was opened (its login).
    pub(in crate::service) session_started_at: chrono::NaiveDateTime,
}

impl Caller {
    /// The session was opened with a second factor (a TOTP code, a recovery
    /// code or a passkey), not a password alone.
    pub fn has_second_factor(&self) -> bool {
        self.amr.has_second_factor()
    }

    /// The factor rule for adding or removing a factor: an account that has a
    /// second factor (TOTP or a passkey) changes its factors only from a
    /// session that proved one, so a stolen password (or a session opened
    /// with it before the factor existed) cannot add its own or remove the
    /// owner's. An account without one may add its first with the password.
    pub fn may_change_factors(&self) -> Result<(), StepUpRequired> {
        let account_has_one = self.account.mfa.totp || self.account.mfa.passkeys > 0;
        if account_has_one && !self.has_second_factor() {
            return Err(StepUpRequired);
        }
        Ok(())
    }
}

/// A factor change asked for from a session opened with one factor only, on
/// an account that has two: log in again with the second factor.
#[derive(Debug, thiserror::Error)]
#[error("a session opened with a second factor is required")]
pub struct StepUpRequired;
