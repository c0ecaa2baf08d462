//! Running SQL through each connection's statement cache.
//!
//! SQLite compiles every SQL text into a program before running it, and for the short
//! queries a request makes, compiling costs more than running (a profile of `GET /books`
//! showed the parser and planner above the query itself). rusqlite keeps a per-connection
//! cache of compiled statements keyed by their text; `execute` and `query_row` bypass it.
//! These two methods go through it, so a statement is compiled once per connection.

use rusqlite::{Connection, Params, Row};

/// Capacity of each connection's statement cache: above the number of distinct statements
/// the service runs, so none is evicted and recompiled.
pub const STATEMENT_CACHE: usize = 64;

/// `execute` and `query_row` through the statement cache. A `Transaction` derefs to its
/// `Connection`, so these work inside `Pool::transaction` too.
pub trait CachedStatements {
    /// Like `Connection::execute`, with the statement compiled once per connection.
    ///
    /// # Errors
    /// As `Connection::execute`.
    fn execute_cached<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;

    /// Like `Connection::query_row`, with the statement compiled once per connection.
    ///
    /// # Errors
    /// As `Connection::query_row`.
    fn query_row_cached<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>;
}

impl CachedStatements for Connection {
    fn execute_cached<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn query_row_cached<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}
