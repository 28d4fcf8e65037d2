//! The one HTTP error type. Every failure of a use-case becomes an
//! [`ApiError`] here, in the `From` implementations at the end (the one place
//! that decides which answer a failure gets), and every non-2xx response is its
//! RFC 9457 `application/problem+json` rendering with a stable `code`.

use std::collections::BTreeMap;

use actix_web::body::BoxBody;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// Seconds a client should wait before retrying a 503.
const RETRY_AFTER_UNAVAILABLE: u64 = 5;
const RETRY_AFTER_OVERLOADED: u64 = 1;

use crate::auth::password::HashError;
use crate::db::StoreError;
use crate::domain::LoginMethod;
pub use crate::domain::Violation as FieldError;
pub use crate::domain::Violations as FieldErrors;
use crate::limits::Limited;
use crate::service::accounts::AccountError;
use crate::service::admin::AdminError;
use crate::service::authorization::{AuthorizeError, ConsentError, LogoutError, RequestError};
use crate::service::email_login::EmailLoginError;
use crate::service::federation::FederationError;
use crate::service::identities::IdentityError;
use crate::service::login::LoginError;
use crate::service::mfa::MfaError;
use crate::service::oauth_clients::ClientError;
use crate::service::oauth_grants::UserinfoError;
use crate::service::passkeys::PasskeyError;
use crate::service::sessions::{AuthError, RefreshError, RevokeError};

/// Declares [`ErrorCode`] from one table: each line is a code's variant, the
/// stable string clients branch on, its HTTP status and its default `detail`
/// (`None` when every answer brings its own, or none). The enum, `ALL`,
/// `as_str`, `status` and `default_detail` are all generated from it, so a new
/// code is one line here (and the OpenAPI enum and the test on the errors table
/// of `docs/clients.md` follow from `ALL`).
macro_rules! error_codes {
    ($($variant:ident => $code:literal, $status:ident, $detail:expr;)+) => {
        /// Every error code an answer can carry: the one list the error
        /// mapping, the OpenAPI document (the `code` enum and description) and
        /// the errors table of `docs/clients.md` (checked by a test) are made
        /// from.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode {
            $(
                #[doc = concat!("`", $code, "`")]
                $variant,
            )+
        }

        impl ErrorCode {
            /// Every code, in the table's order (the order of the OpenAPI enum).
            pub const ALL: [Self; [$($code),+].len()] = [$(Self::$variant),+];

            /// The stable snake_case string clients branch on.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $code,)+
                }
            }

            /// The HTTP status every answer with this code has.
            pub fn status(self) -> StatusCode {
                match self {
                    $(Self::$variant => StatusCode::$status,)+
                }
            }

            /// The `detail` an answer with this code carries unless its
            /// failure says more ([`ApiError::problem`]).
            pub fn default_detail(self) -> Option<&'static str> {
                match self {
                    $(Self::$variant => $detail,)+
                }
            }
        }
    };
}

// One line per code: variant => string, status, default detail.
#[rustfmt::skip]
error_codes! {
    MalformedRequest => "malformed_request", BAD_REQUEST, None; // the parser says what was wrong
    MissingToken => "missing_token", UNAUTHORIZED, Some("This endpoint needs a token: an `Authorization: Bearer <access token>` header (for /token/refresh, a refresh token in the body or its cookie).");
    InvalidToken => "invalid_token", UNAUTHORIZED, Some("The token is not valid here: malformed, wrongly signed, of the wrong kind, or its session has ended.");
    TokenExpired => "token_expired", UNAUTHORIZED, Some("The token has expired; refresh it or log in again.");
    InvalidCredentials => "invalid_credentials", UNAUTHORIZED, Some("The account or password is wrong.");
    RefreshTokenReused => "refresh_token_reused", UNAUTHORIZED, Some("This refresh token was already used; the session has been revoked. Log in again.");
    MfaRequired => "mfa_required", UNAUTHORIZED, Some("The password is right; finish the login with a second factor at POST /login/mfa, giving `mfa_token` and one of the `methods`.");
    InvalidMfaCode => "invalid_mfa_code", UNAUTHORIZED, Some("The code is wrong, expired or already used.");
    Forbidden => "forbidden", FORBIDDEN, Some("Your role does not allow this.");
    AccountDisabled => "account_disabled", FORBIDDEN, Some("This account is disabled.");
    WrongPassword => "wrong_password", FORBIDDEN, Some("The password is wrong.");
    EmailNotVerified => "email_not_verified", FORBIDDEN, Some("Confirm your email address first: open the link in the verification mail.");
    MfaRequiredForAdmin => "mfa_required_for_admin", FORBIDDEN, Some("Admin routes need a session opened with a second factor; log in again with TOTP or a passkey.");
    CsrfRejected => "csrf_rejected", FORBIDDEN, Some("A call authenticated by the refresh cookie must come from an allowed origin and carry `X-Requested-With: portcullis`.");
    StepUpRequired => "step_up_required", FORBIDDEN, Some("This account has a second factor and this session was opened without one; log in again with TOTP, a recovery code or a passkey, then retry.");
    InvalidOrExpiredToken => "invalid_or_expired_token", BAD_REQUEST, Some("This link or token is unknown, already used or expired; ask for a new one (log in again for an `mfa_token`).");
    RedirectNotAllowed => "redirect_not_allowed", BAD_REQUEST, Some("`redirect_to` is not on an allowed origin (LOGIN_REDIRECT_ALLOWLIST; by default the origins of APP_URL and CORS_ALLOWED_ORIGINS).");
    NotFound => "not_found", NOT_FOUND, Some("Nothing here.");
    MethodNotAllowed => "method_not_allowed", METHOD_NOT_ALLOWED, Some("This path does not accept that method.");
    EmailTaken => "email_taken", CONFLICT, Some("An account with this email already exists.");
    UsernameTaken => "username_taken", CONFLICT, Some("This username is taken.");
    LastAdmin => "last_admin", CONFLICT, Some("This is the last enabled admin; promote another admin first.");
    MfaAlreadyEnabled => "mfa_already_enabled", CONFLICT, Some("Two-factor authentication is already on; turn it off first to set up a new authenticator.");
    LastLoginMethod => "last_login_method", CONFLICT, Some("This is the account's last way to log in; set a password (POST /password/forgot) or link another provider first.");
    ConsentRequired => "consent_required", CONFLICT, Some("The app asks for scopes the user has not consented to; show them (`scopes`) and accept again with `consent: true`.");
    TooManyPasskeys => "too_many_passkeys", CONFLICT, Some("This account has the most passkeys allowed; remove one before adding another.");
    RequestTimeout => "request_timeout", REQUEST_TIMEOUT, Some("The request body did not arrive in time.");
    PayloadTooLarge => "payload_too_large", PAYLOAD_TOO_LARGE, Some("The request body is too large.");
    UnsupportedMediaType => "unsupported_media_type", UNSUPPORTED_MEDIA_TYPE, Some("Send the body as `Content-Type: application/json`.");
    ValidationFailed => "validation_failed", UNPROCESSABLE_ENTITY, Some("Some fields are invalid; see `errors`.");
    RateLimited => "rate_limited", TOO_MANY_REQUESTS, Some("Too many requests; wait before retrying.");
    Overloaded => "overloaded", SERVICE_UNAVAILABLE, Some("The server is busy; retry shortly.");
    ServiceUnavailable => "service_unavailable", SERVICE_UNAVAILABLE, Some("The database is unreachable; retry shortly.");
    InternalError => "internal_error", INTERNAL_SERVER_ERROR, None; // opaque: the cause is logged
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request body could not be read: {0}")]
    MalformedRequest(String),
    #[error("no bearer token")]
    MissingToken,
    /// `missing_token` at a refresh with no body token and no refresh cookie:
    /// `why` says what the browser did not send, and why it may not have.
    #[error("no refresh token and no refresh cookie")]
    MissingRefreshCookie { why: String },
    /// A CORS preflight refused: from an origin outside
    /// `CORS_ALLOWED_ORIGINS`, or asking for a method or header the API does
    /// not take from browsers (`forbidden`: the contract has no code of its
    /// own for it, and `csrf_rejected` is the refresh cookie's).
    #[error("CORS preflight refused")]
    PreflightRefused { why: String },
    #[error("invalid token")]
    InvalidToken,
    #[error("token expired")]
    TokenExpired,
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("refresh token reused")]
    RefreshTokenReused,
    /// The password was right; the login continues at `POST /login/mfa`.
    #[error("second factor required")]
    MfaRequired {
        mfa_token: crate::config::Secret,
        methods: Vec<&'static str>,
        passkey_options: Option<serde_json::Value>,
    },
    #[error("invalid second-factor code")]
    InvalidMfaCode,
    #[error("second factor required for admin routes")]
    MfaRequiredForAdmin,
    #[error("two-factor authentication already on")]
    MfaAlreadyEnabled,
    /// A factor change from a session that proved one factor only, on an
    /// account that has two.
    #[error("second-factor session required")]
    StepUpRequired,
    /// A change on an account without a password, from a session older
    /// than `REAUTH_WINDOW` (`step_up_required`).
    #[error("fresh login required")]
    FreshLoginRequired,
    #[error("too many passkeys")]
    TooManyPasskeys,
    /// An authorization request's client needs consent to `scopes`.
    #[error("consent required")]
    ConsentRequired { scopes: Vec<String> },
    /// A cookie-authenticated call from a page that may not make it.
    #[error("cross-site request refused")]
    CsrfRejected,
    #[error("forbidden")]
    Forbidden,
    #[error("account disabled")]
    AccountDisabled,
    #[error("wrong password")]
    WrongPassword,
    #[error("email not verified")]
    EmailNotVerified,
    #[error("invalid or expired token")]
    InvalidOrExpiredToken,
    /// A `redirect_to` outside the allowed origins.
    #[error("redirect not allowed")]
    RedirectNotAllowed,
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed {
        /// Value of the `Allow` header: the methods this path does accept.
        allow: String,
    },
    #[error("email taken")]
    EmailTaken,
    #[error("username taken")]
    UsernameTaken,
    #[error("last admin")]
    LastAdmin,
    #[error("last login method")]
    LastLoginMethod,
    /// A provider could not be reached in time (`service_unavailable`).
    #[error("provider unavailable")]
    ProviderUnavailable,
    /// The body did not arrive within `REQUEST_BODY_TIMEOUT`.
    #[error("request body too slow")]
    RequestTimeout,
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("validation failed")]
    Validation(FieldErrors),
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64 },
    #[error("password hashing queue full")]
    Overloaded,
    #[error("database unavailable")]
    ServiceUnavailable,
    /// The database has no room to write (`service_unavailable` too).
    #[error("database storage full")]
    StorageFull,
    /// After SIGTERM, on /readyz: load balancers should stop sending here.
    #[error("shutting down")]
    ShuttingDown,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// A validation failure on a single field.
    pub fn invalid_field(field: &'static str, error: FieldError) -> Self {
        Self::Validation(BTreeMap::from([(field, vec![error])]))
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::MalformedRequest(_) => ErrorCode::MalformedRequest,
            Self::MissingToken | Self::MissingRefreshCookie { .. } => ErrorCode::MissingToken,
            Self::PreflightRefused { .. } => ErrorCode::Forbidden,
            Self::InvalidToken => ErrorCode::InvalidToken,
            Self::TokenExpired => ErrorCode::TokenExpired,
            Self::InvalidCredentials => ErrorCode::InvalidCredentials,
            Self::RefreshTokenReused => ErrorCode::RefreshTokenReused,
            Self::MfaRequired { .. } => ErrorCode::MfaRequired,
            Self::InvalidMfaCode => ErrorCode::InvalidMfaCode,
            Self::MfaRequiredForAdmin => ErrorCode::MfaRequiredForAdmin,
            Self::MfaAlreadyEnabled => ErrorCode::MfaAlreadyEnabled,
            Self::StepUpRequired | Self::FreshLoginRequired => ErrorCode::StepUpRequired,
            Self::TooManyPasskeys => ErrorCode::TooManyPasskeys,
            Self::ConsentRequired { .. } => ErrorCode::ConsentRequired,
            Self::CsrfRejected => ErrorCode::CsrfRejected,
            Self::Forbidden => ErrorCode::Forbidden,
            Self::AccountDisabled => ErrorCode::AccountDisabled,
            Self::WrongPassword => ErrorCode::WrongPassword,
            Self::EmailNotVerified => ErrorCode::EmailNotVerified,
            Self::InvalidOrExpiredToken => ErrorCode::InvalidOrExpiredToken,
            Self::RedirectNotAllowed => ErrorCode::RedirectNotAllowed,
            Self::NotFound => ErrorCode::NotFound,
            Self::MethodNotAllowed { .. } => ErrorCode::MethodNotAllowed,
            Self::EmailTaken => ErrorCode::EmailTaken,
            Self::UsernameTaken => ErrorCode::UsernameTaken,
            Self::LastAdmin => ErrorCode::LastAdmin,
            Self::LastLoginMethod => ErrorCode::LastLoginMethod,
            Self::RequestTimeout => ErrorCode::RequestTimeout,
            Self::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            Self::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            Self::Validation(_) => ErrorCode::ValidationFailed,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Overloaded => ErrorCode::Overloaded,
            Self::ServiceUnavailable
            | Self::StorageFull
            | Self::ShuttingDown
            | Self::ProviderUnavailable => ErrorCode::ServiceUnavailable,
            Self::Internal(_) => ErrorCode::InternalError,
        }
    }

    fn detail(&self) -> Option<String> {
        match self {
            Self::MalformedRequest(why)
            | Self::MissingRefreshCookie { why }
            | Self::PreflightRefused { why } => Some(why.clone()),
            Self::ShuttingDown => {
                Some("This node is shutting down; send requests to another one.".to_owned())
            }
            Self::StorageFull => {
                Some("The database cannot take writes right now; retry shortly.".to_owned())
            }
            Self::ProviderUnavailable => {
                Some("The provider could not be reached in time; retry shortly.".to_owned())
            }
            Self::FreshLoginRequired => Some(
                "This account has no password: changes are confirmed by a recent login. Log in again, then retry within REAUTH_WINDOW (600 s by default)."
                    .to_owned(),
            ),
            _ => self.code().default_detail().map(str::to_owned),
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after_secs } => Some((*retry_after_secs).max(1)),
            Self::Overloaded => Some(RETRY_AFTER_OVERLOADED),
            Self::ServiceUnavailable
            | Self::StorageFull
            | Self::ShuttingDown
            | Self::ProviderUnavailable => Some(RETRY_AFTER_UNAVAILABLE),
            _ => None,
        }
    }

    /// RFC 6750 challenge for failures where a bearer token was expected.
    fn bearer_challenge(&self) -> Option<&'static str> {
        match self {
            Self::MissingToken | Self::MissingRefreshCookie { .. } => {
                Some(r#"Bearer realm="portcullis""#)
            }
            Self::InvalidToken | Self::RefreshTokenReused => Some(
                r#"Bearer realm="portcullis", error="invalid_token", error_description="the token is invalid""#,
            ),
            Self::TokenExpired => Some(
                r#"Bearer realm="portcullis", error="invalid_token", error_description="the token has expired""#,
            ),
            _ => None,
        }
    }

    /// The problem document for this error.
    pub fn problem(&self) -> Problem {
        let status = self.status_code();
        let errors = match self {
            Self::Validation(fields) => Some(fields.clone()),
            _ => None,
        };
        let (mfa_token, methods, passkey_options) = match self {
            Self::MfaRequired {
                mfa_token,
                methods,
                passkey_options,
            } => (
                Some(mfa_token.expose().to_owned()),
                Some(methods.clone()),
                passkey_options.clone(),
            ),
            _ => (None, None, None),
        };
        let scopes = match self {
            Self::ConsentRequired { scopes } => Some(scopes.clone()),
            _ => None,
        };
        Problem {
            scopes,
            problem_type: format!("urn:portcullis:problem:{}", self.code().as_str()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: self.detail(),
            code: self.code().as_str().to_owned(),
            errors,
            mfa_token,
            methods,
            passkey_options,
        }
    }
}

/// RFC 9457 problem details, the body of every non-2xx response.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:portcullis:problem:invalid_credentials",
    "title": "Unauthorized",
    "status": 401,
    "detail": "The account or password is wrong.",
    "code": "invalid_credentials"
}))]
pub struct Problem {
    /// A URN naming the kind of problem; stable per `code`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// The HTTP status phrase.
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Stable snake_case error code to branch on.
    pub code: String,
    /// Only for `validation_failed`: each invalid field and the rules it broke.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<std::collections::HashMap<String, Vec<FieldError>>>)]
    pub errors: Option<FieldErrors>,
    /// Only for `mfa_required`: the opaque token for `POST /login/mfa`, valid
    /// {{mfa_token_ttl_secs}} seconds for at most {{mfa_token_max_attempts}} codes, spent by the login it finishes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa_token: Option<String>,
    /// Only for `mfa_required`: the second factors that can finish the login.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<MfaMethod>>)]
    pub methods: Option<Vec<&'static str>>,
    /// Only for `mfa_required` with `passkey` among `methods`:
    /// PublicKeyCredentialRequestOptions JSON naming the account's passkeys,
    /// for `navigator.credentials.get` (`PublicKeyCredential.parseRequestOptionsFromJSON`);
    /// its answer goes to `POST /login/mfa` as `credential`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub passkey_options: Option<serde_json::Value>,
    /// Only for `consent_required`: the scopes the user is asked to consent to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
}

/// A second factor that can finish a login.
#[derive(ToSchema)]
pub enum MfaMethod {
    #[schema(rename = "totp")]
    Totp,
    #[schema(rename = "recovery_code")]
    RecoveryCode,
    #[schema(rename = "passkey")]
    Passkey,
}

/// The body of a 422 `validation_failed` answer: a problem whose `errors` is
/// always present. (Documents the answer; the server renders `Problem`.)
#[derive(ToSchema)]
#[expect(dead_code, reason = "describes the 422 body in the OpenAPI document")]
#[schema(example = json!({
    "type": "urn:portcullis:problem:validation_failed",
    "title": "Unprocessable Entity",
    "status": 422,
    "detail": "Some fields are invalid; see `errors`.",
    "code": "validation_failed",
    "errors": {"password": [{"code": "too_short", "message": "must be at least 8 characters"}]}
}))]
pub struct ValidationProblem {
    #[schema(rename = "type")]
    problem_type: String,
    title: String,
    status: u16,
    detail: Option<String>,
    /// Always `validation_failed`.
    code: String,
    /// Each invalid field and the rules it broke.
    errors: std::collections::HashMap<String, Vec<FieldError>>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code().status()
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        if let Self::Internal(cause) = self {
            // The cause goes to the log only; the client gets an opaque 500.
            tracing::error!(error = ?cause, "internal error");
        }
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, PROBLEM_CONTENT_TYPE));
        if let Some(challenge) = self.bearer_challenge() {
            response.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        if let Some(seconds) = self.retry_after() {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from(seconds)));
        }
        if let Self::MethodNotAllowed { allow } = self {
            response.insert_header((header::ALLOW, allow.as_str()));
        }
        if matches!(self, Self::RequestTimeout) {
            // The rest of a stalled body may never come: do not wait for it.
            response.force_close();
        }
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        response.body(body)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable => Self::ServiceUnavailable,
            StoreError::StorageFull => Self::StorageFull,
            StoreError::Overloaded => Self::Overloaded,
            StoreError::Failed(cause) => Self::Internal(cause),
        }
    }
}

impl From<HashError> for ApiError {
    fn from(error: HashError) -> Self {
        match error {
            HashError::Overloaded => Self::Overloaded,
            HashError::Failed(cause) => Self::Internal(cause),
        }
    }
}

impl From<Limited> for ApiError {
    fn from(limited: Limited) -> Self {
        Self::RateLimited {
            retry_after_secs: limited.retry_after_secs,
        }
    }
}

impl From<LoginError> for ApiError {
    fn from(error: LoginError) -> Self {
        match error {
            LoginError::InvalidCredentials => Self::InvalidCredentials,
            LoginError::AccountDisabled => Self::AccountDisabled,
            LoginError::EmailNotVerified => Self::EmailNotVerified,
            LoginError::HeldBack { retry_after_secs } => Self::RateLimited { retry_after_secs },
            LoginError::SecondFactorRequired(challenge) => Self::MfaRequired {
                mfa_token: challenge.mfa_token,
                methods: challenge
                    .methods
                    .into_iter()
                    .map(LoginMethod::as_str)
                    .collect(),
                passkey_options: challenge.passkey_options,
            },
            LoginError::ChallengeInvalid => Self::InvalidOrExpiredToken,
            LoginError::InvalidMfaCode => Self::InvalidMfaCode,
            LoginError::Hash(error) => error.into(),
            LoginError::Token(error) => Self::Internal(anyhow::Error::new(error)),
            LoginError::Store(error) => error.into(),
        }
    }
}

impl From<EmailLoginError> for ApiError {
    fn from(error: EmailLoginError) -> Self {
        match error {
            // The routes of a feature that is off do not exist.
            EmailLoginError::Disabled => Self::NotFound,
            EmailLoginError::Invalid(violations) => Self::Validation(violations),
            EmailLoginError::RedirectNotAllowed => Self::RedirectNotAllowed,
            EmailLoginError::HeldBack { retry_after_secs } => {
                Self::RateLimited { retry_after_secs }
            }
            EmailLoginError::Login(error) => error.into(),
            EmailLoginError::Store(error) => error.into(),
        }
    }
}

impl From<FederationError> for ApiError {
    fn from(error: FederationError) -> Self {
        match error {
            FederationError::UnknownProvider => Self::NotFound,
            FederationError::RedirectNotAllowed => Self::RedirectNotAllowed,
            FederationError::Invalid(violations) => Self::Validation(violations),
            FederationError::ProviderUnavailable { .. } => Self::ProviderUnavailable,
            FederationError::NoSafePlace => Self::InvalidOrExpiredToken,
            FederationError::Login(error) => error.into(),
            FederationError::Store(error) => error.into(),
        }
    }
}

impl From<IdentityError> for ApiError {
    fn from(error: IdentityError) -> Self {
        match error {
            IdentityError::UnknownProvider | IdentityError::NotFound => Self::NotFound,
            IdentityError::RedirectNotAllowed => Self::RedirectNotAllowed,
            IdentityError::StepUp(_) => Self::StepUpRequired,
            IdentityError::LastLoginMethod => Self::LastLoginMethod,
            IdentityError::Store(error) => error.into(),
        }
    }
}

impl From<RefreshError> for ApiError {
    fn from(error: RefreshError) -> Self {
        match error {
            RefreshError::InvalidToken => Self::InvalidToken,
            RefreshError::TokenExpired => Self::TokenExpired,
            RefreshError::Reused => Self::RefreshTokenReused,
            RefreshError::Token(error) => Self::Internal(anyhow::Error::new(error)),
            RefreshError::Store(error) => error.into(),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::InvalidToken => Self::InvalidToken,
            AuthError::TokenExpired => Self::TokenExpired,
            AuthError::Store(error) => error.into(),
        }
    }
}

impl From<RevokeError> for ApiError {
    fn from(error: RevokeError) -> Self {
        match error {
            RevokeError::NotFound => Self::NotFound,
            RevokeError::Store(error) => error.into(),
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(error: AccountError) -> Self {
        match error {
            AccountError::EmailTaken => Self::EmailTaken,
            AccountError::UsernameTaken => Self::UsernameTaken,
            AccountError::WrongPassword => Self::WrongPassword,
            AccountError::FreshLoginRequired => Self::FreshLoginRequired,
            AccountError::HeldBack { retry_after_secs } => Self::RateLimited { retry_after_secs },
            AccountError::Invalid(violations) => Self::Validation(violations),
            AccountError::LastAdmin => Self::LastAdmin,
            AccountError::InvalidOrExpiredToken => Self::InvalidOrExpiredToken,
            AccountError::Hash(error) => error.into(),
            AccountError::Store(error) => error.into(),
        }
    }
}

impl From<AdminError> for ApiError {
    fn from(error: AdminError) -> Self {
        match error {
            AdminError::NotFound => Self::NotFound,
            AdminError::Invalid(violations) => Self::Validation(violations),
            AdminError::EmailTaken => Self::EmailTaken,
            AdminError::UsernameTaken => Self::UsernameTaken,
            AdminError::Hash(error) => error.into(),
            AdminError::NoLongerAdmin => Self::Forbidden,
            AdminError::SessionEnded => Self::InvalidToken,
            AdminError::LastAdmin => Self::LastAdmin,
            AdminError::SecondFactorRequired => Self::MfaRequiredForAdmin,
            AdminError::Store(error) => error.into(),
        }
    }
}

impl From<MfaError> for ApiError {
    fn from(error: MfaError) -> Self {
        match error {
            MfaError::AlreadyEnabled => Self::MfaAlreadyEnabled,
            MfaError::NotEnabled | MfaError::NoPendingEnrollment => Self::NotFound,
            MfaError::InvalidCode => Self::InvalidMfaCode,
            MfaError::Password(error) => error.into(),
            MfaError::StepUp(_) => Self::StepUpRequired,
            MfaError::HeldBack { retry_after_secs } => Self::RateLimited { retry_after_secs },
            MfaError::Failed(cause) => Self::Internal(cause),
            MfaError::Store(error) => error.into(),
        }
    }
}

impl From<PasskeyError> for ApiError {
    fn from(error: PasskeyError) -> Self {
        match error {
            PasskeyError::CeremonyInvalid => Self::InvalidOrExpiredToken,
            PasskeyError::Invalid(field, violation) => Self::invalid_field(field, violation),
            PasskeyError::NotFound => Self::NotFound,
            PasskeyError::Password(error) => error.into(),
            PasskeyError::StepUp(_) => Self::StepUpRequired,
            PasskeyError::TooMany => Self::TooManyPasskeys,
            PasskeyError::Failed(cause) => Self::Internal(cause),
            PasskeyError::Store(error) => error.into(),
        }
    }
}

impl From<ClientError> for ApiError {
    fn from(error: ClientError) -> Self {
        match error {
            ClientError::Invalid(violations) => Self::Validation(violations),
            ClientError::NotFound => Self::NotFound,
            ClientError::NoSecret => Self::invalid_field(
                "type",
                FieldError::new("public_client", "a public client has no secret"),
            ),
            ClientError::Store(error) => error.into(),
        }
    }
}

impl From<AuthorizeError> for ApiError {
    fn from(error: AuthorizeError) -> Self {
        match error {
            AuthorizeError::NoRedirect(why) => Self::MalformedRequest(why.to_owned()),
            AuthorizeError::Store(error) => error.into(),
        }
    }
}

impl From<RequestError> for ApiError {
    fn from(error: RequestError) -> Self {
        match error {
            RequestError::NotFound => Self::NotFound,
            RequestError::ConsentRequired { scopes } => Self::ConsentRequired { scopes },
            RequestError::FreshLoginRequired => Self::FreshLoginRequired,
            RequestError::Store(error) => error.into(),
        }
    }
}

impl From<ConsentError> for ApiError {
    fn from(error: ConsentError) -> Self {
        match error {
            ConsentError::NotFound => Self::NotFound,
            ConsentError::Store(error) => error.into(),
        }
    }
}

impl From<LogoutError> for ApiError {
    fn from(error: LogoutError) -> Self {
        match error {
            LogoutError::Invalid(why) => Self::MalformedRequest(why.to_owned()),
            LogoutError::Store(error) => error.into(),
        }
    }
}

impl From<UserinfoError> for ApiError {
    fn from(error: UserinfoError) -> Self {
        match error {
            UserinfoError::InvalidToken => Self::InvalidToken,
            UserinfoError::Expired => Self::TokenExpired,
            UserinfoError::InsufficientScope => Self::Forbidden,
            UserinfoError::Store(error) => error.into(),
            UserinfoError::Failed(error) => Self::Internal(error),
        }
    }
}
