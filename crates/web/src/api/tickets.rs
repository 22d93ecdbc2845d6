//! Tickets (受理单): create from any channel, queues, the ticket with its plan and history,
//! workflow actions under If-Match, replies and notes, compensation, negative-review recovery,
//! the monthly complaint report, and the requester's signed status link.

use app::tickets::{
    self, ActionInput, CompensationInput, MessageInput, MonthReport, PublicTicketView, QueueCounts,
    ReviewInput, ReviewOutcomeInput, TicketCreated, TicketInput, TicketListInput, TicketPage,
    TicketView,
};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use domain::TicketId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::customers::{CreatedId, created};
use crate::AppState;
use crate::auth::ApiCtx;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{IfMatch, JsonBody, etag};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tickets, create_ticket))
        .routes(routes!(queue_counts))
        .routes(routes!(get_ticket))
        .routes(routes!(act))
        .routes(routes!(add_message))
        .routes(routes!(add_compensation))
        .routes(routes!(compensation_step))
        .routes(routes!(record_review, review_outcome))
        .routes(routes!(status_link))
        .routes(routes!(month_report))
}

/// The public routes of the requester's status link: no session, the key is the credential.
pub fn public_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(public_view, public_act))
}

#[utoipa::path(get, path = "/tickets", tag = "tickets", params(TicketListInput),
    responses((status = 200, body = TicketPage), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_tickets(
    State(s): State<AppState>,
    api: ApiCtx,
    Query(q): Query<TicketListInput>,
) -> Result<Json<TicketPage>, ApiError> {
    Ok(Json(tickets::list(&s.app, &api.ctx, q).await?))
}

#[utoipa::path(post, path = "/tickets", tag = "tickets", request_body = TicketInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first result")),
    responses(
        (status = 201, description = "A new ticket (status_link is shown once)", body = TicketCreated),
        (status = 200, description = "The caller had an open ticket: the request was attached to it", body = TicketCreated),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_ticket(
    State(s): State<AppState>,
    api: ApiCtx,
    headers: HeaderMap,
    body: JsonBody<TicketInput>,
) -> Result<Response, ApiError> {
    let ctx = api.with_idem(&headers, "POST /tickets", &body.hash)?;
    let made = tickets::create(&s.app, &ctx, body.value).await?;
    if made.attached {
        return Ok((StatusCode::OK, Json(made)).into_response());
    }
    Ok(created(made.replayed, 1, made))
}

#[utoipa::path(get, path = "/tickets/queues", tag = "tickets",
    responses((status = 200, description = "Open tickets per queue for the caller", body = QueueCounts)))]
async fn queue_counts(
    State(s): State<AppState>,
    api: ApiCtx,
) -> Result<Json<QueueCounts>, ApiError> {
    Ok(Json(tickets::queue_counts(&s.app, &api.ctx).await?))
}

#[utoipa::path(get, path = "/tickets/{id}", tag = "tickets", params(("id" = i64, Path)),
    responses((status = 200, body = TicketView), (status = 404, body = ErrorBody)))]
async fn get_ticket(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let v = tickets::get(&s.app, &api.ctx, TicketId(id)).await?;
    Ok((etag(v.summary.version), Json(v)).into_response())
}

/// The ticket's new version after an action.
#[derive(Debug, Serialize, ToSchema)]
pub struct Acted {
    pub id: i64,
    pub version: i64,
}

#[utoipa::path(post, path = "/tickets/{id}/actions", tag = "tickets", request_body = ActionInput,
    params(("id" = i64, Path), ("If-Match" = String, Header, description = "\"<version>\" as read")),
    responses((status = 200, body = Acted),
        (status = 403, description = "forbidden, or not_owner", body = ErrorBody),
        (status = 409, description = "version_conflict, not_allowed, plan_not_signed, compensation_open, …", body = ErrorBody),
        (status = 422, description = "validation, committed_time_in_past", body = ErrorBody),
        (status = 428, body = ErrorBody)))]
async fn act(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
    IfMatch(v): IfMatch,
    body: JsonBody<ActionInput>,
) -> Result<Response, ApiError> {
    let version = tickets::act(&s.app, &api.ctx, TicketId(id), v, body.value).await?;
    Ok((etag(version), Json(Acted { id, version })).into_response())
}

#[utoipa::path(post, path = "/tickets/{id}/messages", tag = "tickets", request_body = MessageInput,
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first message")),
    responses((status = 201, body = CreatedId), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_message(
    State(s): State<AppState>,
    api: ApiCtx,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: JsonBody<MessageInput>,
) -> Result<Response, ApiError> {
    let ctx = api.with_idem(
        &headers,
        &format!("POST /tickets/{id}/messages"),
        &body.hash,
    )?;
    let made = tickets::add_message(&s.app, &ctx, TicketId(id), body.value).await?;
    Ok(created(made.replayed, 1, CreatedId { id: made.id }))
}

#[utoipa::path(post, path = "/tickets/{id}/compensations", tag = "tickets", request_body = CompensationInput,
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first compensation")),
    responses((status = 201, body = CreatedId), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_compensation(
    State(s): State<AppState>,
    api: ApiCtx,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: JsonBody<CompensationInput>,
) -> Result<Response, ApiError> {
    let ctx = api.with_idem(
        &headers,
        &format!("POST /tickets/{id}/compensations"),
        &body.hash,
    )?;
    let made = tickets::add_compensation(&s.app, &ctx, TicketId(id), body.value).await?;
    Ok(created(made.replayed, 1, CreatedId { id: made.id }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CompensationStep {
    /// approve | pay | cancel
    pub step: String,
}

#[utoipa::path(post, path = "/tickets/{id}/compensations/{comp_id}", tag = "tickets", request_body = CompensationStep,
    params(("id" = i64, Path), ("comp_id" = i64, Path), ("If-Match" = String, Header, description = "The compensation's version")),
    responses((status = 204), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn compensation_step(
    State(s): State<AppState>,
    api: ApiCtx,
    Path((id, comp)): Path<(i64, i64)>,
    IfMatch(v): IfMatch,
    body: JsonBody<CompensationStep>,
) -> Result<StatusCode, ApiError> {
    tickets::compensation_step(&s.app, &api.ctx, TicketId(id), comp, v, &body.value.step).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/tickets/{id}/review", tag = "tickets", request_body = ReviewInput,
    params(("id" = i64, Path)),
    responses((status = 204), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn record_review(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
    body: JsonBody<ReviewInput>,
) -> Result<StatusCode, ApiError> {
    tickets::record_review(&s.app, &api.ctx, TicketId(id), body.value).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(put, path = "/tickets/{id}/review", tag = "tickets", request_body = ReviewOutcomeInput,
    params(("id" = i64, Path), ("If-Match" = String, Header, description = "The review record's version")),
    responses((status = 204), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn review_outcome(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
    IfMatch(v): IfMatch,
    body: JsonBody<ReviewOutcomeInput>,
) -> Result<StatusCode, ApiError> {
    tickets::review_outcome(&s.app, &api.ctx, TicketId(id), v, body.value).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusLink {
    /// Path of the requester's status page; the previous link stops working.
    pub link: String,
}

#[utoipa::path(post, path = "/tickets/{id}/status-link", tag = "tickets", params(("id" = i64, Path)),
    responses((status = 200, body = StatusLink), (status = 404, body = ErrorBody)))]
async fn status_link(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
) -> Result<Json<StatusLink>, ApiError> {
    let link = tickets::new_status_link(&s.app, &api.ctx, TicketId(id)).await?;
    Ok(Json(StatusLink { link }))
}

#[derive(Debug, Deserialize, IntoParams)]
struct MonthQuery {
    /// YYYY-MM
    month: String,
}

#[utoipa::path(get, path = "/reports/complaints", tag = "tickets", params(MonthQuery),
    responses((status = 200, body = MonthReport), (status = 422, body = ErrorBody)))]
async fn month_report(
    State(s): State<AppState>,
    api: ApiCtx,
    Query(q): Query<MonthQuery>,
) -> Result<Json<MonthReport>, ApiError> {
    Ok(Json(
        tickets::month_report(&s.app, &api.ctx, &q.month).await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
struct KeyQuery {
    /// The key from the status link.
    k: String,
}

#[utoipa::path(get, path = "/public/tickets/{number}", tag = "public", params(("number" = String, Path), KeyQuery),
    security(()),
    responses((status = 200, body = PublicTicketView), (status = 404, description = "unknown number or wrong key", body = ErrorBody)))]
async fn public_view(
    State(s): State<AppState>,
    Path(number): Path<String>,
    Query(q): Query<KeyQuery>,
) -> Result<Json<PublicTicketView>, ApiError> {
    Ok(Json(tickets::public_view(&s.app, &number, &q.k).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PublicAction {
    /// confirm | reopen | urge | message
    pub action: String,
    /// The reason (reopen), the message (message) or a note.
    #[serde(default)]
    pub text: Option<String>,
    /// The version shown on the status page.
    pub version: i64,
}

#[utoipa::path(post, path = "/public/tickets/{number}/actions", tag = "public", request_body = PublicAction,
    params(("number" = String, Path), KeyQuery), security(()),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn public_act(
    State(s): State<AppState>,
    Path(number): Path<String>,
    Query(q): Query<KeyQuery>,
    body: JsonBody<PublicAction>,
) -> Result<StatusCode, ApiError> {
    let b = body.value;
    let now = s.clock.now();
    tickets::public_act(&s.app, now, &number, &q.k, b.version, &b.action, b.text).await?;
    Ok(StatusCode::NO_CONTENT)
}
