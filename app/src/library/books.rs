//! Books: list (filters, sort, pages), read, create, replace, patch, delete.
//!
//! A listing pages by `offset` or by `cursor`. An offset is simple and lets a client jump to
//! page 40, but the database still walks the 39 pages before it, and a book added or removed
//! meanwhile shifts every later page by one (a book shown twice, or never). A cursor names
//! the last book of the previous page — its sort key and id — and the next page is the books
//! after it in the same order (`(key, id) > (?, ?)`, a keyset condition the indexes serve),
//! so pages stay stable while the table changes. Week 3's in-memory API pages the same two
//! ways with the same parameters.
//!
//! `available` is `copies` minus the open loans, kept in the row so a borrow is one
//! conditional `UPDATE … WHERE available > 0` inside its transaction. Changing `copies` below
//! the number on loan, or deleting a book with open loans, is a 409.
//!
//! Every function runs on either backend ([`Db`]). The SQL differs where the dialects do:
//! SQLite's `COLLATE NOCASE` is `lower(…)` on PostgreSQL (with an index on `lower(author)`),
//! its case-insensitive `LIKE` is `ILIKE`, its `?N` parameters are `$N`, and on PostgreSQL a
//! change locks the book's row (`FOR UPDATE`) where SQLite's single writer already excludes
//! every other.

use super::validate::{BookInput, ValidBook};
use crate::clock::unix_now;
use crate::db::CachedStatements;
use crate::db::Db;
use crate::error::{AppError, FieldError};
use base64::Engine;
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

/// A book from a PostgreSQL row of [`COLUMNS`].
fn pg_book(r: &kiln_postgres::Row) -> Result<Book, AppError> {
    Ok(Book {
        id: r.try_get(0)?,
        title: r.try_get(1)?,
        author: r.try_get(2)?,
        year: r.try_get(3)?,
        isbn: r.try_get(4)?,
        copies: r.try_get(5)?,
        available: r.try_get(6)?,
    })
}

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
    /// Start after this position: a previous page's `next_cursor` (not with `offset`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
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
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Page {
    /// The books.
    pub items: Vec<Book>,
    /// Books matching the filters, over all pages.
    pub total: i64,
    /// Page size.
    pub limit: i64,
    /// Books before this page.
    pub offset: i64,
    /// Path and query of the next page (paged the way this request was), if any.
    pub next: Option<String>,
    /// The cursor of the next page, if any.
    pub next_cursor: Option<String>,
}

/// A listing order: the column it sorts by (ties broken by id, in the same direction).
#[derive(Clone, Copy)]
struct Order {
    key: &'static str,
    descending: bool,
}

impl Order {
    fn by(&self) -> String {
        let dir = if self.descending { "DESC" } else { "ASC" };
        format!("{} {dir}, id {dir}", self.key)
    }

    /// Rows strictly after the position `(?7, ?8)` in this order (or every row when `?7` is
    /// NULL); `before_or_at` is the complement, to count the rows a cursor skips.
    fn after(&self) -> String {
        format!("(?7 IS NULL OR ({}, id) {} (?7, ?8))", self.key, if self.descending { "<" } else { ">" })
    }

    fn before_or_at(&self) -> String {
        format!("({}, id) {} (?7, ?8)", self.key, if self.descending { ">=" } else { "<=" })
    }

    /// The key as PostgreSQL writes it (`COLLATE NOCASE` is `lower(…)` there).
    fn pg_key(&self) -> &'static str {
        match self.key {
            "title COLLATE NOCASE" => "lower(title)",
            "author COLLATE NOCASE" => "lower(author)",
            key => key,
        }
    }

    /// Whether the key is text (compared through `lower` on PostgreSQL).
    fn is_text(&self) -> bool {
        self.key.ends_with("NOCASE")
    }

    /// The value of this order's key in `book`.
    fn key_of(&self, book: &Book) -> serde_json::Value {
        match self.key {
            "id" => book.id.into(),
            "year" => book.year.into(),
            "title COLLATE NOCASE" => book.title.clone().into(),
            _ => book.author.clone().into(),
        }
    }
}

/// What a cursor holds: the sort it belongs to, and the last book's key and id.
type CursorBody = (String, serde_json::Value, i64);

fn encode_cursor(sort: &str, order: Order, last: &Book) -> String {
    let body: CursorBody = (sort.to_owned(), order.key_of(last), last.id);
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&body).expect("a cursor serializes"))
}

/// The position in a cursor, checked against the sort it is used with.
fn decode_cursor(cursor: &str, sort: &str) -> Result<(serde_json::Value, i64), String> {
    let invalid = || "not a cursor this service gave: use the next_cursor of a previous page".to_owned();
    if cursor.len() > 1024 {
        return Err(invalid());
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let (cursor_sort, key, id): CursorBody = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if cursor_sort != sort {
        return Err(format!("this cursor belongs to sort={cursor_sort}, not sort={sort}"));
    }
    if !(key.is_string() || key.is_i64()) {
        return Err(invalid());
    }
    Ok((key, id))
}

fn order(sort: &str) -> Option<Order> {
    let (descending, name) = match sort.strip_prefix('-') {
        Some(name) => (true, name),
        None => (false, sort),
    };
    let key = match name {
        "id" => "id",
        "title" => "title COLLATE NOCASE",
        "author" => "author COLLATE NOCASE",
        "year" => "year",
        _ => return None,
    };
    Some(Order { key, descending })
}

/// One page of books.
///
/// # Errors
/// 422 for out-of-range parameters (each named); storage failures.
pub async fn list(db: &Db, mut query: ListQuery) -> Result<Page, AppError> {
    // An empty cursor is no cursor (a client filling `cursor={next_cursor}` on the first page).
    query.cursor = query.cursor.filter(|c| !c.is_empty());
    let mut errors = Vec::new();
    let mut invalid = |field, message: String| errors.push(FieldError { field, message });
    let limit = bounded(&mut invalid, "limit", query.limit.as_deref(), DEFAULT_LIMIT, 1..=MAX_LIMIT);
    let offset = bounded(&mut invalid, "offset", query.offset.as_deref(), 0, 0..=MAX_OFFSET);
    let sort = query.sort.clone().unwrap_or_else(|| "id".to_owned());
    let order = order(&sort).unwrap_or_else(|| {
        invalid("sort", "must be id, title, author or year, with an optional leading '-'".into());
        Order { key: "id", descending: false }
    });
    let position = match (&query.offset, &query.cursor) {
        (Some(_), Some(_)) => {
            invalid("cursor", "use offset or cursor, not both".into());
            None
        }
        (None, Some(cursor)) => decode_cursor(cursor, &sort).map_err(|m| invalid("cursor", m)).ok(),
        _ => None,
    };
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let q = query.clone();
    let pool = match db {
        Db::Sqlite(pool) => pool,
        Db::Postgres(pg) => {
            let (items, total, offset) = pg_list(pg, q, order, position, limit, offset).await?;
            return Ok(page(query, sort, order, limit, items, total, offset));
        }
    };
    let (items, total, offset) = pool
        .read(move |c| {
            // NULL parameters switch a filter off; LIKE's own wildcards in `q` are escaped.
            let filter = "(?1 IS NULL OR author = ?1 COLLATE NOCASE)
                      AND (?2 IS NULL OR year >= ?2) AND (?3 IS NULL OR year <= ?3)
                      AND (?4 IS NULL OR title LIKE '%' || ?4 || '%' ESCAPE '\\')";
            let like =
                q.q.as_deref().map(|s| s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
            let args = params![q.author, q.year_from, q.year_to, like];
            // Every statement is cached per connection: compiling this filter cost more than
            // running it on a small table.
            let total: i64 = c
                .prepare_cached(&format!("SELECT COUNT(*) FROM books WHERE {filter}"))?
                .query_row(args, |r| r.get(0))?;
            let (key, after_id) = match &position {
                Some((key, id)) => (json_scalar(key), Some(*id)),
                None => (rusqlite::types::Value::Null, None),
            };
            // A cursor page starts where the cursor points: the books up to it come first.
            let offset = match &position {
                None => offset,
                Some(_) => c
                    .prepare_cached(&format!(
                        "SELECT COUNT(*) FROM books WHERE {filter} AND {}",
                        order.before_or_at()
                    ))?
                    .query_row(
                        params![
                            q.author,
                            q.year_from,
                            q.year_to,
                            like,
                            None::<i64>,
                            None::<i64>,
                            key,
                            after_id
                        ],
                        |r| r.get(0),
                    )?,
            };
            let skip = if position.is_some() { 0 } else { offset };
            let sql = format!(
                "SELECT {COLUMNS} FROM books WHERE {filter} AND {} ORDER BY {} LIMIT ?5 OFFSET ?6",
                order.after(),
                order.by()
            );
            let items = c
                .prepare_cached(&sql)?
                .query_map(params![q.author, q.year_from, q.year_to, like, limit, skip, key, after_id], book)?
                .collect::<rusqlite::Result<Vec<Book>>>()?;
            Ok::<_, AppError>((items, total, offset))
        })
        .await?;
    Ok(page(query, sort, order, limit, items, total, offset))
}

/// A listing's page with its links, from the rows the query found.
fn page(
    query: ListQuery,
    sort: String,
    order: Order,
    limit: i64,
    items: Vec<Book>,
    total: i64,
    offset: i64,
) -> Page {
    let more = offset + (items.len() as i64) < total;
    let next_cursor = items.last().filter(|_| more).map(|last| encode_cursor(&sort, order, last));
    let next = next_cursor.as_ref().map(|cursor| {
        let page_size = Some(limit.to_string());
        let next = match query.cursor {
            Some(_) => ListQuery { cursor: Some(cursor.clone()), limit: page_size, ..query },
            None => ListQuery { offset: Some((offset + limit).to_string()), limit: page_size, ..query },
        };
        format!("/books?{}", serde_urlencoded::to_string(&next).expect("a flat query encodes"))
    });
    Page { items, total, limit, offset, next, next_cursor }
}

/// [`list`]'s queries on PostgreSQL: the books, how many match, and the page's offset.
async fn pg_list(
    pg: &kiln_postgres::Pool,
    q: ListQuery,
    order: Order,
    position: Option<(serde_json::Value, i64)>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Book>, i64, i64), AppError> {
    use kiln_postgres::ToSql;
    // NULL parameters switch a filter off; ILIKE's own wildcards in `q` are escaped.
    let filter = r"($1::text IS NULL OR lower(author) = lower($1))
                  AND ($2::int4 IS NULL OR year >= $2) AND ($3::int4 IS NULL OR year <= $3)
                  AND ($4::text IS NULL OR title ILIKE '%' || $4 || '%' ESCAPE '\')";
    let like = q.q.as_deref().map(|s| s.replace('\\', r"\\").replace('%', r"\%").replace('_', r"\_"));
    let c = pg.get().await?;
    let filters: [&dyn ToSql; 4] = [&q.author, &q.year_from, &q.year_to, &like];
    let total: i64 =
        c.query_one(&format!("SELECT COUNT(*) FROM books WHERE {filter}"), &filters).await?.try_get(0)?;
    let key = order.pg_key();
    let by = order.by().replace(order.key, key);
    let Some((cursor, after_id)) = position else {
        let sql = format!("SELECT {COLUMNS} FROM books WHERE {filter} ORDER BY {by} LIMIT $5 OFFSET $6");
        let rows = c.query(&sql, &[&q.author, &q.year_from, &q.year_to, &like, &limit, &offset]).await?;
        return Ok((rows.iter().map(pg_book).collect::<Result<_, _>>()?, total, offset));
    };
    // A cursor page: the books after the cursor's (key, id), as on SQLite; the cursor's key
    // is compared as the column is (through lower() for text).
    let (text_key, int_key) =
        (cursor.as_str().unwrap_or_default().to_owned(), cursor.as_i64().unwrap_or_default());
    let (position, key_param): (&dyn ToSql, &str) =
        if order.is_text() { (&text_key, "lower($5::text)") } else { (&int_key, "$5::int8") };
    let (after, at) = if order.descending { ("<", ">=") } else { (">", "<=") };
    let params: [&dyn ToSql; 6] = [&q.author, &q.year_from, &q.year_to, &like, position, &after_id];
    let page = format!(
        "SELECT {COLUMNS} FROM books WHERE {filter} AND ({key}, id) {after} ({key_param}, $6) ORDER BY {by} LIMIT $7"
    );
    let rows = c.query(&page, &[params.as_slice(), &[&limit]].concat()).await?;
    let skipped = format!("SELECT COUNT(*) FROM books WHERE {filter} AND ({key}, id) {at} ({key_param}, $6)");
    let offset: i64 = c.query_one(&skipped, &params).await?.try_get(0)?;
    Ok((rows.iter().map(pg_book).collect::<Result<_, _>>()?, total, offset))
}

/// A cursor's key as the SQL value it is compared with.
fn json_scalar(key: &serde_json::Value) -> rusqlite::types::Value {
    match key {
        serde_json::Value::Number(n) => n.as_i64().map_or(rusqlite::types::Value::Null, Into::into),
        serde_json::Value::String(s) => s.clone().into(),
        _ => rusqlite::types::Value::Null,
    }
}

/// The integer in `value` if it lies in `range` (else a field error, and `default`).
fn bounded(
    invalid: &mut impl FnMut(&'static str, String),
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
            invalid(field, format!("must be an integer from {lo} to {hi}"));
            default
        }
    }
}

/// Book `id`.
///
/// # Errors
/// 404.
pub async fn get(db: &Db, id: i64) -> Result<Book, AppError> {
    find(db, id).await?.ok_or_else(|| not_found(id))
}

fn not_found(id: i64) -> AppError {
    AppError::NotFound(format!("no book with id {id}"))
}

/// Book `id`, or `None` (what a cache keeps for a missing book).
///
/// # Errors
/// Storage failures.
pub async fn find(db: &Db, id: i64) -> Result<Option<Book>, AppError> {
    match db {
        Db::Sqlite(pool) => {
            pool.read(move |c| match fetch(c, id) {
                Ok(book) => Ok(Some(book)),
                Err(AppError::NotFound(_)) => Ok(None),
                Err(e) => Err(e),
            })
            .await
        }
        Db::Postgres(pg) => pg_fetch(&*pg.get().await?, id, "").await,
    }
}

fn fetch(c: &Connection, id: i64) -> Result<Book, AppError> {
    // A cached statement: the hottest read of the service is prepared once per connection.
    c.prepare_cached("SELECT id, title, author, year, isbn, copies, available FROM books WHERE id = ?1")?
        .query_row([id], book)
        .optional()?
        .ok_or_else(|| not_found(id))
}

/// Book `id` on PostgreSQL; `lock` is `""` or `" FOR UPDATE"` (the row held until the
/// transaction ends).
async fn pg_fetch(c: &kiln_postgres::Client, id: i64, lock: &str) -> Result<Option<Book>, AppError> {
    let sql = format!("SELECT {COLUMNS} FROM books WHERE id = $1{lock}");
    c.query_opt(&sql, &[&id]).await?.as_ref().map(pg_book).transpose()
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

fn pg_unique_isbn(e: kiln_postgres::PgError, isbn: Option<&str>) -> AppError {
    match isbn {
        Some(isbn) if e.is_unique_violation() => AppError::Conflict(format!("another book has ISBN {isbn}")),
        _ => AppError::from(e),
    }
}

/// Adds a book (all copies available).
///
/// # Errors
/// 422, 409 on a taken ISBN.
pub async fn create(db: &Db, input: BookInput) -> Result<Book, AppError> {
    let b = input.validate().map_err(AppError::Validation)?;
    match db {
        Db::Sqlite(pool) => {
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
        Db::Postgres(pg) => {
            let sql = format!(
                "INSERT INTO books (title, author, year, isbn, copies, available, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $5, $6) RETURNING {COLUMNS}"
            );
            let c = pg.get().await?;
            let row = c
                .query_one(&sql, &[&b.title, &b.author, &b.year, &b.isbn, &b.copies, &unix_now()])
                .await
                .map_err(|e| pg_unique_isbn(e, b.isbn.as_deref()))?;
            pg_book(&row)
        }
    }
}

/// Replaces every field of book `id`; `available` follows the change in `copies`.
///
/// # Errors
/// 404, 422, 409 (ISBN taken, or fewer copies than are on loan).
pub async fn replace(db: &Db, id: i64, input: BookInput) -> Result<Book, AppError> {
    let b = input.validate().map_err(AppError::Validation)?;
    change(db, id, move |_| Ok(b)).await
}

/// Reads book `id`, lets `edit` make its new fields from it, and stores them: one
/// transaction, the row locked on PostgreSQL from the read to the write.
async fn change(
    db: &Db,
    id: i64,
    edit: impl FnOnce(Book) -> Result<ValidBook, AppError> + Send + 'static,
) -> Result<Book, AppError> {
    match db {
        Db::Sqlite(pool) => {
            pool.transaction(move |tx| {
                let current = fetch(tx, id)?;
                let b = edit(current.clone())?;
                let on_loan = copies_on_loan(&current, &b)?;
                tx.execute_cached(
                    "UPDATE books SET title = ?2, author = ?3, year = ?4, isbn = ?5, copies = ?6, available = ?6 - ?7 WHERE id = ?1",
                    params![id, b.title, b.author, b.year, b.isbn, b.copies, on_loan],
                )
                .map_err(|e| unique_isbn(e, b.isbn.as_deref()))?;
                fetch(tx, id)
            })
            .await
        }
        Db::Postgres(pg) => {
            let mut c = pg.get().await?;
            let tx = c.transaction().await?;
            let current = pg_fetch(&tx, id, " FOR UPDATE").await?.ok_or_else(|| not_found(id))?;
            let b = edit(current.clone())?;
            let on_loan = copies_on_loan(&current, &b)?;
            let sql = format!(
                "UPDATE books SET title = $2, author = $3, year = $4, isbn = $5, copies = $6, available = $6 - $7 \
                 WHERE id = $1 RETURNING {COLUMNS}"
            );
            let row = tx
                .query_one(&sql, &[&id, &b.title, &b.author, &b.year, &b.isbn, &b.copies, &on_loan])
                .await
                .map_err(|e| pg_unique_isbn(e, b.isbn.as_deref()))?;
            let book = pg_book(&row)?;
            tx.commit().await?;
            Ok(book)
        }
    }
}

/// The copies of `current` on loan, if the new fields `b` keep at least that many.
fn copies_on_loan(current: &Book, b: &ValidBook) -> Result<i64, AppError> {
    let on_loan = current.copies - current.available;
    if b.copies < on_loan {
        return Err(AppError::Conflict(format!("{on_loan} copies are on loan; copies cannot go below that")));
    }
    Ok(on_loan)
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
pub async fn update(db: &Db, id: i64, patch: BookPatch) -> Result<Book, AppError> {
    change(db, id, move |current| {
        let merged = BookInput {
            title: patch.title.unwrap_or(current.title),
            author: patch.author.unwrap_or(current.author),
            year: patch.year.unwrap_or(current.year),
            isbn: patch.isbn.unwrap_or(current.isbn),
            copies: patch.copies.unwrap_or(current.copies),
        };
        merged.validate().map_err(AppError::Validation)
    })
    .await
}

fn no_copy_on_loan(current: &Book) -> Result<(), AppError> {
    match current.copies - current.available {
        0 => Ok(()),
        n => Err(AppError::Conflict(format!("{n} copies are on loan"))),
    }
}

/// Removes book `id` and its loan history.
///
/// # Errors
/// 404; 409 while copies are on loan.
pub async fn delete(db: &Db, id: i64) -> Result<(), AppError> {
    match db {
        Db::Sqlite(pool) => {
            pool.transaction(move |tx| {
                no_copy_on_loan(&fetch(tx, id)?)?;
                tx.execute_cached("DELETE FROM books WHERE id = ?1", [id])?;
                Ok(())
            })
            .await
        }
        Db::Postgres(pg) => {
            let mut c = pg.get().await?;
            let tx = c.transaction().await?;
            no_copy_on_loan(&pg_fetch(&tx, id, " FOR UPDATE").await?.ok_or_else(|| not_found(id))?)?;
            tx.execute("DELETE FROM books WHERE id = $1", &[&id]).await?;
            tx.commit().await?;
            Ok(())
        }
    }
}
