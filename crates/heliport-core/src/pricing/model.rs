//! The compiled table: what survives loading, shaped for per-request lookups.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, Timelike, Utc};

use super::units::UnitId;

/// A regex from the table, compiled on first use. The table has over a hundred
/// patterns and a running gateway meets a handful of providers and models:
/// compiling all of them up front would hold megabytes for nothing.
#[derive(Debug, Clone)]
pub(crate) struct LazyRegex {
    pattern: Box<str>,
    compiled: std::sync::OnceLock<Option<fancy_regex::Regex>>,
}

impl LazyRegex {
    /// Checks the pattern compiles (so a bad table fails at load), then keeps only its text.
    pub(crate) fn new(pattern: &str) -> Result<LazyRegex, String> {
        fancy_regex::Regex::new(pattern).map_err(|e| e.to_string())?;
        Ok(LazyRegex {
            pattern: pattern.into(),
            compiled: std::sync::OnceLock::new(),
        })
    }

    /// A backtracking limit hit is treated as "no match": an unpriced
    /// request is recoverable, a mispriced one is not.
    pub(crate) fn is_match(&self, text: &str) -> bool {
        self.compiled
            .get_or_init(|| fancy_regex::Regex::new(&self.pattern).ok())
            .as_ref()
            .is_some_and(|r| r.is_match(text).unwrap_or(false))
    }
}

/// Boolean logic over a lowercased model reference or provider id.
///
/// Literals are lowercased at load, so matching is case-insensitive the way
/// current genai-prices matches; regexes run as written.
#[derive(Debug, Clone)]
pub(crate) enum Clause {
    Equals(Box<str>),
    StartsWith(Box<str>),
    EndsWith(Box<str>),
    Contains(Box<str>),
    Regex(LazyRegex),
    Or(Box<[Clause]>),
    And(Box<[Clause]>),
}

impl Clause {
    /// `text` must already be lowercased.
    pub(crate) fn is_match(&self, text: &str) -> bool {
        match self {
            Clause::Equals(s) => text == &**s,
            Clause::StartsWith(s) => text.starts_with(&**s),
            Clause::EndsWith(s) => text.ends_with(&**s),
            Clause::Contains(s) => memchr::memmem::find(text.as_bytes(), s.as_bytes()).is_some(),
            // A backtracking limit hit is treated as "no match": an unpriced
            // request is recoverable, a mispriced one is not.
            Clause::Regex(r) => r.is_match(text),
            Clause::Or(cs) => cs.iter().any(|c| c.is_match(text)),
            Clause::And(cs) => cs.iter().all(|c| c.is_match(text)),
        }
    }
}

/// Lowercases without allocating when there is nothing to lower.
pub(crate) fn lowercase(s: &str) -> Cow<'_, str> {
    if s.chars().any(char::is_uppercase) {
        Cow::Owned(s.to_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

/// One price tier: from `start` total input tokens (exclusive) on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tier {
    pub(crate) start: u64,
    pub(crate) price: u128,
}

/// A price in units of 1e-18 USD per pricing unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Price {
    Flat(u128),
    /// Tiers sorted by ascending `start`.
    Tiered {
        base: u128,
        tiers: Box<[Tier]>,
    },
}

impl Price {
    /// Threshold ("cliff") pricing: the tier reached by the request's total
    /// input applies to every unit of the category.
    pub(crate) fn rate(&self, total_input: u64) -> u128 {
        match self {
            Price::Flat(p) => *p,
            Price::Tiered { base, tiers } => tiers
                .iter()
                .rev()
                .find(|t| total_input > t.start)
                .map_or(*base, |t| t.price),
        }
    }

    pub(crate) fn base(&self) -> u128 {
        match self {
            Price::Flat(p) | Price::Tiered { base: p, .. } => *p,
        }
    }

    pub(crate) fn tiers(&self) -> &[Tier] {
        match self {
            Price::Flat(_) => &[],
            Price::Tiered { tiers, .. } => tiers,
        }
    }
}

/// One set of prices (a `ModelPrice`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PriceSet {
    /// Prices of the units the reference knows, in registry order.
    pub(crate) units: Box<[(UnitId, Price)]>,
    /// Prices under keys the reference does not know (a newer table's):
    /// shown by `describe`, never charged, as the reference skips them too.
    pub(crate) unknown: Box<[(Box<str>, Price)]>,
}

impl PriceSet {
    pub(crate) fn is_empty(&self) -> bool {
        self.units.is_empty() && self.unknown.is_empty()
    }
}

/// When a conditional price or variant is in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Constraint {
    StartDate(NaiveDate),
    /// Seconds after UTC midnight; `end < start` wraps past midnight.
    TimeOfDay {
        start: u32,
        end: u32,
    },
}

impl Constraint {
    pub(crate) fn active(&self, at: &DateTime<Utc>) -> bool {
        match *self {
            Constraint::StartDate(d) => at.date_naive() >= d,
            Constraint::TimeOfDay { start, end } => {
                let t = at.num_seconds_from_midnight();
                if start <= end {
                    start <= t && t < end
                } else {
                    t >= start || t < end
                }
            }
        }
    }
}

/// A `ConditionalPrice`; an unconditional price has `constraint: None`.
#[derive(Debug, Clone)]
pub(crate) struct ConditionalPrice {
    pub(crate) constraint: Option<Constraint>,
    pub(crate) prices: PriceSet,
}

/// A price variant heliport can select: keyed by service tier only, since
/// variants for batch processing or other request attributes never apply
/// to the interactive calls it proxies (those are dropped at load).
#[derive(Debug, Clone)]
pub(crate) struct Variant {
    pub(crate) service_tiers: Box<[Box<str>]>,
    pub(crate) constraint: Option<Constraint>,
    pub(crate) prices: PriceSet,
}

impl Variant {
    /// The reference compares request context values exactly, case included.
    fn applies(&self, service_tier: &str, at: &DateTime<Utc>) -> bool {
        self.service_tiers.iter().any(|t| **t == *service_tier)
            && self.constraint.is_none_or(|c| c.active(at))
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Model {
    pub(crate) id: Box<str>,
    pub(crate) name: Option<Box<str>>,
    pub(crate) matcher: Clause,
    /// Never empty.
    pub(crate) prices: Box<[ConditionalPrice]>,
    pub(crate) variants: Box<[Variant]>,
}

impl Model {
    /// The last conditional price in force at `at`, else the first.
    pub(crate) fn active_prices(&self, at: &DateTime<Utc>) -> Option<&PriceSet> {
        self.prices
            .iter()
            .rev()
            .find(|c| c.constraint.is_none_or(|k| k.active(at)))
            .or_else(|| self.prices.first())
            .map(|c| &c.prices)
    }

    /// The variants matching `service_tier` and in force at `at`, in table
    /// order: for each price the first of them that sets it wins.
    pub(crate) fn active_variants<'a>(
        &'a self,
        service_tier: Option<&'a str>,
        at: &'a DateTime<Utc>,
    ) -> impl DoubleEndedIterator<Item = &'a Variant> + 'a {
        self.variants
            .iter()
            .filter(move |v| service_tier.is_some_and(|t| v.applies(t, at)))
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Provider {
    /// Lowercase.
    pub(crate) id: Box<str>,
    pub(crate) api_pattern: Option<LazyRegex>,
    pub(crate) provider_match: Option<Clause>,
    /// Providers whose models this one resells (Azure: OpenAI's).
    pub(crate) fallback: Box<[Box<str>]>,
    /// Config overrides, searched before `models`; newest first.
    pub(crate) overrides: Vec<Model>,
    pub(crate) models: Vec<Model>,
}

impl Provider {
    /// First model of this provider alone (overrides first) matching the
    /// lowercased `model_ref`.
    pub(crate) fn own_model(&self, model_ref: &str) -> Option<&Model> {
        self.overrides
            .iter()
            .chain(self.models.iter())
            .find(|m| m.matcher.is_match(model_ref))
    }

    pub(crate) fn model_count(&self) -> usize {
        self.overrides.len() + self.models.len()
    }
}
