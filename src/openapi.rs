//! The OpenAPI document, generated from the handlers' annotations.

use actix_web::App;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt as _;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Portcullis",
        description = "Authentication API: registration, login, short-lived JWT access tokens, rotating refresh tokens, JWKS and an admin API. Every error is `application/problem+json` with a stable `code`.",
    ),
    modifiers(&BearerAuth),
    components(schemas(crate::error::Problem, crate::error::ValidationProblem, crate::error::FieldError)),
    tags(
        (name = "auth", description = "Sign up and log in."),
        (name = "account", description = "The caller's own account."),
        (name = "sessions", description = "The caller's sessions (one per login)."),
        (name = "admin", description = "Operators only (role `admin`)."),
        (name = "keys", description = "Public keys for verifying access tokens."),
        (name = "health", description = "Probes for orchestrators and load balancers."),
    ),
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token from `POST /login` or `POST /token/refresh`.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The whole document: the annotations of every route registered in
/// [`crate::routes::configure`], so a route cannot be served undocumented.
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, mut document) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(crate::routes::configure)
        .split_for_parts();
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    document
}

/// The document as committed in `openapi/openapi.json`.
pub fn document_json() -> String {
    let mut json = document()
        .to_pretty_json()
        .unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"));
    json.push('\n');
    json
}
