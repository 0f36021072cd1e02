//! Config problems, reported the way Benthos prints them: `(line,col) message`.

use std::fmt;

use super::Mark;

/// How bad a [`Lint`] is. `sluice run` refuses both, as Benthos does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LintLevel {
    /// The config is wrong.
    Error,
    /// The config is suspicious.
    Warning,
}

/// One problem found in a config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lint {
    /// 1-based line (0 for problems not tied to the file, such as `--set`).
    pub line: usize,
    /// 1-based column; Benthos reports field problems at column 1.
    pub col: usize,
    /// Error or warning.
    pub level: LintLevel,
    /// Lowercase text without a trailing period.
    pub message: String,
}

impl Lint {
    /// An error at `mark`.
    pub fn error(mark: Mark, message: impl Into<String>) -> Lint {
        Lint {
            line: mark.line,
            col: mark.col,
            level: LintLevel::Error,
            message: message.into(),
        }
    }

    /// The same problem, downgraded to a warning.
    pub fn into_warning(self) -> Lint {
        Lint {
            level: LintLevel::Warning,
            ..self
        }
    }

    /// A warning at `mark`.
    pub fn warning(mark: Mark, message: impl Into<String>) -> Lint {
        Lint {
            line: mark.line,
            col: mark.col,
            level: LintLevel::Warning,
            message: message.into(),
        }
    }

    /// An error at column 1 of `line`, where Benthos reports field problems.
    pub fn at_line(line: usize, message: impl Into<String>) -> Lint {
        Lint::error(Mark::new(line, 1), message)
    }
}

impl fmt::Display for Lint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({},{}) {}", self.line, self.col, self.message)
    }
}

impl std::error::Error for Lint {}

/// The candidate nearest to `name` by edit distance, when it is close enough
/// to be a likely typo: at most a third of the name's length, and at most 3.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).clamp(1, 3);
    candidates
        .into_iter()
        .filter(|candidate| *candidate != name)
        .map(|candidate| (edit_distance(name, candidate), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Optimal string alignment distance: Levenshtein plus adjacent swaps, which
/// are the most common typo (`kafak`).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut table = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        for j in 0..=b.len() {
            table[i * width + j] = if i == 0 {
                j
            } else if j == 0 {
                i
            } else {
                let cost = usize::from(a[i - 1] != b[j - 1]);
                let mut best = (table[(i - 1) * width + j] + 1)
                    .min(table[i * width + j - 1] + 1)
                    .min(table[(i - 1) * width + j - 1] + cost);
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    best = best.min(table[(i - 2) * width + j - 2] + 1);
                }
                best
            };
        }
    }
    table[a.len() * width + b.len()]
}

/// Appends ` (did you mean x?)` when a close candidate exists.
pub(crate) fn with_suggestion<'a>(
    message: String,
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> String {
    match did_you_mean(name, candidates) {
        Some(candidate) => format!("{message} (did you mean {candidate}?)"),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, candidates: &[&str], expected: Option<&str>) {
        assert_eq!(
            did_you_mean(name, candidates.iter().copied()),
            expected,
            "{name}"
        );
    }

    #[test]
    fn suggests_close_names_only() {
        let names = ["kafka", "kafka_franz", "http_server", "stdin", "generate"];
        check("kafak", &names, Some("kafka"));
        check("http_sever", &names, Some("http_server"));
        check("stdn", &names, Some("stdin"));
        check("nope", &names, None);
        check("x", &names, None);
        check("kafka", &names, None);
    }

    #[test]
    fn displays_like_benthos() {
        let lint = Lint::at_line(5, "field nope not recognised");
        assert_eq!(lint.to_string(), "(5,1) field nope not recognised");
    }
}
