//! The byte framings shared by stream-like inputs and outputs.
//!
//! Inputs split a byte stream into messages with a [`Scanner`]: the
//! `scanner` field of Benthos 4.25+ (`lines`, `csv`, `to_the_end`) and the
//! older `codec` names (`lines`, `delim:x`, `csv`, `csv:x`, `all-bytes`)
//! both come down to one, so both share the splitting code of
//! [`ScanReader`]. Outputs join messages with a [`Codec`].

use std::collections::BTreeMap;
use std::fmt;

use bytes::Bytes;
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_bloblang::Value;
use sluice_core::config::json_schema::NoFields;
use sluice_core::config::{Lint, Mark, Node};
use sluice_core::environment::{BuildResult, Builder};
use sluice_core::message::{Batch, Message};
use tokio::io::{AsyncRead, AsyncReadExt};

/// How messages are framed in a byte stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Codec {
    /// One message per line.
    Lines,
    /// Each message written as is (outputs) / the whole stream is one message (inputs).
    AllBytes,
}

impl Codec {
    /// Parses a Benthos codec name; absent means `lines`.
    pub(crate) fn parse(name: Option<&str>, mark: Mark) -> BuildResult<Codec> {
        match name.unwrap_or("lines") {
            "lines" => Ok(Codec::Lines),
            "all-bytes" | "to_the_end" => Ok(Codec::AllBytes),
            other => Err(vec![Lint::error(
                mark,
                format!("codec '{other}' is not supported yet"),
            )]),
        }
    }
}

/// Frames `batch` for writing.
pub(crate) fn encode(codec: Codec, batch: &Batch) -> Vec<u8> {
    let mut out = Vec::new();
    for msg in batch.iter() {
        out.extend_from_slice(msg.content());
        if codec == Codec::Lines {
            out.push(b'\n');
        }
    }
    out
}

/// Go's `bufio.MaxScanTokenSize`, the `lines` scanner's default limit.
const DEFAULT_MAX_BUFFER_SIZE: usize = 64 * 1024;

/// The most bytes one CSV record may span. Go's reader has no limit; this
/// keeps a record without an end from taking all memory.
const MAX_CSV_RECORD: usize = 64 * 1024 * 1024;

/// Benthos scanners sluice does not have yet.
const PLANNED_SCANNERS: &[&str] = &[
    "chunker",
    "decompress",
    "json_documents",
    "json_array",
    "re_match",
    "skip_bom",
    "switch",
    "tar",
];

/// The `lines` scanner's fields.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LinesConfig {
    /// A delimiter that ends a line instead of a line break.
    #[serde(default)]
    custom_delimiter: Option<String>,
    /// The longest a line may be, delimiter included; a longer one is an
    /// error that ends the source.
    #[serde(default = "default_max_buffer_size")]
    max_buffer_size: usize,
    /// Whether empty lines are skipped rather than sent as empty messages.
    #[serde(default)]
    omit_empty: bool,
}

const fn default_max_buffer_size() -> usize {
    DEFAULT_MAX_BUFFER_SIZE
}

/// The `csv` scanner's fields.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CsvConfig {
    /// A delimiter to use instead of a comma; only its first character
    /// counts.
    #[serde(default)]
    custom_delimiter: Option<String>,
    /// Whether the first row names the fields: each row then becomes an
    /// object keyed by those names, otherwise an array of its values.
    #[serde(default = "default_true")]
    parse_header_row: bool,
    /// Whether a quote may appear in an unquoted field and a lone quote in
    /// a quoted one.
    #[serde(default)]
    lazy_quotes: bool,
    /// Whether a row that fails to parse becomes a message flagged with the
    /// error, reading on, rather than ending the source.
    #[serde(default)]
    continue_on_error: bool,
}

const fn default_true() -> bool {
    true
}

/// The schema of the `scanner` field: one scanner, by name.
#[derive(JsonSchema)]
#[expect(dead_code, reason = "only describes the scanner field's schema")]
pub(crate) enum ScannerSchema {
    /// One message per line.
    #[serde(rename = "lines")]
    Lines(LinesConfig),
    /// One message per CSV row (metadata `csv_row`: the row's index from 0).
    #[serde(rename = "csv")]
    Csv(CsvConfig),
    /// The whole stream as one message.
    #[serde(rename = "to_the_end")]
    ToTheEnd(NoFields),
}

/// How an input splits a byte stream into messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Scanner {
    /// A message per delimited line.
    Lines(LinesScanner),
    /// A message per CSV record.
    Csv(CsvScanner),
    /// One message holding everything up to the end.
    ToTheEnd,
}

/// The options of [`Scanner::Lines`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LinesScanner {
    /// `None` splits at `\n`, dropping a `\r` before it, as Go's `ScanLines`.
    delimiter: Option<Vec<u8>>,
    max_buffer: usize,
    omit_empty: bool,
}

/// The options of [`Scanner::Csv`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CsvScanner {
    comma: char,
    header_row: bool,
    lazy_quotes: bool,
    continue_on_error: bool,
}

impl CsvScanner {
    fn new(comma: char, header_row: bool) -> Self {
        Self {
            comma,
            header_row,
            lazy_quotes: false,
            continue_on_error: false,
        }
    }
}

impl Scanner {
    /// The scanner of an input with Benthos's `codec`, `max_buffer` and
    /// `scanner` fields: a codec wins when set (as in Benthos), otherwise
    /// the scanner, which defaults to `lines`.
    pub(crate) fn for_input(
        builder: &mut Builder<'_>,
        codec: Option<&str>,
        max_buffer: usize,
        scanner: Option<&Node>,
        mark: Mark,
    ) -> BuildResult<Scanner> {
        match (codec, scanner) {
            (Some(codec), _) => Scanner::from_codec(codec, max_buffer, mark),
            (None, Some(node)) => Scanner::from_node(builder, node),
            (None, None) => Ok(Scanner::Lines(LinesScanner {
                delimiter: None,
                max_buffer: DEFAULT_MAX_BUFFER_SIZE,
                omit_empty: false,
            })),
        }
    }

    /// The scanner an older codec name stands for.
    fn from_codec(name: &str, max_buffer: usize, mark: Mark) -> BuildResult<Scanner> {
        let lines = |delimiter: Option<&str>| {
            Scanner::Lines(LinesScanner {
                delimiter: delimiter.map(|d| d.as_bytes().to_vec()),
                max_buffer,
                omit_empty: false,
            })
        };
        let single_char = |text: &str, what: &str| {
            let mut chars = text.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if valid_comma(c) => Ok(c),
                (None, _) => Err(vec![Lint::error(
                    mark,
                    format!("{what} codec requires a non-empty delimiter"),
                )]),
                _ => Err(vec![Lint::error(
                    mark,
                    format!("{what} codec requires a single character delimiter"),
                )]),
            }
        };
        if let Some(delimiter) = name.strip_prefix("delim:") {
            if delimiter.is_empty() {
                return Err(vec![Lint::error(
                    mark,
                    "custom delimiter codec requires a non-empty delimiter",
                )]);
            }
            return Ok(lines(Some(delimiter)));
        }
        if let Some(comma) = name.strip_prefix("csv:") {
            let comma = single_char(comma, "csv")?;
            return Ok(Scanner::Csv(CsvScanner::new(comma, true)));
        }
        match name {
            "lines" => Ok(lines(None)),
            "csv" => Ok(Scanner::Csv(CsvScanner::new(',', true))),
            "all-bytes" | "to_the_end" => Ok(Scanner::ToTheEnd),
            other => Err(vec![Lint::error(
                mark,
                format!("codec '{other}' is not supported yet"),
            )]),
        }
    }

    /// Reads a `scanner` node: a map with one key, the scanner's name.
    fn from_node(builder: &mut Builder<'_>, node: &Node) -> BuildResult<Scanner> {
        let Some([(key, config)]) = node.as_map() else {
            return Err(vec![Lint::error(
                node.mark,
                "a scanner must be an object with exactly one key, the scanner's name",
            )]);
        };
        let name = key.as_str().unwrap_or_default();
        match name {
            "lines" => {
                let config: LinesConfig = config_or_default(builder, config)?;
                Ok(Scanner::Lines(LinesScanner {
                    delimiter: config
                        .custom_delimiter
                        .filter(|d| !d.is_empty())
                        .map(String::into_bytes),
                    max_buffer: config.max_buffer_size,
                    omit_empty: config.omit_empty,
                }))
            }
            "csv" => {
                let config: CsvConfig = config_or_default(builder, config)?;
                let comma = match config.custom_delimiter.as_deref() {
                    None | Some("") => ',',
                    Some(text) => text.chars().next().unwrap_or(','),
                };
                if !valid_comma(comma) {
                    return Err(vec![Lint::error(
                        key.mark,
                        format!("csv custom_delimiter {comma:?} is not a valid delimiter"),
                    )]);
                }
                Ok(Scanner::Csv(CsvScanner {
                    comma,
                    header_row: config.parse_header_row,
                    lazy_quotes: config.lazy_quotes,
                    continue_on_error: config.continue_on_error,
                }))
            }
            "to_the_end" => {
                let _: NoFields = config_or_default(builder, config)?;
                Ok(Scanner::ToTheEnd)
            }
            planned if PLANNED_SCANNERS.contains(&planned) => Err(vec![Lint::error(
                key.mark,
                format!("scanner '{planned}' is not supported yet"),
            )]),
            other => Err(vec![Lint::error(
                key.mark,
                format!("scanner type '{other}' was not recognised"),
            )]),
        }
    }
}

/// A scanner's fields; `lines: ~` means the defaults, as `lines: {}`.
fn config_or_default<T: serde::de::DeserializeOwned>(
    builder: &mut Builder<'_>,
    node: &Node,
) -> BuildResult<T> {
    if node.is_null() {
        builder.config(&Node::new(Node::empty_map().kind, node.mark))
    } else {
        builder.config(node)
    }
}

/// Whether Go's CSV reader accepts `c` as a delimiter.
fn valid_comma(c: char) -> bool {
    !matches!(c, '\r' | '\n' | '"' | '\u{FFFD}')
}

/// Why a scanner stopped reading its source.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ScanError {
    /// A line did not fit in `max_buffer_size` (Go's `ErrTooLong`).
    #[error("token too long")]
    TooLong,
    /// A CSV record that is not valid CSV.
    #[error(transparent)]
    Csv(CsvError),
    /// Reading the source failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// What is wrong with a CSV record (Go's `csv.ParseError`, worded as Go
/// words it).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) struct CsvError {
    start_line: usize,
    line: usize,
    column: usize,
    kind: CsvErrorKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CsvErrorKind {
    BareQuote,
    Quote,
    FieldCount,
}

impl fmt::Display for CsvErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CsvErrorKind::BareQuote => "bare \" in non-quoted-field",
            CsvErrorKind::Quote => "extraneous or missing \" in quoted-field",
            CsvErrorKind::FieldCount => "wrong number of fields",
        })
    }
}

impl fmt::Display for CsvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (start, line, col, kind) = (self.start_line, self.line, self.column, self.kind);
        if kind == CsvErrorKind::FieldCount {
            write!(f, "record on line {line}: {kind}")
        } else if start != line {
            write!(
                f,
                "record on line {start}; parse error on line {line}, column {col}: {kind}"
            )
        } else {
            write!(f, "parse error on line {line}, column {col}: {kind}")
        }
    }
}

/// What a split of the buffered bytes found.
enum Step {
    /// No complete token yet: read more.
    NeedMore,
    /// Nothing more will come.
    End,
    /// Bytes to pass over without a message (an omitted empty line).
    Skip(usize),
    /// A message and the bytes it took.
    Emit(usize, Message),
}

/// The per-source state of a CSV scanner, committed only once a record
/// has been consumed so that a split can be retried with more data.
#[derive(Default)]
struct CsvState {
    headers: Option<Vec<String>>,
    // Lines read so far, as Go's reader counts them for error messages.
    lines: usize,
    // Go's `FieldsPerRecord`: set by the first record, 0 while unset.
    fields_per_record: usize,
    row: i64,
}

/// Splits a byte stream into messages with a [`Scanner`].
pub(crate) struct ScanReader<R> {
    source: R,
    scanner: Scanner,
    buf: Vec<u8>,
    // Where the unconsumed bytes of `buf` begin.
    start: usize,
    eof: bool,
    done: bool,
    csv: CsvState,
}

impl<R: AsyncRead + Unpin + Send> ScanReader<R> {
    pub(crate) fn new(source: R, scanner: Scanner) -> Self {
        Self {
            source,
            scanner,
            buf: Vec::new(),
            start: 0,
            eof: false,
            done: false,
            csv: CsvState::default(),
        }
    }

    /// The next message, `None` once the source is exhausted. After an
    /// error the reader yields nothing more. Cancel-safe: every byte read
    /// stays buffered until a message has taken it.
    pub(crate) async fn next(&mut self) -> Result<Option<Message>, ScanError> {
        const READ_SIZE: usize = 64 * 1024;
        loop {
            if self.done {
                return Ok(None);
            }
            // The buffer is lent out while the split updates the state.
            let buf = std::mem::take(&mut self.buf);
            let split = self.split(&buf[self.start..]);
            self.buf = buf;
            let step = match split {
                Ok(step) => step,
                Err(err) => {
                    self.done = true;
                    return Err(err);
                }
            };
            match step {
                Step::Emit(used, msg) => {
                    self.start += used;
                    return Ok(Some(msg));
                }
                Step::Skip(used) => self.start += used,
                Step::End => {
                    self.done = true;
                    return Ok(None);
                }
                Step::NeedMore => {
                    if self.buf.len() - self.start >= self.limit() {
                        self.done = true;
                        return Err(ScanError::TooLong);
                    }
                    self.buf.drain(..self.start);
                    self.start = 0;
                    self.buf.reserve(READ_SIZE);
                    let read = self.source.read_buf(&mut self.buf).await;
                    match read {
                        Ok(0) => self.eof = true,
                        Ok(_) => {}
                        Err(err) => {
                            self.done = true;
                            return Err(err.into());
                        }
                    }
                }
            }
        }
    }

    /// The most unconsumed bytes a token may need.
    fn limit(&self) -> usize {
        match &self.scanner {
            Scanner::Lines(lines) => lines.max_buffer,
            Scanner::Csv(_) => MAX_CSV_RECORD,
            Scanner::ToTheEnd => usize::MAX,
        }
    }

    fn split(&mut self, data: &[u8]) -> Result<Step, ScanError> {
        let at_eof = self.eof;
        match &self.scanner {
            Scanner::Lines(lines) => split_line(lines, data, at_eof),
            Scanner::ToTheEnd if at_eof => {
                // One message, even of nothing: later calls end.
                self.done = true;
                Ok(Step::Emit(
                    data.len(),
                    Message::new(Bytes::copy_from_slice(data)),
                ))
            }
            Scanner::ToTheEnd => Ok(Step::NeedMore),
            Scanner::Csv(csv) => {
                let csv = csv.clone();
                self.split_csv(&csv, data, at_eof)
            }
        }
    }

    fn split_csv(
        &mut self,
        csv: &CsvScanner,
        data: &[u8],
        at_eof: bool,
    ) -> Result<Step, ScanError> {
        let mut used = 0;
        if csv.header_row && self.csv.headers.is_none() {
            match read_csv_record(csv, &mut self.csv, data, at_eof) {
                None => return Ok(Step::NeedMore),
                Some(CsvRead::End) => return Ok(Step::End),
                Some(CsvRead::Record {
                    error: Some(err), ..
                }) => return Err(ScanError::Csv(err)),
                Some(CsvRead::Record {
                    used: n, fields, ..
                }) => {
                    self.csv.headers = Some(fields);
                    used = n;
                }
            }
        }
        let Some(read) = read_csv_record(csv, &mut self.csv, &data[used..], at_eof) else {
            // The header stays consumed: its bytes go, the row is retried.
            return Ok(if used > 0 {
                Step::Skip(used)
            } else {
                Step::NeedMore
            });
        };
        let (n, fields, error) = match read {
            CsvRead::End => {
                return Ok(if used > 0 {
                    Step::Skip(used)
                } else {
                    Step::End
                });
            }
            CsvRead::Record {
                used: n,
                fields,
                error,
            } => (n, fields, error),
        };
        if let Some(err) = &error
            && !csv.continue_on_error
        {
            return Err(ScanError::Csv(err.clone()));
        }
        let value = match &self.csv.headers {
            Some(headers) => Value::from(
                headers
                    .iter()
                    .zip(fields)
                    .map(|(key, value)| (key.clone(), Value::from(value)))
                    .collect::<BTreeMap<_, _>>(),
            ),
            None => Value::from(fields.into_iter().map(Value::from).collect::<Vec<_>>()),
        };
        let mut msg = Message::new(Bytes::new());
        msg.set_structured(value);
        msg.set_meta("csv_row", Value::from(self.csv.row));
        if let Some(err) = error {
            msg.set_error(err);
        }
        self.csv.row += 1;
        Ok(Step::Emit(used + n, msg))
    }
}

/// Splits off one line, as Go's `bufio.Scanner` with `ScanLines` (or a
/// custom delimiter split) and a `max` token size does.
fn split_line(lines: &LinesScanner, data: &[u8], at_eof: bool) -> Result<Step, ScanError> {
    if at_eof && data.is_empty() {
        return Ok(Step::End);
    }
    let found = match &lines.delimiter {
        None => data
            .iter()
            .position(|&b| b == b'\n')
            .map(|i| (i, i + 1, drop_cr(&data[..i]))),
        Some(delimiter) => find(data, delimiter).map(|i| (i, i + delimiter.len(), &data[..i])),
    };
    let (used, token) = match found {
        Some((_, used, _)) if used > lines.max_buffer => return Err(ScanError::TooLong),
        Some((_, used, token)) => (used, token),
        None if !at_eof => return Ok(Step::NeedMore),
        None if data.len() >= lines.max_buffer => return Err(ScanError::TooLong),
        None if lines.delimiter.is_none() => (data.len(), drop_cr(data)),
        None => (data.len(), data),
    };
    if token.is_empty() && lines.omit_empty {
        return Ok(Step::Skip(used));
    }
    Ok(Step::Emit(
        used,
        Message::new(Bytes::copy_from_slice(token)),
    ))
}

fn drop_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// One CSV record read from buffered bytes.
enum CsvRead {
    /// No record before the end of the stream.
    End,
    /// A record (possibly partial when `error` is set) and the bytes it
    /// spanned.
    Record {
        used: usize,
        fields: Vec<String>,
        error: Option<CsvError>,
    },
}

/// Hands out the lines of buffered bytes as Go's CSV reader reads them:
/// `\r\n` becomes `\n`, and a last line without a newline loses a trailing
/// `\r`. `None` from [`Lines::next`] means more bytes are needed.
struct Lines<'a> {
    data: &'a [u8],
    pos: usize,
    at_eof: bool,
    read: usize,
}

impl Lines<'_> {
    /// The next line with its newline; empty at the end of the stream.
    fn next(&mut self) -> Option<Vec<u8>> {
        let rest = &self.data[self.pos..];
        let mut line = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => rest[..=i].to_vec(),
            None if self.at_eof => {
                let mut line = rest.to_vec();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                line
            }
            None => return None,
        };
        self.pos += match rest.iter().position(|&b| b == b'\n') {
            Some(i) => i + 1,
            None => rest.len(),
        };
        self.read += 1;
        if line.ends_with(b"\r\n") {
            line.truncate(line.len() - 2);
            line.push(b'\n');
        }
        Some(line)
    }
}

fn length_nl(line: &[u8]) -> usize {
    usize::from(line.last() == Some(&b'\n'))
}

/// Reads one record as Go's `encoding/csv` reader does (no comments, no
/// trimming, `FieldsPerRecord` 0), or `None` when more bytes are needed.
/// `state` only changes when a record was read.
fn read_csv_record(
    csv: &CsvScanner,
    state: &mut CsvState,
    data: &[u8],
    at_eof: bool,
) -> Option<CsvRead> {
    let mut lines = Lines {
        data,
        pos: 0,
        at_eof,
        read: 0,
    };
    let mut comma_buf = [0; 4];
    let comma = csv.comma.encode_utf8(&mut comma_buf).as_bytes();
    // Skip empty lines.
    let mut line = loop {
        let line = lines.next()?;
        if line.is_empty() {
            return Some(CsvRead::End);
        }
        if line.len() == length_nl(&line) {
            continue;
        }
        break line;
    };
    let mut num_line = state.lines + lines.read;
    let start_line = num_line;
    let mut record: Vec<u8> = Vec::new();
    let mut ends: Vec<usize> = Vec::new();
    let mut error = None;
    let mut line_no = num_line;
    let mut col = 1;
    // The unparsed part of `line` starts at `off`.
    let mut off = 0;
    'field: loop {
        let rest = &line[off..];
        if rest.first() != Some(&b'"') {
            let at = find(rest, comma);
            let field = match at {
                Some(i) => &rest[..i],
                None => &rest[..rest.len() - length_nl(rest)],
            };
            if !csv.lazy_quotes
                && let Some(j) = field.iter().position(|&b| b == b'"')
            {
                error = Some(CsvError {
                    start_line,
                    line: num_line,
                    column: col + j,
                    kind: CsvErrorKind::BareQuote,
                });
                break 'field;
            }
            record.extend_from_slice(field);
            ends.push(record.len());
            let Some(i) = at else { break 'field };
            off += i + comma.len();
            col += i + comma.len();
            continue 'field;
        }
        off += 1;
        col += 1;
        loop {
            let rest = &line[off..];
            if let Some(i) = rest.iter().position(|&b| b == b'"') {
                record.extend_from_slice(&rest[..i]);
                off += i + 1;
                col += i + 1;
                let rest = &line[off..];
                if rest.first() == Some(&b'"') {
                    record.push(b'"');
                    off += 1;
                    col += 1;
                } else if rest.starts_with(comma) {
                    off += comma.len();
                    col += comma.len();
                    ends.push(record.len());
                    continue 'field;
                } else if length_nl(rest) == rest.len() {
                    ends.push(record.len());
                    break 'field;
                } else if csv.lazy_quotes {
                    record.push(b'"');
                } else {
                    error = Some(CsvError {
                        start_line,
                        line: num_line,
                        column: col - 1,
                        kind: CsvErrorKind::Quote,
                    });
                    break 'field;
                }
            } else if !rest.is_empty() {
                // The quoted field goes on on the next line.
                record.extend_from_slice(rest);
                col += rest.len();
                line = lines.next()?;
                off = 0;
                num_line += 1;
                if !line.is_empty() {
                    line_no += 1;
                    col = 1;
                }
            } else {
                // The stream ended inside the quotes.
                if !csv.lazy_quotes {
                    error = Some(CsvError {
                        start_line,
                        line: line_no,
                        column: col,
                        kind: CsvErrorKind::Quote,
                    });
                    break 'field;
                }
                ends.push(record.len());
                break 'field;
            }
        }
    }
    let text = String::from_utf8_lossy(&record);
    let mut fields = Vec::with_capacity(ends.len());
    let mut from = 0;
    for end in ends {
        fields.push(text.get(from..end).unwrap_or_default().to_owned());
        from = end;
    }
    if state.fields_per_record == 0 {
        state.fields_per_record = fields.len();
    } else if fields.len() != state.fields_per_record && error.is_none() {
        error = Some(CsvError {
            start_line,
            line: start_line,
            column: 1,
            kind: CsvErrorKind::FieldCount,
        });
    }
    state.lines += lines.read;
    Some(CsvRead::Record {
        used: lines.pos,
        fields,
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scans `input` fed in chunks of `chunk` bytes; each message rendered
    /// as its content, with `csv_row` and any error appended.
    async fn scan(scanner: Scanner, input: &str, chunk: usize) -> Vec<String> {
        let (mut tx, rx) = tokio::io::duplex(chunk.max(1));
        let bytes = input.as_bytes().to_vec();
        let feed = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            for part in bytes.chunks(chunk.max(1)) {
                // A reader that stopped at an error takes no more.
                if tx.write_all(part).await.is_err() {
                    break;
                }
            }
        });
        let mut reader = ScanReader::new(rx, scanner);
        let mut out = Vec::new();
        loop {
            match reader.next().await {
                Ok(Some(msg)) => {
                    let mut line = String::from_utf8_lossy(msg.content()).into_owned();
                    if let Some(row) = msg.metadata().get("csv_row") {
                        line.push_str(&format!(
                            " row={}",
                            String::from_utf8_lossy(&row.to_json_bytes())
                        ));
                    }
                    if let Some(err) = msg.error() {
                        line.push_str(&format!(" error={err}"));
                    }
                    out.push(line);
                }
                Ok(None) => break,
                Err(err) => {
                    out.push(format!("ERR {err}"));
                    break;
                }
            }
        }
        drop(reader);
        feed.await.unwrap();
        out
    }

    fn lines(delimiter: Option<&str>, max_buffer: usize, omit_empty: bool) -> Scanner {
        Scanner::Lines(LinesScanner {
            delimiter: delimiter.map(|d| d.as_bytes().to_vec()),
            max_buffer,
            omit_empty,
        })
    }

    fn csv(header_row: bool, lazy_quotes: bool, continue_on_error: bool) -> Scanner {
        Scanner::Csv(CsvScanner {
            comma: ',',
            header_row,
            lazy_quotes,
            continue_on_error,
        })
    }

    async fn check(scanner: Scanner, input: &str, expected: &[&str]) {
        for chunk in [1, 3, 4096] {
            assert_eq!(
                scan(scanner.clone(), input, chunk).await,
                expected,
                "input {input:?} in chunks of {chunk}"
            );
        }
    }

    #[tokio::test]
    async fn lines_split_at_line_breaks_and_drop_carriage_returns() {
        let default = lines(None, DEFAULT_MAX_BUFFER_SIZE, false);
        check(default.clone(), "a\r\nb\n\nc", &["a", "b", "", "c"]).await;
        check(default.clone(), "a\n", &["a"]).await;
        check(default, "", &[]).await;
        check(lines(None, 100, true), "a\n\n\nb\n", &["a", "b"]).await;
    }

    #[tokio::test]
    async fn lines_with_a_custom_delimiter_keep_carriage_returns() {
        check(lines(Some("||"), 100, false), "a\r||b|c||", &["a\r", "b|c"]).await;
        check(lines(Some("||"), 100, false), "x||y", &["x", "y"]).await;
    }

    #[tokio::test]
    async fn a_line_longer_than_max_buffer_size_ends_the_source() {
        // The limit holds the line and its delimiter, as Go's scanner.
        check(
            lines(None, 4, false),
            "abc\nabcd\nz\n",
            &["abc", "ERR token too long"],
        )
        .await;
        check(
            lines(None, 4, false),
            "abc\nabcd",
            &["abc", "ERR token too long"],
        )
        .await;
        check(lines(None, 4, false), "abc\nabc", &["abc", "abc"]).await;
    }

    #[tokio::test]
    async fn to_the_end_is_one_message_even_when_empty() {
        check(Scanner::ToTheEnd, "a\nb\n", &["a\nb\n"]).await;
        check(Scanner::ToTheEnd, "", &[""]).await;
    }

    #[tokio::test]
    async fn csv_rows_become_objects_keyed_by_the_header_row() {
        check(
            csv(true, false, false),
            "name,age\r\nann,34\n\n\"bo, \"\"b\"\"\",\"2\n8\"\n",
            &[
                r#"{"age":"34","name":"ann"} row=0"#,
                r#"{"age":"2\n8","name":"bo, \"b\""} row=1"#,
            ],
        )
        .await;
        check(
            csv(false, false, false),
            "a,b\nc,d",
            &[r#"["a","b"] row=0"#, r#"["c","d"] row=1"#],
        )
        .await;
        check(csv(true, false, false), "only,header\n", &[]).await;
        check(csv(true, false, false), "", &[]).await;
    }

    #[tokio::test]
    async fn csv_errors_end_the_source_unless_continue_on_error() {
        check(
            csv(true, false, false),
            "a,b\n1,2\n3\n4,5\n",
            &[
                r#"{"a":"1","b":"2"} row=0"#,
                "ERR record on line 3: wrong number of fields",
            ],
        )
        .await;
        check(csv(true, false, true), "a,b\n1,2\n3\nx\"y,z\n\"q\"r,s\n4,5\n", &[
            r#"{"a":"1","b":"2"} row=0"#,
            r#"{"a":"3"} row=1 error=record on line 3: wrong number of fields"#,
            r#"{} row=2 error=parse error on line 4, column 2: bare " in non-quoted-field"#,
            r#"{} row=3 error=parse error on line 5, column 3: extraneous or missing " in quoted-field"#,
            r#"{"a":"4","b":"5"} row=4"#,
        ])
        .await;
        check(csv(false, false, false), "\"a\nb", &[
            "ERR record on line 1; parse error on line 2, column 2: extraneous or missing \" in quoted-field",
        ])
        .await;
    }

    #[tokio::test]
    async fn csv_lazy_quotes_keep_stray_quotes() {
        check(
            csv(false, true, false),
            "a\"b,\"c\"d\"\nx,\"e",
            &[r#"["a\"b","c\"d"] row=0"#, r#"["x","e"] row=1"#],
        )
        .await;
    }

    #[test]
    fn codec_names_map_onto_scanners() {
        let mark = Mark::new(1, 1);
        assert_eq!(
            Scanner::from_codec("delim:\t", 10, mark).unwrap(),
            lines(Some("\t"), 10, false)
        );
        assert_eq!(
            Scanner::from_codec("csv:;", 10, mark).unwrap(),
            Scanner::Csv(CsvScanner::new(';', true))
        );
        assert_eq!(
            Scanner::from_codec("all-bytes", 10, mark).unwrap(),
            Scanner::ToTheEnd
        );
        let err = Scanner::from_codec("gzip/csv", 10, mark).unwrap_err();
        assert_eq!(err[0].message, "codec 'gzip/csv' is not supported yet");
    }
}
