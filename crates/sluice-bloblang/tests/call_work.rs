//! Work inside method calls counts against the message's step limit: lz4's
//! deep match search, a password hash's rounds and a mapping run by
//! `bloblang` all take from one allowance per message, so neither one call
//! nor many calls in a loop run for seconds where the limit cannot see
//! them. The limit is process-wide, so it is set once here, apart from the
//! other tests.

use sluice_bloblang::{Mapping, Root, SimpleMessage, Value, budget};

const STEPS: u64 = 2_000_000;

fn run(mapping: &str, body: &[u8]) -> Result<Value, String> {
    budget::set_max_steps(STEPS);
    let mapping = Mapping::parse(mapping).map_err(|e| e.to_string())?;
    let batch = [SimpleMessage::new(body.to_vec())];
    let out = mapping.exec(&batch[..], 0).map_err(|e| e.to_string())?;
    match out.root {
        Root::Value(v) => Ok(v),
        other => Err(format!("unexpected root {other:?}")),
    }
}

/// Text of two letters with no pattern: every four-byte window recurs all
/// through the block, so each position has a long chain of candidates.
fn two_letter_text(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_u32;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            if state & 1 == 0 { b'a' } else { b'b' }
        })
        .collect()
}

#[test]
fn a_deep_lz4_search_stops_at_the_step_limit_and_shallow_ones_finish() {
    let text = two_letter_text(256 << 10);
    let err = run(r#"root = content().compress("lz4", 9).length()"#, &text).unwrap_err();
    assert!(
        err.contains("exceeded its limit of 2000000 evaluation steps"),
        "{err}"
    );
    // The fast compressor searches one candidate a position and finishes.
    let round_trip = run(
        r#"root = content().compress("lz4", 0).decompress("lz4").string()"#,
        &text,
    )
    .unwrap();
    assert_eq!(round_trip, Value::from(String::from_utf8(text).unwrap()));
    // A deep search over a short input finishes within the limit.
    let short = b"the quick brown fox jumps over the lazy dog, the quick brown fox".repeat(4);
    let round_trip = run(
        r#"root = content().compress("lz4", 9).decompress("lz4").string()"#,
        &short,
    )
    .unwrap();
    assert_eq!(round_trip, Value::from(String::from_utf8(short).unwrap()));
}

const STEP_LIMIT_ERROR: &str = "exceeded its limit of 2000000 evaluation steps";

#[test]
fn lz4_searches_in_a_loop_share_the_message_allowance() {
    let text = String::from_utf8(two_letter_text(32 << 10)).unwrap();
    let mapping = r#"root = this.map_each(s -> s.compress("lz4", 9).length())"#;
    let once = Value::Array(vec![Value::from(text.clone())]);
    let run_on = |items: &Value| {
        let body = items.to_json_bytes();
        run(mapping, &body)
    };
    // One search fits in the allowance; a dozen of them do not, although
    // each would alone.
    let sizes = run_on(&once).unwrap();
    assert!(
        matches!(&sizes, Value::Array(a) if a.len() == 1),
        "{sizes:?}"
    );
    let dozen = Value::Array(vec![Value::from(text); 12]);
    let err = run_on(&dozen).unwrap_err();
    assert!(err.contains(STEP_LIMIT_ERROR), "{err}");
}

#[test]
fn mappings_run_by_bloblang_spend_the_callers_allowance() {
    // Each inner run takes some 40,000 to 60,000 steps: one fits, a hundred
    // do not.
    let inner = "root = range(0, 20000).map_each(x -> x + 1).length()";
    let once = run(&format!("root = this.bloblang({inner:?})"), b"{}").unwrap();
    assert_eq!(once, Value::Int(20000));
    let err = run(
        &format!("root = range(0, 100).map_each(i -> i.bloblang({inner:?}))"),
        b"{}",
    )
    .unwrap_err();
    assert!(err.contains(STEP_LIMIT_ERROR), "{err}");
}

#[test]
fn a_bcrypt_hash_naming_a_huge_cost_fails_before_hashing() {
    let secret = br#"{"secret":"hunter2"}"#;
    let cheap = bcrypt::hash("hunter2", 4).unwrap();
    let matched = run(
        &format!("root = this.secret.compare_bcrypt({cheap:?})"),
        secret,
    )
    .unwrap();
    assert_eq!(matched, Value::Bool(true));
    // Cost 31 is 2^31 rounds, days of work: refused at once.
    let costly = cheap.replacen("$04$", "$31$", 1);
    let err = run(
        &format!("root = this.secret.compare_bcrypt({costly:?})"),
        secret,
    )
    .unwrap_err();
    assert!(err.contains(STEP_LIMIT_ERROR), "{err}");
}

#[test]
fn an_argon2_hash_asking_for_too_much_memory_or_work_fails_before_hashing() {
    let secret = br#"{"secret":"hunter2"}"#;
    let hash = |options: &str| {
        format!(
            "$argon2id$v=19${options}$c2FsdHktbWNzYWx0ZmFjZQ$RMUMwgtS32/mbszd+ke4o4Ej1jFpYiUqY6MHWa69X7Y"
        )
    };
    let compare = |options: &str| {
        run(
            &format!("root = this.secret.compare_argon2({:?})", hash(options)),
            secret,
        )
    };
    assert_eq!(compare("m=64,t=1,p=1").unwrap(), Value::Bool(false));
    let err = compare("m=4294967295,t=1,p=1").unwrap_err();
    assert!(
        err.contains("the argon2 hash asks for 4398046510080 bytes of memory, more than the limit"),
        "{err}"
    );
    let err = compare("m=64,t=4294967295,p=1").unwrap_err();
    assert!(err.contains(STEP_LIMIT_ERROR), "{err}");
}
