//! HTTP tests of the web crate: the JSON API, the OpenAPI snapshot and the pages, through the
//! real router with `tower::ServiceExt::oneshot`, on a real database.

mod api;
mod kit;
mod openapi;
mod surveys;
mod ui;
