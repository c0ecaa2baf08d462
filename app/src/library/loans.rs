//! Loans: borrow a copy, return it, list mine.
//!
//! A borrow is one write transaction: count the member's open loans (at most
//! `max_open_loans`), take a copy with `UPDATE books SET available = available - 1 WHERE id = ?
//! AND available > 0`, and record the loan. On SQLite writers are serialised by the pool; on
//! PostgreSQL they run at once, and the conditional update still cannot oversell — it waits
//! for the row's lock and checks `available` again — while a lock on the member's row makes
//! one member's borrows take turns, so two at once cannot both pass the count. 50
//! concurrent borrows of a book with 3 copies give exactly 3 loans on either (tested).

use super::LibraryConfig;
use crate::auth::user::Role;
use crate::clock::unix_now;
use crate::db::CachedStatements;
use crate::db::Db;
use crate::error::AppError;
use crate::jobs::Registry;
use kiln_http::middleware::TraceContext;
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A loan as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Loan {
    /// Id.
    pub id: i64,
    /// The book.
    pub book_id: i64,
    /// When it was borrowed (Unix seconds).
    pub borrowed_at: i64,
    /// When it was returned; `null` while open.
    pub returned_at: Option<i64>,
}

/// Borrows a copy of `book` for `user`.
///
/// # Errors
/// 404 (no such book), 409 (no copy available, or the member holds the maximum).
pub async fn borrow(db: &Db, config: LibraryConfig, user: i64, book: i64) -> Result<Loan, AppError> {
    let now = unix_now();
    let pool = match db {
        Db::Sqlite(pool) => pool,
        Db::Postgres(pg) => {
            let mut c = pg.get().await?;
            let tx = c.transaction().await?;
            tx.query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", &[&user]).await?;
            let open: i64 = tx
                .query_one("SELECT COUNT(*) FROM loans WHERE user_id = $1 AND returned_at IS NULL", &[&user])
                .await?
                .try_get(0)?;
            if open >= config.max_open_loans {
                return Err(too_many(open));
            }
            let taken = tx
                .execute(
                    "UPDATE books SET available = available - 1 WHERE id = $1 AND available > 0",
                    &[&book],
                )
                .await?;
            if taken == 0 {
                let exists = tx.query_opt("SELECT 1 FROM books WHERE id = $1", &[&book]).await?.is_some();
                return Err(not_taken(exists, book));
            }
            let id: i64 = tx
                .query_one(
                    "INSERT INTO loans (user_id, book_id, borrowed_at) VALUES ($1, $2, $3) RETURNING id",
                    &[&user, &book, &now],
                )
                .await?
                .try_get(0)?;
            tx.commit().await?;
            return Ok(Loan { id, book_id: book, borrowed_at: now, returned_at: None });
        }
    };
    pool.transaction(move |tx| {
        let open: i64 = tx.query_row_cached(
            "SELECT COUNT(*) FROM loans WHERE user_id = ?1 AND returned_at IS NULL",
            [user],
            |r| r.get(0),
        )?;
        if open >= config.max_open_loans {
            return Err(too_many(open));
        }
        let taken = tx.execute_cached(
            "UPDATE books SET available = available - 1 WHERE id = ?1 AND available > 0",
            [book],
        )?;
        if taken == 0 {
            let exists: bool =
                tx.query_row_cached("SELECT EXISTS(SELECT 1 FROM books WHERE id = ?1)", [book], |r| {
                    r.get(0)
                })?;
            return Err(not_taken(exists, book));
        }
        tx.execute_cached(
            "INSERT INTO loans (user_id, book_id, borrowed_at) VALUES (?1, ?2, ?3)",
            params![user, book, now],
        )?;
        Ok(Loan { id: tx.last_insert_rowid(), book_id: book, borrowed_at: now, returned_at: None })
    })
    .await
}

fn too_many(open: i64) -> AppError {
    AppError::Conflict(format!("you already hold {open} loans, the most allowed"))
}

/// Why no copy was taken: none free, or no such book.
fn not_taken(exists: bool, book: i64) -> AppError {
    if exists {
        AppError::Conflict("no copy of this book is available".into())
    } else {
        AppError::NotFound(format!("no book with id {book}"))
    }
}

/// Returns loan `id`, which must be `user`'s (an admin may return anyone's), and tells the
/// first member waiting for the book (`waitlist.rs`) through a job of `kinds`, on behalf of
/// the span `trace` (the request's) if any.
///
/// # Errors
/// 404 (no such loan, or not the caller's), 409 (already returned).
pub async fn give_back(
    db: &Db,
    kinds: Arc<Registry>,
    user: i64,
    id: i64,
    trace: Option<TraceContext>,
) -> Result<Loan, AppError> {
    let now = unix_now();
    let pool = match db {
        Db::Sqlite(pool) => pool,
        Db::Postgres(pg) => {
            let mut c = pg.get().await?;
            let tx = c.transaction().await?;
            let role = tx.query_opt("SELECT role FROM users WHERE id = $1", &[&user]).await?;
            let is_admin = match role {
                Some(r) => r.try_get::<_, String>(0)? == Role::Admin.as_stored(),
                None => false,
            };
            let row = tx
                .query_opt(
                    "SELECT user_id, book_id, borrowed_at, returned_at FROM loans WHERE id = $1 FOR UPDATE",
                    &[&id],
                )
                .await?;
            let loan = match row {
                Some(r) => Some((
                    r.try_get::<_, i64>(0)?,
                    r.try_get(1)?,
                    r.try_get(2)?,
                    r.try_get::<_, Option<i64>>(3)?,
                )),
                None => None,
            };
            let Some((_, book, borrowed_at, returned)) = loan.filter(|l| l.0 == user || is_admin) else {
                return Err(AppError::NotFound(format!("no loan with id {id}")));
            };
            if returned.is_some() {
                return Err(AppError::Conflict("this loan was already returned".into()));
            }
            tx.execute("UPDATE loans SET returned_at = $2 WHERE id = $1", &[&id, &now]).await?;
            tx.execute("UPDATE books SET available = available + 1 WHERE id = $1", &[&book]).await?;
            let returned = super::waitlist::Returned { book, loan: id, trace: trace.as_ref() };
            super::waitlist::pg_notify_next(&tx, &kinds, returned).await?;
            tx.commit().await?;
            return Ok(Loan { id, book_id: book, borrowed_at, returned_at: Some(now) });
        }
    };
    pool.transaction(move |tx| {
        // The role is read in the same transaction: one trip to the blocking pool, not two.
        let is_admin = tx
            .query_row_cached("SELECT role FROM users WHERE id = ?1", [user], |r| r.get::<_, Role>(0))
            .optional()?
            == Some(Role::Admin);
        let row: Option<(i64, i64, i64, Option<i64>)> = tx
            .query_row_cached(
                "SELECT user_id, book_id, borrowed_at, returned_at FROM loans WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        // Someone else's loan is "not found", not "forbidden": ids do not leak.
        let Some((owner, book, borrowed_at, returned)) = row.filter(|r| r.0 == user || is_admin) else {
            return Err(AppError::NotFound(format!("no loan with id {id}")));
        };
        let _ = owner;
        if returned.is_some() {
            return Err(AppError::Conflict("this loan was already returned".into()));
        }
        tx.execute_cached("UPDATE loans SET returned_at = ?2 WHERE id = ?1", params![id, now])?;
        tx.execute_cached("UPDATE books SET available = available + 1 WHERE id = ?1", [book])?;
        let returned = super::waitlist::Returned { book, loan: id, trace: trace.as_ref() };
        super::waitlist::notify_next(tx, &kinds, returned)?;
        Ok(Loan { id, book_id: book, borrowed_at, returned_at: Some(now) })
    })
    .await
}

/// `user`'s loans, open ones first, newest first.
///
/// # Errors
/// Storage failures.
pub async fn mine(db: &Db, user: i64) -> Result<Vec<Loan>, AppError> {
    let pool = match db {
        Db::Sqlite(pool) => pool,
        Db::Postgres(pg) => {
            let rows = pg
                .get()
                .await?
                .query(
                    "SELECT id, book_id, borrowed_at, returned_at FROM loans WHERE user_id = $1
                     ORDER BY returned_at IS NOT NULL, borrowed_at DESC, id DESC",
                    &[&user],
                )
                .await?;
            return rows
                .iter()
                .map(|r| {
                    Ok(Loan {
                        id: r.try_get(0)?,
                        book_id: r.try_get(1)?,
                        borrowed_at: r.try_get(2)?,
                        returned_at: r.try_get(3)?,
                    })
                })
                .collect();
        }
    };
    pool.read(move |c| {
        let mut stmt = c.prepare_cached(
            "SELECT id, book_id, borrowed_at, returned_at FROM loans WHERE user_id = ?1
             ORDER BY returned_at IS NOT NULL, borrowed_at DESC, id DESC",
        )?;
        let loans = stmt
            .query_map([user], |r| {
                Ok(Loan { id: r.get(0)?, book_id: r.get(1)?, borrowed_at: r.get(2)?, returned_at: r.get(3)? })
            })?
            .collect::<rusqlite::Result<Vec<Loan>>>()?;
        Ok(loans)
    })
    .await
}
