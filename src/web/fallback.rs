//! What answers when no handler does: 404 or 405 (with `Allow`) for unknown
//! routes, the `/docs` redirect, and the safety net that turns any error
//! response not produced by [`ApiError`] into problem+json.

use actix_web::dev::{ResourceDef, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpRequest, ResponseError, web};
use utoipa::openapi::OpenApi;

use super::problem::{ApiError, PROBLEM_CONTENT_TYPE};

/// Every path the API serves and the methods it accepts there, taken from the
/// OpenAPI document (so it cannot drift from the routes), to tell 404 from 405.
pub struct RouteTable {
    routes: Vec<(ResourceDef, Vec<&'static str>)>,
}

impl RouteTable {
    pub fn from_openapi(openapi: &OpenApi) -> Self {
        let mut routes: Vec<(ResourceDef, Vec<&'static str>)> = openapi
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let methods = [
                    ("GET", item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ]
                .into_iter()
                .filter_map(|(method, present)| present.then_some(method))
                .collect();
                (ResourceDef::new(path.as_str()), methods)
            })
            .collect();
        // Served by Swagger UI rather than by annotated handlers.
        routes.push((ResourceDef::new("/openapi.json"), vec!["GET"]));
        routes.push((ResourceDef::new("/docs"), vec!["GET"]));
        routes.push((ResourceDef::new("/docs/{_:.*}"), vec!["GET"]));
        Self { routes }
    }

    /// The methods of the path's own operations. When several templates
    /// match (`/me/passkeys/registration` and `/me/passkeys/{id}`), the path
    /// is the one with the fewest variables, as the document describes it:
    /// `registration` is not a passkey id.
    fn allowed_methods(&self, path: &str) -> Vec<&'static str> {
        let matching: Vec<&(ResourceDef, Vec<&'static str>)> = self
            .routes
            .iter()
            .filter(|(pattern, _)| pattern.is_match(path))
            .collect();
        let variables =
            |pattern: &ResourceDef| pattern.pattern().map_or(0, |p| p.matches('{').count());
        let fewest = matching
            .iter()
            .map(|(pattern, _)| variables(pattern))
            .min()
            .unwrap_or(0);
        let mut allowed: Vec<&'static str> = matching
            .into_iter()
            .filter(|(pattern, _)| variables(pattern) == fewest)
            .flat_map(|(_, methods)| methods.iter().copied())
            .collect();
        allowed.sort_unstable();
        allowed.dedup();
        allowed
    }
}

/// `/docs` → `/docs/`, where Swagger UI's relative asset paths resolve.
pub async fn redirect_to_docs() -> actix_web::HttpResponse {
    actix_web::HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/docs/"))
        .finish()
}

/// The default service: 405 with `Allow` for a known path, 404 otherwise.
pub async fn no_such_route(
    req: HttpRequest,
    routes: web::Data<RouteTable>,
) -> Result<actix_web::HttpResponse, ApiError> {
    let allowed = routes.allowed_methods(req.path());
    Err(if allowed.is_empty() {
        ApiError::NotFound
    } else {
        ApiError::MethodNotAllowed {
            allow: allowed.join(", "),
        }
    })
}

/// Safety net for error responses that did not come from [`ApiError`] (actix
/// internals, Swagger UI): same status, problem+json body.
pub fn render_bare_error_as_problem<B>(
    response: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    // Problems, and the RFC 6749 JSON errors of the OAuth endpoints, are
    // answers a handler chose; actix's own errors are plain text.
    let chosen = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| {
            value.as_bytes() == PROBLEM_CONTENT_TYPE.as_bytes()
                || value.as_bytes() == b"application/json"
        });
    if chosen {
        return Ok(ErrorHandlerResponse::Response(
            response.map_into_left_body(),
        ));
    }
    let error = match response.status() {
        StatusCode::NOT_FOUND => ApiError::NotFound,
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType,
        StatusCode::UNAUTHORIZED => ApiError::InvalidToken,
        StatusCode::FORBIDDEN => ApiError::Forbidden,
        StatusCode::SERVICE_UNAVAILABLE => ApiError::ServiceUnavailable,
        status if status.is_client_error() => {
            ApiError::MalformedRequest("the request could not be understood".to_owned())
        }
        _ => ApiError::Internal(anyhow::anyhow!(
            "unhandled error response with status {}",
            response.status()
        )),
    };
    let (request, original) = response.into_parts();
    let mut replacement = error.error_response();
    *replacement.status_mut() = original.status();
    // Keep what the original said about the request (Allow, CORS, …).
    for (name, value) in original.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            replacement
                .headers_mut()
                .insert(name.clone(), value.clone());
        }
    }
    let response = ServiceResponse::new(request, replacement).map_into_right_body();
    Ok(ErrorHandlerResponse::Response(response))
}
