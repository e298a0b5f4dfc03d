//! Runs Helicone request queries (`POST /v1/request/query`) against the
//! SQLite log and maps rows to Helicone's JSON shape.
//!
//! All SQLite-specific SQL lives in the [`sqlite`] renderer below so that
//! Postgres and ClickHouse renderers can be added beside it. Values are never
//! spliced into SQL text: every value is a bound parameter and every column
//! name comes from the renderer's own whitelist.

use chrono::{DateTime, SecondsFormat};
use heliport_core::filter::{FilterError, FilterNode, RequestQuery, MAX_LIMIT};
use serde_json::{Map, Value};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};

/// Columns [`row_to_json`] reads; select these (or `*`) from `requests`.
pub const REQUEST_COLUMNS: &str = "seq, request_id, org_id, created_at, response_created_at, \
    provider, target_url, path, method, status, failure, request_model, response_model, model, \
    model_override, stream, latency_ms, time_to_first_token_ms, prompt_tokens, completion_tokens, \
    total_tokens, prompt_cache_read_tokens, prompt_cache_write_tokens, reasoning_tokens, \
    usage_estimated, cost_nano_usd, user_id, session_id, session_path, session_name, prompt_id, \
    prompt_version, prompt_inputs, properties, cache_enabled, cached, cache_reference_id, \
    cache_bucket_idx, attempts, fallback_index, api_key_id, request_body, response_body, \
    request_body_truncated, response_body_truncated, body_cap_bytes, threat, flagged, scores, \
    feedback_rating, parent_request_id, cache_saved_nano_usd";

/// Why a request query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The query itself is invalid (the API answers 400).
    #[error(transparent)]
    Filter(#[from] FilterError),
    /// A hand-built [`RequestQuery`] or [`FilterNode`] violates an invariant
    /// the parser would have enforced (the API answers 400).
    #[error("invalid query: {0}")]
    Invalid(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// A stored row holds a value that cannot be represented.
    #[error("stored request row is malformed: {0}")]
    Corrupt(String),
}

impl QueryError {
    /// Whether the caller's query is at fault (HTTP 400) rather than the store.
    pub fn is_client_error(&self) -> bool {
        matches!(self, QueryError::Filter(_) | QueryError::Invalid(_))
    }
}

/// One page of requests of `org_id` matching `q`, as Helicone-shaped JSON.
pub async fn query_requests(
    pool: &SqlitePool,
    org_id: &str,
    q: &RequestQuery,
) -> Result<Vec<Value>, QueryError> {
    if q.limit > MAX_LIMIT {
        return Err(QueryError::Invalid(format!(
            "limit {} exceeds {MAX_LIMIT}",
            q.limit
        )));
    }
    let limit = to_i64(q.limit, "limit")?;
    let offset = to_i64(q.offset, "offset")?;
    let mut sql = Sql::new(&format!(
        "SELECT {REQUEST_COLUMNS} FROM requests WHERE org_id = "
    ));
    sql.bind(Bind::Text(org_id.to_string()));
    sql.push(attempts_clause(&q.filter));
    sql.push(" AND (");
    sqlite::filter(&q.filter, &mut sql)?;
    sql.push(") ORDER BY ");
    sql.push(&sqlite::order_by(&q.sort));
    sql.push(" LIMIT ");
    sql.bind(Bind::Int(limit));
    sql.push(" OFFSET ");
    sql.bind(Bind::Int(offset));
    let rows = sql.fetch_all(pool).await?;
    rows.iter().map(row_to_json).collect()
}

/// Upstream attempts that did not answer a request (retries, fallback
/// entries passed over) are records of their own; a query sees requests only,
/// unless it asks for attempts by their `parent_request_id`.
fn attempts_clause(filter: &FilterNode) -> &'static str {
    if filter.mentions(&heliport_core::filter::Field::ParentRequestId) {
        ""
    } else {
        " AND parent_request_id IS NULL"
    }
}

/// How many requests of `org_id` match `filter`.
pub async fn count_requests(
    pool: &SqlitePool,
    org_id: &str,
    filter: &FilterNode,
) -> Result<u64, QueryError> {
    let mut sql = Sql::new("SELECT COUNT(*) FROM requests WHERE org_id = ");
    sql.bind(Bind::Text(org_id.to_string()));
    sql.push(attempts_clause(filter));
    sql.push(" AND (");
    sqlite::filter(filter, &mut sql)?;
    sql.push(")");
    let rows = sql.fetch_all(pool).await?;
    let n: i64 = match rows.first() {
        Some(row) => row.try_get(0)?,
        None => 0,
    };
    u64::try_from(n).map_err(|_| QueryError::Corrupt(format!("negative count {n}")))
}

/// The most recent record with this request id (ids may repeat), or None.
///
/// "Most recent" is the latest `created_at`; among equal times the one
/// recorded last wins.
pub async fn get_request(
    pool: &SqlitePool,
    org_id: &str,
    request_id: &str,
) -> Result<Option<Value>, QueryError> {
    let sql = format!(
        "SELECT {REQUEST_COLUMNS} FROM requests WHERE org_id = ? AND request_id = ? \
         ORDER BY created_at DESC, seq DESC LIMIT 1"
    );
    let row = sqlx::query(&sql)
        .bind(org_id)
        .bind(request_id)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(row_to_json).transpose()
}

/// Maps a `requests` row (selected with [`REQUEST_COLUMNS`] or `*`) to
/// Helicone's request JSON, plus heliport's own fields.
pub fn row_to_json(row: &SqliteRow) -> Result<Value, QueryError> {
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    let cost_nano = int(row, "cost_nano_usd")?;
    let cost = match cost_nano {
        // Precision loss only above ~9 million USD per request.
        Some(n) => serde_json::Number::from_f64(n as f64 / 1e9)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        None => Value::Null,
    };
    let failure = text(row, "failure")?;

    put("request_id", text_value(row, "request_id")?);
    let created =
        int(row, "created_at")?.ok_or_else(|| QueryError::Corrupt("created_at is NULL".into()))?;
    put("request_created_at", Value::String(rfc3339(created)?));
    put("request_path", text_value(row, "path")?);
    put("request_body", body(row, "request_body")?);
    put("request_model", text_value(row, "request_model")?);
    put("request_user_id", text_value(row, "user_id")?);
    put("request_properties", object(row, "properties")?);
    put("response_status", int_value(row, "status")?);
    put("response_body", body(row, "response_body")?);
    put("response_model", text_value(row, "response_model")?);
    put(
        "response_created_at",
        match int(row, "response_created_at")? {
            Some(t) => Value::String(rfc3339(t)?),
            None => Value::Null,
        },
    );
    put("model", text_value(row, "model")?);
    put("model_override", text_value(row, "model_override")?);
    put("provider", text_value(row, "provider")?);
    put("delay_ms", int_value(row, "latency_ms")?);
    put(
        "time_to_first_token",
        int_value(row, "time_to_first_token_ms")?,
    );
    for col in [
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "prompt_cache_read_tokens",
        "prompt_cache_write_tokens",
        "reasoning_tokens",
    ] {
        put(col, int_value(row, col)?);
    }
    put("cost", cost.clone());
    put("costUSD", cost);
    put(
        "cost_nano_usd",
        cost_nano.map(Value::from).unwrap_or(Value::Null),
    );
    put("prompt_id", text_value(row, "prompt_id")?);
    put("cache_enabled", Value::Bool(flag(row, "cache_enabled")?));
    put("cache_reference_id", text_value(row, "cache_reference_id")?);
    put("target_url", text_value(row, "target_url")?);
    put("scores", object(row, "scores")?);
    put(
        "feedback_rating",
        int(row, "feedback_rating")?
            .map(|r| Value::Bool(r != 0))
            .unwrap_or(Value::Null),
    );
    for col in ["session_id", "session_path", "session_name"] {
        put(col, text_value(row, col)?);
    }
    put("prompt_version", int_value(row, "prompt_version")?);
    put(
        "prompt_inputs",
        match parse_json(text(row, "prompt_inputs")?) {
            v @ Value::Object(_) => v,
            _ => Value::Null,
        },
    );
    put("cached", Value::Bool(flag(row, "cached")?));
    put("cache_bucket_idx", int_value(row, "cache_bucket_idx")?);
    put("attempts", int_value(row, "attempts")?);
    put("fallback_index", int_value(row, "fallback_index")?);
    put("parent_request_id", text_value(row, "parent_request_id")?);
    put(
        "cache_saved_nano_usd",
        int_value(row, "cache_saved_nano_usd")?,
    );
    put("threat", Value::Bool(flag(row, "threat")?));
    put("flagged", Value::Bool(flag(row, "flagged")?));
    put(
        "usage_estimated",
        Value::Bool(flag(row, "usage_estimated")?),
    );
    put(
        "cancelled",
        Value::Bool(failure.as_deref() == Some("cancelled")),
    );
    put("failure", failure.map(Value::String).unwrap_or(Value::Null));
    put("stream", Value::Bool(flag(row, "stream")?));
    put("method", text_value(row, "method")?);
    put("api_key_id", text_value(row, "api_key_id")?);
    put(
        "request_body_truncated",
        Value::Bool(flag(row, "request_body_truncated")?),
    );
    put(
        "response_body_truncated",
        Value::Bool(flag(row, "response_body_truncated")?),
    );
    put("body_cap_bytes", int_value(row, "body_cap_bytes")?);
    Ok(Value::Object(m))
}

fn to_i64(v: u64, what: &str) -> Result<i64, QueryError> {
    i64::try_from(v).map_err(|_| QueryError::Invalid(format!("{what} {v} is too large")))
}

fn text(row: &SqliteRow, col: &str) -> Result<Option<String>, QueryError> {
    Ok(row.try_get::<Option<String>, _>(col)?)
}

fn int(row: &SqliteRow, col: &str) -> Result<Option<i64>, QueryError> {
    Ok(row.try_get::<Option<i64>, _>(col)?)
}

fn text_value(row: &SqliteRow, col: &str) -> Result<Value, QueryError> {
    Ok(text(row, col)?.map(Value::String).unwrap_or(Value::Null))
}

fn int_value(row: &SqliteRow, col: &str) -> Result<Value, QueryError> {
    Ok(int(row, col)?.map(Value::from).unwrap_or(Value::Null))
}

fn flag(row: &SqliteRow, col: &str) -> Result<bool, QueryError> {
    Ok(int(row, col)?.is_some_and(|v| v != 0))
}

fn parse_json(s: Option<String>) -> Value {
    match s {
        Some(s) => serde_json::from_str(&s).unwrap_or(Value::String(s)),
        None => Value::Null,
    }
}

/// A body is returned as JSON when it parses (truncated bodies will not) and
/// as the raw string otherwise.
fn body(row: &SqliteRow, col: &str) -> Result<Value, QueryError> {
    Ok(parse_json(text(row, col)?))
}

/// `properties` and `scores` are JSON objects; anything else reads as `{}`
/// so one bad row cannot break a whole page.
fn object(row: &SqliteRow, col: &str) -> Result<Value, QueryError> {
    Ok(match parse_json(text(row, col)?) {
        v @ Value::Object(_) => v,
        _ => Value::Object(Map::new()),
    })
}

fn rfc3339(micros: i64) -> Result<String, QueryError> {
    DateTime::from_timestamp_micros(micros)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .ok_or_else(|| QueryError::Corrupt(format!("timestamp {micros}us is out of range")))
}

/// A value bound to a `?` placeholder.
#[derive(Debug, Clone, PartialEq)]
enum Bind {
    Text(String),
    Int(i64),
    Real(f64),
}

/// SQL text with its bound values, in placeholder order.
struct Sql {
    text: String,
    binds: Vec<Bind>,
}

impl Sql {
    fn new(text: &str) -> Self {
        Sql {
            text: text.to_string(),
            binds: Vec::new(),
        }
    }

    fn push(&mut self, s: &str) {
        self.text.push_str(s);
    }

    fn bind(&mut self, b: Bind) {
        self.text.push('?');
        self.binds.push(b);
    }

    async fn fetch_all(&self, pool: &SqlitePool) -> Result<Vec<SqliteRow>, sqlx::Error> {
        let mut q = sqlx::query(&self.text);
        for b in &self.binds {
            q = match b {
                Bind::Text(s) => q.bind(s.as_str()),
                Bind::Int(i) => q.bind(*i),
                Bind::Real(f) => q.bind(*f),
            };
        }
        q.fetch_all(pool).await
    }
}

/// The SQLite dialect: renders a [`FilterNode`] and a sort into SQL over the
/// `requests` table.
mod sqlite {
    use super::{Bind, QueryError, Sql};
    use heliport_core::filter::{
        usd_to_nano, Condition, Field, FieldKind, FilterNode, FilterValue, NanoUsd, Op,
        SortDirection, SortField, SortSpec,
    };

    /// Renders `node` as a boolean SQL expression.
    pub(super) fn filter(node: &FilterNode, out: &mut Sql) -> Result<(), QueryError> {
        match node {
            FilterNode::All => out.push("1"),
            FilterNode::Leaf(conds) if conds.is_empty() => out.push("1"),
            FilterNode::Leaf(conds) => {
                out.push("(");
                for (i, c) in conds.iter().enumerate() {
                    if i > 0 {
                        out.push(" AND ");
                    }
                    condition(c, out)?;
                }
                out.push(")");
            }
            FilterNode::And(l, r) | FilterNode::Or(l, r) => {
                let joiner = if matches!(node, FilterNode::And(..)) {
                    " AND "
                } else {
                    " OR "
                };
                out.push("(");
                filter(l, out)?;
                out.push(joiner);
                filter(r, out)?;
                out.push(")");
            }
        }
        Ok(())
    }

    /// `ORDER BY` terms: NULLs last in both directions, then `seq` so pages
    /// are stable.
    pub(super) fn order_by(sort: &SortSpec) -> String {
        let dir = match sort.direction {
            SortDirection::Asc => "ASC",
            SortDirection::Desc => "DESC",
        };
        let col = match sort.field {
            // NOT NULL, and the bare form lets SQLite walk the
            // (org_id, created_at) index.
            SortField::CreatedAt => return format!("created_at {dir}, seq {dir}"),
            SortField::Cost => "cost_nano_usd",
            SortField::Latency => "latency_ms",
            SortField::TotalTokens => "total_tokens",
            SortField::PromptTokens => "prompt_tokens",
            SortField::CompletionTokens => "completion_tokens",
            SortField::TimeToFirstToken => "time_to_first_token_ms",
        };
        format!("({col} IS NULL), {col} {dir}, seq {dir}")
    }

    fn column(field: &Field) -> Option<&'static str> {
        Some(match field {
            Field::RequestId => "request_id",
            Field::RequestCreatedAt => "created_at",
            Field::Model => "model",
            Field::Provider => "provider",
            Field::Status => "status",
            Field::UserId => "user_id",
            Field::Latency => "latency_ms",
            Field::TimeToFirstToken => "time_to_first_token_ms",
            Field::Cost => "cost_nano_usd",
            Field::PromptTokens => "prompt_tokens",
            Field::CompletionTokens => "completion_tokens",
            Field::TotalTokens => "total_tokens",
            Field::TargetUrl => "target_url",
            Field::Cached => "cached",
            Field::PromptId => "prompt_id",
            Field::RequestBody => "request_body",
            Field::ResponseBody => "response_body",
            Field::ParentRequestId => "parent_request_id",
            Field::Property(_) | Field::Score(_) => return None,
        })
    }

    fn invalid(c: &Condition) -> QueryError {
        QueryError::Invalid(format!(
            "operator `{}` with value {:?} is not valid for field `{}`",
            c.op.as_str(),
            c.value,
            c.field.name()
        ))
    }

    fn condition(c: &Condition, out: &mut Sql) -> Result<(), QueryError> {
        let kind = c.field.kind();
        if !kind.ops().contains(&c.op) {
            return Err(invalid(c));
        }
        match (&c.field, &c.value) {
            (Field::Property(name), FilterValue::Text(v)) => {
                property(name, c.op, v, out);
                Ok(())
            }
            (Field::Score(name), FilterValue::Number(v)) => {
                score(name, c.op, *v, out);
                Ok(())
            }
            (Field::Cost, FilterValue::Number(usd)) => {
                cost(c.op, *usd, out);
                Ok(())
            }
            (field, value) => {
                let col = column(field).ok_or_else(|| invalid(c))?;
                match (kind, value) {
                    (FieldKind::Text, FilterValue::Text(v)) => {
                        text_op(col, c.op, v, out);
                    }
                    (FieldKind::Number, FilterValue::Number(v)) => {
                        compare(col, c.op, number(*v), out);
                    }
                    (FieldKind::Time, FilterValue::Time(t)) => {
                        compare(col, c.op, Bind::Int(t.timestamp_micros()), out);
                    }
                    (FieldKind::Bool, FilterValue::Bool(b)) => {
                        compare(col, c.op, Bind::Int(i64::from(*b)), out);
                    }
                    _ => return Err(invalid(c)),
                }
                Ok(())
            }
        }
    }

    /// Integral values bind as integers so comparisons against INTEGER
    /// columns stay exact and indexable; SQLite compares INTEGER with REAL
    /// numerically for the rest.
    fn number(v: f64) -> Bind {
        if v.fract() == 0.0 && v.abs() < 9.0e15 {
            Bind::Int(v as i64)
        } else {
            Bind::Real(v)
        }
    }

    /// `not-equals` uses `IS NOT`, so a missing (NULL) value counts as
    /// different, matching `not-contains` and Helicone, whose columns are
    /// never NULL.
    fn cmp_sql(op: Op) -> &'static str {
        match op {
            Op::NotEquals => " IS NOT ",
            Op::Gt => " > ",
            Op::Gte => " >= ",
            Op::Lt => " < ",
            Op::Lte => " <= ",
            _ => " = ",
        }
    }

    fn compare(expr: &str, op: Op, value: Bind, out: &mut Sql) {
        out.push(expr);
        out.push(cmp_sql(op));
        out.bind(value);
    }

    /// Cost filters are in USD but the column is integer nano-USD: convert
    /// the bound exactly and, when it falls between two nano-USD, round it to
    /// the integer comparison that selects the same rows.
    fn cost(op: Op, usd: f64, out: &mut Sql) {
        let col = "cost_nano_usd";
        match usd_to_nano(usd) {
            NanoUsd::Exact(n) => compare(col, op, Bind::Int(n), out),
            NanoUsd::Between(n) => match op {
                // n < bound < n + 1, so `> bound` ⇔ `>= n + 1` ⇔ `> n`.
                Op::Gt | Op::Gte => compare(col, Op::Gt, Bind::Int(n), out),
                Op::Lt | Op::Lte => compare(col, Op::Lte, Bind::Int(n), out),
                Op::NotEquals => out.push("1"),
                _ => out.push("0"),
            },
            NanoUsd::OutOfRange { negative } => match (op, negative) {
                (Op::Gt | Op::Gte, true) | (Op::Lt | Op::Lte, false) => {
                    out.push("(cost_nano_usd IS NOT NULL)")
                }
                (Op::NotEquals, _) => out.push("1"),
                _ => out.push("0"),
            },
        }
    }

    /// Text operators on `expr`.
    ///
    /// SQLite's `LIKE` folds ASCII case, so the case-sensitive `like` is
    /// rewritten into an equivalent `GLOB` pattern; `ilike` uses `LIKE` and
    /// therefore folds ASCII letters only (SQLite has no Unicode folding
    /// without ICU). Patterns follow Postgres: `%`, `_`, and `\` escapes.
    fn text_op(expr: &str, op: Op, value: &str, out: &mut Sql) {
        match op {
            Op::Equals | Op::NotEquals => compare(expr, op, Bind::Text(value.into()), out),
            Op::Like => {
                out.push(expr);
                out.push(" GLOB ");
                out.bind(Bind::Text(like_to_glob(value)));
            }
            Op::ILike => {
                out.push(expr);
                out.push(" LIKE ");
                out.bind(Bind::Text(normalize_like(value)));
                out.push(" ESCAPE '\\'");
            }
            Op::Contains => {
                out.push("instr(");
                out.push(expr);
                out.push(", ");
                out.bind(Bind::Text(value.into()));
                out.push(") > 0");
            }
            Op::NotContains => {
                out.push("(");
                out.push(expr);
                out.push(" IS NULL OR instr(");
                out.push(expr);
                out.push(", ");
                out.bind(Bind::Text(value.into()));
                out.push(") = 0)");
            }
            // Not text operators; `condition` rejects them before this.
            Op::Gt | Op::Gte | Op::Lt | Op::Lte => out.push("0"),
        }
    }

    /// Negated operators become `NOT EXISTS` of the positive one, so a
    /// request without the property counts as not equal / not containing.
    fn property(name: &str, op: Op, value: &str, out: &mut Sql) {
        let (negate, positive) = match op {
            Op::NotEquals => (true, Op::Equals),
            Op::NotContains => (true, Op::Contains),
            other => (false, other),
        };
        out.push(if negate { "NOT EXISTS" } else { "EXISTS" });
        out.push(" (SELECT 1 FROM request_properties p WHERE p.seq = requests.seq AND p.key = ");
        out.bind(Bind::Text(name.into()));
        out.push(" AND ");
        text_op("p.value", positive, value, out);
        out.push(")");
    }

    /// Scores are read with `json_each` rather than a `$.name` path so any
    /// score name (dots, quotes) matches literally; only numeric and boolean
    /// scores compare. `not-equals` is `NOT EXISTS` of `equals`, so an
    /// absent score counts as different.
    fn score(name: &str, op: Op, value: f64, out: &mut Sql) {
        let (negate, positive) = match op {
            Op::NotEquals => (true, Op::Equals),
            other => (false, other),
        };
        out.push(if negate { "NOT EXISTS" } else { "EXISTS" });
        out.push(
            " (SELECT 1 FROM json_each(CASE WHEN json_valid(requests.scores) \
             THEN requests.scores ELSE '{}' END) s WHERE s.key = ",
        );
        out.bind(Bind::Text(name.into()));
        out.push(" AND s.type IN ('integer', 'real', 'true', 'false') AND ");
        compare("s.value", positive, number(value), out);
        out.push(")");
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

    fn like_to_glob(pattern: &str) -> String {
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

    /// Re-renders a LIKE pattern so it is well-formed under `ESCAPE '\'`.
    fn normalize_like(pattern: &str) -> String {
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
        fn query_like_translation() {
            assert_eq!(like_to_glob("a%b_c"), "a*b?c");
            assert_eq!(like_to_glob("*?[x]"), "[*][?][[]x]");
            assert_eq!(like_to_glob(r"100\%\_\\"), r"100%_\");
            assert_eq!(like_to_glob(r"a\"), r"a\");
            assert_eq!(normalize_like(r"a%\%\_\\x\"), r"a%\%\_\\x\\");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use heliport_core::filter::{parse_filter, parse_query};
    use serde_json::json;
    use sqlx::sqlite::SqlitePoolOptions;

    fn micros(rfc: &str) -> i64 {
        DateTime::parse_from_rfc3339(rfc)
            .unwrap()
            .timestamp_micros()
    }

    #[derive(Clone)]
    struct Rec {
        request_id: &'static str,
        org: &'static str,
        created_at: i64,
        model: Option<&'static str>,
        provider: &'static str,
        status: Option<i64>,
        failure: Option<&'static str>,
        user_id: Option<&'static str>,
        latency: Option<i64>,
        ttft: Option<i64>,
        cost: Option<i64>,
        tokens: Option<(i64, i64)>,
        target_url: &'static str,
        cached: bool,
        prompt_id: Option<&'static str>,
        request_body: Option<&'static str>,
        response_body: Option<&'static str>,
        props: Vec<(&'static str, &'static str)>,
        scores: &'static str,
    }

    impl Default for Rec {
        fn default() -> Self {
            Rec {
                request_id: "r",
                org: "o1",
                created_at: micros("2026-01-01T00:00:00Z"),
                model: None,
                provider: "openai",
                status: None,
                failure: None,
                user_id: None,
                latency: None,
                ttft: None,
                cost: None,
                tokens: None,
                target_url: "https://api.openai.com/v1/chat/completions",
                cached: false,
                prompt_id: None,
                request_body: None,
                response_body: None,
                props: vec![],
                scores: "{}",
            }
        }
    }

    async fn insert(pool: &SqlitePool, r: &Rec) {
        let props: Map<String, Value> = r
            .props
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        let res = sqlx::query(
            "INSERT INTO requests (uid, request_id, org_id, created_at, response_created_at, \
             provider, target_url, path, method, status, failure, request_model, response_model, \
             model, latency_ms, time_to_first_token_ms, prompt_tokens, completion_tokens, \
             total_tokens, cost_nano_usd, user_id, prompt_id, properties, cached, request_body, \
             response_body, body_cap_bytes, scores) \
             VALUES (?, ?, ?, ?, ?, ?, ?, '/v1/chat/completions', 'POST', ?, ?, ?, ?, ?, ?, ?, \
             ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1048576, ?)",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(r.request_id)
        .bind(r.org)
        .bind(r.created_at)
        .bind(r.status.map(|_| r.created_at + 1_500))
        .bind(r.provider)
        .bind(r.target_url)
        .bind(r.status)
        .bind(r.failure)
        .bind(r.model)
        .bind(r.model)
        .bind(r.model)
        .bind(r.latency)
        .bind(r.ttft)
        .bind(r.tokens.map(|t| t.0))
        .bind(r.tokens.map(|t| t.1))
        .bind(r.tokens.map(|t| t.0 + t.1))
        .bind(r.cost)
        .bind(r.user_id)
        .bind(r.prompt_id)
        .bind(Value::Object(props).to_string())
        .bind(i64::from(r.cached))
        .bind(r.request_body)
        .bind(r.response_body)
        .bind(r.scores)
        .execute(pool)
        .await
        .unwrap();
        let seq = res.last_insert_rowid();
        for (k, v) in &r.props {
            sqlx::query(
                "INSERT INTO request_properties (seq, org_id, key, value) VALUES (?, ?, ?, ?)",
            )
            .bind(seq)
            .bind(r.org)
            .bind(k)
            .bind(v)
            .execute(pool)
            .await
            .unwrap();
        }
    }

    async fn pool() -> SqlitePool {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        for m in crate::sqlite::MIGRATIONS {
            sqlx::raw_sql(m).execute(&pool).await.unwrap();
        }
        pool
    }

    /// Three requests in `o1`, one in `o2`.
    async fn fixture() -> SqlitePool {
        let pool = pool().await;
        let recs = [
            Rec {
                request_id: "r1",
                created_at: micros("2026-01-01T00:00:00.123Z"),
                model: Some("gpt-4o"),
                status: Some(200),
                user_id: Some("alice"),
                latency: Some(100),
                ttft: Some(20),
                cost: Some(1_000_000),
                tokens: Some((10, 20)),
                prompt_id: Some("p1"),
                request_body: Some(r#"{"messages":[{"role":"user","content":"Hello World"}]}"#),
                response_body: Some(r#"{"ok":true}"#),
                props: vec![("env", "prod"), ("team", "a")],
                scores: r#"{"accuracy": 0.9, "passed": true}"#,
                ..Rec::default()
            },
            Rec {
                request_id: "r2",
                created_at: micros("2026-01-02T00:00:00Z"),
                model: Some("GPT-4o-mini"),
                status: Some(500),
                user_id: Some("bob"),
                latency: Some(300),
                cost: Some(2_500_000),
                tokens: Some((5, 0)),
                cached: true,
                request_body: Some("not json *star*"),
                props: vec![("env", "dev")],
                scores: r#"{"accuracy": 0.4}"#,
                ..Rec::default()
            },
            Rec {
                request_id: "r3",
                created_at: micros("2026-01-03T00:00:00Z"),
                model: Some("claude-3"),
                provider: "anthropic",
                failure: Some("cancelled"),
                latency: Some(50),
                target_url: "https://api.anthropic.com/v1/messages",
                ..Rec::default()
            },
            Rec {
                request_id: "r4",
                org: "o2",
                created_at: micros("2026-01-04T00:00:00Z"),
                model: Some("gpt-4o"),
                status: Some(200),
                user_id: Some("alice"),
                props: vec![("env", "prod")],
                ..Rec::default()
            },
        ];
        for r in &recs {
            insert(&pool, r).await;
        }
        pool
    }

    async fn ids_in(pool: &SqlitePool, org: &str, body: Value) -> Vec<String> {
        let q = parse_query(&body).unwrap();
        let rows = query_requests(pool, org, &q).await.unwrap();
        let count = count_requests(pool, org, &q.filter).await.unwrap();
        let ids: Vec<String> = rows
            .iter()
            .map(|r| r["request_id"].as_str().unwrap().to_string())
            .collect();
        if q.offset == 0 && (ids.len() as u64) < q.limit {
            assert_eq!(count, ids.len() as u64, "count disagrees for {body}");
        }
        ids
    }

    /// Ids in `o1` matching one leaf, oldest first.
    async fn ids(pool: &SqlitePool, fields: Value) -> Vec<String> {
        ids_in(
            pool,
            "o1",
            json!({
                "filter": { "request_response_rmt": fields },
                "sort": { "created_at": "asc" },
                "limit": 100,
            }),
        )
        .await
    }

    #[tokio::test]
    async fn query_org_isolation() {
        let pool = fixture().await;
        assert_eq!(ids_in(&pool, "o1", json!({})).await, ["r3", "r2", "r1"]);
        assert_eq!(
            ids_in(&pool, "o2", json!({ "filter": "all" })).await,
            ["r4"]
        );
        assert!(ids_in(&pool, "o3", json!({})).await.is_empty());
        let alice = json!({
            "filter": { "request_response_rmt": { "user_id": { "equals": "alice" } } }
        });
        assert_eq!(ids_in(&pool, "o1", alice.clone()).await, ["r1"]);
        assert_eq!(ids_in(&pool, "o2", alice).await, ["r4"]);
        let or_all = json!({ "filter": {
            "left": "all", "operator": "or",
            "right": { "request_response_rmt": { "request_id": { "equals": "r4" } } },
        }});
        assert_eq!(ids_in(&pool, "o1", or_all).await, ["r3", "r2", "r1"]);
        assert!(get_request(&pool, "o1", "r4").await.unwrap().is_none());
        assert!(get_request(&pool, "o2", "r4").await.unwrap().is_some());
    }

    #[tokio::test]
    async fn query_text_ops() {
        let pool = fixture().await;
        let p = &pool;
        assert_eq!(ids(p, json!({"model": {"equals": "gpt-4o"}})).await, ["r1"]);
        assert_eq!(
            ids(p, json!({"model": {"not-equals": "gpt-4o"}})).await,
            ["r2", "r3"]
        );
        // `like` is case-sensitive, `ilike` is not.
        assert_eq!(ids(p, json!({"model": {"like": "gpt%"}})).await, ["r1"]);
        assert_eq!(
            ids(p, json!({"model": {"ilike": "gpt%"}})).await,
            ["r1", "r2"]
        );
        assert_eq!(
            ids(p, json!({"model": {"like": "GPT-4o_mini"}})).await,
            ["r2"]
        );
        assert!(ids(p, json!({"model": {"like": r"GPT-4o\_mini"}}))
            .await
            .is_empty());
        assert!(ids(p, json!({"model": {"ilike": r"gpt-4o\_mini"}}))
            .await
            .is_empty());
        assert_eq!(
            ids(p, json!({"model": {"ilike": "GPT-4O_MINI"}})).await,
            ["r2"]
        );
        // GLOB metacharacters in a `like` pattern are literals.
        assert_eq!(
            ids(p, json!({"request_body": {"like": "%*star*%"}})).await,
            ["r2"]
        );
        assert!(ids(p, json!({"request_body": {"like": "%[*]%"}}))
            .await
            .is_empty());
        assert_eq!(
            ids(p, json!({"model": {"contains": "4o"}})).await,
            ["r1", "r2"]
        );
        assert!(ids(p, json!({"model": {"contains": "4O"}}))
            .await
            .is_empty());
        assert_eq!(
            ids(p, json!({"model": {"not-contains": "gpt"}})).await,
            ["r2", "r3"]
        );
        // NULL counts as not containing / not equal.
        assert_eq!(
            ids(p, json!({"user_id": {"not-contains": "ali"}})).await,
            ["r2", "r3"]
        );
        assert_eq!(
            ids(p, json!({"user_id": {"not-equals": "alice"}})).await,
            ["r2", "r3"]
        );
        assert_eq!(
            ids(p, json!({"request_body": {"contains": "Hello World"}})).await,
            ["r1"]
        );
        assert_eq!(
            ids(p, json!({"request_body": {"contains": ""}})).await,
            ["r1", "r2"]
        );
        assert_eq!(
            ids(p, json!({"response_body": {"contains": "\"ok\""}})).await,
            ["r1"]
        );
        assert_eq!(
            ids(p, json!({"provider": {"equals": "anthropic"}})).await,
            ["r3"]
        );
        assert_eq!(
            ids(
                p,
                json!({"target_url": {"like": "https://api.openai.com/%"}})
            )
            .await,
            ["r1", "r2"]
        );
        assert_eq!(ids(p, json!({"prompt_id": {"equals": "p1"}})).await, ["r1"]);
        assert_eq!(
            ids(p, json!({"request_id": {"equals": "r2"}})).await,
            ["r2"]
        );
        // A value that looks like SQL is only ever a bound value.
        assert!(ids(p, json!({"model": {"equals": "x' OR 1=1 --"}}))
            .await
            .is_empty());
    }

    #[tokio::test]
    async fn query_number_ops() {
        let pool = fixture().await;
        let p = &pool;
        assert_eq!(ids(p, json!({"status": {"equals": 200}})).await, ["r1"]);
        assert_eq!(ids(p, json!({"status": {"gte": 200}})).await, ["r1", "r2"]);
        assert_eq!(ids(p, json!({"status": {"lt": 500}})).await, ["r1"]);
        assert_eq!(
            ids(p, json!({"status": {"not-equals": 200}})).await,
            ["r2", "r3"]
        );
        assert_eq!(ids(p, json!({"latency": {"gt": 99.5}})).await, ["r1", "r2"]);
        assert_eq!(ids(p, json!({"latency": {"lte": 50}})).await, ["r3"]);
        assert_eq!(ids(p, json!({"prompt_tokens": {"lte": 5}})).await, ["r2"]);
        assert_eq!(
            ids(p, json!({"total_tokens": {"equals": "30"}})).await,
            ["r1"]
        );
        assert_eq!(
            ids(p, json!({"time_to_first_token": {"lt": 100}})).await,
            ["r1"]
        );
        assert_eq!(
            ids(p, json!({"completion_tokens": {"gt": 0}})).await,
            ["r1"]
        );
    }

    #[tokio::test]
    async fn query_cost_in_usd() {
        let pool = fixture().await;
        let p = &pool;
        assert_eq!(ids(p, json!({"cost": {"gt": 0.001}})).await, ["r2"]);
        assert_eq!(ids(p, json!({"cost": {"gte": 0.001}})).await, ["r1", "r2"]);
        assert_eq!(ids(p, json!({"cost": {"equals": 0.0025}})).await, ["r2"]);
        assert_eq!(ids(p, json!({"cost": {"lt": "0.0025"}})).await, ["r1"]);
        assert_eq!(
            ids(p, json!({"cost": {"not-equals": 0.001}})).await,
            ["r2", "r3"]
        );
        // A bound between two nano-USD.
        assert_eq!(ids(p, json!({"cost": {"gt": 0.0010000001}})).await, ["r2"]);
        assert_eq!(ids(p, json!({"cost": {"lte": 0.0010000001}})).await, ["r1"]);
        assert!(ids(p, json!({"cost": {"equals": 0.0010000001}}))
            .await
            .is_empty());
        // Bounds beyond i64 nano-USD.
        assert!(ids(p, json!({"cost": {"gt": 1e12}})).await.is_empty());
        assert_eq!(ids(p, json!({"cost": {"lt": 1e12}})).await, ["r1", "r2"]);
    }

    #[tokio::test]
    async fn query_time_and_bool_ops() {
        let pool = fixture().await;
        let p = &pool;
        let f = |op: &str, v: Value| json!({ "request_created_at": { op: v } });
        assert_eq!(
            ids(p, f("gt", json!("2026-01-01T00:00:00.123Z"))).await,
            ["r2", "r3"]
        );
        assert_eq!(
            ids(p, f("gte", json!("2026-01-01T00:00:00.123Z"))).await,
            ["r1", "r2", "r3"]
        );
        assert_eq!(ids(p, f("lt", json!("2026-01-02 00:00:00"))).await, ["r1"]);
        let jan2_ms = micros("2026-01-02T00:00:00Z") / 1000;
        assert_eq!(ids(p, f("lte", json!(jan2_ms))).await, ["r1", "r2"]);
        assert_eq!(
            ids(p, f("equals", json!("2026-01-03T01:00:00+01:00"))).await,
            ["r3"]
        );
        assert_eq!(ids(p, json!({"cached": {"equals": true}})).await, ["r2"]);
        assert_eq!(
            ids(p, json!({"cached": {"equals": false}})).await,
            ["r1", "r3"]
        );
    }

    #[tokio::test]
    async fn query_properties_and_scores() {
        let pool = fixture().await;
        let p = &pool;
        let prop = |name: &str, op: &str, v: &str| json!({"properties": {name: {op: v}}});
        assert_eq!(ids(p, prop("env", "equals", "prod")).await, ["r1"]);
        assert_eq!(ids(p, prop("Env", "equals", "prod")).await, ["r1"]);
        assert_eq!(
            ids(p, prop("env", "not-equals", "prod")).await,
            ["r2", "r3"]
        );
        assert_eq!(ids(p, prop("env", "like", "pr%")).await, ["r1"]);
        assert!(ids(p, prop("env", "like", "PR%")).await.is_empty());
        assert_eq!(ids(p, prop("env", "ilike", "PR%")).await, ["r1"]);
        assert_eq!(ids(p, prop("env", "contains", "e")).await, ["r2"]);
        assert_eq!(
            ids(p, prop("team", "not-contains", "a")).await,
            ["r2", "r3"]
        );
        assert!(ids(p, prop("missing", "equals", "prod")).await.is_empty());
        let both = json!({"properties": {"env": {"equals": "prod"}, "team": {"equals": "a"}}});
        assert_eq!(ids(p, both).await, ["r1"]);

        let score = |name: &str, op: &str, v: Value| json!({"scores": {name: {op: v}}});
        assert_eq!(ids(p, score("accuracy", "gt", json!(0.5))).await, ["r1"]);
        assert_eq!(ids(p, score("accuracy", "lte", json!("0.5"))).await, ["r2"]);
        assert_eq!(
            ids(p, score("accuracy", "equals", json!(0.4))).await,
            ["r2"]
        );
        assert_eq!(
            ids(p, score("accuracy", "not-equals", json!(0.9))).await,
            ["r2", "r3"]
        );
        assert_eq!(ids(p, score("passed", "equals", json!(1))).await, ["r1"]);
        assert!(ids(p, score("accuracy.x", "gt", json!(0))).await.is_empty());
    }

    #[tokio::test]
    async fn query_and_or_trees() {
        let pool = fixture().await;
        let leaf = |f: Value| json!({ "request_response_rmt": f });
        let body = json!({
            "filter": {
                "left": {
                    "left": leaf(json!({"model": {"equals": "gpt-4o"}})),
                    "operator": "or",
                    "right": leaf(json!({"status": {"equals": 500}})),
                },
                "operator": "and",
                "right": leaf(json!({"cached": {"equals": false}})),
            },
            "sort": { "created_at": "asc" },
        });
        assert_eq!(ids_in(&pool, "o1", body).await, ["r1"]);
        let body = json!({
            "filter": {
                "left": leaf(json!({"provider": {"equals": "anthropic"}})),
                "operator": "or",
                "right": {
                    "left": leaf(json!({"latency": {"gt": 150}})),
                    "operator": "and",
                    "right": leaf(json!({"properties": {"env": {"equals": "dev"}}})),
                },
            },
            "sort": { "created_at": "asc" },
        });
        assert_eq!(ids_in(&pool, "o1", body).await, ["r2", "r3"]);
        // Several fields in one leaf AND together.
        assert_eq!(
            ids(
                &pool,
                json!({"provider": {"equals": "openai"}, "latency": {"gt": 150}})
            )
            .await,
            ["r2"]
        );
    }

    #[tokio::test]
    async fn query_sort_limit_offset() {
        let pool = fixture().await;
        let p = &pool;
        let sorted = |field: &str, dir: &str| json!({ "sort": { field: dir } });
        assert_eq!(
            ids_in(p, "o1", sorted("latency", "desc")).await,
            ["r2", "r1", "r3"]
        );
        assert_eq!(
            ids_in(p, "o1", sorted("latency", "asc")).await,
            ["r3", "r1", "r2"]
        );
        // NULLs last either way.
        assert_eq!(
            ids_in(p, "o1", sorted("cost", "asc")).await,
            ["r1", "r2", "r3"]
        );
        assert_eq!(
            ids_in(p, "o1", sorted("cost", "desc")).await,
            ["r2", "r1", "r3"]
        );
        // Ties (here: NULLs) fall back to insertion order in the sort's direction.
        assert_eq!(
            ids_in(p, "o1", sorted("time_to_first_token", "asc")).await,
            ["r1", "r2", "r3"]
        );
        assert_eq!(
            ids_in(p, "o1", sorted("total_tokens", "desc")).await,
            ["r1", "r2", "r3"]
        );
        assert_eq!(
            ids_in(p, "o1", sorted("prompt_tokens", "asc")).await,
            ["r2", "r1", "r3"]
        );
        assert_eq!(
            ids_in(p, "o1", sorted("completion_tokens", "desc")).await,
            ["r1", "r2", "r3"]
        );
        let page = |offset: u64, limit: u64| json!({ "offset": offset, "limit": limit });
        assert_eq!(ids_in(p, "o1", page(0, 2)).await, ["r3", "r2"]);
        assert_eq!(ids_in(p, "o1", page(1, 1)).await, ["r2"]);
        assert_eq!(ids_in(p, "o1", page(2, 10)).await, ["r1"]);
        assert!(ids_in(p, "o1", page(3, 10)).await.is_empty());
        assert!(ids_in(p, "o1", page(0, 0)).await.is_empty());

        let bad = RequestQuery {
            limit: MAX_LIMIT + 1,
            ..RequestQuery::default()
        };
        let e = query_requests(p, "o1", &bad).await.unwrap_err();
        assert!(matches!(e, QueryError::Invalid(_)), "{e}");
        assert!(e.is_client_error());
        let bad = RequestQuery {
            offset: u64::MAX,
            ..RequestQuery::default()
        };
        assert!(query_requests(p, "o1", &bad).await.is_err());
    }

    #[tokio::test]
    async fn query_rejects_hand_built_mismatches() {
        use heliport_core::filter::{Condition, Field, FilterValue, Op};
        let pool = fixture().await;
        let f = FilterNode::Leaf(vec![Condition {
            field: Field::Model,
            op: Op::Equals,
            value: FilterValue::Number(1.0),
        }]);
        let e = count_requests(&pool, "o1", &f).await.unwrap_err();
        assert!(e.to_string().contains("`model`"), "{e}");
        let f = FilterNode::Leaf(vec![Condition {
            field: Field::Latency,
            op: Op::Like,
            value: FilterValue::Number(1.0),
        }]);
        let e = count_requests(&pool, "o1", &f).await.unwrap_err();
        assert!(e.to_string().contains("`like`"), "{e}");
        let f = parse_filter(&json!({"request_response_rmt": {}})).unwrap();
        assert_eq!(count_requests(&pool, "o1", &f).await.unwrap(), 3);
    }

    #[tokio::test]
    async fn query_get_request_picks_newest() {
        let pool = pool().await;
        let older = Rec {
            request_id: "dup",
            created_at: micros("2026-02-01T00:00:00Z"),
            model: Some("old"),
            ..Rec::default()
        };
        let newer = Rec {
            created_at: micros("2026-02-01T00:00:01Z"),
            model: Some("new"),
            ..older.clone()
        };
        insert(&pool, &older).await;
        insert(&pool, &newer).await;
        let r = get_request(&pool, "o1", "dup").await.unwrap().unwrap();
        assert_eq!(r["model"], "new");
        // Recorded later but with an earlier time: still the newest by time.
        let late_old = Rec {
            created_at: micros("2026-01-01T00:00:00Z"),
            model: Some("replayed"),
            ..older.clone()
        };
        insert(&pool, &late_old).await;
        let r = get_request(&pool, "o1", "dup").await.unwrap().unwrap();
        assert_eq!(r["model"], "new");
        // Same time: the one recorded last.
        let same = Rec {
            model: Some("same-time"),
            ..newer.clone()
        };
        insert(&pool, &same).await;
        let r = get_request(&pool, "o1", "dup").await.unwrap().unwrap();
        assert_eq!(r["model"], "same-time");
        assert!(get_request(&pool, "o1", "nope").await.unwrap().is_none());
        assert!(get_request(&pool, "o2", "dup").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn query_row_json_shape() {
        let pool = fixture().await;
        let r1 = get_request(&pool, "o1", "r1").await.unwrap().unwrap();
        let obj = r1.as_object().unwrap();
        let expected_keys = [
            "request_id",
            "request_created_at",
            "request_path",
            "request_body",
            "request_model",
            "request_user_id",
            "request_properties",
            "response_status",
            "response_body",
            "response_model",
            "response_created_at",
            "model",
            "model_override",
            "provider",
            "delay_ms",
            "time_to_first_token",
            "prompt_tokens",
            "completion_tokens",
            "total_tokens",
            "prompt_cache_read_tokens",
            "prompt_cache_write_tokens",
            "reasoning_tokens",
            "cost",
            "costUSD",
            "cost_nano_usd",
            "prompt_id",
            "cache_enabled",
            "cache_reference_id",
            "target_url",
            "scores",
            "feedback_rating",
            "session_id",
            "session_path",
            "session_name",
            "prompt_version",
            "prompt_inputs",
            "cached",
            "cache_bucket_idx",
            "attempts",
            "fallback_index",
            "parent_request_id",
            "cache_saved_nano_usd",
            "threat",
            "flagged",
            "usage_estimated",
            "cancelled",
            "failure",
            "stream",
            "method",
            "api_key_id",
            "request_body_truncated",
            "response_body_truncated",
            "body_cap_bytes",
        ];
        let mut got: Vec<&str> = obj.keys().map(String::as_str).collect();
        let mut want = expected_keys.to_vec();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want);

        assert_eq!(r1["request_id"], "r1");
        assert_eq!(r1["request_created_at"], "2026-01-01T00:00:00.123Z");
        assert_eq!(r1["response_created_at"], "2026-01-01T00:00:00.124Z");
        assert_eq!(r1["request_path"], "/v1/chat/completions");
        assert_eq!(
            r1["request_body"]["messages"][0]["content"],
            json!("Hello World")
        );
        assert_eq!(r1["response_body"], json!({"ok": true}));
        assert_eq!(r1["request_model"], "gpt-4o");
        assert_eq!(r1["request_user_id"], "alice");
        assert_eq!(
            r1["request_properties"],
            json!({"env": "prod", "team": "a"})
        );
        assert_eq!(r1["response_status"], 200);
        assert_eq!(r1["delay_ms"], 100);
        assert_eq!(r1["time_to_first_token"], 20);
        assert_eq!(r1["total_tokens"], 30);
        assert_eq!(r1["cost"], json!(0.001));
        assert_eq!(r1["costUSD"], json!(0.001));
        assert_eq!(r1["cost_nano_usd"], 1_000_000);
        assert_eq!(r1["scores"], json!({"accuracy": 0.9, "passed": true}));
        assert_eq!(r1["cached"], false);
        assert_eq!(r1["cache_enabled"], false);
        assert_eq!(r1["feedback_rating"], Value::Null);
        assert_eq!(r1["prompt_inputs"], Value::Null);
        assert_eq!(r1["attempts"], 1);
        assert_eq!(r1["cancelled"], false);
        assert_eq!(r1["failure"], Value::Null);
        assert_eq!(r1["method"], "POST");
        assert_eq!(r1["body_cap_bytes"], 1_048_576);

        let r2 = get_request(&pool, "o1", "r2").await.unwrap().unwrap();
        assert_eq!(r2["request_body"], "not json *star*");
        assert_eq!(r2["response_body"], Value::Null);
        assert_eq!(r2["cached"], true);
        assert_eq!(r2["cost"], json!(0.0025));

        let r3 = get_request(&pool, "o1", "r3").await.unwrap().unwrap();
        assert_eq!(r3["response_status"], Value::Null);
        assert_eq!(r3["response_created_at"], Value::Null);
        assert_eq!(r3["cost"], Value::Null);
        assert_eq!(r3["cost_nano_usd"], Value::Null);
        assert_eq!(r3["cancelled"], true);
        assert_eq!(r3["failure"], "cancelled");
        assert_eq!(r3["request_properties"], json!({}));
        assert_eq!(r3["request_body"], Value::Null);

        // Same mapping through `query_requests` and `SELECT *`.
        let q = parse_query(&json!({ "sort": { "created_at": "asc" } })).unwrap();
        let rows = query_requests(&pool, "o1", &q).await.unwrap();
        assert_eq!(rows[0], r1);
        let row = sqlx::query("SELECT * FROM requests WHERE request_id = 'r1'")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(row_to_json(&row).unwrap(), r1);
    }
}
