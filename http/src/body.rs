//! `Body`: the bytes of a request or response.
//!
//! For now a body is whole (read fully before the handler runs, bounded by the body limit;
//! written with a `Content-Length`). Streaming bodies in both directions come with the next
//! step of the server; the type is already a newtype so that change does not touch handlers
//! that only use the conversions below.

use std::fmt;

/// A whole request or response body.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Body(Vec<u8>);

impl Body {
    /// No bytes.
    pub fn empty() -> Body {
        Body(Vec::new())
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The bytes, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Body {
    /// The JSON body of every error Kiln answers by itself:
    /// `{"error":{"status":404,"message":"…"}}`.
    pub(crate) fn error_json(status: http::StatusCode, message: &str) -> Body {
        Body::from(
            serde_json::json!({ "error": { "status": status.as_u16(), "message": message } }).to_string(),
        )
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Body {
        Body(v)
    }
}

impl From<String> for Body {
    fn from(s: String) -> Body {
        Body(s.into_bytes())
    }
}

impl From<&str> for Body {
    fn from(s: &str) -> Body {
        Body(s.as_bytes().to_vec())
    }
}

impl From<&[u8]> for Body {
    fn from(b: &[u8]) -> Body {
        Body(b.to_vec())
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Body({} bytes)", self.0.len())
    }
}
