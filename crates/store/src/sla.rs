//! Business calendars and their days, SLA policies and SLA clocks (D4). Clock rows are read and
//! written whole by app/, which does the arithmetic; the two conditional updates that jobs make
//! (`mark_warned`, `mark_breached`) re-check the instant the job was scheduled for in SQL, so a
//! job made stale by a pause, a resume or a stop changes nothing.

use std::fmt::Write as _;

use domain::account::BrandTier;
use domain::calendar::{DayHours, DayRule};
use domain::sla::{
    CalendarDay, CalendarRecord, SlaClock, SlaMetric, SlaOutcome, SlaPolicy, Subject, SubjectKind,
    Tz,
};
use domain::ticket::{ComplaintCategory, Priority, TicketKind};
use domain::{
    BrandId, CalendarId, Cursor, CustomerId, Date, Scope, SlaClockId, SlaPolicyId, Timestamp,
    UserId,
};
use sqlx::{AssertSqlSafe, FromRow};

use crate::customers::stale_or_missing;
use crate::error::corrupt;
use crate::sql::Filter;
use crate::{Conn, Error};

// ---------------------------------------------------------------- calendars

#[derive(FromRow)]
struct CalendarRow {
    id: i64,
    brand_id: Option<i64>,
    name: String,
    tz: String,
    hours_mon: String,
    hours_tue: String,
    hours_wed: String,
    hours_thu: String,
    hours_fri: String,
    hours_sat: String,
    hours_sun: String,
    is_default: i64,
    version: i64,
    created_at: i64,
    updated_at: i64,
}

const SELECT_CALENDARS: &str = "SELECT id, brand_id, name, tz, hours_mon, hours_tue, hours_wed, hours_thu, hours_fri, hours_sat, hours_sun, is_default, version, created_at, updated_at FROM business_calendars";

fn hours(s: &str) -> Result<DayHours, Error> {
    DayHours::parse(s).map_err(|_| corrupt("opening hours", s))
}

impl TryFrom<CalendarRow> for CalendarRecord {
    type Error = Error;
    fn try_from(r: CalendarRow) -> Result<Self, Error> {
        Ok(CalendarRecord {
            id: CalendarId(r.id),
            brand_id: r.brand_id.map(BrandId),
            tz: r
                .tz
                .parse::<Tz>()
                .map_err(|_| corrupt("time zone", &r.tz))?,
            week: [
                hours(&r.hours_mon)?,
                hours(&r.hours_tue)?,
                hours(&r.hours_wed)?,
                hours(&r.hours_thu)?,
                hours(&r.hours_fri)?,
                hours(&r.hours_sat)?,
                hours(&r.hours_sun)?,
            ],
            name: r.name,
            is_default: r.is_default == 1,
            version: r.version,
            created_at: Timestamp(r.created_at),
            updated_at: Timestamp(r.updated_at),
        })
    }
}

/// Every calendar, default first, then by id (a handful of rows).
pub async fn calendars(c: &mut Conn) -> Result<Vec<CalendarRecord>, Error> {
    let sql = const_format(SELECT_CALENDARS, " ORDER BY is_default DESC, id");
    let rows: Vec<CalendarRow> = sqlx::query_as(AssertSqlSafe(sql))
        .fetch_all(&mut *c)
        .await?;
    rows.into_iter().map(CalendarRecord::try_from).collect()
}

pub async fn calendar(c: &mut Conn, id: CalendarId) -> Result<CalendarRecord, Error> {
    let sql = const_format(SELECT_CALENDARS, " WHERE id = $1");
    let row: CalendarRow = sqlx::query_as(AssertSqlSafe(sql))
        .bind(id.0)
        .fetch_one(&mut *c)
        .await?;
    row.try_into()
}

/// The fragments are literals of this module; joining them keeps one column list.
fn const_format(head: &'static str, tail: &'static str) -> String {
    format!("{head}{tail}")
}

/// What tells a process its cached SLA rules are stale, in one query: every calendar's id and
/// version, and a stamp of the policies (how many, the sum of their versions, the largest id) —
/// an edit bumps a version, an insert or a removal changes the count or the largest id.
pub async fn rules_stamp(c: &mut Conn) -> Result<(Vec<(CalendarId, i64)>, [i64; 3]), Error> {
    let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT 'c', id, version, CAST(0 AS BIGINT) FROM business_calendars
         UNION ALL
         SELECT 'p', CAST(count(*) AS BIGINT), CAST(COALESCE(sum(version), 0) AS BIGINT), CAST(COALESCE(max(id), 0) AS BIGINT) FROM sla_policies",
    )
    .fetch_all(&mut *c)
    .await?;
    let mut calendars = Vec::new();
    let mut policies = [0; 3];
    for (k, a, b, m) in rows {
        if k == "p" {
            policies = [a, b, m];
        } else {
            calendars.push((CalendarId(a), b));
        }
    }
    calendars.sort_by_key(|(id, _)| *id);
    Ok((calendars, policies))
}

/// What an admin edits on a calendar.
#[derive(Debug, Clone)]
pub struct CalendarDraft {
    pub name: String,
    pub tz: Tz,
    pub week: [DayHours; 7],
}

/// Replaces name, zone and weekly hours if `version` is current; returns the new version.
pub async fn update_calendar(
    c: &mut Conn,
    id: CalendarId,
    version: i64,
    d: &CalendarDraft,
    at: Timestamp,
) -> Result<i64, Error> {
    let w: Vec<String> = d.week.iter().map(ToString::to_string).collect();
    let done = sqlx::query(
        "UPDATE business_calendars SET name = $1, tz = $2, hours_mon = $3, hours_tue = $4, hours_wed = $5, hours_thu = $6, hours_fri = $7, hours_sat = $8, hours_sun = $9,
         version = version + 1, updated_at = $10 WHERE id = $11 AND version = $12",
    )
    .bind(&d.name)
    .bind(d.tz.name())
    .bind(&w[0])
    .bind(&w[1])
    .bind(&w[2])
    .bind(&w[3])
    .bind(&w[4])
    .bind(&w[5])
    .bind(&w[6])
    .bind(at.0)
    .bind(id.0)
    .bind(version)
    .execute(&mut *c)
    .await?;
    if done.rows_affected() == 0 {
        return Err(stale_or_missing(
            c,
            "SELECT version FROM business_calendars WHERE id = $1",
            id.0,
        )
        .await);
    }
    Ok(version + 1)
}

/// What still refers to a calendar: SLA policies, clocks (running or finished: their deadlines
/// were counted on it) and hotline lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CalendarUses {
    pub policies: i64,
    /// Whether any clock was counted on it (not how many: that would read every clock).
    pub clocks: bool,
    pub lines: i64,
}

impl CalendarUses {
    pub fn any(&self) -> bool {
        self.policies > 0 || self.clocks || self.lines > 0
    }
}

pub async fn calendar_uses(c: &mut Conn, id: CalendarId) -> Result<CalendarUses, Error> {
    let (policies, clocks, lines): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM sla_policies WHERE calendar_id = $1),
                (SELECT COUNT(*) FROM (SELECT 1 FROM sla_clocks WHERE calendar_id = $1 LIMIT 1) x),
                (SELECT COUNT(*) FROM hotline_lines WHERE calendar_id = $1)",
    )
    .bind(id.0)
    .fetch_one(&mut *c)
    .await?;
    Ok(CalendarUses {
        policies,
        clocks: clocks > 0,
        lines,
    })
}

/// Deletes a calendar that is not the default, with its days, if `version` is current (a
/// default or unknown calendar is `NotFound`). The caller checks [`calendar_uses`] first; the
/// foreign keys refuse a calendar still in use anyway.
pub async fn delete_calendar(c: &mut Conn, id: CalendarId, version: i64) -> Result<(), Error> {
    // The days first (they refer to the calendar); a refusal below rolls them back with the
    // caller's transaction.
    sqlx::query("DELETE FROM calendar_days WHERE calendar_id = $1")
        .bind(id.0)
        .execute(&mut *c)
        .await?;
    let done = sqlx::query(
        "DELETE FROM business_calendars WHERE id = $1 AND version = $2 AND is_default = 0",
    )
    .bind(id.0)
    .bind(version)
    .execute(&mut *c)
    .await?;
    if done.rows_affected() == 0 {
        return Err(stale_or_missing(
            c,
            "SELECT version FROM business_calendars WHERE id = $1 AND is_default = 0",
            id.0,
        )
        .await);
    }
    Ok(())
}

/// A new calendar (never the default) at version 1; returns its id.
pub async fn insert_calendar(
    c: &mut Conn,
    brand: Option<BrandId>,
    d: &CalendarDraft,
    at: Timestamp,
) -> Result<CalendarId, Error> {
    let w: Vec<String> = d.week.iter().map(ToString::to_string).collect();
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO business_calendars (brand_id, name, tz, hours_mon, hours_tue, hours_wed, hours_thu, hours_fri, hours_sat, hours_sun, is_default, version, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, 1, $11, $11) RETURNING id",
    )
    .bind(brand.map(|b| b.0))
    .bind(&d.name)
    .bind(d.tz.name())
    .bind(&w[0])
    .bind(&w[1])
    .bind(&w[2])
    .bind(&w[3])
    .bind(&w[4])
    .bind(&w[5])
    .bind(&w[6])
    .bind(at.0)
    .fetch_one(&mut *c)
    .await?;
    Ok(CalendarId(id))
}

/// Gives calendar `to` (which has no days yet) every exceptional day of `from`; returns how
/// many. One statement, so a seeded year or two of holidays costs one round trip.
pub async fn copy_days(c: &mut Conn, from: CalendarId, to: CalendarId) -> Result<u64, Error> {
    let done = sqlx::query(
        "INSERT INTO calendar_days (calendar_id, date, rule, hours, name)
         SELECT CAST($1 AS BIGINT), date, rule, hours, name FROM calendar_days WHERE calendar_id = $2",
    )
    .bind(to.0)
    .bind(from.0)
    .execute(&mut *c)
    .await?;
    Ok(done.rows_affected())
}

async fn bump_calendar(c: &mut Conn, id: CalendarId, at: Timestamp) -> Result<i64, Error> {
    let row: Option<(i64,)> = sqlx::query_as(
        "UPDATE business_calendars SET version = version + 1, updated_at = $1 WHERE id = $2 RETURNING version",
    )
    .bind(at.0)
    .bind(id.0)
    .fetch_optional(&mut *c)
    .await?;
    row.map(|(v,)| v).ok_or(Error::NotFound)
}

#[derive(FromRow)]
struct DayRow {
    calendar_id: i64,
    date: String,
    rule: String,
    hours: String,
    name: String,
}

impl DayRow {
    fn into_day(self) -> Result<(CalendarId, CalendarDay), Error> {
        let date = Date::parse(&self.date).ok_or_else(|| corrupt("calendar date", &self.date))?;
        let rule = match self.rule.as_str() {
            "closed" => DayRule::Closed,
            "open" => DayRule::Open(hours(&self.hours)?),
            other => return Err(corrupt("calendar day rule", other)),
        };
        Ok((
            CalendarId(self.calendar_id),
            CalendarDay {
                date,
                rule,
                name: self.name,
            },
        ))
    }
}

/// The exceptional days of one calendar, by date.
pub async fn days(c: &mut Conn, id: CalendarId) -> Result<Vec<CalendarDay>, Error> {
    let rows: Vec<DayRow> = sqlx::query_as(
        "SELECT calendar_id, date, rule, hours, name FROM calendar_days WHERE calendar_id = $1 ORDER BY date",
    )
    .bind(id.0)
    .fetch_all(&mut *c)
    .await?;
    rows.into_iter()
        .map(|r| r.into_day().map(|(_, d)| d))
        .collect()
}

/// The exceptional days of the given calendars (what a cache reload reads).
pub async fn days_of(
    c: &mut Conn,
    ids: &[CalendarId],
) -> Result<Vec<(CalendarId, CalendarDay)>, Error> {
    let mut f = Filter::new();
    let list = f.bind_list(ids.iter().map(|i| i.0));
    f.and_raw(format!("calendar_id IN ({list})"));
    let rows: Vec<DayRow> = f
        .fetch_all(
            c,
            "SELECT calendar_id, date, rule, hours, name FROM calendar_days",
            " ORDER BY calendar_id, date",
        )
        .await?;
    rows.into_iter().map(DayRow::into_day).collect()
}

pub async fn day(c: &mut Conn, id: CalendarId, date: Date) -> Result<CalendarDay, Error> {
    let row: DayRow = sqlx::query_as(
        "SELECT calendar_id, date, rule, hours, name FROM calendar_days WHERE calendar_id = $1 AND date = $2",
    )
    .bind(id.0)
    .bind(date.to_string())
    .fetch_one(&mut *c)
    .await?;
    row.into_day().map(|(_, d)| d)
}

/// Sets the rule of one date (insert or replace) and moves the calendar to a new version, which
/// is returned. The calendar must exist.
pub async fn put_day(
    c: &mut Conn,
    id: CalendarId,
    day: &CalendarDay,
    at: Timestamp,
) -> Result<i64, Error> {
    let version = bump_calendar(c, id, at).await?;
    let (rule, hours) = match &day.rule {
        DayRule::Closed => ("closed", String::new()),
        DayRule::Open(h) => ("open", h.to_string()),
    };
    sqlx::query(
        "INSERT INTO calendar_days (calendar_id, date, rule, hours, name) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (calendar_id, date) DO UPDATE SET rule = excluded.rule, hours = excluded.hours, name = excluded.name",
    )
    .bind(id.0)
    .bind(day.date.to_string())
    .bind(rule)
    .bind(hours)
    .bind(&day.name)
    .execute(&mut *c)
    .await?;
    Ok(version)
}

/// Removes the rule of one date; `NotFound` if it had none (nothing changes then).
pub async fn delete_day(
    c: &mut Conn,
    id: CalendarId,
    date: Date,
    at: Timestamp,
) -> Result<i64, Error> {
    let n = sqlx::query("DELETE FROM calendar_days WHERE calendar_id = $1 AND date = $2")
        .bind(id.0)
        .bind(date.to_string())
        .execute(&mut *c)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(Error::NotFound);
    }
    bump_calendar(c, id, at).await
}

// ---------------------------------------------------------------- policies

#[derive(FromRow)]
struct PolicyRow {
    id: i64,
    name: String,
    metric: String,
    kind: Option<String>,
    category: Option<String>,
    priority: Option<String>,
    tier: Option<String>,
    target_minutes: i64,
    calendar_id: i64,
    warn_percent: i64,
    active: i64,
    version: i64,
}

fn opt<T>(v: Option<String>, what: &str, parse: fn(&str) -> Option<T>) -> Result<Option<T>, Error> {
    v.map(|s| parse(&s).ok_or_else(|| corrupt(what, &s)))
        .transpose()
}

impl TryFrom<PolicyRow> for SlaPolicy {
    type Error = Error;
    fn try_from(r: PolicyRow) -> Result<Self, Error> {
        Ok(SlaPolicy {
            id: SlaPolicyId(r.id),
            metric: SlaMetric::parse(&r.metric).ok_or_else(|| corrupt("sla metric", &r.metric))?,
            kind: opt(r.kind, "ticket kind", TicketKind::parse)?,
            category: opt(r.category, "complaint category", ComplaintCategory::parse)?,
            priority: opt(r.priority, "priority", Priority::parse)?,
            tier: opt(r.tier, "brand tier", BrandTier::parse)?,
            name: r.name,
            target_minutes: r.target_minutes,
            calendar_id: CalendarId(r.calendar_id),
            warn_percent: u8::try_from(r.warn_percent)
                .map_err(|_| corrupt("warn percent", &r.warn_percent.to_string()))?,
            active: r.active == 1,
            version: r.version,
        })
    }
}

const SELECT_POLICIES: &str = "SELECT id, name, metric, kind, category, priority, tier, target_minutes, calendar_id, warn_percent, active, version FROM sla_policies";

/// Every policy, by metric and id.
pub async fn policies(c: &mut Conn) -> Result<Vec<SlaPolicy>, Error> {
    let rows: Vec<PolicyRow> = sqlx::query_as(AssertSqlSafe(const_format(
        SELECT_POLICIES,
        " ORDER BY metric, id",
    )))
    .fetch_all(&mut *c)
    .await?;
    rows.into_iter().map(SlaPolicy::try_from).collect()
}

/// The active policies, every metric: the candidates a plan chooses from.
pub async fn active_policies(c: &mut Conn) -> Result<Vec<SlaPolicy>, Error> {
    let mut f = Filter::new();
    f.and("active = ?", vec![1_i64]);
    let rows: Vec<PolicyRow> = f.fetch_all(c, SELECT_POLICIES, " ORDER BY id").await?;
    rows.into_iter().map(SlaPolicy::try_from).collect()
}

pub async fn policy(c: &mut Conn, id: SlaPolicyId) -> Result<SlaPolicy, Error> {
    let row: PolicyRow = sqlx::query_as(AssertSqlSafe(const_format(
        SELECT_POLICIES,
        " WHERE id = $1",
    )))
    .bind(id.0)
    .fetch_one(&mut *c)
    .await?;
    row.try_into()
}

/// A policy as an admin writes it (the `id` and `version` of `SlaPolicy` are ignored).
pub async fn insert_policy(
    c: &mut Conn,
    p: &SlaPolicy,
    at: Timestamp,
) -> Result<SlaPolicyId, Error> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO sla_policies (name, metric, kind, category, priority, tier, target_minutes, calendar_id, warn_percent, active, version, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, $11, $11) RETURNING id",
    )
    .bind(&p.name)
    .bind(p.metric.as_str())
    .bind(p.kind.map(TicketKind::as_str))
    .bind(p.category.map(ComplaintCategory::as_str))
    .bind(p.priority.map(Priority::as_str))
    .bind(p.tier.map(BrandTier::as_str))
    .bind(p.target_minutes)
    .bind(p.calendar_id.0)
    .bind(i64::from(p.warn_percent))
    .bind(i64::from(p.active))
    .bind(at.0)
    .fetch_one(&mut *c)
    .await?;
    Ok(SlaPolicyId(id))
}

/// Replaces a policy if `version` is current; returns the new version.
pub async fn update_policy(
    c: &mut Conn,
    id: SlaPolicyId,
    version: i64,
    p: &SlaPolicy,
    at: Timestamp,
) -> Result<i64, Error> {
    let done = sqlx::query(
        "UPDATE sla_policies SET name = $1, metric = $2, kind = $3, category = $4, priority = $5, tier = $6, target_minutes = $7, calendar_id = $8, warn_percent = $9, active = $10,
         version = version + 1, updated_at = $11 WHERE id = $12 AND version = $13",
    )
    .bind(&p.name)
    .bind(p.metric.as_str())
    .bind(p.kind.map(TicketKind::as_str))
    .bind(p.category.map(ComplaintCategory::as_str))
    .bind(p.priority.map(Priority::as_str))
    .bind(p.tier.map(BrandTier::as_str))
    .bind(p.target_minutes)
    .bind(p.calendar_id.0)
    .bind(i64::from(p.warn_percent))
    .bind(i64::from(p.active))
    .bind(at.0)
    .bind(id.0)
    .bind(version)
    .execute(&mut *c)
    .await?;
    if done.rows_affected() == 0 {
        return Err(
            stale_or_missing(c, "SELECT version FROM sla_policies WHERE id = $1", id.0).await,
        );
    }
    Ok(version + 1)
}

// ---------------------------------------------------------------- clocks

#[derive(FromRow)]
struct ClockRow {
    id: i64,
    subject_kind: String,
    subject_id: i64,
    brand_id: Option<i64>,
    customer_id: Option<i64>,
    metric: String,
    policy_id: Option<i64>,
    calendar_id: i64,
    started_at: i64,
    target_ms: i64,
    warn_ms: i64,
    due_at: Option<i64>,
    warn_at: Option<i64>,
    paused_at: Option<i64>,
    pauses: String,
    stopped_at: Option<i64>,
    outcome: Option<String>,
    warned_at: Option<i64>,
    breached_at: Option<i64>,
    escalated_at: Option<i64>,
    version: i64,
    created_at: i64,
    updated_at: i64,
}

macro_rules! select_clocks {
    ($tail:literal) => {
        concat!(
            "SELECT k.id, k.subject_kind, k.subject_id, k.brand_id, k.customer_id, k.metric, k.policy_id, k.calendar_id, k.started_at, k.target_ms, k.warn_ms, k.due_at, k.warn_at, k.paused_at, k.pauses, k.stopped_at, k.outcome, k.warned_at, k.breached_at, k.escalated_at, k.version, k.created_at, k.updated_at FROM sla_clocks k",
            $tail
        )
    };
}

const SELECT_CLOCKS: &str = select_clocks!("");

impl TryFrom<ClockRow> for SlaClock {
    type Error = Error;
    fn try_from(r: ClockRow) -> Result<Self, Error> {
        let pauses: Vec<(i64, i64)> =
            serde_json::from_str(&r.pauses).map_err(|_| corrupt("clock pauses", &r.pauses))?;
        Ok(SlaClock {
            id: SlaClockId(r.id),
            subject: Subject {
                kind: SubjectKind::parse(&r.subject_kind)
                    .ok_or_else(|| corrupt("subject kind", &r.subject_kind))?,
                id: r.subject_id,
            },
            brand_id: r.brand_id.map(BrandId),
            customer_id: r.customer_id.map(CustomerId),
            metric: SlaMetric::parse(&r.metric).ok_or_else(|| corrupt("sla metric", &r.metric))?,
            policy_id: r.policy_id.map(SlaPolicyId),
            calendar_id: CalendarId(r.calendar_id),
            started_at: Timestamp(r.started_at),
            target_ms: r.target_ms,
            warn_ms: r.warn_ms,
            due_at: r.due_at.map(Timestamp),
            warn_at: r.warn_at.map(Timestamp),
            paused_at: r.paused_at.map(Timestamp),
            pauses: pauses
                .into_iter()
                .map(|(a, b)| (Timestamp(a), Timestamp(b)))
                .collect(),
            stopped_at: r.stopped_at.map(Timestamp),
            outcome: opt(r.outcome, "sla outcome", SlaOutcome::parse)?,
            warned_at: r.warned_at.map(Timestamp),
            breached_at: r.breached_at.map(Timestamp),
            escalated_at: r.escalated_at.map(Timestamp),
            version: r.version,
            created_at: Timestamp(r.created_at),
            updated_at: Timestamp(r.updated_at),
        })
    }
}

fn pauses_json(k: &SlaClock) -> String {
    let list: Vec<[i64; 2]> = k.pauses.iter().map(|(a, b)| [a.0, b.0]).collect();
    serde_json::Value::from(
        list.into_iter()
            .map(|p| serde_json::Value::from(p.to_vec()))
            .collect::<Vec<_>>(),
    )
    .to_string()
}

/// A clock to start.
#[derive(Debug, Clone)]
pub struct NewClock {
    pub subject: Subject,
    pub brand_id: Option<BrandId>,
    pub customer_id: Option<CustomerId>,
    pub metric: SlaMetric,
    pub policy_id: Option<SlaPolicyId>,
    pub calendar_id: CalendarId,
    pub started_at: Timestamp,
    pub target_ms: i64,
    pub warn_ms: i64,
    pub due_at: Option<Timestamp>,
    pub warn_at: Option<Timestamp>,
}

/// The columns a new clock is written with, after its id when the writer hands that out.
macro_rules! clock_columns {
    () => {
        "subject_kind, subject_id, brand_id, customer_id, metric, policy_id, calendar_id, started_at, target_ms, warn_ms, due_at, warn_at, pauses, version, created_at, updated_at"
    };
}

/// Starts the clocks of a subject created in the same write, which therefore has none yet.
/// In the SQLite writer the clocks take their ids from the writer
/// ([`crate::dialect::sqlite_next_id`]), so nothing is read back: a ticket create starts two
/// clocks. A clock that exists after all fails the write. Elsewhere the same as
/// [`insert_clocks`].
pub async fn insert_new_clocks(c: &mut Conn, ks: &[NewClock]) -> Result<Vec<SlaClock>, Error> {
    let Some(ids) = writer_clock_ids(c, ks.len()).await? else {
        return insert_clocks(c, ks).await;
    };
    let mut batch = crate::sql::Batch::new();
    let mut out = Vec::with_capacity(ks.len());
    for (k, id) in ks.iter().zip(ids) {
        batch.push(
            concat!(
                "INSERT INTO sla_clocks (id, ",
                clock_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, '[]', 1, $9, $9)"
            ),
            vec![
                id.into(),
                k.subject.kind.as_str().into(),
                k.subject.id.into(),
                k.brand_id.map(|b| b.0).into(),
                k.customer_id.map(|b| b.0).into(),
                k.metric.as_str().into(),
                k.policy_id.map(|p| p.0).into(),
                k.calendar_id.0.into(),
                k.started_at.0.into(),
                k.target_ms.into(),
                k.warn_ms.into(),
                k.due_at.map(|t| t.0).into(),
                k.warn_at.map(|t| t.0).into(),
            ],
        );
        out.push(SlaClock {
            id: SlaClockId(id),
            subject: k.subject,
            brand_id: k.brand_id,
            customer_id: k.customer_id,
            metric: k.metric,
            policy_id: k.policy_id,
            calendar_id: k.calendar_id,
            started_at: k.started_at,
            target_ms: k.target_ms,
            warn_ms: k.warn_ms,
            due_at: k.due_at,
            warn_at: k.warn_at,
            paused_at: None,
            pauses: Vec::new(),
            stopped_at: None,
            outcome: None,
            warned_at: None,
            breached_at: None,
            escalated_at: None,
            version: 1,
            created_at: k.started_at,
            updated_at: k.started_at,
        });
    }
    batch.run(c).await?;
    Ok(out)
}

/// In the SQLite writer, `n` clock ids handed out by the writer (every clock written there
/// takes its id from it, see [`crate::dialect::sqlite_next_id`]); `None` elsewhere.
async fn writer_clock_ids(c: &mut Conn, n: usize) -> Result<Option<Vec<i64>>, Error> {
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        match crate::dialect::sqlite_next_id(c, "sla_clocks").await? {
            Some(id) => ids.push(id),
            None => return Ok(None),
        }
    }
    Ok(Some(ids))
}

/// Starts the clocks of `ks` in one statement, each unless its subject already has a clock for
/// its metric; returns the new rows in the order of `ks` (those not started are left out).
pub async fn insert_clocks(c: &mut Conn, ks: &[NewClock]) -> Result<Vec<SlaClock>, Error> {
    if ks.is_empty() {
        return Ok(Vec::new());
    }
    // In the SQLite writer the ids come from the writer, like those of `insert_new_clocks`; an
    // id not used because the clock existed is a gap.
    let ids = writer_clock_ids(c, ks.len()).await?;
    let columns = if ids.is_some() { 13 } else { 12 };
    let mut sql = String::from(if ids.is_some() {
        concat!(
            "INSERT INTO sla_clocks (id, ",
            clock_columns!(),
            ") VALUES "
        )
    } else {
        concat!("INSERT INTO sla_clocks (", clock_columns!(), ") VALUES ")
    });
    for i in 0..ks.len() {
        let b = i * columns;
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for col in 1..=columns {
            let _ = write!(sql, "${}, ", b + col);
        }
        // created_at and updated_at are started_at.
        let _ = write!(sql, "'[]', 1, ${0}, ${0})", b + columns - 4);
    }
    sql.push_str(
        " ON CONFLICT (subject_kind, subject_id, metric) DO NOTHING
         RETURNING id, subject_kind, subject_id, brand_id, customer_id, metric, policy_id, calendar_id, started_at, target_ms, warn_ms, due_at, warn_at, paused_at, pauses, stopped_at, outcome, warned_at, breached_at, escalated_at, version, created_at, updated_at",
    );
    // Built from this function's literals and placeholders only.
    let mut q = sqlx::query_as::<_, ClockRow>(AssertSqlSafe(sql));
    for (i, k) in ks.iter().enumerate() {
        if let Some(ids) = &ids {
            q = q.bind(ids[i]);
        }
        q = q
            .bind(k.subject.kind.as_str())
            .bind(k.subject.id)
            .bind(k.brand_id.map(|b| b.0))
            .bind(k.customer_id.map(|b| b.0))
            .bind(k.metric.as_str())
            .bind(k.policy_id.map(|p| p.0))
            .bind(k.calendar_id.0)
            .bind(k.started_at.0)
            .bind(k.target_ms)
            .bind(k.warn_ms)
            .bind(k.due_at.map(|t| t.0))
            .bind(k.warn_at.map(|t| t.0));
    }
    let rows = q.fetch_all(&mut *c).await?;
    let mut clocks = rows
        .into_iter()
        .map(SlaClock::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    // RETURNING gives rows in no promised order.
    clocks.sort_by_key(|k| {
        ks.iter()
            .position(|n| n.subject == k.subject && n.metric == k.metric)
            .unwrap_or(usize::MAX)
    });
    Ok(clocks)
}

/// Writes every mutable column of a clock read at `read_version`, moving it to
/// `read_version + 1` (which `k.version` is set to); `VersionConflict` if it changed meanwhile.
pub async fn save_clock(
    c: &mut Conn,
    k: &mut SlaClock,
    read_version: i64,
    at: Timestamp,
) -> Result<(), Error> {
    let done = sqlx::query(
        "UPDATE sla_clocks SET policy_id = $1, calendar_id = $2, started_at = $3, target_ms = $4, warn_ms = $5, due_at = $6, warn_at = $7, paused_at = $8, pauses = $9,
         stopped_at = $10, outcome = $11, warned_at = $12, breached_at = $13, escalated_at = $14, version = version + 1, updated_at = $15
         WHERE id = $16 AND version = $17",
    )
    .bind(k.policy_id.map(|p| p.0))
    .bind(k.calendar_id.0)
    .bind(k.started_at.0)
    .bind(k.target_ms)
    .bind(k.warn_ms)
    .bind(k.due_at.map(|t| t.0))
    .bind(k.warn_at.map(|t| t.0))
    .bind(k.paused_at.map(|t| t.0))
    .bind(pauses_json(k))
    .bind(k.stopped_at.map(|t| t.0))
    .bind(k.outcome.map(SlaOutcome::as_str))
    .bind(k.warned_at.map(|t| t.0))
    .bind(k.breached_at.map(|t| t.0))
    .bind(k.escalated_at.map(|t| t.0))
    .bind(at.0)
    .bind(k.id.0)
    .bind(read_version)
    .execute(&mut *c)
    .await?;
    if done.rows_affected() == 0 {
        return Err(
            stale_or_missing(c, "SELECT version FROM sla_clocks WHERE id = $1", k.id.0).await,
        );
    }
    k.version = read_version + 1;
    k.updated_at = at;
    Ok(())
}

/// The clocks of one subject, by metric. No scope: callers inside a subject's own write already
/// checked it; readers go through [`clocks_in_scope`].
pub async fn clocks_of(c: &mut Conn, subject: Subject) -> Result<Vec<SlaClock>, Error> {
    let rows: Vec<ClockRow> = sqlx::query_as(select_clocks!(
        " WHERE k.subject_kind = $1 AND k.subject_id = $2 ORDER BY k.metric, k.id"
    ))
    .bind(subject.kind.as_str())
    .bind(subject.id)
    .fetch_all(&mut *c)
    .await?;
    rows.into_iter().map(SlaClock::try_from).collect()
}

pub async fn clock(c: &mut Conn, id: SlaClockId) -> Result<SlaClock, Error> {
    let row: ClockRow = sqlx::query_as(select_clocks!(" WHERE k.id = $1"))
        .bind(id.0)
        .fetch_one(&mut *c)
        .await?;
    row.try_into()
}

/// Restricts a query over `sla_clocks k` to what `scope` may see: brands their own rows, a
/// dealer the clocks of itself and its customers, a customer its own.
fn scope_filter(f: &mut Filter, scope: &Scope) {
    match scope {
        Scope::All => {}
        Scope::Brands(brands) => {
            let list = f.bind_list(brands.iter().map(|b| b.0));
            f.and_raw(format!("k.brand_id IN ({list})"));
        }
        Scope::Dealer(d) => {
            let p1 = f.bind(d.0);
            let p2 = f.bind(d.0);
            f.and_raw(format!("(k.customer_id = {p1} OR k.customer_id IN (SELECT id FROM customers WHERE dealer_id = {p2}))"));
        }
        Scope::Customer(id) => {
            f.and("k.customer_id = ?", vec![id.0]);
        }
        // Outlets and engineers see work orders' clocks once work orders carry them.
        Scope::Outlet(_) | Scope::Engineer(_) => {
            f.and_raw("1 = 0".to_string());
        }
    }
}

/// The clocks of one subject that `scope` may see.
pub async fn clocks_in_scope(
    c: &mut Conn,
    scope: &Scope,
    subject: Subject,
) -> Result<Vec<SlaClock>, Error> {
    let mut f = Filter::new();
    f.and(
        "k.subject_kind = ?",
        vec![subject.kind.as_str().to_string()],
    );
    f.and("k.subject_id = ?", vec![subject.id]);
    scope_filter(&mut f, scope);
    let rows: Vec<ClockRow> = f
        .fetch_all(c, SELECT_CLOCKS, " ORDER BY k.metric, k.id")
        .await?;
    rows.into_iter().map(SlaClock::try_from).collect()
}

/// Running clocks not yet breached whose deadline is before `until`, soonest first (the
/// "about to breach" list). Served by the partial index on `due_at`.
pub async fn due_before(
    c: &mut Conn,
    scope: &Scope,
    until: Timestamp,
    limit: u32,
) -> Result<Vec<SlaClock>, Error> {
    let mut f = Filter::new();
    f.and_raw("k.stopped_at IS NULL AND k.due_at IS NOT NULL AND k.breached_at IS NULL".into());
    f.and("k.due_at <= ?", vec![until.0]);
    scope_filter(&mut f, scope);
    let lim = f.bind(i64::from(limit.clamp(1, 200)));
    let rows: Vec<ClockRow> = f
        .fetch_all(
            c,
            SELECT_CLOCKS,
            &format!(" ORDER BY k.due_at, k.id LIMIT {lim}"),
        )
        .await?;
    rows.into_iter().map(SlaClock::try_from).collect()
}

/// Breached clocks, most recent breach first, from the keyset `after` (`breached_at`, id);
/// `open_only` leaves out stopped ones.
pub async fn breached(
    c: &mut Conn,
    scope: &Scope,
    open_only: bool,
    after: Option<&Cursor>,
    limit: u32,
) -> Result<Vec<SlaClock>, Error> {
    let mut f = Filter::new();
    f.and_raw("k.breached_at IS NOT NULL".into());
    if open_only {
        f.and_raw("k.stopped_at IS NULL".into());
    }
    if let Some(cur) = after {
        let at: i64 = cur.key.parse().unwrap_or(i64::MAX);
        let p1 = f.bind(at);
        let p2 = f.bind(at);
        let p3 = f.bind(cur.id);
        f.and_raw(format!(
            "(k.breached_at < {p1} OR (k.breached_at = {p2} AND k.id < {p3}))"
        ));
    }
    scope_filter(&mut f, scope);
    let lim = f.bind(i64::from(limit.clamp(1, 200)));
    let rows: Vec<ClockRow> = f
        .fetch_all(
            c,
            SELECT_CLOCKS,
            &format!(" ORDER BY k.breached_at DESC, k.id DESC LIMIT {lim}"),
        )
        .await?;
    rows.into_iter().map(SlaClock::try_from).collect()
}

/// Records the warning of a clock whose warning instant is still `warn_at`, that has not been
/// warned, stopped or breached. The clock after the change, or None when the job was stale.
pub async fn mark_warned(
    c: &mut Conn,
    id: SlaClockId,
    warn_at: Timestamp,
    now: Timestamp,
) -> Result<Option<SlaClock>, Error> {
    let row: Option<ClockRow> = sqlx::query_as(
        "UPDATE sla_clocks SET warned_at = $3, version = version + 1, updated_at = $3
         WHERE id = $1 AND warn_at = $2 AND warned_at IS NULL AND stopped_at IS NULL AND breached_at IS NULL AND warn_at <= $3
         RETURNING id, subject_kind, subject_id, brand_id, customer_id, metric, policy_id, calendar_id, started_at, target_ms, warn_ms, due_at, warn_at, paused_at, pauses, stopped_at, outcome, warned_at, breached_at, escalated_at, version, created_at, updated_at",
    )
    .bind(id.0)
    .bind(warn_at.0)
    .bind(now.0)
    .fetch_optional(&mut *c)
    .await?;
    row.map(SlaClock::try_from).transpose()
}

/// Records the breach and its escalation for a clock whose deadline is still `due_at`, has
/// passed, and that is neither stopped nor breached yet. None when the job was stale.
pub async fn mark_breached(
    c: &mut Conn,
    id: SlaClockId,
    due_at: Timestamp,
    now: Timestamp,
) -> Result<Option<SlaClock>, Error> {
    let row: Option<ClockRow> = sqlx::query_as(
        "UPDATE sla_clocks SET breached_at = $3, escalated_at = $3, version = version + 1, updated_at = $3
         WHERE id = $1 AND due_at = $2 AND breached_at IS NULL AND stopped_at IS NULL AND due_at < $3
         RETURNING id, subject_kind, subject_id, brand_id, customer_id, metric, policy_id, calendar_id, started_at, target_ms, warn_ms, due_at, warn_at, paused_at, pauses, stopped_at, outcome, warned_at, breached_at, escalated_at, version, created_at, updated_at",
    )
    .bind(id.0)
    .bind(due_at.0)
    .bind(now.0)
    .fetch_optional(&mut *c)
    .await?;
    row.map(SlaClock::try_from).transpose()
}

/// Active supervisors (role `manager`) with an email who serve `brand`: staff of the operating
/// company (no brand) and the brand's own. (id, display name, email), by id.
pub async fn supervisors(
    c: &mut Conn,
    brand: Option<BrandId>,
) -> Result<Vec<(UserId, String, String)>, Error> {
    let rows: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT u.id, u.display_name, u.email FROM users u
         WHERE u.active = 1 AND u.email IS NOT NULL AND u.email <> ''
           AND EXISTS (SELECT 1 FROM user_roles r WHERE r.user_id = u.id AND r.role = 'manager')
           AND (u.brand_id IS NULL OR u.brand_id = $1)
         ORDER BY u.id",
    )
    .bind(brand.map(|b| b.0))
    .fetch_all(&mut *c)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, n, e)| (UserId(id), n, e))
        .collect())
}
