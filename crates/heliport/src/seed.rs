//! `heliport seed --rows N`: realistic synthetic history for demos and
//! benchmarks, written through the record writer's own insert path (prompt
//! versions, properties and every rollup included), so what the dashboard
//! and the REST API show is exactly what recording would have produced.
//!
//! The history: models of several providers (one unpriced), users with a
//! long tail, agent sessions whose requests follow paths, properties,
//! provider errors, heliport's own refusals, cancellations, streams with
//! time to first token, cache hits with their savings, retried requests
//! with their attempts, and prompts whose templates gain versions over
//! time. The same `--seed` gives the same history (ids aside).

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use heliport_core::pricing::{CostQuery, PriceTable};
use heliport_core::record::RequestRecord;
use heliport_core::usage::Usage;
use heliport_store::sqlite::sink::{PromptVersionCache, SqliteRecordSink};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

/// What to generate.
#[derive(Debug, Clone)]
pub struct SeedOptions {
    /// Requests to generate (attempts of retried requests come on top).
    pub rows: u64,
    /// Days of history, ending now.
    pub days: u32,
    /// The organization the records belong to.
    pub org_id: String,
    /// Random seed.
    pub seed: u64,
}

/// A model the history uses.
struct Model {
    provider: &'static str,
    name: &'static str,
    /// Relative share of traffic.
    weight: u32,
    /// Latency before the first token, and per generated token (ms).
    base_ms: f64,
    per_token_ms: f64,
    target_url: &'static str,
    path: &'static str,
}

const MODELS: &[Model] = &[
    Model { provider: "openai", name: "gpt-4o-mini", weight: 30, base_ms: 250.0, per_token_ms: 7.0, target_url: "https://api.openai.com/v1/chat/completions", path: "/v1/chat/completions" },
    Model { provider: "openai", name: "gpt-4o", weight: 24, base_ms: 420.0, per_token_ms: 14.0, target_url: "https://api.openai.com/v1/chat/completions", path: "/v1/chat/completions" },
    Model { provider: "openai", name: "gpt-4.1", weight: 8, base_ms: 480.0, per_token_ms: 13.0, target_url: "https://api.openai.com/v1/chat/completions", path: "/v1/chat/completions" },
    Model { provider: "openai", name: "o3-mini", weight: 5, base_ms: 1800.0, per_token_ms: 9.0, target_url: "https://api.openai.com/v1/chat/completions", path: "/v1/chat/completions" },
    Model { provider: "anthropic", name: "claude-3-5-sonnet-20241022", weight: 13, base_ms: 650.0, per_token_ms: 18.0, target_url: "https://api.anthropic.com/v1/messages", path: "/anthropic/v1/messages" },
    Model { provider: "anthropic", name: "claude-3-5-haiku-20241022", weight: 8, base_ms: 380.0, per_token_ms: 9.0, target_url: "https://api.anthropic.com/v1/messages", path: "/anthropic/v1/messages" },
    Model { provider: "gemini", name: "gemini-2.0-flash", weight: 5, base_ms: 300.0, per_token_ms: 5.0, target_url: "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent", path: "/gemini/v1beta/models/gemini-2.0-flash:generateContent" },
    Model { provider: "gemini", name: "gemini-1.5-pro", weight: 3, base_ms: 700.0, per_token_ms: 16.0, target_url: "https://generativelanguage.googleapis.com/v1beta/models/gemini-1.5-pro:generateContent", path: "/gemini/v1beta/models/gemini-1.5-pro:generateContent" },
    Model { provider: "groq", name: "llama-3.3-70b-versatile", weight: 3, base_ms: 120.0, per_token_ms: 2.0, target_url: "https://api.groq.com/openai/v1/chat/completions", path: "/groq/v1/chat/completions" },
    // Not in the price table: recorded as unpriced.
    Model { provider: "vllm", name: "acme-support-ft-v2", weight: 1, base_ms: 200.0, per_token_ms: 6.0, target_url: "http://10.0.0.5:8000/v1/chat/completions", path: "/vllm/v1/chat/completions" },
];

/// Agent flows: a session of this name walks these paths in turn.
const FLOWS: &[(&str, &[&str])] = &[
    (
        "research-agent",
        &[
            "/plan",
            "/plan/search",
            "/plan/search/fetch",
            "/plan/search/fetch",
            "/plan/search",
            "/synthesize",
            "/answer",
        ],
    ),
    (
        "support-chat",
        &["/greet", "/classify", "/answer", "/answer", "/followup"],
    ),
    (
        "code-review",
        &[
            "/diff",
            "/diff/file",
            "/diff/file",
            "/diff/file",
            "/summary",
        ],
    ),
    (
        "sql-assistant",
        &[
            "/schema",
            "/draft",
            "/draft/validate",
            "/draft",
            "/draft/validate",
            "/explain",
        ],
    ),
];

const FEATURES: &[&str] = &[
    "chat",
    "search",
    "summaries",
    "autocomplete",
    "email-draft",
    "tagging",
    "translation",
    "code-review",
    "onboarding",
    "insights",
    "reports",
    "alerts",
];

/// Prompt ids, how many template revisions they go through, and the model
/// each is pinned to (an index into [`MODELS`]).
const PROMPTS: &[(&str, u32, usize)] = &[
    ("summarize", 4, 0),
    ("classify-ticket", 3, 0),
    ("extract-entities", 2, 1),
    ("translate", 2, 5),
    ("sql-writer", 5, 4),
    ("support-reply", 3, 9),
];

const WORDS: &[&str] = &[
    "the",
    "customer",
    "order",
    "shipping",
    "invoice",
    "refund",
    "account",
    "report",
    "quarter",
    "revenue",
    "delay",
    "warehouse",
    "ticket",
    "priority",
    "summary",
    "contract",
    "renewal",
    "feature",
    "request",
    "latency",
    "error",
    "dashboard",
    "export",
    "meeting",
    "notes",
    "draft",
    "policy",
    "review",
    "update",
    "release",
    "pricing",
    "plan",
    "team",
    "migration",
    "database",
];

/// An active session: where it is in its flow.
struct Session {
    id: String,
    flow: usize,
    step: usize,
    length: usize,
    user: Option<String>,
    /// When its next request starts: after the previous one's answer and a
    /// few seconds of thought, so a session lasts seconds to minutes.
    next_at: DateTime<Utc>,
}

/// Generates `opts.rows` requests and writes them through `sink`; returns
/// records written (attempts included) and seconds taken.
pub fn seed(
    sink: &SqliteRecordSink,
    prices: &PriceTable,
    opts: &SeedOptions,
    mut progress: impl FnMut(u64, u64),
) -> Result<(u64, f64), Box<dyn std::error::Error + Send + Sync>> {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let end = Utc::now();
    let span_hours = i64::from(opts.days.max(1)) * 24;
    let start = end - Duration::hours(span_hours);
    let times = TimeLine::new(start, span_hours);
    let total_weight: u32 = MODELS.iter().map(|m| m.weight).sum();
    let mut sessions: Vec<Session> = Vec::new();
    let mut session_counter = 0u64;
    let mut versions = PromptVersionCache::default();
    let mut batch: Vec<RequestRecord> = Vec::with_capacity(600);
    let mut written = 0u64;
    for i in 0..opts.rows {
        let u = (i as f64 + rng.random::<f64>()) / opts.rows as f64;
        let at = times.at(u);
        let frac = u;
        // Prompts (pinned to a model), else a model by its share of traffic.
        let prompt =
            (rng.random::<f64>() < 0.15).then(|| PROMPTS[rng.random_range(0..PROMPTS.len())]);
        let mut pick = rng.random_range(0..total_weight);
        let model = match prompt {
            Some((_, _, m)) => &MODELS[m],
            None => MODELS
                .iter()
                .find(|m| {
                    if pick < m.weight {
                        true
                    } else {
                        pick -= m.weight;
                        false
                    }
                })
                .unwrap_or(&MODELS[0]),
        };
        let mut r = base_record(&mut rng, &opts.org_id, model, at);
        // Who and what.
        r.user_id = (rng.random::<f64>() < 0.85).then(|| {
            // A long tail: low ids are the heavy users.
            let k = (rng.random::<f64>().powi(3) * 2000.0) as u32;
            format!("user-{k:04}")
        });
        properties(&mut rng, &mut r, frac);
        // Sessions: four in ten requests belong to an agent flow.
        let mut in_session = None;
        if rng.random::<f64>() < 0.4 {
            if sessions.len() < 24 || rng.random::<f64>() < 0.1 {
                session_counter += 1;
                let flow = rng.random_range(0..FLOWS.len());
                sessions.push(Session {
                    id: format!("sess-{:x}-{session_counter:07}", opts.seed),
                    flow,
                    step: 0,
                    length: rng.random_range(3..13),
                    user: r.user_id.clone(),
                    next_at: at,
                });
            }
            let k = rng.random_range(0..sessions.len());
            if let Some(s) = sessions.get_mut(k) {
                let (name, paths) = FLOWS.get(s.flow).copied().unwrap_or(FLOWS[0]);
                r.session_id = Some(s.id.clone());
                r.session_name = Some(name.to_string());
                r.session_path = paths.get(s.step % paths.len()).map(|p| (*p).to_string());
                r.user_id = s.user.clone();
                r.created_at = s.next_at.min(Utc::now());
                in_session = Some(k);
            }
        }
        // Prompts: templates gain versions as time goes on.
        if let Some((id, n, _)) = prompt {
            let version = ((frac * f64::from(n)) as u32).min(n - 1) + 1;
            let text = sentence(&mut rng, 6);
            r.prompt_id = Some(id.to_string());
            r.prompt_template = Some(format!(
                r#"{{"messages":[{{"content":"You are the {id} assistant (revision {version}). Work on: {{{{text}}}}","role":"user"}}],"model":"{}"}}"#,
                model.name
            ));
            r.prompt_inputs = Some(vec![("text".into(), text)]);
        }
        outcome(&mut rng, &mut r, model, prices, &mut batch);
        if let Some(s) = in_session.and_then(|k| sessions.get_mut(k)) {
            let took = i64::try_from(r.latency_ms.unwrap_or(0)).unwrap_or(0);
            s.next_at = r.created_at + Duration::milliseconds(took + rng.random_range(500..6000));
            s.step += 1;
        }
        if let Some(k) = in_session.filter(|k| sessions.get(*k).is_some_and(|s| s.step >= s.length))
        {
            sessions.swap_remove(k);
        }
        batch.push(r);
        if batch.len() >= 512 {
            written += sink.insert(&mut batch, &mut versions)?;
            batch.clear();
            progress(i + 1, opts.rows);
        }
    }
    if !batch.is_empty() {
        written += sink.insert(&mut batch, &mut versions)?;
    }
    progress(opts.rows, opts.rows);
    Ok((written, started.elapsed().as_secs_f64()))
}

/// Times spread over the span with a daily rhythm (busy afternoons, quiet
/// nights) and quieter weekends, generated in order.
struct TimeLine {
    start: DateTime<Utc>,
    /// Cumulative weight at the end of each hour.
    cumulative: Vec<f64>,
}

impl TimeLine {
    fn new(start: DateTime<Utc>, hours: i64) -> TimeLine {
        let mut cumulative = Vec::with_capacity(usize::try_from(hours).unwrap_or(0));
        let mut sum = 0.0;
        for h in 0..hours {
            let t = start + Duration::hours(h);
            let hour = f64::from(chrono::Timelike::hour(&t));
            let weekday = chrono::Datelike::weekday(&t).num_days_from_monday();
            let daily =
                0.35 + 0.65 * (((hour - 14.0) / 24.0 * std::f64::consts::TAU).cos() + 1.0) / 2.0;
            let weekly = if weekday >= 5 { 0.55 } else { 1.0 };
            sum += daily * weekly;
            cumulative.push(sum);
        }
        TimeLine { start, cumulative }
    }

    /// The time at fraction `u` of the whole weight.
    fn at(&self, u: f64) -> DateTime<Utc> {
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let target = u.clamp(0.0, 1.0) * total;
        let h = self.cumulative.partition_point(|c| *c < target);
        let before = if h == 0 {
            0.0
        } else {
            self.cumulative.get(h - 1).copied().unwrap_or(0.0)
        };
        let here = self.cumulative.get(h).copied().unwrap_or(total);
        let within = if here > before {
            (target - before) / (here - before)
        } else {
            0.0
        };
        let micros = ((h as f64 + within) * 3_600_000_000.0) as i64;
        self.start + Duration::microseconds(micros)
    }
}

fn sentence(rng: &mut StdRng, words: usize) -> String {
    (0..words)
        .map(|_| WORDS[rng.random_range(0..WORDS.len())])
        .collect::<Vec<_>>()
        .join(" ")
}

fn base_record(rng: &mut StdRng, org: &str, m: &Model, at: DateTime<Utc>) -> RequestRecord {
    RequestRecord {
        uid: Uuid::now_v7(),
        request_id: Uuid::new_v4(),
        org_id: org.to_string(),
        created_at: at,
        provider: m.provider.to_string(),
        target_url: m.target_url.to_string(),
        path: m.path.to_string(),
        method: "POST".into(),
        request_model: Some(m.name.to_string()),
        model: Some(m.name.to_string()),
        stream: rng.random::<f64>() < 0.35,
        attempts: 1,
        body_cap_bytes: 1 << 20,
        ..RequestRecord::default()
    }
}

fn properties(rng: &mut StdRng, r: &mut RequestRecord, frac: f64) {
    let env = match rng.random::<f64>() {
        x if x < 0.80 => "production",
        x if x < 0.95 => "staging",
        _ => "development",
    };
    if rng.random::<f64>() < 0.95 {
        r.properties.push(("environment".into(), env.into()));
    }
    if rng.random::<f64>() < 0.7 {
        let f = FEATURES[rng.random_range(0..FEATURES.len())];
        r.properties.push(("feature".into(), f.into()));
    }
    if rng.random::<f64>() < 0.6 {
        // Newer versions take over as time goes on.
        let v = ((frac * 7.0 + rng.random::<f64>() * 1.5) as u32).min(7);
        r.properties
            .push(("app_version".into(), format!("1.{v}.0")));
    }
    if rng.random::<f64>() < 0.5 {
        let k = (rng.random::<f64>().powi(2) * 500.0) as u32;
        r.properties
            .push(("customer".into(), format!("cust-{k:03}")));
    }
}

/// How the request went: tokens, latency, status, cost, bodies, cache and
/// retries (a retried request's failed attempt is pushed to `batch`).
fn outcome(
    rng: &mut StdRng,
    r: &mut RequestRecord,
    m: &Model,
    prices: &PriceTable,
    batch: &mut Vec<RequestRecord>,
) {
    let prompt_tokens = (60.0 * (rng.random::<f64>() * 3.6).exp()) as u64;
    let completion_tokens = (20.0 * (rng.random::<f64>() * 3.4).exp()) as u64;
    let mut usage = Usage {
        prompt_tokens,
        completion_tokens,
        ..Usage::default()
    };
    if m.provider == "anthropic" && rng.random::<f64>() < 0.3 {
        usage.prompt_cache_read_tokens = prompt_tokens / 2;
    }
    let slow = if rng.random::<f64>() < 0.02 { 3.0 } else { 1.0 };
    let latency = ((m.base_ms + m.per_token_ms * completion_tokens as f64)
        * (0.7 + rng.random::<f64>() * 0.6)
        * slow) as u64;
    let words = 8 + rng.random_range(0..30);
    let user_text = sentence(rng, words);
    r.request_body = Some(format!(
        r#"{{"messages":[{{"content":"You are a helpful assistant for the {} team.","role":"system"}},{{"content":"{user_text}","role":"user"}}],"model":"{}","stream":{}}}"#,
        r.properties
            .iter()
            .find(|(k, _)| k == "feature")
            .map_or("product", |(_, v)| v.as_str()),
        m.name,
        r.stream
    ));
    let roll = rng.random::<f64>();
    let cost_of = |u: &Usage, at: DateTime<Utc>| {
        prices
            .cost(&CostQuery {
                provider_id: m.provider,
                model: m.name,
                usage: u,
                at,
                service_tier: None,
            })
            .map(|c| c.nano_usd)
    };
    let respond = |r: &mut RequestRecord, rng: &mut StdRng| {
        let answer = sentence(rng, 10 + (completion_tokens.min(400) / 8) as usize);
        r.response_body = Some(if r.stream {
            format!(
                "data: {{\"id\":\"chatcmpl-seed\",\"object\":\"chat.completion.chunk\",\"model\":\"{}\",\"choices\":[{{\"index\":0,\"delta\":{{\"role\":\"assistant\",\"content\":\"{answer}\"}}}}]}}\n\ndata: {{\"id\":\"chatcmpl-seed\",\"object\":\"chat.completion.chunk\",\"model\":\"{}\",\"choices\":[{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"stop\"}}],\"usage\":{{\"prompt_tokens\":{prompt_tokens},\"completion_tokens\":{completion_tokens}}}}}\n\ndata: [DONE]\n\n",
                m.name, m.name
            )
        } else {
            format!(
                r#"{{"choices":[{{"finish_reason":"stop","index":0,"message":{{"content":"{answer}","role":"assistant"}}}}],"id":"chatcmpl-seed","model":"{}","object":"chat.completion","usage":{{"completion_tokens":{completion_tokens},"prompt_tokens":{prompt_tokens}}}}}"#,
                m.name
            )
        });
    };
    let at = r.created_at;
    let finish = |r: &mut RequestRecord, latency: u64| {
        r.latency_ms = Some(latency);
        r.response_created_at =
            Some(at + Duration::milliseconds(i64::try_from(latency).unwrap_or(0)));
    };
    if roll < 0.005 {
        // Refused by a heliport rate limit: nothing went upstream.
        r.status = Some(429);
        r.failure = Some("rate_limited".into());
        r.attempts = 0;
        r.cost_nano_usd = Some(0);
        r.stream = false;
        r.response_body = Some(r#"{"error":{"message":"rate limit exceeded","type":"rate_limited","code":"rate_limited"}}"#.into());
        finish(r, 1);
        return;
    }
    if roll < 0.025 {
        // A provider error.
        let status = [500u16, 502, 503, 429, 429, 400][rng.random_range(0..6)];
        r.status = Some(status);
        r.cost_nano_usd = Some(0);
        r.stream = false;
        r.response_body = Some(format!(
            r#"{{"error":{{"message":"upstream error {status}","type":"server_error"}}}}"#
        ));
        finish(r, (m.base_ms * (0.3 + rng.random::<f64>())) as u64);
        return;
    }
    if roll < 0.028 {
        // The client went away: cut short, cost unknown.
        r.failure = Some("cancelled".into());
        r.cost_nano_usd = None;
        if r.stream {
            r.status = Some(200);
            r.time_to_first_token_ms = Some((m.base_ms * 0.8) as u64);
        }
        finish(r, latency / 2);
        return;
    }
    if roll < 0.030 {
        r.status = Some(504);
        r.failure = Some("upstream_timeout".into());
        r.cost_nano_usd = None;
        r.stream = false;
        finish(r, 600_000);
        return;
    }
    r.status = Some(200);
    r.response_model = Some(m.name.to_string());
    r.usage = Some(usage);
    let cost = cost_of(&usage, at);
    respond(r, rng);
    if rng.random::<f64>() < 0.07 {
        r.cache_enabled = true;
        if rng.random::<f64>() < 0.6 {
            // A hit: replayed from the cache, cost nothing, saved the original's.
            r.cached = true;
            r.attempts = 0;
            r.cost_nano_usd = Some(0);
            r.cache_saved_nano_usd = cost;
            r.cache_reference_id = Some(Uuid::new_v4().to_string());
            r.cache_bucket_idx = Some(0);
            if r.stream {
                r.time_to_first_token_ms = Some(1);
            }
            finish(r, 1 + rng.random_range(0..4));
            return;
        }
        r.cache_bucket_idx = Some(0);
    }
    r.cost_nano_usd = cost;
    if r.stream {
        r.time_to_first_token_ms = Some((m.base_ms * (0.6 + rng.random::<f64>() * 0.5)) as u64);
    }
    if rng.random::<f64>() < 0.01 {
        // Answered on the second attempt; the first is recorded under it.
        r.attempts = 2;
        let mut attempt = r.clone();
        attempt.uid = Uuid::now_v7();
        attempt.request_id = Uuid::new_v4();
        attempt.parent_request_id = Some(r.request_id);
        attempt.attempts = 1;
        attempt.status = Some(503);
        attempt.usage = None;
        attempt.cost_nano_usd = Some(0);
        attempt.time_to_first_token_ms = None;
        attempt.response_body = Some(r#"{"error":{"message":"overloaded"}}"#.into());
        attempt.latency_ms = Some(40);
        attempt.prompt_template = None;
        batch.push(attempt);
    }
    finish(r, latency);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeline_is_ordered_and_inside_the_span() {
        let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let t = TimeLine::new(start, 48);
        let mut last = start;
        for i in 0..1000 {
            let at = t.at(i as f64 / 1000.0);
            assert!(at >= last && at <= start + Duration::hours(48));
            last = at;
        }
    }
}
