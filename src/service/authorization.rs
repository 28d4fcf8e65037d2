//! The OpenID Provider's authorization endpoint and what follows it in the
//! browser: the request waiting for the login page, its acceptance (with
//! consent) or rejection, the browser's single sign-on, the user's consents,
//! and RP-initiated logout.
//!
//! Errors are told apart by where they may go (RFC 6749 §4.1.2.1): before the
//! client and its redirect URI are known to be genuine, nothing is sent back
//! to the redirect URI ([`AuthorizeError::NoRedirect`]); after, errors go
//! back to the client as `error=…&state=…`.

use chrono::NaiveDateTime;
use serde_json::json;
use url::Url;

use super::audit::Event;
use super::caller::{Caller, ClientInfo};
use super::carries_store_errors;
use super::oauth_clients::{ClientType, GRANT_AUTHORIZATION_CODE, OAuthClient, split_scopes};
use super::one_time::{OneTimeToken, token_hash};
use super::ports::{HasClock, HasOAuth, HasPolicy, HasStore};
use crate::auth::providers::is_s256_challenge;
use crate::clock::seconds;
use crate::db::StoreError;
use crate::db::oauth::{self, CodeRow, ConsentRow, RequestRow};
use crate::db::sessions;
use crate::domain::{Amr, EventType, Secret};

/// Seconds a request waits for the login page.
pub const REQUEST_TTL_SECS: u64 = 600;
/// Seconds an authorization code may be exchanged.
pub const CODE_TTL_SECS: u64 = 60;
/// Seconds a used code is remembered after its expiry, so that a late second
/// use still revokes what the first issued.
pub const USED_CODE_MEMORY_SECS: u64 = 3600;

#[derive(Debug, thiserror::Error)]
pub enum AuthorizeError {
    /// The client or its redirect URI cannot be trusted: answered in place,
    /// never redirected.
    #[error("{0}")]
    NoRedirect(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}
carries_store_errors!(AuthorizeError);

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// Unknown, used or expired.
    #[error("no such request")]
    NotFound,
    /// The client needs consent and none was given.
    #[error("consent required")]
    ConsentRequired { scopes: Vec<String> },
    /// `prompt=login` or `max_age` asks for a login newer than the caller's.
    #[error("a fresh login is required")]
    FreshLoginRequired,
    #[error(transparent)]
    Store(#[from] StoreError),
}
carries_store_errors!(RequestError);

#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    #[error("no such consent")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}
carries_store_errors!(ConsentError);

/// The parameters of an authorization request, as sent.
#[derive(Debug, Clone, Default)]
pub struct AuthorizeRequest {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    /// `request` or `request_uri` was sent (request objects are not supported).
    pub request_object: bool,
    /// A parameter was sent twice.
    pub repeated: Option<String>,
    /// The `portcullis_sso` cookie.
    pub sso: Option<String>,
}

/// Where the browser goes next.
#[derive(Debug)]
pub enum Authorized {
    /// Back to the client, with a code or an error.
    ToClient(Url),
    /// To the login page, with `request_id`.
    ToLogin(Url),
}

/// What the login page shows of a request.
#[derive(Debug, Clone)]
pub struct PendingRequest {
    pub client_id: String,
    pub client_name: String,
    pub scopes: Vec<String>,
    pub prompt: Option<String>,
    pub expires_at: NaiveDateTime,
}

/// An accepted request: where the browser goes, and the single sign-on
/// cookie that keeps it signed in.
#[derive(Debug)]
pub struct Accepted {
    pub redirect_to: Url,
    pub sso: Secret,
}

/// A consent as its user sees it.
#[derive(Debug, Clone)]
pub struct ConsentInfo {
    pub client_id: String,
    pub client_name: String,
    pub scopes: Vec<String>,
    pub granted_at: NaiveDateTime,
}

/// Where a request goes back to, once the client and redirect URI are known.
struct ReturnAddress {
    redirect_uri: String,
    state: Option<String>,
    issuer: String,
}

impl ReturnAddress {
    fn with(&self, params: &[(&str, &str)]) -> Result<Url, AuthorizeError> {
        let mut url = Url::parse(&self.redirect_uri)
            .map_err(|_| AuthorizeError::NoRedirect("the redirect URI is not a URL"))?;
        {
            let mut query = url.query_pairs_mut();
            for (name, value) in params {
                query.append_pair(name, value);
            }
            if let Some(state) = &self.state {
                query.append_pair("state", state);
            }
            // RFC 9207: the response says who sent it (mix-up defence).
            query.append_pair("iss", &self.issuer);
        }
        Ok(url)
    }

    /// [`ReturnAddress::with`] for a redirect URI read back from a stored
    /// request (checked when it was stored: unreadable means a broken row).
    fn with_stored(&self, params: &[(&str, &str)]) -> Result<Url, RequestError> {
        self.with(params).map_err(|_| {
            RequestError::Store(StoreError::Failed(anyhow::anyhow!(
                "a stored redirect URI is not a URL"
            )))
        })
    }

    fn error(&self, error: &str, description: &str) -> Result<Authorized, AuthorizeError> {
        self.with(&[("error", error), ("error_description", description)])
            .map(Authorized::ToClient)
    }
}

/// The authorization endpoint (`GET /oauth2/authorize`).
pub async fn authorize(
    deps: &(impl HasStore + HasClock + HasOAuth + HasPolicy),
    request: AuthorizeRequest,
) -> Result<Authorized, AuthorizeError> {
    let Some(client_id) = request.client_id.clone() else {
        return Err(AuthorizeError::NoRedirect("client_id is missing"));
    };
    if request.repeated.as_deref() == Some("client_id")
        || request.repeated.as_deref() == Some("redirect_uri")
    {
        return Err(AuthorizeError::NoRedirect("a parameter was sent twice"));
    }
    let lookup = client_id.clone();
    let client = deps
        .db()
        .run(move |conn| Ok::<_, StoreError>(oauth::find_client(conn, &lookup)?))
        .await?
        .ok_or(AuthorizeError::NoRedirect("unknown client_id"))
        .and_then(|row| Ok(OAuthClient::from_row(row)?))?;
    let Some(redirect_uri) = request.redirect_uri.clone() else {
        return Err(AuthorizeError::NoRedirect("redirect_uri is missing"));
    };
    if !client.redirect_uri_matches(&redirect_uri) {
        return Err(AuthorizeError::NoRedirect(
            "redirect_uri is not registered for this client",
        ));
    }
    let back = ReturnAddress {
        redirect_uri,
        state: request.state.clone(),
        issuer: deps.oauth().issuer().to_owned(),
    };
    if let Some(name) = &request.repeated {
        return back.error(
            "invalid_request",
            &format!("{name} was sent more than once"),
        );
    }
    if request.request_object {
        return back.error("request_not_supported", "request objects are not supported");
    }
    match request.response_type.as_deref() {
        Some("code") => {}
        None => return back.error("invalid_request", "response_type is missing"),
        Some(_) => return back.error("unsupported_response_type", "only response_type=code"),
    }
    if !client.allows_grant(GRANT_AUTHORIZATION_CODE) {
        return back.error(
            "unauthorized_client",
            "this client may not use the authorization code grant",
        );
    }
    let scopes = split_scopes(request.scope.as_deref().unwrap_or_default());
    if scopes.is_empty() {
        return back.error("invalid_scope", "scope is missing");
    }
    if let Some(unknown) = scopes.iter().find(|scope| !client.scopes.contains(scope)) {
        return back.error(
            "invalid_scope",
            &format!("{unknown} is not allowed for this client"),
        );
    }
    match (
        request.code_challenge.as_deref(),
        request.code_challenge_method.as_deref(),
    ) {
        (None, _) if client.client_type == ClientType::Public => {
            return back.error(
                "invalid_request",
                "public clients must use PKCE (code_challenge, S256)",
            );
        }
        (None, None) => {}
        (None, Some(_)) => {
            return back.error(
                "invalid_request",
                "code_challenge_method without code_challenge",
            );
        }
        (Some(_), method) if method != Some("S256") => {
            return back.error("invalid_request", "code_challenge_method must be S256");
        }
        (Some(challenge), _) if !is_s256_challenge(challenge) => {
            return back.error("invalid_request", "code_challenge is not an S256 challenge");
        }
        (Some(_), _) => {}
    }
    let prompts: Vec<&str> = request
        .prompt
        .as_deref()
        .unwrap_or_default()
        .split(' ')
        .filter(|p| !p.is_empty())
        .collect();
    if prompts.contains(&"none") && prompts.len() > 1 {
        return back.error("invalid_request", "prompt=none cannot be combined");
    }
    if let Some(unknown) = prompts
        .iter()
        .find(|p| !["none", "login", "consent", "select_account"].contains(p))
    {
        return back.error("invalid_request", &format!("unknown prompt {unknown}"));
    }
    let max_age = match request.max_age.as_deref() {
        None => None,
        Some(text) => match text.parse::<u32>() {
            Ok(seconds) => Some(i64::from(seconds)),
            Err(_) => return back.error("invalid_request", "max_age is not a number of seconds"),
        },
    };
    if request
        .nonce
        .as_ref()
        .is_some_and(|nonce| nonce.len() > 512)
        || request
            .state
            .as_ref()
            .is_some_and(|state| state.len() > 2048)
    {
        return back.error("invalid_request", "state or nonce is too long");
    }

    let now = deps.now();
    let scope = scopes.join(" ");
    let signed_in = match (&request.sso, prompts.contains(&"login")) {
        (Some(sso), false) => {
            let sso_hash = token_hash(sso);
            deps.db()
                .run(move |conn| {
                    Ok::<_, StoreError>(oauth::find_sso_session(conn, &sso_hash, now)?)
                })
                .await?
                .filter(|(session, _)| {
                    max_age
                        .is_none_or(|max_age| (now - session.created_at).num_seconds() <= max_age)
                })
        }
        _ => None,
    };
    if let Some((session, user)) = signed_in {
        let consent_needed = if prompts.contains(&"consent") && !client.first_party {
            true
        } else {
            let (user_id, lookup) = (user.id.clone(), client.id.clone());
            let consent = deps
                .db()
                .run(move |conn| Ok::<_, StoreError>(oauth::find_consent(conn, &user_id, &lookup)?))
                .await?;
            needs_consent(&client, consent.as_ref(), &scopes)
        };
        if !consent_needed {
            let code = issue_code(
                deps,
                &client,
                &user.id,
                CodeRequest {
                    redirect_uri: back.redirect_uri.clone(),
                    scope,
                    nonce: request.nonce.clone(),
                    code_challenge: request.code_challenge.clone(),
                },
                session.created_at,
                &session.amr,
            )
            .await?;
            return back
                .with(&[("code", code.expose())])
                .map(Authorized::ToClient);
        }
        if prompts.contains(&"none") {
            return back.error(
                "consent_required",
                "the user has not consented to these scopes",
            );
        }
    } else if prompts.contains(&"none") {
        return back.error("login_required", "the user is not signed in");
    }

    let OneTimeToken {
        token: request_id,
        hash: id_hash,
    } = OneTimeToken::new()?;
    let row = RequestRow {
        id_hash,
        client_id: client.id.clone(),
        redirect_uri: back.redirect_uri.clone(),
        scope,
        state: request.state.clone(),
        nonce: request.nonce.clone(),
        code_challenge: request.code_challenge.clone(),
        prompt: (!prompts.is_empty()).then(|| prompts.join(" ")),
        max_age,
        created_at: now,
        expires_at: now + seconds(REQUEST_TTL_SECS),
    };
    deps.db()
        .transaction(move |conn| Ok::<_, StoreError>(oauth::insert_request(conn, &row)?))
        .await?;
    let mut login = deps.policy().oauth_login_url.clone();
    login
        .query_pairs_mut()
        .append_pair("request_id", &request_id);
    Ok(Authorized::ToLogin(login))
}

/// Whether the user must consent before `client` gets `scopes`.
fn needs_consent(client: &OAuthClient, consent: Option<&ConsentRow>, scopes: &[String]) -> bool {
    if client.first_party {
        return false;
    }
    let Some(consent) = consent else {
        return true;
    };
    let granted = split_scopes(&consent.scope);
    scopes.iter().any(|scope| !granted.contains(scope))
}

/// What a code is bound to from the authorization request.
struct CodeRequest {
    redirect_uri: String,
    scope: String,
    nonce: Option<String>,
    code_challenge: Option<String>,
}

impl CodeRequest {
    /// The stored code for this request, given by `user_id` to `client_id`,
    /// good for [`CODE_TTL_SECS`] from `now`.
    fn into_row(
        self,
        code_hash: String,
        client_id: &str,
        user_id: &str,
        auth_time: NaiveDateTime,
        amr: &str,
        now: NaiveDateTime,
    ) -> CodeRow {
        CodeRow {
            code_hash,
            client_id: client_id.to_owned(),
            user_id: user_id.to_owned(),
            redirect_uri: self.redirect_uri,
            scope: self.scope,
            nonce: self.nonce,
            code_challenge: self.code_challenge,
            auth_time,
            amr: amr.to_owned(),
            created_at: now,
            expires_at: now + seconds(CODE_TTL_SECS),
            grant_id: None,
        }
    }
}

async fn issue_code(
    deps: &(impl HasStore + HasClock),
    client: &OAuthClient,
    user_id: &str,
    request: CodeRequest,
    auth_time: NaiveDateTime,
    amr: &str,
) -> Result<Secret, StoreError> {
    let OneTimeToken {
        token: code,
        hash: code_hash,
    } = OneTimeToken::new()?;
    let row = request.into_row(code_hash, &client.id, user_id, auth_time, amr, deps.now());
    deps.db()
        .transaction(move |conn| Ok::<_, StoreError>(oauth::insert_code(conn, &row)?))
        .await?;
    Ok(Secret::from(code))
}

/// What the login page shows of a waiting request.
pub async fn pending(
    deps: &(impl HasStore + HasClock),
    request_id: &str,
) -> Result<PendingRequest, RequestError> {
    let id_hash = token_hash(request_id);
    let now = deps.now();
    let (request, client) = deps
        .db()
        .run(move |conn| Ok::<_, StoreError>(oauth::find_request(conn, &id_hash, now)?))
        .await?
        .ok_or(RequestError::NotFound)?;
    Ok(PendingRequest {
        client_id: client.id,
        client_name: client.name,
        scopes: split_scopes(&request.scope),
        prompt: request.prompt,
        expires_at: request.expires_at,
    })
}

/// The signed-in user accepts a request (consenting when `consent`): the
/// request is spent, a code issued, and the browser gets single sign-on.
pub async fn accept(
    deps: &(impl HasStore + HasClock + HasOAuth),
    caller: &Caller,
    request_id: &str,
    consent: bool,
    client_info: &ClientInfo,
) -> Result<Accepted, RequestError> {
    let id_hash = token_hash(request_id);
    let now = deps.now();
    let user_id = caller.account.id.to_string();
    let session_id = caller.session_id.clone();
    let session_started_at = caller.session_started_at;
    let amr = caller.amr.to_stored();
    let OneTimeToken {
        token: code,
        hash: code_hash,
    } = OneTimeToken::new()?;
    let OneTimeToken {
        token: sso,
        hash: sso_hash,
    } = OneTimeToken::new()?;
    let issuer = deps.oauth().issuer().to_owned();
    let client_info = client_info.clone();
    let redirect_to = deps
        .db()
        .transaction(move |conn| {
            let (request, client) =
                oauth::find_request(conn, &id_hash, now)?.ok_or(RequestError::NotFound)?;
            let client = OAuthClient::from_row(client)?;
            let prompts: Vec<&str> = request
                .prompt
                .as_deref()
                .unwrap_or_default()
                .split(' ')
                .collect();
            let fresh_enough = (!prompts.contains(&"login")
                || session_started_at >= request.created_at)
                && request
                    .max_age
                    .is_none_or(|max_age| (now - session_started_at).num_seconds() <= max_age);
            if !fresh_enough {
                return Err(RequestError::FreshLoginRequired);
            }
            let scopes = split_scopes(&request.scope);
            let on_record = oauth::find_consent(conn, &user_id, &client.id)?;
            let asked_again = prompts.contains(&"consent") && !client.first_party;
            if (asked_again || needs_consent(&client, on_record.as_ref(), &scopes)) && !consent {
                return Err(RequestError::ConsentRequired { scopes });
            }
            if !oauth::delete_request(conn, &id_hash)? {
                return Err(RequestError::NotFound);
            }
            if consent && !client.first_party {
                let merge = |on_record: Option<&str>| {
                    let mut granted = on_record.map(split_scopes).unwrap_or_default();
                    granted.extend(scopes.iter().cloned());
                    granted.sort();
                    granted.dedup();
                    granted.join(" ")
                };
                oauth::add_consent(conn, &user_id, &client.id, merge, now)?;
                Event::new(EventType::OauthConsentGranted, &client_info, now)
                    .user(&user_id)
                    .detail(json!({"client_id": client.id, "scopes": scopes}))
                    .record(conn)?;
            }
            let bound_to = CodeRequest {
                redirect_uri: request.redirect_uri.clone(),
                scope: request.scope,
                nonce: request.nonce,
                code_challenge: request.code_challenge,
            };
            oauth::insert_code(
                conn,
                &bound_to.into_row(
                    code_hash,
                    &client.id,
                    &user_id,
                    session_started_at,
                    &amr,
                    now,
                ),
            )?;
            oauth::insert_sso(conn, &sso_hash, &session_id, now)?;
            let back = ReturnAddress {
                redirect_uri: request.redirect_uri,
                state: request.state,
                issuer,
            };
            back.with_stored(&[("code", &code)])
        })
        .await?;
    Ok(Accepted {
        redirect_to,
        sso: Secret::from(sso),
    })
}

/// The user declines a request: it is spent, and the client hears
/// `access_denied`.
pub async fn reject(
    deps: &(impl HasStore + HasClock + HasOAuth),
    request_id: &str,
) -> Result<Url, RequestError> {
    let id_hash = token_hash(request_id);
    let now = deps.now();
    let issuer = deps.oauth().issuer().to_owned();
    deps.db()
        .transaction(move |conn| {
            let (request, _) =
                oauth::find_request(conn, &id_hash, now)?.ok_or(RequestError::NotFound)?;
            if !oauth::delete_request(conn, &id_hash)? {
                return Err(RequestError::NotFound);
            }
            let back = ReturnAddress {
                redirect_uri: request.redirect_uri,
                state: request.state,
                issuer,
            };
            back.with_stored(&[
                ("error", "access_denied"),
                ("error_description", "the user declined"),
            ])
        })
        .await
}

/// The caller's consents, most recent first.
pub async fn consents(
    deps: &impl HasStore,
    caller: &Caller,
) -> Result<Vec<ConsentInfo>, ConsentError> {
    let user_id = caller.account.id.to_string();
    let rows = deps
        .db()
        .run(move |conn| Ok::<_, StoreError>(oauth::consents_of(conn, &user_id)?))
        .await?;
    Ok(rows
        .into_iter()
        .map(|(row, client_name)| ConsentInfo {
            client_id: row.client_id,
            client_name,
            scopes: split_scopes(&row.scope),
            granted_at: row.granted_at,
        })
        .collect())
}

/// Withdraws the caller's consent to a client and revokes every grant the
/// caller gave it (its refresh tokens stop working at once).
pub async fn revoke_consent(
    deps: &(impl HasStore + HasClock),
    caller: &Caller,
    client_id: &str,
    client_info: &ClientInfo,
) -> Result<(), ConsentError> {
    let user_id = caller.account.id.to_string();
    let client_id = client_id.to_owned();
    let now = deps.now();
    let event = Event::new(EventType::OauthConsentRevoked, client_info, now)
        .user(&user_id)
        .detail(json!({"client_id": client_id}));
    deps.db()
        .transaction(move |conn| {
            if !oauth::delete_consent(conn, &user_id, &client_id)? {
                return Err(ConsentError::NotFound);
            }
            oauth::revoke_grants_of(conn, &user_id, &client_id, now)?;
            event.record(conn)?;
            Ok(())
        })
        .await
}

/// An RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0).
#[derive(Debug, Clone, Default)]
pub struct LogoutRequest {
    pub id_token_hint: Option<String>,
    pub client_id: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
    /// The `portcullis_sso` cookie.
    pub sso: Option<String>,
    /// The user confirmed on the logout page (a form post from our origin).
    pub confirmed: bool,
}

#[derive(Debug)]
pub enum LoggedOut {
    /// Signed out; back to the client.
    ToClient(Url),
    /// Signed out; nowhere registered to go.
    Done,
    /// The request did not prove it came from the signed-in user's client:
    /// the user confirms on a page first (a cross-site request cannot end
    /// someone's session).
    ConfirmFirst,
}

#[derive(Debug, thiserror::Error)]
pub enum LogoutError {
    #[error("{0}")]
    Invalid(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}
carries_store_errors!(LogoutError);

/// Ends the browser's single sign-on (and the session behind it), then sends
/// it to a registered `post_logout_redirect_uri`.
pub async fn logout(
    deps: &(impl HasStore + HasClock + HasOAuth + super::ports::HasTokens),
    request: LogoutRequest,
    client_info: &ClientInfo,
) -> Result<LoggedOut, LogoutError> {
    let hint = match &request.id_token_hint {
        Some(token) => Some(
            deps.oauth()
                .verify_id_token_hint(deps.tokens(), token)
                .ok_or(LogoutError::Invalid(
                    "id_token_hint is not an ID token from this provider",
                ))?,
        ),
        None => None,
    };
    let client_id = match (&hint, &request.client_id) {
        (Some(hint), Some(client_id)) if &hint.aud != client_id => {
            return Err(LogoutError::Invalid(
                "client_id does not match id_token_hint",
            ));
        }
        (Some(hint), _) => Some(hint.aud.clone()),
        (None, client_id) => client_id.clone(),
    };
    let back = match (&request.post_logout_redirect_uri, &client_id) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(LogoutError::Invalid(
                "post_logout_redirect_uri needs id_token_hint or client_id",
            ));
        }
        (Some(uri), Some(client_id)) => {
            let lookup = client_id.clone();
            let client = deps
                .db()
                .run(move |conn| Ok::<_, StoreError>(oauth::find_client(conn, &lookup)?))
                .await?
                .map(OAuthClient::from_row)
                .transpose()?
                .ok_or(LogoutError::Invalid("unknown client"))?;
            if !client.post_logout_uri_matches(uri) {
                return Err(LogoutError::Invalid(
                    "post_logout_redirect_uri is not registered for this client",
                ));
            }
            let mut url = Url::parse(uri).map_err(|_| LogoutError::Invalid("not a URL"))?;
            if let Some(state) = &request.state {
                url.query_pairs_mut().append_pair("state", state);
            }
            Some(url)
        }
    };
    let now = deps.now();
    if let Some(sso) = &request.sso {
        let sso_hash = token_hash(sso);
        let signed_in = deps
            .db()
            .run(move |conn| Ok::<_, StoreError>(oauth::find_sso_session(conn, &sso_hash, now)?))
            .await?;
        if let Some((session, user)) = signed_in {
            let proven = hint.as_ref().is_some_and(|hint| hint.sub == user.id);
            if !proven && !request.confirmed {
                return Ok(LoggedOut::ConfirmFirst);
            }
            let event = Event::new(EventType::LoggedOut, client_info, now)
                .user(&user.id)
                .detail(json!({"session_id": session.id, "via": "oauth2_logout"}));
            deps.db()
                .transaction(move |conn| {
                    sessions::revoke(conn, &session.id, &user.id, now)?;
                    event.record(conn)?;
                    Ok::<_, StoreError>(())
                })
                .await?;
        }
    }
    Ok(back.map_or(LoggedOut::Done, LoggedOut::ToClient))
}

/// The stored form of how a session was authenticated, for codes and grants.
pub fn amr_names(stored: &str) -> Vec<String> {
    Amr::from_stored(stored).names()
}
