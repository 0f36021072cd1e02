//! Parse and execution errors, rendered as Benthos renders them.

use std::fmt;

/// A mapping or interpolation that failed to parse.
///
/// `Display` renders `line L char C: <message>` exactly as Benthos does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    line: usize,
    column: usize,
    /// What the parser wanted at the failing position, e.g. `whitespace` or `query`.
    expected: Vec<String>,
    /// A reason the input is invalid even though it was recognised, e.g. an unknown function.
    reason: Option<String>,
}

impl ParseError {
    pub(crate) fn new(
        line: usize,
        column: usize,
        expected: Vec<String>,
        reason: Option<String>,
    ) -> Self {
        ParseError {
            line,
            column,
            expected,
            reason,
        }
    }

    /// The 1-based line of the error.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The 1-based column of the error, counted in chars.
    pub fn column(&self) -> usize {
        self.column
    }

    /// The message without its position.
    pub fn message(&self) -> String {
        let mut msg = self.reason.clone().unwrap_or_default();
        let mut expected: Vec<&str> = Vec::new();
        for e in &self.expected {
            if !expected.contains(&e.as_str()) {
                expected.push(e);
            }
        }
        if expected.is_empty() {
            if msg.is_empty() {
                msg = "encountered unexpected input".to_owned();
            }
            return msg;
        }
        if !msg.is_empty() {
            msg.push_str(": ");
        }
        msg.push_str("expected ");
        let n = expected.len();
        for (i, e) in expected.iter().enumerate() {
            if n > 1 && i == n - 1 {
                if n > 2 {
                    msg.push(',');
                }
                msg.push_str(" or ");
            } else if i > 0 {
                msg.push_str(", ");
            }
            msg.push_str(e);
        }
        msg
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {} char {}: {}",
            self.line,
            self.column,
            self.message()
        )
    }
}

impl std::error::Error for ParseError {}

/// The reason a query failed while executing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct QueryError {
    message: String,
}

impl QueryError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        QueryError {
            message: message.into(),
        }
    }

    /// The message of the failure.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// A mapping or interpolation that failed while executing against a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// A statement of a mapping failed.
    #[error("failed assignment (line {line}): {cause}")]
    Assignment {
        /// The 1-based line of the failing statement.
        line: usize,
        /// Why it failed.
        cause: QueryError,
    },
    /// A query failed outside of an assignment (interpolations).
    #[error("{0}")]
    Query(QueryError),
}
