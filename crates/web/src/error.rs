//! The one table from error codes to HTTP statuses, and the error body every client sees:
//! `{"error":{"code":…,"message":…,"fields":{…}}}`.

use std::collections::BTreeMap;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// Every code the API answers with, its status and when it happens. Documented in docs/api.md.
pub const ERROR_CODES: &[(&str, u16, &str)] = &[
    ("malformed_json", 400, "the body is not valid JSON"),
    (
        "form_token_invalid",
        400,
        "the public form's token was not signed by this server for this brand",
    ),
    (
        "form_token_expired",
        400,
        "the public form was opened more than 2 hours ago; it is shown again with a new token",
    ),
    (
        "form_refused",
        400,
        "the public form's hidden (honeypot) field was filled in",
    ),
    ("bad_request", 400, "a header or parameter is malformed"),
    ("unauthenticated", 401, "no valid session or bearer token"),
    ("bad_credentials", 401, "wrong login or password"),
    (
        "bad_signature",
        401,
        "a signed callback's X-Kefu-Signature is missing or wrong",
    ),
    (
        "stale_timestamp",
        401,
        "a signed callback's X-Kefu-Timestamp is missing or more than 5 minutes off",
    ),
    (
        "forbidden",
        403,
        "the role does not allow this action (or the CSRF check failed)",
    ),
    (
        "not_found",
        404,
        "no such record, or it is outside your scope",
    ),
    (
        "version_conflict",
        409,
        "If-Match names a version that is no longer current",
    ),
    (
        "duplicate",
        409,
        "the record already exists (e.g. a customer with this phone)",
    ),
    (
        "conflict",
        409,
        "the action does not fit the record's current state",
    ),
    (
        "not_allowed",
        409,
        "the ticket's current status does not allow this action",
    ),
    (
        "not_owner",
        403,
        "only the ticket's current owner may do this",
    ),
    (
        "wrong_kind",
        409,
        "the action applies to another kind of ticket",
    ),
    (
        "no_tracker",
        409,
        "nobody has taken responsibility for the ticket yet; assign it to a person first",
    ),
    (
        "plan_not_signed",
        409,
        "every part of the plan must be signed first",
    ),
    (
        "committed_time_in_past",
        422,
        "a committed time must lie in the future",
    ),
    (
        "compensation_open",
        409,
        "compensation records on the ticket are still open",
    ),
    (
        "reopen_window_passed",
        409,
        "the time to reopen this ticket has passed",
    ),
    (
        "merge_into_self",
        422,
        "a ticket cannot be merged into itself",
    ),
    (
        "payload_too_large",
        413,
        "the body exceeds 1 MiB (10 MiB for a raw mail); an attachment exceeds KEFU_MAX_ATTACHMENT_BYTES (20 MiB)",
    ),
    (
        "unsupported_media_type",
        415,
        "the body must be application/json; an attachment's bytes are not of an accepted type",
    ),
    (
        "validation",
        422,
        "a field is missing, has the wrong type or an invalid value",
    ),
    (
        "idempotency_key_reused",
        422,
        "the Idempotency-Key was used with another body",
    ),
    (
        "malformed_mail",
        422,
        "a posted mail's MIME structure cannot be read; it is stored as failed (existing_id names it)",
    ),
    (
        "precondition_required",
        428,
        "an update needs If-Match: \"<version>\"",
    ),
    ("too_many_attempts", 429, "too many failed sign-ins; wait"),
    (
        "rate_limited",
        429,
        "too many public requests from one address (10 an hour) or for one phone (5 an hour)",
    ),
    (
        "internal",
        500,
        "a server fault; the request id is in the logs",
    ),
    (
        "telephony_disabled",
        503,
        "telephony callbacks are off: no KEFU_TELEPHONY_SECRET is set",
    ),
];

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case code (see the table in docs/api.md).
    // The doc is the OpenAPI description clients read; the snapshot test pins its words.
    #[allow(clippy::doc_markdown)]
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
    /// For `duplicate`: the id of the existing record; for `malformed_mail`: the id of the stored
    /// mail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub existing_id: Option<i64>,
}

/// An error on its way to an API client.
#[derive(Debug)]
pub struct ApiError {
    pub code: &'static str,
    pub message: String,
    pub fields: BTreeMap<String, String>,
    pub existing_id: Option<i64>,
}

impl ApiError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            fields: BTreeMap::new(),
            existing_id: None,
        }
    }

    pub fn status(&self) -> StatusCode {
        status_of(self.code)
    }
}

pub fn status_of(code: &str) -> StatusCode {
    ERROR_CODES
        .iter()
        .find(|(c, _, _)| *c == code)
        .and_then(|(_, s, _)| StatusCode::from_u16(*s).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl From<app::Error> for ApiError {
    fn from(e: app::Error) -> Self {
        let code = e.code();
        let message = e.to_string();
        match e {
            app::Error::Validation { fields, .. } => Self {
                code,
                message,
                fields,
                existing_id: None,
            },
            app::Error::Duplicate { existing, .. } => Self {
                code,
                message,
                fields: BTreeMap::new(),
                existing_id: existing,
            },
            app::Error::MalformedMail { id, .. } => Self {
                code,
                message,
                fields: BTreeMap::new(),
                existing_id: Some(id),
            },
            _ => Self::new(code, message),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(code = self.code, message = %self.message, "request failed");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
                fields: self.fields,
                existing_id: self.existing_id,
            },
        };
        (status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_app_code_has_a_status() {
        for code in [
            "not_found",
            "validation",
            "version_conflict",
            "precondition_required",
            "forbidden",
            "unauthenticated",
            "bad_credentials",
            "too_many_attempts",
            "idempotency_key_reused",
            "duplicate",
            "conflict",
            "payload_too_large",
            "unsupported_media_type",
            "internal",
        ] {
            assert!(
                ERROR_CODES.iter().any(|(c, _, _)| *c == code),
                "{code} missing from the table"
            );
        }
        assert_eq!(status_of("version_conflict"), StatusCode::CONFLICT);
        assert_eq!(
            status_of("precondition_required"),
            StatusCode::PRECONDITION_REQUIRED
        );
    }
}
