//! The hotline pages: the live event stream that pops callers on the agent's page (SSE), and
//! /calls — today's answer figures, the return-call list (record an attempt, dial), recent calls.

use std::convert::Infallible;

use app::hotline::{
    self, AttemptInput, CallFilter, CallPop, CallStats, CallView, ReturnCallFilter, ReturnCallView,
};
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use domain::{CallId, Permission, ReturnCallId};
use futures::Stream;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::chrome::{Chrome, FormData, FormState, OrPage, PageCtx, PageError, query_string};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ui/events", get(events))
        .route("/calls", get(page))
        .route("/calls/{id}", get(call_page))
        .route("/calls/return/{id}/attempt", post(attempt))
        .route("/calls/return/{id}/dial", post(dial))
}

// ---------------------------------------------------------------- live events

/// A pop as a toast on the agent's page.
#[derive(Template)]
#[template(path = "hotline/_pop.html")]
pub struct PopToast {
    pub c: Chrome,
    pub pop: CallPop,
}

/// This user's live events: `call` events carrying the pop's HTML (a toast with who is calling
/// and links to the customer and a new ticket), for calls that are theirs.
async fn events(
    State(s): State<AppState>,
    pc: PageCtx,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = s.app.db.live().subscribe().await;
    let stream = futures::stream::unfold((rx, pc.ctx, pc.c), |(mut rx, ctx, c)| async move {
        loop {
            match rx.recv().await {
                Ok(msg) => {
                    if let Some(pop) = hotline::pop_for(&ctx, &msg) {
                        let html = PopToast { c: c.clone(), pop }.render().unwrap_or_default();
                        let event = Event::default().event("call").data(html);
                        return Some((Ok(event), (rx, ctx, c)));
                    }
                }
                // A slow page missed some updates; the next ones still come.
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

// ---------------------------------------------------------------- the calls page

/// The page's filters, all kept in the URL: the period (figures and calls), the call filters
/// and cursor, and the return-call filters and cursor (`rc_*`).
#[derive(Debug, Default, Deserialize)]
pub struct CallsQuery {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    /// One day (older links): both ends of the period.
    #[serde(default)]
    day: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    outcome: Option<String>,
    #[serde(default)]
    direction: Option<String>,
    #[serde(default)]
    agent: Option<String>,
    #[serde(default)]
    line: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    rc_status: Option<String>,
    #[serde(default)]
    rc_due_from: Option<String>,
    #[serde(default)]
    rc_due_to: Option<String>,
    #[serde(default)]
    rc_cursor: Option<String>,
}

pub struct StatsCard {
    pub offered: i64,
    pub answered: i64,
    pub missed: i64,
    pub abandoned: i64,
    pub rate: String,
    pub below_target: bool,
    pub avg: String,
    pub p90: String,
    pub fast_share: String,
    pub fast_count: i64,
    pub target_secs: i64,
}

fn percent(x: Option<f64>) -> String {
    x.map_or_else(|| "—".to_string(), |v| format!("{:.1}%", v * 100.0))
}

fn seconds(ms: Option<i64>) -> String {
    #[allow(clippy::cast_precision_loss)]
    ms.map_or_else(
        || "—".to_string(),
        |v| format!("{:.1} s", v as f64 / 1000.0),
    )
}

impl StatsCard {
    fn of(s: &CallStats) -> Self {
        Self {
            offered: s.offered,
            answered: s.answered,
            missed: s.missed,
            abandoned: s.abandoned,
            rate: percent(s.answer_rate),
            below_target: s.answer_rate.is_some_and(|r| r < s.answer_rate_target),
            avg: seconds(s.avg_answer_ms),
            p90: seconds(s.p90_answer_ms),
            fast_share: percent(s.within_target_share),
            fast_count: s.answered_within_target,
            target_secs: s.answer_target_secs,
        }
    }
}

pub struct AttemptRow {
    pub at: String,
    pub by: String,
    pub outcome: String,
    pub note: String,
}

pub struct ReturnRow {
    pub id: i64,
    pub call_id: i64,
    pub customer_id: Option<i64>,
    pub customer_name: Option<String>,
    pub phone: String,
    pub reason: String,
    pub calls_count: i64,
    pub due: String,
    pub overdue: bool,
    pub status: String,
    pub open: bool,
    pub callable: bool,
    pub attempts: i64,
    pub max_attempts: i64,
    pub version: i64,
    pub log: Vec<AttemptRow>,
}

pub struct CallRow {
    pub id: i64,
    pub at: String,
    pub direction: String,
    pub state: String,
    pub phone: String,
    pub customer_id: Option<i64>,
    pub customer_name: Option<String>,
    pub agent: String,
    pub wait: String,
    pub after_hours: bool,
    pub recording_url: Option<String>,
    pub voicemail_url: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "hotline/calls.html")]
pub struct CallsPage {
    pub c: Chrome,
    pub f: FormState,
    pub from: String,
    pub to: String,
    pub stats: StatsCard,
    pub returns: Vec<ReturnRow>,
    pub calls: Vec<CallRow>,
    pub can_handle: bool,
    /// (user id, name) of agents with an extension, for the agent filter.
    pub agents: Vec<(i64, String)>,
    /// (number, name) of the lines, for the line filter.
    pub lines: Vec<(String, String)>,
    /// The next page of calls / return calls with every filter kept; empty on the last page.
    pub calls_next: String,
    pub returns_next: String,
    /// This page's query without either cursor (back to the first pages).
    pub first_page: String,
    pub paged: bool,
    /// Where an attempt's form comes back to (this page with its filters).
    pub back: String,
}

/// The bad filters' messages above the page (a bad filter shows no rows rather than all).
fn filter_error(pc: &PageCtx, f: &mut FormState, e: app::Error) -> Result<(), PageError> {
    f.absorb(&pc.c, e, &[]).page(pc)
}

#[allow(clippy::too_many_lines)]
async fn page(
    State(s): State<AppState>,
    pc: PageCtx,
    Query(q): Query<CallsQuery>,
) -> Result<Response, PageError> {
    let tz = s.app.settings.tz;
    let clean = |v: &Option<String>| v.as_deref().map_or("", str::trim).to_string();
    let today = pc.ctx.now().date_in(tz).to_string();
    let valid_day = |d: String| Some(d).filter(|d| domain::Date::parse(d).is_some());
    let day = valid_day(clean(&q.day));
    let from = valid_day(clean(&q.from))
        .or_else(|| day.clone())
        .unwrap_or_else(|| today.clone());
    let to = valid_day(clean(&q.to))
        .or_else(|| day.clone())
        .unwrap_or_else(|| from.clone());
    let (call_state, outcome, direction) =
        (clean(&q.state), clean(&q.outcome), clean(&q.direction));
    let (agent, line, phone) = (clean(&q.agent), clean(&q.line), clean(&q.phone));
    let (rc_status, rc_due_from, rc_due_to) = (
        clean(&q.rc_status),
        clean(&q.rc_due_from),
        clean(&q.rc_due_to),
    );
    let (cursor, rc_cursor) = (clean(&q.cursor), clean(&q.rc_cursor));
    let some = |v: &String| Some(v.clone()).filter(|x| !x.is_empty());
    let mut f = FormState::default()
        .with("from", from.clone())
        .with("to", to.clone())
        .with("state", call_state.clone())
        .with("outcome", outcome.clone())
        .with("direction", direction.clone())
        .with("agent", agent.clone())
        .with("line", line.clone())
        .with("phone", phone.clone())
        .with("rc_status", rc_status.clone())
        .with("rc_due_from", rc_due_from.clone())
        .with("rc_due_to", rc_due_to.clone());
    let stats = match hotline::stats(
        &s.app,
        &pc.ctx,
        hotline::StatsQuery {
            from: Some(from.clone()),
            to: Some(to.clone()),
            brand_id: None,
        },
    )
    .await
    {
        Ok(st) => st,
        Err(e @ app::Error::Validation { .. }) => {
            filter_error(&pc, &mut f, e)?;
            hotline::stats(&s.app, &pc.ctx, hotline::StatsQuery::default())
                .await
                .page(&pc)?
        }
        Err(e) => return Err(pc.fail(e)),
    };
    let returns = match hotline::list_return_calls(
        &s.app,
        &pc.ctx,
        ReturnCallFilter {
            status: some(&rc_status),
            due_from: some(&rc_due_from),
            due_to: some(&rc_due_to),
            cursor: some(&rc_cursor),
            limit: Some(50),
            ..ReturnCallFilter::default()
        },
    )
    .await
    {
        Ok(p) => p,
        Err(e @ app::Error::Validation { .. }) => {
            filter_error(&pc, &mut f, e)?;
            hotline::ReturnCallPage {
                items: Vec::new(),
                next_cursor: None,
            }
        }
        Err(e) => return Err(pc.fail(e)),
    };
    let calls = match hotline::list_calls(
        &s.app,
        &pc.ctx,
        CallFilter {
            state: some(&call_state),
            outcome: some(&outcome),
            direction: some(&direction),
            agent_id: agent.parse().ok(),
            line: some(&line),
            phone: some(&phone),
            from: Some(from.clone()),
            to: Some(to.clone()),
            cursor: some(&cursor),
            limit: Some(50),
            ..CallFilter::default()
        },
    )
    .await
    {
        Ok(p) => p,
        Err(e @ app::Error::Validation { .. }) => {
            filter_error(&pc, &mut f, e)?;
            hotline::CallPage {
                items: Vec::new(),
                next_cursor: None,
            }
        }
        Err(e) => return Err(pc.fail(e)),
    };
    // The filters' choices; a user who may not list them simply gets no choices.
    let agents = hotline::extensions(&s.app, &pc.ctx)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|e| (e.user_id, format!("{} ({})", e.display_name, e.extension)))
        .collect();
    let lines = hotline::lines(&s.app, &pc.ctx)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|l| (l.number, l.name))
        .collect();
    let base: Vec<(&str, &str)> = vec![
        ("from", from.as_str()),
        ("to", to.as_str()),
        ("state", call_state.as_str()),
        ("outcome", outcome.as_str()),
        ("direction", direction.as_str()),
        ("agent", agent.as_str()),
        ("line", line.as_str()),
        ("phone", phone.as_str()),
        ("rc_status", rc_status.as_str()),
        ("rc_due_from", rc_due_from.as_str()),
        ("rc_due_to", rc_due_to.as_str()),
    ];
    let with = |extra: &[(&str, &str)]| link(&base, extra);
    let calls_next = calls.next_cursor.as_deref().map_or_else(String::new, |n| {
        with(&[("rc_cursor", rc_cursor.as_str()), ("cursor", n)])
    });
    let returns_next = returns
        .next_cursor
        .as_deref()
        .map_or_else(String::new, |n| {
            with(&[("cursor", cursor.as_str()), ("rc_cursor", n)])
        });
    let back = with(&[
        ("cursor", cursor.as_str()),
        ("rc_cursor", rc_cursor.as_str()),
    ]);
    let returns = returns
        .items
        .into_iter()
        .map(|r: ReturnCallView| ReturnRow {
            id: r.id,
            call_id: r.call_id,
            customer_id: r.customer_id,
            customer_name: r.customer_name,
            phone: r.phone,
            reason: r.reason,
            calls_count: r.calls_count,
            due: r.due_at.display_in(tz),
            overdue: r.overdue,
            callable: r.callable,
            open: r.status == "open",
            status: r.status,
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            version: r.version,
            log: r
                .attempt_log
                .into_iter()
                .map(|a| AttemptRow {
                    at: a.at.display_in(tz),
                    by: a.by_name.unwrap_or_default(),
                    outcome: a.outcome,
                    note: a.note.unwrap_or_default(),
                })
                .collect(),
        })
        .collect();
    let calls = calls
        .items
        .into_iter()
        .map(|v: CallView| call_row(v, |t| t.display_in(tz)))
        .collect();
    Ok(CallsPage {
        can_handle: pc.can(Permission::CallHandle),
        stats: StatsCard::of(&stats),
        first_page: with(&[]),
        paged: !cursor.is_empty() || !rc_cursor.is_empty(),
        c: pc.c,
        f,
        from,
        to,
        returns,
        calls,
        agents,
        lines,
        calls_next,
        returns_next,
        back,
    }
    .into_response())
}

/// The calls page with the filters `base` and `extra` (empty values left out).
fn link<'a>(base: &[(&'a str, &'a str)], extra: &[(&'a str, &'a str)]) -> String {
    let mut pairs = base.to_vec();
    pairs.extend_from_slice(extra);
    format!("/calls?{}", query_string(&pairs))
}

fn call_row(v: CallView, show: impl Fn(domain::Timestamp) -> String) -> CallRow {
    let phone = if v.direction == "outbound" {
        v.called
    } else {
        v.caller.unwrap_or_default()
    };
    CallRow {
        id: v.id,
        at: show(v.ringing_at),
        direction: v.direction,
        state: v.state,
        phone,
        customer_id: v.customer_id,
        customer_name: v.customer_name,
        agent: v.agent_name.or(v.extension).unwrap_or_default(),
        wait: seconds(v.time_to_answer_ms),
        after_hours: v.after_hours,
        recording_url: v.recording_url,
        voicemail_url: v.voicemail_url,
    }
}

pub struct EventRow {
    pub kind: String,
    pub at: String,
    pub extension: String,
    pub media_url: Option<String>,
}

/// One call and its events.
#[derive(Template, WebTemplate)]
#[template(path = "hotline/call.html")]
pub struct CallPageView {
    pub c: Chrome,
    pub call: CallRow,
    pub called: String,
    pub return_call_id: Option<i64>,
    pub events: Vec<EventRow>,
}

async fn call_page(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
) -> Result<CallPageView, PageError> {
    let tz = s.app.settings.tz;
    let v = hotline::get_call(&s.app, &pc.ctx, CallId(id))
        .await
        .page(&pc)?;
    let events = hotline::call_events(&s.app, &pc.ctx, CallId(id))
        .await
        .page(&pc)?;
    Ok(CallPageView {
        called: v.called.clone(),
        return_call_id: v.return_call_id,
        call: call_row(v, |t| t.display_in(tz)),
        events: events
            .into_iter()
            .map(|e| EventRow {
                kind: e.kind,
                at: e.at.display_in(tz),
                extension: e.extension.unwrap_or_default(),
                media_url: e.media_url,
            })
            .collect(),
        c: pc.c,
    })
}

fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

async fn attempt(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
    form: FormData,
) -> Result<Response, PageError> {
    let input = AttemptInput {
        outcome: form.raw("outcome").to_string(),
        note: form.opt("note"),
    };
    let version = form.i64("version").unwrap_or(0);
    hotline::record_attempt(&s.app, &pc.ctx, ReturnCallId(id), version, input)
        .await
        .page(&pc)?;
    Ok(see_other(&back_to(&form, "attempt_recorded")))
}

/// The calls page the form came from (its filters kept), with a flash.
fn back_to(form: &FormData, flash: &str) -> String {
    let back = form.raw("back");
    let base = if back.starts_with("/calls?") || back == "/calls" {
        back.to_string()
    } else {
        "/calls".to_string()
    };
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}flash={flash}")
}

async fn dial(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
    form: FormData,
) -> Result<Response, PageError> {
    hotline::dial_return_call(&s.app, &pc.ctx, ReturnCallId(id))
        .await
        .page(&pc)?;
    Ok(see_other(&back_to(&form, "dialing")))
}
