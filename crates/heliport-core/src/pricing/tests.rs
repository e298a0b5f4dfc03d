use std::sync::OnceLock;
use std::time::Instant;

use chrono::{DateTime, Utc};

use super::*;

fn table() -> &'static PriceTable {
    static TABLE: OnceLock<PriceTable> = OnceLock::new();
    TABLE.get_or_init(|| PriceTable::builtin().unwrap())
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

const NOW: &str = "2026-11-01T12:00:00Z";

fn usage(prompt: u64, completion: u64, read: u64, write: u64) -> Usage {
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        prompt_cache_read_tokens: read,
        prompt_cache_write_tokens: write,
        ..Usage::default()
    }
}

fn cost_at<'t>(
    t: &'t PriceTable,
    provider: &str,
    model: &str,
    u: &Usage,
    when: &str,
    tier: Option<&str>,
) -> Option<Cost<'t>> {
    t.cost(&CostQuery {
        provider_id: provider,
        model,
        usage: u,
        at: at(when),
        service_tier: tier,
    })
}

fn nano(provider: &str, model: &str, u: &Usage) -> Option<i64> {
    cost_at(table(), provider, model, u, NOW, None).map(|c| c.nano_usd)
}

#[test]
fn gpt_4o_input_and_output() {
    let c = cost_at(
        table(),
        "openai",
        "gpt-4o",
        &usage(1000, 500, 0, 0),
        NOW,
        None,
    )
    .unwrap();
    // 2.5 * 1000 + 10 * 500 micro-USD
    assert_eq!(
        c,
        Cost {
            nano_usd: 7_500_000,
            provider_id: "openai",
            model_id: "gpt-4o",
        }
    );
}

#[test]
fn gpt_4o_cached_tokens_pay_cache_read_price() {
    // 600 uncached at 2.5, 400 cached at 1.25, 500 out at 10
    assert_eq!(
        nano("openai", "gpt-4o", &usage(1000, 500, 400, 0)),
        Some(7_000_000)
    );
    // dated snapshots resolve to the same entry
    assert_eq!(
        nano("openai", "gpt-4o-2024-08-06", &usage(1000, 500, 400, 0)),
        Some(7_000_000)
    );
}

#[test]
fn anthropic_cache_write_and_read() {
    let u = usage(10_000, 1_000, 6_000, 2_000);
    let c = cost_at(
        table(),
        "anthropic",
        "claude-haiku-4-5-20251001",
        &u,
        NOW,
        None,
    )
    .unwrap();
    assert_eq!(c.model_id, "claude-haiku-4-5");
    // 2000 uncached * 1 + 6000 read * 0.1 + 2000 written * 1.25 + 1000 out * 5
    assert_eq!(c.nano_usd, 10_100_000);
}

#[test]
fn missing_cache_price_keeps_tokens_in_input() {
    // gpt-4 has no cache prices: the 400 "cached" tokens pay the input price.
    let plain = nano("openai", "gpt-4", &usage(1000, 500, 0, 0)).unwrap();
    assert_eq!(
        nano("openai", "gpt-4", &usage(1000, 500, 400, 100)),
        Some(plain)
    );
}

#[test]
fn uncached_input_never_goes_negative() {
    // inconsistent usage: more cached than prompt tokens
    assert_eq!(
        nano("openai", "gpt-4o", &usage(100, 0, 400, 0)),
        Some(400 * 1_250)
    );
}

#[test]
fn tiers_are_cliffs_chosen_by_total_input() {
    let model = "claude-sonnet-4-5-20250929";
    // at the threshold: base prices (3 in, 0.3 read, 3.75 write, 15 out)
    let below = usage(200_000, 1_000, 50_000, 10_000);
    assert_eq!(
        nano("anthropic", model, &below),
        Some((140_000 * 3_000 + 50_000 * 300 + 10_000 * 3_750 + 1_000 * 15_000) as i64)
    );
    // one token over: every token at the tier price, output included
    let above = usage(200_001, 1_000, 50_000, 10_000);
    assert_eq!(
        nano("anthropic", model, &above),
        Some((140_001 * 6_000 + 50_000 * 600 + 10_000 * 7_500 + 1_000 * 22_500) as i64)
    );
}

#[test]
fn conditional_price_switches_on_start_date() {
    // o3: 10 / 40 until 2025-06-10, then 2 / 8
    let u = usage(1000, 1000, 0, 0);
    let before = cost_at(table(), "openai", "o3", &u, "2025-06-09T23:59:59Z", None).unwrap();
    let on = cost_at(table(), "openai", "o3", &u, "2025-06-10T00:00:00Z", None).unwrap();
    assert_eq!(before.nano_usd, 50_000_000);
    assert_eq!(on.nano_usd, 10_000_000);
}

#[test]
fn deepseek_time_of_day_prices() {
    // standard 0.27 / 1.1 from 00:30 to 16:30 UTC, off-peak 0.135 / 0.55 otherwise
    let u = usage(1000, 1000, 0, 0);
    let peak = |t: &str| {
        cost_at(table(), "deepseek", "deepseek-chat", &u, t, None)
            .unwrap()
            .nano_usd
    };
    assert_eq!(peak("2026-11-01T12:00:00Z"), 1_370_000);
    assert_eq!(peak("2026-11-01T00:30:00Z"), 1_370_000);
    assert_eq!(peak("2026-11-01T16:30:00Z"), 685_000);
    assert_eq!(peak("2026-11-01T20:00:00Z"), 685_000);
    assert_eq!(peak("2026-11-01T00:29:59Z"), 685_000);
}

#[test]
fn time_of_day_window_wraps_past_midnight() {
    let t = PriceTable::from_json(
        r#"[{"id": "night", "api_pattern": "night", "models": [{"id": "m", "match": {"equals": "m"},
        "prices": [{"prices": {"input_mtok": "2"}},
                   {"constraint": {"start_time": "22:00:00Z", "end_time": "06:00:00Z"}, "prices": {"input_mtok": "1"}}]}]}]"#,
    )
    .unwrap();
    let u = usage(1000, 0, 0, 0);
    let n = |when| cost_at(&t, "night", "m", &u, when, None).unwrap().nano_usd;
    assert_eq!(n("2026-01-01T23:00:00Z"), 1_000_000);
    assert_eq!(n("2026-01-01T03:00:00Z"), 1_000_000);
    assert_eq!(n("2026-01-01T12:00:00Z"), 2_000_000);
}

#[test]
fn service_tier_variant_applies_from_its_start_date() {
    let u = usage(1000, 500, 0, 0);
    let priority = |when| {
        cost_at(table(), "openai", "gpt-4o", &u, when, Some("priority"))
            .unwrap()
            .nano_usd
    };
    assert_eq!(priority("2026-10-11T23:59:59Z"), 7_500_000);
    // 4.25 * 1000 + 17 * 500
    assert_eq!(priority("2026-10-12T00:00:00Z"), 12_750_000);
    for tier in ["default", "flex", "auto"] {
        assert_eq!(
            cost_at(table(), "openai", "gpt-4o", &u, NOW, Some(tier))
                .unwrap()
                .nano_usd,
            7_500_000,
            "{tier}"
        );
    }
}

#[test]
fn variant_overrides_only_its_fields() {
    let t = PriceTable::from_json(
        r#"[{"id": "p", "api_pattern": "p", "models": [{"id": "m", "match": {"equals": "m"},
        "prices": {"input_mtok": 2, "output_mtok": 8, "requests_kcount": 1000},
        "price_variants": [
            {"when": {"service_tier": "flex"}, "prices": {"input_mtok": 1, "output_mtok": 4}},
            {"when": {"service_tier": ["priority", "fast"]}, "prices": {"input_mtok": 4, "output_mtok": 16}},
            {"when": {"processing": "batch"}, "prices": {"input_mtok": 0.5}},
            {"when": {}, "prices": {"input_mtok": 0.1}}
        ]}]}]"#,
    )
    .unwrap();
    let u = usage(1_000_000, 1_000_000, 0, 0);
    let usd = |tier| cost_at(&t, "p", "m", &u, NOW, tier).unwrap().nano_usd / 1_000_000_000;
    assert_eq!(usd(None), 11);
    assert_eq!(usd(Some("flex")), 6);
    assert_eq!(usd(Some("fast")), 21);
    assert_eq!(usd(Some("priority")), 21);
    // The reference compares context values exactly.
    assert_eq!(usd(Some("Priority")), 11);
    assert_eq!(usd(Some("batch")), 11);
}

#[test]
fn unknown_provider_or_model_is_unpriced() {
    let u = usage(1000, 500, 0, 0);
    assert_eq!(nano("openai", "no-such-model", &u), None);
    assert_eq!(nano("no-such-provider", "gpt-4o", &u), None);
    assert!(table().describe("no-such-model", None, at(NOW)).is_empty());
}

#[test]
fn provider_for_url() {
    let t = table();
    let cases = [
        ("https://api.openai.com/v1/chat/completions", "openai"),
        ("https://api.anthropic.com/v1/messages", "anthropic"),
        (
            "https://myres.openai.azure.com/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21",
            "azure",
        ),
        (
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent",
            "google",
        ),
        ("https://api.groq.com/openai/v1/chat/completions", "groq"),
        ("https://openrouter.ai/api/v1/chat/completions", "openrouter"),
        ("https://API.OpenAI.com/v1/chat/completions", "openai"),
    ];
    for (url, id) in cases {
        assert_eq!(t.provider_for_url(url), Some(id), "{url}");
    }
    assert_eq!(t.provider_for_url("https://example.com/v1/chat"), None);
}

#[test]
fn model_and_provider_refs_match_case_insensitively() {
    let u = usage(1000, 500, 0, 0);
    assert_eq!(nano("openai", "GPT-4o", &u), Some(7_500_000));
    assert_eq!(nano(" OpenAI ", "gpt-4O-2024-11-20", &u), Some(7_500_000));
    // provider_match: "anthropic" is contained in the id
    let c = cost_at(
        table(),
        "anthropic-vertex",
        "claude-haiku-4-5",
        &u,
        NOW,
        None,
    )
    .unwrap();
    assert_eq!(c.provider_id, "anthropic");
}

#[test]
fn reseller_borrows_models_without_their_variants() {
    let u = usage(1000, 500, 0, 0);
    let c = cost_at(table(), "azure", "gpt-4o", &u, NOW, Some("priority")).unwrap();
    assert_eq!(c.nano_usd, 7_500_000);
    assert_eq!(c.provider_id, "azure");
    assert_eq!(c.model_id, "gpt-4o");
    // azure's own entries come first
    assert!(cost_at(table(), "azure", "phi-4", &u, NOW, None).is_some());
}

#[test]
fn merge_lets_the_overriding_file_win() {
    let mut t = PriceTable::builtin().unwrap();
    let newer = PriceTable::from_json(
        r#"[{"id": "openai", "models": [{"id": "gpt-4o", "match": {"_type": "ClauseEquals", "equals": "gpt-4o"},
             "prices": {"input_mtok": "1", "output_mtok": "2"}}]},
            {"id": "acme", "name": "Acme", "api_pattern": "https://llm\\.acme\\.test",
             "models": [{"id": "acme-1", "match": {"starts_with": "acme-1"}, "prices": {"input_mtok": "0.1", "output_mtok": "0.2"}}]}]"#,
    )
    .unwrap();
    t.merge(newer);
    let u = usage(1000, 500, 0, 0);
    let n = |p, m| cost_at(&t, p, m, &u, NOW, None).map(|c| c.nano_usd);
    assert_eq!(n("openai", "gpt-4o"), Some(2_000_000));
    // the rest of openai's models are still there, and its URL pattern kept
    assert_eq!(n("openai", "gpt-4o-2024-08-06"), Some(7_500_000));
    assert_eq!(
        t.provider_for_url("https://api.openai.com/v1/x"),
        Some("openai")
    );
    assert_eq!(n("acme", "acme-1-mini"), Some(200_000));
    assert_eq!(
        t.provider_for_url("https://llm.acme.test/v1/chat"),
        Some("acme")
    );
}

#[test]
fn override_prices_an_unknown_fine_tuned_model() {
    let mut t = PriceTable::builtin().unwrap();
    let o: ModelPriceOverride = serde_json::from_str(
        r#"{"provider": "openai", "model": "ft:gpt-4o:acme", "input_mtok": 3.0, "output_mtok": "12", "cache_read_mtok": 1.5}"#,
    )
    .unwrap();
    assert_eq!(o.input_mtok, "3");
    t.add_override(&o).unwrap();
    let u = usage(1000, 100, 200, 0);
    let c = cost_at(&t, "openai", "FT:gpt-4o:acme", &u, NOW, None).unwrap();
    // 800 * 3 + 200 * 1.5 + 100 * 12
    assert_eq!(c.nano_usd, 3_900_000);
    assert_eq!(c.model_id, "ft:gpt-4o:acme");
    // a later merge does not unseat it
    t.merge(
        PriceTable::from_json(
            r#"[{"id": "openai", "models": [{"id": "any", "match": {"contains": "gpt"}, "prices": {"input_mtok": "9"}}]}]"#,
        )
        .unwrap(),
    );
    assert_eq!(
        cost_at(&t, "openai", "ft:gpt-4o:acme", &u, NOW, None)
            .unwrap()
            .nano_usd,
        3_900_000
    );

    // a provider the table does not know
    let o = ModelPriceOverride {
        provider: "my-vllm".into(),
        model: "Llama-3-8B".into(),
        input_mtok: "0.1".into(),
        output_mtok: "0.2".into(),
        cache_read_mtok: None,
        cache_write_mtok: None,
    };
    t.add_override(&o).unwrap();
    let c = cost_at(
        &t,
        "my-vllm",
        "llama-3-8b",
        &usage(1_000_000, 1_000_000, 0, 0),
        NOW,
        None,
    )
    .unwrap();
    assert_eq!(c.nano_usd, 300_000_000);
}

#[test]
fn override_float_prices_are_read_exactly() {
    let o: ModelPriceOverride = serde_json::from_str(
        r#"{"provider": "p", "model": "m", "input_mtok": 0.1, "output_mtok": 0.3, "cache_write_mtok": null}"#,
    )
    .unwrap();
    assert_eq!(
        (o.input_mtok.as_str(), o.output_mtok.as_str()),
        ("0.1", "0.3")
    );
    assert_eq!(o.cache_write_mtok, None);
    let mut t = PriceTable::from_json("[]").unwrap();
    t.add_override(&o).unwrap();
    let c = cost_at(
        &t,
        "p",
        "m",
        &usage(10_000_000, 10_000_000, 0, 0),
        NOW,
        None,
    )
    .unwrap();
    assert_eq!(c.nano_usd, 4_000_000_000);

    let bad = ModelPriceOverride {
        input_mtok: "cheap".into(),
        ..o
    };
    let err = t.add_override(&bad).unwrap_err().to_string();
    assert_eq!(
        err,
        r#"price override p / m, input_mtok: price "cheap" is not a decimal number"#
    );
    assert!(serde_json::from_str::<ModelPriceOverride>(
        r#"{"provider": "p", "model": "m", "input_mtok": 1, "output_mtok": 1, "input_price": 2}"#
    )
    .is_err());
}

#[test]
fn requests_and_reasoning_prices() {
    // sonar-deep-research: 2 in, 8 out, 3 per 1M reasoning tokens
    let mut u = usage(1000, 3000, 0, 0);
    u.reasoning_tokens = 2000;
    assert_eq!(
        nano("perplexity", "sonar-deep-research", &u),
        Some(2 * 1000 * 1000 + 8 * 1000 * 1000 + 3 * 2000 * 1000)
    );
    let t = PriceTable::from_json(
        r#"[{"id": "p", "models": [{"id": "m", "match": {"equals": "m"}, "prices": {"requests_kcount": "5", "input_mtok": "1"}}]}]"#,
    )
    .unwrap();
    // $5 per 1000 requests: half a cent per request, plus 1000 input tokens
    let c = cost_at(&t, "p", "m", &usage(1000, 0, 0, 0), NOW, None).unwrap();
    assert_eq!(c.nano_usd, 5_000_000 + 1_000_000);
}

#[test]
fn rounding_is_half_up_once() {
    let t = PriceTable::from_json(
        r#"[{"id": "p", "models": [{"id": "m", "match": {"equals": "m"}, "prices": {"input_mtok": "0.0005", "output_mtok": "0.0000000001"}}]}]"#,
    )
    .unwrap();
    // 1 token at 0.0005/M = 0.5 nano -> 1
    assert_eq!(
        cost_at(&t, "p", "m", &usage(1, 0, 0, 0), NOW, None)
            .unwrap()
            .nano_usd,
        1
    );
    // 10 decimals are exact: 5M tokens at 1e-10/M = 0.5 nano, plus 0.5 nano input -> 1
    assert_eq!(
        cost_at(&t, "p", "m", &usage(1, 5_000_000, 0, 0), NOW, None)
            .unwrap()
            .nano_usd,
        1
    );
}

#[test]
fn too_precise_price_is_a_load_error() {
    let err = PriceTable::from_json(
        r#"[{"id": "acme", "models": [{"id": "m1", "match": {"equals": "m1"},
            "prices": [{"prices": {"input_mtok": "1"}},
                       {"constraint": {"start_date": "2026-01-01"}, "prices": {"input_mtok": "0.0000000000000000001"}}]}]}]"#,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "price table: provider \"acme\", model \"m1\", prices[1].prices.input_mtok: \
         price \"0.0000000000000000001\" has more than 18 decimal places, which heliport cannot hold exactly"
    );
}

#[test]
fn load_errors_name_where() {
    let cases = [
        (
            r#"[{"id": "p", "models": [{"id": "m", "match": {"regex": "("}, "prices": {}}]}]"#,
            r#"price table: provider "p", model "m", match.regex: regex "(" does not compile"#,
        ),
        (
            r#"[{"id": "p", "models": [{"id": "m", "prices": {}}]}]"#,
            r#"price table: provider "p", model "m": missing `match`"#,
        ),
        (
            r#"[{"id": "p", "models": [{"id": "m", "match": {"equals": "m"}, "prices": {"input_mtok": {"base": "1", "tiers": [{"start": -1, "price": "2"}]}}}]}]"#,
            r#"price table: provider "p", model "m", prices.input_mtok.tiers[0].start: expected a non-negative integer `start`"#,
        ),
        (
            r#"[{"id": "p", "models": [{"id": "m", "match": {"equals": "m"}, "prices": {"input_mtok": "-1"}}]}]"#,
            r#"price table: provider "p", model "m", prices.input_mtok: price "-1" is negative"#,
        ),
        (
            r#"{"nope": 1}"#,
            "price table: expected an array of providers",
        ),
    ];
    for (json, want) in cases {
        let err = PriceTable::from_json(json).unwrap_err().to_string();
        assert!(err.starts_with(want), "{err}\n  wanted {want}");
    }
    assert!(matches!(
        PriceTable::from_json("[{"),
        Err(PriceError::Json(_))
    ));
}

#[test]
fn builtin_loads_and_every_entry_compiles() {
    let t = table();
    assert_eq!(t.providers.len(), 47);
    let models: usize = t.providers.iter().map(|p| p.models.len()).sum();
    assert_eq!(models, 2330);
    let mut self_priced = 0;
    for p in &t.providers {
        assert!(p.api_pattern.is_some(), "{}", p.id);
        for m in &p.models {
            assert!(!m.prices.is_empty(), "{}/{}", p.id, m.id);
            let u = usage(1000, 1000, 0, 0);
            if m.matcher.is_match(&m.id.to_lowercase())
                && cost_at(t, &p.id, &m.id, &u, NOW, None).is_some()
            {
                self_priced += 1;
            }
        }
        for f in p.fallback.iter() {
            assert!(t.providers.iter().any(|q| q.id == *f), "{} -> {f}", p.id);
        }
    }
    // Ids are not always match strings (AWS's `regional.*` entries), but
    // nearly all are, and those must price.
    assert!(self_priced > 2200, "{self_priced}");
    // Loading is fast: measured in a release build it is far below 100 ms.
    let start = Instant::now();
    let _ = PriceTable::builtin().unwrap();
    println!("builtin price table parsed in {:?}", start.elapsed());
}

#[test]
fn cost_lookups_are_cheap() {
    let t = table();
    let u = usage(1000, 500, 200, 0);
    let refs = [
        ("openai", "gpt-4o-mini"),
        ("anthropic", "claude-sonnet-4-5-20250929"),
        ("openrouter", "meta-llama/llama-3.3-70b-instruct"),
        ("google", "gemini-2.5-flash"),
    ];
    let start = Instant::now();
    let mut priced = 0;
    for _ in 0..250 {
        for (p, m) in refs {
            priced += usize::from(cost_at(t, p, m, &u, NOW, None).is_some());
        }
    }
    println!("1000 cost() calls in {:?}", start.elapsed());
    assert_eq!(priced, 1000);
}

#[test]
fn describe_renders_a_readable_block() {
    let d = table().describe("GPT-4o", Some("openai"), at(NOW));
    assert_eq!(d.len(), 1);
    let text = d[0].to_string();
    assert!(
        text.starts_with(
            "openai / gpt-4o (gpt 4o)\n  input      $2.50 / 1M tokens\n  output     $10.00 / 1M tokens\n  cache read $1.25 / 1M tokens\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("  web searches $10.00 / 1K web searches\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "  service tier priority (since 2026-10-12):\n    input      $4.25 / 1M tokens\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("(prices changed on 2026-10-12; showing those in force on 2026-11-01)"),
        "{text}"
    );

    let d = table().describe("claude-sonnet-4-5", Some("anthropic"), at(NOW));
    let text = d[0].to_string();
    assert!(text.contains("  input      $3.00 / 1M tokens\n  input above 200000 input tokens: $6.00 / 1M tokens\n"), "{text}");

    let d = table().describe(
        "deepseek-chat",
        Some("deepseek"),
        at("2026-11-01T20:00:00Z"),
    );
    let text = d[0].to_string();
    assert!(text.contains("  input      $0.135 / 1M tokens\n"), "{text}");
    assert!(text.contains("(prices differ during 00:30:00-16:30:00 UTC; showing those in force at 2026-11-01 20:00:00 UTC)"), "{text}");

    let d = table().describe("gpt-4o", Some("azure"), at(NOW));
    assert_eq!(d[0].priced_as.as_deref(), Some("openai"));
    assert!(d[0].service_tiers.is_empty());

    // without a provider: every provider listing the model
    let all = table().describe("gpt-4o", None, at(NOW));
    assert!(all.iter().any(|d| d.provider_id == "openai"));
    assert!(all.iter().all(|d| d.provider_id != "azure"));
}

#[test]
fn table_can_be_shared_across_tasks() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<PriceTable>();
}

#[test]
fn first_variant_in_force_wins_each_price() {
    // The table lists a tier's variants newest first; both are in force
    // from the later date on, and the first one prices.
    let t = PriceTable::from_json(
        r#"[{"id": "p", "api_pattern": "p", "models": [{"id": "m", "match": {"equals": "m"},
        "prices": {"input_mtok": 2, "output_mtok": 8},
        "price_variants": [
            {"when": {"service_tier": "flex"}, "prices": {"input_mtok": 1}, "constraint": {"start_date": "2027-01-01"}},
            {"when": {"service_tier": "flex"}, "prices": {"input_mtok": "0.5", "output_mtok": 2}, "constraint": {"start_date": "2026-10-15"}}
        ]}]}]"#,
    )
    .unwrap();
    let u = usage(1_000_000, 1_000_000, 0, 0);
    let usd = |when| {
        cost_at(&t, "p", "m", &u, when, Some("flex"))
            .unwrap()
            .nano_usd as f64
            / 1e9
    };
    assert_eq!(usd("2026-10-14T23:59:59Z"), 10.0);
    assert_eq!(usd("2026-10-15T00:00:00Z"), 2.5);
    // input from the first variant, output from the second (the first has none)
    assert_eq!(usd("2027-01-01T00:00:00Z"), 3.0);

    // The shipped table: Gemini TTS flex prices double on 2027-01-01.
    let u = usage(1_000_000, 1_000_000, 0, 0);
    let flex = |when| {
        cost_at(
            table(),
            "google",
            "gemini-3.8-flash-tts",
            &u,
            when,
            Some("flex"),
        )
        .unwrap()
        .nano_usd
    };
    assert_eq!(flex("2026-11-30T12:00:00Z"), 4_750_000_000);
    assert_eq!(flex("2027-01-01T00:00:00Z"), 9_500_000_000);
}

#[test]
fn conditional_prices_last_in_force_else_first() {
    let t = PriceTable::from_json(
        r#"[{"id": "p", "models": [{"id": "m", "match": {"equals": "m"}, "prices": [
            {"constraint": {"start_date": "2026-01-01"}, "prices": {"input_mtok": 1}},
            {"constraint": {"start_date": "2026-06-01"}, "prices": {"input_mtok": 2}},
            {"constraint": {"start_date": "2026-03-01"}, "prices": {"input_mtok": 3}}
        ]}]}]"#,
    )
    .unwrap();
    let u = usage(1_000_000, 0, 0, 0);
    let usd = |when| cost_at(&t, "p", "m", &u, when, None).unwrap().nano_usd / 1_000_000_000;
    // none in force yet: the first
    assert_eq!(usd("2025-12-31T23:59:59Z"), 1);
    assert_eq!(usd("2026-02-01T00:00:00Z"), 1);
    assert_eq!(usd("2026-04-01T00:00:00Z"), 3);
    // later in the list wins over later in time
    assert_eq!(usd("2026-07-01T00:00:00Z"), 3);
}

#[test]
fn compact_dates_are_spelled_out_when_nothing_matches() {
    assert_eq!(
        expand_compact_dates("gpt-4o-20240806").as_deref(),
        Some("gpt-4o-2024-08-06")
    );
    assert_eq!(
        expand_compact_dates("x-20250101-20251211:thinking").as_deref(),
        Some("x-2025-01-01-2025-12-11:thinking")
    );
    // not a calendar date, not 20xx, more digits, no dash before
    assert_eq!(expand_compact_dates("m-20250231"), None);
    assert_eq!(expand_compact_dates("m-19990101"), None);
    assert_eq!(expand_compact_dates("m-202401011"), None);
    assert_eq!(expand_compact_dates("m20240101"), None);
    assert_eq!(expand_compact_dates("m-2024010"), None);
    assert_eq!(
        expand_compact_dates("m-20250231-20240229").as_deref(),
        Some("m-20250231-2024-02-29")
    );

    let u = usage(1000, 500, 0, 0);
    assert_eq!(nano("openai", "gpt-4o-20240806", &u), Some(7_500_000));
    assert_eq!(nano("openai", "GPT-4O-20240806", &u), Some(7_500_000));
    // through a fallback provider too
    assert_eq!(nano("azure", "gpt-4o-20240806", &u), Some(7_500_000));
    assert_eq!(nano("openai", "gpt-4o-20241306", &u), None);
    let shown = table().describe("gpt-4o-20240806", None, at(NOW));
    assert!(shown
        .iter()
        .any(|d| d.provider_id == "openai" && d.model_id == "gpt-4o"));
}

#[test]
fn one_hour_cache_writes_and_web_searches() {
    // claude-sonnet-4-5: 3 in, 3.75 5-minute writes, 6 1-hour writes,
    // 0.3 reads, 15 out, $10 per 1000 web searches
    let u = Usage {
        prompt_tokens: 10_000,
        completion_tokens: 1_000,
        prompt_cache_read_tokens: 2_000,
        prompt_cache_write_tokens: 3_000,
        prompt_cache_write_5m_tokens: 1_000,
        prompt_cache_write_1h_tokens: 2_000,
        web_searches: 3,
        ..Usage::default()
    };
    assert_eq!(
        nano("anthropic", "claude-sonnet-4-5", &u),
        Some(
            5_000 * 3_000
                + 2_000 * 300
                + 1_000 * 3_750
                + 2_000 * 6_000
                + 1_000 * 15_000
                + 3 * 10_000_000
        )
    );
    // Past the tier, 1-hour writes pay the tier's price too.
    let big = Usage {
        prompt_tokens: 200_001,
        ..u
    };
    assert_eq!(
        nano("anthropic", "claude-sonnet-4-5", &big),
        Some(
            195_001 * 6_000
                + 2_000 * 600
                + 1_000 * 7_500
                + 2_000 * 12_000
                + 1_000 * 22_500
                + 3 * 10_000_000
        )
    );
}

#[test]
fn modality_prices() {
    // gemini-2.5-flash: 0.3 text in, 1 audio in, 0.03 cached, 0.1 cached audio, 2.5 out
    let u = Usage {
        prompt_tokens: 10_000,
        completion_tokens: 100,
        prompt_cache_read_tokens: 4_000,
        prompt_audio_tokens: 3_000,
        prompt_cache_read_audio_tokens: 1_000,
        prompt_image_tokens: 500,
        ..Usage::default()
    };
    // uncached text 10000-4000-3000+1000 = 4000 (images are not priced apart:
    // they stay in the input), uncached audio 2000, cached text 3000,
    // cached audio 1000
    assert_eq!(
        nano("google", "gemini-2.5-flash", &u),
        Some(4_000 * 300 + 2_000 * 1_000 + 3_000 * 30 + 1_000 * 100 + 100 * 2_500)
    );
    // gpt-image-1 prices images apart: 5 text, 10 image, 40 out
    let u = Usage {
        prompt_tokens: 1_000,
        prompt_image_tokens: 600,
        completion_tokens: 4_000,
        completion_image_tokens: 4_000,
        ..Usage::default()
    };
    assert_eq!(
        nano("openai", "gpt-image-1", &u),
        Some(400 * 5_000 + 600 * 10_000 + 4_000 * 40_000)
    );
}

#[test]
fn reasoning_priced_apart_only_where_the_table_says() {
    let u = Usage {
        reasoning_tokens: 400,
        ..usage(1000, 1000, 0, 0)
    };
    // grok-3-mini has one output price: reasoning is output
    assert_eq!(
        nano("x-ai", "grok-3-mini", &u),
        Some(1000 * 300 + 1000 * 500)
    );
}

#[test]
fn models_priced_only_in_units_heliport_does_not_measure_are_unpriced() {
    let u = usage(1000, 1000, 0, 0);
    for (provider, model) in [
        ("openai", "whisper-1"),
        ("openai", "tts-1"),
        ("groq", "whisper-large-v3"),
        ("mistral", "mistral-ocr-latest"),
        ("x-ai", "grok-voice-latest"),
    ] {
        assert_eq!(nano(provider, model, &u), None, "{provider}/{model}");
    }
    // tokens and audio hours: priced by the tokens
    assert_eq!(
        nano("mistral", "voxtral-small-24b-2507", &u),
        Some(1000 * 100 + 1000 * 400)
    );
    // listed without prices: free
    assert_eq!(nano("openrouter", "qwen/qwq-32b:free", &u), Some(0));
}

#[test]
fn unknown_price_keys_are_shown_but_not_charged() {
    let t = PriceTable::from_json(
        r#"[{"id": "p", "models": [{"id": "m", "match": {"equals": "m"},
        "prices": {"input_mtok": 1, "hologram_mtok": 100}}]}]"#,
    )
    .unwrap();
    let c = cost_at(&t, "p", "m", &usage(1_000_000, 0, 0, 0), NOW, None).unwrap();
    assert_eq!(c.nano_usd, 1_000_000_000);
    let d = t.describe("m", Some("p"), at(NOW));
    assert!(d[0].prices.iter().any(|l| l.field == "hologram_mtok"));
}

#[test]
fn a_remembered_match_gives_way_to_a_later_override() {
    let mut t = PriceTable::builtin().unwrap();
    let u = usage(1000, 100, 0, 0);
    // Owned: the table changes below, and a `Cost` borrows its ids from it.
    let owned = |c: Cost<'_>| {
        (
            c.provider_id.to_string(),
            c.model_id.to_string(),
            c.nano_usd,
        )
    };
    let first = owned(cost_at(&t, "openai", "gpt-4o-2024-08-06", &u, NOW, None).unwrap());
    assert_eq!(
        t.memo.lock().unwrap().bytes,
        "gpt-4o-2024-08-06".len() + MEMO_ENTRY_BYTES
    );
    // Asked again, the remembered entry prices it the same.
    assert_eq!(
        cost_at(&t, "openai", "gpt-4o-2024-08-06", &u, NOW, None).map(owned),
        Some(first.clone())
    );
    let o = ModelPriceOverride {
        provider: "openai".into(),
        model: "gpt-4o-2024-08-06".into(),
        input_mtok: "1".into(),
        output_mtok: "1".into(),
        cache_read_mtok: None,
        cache_write_mtok: None,
    };
    t.add_override(&o).unwrap();
    let overridden = cost_at(&t, "openai", "gpt-4o-2024-08-06", &u, NOW, None).unwrap();
    assert_eq!(overridden.nano_usd, 1_100_000);
    assert_ne!(overridden.nano_usd, first.2);
    // An override outranks a merged entry (as before); on a table without
    // one, a merged entry placed before the remembered one wins, and the
    // entries after it moved: a stale position would price another model.
    let mut t2 = PriceTable::builtin().unwrap();
    assert_eq!(
        cost_at(&t2, "openai", "gpt-4o-2024-08-06", &u, NOW, None).map(owned),
        Some(first.clone())
    );
    assert_eq!(
        cost_at(&t2, "openai", "gpt-4o-mini", &u, NOW, None).map(|c| c.model_id),
        Some("gpt-4o-mini")
    );
    t2.merge(
        PriceTable::from_json(
            r#"[{"id": "openai", "models": [{"id": "flat", "match": {"equals": "gpt-4o-2024-08-06"}, "prices": {"input_mtok": "2", "output_mtok": "2"}}]}]"#,
        )
        .unwrap(),
    );
    let merged = cost_at(&t2, "openai", "gpt-4o-2024-08-06", &u, NOW, None).unwrap();
    assert_eq!((merged.model_id, merged.nano_usd), ("flat", 2_200_000));
    assert_eq!(
        cost_at(&t2, "openai", "gpt-4o-mini", &u, NOW, None).map(|c| c.model_id),
        Some("gpt-4o-mini")
    );
    // Unknown models are remembered as unknown, and still unknown.
    assert!(cost_at(&t, "openai", "no-such-model-xyz", &u, NOW, None).is_none());
    assert!(cost_at(&t, "openai", "no-such-model-xyz", &u, NOW, None).is_none());
}

#[test]
fn the_match_memo_keeps_to_its_byte_budget() {
    let t = PriceTable::builtin().unwrap();
    let u = usage(10, 10, 0, 0);
    let per_name = "made-up-model-00000".len() + MEMO_ENTRY_BYTES;
    let names = 2 * MEMO_MAX_BYTES / per_name;
    for i in 0..names {
        let _ = cost_at(
            &t,
            "openai",
            &format!("made-up-model-{i:05}"),
            &u,
            NOW,
            None,
        );
        assert!(t.memo.lock().unwrap().bytes <= MEMO_MAX_BYTES);
    }
    // It started over rather than growing: fewer names than were asked about.
    let kept: usize = t
        .memo
        .lock()
        .unwrap()
        .entries
        .iter()
        .map(HashMap::len)
        .sum();
    assert!(kept < names, "{kept} of {names}");
    // A name longer than any model's is priced but not remembered.
    let before = t.memo.lock().unwrap().bytes;
    let long = "x".repeat(MEMO_MAX_NAME + 1);
    assert!(cost_at(&t, "openai", &long, &u, NOW, None).is_none());
    assert_eq!(t.memo.lock().unwrap().bytes, before);
    // Priced models still price after the memo started over.
    assert!(cost_at(&t, "openai", "gpt-4o", &u, NOW, None).is_some());
}
