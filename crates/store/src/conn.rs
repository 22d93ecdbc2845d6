//! `Conn`: the connection a closure given to [`crate::Db::read`] or [`crate::Db::write`] works
//! on. It is a sqlx executor like the connection it wraps. Inside the SQLite writer it wraps the
//! writer's own connection ([`crate::direct::Direct`]), which the writer's task steps itself, and
//! the state of the running group commit: its transaction, its id counters, whether it enqueued
//! a job.
//!
//! The writer runs one write after another in one transaction, each in the savepoint `w`: a
//! write that fails is rolled back to its savepoint alone and alone answers with the error.

use std::collections::HashMap;
use std::fmt;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use sqlx::any::{Any, AnyQueryResult, AnyRow, AnyStatement, AnyTypeInfo};
use sqlx::pool::PoolConnection;
use sqlx::{AnyConnection, Describe, Either, Execute, Executor, SqlStr, Transaction};

use crate::Error;
use crate::direct::{Direct, Step};

/// What a closure works on: a pooled connection (reads), a transaction (writes on PostgreSQL)
/// or the SQLite writer's own connection.
pub struct Conn {
    link: Link,
}

enum Link {
    Own(AnyConnection),
    Pooled(PoolConnection<Any>),
    Tx(Transaction<'static, Any>),
    Writer(Box<Writer>),
}

/// The SQLite writer's connection and the state of its group commit.
struct Writer {
    db: Direct,
    /// Whether the batch enqueued a job.
    enqueued: bool,
    /// The last id (or number) handed out per table (or numbering series and day); kept from
    /// batch to batch.
    counters: HashMap<String, i64>,
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("backend", &self.backend_name())
            .field("writer", &matches!(self.link, Link::Writer(_)))
            .finish_non_exhaustive()
    }
}

impl Conn {
    pub(crate) fn pooled(c: PoolConnection<Any>) -> Self {
        Self {
            link: Link::Pooled(c),
        }
    }

    pub(crate) fn tx(t: Transaction<'static, Any>) -> Self {
        Self { link: Link::Tx(t) }
    }

    /// A connection of its own, outside the writer (a backup's).
    pub(crate) fn own(c: AnyConnection) -> Self {
        Self { link: Link::Own(c) }
    }

    /// Closes a connection of its own; a pooled one goes back to its pool.
    pub(crate) async fn close(self) -> Result<(), sqlx::Error> {
        match self.link {
            Link::Own(c) => sqlx::Connection::close(c).await,
            Link::Pooled(_) | Link::Tx(_) | Link::Writer(_) => Ok(()),
        }
    }

    /// The SQLite writer's connection.
    pub(crate) fn writer(db: Direct) -> Self {
        Self {
            link: Link::Writer(Box::new(Writer {
                db,
                enqueued: false,
                counters: HashMap::new(),
            })),
        }
    }

    /// The transaction a PostgreSQL write runs in.
    pub(crate) fn into_tx(self) -> Option<Transaction<'static, Any>> {
        match self.link {
            Link::Tx(t) => Some(t),
            _ => None,
        }
    }

    /// "SQLite" or "PostgreSQL".
    pub fn backend_name(&self) -> &str {
        match &self.link {
            Link::Own(c) => c.backend_name(),
            Link::Pooled(c) => c.backend_name(),
            Link::Tx(t) => t.backend_name(),
            Link::Writer(_) => "SQLite",
        }
    }

    fn writer_state(&mut self) -> Option<&mut Writer> {
        match &mut self.link {
            Link::Writer(w) => Some(w),
            _ => None,
        }
    }

    // ------------------------------------------------------------ the writer's side

    /// Before a write of the batch: begins the batch's transaction if none is open, and the
    /// write's savepoint.
    pub(crate) fn begin_write(&mut self) -> Result<(), Error> {
        let Some(w) = self.writer_state() else {
            return Ok(());
        };
        if !w.db.in_transaction() {
            w.step("BEGIN")?;
        }
        w.step("SAVEPOINT w")
    }

    /// After a write: `ok` keeps its work (releases the savepoint); a failed write is undone.
    pub(crate) fn end_write(&mut self, ok: bool) -> Result<(), Error> {
        let Some(w) = self.writer_state() else {
            return Ok(());
        };
        if !ok {
            w.step("ROLLBACK TO w")?;
        }
        w.step("RELEASE w")
    }

    /// Commits the batch. On `Err` the transaction may still be open: [`Conn::abandon`] rolls
    /// it back.
    pub(crate) fn commit(&mut self) -> Result<(), Error> {
        match self.writer_state() {
            Some(w) if w.db.in_transaction() => {
                w.index_pending()?;
                w.step("COMMIT")
            }
            _ => Ok(()),
        }
    }

    /// After a batch failed: rolls its transaction back (if SQLite has not already) and leaves
    /// the connection ready for the next batch. The id counters stay: an id handed out to a
    /// write that rolled back is not handed out again.
    pub(crate) fn abandon(&mut self) {
        if let Some(w) = self.writer_state() {
            if w.db.in_transaction() {
                // Fails harmlessly when no transaction is open any more.
                let _ = w.db.run("ROLLBACK", None, true);
            }
            w.enqueued = false;
        }
    }

    /// Inside the writer: the counter `key` plus one ([`crate::dialect::sqlite_next_id`]).
    pub(crate) fn count_up(&mut self, key: &str) -> Counted {
        match self.writer_state() {
            None => Counted::NotWriter,
            Some(w) => match w.counters.get_mut(key) {
                Some(last) => {
                    *last += 1;
                    Counted::Next(*last)
                }
                None => Counted::New,
            },
        }
    }

    /// Inside the writer: starts the counter `key` at `next` (read from the database) and
    /// returns it.
    pub(crate) fn start_count(&mut self, key: String, next: i64) -> i64 {
        if let Some(w) = self.writer_state() {
            w.counters.insert(key, next);
        }
        next
    }

    /// Inside the writer: the running batch enqueued a job ([`crate::dialect::notify_jobs`]).
    pub(crate) fn mark_enqueued(&mut self) {
        if let Some(w) = self.writer_state() {
            w.enqueued = true;
        }
    }

    /// Whether the batch just finished enqueued a job; clears the mark.
    pub(crate) fn take_enqueued(&mut self) -> bool {
        self.writer_state()
            .is_some_and(|w| std::mem::take(&mut w.enqueued))
    }
}

/// What [`Conn::count_up`] found.
pub(crate) enum Counted {
    /// Not the SQLite writer: the database hands out ids.
    NotWriter,
    Next(i64),
    /// The counter is not known yet: read it, then [`Conn::start_count`].
    New,
}

impl Writer {
    /// Runs a step of the batch's transaction; if it fails, the batch cannot commit (the
    /// writer stops the batch there and abandons it).
    fn step(&mut self, sql: &'static str) -> Result<(), Error> {
        self.step_rows(sql).map(drop)
    }

    /// [`Writer::step`], with the rows the step read.
    fn step_rows(&mut self, sql: &'static str) -> Result<Vec<Step>, Error> {
        self.db
            .run(sql, None, true)
            .map_err(|e| Error::Corrupt(format!("group commit: {e}")))
    }

    /// Before the commit, outside every write's savepoint: the full-text index takes in the
    /// search documents the batch changed, in one go (see [`crate::search::SQLITE_INDEX_PENDING`]).
    fn index_pending(&mut self) -> Result<(), Error> {
        let any = self
            .step_rows(crate::search::SQLITE_ANY_PENDING)?
            .into_iter()
            .any(|s| matches!(s, Either::Right(_)));
        if any {
            for sql in crate::search::SQLITE_INDEX_PENDING {
                self.step(sql)?;
            }
        }
        Ok(())
    }
}

/// Runs `query` on the writer's connection, here and now.
fn run_direct<'q, E>(db: &mut Direct, mut query: E) -> Result<Vec<Step>, sqlx::Error>
where
    E: 'q + Execute<'q, Any>,
{
    let persistent = query.persistent();
    let args = query.take_arguments().map_err(sqlx::Error::Encode)?;
    let sql = query.sql();
    db.run(sql.as_str(), args, persistent)
}

impl<'c> Executor<'c> for &'c mut Conn {
    type Database = Any;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<AnyQueryResult, AnyRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        match &mut self.link {
            Link::Own(c) => c.fetch_many(query),
            Link::Pooled(c) => c.fetch_many(query),
            Link::Tx(t) => t.fetch_many(query),
            Link::Writer(w) => {
                let results: Vec<Result<Step, sqlx::Error>> = match run_direct(&mut w.db, query) {
                    Ok(steps) => steps.into_iter().map(Ok).collect(),
                    Err(e) => vec![Err(e)],
                };
                futures::stream::iter(results).boxed()
            }
        }
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<AnyRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        match &mut self.link {
            Link::Own(c) => c.fetch_optional(query),
            Link::Pooled(c) => c.fetch_optional(query),
            Link::Tx(t) => t.fetch_optional(query),
            Link::Writer(w) => {
                let first = run_direct(&mut w.db, query).map(|steps| {
                    steps.into_iter().find_map(|s| match s {
                        Either::Right(row) => Some(row),
                        Either::Left(_) => None,
                    })
                });
                futures::future::ready(first).boxed()
            }
        }
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [AnyTypeInfo],
    ) -> BoxFuture<'e, Result<AnyStatement, sqlx::Error>>
    where
        'c: 'e,
    {
        match &mut self.link {
            Link::Own(c) => c.prepare_with(sql, parameters),
            Link::Pooled(c) => c.prepare_with(sql, parameters),
            Link::Tx(t) => t.prepare_with(sql, parameters),
            Link::Writer(_) => futures::future::ready(Err(unsupported("prepare"))).boxed(),
        }
    }

    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<Describe<Any>, sqlx::Error>>
    where
        'c: 'e,
    {
        match &mut self.link {
            Link::Own(c) => c.describe(sql),
            Link::Pooled(c) => c.describe(sql),
            Link::Tx(t) => t.describe(sql),
            Link::Writer(_) => futures::future::ready(Err(unsupported("describe"))).boxed(),
        }
    }
}

/// The writer prepares and keeps its statements itself; sqlx's statement handles are not its.
fn unsupported(what: &str) -> sqlx::Error {
    sqlx::Error::Protocol(format!(
        "{what} is not offered on the SQLite writer's connection"
    ))
}
