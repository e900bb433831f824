//! Aggregation's redaction pre-check: which canonical records (JSON lines) might hold a secret?
//!
//! `RecordScan.suspects(lines)` walks each line's raw JSON (no decoding) and names the lines that the full
//! path (`orjson.loads` + `BatchRedactor.record`, `otel_logging/ingest/redact.py`) must see. The others are
//! ones that path would leave exactly as they are: in their `body` and `attributes` (but the values of the
//! aggregation's own attributes, at the top of `attributes`) no string holds a trigger of the redaction rules
//! (`TriggerScan` over the string's raw text) and no object key is a sensitive key name. The Python reference
//! is `otel_logging/ingest/line_scan.py` (`LineScan`); a line is suspect whenever the walk is unsure: a control
//! or non-ASCII byte or a `\u`/`\/` escape anywhere, a backslash in a key of `body` or `attributes` or at the
//! top, `attributes` that is not an object, anything that is not strict JSON.
//!
//! A raw string's text holds every run of its decoded text between escapes; the escapes it allows (`\"`, `\\`,
//! `\b`, `\f`, `\n`, `\r`, `\t`) stand for characters no trigger holds (checked by the caller), so a trigger in
//! the decoded text is in the raw text too. Extra hits (an escape's letter next to a trigger's start) only make
//! a line suspect.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

use crate::client::TriggerScan;

/// How deep objects and arrays may nest before a line is suspect (Python decides).
const MAX_DEPTH: usize = 64;

#[pyclass(frozen)]
pub struct RecordScan {
    scan: Py<TriggerScan>,
    /// sensitive key words, normalized (lower case, no separators)
    key_words: Vec<Vec<u8>>,
    /// the attributes whose values are not redacted (raw key text)
    own: Vec<Vec<u8>>,
}

/// Why a walk stops: the line is suspect.
struct Suspect;

type Walk<T> = Result<T, Suspect>;

struct Line<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Line<'a> {
    #[inline]
    fn ws(&mut self) {
        while self.at < self.b.len() && matches!(self.b[self.at], b' ' | b'\t' | b'\r') {
            self.at += 1;
        }
    }

    #[inline]
    fn eat(&mut self, c: u8) -> Walk<()> {
        if self.at < self.b.len() && self.b[self.at] == c {
            self.at += 1;
            Ok(())
        } else {
            Err(Suspect)
        }
    }

    #[inline]
    fn peek(&self) -> Walk<u8> {
        self.b.get(self.at).copied().ok_or(Suspect)
    }

    /// A string (at its opening quote): its raw text, and whether it has a backslash. Suspect at a `\u` or `\/`
    /// escape, anywhere in the line (`orjson.loads` would check it: Python decides).
    fn string(&mut self) -> Walk<(&'a [u8], bool)> {
        self.eat(b'"')?;
        let start = self.at;
        let b = self.b;
        let mut backslash = false;
        let mut i = start;
        loop {
            // the line has no control or non-ASCII byte (`suspect` checked)
            i += memchr::memchr2(b'"', b'\\', &b[i..]).ok_or(Suspect)?;
            if b[i] == b'"' {
                break;
            }
            backslash = true;
            match *b.get(i + 1).ok_or(Suspect)? {
                b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                _ => return Err(Suspect),
            }
        }
        self.at = i + 1;
        Ok((&b[start..i], backslash))
    }

    fn number(&mut self) -> Walk<()> {
        let b = self.b;
        if self.peek()? == b'-' {
            self.at += 1;
        }
        let digits = self.at;
        while self.at < b.len() && b[self.at].is_ascii_digit() {
            self.at += 1;
        }
        if self.at == digits || (self.at - digits > 1 && b[digits] == b'0') {
            return Err(Suspect);
        }
        if self.at < b.len() && b[self.at] == b'.' {
            self.at += 1;
            let fraction = self.at;
            while self.at < b.len() && b[self.at].is_ascii_digit() {
                self.at += 1;
            }
            if self.at == fraction {
                return Err(Suspect);
            }
        }
        if self.at < b.len() && matches!(b[self.at], b'e' | b'E') {
            self.at += 1;
            if self.at < b.len() && matches!(b[self.at], b'+' | b'-') {
                self.at += 1;
            }
            let exponent = self.at;
            while self.at < b.len() && b[self.at].is_ascii_digit() {
                self.at += 1;
            }
            if self.at == exponent {
                return Err(Suspect);
            }
        }
        Ok(())
    }

    fn word(&mut self, word: &[u8]) -> Walk<()> {
        if self.b[self.at..].starts_with(word) {
            self.at += word.len();
            Ok(())
        } else {
            Err(Suspect)
        }
    }
}

impl RecordScan {
    fn sensitive(&self, key: &[u8]) -> bool {
        // `_SEPARATORS` (whitespace, `_`, `-`, `.`) removed, lower-cased; a raw key here has no backslash and
        // is ASCII, so its only whitespace is a space.
        let normalized: Vec<u8> = key
            .iter()
            .filter(|c| !matches!(c, b' ' | b'_' | b'-' | b'.'))
            .map(u8::to_ascii_lowercase)
            .collect();
        self.key_words.iter().any(|word| normalized.ends_with(word))
    }

    /// A value whose strings are redacted (`Redactor.value`): `scan` says whether they are searched.
    fn content(&self, line: &mut Line<'_>, scan: &TriggerScan, depth: usize) -> Walk<()> {
        match line.peek()? {
            b'"' => {
                let (text, _) = line.string()?;
                if scan.scan(text) {
                    return Err(Suspect);
                }
                Ok(())
            }
            b'{' => self.object(line, scan, depth + 1, false),
            b'[' => {
                if depth + 1 > MAX_DEPTH {
                    return Err(Suspect);
                }
                line.at += 1;
                line.ws();
                if line.peek()? == b']' {
                    line.at += 1;
                    return Ok(());
                }
                loop {
                    line.ws();
                    self.content(line, scan, depth + 1)?;
                    line.ws();
                    match line.peek()? {
                        b',' => line.at += 1,
                        b']' => {
                            line.at += 1;
                            return Ok(());
                        }
                        _ => return Err(Suspect),
                    }
                }
            }
            _ => skip_scalar(line),
        }
    }

    /// An object of redacted content (`Redactor.mapping`); `attributes`: the record's attributes, whose own
    /// keys' values are not redacted.
    fn object(&self, line: &mut Line<'_>, scan: &TriggerScan, depth: usize, attributes: bool) -> Walk<()> {
        if depth > MAX_DEPTH {
            return Err(Suspect);
        }
        line.eat(b'{')?;
        line.ws();
        if line.peek()? == b'}' {
            line.at += 1;
            return Ok(());
        }
        loop {
            line.ws();
            let (key, backslash) = line.string()?;
            if backslash {
                return Err(Suspect);
            }
            line.ws();
            line.eat(b':')?;
            line.ws();
            if attributes && self.own.iter().any(|own| own.as_slice() == key) {
                skip(line, depth)?;
            } else {
                if self.sensitive(key) {
                    return Err(Suspect);
                }
                self.content(line, scan, depth)?;
            }
            line.ws();
            match line.peek()? {
                b',' => line.at += 1,
                b'}' => {
                    line.at += 1;
                    return Ok(());
                }
                _ => return Err(Suspect),
            }
        }
    }

    /// Whether the full path must see this line (its newline excluded).
    fn suspect(&self, b: &[u8], scan: &TriggerScan) -> bool {
        // no early exit: the loop vectorizes
        if b.iter().fold(false, |bad, &c| bad | (c.wrapping_sub(0x20) >= 0x60)) {
            return true; // a control byte (invalid in a string) or non-ASCII: Python decides
        }
        self.walk(&mut Line { b, at: 0 }, scan).is_err()
    }

    fn walk(&self, line: &mut Line<'_>, scan: &TriggerScan) -> Walk<()> {
        line.ws();
        line.eat(b'{')?;
        line.ws();
        if line.peek()? == b'}' {
            line.at += 1;
        } else {
            loop {
                line.ws();
                let (key, backslash) = line.string()?;
                if backslash {
                    return Err(Suspect); // an escaped key may read "body" or "attributes"
                }
                line.ws();
                line.eat(b':')?;
                line.ws();
                match key {
                    b"body" => self.content(line, scan, 1)?,
                    b"attributes" => {
                        if line.peek()? != b'{' {
                            return Err(Suspect); // not an object: Python decides
                        }
                        self.object(line, scan, 1, true)?
                    }
                    _ => skip(line, 1)?,
                }
                line.ws();
                match line.peek()? {
                    b',' => line.at += 1,
                    b'}' => {
                        line.at += 1;
                        break;
                    }
                    _ => return Err(Suspect),
                }
            }
        }
        line.ws();
        if line.at != line.b.len() {
            return Err(Suspect);
        }
        Ok(())
    }
}

fn skip_scalar(line: &mut Line<'_>) -> Walk<()> {
    match line.peek()? {
        b't' => line.word(b"true"),
        b'f' => line.word(b"false"),
        b'n' => line.word(b"null"),
        b'-' | b'0'..=b'9' => line.number(),
        _ => Err(Suspect),
    }
}

/// Any value, not searched (but it must be strict JSON).
fn skip(line: &mut Line<'_>, depth: usize) -> Walk<()> {
    match line.peek()? {
        b'"' => line.string().map(|_| ()),
        open @ (b'{' | b'[') => {
            if depth + 1 > MAX_DEPTH {
                return Err(Suspect);
            }
            let close = if open == b'{' { b'}' } else { b']' };
            line.at += 1;
            line.ws();
            if line.peek()? == close {
                line.at += 1;
                return Ok(());
            }
            loop {
                line.ws();
                if open == b'{' {
                    line.string()?;
                    line.ws();
                    line.eat(b':')?;
                    line.ws();
                }
                skip(line, depth + 1)?;
                line.ws();
                let c = line.peek()?;
                line.at += 1;
                if c == close {
                    return Ok(());
                }
                if c != b',' {
                    return Err(Suspect);
                }
            }
        }
        _ => skip_scalar(line),
    }
}

#[pymethods]
impl RecordScan {
    /// ``RecordScan(scan, key_words, own)``: ``scan`` the rules' `TriggerScan`, ``key_words`` the normalized
    /// sensitive key words, ``own`` the attribute keys whose values are not redacted.
    #[new]
    fn new(scan: Py<TriggerScan>, key_words: Vec<String>, own: Vec<String>) -> Self {
        RecordScan {
            scan,
            key_words: key_words.into_iter().map(String::into_bytes).collect(),
            own: own.into_iter().map(String::into_bytes).collect(),
        }
    }

    /// The suspect lines of ``lines`` (JSON lines, each ending with a newline) as ``(index, start, end)`` (the
    /// line is ``lines[start:end]``, without its newline); None when ``lines`` does not end with a newline.
    fn suspects<'py>(&self, py: Python<'py>, lines: &Bound<'py, PyBytes>) -> PyResult<Option<Bound<'py, PyList>>> {
        let data = lines.as_bytes();
        if !data.is_empty() && data[data.len() - 1] != b'\n' {
            return Ok(None);
        }
        let scan = self.scan.get();
        // without the GIL: the bytes object stays as it is while `lines` holds it
        let found: Vec<(usize, usize, usize)> = py.detach(|| {
            let mut found = Vec::new();
            let mut start = 0;
            let mut index = 0usize;
            while start < data.len() {
                let end = start + memchr::memchr(b'\n', &data[start..]).unwrap_or(data.len() - start);
                if self.suspect(&data[start..end], scan) {
                    found.push((index, start, end));
                }
                index += 1;
                start = end + 1;
            }
            found
        });
        let out = PyList::empty(py);
        for (index, start, end) in found {
            out.append(PyTuple::new(py, [index, start, end])?)?;
        }
        Ok(Some(out))
    }

    /// Whether the full path must see ``line`` (one JSON line without its newline): the parity tests' entry.
    fn suspect_line(&self, line: &Bound<'_, PyBytes>) -> bool {
        self.suspect(line.as_bytes(), self.scan.get())
    }
}
