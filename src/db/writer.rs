//! SQLite's write path: group commit. SQLite takes one writer at a time;
//! when every request's write was its own turn (an async wake-up, a hand-off
//! to the blocking pool, a transaction, a commit), a node spent most of a
//! refresh waiting for turns, not writing.
//!
//! Here one thread per node (the writer) owns the turns. Callers queue their
//! work ([`SqliteWriter::submit`]) and wait for its answer; the writer takes
//! what is queued (up to [`MAX_BATCH`]) and runs it in one transaction, each
//! caller's work in a savepoint of its own, then commits once:
//!
//! - a caller is answered only after the commit that holds its write, so
//!   what was acknowledged is as durable as before;
//! - errors stay with their caller: work that fails is rolled back to its
//!   savepoint and answered with its own error, and the rest of the batch
//!   commits;
//! - if the batch cannot commit (the disk is full, the connection broke, a
//!   caller's work panicked, SQLite rolled the transaction back by itself),
//!   every caller in it gets the error and none of their writes is kept; the
//!   work queued after the failure in that batch is not run;
//! - the queue is bounded ([`QUEUE_CAPACITY`]): past it a write is refused
//!   at once with [`StoreError::Overloaded`] (503 `overloaded`), and a write
//!   that waited longer than the pool's checkout timeout is refused with
//!   [`StoreError::Unavailable`] instead of running late.
//!
//! The writer has a connection of its own (readers never hold it up), and
//! after each caller's work it checks that the batch's transaction is still
//! open: SQLite rolls a whole transaction back by itself on some errors (an
//! I/O error, a full disk met inside a nested savepoint), and the rest of
//! the batch must then fail rather than run, statement by statement, outside
//! it.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use diesel::Connection as _;
use diesel::r2d2;

use super::{ConnectionManager, DbConnection, StoreError, StoreFailure};

/// How many callers' writes one commit carries at most.
pub const MAX_BATCH: usize = 64;
/// How many writes may wait for the writer before new ones are refused.
pub const QUEUE_CAPACITY: usize = 1024;

/// The handle callers queue their writes through; the writer thread stops
/// once every handle is dropped.
#[derive(Clone)]
pub struct SqliteWriter {
    jobs: mpsc::SyncSender<Box<dyn Job>>,
}

impl SqliteWriter {
    /// Starts the writer thread, writing through `pool` (a pool of its own
    /// on a SQLite file, so that readers never hold the writer up).
    pub fn start(
        pool: r2d2::Pool<ConnectionManager>,
        wait_at_most: Duration,
        capacity: usize,
    ) -> std::io::Result<Self> {
        let (jobs, queued) = mpsc::sync_channel(capacity);
        std::thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn(move || serve(&pool, &queued, wait_at_most))?;
        Ok(Self { jobs })
    }

    /// Runs `work` in the next batch's transaction, in a savepoint of its
    /// own, and answers once the batch is committed.
    pub async fn submit<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: StoreFailure,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = Box::new(Queued {
            work,
            reply,
            queued_at: Instant::now(),
        });
        self.jobs.try_send(job).map_err(|error| match error {
            mpsc::TrySendError::Full(_) => {
                tracing::warn!("the SQLite write queue is full");
                E::from(StoreError::Overloaded)
            }
            mpsc::TrySendError::Disconnected(_) => E::from(StoreError::Failed(anyhow::anyhow!(
                "the SQLite writer has stopped"
            ))),
        })?;
        answer.await.unwrap_or_else(|_| {
            // Its work panicked (and was dropped with its reply).
            Err(E::from(StoreError::Failed(anyhow::anyhow!(
                "a write panicked in the SQLite writer"
            ))))
        })
    }
}

/// A caller's write, waiting in the queue.
trait Job: Send {
    fn queued_at(&self) -> Instant;
    /// Answers without running.
    fn refuse(self: Box<Self>, error: StoreError);
    /// Runs in the batch's transaction, in a savepoint; the answer waits for
    /// the batch's fate.
    fn run_in_batch(self: Box<Self>, conn: &mut DbConnection) -> Ran;
}

/// A write that ran in a batch: how it went, and how to answer its caller
/// once the batch is committed (`None`) or has failed (`Some`).
struct Ran {
    storage_full: bool,
    unavailable: bool,
    answer: Box<dyn FnOnce(Option<StoreError>) + Send>,
}

struct Queued<T, E, F> {
    work: F,
    reply: tokio::sync::oneshot::Sender<Result<T, E>>,
    queued_at: Instant,
}

impl<T, E, F> Job for Queued<T, E, F>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: StoreFailure,
{
    fn queued_at(&self) -> Instant {
        self.queued_at
    }

    fn refuse(self: Box<Self>, error: StoreError) {
        let _ = self.reply.send(Err(E::from(error)));
    }

    fn run_in_batch(self: Box<Self>, conn: &mut DbConnection) -> Ran {
        let Self { work, reply, .. } = *self;
        // A savepoint, inside the batch's transaction.
        let result = super::in_transaction(conn, work);
        let storage_full = result.as_ref().is_err_and(StoreFailure::is_storage_full);
        let unavailable = result.as_ref().is_err_and(StoreFailure::is_unavailable);
        Ran {
            storage_full,
            unavailable,
            answer: Box::new(move |batch_failed| {
                let answer = match (result, batch_failed) {
                    (Ok(_), Some(error)) => Err(E::from(error)),
                    (result, _) => result,
                };
                let _ = reply.send(answer);
            }),
        }
    }
}

/// The writer thread: batches until every handle is gone.
fn serve(
    pool: &r2d2::Pool<ConnectionManager>,
    queued: &mpsc::Receiver<Box<dyn Job>>,
    wait_at_most: Duration,
) {
    while let Ok(first) = queued.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queued.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let batch: Vec<_> = batch
            .into_iter()
            .filter_map(|job| fresh(job, wait_at_most))
            .collect();
        if !batch.is_empty() {
            run_batch(pool, batch);
        }
    }
}

/// The job, unless it waited too long to be worth running (its caller may
/// have been told 503 by a proxy already; it is told so now).
fn fresh(job: Box<dyn Job>, wait_at_most: Duration) -> Option<Box<dyn Job>> {
    if job.queued_at().elapsed() > wait_at_most {
        tracing::warn!("timed out waiting for the SQLite writer");
        job.refuse(StoreError::Unavailable);
        return None;
    }
    Some(job)
}

fn run_batch(pool: &r2d2::Pool<ConnectionManager>, batch: Vec<Box<dyn Job>>) {
    let mut pooled = match pool.get() {
        Ok(pooled) => pooled,
        Err(error) => {
            tracing::warn!(%error, "no database connection");
            for job in batch {
                job.refuse(StoreError::Unavailable);
            }
            return;
        }
    };
    let mut ran: Vec<Ran> = Vec::with_capacity(batch.len());
    let mut failed: Option<StoreError> = None;
    let mut panicked = false;
    let committed = pooled
        .conn
        .transaction::<_, diesel::result::Error, _>(|conn| {
            let mut jobs = batch.into_iter();
            for job in jobs.by_ref() {
                match std::panic::catch_unwind(AssertUnwindSafe(|| job.run_in_batch(conn))) {
                    Ok(done) => {
                        failed = batch_failure(&done, conn);
                        ran.push(done);
                    }
                    Err(_) => {
                        panicked = true;
                        failed = Some(StoreError::Failed(anyhow::anyhow!(
                            "a write panicked; its batch was rolled back"
                        )));
                    }
                }
                if failed.is_some() {
                    break;
                }
            }
            // The batch is lost: the writes after the failure are not run.
            if let Some(error) = &failed {
                for job in jobs {
                    job.refuse(copy_of(error));
                }
                return Err(diesel::result::Error::RollbackTransaction);
            }
            Ok(())
        });
    let failed = match (committed, failed) {
        (_, Some(error)) => Some(error),
        (Ok(()), None) => None,
        (Err(error), None) => {
            tracing::warn!(%error, "a batch of SQLite writes did not commit");
            Some(StoreError::from(error))
        }
    };
    if panicked || matches!(failed, Some(StoreError::Unavailable)) {
        // A panic can leave the transaction half-open, and a connection that
        // failed is not trusted again: neither is handed out again. (One
        // whose transaction Diesel saw break is dropped by the pool anyway.)
        pooled.lost = true;
    }
    drop(pooled);
    for done in ran {
        (done.answer)(failed.as_ref().map(copy_of));
    }
}

/// Whether the batch must stop after this caller's work: its storage is
/// full, its connection is gone, or SQLite ended the batch's transaction by
/// itself (what ran before is rolled back, and what would follow would
/// commit statement by statement outside it).
fn batch_failure(done: &Ran, conn: &mut DbConnection) -> Option<StoreError> {
    if done.storage_full {
        return Some(StoreError::StorageFull);
    }
    if done.unavailable {
        return Some(StoreError::Unavailable);
    }
    if !transaction_is_open(conn) {
        return Some(StoreError::Failed(anyhow::anyhow!(
            "SQLite rolled back a batch of writes by itself"
        )));
    }
    None
}

/// Whether the connection is inside a transaction (the batch's), as Diesel
/// sees it: Diesel notices when SQLite has ended one by itself.
fn transaction_is_open(conn: &mut DbConnection) -> bool {
    use diesel::connection::TransactionManager as _;
    type Manager = <DbConnection as diesel::Connection>::TransactionManager;
    matches!(
        Manager::transaction_manager_status_mut(conn).transaction_depth(),
        Ok(Some(_))
    )
}

/// The same failure for another caller of the batch.
fn copy_of(error: &StoreError) -> StoreError {
    match error {
        StoreError::Unavailable => StoreError::Unavailable,
        StoreError::StorageFull => StoreError::StorageFull,
        StoreError::Overloaded => StoreError::Overloaded,
        StoreError::Failed(cause) => StoreError::Failed(anyhow::anyhow!("{cause:#}")),
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;

    use diesel::RunQueryDsl as _;
    use diesel::sql_types::Integer;

    use super::super::{Database, DatabaseUrl, PoolOptions};
    use super::*;

    fn sqlite(dir: &tempfile::TempDir) -> Database {
        let url = DatabaseUrl::parse(&format!("sqlite://{}/writer.db", dir.path().display()))
            .expect("a SQLite URL");
        Database::connect_lazily(
            &url,
            &PoolOptions {
                max_size: 4,
                checkout_timeout: Duration::from_secs(60),
                transaction_pooling: false,
            },
        )
    }

    async fn numbers(database: &Database) -> Vec<i32> {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = Integer)]
            n: i32,
        }
        database
            .run(|conn| {
                let rows: Vec<Row> =
                    diesel::sql_query("SELECT n FROM scratch ORDER BY n").load(conn)?;
                Ok::<_, StoreError>(rows.into_iter().map(|row| row.n).collect())
            })
            .await
            .expect("read back")
    }

    async fn with_scratch_table(database: &Database) {
        database
            .write(|conn| {
                diesel::sql_query("CREATE TABLE scratch (n INTEGER NOT NULL UNIQUE)")
                    .execute(conn)?;
                Ok::<_, StoreError>(())
            })
            .await
            .expect("the table");
    }

    fn insert(conn: &mut DbConnection, n: i32) -> Result<(), StoreError> {
        diesel::sql_query("INSERT INTO scratch (n) VALUES ($1)")
            .bind::<Integer, _>(n)
            .execute(conn)?;
        Ok(())
    }

    type Write<'a> = Pin<Box<dyn std::future::Future<Output = Result<(), StoreError>> + Send + 'a>>;

    /// Holds the writer in a write of its own (inserting `held`) until the
    /// returned sender is used or dropped: what is queued meanwhile forms the
    /// next batches.
    async fn hold_the_writer(
        database: &Database,
        held: i32,
    ) -> (
        std::sync::mpsc::Sender<()>,
        tokio::task::JoinHandle<Result<(), StoreError>>,
    ) {
        let (started, running) = tokio::sync::oneshot::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let busy = tokio::spawn({
            let database = database.clone();
            async move {
                database
                    .transaction(move |conn| {
                        let _ = started.send(());
                        let _ = released.recv();
                        insert(conn, held)
                    })
                    .await
            }
        });
        running.await.expect("the writer runs the holding write");
        (release, busy)
    }

    /// Sends each write to the queue, in order (a write is sent at its first
    /// poll), without waiting for any answer.
    async fn queue(writes: &mut [Write<'_>]) {
        for write in writes {
            std::future::poll_fn(|context| {
                assert!(
                    write.as_mut().poll(context).is_pending(),
                    "a write answered early"
                );
                std::task::Poll::Ready(())
            })
            .await;
        }
    }

    /// 300 callers queued while the writer is busy (so they commit in
    /// batches of 64), some failing after their insert, some refused by the
    /// unique index: each is answered with its own outcome, and exactly the
    /// acknowledged writes are kept.
    #[tokio::test]
    async fn each_caller_of_a_batch_gets_its_own_outcome_and_only_its_acknowledged_write_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let database = sqlite(&dir);
        with_scratch_table(&database).await;
        let (release, busy) = hold_the_writer(&database, 0).await;

        let mut writes: Vec<Write<'_>> = (1..=300)
            .map(|n| {
                Box::pin(database.transaction(move |conn| {
                    // Every eleventh writes 0 again: the unique index refuses it.
                    insert(conn, if n % 11 == 0 { 0 } else { n })?;
                    if n % 7 == 0 {
                        return Err(StoreError::Failed(anyhow::anyhow!("refused after writing")));
                    }
                    Ok(())
                })) as Write<'_>
            })
            .collect();
        queue(&mut writes).await;
        release.send(()).unwrap();
        busy.await.unwrap().expect("the holding write");
        let outcomes = futures_util::future::join_all(writes).await;

        let succeeds = |n: &i32| n % 7 != 0 && n % 11 != 0;
        for (n, outcome) in (1..=300).zip(outcomes) {
            assert_eq!(
                outcome.is_ok(),
                succeeds(&n),
                "the answer to {n}: {outcome:?}"
            );
        }
        let expected: Vec<i32> = (0..=300).filter(|n| *n == 0 || succeeds(n)).collect();
        assert_eq!(numbers(&database).await, expected);
    }

    /// A panic fails its whole batch: the write before it is rolled back and
    /// told so, the one after it is not run; the writer goes on.
    #[tokio::test]
    async fn a_panicking_write_fails_its_batch_and_the_writer_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let database = sqlite(&dir);
        with_scratch_table(&database).await;
        let (release, busy) = hold_the_writer(&database, 0).await;

        let mut writes: Vec<Write<'_>> = vec![
            Box::pin(database.transaction(|conn| insert(conn, 1))),
            Box::pin(database.transaction(|conn| -> Result<(), StoreError> {
                insert(conn, 2)?;
                panic!("a bug in a write");
            })),
            Box::pin(database.transaction(|conn| insert(conn, 3))),
        ];
        queue(&mut writes).await;
        release.send(()).unwrap();
        busy.await.unwrap().expect("the holding write");
        for outcome in futures_util::future::join_all(writes).await {
            assert!(matches!(outcome, Err(StoreError::Failed(_))), "{outcome:?}");
        }
        assert_eq!(numbers(&database).await, vec![0]);

        database
            .transaction(|conn| insert(conn, 4))
            .await
            .expect("the next write");
        assert_eq!(numbers(&database).await, vec![0, 4]);
    }

    /// While the writer is busy, the queue takes `QUEUE_CAPACITY` writes and
    /// refuses the next at once with `Overloaded`; the queued ones then run.
    #[tokio::test]
    async fn past_a_full_queue_a_write_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let database = sqlite(&dir);
        with_scratch_table(&database).await;
        let (release, busy) = hold_the_writer(&database, 0).await;

        let mut writes: Vec<Write<'_>> = (1..=QUEUE_CAPACITY as i32)
            .map(|n| Box::pin(database.transaction(move |conn| insert(conn, n))) as Write<'_>)
            .collect();
        queue(&mut writes).await;
        let refused = database.transaction(|conn| insert(conn, -1)).await;
        assert!(
            matches!(refused, Err(StoreError::Overloaded)),
            "{refused:?}"
        );

        release.send(()).unwrap();
        busy.await.unwrap().expect("the holding write");
        for outcome in futures_util::future::join_all(writes).await {
            outcome.expect("a queued write");
        }
        assert_eq!(numbers(&database).await.len(), QUEUE_CAPACITY + 1);
    }
}
