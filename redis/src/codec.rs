//! RESP on the wire: commands out, values in.
//!
//! A command is an array of bulk strings (`*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n`), the one
//! form every server accepts. Replies are parsed incrementally: [`parse`] returns
//! `Ok(None)` until a whole value has arrived, so the reader appends what the socket gives
//! and asks again. Every length is bounded, so a broken or hostile server cannot make the
//! client allocate without limit, and nesting is bounded so it cannot exhaust the stack.

use crate::error::RedisError;
use crate::value::Value;
use bytes::Bytes;

/// Largest bulk string accepted (Redis's own limit, `proto-max-bulk-len`).
pub const MAX_BULK: usize = 512 * 1024 * 1024;
/// Most elements in one aggregate.
pub const MAX_ELEMENTS: usize = 64 * 1024 * 1024;
/// Deepest nesting of aggregates.
pub const MAX_DEPTH: usize = 64;

/// One answer: a value, or the error the server sent instead.
pub type Answer = Result<Value, RedisError>;

/// Appends `args` as one command to `out`.
pub fn encode(out: &mut Vec<u8>, args: &[Vec<u8>]) {
    out.push(b'*');
    out.extend_from_slice(args.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    for arg in args {
        out.push(b'$');
        out.extend_from_slice(arg.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

fn protocol(what: impl Into<String>) -> RedisError {
    RedisError::Protocol(what.into())
}

/// A value from the start of `buf`, with the bytes it took; `Ok(None)` if it has not all
/// arrived. A server error (`-ERR …`) is returned as `Ok(Some((Err(e), n)))`: it answers one
/// command and leaves the connection usable.
///
/// # Errors
/// Bytes that are not RESP, or exceed the limits above: the connection must be dropped.
pub fn parse(buf: &[u8]) -> Result<Option<(Answer, usize)>, RedisError> {
    let mut at = 0;
    match value(buf, &mut at, 0)? {
        None => Ok(None),
        Some(v) => Ok(Some((v, at))),
    }
}

/// The line at `*at` (without CRLF), moving `*at` past it.
fn line<'a>(buf: &'a [u8], at: &mut usize) -> Result<Option<&'a [u8]>, RedisError> {
    let rest = &buf[*at..];
    let Some(end) = rest.windows(2).position(|w| w == b"\r\n") else {
        if rest.len() > 64 * 1024 {
            return Err(protocol("a line over 64 KiB"));
        }
        return Ok(None);
    };
    *at += end + 2;
    Ok(Some(&rest[..end]))
}

fn text(bytes: &[u8]) -> Result<&str, RedisError> {
    std::str::from_utf8(bytes).map_err(|_| protocol("a line that is not UTF-8"))
}

fn integer(bytes: &[u8]) -> Result<i64, RedisError> {
    text(bytes)?
        .parse()
        .map_err(|_| protocol(format!("not an integer: {:?}", String::from_utf8_lossy(bytes))))
}

/// A length: -1 (null) or 0..=max.
fn length(bytes: &[u8], max: usize) -> Result<Option<usize>, RedisError> {
    match integer(bytes)? {
        -1 => Ok(None),
        n if n >= 0 && (n as u64) <= max as u64 => Ok(Some(n as usize)),
        n => Err(protocol(format!("a length out of bounds: {n}"))),
    }
}

/// `n` bytes then CRLF at `*at`.
fn blob(buf: &[u8], at: &mut usize, n: usize) -> Result<Option<Bytes>, RedisError> {
    if buf.len() < *at + n + 2 {
        return Ok(None);
    }
    if &buf[*at + n..*at + n + 2] != b"\r\n" {
        return Err(protocol("a bulk string not followed by CRLF"));
    }
    let data = Bytes::copy_from_slice(&buf[*at..*at + n]);
    *at += n + 2;
    Ok(Some(data))
}

type Parsed = Option<Result<Value, RedisError>>;

fn value(buf: &[u8], at: &mut usize, depth: usize) -> Result<Parsed, RedisError> {
    if depth > MAX_DEPTH {
        return Err(protocol("aggregates nested too deep"));
    }
    let Some(&kind) = buf.get(*at) else { return Ok(None) };
    let start = *at;
    *at += 1;
    let Some(header) = line(buf, at)? else {
        *at = start;
        return Ok(None);
    };
    let done = |v: Value| Ok(Some(Ok(v)));
    let parsed = match kind {
        b'+' => done(Value::Simple(text(header)?.to_owned())),
        b'-' => Ok(Some(Err(RedisError::server(text(header)?.to_owned())))),
        b':' => done(Value::Int(integer(header)?)),
        b'_' => done(Value::Nil),
        b'#' => match header {
            b"t" => done(Value::Bool(true)),
            b"f" => done(Value::Bool(false)),
            _ => Err(protocol("a boolean that is neither t nor f")),
        },
        b',' => {
            let t = text(header)?;
            let d = match t {
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                _ => t.parse().map_err(|_| protocol(format!("not a double: {t:?}")))?,
            };
            done(Value::Double(d))
        }
        b'(' => done(Value::BigNumber(text(header)?.to_owned())),
        b'$' | b'=' | b'!' => match length(header, MAX_BULK)? {
            None => done(Value::Nil),
            Some(n) => match blob(buf, at, n)? {
                None => Ok(None),
                Some(data) if kind == b'!' => {
                    Ok(Some(Err(RedisError::server(String::from_utf8_lossy(&data).into_owned()))))
                }
                // A verbatim string starts with its format, `txt:`: the text follows.
                Some(data) if kind == b'=' => done(Value::Bulk(data.slice(4.min(data.len())..))),
                Some(data) => done(Value::Bulk(data)),
            },
        },
        b'*' | b'~' | b'>' => match length(header, MAX_ELEMENTS)? {
            None => done(Value::Nil),
            Some(n) => {
                let mut items = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    match value(buf, at, depth + 1)? {
                        None => {
                            *at = start;
                            return Ok(None);
                        }
                        // An error inside an aggregate (EXEC's replies) is kept as text.
                        Some(Err(e)) => items.push(Value::Simple(e.to_string())),
                        Some(Ok(v)) => items.push(v),
                    }
                }
                done(if kind == b'>' { Value::Push(items) } else { Value::Array(items) })
            }
        },
        b'%' | b'|' => match length(header, MAX_ELEMENTS)? {
            None => done(Value::Nil),
            Some(n) => {
                let mut pairs = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    let (Some(k), Some(v)) = (value(buf, at, depth + 1)?, value(buf, at, depth + 1)?) else {
                        *at = start;
                        return Ok(None);
                    };
                    pairs.push((k.unwrap_or(Value::Nil), v.unwrap_or(Value::Nil)));
                }
                if kind == b'|' {
                    // An attribute describes the value after it: skip to that value.
                    return value(buf, at, depth);
                }
                done(Value::Map(pairs))
            }
        },
        other => Err(protocol(format!("an unknown type byte {:?}", other as char))),
    };
    if matches!(parsed, Ok(None)) {
        *at = start;
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(wire: &str) -> Result<Value, RedisError> {
        let (v, n) = parse(wire.as_bytes()).unwrap().expect("complete");
        assert_eq!(n, wire.len(), "consumed all of {wire:?}");
        v
    }

    #[test]
    fn encodes_a_command_as_an_array_of_bulk_strings() {
        let mut out = Vec::new();
        encode(&mut out, &[b"SET".to_vec(), b"k".to_vec(), b"\r\n".to_vec()]);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n\r\n\r\n");
    }

    #[test]
    fn parses_every_resp2_and_resp3_type() {
        assert_eq!(one("+OK\r\n").unwrap(), Value::Simple("OK".into()));
        assert_eq!(one(":-42\r\n").unwrap(), Value::Int(-42));
        assert_eq!(one("$5\r\nhe\r\no\r\n").unwrap(), Value::Bulk(Bytes::from_static(b"he\r\no")));
        assert_eq!(one("$-1\r\n").unwrap(), Value::Nil);
        assert_eq!(one("*-1\r\n").unwrap(), Value::Nil);
        assert_eq!(one("_\r\n").unwrap(), Value::Nil);
        assert_eq!(
            one("*2\r\n:1\r\n*1\r\n+x\r\n").unwrap(),
            Value::Array(vec![Value::Int(1), Value::Array(vec![Value::Simple("x".into())])])
        );
        assert_eq!(
            one("%1\r\n+a\r\n:1\r\n").unwrap(),
            Value::Map(vec![(Value::Simple("a".into()), Value::Int(1))])
        );
        assert_eq!(one("~1\r\n#t\r\n").unwrap(), Value::Array(vec![Value::Bool(true)]));
        assert_eq!(one(",1.5\r\n").unwrap(), Value::Double(1.5));
        assert_eq!(one(",-inf\r\n").unwrap(), Value::Double(f64::NEG_INFINITY));
        assert_eq!(
            one("(3492890328409238509324850943850943825024385\r\n").unwrap(),
            Value::BigNumber("3492890328409238509324850943850943825024385".into())
        );
        assert_eq!(one("=8\r\ntxt:some\r\n").unwrap(), Value::Bulk(Bytes::from_static(b"some")));
        assert_eq!(
            one(">2\r\n+message\r\n+hi\r\n").unwrap(),
            Value::Push(vec![Value::Simple("message".into()), Value::Simple("hi".into())])
        );
        assert_eq!(one("|1\r\n+ttl\r\n:3\r\n:7\r\n").unwrap(), Value::Int(7), "an attribute is skipped");
        let e = one("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n").unwrap_err();
        assert_eq!(e.kind(), Some(&crate::ErrorKind::WrongType));
        assert_eq!(
            one("!21\r\nSYNTAX invalid syntax\r\n").unwrap_err().kind(),
            Some(&crate::ErrorKind::Other("SYNTAX".into()))
        );
    }

    #[test]
    fn waits_for_the_rest_at_every_cut() {
        let wire = b"*3\r\n$3\r\nfoo\r\n%1\r\n+k\r\n:9\r\n,2.5\r\n";
        for cut in 0..wire.len() {
            assert!(parse(&wire[..cut]).unwrap().is_none(), "cut at {cut}");
        }
        assert!(parse(wire).unwrap().is_some());
    }

    #[test]
    fn refuses_what_is_not_resp_or_too_large() {
        assert!(parse(b"?what\r\n").is_err());
        assert!(parse(b"$-5\r\n").is_err());
        assert!(parse(b"$3\r\nabcd\r\n").is_err(), "no CRLF after the bulk");
        assert!(parse(format!("${}\r\n", MAX_BULK + 1).as_bytes()).is_err());
        assert!(parse(&b"*1\r\n".repeat(MAX_DEPTH + 2)).is_err(), "nesting bound");
        assert!(parse(&vec![b'x'; 70 * 1024]).is_err(), "a header line without end");
    }
}
