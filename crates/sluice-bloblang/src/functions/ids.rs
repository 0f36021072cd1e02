//! Identifier generators beside `uuid_v4` and `nanoid`: `uuid_v7`, `ulid`, `ksuid` and
//! `snowflake_id`.

use chrono::Utc;
use rand::RngCore as _;

use crate::env::{Environment, FnImpl, Kind, PrepareCx, ex, opt};
use crate::eval::{Call, Cx, Expr, Flow, R, This, err};
use crate::methods::time::get_timestamp;
use crate::value::Value;

fn uuid_v7(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    let id = match call.arg(0, cx, this)? {
        Value::Null => uuid::Uuid::now_v7(),
        v => {
            let t = get_timestamp(&v).map_err(|e| Flow::Err(format!("field time: {e}")))?;
            let secs = u64::try_from(t.timestamp()).map_err(|_| {
                Flow::Err(format!(
                    "unable to generate uuid v7 at time {}: time before the unix epoch",
                    crate::value::format_rfc3339_nano(&t)
                ))
            })?;
            let ts = uuid::Timestamp::from_unix(uuid::NoContext, secs, t.timestamp_subsec_nanos());
            uuid::Uuid::new_v7(ts)
        }
    };
    Ok(Value::String(id.to_string().into()))
}

const ULID_ENCODINGS: [&str; 2] = ["crockford", "hex"];
const ULID_SOURCES: [&str; 2] = ["secure_random", "fast_random"];

/// The encoding and randomness source are fixed when the function is built, as in Benthos.
fn check_ulid_args(encoding: &Value, source: &Value) -> Result<(), String> {
    if let Value::String(e) = encoding
        && !ULID_ENCODINGS.contains(&e.as_str())
    {
        return Err(format!("invalid ulid encoding: {e}"));
    }
    if let Value::String(s) = source
        && !ULID_SOURCES.contains(&s.as_str())
    {
        return Err(format!("invalid randomness source: {s}"));
    }
    Ok(())
}

fn prepare_ulid(args: &[Expr], _: &PrepareCx<'_>) -> Result<Vec<Expr>, String> {
    let lit = |e: &Expr| match e {
        Expr::Lit(v) => v.clone(),
        _ => Value::Null,
    };
    check_ulid_args(&lit(&args[0]), &lit(&args[1]))?;
    Ok(Vec::new())
}

fn ulid(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    let encoding = call.arg(0, cx, this)?;
    let source = call.arg(1, cx, this)?;
    check_ulid_args(&encoding, &source)?;
    let ms = u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0);
    // Both sources draw from the thread's CSPRNG: "fast_random" only promises less, and a
    // secure generator keeps that promise too.
    let random =
        u128::from(rand::thread_rng().next_u64()) << 64 | u128::from(rand::thread_rng().next_u64());
    let id = ulid::Ulid::from_parts(ms, random);
    Ok(Value::String(match encoding {
        Value::String(e) if e == "hex" => hex::encode(id.to_bytes()).into(),
        _ => id.to_string().into(),
    }))
}

/// KSUID timestamps count seconds from this epoch (2014-05-13T16:53:20Z), not from 1970.
const KSUID_EPOCH: i64 = 1_400_000_000;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The 27-character base62 text of a 20-byte KSUID, left-padded with zeros.
fn ksuid_text(bytes: &[u8; 20]) -> String {
    // 160 bits as five big-endian u32 words, divided by 62 repeatedly.
    let mut words: Vec<u32> = bytes
        .chunks(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let mut out = [b'0'; 27];
    let mut pos = out.len();
    while words.iter().any(|&w| w != 0) {
        let mut rem: u64 = 0;
        for w in &mut words {
            let acc = (rem << 32) | u64::from(*w);
            *w = (acc / 62) as u32;
            rem = acc % 62;
        }
        pos -= 1;
        out[pos] = BASE62[rem as usize];
    }
    String::from_utf8(out.to_vec()).expect("base62 digits are ascii")
}

fn ksuid(_: &mut Cx<'_>, _: This<'_>, _: &Call) -> R<Value> {
    let mut bytes = [0u8; 20];
    let secs = u32::try_from(Utc::now().timestamp() - KSUID_EPOCH).unwrap_or(0);
    bytes[..4].copy_from_slice(&secs.to_be_bytes());
    rand::thread_rng().fill_bytes(&mut bytes[4..]);
    Ok(Value::String(ksuid_text(&bytes).into()))
}

/// Twitter's snowflake layout as Benthos generates it: milliseconds since this epoch
/// (2010-11-04T01:42:54.657Z) in 41 bits, then a 10-bit node and a 12-bit sequence.
const SNOWFLAKE_EPOCH_MS: i64 = 1_288_834_974_657;
const NODE_BITS: u32 = 10;
const STEP_BITS: u32 = 12;

fn check_node(node: i64) -> Result<i64, String> {
    let max = (1 << NODE_BITS) - 1;
    if !(0..=max).contains(&node) {
        return Err(format!("Node number must be between 0 and {max}"));
    }
    Ok(node)
}

fn prepare_snowflake(args: &[Expr], _: &PrepareCx<'_>) -> Result<Vec<Expr>, String> {
    if let Expr::Lit(v) = &args[0]
        && let Some(n) = v.as_num()
    {
        check_node(n.as_f64() as i64)?;
    }
    Ok(Vec::new())
}

/// The next (time, step) of a call site after `last`, waiting out a full millisecond.
fn next_snowflake(last: Option<i64>, mut now_ms: impl FnMut() -> i64) -> (i64, i64) {
    let now = now_ms();
    let Some(packed) = last else {
        return (now, 0);
    };
    let (time, step) = (packed >> STEP_BITS, packed & ((1 << STEP_BITS) - 1));
    if now != time {
        return (now, 0);
    }
    let step = (step + 1) & ((1 << STEP_BITS) - 1);
    if step != 0 {
        return (now, step);
    }
    let mut later = now_ms();
    while later <= time {
        later = now_ms();
    }
    (later, 0)
}

fn snowflake_id(cx: &mut Cx<'_>, this: This<'_>, call: &Call) -> R<Value> {
    let node = match call.arg(0, cx, this)?.as_num() {
        Some(n) => check_node(n.as_f64() as i64)?,
        None => return err("field node_id: expected number value"),
    };
    let mut state = call
        .state
        .lock()
        .expect("snowflake state is never poisoned");
    let (time, step) = next_snowflake(*state, || {
        Utc::now().timestamp_millis() - SNOWFLAKE_EPOCH_MS
    });
    // One packed i64 per call site: the time fits in 41 bits, the step in 12.
    *state = Some((time << STEP_BITS) | step);
    let id = (time << (NODE_BITS + STEP_BITS)) | (node << STEP_BITS) | step;
    Ok(Value::String(id.to_string().into()))
}

pub(crate) fn register(env: &mut Environment) {
    let cat = "General";
    env.function(
        "uuid_v7",
        cat,
        "A time-ordered version 7 UUID, at the current time or the one given.",
        vec![opt("time", Kind::Timestamp, Value::Null)],
        vec![],
        FnImpl::Ctx(uuid_v7),
    );
    env.function(
        "ulid",
        cat,
        "A universally unique lexicographically sortable identifier, in Crockford base32 or hex.",
        vec![
            opt(
                "encoding",
                Kind::Str,
                Value::String("crockford".to_owned().into()),
            ),
            opt(
                "random_source",
                Kind::Str,
                Value::String("secure_random".to_owned().into()),
            ),
        ],
        vec![],
        FnImpl::Ctx(ulid),
    );
    env.prepare_function("ulid", prepare_ulid);
    env.function(
        "ksuid",
        cat,
        "A K-sortable unique identifier: a second-resolution timestamp and 128 random bits.",
        vec![],
        vec![],
        FnImpl::Ctx(ksuid),
    );
    env.function(
        "snowflake_id",
        cat,
        "A time-ordered 64-bit snowflake id for a node (0 to 1023), as a string.",
        vec![opt("node_id", Kind::Int, Value::Int(1))],
        vec![ex(
            "root.ok = snowflake_id(5).length() > 0",
            &[("{}", r#"{"ok":true}"#)],
        )],
        FnImpl::Ctx(snowflake_id),
    );
    env.prepare_function("snowflake_id", prepare_snowflake);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(mapping: &str) -> Result<Value, String> {
        crate::testing::map_value(mapping, "{}")
    }

    fn text(v: Value) -> String {
        match v {
            Value::String(s) => s.into(),
            other => panic!("not a string: {other:?}"),
        }
    }

    #[test]
    fn uuid_v7_is_version_7_and_ordered_by_time() {
        let id = text(check("root = uuid_v7()").unwrap());
        let parsed = uuid::Uuid::parse_str(&id).unwrap();
        assert_eq!(parsed.get_version_num(), 7);
        // The documented example: a time given as a timestamp.
        let earlier = text(check(r#"root = uuid_v7(now().ts_sub_iso8601("PT1M"))"#).unwrap());
        assert!(earlier < id, "{earlier} should sort before {id}");
        let fixed = text(check("root = uuid_v7(1700000000.timestamp())").unwrap());
        let (secs, _) = uuid::Uuid::parse_str(&fixed)
            .unwrap()
            .get_timestamp()
            .unwrap()
            .to_unix();
        assert_eq!(secs, 1_700_000_000);
        let named = text(check(r#"root = uuid_v7(time: "2020-01-01T00:00:00Z")"#).unwrap());
        let (secs, _) = uuid::Uuid::parse_str(&named)
            .unwrap()
            .get_timestamp()
            .unwrap()
            .to_unix();
        assert_eq!(secs, 1_577_836_800);
        // A literal time is read when the mapping is parsed.
        let e = check(r#"root = uuid_v7("not a time")"#).unwrap_err();
        assert!(e.starts_with("line 1 char 29: field time: "), "{e}");
        assert!(check(r#"root = uuid_v7(this.nope.uppercase())"#).is_err());
    }

    #[test]
    fn ulid_encodings() {
        let id = text(check("root = ulid()").unwrap());
        assert_eq!(id.len(), 26);
        assert!(ulid::Ulid::from_string(&id).is_ok());
        let hex = text(check(r#"root = ulid("hex")"#).unwrap());
        assert_eq!(hex.len(), 32);
        assert!(
            hex.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        let fast = text(
            check(r#"root = ulid(encoding: "crockford", random_source: "fast_random")"#).unwrap(),
        );
        assert_eq!(fast.len(), 26);
        assert_eq!(
            check(r#"root = ulid("base64")"#).unwrap_err(),
            "line 1 char 22: invalid ulid encoding: base64"
        );
        assert_eq!(
            check(r#"root = ulid(random_source: "dice")"#).unwrap_err(),
            "line 1 char 35: invalid randomness source: dice"
        );
    }

    #[test]
    fn ksuid_text_matches_the_reference_encoding() {
        // The nil and max KSUIDs of the reference implementation.
        assert_eq!(ksuid_text(&[0; 20]), "000000000000000000000000000");
        assert_eq!(ksuid_text(&[0xff; 20]), "aWgEPTl1tmebfsQzFP4bxwgy80V");
        let id = text(check(r#"root = ksuid()"#).unwrap());
        assert_eq!(id.len(), 27);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
        // The documented example.
        let event =
            check("root.event = {\n  \"id\": ksuid(),\n  \"type\": \"a\",\n  \"data\": 1\n}")
                .unwrap();
        assert!(matches!(event, Value::Object(_)));
    }

    #[test]
    fn snowflake_layout_and_node_range() {
        let id: i64 = text(check("root = snowflake_id(42)").unwrap())
            .parse()
            .unwrap();
        assert_eq!((id >> STEP_BITS) & 1023, 42);
        let default: i64 = text(check("root = snowflake_id()").unwrap())
            .parse()
            .unwrap();
        assert_eq!((default >> STEP_BITS) & 1023, 1);
        assert_eq!(
            check("root = snowflake_id(1024)").unwrap_err(),
            "line 1 char 26: Node number must be between 0 and 1023"
        );
        assert_eq!(
            check(r#"root = snowflake_id("a")"#).unwrap_err(),
            r#"line 1 char 25: field node_id: expected number value, got string ("a")"#
        );
    }

    #[test]
    fn snowflake_steps_within_a_millisecond_then_waits() {
        assert_eq!(next_snowflake(None, || 5), (5, 0));
        assert_eq!(next_snowflake(Some(5 << STEP_BITS | 7), || 5), (5, 8));
        assert_eq!(next_snowflake(Some(5 << STEP_BITS | 7), || 6), (6, 0));
        let mut clock = [5, 5, 6].into_iter();
        assert_eq!(
            next_snowflake(Some(5 << STEP_BITS | 4095), || clock.next().unwrap()),
            (6, 0)
        );
        let ids: Vec<i64> = (0..3)
            .map(|_| {
                text(check("root = snowflake_id()").unwrap())
                    .parse()
                    .unwrap()
            })
            .collect();
        assert!(ids.iter().all(|&id| id > 0));
    }
}
