//! HTTP tests of the web crate: the JSON API, the OpenAPI snapshot and the pages, through the
//! real router with `tower::ServiceExt::oneshot`, on a real database.

mod api;
mod attachments;
mod hotline;
mod idempotency;
mod kit;
mod mail;
mod openapi;
mod search;
mod sla;
mod surveys;
mod tickets;
mod ui;
mod webform;
