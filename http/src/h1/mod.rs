//! HTTP/1.x wire format: request heads and body framing.

pub mod chunked;
pub mod head;

pub use chunked::{ChunkedDecoder, ChunkedError};
pub use head::{parse_request_head, Framing, HeadError, HeadLimits, RequestHead};
