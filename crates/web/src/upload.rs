//! Files over HTTP: a `multipart/form-data` body read field by field with its file streamed to
//! disk (`app::attachments::Upload`, never held whole in memory), and a kept file sent back
//! with a safe `Content-Disposition` (RFC 6266/5987 `filename*`), `nosniff` and a sandboxing
//! CSP. The 1 MiB body cap is lifted only for the upload routes (`is_upload`), to the
//! attachment limit plus room for the form's other fields.

use app::App;
use app::attachments::{Download, Staged, Upload, is_image};
use axum::body::Body;
use axum::extract::Multipart;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// Room for the form's other fields and the multipart framing on top of the file.
pub const FORM_OVERHEAD: u64 = 256 * 1024;
/// Longest text field of an upload form.
const FIELD_MAX: usize = 128 * 1024;

/// POST routes that take a file: the API's upload, the ticket page's composer and the
/// requester's photo on the status page.
pub fn is_upload(path: &str) -> bool {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    matches!(
        segs.as_slice(),
        ["", "api", "v1", "tickets", id, "attachments"] | ["", "tickets", id, "messages"] if id.parse::<i64>().is_ok()
    ) || matches!(segs.as_slice(), ["", "t", _, "files"])
}

/// Whether a request's body is `multipart/form-data`.
pub fn is_multipart(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        })
}

/// What an upload form carried: its text fields and the file (its name as sent, and the bytes
/// staged on disk). No file chosen → `file` is None.
pub struct Received {
    pub fields: Vec<(String, String)>,
    pub file: Option<(String, Staged)>,
}

impl Received {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn unreadable(e: &axum::extract::multipart::MultipartError, app: &App) -> app::Error {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        app::Error::PayloadTooLarge {
            limit: app.settings.max_attachment_bytes,
        }
    } else {
        app::Error::field(
            "file",
            format!("the upload could not be read: {}", e.body_text()),
        )
    }
}

/// Reads every field; the one named `file` is streamed to a staged file (one file per form).
pub async fn receive(app: &App, mut mp: Multipart) -> Result<Received, app::Error> {
    let mut fields = Vec::new();
    let mut file = None;
    while let Some(mut field) = mp.next_field().await.map_err(|e| unreadable(&e, app))? {
        let name = field.name().unwrap_or("").to_string();
        if name == "file" {
            let file_name = field.file_name().unwrap_or("").to_string();
            let mut up = Upload::begin(app).await?;
            let mut any = false;
            while let Some(chunk) = field.chunk().await.map_err(|e| unreadable(&e, app))? {
                any |= !chunk.is_empty();
                up.write(&chunk).await?;
            }
            // A form sent without choosing a file has an empty, nameless part.
            if !any && file_name.is_empty() {
                continue;
            }
            if file.is_some() {
                return Err(app::Error::field("file", "one file per upload"));
            }
            if !any {
                return Err(app::Error::field("file", "the file is empty"));
            }
            file = Some((file_name, up.finish().await?));
        } else {
            let mut value = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(|e| unreadable(&e, app))? {
                value.extend_from_slice(&chunk);
                if value.len() > FIELD_MAX {
                    return Err(app::Error::field(&name, "too long"));
                }
            }
            let value =
                String::from_utf8(value).map_err(|_| app::Error::field(&name, "not UTF-8 text"))?;
            fields.push((name, value));
        }
    }
    Ok(Received { fields, file })
}

/// `filename*` per RFC 5987: UTF-8, percent-encoded outside attr-char.
fn rfc5987(name: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(name.len() * 3);
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A plain-ASCII stand-in for old clients: anything else (and quotes, backslashes) becomes `_`.
fn ascii_fallback(name: &str) -> String {
    name.chars()
        .map(|c| {
            if (c.is_ascii_graphic() && c != '"' && c != '\\') || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `attachment` (or `inline`, for images asked for inline) with both filename forms.
pub fn disposition(name: &str, inline: bool) -> String {
    format!(
        "{}; filename=\"{}\"; filename*=UTF-8''{}",
        if inline { "inline" } else { "attachment" },
        ascii_fallback(name),
        rfc5987(name)
    )
}

/// Sends a kept file in chunks. Images may be shown inline; everything else downloads.
pub async fn send(d: Download, inline: bool) -> Result<Response, ApiError> {
    let file = tokio::fs::File::open(&d.path).await.map_err(|e| {
        tracing::error!(path = %d.path.display(), error = %e, "attachment bytes missing");
        ApiError::new("internal", "the file is missing from the files folder")
    })?;
    let stream = futures::stream::unfold(file, |mut f| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 64 * 1024];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(axum::body::Bytes::from(buf)), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    });
    let inline = inline && is_image(&d.view.content_type);
    let mut r = Body::from_stream(stream).into_response();
    let h = r.headers_mut();
    let ct = HeaderValue::from_str(&d.view.content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    h.insert(header::CONTENT_TYPE, ct);
    h.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(d.view.size.max(0)),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition(&d.view.file_name, inline)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", d.view.sha256)) {
        h.insert(header::ETAG, v);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions_carry_both_names() {
        assert_eq!(
            disposition("故障 照片.jpg", false),
            "attachment; filename=\"__ __.jpg\"; filename*=UTF-8''%E6%95%85%E9%9A%9C%20%E7%85%A7%E7%89%87.jpg"
        );
        assert_eq!(
            disposition("a\"b.png", true),
            "inline; filename=\"a_b.png\"; filename*=UTF-8''a%22b.png"
        );
    }

    #[test]
    fn upload_routes() {
        assert!(is_upload("/api/v1/tickets/12/attachments"));
        assert!(is_upload("/tickets/12/messages"));
        assert!(is_upload("/t/KF20261130-000001/files"));
        assert!(!is_upload("/api/v1/tickets/x/attachments"));
        assert!(!is_upload("/api/v1/tickets"));
        assert!(!is_upload("/tickets/12/act"));
    }
}
