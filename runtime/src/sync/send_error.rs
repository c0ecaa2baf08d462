//! `SendError`: the one error of every "send into a channel whose receivers are gone".
//!
//! `mpsc::error`, `broadcast::error` and `watch::error` each re-export it, so the paths are
//! Tokio's; the value comes back in field `.0`.

use std::fmt;

/// No receiver will ever see the value, so it is handed back.
#[derive(PartialEq, Eq, Clone, Copy)]
pub struct SendError<T>(pub T);

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError { .. }")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("channel closed")
    }
}

impl<T> std::error::Error for SendError<T> {}
