//! An account's values: its id, role, username, email and password, each
//! parsed once. Error messages never repeat what the client sent (it may be a
//! password). The length limits here are the only ones: validation and the
//! OpenAPI schema both use them.

use std::collections::HashSet;
use std::fmt;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use validator::ValidateEmail;

use super::secret::Secret;
use super::violation::Violation;

pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 32;
pub const EMAIL_MAX: usize = 254;
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 128;
/// Longest password accepted where an existing one is checked (login,
/// confirmations): new passwords are limited to [`PASSWORD_MAX`]; this only
/// bounds the work an attacker can ask for.
pub const LOGIN_PASSWORD_MAX: usize = 1024;

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }

    /// The role of a stored account; `None` for a value this version does not
    /// know (never silently a lesser role).
    pub fn from_stored(stored: &str) -> Option<Self> {
        match stored {
            "user" => Some(Self::User),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// An account's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserId(uuid::Uuid);

impl UserId {
    pub fn new_random() -> Self {
        Self(uuid::Uuid::new_v4())
    }

    /// `None` for anything that is not a UUID (never a nil id).
    pub fn parse(raw: &str) -> Option<Self> {
        uuid::Uuid::parse_str(raw).ok().map(Self)
    }

    pub fn as_uuid(self) -> uuid::Uuid {
        self.0
    }
}

impl From<uuid::Uuid> for UserId {
    fn from(id: uuid::Uuid) -> Self {
        Self(id)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// 3–32 of `[A-Za-z0-9_.-]`; unique ignoring case, stored as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, Violation> {
        let length = raw.chars().count();
        if length < USERNAME_MIN {
            return Err(Violation::new(
                "too_short",
                format!("must be at least {USERNAME_MIN} characters"),
            ));
        }
        if length > USERNAME_MAX {
            return Err(Violation::too_long(USERNAME_MAX));
        }
        if !raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return Err(Violation::new(
                "invalid_characters",
                "may contain only letters A–Z, digits, '_', '.' and '-'",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A stored username, trusted as it is.
    pub fn from_stored(stored: String) -> Self {
        Self(stored)
    }
}

/// A syntactically valid address in the one form it is stored and compared
/// in: the local part lower-cased and ASCII only (internationalised local parts,
/// RFC 6531, are refused, and with them every invisible or control character a
/// lookalike could hide), the domain mapped by UTS #46 (IDNA) to its lower-case
/// ASCII form, so `x@ｅｘａｍｐｌｅ.com`, `x@exam\u{ad}ple.com` and
/// `x@example。com` are all `x@example.com`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, Violation> {
        if raw.chars().count() > EMAIL_MAX {
            return Err(Violation::too_long(EMAIL_MAX));
        }
        let invalid = || Violation::new("invalid_email", "must be an email address");
        let (local, domain) = raw.rsplit_once('@').ok_or_else(invalid)?;
        if !local.chars().all(|c| c.is_ascii_graphic()) {
            return Err(Violation::new(
                "invalid_characters",
                "the part before @ may contain only visible ASCII characters",
            ));
        }
        // A dot-atom: no dot first, last or twice in a row (mail servers
        // refuse such addresses, so a message to one could never go out).
        if local.is_empty()
            || local.starts_with('.')
            || local.ends_with('.')
            || local.contains("..")
        {
            return Err(invalid());
        }
        let domain = idna::domain_to_ascii_strict(domain).map_err(|_| invalid())?;
        let normalised = format!("{}@{domain}", local.to_ascii_lowercase());
        if normalised.len() > EMAIL_MAX || !normalised.validate_email() {
            return Err(invalid());
        }
        Ok(Self(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A stored address, trusted as it is.
    pub fn from_stored(stored: String) -> Self {
        Self(stored)
    }
}

/// The most common passwords (Royce Williams' list of ~20,000, as shipped by
/// Django under the BSD licence), compared case-insensitively.
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("common-passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect()
});

/// A password a user chose, checked against the rules. Its `Debug` output
/// never shows it.
#[derive(Clone)]
pub struct NewPassword(Secret);

impl NewPassword {
    /// Checks `password` for an account with this username and email.
    pub fn parse(password: Secret, username: &str, email: &str) -> Result<Self, Vec<Violation>> {
        check_new_password(password.expose(), username, email)?;
        Ok(Self(password))
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    pub fn into_inner(self) -> Secret {
        self.0
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(***)")
    }
}

/// Checks a password a user chooses: 8–128 characters (counted as characters,
/// never truncated), no composition rules, not the username or the email, not a
/// common password.
fn check_new_password(password: &str, username: &str, email: &str) -> Result<(), Vec<Violation>> {
    let mut errors = Vec::new();
    let length = password.chars().count();
    if length < PASSWORD_MIN {
        errors.push(Violation::new(
            "too_short",
            format!("must be at least {PASSWORD_MIN} characters"),
        ));
    }
    if length > PASSWORD_MAX {
        errors.push(Violation::too_long(PASSWORD_MAX));
    }
    let lowered = password.to_lowercase();
    if lowered == username.to_lowercase() || lowered == email.to_lowercase() {
        errors.push(Violation::new(
            "matches_identity",
            "must not be the username or the email",
        ));
    }
    if COMMON_PASSWORDS.contains(lowered.as_str()) {
        errors.push(Violation::new(
            "too_common",
            "is one of the most commonly used passwords; choose another",
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_contract() {
        assert!(Username::parse("ada.l-0_").is_ok());
        assert_eq!(Username::parse("ab").unwrap_err().code, "too_short");
        assert_eq!(
            Username::parse(&"a".repeat(33)).unwrap_err().code,
            "too_long"
        );
        assert_eq!(
            Username::parse("ada lovelace").unwrap_err().code,
            "invalid_characters"
        );
        assert_eq!(
            Username::parse("adé").unwrap_err().code,
            "invalid_characters"
        );
    }

    #[test]
    fn lookalike_spellings_of_one_address_are_one_address() {
        for lookalike in [
            "x@exam\u{ad}ple.com",
            "x@ｅｘａｍｐｌｅ.com",
            "x@example\u{3002}com",
            "x@\u{1d41e}\u{1d431}ample.com",
            "X@EXAMPLE.COM",
        ] {
            assert_eq!(
                Email::parse(lookalike).unwrap().as_str(),
                "x@example.com",
                "{lookalike:?}"
            );
        }
        assert_eq!(
            Email::parse("ada@bücher.example").unwrap().as_str(),
            "ada@xn--bcher-kva.example"
        );
    }

    #[test]
    fn invisible_and_control_characters_are_refused_before_the_at() {
        for bad in [
            "a\u{ad}b@example.com",
            "a\u{200b}b@example.com",
            "a\u{0}b@example.com",
            "ü@example.com",
        ] {
            assert_eq!(
                Email::parse(bad).unwrap_err().code,
                "invalid_characters",
                "{bad:?}"
            );
        }
        assert_eq!(
            Email::parse("a@exa\u{0}mple.com").unwrap_err().code,
            "invalid_email"
        );
        for undeliverable in ["a..b@x.com", ".a@x.com", "a.@x.com", "@x.com"] {
            assert_eq!(
                Email::parse(undeliverable).unwrap_err().code,
                "invalid_email",
                "{undeliverable}"
            );
        }
    }

    #[test]
    fn emails_are_validated_and_lower_cased() {
        assert_eq!(
            Email::parse("Ada@Example.COM").unwrap().as_str(),
            "ada@example.com"
        );
        assert_eq!(
            Email::parse("not-an-email").unwrap_err().code,
            "invalid_email"
        );
    }

    #[test]
    fn the_common_password_list_is_large_and_matches_ignoring_case() {
        assert!(COMMON_PASSWORDS.len() >= 10_000);
        let errors = check_new_password("PassWord123", "ada", "ada@example.com").unwrap_err();
        assert_eq!(errors[0].code, "too_common");
    }

    #[test]
    fn password_rules_count_characters_and_never_echo_the_password() {
        assert!(check_new_password("ünïcødé-pässwörd", "ada", "a@b.co").is_ok());
        assert!(check_new_password(&"é".repeat(128), "ada", "a@b.co").is_ok());
        let too_long = check_new_password(&"x7".repeat(65), "ada", "a@b.co").unwrap_err();
        assert_eq!(too_long[0].code, "too_long");
        let same = check_new_password("Ada-Lovelace", "ada-lovelace", "a@b.co").unwrap_err();
        assert_eq!(same[0].code, "matches_identity");
        for error in check_new_password("short", "ada", "a@b.co").unwrap_err() {
            assert!(!error.message.contains("short"));
        }
    }
}
