//! Reading the genai-prices JSON format into the compiled table.
//!
//! Walks a `serde_json::Value` by hand rather than deriving: the format has
//! two spellings for most things (`_type` tags or bare keys, `or_` or `or`,
//! decimal strings or numbers), and errors must name the provider, model and
//! field. Fields heliport never reads (extractors, descriptions, context
//! windows, `model_match`) are skipped so they take no memory.

use std::str::FromStr;

use chrono::NaiveDate;
use serde_json::{Map, Value};

use super::decimal::{parse_price, DecimalError};
use super::model::{
    Clause, ConditionalPrice, Constraint, LazyRegex, Model, Price, PriceSet, Provider, Tier,
    Variant,
};
use super::units;
use super::PriceError;

/// A load problem, with the path below the model it was found at; the
/// path is only built on the error path.
#[derive(Debug)]
pub(crate) struct Problem {
    /// Innermost segment first.
    path: Vec<String>,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Invalid(String),
    Price { value: String, err: DecimalError },
    Regex { pattern: String, message: String },
}

impl Problem {
    fn invalid(message: impl Into<String>) -> Self {
        Problem {
            path: Vec::new(),
            kind: Kind::Invalid(message.into()),
        }
    }

    fn at(mut self, segment: impl Into<String>) -> Self {
        self.path.push(segment.into());
        self
    }

    fn at_index(self, i: usize) -> Self {
        self.at(format!("[{i}]"))
    }

    /// Turns the problem into an error located at `prefix` plus its path.
    pub(crate) fn locate(self, prefix: &str) -> PriceError {
        let mut location = prefix.to_owned();
        for (n, seg) in self.path.iter().rev().enumerate() {
            if n == 0 && !location.is_empty() {
                location.push_str(", ");
            } else if n > 0 && !seg.starts_with('[') {
                location.push('.');
            }
            location.push_str(seg);
        }
        match self.kind {
            Kind::Invalid(problem) => PriceError::Invalid { location, problem },
            Kind::Price { value, err } => PriceError::BadPrice {
                location,
                value,
                problem: err.describe(),
            },
            Kind::Regex { pattern, message } => PriceError::BadRegex {
                location,
                pattern,
                message,
            },
        }
    }
}

/// Parses a whole table: a JSON array of providers, or an object with a
/// `providers` array (the wrapped form newer genai-prices releases publish).
pub(crate) fn parse_table(json: &str) -> Result<Vec<Provider>, PriceError> {
    let root: Value = serde_json::from_str(json)?;
    let list = match &root {
        Value::Array(list) => list,
        Value::Object(o) => o
            .get("providers")
            .and_then(Value::as_array)
            .ok_or_else(|| PriceError::Invalid {
                location: "price table".to_owned(),
                problem: "expected an array of providers or an object with a `providers` array"
                    .to_owned(),
            })?,
        _ => {
            return Err(PriceError::Invalid {
                location: "price table".to_owned(),
                problem: "expected an array of providers".to_owned(),
            })
        }
    };
    list.iter()
        .enumerate()
        .map(|(i, p)| parse_provider(p, i))
        .collect()
}

fn parse_provider(value: &Value, index: usize) -> Result<Provider, PriceError> {
    let obj = value.as_object().ok_or_else(|| {
        Problem::invalid("expected an object").locate(&format!("price table: provider #{index}"))
    })?;
    let id = match obj.get("id").and_then(Value::as_str) {
        Some(id) if !id.trim().is_empty() => id.trim().to_lowercase(),
        _ => {
            return Err(Problem::invalid("missing string `id`")
                .locate(&format!("price table: provider #{index}")))
        }
    };
    let here = format!("price table: provider {id:?}");
    let api_pattern = match obj.get("api_pattern") {
        None | Some(Value::Null) => None,
        Some(v) => Some(compile_regex(v).map_err(|p| p.at("api_pattern").locate(&here))?),
    };
    let provider_match = optional(obj, "provider_match")
        .map(|v| parse_clause(v).map_err(|p| p.at("provider_match").locate(&here)))
        .transpose()?;
    let fallback = match optional(obj, "fallback_model_providers") {
        None => Box::default(),
        Some(v) => string_list(v)
            .map_err(|p| p.at("fallback_model_providers").locate(&here))?
            .into_iter()
            .map(|s| s.trim().to_lowercase().into_boxed_str())
            .collect(),
    };
    let models = match optional(obj, "models") {
        None => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .enumerate()
            .map(|(j, m)| {
                parse_model(m).map_err(|p| {
                    let model = m
                        .get("id")
                        .and_then(Value::as_str)
                        .map_or_else(|| format!("#{j}"), |s| format!("{s:?}"));
                    p.locate(&format!("{here}, model {model}"))
                })
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(Problem::invalid("expected an array")
                .at("models")
                .locate(&here))
        }
    };
    Ok(Provider {
        id: id.into_boxed_str(),
        api_pattern,
        provider_match,
        fallback,
        overrides: Vec::new(),
        models,
    })
}

fn optional<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn string_list(value: &Value) -> Result<Vec<&str>, Problem> {
    value
        .as_array()
        .and_then(|l| l.iter().map(Value::as_str).collect::<Option<Vec<_>>>())
        .ok_or_else(|| Problem::invalid("expected an array of strings"))
}

fn parse_model(value: &Value) -> Result<Model, Problem> {
    let obj = value
        .as_object()
        .ok_or_else(|| Problem::invalid("expected an object"))?;
    let id = obj
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| Problem::invalid("missing string `id`"))?;
    let matcher =
        parse_clause(optional(obj, "match").ok_or_else(|| Problem::invalid("missing `match`"))?)
            .map_err(|p| p.at("match"))?;
    let name = match optional(obj, "name") {
        None => None,
        Some(Value::String(s)) => Some(s.clone().into_boxed_str()),
        Some(_) => return Err(Problem::invalid("expected a string").at("name")),
    };
    let prices =
        parse_prices(optional(obj, "prices").ok_or_else(|| Problem::invalid("missing `prices`"))?)
            .map_err(|p| p.at("prices"))?;
    let variants = match optional(obj, "price_variants") {
        None => Box::default(),
        Some(Value::Array(list)) => {
            let mut kept = Vec::new();
            for (i, v) in list.iter().enumerate() {
                if let Some(v) = parse_variant(v).map_err(|p| p.at_index(i).at("price_variants"))? {
                    kept.push(v);
                }
            }
            kept.into_boxed_slice()
        }
        Some(_) => return Err(Problem::invalid("expected an array").at("price_variants")),
    };
    Ok(Model {
        id: id.into(),
        name,
        matcher,
        prices,
        variants,
    })
}

/// `prices`: one price set, or a list of conditional prices.
fn parse_prices(value: &Value) -> Result<Box<[ConditionalPrice]>, Problem> {
    match value {
        Value::Object(_) => Ok(Box::new([ConditionalPrice {
            constraint: None,
            prices: parse_price_set(value)?,
        }])),
        Value::Array(list) if list.is_empty() => Err(Problem::invalid("empty list of prices")),
        Value::Array(list) => list
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let obj = c
                    .as_object()
                    .ok_or_else(|| Problem::invalid("expected a ConditionalPrice object"))
                    .map_err(|p| p.at_index(i))?;
                let constraint = parse_constraint(optional(obj, "constraint"))
                    .map_err(|p| p.at("constraint").at_index(i))?;
                let prices = parse_price_set(
                    optional(obj, "prices")
                        .ok_or_else(|| Problem::invalid("missing `prices`").at_index(i))?,
                )
                .map_err(|p| p.at("prices").at_index(i))?;
                Ok(ConditionalPrice { constraint, prices })
            })
            .collect(),
        _ => Err(Problem::invalid("expected an object or a list")),
    }
}

/// Parses a variant, or `None` when it can never apply to an interactive
/// request heliport proxies: it needs batch processing or another request
/// attribute heliport does not know (`speed`, `route`, ...), or its `when`
/// has a shape this version does not understand. Its prices are validated
/// either way so a bad table is reported whatever the variant.
fn parse_variant(value: &Value) -> Result<Option<Variant>, Problem> {
    let obj = value
        .as_object()
        .ok_or_else(|| Problem::invalid("expected an object"))?;
    let prices = match optional(obj, "prices") {
        Some(p) => parse_price_set(p).map_err(|p| p.at("prices"))?,
        None => PriceSet::default(),
    };
    let constraint =
        parse_constraint(optional(obj, "constraint")).map_err(|p| p.at("constraint"))?;
    let Some(when) = optional(obj, "when").and_then(Value::as_object) else {
        return Ok(None);
    };
    if when.len() != 1 {
        return Ok(None);
    }
    let service_tiers: Box<[Box<str>]> = match when.get("service_tier") {
        Some(Value::String(s)) => Box::new([s.as_str().into()]),
        Some(Value::Array(list)) if !list.is_empty() => {
            match list
                .iter()
                .map(|v| v.as_str().map(Box::from))
                .collect::<Option<_>>()
            {
                Some(tiers) => tiers,
                None => return Ok(None),
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(Variant {
        service_tiers,
        constraint,
        prices,
    }))
}

pub(crate) fn parse_price_set(value: &Value) -> Result<PriceSet, Problem> {
    let obj = value
        .as_object()
        .ok_or_else(|| Problem::invalid("expected an object of prices"))?;
    let mut units = Vec::new();
    let mut unknown = Vec::new();
    for (key, v) in obj {
        // A null price leaves the field unset, like an omitted one.
        if key.starts_with('_') || v.is_null() {
            continue;
        }
        let price = parse_price_value(v).map_err(|p| p.at(key.as_str()))?;
        match units::by_price_key(key) {
            Some(unit) => units.push((unit, price)),
            None => unknown.push((key.as_str().into(), price)),
        }
    }
    units.sort_by_key(|(unit, _)| *unit);
    Ok(PriceSet {
        units: units.into_boxed_slice(),
        unknown: unknown.into_boxed_slice(),
    })
}

fn parse_price_value(value: &Value) -> Result<Price, Problem> {
    match value {
        Value::Object(obj) => {
            let base = decimal(
                optional(obj, "base")
                    .ok_or_else(|| Problem::invalid("tiered price without `base`"))?,
            )
            .map_err(|p| p.at("base"))?;
            let list = optional(obj, "tiers")
                .and_then(Value::as_array)
                .ok_or_else(|| Problem::invalid("tiered price without a `tiers` list"))?;
            let mut tiers = list
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let start = t
                        .get("start")
                        .and_then(Value::as_u64)
                        .ok_or_else(|| Problem::invalid("expected a non-negative integer `start`"))
                        .map_err(|p| p.at("start").at_index(i).at("tiers"))?;
                    let price = decimal(t.get("price").unwrap_or(&Value::Null))
                        .map_err(|p| p.at("price").at_index(i).at("tiers"))?;
                    Ok(Tier { start, price })
                })
                .collect::<Result<Vec<_>, Problem>>()?;
            tiers.sort_by_key(|t| t.start);
            Ok(Price::Tiered {
                base,
                tiers: tiers.into_boxed_slice(),
            })
        }
        other => decimal(other).map(Price::Flat),
    }
}

/// A decimal string, or a JSON number read through its shortest string
/// form so `0.1` stays exactly 0.1.
pub(crate) fn decimal(value: &Value) -> Result<u128, Problem> {
    let owned;
    let text = match value {
        Value::String(s) => s.as_str(),
        Value::Number(n) => {
            owned = n.to_string();
            owned.as_str()
        }
        _ => return Err(Problem::invalid("expected a decimal string or a number")),
    };
    parse_price(text).map_err(|err| Problem {
        path: Vec::new(),
        kind: Kind::Price {
            value: text.to_owned(),
            err,
        },
    })
}

/// Checks a price from configuration, located at `location`.
pub(crate) fn config_price(text: &str, location: &str) -> Result<Price, PriceError> {
    parse_price(text).map(Price::Flat).map_err(|err| {
        Problem {
            path: Vec::new(),
            kind: Kind::Price {
                value: text.to_owned(),
                err,
            },
        }
        .locate(location)
    })
}

fn parse_clause(value: &Value) -> Result<Clause, Problem> {
    let obj = value
        .as_object()
        .ok_or_else(|| Problem::invalid("expected a match clause object"))?;
    const KINDS: [(&str, &str); 7] = [
        ("ClauseEquals", "equals"),
        ("ClauseStartsWith", "starts_with"),
        ("ClauseEndsWith", "ends_with"),
        ("ClauseContains", "contains"),
        ("ClauseRegex", "regex"),
        ("ClauseOr", "or"),
        ("ClauseAnd", "and"),
    ];
    let kind = match obj.get("_type").and_then(Value::as_str) {
        Some(ty) => KINDS
            .iter()
            .find(|(t, _)| *t == ty)
            .map(|(_, k)| *k)
            .ok_or_else(|| Problem::invalid(format!("unknown clause type {ty:?}")))?,
        None => KINDS
            .iter()
            .map(|(_, k)| *k)
            .find(|k| obj.contains_key(*k) || obj.contains_key(&format!("{k}_")))
            .ok_or_else(|| Problem::invalid("match clause of unknown kind"))?,
    };
    let arg = obj
        .get(kind)
        .or_else(|| obj.get(&format!("{kind}_")))
        .ok_or_else(|| Problem::invalid(format!("clause without `{kind}`")))?;
    let literal = || -> Result<Box<str>, Problem> {
        arg.as_str()
            .map(|s| s.to_lowercase().into_boxed_str())
            .ok_or_else(|| Problem::invalid("expected a string").at(kind))
    };
    let list = || -> Result<Box<[Clause]>, Problem> {
        arg.as_array()
            .ok_or_else(|| Problem::invalid("expected a list of clauses").at(kind))?
            .iter()
            .enumerate()
            .map(|(i, c)| parse_clause(c).map_err(|p| p.at_index(i).at(kind)))
            .collect()
    };
    Ok(match kind {
        "equals" => Clause::Equals(literal()?),
        "starts_with" => Clause::StartsWith(literal()?),
        "ends_with" => Clause::EndsWith(literal()?),
        "contains" => Clause::Contains(literal()?),
        "regex" => Clause::Regex(compile_regex(arg).map_err(|p| p.at("regex"))?),
        "or" => Clause::Or(list()?),
        _ => Clause::And(list()?),
    })
}

fn compile_regex(value: &Value) -> Result<LazyRegex, Problem> {
    let pattern = value
        .as_str()
        .ok_or_else(|| Problem::invalid("expected a regex string"))?;
    LazyRegex::new(pattern).map_err(|e| Problem {
        path: Vec::new(),
        kind: Kind::Regex {
            pattern: pattern.to_owned(),
            message: e,
        },
    })
}

fn parse_constraint(value: Option<&Value>) -> Result<Option<Constraint>, Problem> {
    let Some(value) = value else {
        return Ok(None);
    };
    let obj = value
        .as_object()
        .ok_or_else(|| Problem::invalid("expected a constraint object"))?;
    let ty = obj.get("_type").and_then(Value::as_str);
    let is_date = match ty {
        Some("StartDateConstraint") => true,
        Some("TimeOfDateConstraint") => false,
        Some(other) => {
            return Err(Problem::invalid(format!(
                "unknown constraint type {other:?}"
            )))
        }
        None if obj.contains_key("start_date") => true,
        None if obj.contains_key("start_time") => false,
        None => return Err(Problem::invalid("constraint of unknown kind")),
    };
    let text = |key: &str| -> Result<&str, Problem> {
        obj.get(key)
            .and_then(Value::as_str)
            .ok_or_else(|| Problem::invalid("expected a string").at(key))
    };
    if is_date {
        let s = text("start_date")?;
        let date = NaiveDate::from_str(s.trim()).map_err(|_| {
            Problem::invalid(format!("{s:?} is not a YYYY-MM-DD date")).at("start_date")
        })?;
        Ok(Some(Constraint::StartDate(date)))
    } else {
        let time = |key: &str| -> Result<u32, Problem> {
            let s = text(key)?;
            utc_seconds_of_day(s).ok_or_else(|| {
                Problem::invalid(format!(
                    "{s:?} is not a HH:MM:SS time with an optional UTC offset"
                ))
                .at(key)
            })
        };
        Ok(Some(Constraint::TimeOfDay {
            start: time("start_time")?,
            end: time("end_time")?,
        }))
    }
}

/// `"16:30:00+08:00"` -> seconds after UTC midnight (30600). A time without
/// an offset is taken as UTC.
fn utc_seconds_of_day(s: &str) -> Option<u32> {
    let s = s.trim();
    if !s.is_ascii() {
        return None;
    }
    let (time, offset) = if let Some(t) = s.strip_suffix(['Z', 'z']) {
        (t, 0)
    } else if let Some(pos) = s.rfind(['+', '-']) {
        let (sign, hm) = (s.get(pos..pos + 1)?, s.get(pos + 1..)?);
        let (h, m) = hm.split_once(':').unwrap_or((hm.get(..2)?, hm.get(2..)?));
        let secs =
            i64::from(h.parse::<u32>().ok()?) * 3600 + i64::from(m.parse::<u32>().ok()?) * 60;
        (s.get(..pos)?, if sign == "-" { -secs } else { secs })
    } else {
        (s, 0)
    };
    let mut parts = time.split(':');
    let h: u32 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let sec: u32 = match parts.next() {
        // Fractions of a second cannot move a boundary the table states in
        // whole seconds.
        Some(s) => s.split('.').next()?.parse().ok()?,
        None => 0,
    };
    if parts.next().is_some() || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let local = i64::from(h * 3600 + m * 60 + sec.min(59));
    u32::try_from((local - offset).rem_euclid(86_400)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_offsets_convert_to_utc() {
        assert_eq!(utc_seconds_of_day("00:30:00+00:00"), Some(1800));
        assert_eq!(utc_seconds_of_day("16:30:00Z"), Some(59_400));
        assert_eq!(utc_seconds_of_day("08:00:00+08:00"), Some(0));
        assert_eq!(utc_seconds_of_day("23:00:00-02:00"), Some(3600));
        assert_eq!(utc_seconds_of_day("12:00"), Some(43_200));
        assert_eq!(utc_seconds_of_day("25:00:00"), None);
        assert_eq!(utc_seconds_of_day("noon"), None);
    }
}
