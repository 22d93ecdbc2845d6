#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found")]
    NotFound,
    /// An update found another version than the one the caller read.
    #[error("stale version")]
    VersionConflict,
    /// A unique constraint refused the row; the string names the constraint or column.
    #[error("already exists: {0}")]
    Duplicate(String),
    #[error("the database is locked by another kefu process ({0})")]
    Locked(String),
    #[error("database: {0}")]
    Sql(#[source] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("the writer has stopped")]
    WriterGone,
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => Error::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => Error::Duplicate(
                db.constraint()
                    .map_or_else(|| db.message().to_string(), str::to_string),
            ),
            _ => Error::Sql(e),
        }
    }
}

/// Turns a stored value that fails to parse into a domain type into an error that names it.
pub(crate) fn corrupt(what: &str, value: &str) -> Error {
    Error::Corrupt(format!("{what}: {value:?}"))
}
