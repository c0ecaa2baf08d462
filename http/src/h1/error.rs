//! `RequestError`: every reason a server refuses a request while reading it, one variant per
//! reason, each mapping to the status the server answers.
//!
//! A refusal while reading means the connection's framing can no longer be trusted, so the
//! server answers and closes. The variants carry what the client needs to fix its request
//! (which limit, which rule) and nothing of the server's internals; `Display` is the text a
//! problem body's `detail` shows. Code that only needs the status asks [`RequestError::status`];
//! code that must react to one cause (a timeout, an oversized body) matches its variant.

use super::chunked::ChunkedError;
use http::header::HeaderName;
use http::StatusCode;
use std::fmt;

/// Why a request could not be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum RequestError {
    /// The head breaks a rule of HTTP/1.1's grammar or framing (400); the text names the rule.
    Malformed(&'static str),
    /// `httparse` could not parse the head (400).
    Syntax(httparse::Error),
    /// A header field's name or value is not valid (400).
    InvalidHeader(InvalidHeader),
    /// The chunked body's framing is broken (400).
    Chunked(ChunkedError),
    /// The client closed the connection inside a head or a body (400).
    ClosedEarly(Part),
    /// Reading from the connection failed (400, if the client can still hear it).
    Io(std::io::Error),
    /// The head or body did not arrive in time (408).
    Timeout,
    /// The body is larger than the server accepts (413).
    BodyTooLarge {
        /// The limit, bytes.
        limit: usize,
    },
    /// The request target is longer than the server accepts (414).
    UriTooLong {
        /// The limit, bytes.
        limit: usize,
    },
    /// The header section is larger than the server accepts (431).
    HeadTooLarge {
        /// The limit, bytes.
        limit: usize,
    },
    /// More header fields than the server accepts (431).
    TooManyHeaders {
        /// The limit, fields.
        limit: usize,
    },
    /// `CONNECT`: tunnels are not served (501).
    ConnectUnsupported,
    /// A transfer coding other than `chunked` (501).
    UnsupportedCoding(String),
    /// An HTTP major version other than 1 (505).
    VersionNotSupported,
}

/// Which part of a request the client stopped sending in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The request line and header fields.
    Head,
    /// The body.
    Body,
}

/// A header field that `http`'s types refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidHeader {
    /// The name has characters a field name may not have.
    Name,
    /// The value of this field has a character a value may not have (CR, LF, NUL, …).
    Value(HeaderName),
}

impl RequestError {
    /// The status a server answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            RequestError::Malformed(_)
            | RequestError::Syntax(_)
            | RequestError::InvalidHeader(_)
            | RequestError::Chunked(_)
            | RequestError::ClosedEarly(_)
            | RequestError::Io(_) => StatusCode::BAD_REQUEST,
            RequestError::Timeout => StatusCode::REQUEST_TIMEOUT,
            RequestError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            RequestError::UriTooLong { .. } => StatusCode::URI_TOO_LONG,
            RequestError::HeadTooLarge { .. } | RequestError::TooManyHeaders { .. } => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            RequestError::ConnectUnsupported | RequestError::UnsupportedCoding(_) => {
                StatusCode::NOT_IMPLEMENTED
            }
            RequestError::VersionNotSupported => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Malformed(rule) => f.write_str(rule),
            RequestError::Syntax(e) => write!(f, "malformed request head: {e}"),
            RequestError::InvalidHeader(e) => write!(f, "{e}"),
            RequestError::Chunked(e) => write!(f, "{e}"),
            RequestError::ClosedEarly(Part::Head) => f.write_str("connection closed inside a request head"),
            RequestError::ClosedEarly(Part::Body) => f.write_str("connection closed inside a request body"),
            RequestError::Io(e) => write!(f, "read failed: {e}"),
            RequestError::Timeout => f.write_str("the request did not arrive in time"),
            RequestError::BodyTooLarge { limit } => write!(f, "body over {limit} bytes"),
            RequestError::UriTooLong { limit } => write!(f, "request target over {limit} bytes"),
            RequestError::HeadTooLarge { limit } => write!(f, "header section over {limit} bytes"),
            RequestError::TooManyHeaders { limit } => write!(f, "more than {limit} header fields"),
            RequestError::ConnectUnsupported => f.write_str("CONNECT (tunnels) is not supported"),
            RequestError::UnsupportedCoding(coding) => write!(f, "transfer coding {coding} not supported"),
            RequestError::VersionNotSupported => f.write_str("only HTTP/1.x is served"),
        }
    }
}

impl std::error::Error for RequestError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RequestError::Io(e) => Some(e),
            RequestError::Chunked(e) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for InvalidHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidHeader::Name => f.write_str("invalid header name"),
            InvalidHeader::Value(name) => write!(f, "invalid value for {name}"),
        }
    }
}

impl std::error::Error for InvalidHeader {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cause_answers_its_status_and_says_which_limit() {
        let cases = [
            (RequestError::Malformed("missing Host"), 400, "missing Host"),
            (RequestError::ClosedEarly(Part::Body), 400, "connection closed inside a request body"),
            (RequestError::Timeout, 408, "the request did not arrive in time"),
            (RequestError::BodyTooLarge { limit: 64 }, 413, "body over 64 bytes"),
            (RequestError::UriTooLong { limit: 8 }, 414, "request target over 8 bytes"),
            (RequestError::HeadTooLarge { limit: 9 }, 431, "header section over 9 bytes"),
            (RequestError::TooManyHeaders { limit: 3 }, 431, "more than 3 header fields"),
            (RequestError::UnsupportedCoding("gzip".into()), 501, "transfer coding gzip not supported"),
            (RequestError::VersionNotSupported, 505, "only HTTP/1.x is served"),
        ];
        for (e, status, text) in cases {
            assert_eq!(e.status().as_u16(), status, "{e:?}");
            assert_eq!(e.to_string(), text);
        }
    }
}
