//! `fake`: random data for tests and demos, in the shapes Connect's generators give.
//!
//! The values are random, so parity means the same kinds, formats and ranges: a `date` is
//! `YYYY-MM-DD`, a `phone_number` `ddd-ddd-dddd`, a `latitude` a float in [-90, 90), and so on.
//! The word and name lists are our own.

use chrono::{DateTime, Utc};
use rand::Rng as _;
use rand::seq::SliceRandom as _;

use crate::env::{Environment, FnImpl, Kind, ex, opt};
use crate::eval::{Call, Cx, R, This, err};
use crate::value::Value;

const TLDS: [&str; 8] = ["com", "biz", "info", "net", "org", "ru", "edu", "top"];

const WORDS: [&str; 48] = [
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "incididunt",
    "ut",
    "labore",
    "et",
    "dolore",
    "magna",
    "aliqua",
    "enim",
    "ad",
    "minim",
    "veniam",
    "quis",
    "nostrud",
    "exercitation",
    "ullamco",
    "laboris",
    "nisi",
    "aliquip",
    "ex",
    "ea",
    "commodo",
    "consequat",
    "duis",
    "aute",
    "irure",
    "in",
    "reprehenderit",
    "voluptate",
    "velit",
    "esse",
    "cillum",
    "fugiat",
    "nulla",
    "pariatur",
    "excepteur",
    "sint",
];

const MALE_TITLES: [&str; 6] = ["Mr.", "Dr.", "Prof.", "Lord", "King", "Prince"];
const FEMALE_TITLES: [&str; 8] = [
    "Mrs.", "Ms.", "Miss", "Dr.", "Prof.", "Lady", "Queen", "Princess",
];
const MALE_NAMES: [&str; 16] = [
    "Aaron", "Bruno", "Carlos", "Daniel", "Edgar", "Felix", "Gavin", "Hector", "Ivan", "Jonas",
    "Kevin", "Lucas", "Marcus", "Nolan", "Oscar", "Pablo",
];
const FEMALE_NAMES: [&str; 16] = [
    "Alice", "Beatrice", "Clara", "Diana", "Elena", "Fiona", "Grace", "Hannah", "Iris", "Julia",
    "Karen", "Laura", "Maria", "Nora", "Olivia", "Paula",
];
const LAST_NAMES: [&str; 16] = [
    "Anderson", "Baker", "Carter", "Dalton", "Evans", "Fischer", "Garcia", "Hughes", "Ibarra",
    "Jensen", "Keller", "Lopez", "Moreno", "Nguyen", "Olsen", "Parker",
];
const GENDERS: [&str; 3] = ["Male", "Female", "Prefer to skip"];
const CHINESE_FIRST_NAMES: [&str; 12] = [
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳",
];
const CHINESE_LAST_NAMES: [&str; 12] = [
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙",
];
const CENTURIES: [&str; 21] = [
    "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII", "XIII", "XIV", "XV",
    "XVI", "XVII", "XVIII", "XIX", "XX", "XXI",
];
const CURRENCIES: [&str; 16] = [
    "AUD", "BRL", "CAD", "CHF", "CNY", "DKK", "EUR", "GBP", "HKD", "INR", "JPY", "MXN", "NOK",
    "SEK", "USD", "ZAR",
];
/// Card type, number length and number prefixes.
const CARDS: [(&str, usize, &[&str]); 6] = [
    (
        "VISA",
        16,
        &[
            "4539", "4556", "4916", "4532", "4929", "40240071", "4485", "4716", "4",
        ],
    ),
    ("MasterCard", 16, &["51", "52", "53", "54", "55"]),
    ("American Express", 15, &["34", "37"]),
    ("Discover", 16, &["6011"]),
    (
        "JCB",
        16,
        &["3528", "3538", "3548", "3558", "3568", "3578", "3588"],
    ),
    ("Diners Club", 14, &["36", "38", "39"]),
];
const URL_FORMATS: [&str; 10] = [
    "http://www.{d}/",
    "https://www.{d}/",
    "http://{d}/",
    "https://{d}/",
    "http://www.{d}/{u}",
    "https://www.{d}/{u}",
    "http://{d}/{u}",
    "https://{d}/{u}",
    "http://{d}/{u}.html",
    "https://{d}/{u}.html",
];

/// Every generator name `fake` takes (lower case; the argument is matched ignoring case).
/// An unknown name fails when the function runs, as in Benthos; the list checks `generate`.
#[cfg(test)]
const GENERATORS: [&str; 46] = [
    "latitude",
    "longitude",
    "unix_time",
    "date",
    "time_string",
    "month_name",
    "year_string",
    "day_of_week",
    "day_of_month",
    "timestamp",
    "century",
    "timezone",
    "time_period",
    "email",
    "mac_address",
    "domain_name",
    "url",
    "username",
    "ipv4",
    "ipv6",
    "password",
    "jwt",
    "word",
    "sentence",
    "paragraph",
    "cc_type",
    "cc_number",
    "currency",
    "amount_with_currency",
    "title_male",
    "title_female",
    "first_name",
    "first_name_male",
    "first_name_female",
    "last_name",
    "name",
    "gender",
    "chinese_first_name",
    "chinese_last_name",
    "chinese_name",
    "phone_number",
    "toll_free_phone_number",
    "e164_phone_number",
    "uuid_hyphenated",
    "uuid_digit",
    "",
];

fn pick<'a>(rng: &mut impl rand::Rng, items: &[&'a str]) -> &'a str {
    items.choose(rng).copied().unwrap_or_default()
}

/// Letters from 'A' to 'y' without the punctuation between the cases, as the reference
/// generator draws them.
fn letters(rng: &mut impl rand::Rng, n: usize) -> String {
    (0..n)
        .map(|_| {
            loop {
                let c = char::from(rng.gen_range(b'A'..b'z'));
                if c.is_ascii_alphabetic() {
                    break c;
                }
            }
        })
        .collect()
}

fn digits(rng: &mut impl rand::Rng, n: usize) -> String {
    (0..n)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect()
}

/// The integers `1..=n` shuffled and written one after the other.
fn shuffled_digits(rng: &mut impl rand::Rng, n: u32) -> String {
    let mut ints: Vec<u32> = (1..=n).collect();
    ints.shuffle(rng);
    ints.iter().map(u32::to_string).collect()
}

/// A random instant between the epoch and now.
fn random_time(rng: &mut impl rand::Rng) -> DateTime<Utc> {
    let secs = rng.gen_range(0..Utc::now().timestamp().max(1));
    DateTime::from_timestamp(secs, 0).unwrap_or_default()
}

fn domain(rng: &mut impl rand::Rng) -> String {
    format!("{}.{}", letters(rng, 7).to_lowercase(), pick(rng, &TLDS))
}

fn sentence(rng: &mut impl rand::Rng) -> String {
    let words: Vec<&str> = WORDS.choose_multiple(rng, 6).copied().collect();
    let mut out = String::new();
    for (i, w) in words.iter().enumerate() {
        if i == 0 {
            let mut cs = w.chars();
            if let Some(first) = cs.next() {
                out.extend(first.to_uppercase());
                out.push_str(cs.as_str());
            }
        } else {
            out.push(' ');
            out.push_str(w);
        }
    }
    out.push('.');
    out
}

fn hex_bytes(rng: &mut impl rand::Rng, n: usize) -> Vec<u8> {
    (0..n).map(|_| rng.r#gen::<u8>()).collect()
}

/// The value of generator `name`, or `None` when there is no such generator.
fn generate(name: &str) -> Option<Value> {
    let rng = &mut rand::thread_rng();
    let s = |v: String| Some(Value::String(v.into()));
    match name {
        "latitude" => Some(Value::Float(f64::from(rng.r#gen::<f32>() * 180.0 - 90.0))),
        "longitude" => Some(Value::Float(f64::from(rng.r#gen::<f32>() * 360.0 - 180.0))),
        "unix_time" => Some(Value::Int(random_time(rng).timestamp())),
        "date" => s(random_time(rng).format("%Y-%m-%d").to_string()),
        "time_string" => s(random_time(rng).format("%H:%M:%S").to_string()),
        "month_name" => s(random_time(rng).format("%B").to_string()),
        "year_string" => s(random_time(rng).format("%Y").to_string()),
        "day_of_week" => s(random_time(rng).format("%A").to_string()),
        // Go's "_2": the day padded with a space.
        "day_of_month" => s(random_time(rng).format("%e").to_string()),
        "timestamp" => s(random_time(rng).format("%Y-%m-%d %H:%M:%S").to_string()),
        "century" => s(pick(rng, &CENTURIES).to_owned()),
        "timezone" => {
            let zones = chrono_tz::TZ_VARIANTS;
            s(zones[rng.gen_range(0..zones.len())].name().to_owned())
        }
        "time_period" => s(random_time(rng).format("%p").to_string()),
        "email" => s(format!(
            "{}@{}.{}",
            letters(rng, 7),
            letters(rng, 7),
            pick(rng, &TLDS)
        )),
        "mac_address" => s(hex_bytes(rng, 6)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")),
        "domain_name" => s(domain(rng)),
        "url" => {
            let format = pick(rng, &URL_FORMATS);
            let d = domain(rng);
            s(format.replace("{d}", &d).replace("{u}", &letters(rng, 7)))
        }
        "username" => s(letters(rng, 7)),
        "ipv4" => s(std::net::Ipv4Addr::from(rng.r#gen::<u32>()).to_string()),
        "ipv6" => s(std::net::Ipv6Addr::from(rng.r#gen::<u128>()).to_string()),
        "password" => s(letters(rng, 50)),
        "jwt" => {
            let part = letters(rng, 40);
            s(format!("{part}.{part}.{part}"))
        }
        "word" => s(pick(rng, &WORDS).to_owned()),
        "sentence" => s(sentence(rng)),
        "paragraph" => {
            let n = rng.gen_range(1..=10);
            s((0..n).map(|_| sentence(rng)).collect::<Vec<_>>().join(" "))
        }
        "cc_type" => s(CARDS[rng.gen_range(0..CARDS.len())].0.to_owned()),
        "cc_number" => {
            let (_, len, prefixes) = CARDS[rng.gen_range(0..CARDS.len())];
            let prefix = pick(rng, prefixes);
            s(format!("{prefix}{}", digits(rng, len - prefix.len())))
        }
        "currency" => s(pick(rng, &CURRENCIES).to_owned()),
        "amount_with_currency" => {
            let scale = 10f64.powi(rng.gen_range(0..8));
            let places = 10f64.powi(rng.gen_range(1..=2));
            let amount = (rng.r#gen::<f64>() * scale * places).round() / places;
            s(format!("{} {amount:.6}", pick(rng, &CURRENCIES)))
        }
        "title_male" => s(pick(rng, &MALE_TITLES).to_owned()),
        "title_female" => s(pick(rng, &FEMALE_TITLES).to_owned()),
        "first_name" => {
            let all: Vec<&str> = MALE_NAMES.iter().chain(&FEMALE_NAMES).copied().collect();
            s(pick(rng, &all).to_owned())
        }
        "first_name_male" => s(pick(rng, &MALE_NAMES).to_owned()),
        "first_name_female" => s(pick(rng, &FEMALE_NAMES).to_owned()),
        "last_name" => s(pick(rng, &LAST_NAMES).to_owned()),
        "name" => {
            let (titles, names): (&[&str], &[&str]) = if rng.r#gen::<bool>() {
                (&FEMALE_TITLES, &FEMALE_NAMES)
            } else {
                (&MALE_TITLES, &MALE_NAMES)
            };
            s(format!(
                "{} {} {}",
                pick(rng, titles),
                pick(rng, names),
                pick(rng, &LAST_NAMES)
            ))
        }
        "gender" => s(pick(rng, &GENDERS).to_owned()),
        "chinese_first_name" => s(pick(rng, &CHINESE_FIRST_NAMES).to_owned()),
        "chinese_last_name" => s(pick(rng, &CHINESE_LAST_NAMES).to_owned()),
        "chinese_name" => s(format!(
            "{}{}",
            pick(rng, &CHINESE_LAST_NAMES),
            pick(rng, &CHINESE_FIRST_NAMES)
        )),
        "phone_number" => {
            let d = shuffled_digits(rng, 10);
            s(format!("{}-{}-{}", &d[..3], &d[3..6], &d[6..10]))
        }
        "toll_free_phone_number" => {
            let d = shuffled_digits(rng, 9);
            let lead = pick(rng, &["777", "888"]);
            s(format!("({lead}) {}-{}", &d[..3], &d[3..]))
        }
        "e164_phone_number" => {
            let lead = pick(rng, &["7", "8"]);
            s(format!("+{lead}{}", shuffled_digits(rng, 10)))
        }
        "uuid_hyphenated" => s(uuid::Uuid::new_v4().to_string()),
        "uuid_digit" => s(uuid::Uuid::new_v4().simple().to_string()),
        "" => s(letters(rng, 25)),
        _ => None,
    }
}

fn invalid(name: &str) -> String {
    format!("invalid faker function: {name}")
}

fn fake(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    let name = match call.arg(0, cx, this)? {
        Value::String(s) => s,
        other => {
            return err(format!(
                "field function: {}",
                crate::eval::type_err("string", &other)
            ));
        }
    };
    match generate(&name.to_lowercase()) {
        Some(v) => Ok(v),
        None => err(invalid(&name)),
    }
}

pub(crate) fn register(env: &mut Environment) {
    env.function(
        "fake",
        "Fake Data Generation",
        "Random data of a kind: latitude, longitude, unix_time, date, time_string, month_name, \
         year_string, day_of_week, day_of_month, timestamp, century, timezone, time_period, \
         email, mac_address, domain_name, url, username, ipv4, ipv6, password, jwt, word, \
         sentence, paragraph, cc_type, cc_number, currency, amount_with_currency, title_male, \
         title_female, first_name, first_name_male, first_name_female, last_name, name, gender, \
         chinese_first_name, chinese_last_name, chinese_name, phone_number, \
         toll_free_phone_number, e164_phone_number, uuid_hyphenated or uuid_digit; a random \
         string without one.",
        vec![opt("function", Kind::Str, Value::String(String::new().into()))],
        vec![ex(
            "root.user = {\n  \"id\": fake(\"uuid_hyphenated\"),\n  \"name\": fake(\"name\"),\n  \"email\": fake(\"email\"),\n  \"created_at\": fake(\"timestamp\")\n}",
            &[],
        )],
        FnImpl::Ctx(fake),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(mapping: &str) -> Result<Value, String> {
        crate::testing::map_value(mapping, "{}")
    }

    fn text(name: &str) -> String {
        match generate(name) {
            Some(Value::String(s)) => s.into(),
            other => panic!("{name}: {other:?}"),
        }
    }

    fn shaped(s: &str, pattern: &str) -> bool {
        regex::Regex::new(pattern).unwrap().is_match(s)
    }

    #[test]
    fn every_generator_answers_in_its_shape() {
        for name in GENERATORS {
            assert!(generate(name).is_some(), "{name}");
        }
        for _ in 0..20 {
            let Some(Value::Float(lat)) = generate("latitude") else {
                panic!()
            };
            assert!((-90.0..90.0).contains(&lat));
            let Some(Value::Float(lon)) = generate("longitude") else {
                panic!()
            };
            assert!((-180.0..180.0).contains(&lon));
            let Some(Value::Int(t)) = generate("unix_time") else {
                panic!()
            };
            assert!((0..=Utc::now().timestamp()).contains(&t));
            for (name, pattern) in [
                ("date", r"^\d{4}-\d{2}-\d{2}$"),
                ("time_string", r"^\d{2}:\d{2}:\d{2}$"),
                ("timestamp", r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"),
                ("day_of_month", r"^[ 1-3]\d$"),
                ("year_string", r"^\d{4}$"),
                ("time_period", r"^(AM|PM)$"),
                ("email", r"^[A-Za-y]{7}@[A-Za-y]{7}\.[a-z]+$"),
                ("mac_address", r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$"),
                ("domain_name", r"^[a-z]{7}\.[a-z]+$"),
                (
                    "url",
                    r"^https?://(www\.)?[a-z]{7}\.[a-z]+/([A-Za-y]{7}(\.html)?)?$",
                ),
                ("password", r"^[A-Za-y]{50}$"),
                ("jwt", r"^([A-Za-y]{40})\.[A-Za-y]{40}\.[A-Za-y]{40}$"),
                ("sentence", r"^[A-Z][a-z]*( [a-z]+){5}\.$"),
                ("cc_number", r"^\d{14,16}$"),
                ("amount_with_currency", r"^[A-Z]{3} \d+\.\d{6}$"),
                ("name", r"^\S+ [A-Z][a-z]+ [A-Z][a-z]+$"),
                ("phone_number", r"^\d{3}-\d{3}-\d{4}$"),
                ("toll_free_phone_number", r"^\((777|888)\) \d{3}-\d{6}$"),
                ("e164_phone_number", r"^\+[78]\d{11}$"),
                ("uuid_digit", r"^[0-9a-f]{32}$"),
                ("", r"^[A-Za-y]{25}$"),
            ] {
                let v = text(name);
                assert!(shaped(&v, pattern), "{name}: {v:?}");
            }
            assert!(text("timezone").parse::<chrono_tz::Tz>().is_ok());
            assert!(text("ipv4").parse::<std::net::Ipv4Addr>().is_ok());
            assert!(text("ipv6").parse::<std::net::Ipv6Addr>().is_ok());
        }
    }

    #[test]
    fn names_match_ignoring_case_and_unknown_ones_fail() {
        let Value::String(id) = run(r#"root = fake("UUID_Hyphenated")"#).unwrap() else {
            panic!()
        };
        assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 4);
        assert_eq!(
            run(r#"root = fake("nope")"#).unwrap_err(),
            "failed assignment (line 1): invalid faker function: nope"
        );
        assert_eq!(
            run(r#"root = fake(this.kind)"#).unwrap_err(),
            "failed assignment (line 1): field function: expected string value, got null"
        );
        assert!(matches!(run("root = fake()"), Ok(Value::String(s)) if s.len() == 25));
        // The documented examples.
        let Value::Object(user) = run(
            "root.user = {\n  \"id\": fake(\"uuid_hyphenated\"),\n  \"name\": fake(\"name\"),\n  \"email\": fake(\"email\"),\n  \"created_at\": fake(\"timestamp\")\n}",
        )
        .unwrap() else {
            panic!()
        };
        assert!(user.contains_key("user"));
        assert!(run(
            "root.event = {\n  \"source_ip\": fake(\"ipv4\"),\n  \"mac_address\": fake(\"mac_address\"),\n  \"url\": fake(\"url\")\n}"
        )
        .is_ok());
    }
}
