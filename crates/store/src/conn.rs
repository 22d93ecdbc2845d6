//! `Conn`: the connection a closure given to [`crate::Db::read`] or [`crate::Db::write`] works
//! on. It is a sqlx executor like the connection it wraps; inside the SQLite writer it also
//! carries what the writes of the running group commit deferred ([`crate::sql::Batch::defer`]).
//!
//! The writer runs one write after another on its connection, each in the savepoint `w`. A
//! write's deferred statements (nobody in the write reads them) do not have to run before the
//! next write starts — only before anything else runs on the connection. So the writer keeps the
//! finished writes' deferred statements as *segments* and sends them together: when a later
//! write runs a statement of its own (the statement waits until they ran, so it sees their
//! effect), or when the group commits. A segment ends with `RELEASE w; SAVEPOINT w`, so a write
//! that fails is rolled back alone and alone answers with the error. Writes that ran no statement
//! of their own are nothing but their segment: a chunk of them shares one savepoint, and when
//! one of them fails the others are sent again.
//!
//! Sending the statements of many writes as one multi-statement query is what saves the time:
//! each query is a round trip to sqlx's connection thread and back, which costs more than the
//! SQL of a small write. But sqlx prepares each distinct SQL text once and keeps it, so the
//! texts must repeat: segments are sent in runs of the same statements (the same kind of write),
//! cut into chunks of 16, 8, 4, 2 or 1 — a handful of texts per kind of write.

use std::collections::{HashMap, VecDeque};
use std::fmt;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt, TryFutureExt};
use sqlx::any::{Any, AnyArguments, AnyQueryResult, AnyRow, AnyStatement, AnyTypeInfo};
use sqlx::pool::PoolConnection;
use sqlx::{
    AnyConnection, AssertSqlSafe, Describe, Either, Execute, Executor, SqlStr, Transaction,
};

use crate::Error;
use crate::sql::{Batch, Joined};

/// What a closure works on: a pooled connection (reads), a transaction (writes on PostgreSQL)
/// or the SQLite writer's own connection.
pub struct Conn {
    link: Link,
    deferral: Option<Deferral>,
}

enum Link {
    Own(AnyConnection),
    Pooled(PoolConnection<Any>),
    Tx(Transaction<'static, Any>),
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("backend", &self.backend_name())
            .field("writer", &self.deferral.is_some())
            .finish_non_exhaustive()
    }
}

impl Conn {
    pub(crate) fn pooled(c: PoolConnection<Any>) -> Self {
        Self {
            link: Link::Pooled(c),
            deferral: None,
        }
    }

    pub(crate) fn tx(t: Transaction<'static, Any>) -> Self {
        Self {
            link: Link::Tx(t),
            deferral: None,
        }
    }

    /// A connection of its own, outside the writer (a backup's).
    pub(crate) fn own(c: AnyConnection) -> Self {
        Self {
            link: Link::Own(c),
            deferral: None,
        }
    }

    /// Closes a connection of its own; a pooled one goes back to its pool.
    pub(crate) async fn close(self) -> Result<(), sqlx::Error> {
        match self.link {
            Link::Own(c) => sqlx::Connection::close(c).await,
            Link::Pooled(_) | Link::Tx(_) => Ok(()),
        }
    }

    /// The SQLite writer's connection: deferred statements wait for the group commit.
    pub(crate) fn writer(c: AnyConnection) -> Self {
        Self {
            link: Link::Own(c),
            deferral: Some(Deferral::default()),
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
        }
    }

    fn link(&mut self) -> &mut AnyConnection {
        match &mut self.link {
            Link::Own(c) => c,
            Link::Pooled(c) => c,
            Link::Tx(t) => t,
        }
    }

    /// Keeps `batch` for the end of the running write if this is the SQLite writer; gives it
    /// back otherwise.
    pub(crate) fn defer(&mut self, batch: Batch) -> Option<Batch> {
        match &mut self.deferral {
            Some(d) => {
                d.current.append(batch);
                None
            }
            None => Some(batch),
        }
    }

    /// Before a statement of the running write: marks the write as having run something, and
    /// says whether earlier writes' segments (or the batch's `BEGIN`) must run first.
    fn before_statement(&mut self) -> bool {
        match &mut self.deferral {
            Some(d) => {
                d.touched = true;
                !d.begun || !d.pending.is_empty()
            }
            None => false,
        }
    }

    /// The writer's connection and what its batch deferred; `None` outside the SQLite writer.
    fn writer_parts(&mut self) -> Option<(&mut AnyConnection, &mut Deferral)> {
        match (&mut self.link, &mut self.deferral) {
            (Link::Own(c), Some(d)) => Some((c, d)),
            _ => None,
        }
    }

    /// Runs what earlier writes of the batch left waiting.
    async fn catch_up(&mut self) -> Result<(), sqlx::Error> {
        match self.writer_parts() {
            Some((c, d)) => d.flush(c, false).await,
            None => Ok(()),
        }
    }

    // ------------------------------------------------------------ the writer's side

    /// The running write ended: `ok` keeps its deferred statements as a segment; a failed write
    /// is undone (its savepoint, if it ran anything) and its deferred statements dropped.
    pub(crate) async fn end_write(&mut self, index: usize, ok: bool) -> Result<(), Error> {
        let Some((c, d)) = self.writer_parts() else {
            return Ok(());
        };
        let statements = std::mem::take(&mut d.current);
        let touched = std::mem::take(&mut d.touched);
        if ok {
            if touched || !statements.is_empty() {
                d.pending.push(Segment {
                    write: index,
                    touched,
                    statements,
                });
            }
            return Ok(());
        }
        if touched {
            // It ran statements after the batch caught up: the savepoint holds its work only.
            d.step(c, UNDO).await?;
        }
        Ok(())
    }

    /// Runs every waiting segment and commits the batch. The writes whose segment failed (rolled
    /// back alone) come back with their error; an `Err` means the batch as a whole failed.
    pub(crate) async fn commit(&mut self) -> Result<Vec<(usize, Error)>, Error> {
        let Some((c, d)) = self.writer_parts() else {
            return Ok(Vec::new());
        };
        let out = d.flush(c, true).await;
        let failed = std::mem::take(&mut d.failed);
        match (out, d.broken.take()) {
            // The transaction may still be open: `abandon` rolls it back.
            (_, Some(e)) => Err(e),
            (Err(e), None) => Err(e.into()),
            (Ok(()), None) => {
                d.begun = false;
                Ok(failed)
            }
        }
    }

    /// After a batch failed: rolls its transaction back (if SQLite has not already), forgets
    /// what it deferred, and leaves the connection ready for the next batch.
    pub(crate) async fn abandon(&mut self) {
        if let Some((c, d)) = self.writer_parts() {
            if d.begun {
                // Fails harmlessly when no transaction is open any more.
                let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *c).await;
            }
            let counters = std::mem::take(&mut d.counters);
            *d = Deferral {
                counters,
                ..Deferral::default()
            };
        }
    }

    /// Inside the writer: the counter `key` plus one ([`crate::dialect::sqlite_next_id`]).
    pub(crate) fn count_up(&mut self, key: &str) -> Counted {
        match &mut self.deferral {
            None => Counted::NotWriter,
            Some(d) => match d.counters.get_mut(key) {
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
        if let Some(d) = &mut self.deferral {
            d.counters.insert(key, next);
        }
        next
    }

    /// Inside the writer: the running batch enqueued a job ([`crate::dialect::notify_jobs`]).
    pub(crate) fn mark_enqueued(&mut self) {
        if let Some(d) = &mut self.deferral {
            d.enqueued = true;
        }
    }

    /// Whether the batch just finished enqueued a job; clears the mark.
    pub(crate) fn take_enqueued(&mut self) -> bool {
        self.deferral
            .as_mut()
            .is_some_and(|d| std::mem::take(&mut d.enqueued))
    }

    /// Whether the batch can no longer commit (a rollback inside it failed).
    pub(crate) fn broken(&self) -> bool {
        self.deferral.as_ref().is_some_and(|d| d.broken.is_some())
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

/// A finished write's deferred statements.
struct Segment {
    write: usize,
    /// Whether the write ran statements of its own (in the savepoint, before this segment).
    touched: bool,
    statements: Batch,
}

#[derive(Default)]
struct Deferral {
    /// Whether the batch's transaction (`BEGIN; SAVEPOINT w`) has started.
    begun: bool,
    /// The running write's deferred statements.
    current: Batch,
    /// Whether the running write ran a statement (its savepoint then holds work).
    touched: bool,
    /// Finished writes whose segments have not run yet, in order.
    pending: Vec<Segment>,
    /// Writes whose segment failed and was rolled back, with the error.
    failed: Vec<(usize, Error)>,
    /// Set when a rollback failed: the batch cannot commit.
    broken: Option<Error>,
    /// Whether the batch enqueued a job.
    enqueued: bool,
    /// The last id (or number) handed out per table (or numbering series and day); kept from
    /// batch to batch.
    counters: HashMap<String, i64>,
}

const BEGIN: &str = "BEGIN; SAVEPOINT w";
const NEXT: &str = "RELEASE w; SAVEPOINT w";
const END: &str = "RELEASE w; COMMIT";
/// Undoes the savepoint's work and opens the next one.
const UNDO: &str = "ROLLBACK TO w; RELEASE w; SAVEPOINT w";
/// Chunk sizes of a run of like segments, largest first.
const CHUNKS: [usize; 5] = [16, 8, 4, 2, 1];

impl Deferral {
    /// Marks the batch as unable to commit (a savepoint step, a rollback or the commit failed).
    fn broken_by(&mut self, e: sqlx::Error) -> sqlx::Error {
        self.broken = Some(Error::Corrupt(format!("group commit: {e}")));
        e
    }

    /// Runs a step of the batch's transaction (`sql` without placeholders); if it fails, the
    /// batch cannot commit.
    async fn step(&mut self, c: &mut AnyConnection, sql: &'static str) -> Result<(), sqlx::Error> {
        let mut query = Joined::default();
        query.raw(sql);
        run(c, query).await.map_err(|(_, e)| self.broken_by(e))
    }

    /// Runs the waiting segments (after the batch's `BEGIN`, if it has not run); with `end`,
    /// commits too.
    async fn flush(&mut self, c: &mut AnyConnection, end: bool) -> Result<(), sqlx::Error> {
        if self.broken.is_some() {
            return Err(sqlx::Error::Protocol(
                "the group commit failed earlier".into(),
            ));
        }
        if !self.begun {
            if end && self.pending.is_empty() {
                // Nothing ran and nothing waits: there is no transaction to commit.
                return Ok(());
            }
            self.step(c, BEGIN).await?;
            self.begun = true;
        }
        let mut waiting: VecDeque<Segment> = std::mem::take(&mut self.pending).into();
        loop {
            let Some(first) = waiting.front() else {
                if end {
                    self.step(c, END).await?;
                }
                return Ok(());
            };
            // The next chunk: like segments in a row, as many as the largest size that fits.
            // Writes that ran no statement of their own are nothing but their segments: a chunk
            // of them shares one savepoint (one FTS flush, one copy of each page it touches), and
            // if one fails, the others are simply sent again.
            let together = !first.touched;
            let like = waiting
                .iter()
                .take(CHUNKS[0])
                .take_while(|s| {
                    s.touched == first.touched && s.statements.same_statements(&first.statements)
                })
                .count();
            let size = CHUNKS.into_iter().find(|&n| n <= like).unwrap_or(1);
            let chunk: Vec<Segment> = waiting.drain(..size).collect();
            let commits = end && waiting.is_empty();
            let mut query = Joined::default();
            for (i, s) in chunk.iter().enumerate() {
                query.add(&s.statements);
                if i + 1 == size {
                    query.raw(if commits { END } else { NEXT });
                } else if !together {
                    query.raw(NEXT);
                }
            }
            let Err((done, e)) = run(c, query).await else {
                if commits {
                    return Ok(());
                }
                continue;
            };
            // Which segment holds the statement that failed (none: a savepoint step or the
            // commit failed, and the batch with it).
            let mut at = None;
            let mut from = 0;
            for (i, s) in chunk.iter().enumerate() {
                let to = from + s.statements.statements();
                if done < to {
                    at = Some(i);
                    break;
                }
                from = to;
                if !together || i + 1 == size {
                    from += 2;
                    if done < from {
                        break;
                    }
                }
            }
            let Some(at) = at else {
                return Err(self.broken_by(e));
            };
            // That segment's write fails alone. The savepoint is rolled back: it held that
            // segment, or the whole chunk if it shared one. What it undid of the others, and the
            // segments that did not run, go first in the next chunk.
            self.failed.push((chunk[at].write, Error::from(e)));
            self.step(c, UNDO).await?;
            let again = chunk
                .into_iter()
                .enumerate()
                .filter(|&(i, _)| i > at || (together && i < at))
                .map(|(_, s)| s);
            for s in again.collect::<Vec<_>>().into_iter().rev() {
                waiting.push_front(s);
            }
        }
    }
}

/// Runs `query` as one multi-statement query; on failure, how many of its statements completed
/// before the one that failed.
async fn run(c: &mut AnyConnection, query: Joined) -> Result<(), (usize, sqlx::Error)> {
    let (sql, args) = query.finish();
    #[cfg(debug_assertions)]
    let expected = crate::sql::statements_in(&sql);
    let mut done = 0;
    // Only this crate's statement literals, their placeholders renumbered.
    let mut results = (&mut *c).fetch_many(sqlx::query_with::<Any, AnyArguments>(
        AssertSqlSafe(sql),
        args,
    ));
    while let Some(r) = results.next().await {
        match r {
            Ok(Either::Left(_)) => done += 1,
            Ok(Either::Right(_)) => {}
            Err(e) => return Err((done, e)),
        }
    }
    #[cfg(debug_assertions)]
    assert_eq!(done, expected, "one result per statement");
    Ok(())
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
        if !self.before_statement() {
            return self.link().fetch_many(query);
        }
        async move {
            self.catch_up().await?;
            Ok::<_, sqlx::Error>(self.link().fetch_many(query))
        }
        .try_flatten_stream()
        .boxed()
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<AnyRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        if !self.before_statement() {
            return self.link().fetch_optional(query);
        }
        async move {
            self.catch_up().await?;
            self.link().fetch_optional(query).await
        }
        .boxed()
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [AnyTypeInfo],
    ) -> BoxFuture<'e, Result<AnyStatement, sqlx::Error>>
    where
        'c: 'e,
    {
        self.link().prepare_with(sql, parameters)
    }

    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<Describe<Any>, sqlx::Error>>
    where
        'c: 'e,
    {
        self.link().describe(sql)
    }
}
