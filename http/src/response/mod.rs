//! Responses: [`IntoResponse`], the one trait every handler's return type implements, and
//! [`Problem`], the error body Kiln and its users answer with.
//!
//! A handler returns anything that can become a `Response<Body>`: a string, bytes, a
//! status code, [`Json`](crate::extract::Json), a tuple adding a status and headers, or a
//! `Result` whose error is itself a response. That keeps handlers about their domain:
//!
//! ```
//! use kiln_http::extract::Json;
//! use kiln_http::response::{IntoResponse, Problem};
//! use kiln_http::http::StatusCode;
//!
//! async fn create() -> Result<(StatusCode, Json<serde_json::Value>), Problem> {
//!     Err(Problem::new(StatusCode::CONFLICT).detail("a book with this ISBN exists"))
//! }
//! ```

mod into;
mod problem;

pub use into::{IntoResponse, Redirect};
pub use problem::Problem;

use crate::Body;
use http::{Response, StatusCode};

/// Kiln's own error response (a route not found, a refused request, an extractor's
/// rejection): `status` with an RFC 9457 problem body whose `detail` is `message`.
pub fn error_response(status: StatusCode, message: &str) -> Response<Body> {
    Problem::new(status).detail(message).into_response()
}
