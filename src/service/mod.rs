//! The use-cases: what Portcullis does, with no HTTP in it. Each function
//! takes the capabilities it uses ([`ports`]), values already parsed by the
//! domain, and who is asking ([`caller::ClientInfo`], [`caller::Caller`]); it
//! composes queries, hashing, tokens and audit events, and returns a value or
//! its own error enum. The web layer only translates requests into these
//! calls and their results into answers, so a second entry point (the CLI, a
//! second login step) reuses the same flow.
//!
//! Inside this layer, dependencies point one way: the shared modules below
//! import none of the use-cases, and no use-case imports one that imports it
//! (`tests/api/project.rs` checks both).

// Shared by the use-cases, depending on none of them.
pub mod account;
pub mod audit;
pub mod caller;
pub mod links;
pub mod login;
pub mod one_time;
pub mod ports;
pub mod redirects;
pub mod signup;

// The use-cases.
pub mod accounts;
pub mod admin;
pub mod authorization;
pub mod email_login;
pub mod federation;
pub mod identities;
pub mod mfa;
pub mod oauth_clients;
pub mod oauth_grants;
pub mod outbox;
pub mod passkeys;
pub mod recovery;
pub mod sessions;

/// Lets a use-case error carry a storage failure: `?` on a query inside a
/// transaction, and the pool's "connection lost" check, both work with it. A
/// failed random draw is carried the same way (an internal error).
/// The enum must have a `Store(StoreError)` variant.
macro_rules! carries_store_errors {
    ($error:ty) => {
        impl From<diesel::result::Error> for $error {
            fn from(error: diesel::result::Error) -> Self {
                Self::Store(error.into())
            }
        }

        impl From<$crate::auth::random::NoRandomness> for $error {
            fn from(error: $crate::auth::random::NoRandomness) -> Self {
                Self::Store(error.into())
            }
        }

        impl $crate::db::StoreFailure for $error {
            fn is_unavailable(&self) -> bool {
                matches!(self, Self::Store($crate::db::StoreError::Unavailable))
            }

            fn is_storage_full(&self) -> bool {
                matches!(self, Self::Store($crate::db::StoreError::StorageFull))
            }
        }
    };
}
pub(crate) use carries_store_errors;
