//! Which page of a list to show.

use super::violation::{Violation, Violations};

pub const PER_PAGE_DEFAULT: u32 = 20;
pub const PER_PAGE_MAX: u32 = 100;
/// No list is browsed this deep (100 million items at the most per page).
pub const PAGE_MAX: u32 = 1_000_000;

/// `?page&per_page`, checked: page from 1 to 1,000,000, 1–100 per page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pagination {
    pub page: u32,
    pub per_page: u32,
}

impl Pagination {
    pub fn parse(page: Option<u32>, per_page: Option<u32>) -> Result<Self, Violations> {
        let page = page.unwrap_or(1);
        let per_page = per_page.unwrap_or(PER_PAGE_DEFAULT);
        let mut errors = Violations::new();
        if page == 0 || page > PAGE_MAX {
            errors.insert(
                "page",
                vec![Violation::new(
                    "out_of_range",
                    format!("must be between 1 and {PAGE_MAX}"),
                )],
            );
        }
        if per_page == 0 || per_page > PER_PAGE_MAX {
            errors.insert(
                "per_page",
                vec![Violation::new(
                    "out_of_range",
                    format!("must be between 1 and {PER_PAGE_MAX}"),
                )],
            );
        }
        if errors.is_empty() {
            Ok(Self { page, per_page })
        } else {
            Err(errors)
        }
    }

    pub fn offset(self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.per_page)
    }

    pub fn limit(self) -> i64 {
        i64::from(self.per_page)
    }
}
