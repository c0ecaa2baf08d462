//! HTTP/1.x wire format: request heads, body framing, response heads.

pub mod chunked;
pub mod encode;
pub mod error;
pub mod head;
pub mod read;

pub use chunked::{ChunkedDecoder, ChunkedError};
pub use encode::{status_has_no_body, write_response_head, BodyFraming, ResponseHead};
pub use error::{InvalidHeader, Part, RequestError};
pub use head::{parse_request_head, Framing, HeadLimits, RequestHead};
pub use read::{FullRequest, ReadLimits, RequestReader};
