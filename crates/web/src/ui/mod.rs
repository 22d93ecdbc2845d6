//! HTML pages (askama + htmx) calling the same `app` use cases as the JSON API. Every page gets
//! a `Chrome` (language, CSRF token, the user, the nav they may see) and translates every string
//! through `c.t(key)`; errors become pages in the user's language (403, 404, …), and form errors
//! are shown next to their fields with the values kept.

mod admin;
mod chrome;
mod customers;
mod hotline;
mod hotline_admin;
mod login;
mod notify;
mod regions;
mod search;
mod sla;
mod surveys;
mod ticket_public;
mod tickets;
mod webform;

use axum::Router;
use axum::routing::{get, post};

pub use chrome::{Chrome, FIELD_MESSAGES, PageCtx, csrf_refused, translate_message};
pub use ticket_public::is_public;
pub use webform::ClientIp;

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(login::root))
        .route("/login", get(login::page).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/lang/{code}", get(login::lang))
        .merge(customers::router())
        .merge(admin::router())
        .merge(search::router())
        .merge(sla::router())
        .merge(hotline::router())
        .merge(hotline_admin::router())
        .merge(tickets::router())
        .merge(ticket_public::router())
        .merge(surveys::router())
        .merge(notify::router())
        .merge(webform::router())
        .fallback(chrome::fallback)
}
