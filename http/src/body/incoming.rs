//! A request body still arriving on its connection.
//!
//! The server moves the connection's [`RequestReader`] into the body it gives the handler,
//! so reading the body reads the socket directly, chunk by chunk, under the server's limits:
//! at most `max_body` bytes (413), at most `body_timeout` between reads, and a whole-body
//! deadline of `body_timeout` plus one second per `body_min_rate` bytes received, counted
//! from the first read (408) — a pause limit alone lets a client keep a request open forever
//! with one byte before each pause would end. The reader
//! goes back to the connection through a shared [`ReaderSlot`] as soon as the body is
//! complete, or when the body is dropped unfinished (the connection then decides whether to
//! drain the rest or close). A body that failed, or that a handler keeps somewhere past its
//! response, never returns the reader, and the connection closes after the response.
//!
//! `Expect: 100-continue` is answered here, lazily: the first time the body needs bytes
//! that have not arrived, it asks the connection to send `100 Continue`.

use super::BodyError;
use crate::h1::read::{closed_in_body, timeout, BodyState};
use crate::h1::RequestError;
use crate::h1::RequestReader;
use bytes::Bytes;
use kiln_net::net::tcp::OwnedReadHalf;
use kiln_runtime::sync::oneshot;
use kiln_runtime::time::{Instant, Sleep};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// The reader of a server connection.
pub(crate) type ConnReader = RequestReader<OwnedReadHalf>;

/// A reader handed back by a body.
pub(crate) struct Returned {
    pub(crate) reader: ConnReader,
    /// `None` if the whole body was read; otherwise where reading stopped.
    pub(crate) unread: Option<BodyState>,
    /// True if the client was never told to send the body (`100 Continue` still owed).
    pub(crate) continue_owed: bool,
}

/// Where a body puts the connection's reader back.
#[derive(Clone, Default)]
pub(crate) struct ReaderSlot(Arc<Mutex<Option<Returned>>>);

impl ReaderSlot {
    /// The reader, if the body gave it back.
    pub(crate) fn take(&self) -> Option<Returned> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    fn put(&self, returned: Returned) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(returned);
    }
}

/// See the module docs.
pub(crate) struct Incoming {
    reader: Option<ConnReader>,
    state: BodyState,
    len: Option<u64>,
    read: usize,
    max: usize,
    timeout: std::time::Duration,
    min_rate: u32,
    /// When the first read began (the whole-body deadline counts from it).
    started: Option<Instant>,
    /// Armed only while waiting for bytes.
    deadline: Option<Sleep>,
    continue_tx: Option<oneshot::Sender<()>>,
    slot: ReaderSlot,
}

impl Incoming {
    /// A body read from `reader` as `state` says, at most `max` bytes.
    pub(crate) fn new(
        reader: ConnReader,
        state: BodyState,
        max: usize,
        continue_tx: Option<oneshot::Sender<()>>,
        slot: ReaderSlot,
    ) -> Incoming {
        let len = match state {
            BodyState::Length(n) => Some(n),
            _ => None,
        };
        let (timeout, min_rate) = (reader.limits().body_timeout, reader.limits().body_min_rate);
        Incoming {
            reader: Some(reader),
            state,
            len,
            read: 0,
            max,
            timeout,
            min_rate,
            started: None,
            deadline: None,
            continue_tx,
            slot,
        }
    }

    pub(crate) fn size_hint(&self) -> Option<u64> {
        self.len
    }

    fn fail(&mut self, e: RequestError) -> Poll<Option<Result<Bytes, BodyError>>> {
        // The reader is dropped, not returned: after a framing error or a timeout nobody
        // knows where the next request starts, so the connection must close.
        self.reader = None;
        self.continue_tx = None;
        Poll::Ready(Some(Err(BodyError::Request(e))))
    }

    pub(crate) fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BodyError>>> {
        loop {
            let Some(reader) = self.reader.as_mut() else {
                return Poll::Ready(None); // finished (or failed, which was reported once)
            };
            match reader.buffered_body(&mut self.state) {
                Ok(Some(data)) => {
                    self.read += data.len();
                    if self.read > self.max {
                        return self.fail(RequestError::BodyTooLarge { limit: self.max });
                    }
                    return Poll::Ready(Some(Ok(data)));
                }
                Ok(None) => {}
                Err(e) => return self.fail(e),
            }
            if matches!(self.state, BodyState::Done) {
                let reader = self.reader.take().expect("checked above");
                self.slot.put(Returned { reader, unread: None, continue_owed: false });
                return Poll::Ready(None);
            }
            if let Some(tx) = self.continue_tx.take() {
                let _ = tx.send(()); // the connection writes `100 Continue`
            }
            match reader.poll_fill(cx) {
                Poll::Ready(Ok(0)) => {
                    return self.fail(closed_in_body());
                }
                Poll::Ready(Ok(_)) => self.deadline = None,
                Poll::Ready(Err(e)) => return self.fail(e),
                Poll::Pending => {
                    let now = Instant::now();
                    let pause = now + self.timeout;
                    let at = self.whole_body_deadline(now).map_or(pause, |whole| pause.min(whole));
                    let sleep = self.deadline.get_or_insert_with(|| kiln_runtime::time::sleep_until(at));
                    if Pin::new(sleep).poll(cx).is_ready() {
                        return self.fail(timeout());
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

impl Incoming {
    /// `body_timeout` plus one second per `body_min_rate` bytes received, from the first
    /// read (`None` when the rate rule is off).
    fn whole_body_deadline(&mut self, now: Instant) -> Option<Instant> {
        let started = *self.started.get_or_insert(now);
        if self.min_rate == 0 {
            return None;
        }
        let earned = std::time::Duration::from_secs_f64(self.read as f64 / f64::from(self.min_rate));
        Some(started + self.timeout + earned)
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if let Some(reader) = self.reader.take() {
            let unread = Some(std::mem::replace(&mut self.state, BodyState::Done));
            self.slot.put(Returned { reader, unread, continue_owed: self.continue_tx.is_some() });
        }
    }
}
