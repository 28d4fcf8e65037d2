//! The apps that sign people in through Portcullis (OpenID Provider clients):
//! registering, changing and deleting them (admin API and `portcullis
//! client`), their secrets, and the rules a redirect URI must follow.
//!
//! A confidential client's secret is 256 random bits, shown once and kept as
//! its SHA-256: a slow hash adds nothing to a secret that cannot be guessed,
//! and would put argon2 on every token request.

use chrono::NaiveDateTime;
use serde_json::json;

use super::audit::Event;
use super::caller::ClientInfo;
use super::carries_store_errors;
use super::one_time::{OneTimeToken, token_hash};
use super::ports::{HasClock, HasStore};
use crate::auth::oauth_tokens::IdTokenAlg;
use crate::db::StoreError;
use crate::db::oauth::{self, ClientRow};
use crate::domain::{EventType, Secret, Violation, Violations};

pub const GRANT_AUTHORIZATION_CODE: &str = "authorization_code";
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";
pub const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";
/// The scopes OpenID Connect defines that Portcullis answers.
pub const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];
/// Most redirect URIs one client may register.
const MAX_REDIRECT_URIS: usize = 20;
const MAX_SCOPES: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid client registration")]
    Invalid(Violations),
    #[error("no such client")]
    NotFound,
    /// A public client has no secret to rotate.
    #[error("a public client has no secret")]
    NoSecret,
    #[error(transparent)]
    Store(#[from] StoreError),
}
carries_store_errors!(ClientError);

/// Public (a SPA or a native app: no secret, PKCE required) or confidential
/// (a server: authenticates with its secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientType {
    Public,
    Confidential,
}

impl ClientType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Confidential => "confidential",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "public" => Some(Self::Public),
            "confidential" => Some(Self::Confidential),
            _ => None,
        }
    }
}

/// A registered client.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    pub id: String,
    pub name: String,
    pub client_type: ClientType,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub first_party: bool,
    pub id_token_alg: IdTokenAlg,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub(in crate::service) secret_hash: Option<String>,
}

impl OAuthClient {
    pub(in crate::service) fn from_row(row: ClientRow) -> Result<Self, StoreError> {
        let unreadable = |what: &str| {
            StoreError::Failed(anyhow::anyhow!("client {}: unreadable {what}", row.id))
        };
        let list = |text: &str, what: &str| {
            serde_json::from_str::<Vec<String>>(text).map_err(|_| unreadable(what))
        };
        Ok(Self {
            client_type: ClientType::parse(&row.client_type).ok_or_else(|| unreadable("type"))?,
            redirect_uris: list(&row.redirect_uris, "redirect URIs")?,
            post_logout_redirect_uris: list(&row.post_logout_redirect_uris, "logout URIs")?,
            grant_types: list(&row.grant_types, "grant types")?,
            scopes: list(&row.scopes, "scopes")?,
            id_token_alg: IdTokenAlg::parse(&row.id_token_signed_response_alg)
                .ok_or_else(|| unreadable("ID-token algorithm"))?,
            id: row.id,
            name: row.name,
            first_party: row.first_party,
            created_at: row.created_at,
            updated_at: row.updated_at,
            secret_hash: row.secret_hash,
        })
    }

    fn to_row(&self) -> ClientRow {
        let list = |items: &[String]| serde_json::to_string(items).unwrap_or_else(|_| "[]".into());
        ClientRow {
            id: self.id.clone(),
            name: self.name.clone(),
            client_type: self.client_type.as_str().to_owned(),
            secret_hash: self.secret_hash.clone(),
            redirect_uris: list(&self.redirect_uris),
            post_logout_redirect_uris: list(&self.post_logout_redirect_uris),
            grant_types: list(&self.grant_types),
            scopes: list(&self.scopes),
            first_party: self.first_party,
            id_token_signed_response_alg: self.id_token_alg.as_str().to_owned(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    pub fn allows_grant(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|allowed| allowed == grant)
    }

    /// Whether `secret` is this client's (compared in constant time).
    pub(in crate::service) fn secret_matches(&self, secret: &str) -> bool {
        self.secret_hash.as_deref().is_some_and(|stored| {
            aws_lc_rs::constant_time::verify_slices_are_equal(
                stored.as_bytes(),
                token_hash(secret).as_bytes(),
            )
            .is_ok()
        })
    }

    /// The registered redirect URI `requested` matches: exactly, or, for a
    /// loopback one of a native app, on any port (RFC 8252 §7.3).
    pub fn redirect_uri_matches(&self, requested: &str) -> bool {
        redirect_matches(&self.redirect_uris, requested)
    }

    pub fn post_logout_uri_matches(&self, requested: &str) -> bool {
        redirect_matches(&self.post_logout_redirect_uris, requested)
    }
}

fn redirect_matches(registered: &[String], requested: &str) -> bool {
    if registered.iter().any(|uri| uri == requested) {
        return true;
    }
    let Ok(requested) = url::Url::parse(requested) else {
        return false;
    };
    if requested.scheme() != "http" || !is_loopback_ip(&requested) {
        return false;
    }
    registered.iter().any(|uri| {
        url::Url::parse(uri).is_ok_and(|registered| {
            registered.scheme() == "http"
                && is_loopback_ip(&registered)
                && registered.host() == requested.host()
                && registered.path() == requested.path()
                && registered.query() == requested.query()
                && registered.username() == requested.username()
                && registered.password() == requested.password()
                && requested.fragment().is_none()
        })
    })
}

/// `127.0.0.1` or `[::1]` (RFC 8252 §7.3; `localhost` may resolve elsewhere).
fn is_loopback_ip(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    }
}

/// Why a redirect URI cannot be registered, if it cannot: it must be
/// absolute without a fragment, and `https`, `http` on a loopback address or
/// `localhost` (development and native apps), or a private-use scheme in
/// reverse-domain form (`com.example.app:/cb`, RFC 8252 §7.1).
fn redirect_uri_problem(uri: &str) -> Option<&'static str> {
    let Ok(parsed) = url::Url::parse(uri) else {
        return Some("not an absolute URI");
    };
    if parsed.fragment().is_some() {
        return Some("a redirect URI has no fragment");
    }
    match parsed.scheme() {
        "https" if parsed.host().is_some() => None,
        "http" if is_loopback_ip(&parsed) || parsed.host_str() == Some("localhost") => None,
        "http" => Some("plain http only on a loopback address"),
        scheme if scheme.contains('.') => None,
        _ => Some(
            "https, http on a loopback address, or a private-use scheme such as com.example.app:/cb",
        ),
    }
}

/// The scopes of a space-separated `scope` parameter, sorted, without
/// repeats (RFC 6749 §3.3: their order carries no meaning).
pub fn split_scopes(scope: &str) -> Vec<String> {
    let mut scopes: Vec<String> = scope
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    scopes.sort();
    scopes.dedup();
    scopes
}

/// Whether `scope` is one RFC 6749 scope token (§3.3).
pub fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope.len() <= 128
        && scope.bytes().all(|byte| {
            byte == 0x21 || (0x23..=0x5B).contains(&byte) || (0x5D..=0x7E).contains(&byte)
        })
}

/// What a registration or a change asks for; `None` keeps the current value
/// (or takes the default, for a new client).
#[derive(Debug, Clone, Default)]
pub struct ClientChanges {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub first_party: Option<bool>,
    pub id_token_signed_response_alg: Option<String>,
}

/// A client and, when it was just made or given a new one, its secret.
#[derive(Debug)]
pub struct ClientWithSecret {
    pub client: OAuthClient,
    pub secret: Option<Secret>,
}

/// Applies `changes` to `client` (the rules checked on the result as a whole).
fn apply(
    mut client: OAuthClient,
    changes: ClientChanges,
    eddsa_available: bool,
) -> Result<OAuthClient, ClientError> {
    let mut violations = Violations::new();
    let mut refuse = |field: &'static str, code: &'static str, message: String| {
        violations
            .entry(field)
            .or_default()
            .push(Violation::new(code, message));
    };
    if let Some(name) = changes.name {
        client.name = name.trim().to_owned();
    }
    if client.name.is_empty() || client.name.chars().count() > 100 {
        refuse("name", "length", "1 to 100 characters".into());
    }
    for (field, uris, given) in [
        (
            "redirect_uris",
            &mut client.redirect_uris,
            changes.redirect_uris,
        ),
        (
            "post_logout_redirect_uris",
            &mut client.post_logout_redirect_uris,
            changes.post_logout_redirect_uris,
        ),
    ] {
        if let Some(given) = given {
            *uris = given;
        }
        if uris.len() > MAX_REDIRECT_URIS {
            refuse(field, "too_many", format!("at most {MAX_REDIRECT_URIS}"));
        }
        for uri in uris.iter() {
            if let Some(problem) = redirect_uri_problem(uri) {
                refuse(field, "invalid", format!("{uri}: {problem}"));
            }
        }
    }
    if let Some(grants) = changes.grant_types {
        client.grant_types = grants;
    }
    client.grant_types.dedup();
    for grant in &client.grant_types {
        let allowed = match grant.as_str() {
            GRANT_AUTHORIZATION_CODE | GRANT_REFRESH_TOKEN => true,
            GRANT_CLIENT_CREDENTIALS => client.client_type == ClientType::Confidential,
            _ => false,
        };
        if !allowed {
            refuse(
                "grant_types",
                "invalid",
                format!(
                    "{grant}: authorization_code, refresh_token, or client_credentials (confidential clients)"
                ),
            );
        }
    }
    if client.grant_types.is_empty() {
        refuse("grant_types", "required", "at least one grant type".into());
    }
    if client.allows_grant(GRANT_AUTHORIZATION_CODE) && client.redirect_uris.is_empty() {
        refuse(
            "redirect_uris",
            "required",
            "the authorization_code grant needs a redirect URI".into(),
        );
    }
    if let Some(scopes) = changes.scopes {
        client.scopes = scopes;
    }
    client.scopes.sort();
    client.scopes.dedup();
    if client.scopes.len() > MAX_SCOPES {
        refuse("scopes", "too_many", format!("at most {MAX_SCOPES}"));
    }
    for scope in &client.scopes {
        if !is_scope_token(scope) {
            refuse(
                "scopes",
                "invalid",
                format!("{scope:?} is not a scope token"),
            );
        }
    }
    if let Some(first_party) = changes.first_party {
        client.first_party = first_party;
    }
    if let Some(alg) = changes.id_token_signed_response_alg {
        match IdTokenAlg::parse(&alg) {
            Some(IdTokenAlg::EdDsa) if !eddsa_available => refuse(
                "id_token_signed_response_alg",
                "invalid",
                "EdDSA needs JWT_ALGORITHM=EdDSA".into(),
            ),
            Some(parsed) => client.id_token_alg = parsed,
            None => refuse(
                "id_token_signed_response_alg",
                "invalid",
                "RS256 or EdDSA".into(),
            ),
        }
    }
    if violations.is_empty() {
        Ok(client)
    } else {
        Err(ClientError::Invalid(violations))
    }
}

/// Registers a client; a confidential one gets its secret, shown once.
pub async fn create(
    deps: &(impl HasStore + HasClock),
    client_type: &str,
    changes: ClientChanges,
    eddsa_available: bool,
    actor: Option<&str>,
    client_info: &ClientInfo,
) -> Result<ClientWithSecret, ClientError> {
    let Some(client_type) = ClientType::parse(client_type) else {
        return Err(ClientError::Invalid(Violations::from([(
            "type",
            vec![Violation::new("invalid", "public or confidential")],
        )])));
    };
    let (secret, secret_hash) = match client_type {
        ClientType::Confidential => {
            let OneTimeToken {
                token: secret,
                hash,
            } = OneTimeToken::new()?;
            (Some(Secret::from(secret)), Some(hash))
        }
        ClientType::Public => (None, None),
    };
    let now = deps.now();
    let blank = OAuthClient {
        id: new_client_id()?,
        name: String::new(),
        client_type,
        redirect_uris: Vec::new(),
        post_logout_redirect_uris: Vec::new(),
        grant_types: vec![GRANT_AUTHORIZATION_CODE.into(), GRANT_REFRESH_TOKEN.into()],
        scopes: vec!["email".into(), "openid".into(), "profile".into()],
        first_party: false,
        id_token_alg: IdTokenAlg::Rs256,
        created_at: now,
        updated_at: now,
        secret_hash,
    };
    let client = apply(blank, changes, eddsa_available)?;
    let row = client.to_row();
    let mut event = Event::new(EventType::OauthClientCreated, client_info, now)
        .detail(json!({"client_id": client.id, "name": client.name}));
    if let Some(actor) = actor {
        event = event.actor(actor);
    }
    deps.db()
        .transaction(move |conn| {
            oauth::insert_client(conn, &row)?;
            event.record(conn)?;
            Ok::<_, ClientError>(())
        })
        .await?;
    Ok(ClientWithSecret { client, secret })
}

/// A client id: 128 random bits, base64url (not a secret; unguessable so
/// that client ids reveal nothing about how many there are).
fn new_client_id() -> Result<String, StoreError> {
    let OneTimeToken { token, .. } = OneTimeToken::new()?;
    Ok(token.chars().take(22).collect())
}

pub async fn list(deps: &impl HasStore) -> Result<Vec<OAuthClient>, ClientError> {
    let rows = deps
        .db()
        .run(|conn| Ok::<_, StoreError>(oauth::list_clients(conn)?))
        .await?;
    Ok(rows
        .into_iter()
        .map(OAuthClient::from_row)
        .collect::<Result<_, _>>()?)
}

pub async fn get(deps: &impl HasStore, id: &str) -> Result<OAuthClient, ClientError> {
    let id = id.to_owned();
    let row = deps
        .db()
        .run(move |conn| Ok::<_, StoreError>(oauth::find_client(conn, &id)?))
        .await?
        .ok_or(ClientError::NotFound)?;
    Ok(OAuthClient::from_row(row)?)
}

/// Changes a client (its type stays); tokens already issued stay valid.
pub async fn update(
    deps: &(impl HasStore + HasClock),
    id: &str,
    changes: ClientChanges,
    eddsa_available: bool,
) -> Result<OAuthClient, ClientError> {
    let id = id.to_owned();
    let now = deps.now();
    deps.db()
        .transaction(move |conn| {
            let row = oauth::find_client(conn, &id)?.ok_or(ClientError::NotFound)?;
            let mut client = apply(OAuthClient::from_row(row)?, changes, eddsa_available)?;
            client.updated_at = now;
            oauth::update_client(conn, &client.to_row())?;
            Ok(client)
        })
        .await
}

/// Deletes a client and with it every grant, code and consent it had: its
/// refresh tokens stop working at once, and its access tokens at userinfo
/// and introspection.
pub async fn delete(
    deps: &(impl HasStore + HasClock),
    id: &str,
    actor: Option<&str>,
    client_info: &ClientInfo,
) -> Result<(), ClientError> {
    let id = id.to_owned();
    let mut event = Event::new(EventType::OauthClientDeleted, client_info, deps.now())
        .detail(json!({"client_id": id}));
    if let Some(actor) = actor {
        event = event.actor(actor);
    }
    deps.db()
        .transaction(move |conn| {
            if !oauth::delete_client(conn, &id)? {
                return Err(ClientError::NotFound);
            }
            event.record(conn)?;
            Ok(())
        })
        .await
}

/// Gives a confidential client a new secret; the old one stops working.
pub async fn rotate_secret(
    deps: &(impl HasStore + HasClock),
    id: &str,
) -> Result<Secret, ClientError> {
    let id = id.to_owned();
    let OneTimeToken {
        token: secret,
        hash,
    } = OneTimeToken::new()?;
    let now = deps.now();
    deps.db()
        .transaction(move |conn| {
            let row = oauth::find_client(conn, &id)?.ok_or(ClientError::NotFound)?;
            let mut client = OAuthClient::from_row(row)?;
            if client.client_type != ClientType::Confidential {
                return Err(ClientError::NoSecret);
            }
            client.secret_hash = Some(hash);
            client.updated_at = now;
            oauth::update_client(conn, &client.to_row())?;
            Ok(())
        })
        .await?;
    Ok(Secret::from(secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_redirects_match_on_any_port_and_nothing_else_does() {
        let registered = vec![
            "http://127.0.0.1/callback".to_owned(),
            "https://app.example/cb".to_owned(),
            "com.example.app:/cb".to_owned(),
        ];
        assert!(redirect_matches(
            &registered,
            "http://127.0.0.1:53124/callback"
        ));
        assert!(redirect_matches(&registered, "https://app.example/cb"));
        assert!(redirect_matches(&registered, "com.example.app:/cb"));
        assert!(!redirect_matches(
            &registered,
            "http://127.0.0.1:53124/other"
        ));
        assert!(!redirect_matches(
            &registered,
            "http://localhost:53124/callback"
        ));
        assert!(!redirect_matches(&registered, "https://app.example/cb/"));
        assert!(!redirect_matches(
            &registered,
            "https://app.example:8443/cb"
        ));
        assert!(!redirect_matches(&registered, "https://app.example/cb?x=1"));
        assert!(!redirect_matches(
            &registered,
            "https://APP.example.evil/cb"
        ));
        assert!(!redirect_matches(
            &registered,
            "http://127.0.0.1:1/callback#x"
        ));
    }

    #[test]
    fn only_safe_redirect_uris_register() {
        assert_eq!(redirect_uri_problem("https://app.example/cb"), None);
        assert_eq!(redirect_uri_problem("http://127.0.0.1/cb"), None);
        assert_eq!(redirect_uri_problem("http://[::1]:8080/cb"), None);
        assert_eq!(redirect_uri_problem("http://localhost:3000/cb"), None);
        assert_eq!(redirect_uri_problem("com.example.app:/oauth"), None);
        assert!(redirect_uri_problem("http://app.example/cb").is_some());
        assert!(redirect_uri_problem("https://app.example/cb#frag").is_some());
        assert!(redirect_uri_problem("javascript:alert(1)").is_some());
        assert!(redirect_uri_problem("data:text/html,x").is_some());
        assert!(redirect_uri_problem("/relative").is_some());
    }

    #[test]
    fn scope_tokens_follow_rfc_6749() {
        assert!(is_scope_token("openid"));
        assert!(is_scope_token("read:orders"));
        assert!(!is_scope_token(""));
        assert!(!is_scope_token("two words"));
        assert!(!is_scope_token("quote\"d"));
        assert!(!is_scope_token("back\\slash"));
    }
}
