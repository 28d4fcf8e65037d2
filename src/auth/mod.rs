//! Credentials: password hashing, tokens, second factors and the encryption
//! of stored secrets. None of it knows about HTTP or the database; the
//! use-cases in `service` combine them.

pub mod encryption;
mod key_files;
pub mod oauth_tokens;
pub mod passkeys;
pub mod password;
pub mod providers;
pub mod random;
pub mod recovery_codes;
pub mod tokens;
pub mod totp;
