//! `State<T>`: the application's shared state, given to the router once with
//! [`Router::with_state`](crate::Router::with_state) and extracted by any handler.
//!
//! The state is cloned for each request, so it is usually a struct of `Arc`s (a pool, a
//! cache, the config). [`FromRef`] lets a handler take just the part it needs:
//! `State<Pool>` from an `AppState` that implements `FromRef<AppState> for Pool`.

use super::FromRequestParts;
use http::request::Parts;
use std::convert::Infallible;

/// The router's state, or the part of it `T` names.
#[derive(Debug, Clone, Copy, Default)]
pub struct State<T>(pub T);

/// How to get a `Self` out of the whole state `S`; every `Clone` type gets it from itself.
pub trait FromRef<S> {
    /// Takes `Self` from `input`.
    fn from_ref(input: &S) -> Self;
}

impl<T: Clone> FromRef<T> for T {
    fn from_ref(input: &T) -> T {
        input.clone()
    }
}

impl<S: Sync, T: FromRef<S> + Send> FromRequestParts<S> for State<T> {
    type Rejection = Infallible;

    async fn from_request_parts(_: &mut Parts, state: &S) -> Result<State<T>, Infallible> {
        Ok(State(T::from_ref(state)))
    }
}
