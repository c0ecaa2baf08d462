//! The book store of week 3: books in a `HashMap` behind a lock, validation, and the listing
//! query (filters, sort, and two ways to page: offset, or an opaque cursor).
//!
//! Why a `std::sync::RwLock` and not an async one: every critical section here is a few
//! map operations with no `.await` inside, so a blocking lock is held for microseconds and
//! never across a suspension point — cheaper than an async lock, and it cannot deadlock the
//! executor. (Week 4 replaces this file with SQLite.)
//!
//! Paging by offset is simple but shifts when books are added or removed between pages. A
//! cursor names the last item seen by its sort key and id, so the next page starts right
//! after it whatever happened in between (keyset pagination).

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Default page size.
pub const DEFAULT_LIMIT: usize = 20;
/// Largest page size.
pub const MAX_LIMIT: usize = 100;

// The field rules are the service's (week 4 keeps them), so there is one copy of them.
pub use kiln::app::error::FieldError;
use kiln::app::library::validate::{check_isbn, check_text, check_year, MAX_AUTHOR, MAX_TITLE};

/// A stored book.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Book {
    pub id: u64,
    pub title: String,
    pub author: String,
    pub year: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isbn: Option<String>,
}

/// The fields a client sends to create or replace a book.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewBook {
    pub title: String,
    pub author: String,
    pub year: i32,
    #[serde(default)]
    pub isbn: Option<String>,
}

/// A partial update: absent fields are left alone; `"isbn": null` removes the ISBN.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookPatch {
    pub title: Option<String>,
    pub author: Option<String>,
    pub year: Option<i32>,
    #[serde(default, with = "double_option")]
    pub isbn: Option<Option<String>>,
}

/// Tells "absent" (`None`) from "null" (`Some(None)`).
mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(d).map(Some)
    }
}

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// No book with this id.
    NotFound(u64),
    /// Fields failed validation.
    Invalid(Vec<FieldError>),
    /// Another book has this ISBN.
    DuplicateIsbn(String),
}

impl NewBook {
    /// The book this creates, validated and trimmed.
    fn validate(self, id: u64) -> Result<Book, StoreError> {
        let mut errors = Vec::new();
        check_text(&mut errors, "title", &self.title, MAX_TITLE);
        check_text(&mut errors, "author", &self.author, MAX_AUTHOR);
        check_year(&mut errors, self.year);
        let isbn = check_isbn(&mut errors, self.isbn.as_deref());
        if !errors.is_empty() {
            return Err(StoreError::Invalid(errors));
        }
        Ok(Book {
            id,
            title: self.title.trim().to_owned(),
            author: self.author.trim().to_owned(),
            year: self.year,
            isbn,
        })
    }
}

/// The field a listing is sorted by; `-` in front of the name reverses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortField {
    #[default]
    Id,
    Title,
    Author,
    Year,
}

/// A sort order: field and direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sort {
    pub field: SortField,
    pub descending: bool,
}

impl Sort {
    /// Parses `title`, `-year`, …
    pub fn parse(text: &str) -> Option<Sort> {
        let (descending, name) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let field = match name {
            "id" => SortField::Id,
            "title" => SortField::Title,
            "author" => SortField::Author,
            "year" => SortField::Year,
            _ => return None,
        };
        Some(Sort { field, descending })
    }

    /// Compares by the field, then by id, so the order is total (what cursors need).
    pub fn compare(&self, a: &Book, b: &Book) -> Ordering {
        let by_field = match self.field {
            SortField::Id => Ordering::Equal,
            SortField::Title => a.title.to_lowercase().cmp(&b.title.to_lowercase()),
            SortField::Author => a.author.to_lowercase().cmp(&b.author.to_lowercase()),
            SortField::Year => a.year.cmp(&b.year),
        };
        let order = by_field.then(a.id.cmp(&b.id));
        if self.descending {
            order.reverse()
        } else {
            order
        }
    }
}

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub author: Option<String>,
    pub year_from: Option<i32>,
    pub year_to: Option<i32>,
    pub q: Option<String>,
    pub sort: Sort,
    pub limit: usize,
    pub start: Start,
}

/// Where a page starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Start {
    #[default]
    First,
    Offset(usize),
    /// After this book (as it was when the cursor was made).
    After(Book),
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub items: Vec<Book>,
    /// Books matching the filters, over all pages.
    pub total: usize,
    /// The last item, if there are more after it.
    pub more_after: Option<Book>,
    /// Offset of the first item.
    pub offset: usize,
}

/// Shared, in-memory book storage; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Store {
    inner: Arc<RwLock<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    books: HashMap<u64, Book>,
    next_id: u64,
}

impl Store {
    /// An empty store.
    pub fn new() -> Store {
        Store::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a book.
    pub fn create(&self, new: NewBook) -> Result<Book, StoreError> {
        let mut inner = self.write();
        let book = new.validate(inner.next_id + 1)?;
        inner.check_isbn_free(&book, None)?;
        inner.next_id += 1;
        inner.books.insert(book.id, book.clone());
        Ok(book)
    }

    /// The book with `id`.
    pub fn get(&self, id: u64) -> Result<Book, StoreError> {
        self.read().books.get(&id).cloned().ok_or(StoreError::NotFound(id))
    }

    /// Replaces every field of book `id`.
    pub fn replace(&self, id: u64, new: NewBook) -> Result<Book, StoreError> {
        let mut inner = self.write();
        if !inner.books.contains_key(&id) {
            return Err(StoreError::NotFound(id));
        }
        let book = new.validate(id)?;
        inner.check_isbn_free(&book, Some(id))?;
        inner.books.insert(id, book.clone());
        Ok(book)
    }

    /// Changes the fields `patch` names.
    pub fn update(&self, id: u64, patch: BookPatch) -> Result<Book, StoreError> {
        let mut inner = self.write();
        let current = inner.books.get(&id).cloned().ok_or(StoreError::NotFound(id))?;
        let merged = NewBook {
            title: patch.title.unwrap_or(current.title),
            author: patch.author.unwrap_or(current.author),
            year: patch.year.unwrap_or(current.year),
            isbn: patch.isbn.unwrap_or(current.isbn),
        };
        let book = merged.validate(id)?;
        inner.check_isbn_free(&book, Some(id))?;
        inner.books.insert(id, book.clone());
        Ok(book)
    }

    /// Removes book `id`.
    pub fn delete(&self, id: u64) -> Result<(), StoreError> {
        self.write().books.remove(&id).map(drop).ok_or(StoreError::NotFound(id))
    }

    /// Number of books.
    #[allow(dead_code)] // used by main, not by the tests that include this file
    pub fn len(&self) -> usize {
        self.read().books.len()
    }

    /// One page of `listing`.
    pub fn list(&self, listing: &Listing) -> Page {
        let q = listing.q.as_ref().map(|q| q.to_lowercase());
        let author = listing.author.as_ref().map(|a| a.to_lowercase());
        let mut matching: Vec<Book> = self
            .read()
            .books
            .values()
            .filter(|b| author.as_ref().is_none_or(|a| b.author.to_lowercase() == *a))
            .filter(|b| listing.year_from.is_none_or(|y| b.year >= y))
            .filter(|b| listing.year_to.is_none_or(|y| b.year <= y))
            .filter(|b| q.as_ref().is_none_or(|q| b.title.to_lowercase().contains(q)))
            .cloned()
            .collect();
        matching.sort_by(|a, b| listing.sort.compare(a, b));
        let total = matching.len();
        let offset = match &listing.start {
            Start::First => 0,
            Start::Offset(n) => (*n).min(total),
            Start::After(last) => {
                matching.partition_point(|b| listing.sort.compare(b, last) != Ordering::Greater)
            }
        };
        let end = (offset + listing.limit).min(total);
        let items = matching[offset..end].to_vec();
        let more_after = (end < total).then(|| items.last().cloned()).flatten();
        Page { items, total, more_after, offset }
    }
}

impl Inner {
    fn check_isbn_free(&self, book: &Book, except: Option<u64>) -> Result<(), StoreError> {
        let Some(isbn) = &book.isbn else { return Ok(()) };
        let taken = self.books.values().any(|b| Some(b.id) != except && b.isbn.as_ref() == Some(isbn));
        if taken {
            Err(StoreError::DuplicateIsbn(isbn.clone()))
        } else {
            Ok(())
        }
    }
}

/// A few classics, for `--seed`.
pub fn seed(store: &Store) {
    for (title, author, year, isbn) in [
        ("A Wizard of Earthsea", "Ursula K. Le Guin", 1968, Some("978-0-547-77374-2")),
        ("The Left Hand of Darkness", "Ursula K. Le Guin", 1969, Some("978-0-441-47812-5")),
        ("The Dispossessed", "Ursula K. Le Guin", 1974, None),
        ("Dune", "Frank Herbert", 1965, Some("978-0-441-17271-9")),
        ("Foundation", "Isaac Asimov", 1951, None),
        ("Neuromancer", "William Gibson", 1984, None),
        ("Kindred", "Octavia E. Butler", 1979, None),
        ("Parable of the Sower", "Octavia E. Butler", 1993, None),
        ("The Name of the Rose", "Umberto Eco", 1980, None),
        ("Piranesi", "Susanna Clarke", 2020, None),
    ] {
        let book = NewBook { title: title.into(), author: author.into(), year, isbn: isbn.map(Into::into) };
        store.create(book).expect("seed books are valid");
    }
}
