//! What Redis answers: RESP's types, and conversions into Rust ones.
//!
//! RESP2 has five types (simple string, error, integer, bulk string, array); RESP3, which a
//! connection asks for with `HELLO 3`, adds null, double, boolean, big number, verbatim
//! string, map, set and push. [`Value`] holds any of them; [`FromValue`] turns one into
//! what the caller wants (`String`, `i64`, `Option<T>`, `Vec<T>`, …) or says why it cannot.

use crate::error::RedisError;
use bytes::Bytes;

/// One RESP value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// RESP3 null, RESP2's null bulk string and null array.
    Nil,
    /// A simple string (`+OK`).
    Simple(String),
    /// An integer.
    Int(i64),
    /// A bulk string: any bytes.
    Bulk(Bytes),
    /// An array (and RESP3's set).
    Array(Vec<Value>),
    /// A RESP3 map, in the order sent.
    Map(Vec<(Value, Value)>),
    /// A RESP3 double.
    Double(f64),
    /// A RESP3 boolean.
    Bool(bool),
    /// A RESP3 big number, as its decimal text.
    BigNumber(String),
    /// A RESP3 out-of-band message (pub/sub, invalidation), not a reply to a command.
    Push(Vec<Value>),
}

/// A conversion from a [`Value`].
pub trait FromValue: Sized {
    /// `value` as `Self`.
    ///
    /// # Errors
    /// [`RedisError::Type`] when the value is of another type.
    fn from_value(value: Value) -> Result<Self, RedisError>;
}

fn mismatch<T>(value: &Value, wanted: &str) -> Result<T, RedisError> {
    Err(RedisError::Type(format!("expected {wanted}, got {value:?}")))
}

impl FromValue for Value {
    fn from_value(value: Value) -> Result<Value, RedisError> {
        Ok(value)
    }
}

impl FromValue for () {
    fn from_value(_: Value) -> Result<(), RedisError> {
        Ok(())
    }
}

impl FromValue for String {
    fn from_value(value: Value) -> Result<String, RedisError> {
        match value {
            Value::Simple(s) | Value::BigNumber(s) => Ok(s),
            Value::Bulk(b) => String::from_utf8(b.to_vec())
                .map_err(|_| RedisError::Type("a bulk string that is not UTF-8".into())),
            Value::Int(n) => Ok(n.to_string()),
            Value::Double(d) => Ok(d.to_string()),
            other => mismatch(&other, "a string"),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(value: Value) -> Result<Vec<u8>, RedisError> {
        match value {
            Value::Bulk(b) => Ok(b.to_vec()),
            Value::Simple(s) => Ok(s.into_bytes()),
            other => mismatch(&other, "bytes"),
        }
    }
}

impl FromValue for Bytes {
    fn from_value(value: Value) -> Result<Bytes, RedisError> {
        match value {
            Value::Bulk(b) => Ok(b),
            Value::Simple(s) => Ok(Bytes::from(s)),
            other => mismatch(&other, "bytes"),
        }
    }
}

impl FromValue for i64 {
    fn from_value(value: Value) -> Result<i64, RedisError> {
        match value {
            Value::Int(n) => Ok(n),
            Value::Bulk(ref b) => std::str::from_utf8(b)
                .ok()
                .and_then(|s| s.parse().ok())
                .map_or_else(|| mismatch(&value, "an integer"), Ok),
            Value::Simple(ref s) => s.parse().map_or_else(|_| mismatch(&value, "an integer"), Ok),
            other => mismatch(&other, "an integer"),
        }
    }
}

impl FromValue for u64 {
    fn from_value(value: Value) -> Result<u64, RedisError> {
        let n = i64::from_value(value)?;
        u64::try_from(n).map_err(|_| RedisError::Type(format!("expected a non-negative integer, got {n}")))
    }
}

impl FromValue for f64 {
    fn from_value(value: Value) -> Result<f64, RedisError> {
        match value {
            Value::Double(d) => Ok(d),
            Value::Int(n) => Ok(n as f64),
            Value::Bulk(ref b) => std::str::from_utf8(b)
                .ok()
                .and_then(|s| s.parse().ok())
                .map_or_else(|| mismatch(&value, "a number"), Ok),
            other => mismatch(&other, "a number"),
        }
    }
}

impl FromValue for bool {
    fn from_value(value: Value) -> Result<bool, RedisError> {
        match value {
            Value::Bool(b) => Ok(b),
            Value::Int(n) => Ok(n != 0),
            Value::Simple(ref s) if s == "OK" => Ok(true),
            Value::Nil => Ok(false),
            other => mismatch(&other, "a boolean"),
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: Value) -> Result<Option<T>, RedisError> {
        match value {
            Value::Nil => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

impl<T: FromValue> FromValue for Vec<T> {
    fn from_value(value: Value) -> Result<Vec<T>, RedisError> {
        match value {
            Value::Array(items) | Value::Push(items) => items.into_iter().map(T::from_value).collect(),
            Value::Nil => Ok(Vec::new()),
            Value::Map(pairs) => pairs.into_iter().flat_map(|(k, v)| [k, v]).map(T::from_value).collect(),
            other => mismatch(&other, "an array"),
        }
    }
}

impl<A: FromValue, B: FromValue> FromValue for (A, B) {
    fn from_value(value: Value) -> Result<(A, B), RedisError> {
        match value {
            Value::Array(items) if items.len() == 2 => {
                let mut it = items.into_iter();
                Ok((A::from_value(it.next().expect("two"))?, B::from_value(it.next().expect("two"))?))
            }
            other => mismatch(&other, "a pair"),
        }
    }
}
