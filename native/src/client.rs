//! The app side's hot paths: the redaction pre-check and a batch of log entries -> one OTLP request.
//!
//! - `TriggerScan`: does any trigger of the redaction rules occur in an ASCII text (case-insensitively)?
//!   Exactly what `Redactor`'s trigger regex answers on the lower-cased text (the Python reference,
//!   `otel_logging/record/redaction.py`); None for a text that is not ASCII (Python decides).
//! - `encode_entries`: a batch of the app side's compact entries (`otel_logging/client/entry.py`) ->
//!   a serialized `ExportLogsServiceRequest`, byte-for-byte what `BatchEncoder.encode_python` (protobuf's
//!   upb) makes; None for a batch holding anything it does not encode the same way (an SDK scope, a value of
//!   another type, an int beyond int64, an empty map or list, a string that is not UTF-8): Python encodes it.

use std::collections::HashMap;

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

/// The redaction triggers of one `Redactor`: literals (lower-case ASCII) and the two built-in patterns.
#[pyclass(frozen)]
pub struct TriggerScan {
    /// literals by their first byte
    by_first: Vec<Vec<Vec<u8>>>,
    /// bit `first << 8 | second` set when a literal starts with these two bytes: most positions of a text
    /// start no literal, and this answers that with one lookup instead of a comparison per literal
    pairs: Box<[u64; 1024]>,
    /// first bytes of one-byte literals (no second byte to look up)
    single: [bool; 256],
    /// `[0-9]\d{3}[ -]?\d{4}` (the card number rule's trigger)
    digits: bool,
    /// `sk[0-9a-f]{32}` (the Twilio rule's trigger)
    sk_hex: bool,
}

impl TriggerScan {
    fn digits_at(text: &[u8], i: usize) -> bool {
        let rest = &text[i..];
        if rest.len() < 8 || !rest[..4].iter().all(u8::is_ascii_digit) {
            return false;
        }
        if rest[4..8].iter().all(u8::is_ascii_digit) {
            return true;
        }
        (rest[4] == b' ' || rest[4] == b'-') && rest.len() >= 9 && rest[5..9].iter().all(u8::is_ascii_digit)
    }

    /// `sk[0-9a-f]{32}` in the lower-cased text: `sk` and 32 hex digits of either case in the text.
    fn sk_hex_at(text: &[u8], i: usize) -> bool {
        let rest = &text[i..];
        rest.len() >= 34
            && rest[0].eq_ignore_ascii_case(&b's')
            && rest[1].eq_ignore_ascii_case(&b'k')
            && rest[2..34].iter().all(u8::is_ascii_hexdigit)
    }

    #[inline]
    fn may_start(&self, text: &[u8], i: usize, first: u8) -> bool {
        match text.get(i + 1) {
            Some(&second) => {
                let pair = (first as usize) << 8 | second.to_ascii_lowercase() as usize;
                self.pairs[pair >> 6] & (1u64 << (pair & 63)) != 0 || self.single[first as usize]
            }
            None => !self.by_first[first as usize].is_empty(),
        }
    }

    pub fn scan(&self, text: &[u8]) -> bool {
        for i in 0..text.len() {
            let first = text[i].to_ascii_lowercase();
            let literals: &[Vec<u8>] = if self.may_start(text, i, first) {
                &self.by_first[first as usize]
            } else {
                &[]
            };
            for literal in literals {
                let end = i + literal.len();
                if end <= text.len()
                    && text[i + 1..end]
                        .iter()
                        .zip(&literal[1..])
                        .all(|(&b, &l)| b.to_ascii_lowercase() == l)
                {
                    return true;
                }
            }
            if self.digits && first.is_ascii_digit() && Self::digits_at(text, i) {
                return true;
            }
            if self.sk_hex && first == b's' && Self::sk_hex_at(text, i) {
                return true;
            }
        }
        false
    }
}

#[pymethods]
impl TriggerScan {
    #[new]
    fn new(literals: Vec<String>, digits: bool, sk_hex: bool) -> PyResult<Self> {
        let mut by_first: Vec<Vec<Vec<u8>>> = vec![Vec::new(); 256];
        let mut pairs = Box::new([0u64; 1024]);
        let mut single = [false; 256];
        for literal in literals {
            let bytes = literal.into_bytes();
            if bytes.is_empty() || !bytes.is_ascii() || bytes.iter().any(|b| b.is_ascii_uppercase()) {
                return Err(pyo3::exceptions::PyValueError::new_err(
                    "triggers are non-empty lower-case ASCII literals",
                ));
            }
            match bytes.get(1) {
                Some(&second) => {
                    let pair = (bytes[0] as usize) << 8 | second as usize;
                    pairs[pair >> 6] |= 1u64 << (pair & 63);
                }
                None => single[bytes[0] as usize] = true,
            }
            by_first[bytes[0] as usize].push(bytes);
        }
        Ok(TriggerScan {
            by_first,
            pairs,
            single,
            digits,
            sk_hex,
        })
    }

    /// True when a trigger occurs in ``text`` (case-insensitively), None when ``text`` is not ASCII.
    fn hit(&self, text: &Bound<'_, PyString>) -> PyResult<Option<bool>> {
        let Ok(text) = text.to_str() else {
            return Ok(None);
        };
        let bytes = text.as_bytes();
        if !bytes.is_ascii() {
            return Ok(None);
        }
        Ok(Some(self.scan(bytes)))
    }
}

// --- protobuf writing -------------------------------------------------------------------------------

const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;
const FIXED32: u32 = 5;

#[inline]
fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

#[inline]
fn put_tag(out: &mut Vec<u8>, field: u32, wire: u32) {
    put_varint(out, u64::from((field << 3) | wire));
}

#[inline]
fn put_bytes(out: &mut Vec<u8>, field: u32, data: &[u8]) {
    put_tag(out, field, LEN);
    put_varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

/// Put the tag and length of a nested message whose content was written from ``start`` on.
fn close_nested(out: &mut Vec<u8>, field: u32, start: usize) {
    // tag and length, at most 5 + 10 bytes, written on the stack (no allocation per nested message)
    let mut header = [0u8; 15];
    let mut n = 0;
    for mut value in [u64::from((field << 3) | LEN), (out.len() - start) as u64] {
        while value >= 0x80 {
            header[n] = (value as u8) | 0x80;
            n += 1;
            value >>= 7;
        }
        header[n] = value as u8;
        n += 1;
    }
    out.splice(start..start, header[..n].iter().copied());
}

/// Not encoded here: the batch goes to the Python encoder.
struct Unsupported;

type Encoded<T> = Result<T, Unsupported>;

fn str_of<'a>(value: &'a Bound<'_, PyAny>) -> Encoded<&'a str> {
    // the caller checked the exact type
    let s = unsafe { value.cast_unchecked::<PyString>() };
    s.to_str().map_err(|_| Unsupported)
}

/// The content of an AnyValue (its oneof field), as `set_any_value` fills it.
fn put_any_value(out: &mut Vec<u8>, value: &Bound<'_, PyAny>, depth: u32) -> Encoded<()> {
    if depth > 64 {
        return Err(Unsupported);
    }
    if value.is_exact_instance_of::<PyString>() {
        put_bytes(out, 1, str_of(value)?.as_bytes());
    } else if value.is_exact_instance_of::<PyBool>() {
        put_tag(out, 2, VARINT);
        put_varint(out, u64::from(value.is_truthy().map_err(|_| Unsupported)?));
    } else if value.is_exact_instance_of::<PyInt>() {
        let int: i64 = value.extract().map_err(|_| Unsupported)?;
        put_tag(out, 3, VARINT);
        put_varint(out, int as u64);
    } else if value.is_exact_instance_of::<PyFloat>() {
        let float: f64 = value.extract().map_err(|_| Unsupported)?;
        put_tag(out, 4, FIXED64);
        out.extend_from_slice(&float.to_le_bytes());
    } else if value.is_none() {
    } else if value.is_exact_instance_of::<PyBytes>() {
        let bytes = unsafe { value.cast_unchecked::<PyBytes>() };
        put_bytes(out, 7, bytes.as_bytes());
    } else if value.is_exact_instance_of::<PyDict>() {
        let dict = unsafe { value.cast_unchecked::<PyDict>() };
        if dict.is_empty() {
            return Err(Unsupported);
        }
        let start = out.len();
        put_key_values(out, 1, dict, depth + 1)?;
        close_nested(out, 6, start);
    } else if value.is_exact_instance_of::<PyList>() || value.is_exact_instance_of::<PyTuple>() {
        let start = out.len();
        let mut count = 0;
        for item in value.try_iter().map_err(|_| Unsupported)? {
            let item = item.map_err(|_| Unsupported)?;
            let at = out.len();
            put_any_value(out, &item, depth + 1)?;
            close_nested(out, 1, at);
            count += 1;
        }
        if count == 0 {
            return Err(Unsupported);
        }
        close_nested(out, 5, start);
    } else {
        return Err(Unsupported);
    }
    Ok(())
}

/// ``field``: repeated KeyValue, one per item of ``dict`` (str keys only).
fn put_key_values(out: &mut Vec<u8>, field: u32, dict: &Bound<'_, PyDict>, depth: u32) -> Encoded<()> {
    for (key, value) in dict.iter() {
        if !key.is_exact_instance_of::<PyString>() {
            return Err(Unsupported);
        }
        let start = out.len();
        let key = str_of(&key)?;
        if !key.is_empty() {
            put_bytes(out, 1, key.as_bytes());
        }
        if !value.is_none() {
            let at = out.len();
            put_any_value(out, &value, depth)?;
            close_nested(out, 2, at);
        }
        close_nested(out, field, start);
    }
    Ok(())
}

fn put_record(out: &mut Vec<u8>, entry: &Bound<'_, PyTuple>) -> Encoded<()> {
    if entry.len() != 11 {
        return Err(Unsupported);
    }
    let item = |i: usize| entry.get_item(i).map_err(|_| Unsupported);
    let time_ns: u64 = item(0)?.extract().map_err(|_| Unsupported)?;
    let observed_ns: u64 = item(1)?.extract().map_err(|_| Unsupported)?;
    let number: i32 = item(2)?.extract().map_err(|_| Unsupported)?;
    let text = item(3)?;
    let body = item(4)?;
    let attributes = item(5)?;
    let trace_id: u128 = item(6)?.extract().map_err(|_| Unsupported)?;
    let span_id: u64 = item(7)?.extract().map_err(|_| Unsupported)?;
    let flags: u32 = item(8)?.extract().map_err(|_| Unsupported)?;
    let event = item(10)?;
    if time_ns != 0 {
        put_tag(out, 1, FIXED64);
        out.extend_from_slice(&time_ns.to_le_bytes());
    }
    if number != 0 {
        put_tag(out, 2, VARINT);
        put_varint(out, i64::from(number) as u64);
    }
    if !text.is_exact_instance_of::<PyString>() {
        return Err(Unsupported);
    }
    let text = str_of(&text)?;
    if !text.is_empty() {
        put_bytes(out, 3, text.as_bytes());
    }
    if !body.is_none() {
        let start = out.len();
        put_any_value(out, &body, 0)?;
        close_nested(out, 5, start);
    }
    if !attributes.is_none() {
        if !attributes.is_exact_instance_of::<PyDict>() {
            return Err(Unsupported);
        }
        let dict = unsafe { attributes.cast_unchecked::<PyDict>() };
        put_key_values(out, 6, dict, 0)?;
    }
    if trace_id != 0 {
        if flags != 0 {
            put_tag(out, 8, FIXED32);
            out.extend_from_slice(&flags.to_le_bytes());
        }
        put_bytes(out, 9, &trace_id.to_be_bytes());
        put_bytes(out, 10, &span_id.to_be_bytes());
    }
    if observed_ns != 0 {
        put_tag(out, 11, FIXED64);
        out.extend_from_slice(&observed_ns.to_le_bytes());
    }
    if !event.is_none() {
        if !event.is_exact_instance_of::<PyString>() {
            return Err(Unsupported);
        }
        let event = str_of(&event)?;
        if !event.is_empty() {
            put_bytes(out, 12, event.as_bytes());
        }
    }
    Ok(())
}

fn encode(resource: &[u8], schema_url: &str, entries: &Bound<'_, PyList>) -> Encoded<Vec<u8>> {
    // scopes in order of first appearance, each with its records' encoded bytes
    let mut scopes: Vec<(String, Vec<u8>)> = Vec::new();
    let mut index_of: HashMap<String, usize> = HashMap::new();
    let mut last = usize::MAX;
    for entry in entries.iter() {
        if !entry.is_exact_instance_of::<PyTuple>() {
            return Err(Unsupported);
        }
        let entry = unsafe { entry.cast_unchecked::<PyTuple>() };
        let scope = entry.get_item(9).map_err(|_| Unsupported)?;
        if !scope.is_exact_instance_of::<PyString>() {
            return Err(Unsupported);
        }
        let scope = str_of(&scope)?;
        let index = if last != usize::MAX && scopes[last].0 == scope {
            last
        } else if let Some(&found) = index_of.get(scope) {
            found
        } else {
            index_of.insert(scope.to_owned(), scopes.len());
            scopes.push((scope.to_owned(), Vec::with_capacity(4096)));
            scopes.len() - 1
        };
        last = index;
        let records = &mut scopes[index].1;
        let start = records.len();
        put_record(records, entry)?;
        close_nested(records, 2, start);
    }
    let size = resource.len() + scopes.iter().map(|(n, r)| n.len() + r.len() + 16).sum::<usize>() + 32;
    let mut out = Vec::with_capacity(size);
    put_bytes(&mut out, 1, resource);
    for (name, records) in &scopes {
        let start = out.len();
        // InstrumentationScope { name }: present even with an empty name
        put_tag(&mut out, 1, LEN);
        if name.is_empty() {
            put_varint(&mut out, 0);
        } else {
            let mut scope = Vec::with_capacity(name.len() + 4);
            put_bytes(&mut scope, 1, name.as_bytes());
            put_varint(&mut out, scope.len() as u64);
            out.extend_from_slice(&scope);
        }
        out.extend_from_slice(records);
        close_nested(&mut out, 2, start);
    }
    if !schema_url.is_empty() {
        put_bytes(&mut out, 3, schema_url.as_bytes());
    }
    close_nested(&mut out, 1, 0);
    Ok(out)
}

/// A batch of entries -> a serialized ExportLogsServiceRequest with one ResourceLogs (``resource``: the
/// serialized Resource); None when the batch holds something the Python encoder must encode.
#[pyfunction]
pub fn encode_entries<'py>(
    py: Python<'py>,
    resource: &Bound<'py, PyBytes>,
    schema_url: &str,
    entries: &Bound<'py, PyList>,
) -> Option<Bound<'py, PyBytes>> {
    encode(resource.as_bytes(), schema_url, entries)
        .ok()
        .map(|out| PyBytes::new(py, &out))
}

// --- a stdlib LogRecord -> the handler's entry ---------------------------------------------------------

/// The handler's fast path for the common record: exactly ``OtelLoggingHandler._entry(record)`` (its Python
/// reference) but the observed time, or None for a record that needs anything else (a LogRecord subclass,
/// a message that is not a str, ``exc_info``, an ``extra`` value that is not a str/int/float/bool, an event
/// name, a key or text the redactor has to look at, a current span, an unknown level): Python builds that one.
#[pyclass(frozen)]
pub struct EntryMaker {
    record_type: Py<PyAny>,
    init_count: usize,
    standard: Py<PyAny>,
    /// with redaction: its pre-check and its cache of key names (key -> sensitive)
    scan: Option<Py<TriggerScan>>,
    key_cache: Option<Py<PyDict>>,
    severities: Py<PyDict>,
}

/// ``None`` from a step: the record goes to Python.
macro_rules! need {
    ($cond:expr) => {
        if !$cond {
            return Ok(None);
        }
    };
}

fn ascii_clean(scan: &TriggerScan, text: &Bound<'_, PyAny>) -> bool {
    match str_of(text) {
        Ok(text) => text.is_ascii() && !scan.scan(text.as_bytes()),
        Err(_) => false,
    }
}

#[pymethods]
impl EntryMaker {
    #[new]
    #[pyo3(signature = (record_type, init_count, standard, severities, scan=None, key_cache=None))]
    fn new(
        record_type: Py<PyAny>,
        init_count: usize,
        standard: Py<PyAny>,
        severities: Py<PyDict>,
        scan: Option<Py<TriggerScan>>,
        key_cache: Option<Py<PyDict>>,
    ) -> PyResult<Self> {
        if scan.is_some() != key_cache.is_some() {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "scan and key_cache go together (redaction on) or are both None",
            ));
        }
        Ok(EntryMaker {
            record_type,
            init_count,
            standard,
            scan,
            key_cache,
            severities,
        })
    }

    /// The entry of ``record`` (observed time: now), or None when Python must build it.
    fn make<'py>(&self, py: Python<'py>, record: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        need!(record.get_type().is(&self.record_type));
        let fields = record.getattr(pyo3::intern!(py, "__dict__"))?;
        need!(fields.is_exact_instance_of::<PyDict>());
        let fields = unsafe { fields.cast_unchecked::<PyDict>() };
        let get = |name: &Bound<'py, PyString>| fields.get_item(name);
        let Some(exc_info) = get(pyo3::intern!(py, "exc_info"))? else {
            return Ok(None);
        };
        need!(!exc_info.is_truthy()?);
        let (Some(msg), Some(args)) = (get(pyo3::intern!(py, "msg"))?, get(pyo3::intern!(py, "args"))?) else {
            return Ok(None);
        };
        need!(msg.is_exact_instance_of::<PyString>());
        // The checks that cost nothing first: a record left to Python must not have had its message formatted.
        // Trace context: the injection found no span.
        let Some(trace) = get(pyo3::intern!(py, "otelTraceID"))? else {
            return Ok(None);
        };
        need!(trace.is_exact_instance_of::<PyString>() && str_of(&trace).is_ok_and(|t| t == "0"));
        let (Some(levelno), Some(levelname)) =
            (get(pyo3::intern!(py, "levelno"))?, get(pyo3::intern!(py, "levelname"))?)
        else {
            return Ok(None);
        };
        let Some(severity) = self.severities.bind(py).get_item((levelno, levelname))? else {
            return Ok(None);
        };
        need!(severity.is_exact_instance_of::<PyTuple>());
        let severity = unsafe { severity.cast_unchecked::<PyTuple>() };
        need!(severity.len() == 2);
        let (Some(created), Some(name)) = (get(pyo3::intern!(py, "created"))?, get(pyo3::intern!(py, "name"))?) else {
            return Ok(None);
        };
        need!(created.is_exact_instance_of::<PyFloat>() && name.is_exact_instance_of::<PyString>());
        let created: f64 = created.extract()?;
        let time = created * 1e9;
        need!(time.is_finite() && time.abs() < 9.0e18);
        let time = time as i64; // int(): toward zero
        let body = if args.is_truthy()? {
            // getMessage(): str(msg) % args, for a str msg
            unsafe { Bound::from_owned_ptr_or_err(py, pyo3::ffi::PyUnicode_Format(msg.as_ptr(), args.as_ptr()))? }
        } else {
            msg
        };
        let scan = self.scan.as_ref().map(|scan| scan.get());
        if let Some(scan) = scan {
            need!(ascii_clean(scan, &body));
        }
        let attributes = if fields.len() > self.init_count {
            let standard = self.standard.bind(py);
            let key_cache = self.key_cache.as_ref().map(|cache| cache.bind(py));
            let out = PyDict::new(py);
            for (key, value) in fields.iter().skip(self.init_count) {
                if standard.contains(&key)? {
                    continue;
                }
                need!(key.is_exact_instance_of::<PyString>());
                let is_str = value.is_exact_instance_of::<PyString>();
                need!(
                    is_str
                        || value.is_exact_instance_of::<PyInt>()
                        || value.is_exact_instance_of::<PyFloat>()
                        || value.is_exact_instance_of::<PyBool>()
                );
                let name = str_of(&key).map_err(|_| pyo3::exceptions::PyValueError::new_err("key"))?;
                need!(name != "otel.event.name" && name != "event.name");
                if let (Some(scan), Some(cache)) = (scan, key_cache) {
                    let known = cache.get_item(&key)?;
                    need!(known.is_some_and(|k| k.is_exact_instance_of::<PyBool>() && !k.is_truthy().unwrap_or(true)));
                    if is_str {
                        need!(ascii_clean(scan, &value));
                    }
                }
                out.set_item(key, value)?;
            }
            if out.is_empty() {
                py.None().into_bound(py)
            } else {
                out.into_any()
            }
        } else {
            py.None().into_bound(py)
        };
        let observed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        let zero = 0i64.into_pyobject(py)?.into_any();
        let items: [Bound<'py, PyAny>; 11] = [
            time.into_pyobject(py)?.into_any(),
            observed.into_pyobject(py)?.into_any(),
            severity.get_item(0)?,
            severity.get_item(1)?,
            body,
            attributes,
            zero.clone(),
            zero.clone(),
            zero,
            name,
            py.None().into_bound(py),
        ];
        Ok(Some(PyTuple::new(py, items)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(literals: &[&str], text: &str) -> bool {
        TriggerScan::new(literals.iter().map(|s| s.to_string()).collect(), true, true)
            .unwrap()
            .scan(text.as_bytes())
    }

    #[test]
    fn one_byte_literals_and_literals_at_the_end() {
        assert!(scan(&["x"], "abX"));
        assert!(scan(&["x"], "Xab"));
        assert!(!scan(&["x"], "abc"));
        assert!(scan(&["pwd"], "the PWD"));
        assert!(!scan(&["pwd"], "the pw"));
        assert!(scan(&["a-", ":"], "z:"));
        assert!(scan(&["ab", "ac"], "zzAC"));
        assert!(!scan(&["ab", "ac"], "zzad"));
    }

    #[test]
    fn literals_digits_and_hex() {
        assert!(scan(&["password"], "my PassWord is"));
        assert!(!scan(&["password"], "my passwor"));
        assert!(scan(&[], "card 4111 1111 1111"));
        assert!(scan(&[], "12345678"));
        assert!(!scan(&[], "1234 567"));
        assert!(scan(&[], "SK0123456789abcdef0123456789ABCDEF"));
        // 31 hex digits after sk (no run of 8 digits either: that is the card-number trigger)
        assert!(!scan(&[], "sk0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0"));
        assert!(scan(&[], "sk0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a"));
    }

    #[test]
    fn varints() {
        let mut out = Vec::new();
        put_varint(&mut out, 300);
        assert_eq!(out, vec![0xac, 0x02]);
    }
}
