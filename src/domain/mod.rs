//! Values with rules, parsed once at the edge and trusted after: no I/O, no
//! HTTP, no database. Everything else in the crate may use this module; it uses
//! nothing of the crate.

mod account;
mod authentication;
mod event;
mod page;
mod secret;
mod violation;

pub use account::{
    EMAIL_MAX, Email, LOGIN_PASSWORD_MAX, NewPassword, PASSWORD_MAX, PASSWORD_MIN, Role,
    USERNAME_MAX, USERNAME_MIN, UserId, Username,
};
pub use authentication::{Amr, AuthMethod, LoginMethod};
pub use event::EventType;
pub use page::{AccountCursor, PER_PAGE_MAX, Pagination};
pub use secret::Secret;
pub use violation::{Violation, Violations};
