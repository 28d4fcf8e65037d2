//! Talking to other providers for a sign-in: OpenID Connect through
//! discovery (`openidconnect`: the authorization URL, the code exchange, the
//! ID token's signature, issuer, audience, nonce and expiry) and GitHub's
//! OAuth 2.0 (`oauth2`, then its user and email APIs). No JOSE or token
//! exchange is written here; this module only chooses and bounds the calls.
//!
//! Every call is bounded by `PROVIDER_TIMEOUT` and follows no redirect (a
//! provider's endpoint redirecting elsewhere is refused, not followed). A
//! provider's discovery document and keys are cached for an hour, and fetched
//! again at once when an ID token names a key they lack (a rotation).

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreIdTokenClaims, CoreProviderMetadata,
    CoreUserInfoClaims,
};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse as _,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, SignatureVerificationError,
    TokenResponse as _,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::config::{ProviderDefinition, ProviderKind};

/// How long a discovery document and its keys are trusted before they are
/// fetched again.
const DISCOVERY_MAX_AGE: Duration = Duration::from_secs(3600);

/// Leeway for the ID token's expiry, for clocks a little apart.
const CLOCK_SKEW_SECS: i64 = 60;

/// The client `openidconnect` builds from a discovery document.
type OidcClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Why a provider's step failed.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// No provider of that id is configured.
    #[error("unknown provider")]
    Unknown,
    /// Not reached in time, or it answered with a server error: try later.
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    /// Its answer does not verify (a bad code, a token for someone else,
    /// wrong issuer, audience, nonce or signature, an expired ID token).
    #[error("the provider's answer is refused: {0}")]
    Refused(String),
}

/// The secrets of one attempt towards the provider, kept sealed in the
/// database between the start and the callback.
#[derive(Serialize, Deserialize)]
pub struct AttemptSecrets {
    pub nonce: String,
    pub pkce_verifier: String,
}

impl AttemptSecrets {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }

    /// RFC 7636 §4.1: the verifier is 43 to 128 unreserved characters
    /// (`openidconnect` panics on any other length).
    fn pkce_verifier(&self) -> Result<PkceCodeVerifier, ProviderError> {
        if !is_pkce_verifier(&self.pkce_verifier) {
            return Err(ProviderError::Refused(
                "a malformed PKCE verifier".to_owned(),
            ));
        }
        Ok(PkceCodeVerifier::new(self.pkce_verifier.clone()))
    }
}

/// RFC 7636 §4.2: the S256 challenge of a verifier, `BASE64URL(SHA256(verifier))`.
pub fn pkce_s256(verifier: &str) -> String {
    use base64::Engine as _;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// An S256 challenge: a SHA-256, base64url without padding (43 characters).
pub fn is_s256_challenge(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_'))
}

/// RFC 7636 §4.1: a verifier is 43 to 128 unreserved characters.
pub fn is_pkce_verifier(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~'))
}

/// Who the provider says signed in.
#[derive(Debug, Clone)]
pub struct ProviderIdentity {
    /// The provider's stable id of the person (`sub`; GitHub's numeric id).
    pub subject: String,
    pub email: Option<String>,
    /// The provider vouches for the address (`email_verified: true`).
    pub email_verified: bool,
    /// A name to derive a username from (`preferred_username`, `name`, the
    /// GitHub login).
    pub username: Option<String>,
}

/// The configured providers and the HTTP client that reaches them.
pub struct Providers {
    http: BoundedHttp,
    providers: Vec<Provider>,
}

struct Provider {
    definition: ProviderDefinition,
    redirect: RedirectUrl,
    /// OpenID Connect: the discovery document and keys, once fetched.
    discovered: Mutex<Option<Discovered>>,
}

#[derive(Clone)]
struct Discovered {
    client: OidcClient,
    fetched_at: Instant,
}

impl Providers {
    /// `public_url` is where browsers reach this service; each provider's
    /// callback is `{public_url}/login/providers/{id}/callback`. With
    /// `https_only`, a provider endpoint over plain HTTP is refused.
    pub fn new(
        definitions: &[ProviderDefinition],
        public_url: &str,
        timeout: Duration,
        https_only: bool,
    ) -> anyhow::Result<Self> {
        install_tls_provider();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .https_only(https_only)
            .user_agent(concat!("portcullis/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let providers = definitions
            .iter()
            .map(|definition| {
                let redirect = RedirectUrl::new(format!(
                    "{}/login/providers/{}/callback",
                    public_url.trim_end_matches('/'),
                    definition.id
                ))?;
                Ok(Provider {
                    definition: definition.clone(),
                    redirect,
                    discovered: Mutex::new(None),
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            http: BoundedHttp(http),
            providers,
        })
    }

    /// The providers users may choose, as (id, name), in configured order.
    pub fn list(&self) -> impl Iterator<Item = (&str, &str)> {
        self.providers.iter().map(|provider| {
            (
                provider.definition.id.as_str(),
                provider.definition.name.as_str(),
            )
        })
    }

    pub fn knows(&self, id: &str) -> bool {
        self.find(id).is_ok()
    }

    fn find(&self, id: &str) -> Result<&Provider, ProviderError> {
        self.providers
            .iter()
            .find(|provider| provider.definition.id == id)
            .ok_or(ProviderError::Unknown)
    }

    /// The provider's authorization URL for one attempt: `state`, and for
    /// OpenID Connect the nonce, with a PKCE S256 challenge.
    pub async fn authorization_url(
        &self,
        id: &str,
        state: &str,
        secrets: &AttemptSecrets,
    ) -> Result<url::Url, ProviderError> {
        let provider = self.find(id)?;
        let challenge = PkceCodeChallenge::from_code_verifier_sha256(&secrets.pkce_verifier()?);
        let state = CsrfToken::new(state.to_owned());
        let scopes = provider
            .definition
            .scopes
            .iter()
            .filter(|scope| scope.as_str() != "openid")
            .map(|scope| Scope::new(scope.clone()));
        match provider.definition.kind {
            ProviderKind::Oidc => {
                let discovered = self.discovered(provider, false).await?;
                let nonce = Nonce::new(secrets.nonce.clone());
                let (url, _, _) = discovered
                    .client
                    .authorize_url(
                        CoreAuthenticationFlow::AuthorizationCode,
                        move || state,
                        move || nonce,
                    )
                    .add_scopes(scopes)
                    .set_pkce_challenge(challenge)
                    .url();
                Ok(url)
            }
            ProviderKind::Github => {
                let (url, _) = github::client(provider)?
                    .authorize_url(move || state)
                    .add_scopes(scopes)
                    .set_pkce_challenge(challenge)
                    .url();
                Ok(url)
            }
        }
    }

    /// Exchanges the provider's code (with the attempt's PKCE verifier) and
    /// returns who signed in: for OpenID Connect from the verified ID token
    /// (and the UserInfo endpoint when the token names no address), for
    /// GitHub from its user and email APIs. `now` decides the ID token's
    /// expiry.
    pub async fn identify(
        &self,
        id: &str,
        code: &str,
        secrets: &AttemptSecrets,
        now: DateTime<Utc>,
    ) -> Result<ProviderIdentity, ProviderError> {
        let provider = self.find(id)?;
        match provider.definition.kind {
            ProviderKind::Oidc => self.identify_oidc(provider, code, secrets, now).await,
            ProviderKind::Github => github::identify(&self.http, provider, code, secrets).await,
        }
    }

    async fn identify_oidc(
        &self,
        provider: &Provider,
        code: &str,
        secrets: &AttemptSecrets,
        now: DateTime<Utc>,
    ) -> Result<ProviderIdentity, ProviderError> {
        let discovered = self.discovered(provider, false).await?;
        let token = discovered
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|error| ProviderError::Unavailable(error.to_string()))?
            .set_pkce_verifier(secrets.pkce_verifier()?)
            .request_async(&self.http)
            .await
            .map_err(token_error)?;
        let id_token = token
            .id_token()
            .ok_or_else(|| ProviderError::Refused("the token response has no ID token".into()))?;
        let nonce = Nonce::new(secrets.nonce.clone());
        let claims = match verify_id_token(&discovered.client, id_token, &nonce, now) {
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                // A key this node has not seen: the provider rotated.
                let refreshed = self.discovered(provider, true).await?;
                verify_id_token(&refreshed.client, id_token, &nonce, now)
            }
            verified => verified,
        }
        .map_err(|error| ProviderError::Refused(format!("ID token: {error}")))?;
        let mut identity = ProviderIdentity {
            subject: claims.subject().to_string(),
            email: claims.email().map(|email| email.to_string()),
            email_verified: claims.email_verified().unwrap_or(false),
            username: claims
                .preferred_username()
                .map(|name| name.to_string())
                .or_else(|| {
                    claims
                        .name()
                        .and_then(|name| name.get(None))
                        .map(|name| name.to_string())
                }),
        };
        if identity.email.is_none()
            && let Ok(request) = discovered
                .client
                .user_info(token.access_token().clone(), Some(claims.subject().clone()))
        {
            let info: CoreUserInfoClaims = request
                .request_async(&self.http)
                .await
                .map_err(|error| ProviderError::Refused(format!("UserInfo: {error}")))?;
            identity.email = info.email().map(|email| email.to_string());
            identity.email_verified = info.email_verified().unwrap_or(false);
            if identity.username.is_none() {
                identity.username = info.preferred_username().map(|name| name.to_string());
            }
        }
        Ok(identity)
    }

    /// The provider's client from its discovery document: the cached one,
    /// or fetched anew when it is older than an hour, absent, or `refresh`.
    async fn discovered(
        &self,
        provider: &Provider,
        refresh: bool,
    ) -> Result<Discovered, ProviderError> {
        let mut cached = provider.discovered.lock().await;
        if let Some(discovered) = cached.as_ref()
            && !refresh
            && discovered.fetched_at.elapsed() < DISCOVERY_MAX_AGE
        {
            return Ok(discovered.clone());
        }
        // The issuer exactly as configured: an ID token's `iss` must equal it.
        let issuer = IssuerUrl::new(
            provider
                .definition
                .issuer
                .as_str()
                .trim_end_matches('/')
                .to_owned(),
        )
        .map_err(|error| ProviderError::Unavailable(error.to_string()))?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|error| ProviderError::Unavailable(format!("discovery: {}", chain(&error))))?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(provider.definition.client_id.clone()),
            Some(ClientSecret::new(
                provider.definition.client_secret.expose().to_owned(),
            )),
        )
        .set_redirect_uri(provider.redirect.clone());
        let discovered = Discovered {
            client,
            fetched_at: Instant::now(),
        };
        *cached = Some(discovered.clone());
        Ok(discovered)
    }
}

/// The ID token's claims if its signature is by one of the provider's keys
/// (in an algorithm it announced), its `iss` is the provider's, its `aud`
/// this client, its `nonce` the attempt's, and it has not expired at `now`
/// (give or take [`CLOCK_SKEW_SECS`]).
fn verify_id_token(
    client: &OidcClient,
    id_token: &CoreIdToken,
    nonce: &Nonce,
    now: DateTime<Utc>,
) -> Result<CoreIdTokenClaims, ClaimsVerificationError> {
    let verifier = client
        .id_token_verifier()
        .set_time_fn(move || now - chrono::Duration::seconds(CLOCK_SKEW_SECS));
    id_token.claims(&verifier, nonce).cloned()
}

/// A failed code exchange: the network or a server error is the provider
/// being unavailable; an RFC 6749 error or a malformed answer is a refusal.
fn token_error<RE, TE>(error: oauth2::RequestTokenError<RE, TE>) -> ProviderError
where
    RE: std::error::Error + 'static,
    TE: oauth2::ErrorResponse + 'static,
{
    match &error {
        oauth2::RequestTokenError::Request(_) => {
            ProviderError::Unavailable(format!("code exchange: {}", chain(&error)))
        }
        _ => ProviderError::Refused(format!("code exchange: {}", chain(&error))),
    }
}

/// An error with its causes, for the log (the crates' top-level messages
/// alone say little: "Request failed").
/// The most a provider's answer may weigh (its discovery document and keys,
/// token and UserInfo responses, GitHub's API). Real ones are a few kilobytes;
/// a broken or hostile provider cannot make a node read and hold more.
const MAX_PROVIDER_RESPONSE_BYTES: usize = 1 << 20;

/// reqwest, reading no answer past [`MAX_PROVIDER_RESPONSE_BYTES`]. (The
/// client openidconnect provides for reqwest reads whatever comes.)
struct BoundedHttp(reqwest::Client);

type HttpFailure = openidconnect::HttpClientError<reqwest::Error>;

impl<'c> openidconnect::AsyncHttpClient<'c> for BoundedHttp {
    type Error = HttpFailure;
    type Future = std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<openidconnect::HttpResponse, HttpFailure>>
                + Send
                + Sync
                + 'c,
        >,
    >;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request = reqwest::Request::try_from(request).map_err(Box::new)?;
            let response = self.0.execute(request).await.map_err(Box::new)?;
            let mut answer = openidconnect::http::Response::builder()
                .status(response.status())
                .version(response.version());
            for (name, value) in response.headers() {
                answer = answer.header(name, value);
            }
            let body = read_bounded(response).await?;
            answer.body(body).map_err(HttpFailure::Http)
        })
    }
}

/// The body of `response`, refused once it passes
/// [`MAX_PROVIDER_RESPONSE_BYTES`] (announced or as it arrives).
async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, HttpFailure> {
    let too_large = || {
        HttpFailure::Other(format!(
            "the answer is over {MAX_PROVIDER_RESPONSE_BYTES} bytes"
        ))
    };
    if response
        .content_length()
        .is_some_and(|length| length > MAX_PROVIDER_RESPONSE_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(Box::new)? {
        if body.len() + chunk.len() > MAX_PROVIDER_RESPONSE_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Makes aws-lc-rs the process's TLS provider for reqwest (built without
/// one of its own, so that ring never enters the build). Idempotent.
pub fn install_tls_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// GitHub's OAuth 2.0 (it has no OpenID Connect): the code exchange, then the
/// user (its numeric id is the subject) and its addresses (the primary one,
/// and whether GitHub verified it).
mod github {
    use oauth2::basic::BasicClient;
    use oauth2::{
        AuthUrl, AuthorizationCode, ClientId, ClientSecret, EndpointNotSet, EndpointSet,
        TokenResponse as _, TokenUrl,
    };
    use serde::Deserialize;

    use super::{AttemptSecrets, Provider, ProviderError, ProviderIdentity, chain, token_error};

    type GithubClient =
        BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

    /// `https://github.com` (its API at `api.github.com`), or a GitHub
    /// Enterprise server (its API under `/api/v3`).
    fn api_base(provider: &Provider) -> String {
        let issuer = provider.definition.issuer.as_str().trim_end_matches('/');
        if provider.definition.issuer.host_str() == Some("github.com") {
            "https://api.github.com".to_owned()
        } else {
            format!("{issuer}/api/v3")
        }
    }

    pub(super) fn client(provider: &Provider) -> Result<GithubClient, ProviderError> {
        let issuer = provider.definition.issuer.as_str().trim_end_matches('/');
        let url_error = |error: url::ParseError| ProviderError::Unavailable(error.to_string());
        Ok(
            BasicClient::new(ClientId::new(provider.definition.client_id.clone()))
                .set_client_secret(ClientSecret::new(
                    provider.definition.client_secret.expose().to_owned(),
                ))
                .set_auth_uri(
                    AuthUrl::new(format!("{issuer}/login/oauth/authorize")).map_err(url_error)?,
                )
                .set_token_uri(
                    TokenUrl::new(format!("{issuer}/login/oauth/access_token"))
                        .map_err(url_error)?,
                )
                .set_redirect_uri(provider.redirect.clone()),
        )
    }

    #[derive(Deserialize)]
    struct User {
        id: u64,
        login: String,
    }

    #[derive(Deserialize)]
    struct Address {
        email: String,
        primary: bool,
        verified: bool,
    }

    pub(super) async fn identify(
        http: &super::BoundedHttp,
        provider: &Provider,
        code: &str,
        secrets: &AttemptSecrets,
    ) -> Result<ProviderIdentity, ProviderError> {
        let token = client(provider)?
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(secrets.pkce_verifier()?)
            .request_async(http)
            .await
            .map_err(token_error)?;
        let access_token = token.access_token().secret();
        let base = api_base(provider);
        let get = |path: &str| {
            http.0
                .get(format!("{base}{path}"))
                .bearer_auth(access_token)
                .header(reqwest::header::ACCEPT, "application/vnd.github+json")
                .header("X-GitHub-Api-Version", "2022-11-28")
                .send()
        };
        let user: User = fetch(get("/user").await).await?;
        let addresses: Vec<Address> = fetch(get("/user/emails").await).await?;
        let primary = addresses.into_iter().find(|address| address.primary);
        Ok(ProviderIdentity {
            subject: user.id.to_string(),
            email_verified: primary.as_ref().is_some_and(|address| address.verified),
            email: primary.map(|address| address.email),
            username: Some(user.login),
        })
    }

    async fn fetch<T: serde::de::DeserializeOwned>(
        sent: reqwest::Result<reqwest::Response>,
    ) -> Result<T, ProviderError> {
        let response = sent.map_err(|error| ProviderError::Unavailable(chain(&error)))?;
        let status = response.status();
        if status.is_server_error() {
            return Err(ProviderError::Unavailable(format!(
                "GitHub answered {status}"
            )));
        }
        if !status.is_success() {
            return Err(ProviderError::Refused(format!("GitHub answered {status}")));
        }
        let body = super::read_bounded(response)
            .await
            .map_err(|error| ProviderError::Refused(chain(&error)))?;
        serde_json::from_slice(&body).map_err(|error| ProviderError::Refused(chain(&error)))
    }
}

#[cfg(test)]
mod tests {
    //! What a real provider cannot be made to send: ID tokens with a wrong
    //! issuer, audience, nonce or signature, or expired, signed here.

    use chrono::TimeZone as _;
    use openidconnect::core::{
        CoreJsonWebKeySet, CoreJwsSigningAlgorithm, CoreResponseType, CoreRsaPrivateSigningKey,
        CoreSubjectIdentifierType,
    };
    use openidconnect::{
        Audience, AuthUrl, EmptyAdditionalClaims, EmptyAdditionalProviderMetadata, EndUserEmail,
        JsonWebKeyId, JsonWebKeySetUrl, PrivateSigningKey as _, ResponseTypes, StandardClaims,
        SubjectIdentifier,
    };

    use super::*;

    #[test]
    fn s256_is_rfc_7636s() {
        // RFC 7636, appendix B.
        assert_eq!(
            pkce_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(is_s256_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!is_s256_challenge("plain-verifier"));
        assert!(is_pkce_verifier(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        ));
        assert!(!is_pkce_verifier("short"));
        assert!(!is_pkce_verifier(&"a".repeat(129)));
    }

    const ISSUER: &str = "https://idp.example";
    const CLIENT_ID: &str = "portcullis";

    fn signing_key(kid: &str) -> CoreRsaPrivateSigningKey {
        let rsa = openssl::rsa::Rsa::generate(2048).unwrap();
        let pem = String::from_utf8(rsa.private_key_to_pem().unwrap()).unwrap();
        CoreRsaPrivateSigningKey::from_pem(&pem, Some(JsonWebKeyId::new(kid.to_owned()))).unwrap()
    }

    /// A client as discovery would make it, trusting `key`.
    fn client_trusting(key: &CoreRsaPrivateSigningKey) -> OidcClient {
        let metadata = CoreProviderMetadata::new(
            IssuerUrl::new(ISSUER.to_owned()).unwrap(),
            AuthUrl::new(format!("{ISSUER}/authorize")).unwrap(),
            JsonWebKeySetUrl::new(format!("{ISSUER}/jwks")).unwrap(),
            vec![ResponseTypes::new(vec![CoreResponseType::Code])],
            vec![CoreSubjectIdentifierType::Public],
            vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256],
            EmptyAdditionalProviderMetadata {},
        )
        .set_jwks(CoreJsonWebKeySet::new(vec![key.as_verification_key()]));
        CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(CLIENT_ID.to_owned()),
            Some(ClientSecret::new("secret".to_owned())),
        )
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap()
    }

    struct Token<'a> {
        issuer: &'a str,
        audience: &'a str,
        nonce: &'a str,
        expires_in: i64,
    }

    const GOOD: Token<'static> = Token {
        issuer: ISSUER,
        audience: CLIENT_ID,
        nonce: "the-nonce",
        expires_in: 3600,
    };

    fn signed(token: &Token<'_>, key: &CoreRsaPrivateSigningKey) -> CoreIdToken {
        let claims = CoreIdTokenClaims::new(
            IssuerUrl::new(token.issuer.to_owned()).unwrap(),
            vec![Audience::new(token.audience.to_owned())],
            now() + chrono::Duration::seconds(token.expires_in),
            now(),
            StandardClaims::new(SubjectIdentifier::new("subject-1".to_owned()))
                .set_email(Some(EndUserEmail::new("ada@example.com".to_owned())))
                .set_email_verified(Some(true)),
            EmptyAdditionalClaims {},
        )
        .set_nonce(Some(Nonce::new(token.nonce.to_owned())));
        CoreIdToken::new(
            claims,
            key,
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            None,
            None,
        )
        .unwrap()
    }

    fn verified(
        token: &CoreIdToken,
        client: &OidcClient,
        at: DateTime<Utc>,
    ) -> Result<String, ClaimsVerificationError> {
        verify_id_token(client, token, &Nonce::new("the-nonce".to_owned()), at)
            .map(|claims| claims.subject().to_string())
    }

    #[test]
    fn only_a_token_of_the_provider_for_this_client_and_attempt_verifies() {
        let key = signing_key("k1");
        let client = client_trusting(&key);
        assert_eq!(
            verified(&signed(&GOOD, &key), &client, now()).unwrap(),
            "subject-1"
        );

        let wrong_issuer = Token {
            issuer: "https://evil.example",
            ..GOOD
        };
        assert!(matches!(
            verified(&signed(&wrong_issuer, &key), &client, now()),
            Err(ClaimsVerificationError::InvalidIssuer(_))
        ));
        let wrong_audience = Token {
            audience: "another-app",
            ..GOOD
        };
        assert!(matches!(
            verified(&signed(&wrong_audience, &key), &client, now()),
            Err(ClaimsVerificationError::InvalidAudience(_))
        ));
        let wrong_nonce = Token {
            nonce: "another-attempt",
            ..GOOD
        };
        assert!(matches!(
            verified(&signed(&wrong_nonce, &key), &client, now()),
            Err(ClaimsVerificationError::InvalidNonce(_))
        ));
    }

    #[test]
    fn a_token_signed_by_another_key_does_not_verify() {
        let key = signing_key("k1");
        let client = client_trusting(&key);
        // Same key id, another key: a forged signature.
        let forger = signing_key("k1");
        assert!(matches!(
            verified(&signed(&GOOD, &forger), &client, now()),
            Err(ClaimsVerificationError::SignatureVerification(_))
        ));
        // A key id the provider never published (a rotation this node has
        // not seen: `identify` fetches the keys again on this error).
        let rotated = signing_key("k2");
        assert!(matches!(
            verified(&signed(&GOOD, &rotated), &client, now()),
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey
            ))
        ));
    }

    #[test]
    fn an_expired_token_does_not_verify_past_the_clock_skew() {
        let key = signing_key("k1");
        let client = client_trusting(&key);
        let token = signed(&GOOD, &key);
        let expiry = now() + chrono::Duration::seconds(GOOD.expires_in);
        let within_skew = expiry + chrono::Duration::seconds(CLOCK_SKEW_SECS - 1);
        assert!(verified(&token, &client, within_skew).is_ok());
        let past = expiry + chrono::Duration::seconds(CLOCK_SKEW_SECS + 1);
        assert!(matches!(
            verified(&token, &client, past),
            Err(ClaimsVerificationError::Expired(_))
        ));
    }

    #[test]
    fn attempt_secrets_survive_their_sealing_form_and_a_bad_verifier_is_refused() {
        let secrets = AttemptSecrets {
            nonce: "n".to_owned(),
            pkce_verifier: "v".repeat(43),
        };
        let back = AttemptSecrets::from_bytes(&secrets.to_bytes()).unwrap();
        assert_eq!(back.nonce, "n");
        assert!(back.pkce_verifier().is_ok());
        let short = AttemptSecrets {
            nonce: "n".to_owned(),
            pkce_verifier: "short".to_owned(),
        };
        assert!(matches!(
            short.pkce_verifier(),
            Err(ProviderError::Refused(_))
        ));
    }
}
