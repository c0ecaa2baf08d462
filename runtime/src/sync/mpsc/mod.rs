//! `mpsc`: multi-producer, single-consumer channels, bounded (with backpressure) and
//! unbounded. See `chan.rs` for the shared core and the closing rules.

mod chan;
pub mod error;

use chan::{Chan, Rx};
use error::{SendError, TryRecvError, TrySendError};
use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// A bounded channel holding at most `capacity` messages: `send` waits while it is full.
///
/// # Panics
/// If `capacity` is 0 (a zero-capacity channel could never accept a message).
#[track_caller]
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(capacity > 0, "mpsc bounded channel requires capacity > 0");
    let chan = Arc::new(Chan::new(Some(capacity)));
    (Sender { chan: chan.clone() }, Receiver { rx: Rx::new(chan) })
}

/// An unbounded channel: `send` never waits. Use it only where the producer is naturally
/// limited, or memory can grow without bound.
pub fn unbounded_channel<T>() -> (UnboundedSender<T>, UnboundedReceiver<T>) {
    let chan = Arc::new(Chan::new(None));
    (UnboundedSender { chan: chan.clone() }, UnboundedReceiver { rx: Rx::new(chan) })
}

/// Sends into a bounded channel. Cloneable; the channel ends when the last clone drops.
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// Receives from a bounded channel.
pub struct Receiver<T> {
    rx: Rx<T>,
}

/// Sends into an unbounded channel.
pub struct UnboundedSender<T> {
    chan: Arc<Chan<T>>,
}

/// Receives from an unbounded channel.
pub struct UnboundedReceiver<T> {
    rx: Rx<T>,
}

/// A reserved slot in a bounded channel: [`Permit::send`] cannot fail for lack of capacity.
/// Dropping it unused gives the slot back.
pub struct Permit<'a, T> {
    chan: &'a Chan<T>,
    sent: bool,
}

impl<T> Sender<T> {
    fn permits(&self) -> &crate::sync::Semaphore {
        self.chan.permits.as_ref().expect("bounded channels have permits")
    }

    /// Sends `value`, waiting while the channel is full.
    ///
    /// Not cancel-safe in one respect: if the future is dropped while waiting, `value` is
    /// dropped with it (use [`Sender::reserve`] to wait for room first). Its place in the
    /// queue of waiting senders is given up.
    ///
    /// # Errors
    /// `SendError(value)` if the receiver is gone.
    pub async fn send(&self, value: T) -> Result<(), SendError<T>> {
        if self.permits().acquire_n(1).await.is_err() {
            return Err(SendError(value));
        }
        self.chan.push(value)
    }

    /// Sends `value` if there is room now.
    ///
    /// # Errors
    /// [`TrySendError::Full`] or [`TrySendError::Closed`], giving the value back.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        match self.permits().try_acquire_n(1) {
            Ok(()) => self.chan.push(value).map_err(|e| TrySendError::Closed(e.0)),
            Err(crate::sync::TryAcquireError::NoPermits) => Err(TrySendError::Full(value)),
            Err(crate::sync::TryAcquireError::Closed) => Err(TrySendError::Closed(value)),
        }
    }

    /// Waits for room, and reserves it. Cancel-safe: nothing is lost if the wait is dropped.
    ///
    /// # Errors
    /// `SendError(())` if the receiver is gone.
    pub async fn reserve(&self) -> Result<Permit<'_, T>, SendError<()>> {
        match self.permits().acquire_n(1).await {
            Ok(()) => Ok(Permit { chan: &self.chan, sent: false }),
            Err(_) => Err(SendError(())),
        }
    }

    /// Reserves room if there is some now.
    ///
    /// # Errors
    /// [`TrySendError::Full`] or [`TrySendError::Closed`].
    pub fn try_reserve(&self) -> Result<Permit<'_, T>, TrySendError<()>> {
        match self.permits().try_acquire_n(1) {
            Ok(()) => Ok(Permit { chan: &self.chan, sent: false }),
            Err(crate::sync::TryAcquireError::NoPermits) => Err(TrySendError::Full(())),
            Err(crate::sync::TryAcquireError::Closed) => Err(TrySendError::Closed(())),
        }
    }

    /// Completes when the receiver is dropped or closed. Cancel-safe.
    pub async fn closed(&self) {
        self.chan.closed().await
    }

    /// True if the receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.chan.is_rx_closed()
    }

    /// Free slots right now.
    pub fn capacity(&self) -> usize {
        self.permits().available_permits()
    }

    /// The channel's capacity.
    pub fn max_capacity(&self) -> usize {
        self.chan.capacity
    }

    /// True if both senders feed the same channel.
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }

    /// Sends from outside the runtime, blocking the thread while the channel is full.
    ///
    /// # Errors
    /// `SendError(value)` if the receiver is gone.
    ///
    /// # Panics
    /// Inside a Kiln runtime, where blocking would stall the thread that runs the receiver.
    #[cfg(not(loom))]
    #[track_caller]
    pub fn blocking_send(&self, value: T) -> Result<(), SendError<T>> {
        crate::sync::assert_not_in_runtime("mpsc::Sender::blocking_send");
        crate::runtime::thread_block_on(self.send(value))
    }
}

impl<T> Permit<'_, T> {
    /// Sends into the reserved slot.
    pub fn send(mut self, value: T) {
        self.sent = true;
        // Only fails if the receiver closed since the reservation; the value is then dropped,
        // as it would have been in the buffer.
        let _ = self.chan.push(value);
    }
}

impl<T> Drop for Permit<'_, T> {
    fn drop(&mut self) {
        if !self.sent {
            if let Some(permits) = &self.chan.permits {
                permits.release(1);
            }
        }
    }
}

impl<T> UnboundedSender<T> {
    /// Sends `value` at once.
    ///
    /// # Errors
    /// `SendError(value)` if the receiver is gone.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.chan.push(value)
    }

    /// Completes when the receiver is dropped or closed. Cancel-safe.
    pub async fn closed(&self) {
        self.chan.closed().await
    }

    /// True if the receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.chan.is_rx_closed()
    }

    /// True if both senders feed the same channel.
    pub fn same_channel(&self, other: &UnboundedSender<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }
}

macro_rules! receiver_impl {
    ($rx:ident) => {
        impl<T> $rx<T> {
            /// Receives the next message; `None` once the channel is closed (every sender
            /// gone, or `close` called) and drained.
            ///
            /// Cancel-safe: if the future is dropped, no message is lost.
            pub async fn recv(&mut self) -> Option<T> {
                poll_fn(|cx| self.rx.poll_recv(cx)).await
            }

            /// Receives up to `limit` messages into `buffer`, waiting for at least one.
            /// Returns how many; 0 means the channel is closed and drained (or `limit` is 0).
            /// Cancel-safe.
            pub async fn recv_many(&mut self, buffer: &mut Vec<T>, limit: usize) -> usize {
                poll_fn(|cx| self.rx.poll_recv_many(cx, buffer, limit)).await
            }

            /// Polls for the next message.
            pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
                self.rx.poll_recv(cx)
            }

            /// Takes a message if one is waiting.
            ///
            /// # Errors
            /// [`TryRecvError::Empty`] or [`TryRecvError::Disconnected`].
            pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
                self.rx.try_recv()
            }

            /// Closes the channel for sending; buffered messages can still be received.
            pub fn close(&mut self) {
                self.rx.chan.close()
            }

            /// Messages waiting.
            pub fn len(&self) -> usize {
                self.rx.len()
            }

            /// True if no message is waiting.
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            /// True if no more messages can arrive (closed, or every sender gone).
            pub fn is_closed(&self) -> bool {
                self.rx.chan.is_closed_for_rx()
            }

            /// Blocks the thread until the next message.
            ///
            /// # Panics
            /// Inside a Kiln runtime, where blocking would stall the thread that runs the
            /// senders. Call it from `spawn_blocking` or a plain thread.
            #[cfg(not(loom))]
            #[track_caller]
            pub fn blocking_recv(&mut self) -> Option<T> {
                crate::sync::assert_not_in_runtime(concat!("mpsc::", stringify!($rx), "::blocking_recv"));
                crate::runtime::thread_block_on(self.recv())
            }
        }

        impl<T> futures_core::Stream for $rx<T> {
            type Item = T;
            fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
                self.get_mut().rx.poll_recv(cx)
            }
        }

        impl<T> fmt::Debug for $rx<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($rx)).field("len", &self.len()).finish()
            }
        }
    };
}

receiver_impl!(Receiver);
receiver_impl!(UnboundedReceiver);

macro_rules! sender_common {
    ($tx:ident) => {
        impl<T> Clone for $tx<T> {
            fn clone(&self) -> Self {
                self.chan.add_sender();
                $tx { chan: self.chan.clone() }
            }
        }

        impl<T> Drop for $tx<T> {
            fn drop(&mut self) {
                self.chan.drop_sender();
            }
        }

        impl<T> fmt::Debug for $tx<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($tx)).field("closed", &self.is_closed()).finish()
            }
        }
    };
}

sender_common!(Sender);
sender_common!(UnboundedSender);

impl<T> fmt::Debug for Permit<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Permit")
    }
}
