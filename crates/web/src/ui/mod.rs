//! HTML pages (askama + htmx). Filled in by the UI module files.

use axum::Router;

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
