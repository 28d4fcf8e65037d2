//! The OpenAPI schemas of the domain's own types. The domain does not
//! describe HTTP (it knows nothing of utoipa); its types are described here,
//! from their own values, so the document cannot drift from them.

use std::borrow::Cow;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::domain::{EventType, Role, Violation};

/// A string schema allowing exactly `values`.
fn string_enum(description: &str, values: impl IntoIterator<Item = &'static str>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .enum_values(Some(values))
        .into()
}

/// A string property with an example value.
#[allow(deprecated)] // `example`, as the derived schemas of the API's own types write it.
fn example_string(description: &str, example: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .example(Some(example.into()))
}

impl PartialSchema for Role {
    fn schema() -> RefOr<Schema> {
        string_enum(
            "What an account may do.",
            [Self::User, Self::Admin].map(Self::as_str),
        )
    }
}

impl ToSchema for Role {}

impl PartialSchema for EventType {
    fn schema() -> RefOr<Schema> {
        string_enum("Every kind of auth event.", Self::ALL.map(Self::as_str))
    }
}

impl ToSchema for EventType {}

impl PartialSchema for Violation {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "One broken rule. The message never repeats the submitted value (it may be\na password).",
            ))
            .property(
                "code",
                example_string("Stable snake_case rule name, e.g. `too_short`.", "too_short"),
            )
            .required("code")
            .property(
                "message",
                example_string("Human-readable explanation.", "must be at least 8 characters"),
            )
            .required("message")
            .into()
    }
}

impl ToSchema for Violation {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("FieldError")
    }
}

/// A bounded string schema (`min..=max` characters, and a pattern if given).
fn bounded_string(
    description: &str,
    min: usize,
    max: usize,
    pattern: Option<&str>,
) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .min_length(Some(min))
        .max_length(Some(max))
        .pattern(pattern)
        .into()
}

/// A redirect URI in an OpenID client's registration.
pub struct RedirectUriText;

impl PartialSchema for RedirectUriText {
    fn schema() -> RefOr<Schema> {
        bounded_string("An absolute URI.", 1, 2048, None)
    }
}

impl ToSchema for RedirectUriText {}

/// A scope an OpenID client may ask for.
pub struct ScopeText;

impl PartialSchema for ScopeText {
    fn schema() -> RefOr<Schema> {
        bounded_string(
            "An RFC 6749 scope token.",
            1,
            128,
            Some("^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$"),
        )
    }
}

impl ToSchema for ScopeText {}
