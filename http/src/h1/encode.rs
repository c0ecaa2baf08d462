//! Writing a response head, and refusing to write anything that could corrupt the stream.
//!
//! A response head is `HTTP/1.1 <status> <reason>` CRLF, one `name: value` CRLF per field,
//! and an empty line. The `http` crate already guarantees that a `HeaderName` is a token and a
//! `HeaderValue` holds no CR, LF or NUL, so a handler cannot inject a header or split the
//! response; this module adds what only the connection knows:
//! - the body framing headers are the connection's business: a handler's own
//!   `Content-Length` or `Transfer-Encoding` is replaced by the real one;
//! - responses that cannot have a body (1xx, 204, 304, and any answer to HEAD) get no body
//!   bytes, though HEAD keeps the `Content-Length` GET would have;
//! - `Date` and `Server` are added, and `Connection: close` when the connection will close.

use http::header::{HeaderMap, HeaderValue, CONNECTION, CONTENT_LENGTH, DATE, SERVER, TRANSFER_ENCODING};
use http::{StatusCode, Version};

/// The `Server` header value Kiln sends.
pub const SERVER_NAME: &str = "kiln";

/// How the response body will be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// Exactly this many bytes, announced with `Content-Length`.
    Sized(u64),
    /// Streamed with the chunked coding (HTTP/1.1 only).
    Chunked,
    /// Streamed until the connection closes (the HTTP/1.0 fallback for unsized bodies).
    UntilClose,
}

/// True if a response with `status` never carries a body (RFC 9110 §6.4.1).
pub fn status_has_no_body(status: StatusCode) -> bool {
    status.is_informational() || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED
}

/// What a response head is written from: the response's own status and headers, and what
/// the connection decided about its framing and its future.
#[derive(Debug, Clone, Copy)]
pub struct ResponseHead<'a> {
    /// The request's version: the status line answers in it.
    pub version: Version,
    /// The response's status.
    pub status: StatusCode,
    /// The response's headers; framing headers among them are ignored (the connection owns
    /// the framing).
    pub headers: &'a HeaderMap,
    /// How the body that follows is framed.
    pub framing: BodyFraming,
    /// The request was `HEAD`: the framing headers describe GET's body, and none follows.
    pub is_head: bool,
    /// The connection closes after this response (`Connection: close` is written).
    pub close: bool,
    /// The `Date` value, [`crate::date::now`], passed in so a batch of pipelined responses
    /// reads the clock once.
    pub date: &'a HeaderValue,
}

/// Appends a response head to `out`.
///
/// For statuses without a body no framing header is written (except `Content-Length` for
/// HEAD, which reports GET's length).
///
/// Returns whether the connection closes after this response: `head.close`, or a handler's
/// own `Connection: close`. One pass over the headers decides that and whether the handler set
/// `Date` or `Server` (no hash lookups: at hundreds of thousands of responses a second they
/// showed in profiles).
pub fn write_response_head(out: &mut Vec<u8>, head: &ResponseHead<'_>) -> bool {
    let ResponseHead { version, status, headers, framing, is_head, mut close, date } = *head;
    if status == StatusCode::OK && version == Version::HTTP_11 {
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    } else {
        out.extend_from_slice(if version == Version::HTTP_10 { b"HTTP/1.0 " } else { b"HTTP/1.1 " });
        out.extend_from_slice(status.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(status.canonical_reason().unwrap_or("Unknown").as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let (mut has_date, mut has_server) = (false, false);
    for (name, value) in headers {
        if name == CONNECTION {
            // The connection writes its own Connection line; a handler's `close` is honoured.
            close |=
                value.as_bytes().split(|&b| b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"));
            continue;
        }
        if name == CONTENT_LENGTH || name == TRANSFER_ENCODING {
            continue; // the connection decides the framing
        }
        has_date |= name == DATE;
        has_server |= name == SERVER;
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !has_date {
        out.extend_from_slice(b"date: ");
        out.extend_from_slice(date.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !has_server {
        out.extend_from_slice(b"server: ");
        out.extend_from_slice(SERVER_NAME.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !status_has_no_body(status) {
        match framing {
            BodyFraming::Sized(n) => {
                out.extend_from_slice(b"content-length: ");
                push_decimal(out, n);
                out.extend_from_slice(b"\r\n");
            }
            BodyFraming::Chunked if version == Version::HTTP_11 && !is_head => {
                out.extend_from_slice(b"transfer-encoding: chunked\r\n");
            }
            BodyFraming::Chunked | BodyFraming::UntilClose => {}
        }
    }
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    } else if version == Version::HTTP_10 {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
    close
}

/// Appends `n` in decimal without allocating.
fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Appends one chunk of a chunked body (`size CRLF data CRLF`); an empty `data` writes
/// nothing (a zero-size chunk would end the body).
pub fn write_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Appends the end of a chunked body (no trailers).
pub fn write_last_chunk(out: &mut Vec<u8>) {
    out.extend_from_slice(b"0\r\n\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(
        status: StatusCode,
        framing: BodyFraming,
        is_head: bool,
        close: bool,
        version: Version,
    ) -> String {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("999")); // a handler's wrong guess
        let mut out = Vec::new();
        let date = crate::date::now();
        write_response_head(
            &mut out,
            &ResponseHead { version, status, headers: &headers, framing, is_head, close, date: &date },
        );
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn writes_framing_date_server_and_connection() {
        let h = head(StatusCode::OK, BodyFraming::Sized(13), false, false, Version::HTTP_11);
        assert!(h.starts_with("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n"), "{h}");
        assert!(h.contains("\r\ncontent-length: 13\r\n"), "the real length replaces the handler's: {h}");
        assert!(!h.contains("999"));
        assert!(h.contains("\r\ndate: ") && h.contains(" GMT\r\n") && h.contains("\r\nserver: kiln\r\n"));
        assert!(h.ends_with("\r\n\r\n") && !h.contains("connection"));

        let h = head(StatusCode::OK, BodyFraming::Chunked, false, true, Version::HTTP_11);
        assert!(h.contains("transfer-encoding: chunked\r\n") && h.contains("connection: close\r\n"), "{h}");
        let h = head(StatusCode::OK, BodyFraming::Sized(5), false, false, Version::HTTP_10);
        assert!(h.starts_with("HTTP/1.0 200 OK") && h.contains("connection: keep-alive"), "{h}");
        let h = head(StatusCode::OK, BodyFraming::Chunked, false, true, Version::HTTP_10);
        assert!(!h.contains("transfer-encoding"), "no chunked on HTTP/1.0: {h}");
    }

    #[test]
    fn bodiless_statuses_and_head_get_no_body_framing_except_heads_length() {
        for status in [StatusCode::NO_CONTENT, StatusCode::NOT_MODIFIED, StatusCode::CONTINUE] {
            let h = head(status, BodyFraming::Sized(10), false, false, Version::HTTP_11);
            assert!(!h.contains("content-length") && !h.contains("transfer-encoding"), "{h}");
        }
        let h = head(StatusCode::OK, BodyFraming::Sized(42), true, false, Version::HTTP_11);
        assert!(h.contains("content-length: 42"), "HEAD reports GET's length: {h}");
    }

    #[test]
    fn a_handlers_connection_close_is_honoured_and_its_date_and_server_kept() {
        let mut headers = HeaderMap::new();
        headers.insert(CONNECTION, HeaderValue::from_static("Upgrade, Close"));
        headers.insert(DATE, HeaderValue::from_static("Thu, 01 Jan 2026 00:00:00 GMT"));
        headers.insert(SERVER, HeaderValue::from_static("mine"));
        let mut out = Vec::new();
        let date = crate::date::now();
        let close = write_response_head(
            &mut out,
            &ResponseHead {
                version: Version::HTTP_11,
                status: StatusCode::OK,
                headers: &headers,
                framing: BodyFraming::Sized(0),
                is_head: false,
                close: false,
                date: &date,
            },
        );
        let h = String::from_utf8(out).unwrap();
        assert!(close && h.contains("connection: close\r\n") && !h.contains("Upgrade"), "{h}");
        assert!(h.contains("date: Thu, 01 Jan 2026") && h.matches("date:").count() == 1, "{h}");
        assert!(h.contains("server: mine") && h.matches("server:").count() == 1, "{h}");
    }

    #[test]
    fn decimal_lengths() {
        for n in [0u64, 7, 10, 1234567890, u64::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    #[test]
    fn chunks_are_framed() {
        let mut out = Vec::new();
        write_chunk(&mut out, b"hello world, in a chunk!");
        write_chunk(&mut out, b"");
        write_last_chunk(&mut out);
        assert_eq!(out, b"18\r\nhello world, in a chunk!\r\n0\r\n\r\n");
    }
}
