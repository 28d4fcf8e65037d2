//! Signing and verifying tokens: keys by `kid`, the published JWKS, and the two
//! kinds of JWT (access and refresh), told apart by their `typ` header.
//!
//! Verification never trusts the token about how to verify it: the algorithm
//! is pinned by configuration, the key is chosen only by `kid` among our own
//! keys (`jku`, `x5u` and embedded `jwk` headers are ignored), and `typ`, `iss`,
//! `aud` and `exp` are required.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::key_files;
use crate::config::{JwtAlgorithm, TokenSettings};
use crate::db::DatabaseUrl;

/// Why a token was refused, or could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Malformed, wrongly signed, of the wrong kind, or with the wrong claims.
    #[error("invalid token")]
    Invalid,
    #[error("token expired")]
    Expired,
    #[error(transparent)]
    Failed(anyhow::Error),
}

impl PartialEq for TokenError {
    fn eq(&self, other: &Self) -> bool {
        matches!(
            (self, other),
            (Self::Invalid, Self::Invalid) | (Self::Expired, Self::Expired)
        )
    }
}

/// Claims whose expiry Portcullis checks against its own clock (not the
/// system's), so that time moved in tests moves for tokens too.
pub trait Expiring {
    fn exp(&self) -> i64;
}

pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";
pub const REFRESH_TOKEN_TYPE: &str = "refresh+jwt";
/// A refresh token without `remember: true` lives at most this long.
pub const SHORT_SESSION_SECS: u64 = 86_400;

/// Claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The user's id.
    pub sub: String,
    /// The session's id.
    pub sid: String,
    pub role: String,
    /// How the session was authenticated (RFC 8176 values: `pwd`, `otp`,
    /// `mfa`, `hwk`, `user`). Tokens from before it was issued have none.
    #[serde(default)]
    pub amr: Vec<String>,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

impl Expiring for AccessClaims {
    fn exp(&self) -> i64 {
        self.exp
    }
}

impl Expiring for RefreshClaims {
    fn exp(&self) -> i64 {
        self.exp
    }
}

/// Access tokens whose verification is remembered: a few MiB at most (a
/// token is well under 1 KiB with its claims).
const VERIFIED_ACCESS_TOKENS: usize = 4096;

/// Claims of a refresh token; `jti` is the session's current refresh-token id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

/// One public key of the JWKS (RFC 7517): an Ed25519 key (RFC 8037, `OKP`)
/// for access tokens and EdDSA ID tokens, or the RSA key (RFC 7518, `RSA`)
/// of RS256 ID tokens.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Jwk {
    /// `OKP` or `RSA`.
    #[schema(example = "OKP")]
    pub kty: &'static str,
    /// `OKP` keys only: the curve.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "Ed25519")]
    pub crv: Option<&'static str>,
    /// `OKP` keys only: the public key, base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// `RSA` keys only: the modulus, base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// `RSA` keys only: the public exponent, base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// RFC 7638 thumbprint of the key.
    pub kid: String,
    #[schema(example = "EdDSA")]
    pub alg: &'static str,
    #[serde(rename = "use")]
    #[schema(example = "sig")]
    pub key_use: &'static str,
}

/// The public keys that verify Portcullis access tokens.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

pub struct TokenService {
    /// The signing key's secret material, from which other secrets every node
    /// shares are derived (see [`TokenService::derive_secret`]).
    secret_material: Vec<u8>,
    algorithm: Algorithm,
    signing_kid: String,
    signer: Signer,
    verification_keys: HashMap<String, DecodingKey>,
    /// Access tokens that passed [`TokenService::verify_access`], by their
    /// exact text. A client sends one access token with every request for its
    /// lifetime, and the Ed25519 check is most of what `/me` costs; the same
    /// text verifies the same way every time (keys change only at a restart).
    /// Expiry is still checked on every use. Bounded, least recently used out.
    verified_access: quick_cache::sync::Cache<String, AccessClaims>,
    jwks: Jwks,
    issuer: String,
    audience: String,
    access_ttl: u64,
    long_session_ttl: u64,
}

impl TokenService {
    pub fn from_settings(settings: &TokenSettings, database: &DatabaseUrl) -> anyhow::Result<Self> {
        let algorithm = match settings.jwt_algorithm {
            JwtAlgorithm::EdDsa => Algorithm::EdDSA,
            JwtAlgorithm::Hs256 => Algorithm::HS256,
        };
        let mut service = Self {
            secret_material: Vec::new(),
            algorithm,
            signing_kid: String::new(),
            signer: Signer::Hmac(EncodingKey::from_secret(&[])),
            verification_keys: HashMap::new(),
            verified_access: quick_cache::sync::Cache::new(VERIFIED_ACCESS_TOKENS),
            jwks: Jwks { keys: Vec::new() },
            issuer: settings.jwt_issuer.clone(),
            audience: settings.jwt_audience.clone(),
            access_ttl: settings.access_token_ttl.max(1),
            long_session_ttl: settings.refresh_token_ttl.max(1),
        };
        match settings.jwt_algorithm {
            JwtAlgorithm::EdDsa => {
                let pem = match &settings.jwt_private_key_file {
                    Some(path) => std::fs::read_to_string(path).with_context(|| {
                        format!("cannot read JWT_PRIVATE_KEY_FILE {}", path.display())
                    })?,
                    None => development_ed25519_key(database)?,
                };
                let (pair, key) = Ed25519Key::signing_pair(&pem)?;
                service.secret_material = pem::parse(&pem)
                    .context("the signing key is not PEM")?
                    .into_contents();
                service.signing_kid = key.kid.clone();
                service.signer = Signer::Ed25519(pair);
                service.add_ed25519_verification_key(key)?;
                for path in &settings.jwt_verification_key_files {
                    let pem = std::fs::read_to_string(path).with_context(|| {
                        format!("cannot read verification key {}", path.display())
                    })?;
                    service.add_ed25519_verification_key(Ed25519Key::from_any_pem(&pem)?)?;
                }
            }
            JwtAlgorithm::Hs256 => {
                let secret = match &settings.jwt_secret {
                    Some(secret) => secret.expose().to_owned(),
                    None => development_hs256_secret(database)?,
                };
                service.secret_material = secret.as_bytes().to_vec();
                service.signing_kid = hs256_kid(secret.as_bytes());
                service.signer = Signer::Hmac(EncodingKey::from_secret(secret.as_bytes()));
                service.add_hs256_verification_key(secret.as_bytes());
                for path in &settings.jwt_verification_key_files {
                    let old = std::fs::read_to_string(path).with_context(|| {
                        format!("cannot read verification secret {}", path.display())
                    })?;
                    service.add_hs256_verification_key(old.trim().as_bytes());
                }
            }
        }
        Ok(service)
    }

    fn add_ed25519_verification_key(&mut self, key: Ed25519Key) -> anyhow::Result<()> {
        let x = URL_SAFE_NO_PAD.encode(&key.public_key);
        let decoding = DecodingKey::from_ed_components(&x).context("invalid Ed25519 public key")?;
        if self
            .verification_keys
            .insert(key.kid.clone(), decoding)
            .is_none()
        {
            self.jwks.keys.push(Jwk {
                kty: "OKP",
                crv: Some("Ed25519"),
                x: Some(x),
                n: None,
                e: None,
                kid: key.kid,
                alg: "EdDSA",
                key_use: "sig",
            });
        }
        Ok(())
    }

    /// Shared secrets verify but are never published.
    fn add_hs256_verification_key(&mut self, secret: &[u8]) {
        self.verification_keys
            .insert(hs256_kid(secret), DecodingKey::from_secret(secret));
    }

    /// A 32-byte secret for `purpose`, the same on every node that signs with
    /// the same key and different for every purpose (HMAC-SHA256 of the
    /// purpose under the signing key's secret material); it changes when the
    /// signing key does.
    pub fn derive_secret(&self, purpose: &str) -> Vec<u8> {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &self.secret_material);
        aws_lc_rs::hmac::sign(&key, purpose.as_bytes())
            .as_ref()
            .to_vec()
    }

    /// The key `kid` names among those that verify this service's tokens,
    /// with the algorithm it verifies.
    pub fn verification_key(&self, kid: &str) -> Option<(Algorithm, &DecodingKey)> {
        self.verification_keys
            .get(kid)
            .map(|key| (self.algorithm, key))
    }

    /// Whether tokens are signed with Ed25519 (`JWT_ALGORITHM=EdDSA`), which
    /// ID tokens may then be signed with too.
    pub fn signs_eddsa(&self) -> bool {
        self.algorithm == Algorithm::EdDSA
    }

    pub fn jwks(&self) -> &Jwks {
        &self.jwks
    }

    pub fn access_ttl(&self) -> u64 {
        self.access_ttl
    }

    /// How long a new session lives: `REFRESH_TOKEN_TTL` when the user asked to
    /// be remembered, otherwise at most a day.
    pub fn session_ttl(&self, remember: bool) -> u64 {
        if remember {
            self.long_session_ttl
        } else {
            self.long_session_ttl.min(SHORT_SESSION_SECS)
        }
    }

    pub fn issue_access(
        &self,
        user_id: &str,
        session_id: &str,
        role: &str,
        amr: &[String],
        now: i64,
    ) -> Result<String, TokenError> {
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user_id.to_owned(),
            sid: session_id.to_owned(),
            role: role.to_owned(),
            amr: amr.to_vec(),
            iat: now,
            exp: now + i64::try_from(self.access_ttl).unwrap_or(i64::MAX / 2),
            jti: uuid::Uuid::new_v4().to_string(),
        };
        self.sign(ACCESS_TOKEN_TYPE, &claims)
    }

    pub fn issue_refresh(
        &self,
        user_id: &str,
        session_id: &str,
        jti: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<String, TokenError> {
        let claims = RefreshClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user_id.to_owned(),
            sid: session_id.to_owned(),
            iat: now,
            exp: expires_at,
            jti: jti.to_owned(),
        };
        self.sign(REFRESH_TOKEN_TYPE, &claims)
    }

    /// Signs `claims` as a compact JWS of type `token_type` with the signing
    /// key (the OpenID Provider's access and refresh tokens use it too).
    pub fn sign<C: Serialize>(&self, token_type: &str, claims: &C) -> Result<String, TokenError> {
        let failed = |error: &dyn std::fmt::Display| {
            TokenError::Failed(anyhow::anyhow!("signing failed: {error}"))
        };
        let mut header = Header::new(self.algorithm);
        header.typ = Some(token_type.to_owned());
        header.kid = Some(self.signing_kid.clone());
        match &self.signer {
            Signer::Hmac(key) => jsonwebtoken::encode(&header, claims, key).map_err(|e| failed(&e)),
            // The same compact JWS jsonwebtoken would produce, signed with the
            // key pair parsed once (jsonwebtoken re-parses the PKCS#8 document,
            // a scalar multiplication, on every signature).
            Signer::Ed25519(pair) => {
                let header = serde_json::to_vec(&header).map_err(|e| failed(&e))?;
                let claims = serde_json::to_vec(claims).map_err(|e| failed(&e))?;
                let message = format!(
                    "{}.{}",
                    URL_SAFE_NO_PAD.encode(header),
                    URL_SAFE_NO_PAD.encode(claims)
                );
                let signature = pair.sign(message.as_bytes());
                Ok(format!(
                    "{message}.{}",
                    URL_SAFE_NO_PAD.encode(signature.as_ref())
                ))
            }
        }
    }

    /// Checks an access token at `now` (Unix seconds).
    pub fn verify_access(&self, token: &str, now: i64) -> Result<AccessClaims, TokenError> {
        if let Some(claims) = self.verified_access.get(token) {
            return if claims.exp <= now {
                Err(TokenError::Expired)
            } else {
                Ok(claims)
            };
        }
        let claims: AccessClaims = self.verify(token, ACCESS_TOKEN_TYPE, now)?;
        self.verified_access
            .insert(token.to_owned(), claims.clone());
        Ok(claims)
    }

    /// Checks a refresh token at `now` (Unix seconds).
    pub fn verify_refresh(&self, token: &str, now: i64) -> Result<RefreshClaims, TokenError> {
        self.verify(token, REFRESH_TOKEN_TYPE, now)
    }

    fn verify<C: DeserializeOwned + Expiring>(
        &self,
        token: &str,
        token_type: &str,
        now: i64,
    ) -> Result<C, TokenError> {
        self.verify_for(token, token_type, &self.issuer, Some(&self.audience), now)
    }

    /// Checks a token this service signed of type `token_type` from
    /// `issuer`, for `audience` (`None`: the caller checks `aud` itself), at
    /// `now`.
    pub fn verify_for<C: DeserializeOwned + Expiring>(
        &self,
        token: &str,
        token_type: &str,
        issuer: &str,
        audience: Option<&str>,
        now: i64,
    ) -> Result<C, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.alg != self.algorithm || header.typ.as_deref() != Some(token_type) {
            return Err(TokenError::Invalid);
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.verification_keys.get(kid))
            .ok_or(TokenError::Invalid)?;
        let mut validation = Validation::new(self.algorithm);
        validation.set_issuer(&[issuer]);
        match audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // Expiry is checked below against the application's clock. Portcullis
        // checks only tokens it issued itself, so there is no skew to allow for.
        validation.validate_exp = false;
        validation.leeway = 0;
        let claims = jsonwebtoken::decode::<C>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(|error| match error.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?;
        if claims.exp() <= now {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

/// The signing key.
enum Signer {
    Ed25519(Ed25519KeyPair),
    Hmac(EncodingKey),
}

struct Ed25519Key {
    kid: String,
    public_key: Vec<u8>,
}

/// DER prefix of an Ed25519 SubjectPublicKeyInfo; the 32-byte key follows.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

impl Ed25519Key {
    fn from_public_key(public_key: Vec<u8>) -> Self {
        let x = URL_SAFE_NO_PAD.encode(&public_key);
        // RFC 7638: the required members, in lexicographic order, no spaces.
        let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
        Self {
            kid: URL_SAFE_NO_PAD.encode(digest.as_ref()),
            public_key,
        }
    }

    /// The key pair of a PKCS#8 `PRIVATE KEY` PEM and its public half.
    fn signing_pair(pem: &str) -> anyhow::Result<(Ed25519KeyPair, Self)> {
        let parsed = pem::parse(pem).context("the key file is not PEM")?;
        if parsed.tag() != "PRIVATE KEY" {
            bail!(
                "expected a PKCS#8 `PRIVATE KEY` PEM, found `{}`",
                parsed.tag()
            );
        }
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(parsed.contents())
            .map_err(|_| anyhow::anyhow!("the key is not an Ed25519 private key"))?;
        let public = Self::from_public_key(pair.public_key().as_ref().to_vec());
        Ok((pair, public))
    }

    /// A verification key may be given as the old private key or its public key.
    fn from_any_pem(pem: &str) -> anyhow::Result<Self> {
        let parsed = pem::parse(pem).context("the key file is not PEM")?;
        match parsed.tag() {
            "PRIVATE KEY" => Self::signing_pair(pem).map(|(_, public)| public),
            "PUBLIC KEY" => {
                let der = parsed.contents();
                match der.strip_prefix(ED25519_SPKI_PREFIX.as_slice()) {
                    Some(key) if key.len() == 32 => Ok(Self::from_public_key(key.to_vec())),
                    _ => bail!("the public key is not Ed25519"),
                }
            }
            other => bail!("expected a `PRIVATE KEY` or `PUBLIC KEY` PEM, found `{other}`"),
        }
    }
}

fn hs256_kid(secret: &[u8]) -> String {
    let canonical = format!(
        r#"{{"k":"{}","kty":"oct"}}"#,
        URL_SAFE_NO_PAD.encode(secret)
    );
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// Where a generated development key is kept: beside the SQLite file, so a
/// restart does not log everybody out; in the working directory for PostgreSQL.
fn development_key_path(database: &DatabaseUrl, suffix: &str) -> Option<PathBuf> {
    database.file_beside(suffix)
}

fn development_ed25519_key(database: &DatabaseUrl) -> anyhow::Result<String> {
    key_files::load_or_create(
        development_key_path(database, "jwt-ed25519.pem"),
        "signing key (set JWT_PRIVATE_KEY_FILE or JWT_SECRET in production)",
        || {
            // PKCS#8 v1 with LF line endings, as `openssl genpkey` writes it:
            // OpenSSL 3.0, Node and Python's cryptography all read it (v2,
            // with the public key inside, and CRLF trip some of them up).
            let rng = aws_lc_rs::rand::SystemRandom::new();
            let document = Ed25519KeyPair::generate_pkcs8v1(&rng)
                .map_err(|_| anyhow::anyhow!("could not generate an Ed25519 key"))?;
            let pem = pem::Pem::new("PRIVATE KEY", document.as_ref().to_vec());
            Ok(pem::encode_config(
                &pem,
                pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
            ))
        },
    )
}

fn development_hs256_secret(database: &DatabaseUrl) -> anyhow::Result<String> {
    key_files::load_or_create(
        development_key_path(database, "jwt-hs256.secret"),
        "signing secret (set JWT_SECRET in production)",
        || Ok(URL_SAFE_NO_PAD.encode(super::random::bytes::<32>()?)),
    )
    .map(|secret| secret.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> TokenSettings {
        TokenSettings {
            jwt_algorithm: JwtAlgorithm::EdDsa,
            jwt_private_key_file: None,
            jwt_secret: None,
            jwt_verification_key_files: Vec::new(),
            jwt_issuer: "portcullis".into(),
            jwt_audience: "portcullis".into(),
            access_token_ttl: 900,
            refresh_token_ttl: 2_592_000,
            refresh_reuse_grace: 10,
        }
    }

    fn memory() -> DatabaseUrl {
        DatabaseUrl::Sqlite(":memory:".into())
    }

    #[test]
    fn an_access_token_is_not_a_refresh_token_nor_the_reverse() {
        let tokens = TokenService::from_settings(&settings(), &memory()).unwrap();
        let access = tokens
            .issue_access("u", "s", "user", &[], 1_900_000_000 - 10)
            .unwrap();
        let refresh = tokens
            .issue_refresh("u", "s", "j", 1_900_000_000 - 10, 4_000_000_000)
            .unwrap();
        assert!(matches!(
            tokens.verify_refresh(&access, 1_900_000_000),
            Err(TokenError::Invalid)
        ));
        assert!(matches!(
            tokens.verify_access(&refresh, 1_900_000_000),
            Err(TokenError::Invalid)
        ));
        assert_eq!(
            tokens.verify_refresh(&refresh, 1_900_000_000).unwrap().jti,
            "j"
        );
    }

    #[test]
    fn the_kid_is_the_rfc_7638_thumbprint() {
        // RFC 8037 appendix A.3.
        let x = URL_SAFE_NO_PAD
            .decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
            .unwrap();
        assert_eq!(
            Ed25519Key::from_public_key(x).kid,
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn eddsa_tokens_are_exactly_what_jsonwebtoken_would_sign() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        let document =
            Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new()).unwrap();
        let pem = pem::encode(&pem::Pem::new("PRIVATE KEY", document.as_ref().to_vec()));
        std::fs::write(&path, &pem).unwrap();
        let mut with_file = settings();
        with_file.jwt_private_key_file = Some(path);
        let tokens = TokenService::from_settings(&with_file, &memory()).unwrap();
        let claims = serde_json::json!({"sub": "u", "exp": 4_000_000_000_i64});

        let ours = tokens.sign(ACCESS_TOKEN_TYPE, &claims).unwrap();

        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(ACCESS_TOKEN_TYPE.to_owned());
        header.kid = Some(tokens.signing_kid.clone());
        let theirs = jsonwebtoken::encode(
            &header,
            &claims,
            &EncodingKey::from_ed_pem(pem.as_bytes()).unwrap(),
        )
        .unwrap();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn the_development_key_is_kept_beside_the_sqlite_file_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("portcullis.db");
        let database = DatabaseUrl::parse(&format!("sqlite://{}", file.display())).unwrap();

        let first = TokenService::from_settings(&settings(), &database).unwrap();
        let token = first
            .issue_access("u", "s", "user", &[], chrono::Utc::now().timestamp())
            .unwrap();
        let restarted = TokenService::from_settings(&settings(), &database).unwrap();

        assert_eq!(
            restarted
                .verify_access(&token, chrono::Utc::now().timestamp())
                .unwrap()
                .sub,
            "u"
        );
        let key = dir.path().join("portcullis.db.jwt-ed25519.pem");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "only the owner may read the key");
        }
    }

    #[test]
    fn an_expired_token_says_so() {
        let tokens = TokenService::from_settings(&settings(), &memory()).unwrap();
        let old = tokens
            .issue_access("u", "s", "user", &[], 1_000_000_000)
            .unwrap();
        assert!(matches!(
            tokens.verify_access(&old, chrono::Utc::now().timestamp()),
            Err(TokenError::Expired)
        ));
    }

    #[test]
    fn a_remembered_access_token_still_expires_and_a_tampered_copy_is_refused() {
        let tokens = TokenService::from_settings(&settings(), &memory()).unwrap();
        let issued_at = 1_900_000_000;
        let access = tokens
            .issue_access("u", "s", "user", &[], issued_at)
            .unwrap();
        // Verified once, then answered from memory.
        assert_eq!(tokens.verify_access(&access, issued_at).unwrap().sub, "u");
        assert_eq!(
            tokens.verify_access(&access, issued_at + 1).unwrap().sub,
            "u"
        );
        assert!(matches!(
            tokens.verify_access(&access, issued_at + 900),
            Err(TokenError::Expired)
        ));
        // Another text is another token: checked in full, whatever it resembles.
        let (signed, signature) = access.rsplit_once('.').unwrap();
        let flipped = if signature.starts_with('A') { "B" } else { "A" };
        let tampered = format!("{signed}.{flipped}{}", &signature[1..]);
        assert!(matches!(
            tokens.verify_access(&tampered, issued_at),
            Err(TokenError::Invalid)
        ));
        assert!(matches!(
            tokens.verify_refresh(&access, issued_at),
            Err(TokenError::Invalid)
        ));
    }

    #[test]
    fn hs256_publishes_no_keys() {
        let mut hs = settings();
        hs.jwt_algorithm = JwtAlgorithm::Hs256;
        hs.jwt_secret = Some("0123456789abcdef0123456789abcdef".parse().unwrap());
        let tokens = TokenService::from_settings(&hs, &memory()).unwrap();
        assert!(tokens.jwks().keys.is_empty());
        let now = chrono::Utc::now().timestamp();
        let access = tokens.issue_access("u", "s", "user", &[], now).unwrap();
        assert_eq!(tokens.verify_access(&access, now).unwrap().sub, "u");
    }
}
