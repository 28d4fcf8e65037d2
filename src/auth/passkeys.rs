//! WebAuthn ceremonies, through webauthn-rs: the options a browser needs to
//! create or use a passkey, and the checks of what it sends back (challenge,
//! origin, relying party, signature, user verification, signature counter).
//!
//! Ceremony state leaves this module as JSON for the database, so that any
//! node can finish a ceremony another began; stored passkeys leave it as JSON
//! too (the caller seals both). Nothing here knows about HTTP or storage.

use serde::{Deserialize, Serialize};
use webauthn_rs::fake::{
    FakeCredentialIDDistribution, FakePasskeyDistribution, WebauthnFakeCredentialGenerator,
};
use webauthn_rs::prelude::{
    AuthenticationResult, CreationChallengeResponse, CredentialID, DiscoverableAuthentication,
    DiscoverableKey, Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, RequestChallengeResponse, Uuid, Webauthn, WebauthnBuilder,
};
use webauthn_rs_proto::{AllowCredentials, ResidentKeyRequirement};

use crate::config::RelyingParty;

/// Seconds a ceremony may take, from its options to its answer.
pub const CEREMONY_TTL_SECS: u64 = 300;

/// The relying party's WebAuthn checks, built once from the settings.
pub struct PasskeyVerifier {
    webauthn: Webauthn,
    decoys: WebauthnFakeCredentialGenerator<AtLeastOnePasskey>,
}

/// webauthn-rs's distribution of made-up passkeys, without its draws of
/// none: here every identifier that gets options by name has a passkey (the
/// others get decoys), so an empty list would tell a decoy apart.
pub struct AtLeastOnePasskey;

impl FakeCredentialIDDistribution for AtLeastOnePasskey {
    fn generate<R: rand::RngCore>(seeded_rng: &mut R) -> Vec<CredentialID> {
        // Each draw is empty about one time in seven; the seeded generator
        // makes the retries the same on every call for one identifier.
        for _ in 0..32 {
            let made_up = FakePasskeyDistribution::generate(seeded_rng);
            if !made_up.is_empty() {
                return made_up;
            }
        }
        let mut one = vec![0; 32];
        seeded_rng.fill_bytes(&mut one);
        vec![one.into()]
    }
}

/// What the browser sent could not be accepted (wrong origin or challenge, a
/// bad signature, no user verification, a counter that went backwards, …).
/// The reason is for the log; clients get one answer.
#[derive(Debug, thiserror::Error)]
#[error("passkey rejected: {0}")]
pub struct Rejected(String);

impl Rejected {
    fn because(reason: impl std::fmt::Display) -> Self {
        Self(reason.to_string())
    }
}

/// A ceremony in progress, as it is stored between its two requests.
#[derive(Serialize, Deserialize)]
#[serde(tag = "ceremony", rename_all = "snake_case")]
enum CeremonyState {
    Registration {
        state: PasskeyRegistration,
    },
    /// Login by identifier: only the account's passkeys may answer.
    Login {
        state: PasskeyAuthentication,
    },
    /// Usernameless login: the passkey names its account.
    Discoverable {
        state: DiscoverableAuthentication,
    },
    /// Login by an identifier that has no passkey: options that look like a
    /// real ceremony's, which nothing can finish.
    Decoy,
}

/// A ceremony's first half: the options for the browser (the JSON of
/// `PublicKeyCredentialCreationOptions` or `…RequestOptions`) and the state
/// to keep until the answer comes.
pub struct Started {
    pub options: serde_json::Value,
    pub state: String,
}

/// A passkey that just passed registration.
pub struct Registered {
    /// The authenticator's id for it (unique across all accounts).
    pub credential_id: Vec<u8>,
    /// The passkey to store (public key, counter, flags), as JSON.
    pub passkey: String,
}

/// A passkey that just proved its user.
pub struct Asserted {
    /// The signature counter it reported (0: the authenticator keeps none).
    pub counter: u32,
    /// The stored passkey with its counter and flags brought up to date,
    /// when they changed.
    pub updated_passkey: Option<String>,
}

impl PasskeyVerifier {
    /// `decoy_key` keys the credential ids made up for identifiers without
    /// passkeys (see [`Self::start_decoy_login`]); every node needs the same.
    pub fn new(relying_party: &RelyingParty, decoy_key: &[u8]) -> anyhow::Result<Self> {
        let (first, others) = relying_party
            .origins
            .split_first()
            .ok_or_else(|| anyhow::anyhow!("WEBAUTHN_ORIGINS is empty"))?;
        let mut builder = WebauthnBuilder::new(&relying_party.id, first)
            .map_err(|error| {
                anyhow::anyhow!(
                    "WEBAUTHN_RP_ID {:?} does not fit the origin {first}: {error}",
                    relying_party.id
                )
            })?
            .rp_name(&relying_party.name)
            .timeout(std::time::Duration::from_secs(CEREMONY_TTL_SECS));
        for origin in others {
            builder = builder.append_allowed_origin(origin);
        }
        let webauthn = builder
            .build()
            .map_err(|error| anyhow::anyhow!("WebAuthn settings refused: {error}"))?;
        let decoys = WebauthnFakeCredentialGenerator::new(decoy_key)
            .map_err(|error| anyhow::anyhow!("the passkey decoy key is refused: {error}"))?;
        Ok(Self { webauthn, decoys })
    }

    /// Options to create a passkey for an account. `existing` are the
    /// credential ids of the account's passkeys, which the authenticator is
    /// asked not to register twice. A resident (discoverable) key is preferred, so that it
    /// can log in without a username; user verification is required, because
    /// a passkey login stands for two factors.
    pub fn start_registration(
        &self,
        user_id: Uuid,
        user_name: &str,
        display_name: &str,
        existing: Vec<Vec<u8>>,
    ) -> anyhow::Result<Started> {
        let exclude: Vec<CredentialID> = existing.into_iter().map(CredentialID::from).collect();
        let (mut challenge, state) = self
            .webauthn
            .start_passkey_registration(
                user_id,
                user_name,
                display_name,
                Some(exclude).filter(|ids| !ids.is_empty()),
            )
            .map_err(|error| anyhow::anyhow!("starting a passkey registration failed: {error}"))?;
        prefer_resident_key(&mut challenge);
        started(
            &challenge.public_key,
            &CeremonyState::Registration { state },
        )
    }

    /// Checks the browser's answer to a registration.
    pub fn finish_registration(
        &self,
        credential: serde_json::Value,
        state: &str,
    ) -> Result<Registered, Rejected> {
        let CeremonyState::Registration { state } = parse_state(state)? else {
            return Err(Rejected::because("not a registration ceremony"));
        };
        let credential: RegisterPublicKeyCredential =
            serde_json::from_value(credential).map_err(Rejected::because)?;
        let passkey = self
            .webauthn
            .finish_passkey_registration(&credential, &state)
            .map_err(Rejected::because)?;
        Ok(Registered {
            credential_id: passkey.cred_id().to_vec(),
            passkey: serde_json::to_string(&passkey).map_err(Rejected::because)?,
        })
    }

    /// Options to log in with one of an account's passkeys.
    pub fn start_login(&self, passkeys: &[String]) -> anyhow::Result<Started> {
        let passkeys = passkeys
            .iter()
            .map(|stored| parse_passkey(stored))
            .collect::<anyhow::Result<Vec<Passkey>>>()?;
        let (challenge, state) = self
            .webauthn
            .start_passkey_authentication(&passkeys)
            .map_err(|error| anyhow::anyhow!("starting a passkey login failed: {error}"))?;
        started(&challenge.public_key, &CeremonyState::Login { state })
    }

    /// Options to log in with whichever passkey the user picks (no
    /// identifier: the passkey's user handle names the account).
    pub fn start_discoverable_login(&self) -> anyhow::Result<Started> {
        let (challenge, state) = self.discoverable_challenge()?;
        started(
            &challenge.public_key,
            &CeremonyState::Discoverable { state },
        )
    }

    /// Options for an identifier with no passkey (an unknown account too):
    /// shaped like [`Self::start_login`]'s, naming credential ids made up from
    /// the identifier (the same on every call, with the lengths real
    /// authenticators use: webauthn-rs's enumeration defence), so that the
    /// answer does not tell which accounts exist or have passkeys.
    pub fn start_decoy_login(&self, identifier: &str) -> anyhow::Result<Started> {
        let made_up = self
            .decoys
            .generate(identifier.as_bytes())
            .map_err(|error| anyhow::anyhow!("making up credential ids failed: {error}"))?;
        let (mut challenge, _) = self.discoverable_challenge()?;
        let options = &mut challenge.public_key;
        options.allow_credentials = made_up
            .into_iter()
            .map(|id| AllowCredentials {
                type_: "public-key".to_owned(),
                id: id.into(),
                transports: None,
            })
            .collect();
        // What a login by identifier asks for (see start_login).
        options.extensions = None;
        started(options, &CeremonyState::Decoy)
    }

    /// The credential id a login answer names, and the account id in its
    /// user handle if it carries one (discoverable logins do).
    pub fn identify(&self, credential: &serde_json::Value) -> Result<Identified, Rejected> {
        let parsed: PublicKeyCredential =
            serde_json::from_value(credential.clone()).map_err(Rejected::because)?;
        let user_id = parsed
            .response
            .user_handle
            .as_ref()
            .map(|handle| Uuid::from_slice(handle.as_ref()).map_err(Rejected::because))
            .transpose()?;
        Ok(Identified {
            credential_id: parsed.get_credential_id().to_vec(),
            user_id,
            parsed,
        })
    }

    /// Checks a login answer against its ceremony and the stored passkey it
    /// names. A counter at or below the stored one is refused (a cloned
    /// authenticator), as the library does by default.
    pub fn finish_login(
        &self,
        answer: &Identified,
        state: &str,
        stored: &str,
    ) -> Result<Asserted, Rejected> {
        let mut passkey = parse_passkey(stored).map_err(Rejected::because)?;
        if passkey.cred_id().as_slice() != answer.credential_id.as_slice() {
            return Err(Rejected::because("the answer names another passkey"));
        }
        let result = match parse_state(state)? {
            CeremonyState::Login { state } => self
                .webauthn
                .finish_passkey_authentication(&answer.parsed, &state),
            CeremonyState::Discoverable { state } => {
                self.webauthn.finish_discoverable_authentication(
                    &answer.parsed,
                    state,
                    &[DiscoverableKey::from(&passkey)],
                )
            }
            CeremonyState::Decoy => return Err(Rejected::because("a decoy ceremony")),
            CeremonyState::Registration { .. } => {
                return Err(Rejected::because("not a login ceremony"));
            }
        }
        .map_err(Rejected::because)?;
        if !result.user_verified() {
            return Err(Rejected::because(
                "the authenticator did not verify the user",
            ));
        }
        Ok(Asserted {
            counter: result.counter(),
            updated_passkey: updated(&mut passkey, &result)?,
        })
    }

    fn discoverable_challenge(
        &self,
    ) -> anyhow::Result<(RequestChallengeResponse, DiscoverableAuthentication)> {
        let (mut challenge, state) = self
            .webauthn
            .start_discoverable_authentication()
            .map_err(|error| anyhow::anyhow!("starting a passkey login failed: {error}"))?;
        // The library asks for conditional mediation (autofill UI); whether to
        // use it is the client's choice, outside the options we hand out.
        challenge.mediation = None;
        Ok((challenge, state))
    }
}

/// A login answer, parsed, with what it names.
pub struct Identified {
    pub credential_id: Vec<u8>,
    pub user_id: Option<Uuid>,
    parsed: PublicKeyCredential,
}

fn prefer_resident_key(challenge: &mut CreationChallengeResponse) {
    if let Some(selection) = challenge.public_key.authenticator_selection.as_mut() {
        selection.resident_key = Some(ResidentKeyRequirement::Preferred);
        selection.require_resident_key = false;
    }
}

fn updated(
    passkey: &mut Passkey,
    result: &AuthenticationResult,
) -> Result<Option<String>, Rejected> {
    match passkey.update_credential(result) {
        Some(true) => serde_json::to_string(passkey)
            .map(Some)
            .map_err(Rejected::because),
        _ => Ok(None),
    }
}

fn started(options: &impl Serialize, state: &CeremonyState) -> anyhow::Result<Started> {
    Ok(Started {
        options: serde_json::to_value(options)?,
        state: serde_json::to_string(state)?,
    })
}

fn parse_state(state: &str) -> Result<CeremonyState, Rejected> {
    serde_json::from_str(state).map_err(Rejected::because)
}

fn parse_passkey(stored: &str) -> anyhow::Result<Passkey> {
    Ok(serde_json::from_str(stored)?)
}
