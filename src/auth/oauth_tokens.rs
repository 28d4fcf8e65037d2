//! The tokens Portcullis issues as an OpenID Provider: ID tokens (RS256 with
//! the provider's RSA key, or EdDSA with the service's signing key), RFC 9068
//! access tokens and the rotating refresh tokens of a grant (both signed with
//! the service's signing key, like its own tokens, so that resource servers
//! verify them through the same JWKS).
//!
//! Access and refresh tokens are told apart from the service's own by their
//! issuer (`PUBLIC_URL`, the provider's issuer) and by their claims: a token
//! of one kind never deserialises as another.

use anyhow::{Context as _, bail};
use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::key_files;
use super::tokens::{ACCESS_TOKEN_TYPE, Expiring, Jwk, TokenError, TokenService};
use crate::db::DatabaseUrl;

/// The `typ` of a grant's refresh token (never accepted as anything else).
pub const OAUTH_REFRESH_TOKEN_TYPE: &str = "oauth-refresh+jwt";
/// The smallest RSA key accepted for ID tokens (RFC 7518 §3.3).
const MIN_RSA_BITS: usize = 2048;

/// How a client's ID tokens are signed (`id_token_signed_response_alg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdTokenAlg {
    Rs256,
    EdDsa,
}

impl IdTokenAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::EdDsa => "EdDSA",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "RS256" => Some(Self::Rs256),
            "EdDSA" => Some(Self::EdDsa),
            _ => None,
        }
    }
}

/// RFC 9068 claims of an access token issued to a client.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OAuthAccessClaims {
    pub iss: String,
    /// The user's id, or the client's for `client_credentials`.
    pub sub: String,
    /// `OAUTH_ACCESS_TOKEN_AUDIENCE`, or the client's id.
    pub aud: String,
    pub client_id: String,
    /// Space-separated scopes.
    pub scope: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// The grant the token came from (none for `client_credentials`):
    /// revoking the grant ends the token at userinfo and introspection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
}

impl Expiring for OAuthAccessClaims {
    fn exp(&self) -> i64 {
        self.exp
    }
}

/// Claims of a grant's refresh token; `jti` is the grant's current one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OAuthRefreshClaims {
    pub iss: String,
    /// The client's id.
    pub aud: String,
    pub sub: String,
    pub gid: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

impl Expiring for OAuthRefreshClaims {
    fn exp(&self) -> i64 {
        self.exp
    }
}

/// What an `id_token_hint` says, once its signature is checked.
#[derive(Debug, Clone, Deserialize)]
pub struct IdTokenHint {
    pub sub: String,
    pub aud: String,
}

/// The provider's keys and issuer.
pub struct OAuthTokens {
    issuer: String,
    access_audience: Option<String>,
    rsa: RsaKeyPair,
    rsa_kid: String,
    rsa_jwk: Jwk,
    rsa_decoding: DecodingKey,
}

impl OAuthTokens {
    /// The RSA key of `OAUTH_RSA_KEY_FILE` (PKCS#8 PEM, at least 2048 bits),
    /// or a development one kept beside the SQLite file.
    pub fn load(
        rsa_key_file: Option<&std::path::Path>,
        issuer: String,
        access_audience: Option<String>,
        database: &DatabaseUrl,
    ) -> anyhow::Result<Self> {
        let pem = match rsa_key_file {
            Some(path) => std::fs::read_to_string(path)
                .with_context(|| format!("cannot read OAUTH_RSA_KEY_FILE {}", path.display()))?,
            None => development_rsa_key(database)?,
        };
        let parsed = pem::parse(&pem).context("the RSA key file is not PEM")?;
        if parsed.tag() != "PRIVATE KEY" {
            bail!(
                "expected a PKCS#8 `PRIVATE KEY` PEM for the RSA key, found `{}`",
                parsed.tag()
            );
        }
        let rsa = RsaKeyPair::from_pkcs8(parsed.contents())
            .map_err(|error| anyhow::anyhow!("the RSA key is not usable: {error}"))?;
        if rsa.public_modulus_len() * 8 < MIN_RSA_BITS {
            bail!("the RSA key has fewer than {MIN_RSA_BITS} bits");
        }
        let public = rsa.public_key();
        let n = URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero());
        let e = URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero());
        // RFC 7638: the required members, in lexicographic order, no spaces.
        let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
        let rsa_kid = URL_SAFE_NO_PAD.encode(digest.as_ref());
        let rsa_decoding =
            DecodingKey::from_rsa_components(&n, &e).context("invalid RSA public key")?;
        Ok(Self {
            issuer,
            access_audience,
            rsa_jwk: Jwk {
                kty: "RSA",
                crv: None,
                x: None,
                n: Some(n),
                e: Some(e),
                kid: rsa_kid.clone(),
                alg: "RS256",
                key_use: "sig",
            },
            rsa,
            rsa_kid,
            rsa_decoding,
        })
    }

    /// The provider's issuer identifier (`PUBLIC_URL`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The `aud` of access tokens issued to `client_id`.
    pub fn access_audience(&self, client_id: &str) -> String {
        self.access_audience
            .clone()
            .unwrap_or_else(|| client_id.to_owned())
    }

    /// The RSA public key, for the JWKS.
    pub fn rsa_jwk(&self) -> &Jwk {
        &self.rsa_jwk
    }

    /// Signs ID-token claims with `alg`.
    pub fn sign_id_token<C: Serialize>(
        &self,
        tokens: &TokenService,
        alg: IdTokenAlg,
        claims: &C,
    ) -> Result<String, TokenError> {
        match alg {
            IdTokenAlg::EdDsa if tokens.signs_eddsa() => tokens.sign("JWT", claims),
            // A client may ask for EdDSA only when the service signs with
            // Ed25519 (checked when the client is saved); RS256 otherwise.
            IdTokenAlg::EdDsa | IdTokenAlg::Rs256 => self.sign_rs256(claims),
        }
    }

    fn sign_rs256<C: Serialize>(&self, claims: &C) -> Result<String, TokenError> {
        let failed = |error: &dyn std::fmt::Display| {
            TokenError::Failed(anyhow::anyhow!("signing failed: {error}"))
        };
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some("JWT".to_owned());
        header.kid = Some(self.rsa_kid.clone());
        let header = serde_json::to_vec(&header).map_err(|e| failed(&e))?;
        let claims = serde_json::to_vec(claims).map_err(|e| failed(&e))?;
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let mut signature = vec![0; self.rsa.public_modulus_len()];
        self.rsa
            .sign(
                &RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                message.as_bytes(),
                &mut signature,
            )
            .map_err(|e| failed(&e))?;
        Ok(format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }

    pub fn issue_access(
        &self,
        tokens: &TokenService,
        claims: &OAuthAccessClaims,
    ) -> Result<String, TokenError> {
        tokens.sign(ACCESS_TOKEN_TYPE, claims)
    }

    /// Checks an access token this provider issued (any audience: userinfo
    /// and introspection serve every client's).
    pub fn verify_access(
        &self,
        tokens: &TokenService,
        token: &str,
        now: i64,
    ) -> Result<OAuthAccessClaims, TokenError> {
        tokens.verify_for(token, ACCESS_TOKEN_TYPE, &self.issuer, None, now)
    }

    pub fn issue_refresh(
        &self,
        tokens: &TokenService,
        claims: &OAuthRefreshClaims,
    ) -> Result<String, TokenError> {
        tokens.sign(OAUTH_REFRESH_TOKEN_TYPE, claims)
    }

    /// Checks a grant's refresh token; the caller checks that `aud` is the
    /// client presenting it.
    pub fn verify_refresh(
        &self,
        tokens: &TokenService,
        token: &str,
        now: i64,
    ) -> Result<OAuthRefreshClaims, TokenError> {
        tokens.verify_for(token, OAUTH_REFRESH_TOKEN_TYPE, &self.issuer, None, now)
    }

    /// Checks the signature and issuer of an ID token this provider issued,
    /// expired or not (RP-initiated logout accepts expired hints).
    pub fn verify_id_token_hint(&self, tokens: &TokenService, token: &str) -> Option<IdTokenHint> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        let kid = header.kid.as_deref()?;
        let (algorithm, key) = if kid == self.rsa_kid && header.alg == Algorithm::RS256 {
            (Algorithm::RS256, &self.rsa_decoding)
        } else {
            let (algorithm, key) = tokens.verification_key(kid)?;
            if algorithm != Algorithm::EdDSA || header.alg != algorithm {
                return None;
            }
            (algorithm, key)
        };
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&self.issuer]);
        validation.validate_aud = false;
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["iss", "sub", "aud"]);
        jsonwebtoken::decode::<IdTokenHint>(token, key, &validation)
            .ok()
            .map(|data| data.claims)
    }
}

fn development_rsa_key(database: &DatabaseUrl) -> anyhow::Result<String> {
    key_files::load_or_create(
        database.file_beside("oauth-rsa.pem"),
        "RSA key for ID tokens (set OAUTH_RSA_KEY_FILE in production)",
        generate_rsa_pem,
    )
}

/// A fresh 2048-bit RSA key as a PKCS#8 PEM (as `openssl genpkey -algorithm
/// RSA` writes it).
pub fn generate_rsa_pem() -> anyhow::Result<String> {
    let pair = RsaKeyPair::generate(KeySize::Rsa2048)
        .map_err(|_| anyhow::anyhow!("could not generate an RSA key"))?;
    let document = pair
        .as_der()
        .map_err(|_| anyhow::anyhow!("could not encode the RSA key"))?;
    let pem = pem::Pem::new("PRIVATE KEY", document.as_ref().to_vec());
    Ok(pem::encode_config(
        &pem,
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{JwtAlgorithm, TokenSettings};

    fn service() -> TokenService {
        let settings = TokenSettings {
            jwt_algorithm: JwtAlgorithm::EdDsa,
            jwt_private_key_file: None,
            jwt_secret: None,
            jwt_verification_key_files: Vec::new(),
            jwt_issuer: "portcullis".into(),
            jwt_audience: "portcullis".into(),
            access_token_ttl: 900,
            refresh_token_ttl: 2_592_000,
            refresh_reuse_grace: 10,
        };
        TokenService::from_settings(&settings, &DatabaseUrl::Sqlite(":memory:".into())).unwrap()
    }

    fn provider() -> OAuthTokens {
        OAuthTokens::load(
            None,
            "https://id.example".into(),
            None,
            &DatabaseUrl::Sqlite(":memory:".into()),
        )
        .unwrap()
    }

    #[test]
    fn rs256_id_tokens_verify_with_the_published_rsa_key() {
        let tokens = service();
        let oauth = provider();
        let claims =
            serde_json::json!({"iss": "https://id.example", "sub": "u", "aud": "c", "exp": 1});
        let token = oauth
            .sign_id_token(&tokens, IdTokenAlg::Rs256, &claims)
            .unwrap();
        let jwk = oauth.rsa_jwk();
        let key =
            DecodingKey::from_rsa_components(jwk.n.as_deref().unwrap(), jwk.e.as_deref().unwrap())
                .unwrap();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.set_audience(&["c"]);
        let decoded = jsonwebtoken::decode::<IdTokenHint>(&token, &key, &validation).unwrap();
        assert_eq!(decoded.header.kid.as_deref(), Some(jwk.kid.as_str()));
        assert_eq!(decoded.claims.sub, "u");
        // Expired long ago, still a valid hint; another issuer's is not.
        assert_eq!(
            oauth.verify_id_token_hint(&tokens, &token).unwrap().aud,
            "c"
        );
        let eddsa = oauth
            .sign_id_token(&tokens, IdTokenAlg::EdDsa, &claims)
            .unwrap();
        assert_eq!(
            oauth.verify_id_token_hint(&tokens, &eddsa).unwrap().sub,
            "u"
        );
        let foreign =
            serde_json::json!({"iss": "https://evil.example", "sub": "u", "aud": "c", "exp": 1});
        let foreign = oauth
            .sign_id_token(&tokens, IdTokenAlg::Rs256, &foreign)
            .unwrap();
        assert!(oauth.verify_id_token_hint(&tokens, &foreign).is_none());
    }

    #[test]
    fn a_provider_access_token_is_not_a_service_token_nor_a_refresh_token() {
        let tokens = service();
        let oauth = provider();
        let now = 1_900_000_000;
        let claims = OAuthAccessClaims {
            iss: oauth.issuer().to_owned(),
            sub: "u".into(),
            aud: "c".into(),
            client_id: "c".into(),
            scope: "openid".into(),
            iat: now,
            exp: now + 60,
            jti: "j".into(),
            auth_time: None,
            gid: Some("g".into()),
        };
        let access = oauth.issue_access(&tokens, &claims).unwrap();
        assert_eq!(
            oauth
                .verify_access(&tokens, &access, now)
                .unwrap()
                .client_id,
            "c"
        );
        assert!(tokens.verify_access(&access, now).is_err());
        assert!(oauth.verify_refresh(&tokens, &access, now).is_err());
        let service_token = tokens.issue_access("u", "s", "user", &[], now).unwrap();
        assert!(oauth.verify_access(&tokens, &service_token, now).is_err());
        assert!(matches!(
            oauth.verify_access(&tokens, &access, now + 60),
            Err(TokenError::Expired)
        ));
    }

    #[test]
    fn a_key_file_that_is_not_an_rsa_private_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("not-rsa.pem");
        std::fs::write(
            &path,
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        )
        .unwrap();
        assert!(
            OAuthTokens::load(
                Some(&path),
                "https://id.example".into(),
                None,
                &DatabaseUrl::Sqlite(":memory:".into()),
            )
            .is_err()
        );
    }
}
