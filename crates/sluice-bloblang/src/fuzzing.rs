//! Entry points for the fuzz targets under `fuzz/` and for the test that
//! replays their corpus. Each takes arbitrary bytes and must return,
//! whatever they are: no panic, no stack overflow, no allocation past the
//! value limit.

use crate::eval::{BinOp, Expr, apply_bin};
use crate::methods::strings::sprintf;
use crate::value::Value;
use crate::{Interpolation, Mapping, SimpleMessage};

/// Splits `data` at its first NUL byte: the code, then the document.
fn split(data: &[u8]) -> (String, Vec<u8>) {
    match data.iter().position(|b| *b == 0) {
        Some(at) => (
            String::from_utf8_lossy(&data[..at]).into_owned(),
            data[at + 1..].to_vec(),
        ),
        None => (String::from_utf8_lossy(data).into_owned(), Vec::new()),
    }
}

/// A mapping and a document, split at the first NUL byte: the mapping is
/// parsed and, when it parses, run against the document (as JSON when it
/// is JSON, as bytes otherwise). A document that parses as JSON must also
/// survive a round trip: written out as JSON and parsed again, it is the
/// same value and written out the same bytes. (A message's bytes are not
/// JSON for a string root, which is written as its raw text.)
pub fn mapping_over_document(data: &[u8]) {
    let (src, doc) = split(data);
    if let Ok(value) = Value::from_json_bytes(&doc) {
        let written = value.to_json_bytes();
        let again = Value::from_json_bytes(&written)
            .unwrap_or_else(|e| panic!("a written document does not parse: {e}"));
        assert!(
            again == value || has_nan(&value),
            "the round trip changed the value"
        );
        assert_eq!(again.to_json_bytes(), written, "writing is not stable");
    }
    let Ok(mapping) = Mapping::parse(&src) else {
        return;
    };
    let batch = [SimpleMessage::new(doc)];
    if let Ok(out) = mapping.exec(&batch[..], 0)
        && let crate::Root::Value(v) = out.root
    {
        // Encoding the result is part of the path every request takes.
        let _ = v.to_message_bytes();
    }
}

/// Whether `v` holds a NaN float, which equals nothing, itself included.
fn has_nan(v: &Value) -> bool {
    match v {
        Value::Float(f) => f.is_nan(),
        Value::Array(items) => items.iter().any(has_nan),
        Value::Object(map) => map.iter().any(|(_, v)| has_nan(v)),
        _ => false,
    }
}

/// An interpolated string and a document, split at the first NUL byte.
pub fn interpolation_over_document(data: &[u8]) {
    let (src, doc) = split(data);
    let Ok(interp) = Interpolation::parse(&src) else {
        return;
    };
    let batch = [SimpleMessage::new(doc)];
    // Errors are outcomes too; only a panic is a finding.
    drop(interp.render(&batch[..], 0));
}

/// Values decoded from bytes: each byte picks a kind and the next eight
/// its payload, so corpora reach the integer extremes quickly.
fn values(data: &[u8]) -> Vec<Value> {
    let mut out = Vec::new();
    for chunk in data.chunks(9) {
        let (kind, rest) = chunk.split_first().expect("chunks are not empty");
        let mut raw = [0u8; 8];
        raw[..rest.len()].copy_from_slice(rest);
        let n = i64::from_le_bytes(raw);
        out.push(match kind % 6 {
            0 => Value::Int(n),
            1 => Value::Float(f64::from_bits(n as u64)),
            2 => Value::String(String::from_utf8_lossy(rest).into_owned().into()),
            3 => Value::Bool(n & 1 == 1),
            4 => Value::Null,
            _ => Value::Int([i64::MIN, i64::MAX, -1, 0, 1][n.rem_euclid(5) as usize]),
        });
    }
    out
}

/// A format string and its arguments, split at the first NUL byte: the
/// Go-style verbs with any flags, widths and precisions.
pub fn format_verbs(data: &[u8]) {
    let (format, args) = split(data);
    drop(sprintf(&format, &values(&args)));
}

/// Every arithmetic and comparison operator over each pair of values
/// decoded from `data`.
pub fn arithmetic(data: &[u8]) {
    let values = values(data);
    let lit = Expr::Lit(Value::Null);
    let ops = [
        BinOp::Add,
        BinOp::Sub,
        BinOp::Mul,
        BinOp::Div,
        BinOp::Mod,
        BinOp::Eq,
        BinOp::Neq,
        BinOp::Gt,
        BinOp::Lt,
        BinOp::Gte,
        BinOp::Lte,
    ];
    for pair in values.windows(2) {
        for op in ops {
            drop(apply_bin(op, &lit, &lit, &pair[0], &pair[1]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::on_worker_stack;

    #[test]
    fn the_checked_in_corpora_run_clean() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
        type Target = fn(&[u8]);
        let targets: [(&str, Target); 4] = [
            ("bloblang_mapping", mapping_over_document),
            ("interpolation", interpolation_over_document),
            ("format_verbs", format_verbs),
            ("arithmetic", arithmetic),
        ];
        let mut ran = 0;
        for (name, target) in targets {
            let dir = root.join(name);
            let entries =
                std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()));
            for entry in entries {
                let path = entry.unwrap().path();
                let data = std::fs::read(&path).unwrap();
                on_worker_stack(move || target(&data));
                ran += 1;
            }
        }
        assert!(ran >= 20, "only {ran} corpus inputs");
    }
}
