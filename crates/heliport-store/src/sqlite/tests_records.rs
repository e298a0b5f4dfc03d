//! The request query tests, against a real database file: rows are stored
//! directly (any request id), then rolled up by the writer's backfill, so
//! counts read the rollups as in production.

use chrono::DateTime;
use heliport_core::filter::{parse_filter, parse_query, FilterNode, RequestQuery, MAX_LIMIT};
use serde_json::{json, Map, Value};

use super::rows::row_to_json;
use super::tests::TempDb;
use super::SqliteStore;
use crate::error::StoreError;
use crate::RecordStore;

/// A store on a temporary file.
pub(crate) struct Fx {
    pub db: TempDb,
    pub store: SqliteStore,
}

impl std::ops::Deref for Fx {
    type Target = SqliteStore;
    fn deref(&self) -> &SqliteStore {
        &self.store
    }
}

/// Rolls up every stored row not rolled up yet (the writer's backfill).
pub(crate) async fn roll_up(fx: &Fx) {
    sqlx::query(
        "UPDATE rollup_state SET backfill_until = (SELECT COALESCE(MAX(seq), 0) FROM requests)",
    )
    .execute(fx.store.pool())
    .await
    .unwrap();
    super::sink::SqliteRecordSink::open(&fx.db.url).unwrap();
}

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

async fn insert(store: &SqliteStore, r: &Rec) {
    let pool = store.pool();
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
        sqlx::query("INSERT INTO request_properties (seq, org_id, key, value) VALUES (?, ?, ?, ?)")
            .bind(seq)
            .bind(r.org)
            .bind(k)
            .bind(v)
            .execute(pool)
            .await
            .unwrap();
    }
}

async fn pool() -> Fx {
    let db = TempDb::new();
    let store = SqliteStore::open(&db.url).await.unwrap();
    Fx { db, store }
}

/// Three requests in `o1`, one in `o2`.
async fn fixture() -> Fx {
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
    roll_up(&pool).await;
    pool
}

async fn ids_in(pool: &SqliteStore, org: &str, body: Value) -> Vec<String> {
    let q = parse_query(&body).unwrap();
    let rows = RecordStore::query_requests(pool, org, &q).await.unwrap();
    let count = RecordStore::count_requests(pool, org, &q.filter)
        .await
        .unwrap();
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
async fn ids(pool: &SqliteStore, fields: Value) -> Vec<String> {
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
    assert!(RecordStore::get_request(&*pool, "o1", "r4", false)
        .await
        .unwrap()
        .is_none());
    assert!(RecordStore::get_request(&*pool, "o2", "r4", false)
        .await
        .unwrap()
        .is_some());
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
async fn property_sets_start_at_the_filters_start_time() {
    let pool = fixture().await;
    let p = &pool;
    let since = |t: &str, prop: Value| {
        let mut f = json!({"request_created_at": {"gte": t}});
        f["properties"] = prop;
        f
    };
    let dev = json!({"env": {"equals": "dev"}});
    let not_prod = json!({"env": {"not-equals": "prod"}});
    // r2 (dev, 1-02) and r3 (no env, 1-03) are on or after the start.
    assert_eq!(
        ids(p, since("2026-01-02T00:00:00Z", dev.clone())).await,
        ["r2"]
    );
    assert_eq!(
        ids(p, since("2026-01-02T00:00:00Z", not_prod.clone())).await,
        ["r2", "r3"]
    );
    assert!(ids(p, since("2026-01-03T00:00:00Z", dev.clone()))
        .await
        .is_empty());
    assert_eq!(
        ids(
            p,
            since("2026-01-01T00:00:00Z", json!({"env": {"equals": "prod"}}))
        )
        .await,
        ["r1"]
    );
    // No request since then: nothing, for either polarity.
    assert!(ids(p, since("2027-01-01T00:00:00Z", dev)).await.is_empty());
    assert!(ids(p, since("2027-01-01T00:00:00Z", not_prod))
        .await
        .is_empty());
}

/// A value most requests carry is looked up row by row on a time-ordered
/// page, a rare one is read as a set: both give the same rows as the
/// definition, page after page, for either polarity.
#[tokio::test]
async fn common_property_values_are_looked_up_per_row() {
    let p = pool().await;
    let mut expect_prod = Vec::new();
    let mut expect_not_prod = Vec::new();
    for i in 0..40u32 {
        // Three in four carry env=prod, one in ten team=rare, some neither.
        let id: &'static str = Box::leak(format!("r{i:02}").into_boxed_str());
        let mut props = Vec::new();
        if i % 4 != 0 {
            props.push(("env", "prod"));
            expect_prod.push(id.to_string());
        } else {
            if i % 8 == 0 {
                props.push(("env", "dev"));
            }
            expect_not_prod.push(id.to_string());
        }
        if i % 10 == 3 {
            props.push(("team", "rare"));
        }
        let rec = Rec {
            request_id: id,
            created_at: micros("2026-01-01T00:00:00Z") + i64::from(i) * 3_600_000_000,
            props,
            ..Rec::default()
        };
        insert(&p, &rec).await;
    }
    roll_up(&p).await;
    let query = |prop: Value, offset: u64| {
        parse_query(&json!({
            "filter": {"request_response_rmt": {"properties": prop}},
            "sort": {"created_at": "asc"}, "limit": 1, "offset": offset,
        }))
        .unwrap()
    };
    let prod = json!({"env": {"equals": "prod"}});
    let not_prod = json!({"env": {"not-equals": "prod"}});
    let rare = json!({"team": {"equals": "rare"}});
    let mut r = p.reader().await.unwrap();
    let plan = super::records::plan_page(&mut r, "o1", &query(prod.clone(), 0))
        .await
        .unwrap();
    assert_eq!(plan.per_row, [("env".to_string(), "prod".to_string())]);
    let plan = super::records::plan_page(&mut r, "o1", &query(rare.clone(), 0))
        .await
        .unwrap();
    assert!(plan.per_row.is_empty(), "{plan:?}");
    // Sorted by anything but time, the whole range is read: sets.
    let mut by_cost = query(prod.clone(), 0);
    by_cost.sort.field = heliport_core::filter::SortField::Cost;
    let plan = super::records::plan_page(&mut r, "o1", &by_cost)
        .await
        .unwrap();
    assert!(plan.per_row.is_empty(), "{plan:?}");
    drop(r);
    for (prop, expect) in [
        (prod, expect_prod),
        (not_prod, expect_not_prod),
        (
            rare,
            vec!["r03".into(), "r13".into(), "r23".into(), "r33".into()],
        ),
    ] {
        let mut got = Vec::new();
        for offset in 0..45 {
            let rows = RecordStore::query_requests(&*p, "o1", &query(prop.clone(), offset))
                .await
                .unwrap();
            got.extend(
                rows.iter()
                    .map(|r| r["request_id"].as_str().unwrap().to_string()),
            );
        }
        assert_eq!(got, expect, "{prop}");
    }
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
    let e = RecordStore::query_requests(&**p, "o1", &bad)
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Invalid(_)), "{e}");
    assert!(e.is_client_error());
    let bad = RequestQuery {
        offset: u64::MAX,
        ..RequestQuery::default()
    };
    assert!(RecordStore::query_requests(&**p, "o1", &bad).await.is_err());
}

/// Pages by cost: NULLs last both ways, ties in the sort's direction of
/// insertion, and read from the time index alone (it carries every sort
/// column).
#[tokio::test]
async fn cost_pages_are_sorted_from_the_time_index() {
    use crate::sql::queries::{request_page, PagePlan};
    let p = pool().await;
    for i in 0..30i64 {
        let id: &'static str = Box::leak(format!("c{i:02}").into_boxed_str());
        let rec = Rec {
            request_id: id,
            created_at: micros("2026-01-01T00:00:00Z") + i * 60_000_000,
            // Ties every tenth, unpriced every seventh.
            cost: (i % 7 != 3).then_some((i % 10) * 1_000),
            ..Rec::default()
        };
        insert(&p, &rec).await;
    }
    roll_up(&p).await;
    for dir in ["asc", "desc"] {
        let all = parse_query(&json!({"sort": {"cost": dir}, "limit": 100})).unwrap();
        let every = RecordStore::query_requests(&*p, "o1", &all).await.unwrap();
        let rows: Vec<(Option<f64>, &str)> = every
            .iter()
            .map(|r| (r["cost"].as_f64(), r["request_id"].as_str().unwrap()))
            .collect();
        let mut want = rows.clone();
        want.sort_by(|a, b| match (a.0, b.0) {
            (None, None) => std::cmp::Ordering::Equal,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(_), None) => std::cmp::Ordering::Less,
            (Some(x), Some(y)) if dir == "asc" => x.total_cmp(&y).then(a.1.cmp(b.1)),
            (Some(x), Some(y)) => y.total_cmp(&x).then(b.1.cmp(a.1)),
        });
        assert_eq!(rows.len(), 30);
        // NULL ties keep the direction's insertion order too.
        let nulls: Vec<&str> = rows.iter().filter(|r| r.0.is_none()).map(|r| r.1).collect();
        let mut sorted_nulls = nulls.clone();
        sorted_nulls.sort_unstable();
        if dir == "desc" {
            sorted_nulls.reverse();
        }
        assert_eq!(nulls, sorted_nulls, "{dir}");
        let priced = rows.iter().take_while(|r| r.0.is_some()).count();
        assert_eq!(rows[..priced], want[..priced], "{dir}");
        assert_eq!(priced + nulls.len(), 30, "NULLs last ({dir})");
        // A page is the same slice.
        let page = parse_query(&json!({"sort": {"cost": dir}, "limit": 7, "offset": 4})).unwrap();
        let got = RecordStore::query_requests(&*p, "o1", &page).await.unwrap();
        let ids: Vec<&str> = got
            .iter()
            .map(|r| r["request_id"].as_str().unwrap())
            .collect();
        let slice: Vec<&str> = rows[4..11].iter().map(|r| r.1).collect();
        assert_eq!(ids, slice, "{dir}");
    }
    let q = parse_query(&json!({"sort": {"cost": "desc"}, "limit": 7})).unwrap();
    let sql = request_page(&super::DIALECT, "o1", &q, &PagePlan::default()).unwrap();
    let explain = format!("EXPLAIN QUERY PLAN {}", sql.text());
    let mut query = sqlx::query(&explain);
    for b in sql.binds() {
        query = match b {
            crate::sql::Bind::Null => query.bind(None::<i64>),
            crate::sql::Bind::Int(i) => query.bind(*i),
            crate::sql::Bind::Real(f) => query.bind(*f),
            crate::sql::Bind::Text(t) => query.bind(t.as_str()),
        };
    }
    let plan: Vec<String> = query
        .fetch_all(p.store.pool())
        .await
        .unwrap()
        .iter()
        .map(|row| sqlx::Row::get::<String, _>(row, 3))
        .collect();
    // SQLite defers the row lookup and never makes it: the index holds
    // every column the inner query reads (bench/dashboard.sh measures it).
    assert!(
        plan.iter()
            .any(|l| l.contains("USING INDEX requests_org_created_sort")),
        "{plan:?}"
    );
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
    let e = RecordStore::count_requests(&*pool, "o1", &f)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("`model`"), "{e}");
    let f = FilterNode::Leaf(vec![Condition {
        field: Field::Latency,
        op: Op::Like,
        value: FilterValue::Number(1.0),
    }]);
    let e = RecordStore::count_requests(&*pool, "o1", &f)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("`like`"), "{e}");
    let f = parse_filter(&json!({"request_response_rmt": {}})).unwrap();
    assert_eq!(
        RecordStore::count_requests(&*pool, "o1", &f).await.unwrap(),
        3
    );
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
    let r = RecordStore::get_request(&*pool, "o1", "dup", false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r["model"], "new");
    // Recorded later but with an earlier time: still the newest by time.
    let late_old = Rec {
        created_at: micros("2026-01-01T00:00:00Z"),
        model: Some("replayed"),
        ..older.clone()
    };
    insert(&pool, &late_old).await;
    let r = RecordStore::get_request(&*pool, "o1", "dup", false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r["model"], "new");
    // Same time: the one recorded last.
    let same = Rec {
        model: Some("same-time"),
        ..newer.clone()
    };
    insert(&pool, &same).await;
    let r = RecordStore::get_request(&*pool, "o1", "dup", false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r["model"], "same-time");
    assert!(RecordStore::get_request(&*pool, "o1", "nope", false)
        .await
        .unwrap()
        .is_none());
    assert!(RecordStore::get_request(&*pool, "o2", "dup", false)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn query_row_json_shape() {
    let pool = fixture().await;
    let r1 = RecordStore::get_request(&*pool, "o1", "r1", false)
        .await
        .unwrap()
        .unwrap();
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
    assert_eq!(r1["request_created_at"], "2026-01-01T00:00:00.123000Z");
    assert_eq!(r1["response_created_at"], "2026-01-01T00:00:00.124500Z");
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

    let r2 = RecordStore::get_request(&*pool, "o1", "r2", false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r2["request_body"], "not json *star*");
    assert_eq!(r2["response_body"], Value::Null);
    assert_eq!(r2["cached"], true);
    assert_eq!(r2["cost"], json!(0.0025));

    let r3 = RecordStore::get_request(&*pool, "o1", "r3", false)
        .await
        .unwrap()
        .unwrap();
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
    let rows = RecordStore::query_requests(&*pool, "o1", &q).await.unwrap();
    assert_eq!(rows[0], r1);
    let row = sqlx::query("SELECT * FROM requests WHERE request_id = 'r1'")
        .fetch_one(pool.pool())
        .await
        .unwrap();
    assert_eq!(row_to_json(&row, false).unwrap(), r1);
}
