//! Encryption at rest for secrets the service must read back (TOTP secrets,
//! later WebAuthn credentials): AES-256-GCM under the data encryption key, so
//! a database dump alone reveals none of them.
//!
//! A sealed value is `v1.<kid>.<base64url(nonce ‖ ciphertext ‖ tag)>`: the key
//! id says which key opens it, so keys rotate like signing keys. The current
//! key (`DATA_ENCRYPTION_KEY_FILE`) seals; it and the older keys
//! (`DATA_ENCRYPTION_OLD_KEY_FILES`) open; a value opened with an older key is
//! sealed again with the current one by the code that uses it. Every value is
//! bound to what it belongs to (associated data such as `totp:<user id>`), so a
//! sealed secret copied onto another account does not open.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use super::key_files;
use crate::config::EncryptionSettings;
use crate::db::DatabaseUrl;

const FORMAT: &str = "v1";
const KEY_LEN: usize = 32;

/// Why a sealed value could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Sealed with a key this node does not have.
    #[error("sealed with unknown key {0}; add it to DATA_ENCRYPTION_OLD_KEY_FILES")]
    UnknownKey(String),
    /// Malformed, tampered with, or bound to something else.
    #[error("the sealed value is corrupt or belongs to something else")]
    Corrupt,
}

/// What opening a value gave (no `Debug`: it holds the plaintext).
pub struct Opened {
    pub plaintext: Vec<u8>,
    /// Sealed with an older key: seal it again with the current one.
    pub stale: bool,
}

pub struct DataCipher {
    current_kid: String,
    keys: HashMap<String, LessSafeKey>,
}

impl DataCipher {
    pub fn from_settings(
        settings: &EncryptionSettings,
        database: &DatabaseUrl,
    ) -> anyhow::Result<Self> {
        let current = match &settings.data_encryption_key_file {
            Some(path) => read_key_file(path)?,
            None => parse_key(&key_files::load_or_create(
                database.file_beside("data.key"),
                "data encryption key (set DATA_ENCRYPTION_KEY_FILE in production)",
                generate_key,
            )?)
            .context("the development data encryption key is unreadable")?,
        };
        let mut cipher = Self {
            current_kid: key_id(&current),
            keys: HashMap::new(),
        };
        cipher.add(&current)?;
        for path in &settings.data_encryption_old_key_files {
            cipher.add(&read_key_file(path)?)?;
        }
        Ok(cipher)
    }

    /// A cipher with a key that lives as long as the process, for one-shot
    /// commands that seal nothing worth keeping.
    pub fn throwaway() -> anyhow::Result<Self> {
        let key = parse_key(&generate_key()?)?;
        let mut cipher = Self {
            current_kid: key_id(&key),
            keys: HashMap::new(),
        };
        cipher.add(&key)?;
        Ok(cipher)
    }

    fn add(&mut self, key: &[u8; KEY_LEN]) -> anyhow::Result<()> {
        let unbound = UnboundKey::new(&AES_256_GCM, key)
            .map_err(|_| anyhow::anyhow!("not an AES-256 key"))?;
        self.keys.insert(key_id(key), LessSafeKey::new(unbound));
        Ok(())
    }

    /// Seals `plaintext` with the current key, bound to `context`.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> anyhow::Result<String> {
        let key = self
            .keys
            .get(&self.current_kid)
            .context("the current data encryption key is missing")?;
        let nonce = super::random::bytes::<NONCE_LEN>()?;
        let mut sealed = plaintext.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(context.as_bytes()),
            &mut sealed,
        )
        .map_err(|_| anyhow::anyhow!("sealing failed"))?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        Ok(format!(
            "{FORMAT}.{}.{}",
            self.current_kid,
            URL_SAFE_NO_PAD.encode(bytes)
        ))
    }

    /// Opens a value [`DataCipher::seal`] made for the same `context`.
    pub fn open(&self, context: &str, sealed: &str) -> Result<Opened, OpenError> {
        let mut parts = sealed.splitn(3, '.');
        let (Some(FORMAT), Some(kid), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(OpenError::Corrupt);
        };
        let key = self
            .keys
            .get(kid)
            .ok_or_else(|| OpenError::UnknownKey(kid.to_owned()))?;
        let bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| OpenError::Corrupt)?;
        if bytes.len() < NONCE_LEN {
            return Err(OpenError::Corrupt);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| OpenError::Corrupt)?;
        let mut in_out = ciphertext.to_vec();
        let plaintext = key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut in_out)
            .map_err(|_| OpenError::Corrupt)?
            .to_vec();
        Ok(Opened {
            plaintext,
            stale: kid != self.current_kid,
        })
    }
}

/// A new key as its file holds it: 32 random bytes, base64.
pub fn generate_key() -> anyhow::Result<String> {
    let key = super::random::bytes::<KEY_LEN>()?;
    Ok(format!("{}\n", STANDARD.encode(key)))
}

fn read_key_file(path: &PathBuf) -> anyhow::Result<[u8; KEY_LEN]> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the data encryption key {}", path.display()))?;
    parse_key(&text).with_context(|| format!("in {}", path.display()))
}

fn parse_key(text: &str) -> anyhow::Result<[u8; KEY_LEN]> {
    let bytes = STANDARD.decode(text.trim()).context(
        "a data encryption key file holds 32 random bytes in base64 (`openssl rand -base64 32`)",
    )?;
    match <[u8; KEY_LEN]>::try_from(bytes) {
        Ok(key) => Ok(key),
        Err(bytes) => bail!(
            "a data encryption key is 32 bytes, this one is {} (`openssl rand -base64 32`)",
            bytes.len()
        ),
    }
}

/// A short public name for a key: it may be stored beside what it sealed.
fn key_id(key: &[u8; KEY_LEN]) -> String {
    let mut input = b"portcullis data key id\0".to_vec();
    input.extend_from_slice(key);
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &input);
    URL_SAFE_NO_PAD.encode(&digest.as_ref()[..9])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher_with(current: &str, old: &[&str]) -> DataCipher {
        let dir = tempfile::tempdir().expect("temp dir");
        let write = |name: &str, content: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, content).expect("write key");
            path
        };
        let settings = EncryptionSettings {
            data_encryption_key_file: Some(write("current", current)),
            data_encryption_old_key_files: old
                .iter()
                .enumerate()
                .map(|(i, key)| write(&format!("old{i}"), key))
                .collect(),
        };
        DataCipher::from_settings(&settings, &DatabaseUrl::Sqlite(":memory:".into()))
            .expect("cipher")
    }

    #[test]
    fn a_sealed_value_opens_only_in_its_own_context() {
        let key = generate_key().expect("key");
        let cipher = cipher_with(&key, &[]);
        let sealed = cipher.seal("totp:alice", b"secret bytes").expect("seal");
        assert!(!sealed.contains("secret"));
        let opened = cipher.open("totp:alice", &sealed).expect("open");
        assert_eq!(opened.plaintext, b"secret bytes");
        assert!(!opened.stale);
        assert!(matches!(
            cipher.open("totp:mallory", &sealed),
            Err(OpenError::Corrupt)
        ));
    }

    #[test]
    fn two_seals_of_one_value_differ() {
        let cipher = cipher_with(&generate_key().expect("key"), &[]);
        let first = cipher.seal("c", b"same").expect("seal");
        assert_ne!(first, cipher.seal("c", b"same").expect("seal"));
    }

    #[test]
    fn tampering_is_detected() {
        let cipher = cipher_with(&generate_key().expect("key"), &[]);
        let sealed = cipher.seal("c", b"value").expect("seal");
        let mut bytes = sealed.into_bytes();
        let last = bytes.len() - 2;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).expect("ascii");
        assert!(matches!(
            cipher.open("c", &tampered),
            Err(OpenError::Corrupt)
        ));
        assert!(matches!(cipher.open("c", "v1.x"), Err(OpenError::Corrupt)));
        assert!(matches!(cipher.open("c", ""), Err(OpenError::Corrupt)));
    }

    #[test]
    fn an_old_key_still_opens_and_marks_the_value_stale() {
        let (old, new) = (generate_key().expect("key"), generate_key().expect("key"));
        let sealed = cipher_with(&old, &[]).seal("c", b"value").expect("seal");
        let rotated = cipher_with(&new, &[&old]);
        let opened = rotated.open("c", &sealed).expect("open");
        assert_eq!(opened.plaintext, b"value");
        assert!(opened.stale);
        assert!(matches!(
            cipher_with(&new, &[]).open("c", &sealed),
            Err(OpenError::UnknownKey(_))
        ));
    }

    #[test]
    fn a_key_file_must_hold_32_bytes() {
        assert!(parse_key("c2hvcnQ=").is_err());
        assert!(parse_key("not base64!").is_err());
        assert!(parse_key(&generate_key().expect("key")).is_ok());
    }
}
