//! `PeerAddr`: the address of the client a request came from.
//!
//! The server does not put it in every request's extensions: a first extension insert costs
//! three allocations (the map, its table, the boxed value), measurable at hundreds of
//! thousands of requests per second. Instead the connection sets it in a *scoped* thread
//! local for the duration of each poll of the service's future — the same pattern as
//! Tokio's `task_local!` — so anything running inside that poll (extractors, middleware,
//! the handler) can read it with [`PeerAddr::current`], at no cost to requests that never
//! ask. An explicit `PeerAddr` extension (a test, or a proxy layer that knows the real
//! client) takes precedence; [`PeerAddr::of`] checks both.
//!
//! The scope ends with the poll: a task the handler spawns does not see it, so extract the
//! address in the handler and pass it on.

use http::Extensions;
use std::cell::Cell;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

thread_local! {
    static CURRENT: Cell<Option<SocketAddr>> = const { Cell::new(None) };
}

/// The peer's address; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

impl PeerAddr {
    /// The peer of the request being served on this thread right now, if any.
    pub fn current() -> Option<PeerAddr> {
        CURRENT.with(Cell::get).map(PeerAddr)
    }

    /// The peer of a request with these `extensions`: an explicit `PeerAddr` extension, else
    /// [`PeerAddr::current`].
    pub fn of(extensions: &Extensions) -> Option<PeerAddr> {
        extensions.get::<PeerAddr>().copied().or_else(PeerAddr::current)
    }
}

/// Polls `future` with `peer` as [`PeerAddr::current`].
pub(crate) struct WithPeer<'a, F> {
    pub(crate) peer: SocketAddr,
    pub(crate) future: Pin<&'a mut F>,
}

/// Restores the previous value even if the poll panics.
struct Restore(Option<SocketAddr>);

impl Drop for Restore {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.0));
    }
}

impl<F: Future> Future for WithPeer<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _restore = Restore(CURRENT.with(|c| c.replace(Some(self.peer))));
        self.future.as_mut().poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scoped_to_the_poll_and_overridden_by_an_extension() {
        let peer: SocketAddr = "10.1.2.3:4567".parse().unwrap();
        let other: SocketAddr = "192.0.2.1:80".parse().unwrap();
        let rt = kiln_runtime::runtime::Builder::new_current_thread().build().unwrap();
        let inside = rt.block_on(async {
            let mut fut = std::pin::pin!(async {
                let mut ext = Extensions::new();
                let seen = PeerAddr::of(&ext);
                ext.insert(PeerAddr(other));
                (seen, PeerAddr::of(&ext))
            });
            WithPeer { peer, future: fut.as_mut() }.await
        });
        assert_eq!(inside, (Some(PeerAddr(peer)), Some(PeerAddr(other))));
        assert_eq!(PeerAddr::current(), None, "the scope ends with the poll");
    }
}
