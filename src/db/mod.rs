//! The database: connections and pool for either backend, the Diesel schema, rows
//! and queries. This is the only module that knows there are two backends; the
//! rest of the code calls functions such as [`users::find_by_email`] on a
//! [`DbConnection`] and never matches on it. Storage speaks only of storage:
//! failures are a [`StoreError`], never an HTTP answer.
//!
//! Lookups by a unique key end in `.get_result()`, not `.first()`: `.first()`
//! adds a bound `LIMIT ?`, and SQLite 3.53 re-prepares a statement with one on
//! every run (parsing and planning cost a SQLite `/me` four fifths of its
//! throughput).

pub mod bench;
pub mod email_logins;
pub mod events;
pub mod identities;
pub mod mfa;
pub mod oauth;
pub mod outbox;
pub mod passkeys;
pub mod provider_logins;
pub mod schema;
pub mod sessions;
pub mod user_search;
pub mod users;
mod writer;

use std::fmt;
use std::time::Duration;

use anyhow::Context as _;
use diesel::connection::SimpleConnection as _;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection};
use diesel::{PgConnection, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

/// Why storage failed, as the layers above need to know it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached, or a connection or SQLite's write
    /// lock did not come in time, or concurrent writers of one row kept
    /// refusing each other's write: worth retrying later.
    #[error("the database is unavailable")]
    Unavailable,
    /// The database has no room to write (SQLite's `SQLITE_FULL`, PostgreSQL's
    /// `disk_full`, SQLSTATE 53100): the write was rolled back, nothing that
    /// was acknowledged is lost, and it is worth retrying once space is freed.
    #[error("database storage is full")]
    StorageFull,
    /// More writes are waiting for this node's SQLite writer than its queue
    /// holds: refused at once, worth retrying shortly.
    #[error("too many writes are waiting")]
    Overloaded,
    /// Anything else: a bug or a broken database, logged and never shown.
    #[error(transparent)]
    Failed(anyhow::Error),
}

/// A stored id read back. One that is not a UUID means a broken database: a
/// storage failure (logged, answered as an internal error), never a nil id
/// and never a row silently left out of a listing.
pub fn stored_uuid(what: &str, raw: &str) -> Result<uuid::Uuid, StoreError> {
    uuid::Uuid::parse_str(raw)
        .map_err(|_| StoreError::Failed(anyhow::anyhow!("{what} {raw:?}: the id is not a UUID")))
}

impl From<diesel::result::Error> for StoreError {
    fn from(error: diesel::result::Error) -> Self {
        if is_connection_error(&error) {
            tracing::warn!(%error, "database connection lost");
            return Self::Unavailable;
        }
        if matches!(
            error,
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::SerializationFailure,
                _
            )
        ) {
            // Concurrent writers kept refusing each other's work: nothing
            // was written, and the same request is worth sending again.
            tracing::warn!(%error, "write abandoned after concurrent changes");
            return Self::Unavailable;
        }
        if is_storage_full(&error) {
            tracing::error!(%error, "database storage is full: writes fail until space is freed");
            return Self::StorageFull;
        }
        Self::Failed(anyhow::Error::new(error).context("database query failed"))
    }
}

/// A unique value a write collided with: the write did nothing. Returned
/// inside `Ok` (`QueryResult<Result<T, Conflict>>`) by the writes a taken
/// value can refuse, so that no layer above reads Diesel's error kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    #[error("the email address belongs to another account")]
    Email,
    #[error("the username belongs to another account")]
    Username,
    #[error("the passkey is already registered")]
    Passkey,
    #[error("the provider identity belongs to an account")]
    Identity,
    #[error("another request recorded the consent first")]
    Consent,
}

/// `write`, with a unique-index violation turned into the [`Conflict`]
/// `which` names from the index or constraint that refused it, undone alone
/// (see [`in_savepoint`]).
fn refused_as_conflict<T>(
    conn: &mut DbConnection,
    write: impl FnOnce(&mut DbConnection) -> diesel::QueryResult<T>,
    which: impl FnOnce(&str) -> Conflict,
) -> diesel::QueryResult<Result<T, Conflict>> {
    use diesel::result::{DatabaseErrorKind, Error};
    in_savepoint(conn, |conn| match write(conn) {
        Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info)) => {
            // PostgreSQL names the constraint; SQLite names it in the message
            // ("UNIQUE constraint failed: users.email", "… index 'users_username_lower_key'").
            Ok(Err(which(info.constraint_name().unwrap_or(info.message()))))
        }
        written => written.map(Ok),
    })
}

/// Runs `writes` in a savepoint that undoes them all when they report a
/// [`Conflict`]; the transaction goes on and can read what refused them. On
/// PostgreSQL a refused statement otherwise ends the whole transaction: two
/// sign-ups racing for one address would end in an error, not an answer.
pub fn in_savepoint<T, E: From<diesel::result::Error>>(
    conn: &mut DbConnection,
    writes: impl FnOnce(&mut DbConnection) -> Result<Result<T, Conflict>, E>,
) -> Result<Result<T, Conflict>, E> {
    let mut refused = None;
    let written = conn.transaction(|conn| match writes(conn)? {
        Ok(value) => Ok(value),
        Err(conflict) => {
            refused = Some(conflict);
            Err(E::from(diesel::result::Error::RollbackTransaction))
        }
    });
    match refused {
        Some(conflict) => Ok(Err(conflict)),
        None => written.map(Ok),
    }
}

/// What work done on a connection may fail with: a [`StoreError`], or an
/// error of the caller's own that can carry one (each use-case's error enum).
pub trait StoreFailure: From<StoreError> + From<diesel::result::Error> + Send + 'static {
    /// True when the failure is [`StoreError::Unavailable`]; the pool then
    /// drops the connection instead of handing it out again.
    fn is_unavailable(&self) -> bool;
    /// True when the failure is [`StoreError::StorageFull`]: the node then
    /// reports itself unready until a probe write goes through.
    fn is_storage_full(&self) -> bool;
}

impl StoreFailure for StoreError {
    fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable)
    }

    fn is_storage_full(&self) -> bool {
        matches!(self, Self::StorageFull)
    }
}

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
/// PostgreSQL advisory-lock key held while migrating ("PORTCULL" in ASCII).
const MIGRATION_LOCK_ID: i64 = 0x504f_5254_4355_4c4c;

/// A connection to whichever backend `DATABASE_URL` names.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

/// Where the data lives, parsed from `DATABASE_URL` by its scheme. Parsing is
/// explicit because `SqliteConnection` accepts any string as a file name, so a
/// mistyped PostgreSQL URL would otherwise quietly become a new SQLite file.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Postgres(String),
    /// A file path, or `:memory:`.
    Sqlite(String),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        if url == "sqlite::memory:" || url == "sqlite://:memory:" {
            return Ok(Self::Sqlite(":memory:".to_owned()));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| "must start with postgres://, postgresql:// or sqlite://".to_owned())?;
        let path = path.split('?').next().unwrap_or_default();
        if path.is_empty() {
            return Err("names no SQLite file (try sqlite://portcullis.db)".to_owned());
        }
        Ok(Self::Sqlite(path.to_owned()))
    }

    /// The SQLite file, when there is one.
    pub fn sqlite_file(&self) -> Option<&str> {
        match self {
            Self::Sqlite(path) if path != ":memory:" => Some(path),
            _ => None,
        }
    }

    /// Where a development file (such as a generated signing key) belongs:
    /// beside the SQLite file, in the working directory for PostgreSQL, and
    /// nowhere for an in-memory database, which forgets everything at exit.
    pub fn file_beside(&self, suffix: &str) -> Option<std::path::PathBuf> {
        match self {
            Self::Postgres(_) => Some(std::path::PathBuf::from(format!("portcullis-dev.{suffix}"))),
            Self::Sqlite(_) => self
                .sqlite_file()
                .map(|file| std::path::PathBuf::from(format!("{file}.{suffix}"))),
        }
    }

    fn is_in_memory(&self) -> bool {
        matches!(self, Self::Sqlite(path) if path == ":memory:")
    }
}

/// Never prints a PostgreSQL password.
impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Postgres(url) => write!(f, "{}", redact_password(url)),
            Self::Sqlite(path) => write!(f, "sqlite://{path}"),
        }
    }
}

fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (location, query) = rest
        .split_once('?')
        .map_or((rest, None), |(l, q)| (l, Some(q)));
    let location = match location.split_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => location.to_owned(),
        },
        None => location.to_owned(),
    };
    // libpq also takes the password as a query parameter.
    let query = query.map(|query| {
        query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _))
                    if name.eq_ignore_ascii_case("password")
                        || name.eq_ignore_ascii_case("sslpassword") =>
                {
                    format!("{name}=***")
                }
                _ => pair.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("&")
    });
    match query {
        Some(query) => format!("{scheme}://{location}?{query}"),
        None => format!("{scheme}://{location}"),
    }
}

/// A pooled connection that remembers whether it saw the server go away, so the
/// pool drops it instead of handing it out again (diesel's own `is_broken` only
/// knows about unfinished transactions, not about a restarted PostgreSQL).
pub struct PooledConnection {
    conn: DbConnection,
    lost: bool,
}

/// Opens connections for the pool, by the scheme chosen once at start-up.
struct ConnectionManager {
    url: DatabaseUrl,
    transaction_pooling: bool,
}

impl ManageConnection for ConnectionManager {
    type Connection = PooledConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<PooledConnection, Self::Error> {
        self.open()
            .map(|conn| PooledConnection { conn, lost: false })
    }

    fn is_valid(&self, pooled: &mut PooledConnection) -> Result<(), Self::Error> {
        diesel::sql_query("SELECT 1")
            .execute(&mut pooled.conn)
            .map(|_| ())
            .map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, pooled: &mut PooledConnection) -> bool {
        use diesel::r2d2::R2D2Connection;
        pooled.lost || std::thread::panicking() || pooled.conn.is_broken()
    }
}

impl ConnectionManager {
    fn open(&self) -> Result<DbConnection, diesel::r2d2::Error> {
        match &self.url {
            DatabaseUrl::Postgres(url) => {
                let mut conn =
                    PgConnection::establish(url).map_err(diesel::r2d2::Error::ConnectionError)?;
                if self.transaction_pooling {
                    // Named prepared statements live in one server session;
                    // behind a transaction pooler the next transaction may run
                    // in another. Uncached statements go out as one
                    // Parse/Bind/Execute (PQsendQueryParams), which any
                    // server connection can run.
                    use diesel::connection::{CacheSize, Connection as _};
                    conn.set_prepared_statement_cache_size(CacheSize::Disabled);
                }
                Ok(DbConnection::Postgresql(conn))
            }
            DatabaseUrl::Sqlite(path) => {
                if path != ":memory:" {
                    create_owner_only(path);
                }
                let mut conn = SqliteConnection::establish(path)
                    .map_err(diesel::r2d2::Error::ConnectionError)?;
                // busy_timeout first: the journal-mode switch itself may have to wait
                // for another connection's lock. (batch_execute: a plain query would
                // run only the first statement.)
                conn.batch_execute(
                    "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
                )
                .map_err(diesel::r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

/// Creates the SQLite file, if it is not there yet, readable by its owner only:
/// it holds every password hash, and SQLite gives the `-wal` and `-shm` files
/// it creates beside it the database file's permissions. Any failure is left
/// for the connection attempt to report.
fn create_owner_only(path: &str) {
    use std::os::unix::fs::OpenOptionsExt as _;
    let _ = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
}

/// The files of the database that hold its data (for SQLite: the file and its
/// `-wal` and `-shm` companions); none for PostgreSQL or an in-memory database.
pub fn data_files(url: &DatabaseUrl) -> Vec<std::path::PathBuf> {
    url.sqlite_file()
        .map(|file| {
            ["", "-wal", "-shm"]
                .iter()
                .map(|suffix| std::path::PathBuf::from(format!("{file}{suffix}")))
                .collect()
        })
        .unwrap_or_default()
}

/// Pool tuning that operators may want to change.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_size: u32,
    /// How long a request waits for a connection before it answers 503.
    pub checkout_timeout: Duration,
    /// Whether PostgreSQL is reached through a pooler in transaction mode
    /// (PgBouncer's `pool_mode = transaction`): then nothing may rely on
    /// server-session state between transactions.
    pub transaction_pooling: bool,
}

/// The shared connection pool. Every query runs off the async workers:
/// reads through [`Database::run`], anything that writes through
/// [`Database::transaction`].
#[derive(Clone)]
pub struct Database {
    pool: r2d2::Pool<ConnectionManager>,
    /// SQLite allows one writer at a time: this node's writes go through one
    /// writer thread that commits them in batches (group commit, see
    /// [`writer`]). `None` on PostgreSQL.
    sqlite_writer: Option<writer::SqliteWriter>,
    /// On PostgreSQL, how long a request waits for the database at most.
    answer_within: Option<Duration>,
    /// Set when a query failed because the storage is full; cleared by a
    /// probe write that goes through (see [`Database::ensure_writable`]).
    storage_full: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Database {
    /// This node's pooled connections: (idle, in use).
    pub fn pool_connections(&self) -> (u32, u32) {
        let state = self.pool.state();
        (
            state.idle_connections,
            state.connections.saturating_sub(state.idle_connections),
        )
    }

    /// Builds the pool without connecting. A database that goes away later shows
    /// as 503 on requests and on `/readyz`, and the pool reconnects by itself
    /// once it is back. (`portcullis serve` migrates first, so it does need the
    /// database at start-up.)
    pub fn connect_lazily(url: &DatabaseUrl, options: &PoolOptions) -> Self {
        // Every in-memory SQLite connection is a database of its own.
        let max_size = if url.is_in_memory() {
            1
        } else {
            options.max_size.max(1)
        };
        let pool_of = |size: u32| {
            r2d2::Pool::builder()
                .max_size(size)
                .min_idle(Some(0))
                .connection_timeout(options.checkout_timeout)
                .test_on_check_out(false)
                .idle_timeout((!url.is_in_memory()).then_some(Duration::from_secs(600)))
                // Closing the only in-memory connection would drop the database.
                .max_lifetime((!url.is_in_memory()).then_some(Duration::from_secs(1800)))
                .build_unchecked(ConnectionManager {
                    url: url.clone(),
                    transaction_pooling: options.transaction_pooling,
                })
        };
        let pool = pool_of(max_size);
        let sqlite_writer = match url {
            // The writer's own connection (a pool of one, which reconnects
            // by itself), so that readers never hold it up; an in-memory
            // database has only the one connection to share.
            DatabaseUrl::Sqlite(_) => writer::SqliteWriter::start(
                if url.is_in_memory() {
                    pool.clone()
                } else {
                    pool_of(1)
                },
                options.checkout_timeout,
                writer::QUEUE_CAPACITY,
            )
            .inspect_err(|error| {
                // Writes then take their turns at SQLite's own lock.
                tracing::error!(%error, "could not start the SQLite writer thread");
            })
            .ok(),
            DatabaseUrl::Postgres(_) => None,
        };
        Self {
            pool,
            sqlite_writer,
            answer_within: matches!(url, DatabaseUrl::Postgres(_))
                .then(|| options.checkout_timeout + Duration::from_secs(1)),
            storage_full: std::sync::Arc::default(),
        }
    }

    /// Runs `work` with a pooled connection on the blocking thread pool.
    pub async fn run<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: StoreFailure,
    {
        let pool = self.pool.clone();
        self.bounded(tokio::task::spawn_blocking(move || {
            with_connection(&pool, work)
        }))
        .await
    }

    /// Waits for a database task, but on PostgreSQL for at most
    /// `DATABASE_TIMEOUT` + 1 s: a server that stops answering (frozen, or a
    /// network path that went silent) then gives 503 in bounded time instead of
    /// holding the request for as long as TCP takes to notice. The stuck task
    /// keeps its connection until the server answers or the connection breaks;
    /// meanwhile the pool has that many fewer connections, so later requests
    /// get their 503 at checkout. (SQLite on a local disk does not stall this
    /// way, and its waits for the write lock are bounded already.)
    async fn bounded<T, E: StoreFailure>(
        &self,
        task: tokio::task::JoinHandle<Result<T, E>>,
    ) -> Result<T, E> {
        let joined = match self.answer_within {
            Some(limit) => match tokio::time::timeout(limit, task).await {
                Ok(joined) => joined,
                Err(_) => {
                    tracing::warn!("the database did not answer in time");
                    return Err(E::from(StoreError::Unavailable));
                }
            },
            None => task.await,
        };
        let result = joined.map_err(|error| {
            E::from(StoreError::Failed(anyhow::anyhow!(
                "database task failed: {error}"
            )))
        })?;
        self.note_storage_full(&result);
        result
    }

    /// Remembers a write refused for lack of space, for `/readyz`.
    fn note_storage_full<T, E: StoreFailure>(&self, result: &Result<T, E>) {
        if result.as_ref().is_err_and(StoreFailure::is_storage_full) {
            self.storage_full
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Runs `work` in a transaction (an `Err` rolls it back). Use it for
    /// anything that writes. On SQLite the transaction is a savepoint in the
    /// writer's next batch, answered once the batch is committed.
    pub async fn transaction<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: StoreFailure,
    {
        if let Some(writer) = &self.sqlite_writer {
            return self.through_writer(writer, work).await;
        }
        let pool = self.pool.clone();
        self.bounded(tokio::task::spawn_blocking(move || {
            with_connection(&pool, |conn| in_transaction(conn, work))
        }))
        .await
    }

    /// Runs `work`, which writes, without a transaction of its own: for a
    /// write that is atomic by itself (one statement) or that opens its own
    /// transaction where it needs one. On SQLite it runs in the writer's next
    /// batch like a transaction (its own transactions become savepoints).
    pub async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: StoreFailure,
    {
        if let Some(writer) = &self.sqlite_writer {
            return self.through_writer(writer, work).await;
        }
        let pool = self.pool.clone();
        self.bounded(tokio::task::spawn_blocking(move || {
            with_connection(&pool, work)
        }))
        .await
    }

    /// `work` in the SQLite writer's next batch.
    async fn through_writer<T, E, F>(&self, writer: &writer::SqliteWriter, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: StoreFailure,
    {
        let result = writer.submit(work).await;
        self.note_storage_full(&result);
        result
    }

    /// Checks that the database answers, for `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.run(|conn| {
            diesel::sql_query("SELECT 1").execute(conn)?;
            Ok(())
        })
        .await
    }

    /// Checks, for `/readyz`, that this node can write: `StorageFull` while a
    /// write has failed for lack of space and a probe write still does.
    ///
    /// Only after such a failure does it probe (a ready node costs nothing):
    /// in one committed transaction it inserts an audit row with a 16 KiB
    /// body, which needs new pages (SQLite overflow pages, PostgreSQL TOAST),
    /// and deletes it again. Nobody else ever sees the row, and the pages it
    /// took are free again for the next write, so probing does not itself
    /// fill the database: SQLite's file grows by those few pages at most once.
    pub async fn ensure_writable(&self) -> Result<(), StoreError> {
        if !self.storage_full.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(());
        }
        self.transaction(|conn| {
            let id = format!("readiness-probe-{}", uuid::Uuid::new_v4());
            let body = probe_body();
            diesel::sql_query(
                "INSERT INTO auth_events (id, occurred_at, event_type, detail) \
                 VALUES ($1, CURRENT_TIMESTAMP, 'readiness_probe', $2)",
            )
            .bind::<diesel::sql_types::Text, _>(&id)
            .bind::<diesel::sql_types::Text, _>(&body)
            .execute(conn)?;
            diesel::sql_query("DELETE FROM auth_events WHERE id = $1")
                .bind::<diesel::sql_types::Text, _>(&id)
                .execute(conn)?;
            Ok::<_, StoreError>(())
        })
        .await?;
        self.storage_full
            .store(false, std::sync::atomic::Ordering::Relaxed);
        tracing::info!("database storage takes writes again");
        Ok(())
    }

    /// Applies pending migrations; used at start-up and by `portcullis migrate`.
    pub fn migrate(&self) -> anyhow::Result<Vec<String>> {
        let mut pooled = self
            .pool
            .get()
            .context("could not connect to the database")?;
        fn names<E: fmt::Display>(
            result: Result<Vec<diesel::migration::MigrationVersion<'_>>, E>,
        ) -> anyhow::Result<Vec<String>> {
            result
                .map(|versions| versions.iter().map(ToString::to_string).collect())
                .map_err(|error| anyhow::anyhow!("migration failed: {error}"))
        }
        match &mut pooled.conn {
            DbConnection::Postgresql(pg) => {
                // All pending migrations in one transaction, under a lock that
                // ends with it: nodes starting together take turns (the later
                // ones find nothing to do), and nothing outlives the
                // transaction on the server connection, which a transaction
                // pooler such as PgBouncer hands to someone else afterwards.
                // (So a migration may not use CREATE INDEX CONCURRENTLY.)
                pg.transaction::<_, diesel::result::Error, _>(|pg| {
                    diesel::sql_query(format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})"))
                        .execute(pg)?;
                    pg.run_pending_migrations(POSTGRES_MIGRATIONS)
                        .map(|versions| versions.iter().map(ToString::to_string).collect())
                        .map_err(|error| {
                            diesel::result::Error::QueryBuilderError(error.to_string().into())
                        })
                })
                .map_err(|error| anyhow::anyhow!("migration failed: {error}"))
            }
            DbConnection::Sqlite(sqlite) => names(sqlite.run_pending_migrations(SQLITE_MIGRATIONS)),
        }
    }
}

/// Checks out a connection (503 when none comes in time) and runs `work` on
/// it; a connection that lost its server is marked so the pool drops it.
/// Runs `work` in a transaction on `conn` (a savepoint when one is open
/// already); an `Err` rolls it back. A database that rolled the whole
/// transaction back by itself on a full disk (SQLite does) makes Diesel's
/// ROLLBACK fail and report that instead: the answer names the cause, the
/// full storage, and nothing was written.
fn in_transaction<T, E, F>(conn: &mut DbConnection, work: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: StoreFailure,
{
    let mut storage_full = false;
    let result = conn.transaction(|conn| {
        let result = work(conn);
        storage_full = result.as_ref().is_err_and(StoreFailure::is_storage_full);
        result
    });
    match result {
        Err(error) if storage_full && !error.is_storage_full() => {
            tracing::debug!("the transaction was already rolled back by the database");
            Err(E::from(StoreError::StorageFull))
        }
        other => other,
    }
}

fn with_connection<T, E: StoreFailure>(
    pool: &r2d2::Pool<ConnectionManager>,
    work: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E> {
    let mut pooled = pool.get().map_err(|error| {
        tracing::warn!(%error, "no database connection");
        E::from(StoreError::Unavailable)
    })?;
    let result = work(&mut pooled.conn);
    if result.as_ref().is_err_and(StoreFailure::is_unavailable) {
        pooled.lost = true;
    }
    result
}

/// What the readiness probe writes: 16 KiB that neither backend can compress
/// into an existing page (random hex).
fn probe_body() -> String {
    let mut body = String::with_capacity(16 * 1024);
    while body.len() < 16 * 1024 {
        body.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    body
}

/// True when a Diesel error means the storage has no room left. Diesel
/// exposes neither SQLite's result code nor PostgreSQL's SQLSTATE, only their
/// messages: SQLite's `SQLITE_FULL` reads "database or disk is full", and
/// PostgreSQL's `disk_full` (53100) "could not extend file …: No space left
/// on device" (or "could not write …") with the hint "Check free disk space."
fn is_storage_full(error: &diesel::result::Error) -> bool {
    let diesel::result::Error::DatabaseError(_, info) = error else {
        return false;
    };
    info.message().contains("database or disk is full")
        || info.message().contains("No space left on device")
        || info
            .hint()
            .is_some_and(|hint| hint.contains("free disk space"))
}

/// True when a Diesel error means the database could not be reached, rather
/// than that the query was wrong.
fn is_connection_error(error: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match error {
        Error::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _,
        )
        | Error::BrokenTransactionManager => true,
        // SQLite's lock stayed taken (by another process) past busy_timeout.
        Error::DatabaseError(_, info) => info.message().contains("database is locked"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_select_the_backend_by_scheme() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://portcullis.db"),
            Ok(DatabaseUrl::Sqlite("portcullis.db".into()))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/p.db?mode=rwc"),
            Ok(DatabaseUrl::Sqlite("/var/lib/p.db".into()))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite::memory:"),
            Ok(DatabaseUrl::Sqlite(":memory:".into()))
        );
        assert!(matches!(
            DatabaseUrl::parse("postgresql://u:p@h/db"),
            Ok(DatabaseUrl::Postgres(_))
        ));
        assert!(DatabaseUrl::parse("postgress://typo").is_err());
        assert!(DatabaseUrl::parse("sqlite://").is_err());
    }

    #[derive(diesel::QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Text)]
        value: String,
    }

    #[tokio::test]
    async fn sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let url =
            DatabaseUrl::parse(&format!("sqlite://{}", dir.path().join("t.db").display())).unwrap();
        let options = PoolOptions {
            max_size: 2,
            checkout_timeout: Duration::from_secs(2),
            transaction_pooling: false,
        };
        let db = Database::connect_lazily(&url, &options);
        let settings = db
            .run(|conn| {
                let read = |conn: &mut DbConnection, pragma: &str| -> Result<String, StoreError> {
                    let column = if pragma == "busy_timeout" {
                        "timeout"
                    } else {
                        pragma
                    };
                    let query =
                        format!("SELECT CAST({column} AS TEXT) AS value FROM pragma_{pragma}()");
                    Ok(diesel::sql_query(query).get_result::<Setting>(conn)?.value)
                };
                Ok::<_, StoreError>([
                    read(conn, "journal_mode")?,
                    read(conn, "foreign_keys")?,
                    read(conn, "busy_timeout")?,
                    read(conn, "synchronous")?,
                ])
            })
            .await
            .unwrap();
        assert_eq!(settings, ["wal", "1", "5000", "1"]);
    }

    /// A PostgreSQL error as libpq reports it (Diesel keeps no SQLSTATE).
    struct PgError {
        message: &'static str,
        hint: Option<&'static str>,
    }

    impl diesel::result::DatabaseErrorInformation for PgError {
        fn message(&self) -> &str {
            self.message
        }
        fn details(&self) -> Option<&str> {
            None
        }
        fn hint(&self) -> Option<&str> {
            self.hint
        }
        fn table_name(&self) -> Option<&str> {
            None
        }
        fn column_name(&self) -> Option<&str> {
            None
        }
        fn constraint_name(&self) -> Option<&str> {
            None
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }

    #[test]
    fn a_full_disk_is_storage_full_on_both_backends_and_other_errors_are_not() {
        use diesel::result::{DatabaseErrorKind, Error};
        let pg = |message, hint| {
            StoreError::from(Error::DatabaseError(
                DatabaseErrorKind::Unknown,
                Box::new(PgError { message, hint }),
            ))
        };
        // SQLSTATE 53100 (disk_full), as PostgreSQL words it.
        assert!(matches!(
            pg(
                "could not extend file \"base/16384/16397\": No space left on device",
                Some("Check free disk space.")
            ),
            StoreError::StorageFull
        ));
        assert!(matches!(
            pg(
                "could not write to file \"pg_wal/xlogtemp.42\": No space left on device",
                None
            ),
            StoreError::StorageFull
        ));
        // SQLITE_FULL.
        let sqlite = Error::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new("database or disk is full".to_owned()),
        );
        assert!(matches!(StoreError::from(sqlite), StoreError::StorageFull));
        assert!(matches!(
            pg("relation \"nope\" does not exist", None),
            StoreError::Failed(_)
        ));
    }

    #[test]
    fn debug_output_hides_the_postgres_password() {
        let url = DatabaseUrl::parse("postgres://app:s3cret@db:5432/auth").unwrap();
        let shown = format!("{url:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("app:***@db:5432/auth"), "{shown}");
        let in_query =
            DatabaseUrl::parse("postgres://app@db/auth?sslmode=require&password=s3cret").unwrap();
        let shown = format!("{in_query:?}");
        assert_eq!(shown, "postgres://app@db/auth?sslmode=require&password=***");
    }
}
