//! Exact decimal prices.
//!
//! Prices are kept as integers in units of 1e-18 USD per pricing unit (per
//! million tokens, per thousand requests, ...). Eighteen digits, not nine,
//! because the upstream table carries float artefacts such as
//! `0.041666666666666664`; holding them exactly keeps every cost a single
//! rounding away from the true value.

use std::fmt::Write as _;

/// Fractional digits a price may carry.
pub(crate) const SCALE_DIGITS: u32 = 18;
/// One USD in price units.
pub(crate) const SCALE: u128 = 1_000_000_000_000_000_000;

/// Why a decimal string is not a price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecimalError {
    Malformed,
    Negative,
    TooPrecise,
    TooLarge,
}

impl DecimalError {
    pub(crate) fn describe(self) -> String {
        match self {
            DecimalError::Malformed => "is not a decimal number".to_owned(),
            DecimalError::Negative => "is negative".to_owned(),
            DecimalError::TooPrecise => format!(
                "has more than {SCALE_DIGITS} decimal places, which heliport cannot hold exactly"
            ),
            DecimalError::TooLarge => "is too large".to_owned(),
        }
    }
}

/// Parses a non-negative decimal (`"2.5"`, `"0.000125"`, `"1e-7"`) into
/// price units, refusing anything that would need rounding.
pub(crate) fn parse_price(text: &str) -> Result<u128, DecimalError> {
    let text = text.trim();
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(i) => {
            let exp: i32 = text[i + 1..].parse().map_err(|_| DecimalError::Malformed)?;
            (&text[..i], exp)
        }
        None => (text, 0),
    };
    let mantissa = mantissa.strip_prefix('+').unwrap_or(mantissa);
    if let Some(rest) = mantissa.strip_prefix('-') {
        // "-0" is still zero; any other sign is a data error worth surfacing.
        if rest.bytes().all(|b| b == b'0' || b == b'.') && rest.bytes().any(|b| b == b'0') {
            return Ok(0);
        }
        return Err(DecimalError::Negative);
    }
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(DecimalError::Malformed);
    }

    // value = digits(int ++ frac) * 10^(exponent - len(frac)); in units that
    // is one more factor of 10^SCALE_DIGITS.
    let frac_len = i64::try_from(frac.len()).map_err(|_| DecimalError::TooLarge)?;
    let mut scale = i64::from(exponent) - frac_len + i64::from(SCALE_DIGITS);
    let int = int.trim_start_matches('0');
    let (mut int, mut frac) = (int, frac);
    if int.is_empty() {
        frac = frac.trim_start_matches('0');
    }
    // Trailing zeros carry no precision, so they may be dropped when the
    // scale would otherwise need them divided away.
    while scale < 0 {
        if let Some(f) = frac.strip_suffix('0') {
            frac = f;
        } else if frac.is_empty() {
            match int.strip_suffix('0') {
                Some(i) => int = i,
                None => break,
            }
        } else {
            break;
        }
        scale += 1;
    }
    let mut value: u128 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u128::from(b - b'0')))
            .ok_or(DecimalError::TooLarge)?;
    }
    if value == 0 {
        return Ok(0);
    }
    if scale < 0 {
        return Err(DecimalError::TooPrecise);
    }
    let factor = u32::try_from(scale)
        .ok()
        .and_then(|s| 10u128.checked_pow(s))
        .ok_or(DecimalError::TooLarge)?;
    value.checked_mul(factor).ok_or(DecimalError::TooLarge)
}

/// The exact decimal for `units`, with at least two decimals
/// (`2500000000000000000` -> `"2.50"`), as prices are read as money.
pub(crate) fn format_price(units: u128) -> String {
    let int = units / SCALE;
    let frac = units % SCALE;
    let mut out = String::new();
    let _ = write!(out, "{int}");
    let digits = format!("{frac:018}");
    let trimmed = digits.trim_end_matches('0');
    out.push('.');
    if trimmed.len() < 2 {
        out.push_str(&digits[..2]);
    } else {
        out.push_str(trimmed);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const USD: u128 = SCALE;

    #[test]
    fn parses_plain_decimals_exactly() {
        assert_eq!(parse_price("2.5"), Ok(5 * USD / 2));
        assert_eq!(parse_price("10"), Ok(10 * USD));
        assert_eq!(parse_price("0.000125"), Ok(125_000_000_000_000));
        assert_eq!(parse_price(".5"), Ok(USD / 2));
        assert_eq!(parse_price("0"), Ok(0));
        assert_eq!(
            parse_price("0.041666666666666664"),
            Ok(41_666_666_666_666_664)
        );
        assert_eq!(parse_price("1.5000000000000000000000"), Ok(3 * USD / 2));
    }

    #[test]
    fn parses_exponents() {
        assert_eq!(parse_price("1e-7"), Ok(100_000_000_000));
        assert_eq!(parse_price("2.5E3"), Ok(2500 * USD));
        assert_eq!(parse_price("100e-2"), Ok(USD));
    }

    #[test]
    fn rejects_what_cannot_be_exact_or_valid() {
        assert_eq!(
            parse_price("0.0000000000000000001"),
            Err(DecimalError::TooPrecise)
        );
        assert_eq!(parse_price("1e-19"), Err(DecimalError::TooPrecise));
        assert_eq!(parse_price("-1"), Err(DecimalError::Negative));
        assert_eq!(parse_price("-0"), Ok(0));
        assert_eq!(parse_price("abc"), Err(DecimalError::Malformed));
        assert_eq!(parse_price(""), Err(DecimalError::Malformed));
        assert_eq!(parse_price("."), Err(DecimalError::Malformed));
        assert_eq!(parse_price("1e400"), Err(DecimalError::TooLarge));
    }

    #[test]
    fn formats_with_two_decimals_minimum() {
        assert_eq!(format_price(5 * USD / 2), "2.50");
        assert_eq!(format_price(10 * USD), "10.00");
        assert_eq!(format_price(135 * USD / 1000), "0.135");
        assert_eq!(format_price(41_666_666_666_666_664), "0.041666666666666664");
        assert_eq!(format_price(0), "0.00");
    }
}
