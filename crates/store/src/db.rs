//! `Db`: reads on a pool, writes in transactions. On SQLite every write goes to one writer task,
//! on a thread of its own, that owns the only writing connection (stepped by the task itself,
//! see [`crate::direct`]): it runs each caller's closure in its own savepoint, commits the whole
//! batch that gathered while the previous commit was flushing, and answers the callers only after
//! that commit is durable (synchronous=FULL). One fsync thus serves many requests, and a closure
//! that fails rolls back its savepoint alone. On PostgreSQL a write is a plain pool transaction:
//! the server group-commits concurrent transactions itself.

use std::fs::File;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, ConnectOptions, Connection, Executor};
use tokio::sync::{mpsc, oneshot};

use crate::Error;

pub use crate::conn::Conn;
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// How to open the database.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// `sqlite://path` or `postgres://…`.
    pub url: String,
    /// Take the writer lock and start the writer (SQLite). A read-only open (backup) skips it.
    pub writable: bool,
    /// Apply pending migrations on open.
    pub migrate: bool,
    pub max_connections: u32,
}

impl OpenOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            writable: true,
            migrate: true,
            max_connections: 8,
        }
    }

    /// The URL of the embedded database inside a data directory.
    pub fn sqlite_in(data_dir: &Path) -> Self {
        Self::new(format!("sqlite://{}", data_dir.join("kefu.db").display()))
    }
}

type Job = Box<dyn for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, Completion> + Send>;
/// What a job leaves behind: whether its savepoint may be released, and how to answer its caller
/// once the batch's fate (committed, or the commit's error) is known.
type Completion = (bool, Finish);
/// Answers one caller with the batch's outcome: None when committed, else the commit's error.
type Finish = Box<dyn FnOnce(Option<Arc<Error>>) + Send>;

#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    read: AnyPool,
    /// PostgreSQL: the pool writes go through. SQLite: None (the writer task owns its connection).
    write_pool: Option<AnyPool>,
    writer: Option<mpsc::UnboundedSender<Job>>,
    _lock: Option<File>,
    sqlite_path: Option<PathBuf>,
    /// Wakes job runners when work is enqueued (see `dialect::JobSignal`).
    jobs: crate::dialect::JobSignal,
    /// Live updates for open pages (see `dialect::LiveBus`).
    live: crate::dialect::LiveBus,
}

/// The writer's settings.
const WRITER_PRAGMAS: &[&str] = &[
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA busy_timeout=5000",
    "PRAGMA foreign_keys=ON",
    // 64 MiB of page cache for the one writer (the default is 2 MiB): a batch of commits
    // touches index pages all over a large database.
    "PRAGMA cache_size=-65536",
    // Each write of a group commit runs in its own savepoint; SQLite keeps the pages a
    // savepoint may have to roll back in a sub-journal, by default a temporary file: one pwrite
    // per page first touched in each savepoint. In memory they cost a copy. Durability is the
    // WAL's, not the sub-journal's.
    "PRAGMA temp_store=MEMORY",
];

static MIGRATOR_SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static MIGRATOR_POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Db {
    pub async fn open(opts: &OpenOptions) -> Result<Self, Error> {
        sqlx::any::install_default_drivers();
        if opts.url.starts_with("postgres:") || opts.url.starts_with("postgresql:") {
            Self::open_postgres(opts).await
        } else {
            Self::open_sqlite(opts).await
        }
    }

    async fn open_postgres(opts: &OpenOptions) -> Result<Self, Error> {
        let pool = AnyPoolOptions::new()
            .max_connections(opts.max_connections.max(2))
            .acquire_timeout(Duration::from_secs(10))
            .connect(&opts.url)
            .await?;
        if opts.migrate {
            MIGRATOR_POSTGRES.run(&pool).await?;
        }
        Ok(Self {
            inner: Arc::new(Inner {
                backend: Backend::Postgres,
                read: pool.clone(),
                write_pool: Some(pool),
                writer: None,
                _lock: None,
                sqlite_path: None,
                jobs: crate::dialect::JobSignal::new(Some(opts.url.clone())),
                live: crate::dialect::LiveBus::new(Some(opts.url.clone())),
            }),
        })
    }

    async fn open_sqlite(opts: &OpenOptions) -> Result<Self, Error> {
        let path = PathBuf::from(
            opts.url
                .trim_start_matches("sqlite://")
                .trim_start_matches("sqlite:"),
        );
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut lock = None;
        let mut writer = None;
        let jobs = crate::dialect::JobSignal::new(None);
        if opts.writable {
            let lock_path = path.with_extension("db.lock");
            let file = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)?;
            if file.try_lock().is_err() {
                return Err(Error::Locked(lock_path.display().to_string()));
            }
            lock = Some(file);
            let url = format!("sqlite://{}?mode=rwc", path.display());
            let mut conn: AnyConnection = AnyConnectOptions::from_url(
                &url.parse().map_err(|e| Error::Corrupt(format!("{e}")))?,
            )?
            .connect()
            .await?;
            for &pragma in WRITER_PRAGMAS {
                conn.execute(pragma).await?;
            }
            if opts.migrate {
                MIGRATOR_SQLITE.run(&mut conn).await?;
            }
            // sqlx's connection was for the migrations; the writer steps its own.
            conn.close().await?;
            let direct = crate::direct::Direct::open(&path, WRITER_PRAGMAS)?;
            let (tx, rx) = mpsc::unbounded_channel();
            // The writer steps SQLite itself, fsync included: on a thread of its own, so that
            // it never holds up the runtime's workers. Its task runs on a runtime of that
            // thread; it ends when the last sender (the last `Db` clone) is gone.
            let signal = jobs.sender();
            std::thread::Builder::new()
                .name("kefu-writer".into())
                .spawn(move || {
                    match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(rt) => rt.block_on(writer_task(Conn::writer(direct), rx, signal)),
                        Err(e) => tracing::error!(error = %e, "the writer's runtime did not start"),
                    }
                })?;
            writer = Some(tx);
        }
        let read = AnyPoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    for pragma in [
                        "PRAGMA busy_timeout=5000",
                        "PRAGMA foreign_keys=ON",
                        "PRAGMA query_only=1",
                        // Sorts and window results (search ranks its candidates) stay in
                        // memory instead of temporary files.
                        "PRAGMA temp_store=MEMORY",
                    ] {
                        conn.execute(pragma).await?;
                    }
                    Ok(())
                })
            })
            .connect(&format!("sqlite://{}?mode=ro", path.display()))
            .await?;
        Ok(Self {
            inner: Arc::new(Inner {
                backend: Backend::Sqlite,
                read,
                write_pool: None,
                writer,
                _lock: lock,
                sqlite_path: Some(path),
                jobs,
                live: crate::dialect::LiveBus::new(None),
            }),
        })
    }

    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// What wakes job runners when work is enqueued.
    pub fn job_signal(&self) -> &crate::dialect::JobSignal {
        &self.inner.jobs
    }

    /// Live updates for open pages, across nodes.
    pub fn live(&self) -> &crate::dialect::LiveBus {
        &self.inner.live
    }

    /// Publishes a live update (after the change it reports has committed).
    pub async fn publish_live(&self, message: &str) -> Result<(), Error> {
        if self.inner.backend == Backend::Postgres {
            let pool = self.inner.write_pool.as_ref().unwrap_or(&self.inner.read);
            let conn = pool.acquire().await?;
            crate::dialect::LiveBus::notify(&mut Conn::pooled(conn), message).await
        } else {
            self.inner.live.send_local(message);
            Ok(())
        }
    }

    /// The SQLite file, for backups.
    pub fn sqlite_path(&self) -> Option<&Path> {
        self.inner.sqlite_path.as_deref()
    }

    /// Runs `f` on a read-only connection.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, Result<T, E>> + Send,
        E: From<Error>,
    {
        let conn = self
            .inner
            .read
            .acquire()
            .await
            .map_err(|e| E::from(e.into()))?;
        f(&mut Conn::pooled(conn)).await
    }

    /// Runs `f` in a transaction and returns once its effect is durable. An `Err` from `f` rolls
    /// back everything `f` did and nothing else.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: From<Error> + Send + 'static,
    {
        if let Some(pool) = &self.inner.write_pool {
            let tx = pool.begin().await.map_err(|e| E::from(e.into()))?;
            let mut conn = Conn::tx(tx);
            let out = f(&mut conn).await;
            let tx = conn
                .into_tx()
                .ok_or_else(|| E::from(Error::Corrupt("a write lost its transaction".into())))?;
            if out.is_ok() {
                tx.commit().await.map_err(|e| E::from(e.into()))?;
            } else {
                tx.rollback().await.map_err(|e| E::from(e.into()))?;
            }
            return out;
        }
        let writer = self
            .inner
            .writer
            .as_ref()
            .ok_or_else(|| E::from(Error::WriterGone))?;
        let (answer, reply) = oneshot::channel::<Result<T, E>>();
        let job: Job = Box::new(move |conn| {
            Box::pin(async move {
                let out = AssertUnwindSafe(f(conn)).catch_unwind().await;
                let out =
                    out.unwrap_or_else(|_| Err(E::from(Error::Corrupt("a write panicked".into()))));
                let ok = out.is_ok();
                let done: Box<dyn FnOnce(Option<Arc<Error>>) + Send> =
                    Box::new(move |commit_error| {
                        let result = match (out, commit_error) {
                            (Ok(_), Some(e)) => Err(E::from(clone_error(&e))),
                            (out, _) => out,
                        };
                        let _ = answer.send(result);
                    });
                (ok, done)
            })
        });
        writer.send(job).map_err(|_| E::from(Error::WriterGone))?;
        reply.await.map_err(|_| E::from(Error::WriterGone))?
    }

    /// Closes the pools; on SQLite the writer finishes its queue first.
    pub async fn close(self) {
        self.inner.jobs.stop();
        self.inner.live.stop();
        self.inner.read.close().await;
        if let Some(p) = &self.inner.write_pool {
            p.close().await;
        }
    }
}

/// Takes the exclusive lock that makes one process the only writer of a SQLite database. The
/// lock lives as long as the returned file.
pub fn lock_database(db_path: &Path) -> Result<File, Error> {
    let lock_path = db_path.with_extension("db.lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)?;
    if file.try_lock().is_err() {
        return Err(Error::Locked(lock_path.display().to_string()));
    }
    Ok(file)
}

/// Writes a consistent copy of a SQLite database to `dest` while writers may go on.
pub async fn sqlite_snapshot(db_path: &Path, dest: &Path) -> Result<(), Error> {
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}?mode=ro", db_path.display());
    let mut conn =
        AnyConnectOptions::from_url(&url.parse().map_err(|e| Error::Corrupt(format!("{e}")))?)?
            .connect()
            .await?;
    conn.execute("PRAGMA busy_timeout=5000").await?;
    let mut conn = Conn::own(conn);
    crate::dialect::vacuum_into(&mut conn, Backend::Sqlite, &dest.display().to_string()).await?;
    conn.close().await?;
    Ok(())
}

/// Checks a SQLite file is a sound database (`PRAGMA integrity_check`).
pub async fn sqlite_check(db_path: &Path) -> Result<(), Error> {
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}?mode=ro", db_path.display());
    let mut conn =
        AnyConnectOptions::from_url(&url.parse().map_err(|e| Error::Corrupt(format!("{e}")))?)?
            .connect()
            .await?;
    let (verdict,): (String,) = sqlx::query_as("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await?;
    conn.close().await?;
    if verdict == "ok" {
        Ok(())
    } else {
        Err(Error::Corrupt(verdict))
    }
}

/// The largest batch one commit carries; beyond it, latency of the first caller would suffer.
const MAX_BATCH: usize = 512;

async fn writer_task(
    mut conn: Conn,
    mut rx: mpsc::UnboundedReceiver<Job>,
    jobs: Arc<tokio::sync::watch::Sender<u64>>,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    loop {
        match rx.recv().await {
            Some(job) => batch.push(job),
            None => return,
        }
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let size = batch.len();
        let mut done = Vec::with_capacity(size);
        let result = run_batch(&mut conn, &mut batch, &mut done).await;
        let error = result.err().map(Arc::new);
        if error.is_some() {
            tracing::error!(error = ?error, "group commit failed; every write in the batch is refused");
            conn.abandon();
        }
        if conn.take_enqueued() && error.is_none() {
            crate::dialect::wake(&jobs);
        }
        for finish in done {
            finish(error.clone());
        }
        metrics::histogram!("kefu_group_commit_batch_size")
            .record(f64::from(u32::try_from(size).unwrap_or(u32::MAX)));
    }
}

/// Runs a batch of writes as one transaction, each in the savepoint `w`. A write whose closure
/// fails is rolled back alone and answered with its error; an `Err` here (a step of the
/// transaction failed) refuses the whole batch.
async fn run_batch(
    conn: &mut Conn,
    batch: &mut Vec<Job>,
    done: &mut Vec<Finish>,
) -> Result<(), Error> {
    for job in batch.drain(..) {
        conn.begin_write()?;
        let (ok, finish) = job(conn).await;
        done.push(finish);
        conn.end_write(ok)?;
    }
    conn.commit()
}

fn clone_error(e: &Error) -> Error {
    match e {
        Error::NotFound => Error::NotFound,
        Error::VersionConflict => Error::VersionConflict,
        Error::Duplicate(s) => Error::Duplicate(s.clone()),
        Error::WriterGone => Error::WriterGone,
        other => Error::Corrupt(format!("commit failed: {other}")),
    }
}

/// A digest of the migrations this binary carries, so that test templates are rebuilt when the
/// schema changes.
pub fn schema_fingerprint() -> String {
    // FNV-1a over every migration's version and checksum: short and stable; this names a
    // template database, it guards nothing.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for m in MIGRATOR_POSTGRES.iter().chain(MIGRATOR_SQLITE.iter()) {
        for b in m.version.to_le_bytes().iter().chain(m.checksum.iter()) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// Applies the migrations up to and including `version` on a bare connection — how the upgrade
/// test recreates the schema an older release left behind.
pub async fn migrate_until(
    conn: &mut AnyConnection,
    backend: Backend,
    version: i64,
) -> Result<(), Error> {
    let all = match backend {
        Backend::Sqlite => &MIGRATOR_SQLITE,
        Backend::Postgres => &MIGRATOR_POSTGRES,
    };
    let migrations: Vec<_> = all
        .iter()
        .filter(|m| m.version <= version)
        .cloned()
        .collect();
    let older = sqlx::migrate::Migrator {
        migrations: std::borrow::Cow::Owned(migrations),
        ..sqlx::migrate::Migrator::DEFAULT
    };
    older.run(conn).await?;
    Ok(())
}

/// The newest migration version of this binary.
pub fn latest_migration() -> i64 {
    MIGRATOR_SQLITE.iter().map(|m| m.version).max().unwrap_or(0)
}
