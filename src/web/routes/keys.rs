//! The public keys resource servers use to verify access tokens on their own.

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};

use crate::auth::tokens::Jwks;
use crate::state::AppState;

/// The JSON Web Key Set of every key whose tokens are accepted (the signing key
/// and any older verification keys; none with HS256, whose secret is never
/// published) and the OpenID Provider's RSA key of RS256 ID tokens.
#[utoipa::path(
    tag = "keys",
    operation_id = "get_jwks",
    responses((status = 200, description = "The public keys, by `kid`.", body = Jwks)),
)]
#[get("/.well-known/jwks.json")]
pub async fn get_jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        // Public and rarely changing: resource servers may cache it briefly.
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(Jwks {
            keys: state
                .tokens
                .jwks()
                .keys
                .iter()
                .chain(std::iter::once(state.oauth.rsa_jwk()))
                .cloned()
                .collect(),
        })
}
