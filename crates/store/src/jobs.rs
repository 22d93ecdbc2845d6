//! The job queue (ARCHITECTURE, "Background work"): rows that any process sharing the database
//! claims with a lease. A claim takes due jobs and jobs whose lease ended (their worker died);
//! every change after it names the owner that holds the lease, so a worker that lost its lease,
//! and whose job another worker took, can neither finish nor reschedule it.

use domain::{JobId, Timestamp};
use serde_json::Value;

use crate::{Backend, Conn, Error, dialect};

/// Attempts a job gets unless it asks for another number.
pub const DEFAULT_MAX_ATTEMPTS: i64 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Pending,
    Running,
    Done,
    Dead,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => JobState::Pending,
            "running" => JobState::Running,
            "done" => JobState::Done,
            "dead" => JobState::Dead,
            _ => return None,
        })
    }
}

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: String,
    pub payload: Value,
    pub run_at: Timestamp,
    pub max_attempts: i64,
    /// Enqueue only if no job with this key exists (done jobs count until the sweeper removes
    /// them).
    pub dedupe_key: Option<String>,
}

impl NewJob {
    pub fn new(kind: impl Into<String>, payload: Value, run_at: Timestamp) -> Self {
        Self {
            kind: kind.into(),
            payload,
            run_at,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            dedupe_key: None,
        }
    }

    #[must_use]
    pub fn dedupe(mut self, key: impl Into<String>) -> Self {
        self.dedupe_key = Some(key.into());
        self
    }

    #[must_use]
    pub fn max_attempts(mut self, n: i64) -> Self {
        self.max_attempts = n.max(1);
        self
    }
}

/// Adds a job in the caller's transaction and wakes the runners when it commits. Returns the new
/// job's id, or None when a job with the same dedupe key already exists.
pub async fn enqueue(c: &mut Conn, job: &NewJob, now: Timestamp) -> Result<Option<JobId>, Error> {
    let id: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO jobs (kind, payload, run_at, state, attempts, max_attempts, dedupe_key, created_at, updated_at)
         VALUES ($1, $2, $3, 'pending', 0, $4, $5, $6, $6)
         ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
    )
    .bind(&job.kind)
    .bind(job.payload.to_string())
    .bind(job.run_at.0)
    .bind(job.max_attempts.max(1))
    .bind(job.dedupe_key.as_deref())
    .bind(now.0)
    .fetch_optional(&mut *c)
    .await?;
    if id.is_some() {
        dialect::notify_jobs(c).await?;
    }
    Ok(id.map(|(id,)| JobId(id)))
}

/// Enqueues `jobs` in the surrounding write, for a write that does not read them back (no id
/// comes back). A job whose dedupe key exists is left out, as with [`enqueue`].
pub async fn enqueue_all(c: &mut Conn, jobs: &[NewJob], now: Timestamp) -> Result<(), Error> {
    if jobs.is_empty() {
        return Ok(());
    }
    let mut batch = crate::sql::Batch::new();
    for job in jobs {
        batch.push(
            "INSERT INTO jobs (kind, payload, run_at, state, attempts, max_attempts, dedupe_key, created_at, updated_at) VALUES ($1, $2, $3, 'pending', 0, $4, $5, $6, $6) ON CONFLICT (dedupe_key) DO NOTHING",
            vec![
                job.kind.clone().into(),
                job.payload.to_string().into(),
                job.run_at.0.into(),
                job.max_attempts.max(1).into(),
                job.dedupe_key.clone().into(),
                now.0.into(),
            ],
        );
    }
    batch.run(c).await?;
    // A mark (SQLite) or a NOTIFY (PostgreSQL), delivered only if the write commits.
    dialect::notify_jobs(c).await
}

/// A job handed to one worker until `lease_until`.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: JobId,
    pub kind: String,
    pub payload: Value,
    /// This attempt's number, from 1. Above `max_attempts` when earlier workers died holding it.
    pub attempt: i64,
    pub max_attempts: i64,
    pub lease_until: Timestamp,
}

/// Claims up to `limit` due jobs (oldest `run_at` first) for `owner` for `lease_ms`.
pub async fn claim(
    c: &mut Conn,
    backend: Backend,
    owner: &str,
    now: Timestamp,
    lease_ms: i64,
    limit: u32,
) -> Result<Vec<Claimed>, Error> {
    let rows = dialect::claim_jobs(
        c,
        backend,
        owner,
        now.0,
        now.0 + lease_ms.max(1),
        i64::from(limit.max(1)),
    )
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Claimed {
            id: JobId(r.id),
            kind: r.kind,
            // A payload that does not parse reaches the handler as null, which refuses it: the
            // job ends dead with a message instead of blocking every claim.
            payload: serde_json::from_str(&r.payload).unwrap_or(Value::Null),
            attempt: r.attempts,
            max_attempts: r.max_attempts,
            lease_until: Timestamp(r.lease_until),
        })
        .collect())
}

/// Marks a job done, if `owner` still holds it. False when the lease was lost.
pub async fn complete(c: &mut Conn, id: JobId, owner: &str, now: Timestamp) -> Result<bool, Error> {
    let n = sqlx::query(
        "UPDATE jobs SET state = 'done', run_at = $3, lease_until = NULL, last_error = NULL, updated_at = $3
         WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
    )
    .bind(id.0)
    .bind(owner)
    .bind(now.0)
    .execute(&mut *c)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Puts a job back to run again at `next_run_at`, recording why this attempt failed, if `owner`
/// still holds it. False when the lease was lost.
pub async fn retry(
    c: &mut Conn,
    id: JobId,
    owner: &str,
    error: &str,
    next_run_at: Timestamp,
    now: Timestamp,
) -> Result<bool, Error> {
    let n = sqlx::query(
        "UPDATE jobs SET state = 'pending', run_at = $4, lease_owner = NULL, lease_until = NULL, last_error = $3, updated_at = $5
         WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
    )
    .bind(id.0)
    .bind(owner)
    .bind(truncate(error))
    .bind(next_run_at.0)
    .bind(now.0)
    .execute(&mut *c)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Gives a job up (dead), recording why, if `owner` still holds it. Dead jobs stay for people to
/// look at. False when the lease was lost.
pub async fn bury(
    c: &mut Conn,
    id: JobId,
    owner: &str,
    error: &str,
    now: Timestamp,
) -> Result<bool, Error> {
    let n = sqlx::query(
        "UPDATE jobs SET state = 'dead', run_at = $4, lease_until = NULL, last_error = $3, updated_at = $4
         WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
    )
    .bind(id.0)
    .bind(owner)
    .bind(truncate(error))
    .bind(now.0)
    .execute(&mut *c)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// The earliest instant a job becomes due (or a running job's lease ends), if any: how long a
/// runner may sleep.
pub async fn next_run_at(c: &mut Conn) -> Result<Option<Timestamp>, Error> {
    let (at,): (Option<i64>,) =
        sqlx::query_as("SELECT MIN(run_at) FROM jobs WHERE state IN ('pending', 'running')")
            .fetch_one(&mut *c)
            .await?;
    Ok(at.map(Timestamp))
}

/// Deletes up to `limit` jobs that finished before `before`; returns how many. Callers loop in
/// separate transactions so that none runs long.
pub async fn purge_done(c: &mut Conn, before: Timestamp, limit: u32) -> Result<u64, Error> {
    Ok(sqlx::query(
        "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state = 'done' AND run_at < $1 LIMIT $2)",
    )
    .bind(before.0)
    .bind(i64::from(limit.max(1)))
    .execute(&mut *c)
    .await?
    .rows_affected())
}

/// A job as stored, for operators and tests.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: JobId,
    pub kind: String,
    pub payload: Value,
    pub run_at: Timestamp,
    pub state: JobState,
    pub attempts: i64,
    pub max_attempts: i64,
    pub lease_owner: Option<String>,
    pub lease_until: Option<Timestamp>,
    pub last_error: Option<String>,
    pub dedupe_key: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct JobRow {
    id: i64,
    kind: String,
    payload: String,
    run_at: i64,
    state: String,
    attempts: i64,
    max_attempts: i64,
    lease_owner: Option<String>,
    lease_until: Option<i64>,
    last_error: Option<String>,
    dedupe_key: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<JobRow> for Job {
    type Error = Error;
    fn try_from(r: JobRow) -> Result<Self, Error> {
        Ok(Job {
            id: JobId(r.id),
            kind: r.kind,
            payload: serde_json::from_str(&r.payload)
                .map_err(|_| crate::error::corrupt("job payload", &r.payload))?,
            run_at: Timestamp(r.run_at),
            state: JobState::parse(&r.state)
                .ok_or_else(|| crate::error::corrupt("job state", &r.state))?,
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            lease_owner: r.lease_owner,
            lease_until: r.lease_until.map(Timestamp),
            last_error: r.last_error,
            dedupe_key: r.dedupe_key,
            created_at: Timestamp(r.created_at),
            updated_at: Timestamp(r.updated_at),
        })
    }
}

macro_rules! select_jobs {
    ($tail:literal) => {
        concat!(
            "SELECT id, kind, payload, run_at, state, attempts, max_attempts, lease_owner, lease_until, last_error, dedupe_key, created_at, updated_at FROM jobs",
            $tail
        )
    };
}

pub async fn get(c: &mut Conn, id: JobId) -> Result<Job, Error> {
    let row: JobRow = sqlx::query_as(select_jobs!(" WHERE id = $1"))
        .bind(id.0)
        .fetch_one(&mut *c)
        .await?;
    row.try_into()
}

/// Jobs of one kind, in id order (operators' and tests' view; not for large tables).
pub async fn of_kind(c: &mut Conn, kind: &str, limit: u32) -> Result<Vec<Job>, Error> {
    let rows: Vec<JobRow> = sqlx::query_as(select_jobs!(" WHERE kind = $1 ORDER BY id LIMIT $2"))
        .bind(kind)
        .bind(i64::from(limit.clamp(1, 10_000)))
        .fetch_all(&mut *c)
        .await?;
    rows.into_iter().map(Job::try_from).collect()
}

/// How many jobs are in each state.
pub async fn count_by_state(c: &mut Conn) -> Result<Vec<(JobState, i64)>, Error> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT state, COUNT(*) FROM jobs GROUP BY state ORDER BY state")
            .fetch_all(&mut *c)
            .await?;
    rows.into_iter()
        .map(|(s, n)| {
            JobState::parse(&s)
                .map(|st| (st, n))
                .ok_or_else(|| crate::error::corrupt("job state", &s))
        })
        .collect()
}

/// Error texts are kept short: a whole HTML error page helps nobody in a table.
pub(crate) fn truncate(s: &str) -> &str {
    const MAX: usize = 2000;
    if s.len() <= MAX {
        return s;
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Removes the pending job with this dedupe key, if there is one (a reminder that is no longer
/// wanted); a running or finished job is left alone. True if one was removed.
pub async fn cancel_pending(c: &mut Conn, dedupe_key: &str) -> Result<bool, Error> {
    let n = sqlx::query("DELETE FROM jobs WHERE dedupe_key = $1 AND state = 'pending'")
        .bind(dedupe_key)
        .execute(&mut *c)
        .await?
        .rows_affected();
    Ok(n > 0)
}
