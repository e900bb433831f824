//! `es_bulk`: the Elasticsearch sink's bulk body, built from the queue's JSON lines.
//!
//! The Python reference is `ElasticsearchDelivery._encode_line` (otel_logging/sinks/elasticsearch.py): for each
//! line whose service is known and whose `body` is text (`_text_body`), the `create` action with the line's
//! data stream and id (`_document_id`, or `legacy_document_id_bytes` for lines of a version with hash-only ids)
//! followed by the line itself. Every other line (a structured body, an unknown service, not bytes) is left to
//! Python. The ids are hashed and the body written without the GIL.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use blake2::digest::{Update, VariableOutput};
use blake2::Blake2bVar;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

const BODY_KEY: &[u8] = b",\"body\":";
const TIMESTAMP_KEY: &[u8] = b"{\"@timestamp\":\"";

/// `_text_body`: the top-level `body` of the line is a string or null, told from its bytes (only for a line with
/// no object or array before its `,"body":` key).
pub fn text_body(line: &[u8]) -> bool {
    let Some(at) = memchr::memmem::find(line, BODY_KEY) else {
        return false;
    };
    if line.first() != Some(&b'{') || memchr::memchr2(b'{', b'[', &line[1..at.max(1)]).is_some() {
        return false;
    }
    let value = &line[at + BODY_KEY.len()..];
    value.first() == Some(&b'"') || value.starts_with(b"null")
}

/// `_time_prefix`: the digits `YYYYMMDDhhmmssmmm` of the line's leading `"@timestamp"` as a big-endian u64
/// (zeros for a line that does not start so).
pub fn time_prefix(line: &[u8]) -> [u8; 8] {
    if !line.starts_with(TIMESTAMP_KEY) {
        return [0; 8];
    }
    let text = &line[15..line.len().min(38)];
    let mut value: u64 = 0;
    let mut digits = 0;
    for &c in text {
        match c {
            b'-' | b'T' | b':' | b'.' => {}
            b'0'..=b'9' => {
                digits += 1;
                if digits > 17 {
                    return [0; 8];
                }
                value = value * 10 + u64::from(c - b'0');
            }
            _ => return [0; 8],
        }
    }
    if digits == 17 {
        value.to_be_bytes()
    } else {
        [0; 8]
    }
}

fn blake2b(line: &[u8], out: &mut [u8]) {
    let mut hasher = Blake2bVar::new(out.len()).expect("a digest size of 1-64 bytes");
    hasher.update(line);
    hasher.finalize_variable(out).expect("the output sized as asked");
}

/// The document id of a line without its newline, as written into the bulk header: 24 URL-safe base64
/// characters of the time prefix and a 10-byte BLAKE2b of the line, or (legacy) 22 of a 16-byte BLAKE2b.
pub fn document_id(line: &[u8], legacy: bool, out: &mut Vec<u8>) {
    let mut raw = [0u8; 18];
    let raw: &[u8] = if legacy {
        blake2b(line, &mut raw[..16]);
        &raw[..16]
    } else {
        raw[..8].copy_from_slice(&time_prefix(line));
        blake2b(line, &mut raw[8..]);
        &raw[..]
    };
    let start = out.len();
    out.resize(start + 24, 0);
    let written = URL_SAFE_NO_PAD
        .encode_slice(raw, &mut out[start..])
        .expect("24 bytes hold 18 encoded");
    out.truncate(start + written);
}

/// Append the `create` action and the line (without its newline) of one document.
pub fn write_document(out: &mut Vec<u8>, index: &[u8], line: &[u8], legacy: bool) {
    out.extend_from_slice(b"{\"create\":{\"_index\":");
    out.extend_from_slice(index);
    out.extend_from_slice(b",\"_id\":\"");
    document_id(line, legacy, out);
    out.extend_from_slice(b"\"}}\n");
    out.extend_from_slice(line);
    out.push(b'\n');
}

/// ``es_bulk_body(lines, services, start, end, indexes, legacy)``: the bulk body of the lines of
/// ``lines[start:end]`` it can write as they are, the indexes of those lines (in the body's order), and the
/// indexes of the others, left to Python (in order). ``services[i]`` is the service of ``lines[i]``,
/// ``indexes[service]`` the JSON string (bytes) of its data stream; a line whose service is None or not in
/// ``indexes``, or whose body is not text, is left to Python.
#[pyfunction]
pub fn es_bulk_body<'py>(
    py: Python<'py>,
    lines: &Bound<'py, PyList>,
    services: &Bound<'py, PyList>,
    start: usize,
    end: usize,
    indexes: &Bound<'py, PyDict>,
    legacy: bool,
) -> PyResult<(Bound<'py, PyBytes>, Vec<usize>, Vec<usize>)> {
    let end = end.min(lines.len());
    let mut held: Vec<(usize, Bound<'py, PyBytes>, Bound<'py, PyBytes>)> =
        Vec::with_capacity(end.saturating_sub(start));
    let mut rest: Vec<usize> = Vec::new();
    for i in start..end {
        let line = lines.get_item(i)?;
        let service = if i < services.len() {
            Some(services.get_item(i)?)
        } else {
            None
        };
        let index = match &service {
            Some(service) if !service.is_none() => indexes.get_item(service)?,
            _ => None,
        };
        match (
            line.cast_into::<PyBytes>(),
            index.map(|index| index.cast_into::<PyBytes>()),
        ) {
            (Ok(line), Some(Ok(index))) => held.push((i, line, index)),
            _ => rest.push(i),
        }
    }
    let docs: Vec<(usize, &[u8], &[u8])> = held
        .iter()
        .map(|(i, line, index)| (*i, line.as_bytes(), index.as_bytes()))
        .collect();
    // without the GIL: the bytes objects stay as they are while `held` holds them
    let (body, sent, textless) = py.detach(|| {
        let size: usize = docs.iter().map(|(_, line, index)| line.len() + index.len() + 64).sum();
        let mut body = Vec::with_capacity(size);
        let mut sent = Vec::with_capacity(docs.len());
        let mut textless = Vec::new();
        for &(i, line, index) in &docs {
            let line = line.strip_suffix(b"\n").unwrap_or(line);
            if text_body(line) {
                write_document(&mut body, index, line, legacy);
                sent.push(i);
            } else {
                textless.push(i);
            }
        }
        (body, sent, textless)
    });
    if !textless.is_empty() {
        rest.extend(textless);
        rest.sort_unstable();
    }
    Ok((PyBytes::new(py, &body), sent, rest))
}

/// ``es_document_id(line, legacy)``: the id ``es_bulk_body`` writes for a line (without its newline): the
/// parity tests' entry.
#[pyfunction]
pub fn es_document_id<'py>(py: Python<'py>, line: &[u8], legacy: bool) -> Bound<'py, PyBytes> {
    let mut out = Vec::with_capacity(24);
    document_id(line, legacy, &mut out);
    PyBytes::new(py, &out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_bodies() {
        assert!(text_body(br#"{"@timestamp":"x","body":"hi"}"#));
        assert!(text_body(br#"{"a":1,"body":null}"#));
        assert!(!text_body(br#"{"a":{"b":1},"body":"hi"}"#));
        assert!(!text_body(br#"{"a":1,"body":{"k":1}}"#));
        assert!(!text_body(br#","body":"x""#));
        assert!(!text_body(br#"{"a":1}"#));
    }

    #[test]
    fn time_prefixes() {
        let line = br#"{"@timestamp":"2026-11-25T01:45:00.377123456Z","body":"x"}"#;
        assert_eq!(u64::from_be_bytes(time_prefix(line)), 20261125014500377);
        assert_eq!(time_prefix(br#"{"@timestamp":"2026-11-25"}"#), [0; 8]);
        assert_eq!(time_prefix(br#"{"body":"x"}"#), [0; 8]);
    }

    #[test]
    fn ids_are_24_and_22_characters() {
        let mut out = Vec::new();
        document_id(b"{}", false, &mut out);
        assert_eq!(out.len(), 24);
        out.clear();
        document_id(b"{}", true, &mut out);
        assert_eq!(out.len(), 22);
    }
}
