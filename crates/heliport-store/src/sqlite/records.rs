//! Request records in SQLite: queries, counts, exports and annotations.

use heliport_core::filter::{FilterNode, RequestQuery, SortField};
use serde_json::{Map, Value};
use sqlx::Row;

use super::rows::row_to_json;
use super::{db, int, opt_int, opt_text, query, upsert, Reader, SqliteStore, DIALECT};
use crate::error::{StoreError, StoreResult};
use crate::model::{ExportCursor, ExportOrder, ExportPage, ScoreValue};
use crate::rollup::{bucket_start, RollupInput, Sums, DAY_MICROS, HOUR_MICROS};
use crate::sql::filter::{nested, rollup_answers, split_time, Nested};
use crate::sql::queries::{self, Grain, PagePlan};
use crate::sql::Sql;
use crate::{BoxFuture, RecordStore};

impl SqliteStore {
    async fn query_requests_impl(&self, org: &str, q: &RequestQuery) -> StoreResult<Vec<Value>> {
        let mut r = self.reader().await?;
        let plan = plan_page(&mut r, org, q).await?;
        let sql = queries::request_page(&DIALECT, org, q, &plan)?;
        let rows = r.all(&sql, "querying requests").await?;
        rows.iter().map(|r| row_to_json(r, q.raw_bodies)).collect()
    }

    /// Counts from the hourly rollup when the filter allows (top-level time
    /// bounds plus model, provider, status, cached), or from the daily
    /// property rollup for one property's value, reading only the partial
    /// buckets at the edges from the records; else from the records.
    async fn count_requests_impl(&self, org: &str, filter: &FilterNode) -> StoreResult<u64> {
        let split = split_time(filter);
        let mut r = self.reader().await?;
        let mut total: i64 = 0;
        if let Some(property) = one_property_equals(&split.rest) {
            let parts = nested(split.start, split.end);
            for (grain, range) in levels(&parts) {
                let sql = queries::property_value_count(&DIALECT, org, property, grain, range);
                total += one_int(&mut r, &sql, "counting requests").await?;
            }
            for (start, end) in parts.raw {
                let sql = queries::request_count(&DIALECT, org, &split.rest, start, end)?;
                total += one_int(&mut r, &sql, "counting requests").await?;
            }
        } else if rollup_answers(&split.rest) {
            let parts = nested(split.start, split.end);
            for (grain, range) in levels(&parts) {
                let sql = queries::rollup_count(&DIALECT, org, grain, range, &split.rest)?;
                total += one_int(&mut r, &sql, "counting requests").await?;
            }
            for (start, end) in parts.raw {
                let sql = queries::request_count(&DIALECT, org, &split.rest, start, end)?;
                total += one_int(&mut r, &sql, "counting requests").await?;
            }
        } else {
            let sql = queries::request_count(&DIALECT, org, filter, i64::MIN, i64::MAX)?;
            total = one_int(&mut r, &sql, "counting requests").await?;
        }
        u64::try_from(total).map_err(|_| StoreError::Corrupt(format!("negative count {total}")))
    }

    async fn get_request_impl(
        &self,
        org: &str,
        request_id: &str,
        raw_bodies: bool,
    ) -> StoreResult<Option<Value>> {
        let sql = queries::request_by_id(&DIALECT, org, request_id);
        let mut r = self.reader().await?;
        r.one(&sql, "reading a request")
            .await?
            .as_ref()
            .map(|row| row_to_json(row, raw_bodies))
            .transpose()
    }

    async fn export_page_impl(
        &self,
        org: &str,
        filter: &FilterNode,
        order: ExportOrder,
        after: Option<ExportCursor>,
        page_size: u32,
        raw_bodies: bool,
    ) -> StoreResult<ExportPage> {
        let sql = queries::export_page(&DIALECT, org, filter, order, after, page_size)?;
        let mut r = self.reader().await?;
        let rows = r.all(&sql, "exporting requests").await?;
        let next = match rows.last() {
            Some(last) if rows.len() == page_size as usize => Some(ExportCursor {
                created_at: last.try_get("created_at").map_err(db("reading a row"))?,
                seq: last.try_get("seq").map_err(db("reading a row"))?,
            }),
            _ => None,
        };
        Ok(ExportPage {
            rows: rows
                .iter()
                .map(|r| row_to_json(r, raw_bodies))
                .collect::<StoreResult<_>>()?,
            next,
        })
    }

    /// One statement: the write lock, the lookup and the update at once.
    async fn update_one(&self, sql: Sql<'_>, context: &'static str) -> StoreResult<bool> {
        let done = query(&sql)
            .execute(self.pool())
            .await
            .map_err(db(context))?;
        Ok(done.rows_affected() > 0)
    }

    async fn set_feedback_impl(&self, org: &str, id: &str, rating: bool) -> StoreResult<bool> {
        let mut sql = Sql::new(&DIALECT);
        sql.push("UPDATE requests SET feedback_rating = ")
            .bind(i64::from(rating))
            .push(" WHERE seq = ");
        queries::push_request_seq(&mut sql, org, id);
        self.update_one(sql, "saving feedback").await
    }

    /// Scores merge into the stored object (`json_patch`), so concurrent
    /// calls with different names both land.
    async fn add_scores_impl(
        &self,
        org: &str,
        id: &str,
        scores: &[(String, ScoreValue)],
    ) -> StoreResult<bool> {
        let patch: Map<String, Value> = scores
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    match v {
                        ScoreValue::Int(i) => Value::from(*i),
                        ScoreValue::Bool(b) => Value::Bool(*b),
                    },
                )
            })
            .collect();
        let mut sql = Sql::new(&DIALECT);
        sql.push(
            "UPDATE requests SET scores = json_patch(CASE WHEN json_valid(scores) AND \
             json_type(scores) = 'object' THEN scores ELSE '{}' END, ",
        )
        .bind(Value::Object(patch).to_string())
        .push(") WHERE seq = ");
        queries::push_request_seq(&mut sql, org, id);
        self.update_one(sql, "saving scores").await
    }

    /// Sets a property and moves the record's measures from the old value's
    /// rollup row to the new one's, in one transaction.
    async fn set_property_impl(
        &self,
        org: &str,
        id: &str,
        key: &str,
        value: &str,
    ) -> StoreResult<bool> {
        let mut tx = self
            .pool()
            .begin()
            .await
            .map_err(db("editing a property"))?;
        // A write first, so the transaction holds the write lock before it
        // reads what it will change.
        let mut sql = Sql::new(&DIALECT);
        sql.push("UPDATE requests SET properties = properties WHERE seq = ");
        queries::push_request_seq(&mut sql, org, id);
        sql.push(
            " RETURNING seq, created_at, properties, model, provider, status, failure, stream, \
             cached, prompt_tokens, completion_tokens, total_tokens, cost_nano_usd, \
             cache_saved_nano_usd, latency_ms, time_to_first_token_ms, parent_request_id",
        );
        let Some(row) = query(&sql)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db("editing a property"))?
        else {
            return Ok(false);
        };
        let seq = int(&row, 0)?;
        let created_at = int(&row, 1)?;
        let mut props = match serde_json::from_str::<Value>(&opt_text(&row, 2)?.unwrap_or_default())
        {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        let old = props.get(key).and_then(Value::as_str).map(str::to_string);
        props.insert(key.to_string(), Value::String(value.to_string()));
        sqlx::query("UPDATE requests SET properties = ? WHERE seq = ?")
            .bind(Value::Object(props).to_string())
            .bind(seq)
            .execute(&mut *tx)
            .await
            .map_err(db("editing a property"))?;
        sqlx::query(
            "INSERT OR REPLACE INTO request_properties (seq, org_id, key, value) VALUES (?, ?, ?, ?)",
        )
        .bind(seq)
        .bind(org)
        .bind(key)
        .bind(value)
        .execute(&mut *tx)
        .await
        .map_err(db("editing a property"))?;
        let is_attempt = opt_text(&row, 16)?.is_some();
        if !is_attempt && old.as_deref() != Some(value) {
            let u = |i: usize| -> StoreResult<Option<u64>> {
                Ok(opt_int(&row, i)?.and_then(|v| u64::try_from(v).ok()))
            };
            let model = opt_text(&row, 3)?;
            let provider = opt_text(&row, 4)?.unwrap_or_default();
            let failure = opt_text(&row, 6)?;
            let sums = Sums::of(&RollupInput {
                org_id: org,
                created_at,
                model: model.as_deref(),
                provider: &provider,
                status: opt_int(&row, 5)?.and_then(|s| u16::try_from(s).ok()),
                failure: failure.as_deref(),
                stream: int(&row, 7)? != 0,
                cached: int(&row, 8)? != 0,
                prompt_tokens: u(9)?,
                completion_tokens: u(10)?,
                total_tokens: u(11)?,
                cost_nano_usd: opt_int(&row, 12)?,
                cache_saved_nano_usd: opt_int(&row, 13)?,
                latency_ms: u(14)?,
                ttft_ms: u(15)?,
                ..RollupInput::default()
            });
            for (grain, at) in [
                (Grain::Hour, bucket_start(created_at, HOUR_MICROS)),
                (Grain::Day, bucket_start(created_at, DAY_MICROS)),
            ] {
                if let Some(old) = &old {
                    add_property_sums(&mut tx, org, key, (grain, at), Some(old), &sums.negated())
                        .await?;
                } else {
                    // The key is new on this record: it now counts under the key.
                    add_property_sums(&mut tx, org, key, (grain, at), None, &sums).await?;
                }
                add_property_sums(&mut tx, org, key, (grain, at), Some(value), &sums).await?;
            }
            for table in ["rollup_property_hourly", "rollup_property_daily"] {
                sqlx::query(&format!(
                    "DELETE FROM {table} WHERE org_id = ? AND key = ? AND requests <= 0"
                ))
                .bind(org)
                .bind(key)
                .execute(&mut *tx)
                .await
                .map_err(db("editing a property"))?;
            }
        }
        tx.commit().await.map_err(db("editing a property"))?;
        Ok(true)
    }
}

/// The one integer `sql` answers (0 when it answers no row).
async fn one_int(r: &mut Reader, sql: &Sql<'_>, context: &'static str) -> StoreResult<i64> {
    match r.one(sql, context).await? {
        Some(row) => int(&row, 0),
        None => Ok(0),
    }
}

/// The whole days, then the whole hours, of a range read through the
/// rollup pyramid (its partial hours are read from the records).
fn levels(parts: &Nested) -> impl Iterator<Item = (Grain, (i64, i64))> + '_ {
    parts
        .days
        .map(|d| (Grain::Day, d))
        .into_iter()
        .chain(parts.hours.iter().map(|h| (Grain::Hour, *h)))
}

/// How many more times a row-by-row property lookup may cost than adding
/// one match to a set, with margin: both are one B-tree descent, the lookup
/// reads the row's property as well.
const PER_ROW_COST: f64 = 4.0;

/// How a page of `q` is read, from counts the rollups give in a few
/// indexed reads (whole buckets; the partial hours at the range's ends are
/// left out, which only blurs the estimate).
///
/// In time order, reading stops once the page is full. With a share `f` of
/// the range's `n` requests carrying a property value, a page of `w` rows
/// (offset included) reads about `w / f` rows, each with a lookup, where
/// the set costs its `f * n` matches: the value is looked up per row when
/// `(f * n)^2 > PER_ROW_COST * w * n`. Sorted otherwise, the whole range is
/// read, and sets always win.
pub(super) async fn plan_page(
    r: &mut Reader,
    org: &str,
    q: &RequestQuery,
) -> StoreResult<PagePlan> {
    let mut plan = PagePlan::default();
    let mut values = Vec::new();
    property_values(&q.filter, &mut values);
    if values.is_empty() || q.sort.field != SortField::CreatedAt {
        return Ok(plan);
    }
    let split = split_time(&q.filter);
    let parts = nested(split.start, split.end);
    let in_range = whole_bucket_count(r, org, &parts).await? as f64;
    let page = q.offset.saturating_add(q.limit) as f64;
    for (key, value) in values {
        let mut matches: i64 = 0;
        for (grain, range) in levels(&parts) {
            let sql = queries::property_value_count(&DIALECT, org, (key, value), grain, range);
            matches += one_int(r, &sql, "planning a request page").await?;
        }
        let m = matches as f64;
        if m * m > PER_ROW_COST * page * in_range {
            plan.per_row.push((key.to_string(), value.to_string()));
        }
    }
    Ok(plan)
}

/// Requests in the whole days and hours of `parts`, from the rollups.
async fn whole_bucket_count(r: &mut Reader, org: &str, parts: &Nested) -> StoreResult<i64> {
    let mut total = 0;
    for (grain, range) in levels(parts) {
        let sql = queries::rollup_count(&DIALECT, org, grain, range, &FilterNode::All)?;
        total += one_int(r, &sql, "planning a request page").await?;
    }
    Ok(total)
}

/// Every `(key, value)` a property `equals` or `not-equals` condition of
/// `node` names, once each.
fn property_values<'a>(node: &'a FilterNode, out: &mut Vec<(&'a str, &'a str)>) {
    use heliport_core::filter::{Field, FilterValue, Op};
    match node {
        FilterNode::All => {}
        FilterNode::Leaf(conds) => {
            for c in conds {
                if let (Field::Property(k), Op::Equals | Op::NotEquals, FilterValue::Text(v)) =
                    (&c.field, c.op, &c.value)
                {
                    if !out.contains(&(k.as_str(), v.as_str())) {
                        out.push((k, v));
                    }
                }
            }
        }
        FilterNode::And(a, b) | FilterNode::Or(a, b) => {
            property_values(a, out);
            property_values(b, out);
        }
    }
}

/// The property and value when `node` is one `properties.<key> equals value`.
fn one_property_equals(node: &FilterNode) -> Option<(&str, &str)> {
    use heliport_core::filter::{Field, FilterValue, Op};
    match node {
        FilterNode::Leaf(conds) => match conds.as_slice() {
            [c] => match (&c.field, c.op, &c.value) {
                (Field::Property(k), Op::Equals, FilterValue::Text(v)) => Some((k, v)),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    }
}

/// Adds `sums` to a property value's rollup at `grain` (or, without a
/// value, to the key's).
async fn add_property_sums(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    org: &str,
    key: &str,
    (grain, at): (Grain, i64),
    value: Option<&str>,
    sums: &Sums,
) -> StoreResult<()> {
    let (by_value, by_key) = match grain {
        Grain::Hour => (&*upsert::PROPERTY_HOURLY, &*upsert::PROPERTY_KEY_HOURLY),
        Grain::Day => (&*upsert::PROPERTY_DAILY, &*upsert::PROPERTY_KEY_DAILY),
    };
    let mut q = match value {
        Some(v) => sqlx::query(by_value).bind(org).bind(key).bind(at).bind(v),
        None => sqlx::query(by_key).bind(org).bind(key).bind(at),
    };
    for m in sums.to_array() {
        q = q.bind(m);
    }
    q.execute(&mut **tx)
        .await
        .map_err(db("updating property rollups"))?;
    Ok(())
}

impl RecordStore for SqliteStore {
    fn query_requests<'a>(
        &'a self,
        org_id: &'a str,
        q: &'a RequestQuery,
    ) -> BoxFuture<'a, StoreResult<Vec<Value>>> {
        Box::pin(self.query_requests_impl(org_id, q))
    }

    fn count_requests<'a>(
        &'a self,
        org_id: &'a str,
        filter: &'a FilterNode,
    ) -> BoxFuture<'a, StoreResult<u64>> {
        Box::pin(self.count_requests_impl(org_id, filter))
    }

    fn get_request<'a>(
        &'a self,
        org_id: &'a str,
        request_id: &'a str,
        raw_bodies: bool,
    ) -> BoxFuture<'a, StoreResult<Option<Value>>> {
        Box::pin(self.get_request_impl(org_id, request_id, raw_bodies))
    }

    fn export_page<'a>(
        &'a self,
        org_id: &'a str,
        filter: &'a FilterNode,
        order: ExportOrder,
        after: Option<ExportCursor>,
        page_size: u32,
        raw_bodies: bool,
    ) -> BoxFuture<'a, StoreResult<ExportPage>> {
        Box::pin(self.export_page_impl(org_id, filter, order, after, page_size, raw_bodies))
    }

    fn set_feedback<'a>(
        &'a self,
        org_id: &'a str,
        request_id: &'a str,
        rating: bool,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(self.set_feedback_impl(org_id, request_id, rating))
    }

    fn add_scores<'a>(
        &'a self,
        org_id: &'a str,
        request_id: &'a str,
        scores: &'a [(String, ScoreValue)],
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(self.add_scores_impl(org_id, request_id, scores))
    }

    fn set_property<'a>(
        &'a self,
        org_id: &'a str,
        request_id: &'a str,
        key: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(self.set_property_impl(org_id, request_id, key, value))
    }
}
