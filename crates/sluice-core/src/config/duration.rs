//! Durations written the way Go writes them (`500ms`, `1m30s`, `1.5s`).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// A config duration in Go's syntax. Deserialises from strings such as `5s`
/// and displays back in Go's canonical form (`1m30s`, `1h0m0s`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GoDuration(pub Duration);

impl GoDuration {
    /// A duration of `secs` seconds, for `const` defaults.
    pub const fn from_secs(secs: u64) -> GoDuration {
        GoDuration(Duration::from_secs(secs))
    }

    /// A duration of `millis` milliseconds, for `const` defaults.
    pub const fn from_millis(millis: u64) -> GoDuration {
        GoDuration(Duration::from_millis(millis))
    }
}

impl From<GoDuration> for Duration {
    fn from(duration: GoDuration) -> Duration {
        duration.0
    }
}

impl std::str::FromStr for GoDuration {
    type Err = String;

    fn from_str(s: &str) -> Result<GoDuration, String> {
        parse_go_duration(s).map(GoDuration)
    }
}

/// Nanoseconds per unit, longest names first so `ms` is not read as `m`.
const UNITS: &[(&str, u64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("\u{b5}s", 1_000),
    ("\u{3bc}s", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses a Go duration string, with Go's error messages. Negative durations
/// are rejected, as no sluice setting accepts them.
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let quoted = format!("{s:?}");
    let invalid = || format!("time: invalid duration {quoted}");
    let (negative, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (whole, after) = rest.split_at(digits_end);
        let (fraction, after) = match after.strip_prefix('.') {
            Some(after) => {
                let end = after
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(after.len());
                after.split_at(end)
            }
            None => ("", after),
        };
        if whole.is_empty() && fraction.is_empty() {
            return Err(invalid());
        }
        let unit_end = after
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(after.len());
        let (unit_name, after) = after.split_at(unit_end);
        if unit_name.is_empty() {
            return Err(format!("time: missing unit in duration {quoted}"));
        }
        let Some(&(_, unit)) = UNITS.iter().find(|(name, _)| *name == unit_name) else {
            return Err(format!(
                "time: unknown unit {unit_name:?} in duration {quoted}"
            ));
        };
        let whole: u64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| invalid())?
        };
        let mut value = whole.checked_mul(unit).ok_or_else(invalid)?;
        if !fraction.is_empty() {
            // Go keeps the fraction as a float scaled by the unit.
            let fraction: f64 = format!("0.{fraction}").parse().map_err(|_| invalid())?;
            value = value
                .checked_add((fraction * unit as f64) as u64)
                .ok_or_else(invalid)?;
        }
        total = total
            .checked_add(value)
            .filter(|t| *t <= i64::MAX as u64)
            .ok_or_else(invalid)?;
        rest = after;
    }
    if negative && total != 0 {
        return Err(format!("negative duration {quoted} is not supported"));
    }
    Ok(Duration::from_nanos(total))
}

/// Writes `value % 10^precision` as a fraction without trailing zeros and
/// returns `value / 10^precision`.
fn push_fraction(out: &mut String, value: u128, precision: u32) -> u128 {
    let scale = 10u128.pow(precision);
    let fraction = value % scale;
    if fraction != 0 {
        let digits = format!("{fraction:0width$}", width = precision as usize);
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    value / scale
}

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos();
        if nanos == 0 {
            return f.write_str("0s");
        }
        if nanos < 1_000_000_000 {
            let (precision, unit) = match nanos {
                n if n < 1_000 => return write!(f, "{n}ns"),
                n if n < 1_000_000 => (3, "\u{b5}s"),
                _ => (6, "ms"),
            };
            let mut fraction = String::new();
            let whole = push_fraction(&mut fraction, nanos, precision);
            return write!(f, "{whole}{fraction}{unit}");
        }
        let mut fraction = String::new();
        let secs = push_fraction(&mut fraction, nanos, 9);
        let (mins, secs) = (secs / 60, secs % 60);
        let (hours, mins) = (mins / 60, mins % 60);
        if hours > 0 {
            write!(f, "{hours}h{mins}m")?;
        } else if mins > 0 {
            write!(f, "{mins}m")?;
        }
        write!(f, "{secs}{fraction}s")
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<GoDuration, D::Error> {
        deserializer.deserialize_str(DurationVisitor)
    }
}

struct DurationVisitor;

impl de::Visitor<'_> for DurationVisitor {
    type Value = GoDuration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration string such as 5s")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<GoDuration, E> {
        parse_go_duration(v).map(GoDuration).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<GoDuration, E> {
        self.visit_str(&v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<GoDuration, E> {
        self.visit_str(&v.to_string())
    }
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    /// Parses `input` and renders either Go's canonical form or the error.
    fn check(input: &str, expected: Expect) {
        let actual = match parse_go_duration(input) {
            Ok(duration) => format!("{:?} {}", duration, GoDuration(duration)),
            Err(err) => err,
        };
        expected.assert_eq(&actual);
    }

    #[test]
    fn parses_go_durations() {
        check("500ms", expect![["500ms 500ms"]]);
        check("1m30s", expect![["90s 1m30s"]]);
        check("5s", expect![["5s 5s"]]);
        check("0s", expect![["0ns 0s"]]);
        check("0", expect![["0ns 0s"]]);
        check("1h", expect![["3600s 1h0m0s"]]);
        check("1.5s", expect![["1.5s 1.5s"]]);
        check("300us", expect![["300µs 300µs"]]);
        check("300µs", expect![["300µs 300µs"]]);
        check("10ns", expect![["10ns 10ns"]]);
        check("1.5h", expect![["5400s 1h30m0s"]]);
        check(".5m", expect![["30s 30s"]]);
        check("1m0.25s", expect![["60.25s 1m0.25s"]]);
        check("1500us", expect![["1.5ms 1.5ms"]]);
    }

    #[test]
    fn rejects_what_go_rejects() {
        check("", expect![[r#"time: invalid duration """#]]);
        check("5", expect![[r#"time: missing unit in duration "5""#]]);
        check(
            "5x",
            expect![[r#"time: unknown unit "x" in duration "5x""#]],
        );
        check("abc", expect![[r#"time: invalid duration "abc""#]]);
        check(
            "1..5s",
            expect![[r#"time: missing unit in duration "1..5s""#]],
        );
        check(
            "-1s",
            expect![[r#"negative duration "-1s" is not supported"#]],
        );
    }
}
