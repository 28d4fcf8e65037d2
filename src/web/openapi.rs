//! The OpenAPI document, generated from the handlers' annotations.

use actix_web::App;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt as _;

use super::problem::ErrorCode;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Portcullis",
        description = "Authentication API: registration, login, short-lived JWT access tokens, rotating refresh tokens, JWKS and an admin API. Every error is `application/problem+json` with a stable `code`.",
    ),
    servers((url = "/", description = "The service that serves this document")),
    modifiers(&BearerAuth),
    components(schemas(super::problem::Problem, super::problem::ValidationProblem, crate::domain::Violation)),
    tags(
        (name = "auth", description = "Sign up and log in."),
        (name = "account", description = "The caller's own account."),
        (name = "sessions", description = "The caller's sessions (one per login)."),
        (name = "mfa", description = "Two-factor authentication: TOTP and recovery codes."),
        (name = "passkeys", description = "The caller's passkeys (WebAuthn); logging in with one is under `auth`."),
        (name = "providers", description = "Signing in with another provider (OpenID Connect, GitHub) and the caller's linked identities."),
        (name = "recovery", description = "Forgotten passwords, proving and changing the email address."),
        (name = "admin", description = "Operators only (role `admin`)."),
        (name = "clients", description = "The apps that sign people in through Portcullis over OpenID Connect (operators only)."),
        (name = "oauth2", description = "Portcullis as an OpenID Provider: discovery, authorization, tokens, userinfo, introspection, revocation, logout, and the user's consents (see docs/oauth.md)."),
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
/// [`super::routes::configure`], so a route cannot be served undocumented.
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, mut document) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(super::routes::configure)
        .split_for_parts();
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    describe_error_codes(&mut document);
    for operation in operations(&mut document) {
        make_faithful(operation);
        bound_ids(operation);
    }
    fill_in_limits(document)
}

/// The limits descriptions state, each from the constant that enforces it:
/// a description writes `{{mfa_token_ttl_secs}}` rather than "300", so the
/// document cannot drift from the code.
fn limits() -> [(&'static str, String); 10] {
    use crate::service::{email_login, federation, identities, mfa, passkeys};
    [
        (
            "{{mfa_token_ttl_secs}}",
            mfa::MFA_TOKEN_TTL_SECS.to_string(),
        ),
        (
            "{{mfa_token_max_attempts}}",
            mfa::MFA_TOKEN_MAX_ATTEMPTS.to_string(),
        ),
        (
            "{{ceremony_ttl_secs}}",
            crate::auth::passkeys::CEREMONY_TTL_SECS.to_string(),
        ),
        ("{{max_passkeys}}", passkeys::MAX_PASSKEYS.to_string()),
        (
            "{{email_code_digits}}",
            email_login::CODE_DIGITS.to_string(),
        ),
        (
            "{{email_code_max_attempts}}",
            email_login::CODE_MAX_ATTEMPTS.to_string(),
        ),
        ("{{totp_digits}}", crate::auth::totp::DIGITS.to_string()),
        (
            "{{attempt_ttl_secs}}",
            federation::ATTEMPT_TTL_SECS.to_string(),
        ),
        (
            "{{login_code_ttl_secs}}",
            federation::LOGIN_CODE_TTL_SECS.to_string(),
        ),
        (
            "{{link_ticket_ttl_secs}}",
            identities::LINK_TICKET_TTL_SECS.to_string(),
        ),
    ]
}

/// Replaces every `{{limit}}` in the document's texts with its value: the
/// operations' summaries and descriptions, their parameters, bodies and
/// answers, and every schema's description down to nested properties.
fn fill_in_limits(mut document: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    use utoipa::openapi::RefOr;
    let limits = limits();
    let fill = |text: &mut String| {
        if text.contains("{{") {
            for (placeholder, limit) in &limits {
                *text = text.replace(placeholder, limit);
            }
        }
    };
    for operation in operations(&mut document) {
        operation.summary.iter_mut().for_each(fill);
        operation.description.iter_mut().for_each(fill);
        for parameter in operation.parameters.iter_mut().flatten() {
            parameter.description.iter_mut().for_each(fill);
        }
        if let Some(body) = operation.request_body.as_mut() {
            body.description.iter_mut().for_each(fill);
        }
        for response in operation.responses.responses.values_mut() {
            if let RefOr::T(response) = response {
                fill(&mut response.description);
            }
        }
    }
    if let Some(components) = document.components.as_mut() {
        for schema in components.schemas.values_mut() {
            fill_schema(schema, &fill);
        }
    }
    document
}

fn fill_schema(
    schema: &mut utoipa::openapi::RefOr<utoipa::openapi::Schema>,
    fill: &impl Fn(&mut String),
) {
    use utoipa::openapi::schema::ArrayItems;
    use utoipa::openapi::{RefOr, Schema};
    let RefOr::T(schema) = schema else {
        return;
    };
    match schema {
        Schema::Object(object) => {
            object.description.iter_mut().for_each(fill);
            for property in object.properties.values_mut() {
                fill_schema(property, fill);
            }
        }
        Schema::Array(array) => {
            array.description.iter_mut().for_each(fill);
            if let ArrayItems::RefOrSchema(items) = &mut array.items {
                fill_schema(items, fill);
            }
        }
        Schema::OneOf(one_of) => {
            one_of.description.iter_mut().for_each(fill);
            one_of
                .items
                .iter_mut()
                .for_each(|item| fill_schema(item, fill));
        }
        Schema::AllOf(all_of) => {
            all_of.description.iter_mut().for_each(fill);
            all_of
                .items
                .iter_mut()
                .for_each(|item| fill_schema(item, fill));
        }
        Schema::AnyOf(any_of) => {
            any_of.description.iter_mut().for_each(fill);
            any_of
                .items
                .iter_mut()
                .for_each(|item| fill_schema(item, fill));
        }
        _ => {}
    }
}

/// Length of a UUID in its canonical text form (`8-4-4-4-12`).
const UUID_LENGTH: usize = 36;

/// Every id parameter (`format: uuid`, in a path or a query) is exactly as
/// long as a UUID, so that no input of the document is unbounded (linters
/// such as Spectral's OWASP rules flag strings without `maxLength`).
fn bound_ids(operation: &mut utoipa::openapi::path::Operation) {
    use utoipa::openapi::{KnownFormat, RefOr, Schema, SchemaFormat};
    for parameter in operation.parameters.iter_mut().flatten() {
        if let Some(RefOr::T(Schema::Object(schema))) = parameter.schema.as_mut()
            && schema.format == Some(SchemaFormat::KnownFormat(KnownFormat::Uuid))
        {
            schema.min_length = Some(UUID_LENGTH);
            schema.max_length = Some(UUID_LENGTH);
        }
    }
}

/// Every operation of the document.
fn operations(
    document: &mut utoipa::openapi::OpenApi,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    document.paths.paths.values_mut().flat_map(|item| {
        [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .filter_map(Option::as_mut)
    })
}

/// What the annotations cannot say, said for every operation, so generated
/// clients and linters get it right: public operations declare `security:
/// []`; every operation documents its `500`, and one with a body its `408`;
/// an optional body is an optional `$ref` (not `oneOf: [null, …]`, which some generators cannot send); the
/// first sentence of the text is the summary and the whole text the
/// description.
fn make_faithful(operation: &mut utoipa::openapi::path::Operation) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required, ResponseBuilder, Schema};
    if operation.security.is_none() {
        operation.security = Some(Vec::new());
    }
    let has_body = operation.request_body.is_some();
    // A problem+json answer the operation does not list itself yet.
    let mut document_problem = |status: &str, description: &str| {
        let response = ResponseBuilder::new()
            .description(description)
            .content(
                super::problem::PROBLEM_CONTENT_TYPE,
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build();
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(response));
    };
    document_problem(
        "500",
        "`internal_error`: an unexpected failure; its cause goes to the log, never to the answer.",
    );
    if has_body {
        document_problem(
            "408",
            "`request_timeout`: the body did not arrive within `REQUEST_BODY_TIMEOUT` after the headers; the connection is closed.",
        );
    }
    if let Some(body) = operation.request_body.as_mut() {
        for content in body.content.values_mut() {
            let reference = match &content.schema {
                Some(RefOr::T(Schema::OneOf(one_of))) => one_of
                    .items
                    .iter()
                    .find(|item| matches!(item, RefOr::Ref(_)))
                    .cloned(),
                _ => None,
            };
            if let Some(reference) = reference {
                content.schema = Some(reference);
                body.required = Some(Required::False);
            }
        }
    }
    if operation.description.is_none()
        && let Some(text) = operation.summary.take()
    {
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let first_sentence = text
            .split_once(". ")
            .map_or(text.as_str(), |(first, _)| first)
            .trim_end_matches('.');
        operation.summary = Some(first_sentence.to_owned());
        operation.description = Some(text.clone());
    }
}

/// Lists every error code in `Problem.code` (an enum clients can switch on;
/// the one list is [`ErrorCode::ALL`]), and names the one value of
/// `ValidationProblem.code` and of `token_type`.
fn describe_error_codes(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{RefOr, Schema};
    let codes: Vec<String> = ErrorCode::ALL
        .iter()
        .map(|code| format!("`{}`", code.as_str()))
        .collect();
    let description = format!(
        "Stable snake_case error code to branch on; one of {}.",
        codes.join(", ")
    );
    let problem = document
        .components
        .as_mut()
        .and_then(|components| components.schemas.get_mut("Problem"));
    if let Some(RefOr::T(Schema::Object(problem))) = problem
        && let Some(RefOr::T(Schema::Object(code))) = problem.properties.get_mut("code")
    {
        code.description = Some(description);
        code.enum_values = Some(
            ErrorCode::ALL
                .iter()
                .map(|code| serde_json::Value::from(code.as_str()))
                .collect(),
        );
    }
    // A validation problem has one code, so generated clients can switch on it.
    let validation = document
        .components
        .as_mut()
        .and_then(|components| components.schemas.get_mut("ValidationProblem"));
    if let Some(RefOr::T(Schema::Object(validation))) = validation
        && let Some(RefOr::T(Schema::Object(code))) = validation.properties.get_mut("code")
    {
        code.enum_values = Some(vec![serde_json::Value::from(
            ErrorCode::ValidationFailed.as_str(),
        )]);
    }
    let token_pair = document
        .components
        .as_mut()
        .and_then(|components| components.schemas.get_mut("TokenPair"));
    if let Some(RefOr::T(Schema::Object(token_pair))) = token_pair
        && let Some(RefOr::T(Schema::Object(token_type))) =
            token_pair.properties.get_mut("token_type")
    {
        token_type.enum_values = Some(vec![serde_json::Value::from("Bearer")]);
    }
}

/// The document as committed in `openapi/openapi.json`.
pub fn document_json() -> String {
    let mut json = document()
        .to_pretty_json()
        .unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"));
    json.push('\n');
    json
}
