//! `LISTEN` and `NOTIFY`: messages between sessions through the server, delivered when the
//! notifying transaction commits.
//!
//! A [`Listener`] has a connection of its own (a pooled connection would carry its
//! `LISTEN` to whoever gets it next) and receives every notification on the channels it
//! listens to. Notifications sent while it is not connected are lost: use them as wake-up
//! hints with a poll behind them, never as the only copy of anything.

use crate::client::Client;
use crate::config::Config;
use crate::connection::Notification;
use crate::error::PgError;
use kiln_runtime::sync::mpsc;
use std::sync::Arc;

/// A connection that listens.
#[derive(Debug)]
pub struct Listener {
    client: Client,
    notifications: mpsc::UnboundedReceiver<Notification>,
}

/// Quotes `name` as an SQL identifier (`LISTEN` takes no parameters).
fn identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Listener {
    /// Connects a listening session.
    ///
    /// # Errors
    /// As [`Client::connect`].
    pub async fn connect(config: Config) -> Result<Listener, PgError> {
        let (tx, notifications) = mpsc::unbounded_channel();
        let client = Client::connect_with(Arc::new(config), Some(tx)).await?;
        Ok(Listener { client, notifications })
    }

    /// Listens on `channel` too; returns once the server has registered it.
    ///
    /// # Errors
    /// As [`Client::batch_execute`].
    pub async fn listen(&self, channel: &str) -> Result<(), PgError> {
        self.client.batch_execute(&format!("LISTEN {}", identifier(channel))).await
    }

    /// Stops listening on `channel`.
    ///
    /// # Errors
    /// As [`Client::batch_execute`].
    pub async fn unlisten(&self, channel: &str) -> Result<(), PgError> {
        self.client.batch_execute(&format!("UNLISTEN {}", identifier(channel))).await
    }

    /// The next notification; `None` once the connection has closed.
    pub async fn next(&mut self) -> Option<Notification> {
        if self.client.is_closed() && self.notifications.is_empty() {
            return None;
        }
        self.notifications.recv().await
    }
}

impl Client {
    /// `NOTIFY channel, payload`, through `pg_notify` (parameters allowed).
    ///
    /// # Errors
    /// As [`Client::query`].
    pub async fn notify(&self, channel: &str, payload: &str) -> Result<(), PgError> {
        self.query("SELECT pg_notify($1, $2)", &[&channel, &payload]).await.map(drop)
    }
}
