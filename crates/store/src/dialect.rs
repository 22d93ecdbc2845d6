//! The few statements that differ between SQLite and PostgreSQL, side by side: backups, the
//! job queue's claim, and how job runners are woken (LISTEN/NOTIFY or an in-process signal).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::conn::Counted;
use crate::{Backend, Conn, Error};

/// Writes a consistent copy of the SQLite database to `dest` (a new file) without stopping
/// writers. PostgreSQL has its own tools for this (`pg_dump`, base backups).
pub async fn vacuum_into(c: &mut Conn, backend: Backend, dest: &str) -> Result<(), Error> {
    match backend {
        Backend::Sqlite => {
            sqlx::query("VACUUM INTO $1")
                .bind(dest)
                .execute(&mut *c)
                .await?;
            Ok(())
        }
        Backend::Postgres => Err(Error::Corrupt("use pg_dump to back up PostgreSQL".into())),
    }
}

/// Whether the schema is at the newest migration this binary knows (for /readyz).
pub async fn migrated(c: &mut Conn, expected: i64) -> Result<bool, Error> {
    let (v,): (Option<i64>,) =
        sqlx::query_as("SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE")
            .fetch_one(&mut *c)
            .await?;
    Ok(v.unwrap_or(0) >= expected)
}

// ---------------------------------------------------------------------------------------------
// The job queue: claiming and waking.

/// The PostgreSQL channel that `enqueue` notifies and runners listen on.
pub const JOBS_CHANNEL: &str = "kefu_jobs";

/// What a claim hands back about each job.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ClaimedRow {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub lease_until: i64,
}

/// Takes up to `limit` due jobs for `owner` until `lease_until`: pending jobs whose `run_at` has
/// come, and running jobs whose lease has ended (their worker died). While a job runs, `run_at`
/// is its lease's end, so one condition covers both.
///
/// PostgreSQL: several processes claim at once; `FOR UPDATE SKIP LOCKED` makes each take rows
/// no other claim holds, and a row another claim just committed is re-checked against the
/// condition, so no job is handed out twice. SQLite: the one writer task runs claims one after
/// another, so the plain statement is already exclusive.
pub(crate) async fn claim_jobs(
    c: &mut Conn,
    backend: Backend,
    owner: &str,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> Result<Vec<ClaimedRow>, Error> {
    let sql = match backend {
        Backend::Postgres => {
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = $1, lease_until = $2, run_at = $2, updated_at = $3
             WHERE id IN (SELECT id FROM jobs WHERE state IN ('pending', 'running') AND run_at <= $3
                          ORDER BY run_at, id LIMIT $4 FOR UPDATE SKIP LOCKED)
             RETURNING id, kind, payload, attempts, max_attempts, lease_until"
        }
        Backend::Sqlite => {
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = $1, lease_until = $2, run_at = $2, updated_at = $3
             WHERE id IN (SELECT id FROM jobs WHERE state IN ('pending', 'running') AND run_at <= $3
                          ORDER BY run_at, id LIMIT $4)
             RETURNING id, kind, payload, attempts, max_attempts, lease_until"
        }
    };
    let mut rows: Vec<ClaimedRow> = sqlx::query_as(sql)
        .bind(owner)
        .bind(lease_until)
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *c)
        .await?;
    rows.sort_by_key(|r| r.id);
    Ok(rows)
}

/// Tells job runners that work was enqueued, once the surrounding transaction commits.
/// PostgreSQL: `NOTIFY`, which the server delivers to every listening process at commit (and
/// drops on rollback). SQLite: a mark on the writer's connection, read after its commit, to wake
/// the runners of this process (the only process that writes).
pub async fn notify_jobs(c: &mut Conn) -> Result<(), Error> {
    if c.backend_name() == "PostgreSQL" {
        sqlx::raw_sql("NOTIFY kefu_jobs").execute(&mut *c).await?;
    } else {
        c.mark_enqueued();
    }
    Ok(())
}

/// Inside the SQLite writer: the next id of `table` (a literal of this crate whose key is
/// `id INTEGER PRIMARY KEY`), so that its row is written with its id instead of reading the id
/// back. The writer holds the database's lock and is the only connection that writes, so the
/// largest id, read once, then counted up on its connection ([`Conn::count_up`]), is the next
/// free one — provided every INSERT into `table` takes its id from here. An id whose write rolls
/// back is not handed out again (a gap, as a PostgreSQL sequence leaves). `None` outside the
/// writer (PostgreSQL, where sequences hand out ids).
pub(crate) async fn sqlite_next_id(
    c: &mut Conn,
    table: &'static str,
) -> Result<Option<i64>, Error> {
    // `table` is a literal of this crate.
    let read = || format!("SELECT COALESCE(MAX(id), 0) FROM {table}");
    sqlite_count_up(c, table, read, &[]).await
}

/// Inside the SQLite writer: the next value of the day's counter of a numbering `series`
/// (`number_counters`), counted like [`sqlite_next_id`]; the caller stores it back with its
/// write. `None` outside the writer.
pub(crate) async fn sqlite_next_count(
    c: &mut Conn,
    series: &str,
    day: &str,
) -> Result<Option<i64>, Error> {
    let read = || {
        "SELECT COALESCE(MAX(last), 0) FROM number_counters WHERE series = $1 AND day = $2".into()
    };
    let key = format!("number_counters/{series}/{day}");
    sqlite_count_up(c, &key, read, &[series, day]).await
}

/// The writer's counter `key` plus one; the first time, the counter starts from what the
/// statement `read` returns (built only then, from literals of this crate; bound to `binds`)
/// finds in the database. `None` outside the writer.
async fn sqlite_count_up(
    c: &mut Conn,
    key: &str,
    read: impl FnOnce() -> String,
    binds: &[&str],
) -> Result<Option<i64>, Error> {
    match c.count_up(key) {
        Counted::NotWriter => Ok(None),
        Counted::Next(n) => Ok(Some(n)),
        Counted::New => {
            let mut query = sqlx::query_as::<_, (i64,)>(sqlx::AssertSqlSafe(read()));
            for b in binds {
                query = query.bind(*b);
            }
            let (last,) = query.fetch_one(&mut *c).await?;
            Ok(Some(c.start_count(key.to_string(), last + 1)))
        }
    }
}

/// Wakes this process's job runners: a counter they watch. On PostgreSQL a task holding a
/// native `PgListener` on `kefu_jobs` bumps it for every notification (from any process); it is
/// started by the first `subscribe` and stopped with the `Db`. On SQLite the writer task bumps
/// it after committing a batch that enqueued work.
pub struct JobSignal {
    tx: Arc<watch::Sender<u64>>,
    pg_url: Option<String>,
    listener: Mutex<Option<AbortHandle>>,
}

impl JobSignal {
    pub(crate) fn new(pg_url: Option<String>) -> Self {
        Self {
            tx: Arc::new(watch::channel(0).0),
            pg_url,
            listener: Mutex::new(None),
        }
    }

    /// A receiver whose `changed()` resolves when jobs may have become due.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        if let Some(url) = &self.pg_url {
            let mut listener = self
                .listener
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if listener.is_none() {
                let task = tokio::spawn(pg_listen(url.clone(), self.tx.clone()));
                *listener = Some(task.abort_handle());
            }
        }
        self.tx.subscribe()
    }

    /// Wakes every subscriber.
    pub fn wake(&self) {
        wake(&self.tx);
    }

    pub(crate) fn sender(&self) -> Arc<watch::Sender<u64>> {
        self.tx.clone()
    }

    pub(crate) fn stop(&self) {
        if let Some(task) = self
            .listener
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }
}

impl Drop for JobSignal {
    fn drop(&mut self) {
        self.stop();
    }
}

pub(crate) fn wake(tx: &watch::Sender<u64>) {
    tx.send_modify(|n| *n = n.wrapping_add(1));
}

async fn pg_listen(url: String, tx: Arc<watch::Sender<u64>>) {
    loop {
        match sqlx::postgres::PgListener::connect(&url).await {
            Ok(mut listener) => match listener.listen(JOBS_CHANNEL).await {
                Ok(()) => {
                    // Whatever was enqueued while nobody listened went unheard: look now.
                    wake(&tx);
                    loop {
                        match listener.try_recv().await {
                            // None: the connection was lost and made again; notifications
                            // sent in between are gone, so look as if one came.
                            Ok(_) => wake(&tx),
                            Err(e) => {
                                tracing::warn!(error = %e, "job listener lost PostgreSQL; polling until it reconnects");
                                break;
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "LISTEN kefu_jobs failed"),
            },
            Err(e) => tracing::warn!(error = %e, "job listener cannot connect"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Live updates (screen-pop, queues): fanned out to every node.

/// The PostgreSQL channel live updates travel on.
pub const LIVE_CHANNEL: &str = "kefu_live";

/// Live updates for the pages open in this process: an in-process broadcast of short JSON
/// texts. On SQLite (one process) `publish` sends straight into it. On PostgreSQL `publish` is a
/// `NOTIFY kefu_live` and a task holding a native `PgListener` feeds every notification — from
/// any node — into the broadcast; it is started by the first `subscribe` and stopped with the
/// `Db`. Updates are for people looking at a page: one missed while a node reconnects is gone.
pub struct LiveBus {
    tx: tokio::sync::broadcast::Sender<Arc<str>>,
    pg_url: Option<String>,
    listener: Mutex<Option<AbortHandle>>,
    /// Whether the listener is listening (PostgreSQL).
    ready: Arc<watch::Sender<bool>>,
}

impl LiveBus {
    pub(crate) fn new(pg_url: Option<String>) -> Self {
        Self {
            tx: tokio::sync::broadcast::channel(1024).0,
            pg_url,
            listener: Mutex::new(None),
            ready: Arc::new(watch::channel(false).0),
        }
    }

    /// A receiver of every update published from now on (on PostgreSQL, once this returns, the
    /// listener is listening — or it gave up waiting after 5 s and catches up when it is).
    pub async fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<str>> {
        let rx = self.tx.subscribe();
        if let Some(url) = &self.pg_url {
            {
                let mut listener = self
                    .listener
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if listener.is_none() {
                    let task = tokio::spawn(pg_listen_live(
                        url.clone(),
                        self.tx.clone(),
                        self.ready.clone(),
                    ));
                    *listener = Some(task.abort_handle());
                }
            }
            let mut ready = self.ready.subscribe();
            let _ = tokio::time::timeout(Duration::from_secs(5), ready.wait_for(|r| *r)).await;
        }
        rx
    }

    /// PostgreSQL: `NOTIFY kefu_live` with `message`, which the server delivers to every
    /// node's listener (this one's too).
    pub(crate) async fn notify(c: &mut Conn, message: &str) -> Result<(), Error> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(LIVE_CHANNEL)
            .bind(message)
            .execute(&mut *c)
            .await?;
        Ok(())
    }

    /// SQLite: straight to this process's subscribers (no subscriber: nobody is looking).
    pub(crate) fn send_local(&self, message: &str) {
        let _ = self.tx.send(Arc::from(message));
    }

    pub(crate) fn stop(&self) {
        if let Some(task) = self
            .listener
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }
}

impl Drop for LiveBus {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn pg_listen_live(
    url: String,
    tx: tokio::sync::broadcast::Sender<Arc<str>>,
    ready: Arc<watch::Sender<bool>>,
) {
    loop {
        match sqlx::postgres::PgListener::connect(&url).await {
            Ok(mut listener) => match listener.listen(LIVE_CHANNEL).await {
                Ok(()) => {
                    ready.send_replace(true);
                    loop {
                        match listener.try_recv().await {
                            Ok(Some(n)) => {
                                let _ = tx.send(Arc::from(n.payload()));
                            }
                            // The connection was lost and made again; what was sent in between
                            // is gone (updates are for pages being looked at).
                            Ok(None) => {}
                            Err(e) => {
                                tracing::warn!(error = %e, "live listener lost PostgreSQL; reconnecting");
                                break;
                            }
                        }
                    }
                    ready.send_replace(false);
                }
                Err(e) => tracing::warn!(error = %e, "LISTEN kefu_live failed"),
            },
            Err(e) => tracing::warn!(error = %e, "live listener cannot connect"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
