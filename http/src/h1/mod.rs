//! HTTP/1.x wire format: request heads, body framing, response heads.

pub mod chunked;
pub mod encode;
pub mod head;
pub mod read;

pub use chunked::{ChunkedDecoder, ChunkedError};
pub use encode::{status_has_no_body, write_response_head, BodyFraming};
pub use head::{parse_request_head, Framing, HeadError, HeadLimits, RequestHead};
pub use read::{FullRequest, ReadLimits, RequestReader};
