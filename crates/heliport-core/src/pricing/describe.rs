//! Human-readable price listings for `heliport prices show`.

use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::Serialize;

use super::decimal::format_price;
use super::model::{Constraint, Model, Price, PriceSet};
use super::units;

/// The prices of one model at one provider, as in force at a given time.
///
/// `Display` renders a multi-line block for the terminal; the fields carry
/// the same facts for machine output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PriceDescription {
    /// The provider asked about.
    pub provider_id: String,
    /// The table entry that prices the model.
    pub model_id: String,
    /// The entry's display name, when the table has one.
    pub model_name: Option<String>,
    /// When the provider resells another provider's models and has no
    /// entry of its own (Azure and OpenAI's models), the provider whose
    /// entry is used.
    pub priced_as: Option<String>,
    /// The time the prices are shown for.
    pub at: DateTime<Utc>,
    /// Standard prices in force at `at`.
    pub prices: Vec<PriceLine>,
    /// Prices for requests sent with a service tier, in force at `at`.
    pub service_tiers: Vec<ServiceTierPrices>,
    /// Dates on which the standard or service-tier prices change.
    pub price_change_dates: Vec<NaiveDate>,
    /// UTC time-of-day windows (start, end) with their own prices.
    pub time_of_day_windows: Vec<(NaiveTime, NaiveTime)>,
}

/// One priced quantity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PriceLine {
    /// The field in the table, e.g. `cache_read_mtok`.
    pub field: String,
    /// Readable name, e.g. `cache read`.
    pub label: String,
    /// Exact USD amount with at least two decimals, e.g. `1.25`.
    pub usd: String,
    /// What the amount is for, e.g. `1M tokens`.
    pub per: String,
    /// Prices that replace `usd` once a request's input exceeds a size.
    pub tiers: Vec<PriceTierLine>,
}

/// A long-context price tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PriceTierLine {
    /// Applies to requests with more input tokens than this, to all their
    /// tokens of the line's kind.
    pub above_input_tokens: u64,
    /// Exact USD amount per the line's unit.
    pub usd: String,
}

/// Prices charged instead of the standard ones for a service tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceTierPrices {
    /// The `service_tier` values this applies to.
    pub service_tiers: Vec<String>,
    /// First day these prices apply, when they are dated.
    pub since: Option<NaiveDate>,
    /// Only the fields that differ from the standard prices.
    pub prices: Vec<PriceLine>,
}

pub(crate) fn describe_model(
    provider_id: &str,
    priced_as: Option<&str>,
    model: &Model,
    at: DateTime<Utc>,
) -> PriceDescription {
    let prices = model.active_prices(&at).map(lines).unwrap_or_default();

    let mut dates = Vec::new();
    let mut windows = Vec::new();
    for c in model.prices.iter().filter_map(|c| c.constraint) {
        match c {
            Constraint::StartDate(d) => dates.push(d),
            Constraint::TimeOfDay { start, end } => {
                if let (Some(s), Some(e)) = (
                    NaiveTime::from_num_seconds_from_midnight_opt(start, 0),
                    NaiveTime::from_num_seconds_from_midnight_opt(end, 0),
                ) {
                    windows.push((s, e));
                }
            }
        }
    }

    // Variants do not apply to a model borrowed from another provider.
    let mut service_tiers = Vec::new();
    if priced_as.is_none() {
        let mut shown: Vec<&str> = Vec::new();
        // The first variant in force for a tier is the one that prices it.
        for v in model.variants.iter() {
            if let Some(Constraint::StartDate(d)) = v.constraint {
                dates.push(d);
            }
            if v.constraint.is_some_and(|c| !c.active(&at))
                || v.service_tiers.iter().all(|t| shown.contains(&&**t))
            {
                continue;
            }
            shown.extend(v.service_tiers.iter().map(|t| &**t));
            if v.prices.is_empty() {
                continue;
            }
            service_tiers.push(ServiceTierPrices {
                service_tiers: v.service_tiers.iter().map(|t| t.to_string()).collect(),
                since: match v.constraint {
                    Some(Constraint::StartDate(d)) => Some(d),
                    _ => None,
                },
                prices: lines(&v.prices),
            });
        }
    }
    dates.sort_unstable();
    dates.dedup();

    PriceDescription {
        provider_id: provider_id.to_owned(),
        model_id: model.id.to_string(),
        model_name: model.name.as_deref().map(str::to_owned),
        priced_as: priced_as.map(str::to_owned),
        at,
        prices,
        service_tiers,
        price_change_dates: dates,
        time_of_day_windows: windows,
    }
}

fn lines(set: &PriceSet) -> Vec<PriceLine> {
    let known = set
        .units
        .iter()
        .filter_map(|(u, p)| units::get(*u).map(|u| line(u.price_key, p)));
    let unknown = set.unknown.iter().map(|(key, p)| line(key, p));
    known.chain(unknown).collect()
}

fn line(field: &str, price: &Price) -> PriceLine {
    const UNITS: [(&str, &str); 5] = [
        ("_mtok", "1M tokens"),
        ("_kcount", ""),
        ("_mchars", "1M characters"),
        ("_kpages", "1K pages"),
        ("_hours", "hour"),
    ];
    let (label, per) = UNITS
        .iter()
        .find_map(|(suffix, per)| {
            let label = field.strip_suffix(suffix)?.replace('_', " ");
            let per = if per.is_empty() {
                format!("1K {label}")
            } else {
                (*per).to_owned()
            };
            Some((label, per))
        })
        .unwrap_or_else(|| (field.replace('_', " "), "unit".to_owned()));
    PriceLine {
        field: field.to_owned(),
        label,
        usd: format_price(price.base()),
        per,
        tiers: price
            .tiers()
            .iter()
            .map(|t| PriceTierLine {
                above_input_tokens: t.start,
                usd: format_price(t.price),
            })
            .collect(),
    }
}

fn write_lines(f: &mut fmt::Formatter<'_>, lines: &[PriceLine], indent: &str) -> fmt::Result {
    for l in lines {
        writeln!(f, "{indent}{:<10} ${} / {}", l.label, l.usd, l.per)?;
        for t in &l.tiers {
            writeln!(
                f,
                "{indent}{} above {} input tokens: ${} / {}",
                l.label, t.above_input_tokens, t.usd, l.per
            )?;
        }
    }
    Ok(())
}

impl fmt::Display for PriceDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} / {}", self.provider_id, self.model_id)?;
        if let Some(name) = &self.model_name {
            write!(f, " ({name})")?;
        }
        writeln!(f)?;
        if let Some(source) = &self.priced_as {
            writeln!(f, "  (priced as {source}'s {})", self.model_id)?;
        }
        write_lines(f, &self.prices, "  ")?;
        for st in &self.service_tiers {
            write!(f, "  service tier {}", st.service_tiers.join(" / "))?;
            if let Some(since) = st.since {
                write!(f, " (since {since})")?;
            }
            writeln!(f, ":")?;
            write_lines(f, &st.prices, "    ")?;
        }
        let day = self.at.date_naive();
        if !self.price_change_dates.is_empty() {
            let join = |ds: Vec<&NaiveDate>| {
                ds.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let (past, future): (Vec<_>, Vec<_>) =
                self.price_change_dates.iter().partition(|d| **d <= day);
            let mut what = Vec::new();
            if !past.is_empty() {
                what.push(format!("changed on {}", join(past)));
            }
            if !future.is_empty() {
                what.push(format!("change on {}", join(future)));
            }
            writeln!(
                f,
                "  (prices {}; showing those in force on {day})",
                what.join(" and ")
            )?;
        }
        if !self.time_of_day_windows.is_empty() {
            let windows = self
                .time_of_day_windows
                .iter()
                .map(|(s, e)| format!("{s}-{e}"))
                .collect::<Vec<_>>()
                .join(", ");
            writeln!(
                f,
                "  (prices differ during {windows} UTC; showing those in force at {})",
                self.at.format("%Y-%m-%d %H:%M:%S UTC")
            )?;
        }
        Ok(())
    }
}
