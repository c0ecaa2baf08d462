//! The wait list: members who want a book while no copy is free, first come first served.
//!
//! Joining is allowed only while the book has no copy available (otherwise: borrow it). A
//! return, in its own transaction, takes the first member off the book's list and enqueues
//! a `book_available` job for them (`jobs/kinds.rs`): the notice exists if and only if the
//! return happened, and each return notifies one member. The copy is not held for them —
//! whoever borrows first gets it — so the notice says so.

use crate::clock::unix_now;
use crate::db::{CachedStatements, Db};
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
pub async fn join(db: &Db, user: i64, id: i64) -> Result<(Place, bool), AppError> {
    let now = unix_now();
    let pool = match db {
        Db::Sqlite(pool) => pool,
        Db::Postgres(pg) => {
            let mut c = pg.get().await?;
            let tx = c.transaction().await?;
            let available = tx.query_opt("SELECT available FROM books WHERE id = $1", &[&id]).await?;
            joinable(id, available.map(|r| r.try_get(0)).transpose()?)?;
            let added = tx
                .execute(
                    "INSERT INTO waitlist (book_id, user_id, joined_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    &[&id, &user, &now],
                )
                .await?
                == 1;
            let position: i64 = tx.query_one(&pg_sql(POSITION), &[&id, &user]).await?.try_get(0)?;
            tx.commit().await?;
            return Ok((Place { book_id: id, position }, added));
        }
    };
    pool.transaction(move |tx| {
        let available: Option<i64> = tx
            .query_row_cached("SELECT available FROM books WHERE id = ?1", [id], |r| r.get(0))
            .optional()?;
        joinable(id, available)?;
        let added = tx.execute_cached(
            "INSERT INTO waitlist (book_id, user_id, joined_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            params![id, user, now],
        )? == 1;
        Ok((Place { book_id: id, position: position(tx, id, user)?.expect("just joined") }, added))
    })
    .await
}

/// Whether a book with `available` copies free (`None`: no such book) can be waited for.
fn joinable(id: i64, available: Option<i64>) -> Result<(), AppError> {
    match available {
        None => Err(AppError::NotFound(format!("no book with id {id}"))),
        Some(n) if n > 0 => Err(AppError::Conflict(format!("{n} copies are free: borrow one instead"))),
        Some(_) => Ok(()),
    }
}

/// Takes `user` off book `id`'s list. Leaving a list one is not on succeeds too: the
/// outcome the caller wants holds either way (and a retried request gets the same answer).
///
/// # Errors
/// 404 if there is no such book.
pub async fn leave(db: &Db, user: i64, id: i64) -> Result<(), AppError> {
    let pool = match db {
        Db::Sqlite(pool) => pool,
        Db::Postgres(pg) => {
            let c = pg.get().await?;
            c.execute("DELETE FROM waitlist WHERE book_id = $1 AND user_id = $2", &[&id, &user]).await?;
            return match c.query_opt("SELECT 1 FROM books WHERE id = $1", &[&id]).await? {
                Some(_) => Ok(()),
                None => Err(AppError::NotFound(format!("no book with id {id}"))),
            };
        }
    };
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

/// A member's place on a book's list (`?1` the book, `?2` the member).
const POSITION: &str = "SELECT (SELECT count(*) FROM waitlist w2 WHERE w2.book_id = w.book_id
                   AND (w2.joined_at, w2.user_id) <= (w.joined_at, w.user_id))
         FROM waitlist w WHERE w.book_id = ?1 AND w.user_id = ?2";

/// `sql` with PostgreSQL's `$N` parameters for SQLite's `?N`.
fn pg_sql(sql: &str) -> String {
    sql.replace('?', "$")
}

fn position(tx: &Transaction<'_>, book: i64, user: i64) -> rusqlite::Result<Option<i64>> {
    tx.query_row_cached(POSITION, params![book, user], |r| r.get(0)).optional()
}

/// The first member waiting for `?1` (`?1` the book): who, their email, the book's title.
const NEXT: &str = "SELECT w.user_id, u.email, b.title FROM waitlist w JOIN users u ON u.id = w.user_id
             JOIN books b ON b.id = w.book_id
             WHERE w.book_id = ?1 ORDER BY w.joined_at, w.user_id LIMIT 1";

/// A return that may free a copy for someone waiting.
#[derive(Debug, Clone, Copy)]
pub struct Returned<'a> {
    /// The book.
    pub book: i64,
    /// The loan returned.
    pub loan: i64,
    /// The span of the request that returned it: the notice's job continues its trace.
    pub trace: Option<&'a kiln_http::middleware::TraceContext>,
}

/// The notice for `user` that `returned`'s book has a copy free.
fn notice(
    kinds: &Registry,
    returned: Returned<'_>,
    user: i64,
    email: String,
    title: String,
) -> crate::jobs::JobSpec {
    let Returned { book, loan, trace } = returned;
    let mut notice = kinds
        .spec("book_available", serde_json::json!({ "book_id": book, "title": title, "email": email }))
        .traced(trace);
    notice.created_by = Some(user);
    notice.idempotency_key = Some(format!("available-{loan}"));
    notice
}

/// [`notify_next`] on PostgreSQL, in the return's transaction `tx`.
///
/// # Errors
/// Storage failures (the return rolls back with them).
pub async fn pg_notify_next(
    tx: &kiln_postgres::Client,
    kinds: &Registry,
    returned: Returned<'_>,
) -> Result<Option<i64>, AppError> {
    let book = returned.book;
    let Some(next) = tx.query_opt(&format!("{} FOR UPDATE OF w", pg_sql(NEXT)), &[&book]).await? else {
        return Ok(None);
    };
    let user: i64 = next.try_get(0)?;
    tx.execute("DELETE FROM waitlist WHERE book_id = $1 AND user_id = $2", &[&book, &user]).await?;
    let spec = notice(kinds, returned, user, next.try_get(1)?, next.try_get(2)?);
    crate::jobs::postgres::enqueue_in(tx, spec).await?;
    Ok(Some(user))
}

/// In a return's transaction: takes the first member off the returned book's list and
/// enqueues their notice (idempotency key `available-<loan>`). Returns whom it notifies.
///
/// # Errors
/// Storage failures (the return rolls back with them).
pub fn notify_next(
    tx: &Transaction<'_>,
    kinds: &Registry,
    returned: Returned<'_>,
) -> Result<Option<i64>, AppError> {
    let book = returned.book;
    let next: Option<(i64, String, String)> =
        tx.query_row_cached(NEXT, [book], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).optional()?;
    let Some((user, email, title)) = next else { return Ok(None) };
    tx.execute_cached("DELETE FROM waitlist WHERE book_id = ?1 AND user_id = ?2", params![book, user])?;
    crate::jobs::sqlite::enqueue_in(tx, notice(kinds, returned, user, email, title))?;
    Ok(Some(user))
}
