//! The rules for a book's fields — shared by the service and week 3's in-memory example.

use crate::error::FieldError;
use serde::Deserialize;

/// Longest title, in characters.
pub const MAX_TITLE: usize = 200;
/// Longest author name, in characters.
pub const MAX_AUTHOR: usize = 100;
/// Most copies of one book.
pub const MAX_COPIES: i64 = 10_000;

/// The ISBN's digits if it is a valid ISBN-10 or ISBN-13 (hyphens and spaces allowed).
pub fn normalize_isbn(isbn: &str) -> Option<String> {
    let digits: String = isbn.chars().filter(|c| !matches!(c, '-' | ' ')).collect();
    let valid = match digits.len() {
        10 => {
            let sum: Option<u32> = digits.chars().enumerate().try_fold(0, |acc, (i, c)| {
                let v = if i == 9 && (c == 'X' || c == 'x') { 10 } else { c.to_digit(10)? };
                Some(acc + v * (10 - i as u32))
            });
            sum.is_some_and(|s| s % 11 == 0)
        }
        13 => {
            let sum: Option<u32> = digits
                .chars()
                .enumerate()
                .try_fold(0, |acc, (i, c)| Some(acc + c.to_digit(10)? * if i % 2 == 0 { 1 } else { 3 }));
            sum.is_some_and(|s| s % 10 == 0)
        }
        _ => false,
    };
    valid.then(|| digits.to_ascii_uppercase())
}

/// Checks a text field's length (trimmed, in characters).
pub fn check_text(errors: &mut Vec<FieldError>, field: &'static str, value: &str, max: usize) {
    let len = value.trim().chars().count();
    if len == 0 {
        errors.push(FieldError { field, message: "must not be empty".into() });
    } else if len > max {
        errors.push(FieldError { field, message: format!("must be at most {max} characters") });
    }
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
    pub year: i32,
    /// ISBN-10 or ISBN-13.
    #[serde(default)]
    pub isbn: Option<String>,
    /// Copies the library owns (default 1).
    #[serde(default = "one")]
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
        assert_eq!(normalize_isbn("0-306-40615-2").as_deref(), Some("0306406152"));
        assert_eq!(normalize_isbn("080442957X").as_deref(), Some("080442957X"));
        assert!(normalize_isbn("978-0-441-17271-8").is_none(), "bad check digit");
        assert!(normalize_isbn("12345").is_none());
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
