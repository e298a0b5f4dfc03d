//! The rollup pyramid against ground truth: records written through the
//! writer's own insert path at random times over several days, then counts,
//! metrics, users and properties for random unaligned ranges compared with
//! sums computed straight from the records; the backfill rebuilds the very
//! same rollups; property edits keep them right.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use heliport_core::analytics::{
    parse_metrics_query, parse_property_query, parse_user_query, TimeRange,
};
use heliport_core::filter::parse_filter;
use heliport_core::record::RequestRecord;
use heliport_core::usage::Usage;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::sink::{PromptVersionCache, SqliteRecordSink};
use super::tests::TempDb;
use super::SqliteStore;
use crate::rollup::{RollupInput, Sums, DAY_MICROS, HOUR_MICROS};
use crate::{from_micros, AnalyticsStore, RecordStore};

const ORG: &str = "org-1";
/// 2026-01-05T00:00:00Z.
const T0: i64 = 1_767_571_200_000_000;

fn records(n: usize, seed: u64) -> Vec<RequestRecord> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let at = T0 + rng.random_range(0..4 * DAY_MICROS);
            let status = [Some(200u16), Some(200), Some(500), None][rng.random_range(0..4)];
            let mut r = RequestRecord {
                uid: uuid::Uuid::new_v4(),
                request_id: uuid::Uuid::new_v4(),
                org_id: if i % 10 == 0 {
                    "org-2".into()
                } else {
                    ORG.into()
                },
                created_at: from_micros(at),
                provider: ["openai", "anthropic"][rng.random_range(0..2)].into(),
                model: Some(["m0", "m1", "m2"][rng.random_range(0..3)].into()),
                status,
                failure: status.is_none().then(|| "cancelled".to_string()),
                stream: rng.random::<bool>(),
                cached: rng.random_range(0..10) == 0,
                latency_ms: Some(rng.random_range(1..5000)),
                time_to_first_token_ms: rng.random::<bool>().then(|| rng.random_range(1..500)),
                usage: Some(Usage {
                    prompt_tokens: rng.random_range(1..100),
                    completion_tokens: rng.random_range(1..100),
                    ..Usage::default()
                }),
                cost_nano_usd: rng.random::<bool>().then(|| rng.random_range(0..1_000_000)),
                user_id: rng
                    .random::<bool>()
                    .then(|| format!("u{}", rng.random_range(0..8))),
                session_id: Some(format!("s{}", rng.random_range(0..30))),
                properties: vec![("env".into(), ["a", "b"][rng.random_range(0..2)].into())],
                attempts: 1,
                body_cap_bytes: 1024,
                method: "POST".into(),
                path: "/v1/chat/completions".into(),
                ..RequestRecord::default()
            };
            if i % 50 == 7 {
                // An attempt: never counted.
                r.parent_request_id = Some(uuid::Uuid::new_v4());
            }
            r
        })
        .collect()
}

fn truth<'a>(
    recs: &'a [RequestRecord],
    (start, end): (i64, i64),
) -> impl Iterator<Item = &'a RequestRecord> + 'a {
    recs.iter().filter(move |r| {
        let t = r.created_at.timestamp_micros();
        r.org_id == ORG && r.parent_request_id.is_none() && t >= start && t < end
    })
}

fn sums<'a>(it: impl Iterator<Item = &'a RequestRecord>) -> Sums {
    let mut s = Sums::default();
    for r in it {
        s.add(&Sums::of(&RollupInput::from_record(r)));
    }
    s
}

fn rfc(t: i64) -> String {
    from_micros(t).to_rfc3339()
}

async fn store_with(recs: &mut [RequestRecord]) -> (TempDb, SqliteStore) {
    let db = TempDb::new();
    let store = SqliteStore::open(&db.url).await.unwrap();
    let sink = SqliteRecordSink::open(&db.url).unwrap();
    let mut versions = PromptVersionCache::default();
    for chunk in recs.chunks_mut(97) {
        sink.insert(chunk, &mut versions).unwrap();
    }
    (db, store)
}

fn ranges(seed: u64) -> Vec<(i64, i64)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = vec![
        (T0, T0 + 4 * DAY_MICROS),
        (T0 + 5, T0 + 3 * DAY_MICROS + 17),
        (T0 + HOUR_MICROS, T0 + DAY_MICROS),
        (T0 + 10, T0 + 20),
    ];
    for _ in 0..20 {
        let a = T0 - HOUR_MICROS + rng.random_range(0..5 * DAY_MICROS);
        let b = a + rng.random_range(0..3 * DAY_MICROS);
        out.push((a, b));
    }
    out
}

#[tokio::test]
async fn rollups_answer_exactly_for_any_range() {
    let mut recs = records(3000, 1);
    let (_db, store) = store_with(&mut recs).await;
    for (start, end) in ranges(2) {
        let label = format!("[{}, {})", rfc(start), rfc(end));
        let time = json!({"request_created_at": {"gte": rfc(start), "lt": rfc(end)}});
        // Counts: all, by model (the hourly pyramid), by property (the
        // property pyramid).
        let count = |extra: serde_json::Value| {
            let mut fields = time.as_object().unwrap().clone();
            fields.extend(extra.as_object().unwrap().clone());
            parse_filter(&json!({ "request_response_rmt": fields })).unwrap()
        };
        let n = RecordStore::count_requests(&store, ORG, &count(json!({})))
            .await
            .unwrap();
        assert_eq!(n, truth(&recs, (start, end)).count() as u64, "{label}");
        let n =
            RecordStore::count_requests(&store, ORG, &count(json!({"model": {"equals": "m1"}})))
                .await
                .unwrap();
        let want = truth(&recs, (start, end))
            .filter(|r| r.model.as_deref() == Some("m1"))
            .count();
        assert_eq!(n, want as u64, "{label}");
        let n = RecordStore::count_requests(
            &store,
            ORG,
            &count(json!({"properties": {"env": {"equals": "a"}}})),
        )
        .await
        .unwrap();
        let want = truth(&recs, (start, end))
            .filter(|r| r.properties[0].1 == "a")
            .count();
        assert_eq!(n, want as u64, "{label}");

        // Metrics: the overview, an hourly series and a model breakdown.
        let q = parse_metrics_query(&json!({
            "timeFilter": {"start": rfc(start), "end": rfc(end)},
            "groupBy": "model",
            "limit": 10,
        }))
        .unwrap();
        let m = store.metrics(ORG, &q).await.unwrap();
        assert_eq!(m.overview.sums, sums(truth(&recs, (start, end))), "{label}");
        for row in m.breakdown.unwrap() {
            let want = sums(truth(&recs, (start, end)).filter(|r| r.model == row.key));
            assert_eq!(row.sums, want, "{label} {:?}", row.key);
        }
        if end - start > HOUR_MICROS && end - start < 3 * DAY_MICROS {
            let q = parse_metrics_query(&json!({
                "timeFilter": {"start": rfc(start), "end": rfc(end)},
                "bucket": "hour",
            }))
            .unwrap();
            let m = store.metrics(ORG, &q).await.unwrap();
            for p in m.series.unwrap() {
                let b = p.start.timestamp_micros();
                let want = sums(truth(&recs, (start.max(b), end.min(b + HOUR_MICROS))));
                assert_eq!(p.sums, want, "{label} bucket {}", p.start);
            }
        }

        // Users with their first and last request in the range.
        let q = parse_user_query(&json!({
            "timeFilter": {"start": rfc(start), "end": rfc(end)},
            "limit": 1000,
        }))
        .unwrap();
        let users = store.users(ORG, &q).await.unwrap();
        let mut want: BTreeMap<String, (i64, DateTime<Utc>, DateTime<Utc>)> = BTreeMap::new();
        for r in truth(&recs, (start, end)) {
            if let Some(u) = &r.user_id {
                let e = want
                    .entry(u.clone())
                    .or_insert((0, r.created_at, r.created_at));
                e.0 += 1;
                e.1 = e.1.min(r.created_at);
                e.2 = e.2.max(r.created_at);
            }
        }
        let got: BTreeMap<String, (i64, DateTime<Utc>, DateTime<Utc>)> = users
            .iter()
            .map(|u| {
                (
                    u.user_id.clone(),
                    (u.sums.requests, u.first_active, u.last_active),
                )
            })
            .collect();
        assert_eq!(got, want, "{label}");

        // Property names and values.
        let q =
            parse_property_query(&json!({"timeFilter": {"start": rfc(start), "end": rfc(end)}}))
                .unwrap();
        let values = store.property_values(ORG, "env", &q).await.unwrap();
        let got: HashMap<String, i64> = values
            .iter()
            .map(|v| (v.value.clone().unwrap(), v.sums.requests))
            .collect();
        let mut want: HashMap<String, i64> = HashMap::new();
        for r in truth(&recs, (start, end)) {
            *want.entry(r.properties[0].1.clone()).or_default() += 1;
        }
        assert_eq!(got, want, "{label}");
        let names = store.property_names(ORG, &q).await.unwrap();
        assert_eq!(
            names.first().map(|n| n.sums.requests).unwrap_or(0),
            truth(&recs, (start, end)).count() as i64,
            "{label}"
        );
    }
    // Time bounds in the filter (an AND of two leaves) leave nothing else,
    // so a breakdown by user still answers.
    let q = parse_metrics_query(&json!({
        "filter": {
            "left": {"request_response_rmt": {"request_created_at": {"gte": rfc(T0)}}},
            "operator": "and",
            "right": {"request_response_rmt": {"request_created_at": {"lt": rfc(T0 + DAY_MICROS)}}},
        },
        "groupBy": "user",
        "limit": 100,
    }))
    .unwrap();
    let m = store.metrics(ORG, &q).await.unwrap();
    let total: i64 = m.breakdown.unwrap().iter().map(|b| b.sums.requests).sum();
    let want = truth(&recs, (T0, T0 + DAY_MICROS))
        .filter(|r| r.user_id.is_some())
        .count();
    assert_eq!(total, want as i64);
    // All time: the unbounded paths.
    let all = (i64::MIN, i64::MAX);
    let users = store
        .users(ORG, &parse_user_query(&json!({"limit": 1000})).unwrap())
        .await
        .unwrap();
    let total: i64 = users.iter().map(|u| u.sums.requests).sum();
    assert_eq!(
        total,
        truth(&recs, all).filter(|r| r.user_id.is_some()).count() as i64
    );
    let q = parse_metrics_query(&json!({})).unwrap();
    assert_eq!(
        store.metrics(ORG, &q).await.unwrap().overview.sums,
        sums(truth(&recs, all))
    );
    assert_eq!(TimeRange::ALL.micros(), all);
}

/// Every rollup table's rows, for comparing two databases.
async fn snapshot(store: &SqliteStore) -> Vec<String> {
    let mut out = Vec::new();
    for table in [
        "rollup_hourly",
        "rollup_daily",
        "rollup_user_hourly",
        "rollup_user_daily",
        "rollup_users",
        "rollup_sessions",
        "rollup_session_users",
        "rollup_property_hourly",
        "rollup_property_daily",
        "rollup_property_key_hourly",
        "rollup_property_key_daily",
        "rollup_prompt_versions",
    ] {
        let rows: Vec<(String,)> = sqlx::query_as(&format!(
            "SELECT json_array(*) FROM (SELECT * FROM {table} ORDER BY 1, 2, 3, 4)"
        ))
        .fetch_all(store.pool())
        .await
        .unwrap_or_default();
        for (r,) in rows {
            out.push(format!("{table} {r}"));
        }
    }
    out
}

#[tokio::test]
async fn the_backfill_builds_the_rollups_the_writer_keeps() {
    let mut recs = records(1500, 3);
    let (db, store) = store_with(&mut recs).await;
    let live = snapshot(&store).await;
    assert!(live.len() > 100);
    for table in [
        "rollup_hourly",
        "rollup_daily",
        "rollup_user_hourly",
        "rollup_user_daily",
        "rollup_users",
        "rollup_sessions",
        "rollup_session_users",
        "rollup_property_hourly",
        "rollup_property_daily",
        "rollup_property_key_hourly",
        "rollup_property_key_daily",
        "rollup_prompt_versions",
    ] {
        sqlx::query(&format!("DELETE FROM {table}"))
            .execute(store.pool())
            .await
            .unwrap();
    }
    sqlx::query(
        "UPDATE rollup_state SET backfill_until = (SELECT MAX(seq) FROM requests), backfilled = 0",
    )
    .execute(store.pool())
    .await
    .unwrap();
    SqliteRecordSink::open(&db.url).unwrap();
    let rebuilt = snapshot(&store).await;
    // Histogram blobs encode the same counts the same way; sessions' name
    // times and everything else must match row for row.
    assert_eq!(live, rebuilt);
}

#[tokio::test]
async fn property_edits_keep_every_rollup_level_right() {
    let mut recs = records(400, 4);
    let (_db, store) = store_with(&mut recs).await;
    let target = recs
        .iter()
        .find(|r| r.org_id == ORG && r.parent_request_id.is_none())
        .unwrap()
        .clone();
    let id = target.request_id.to_string();
    assert!(store.set_property(ORG, &id, "env", "c").await.unwrap());
    assert!(store.set_property(ORG, &id, "tier", "gold").await.unwrap());
    // Not another organization's request.
    assert!(!store.set_property("org-2", &id, "env", "x").await.unwrap());
    let start = target.created_at.timestamp_micros();
    for (from, to) in [
        (i64::MIN, i64::MAX),
        (start - 5, start + 5),
        (start - 3 * HOUR_MICROS, start + 2 * DAY_MICROS),
    ] {
        let q = parse_property_query(&json!({
            "timeFilter": {"start": rfc(from.max(0)), "end": rfc(to.min(T0 + 10 * DAY_MICROS))},
        }))
        .unwrap();
        let values = store.property_values(ORG, "env", &q).await.unwrap();
        let c = values
            .iter()
            .find(|v| v.value.as_deref() == Some("c"))
            .unwrap();
        assert_eq!(c.sums.requests, 1);
        let tier = store.property_values(ORG, "tier", &q).await.unwrap();
        assert_eq!(tier.len(), 1);
        let names = store.property_names(ORG, &q).await.unwrap();
        assert!(names
            .iter()
            .any(|n| n.property == "tier" && n.sums.requests == 1));
        let env_total: i64 = values.iter().map(|v| v.sums.requests).sum();
        let env_name = names.iter().find(|n| n.property == "env").unwrap();
        assert_eq!(env_total, env_name.sums.requests);
    }
}
