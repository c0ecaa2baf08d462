//! A row of a result: its columns' names and types (shared by every row of the result) and
//! the values, still in binary format until read.

use crate::error::PgError;
use crate::types::{FromSql, Oid};
use bytes::Bytes;
use std::ops::Range;
use std::sync::Arc;

/// A result column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Its name (`AS` or the table column's).
    pub name: String,
    /// Its type.
    pub ty: Oid,
}

/// One row.
#[derive(Debug, Clone)]
pub struct Row {
    columns: Arc<[Column]>,
    body: Bytes,
    /// Each value's bytes in `body`; `None` for `NULL`.
    ranges: Vec<Option<Range<usize>>>,
}

/// A column named by position or by name.
pub trait ColumnIndex: std::fmt::Display {
    /// Its position among `columns`.
    fn position(&self, columns: &[Column]) -> Option<usize>;
}

impl ColumnIndex for usize {
    fn position(&self, columns: &[Column]) -> Option<usize> {
        (*self < columns.len()).then_some(*self)
    }
}

impl ColumnIndex for &str {
    fn position(&self, columns: &[Column]) -> Option<usize> {
        columns.iter().position(|c| c.name == *self)
    }
}

impl Row {
    pub(crate) fn new(columns: Arc<[Column]>, body: Bytes, ranges: Vec<Option<Range<usize>>>) -> Row {
        Row { columns, body, ranges }
    }

    /// The columns.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// How many values.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Whether it has none.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Column `index` as `T`.
    ///
    /// # Errors
    /// No such column, or its value cannot be read as `T`.
    pub fn try_get<I: ColumnIndex, T: FromSql>(&self, index: I) -> Result<T, PgError> {
        let i = index.position(&self.columns).ok_or_else(|| PgError::Type(format!("no column {index}")))?;
        let raw = self.ranges[i].as_ref().map(|r| &self.body[r.clone()]);
        T::from_sql(self.columns[i].ty, raw)
            .map_err(|e| PgError::Type(format!("column {} ({index}): {e}", self.columns[i].name)))
    }

    /// Column `index` as `T`.
    ///
    /// # Panics
    /// As [`Row::try_get`] errs: a wrong column or type is a bug in the caller's SQL or code.
    pub fn get<I: ColumnIndex, T: FromSql>(&self, index: I) -> T {
        match self.try_get(index) {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        }
    }
}
