//! Helicone's request query language: the filter tree, sorting and paging of
//! `POST /v1/request/query`, parsed and validated without any SQL.
//!
//! The stores render a [`FilterNode`] into their own dialect; everything that
//! can be decided without a database (field whitelist, which operators fit
//! which field, value types, USD → nano-USD conversion) is decided here so
//! every renderer agrees.

use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::{Map, Value};

/// Rows returned when the body names no limit.
pub const DEFAULT_LIMIT: u64 = 10;
/// The largest page a caller may ask for.
pub const MAX_LIMIT: u64 = 1000;
/// Deepest and/or nesting accepted; keeps rendering (recursive) and the
/// database's expression-depth limits safe from hostile bodies.
pub const MAX_DEPTH: usize = 64;
/// Most conditions one filter may hold; each becomes bound parameters.
pub const MAX_CONDITIONS: usize = 500;
/// Longest text value in a condition, in bytes: SQLite refuses LIKE patterns
/// above 50,000 bytes, and no useful filter comes close.
pub const MAX_TEXT_BYTES: usize = 10_000;

/// The only Helicone table heliport answers filters for.
pub const TABLE: &str = "request_response_rmt";

/// A parsed filter tree.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterNode {
    /// Matches every row.
    All,
    /// Conditions that must all hold (an empty list matches every row).
    Leaf(Vec<Condition>),
    /// Both sides must match.
    And(Box<FilterNode>, Box<FilterNode>),
    /// Either side must match.
    Or(Box<FilterNode>, Box<FilterNode>),
}

impl FilterNode {
    /// Whether any condition of the tree compares `field`.
    pub fn mentions(&self, field: &Field) -> bool {
        match self {
            FilterNode::All => false,
            FilterNode::Leaf(cs) => cs.iter().any(|c| &c.field == field),
            FilterNode::And(a, b) | FilterNode::Or(a, b) => a.mentions(field) || b.mentions(field),
        }
    }
}

/// One `field op value` comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// What is compared.
    pub field: Field,
    /// How it is compared; always valid for `field.kind()`.
    pub op: Op,
    /// What it is compared against; its variant always matches `field.kind()`.
    pub value: FilterValue,
}

/// A filterable field of a recorded request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Field {
    RequestId,
    RequestCreatedAt,
    Model,
    Provider,
    /// The HTTP status of the response.
    Status,
    UserId,
    /// Total latency in milliseconds.
    Latency,
    /// Milliseconds until the first streamed token.
    TimeToFirstToken,
    /// Cost in USD (stored as nano-USD; see [`usd_to_nano`]).
    Cost,
    PromptTokens,
    CompletionTokens,
    TotalTokens,
    TargetUrl,
    /// Whether the response was served from heliport's cache.
    Cached,
    PromptId,
    RequestBody,
    ResponseBody,
    /// The request an upstream attempt was made for (retries, fallbacks).
    ParentRequestId,
    /// `Helicone-Session-Id` (heliport's own field, for the dashboard).
    SessionId,
    /// Why heliport answered without a status (`rate_limited`, `upstream_timeout`,
    /// `cancelled`, ...); heliport's own field.
    Failure,
    /// A custom property (`Helicone-Property-*`); the name is lowercase.
    Property(String),
    /// A named score, compared as a number.
    Score(String),
}

/// The value type of a field, which decides the operators it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldKind {
    Text,
    Number,
    Time,
    Bool,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Equals,
    NotEquals,
    /// SQL LIKE pattern (`%`, `_`, `\` escapes), case-sensitive.
    Like,
    /// SQL LIKE pattern, case-insensitive.
    ILike,
    /// Case-sensitive substring.
    Contains,
    /// Negation of [`Op::Contains`]; a missing value counts as not containing.
    NotContains,
    Gt,
    Gte,
    Lt,
    Lte,
}

/// A comparison's right-hand side, already converted to the field's type.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterValue {
    Text(String),
    /// Always finite. For [`Field::Cost`] this is USD.
    Number(f64),
    Time(DateTime<Utc>),
    Bool(bool),
}

/// A sortable column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortField {
    CreatedAt,
    Cost,
    Latency,
    TotalTokens,
    PromptTokens,
    CompletionTokens,
    TimeToFirstToken,
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortDirection {
    Asc,
    Desc,
}

/// How results are ordered; defaults to newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SortSpec {
    /// The column sorted on; rows without a value sort last.
    pub field: SortField,
    /// Ascending or descending.
    pub direction: SortDirection,
}

impl Default for SortSpec {
    fn default() -> Self {
        SortSpec {
            field: SortField::CreatedAt,
            direction: SortDirection::Desc,
        }
    }
}

/// A validated `POST /v1/request/query` body.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestQuery {
    /// Which rows match.
    pub filter: FilterNode,
    /// Rows skipped before the page; at most `i64::MAX`.
    pub offset: u64,
    /// Page size, at most [`MAX_LIMIT`].
    pub limit: u64,
    /// Order of the rows.
    pub sort: SortSpec,
    /// Streamed answers as their raw events, not consolidated into one
    /// JSON object (`"raw_bodies": true`).
    pub raw_bodies: bool,
}

impl Default for RequestQuery {
    fn default() -> Self {
        RequestQuery {
            filter: FilterNode::All,
            offset: 0,
            limit: DEFAULT_LIMIT,
            sort: SortSpec::default(),
            raw_bodies: false,
        }
    }
}

/// Why a query body was rejected; the message is meant for the API caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("unknown filter field `{field}`; accepted: {accepted}")]
    UnknownField { field: String, accepted: String },
    #[error("unknown filter table `{table}`; accepted: {TABLE}")]
    UnknownTable { table: String },
    #[error("operator `{op}` is not valid for {kind} field `{field}`; accepted: {accepted}")]
    UnknownOp {
        field: String,
        op: String,
        kind: FieldKind,
        accepted: String,
    },
    #[error("field `{field}` operator `{op}` expects {expected}, got {got}")]
    BadValue {
        field: String,
        op: String,
        expected: &'static str,
        got: String,
    },
    #[error("invalid filter: {0}")]
    BadShape(String),
    #[error("filter nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("filter has more than {MAX_CONDITIONS} conditions")]
    TooManyConditions,
    #[error("`limit` must be an integer between 0 and {MAX_LIMIT}, got {0}")]
    BadLimit(String),
    #[error("`offset` must be a non-negative integer, got {0}")]
    BadOffset(String),
    #[error("cannot sort by `{0}`; accepted: {accepted}", accepted = SortField::accepted())]
    BadSortField(String),
    #[error("sort direction for `{field}` must be \"asc\" or \"desc\", got {got}")]
    BadSortDirection { field: String, got: String },
    #[error("`sort` must be an object with exactly one field, e.g. {{\"created_at\": \"desc\"}}; got {0}")]
    BadSort(String),
    #[error("query body must be a JSON object, got {0}")]
    BadBody(String),
    /// A parameter of one of the analytics queries (users, sessions,
    /// properties, prompts, metrics) is wrong; the message names it.
    #[error("{0}")]
    BadParam(String),
}

impl fmt::Display for FieldKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FieldKind::Text => "text",
            FieldKind::Number => "number",
            FieldKind::Time => "time",
            FieldKind::Bool => "boolean",
        })
    }
}

impl FieldKind {
    /// Operators accepted by fields of this kind.
    pub fn ops(self) -> &'static [Op] {
        match self {
            FieldKind::Text => &[
                Op::Equals,
                Op::NotEquals,
                Op::Like,
                Op::ILike,
                Op::Contains,
                Op::NotContains,
            ],
            FieldKind::Number => &[Op::Equals, Op::NotEquals, Op::Gt, Op::Gte, Op::Lt, Op::Lte],
            FieldKind::Time => &[Op::Gt, Op::Gte, Op::Lt, Op::Lte, Op::Equals],
            FieldKind::Bool => &[Op::Equals],
        }
    }

    fn accepted_ops(self) -> String {
        join(self.ops().iter().map(|o| o.as_str()))
    }
}

/// Plain fields by their Helicone name; `properties` and `scores` are maps.
const PLAIN_FIELDS: &[(&str, Field)] = &[
    ("request_id", Field::RequestId),
    ("request_created_at", Field::RequestCreatedAt),
    ("model", Field::Model),
    ("provider", Field::Provider),
    ("status", Field::Status),
    ("user_id", Field::UserId),
    ("latency", Field::Latency),
    ("time_to_first_token", Field::TimeToFirstToken),
    ("cost", Field::Cost),
    ("prompt_tokens", Field::PromptTokens),
    ("completion_tokens", Field::CompletionTokens),
    ("total_tokens", Field::TotalTokens),
    ("target_url", Field::TargetUrl),
    ("cached", Field::Cached),
    ("prompt_id", Field::PromptId),
    ("request_body", Field::RequestBody),
    ("response_body", Field::ResponseBody),
    ("parent_request_id", Field::ParentRequestId),
    ("session_id", Field::SessionId),
    ("failure", Field::Failure),
];

impl Field {
    /// The field's Helicone name; maps render as `properties.<name>`.
    pub fn name(&self) -> String {
        match self {
            Field::Property(n) => format!("properties.{n}"),
            Field::Score(n) => format!("scores.{n}"),
            other => PLAIN_FIELDS
                .iter()
                .find(|(_, f)| f == other)
                .map(|(n, _)| (*n).to_string())
                .unwrap_or_default(),
        }
    }

    /// The field's value type.
    pub fn kind(&self) -> FieldKind {
        match self {
            Field::RequestId
            | Field::Model
            | Field::Provider
            | Field::UserId
            | Field::TargetUrl
            | Field::PromptId
            | Field::RequestBody
            | Field::ResponseBody
            | Field::ParentRequestId
            | Field::SessionId
            | Field::Failure
            | Field::Property(_) => FieldKind::Text,
            Field::Status
            | Field::Latency
            | Field::TimeToFirstToken
            | Field::Cost
            | Field::PromptTokens
            | Field::CompletionTokens
            | Field::TotalTokens
            | Field::Score(_) => FieldKind::Number,
            Field::RequestCreatedAt => FieldKind::Time,
            Field::Cached => FieldKind::Bool,
        }
    }

    fn accepted() -> String {
        join(
            PLAIN_FIELDS
                .iter()
                .map(|(n, _)| *n)
                .chain(["properties", "scores"]),
        )
    }
}

impl Op {
    /// The operator's Helicone name.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Equals => "equals",
            Op::NotEquals => "not-equals",
            Op::Like => "like",
            Op::ILike => "ilike",
            Op::Contains => "contains",
            Op::NotContains => "not-contains",
            Op::Gt => "gt",
            Op::Gte => "gte",
            Op::Lt => "lt",
            Op::Lte => "lte",
        }
    }

    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "equals" => Op::Equals,
            "not-equals" => Op::NotEquals,
            "like" => Op::Like,
            "ilike" => Op::ILike,
            "contains" => Op::Contains,
            "not-contains" => Op::NotContains,
            "gt" => Op::Gt,
            "gte" => Op::Gte,
            "lt" => Op::Lt,
            "lte" => Op::Lte,
            _ => return None,
        })
    }
}

impl SortField {
    /// The field's name in the `sort` object.
    pub fn as_str(self) -> &'static str {
        match self {
            SortField::CreatedAt => "created_at",
            SortField::Cost => "cost",
            SortField::Latency => "latency",
            SortField::TotalTokens => "total_tokens",
            SortField::PromptTokens => "prompt_tokens",
            SortField::CompletionTokens => "completion_tokens",
            SortField::TimeToFirstToken => "time_to_first_token",
        }
    }

    const ALL: [SortField; 7] = [
        SortField::CreatedAt,
        SortField::Cost,
        SortField::Latency,
        SortField::TotalTokens,
        SortField::PromptTokens,
        SortField::CompletionTokens,
        SortField::TimeToFirstToken,
    ];

    fn parse(s: &str) -> Option<SortField> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }

    fn accepted() -> String {
        join(Self::ALL.iter().map(|f| f.as_str()))
    }
}

/// A USD amount expressed in whole nano-USD, for comparing against the
/// integer `cost_nano_usd` column without floating-point error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NanoUsd {
    /// The amount is exactly this many nano-USD.
    Exact(i64),
    /// The amount lies strictly between `n` and `n + 1` nano-USD.
    Between(i64),
    /// The amount does not fit in an `i64` of nano-USD (its sign is kept).
    OutOfRange { negative: bool },
}

/// Converts a USD bound to nano-USD exactly.
///
/// `0.001 * 1e9` in floating point is not guaranteed to be `1_000_000`, so the
/// conversion goes through the number's shortest decimal form (what the
/// caller wrote in JSON) and shifts the decimal point instead of multiplying.
pub fn usd_to_nano(usd: f64) -> NanoUsd {
    let negative = usd.is_sign_negative() && usd != 0.0;
    if !usd.is_finite() {
        return NanoUsd::OutOfRange { negative };
    }
    // Rust's `Display` for f64 is the shortest round-trip form and never
    // uses exponent notation.
    let text = format!("{}", usd.abs());
    let (int_part, frac_part) = text.split_once('.').unwrap_or((text.as_str(), ""));
    let (frac_nano, frac_rest) = frac_part.split_at(frac_part.len().min(9));
    let mut magnitude: i128 = 0;
    for d in int_part.bytes().chain(frac_nano.bytes()) {
        magnitude = magnitude * 10 + i128::from(d.wrapping_sub(b'0'));
        if magnitude > i128::from(i64::MAX) + 1 {
            return NanoUsd::OutOfRange { negative };
        }
    }
    for _ in frac_nano.len()..9 {
        magnitude *= 10;
        if magnitude > i128::from(i64::MAX) + 1 {
            return NanoUsd::OutOfRange { negative };
        }
    }
    let fractional = frac_rest.bytes().any(|d| d != b'0');
    let floor = match (negative, fractional) {
        (false, _) => magnitude,
        (true, false) => -magnitude,
        (true, true) => -magnitude - 1,
    };
    match i64::try_from(floor) {
        Ok(n) if fractional => NanoUsd::Between(n),
        Ok(n) => NanoUsd::Exact(n),
        Err(_) => NanoUsd::OutOfRange { negative },
    }
}

/// Parses a Helicone filter tree: `"all"`, `{}`, a leaf
/// `{"request_response_rmt": {...}}` or a branch `{"left", "operator", "right"}`.
pub fn parse_filter(v: &Value) -> Result<FilterNode, FilterError> {
    let mut conditions = 0usize;
    parse_node(v, 0, &mut conditions)
}

/// Parses a `POST /v1/request/query` body, applying the defaults (offset 0,
/// limit 10, newest first, no filter). Unknown top-level keys are ignored
/// because Helicone clients send extras (`isCached`, `includeInputs`, ...).
pub fn parse_query(body: &Value) -> Result<RequestQuery, FilterError> {
    let obj = body
        .as_object()
        .ok_or_else(|| FilterError::BadBody(describe(body)))?;
    let mut q = RequestQuery::default();
    match obj.get("filter") {
        None | Some(Value::Null) => {}
        Some(f) => q.filter = parse_filter(f)?,
    }
    match obj.get("offset") {
        None | Some(Value::Null) => {}
        Some(v) => {
            q.offset = v
                .as_u64()
                .filter(|o| i64::try_from(*o).is_ok())
                .ok_or_else(|| FilterError::BadOffset(describe(v)))?;
        }
    }
    match obj.get("limit") {
        None | Some(Value::Null) => {}
        Some(v) => {
            q.limit = v
                .as_u64()
                .filter(|l| *l <= MAX_LIMIT)
                .ok_or_else(|| FilterError::BadLimit(describe(v)))?;
        }
    }
    match obj.get("sort") {
        None | Some(Value::Null) => {}
        Some(v) => q.sort = parse_sort(v)?,
    }
    match obj.get("raw_bodies") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => q.raw_bodies = *b,
        Some(v) => {
            return Err(FilterError::BadParam(format!(
                "`raw_bodies` must be true or false, got {}",
                describe(v)
            )))
        }
    }
    Ok(q)
}

fn parse_sort(v: &Value) -> Result<SortSpec, FilterError> {
    let obj = v
        .as_object()
        .ok_or_else(|| FilterError::BadSort(describe(v)))?;
    let mut entries = obj.iter();
    let Some((name, dir)) = entries.next() else {
        // `{}` is what some clients send for "no preference".
        return Ok(SortSpec::default());
    };
    if entries.next().is_some() {
        return Err(FilterError::BadSort(describe(v)));
    }
    let field = SortField::parse(name).ok_or_else(|| FilterError::BadSortField(name.clone()))?;
    let direction = match dir.as_str().map(str::to_ascii_lowercase).as_deref() {
        Some("asc") => SortDirection::Asc,
        Some("desc") => SortDirection::Desc,
        _ => {
            return Err(FilterError::BadSortDirection {
                field: name.clone(),
                got: describe(dir),
            })
        }
    };
    Ok(SortSpec { field, direction })
}

fn parse_node(v: &Value, depth: usize, conditions: &mut usize) -> Result<FilterNode, FilterError> {
    if depth > MAX_DEPTH {
        return Err(FilterError::TooDeep);
    }
    match v {
        Value::String(s) if s == "all" => Ok(FilterNode::All),
        Value::Object(obj) if obj.is_empty() => Ok(FilterNode::All),
        Value::Object(obj) if obj.contains_key("left") || obj.contains_key("operator") => {
            parse_branch(obj, depth, conditions)
        }
        Value::Object(obj) => parse_leaf(obj, conditions),
        other => Err(FilterError::BadShape(format!(
            "expected \"all\", a leaf {{\"{TABLE}\": {{...}}}} or a branch {{\"left\", \"operator\", \"right\"}}, got {}",
            describe(other)
        ))),
    }
}

fn parse_branch(
    obj: &Map<String, Value>,
    depth: usize,
    conditions: &mut usize,
) -> Result<FilterNode, FilterError> {
    if let Some(k) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "left" | "operator" | "right"))
    {
        return Err(FilterError::BadShape(format!(
            "unexpected key `{k}` in a branch; accepted: left, operator, right"
        )));
    }
    let (Some(left), Some(op), Some(right)) =
        (obj.get("left"), obj.get("operator"), obj.get("right"))
    else {
        return Err(FilterError::BadShape(
            "a branch needs all of `left`, `operator` and `right`".into(),
        ));
    };
    let is_and = match op.as_str().map(str::to_ascii_lowercase).as_deref() {
        Some("and") => true,
        Some("or") => false,
        _ => {
            return Err(FilterError::BadShape(format!(
                "branch operator must be \"and\" or \"or\", got {}",
                describe(op)
            )))
        }
    };
    let l = Box::new(parse_node(left, depth + 1, conditions)?);
    let r = Box::new(parse_node(right, depth + 1, conditions)?);
    Ok(if is_and {
        FilterNode::And(l, r)
    } else {
        FilterNode::Or(l, r)
    })
}

fn parse_leaf(obj: &Map<String, Value>, conditions: &mut usize) -> Result<FilterNode, FilterError> {
    let mut entries = obj.iter();
    let (table, fields) = match (entries.next(), entries.next()) {
        (Some(entry), None) => entry,
        _ => {
            return Err(FilterError::BadShape(format!(
                "a leaf holds exactly one table key (`{TABLE}`), got keys: {}",
                join(obj.keys().map(String::as_str))
            )))
        }
    };
    if table != TABLE {
        return Err(FilterError::UnknownTable {
            table: table.clone(),
        });
    }
    let fields = fields.as_object().ok_or_else(|| {
        FilterError::BadShape(format!(
            "`{TABLE}` must map field names to {{operator: value}}, got {}",
            describe(fields)
        ))
    })?;
    let mut out = Vec::new();
    for (name, ops) in fields {
        match name.as_str() {
            "properties" | "scores" => {
                let named = ops.as_object().ok_or_else(|| {
                    FilterError::BadShape(format!(
                        "`{name}` must map names to {{operator: value}}, got {}",
                        describe(ops)
                    ))
                })?;
                for (key, key_ops) in named {
                    if key.is_empty() {
                        return Err(FilterError::BadShape(format!(
                            "`{name}` needs a non-empty name"
                        )));
                    }
                    let field = if name == "properties" {
                        // The store keeps property names lowercase (headers are
                        // case-insensitive).
                        Field::Property(key.to_lowercase())
                    } else {
                        Field::Score(key.clone())
                    };
                    parse_ops(field, key_ops, &mut out)?;
                }
            }
            _ => {
                let field = PLAIN_FIELDS
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, f)| f.clone())
                    .ok_or_else(|| FilterError::UnknownField {
                        field: name.clone(),
                        accepted: Field::accepted(),
                    })?;
                parse_ops(field, ops, &mut out)?;
            }
        }
    }
    *conditions += out.len();
    if *conditions > MAX_CONDITIONS {
        return Err(FilterError::TooManyConditions);
    }
    Ok(FilterNode::Leaf(out))
}

fn parse_ops(field: Field, ops: &Value, out: &mut Vec<Condition>) -> Result<(), FilterError> {
    let kind = field.kind();
    let obj = match ops.as_object() {
        Some(o) if !o.is_empty() => o,
        _ => {
            return Err(FilterError::BadShape(format!(
                "field `{}` must be an object {{operator: value}} with one of: {}; got {}",
                field.name(),
                kind.accepted_ops(),
                describe(ops)
            )))
        }
    };
    for (op_name, value) in obj {
        let op = Op::parse(op_name)
            .filter(|op| kind.ops().contains(op))
            .ok_or_else(|| FilterError::UnknownOp {
                field: field.name(),
                op: op_name.clone(),
                kind,
                accepted: kind.accepted_ops(),
            })?;
        let value = parse_value(&field, op, value)?;
        out.push(Condition {
            field: field.clone(),
            op,
            value,
        });
    }
    Ok(())
}

fn parse_value(field: &Field, op: Op, v: &Value) -> Result<FilterValue, FilterError> {
    let bad = |expected: &'static str| FilterError::BadValue {
        field: field.name(),
        op: op.as_str().to_string(),
        expected,
        got: describe(v),
    };
    match field.kind() {
        FieldKind::Text => match v {
            Value::String(s) if s.len() > MAX_TEXT_BYTES => {
                Err(bad("a string of at most 10000 bytes"))
            }
            Value::String(s) => Ok(FilterValue::Text(s.clone())),
            _ => Err(bad("a string")),
        },
        FieldKind::Number => {
            let n = match v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            n.filter(|n| n.is_finite())
                .map(FilterValue::Number)
                .ok_or_else(|| bad("a number (or numeric string)"))
        }
        FieldKind::Time => parse_time(v)
            .map(FilterValue::Time)
            .ok_or_else(|| bad("an RFC 3339 time string or epoch milliseconds")),
        FieldKind::Bool => match v {
            Value::Bool(b) => Ok(FilterValue::Bool(*b)),
            _ => Err(bad("true or false")),
        },
    }
}

/// Accepts RFC 3339, `YYYY-MM-DD HH:MM:SS[.fff]` / `YYYY-MM-DDTHH:MM:SS[.fff]`
/// (taken as UTC, as Helicone's UI sends them), a bare date (midnight UTC),
/// and epoch milliseconds as a JSON number.
pub(crate) fn parse_time(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::Number(n) => {
            let ms = n.as_f64()?;
            let micros = (ms * 1000.0).round();
            // i64 bounds as f64 are inexact; chrono rejects out-of-range below.
            if !micros.is_finite() || micros.abs() >= 9.2e18 {
                return None;
            }
            DateTime::from_timestamp_micros(micros as i64)
        }
        Value::String(s) => {
            let s = s.trim();
            if let Ok(t) = DateTime::parse_from_rfc3339(s) {
                return Some(t.with_timezone(&Utc));
            }
            for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
                if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
                    return Some(t.and_utc());
                }
            }
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
        }
        _ => None,
    }
}

pub(crate) fn join<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    items.into_iter().collect::<Vec<_>>().join(", ")
}

/// A short rendering of a JSON value for error messages.
pub(crate) fn describe(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 80 {
        let cut: String = s.chars().take(77).collect();
        format!("{cut}...")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn leaf(fields: Value) -> Value {
        json!({ "request_response_rmt": fields })
    }

    fn one(fields: Value) -> Condition {
        match parse_filter(&leaf(fields)).unwrap() {
            FilterNode::Leaf(mut c) => {
                assert_eq!(c.len(), 1);
                c.remove(0)
            }
            other => panic!("not a leaf: {other:?}"),
        }
    }

    fn err(v: Value) -> String {
        parse_filter(&v).unwrap_err().to_string()
    }

    #[test]
    fn filter_all_forms() {
        assert_eq!(parse_filter(&json!("all")).unwrap(), FilterNode::All);
        assert_eq!(parse_filter(&json!({})).unwrap(), FilterNode::All);
        assert_eq!(
            parse_filter(&leaf(json!({}))).unwrap(),
            FilterNode::Leaf(vec![])
        );
    }

    #[test]
    fn filter_text_ops() {
        let fields = [
            ("request_id", Field::RequestId),
            ("model", Field::Model),
            ("provider", Field::Provider),
            ("user_id", Field::UserId),
            ("target_url", Field::TargetUrl),
            ("prompt_id", Field::PromptId),
            ("request_body", Field::RequestBody),
            ("response_body", Field::ResponseBody),
        ];
        let ops = [
            ("equals", Op::Equals),
            ("not-equals", Op::NotEquals),
            ("like", Op::Like),
            ("ilike", Op::ILike),
            ("contains", Op::Contains),
            ("not-contains", Op::NotContains),
        ];
        for (fname, field) in &fields {
            for (oname, op) in &ops {
                let c = one(json!({ *fname: { *oname: "x%" } }));
                assert_eq!(c.field, *field);
                assert_eq!(c.op, *op);
                assert_eq!(c.value, FilterValue::Text("x%".into()));
            }
        }
    }

    #[test]
    fn filter_number_ops() {
        let fields = [
            ("status", Field::Status),
            ("latency", Field::Latency),
            ("time_to_first_token", Field::TimeToFirstToken),
            ("cost", Field::Cost),
            ("prompt_tokens", Field::PromptTokens),
            ("completion_tokens", Field::CompletionTokens),
            ("total_tokens", Field::TotalTokens),
        ];
        let ops = [
            ("equals", Op::Equals),
            ("not-equals", Op::NotEquals),
            ("gt", Op::Gt),
            ("gte", Op::Gte),
            ("lt", Op::Lt),
            ("lte", Op::Lte),
        ];
        for (fname, field) in &fields {
            for (oname, op) in &ops {
                let c = one(json!({ *fname: { *oname: 12.5 } }));
                assert_eq!((c.field.clone(), c.op), (field.clone(), *op));
                assert_eq!(c.value, FilterValue::Number(12.5));
                let c = one(json!({ *fname: { *oname: " 200 " } }));
                assert_eq!(c.value, FilterValue::Number(200.0));
            }
        }
    }

    #[test]
    fn filter_time_values() {
        let want = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&Utc);
        for v in [
            json!("2026-01-02T03:04:05Z"),
            json!("2026-01-02T05:04:05+02:00"),
            json!("2026-01-02 03:04:05"),
            json!("2026-01-02T03:04:05"),
            json!(want.timestamp_millis()),
        ] {
            for (oname, op) in [
                ("gt", Op::Gt),
                ("gte", Op::Gte),
                ("lt", Op::Lt),
                ("lte", Op::Lte),
                ("equals", Op::Equals),
            ] {
                let c = one(json!({ "request_created_at": { oname: v.clone() } }));
                assert_eq!(c.field, Field::RequestCreatedAt);
                assert_eq!(c.op, op);
                assert_eq!(c.value, FilterValue::Time(want), "{v}");
            }
        }
        let c = one(json!({ "request_created_at": { "gt": "2026-01-02 03:04:05.250" } }));
        assert_eq!(
            c.value,
            FilterValue::Time(want + chrono::Duration::milliseconds(250))
        );
        let c = one(json!({ "request_created_at": { "gt": "2026-01-02" } }));
        assert_eq!(
            c.value,
            FilterValue::Time(want - chrono::Duration::seconds(3 * 3600 + 4 * 60 + 5))
        );
    }

    #[test]
    fn filter_bool_and_maps() {
        let c = one(json!({ "cached": { "equals": true } }));
        assert_eq!(
            (c.field, c.op, c.value),
            (Field::Cached, Op::Equals, FilterValue::Bool(true))
        );
        let c = one(json!({ "properties": { "Env": { "ilike": "PROD" } } }));
        assert_eq!(c.field, Field::Property("env".into()));
        assert_eq!(c.op, Op::ILike);
        assert_eq!(c.field.name(), "properties.env");
        let c = one(json!({ "scores": { "Accuracy": { "gte": "0.5" } } }));
        assert_eq!(c.field, Field::Score("Accuracy".into()));
        assert_eq!(c.value, FilterValue::Number(0.5));
    }

    #[test]
    fn filter_leaf_with_several_fields_and_ops() {
        let f = parse_filter(&leaf(json!({
            "model": { "equals": "gpt-4o" },
            "latency": { "gt": 10, "lt": 20 },
            "properties": { "a": { "equals": "1" }, "b": { "contains": "2" } },
        })))
        .unwrap();
        let FilterNode::Leaf(c) = f else {
            panic!("not a leaf")
        };
        assert_eq!(c.len(), 5);
    }

    #[test]
    fn filter_nested_and_or() {
        let a = leaf(json!({ "model": { "equals": "a" } }));
        let b = leaf(json!({ "status": { "equals": 200 } }));
        let c = leaf(json!({ "cached": { "equals": false } }));
        let v = json!({
            "left": a,
            "operator": "or",
            "right": { "left": b, "operator": "and", "right": c },
        });
        let f = parse_filter(&v).unwrap();
        let FilterNode::Or(l, r) = f else {
            panic!("not or")
        };
        assert!(matches!(*l, FilterNode::Leaf(_)));
        let FilterNode::And(rl, rr) = *r else {
            panic!("not and")
        };
        assert!(matches!(*rl, FilterNode::Leaf(_)));
        assert!(matches!(*rr, FilterNode::Leaf(_)));
        let v = json!({ "left": "all", "operator": "AND", "right": {} });
        assert_eq!(
            parse_filter(&v).unwrap(),
            FilterNode::And(Box::new(FilterNode::All), Box::new(FilterNode::All))
        );
    }

    #[test]
    fn filter_errors_name_field_and_op() {
        let e = err(leaf(json!({ "modle": { "equals": "x" } })));
        assert!(
            e.contains("`modle`") && e.contains("request_created_at"),
            "{e}"
        );
        let e = err(leaf(json!({ "model": { "gt": "x" } })));
        assert!(
            e.contains("`gt`") && e.contains("`model`") && e.contains("ilike"),
            "{e}"
        );
        let e = err(leaf(json!({ "latency": { "like": "1" } })));
        assert!(
            e.contains("`like`") && e.contains("number") && e.contains("gte"),
            "{e}"
        );
        let e = err(leaf(json!({ "request_created_at": { "not-equals": "x" } })));
        assert!(e.contains("`not-equals`") && e.contains("time"), "{e}");
        let e = err(leaf(json!({ "cached": { "not-equals": true } })));
        assert!(
            e.contains("`cached`") && e.contains("accepted: equals"),
            "{e}"
        );
        let e = err(leaf(json!({ "model": { "starts-with": "x" } })));
        assert!(e.contains("`starts-with`"), "{e}");
        let e = err(leaf(json!({ "model": { "equals": 3 } })));
        assert!(
            e.contains("`model`") && e.contains("a string") && e.contains('3'),
            "{e}"
        );
        let e = err(leaf(json!({ "latency": { "gt": "fast" } })));
        assert!(e.contains("`latency`") && e.contains("number"), "{e}");
        let e = err(leaf(json!({ "latency": { "gt": "NaN" } })));
        assert!(e.contains("`latency`"), "{e}");
        let e = err(leaf(json!({ "request_created_at": { "gt": "yesterday" } })));
        assert!(
            e.contains("`request_created_at`") && e.contains("RFC 3339"),
            "{e}"
        );
        let e = err(leaf(json!({ "cached": { "equals": "true" } })));
        assert!(e.contains("`cached`") && e.contains("true or false"), "{e}");
        let e = err(leaf(json!({ "properties": { "env": { "gt": "x" } } })));
        assert!(e.contains("properties.env") && e.contains("`gt`"), "{e}");
        let e = err(leaf(json!({ "scores": { "acc": { "contains": "x" } } })));
        assert!(e.contains("scores.acc") && e.contains("`contains`"), "{e}");
        let e = err(leaf(json!({ "properties": { "": { "equals": "x" } } })));
        assert!(e.contains("non-empty"), "{e}");
        let e = err(leaf(json!({ "model": {} })));
        assert!(e.contains("`model`"), "{e}");
        let e = err(leaf(json!({ "model": "x" })));
        assert!(e.contains("`model`"), "{e}");
        let e = err(json!({ "request": { "model": { "equals": "x" } } }));
        assert!(e.contains("`request`") && e.contains(TABLE), "{e}");
        let e = err(json!({ "a": {}, "b": {} }));
        assert!(e.contains("exactly one table"), "{e}");
        let e = err(json!({ "left": "all", "operator": "xor", "right": "all" }));
        assert!(e.contains("\"xor\""), "{e}");
        let e = err(json!({ "left": "all", "operator": "and" }));
        assert!(e.contains("right"), "{e}");
        let e = err(json!({ "left": "all", "operator": "and", "right": "all", "x": 1 }));
        assert!(e.contains("`x`"), "{e}");
        let e = err(json!("none"));
        assert!(e.contains("\"none\""), "{e}");
        let e = err(json!(5));
        assert!(e.contains("invalid filter"), "{e}");
    }

    #[test]
    fn filter_depth_and_size_limits() {
        let mut v = json!("all");
        for _ in 0..=MAX_DEPTH + 1 {
            v = json!({ "left": v, "operator": "and", "right": "all" });
        }
        assert_eq!(parse_filter(&v).unwrap_err(), FilterError::TooDeep);
        let props: Map<String, Value> = (0..=MAX_CONDITIONS)
            .map(|i| (format!("p{i}"), json!({ "equals": "x" })))
            .collect();
        assert_eq!(
            parse_filter(&leaf(json!({ "properties": props }))).unwrap_err(),
            FilterError::TooManyConditions
        );
    }

    #[test]
    fn filter_query_defaults_and_values() {
        let q = parse_query(&json!({})).unwrap();
        assert_eq!(q, RequestQuery::default());
        assert_eq!(q.limit, 10);
        assert_eq!(q.sort.field, SortField::CreatedAt);
        assert_eq!(q.sort.direction, SortDirection::Desc);
        let q = parse_query(&json!({
            "filter": leaf(json!({ "status": { "equals": 200 } })),
            "offset": 20,
            "limit": 1000,
            "sort": { "latency": "asc" },
            "isCached": false,
        }))
        .unwrap();
        assert_eq!((q.offset, q.limit), (20, 1000));
        assert_eq!(
            q.sort,
            SortSpec {
                field: SortField::Latency,
                direction: SortDirection::Asc
            }
        );
        assert!(matches!(q.filter, FilterNode::Leaf(_)));
        for f in SortField::ALL {
            let q = parse_query(&json!({ "sort": { f.as_str(): "desc" } })).unwrap();
            assert_eq!(q.sort.field, f);
        }
        assert_eq!(
            parse_query(&json!({ "sort": {} })).unwrap().sort,
            SortSpec::default()
        );
    }

    #[test]
    fn filter_query_errors() {
        let e = |v: Value| parse_query(&v).unwrap_err().to_string();
        assert!(e(json!({ "limit": 1001 })).contains("`limit`"));
        assert!(e(json!({ "limit": -1 })).contains("`limit`"));
        assert!(e(json!({ "limit": 2.5 })).contains("`limit`"));
        assert!(e(json!({ "offset": -1 })).contains("`offset`"));
        assert!(e(json!({ "offset": "3" })).contains("`offset`"));
        let s = e(json!({ "sort": { "model": "asc" } }));
        assert!(
            s.contains("`model`") && s.contains("time_to_first_token"),
            "{s}"
        );
        let s = e(json!({ "sort": { "cost": "up" } }));
        assert!(s.contains("`cost`") && s.contains("\"up\""), "{s}");
        let s = e(json!({ "sort": { "cost": "asc", "latency": "asc" } }));
        assert!(s.contains("exactly one"), "{s}");
        assert!(e(json!([])).contains("JSON object"));
        let s = e(json!({ "filter": { "request_response_rmt": { "x": {} } } }));
        assert!(s.contains("`x`"), "{s}");
    }

    #[test]
    fn filter_usd_to_nano_is_exact() {
        assert_eq!(usd_to_nano(0.001), NanoUsd::Exact(1_000_000));
        assert_eq!(usd_to_nano(0.0), NanoUsd::Exact(0));
        assert_eq!(usd_to_nano(-0.0), NanoUsd::Exact(0));
        assert_eq!(usd_to_nano(1.1e-9), NanoUsd::Between(1));
        assert_eq!(usd_to_nano(0.3), NanoUsd::Exact(300_000_000));
        assert_eq!(usd_to_nano(12.345678901), NanoUsd::Exact(12_345_678_901));
        assert_eq!(usd_to_nano(1.5e-9), NanoUsd::Between(1));
        assert_eq!(usd_to_nano(-1.5e-9), NanoUsd::Between(-2));
        assert_eq!(usd_to_nano(-2.0), NanoUsd::Exact(-2_000_000_000));
        assert_eq!(usd_to_nano(1e-12), NanoUsd::Between(0));
        assert_eq!(usd_to_nano(1e12), NanoUsd::OutOfRange { negative: false });
        assert_eq!(usd_to_nano(-1e12), NanoUsd::OutOfRange { negative: true });
        assert_eq!(
            usd_to_nano(9.2e9),
            NanoUsd::Exact(9_200_000_000_000_000_000)
        );
    }
}
