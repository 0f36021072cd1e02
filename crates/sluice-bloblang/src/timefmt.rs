//! C-style (`%Y-%m-%d`) timestamp formatting and parsing with the rules and messages of the
//! Go package Benthos uses for `ts_strftime` and `ts_strptime` (itchyny/timefmt-go): which
//! directives and flags exist, how each pads, how many digits each reads and the range it
//! accepts, and how out-of-range dates roll over (Go's `time.Date` normalises, so `%d` 31 in
//! February lands in March).

use chrono::{DateTime, Datelike as _, FixedOffset, NaiveDate, TimeDelta, TimeZone as _};

pub(crate) const LONG_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const SHORT_MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
pub(crate) const LONG_DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const SHORT_DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// How a directive pads: the default of the directive, none (`-`), spaces (`_`) or zeros
/// (`0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pad {
    Default(u8),
    None,
    Explicit(u8),
}

impl Pad {
    /// The character to pad numbers with, when any.
    fn char(self) -> Option<u8> {
        match self {
            Pad::Default(c) | Pad::Explicit(c) => Some(c),
            Pad::None => None,
        }
    }

    /// Directives that pad with spaces unless a flag says otherwise (`%e`, `%k`, `%l`, `%s`).
    fn spaces_by_default(self) -> Pad {
        match self {
            Pad::Default(_) => Pad::Default(b' '),
            other => other,
        }
    }
}

/// A number padded on the left to `width`; zeros go after a minus sign.
fn push_num(out: &mut Vec<u8>, num: i64, width: usize, pad: Pad) {
    let digits = num.to_string();
    let Some(c) = pad.char() else {
        out.extend_from_slice(digits.as_bytes());
        return;
    };
    let n_pad = width.saturating_sub(digits.len());
    match digits.strip_prefix('-') {
        Some(abs) if c == b'0' && n_pad > 0 => {
            out.push(b'-');
            out.extend(std::iter::repeat_n(b'0', n_pad));
            out.extend_from_slice(abs.as_bytes());
        }
        _ => {
            out.extend(std::iter::repeat_n(c, n_pad));
            out.extend_from_slice(digits.as_bytes());
        }
    }
}

/// A name padded to `width` (with spaces unless a flag gives zeros), upper-cased with `^`, or
/// with its case swapped by `#` (all-capital names go to lower case, others to upper).
fn push_str(out: &mut Vec<u8>, s: &[u8], width: usize, pad: Pad, upper: bool, swap: bool) {
    if width > s.len() {
        let c = match pad {
            Pad::Default(_) => Some(b' '),
            Pad::Explicit(c) => Some(c),
            Pad::None => None,
        };
        if let Some(c) = c {
            out.extend(std::iter::repeat_n(c, width - s.len()));
        }
    }
    let lower_it = swap && s.get(1).is_some_and(|b| *b < b'a');
    if lower_it {
        out.extend(s.iter().map(u8::to_ascii_lowercase));
    } else if swap || upper {
        out.extend(s.iter().map(u8::to_ascii_uppercase));
    } else {
        out.extend_from_slice(s);
    }
}

/// The last `%` of `format` and what follows it, as text: an unknown directive is written out.
fn push_last(out: &mut Vec<u8>, format: &[u8], width: usize, pad: Pad) {
    if let Some(at) = format.iter().rposition(|&b| b == b'%') {
        push_str(out, &format[at..], width, pad, false, false);
    }
}

/// A zone offset (`+hhmm`, with colons after `%:z`, `%::z`, `%:::z`) padded to `width`.
fn push_offset(out: &mut Vec<u8>, offset: i32, colons: usize, width: usize, pad: Pad) {
    let mut zone = String::new();
    let sign = if offset < 0 { '-' } else { '+' };
    let mut rest = offset.unsigned_abs();
    let mut hours = Vec::new();
    push_num(&mut hours, i64::from(rest / 3600), 2, pad);
    // A space-padded hour keeps the sign next to its digit.
    let hours = String::from_utf8(hours).expect("digits and padding are ASCII");
    match hours.strip_prefix(' ') {
        Some(digit) => {
            zone.push(' ');
            zone.push(sign);
            zone.push_str(digit);
        }
        None => {
            zone.push(sign);
            zone.push_str(&hours);
        }
    }
    rest %= 3600;
    if colons <= 2 || rest != 0 {
        if colons != 0 {
            zone.push(':');
        }
        zone.push_str(&format!("{:02}", rest / 60));
        rest %= 60;
        if colons == 2 || (colons == 3 && rest != 0) {
            zone.push(':');
            zone.push_str(&format!("{rest:02}"));
        }
    }
    let n_pad = match pad.char() {
        Some(_) => width.saturating_sub(zone.len()),
        None => 0,
    };
    let c = pad.char().unwrap_or(b' ');
    if n_pad > 0 && c == b'0' {
        // Zeros go after the sign.
        let (first, tail) = zone.split_at(1);
        out.extend_from_slice(first.as_bytes());
        out.extend(std::iter::repeat_n(b'0', n_pad));
        out.extend_from_slice(tail.as_bytes());
    } else {
        out.extend(std::iter::repeat_n(c, n_pad));
        out.extend_from_slice(zone.as_bytes());
    }
}

/// Formats `t` with a C-style `format`. `zone_name` is the zone's abbreviation for `%Z`, when
/// the time has one; otherwise `%Z` writes the offset.
pub(crate) fn strftime(t: &DateTime<FixedOffset>, format: &str, zone_name: Option<&str>) -> String {
    use chrono::Timelike as _;
    let f = format.as_bytes();
    let mut out = Vec::with_capacity(f.len() + 16);
    // The format is text; a directive never splits a character, so the result is text too.
    let finish = |out: Vec<u8>| String::from_utf8_lossy(&out).into_owned();
    let (year, month, day) = (i64::from(t.year()), t.month() as usize, i64::from(t.day()));
    let (hour, minute, second) = (
        i64::from(t.hour()),
        i64::from(t.minute()),
        i64::from(t.second()),
    );
    let weekday = i64::from(t.weekday().num_days_from_sunday());
    let yday = i64::from(t.ordinal());
    let iso = t.iso_week();
    let mut colons = 0usize;
    let mut pending: &[u8] = b"";
    let mut i = 0usize;
    while i < f.len() {
        let b = f[i];
        if b != b'%' {
            out.push(b);
            i += 1;
            continue;
        }
        i += 1;
        let Some(&first) = f.get(i) else {
            out.push(b'%');
            break;
        };
        let (mut d, mut width, mut pad, mut upper, mut swap) =
            (first, 0usize, Pad::Default(b'0'), false, false);
        loop {
            // Flags come before the directive; a format ending among them is written out as
            // it stands, padded as before the flag.
            let flag_pad = match d {
                b'-' if pending.is_empty() => Some(Pad::None),
                b'_' => Some(Pad::Explicit(b' ')),
                b'0' => Some(Pad::Explicit(b'0')),
                b'^' | b'#' => Some(pad),
                _ => None,
            };
            if let Some(new_pad) = flag_pad {
                i += 1;
                let Some(&next) = f.get(i) else {
                    push_last(&mut out, f, width, pad);
                    return finish(out);
                };
                pad = new_pad;
                upper |= d == b'^';
                swap |= d == b'#';
                d = next;
                continue;
            }
            match d {
                b'-' => out.push(b'-'),
                b'1'..=b'9' => {
                    width = usize::from(d - b'0');
                    i += 1;
                    while let Some(&c) = f.get(i).filter(|c| c.is_ascii_digit()) {
                        width = (width * 10 + usize::from(c - b'0')).min(1024);
                        i += 1;
                    }
                    if pad == Pad::None {
                        pad = Pad::Explicit(b' ');
                    }
                    let Some(&n) = f.get(i) else {
                        push_last(&mut out, f, width, pad);
                        return finish(out);
                    };
                    d = n;
                    continue;
                }
                b'Y' => push_num(&mut out, year, if width == 0 { 4 } else { width }, pad),
                b'y' => push_num(&mut out, (year % 100).abs(), width.max(2), pad),
                b'C' => {
                    let century = year / 100;
                    if year < 0 && century == 0 {
                        push_num(&mut out, -1, width.max(2), pad);
                        out.pop();
                        out.push(b'0');
                    } else {
                        push_num(&mut out, century, width.max(2), pad);
                    }
                }
                b'g' => push_num(
                    &mut out,
                    (i64::from(iso.year()) % 100).abs(),
                    width.max(2),
                    pad,
                ),
                b'G' => push_num(
                    &mut out,
                    i64::from(iso.year()),
                    if width == 0 { 4 } else { width },
                    pad,
                ),
                b'm' => push_num(&mut out, month as i64, width.max(2), pad),
                b'B' => push_str(
                    &mut out,
                    LONG_MONTHS[month - 1].as_bytes(),
                    width,
                    pad,
                    upper,
                    swap,
                ),
                b'b' | b'h' => push_str(
                    &mut out,
                    SHORT_MONTHS[month - 1].as_bytes(),
                    width,
                    pad,
                    upper,
                    swap,
                ),
                b'A' => push_str(
                    &mut out,
                    LONG_DAYS[weekday as usize].as_bytes(),
                    width,
                    pad,
                    upper,
                    swap,
                ),
                b'a' => push_str(
                    &mut out,
                    SHORT_DAYS[weekday as usize].as_bytes(),
                    width,
                    pad,
                    upper,
                    swap,
                ),
                b'w' => push_num(&mut out, weekday, width, pad),
                b'u' => push_num(&mut out, if weekday == 0 { 7 } else { weekday }, width, pad),
                b'V' => push_num(&mut out, i64::from(iso.week()), width.max(2), pad),
                b'U' => push_num(&mut out, (yday + 6 - weekday) / 7, width.max(2), pad),
                b'W' => {
                    let week = if weekday > 0 {
                        yday - (weekday - 7)
                    } else {
                        yday
                    };
                    push_num(&mut out, week / 7, width.max(2), pad);
                }
                b'e' => push_num(&mut out, day, width.max(2), pad.spaces_by_default()),
                b'd' => push_num(&mut out, day, width.max(2), pad),
                b'j' => push_num(&mut out, yday, width.max(3), pad),
                b'k' => push_num(&mut out, hour, width.max(2), pad.spaces_by_default()),
                b'H' => push_num(&mut out, hour, width.max(2), pad),
                b'l' | b'I' => {
                    let h = if hour % 12 == 0 { 12 } else { hour % 12 };
                    let pad = if d == b'l' {
                        pad.spaces_by_default()
                    } else {
                        pad
                    };
                    push_num(&mut out, h, width.max(2), pad);
                }
                b'P' | b'p' => {
                    if d == b'P' {
                        swap = !(upper || swap);
                    }
                    let text: &[u8] = if hour < 12 { b"AM" } else { b"PM" };
                    push_str(&mut out, text, width, pad, upper, swap);
                }
                b'M' => push_num(&mut out, minute, width.max(2), pad),
                b'S' => push_num(&mut out, second, width.max(2), pad),
                b's' => push_num(&mut out, t.timestamp(), width, pad.spaces_by_default()),
                b'f' => push_num(
                    &mut out,
                    i64::from(t.nanosecond() % 1_000_000_000 / 1000),
                    if width == 0 { 6 } else { width },
                    pad,
                ),
                b'Z' | b'z' => match zone_name.filter(|n| d == b'Z' && !n.is_empty()) {
                    Some(name) => push_str(&mut out, name.as_bytes(), width, pad, upper, swap),
                    None => {
                        push_offset(&mut out, t.offset().local_minus_utc(), colons, width, pad);
                        colons = 0;
                    }
                },
                b':' if !pending.is_empty() => out.push(b':'),
                b':' => {
                    colons = 1;
                    let mut to_z = false;
                    i += 1;
                    while let Some(&c) = f.get(i) {
                        match c {
                            b':' => colons += 1,
                            b'z' if colons <= 3 => {
                                to_z = true;
                                break;
                            }
                            b'z' => {
                                i += 1;
                                break;
                            }
                            _ => break,
                        }
                        i += 1;
                    }
                    if to_z {
                        d = b'z';
                        continue;
                    }
                    push_last(&mut out, &f[..i], width, pad);
                    i -= 1;
                    colons = 0;
                }
                b't' => push_str(&mut out, b"\t", width, pad, false, false),
                b'n' => push_str(&mut out, b"\n", width, pad, false, false),
                b'%' => push_str(&mut out, b"%", width, pad, false, false),
                b'c' => (pending, swap) = (b"a b e H:M:S Y", false),
                b'+' => (pending, swap) = (b"a b e H:M:S Z Y", false),
                b'v' => (pending, swap) = (b"e-b-Y", false),
                b'r' => (pending, swap) = (b"I:M:S p", false),
                b'F' => pending = b"Y-m-d",
                b'D' | b'x' => pending = b"m/d/y",
                b'T' | b'X' => pending = b"H:M:S",
                b'R' => pending = b"H:M",
                other => {
                    if pending.is_empty() {
                        push_last(&mut out, &f[..i], width.saturating_sub(1), pad);
                    }
                    out.push(other);
                }
            }
            match pending.split_first() {
                Some((&next, rest)) => {
                    (d, pending, width, pad) = (next, rest, 0, Pad::Default(b'0'));
                }
                None => break,
            }
        }
        i += 1;
    }
    finish(out)
}

/// The text of a byte in a Go `%q` of a byte: a quoted character.
fn quote_byte(b: u8) -> String {
    match b {
        b'\'' => "'\\''".to_owned(),
        b'\\' => "'\\\\'".to_owned(),
        0x20..=0x7e => format!("'{}'", char::from(b)),
        _ => format!("'\\x{b:02x}'"),
    }
}

fn cannot_parse(directive: u8) -> String {
    format!("cannot parse \"%{}\"", char::from(directive))
}

fn expected(b: u8) -> String {
    format!("expected {}", quote_byte(b))
}

fn z_format(colons: usize) -> String {
    format!("cannot parse \"%{}z\"", ":".repeat(colons))
}

fn expected_colon(colons: usize) -> String {
    format!("expected ':' for \"%{}z\"", ":".repeat(colons))
}

/// Reads up to `size` digits at `at`, failing unless at least one was read and the value lies
/// in `min..=max`. Returns the value and the index after it.
fn int_at(
    s: &[u8],
    at: usize,
    size: usize,
    min: i64,
    max: i64,
    directive: u8,
) -> Result<(i64, usize), String> {
    let mut value = 0i64;
    let mut i = at;
    let end = (at + size).min(s.len());
    while i < end && s[i].is_ascii_digit() {
        value = value * 10 + i64::from(s[i] - b'0');
        i += 1;
    }
    if i == at || value < min || value > max {
        return Err(cannot_parse(directive));
    }
    Ok((value, i))
}

/// Matches one of `names` at `at`, ignoring ASCII case; the 1-based index and the end.
fn any_at(s: &[u8], at: usize, names: &[&str], directive: u8) -> Result<(i64, usize), String> {
    'names: for (n, name) in names.iter().enumerate() {
        let mut j = at;
        for &x in name.as_bytes() {
            match s.get(j) {
                Some(&y) if x == y || x | 0x20 == y | 0x20 => j += 1,
                _ => continue 'names,
            }
        }
        return Ok((n as i64 + 1, j));
    }
    Err(cannot_parse(directive))
}

fn sign_at(s: &[u8], at: usize) -> (i64, usize) {
    if s.get(at) == Some(&b'-') {
        (-1, at + 1)
    } else {
        (1, at)
    }
}

/// Go's `time.Date`: every field may overflow into the next larger one.
#[expect(clippy::too_many_arguments, reason = "mirrors time.Date's fields")]
fn go_date(
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    nanos: i64,
    offset: FixedOffset,
) -> Option<DateTime<FixedOffset>> {
    let month0 = month - 1;
    let year = year + month0.div_euclid(12);
    let first = NaiveDate::from_ymd_opt(
        i32::try_from(year).ok()?,
        u32::try_from(month0.rem_euclid(12) + 1).ok()?,
        1,
    )?;
    let wall = first
        .and_hms_opt(0, 0, 0)?
        .checked_add_signed(TimeDelta::try_days(day - 1)?)?
        .checked_add_signed(TimeDelta::try_seconds(hour * 3600 + minute * 60 + second)?)?
        .checked_add_signed(TimeDelta::nanoseconds(nanos))?;
    offset.from_local_datetime(&wall).single()
}

/// Parses `source` with the C-style `format`, in UTC unless the text gives a zone.
pub(crate) fn strptime(source: &str, format: &str) -> Result<DateTime<FixedOffset>, String> {
    parse(source.as_bytes(), format.as_bytes()).map_err(|e| {
        format!(
            "failed to parse {} with {}: {e}",
            crate::methods::strings::go_quote(source),
            crate::methods::strings::go_quote(format)
        )
    })
}

fn parse(s: &[u8], format: &[u8]) -> Result<DateTime<FixedOffset>, String> {
    let utc = FixedOffset::east_opt(0).expect("zero offset");
    let (mut year, mut month, mut day) = (1900i64, 1i64, 0i64);
    let (mut hour, mut minute, mut second, mut nanos) = (0i64, 0i64, 0i64, 0i64);
    let (mut week, mut weekday, mut yday) = (0i64, 0i64, 0i64);
    let mut colons = 0usize;
    let mut century = -1i64;
    // The first day of a numbered week: Sunday 0, Monday 1, Thursday 4 (ISO weeks).
    let mut week_start: Option<i64> = None;
    let (mut pm, mut iso_year) = (false, false);
    let mut offset = utc;
    let mut pending: &[u8] = b"";
    let mut j = 0usize;
    let mut i = 0usize;
    while i < format.len() {
        let b = format[i];
        if b != b'%' {
            if s.get(j) != Some(&b) {
                return Err(expected(b));
            }
            j += 1;
            i += 1;
            continue;
        }
        i += 1;
        let Some(&first) = format.get(i) else {
            return Err(r#"stray "%""#.to_owned());
        };
        let mut d = first;
        loop {
            match d {
                b'Y' | b'G' => {
                    iso_year |= d == b'G';
                    let (sign, at) = sign_at(s, j);
                    let (v, at) = int_at(s, at, 4, 0, 9999, d)?;
                    year = sign * v;
                    j = at;
                }
                b'y' | b'g' => {
                    iso_year |= d == b'g';
                    let (v, at) = int_at(s, j, 2, 0, 99, d)?;
                    year = if v < 69 { v + 2000 } else { v + 1900 };
                    j = at;
                }
                b'C' => {
                    let (sign, at) = sign_at(s, j);
                    if sign < 0 {
                        return Err(r#"negative century is not supported for "%C""#.to_owned());
                    }
                    (century, j) = int_at(s, at, 2, 0, 99, b'C')?;
                }
                b'm' => (month, j) = int_at(s, j, 2, 1, 12, b'm')?,
                b'B' => (month, j) = any_at(s, j, &LONG_MONTHS, b'B')?,
                b'b' | b'h' => (month, j) = any_at(s, j, &SHORT_MONTHS, d)?,
                b'A' => (weekday, j) = any_at(s, j, &LONG_DAYS, b'A')?,
                b'a' => (weekday, j) = any_at(s, j, &SHORT_DAYS, b'a')?,
                b'w' => {
                    (weekday, j) = int_at(s, j, 1, 0, 6, b'w')?;
                    weekday += 1;
                }
                b'u' => {
                    (weekday, j) = int_at(s, j, 1, 1, 7, b'u')?;
                    weekday = weekday % 7 + 1;
                }
                b'V' | b'U' | b'W' => {
                    let min = if d == b'V' { 1 } else { 0 };
                    (week, j) = int_at(s, j, 2, min, 53, d)?;
                    week_start = Some(match d {
                        b'V' => 4,
                        b'U' => 0,
                        _ => 1,
                    });
                    if weekday == 0 {
                        weekday = if d == b'U' { 1 } else { 2 };
                    }
                }
                b'e' | b'd' => {
                    if d == b'e' && s.get(j) == Some(&b' ') {
                        j += 1;
                    }
                    (day, j) = int_at(s, j, 2, 1, 31, d)?;
                }
                b'j' => (yday, j) = int_at(s, j, 3, 1, 366, b'j')?,
                b'k' | b'H' => {
                    if d == b'k' && s.get(j) == Some(&b' ') {
                        j += 1;
                    }
                    (hour, j) = int_at(s, j, 2, 0, 23, d)?;
                }
                b'l' | b'I' => {
                    if d == b'l' && s.get(j) == Some(&b' ') {
                        j += 1;
                    }
                    (hour, j) = int_at(s, j, 2, 1, 12, d)?;
                    if hour == 12 {
                        hour = 0;
                    }
                }
                b'P' | b'p' => {
                    let (n, at) = any_at(s, j, &["AM", "PM"], d)?;
                    pm = n == 2;
                    j = at;
                }
                b'M' => (minute, j) = int_at(s, j, 2, 0, 59, b'M')?,
                b'S' => (second, j) = int_at(s, j, 2, 0, 60, b'S')?,
                b's' => {
                    let (sign, at) = sign_at(s, j);
                    let mut k = at;
                    let mut unix = 0i64;
                    while k < s.len() && k < at + 19 && s[k].is_ascii_digit() {
                        unix = unix.wrapping_mul(10).wrapping_add(i64::from(s[k] - b'0'));
                        k += 1;
                    }
                    if k == at {
                        return Err(cannot_parse(b's'));
                    }
                    j = k;
                    let t = DateTime::from_timestamp(sign * unix, 0)
                        .ok_or_else(|| cannot_parse(b's'))?;
                    year = i64::from(t.year());
                    month = i64::from(t.month());
                    day = i64::from(t.day());
                    hour = i64::from(chrono::Timelike::hour(&t));
                    minute = i64::from(chrono::Timelike::minute(&t));
                    second = i64::from(chrono::Timelike::second(&t));
                }
                b'f' => {
                    let (v, at) = int_at(s, j, 6, 0, 999_999, b'f')?;
                    let mut micros = v;
                    for _ in (at - j)..6 {
                        micros *= 10;
                    }
                    nanos = micros * 1000;
                    j = at;
                }
                b'Z' => {
                    let start = j;
                    while j < s.len() && s[j].is_ascii_uppercase() {
                        j += 1;
                    }
                    let name = &s[start..j];
                    // Go reads a zone abbreviation of three letters, or four or five ending
                    // in `T`; one it does not know is taken at offset zero.
                    let known = match name.len() {
                        3 => true,
                        4 => name[3] == b'T' || name == b"WITA",
                        5 => name[4] == b'T',
                        _ => false,
                    };
                    if !known {
                        return Err(format!(
                            "cannot parse {} with \"%Z\"",
                            crate::go_url::quote_bytes(name)
                        ));
                    }
                }
                b'z' => {
                    let Some(&c) = s.get(j) else {
                        return Err(z_format(colons));
                    };
                    match c {
                        b'Z' => {
                            offset = utc;
                            colons = 0;
                            j += 1;
                        }
                        b'+' | b'-' => {
                            let sign = if c == b'-' { -1 } else { 1 };
                            let at = j + 1;
                            let (h, end) = int_at(s, at, 2, 0, 23, b'z').unwrap_or((0, 0));
                            if end != at + 2 {
                                return Err(z_format(colons));
                            }
                            j = end;
                            if s.get(j) != Some(&b':') {
                                if colons > 0 && colons < 3 {
                                    return Err(expected_colon(colons));
                                }
                            } else {
                                j += 1;
                                if colons == 0 {
                                    colons = 4;
                                }
                            }
                            let at = j;
                            let (mut m, mut sec) = (0, 0);
                            match int_at(s, at, 2, 0, 59, b'z') {
                                Ok((v, end)) if end == at + 2 => {
                                    m = v;
                                    j = end;
                                    if colons > 1 {
                                        if s.get(j) != Some(&b':') {
                                            if colons < 3 {
                                                return Err(expected_colon(colons));
                                            }
                                        } else {
                                            let at = j + 1;
                                            match int_at(s, at, 2, 0, 59, b'z') {
                                                Ok((v, end)) if end == at + 2 => {
                                                    sec = v;
                                                    j = end;
                                                }
                                                _ if colons < 3 => return Err(z_format(colons)),
                                                _ => j = at - 1,
                                            }
                                        }
                                    }
                                }
                                _ => {
                                    if colons > 0 && colons != 3 {
                                        return Err(z_format(colons & 3));
                                    }
                                    j = at;
                                }
                            }
                            let seconds = sign * ((h * 60 + m) * 60 + sec);
                            offset = i32::try_from(seconds)
                                .ok()
                                .and_then(FixedOffset::east_opt)
                                .ok_or_else(|| z_format(colons))?;
                            colons = 0;
                        }
                        _ => return Err(z_format(colons)),
                    }
                }
                b':' => {
                    if pending.is_empty() {
                        // `%:z`, `%::z`, `%:::z`.
                        colons = 1;
                        loop {
                            i += 1;
                            match format.get(i) {
                                Some(b'z') => break,
                                Some(b':') if colons < 3 => colons += 1,
                                _ => {
                                    return Err(format!(
                                        "expected 'z' after \"%{}\"",
                                        ":".repeat(colons)
                                    ));
                                }
                            }
                        }
                        d = b'z';
                        continue;
                    }
                    if s.get(j) != Some(&b':') {
                        return Err(expected(b':'));
                    }
                    j += 1;
                }
                b't' | b'n' => {
                    let start = j;
                    while j < s.len() && matches!(s[j], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
                    {
                        j += 1;
                    }
                    if j == start {
                        return Err(format!("expected a space for \"%{}\"", char::from(d)));
                    }
                }
                b'%' => {
                    if s.get(j) != Some(&b'%') {
                        return Err(expected(b'%'));
                    }
                    j += 1;
                }
                b'c' => pending = b"a b e H:M:S Y",
                b'+' => pending = b"a b e H:M:S Z Y",
                b'v' => pending = b"e-b-Y",
                b'r' => pending = b"I:M:S p",
                b'F' => pending = b"Y-m-d",
                b'D' | b'x' => pending = b"m/d/y",
                b'T' | b'X' => pending = b"H:M:S",
                b'R' => pending = b"H:M",
                other => {
                    if pending.is_empty() {
                        return Err(format!("unexpected format \"%{}\"", char::from(other)));
                    }
                    if s.get(j) != Some(&other) {
                        return Err(expected(other));
                    }
                    j += 1;
                }
            }
            // A composite directive expands to a sequence read as if each were written.
            match pending.split_first() {
                Some((&next, rest)) => {
                    d = next;
                    pending = rest;
                }
                None => break,
            }
        }
        i += 1;
    }
    if j < s.len() {
        return Err(format!(
            "unparsed string {}",
            crate::go_url::quote_bytes(&s[j..])
        ));
    }
    if pm {
        hour += 12;
    }
    if century >= 0 {
        year = century * 100 + year % 100;
    }
    let out_of_range = || "timestamp out of range".to_owned();
    if day == 0 {
        if yday > 0 {
            if iso_year {
                return Err(r#"use "%Y" to parse non-ISO year for "%j""#.to_owned());
            }
            return go_date(year, 1, yday, hour, minute, second, nanos, offset)
                .ok_or_else(out_of_range);
        }
        if let Some(start) = week_start {
            if start == 4 {
                if !iso_year {
                    return Err(r#"use "%G" to parse ISO year for "%V""#.to_owned());
                }
            } else if iso_year {
                return Err(r#"use "%Y" to parse non-ISO year for "%U" or "%W""#.to_owned());
            }
            if start > 0 && weekday == 1 {
                week += 1;
            }
            let base = go_date(year, 1, -start, hour, minute, second, nanos, offset)
                .ok_or_else(out_of_range)?;
            let base_weekday = i64::from(base.weekday().num_days_from_sunday());
            let shift = week * 7 - base_weekday + weekday - 1;
            return base
                .checked_add_signed(TimeDelta::try_days(shift).ok_or_else(out_of_range)?)
                .ok_or_else(out_of_range);
        }
        day = 1;
    }
    go_date(year, month, day, hour, minute, second, nanos, offset).ok_or_else(out_of_range)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(source: &str, format: &str, expected: &str) {
        let got = match strptime(source, format) {
            Ok(t) => t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(got, expected, "{source:?} with {format:?}");
    }

    fn format(rfc3339: &str, f: &str) -> String {
        let t = DateTime::parse_from_rfc3339(rfc3339).unwrap();
        let zone = (t.offset().local_minus_utc() == 0).then_some("UTC");
        strftime(&t, f, zone)
    }

    #[test]
    fn formats_as_timefmt_does() {
        let t = "2020-08-14T11:50:26.371Z";
        for (f, expected) in [
            ("%Y-%m-%d %H:%M:%S", "2020-08-14 11:50:26"),
            ("%c", "Fri Aug 14 11:50:26 2020"),
            ("%+", "Fri Aug 14 11:50:26 UTC 2020"),
            (
                "%f %j %U %W %V %u %w %s",
                "371000 227 32 32 33 5 5 1597405826",
            ),
            ("%Z %z %:z %::z %:::z", "UTC +0000 +00:00 +00:00:00 +00"),
            ("%-m/%-d %_5d|%-5d|%10Y", "8/14    14|   14|0000002020"),
            ("%^a %#b %P %p %#p", "FRI AUG am AM am"),
            ("%Q %-Q 100%% %", "%Q %-Q 100% %"),
            ("%::::z %:x", "%::::z %:x"),
            (
                "%F %T %D %R %r %v",
                "2020-08-14 11:50:26 08/14/20 11:50 11:50:26 AM 14-Aug-2020",
            ),
            ("%C %y %g %G %I %l %k %e", "20 20 20 2020 11 11 11 14"),
        ] {
            assert_eq!(format(t, f), expected, "{f}");
        }
        let t = "2021-01-05T03:04:05+05:30";
        for (f, expected) in [
            ("%e %k %l %Z %z %:::z", " 5  3  3 +0530 +0530 +05:30"),
            ("%10z|%_10z", "+000000530|      +530"),
            ("%U %W %V %G", "01 01 01 2021"),
        ] {
            assert_eq!(format(t, f), expected, "{f}");
        }
    }

    #[test]
    fn parses_as_timefmt_does() {
        check("2020-Aug-14", "%Y-%b-%d", "2020-08-14T00:00:00Z");
        check(
            "2020-Aug-14 11:50:26.371000",
            "%Y-%b-%d %H:%M:%S.%f",
            "2020-08-14T11:50:26.371Z",
        );
        check("Tue Aug 14 11:50:26 2020", "%c", "2020-08-14T11:50:26Z");
        check("14/08/20 +0130", "%d/%m/%y %z", "2020-08-14T00:00:00+01:30");
        check(
            "2020-08-14T11:50:26-07:00",
            "%FT%T%:z",
            "2020-08-14T11:50:26-07:00",
        );
        check("1597405826", "%s", "2020-08-14T11:50:26Z");
        check("2020 045", "%Y %j", "2020-02-14T00:00:00Z");
        check("3:04 pm", "%l:%M %p", "1900-01-01T15:04:00Z");
        // Go's time.Date rolls an impossible day into the next month.
        check("2021-02-31", "%Y-%m-%d", "2021-03-03T00:00:00Z");
        check("2020 W05 1", "%G W%V %u", "2020-01-27T00:00:00Z");
    }

    #[test]
    fn refuses_as_timefmt_does() {
        check(
            "not valid timestamp",
            "%Y-%b-%d",
            r#"error: failed to parse "not valid timestamp" with "%Y-%b-%d": cannot parse "%Y""#,
        );
        check(
            "invalid format",
            "INVALID_FORMAT",
            r#"error: failed to parse "invalid format" with "INVALID_FORMAT": expected 'I'"#,
        );
        check(
            "2020-13-01",
            "%Y-%m-%d",
            r#"error: failed to parse "2020-13-01" with "%Y-%m-%d": cannot parse "%m""#,
        );
        check(
            "2020-01-01 extra",
            "%Y-%m-%d",
            r#"error: failed to parse "2020-01-01 extra" with "%Y-%m-%d": unparsed string " extra""#,
        );
        check(
            "2020",
            "%Q",
            r#"error: failed to parse "2020" with "%Q": unexpected format "%Q""#,
        );
        check(
            "2020",
            "%Y%",
            r#"error: failed to parse "2020" with "%Y%": stray "%""#,
        );
        check(
            "2020 05",
            "%Y %V",
            r#"error: failed to parse "2020 05" with "%Y %V": use "%G" to parse ISO year for "%V""#,
        );
        check(
            "+01",
            "%:z",
            r#"error: failed to parse "+01" with "%:z": expected ':' for "%:z""#,
        );
    }
}
