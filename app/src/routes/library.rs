//! `/books`, `/books/{id}/loans`, `/loans/{id}/return`, `/me/loans`: anyone lists and reads
//! books; admins change them; signed-in users borrow and return.

use crate::auth::{AdminUser, AuthUser};
use crate::error::AppError;
use crate::json::JsonObject;
use crate::library::books::{self, Book, BookPatch, ListQuery, Page};
use crate::library::loans::{self, Loan};
use crate::library::validate::BookInput;
use crate::library::waitlist;
use crate::state::AppState;
use kiln_http::extract::{Extension, Json, Path, Query, State};
use kiln_http::http::header::LOCATION;
use kiln_http::http::StatusCode;
use kiln_http::middleware::TraceContext;
use kiln_http::response::IntoResponse;
use kiln_http::router::{get, post};
use kiln_http::Router;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/books", get(list).post(create))
        .route("/books/{id}", get(show).put(replace).patch(update).delete(remove))
        .route("/books/{id}/loans", post(borrow))
        .route("/books/{id}/waitlist", post(wait).delete(stop_waiting))
        .route("/loans/{id}/return", post(give_back))
        .route("/me/loans", get(my_loans))
}

async fn list(State(s): State<AppState>, Query(q): Query<ListQuery>) -> Result<Json<Page>, AppError> {
    // The parsed query, written back out: one key for every spelling of one listing.
    let key = serde_urlencoded::to_string(&q).expect("a flat query encodes");
    let page = s.listings.get_or_load(key, || async { books::list(&s.db, q).await.map(Some) }).await?;
    Ok(Json(page.expect("a listing is never absent")))
}

async fn show(State(s): State<AppState>, Path(id): Path<i64>) -> Result<Json<Book>, AppError> {
    match s.books.get_or_load(id, || books::find(&s.db, id)).await? {
        Some(book) => Ok(Json(book)),
        None => Err(AppError::NotFound(format!("no book with id {id}"))),
    }
}

/// After a change to book `id` has committed, before it is answered: no later read sees the
/// old book or a listing from before the change.
async fn changed(s: &AppState, id: Option<i64>) {
    if let Some(id) = id {
        s.books.invalidate(&id).await;
    }
    s.listings.clear().await;
}

async fn create(
    State(s): State<AppState>,
    admin: AdminUser,
    JsonObject(input): JsonObject<BookInput>,
) -> Result<impl IntoResponse, AppError> {
    let book = books::create(&s.db, input).await?;
    changed(&s, Some(book.id)).await;
    tracing::info!(id = book.id, by = admin.id, "book created");
    Ok((StatusCode::CREATED, [(LOCATION, format!("/books/{}", book.id))], Json(book)))
}

async fn replace(
    State(s): State<AppState>,
    _: AdminUser,
    Path(id): Path<i64>,
    JsonObject(input): JsonObject<BookInput>,
) -> Result<Json<Book>, AppError> {
    let book = books::replace(&s.db, id, input).await?;
    changed(&s, Some(id)).await;
    Ok(Json(book))
}

async fn update(
    State(s): State<AppState>,
    _: AdminUser,
    Path(id): Path<i64>,
    JsonObject(patch): JsonObject<BookPatch>,
) -> Result<Json<Book>, AppError> {
    let book = books::update(&s.db, id, patch).await?;
    changed(&s, Some(id)).await;
    Ok(Json(book))
}

async fn remove(
    State(s): State<AppState>,
    _: AdminUser,
    Path(id): Path<i64>,
) -> Result<StatusCode, AppError> {
    books::delete(&s.db, id).await?;
    changed(&s, Some(id)).await;
    Ok(StatusCode::NO_CONTENT)
}

async fn borrow(
    State(s): State<AppState>,
    user: AuthUser,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<Loan>), AppError> {
    let loan = loans::borrow(&s.db, s.library, user.id, id).await?;
    changed(&s, Some(id)).await; // `available` went down
    Ok((StatusCode::CREATED, Json(loan)))
}

async fn give_back(
    State(s): State<AppState>,
    user: AuthUser,
    Path(id): Path<i64>,
    trace: Option<Extension<TraceContext>>,
) -> Result<Json<Loan>, AppError> {
    let trace = trace.map(|Extension(t)| t);
    let loan = loans::give_back(&s.db, s.kinds.clone(), user.id, id, trace).await?;
    changed(&s, Some(loan.book_id)).await; // `available` went up
    s.jobs.added(); // the next member waiting may have a notice
    Ok(Json(loan))
}

async fn wait(
    State(s): State<AppState>,
    user: AuthUser,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, AppError> {
    let (place, joined) = waitlist::join(&s.db, user.id, id).await?;
    Ok((if joined { StatusCode::CREATED } else { StatusCode::OK }, Json(place)))
}

async fn stop_waiting(
    State(s): State<AppState>,
    user: AuthUser,
    Path(id): Path<i64>,
) -> Result<StatusCode, AppError> {
    waitlist::leave(&s.db, user.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn my_loans(State(s): State<AppState>, user: AuthUser) -> Result<Json<serde_json::Value>, AppError> {
    Ok(Json(serde_json::json!({ "items": loans::mine(&s.db, user.id).await? })))
}
