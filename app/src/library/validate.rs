//! The rules for a book's fields — shared by the service and week 3's in-memory example.

use crate::error::FieldError;
use serde::Deserialize;

/// Longest title, in characters.
pub const MAX_TITLE: usize = 200;
/// Longest author name, in characters.
pub const MAX_AUTHOR: usize = 100;
/// Most copies of one book.
pub const MAX_COPIES: i64 = 10_000;

/// The ISBN-13 of a valid ISBN-10 or ISBN-13 (hyphens and spaces allowed), or `None`.
///
/// One book has one ISBN-13 and, if published before 2007, also an ISBN-10; storing every
/// ISBN in its 13-digit form makes the uniqueness check see them as the same book.
pub fn normalize_isbn(isbn: &str) -> Option<String> {
    let digits: String = isbn.chars().filter(|c| !matches!(c, '-' | ' ')).collect();
    match digits.len() {
        10 => {
            let sum: u32 = digits.chars().enumerate().try_fold(0, |acc, (i, c)| {
                let v = if i == 9 && (c == 'X' || c == 'x') { 10 } else { c.to_digit(10)? };
                Some(acc + v * (10 - i as u32))
            })?;
            (sum % 11 == 0).then(|| isbn13_from_isbn10(&digits[..9]))
        }
        13 => {
            let sum: u32 = digits
                .chars()
                .enumerate()
                .try_fold(0, |acc, (i, c)| Some(acc + c.to_digit(10)? * if i % 2 == 0 { 1 } else { 3 }))?;
            (sum % 10 == 0 && (digits.starts_with("978") || digits.starts_with("979"))).then_some(digits)
        }
        _ => None,
    }
}

/// `978` + the nine digits of an ISBN-10's body + the EAN-13 check digit.
fn isbn13_from_isbn10(body: &str) -> String {
    let mut isbn = format!("978{body}");
    let sum: u32 =
        isbn.bytes().enumerate().map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 1 } else { 3 }).sum();
    isbn.push(char::from(b'0' + u8::try_from((10 - sum % 10) % 10).expect("a digit")));
    isbn
}

/// Migration 4: rewrites every stored ISBN in its ISBN-13 form. Where two books held the
/// 10- and 13-digit forms of one ISBN, the later book's ISBN is cleared (and logged) rather
/// than failing the upgrade.
///
/// # Errors
/// Storage failures.
pub fn migrate_isbns_to_13(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    let rows: Vec<(i64, String)> = tx
        .prepare("SELECT id, isbn FROM books WHERE isbn IS NOT NULL ORDER BY id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (id, isbn) in rows {
        let normalized = normalize_isbn(&isbn);
        if normalized.as_deref() == Some(isbn.as_str()) {
            continue;
        }
        let taken: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM books WHERE isbn = ?1 AND id != ?2)",
            rusqlite::params![normalized, id],
            |r| r.get(0),
        )?;
        let value = if taken { None } else { normalized };
        if value.is_none() {
            tracing::warn!(book = id, %isbn, "ISBN cleared by migration 4: invalid, or another book has it");
        }
        tx.execute("UPDATE books SET isbn = ?2 WHERE id = ?1", rusqlite::params![id, value])?;
    }
    Ok(())
}

/// Checks a text field: 1 to `max` characters, not only spaces, nothing hidden (`text.rs`).
/// It is stored trimmed.
pub fn check_text(errors: &mut Vec<FieldError>, field: &'static str, value: &str, max: usize) {
    let message = if crate::text::has_hidden(value) {
        "must not contain control, zero-width or bidirectional characters".to_owned()
    } else if value.chars().count() > max {
        format!("must be at most {max} characters")
    } else if value.trim().is_empty() {
        "must not be empty".to_owned()
    } else {
        return;
    };
    errors.push(FieldError { field, message });
}

/// Checks a publication year: -3000 up to this year.
pub fn check_year(errors: &mut Vec<FieldError>, year: i32) {
    let this_year = crate::clock::this_year();
    if !(-3000..=this_year).contains(&year) {
        errors.push(FieldError { field: "year", message: format!("must be between -3000 and {this_year}") });
    }
}

/// Checks an optional ISBN; returns its normalized form.
pub fn check_isbn(errors: &mut Vec<FieldError>, isbn: Option<&str>) -> Option<String> {
    let isbn = isbn?;
    let normalized = normalize_isbn(isbn);
    if normalized.is_none() {
        errors.push(FieldError { field: "isbn", message: "must be a valid ISBN-10 or ISBN-13".into() });
    }
    normalized
}

/// A book as a client sends it to create or replace one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookInput {
    /// Title.
    pub title: String,
    /// Author.
    pub author: String,
    /// Publication year.
    #[serde(deserialize_with = "crate::json::integer")]
    pub year: i32,
    /// ISBN-10 or ISBN-13.
    #[serde(default)]
    pub isbn: Option<String>,
    /// Copies the library owns (default 1).
    #[serde(default = "one", deserialize_with = "crate::json::integer")]
    pub copies: i64,
}

fn one() -> i64 {
    1
}

/// A validated, trimmed book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidBook {
    /// Title.
    pub title: String,
    /// Author.
    pub author: String,
    /// Year.
    pub year: i32,
    /// Normalized ISBN.
    pub isbn: Option<String>,
    /// Copies.
    pub copies: i64,
}

impl BookInput {
    /// The book, or every field error at once.
    ///
    /// # Errors
    /// The field errors.
    pub fn validate(self) -> Result<ValidBook, Vec<FieldError>> {
        let mut errors = Vec::new();
        check_text(&mut errors, "title", &self.title, MAX_TITLE);
        check_text(&mut errors, "author", &self.author, MAX_AUTHOR);
        check_year(&mut errors, self.year);
        let isbn = check_isbn(&mut errors, self.isbn.as_deref());
        if !(0..=MAX_COPIES).contains(&self.copies) {
            errors
                .push(FieldError { field: "copies", message: format!("must be between 0 and {MAX_COPIES}") });
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(ValidBook {
            title: self.title.trim().to_owned(),
            author: self.author.trim().to_owned(),
            year: self.year,
            isbn,
            copies: self.copies,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isbn_checksums() {
        assert_eq!(normalize_isbn("978-0-441-17271-9").as_deref(), Some("9780441172719"));
        assert_eq!(normalize_isbn("0-306-40615-2").as_deref(), Some("9780306406157"), "ISBN-10 becomes 13");
        assert_eq!(normalize_isbn("080442957X").as_deref(), Some("9780804429573"), "check digit X");
        assert_eq!(
            normalize_isbn("0 441 17271 7"),
            normalize_isbn("978-0-441-17271-9"),
            "one book, one ISBN"
        );
        assert!(normalize_isbn("978-0-441-17271-8").is_none(), "bad check digit");
        assert!(normalize_isbn("0306406153").is_none(), "bad ISBN-10 check digit");
        assert!(normalize_isbn("1234567890128").is_none(), "an EAN-13 that is not a book");
        assert!(normalize_isbn("12345").is_none());
        assert!(normalize_isbn("03064O6152").is_none(), "a letter");
    }

    #[test]
    fn every_bad_field_is_reported() {
        let bad = BookInput {
            title: " ".into(),
            author: "a".repeat(101),
            year: 99_999,
            isbn: Some("1".into()),
            copies: -1,
        };
        let fields: Vec<&str> = bad.validate().unwrap_err().iter().map(|e| e.field).collect();
        assert_eq!(fields, ["title", "author", "year", "isbn", "copies"]);
    }
}
