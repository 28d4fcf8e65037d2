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

/// Where the next page of accounts starts (keyset paging): the creation time
/// and id of the last account shown. Clients see it only as an opaque string
/// (`next_after`, then `?after=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountCursor {
    pub created_at: chrono::NaiveDateTime,
    pub id: String,
}

/// The times a cursor may carry, in microseconds since 1970: the years 1 to
/// 9999, which both databases store and compare (chrono reads far more, and
/// PostgreSQL refuses a time before 4713 BC with an error, not an empty page).
const CURSOR_MICROS: std::ops::RangeInclusive<i64> =
    -62_135_596_800_000_000..=253_402_300_799_999_999;

impl AccountCursor {
    pub fn encode(&self) -> String {
        use base64::Engine as _;
        let micros = self.created_at.and_utc().timestamp_micros();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{micros}.{}", self.id))
    }

    /// `None` for anything [`AccountCursor::encode`] did not make, and for a
    /// time outside [`CURSOR_MICROS`].
    pub fn parse(raw: &str) -> Option<Self> {
        use base64::Engine as _;
        if raw.len() > 128 {
            return None;
        }
        let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(raw)
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (micros, id) = text.split_once('.')?;
        let micros: i64 = micros.parse().ok()?;
        if !CURSOR_MICROS.contains(&micros) {
            return None;
        }
        let created_at = chrono::DateTime::from_timestamp_micros(micros)?.naive_utc();
        let id = uuid::Uuid::parse_str(id).ok()?.to_string();
        Some(Self { created_at, id })
    }
}
