//! The job runner (ARCHITECTURE, "Background work"). Every `kefu serve` runs one, and so does
//! `kefu worker` on PostgreSQL; they share the `jobs` table and take work with a lease, so a job
//! runs on one process at a time and is taken over when its process dies. A runner claims due
//! jobs (up to its concurrency), runs each with its kind's handler under a timeout, and then
//! completes it, retries it with exponential backoff (with jitter), or buries it (dead) after its last attempt
//! or a permanent error. It sleeps until a job is enqueued (NOTIFY on PostgreSQL, an in-process
//! signal on SQLite), the earliest `run_at` comes, or a second has passed, whichever is first.
//!
//! Built-in kinds: `sweep` (expired sessions, old login failures and idempotency keys, done jobs
//! older than 7 days; it re-enqueues itself per 10-minute slot), `deliver_outbox`, and the SLA
//! clocks' `sla.warn` and `sla.breach` (see `sla`).

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::{OutboxId, Timestamp};
use futures::FutureExt;
use serde_json::{Value, json};
use store::jobs::{self, Claimed, NewJob};
use store::outbox::{self, OutboxStatus};
use store::{BoxFuture, sessions};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::notify::{Channels, OutboundMessage, SendError};
use crate::{App, Clock, Ctx};

/// Why a job failed, and whether another attempt may succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Try again later (with backoff) while attempts remain.
    #[error("{0}")]
    Retry(String),
    /// Another attempt would fail the same way: bury the job now.
    #[error("{0}")]
    Permanent(String),
}

impl From<crate::Error> for JobError {
    fn from(e: crate::Error) -> Self {
        match e {
            // The database or a conflict with a concurrent change: may well pass next time.
            crate::Error::Store(_) | crate::Error::VersionConflict | crate::Error::Conflict(_) => {
                JobError::Retry(e.to_string())
            }
            other => JobError::Permanent(format!("{}: {other}", other.code())),
        }
    }
}

impl From<store::Error> for JobError {
    fn from(e: store::Error) -> Self {
        crate::Error::from(e).into()
    }
}

/// The work of one job kind.
pub trait Handler: Send + Sync {
    fn run<'a>(
        &'a self,
        app: &'a App,
        ctx: &'a Ctx,
        payload: &'a Value,
    ) -> BoxFuture<'a, Result<(), JobError>>;

    /// Called once when the job is given up, to record that where people look.
    fn buried<'a>(
        &'a self,
        _app: &'a App,
        _ctx: &'a Ctx,
        _payload: &'a Value,
        _error: &'a str,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }

    /// How long one attempt may take before it is abandoned (and retried).
    fn timeout(&self) -> Duration {
        Duration::from_mins(1)
    }
}

/// The longest wait before retry `attempt`: the first waits up to 10 s, each next one up to
/// twice as long, never more than an hour.
pub fn backoff(attempt: i64) -> Duration {
    const BASE_MS: u64 = 10_000;
    const CAP_MS: u64 = 3_600_000;
    let doublings = u32::try_from(attempt.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    Duration::from_millis(BASE_MS.saturating_mul(1 << doublings).min(CAP_MS))
}

/// The wait actually used: `backoff(attempt)` less up to a fifth, by a jitter drawn from the
/// job's id and attempt, so that jobs failing together (a provider's outage) do not all come
/// back in the same second — and a test can still predict it (never later than `backoff`).
pub fn backoff_jittered(attempt: i64, job_id: i64) -> Duration {
    let ceiling = backoff(attempt);
    // splitmix64 of (id, attempt): cheap, well spread, reproducible.
    let mut z = (job_id.cast_unsigned() ^ (attempt.cast_unsigned() << 48))
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    // Up to 20 %: ms / 5 * (z mod 1000) / 1000.
    let cut = ms / 5 * (z % 1000) / 1000;
    Duration::from_millis(ms - cut)
}

/// What one attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Retried,
    Dead,
    /// The lease was lost (another worker took the job): this worker's result was dropped.
    Lost,
    /// The outcome could not be recorded; the lease will run out and the job be taken again.
    Unrecorded,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Retried => "retried",
            Outcome::Dead => "dead",
            Outcome::Lost => "lost",
            Outcome::Unrecorded => "unrecorded",
        }
    }
}

/// Counts of one `run_once`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunStats {
    pub claimed: usize,
    pub done: usize,
    pub retried: usize,
    pub dead: usize,
    pub lost: usize,
}

/// Claims and runs jobs for one owner (one per process).
pub struct Runner {
    app: App,
    clock: Arc<dyn Clock>,
    owner: String,
    handlers: HashMap<String, Arc<dyn Handler>>,
    concurrency: usize,
    poll: Duration,
}

impl Runner {
    /// A runner without handlers. `owner` must be unique among the processes sharing the
    /// database (kefu uses hostname:pid:random).
    pub fn new(app: App, clock: Arc<dyn Clock>, owner: impl Into<String>) -> Self {
        Self {
            app,
            clock,
            owner: owner.into(),
            handlers: HashMap::new(),
            concurrency: 16,
            poll: Duration::from_secs(1),
        }
    }

    /// A runner with the built-in kinds; outbox channels come from the settings.
    pub fn standard(
        app: App,
        clock: Arc<dyn Clock>,
        owner: impl Into<String>,
    ) -> crate::Result<Self> {
        let channels = Channels::from_settings(&app.settings)?;
        Ok(Self::new(app, clock, owner)
            .handler(SWEEP_KIND, Sweep)
            .handler(outbox::DELIVER_KIND, DeliverOutbox::new(channels))
            .handler(crate::sla::WARN_KIND, crate::sla::SlaWarn)
            .handler(crate::sla::BREACH_KIND, crate::sla::SlaBreach))
    }

    #[must_use]
    pub fn handler(mut self, kind: &str, handler: impl Handler + 'static) -> Self {
        self.handlers.insert(kind.to_string(), Arc::new(handler));
        self
    }

    /// How many jobs run at once.
    #[must_use]
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// The longest sleep without a signal.
    #[must_use]
    pub fn poll_every(mut self, d: Duration) -> Self {
        self.poll = d;
        self
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The lease outlives the slowest handler's timeout, so a job still running is never taken
    /// over; only a job whose worker is gone is.
    fn lease_ms(&self) -> i64 {
        let longest = self
            .handlers
            .values()
            .map(|h| h.timeout())
            .max()
            .unwrap_or(Duration::from_mins(1));
        i64::try_from((longest + Duration::from_secs(30)).as_millis()).unwrap_or(i64::MAX / 2)
    }

    async fn claim(&self, limit: usize) -> crate::Result<Vec<Claimed>> {
        let owner = self.owner.clone();
        let now = self.clock.now();
        let lease = self.lease_ms();
        let backend = self.app.db.backend();
        let limit = u32::try_from(limit).unwrap_or(u32::MAX);
        Ok(self
            .app
            .db
            .write(move |c| {
                Box::pin(async move { jobs::claim(c, backend, &owner, now, lease, limit).await })
            })
            .await?)
    }

    /// Claims what is due now (up to the concurrency), runs it all and records the outcomes.
    /// Tests drive the queue with it; `run` is the loop of a serving process.
    pub async fn run_once(&self) -> crate::Result<RunStats> {
        let claimed = self.claim(self.concurrency).await?;
        let mut stats = RunStats {
            claimed: claimed.len(),
            ..RunStats::default()
        };
        let outcomes =
            futures::future::join_all(claimed.into_iter().map(|j| self.execute(j))).await;
        for o in outcomes {
            match o {
                Outcome::Done => stats.done += 1,
                Outcome::Retried => stats.retried += 1,
                Outcome::Dead => stats.dead += 1,
                Outcome::Lost | Outcome::Unrecorded => stats.lost += 1,
            }
        }
        Ok(stats)
    }

    /// Starts the loop on its own task.
    pub fn spawn(self) -> RunnerHandle {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(Arc::new(self).run(stopped));
        RunnerHandle { stop, task }
    }

    /// Runs until `stop` turns true (or its sender goes), then lets the running jobs finish.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        tracing::info!(owner = %self.owner, concurrency = self.concurrency, "job runner started");
        let mut wake = self.app.db.job_signal().subscribe();
        let mut wake_alive = true;
        let mut running: JoinSet<Outcome> = JoinSet::new();
        loop {
            if *stop.borrow() {
                break;
            }
            while running.try_join_next().is_some() {}
            let free = self.concurrency.saturating_sub(running.len());
            // Full: only a finishing job (or stop) makes room.
            let mut sleep = Duration::from_hours(1);
            if free > 0 {
                // A read first: an idle runner costs the database one cheap query a second,
                // not a write transaction.
                match self.next_run_at().await {
                    Ok(Some(at)) if at <= self.clock.now() => match self.claim(free).await {
                        Ok(claimed) if !claimed.is_empty() => {
                            for job in claimed {
                                let me = self.clone();
                                running.spawn(async move { me.execute(job).await });
                            }
                            // More may be due, or the next run_at is later: look again.
                            continue;
                        }
                        // Another process took what was due; do not spin on it.
                        Ok(_) => sleep = Duration::from_millis(50),
                        Err(e) => {
                            tracing::warn!(error = %e, "claiming jobs failed");
                            sleep = self.poll;
                        }
                    },
                    Ok(Some(at)) => {
                        let ms = u64::try_from(at.0 - self.clock.now().0).unwrap_or(0);
                        sleep = Duration::from_millis(ms).min(self.poll);
                    }
                    Ok(None) => sleep = self.poll,
                    Err(e) => {
                        tracing::warn!(error = %e, "reading the next job time failed");
                        sleep = self.poll;
                    }
                }
            }
            tokio::select! {
                r = stop.changed() => if r.is_err() { break },
                r = wake.changed(), if wake_alive => if r.is_err() { wake_alive = false },
                Some(_) = running.join_next(), if !running.is_empty() => {},
                () = tokio::time::sleep(sleep) => {},
            }
        }
        tracing::info!(owner = %self.owner, running = running.len(), "job runner stopping; finishing running jobs");
        while running.join_next().await.is_some() {}
        tracing::info!(owner = %self.owner, "job runner stopped");
    }

    /// The earliest `run_at` of a pending job or lease end of a running one.
    async fn next_run_at(&self) -> Result<Option<Timestamp>, store::Error> {
        self.app
            .db
            .read(|c| Box::pin(async move { jobs::next_run_at(c).await }))
            .await
    }

    /// Runs one claimed job and records its outcome.
    async fn execute(&self, job: Claimed) -> Outcome {
        let span =
            tracing::info_span!("job", job_id = job.id.0, kind = %job.kind, attempt = job.attempt);
        let kind = job.kind.clone();
        let started = Instant::now();
        let outcome = self.execute_inner(job).instrument(span).await;
        metrics::counter!("kefu_jobs_total", "kind" => kind.clone(), "outcome" => outcome.as_str())
            .increment(1);
        metrics::histogram!("kefu_job_seconds", "kind" => kind)
            .record(started.elapsed().as_secs_f64());
        outcome
    }

    async fn execute_inner(&self, job: Claimed) -> Outcome {
        let mut ctx = Ctx::system("jobs", self.clock.clone());
        ctx.request_id = format!("job-{}", job.id.0);
        let handler = self.handlers.get(&job.kind).cloned();
        if job.attempt > job.max_attempts {
            // Every attempt so far ended with its worker gone (crash, kill, lost database).
            let error = format!(
                "abandoned: {} attempts ended without an answer from their worker",
                job.attempt - 1
            );
            return self.bury(&job, handler.as_deref(), &ctx, &error).await;
        }
        let result = match &handler {
            // A newer process may have enqueued a kind this one does not know (a rolling
            // upgrade): leave it to a process that does, while attempts last.
            None => Err(JobError::Retry(format!(
                "no handler for job kind {:?} in this process",
                job.kind
            ))),
            Some(h) => {
                let run = AssertUnwindSafe(h.run(&self.app, &ctx, &job.payload)).catch_unwind();
                match tokio::time::timeout(h.timeout(), run).await {
                    Ok(Ok(r)) => r,
                    Ok(Err(_)) => Err(JobError::Retry("the handler panicked".into())),
                    Err(_) => Err(JobError::Retry(format!(
                        "timed out after {} s",
                        h.timeout().as_secs()
                    ))),
                }
            }
        };
        match result {
            Ok(()) => {
                let (id, owner, now) = (job.id, self.owner.clone(), self.clock.now());
                let r = self
                    .app
                    .db
                    .write(move |c| {
                        Box::pin(async move { jobs::complete(c, id, &owner, now).await })
                    })
                    .await;
                self.recorded(r, Outcome::Done)
            }
            Err(JobError::Retry(e)) if job.attempt < job.max_attempts => {
                let now = self.clock.now();
                let wait = i64::try_from(backoff_jittered(job.attempt, job.id.0).as_millis())
                    .unwrap_or(i64::MAX / 2);
                let next = Timestamp(now.0 + wait);
                tracing::warn!(error = %e, retry_in_s = wait / 1000, "job failed; will retry");
                let (id, owner) = (job.id, self.owner.clone());
                let r = self
                    .app
                    .db
                    .write(move |c| {
                        Box::pin(async move { jobs::retry(c, id, &owner, &e, next, now).await })
                    })
                    .await;
                self.recorded(r, Outcome::Retried)
            }
            Err(JobError::Retry(e) | JobError::Permanent(e)) => {
                self.bury(&job, handler.as_deref(), &ctx, &e).await
            }
        }
    }

    async fn bury(
        &self,
        job: &Claimed,
        handler: Option<&dyn Handler>,
        ctx: &Ctx,
        error: &str,
    ) -> Outcome {
        tracing::error!(error = %error, "job is dead");
        if let Some(h) = handler {
            h.buried(&self.app, ctx, &job.payload, error).await;
        }
        let (id, owner, now, e) = (
            job.id,
            self.owner.clone(),
            self.clock.now(),
            error.to_string(),
        );
        let r = self
            .app
            .db
            .write(move |c| Box::pin(async move { jobs::bury(c, id, &owner, &e, now).await }))
            .await;
        self.recorded(r, Outcome::Dead)
    }

    fn recorded(&self, r: Result<bool, store::Error>, outcome: Outcome) -> Outcome {
        match r {
            Ok(true) => outcome,
            Ok(false) => {
                tracing::warn!(owner = %self.owner, "the job's lease was lost; another worker has it");
                Outcome::Lost
            }
            Err(e) => {
                tracing::error!(error = %e, "recording the job's outcome failed");
                Outcome::Unrecorded
            }
        }
    }
}

/// A running loop: stop it to let its jobs finish.
pub struct RunnerHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl RunnerHandle {
    /// Stops claiming, waits for the running jobs, and returns.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "job runner ended abnormally");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// sweep

pub const SWEEP_KIND: &str = "sweep";
/// One sweep per slot of this length.
pub const SWEEP_EVERY_MS: i64 = 10 * 60 * 1000;
/// Done jobs are kept this long (dead ones stay until someone deals with them).
pub const DONE_JOBS_KEPT_MS: i64 = 7 * 24 * 3600 * 1000;
const DAY_MS: i64 = 24 * 3600 * 1000;

/// Enqueues the sweep of the current slot unless it exists: what a starting server does, so
/// that the chain of sweeps (each enqueues the next) is there even after a long stop.
pub async fn ensure_sweep(app: &App, ctx: &Ctx) -> crate::Result<bool> {
    let now = ctx.now();
    let slot = now.0.div_euclid(SWEEP_EVERY_MS);
    let id = app
        .db
        .write(move |c| Box::pin(async move { jobs::enqueue(c, &sweep_job(slot, now), now).await }))
        .await?;
    Ok(id.is_some())
}

fn sweep_job(slot: i64, run_at: Timestamp) -> NewJob {
    NewJob::new(SWEEP_KIND, json!({ "slot": slot }), run_at)
        .dedupe(format!("sweep:{slot}"))
        .max_attempts(3)
}

/// Removes expired sessions, login failures and idempotency keys older than a day, and done
/// jobs older than a week; first enqueues the sweep of the next slot.
pub struct Sweep;

impl Handler for Sweep {
    fn run<'a>(
        &'a self,
        app: &'a App,
        ctx: &'a Ctx,
        payload: &'a Value,
    ) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(async move {
            let now = ctx.now();
            let slot = payload
                .get("slot")
                .and_then(Value::as_i64)
                .unwrap_or_else(|| now.0.div_euclid(SWEEP_EVERY_MS));
            let next = slot + 1;
            app.db
                .write(move |c| {
                    Box::pin(async move {
                        jobs::enqueue(c, &sweep_job(next, Timestamp(next * SWEEP_EVERY_MS)), now)
                            .await
                    })
                })
                .await?;
            let removed = app
                .db
                .write(move |c| {
                    Box::pin(async move {
                        sessions::sweep(
                            c,
                            now,
                            Timestamp(now.0 - DAY_MS),
                            Timestamp(now.0 - DAY_MS),
                        )
                        .await
                    })
                })
                .await?;
            // In chunks: a write transaction stays short however many jobs a week left.
            let before = Timestamp(now.0 - DONE_JOBS_KEPT_MS);
            let mut purged = 0;
            loop {
                let n = app
                    .db
                    .write(move |c| {
                        Box::pin(async move { jobs::purge_done(c, before, 1000).await })
                    })
                    .await?;
                purged += n;
                if n < 1000 {
                    break;
                }
            }
            tracing::info!(removed, purged_jobs = purged, "swept");
            Ok(())
        })
    }
}

// ---------------------------------------------------------------------------------------------
// deliver_outbox

/// Sends one outbox message through its channel's adapter and records the result on the row:
/// sent (with the provider's reference), still pending while retries remain, failed for good, or
/// dead when the job is given up.
pub struct DeliverOutbox {
    channels: Channels,
}

impl DeliverOutbox {
    pub fn new(channels: Channels) -> Self {
        Self { channels }
    }
}

fn outbox_id(payload: &Value) -> Result<OutboxId, JobError> {
    payload
        .get("outbox_id")
        .and_then(Value::as_i64)
        .map(OutboxId)
        .ok_or_else(|| JobError::Permanent(format!("payload without outbox_id: {payload}")))
}

impl Handler for DeliverOutbox {
    fn run<'a>(
        &'a self,
        app: &'a App,
        ctx: &'a Ctx,
        payload: &'a Value,
    ) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(async move {
            let id = outbox_id(payload)?;
            let msg = app
                .db
                .read(move |c| Box::pin(async move { outbox::get(c, id).await }))
                .await?;
            if msg.status != OutboxStatus::Pending {
                // Settled by an earlier attempt whose own completion was not recorded.
                return Ok(());
            }
            let channel = msg.channel.as_str();
            let Some(adapter) = self.channels.get(msg.channel) else {
                // A channel this installation does not use (a demo without SMTP): the message
                // is settled as failed with the reason, shown in the outbox and on its ticket.
                // The job did what it is for, so it is done, not dead, and the log says it once
                // per channel instead of an error per message.
                let e = format!("no adapter for channel {channel} is configured");
                record_failure(app, id, &e, false).await?;
                metrics::counter!("kefu_outbox_total", "channel" => channel, "outcome" => "failed")
                    .increment(1);
                warn_unconfigured(channel);
                return Ok(());
            };
            let out = OutboundMessage::new(&msg, ctx.now());
            match adapter.send(&out).await {
                Ok(delivery) => {
                    let at = ctx.now();
                    app.db
                        .write(move |c| {
                            Box::pin(async move {
                                outbox::mark_sent(c, id, delivery.provider_ref.as_deref(), at).await
                            })
                        })
                        .await?;
                    metrics::counter!("kefu_outbox_total", "channel" => channel, "outcome" => "sent")
                        .increment(1);
                    Ok(())
                }
                Err(e) => {
                    let retry = e.is_retryable();
                    record_failure(app, id, &e.to_string(), retry).await?;
                    metrics::counter!("kefu_outbox_total", "channel" => channel, "outcome" => if retry { "retry" } else { "failed" })
                        .increment(1);
                    Err(match e {
                        SendError::Retryable(m) => JobError::Retry(m),
                        SendError::Permanent(m) => JobError::Permanent(m),
                    })
                }
            }
        })
    }

    fn buried<'a>(
        &'a self,
        app: &'a App,
        _ctx: &'a Ctx,
        payload: &'a Value,
        error: &'a str,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let Ok(id) = outbox_id(payload) else { return };
            let e = error.to_string();
            let r = app
                .db
                .write(move |c| Box::pin(async move { outbox::mark_dead(c, id, &e).await }))
                .await;
            if let Err(e) = r {
                tracing::error!(error = %e, outbox_id = id.0, "marking the message dead failed");
            } else if matches!(r, Ok(true)) {
                metrics::counter!("kefu_outbox_total", "channel" => "any", "outcome" => "dead")
                    .increment(1);
            }
        })
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(30)
    }
}

async fn record_failure(
    app: &App,
    id: OutboxId,
    error: &str,
    will_retry: bool,
) -> Result<(), JobError> {
    let e = error.to_string();
    app.db
        .write(move |c| Box::pin(async move { outbox::mark_failed(c, id, &e, will_retry).await }))
        .await?;
    Ok(())
}

/// Logs once per process and channel that messages for it cannot go out.
fn warn_unconfigured(channel: &str) {
    static WARNED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut warned = WARNED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !warned.iter().any(|c| c == channel) {
        warned.push(channel.to_string());
        tracing::warn!(
            channel,
            "no adapter is configured for this channel: its messages are marked failed in the outbox"
        );
    }
}
