//! `/books`, `/books/{id}/loans`, `/loans/{id}/return`, `/me/loans`: anyone lists and reads
//! books; admins change them; signed-in users borrow and return.

use crate::auth::{AdminUser, AuthUser};
use crate::error::AppError;
use crate::json::JsonObject;
use crate::library::books::{self, Book, BookPatch, ListQuery, Page};
use crate::library::loans::{self, Loan};
use crate::library::validate::BookInput;
use crate::state::AppState;
use kiln_http::extract::{Json, Path, Query, State};
use kiln_http::http::header::LOCATION;
use kiln_http::http::StatusCode;
use kiln_http::response::IntoResponse;
use kiln_http::router::{get, post};
use kiln_http::Router;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/books", get(list).post(create))
        .route("/books/{id}", get(show).put(replace).patch(update).delete(remove))
        .route("/books/{id}/loans", post(borrow))
        .route("/loans/{id}/return", post(give_back))
        .route("/me/loans", get(my_loans))
}

async fn list(State(s): State<AppState>, Query(q): Query<ListQuery>) -> Result<Json<Page>, AppError> {
    Ok(Json(books::list(&s.pool, q).await?))
}

async fn show(State(s): State<AppState>, Path(id): Path<i64>) -> Result<Json<Book>, AppError> {
    Ok(Json(books::get(&s.pool, id).await?))
}

async fn create(
    State(s): State<AppState>,
    admin: AdminUser,
    JsonObject(input): JsonObject<BookInput>,
) -> Result<impl IntoResponse, AppError> {
    let book = books::create(&s.pool, input).await?;
    tracing::info!(id = book.id, by = admin.id, "book created");
    Ok((StatusCode::CREATED, [(LOCATION, format!("/books/{}", book.id))], Json(book)))
}

async fn replace(
    State(s): State<AppState>,
    _: AdminUser,
    Path(id): Path<i64>,
    JsonObject(input): JsonObject<BookInput>,
) -> Result<Json<Book>, AppError> {
    Ok(Json(books::replace(&s.pool, id, input).await?))
}

async fn update(
    State(s): State<AppState>,
    _: AdminUser,
    Path(id): Path<i64>,
    JsonObject(patch): JsonObject<BookPatch>,
) -> Result<Json<Book>, AppError> {
    Ok(Json(books::update(&s.pool, id, patch).await?))
}

async fn remove(
    State(s): State<AppState>,
    _: AdminUser,
    Path(id): Path<i64>,
) -> Result<StatusCode, AppError> {
    books::delete(&s.pool, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn borrow(
    State(s): State<AppState>,
    user: AuthUser,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<Loan>), AppError> {
    Ok((StatusCode::CREATED, Json(loans::borrow(&s.pool, s.library, user.id, id).await?)))
}

async fn give_back(
    State(s): State<AppState>,
    user: AuthUser,
    Path(id): Path<i64>,
) -> Result<Json<Loan>, AppError> {
    Ok(Json(loans::give_back(&s.pool, user.id, id).await?))
}

async fn my_loans(State(s): State<AppState>, user: AuthUser) -> Result<Json<serde_json::Value>, AppError> {
    Ok(Json(serde_json::json!({ "items": loans::mine(&s.pool, user.id).await? })))
}
