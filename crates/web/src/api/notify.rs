//! Notifications (D7): organisations' subscriptions to ticket events (企业微信 bots, signed
//! webhooks), customers' WeChat bindings, and the outbox's delivery status.

use app::notify::subscriptions::{
    self as subs, OutboxListInput, OutboxView, SubscriptionInput, SubscriptionView,
    WechatBindingInput, WechatBindingView,
};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use domain::{CustomerId, TicketId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Paged;
use super::customers::created;
use crate::AppState;
use crate::auth::ApiCtx;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{IfMatch, JsonBody, etag};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_subscriptions, create_subscription))
        .routes(routes!(
            get_subscription,
            update_subscription,
            delete_subscription
        ))
        .routes(routes!(test_subscription))
        .routes(routes!(bind_wechat, unbind_wechat))
        .routes(routes!(ticket_notifications))
        .routes(routes!(list_outbox))
        .routes(routes!(retry_outbox))
}

#[utoipa::path(get, path = "/notify/subscriptions", tag = "notify",
    responses((status = 200, body = Vec<SubscriptionView>), (status = 403, body = ErrorBody)))]
async fn list_subscriptions(
    State(s): State<AppState>,
    api: ApiCtx,
) -> Result<Json<Vec<SubscriptionView>>, ApiError> {
    Ok(Json(subs::list_subscriptions(&s.app, &api.ctx).await?))
}

#[utoipa::path(post, path = "/notify/subscriptions", tag = "notify", request_body = SubscriptionInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first result")),
    responses((status = 201, body = SubscriptionView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_subscription(
    State(s): State<AppState>,
    api: ApiCtx,
    headers: HeaderMap,
    body: JsonBody<SubscriptionInput>,
) -> Result<Response, ApiError> {
    let ctx = api.with_idem(&headers, "POST /notify/subscriptions", &body.hash)?;
    let made = subs::create_subscription_once(&s.app, &ctx, body.value).await?;
    let v = subs::get_subscription(&s.app, &ctx, made.id).await?;
    Ok(created(made.replayed, v.version, v))
}

#[utoipa::path(get, path = "/notify/subscriptions/{id}", tag = "notify", params(("id" = i64, Path)),
    responses((status = 200, body = SubscriptionView), (status = 404, body = ErrorBody)))]
async fn get_subscription(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let v = subs::get_subscription(&s.app, &api.ctx, id).await?;
    Ok((etag(v.version), Json(v)).into_response())
}

#[utoipa::path(put, path = "/notify/subscriptions/{id}", tag = "notify", request_body = SubscriptionInput,
    params(("id" = i64, Path), ("If-Match" = String, Header, description = "\"<version>\" as read")),
    responses((status = 200, body = SubscriptionView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 428, body = ErrorBody)))]
async fn update_subscription(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
    IfMatch(v): IfMatch,
    body: JsonBody<SubscriptionInput>,
) -> Result<Response, ApiError> {
    let view = subs::update_subscription(&s.app, &api.ctx, id, v, body.value).await?;
    Ok((etag(view.version), Json(view)).into_response())
}

#[utoipa::path(delete, path = "/notify/subscriptions/{id}", tag = "notify", params(("id" = i64, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody)))]
async fn delete_subscription(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    subs::delete_subscription(&s.app, &api.ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The outbox row a test message was written to.
#[derive(Debug, Serialize, ToSchema)]
struct Queued {
    outbox_id: i64,
}

#[utoipa::path(post, path = "/notify/subscriptions/{id}/test", tag = "notify", params(("id" = i64, Path)),
    responses((status = 202, description = "A test message is queued", body = Queued), (status = 404, body = ErrorBody)))]
async fn test_subscription(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let outbox_id = subs::send_test(&s.app, &api.ctx, id).await?;
    Ok((StatusCode::ACCEPTED, Json(Queued { outbox_id })).into_response())
}

#[utoipa::path(put, path = "/customers/{id}/wechat", tag = "customers", request_body = WechatBindingInput,
    params(("id" = i64, Path)),
    responses((status = 200, body = WechatBindingView), (status = 404, body = ErrorBody), (status = 409, description = "The openid is bound to another customer", body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn bind_wechat(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
    body: JsonBody<WechatBindingInput>,
) -> Result<Json<WechatBindingView>, ApiError> {
    Ok(Json(
        subs::bind_wechat(&s.app, &api.ctx, CustomerId(id), body.value).await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
struct AppidQuery {
    /// The WeChat app (default the configured one).
    appid: Option<String>,
}

#[utoipa::path(delete, path = "/customers/{id}/wechat", tag = "customers", params(("id" = i64, Path), AppidQuery),
    responses((status = 204, description = "Unbound"), (status = 404, body = ErrorBody)))]
async fn unbind_wechat(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
    Query(q): Query<AppidQuery>,
) -> Result<StatusCode, ApiError> {
    subs::unbind_wechat(&s.app, &api.ctx, CustomerId(id), q.appid.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/tickets/{id}/notifications", tag = "tickets", params(("id" = i64, Path)),
    responses((status = 200, description = "The ticket's messages, newest first", body = Vec<OutboxView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn ticket_notifications(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
) -> Result<Json<Vec<OutboxView>>, ApiError> {
    Ok(Json(
        subs::ticket_notifications(&s.app, &api.ctx, TicketId(id)).await?,
    ))
}

#[utoipa::path(get, path = "/notify/outbox", tag = "notify", params(OutboxListInput),
    responses((status = 200, body = Paged<OutboxView>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_outbox(
    State(s): State<AppState>,
    api: ApiCtx,
    Query(q): Query<OutboxListInput>,
) -> Result<Json<Paged<OutboxView>>, ApiError> {
    let p = subs::list_outbox(&s.app, &api.ctx, q).await?;
    Ok(Json(Paged {
        items: p.items,
        next_cursor: p.next.map(|c| c.encode()),
    }))
}

#[utoipa::path(post, path = "/notify/outbox/{id}/retry", tag = "notify", params(("id" = i64, Path)),
    responses((status = 202, description = "Queued again"), (status = 404, body = ErrorBody), (status = 409, description = "Not failed", body = ErrorBody)))]
async fn retry_outbox(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    subs::retry_outbox(&s.app, &api.ctx, id).await?;
    Ok(StatusCode::ACCEPTED)
}
