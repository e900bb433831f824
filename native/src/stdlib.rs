//! Lines of a stdlib-format log file (`%(asctime)s - %(name)s - %(levelname)s - %(message)s`), or of the seed
//! format (`{timestamp} - {app_name} - {logger_name} - {level} - {message}`, `formats.SEED_REGEX`) ->
//! canonical records as JSON lines: the fast path of log aggregation (`otel_logging.ingest`).
//!
//! The output is byte-for-byte what the Python path writes for the same lines: `FileSource.read_batch`
//! splitting and decoding the lines, `Assembler.feed` joining continuation lines and tracebacks,
//! `StdlibParser.parse` (naive timestamps in UTC) or `RegexParser.parse` with `SEED_REGEX` (ISO timestamps
//! read by `TimestampParser(None)`, the `app_name` as the record's service), `RecordContext.make`,
//! `exception_attributes`, then `to_json_lines` (orjson). The reader only does what it can do exactly as
//! Python does; at any line it cannot (a line that is no record of its format nor a continuation of one,
//! where Python tries its other parsers or keeps the raw line; a non-ASCII character where Python's
//! Unicode-aware regexes decide; a timestamp Python would replace by the observed time), it stops before
//! that line and hands the entry it was assembling back, so that Python goes on from there with the same
//! state. The state between calls lives in Python (`Assembler`), as a tuple:
//!
//! `(offset, @timestamp, observed_timestamp, severity_text, severity_number, body, logger,
//!   continuation lines, traceback_at, in_traceback, service)`
//!
//! the record of an entry's first line (its attributes are the file's path and `<uid prefix>:<offset>`,
//! its service and resource the file's, or with `service` not None that service and the file's resource
//! naming it) and what `Assembler` keeps about the lines that continue it.

use std::borrow::Cow;
use std::os::raw::{c_int, c_void};
use std::sync::{Arc, Mutex};

use memchr::memchr;
use memchr::memmem::Finder;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyMemoryView, PyTuple};

use crate::json;
use crate::jsonl::iso_stamp;
use crate::otlp::Timestamps;

/// `assembler._TRACEBACK_STARTS`.
const TRACEBACK_STARTS: [&str; 3] = [
    "Traceback (most recent call last):",
    "Stack (most recent call last):",
    "Exception Group Traceback",
];
/// `assembler._CHAIN_LINES`.
const CHAIN_LINES: [&str; 2] = [
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
];

/// The level names of `formats._LEVELS` in the regex's order, with `records.SEVERITY_BY_NAME`'s mapping;
/// `Level <digits>` is the last alternative (severity 0, the name as text).
const LEVELS: [(&[u8], i64, &str); 10] = [
    (b"TRACE", 1, "TRACE"),
    (b"DEBUG", 5, "DEBUG"),
    (b"INFO", 9, "INFO"),
    (b"NOTICE", 9, "INFO"),
    (b"WARNING", 13, "WARN"),
    (b"WARN", 13, "WARN"),
    (b"ERROR", 17, "ERROR"),
    (b"CRITICAL", 21, "FATAL"),
    (b"FATAL", 21, "FATAL"),
    (b"NOTSET", 1, "TRACE"),
];

/// `json::write_str`, with a quick look first: most strings of a log line need no escaping.
#[inline]
pub(crate) fn write_json_str(out: &mut Vec<u8>, s: &str) {
    if needs_escape(s.as_bytes()) {
        json::write_str(out, s);
    } else {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

/// Whether `bytes` holds a byte that JSON escapes: below 0x20, `"` or `\`.
#[inline]
fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let v = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        // bytes below 0x20 (of those without the high bit), bytes equal to '"' or '\\'
        let below = v.wrapping_sub(ONES * 0x20) & !v & HIGHS;
        if below | zero_byte(v ^ (ONES * u64::from(b'"'))) | zero_byte(v ^ (ONES * u64::from(b'\\'))) != 0 {
            return true;
        }
    }
    words.remainder().iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

/// Python's `str.isspace()` for one character (Unicode 14, as in CPython 3.11): bidirectional class
/// WS, B or S, or category Zs. Rust's `char::is_whitespace` lacks U+001C..U+001F.
#[inline]
pub fn py_isspace(c: char) -> bool {
    matches!(
        c,
        '\t'..='\r'
            | '\u{1c}'..='\u{20}'
            | '\u{85}'
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
    )
}

/// `s.isspace()`: not empty, and every character is whitespace.
fn py_all_space(s: &str) -> bool {
    !s.is_empty() && s.chars().all(py_isspace)
}

fn first_char(s: &str) -> char {
    s.chars().next().unwrap_or('\0')
}

/// `s.rstrip()`.
fn py_rstrip(s: &str) -> &str {
    s.trim_end_matches(py_isspace)
}

/// `s.splitlines()`: `\n`, `\r\n`, `\r`, `\v`, `\f`, `\x1c`, `\x1d`, `\x1e`, `\x85`, U+2028, U+2029 end
/// a line; no empty last line.
pub fn py_splitlines(s: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if matches!(
            c,
            '\n' | '\r' | '\u{b}' | '\u{c}' | '\u{1c}' | '\u{1d}' | '\u{1e}' | '\u{85}' | '\u{2028}' | '\u{2029}'
        ) {
            lines.push(&s[start..i]);
            let mut next = i + c.len_utf8();
            if c == '\r' && chars.peek().is_some_and(|&(_, d)| d == '\n') {
                chars.next();
                next += 1;
            }
            start = next;
        }
    }
    if start < s.len() {
        lines.push(&s[start..]);
    }
    lines
}

/// What `records._EXCEPTION_LINE` makes of a traceback's last line: `Some(Some((type, message)))`,
/// `Some(None)` when it does not match, `None` when a non-ASCII character decides (`\w` is Unicode).
fn exception_line(line: &str) -> Option<Option<(&str, &str)>> {
    let b = line.as_bytes();
    if b.is_empty() || !(b[0].is_ascii_alphabetic() || b[0] == b'_') {
        return Some(None);
    }
    let mut k = 1;
    while k < b.len() && (b[k].is_ascii_alphanumeric() || b[k] == b'_' || b[k] == b'.') {
        k += 1;
    }
    if k < b.len() {
        if b[k] >= 0x80 {
            return None;
        }
        if b[k] != b':' {
            return Some(None);
        }
    }
    // the name must end in `[A-Z]\w*` after its first character (Error, Exception, ... are such names)
    let from = b[..k].iter().rposition(|&c| c == b'.').map_or(1, |dot| dot + 1).max(1);
    if !b[from.min(k)..k].iter().any(u8::is_ascii_uppercase) {
        return Some(None);
    }
    let message = if k == b.len() {
        ""
    } else {
        let rest = &line[k + 1..];
        match rest.chars().next() {
            Some(c) if py_isspace(c) => &rest[c.len_utf8()..],
            _ => rest,
        }
    };
    Some(Some((&line[..k], message)))
}

/// `records.exception_attributes` (the type and message part); `None` when a non-ASCII character decides.
fn exception_type_message(stacktrace: &str) -> Option<Option<(&str, &str)>> {
    for line in py_splitlines(stacktrace).into_iter().rev() {
        if line.is_empty() || py_isspace(first_char(line)) {
            continue;
        }
        return exception_line(line);
    }
    Some(None)
}

/// What `assembler._EXCEPTION_LINE` (`[A-Za-z_][\w.]*(?::|$)`) says; `None` when a non-ASCII character decides.
fn traceback_exception_line(line: &str) -> Option<bool> {
    let b = line.as_bytes();
    if b.is_empty() || !(b[0].is_ascii_alphabetic() || b[0] == b'_') {
        return Some(false);
    }
    let mut k = 1;
    while k < b.len() && (b[k].is_ascii_alphanumeric() || b[k] == b'_' || b[k] == b'.') {
        k += 1;
    }
    if k == b.len() || b[k] == b':' {
        Some(true)
    } else if b[k] >= 0x80 {
        None
    } else {
        Some(false)
    }
}

fn is_leap(year: u32) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// `datetime(year, month, day, hour, minute, second)` accepts these.
pub(crate) fn valid_datetime(year: u32, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> bool {
    const DAYS: [u32; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if year == 0 || !(1..=12).contains(&month) || hour > 23 || minute > 59 || second > 59 {
        return false;
    }
    let days = DAYS[(month - 1) as usize] + u32::from(month == 2 && is_leap(year));
    (1..=days).contains(&day)
}

/// The `@timestamp` of an entry.
enum Stamp {
    /// RFC 3339 UTC text made from the line: `YYYY-MM-DDTHH:MM:SS.fffffffffZ`.
    Utc([u8; 30]),
    /// The observed time of this call (a line before 1970: `stamp()` gave None).
    Observed,
    /// Text carried over from Python.
    Text(String),
}

/// An entry being assembled: the record of its first line, and the lines continuing it.
struct Pending<'a> {
    offset: u64,
    timestamp: Stamp,
    observed: Option<String>, // None: this call's observed time
    severity_text: Cow<'a, str>,
    severity_number: i64,
    body: Cow<'a, str>,
    logger: Cow<'a, str>,
    /// `None`: the file's service (and resource); else the `app_name` of a seed line naming another one.
    service: Option<Cow<'a, str>>,
    continuation: Vec<Cow<'a, str>>,
    traceback_at: Option<usize>,
    in_traceback: bool,
}

/// A record line, as `STDLIB_REGEX` or `SEED_REGEX` splits it (byte ranges of the line).
struct Header {
    fraction: (usize, usize),
    /// Where the `timestamp` group of a seed line ends (0 for a stdlib line).
    timestamp_end: usize,
    /// The `app_name` of a seed line (empty for a stdlib line).
    app: (usize, usize),
    logger: (usize, usize),
    level: (usize, usize),
    severity: Option<(i64, &'static str)>, // None: `Level <n>`, severity 0 with the name as text
    message: usize,
}

enum Verdict {
    Continues,
    StartsTraceback,
    Ends,
    Unsure,
}

/// `\d{4}-\d{2}-\d{2}<sep>\d{2}:\d{2}:\d{2}` at the start of `b` (at least 19 bytes), with ASCII digits.
fn date_time_at(b: &[u8], sep: u8) -> bool {
    [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
        .iter()
        .all(|&at| b[at].is_ascii_digit())
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == sep
        && b[13] == b':'
        && b[16] == b':'
}

fn digits2(b: &[u8], at: usize) -> u32 {
    u32::from(b[at] - b'0') * 10 + u32::from(b[at + 1] - b'0')
}

/// Output buffers for a reader to reuse once Python dropped what it made of them: a chunk's JSON lines are
/// several megabytes, and fresh memory for each (page faults, zeroing) would cost more than making them.
pub(crate) type Pool = Arc<Mutex<Vec<Vec<u8>>>>;
pub(crate) const POOLED: usize = 4;

/// A buffer of `pool` (one whose views Python released), or a new one.
pub(crate) fn pooled_buffer(pool: &Pool) -> Vec<u8> {
    pool.lock()
        .ok()
        .and_then(|mut buffers| buffers.pop())
        .unwrap_or_default()
}
/// Bytes of an ASCII chunk checked at a time.
const ASCII_BLOCK: usize = 64 << 10;

/// JSON lines a `StdlibReader` made, as a read-only buffer (Python gets a memoryview of it). Its memory goes
/// back to the reader's pool when the last view of it is gone.
#[pyclass(frozen, module = "otel_logging_native")]
pub struct JsonLines {
    data: Vec<u8>,
    pool: Pool,
    /// The pool keeps at most this many buffers.
    pooled: usize,
}

impl JsonLines {
    /// `data`, whose memory goes back to `pool` (if it holds fewer than `pooled` buffers) once released.
    pub(crate) fn new(data: Vec<u8>, pool: Pool, pooled: usize) -> Self {
        JsonLines { data, pool, pooled }
    }
}

impl Drop for JsonLines {
    fn drop(&mut self) {
        let data = std::mem::take(&mut self.data);
        if let Ok(mut pool) = self.pool.lock() {
            if pool.len() < self.pooled {
                pool.push(data);
            }
        }
    }
}

#[pymethods]
impl JsonLines {
    unsafe fn __getbuffer__(slf: Bound<'_, Self>, view: *mut ffi::Py_buffer, flags: c_int) -> PyResult<()> {
        let data = &slf.get().data;
        // SAFETY: `view` comes from Python's buffer protocol; the view holds a reference to `slf` (taken by
        // PyBuffer_FillInfo), and `data` never changes while `slf` lives (a frozen class; Drop runs after).
        let status = unsafe {
            ffi::PyBuffer_FillInfo(
                view,
                slf.as_ptr(),
                data.as_ptr() as *mut c_void,
                data.len() as ffi::Py_ssize_t,
                1,
                flags,
            )
        };
        if status == -1 {
            return Err(PyErr::fetch(slf.py()));
        }
        Ok(())
    }

    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {}

    fn __len__(&self) -> usize {
        self.data.len()
    }
}

/// The file-wide parts of every record, JSON-encoded once.
#[pyclass(frozen, module = "otel_logging_native")]
pub struct StdlibReader {
    /// `,"service":<service>,"attributes":{`
    service_attributes: Vec<u8>,
    /// `"log.file.path":<path>,"log.record.uid":"<uid prefix>:`
    path_uid: Vec<u8>,
    /// the two above together: the attributes of a record without exception
    service_path_uid: Vec<u8>,
    /// `"},"resource":<resource>}` and a newline
    resource_end: Vec<u8>,
    /// Boxed: its AVX2 vectors want 32-byte alignment, which the Python object holding this does not promise.
    dash: Box<Finder<'static>>,
    pool: Pool,
    /// Lines of the seed format (`SEED_REGEX`, read as `RegexParser` does) rather than stdlib ones.
    seed: bool,
    /// The file's service: a seed line naming it (or no service) makes a record of the file's service.
    service: String,
    /// `{**resource, "service.name": <service>}` as JSON around the service's JSON: the resource of a record
    /// of another service. `None`: such records are left to Python.
    other_resource: Option<(Vec<u8>, Vec<u8>)>,
}

/// The lines to read: `data[start..]`, each ending at a newline or at the end of `data`; `data[i]` is byte
/// `base_offset + i` of the file. `ascii`: `data` (the whole chunk's complete lines) is all ASCII; `read_batch`
/// then strips a line's CR before its NULs, else its NULs before its CR.
struct Chunk<'a> {
    data: &'a [u8],
    start: usize,
    base_offset: u64,
    ascii: bool,
}

/// One call's outcome.
struct Outcome<'a> {
    lines: Vec<u8>,
    count: u64,
    stop: usize,
    pending: Option<Pending<'a>>,
    last_timestamp: Option<[u8; 30]>,
    /// The service of the records in `lines` (`None`: the file's). A call makes the records of one service:
    /// it stops before the line that would finish a record of another one.
    service: Option<Cow<'a, str>>,
}

/// The fixed parts of every record a reader makes of one file: `,"service":<service>,"attributes":{`, then
/// `"log.file.path":<path>,"log.record.uid":"<uid_prefix>:` (the line's offset and closing quote follow), then
/// `"},"resource":<resource_json>}` and the newline.
pub(crate) fn record_parts(
    service: &str,
    path: &str,
    uid_prefix: &str,
    resource_json: &[u8],
) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut service_attributes = b",\"service\":".to_vec();
    json::write_str(&mut service_attributes, service);
    service_attributes.extend_from_slice(b",\"attributes\":{");
    let mut path_uid = b"\"log.file.path\":".to_vec();
    json::write_str(&mut path_uid, path);
    path_uid.extend_from_slice(b",\"log.record.uid\":");
    json::write_str(&mut path_uid, &format!("{uid_prefix}:"));
    path_uid.pop(); // the closing quote: the offset follows
    let mut resource_end = b"\"},\"resource\":".to_vec();
    resource_end.extend_from_slice(resource_json);
    resource_end.extend_from_slice(b"}\n");
    (service_attributes, path_uid, resource_end)
}

impl StdlibReader {
    pub fn new(service: &str, path: &str, uid_prefix: &str, resource_json: &[u8]) -> Self {
        let (service_attributes, path_uid, resource_end) = record_parts(service, path, uid_prefix, resource_json);
        StdlibReader {
            service_path_uid: [service_attributes.as_slice(), path_uid.as_slice()].concat(),
            service_attributes,
            path_uid,
            resource_end,
            dash: Box::new(Finder::new(b" - ").into_owned()),
            pool: Arc::default(),
            seed: false,
            service: service.to_owned(),
            other_resource: None,
        }
    }

    /// The reader of a seed-format file; `other_resource`: see the field.
    pub fn new_seed(
        service: &str,
        path: &str,
        uid_prefix: &str,
        resource_json: &[u8],
        other_resource: Option<(Vec<u8>, Vec<u8>)>,
    ) -> Self {
        StdlibReader {
            seed: true,
            other_resource,
            ..StdlibReader::new(service, path, uid_prefix, resource_json)
        }
    }

    /// `SEED_REGEX.match(line)` when it is sure to give this (ASCII digits where it wants `\d`).
    fn seed_header(&self, b: &[u8]) -> Option<Header> {
        if b.len() < 35 {
            return None; // 19 (timestamp) + 3 + 3 + 3 + 4 (INFO, the shortest level) + 3
        }
        if !date_time_at(b, b'T') {
            return None;
        }
        let mut i = 19;
        if b[19] == b'.' {
            i = 20;
            while i < 30 && b[i].is_ascii_digit() {
                i += 1;
            }
            if i == 20 || i == 30 {
                return None; // no digit, or more than 9
            }
        }
        match b[i] {
            b'Z' => i += 1,
            b'+' | b'-' if b[i + 3] == b':' && [1, 2, 4, 5].iter().all(|&k| b[i + k].is_ascii_digit()) => i += 6,
            _ => {}
        }
        if !b[i..].starts_with(b" - ") {
            return None;
        }
        // `(?P<app_name>.*?) - (?P<logger>.*?) - (?P<level>...) - `: the app ends at the first " - "; the
        // logger at the first " - " after it followed by a level and " - " (a later app end leaves no other)
        let app = i + 3;
        let app_end = app + self.dash.find(&b[app..])?;
        let mut header = self.level_after(b, app_end + 3)?;
        header.timestamp_end = i;
        header.app = (app, app_end);
        Some(header)
    }

    /// `STDLIB_REGEX.match(line)` when it is sure to give this (ASCII digits where it wants `\d`).
    fn header(&self, b: &[u8]) -> Option<Header> {
        if self.seed {
            return self.seed_header(b);
        }
        if b.len() < 32 {
            return None; // 19 (asctime) + 3 + 3 + 4 (INFO, the shortest level) + 3
        }
        if !date_time_at(b, b' ') {
            return None;
        }
        let fraction_end = if b[19] == b',' {
            let mut i = 20;
            while i < b.len() && i < 27 && b[i].is_ascii_digit() {
                i += 1;
            }
            if i == 20 || i == 27 {
                return None; // no digit, or more than 6
            }
            i
        } else {
            19
        };
        if !b[fraction_end..].starts_with(b" - ") {
            return None;
        }
        let mut header = self.level_after(b, fraction_end + 3)?;
        header.fraction = (20.min(fraction_end), fraction_end);
        Some(header)
    }

    /// `(?P<name>.*?) - (?P<levelname>...) - ` from `name` on: the first " - " followed by a level and " - "
    /// (the header's fraction, zone and app are left empty).
    fn level_after(&self, b: &[u8], name: usize) -> Option<Header> {
        let mut from = name;
        while let Some(found) = self.dash.find(&b[from..]) {
            let p = from + found;
            let r = p + 3;
            let rest = &b[r..];
            if let Some(&first) = rest.first() {
                if matches!(first, b'T' | b'D' | b'I' | b'N' | b'W' | b'E' | b'C' | b'F') {
                    for &(level, number, text) in LEVELS.iter() {
                        if rest.starts_with(level) && rest[level.len()..].starts_with(b" - ") {
                            return Some(Header {
                                fraction: (0, 0),
                                timestamp_end: 0,
                                app: (0, 0),
                                logger: (name, p),
                                level: (r, r + level.len()),
                                severity: Some((number, text)),
                                message: r + level.len() + 3,
                            });
                        }
                    }
                } else if rest.starts_with(b"Level ") {
                    let mut i = r + 6;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                    if i < b.len() && b[i] >= 0x80 {
                        return None; // a Unicode digit would be \d too: Python decides
                    }
                    if i > r + 6 && b[i..].starts_with(b" - ") {
                        return Some(Header {
                            fraction: (0, 0),
                            timestamp_end: 0,
                            app: (0, 0),
                            logger: (name, p),
                            level: (r, i),
                            severity: None,
                            message: i + 3,
                        });
                    }
                }
            }
            from = p + 1;
        }
        None
    }

    /// `StdlibParser.parse` of a line that `header` split, naive time in UTC; `None` for a date that does
    /// not exist (Python: TimestampError, the line is not this format).
    fn stamp(&self, b: &[u8], header: &Header, timestamps: &mut Timestamps) -> Option<Stamp> {
        if self.seed {
            // `RegexParser._time`: `TimestampParser(None).parse` and `stamp`; None where Python may differ (an
            // invalid or out-of-range time, which Python makes a record of the observed time)
            // SAFETY: `seed_header` checked that these bytes are ASCII.
            let text = unsafe { std::str::from_utf8_unchecked(&b[..header.timestamp_end]) };
            return iso_stamp(text, timestamps).map(Stamp::Utc);
        }
        let year = digits2(b, 0) * 100 + digits2(b, 2);
        let (month, day) = (digits2(b, 5), digits2(b, 8));
        let (hour, minute, second) = (digits2(b, 11), digits2(b, 14), digits2(b, 17));
        if !valid_datetime(year, month, day, hour, minute, second) {
            return None;
        }
        if year < 1970 {
            return Some(Stamp::Observed); // stamp() is None before the epoch
        }
        let mut text = [b'0'; 30];
        text[..19].copy_from_slice(&b[..19]);
        text[10] = b'T';
        text[19] = b'.';
        let (start, end) = header.fraction;
        text[20..20 + (end - start)].copy_from_slice(&b[start..end]);
        text[29] = b'Z';
        Some(Stamp::Utc(text))
    }

    /// `Assembler._continues` for a line that may continue `pending` (not empty; in a traceback, or
    /// starting with one of `_MAY_CONTINUE`).
    fn continues(pending: &Pending<'_>, line: &str) -> Verdict {
        if pending.in_traceback {
            if py_isspace(first_char(line))
                || CHAIN_LINES.contains(&line)
                || TRACEBACK_STARTS.iter().any(|start| line.starts_with(start))
            {
                return Verdict::Continues;
            }
            return match traceback_exception_line(line) {
                Some(true) => Verdict::Continues,
                Some(false) => Verdict::Ends,
                None => Verdict::Unsure,
            };
        }
        if TRACEBACK_STARTS.iter().any(|start| line.starts_with(start)) {
            return Verdict::StartsTraceback;
        }
        if py_isspace(first_char(line)) && !py_all_space(line) {
            return Verdict::Continues;
        }
        Verdict::Ends
    }

    /// `Assembler._finish` + `to_json_lines` for one entry; `None` (nothing written) when Python must decide.
    fn finish(&self, pending: &Pending<'_>, observed_json: &[u8], out: &mut Vec<u8>) -> Option<()> {
        let other_resource = match &pending.service {
            None => None,
            Some(service) => Some((service, self.other_resource.as_ref()?)),
        };
        let lines = &pending.continuation;
        let cut = pending.traceback_at.unwrap_or(lines.len());
        let stacktrace = if cut < lines.len() {
            let joined = lines[cut..].join("\n");
            let trimmed = py_rstrip(&joined).len();
            let mut joined = joined;
            joined.truncate(trimmed);
            Some(joined)
        } else {
            None
        };
        let exception = match &stacktrace {
            Some(stack) => Some((stack.as_str(), exception_type_message(stack)?)),
            None => None,
        };
        out.extend_from_slice(b"{\"@timestamp\":");
        match &pending.timestamp {
            Stamp::Utc(text) => {
                out.push(b'"');
                out.extend_from_slice(text);
                out.push(b'"');
            }
            Stamp::Observed => match &pending.observed {
                Some(observed) => write_json_str(out, observed),
                None => out.extend_from_slice(observed_json),
            },
            Stamp::Text(text) => write_json_str(out, text),
        }
        out.extend_from_slice(b",\"observed_timestamp\":");
        match &pending.observed {
            Some(observed) => write_json_str(out, observed),
            None => out.extend_from_slice(observed_json),
        }
        out.extend_from_slice(b",\"severity_text\":");
        write_json_str(out, &pending.severity_text);
        out.extend_from_slice(b",\"severity_number\":");
        json::write_i64(out, pending.severity_number);
        out.extend_from_slice(b",\"body\":");
        if cut == 0 {
            write_json_str(out, &pending.body);
        } else {
            let mut body =
                String::with_capacity(pending.body.len() + lines[..cut].iter().map(|l| l.len() + 1).sum::<usize>());
            body.push_str(&pending.body);
            for line in &lines[..cut] {
                body.push('\n');
                body.push_str(line);
            }
            write_json_str(out, &body);
        }
        out.extend_from_slice(b",\"logger\":");
        write_json_str(out, &pending.logger);
        match (other_resource, exception) {
            (None, None) => out.extend_from_slice(&self.service_path_uid),
            (None, Some(exception)) => {
                out.extend_from_slice(&self.service_attributes);
                self.write_exception_attributes(exception, out);
            }
            (Some((service, _)), exception) => {
                out.extend_from_slice(b",\"service\":");
                write_json_str(out, service);
                out.extend_from_slice(b",\"attributes\":{");
                match exception {
                    None => out.extend_from_slice(&self.path_uid),
                    Some(exception) => self.write_exception_attributes(exception, out),
                }
            }
        }
        json::write_u64(out, pending.offset);
        match other_resource {
            None => out.extend_from_slice(&self.resource_end),
            Some((service, (before, after))) => {
                out.extend_from_slice(b"\"},\"resource\":");
                out.extend_from_slice(before);
                write_json_str(out, service);
                out.extend_from_slice(after);
                out.extend_from_slice(b"}\n");
            }
        }
        Some(())
    }

    /// The attributes of a record with a traceback (after their `{`), up to the uid's offset.
    fn write_exception_attributes(&self, (stack, found): (&str, Option<(&str, &str)>), out: &mut Vec<u8>) {
        out.extend_from_slice(b"\"exception.stacktrace\":");
        write_json_str(out, stack);
        out.push(b',');
        if let Some((kind, message)) = found {
            out.extend_from_slice(b"\"exception.type\":");
            write_json_str(out, kind);
            out.extend_from_slice(b",\"exception.message\":");
            write_json_str(out, message);
            out.push(b',');
        }
        out.extend_from_slice(&self.path_uid);
    }

    /// The lines of `chunk` from its `start` on, records made now observed at `observed`, into `out`.
    fn run<'a>(
        &self,
        chunk: Chunk<'a>,
        observed: &str,
        mut pending: Option<Pending<'a>>,
        mut out: Vec<u8>,
    ) -> Result<Outcome<'a>, &'static str> {
        let Chunk {
            data,
            start,
            base_offset,
            ascii,
        } = chunk;
        let mut ascii_to = start; // data[start..ascii_to] is known to be ASCII (ascii chunks)
        let mut observed_json = Vec::with_capacity(observed.len() + 2);
        json::write_str(&mut observed_json, observed);
        out.clear();
        out.reserve(data.len().saturating_sub(start) * 5);
        let mut count = 0u64;
        let mut last_timestamp = None;
        let mut timestamps = Timestamps::new();
        let mut run_service: Option<Option<Cow<'a, str>>> = None; // of the records made (once one is)
        let end = data.len();
        let mut pos = start;
        while pos <= end {
            let newline = memchr(b'\n', &data[pos..]).map_or(end, |i| pos + i);
            if ascii && newline > ascii_to {
                // checked a block at a time: a call that stops early does not scan the rest of the chunk
                let to = end.min(newline.max(ascii_to + ASCII_BLOCK));
                if !data[ascii_to..to].is_ascii() {
                    return Err("ascii is True but data is not all ASCII");
                }
                ascii_to = to;
            }
            let line = decode_line(&data[pos..newline], ascii);
            let b = line.as_bytes();
            if let Some(entry) = pending.as_mut() {
                if !b.is_empty()
                    && (entry.in_traceback
                        || matches!(b[0], b' ' | b'\t' | b'\x0c' | b'\x0b' | b'\r' | b'T' | b'S' | b'E'))
                {
                    match Self::continues(entry, &line) {
                        Verdict::Continues => {
                            entry.continuation.push(line);
                            pos = newline + 1;
                            continue;
                        }
                        Verdict::StartsTraceback => {
                            entry.traceback_at = Some(entry.continuation.len());
                            entry.in_traceback = true;
                            entry.continuation.push(line);
                            pos = newline + 1;
                            continue;
                        }
                        Verdict::Ends => {}
                        Verdict::Unsure => break,
                    }
                }
            }
            if b.is_empty() || (matches!(b[0], b' ' | b'\t' | b'\x0c' | b'\x0b' | b'\r') && py_all_space(&line)) {
                pos = newline + 1;
                continue; // blank: carries nothing
            }
            let Some(header) = self.header(b) else { break };
            let Some(timestamp) = self.stamp(b, &header, &mut timestamps) else {
                break;
            };
            // `RegexParser`: `get("app_name") or None`, and `RecordContext.make` keeps the file's service
            let app = &b[header.app.0..header.app.1];
            let service = if app.is_empty() || app == self.service.as_bytes() {
                None
            } else if self.other_resource.is_some() {
                Some(piece(&line, header.app))
            } else {
                break; // a resource this reader cannot write: Python makes the record
            };
            if let Some(entry) = pending.take() {
                if run_service.as_ref().is_some_and(|made| *made != entry.service)
                    || self.finish(&entry, &observed_json, &mut out).is_none()
                {
                    pending = Some(entry);
                    break;
                }
                if run_service.is_none() {
                    run_service = Some(entry.service.clone());
                }
                count += 1;
            }
            if let Stamp::Utc(text) = &timestamp {
                last_timestamp = Some(*text);
            }
            let offset = base_offset + pos as u64;
            let (severity_number, severity_text) = match header.severity {
                Some((number, text)) => (number, Cow::Borrowed(text)),
                None => (0, piece(&line, header.level)),
            };
            pending = Some(Pending {
                offset,
                timestamp,
                observed: None,
                severity_text,
                severity_number,
                body: piece(&line, (header.message, b.len())),
                logger: piece(&line, header.logger),
                service,
                continuation: Vec::new(),
                traceback_at: None,
                in_traceback: false,
            });
            pos = newline + 1;
        }
        Ok(Outcome {
            lines: out,
            count,
            stop: pos,
            pending,
            last_timestamp,
            service: run_service.flatten(),
        })
    }
}

/// `read_batch`'s text of a line (without its newline); `ascii`: the line is known to be ASCII.
fn decode_line(raw: &[u8], ascii: bool) -> Cow<'_, str> {
    if ascii {
        // `line[:-1]` if it ends with "\r", then `line.strip("\0")`
        let trimmed = strip_nul(raw.strip_suffix(b"\r").unwrap_or(raw));
        debug_assert!(trimmed.is_ascii());
        // SAFETY: `run` checked that these bytes are ASCII, hence UTF-8.
        return Cow::Borrowed(unsafe { std::str::from_utf8_unchecked(trimmed) });
    }
    let trimmed = {
        // `raw.strip(b"\0").decode("utf-8", "replace").removesuffix("\r")`: a CR is never part of an invalid sequence
        let s = strip_nul(raw);
        s.strip_suffix(b"\r").unwrap_or(s)
    };
    match std::str::from_utf8(trimmed) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(trimmed),
    }
}

/// `s.strip(b"\0")`.
fn strip_nul(s: &[u8]) -> &[u8] {
    let Some(first) = s.iter().position(|&c| c != 0) else {
        return &s[..0];
    };
    let last = s.iter().rposition(|&c| c != 0).unwrap_or(first);
    &s[first..=last]
}

/// A part of a line, borrowed when the line is.
fn piece<'a>(line: &Cow<'a, str>, (start, end): (usize, usize)) -> Cow<'a, str> {
    match line {
        Cow::Borrowed(s) => Cow::Borrowed(&s[start..end]),
        Cow::Owned(s) => Cow::Owned(s[start..end].to_owned()),
    }
}

type PendingTuple = (
    u64,
    String,
    String,
    String,
    i64,
    String,
    String,
    Vec<String>,
    i64,
    bool,
    Option<String>,
);

#[pymethods]
impl StdlibReader {
    /// StdlibReader(service, path, uid_prefix, resource_json, seed=False, other_resource=None): the reader of
    /// one file's lines, of the stdlib format or (``seed``) of the seed format. ``other_resource``: the JSON of
    /// ``{**resource, "service.name": s}`` before and after the JSON of ``s``, for the records of a seed line
    /// naming another service ``s`` (without it, Python reads such lines).
    #[new]
    #[pyo3(signature = (service, path, uid_prefix, resource_json, seed=false, other_resource=None))]
    fn py_new(
        service: &str,
        path: &str,
        uid_prefix: &str,
        resource_json: &[u8],
        seed: bool,
        other_resource: Option<(Vec<u8>, Vec<u8>)>,
    ) -> Self {
        if seed {
            StdlibReader::new_seed(service, path, uid_prefix, resource_json, other_resource)
        } else {
            StdlibReader::new(service, path, uid_prefix, resource_json)
        }
    }

    /// read(data, start, end, base_offset, ascii, observed, pending) -> (lines, count, stop, pending, last, service)
    ///
    /// Read the lines of ``data[:end]`` (a chunk's complete lines without the last newline) from index
    /// ``start``; ``data[i]`` is byte ``base_offset + i`` of the file, ``ascii`` is ``data[:end].isascii()``
    /// and ``pending`` the entry the assembler holds (the tuple of the module doc, or None). Returns the
    /// finished records as JSON lines (a read-only memoryview; its memory is reused once it is released),
    /// their count, the index of the first line not read (``end + 1`` when all were), the entry now pending
    /// the latest timestamp text of the lines read (None if none had one) and the service of the records
    /// (None: the file's; a call makes records of one service). The GIL is released while reading.
    #[allow(clippy::too_many_arguments)]
    fn read<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyBytes>,
        start: usize,
        end: usize,
        base_offset: u64,
        ascii: bool,
        observed: &str,
        pending: Option<PendingTuple>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let bytes: &[u8] = data.as_bytes();
        if end > bytes.len() || start > end {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "needs start <= end <= len(data)",
            ));
        }
        let bytes = &bytes[..end];
        let pending = pending.map(
            |(
                offset,
                timestamp,
                observed,
                severity_text,
                severity_number,
                body,
                logger,
                continuation,
                at,
                in_tb,
                service,
            )| {
                Pending {
                    offset,
                    timestamp: Stamp::Text(timestamp),
                    observed: Some(observed),
                    severity_text: Cow::Owned(severity_text),
                    severity_number,
                    body: Cow::Owned(body),
                    logger: Cow::Owned(logger),
                    service: service.map(Cow::Owned),
                    continuation: continuation.into_iter().map(Cow::Owned).collect(),
                    traceback_at: usize::try_from(at).ok(),
                    in_traceback: in_tb,
                }
            },
        );
        let buffer = pooled_buffer(&self.pool);
        let chunk = Chunk {
            data: bytes,
            start,
            base_offset,
            ascii,
        };
        let outcome = py
            .detach(|| self.run(chunk, observed, pending, buffer))
            .map_err(pyo3::exceptions::PyValueError::new_err)?;
        let lines = Bound::new(py, JsonLines::new(outcome.lines, self.pool.clone(), POOLED))?;
        let lines = PyMemoryView::from(lines.as_any())?;
        let last = outcome
            .last_timestamp
            .map(|text| String::from_utf8_lossy(&text).into_owned());
        let pending = match outcome.pending {
            None => py.None(),
            Some(entry) => {
                let timestamp = match entry.timestamp {
                    Stamp::Utc(text) => String::from_utf8_lossy(&text).into_owned(),
                    Stamp::Observed => entry.observed.clone().unwrap_or_else(|| observed.to_owned()),
                    Stamp::Text(text) => text,
                };
                let entry_observed = entry.observed.unwrap_or_else(|| observed.to_owned());
                let continuation = PyList::new(py, entry.continuation.iter().map(|line| line.as_ref()))?;
                let at = entry.traceback_at.map_or(-1, |at| at as i64);
                (
                    entry.offset,
                    timestamp,
                    entry_observed,
                    entry.severity_text.as_ref(),
                    entry.severity_number,
                    entry.body.as_ref(),
                    entry.logger.as_ref(),
                    continuation,
                    at,
                    entry.in_traceback,
                    entry.service.as_deref(),
                )
                    .into_pyobject(py)?
                    .into_any()
                    .unbind()
            }
        };
        let service = outcome.service.as_deref();
        (lines, outcome.count, outcome.stop, pending, last, service).into_pyobject(py)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader() -> StdlibReader {
        StdlibReader::new("svc", "/var/log/a.log", "1-2", b"{\"service.name\":\"svc\"}")
    }

    #[test]
    fn needs_escape_finds_every_byte_json_escapes() {
        for len in 0..20 {
            for at in 0..len {
                for byte in 0..=255u8 {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = byte;
                    let expected = byte < 0x20 || byte == b'"' || byte == b'\\';
                    assert_eq!(needs_escape(&bytes), expected, "{len} {at} {byte}");
                }
            }
        }
        let mut out = Vec::new();
        write_json_str(&mut out, "caf\u{e9} \"q\"\n");
        assert_eq!(out, "\"caf\u{e9} \\\"q\\\"\\n\"".as_bytes());
    }

    #[test]
    fn splitlines_like_python() {
        assert_eq!(
            py_splitlines("a\r\nb\rc\n\nd\u{2028}e\u{b}"),
            vec!["a", "b", "c", "", "d", "e"]
        );
        assert!(py_splitlines("").is_empty());
        assert_eq!(py_splitlines("\n"), vec![""]);
    }

    #[test]
    fn exception_lines_like_the_regex() {
        assert_eq!(exception_line("ValueError: bad"), Some(Some(("ValueError", "bad"))));
        assert_eq!(exception_line("KeyError:  'k'"), Some(Some(("KeyError", " 'k'"))));
        assert_eq!(exception_line("a.b.CustomThing"), Some(Some(("a.b.CustomThing", ""))));
        assert_eq!(exception_line("Error"), Some(None));
        assert_eq!(exception_line("a.B.c"), Some(None));
        assert_eq!(exception_line("x Error"), Some(None));
        assert_eq!(exception_line("Valueé: x"), None);
    }

    #[test]
    fn headers_split_like_the_regex() {
        let r = reader();
        let line = b"2024-03-01 10:00:00,123 - a - b - WARNING - x - y";
        let h = r.header(line).unwrap();
        assert_eq!(&line[h.logger.0..h.logger.1], b"a - b");
        assert_eq!(&line[h.message..], b"x - y");
        assert_eq!(h.severity, Some((13, "WARN")));
        assert!(r.header(b"2024-03-01 10:00:00,1234567 - a - INFO - x").is_none());
        let line = b"2024-03-01 10:00:00 -  - Level 5 - m";
        let h = r.header(line).unwrap();
        assert_eq!(h.logger.0, h.logger.1);
        assert_eq!(&line[h.level.0..h.level.1], b"Level 5");
    }

    #[test]
    fn seed_headers_split_like_the_regex() {
        let r = StdlibReader::new_seed("svc", "/p", "1-2", b"{}", None);
        let line = b"2024-03-01T10:00:00.123+02:00 - a - b - c - WARNING - x - y";
        let h = r.header(line).unwrap();
        assert_eq!(&line[..h.timestamp_end], b"2024-03-01T10:00:00.123+02:00");
        assert_eq!(&line[h.app.0..h.app.1], b"a");
        assert_eq!(&line[h.logger.0..h.logger.1], b"b - c");
        assert_eq!(&line[h.message..], b"x - y");
        let line = b"2024-03-01T10:00:00Z -  - - - INFO - m";
        let h = r.header(line).unwrap();
        assert_eq!((h.app.0, h.app.1), (h.app.0, h.app.0));
        assert_eq!(&line[h.logger.0..h.logger.1], b"-");
        assert!(r.header(b"2024-03-01T10:00:00.1234567890 - a - b - INFO - x").is_none());
        assert!(r.header(b"2024-03-01 10:00:00 - a - b - INFO - x").is_none());
        assert!(r.header(b"2024-03-01T10:00:00+0200 - a - b - INFO - x").is_none());
        assert!(reader().header(b"2024-03-01T10:00:00 - a - INFO - message").is_none());
    }

    #[test]
    fn dates_that_do_not_exist() {
        assert!(valid_datetime(2024, 2, 29, 23, 59, 59));
        assert!(!valid_datetime(2023, 2, 29, 0, 0, 0));
        assert!(!valid_datetime(1900, 2, 29, 0, 0, 0));
        assert!(!valid_datetime(0, 1, 1, 0, 0, 0));
        assert!(!valid_datetime(2024, 1, 1, 24, 0, 0));
    }
}
