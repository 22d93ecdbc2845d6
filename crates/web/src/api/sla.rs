//! Business calendars (with their holidays and make-up working days), deadline arithmetic, SLA
//! policies and the supervisors' clock lists (D4).

use app::sla::{
    self, CalendarInput, CalendarView, ClockView, DayInput, DayView, DeadlineInput, DeadlineView,
    NewCalendarInput, PolicyInput, PolicyView,
};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use domain::sla::{Subject, SubjectKind};
use domain::{CalendarId, SlaPolicyId, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::customers::created;
use crate::AppState;
use crate::auth::ApiCtx;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{IfMatch, JsonBody, etag};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_calendars, create_calendar))
        .routes(routes!(get_calendar, update_calendar, delete_calendar))
        .routes(routes!(deadline))
        .routes(routes!(get_day, put_day, delete_day))
        .routes(routes!(list_policies, create_policy))
        .routes(routes!(update_policy))
        .routes(routes!(clocks))
        .routes(routes!(breaching))
        .routes(routes!(breached))
}

#[utoipa::path(get, path = "/calendars", tag = "sla",
    responses((status = 200, body = Vec<CalendarView>), (status = 401, body = ErrorBody)))]
async fn list_calendars(
    State(s): State<AppState>,
    api: ApiCtx,
) -> Result<Json<Vec<CalendarView>>, ApiError> {
    Ok(Json(sla::list_calendars(&s.app, &api.ctx).await?))
}

#[utoipa::path(post, path = "/calendars", tag = "sla", request_body = NewCalendarInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first result")),
    responses((status = 201, description = "Added, with the days copied from `copy_days_from`", body = CalendarView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_calendar(
    State(s): State<AppState>,
    api: ApiCtx,
    headers: HeaderMap,
    body: JsonBody<NewCalendarInput>,
) -> Result<Response, ApiError> {
    let ctx = api.with_idem(&headers, "POST /calendars", &body.hash)?;
    let made = sla::create_calendar_once(&s.app, &ctx, body.value).await?;
    let v = sla::get_calendar(&s.app, &ctx, made.id).await?;
    Ok(created(made.replayed, v.version, v))
}

#[utoipa::path(get, path = "/calendars/{id}", tag = "sla", params(("id" = i64, Path)),
    responses((status = 200, description = "The calendar with its days", body = CalendarView), (status = 404, body = ErrorBody)))]
async fn get_calendar(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let v = sla::get_calendar(&s.app, &api.ctx, CalendarId(id)).await?;
    Ok((etag(v.version), Json(v)).into_response())
}

#[utoipa::path(put, path = "/calendars/{id}", tag = "sla", request_body = CalendarInput,
    params(("id" = i64, Path), ("If-Match" = String, Header, description = "\"<version>\" as read")),
    responses((status = 200, body = CalendarView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 428, body = ErrorBody)))]
async fn update_calendar(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
    IfMatch(v): IfMatch,
    body: JsonBody<CalendarInput>,
) -> Result<Response, ApiError> {
    let view = sla::update_calendar(&s.app, &api.ctx, CalendarId(id), v, body.value).await?;
    Ok((etag(view.version), Json(view)).into_response())
}

#[utoipa::path(delete, path = "/calendars/{id}", tag = "sla",
    params(("id" = i64, Path), ("If-Match" = String, Header, description = "\"<version>\" as read")),
    responses((status = 204, description = "Deleted with its days"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The default calendar, or one still used by SLA policies, clocks or hotline lines; or a stale version", body = ErrorBody), (status = 428, body = ErrorBody)))]
async fn delete_calendar(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
    IfMatch(v): IfMatch,
) -> Result<StatusCode, ApiError> {
    sla::delete_calendar(&s.app, &api.ctx, CalendarId(id), v).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/calendars/{id}/deadline", tag = "sla", request_body = DeadlineInput,
    params(("id" = i64, Path)),
    responses((status = 200, description = "When the business time has run", body = DeadlineView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn deadline(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
    body: JsonBody<DeadlineInput>,
) -> Result<Json<DeadlineView>, ApiError> {
    Ok(Json(
        sla::deadline(&s.app, &api.ctx, CalendarId(id), body.value).await?,
    ))
}

#[utoipa::path(get, path = "/calendars/{id}/days/{date}", tag = "sla",
    params(("id" = i64, Path), ("date" = String, Path, description = "YYYY-MM-DD")),
    responses((status = 200, body = DayView), (status = 404, description = "No rule for this date", body = ErrorBody)))]
async fn get_day(
    State(s): State<AppState>,
    api: ApiCtx,
    Path((id, date)): Path<(i64, String)>,
) -> Result<Json<DayView>, ApiError> {
    Ok(Json(
        sla::get_day(&s.app, &api.ctx, CalendarId(id), &date).await?,
    ))
}

/// The calendar's version after a change of its days.
#[derive(Debug, Serialize, ToSchema)]
struct CalendarVersion {
    calendar_version: i64,
}

#[utoipa::path(put, path = "/calendars/{id}/days/{date}", tag = "sla", request_body = DayInput,
    params(("id" = i64, Path), ("date" = String, Path, description = "YYYY-MM-DD")),
    responses((status = 200, description = "Set (a holiday, a make-up working day or special hours)", body = CalendarVersion), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn put_day(
    State(s): State<AppState>,
    api: ApiCtx,
    Path((id, date)): Path<(i64, String)>,
    body: JsonBody<DayInput>,
) -> Result<Response, ApiError> {
    let v = sla::put_day(&s.app, &api.ctx, CalendarId(id), &date, body.value).await?;
    Ok((
        etag(v),
        Json(CalendarVersion {
            calendar_version: v,
        }),
    )
        .into_response())
}

#[utoipa::path(delete, path = "/calendars/{id}/days/{date}", tag = "sla",
    params(("id" = i64, Path), ("date" = String, Path, description = "YYYY-MM-DD")),
    responses((status = 204, description = "The date follows its weekday again"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_day(
    State(s): State<AppState>,
    api: ApiCtx,
    Path((id, date)): Path<(i64, String)>,
) -> Result<StatusCode, ApiError> {
    sla::delete_day(&s.app, &api.ctx, CalendarId(id), &date).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/sla/policies", tag = "sla",
    responses((status = 200, body = Vec<PolicyView>)))]
async fn list_policies(
    State(s): State<AppState>,
    api: ApiCtx,
) -> Result<Json<Vec<PolicyView>>, ApiError> {
    Ok(Json(sla::list_policies(&s.app, &api.ctx).await?))
}

#[utoipa::path(post, path = "/sla/policies", tag = "sla", request_body = PolicyInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first result")),
    responses((status = 201, body = PolicyView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_policy(
    State(s): State<AppState>,
    api: ApiCtx,
    headers: HeaderMap,
    body: JsonBody<PolicyInput>,
) -> Result<Response, ApiError> {
    let ctx = api.with_idem(&headers, "POST /sla/policies", &body.hash)?;
    let made = sla::create_policy_once(&s.app, &ctx, body.value).await?;
    let v = sla::get_policy(&s.app, &ctx, made.id).await?;
    Ok(created(made.replayed, v.version, v))
}

#[utoipa::path(put, path = "/sla/policies/{id}", tag = "sla", request_body = PolicyInput,
    params(("id" = i64, Path), ("If-Match" = String, Header, description = "\"<version>\" as read")),
    responses((status = 200, body = PolicyView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 428, body = ErrorBody)))]
async fn update_policy(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
    IfMatch(v): IfMatch,
    body: JsonBody<PolicyInput>,
) -> Result<Response, ApiError> {
    let view = sla::update_policy(&s.app, &api.ctx, SlaPolicyId(id), v, body.value).await?;
    Ok((etag(view.version), Json(view)).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
struct SubjectQuery {
    /// `ticket` or `work_order`
    subject_kind: String,
    subject_id: i64,
}

#[utoipa::path(get, path = "/sla/clocks", tag = "sla", params(SubjectQuery),
    responses((status = 200, description = "The subject's clocks", body = Vec<ClockView>), (status = 422, body = ErrorBody)))]
async fn clocks(
    State(s): State<AppState>,
    api: ApiCtx,
    Query(q): Query<SubjectQuery>,
) -> Result<Json<Vec<ClockView>>, ApiError> {
    let kind = SubjectKind::parse(&q.subject_kind)
        .ok_or_else(|| app::Error::field("subject_kind", "ticket or work_order"))?;
    let subject = Subject {
        kind,
        id: q.subject_id,
    };
    Ok(Json(sla::clocks_of(&s.app, &api.ctx, subject).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
struct BreachingQuery {
    /// Clocks due within this many minutes from now (default 60).
    within_minutes: Option<i64>,
    /// At most this many (default 50, at most 200).
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/sla/breaching", tag = "sla", params(BreachingQuery),
    responses((status = 200, description = "Running clocks about to breach, soonest first", body = Vec<ClockView>), (status = 403, body = ErrorBody)))]
async fn breaching(
    State(s): State<AppState>,
    api: ApiCtx,
    Query(q): Query<BreachingQuery>,
) -> Result<Json<Vec<ClockView>>, ApiError> {
    let within = q.within_minutes.unwrap_or(60).saturating_mul(60_000);
    Ok(Json(
        sla::breaching(&s.app, &api.ctx, within, q.limit.unwrap_or(50)).await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
struct BreachedQuery {
    /// Only clocks still running (default true).
    open_only: Option<bool>,
    /// The `breached_at` of the last item of the previous page (RFC 3339)…
    before_at: Option<String>,
    /// …and its id.
    before_id: Option<i64>,
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/sla/breached", tag = "sla", params(BreachedQuery),
    responses((status = 200, description = "Breached clocks, latest breach first", body = Vec<ClockView>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn breached(
    State(s): State<AppState>,
    api: ApiCtx,
    Query(q): Query<BreachedQuery>,
) -> Result<Json<Vec<ClockView>>, ApiError> {
    let after = match (q.before_at.as_deref(), q.before_id) {
        (Some(at), Some(id)) => Some((
            Timestamp::parse_rfc3339(at)
                .ok_or_else(|| app::Error::field("before_at", "an RFC 3339 instant"))?,
            id,
        )),
        (None, None) => None,
        _ => {
            return Err(
                app::Error::field("before_id", "give before_at and before_id together").into(),
            );
        }
    };
    Ok(Json(
        sla::breached(
            &s.app,
            &api.ctx,
            q.open_only.unwrap_or(true),
            after,
            q.limit.unwrap_or(50),
        )
        .await?,
    ))
}
