//! The Book Library API of week 3: routes, handlers, and the middleware stack around them.
//!
//! | method and path | does | answers |
//! |---|---|---|
//! | `GET /books` | list, filtered, sorted, paged | 200 `{items, total, limit, offset, next, next_cursor}` |
//! | `POST /books` | create | 201 + `Location`, or 422 with field errors, 409 on a taken ISBN |
//! | `GET /books/{id}` | one book | 200, or 404 |
//! | `PUT /books/{id}` | replace every field | 200, 404, 422, 409 |
//! | `PATCH /books/{id}` | change some fields | 200, 404, 422, 409 |
//! | `DELETE /books/{id}` | remove | 204, or 404 |
//!
//! Listing parameters: `limit` (1–100, default 20), `offset` *or* `cursor` (from the previous
//! page's `next_cursor`), `author` (exact, any case), `year_from`, `year_to`, `q` (in the
//! title, any case), `sort` (`id`, `title`, `author`, `year`; `-` in front for descending).
//! Every error is an RFC 9457 problem body; validation errors list each field in `errors`.
//!
//! The handlers are plain async functions of extractors: they never see a raw request,
//! and everything they return becomes a response through `IntoResponse`.

use crate::store::{
    Book, BookPatch, FieldError, Listing, NewBook, Sort, Start, Store, StoreError, DEFAULT_LIMIT, MAX_LIMIT,
};
use kiln::http::extract::{Json, Path, Query, State};
use kiln::http::http::header::{HeaderName, LOCATION};
use kiln::http::http::{Method, StatusCode};
use kiln::http::middleware::{
    BodyLimitLayer, CatchPanicLayer, CorsLayer, RateLimitLayer, RequestIdLayer, TimeoutLayer, TraceLayer,
};
use kiln::http::response::{IntoResponse, Problem};
use kiln::http::router::get;
use kiln::http::{Router, Service, ServiceExt};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Settings of the middleware around the API.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Origins allowed by CORS (none: browsers on other origins are refused).
    pub cors_origins: Vec<String>,
    /// Requests per second per client IP, on average.
    pub rate_per_sec: u32,
    /// Burst allowed above that rate.
    pub burst: u32,
    /// Longest time a handler may take (503 after).
    pub timeout: Duration,
    /// Largest request body (413 above).
    pub max_body: usize,
}

impl Default for ApiConfig {
    fn default() -> ApiConfig {
        ApiConfig {
            cors_origins: Vec::new(),
            rate_per_sec: 100,
            burst: 200,
            timeout: Duration::from_secs(10),
            max_body: 64 * 1024,
        }
    }
}

/// The routes, with the store as state.
pub fn router(store: Store) -> Router {
    Router::new()
        .route("/books", get(list).post(create))
        .route("/books/{id}", get(show).put(replace).patch(update).delete(remove))
        .with_state(store)
}

/// The routes inside the middleware stack: request id (outermost) → trace → CORS → rate
/// limit → catch-panic → timeout → body limit → router. CORS is outside the limiter so
/// that a 429 still carries the CORS headers a browser page needs to read it.
pub fn service(store: Store, config: &ApiConfig) -> impl Service {
    let mut cors = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
        .allow_headers([HeaderName::from_static("content-type"), HeaderName::from_static("x-request-id")])
        .expose_headers([HeaderName::from_static("x-request-id"), LOCATION]);
    for origin in &config.cors_origins {
        cors = cors.allow_origin(origin);
    }
    router(store)
        .layer(BodyLimitLayer::new(config.max_body))
        .layer(TimeoutLayer::new(config.timeout))
        .layer(CatchPanicLayer::new())
        .layer(RateLimitLayer::per_second(config.rate_per_sec, config.burst))
        .layer(cors)
        .layer(TraceLayer::new())
        .layer(RequestIdLayer::new())
}

/// The store's errors as problem responses.
struct ApiError(StoreError);

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> kiln::http::http::Response<kiln::http::Body> {
        let problem = match self.0 {
            StoreError::NotFound(id) => {
                Problem::new(StatusCode::NOT_FOUND).detail(format!("no book with id {id}"))
            }
            StoreError::DuplicateIsbn(isbn) => {
                Problem::new(StatusCode::CONFLICT).detail(format!("another book has ISBN {isbn}"))
            }
            StoreError::Invalid(errors) => Problem::new(StatusCode::UNPROCESSABLE_ENTITY)
                .detail(format!("{} invalid field(s)", errors.len()))
                .member("errors", serde_json::to_value(errors).expect("field errors serialize")),
        };
        problem.into_response()
    }
}

/// A query parameter that parsed but is out of range: 422 naming the field, the shape of
/// every validation error (a parameter that does not parse is the extractor's 400).
fn invalid_query(field: &'static str, message: impl Into<String>) -> Problem {
    let errors = vec![FieldError { field, message: message.into() }];
    Problem::new(StatusCode::UNPROCESSABLE_ENTITY)
        .detail("1 invalid field(s)")
        .member("errors", serde_json::to_value(errors).expect("field errors serialize"))
}

/// The query of `GET /books`, as sent.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub year_from: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub year_to: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort: Option<String>,
}

/// A page of `GET /books`.
#[derive(Debug, Serialize, Deserialize)]
pub struct PageBody {
    pub items: Vec<Book>,
    pub total: usize,
    pub limit: usize,
    pub offset: usize,
    /// Path and query of the next page (same paging style as this request), if any.
    pub next: Option<String>,
    /// Cursor for the next page, if any.
    pub next_cursor: Option<String>,
}

/// A cursor is the sort it belongs to and the last book of its page, hex-encoded JSON: opaque
/// to clients, and checked when it comes back.
fn encode_cursor(sort: &str, last: &Book) -> String {
    let json = serde_json::to_vec(&(sort, last)).expect("a book serializes");
    json.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_cursor(cursor: &str, sort: &str) -> Result<Book, Problem> {
    let invalid = || invalid_query("cursor", "invalid cursor: use the next_cursor of a previous page");
    if cursor.len() % 2 != 0 || cursor.len() > 4096 {
        return Err(invalid());
    }
    let bytes: Vec<u8> = (0..cursor.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(cursor.get(i..i + 2).unwrap_or("zz"), 16))
        .collect::<Result<_, _>>()
        .map_err(|_| invalid())?;
    let (cursor_sort, last): (String, Book) = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if cursor_sort != sort {
        return Err(invalid_query(
            "cursor",
            format!("this cursor belongs to sort={cursor_sort}, not sort={sort}"),
        ));
    }
    Ok(last)
}

async fn list(
    State(store): State<Store>,
    Query(params): Query<ListParams>,
) -> Result<Json<PageBody>, Problem> {
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(invalid_query("limit", format!("limit must be between 1 and {MAX_LIMIT}")));
    }
    let sort_text = params.sort.clone().unwrap_or_else(|| "id".into());
    let sort = Sort::parse(&sort_text).ok_or_else(|| {
        invalid_query("sort", "sort must be id, title, author or year, with an optional leading '-'")
    })?;
    // An empty cursor is no cursor (a client filling `cursor={next_cursor}` on the first page).
    let cursor = params.cursor.as_ref().filter(|c| !c.is_empty());
    let start = match (&params.offset, cursor) {
        (Some(_), Some(_)) => return Err(invalid_query("cursor", "use offset or cursor, not both")),
        (Some(n), None) => Start::Offset(*n),
        (None, Some(c)) => Start::After(decode_cursor(c, &sort_text)?),
        (None, None) => Start::First,
    };
    let listing = Listing {
        author: params.author.clone(),
        year_from: params.year_from,
        year_to: params.year_to,
        q: params.q.clone(),
        sort,
        limit,
        start,
    };
    let page = store.list(&listing);
    let next_cursor = page.more_after.as_ref().map(|last| encode_cursor(&sort_text, last));
    let next = next_cursor.as_ref().map(|cursor| {
        let next_params = match params.offset {
            Some(_) => ListParams { offset: Some(page.offset + limit), ..clone_params(&params) },
            None => ListParams { cursor: Some(cursor.clone()), ..clone_params(&params) },
        };
        format!("/books?{}", serde_urlencoded::to_string(&next_params).expect("a flat struct encodes"))
    });
    Ok(Json(PageBody { items: page.items, total: page.total, limit, offset: page.offset, next, next_cursor }))
}

fn clone_params(p: &ListParams) -> ListParams {
    ListParams {
        limit: p.limit,
        offset: p.offset,
        cursor: None,
        author: p.author.clone(),
        year_from: p.year_from,
        year_to: p.year_to,
        q: p.q.clone(),
        sort: p.sort.clone(),
    }
}

async fn create(State(store): State<Store>, Json(new): Json<NewBook>) -> Result<impl IntoResponse, ApiError> {
    let book = store.create(new)?;
    tracing::info!(id = book.id, title = %book.title, "book created");
    Ok((StatusCode::CREATED, [(LOCATION, format!("/books/{}", book.id))], Json(book)))
}

async fn show(State(store): State<Store>, Path(id): Path<u64>) -> Result<Json<Book>, ApiError> {
    Ok(Json(store.get(id)?))
}

async fn replace(
    State(store): State<Store>,
    Path(id): Path<u64>,
    Json(new): Json<NewBook>,
) -> Result<Json<Book>, ApiError> {
    Ok(Json(store.replace(id, new)?))
}

async fn update(
    State(store): State<Store>,
    Path(id): Path<u64>,
    Json(patch): Json<BookPatch>,
) -> Result<Json<Book>, ApiError> {
    Ok(Json(store.update(id, patch)?))
}

async fn remove(State(store): State<Store>, Path(id): Path<u64>) -> Result<StatusCode, ApiError> {
    store.delete(id)?;
    tracing::info!(id, "book deleted");
    Ok(StatusCode::NO_CONTENT)
}
