//! Inbound email: the MTA posts each raw message; administrators list what came and how it went.

use app::mail::{self, InboundMailFilter, InboundMailView, InboundOutcome};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Paged;
use crate::AppState;
use crate::auth::ApiCtx;
use crate::error::{ApiError, ErrorBody};

/// Where the MTA posts: the one route whose body may be up to `MAX_MAIL_BYTES`.
pub const INBOUND_PATH: &str = "/api/v1/inbound/email";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(receive, list))
        .routes(routes!(raw))
        .layer(DefaultBodyLimit::max(crate::MAX_MAIL_BYTES))
}

fn is_mail(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|m| {
            let m = m.trim();
            m.eq_ignore_ascii_case("message/rfc822")
                || m.eq_ignore_ascii_case("application/octet-stream")
        })
}

/// Takes one raw RFC 5322 message as the MTA received it (a Postfix `pipe` transport or an
/// inbound-mail webhook posting the bytes). It is stored first, whatever it holds; then threaded
/// onto its ticket (In-Reply-To / References naming one of our mails, or a `+T<number>` tag in a
/// recipient address) or made into a new ticket. The same Message-ID posted again is answered
/// `200` with `duplicate: true` and not processed twice. A mail whose MIME structure is broken is
/// kept as `failed` and answered `422 malformed_mail` with its id — do not retry it.
#[utoipa::path(post, path = "/inbound/email", tag = "inbound",
    request_body(content = inline(String), content_type = "message/rfc822", description = "The raw message (also accepted as application/octet-stream), at most 10 MiB"),
    responses(
        (status = 201, description = "Stored and put on a ticket", body = InboundOutcome),
        (status = 200, description = "Already received (same Message-ID): nothing done", body = InboundOutcome),
        (status = 401, body = ErrorBody), (status = 403, description = "not an API token with ticket_create", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, description = "malformed_mail: stored as failed, existing_id names it", body = ErrorBody)))]
async fn receive(
    State(s): State<AppState>,
    api: ApiCtx,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    if api.principal.token.is_none() {
        return Err(ApiError::new(
            "forbidden",
            "inbound mail is posted by the MTA with an API token",
        ));
    }
    if !is_mail(&headers) {
        return Err(ApiError::new(
            "unsupported_media_type",
            "send the raw mail as Content-Type: message/rfc822 (or application/octet-stream)",
        ));
    }
    let bytes = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                "payload_too_large",
                format!("the mail exceeds {} bytes", crate::MAX_MAIL_BYTES),
            )
        } else {
            ApiError::new("bad_request", e.body_text())
        }
    })?;
    let out = mail::receive(&s.app, &api.ctx, bytes.to_vec()).await?;
    let status = if out.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(out)).into_response())
}

#[utoipa::path(get, path = "/inbound/email", tag = "inbound", params(InboundMailFilter),
    responses((status = 200, description = "Received mail, newest first, with status and error", body = Paged<InboundMailView>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list(
    State(s): State<AppState>,
    api: ApiCtx,
    Query(f): Query<InboundMailFilter>,
) -> Result<Json<Paged<InboundMailView>>, ApiError> {
    Ok(Json(Paged::of(mail::list(&s.app, &api.ctx, f).await?)))
}

#[utoipa::path(get, path = "/inbound/email/{id}/raw", tag = "inbound", params(("id" = i64, Path)),
    responses((status = 200, description = "The mail exactly as received", content_type = "message/rfc822", body = inline(String)), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn raw(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let bytes = mail::raw(&s.app, &api.ctx, id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "message/rfc822".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"inbound-{id}.eml\""),
            ),
        ],
        bytes,
    )
        .into_response())
}
