//! OTLP/protobuf `ExportLogsServiceRequest` -> canonical records as JSON lines.
//!
//! The output is byte-for-byte what `otel_logging.record.convert_request` followed by
//! `to_json_lines` (orjson) produces for the request that Python's protobuf (upb) parses from the
//! same bytes, and a payload is refused exactly when upb refuses it. That is why the wire decoder
//! is written here instead of derived with prost: upb and prost differ on input that matters to a
//! server facing the network. upb treats a known field sent with another wire type as an unknown
//! field (prost fails), keeps the low 64 bits of an over-long 10-byte varint (prost fails), allows
//! 100 levels of nested messages and unknown groups together, accepts tags and lengths of at most
//! five bytes, and checks UTF-8 in every proto3 `string` field, including those the conversion
//! ignores (`schema_url`, `EntityRef`).
//!
//! Decoding borrows from the payload (no copies of strings or bytes) and converts while it decodes:
//! each record is decoded into one reused `LogRecord` and written out at once, with no decoded
//! request in between. A resource (or scope) may come after its records on the wire, so each
//! `ResourceLogs` and `ScopeLogs` is read twice: first its resource (scope), then its records. Every
//! byte is still checked as upb checks it, and a malformed payload is an error: whatever was
//! converted before the error is dropped with the `Conversion`, so no output of it exists.

use std::borrow::Cow;
use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyMemoryView};

use crate::json;
use crate::stdlib::{pooled_buffer, JsonLines, Pool};

/// `otel_logging.record.names.DEFAULT_SERVICE_NAME`.
pub const DEFAULT_SERVICE_NAME: &str = "unknown_service";
/// upb's default recursion budget: nested sub-messages plus nested unknown groups.
const MAX_DEPTH: i32 = 100;
/// 9999-12-31T23:59:59Z, the last second RFC 3339 can express with a four-digit year.
const MAX_SECONDS: i128 = 253_402_300_799;
const NANOS_PER_SECOND: i128 = 1_000_000_000;

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Why a payload is not a valid `ExportLogsServiceRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub message: String,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DecodeError {}

type Result<T> = std::result::Result<T, DecodeError>;

#[cold]
fn malformed(what: &str, offset: usize) -> DecodeError {
    DecodeError {
        message: format!("{what} at byte {offset}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Decoded request (borrows from the payload)
// ---------------------------------------------------------------------------------------------

/// A `ScopeLogs`' instrumentation scope.
#[derive(Debug, Default)]
struct Scope<'a> {
    name: &'a str,
    version: &'a str,
    attributes: Vec<KeyValue<'a>>,
}

#[derive(Debug, Default)]
struct LogRecord<'a> {
    time_unix_nano: u64,
    observed_time_unix_nano: u64,
    severity_number: i32,
    severity_text: &'a str,
    body: AnyValue<'a>,
    attributes: Vec<KeyValue<'a>>,
    dropped_attributes_count: u32,
    flags: u32,
    trace_id: &'a [u8],
    span_id: &'a [u8],
    event_name: &'a str,
}

impl LogRecord<'_> {
    /// Back to an empty record, keeping the memory of its attributes.
    #[inline]
    fn reset(&mut self) {
        let mut attributes = std::mem::take(&mut self.attributes);
        attributes.clear();
        *self = LogRecord {
            attributes,
            ..LogRecord::default()
        };
    }
}

#[derive(Debug, Default)]
struct KeyValue<'a> {
    key: &'a str,
    value: AnyValue<'a>,
}

/// The `value` oneof of an OTLP AnyValue; `Unset` and `StringIndex` both become JSON null
/// (`WhichOneof` is None, or a case `any_value` does not convert).
#[derive(Debug, Default)]
enum AnyValue<'a> {
    #[default]
    Unset,
    Str(&'a str),
    Bool(bool),
    Int(i64),
    Double(f64),
    Array(Vec<AnyValue<'a>>),
    KvList(Vec<KeyValue<'a>>),
    Bytes(&'a [u8]),
    StringIndex,
}

// ---------------------------------------------------------------------------------------------
// Wire format reader, with upb's rules
// ---------------------------------------------------------------------------------------------

enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Len(&'a [u8], usize),
    StartGroup,
    Fixed32(u32),
}

/// The fields of one message: `buf` holds exactly the message, `base` is its offset in the payload.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], base: usize) -> Self {
        Reader { buf, pos: 0, base }
    }

    #[inline]
    fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// A varint of at most `max_len` bytes; bits beyond 64 are dropped (as upb does).
    #[inline(always)]
    fn varint(&mut self, max_len: usize, what: &str) -> Result<u64> {
        let rest = &self.buf[self.pos..];
        if let Some(&b) = rest.first() {
            if b < 0x80 {
                self.pos += 1;
                return Ok(u64::from(b));
            }
        }
        let mut value = 0u64;
        for (i, &b) in rest.iter().take(max_len).enumerate() {
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                self.pos += i + 1;
                return Ok(value);
            }
        }
        Err(malformed(what, self.offset()))
    }

    #[inline(always)]
    fn tag(&mut self) -> Result<u32> {
        let tag = self.varint(5, "invalid tag")?;
        u32::try_from(tag).map_err(|_| malformed("invalid tag", self.offset()))
    }

    #[inline(always)]
    fn len_delimited(&mut self) -> Result<(&'a [u8], usize)> {
        let start = self.offset();
        let size = self.varint(5, "invalid length")?;
        let remaining = (self.buf.len() - self.pos) as u64;
        if size >= i32::MAX as u64 || size > remaining {
            return Err(malformed("length beyond the end of the message", start));
        }
        let offset = self.offset();
        let end = self.pos + size as usize;
        let slice = &self.buf[self.pos..end];
        self.pos = end;
        Ok((slice, offset))
    }

    #[inline]
    fn fixed<const N: usize>(&mut self) -> Result<[u8; N]> {
        match self.buf.get(self.pos..self.pos + N) {
            Some(bytes) => {
                self.pos += N;
                Ok(bytes.try_into().expect("slice of length N"))
            }
            None => Err(malformed("truncated fixed-width value", self.offset())),
        }
    }

    /// The next field of the message, or None at its end.
    #[inline(always)]
    fn next(&mut self) -> Result<Option<(u32, Wire<'a>)>> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let start = self.offset();
        let tag = self.tag()?;
        let value = match tag & 7 {
            0 => Wire::Varint(self.varint(10, "invalid varint")?),
            1 => Wire::Fixed64(u64::from_le_bytes(self.fixed::<8>()?)),
            2 => {
                let (slice, offset) = self.len_delimited()?;
                Wire::Len(slice, offset)
            }
            3 => Wire::StartGroup,
            5 => Wire::Fixed32(u32::from_le_bytes(self.fixed::<4>()?)),
            4 => return Err(malformed("end-group tag outside a group", start)),
            _ => return Err(malformed("invalid wire type", start)),
        };
        Ok(Some((tag >> 3, value)))
    }

    /// A field this message does not know, or a known field sent with another wire type.
    #[inline]
    fn skip(&mut self, field: u32, value: &Wire<'a>, depth: i32) -> Result<()> {
        if field == 0 {
            return Err(malformed("field number 0", self.offset()));
        }
        if let Wire::StartGroup = value {
            self.skip_group(field, depth)?;
        }
        Ok(())
    }

    /// Skip an unknown group up to its end-group tag (`upb_WireReader_SkipGroup`).
    fn skip_group(&mut self, field: u32, depth: i32) -> Result<()> {
        let depth = depth - 1;
        if depth < 0 {
            return Err(DecodeError {
                message: format!("protobuf nesting deeper than {MAX_DEPTH} levels"),
            });
        }
        let end_tag = (field << 3) | 4;
        loop {
            if self.pos >= self.buf.len() {
                return Err(malformed("unterminated group", self.offset()));
            }
            let start = self.offset();
            let tag = self.tag()?;
            if tag == end_tag {
                return Ok(());
            }
            match tag & 7 {
                0 => {
                    self.varint(10, "invalid varint")?;
                }
                1 => {
                    self.fixed::<8>()?;
                }
                2 => {
                    self.len_delimited()?;
                }
                3 => self.skip_group(tag >> 3, depth)?,
                5 => {
                    self.fixed::<4>()?;
                }
                _ => return Err(malformed("invalid tag inside a group", start)),
            }
        }
    }
}

#[inline]
fn enter(depth: i32) -> Result<i32> {
    let depth = depth - 1;
    if depth < 0 {
        return Err(DecodeError {
            message: format!("protobuf nesting deeper than {MAX_DEPTH} levels"),
        });
    }
    Ok(depth)
}

#[inline]
fn utf8<'a>(bytes: &'a [u8], offset: usize, field: &str) -> Result<&'a str> {
    if is_ascii(bytes) {
        // SAFETY: ASCII is valid UTF-8.
        return Ok(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    utf8_checked(bytes, offset, field)
}

/// Whether every byte is below 0x80: 8 bytes at a time (the short strings of a record are checked
/// faster this way than by `from_utf8`, which then only sees the others).
#[inline(always)]
fn is_ascii(bytes: &[u8]) -> bool {
    let mut chunks = bytes.chunks_exact(8);
    let mut high = 0u64;
    for chunk in &mut chunks {
        high |= u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
    }
    for &b in chunks.remainder() {
        high |= u64::from(b);
    }
    high & 0x8080_8080_8080_8080 == 0
}

#[cold]
fn utf8_checked<'a>(bytes: &'a [u8], offset: usize, field: &str) -> Result<&'a str> {
    std::str::from_utf8(bytes).map_err(|e| DecodeError {
        message: format!(
            "string field {field} is not valid UTF-8 (at byte {})",
            offset + e.valid_up_to()
        ),
    })
}

// Each `decode_*` merges one serialized message into `into` (protobuf merge semantics: scalars
// overwrite, repeated fields append, sub-messages merge), so a singular message field that occurs
// twice on the wire is handled exactly like upb handles it.

fn decode_resource<'a>(buf: &'a [u8], base: usize, depth: i32, attributes: &mut Vec<KeyValue<'a>>) -> Result<()> {
    let mut r = Reader::new(buf, base);
    while let Some((field, value)) = r.next()? {
        match (field, &value) {
            (1, Wire::Len(b, o)) => attributes.push(decode_key_value(b, *o, enter(depth)?)?),
            (2, Wire::Varint(_)) => {} // dropped_attributes_count
            (3, Wire::Len(b, o)) => decode_entity_ref(b, *o, enter(depth)?)?,
            _ => r.skip(field, &value, depth)?,
        }
    }
    Ok(())
}

/// `EntityRef` is not converted, but upb still checks its strings.
fn decode_entity_ref(buf: &[u8], base: usize, depth: i32) -> Result<()> {
    let mut r = Reader::new(buf, base);
    while let Some((field, value)) = r.next()? {
        match (field, &value) {
            (1, Wire::Len(b, o)) => {
                utf8(b, *o, "EntityRef.schema_url")?;
            }
            (2, Wire::Len(b, o)) => {
                utf8(b, *o, "EntityRef.type")?;
            }
            (3, Wire::Len(b, o)) => {
                utf8(b, *o, "EntityRef.id_keys")?;
            }
            (4, Wire::Len(b, o)) => {
                utf8(b, *o, "EntityRef.description_keys")?;
            }
            _ => r.skip(field, &value, depth)?,
        }
    }
    Ok(())
}

fn decode_scope<'a>(buf: &'a [u8], base: usize, depth: i32, into: &mut Scope<'a>) -> Result<()> {
    let mut r = Reader::new(buf, base);
    while let Some((field, value)) = r.next()? {
        match (field, &value) {
            (1, Wire::Len(b, o)) => into.name = utf8(b, *o, "InstrumentationScope.name")?,
            (2, Wire::Len(b, o)) => into.version = utf8(b, *o, "InstrumentationScope.version")?,
            (3, Wire::Len(b, o)) => into.attributes.push(decode_key_value(b, *o, enter(depth)?)?),
            (4, Wire::Varint(_)) => {} // dropped_attributes_count
            _ => r.skip(field, &value, depth)?,
        }
    }
    Ok(())
}

fn decode_log_record<'a>(buf: &'a [u8], base: usize, depth: i32, into: &mut LogRecord<'a>) -> Result<()> {
    let mut r = Reader::new(buf, base);
    while let Some((field, value)) = r.next()? {
        match (field, &value) {
            (1, Wire::Fixed64(v)) => into.time_unix_nano = *v,
            (11, Wire::Fixed64(v)) => into.observed_time_unix_nano = *v,
            (2, Wire::Varint(v)) => into.severity_number = *v as i32, // int32: the low 32 bits
            (3, Wire::Len(b, o)) => into.severity_text = utf8(b, *o, "LogRecord.severity_text")?,
            (5, Wire::Len(b, o)) => decode_any_value(b, *o, enter(depth)?, &mut into.body)?,
            (6, Wire::Len(b, o)) => into.attributes.push(decode_key_value(b, *o, enter(depth)?)?),
            (7, Wire::Varint(v)) => into.dropped_attributes_count = *v as u32,
            (8, Wire::Fixed32(v)) => into.flags = *v,
            (9, Wire::Len(b, _)) => into.trace_id = b,
            (10, Wire::Len(b, _)) => into.span_id = b,
            (12, Wire::Len(b, o)) => into.event_name = utf8(b, *o, "LogRecord.event_name")?,
            _ => r.skip(field, &value, depth)?,
        }
    }
    Ok(())
}

fn decode_key_value<'a>(buf: &'a [u8], base: usize, depth: i32) -> Result<KeyValue<'a>> {
    let mut kv = KeyValue::default();
    let mut r = Reader::new(buf, base);
    while let Some((field, value)) = r.next()? {
        match (field, &value) {
            (1, Wire::Len(b, o)) => kv.key = utf8(b, *o, "KeyValue.key")?,
            (2, Wire::Len(b, o)) => decode_any_value(b, *o, enter(depth)?, &mut kv.value)?,
            (3, Wire::Varint(_)) => {} // key_strindex
            _ => r.skip(field, &value, depth)?,
        }
    }
    Ok(kv)
}

fn decode_any_value<'a>(buf: &'a [u8], base: usize, depth: i32, into: &mut AnyValue<'a>) -> Result<()> {
    let mut r = Reader::new(buf, base);
    while let Some((field, value)) = r.next()? {
        match (field, &value) {
            (1, Wire::Len(b, o)) => *into = AnyValue::Str(utf8(b, *o, "AnyValue.string_value")?),
            (2, Wire::Varint(v)) => *into = AnyValue::Bool(*v != 0),
            (3, Wire::Varint(v)) => *into = AnyValue::Int(*v as i64),
            (4, Wire::Fixed64(v)) => *into = AnyValue::Double(f64::from_bits(*v)),
            (5, Wire::Len(b, o)) => {
                // The same oneof case merges into the existing array; another case starts afresh.
                if !matches!(into, AnyValue::Array(_)) {
                    *into = AnyValue::Array(Vec::new());
                }
                if let AnyValue::Array(values) = into {
                    decode_array(b, *o, enter(depth)?, values)?;
                }
            }
            (6, Wire::Len(b, o)) => {
                if !matches!(into, AnyValue::KvList(_)) {
                    *into = AnyValue::KvList(Vec::new());
                }
                if let AnyValue::KvList(values) = into {
                    decode_kvlist(b, *o, enter(depth)?, values)?;
                }
            }
            (7, Wire::Len(b, _)) => *into = AnyValue::Bytes(b),
            (8, Wire::Varint(_)) => *into = AnyValue::StringIndex,
            _ => r.skip(field, &value, depth)?,
        }
    }
    Ok(())
}

fn decode_array<'a>(buf: &'a [u8], base: usize, depth: i32, values: &mut Vec<AnyValue<'a>>) -> Result<()> {
    let mut r = Reader::new(buf, base);
    while let Some((field, value)) = r.next()? {
        match (field, &value) {
            (1, Wire::Len(b, o)) => {
                let mut v = AnyValue::Unset;
                decode_any_value(b, *o, enter(depth)?, &mut v)?;
                values.push(v);
            }
            _ => r.skip(field, &value, depth)?,
        }
    }
    Ok(())
}

fn decode_kvlist<'a>(buf: &'a [u8], base: usize, depth: i32, values: &mut Vec<KeyValue<'a>>) -> Result<()> {
    let mut r = Reader::new(buf, base);
    while let Some((field, value)) = r.next()? {
        match (field, &value) {
            (1, Wire::Len(b, o)) => values.push(decode_key_value(b, *o, enter(depth)?)?),
            _ => r.skip(field, &value, depth)?,
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Canonical records as JSON
// ---------------------------------------------------------------------------------------------

fn write_value(out: &mut Vec<u8>, value: &AnyValue<'_>) {
    match value {
        AnyValue::Unset | AnyValue::StringIndex => out.extend_from_slice(b"null"),
        AnyValue::Str(s) => json::write_str(out, s),
        AnyValue::Bool(b) => json::write_bool(out, *b),
        AnyValue::Int(i) => json::write_i64(out, *i),
        AnyValue::Double(d) => json::write_f64(out, *d),
        AnyValue::Bytes(b) => json::write_base64_str(out, b),
        AnyValue::KvList(kvs) => write_object(out, kvs),
        AnyValue::Array(values) => {
            out.push(b'[');
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, v);
            }
            out.push(b']');
        }
    }
}

/// Lists this long or shorter find duplicate keys by comparing pairs; longer ones use a map.
const SMALL_OBJECT: usize = 16;

/// A repeated KeyValue as a JSON object with Python dict semantics: a key keeps the position of
/// its first occurrence and the value of its last.
fn write_object(out: &mut Vec<u8>, kvs: &[KeyValue<'_>]) {
    out.push(b'{');
    let mut first = true;
    let mut emit = |out: &mut Vec<u8>, key: &str, value: &AnyValue<'_>| {
        if !first {
            out.push(b',');
        }
        first = false;
        json::write_str(out, key);
        out.push(b':');
        write_value(out, value);
    };
    if kvs.len() <= SMALL_OBJECT {
        for (i, kv) in kvs.iter().enumerate() {
            if kvs[..i].iter().any(|earlier| earlier.key == kv.key) {
                continue;
            }
            let last = kvs[i + 1..]
                .iter()
                .rev()
                .find(|later| later.key == kv.key)
                .unwrap_or(kv);
            emit(out, kv.key, &last.value);
        }
    } else {
        // key -> (index of its last occurrence, already written)
        let mut last: HashMap<&str, (usize, bool)> = HashMap::with_capacity(kvs.len());
        for (i, kv) in kvs.iter().enumerate() {
            last.entry(kv.key).and_modify(|e| e.0 = i).or_insert((i, false));
        }
        for kv in kvs {
            let entry = last.get_mut(kv.key).expect("every key was inserted");
            if entry.1 {
                continue;
            }
            entry.1 = true;
            emit(out, kv.key, &kvs[entry.0].value);
        }
    }
    out.push(b'}');
}

/// The value of the last `key` in a repeated KeyValue (a dict lookup).
fn dict_get<'v, 'a>(kvs: &'v [KeyValue<'a>], key: &str) -> Option<&'v AnyValue<'a>> {
    kvs.iter().rev().find(|kv| kv.key == key).map(|kv| &kv.value)
}

/// `"00"` to `"99"`.
static DIGIT_PAIRS: [[u8; 2]; 100] = {
    let mut table = [[0u8; 2]; 100];
    let mut i = 0;
    while i < 100 {
        table[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
        i += 1;
    }
    table
};

/// `rfc3339_nanos`, remembering the last second formatted.
pub(crate) struct Timestamps {
    second: i128,
    prefix: [u8; 19],
}

impl Timestamps {
    pub(crate) fn new() -> Self {
        Timestamps {
            second: i128::MIN,
            prefix: [0; 19],
        }
    }

    /// `"YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ"` (with the quotes) for `unix_nano`, or the reason it cannot be.
    pub(crate) fn format(&mut self, unix_nano: i128) -> std::result::Result<[u8; 32], String> {
        let (seconds, fraction) = match u64::try_from(unix_nano) {
            Ok(n) => (i128::from(n / 1_000_000_000), (n % 1_000_000_000) as u32),
            Err(_) => (
                unix_nano.div_euclid(NANOS_PER_SECOND),
                unix_nano.rem_euclid(NANOS_PER_SECOND) as u32,
            ),
        };
        if seconds != self.second {
            if !(0..=MAX_SECONDS).contains(&seconds) {
                return Err(format!("timestamp {unix_nano} ns is outside years 1970..9999"));
            }
            self.prefix = format_second(seconds as i64);
            self.second = seconds;
        }
        let mut out = [0u8; 32];
        out[0] = b'"';
        out[1..20].copy_from_slice(&self.prefix);
        out[20] = b'.';
        // nine digits: four pairs and a last one
        let mut f = fraction;
        for i in (0..4).rev() {
            let at = 22 + 2 * i;
            out[at..at + 2].copy_from_slice(&DIGIT_PAIRS[(f % 100) as usize]);
            f /= 100;
        }
        out[21] = b'0' + f as u8;
        out[30] = b'Z';
        out[31] = b'"';
        Ok(out)
    }
}

/// `time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))` for 0 <= seconds <= MAX_SECONDS.
fn format_second(seconds: i64) -> [u8; 19] {
    let days = seconds.div_euclid(86_400);
    let in_day = seconds.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (hour, minute, second) = (in_day / 3600, in_day / 60 % 60, in_day % 60);
    let mut out = *b"0000-00-00T00:00:00";
    let mut put = |at: usize, width: usize, mut v: i64| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, hour);
    put(14, 2, minute);
    put(17, 2, second);
    out
}

/// Python's `repr()` of a str, for error messages. Exact except for unassigned code points, which
/// Python escapes and this keeps (Rust has no table of them).
fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if !py_printable(c) => {
                let code = c as u32;
                if code < 0x100 {
                    out.push_str(&format!("\\x{code:02x}"));
                } else if code < 0x10000 {
                    out.push_str(&format!("\\u{code:04x}"));
                } else {
                    out.push_str(&format!("\\U{code:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// `str.isprintable()` for one character: false for control (Cc), format (Cf), private use (Co) and
/// separator (Zs, Zl, Zp) characters other than the space.
fn py_printable(c: char) -> bool {
    let code = c as u32;
    if code < 0x7f {
        return code >= 0x20;
    }
    !matches!(
        code,
        0x7f..=0xa0
            | 0xad
            | 0x600..=0x605
            | 0x61c
            | 0x6dd
            | 0x70f
            | 0x890..=0x891
            | 0x8e2
            | 0x1680
            | 0x180e
            | 0x2000..=0x200f
            | 0x2028..=0x202f
            | 0x205f..=0x2064
            | 0x2066..=0x206f
            | 0x3000
            | 0xe000..=0xf8ff
            | 0xfeff
            | 0xfff9..=0xfffb
            | 0x110bd
            | 0x110cd
            | 0x13430..=0x1343f
            | 0x1bca0..=0x1bca3
            | 0x1d173..=0x1d17a
            | 0xe0001
            | 0xe0020..=0xe007f
            | 0xf0000..=0xffffd
            | 0x100000..=0x10fffd
    )
}

/// The records of one service, as JSON lines.
#[derive(Debug, Default)]
pub struct ServiceLines {
    pub service: String,
    pub lines: Vec<u8>,
}

/// The result of `convert`: like `otel_logging.record.Conversion`, with each service's records
/// already serialized by `to_json_lines`.
#[derive(Debug, Default)]
pub struct Conversion {
    /// In order of first appearance (a service with no accepted record is not listed).
    pub services: Vec<ServiceLines>,
    pub accepted: u64,
    pub rejected: u64,
    pub first_error: String,
}

/// Everything of a scope's records that is the same for each of them, already as JSON.
struct Shared<'s> {
    /// `,"logger":...,"service":...,"attributes":` is written around the record's own parts.
    logger: &'s [u8],
    service: &'s [u8],
    /// `,"resource":{...}`
    resource: &'s [u8],
    /// `,"scope_version":...,"scope_attributes":{...}` (either part only when set).
    scope_extra: &'s [u8],
}

fn check_id(id: &[u8], name: &str, expected: usize) -> std::result::Result<bool, String> {
    if id.is_empty() {
        return Ok(false);
    }
    if id.len() != expected {
        return Err(format!("{name} has {} bytes, expected {expected}", id.len()));
    }
    Ok(id.iter().any(|&b| b != 0))
}

/// Append one record's JSON line to `out`, or say why the record is rejected (nothing appended).
fn write_record(
    out: &mut Vec<u8>,
    log: &LogRecord<'_>,
    shared: &Shared<'_>,
    timestamps: &mut Timestamps,
    received_ns: i128,
) -> std::result::Result<(), String> {
    let observed_ns = if log.observed_time_unix_nano != 0 {
        i128::from(log.observed_time_unix_nano)
    } else {
        received_ns
    };
    let event_ns = if log.time_unix_nano != 0 {
        i128::from(log.time_unix_nano)
    } else {
        observed_ns
    };
    let event = timestamps.format(event_ns)?;
    let observed = timestamps.format(observed_ns)?;
    let has_trace = check_id(log.trace_id, "trace_id", 16)?;
    let has_span = check_id(log.span_id, "span_id", 8)?;

    out.extend_from_slice(b"{\"@timestamp\":");
    out.extend_from_slice(&event);
    out.extend_from_slice(b",\"observed_timestamp\":");
    out.extend_from_slice(&observed);
    out.extend_from_slice(b",\"severity_text\":");
    json::write_str(out, log.severity_text);
    out.extend_from_slice(b",\"severity_number\":");
    json::write_i64(out, i64::from(log.severity_number));
    out.extend_from_slice(b",\"body\":");
    write_value(out, &log.body);
    out.extend_from_slice(b",\"logger\":");
    out.extend_from_slice(shared.logger);
    out.extend_from_slice(b",\"service\":");
    out.extend_from_slice(shared.service);
    out.extend_from_slice(b",\"attributes\":");
    write_object(out, &log.attributes);
    out.extend_from_slice(shared.resource);
    if has_trace {
        out.extend_from_slice(b",\"trace_id\":");
        json::write_hex_str(out, log.trace_id);
    }
    if has_span {
        out.extend_from_slice(b",\"span_id\":");
        json::write_hex_str(out, log.span_id);
    }
    if !log.event_name.is_empty() {
        out.extend_from_slice(b",\"event_name\":");
        json::write_str(out, log.event_name);
    }
    if log.flags != 0 {
        out.extend_from_slice(b",\"flags\":");
        json::write_u64(out, u64::from(log.flags));
    }
    if log.dropped_attributes_count != 0 {
        out.extend_from_slice(b",\"dropped_attributes_count\":");
        json::write_u64(out, u64::from(log.dropped_attributes_count));
    }
    out.extend_from_slice(shared.scope_extra);
    out.extend_from_slice(b"}\n");
    Ok(())
}

/// Convert a serialized `ExportLogsServiceRequest` to canonical records as JSON lines, grouped by
/// service. A record that cannot be converted is counted as rejected; the others go on. A payload
/// that is not a valid request is an error, and nothing is converted.
pub fn convert(payload: &[u8], received_ns: i128) -> Result<Conversion> {
    convert_into(payload, received_ns, &mut Vec::new)
}

/// `convert`, each service's lines written into a buffer from `buffer()` (emptied first: a pooled one).
pub fn convert_into(payload: &[u8], received_ns: i128, buffer: &mut dyn FnMut() -> Vec<u8>) -> Result<Conversion> {
    let mut converter = Converter {
        conversion: Conversion::default(),
        timestamps: Timestamps::new(),
        received_ns,
        buffer,
    };
    let depth = MAX_DEPTH;
    let mut r = Reader::new(payload, 0);
    while let Some((field, value)) = r.next()? {
        match (field, &value) {
            (1, Wire::Len(b, o)) => converter.resource_logs(b, *o, enter(depth)?)?,
            _ => r.skip(field, &value, depth)?,
        }
    }
    Ok(converter.conversion)
}

/// The state of one conversion: decodes each `ResourceLogs` and writes its records as it goes.
struct Converter<'b> {
    conversion: Conversion,
    timestamps: Timestamps,
    received_ns: i128,
    buffer: &'b mut dyn FnMut() -> Vec<u8>,
}

impl Converter<'_> {
    /// One `ResourceLogs`: its resource first (wherever it is), then its scopes' records.
    fn resource_logs(&mut self, buf: &[u8], base: usize, depth: i32) -> Result<()> {
        let mut attributes = Vec::new();
        let mut r = Reader::new(buf, base);
        while let Some((field, value)) = r.next()? {
            match (field, &value) {
                (1, Wire::Len(b, o)) => decode_resource(b, *o, enter(depth)?, &mut attributes)?,
                (2, Wire::Len(_, _)) => {} // read below, once the resource is known
                (3, Wire::Len(b, o)) => {
                    utf8(b, *o, "ResourceLogs.schema_url")?;
                }
                _ => r.skip(field, &value, depth)?,
            }
        }
        // Python reads service.name from the converted resource: bytes are a (base64) string there too.
        let service: Cow<'_, str> = match dict_get(&attributes, "service.name") {
            Some(AnyValue::Str(name)) if !name.is_empty() => Cow::Borrowed(name),
            Some(AnyValue::Bytes(bytes)) if !bytes.is_empty() => Cow::Owned(STANDARD.encode(bytes)),
            _ => Cow::Borrowed(DEFAULT_SERVICE_NAME),
        };
        let service = service.as_ref();
        let mut resource = Vec::with_capacity(64);
        resource.extend_from_slice(b",\"resource\":");
        write_object(&mut resource, &attributes);
        let mut service_json = Vec::with_capacity(service.len() + 2);
        json::write_str(&mut service_json, service);

        let services = &mut self.conversion.services;
        let index = match services.iter().position(|s| s.service == service) {
            Some(index) => index,
            None => {
                let mut lines = (self.buffer)();
                lines.clear();
                services.push(ServiceLines {
                    service: service.to_owned(),
                    lines,
                });
                services.len() - 1
            }
        };
        let mut log = LogRecord::default(); // reused for every record of the resource
        let mut r = Reader::new(buf, base);
        while let Some((field, value)) = r.next()? {
            match (field, &value) {
                (2, Wire::Len(b, o)) => {
                    let at = (index, service, service_json.as_slice(), resource.as_slice());
                    self.scope_logs(b, *o, enter(depth)?, at, &mut log)?;
                }
                _ => r.skip(field, &value, depth)?,
            }
        }
        // A service seen only with rejected records is not listed (it can only be the last one:
        // a service listed earlier has records).
        if self.conversion.services[index].lines.is_empty() {
            self.conversion.services.remove(index);
        }
        Ok(())
    }

    /// One `ScopeLogs`: its scope first (wherever it is), then each record, decoded into `log` and written.
    /// `at`: the index of the service's lines, the service, its JSON and the resource's (`,"resource":{...}`).
    fn scope_logs<'a>(
        &mut self,
        buf: &'a [u8],
        base: usize,
        depth: i32,
        at: (usize, &str, &[u8], &[u8]),
        log: &mut LogRecord<'a>,
    ) -> Result<()> {
        let (index, service, service_json, resource) = at;
        let mut scope = Scope::default();
        let mut r = Reader::new(buf, base);
        while let Some((field, value)) = r.next()? {
            match (field, &value) {
                (1, Wire::Len(b, o)) => decode_scope(b, *o, enter(depth)?, &mut scope)?,
                (2, Wire::Len(_, _)) => {} // read below, once the scope is known
                (3, Wire::Len(b, o)) => {
                    utf8(b, *o, "ScopeLogs.schema_url")?;
                }
                _ => r.skip(field, &value, depth)?,
            }
        }
        let mut scope_extra = Vec::new();
        if !scope.version.is_empty() {
            scope_extra.extend_from_slice(b",\"scope_version\":");
            json::write_str(&mut scope_extra, scope.version);
        }
        if !scope.attributes.is_empty() {
            scope_extra.extend_from_slice(b",\"scope_attributes\":");
            write_object(&mut scope_extra, &scope.attributes);
        }
        let mut logger = Vec::with_capacity(scope.name.len() + 2);
        json::write_str(&mut logger, scope.name);
        let shared = Shared {
            logger: &logger,
            service: service_json,
            resource,
            scope_extra: &scope_extra,
        };
        let conversion = &mut self.conversion;
        let out = &mut conversion.services[index].lines;
        // about the lines of the records in `buf` (each record's bytes become about 3 times as many)
        out.reserve(buf.len() * 3 + resource.len() * (buf.len() / 256 + 1));
        let mut r = Reader::new(buf, base);
        while let Some((field, value)) = r.next()? {
            match (field, &value) {
                (2, Wire::Len(b, o)) => {
                    log.reset();
                    decode_log_record(b, *o, enter(depth)?, log)?;
                    match write_record(out, log, &shared, &mut self.timestamps, self.received_ns) {
                        Ok(()) => conversion.accepted += 1,
                        Err(reason) => {
                            conversion.rejected += 1;
                            if conversion.first_error.is_empty() {
                                conversion.first_error =
                                    format!("service {}, logger {}: {reason}", py_repr(service), py_repr(scope.name));
                            }
                        }
                    }
                }
                _ => r.skip(field, &value, depth)?,
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Python binding
// ---------------------------------------------------------------------------------------------

/// otlp_logs_to_jsonl(payload: bytes, received_ns: int) -> tuple[dict[str, bytes], int, int, str]
///
/// Convert a serialized OTLP ExportLogsServiceRequest to canonical records as JSON lines, one
/// buffer per service (in order of first appearance), exactly as
/// ``to_json_lines(convert_request(ExportLogsServiceRequest.FromString(payload), received_ns))``.
/// Returns (lines by service, accepted, rejected, first error). ``received_ns`` stands in for a
/// record's missing observed time. Raises ValueError when the payload is not a valid request.
/// The GIL is released while converting.
#[pyfunction]
pub fn otlp_logs_to_jsonl<'py>(
    py: Python<'py>,
    payload: &Bound<'py, PyBytes>,
    received_ns: i128,
) -> PyResult<(Bound<'py, PyDict>, u64, u64, String)> {
    let data: &[u8] = payload.as_bytes();
    let conversion = py
        .detach(|| convert(data, received_ns))
        .map_err(|e| PyValueError::new_err(format!("not a valid ExportLogsServiceRequest: {e}")))?;
    let by_service = PyDict::new(py);
    for service in &conversion.services {
        by_service.set_item(&service.service, PyBytes::new(py, &service.lines))?;
    }
    Ok((
        by_service,
        conversion.accepted,
        conversion.rejected,
        conversion.first_error,
    ))
}

/// Output buffers of `otlp_logs_to_jsonl_views`, reused once Python released the views of them: a request's
/// lines are hundreds of kilobytes, and fresh memory for each (then a copy into a `bytes`) costs more than
/// converting them.
static VIEW_POOL: std::sync::LazyLock<Pool> = std::sync::LazyLock::new(Pool::default);
/// At most this many buffers are kept (about the requests a service converts at once), ...
const VIEW_POOLED: usize = 16;
/// ... and none larger than this (a huge request's buffer is given back to the allocator).
const VIEW_POOLED_MAX_BYTES: usize = 4 << 20;

/// otlp_logs_to_jsonl_views(payload: bytes, received_ns: int) -> tuple[dict[str, memoryview], int, int, str]
///
/// ``otlp_logs_to_jsonl`` with each service's lines as a read-only memoryview of a buffer that is reused for a
/// later conversion once every view of it is released (copy it to keep it beyond that): no copy into a
/// ``bytes``, and no fresh memory per request.
#[pyfunction]
pub fn otlp_logs_to_jsonl_views<'py>(
    py: Python<'py>,
    payload: &Bound<'py, PyBytes>,
    received_ns: i128,
) -> PyResult<(Bound<'py, PyDict>, u64, u64, String)> {
    let data: &[u8] = payload.as_bytes();
    let pool: &Pool = &VIEW_POOL;
    let conversion = py
        .detach(|| convert_into(data, received_ns, &mut || pooled_buffer(pool)))
        .map_err(|e| PyValueError::new_err(format!("not a valid ExportLogsServiceRequest: {e}")))?;
    let by_service = PyDict::new(py);
    for service in conversion.services {
        let pooled = if service.lines.capacity() <= VIEW_POOLED_MAX_BYTES {
            VIEW_POOLED
        } else {
            0
        };
        let lines = Bound::new(py, JsonLines::new(service.lines, pool.clone(), pooled))?;
        by_service.set_item(&service.service, PyMemoryView::from(lines.as_any())?)?;
    }
    Ok((
        by_service,
        conversion.accepted,
        conversion.rejected,
        conversion.first_error,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_format_like_strftime() {
        assert_eq!(&format_second(0), b"1970-01-01T00:00:00");
        assert_eq!(&format_second(951_782_400), b"2000-02-29T00:00:00");
        assert_eq!(&format_second(253_402_300_799), b"9999-12-31T23:59:59");
        assert_eq!(&format_second(1_700_000_000), b"2023-11-14T22:13:20");
    }

    #[test]
    fn over_long_varint_keeps_low_bits() {
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02], 0);
        assert_eq!(r.varint(10, "v").unwrap(), i64::MAX as u64);
        let mut r = Reader::new(&[0xff; 11], 0);
        assert!(r.varint(10, "v").is_err());
    }

    #[test]
    fn repr_quotes_like_python() {
        assert_eq!(py_repr("a'b"), "\"a'b\"");
        assert_eq!(py_repr("a'b\""), "'a\\'b\"'");
        assert_eq!(py_repr("x\ny\u{1}"), "'x\\ny\\x01'");
    }
}
