//! Go reference-time layouts (`2006-01-02T15:04:05Z07:00`): formatting and parsing.

use crate::timefmt::{LONG_DAYS as DAYS, LONG_MONTHS as MONTHS};
use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, TimeZone, Timelike};

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Lit(String),
    Year4,
    Year2,
    MonthLong,
    MonthShort,
    Month2,
    Month1,
    WeekdayLong,
    WeekdayShort,
    Day2,
    Day1,
    DayUnder,
    YearDay3,
    Hour24,
    Hour12_2,
    Hour12_1,
    Minute2,
    Minute1,
    Second2,
    Second1,
    PmUpper,
    PmLower,
    TzName,
    /// `Z07:00` style: (z_for_utc, with_colon, with_seconds, hours_only)
    Offset {
        z: bool,
        colon: bool,
        hours_only: bool,
        seconds: bool,
    },
    /// Fractional seconds: digits count, trailing zeros trimmed (`9`) or not (`0`), separator.
    Frac {
        digits: usize,
        trim: bool,
        sep: char,
    },
}

fn tokenize(layout: &str) -> Vec<Tok> {
    let mut toks = Vec::new();
    let mut lit = String::new();
    let chars: Vec<char> = layout.chars().collect();
    let mut i = 0;
    let starts = |i: usize, p: &str| -> bool {
        let pc: Vec<char> = p.chars().collect();
        chars.len() >= i + pc.len() && chars[i..i + pc.len()] == pc[..]
    };
    while i < chars.len() {
        let push = |t: Tok, n: usize, toks: &mut Vec<Tok>, lit: &mut String| {
            if !lit.is_empty() {
                toks.push(Tok::Lit(std::mem::take(lit)));
            }
            toks.push(t);
            n
        };
        let c = chars[i];
        let n = if starts(i, "January") {
            push(Tok::MonthLong, 7, &mut toks, &mut lit)
        } else if starts(i, "Jan") {
            push(Tok::MonthShort, 3, &mut toks, &mut lit)
        } else if starts(i, "Monday") {
            push(Tok::WeekdayLong, 6, &mut toks, &mut lit)
        } else if starts(i, "Mon") {
            push(Tok::WeekdayShort, 3, &mut toks, &mut lit)
        } else if starts(i, "MST") {
            push(Tok::TzName, 3, &mut toks, &mut lit)
        } else if starts(i, "2006") {
            push(Tok::Year4, 4, &mut toks, &mut lit)
        } else if starts(i, "2") {
            push(Tok::Day1, 1, &mut toks, &mut lit)
        } else if starts(i, "01") {
            push(Tok::Month2, 2, &mut toks, &mut lit)
        } else if starts(i, "02") {
            push(Tok::Day2, 2, &mut toks, &mut lit)
        } else if starts(i, "03") {
            push(Tok::Hour12_2, 2, &mut toks, &mut lit)
        } else if starts(i, "04") {
            push(Tok::Minute2, 2, &mut toks, &mut lit)
        } else if starts(i, "05") {
            push(Tok::Second2, 2, &mut toks, &mut lit)
        } else if starts(i, "06") {
            push(Tok::Year2, 2, &mut toks, &mut lit)
        } else if starts(i, "002") {
            push(Tok::YearDay3, 3, &mut toks, &mut lit)
        } else if starts(i, "_2") {
            push(Tok::DayUnder, 2, &mut toks, &mut lit)
        } else if starts(i, "15") {
            push(Tok::Hour24, 2, &mut toks, &mut lit)
        } else if starts(i, "1") {
            push(Tok::Month1, 1, &mut toks, &mut lit)
        } else if starts(i, "3") {
            push(Tok::Hour12_1, 1, &mut toks, &mut lit)
        } else if starts(i, "4") {
            push(Tok::Minute1, 1, &mut toks, &mut lit)
        } else if starts(i, "5") {
            push(Tok::Second1, 1, &mut toks, &mut lit)
        } else if starts(i, "PM") {
            push(Tok::PmUpper, 2, &mut toks, &mut lit)
        } else if starts(i, "pm") {
            push(Tok::PmLower, 2, &mut toks, &mut lit)
        } else if starts(i, "Z07:00:00") || starts(i, "-07:00:00") {
            let t = Tok::Offset {
                z: c == 'Z',
                colon: true,
                hours_only: false,
                seconds: true,
            };
            push(t, 9, &mut toks, &mut lit)
        } else if starts(i, "Z070000") || starts(i, "-070000") {
            let t = Tok::Offset {
                z: c == 'Z',
                colon: false,
                hours_only: false,
                seconds: true,
            };
            push(t, 7, &mut toks, &mut lit)
        } else if starts(i, "Z07:00") || starts(i, "-07:00") {
            let t = Tok::Offset {
                z: c == 'Z',
                colon: true,
                hours_only: false,
                seconds: false,
            };
            push(t, 6, &mut toks, &mut lit)
        } else if starts(i, "Z0700") || starts(i, "-0700") {
            let t = Tok::Offset {
                z: c == 'Z',
                colon: false,
                hours_only: false,
                seconds: false,
            };
            push(t, 5, &mut toks, &mut lit)
        } else if starts(i, "Z07") || starts(i, "-07") {
            let t = Tok::Offset {
                z: c == 'Z',
                colon: false,
                hours_only: true,
                seconds: false,
            };
            push(t, 3, &mut toks, &mut lit)
        } else if (c == '.' || c == ',')
            && i + 1 < chars.len()
            && (chars[i + 1] == '0' || chars[i + 1] == '9')
        {
            let d = chars[i + 1];
            let mut j = i + 1;
            while j < chars.len() && chars[j] == d {
                j += 1;
            }
            // Go only treats it as fractional seconds when not followed by a digit.
            if j < chars.len() && chars[j].is_ascii_digit() {
                lit.push(c);
                1
            } else {
                let t = Tok::Frac {
                    digits: j - i - 1,
                    trim: d == '9',
                    sep: c,
                };
                push(t, j - i, &mut toks, &mut lit)
            }
        } else {
            lit.push(c);
            1
        };
        i += n;
    }
    if !lit.is_empty() {
        toks.push(Tok::Lit(lit));
    }
    toks
}

fn tz_abbrev(t: &DateTime<FixedOffset>) -> String {
    let secs = t.offset().local_minus_utc();
    if secs == 0 {
        return "UTC".to_owned();
    }
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.unsigned_abs();
    if a.is_multiple_of(3600) {
        format!("{sign}{:02}", a / 3600)
    } else {
        format!("{sign}{:02}{:02}", a / 3600, (a % 3600) / 60)
    }
}

/// Formats a time with a Go layout.
pub(crate) fn go_format(t: &DateTime<FixedOffset>, layout: &str) -> String {
    go_format_named(t, layout, None)
}

/// Formats a time with a Go layout, using `zone_name` for `MST` when known.
pub(crate) fn go_format_named(
    t: &DateTime<FixedOffset>,
    layout: &str,
    zone_name: Option<&str>,
) -> String {
    let mut out = String::new();
    for tok in tokenize(layout) {
        match tok {
            Tok::Lit(s) => out.push_str(&s),
            Tok::Year4 => out.push_str(&format!("{:04}", t.year())),
            Tok::Year2 => out.push_str(&format!("{:02}", t.year().rem_euclid(100))),
            Tok::MonthLong => out.push_str(MONTHS[t.month0() as usize]),
            Tok::MonthShort => out.push_str(&MONTHS[t.month0() as usize][..3]),
            Tok::Month2 => out.push_str(&format!("{:02}", t.month())),
            Tok::Month1 => out.push_str(&t.month().to_string()),
            Tok::WeekdayLong => {
                out.push_str(DAYS[t.weekday().num_days_from_sunday() as usize]);
            }
            Tok::WeekdayShort => {
                out.push_str(&DAYS[t.weekday().num_days_from_sunday() as usize][..3]);
            }
            Tok::Day2 => out.push_str(&format!("{:02}", t.day())),
            Tok::Day1 => out.push_str(&t.day().to_string()),
            Tok::DayUnder => out.push_str(&format!("{:>2}", t.day())),
            Tok::YearDay3 => out.push_str(&format!("{:03}", t.ordinal())),
            Tok::Hour24 => out.push_str(&format!("{:02}", t.hour())),
            Tok::Hour12_2 => out.push_str(&format!("{:02}", hour12(t.hour()))),
            Tok::Hour12_1 => out.push_str(&hour12(t.hour()).to_string()),
            Tok::Minute2 => out.push_str(&format!("{:02}", t.minute())),
            Tok::Minute1 => out.push_str(&t.minute().to_string()),
            Tok::Second2 => out.push_str(&format!("{:02}", t.second())),
            Tok::Second1 => out.push_str(&t.second().to_string()),
            Tok::PmUpper => out.push_str(if t.hour() >= 12 { "PM" } else { "AM" }),
            Tok::PmLower => out.push_str(if t.hour() >= 12 { "pm" } else { "am" }),
            Tok::TzName => match zone_name {
                Some(n) => out.push_str(n),
                None => out.push_str(&tz_abbrev(t)),
            },
            Tok::Offset {
                z,
                colon,
                hours_only,
                seconds,
            } => {
                let secs = t.offset().local_minus_utc();
                if z && secs == 0 {
                    out.push('Z');
                } else {
                    let a = secs.unsigned_abs();
                    out.push(if secs < 0 { '-' } else { '+' });
                    out.push_str(&format!("{:02}", a / 3600));
                    if !hours_only {
                        if colon {
                            out.push(':');
                        }
                        out.push_str(&format!("{:02}", (a % 3600) / 60));
                        if seconds {
                            if colon {
                                out.push(':');
                            }
                            out.push_str(&format!("{:02}", a % 60));
                        }
                    }
                }
            }
            Tok::Frac { digits, trim, sep } => {
                let nanos = t.nanosecond() % 1_000_000_000;
                let s = format!("{nanos:09}");
                let mut frac = s[..digits.min(9)].to_owned();
                if trim {
                    while frac.ends_with('0') {
                        frac.pop();
                    }
                    if !frac.is_empty() {
                        out.push(sep);
                        out.push_str(&frac);
                    }
                } else {
                    while frac.len() < digits {
                        frac.push('0');
                    }
                    out.push(sep);
                    out.push_str(&frac);
                }
            }
        }
    }
    out
}

fn hour12(h: u32) -> u32 {
    match h % 12 {
        0 => 12,
        x => x,
    }
}

struct Cursor<'a> {
    s: &'a str,
}

impl Cursor<'_> {
    fn digits(&mut self, min: usize, max: usize) -> Option<i64> {
        let n = self
            .s
            .bytes()
            .take(max)
            .take_while(u8::is_ascii_digit)
            .count();
        if n < min {
            return None;
        }
        let v = self.s[..n].parse().ok()?;
        self.s = &self.s[n..];
        Some(v)
    }

    fn prefix_ci(&mut self, options: &[&str]) -> Option<usize> {
        for (i, o) in options.iter().enumerate() {
            if self.s.len() >= o.len()
                && self.s.is_char_boundary(o.len())
                && self.s[..o.len()].eq_ignore_ascii_case(o)
            {
                self.s = &self.s[o.len()..];
                return Some(i);
            }
        }
        None
    }
}

/// Parses `value` with a Go layout. Without an offset in the layout the time is in `default_tz`.
pub(crate) fn go_parse(
    layout: &str,
    value: &str,
    default_tz: FixedOffset,
) -> Result<DateTime<FixedOffset>, String> {
    let quote = crate::methods::strings::go_quote;
    let mut cur = Cursor { s: value };
    let (mut year, mut month, mut day, mut hour, mut min, mut sec, mut nanos) =
        (1i64, 1i64, 1i64, 0i64, 0i64, 0i64, 0i64);
    let mut pm: Option<bool> = None;
    let mut offset: Option<i32> = None;
    let mut yday: Option<i64> = None;
    let toks = tokenize(layout);
    for (idx, tok) in toks.iter().enumerate() {
        // Go names the remaining text and the layout element that did not match it.
        let hold = cur.s;
        let err = || {
            format!(
                "parsing time {} as {}: cannot parse {} as {}",
                quote(value),
                quote(layout),
                quote(hold),
                quote(&tok_layout(tok))
            )
        };
        match tok {
            Tok::Lit(l) => cur.s = skip_literal(cur.s, l).ok_or_else(err)?,
            Tok::Year4 => year = cur.digits(4, 4).ok_or_else(err)?,
            Tok::Year2 => {
                let y = cur.digits(2, 2).ok_or_else(err)?;
                year = if y >= 69 { 1900 + y } else { 2000 + y };
            }
            Tok::MonthLong => month = cur.prefix_ci(&MONTHS).ok_or_else(err)? as i64 + 1,
            Tok::MonthShort => {
                let shorts: Vec<&str> = MONTHS.iter().map(|m| &m[..3]).collect();
                month = cur.prefix_ci(&shorts).ok_or_else(err)? as i64 + 1;
            }
            Tok::Month2 => month = cur.digits(2, 2).ok_or_else(err)?,
            Tok::Month1 => month = cur.digits(1, 2).ok_or_else(err)?,
            Tok::WeekdayLong => {
                cur.prefix_ci(&DAYS).ok_or_else(err)?;
            }
            Tok::WeekdayShort => {
                let shorts: Vec<&str> = DAYS.iter().map(|m| &m[..3]).collect();
                cur.prefix_ci(&shorts).ok_or_else(err)?;
            }
            Tok::Day2 => day = cur.digits(2, 2).ok_or_else(err)?,
            Tok::Day1 => day = cur.digits(1, 2).ok_or_else(err)?,
            Tok::DayUnder => {
                if cur.s.starts_with(' ') {
                    cur.s = &cur.s[1..];
                }
                day = cur.digits(1, 2).ok_or_else(err)?;
            }
            Tok::YearDay3 => yday = Some(cur.digits(3, 3).ok_or_else(err)?),
            Tok::Hour24 => hour = cur.digits(1, 2).ok_or_else(err)?,
            Tok::Hour12_2 => hour = cur.digits(2, 2).ok_or_else(err)?,
            Tok::Hour12_1 => hour = cur.digits(1, 2).ok_or_else(err)?,
            Tok::Minute2 => min = cur.digits(2, 2).ok_or_else(err)?,
            Tok::Minute1 => min = cur.digits(1, 2).ok_or_else(err)?,
            Tok::Second2 | Tok::Second1 => {
                sec = if matches!(tok, Tok::Second2) {
                    cur.digits(2, 2).ok_or_else(err)?
                } else {
                    cur.digits(1, 2).ok_or_else(err)?
                };
                // Go accepts fractional seconds after the seconds even when the layout has none.
                let next_is_frac = matches!(toks.get(idx + 1), Some(Tok::Frac { .. }));
                if !next_is_frac && (cur.s.starts_with('.') || cur.s.starts_with(',')) {
                    let rest = &cur.s[1..];
                    let n = rest.bytes().take_while(u8::is_ascii_digit).count();
                    if n > 0 {
                        nanos = frac_to_nanos(&rest[..n]);
                        cur.s = &rest[n..];
                    }
                }
            }
            Tok::PmUpper | Tok::PmLower => {
                let i = cur.prefix_ci(&["AM", "PM"]).ok_or_else(err)?;
                pm = Some(i == 1);
            }
            Tok::TzName => {
                let n = cur.s.bytes().take_while(u8::is_ascii_uppercase).count();
                if n < 3 {
                    return Err(err());
                }
                if &cur.s[..n] == "UTC" || &cur.s[..n] == "GMT" {
                    offset = Some(0);
                }
                cur.s = &cur.s[n..];
            }
            Tok::Offset {
                z,
                colon,
                hours_only,
                seconds,
            } => {
                if *z && cur.s.starts_with('Z') {
                    cur.s = &cur.s[1..];
                    offset = Some(0);
                } else {
                    let sign = match cur.s.as_bytes().first() {
                        Some(b'+') => 1,
                        Some(b'-') => -1,
                        _ => return Err(err()),
                    };
                    cur.s = &cur.s[1..];
                    let h = cur.digits(2, 2).ok_or_else(err)?;
                    let mut m = 0;
                    let mut s = 0;
                    if !hours_only {
                        if *colon {
                            cur.s = cur.s.strip_prefix(':').ok_or_else(err)?;
                        }
                        m = cur.digits(2, 2).ok_or_else(err)?;
                        if *seconds {
                            if *colon {
                                cur.s = cur.s.strip_prefix(':').ok_or_else(err)?;
                            }
                            s = cur.digits(2, 2).ok_or_else(err)?;
                        }
                    }
                    offset = Some(sign * (h * 3600 + m * 60 + s) as i32);
                }
            }
            Tok::Frac { digits, trim, sep } => {
                if *trim {
                    if cur.s.starts_with(*sep) {
                        let rest = &cur.s[1..];
                        let n = rest.bytes().take_while(u8::is_ascii_digit).count();
                        nanos = frac_to_nanos(&rest[..n]);
                        cur.s = &rest[n..];
                    }
                } else {
                    cur.s = cur.s.strip_prefix(*sep).ok_or_else(err)?;
                    let n = cur.s.bytes().take_while(u8::is_ascii_digit).count();
                    if n != *digits {
                        return Err(err());
                    }
                    nanos = frac_to_nanos(&cur.s[..n]);
                    cur.s = &cur.s[n..];
                }
            }
        }
    }
    if !cur.s.is_empty() {
        return Err(format!(
            "parsing time \"{value}\" as \"{layout}\": extra text: \"{}\"",
            cur.s
        ));
    }
    let out_of_range = |what: &str| format!("parsing time {}: {what} out of range", quote(value));
    if let Some(is_pm) = pm {
        if hour > 12 {
            return Err(out_of_range("hour"));
        }
        if is_pm && hour < 12 {
            hour += 12;
        } else if !is_pm && hour == 12 {
            hour = 0;
        }
    }
    for (what, v, range) in [
        ("month", month, 1..=12),
        ("hour", hour, 0..=23),
        ("minute", min, 0..=59),
        ("second", sec, 0..=59),
    ] {
        if !range.contains(&v) {
            return Err(out_of_range(what));
        }
    }
    let date = match yday {
        Some(yd) => NaiveDate::from_yo_opt(year as i32, yd as u32),
        None => NaiveDate::from_ymd_opt(year as i32, month as u32, day as u32),
    }
    .ok_or_else(|| out_of_range("day"))?;
    let naive = date
        .and_hms_nano_opt(hour as u32, min as u32, sec as u32, nanos as u32)
        .ok_or_else(|| out_of_range("second"))?;
    let tz = match offset {
        Some(o) => FixedOffset::east_opt(o).ok_or_else(|| out_of_range("time zone offset"))?,
        None => default_tz,
    };
    tz.from_local_datetime(&naive)
        .single()
        .ok_or_else(|| out_of_range("time zone offset"))
}

/// The layout text of a token, as Go's parse errors quote it.
fn tok_layout(tok: &Tok) -> String {
    let std = match tok {
        Tok::Lit(l) => return l.clone(),
        Tok::Year4 => "2006",
        Tok::Year2 => "06",
        Tok::MonthLong => "January",
        Tok::MonthShort => "Jan",
        Tok::Month2 => "01",
        Tok::Month1 => "1",
        Tok::WeekdayLong => "Monday",
        Tok::WeekdayShort => "Mon",
        Tok::Day2 => "02",
        Tok::Day1 => "2",
        Tok::DayUnder => "_2",
        Tok::YearDay3 => "002",
        Tok::Hour24 => "15",
        Tok::Hour12_2 => "03",
        Tok::Hour12_1 => "3",
        Tok::Minute2 => "04",
        Tok::Minute1 => "4",
        Tok::Second2 => "05",
        Tok::Second1 => "5",
        Tok::PmUpper => "PM",
        Tok::PmLower => "pm",
        Tok::TzName => "MST",
        Tok::Offset {
            z,
            colon,
            hours_only,
            seconds,
        } => {
            let sign = if *z { "Z" } else { "-" };
            let rest = match (*hours_only, *colon, *seconds) {
                (true, _, _) => "07",
                (false, true, true) => "07:00:00",
                (false, true, false) => "07:00",
                (false, false, true) => "070000",
                (false, false, false) => "0700",
            };
            return format!("{sign}{rest}");
        }
        Tok::Frac { digits, trim, sep } => {
            let digit = if *trim { "9" } else { "0" };
            return format!("{sep}{}", digit.repeat(*digits));
        }
    };
    std.to_owned()
}

/// Go's `skip`: matches a layout literal, where a space matches any run of spaces.
fn skip_literal<'a>(mut value: &'a str, mut literal: &str) -> Option<&'a str> {
    while let Some(c) = literal.chars().next() {
        if c == ' ' {
            if !value.is_empty() && !value.starts_with(' ') {
                return None;
            }
            literal = literal.trim_start_matches(' ');
            value = value.trim_start_matches(' ');
            continue;
        }
        value = value.strip_prefix(c)?;
        literal = &literal[c.len_utf8()..];
    }
    Some(value)
}

fn frac_to_nanos(digits: &str) -> i64 {
    let mut s: String = digits.chars().take(9).collect();
    while s.len() < 9 {
        s.push('0');
    }
    s.parse().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(layout: &str, value: &str) -> String {
        go_parse(layout, value, FixedOffset::east_opt(0).unwrap()).unwrap_err()
    }

    #[test]
    fn parse_errors_read_as_go_does() {
        assert_eq!(
            parse_err("2006-01-02T15:04:05Z07:00", "not valid timestamp"),
            r#"parsing time "not valid timestamp" as "2006-01-02T15:04:05Z07:00": cannot parse "not valid timestamp" as "2006""#
        );
        assert_eq!(
            parse_err("2006-Jan-02", "2020-Foo-01"),
            r#"parsing time "2020-Foo-01" as "2006-Jan-02": cannot parse "Foo-01" as "Jan""#
        );
        assert_eq!(
            parse_err("2006-01-02", "2020/01/02"),
            r#"parsing time "2020/01/02" as "2006-01-02": cannot parse "/01/02" as "-""#
        );
        assert_eq!(
            parse_err("2006-01-02", "2020-13-02"),
            r#"parsing time "2020-13-02": month out of range"#
        );
        assert_eq!(
            parse_err("2006-01-02", "2020-02-30"),
            r#"parsing time "2020-02-30": day out of range"#
        );
        assert_eq!(
            parse_err("15:04", "10:61"),
            r#"parsing time "10:61": minute out of range"#
        );
        // A space in the layout matches a run of spaces.
        let utc = FixedOffset::east_opt(0).unwrap();
        assert!(go_parse("Jan 2 2006", "Feb  3   2021", utc).is_ok());
    }

    #[test]
    fn round_trip() {
        let utc = FixedOffset::east_opt(0).unwrap();
        let t = go_parse(
            "2006-01-02T15:04:05Z07:00",
            "2020-08-14T11:45:26.371+01:00",
            utc,
        )
        .unwrap();
        assert_eq!(
            go_format(&t, "2006-01-02T15:04:05.999999999Z07:00"),
            "2020-08-14T11:45:26.371+01:00"
        );
        assert_eq!(go_format(&t, "Mon Jan _2 3:04PM"), "Fri Aug 14 11:45AM");
    }
}
