//! The `encoding` and `errors` arguments, as the file handlers and
//! KafkaHandler take them: Python's codec names for the encodings we
//! implement, and its error handler names.

use super::convert::py_repr_str;
use super::invalid::Invalid;
use super::kwargs::Kwargs;
use crate::logging::spec::{Encoding, ErrorsPolicy};

/// `encoding` and `errors`, as the file handlers (and KafkaHandler) take them.
pub(super) fn text_encoding(kw: &Kwargs<'_>) -> Result<(Encoding, ErrorsPolicy), Invalid> {
    let encoding = match kw.string("encoding")? {
        None => Encoding::Utf8,
        Some(e) => parse_encoding(&e).ok_or_else(|| {
            format!(
                "unsupported encoding: {} (pysyslog supports utf-8, ascii, latin-1)",
                py_repr_str(&e)
            )
        })?,
    };
    let errors = match kw.string("errors")?.as_deref() {
        None | Some("strict") => ErrorsPolicy::Strict,
        Some("replace") => ErrorsPolicy::Replace,
        Some("ignore") => ErrorsPolicy::Ignore,
        Some("backslashreplace") => ErrorsPolicy::BackslashReplace,
        Some("xmlcharrefreplace") => ErrorsPolicy::XmlCharRefReplace,
        Some(other) => {
            return Err(format!("unknown error handler name {}", py_repr_str(other)).into())
        }
    };
    Ok((encoding, errors))
}

/// Python's codec names (normalised like `codecs.lookup`) for the encodings we implement.
fn parse_encoding(name: &str) -> Option<Encoding> {
    let n: String = name
        .trim()
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c == '-' || c == ' ' { '_' } else { c })
        .collect();
    match n.as_str() {
        "utf_8" | "utf8" | "u8" | "utf" | "cp65001" => Some(Encoding::Utf8),
        "ascii" | "us_ascii" | "646" | "us" => Some(Encoding::Ascii),
        "latin_1" | "latin1" | "latin" | "l1" | "iso_8859_1" | "iso8859_1" | "8859" | "cp819"
        | "iso_ir_100" => Some(Encoding::Latin1),
        _ => None,
    }
}
