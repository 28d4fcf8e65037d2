//! Finding accounts for the admin listing: filters, keyset and offset pages,
//! and totals that stay cheap at millions of accounts (trigram indexes on
//! PostgreSQL, a full-text index on SQLite, estimates past a threshold).

use chrono::NaiveDateTime;
use diesel::dsl::count_star;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::users;
use super::users::{ROLE_ADMIN, UserRow, count_literal, lower};
use crate::domain::Role;

diesel::define_sql_function! {
    /// PostgreSQL's `strpos()`: where `needle` starts in `haystack` (1-based),
    /// 0 if nowhere. Unlike `LIKE`, the trigram indexes cannot serve it.
    fn strpos(haystack: diesel::sql_types::Text, needle: diesel::sql_types::Text) -> diesel::sql_types::Integer;
}

/// Figures for the admin dashboard.
#[derive(Debug, Clone, Copy)]
pub struct UserCounts {
    pub users: Total,
    pub admins: i64,
    pub disabled: i64,
    pub registered_since: i64,
}

/// Each figure is one indexed count (or an estimate), however many accounts
/// there are.
pub fn counts(conn: &mut DbConnection, since: NaiveDateTime) -> QueryResult<UserCounts> {
    Ok(UserCounts {
        users: all_accounts(conn)?,
        admins: users::table
            .filter(users::role.eq(ROLE_ADMIN))
            .select(count_star())
            .get_result(conn)?,
        // Literal SQL, so both planners match the partial index's predicate.
        // SQLite is told to use it: left to itself it reads the whole
        // (role, disabled) index instead, a cost that grows with the accounts
        // (236 ms at ten million).
        disabled: match conn {
            DbConnection::Postgresql(_) => {
                count_literal(conn, "SELECT COUNT(*) AS n FROM users WHERE disabled")?
            }
            DbConnection::Sqlite(_) => count_literal(
                conn,
                "SELECT COUNT(*) AS n FROM users INDEXED BY users_disabled_idx WHERE disabled",
            )?,
        },
        registered_since: users::table
            .filter(users::created_at.ge(since))
            .select(count_star())
            .get_result(conn)?,
    })
}

/// Which accounts to list.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Case-insensitive substring of the username or email.
    pub search: Option<String>,
    pub role: Option<Role>,
    pub disabled: Option<bool>,
}

/// `on_sqlite`: SQLite has no `strpos`, and the role is compared so that no
/// index can serve it: SQLite would otherwise read every account of a role
/// through that index and sort them all for a page, rather than walk the
/// listing's index (accounts of a rare role are found through it before,
/// see [`narrow_keys`]).
fn filtered(
    filter: &UserFilter,
    candidates: Option<&str>,
    on_sqlite: bool,
) -> users::BoxedQuery<'static, super::MultiBackend> {
    let mut query = users::table.into_boxed();
    if let Some(search) = &filter.search {
        let term = search.to_lowercase();
        // The same check is written out for SQLite's own queries as
        // `CONTAINS_TERM`.
        let containing = |part: &str| {
            let pattern = like_pattern(part);
            lower(users::username)
                .like(pattern.clone())
                .escape('\\')
                .or(users::email.like(pattern).escape('\\'))
        };
        query = match candidates {
            // A term without three letters or digits in a row gives
            // PostgreSQL's trigram index nothing to look up: asked anyway,
            // it reads the whole index (4 s at ten million accounts for a
            // rare `ab`). `strpos`, which no index serves, makes it scan
            // instead, stopping as soon as it has enough matches.
            None if !on_sqlite && three_character_parts(&term).is_empty() => query.filter(
                strpos(lower(users::username), term.clone())
                    .gt(0)
                    .or(strpos(users::email, term).gt(0)),
            ),
            None => query.filter(containing(&term)),
            // The index finds the accounts containing the rare part; the
            // whole term is then checked on those rows only.
            Some(part) => query.filter(containing(part)).filter(
                strpos(lower(users::username), term.clone())
                    .gt(0)
                    .or(strpos(users::email, term).gt(0)),
            ),
        };
    }
    query = match filter.role {
        Some(role) if on_sqlite => query.filter(users::role.concat("").eq(role.as_str())),
        Some(role) => query.filter(users::role.eq(role.as_str())),
        None => query,
    };
    // Literal, as SQLite's planner reads a bound `disabled = ?` as a reason
    // to sort every account rather than walk the listing (and PostgreSQL's
    // partial index of disabled accounts matches `disabled` alone).
    query = match filter.disabled {
        Some(true) => query.filter(diesel::dsl::sql::<diesel::sql_types::Bool>("disabled")),
        Some(false) => query.filter(diesel::dsl::sql::<diesel::sql_types::Bool>("NOT disabled")),
        None => query,
    };
    query
}

/// `%part%` with `LIKE`'s wildcards in `part` escaped by `\`.
fn like_pattern(part: &str) -> String {
    let escaped = part
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Past this many accounts (by estimate) a search on PostgreSQL first finds
/// out which parts of its term are common (below it, every search is a few
/// milliseconds as it is).
const SAMPLE_SEARCHES_FROM: i64 = EXACT_COUNT_UP_TO;

/// About this many accounts are sampled to tell common parts from rare ones.
const SEARCH_SAMPLE_ROWS: f64 = 2_000.0;

/// A three-character part of a term contained in more than this share of the
/// sampled accounts is too common to look up in the trigram index.
const COMMON_PART_SHARE: f64 = 0.2;

/// The part of the search term through which PostgreSQL's trigram indexes
/// should find candidates, when it is not the whole term.
///
/// A trigram index answers `LIKE '%term%'` by intersecting the posting lists
/// of the term's trigrams, and it re-reads a list for every candidate: a
/// trigram that most accounts contain (`use` when all are named `user…`,
/// `com` and `mai` in addresses) makes a search cost hundreds of
/// milliseconds at ten million accounts though it matches one. Any account
/// that contains the term contains each of its substrings, so the index may
/// be asked for the longest substring made only of rare trigrams, and the
/// whole term checked on what it returns. Which trigrams are rare is measured
/// on a small sample of the table (a few milliseconds).
fn search_candidates(conn: &mut DbConnection, filter: &UserFilter) -> QueryResult<Option<String>> {
    #[derive(QueryableByName)]
    struct PartShare {
        #[diesel(sql_type = diesel::sql_types::Text)]
        part: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        containing: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        sampled: i64,
    }
    let Some(search) = &filter.search else {
        return Ok(None);
    };
    if matches!(conn, DbConnection::Sqlite(_)) {
        return Ok(None);
    }
    let term = search.to_lowercase();
    let parts = three_character_parts(&term);
    // With one part or none there is no smaller question to ask.
    if parts.len() < 2 {
        return Ok(None);
    }
    let accounts = estimated_accounts(conn)?;
    if accounts <= SAMPLE_SEARCHES_FROM {
        return Ok(None);
    }
    let DbConnection::Postgresql(pg) = conn else {
        return Ok(None);
    };
    // REPEATABLE: the same term takes the same plan while the table stays.
    #[allow(clippy::cast_precision_loss)] // an estimate of at most 2^53 rows
    let percent = (SEARCH_SAMPLE_ROWS * 100.0 / accounts as f64).min(100.0);
    let shares: Vec<PartShare> = diesel::sql_query(
        "WITH sample AS MATERIALIZED (\
             SELECT lower(username) || chr(1) || email AS text \
             FROM users TABLESAMPLE SYSTEM ($1) REPEATABLE (0)) \
         SELECT part, \
             (SELECT count(*) FROM sample WHERE strpos(text, part) > 0) AS containing, \
             (SELECT count(*) FROM sample) AS sampled \
         FROM unnest($2::text[]) AS part",
    )
    .bind::<diesel::sql_types::Double, _>(percent)
    .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(&parts)
    .load(pg)?;
    #[allow(clippy::cast_precision_loss)] // counts of a 2,000-row sample
    let common: Vec<String> = shares
        .into_iter()
        .filter(|share| {
            share.sampled > 0 && share.containing as f64 > share.sampled as f64 * COMMON_PART_SHARE
        })
        .map(|share| share.part)
        .collect();
    Ok(longest_rare_run(&term, &common))
}

/// The distinct three-character substrings of `term` made of letters and
/// digits only: pg_trgm splits a pattern into words at any other character
/// and pads their ends, so a part that crosses one is not one of the
/// trigrams the index would look up.
fn three_character_parts(term: &str) -> Vec<String> {
    let chars: Vec<char> = term.chars().collect();
    let mut parts: Vec<String> = chars
        .windows(3)
        .filter(|w| w.iter().all(|c| c.is_alphanumeric()))
        .map(|w| w.iter().collect())
        .collect();
    parts.sort();
    parts.dedup();
    parts
}

/// The longest substring of `term` made of letters and digits none of whose
/// three-character parts is in `common` (the first of equals), or `None` when it is the whole term or
/// when every part is common (then the index gains nothing from a smaller
/// question, and the matches are likely many and found early in the
/// listing's order).
fn longest_rare_run(term: &str, common: &[String]) -> Option<String> {
    let chars: Vec<char> = term.chars().collect();
    let is_rare = |start: usize| {
        let window = &chars[start..start + 3];
        let part: String = window.iter().collect();
        window.iter().all(|c| c.is_alphanumeric()) && !common.contains(&part)
    };
    let mut best: Option<(usize, usize)> = None;
    let mut run_start: Option<usize> = None;
    let windows = chars.len().saturating_sub(2);
    for start in 0..=windows {
        let rare = start < windows && is_rare(start);
        match (rare, run_start) {
            (true, None) => run_start = Some(start),
            (false, Some(first)) => {
                // Windows first..start are rare: characters first..start+2.
                let run = (first, start + 2);
                if best.is_none_or(|(a, b)| run.1 - run.0 > b - a) {
                    best = Some(run);
                }
                run_start = None;
            }
            _ => {}
        }
    }
    match best {
        Some((first, end)) if end - first < chars.len() => Some(chars[first..end].iter().collect()),
        _ => None,
    }
}

/// Matches are counted exactly up to this many; past it the total is an
/// estimate (so that a listing never counts millions of rows).
pub const EXACT_COUNT_UP_TO: i64 = 10_000;

/// How many accounts match a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Total {
    pub count: i64,
    /// `count` is the planner's estimate of all accounts (no filter), or a
    /// lower bound (`EXACT_COUNT_UP_TO` + 1, with a filter).
    pub estimated: bool,
}

/// Where a page starts: an offset, or after the account a cursor names
/// (keyset paging: as fast on the millionth page as on the first).
#[derive(Debug, Clone)]
pub enum PageStart {
    Offset(i64),
    After {
        created_at: NaiveDateTime,
        id: String,
    },
}

/// One page of matching accounts, newest first, and how many match in all.
pub fn page(
    conn: &mut DbConnection,
    filter: &UserFilter,
    start: &PageStart,
    limit: i64,
) -> QueryResult<(Vec<UserRow>, Total)> {
    let unfiltered = filter.search.is_none() && filter.role.is_none() && filter.disabled.is_none();
    let candidates = search_candidates(conn, filter)?;
    let total = if unfiltered {
        all_accounts(conn)?
    } else {
        // At most EXACT_COUNT_UP_TO + 1 matches are read, however many
        // there are, as keys only. When that is all of them, the page is cut
        // from them and only its rows are read in full: one pass over the
        // matches instead of two. (Unordered: asked for them in order, the
        // planner may walk the whole listing to find a cluster of matches.)
        let matches = matching_keys(conn, filter, candidates.as_deref())?;
        let count = i64::try_from(matches.len()).unwrap_or(i64::MAX);
        if count <= EXACT_COUNT_UP_TO {
            return page_of_all_matches(conn, matches, start, limit);
        }
        Total {
            count,
            estimated: true,
        }
    };
    let on_sqlite = matches!(conn, DbConnection::Sqlite(_));
    let ordered = filtered(filter, candidates.as_deref(), on_sqlite)
        .order((users::created_at.desc(), users::id.desc()));
    let rows = match start {
        PageStart::Offset(offset) => ordered.offset(*offset),
        // The first condition alone bounds an index range (both planners);
        // the second drops the accounts of the same instant already shown.
        PageStart::After { created_at, id } => {
            ordered.filter(users::created_at.le(*created_at)).filter(
                users::created_at
                    .lt(*created_at)
                    .or(users::id.lt(id.clone())),
            )
        }
    }
    .limit(limit)
    .select(users::all_columns)
    .load(conn)?;
    Ok((rows, total))
}

/// The keys of up to `EXACT_COUNT_UP_TO + 1` accounts matching `filter`, in
/// no particular order. On SQLite, through the role and disabled filters'
/// indexes when few accounts pass them ([`narrow_keys`]), else through the
/// full-text index for a term of three characters or more; otherwise
/// through `filtered`.
fn matching_keys(
    conn: &mut DbConnection,
    filter: &UserFilter,
    trigram_question: Option<&str>,
) -> QueryResult<Vec<(NaiveDateTime, String)>> {
    if let DbConnection::Sqlite(sqlite) = &mut *conn {
        if let Some(keys) = narrow_keys(sqlite, filter)? {
            return Ok(keys);
        }
        // Shorter terms have no trigram to look up.
        if let Some(term) = filter
            .search
            .as_deref()
            .filter(|term| term.chars().count() >= 3)
        {
            return full_text_matches(sqlite, filter, term);
        }
    }
    let on_sqlite = matches!(conn, DbConnection::Sqlite(_));
    filtered(filter, trigram_question, on_sqlite)
        .select((users::created_at, users::id))
        .limit(EXACT_COUNT_UP_TO + 1)
        .load(conn)
}

/// SQLite's written-out form of the term check in [`filtered`]: the same
/// `LIKE` on each column, bound twice to the `%term%` pattern.
const CONTAINS_TERM: &str =
    "(lower(users.username) LIKE ? ESCAPE '\\' OR users.email LIKE ? ESCAPE '\\')";

/// SQLite: when the role and disabled filters alone leave at most
/// `EXACT_COUNT_UP_TO` accounts, the keys of those that also contain the
/// search term (all of them without one); `None` when more accounts pass
/// them. A role is read through `users_role_idx`, `disabled=true` alone
/// through the partial `users_disabled_idx`; `disabled=false` alone has no
/// index and is a scan, which stops at the 10,001st enabled account (it
/// reads every account only when nearly all are disabled).
///
/// SQLite's statistics cannot tell a rare role from a common one (an index
/// on two values looks useless to it), so left alone it reads every account
/// to find the few admins or disabled ones; and through the full-text index
/// it would read every account containing a common term to keep the few
/// admins among them (`q=example&role=admin`: seconds at ten million).
fn narrow_keys(
    conn: &mut diesel::SqliteConnection,
    filter: &UserFilter,
) -> QueryResult<Option<Vec<(NaiveDateTime, String)>>> {
    use diesel::sql_types::{BigInt, Bool, Text, Timestamp};
    #[derive(QueryableByName)]
    struct Passing {
        #[diesel(sql_type = Timestamp)]
        created_at: NaiveDateTime,
        #[diesel(sql_type = Text)]
        id: String,
        #[diesel(sql_type = Bool)]
        contains_term: bool,
    }
    // `disabled` is a literal condition (below), which the partial index's
    // predicate must see for `INDEXED BY users_disabled_idx` to be allowed.
    let source = match (filter.role, filter.disabled) {
        (None, None) => return Ok(None),
        (Some(_), _) => "users INDEXED BY users_role_idx WHERE role = ?",
        (None, Some(true)) => "users INDEXED BY users_disabled_idx WHERE 1",
        (None, Some(false)) => "users WHERE 1",
    };
    let pattern = filter
        .search
        .as_deref()
        .map_or_else(|| "%".to_owned(), |term| like_pattern(&term.to_lowercase()));
    let mut query = diesel::sql_query(format!(
        "SELECT created_at, id, {CONTAINS_TERM} AS contains_term FROM {source}"
    ))
    .into_boxed::<diesel::sqlite::Sqlite>()
    .bind::<Text, _>(pattern.clone())
    .bind::<Text, _>(pattern);
    if let Some(role) = filter.role {
        query = query.bind::<Text, _>(role.as_str());
    }
    query = match filter.disabled {
        Some(true) => query.sql(" AND disabled"),
        Some(false) => query.sql(" AND NOT disabled"),
        None => query,
    };
    let passing: Vec<Passing> = query
        .sql(" LIMIT ?")
        .bind::<BigInt, _>(EXACT_COUNT_UP_TO + 1)
        .load(conn)?;
    if i64::try_from(passing.len()).unwrap_or(i64::MAX) > EXACT_COUNT_UP_TO {
        return Ok(None);
    }
    Ok(Some(
        passing
            .into_iter()
            .filter(|account| account.contains_term)
            .map(|account| (account.created_at, account.id))
            .collect(),
    ))
}

/// SQLite: the keys of up to `EXACT_COUNT_UP_TO + 1` accounts matching
/// `filter`, whose search `term` has at least three characters, found through
/// the FTS5 trigram index `users_search` (migration 000008) instead of a scan.
///
/// The index is asked for the term as a phrase (its trigrams in a row), and
/// it drives the join (`CROSS JOIN` fixes that order: left alone, SQLite may
/// walk every account of a role and ask the index about each): it yields
/// rows lazily, so a term that most accounts contain stops after the first
/// matches, as a scan would. The term is then
/// checked on each account as [`filtered`] checks it (the index folds case
/// beyond ASCII and holds username and email as one text), so the results
/// are those of the scan.
fn full_text_matches(
    conn: &mut diesel::SqliteConnection,
    filter: &UserFilter,
    term: &str,
) -> QueryResult<Vec<(NaiveDateTime, String)>> {
    use diesel::sql_types::{BigInt, Bool, Text, Timestamp};
    #[derive(QueryableByName)]
    struct Key {
        #[diesel(sql_type = Timestamp)]
        created_at: NaiveDateTime,
        #[diesel(sql_type = Text)]
        id: String,
    }
    let term = term.to_lowercase();
    let phrase = format!("\"{}\"", term.replace('"', "\"\""));
    let pattern = like_pattern(&term);
    let mut query = diesel::sql_query(format!(
        "SELECT users.created_at, users.id FROM users_search \
         CROSS JOIN users ON users.search_row = users_search.rowid \
         WHERE users_search MATCH ? AND {CONTAINS_TERM}"
    ))
    .into_boxed::<diesel::sqlite::Sqlite>()
    .bind::<Text, _>(phrase)
    .bind::<Text, _>(pattern.clone())
    .bind::<Text, _>(pattern);
    if let Some(role) = filter.role {
        query = query
            .sql(" AND users.role = ?")
            .bind::<Text, _>(role.as_str());
    }
    if let Some(disabled) = filter.disabled {
        query = query
            .sql(" AND users.disabled = ?")
            .bind::<Bool, _>(disabled);
    }
    let keys: Vec<Key> = query
        .sql(" LIMIT ?")
        .bind::<BigInt, _>(EXACT_COUNT_UP_TO + 1)
        .load(conn)?;
    Ok(keys
        .into_iter()
        .map(|key| (key.created_at, key.id))
        .collect())
}

/// The page from `start` when `matches` (keys, in any order) are all the
/// matching accounts: cut as the ordered query would cut it, and only its
/// rows read in full.
fn page_of_all_matches(
    conn: &mut DbConnection,
    mut matches: Vec<(NaiveDateTime, String)>,
    start: &PageStart,
    limit: i64,
) -> QueryResult<(Vec<UserRow>, Total)> {
    let total = Total {
        count: i64::try_from(matches.len()).unwrap_or(i64::MAX),
        estimated: false,
    };
    matches.sort_unstable_by(|a, b| b.cmp(a));
    let first = match start {
        PageStart::Offset(offset) => usize::try_from(*offset).unwrap_or(usize::MAX),
        PageStart::After { created_at, id } => {
            matches.partition_point(|(at, match_id)| (at, match_id) >= (created_at, id))
        }
    };
    let ids: Vec<String> = matches
        .into_iter()
        .skip(first)
        .take(usize::try_from(limit).unwrap_or(0))
        .map(|(_, id)| id)
        .collect();
    let mut rows: Vec<UserRow> = users::table
        .filter(users::id.eq_any(ids))
        .select(users::all_columns)
        .load(conn)?;
    rows.sort_unstable_by(|a, b| (&b.created_at, &b.id).cmp(&(&a.created_at, &a.id)));
    Ok((rows, total))
}

/// How many accounts there are: counted up to `EXACT_COUNT_UP_TO`, estimated
/// past it.
fn all_accounts(conn: &mut DbConnection) -> QueryResult<Total> {
    let estimate = estimated_accounts(conn)?;
    if estimate > EXACT_COUNT_UP_TO {
        return Ok(Total {
            count: estimate,
            estimated: true,
        });
    }
    Ok(Total {
        count: users::table.select(count_star()).get_result(conn)?,
        estimated: false,
    })
}

/// The number of accounts without counting them: PostgreSQL's planner
/// statistics (kept by autovacuum), or SQLite's highest rowid (rows are
/// appended; deleted accounts make it a slight overestimate).
fn estimated_accounts(conn: &mut DbConnection) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct Estimate {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let query = match conn {
        DbConnection::Postgresql(_) => {
            "SELECT GREATEST(reltuples, 0)::bigint AS n FROM pg_class WHERE oid = 'users'::regclass"
        }
        DbConnection::Sqlite(_) => "SELECT COALESCE(MAX(rowid), 0) AS n FROM users",
    };
    Ok(diesel::sql_query(query).get_result::<Estimate>(conn)?.n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn common(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|part| (*part).to_owned()).collect()
    }

    #[test]
    fn a_term_is_cut_into_its_distinct_three_character_parts() {
        assert_eq!(
            three_character_parts("user000"),
            ["000", "er0", "r00", "ser", "use"]
        );
        assert_eq!(three_character_parts("ab"), Vec::<String>::new());
        assert_eq!(three_character_parts("zoë!"), ["zoë"]);
        assert_eq!(three_character_parts("a.bcd@e"), ["bcd"]);
    }

    #[test]
    fn the_index_is_asked_for_the_longest_run_of_rare_parts() {
        // Every seeded account is "user…": the search skips "use" and "ser".
        assert_eq!(
            longest_rare_run("user5000000", &common(&["use", "ser", "er5"])),
            Some("r5000000".to_owned())
        );
        // The address's domain is common, the local part is not; a run
        // stays within one word, as pg_trgm reads a pattern.
        assert_eq!(
            longest_rare_run(
                "ada.lovelace@gmail.com",
                &common(&["gma", "mai", "ail", "com"])
            ),
            Some("lovelace".to_owned())
        );
        // Of two rare runs, the longer; of equals, the first.
        assert_eq!(
            longest_rare_run("abcdXefgh", &common(&["cdX", "dXe"])),
            Some("Xefgh".to_owned())
        );
        assert_eq!(
            longest_rare_run("abcXYdef", &common(&["bcX", "cXY", "XYd", "Yde"])),
            Some("abc".to_owned())
        );
    }

    #[test]
    fn the_whole_term_is_used_when_nothing_or_everything_is_common() {
        assert_eq!(longest_rare_run("lovelace", &[]), None);
        assert_eq!(
            longest_rare_run("gmail", &common(&["gma", "mai", "ail"])),
            None
        );
        assert_eq!(longest_rare_run("ab", &[]), None);
        assert_eq!(longest_rare_run("a.b@c.io", &[]), None);
    }
}
