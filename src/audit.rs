//! What gets written to the audit trail, and its retention. Handlers build an
//! [`Event`] and record it in the same transaction as the change it describes.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::Database;
use crate::db::events::{self, EventRow};
use crate::http::ClientInfo;

/// Every kind of auth event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    UserRegistered,
    LoginSucceeded,
    LoginFailed,
    TokenRefreshed,
    RefreshReuseDetected,
    LoggedOut,
    LoggedOutAll,
    SessionRevoked,
    PasswordChanged,
    RoleChanged,
    UserDisabled,
    UserEnabled,
    UserDeleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserRegistered => "user_registered",
            Self::LoginSucceeded => "login_succeeded",
            Self::LoginFailed => "login_failed",
            Self::TokenRefreshed => "token_refreshed",
            Self::RefreshReuseDetected => "refresh_reuse_detected",
            Self::LoggedOut => "logged_out",
            Self::LoggedOutAll => "logged_out_all",
            Self::SessionRevoked => "session_revoked",
            Self::PasswordChanged => "password_changed",
            Self::RoleChanged => "role_changed",
            Self::UserDisabled => "user_disabled",
            Self::UserEnabled => "user_enabled",
            Self::UserDeleted => "user_deleted",
        }
    }
}

/// An event about to be recorded.
pub struct Event(EventRow);

impl Event {
    pub fn new(event_type: EventType, client: &ClientInfo) -> Self {
        Self(EventRow {
            id: uuid::Uuid::new_v4().to_string(),
            occurred_at: crate::db::now(),
            event_type: event_type.as_str().to_owned(),
            user_id: None,
            actor_id: None,
            ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
            detail: "{}".to_owned(),
        })
    }

    /// The account the event is about.
    pub fn user(mut self, user_id: &str) -> Self {
        self.0.user_id = Some(user_id.to_owned());
        self
    }

    /// Who did it, when that is not the account itself (an admin).
    pub fn actor(mut self, actor_id: &str) -> Self {
        self.0.actor_id = Some(actor_id.to_owned());
        self
    }

    /// Small structured context. Never put a secret here.
    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.0.detail = detail.to_string();
        self
    }

    pub fn row(&self) -> &EventRow {
        &self.0
    }
}

/// Deletes events older than `retention_days` (0 keeps them forever). Every
/// node runs it now and then; the deletes are idempotent.
pub async fn prune(db: &Database, retention_days: u32) {
    if retention_days == 0 {
        return;
    }
    let before = crate::db::now() - chrono::Duration::days(i64::from(retention_days));
    match db
        .transaction(move |conn| Ok(events::prune(conn, before)?))
        .await
    {
        Ok(0) => {}
        Ok(pruned) => tracing::info!(pruned, "pruned old audit events"),
        Err(error) => tracing::warn!(%error, "audit pruning failed; will retry"),
    }
}
