//! Human-readable text fields: the characters none of them may hold.
//!
//! Some characters change how text *looks* without being visible: control characters,
//! zero-width characters (which make two identical-looking names differ), and bidirectional
//! overrides (which make "evil\u{202E}moc.elgoog" read as something else). Emails, display
//! names, titles and authors refuse them all; the OpenAPI document states the same rule as a
//! pattern built from the same table.

/// Characters that are invisible or reorder text, as inclusive ranges: control characters,
/// the soft hyphen, the Arabic letter mark, zero-width characters and directional marks,
/// bidirectional embeddings and overrides, invisible operators, bidirectional isolates, the
/// zero-width no-break space, and interlinear annotation marks.
pub const HIDDEN: [(char, char); 10] = [
    ('\u{0}', '\u{1F}'),
    ('\u{7F}', '\u{9F}'),
    ('\u{AD}', '\u{AD}'),
    ('\u{61C}', '\u{61C}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{2069}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFF9}', '\u{FFFB}'),
];

/// True if `c` is one of [`HIDDEN`].
pub fn is_hidden(c: char) -> bool {
    HIDDEN.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// [`HIDDEN`] as the body of a regular-expression character class (`\uXXXX` escapes), for
/// the OpenAPI document's patterns.
pub fn hidden_class() -> String {
    HIDDEN
        .iter()
        .map(|&(lo, hi)| {
            if lo == hi {
                format!("\\u{:04X}", u32::from(lo))
            } else {
                format!("\\u{:04X}-\\u{:04X}", u32::from(lo), u32::from(hi))
            }
        })
        .collect()
}

/// True if `text` holds any of [`HIDDEN`].
pub fn has_hidden(text: &str) -> bool {
    text.chars().any(is_hidden)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_class_names_the_same_characters() {
        assert!(hidden_class().starts_with("\\u0000-\\u001F\\u007F-\\u009F\\u00AD"), "{}", hidden_class());
        for c in (0..0x11000).filter_map(char::from_u32) {
            assert_eq!(
                is_hidden(c),
                c.is_control() || HIDDEN[2..].iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
            );
        }
    }
}
