//! Values that must not leak: passwords, one-time codes, tokens and keys, as
//! they travel from a request body or a setting to the function that checks
//! or uses them.

use std::fmt;

use zeroize::Zeroizing;

/// A secret: its `Debug` output never shows it, and its memory is zeroed when
/// it is dropped, so neither a log line nor a later reader of freed memory
/// finds it. Read it with [`Secret::expose`] only where it is used.
#[derive(Clone, Default)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl From<String> for Secret {
    fn from(secret: String) -> Self {
        Self(Zeroizing::new(secret))
    }
}

impl From<&str> for Secret {
    fn from(secret: &str) -> Self {
        Self::from(secret.to_owned())
    }
}

/// Settings compare their secrets (a setting given twice must agree). In
/// constant time, so that no use of it can become a timing oracle.
impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(
            self.expose().as_bytes(),
            other.expose().as_bytes(),
        )
        .is_ok()
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(secret: &str) -> Result<Self, Self::Err> {
        Ok(Self::from(secret.to_owned()))
    }
}

/// Request bodies give their secrets as JSON strings.
impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_secret() {
        let secret = Secret::from("hunter2 horse battery".to_owned());
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        assert_eq!(secret.expose(), "hunter2 horse battery");
        let read: Secret = serde_json::from_str("\"from a body\"").unwrap_or_default();
        assert_eq!(read.expose(), "from a body");
    }

    #[test]
    fn secrets_are_equal_only_byte_for_byte() {
        assert!(Secret::from("same words") == Secret::from("same words"));
        assert!(Secret::from("same words") != Secret::from("same wordS"));
        assert!(Secret::from("same words") != Secret::from("same words "));
        assert!(Secret::from("") == Secret::default());
    }
}
