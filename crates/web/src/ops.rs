//! Operations: liveness, readiness (database reachable, schema current) and Prometheus metrics.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// Counts requests and their latency by route and status for /metrics.
pub async fn measure(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = req.method().to_string();
    let start = std::time::Instant::now();
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    metrics::counter!("kefu_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!("kefu_http_request_seconds", "method" => method, "route" => route)
        .record(start.elapsed().as_secs_f64());
    res
}

async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    let want = store::latest_migration();
    let ready = s
        .app
        .db
        .read(move |c| Box::pin(async move { store::dialect::migrated(c, want).await }))
        .await;
    match ready {
        Ok(true) => (StatusCode::OK, "ready".to_string()),
        Ok(false) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "migrations pending".to_string(),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("database unreachable: {e}"),
        ),
    }
}

async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    match &s.metrics {
        Some(h) => (
            StatusCode::OK,
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4",
            )],
            h.render(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "metrics are off").into_response(),
    }
}
