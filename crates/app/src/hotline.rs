//! The hotline (SPEC D8). The telephony system reports call events by signed HTTP callback
//! (`receive_event`); each event is kept raw, duplicates are acknowledged without effect, and the
//! call is re-derived from the set of its events, so arrival order does not matter. The caller
//! is matched to a customer by phone and popped live on the agent's page (the extension's agent,
//! or every agent of the line's brand). Every unanswered or after-hours call is owed exactly one
//! return call (回拨) — after-hours ones due at opening; more missed calls from the same number
//! join the open task — done only when an attempt reaches the customer or after N attempts.
//! Return calls are placed by click-to-call showing the bound landline. Answer rate and time to
//! answer come from the call records.

use std::collections::BTreeSet;

use chrono::TimeZone as _;
use domain::calendar::{BusinessCalendar, Opening};
use domain::call::{
    self, AttemptOutcome, Call, CallEventKind, CallState, Direction, ReturnAttempt, ReturnCall,
    ReturnStatus,
};
use domain::{
    BrandId, CallId, CustomerId, Date, Permission, Phone, ReturnCallId, Scope, Timestamp, UserId,
};
use serde::{Deserialize, Serialize};
use store::customers;
use store::hotline::{self as db, CallQuery, NewCall, NewEvent, NewReturnCall, ReturnQuery};
use utoipa::ToSchema;

use crate::admin::audit_entry;
use crate::error::Fields;
use crate::once::create_once;
use crate::telephony::{self, DialError, DialRequest, TelephonyEvent};
use crate::{App, Ctx, Error, Result};

/// 08:00–21:00, the hours of the hotline in the users' own words (002: 早八点到晚九点, 365 天).
pub fn default_hours() -> Opening {
    Opening::new(8 * 60, 21 * 60).expect("08:00-21:00 is an opening")
}

/// The desk's business calendar: the stored default calendar (its weekly hours, holidays and
/// make-up days from `calendar_days`, edited under Admin → Calendars); without one, or if it
/// cannot be read, the hotline hours (`KEFU_HOTLINE_HOURS`) every day in the organisation's zone.
pub async fn desk_calendar(app: &App) -> BusinessCalendar {
    match crate::sla::calendars(app).await {
        Ok(cals) => match cals.default_calendar() {
            Some(c) => (**c).clone(),
            None => BusinessCalendar::every_day(app.settings.tz, app.settings.hotline_hours),
        },
        Err(e) => {
            tracing::warn!(error = %e, "business calendars unreadable; using the hotline hours");
            BusinessCalendar::every_day(app.settings.tz, app.settings.hotline_hours)
        }
    }
}

/// The answer-rate target (002: 保证85%的电话是要接起来的).
pub const TARGET_ANSWER_RATE: f64 = 0.85;

// ---------------------------------------------------------------- callbacks

/// What the hotline did with a callback.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Receipt {
    /// Our id of the call.
    pub call_id: i64,
    /// The event had been received before; nothing changed.
    pub duplicate: bool,
    /// The call's state now.
    pub state: String,
    /// The return call the call is owed, if any.
    pub return_call_id: Option<i64>,
}

/// What a pop on the agent's page carries across nodes (full phone: each page masks it for its
/// user).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LivePop {
    kind: String,
    call_id: i64,
    event: String,
    phone: Option<String>,
    caller_raw: String,
    customer_id: Option<i64>,
    customer_name: Option<String>,
    agent_user_id: Option<i64>,
    brand_id: Option<i64>,
    at: i64,
}

struct Parsed {
    provider: String,
    event_id: String,
    call_id: String,
    kind: CallEventKind,
    at: Timestamp,
    direction: Direction,
    caller: Option<Phone>,
    caller_raw: String,
    called: String,
    extension: Option<String>,
    media_url: Option<String>,
}

fn parse_event(e: &TelephonyEvent) -> Result<Parsed> {
    let mut f = Fields::new();
    let kind = CallEventKind::parse(e.kind.trim());
    if kind.is_none() {
        f.add(
            "type",
            "ringing, answered, missed, abandoned, voicemail, ended or recording",
        );
    }
    let event_id = f.take("event_id", domain::text::required(&e.event_id, 128));
    let call_id = f.take("call_id", domain::text::required(&e.call_id, 128));
    let provider = f
        .take(
            "provider",
            domain::text::optional(e.provider.as_deref(), 40),
        )
        .flatten()
        .unwrap_or_else(|| "default".to_string());
    let at = Timestamp::parse_rfc3339(e.at.trim());
    if at.is_none() {
        f.add("at", "an RFC 3339 instant with offset");
    }
    let direction = match e.direction.as_deref().map(str::trim) {
        None | Some("") => Some(Direction::Inbound),
        Some(d) => Direction::parse(d),
    };
    if direction.is_none() {
        f.add("direction", "inbound or outbound");
    }
    let caller_raw = f
        .take(
            "caller",
            domain::text::optional(Some(e.caller.as_str()), 40),
        )
        .flatten()
        .unwrap_or_default();
    let dialled_raw = f
        .take(
            "called",
            domain::text::optional(Some(e.called.as_str()), 40),
        )
        .flatten()
        .unwrap_or_default();
    let extension = f
        .take(
            "extension",
            domain::text::optional(e.extension.as_deref(), 20),
        )
        .flatten();
    let media_url = f
        .take(
            "recording_url",
            domain::text::optional(e.recording_url.as_deref(), 1000),
        )
        .flatten();
    if media_url
        .as_deref()
        .is_some_and(|u| !(u.starts_with("https://") || u.starts_with("http://")))
    {
        f.add("recording_url", "an http or https URL");
    }
    f.finish()?;
    let missing = || Error::field("event", "incomplete");
    Ok(Parsed {
        provider,
        event_id: event_id.ok_or_else(missing)?,
        call_id: call_id.ok_or_else(missing)?,
        kind: kind.ok_or_else(missing)?,
        at: at.ok_or_else(missing)?,
        direction: direction.ok_or_else(missing)?,
        // A withheld or foreign number is kept raw and matches nobody.
        caller: Phone::parse(&caller_raw).ok(),
        called: Phone::parse(&dialled_raw).map_or(dialled_raw, |p| p.as_str().to_string()),
        caller_raw,
        extension,
        media_url,
    })
}

enum Applied {
    Duplicate(CallId),
    Done {
        call: Box<Call>,
        return_call: Option<ReturnCallId>,
    },
}

/// Receives one telephony event (already authenticated by its signature). `raw` is the body as
/// received, kept with the event. A retried event is acknowledged as a duplicate and changes
/// nothing; a pop goes to the agent's page for ringing and answered events.
pub async fn receive_event(
    app: &App,
    ctx: &Ctx,
    event: &TelephonyEvent,
    raw: &str,
) -> Result<Receipt> {
    let p = parse_event(event)?;
    let calendar = desk_calendar(app).await;
    // A line may name its own calendar; unreadable calendars fall back to the desk's.
    let calendars = crate::sla::calendars(app).await.ok();
    let max_attempts = app.settings.return_call_attempts.max(1);
    let mut tries = 0;
    let applied = loop {
        tries += 1;
        match apply_event(
            app,
            ctx,
            &p,
            raw,
            &calendar,
            calendars.clone(),
            max_attempts,
        )
        .await
        {
            // Two callbacks raced (the same event twice, or two first calls from one number):
            // the loser rolled back; looking again sorts it out.
            Err(Error::Duplicate { .. }) if tries < 3 => {}
            other => break other?,
        }
    };
    match applied {
        Applied::Duplicate(id) => {
            let scope = Scope::All;
            let call = app
                .db
                .read(move |c| Box::pin(async move { db::get_call(c, &scope, id).await }))
                .await?;
            Ok(Receipt {
                call_id: id.0,
                duplicate: true,
                state: call.state.as_str().into(),
                return_call_id: call.return_call_id.map(|r| r.0),
            })
        }
        Applied::Done { call, return_call } => {
            if p.kind.pops() && call.direction == Direction::Inbound {
                let pop = LivePop {
                    kind: "call".into(),
                    call_id: call.id.0,
                    event: p.kind.as_str().into(),
                    phone: call.caller.as_ref().map(|x| x.as_str().to_string()),
                    caller_raw: call.caller_raw.clone(),
                    customer_id: call.customer_id.map(|x| x.0),
                    customer_name: call.customer_name.clone(),
                    agent_user_id: call.agent_user_id.map(|x| x.0),
                    brand_id: call.brand_id.map(|x| x.0),
                    at: p.at.0,
                };
                let msg = serde_json::to_string(&pop).unwrap_or_default();
                if let Err(e) = app.db.publish_live(&msg).await {
                    // The call is recorded; only the live pop is lost.
                    tracing::warn!(error = %e, call = call.id.0, "screen-pop not published");
                }
            }
            Ok(Receipt {
                call_id: call.id.0,
                duplicate: false,
                state: call.state.as_str().into(),
                return_call_id: return_call.map(|r| r.0),
            })
        }
    }
}

async fn apply_event(
    app: &App,
    ctx: &Ctx,
    p: &Parsed,
    raw: &str,
    calendar: &BusinessCalendar,
    calendars: Option<std::sync::Arc<crate::sla::Calendars>>,
    max_attempts: i64,
) -> Result<Applied> {
    let now = ctx.now();
    let provider = p.provider.clone();
    let event_id = p.event_id.clone();
    // A duplicate is answered from a read: it changes nothing, not even a version.
    let seen = app
        .db
        .read(move |c| Box::pin(async move { db::event_seen(c, &provider, &event_id).await }))
        .await?;
    if let Some(id) = seen {
        return Ok(Applied::Duplicate(id));
    }
    let p = Parsed {
        provider: p.provider.clone(),
        event_id: p.event_id.clone(),
        call_id: p.call_id.clone(),
        kind: p.kind,
        at: p.at,
        direction: p.direction,
        caller: p.caller.clone(),
        caller_raw: p.caller_raw.clone(),
        called: p.called.clone(),
        extension: p.extension.clone(),
        media_url: p.media_url.clone(),
    };
    let raw = raw.to_string();
    let calendar = calendar.clone();
    let audit_new = audit_entry(ctx, "create", "return_call");
    let audit_join = audit_entry(ctx, "add_call", "return_call");
    let audit_cancel = audit_entry(ctx, "cancel", "return_call");
    app.db
        .write(move |c| {
            Box::pin(async move {
                if db::find_call(c, &p.provider, &p.call_id).await?.is_none() {
                    let brand = db::line_brand(c, &p.called).await?;
                    let scope = brand.map_or(Scope::All, |b| Scope::Brands(BTreeSet::from([b])));
                    let customer = match &p.caller {
                        Some(phone) => customers::find_by_phone(c, &scope, phone)
                            .await?
                            .first()
                            .map(|x| x.id),
                        None => None,
                    };
                    let agent = match &p.extension {
                        Some(x) => db::agent_at(c, x).await?,
                        None => None,
                    };
                    db::insert_call(
                        c,
                        &NewCall {
                            provider: &p.provider,
                            provider_call_id: &p.call_id,
                            brand_id: brand,
                            direction: p.direction,
                            caller: p.caller.as_ref(),
                            caller_raw: &p.caller_raw,
                            called: &p.called,
                            customer_id: customer,
                            agent_user_id: agent,
                            state: CallState::Ringing,
                            ringing_at: p.at,
                            after_hours: false,
                            at: now,
                        },
                    )
                    .await?;
                }
                let found = db::find_call(c, &p.provider, &p.call_id)
                    .await?
                    .ok_or(Error::NotFound)?;
                db::lock_call(c, found.id).await?;
                if db::event_seen(c, &p.provider, &p.event_id).await?.is_some() {
                    // The same event got here first in another transaction: roll ours back.
                    return Err(Error::Duplicate {
                        message: "event already received".into(),
                        existing: Some(found.id.0),
                    });
                }
                db::insert_event(
                    c,
                    &NewEvent {
                        call_id: found.id,
                        provider: &p.provider,
                        event_id: &p.event_id,
                        kind: p.kind,
                        at: p.at,
                        extension: p.extension.as_deref(),
                        media_url: p.media_url.as_deref(),
                        payload: &raw,
                        received_at: now,
                    },
                )
                .await?;
                let events = db::events_of(c, found.id).await?;
                let facts = call::derive(&events).ok_or(Error::NotFound)?;
                let line_calendar = match db::line_of(c, &found.called).await? {
                    Some(line) => line
                        .calendar_id
                        .and_then(|id| calendars.as_ref()?.get(domain::CalendarId(id)).cloned()),
                    None => None,
                };
                let calendar: &BusinessCalendar = line_calendar.as_deref().unwrap_or(&calendar);
                let after_hours =
                    found.direction == Direction::Inbound && !calendar.is_open(facts.ringing_at);
                let agent = match &facts.extension {
                    Some(x) if Some(x) != found.extension.as_ref() => {
                        db::agent_at(c, x).await?.or(found.agent_user_id)
                    }
                    _ => found.agent_user_id,
                };
                let state = if found.direction == Direction::Outbound
                    && facts.state == CallState::Ringing
                    && found.state == CallState::Dialing
                {
                    CallState::Dialing
                } else {
                    facts.state
                };
                let facts = call::CallFacts { state, ..facts };
                db::update_facts(c, found.id, &facts, agent, after_hours, now).await?;
                let mut return_call = found.return_call_id;
                match (
                    call::return_reason(found.direction, facts.state, after_hours),
                    found.return_call_id,
                    &found.caller,
                ) {
                    (Some(reason), None, Some(phone)) => {
                        let rc = if let Some(open) =
                            db::open_return_for(c, phone, found.brand_id).await?
                        {
                            db::add_call_to_return(c, open.id, found.customer_id, now).await?;
                            audit_join
                                .write(
                                    c,
                                    Some(open.id.0),
                                    found.brand_id,
                                    None,
                                    Some(serde_json::json!({ "call_id": found.id.0, "calls_count": open.calls_count + 1 })),
                                )
                                .await?;
                            open.id
                        } else {
                            let due_at = if after_hours {
                                calendar.next_opening(facts.ringing_at).unwrap_or(now)
                            } else {
                                now
                            };
                            let id = db::insert_return_call(
                                c,
                                &NewReturnCall {
                                    brand_id: found.brand_id,
                                    call_id: found.id,
                                    customer_id: found.customer_id,
                                    phone,
                                    reason,
                                    due_at,
                                    max_attempts,
                                    assignee_id: agent,
                                    at: now,
                                },
                            )
                            .await?;
                            audit_new
                                .write(
                                    c,
                                    Some(id.0),
                                    found.brand_id,
                                    None,
                                    Some(serde_json::json!({ "call_id": found.id.0, "reason": reason, "due_at": due_at.0, "phone": phone.masked() })),
                                )
                                .await?;
                            id
                        };
                        db::set_call_return(c, found.id, Some(rc)).await?;
                        return_call = Some(rc);
                    }
                    (None, Some(rc), _) if facts.state.is_answered() => {
                        // Its answered event arrived late: the call was not missed after all.
                        let cancelled = db::withdraw_call(c, rc, found.id, now).await?;
                        audit_cancel
                            .write(
                                c,
                                Some(rc.0),
                                found.brand_id,
                                None,
                                Some(serde_json::json!({ "call_id": found.id.0, "answered": true, "cancelled": cancelled })),
                            )
                            .await?;
                        return_call = None;
                    }
                    _ => {}
                }
                let call = db::find_call(c, &p.provider, &p.call_id)
                    .await?
                    .ok_or(Error::NotFound)?;
                Ok(Applied::Done {
                    call: Box::new(Call {
                        return_call_id: return_call,
                        ..call
                    }),
                    return_call,
                })
            })
        })
        .await
}

// ---------------------------------------------------------------- screen-pop

/// A pop as one agent's page shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CallPop {
    pub call_id: i64,
    /// `ringing` or `answered`.
    pub event: String,
    /// The caller's number as this user may see it (masked unless the role may see phones);
    /// what the network presented when it is not a number.
    pub phone: String,
    pub customer_id: Option<i64>,
    pub customer_name: Option<String>,
    /// Where to open a ticket for this call.
    pub new_ticket_href: String,
}

/// The pop a live message makes on `ctx`'s page, if it is theirs: the extension's agent gets
/// it; with no agent named, every hotline user who may see the line's brand does.
pub fn pop_for(ctx: &Ctx, message: &str) -> Option<CallPop> {
    let pop: LivePop = serde_json::from_str(message).ok()?;
    if pop.kind != "call" {
        return None;
    }
    let me = ctx.actor.user_id()?;
    let mine = match pop.agent_user_id {
        Some(agent) => agent == me.0,
        None => ctx.can(Permission::CallHandle) && ctx.scope.sees_brand(pop.brand_id.map(BrandId)),
    };
    if !mine {
        return None;
    }
    let phone = pop
        .phone
        .as_deref()
        .and_then(|p| Phone::parse(p).ok())
        .map_or_else(|| pop.caller_raw.clone(), |p| ctx.show_phone(&p));
    let mut href = format!("/tickets/new?call_id={}", pop.call_id);
    if let Some(c) = pop.customer_id {
        href = format!("/tickets/new?customer_id={c}&call_id={}", pop.call_id);
    }
    Some(CallPop {
        call_id: pop.call_id,
        event: pop.event,
        phone,
        customer_id: pop.customer_id,
        customer_name: pop.customer_name,
        new_ticket_href: href,
    })
}

// ---------------------------------------------------------------- views

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CallView {
    pub id: i64,
    pub brand_id: Option<i64>,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// `dialing`, `ringing`, `answered`, `completed`, `missed`, `abandoned` or `voicemail`.
    pub state: String,
    /// The caller's number as you may see it; null when withheld.
    pub caller: Option<String>,
    pub caller_masked: bool,
    pub called: String,
    pub customer_id: Option<i64>,
    pub customer_name: Option<String>,
    pub extension: Option<String>,
    pub agent_user_id: Option<i64>,
    pub agent_name: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub ringing_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub answered_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ended_at: Option<Timestamp>,
    /// Milliseconds from the first ring to the answer.
    pub time_to_answer_ms: Option<i64>,
    /// It rang while the desk was closed.
    pub after_hours: bool,
    pub recording_url: Option<String>,
    pub voicemail_url: Option<String>,
    pub return_call_id: Option<i64>,
    pub version: i64,
}

impl CallView {
    pub fn of(ctx: &Ctx, c: Call) -> Self {
        Self {
            id: c.id.0,
            brand_id: c.brand_id.map(|b| b.0),
            direction: c.direction.as_str().into(),
            state: c.state.as_str().into(),
            caller_masked: c.caller.is_some() && !ctx.can(Permission::PhoneView),
            caller: c.caller.as_ref().map(|p| ctx.show_phone(p)),
            called: c.called,
            customer_id: c.customer_id.map(|x| x.0),
            customer_name: c.customer_name,
            extension: c.extension,
            agent_user_id: c.agent_user_id.map(|x| x.0),
            agent_name: c.agent_name,
            time_to_answer_ms: c.answered_at.map(|a| (a.0 - c.ringing_at.0).max(0)),
            ringing_at: c.ringing_at,
            answered_at: c.answered_at,
            ended_at: c.ended_at,
            after_hours: c.after_hours,
            recording_url: c.recording_url,
            voicemail_url: c.voicemail_url,
            return_call_id: c.return_call_id.map(|x| x.0),
            version: c.version,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttemptView {
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub by_user_id: Option<i64>,
    pub by_name: Option<String>,
    /// `reached`, `no_answer`, `busy` or `wrong_number`.
    pub outcome: String,
    pub note: Option<String>,
}

impl AttemptView {
    fn of(a: ReturnAttempt) -> Self {
        Self {
            at: a.at,
            by_user_id: a.by.map(|x| x.0),
            by_name: a.by_name,
            outcome: a.outcome.as_str().into(),
            note: a.note,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReturnCallView {
    pub id: i64,
    pub brand_id: Option<i64>,
    /// The call that made the task.
    pub call_id: i64,
    pub customer_id: Option<i64>,
    pub customer_name: Option<String>,
    /// The number to call back, as you may see it.
    pub phone: String,
    pub phone_masked: bool,
    /// `missed`, `abandoned`, `voicemail` or `after_hours`.
    pub reason: String,
    /// Unanswered calls from this number the task stands for.
    pub calls_count: i64,
    #[schema(value_type = String, format = DateTime)]
    pub due_at: Timestamp,
    /// Open and past its due time.
    pub overdue: bool,
    /// Open and due: click-to-call may dial it (an after-hours call only from the opening).
    pub callable: bool,
    /// `open`, `reached`, `given_up` or `cancelled`.
    pub status: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub assignee_id: Option<i64>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub closed_at: Option<Timestamp>,
    pub version: i64,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// The attempts made, oldest first.
    pub attempt_log: Vec<AttemptView>,
}

impl ReturnCallView {
    fn of(ctx: &Ctx, r: ReturnCall, log: Vec<ReturnAttempt>) -> Self {
        let callable = r.callable(ctx.now());
        Self {
            id: r.id.0,
            brand_id: r.brand_id.map(|b| b.0),
            call_id: r.call_id.0,
            customer_id: r.customer_id.map(|x| x.0),
            customer_name: r.customer_name,
            phone: ctx.show_phone(&r.phone),
            phone_masked: !ctx.can(Permission::PhoneView),
            reason: r.reason.as_str().into(),
            calls_count: r.calls_count,
            overdue: r.status == ReturnStatus::Open && r.due_at < ctx.now(),
            callable,
            due_at: r.due_at,
            status: r.status.as_str().into(),
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            assignee_id: r.assignee_id.map(|x| x.0),
            closed_at: r.closed_at,
            version: r.version,
            created_at: r.created_at,
            attempt_log: log.into_iter().map(AttemptView::of).collect(),
        }
    }
}

/// Who may look at calls: hotline staff, and brand users at their own brand's calls.
fn require_read(ctx: &Ctx) -> Result<()> {
    if ctx.can(Permission::CallHandle) || matches!(ctx.scope, Scope::Brands(_)) {
        Ok(())
    } else {
        Err(Error::Forbidden)
    }
}

// ---------------------------------------------------------------- calls

/// The call list's filters as they arrive from a query string.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, utoipa::IntoParams)]
pub struct CallFilter {
    /// `dialing`, `ringing`, `answered`, `completed`, `missed`, `abandoned` or `voicemail`.
    pub state: Option<String>,
    /// How the call ended: `answered` (picked up, whether still on or completed), `missed`,
    /// `abandoned`, `voicemail` or `after_hours` (rang while the desk was closed).
    pub outcome: Option<String>,
    /// `inbound` or `outbound`.
    pub direction: Option<String>,
    /// Calls from or to this number.
    pub phone: Option<String>,
    pub customer_id: Option<i64>,
    /// Calls taken or placed by this agent.
    pub agent_id: Option<i64>,
    /// Calls to this service line (its 400/800 number).
    pub line: Option<String>,
    /// A day `YYYY-MM-DD` (from its start) or an RFC 3339 instant.
    pub from: Option<String>,
    /// A day `YYYY-MM-DD` (to its end) or an RFC 3339 instant.
    pub to: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<u32>,
}

/// A page of calls, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CallPage {
    pub items: Vec<CallView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// A keyset cursor's parts: the sort key parsed by `key`, and the id.
fn parse_cursor<T>(
    f: &mut Fields,
    s: Option<&str>,
    key: impl Fn(&str) -> Option<T>,
) -> Option<(T, i64)> {
    let s = s.map(str::trim).filter(|s| !s.is_empty())?;
    let parsed = domain::Cursor::decode(s).and_then(|c| Some((key(&c.key)?, c.id)));
    if parsed.is_none() {
        f.add("cursor", "not a cursor this server issued");
    }
    parsed
}

/// An enum-like query value: None when absent or empty, an error on `field` when unknown.
fn parse_opt<T>(
    f: &mut Fields,
    field: &str,
    s: Option<&str>,
    parse: impl Fn(&str) -> Option<T>,
    expected: &str,
) -> Option<T> {
    let s = s.map(str::trim).filter(|s| !s.is_empty())?;
    let v = parse(s);
    if v.is_none() {
        f.add(field, expected);
    }
    v
}

/// `YYYY-MM-DD` at the start of that day in `tz` (or the next day's start when `end`), or an
/// RFC 3339 instant.
fn parse_bound(
    f: &mut Fields,
    field: &str,
    s: Option<&str>,
    tz: chrono_tz::Tz,
    end: bool,
) -> Option<Timestamp> {
    let s = s.map(str::trim).filter(|s| !s.is_empty())?;
    if let Some(d) = Date::parse(s) {
        let day = if end { d.0.succ_opt()? } else { d.0 };
        let local = tz
            .from_local_datetime(&day.and_hms_opt(0, 0, 0)?)
            .earliest()?;
        return Some(Timestamp(local.timestamp_millis()));
    }
    let t = Timestamp::parse_rfc3339(s);
    if t.is_none() {
        f.add(field, "a date YYYY-MM-DD or an RFC 3339 instant");
    }
    t
}

pub async fn list_calls(app: &App, ctx: &Ctx, filter: CallFilter) -> Result<CallPage> {
    require_read(ctx)?;
    let mut f = Fields::new();
    let state = parse_opt(
        &mut f,
        "state",
        filter.state.as_deref(),
        CallState::parse,
        "dialing, ringing, answered, completed, missed, abandoned or voicemail",
    );
    let outcome = parse_opt(
        &mut f,
        "outcome",
        filter.outcome.as_deref(),
        db::Outcome::parse,
        "answered, missed, abandoned, voicemail or after_hours",
    );
    let direction = parse_opt(
        &mut f,
        "direction",
        filter.direction.as_deref(),
        Direction::parse,
        "inbound or outbound",
    );
    let phone = filter
        .phone
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .and_then(|s| f.take("phone", Phone::parse(s)))
        .map(|p| p.as_str().to_string());
    let line = filter
        .line
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .and_then(|s| f.take("line", Phone::parse(s)))
        .map(|p| p.as_str().to_string());
    let tz = app.settings.tz;
    let from = parse_bound(&mut f, "from", filter.from.as_deref(), tz, false);
    let to = parse_bound(&mut f, "to", filter.to.as_deref(), tz, true);
    let after = parse_cursor(&mut f, filter.cursor.as_deref(), |k| {
        k.parse::<i64>().ok().map(Timestamp)
    });
    f.finish()?;
    let q = CallQuery {
        state,
        outcome,
        direction,
        phone,
        customer: filter.customer_id.map(CustomerId),
        agent: filter.agent_id.map(UserId),
        line,
        from,
        to,
        after: after.map(|(t, id)| (t, CallId(id))),
        limit: domain::cursor::limit(filter.limit),
    };
    let scope = ctx.scope.clone();
    let page = app
        .db
        .read(move |c| Box::pin(async move { db::list_calls(c, &scope, &q).await }))
        .await?;
    Ok(CallPage {
        items: page
            .items
            .into_iter()
            .map(|c| CallView::of(ctx, c))
            .collect(),
        next_cursor: page.next.map(|c| c.encode()),
    })
}

pub async fn get_call(app: &App, ctx: &Ctx, id: CallId) -> Result<CallView> {
    require_read(ctx)?;
    let scope = ctx.scope.clone();
    let c = app
        .db
        .read(move |c| Box::pin(async move { db::get_call(c, &scope, id).await }))
        .await?;
    Ok(CallView::of(ctx, c))
}

/// One event of a call as the telephony system reported it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CallEventView {
    /// `ringing`, `answered`, `missed`, `abandoned`, `voicemail`, `ended` or `recording`.
    pub kind: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub extension: Option<String>,
    /// The recording or voicemail the event carries.
    pub media_url: Option<String>,
}

/// The call's events in the order they happened.
pub async fn call_events(app: &App, ctx: &Ctx, id: CallId) -> Result<Vec<CallEventView>> {
    require_read(ctx)?;
    let scope = ctx.scope.clone();
    let events = app
        .db
        .read(move |c| {
            Box::pin(async move {
                db::get_call(c, &scope, id).await?;
                Ok::<_, Error>(db::events_of(c, id).await?)
            })
        })
        .await?;
    Ok(events
        .into_iter()
        .map(|e| CallEventView {
            kind: e.kind.as_str().into(),
            at: e.at,
            extension: e.extension,
            media_url: e.media_url,
        })
        .collect())
}

// ---------------------------------------------------------------- return calls

#[derive(Debug, Clone, Default, Deserialize, ToSchema, utoipa::IntoParams)]
pub struct ReturnCallFilter {
    /// `open`, `reached`, `given_up` or `cancelled`; all by default (open first).
    pub status: Option<String>,
    /// Only tasks assigned to this user.
    pub assignee_id: Option<i64>,
    /// Due from this day `YYYY-MM-DD` (its start) or RFC 3339 instant.
    pub due_from: Option<String>,
    /// Due before the end of this day `YYYY-MM-DD`, or before this RFC 3339 instant.
    pub due_to: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<u32>,
}

/// A page of return calls: open ones first, each group by due time.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReturnCallPage {
    pub items: Vec<ReturnCallView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// Return calls: open ones first, earliest due first, each with its attempts.
pub async fn list_return_calls(
    app: &App,
    ctx: &Ctx,
    filter: ReturnCallFilter,
) -> Result<ReturnCallPage> {
    require_read(ctx)?;
    let mut f = Fields::new();
    let status = parse_opt(
        &mut f,
        "status",
        filter.status.as_deref(),
        ReturnStatus::parse,
        "open, reached, given_up or cancelled",
    );
    let tz = app.settings.tz;
    let due_from = parse_bound(&mut f, "due_from", filter.due_from.as_deref(), tz, false);
    let due_to = parse_bound(&mut f, "due_to", filter.due_to.as_deref(), tz, true);
    let after = parse_cursor(&mut f, filter.cursor.as_deref(), |k| {
        let (rank, due) = k.split_once(':')?;
        let closed = match rank {
            "0" => false,
            "1" => true,
            _ => return None,
        };
        Some((!closed, Timestamp(due.parse().ok()?)))
    });
    f.finish()?;
    let q = ReturnQuery {
        status,
        assignee: filter.assignee_id.map(UserId),
        due_from,
        due_to,
        after: after.map(|((open, due), id)| (open, due, ReturnCallId(id))),
        limit: domain::cursor::limit(filter.limit),
    };
    let scope = ctx.scope.clone();
    let (page, logs) = app
        .db
        .read(move |c| {
            Box::pin(async move {
                let page = db::list_return_calls(c, &scope, &q).await?;
                let ids: Vec<ReturnCallId> = page.items.iter().map(|r| r.id).collect();
                let logs = db::attempts_of(c, &ids).await?;
                Ok::<_, Error>((page, logs))
            })
        })
        .await?;
    let mut by_task: std::collections::HashMap<i64, Vec<ReturnAttempt>> =
        std::collections::HashMap::new();
    for (id, a) in logs {
        by_task.entry(id.0).or_default().push(a);
    }
    let items = page
        .items
        .into_iter()
        .map(|r| {
            let log = by_task.remove(&r.id.0).unwrap_or_default();
            ReturnCallView::of(ctx, r, log)
        })
        .collect();
    Ok(ReturnCallPage {
        items,
        next_cursor: page.next.map(|c| c.encode()),
    })
}

pub async fn get_return_call(app: &App, ctx: &Ctx, id: ReturnCallId) -> Result<ReturnCallView> {
    require_read(ctx)?;
    let scope = ctx.scope.clone();
    let (r, log) = app
        .db
        .read(move |c| {
            Box::pin(async move {
                let r = db::get_return_call(c, &scope, id).await?;
                let log = db::attempts(c, id).await?;
                Ok::<_, Error>((r, log))
            })
        })
        .await?;
    Ok(ReturnCallView::of(ctx, r, log))
}

/// One attempt to call a customer back.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttemptInput {
    /// `reached`, `no_answer`, `busy` or `wrong_number`.
    pub outcome: String,
    #[serde(default)]
    pub note: Option<String>,
}

/// Records an attempt: reached closes the task; otherwise it stays open until the attempts are
/// used up (given up).
pub async fn record_attempt(
    app: &App,
    ctx: &Ctx,
    id: ReturnCallId,
    version: i64,
    input: AttemptInput,
) -> Result<ReturnCallView> {
    ctx.require(Permission::CallHandle)?;
    let mut f = Fields::new();
    let outcome = AttemptOutcome::parse(input.outcome.trim());
    if outcome.is_none() {
        f.add("outcome", "reached, no_answer, busy or wrong_number");
    }
    let note = f
        .take("note", domain::text::optional(input.note.as_deref(), 1000))
        .flatten();
    f.finish()?;
    let outcome = outcome.ok_or_else(|| Error::field("outcome", "required"))?;
    let scope = ctx.scope.clone();
    let audit = audit_entry(ctx, "attempt", "return_call");
    let by = ctx.actor.user_id();
    app.db
        .write(move |c| {
            Box::pin(async move {
                let r = db::get_return_call(c, &scope, id).await?;
                if r.status != ReturnStatus::Open {
                    return Err(Error::Conflict(
                        "this return call is closed; no more attempts".into(),
                    ));
                }
                if r.version != version {
                    return Err(Error::VersionConflict);
                }
                let status = call::after_attempt(outcome, r.attempts + 1, r.max_attempts);
                db::record_attempt(
                    c,
                    id,
                    version,
                    &db::NewAttempt {
                        at: audit.at,
                        by,
                        outcome,
                        note: note.as_deref(),
                        status,
                    },
                )
                .await?;
                audit
                    .write(
                        c,
                        Some(id.0),
                        r.brand_id,
                        Some(serde_json::json!({ "status": r.status, "attempts": r.attempts })),
                        Some(serde_json::json!({ "status": status, "attempts": r.attempts + 1, "outcome": outcome })),
                    )
                    .await?;
                Ok::<_, Error>(())
            })
        })
        .await?;
    get_return_call(app, ctx, id).await
}

/// A placed click-to-call call.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DialView {
    /// Our id of the outbound call.
    pub call_id: i64,
    /// The provider's id of the call.
    pub provider_call_id: String,
    /// The number the customer sees: the bound landline.
    pub shown_number: String,
}

/// Calls the customer back through the telephony adapter: the platform rings the agent, then the
/// customer, both seeing the bound landline (never the 400 number).
pub async fn dial_return_call(app: &App, ctx: &Ctx, id: ReturnCallId) -> Result<DialView> {
    ctx.require(Permission::CallHandle)?;
    let me = ctx.actor.user_id().ok_or(Error::Forbidden)?;
    let scope = ctx.scope.clone();
    let (r, agent_phone, line_landline) = app
        .db
        .read(move |c| {
            Box::pin(async move {
                let r = db::get_return_call(c, &scope, id).await?;
                let phone = db::agent_phone(c, me).await?;
                // The landline of the line the customer called, if it has its own.
                let first = db::get_call(c, &Scope::All, r.call_id).await?;
                let landline = db::line_of(c, &first.called)
                    .await?
                    .and_then(|l| l.landline)
                    .and_then(|p| Phone::parse(&p).ok());
                Ok::<_, Error>((r, phone, landline))
            })
        })
        .await?;
    if r.status != ReturnStatus::Open {
        return Err(Error::Conflict(
            "this return call is closed; no more attempts".into(),
        ));
    }
    // An after-hours call is owed from the line's next opening: dialling earlier would ring
    // the customer at night.
    if !r.callable(ctx.now()) {
        return Err(Error::Conflict(format!(
            "this return call is due from {} (the line's opening); it cannot be dialled before",
            r.due_at.rfc3339_in(app.settings.tz)
        )));
    }
    let show = line_landline
        .or_else(|| app.settings.hotline_landline.clone())
        .ok_or_else(|| {
            Error::Conflict("click-to-call needs a bound landline (KEFU_HOTLINE_LANDLINE)".into())
        })?;
    if !show.as_str().starts_with('0') {
        // A 400/800 number or a mobile is not a landline: refuse rather than show it.
        return Err(Error::Conflict(
            "the number shown on outbound calls must be a landline, never the 400 number".into(),
        ));
    }
    let agent_phone = agent_phone
        .and_then(|p| Phone::parse(&p).ok())
        .ok_or_else(|| {
            Error::Conflict("your account has no phone for the platform to ring first".into())
        })?;
    let adapter = telephony::from_settings(&app.settings)?.ok_or_else(|| {
        Error::Conflict("click-to-call is not configured (KEFU_VOICE_ALIYUN_*)".into())
    })?;
    let at = ctx.now();
    let req = DialRequest {
        agent_phone,
        customer_phone: r.phone.clone(),
        show_number: show.clone(),
        out_id: format!("rc{}", id.0),
        at,
    };
    let dialed = adapter.click_to_dial(&req).await.map_err(|e| match e {
        DialError::Refused(m) => {
            Error::Conflict(format!("the telephony provider refused the call: {m}"))
        }
        DialError::Unavailable(m) => Error::Conflict(format!(
            "the telephony provider is unavailable; try again: {m}"
        )),
    })?;
    let audit = audit_entry(ctx, "dial", "return_call");
    let provider_call_id = dialed.call_id.clone();
    let customer_phone = r.phone.clone();
    let (brand, customer) = (r.brand_id, r.customer_id);
    let call_id = app
        .db
        .write(move |c| {
            Box::pin(async move {
                db::insert_call(
                    c,
                    &NewCall {
                        provider: "aliyun",
                        provider_call_id: &provider_call_id,
                        brand_id: brand,
                        direction: Direction::Outbound,
                        caller: Some(&show),
                        caller_raw: show.as_str(),
                        called: customer_phone.as_str(),
                        customer_id: customer,
                        agent_user_id: Some(me),
                        state: CallState::Dialing,
                        ringing_at: at,
                        after_hours: false,
                        at,
                    },
                )
                .await?;
                let call = db::find_call(c, "aliyun", &provider_call_id)
                    .await?
                    .ok_or(Error::NotFound)?;
                db::set_call_return(c, call.id, Some(id)).await?;
                audit
                    .write(
                        c,
                        Some(id.0),
                        brand,
                        None,
                        Some(serde_json::json!({ "call_id": call.id.0, "provider_call_id": provider_call_id, "shown": show.as_str() })),
                    )
                    .await?;
                Ok::<_, Error>(call.id)
            })
        })
        .await?;
    Ok(DialView {
        call_id: call_id.0,
        provider_call_id: dialed.call_id,
        shown_number: req.show_number.as_str().to_string(),
    })
}

// ---------------------------------------------------------------- figures

#[derive(Debug, Clone, Default, Deserialize, ToSchema, utoipa::IntoParams)]
pub struct StatsQuery {
    /// A day `YYYY-MM-DD` (from its start) or an RFC 3339 instant; default today.
    pub from: Option<String>,
    /// A day `YYYY-MM-DD` (to its end) or an RFC 3339 instant; default the end of `from`'s day.
    pub to: Option<String>,
    /// Only this brand's lines.
    pub brand_id: Option<i64>,
}

/// Answer rate and time to answer of inbound calls that rang in a period.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CallStats {
    #[schema(value_type = String, format = DateTime)]
    pub from: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub to: Timestamp,
    /// Inbound calls that rang.
    pub offered: i64,
    pub answered: i64,
    pub missed: i64,
    pub abandoned: i64,
    pub voicemail: i64,
    /// `answered` / `offered`; null without calls.
    pub answer_rate: Option<f64>,
    /// The target the answer rate is held to (0.85).
    pub answer_rate_target: f64,
    /// Mean time from first ring to answer, ms.
    pub avg_answer_ms: Option<i64>,
    /// 90th percentile (nearest rank) of the time to answer, ms.
    pub p90_answer_ms: Option<i64>,
    /// The answer-time target in seconds: three rings (`KEFU_HOTLINE_ANSWER_TARGET_SECS`,
    /// default 15).
    pub answer_target_secs: i64,
    /// Answered within the target.
    pub answered_within_target: i64,
    /// `answered_within_target` / `answered`; null without answered calls.
    pub within_target_share: Option<f64>,
}

#[allow(clippy::cast_precision_loss)]
pub async fn stats(app: &App, ctx: &Ctx, q: StatsQuery) -> Result<CallStats> {
    require_read(ctx)?;
    let tz = app.settings.tz;
    let mut f = Fields::new();
    let from = parse_bound(&mut f, "from", q.from.as_deref(), tz, false);
    let to = parse_bound(&mut f, "to", q.to.as_deref(), tz, true);
    f.finish()?;
    let today = ctx.now().date_in(tz).to_string();
    let from = match from {
        Some(t) => t,
        None => parse_bound(&mut Fields::new(), "from", Some(&today), tz, false)
            .unwrap_or_else(|| ctx.now()),
    };
    let to = to.unwrap_or_else(|| {
        let day = from.date_in(tz).to_string();
        parse_bound(&mut Fields::new(), "to", Some(&day), tz, true).unwrap_or(from)
    });
    if to <= from {
        return Err(Error::field("to", "must be after from"));
    }
    let brand = q.brand_id.map(BrandId);
    if let Some(b) = brand
        && !ctx.scope.sees_brand(Some(b))
    {
        return Err(Error::field("brand_id", "not one of your brands"));
    }
    let scope = ctx.scope.clone();
    let target_secs = app.settings.hotline_answer_target_secs.max(1);
    let n = app
        .db
        .read(move |c| {
            Box::pin(
                async move { db::counts(c, &scope, brand, from, to, target_secs * 1000).await },
            )
        })
        .await?;
    let ratio = |a: i64, b: i64| (b > 0).then(|| a as f64 / b as f64);
    Ok(CallStats {
        from,
        to,
        offered: n.offered,
        answered: n.answered,
        missed: n.missed,
        abandoned: n.abandoned,
        voicemail: n.voicemail,
        answer_rate: ratio(n.answered, n.offered),
        answer_rate_target: TARGET_ANSWER_RATE,
        avg_answer_ms: (n.answered > 0).then(|| (n.total_answer_ms + n.answered / 2) / n.answered),
        p90_answer_ms: n.p90_answer_ms,
        answer_target_secs: target_secs,
        answered_within_target: n.answered_fast,
        within_target_share: ratio(n.answered_fast, n.answered),
    })
}

// ---------------------------------------------------------------- lines and extensions

/// An agent's extension.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtensionInput {
    pub user_id: i64,
    /// The agent's own phone the platform rings first on click-to-call (else the account's
    /// phone).
    #[serde(default)]
    pub phone: Option<String>,
    /// False deactivates the extension: its events pop on nobody's page and its phone is not
    /// rung (default true).
    #[serde(default)]
    pub active: Option<bool>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExtensionView {
    pub extension: String,
    pub user_id: i64,
    pub display_name: String,
    pub phone: Option<String>,
    pub active: bool,
    pub version: i64,
}

fn parse_extension(f: &mut Fields, ext: &str) -> Option<String> {
    let ext = ext.trim();
    if ext.is_empty()
        || ext.len() > 20
        || !ext.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        f.add("extension", "1–20 letters, digits or '-'");
        return None;
    }
    Some(ext.to_string())
}

/// Binds an extension to an agent, so that events naming it pop on that agent's page. With
/// `version` (an edit), the extension must still be at that version.
pub async fn set_extension(
    app: &App,
    ctx: &Ctx,
    extension: &str,
    version: Option<i64>,
    input: ExtensionInput,
) -> Result<ExtensionView> {
    ctx.require(Permission::UserAdmin)?;
    let mut f = Fields::new();
    let ext = parse_extension(&mut f, extension);
    let phone = input
        .phone
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .and_then(|s| f.take("phone", Phone::parse(s)));
    if input.user_id <= 0 {
        f.add("user_id", "required");
    }
    f.finish()?;
    let ext = ext.ok_or_else(|| Error::field("extension", "required"))?;
    let user = UserId(input.user_id);
    let active = input.active.unwrap_or(true);
    let audit = audit_entry(ctx, "set_extension", "user");
    let e = ext.clone();
    app.db
        .write(move |c| {
            Box::pin(async move {
                if store::users::get(c, user).await.is_err() {
                    return Err(Error::field("user_id", "unknown user"));
                }
                db::set_extension(c, &e, user, phone.as_ref(), active, version, audit.at).await?;
                audit
                    .write(
                        c,
                        Some(user.0),
                        None,
                        None,
                        Some(serde_json::json!({ "extension": e, "active": active })),
                    )
                    .await?;
                Ok::<_, Error>(())
            })
        })
        .await?;
    extension_list(app)
        .await?
        .into_iter()
        .find(|x| x.extension == ext)
        .ok_or(Error::NotFound)
}

pub async fn remove_extension(app: &App, ctx: &Ctx, extension: &str) -> Result<()> {
    ctx.require(Permission::UserAdmin)?;
    let ext = extension.trim().to_string();
    let audit = audit_entry(ctx, "remove_extension", "user");
    app.db
        .write(move |c| {
            Box::pin(async move {
                db::remove_extension(c, &ext).await?;
                audit
                    .write(
                        c,
                        None,
                        None,
                        Some(serde_json::json!({ "extension": ext })),
                        None,
                    )
                    .await?;
                Ok::<_, Error>(())
            })
        })
        .await
}

async fn extension_list(app: &App) -> Result<Vec<ExtensionView>> {
    let list = app
        .db
        .read(|c| Box::pin(async move { db::extensions(c).await }))
        .await?;
    Ok(list
        .into_iter()
        .map(|e| ExtensionView {
            extension: e.extension,
            user_id: e.user_id,
            display_name: e.display_name,
            phone: e.phone,
            active: e.active != 0,
            version: e.version,
        })
        .collect())
}

/// Every extension, active ones first (user administrators and hotline staff).
pub async fn extensions(app: &App, ctx: &Ctx) -> Result<Vec<ExtensionView>> {
    if !(ctx.can(Permission::UserAdmin) || ctx.can(Permission::CallHandle)) {
        return Err(Error::Forbidden);
    }
    extension_list(app).await
}

/// A service line (400/800 number): the brand it serves, the landline its callers see on
/// click-to-call and the calendar of its opening hours.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineInput {
    /// The 400/800 number calls arrive on (on create; the path names it on update).
    #[serde(default)]
    pub number: Option<String>,
    /// The brand whose customers call this number; none for the company's own line.
    #[serde(default)]
    pub brand_id: Option<i64>,
    pub name: String,
    /// The landline shown to customers on click-to-call return calls for this line (a fixed
    /// line starting with 0, never a 400/800 number); none: `KEFU_HOTLINE_LANDLINE`.
    #[serde(default)]
    pub landline: Option<String>,
    /// The business calendar whose hours decide whether a call rang after hours; none: the
    /// default calendar.
    #[serde(default)]
    pub calendar_id: Option<i64>,
    /// False deactivates the line: its calls are the company's own again (default true).
    #[serde(default)]
    pub active: Option<bool>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LineView {
    pub id: i64,
    pub number: String,
    pub brand_id: Option<i64>,
    pub name: String,
    pub landline: Option<String>,
    pub calendar_id: Option<i64>,
    pub active: bool,
    pub version: i64,
}

impl LineView {
    fn of(l: db::Line) -> Self {
        Self {
            id: l.id,
            number: l.number,
            brand_id: l.brand_id,
            name: l.name,
            landline: l.landline,
            calendar_id: l.calendar_id,
            active: l.active != 0,
            version: l.version,
        }
    }
}

/// A line's input checked: (number, name, landline, calendar).
struct LineFields {
    number: Phone,
    name: String,
    landline: Option<Phone>,
    calendar: Option<domain::CalendarId>,
}

fn parse_line(number: &str, input: &LineInput) -> Result<LineFields> {
    let mut f = Fields::new();
    let number = f.take("number", Phone::parse(number));
    if let Some(n) = &number
        && !(n.as_str().starts_with("400") || n.as_str().starts_with("800"))
    {
        f.add("number", "a 400 or 800 service number");
    }
    let name = f.take("name", domain::text::required(&input.name, 60));
    let landline = input
        .landline
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .and_then(|s| f.take("landline", Phone::parse(s)));
    if let Some(l) = &landline
        && !l.as_str().starts_with('0')
    {
        f.add(
            "landline",
            "a landline (area code first), never a 400/800 number or a mobile",
        );
    }
    f.finish()?;
    Ok(LineFields {
        number: number.ok_or_else(|| Error::field("number", "required"))?,
        name: name.ok_or_else(|| Error::field("name", "required"))?,
        landline,
        calendar: input.calendar_id.map(domain::CalendarId),
    })
}

/// Whether `brand` and `calendar` exist (checked inside the write).
async fn check_line_refs(
    c: &mut store::Conn,
    brand: Option<BrandId>,
    calendar: Option<domain::CalendarId>,
) -> Result<()> {
    if let Some(b) = brand
        && !store::org::brands(c).await?.iter().any(|x| x.id == b)
    {
        return Err(Error::field("brand_id", "unknown brand"));
    }
    if let Some(cal) = calendar
        && !store::sla::calendars(c).await?.iter().any(|x| x.id == cal)
    {
        return Err(Error::field("calendar_id", "unknown calendar"));
    }
    Ok(())
}

/// Adds a service line; a number already on record → `duplicate`.
pub async fn create_line(app: &App, ctx: &Ctx, input: LineInput) -> Result<LineView> {
    Ok(create_line_once(app, ctx, input).await?.0)
}

/// Adds a service line once per the request's Idempotency-Key: a retry answers with the line
/// the first request added (as it is now) and `true`.
pub async fn create_line_once(app: &App, ctx: &Ctx, input: LineInput) -> Result<(LineView, bool)> {
    ctx.require(Permission::OrgAdmin)?;
    let number = input.number.clone().unwrap_or_default();
    if number.trim().is_empty() {
        return Err(Error::field("number", "required"));
    }
    let l = parse_line(&number, &input)?;
    let brand = input.brand_id.map(BrandId);
    let active = input.active.unwrap_or(true);
    let audit = audit_entry(ctx, "create", "hotline_line");
    let key = l.number.as_str().to_string();
    let made = create_once(app, ctx, |x| x, move |c| {
            Box::pin(async move {
                check_line_refs(c, brand, l.calendar).await?;
                if let Some(existing) = db::get_line(c, l.number.as_str()).await? {
                    return Err(Error::Duplicate {
                        message: "a line with this number exists".into(),
                        existing: Some(existing.id),
                    });
                }
                let d = db::LineDraft {
                    number: l.number.as_str(),
                    brand,
                    name: &l.name,
                    landline: l.landline.as_ref(),
                    calendar: l.calendar,
                    active,
                };
                let id = db::insert_line(c, &d, audit.at).await?;
                audit
                    .write(
                        c,
                        Some(id),
                        brand,
                        None,
                        Some(serde_json::json!({ "number": l.number.as_str(), "name": l.name, "landline": l.landline.as_ref().map(Phone::as_str), "calendar_id": l.calendar.map(|x| x.0) })),
                    )
                    .await?;
                Ok::<_, Error>(id)
            })
        })
        .await?;
    Ok((line_by_number(app, &key).await?, made.replayed))
}

/// Sets a line's brand, name, landline, calendar and whether it is active — creating it if the
/// number is new and no `version` is given; with `version` (an edit) the line must still be at
/// that version.
pub async fn set_line(
    app: &App,
    ctx: &Ctx,
    number: &str,
    version: Option<i64>,
    input: LineInput,
) -> Result<LineView> {
    ctx.require(Permission::OrgAdmin)?;
    let l = parse_line(number, &input)?;
    if let Some(n) = input
        .number
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        && Phone::parse(n).ok().as_ref() != Some(&l.number)
    {
        return Err(Error::field("number", "a line's number cannot change"));
    }
    let brand = input.brand_id.map(BrandId);
    let active = input.active.unwrap_or(true);
    let audit = audit_entry(ctx, "set_line", "hotline_line");
    let key = l.number.as_str().to_string();
    app.db
        .write(move |c| {
            Box::pin(async move {
                check_line_refs(c, brand, l.calendar).await?;
                let before = db::get_line(c, l.number.as_str()).await?;
                let d = db::LineDraft {
                    number: l.number.as_str(),
                    brand,
                    name: &l.name,
                    landline: l.landline.as_ref(),
                    calendar: l.calendar,
                    active,
                };
                let id = match (&before, version) {
                    (None, Some(_)) => return Err(Error::NotFound),
                    (None, None) => db::insert_line(c, &d, audit.at).await?,
                    (Some(b), _) => {
                        db::update_line(c, &d, version, audit.at).await?;
                        b.id
                    }
                };
                audit
                    .write(
                        c,
                        Some(id),
                        brand,
                        before.map(|b| serde_json::json!({ "name": b.name, "brand_id": b.brand_id, "landline": b.landline, "calendar_id": b.calendar_id, "active": b.active != 0 })),
                        Some(serde_json::json!({ "number": l.number.as_str(), "name": l.name, "brand_id": brand.map(|b| b.0), "landline": l.landline.as_ref().map(Phone::as_str), "calendar_id": l.calendar.map(|x| x.0), "active": active })),
                    )
                    .await?;
                Ok::<_, Error>(())
            })
        })
        .await?;
    line_by_number(app, &key).await
}

async fn line_by_number(app: &App, number: &str) -> Result<LineView> {
    let n = number.to_string();
    let line = app
        .db
        .read(move |c| Box::pin(async move { db::get_line(c, &n).await }))
        .await?
        .ok_or(Error::NotFound)?;
    Ok(LineView::of(line))
}

/// One line by its number (organisation administrators, and whoever may see its calls).
pub async fn line(app: &App, ctx: &Ctx, number: &str) -> Result<LineView> {
    require_read(ctx).or_else(|_| ctx.require(Permission::OrgAdmin))?;
    let number = Phone::parse(number).map_err(|_| Error::NotFound)?;
    let v = line_by_number(app, number.as_str()).await?;
    if !ctx.scope.sees_brand(v.brand_id.map(BrandId)) {
        return Err(Error::NotFound);
    }
    Ok(v)
}

/// The lines whose calls `ctx` may see (every line for organisation administrators).
pub async fn lines(app: &App, ctx: &Ctx) -> Result<Vec<LineView>> {
    require_read(ctx).or_else(|_| ctx.require(Permission::OrgAdmin))?;
    let list = app
        .db
        .read(|c| Box::pin(async move { db::lines(c).await }))
        .await?;
    Ok(list
        .into_iter()
        .filter(|l| ctx.scope.sees_brand(l.brand_id.map(BrandId)))
        .map(LineView::of)
        .collect())
}

/// Every line, for the administration page (organisation administrators only).
pub async fn lines_to_manage(app: &App, ctx: &Ctx) -> Result<Vec<LineView>> {
    ctx.require(Permission::OrgAdmin)?;
    lines(app, ctx).await
}

/// Every extension, for the administration page (user administrators only).
pub async fn extensions_to_manage(app: &App, ctx: &Ctx) -> Result<Vec<ExtensionView>> {
    ctx.require(Permission::UserAdmin)?;
    extension_list(app).await
}
