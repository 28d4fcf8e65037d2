//! The kinds of audit event.

use serde::{Deserialize, Serialize};

/// Every kind of auth event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    UserRegistered,
    LoginSucceeded,
    LoginFailed,
    /// No longer written (a successful refresh is counted on its session);
    /// kept so that events recorded by earlier versions still show.
    TokenRefreshed,
    RefreshReuseDetected,
    LoggedOut,
    LoggedOutAll,
    SessionRevoked,
    PasswordChanged,
    /// A wrong current password on a session's confirmation (`PUT
    /// /me/password`, `DELETE /account`): a possible guess through a stolen session.
    PasswordCheckFailed,
    RoleChanged,
    UserDisabled,
    UserEnabled,
    UserDeleted,
    PasswordResetRequested,
    PasswordReset,
    EmailVerified,
    EmailChangeRequested,
    EmailChanged,
    /// `PATCH /me` renamed the account (detail: `from`, `to`).
    UsernameChanged,
    MfaEnabled,
    MfaDisabled,
    /// A wrong second-factor code (at login, on enrollment or a step-up).
    MfaChallengeFailed,
    RecoveryCodeUsed,
    RecoveryCodesRegenerated,
    PasskeyAdded,
    PasskeyRemoved,
    /// A sign-in link and code were mailed (`POST /login/email`).
    EmailLoginRequested,
    /// An identity at another provider was linked to the account.
    IdentityLinked,
    IdentityUnlinked,
    /// An admin registered an OpenID client.
    OauthClientCreated,
    OauthClientDeleted,
    /// A user consented to a client's scopes.
    OauthConsentGranted,
    OauthConsentRevoked,
    /// An authorization code was presented a second time: the grant its
    /// first use made is revoked.
    OauthCodeReused,
}

impl EventType {
    pub const ALL: [Self; 35] = [
        Self::UserRegistered,
        Self::LoginSucceeded,
        Self::LoginFailed,
        Self::TokenRefreshed,
        Self::RefreshReuseDetected,
        Self::LoggedOut,
        Self::LoggedOutAll,
        Self::SessionRevoked,
        Self::PasswordChanged,
        Self::PasswordCheckFailed,
        Self::RoleChanged,
        Self::UserDisabled,
        Self::UserEnabled,
        Self::UserDeleted,
        Self::PasswordResetRequested,
        Self::PasswordReset,
        Self::EmailVerified,
        Self::EmailChangeRequested,
        Self::EmailChanged,
        Self::UsernameChanged,
        Self::MfaEnabled,
        Self::MfaDisabled,
        Self::MfaChallengeFailed,
        Self::RecoveryCodeUsed,
        Self::RecoveryCodesRegenerated,
        Self::PasskeyAdded,
        Self::PasskeyRemoved,
        Self::EmailLoginRequested,
        Self::IdentityLinked,
        Self::IdentityUnlinked,
        Self::OauthClientCreated,
        Self::OauthClientDeleted,
        Self::OauthConsentGranted,
        Self::OauthConsentRevoked,
        Self::OauthCodeReused,
    ];

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
            Self::PasswordCheckFailed => "password_check_failed",
            Self::RoleChanged => "role_changed",
            Self::UserDisabled => "user_disabled",
            Self::UserEnabled => "user_enabled",
            Self::UserDeleted => "user_deleted",
            Self::PasswordResetRequested => "password_reset_requested",
            Self::PasswordReset => "password_reset",
            Self::EmailVerified => "email_verified",
            Self::EmailChangeRequested => "email_change_requested",
            Self::EmailChanged => "email_changed",
            Self::UsernameChanged => "username_changed",
            Self::MfaEnabled => "mfa_enabled",
            Self::MfaDisabled => "mfa_disabled",
            Self::MfaChallengeFailed => "mfa_challenge_failed",
            Self::RecoveryCodeUsed => "recovery_code_used",
            Self::RecoveryCodesRegenerated => "recovery_codes_regenerated",
            Self::PasskeyAdded => "passkey_added",
            Self::PasskeyRemoved => "passkey_removed",
            Self::EmailLoginRequested => "email_login_requested",
            Self::IdentityLinked => "identity_linked",
            Self::IdentityUnlinked => "identity_unlinked",
            Self::OauthClientCreated => "oauth_client_created",
            Self::OauthClientDeleted => "oauth_client_deleted",
            Self::OauthConsentGranted => "oauth_consent_granted",
            Self::OauthConsentRevoked => "oauth_consent_revoked",
            Self::OauthCodeReused => "oauth_code_reused",
        }
    }

    /// The type of a stored event; `None` for one this version does not know.
    pub fn from_stored(stored: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == stored)
    }
}
