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
pub use crate::domain::Violation as FieldError;
pub use crate::domain::Violations as FieldErrors;
use crate::limits::Limited;
use crate::service::accounts::AccountError;
use crate::service::admin::AdminError;
use crate::service::email_login::EmailLoginError;
use crate::service::mfa::MfaError;
use crate::service::passkeys::PasskeyError;
use crate::service::recovery::RecoveryError;
use crate::service::sessions::{AuthError, LoginError, RefreshError, RevokeError};

/// Every error code an answer can carry: the one list the error mapping, the
/// OpenAPI document (the `code` description) and the errors table of
/// `docs/clients.md` (checked by a test) are made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    MalformedRequest,
    MissingToken,
    InvalidToken,
    TokenExpired,
    InvalidCredentials,
    RefreshTokenReused,
    MfaRequired,
    InvalidMfaCode,
    Forbidden,
    AccountDisabled,
    WrongPassword,
    EmailNotVerified,
    MfaRequiredForAdmin,
    CsrfRejected,
    StepUpRequired,
    InvalidOrExpiredToken,
    RedirectNotAllowed,
    NotFound,
    MethodNotAllowed,
    EmailTaken,
    UsernameTaken,
    LastAdmin,
    MfaAlreadyEnabled,
    TooManyPasskeys,
    RequestTimeout,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
    RateLimited,
    Overloaded,
    ServiceUnavailable,
    InternalError,
}

impl ErrorCode {
    pub const ALL: [Self; 32] = [
        Self::MalformedRequest,
        Self::MissingToken,
        Self::InvalidToken,
        Self::TokenExpired,
        Self::InvalidCredentials,
        Self::RefreshTokenReused,
        Self::MfaRequired,
        Self::InvalidMfaCode,
        Self::Forbidden,
        Self::AccountDisabled,
        Self::WrongPassword,
        Self::EmailNotVerified,
        Self::MfaRequiredForAdmin,
        Self::CsrfRejected,
        Self::StepUpRequired,
        Self::InvalidOrExpiredToken,
        Self::RedirectNotAllowed,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::EmailTaken,
        Self::UsernameTaken,
        Self::LastAdmin,
        Self::MfaAlreadyEnabled,
        Self::TooManyPasskeys,
        Self::RequestTimeout,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::ValidationFailed,
        Self::RateLimited,
        Self::Overloaded,
        Self::ServiceUnavailable,
        Self::InternalError,
    ];

    /// The stable snake_case string clients branch on.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MalformedRequest => "malformed_request",
            Self::MissingToken => "missing_token",
            Self::InvalidToken => "invalid_token",
            Self::TokenExpired => "token_expired",
            Self::InvalidCredentials => "invalid_credentials",
            Self::RefreshTokenReused => "refresh_token_reused",
            Self::MfaRequired => "mfa_required",
            Self::InvalidMfaCode => "invalid_mfa_code",
            Self::MfaRequiredForAdmin => "mfa_required_for_admin",
            Self::MfaAlreadyEnabled => "mfa_already_enabled",
            Self::CsrfRejected => "csrf_rejected",
            Self::StepUpRequired => "step_up_required",
            Self::TooManyPasskeys => "too_many_passkeys",
            Self::RequestTimeout => "request_timeout",
            Self::Forbidden => "forbidden",
            Self::AccountDisabled => "account_disabled",
            Self::WrongPassword => "wrong_password",
            Self::EmailNotVerified => "email_not_verified",
            Self::InvalidOrExpiredToken => "invalid_or_expired_token",
            Self::RedirectNotAllowed => "redirect_not_allowed",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::EmailTaken => "email_taken",
            Self::UsernameTaken => "username_taken",
            Self::LastAdmin => "last_admin",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::ValidationFailed => "validation_failed",
            Self::RateLimited => "rate_limited",
            Self::Overloaded => "overloaded",
            Self::ServiceUnavailable => "service_unavailable",
            Self::InternalError => "internal_error",
        }
    }

    /// The HTTP status every answer with this code has.
    pub fn status(self) -> StatusCode {
        match self {
            Self::MalformedRequest | Self::InvalidOrExpiredToken | Self::RedirectNotAllowed => {
                StatusCode::BAD_REQUEST
            }
            Self::MissingToken
            | Self::InvalidToken
            | Self::TokenExpired
            | Self::InvalidCredentials
            | Self::RefreshTokenReused
            | Self::MfaRequired
            | Self::InvalidMfaCode => StatusCode::UNAUTHORIZED,
            Self::Forbidden
            | Self::AccountDisabled
            | Self::WrongPassword
            | Self::EmailNotVerified
            | Self::MfaRequiredForAdmin
            | Self::CsrfRejected
            | Self::StepUpRequired => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::EmailTaken
            | Self::UsernameTaken
            | Self::LastAdmin
            | Self::MfaAlreadyEnabled
            | Self::TooManyPasskeys => StatusCode::CONFLICT,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::ValidationFailed => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Overloaded | Self::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request body could not be read: {0}")]
    MalformedRequest(String),
    #[error("no bearer token")]
    MissingToken,
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
    #[error("too many passkeys")]
    TooManyPasskeys,
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
            Self::MissingToken => ErrorCode::MissingToken,
            Self::InvalidToken => ErrorCode::InvalidToken,
            Self::TokenExpired => ErrorCode::TokenExpired,
            Self::InvalidCredentials => ErrorCode::InvalidCredentials,
            Self::RefreshTokenReused => ErrorCode::RefreshTokenReused,
            Self::MfaRequired { .. } => ErrorCode::MfaRequired,
            Self::InvalidMfaCode => ErrorCode::InvalidMfaCode,
            Self::MfaRequiredForAdmin => ErrorCode::MfaRequiredForAdmin,
            Self::MfaAlreadyEnabled => ErrorCode::MfaAlreadyEnabled,
            Self::StepUpRequired => ErrorCode::StepUpRequired,
            Self::TooManyPasskeys => ErrorCode::TooManyPasskeys,
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
            Self::RequestTimeout => ErrorCode::RequestTimeout,
            Self::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            Self::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            Self::Validation(_) => ErrorCode::ValidationFailed,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Overloaded => ErrorCode::Overloaded,
            Self::ServiceUnavailable | Self::StorageFull | Self::ShuttingDown => {
                ErrorCode::ServiceUnavailable
            }
            Self::Internal(_) => ErrorCode::InternalError,
        }
    }

    fn detail(&self) -> Option<String> {
        let text = match self {
            Self::MalformedRequest(why) => return Some(why.clone()),
            Self::MissingToken => {
                "This endpoint needs a token: an `Authorization: Bearer <access token>` header (for /token/refresh, a refresh token in the body or its cookie)."
            }
            Self::InvalidToken => {
                "The token is not valid here: malformed, wrongly signed, of the wrong kind, or its session has ended."
            }
            Self::TokenExpired => "The token has expired; refresh it or log in again.",
            Self::InvalidCredentials => "The account or password is wrong.",
            Self::RefreshTokenReused => {
                "This refresh token was already used; the session has been revoked. Log in again."
            }
            Self::MfaRequired { .. } => {
                "The password is right; finish the login with a second factor at POST /login/mfa, giving `mfa_token` and one of the `methods`."
            }
            Self::InvalidMfaCode => "The code is wrong, expired or already used.",
            Self::MfaRequiredForAdmin => {
                "Admin routes need a session opened with a second factor; log in again with TOTP or a passkey."
            }
            Self::MfaAlreadyEnabled => {
                "Two-factor authentication is already on; turn it off first to set up a new authenticator."
            }
            Self::StepUpRequired => {
                "This account has a second factor and this session was opened without one; log in again with TOTP, a recovery code or a passkey, then retry."
            }
            Self::TooManyPasskeys => {
                "This account has the most passkeys allowed; remove one before adding another."
            }
            Self::CsrfRejected => {
                "A call authenticated by the refresh cookie must come from an allowed origin and carry `X-Requested-With: portcullis`."
            }
            Self::Forbidden => "Your role does not allow this.",
            Self::AccountDisabled => "This account is disabled.",
            Self::WrongPassword => "The password is wrong.",
            Self::EmailNotVerified => {
                "Confirm your email address first: open the link in the verification mail."
            }
            Self::InvalidOrExpiredToken => {
                "This link or token is unknown, already used or expired; ask for a new one (log in again for an `mfa_token`)."
            }
            Self::RedirectNotAllowed => {
                "`redirect_to` is not on an allowed origin (LOGIN_REDIRECT_ALLOWLIST; by default the origins of APP_URL and CORS_ALLOWED_ORIGINS)."
            }
            Self::NotFound => "Nothing here.",
            Self::MethodNotAllowed { .. } => "This path does not accept that method.",
            Self::EmailTaken => "An account with this email already exists.",
            Self::UsernameTaken => "This username is taken.",
            Self::LastAdmin => "This is the last enabled admin; promote another admin first.",
            Self::RequestTimeout => "The request body did not arrive in time.",
            Self::PayloadTooLarge => "The request body is too large.",
            Self::UnsupportedMediaType => "Send the body as `Content-Type: application/json`.",
            Self::Validation(_) => "Some fields are invalid; see `errors`.",
            Self::RateLimited { .. } => "Too many requests; wait before retrying.",
            Self::Overloaded => "The server is busy; retry shortly.",
            Self::ServiceUnavailable => "The database is unreachable; retry shortly.",
            Self::StorageFull => "The database cannot take writes right now; retry shortly.",
            Self::ShuttingDown => "This node is shutting down; send requests to another one.",
            Self::Internal(_) => return None,
        };
        Some(text.to_owned())
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after_secs } => Some((*retry_after_secs).max(1)),
            Self::Overloaded => Some(RETRY_AFTER_OVERLOADED),
            Self::ServiceUnavailable | Self::StorageFull | Self::ShuttingDown => {
                Some(RETRY_AFTER_UNAVAILABLE)
            }
            _ => None,
        }
    }

    /// RFC 6750 challenge for failures where a bearer token was expected.
    fn bearer_challenge(&self) -> Option<&'static str> {
        match self {
            Self::MissingToken => Some(r#"Bearer realm="portcullis""#),
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
        Problem {
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
    /// 300 seconds for at most 5 codes, spent by the login it finishes.
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
                methods: challenge.methods,
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
            AccountError::HeldBack { retry_after_secs } => Self::RateLimited { retry_after_secs },
            AccountError::Invalid(violations) => Self::Validation(violations),
            AccountError::LastAdmin => Self::LastAdmin,
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

impl From<RecoveryError> for ApiError {
    fn from(error: RecoveryError) -> Self {
        match error {
            RecoveryError::Invalid(violations) => Self::Validation(violations),
            RecoveryError::InvalidOrExpiredToken => Self::InvalidOrExpiredToken,
            RecoveryError::EmailTaken => Self::EmailTaken,
            RecoveryError::UsernameTaken => Self::UsernameTaken,
            RecoveryError::WrongPassword => Self::WrongPassword,
            RecoveryError::HeldBack { retry_after_secs } => Self::RateLimited { retry_after_secs },
            RecoveryError::Hash(error) => error.into(),
            RecoveryError::Store(error) => error.into(),
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
