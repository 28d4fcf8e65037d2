//! Values with rules, parsed once at the edge and trusted after: no I/O, no
//! HTTP, no database. Everything else in the crate may use this module; it uses
//! nothing of the crate.

mod account;
mod event;
mod page;
mod violation;

pub use account::{
    EMAIL_MAX, Email, LOGIN_PASSWORD_MAX, NewPassword, PASSWORD_MAX, PASSWORD_MIN, Role,
    USERNAME_MAX, USERNAME_MIN, UserId, Username,
};
pub use event::EventType;
pub use page::{AccountCursor, PER_PAGE_MAX, Pagination};
pub use violation::{Violation, Violations};
