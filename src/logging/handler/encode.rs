//! Python's `str.encode(encoding, errors)` for the encodings file handlers
//! support, and `len(str)` as RotatingFileHandler counts it.
//!
//! Owns: the bytes a record's text becomes and the UnicodeEncodeError text.

use crate::logging::spec::{Encoding, ErrorsPolicy};

/// A record that cannot be encoded with `errors='strict'` (Python's UnicodeEncodeError text).
#[derive(Debug, thiserror::Error)]
#[error("'{codec}' codec can't encode character '\\x{code:x}' in position {pos}: ordinal not in range({limit})")]
pub struct EncodeError {
    codec: &'static str,
    code: u32,
    pos: usize,
    limit: u32,
}

/// Append `text` encoded as Python's `text.encode(encoding, errors)`; `out`
/// is unchanged on error.
pub fn encode(
    text: &str,
    enc: Encoding,
    errors: ErrorsPolicy,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let (limit, codec) = match enc {
        Encoding::Utf8 => {
            out.extend_from_slice(text.as_bytes());
            return Ok(());
        }
        Encoding::Ascii => (0x80u32, "ascii"),
        Encoding::Latin1 => (0x100u32, "latin-1"),
    };
    if text.is_ascii() {
        out.extend_from_slice(text.as_bytes());
        return Ok(());
    }
    let start = out.len();
    for (pos, c) in text.chars().enumerate() {
        let code = c as u32;
        if code < limit {
            out.push(code as u8);
            continue;
        }
        match errors {
            ErrorsPolicy::Strict => {
                out.truncate(start);
                return Err(EncodeError {
                    codec,
                    code,
                    pos,
                    limit,
                });
            }
            ErrorsPolicy::Replace => out.push(b'?'),
            ErrorsPolicy::Ignore => {}
            ErrorsPolicy::BackslashReplace => {
                let s = if code < 0x100 {
                    format!("\\x{code:02x}")
                } else if code < 0x10000 {
                    format!("\\u{code:04x}")
                } else {
                    format!("\\U{code:08x}")
                };
                out.extend_from_slice(s.as_bytes());
            }
            ErrorsPolicy::XmlCharRefReplace => {
                out.extend_from_slice(format!("&#{code};").as_bytes())
            }
        }
    }
    Ok(())
}

/// `len(text)` in characters, as Python counts for RotatingFileHandler.
pub fn char_len(text: &str) -> usize {
    if text.is_ascii() {
        text.len()
    } else {
        text.chars().count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_python() {
        let mut out = Vec::new();
        encode(
            "é€😀",
            Encoding::Ascii,
            ErrorsPolicy::BackslashReplace,
            &mut out,
        )
        .unwrap();
        assert_eq!(out, b"\\xe9\\u20ac\\U0001f600");
        out.clear();
        encode("aé€", Encoding::Latin1, ErrorsPolicy::Replace, &mut out).unwrap();
        assert_eq!(out, b"a\xe9?");
        out.clear();
        let e = encode("abé", Encoding::Ascii, ErrorsPolicy::Strict, &mut out).unwrap_err();
        assert_eq!(
            e.to_string(),
            "'ascii' codec can't encode character '\\xe9' in position 2: ordinal not in range(128)"
        );
        assert!(out.is_empty());
        encode(
            "é",
            Encoding::Ascii,
            ErrorsPolicy::XmlCharRefReplace,
            &mut out,
        )
        .unwrap();
        assert_eq!(out, b"&#233;");
        assert_eq!(char_len("é\n"), 2);
    }
}
