//! Accounts made by a sign-in rather than a form (a mailed link with
//! `EMAIL_LOGIN_SIGNUP=on`, a provider with `SIGNUP=open`): no password
//! anyone knows, the address proven by the sign-in, a username derived from
//! what is known and made unique.

use chrono::NaiveDateTime;

use super::login::LoginError;
use super::one_time::OneTimeToken;
use super::ports::HasHasher;
use crate::db::users::{self, UserRow};
use crate::db::{Conflict, StoreError};
use crate::domain::Username;

/// An account for `email`, its username from `name` (a provider's
/// `preferred_username` or name) or else the address's local part. Its
/// password is random and hashed like any other, so a password login answers
/// as for a wrong password; `has_password` is false until the owner sets one.
pub async fn passwordless_account(
    deps: &impl HasHasher,
    email: &str,
    name: Option<&str>,
    now: NaiveDateTime,
) -> Result<UserRow, LoginError> {
    let OneTimeToken {
        token: unknowable, ..
    } = OneTimeToken::new()?;
    let password_hash = deps.passwords().hash(unknowable.into()).await?;
    let local_part = email.split('@').next().unwrap_or_default();
    Ok(UserRow {
        id: uuid::Uuid::new_v4().to_string(),
        username: username_from(name.unwrap_or(local_part)),
        email: email.to_owned(),
        password_hash,
        role: crate::domain::Role::User.as_str().to_owned(),
        disabled: false,
        created_at: now,
        updated_at: now,
        last_login_at: None,
        email_verified: true,
        totp_enabled: false,
        recovery_codes_left: 0,
        passkey_count: 0,
        has_password: false,
    })
}

/// `text` in the username alphabet, 3 to 24 characters (room for a suffix
/// that makes it unique).
fn username_from(text: &str) -> String {
    let mut name: String = text
        .chars()
        .map(|c| if c == ' ' { '.' } else { c })
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        .take(24)
        .collect();
    if name.chars().count() < 3 {
        name = format!("user{name}");
    }
    name
}

/// Inserts `row`, its username made unique with a random suffix when taken
/// (also when a racing sign-up takes it between the check and the insert).
/// An address taken meanwhile is the [`Conflict::Email`] it is; the refused
/// insert is undone alone, so the caller's transaction goes on.
pub fn insert_with_free_username(
    conn: &mut crate::db::DbConnection,
    mut row: UserRow,
) -> Result<Result<UserRow, Conflict>, StoreError> {
    for _ in 0..5 {
        if users::find_by_username(conn, &row.username)?.is_none()
            && Username::parse(&row.username).is_ok()
        {
            match users::insert(conn, &row)? {
                Ok(()) => return Ok(Ok(row)),
                // A racing sign-up took the name since the check: another.
                Err(Conflict::Username) => {}
                // It took the address: the caller decides.
                Err(conflict) => return Ok(Err(conflict)),
            }
        }
        let OneTimeToken { token: random, .. } = OneTimeToken::new()?;
        let suffix: String = random
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(6)
            .collect();
        let base: String = row.username.chars().take(24).collect();
        row.username = format!("{base}-{}", suffix.to_ascii_lowercase());
    }
    Err(StoreError::Failed(anyhow::anyhow!(
        "no free username for a new account"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_from_names_and_addresses_fit_the_rules() {
        assert_eq!(username_from("ada.lovelace"), "ada.lovelace");
        assert_eq!(username_from("Ada Lovelace"), "Ada.Lovelace");
        assert_eq!(username_from("a"), "usera");
        assert_eq!(username_from("ünï+tag"), "ntag");
        assert_eq!(username_from("é+"), "user");
        let long = username_from(&"x".repeat(60));
        assert_eq!(long.len(), 24);
        for name in [
            "ada.lovelace",
            "Ada.Lovelace",
            "usera",
            "ntag",
            "user",
            &long,
        ] {
            assert!(Username::parse(name).is_ok(), "{name}");
        }
    }
}
