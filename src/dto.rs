//! Request and response bodies: what clients send and receive, with the rules
//! that generated clients should enforce spelled out in the OpenAPI schema.
//! Database rows never cross this line.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::users::{ROLE_ADMIN, UserRow};

fn utc(at: NaiveDateTime) -> DateTime<Utc> {
    at.and_utc()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

impl Role {
    fn of(row: &UserRow) -> Self {
        if row.role == ROLE_ADMIN {
            Self::Admin
        } else {
            Self::User
        }
    }
}

/// An account as clients see it. Never carries the password hash.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0f8fad5b-d9cb-469f-a165-70867728950e",
    "username": "ada",
    "email": "ada@example.com",
    "role": "user",
    "created_at": "2026-11-25T10:00:00Z"
}))]
pub struct User {
    pub id: uuid::Uuid,
    pub username: String,
    #[schema(format = "email")]
    pub email: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

impl From<&UserRow> for User {
    fn from(row: &UserRow) -> Self {
        Self {
            id: uuid::Uuid::parse_str(&row.id).unwrap_or_default(),
            username: row.username.clone(),
            email: row.email.clone(),
            role: Role::of(row),
            created_at: utc(row.created_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"username": "ada", "email": "ada@example.com", "password": "correct horse battery staple"}))]
pub struct RegisterRequest {
    /// 3–32 of `A–Z a–z 0–9 _ . -`, unique ignoring case.
    #[schema(min_length = 3, max_length = 32, pattern = r"^[A-Za-z0-9_.-]{3,32}$")]
    pub username: String,
    /// Stored lower-cased; unique.
    #[schema(format = "email", max_length = 254)]
    pub email: String,
    /// 8–128 characters, not the username or email, not a common password.
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
}

/// Log in by `email` or by `username` (exactly one of them).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com", "password": "correct horse battery staple", "remember": true}))]
pub struct LoginRequest {
    #[schema(max_length = 254)]
    pub email: Option<String>,
    #[schema(max_length = 32)]
    pub username: Option<String>,
    #[schema(max_length = 1024)]
    pub password: String,
    /// `true` keeps the session for `REFRESH_TOKEN_TTL` (30 days by default);
    /// otherwise it lasts at most a day.
    #[serde(default)]
    pub remember: bool,
}

/// Tokens issued at login and refresh. Sent with `Cache-Control: no-store`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPair {
    /// Short-lived JWT for `Authorization: Bearer`.
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    #[schema(example = 900)]
    pub expires_in: u64,
    /// Single-use JWT for `POST /token/refresh`.
    pub refresh_token: String,
    /// Seconds until the refresh token (and its session) expires.
    #[schema(example = 86400)]
    pub refresh_expires_in: u64,
    pub user: User,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteAccountRequest {
    /// The account's current password, to confirm.
    #[schema(max_length = 1024)]
    pub password: String,
}

/// Figures for operators, counted in the database.
#[derive(Debug, Serialize, ToSchema)]
pub struct Dashboard {
    pub users: i64,
    pub admins: i64,
    pub disabled_users: i64,
    pub active_sessions: i64,
    /// Accounts registered in the last 24 hours.
    pub signups_last_24h: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from the latest token pair.
    #[schema(max_length = 4096)]
    pub refresh_token: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogoutRequest {
    /// `true` ends every session of the user, not only this one.
    #[serde(default)]
    pub all: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    #[schema(max_length = 1024)]
    pub current_password: String,
    /// Same rules as at registration.
    #[schema(min_length = 8, max_length = 128)]
    pub new_password: String,
}

/// One live session of the caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct Session {
    pub id: uuid::Uuid,
    pub created_at: DateTime<Utc>,
    /// Last login or refresh.
    pub last_used_at: DateTime<Utc>,
    /// When the session ends, however often it is refreshed.
    pub expires_at: DateTime<Utc>,
    /// As sent at login.
    pub user_agent: Option<String>,
    /// Client address at login.
    pub ip: Option<String>,
    /// `true` for the session of the token making this request.
    pub current: bool,
}

impl Session {
    pub fn from_row(row: &crate::db::sessions::SessionRow, current_session_id: &str) -> Self {
        Self {
            id: uuid::Uuid::parse_str(&row.id).unwrap_or_default(),
            created_at: utc(row.created_at),
            last_used_at: utc(row.last_used_at),
            expires_at: utc(row.expires_at),
            user_agent: row.user_agent.clone(),
            ip: row.ip.clone(),
            current: row.id == current_session_id,
        }
    }
}
