//! The price engine: what a recorded request cost.
//!
//! Prices come from the [genai-prices](https://github.com/pydantic/genai-prices)
//! table (MIT, see `data/prices-genai-LICENSE`), shipped inside heliport and
//! optionally overlaid by a user's newer file and by `[[prices.models]]`
//! config entries. Lookups follow the library's semantics:
//!
//! - provider by id: exact id, then the provider's `provider_match`; by URL:
//!   the first provider whose `api_pattern` is found in the URL;
//! - model: the first entry whose `match` accepts the lowercased model
//!   reference, else the same in each `fallback_model_providers` entry (one
//!   level: Azure prices OpenAI's models); when nothing matches, the same
//!   again with compact dates spelled out (`gpt-4o-20240806` ->
//!   `gpt-4o-2024-08-06`);
//! - conditional prices: the last one in force at the request time, else the
//!   first; service-tier variants in force override prices one by one, the
//!   first variant (in table order) that sets a price winning;
//! - units: each priced unit is charged the part of its count that no more
//!   specific priced unit claims (1-hour cache writes leave the cache
//!   writes, audio input leaves the input, reasoning leaves the output); a
//!   unit without a price stays in the unit it is part of;
//! - tiers are cliffs: once the request's total input passes a tier's start,
//!   every token of that kind pays the tier's price.
//!
//! A model priced only in units heliport does not measure (audio seconds,
//! characters, pages, ...) is unpriced, not free; one with no prices at all
//! (OpenRouter's `:free` models) costs 0.
//!
//! Money is exact: prices are integers of 1e-18 USD per unit, a request's
//! cost is summed in u128 and rounded half up to nano-USD once.

mod decimal;
mod describe;
mod load;
mod model;
#[cfg(test)]
mod tests;
mod units;

use std::collections::HashMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

pub use describe::{PriceDescription, PriceLine, PriceTierLine, ServiceTierPrices};

use crate::usage::Usage;
use model::{lowercase, Clause, ConditionalPrice, Model, Price, PriceSet, Provider};
use units::{UnitId, UNIT_COUNT};

/// The genai-prices table heliport ships.
const BUILTIN_JSON: &str = include_str!("../../data/prices-genai-0.2.3.json");

/// Nano-USD per accumulated unit: tokens x (1e-18 USD per 1M tokens).
const ACC_PER_NANO_USD: u128 = 1_000_000 * 1_000_000_000;

/// A price table or override that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PriceError {
    /// The table is not JSON at all.
    #[error("price table is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A required field is missing or has the wrong shape.
    #[error("{location}: {problem}")]
    Invalid {
        /// Where, e.g. `price table: provider "openai", model "gpt-4o", prices`.
        location: String,
        /// What is wrong.
        problem: String,
    },
    /// A price that is not a non-negative decimal heliport can hold exactly.
    #[error("{location}: price {value:?} {problem}")]
    BadPrice {
        /// Where, down to the price field.
        location: String,
        /// The price as written.
        value: String,
        /// Why it was refused.
        problem: String,
    },
    /// A pattern that does not compile.
    #[error("{location}: regex {pattern:?} does not compile: {message}")]
    BadRegex {
        /// Where, down to the field holding the pattern.
        location: String,
        /// The pattern as written.
        pattern: String,
        /// The regex engine's complaint.
        message: String,
    },
}

/// A compiled price table: regexes are compiled once, at load.
pub struct PriceTable {
    providers: Vec<Provider>,
    /// Which entry each (provider, model) asked about matched.
    memo: std::sync::Mutex<MatchMemo>,
}

impl Clone for PriceTable {
    fn clone(&self) -> Self {
        PriceTable::with_providers(self.providers.clone())
    }
}

/// Matching walks a provider's patterns in order (hundreds for OpenAI) on
/// every priced record, and records ask about the same few models: the answer
/// is remembered, by position, up to a byte budget of model names.
#[derive(Default)]
struct MatchMemo {
    /// Per provider index: lowercased model reference -> where it matched.
    entries: Vec<HashMap<Box<str>, Option<EntryAt>>>,
    bytes: usize,
}

/// Where a model's entry sits: its provider's index, and its index among
/// that provider's overrides then models.
type EntryAt = (usize, usize);

/// Bytes the memo holds before it starts over: names come from answers, so a
/// stream of distinct ones must not grow it without bound.
const MEMO_MAX_BYTES: usize = 256 << 10;
/// What one remembered name costs beside its bytes (map slot and control
/// byte, the box's allocation, room the map keeps free as it grows).
const MEMO_ENTRY_BYTES: usize = 128;
/// Longer names are matched every time, not remembered: no real model name
/// is this long, and one such name must not take the whole budget.
const MEMO_MAX_NAME: usize = 256;

impl fmt::Debug for PriceTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The full table is thousands of entries; a summary is what a log needs.
        f.debug_struct("PriceTable")
            .field("providers", &self.providers.len())
            .field(
                "models",
                &self
                    .providers
                    .iter()
                    .map(Provider::model_count)
                    .sum::<usize>(),
            )
            .finish()
    }
}

/// One request to price.
#[derive(Debug, Clone, Copy)]
pub struct CostQuery<'a> {
    /// Provider id as heliport knows it (`openai`, `anthropic`, `azure`, ...).
    pub provider_id: &'a str,
    /// Model as the request or response named it.
    pub model: &'a str,
    /// Normalised usage of the request.
    pub usage: &'a Usage,
    /// When the request was made; selects dated and time-of-day prices.
    pub at: DateTime<Utc>,
    /// The service tier the provider served the request on, if any.
    pub service_tier: Option<&'a str>,
}

/// What one request cost; the ids are borrowed from the table, as every
/// recorded request is priced and most callers read only the amount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cost<'t> {
    /// Cost in 1e-9 USD.
    pub nano_usd: i64,
    /// The provider's canonical id (the queried provider, also when the
    /// model's price was borrowed from a provider it resells).
    pub provider_id: &'t str,
    /// The id of the table entry that priced the model.
    pub model_id: &'t str,
}

/// A price set in configuration, winning over the table for its provider:
///
/// ```toml
/// [[prices.models]]
/// provider = "openai"
/// model = "ft:gpt-4o:acme"   # matched exactly, case-insensitively
/// input_mtok = 3.0           # USD per million tokens; numbers or strings
/// output_mtok = "12"
/// cache_read_mtok = 1.5      # optional
/// ```
///
/// Numbers are read through their shortest decimal form, so `0.1` is
/// exactly 0.1 USD.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPriceOverride {
    /// Provider id; an id the table does not know adds a provider.
    pub provider: String,
    /// Model reference, matched exactly after lowercasing.
    pub model: String,
    /// USD per million uncached input tokens.
    #[serde(deserialize_with = "de_price")]
    pub input_mtok: String,
    /// USD per million output tokens.
    #[serde(deserialize_with = "de_price")]
    pub output_mtok: String,
    /// USD per million input tokens read from the prompt cache; without
    /// it, cached tokens pay the input price.
    #[serde(default, deserialize_with = "de_opt_price")]
    pub cache_read_mtok: Option<String>,
    /// USD per million input tokens written to the prompt cache; without
    /// it, those tokens pay the input price.
    #[serde(default, deserialize_with = "de_opt_price")]
    pub cache_write_mtok: Option<String>,
}

impl PriceTable {
    /// The table shipped inside heliport.
    pub fn builtin() -> Result<PriceTable, PriceError> {
        PriceTable::from_json(BUILTIN_JSON)
    }

    /// Parse a table in the same JSON format (a user's newer or overriding file).
    pub fn from_json(json: &str) -> Result<PriceTable, PriceError> {
        Ok(PriceTable::with_providers(load::parse_table(json)?))
    }

    fn with_providers(providers: Vec<Provider>) -> PriceTable {
        PriceTable {
            providers,
            memo: std::sync::Mutex::new(MatchMemo::default()),
        }
    }

    /// A change to the entries makes every remembered match stale.
    fn forget_matches(&mut self) {
        if let Ok(m) = self.memo.get_mut() {
            *m = MatchMemo::default();
        }
    }

    /// Overlay `other`: a provider with the same id gets other's models
    /// placed BEFORE its own (so they win), and other's `api_pattern`,
    /// `provider_match` and `fallback_model_providers` if given; new
    /// providers are appended.
    pub fn merge(&mut self, other: PriceTable) {
        self.forget_matches();
        for theirs in other.providers {
            match self.providers.iter_mut().find(|p| p.id == theirs.id) {
                Some(ours) => {
                    let mut models = theirs.models;
                    models.append(&mut ours.models);
                    ours.models = models;
                    let mut overrides = theirs.overrides;
                    overrides.append(&mut ours.overrides);
                    ours.overrides = overrides;
                    if theirs.api_pattern.is_some() {
                        ours.api_pattern = theirs.api_pattern;
                    }
                    if theirs.provider_match.is_some() {
                        ours.provider_match = theirs.provider_match;
                    }
                    if !theirs.fallback.is_empty() {
                        ours.fallback = theirs.fallback;
                    }
                }
                None => self.providers.push(theirs),
            }
        }
    }

    /// Add a simple override from config (see [`ModelPriceOverride`]); it
    /// wins over everything for that provider, including files merged later
    /// and overrides added earlier.
    pub fn add_override(&mut self, o: &ModelPriceOverride) -> Result<(), PriceError> {
        self.forget_matches();
        let model_ref = o.model.trim().to_lowercase();
        let location = format!("price override {} / {}", o.provider.trim(), o.model.trim());
        if model_ref.is_empty() || o.provider.trim().is_empty() {
            return Err(PriceError::Invalid {
                location,
                problem: "provider and model must not be empty".to_owned(),
            });
        }
        let field = |name: &str, text: &str| -> Result<Price, PriceError> {
            load::config_price(text, &format!("{location}, {name}"))
        };
        let mut set = vec![
            (units::INPUT_TOKENS, field("input_mtok", &o.input_mtok)?),
            (units::OUTPUT_TOKENS, field("output_mtok", &o.output_mtok)?),
        ];
        if let Some(p) = &o.cache_read_mtok {
            set.push((units::CACHE_READ_TOKENS, field("cache_read_mtok", p)?));
        }
        if let Some(p) = &o.cache_write_mtok {
            set.push((units::CACHE_WRITE_TOKENS, field("cache_write_mtok", p)?));
        }
        set.sort_by_key(|(u, _)| *u);
        let prices = PriceSet {
            units: set.into_boxed_slice(),
            unknown: Box::default(),
        };
        let entry = Model {
            id: model_ref.clone().into_boxed_str(),
            name: None,
            matcher: Clause::Equals(model_ref.into_boxed_str()),
            prices: Box::new([ConditionalPrice {
                constraint: None,
                prices,
            }]),
            variants: Box::default(),
        };
        let index = match self.provider_index(&o.provider) {
            Some(i) => i,
            None => {
                self.providers.push(Provider {
                    id: o.provider.trim().to_lowercase().into_boxed_str(),
                    api_pattern: None,
                    provider_match: None,
                    fallback: Box::default(),
                    overrides: Vec::new(),
                    models: Vec::new(),
                });
                self.providers.len() - 1
            }
        };
        if let Some(p) = self.providers.get_mut(index) {
            p.overrides.insert(0, entry);
        }
        Ok(())
    }

    /// Provider id whose api_pattern matches this upstream URL (e.g.
    /// "https://api.openai.com/v1/chat/completions" -> "openai").
    pub fn provider_for_url(&self, url: &str) -> Option<&str> {
        let found = self.provider_matching_url(url).or_else(|| {
            // Patterns are written for lowercase hosts.
            match lowercase(url) {
                std::borrow::Cow::Owned(lower) => self.provider_matching_url(&lower),
                std::borrow::Cow::Borrowed(_) => None,
            }
        });
        found.map(|p| &*p.id)
    }

    fn provider_matching_url(&self, url: &str) -> Option<&Provider> {
        self.providers
            .iter()
            .find(|p| p.api_pattern.as_ref().is_some_and(|r| r.is_match(url)))
    }

    /// Cost of one request. None when the provider or model is unknown, or
    /// the model is priced only in units heliport does not measure.
    pub fn cost(&self, q: &CostQuery<'_>) -> Option<Cost<'_>> {
        let index = self.provider_index(q.provider_id)?;
        let provider = self.providers.get(index)?;
        let model_ref = lowercase(q.model);
        let (source, model) = self.find_model_remembered(index, &model_ref)?;
        let base = model.active_prices(&q.at)?;
        // A reseller's own tiers are not the original provider's.
        let tier = if std::ptr::eq(source, provider) {
            q.service_tier
        } else {
            None
        };
        let variants = model.active_variants(tier, &q.at).map(|v| &v.prices);
        Some(Cost {
            nano_usd: cost_nano_usd(base, variants, q.usage)?,
            provider_id: &provider.id,
            model_id: &model.id,
        })
    }

    /// For `heliport prices show MODEL [--provider P]`: every (provider,
    /// model) whose match accepts MODEL (only provider P if given), with its
    /// prices in force at `at`.
    ///
    /// Per provider only the first matching entry is listed, as that is the
    /// one [`PriceTable::cost`] uses. With a provider given, a model it
    /// resells from a fallback provider is listed too.
    pub fn describe(
        &self,
        model: &str,
        provider: Option<&str>,
        at: DateTime<Utc>,
    ) -> Vec<PriceDescription> {
        let model_ref = lowercase(model.trim());
        match provider {
            Some(p) => self
                .provider_index(p)
                .and_then(|i| self.providers.get(i))
                .and_then(|p| {
                    let (source, m) = self.find_model(p, &model_ref)?;
                    let priced_as = (!std::ptr::eq(source, p)).then_some(&*source.id);
                    Some(describe::describe_model(&p.id, priced_as, m, at))
                })
                .into_iter()
                .collect(),
            None => self
                .providers
                .iter()
                .filter_map(|p| {
                    p.own_model(&model_ref)
                        .or_else(|| p.own_model(&expand_compact_dates(&model_ref)?))
                        .map(|m| describe::describe_model(&p.id, None, m, at))
                })
                .collect(),
        }
    }

    /// Index of the provider `id` names: exact id, then `provider_match`.
    fn provider_index(&self, id: &str) -> Option<usize> {
        let id = lowercase(id.trim());
        self.providers
            .iter()
            .position(|p| *p.id == *id)
            .or_else(|| {
                self.providers
                    .iter()
                    .position(|p| p.provider_match.as_ref().is_some_and(|m| m.is_match(&id)))
            })
    }

    /// The entry pricing `model_ref` (lowercased) at `provider`, with the
    /// provider whose table it came from. A reference with compact dates
    /// that matches nothing is tried again with them spelled out, as
    /// LiteLLM and OpenRouter write dated names the table lists with dashes.
    fn find_model<'a>(
        &'a self,
        provider: &'a Provider,
        model_ref: &str,
    ) -> Option<(&'a Provider, &'a Model)> {
        self.match_model(provider, model_ref).or_else(|| {
            let dashed = expand_compact_dates(model_ref)?;
            self.match_model(provider, &dashed)
        })
    }

    /// [`Self::find_model`] for the provider at `index`, through the memo.
    fn find_model_remembered(&self, index: usize, model_ref: &str) -> Option<(&Provider, &Model)> {
        let remembered = self.memo.lock().ok().and_then(|m| {
            m.entries
                .get(index)
                .and_then(|by_model| by_model.get(model_ref).copied())
        });
        let found = match remembered {
            Some(found) => found,
            None => {
                let found = self
                    .find_model(self.providers.get(index)?, model_ref)
                    .and_then(|(source, model)| self.position_of(source, model));
                self.remember(index, model_ref, found);
                found
            }
        };
        let (source, entry) = found?;
        let p = self.providers.get(source)?;
        let model = match entry.checked_sub(p.overrides.len()) {
            None => p.overrides.get(entry),
            Some(i) => p.models.get(i),
        }?;
        Some((p, model))
    }

    /// Where `model` sits: its provider's index and its index among that
    /// provider's overrides then models.
    fn position_of(&self, source: &Provider, model: &Model) -> Option<EntryAt> {
        let pi = self
            .providers
            .iter()
            .position(|p| std::ptr::eq(p, source))?;
        let mi = source
            .overrides
            .iter()
            .chain(source.models.iter())
            .position(|m| std::ptr::eq(m, model))?;
        Some((pi, mi))
    }

    fn remember(&self, index: usize, model_ref: &str, found: Option<EntryAt>) {
        if model_ref.len() > MEMO_MAX_NAME {
            return;
        }
        let Ok(mut m) = self.memo.lock() else { return };
        let cost = model_ref.len() + MEMO_ENTRY_BYTES;
        if m.bytes + cost > MEMO_MAX_BYTES {
            *m = MatchMemo::default();
        }
        if m.entries.len() <= index {
            m.entries.resize_with(index + 1, HashMap::new);
        }
        if let Some(by_model) = m.entries.get_mut(index) {
            if by_model.insert(model_ref.into(), found).is_none() {
                m.bytes += cost;
            }
        }
    }

    fn match_model<'a>(
        &'a self,
        provider: &'a Provider,
        model_ref: &str,
    ) -> Option<(&'a Provider, &'a Model)> {
        if let Some(m) = provider.own_model(model_ref) {
            return Some((provider, m));
        }
        provider.fallback.iter().find_map(|fid| {
            let source = self.providers.iter().find(|p| p.id == *fid)?;
            source.own_model(model_ref).map(|m| (source, m))
        })
    }
}

/// `model-20240806` -> `model-2024-08-06`, for every `-YYYYMMDD` (a real
/// date in 2000-2099) followed by `-`, `:` or the end; `None` when there is
/// none. Mirrors genai-prices' `_normalize_compact_dated_ref`.
fn expand_compact_dates(model_ref: &str) -> Option<String> {
    let b = model_ref.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        let end = i + 9;
        let candidate = b.get(i) == Some(&b'-')
            && b.get(i + 1..end)
                .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
            && matches!(b.get(end), None | Some(b'-' | b':'));
        if !candidate {
            i += 1;
            continue;
        }
        let num = |from: usize, to: usize| {
            model_ref
                .get(from..to)
                .and_then(|s| s.parse::<u32>().ok())
                .unwrap_or(0)
        };
        let (year, month, day) = (num(i + 1, i + 5), num(i + 5, i + 7), num(i + 7, end));
        let shaped =
            (2000..2100).contains(&year) && (1..=12).contains(&month) && (1..=31).contains(&day);
        if !shaped {
            i += 1;
            continue;
        }
        // A match that is no calendar date (`-20250231`) is kept as written.
        let real = i32::try_from(year)
            .ok()
            .and_then(|y| chrono::NaiveDate::from_ymd_opt(y, month, day))
            .is_some();
        if real {
            let s = out.get_or_insert_with(|| String::with_capacity(model_ref.len() + 2));
            s.push_str(&model_ref[copied..i]);
            s.push_str(&format!("-{year:04}-{month:02}-{day:02}"));
            copied = end;
        }
        i = end;
    }
    let mut s = out?;
    s.push_str(&model_ref[copied..]);
    Some(s)
}

/// What `usage` costs at `base` prices overlaid by the service-tier
/// `variants` in force (in table order), as genai-prices' `calc_price`
/// computes it; `None` when nothing priced is something heliport measures.
fn cost_nano_usd<'a>(
    base: &'a PriceSet,
    variants: impl DoubleEndedIterator<Item = &'a PriceSet>,
    usage: &Usage,
) -> Option<i64> {
    // Per unit, the first variant setting a price wins over later ones and
    // over the base: lay the base, then the variants last to first.
    let mut resolved: [Option<&Price>; UNIT_COUNT] = [None; UNIT_COUNT];
    for set in std::iter::once(base).chain(variants.rev()) {
        for (unit, price) in set.units.iter() {
            if let Some(slot) = resolved.get_mut(usize::from(*unit)) {
                *slot = Some(price);
            }
        }
    }

    let mut priced: [UnitId; UNIT_COUNT] = [0; UNIT_COUNT];
    let mut n = 0;
    let mut measured = false;
    for (i, _) in resolved.iter().enumerate().filter(|(_, p)| p.is_some()) {
        if let (Ok(id), Some(slot)) = (UnitId::try_from(i), priced.get_mut(n)) {
            measured |= units::is_measured(id);
            *slot = id;
            n += 1;
        }
    }
    if n == 0 {
        // An entry without prices is free (OpenRouter's `:free` models).
        return Some(0);
    }
    if !measured {
        return None;
    }
    // The most specific first, so a unit's parts are charged before it.
    let priced = priced.get_mut(..n).unwrap_or_default();
    priced.sort_unstable_by_key(|id| {
        std::cmp::Reverse(units::get(*id).map_or(0, units::Unit::specificity))
    });

    let total_input = usage.prompt_tokens;
    let mut leaves = [0u64; UNIT_COUNT];
    let mut acc: u128 = 0;
    for (i, &id) in priced.iter().enumerate() {
        let (Some(unit), Some(Some(price))) = (units::get(id), resolved.get(usize::from(id)))
        else {
            continue;
        };
        let parts = priced
            .iter()
            .take(i)
            .zip(&leaves)
            .filter(|(part, _)| units::get(**part).is_some_and(|p| unit.contains(p)))
            .fold(0u64, |sum, (_, leaf)| sum.saturating_add(*leaf));
        // Parts larger than their whole are inconsistent usage, on which the
        // reference fails; heliport then charges the parts alone.
        let leaf = units::measure(id, usage).unwrap_or(0).saturating_sub(parts);
        if let Some(slot) = leaves.get_mut(i) {
            *slot = leaf;
        }
        if leaf == 0 {
            continue;
        }
        // Prices are per `per` units (1M tokens, 1K searches); the
        // accumulator counts per million.
        let scale = u128::from(1_000_000 / unit.per.max(1));
        acc = acc.saturating_add(
            u128::from(leaf)
                .saturating_mul(price.rate(total_input))
                .saturating_mul(scale),
        );
    }

    let nano = acc.saturating_add(ACC_PER_NANO_USD / 2) / ACC_PER_NANO_USD;
    Some(i64::try_from(nano).unwrap_or(i64::MAX))
}

fn de_price<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_any(PriceVisitor)
}

fn de_opt_price<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    d.deserialize_option(OptPriceVisitor)
}

/// Accepts a price as a decimal string or a number.
struct PriceVisitor;

impl serde::de::Visitor<'_> for PriceVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a price in USD, as a number or a decimal string")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.trim().to_owned())
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<String, E> {
        if v.is_finite() {
            // Display is the shortest form that reads back as `v`: 0.1 -> "0.1".
            Ok(v.to_string())
        } else {
            Err(E::custom("a price must be a finite number"))
        }
    }
}

struct OptPriceVisitor;

impl<'de> serde::de::Visitor<'de> for OptPriceVisitor {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a price in USD, as a number or a decimal string")
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        de_price(d).map(Some)
    }
}
