//! The entry point of the `config_yaml` fuzz target under `fuzz/`, and of
//! the test that replays its corpus.

use super::Config;

/// Loads arbitrary bytes as a config file, with environment variables
/// unset and `--set` pairs derived from the last line: every outcome is a
/// config or lints with positions, never a panic.
pub fn config_yaml(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let sets: Vec<(String, String)> = text
        .lines()
        .last()
        .and_then(|line| line.strip_prefix("#set "))
        .and_then(|pair| pair.split_once('='))
        .map(|(k, v)| vec![(k.to_owned(), v.to_owned())])
        .unwrap_or_default();
    // A config or lints: both are outcomes; only a panic is a finding.
    drop(Config::load(&text, &|_| None, &sets));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `f` on a thread with the stack the binary gives its workers
    /// (the test harness's default is far smaller).
    fn on_worker_stack(f: impl FnOnce() + Send + 'static) {
        std::thread::Builder::new()
            .stack_size(128 << 20)
            .spawn(f)
            .expect("spawn")
            .join()
            .expect("the target returned");
    }

    #[test]
    fn the_checked_in_corpus_runs_clean() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/config_yaml");
        let mut ran = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let data = std::fs::read(entry.unwrap().path()).unwrap();
            on_worker_stack(move || config_yaml(&data));
            ran += 1;
        }
        assert!(ran >= 5, "only {ran} corpus inputs");
    }
}
