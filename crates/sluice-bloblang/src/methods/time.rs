//! Timestamp and duration methods.

use chrono::{DateTime, FixedOffset, Local, Offset as _, TimeZone, Utc};

use crate::env::{Environment, Kind, MethodImpl, ex, opt, p};
use crate::eval::type_err;
use crate::methods::{str_arg, text};
use crate::time_fmt::{go_format, go_parse};
use crate::value::{Num, Value};

const RFC3339: &str = "2006-01-02T15:04:05.999999999Z07:00";

fn local_offset() -> FixedOffset {
    *Local::now().offset()
}

/// Benthos `IGetTimestamp`: timestamps, RFC 3339 strings and unix seconds.
pub(crate) fn get_timestamp(v: &Value) -> Result<DateTime<FixedOffset>, String> {
    match v {
        Value::Timestamp(t) => Ok(*t),
        Value::String(_) | Value::Bytes(_) => {
            let s = text(v)?;
            go_parse("2006-01-02T15:04:05Z07:00", &s, local_offset())
        }
        other => match other.as_num() {
            Some(Num::I(i)) => Utc
                .timestamp_opt(i, 0)
                .single()
                .map(|t| t.with_timezone(&local_offset()))
                .ok_or_else(|| "timestamp out of range".to_owned()),
            Some(Num::F(f)) => {
                let secs = f.trunc() as i64;
                let nanos = ((f - f.trunc()) * 1e9).round() as u32;
                Utc.timestamp_opt(secs, nanos)
                    .single()
                    .map(|t| t.with_timezone(&local_offset()))
                    .ok_or_else(|| "timestamp out of range".to_owned())
            }
            None => Err(type_err("timestamp", other)),
        },
    }
}

fn tz_arg(v: &Value) -> Result<Option<chrono_tz::Tz>, String> {
    match v {
        Value::Null => Ok(None),
        other => {
            let name = str_arg(other, "tz")?;
            if name == "Local" {
                return Ok(None);
            }
            name.parse::<chrono_tz::Tz>()
                .map(Some)
                .map_err(|_| format!("unknown time zone {name}"))
        }
    }
}

fn in_tz(
    t: DateTime<FixedOffset>,
    tz: Option<chrono_tz::Tz>,
) -> (DateTime<FixedOffset>, Option<String>) {
    match tz {
        Some(tz) => {
            let z = t.with_timezone(&tz);
            let name = z.offset().to_string();
            (z.with_timezone(&z.offset().fix()), Some(name))
        }
        None => (t, None),
    }
}

fn ts_format(v: Value, args: &[Value]) -> Result<Value, String> {
    let t = get_timestamp(&v)?;
    let layout = match &args[0] {
        Value::Null => RFC3339.to_owned(),
        other => str_arg(other, "format")?,
    };
    let (t, zone) = in_tz(t, tz_arg(&args[1])?);
    Ok(Value::String(
        crate::time_fmt::go_format_named(&t, &layout, zone.as_deref()).into(),
    ))
}

fn ts_parse(v: Value, args: &[Value]) -> Result<Value, String> {
    let s = text(&v)?;
    let layout = str_arg(&args[0], "format")?;
    // Go's time.Parse: a layout without a zone reads as UTC.
    go_parse(&layout, &s, FixedOffset::east_opt(0).expect("zero offset")).map(Value::Timestamp)
}

fn ts_strftime(v: Value, args: &[Value]) -> Result<Value, String> {
    let t = get_timestamp(&v)?;
    let f = str_arg(&args[0], "format")?;
    let (t, zone) = in_tz(t, tz_arg(&args[1])?);
    // Without a named zone only UTC has a name; Go gives other fixed offsets none.
    let zone = zone.or_else(|| (t.offset().local_minus_utc() == 0).then(|| "UTC".to_owned()));
    Ok(Value::String(
        crate::timefmt::strftime(&t, &f, zone.as_deref()).into(),
    ))
}

fn ts_strptime(v: Value, args: &[Value]) -> Result<Value, String> {
    let s = match &v {
        Value::String(_) | Value::Bytes(_) => text(&v)?,
        other => return Err(type_err("string", other)),
    };
    let f = str_arg(&args[0], "format")?;
    crate::timefmt::strptime(&s, &f).map(Value::Timestamp)
}

fn ts_unix(v: Value, _: &[Value]) -> Result<Value, String> {
    Ok(Value::Int(get_timestamp(&v)?.timestamp()))
}
fn ts_unix_milli(v: Value, _: &[Value]) -> Result<Value, String> {
    Ok(Value::Int(get_timestamp(&v)?.timestamp_millis()))
}
fn ts_unix_micro(v: Value, _: &[Value]) -> Result<Value, String> {
    Ok(Value::Int(get_timestamp(&v)?.timestamp_micros()))
}
fn ts_unix_nano(v: Value, _: &[Value]) -> Result<Value, String> {
    Ok(Value::Int(
        get_timestamp(&v)?.timestamp_nanos_opt().unwrap_or(0),
    ))
}

fn nanos_of(t: &DateTime<FixedOffset>) -> i128 {
    i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos())
}

fn from_nanos(n: i128, offset: FixedOffset) -> Result<DateTime<FixedOffset>, String> {
    let secs = n.div_euclid(1_000_000_000) as i64;
    let nanos = n.rem_euclid(1_000_000_000) as u32;
    Utc.timestamp_opt(secs, nanos)
        .single()
        .map(|t| t.with_timezone(&offset))
        .ok_or_else(|| "timestamp out of range".to_owned())
}

fn ts_round(v: Value, args: &[Value]) -> Result<Value, String> {
    let t = get_timestamp(&v)?;
    let d = match args[0].as_num() {
        Some(n) => n.as_f64() as i128,
        None => return Err(type_err("number", &args[0])),
    };
    if d <= 0 {
        return Ok(Value::Timestamp(t));
    }
    let n = nanos_of(&t);
    let r = n.rem_euclid(d);
    let rounded = if r + r < d { n - r } else { n + d - r };
    Ok(Value::Timestamp(from_nanos(rounded, *t.offset())?))
}

fn ts_tz(v: Value, args: &[Value]) -> Result<Value, String> {
    let t = get_timestamp(&v)?;
    let (t, _) = in_tz(t, tz_arg(&args[0])?);
    Ok(Value::Timestamp(t))
}

fn ts_sub(v: Value, args: &[Value]) -> Result<Value, String> {
    let a = get_timestamp(&v)?;
    let b = get_timestamp(&args[0])?;
    // Like Go's Time.Sub, a difference beyond the nanosecond range saturates.
    let diff = (nanos_of(&a) - nanos_of(&b)).clamp(i128::from(i64::MIN), i128::from(i64::MAX));
    Ok(Value::Int(diff as i64))
}

/// Parses a Go duration string into nanoseconds.
pub(crate) fn parse_go_duration(s: &str) -> Result<i64, String> {
    let orig = s;
    let invalid = || format!("time: invalid duration \"{orig}\"");
    let mut s = s;
    let mut neg = false;
    if let Some(r) = s.strip_prefix('-') {
        neg = true;
        s = r;
    } else if let Some(r) = s.strip_prefix('+') {
        s = r;
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: f64 = 0.0;
    while !s.is_empty() {
        let n = s
            .bytes()
            .take_while(|c| c.is_ascii_digit() || *c == b'.')
            .count();
        if n == 0 {
            return Err(invalid());
        }
        let num: f64 = s[..n].parse().map_err(|_| invalid())?;
        s = &s[n..];
        let u = s
            .bytes()
            .take_while(|c| !(c.is_ascii_digit() || *c == b'.'))
            .count();
        let unit = &s[..u];
        s = &s[u..];
        let mult = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("time: missing unit in duration \"{orig}\"")),
            other => {
                return Err(format!(
                    "time: unknown unit \"{other}\" in duration \"{orig}\""
                ));
            }
        };
        total += num * mult;
    }
    Ok(if neg {
        -(total.round() as i64)
    } else {
        total.round() as i64
    })
}

fn parse_duration(v: Value, _: &[Value]) -> Result<Value, String> {
    parse_go_duration(&text(&v)?).map(Value::Int)
}

/// A decimal field of an ISO 8601 period: `coef / 10^scale`. The scale counts the digits
/// written after the point, trailing zeros included, as the Go `period` package keeps them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Dec {
    coef: i64,
    scale: u32,
}

/// An ISO 8601 period as Benthos reads it (Go's `rickb777/period` v1): years, months, weeks,
/// days, hours, minutes and seconds, each a decimal, and a leading sign.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Period {
    neg: bool,
    /// Years, months, weeks, days, hours, minutes, seconds.
    fields: [Dec; 7],
}

const YEARS: usize = 0;
const MONTHS: usize = 1;
const WEEKS: usize = 2;
const DAYS: usize = 3;
const HOURS: usize = 4;
const MINUTES: usize = 5;
const SECONDS: usize = 6;

/// Parses an ISO 8601 period with the `period` package's rules and messages.
fn parse_period(s: &str) -> Result<Period, String> {
    let blank = || "cannot parse a blank string as a period".to_owned();
    let mut period = Period::default();
    let mut rest = s;
    if let Some(r) = rest.strip_prefix('-') {
        period.neg = true;
        rest = r;
    } else if let Some(r) = rest.strip_prefix('+') {
        rest = r;
    }
    match rest {
        "" => return Err(blank()),
        "P0Y" | "P0M" | "P0W" | "P0D" | "PT0H" | "PT0M" | "PT0S" => return Ok(Period::default()),
        _ => {}
    }
    let Some(mut rest) = rest.strip_prefix('P') else {
        return Err(format!("{s}: expected 'P' period mark at the start"));
    };
    // Which fields may appear: the date ones before `T`, the time ones after.
    let mut armed = [true, true, true, true, false, false, false];
    let mut set = [false; 7];
    let mut in_time = false;
    let mut fraction_at: Option<char> = None;
    let mut n_fields = 0;
    while let Some(c) = rest.chars().next() {
        if c == 'T' {
            if in_time {
                return Err(format!("{s}: 'T' designator cannot occur more than once"));
            }
            in_time = true;
            armed = [false, false, false, false, true, true, true];
            rest = &rest[1..];
            continue;
        }
        let digits = rest
            .char_indices()
            .take_while(|&(i, c)| {
                c.is_ascii_digit() || c == '.' || c == ',' || (i == 0 && c == '-')
            })
            .count();
        if digits == 0 {
            return Err(format!("{s}: expected a number but found '{c}'"));
        }
        let Some(designator) = rest[digits..].chars().next() else {
            return Err(format!("{s}: missing designator at the end"));
        };
        let number = parse_decimal(&rest[..digits])
            .ok_or_else(|| format!("{s}: number invalid or out of range"))?;
        let field = match designator {
            'Y' => YEARS,
            'M' if in_time => MINUTES,
            'M' => MONTHS,
            'W' => WEEKS,
            'D' => DAYS,
            'H' => HOURS,
            'S' => SECONDS,
            other => {
                return Err(format!(
                    "{s}: expected a designator Y, M, W, D, H, or S not '{other}'"
                ));
            }
        };
        if let Some(previous) = fraction_at
            && number.coef != 0
        {
            return Err(format!(
                "{s}: '{previous}' & '{designator}' only the last field can have a fraction"
            ));
        }
        if !armed[field] {
            return Err(format!("{s}: '{designator}' designator cannot occur here"));
        }
        if set[field] {
            return Err(format!(
                "{s}: '{designator}' designator cannot occur more than once"
            ));
        }
        set[field] = true;
        period.fields[field] = number;
        n_fields += 1;
        if number.scale > 0 {
            fraction_at = Some(designator);
        }
        rest = &rest[digits + designator.len_utf8()..];
    }
    if n_fields == 0 {
        return Err(format!(
            "{s}: expected 'Y', 'M', 'W', 'D', 'H', 'M', or 'S' designator"
        ));
    }
    Ok(period)
}

/// A decimal of at most 19 significant digits, `,` read as the point.
fn parse_decimal(text: &str) -> Option<Dec> {
    let (neg, body) = match text.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, text),
    };
    let body = body.replace(',', ".");
    let (int, frac) = body.split_once('.').unwrap_or((&body, ""));
    if int.is_empty() || frac.contains('.') {
        return None;
    }
    let digits = format!("{int}{frac}");
    let significant = digits.trim_start_matches('0');
    if significant.len() > 19 {
        return None;
    }
    let coef: i64 = if significant.is_empty() {
        0
    } else {
        significant.parse().ok()?
    };
    Some(Dec {
        coef: if neg { -coef } else { coef },
        scale: u32::try_from(frac.len()).ok()?,
    })
}

impl Period {
    fn is_zero(&self) -> bool {
        self.fields.iter().all(|f| f.coef == 0)
    }

    /// The value of a field at `factor` units per whole: the factor loses a digit for each
    /// decimal place, as the Go package computes it.
    fn scaled(field: Dec, factor: i128) -> i128 {
        let mut factor = factor;
        for _ in 0..field.scale {
            factor /= 10;
        }
        i128::from(field.coef) * factor
    }

    /// The length in nanoseconds, taking a year as 365.2425 days, a month as a twelfth of
    /// that and a day as 24 hours (the Go package's `Duration`).
    fn nanos(&self) -> i128 {
        const DAYS_PER_YEAR_E6: i128 = 365_242_500;
        const E9: i128 = 1_000_000_000;
        let f = &self.fields;
        let days_e9 = Self::scaled(f[DAYS], E9)
            + Self::scaled(f[WEEKS], 7 * E9)
            + Self::scaled(f[MONTHS], DAYS_PER_YEAR_E6 / 12 * 1000)
            + Self::scaled(f[YEARS], DAYS_PER_YEAR_E6 * 1000);
        let hms = Self::scaled(f[HOURS], 3_600 * E9)
            + Self::scaled(f[MINUTES], 60 * E9)
            + Self::scaled(f[SECONDS], E9);
        let total = days_e9 * 86_400 + hms;
        if self.neg { -total } else { total }
    }
}

fn parse_duration_iso8601(v: Value, _: &[Value]) -> Result<Value, String> {
    let s = text(&v)?;
    let period = parse_period(&s)?;
    i64::try_from(period.nanos())
        .map(Value::Int)
        .map_err(|_| format!("duration {s} does not fit in 64-bit nanoseconds"))
}

/// Go's `time.AddDate`: the month and day may overflow and are normalised (January 31st plus
/// a month is March 2nd or 3rd), the wall clock is kept.
fn add_date(
    t: DateTime<FixedOffset>,
    years: i64,
    months: i64,
    days: i64,
) -> Option<DateTime<FixedOffset>> {
    use chrono::Datelike as _;
    let month0 = i64::from(t.month0()) + months;
    let year = i64::from(t.year()) + years + month0.div_euclid(12);
    let first = chrono::NaiveDate::from_ymd_opt(
        i32::try_from(year).ok()?,
        u32::try_from(month0.rem_euclid(12) + 1).ok()?,
        1,
    )?;
    let date = first.checked_add_signed(chrono::TimeDelta::try_days(
        i64::from(t.day0()).checked_add(days)?,
    )?)?;
    let naive = date.and_time(t.time());
    t.offset().from_local_datetime(&naive).single()
}

/// Go's `Period.AddTo`: whole calendar fields go through `AddDate`, anything else is added
/// as an approximate duration.
fn add_iso(t: DateTime<FixedOffset>, s: &str, sign: i64) -> Result<DateTime<FixedOffset>, String> {
    let mut period = parse_period(s)?;
    if sign < 0 && !period.is_zero() {
        period.neg = !period.neg;
    }
    let out_of_range = || format!("timestamp out of range after adding duration {s}");
    let f = period.fields;
    let calendar = [f[YEARS], f[MONTHS], f[WEEKS], f[DAYS]];
    let whole_calendar =
        calendar.iter().any(|d| d.coef != 0) && calendar.iter().all(|d| d.scale == 0);
    let nanos = |p: &Period| i64::try_from(p.nanos()).map_err(|_| out_of_range());
    if whole_calendar {
        let sign = if period.neg { -1 } else { 1 };
        let mut hms = period;
        for field in [YEARS, MONTHS, WEEKS, DAYS] {
            hms.fields[field] = Dec::default();
        }
        let days = f[WEEKS].coef.saturating_mul(7).saturating_add(f[DAYS].coef);
        let shifted = add_date(t, sign * f[YEARS].coef, sign * f[MONTHS].coef, sign * days)
            .ok_or_else(out_of_range)?;
        return shifted
            .checked_add_signed(chrono::TimeDelta::nanoseconds(nanos(&hms)?))
            .ok_or_else(out_of_range);
    }
    t.checked_add_signed(chrono::TimeDelta::nanoseconds(nanos(&period)?))
        .ok_or_else(out_of_range)
}

/// A literal duration is read when the mapping is parsed, as Benthos does.
fn prepare_iso_duration(
    args: &[crate::eval::Expr],
    _: &crate::env::PrepareCx<'_>,
) -> Result<Vec<crate::eval::Expr>, String> {
    if let crate::eval::Expr::Lit(Value::String(s)) = &args[0] {
        parse_period(s)?;
    }
    Ok(Vec::new())
}

fn ts_add_iso8601(v: Value, args: &[Value]) -> Result<Value, String> {
    let t = get_timestamp(&v)?;
    add_iso(t, &str_arg(&args[0], "duration")?, 1).map(Value::Timestamp)
}

fn ts_sub_iso8601(v: Value, args: &[Value]) -> Result<Value, String> {
    let t = get_timestamp(&v)?;
    add_iso(t, &str_arg(&args[0], "duration")?, -1).map(Value::Timestamp)
}

pub(crate) fn register(env: &mut Environment) {
    let cat = "Timestamp Manipulation";
    let fmt_params = || {
        vec![
            opt("format", Kind::Str, Value::Null),
            opt("tz", Kind::Str, Value::Null),
        ]
    };
    for name in ["ts_format", "format_timestamp"] {
        env.method(
            name,
            cat,
            "Formats a timestamp with a Go layout, optionally in a time zone.",
            fmt_params(),
            vec![ex(
                r#"root.something_at = this.created_at.ts_format("2006-Jan-02 15:04:05")"#,
                &[(
                    r#"{"created_at":"2020-08-14T11:50:26.371Z"}"#,
                    r#"{"something_at":"2020-Aug-14 11:50:26"}"#,
                )],
            )],
            MethodImpl::Simple(ts_format),
        );
    }
    for name in ["ts_parse", "parse_timestamp"] {
        env.method(
            name,
            cat,
            "Parses a string with a Go layout into a timestamp.",
            vec![p("format", Kind::Str)],
            vec![ex(
                r#"root.doc.timestamp = this.doc.timestamp.ts_parse("2006-Jan-02")"#,
                &[(
                    r#"{"doc":{"timestamp":"2020-Aug-14"}}"#,
                    r#"{"doc":{"timestamp":"2020-08-14T00:00:00Z"}}"#,
                )],
            )],
            MethodImpl::Simple(ts_parse),
        );
    }
    for name in ["ts_strftime", "format_timestamp_strftime"] {
        env.method(
            name,
            cat,
            "Formats a timestamp with strftime specifiers.",
            vec![p("format", Kind::Str), opt("tz", Kind::Str, Value::Null)],
            vec![ex(
                r#"root.something_at = this.created_at.ts_strftime("%Y-%b-%d %H:%M:%S")"#,
                &[(
                    r#"{"created_at":"2020-08-14T11:50:26.371Z"}"#,
                    r#"{"something_at":"2020-Aug-14 11:50:26"}"#,
                )],
            )],
            MethodImpl::Simple(ts_strftime),
        );
    }
    for name in ["ts_strptime", "parse_timestamp_strptime"] {
        env.method(
            name,
            cat,
            "Parses a string with strptime specifiers into a timestamp.",
            vec![p("format", Kind::Str)],
            vec![ex(
                r#"root.doc.timestamp = this.doc.timestamp.ts_strptime("%Y-%b-%d")"#,
                &[(
                    r#"{"doc":{"timestamp":"2020-Aug-14"}}"#,
                    r#"{"doc":{"timestamp":"2020-08-14T00:00:00Z"}}"#,
                )],
            )],
            MethodImpl::Simple(ts_strptime),
        );
    }
    let unix: [(&'static str, &'static str, crate::env::SimpleMethod); 8] = [
        ("ts_unix", "format_timestamp_unix", ts_unix),
        (
            "ts_unix_milli",
            "format_timestamp_unix_milli",
            ts_unix_milli,
        ),
        (
            "ts_unix_micro",
            "format_timestamp_unix_micro",
            ts_unix_micro,
        ),
        ("ts_unix_nano", "format_timestamp_unix_nano", ts_unix_nano),
        ("ts_unix", "ts_unix", ts_unix),
        ("ts_unix_milli", "ts_unix_milli", ts_unix_milli),
        ("ts_unix_micro", "ts_unix_micro", ts_unix_micro),
        ("ts_unix_nano", "ts_unix_nano", ts_unix_nano),
    ];
    for (name, alias, f) in unix {
        env.method(
            name,
            cat,
            "The unix time of a timestamp.",
            vec![],
            vec![ex(
                "root.created_at_unix = this.created_at.ts_unix()",
                &[(
                    r#"{"created_at":"2009-11-10T23:00:00Z"}"#,
                    r#"{"created_at_unix":1257894000}"#,
                )],
            )],
            MethodImpl::Simple(f),
        );
        env.method(
            alias,
            cat,
            "The unix time of a timestamp.",
            vec![],
            vec![],
            MethodImpl::Simple(f),
        );
    }
    env.method(
        "ts_round",
        cat,
        "Rounds a timestamp to a duration in nanoseconds.",
        vec![p("duration", Kind::Int)],
        vec![ex(
            r#"root.created_at_hour = this.created_at.ts_round("1h".parse_duration())"#,
            &[(
                r#"{"created_at":"2020-08-14T05:54:23Z"}"#,
                r#"{"created_at_hour":"2020-08-14T06:00:00Z"}"#,
            )],
        )],
        MethodImpl::Simple(ts_round),
    );
    env.method(
        "ts_tz",
        cat,
        "Moves a timestamp into a time zone.",
        vec![p("tz", Kind::Str)],
        vec![ex(
            r#"root.created_at_utc = this.created_at.ts_tz("UTC")"#,
            &[(
                r#"{"created_at":"2021-02-03T17:05:06+01:00"}"#,
                r#"{"created_at_utc":"2021-02-03T16:05:06Z"}"#,
            )],
        )],
        MethodImpl::Simple(ts_tz),
    );
    env.method(
        "ts_sub",
        cat,
        "The nanoseconds between two timestamps.",
        vec![p("t2", Kind::Timestamp)],
        vec![ex(
            "root.between = this.started_at.ts_sub(\"2020-08-13T05:54:23Z\")",
            &[(
                r#"{"started_at":"2020-08-14T05:54:23Z"}"#,
                r#"{"between":86400000000000}"#,
            )],
        )],
        MethodImpl::Simple(ts_sub),
    );
    env.method(
        "ts_add_iso8601",
        cat,
        "Adds an ISO 8601 duration to a timestamp.",
        vec![p("duration", Kind::Str)],
        vec![ex(
            r#"root.future_date = this.created_at.ts_add_iso8601("P1Y2M3DT4H5M6S")"#,
            &[(
                r#"{"created_at":"2020-01-01T00:00:00Z"}"#,
                r#"{"future_date":"2021-03-04T04:05:06Z"}"#,
            )],
        )],
        MethodImpl::Simple(ts_add_iso8601),
    );
    env.method(
        "ts_sub_iso8601",
        cat,
        "Subtracts an ISO 8601 duration from a timestamp.",
        vec![p("duration", Kind::Str)],
        vec![],
        MethodImpl::Simple(ts_sub_iso8601),
    );
    env.method(
        "parse_duration",
        cat,
        "Parses a Go duration string into nanoseconds.",
        vec![],
        vec![ex(
            "root.delay_for_ns = this.delay_for.parse_duration()",
            &[(r#"{"delay_for":"50us"}"#, r#"{"delay_for_ns":50000}"#)],
        )],
        MethodImpl::Simple(parse_duration),
    );
    env.method(
        "parse_duration_iso8601",
        cat,
        "Parses an ISO 8601 duration into nanoseconds.",
        vec![],
        vec![ex(
            "root.delay_for_ns = this.delay_for.parse_duration_iso8601()",
            &[(
                r#"{"delay_for":"P3Y6M4DT12H30M5S"}"#,
                r#"{"delay_for_ns":110839937000000000}"#,
            )],
        )],
        MethodImpl::Simple(parse_duration_iso8601),
    );
    env.prepare_method("ts_add_iso8601", prepare_iso_duration);
    env.prepare_method("ts_sub_iso8601", prepare_iso_duration);
    let _ = go_format;
}

#[cfg(test)]
mod tests {
    use crate::testing::map_one;

    fn check(mapping: &str, expected: &str) {
        let got = map_one(mapping, "{}").unwrap_or_else(|e| format!("error: {e}"));
        assert_eq!(got, expected, "{mapping}");
    }

    #[test]
    fn iso_periods_parse_as_the_go_package_does() {
        check(
            r#"root = "P3Y6M4DT12H30M5S".parse_duration_iso8601()"#,
            "110839937000000000",
        );
        check(r#"root = "PT7.5S".parse_duration_iso8601()"#, "7500000000");
        check(
            r#"root = "-P1D".parse_duration_iso8601()"#,
            "-86400000000000",
        );
        check(
            r#"root = "P0,5Y".parse_duration_iso8601()"#,
            "15778476000000000",
        );
        check(r#"root = "P0D".parse_duration_iso8601()"#, "0");
        check(
            r#"root = "P2.5YT7.5S".parse_duration_iso8601()"#,
            "error: line 1 char 45: P2.5YT7.5S: 'Y' & 'S' only the last field can have a fraction",
        );
        check(
            r#"root = "P3S".parse_duration_iso8601()"#,
            "error: line 1 char 38: P3S: 'S' designator cannot occur here",
        );
        check(
            r#"root = "gibberish".parse_duration_iso8601()"#,
            "error: line 1 char 44: gibberish: expected 'P' period mark at the start",
        );
        check(
            r#"root = "P1D1D".parse_duration_iso8601()"#,
            "error: line 1 char 40: P1D1D: 'D' designator cannot occur more than once",
        );
        check(
            r#"root = "PT".parse_duration_iso8601()"#,
            "error: line 1 char 37: PT: expected 'Y', 'M', 'W', 'D', 'H', 'M', or 'S' designator",
        );
        check(
            r#"root = "P1".parse_duration_iso8601()"#,
            "error: line 1 char 37: P1: missing designator at the end",
        );
        check(
            r#"root = "P1X".parse_duration_iso8601()"#,
            "error: line 1 char 38: P1X: expected a designator Y, M, W, D, H, or S not 'X'",
        );
        // Not a literal target: the error comes when the mapping runs, and is the plugin's own.
        check(
            r#"root = "P3S".string().parse_duration_iso8601()"#,
            "error: failed assignment (line 1): P3S: 'S' designator cannot occur here",
        );
    }

    #[test]
    fn iso_periods_add_as_go_add_date_does() {
        // Whole calendar fields overflow the month as Go's AddDate does.
        check(
            r#"root = "2021-01-31T10:00:00Z".ts_add_iso8601("P1M").ts_format("2006-01-02T15:04:05Z07:00")"#,
            "2021-03-03T10:00:00Z",
        );
        check(
            r#"root = "2020-03-31T00:00:00Z".ts_sub_iso8601("P1M").ts_format("2006-01-02")"#,
            "2020-03-02",
        );
        check(
            r#"root = "2020-01-01T00:00:00Z".ts_add_iso8601("P1Y2M3DT4H5M6S").ts_format("2006-01-02T15:04:05Z07:00")"#,
            "2021-03-04T04:05:06Z",
        );
        // A fractional day is an approximate duration of 24-hour days.
        check(
            r#"root = "2020-01-01T00:00:00Z".ts_add_iso8601("P0.5D").ts_format("2006-01-02T15:04:05Z07:00")"#,
            "2020-01-01T12:00:00Z",
        );
        // A literal duration is checked when the mapping is parsed.
        check(
            r#"root = this.t.ts_add_iso8601("P3S")"#,
            "error: line 1 char 36: P3S: 'S' designator cannot occur here",
        );
    }
}
