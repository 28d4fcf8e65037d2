//! The OpenID Provider's token endpoint and what reads its tokens: the
//! `authorization_code`, `refresh_token` and `client_credentials` grants,
//! userinfo, introspection (RFC 7662) and revocation (RFC 7009).
//!
//! Failures are RFC 6749 §5.2 error codes ([`GrantError`]); the web layer
//! renders them as that section says.

use chrono::NaiveDateTime;
use serde::Serialize;
use serde_json::json;

use super::audit::Event;
use super::authorization::amr_names;
use super::caller::ClientInfo;
use super::oauth_clients::{
    ClientType, GRANT_AUTHORIZATION_CODE, GRANT_CLIENT_CREDENTIALS, GRANT_REFRESH_TOKEN,
    OAuthClient, OIDC_SCOPES, split_scopes,
};
use super::one_time::token_hash;
use super::ports::{HasClock, HasMetrics, HasOAuth, HasPolicy, HasStore, HasTokens};
use crate::auth::oauth_tokens::{OAuthAccessClaims, OAuthRefreshClaims};
use crate::auth::providers::{is_pkce_verifier, pkce_s256};
use crate::auth::tokens::TokenError;
use crate::clock::seconds;
use crate::db::oauth::{self, GrantRow};
use crate::db::users::UserRow;
use crate::db::{DbConnection, StoreError};
use crate::domain::EventType;

/// An RFC 6749 §5.2 error (or a failure of ours).
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    #[error("invalid_request: {0}")]
    InvalidRequest(String),
    /// The client could not be authenticated (401).
    #[error("invalid_client")]
    InvalidClient,
    #[error("invalid_grant: {0}")]
    InvalidGrant(&'static str),
    #[error("unauthorized_client")]
    UnauthorizedClient,
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    #[error("invalid_scope: {0}")]
    InvalidScope(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Token(TokenError),
}
super::carries_store_errors!(GrantError);

impl GrantError {
    /// The RFC 6749 `error` code; `server_error` for a failure of ours.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope(_) => "invalid_scope",
            Self::Store(_) | Self::Token(_) => "server_error",
        }
    }
}

impl From<TokenError> for GrantError {
    fn from(error: TokenError) -> Self {
        match error {
            TokenError::Failed(failure) => Self::Token(TokenError::Failed(failure)),
            TokenError::Invalid | TokenError::Expired => {
                Self::InvalidGrant("the token is not valid")
            }
        }
    }
}

/// How a client said who it is at the token, introspection or revocation
/// endpoint: `client_secret_basic`, `client_secret_post`, or `none` (a
/// public client's id alone).
#[derive(Debug, Clone, Default)]
pub struct ClientCredentials {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// Both the header and the body tried to authenticate (RFC 6749 §2.3).
    pub several_methods: bool,
}

/// The form of a token request.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
}

/// A token response (RFC 6749 §5.1, OpenID Connect Core §3.1.3.3).
#[derive(Debug, Clone, Serialize)]
pub struct IssuedTokens {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// Authenticates the client of a request. A confidential client must prove
/// its secret; a public one names itself and has none.
async fn authenticate_client(
    deps: &impl HasStore,
    credentials: &ClientCredentials,
) -> Result<OAuthClient, GrantError> {
    if credentials.several_methods {
        return Err(GrantError::InvalidRequest(
            "use one client authentication method".into(),
        ));
    }
    let Some(client_id) = credentials.client_id.clone() else {
        return Err(GrantError::InvalidClient);
    };
    let client = deps
        .db()
        .run(move |conn| Ok::<_, StoreError>(oauth::find_client(conn, &client_id)?))
        .await?
        .map(OAuthClient::from_row)
        .transpose()?
        .ok_or(GrantError::InvalidClient)?;
    let authenticated = match (client.client_type, credentials.client_secret.as_deref()) {
        (ClientType::Confidential, Some(secret)) => client.secret_matches(secret),
        (ClientType::Public, None) => true,
        _ => false,
    };
    if !authenticated {
        return Err(GrantError::InvalidClient);
    }
    Ok(client)
}

/// The token endpoint (`POST /oauth2/token`), each answer counted.
pub async fn token(
    deps: &(impl HasStore + HasClock + HasTokens + HasOAuth + HasPolicy + HasMetrics),
    credentials: &ClientCredentials,
    request: TokenRequest,
    client_info: &ClientInfo,
) -> Result<IssuedTokens, GrantError> {
    let grant_type = [
        GRANT_AUTHORIZATION_CODE,
        GRANT_REFRESH_TOKEN,
        GRANT_CLIENT_CREDENTIALS,
    ]
    .into_iter()
    .find(|known| request.grant_type.as_deref() == Some(*known))
    .unwrap_or("other");
    let answer = grant(deps, credentials, request, client_info).await;
    let outcome = answer.as_ref().map_or_else(GrantError::code, |_| "issued");
    deps.metrics().oauth_token(grant_type, outcome);
    answer
}

async fn grant(
    deps: &(impl HasStore + HasClock + HasTokens + HasOAuth + HasPolicy),
    credentials: &ClientCredentials,
    request: TokenRequest,
    client_info: &ClientInfo,
) -> Result<IssuedTokens, GrantError> {
    let grant_type = request
        .grant_type
        .clone()
        .ok_or_else(|| GrantError::InvalidRequest("grant_type is missing".into()))?;
    if ![
        GRANT_AUTHORIZATION_CODE,
        GRANT_REFRESH_TOKEN,
        GRANT_CLIENT_CREDENTIALS,
    ]
    .contains(&grant_type.as_str())
    {
        return Err(GrantError::UnsupportedGrantType);
    }
    let client = authenticate_client(deps, credentials).await?;
    if !client.allows_grant(&grant_type) {
        return Err(GrantError::UnauthorizedClient);
    }
    match grant_type.as_str() {
        GRANT_AUTHORIZATION_CODE => exchange_code(deps, &client, request, client_info).await,
        GRANT_REFRESH_TOKEN => refresh(deps, &client, request).await,
        _ => client_credentials(deps, &client, request),
    }
}

async fn exchange_code(
    deps: &(impl HasStore + HasClock + HasTokens + HasOAuth + HasPolicy),
    client: &OAuthClient,
    request: TokenRequest,
    client_info: &ClientInfo,
) -> Result<IssuedTokens, GrantError> {
    let code = request
        .code
        .ok_or_else(|| GrantError::InvalidRequest("code is missing".into()))?;
    let redirect_uri = request
        .redirect_uri
        .ok_or_else(|| GrantError::InvalidRequest("redirect_uri is missing".into()))?;
    if let Some(verifier) = &request.code_verifier
        && !is_pkce_verifier(verifier)
    {
        return Err(GrantError::InvalidRequest(
            "code_verifier is not an RFC 7636 verifier".into(),
        ));
    }
    let code_hash = token_hash(&code);
    let now = deps.now();
    let client_id = client.id.clone();
    let grant_id = uuid::Uuid::new_v4().to_string();
    let refresh_jti = client
        .allows_grant(GRANT_REFRESH_TOKEN)
        .then(|| uuid::Uuid::new_v4().to_string());
    let grant_ttl = deps.tokens().session_ttl(true);
    let client_info = client_info.clone();
    let verifier = request.code_verifier;
    let outcome = deps
        .db()
        .transaction(move |conn| {
            let Some(code) = oauth::find_code(conn, &code_hash)? else {
                return Ok(Err("the code is unknown"));
            };
            if code.client_id != client_id {
                return Ok(Err("the code was issued to another client"));
            }
            if let Some(first_grant) = &code.grant_id {
                // A second use: whoever holds the code now may have stolen
                // it, so what the first use issued is revoked (RFC 6749 §4.1.2).
                oauth::revoke_grant(conn, first_grant, now)?;
                Event::new(EventType::OauthCodeReused, &client_info, now)
                    .user(&code.user_id)
                    .detail(json!({"client_id": client_id, "grant_id": first_grant}))
                    .record(conn)?;
                return Ok(Err("the code was already used"));
            }
            if code.expires_at <= now {
                return Ok(Err("the code has expired"));
            }
            if code.redirect_uri != redirect_uri {
                return Ok(Err("redirect_uri differs from the authorization request's"));
            }
            match (&code.code_challenge, &verifier) {
                (Some(challenge), Some(verifier)) if pkce_s256(verifier) == *challenge => {}
                (None, None) => {}
                (Some(_), None) => return Ok(Err("code_verifier is missing")),
                // A verifier without a challenge is a downgrade attempt (RFC 9700 §2.1.1).
                _ => return Ok(Err("code_verifier does not match")),
            }
            if !oauth::spend_code(conn, &code_hash, &grant_id)? {
                return Ok(Err("the code was already used"));
            }
            let Some(user) = crate::db::users::find_by_id(conn, &code.user_id)? else {
                return Ok(Err("the account is gone"));
            };
            if user.disabled {
                return Ok(Err("the account is disabled"));
            }
            let grant = GrantRow {
                id: grant_id,
                client_id: client_id.clone(),
                user_id: code.user_id.clone(),
                scope: code.scope.clone(),
                refresh_jti,
                previous_refresh_jti: None,
                rotated_at: None,
                auth_time: code.auth_time,
                amr: code.amr.clone(),
                created_at: now,
                expires_at: now + seconds(grant_ttl),
                revoked_at: None,
            };
            oauth::insert_grant(conn, &grant)?;
            Ok::<_, GrantError>(Ok((grant, user, code.nonce)))
        })
        .await?;
    let (grant, user, nonce) = outcome.map_err(GrantError::InvalidGrant)?;
    issue_for_grant(deps, client, &grant, &user, nonce.as_deref(), None)
}

/// Access-token claims for `client` about `subject` (a user, or the client
/// itself under `client_credentials`), good for the access-token lifetime
/// from now; tied to `grant` when a user's grant issued them.
fn access_claims(
    deps: &(impl HasClock + HasTokens + HasOAuth),
    client: &OAuthClient,
    subject: &str,
    scope: &str,
    grant: Option<&GrantRow>,
) -> OAuthAccessClaims {
    let now = deps.now().and_utc().timestamp();
    let ttl = i64::try_from(deps.tokens().access_ttl()).unwrap_or(i64::MAX / 2);
    let oauth = deps.oauth();
    OAuthAccessClaims {
        iss: oauth.issuer().to_owned(),
        sub: subject.to_owned(),
        aud: oauth.access_audience(&client.id),
        client_id: client.id.clone(),
        scope: scope.to_owned(),
        iat: now,
        exp: now + ttl,
        jti: uuid::Uuid::new_v4().to_string(),
        auth_time: grant.map(|grant| grant.auth_time.and_utc().timestamp()),
        gid: grant.map(|grant| grant.id.clone()),
    }
}

/// Access token, ID token (with `openid`) and the grant's current refresh
/// token (when the client may refresh).
fn issue_for_grant(
    deps: &(impl HasClock + HasTokens + HasOAuth),
    client: &OAuthClient,
    grant: &GrantRow,
    user: &UserRow,
    nonce: Option<&str>,
    narrowed_scope: Option<&str>,
) -> Result<IssuedTokens, GrantError> {
    let now = deps.now().and_utc().timestamp();
    let access_ttl = deps.tokens().access_ttl();
    let scope = narrowed_scope.unwrap_or(&grant.scope).to_owned();
    let oauth = deps.oauth();
    let access = access_claims(deps, client, &user.id, &scope, Some(grant));
    let access_token = oauth
        .issue_access(deps.tokens(), &access)
        .map_err(GrantError::Token)?;
    let refresh_token = match &grant.refresh_jti {
        Some(jti) => Some(
            oauth
                .issue_refresh(
                    deps.tokens(),
                    &OAuthRefreshClaims {
                        iss: oauth.issuer().to_owned(),
                        aud: client.id.clone(),
                        sub: user.id.clone(),
                        gid: grant.id.clone(),
                        iat: now,
                        exp: grant.expires_at.and_utc().timestamp(),
                        jti: jti.clone(),
                    },
                )
                .map_err(GrantError::Token)?,
        ),
        None => None,
    };
    let scopes = split_scopes(&scope);
    let id_token = if scopes.iter().any(|scope| scope == "openid") {
        let mut claims = json!({
            "iss": oauth.issuer(),
            "sub": user.id,
            "aud": client.id,
            "azp": client.id,
            // The ID token lives as long as the access token issued with it.
            "iat": access.iat,
            "exp": access.exp,
            "auth_time": access.auth_time,
            "amr": amr_names(&grant.amr),
        });
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        add_profile_claims(&mut claims, &scopes, user);
        Some(
            oauth
                .sign_id_token(deps.tokens(), client.id_token_alg, &claims)
                .map_err(GrantError::Token)?,
        )
    } else {
        None
    };
    Ok(IssuedTokens {
        access_token,
        token_type: "Bearer",
        expires_in: access_ttl,
        scope,
        refresh_token,
        id_token,
    })
}

/// The claims the `email` and `profile` scopes release.
fn add_profile_claims(claims: &mut serde_json::Value, scopes: &[String], user: &UserRow) {
    if scopes.iter().any(|scope| scope == "email") {
        claims["email"] = json!(user.email);
        claims["email_verified"] = json!(user.email_verified);
    }
    if scopes.iter().any(|scope| scope == "profile") {
        claims["preferred_username"] = json!(user.username);
        claims["updated_at"] = json!(user.updated_at.and_utc().timestamp());
    }
}

async fn refresh(
    deps: &(impl HasStore + HasClock + HasTokens + HasOAuth + HasPolicy),
    client: &OAuthClient,
    request: TokenRequest,
) -> Result<IssuedTokens, GrantError> {
    let token = request
        .refresh_token
        .ok_or_else(|| GrantError::InvalidRequest("refresh_token is missing".into()))?;
    let now = deps.now();
    let claims = deps
        .oauth()
        .verify_refresh(deps.tokens(), &token, now.and_utc().timestamp())?;
    if claims.aud != client.id {
        return Err(GrantError::InvalidGrant(
            "the refresh token was issued to another client",
        ));
    }
    let grace = deps.policy().refresh_reuse_grace;
    let next = uuid::Uuid::new_v4().to_string();
    let outcome = deps
        .db()
        .transaction(move |conn| rotate(conn, &claims, &next, now, grace))
        .await?;
    let (grant, user) = outcome.map_err(GrantError::InvalidGrant)?;
    let narrowed = match request.scope.as_deref() {
        None => None,
        Some(asked) => {
            let granted = split_scopes(&grant.scope);
            let asked = split_scopes(asked);
            if let Some(extra) = asked.iter().find(|scope| !granted.contains(scope)) {
                return Err(GrantError::InvalidScope(format!("{extra} was not granted")));
            }
            Some(asked.join(" "))
        }
    };
    issue_for_grant(deps, client, &grant, &user, None, narrowed.as_deref())
}

/// Rotates the grant's refresh token as sessions rotate theirs: the current
/// one is replaced; the one before it, within the grace, gets the current
/// one back; anything else is reuse and revokes the grant.
fn rotate(
    conn: &mut DbConnection,
    claims: &OAuthRefreshClaims,
    next: &str,
    now: NaiveDateTime,
    grace: u64,
) -> Result<Result<(GrantRow, UserRow), &'static str>, GrantError> {
    let Some((mut grant, user)) = oauth::find_live_grant(conn, &claims.gid, now)? else {
        return Ok(Err("the grant was revoked or has expired"));
    };
    if user.disabled {
        return Ok(Err("the account is disabled"));
    }
    if grant.refresh_jti.as_deref() == Some(claims.jti.as_str()) {
        if oauth::rotate_refresh(conn, &grant.id, &claims.jti, next, now)? {
            grant.previous_refresh_jti = grant.refresh_jti.take();
            grant.refresh_jti = Some(next.to_owned());
            grant.rotated_at = Some(now);
            return Ok(Ok((grant, user)));
        }
        // Another request rotated it between our read and our write: read
        // again and answer as the grace says.
        let Some(again) = oauth::find_live_grant(conn, &claims.gid, now)? else {
            return Ok(Err("the grant was revoked or has expired"));
        };
        grant = again.0;
    }
    let within_grace = grant.previous_refresh_jti.as_deref() == Some(claims.jti.as_str())
        && grant
            .rotated_at
            .is_some_and(|rotated| now < rotated + seconds(grace));
    if within_grace {
        return Ok(Ok((grant, user)));
    }
    oauth::revoke_grant(conn, &grant.id, now)?;
    Ok(Err(
        "the refresh token was already used; the grant is revoked",
    ))
}

fn client_credentials(
    deps: &(impl HasClock + HasTokens + HasOAuth),
    client: &OAuthClient,
    request: TokenRequest,
) -> Result<IssuedTokens, GrantError> {
    let allowed: Vec<&String> = client
        .scopes
        .iter()
        .filter(|scope| !OIDC_SCOPES.contains(&scope.as_str()))
        .collect();
    let scopes = match request.scope.as_deref() {
        None => allowed.iter().map(|scope| (*scope).clone()).collect(),
        Some(asked) => {
            let asked = split_scopes(asked);
            if let Some(extra) = asked.iter().find(|scope| !allowed.contains(scope)) {
                return Err(GrantError::InvalidScope(format!(
                    "{extra} is not allowed for client_credentials"
                )));
            }
            asked
        }
    };
    let scope = scopes.join(" ");
    let access_ttl = deps.tokens().access_ttl();
    let oauth = deps.oauth();
    let claims = access_claims(deps, client, &client.id, &scope, None);
    Ok(IssuedTokens {
        access_token: oauth
            .issue_access(deps.tokens(), &claims)
            .map_err(GrantError::Token)?,
        token_type: "Bearer",
        expires_in: access_ttl,
        scope,
        refresh_token: None,
        id_token: None,
    })
}

/// Why userinfo refused a token.
#[derive(Debug, thiserror::Error)]
pub enum UserinfoError {
    #[error("invalid token")]
    InvalidToken,
    #[error("token expired")]
    Expired,
    /// The token lacks the `openid` scope.
    #[error("insufficient scope")]
    InsufficientScope,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Failed(anyhow::Error),
}
super::carries_store_errors!(UserinfoError);

/// The claims about the user an access token's scopes release
/// (OpenID Connect Core §5.3).
pub async fn userinfo(
    deps: &(impl HasStore + HasClock + HasTokens + HasOAuth),
    access_token: &str,
) -> Result<serde_json::Value, UserinfoError> {
    let now = deps.now();
    let claims = deps
        .oauth()
        .verify_access(deps.tokens(), access_token, now.and_utc().timestamp())
        .map_err(|error| match error {
            TokenError::Expired => UserinfoError::Expired,
            TokenError::Invalid => UserinfoError::InvalidToken,
            TokenError::Failed(failure) => UserinfoError::Failed(failure),
        })?;
    let Some(grant_id) = claims.gid.clone() else {
        // A client's own token (client_credentials) is about no user.
        return Err(UserinfoError::InvalidToken);
    };
    let scopes = split_scopes(&claims.scope);
    if !scopes.iter().any(|scope| scope == "openid") {
        return Err(UserinfoError::InsufficientScope);
    }
    let (_, user) = deps
        .db()
        .run(move |conn| Ok::<_, StoreError>(oauth::find_live_grant(conn, &grant_id, now)?))
        .await?
        .filter(|(grant, user)| !user.disabled && grant.user_id == claims.sub)
        .ok_or(UserinfoError::InvalidToken)?;
    let mut answer = json!({"sub": user.id});
    add_profile_claims(&mut answer, &scopes, &user);
    Ok(answer)
}

/// An introspection answer (RFC 7662 §2.2); inactive tokens say nothing else.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Introspection {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

/// Introspection (`POST /oauth2/introspect`), for confidential clients (the
/// resource servers): whether an access or refresh token this provider
/// issued is live, and what it carries.
pub async fn introspect(
    deps: &(impl HasStore + HasClock + HasTokens + HasOAuth),
    credentials: &ClientCredentials,
    token: Option<&str>,
) -> Result<Introspection, GrantError> {
    let client = authenticate_client(deps, credentials).await?;
    if client.client_type != ClientType::Confidential {
        return Err(GrantError::InvalidClient);
    }
    let token = token.ok_or_else(|| GrantError::InvalidRequest("token is missing".into()))?;
    let now = deps.now();
    let timestamp = now.and_utc().timestamp();
    let oauth = deps.oauth();
    if let Ok(claims) = oauth.verify_access(deps.tokens(), token, timestamp) {
        let live = match &claims.gid {
            None => true,
            Some(grant_id) => live_grant(deps, grant_id, now).await?.is_some(),
        };
        return Ok(if live {
            Introspection {
                active: true,
                sub: Some(claims.sub),
                client_id: Some(claims.client_id),
                scope: Some(claims.scope),
                exp: Some(claims.exp),
                iat: Some(claims.iat),
                token_type: Some("Bearer"),
                iss: Some(claims.iss),
                aud: Some(claims.aud),
            }
        } else {
            Introspection::default()
        });
    }
    if let Ok(claims) = oauth.verify_refresh(deps.tokens(), token, timestamp) {
        let grant = live_grant(deps, &claims.gid, now)
            .await?
            .filter(|grant| grant.refresh_jti.as_deref() == Some(claims.jti.as_str()));
        if let Some(grant) = grant {
            return Ok(Introspection {
                active: true,
                sub: Some(claims.sub),
                client_id: Some(grant.client_id),
                scope: Some(grant.scope),
                exp: Some(claims.exp),
                iat: Some(claims.iat),
                token_type: Some("refresh_token"),
                iss: Some(claims.iss),
                aud: Some(claims.aud),
            });
        }
    }
    Ok(Introspection::default())
}

/// The grant, when it is neither revoked nor expired and its user is not
/// disabled.
async fn live_grant(
    deps: &impl HasStore,
    grant_id: &str,
    now: NaiveDateTime,
) -> Result<Option<GrantRow>, StoreError> {
    let grant_id = grant_id.to_owned();
    deps.db()
        .run(move |conn| Ok::<_, StoreError>(oauth::find_live_grant(conn, &grant_id, now)?))
        .await
        .map(|found| {
            found
                .filter(|(_, user)| !user.disabled)
                .map(|(grant, _)| grant)
        })
}

/// Revocation (`POST /oauth2/revoke`, RFC 7009): a refresh or access token
/// the client holds ends its grant. Anything else is quietly accepted.
pub async fn revoke(
    deps: &(impl HasStore + HasClock + HasTokens + HasOAuth),
    credentials: &ClientCredentials,
    token: Option<&str>,
) -> Result<(), GrantError> {
    let client = authenticate_client(deps, credentials).await?;
    let token = token.ok_or_else(|| GrantError::InvalidRequest("token is missing".into()))?;
    let now = deps.now();
    // Expired tokens still name their grant: revoking it is what was asked.
    let far_past = 0;
    let oauth = deps.oauth();
    let grant_id = match oauth.verify_refresh(deps.tokens(), token, far_past) {
        Ok(claims) if claims.aud == client.id => Some(claims.gid),
        _ => match oauth.verify_access(deps.tokens(), token, far_past) {
            Ok(claims) if claims.client_id == client.id => claims.gid,
            _ => None,
        },
    };
    if let Some(grant_id) = grant_id {
        deps.db()
            .transaction(move |conn| {
                Ok::<_, StoreError>(oauth::revoke_grant(conn, &grant_id, now)?)
            })
            .await?;
    }
    Ok(())
}

/// Removes expired requests, codes and grants (logged, retried at the next
/// sweep when the database is away).
pub async fn prune(deps: &(impl HasStore + HasClock)) {
    let now = deps.now();
    let codes_before = now - seconds(super::authorization::USED_CODE_MEMORY_SECS);
    if let Err(error) = deps
        .db()
        .transaction(move |conn| Ok::<_, StoreError>(oauth::prune(conn, now, codes_before)?))
        .await
    {
        tracing::warn!(%error, "pruning expired OpenID Provider rows failed; will retry");
    }
}
