//! Rust values to and from PostgreSQL's binary format.
//!
//! Parameters are sent and columns received in the binary format: an `int8` is eight
//! big-endian bytes, not up to twenty digits to parse. Each [`ToSql`] type names the
//! PostgreSQL type it is sent as; the client declares those types when it prepares a
//! statement, so the server needs no round trip to tell it what `$1` is (and a statement
//! is cached per SQL text *and* parameter types). Each [`FromSql`] type says which column
//! types it accepts, and converting anything else is an error, not a guess.
//!
//! | Rust | sent as | read from |
//! |---|---|---|
//! | `bool` | `bool` | `bool` |
//! | `i16`, `i32`, `i64` | `int2`, `int4`, `int8` | any integer column that fits |
//! | `f32`, `f64` | `float4`, `float8` | `float4`, `float8` (`f64` both) |
//! | `&str`, `String` | `text` | `text`, `varchar`, `bpchar`, `name` |
//! | `&[u8]`, `Vec<u8>` | `bytea` | `bytea` |
//! | [`Json`] (any `serde_json::Value`) | `jsonb` | `json`, `jsonb` |
//! | [`Timestamp`] | `timestamptz` | `timestamptz`, `timestamp` |
//! | `Option<T>` | `T`'s type, `NULL` for `None` | `NULL` as `None` |

use crate::error::PgError;
use bytes::{BufMut, BytesMut};

/// A PostgreSQL type's object id.
pub type Oid = u32;

/// The type ids this client converts.
pub mod oid {
    use super::Oid;
    /// `bool`.
    pub const BOOL: Oid = 16;
    /// `bytea`.
    pub const BYTEA: Oid = 17;
    /// `name`.
    pub const NAME: Oid = 19;
    /// `int8`.
    pub const INT8: Oid = 20;
    /// `int2`.
    pub const INT2: Oid = 21;
    /// `int4`.
    pub const INT4: Oid = 23;
    /// `text`.
    pub const TEXT: Oid = 25;
    /// `json`.
    pub const JSON: Oid = 114;
    /// `float4`.
    pub const FLOAT4: Oid = 700;
    /// `float8`.
    pub const FLOAT8: Oid = 701;
    /// `bpchar`.
    pub const BPCHAR: Oid = 1042;
    /// `varchar`.
    pub const VARCHAR: Oid = 1043;
    /// `timestamp`.
    pub const TIMESTAMP: Oid = 1114;
    /// `timestamptz`.
    pub const TIMESTAMPTZ: Oid = 1184;
    /// `jsonb`.
    pub const JSONB: Oid = 3802;
    /// `void` (what `SELECT pg_notify(…)` returns).
    pub const VOID: Oid = 2278;
}

/// A value that can be a statement's parameter.
pub trait ToSql: Sync {
    /// The type it is sent as.
    fn sql_type(&self) -> Oid;
    /// Writes the value in binary format; `false` for `NULL` (nothing written).
    fn to_sql(&self, out: &mut BytesMut) -> bool;
}

/// A value a column can be read as.
pub trait FromSql: Sized {
    /// Reads it from a column of type `ty`: `raw` is `None` for `NULL`.
    ///
    /// # Errors
    /// [`PgError::Type`]: a column of another type, a `NULL` where none may be, or bytes
    /// that are not the type's binary format.
    fn from_sql(ty: Oid, raw: Option<&[u8]>) -> Result<Self, PgError>;
}

fn wrong(ty: Oid, rust: &str) -> PgError {
    PgError::Type(format!("a column of type oid {ty} cannot be read as {rust}"))
}

fn not_null<'a>(raw: Option<&'a [u8]>, rust: &str) -> Result<&'a [u8], PgError> {
    raw.ok_or_else(|| PgError::Type(format!("NULL cannot be read as {rust}; read an Option")))
}

fn fixed<const N: usize>(raw: &[u8], rust: &str) -> Result<[u8; N], PgError> {
    raw.try_into().map_err(|_| PgError::Type(format!("{} bytes are not a binary {rust}", raw.len())))
}

impl ToSql for bool {
    fn sql_type(&self) -> Oid {
        oid::BOOL
    }
    fn to_sql(&self, out: &mut BytesMut) -> bool {
        out.put_u8(u8::from(*self));
        true
    }
}

impl FromSql for bool {
    fn from_sql(ty: Oid, raw: Option<&[u8]>) -> Result<bool, PgError> {
        if ty != oid::BOOL {
            return Err(wrong(ty, "bool"));
        }
        Ok(fixed::<1>(not_null(raw, "bool")?, "bool")?[0] != 0)
    }
}

macro_rules! integer {
    ($t:ty, $oid:expr) => {
        impl ToSql for $t {
            fn sql_type(&self) -> Oid {
                $oid
            }
            fn to_sql(&self, out: &mut BytesMut) -> bool {
                out.extend_from_slice(&self.to_be_bytes());
                true
            }
        }

        impl FromSql for $t {
            fn from_sql(ty: Oid, raw: Option<&[u8]>) -> Result<$t, PgError> {
                let raw = not_null(raw, stringify!($t))?;
                let wide: i64 = match ty {
                    oid::INT2 => i16::from_be_bytes(fixed(raw, "int2")?).into(),
                    oid::INT4 => i32::from_be_bytes(fixed(raw, "int4")?).into(),
                    oid::INT8 => i64::from_be_bytes(fixed(raw, "int8")?),
                    _ => return Err(wrong(ty, stringify!($t))),
                };
                <$t>::try_from(wide)
                    .map_err(|_| PgError::Type(format!("{wide} does not fit in {}", stringify!($t))))
            }
        }
    };
}

integer!(i16, oid::INT2);
integer!(i32, oid::INT4);
integer!(i64, oid::INT8);

impl ToSql for f32 {
    fn sql_type(&self) -> Oid {
        oid::FLOAT4
    }
    fn to_sql(&self, out: &mut BytesMut) -> bool {
        out.put_f32(*self);
        true
    }
}

impl ToSql for f64 {
    fn sql_type(&self) -> Oid {
        oid::FLOAT8
    }
    fn to_sql(&self, out: &mut BytesMut) -> bool {
        out.put_f64(*self);
        true
    }
}

impl FromSql for f32 {
    fn from_sql(ty: Oid, raw: Option<&[u8]>) -> Result<f32, PgError> {
        match ty {
            oid::FLOAT4 => Ok(f32::from_be_bytes(fixed(not_null(raw, "f32")?, "float4")?)),
            _ => Err(wrong(ty, "f32")),
        }
    }
}

impl FromSql for f64 {
    fn from_sql(ty: Oid, raw: Option<&[u8]>) -> Result<f64, PgError> {
        let raw = not_null(raw, "f64")?;
        match ty {
            oid::FLOAT4 => Ok(f32::from_be_bytes(fixed(raw, "float4")?).into()),
            oid::FLOAT8 => Ok(f64::from_be_bytes(fixed(raw, "float8")?)),
            _ => Err(wrong(ty, "f64")),
        }
    }
}

impl ToSql for str {
    fn sql_type(&self) -> Oid {
        oid::TEXT
    }
    fn to_sql(&self, out: &mut BytesMut) -> bool {
        out.extend_from_slice(self.as_bytes());
        true
    }
}

impl ToSql for String {
    fn sql_type(&self) -> Oid {
        oid::TEXT
    }
    fn to_sql(&self, out: &mut BytesMut) -> bool {
        self.as_str().to_sql(out)
    }
}

impl FromSql for String {
    fn from_sql(ty: Oid, raw: Option<&[u8]>) -> Result<String, PgError> {
        match ty {
            oid::TEXT | oid::VARCHAR | oid::BPCHAR | oid::NAME => {
                String::from_utf8(not_null(raw, "String")?.to_vec()).map_err(|e| PgError::Type(e.to_string()))
            }
            _ => Err(wrong(ty, "String")),
        }
    }
}

impl ToSql for [u8] {
    fn sql_type(&self) -> Oid {
        oid::BYTEA
    }
    fn to_sql(&self, out: &mut BytesMut) -> bool {
        out.extend_from_slice(self);
        true
    }
}

impl ToSql for Vec<u8> {
    fn sql_type(&self) -> Oid {
        oid::BYTEA
    }
    fn to_sql(&self, out: &mut BytesMut) -> bool {
        self.as_slice().to_sql(out)
    }
}

impl FromSql for Vec<u8> {
    fn from_sql(ty: Oid, raw: Option<&[u8]>) -> Result<Vec<u8>, PgError> {
        match ty {
            oid::BYTEA => Ok(not_null(raw, "Vec<u8>")?.to_vec()),
            _ => Err(wrong(ty, "Vec<u8>")),
        }
    }
}

impl<T: ToSql + ?Sized> ToSql for &T {
    fn sql_type(&self) -> Oid {
        (**self).sql_type()
    }
    fn to_sql(&self, out: &mut BytesMut) -> bool {
        (**self).to_sql(out)
    }
}

/// `NULL` is sent with the type `T` would have; the `sql_type` of a `None` comes from a
/// default value of that type.
impl<T: ToSql + Default> ToSql for Option<T> {
    fn sql_type(&self) -> Oid {
        match self {
            Some(v) => v.sql_type(),
            None => T::default().sql_type(),
        }
    }
    fn to_sql(&self, out: &mut BytesMut) -> bool {
        match self {
            Some(v) => v.to_sql(out),
            None => false,
        }
    }
}

impl<T: FromSql> FromSql for Option<T> {
    fn from_sql(ty: Oid, raw: Option<&[u8]>) -> Result<Option<T>, PgError> {
        match raw {
            None => Ok(None),
            Some(_) => T::from_sql(ty, raw).map(Some),
        }
    }
}

/// A JSON value, sent as `jsonb` and read from `json` or `jsonb`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Json(pub serde_json::Value);

impl ToSql for Json {
    fn sql_type(&self) -> Oid {
        oid::JSONB
    }
    fn to_sql(&self, out: &mut BytesMut) -> bool {
        out.put_u8(1); // jsonb's binary format: a version byte, then the text
        serde_json::to_writer((&mut *out).writer(), &self.0).expect("a JSON value serializes");
        true
    }
}

impl FromSql for Json {
    fn from_sql(ty: Oid, raw: Option<&[u8]>) -> Result<Json, PgError> {
        let raw = not_null(raw, "Json")?;
        let text = match ty {
            oid::JSON => raw,
            oid::JSONB => match raw.split_first() {
                Some((1, rest)) => rest,
                _ => return Err(PgError::Type("an unknown jsonb format version".into())),
            },
            _ => return Err(wrong(ty, "Json")),
        };
        serde_json::from_slice(text).map(Json).map_err(|e| PgError::Type(format!("json: {e}")))
    }
}

/// Microseconds between the Unix epoch and PostgreSQL's, 2000-01-01.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// A point in time, microseconds since the Unix epoch: sent as `timestamptz`, read from
/// `timestamptz` or `timestamp` (taken as UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// From Unix milliseconds.
    pub fn from_unix_millis(ms: i64) -> Timestamp {
        Timestamp(ms.saturating_mul(1000))
    }

    /// As Unix milliseconds (rounded down).
    pub fn unix_millis(self) -> i64 {
        self.0.div_euclid(1000)
    }
}

impl ToSql for Timestamp {
    fn sql_type(&self) -> Oid {
        oid::TIMESTAMPTZ
    }
    fn to_sql(&self, out: &mut BytesMut) -> bool {
        out.put_i64(self.0 - PG_EPOCH_MICROS);
        true
    }
}

impl FromSql for Timestamp {
    fn from_sql(ty: Oid, raw: Option<&[u8]>) -> Result<Timestamp, PgError> {
        match ty {
            oid::TIMESTAMPTZ | oid::TIMESTAMP => {
                let pg = i64::from_be_bytes(fixed(not_null(raw, "Timestamp")?, "timestamp")?);
                Ok(Timestamp(pg.saturating_add(PG_EPOCH_MICROS)))
            }
            _ => Err(wrong(ty, "Timestamp")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: ToSql + FromSql + PartialEq + std::fmt::Debug>(v: T) {
        let mut out = BytesMut::new();
        assert!(v.to_sql(&mut out));
        assert_eq!(T::from_sql(v.sql_type(), Some(&out)).unwrap(), v);
    }

    #[test]
    fn values_survive_their_binary_format() {
        round_trip(true);
        round_trip(-7i16);
        round_trip(i32::MIN);
        round_trip(i64::MAX);
        round_trip(1.5f64);
        round_trip("héllo".to_owned());
        round_trip(vec![0u8, 255]);
        round_trip(Json(serde_json::json!({"a": [1, null]})));
        round_trip(Timestamp::from_unix_millis(1_764_670_000_123));
        round_trip(Some(5i64));
    }

    #[test]
    fn conversions_refuse_what_does_not_fit() {
        let big = 70_000i32.to_be_bytes();
        assert_eq!(i32::from_sql(oid::INT4, Some(&big)).unwrap(), 70_000);
        assert_eq!(i64::from_sql(oid::INT4, Some(&big)).unwrap(), 70_000, "widening is fine");
        assert!(i16::from_sql(oid::INT4, Some(&big)).is_err(), "narrowing that loses is not");
        assert!(i64::from_sql(oid::TEXT, Some(b"1")).is_err());
        assert!(String::from_sql(oid::TEXT, None).is_err(), "NULL needs an Option");
        assert_eq!(Option::<String>::from_sql(oid::TEXT, None).unwrap(), None);
        assert_eq!(Timestamp(0).unix_millis(), 0);
        assert_eq!(Timestamp(-1).unix_millis(), -1, "rounded down, before 1970 too");
        let mut out = BytesMut::new();
        assert!(!None::<i64>.to_sql(&mut out) && out.is_empty());
        assert_eq!(None::<i64>.sql_type(), oid::INT8);
    }
}
