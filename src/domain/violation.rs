//! A broken rule, as a value: the domain reports it, the web layer renders it
//! in a 422 problem document.

use std::collections::BTreeMap;

use serde::Serialize;

/// One broken rule. The message never repeats the submitted value (it may be
/// a password).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// Stable snake_case rule name, e.g. `too_short`.
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
}

impl Violation {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn too_long(max: usize) -> Self {
        Self::new("too_long", format!("must be at most {max} characters"))
    }

    /// For text that must not carry control characters (NUL above all, which
    /// PostgreSQL refuses in text and would turn into a server error).
    pub fn check_no_control_characters(text: &str) -> Result<(), Self> {
        if text.chars().any(char::is_control) {
            Err(Self::new(
                "invalid_characters",
                "must not contain control characters",
            ))
        } else {
            Ok(())
        }
    }
}

/// Field name → every rule that field broke.
pub type Violations = BTreeMap<&'static str, Vec<Violation>>;
