//! Publish and subscribe: messages to everyone listening on a channel, now (nothing is kept
//! for a subscriber that is not connected — a wake-up hint or a cache invalidation, never
//! the only copy of anything).
//!
//! A [`Subscription`] has a connection of its own: a subscribed connection takes no other
//! commands. Its messages arrive as RESP3 pushes, which the connection hands to the
//! subscription instead of to a waiting request, so subscriptions need a Redis that speaks
//! RESP3 (6.0 or newer). A subscription whose connection fails ends (`next_message` gives
//! `None`); subscribing again is the caller's choice.

use crate::client::{cmd, Client};
use crate::connection::Connection;
use crate::error::RedisError;
use crate::value::{FromValue, Value};
use bytes::Bytes;
use kiln_runtime::sync::mpsc;

/// One published message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The channel it was published on.
    pub channel: String,
    /// What was published.
    pub payload: Bytes,
}

/// Messages from the channels subscribed to.
#[derive(Debug)]
pub struct Subscription {
    /// Kept for as long as the subscription: dropping it closes the connection.
    _connection: Connection,
    pushes: mpsc::UnboundedReceiver<Value>,
}

impl Client {
    /// Subscribes to `channels` on a connection of its own; returns once Redis has
    /// confirmed every channel (a message published after that arrives).
    ///
    /// # Errors
    /// The connection failed, or the server does not speak RESP3.
    pub async fn subscribe(&self, channels: &[&str]) -> Result<Subscription, RedisError> {
        let (tx, mut pushes) = mpsc::unbounded_channel();
        let connection = self.dedicated(Some(tx)).await?;
        let mut bytes = Vec::new();
        channels.iter().fold(cmd("SUBSCRIBE"), |c, ch| c.arg(*ch)).encode(&mut bytes);
        // In RESP3 the confirmations are pushes, one per channel, not answers.
        connection.send_encoded(bytes, 0).await?;
        let mut confirmed = 0;
        while confirmed < channels.len() {
            let push = kiln_runtime::time::timeout(self.config().command_timeout, pushes.recv())
                .await
                .map_err(|_| RedisError::Timeout(self.config().command_timeout))?
                .ok_or_else(|| RedisError::Io("the connection closed while subscribing".into()))?;
            if kind(&push).as_deref() == Some("subscribe") {
                confirmed += 1;
            }
        }
        Ok(Subscription { _connection: connection, pushes })
    }

    /// Publishes `payload` on `channel`; returns how many subscribers got it.
    ///
    /// # Errors
    /// As [`Client::query`].
    pub async fn publish(&self, channel: &str, payload: impl crate::ToArg) -> Result<u64, RedisError> {
        self.query(&cmd("PUBLISH").arg(channel).arg(payload)).await
    }
}

/// The kind of a push (`message`, `subscribe`, …).
fn kind(push: &Value) -> Option<String> {
    match push {
        Value::Push(items) => items.first().cloned().and_then(|k| String::from_value(k).ok()),
        _ => None,
    }
}

impl Subscription {
    /// The next message; `None` once the connection has closed.
    pub async fn next_message(&mut self) -> Option<Message> {
        loop {
            let push = self.pushes.recv().await?;
            if kind(&push).as_deref() != Some("message") {
                continue; // a confirmation, or another kind of push
            }
            let Value::Push(items) = push else { continue };
            let mut it = items.into_iter().skip(1);
            let (Some(channel), Some(payload)) = (it.next(), it.next()) else { continue };
            if let (Ok(channel), Ok(payload)) = (String::from_value(channel), Bytes::from_value(payload)) {
                return Some(Message { channel, payload });
            }
        }
    }
}
