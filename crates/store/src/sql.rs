//! Dynamic WHERE clauses for the one query set. `Filter` numbers `$N` placeholders itself, so
//! optional filters never splice values into SQL; it is the only caller of `AssertSqlSafe`, and
//! every fragment it is given is a literal of this crate.

use sqlx::any::{Any, AnyArguments, AnyRow};
use sqlx::{Arguments, AssertSqlSafe, Encode, FromRow, Type};

use crate::{Conn, Error};

#[derive(Default)]
pub struct Filter {
    clauses: Vec<String>,
    args: AnyArguments,
    n: usize,
    /// Not kept as a prepared statement: see [`Filter::plan_each_time`].
    one_off: bool,
}

impl Filter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Binds a value and returns its placeholder (`$3`).
    pub fn bind<T>(&mut self, value: T) -> String
    where
        T: for<'q> Encode<'q, Any> + Type<Any> + Send + 'static,
    {
        self.args
            .add(value)
            .expect("Any encodes every type it accepts");
        self.n += 1;
        format!("${}", self.n)
    }

    /// Binds each value and returns the placeholders for an `IN (…)` list; an empty list
    /// becomes `NULL`, which matches nothing.
    pub fn bind_list<T>(&mut self, values: impl IntoIterator<Item = T>) -> String
    where
        T: for<'q> Encode<'q, Any> + Type<Any> + Send + 'static,
    {
        let list: Vec<String> = values.into_iter().map(|v| self.bind(v)).collect();
        if list.is_empty() {
            "NULL".to_string()
        } else {
            list.join(", ")
        }
    }

    /// Adds `clause`, where each `?` is replaced by the next value's placeholder.
    pub fn and<T>(&mut self, clause: &'static str, values: Vec<T>) -> &mut Self
    where
        T: for<'q> Encode<'q, Any> + Type<Any> + Send + 'static,
    {
        let mut out = String::with_capacity(clause.len() + 8);
        let mut values = values.into_iter();
        for (i, part) in clause.split('?').enumerate() {
            if i > 0 {
                let v = values.next().expect("one value per ?");
                out.push_str(&self.bind(v));
            }
            out.push_str(part);
        }
        self.clauses.push(out);
        self
    }

    /// Runs the statement unprepared (unnamed), so that PostgreSQL plans it for the values bound
    /// each time. A kept statement may switch to a generic plan after five runs, one that
    /// does not know the values: for an id window that is a walk over every id in it.
    pub fn plan_each_time(&mut self) -> &mut Self {
        self.one_off = true;
        self
    }

    /// Adds a clause that was built from placeholders returned by `bind`.
    pub fn and_raw(&mut self, clause: String) -> &mut Self {
        self.clauses.push(clause);
        self
    }

    pub fn where_sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }

    /// Runs `head WHERE … tail`, mapping each row.
    pub async fn fetch_all<R>(
        self,
        conn: &mut Conn,
        head: &'static str,
        tail: &str,
    ) -> Result<Vec<R>, Error>
    where
        R: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
    {
        let sql = format!("{head}{}{tail}", self.where_sql());
        Ok(
            sqlx::query_as_with::<Any, R, AnyArguments>(AssertSqlSafe(sql), self.args)
                .persistent(!self.one_off)
                .fetch_all(conn)
                .await?,
        )
    }

    pub async fn fetch_one<R>(
        self,
        conn: &mut Conn,
        head: &'static str,
        tail: &str,
    ) -> Result<R, Error>
    where
        R: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
    {
        let sql = format!("{head}{}{tail}", self.where_sql());
        Ok(
            sqlx::query_as_with::<Any, R, AnyArguments>(AssertSqlSafe(sql), self.args)
                .persistent(!self.one_off)
                .fetch_one(conn)
                .await?,
        )
    }
}

/// A value for a [`Batch`] statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(Option<i64>),
    Text(Option<String>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(Some(v))
    }
}
impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        Value::Int(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(Some(v.to_string()))
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(Some(v))
    }
}
impl From<Option<&str>> for Value {
    fn from(v: Option<&str>) -> Self {
        Value::Text(v.map(str::to_string))
    }
}
impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Self {
        Value::Text(v)
    }
}

/// Statements whose results nobody reads (a history row, an audit row, a search document),
/// collected inside a write and run by [`Batch::run`] in the caller's transaction, in the order
/// pushed; the first error stops the rest (the caller's write then rolls back).
#[derive(Debug, Default)]
pub struct Batch {
    parts: Vec<(&'static str, Vec<Value>)>,
}

impl Batch {
    pub fn new() -> Self {
        Self::default()
    }

    /// A batch of one statement.
    pub fn one(sql: &'static str, values: Vec<Value>) -> Self {
        Self {
            parts: vec![(sql, values)],
        }
    }

    /// Runs a batch of one statement and maps its first row.
    pub async fn fetch_one<R>(self, c: &mut Conn) -> Result<R, Error>
    where
        R: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
    {
        let [(sql, values)]: [(&'static str, Vec<Value>); 1] = self
            .parts
            .try_into()
            .map_err(|_| Error::Corrupt("fetch_one takes a batch of one statement".into()))?;
        let mut args = AnyArguments::default();
        Self::bind_all(&mut args, values);
        Ok(sqlx::query_as_with::<Any, R, AnyArguments>(sql, args)
            .fetch_one(&mut *c)
            .await?)
    }

    /// Adds a statement with its own `$1…$n` placeholders, one value each.
    pub fn push(&mut self, sql: &'static str, values: Vec<Value>) {
        self.parts.push((sql, values));
    }

    pub fn len(&self) -> usize {
        self.parts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    fn bind_all(args: &mut AnyArguments, values: Vec<Value>) {
        for v in values {
            match v {
                Value::Int(i) => args.add(i),
                Value::Text(t) => args.add(t),
            }
            .expect("Any encodes integers and text");
        }
    }

    /// Appends `other`'s statements after this batch's.
    pub fn append(&mut self, mut other: Batch) {
        self.parts.append(&mut other.parts);
    }

    /// Runs the statements one after another, in the order pushed; the first error stops the
    /// rest (the caller's write then rolls back).
    pub async fn run(self, c: &mut Conn) -> Result<(), Error> {
        for (sql, values) in self.parts {
            let mut args = AnyArguments::default();
            Self::bind_all(&mut args, values);
            sqlx::query_with::<Any, AnyArguments>(sql, args)
                .execute(&mut *c)
                .await?;
        }
        Ok(())
    }
}
