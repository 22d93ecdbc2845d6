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
                .fetch_one(conn)
                .await?,
        )
    }
}
