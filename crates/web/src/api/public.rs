//! The public request form's JSON twin for mini-programs and H5 pages: no authentication; the
//! same checks as the HTML form `/help/{code}` except its page token — the rate limit per client
//! address and per phone, and an optional Idempotency-Key that makes a retry answer with the
//! first result (and the same status link).

use app::webform::{self, Submitted, Via, WebFormInput};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::JsonBody;
use crate::ui::ClientIp;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(submit))
}

#[utoipa::path(post, path = "/public/brands/{code}/tickets", tag = "public", request_body = WebFormInput,
    params(("code" = String, Path, description = "The brand's code"),
        ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first result")),
    security(()),
    responses(
        (status = 201, description = "A new ticket; status_link is the requester's signed status page", body = Submitted),
        (status = 200, description = "The phone's customer had an open ticket: the request was added to it (or this is a retry)", body = Submitted),
        (status = 404, description = "unknown or inactive brand", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 429, description = "rate_limited", body = ErrorBody)))]
async fn submit(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(code): Path<String>,
    headers: HeaderMap,
    body: JsonBody<WebFormInput>,
) -> Result<Response, ApiError> {
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => {
            let k = v
                .to_str()
                .map_err(|_| ApiError::new("bad_request", "Idempotency-Key must be visible ASCII"))?
                .trim();
            if k.is_empty() || k.len() > 255 {
                return Err(ApiError::new(
                    "bad_request",
                    "Idempotency-Key must be 1–255 characters",
                ));
            }
            Some(k.to_string())
        }
    };
    let via = Via::Api {
        idempotency_key: key,
        body_hash: body.hash,
    };
    let out = webform::submit(&s.app, s.clock.clone(), &code, &ip, body.value, via).await?;
    let status = if out.attached || out.replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(out)).into_response())
}
