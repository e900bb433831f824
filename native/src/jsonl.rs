//! JSON lines of a log file (python-json-logger, structlog, any flat JSON object) -> canonical records as
//! JSON lines: the JSON-lines fast path of log aggregation (`otel_logging.ingest`).
//!
//! The output is byte-for-byte what the Python path writes for the same line: `JsonLinesParser.parse`
//! (`orjson.loads`, `json_flavour`, `_mapped`, naive timestamps in UTC), `RecordContext.make`, then
//! `to_json_lines` (orjson). The reader only does what it is sure to do exactly as Python does: a flat object
//! (string, integer, true/false/null values; no floats, no nested values, no duplicate keys), valid UTF-8,
//! no control bytes, a timestamp of the ISO form read without a zone table, a level name of the severity
//! table, a message present. At any other line (another JSON flavour, an exception to format, a line that
//! is no JSON, anything in doubt) it stops before that line, and Python reads it. Blank lines are skipped,
//! as the assembler skips them. It keeps no state between lines: Python's assembler holds none either while
//! JSON lines are read (it is only called when nothing is pending there).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use memchr::memchr;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyMemoryView, PyTuple};

use crate::json;
use crate::otlp::Timestamps;
use crate::stdlib::{pooled_buffer, record_parts, valid_datetime, write_json_str, JsonLines, Pool, POOLED};

/// The bytes that end a run of a JSON string's plain characters: `"`, `\\` and the control bytes (invalid there).
static SPECIAL: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = true;
        i += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// `SPECIAL` and the bytes of non-ASCII characters: a run without any is ASCII, so valid UTF-8.
static NOT_PLAIN_ASCII: [bool; 256] = {
    let mut table = SPECIAL;
    let mut i = 0x80;
    while i < 0x100 {
        table[i] = true;
        i += 1;
    }
    table
};

/// The most keys an object may have on the fast path (the duplicate check is quadratic).
const MAX_KEYS: usize = 64;
/// `records._MAX_NS`.
const MAX_NS: i128 = 253_402_300_799 * 1_000_000_000;

/// A value of the line's object, as the fast path takes it.
enum Value<'a> {
    Str(Cow<'a, str>),
    /// an integer's digits as orjson writes them back (at most 18 digits, not `-0`)
    Int(&'a str),
    Bool(bool),
    Null,
}

impl Value<'_> {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Value::Str(s) => write_json_str(out, s),
            Value::Int(digits) => out.extend_from_slice(digits.as_bytes()),
            Value::Bool(b) => json::write_bool(out, *b),
            Value::Null => out.extend_from_slice(b"null"),
        }
    }
}

/// `formats._PY_JSON_KEYS`, `_STRUCTLOG_KEYS`, `_GENERIC_KEYS`: (time, level, message, logger, exception).
type Keys = [&'static [&'static str]; 5];
const PY_JSON_KEYS: Keys = [
    &["asctime", "timestamp", "time", "created"],
    &["levelname", "level", "levelno"],
    &["message", "msg"],
    &["name", "logger"],
    &["exc_info", "exc_text", "stack_info"],
];
const STRUCTLOG_KEYS: Keys = [
    &["timestamp", "time"],
    &["level", "log_level"],
    &["event"],
    &["logger", "logger_name"],
    &["exception", "exc_info", "stack"],
];
const GENERIC_KEYS: Keys = [
    &["@timestamp", "timestamp", "time", "ts", "asctime", "date"],
    &["level", "severity", "levelname", "lvl"],
    &["message", "msg", "event", "text"],
    &["logger", "name", "logger_name"],
    &["exception", "stack_trace"],
];

struct Parser<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Parser<'a> {
    #[inline]
    fn ws(&mut self) {
        while self.at < self.b.len() && matches!(self.b[self.at], b' ' | b'\t') {
            self.at += 1;
        }
    }

    #[inline]
    fn eat(&mut self, c: u8) -> Option<()> {
        if self.at < self.b.len() && self.b[self.at] == c {
            self.at += 1;
            Some(())
        } else {
            None
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.b.get(self.at..self.at + 4)?;
        let mut v = 0u32;
        for &d in digits {
            v = v * 16 + (d as char).to_digit(16)?;
        }
        self.at += 4;
        Some(v)
    }

    /// A JSON string (at its opening quote), decoded.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.eat(b'"')?;
        let start = self.at;
        let b = self.b;
        let mut i = start;
        while i < b.len() && !NOT_PLAIN_ASCII[b[i] as usize] {
            i += 1;
        }
        if i < b.len() && b[i] == b'"' {
            self.at = i + 1;
            // SAFETY: the bytes of start..i are all ASCII (below 0x80), so valid UTF-8
            return Some(Cow::Borrowed(unsafe { std::str::from_utf8_unchecked(&b[start..i]) }));
        }
        while i < b.len() && !SPECIAL[b[i] as usize] {
            i += 1;
        }
        if i >= b.len() || b[i] < 0x20 {
            return None;
        }
        if b[i] == b'"' {
            self.at = i + 1;
            // the line was checked to be UTF-8 and a quote is never inside a character
            return std::str::from_utf8(&b[start..i]).ok().map(Cow::Borrowed);
        }
        let mut s = String::from(std::str::from_utf8(&b[start..i]).ok()?);
        self.at = i;
        loop {
            let run = self.at;
            while self.at < b.len() && b[self.at] != b'"' && b[self.at] != b'\\' {
                if b[self.at] < 0x20 {
                    return None;
                }
                self.at += 1;
            }
            s.push_str(std::str::from_utf8(&b[run..self.at]).ok()?);
            match b.get(self.at)? {
                b'"' => {
                    self.at += 1;
                    return Some(Cow::Owned(s));
                }
                _ => {
                    self.at += 1;
                    let escape = *b.get(self.at)?;
                    self.at += 1;
                    match escape {
                        b'"' => s.push('"'),
                        b'\\' => s.push('\\'),
                        b'/' => s.push('/'),
                        b'b' => s.push('\u{8}'),
                        b'f' => s.push('\u{c}'),
                        b'n' => s.push('\n'),
                        b'r' => s.push('\r'),
                        b't' => s.push('\t'),
                        b'u' => {
                            let high = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&high) {
                                self.eat(b'\\')?;
                                self.eat(b'u')?;
                                let low = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&low) {
                                    return None;
                                }
                                0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
                            } else if (0xDC00..0xE000).contains(&high) {
                                return None; // a lone low surrogate: Python decides
                            } else {
                                high
                            };
                            s.push(char::from_u32(code)?);
                        }
                        _ => return None,
                    }
                }
            }
        }
    }

    fn value(&mut self) -> Option<Value<'a>> {
        let b = self.b;
        match *b.get(self.at)? {
            b'"' => self.string().map(Value::Str),
            b't' if b[self.at..].starts_with(b"true") => {
                self.at += 4;
                Some(Value::Bool(true))
            }
            b'f' if b[self.at..].starts_with(b"false") => {
                self.at += 5;
                Some(Value::Bool(false))
            }
            b'n' if b[self.at..].starts_with(b"null") => {
                self.at += 4;
                Some(Value::Null)
            }
            b'-' | b'0'..=b'9' => {
                let start = self.at;
                if b[self.at] == b'-' {
                    self.at += 1;
                }
                let digits = self.at;
                while self.at < b.len() && b[self.at].is_ascii_digit() {
                    self.at += 1;
                }
                let n = self.at - digits;
                if n == 0 || n > 18 || (n > 1 && b[digits] == b'0') {
                    return None;
                }
                if matches!(b.get(self.at), Some(b'.' | b'e' | b'E')) {
                    return None; // a float: orjson writes it back its own way
                }
                let text = std::str::from_utf8(&b[start..self.at]).ok()?;
                if text == "-0" {
                    return None;
                }
                Some(Value::Int(text))
            }
            _ => None, // an object, an array, or no JSON
        }
    }

    /// The line's object as (key, value) pairs in order; None when it is not one the fast path takes.
    fn object(&mut self) -> Option<Vec<(Cow<'a, str>, Value<'a>)>> {
        let mut pairs: Vec<(Cow<'a, str>, Value<'a>)> = Vec::with_capacity(8);
        self.eat(b'{')?;
        self.ws();
        if self.eat(b'}').is_none() {
            loop {
                self.ws();
                let key = self.string()?;
                self.ws();
                self.eat(b':')?;
                self.ws();
                let value = self.value()?;
                if pairs.len() >= MAX_KEYS || pairs.iter().any(|(k, _)| *k == key) {
                    return None;
                }
                pairs.push((key, value));
                self.ws();
                if self.eat(b',').is_some() {
                    continue;
                }
                self.eat(b'}')?;
                break;
            }
        }
        self.ws();
        if self.at != self.b.len() {
            return None;
        }
        Some(pairs)
    }
}

/// `formats._pop_first`.
fn pop<'a>(pairs: &mut Vec<(Cow<'a, str>, Value<'a>)>, names: &[&str]) -> Option<Value<'a>> {
    for name in names {
        if let Some(i) = pairs.iter().position(|(k, _)| k == name) {
            return Some(pairs.remove(i).1);
        }
    }
    None
}

fn two(b: &[u8], at: usize) -> Option<i64> {
    let (x, y) = (*b.get(at)?, *b.get(at + 1)?);
    if x.is_ascii_digit() && y.is_ascii_digit() {
        Some(i64::from(x - b'0') * 10 + i64::from(y - b'0'))
    } else {
        None
    }
}

fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `TimestampParser(None).parse(text)` then `stamp`, when the text is sure to be read so: the ISO form without
/// surrounding spaces, a valid date and time. The record's RFC 3339 text, or None (Python decides).
pub(crate) fn iso_stamp(text: &str, timestamps: &mut Timestamps) -> Option<[u8; 30]> {
    let b = text.as_bytes();
    if b.len() < 16 {
        return None;
    }
    let year = two(b, 0)? * 100 + two(b, 2)?;
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b' ') || b[13] != b':' {
        return None;
    }
    let (month, day, hour, minute) = (two(b, 5)?, two(b, 8)?, two(b, 11)?, two(b, 14)?);
    let mut at = 16;
    let mut second = 0;
    if b.get(at) == Some(&b':') {
        second = two(b, at + 1)?;
        at += 3;
    }
    let mut nanos = 0i64;
    if matches!(b.get(at), Some(b'.' | b',')) {
        at += 1;
        let start = at;
        while at < b.len() && b[at].is_ascii_digit() {
            if at - start < 9 {
                nanos = nanos * 10 + i64::from(b[at] - b'0');
            }
            at += 1;
        }
        let n = at - start;
        if n == 0 {
            return None;
        }
        for _ in n..9 {
            nanos *= 10;
        }
    }
    let offset = match &b[at..] {
        b"" => 0,
        b"Z" | b"z" | b"UTC" => 0,
        rest if matches!(rest[0], b'+' | b'-') => {
            let sign = if rest[0] == b'-' { -1 } else { 1 };
            let hours = two(rest, 1)?;
            let minutes = match rest.len() {
                3 => 0,
                5 => two(rest, 3)?,
                6 if rest[3] == b':' => two(rest, 4)?,
                _ => return None,
            };
            sign * (hours * 3600 + minutes * 60)
        }
        _ => return None,
    };
    // two digits each (the year four): never negative
    if !valid_datetime(
        year as u32,
        month as u32,
        day as u32,
        hour as u32,
        minute as u32,
        second as u32,
    ) {
        return None;
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset;
    let ns = i128::from(seconds) * 1_000_000_000 + i128::from(nanos);
    if !(0..=MAX_NS).contains(&ns) {
        return None;
    }
    let quoted = timestamps.format(ns).ok()?;
    let mut out = [0u8; 30];
    out.copy_from_slice(&quoted[1..31]);
    Some(out)
}

/// The reader of one JSON-lines file: the file-wide parts of every record, JSON-encoded once.
#[pyclass(frozen, module = "otel_logging_native")]
pub struct JsonlReader {
    /// `,"service":<service>,"attributes":{`
    service_attributes: Vec<u8>,
    /// `"log.file.path":<path>,"log.record.uid":"<uid prefix>:`
    path_uid: Vec<u8>,
    /// `"},"resource":<resource>}` and a newline
    resource_end: Vec<u8>,
    /// `records.SEVERITY_BY_NAME`
    severities: HashMap<String, (i64, String)>,
    pool: Pool,
}

/// One call's outcome: the JSON lines, their count, where it stopped, the last timestamp text.
struct Outcome {
    lines: Vec<u8>,
    count: u64,
    stop: usize,
    last_timestamp: Option<[u8; 30]>,
}

impl JsonlReader {
    /// The record of one line (appended to `out`), or None when Python must read the line (`out` untouched).
    fn record(
        &self,
        line: &[u8],
        offset: u64,
        observed: &str,
        out: &mut Vec<u8>,
        last: &mut Option<[u8; 30]>,
        timestamps: &mut Timestamps,
    ) -> Option<()> {
        // No scan for control bytes or invalid UTF-8 first: outside strings the parser takes only its tokens and
        // spaces or tabs, inside them no byte below 0x20, and each string is checked as UTF-8.
        if line.first() != Some(&b'{') {
            return None;
        }
        let mut pairs = Parser { b: line, at: 0 }.object()?;
        // json_flavour, in one look at the keys: OTLP, canonical and ECS objects are Python's, and so is an object
        // with the aggregation's own attributes (they would keep their place among the others)
        let (mut event, mut message, mut python, mut observed_ts, mut severity_number, mut service) =
            (false, false, false, false, false, false);
        for (key, _) in &pairs {
            match key.as_ref() {
                "resourceLogs" | "resource_logs" | "ecs.version" | "ecs" | "log.level" | "log.file.path"
                | "log.record.uid" => return None,
                "event" => event = true,
                "message" => message = true,
                "levelname" | "asctime" => python = true,
                "observed_timestamp" => observed_ts = true,
                "severity_number" => severity_number = true,
                "service" => service = true,
                _ => {}
            }
        }
        if observed_ts && severity_number && service {
            return None;
        }
        let keys = if event && !message {
            &STRUCTLOG_KEYS
        } else if python || message {
            &PY_JSON_KEYS
        } else {
            &GENERIC_KEYS
        };
        let timestamp = match pop(&mut pairs, keys[0]) {
            None | Some(Value::Null | Value::Bool(_)) => None,
            Some(Value::Str(text)) => Some(iso_stamp(&text, timestamps)?),
            Some(Value::Int(_)) => return None,
        };
        let level: (i64, &str) = match pop(&mut pairs, keys[1]) {
            None | Some(Value::Null | Value::Bool(_)) => (0, ""),
            Some(Value::Str(name)) => {
                let (number, text) = self.severities.get(name.as_ref())?;
                (*number, text.as_str())
            }
            Some(Value::Int(_)) => return None,
        };
        let body = match pop(&mut pairs, keys[2]) {
            None | Some(Value::Null) => return None, // `body is None`: Python keeps the whole object
            Some(value) => value,
        };
        let logger = match pop(&mut pairs, keys[3]) {
            Some(Value::Str(name)) => name,
            _ => Cow::Borrowed(""),
        };
        match pop(&mut pairs, keys[4]) {
            Some(Value::Str(stack)) if !stack.is_empty() => return None, // exception attributes: Python's
            _ => {}
        }
        out.extend_from_slice(b"{\"@timestamp\":\"");
        match &timestamp {
            Some(text) => out.extend_from_slice(text),
            None => out.extend_from_slice(observed.as_bytes()),
        }
        out.extend_from_slice(b"\",\"observed_timestamp\":\"");
        out.extend_from_slice(observed.as_bytes());
        out.extend_from_slice(b"\",\"severity_text\":");
        write_json_str(out, level.1);
        out.extend_from_slice(b",\"severity_number\":");
        json::write_i64(out, level.0);
        out.extend_from_slice(b",\"body\":");
        body.write(out);
        out.extend_from_slice(b",\"logger\":");
        write_json_str(out, &logger);
        out.extend_from_slice(&self.service_attributes);
        for (key, value) in &pairs {
            write_json_str(out, key);
            out.push(b':');
            value.write(out);
            out.push(b',');
        }
        out.extend_from_slice(&self.path_uid);
        json::write_u64(out, offset);
        out.extend_from_slice(&self.resource_end);
        if timestamp.is_some() {
            *last = timestamp;
        }
        Some(())
    }

    fn run(&self, data: &[u8], start: usize, base_offset: u64, observed: &str, mut lines: Vec<u8>) -> Outcome {
        lines.clear();
        let mut count = 0;
        let mut last = None;
        let mut timestamps = Timestamps::new();
        let mut at = start;
        while at <= data.len() {
            let end = memchr(b'\n', &data[at..]).map_or(data.len(), |i| at + i);
            let line = &data[at..end];
            let blank = line.iter().all(|&c| matches!(c, b' ' | b'\t' | b'\x0b' | b'\x0c'));
            if !blank {
                let mark = lines.len();
                if self
                    .record(
                        line,
                        base_offset + at as u64,
                        observed,
                        &mut lines,
                        &mut last,
                        &mut timestamps,
                    )
                    .is_none()
                {
                    lines.truncate(mark);
                    return Outcome {
                        lines,
                        count,
                        stop: at,
                        last_timestamp: last,
                    };
                }
                count += 1;
            }
            at = end + 1;
        }
        Outcome {
            lines,
            count,
            stop: data.len() + 1,
            last_timestamp: last,
        }
    }
}

#[pymethods]
impl JsonlReader {
    /// JsonlReader(service, path, uid_prefix, resource_json, severities): the reader of one file's JSON lines;
    /// ``severities`` is ``records.SEVERITY_BY_NAME``.
    #[new]
    fn new(
        service: &str,
        path: &str,
        uid_prefix: &str,
        resource_json: &[u8],
        severities: HashMap<String, (i64, String)>,
    ) -> Self {
        let (service_attributes, path_uid, resource_end) = record_parts(service, path, uid_prefix, resource_json);
        JsonlReader {
            service_attributes,
            path_uid,
            resource_end,
            severities,
            pool: Arc::default(),
        }
    }

    /// read(data, start, end, base_offset, observed) -> (lines, count, stop, last)
    ///
    /// Read the lines of ``data[:end]`` (a chunk's complete lines without the last newline) from index
    /// ``start``, ``data[i]`` being byte ``base_offset + i`` of the file, up to the first line Python must
    /// read. Returns the records as JSON lines (a read-only memoryview; its memory is reused once it is
    /// released), their count, the index of the first line not read (``end + 1`` when all were) and the
    /// latest timestamp text of the lines read (None if none had one). The GIL is released while reading.
    fn read<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyBytes>,
        start: usize,
        end: usize,
        base_offset: u64,
        observed: &str,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let bytes: &[u8] = data.as_bytes();
        if end > bytes.len() || start > end + 1 {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "needs start <= end + 1, end <= len(data)",
            ));
        }
        let bytes = &bytes[..end];
        let buffer = pooled_buffer(&self.pool);
        // (start == end + 1, nothing left to read: run() returns at once with stop end + 1)
        let outcome = py.detach(|| self.run(bytes, start, base_offset, observed, buffer));
        let lines = Bound::new(py, JsonLines::new(outcome.lines, self.pool.clone(), POOLED))?;
        let lines = PyMemoryView::from(lines.as_any())?;
        let last = outcome
            .last_timestamp
            .map(|text| String::from_utf8_lossy(&text).into_owned());
        (lines, outcome.count, outcome.stop, last).into_pyobject(py)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_timestamps() {
        let s = |t: &str| iso_stamp(t, &mut Timestamps::new()).map(|b| String::from_utf8(b.to_vec()).unwrap());
        assert_eq!(
            s("2024-03-01 08:00:00,123").as_deref(),
            Some("2024-03-01T08:00:00.123000000Z")
        );
        assert_eq!(
            s("2024-03-01T08:00:00.123456Z").as_deref(),
            Some("2024-03-01T08:00:00.123456000Z")
        );
        assert_eq!(
            s("2024-03-01T08:00+01:30").as_deref(),
            Some("2024-03-01T06:30:00.000000000Z")
        );
        assert_eq!(s("2024-02-30T08:00:00"), None);
        assert_eq!(s(" 2024-03-01T08:00:00"), None);
        assert_eq!(s("1969-12-31T23:59:59Z"), None);
    }
}
