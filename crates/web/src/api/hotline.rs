//! The hotline (D8): the telephony callback (signed, machine to machine), calls, return calls
//! with attempts and click-to-call, the answer-rate figures, and the lines and extensions that
//! tie calls to brands and agents.

use app::Ctx;
use app::hotline::{
    self, AttemptInput, CallFilter, CallStats, CallView, DialView, ExtensionInput, ExtensionView,
    LineInput, LineView, Receipt, ReturnCallFilter, ReturnCallView, StatsQuery,
};
use app::telephony::{self, TelephonyEvent};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use domain::{CallId, ReturnCallId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::ApiCtx;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{IfMatch, JsonBody, etag};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(telephony_event))
        .routes(routes!(list_calls))
        .routes(routes!(call_stats))
        .routes(routes!(get_call))
        .routes(routes!(list_return_calls))
        .routes(routes!(get_return_call))
        .routes(routes!(record_attempt))
        .routes(routes!(dial))
        .routes(routes!(list_extensions))
        .routes(routes!(set_extension, remove_extension))
        .routes(routes!(list_lines))
        .routes(routes!(set_line))
}

/// The telephony system's callback. Not a session or bearer request: it is authenticated by
/// `X-Kefu-Signature: sha256=<hex HMAC-SHA256(KEFU_TELEPHONY_SECRET, X-Kefu-Timestamp + "." +
/// body)>` over the raw body, with `X-Kefu-Timestamp` in Unix seconds no more than 5 minutes
/// from the server's clock. A retried event (same `event_id`) answers 200 with `duplicate: true`
/// and changes nothing; events may arrive in any order.
#[utoipa::path(post, path = "/telephony/events", tag = "hotline", request_body = TelephonyEvent,
    security(()),
    params(
        ("X-Kefu-Timestamp" = String, Header, description = "Unix seconds when the callback was signed"),
        ("X-Kefu-Signature" = String, Header, description = "sha256=<hex HMAC-SHA256(secret, timestamp + \".\" + body)>"),
    ),
    responses(
        (status = 200, description = "Recorded (or a duplicate, acknowledged)", body = Receipt),
        (status = 401, description = "bad_signature or stale_timestamp; nothing stored", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 503, description = "telephony_disabled: no secret configured", body = ErrorBody),
    ))]
async fn telephony_event(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Receipt>, ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    telephony::verify_callback(
        s.app.settings.telephony_secret.as_ref(),
        s.clock.now(),
        header("x-kefu-timestamp"),
        header("x-kefu-signature"),
        &body,
    )
    .map_err(|r| ApiError::new(r.code(), r.to_string()))?;
    let event: TelephonyEvent = serde_json::from_slice(&body).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => ApiError::new("validation", e.to_string()),
            _ => ApiError::new("malformed_json", format!("malformed JSON: {e}")),
        }
    })?;
    let raw = String::from_utf8_lossy(&body);
    let ctx = Ctx::system("telephony", s.clock.clone());
    Ok(Json(
        hotline::receive_event(&s.app, &ctx, &event, &raw).await?,
    ))
}

#[utoipa::path(get, path = "/calls", tag = "hotline", params(CallFilter),
    responses((status = 200, description = "Calls, newest first", body = Vec<CallView>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_calls(
    State(s): State<AppState>,
    api: ApiCtx,
    Query(f): Query<CallFilter>,
) -> Result<Json<Vec<CallView>>, ApiError> {
    Ok(Json(hotline::list_calls(&s.app, &api.ctx, f).await?))
}

#[utoipa::path(get, path = "/calls/stats", tag = "hotline", params(StatsQuery),
    responses((status = 200, description = "Answer rate and time to answer of inbound calls, from the call records", body = CallStats), (status = 422, body = ErrorBody)))]
async fn call_stats(
    State(s): State<AppState>,
    api: ApiCtx,
    Query(q): Query<StatsQuery>,
) -> Result<Json<CallStats>, ApiError> {
    Ok(Json(hotline::stats(&s.app, &api.ctx, q).await?))
}

#[utoipa::path(get, path = "/calls/{id}", tag = "hotline", params(("id" = i64, Path)),
    responses((status = 200, body = CallView), (status = 404, body = ErrorBody)))]
async fn get_call(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
) -> Result<Json<CallView>, ApiError> {
    Ok(Json(hotline::get_call(&s.app, &api.ctx, CallId(id)).await?))
}

#[utoipa::path(get, path = "/return-calls", tag = "hotline", params(ReturnCallFilter),
    responses((status = 200, description = "Return calls, open ones first by due time", body = Vec<ReturnCallView>)))]
async fn list_return_calls(
    State(s): State<AppState>,
    api: ApiCtx,
    Query(f): Query<ReturnCallFilter>,
) -> Result<Json<Vec<ReturnCallView>>, ApiError> {
    Ok(Json(hotline::list_return_calls(&s.app, &api.ctx, f).await?))
}

#[utoipa::path(get, path = "/return-calls/{id}", tag = "hotline", params(("id" = i64, Path)),
    responses((status = 200, description = "The task with its attempts", body = ReturnCallView), (status = 404, body = ErrorBody)))]
async fn get_return_call(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let v = hotline::get_return_call(&s.app, &api.ctx, ReturnCallId(id)).await?;
    Ok((etag(v.version), Json(v)).into_response())
}

#[utoipa::path(post, path = "/return-calls/{id}/attempts", tag = "hotline", request_body = AttemptInput,
    params(("id" = i64, Path), ("If-Match" = String, Header, description = "\"<version>\" of the task as read")),
    responses((status = 200, description = "The task after the attempt (reached, still open, or given up after N attempts)", body = ReturnCallView),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 428, body = ErrorBody)))]
async fn record_attempt(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
    IfMatch(v): IfMatch,
    body: JsonBody<AttemptInput>,
) -> Result<Response, ApiError> {
    let view = hotline::record_attempt(&s.app, &api.ctx, ReturnCallId(id), v, body.value).await?;
    Ok((etag(view.version), Json(view)).into_response())
}

#[utoipa::path(post, path = "/return-calls/{id}/dial", tag = "hotline", params(("id" = i64, Path)),
    responses((status = 200, description = "Placed: the platform rings you, then the customer, both seeing the bound landline", body = DialView),
        (status = 409, description = "closed task, click-to-call not configured, or the provider refused", body = ErrorBody)))]
async fn dial(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
) -> Result<Json<DialView>, ApiError> {
    Ok(Json(
        hotline::dial_return_call(&s.app, &api.ctx, ReturnCallId(id)).await?,
    ))
}

#[utoipa::path(get, path = "/hotline/extensions", tag = "hotline",
    responses((status = 200, body = Vec<ExtensionView>), (status = 403, body = ErrorBody)))]
async fn list_extensions(
    State(s): State<AppState>,
    api: ApiCtx,
) -> Result<Json<Vec<ExtensionView>>, ApiError> {
    Ok(Json(hotline::extensions(&s.app, &api.ctx).await?))
}

#[utoipa::path(put, path = "/hotline/extensions/{extension}", tag = "hotline", request_body = ExtensionInput,
    params(("extension" = String, Path)),
    responses((status = 200, description = "Events naming this extension pop on this agent's page", body = ExtensionView), (status = 422, body = ErrorBody)))]
async fn set_extension(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(ext): Path<String>,
    body: JsonBody<ExtensionInput>,
) -> Result<Json<ExtensionView>, ApiError> {
    Ok(Json(
        hotline::set_extension(&s.app, &api.ctx, &ext, body.value).await?,
    ))
}

#[utoipa::path(delete, path = "/hotline/extensions/{extension}", tag = "hotline",
    params(("extension" = String, Path)),
    responses((status = 204, description = "Unbound"), (status = 404, body = ErrorBody)))]
async fn remove_extension(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(ext): Path<String>,
) -> Result<StatusCode, ApiError> {
    hotline::remove_extension(&s.app, &api.ctx, &ext).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/hotline/lines", tag = "hotline",
    responses((status = 200, body = Vec<LineView>)))]
async fn list_lines(
    State(s): State<AppState>,
    api: ApiCtx,
) -> Result<Json<Vec<LineView>>, ApiError> {
    Ok(Json(hotline::lines(&s.app, &api.ctx).await?))
}

#[utoipa::path(put, path = "/hotline/lines/{number}", tag = "hotline", request_body = LineInput,
    params(("number" = String, Path, description = "The 400/800 number calls arrive on")),
    responses((status = 200, description = "Calls to this number belong to the brand", body = LineView), (status = 422, body = ErrorBody)))]
async fn set_line(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(number): Path<String>,
    body: JsonBody<LineInput>,
) -> Result<Json<LineView>, ApiError> {
    Ok(Json(
        hotline::set_line(&s.app, &api.ctx, &number, body.value).await?,
    ))
}
