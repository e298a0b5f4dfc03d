//! Renders Helicone's filter tree ([`FilterNode`]) into a boolean SQL
//! expression over the records (`requests`) or over the hourly rollup, in
//! any [`Dialect`], and splits the time bounds off a filter so aggregates
//! can read whole hours from the rollup and only the partial hours at the
//! edges from the records.

use heliport_core::filter::{
    usd_to_nano, Condition, Field, FieldKind, FilterNode, FilterValue, NanoUsd, Op, SortDirection,
    SortField, SortSpec,
};

use super::{Bind, Sql};
use crate::error::StoreError;

/// The table a filter is rendered against.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// The records (`requests`), optionally under an alias (`"r"`); `org`
    /// scopes property lookups.
    Requests {
        /// Table alias, if the query names one.
        alias: Option<&'a str>,
        /// The organization the query is scoped to.
        org: &'a str,
    },
    /// `rollup_hourly`: only its dimensions can be filtered on.
    Rollup,
}

/// Fields the hourly rollup can filter on (besides whole-hour time bounds).
pub const ROLLUP_FIELDS: &str = "model, provider, status, cached (and request_created_at)";

impl Target<'_> {
    /// The SQL expression of a plain field, or None when this table cannot
    /// answer it.
    fn column(&self, field: &Field) -> Option<String> {
        match self {
            Target::Requests { alias, .. } => {
                let col = match field {
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
                    Field::SessionId => "session_id",
                    Field::Failure => "failure",
                    Field::Property(_) | Field::Score(_) => return None,
                };
                Some(match alias {
                    Some(a) => format!("{a}.{col}"),
                    None => col.to_string(),
                })
            }
            // The rollup keeps '' and 0 for "none"; NULLIF gives them back as
            // NULL so every operator means what it means on the records.
            Target::Rollup => Some(
                match field {
                    Field::Model => "NULLIF(model, '')",
                    Field::Provider => "provider",
                    Field::Status => "NULLIF(status, 0)",
                    Field::Cached => "cached",
                    _ => return None,
                }
                .to_string(),
            ),
        }
    }

    fn seq(&self) -> String {
        match self {
            Target::Requests { alias: Some(a), .. } => format!("{a}.seq"),
            _ => "seq".to_string(),
        }
    }
}

/// Renders `node` as a boolean SQL expression over `target`.
pub fn render(node: &FilterNode, target: Target<'_>, out: &mut Sql<'_>) -> Result<(), StoreError> {
    render_planned(node, target, &[], out)
}

/// [`render`], with the property values (`key`, `value`) that are common
/// enough in the queried range to be looked up row by row (see
/// [`property`]); every other property condition reads its set of matches.
pub fn render_planned(
    node: &FilterNode,
    target: Target<'_>,
    per_row: &[(String, String)],
    out: &mut Sql<'_>,
) -> Result<(), StoreError> {
    // Every match of a requests-only filter was created at or after its
    // top-level start, so its seq is at least the smallest seq of the
    // requests created since then: property sets are read from there on.
    let since = match target {
        Target::Requests { .. } if !node.mentions(&Field::ParentRequestId) => {
            Some(split_time(node).start).filter(|s| *s != i64::MIN)
        }
        _ => None,
    };
    let plan = Plan { since, per_row };
    render_node(node, target, &plan, out)
}

/// What every property condition of one filter shares.
struct Plan<'a> {
    /// The filter's top-level start (µs), for requests-only filters.
    since: Option<i64>,
    /// Values looked up row by row rather than read as a set.
    per_row: &'a [(String, String)],
}

fn render_node(
    node: &FilterNode,
    target: Target<'_>,
    plan: &Plan<'_>,
    out: &mut Sql<'_>,
) -> Result<(), StoreError> {
    match node {
        FilterNode::All => {
            out.push("1 = 1");
        }
        FilterNode::Leaf(conds) if conds.is_empty() => {
            out.push("1 = 1");
        }
        FilterNode::Leaf(conds) => {
            out.push("(");
            for (i, c) in conds.iter().enumerate() {
                if i > 0 {
                    out.push(" AND ");
                }
                condition(c, target, plan, out)?;
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
            render_node(l, target, plan, out)?;
            out.push(joiner);
            render_node(r, target, plan, out)?;
            out.push(")");
        }
    }
    Ok(())
}

fn invalid(c: &Condition) -> StoreError {
    StoreError::Invalid(format!(
        "operator `{}` with value {:?} is not valid for field `{}`",
        c.op.as_str(),
        c.value,
        c.field.name()
    ))
}

fn condition(
    c: &Condition,
    target: Target<'_>,
    plan: &Plan<'_>,
    out: &mut Sql<'_>,
) -> Result<(), StoreError> {
    let kind = c.field.kind();
    if !kind.ops().contains(&c.op) {
        return Err(invalid(c));
    }
    match (&c.field, &c.value, target) {
        (Field::Property(name), FilterValue::Text(v), Target::Requests { org, .. }) => {
            let per_row = matches!(c.op, Op::Equals | Op::NotEquals)
                && plan.per_row.iter().any(|(k, x)| k == name && x == v);
            let p = PropertyCondition {
                org,
                name,
                op: c.op,
                value: v,
                since: plan.since,
                per_row,
            };
            property(target, &p, out);
            Ok(())
        }
        (Field::Score(name), FilterValue::Number(v), Target::Requests { alias, .. }) => {
            let col = alias.map_or("scores".to_string(), |a| format!("{a}.scores"));
            let (negate, positive) = match c.op {
                Op::NotEquals => (true, Op::Equals),
                other => (false, other),
            };
            if negate {
                out.push("NOT ");
            }
            let d = out.dialect();
            d.score_compare(out, &col, name, cmp_sql(positive), number(*v));
            Ok(())
        }
        (field, value, _) => {
            let col = target.column(field).ok_or_else(|| {
                StoreError::Invalid(format!(
                    "aggregates cannot filter on `{}`; accepted: {ROLLUP_FIELDS}",
                    field.name()
                ))
            })?;
            match (field, kind, value) {
                (Field::Cost, _, FilterValue::Number(usd)) => cost(&col, c.op, *usd, out),
                (_, FieldKind::Text, FilterValue::Text(v)) => text_op(&col, c.op, v, out),
                (_, FieldKind::Number, FilterValue::Number(v)) => {
                    compare(&col, c.op, number(*v), out)
                }
                (_, FieldKind::Time, FilterValue::Time(t)) => {
                    compare(&col, c.op, Bind::Int(t.timestamp_micros()), out)
                }
                (_, FieldKind::Bool, FilterValue::Bool(b)) => {
                    compare(&col, c.op, Bind::Int(i64::from(*b)), out)
                }
                _ => return Err(invalid(c)),
            }
            Ok(())
        }
    }
}

/// Integral values bind as integers so comparisons against INTEGER columns
/// stay exact and indexable.
fn number(v: f64) -> Bind {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        Bind::Int(v as i64)
    } else {
        Bind::Real(v)
    }
}

fn cmp_sql(op: Op) -> &'static str {
    match op {
        Op::Gt => ">",
        Op::Gte => ">=",
        Op::Lt => "<",
        Op::Lte => "<=",
        _ => "=",
    }
}

/// `not-equals` is null-safe, so a missing (NULL) value counts as
/// different, as with `not-contains` and in Helicone, whose columns are
/// never NULL.
fn compare(expr: &str, op: Op, value: Bind, out: &mut Sql<'_>) {
    out.push(expr);
    if op == Op::NotEquals {
        let ne = out.dialect().null_safe_ne();
        out.push(ne);
    } else {
        out.push(" ").push(cmp_sql(op)).push(" ");
    }
    out.bind(value);
}

/// Cost filters are in USD but the column is integer nano-USD: the bound
/// converts exactly and, between two nano-USD, rounds to the integer
/// comparison that selects the same rows.
fn cost(col: &str, op: Op, usd: f64, out: &mut Sql<'_>) {
    match usd_to_nano(usd) {
        NanoUsd::Exact(n) => compare(col, op, Bind::Int(n), out),
        NanoUsd::Between(n) => match op {
            // n < bound < n + 1, so `> bound` ⇔ `> n`.
            Op::Gt | Op::Gte => compare(col, Op::Gt, Bind::Int(n), out),
            Op::Lt | Op::Lte => compare(col, Op::Lte, Bind::Int(n), out),
            Op::NotEquals => {
                out.push("1 = 1");
            }
            _ => {
                out.push("1 = 0");
            }
        },
        NanoUsd::OutOfRange { negative } => match (op, negative) {
            (Op::Gt | Op::Gte, true) | (Op::Lt | Op::Lte, false) => {
                out.push("(").push(col).push(" IS NOT NULL)");
            }
            (Op::NotEquals, _) => {
                out.push("1 = 1");
            }
            _ => {
                out.push("1 = 0");
            }
        },
    }
}

/// Text operators; patterns follow Postgres: `%`, `_`, and `\` escapes.
fn text_op(expr: &str, op: Op, value: &str, out: &mut Sql<'_>) {
    let d = out.dialect();
    match op {
        Op::Equals | Op::NotEquals => compare(expr, op, Bind::Text(value.into()), out),
        Op::Like => d.like(out, expr, value),
        Op::ILike => d.ilike(out, expr, value),
        Op::Contains => d.contains(out, expr, value),
        Op::NotContains => d.not_contains(out, expr, value),
        // Not text operators; `condition` rejects them before this.
        Op::Gt | Op::Gte | Op::Lt | Op::Lte => {
            out.push("1 = 0");
        }
    }
}

/// A property condition reads the property index (`org_id, key, value,
/// seq`) once, not a lookup per record: `seq IN (matching seqs)`. Negated
/// operators are `NOT IN` the positive one, so a request without the
/// property counts as not equal / not containing.
///
/// The matching seqs are a set the query checks rows against, never the
/// rows it starts from (`+seq` in SQLite): starting from them costs a table
/// lookup per match (seconds for a value most requests carry), checking
/// against them costs a walk of the time index at most.
///
/// With a start time the set holds only seqs from the first request created
/// since then (found on the time index): a day's matches, not all of
/// history's. Membership is unchanged for every row the time bound admits.
///
/// A value most of the range carries is the exception (`per_row`): a
/// newest-first page meets a match every few rows, so one lookup of the
/// (seq, key) primary key per row read costs less than gathering every
/// match first.
fn property(target: Target<'_>, p: &PropertyCondition<'_>, out: &mut Sql<'_>) {
    let (negate, positive) = match p.op {
        Op::NotEquals => (true, Op::Equals),
        Op::NotContains => (true, Op::Contains),
        other => (false, other),
    };
    if p.per_row {
        // Qualified: inside the subquery a bare `seq` is the property's.
        let outer = match target {
            Target::Requests { alias: None, .. } => "requests.seq".to_string(),
            _ => target.seq(),
        };
        out.push(if negate { "NOT EXISTS" } else { "EXISTS" })
            .push(" (SELECT 1 FROM request_properties p WHERE p.seq = ")
            .push(&outer)
            .push(" AND p.key = ")
            .bind(p.name)
            .push(" AND ");
        text_op("p.value", positive, p.value, out);
        out.push(")");
        return;
    }
    let seq = out.dialect().no_index(&target.seq());
    out.push(&seq)
        .push(if negate { " NOT IN " } else { " IN " })
        .push("(SELECT p.seq FROM request_properties p WHERE p.org_id = ")
        .bind(p.org)
        .push(" AND p.key = ")
        .bind(p.name)
        .push(" AND ");
    text_op("p.value", positive, p.value, out);
    if let Some(since) = p.since {
        out.push(" AND p.seq >= (SELECT min(q.seq) FROM requests q WHERE q.org_id = ")
            .bind(p.org)
            .push(" AND q.parent_request_id IS NULL AND q.created_at >= ")
            .bind(since)
            .push(")");
    }
    out.push(")");
}

/// One property condition of a filter, with the filter's start time.
struct PropertyCondition<'a> {
    org: &'a str,
    name: &'a str,
    op: Op,
    value: &'a str,
    since: Option<i64>,
    /// Looked up per row by primary key, not read as a set.
    per_row: bool,
}

/// `ORDER BY` terms for a request page: NULLs last in both directions, then
/// `seq` so pages are stable. Every sort column is in the time index
/// (`requests_org_created_sort`), so a range is sorted from the index alone.
pub fn order_by(sort: &SortSpec, out: &mut Sql<'_>) {
    let dir = match sort.direction {
        SortDirection::Asc => "ASC",
        SortDirection::Desc => "DESC",
    };
    let col = match sort.field {
        // NOT NULL, and the bare form walks the time index in order.
        SortField::CreatedAt => {
            out.push("created_at ").push(dir).push(", seq ").push(dir);
            return;
        }
        SortField::Cost => "cost_nano_usd",
        SortField::Latency => "latency_ms",
        SortField::TotalTokens => "total_tokens",
        SortField::PromptTokens => "prompt_tokens",
        SortField::CompletionTokens => "completion_tokens",
        SortField::TimeToFirstToken => "time_to_first_token_ms",
    };
    out.push(col)
        .push(" ")
        .push(dir)
        .push(" NULLS LAST, seq ")
        .push(dir);
}

/// A filter with its top-level time bounds taken out.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeSplit {
    /// `[start, end)` in µs the top-level bounds allow (extremes when open).
    pub start: i64,
    /// See `start`.
    pub end: i64,
    /// The rest of the filter.
    pub rest: FilterNode,
}

/// Takes the `request_created_at` bounds (`gt`, `gte`, `lt`, `lte`) that
/// every match must satisfy (conditions of the top-level AND chain) out of
/// `node`. Time conditions elsewhere (under an OR, or `equals`) stay in
/// `rest`.
pub fn split_time(node: &FilterNode) -> TimeSplit {
    let mut split = TimeSplit {
        start: i64::MIN,
        end: i64::MAX,
        rest: FilterNode::All,
    };
    split.rest = take_bounds(node, &mut split.start, &mut split.end);
    split
}

fn take_bounds(node: &FilterNode, start: &mut i64, end: &mut i64) -> FilterNode {
    match node {
        FilterNode::And(l, r) => FilterNode::And(
            Box::new(take_bounds(l, start, end)),
            Box::new(take_bounds(r, start, end)),
        ),
        FilterNode::Leaf(conds) => FilterNode::Leaf(
            conds
                .iter()
                .filter(|c| {
                    let (Field::RequestCreatedAt, FilterValue::Time(t)) = (&c.field, &c.value)
                    else {
                        return true;
                    };
                    let us = t.timestamp_micros();
                    match c.op {
                        Op::Gt => *start = (*start).max(us.saturating_add(1)),
                        Op::Gte => *start = (*start).max(us),
                        Op::Lt => *end = (*end).min(us),
                        Op::Lte => *end = (*end).min(us.saturating_add(1)),
                        _ => return true,
                    }
                    false
                })
                .cloned()
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Whether every condition of `node` can be answered by the hourly rollup.
pub fn rollup_answers(node: &FilterNode) -> bool {
    unanswerable(node).is_none()
}

/// The first field of `node` the hourly rollup cannot answer, if any.
pub fn unanswerable(node: &FilterNode) -> Option<&Field> {
    match node {
        FilterNode::All => None,
        FilterNode::Leaf(cs) => cs.iter().map(|c| &c.field).find(|f| {
            !matches!(
                f,
                Field::Model | Field::Provider | Field::Status | Field::Cached
            )
        }),
        FilterNode::And(a, b) | FilterNode::Or(a, b) => unanswerable(a).or_else(|| unanswerable(b)),
    }
}

/// Which part of a time range comes from a rollup of `unit`-wide buckets and
/// which partial buckets at the edges come from the records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Windows {
    /// Whole buckets `[lo, hi)` (bucket starts, µs) read from the rollup.
    pub rollup: Option<(i64, i64)>,
    /// Partial buckets `[start, end)` (µs) read from the records.
    pub edges: Vec<(i64, i64)>,
}

/// Splits `[start, end)` (µs, extremes when open) into whole `unit`
/// buckets and the partial ones at its edges.
pub fn windows(start: i64, end: i64, unit: i64) -> Windows {
    if start >= end {
        return Windows {
            rollup: None,
            edges: Vec::new(),
        };
    }
    let ceil = |t: i64| {
        if t == i64::MIN {
            i64::MIN
        } else {
            let f = crate::rollup::bucket_start(t, unit);
            if f == t {
                t
            } else {
                f.saturating_add(unit)
            }
        }
    };
    let floor = |t: i64| {
        if t == i64::MAX {
            i64::MAX
        } else {
            crate::rollup::bucket_start(t, unit)
        }
    };
    let (lo, hi) = (ceil(start), floor(end));
    if lo >= hi {
        // No whole bucket: inside one bucket, or across one boundary, which
        // splits the edge so each part lies in one bucket.
        let edges = if lo == hi && start < lo && lo < end {
            vec![(start, lo), (lo, end)]
        } else {
            vec![(start, end)]
        };
        return Windows {
            rollup: None,
            edges,
        };
    }
    let mut edges = Vec::new();
    if start < lo {
        edges.push((start, lo));
    }
    if hi < end {
        edges.push((hi, end));
    }
    Windows {
        rollup: Some((lo, hi)),
        edges,
    }
}

/// A range read through the rollup pyramid: whole days from the daily
/// rollups, the whole hours around them from the hourly ones, and the
/// partial hours at the ends from the records.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Nested {
    /// Whole days `[lo, hi)` (day starts, µs).
    pub days: Option<(i64, i64)>,
    /// Whole hours (hour starts, µs), at most two runs.
    pub hours: Vec<(i64, i64)>,
    /// Partial hours (µs), at most two.
    pub raw: Vec<(i64, i64)>,
}

/// Splits `[start, end)` (µs, extremes when open) into whole days, whole
/// hours and partial hours.
pub fn nested(start: i64, end: i64) -> Nested {
    let by_hour = windows(start, end, crate::rollup::HOUR_MICROS);
    let Some((lo, hi)) = by_hour.rollup else {
        return Nested {
            raw: by_hour.edges,
            ..Nested::default()
        };
    };
    // Day boundaries are hour boundaries, so the hours left over are whole.
    let by_day = windows(lo, hi, crate::rollup::DAY_MICROS);
    Nested {
        days: by_day.rollup,
        hours: by_day.edges,
        raw: by_hour.edges,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::{PostgresDialect, SqliteDialect};
    use heliport_core::filter::parse_filter;
    use serde_json::json;

    fn leaf(v: serde_json::Value) -> FilterNode {
        parse_filter(&json!({ "request_response_rmt": v })).unwrap()
    }

    fn both(node: &FilterNode, target: Target<'_>) -> (Sql<'static>, Sql<'static>) {
        let mut s = Sql::new(&SqliteDialect);
        render(node, target, &mut s).unwrap();
        let mut p = Sql::new(&PostgresDialect);
        render(node, target, &mut p).unwrap();
        (s, p)
    }

    #[test]
    fn one_filter_two_dialects() {
        let f = FilterNode::Or(
            Box::new(leaf(json!({
                "model": {"not-equals": "gpt-4o"},
                "properties": {"env": {"contains": "pro"}},
            }))),
            Box::new(leaf(json!({
                "scores": {"accuracy": {"gte": 0.5}},
                "request_body": {"ilike": "%hello%"},
            }))),
        );
        let target = Target::Requests {
            alias: None,
            org: "o1",
        };
        let (s, p) = both(&f, target);
        assert_eq!(
            s.text(),
            "((model IS NOT ? AND +seq IN (SELECT p.seq FROM request_properties p WHERE p.org_id = ? \
             AND p.key = ? AND instr(p.value, ?) > 0)) OR (request_body LIKE ? ESCAPE '\\' AND \
             EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid(scores) THEN scores ELSE '{}' \
             END) score_ WHERE score_.key = ? AND score_.type IN ('integer', 'real', 'true', \
             'false') AND score_.value >= ?)))"
        );
        assert!(
            p.text().starts_with(
                "((model IS DISTINCT FROM $1 AND seq IN (SELECT p.seq FROM request_properties p \
                 WHERE p.org_id = $2 AND p.key = $3 AND strpos(p.value, $4) > 0)) OR \
                 (request_body ILIKE $5 AND EXISTS (SELECT 1 FROM jsonb_each(scores) score_ \
                 WHERE score_.key = $6"
            ),
            "{}",
            p.text()
        );
        assert!(
            p.text()
                .ends_with("ELSE (score_.value #>> '{}')::numeric END) >= $7)))"),
            "{}",
            p.text()
        );
        // The same values, in the same order, whatever the dialect.
        assert_eq!(s.binds(), p.binds());
        assert_eq!(
            s.binds(),
            [
                Bind::Text("gpt-4o".into()),
                Bind::Text("o1".into()),
                Bind::Text("env".into()),
                Bind::Text("pro".into()),
                Bind::Text("%hello%".into()),
                Bind::Text("accuracy".into()),
                Bind::Real(0.5),
            ]
        );
    }

    #[test]
    fn a_start_time_bounds_property_sets_of_requests_only() {
        let f = leaf(json!({
            "request_created_at": {"gte": "2026-01-02T00:00:00Z"},
            "properties": {"env": {"equals": "prod"}},
        }));
        let target = Target::Requests {
            alias: None,
            org: "o1",
        };
        let (s, p) = both(&f, target);
        for text in [s.text(), p.text()] {
            assert!(
                text.contains("p.seq >= (SELECT min(q.seq) FROM requests q WHERE q.org_id = "),
                "{text}"
            );
        }
        assert!(s.binds().contains(&Bind::Int(1_767_312_000_000_000)));
        // Attempts are not in the time index the bound is read from.
        let attempts = leaf(json!({
            "request_created_at": {"gte": "2026-01-02T00:00:00Z"},
            "parent_request_id": {"equals": "x"},
            "properties": {"env": {"equals": "prod"}},
        }));
        let (s, _) = both(&attempts, target);
        assert!(!s.text().contains("min(q.seq)"), "{}", s.text());
        // A start under an OR bounds nothing.
        let or = FilterNode::Or(
            Box::new(leaf(
                json!({"request_created_at": {"gte": "2026-01-02T00:00:00Z"}}),
            )),
            Box::new(leaf(json!({"properties": {"env": {"equals": "prod"}}}))),
        );
        let (s, _) = both(&or, target);
        assert!(!s.text().contains("min(q.seq)"), "{}", s.text());
    }

    #[test]
    fn common_values_are_looked_up_per_row_by_primary_key() {
        let f = leaf(json!({
            "properties": {"env": {"not-equals": "prod"}, "team": {"equals": "a"}},
        }));
        let per_row = [("env".to_string(), "prod".to_string())];
        for (alias, outer) in [(None, "requests.seq"), (Some("r"), "r.seq")] {
            let target = Target::Requests { alias, org: "o1" };
            let mut s = Sql::new(&SqliteDialect);
            render_planned(&f, target, &per_row, &mut s).unwrap();
            let text = s.text();
            assert!(
                text.contains(&format!(
                    "NOT EXISTS (SELECT 1 FROM request_properties p WHERE p.seq = {outer} \
                     AND p.key = ? AND p.value = ?)"
                )),
                "{text}"
            );
            // The other value is still read as a set.
            assert!(text.contains("seq IN (SELECT p.seq"), "{text}");
        }
    }

    #[test]
    fn values_are_never_spliced_into_the_text() {
        let hostile = "x' OR 1=1; DROP TABLE requests; --";
        let f = leaf(json!({
            "model": {"equals": hostile},
            "properties": {hostile: {"like": hostile}},
            "scores": {hostile: {"equals": 1}},
        }));
        for d in [&SqliteDialect as &dyn crate::sql::Dialect, &PostgresDialect] {
            let mut s = Sql::new(d);
            render(
                &f,
                Target::Requests {
                    alias: Some("r"),
                    org: "o",
                },
                &mut s,
            )
            .unwrap();
            assert!(!s.text().contains("DROP"), "{}", s.text());
            assert!(
                s.binds()
                    .iter()
                    .filter(|b| matches!(b, Bind::Text(t) if t.contains("DROP")))
                    .count()
                    >= 3
            );
        }
    }

    #[test]
    fn rollup_targets_answer_dimensions_only() {
        let f = leaf(
            json!({"model": {"equals": "m"}, "status": {"gte": 400}, "cached": {"equals": true}}),
        );
        let (s, p) = both(&f, Target::Rollup);
        assert_eq!(
            s.text(),
            "(cached = ? AND NULLIF(model, '') = ? AND NULLIF(status, 0) >= ?)"
        );
        assert_eq!(
            p.text(),
            "(cached = $1 AND NULLIF(model, '') = $2 AND NULLIF(status, 0) >= $3)"
        );
        let mut s = Sql::new(&SqliteDialect);
        let e = render(
            &leaf(json!({"user_id": {"equals": "u"}})),
            Target::Rollup,
            &mut s,
        )
        .unwrap_err();
        assert!(e.to_string().contains("`user_id`"), "{e}");
        assert!(e.is_client_error());
        assert!(rollup_answers(&f));
        assert!(!rollup_answers(&leaf(json!({"latency": {"gt": 1}}))));
    }

    #[test]
    fn time_bounds_split_off_the_and_chain() {
        let t = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .timestamp_micros()
        };
        let f = FilterNode::And(
            Box::new(leaf(json!({
                "request_created_at": {"gte": "2026-01-01T00:00:00Z", "lt": "2026-01-02T00:00:00Z"},
                "model": {"equals": "m"},
            }))),
            Box::new(leaf(
                json!({"request_created_at": {"gt": "2026-01-01T05:00:00Z"}}),
            )),
        );
        let split = split_time(&f);
        assert_eq!(split.start, t("2026-01-01T05:00:00Z") + 1);
        assert_eq!(split.end, t("2026-01-02T00:00:00Z"));
        assert!(rollup_answers(&split.rest));
        // Under an OR a bound stays a condition.
        let or = FilterNode::Or(
            Box::new(leaf(
                json!({"request_created_at": {"gt": "2026-01-01T00:00:00Z"}}),
            )),
            Box::new(FilterNode::All),
        );
        let split = split_time(&or);
        assert_eq!((split.start, split.end), (i64::MIN, i64::MAX));
        assert_eq!(split.rest, or);
    }

    #[test]
    fn windows_read_whole_buckets_from_rollups() {
        let h = crate::rollup::HOUR_MICROS;
        assert_eq!(
            windows(10, 5 * h + 7, h),
            Windows {
                rollup: Some((h, 5 * h)),
                edges: vec![(10, h), (5 * h, 5 * h + 7)]
            }
        );
        assert_eq!(
            windows(h, 3 * h, h),
            Windows {
                rollup: Some((h, 3 * h)),
                edges: vec![]
            }
        );
        assert_eq!(
            windows(10, 20, h),
            Windows {
                rollup: None,
                edges: vec![(10, 20)]
            }
        );
        assert_eq!(
            windows(i64::MIN, i64::MAX, h),
            Windows {
                rollup: Some((i64::MIN, i64::MAX)),
                edges: vec![]
            }
        );
        assert_eq!(
            windows(i64::MIN, h + 5, h),
            Windows {
                rollup: Some((i64::MIN, h)),
                edges: vec![(h, h + 5)]
            }
        );
        assert_eq!(windows(5, 5, h).edges, Vec::<(i64, i64)>::new());
        // Across one boundary without a whole bucket: one edge per bucket.
        assert_eq!(
            windows(h - 5, h + 5, h),
            Windows {
                rollup: None,
                edges: vec![(h - 5, h), (h, h + 5)]
            }
        );
    }

    #[test]
    fn nested_windows_read_days_then_hours_then_records() {
        let h = crate::rollup::HOUR_MICROS;
        let d = crate::rollup::DAY_MICROS;
        // From 01:00:00.000005 on day 0 to 03:30 on day 3.
        let n = nested(h + 5, 3 * d + 3 * h + h / 2);
        assert_eq!(n.days, Some((d, 3 * d)));
        assert_eq!(n.hours, vec![(2 * h, d), (3 * d, 3 * d + 3 * h)]);
        assert_eq!(
            n.raw,
            vec![(h + 5, 2 * h), (3 * d + 3 * h, 3 * d + 3 * h + h / 2)]
        );
        let all = nested(i64::MIN, i64::MAX);
        assert_eq!(all.days, Some((i64::MIN, i64::MAX)));
        assert!(all.hours.is_empty() && all.raw.is_empty());
        let short = nested(10, 20);
        assert_eq!(
            (short.days, short.hours.len(), short.raw),
            (None, 0, vec![(10, 20)])
        );
        let hours_only = nested(h, 5 * h);
        assert_eq!(
            (hours_only.days, hours_only.hours),
            (None, vec![(h, 5 * h)])
        );
    }
}
