//! Books: list (filters, sort, pages), read, create, replace, patch, delete.
//!
//! `available` is `copies` minus the open loans, kept in the row so a borrow is one
//! conditional `UPDATE … WHERE available > 0` inside its transaction. Changing `copies` below
//! the number on loan, or deleting a book with open loans, is a 409.

use super::validate::{BookInput, ValidBook};
use crate::clock::unix_now;
use crate::db::CachedStatements;
use crate::db::Pool;
use crate::error::{AppError, FieldError};
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

/// Default page size.
pub const DEFAULT_LIMIT: i64 = 20;
/// Largest page size.
pub const MAX_LIMIT: i64 = 100;
/// Largest `offset`: far past any real table, and far from where `offset + limit` overflows.
pub const MAX_OFFSET: i64 = 1_000_000_000;

/// A book as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Book {
    /// Id.
    pub id: i64,
    /// Title.
    pub title: String,
    /// Author.
    pub author: String,
    /// Publication year.
    pub year: i32,
    /// ISBN, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isbn: Option<String>,
    /// Copies owned.
    pub copies: i64,
    /// Copies not on loan.
    pub available: i64,
}

const COLUMNS: &str = "id, title, author, year, isbn, copies, available";

fn book(r: &Row<'_>) -> rusqlite::Result<Book> {
    Ok(Book {
        id: r.get(0)?,
        title: r.get(1)?,
        author: r.get(2)?,
        year: r.get(3)?,
        isbn: r.get(4)?,
        copies: r.get(5)?,
        available: r.get(6)?,
    })
}

/// The query of `GET /books`.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Page size (1–100, default 20). Text until checked, so that a value too large for any
    /// integer type is a 422 naming the field, like any other value out of range.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
    /// Books to skip (0 to [`MAX_OFFSET`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<String>,
    /// Exact author, any case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Earliest year.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub year_from: Option<i32>,
    /// Latest year.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub year_to: Option<i32>,
    /// In the title, any case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// `id`, `title`, `author`, `year`; `-` first for descending.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort: Option<String>,
}

/// A page of books.
#[derive(Debug, Serialize, Deserialize)]
pub struct Page {
    /// The books.
    pub items: Vec<Book>,
    /// Books matching the filters, over all pages.
    pub total: i64,
    /// Page size.
    pub limit: i64,
    /// Books skipped.
    pub offset: i64,
    /// Path and query of the next page, if any.
    pub next: Option<String>,
}

fn order_by(sort: Option<&str>) -> Result<&'static str, AppError> {
    Ok(match sort.unwrap_or("id") {
        "id" => "id",
        "-id" => "id DESC",
        "title" => "title COLLATE NOCASE, id",
        "-title" => "title COLLATE NOCASE DESC, id DESC",
        "author" => "author COLLATE NOCASE, id",
        "-author" => "author COLLATE NOCASE DESC, id DESC",
        "year" => "year, id",
        "-year" => "year DESC, id DESC",
        _ => {
            return Err(AppError::Validation(vec![FieldError {
                field: "sort",
                message: "must be id, title, author or year, with an optional leading '-'".into(),
            }]))
        }
    })
}

/// One page of books.
///
/// # Errors
/// 422 for out-of-range parameters; storage failures.
pub async fn list(pool: &Pool, query: ListQuery) -> Result<Page, AppError> {
    let mut errors = Vec::new();
    let limit = bounded(&mut errors, "limit", query.limit.as_deref(), DEFAULT_LIMIT, 1..=MAX_LIMIT);
    let offset = bounded(&mut errors, "offset", query.offset.as_deref(), 0, 0..=MAX_OFFSET);
    let order = match order_by(query.sort.as_deref()) {
        Ok(o) => o,
        Err(AppError::Validation(mut e)) => {
            errors.append(&mut e);
            ""
        }
        Err(e) => return Err(e),
    };
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let q = query.clone();
    let (items, total) = pool
        .read(move |c| {
            // NULL parameters switch a filter off; LIKE's own wildcards in `q` are escaped.
            let filter = "(?1 IS NULL OR author = ?1 COLLATE NOCASE)
                      AND (?2 IS NULL OR year >= ?2) AND (?3 IS NULL OR year <= ?3)
                      AND (?4 IS NULL OR title LIKE '%' || ?4 || '%' ESCAPE '\\')";
            let like =
                q.q.as_deref().map(|s| s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
            let args = params![q.author, q.year_from, q.year_to, like];
            // Both statements are cached per connection: compiling this filter cost more than
            // running it on a small table.
            let total: i64 = c
                .prepare_cached(&format!("SELECT COUNT(*) FROM books WHERE {filter}"))?
                .query_row(args, |r| r.get(0))?;
            let sql =
                format!("SELECT {COLUMNS} FROM books WHERE {filter} ORDER BY {order} LIMIT ?5 OFFSET ?6");
            let mut stmt = c.prepare_cached(&sql)?;
            let items = stmt
                .query_map(params![q.author, q.year_from, q.year_to, like, limit, offset], book)?
                .collect::<rusqlite::Result<Vec<Book>>>()?;
            Ok::<_, AppError>((items, total))
        })
        .await?;
    let next = (offset + limit < total).then(|| {
        let next =
            ListQuery { offset: Some((offset + limit).to_string()), limit: Some(limit.to_string()), ..query };
        format!("/books?{}", serde_urlencoded::to_string(&next).expect("a flat query encodes"))
    });
    Ok(Page { items, total, limit, offset, next })
}

/// The integer in `value` if it lies in `range` (else a field error, and `default`).
fn bounded(
    errors: &mut Vec<FieldError>,
    field: &'static str,
    value: Option<&str>,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
) -> i64 {
    let Some(value) = value else { return default };
    match value.trim().parse::<i64>() {
        Ok(n) if range.contains(&n) => n,
        _ => {
            let (lo, hi) = range.into_inner();
            errors.push(FieldError { field, message: format!("must be an integer from {lo} to {hi}") });
            default
        }
    }
}

/// Book `id`.
///
/// # Errors
/// 404.
pub async fn get(pool: &Pool, id: i64) -> Result<Book, AppError> {
    pool.read(move |c| fetch(c, id)).await
}

fn fetch(c: &Connection, id: i64) -> Result<Book, AppError> {
    // A cached statement: the hottest read of the service is prepared once per connection.
    c.prepare_cached("SELECT id, title, author, year, isbn, copies, available FROM books WHERE id = ?1")?
        .query_row([id], book)
        .optional()?
        .ok_or_else(|| AppError::NotFound(format!("no book with id {id}")))
}

fn unique_isbn(e: rusqlite::Error, isbn: Option<&str>) -> AppError {
    match (&e, isbn) {
        (rusqlite::Error::SqliteFailure(f, _), Some(isbn))
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            AppError::Conflict(format!("another book has ISBN {isbn}"))
        }
        _ => AppError::from(e),
    }
}

/// Adds a book (all copies available).
///
/// # Errors
/// 422, 409 on a taken ISBN.
pub async fn create(pool: &Pool, input: BookInput) -> Result<Book, AppError> {
    let b = input.validate().map_err(AppError::Validation)?;
    pool.transaction(move |tx| {
        tx.execute_cached(
            "INSERT INTO books (title, author, year, isbn, copies, available, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
            params![b.title, b.author, b.year, b.isbn, b.copies, unix_now()],
        )
        .map_err(|e| unique_isbn(e, b.isbn.as_deref()))?;
        fetch(tx, tx.last_insert_rowid())
    })
    .await
}

/// Replaces every field of book `id`; `available` follows the change in `copies`.
///
/// # Errors
/// 404, 422, 409 (ISBN taken, or fewer copies than are on loan).
pub async fn replace(pool: &Pool, id: i64, input: BookInput) -> Result<Book, AppError> {
    let b = input.validate().map_err(AppError::Validation)?;
    pool.transaction(move |tx| store(tx, id, b)).await
}

fn store(tx: &Connection, id: i64, b: ValidBook) -> Result<Book, AppError> {
    let current = fetch(tx, id)?;
    let on_loan = current.copies - current.available;
    if b.copies < on_loan {
        return Err(AppError::Conflict(format!("{on_loan} copies are on loan; copies cannot go below that")));
    }
    tx.execute_cached(
        "UPDATE books SET title = ?2, author = ?3, year = ?4, isbn = ?5, copies = ?6, available = ?6 - ?7 WHERE id = ?1",
        params![id, b.title, b.author, b.year, b.isbn, b.copies, on_loan],
    )
    .map_err(|e| unique_isbn(e, b.isbn.as_deref()))?;
    fetch(tx, id)
}

/// A partial update: absent fields stay; `"isbn": null` removes the ISBN.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookPatch {
    #[serde(default, deserialize_with = "crate::json::some")]
    title: Option<String>,
    #[serde(default, deserialize_with = "crate::json::some")]
    author: Option<String>,
    #[serde(default, deserialize_with = "crate::json::some_integer")]
    year: Option<i32>,
    #[serde(default, deserialize_with = "present")]
    isbn: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::json::some_integer")]
    copies: Option<i64>,
}

/// Tells "absent" (`None`) from "null" (`Some(None)`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Changes the fields `patch` names.
///
/// # Errors
/// As [`replace`].
pub async fn update(pool: &Pool, id: i64, patch: BookPatch) -> Result<Book, AppError> {
    pool.transaction(move |tx| {
        let current = fetch(tx, id)?;
        let merged = BookInput {
            title: patch.title.unwrap_or(current.title),
            author: patch.author.unwrap_or(current.author),
            year: patch.year.unwrap_or(current.year),
            isbn: patch.isbn.unwrap_or(current.isbn),
            copies: patch.copies.unwrap_or(current.copies),
        };
        store(tx, id, merged.validate().map_err(AppError::Validation)?)
    })
    .await
}

/// Removes book `id` and its loan history.
///
/// # Errors
/// 404; 409 while copies are on loan.
pub async fn delete(pool: &Pool, id: i64) -> Result<(), AppError> {
    pool.transaction(move |tx| {
        let current = fetch(tx, id)?;
        if current.available < current.copies {
            return Err(AppError::Conflict(format!(
                "{} copies are on loan",
                current.copies - current.available
            )));
        }
        tx.execute_cached("DELETE FROM books WHERE id = ?1", [id])?;
        Ok(())
    })
    .await
}
