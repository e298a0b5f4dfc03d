//! The dialects: SQLite (the embedded store) and Postgres (proves the
//! builders are dialect-free; the Postgres store comes next).

use super::{Bind, Dialect, Sql};

/// SQLite 3.38+ (JSON functions built in).
#[derive(Debug, Clone, Copy, Default)]
pub struct SqliteDialect;

/// PostgreSQL 12+ (`scores` and `properties` as `jsonb`).
#[derive(Debug, Clone, Copy, Default)]
pub struct PostgresDialect;

impl Dialect for SqliteDialect {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn placeholder(&self, _index: usize, out: &mut String) {
        out.push('?');
    }

    fn null_safe_ne(&self) -> &'static str {
        " IS NOT "
    }

    fn no_index(&self, expr: &str) -> String {
        format!("+{expr}")
    }

    /// SQLite's `LIKE` folds ASCII case, so the case-sensitive `like`
    /// becomes an equivalent `GLOB` pattern.
    fn like(&self, sql: &mut Sql<'_>, expr: &str, pattern: &str) {
        sql.push(expr).push(" GLOB ").bind(like_to_glob(pattern));
    }

    /// `LIKE` folds ASCII letters only (SQLite has no Unicode folding
    /// without ICU).
    fn ilike(&self, sql: &mut Sql<'_>, expr: &str, pattern: &str) {
        sql.push(expr)
            .push(" LIKE ")
            .bind(normalize_like(pattern))
            .push(" ESCAPE '\\'");
    }

    fn contains(&self, sql: &mut Sql<'_>, expr: &str, needle: &str) {
        sql.push("instr(")
            .push(expr)
            .push(", ")
            .bind(needle)
            .push(") > 0");
    }

    /// `json_each` rather than a `$.name` path, so any score name (dots,
    /// quotes) matches literally; a stored value that is not a JSON object
    /// reads as no scores.
    fn score_compare(&self, sql: &mut Sql<'_>, scores: &str, name: &str, cmp: &str, value: Bind) {
        sql.push("EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid(")
            .push(scores)
            .push(") THEN ")
            .push(scores)
            .push(" ELSE '{}' END) score_ WHERE score_.key = ")
            .bind(name)
            .push(" AND score_.type IN ('integer', 'real', 'true', 'false') AND score_.value ")
            .push(cmp)
            .push(" ")
            .bind(value)
            .push(")");
    }
}

impl Dialect for PostgresDialect {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn placeholder(&self, index: usize, out: &mut String) {
        out.push('$');
        out.push_str(&index.to_string());
    }

    fn null_safe_ne(&self) -> &'static str {
        " IS DISTINCT FROM "
    }

    fn like(&self, sql: &mut Sql<'_>, expr: &str, pattern: &str) {
        sql.push(expr).push(" LIKE ").bind(normalize_like(pattern));
    }

    fn ilike(&self, sql: &mut Sql<'_>, expr: &str, pattern: &str) {
        sql.push(expr).push(" ILIKE ").bind(normalize_like(pattern));
    }

    fn contains(&self, sql: &mut Sql<'_>, expr: &str, needle: &str) {
        sql.push("strpos(")
            .push(expr)
            .push(", ")
            .bind(needle)
            .push(") > 0");
    }

    fn score_compare(&self, sql: &mut Sql<'_>, scores: &str, name: &str, cmp: &str, value: Bind) {
        sql.push("EXISTS (SELECT 1 FROM jsonb_each(")
            .push(scores)
            .push(") score_ WHERE score_.key = ")
            .bind(name)
            .push(
                " AND jsonb_typeof(score_.value) IN ('number', 'boolean') AND \
                 (CASE WHEN jsonb_typeof(score_.value) = 'boolean' \
                 THEN CASE WHEN score_.value = 'true'::jsonb THEN 1 ELSE 0 END \
                 ELSE (score_.value #>> '{}')::numeric END) ",
            )
            .push(cmp)
            .push(" ")
            .bind(value)
            .push(")");
    }
}

enum Token {
    Literal(char),
    AnyOne,
    AnyMany,
}

/// Splits a LIKE pattern; a trailing lone `\` is a literal backslash.
fn like_tokens(pattern: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        out.push(match c {
            '\\' => Token::Literal(chars.next().unwrap_or('\\')),
            '%' => Token::AnyMany,
            '_' => Token::AnyOne,
            c => Token::Literal(c),
        });
    }
    out
}

/// The GLOB pattern matching what the LIKE pattern matches, with case.
pub(crate) fn like_to_glob(pattern: &str) -> String {
    let mut g = String::with_capacity(pattern.len());
    for t in like_tokens(pattern) {
        match t {
            Token::AnyMany => g.push('*'),
            Token::AnyOne => g.push('?'),
            Token::Literal(c @ ('*' | '?' | '[')) => {
                g.push('[');
                g.push(c);
                g.push(']');
            }
            Token::Literal(c) => g.push(c),
        }
    }
    g
}

/// Re-renders a LIKE pattern so it is well-formed under `ESCAPE '\'`
/// (Postgres' default escape too).
pub(crate) fn normalize_like(pattern: &str) -> String {
    let mut s = String::with_capacity(pattern.len());
    for t in like_tokens(pattern) {
        match t {
            Token::AnyMany => s.push('%'),
            Token::AnyOne => s.push('_'),
            Token::Literal(c @ ('%' | '_' | '\\')) => {
                s.push('\\');
                s.push(c);
            }
            Token::Literal(c) => s.push(c),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_translation() {
        assert_eq!(like_to_glob("a%b_c"), "a*b?c");
        assert_eq!(like_to_glob("*?[x]"), "[*][?][[]x]");
        assert_eq!(like_to_glob(r"100\%\_\\"), r"100%_\");
        assert_eq!(like_to_glob(r"a\"), r"a\");
        assert_eq!(normalize_like(r"a%\%\_\\x\"), r"a%\%\_\\x\\");
    }

    #[test]
    fn text_operators_per_dialect() {
        let cases: [(&dyn Dialect, [&str; 4]); 2] = [
            (
                &SqliteDialect,
                [
                    "m GLOB ?",
                    "m LIKE ? ESCAPE '\\'",
                    "instr(m, ?) > 0",
                    "(m IS NULL OR NOT instr(m, ?) > 0)",
                ],
            ),
            (
                &PostgresDialect,
                [
                    "m LIKE $1",
                    "m ILIKE $1",
                    "strpos(m, $1) > 0",
                    "(m IS NULL OR NOT strpos(m, $1) > 0)",
                ],
            ),
        ];
        for (d, want) in cases {
            let mut s = Sql::new(d);
            d.like(&mut s, "m", "a%");
            assert_eq!(s.text(), want[0]);
            let mut s = Sql::new(d);
            d.ilike(&mut s, "m", "a%");
            assert_eq!(s.text(), want[1]);
            let mut s = Sql::new(d);
            d.contains(&mut s, "m", "a");
            assert_eq!(s.text(), want[2]);
            let mut s = Sql::new(d);
            d.not_contains(&mut s, "m", "a");
            assert_eq!(s.text(), want[3]);
        }
    }
}
