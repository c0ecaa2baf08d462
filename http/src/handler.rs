//! `Handler`: an async function whose arguments are extractors and whose return value is a
//! response.
//!
//! `async fn show(State(db): State<Db>, Path(id): Path<u64>) -> Result<Json<Book>, Problem>`
//! is a handler because every argument but the last implements
//! [`FromRequestParts`], the last implements [`FromRequest`], and the
//! return type implements [`IntoResponse`]. The impls below are generated for up to
//! twelve arguments; calling one splits the request into head and body, runs the
//! extractors in argument order (the first rejection is the response), then the function.
//!
//! `T` is the tuple of argument types (with a marker), which keeps the impls for different
//! arities apart; code never names it.

use crate::extract::{FromRequest, FromRequestParts};
use crate::response::IntoResponse;
use crate::Body;
use http::{Request, Response};
use std::future::Future;

/// An async function usable as a route's handler with router state `S`; see the module docs.
pub trait Handler<T, S>: Clone + Send + Sync + Sized + 'static {
    /// Extracts the arguments from `request` and runs the function.
    fn call(self, request: Request<Body>, state: S) -> impl Future<Output = Response<Body>> + Send;
}

impl<F, Fut, Res, S> Handler<((),), S> for F
where
    F: FnOnce() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Res> + Send,
    Res: IntoResponse,
{
    // Not an `async fn`: that would hold the unused request and state (not `Send` here)
    // across the await.
    #[allow(clippy::manual_async_fn)]
    fn call(self, _: Request<Body>, _: S) -> impl Future<Output = Response<Body>> + Send {
        async move { self().await.into_response() }
    }
}

macro_rules! impl_handler {
    ([$($head:ident),*], $last:ident) => {
        #[allow(non_snake_case, unused_mut)]
        impl<F, Fut, Res, S, M, $($head,)* $last> Handler<(M, $($head,)* $last,), S> for F
        where
            F: FnOnce($($head,)* $last) -> Fut + Clone + Send + Sync + 'static,
            Fut: Future<Output = Res> + Send,
            Res: IntoResponse,
            S: Send + Sync + 'static,
            $($head: FromRequestParts<S> + Send,)*
            $last: FromRequest<S, M> + Send,
        {
            fn call(self, request: Request<Body>, state: S) -> impl Future<Output = Response<Body>> + Send {
                async move {
                    let (mut parts, body) = request.into_parts();
                    $(
                        let $head = match $head::from_request_parts(&mut parts, &state).await {
                            Ok(value) => value,
                            Err(rejection) => return rejection.into_response(),
                        };
                    )*
                    let request = Request::from_parts(parts, body);
                    let $last = match $last::from_request(request, &state).await {
                        Ok(value) => value,
                        Err(rejection) => return rejection.into_response(),
                    };
                    self($($head,)* $last).await.into_response()
                }
            }
        }
    };
}

impl_handler!([], T1);
impl_handler!([T1], T2);
impl_handler!([T1, T2], T3);
impl_handler!([T1, T2, T3], T4);
impl_handler!([T1, T2, T3, T4], T5);
impl_handler!([T1, T2, T3, T4, T5], T6);
impl_handler!([T1, T2, T3, T4, T5, T6], T7);
impl_handler!([T1, T2, T3, T4, T5, T6, T7], T8);
impl_handler!([T1, T2, T3, T4, T5, T6, T7, T8], T9);
impl_handler!([T1, T2, T3, T4, T5, T6, T7, T8, T9], T10);
impl_handler!([T1, T2, T3, T4, T5, T6, T7, T8, T9, T10], T11);
impl_handler!([T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11], T12);
