//! One-time secrets handed out in links, login challenges and ceremonies: 256
//! random bits, of which the database keeps only the SHA-256.

use crate::auth::random::{self, NoRandomness};
use crate::db::StoreError;

/// A fresh one-time secret: the token given out once (in a link, a cookie, a
/// challenge) and its hash, all the database keeps of it.
pub struct OneTimeToken {
    /// 256 random bits, base64url (43 characters).
    pub token: String,
    /// [`token_hash`] of `token`: how it is stored and looked up.
    pub hash: String,
}

impl OneTimeToken {
    pub fn new() -> Result<Self, NoRandomness> {
        use base64::Engine as _;
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random::bytes::<32>()?);
        let hash = token_hash(&token);
        Ok(Self { token, hash })
    }
}

/// A use-case fails on a failed random draw as it does on a broken database:
/// an internal error, logged (as what it is) and never shown.
impl From<NoRandomness> for StoreError {
    fn from(error: NoRandomness) -> Self {
        Self::Failed(error.into())
    }
}

/// The SHA-256 of a token, hex: how a token is looked up.
pub fn token_hash(token: &str) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes())
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bits_and_only_their_hash_is_kept() {
        let OneTimeToken { token, hash } = OneTimeToken::new().unwrap();
        assert_eq!(token.len(), 43);
        assert_eq!(hash, token_hash(&token));
        assert_eq!(hash.len(), 64);
        assert_ne!(token, hash);
    }
}
