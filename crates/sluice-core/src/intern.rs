//! Names that must live as long as the process (the component registry and
//! the metrics registry key by `&'static str`), kept once per distinct text.
//! Reloading a config or creating a stream again finds the name already
//! kept, so memory stays bounded by the distinct names ever used instead of
//! growing with every reload.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

/// The one `'static` copy of `name`.
pub fn intern(name: &str) -> &'static str {
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut names = NAMES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(kept) = names.get(name) {
        return kept;
    }
    let kept: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(kept);
    kept
}

#[cfg(test)]
mod tests {
    use super::intern;

    #[test]
    fn the_same_text_is_kept_once() {
        let a = intern(&String::from("my_template"));
        let b = intern(&String::from("my_template"));
        assert!(std::ptr::eq(a, b));
        assert_eq!(a, "my_template");
        assert!(!std::ptr::eq(a, intern("other")));
    }
}
