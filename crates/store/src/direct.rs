//! The SQLite writer's connection, stepped by the writer itself through rusqlite.
//!
//! sqlx's SQLite driver runs each connection on a thread of its own: every statement is a
//! command sent to that thread and its rows come back one by one through a channel, two thread
//! hand-overs or more per statement. The writer runs a dozen statements per ticket create, one
//! write after another, so those hand-overs (futex waits, wake-ups, context switches) were most of
//! its time. Here the writer's task steps the statements itself, on the same thread, with
//! statements prepared once and kept.
//!
//! The store's functions still speak sqlx: [`crate::Conn`] turns their query (SQL text and
//! `AnyArguments`) into a [`Direct::run`] call and gives back the `AnyRow`s and `AnyQueryResult`s
//! sqlx's Any driver would have given for SQLite: integers as `BigInt`, reals as `Double`, text
//! and blobs as such, and `$N`/`?N` placeholders bound to the N-th argument.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{OpenFlags, Statement};
use sqlx::any::{AnyArguments, AnyQueryResult, AnyRow, AnyTypeInfo, AnyTypeInfoKind};
use sqlx::error::{DatabaseError, ErrorKind};
use sqlx_core::any::{AnyColumn, AnyValue, AnyValueKind};
use sqlx_core::ext::ustr::UStr;

/// One result of a query, in sqlx's order: a statement's rows, then its summary.
pub(crate) type Step = sqlx::Either<AnyQueryResult, AnyRow>;

pub(crate) struct Direct {
    db: rusqlite::Connection,
}

impl Direct {
    /// Opens the database file for writing (created if missing) with the writer's pragmas.
    pub(crate) fn open(path: &Path, pragmas: &[&str]) -> Result<Self, sqlx::Error> {
        let db = rusqlite::Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(into_sqlx)?;
        // Every statement text of the store's writes, with room to spare: a statement pushed
        // out of the cache is prepared again next time, nothing worse.
        db.set_prepared_statement_cache_capacity(512);
        let mut direct = Self { db };
        for pragma in pragmas {
            direct.run(pragma, None, false)?;
        }
        Ok(direct)
    }

    /// Runs `sql` (one statement or several) with `args`; returns its rows and one summary per
    /// statement. A kept (`persistent`) single statement is prepared once and reused.
    pub(crate) fn run(
        &mut self,
        sql: &str,
        args: Option<AnyArguments>,
        persistent: bool,
    ) -> Result<Vec<Step>, sqlx::Error> {
        let args = args.map(|a| a.values.0).unwrap_or_default();
        // Like sqlx's statement log, for counting what a write costs (the tickets benchmark).
        tracing::trace!(target: "store::writer", summary = sql, "statement");
        let mut out = Vec::new();
        let prepared = if persistent {
            self.db.prepare_cached(sql).map(Prepared::Kept)
        } else {
            self.db.prepare(sql).map(Prepared::Once)
        };
        match prepared {
            Ok(Prepared::Kept(mut s)) => step(&self.db, &mut s, &args, &mut out)?,
            Ok(Prepared::Once(mut s)) => step(&self.db, &mut s, &args, &mut out)?,
            Err(rusqlite::Error::MultipleStatement) => {
                let mut statements = rusqlite::Batch::new(&self.db, sql);
                while let Some(mut s) = statements.next().map_err(into_sqlx)? {
                    step(&self.db, &mut s, &args, &mut out)?;
                }
            }
            Err(e) => return Err(into_sqlx(e)),
        }
        Ok(out)
    }

    /// Whether a transaction is open.
    pub(crate) fn in_transaction(&self) -> bool {
        !self.db.is_autocommit()
    }
}

enum Prepared<'c> {
    Kept(rusqlite::CachedStatement<'c>),
    Once(Statement<'c>),
}

/// Binds, steps to the end and collects one statement's rows and summary.
fn step(
    db: &rusqlite::Connection,
    s: &mut Statement<'_>,
    args: &[AnyValueKind],
    out: &mut Vec<Step>,
) -> Result<(), sqlx::Error> {
    for i in 1..=s.parameter_count() {
        // `$3` and `?3` take the third argument wherever they stand; a bare `?` the next one.
        let n = s
            .parameter_name(i)
            .and_then(|name| name.get(1..))
            .and_then(|digits| digits.parse::<usize>().ok())
            .unwrap_or(i);
        let value = n.checked_sub(1).and_then(|k| args.get(k)).ok_or_else(|| {
            sqlx::Error::Protocol(format!(
                "statement binds ${n} but {} arguments were given",
                args.len()
            ))
        })?;
        s.raw_bind_parameter(i, bound(value)?).map_err(into_sqlx)?;
    }
    let columns = s.column_count();
    let mut names = sqlx_core::HashMap::with_capacity(columns);
    let mut meta = Vec::with_capacity(columns);
    for i in 0..columns {
        let name = UStr::new(s.column_name(i).map_err(into_sqlx)?);
        names.insert(name.clone(), i);
        meta.push(AnyColumn {
            ordinal: i,
            name,
            type_info: AnyTypeInfo {
                kind: AnyTypeInfoKind::Null,
            },
        });
    }
    let names = Arc::new(names);
    let mut rows = s.raw_query();
    while let Some(row) = rows.next().map_err(into_sqlx)? {
        let mut values = Vec::with_capacity(columns);
        for i in 0..columns {
            values.push(AnyValue {
                kind: read(row.get_ref(i).map_err(into_sqlx)?)?,
            });
        }
        out.push(sqlx::Either::Right(AnyRow {
            column_names: names.clone(),
            columns: meta.clone(),
            values,
        }));
    }
    drop(rows);
    out.push(sqlx::Either::Left(AnyQueryResult {
        rows_affected: db.changes(),
        last_insert_id: Some(db.last_insert_rowid()),
    }));
    Ok(())
}

/// An argument as SQLite stores it (as sqlx's SQLite driver binds it).
fn bound(v: &AnyValueKind) -> Result<ToSqlOutput<'_>, sqlx::Error> {
    Ok(ToSqlOutput::Borrowed(match v {
        AnyValueKind::Null(_) => ValueRef::Null,
        AnyValueKind::Bool(b) => ValueRef::Integer(i64::from(*b)),
        AnyValueKind::SmallInt(i) => ValueRef::Integer(i64::from(*i)),
        AnyValueKind::Integer(i) => ValueRef::Integer(i64::from(*i)),
        AnyValueKind::BigInt(i) => ValueRef::Integer(*i),
        AnyValueKind::Real(r) => ValueRef::Real(f64::from(*r)),
        AnyValueKind::Double(r) => ValueRef::Real(*r),
        AnyValueKind::Text(t) => ValueRef::Text(t.as_bytes()),
        AnyValueKind::TextSlice(t) => ValueRef::Text(t.as_bytes()),
        AnyValueKind::Blob(b) => ValueRef::Blob(b),
        other => {
            return Err(sqlx::Error::Protocol(format!(
                "SQLite cannot bind {other:?}"
            )));
        }
    }))
}

/// A stored value as sqlx's Any driver reads it from SQLite (by the value's own type).
fn read(v: ValueRef<'_>) -> Result<AnyValueKind, sqlx::Error> {
    Ok(match v {
        ValueRef::Null => AnyValueKind::Null(AnyTypeInfoKind::Null),
        ValueRef::Integer(i) => AnyValueKind::BigInt(i),
        ValueRef::Real(r) => AnyValueKind::Double(r),
        ValueRef::Text(t) => AnyValueKind::Text(Arc::new(
            String::from_utf8(t.to_vec()).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        )),
        ValueRef::Blob(b) => AnyValueKind::Blob(Arc::new(b.to_vec())),
    })
}

/// A rusqlite error as the sqlx error the store maps (a constraint keeps its kind).
fn into_sqlx(e: rusqlite::Error) -> sqlx::Error {
    match e {
        rusqlite::Error::SqliteFailure(code, message) => {
            sqlx::Error::Database(Box::new(SqliteError {
                code: code.extended_code,
                message: message.unwrap_or_else(|| code.to_string()),
            }))
        }
        other => sqlx::Error::Protocol(other.to_string()),
    }
}

/// A failure SQLite reported, with its extended result code.
#[derive(Debug)]
struct SqliteError {
    code: i32,
    message: String,
}

impl fmt::Display for SqliteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(code: {}) {}", self.code, self.message)
    }
}

impl StdError for SqliteError {}

impl DatabaseError for SqliteError {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Owned(self.code.to_string()))
    }

    fn as_error(&self) -> &(dyn StdError + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn StdError + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn StdError + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> ErrorKind {
        match self.code {
            rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY => ErrorKind::UniqueViolation,
            rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY => ErrorKind::ForeignKeyViolation,
            rusqlite::ffi::SQLITE_CONSTRAINT_NOTNULL => ErrorKind::NotNullViolation,
            rusqlite::ffi::SQLITE_CONSTRAINT_CHECK => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use sqlx::{Arguments, Row};

    use super::*;

    fn args(values: impl FnOnce(&mut AnyArguments)) -> AnyArguments {
        let mut a = AnyArguments::default();
        values(&mut a);
        a
    }

    fn rows(steps: Vec<Step>) -> Vec<AnyRow> {
        steps
            .into_iter()
            .filter_map(|s| match s {
                sqlx::Either::Right(row) => Some(row),
                sqlx::Either::Left(_) => None,
            })
            .collect()
    }

    /// What the store's functions rely on from the writer's connection: `$N` binds the N-th
    /// argument wherever it stands, values read back as sqlx's Any driver reads them, several
    /// statements in one text all run, a unique violation keeps its kind, and a statement that
    /// names an argument nobody gave is refused instead of binding NULL.
    #[test]
    fn binds_by_number_reads_like_sqlx_and_keeps_constraint_kinds() {
        let dir = testkit::TempDir::new().unwrap();
        let mut d = Direct::open(&dir.path().join("t.db"), &["PRAGMA journal_mode=WAL"]).unwrap();
        d.run(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER UNIQUE, a TEXT, b REAL, c BLOB, z INTEGER)",
            None,
            false,
        )
        .unwrap();
        let insert = "INSERT INTO t (z, c, b, a, n, id) VALUES ($5, $4, $3, $2, $1, $1 + 100)";
        let done = d
            .run(
                insert,
                Some(args(|a| {
                    a.add(7_i64).unwrap();
                    a.add("水").unwrap();
                    a.add(1.5_f64).unwrap();
                    a.add(vec![1_u8, 2]).unwrap();
                    a.add(None::<i64>).unwrap();
                })),
                true,
            )
            .unwrap();
        let sqlx::Either::Left(summary) = &done[0] else {
            panic!("an INSERT returns no rows");
        };
        assert_eq!(summary.rows_affected, 1);
        assert_eq!(summary.last_insert_id, Some(107));

        let read = rows(
            d.run("SELECT id, n, a, b, c, z FROM t", None, true)
                .unwrap(),
        );
        assert_eq!(read.len(), 1);
        let r = &read[0];
        assert_eq!(r.get::<i64, _>("id"), 107);
        assert_eq!(r.get::<i64, _>("n"), 7);
        assert_eq!(r.get::<String, _>("a"), "水");
        assert!((r.get::<f64, _>("b") - 1.5).abs() < f64::EPSILON);
        assert_eq!(r.get::<Vec<u8>, _>("c"), vec![1, 2]);
        assert_eq!(r.get::<Option<i64>, _>("z"), None);

        let again = d.run(
            insert,
            Some(args(|a| {
                a.add(7_i64).unwrap();
                a.add("again").unwrap();
                a.add(0.0_f64).unwrap();
                a.add(Vec::<u8>::new()).unwrap();
                a.add(Some(1_i64)).unwrap();
            })),
            true,
        );
        match again {
            Err(sqlx::Error::Database(e)) => assert!(e.is_unique_violation(), "{e}"),
            Err(e) => panic!("a second n = 7 must fail as a unique violation: {e}"),
            Ok(_) => panic!("a second n = 7 must fail"),
        }

        let both = d
            .run(
                "UPDATE t SET a = $2 WHERE n = $1; UPDATE t SET z = $1 + 1",
                Some(args(|a| {
                    a.add(7_i64).unwrap();
                    a.add("改").unwrap();
                })),
                true,
            )
            .unwrap();
        assert_eq!(both.len(), 2, "one summary per statement");
        let read = rows(d.run("SELECT a, z FROM t", None, true).unwrap());
        assert_eq!(read[0].get::<String, _>("a"), "改");
        assert_eq!(read[0].get::<i64, _>("z"), 8);

        let missing = d.run(
            "SELECT $1, $2",
            Some(args(|a| a.add(1_i64).unwrap())),
            false,
        );
        assert!(missing.is_err(), "$2 has no argument");
    }
}
