//! Store integration tests: each runs on SQLite and PostgreSQL (`testkit::each_backend`).

mod customers;
mod db;
mod jobs;
mod live;
mod upgrade;
