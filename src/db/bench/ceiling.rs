//! The database's own write ceiling, which the load benchmark sets the refresh
//! figure beside (`portcullis write-ceiling`, run by `bench/run.sh`):
//! single-row UPDATE transactions in a loop from `concurrency` threads, each
//! on its own connection opened exactly as the server opens them (on SQLite:
//! WAL, `synchronous = NORMAL`), with nothing of Portcullis around them. On
//! SQLite the threads take turns to write, as the server's writers do.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use diesel::connection::SimpleConnection as _;
use diesel::prelude::*;

use crate::db::{ConnectionManager, DatabaseUrl, DbConnection};

/// A scratch table, created and dropped by each measurement.
const TABLE: &str = "portcullis_write_ceiling";

/// Committed single-row UPDATE transactions per second.
pub fn single_row_updates(
    url: &DatabaseUrl,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    let manager = ConnectionManager {
        url: url.clone(),
        transaction_pooling: false,
    };
    let concurrency = concurrency.max(1);
    let mut setup = manager
        .open()
        .context("could not connect to the database")?;
    setup
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS {TABLE}; CREATE TABLE {TABLE} (id INTEGER PRIMARY KEY, n BIGINT NOT NULL)"
        ))
        .context("could not create the scratch table")?;
    for id in 0..concurrency {
        setup.batch_execute(&format!("INSERT INTO {TABLE} (id, n) VALUES ({id}, 0)"))?;
    }
    let connections = (0..concurrency)
        .map(|_| manager.open().context("could not connect to the database"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let sqlite_turns = matches!(url, DatabaseUrl::Sqlite(_)).then(|| Arc::new(Mutex::new(())));
    let stop = AtomicBool::new(false);
    let committed = AtomicU64::new(0);
    let started = Instant::now();
    let outcome = std::thread::scope(|scope| {
        let workers: Vec<_> = connections
            .into_iter()
            .enumerate()
            .map(|(id, mut conn)| {
                let (stop, committed, turns) = (&stop, &committed, sqlite_turns.clone());
                scope.spawn(move || -> anyhow::Result<()> {
                    let id = i64::try_from(id)?;
                    while !stop.load(Ordering::Relaxed) {
                        let _turn = match &turns {
                            Some(turns) => Some(
                                turns
                                    .lock()
                                    .map_err(|_| anyhow::anyhow!("a writer thread panicked"))?,
                            ),
                            None => None,
                        };
                        update_one_row(&mut conn, id)?;
                        committed.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(())
                })
            })
            .collect();
        std::thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
        workers
            .into_iter()
            .map(|worker| {
                worker
                    .join()
                    .map_err(|_| anyhow::anyhow!("a writer thread panicked"))?
            })
            .collect::<anyhow::Result<Vec<()>>>()
    });
    let elapsed = started.elapsed();
    setup.batch_execute(&format!("DROP TABLE IF EXISTS {TABLE}"))?;
    outcome?;
    Ok(committed.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64())
}

/// One transaction of one UPDATE: explicit on SQLite, as the server's writes
/// are; PostgreSQL commits a lone statement by itself (as pgbench does).
fn update_one_row(conn: &mut DbConnection, id: i64) -> QueryResult<()> {
    let update = format!("UPDATE {TABLE} SET n = n + 1 WHERE id = {id}");
    match conn {
        DbConnection::Postgresql(_) => conn.batch_execute(&update),
        DbConnection::Sqlite(_) => conn.transaction(|conn| conn.batch_execute(&update)),
    }
}
