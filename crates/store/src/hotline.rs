//! The hotline (D8): service lines, agent extensions, calls with their raw events, return-call
//! tasks with their attempts, and the answer-rate figures computed from the call records.
//! Calls and return calls are brand-owned: every list and get takes the `Scope`.

use domain::call::{
    AttemptOutcome, Call, CallEventFact, CallEventKind, CallFacts, CallState, Direction,
    ReturnAttempt, ReturnCall, ReturnReason, ReturnStatus,
};
use domain::{
    BrandId, CalendarId, CallId, Cursor, CustomerId, Phone, ReturnCallId, Scope, Timestamp, UserId,
};
use sqlx::FromRow;

use crate::customers::stale_or_missing;
use crate::error::corrupt;
use crate::sql::Filter;
use crate::{Conn, Error};

/// Restricts a query to the brand-owned rows `scope` may see (`col` is the `brand_id` column).
fn brand_scope(f: &mut Filter, scope: &Scope, col: &'static str) {
    match scope {
        Scope::All => {}
        Scope::Brands(brands) => {
            let list = f.bind_list(brands.iter().map(|b| b.0));
            f.and_raw(format!("{col} IN ({list})"));
        }
        _ => {
            f.and_raw("1 = 0".to_string());
        }
    }
}

// ---------------------------------------------------------------- lines and extensions

/// A service number, the brand it serves, the landline its callers see on click-to-call and the
/// calendar whose hours decide "after hours" (None: the settings' landline, the default calendar).
#[derive(Debug, Clone, PartialEq, Eq, FromRow, serde::Serialize)]
pub struct Line {
    pub id: i64,
    pub number: String,
    pub brand_id: Option<i64>,
    pub name: String,
    pub landline: Option<String>,
    pub calendar_id: Option<i64>,
    pub active: i64,
    pub version: i64,
}

const SELECT_LINES: &str =
    "SELECT id, number, brand_id, name, landline, calendar_id, active, version FROM hotline_lines";

/// The active line `called` is, if any (None: the company's own or an unknown line).
pub async fn line_of(c: &mut Conn, called: &str) -> Result<Option<Line>, Error> {
    let mut f = Filter::new();
    f.and("number = ?", vec![called.to_string()]);
    f.and_raw("active = 1".to_string());
    let rows: Vec<Line> = f.fetch_all(c, SELECT_LINES, "").await?;
    Ok(rows.into_iter().next())
}

/// The brand whose active line `called` is (None: the company's own or an unknown line).
pub async fn line_brand(c: &mut Conn, called: &str) -> Result<Option<BrandId>, Error> {
    Ok(line_of(c, called)
        .await?
        .and_then(|l| l.brand_id)
        .map(BrandId))
}

/// A line's fields as an administrator sets them.
#[derive(Debug, Clone)]
pub struct LineDraft<'a> {
    pub number: &'a str,
    pub brand: Option<BrandId>,
    pub name: &'a str,
    pub landline: Option<&'a Phone>,
    pub calendar: Option<CalendarId>,
    pub active: bool,
}

/// Adds a line; a number already on record → `Duplicate`.
pub async fn insert_line(c: &mut Conn, d: &LineDraft<'_>, at: Timestamp) -> Result<i64, Error> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO hotline_lines (number, brand_id, name, landline, calendar_id, active, version, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7) RETURNING id",
    )
    .bind(d.number)
    .bind(d.brand.map(|b| b.0))
    .bind(d.name)
    .bind(d.landline.map(Phone::as_str))
    .bind(d.calendar.map(|x| x.0))
    .bind(i64::from(d.active))
    .bind(at.0)
    .fetch_one(&mut *c)
    .await?;
    Ok(id)
}

/// Updates the line with `d.number` if it is still at `version` (any version when None);
/// returns the new version.
pub async fn update_line(
    c: &mut Conn,
    d: &LineDraft<'_>,
    version: Option<i64>,
    at: Timestamp,
) -> Result<i64, Error> {
    let row: Option<(i64, i64)> = sqlx::query_as(
        "UPDATE hotline_lines SET brand_id = $1, name = $2, landline = $3, calendar_id = $4, active = $5, version = version + 1, updated_at = $6
         WHERE number = $7 AND ($8 < 0 OR version = $8) RETURNING id, version",
    )
    .bind(d.brand.map(|b| b.0))
    .bind(d.name)
    .bind(d.landline.map(Phone::as_str))
    .bind(d.calendar.map(|x| x.0))
    .bind(i64::from(d.active))
    .bind(at.0)
    .bind(d.number)
    .bind(version.unwrap_or(-1))
    .fetch_optional(&mut *c)
    .await?;
    match row {
        Some((_, v)) => Ok(v),
        None => Err(if get_line(c, d.number).await?.is_some() {
            Error::VersionConflict
        } else {
            Error::NotFound
        }),
    }
}

pub async fn get_line(c: &mut Conn, number: &str) -> Result<Option<Line>, Error> {
    let mut f = Filter::new();
    f.and("number = ?", vec![number.to_string()]);
    let rows: Vec<Line> = f.fetch_all(c, SELECT_LINES, "").await?;
    Ok(rows.into_iter().next())
}

/// Every line, active ones first, by number.
pub async fn lines(c: &mut Conn) -> Result<Vec<Line>, Error> {
    Filter::new()
        .fetch_all(c, SELECT_LINES, " ORDER BY active DESC, number")
        .await
}

/// An agent's extension and the phone rung first when they click to call.
#[derive(Debug, Clone, PartialEq, Eq, FromRow, serde::Serialize)]
pub struct Extension {
    pub extension: String,
    pub user_id: i64,
    pub display_name: String,
    pub phone: Option<String>,
    pub active: i64,
    pub version: i64,
}

/// Binds `extension` to `user` (one extension per user, one user per extension: a previous
/// binding of either is replaced). With `version`, the extension must still be at it.
pub async fn set_extension(
    c: &mut Conn,
    extension: &str,
    user: UserId,
    phone: Option<&Phone>,
    active: bool,
    version: Option<i64>,
    at: Timestamp,
) -> Result<(), Error> {
    if let Some(v) = version {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT version FROM agent_extensions WHERE extension = $1")
                .bind(extension)
                .fetch_optional(&mut *c)
                .await?;
        match row {
            None => return Err(Error::NotFound),
            Some((cur,)) if cur != v => return Err(Error::VersionConflict),
            Some(_) => {}
        }
    }
    sqlx::query("DELETE FROM agent_extensions WHERE user_id = $1 AND extension <> $2")
        .bind(user.0)
        .bind(extension)
        .execute(&mut *c)
        .await?;
    sqlx::query(
        "INSERT INTO agent_extensions (extension, user_id, phone, active, version, created_at, updated_at) VALUES ($1, $2, $3, $4, 1, $5, $5)
         ON CONFLICT (extension) DO UPDATE SET user_id = excluded.user_id, phone = excluded.phone, active = excluded.active,
         version = agent_extensions.version + 1, updated_at = excluded.updated_at",
    )
    .bind(extension)
    .bind(user.0)
    .bind(phone.map(Phone::as_str))
    .bind(i64::from(active))
    .bind(at.0)
    .execute(&mut *c)
    .await?;
    Ok(())
}

pub async fn remove_extension(c: &mut Conn, extension: &str) -> Result<(), Error> {
    let done = sqlx::query("DELETE FROM agent_extensions WHERE extension = $1")
        .bind(extension)
        .execute(&mut *c)
        .await?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}

/// Every extension, active ones first, by extension.
pub async fn extensions(c: &mut Conn) -> Result<Vec<Extension>, Error> {
    Ok(sqlx::query_as(
        "SELECT e.extension, e.user_id, u.display_name, e.phone, e.active, e.version FROM agent_extensions e JOIN users u ON u.id = e.user_id ORDER BY e.active DESC, e.extension",
    )
    .fetch_all(&mut *c)
    .await?)
}

/// The active agent at `extension`.
pub async fn agent_at(c: &mut Conn, extension: &str) -> Result<Option<UserId>, Error> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT e.user_id FROM agent_extensions e JOIN users u ON u.id = e.user_id WHERE e.extension = $1 AND e.active = 1 AND u.active = 1",
    )
    .bind(extension)
    .fetch_optional(&mut *c)
    .await?;
    Ok(row.map(|(u,)| UserId(u)))
}

/// The phone the platform rings first for `user`: the extension's phone, else the user's own.
pub async fn agent_phone(c: &mut Conn, user: UserId) -> Result<Option<String>, Error> {
    let row: Option<(Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT (SELECT e.phone FROM agent_extensions e WHERE e.user_id = u.id AND e.active = 1), u.phone FROM users u WHERE u.id = $1",
    )
    .bind(user.0)
    .fetch_optional(&mut *c)
    .await?;
    Ok(row.and_then(|(a, b)| a.or(b)).filter(|p| !p.is_empty()))
}

// ---------------------------------------------------------------- calls and events

#[derive(FromRow)]
struct CallRow {
    id: i64,
    provider: String,
    provider_call_id: String,
    brand_id: Option<i64>,
    direction: String,
    caller: Option<String>,
    caller_raw: String,
    called: String,
    customer_id: Option<i64>,
    customer_name: Option<String>,
    extension: Option<String>,
    agent_user_id: Option<i64>,
    agent_name: Option<String>,
    state: String,
    ringing_at: i64,
    answered_at: Option<i64>,
    ended_at: Option<i64>,
    after_hours: i64,
    recording_url: Option<String>,
    voicemail_url: Option<String>,
    return_call_id: Option<i64>,
    version: i64,
}

const SELECT_CALLS: &str = "SELECT c.id, c.provider, c.provider_call_id, c.brand_id, c.direction, c.caller, c.caller_raw, c.called, c.customer_id, cu.name AS customer_name, c.extension, c.agent_user_id, u.display_name AS agent_name, c.state, c.ringing_at, c.answered_at, c.ended_at, c.after_hours, c.recording_url, c.voicemail_url, c.return_call_id, c.version FROM calls c LEFT JOIN customers cu ON cu.id = c.customer_id LEFT JOIN users u ON u.id = c.agent_user_id";

impl TryFrom<CallRow> for Call {
    type Error = Error;
    fn try_from(r: CallRow) -> Result<Self, Error> {
        Ok(Call {
            id: CallId(r.id),
            provider: r.provider,
            provider_call_id: r.provider_call_id,
            brand_id: r.brand_id.map(BrandId),
            direction: Direction::parse(&r.direction)
                .ok_or_else(|| corrupt("call direction", &r.direction))?,
            caller: r.caller.as_deref().and_then(|p| Phone::parse(p).ok()),
            caller_raw: r.caller_raw,
            called: r.called,
            customer_id: r.customer_id.map(CustomerId),
            customer_name: r.customer_name,
            extension: r.extension,
            agent_user_id: r.agent_user_id.map(UserId),
            agent_name: r.agent_name,
            state: CallState::parse(&r.state).ok_or_else(|| corrupt("call state", &r.state))?,
            ringing_at: Timestamp(r.ringing_at),
            answered_at: r.answered_at.map(Timestamp),
            ended_at: r.ended_at.map(Timestamp),
            after_hours: r.after_hours != 0,
            recording_url: r.recording_url,
            voicemail_url: r.voicemail_url,
            return_call_id: r.return_call_id.map(ReturnCallId),
            version: r.version,
        })
    }
}

/// A call as first seen.
#[derive(Debug, Clone)]
pub struct NewCall<'a> {
    pub provider: &'a str,
    pub provider_call_id: &'a str,
    pub brand_id: Option<BrandId>,
    pub direction: Direction,
    pub caller: Option<&'a Phone>,
    pub caller_raw: &'a str,
    pub called: &'a str,
    pub customer_id: Option<CustomerId>,
    pub agent_user_id: Option<UserId>,
    pub state: CallState,
    pub ringing_at: Timestamp,
    pub after_hours: bool,
    pub at: Timestamp,
}

/// Inserts the call unless the provider's call id is already known (two first events of one
/// call arriving at once); the caller then reads it with `find_call`.
pub async fn insert_call(c: &mut Conn, n: &NewCall<'_>) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO calls (provider, provider_call_id, brand_id, direction, caller, caller_raw, called, customer_id, agent_user_id, state, ringing_at, after_hours, version, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 1, $13, $13) ON CONFLICT (provider, provider_call_id) DO NOTHING",
    )
    .bind(n.provider)
    .bind(n.provider_call_id)
    .bind(n.brand_id.map(|b| b.0))
    .bind(n.direction.as_str())
    .bind(n.caller.map(Phone::as_str))
    .bind(n.caller_raw)
    .bind(n.called)
    .bind(n.customer_id.map(|x| x.0))
    .bind(n.agent_user_id.map(|x| x.0))
    .bind(n.state.as_str())
    .bind(n.ringing_at.0)
    .bind(i64::from(n.after_hours))
    .bind(n.at.0)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// The call the provider knows as `provider_call_id` (no scope: the telephony callback is the
/// system itself).
pub async fn find_call(
    c: &mut Conn,
    provider: &str,
    provider_call_id: &str,
) -> Result<Option<Call>, Error> {
    let mut f = Filter::new();
    f.and("c.provider = ?", vec![provider.to_string()]);
    f.and("c.provider_call_id = ?", vec![provider_call_id.to_string()]);
    let rows: Vec<CallRow> = f.fetch_all(c, SELECT_CALLS, "").await?;
    rows.into_iter().next().map(Call::try_from).transpose()
}

pub async fn get_call(c: &mut Conn, scope: &Scope, id: CallId) -> Result<Call, Error> {
    let mut f = Filter::new();
    f.and("c.id = ?", vec![id.0]);
    brand_scope(&mut f, scope, "c.brand_id");
    let row: CallRow = f.fetch_one(c, SELECT_CALLS, "").await?;
    row.try_into()
}

/// The call of the provider's event, if that event was already received.
pub async fn event_seen(
    c: &mut Conn,
    provider: &str,
    event_id: &str,
) -> Result<Option<CallId>, Error> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT call_id FROM call_events WHERE provider = $1 AND event_id = $2")
            .bind(provider)
            .bind(event_id)
            .fetch_optional(&mut *c)
            .await?;
    Ok(row.map(|(id,)| CallId(id)))
}

/// Takes the call's row lock (PostgreSQL; SQLite has one writer) so that events of one call
/// are applied one after another, each seeing the ones before.
pub async fn lock_call(c: &mut Conn, id: CallId) -> Result<(), Error> {
    sqlx::query("UPDATE calls SET version = version + 1 WHERE id = $1")
        .bind(id.0)
        .execute(&mut *c)
        .await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub call_id: CallId,
    pub provider: &'a str,
    pub event_id: &'a str,
    pub kind: CallEventKind,
    pub at: Timestamp,
    pub extension: Option<&'a str>,
    pub media_url: Option<&'a str>,
    pub payload: &'a str,
    pub received_at: Timestamp,
}

pub async fn insert_event(c: &mut Conn, e: &NewEvent<'_>) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO call_events (call_id, provider, event_id, kind, at, extension, media_url, payload, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(e.call_id.0)
    .bind(e.provider)
    .bind(e.event_id)
    .bind(e.kind.as_str())
    .bind(e.at.0)
    .bind(e.extension)
    .bind(e.media_url)
    .bind(e.payload)
    .bind(e.received_at.0)
    .execute(&mut *c)
    .await?;
    Ok(())
}

pub async fn events_of(c: &mut Conn, call: CallId) -> Result<Vec<CallEventFact>, Error> {
    let rows: Vec<(String, i64, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT kind, at, extension, media_url FROM call_events WHERE call_id = $1 ORDER BY at, id",
    )
    .bind(call.0)
    .fetch_all(&mut *c)
    .await?;
    rows.into_iter()
        .map(|(kind, at, extension, media_url)| {
            Ok(CallEventFact {
                kind: CallEventKind::parse(&kind).ok_or_else(|| corrupt("call event", &kind))?,
                at: Timestamp(at),
                extension,
                media_url,
            })
        })
        .collect()
}

/// Writes what the events now say about the call.
pub async fn update_facts(
    c: &mut Conn,
    id: CallId,
    facts: &CallFacts,
    agent: Option<UserId>,
    after_hours: bool,
    at: Timestamp,
) -> Result<(), Error> {
    sqlx::query(
        "UPDATE calls SET state = $1, ringing_at = $2, answered_at = $3, ended_at = $4, recording_url = $5, voicemail_url = $6, extension = $7,
         agent_user_id = $8, after_hours = $9, version = version + 1, updated_at = $10 WHERE id = $11",
    )
    .bind(facts.state.as_str())
    .bind(facts.ringing_at.0)
    .bind(facts.answered_at.map(|t| t.0))
    .bind(facts.ended_at.map(|t| t.0))
    .bind(&facts.recording_url)
    .bind(&facts.voicemail_url)
    .bind(&facts.extension)
    .bind(agent.map(|u| u.0))
    .bind(i64::from(after_hours))
    .bind(at.0)
    .bind(id.0)
    .execute(&mut *c)
    .await?;
    Ok(())
}

pub async fn set_call_return(
    c: &mut Conn,
    call: CallId,
    rc: Option<ReturnCallId>,
) -> Result<(), Error> {
    sqlx::query("UPDATE calls SET return_call_id = $1, version = version + 1 WHERE id = $2")
        .bind(rc.map(|r| r.0))
        .bind(call.0)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// How a call ended, as the call list filters it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Someone picked up (answered or completed).
    Answered,
    Missed,
    Abandoned,
    Voicemail,
    /// It rang while the desk was closed.
    AfterHours,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Outcome::Answered,
        Outcome::Missed,
        Outcome::Abandoned,
        Outcome::Voicemail,
        Outcome::AfterHours,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::Missed => "missed",
            Outcome::Abandoned => "abandoned",
            Outcome::Voicemail => "voicemail",
            Outcome::AfterHours => "after_hours",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// What the call list can be narrowed by.
#[derive(Debug, Clone, Default)]
pub struct CallQuery {
    pub state: Option<CallState>,
    pub outcome: Option<Outcome>,
    pub direction: Option<Direction>,
    pub phone: Option<String>,
    pub customer: Option<CustomerId>,
    pub agent: Option<UserId>,
    /// The service number called (a line).
    pub line: Option<String>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    /// Calls after this one in the list's order: (`ringing_at`, id).
    pub after: Option<(Timestamp, CallId)>,
    pub limit: u32,
}

/// Calls newest first (by first ring, then id), keyset-paged.
pub async fn list_calls(
    c: &mut Conn,
    scope: &Scope,
    q: &CallQuery,
) -> Result<crate::Page<Call>, Error> {
    let mut f = Filter::new();
    brand_scope(&mut f, scope, "c.brand_id");
    if let Some(s) = q.state {
        f.and("c.state = ?", vec![s.as_str().to_string()]);
    }
    match q.outcome {
        None => {}
        Some(Outcome::Answered) => {
            f.and_raw("c.answered_at IS NOT NULL".to_string());
        }
        Some(Outcome::AfterHours) => {
            f.and_raw("c.after_hours = 1".to_string());
        }
        Some(o) => {
            f.and("c.state = ?", vec![o.as_str().to_string()]);
        }
    }
    if let Some(d) = q.direction {
        f.and("c.direction = ?", vec![d.as_str().to_string()]);
    }
    if let Some(p) = &q.phone {
        f.and("(c.caller = ? OR c.called = ?)", vec![p.clone(), p.clone()]);
    }
    if let Some(cu) = q.customer {
        f.and("c.customer_id = ?", vec![cu.0]);
    }
    if let Some(u) = q.agent {
        f.and("c.agent_user_id = ?", vec![u.0]);
    }
    if let Some(l) = &q.line {
        f.and("c.called = ?", vec![l.clone()]);
    }
    if let Some(t) = q.from {
        f.and("c.ringing_at >= ?", vec![t.0]);
    }
    if let Some(t) = q.to {
        f.and("c.ringing_at < ?", vec![t.0]);
    }
    if let Some((t, id)) = q.after {
        f.and(
            "(c.ringing_at < ? OR (c.ringing_at = ? AND c.id < ?))",
            vec![t.0, t.0, id.0],
        );
    }
    let limit = q.limit.clamp(1, 200);
    let lim = f.bind(i64::from(limit) + 1);
    let rows: Vec<CallRow> = f
        .fetch_all(
            c,
            SELECT_CALLS,
            &format!(" ORDER BY c.ringing_at DESC, c.id DESC LIMIT {lim}"),
        )
        .await?;
    let items = rows
        .into_iter()
        .map(Call::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(crate::customers::page(items, i64::from(limit), |x| {
        Cursor {
            key: x.ringing_at.0.to_string(),
            id: x.id.0,
        }
    }))
}

// ---------------------------------------------------------------- return calls

#[derive(FromRow)]
struct ReturnRow {
    id: i64,
    brand_id: Option<i64>,
    call_id: i64,
    customer_id: Option<i64>,
    customer_name: Option<String>,
    phone: String,
    reason: String,
    calls_count: i64,
    due_at: i64,
    status: String,
    attempts: i64,
    max_attempts: i64,
    assignee_id: Option<i64>,
    closed_at: Option<i64>,
    version: i64,
    created_at: i64,
}

const SELECT_RETURNS: &str = "SELECT r.id, r.brand_id, r.call_id, r.customer_id, cu.name AS customer_name, r.phone, r.reason, r.calls_count, r.due_at, r.status, r.attempts, r.max_attempts, r.assignee_id, r.closed_at, r.version, r.created_at FROM return_calls r LEFT JOIN customers cu ON cu.id = r.customer_id";

impl TryFrom<ReturnRow> for ReturnCall {
    type Error = Error;
    fn try_from(r: ReturnRow) -> Result<Self, Error> {
        Ok(ReturnCall {
            id: ReturnCallId(r.id),
            brand_id: r.brand_id.map(BrandId),
            call_id: CallId(r.call_id),
            customer_id: r.customer_id.map(CustomerId),
            customer_name: r.customer_name,
            phone: Phone::parse(&r.phone).map_err(|_| corrupt("return call phone", &r.phone))?,
            reason: ReturnReason::parse(&r.reason)
                .ok_or_else(|| corrupt("return reason", &r.reason))?,
            calls_count: r.calls_count,
            due_at: Timestamp(r.due_at),
            status: ReturnStatus::parse(&r.status)
                .ok_or_else(|| corrupt("return status", &r.status))?,
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            assignee_id: r.assignee_id.map(UserId),
            closed_at: r.closed_at.map(Timestamp),
            version: r.version,
            created_at: Timestamp(r.created_at),
        })
    }
}

/// The open return call owed to `phone` on `brand`'s lines, if any.
pub async fn open_return_for(
    c: &mut Conn,
    phone: &Phone,
    brand: Option<BrandId>,
) -> Result<Option<ReturnCall>, Error> {
    let mut f = Filter::new();
    f.and("r.phone = ?", vec![phone.as_str().to_string()]);
    f.and(
        "COALESCE(r.brand_id, 0) = ?",
        vec![brand.map_or(0, |b| b.0)],
    );
    f.and_raw("r.status = 'open'".to_string());
    let rows: Vec<ReturnRow> = f.fetch_all(c, SELECT_RETURNS, "").await?;
    rows.into_iter()
        .next()
        .map(ReturnCall::try_from)
        .transpose()
}

#[derive(Debug, Clone)]
pub struct NewReturnCall<'a> {
    pub brand_id: Option<BrandId>,
    pub call_id: CallId,
    pub customer_id: Option<CustomerId>,
    pub phone: &'a Phone,
    pub reason: ReturnReason,
    pub due_at: Timestamp,
    pub max_attempts: i64,
    pub assignee_id: Option<UserId>,
    pub at: Timestamp,
}

pub async fn insert_return_call(
    c: &mut Conn,
    n: &NewReturnCall<'_>,
) -> Result<ReturnCallId, Error> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO return_calls (brand_id, call_id, customer_id, phone, reason, calls_count, due_at, status, attempts, max_attempts, assignee_id, version, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 1, $6, 'open', 0, $7, $8, 1, $9, $9) RETURNING id",
    )
    .bind(n.brand_id.map(|b| b.0))
    .bind(n.call_id.0)
    .bind(n.customer_id.map(|x| x.0))
    .bind(n.phone.as_str())
    .bind(n.reason.as_str())
    .bind(n.due_at.0)
    .bind(n.max_attempts)
    .bind(n.assignee_id.map(|u| u.0))
    .bind(n.at.0)
    .fetch_one(&mut *c)
    .await?;
    Ok(ReturnCallId(id))
}

/// One more unanswered call from the same number joins an open task (filling in the customer
/// if the task had none).
pub async fn add_call_to_return(
    c: &mut Conn,
    id: ReturnCallId,
    customer: Option<CustomerId>,
    at: Timestamp,
) -> Result<(), Error> {
    sqlx::query(
        "UPDATE return_calls SET calls_count = calls_count + 1, customer_id = COALESCE(customer_id, $1), version = version + 1, updated_at = $2 WHERE id = $3",
    )
    .bind(customer.map(|x| x.0))
    .bind(at.0)
    .bind(id.0)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// A call behind an open task turned out answered: it leaves the task, and a task no call is
/// left behind (and nobody has tried yet) is cancelled. Returns whether the task was cancelled.
pub async fn withdraw_call(
    c: &mut Conn,
    id: ReturnCallId,
    call: CallId,
    at: Timestamp,
) -> Result<bool, Error> {
    set_call_return(c, call, None).await?;
    let cancelled = sqlx::query(
        "UPDATE return_calls SET status = 'cancelled', closed_at = $1, calls_count = 0, version = version + 1, updated_at = $1
         WHERE id = $2 AND status = 'open' AND attempts = 0 AND calls_count <= 1",
    )
    .bind(at.0)
    .bind(id.0)
    .execute(&mut *c)
    .await?
    .rows_affected()
        > 0;
    if !cancelled {
        sqlx::query(
            "UPDATE return_calls SET calls_count = calls_count - 1, version = version + 1, updated_at = $1 WHERE id = $2 AND status = 'open' AND calls_count > 1",
        )
        .bind(at.0)
        .bind(id.0)
        .execute(&mut *c)
        .await?;
    }
    Ok(cancelled)
}

pub async fn get_return_call(
    c: &mut Conn,
    scope: &Scope,
    id: ReturnCallId,
) -> Result<ReturnCall, Error> {
    let mut f = Filter::new();
    f.and("r.id = ?", vec![id.0]);
    brand_scope(&mut f, scope, "r.brand_id");
    let row: ReturnRow = f.fetch_one(c, SELECT_RETURNS, "").await?;
    row.try_into()
}

/// What the return-call list can be narrowed by.
#[derive(Debug, Clone, Default)]
pub struct ReturnQuery {
    pub status: Option<ReturnStatus>,
    pub assignee: Option<UserId>,
    pub due_from: Option<Timestamp>,
    pub due_to: Option<Timestamp>,
    /// Tasks after this one in the list's order: (open first, `due_at`, id).
    pub after: Option<(bool, Timestamp, ReturnCallId)>,
    pub limit: u32,
}

/// Open tasks first, then closed ones; each by due time (earliest first), then id. Keyset-paged.
pub async fn list_return_calls(
    c: &mut Conn,
    scope: &Scope,
    q: &ReturnQuery,
) -> Result<crate::Page<ReturnCall>, Error> {
    const RANK: &str = "CASE WHEN r.status = 'open' THEN 0 ELSE 1 END";
    let mut f = Filter::new();
    brand_scope(&mut f, scope, "r.brand_id");
    if let Some(s) = q.status {
        f.and("r.status = ?", vec![s.as_str().to_string()]);
    }
    if let Some(u) = q.assignee {
        f.and("r.assignee_id = ?", vec![u.0]);
    }
    if let Some(t) = q.due_from {
        f.and("r.due_at >= ?", vec![t.0]);
    }
    if let Some(t) = q.due_to {
        f.and("r.due_at < ?", vec![t.0]);
    }
    if let Some((open, due, id)) = q.after {
        let rank = f.bind(i64::from(!open));
        let rank2 = f.bind(i64::from(!open));
        let d1 = f.bind(due.0);
        let d2 = f.bind(due.0);
        let i = f.bind(id.0);
        f.and_raw(format!(
            "({RANK} > {rank} OR ({RANK} = {rank2} AND (r.due_at > {d1} OR (r.due_at = {d2} AND r.id > {i}))))"
        ));
    }
    let limit = q.limit.clamp(1, 200);
    let lim = f.bind(i64::from(limit) + 1);
    let rows: Vec<ReturnRow> = f
        .fetch_all(
            c,
            SELECT_RETURNS,
            &format!(" ORDER BY {RANK}, r.due_at, r.id LIMIT {lim}"),
        )
        .await?;
    let items = rows
        .into_iter()
        .map(ReturnCall::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(crate::customers::page(items, i64::from(limit), |r| {
        Cursor {
            key: format!(
                "{}:{}",
                u8::from(r.status != ReturnStatus::Open),
                r.due_at.0
            ),
            id: r.id.0,
        }
    }))
}

/// One attempt on a return call and where it leaves the task.
#[derive(Debug, Clone)]
pub struct NewAttempt<'a> {
    pub at: Timestamp,
    pub by: Option<UserId>,
    pub outcome: AttemptOutcome,
    pub note: Option<&'a str>,
    pub status: ReturnStatus,
}

/// Records an attempt on a task still at `version` and moves it to the attempt's status.
pub async fn record_attempt(
    c: &mut Conn,
    id: ReturnCallId,
    version: i64,
    a: &NewAttempt<'_>,
) -> Result<i64, Error> {
    let NewAttempt {
        at,
        by,
        outcome,
        note,
        status,
    } = *a;
    let done = sqlx::query(
        "UPDATE return_calls SET attempts = attempts + 1, status = $1, closed_at = $2, assignee_id = COALESCE(assignee_id, $3), version = version + 1, updated_at = $4
         WHERE id = $5 AND version = $6 AND status = 'open'",
    )
    .bind(status.as_str())
    .bind((status != ReturnStatus::Open).then_some(at.0))
    .bind(by.map(|u| u.0))
    .bind(at.0)
    .bind(id.0)
    .bind(version)
    .execute(&mut *c)
    .await?;
    if done.rows_affected() == 0 {
        return Err(
            stale_or_missing(c, "SELECT version FROM return_calls WHERE id = $1", id.0).await,
        );
    }
    sqlx::query(
        "INSERT INTO return_call_attempts (return_call_id, at, by_user_id, outcome, note) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id.0)
    .bind(at.0)
    .bind(by.map(|u| u.0))
    .bind(outcome.as_str())
    .bind(note)
    .execute(&mut *c)
    .await?;
    Ok(version + 1)
}

#[derive(FromRow)]
struct AttemptRow {
    at: i64,
    by_user_id: Option<i64>,
    display_name: Option<String>,
    outcome: String,
    note: Option<String>,
}

/// The attempts on each of `ids`, oldest first per task.
pub async fn attempts_of(
    c: &mut Conn,
    ids: &[ReturnCallId],
) -> Result<Vec<(ReturnCallId, ReturnAttempt)>, Error> {
    #[derive(FromRow)]
    struct Row {
        return_call_id: i64,
        at: i64,
        by_user_id: Option<i64>,
        display_name: Option<String>,
        outcome: String,
        note: Option<String>,
    }
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut f = Filter::new();
    let list = f.bind_list(ids.iter().map(|x| x.0));
    f.and_raw(format!("a.return_call_id IN ({list})"));
    let rows: Vec<Row> = f
        .fetch_all(
            c,
            "SELECT a.return_call_id, a.at, a.by_user_id, u.display_name, a.outcome, a.note FROM return_call_attempts a LEFT JOIN users u ON u.id = a.by_user_id",
            " ORDER BY a.return_call_id, a.at, a.id",
        )
        .await?;
    rows.into_iter()
        .map(|r| {
            Ok((
                ReturnCallId(r.return_call_id),
                ReturnAttempt {
                    at: Timestamp(r.at),
                    by: r.by_user_id.map(UserId),
                    by_name: r.display_name,
                    outcome: AttemptOutcome::parse(&r.outcome)
                        .ok_or_else(|| corrupt("attempt outcome", &r.outcome))?,
                    note: r.note,
                },
            ))
        })
        .collect()
}

pub async fn attempts(c: &mut Conn, id: ReturnCallId) -> Result<Vec<ReturnAttempt>, Error> {
    let rows: Vec<AttemptRow> = sqlx::query_as(
        "SELECT a.at, a.by_user_id, u.display_name, a.outcome, a.note FROM return_call_attempts a LEFT JOIN users u ON u.id = a.by_user_id
         WHERE a.return_call_id = $1 ORDER BY a.at, a.id",
    )
    .bind(id.0)
    .fetch_all(&mut *c)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(ReturnAttempt {
                at: Timestamp(r.at),
                by: r.by_user_id.map(UserId),
                by_name: r.display_name,
                outcome: AttemptOutcome::parse(&r.outcome)
                    .ok_or_else(|| corrupt("attempt outcome", &r.outcome))?,
                note: r.note,
            })
        })
        .collect()
}

// ---------------------------------------------------------------- figures

/// Inbound calls that rang in a period, and how they were answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallCounts {
    pub offered: i64,
    pub answered: i64,
    pub missed: i64,
    pub abandoned: i64,
    pub voicemail: i64,
    /// Answered within the target time of the first ring.
    pub answered_fast: i64,
    /// Sum of the times to answer, ms.
    pub total_answer_ms: i64,
    /// The 90th percentile (nearest rank) of the times to answer, ms.
    pub p90_answer_ms: Option<i64>,
}

/// Counts inbound calls with `from <= ringing_at < to` in `scope` (and `brand`, if given);
/// "answered fast" is within `target_ms` of the first ring.
pub async fn counts(
    c: &mut Conn,
    scope: &Scope,
    brand: Option<BrandId>,
    from: Timestamp,
    to: Timestamp,
    target_ms: i64,
) -> Result<CallCounts, Error> {
    #[derive(FromRow)]
    struct Row {
        offered: i64,
        answered: i64,
        missed: i64,
        abandoned: i64,
        voicemail: i64,
        answered_fast: i64,
        total_answer_ms: i64,
    }
    // The target is bound first, as $1, so that the SELECT list can name it before the WHERE.
    let filter = |with_target: bool| {
        let mut f = Filter::new();
        if with_target {
            f.bind(target_ms);
        }
        f.and_raw("c.direction = 'inbound'".to_string());
        f.and("c.ringing_at >= ?", vec![from.0]);
        f.and("c.ringing_at < ?", vec![to.0]);
        brand_scope(&mut f, scope, "c.brand_id");
        if let Some(b) = brand {
            f.and("c.brand_id = ?", vec![b.0]);
        }
        f
    };
    // SUM is NUMERIC on PostgreSQL, which Any cannot decode: cast back to BIGINT.
    let f = filter(true);
    let row: Row = f
        .fetch_one(
            c,
            "SELECT COUNT(*) AS offered,
               CAST(COALESCE(SUM(CASE WHEN c.answered_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS BIGINT) AS answered,
               CAST(COALESCE(SUM(CASE WHEN c.state = 'missed' THEN 1 ELSE 0 END), 0) AS BIGINT) AS missed,
               CAST(COALESCE(SUM(CASE WHEN c.state = 'abandoned' THEN 1 ELSE 0 END), 0) AS BIGINT) AS abandoned,
               CAST(COALESCE(SUM(CASE WHEN c.state = 'voicemail' THEN 1 ELSE 0 END), 0) AS BIGINT) AS voicemail,
               CAST(COALESCE(SUM(CASE WHEN c.answered_at IS NOT NULL AND c.answered_at - c.ringing_at <= $1 THEN 1 ELSE 0 END), 0) AS BIGINT) AS answered_fast,
               CAST(COALESCE(SUM(CASE WHEN c.answered_at IS NOT NULL THEN c.answered_at - c.ringing_at ELSE 0 END), 0) AS BIGINT) AS total_answer_ms
             FROM calls c",
            "",
        )
        .await?;
    let p90 = if row.answered > 0 {
        // Nearest rank: the ceil(0.9 n)-th smallest time to answer.
        let rank = (row.answered * 9 + 9) / 10;
        let mut f = filter(false);
        f.and_raw("c.answered_at IS NOT NULL".to_string());
        let off = f.bind(rank - 1);
        let (v,): (i64,) = f
            .fetch_one(
                c,
                "SELECT c.answered_at - c.ringing_at AS tta FROM calls c",
                &format!(" ORDER BY tta LIMIT 1 OFFSET {off}"),
            )
            .await?;
        Some(v)
    } else {
        None
    };
    Ok(CallCounts {
        offered: row.offered,
        answered: row.answered,
        missed: row.missed,
        abandoned: row.abandoned,
        voicemail: row.voicemail,
        answered_fast: row.answered_fast,
        total_answer_ms: row.total_answer_ms,
        p90_answer_ms: p90,
    })
}
