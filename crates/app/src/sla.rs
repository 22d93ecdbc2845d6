//! Service levels (SPEC D4): business calendars and their holidays and make-up working days,
//! SLA policies, and the clocks that run for tickets (and later work orders), with a warning
//! before the deadline and an escalation to supervisors when it passes.
//!
//! # How the ticket workflow drives clocks
//!
//! Reads happen before the write, arithmetic and SQL inside it:
//!
//! 1. Before the write: `let plans = sla::plan(app, &key, &[FirstReply, Resolution]).await?`
//!    picks the most specific active policy per metric (and loads its calendar); for a resume
//!    also `let cals = sla::calendars(app).await?`.
//! 2. Inside the ticket's write closure (`&mut store::Conn`), in the same transaction as the
//!    ticket's own change: [`start`] when the ticket is created (or when a metric begins, e.g.
//!    the proposal clock of a complaint once liability or compensation is at stake), [`pause`]
//!    on `WaitForCustomer`, [`resume`] on `CustomerResponded`, [`stop`] when a metric is
//!    achieved (first reply sent, plan returned, resolved), [`stop_all`] on cancel or merge,
//!    [`restart`] on reopen. Each (re)schedules the clock's next job at the instant it is due
//!    and removes the one that no longer applies; nothing ever scans the open clocks.
//!
//! A running clock has one job pending at a time: its `sla.warn` until it has warned, then its
//! `sla.breach`, which the warning job enqueues when it has run (or is given up). One job per
//! clock instead of two halves the rows a ticket create writes for its clocks.
//!
//! The jobs re-check the clock in SQL (the instant they were scheduled for must still be the
//! clock's, and the clock neither stopped nor already warned/breached), so a job made stale by a
//! pause or a stop does nothing, and each clock warns and breaches at most once.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use domain::calendar::{BusinessCalendar, DayHours, DayRule, DeadlineError, Pause};
use domain::sla::{
    self as rules, CalendarDay, CalendarRecord, ClockState, PolicyKey, SlaClock, SlaMetric,
    SlaOutcome, SlaPolicy, Subject, Tz,
};
use domain::{
    BrandId, CalendarId, CustomerId, Date, Permission, SlaClockId, SlaPolicyId, Timestamp,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use store::jobs::{self, NewJob};
use store::outbox::{self, Channel, NewMessage};
use store::sla::{self as db, CalendarDraft, NewClock};
use store::{BoxFuture, Conn};
use utoipa::ToSchema;

use crate::admin::audit_entry;
use crate::error::Fields;
use crate::jobs::{Handler, JobError};
use crate::once::create_once;
use crate::{App, Created, Ctx, Error, Result};

pub use domain::sla::PolicyKey as Key;

/// The job kind that records a warning before breach.
pub const WARN_KIND: &str = "sla.warn";
/// The job kind that records a breach and escalates it.
pub const BREACH_KIND: &str = "sla.breach";
const MINUTE_MS: i64 = 60_000;

// ---------------------------------------------------------------- calendars and their cache

/// The calculable calendars by id, as of one read.
#[derive(Debug, Default)]
pub struct Calendars {
    map: HashMap<CalendarId, Arc<BusinessCalendar>>,
    /// The calendar marked default (the desk's hours), if any.
    default: Option<CalendarId>,
    versions: BTreeMap<CalendarId, i64>,
    /// The active SLA policies, every metric, by id; and the stamp they were read at.
    policies: Vec<SlaPolicy>,
    policy_stamp: [i64; 3],
}

impl Calendars {
    pub fn get(&self, id: CalendarId) -> Option<&Arc<BusinessCalendar>> {
        self.map.get(&id)
    }

    /// The default calendar: the service desk's opening hours with its holidays.
    pub fn default_calendar(&self) -> Option<&Arc<BusinessCalendar>> {
        self.default.and_then(|id| self.map.get(&id))
    }

    fn need(&self, id: CalendarId) -> Result<&Arc<BusinessCalendar>> {
        self.get(id)
            .ok_or_else(|| Error::Conflict(format!("business calendar {id} no longer exists")))
    }
}

/// The calendars of this process, reloaded when any calendar's version differs from the
/// database's (so an edit made through another node is seen too) and dropped when an admin edits
/// one here.
#[derive(Debug, Default)]
pub struct CalendarCache(RwLock<Option<Arc<Calendars>>>);

impl CalendarCache {
    pub fn invalidate(&self) {
        *self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    fn current(&self) -> Option<Arc<Calendars>> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn store(&self, c: Arc<Calendars>) {
        *self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(c);
    }
}

/// Every business calendar with its days, and the active SLA policies: from the cache when
/// nothing changed since (one small query of versions, [`db::rules_stamp`]), else read afresh.
/// Every ticket create asks, so an edit made through another node is seen by the next one.
pub async fn calendars(app: &App) -> Result<Arc<Calendars>> {
    let (versions, policy_stamp) = app
        .db
        .read(|c| Box::pin(async move { db::rules_stamp(c).await }))
        .await?;
    let versions: BTreeMap<CalendarId, i64> = versions.into_iter().collect();
    if let Some(cached) = app.calendars.current()
        && cached.versions == versions
        && cached.policy_stamp == policy_stamp
    {
        return Ok(cached);
    }
    let (records, days, policies) = app
        .db
        .read(|c| {
            Box::pin(async move {
                let records = db::calendars(c).await?;
                let ids: Vec<CalendarId> = records.iter().map(|r| r.id).collect();
                let days = db::days_of(c, &ids).await?;
                let policies = db::active_policies(c).await?;
                Ok::<_, store::Error>((records, days, policies))
            })
        })
        .await?;
    let mut by_cal: HashMap<CalendarId, Vec<CalendarDay>> = HashMap::new();
    for (id, d) in days {
        by_cal.entry(id).or_default().push(d);
    }
    let loaded = Arc::new(Calendars {
        default: records.iter().find(|r| r.is_default).map(|r| r.id),
        versions: records.iter().map(|r| (r.id, r.version)).collect(),
        policies,
        // Read in a later statement than the stamp: a policy edited in between is reloaded on
        // the next call, as its version then differs.
        policy_stamp,
        map: records
            .iter()
            .map(|r| {
                let days = by_cal.get(&r.id).map_or(&[][..], Vec::as_slice);
                (r.id, Arc::new(r.calendar(days)))
            })
            .collect(),
    });
    app.calendars.store(loaded.clone());
    Ok(loaded)
}

// ---------------------------------------------------------------- plans

/// The target one clock will have: chosen before the write by [`plan`], used inside it by
/// [`start`] or [`restart`].
#[derive(Debug, Clone)]
pub struct ClockPlan {
    pub metric: SlaMetric,
    pub policy_id: Option<SlaPolicyId>,
    pub calendar_id: CalendarId,
    pub calendar: Arc<BusinessCalendar>,
    /// Business time allowed.
    pub target_ms: i64,
    /// Business time after which the warning is due.
    pub warn_ms: i64,
}

/// The clocks a ticket of this kind, category, priority and brand tier gets for `metrics`: the
/// most specific active policy of each (see `domain::sla::choose`). A metric no policy covers
/// gets no clock. Call it before the ticket's write; it only reads.
pub async fn plan(app: &App, key: &PolicyKey, metrics: &[SlaMetric]) -> Result<Vec<ClockPlan>> {
    let cals = calendars(app).await?;
    let mut out = Vec::new();
    for &m in metrics {
        if let Some(p) = rules::choose(&cals.policies, m, key) {
            out.push(plan_of(p, &cals)?);
        }
    }
    Ok(out)
}

fn plan_of(p: &SlaPolicy, cals: &Calendars) -> Result<ClockPlan> {
    let target_ms = p.target_minutes.saturating_mul(MINUTE_MS);
    Ok(ClockPlan {
        metric: p.metric,
        policy_id: Some(p.id),
        calendar_id: p.calendar_id,
        calendar: cals.need(p.calendar_id)?.clone(),
        target_ms,
        warn_ms: rules::warn_ms(target_ms, p.warn_percent),
    })
}

fn no_time(e: DeadlineError) -> Error {
    Error::Conflict(format!("cannot compute the SLA deadline: {e}"))
}

// ---------------------------------------------------------------- inside a subject's write

fn warn_key(k: &SlaClock, at: Timestamp) -> String {
    format!("{WARN_KIND}:{}:{}", k.id.0, at.0)
}

fn breach_key(k: &SlaClock, at: Timestamp) -> String {
    format!("{BREACH_KIND}:{}:{}", k.id.0, at.0)
}

/// The (key, job) pair a clock wants right now: its warning until it has warned, then its
/// breach; none while it is paused, stopped or breached.
fn wanted_jobs(k: &SlaClock) -> Option<(String, NewJob)> {
    next_job(k, k.warned_at.is_some())
}

/// [`wanted_jobs`], with whether the warning is behind the clock given (`warned`): a warning
/// given up is behind it too.
fn next_job(k: &SlaClock, warned: bool) -> Option<(String, NewJob)> {
    if k.stopped_at.is_some() || k.breached_at.is_some() {
        return None;
    }
    if let (Some(at), false) = (k.warn_at, warned) {
        let key = warn_key(k, at);
        let job = NewJob::new(
            WARN_KIND,
            json!({ "clock_id": k.id.0, "warn_at": at.0, "version": k.version }),
            at,
        )
        .dedupe(key.clone());
        return Some((key, job));
    }
    let due = k.due_at?;
    let key = breach_key(k, due);
    // Breached means past the deadline: the job runs the first millisecond after it.
    let job = NewJob::new(
        BREACH_KIND,
        json!({ "clock_id": k.id.0, "due_at": due.0, "version": k.version }),
        due.plus_millis(1),
    )
    .dedupe(key.clone());
    Some((key, job))
}

/// Removes the jobs pending for `before` that `after` does not want, and enqueues `after`'s.
async fn reschedule(
    c: &mut Conn,
    before: Option<&SlaClock>,
    after: &SlaClock,
    now: Timestamp,
) -> Result<()> {
    let want = wanted_jobs(after);
    if let Some(b) = before {
        // Its warning, or its breach: the one it wants, or the breach a warning given up
        // enqueued while it still wanted the warning.
        let keys = [
            b.warn_at.map(|at| warn_key(b, at)),
            b.due_at.map(|due| breach_key(b, due)),
        ];
        for key in keys.into_iter().flatten() {
            if want.as_ref().is_none_or(|(k, _)| *k != key) {
                jobs::cancel_pending(c, &key).await?;
            }
        }
    }
    if let Some((_, job)) = &want {
        jobs::enqueue(c, job, now).await?;
    }
    Ok(())
}

/// Starts the clocks of `plans` for `subject` at `now`, inside the subject's write transaction,
/// and schedules their warning and breach jobs. A metric the subject already has a clock for is
/// left as it is (starting twice is harmless). Returns the clocks started.
///
/// `brand_id` and `customer_id` are the subject's: they decide who may see the clocks and which
/// supervisors hear of a breach.
pub async fn start(
    c: &mut Conn,
    subject: Subject,
    brand_id: Option<BrandId>,
    customer_id: Option<CustomerId>,
    plans: &[ClockPlan],
    now: Timestamp,
) -> Result<Vec<SlaClock>> {
    let new = new_clocks(subject, brand_id, customer_id, plans, now)?;
    let started = db::insert_clocks(c, &new).await?;
    schedule_new(c, &started, now).await?;
    Ok(started)
}

/// [`start`] for a subject created in the same write (a new ticket), which has no clocks yet:
/// on the SQLite writer the clocks take their ids from the writer (`db::insert_new_clocks`),
/// so nothing is read back.
pub async fn start_new(
    c: &mut Conn,
    subject: Subject,
    brand_id: Option<BrandId>,
    customer_id: Option<CustomerId>,
    plans: &[ClockPlan],
    now: Timestamp,
) -> Result<Vec<SlaClock>> {
    let new = new_clocks(subject, brand_id, customer_id, plans, now)?;
    let started = db::insert_new_clocks(c, &new).await?;
    schedule_new(c, &started, now).await?;
    Ok(started)
}

fn new_clocks(
    subject: Subject,
    brand_id: Option<BrandId>,
    customer_id: Option<CustomerId>,
    plans: &[ClockPlan],
    now: Timestamp,
) -> Result<Vec<NewClock>> {
    let mut new = Vec::with_capacity(plans.len());
    for p in plans {
        let due = p.calendar.add_business(now, p.target_ms).map_err(no_time)?;
        let warn = p.calendar.add_business(now, p.warn_ms).map_err(no_time)?;
        new.push(NewClock {
            subject,
            brand_id,
            customer_id,
            metric: p.metric,
            policy_id: p.policy_id,
            calendar_id: p.calendar_id,
            started_at: now,
            target_ms: p.target_ms,
            warn_ms: p.warn_ms,
            due_at: Some(due),
            warn_at: Some(warn),
        });
    }
    Ok(new)
}

/// The first jobs of clocks just started (this runs inside every ticket create).
async fn schedule_new(c: &mut Conn, started: &[SlaClock], now: Timestamp) -> Result<()> {
    let jobs: Vec<NewJob> = started
        .iter()
        .filter_map(wanted_jobs)
        .map(|(_, job)| job)
        .collect();
    jobs::enqueue_all(c, &jobs, now).await?;
    Ok(())
}

/// Pauses every running clock of `subject` at `now` (the ticket waits on the customer): no
/// deadline until [`resume`]; pending warning and breach jobs are removed. A clock already past
/// its deadline stays breached. Returns how many clocks paused.
pub async fn pause(c: &mut Conn, subject: Subject, now: Timestamp) -> Result<usize> {
    let mut n = 0;
    for mut k in db::clocks_of(c, subject).await? {
        let before = k.clone();
        if k.pause(now) {
            db::save_clock(c, &mut k, before.version, now).await?;
            reschedule(c, Some(&before), &k, now).await?;
            n += 1;
        }
    }
    Ok(n)
}

/// Lets every paused clock of `subject` run again from `now`: the deadline moves by the business
/// time spent paused, and the jobs are scheduled for the new instants. `calendars` comes from
/// [`calendars`], read before the write. Returns how many clocks resumed.
pub async fn resume(
    c: &mut Conn,
    subject: Subject,
    now: Timestamp,
    calendars: &Calendars,
) -> Result<usize> {
    let mut n = 0;
    for mut k in db::clocks_of(c, subject).await? {
        if k.paused_at.is_none() || k.stopped_at.is_some() {
            continue;
        }
        let before = k.clone();
        let cal = calendars.need(k.calendar_id)?;
        k.resume(now, cal).map_err(no_time)?;
        db::save_clock(c, &mut k, before.version, now).await?;
        reschedule(c, Some(&before), &k, now).await?;
        n += 1;
    }
    Ok(n)
}

/// Stops the `metric` clock of `subject` at `now` because the target was achieved (first reply
/// sent, plan given, resolved): `met` if in time, else `breached`. `None` when there is no such
/// clock or it had already stopped. Its pending jobs are removed.
pub async fn stop(
    c: &mut Conn,
    subject: Subject,
    metric: SlaMetric,
    now: Timestamp,
) -> Result<Option<SlaOutcome>> {
    for mut k in db::clocks_of(c, subject).await? {
        if k.metric != metric {
            continue;
        }
        let before = k.clone();
        let Some(outcome) = k.stop(now) else {
            return Ok(None);
        };
        db::save_clock(c, &mut k, before.version, now).await?;
        reschedule(c, Some(&before), &k, now).await?;
        return Ok(Some(outcome));
    }
    Ok(None)
}

/// Stops every clock of `subject` (cancelled, merged, closed): each ends met or breached as
/// [`stop`] decides. Returns the metrics stopped and their outcomes.
pub async fn stop_all(
    c: &mut Conn,
    subject: Subject,
    now: Timestamp,
) -> Result<Vec<(SlaMetric, SlaOutcome)>> {
    let mut out = Vec::new();
    for mut k in db::clocks_of(c, subject).await? {
        let before = k.clone();
        if let Some(o) = k.stop(now) {
            db::save_clock(c, &mut k, before.version, now).await?;
            reschedule(c, Some(&before), &k, now).await?;
            out.push((k.metric, o));
        }
    }
    Ok(out)
}

/// Starts `plan`'s metric again from `now` (e.g. resolution on reopen): the clock's history
/// (pauses, warning, breach, outcome) is cleared and it takes the plan's target; a subject
/// without such a clock gets a new one. Returns the clock as it now runs.
pub async fn restart(
    c: &mut Conn,
    subject: Subject,
    brand_id: Option<BrandId>,
    customer_id: Option<CustomerId>,
    plan: &ClockPlan,
    now: Timestamp,
) -> Result<SlaClock> {
    let existing = db::clocks_of(c, subject)
        .await?
        .into_iter()
        .find(|k| k.metric == plan.metric);
    let Some(mut k) = existing else {
        let mut made = start(
            c,
            subject,
            brand_id,
            customer_id,
            std::slice::from_ref(plan),
            now,
        )
        .await?;
        return made
            .pop()
            .ok_or_else(|| Error::Conflict("the clock could not be started".into()));
    };
    let before = k.clone();
    k.policy_id = plan.policy_id;
    k.calendar_id = plan.calendar_id;
    k.started_at = now;
    k.target_ms = plan.target_ms;
    k.warn_ms = plan.warn_ms;
    k.paused_at = None;
    k.pauses.clear();
    k.stopped_at = None;
    k.outcome = None;
    k.warned_at = None;
    k.breached_at = None;
    k.escalated_at = None;
    k.schedule(&plan.calendar).map_err(no_time)?;
    db::save_clock(c, &mut k, before.version, now).await?;
    reschedule(c, Some(&before), &k, now).await?;
    Ok(k)
}

// ---------------------------------------------------------------- views

/// One clock as a person sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClockView {
    pub id: i64,
    /// `ticket` or `work_order`
    pub subject_kind: String,
    pub subject_id: i64,
    /// `first_reply`, `proposal` or `resolution`
    pub metric: String,
    /// `running`, `paused`, `warning`, `breached` or `met`
    pub state: String,
    pub policy_id: Option<i64>,
    pub calendar_id: i64,
    #[schema(value_type = String, format = DateTime)]
    pub started_at: Timestamp,
    /// Absent while paused.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub due_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub warn_at: Option<Timestamp>,
    pub target_ms: i64,
    /// Business time left (negative once late; frozen when stopped).
    pub remaining_ms: i64,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub paused_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub stopped_at: Option<Timestamp>,
    pub outcome: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub warned_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub breached_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub escalated_at: Option<Timestamp>,
    pub brand_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub version: i64,
}

impl ClockView {
    fn of(k: &SlaClock, cals: &Calendars, now: Timestamp) -> Self {
        let remaining_ms = cals.get(k.calendar_id).map_or_else(
            || k.due_at.map_or(k.target_ms, |d| d.0 - now.0),
            |cal| k.remaining_ms(cal, now),
        );
        Self {
            id: k.id.0,
            subject_kind: k.subject.kind.as_str().into(),
            subject_id: k.subject.id,
            metric: k.metric.as_str().into(),
            state: k.state(now).as_str().into(),
            policy_id: k.policy_id.map(|p| p.0),
            calendar_id: k.calendar_id.0,
            started_at: k.started_at,
            due_at: k.due_at,
            warn_at: k.warn_at,
            target_ms: k.target_ms,
            remaining_ms,
            paused_at: k.paused_at,
            stopped_at: k.stopped_at,
            outcome: k.outcome.map(|o| o.as_str().into()),
            warned_at: k.warned_at,
            breached_at: k.breached_at,
            escalated_at: k.escalated_at,
            brand_id: k.brand_id.map(|b| b.0),
            customer_id: k.customer_id.map(|c| c.0),
            version: k.version,
        }
    }

    pub fn state(&self) -> ClockState {
        ClockState::parse(&self.state).unwrap_or(ClockState::Running)
    }
}

/// The clocks of one ticket or work order the actor may see, by metric.
pub async fn clocks_of(app: &App, ctx: &Ctx, subject: Subject) -> Result<Vec<ClockView>> {
    ctx.require(Permission::CustomerRead)?;
    let scope = ctx.scope.clone();
    let list = app
        .db
        .read(move |c| Box::pin(async move { db::clocks_in_scope(c, &scope, subject).await }))
        .await?;
    let cals = calendars(app).await?;
    let now = ctx.now();
    Ok(list.iter().map(|k| ClockView::of(k, &cals, now)).collect())
}

/// Running clocks due within `within_ms` from now and not breached yet, soonest first: the
/// supervisors' "about to breach" list.
pub async fn breaching(app: &App, ctx: &Ctx, within_ms: i64, limit: u32) -> Result<Vec<ClockView>> {
    ctx.require(Permission::SlaMonitor)?;
    if within_ms < 0 {
        return Err(Error::field("within_ms", "cannot be negative"));
    }
    let now = ctx.now();
    let until = now.plus_millis(within_ms);
    let scope = ctx.scope.clone();
    let list = app
        .db
        .read(move |c| Box::pin(async move { db::due_before(c, &scope, until, limit).await }))
        .await?;
    let cals = calendars(app).await?;
    Ok(list.iter().map(|k| ClockView::of(k, &cals, now)).collect())
}

/// Breached clocks, most recent breach first; `open_only` leaves out those already stopped.
/// Pass the last item's (`breached_at`, id) as `after` for the next page.
pub async fn breached(
    app: &App,
    ctx: &Ctx,
    open_only: bool,
    after: Option<(Timestamp, i64)>,
    limit: u32,
) -> Result<Vec<ClockView>> {
    ctx.require(Permission::SlaMonitor)?;
    let scope = ctx.scope.clone();
    let cursor = after.map(|(at, id)| domain::Cursor {
        key: at.0.to_string(),
        id,
    });
    let list = app
        .db
        .read(move |c| {
            Box::pin(
                async move { db::breached(c, &scope, open_only, cursor.as_ref(), limit).await },
            )
        })
        .await?;
    let cals = calendars(app).await?;
    let now = ctx.now();
    Ok(list.iter().map(|k| ClockView::of(k, &cals, now)).collect())
}

// ---------------------------------------------------------------- jobs

fn payload_instant(payload: &Value, field: &str) -> Result<(SlaClockId, Timestamp), JobError> {
    let id = payload.get("clock_id").and_then(Value::as_i64);
    let at = payload.get(field).and_then(Value::as_i64);
    match (id, at) {
        (Some(id), Some(at)) => Ok((SlaClockId(id), Timestamp(at))),
        _ => Err(JobError::Permanent(format!(
            "payload without clock_id and {field}: {payload}"
        ))),
    }
}

/// Who hears of warnings and breaches: active supervisors (role manager) of the operating
/// company or of the clock's brand who have an email, and the address of `KEFU_SLA_ALERT_EMAIL`.
async fn alert_recipients(
    c: &mut Conn,
    app: &App,
    brand: Option<BrandId>,
) -> Result<Vec<String>, store::Error> {
    let mut to: Vec<String> = db::supervisors(c, brand)
        .await?
        .into_iter()
        .map(|(_, _, email)| email)
        .collect();
    if let Some(extra) = &app.settings.sla_alert_email
        && !to.contains(extra)
    {
        to.push(extra.clone());
    }
    Ok(to)
}

fn subject_label(k: &SlaClock) -> String {
    let kind = match k.subject.kind {
        domain::sla::SubjectKind::Ticket => "工单",
        domain::sla::SubjectKind::WorkOrder => "服务单",
    };
    format!("{kind} #{}", k.subject.id)
}

fn metric_label(m: SlaMetric) -> &'static str {
    match m {
        SlaMetric::FirstReply => "首次响应",
        SlaMetric::Proposal => "处理方案",
        SlaMetric::Resolution => "解决",
    }
}

async fn notify(
    c: &mut Conn,
    app: &App,
    k: &SlaClock,
    template: &str,
    subject: String,
    now: Timestamp,
) -> Result<usize, store::Error> {
    let to = alert_recipients(c, app, k.brand_id).await?;
    if to.is_empty() {
        tracing::info!(
            clock_id = k.id.0,
            template,
            "no SLA alert sent: no active supervisor (role manager) with an email serves this brand and KEFU_SLA_ALERT_EMAIL is not set"
        );
        return Ok(0);
    }
    let tz = app.settings.tz;
    let payload = json!({
        "subject": subject,
        "subject_kind": k.subject.kind.as_str(),
        "subject_id": k.subject.id,
        "metric": k.metric.as_str(),
        "due_at": k.due_at.map(|d| d.rfc3339_in(tz)),
        "clock_id": k.id.0,
    });
    for r in &to {
        outbox::insert(
            c,
            &NewMessage {
                channel: Channel::Email,
                recipient: r.clone(),
                template: template.into(),
                payload: payload.clone(),
                ref_entity: Some(k.subject.kind.as_str().into()),
                ref_id: Some(k.subject.id),
                brand_id: k.brand_id,
            },
            now,
        )
        .await?;
    }
    Ok(to.len())
}

/// `sla.warn`: records that a clock is close to its deadline and tells the supervisors.
pub struct SlaWarn;

impl Handler for SlaWarn {
    fn run<'a>(
        &'a self,
        app: &'a App,
        ctx: &'a Ctx,
        payload: &'a Value,
    ) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(async move {
            let (id, at) = payload_instant(payload, "warn_at")?;
            let now = ctx.now();
            let app2 = app.clone();
            app.db
                .write(move |c| {
                    Box::pin(async move {
                        let Some(k) = db::mark_warned(c, id, at, now).await? else {
                            // Paused, resumed, stopped or already warned since it was scheduled
                            // (whatever changed it scheduled its next job).
                            return Ok::<_, store::Error>(());
                        };
                        // Warned: the breach is the clock's next job.
                        if let Some((_, job)) = wanted_jobs(&k) {
                            jobs::enqueue(c, &job, now).await?;
                        }
                        let tz = app2.settings.tz;
                        let text = format!(
                            "SLA 预警：{} {}将于 {} 到期",
                            subject_label(&k),
                            metric_label(k.metric),
                            k.due_at.map_or_else(String::new, |d| d.display_in(tz))
                        );
                        notify(c, &app2, &k, "sla.warning", text, now).await?;
                        Ok(())
                    })
                })
                .await?;
            Ok(())
        })
    }

    fn buried<'a>(
        &'a self,
        app: &'a App,
        ctx: &'a Ctx,
        payload: &'a Value,
        _error: &'a str,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Err(e) = breach_after_failed_warning(app, ctx, payload).await {
                tracing::error!(error = %e, %payload, "scheduling the breach after a failed warning failed");
            }
        })
    }
}

/// A warning given up after its last attempt must not take the escalation with it: the
/// clock's breach job is enqueued all the same (unless the clock changed since).
async fn breach_after_failed_warning(app: &App, ctx: &Ctx, payload: &Value) -> Result<()> {
    let (id, at) =
        payload_instant(payload, "warn_at").map_err(|e| Error::Conflict(e.to_string()))?;
    let now = ctx.now();
    app.db
        .write(move |c| {
            Box::pin(async move {
                let k = db::clock(c, id).await?;
                if k.warn_at == Some(at)
                    && let Some((_, job)) = next_job(&k, true)
                {
                    jobs::enqueue(c, &job, now).await?;
                }
                Ok::<_, Error>(())
            })
        })
        .await
}

/// `sla.breach`: records the breach and its escalation (audit row, supervisors told).
pub struct SlaBreach;

impl Handler for SlaBreach {
    fn run<'a>(
        &'a self,
        app: &'a App,
        ctx: &'a Ctx,
        payload: &'a Value,
    ) -> BoxFuture<'a, Result<(), JobError>> {
        Box::pin(async move {
            let (id, due) = payload_instant(payload, "due_at")?;
            let audit = audit_entry(ctx, "breach", "sla_clock");
            let now = audit.at;
            let app2 = app.clone();
            app.db
                .write(move |c| {
                    Box::pin(async move {
                        let Some(k) = db::mark_breached(c, id, due, now).await? else {
                            return Ok::<_, Error>(());
                        };
                        // A breached ticket shows in the supervisors' escalation queue, with
                        // the breach in its history.
                        if k.subject.kind == domain::sla::SubjectKind::Ticket {
                            let tid = domain::TicketId(k.subject.id);
                            if store::tickets::mark_escalated(c, tid, now).await? {
                                let t = store::tickets::get(c, &domain::Scope::All, tid).await?;
                                store::tickets::insert_event(
                                    c,
                                    &store::tickets::NewEvent {
                                        ticket_id: tid,
                                        brand_id: t.brand_id,
                                        at: now,
                                        actor_id: None,
                                        actor_label: Some("sla"),
                                        event: "sla_breached",
                                        from: t.state.status,
                                        to: t.state.status,
                                        owner: t.state.owner,
                                        data: json!({ "metric": k.metric.as_str(), "due_at": due.0 }),
                                    },
                                )
                                .await?;
                                crate::notify::subscriptions::publish(
                                    c,
                                    app2.settings.tz,
                                    crate::notify::subscriptions::Event::Escalated,
                                    &t,
                                    json!({ "reason": "sla_breach", "metric": k.metric.as_str(), "due_at": due.rfc3339_in(app2.settings.tz) }),
                                    now,
                                )
                                .await?;
                            }
                        }
                        let tz = app2.settings.tz;
                        let text = format!(
                            "SLA 超时升级：{} {}已于 {} 超时",
                            subject_label(&k),
                            metric_label(k.metric),
                            due.display_in(tz)
                        );
                        let sent = notify(c, &app2, &k, "sla.breached", text, now).await?;
                        audit
                            .write(
                                c,
                                Some(k.id.0),
                                k.brand_id,
                                None,
                                Some(json!({
                                    "subject_kind": k.subject.kind.as_str(),
                                    "subject_id": k.subject.id,
                                    "metric": k.metric.as_str(),
                                    "due_at": due.0,
                                    "breached_at": now.0,
                                    "escalated_to": sent,
                                })),
                            )
                            .await?;
                        Ok(())
                    })
                })
                .await?;
            Ok(())
        })
    }
}

// ---------------------------------------------------------------- administration

/// A calendar as returned by the API: weekly hours as text, its days.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CalendarView {
    pub id: i64,
    pub brand_id: Option<i64>,
    pub name: String,
    /// IANA zone, e.g. Asia/Shanghai.
    pub tz: String,
    pub week: WeekHours,
    pub is_default: bool,
    pub version: i64,
    /// Exceptional days by date (only on single-calendar reads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days: Option<Vec<DayView>>,
}

/// Opening hours per weekday: `08:00-21:00`, `09:00-12:00,13:30-18:00`, or empty for closed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WeekHours {
    pub mon: String,
    pub tue: String,
    pub wed: String,
    pub thu: String,
    pub fri: String,
    pub sat: String,
    pub sun: String,
}

impl WeekHours {
    pub const DAYS: [&'static str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

    fn of(week: &[DayHours; 7]) -> Self {
        let s: Vec<String> = week.iter().map(ToString::to_string).collect();
        Self {
            mon: s[0].clone(),
            tue: s[1].clone(),
            wed: s[2].clone(),
            thu: s[3].clone(),
            fri: s[4].clone(),
            sat: s[5].clone(),
            sun: s[6].clone(),
        }
    }

    pub fn get(&self, day: &str) -> &str {
        match day {
            "mon" => &self.mon,
            "tue" => &self.tue,
            "wed" => &self.wed,
            "thu" => &self.thu,
            "fri" => &self.fri,
            "sat" => &self.sat,
            _ => &self.sun,
        }
    }

    fn parse(&self, f: &mut Fields) -> Option<[DayHours; 7]> {
        let parsed: Vec<Option<DayHours>> = Self::DAYS
            .iter()
            .map(|d| f.take(&format!("week.{d}"), DayHours::parse(self.get(d))))
            .collect();
        let all: Option<Vec<DayHours>> = parsed.into_iter().collect();
        all.and_then(|v| v.try_into().ok())
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DayView {
    /// YYYY-MM-DD
    pub date: String,
    /// `closed` (holiday) or `open` (make-up working day / special hours)
    pub rule: String,
    /// The hours of an open day.
    pub hours: String,
    pub name: String,
}

impl DayView {
    fn of(d: &CalendarDay) -> Self {
        let (rule, hours) = match &d.rule {
            DayRule::Closed => ("closed", String::new()),
            DayRule::Open(h) => ("open", h.to_string()),
        };
        Self {
            date: d.date.to_string(),
            rule: rule.into(),
            hours,
            name: d.name.clone(),
        }
    }
}

fn calendar_view(r: &CalendarRecord, days: Option<&[CalendarDay]>) -> CalendarView {
    CalendarView {
        id: r.id.0,
        brand_id: r.brand_id.map(|b| b.0),
        name: r.name.clone(),
        tz: r.tz.name().into(),
        week: WeekHours::of(&r.week),
        is_default: r.is_default,
        version: r.version,
        days: days.map(|d| d.iter().map(DayView::of).collect()),
    }
}

/// Company calendars (no brand) are everyone's; a brand's own only its scope's.
fn visible(ctx: &Ctx, r: &CalendarRecord) -> bool {
    r.brand_id.is_none() || ctx.scope.sees_brand(r.brand_id)
}

pub async fn list_calendars(app: &App, ctx: &Ctx) -> Result<Vec<CalendarView>> {
    ctx.require(Permission::CustomerRead)?;
    let all = app
        .db
        .read(|c| Box::pin(async move { db::calendars(c).await }))
        .await?;
    Ok(all
        .iter()
        .filter(|r| visible(ctx, r))
        .map(|r| calendar_view(r, None))
        .collect())
}

async fn visible_calendar(app: &App, ctx: &Ctx, id: CalendarId) -> Result<CalendarRecord> {
    let r = app
        .db
        .read(move |c| Box::pin(async move { db::calendar(c, id).await }))
        .await?;
    if visible(ctx, &r) {
        Ok(r)
    } else {
        Err(Error::NotFound)
    }
}

/// One calendar with its days.
pub async fn get_calendar(app: &App, ctx: &Ctx, id: CalendarId) -> Result<CalendarView> {
    ctx.require(Permission::CustomerRead)?;
    let r = visible_calendar(app, ctx, id).await?;
    let days = app
        .db
        .read(move |c| Box::pin(async move { db::days(c, id).await }))
        .await?;
    Ok(calendar_view(&r, Some(&days)))
}

/// What an admin sends to change a calendar.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarInput {
    pub name: String,
    /// IANA zone, e.g. Asia/Shanghai.
    pub tz: String,
    pub week: WeekHours,
}

fn parse_tz(f: &mut Fields, s: &str) -> Option<Tz> {
    let tz = s.trim().parse::<Tz>().ok();
    if tz.is_none() {
        f.add("tz", "an IANA time zone such as Asia/Shanghai");
    }
    tz
}

/// The checks a calendar's own fields pass on create and on update alike: a name of at most
/// 100 characters, an IANA zone, and each weekday's hours (every opening ending after it
/// starts). Errors go into `f`; `None` when any field was refused.
fn calendar_draft(f: &mut Fields, name: &str, tz: &str, week: &WeekHours) -> Option<CalendarDraft> {
    let name = f.take("name", domain::text::required(name, 100));
    let tz = parse_tz(f, tz);
    let week = week.parse(f);
    Some(CalendarDraft {
        name: name?,
        tz: tz?,
        week: week?,
    })
}

/// What an admin sends to add a calendar: its own fields as on an edit, optionally a brand,
/// and optionally a calendar whose holidays and make-up working days it starts with.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCalendarInput {
    pub name: String,
    /// IANA zone, e.g. Asia/Shanghai.
    pub tz: String,
    pub week: WeekHours,
    /// The brand whose own calendar this is; absent = the operating company's, seen by all.
    #[serde(default)]
    pub brand_id: Option<i64>,
    /// Start with a copy of this calendar's exceptional days (statutory holidays, 调休).
    #[serde(default)]
    pub copy_days_from: Option<i64>,
}

/// Adds a calendar for a new line or brand. Nothing uses it until a policy or a hotline line
/// names it. With `copy_days_from` it starts with that calendar's holidays and make-up working
/// days, copied (later edits of either calendar do not reach the other).
pub async fn create_calendar(
    app: &App,
    ctx: &Ctx,
    input: NewCalendarInput,
) -> Result<CalendarView> {
    let made = create_calendar_once(app, ctx, input).await?;
    get_calendar(app, ctx, made.id).await
}

/// Creates a calendar once per the request's Idempotency-Key: a retry answers with the first.
pub async fn create_calendar_once(
    app: &App,
    ctx: &Ctx,
    input: NewCalendarInput,
) -> Result<Created<CalendarId>> {
    ctx.require(Permission::SlaAdmin)?;
    let mut f = Fields::new();
    let draft = calendar_draft(&mut f, &input.name, &input.tz, &input.week);
    let brand = input.brand_id.map(BrandId);
    match brand {
        Some(_) if !ctx.scope.sees_brand(brand) => f.add("brand_id", "unknown brand"),
        // A brand's staff add calendars for their brands, not for everyone.
        None if !matches!(ctx.scope, domain::Scope::All) => {
            f.add("brand_id", "required: choose one of your brands");
        }
        _ => {}
    }
    let source = match input.copy_days_from.map(CalendarId) {
        None => None,
        Some(from) => match visible_calendar(app, ctx, from).await {
            Ok(r) => Some(r.id),
            Err(Error::NotFound) => {
                f.add("copy_days_from", "unknown calendar");
                None
            }
            Err(e) => return Err(e),
        },
    };
    f.finish()?;
    let draft = draft.ok_or_else(|| Error::field("name", "required"))?;
    let audit = audit_entry(ctx, "create", "business_calendar");
    let made = create_once(app, ctx, CalendarId, move |c| {
        Box::pin(async move {
            if let Some(b) = brand
                && !store::org::brands(c).await?.iter().any(|x| x.id == b)
            {
                return Err(Error::field("brand_id", "unknown brand"));
            }
            let id = db::insert_calendar(c, brand, &draft, audit.at).await?;
            let copied = match source {
                Some(from) => db::copy_days(c, from, id).await?,
                None => 0,
            };
            let after = json!({
                "name": draft.name,
                "tz": draft.tz.name(),
                "week": WeekHours::of(&draft.week),
                "brand_id": brand.map(|b| b.0),
                "copy_days_from": source.map(|s| s.0),
                "days_copied": copied,
            });
            audit.write(c, Some(id.0), brand, None, Some(after)).await?;
            Ok::<_, Error>(id.0)
        })
    })
    .await?;
    app.calendars.invalidate();
    Ok(made)
}

/// Changes a calendar's name, zone and weekly hours. Clocks already running keep their
/// deadlines; clocks resumed or started afterwards use the new hours.
pub async fn update_calendar(
    app: &App,
    ctx: &Ctx,
    id: CalendarId,
    version: i64,
    input: CalendarInput,
) -> Result<CalendarView> {
    ctx.require(Permission::SlaAdmin)?;
    let mut f = Fields::new();
    let draft = calendar_draft(&mut f, &input.name, &input.tz, &input.week);
    f.finish()?;
    let draft = draft.ok_or_else(|| Error::field("name", "required"))?;
    visible_calendar(app, ctx, id).await?;
    let audit = audit_entry(ctx, "update", "business_calendar");
    let after =
        json!({ "name": draft.name, "tz": draft.tz.name(), "week": WeekHours::of(&draft.week) });
    app.db
        .write(move |c| {
            Box::pin(async move {
                let before = db::calendar(c, id).await?;
                db::update_calendar(c, id, version, &draft, audit.at).await?;
                let before = json!({ "name": before.name, "tz": before.tz.name(), "week": WeekHours::of(&before.week), "version": before.version });
                audit
                    .write(c, Some(id.0), None, Some(before), Some(after))
                    .await?;
                Ok::<_, Error>(())
            })
        })
        .await?;
    app.calendars.invalidate();
    get_calendar(app, ctx, id).await
}

/// Deletes a calendar nobody uses: not the default, and no SLA policy, clock or hotline line
/// refers to it (a calendar created by mistake). One in use is refused with what uses it.
pub async fn delete_calendar(app: &App, ctx: &Ctx, id: CalendarId, version: i64) -> Result<()> {
    ctx.require(Permission::SlaAdmin)?;
    let r = visible_calendar(app, ctx, id).await?;
    if r.is_default {
        return Err(Error::Conflict(
            "the default calendar cannot be deleted; edit its hours and days instead".into(),
        ));
    }
    let audit = audit_entry(ctx, "delete", "business_calendar");
    app.db
        .write(move |c| {
            Box::pin(async move {
                let before = db::calendar(c, id).await?;
                let uses = db::calendar_uses(c, id).await?;
                if uses.any() {
                    let mut what = Vec::new();
                    if uses.policies > 0 {
                        what.push(format!("{} SLA policies", uses.policies));
                    }
                    if uses.clocks {
                        what.push("SLA clocks".to_string());
                    }
                    if uses.lines > 0 {
                        what.push(format!("{} hotline lines", uses.lines));
                    }
                    return Err(Error::Conflict(format!(
                        "this calendar is in use ({}); it cannot be deleted",
                        what.join(", ")
                    )));
                }
                db::delete_calendar(c, id, version).await?;
                let before = json!({ "name": before.name, "tz": before.tz.name(), "week": WeekHours::of(&before.week), "brand_id": before.brand_id.map(|b| b.0), "version": before.version });
                audit
                    .write(c, Some(id.0), None, Some(before), None)
                    .await?;
                Ok::<_, Error>(())
            })
        })
        .await?;
    app.calendars.invalidate();
    Ok(())
}

/// One exceptional day as an admin sends it.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DayInput {
    /// `closed` (a holiday) or `open` (a make-up working day or special hours).
    pub rule: String,
    /// Required when open, e.g. `09:00-18:00`.
    #[serde(default)]
    pub hours: Option<String>,
    /// 国庆节, 春节调休 …
    #[serde(default)]
    pub name: Option<String>,
}

fn parse_date(s: &str) -> Result<Date> {
    Date::parse(s.trim()).ok_or_else(|| Error::field("date", "a date YYYY-MM-DD"))
}

/// The rule of one date of a calendar.
pub async fn get_day(app: &App, ctx: &Ctx, id: CalendarId, date: &str) -> Result<DayView> {
    ctx.require(Permission::CustomerRead)?;
    let date = parse_date(date)?;
    visible_calendar(app, ctx, id).await?;
    let d = app
        .db
        .read(move |c| Box::pin(async move { db::day(c, id, date).await }))
        .await?;
    Ok(DayView::of(&d))
}

/// Makes `date` a holiday or a working day with hours (replacing what it was); returns the
/// calendar's new version.
pub async fn put_day(
    app: &App,
    ctx: &Ctx,
    id: CalendarId,
    date: &str,
    input: DayInput,
) -> Result<i64> {
    ctx.require(Permission::SlaAdmin)?;
    let mut f = Fields::new();
    let date = f.take("date", parse_date(date).map_err(|_| "a date YYYY-MM-DD"));
    let name = f
        .take("name", domain::text::optional(input.name.as_deref(), 60))
        .flatten()
        .unwrap_or_default();
    let rule = match input.rule.trim() {
        "closed" => {
            if input.hours.as_deref().is_some_and(|h| !h.trim().is_empty()) {
                f.add("hours", "a closed day has no hours");
            }
            Some(DayRule::Closed)
        }
        "open" => match f.take(
            "hours",
            DayHours::parse(input.hours.as_deref().unwrap_or("")),
        ) {
            Some(h) if h.is_closed() => {
                f.add("hours", "an open day needs its hours, e.g. 09:00-18:00");
                None
            }
            Some(h) => Some(DayRule::Open(h)),
            None => None,
        },
        _ => {
            f.add("rule", "closed or open");
            None
        }
    };
    f.finish()?;
    let (Some(date), Some(rule)) = (date, rule) else {
        return Err(Error::field("rule", "closed or open"));
    };
    visible_calendar(app, ctx, id).await?;
    let day = CalendarDay { date, rule, name };
    let audit = audit_entry(ctx, "put_day", "business_calendar");
    let after = serde_json::to_value(DayView::of(&day)).unwrap_or_default();
    let v = app
        .db
        .write(move |c| {
            Box::pin(async move {
                let before = db::day(c, id, day.date).await.ok();
                let v = db::put_day(c, id, &day, audit.at).await?;
                audit
                    .write(
                        c,
                        Some(id.0),
                        None,
                        before.map(|b| serde_json::to_value(DayView::of(&b)).unwrap_or_default()),
                        Some(after),
                    )
                    .await?;
                Ok::<_, Error>(v)
            })
        })
        .await?;
    app.calendars.invalidate();
    Ok(v)
}

/// Gives `date` back to its weekday's hours; returns the calendar's new version.
pub async fn delete_day(app: &App, ctx: &Ctx, id: CalendarId, date: &str) -> Result<i64> {
    ctx.require(Permission::SlaAdmin)?;
    let date = parse_date(date)?;
    visible_calendar(app, ctx, id).await?;
    let audit = audit_entry(ctx, "delete_day", "business_calendar");
    let v = app
        .db
        .write(move |c| {
            Box::pin(async move {
                let before = db::day(c, id, date).await?;
                let v = db::delete_day(c, id, date, audit.at).await?;
                audit
                    .write(
                        c,
                        Some(id.0),
                        None,
                        Some(serde_json::to_value(DayView::of(&before)).unwrap_or_default()),
                        None,
                    )
                    .await?;
                Ok::<_, Error>(v)
            })
        })
        .await?;
    app.calendars.invalidate();
    Ok(v)
}

/// A deadline question: from `start`, how long in business time, and when the clock stood
/// still.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeadlineInput {
    /// RFC 3339 with offset.
    pub start: String,
    pub duration_minutes: i64,
    #[serde(default)]
    pub pauses: Vec<PauseInput>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseInput {
    /// RFC 3339 with offset.
    pub from: String,
    /// RFC 3339 with offset; absent = still paused.
    #[serde(default)]
    pub to: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeadlineView {
    pub calendar_id: i64,
    #[schema(value_type = String, format = DateTime)]
    pub start: Timestamp,
    /// When the business time has run; absent when an open pause stops the clock first.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deadline: Option<Timestamp>,
    /// The deadline in the calendar's zone (RFC 3339 with its offset).
    pub deadline_local: Option<String>,
    /// The business time asked for, in ms.
    pub business_ms: i64,
    /// Elapsed (wall-clock) time from start to deadline, in ms.
    pub elapsed_ms: Option<i64>,
}

fn instant(f: &mut Fields, field: &str, s: &str) -> Option<Timestamp> {
    let t = Timestamp::parse_rfc3339(s.trim());
    if t.is_none() {
        f.add(
            field,
            "an RFC 3339 instant with offset, e.g. 2026-11-23T20:30:00+08:00",
        );
    }
    t
}

/// The deadline of `duration_minutes` of business time from `start` on calendar `id`, with the
/// clock standing still during `pauses`.
pub async fn deadline(
    app: &App,
    ctx: &Ctx,
    id: CalendarId,
    input: DeadlineInput,
) -> Result<DeadlineView> {
    ctx.require(Permission::CustomerRead)?;
    let mut f = Fields::new();
    let start = instant(&mut f, "start", &input.start);
    if input.duration_minutes < 0 {
        f.add("duration_minutes", "cannot be negative");
    }
    let business_ms = input.duration_minutes.saturating_mul(MINUTE_MS);
    let mut pauses: Vec<Pause> = Vec::new();
    for (i, p) in input.pauses.iter().enumerate() {
        let from = instant(&mut f, &format!("pauses[{i}].from"), &p.from);
        let to =
            p.to.as_deref()
                .and_then(|t| instant(&mut f, &format!("pauses[{i}].to"), t));
        if let (Some(a), Some(b)) = (from, to)
            && b < a
        {
            f.add(&format!("pauses[{i}].to"), "must not be before from");
        }
        if let Some(a) = from {
            pauses.push((a, to));
        }
    }
    f.finish()?;
    let start = start.ok_or_else(|| Error::field("start", "required"))?;
    visible_calendar(app, ctx, id).await?;
    let cals = calendars(app).await?;
    let cal = cals.get(id).ok_or(Error::NotFound)?;
    let deadline = cal
        .deadline_with_pauses(start, business_ms, &pauses)
        .map_err(|e| Error::field("duration_minutes", e.to_string()))?;
    Ok(DeadlineView {
        calendar_id: id.0,
        start,
        deadline,
        deadline_local: deadline.map(|d| d.rfc3339_in(cal.tz())),
        business_ms,
        elapsed_ms: deadline.map(|d| d.0 - start.0),
    })
}

// ---------------------------------------------------------------- policies

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PolicyView {
    pub id: i64,
    pub name: String,
    /// `first_reply`, `proposal` or `resolution`
    pub metric: String,
    /// A ticket kind, or absent for any.
    pub kind: Option<String>,
    pub category: Option<String>,
    pub priority: Option<String>,
    /// `standard` or `premium`, or absent for any.
    pub tier: Option<String>,
    /// Business minutes on the calendar.
    pub target_minutes: i64,
    pub calendar_id: i64,
    pub warn_percent: i64,
    pub active: bool,
    pub version: i64,
}

impl PolicyView {
    fn of(p: &SlaPolicy) -> Self {
        Self {
            id: p.id.0,
            name: p.name.clone(),
            metric: p.metric.as_str().into(),
            kind: p.kind.map(|x| x.as_str().into()),
            category: p.category.map(|x| x.as_str().into()),
            priority: p.priority.map(|x| x.as_str().into()),
            tier: p.tier.map(|x| x.as_str().into()),
            target_minutes: p.target_minutes,
            calendar_id: p.calendar_id.0,
            warn_percent: i64::from(p.warn_percent),
            active: p.active,
            version: p.version,
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyInput {
    #[serde(default)]
    pub name: String,
    /// `first_reply`, `proposal` or `resolution`
    pub metric: String,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub priority: Option<String>,
    #[serde(default)]
    pub tier: Option<String>,
    /// Business minutes, at least 1.
    pub target_minutes: i64,
    pub calendar_id: i64,
    /// Warn after this share of the target (0–100, default 80).
    #[serde(default = "default_warn")]
    pub warn_percent: i64,
    #[serde(default = "default_true")]
    pub active: bool,
}

fn default_warn() -> i64 {
    80
}

fn default_true() -> bool {
    true
}

fn opt_enum<T>(
    f: &mut Fields,
    field: &str,
    v: Option<&str>,
    parse: fn(&str) -> Option<T>,
    expected: &str,
) -> Option<T> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => {
            let r = parse(s);
            if r.is_none() {
                f.add(field, format!("one of {expected}"));
            }
            r
        }
    }
}

fn names<T: Copy>(all: &[T], name: fn(T) -> &'static str) -> String {
    all.iter().map(|x| name(*x)).collect::<Vec<_>>().join(", ")
}

fn parse_policy(i: &PolicyInput) -> Result<SlaPolicy> {
    use domain::account::BrandTier;
    use domain::ticket::{ComplaintCategory, Priority, TicketKind};
    let mut f = Fields::new();
    let name = f
        .take("name", domain::text::optional(Some(&i.name), 100))
        .flatten()
        .unwrap_or_default();
    let metric = SlaMetric::parse(i.metric.trim());
    if metric.is_none() {
        f.add("metric", "first_reply, proposal or resolution");
    }
    let kind = opt_enum(
        &mut f,
        "kind",
        i.kind.as_deref(),
        TicketKind::parse,
        &names(TicketKind::ALL, TicketKind::as_str),
    );
    let category = opt_enum(
        &mut f,
        "category",
        i.category.as_deref(),
        ComplaintCategory::parse,
        &names(ComplaintCategory::ALL, ComplaintCategory::as_str),
    );
    let priority = opt_enum(
        &mut f,
        "priority",
        i.priority.as_deref(),
        Priority::parse,
        &names(Priority::ALL, Priority::as_str),
    );
    let tier = opt_enum(
        &mut f,
        "tier",
        i.tier.as_deref(),
        BrandTier::parse,
        &names(BrandTier::ALL, BrandTier::as_str),
    );
    if category.is_some() && kind.is_some_and(|k| k != TicketKind::Complaint) {
        f.add("category", "only complaints have a category");
    }
    // A year of minutes is far beyond any service level and keeps ms arithmetic small.
    if !(1..=525_600).contains(&i.target_minutes) {
        f.add("target_minutes", "between 1 and 525600");
    }
    let warn_percent = u8::try_from(i.warn_percent).ok().filter(|p| *p <= 100);
    if warn_percent.is_none() {
        f.add("warn_percent", "between 0 and 100");
    }
    f.finish()?;
    Ok(SlaPolicy {
        id: SlaPolicyId(0),
        name,
        metric: metric.ok_or_else(|| Error::field("metric", "required"))?,
        kind,
        category,
        priority,
        tier,
        target_minutes: i.target_minutes,
        calendar_id: CalendarId(i.calendar_id),
        warn_percent: warn_percent.unwrap_or(80),
        active: i.active,
        version: 1,
    })
}

/// Every policy, by metric and id.
pub async fn list_policies(app: &App, ctx: &Ctx) -> Result<Vec<PolicyView>> {
    ctx.require(Permission::CustomerRead)?;
    let all = app
        .db
        .read(|c| Box::pin(async move { db::policies(c).await }))
        .await?;
    Ok(all.iter().map(PolicyView::of).collect())
}

pub async fn get_policy(app: &App, ctx: &Ctx, id: SlaPolicyId) -> Result<PolicyView> {
    ctx.require(Permission::CustomerRead)?;
    let p = app
        .db
        .read(move |c| Box::pin(async move { db::policy(c, id).await }))
        .await?;
    Ok(PolicyView::of(&p))
}

async fn check_calendar(c: &mut Conn, id: CalendarId) -> Result<()> {
    match db::calendar(c, id).await {
        Ok(_) => Ok(()),
        Err(store::Error::NotFound) => Err(Error::field("calendar_id", "no such calendar")),
        Err(e) => Err(e.into()),
    }
}

/// Adds a policy. New clocks choose among active policies; running clocks keep theirs.
pub async fn create_policy(app: &App, ctx: &Ctx, input: PolicyInput) -> Result<PolicyView> {
    let made = create_policy_once(app, ctx, input).await?;
    get_policy(app, ctx, made.id).await
}

/// Creates a policy once per the request's Idempotency-Key: a retry answers with the first.
pub async fn create_policy_once(
    app: &App,
    ctx: &Ctx,
    input: PolicyInput,
) -> Result<Created<SlaPolicyId>> {
    ctx.require(Permission::SlaAdmin)?;
    let p = parse_policy(&input)?;
    let audit = audit_entry(ctx, "create", "sla_policy");
    create_once(app, ctx, SlaPolicyId, move |c| {
        Box::pin(async move {
            check_calendar(c, p.calendar_id).await?;
            let id = db::insert_policy(c, &p, audit.at).await?;
            let after =
                serde_json::to_value(PolicyView::of(&SlaPolicy { id, ..p })).unwrap_or_default();
            audit.write(c, Some(id.0), None, None, Some(after)).await?;
            Ok::<_, Error>(id.0)
        })
    })
    .await
}

/// Replaces a policy read at `version`.
pub async fn update_policy(
    app: &App,
    ctx: &Ctx,
    id: SlaPolicyId,
    version: i64,
    input: PolicyInput,
) -> Result<PolicyView> {
    ctx.require(Permission::SlaAdmin)?;
    let p = parse_policy(&input)?;
    let audit = audit_entry(ctx, "update", "sla_policy");
    app.db
        .write(move |c| {
            Box::pin(async move {
                let before = db::policy(c, id).await?;
                check_calendar(c, p.calendar_id).await?;
                let v = db::update_policy(c, id, version, &p, audit.at).await?;
                let after = SlaPolicy {
                    id,
                    version: v,
                    ..p
                };
                audit
                    .write(
                        c,
                        Some(id.0),
                        None,
                        Some(serde_json::to_value(PolicyView::of(&before)).unwrap_or_default()),
                        Some(serde_json::to_value(PolicyView::of(&after)).unwrap_or_default()),
                    )
                    .await?;
                Ok::<_, Error>(())
            })
        })
        .await?;
    get_policy(app, ctx, id).await
}
