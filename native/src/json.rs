//! A small JSON writer whose output is byte-for-byte what `orjson.dumps` produces.
//!
//! orjson writes compact JSON (no spaces), keeps non-ASCII characters as UTF-8, escapes `"`,
//! `\` and the control characters below U+0020 (as `\b \t \n \f \r` or `\u00xx` with lower-case
//! hex), writes integers in decimal, finite floats in their shortest round-trip form (the `zmij`
//! crate, which orjson itself uses: `1.0`, `1e+16`, `1e-7`, `0.00001`) and NaN/±inf as `null`.

/// What follows a backslash for each byte below 0x20, `"` and `\`; `u` means `\u00xx`, 0 means "as is".
static ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = b'u';
        i += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";

/// The two lower-case hex digits of each byte.
static HEX_PAIRS: [[u8; 2]; 256] = {
    let mut table = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = [HEX_LOWER[i >> 4], HEX_LOWER[i & 0xf]];
        i += 1;
    }
    table
};

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Whether any of the 8 bytes of `word` is below 0x20, `"` or `\\` (may say so for a byte >= 0x80
/// next to one that is: the caller then looks at each byte).
#[inline(always)]
fn needs_escape(word: u64) -> bool {
    let below_space = word.wrapping_sub(ONES * 0x20);
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let zero_quote = quote.wrapping_sub(ONES) & !quote;
    let zero_backslash = backslash.wrapping_sub(ONES) & !backslash;
    ((below_space & !word) | zero_quote | zero_backslash) & HIGHS != 0
}

/// Append `s` as a JSON string (with the quotes).
#[inline]
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    // Most strings need no escape: skip 8 bytes at a time while none of them does.
    let mut clean = 0;
    while clean + 8 <= bytes.len() {
        let word = u64::from_le_bytes(bytes[clean..clean + 8].try_into().expect("8 bytes"));
        if needs_escape(word) {
            break;
        }
        clean += 8;
    }
    if clean + 8 > bytes.len() {
        // The last 1-7 bytes (or none) as one word, padded with a byte that needs no escape.
        let mut tail = [b'a'; 8];
        tail[..bytes.len() - clean].copy_from_slice(&bytes[clean..]);
        if !needs_escape(u64::from_le_bytes(tail)) {
            clean = bytes.len();
        }
    }
    if clean == bytes.len() {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate().skip(clean) {
        let escape = ESCAPE[b as usize];
        if escape == 0 {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        if escape == b'u' {
            out.extend_from_slice(b"\\u00");
            out.push(HEX_LOWER[(b >> 4) as usize]);
            out.push(HEX_LOWER[(b & 0xf) as usize]);
        } else {
            out.push(b'\\');
            out.push(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[inline]
pub fn write_i64(out: &mut Vec<u8>, value: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

#[inline]
pub fn write_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

#[inline]
pub fn write_f64(out: &mut Vec<u8>, value: f64) {
    if value.is_finite() {
        out.extend_from_slice(zmij::Buffer::new().format_finite(value).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

#[inline]
pub fn write_bool(out: &mut Vec<u8>, value: bool) {
    out.extend_from_slice(if value { b"true" } else { b"false" });
}

/// Append `bytes` as lower-case hex inside quotes.
#[inline]
pub fn write_hex_str(out: &mut Vec<u8>, bytes: &[u8]) {
    // Trace and span ids (16 and 8 bytes) are written through one buffer on the stack, in one copy.
    let mut hex = [0u8; 34];
    if bytes.len() <= 16 {
        hex[0] = b'"';
        for (pair, &b) in hex[1..].chunks_exact_mut(2).zip(bytes) {
            pair.copy_from_slice(&HEX_PAIRS[b as usize]);
        }
        hex[1 + 2 * bytes.len()] = b'"';
        out.extend_from_slice(&hex[..2 + 2 * bytes.len()]);
        return;
    }
    out.reserve(bytes.len() * 2 + 2);
    out.push(b'"');
    for &b in bytes {
        out.push(HEX_LOWER[(b >> 4) as usize]);
        out.push(HEX_LOWER[(b & 0xf) as usize]);
    }
    out.push(b'"');
}

/// Append `bytes` as a standard (padded) base64 string inside quotes.
#[inline]
pub fn write_base64_str(out: &mut Vec<u8>, bytes: &[u8]) {
    use base64::Engine as _;
    out.push(b'"');
    let start = out.len();
    let encoded_len = bytes.len().div_ceil(3) * 4;
    out.resize(start + encoded_len, 0);
    let written = base64::engine::general_purpose::STANDARD
        .encode_slice(bytes, &mut out[start..])
        .expect("base64 output sized by div_ceil(3) * 4");
    debug_assert_eq!(written, encoded_len);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(value: &str) -> String {
        let mut out = Vec::new();
        write_str(&mut out, value);
        String::from_utf8(out).unwrap()
    }

    /// The byte-at-a-time escape, the reference for the 8-byte skip.
    fn naive(value: &str) -> String {
        let mut out = String::from("\"");
        for c in value.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\u{8}' => out.push_str("\\b"),
                '\t' => out.push_str("\\t"),
                '\n' => out.push_str("\\n"),
                '\u{c}' => out.push_str("\\f"),
                '\r' => out.push_str("\\r"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    #[test]
    fn escapes_found_at_every_position_of_the_8_byte_skip() {
        for special in ["\"", "\\", "\n", "\u{1}", "\u{1f}", "\u{0}"] {
            for len in 0..20 {
                for at in 0..len {
                    let mut text: String = "abcdéfghijklmnopqrstuvwxyz".chars().take(len).collect();
                    text.insert_str(text.char_indices().nth(at).map_or(text.len(), |(i, _)| i), special);
                    assert_eq!(s(&text), naive(&text), "{text:?}");
                }
            }
        }
        for text in [
            "",
            "plain ascii text of some length",
            "é\u{7f}\u{80}\u{ff} ~ high bytes",
            "\u{20}\u{21}#[]",
        ] {
            assert_eq!(s(text), naive(text));
        }
    }

    #[test]
    fn strings_escape_like_orjson() {
        assert_eq!(s("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(
            s("\u{8}\t\n\u{c}\r\u{1}\u{1f}\u{7f}é"),
            "\"\\b\\t\\n\\f\\r\\u0001\\u001f\u{7f}é\""
        );
    }

    #[test]
    fn floats_format_like_orjson() {
        let f = |v: f64| {
            let mut out = Vec::new();
            write_f64(&mut out, v);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(f(1.0), "1.0");
        assert_eq!(f(-0.0), "-0.0");
        assert_eq!(f(1e16), "1e+16");
        assert_eq!(f(1e-7), "1e-7");
        assert_eq!(f(1e-5), "0.00001");
        assert_eq!(f(f64::NAN), "null");
        assert_eq!(f(f64::NEG_INFINITY), "null");
    }

    #[test]
    fn base64_pads() {
        let mut out = Vec::new();
        write_base64_str(&mut out, b"ab");
        assert_eq!(out, b"\"YWI=\"");
    }
}
