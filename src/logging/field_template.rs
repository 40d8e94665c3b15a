//! `str.format`-style templates of record fields, as `--logger-name` and
//! DynamicFileHandler's `filename` take them: text with `{field}`s, and
//! `{{`/`}}` for braces.
//!
//! Owns: splitting a template into text and field names. Does not own: which
//! names a template may use, nor rendering (its users').

/// A piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    /// A field's name, as written between the braces.
    Field(String),
}

/// Split `template` into pieces; consecutive text is one piece. The error
/// is `str.format`'s wording.
pub fn pieces(template: &str) -> Result<Vec<Piece>, String> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                text.push('}');
            }
            '}' => return Err("single '}' encountered in format string".into()),
            '{' => {
                let mut name = String::new();
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == '}' {
                        closed = true;
                        break;
                    }
                    name.push(c);
                }
                if !closed {
                    return Err("expected '}' before end of string".into());
                }
                if !text.is_empty() {
                    out.push(Piece::Text(std::mem::take(&mut text)));
                }
                out.push(Piece::Field(name));
            }
            c => text.push(c),
        }
    }
    if !text.is_empty() {
        out.push(Piece::Text(text));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_fields_and_braces() {
        assert_eq!(
            pieces("a{{b}}{c}.{d}").unwrap(),
            [
                Piece::Text("a{b}".into()),
                Piece::Field("c".into()),
                Piece::Text(".".into()),
                Piece::Field("d".into()),
            ]
        );
        assert!(pieces("a}b").is_err());
        assert!(pieces("{open").is_err());
        assert_eq!(pieces("").unwrap(), []);
    }
}
