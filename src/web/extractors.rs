//! Extractors that make a handler's signature say what it requires: an
//! [`AuthUser`] argument means "a valid access token whose session is still
//! live", an [`AdminCaller`] argument means that plus the admin role.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use super::problem::ApiError;
use crate::service::admin;
use crate::service::caller::Caller;
use crate::service::sessions;
use crate::state::AppState;

/// The caller, authenticated by an access token whose session is still active
/// and whose account is enabled (checked against the database on every
/// request, so logout, deletion and disabling take effect at once).
#[derive(Debug, Clone)]
pub struct AuthUser(pub Caller);

/// An [`AuthUser`] whose role is `admin` in the database (not only in the
/// token) and who, with `ADMIN_REQUIRE_MFA`, logged in with a second factor.
#[derive(Debug, Clone)]
pub struct AdminCaller(pub Caller);

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
            Ok(Self(
                sessions::authenticate(state.get_ref(), &token?).await?,
            ))
        })
    }
}

impl FromRequest for AdminCaller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let authenticated = AuthUser::from_request(req, payload);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let AuthUser(caller) = authenticated.await?;
            let state = state.ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!("application state is not configured"))
            })?;
            Ok(Self(admin::authorize(state.get_ref(), caller)?))
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
