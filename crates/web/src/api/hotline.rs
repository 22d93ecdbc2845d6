//! The hotline (D8): the telephony callback (signed, machine to machine), calls, return calls
//! with attempts and click-to-call, the answer-rate figures, and the lines and extensions that
//! tie calls to brands and agents.

use app::Ctx;
use app::hotline::{
    self, AttemptInput, CallEventView, CallFilter, CallPage, CallStats, CallView, DialView,
    ExtensionInput, ExtensionView, LineInput, LineView, Receipt, ReturnCallFilter, ReturnCallPage,
    ReturnCallView, StatsQuery,
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

use super::customers::created;
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
        .routes(routes!(call_events))
        .routes(routes!(list_return_calls))
        .routes(routes!(get_return_call))
        .routes(routes!(record_attempt))
        .routes(routes!(dial))
        .routes(routes!(list_extensions))
        .routes(routes!(set_extension, remove_extension))
        .routes(routes!(list_lines, create_line))
        .routes(routes!(get_line, set_line))
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

/// `If-Match: "<version>"` when given: an edit of what was read; absent: set as sent.
fn optional_if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(v) = headers.get(axum::http::header::IF_MATCH) else {
        return Ok(None);
    };
    let s = v.to_str().unwrap_or("").trim();
    let s = s.strip_prefix("W/").unwrap_or(s).trim_matches('"');
    s.parse().map(Some).map_err(|_| {
        ApiError::new(
            "bad_request",
            "If-Match must be a version number such as \"3\"",
        )
    })
}

#[utoipa::path(get, path = "/calls", tag = "hotline", params(CallFilter),
    responses((status = 200, description = "Calls, newest first, keyset-paged (`next_cursor`)", body = CallPage), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_calls(
    State(s): State<AppState>,
    api: ApiCtx,
    Query(f): Query<CallFilter>,
) -> Result<Json<CallPage>, ApiError> {
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

#[utoipa::path(get, path = "/calls/{id}/events", tag = "hotline", params(("id" = i64, Path)),
    responses((status = 200, description = "The call's events as the telephony system reported them, in time order", body = Vec<CallEventView>), (status = 404, body = ErrorBody)))]
async fn call_events(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
) -> Result<Json<Vec<CallEventView>>, ApiError> {
    Ok(Json(
        hotline::call_events(&s.app, &api.ctx, CallId(id)).await?,
    ))
}

#[utoipa::path(get, path = "/return-calls", tag = "hotline", params(ReturnCallFilter),
    responses((status = 200, description = "Return calls with their attempts, open ones first, each group by due time; keyset-paged (`next_cursor`)", body = ReturnCallPage), (status = 422, body = ErrorBody)))]
async fn list_return_calls(
    State(s): State<AppState>,
    api: ApiCtx,
    Query(f): Query<ReturnCallFilter>,
) -> Result<Json<ReturnCallPage>, ApiError> {
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
    params(("extension" = String, Path), ("If-Match" = Option<String>, Header, description = "\"<version>\" of the extension as read, for an edit")),
    responses((status = 200, description = "Events naming this extension pop on this agent's page (unless deactivated)", body = ExtensionView),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_extension(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(ext): Path<String>,
    headers: HeaderMap,
    body: JsonBody<ExtensionInput>,
) -> Result<Json<ExtensionView>, ApiError> {
    let version = optional_if_match(&headers)?;
    Ok(Json(
        hotline::set_extension(&s.app, &api.ctx, &ext, version, body.value).await?,
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
    responses((status = 200, description = "Service lines whose calls you may see, active ones first", body = Vec<LineView>), (status = 403, body = ErrorBody)))]
async fn list_lines(
    State(s): State<AppState>,
    api: ApiCtx,
) -> Result<Json<Vec<LineView>>, ApiError> {
    Ok(Json(hotline::lines(&s.app, &api.ctx).await?))
}

#[utoipa::path(post, path = "/hotline/lines", tag = "hotline", request_body = LineInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first result")),
    responses((status = 201, description = "Added: calls to this number belong to the brand", body = LineView),
        (status = 403, body = ErrorBody), (status = 409, description = "duplicate: the number is a line already", body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_line(
    State(s): State<AppState>,
    api: ApiCtx,
    headers: HeaderMap,
    body: JsonBody<LineInput>,
) -> Result<Response, ApiError> {
    let ctx = api.with_idem(&headers, "POST /hotline/lines", &body.hash)?;
    let (v, replayed) = hotline::create_line_once(&s.app, &ctx, body.value).await?;
    Ok(created(replayed, v.version, v))
}

#[utoipa::path(get, path = "/hotline/lines/{number}", tag = "hotline",
    params(("number" = String, Path, description = "The 400/800 number calls arrive on")),
    responses((status = 200, body = LineView), (status = 404, body = ErrorBody)))]
async fn get_line(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(number): Path<String>,
) -> Result<Response, ApiError> {
    let v = hotline::line(&s.app, &api.ctx, &number).await?;
    Ok((etag(v.version), Json(v)).into_response())
}

#[utoipa::path(put, path = "/hotline/lines/{number}", tag = "hotline", request_body = LineInput,
    params(("number" = String, Path, description = "The 400/800 number calls arrive on"),
        ("If-Match" = Option<String>, Header, description = "\"<version>\" of the line as read, for an edit; without it the line is created or replaced")),
    responses((status = 200, description = "Calls to this number belong to the brand; `active: false` deactivates the line", body = LineView),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_line(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(number): Path<String>,
    headers: HeaderMap,
    body: JsonBody<LineInput>,
) -> Result<Response, ApiError> {
    let version = optional_if_match(&headers)?;
    let v = hotline::set_line(&s.app, &api.ctx, &number, version, body.value).await?;
    Ok((etag(v.version), Json(v)).into_response())
}
