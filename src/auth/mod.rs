//! Who the caller is: passwords, tokens and the extractors built on them.

pub mod extractors;
pub mod password;
pub mod tokens;
