//! Every query's SQL, written once for every database.
//!
//! [`Sql`] collects text and bound values; a [`Dialect`] decides how the
//! few things that differ between databases are spelled: placeholders
//! (`?` or `$1`), null-safe comparison, case-sensitive and -insensitive
//! patterns, substring search, JSON score lookups. The builders in
//! [`filter`] and [`queries`] take a dialect, so a new store (Postgres,
//! ClickHouse) brings a dialect and an executor, not new queries.
//!
//! Values are never spliced into SQL text: every value is a bound
//! parameter, and every column name comes from this module's own
//! whitelists.

pub mod dialect;
pub mod filter;
pub mod queries;

use std::fmt;

pub use dialect::{PostgresDialect, SqliteDialect};

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    /// SQL NULL.
    Null,
    /// An integer.
    Int(i64),
    /// A float.
    Real(f64),
    /// Text.
    Text(String),
}

impl From<i64> for Bind {
    fn from(v: i64) -> Bind {
        Bind::Int(v)
    }
}

impl From<f64> for Bind {
    fn from(v: f64) -> Bind {
        Bind::Real(v)
    }
}

impl From<&str> for Bind {
    fn from(v: &str) -> Bind {
        Bind::Text(v.to_string())
    }
}

impl From<String> for Bind {
    fn from(v: String) -> Bind {
        Bind::Text(v)
    }
}

impl From<&String> for Bind {
    fn from(v: &String) -> Bind {
        Bind::Text(v.clone())
    }
}

/// How one database spells what differs between SQL dialects.
pub trait Dialect: Send + Sync + fmt::Debug {
    /// The dialect's name (for messages and tests).
    fn name(&self) -> &'static str;

    /// Appends the placeholder of the `index`th bound value (1-based).
    fn placeholder(&self, index: usize, out: &mut String);

    /// The operator for "differs, NULL counting as a value" (SQLite `IS
    /// NOT`, Postgres `IS DISTINCT FROM`).
    fn null_safe_ne(&self) -> &'static str;

    /// `expr` matches the LIKE `pattern` (`%`, `_`, `\` escapes) with case.
    fn like(&self, sql: &mut Sql<'_>, expr: &str, pattern: &str);

    /// `expr` matches the LIKE `pattern` ignoring case.
    fn ilike(&self, sql: &mut Sql<'_>, expr: &str, pattern: &str);

    /// `expr` contains `needle` (case-sensitive substring).
    fn contains(&self, sql: &mut Sql<'_>, expr: &str, needle: &str);

    /// `expr` does not contain `needle`; NULL counts as not containing.
    fn not_contains(&self, sql: &mut Sql<'_>, expr: &str, needle: &str) {
        sql.push("(").push(expr).push(" IS NULL OR NOT ");
        self.contains(sql, expr, needle);
        sql.push(")");
    }

    /// `expr` as an operand the planner will not use as an index access
    /// path (SQLite: `+expr`); where the database plans on its own, `expr`.
    fn no_index(&self, expr: &str) -> String {
        expr.to_string()
    }

    /// A boolean expression: the JSON object in column `scores` has a
    /// numeric or boolean member `name` (matched literally; booleans read
    /// as 1 and 0) that compares `cmp` (`=`, `>`, ...) to `value`.
    fn score_compare(&self, sql: &mut Sql<'_>, scores: &str, name: &str, cmp: &str, value: Bind);
}

/// SQL text with its bound values, in placeholder order.
#[derive(Clone)]
pub struct Sql<'d> {
    dialect: &'d dyn Dialect,
    text: String,
    binds: Vec<Bind>,
}

impl fmt::Debug for Sql<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sql")
            .field("dialect", &self.dialect.name())
            .field("text", &self.text)
            .field("binds", &self.binds)
            .finish()
    }
}

impl<'d> Sql<'d> {
    /// Empty SQL in `dialect`.
    pub fn new(dialect: &'d dyn Dialect) -> Sql<'d> {
        Sql {
            dialect,
            text: String::with_capacity(256),
            binds: Vec::new(),
        }
    }

    /// Appends SQL text (never a value: values are [`Sql::bind`]ed).
    pub fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }

    /// Appends a placeholder bound to `value`.
    pub fn bind(&mut self, value: impl Into<Bind>) -> &mut Self {
        self.binds.push(value.into());
        self.dialect.placeholder(self.binds.len(), &mut self.text);
        self
    }

    /// Appends `(?, ?, ...)` bound to `values`; `(NULL)` when empty, which
    /// matches nothing in `IN`.
    pub fn bind_list<B: Into<Bind>>(&mut self, values: impl IntoIterator<Item = B>) -> &mut Self {
        self.push("(");
        let mut any = false;
        for v in values {
            if any {
                self.push(", ");
            }
            self.bind(v);
            any = true;
        }
        if !any {
            self.push("NULL");
        }
        self.push(")")
    }

    /// The dialect this SQL is written in.
    pub fn dialect(&self) -> &'d dyn Dialect {
        self.dialect
    }

    /// The SQL text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The bound values, in placeholder order.
    pub fn binds(&self) -> &[Bind] {
        &self.binds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_follow_the_dialect() {
        let mut s = Sql::new(&SqliteDialect);
        s.push("SELECT 1 WHERE a = ")
            .bind(1)
            .push(" AND b IN ")
            .bind_list(["x", "y"]);
        assert_eq!(s.text(), "SELECT 1 WHERE a = ? AND b IN (?, ?)");
        let mut p = Sql::new(&PostgresDialect);
        p.push("SELECT 1 WHERE a = ")
            .bind(1)
            .push(" AND b IN ")
            .bind_list(["x", "y"]);
        assert_eq!(p.text(), "SELECT 1 WHERE a = $1 AND b IN ($2, $3)");
        assert_eq!(
            p.binds(),
            [Bind::Int(1), Bind::Text("x".into()), Bind::Text("y".into())]
        );
        let mut e = Sql::new(&PostgresDialect);
        e.push("x IN ").bind_list(Vec::<String>::new());
        assert_eq!(e.text(), "x IN (NULL)");
    }
}
