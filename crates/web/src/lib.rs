//! HTTP: the JSON API under /api/v1 (described by utoipa) and the HTML pages (askama + htmx)
//! side by side, both calling the same `app` use cases. This crate owns what is HTTP-shaped:
//! authentication from cookies and bearer tokens, CSRF, the error-code → status table, request
//! ids, body limits, languages, static assets and operations endpoints.

rust_i18n::i18n!("locales", fallback = "zh-CN");

pub mod api;
pub mod assets;
mod auth;
mod error;
mod extract;
mod ops;
pub mod ui;
mod upload;

use std::sync::Arc;

use app::{App, Clock};
use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use metrics_exporter_prometheus::PrometheusHandle;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

pub use error::{ApiError, ERROR_CODES};

/// Largest request body accepted (JSON and forms).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Largest raw mail the inbound endpoint takes (`api::INBOUND_PATH`).
pub const MAX_MAIL_BYTES: usize = 10 * 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub app: App,
    pub clock: Arc<dyn Clock>,
    pub metrics: Option<PrometheusHandle>,
    /// Send `Secure` on cookies (set when served behind HTTPS).
    pub secure_cookies: bool,
}

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let (api, openapi) = api::router().split_for_parts();
    let openapi = Arc::new(openapi);
    Router::new()
        .merge(api)
        .merge(api::docs(&openapi))
        .merge(ui::router())
        .merge(ops::router())
        .merge(assets::router())
        .route_layer(axum::middleware::from_fn(ops::measure))
        .with_state(state.clone())
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::authenticate))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("same-origin")))
        .layer(axum::middleware::from_fn_with_state(state, limit_body))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            let id = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }).on_response(tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO)))
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
}

/// Caps every request body at `MAX_BODY_BYTES`, a raw mail to the inbound endpoint at
/// `MAX_MAIL_BYTES`, a multipart upload at the attachment limit plus the form's overhead: a
/// declared length over the cap is refused at once, a body that grows past it fails its
/// extractor with `payload_too_large`.
async fn limit_body(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let path = req.uri().path();
    let limit = if path == api::INBOUND_PATH {
        MAX_MAIL_BYTES
    } else if req.method() == axum::http::Method::POST
        && upload::is_upload(path)
        && upload::is_multipart(req.headers())
    {
        usize::try_from(state.app.settings.max_attachment_bytes + upload::FORM_OVERHEAD)
            .unwrap_or(usize::MAX)
    } else {
        MAX_BODY_BYTES
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return ApiError::new(
            "payload_too_large",
            format!("the body exceeds {limit} bytes"),
        )
        .into_response();
    }
    next.run(req.map(|b| axum::body::Body::new(http_body_util::Limited::new(b, limit))))
        .await
}

/// The OpenAPI document as served at /api/v1/openapi.json.
pub fn openapi_json() -> String {
    let (_, openapi) = api::router().split_for_parts();
    openapi
        .to_pretty_json()
        .expect("the OpenAPI document serialises")
}
