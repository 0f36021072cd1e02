//! Interpolated strings: `${! <query> }` inside text.

use std::collections::HashMap;

use crate::diagnostic::{ExecError, ParseError, QueryError};
use crate::env::STD;
use crate::eval::{Cx, Expr, Flow, Maps, Root, This};
use crate::syntax::parser::{Parser, line_col};
use crate::target::BatchRef;

enum Part {
    Text(String),
    Query(Expr),
}

/// A string with embedded queries, evaluated per message.
pub struct Interpolation {
    parts: Vec<Part>,
}

static NO_MAPS: std::sync::LazyLock<Maps> = std::sync::LazyLock::new(Maps::new);

impl Interpolation {
    /// Parses an interpolated string. `${{!` escapes a literal `${!`.
    pub fn parse(s: &str) -> Result<Interpolation, ParseError> {
        let chars: Vec<char> = s.chars().collect();
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut i = 0;
        while i < chars.len() {
            if chars[i] == '$'
                && chars.get(i + 1) == Some(&'{')
                && chars.get(i + 2) == Some(&'{')
                && chars.get(i + 3) == Some(&'!')
            {
                // Escaped: `${{!...}}` renders as `${!...}`.
                let mut j = i + 4;
                while j + 1 < chars.len() && !(chars[j] == '}' && chars[j + 1] == '}') {
                    j += 1;
                }
                if j + 1 >= chars.len() {
                    // As in Benthos, an escape must be closed.
                    let (line, col) = line_col(&chars, i + 4);
                    return Err(ParseError::new(
                        line,
                        col,
                        vec!["end of escaped expression".to_owned()],
                        Some("required".to_owned()),
                    ));
                }
                text.push_str("${!");
                text.extend(&chars[i + 4..j]);
                text.push('}');
                i = j + 2;
                continue;
            }
            if chars[i] == '$' && chars.get(i + 1) == Some(&'{') && chars.get(i + 2) == Some(&'!') {
                if !text.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut text)));
                }
                let mut parser = Parser::new(s, &STD);
                parser.pos = i + 3;
                let q = parser.query().map_err(|e| parser.to_error(&e))?;
                // Only spaces and tabs may come before the closing brace.
                let mut p = parser.pos;
                while matches!(chars.get(p), Some(' ' | '\t')) {
                    p += 1;
                }
                if chars.get(p) != Some(&'}') {
                    let (line, col) = line_col(&chars, p);
                    return Err(ParseError::new(
                        line,
                        col,
                        vec!["end of expression".to_owned()],
                        Some("required".to_owned()),
                    ));
                }
                parts.push(Part::Query(q));
                i = p + 1;
                continue;
            }
            text.push(chars[i]);
            i += 1;
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Interpolation { parts })
    }

    /// Whether the string has no queries.
    pub fn is_static(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Text(_)))
    }

    /// Renders the string for the message at `index` of `batch`.
    pub fn render<B: BatchRef + ?Sized>(
        &self,
        batch: &B,
        index: usize,
    ) -> Result<String, ExecError> {
        let mut out = String::new();
        let batch: &dyn BatchRef = &batch;
        let mut cx = Cx {
            batch,
            index: index as i64,
            this_index: index,
            root: Root::Nothing,
            meta: None,
            vars: HashMap::new(),
            named: Vec::new(),
            maps: &NO_MAPS,
            direct_reads: false,
            spend: crate::budget::Spend::fresh(),
        };
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Query(q) => match q.eval(&mut cx, This::Msg) {
                    Ok(v) => out.push_str(&v.to_interp_string()),
                    Err(Flow::Delete | Flow::Nothing) => {}
                    Err(Flow::Err(e)) => return Err(ExecError::Query(QueryError::new(e))),
                },
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::Interpolation;

    fn parse_err(s: &str) -> String {
        match Interpolation::parse(s) {
            Ok(_) => "ok".to_owned(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn parse_errors_read_as_benthos_words_them() {
        assert_eq!(
            parse_err("static string ${!not a function} hello world"),
            "line 1 char 22: required: expected end of expression"
        );
        assert_eq!(
            parse_err(r#"foo ${!json("foo") whats this?} bar"#),
            "line 1 char 20: required: expected end of expression"
        );
        // Only spaces and tabs may stand between the query and its brace.
        assert_eq!(parse_err("${! content() \t}"), "ok");
        assert_eq!(
            parse_err("${! content()\n}"),
            "line 1 char 14: required: expected end of expression"
        );
        assert_eq!(
            parse_err("a string that ends ${{!with unfinished escapes"),
            "line 1 char 24: required: expected end of escaped expression"
        );
        assert_eq!(parse_err("${{!escaped}} and $ alone"), "ok");
    }
}
