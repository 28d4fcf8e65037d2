//! How someone proved who they are: the factors of a login as the audit log
//! names them ([`LoginMethod`]), and the RFC 8176 method references a session
//! and its access tokens carry ([`Amr`]), on which the factor rules decide.

/// One factor of a login, as `login_succeeded` and `mfa_challenge_failed`
/// events name it and as a second-factor challenge lists what may answer it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoginMethod {
    Password,
    /// A link or code mailed to the address.
    Email,
    /// Another provider (OpenID Connect, GitHub).
    Provider,
    Passkey,
    Totp,
    RecoveryCode,
}

impl LoginMethod {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::Email => "email",
            Self::Provider => "provider",
            Self::Passkey => "passkey",
            Self::Totp => "totp",
            Self::RecoveryCode => "recovery_code",
        }
    }
}

/// An authentication method reference of RFC 8176 §2, as far as Portcullis
/// uses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// `pwd`: a password.
    Password,
    /// `otp`: a one-time password (a TOTP code).
    OneTimePassword,
    /// `mfa`: more than one factor.
    MultipleFactors,
    /// `hwk`: proof of possession of a hardware-bound key (a passkey).
    HardwareKey,
    /// `user`: user presence verified by the authenticator.
    UserPresence,
    /// `email`: a link or code mailed to the address (not in RFC 8176's
    /// registry; registered names are not exhaustive, §2).
    Email,
    /// `fed`: a federated login, at another provider (RFC 8176 §2).
    Federated,
}

impl AuthMethod {
    const ALL: [Self; 7] = [
        Self::Password,
        Self::OneTimePassword,
        Self::MultipleFactors,
        Self::HardwareKey,
        Self::UserPresence,
        Self::Email,
        Self::Federated,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Password => "pwd",
            Self::OneTimePassword => "otp",
            Self::MultipleFactors => "mfa",
            Self::HardwareKey => "hwk",
            Self::UserPresence => "user",
            Self::Email => "email",
            Self::Federated => "fed",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|method| method.as_str() == name)
    }
}

/// The methods that authenticated a session, in the order its tokens list
/// them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Amr(Vec<AuthMethod>);

impl Amr {
    pub fn of(methods: &[AuthMethod]) -> Self {
        Self(methods.to_vec())
    }

    /// From the names a token or a session row carries. A name this version
    /// does not know is left out: every rule asks whether a method is
    /// present, so leaving one out can only deny, never grant.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        Self(names.into_iter().filter_map(AuthMethod::parse).collect())
    }

    /// As a session row stores it: the names joined by commas.
    pub fn from_stored(stored: &str) -> Self {
        Self::from_names(stored.split(','))
    }

    pub fn to_stored(&self) -> String {
        self.names().join(",")
    }

    /// As the `amr` claim lists them.
    pub fn names(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|method| method.as_str().to_owned())
            .collect()
    }

    pub fn contains(&self, method: AuthMethod) -> bool {
        self.0.contains(&method)
    }

    /// The session proved a second factor: it was finished with one (`mfa`)
    /// or opened with a passkey, a factor of possession and user
    /// verification in itself (`hwk`).
    pub fn has_second_factor(&self) -> bool {
        self.contains(AuthMethod::MultipleFactors) || self.contains(AuthMethod::HardwareKey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_methods_read_back_and_unknown_names_grant_nothing() {
        let amr = Amr::of(&[
            AuthMethod::Password,
            AuthMethod::HardwareKey,
            AuthMethod::MultipleFactors,
        ]);
        assert_eq!(amr.to_stored(), "pwd,hwk,mfa");
        assert_eq!(Amr::from_stored(&amr.to_stored()), amr);
        assert!(amr.has_second_factor());
        let foreign = Amr::from_names(["pwd", "MFA", "sms"]);
        assert_eq!(foreign, Amr::of(&[AuthMethod::Password]));
        assert!(!foreign.has_second_factor());
        assert!(Amr::from_stored("").names().is_empty());
    }

    #[test]
    fn every_method_parses_back_from_its_name() {
        for method in AuthMethod::ALL {
            assert_eq!(AuthMethod::parse(method.as_str()), Some(method));
        }
    }
}
