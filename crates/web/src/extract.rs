//! Request parts parsed into what handlers need, with the API's error codes: JSON bodies (415
//! when not JSON, 400 when malformed, 422 when the shape is wrong, 413 when too large) and the
//! If-Match version (428 when missing).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// A JSON body and the SHA-256 of its bytes (what idempotency keys are checked against).
pub struct JsonBody<T> {
    pub value: T,
    pub hash: String,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| {
                ct.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        if !is_json {
            return Err(ApiError::new(
                "unsupported_media_type",
                "send the body as Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    "payload_too_large",
                    format!("the body exceeds {} bytes", crate::MAX_BODY_BYTES),
                )
            } else {
                ApiError::new("bad_request", e.body_text())
            }
        })?;
        let value = serde_json::from_slice(&bytes).map_err(|e| {
            use serde_json::error::Category;
            match e.classify() {
                Category::Syntax | Category::Eof | Category::Io => {
                    ApiError::new("malformed_json", format!("malformed JSON: {e}"))
                }
                Category::Data => {
                    let mut err = ApiError::new("validation", format!("{e}"));
                    if let Some(field) = field_of(&e.to_string()) {
                        err.fields.insert(field, e.to_string());
                    }
                    err
                }
            }
        })?;
        Ok(Self {
            value,
            hash: hex::encode(Sha256::digest(&bytes)),
        })
    }
}

/// serde names the offending field in backticks ("missing field `name`", "unknown field `x`").
fn field_of(msg: &str) -> Option<String> {
    let start = msg.find('`')? + 1;
    let len = msg[start..].find('`')?;
    Some(msg[start..start + len].to_string())
}

/// The version an update is based on, from `If-Match: "<version>"`.
pub struct IfMatch(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let v = parts.headers.get(header::IF_MATCH).ok_or_else(|| {
            ApiError::new(
                "precondition_required",
                "send If-Match: \"<version>\" with the version you read",
            )
        })?;
        let s = v.to_str().unwrap_or("").trim();
        let s = s.strip_prefix("W/").unwrap_or(s).trim_matches('"');
        s.parse().map(IfMatch).map_err(|_| {
            ApiError::new(
                "bad_request",
                "If-Match must be a version number such as \"3\"",
            )
        })
    }
}

/// `ETag: "<version>"` for a record.
pub fn etag(version: i64) -> [(header::HeaderName, String); 1] {
    [(header::ETAG, format!("\"{version}\""))]
}
