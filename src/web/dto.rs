//! Request and response bodies: what clients send and receive, with the rules
//! that generated clients should enforce spelled out in the OpenAPI schema.
//! Database rows never cross this line. Bodies that carry a password, a token
//! or a code have no `Debug`, so no log line can print one.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{EventType, Pagination, Role, Secret};
use crate::service::account::Account;
use crate::service::audit::RecordedEvent;
use crate::service::login::IssuedTokens;
use crate::service::sessions::LiveSession;

fn utc(at: NaiveDateTime) -> DateTime<Utc> {
    at.and_utc()
}

/// An account as clients see it. Never carries the password hash.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0f8fad5b-d9cb-469f-a165-70867728950e",
    "username": "ada",
    "email": "ada@example.com",
    "email_verified": true,
    "role": "user",
    "mfa": {"totp": true, "passkeys": 0, "recovery_codes_left": 10},
    "created_at": "2026-11-25T10:00:00Z"
}))]
pub struct User {
    pub id: uuid::Uuid,
    pub username: String,
    #[schema(format = "email")]
    pub email: String,
    /// Whether the owner proved the address (a verification link, a reset by
    /// mail, or an account created by an operator).
    pub email_verified: bool,
    pub role: Role,
    pub mfa: MfaSummary,
    pub created_at: DateTime<Utc>,
}

/// The account's second factors (never a secret or a code).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct MfaSummary {
    /// TOTP is on: a login needs a code after the password.
    pub totp: bool,
    /// Passkeys registered.
    pub passkeys: u32,
    /// Unused recovery codes.
    pub recovery_codes_left: u32,
}

impl From<&Account> for User {
    fn from(account: &Account) -> Self {
        Self {
            id: account.id.as_uuid(),
            username: account.username.as_str().to_owned(),
            email: account.email.as_str().to_owned(),
            email_verified: account.email_verified,
            role: account.role,
            mfa: MfaSummary {
                totp: account.mfa.totp,
                passkeys: account.mfa.passkeys,
                recovery_codes_left: account.mfa.recovery_codes_left,
            },
            created_at: account.created_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
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
    #[schema(value_type = String, min_length = 8, max_length = 128)]
    pub password: Secret,
}

/// Log in by `email` or by `username` (exactly one of them). The server reads
/// this one struct; the document describes it as [`LoginRequestSchema`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: Option<String>,
    pub username: Option<String>,
    pub password: Secret,
    /// `true` keeps the session for `REFRESH_TOKEN_TTL` (30 days by default);
    /// otherwise it lasts at most a day.
    #[serde(default)]
    pub remember: bool,
    #[serde(default)]
    pub token_delivery: TokenDelivery,
}

/// `POST /login`'s body as clients should build it: by email or by username,
/// never both, never neither.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[schema(as = LoginRequest)]
pub enum LoginRequestSchema {
    ByEmail(LoginByEmail),
    ByUsername(LoginByUsername),
}

/// Log in by email.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com", "password": "correct horse battery staple", "remember": true}))]
#[expect(dead_code, reason = "describes the login body in the OpenAPI document")]
pub struct LoginByEmail {
    #[schema(max_length = 254)]
    email: String,
    #[schema(max_length = 1024)]
    password: String,
    /// `true` keeps the session for `REFRESH_TOKEN_TTL` (30 days by default);
    /// otherwise it lasts at most a day.
    #[serde(default)]
    remember: bool,
    #[serde(default)]
    token_delivery: TokenDelivery,
}

/// Log in by username (which ignores case).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"username": "ada", "password": "correct horse battery staple"}))]
#[expect(dead_code, reason = "describes the login body in the OpenAPI document")]
pub struct LoginByUsername {
    #[schema(max_length = 32)]
    username: String,
    #[schema(max_length = 1024)]
    password: String,
    /// `true` keeps the session for `REFRESH_TOKEN_TTL` (30 days by default);
    /// otherwise it lasts at most a day.
    #[serde(default)]
    remember: bool,
    #[serde(default)]
    token_delivery: TokenDelivery,
}

/// Where the refresh token goes: in the JSON body (the default; for mobile
/// apps and servers), or for browser apps in an `HttpOnly` cookie scripts
/// cannot read (`Set-Cookie: portcullis_refresh=…; HttpOnly; Secure;
/// SameSite=Strict; Path=/token`), with `refresh_token` left out of the body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenDelivery {
    #[default]
    Body,
    Cookie,
}

/// Tokens issued at login and refresh. Sent with `Cache-Control: no-store`.
#[derive(Serialize, ToSchema)]
pub struct TokenPair {
    /// Short-lived JWT for `Authorization: Bearer`.
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    #[schema(example = 900)]
    pub expires_in: u64,
    /// Single-use JWT for `POST /token/refresh`. Absent with
    /// `"token_delivery": "cookie"`: the token is in the `Set-Cookie` header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Seconds until the refresh token (and its session) expires.
    #[schema(example = 86400)]
    pub refresh_expires_in: u64,
    pub user: User,
}

impl From<IssuedTokens> for TokenPair {
    fn from(issued: IssuedTokens) -> Self {
        Self {
            user: User::from(&issued.account),
            access_token: issued.access_token,
            token_type: "Bearer",
            expires_in: issued.expires_in,
            refresh_token: Some(issued.refresh_token),
            refresh_expires_in: issued.refresh_expires_in,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteAccountRequest {
    /// The account's current password, to confirm.
    #[schema(value_type = String, max_length = 1024)]
    pub password: Secret,
}

/// Figures for operators, counted in the database.
#[derive(Debug, Serialize, ToSchema)]
pub struct Dashboard {
    /// All accounts: exact up to 10,000, then the database's estimate.
    pub users: i64,
    /// `users` is an estimate (counting millions of rows on every call would
    /// cost more than the figure is worth).
    pub users_estimated: bool,
    pub admins: i64,
    pub disabled_users: i64,
    /// Accounts with a second factor (TOTP or a passkey).
    pub mfa_enabled_users: i64,
    pub active_sessions: i64,
    /// Failed logins in the last 24 hours.
    pub failed_logins_last_24h: i64,
    /// Wrong current passwords given on `PUT /me/password` or `DELETE /account`
    /// in the last 24 hours (each may be a guess through a stolen session).
    pub password_check_failures_last_24h: i64,
    /// Accounts registered in the last 24 hours.
    pub signups_last_24h: i64,
    /// Times this node could not reach Redis and let a request through
    /// unlimited, since it started.
    pub rate_limit_store_errors: u64,
    /// Messages in the outbox not yet delivered.
    pub mail_pending: i64,
    /// Age in seconds of the oldest undelivered message (0 when none).
    pub mail_oldest_pending_secs: i64,
    /// Undelivered messages whose delivery failed at least once.
    pub mail_failing: i64,
}

impl From<crate::service::admin::Dashboard> for Dashboard {
    fn from(figures: crate::service::admin::Dashboard) -> Self {
        Self {
            users: figures.users,
            users_estimated: figures.users_estimated,
            admins: figures.admins,
            disabled_users: figures.disabled_users,
            mfa_enabled_users: figures.mfa_enabled_users,
            active_sessions: figures.active_sessions,
            failed_logins_last_24h: figures.failed_logins_last_24h,
            password_check_failures_last_24h: figures.password_check_failures_last_24h,
            signups_last_24h: figures.signups_last_24h,
            rate_limit_store_errors: figures.rate_limit_store_errors,
            mail_pending: figures.mail_pending,
            mail_oldest_pending_secs: figures.mail_oldest_pending_secs,
            mail_failing: figures.mail_failing,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
}

#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from the latest token pair. Leave it out to use the
    /// refresh cookie (a browser session).
    #[schema(max_length = 4096)]
    pub refresh_token: Option<String>,
    /// Where the new refresh token goes; a refresh through the cookie always
    /// answers with the cookie.
    #[serde(default)]
    pub token_delivery: TokenDelivery,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogoutRequest {
    /// `true` ends every session of the user, not only this one.
    #[serde(default)]
    pub all: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    #[schema(value_type = String, max_length = 1024)]
    pub current_password: Secret,
    /// Same rules as at registration.
    #[schema(value_type = String, min_length = 8, max_length = 128)]
    pub new_password: Secret,
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
    /// As sent at login; `null` if none was.
    #[schema(required = true)]
    pub user_agent: Option<String>,
    /// Client address at login; `null` if unknown.
    #[schema(required = true)]
    pub ip: Option<String>,
    /// The latest refresh; `null` if the session has not been refreshed.
    #[schema(required = true)]
    pub last_refreshed_at: Option<DateTime<Utc>>,
    /// How many times the session has been refreshed.
    #[schema(minimum = 0)]
    pub refresh_count: i32,
    /// Client address of the latest refresh; `null` before the first, or if
    /// unknown.
    #[schema(required = true)]
    pub last_ip: Option<String>,
    /// `User-Agent` of the latest refresh; `null` before the first, or if none
    /// was sent.
    #[schema(required = true)]
    pub last_user_agent: Option<String>,
    /// `true` for the session of the token making this request.
    pub current: bool,
}

impl Session {
    pub fn from_live(session: LiveSession) -> Self {
        Self {
            id: session.id,
            created_at: utc(session.created_at),
            last_used_at: utc(session.last_used_at),
            expires_at: utc(session.expires_at),
            user_agent: session.user_agent,
            ip: session.ip,
            last_refreshed_at: session.last_refreshed_at.map(utc),
            refresh_count: session.refresh_count,
            last_ip: session.last_ip,
            last_user_agent: session.last_user_agent,
            current: session.current,
        }
    }
}

/// An account as operators see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUser {
    pub id: uuid::Uuid,
    pub username: String,
    #[schema(format = "email")]
    pub email: String,
    pub email_verified: bool,
    pub role: Role,
    pub disabled: bool,
    pub mfa: MfaSummary,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// `null` until the first login.
    #[schema(required = true)]
    pub last_login_at: Option<DateTime<Utc>>,
}

impl From<&Account> for AdminUser {
    fn from(account: &Account) -> Self {
        let user = User::from(account);
        Self {
            id: user.id,
            username: user.username,
            email: user.email,
            email_verified: user.email_verified,
            role: user.role,
            disabled: account.disabled,
            mfa: user.mfa,
            created_at: user.created_at,
            updated_at: account.updated_at,
            last_login_at: account.last_login_at,
        }
    }
}

/// A page of a list as its own named schema, so that generated clients get
/// `UserPage` with `items: AdminUser[]` rather than an anonymous copy.
macro_rules! page_of {
    ($(#[$doc:meta])* $name:ident, $item:ty) => {
        $(#[$doc])*
        #[derive(Debug, Serialize, ToSchema)]
        pub struct $name {
            pub items: Vec<$item>,
            /// From 1.
            pub page: u32,
            pub per_page: u32,
            /// Matching items on all pages.
            pub total: i64,
        }

        impl $name {
            pub fn of(pagination: Pagination, items: Vec<$item>, total: i64) -> Self {
                Self {
                    items,
                    page: pagination.page,
                    per_page: pagination.per_page,
                    total,
                }
            }
        }
    };
}

/// One page of accounts.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    pub items: Vec<AdminUser>,
    /// From 1 (1 with `after`).
    pub page: u32,
    pub per_page: u32,
    /// Matching accounts on all pages: exact unless `total_estimated`.
    pub total: i64,
    /// `true` when counting every match would cost too much: without a
    /// filter `total` is the database's estimate of all accounts; with one it
    /// is a lower bound (more than 10,000 match).
    pub total_estimated: bool,
    /// Pass as `after` for the next page (keyset paging, as fast deep in
    /// the list as at its start); `null` on the last page.
    pub next_after: Option<String>,
}
page_of!(
    /// One page of the audit trail, newest first.
    EventPage,
    AuthEvent
);

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserListQuery {
    /// Page number, from 1.
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<u32>,
    /// Items per page, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
    /// Case-insensitive substring of the username or email.
    #[param(max_length = 254)]
    pub q: Option<String>,
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    /// `next_after` of the previous page: the page after it (then `page`
    /// must be 1 or absent).
    #[param(max_length = 128)]
    pub after: Option<String>,
}

/// Fields to change; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    /// A change of role ends all of the account's sessions.
    pub role: Option<Role>,
    /// Disabling ends all of the account's sessions and blocks login.
    pub disabled: Option<bool>,
}

/// One entry of the audit trail.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthEvent {
    pub id: uuid::Uuid,
    pub occurred_at: DateTime<Utc>,
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// The account concerned (kept after the account is deleted); `null` for
    /// an event about no known account (a login to an unknown one).
    #[schema(required = true, value_type = Option<uuid::Uuid>)]
    pub user_id: Option<String>,
    /// The admin who acted, for admin actions; otherwise `null`.
    #[schema(required = true, value_type = Option<uuid::Uuid>)]
    pub actor_id: Option<String>,
    #[schema(required = true)]
    pub ip: Option<String>,
    #[schema(required = true)]
    pub user_agent: Option<String>,
    /// Context such as the session id or the old and new role: an object
    /// whose members depend on `type`.
    #[schema(value_type = std::collections::HashMap<String, serde_json::Value>)]
    pub detail: serde_json::Value,
}

impl AuthEvent {
    pub fn from_recorded(event: RecordedEvent) -> Self {
        Self {
            id: event.id,
            occurred_at: event.occurred_at,
            event_type: event.event_type,
            user_id: event.user_id,
            actor_id: event.actor_id,
            ip: event.ip,
            user_agent: event.user_agent,
            detail: event.detail,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventListQuery {
    /// Only events about this account (its id, also after it was deleted).
    pub user_id: Option<uuid::Uuid>,
    /// Only events of this type.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub event_type: Option<EventType>,
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotPasswordRequest {
    /// The account's address. The answer is the same whether or not it exists.
    #[schema(format = "email", max_length = 254)]
    pub email: String,
}

/// Asks for a sign-in link and code by mail.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com"}))]
pub struct EmailLoginRequest {
    /// The address to sign in with. The answer is the same whether or not it has an account.
    #[schema(format = "email", max_length = 254)]
    pub email: String,
    /// Where the mailed link leads (the token is added to its query): a page of
    /// an origin on `LOGIN_REDIRECT_ALLOWLIST`. Default: `MAGIC_LINK_URL`.
    #[schema(format = "uri", max_length = 2048)]
    pub redirect_to: Option<String>,
}

/// Signs in with the mailed link's `token`, or with `email` and the mailed `code`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com", "code": "493027", "token_delivery": "cookie"}))]
pub struct EmailLoginVerifyRequest {
    /// The token from the mailed link.
    #[schema(max_length = 256)]
    pub token: Option<String>,
    /// With `code`: the address the code was mailed to.
    #[schema(format = "email", max_length = 254)]
    pub email: Option<String>,
    /// With `email`: the {{email_code_digits}}-digit code from the mail (at most {{email_code_max_attempts}} tries).
    #[schema(value_type = Option<String>, max_length = 32)]
    pub code: Option<Secret>,
    /// `true` keeps the session for `REFRESH_TOKEN_TTL`, otherwise at most a day.
    #[serde(default)]
    pub remember: bool,
    #[serde(default)]
    pub token_delivery: TokenDelivery,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    /// The token from the reset link.
    #[schema(max_length = 256)]
    pub token: String,
    /// Same rules as at registration.
    #[schema(value_type = String, min_length = 8, max_length = 128)]
    pub new_password: Secret,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmailRequest {
    /// The token from the verification link.
    #[schema(max_length = 256)]
    pub token: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeEmailRequest {
    /// The address to move to; it changes only once the link mailed there is used.
    #[schema(format = "email", max_length = 254)]
    pub new_email: String,
    /// The account's current password, to confirm.
    #[schema(value_type = String, max_length = 1024)]
    pub password: Secret,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeRequest {
    /// 3–32 of `A–Z a–z 0–9 _ . -`, unique ignoring case.
    #[schema(min_length = 3, max_length = 32, pattern = r"^[A-Za-z0-9_.-]{3,32}$")]
    pub username: String,
}

/// An account made by an admin: its owner gets an invitation mail whose link
/// sets the first password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    /// 3–32 of `A–Z a–z 0–9 _ . -`, unique ignoring case.
    #[schema(min_length = 3, max_length = 32, pattern = r"^[A-Za-z0-9_.-]{3,32}$")]
    pub username: String,
    #[schema(format = "email", max_length = 254)]
    pub email: String,
    /// `user` unless given.
    pub role: Option<Role>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpEnrollRequest {
    /// The account's current password, to confirm.
    #[schema(value_type = String, max_length = 1024)]
    pub password: Secret,
}

/// A new TOTP secret, pending until confirmed with its first code.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "secret": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
    "otpauth_uri": "otpauth://totp/Portcullis:ada%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Portcullis"
}))]
pub struct TotpEnrollment {
    /// The 160-bit secret in base32 (RFC 4648, no padding), for typing into an
    /// authenticator app by hand. Shown only now.
    pub secret: String,
    /// The same secret as an `otpauth://totp/` URI (SHA-1, 6 digits, 30 s) to
    /// show as a QR code.
    pub otpauth_uri: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "123456"}))]
pub struct TotpConfirmRequest {
    /// The {{totp_digits}}-digit code the app shows now.
    #[schema(value_type = String, max_length = 32)]
    pub code: Secret,
}

/// Recovery codes, shown only now: each logs in once in place of a TOTP code.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"recovery_codes": [
    "7k2m-q9xe-4h1d-c0vr", "3b8n-w2fa-9t6k-m1pz", "x4c7-h0rd-5j2q-e8vn", "p9w3-k6ma-2z8b-r5tf",
    "g1e6-v3yn-8c4x-q7hd", "n5q2-t9wj-6m3e-b0ka", "d8r4-a1zk-7p5c-w2mx", "h3v9-y6eb-0k4n-t8qj",
    "c6m1-f4xr-9w2d-z5gp", "a2t8-j7kq-3e9v-n6hw"
]}))]
pub struct RecoveryCodes {
    /// Ten single-use codes; case, dashes and spaces do not matter when typed.
    #[schema(min_items = 10, max_items = 10)]
    pub recovery_codes: Vec<String>,
}

/// The password and a current code: a TOTP code or a recovery code.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"password": "correct horse battery staple", "code": "123456"}))]
pub struct StepUpRequest {
    #[schema(value_type = String, max_length = 1024)]
    pub password: Secret,
    /// A {{totp_digits}}-digit TOTP code, or one of the recovery codes (which is then spent).
    #[schema(value_type = String, max_length = 64)]
    pub code: Secret,
}

/// The second step of a login: the `mfa_token` of the `mfa_required` answer
/// and exactly one of `code` (TOTP), `recovery_code` and `credential` (a
/// passkey's answer to the problem's `passkey_options`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"mfa_token": "q3V0c2lkZS10aGUtYm94…", "code": "123456"}))]
pub struct LoginMfaRequest {
    #[schema(max_length = 128)]
    pub mfa_token: String,
    /// The {{totp_digits}}-digit code the authenticator app shows.
    #[schema(value_type = Option<String>, max_length = 32)]
    pub code: Option<Secret>,
    /// One of the account's recovery codes; it is spent.
    #[schema(value_type = Option<String>, max_length = 64)]
    pub recovery_code: Option<Secret>,
    /// With `passkey` among the challenge's `methods`: what
    /// `navigator.credentials.get({publicKey: passkey_options})` returned, as
    /// `AuthenticationResponseJSON` (`credential.toJSON()`). One answer per
    /// `mfa_token`: the options' challenge is spent by it, right or wrong.
    #[schema(value_type = Option<Object>)]
    pub credential: Option<serde_json::Value>,
    #[serde(default)]
    pub token_delivery: TokenDelivery,
}

/// Starts adding a passkey.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyRegistrationRequest {
    /// The account's current password, to confirm.
    #[schema(value_type = String, max_length = 1024)]
    pub password: Secret,
}

/// The first half of a WebAuthn ceremony: pass `options` to the browser
/// (`PublicKeyCredential.parseCreationOptionsFromJSON(options)` then
/// `navigator.credentials.create({publicKey})`, or
/// `parseRequestOptionsFromJSON` then `navigator.credentials.get({publicKey})`),
/// and post the credential it returns (`credential.toJSON()`) with
/// `ceremony_id` within {{ceremony_ttl_secs}} s.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "ceremony_id": "b3BhcXVlLWNlcmVtb255LWlk…",
    "options": {
        "challenge": "hZ0mBq6PcUgCE7D8Tqm2pQ",
        "timeout": 300000,
        "rpId": "example.com",
        "allowCredentials": [],
        "userVerification": "required"
    }
}))]
pub struct PasskeyCeremony {
    /// Opaque and single-use; names this ceremony when it is finished.
    pub ceremony_id: String,
    /// WebAuthn JSON (Level 3 serialisation, binary fields as base64url):
    /// `PublicKeyCredentialCreationOptionsJSON` for a registration (resident
    /// key preferred, user verification required), or
    /// `PublicKeyCredentialRequestOptionsJSON` for a login (`allowCredentials`
    /// empty for a usernameless login).
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
}

/// Finishes adding a passkey.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "ceremony_id": "b3BhcXVlLWNlcmVtb255LWlk…",
    "name": "MacBook Touch ID",
    "credential": {
        "id": "KdcE3tq8…",
        "rawId": "KdcE3tq8…",
        "type": "public-key",
        "response": {"clientDataJSON": "eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIi…", "attestationObject": "o2NmbXRkbm9uZWdhdHRTdG10oGhhdXRo…"},
        "clientExtensionResults": {}
    }
}))]
pub struct PasskeyCreateRequest {
    /// From `POST /me/passkeys/registration`.
    #[schema(max_length = 128)]
    pub ceremony_id: String,
    /// A name the user recognises the passkey by (1–64 characters).
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
    /// What `navigator.credentials.create` returned, as
    /// `RegistrationResponseJSON` (`credential.toJSON()`).
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

/// A passkey of the account (the key itself never leaves the server).
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0b9d3a58-2f7e-4c1a-9a43-6d2b1f0e8c77",
    "name": "MacBook Touch ID",
    "created_at": "2026-11-26T10:00:00Z",
    "last_used_at": null
}))]
pub struct PasskeyView {
    pub id: uuid::Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// The last login with it; `null` before the first.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<crate::service::passkeys::PasskeyInfo> for PasskeyView {
    fn from(info: crate::service::passkeys::PasskeyInfo) -> Self {
        Self {
            id: info.id,
            name: info.name,
            created_at: utc(info.created_at),
            last_used_at: info.last_used_at.map(utc),
        }
    }
}

/// Starts a passkey login. Name the account (`email` or `username`) for a
/// login with any of its passkeys, or leave the body out (or send `{}`) for a
/// usernameless login with a discoverable passkey.
#[derive(Default, Deserialize, ToSchema)]
// Through a map: a derived `Deserialize` alone would also take an array
// (`[null, null]`) for a struct whose fields are all optional.
#[serde(
    try_from = "serde_json::Map<String, serde_json::Value>",
    deny_unknown_fields
)]
#[schema(example = json!({"email": "ada@example.com"}))]
pub struct PasskeyChallengeRequest {
    #[schema(max_length = 254)]
    pub email: Option<String>,
    #[schema(max_length = 32)]
    pub username: Option<String>,
}

impl TryFrom<serde_json::Map<String, serde_json::Value>> for PasskeyChallengeRequest {
    type Error = serde_json::Error;

    fn try_from(object: serde_json::Map<String, serde_json::Value>) -> Result<Self, Self::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Fields {
            email: Option<String>,
            username: Option<String>,
        }
        let Fields { email, username } = serde_json::from_value(serde_json::Value::Object(object))?;
        Ok(Self { email, username })
    }
}

/// Finishes a passkey login.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "ceremony_id": "b3BhcXVlLWNlcmVtb255LWlk…",
    "credential": {
        "id": "KdcE3tq8…",
        "rawId": "KdcE3tq8…",
        "type": "public-key",
        "response": {
            "clientDataJSON": "eyJ0eXBlIjoid2ViYXV0aG4uZ2V0Ii…",
            "authenticatorData": "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MFAAAAAQ",
            "signature": "MEUCIQD…",
            "userHandle": "C50dOcnpSgm8cEtRQ0rXhA"
        },
        "clientExtensionResults": {}
    },
    "remember": true
}))]
pub struct PasskeyLoginRequest {
    /// From `POST /login/passkey/challenge`.
    #[schema(max_length = 128)]
    pub ceremony_id: String,
    /// What `navigator.credentials.get` returned, as
    /// `AuthenticationResponseJSON` (`credential.toJSON()`).
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
    /// `true` keeps the session for `REFRESH_TOKEN_TTL`, otherwise at most a day.
    #[serde(default)]
    pub remember: bool,
    #[serde(default)]
    pub token_delivery: TokenDelivery,
}

/// A provider users may sign in with.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "google", "name": "Google"}))]
pub struct ProviderView {
    /// Its id in `PROVIDERS`, as in `/login/providers/{id}`.
    pub id: String,
    /// Shown to users ("Sign in with Google").
    pub name: String,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProviderStartQuery {
    /// Where the browser comes back with `code=…` (or `error=…`): an origin
    /// on `LOGIN_REDIRECT_ALLOWLIST`. Not needed with `link_ticket`.
    #[param(max_length = 2048)]
    pub redirect_to: Option<String>,
    /// The app's PKCE challenge, `BASE64URL(SHA256(code_verifier))` (S256
    /// only): `POST /login/code` then needs the verifier.
    #[param(min_length = 43, max_length = 43)]
    pub code_challenge: Option<String>,
    /// `S256`, or leave it out.
    #[param(max_length = 8)]
    pub code_challenge_method: Option<String>,
    /// `true` keeps the session for `REFRESH_TOKEN_TTL`, otherwise at most a day.
    pub remember: Option<bool>,
    /// Linking: the ticket `POST /me/identities/{provider}` returned (its
    /// `url` carries it).
    #[param(max_length = 64)]
    pub link_ticket: Option<String>,
}

/// What a provider sends the browser back with (other parameters a provider
/// adds are ignored).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProviderCallbackQuery {
    /// The provider's authorization code.
    #[param(max_length = 2048)]
    pub code: Option<String>,
    #[param(max_length = 64)]
    pub state: Option<String>,
    /// The provider's refusal (`access_denied`, …).
    #[param(max_length = 256)]
    pub error: Option<String>,
}

/// Exchanges a Portcullis login code for a session.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginCodeRequest {
    /// The `code` the provider's callback handed to `redirect_to`.
    #[schema(value_type = String, max_length = 256)]
    pub code: Secret,
    /// The PKCE verifier whose S256 challenge the start carried (required
    /// then; 43–128 characters of `A-Z a-z 0-9 - . _ ~`).
    #[schema(value_type = Option<String>, min_length = 43, max_length = 128)]
    pub code_verifier: Option<Secret>,
    #[serde(default)]
    pub token_delivery: TokenDelivery,
}

/// An identity at another provider, linked to the caller's account.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f",
    "provider": "google",
    "subject": "110248495921238986420",
    "email": "ada@example.com",
    "created_at": "2026-12-07T10:00:00Z"
}))]
pub struct IdentityView {
    pub id: uuid::Uuid,
    /// The provider's id in `PROVIDERS`.
    pub provider: String,
    /// The provider's stable id of the person.
    pub subject: String,
    /// The address the provider gave when it was linked.
    pub email: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<crate::service::identities::IdentityInfo> for IdentityView {
    fn from(info: crate::service::identities::IdentityInfo) -> Self {
        Self {
            id: info.id,
            provider: info.provider,
            subject: info.subject,
            email: info.email,
            created_at: utc(info.created_at),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkIdentityRequest {
    /// Where the browser comes back with `linked={provider}` (or `error=…`):
    /// an origin on `LOGIN_REDIRECT_ALLOWLIST`.
    #[schema(max_length = 2048)]
    pub redirect_to: String,
}

/// Where to send the browser to link the identity.
#[derive(Serialize, ToSchema)]
pub struct LinkIdentityStart {
    /// Open it in the browser (a navigation, not a fetch) within {{link_ticket_ttl_secs}} s; it
    /// leads to the provider and back to `redirect_to`.
    pub url: String,
}

/// Registering an OpenID client (`POST /admin/clients`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "Grafana",
    "type": "confidential",
    "redirect_uris": ["https://grafana.example.com/login/generic_oauth"],
    "scopes": ["openid", "profile", "email"]
}))]
pub struct CreateClientRequest {
    /// Shown to users on the login and consent page.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// `public` (a SPA or native app: no secret, PKCE required) or
    /// `confidential` (a server app, authenticated by its secret).
    #[serde(rename = "type")]
    #[schema(value_type = OAuthClientType)]
    pub client_type: String,
    /// Where codes may be sent: exact URIs (`https`, `http` on a loopback
    /// address or `localhost`, or a private-use scheme like
    /// `com.example.app:/cb`); an `http://127.0.0.1/…` or `http://[::1]/…`
    /// URI also matches on any port (RFC 8252).
    #[serde(default)]
    #[schema(value_type = Vec<crate::web::schemas::RedirectUriText>, max_items = 20)]
    pub redirect_uris: Vec<String>,
    /// Where `/oauth2/logout` may send the browser afterwards.
    #[serde(default)]
    #[schema(value_type = Vec<crate::web::schemas::RedirectUriText>, max_items = 20)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Default `["authorization_code", "refresh_token"]`; `client_credentials`
    /// for confidential clients only.
    pub grant_types: Option<Vec<OAuthGrantType>>,
    /// The scopes the client may ask for; default `["email", "openid", "profile"]`.
    /// Any RFC 6749 scope token may be registered (an API's own scopes).
    #[schema(value_type = Option<Vec<crate::web::schemas::ScopeText>>, max_items = 50)]
    pub scopes: Option<Vec<String>>,
    /// A first-party client skips the consent screen. Default `false`.
    pub first_party: Option<bool>,
    /// `RS256` (default) or `EdDSA` (with `JWT_ALGORITHM=EdDSA`).
    #[schema(value_type = Option<IdTokenSigningAlg>)]
    pub id_token_signed_response_alg: Option<String>,
}

/// Changing an OpenID client (`PATCH /admin/clients/{id}`): absent fields
/// stay as they are; the type cannot change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateClientRequest {
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    #[schema(value_type = Option<Vec<crate::web::schemas::RedirectUriText>>, max_items = 20)]
    pub redirect_uris: Option<Vec<String>>,
    #[schema(value_type = Option<Vec<crate::web::schemas::RedirectUriText>>, max_items = 20)]
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub grant_types: Option<Vec<OAuthGrantType>>,
    #[schema(value_type = Option<Vec<crate::web::schemas::ScopeText>>, max_items = 50)]
    pub scopes: Option<Vec<String>>,
    pub first_party: Option<bool>,
    #[schema(value_type = Option<IdTokenSigningAlg>)]
    pub id_token_signed_response_alg: Option<String>,
}

/// The grant types a client may be allowed.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OAuthGrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

impl OAuthGrantType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
        }
    }
}

/// `public` or `confidential`.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OAuthClientType {
    Public,
    Confidential,
}

/// How a client's ID tokens are signed.
#[derive(ToSchema)]
pub enum IdTokenSigningAlg {
    #[schema(rename = "RS256")]
    Rs256,
    #[schema(rename = "EdDSA")]
    EdDsa,
}

/// A registered OpenID client.
#[derive(Serialize, ToSchema)]
pub struct ClientView {
    pub client_id: String,
    /// Only in the answer that made it (or gave it a new one): shown once,
    /// never again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub name: String,
    #[serde(rename = "type")]
    #[schema(value_type = OAuthClientType)]
    pub client_type: &'static str,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub first_party: bool,
    #[schema(value_type = IdTokenSigningAlg)]
    pub id_token_signed_response_alg: &'static str,
    /// How the client authenticates at the token endpoint.
    #[schema(example = "client_secret_basic")]
    pub token_endpoint_auth_method: &'static str,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<crate::service::oauth_clients::OAuthClient> for ClientView {
    fn from(client: crate::service::oauth_clients::OAuthClient) -> Self {
        use crate::service::oauth_clients::ClientType;
        Self {
            token_endpoint_auth_method: match client.client_type {
                ClientType::Public => "none",
                ClientType::Confidential => "client_secret_basic",
            },
            client_id: client.id,
            client_secret: None,
            name: client.name,
            client_type: client.client_type.as_str(),
            redirect_uris: client.redirect_uris,
            post_logout_redirect_uris: client.post_logout_redirect_uris,
            grant_types: client.grant_types,
            scopes: client.scopes,
            first_party: client.first_party,
            id_token_signed_response_alg: client.id_token_alg.as_str(),
            created_at: utc(client.created_at),
            updated_at: utc(client.updated_at),
        }
    }
}

/// A client's new secret (`POST /admin/clients/{id}/secret`), shown once.
#[derive(Serialize, ToSchema)]
pub struct ClientSecretView {
    pub client_secret: String,
}

/// An authorization request as the login page shows it.
#[derive(Serialize, ToSchema)]
pub struct AuthorizationRequestView {
    pub client: RequestClientView,
    /// The scopes asked for.
    pub scopes: Vec<String>,
    /// What the client asked of the login (`login`, `consent`), if anything.
    pub prompt: Option<String>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct RequestClientView {
    pub client_id: String,
    pub name: String,
}

impl From<crate::service::authorization::PendingRequest> for AuthorizationRequestView {
    fn from(pending: crate::service::authorization::PendingRequest) -> Self {
        Self {
            client: RequestClientView {
                client_id: pending.client_id,
                name: pending.client_name,
            },
            scopes: pending.scopes,
            prompt: pending.prompt,
            expires_at: utc(pending.expires_at),
        }
    }
}

/// Accepting an authorization request.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct AcceptRequest {
    /// The user consents to the scopes asked (needed once per client and
    /// scope set, unless the client is first-party).
    #[serde(default)]
    pub consent: bool,
}

/// Where the login page sends the browser next.
#[derive(Serialize, ToSchema)]
pub struct RedirectView {
    #[schema(example = "https://app.example.com/callback?code=…&state=…&iss=…")]
    pub redirect_to: String,
}

/// A client the user consented to.
#[derive(Serialize, ToSchema)]
pub struct ConsentView {
    pub client_id: String,
    pub client_name: String,
    pub scopes: Vec<String>,
    pub granted_at: DateTime<Utc>,
}

impl From<crate::service::authorization::ConsentInfo> for ConsentView {
    fn from(info: crate::service::authorization::ConsentInfo) -> Self {
        Self {
            client_id: info.client_id,
            client_name: info.client_name,
            scopes: info.scopes,
            granted_at: utc(info.granted_at),
        }
    }
}

/// The form of `POST /oauth2/token` (`application/x-www-form-urlencoded`).
/// Parameters that do not belong to the grant are ignored; none may repeat.
#[derive(ToSchema)]
pub struct TokenForm {
    /// `authorization_code`, `refresh_token` or `client_credentials`.
    #[schema(max_length = 64)]
    pub grant_type: String,
    /// `authorization_code`: the code.
    #[schema(max_length = 128)]
    pub code: Option<String>,
    /// `authorization_code`: the authorization request's `redirect_uri`.
    #[schema(max_length = 1024)]
    pub redirect_uri: Option<String>,
    /// `authorization_code`: the PKCE verifier.
    #[schema(min_length = 43, max_length = 128)]
    pub code_verifier: Option<String>,
    /// `refresh_token`: the refresh token.
    #[schema(max_length = 4096)]
    pub refresh_token: Option<String>,
    /// `refresh_token` (narrowing) or `client_credentials`: space-separated scopes.
    #[schema(max_length = 512)]
    pub scope: Option<String>,
    /// `client_secret_post` or a public client.
    #[schema(max_length = 64)]
    pub client_id: Option<String>,
    /// `client_secret_post`.
    #[schema(max_length = 128)]
    pub client_secret: Option<String>,
}

/// The form of `POST /oauth2/introspect` and `POST /oauth2/revoke`.
#[derive(ToSchema)]
pub struct TokenActionForm {
    #[schema(max_length = 4096)]
    pub token: String,
    /// `access_token` or `refresh_token`; ignored (the token says what it is).
    #[schema(max_length = 64)]
    pub token_type_hint: Option<String>,
    #[schema(max_length = 64)]
    pub client_id: Option<String>,
    #[schema(max_length = 128)]
    pub client_secret: Option<String>,
}

/// The form of `POST /oauth2/authorize`: the parameters of `GET /oauth2/authorize`.
#[derive(ToSchema)]
pub struct AuthorizeForm {
    #[schema(max_length = 32)]
    pub response_type: String,
    #[schema(max_length = 64)]
    pub client_id: String,
    #[schema(max_length = 1024)]
    pub redirect_uri: String,
    #[schema(max_length = 512)]
    pub scope: String,
    #[schema(max_length = 512)]
    pub state: Option<String>,
    #[schema(max_length = 512)]
    pub nonce: Option<String>,
    #[schema(max_length = 128)]
    pub code_challenge: Option<String>,
    #[schema(max_length = 32)]
    pub code_challenge_method: Option<String>,
    #[schema(max_length = 64)]
    pub prompt: Option<String>,
    #[schema(maximum = 4_294_967_295_u64)]
    pub max_age: Option<u32>,
}

/// The logout page's confirmation form: the parameters of `GET /oauth2/logout`.
#[derive(ToSchema)]
pub struct LogoutForm {
    #[schema(max_length = 4096, pattern = "^[A-Za-z0-9_.-]*$")]
    pub id_token_hint: Option<String>,
    #[schema(max_length = 64)]
    pub client_id: Option<String>,
    #[schema(max_length = 1024)]
    pub post_logout_redirect_uri: Option<String>,
    #[schema(max_length = 512)]
    pub state: Option<String>,
}
