//! The wait list: members who want a book while no copy is free, first come first served.
//!
//! Joining is allowed only while the book has no copy available (otherwise: borrow it). A
//! return, in its own transaction, takes the first member off the book's list and enqueues
//! a `book_available` job for them (`jobs/kinds.rs`): the notice exists if and only if the
//! return happened, and each return notifies one member. The copy is not held for them —
//! whoever borrows first gets it — so the notice says so.

use crate::clock::unix_now;
use crate::db::{CachedStatements, Pool};
use crate::error::AppError;
use crate::jobs::Registry;
use rusqlite::{params, OptionalExtension, Transaction};
use serde::Serialize;

/// A member's place on a book's list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Place {
    /// The book.
    pub book_id: i64,
    /// 1 for the first in line.
    pub position: i64,
}

/// Puts `user` on book `id`'s list (or finds them there: `Ok((place, false))`).
///
/// # Errors
/// 404 (no such book), 409 (a copy is free: borrow it instead).
pub async fn join(pool: &Pool, user: i64, id: i64) -> Result<(Place, bool), AppError> {
    let now = unix_now();
    pool.transaction(move |tx| {
        let available: Option<i64> = tx
            .query_row_cached("SELECT available FROM books WHERE id = ?1", [id], |r| r.get(0))
            .optional()?;
        match available {
            None => return Err(AppError::NotFound(format!("no book with id {id}"))),
            Some(n) if n > 0 => {
                return Err(AppError::Conflict(format!("{n} copies are free: borrow one instead")))
            }
            Some(_) => {}
        }
        let added = tx.execute_cached(
            "INSERT INTO waitlist (book_id, user_id, joined_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            params![id, user, now],
        )? == 1;
        Ok((Place { book_id: id, position: position(tx, id, user)?.expect("just joined") }, added))
    })
    .await
}

/// Takes `user` off book `id`'s list. Leaving a list one is not on succeeds too: the
/// outcome the caller wants holds either way (and a retried request gets the same answer).
///
/// # Errors
/// 404 if there is no such book.
pub async fn leave(pool: &Pool, user: i64, id: i64) -> Result<(), AppError> {
    pool.write(move |c| {
        c.execute_cached("DELETE FROM waitlist WHERE book_id = ?1 AND user_id = ?2", params![id, user])?;
        let exists: bool =
            c.query_row_cached("SELECT EXISTS(SELECT 1 FROM books WHERE id = ?1)", [id], |r| r.get(0))?;
        if exists {
            Ok(())
        } else {
            Err(AppError::NotFound(format!("no book with id {id}")))
        }
    })
    .await
}

fn position(tx: &Transaction<'_>, book: i64, user: i64) -> rusqlite::Result<Option<i64>> {
    tx.query_row_cached(
        "SELECT (SELECT count(*) FROM waitlist w2 WHERE w2.book_id = w.book_id
                   AND (w2.joined_at, w2.user_id) <= (w.joined_at, w.user_id))
         FROM waitlist w WHERE w.book_id = ?1 AND w.user_id = ?2",
        params![book, user],
        |r| r.get(0),
    )
    .optional()
}

/// In a return's transaction: takes the first member off book `book`'s list and enqueues
/// their notice (idempotency key `available-<loan>`). Returns whom it notifies.
///
/// # Errors
/// Storage failures (the return rolls back with them).
pub fn notify_next(
    tx: &Transaction<'_>,
    kinds: &Registry,
    book: i64,
    loan: i64,
) -> Result<Option<i64>, AppError> {
    let next: Option<(i64, String, String)> = tx
        .query_row_cached(
            "SELECT w.user_id, u.email, b.title FROM waitlist w JOIN users u ON u.id = w.user_id
             JOIN books b ON b.id = w.book_id
             WHERE w.book_id = ?1 ORDER BY w.joined_at, w.user_id LIMIT 1",
            [book],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((user, email, title)) = next else { return Ok(None) };
    tx.execute_cached("DELETE FROM waitlist WHERE book_id = ?1 AND user_id = ?2", params![book, user])?;
    let mut notice =
        kinds.spec("book_available", serde_json::json!({ "book_id": book, "title": title, "email": email }));
    notice.created_by = Some(user);
    notice.idempotency_key = Some(format!("available-{loan}"));
    crate::jobs::sqlite::enqueue_in(tx, notice)?;
    Ok(Some(user))
}
