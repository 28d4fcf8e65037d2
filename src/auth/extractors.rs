//! Extractors that make a handler's signature say what it requires: an
//! [`AuthUser`] argument means "a valid access token whose session is still
//! live", an [`AdminUser`] argument means that plus the admin role.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use crate::auth::tokens::AccessClaims;
use crate::db::sessions;
use crate::db::users::UserRow;
use crate::error::ApiError;
use crate::startup::AppState;

/// The caller, authenticated by an access token whose session is still active
/// and whose account is enabled (checked against the database on every
/// request, so logout, deletion and disabling take effect at once).
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user: UserRow,
    pub claims: AccessClaims,
}

impl AuthUser {
    pub fn session_id(&self) -> &str {
        &self.claims.sid
    }
}

/// An [`AuthUser`] whose role is `admin` in the database (not only in the token).
#[derive(Debug, Clone)]
pub struct AdminUser(pub AuthUser);

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer_token(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!("application state is not configured"))
            })?;
            let claims = state.tokens.verify_access(&token?)?;
            let (session_id, user_id) = (claims.sid.clone(), claims.sub.clone());
            let now = crate::db::now();
            let user = state
                .db
                .run(move |conn| Ok(sessions::find_live_user(conn, &session_id, &user_id, now)?))
                .await?
                .ok_or(ApiError::InvalidToken)?;
            Ok(AuthUser { user, claims })
        })
    }
}

impl FromRequest for AdminUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let authenticated = AuthUser::from_request(req, payload);
        Box::pin(async move {
            let caller = authenticated.await?;
            if caller.user.is_admin() {
                Ok(AdminUser(caller))
            } else {
                Err(ApiError::Forbidden)
            }
        })
    }
}

/// The token of an `Authorization: Bearer …` header.
pub fn bearer_token(req: &HttpRequest) -> Result<String, ApiError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::MissingToken)?
        .to_str()
        .map_err(|_| ApiError::InvalidToken)?;
    let (scheme, token) = value.split_once(' ').ok_or(ApiError::InvalidToken)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::InvalidToken);
    }
    Ok(token.trim().to_owned())
}
