//! Parsing a request head (request line + header fields) and deciding how its body is framed,
//! strictly, per RFC 9112.
//!
//! `httparse` does the tokenising; this module does everything the RFC leaves to the server
//! and that request smuggling feeds on:
//! - `Content-Length` together with `Transfer-Encoding` → 400 (and the connection closes);
//! - `Content-Length` must be digits only (`+5`, `-1`, `0x5` are errors), must not overflow,
//!   and several values (repeated lines or a list) must all be equal;
//! - `Transfer-Encoding` must appear once, must end in `chunked`, is refused on HTTP/1.0, and
//!   any other coding is 501 Not Implemented;
//! - HTTP/1.1 needs exactly one valid `Host`;
//! - the request line is exactly `method SP target SP HTTP/d.d`: a space inside the target or
//!   a malformed version is 400; a well-formed version of another major (`HTTP/2.0`) is 505;
//!   a higher HTTP/1 minor (`HTTP/1.2`) is served as HTTP/1.1 (RFC 9112 §2.6);
//! - the target has the form its method allows (RFC 9112 §3.2): origin-form (`/path`) and
//!   absolute-form (`http://host/path`, whose authority wins over `Host`, which must still be
//!   valid) for any method, asterisk-form (`*`) only for `OPTIONS`, authority-form
//!   (`host:port`) only for `CONNECT` — which this server does not do (501);
//! - every line ends in CRLF: a bare LF is 400, not a line end (the client's response parser
//!   is as strict: two parsers that disagree on where a line ends is how smuggling starts).
//!
//! Parsing returns `Ok(None)` while the head is incomplete (hyper's "need more bytes"
//! convention), so the connection reads more and calls again, and every limit is checked
//! even before the head is complete: a client cannot make the server buffer an endless
//! request line or header section.

use super::error::{InvalidHeader, RequestError};
use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, Uri, Version};
use std::mem::MaybeUninit;

/// Limits on a request head. Each has a named default and the status it produces.
#[derive(Debug, Clone, Copy)]
pub struct HeadLimits {
    /// Longest request target (URI), in bytes; longer → 414 URI Too Long.
    pub max_uri: usize,
    /// Largest header section (request line included), in bytes; larger → 431.
    pub max_head: usize,
    /// Most header fields; more → 431.
    pub max_headers: usize,
}

/// Default [`HeadLimits::max_uri`]: 8 KiB, as most servers.
pub const DEFAULT_MAX_URI: usize = 8 * 1024;
/// Default [`HeadLimits::max_head`]: 64 KiB.
pub const DEFAULT_MAX_HEAD: usize = 64 * 1024;
/// Default [`HeadLimits::max_headers`]: 100 fields.
pub const DEFAULT_MAX_HEADERS: usize = 100;

impl Default for HeadLimits {
    fn default() -> HeadLimits {
        HeadLimits { max_uri: DEFAULT_MAX_URI, max_head: DEFAULT_MAX_HEAD, max_headers: DEFAULT_MAX_HEADERS }
    }
}

/// How the request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Exactly this many bytes (0: no body).
    Length(u64),
    /// The chunked coding.
    Chunked,
}

/// A parsed, validated request head.
#[derive(Debug)]
pub struct RequestHead {
    /// The method.
    pub method: Method,
    /// The request target.
    pub uri: Uri,
    /// HTTP/1.0 or HTTP/1.1.
    pub version: Version,
    /// The header fields.
    pub headers: HeaderMap,
    /// How the body is framed.
    pub framing: Framing,
    /// Whether the connection may stay open after this request's response.
    pub keep_alive: bool,
    /// `Expect: 100-continue` (HTTP/1.1 only).
    pub expect_continue: bool,
}

/// Parses a request head from the start of `buf`. Returns the head and its length in bytes,
/// or `None` if more bytes are needed.
///
/// # Errors
/// [`RequestError`] with the status to answer.
pub fn parse_request_head(
    buf: &[u8],
    limits: &HeadLimits,
) -> Result<Option<(RequestHead, usize)>, RequestError> {
    parse_request_head_reusing(buf, limits, &mut None)
}

/// [`parse_request_head`], filling `spare` (emptied first) as the head's `HeaderMap` if there
/// is one: a connection hands back each response's map so the next request needs no new
/// one (two allocations and two frees fewer per request; hyper does the same).
pub(crate) fn parse_request_head_reusing(
    buf: &[u8],
    limits: &HeadLimits,
    spare: &mut Option<HeaderMap>,
) -> Result<Option<(RequestHead, usize)>, RequestError> {
    // Header slots on the stack for the usual limit (a larger configured limit needs the
    // heap), left uninitialised: httparse writes only the slots it fills, and initialising
    // 100 slots (3.2 KB) for every request cost more than parsing the request itself.
    let mut stack = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; DEFAULT_MAX_HEADERS];
    let mut heap: Vec<MaybeUninit<httparse::Header<'_>>>;
    let slots: &mut [MaybeUninit<httparse::Header<'_>>] = if limits.max_headers <= DEFAULT_MAX_HEADERS {
        &mut stack[..limits.max_headers]
    } else {
        heap = (0..limits.max_headers).map(|_| MaybeUninit::uninit()).collect();
        &mut heap
    };
    let mut req = httparse::Request::new(&mut []);
    let status = match req.parse_with_uninit_headers(buf, slots) {
        Ok(s) => s,
        Err(httparse::Error::TooManyHeaders) => {
            return Err(RequestError::TooManyHeaders { limit: limits.max_headers })
        }
        Err(httparse::Error::Version) => return parse_other_version(buf, limits, spare),
        Err(e) => return Err(RequestError::Syntax(e)),
    };
    let head_len = match status {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => {
            check_partial(buf, limits)?;
            return Ok(None);
        }
    };
    if head_len > limits.max_head {
        return Err(too_large(limits));
    }
    let path = req.path.unwrap_or("");
    if !lines_end_in_crlf(buf, head_len, path, req.headers) {
        return Err(RequestError::Malformed("a line ends in a bare LF; lines end in CRLF"));
    }
    if path.len() > limits.max_uri {
        return Err(uri_too_long(limits));
    }
    let method = Method::from_bytes(req.method.unwrap_or("").as_bytes())
        .map_err(|_| RequestError::Malformed("invalid method"))?;
    // One copy of the whole head; the target and every header value are then slices of it
    // (reference-counted, no further allocation or copy per field).
    let raw = copy_head(&buf[..head_len]);
    let uri = Uri::from_maybe_shared(slice_of(&raw, buf, path.as_bytes()))
        .map_err(|_| RequestError::Malformed("invalid request target"))?;
    if !path.starts_with('/') || method == Method::CONNECT {
        check_target_form(&method, path, &uri)?; // origin-form, the usual case, needs no more
    }
    let version = if req.version == Some(0) { Version::HTTP_10 } else { Version::HTTP_11 };

    // Framing, Host, keep-alive and Expect are decided from the raw fields in one pass
    // (byte comparisons, no hashing), before the HeaderMap is built.
    let fields = Fields::scan(req.headers);
    let framing = framing(&fields, version)?;
    if version == Version::HTTP_11 {
        check_host(&fields)?;
    }
    let keep_alive = match version {
        Version::HTTP_10 => fields.connection_keep_alive && !fields.connection_close,
        _ => !fields.connection_close,
    };
    let expect_continue = version == Version::HTTP_11 && fields.expect_continue;
    let headers = header_map(req.headers, buf, &raw, spare.take()).map_err(RequestError::InvalidHeader)?;
    Ok(Some((RequestHead { method, uri, version, headers, framing, keep_alive, expect_continue }, head_len)))
}

/// `httparse`'s fields as a `HeaderMap`, validated (no CR, LF or NUL in a value). Each value
/// is a slice of `raw`, a copy of the head in `buf` (which the fields borrow from): one copy
/// for the whole head, no allocation per value. Filled into `spare` (emptied first) if
/// given. Shared by request parsing and the client's response parsing.
pub(crate) fn header_map(
    fields: &[httparse::Header<'_>],
    buf: &[u8],
    raw: &Bytes,
    spare: Option<HeaderMap>,
) -> Result<HeaderMap, InvalidHeader> {
    let mut headers = match spare {
        Some(mut map) => {
            map.clear();
            map.reserve(fields.len());
            map
        }
        None => HeaderMap::with_capacity(fields.len()),
    };
    for h in fields {
        let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| InvalidHeader::Name)?;
        let value = HeaderValue::from_maybe_shared(slice_of(raw, buf, h.value))
            .map_err(|_| InvalidHeader::Value(name.clone()))?;
        headers.append(name, value);
    }
    Ok(headers)
}

/// Heads up to this many bytes are copied into one allocation that also holds their
/// reference count. (A `Bytes` made from a `Vec` allocates a second time, for the count, when
/// it is first sliced; every head is sliced.)
const INLINE_HEAD: usize = 1024;

/// A small head's bytes, owned by the `Bytes` that [`copy_head`] returns. Sized in two steps,
/// so a short head does not pay for zeroing a large array.
struct InlineHead<const N: usize> {
    len: usize,
    bytes: [u8; N],
}

impl<const N: usize> AsRef<[u8]> for InlineHead<N> {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

fn inline_head<const N: usize>(head: &[u8]) -> Bytes {
    let mut inline = InlineHead { len: head.len(), bytes: [0; N] };
    inline.bytes[..head.len()].copy_from_slice(head);
    Bytes::from_owner(inline)
}

/// A reference-counted copy of a message head, to be sliced into its fields: one
/// allocation for a head up to [`INLINE_HEAD`] bytes, two for a larger one.
pub(crate) fn copy_head(head: &[u8]) -> Bytes {
    if head.len() <= 192 {
        inline_head::<192>(head)
    } else if head.len() <= INLINE_HEAD {
        inline_head::<INLINE_HEAD>(head)
    } else {
        Bytes::copy_from_slice(head)
    }
}

/// The part of `raw` (a copy of the start of `buf`) that `part`, a sub-slice of `buf` as
/// httparse returns them, occupies. Never panics: a part outside `raw` (impossible for a
/// parsed head) comes back as a copy.
fn slice_of(raw: &Bytes, buf: &[u8], part: &[u8]) -> Bytes {
    let start = (part.as_ptr() as usize).wrapping_sub(buf.as_ptr() as usize);
    match start.checked_add(part.len()) {
        Some(end) if end <= raw.len() => raw.slice(start..end),
        _ => Bytes::copy_from_slice(part),
    }
}

/// Limits that can be judged before the head is complete.
/// True if the request line, every header line and the blank line of a parsed head end in
/// CRLF. httparse takes a bare LF as a line end too; and an LF can only stand at a line's end
/// (it is refused inside a token or value), so looking where each line ends is enough — a
/// few comparisons per line instead of a scan of every byte, on every request.
fn lines_end_in_crlf(buf: &[u8], head_len: usize, path: &str, headers: &[httparse::Header<'_>]) -> bool {
    let start = buf.as_ptr() as usize;
    // Every slice httparse returns lies in `buf`; should one not (an empty value's pointer
    // is httparse's to choose), the whole head is scanned instead.
    let offset = |s: &[u8]| {
        let at = (s.as_ptr() as usize).checked_sub(start).filter(|&at| at + s.len() <= head_len);
        at.map(|at| at + s.len())
    };
    let cr_at = |i: Option<usize>| {
        let Some(mut i) = i else { return !has_bare_lf(&buf[..head_len]) };
        while matches!(buf.get(i), Some(b' ' | b'\t')) {
            i += 1; // whitespace httparse trimmed off a value
        }
        buf.get(i) == Some(&b'\r')
    };
    // The request line ends after ` HTTP/1.x` (one space: httparse's strict default).
    cr_at(offset(path.as_bytes()).map(|end| end + " HTTP/1.1".len()))
        && headers.iter().all(|h| cr_at(offset(h.value)))
        && buf[..head_len].ends_with(b"\r\n\r\n")
}

/// True if some LF in `head` is not preceded by CR (for response heads, which the client
/// parses rarely enough to scan).
pub(crate) fn has_bare_lf(head: &[u8]) -> bool {
    let lf = head.iter().filter(|&&b| b == b'\n').count();
    let crlf = head.windows(2).filter(|w| w[0] == b'\r' && w[1] == b'\n').count();
    lf != crlf
}

/// The request line did not carry `HTTP/1.0` or `HTTP/1.1`. Decides, from the line itself,
/// between a higher HTTP/1 minor (served as HTTP/1.1: the head is parsed again with the
/// version read as `HTTP/1.1`, the same length), another major (505), and a malformed line
/// — a space inside the target, a lowercase or misshapen version — (400).
#[cold]
#[inline(never)]
fn parse_other_version(
    buf: &[u8],
    limits: &HeadLimits,
    spare: &mut Option<HeaderMap>,
) -> Result<Option<(RequestHead, usize)>, RequestError> {
    let line_end = buf.iter().position(|&b| b == b'\r' || b == b'\n').unwrap_or(buf.len());
    let line = &buf[..line_end];
    let parts: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    let [_, _, version] = parts[..] else {
        return Err(RequestError::Malformed("malformed request line: expected `method target HTTP/x.y`"));
    };
    match version {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', minor] if minor.is_ascii_digit() => {
            let mut patched = buf.to_vec();
            patched[line_end - 1] = b'1';
            parse_request_head_reusing(&patched, limits, spare)
        }
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            Err(RequestError::VersionNotSupported)
        }
        _ => Err(RequestError::Malformed("malformed HTTP version: expected HTTP/x.y")),
    }
}

/// The target's form must fit the method (RFC 9112 §3.2).
#[cold]
#[inline(never)]
fn check_target_form(method: &Method, target: &str, uri: &Uri) -> Result<(), RequestError> {
    if *method == Method::CONNECT {
        return Err(if uri.scheme().is_none() && uri.authority().is_some() && uri.path().is_empty() {
            RequestError::ConnectUnsupported
        } else {
            RequestError::Malformed("CONNECT takes an authority-form target (host:port)")
        });
    }
    if target == "*" {
        return if *method == Method::OPTIONS {
            Ok(())
        } else {
            Err(RequestError::Malformed("the asterisk-form target is only for OPTIONS"))
        };
    }
    if target.starts_with('/') {
        return Ok(()); // origin-form
    }
    match uri.scheme_str() {
        Some(scheme)
            if (scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https"))
                && uri.authority().is_some_and(|a| !a.host().is_empty()) =>
        {
            Ok(()) // absolute-form
        }
        Some(_) => {
            Err(RequestError::Malformed("an absolute-form target must be an http or https URI with a host"))
        }
        None => Err(RequestError::Malformed(
            "the request target must start with `/` (or be absolute, or `*` for OPTIONS)",
        )),
    }
}

fn check_partial(buf: &[u8], limits: &HeadLimits) -> Result<(), RequestError> {
    match buf.iter().position(|&b| b == b'\n') {
        // The request line is not even finished: if its target is already too long, say 414.
        None if buf.len() > limits.max_uri + 32 => Err(uri_too_long(limits)),
        _ if buf.len() > limits.max_head => Err(too_large(limits)),
        _ => Ok(()),
    }
}

fn uri_too_long(limits: &HeadLimits) -> RequestError {
    RequestError::UriTooLong { limit: limits.max_uri }
}

fn too_large(limits: &HeadLimits) -> RequestError {
    RequestError::HeadTooLarge { limit: limits.max_head }
}

/// What the connection needs to know from a head's fields, gathered in one pass.
struct Fields<'a> {
    /// `Transfer-Encoding` lines: how many, and the first.
    te_count: usize,
    te_first: &'a [u8],
    /// Every `Content-Length` line's value.
    content_lengths: [&'a [u8]; 2],
    cl_count: usize,
    /// `Host` lines: how many, and the first.
    host_count: usize,
    host: &'a [u8],
    connection_close: bool,
    connection_keep_alive: bool,
    expect_continue: bool,
}

impl<'a> Fields<'a> {
    fn scan(fields: &[httparse::Header<'a>]) -> Fields<'a> {
        let mut f = Fields {
            te_count: 0,
            te_first: b"",
            content_lengths: [b""; 2],
            cl_count: 0,
            host_count: 0,
            host: b"",
            connection_close: false,
            connection_keep_alive: false,
            expect_continue: false,
        };
        for h in fields {
            let name = h.name.as_bytes();
            if name.eq_ignore_ascii_case(b"content-length") {
                if f.cl_count < 2 {
                    f.content_lengths[f.cl_count] = h.value;
                }
                f.cl_count += 1;
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                if f.te_count == 0 {
                    f.te_first = h.value;
                }
                f.te_count += 1;
            } else if name.eq_ignore_ascii_case(b"host") {
                if f.host_count == 0 {
                    f.host = h.value;
                }
                f.host_count += 1;
            } else if name.eq_ignore_ascii_case(b"connection") {
                for token in h.value.split(|&b| b == b',') {
                    let token = trim_ows(token);
                    f.connection_close |= token.eq_ignore_ascii_case(b"close");
                    f.connection_keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            } else if name.eq_ignore_ascii_case(b"expect") {
                f.expect_continue |= trim_ows(h.value).eq_ignore_ascii_case(b"100-continue");
            }
        }
        f
    }
}

/// RFC 9112 §6: decides the body framing, or refuses the request.
fn framing(fields: &Fields<'_>, version: Version) -> Result<Framing, RequestError> {
    if fields.te_count > 0 {
        if fields.cl_count > 0 {
            return Err(RequestError::Malformed("both Content-Length and Transfer-Encoding"));
        }
        if version == Version::HTTP_10 {
            return Err(RequestError::Malformed("Transfer-Encoding on HTTP/1.0"));
        }
        if fields.te_count > 1 {
            return Err(RequestError::Malformed("repeated Transfer-Encoding"));
        }
        let value = std::str::from_utf8(fields.te_first)
            .map_err(|_| RequestError::Malformed("invalid Transfer-Encoding"))?;
        let codings: Vec<String> = value.split(',').map(|c| c.trim().to_ascii_lowercase()).collect();
        if codings.iter().any(String::is_empty) {
            return Err(RequestError::Malformed("empty transfer coding"));
        }
        if codings.last().map(String::as_str) != Some("chunked") {
            return Err(RequestError::Malformed("Transfer-Encoding must end in chunked"));
        }
        if codings.len() > 1 {
            return if codings[..codings.len() - 1].iter().any(|c| c == "chunked") {
                Err(RequestError::Malformed("chunked applied twice"))
            } else {
                Err(RequestError::UnsupportedCoding(codings[0].clone()))
            };
        }
        return Ok(Framing::Chunked);
    }
    if fields.cl_count > 2 {
        // More than two lines is never legitimate; refusing keeps `Fields` fixed-size.
        return Err(RequestError::Malformed("repeated Content-Length"));
    }
    let mut length: Option<u64> = None;
    for value in &fields.content_lengths[..fields.cl_count] {
        for part in value.split(|&b| b == b',') {
            let n = parse_content_length(trim_ows(part))
                .ok_or_else(|| RequestError::Malformed("invalid Content-Length"))?;
            match length {
                Some(prev) if prev != n => {
                    return Err(RequestError::Malformed("differing Content-Length values"))
                }
                _ => length = Some(n),
            }
        }
    }
    Ok(Framing::Length(length.unwrap_or(0)))
}

/// `1*DIGIT`, checked: no sign, no hex, no spaces, no overflow.
fn parse_content_length(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// HTTP/1.1 needs exactly one Host, and it must be a valid authority without userinfo
/// (RFC 9112 §3.2; RFC 3986 §3.2.2–3: `reg-name` or `[IP-literal]` or IPv4, then an optional
/// `:port` of digits).
fn check_host(fields: &Fields<'_>) -> Result<(), RequestError> {
    match fields.host_count {
        0 => return Err(RequestError::Malformed("missing Host")),
        1 => {}
        _ => return Err(RequestError::Malformed("repeated Host")),
    }
    // An empty Host is allowed (RFC 9112 §3.2, for targets without an authority).
    if fields.host.is_empty() || valid_authority(fields.host) {
        Ok(())
    } else {
        Err(RequestError::Malformed("malformed Host"))
    }
}

/// The bytes a host's `reg-name` may hold (RFC 3986: unreserved, sub-delims, and `%` of a
/// percent-encoding), as a table: one load per byte of every request's Host.
const REG_NAME: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'%'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
            );
        b += 1;
    }
    table
};

fn valid_authority(host: &[u8]) -> bool {
    let (name, port) = if let Some(rest) = host.strip_prefix(b"[") {
        // IP-literal: hex digits, ':' and '.', a zone after "%25"; then "]" and a port.
        let Some(close) = rest.iter().position(|&b| b == b']') else { return false };
        let literal = &rest[..close];
        let ok = !literal.is_empty()
            && literal
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.' | b'%' | b'v' | b'V'));
        if !ok {
            return false;
        }
        match &rest[close + 1..] {
            [] => (&b"x"[..], None),
            [b':', port @ ..] => (&b"x"[..], Some(port)),
            _ => return false,
        }
    } else {
        match host.iter().rposition(|&b| b == b':') {
            Some(i) => (&host[..i], Some(&host[i + 1..])),
            None => (host, None),
        }
    };
    !name.is_empty()
        && name.iter().all(|&b| REG_NAME[b as usize])
        && port.is_none_or(|p| p.len() <= 5 && p.iter().all(u8::is_ascii_digit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    #[test]
    fn bare_lfs_are_refused_at_every_line_end() {
        let limits = HeadLimits::default();
        for ok in [
            &b"GET / HTTP/1.1\r\nhost: x\r\nx-a: 1  \r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nhost: x\r\nx-a:\r\nx-b: \r\n\r\n",
        ] {
            let parsed = parse_request_head(ok, &limits);
            assert!(matches!(parsed, Ok(Some(_))), "{parsed:?}");
        }
        for bad in [
            &b"GET / HTTP/1.1\nhost: x\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nhost: x\n\r\n",
            b"GET / HTTP/1.1\r\nhost: x\r\nx-a: 1 \nx-b: 2\r\n\r\n",
            b"GET / HTTP/1.1\r\nhost: x\r\n\n",
            b"GET / HTTP/1.1\nhost: x\n\n",
            b"GET / HTTP/1.1\r\nhost: x\r\nx-a:\nx-b: 2\r\n\r\n",
        ] {
            let e = parse_request_head(bad, &limits).unwrap_err();
            assert_eq!(e.status(), StatusCode::BAD_REQUEST, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn bare_lfs_are_found_anywhere() {
        assert!(!has_bare_lf(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n"));
        for bad in [&b"\n"[..], b"GET / HTTP/1.1\n", b"a\r\nb\n\r\n", b"\r\r\n\n", b"x\n\r\n"] {
            assert!(has_bare_lf(bad), "{:?}", String::from_utf8_lossy(bad));
        }
        assert!(!has_bare_lf(b""));
        assert!(!has_bare_lf(b"\r"), "a lone CR is not a bare LF (httparse refuses it)");
    }

    fn parse(raw: &str) -> Result<Option<(RequestHead, usize)>, RequestError> {
        parse_request_head(raw.as_bytes(), &HeadLimits::default())
    }

    fn status(raw: &str) -> StatusCode {
        parse(raw).expect_err(raw).status()
    }

    #[test]
    fn parses_a_request_and_its_framing() {
        let raw = "POST /books?x=1 HTTP/1.1\r\nHost: example.com:8080\r\nContent-Length: 5\r\n\r\nhello";
        let (head, len) = parse(raw).unwrap().unwrap();
        assert_eq!(head.method, Method::POST);
        assert_eq!(head.uri.path(), "/books");
        assert_eq!(head.uri.query(), Some("x=1"));
        assert_eq!(head.framing, Framing::Length(5));
        assert!(head.keep_alive);
        assert_eq!(&raw[len..], "hello");

        let (head, _) =
            parse("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n").unwrap().unwrap();
        assert_eq!(head.framing, Framing::Chunked);
        let (head, _) = parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n").unwrap().unwrap();
        assert!(!head.keep_alive);
        let (head, _) = parse("GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!head.keep_alive, "HTTP/1.0 closes by default");
        assert_eq!(head.framing, Framing::Length(0));
        let (head, _) = parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").unwrap().unwrap();
        assert!(head.keep_alive);
        let (head, _) =
            parse("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n")
                .unwrap()
                .unwrap();
        assert!(head.expect_continue);
        let (head, _) =
            parse("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 7, 7\r\nContent-Length: 7\r\n\r\n")
                .unwrap()
                .unwrap();
        assert_eq!(head.framing, Framing::Length(7), "equal repeated values are one length");
    }

    #[test]
    fn incomplete_heads_ask_for_more() {
        assert!(parse("GET / HTTP/1.1\r\nHost: a\r\n").unwrap().is_none());
        assert!(parse("GE").unwrap().is_none());
    }

    #[test]
    fn host_values() {
        for ok in [
            "a",
            "example.com",
            "example.com:8080",
            "127.0.0.1:80",
            "[::1]",
            "[::1]:8080",
            "xn--bcher-kva.de",
            "a:",
        ] {
            assert!(valid_authority(ok.as_bytes()), "{ok}");
        }
        for bad in
            ["a b", "user@a", "a:b", "a:123456", "[::1", "[]", "[::1]x", "a/b", "a?b", ":80", "[::1]:x"]
        {
            assert!(!valid_authority(bad.as_bytes()), "{bad}");
        }
        assert_eq!(status("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n"), StatusCode::BAD_REQUEST, "three Content-Length lines");
        let (head, _) = parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(head.framing, Framing::Length(3), "two equal lines are one length");
        let (head, _) =
            parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, CLOSE\r\nExpect: 100-Continue\r\n\r\n")
                .unwrap()
                .unwrap();
        assert!(!head.keep_alive && head.expect_continue);
    }

    #[test]
    fn smuggling_shapes_are_refused() {
        let bad = StatusCode::BAD_REQUEST;
        for raw in [
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: user@a\r\n\r\n",
        ] {
            assert_eq!(status(raw), bad, "{raw:?}");
        }
        assert_eq!(
            status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            StatusCode::NOT_IMPLEMENTED
        );
        assert_eq!(status("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), StatusCode::HTTP_VERSION_NOT_SUPPORTED);
        assert_eq!(status("GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n"), StatusCode::BAD_REQUEST);
        assert_eq!(status("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n"), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn limits_are_judged_with_their_own_variants() {
        let limits = HeadLimits { max_uri: 100, max_head: 1000, max_headers: 5 };
        let long_uri = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(200));
        let e = parse_request_head(long_uri.as_bytes(), &limits).unwrap_err();
        assert!(matches!(e, RequestError::UriTooLong { limit: 100 }), "{e:?}");
        assert_eq!(e.status(), StatusCode::URI_TOO_LONG);
        let unfinished_line = format!("GET /{}", "a".repeat(200));
        let e = parse_request_head(unfinished_line.as_bytes(), &limits).unwrap_err();
        assert!(matches!(e, RequestError::UriTooLong { limit: 100 }), "{e:?}");
        let many = format!("GET / HTTP/1.1\r\nHost: a\r\n{}\r\n", "X-A: 1\r\n".repeat(6));
        let e = parse_request_head(many.as_bytes(), &limits).unwrap_err();
        assert!(matches!(e, RequestError::TooManyHeaders { limit: 5 }), "{e:?}");
        assert_eq!(e.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        let big = format!("GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n", "b".repeat(2000));
        let e = parse_request_head(big.as_bytes(), &limits).unwrap_err();
        assert!(
            matches!(e, RequestError::HeadTooLarge { limit: 1000 }),
            "judged before the head is complete: {e:?}"
        );
        assert_eq!(e.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    }
}
