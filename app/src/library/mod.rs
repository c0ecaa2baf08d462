//! The book library and loans on SQLite: field rules (`validate.rs`), books (`books.rs`),
//! loans (`loans.rs`). Every query binds its values as parameters; the only SQL text built
//! at run time is the `ORDER BY`, chosen from a fixed list.

pub mod books;
pub mod loans;
pub mod validate;
pub mod waitlist;

/// Library settings.
#[derive(Debug, Clone, Copy)]
pub struct LibraryConfig {
    /// Open loans one member may hold (default 5).
    pub max_open_loans: i64,
}

impl Default for LibraryConfig {
    fn default() -> LibraryConfig {
        LibraryConfig { max_open_loans: 5 }
    }
}
