//! Timestamp and duration methods.

use chrono::{DateTime, FixedOffset, Local, NaiveDateTime, Offset as _, TimeZone, Utc};

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
    let (t, _) = in_tz(t, tz_arg(&args[1])?);
    Ok(Value::String(strftime(&t, &f).into()))
}

fn strftime(t: &DateTime<FixedOffset>, f: &str) -> String {
    // `%f` in Benthos is microseconds, chrono's is nanoseconds.
    let f = f.replace("%f", "%6f");
    let mut out = String::new();
    use std::fmt::Write as _;
    if write!(out, "{}", t.format(&f)).is_err() {
        return f;
    }
    out
}

fn ts_strptime(v: Value, args: &[Value]) -> Result<Value, String> {
    let s = match &v {
        Value::String(_) | Value::Bytes(_) => text(&v)?,
        other => return Err(type_err("string", other)),
    };
    let f = str_arg(&args[0], "format")?;
    let cf = f.replace("%f", "%.f").replace(".%.f", "%.f");
    if let Ok(t) = DateTime::parse_from_str(&s, &cf) {
        return Ok(Value::Timestamp(t));
    }
    if let Ok(n) = NaiveDateTime::parse_from_str(&s, &cf) {
        return Ok(Value::Timestamp(n.and_utc().fixed_offset()));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(&s, &cf) {
        return Ok(Value::Timestamp(
            d.and_hms_opt(0, 0, 0)
                .expect("midnight")
                .and_utc()
                .fixed_offset(),
        ));
    }
    Err(format!("failed to parse \"{s}\" with format \"{f}\""))
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

/// ISO 8601 durations (`P3Y6M4DT12H30M5S`): years are 365 days and months 30 days.
type IsoParts = (f64, f64, f64, f64, f64, f64, f64);

fn iso_duration_parts(s: &str) -> Result<IsoParts, String> {
    let invalid = || format!("invalid ISO 8601 duration: {s}");
    let body = s.strip_prefix('P').ok_or_else(invalid)?;
    let (date, time) = match body.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (body, None),
    };
    let (mut y, mut mo, mut w, mut d, mut h, mut mi, mut sec) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let mut parse = |part: &str, is_time: bool| -> Result<(), String> {
        let mut rest = part;
        while !rest.is_empty() {
            let n = rest
                .bytes()
                .take_while(|c| c.is_ascii_digit() || *c == b'.' || *c == b',')
                .count();
            if n == 0 || n >= rest.len() {
                return Err(invalid());
            }
            let num: f64 = rest[..n].replace(',', ".").parse().map_err(|_| invalid())?;
            let unit = rest.as_bytes()[n];
            match (is_time, unit) {
                (false, b'Y') => y = num,
                (false, b'M') => mo = num,
                (false, b'W') => w = num,
                (false, b'D') => d = num,
                (true, b'H') => h = num,
                (true, b'M') => mi = num,
                (true, b'S') => sec = num,
                _ => return Err(invalid()),
            }
            rest = &rest[n + 1..];
        }
        Ok(())
    };
    parse(date, false)?;
    if let Some(t) = time {
        if t.is_empty() {
            return Err(invalid());
        }
        parse(t, true)?;
    }
    Ok((y, mo, w, d, h, mi, sec))
}

fn parse_duration_iso8601(v: Value, _: &[Value]) -> Result<Value, String> {
    let s = text(&v)?;
    let (y, mo, w, d, h, mi, sec) = iso_duration_parts(&s)?;
    let day = 86_400_000_000_000i128;
    let whole = |x: f64, unit: i128| -> i128 { (x * unit as f64).round() as i128 };
    let sec_nanos = {
        let text = format!("{sec}");
        let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
        let mut frac = frac.to_owned();
        frac.truncate(9);
        while frac.len() < 9 {
            frac.push('0');
        }
        int.parse::<i128>().unwrap_or(0) * 1_000_000_000 + frac.parse::<i128>().unwrap_or(0)
    };
    let year = 31_556_952_000_000_000i128;
    let total = [
        whole(y, year),
        whole(mo, year / 12),
        whole(w, 7 * day),
        whole(d, day),
        whole(h, 3_600_000_000_000),
        whole(mi, 60_000_000_000),
        sec_nanos,
    ]
    .into_iter()
    .fold(0i128, i128::saturating_add);
    i64::try_from(total)
        .map(Value::Int)
        .map_err(|_| format!("duration {s} does not fit in 64-bit nanoseconds"))
}

fn add_iso(t: DateTime<FixedOffset>, s: &str, sign: i32) -> Result<DateTime<FixedOffset>, String> {
    let (y, mo, w, d, h, mi, sec) = iso_duration_parts(s)?;
    let out_of_range = || format!("timestamp out of range after adding duration {s}");
    // Every step is checked: the duration comes from data, and a huge one
    // must be an error for this message, not a panic for the process.
    let months = (y.trunc() * 12.0 + mo.trunc()) * f64::from(sign);
    if months.abs() > f64::from(u32::MAX) {
        return Err(out_of_range());
    }
    let mut out = t;
    if months > 0.0 {
        out = out
            .checked_add_months(chrono::Months::new(months as u32))
            .ok_or_else(out_of_range)?;
    } else if months < 0.0 {
        out = out
            .checked_sub_months(chrono::Months::new((-months) as u32))
            .ok_or_else(out_of_range)?;
    }
    let days = (w * 7.0 + d).trunc() * f64::from(sign);
    let nanos = ((h * 3600.0 + mi * 60.0 + sec) * 1e9).round() * f64::from(sign);
    if days.abs() >= 1e15 || nanos.abs() >= 9e18 {
        return Err(out_of_range());
    }
    let days = chrono::TimeDelta::try_days(days as i64).ok_or_else(out_of_range)?;
    out = out.checked_add_signed(days).ok_or_else(out_of_range)?;
    out = out
        .checked_add_signed(chrono::TimeDelta::nanoseconds(nanos as i64))
        .ok_or_else(out_of_range)?;
    Ok(out)
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
    let _ = go_format;
}
