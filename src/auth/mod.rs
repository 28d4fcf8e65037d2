//! Credentials: password hashing and tokens. Neither knows about HTTP or the
//! database; the use-cases in `service` combine them.

pub mod password;
pub mod tokens;
