//! Seeding many accounts at once, for benchmarks and scale tests
//! (`portcullis seed-users`); nothing on the serving path uses it.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;

/// Inserts `count` accounts numbered from `first` (`{prefix}{n}`,
/// `{prefix}{n}@example.com`), all with `password_hash`, one second apart
/// going back from `newest`, in one set-based statement per backend: for
/// benchmarks at millions of accounts (`portcullis seed-users`). Returns the
/// rows inserted.
pub fn seed(
    conn: &mut DbConnection,
    prefix: &str,
    first: i64,
    count: i64,
    password_hash: &str,
    newest: NaiveDateTime,
) -> QueryResult<usize> {
    use diesel::sql_types::{BigInt, Text, Timestamp};
    let last = first + count - 1;
    let query = match conn {
        // md5 of the name, shaped as a UUID: unique, and stable across runs.
        DbConnection::Postgresql(_) => {
            "INSERT INTO users (id, username, email, password_hash, role, disabled, created_at, updated_at, email_verified)
             SELECT md5($1 || n)::uuid::text, $1 || n, $1 || n || '@example.com', $4, 'user', FALSE,
                    $5 - make_interval(secs => n), $5 - make_interval(secs => n), TRUE
             FROM generate_series($2::bigint, $3::bigint) AS n"
        }
        DbConnection::Sqlite(_) => {
            "WITH RECURSIVE n(i) AS (SELECT ?2 UNION ALL SELECT i + 1 FROM n WHERE i < ?3)
             INSERT INTO users (id, username, email, password_hash, role, disabled, created_at, updated_at, email_verified)
             SELECT lower(printf('%s-%s-4%s-8%s-%s', hex(randomblob(4)), hex(randomblob(2)),
                                 substr(hex(randomblob(2)), 2), substr(hex(randomblob(2)), 2), hex(randomblob(6)))),
                    ?1 || i, ?1 || i || '@example.com', ?4, 'user', 0,
                    datetime(?5, '-' || i || ' seconds'), datetime(?5, '-' || i || ' seconds'), 1
             FROM n"
        }
    };
    diesel::sql_query(query)
        .bind::<Text, _>(prefix)
        .bind::<BigInt, _>(first)
        .bind::<BigInt, _>(last)
        .bind::<Text, _>(password_hash)
        .bind::<Timestamp, _>(newest)
        .execute(conn)
}
