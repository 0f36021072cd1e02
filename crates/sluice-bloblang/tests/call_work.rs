//! Work inside one method call counts against the step limit: lz4's deep
//! match search over repetitive text stops with the step limit's error
//! instead of running for seconds. The limit is process-wide, so it is set
//! once here, apart from the other tests.

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
