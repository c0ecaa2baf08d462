//! `Path<T>`: the matched route's parameters, percent-decoded and deserialized with serde.
//!
//! `T` can be one value (`Path<u64>` for `/books/{id}`), a tuple in the order the parameters
//! appear (`Path<(String, u32)>`), or a struct or map by parameter name. Each value is
//! parsed from its text into the type asked for (numbers, `bool`, `char`, unit enum
//! variants, `Option`, strings); a value that does not parse, a count that does not fit the
//! tuple, or a segment that is not UTF-8 after decoding is a 400 problem saying which.

use super::FromRequestParts;
use crate::response::Problem;
use crate::router::PathParams;
use http::request::Parts;
use http::StatusCode;
use serde::de::value::{Error as DeError, MapDeserializer, SeqDeserializer};
use serde::de::{self, DeserializeOwned, Error as _, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;

/// The deserialized path parameters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Path<T>(pub T);

impl<S: Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Path<T>, Problem> {
        let bad = |detail: String| Problem::new(StatusCode::BAD_REQUEST).detail(detail);
        let Some(params) = parts.extensions.get::<PathParams>() else {
            return Err(Problem::new(StatusCode::INTERNAL_SERVER_ERROR)
                .detail("Path<_> used on a route without parameters"));
        };
        let mut decoded = Vec::with_capacity(params.0.len());
        for (name, raw) in &params.0 {
            let value = percent_encoding::percent_decode_str(raw)
                .decode_utf8()
                .map_err(|_| bad(format!("path parameter `{name}` is not UTF-8 once decoded")))?;
            decoded.push((name.as_str(), value));
        }
        T::deserialize(Params(&decoded)).map(Path).map_err(|e| bad(format!("invalid path parameter: {e}")))
    }
}

/// All parameters: a map, a sequence, or (when there is exactly one) a single value.
struct Params<'a>(&'a [(&'a str, std::borrow::Cow<'a, str>)]);

impl<'a> Params<'a> {
    fn single(&self) -> Result<Value<'a>, DeError> {
        match self.0 {
            [(name, value)] => Ok(Value { name, text: value }),
            other => Err(DeError::custom(format!("expected 1 parameter, the route has {}", other.len()))),
        }
    }

    fn values(&self) -> impl Iterator<Item = Value<'a>> + 'a {
        self.0.iter().map(|(name, text)| Value { name, text })
    }
}

macro_rules! single_value {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            self.single()?.$method(visitor)
        }
    )*};
}

impl<'de, 'a> de::Deserializer<'de> for Params<'a> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let entries = self.0.iter().map(|(name, text)| (*name, Value { name, text }));
        let mut map = MapDeserializer::new(entries);
        let value = visitor.visit_map(&mut map)?;
        map.end()?;
        Ok(value)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let mut seq = SeqDeserializer::new(self.values());
        let value = visitor.visit_seq(&mut seq)?;
        seq.end()?;
        Ok(value)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, DeError> {
        if len != self.0.len() {
            return Err(DeError::custom(format!(
                "expected {len} parameters, the route has {}",
                self.0.len()
            )));
        }
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.single()?.deserialize_enum(name, variants, visitor)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.single()?.deserialize_unit_struct(name, visitor)
    }

    single_value! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
        deserialize_f32 deserialize_f64 deserialize_char deserialize_str deserialize_string
        deserialize_bytes deserialize_byte_buf deserialize_option deserialize_unit deserialize_identifier
        deserialize_ignored_any
    }
}

/// One parameter's text, parsed into whatever type is asked of it.
#[derive(Clone, Copy)]
struct Value<'a> {
    name: &'a str,
    text: &'a str,
}

impl<'de, 'a> IntoDeserializer<'de, DeError> for Value<'a> {
    type Deserializer = Value<'a>;
    fn into_deserializer(self) -> Value<'a> {
        self
    }
}

macro_rules! parse_value {
    ($($method:ident => $visit:ident: $ty:ty),*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            match self.text.parse::<$ty>() {
                Ok(v) => visitor.$visit(v),
                Err(_) => Err(DeError::custom(format!(
                    "`{}` is {:?}, not a valid {}", self.name, self.text, stringify!($ty)
                ))),
            }
        }
    )*};
}

impl<'de, 'a> de::Deserializer<'de> for Value<'a> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_str(self.text)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.text.into_deserializer().deserialize_enum(name, variants, visitor)
    }

    parse_value! {
        deserialize_bool => visit_bool: bool,
        deserialize_i8 => visit_i8: i8, deserialize_i16 => visit_i16: i16,
        deserialize_i32 => visit_i32: i32, deserialize_i64 => visit_i64: i64,
        deserialize_i128 => visit_i128: i128,
        deserialize_u8 => visit_u8: u8, deserialize_u16 => visit_u16: u16,
        deserialize_u32 => visit_u32: u32, deserialize_u64 => visit_u64: u64,
        deserialize_u128 => visit_u128: u128,
        deserialize_f32 => visit_f32: f32, deserialize_f64 => visit_f64: f64,
        deserialize_char => visit_char: char
    }

    forward_to_deserialize_any! {
        str string bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::borrow::Cow;

    fn de<T: DeserializeOwned>(params: &[(&str, &str)]) -> Result<T, String> {
        let owned: Vec<(&str, Cow<'_, str>)> = params.iter().map(|(n, v)| (*n, Cow::Borrowed(*v))).collect();
        T::deserialize(Params(&owned)).map_err(|e| e.to_string())
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Ids {
        shelf: String,
        id: u32,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Format {
        Json,
        Csv,
    }

    #[test]
    fn single_values_tuples_structs_and_enums() {
        assert_eq!(de::<u64>(&[("id", "42")]), Ok(42));
        assert_eq!(de::<String>(&[("id", "a b")]), Ok("a b".to_owned()));
        assert_eq!(de::<(String, u32)>(&[("shelf", "sf"), ("id", "7")]), Ok(("sf".to_owned(), 7)));
        assert_eq!(de::<Ids>(&[("shelf", "sf"), ("id", "7")]), Ok(Ids { shelf: "sf".into(), id: 7 }));
        assert_eq!(de::<Format>(&[("format", "csv")]), Ok(Format::Csv));
        assert_eq!(de::<Option<i8>>(&[("n", "-3")]), Ok(Some(-3)));
        let _ = Format::Json;
    }

    #[test]
    fn mismatches_say_which_parameter_and_why() {
        let e = de::<u64>(&[("id", "forty-two")]).unwrap_err();
        assert!(e.contains("`id`") && e.contains("forty-two") && e.contains("u64"), "{e}");
        let e = de::<u64>(&[("a", "1"), ("b", "2")]).unwrap_err();
        assert!(e.contains("expected 1 parameter"), "{e}");
        let e = de::<(u8, u8)>(&[("a", "1")]).unwrap_err();
        assert!(e.contains("expected 2 parameters"), "{e}");
        assert!(de::<Ids>(&[("shelf", "sf")]).unwrap_err().contains("missing field `id`"));
        assert!(de::<Format>(&[("format", "xml")]).is_err());
        assert!(de::<u8>(&[("n", "256")]).unwrap_err().contains("u8"));
    }
}
