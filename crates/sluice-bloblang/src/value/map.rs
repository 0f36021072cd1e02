//! The entries of an object value: a vector kept sorted by key.
//!
//! Objects in mappings are small and are mostly built in key order (parsed from documents
//! that an encoder sorted, copied from another object, or written as literals), read a few
//! times and dropped. A sorted vector serves that with one allocation, lookups by binary
//! search, appends at the end and iteration over a slice, where a B-tree spends a node
//! allocation, rebalancing and a walk to drop. The order is the byte order of the keys, the
//! one Go's `encoding/json` writes, so output is unchanged.
//!
//! Inserting a key that sorts before the last one moves the entries after it. Builders that
//! add many keys in no particular order (parsers, `collect`) gather them first and sort
//! once through [`FromIterator`].

use std::fmt;

use super::Value;

/// An object key, stored as string values are: keys of up to 24 bytes inline, so that
/// reading a document's keys and copying its objects allocate nothing for them.
pub type Key = super::Str;

/// The entries of an object, in key byte order, each key once.
#[derive(Clone, Default, PartialEq)]
pub struct Map {
    entries: Vec<(Key, Value)>,
}

impl Map {
    /// An empty map; allocates nothing.
    pub const fn new() -> Map {
        Map {
            entries: Vec::new(),
        }
    }

    /// An empty map with room for `capacity` entries.
    pub fn with_capacity(capacity: usize) -> Map {
        Map {
            entries: Vec::with_capacity(capacity),
        }
    }

    /// Builds a map from entries in any order; of entries with the same key the last wins,
    /// as it does when a JSON object repeats a key.
    pub(crate) fn from_entries(mut entries: Vec<(Key, Value)>) -> Map {
        if entries.windows(2).all(|w| w[0].0 < w[1].0) {
            return Map { entries };
        }
        // Stable, so that equal keys keep their order and the last of each run is the latest.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        // `later` is dropped and `kept` stays: hand the later value to the one kept.
        entries.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                std::mem::swap(&mut later.1, &mut kept.1);
            }
            same
        });
        Map { entries }
    }

    /// Builds a map from entries in any order; a key given more than once gets the array of
    /// its values in their order, as parsers of query strings and XML gather repeats.
    pub(crate) fn from_entries_grouped(mut entries: Vec<(Key, Value)>) -> Map {
        // Stable, so that each key's values keep their order.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut grouped = Vec::with_capacity(entries.len());
        let mut rest = entries.into_iter().peekable();
        while let Some((key, value)) = rest.next() {
            if rest.peek().is_none_or(|(next, _)| *next != key) {
                grouped.push((key, value));
                continue;
            }
            let mut values = vec![value];
            while let Some((_, value)) = rest.next_if(|(next, _)| *next == key) {
                values.push(value);
            }
            grouped.push((key, Value::Array(values)));
        }
        Map { entries: grouped }
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Where `key` is, or where it would go.
    fn find(&self, key: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    /// Where `key` is. Most objects are small, and there a scan that compares lengths first
    /// beats ordering the key against half of the others.
    fn position(&self, key: &str) -> Option<usize> {
        if self.entries.len() <= 12 {
            return self.entries.iter().position(|(k, _)| k.as_str() == key);
        }
        self.find(key).ok()
    }

    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.position(key).map(|i| &self.entries[i].1)
    }

    /// The value under `key`, to change in place.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.position(key).map(|i| &mut self.entries[i].1)
    }

    /// Whether `key` has a value.
    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// Sets `key` to `value`, returning the value it replaced.
    pub fn insert(&mut self, key: impl Into<Key>, value: Value) -> Option<Value> {
        let key = key.into();
        // Appending is the common case: keys arriving in order.
        if self.entries.last().is_none_or(|(last, _)| *last < key) {
            self.entries.push((key, value));
            return None;
        }
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    /// Appends an entry whose key the caller knows to sort after every key in the map.
    pub(crate) fn push_greatest(&mut self, key: Key, value: Value) {
        debug_assert!(self.entries.last().is_none_or(|(last, _)| *last < key));
        self.entries.push((key, value));
    }

    /// The value under `key`, inserting the one `make` gives first when there is none.
    pub fn get_or_insert_with(&mut self, key: &str, make: impl FnOnce() -> Value) -> &mut Value {
        let i = match self.find(key) {
            Ok(i) => i,
            Err(i) => {
                self.entries.insert(i, (Key::new(key), make()));
                i
            }
        };
        &mut self.entries[i].1
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.position(key).map(|i| self.entries.remove(i).1)
    }

    /// Keeps the entries for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&Key, &mut Value) -> bool) {
        self.entries.retain_mut(|(k, v)| keep(k, v));
    }

    /// The entries in key order.
    pub fn iter(&self) -> Iter<'_> {
        Iter(self.entries.iter())
    }

    /// The entries in key order, values changeable.
    pub fn iter_mut(&mut self) -> IterMut<'_> {
        IterMut(self.entries.iter_mut())
    }

    /// The keys in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &Key> + ExactSizeIterator {
        self.entries.iter().map(|(k, _)| k)
    }

    /// The values in key order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Value> + ExactSizeIterator {
        self.entries.iter().map(|(_, v)| v)
    }

    /// The values in key order, changeable.
    pub fn values_mut(
        &mut self,
    ) -> impl DoubleEndedIterator<Item = &mut Value> + ExactSizeIterator {
        self.entries.iter_mut().map(|(_, v)| v)
    }

    /// The keys in order, taken out of the map.
    pub fn into_keys(self) -> impl DoubleEndedIterator<Item = Key> + ExactSizeIterator {
        self.entries.into_iter().map(|(k, _)| k)
    }

    /// The values in key order, taken out of the map.
    pub fn into_values(self) -> impl DoubleEndedIterator<Item = Value> + ExactSizeIterator {
        self.entries.into_iter().map(|(_, v)| v)
    }

    /// The first entry in key order.
    pub fn first_key_value(&self) -> Option<(&Key, &Value)> {
        self.entries.first().map(|(k, v)| (k, v))
    }

    /// The last entry in key order.
    pub fn last_key_value(&self) -> Option<(&Key, &Value)> {
        self.entries.last().map(|(k, v)| (k, v))
    }
}

impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// The entries of a [`Map`] in key order.
#[derive(Clone)]
pub struct Iter<'a>(std::slice::Iter<'a, (Key, Value)>);

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a Key, &'a Value);
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| (k, v))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|(k, v)| (k, v))
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// The entries of a [`Map`] in key order, values changeable.
pub struct IterMut<'a>(std::slice::IterMut<'a, (Key, Value)>);

impl<'a> Iterator for IterMut<'a> {
    type Item = (&'a Key, &'a mut Value);
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| (&*k, v))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl DoubleEndedIterator for IterMut<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|(k, v)| (&*k, v))
    }
}

impl ExactSizeIterator for IterMut<'_> {}

/// The entries of a [`Map`] in key order, taken out of it.
pub struct IntoIter(std::vec::IntoIter<(Key, Value)>);

impl Iterator for IntoIter {
    type Item = (Key, Value);
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next()
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl DoubleEndedIterator for IntoIter {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back()
    }
}

impl ExactSizeIterator for IntoIter {}

impl IntoIterator for Map {
    type Item = (Key, Value);
    type IntoIter = IntoIter;
    fn into_iter(self) -> IntoIter {
        IntoIter(self.entries.into_iter())
    }
}

impl<'a> IntoIterator for &'a Map {
    type Item = (&'a Key, &'a Value);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &'a mut Map {
    type Item = (&'a Key, &'a mut Value);
    type IntoIter = IterMut<'a>;
    fn into_iter(self) -> IterMut<'a> {
        self.iter_mut()
    }
}

impl<K: Into<Key>> FromIterator<(K, Value)> for Map {
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(iter: I) -> Map {
        Map::from_entries(iter.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
}

impl<K: Into<Key>> Extend<(K, Value)> for Map {
    fn extend<I: IntoIterator<Item = (K, Value)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl<K: Into<Key>, const N: usize> From<[(K, Value); N]> for Map {
    fn from(entries: [(K, Value); N]) -> Map {
        entries.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(m: &Map) -> Vec<&str> {
        m.keys().map(Key::as_str).collect()
    }

    #[test]
    fn inserts_keep_byte_order_and_replace() {
        let mut m = Map::new();
        for (i, k) in ["b", "a", "é", "B", "ab", "a"].into_iter().enumerate() {
            m.insert(k, Value::Int(i as i64));
        }
        assert_eq!(keys(&m), ["B", "a", "ab", "b", "é"]);
        assert_eq!(m.get("a"), Some(&Value::Int(5)));
        assert_eq!(m.remove("ab"), Some(Value::Int(4)));
        assert_eq!(m.get("ab"), None);
    }

    #[test]
    fn collected_duplicates_keep_the_last() {
        let m: Map = [
            ("z", Value::Int(1)),
            ("a", Value::Int(2)),
            ("z", Value::Int(3)),
            ("a", Value::Int(4)),
        ]
        .into_iter()
        .collect();
        assert_eq!(keys(&m), ["a", "z"]);
        assert_eq!(m.get("a"), Some(&Value::Int(4)));
        assert_eq!(m.get("z"), Some(&Value::Int(3)));
    }

    #[test]
    fn grouped_repeats_become_arrays_in_order() {
        let m = Map::from_entries_grouped(vec![
            ("z".into(), Value::Int(1)),
            ("a".into(), Value::Int(2)),
            ("z".into(), Value::Int(3)),
            ("z".into(), Value::Int(4)),
        ]);
        assert_eq!(keys(&m), ["a", "z"]);
        assert_eq!(m.get("a"), Some(&Value::Int(2)));
        assert_eq!(
            m.get("z"),
            Some(&Value::Array(vec![
                Value::Int(1),
                Value::Int(3),
                Value::Int(4)
            ]))
        );
    }

    proptest::proptest! {
        #[test]
        fn behaves_as_a_btree_map(ops in proptest::collection::vec(("[a-c]{0,3}", 0i64..4, proptest::bool::ANY), 0..40)) {
            let mut m = Map::new();
            let mut reference = std::collections::BTreeMap::new();
            for (k, v, remove) in ops {
                if remove {
                    proptest::prop_assert_eq!(m.remove(&k), reference.remove(&k));
                } else {
                    proptest::prop_assert_eq!(m.insert(k.as_str(), Value::Int(v)), reference.insert(k, Value::Int(v)));
                }
            }
            let got: Vec<(String, Value)> = m.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            let want: Vec<(String, Value)> = reference.into_iter().collect();
            proptest::prop_assert_eq!(got, want);
        }
    }
}
