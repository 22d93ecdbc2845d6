//! Ticket attachments: upload (multipart, streamed to disk, type read from the bytes), the
//! ticket's list, and the download with a safe disposition.

use app::attachments::{self, AttachmentView, NewUpload};
use axum::Json;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use domain::TicketId;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::customers::created;
use crate::AppState;
use crate::auth::ApiCtx;
use crate::error::{ApiError, ErrorBody};
use crate::upload;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_attachments, upload_attachment))
        .routes(routes!(download))
        // The body cap for uploads is set by `limit_body` (the attachment limit), not axum's.
        .layer(DefaultBodyLimit::disable())
}

/// The upload form.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // describes the multipart body for OpenAPI
pub struct UploadForm {
    /// The file (its type is read from the bytes: JPEG, PNG, WebP, GIF, HEIC, PDF, MP4, MOV,
    /// MP3, AMR, M4A, xlsx, docx or UTF-8 text).
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
    /// A message of the ticket the file belongs to (a reply or an internal note).
    pub message_id: Option<i64>,
}

#[utoipa::path(post, path = "/tickets/{id}/attachments", tag = "tickets",
    request_body(content = inline(UploadForm), content_type = "multipart/form-data"),
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first attachment")),
    responses(
        (status = 201, description = "The file is kept (the same bytes are stored once)", body = AttachmentView),
        (status = 404, description = "no such ticket, or outside your scope; nothing is stored", body = ErrorBody),
        (status = 413, description = "payload_too_large: over KEFU_MAX_ATTACHMENT_BYTES", body = ErrorBody),
        (status = 415, description = "unsupported_media_type: the bytes are not of an accepted type", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn upload_attachment(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
    headers: HeaderMap,
    mp: Multipart,
) -> Result<Response, ApiError> {
    let ticket = TicketId(id);
    // Refused before a byte is received.
    attachments::check_upload(&s.app, &api.ctx, ticket).await?;
    let got = upload::receive(&s.app, mp).await?;
    let message_id = match got.field("message_id").map(str::trim) {
        None | Some("") => None,
        Some(v) => Some(
            v.parse::<i64>()
                .map_err(|_| app::Error::field("message_id", "a message id"))?,
        ),
    };
    let (file_name, file) = got
        .file
        .ok_or_else(|| app::Error::field("file", "required"))?;
    let input = NewUpload {
        file_name,
        message_id,
        file,
    };
    let ctx = api.with_idem(
        &headers,
        &format!("POST /tickets/{id}/attachments"),
        &input.fingerprint(),
    )?;
    let made = attachments::add(&s.app, &ctx, ticket, input).await?;
    let d = attachments::open(&s.app, &api.ctx, made.id).await?;
    Ok(created(made.replayed, 1, d.view))
}

#[utoipa::path(get, path = "/tickets/{id}/attachments", tag = "tickets", params(("id" = i64, Path)),
    responses((status = 200, description = "Oldest first; those of internal notes only for the desk", body = Vec<AttachmentView>), (status = 404, body = ErrorBody)))]
async fn list_attachments(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
) -> Result<Json<Vec<AttachmentView>>, ApiError> {
    Ok(Json(
        attachments::list(&s.app, &api.ctx, TicketId(id)).await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct InlineQuery {
    /// true: show an image in the page (`Content-Disposition: inline`); other types always
    /// download.
    #[serde(default)]
    pub inline: Option<bool>,
}

#[utoipa::path(get, path = "/attachments/{id}", tag = "tickets", params(("id" = i64, Path), InlineQuery),
    responses((status = 200, description = "The bytes, with Content-Disposition: attachment (inline only for images asked for inline) and X-Content-Type-Options: nosniff", content_type = "application/octet-stream", body = inline(String)),
        (status = 404, description = "no such attachment, its ticket is outside your scope, or it belongs to an internal note", body = ErrorBody)))]
async fn download(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
    Query(q): Query<InlineQuery>,
) -> Result<Response, ApiError> {
    let d = attachments::open(&s.app, &api.ctx, id).await?;
    upload::send(d, q.inline.unwrap_or(false)).await
}
