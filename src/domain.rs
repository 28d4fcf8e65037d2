//! Values with rules: parsed once at the edge, trusted after. Error messages
//! never repeat what the client sent (it may be a password).

use std::collections::HashSet;
use std::sync::LazyLock;

use validator::ValidateEmail;

use crate::error::FieldError;

pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 32;
pub const EMAIL_MAX: usize = 254;
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 128;

/// 3–32 of `[A-Za-z0-9_.-]`; unique ignoring case, stored as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let length = raw.chars().count();
        if length < USERNAME_MIN {
            return Err(FieldError::new(
                "too_short",
                format!("must be at least {USERNAME_MIN} characters"),
            ));
        }
        if length > USERNAME_MAX {
            return Err(FieldError::new(
                "too_long",
                format!("must be at most {USERNAME_MAX} characters"),
            ));
        }
        if !raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return Err(FieldError::new(
                "invalid_characters",
                "may contain only letters A–Z, digits, '_', '.' and '-'",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A syntactically valid address, lower-cased as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        if raw.chars().count() > EMAIL_MAX {
            return Err(FieldError::new(
                "too_long",
                format!("must be at most {EMAIL_MAX} characters"),
            ));
        }
        if !raw.validate_email() {
            return Err(FieldError::new("invalid_email", "must be an email address"));
        }
        Ok(Self(raw.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The most common passwords (Royce Williams' list of ~20,000, as shipped by
/// Django under the BSD licence), compared case-insensitively.
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("auth/common-passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect()
});

/// Checks a password a user chooses: 8–128 characters (counted as characters,
/// never truncated), no composition rules, not the username or the email, not a
/// common password.
pub fn check_new_password(
    password: &str,
    username: &str,
    email: &str,
) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    let length = password.chars().count();
    if length < PASSWORD_MIN {
        errors.push(FieldError::new(
            "too_short",
            format!("must be at least {PASSWORD_MIN} characters"),
        ));
    }
    if length > PASSWORD_MAX {
        errors.push(FieldError::new(
            "too_long",
            format!("must be at most {PASSWORD_MAX} characters"),
        ));
    }
    let lowered = password.to_lowercase();
    if lowered == username.to_lowercase() || lowered == email.to_lowercase() {
        errors.push(FieldError::new(
            "matches_identity",
            "must not be the username or the email",
        ));
    }
    if COMMON_PASSWORDS.contains(lowered.as_str()) {
        errors.push(FieldError::new(
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
