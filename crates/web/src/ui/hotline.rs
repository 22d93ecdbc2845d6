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
use domain::{Permission, ReturnCallId};
use futures::Stream;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::chrome::{Chrome, FormData, FormState, OrPage, PageCtx, PageError};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ui/events", get(events))
        .route("/calls", get(page))
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

#[derive(Debug, Default, Deserialize)]
pub struct CallsQuery {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    day: Option<String>,
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
            fast_share: percent(s.within_15s_share),
        }
    }
}

pub struct ReturnRow {
    pub id: i64,
    pub customer_id: Option<i64>,
    pub customer_name: Option<String>,
    pub phone: String,
    pub reason: String,
    pub calls_count: i64,
    pub due: String,
    pub overdue: bool,
    pub status: String,
    pub open: bool,
    pub attempts: i64,
    pub max_attempts: i64,
    pub version: i64,
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
    pub day: String,
    pub stats: StatsCard,
    pub returns: Vec<ReturnRow>,
    pub calls: Vec<CallRow>,
    pub can_handle: bool,
}

async fn page(
    State(s): State<AppState>,
    pc: PageCtx,
    Query(q): Query<CallsQuery>,
) -> Result<Response, PageError> {
    let tz = s.app.settings.tz;
    let clean = |v: &Option<String>| v.as_deref().map_or("", str::trim).to_string();
    let (call_state, phone) = (clean(&q.state), clean(&q.phone));
    let day = Some(clean(&q.day))
        .filter(|d| domain::Date::parse(d).is_some())
        .unwrap_or_else(|| pc.ctx.now().date_in(tz).to_string());
    let stats = hotline::stats(
        &s.app,
        &pc.ctx,
        hotline::StatsQuery {
            from: Some(day.clone()),
            to: Some(day.clone()),
            brand_id: None,
        },
    )
    .await
    .page(&pc)?;
    let returns = hotline::list_return_calls(
        &s.app,
        &pc.ctx,
        ReturnCallFilter {
            limit: Some(100),
            ..ReturnCallFilter::default()
        },
    )
    .await
    .page(&pc)?;
    let calls = hotline::list_calls(
        &s.app,
        &pc.ctx,
        CallFilter {
            state: Some(call_state.clone()).filter(|x| !x.is_empty()),
            phone: Some(phone.clone()).filter(|x| !x.is_empty()),
            from: Some(day.clone()),
            to: Some(day.clone()),
            limit: Some(100),
            ..CallFilter::default()
        },
    )
    .await
    .page(&pc)?;
    let returns = returns
        .into_iter()
        .map(|r: ReturnCallView| ReturnRow {
            id: r.id,
            customer_id: r.customer_id,
            customer_name: r.customer_name,
            phone: r.phone,
            reason: r.reason,
            calls_count: r.calls_count,
            due: r.due_at.display_in(tz),
            overdue: r.overdue,
            open: r.status == "open",
            status: r.status,
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            version: r.version,
        })
        .collect();
    let calls = calls
        .into_iter()
        .map(|v: CallView| CallRow {
            id: v.id,
            at: v.ringing_at.display_in(tz),
            direction: v.direction,
            state: v.state,
            phone: v.caller.unwrap_or_default(),
            customer_id: v.customer_id,
            customer_name: v.customer_name,
            agent: v.agent_name.or(v.extension).unwrap_or_default(),
            wait: seconds(v.time_to_answer_ms),
            after_hours: v.after_hours,
            recording_url: v.recording_url,
            voicemail_url: v.voicemail_url,
        })
        .collect();
    let f = FormState::default()
        .with("state", call_state)
        .with("phone", phone);
    Ok(CallsPage {
        can_handle: pc.can(Permission::CallHandle),
        stats: StatsCard::of(&stats),
        c: pc.c,
        f,
        day,
        returns,
        calls,
    }
    .into_response())
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
    Ok(see_other("/calls?flash=attempt_recorded"))
}

async fn dial(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    hotline::dial_return_call(&s.app, &pc.ctx, ReturnCallId(id))
        .await
        .page(&pc)?;
    Ok(see_other("/calls?flash=dialing"))
}
