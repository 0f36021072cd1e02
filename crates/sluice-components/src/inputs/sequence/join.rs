//! The `sharded_join` of the `sequence` input: messages of all inputs that
//! share an identifier are merged into one, shard by shard.

use std::collections::HashMap;

use bytes::Bytes;
use sluice_bloblang::Value;
use sluice_core::message::{Message, Metadata};

/// How a value is joined with one already there under the same field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MergeStrategy {
    /// Both values end up in an array; arrays are concatenated.
    Array,
    /// The newer value wins.
    Replace,
    /// The older value stays.
    Keep,
}

impl MergeStrategy {
    pub(crate) fn parse(name: &str) -> Option<Self> {
        match name {
            "array" => Some(Self::Array),
            "replace" => Some(Self::Replace),
            "keep" => Some(Self::Keep),
            _ => None,
        }
    }

    fn collide(self, dest: Value, source: Value) -> Value {
        match self {
            Self::Replace => source,
            Self::Keep => dest,
            Self::Array => match (dest, source) {
                (Value::Array(mut dest), Value::Array(source)) => {
                    dest.extend(source);
                    Value::Array(dest)
                }
                (Value::Array(mut dest), source) => {
                    dest.push(source);
                    Value::Array(dest)
                }
                (dest, Value::Array(source)) => {
                    Value::Array(std::iter::once(dest).chain(source).collect())
                }
                (dest, source) => Value::Array(vec![dest, source]),
            },
        }
    }
}

/// Merges `source` into `dest`: objects under the same key merge in turn,
/// anything else colliding is joined by `strategy`.
fn merge(dest: &mut sluice_bloblang::Map, source: sluice_bloblang::Map, strategy: MergeStrategy) {
    for (key, value) in source {
        match dest.get_mut(&key) {
            None => {
                dest.insert(key, value);
            }
            Some(existing) => match (existing, value) {
                (Value::Object(existing), Value::Object(value)) => merge(existing, value, strategy),
                (existing, value) => {
                    let old = std::mem::replace(existing, Value::Null);
                    *existing = strategy.collide(old, value);
                }
            },
        }
    }
}

/// A dot path as Benthos reads one (`~1` is a dot, `~0` a tilde).
pub(crate) fn dot_path(path: &str) -> Vec<String> {
    path.split('.')
        .map(|part| part.replace("~1", ".").replace("~0", "~"))
        .collect()
}

struct Joined {
    fields: sluice_bloblang::Map,
    metadata: Metadata,
}

impl Joined {
    fn to_message(&self) -> Message {
        let mut msg = Message::new(Bytes::new());
        msg.set_structured(Value::Object(self.fields.clone()));
        msg.set_metadata(self.metadata.clone());
        msg
    }
}

/// The messages of one shard joined so far.
pub(crate) struct Joiner {
    id_path: Vec<String>,
    iterations: u64,
    iteration: u64,
    strategy: MergeStrategy,
    // `outer`: a joined message goes out each time the last input adds to
    // it, instead of all at the end.
    flush_on_last: bool,
    // In the order identifiers were first seen.
    joined: Vec<Joined>,
    by_id: HashMap<String, usize>,
}

impl Joiner {
    pub(crate) fn new(
        id_path: Vec<String>,
        iterations: u64,
        strategy: MergeStrategy,
        flush_on_last: bool,
    ) -> Self {
        Self {
            id_path,
            iterations,
            iteration: 0,
            strategy,
            flush_on_last,
            joined: Vec::new(),
            by_id: HashMap::new(),
        }
    }

    /// Adds `msg` to its joined message when it belongs to this shard;
    /// unstructured messages and those without a string identifier are
    /// dropped. The joined message to send now, for an outer join reading
    /// its last input.
    pub(crate) fn add(&mut self, msg: &Message, last_input: bool) -> Option<Message> {
        let Ok(Value::Object(fields)) = msg.structured() else {
            return None;
        };
        let mut fields = fields.clone();
        let id = match lookup(&fields, &self.id_path) {
            Some(Value::String(id)) if !id.is_empty() => id.clone(),
            _ => return None,
        };
        if xxhash_rust::xxh64::xxh64(id.as_bytes(), 0) % self.iterations != self.iteration {
            return None;
        }
        let index = match self.by_id.get(id.as_str()) {
            None => {
                self.joined.push(Joined {
                    fields,
                    metadata: msg.metadata().clone(),
                });
                self.by_id.insert(id.to_string(), self.joined.len() - 1);
                self.joined.len() - 1
            }
            Some(&index) => {
                remove(&mut fields, &self.id_path);
                let joined = &mut self.joined[index];
                merge(&mut joined.fields, fields, self.strategy);
                joined
                    .metadata
                    .extend(msg.metadata().iter().map(|(k, v)| (k.clone(), v.clone())));
                index
            }
        };
        (self.flush_on_last && last_input).then(|| self.joined[index].to_message())
    }

    /// Ends the shard: the joined messages to send (none for an outer join,
    /// which sent them as they came), and whether that was the last shard.
    pub(crate) fn finish_shard(&mut self) -> (Vec<Message>, bool) {
        let out = if self.flush_on_last {
            Vec::new()
        } else {
            self.joined.iter().map(Joined::to_message).collect()
        };
        self.joined.clear();
        self.by_id.clear();
        self.iteration += 1;
        (out, self.iteration >= self.iterations)
    }
}

fn lookup<'a>(fields: &'a sluice_bloblang::Map, path: &[String]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let mut value = fields.get(first)?;
    for key in rest {
        let Value::Object(map) = value else {
            return None;
        };
        value = map.get(key)?;
    }
    Some(value)
}

fn remove(fields: &mut sluice_bloblang::Map, path: &[String]) {
    match path {
        [] => {}
        [last] => {
            fields.remove(last);
        }
        [first, rest @ ..] => {
            if let Some(Value::Object(map)) = fields.get_mut(first) {
                remove(map, rest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(json: &str) -> Message {
        Message::new(json.to_owned())
    }

    fn contents(msgs: &[Message]) -> Vec<String> {
        msgs.iter()
            .map(|m| String::from_utf8_lossy(m.content()).into_owned())
            .collect()
    }

    #[test]
    fn full_outer_joins_every_identifier_at_the_end_of_the_shard() {
        let mut join = Joiner::new(dot_path("uuid"), 1, MergeStrategy::Array, false);
        for (json, last) in [
            (r#"{"uuid":"CCC","hobby":"pokemon go"}"#, false),
            (r#"{"uuid":"AAA","hobby":"rowing"}"#, false),
            (r#"{"uuid":"AAA","hobby":"golf"}"#, false),
            (r#"{"uuid":"AAA","name":"Melanie"}"#, true),
            (r#"{"uuid":"BBB","name":"Emma"}"#, true),
            (r#"not json"#, true),
            (r#"{"name":"no id"}"#, true),
        ] {
            assert!(join.add(&msg(json), last).is_none());
        }
        let (out, done) = join.finish_shard();
        assert!(done);
        assert_eq!(
            contents(&out),
            [
                r#"{"hobby":"pokemon go","uuid":"CCC"}"#,
                r#"{"hobby":["rowing","golf"],"name":"Melanie","uuid":"AAA"}"#,
                r#"{"name":"Emma","uuid":"BBB"}"#,
            ]
        );
    }

    #[test]
    fn outer_sends_as_the_last_input_adds_and_strategies_differ() {
        let mut join = Joiner::new(dot_path("doc.id"), 1, MergeStrategy::Replace, true);
        assert!(
            join.add(&msg(r#"{"doc":{"id":"a"},"v":1,"o":{"x":1}}"#), false)
                .is_none()
        );
        let sent = join.add(&msg(r#"{"doc":{"id":"a"},"v":2,"o":{"y":2}}"#), true);
        assert_eq!(
            contents(&[sent.unwrap()]),
            [r#"{"doc":{"id":"a"},"o":{"x":1,"y":2},"v":2}"#]
        );
        assert!(join.finish_shard().0.is_empty());

        let mut keep = Joiner::new(dot_path("id"), 1, MergeStrategy::Keep, false);
        keep.add(&msg(r#"{"id":"a","v":[1]}"#), false);
        keep.add(&msg(r#"{"id":"a","v":[2]}"#), false);
        assert_eq!(contents(&keep.finish_shard().0), [r#"{"id":"a","v":[1]}"#]);
    }

    #[test]
    fn shards_split_identifiers_between_iterations() {
        let mut join = Joiner::new(dot_path("id"), 3, MergeStrategy::Array, false);
        let ids = ["a", "b", "c", "d", "e", "f"];
        let mut seen = Vec::new();
        for _ in 0..3 {
            for id in ids {
                join.add(&msg(&format!(r#"{{"id":"{id}"}}"#)), true);
            }
            let (out, _) = join.finish_shard();
            seen.extend(contents(&out));
        }
        seen.sort();
        assert_eq!(
            seen.len(),
            ids.len(),
            "each identifier in exactly one shard"
        );
    }
}
