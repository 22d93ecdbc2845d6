//! The only place that speaks SQL. `Db` opens SQLite (embedded, one writer task with group
//! commit) or PostgreSQL (a pool), runs the forward migrations of each backend and hands closures
//! a connection for reading or a transaction for writing. Each aggregate has a module with its
//! queries; private `*Row` structs are converted into `domain` types before they leave. Every
//! get/list takes the caller's `Scope` and filters in SQL, so a row outside it is not found.

pub mod audit;
pub mod bulk;
mod conn;
pub mod customers;
mod db;
pub mod devices;
pub mod dialect;
mod direct;
mod error;
pub mod hotline;
pub mod idempotency;
pub mod jobs;
pub mod mail;
pub mod notify;
pub mod org;
pub mod outbox;
pub mod search;
pub mod sessions;
pub mod sla;
pub mod sql;
pub mod surveys;
pub mod tickets;
pub mod timeline;
pub mod users;
pub mod webform;

pub use db::{
    Backend, BoxFuture, Conn, Db, OpenOptions, latest_migration, lock_database, migrate_until,
    schema_fingerprint, sqlite_check, sqlite_snapshot,
};
pub use error::Error;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A page of rows and the keyset cursor of the next one.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<domain::Cursor>,
}
