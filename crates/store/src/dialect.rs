//! The few statements that differ between SQLite and PostgreSQL, side by side.

use crate::{Backend, Conn, Error};

/// Writes a consistent copy of the SQLite database to `dest` (a new file) without stopping
/// writers. PostgreSQL has its own tools for this (`pg_dump`, base backups).
pub async fn vacuum_into(c: &mut Conn, backend: Backend, dest: &str) -> Result<(), Error> {
    match backend {
        Backend::Sqlite => {
            sqlx::query("VACUUM INTO $1")
                .bind(dest)
                .execute(&mut *c)
                .await?;
            Ok(())
        }
        Backend::Postgres => Err(Error::Corrupt("use pg_dump to back up PostgreSQL".into())),
    }
}

/// Whether the schema is at the newest migration this binary knows (for /readyz).
pub async fn migrated(c: &mut Conn, expected: i64) -> Result<bool, Error> {
    let (v,): (Option<i64>,) =
        sqlx::query_as("SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE")
            .fetch_one(&mut *c)
            .await?;
    Ok(v.unwrap_or(0) >= expected)
}
