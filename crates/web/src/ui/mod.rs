//! HTML pages (askama + htmx) calling the same `app` use cases as the JSON API. Every page gets
//! a `Chrome` (language, CSRF token, the user, the nav they may see) and translates every string
//! through `c.t(key)`; errors become pages in the user's language (403, 404, …), and form errors
//! are shown next to their fields with the values kept.

mod admin;
mod chrome;
mod customers;
mod login;
mod regions;
mod surveys;

use axum::Router;
use axum::routing::{get, post};

pub use chrome::{Chrome, FIELD_MESSAGES, PageCtx, csrf_refused, translate_message};

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(login::root))
        .route("/login", get(login::page).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/lang/{code}", get(login::lang))
        .merge(customers::router())
        .merge(admin::router())
        .merge(surveys::router())
        .fallback(chrome::fallback)
}
