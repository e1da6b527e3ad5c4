//! Large texts stored compressed: config contents and evaluations of [`PACK_ABOVE`] bytes or more
//! are zstd frames (`BLOB`), smaller ones plain `TEXT`; both read back as text.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

/// Config contents and evaluations are stored compressed (zstd) when they are large: the commit
/// of a write transaction is what every other writer waits for, and a 10 MB config is ~1 MB
/// compressed. Small texts stay plain `TEXT`; a compressed one is a `BLOB`. Rows written before
/// compression read as they are (`TEXT`).
pub(super) struct Packed(pub(super) String);

/// Texts shorter than this are stored plain: compressing them saves nothing worth a frame.
const PACK_ABOVE: usize = 4096;

/// zstd's default level: ~8x on config text at hundreds of MB/s.
const PACK_LEVEL: i32 = 3;

/// Binds `text` as [`Packed`] without copying it when it stays plain.
pub(super) struct PackRef<'a>(pub(super) &'a str);

impl ToSql for PackRef<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        pack(self.0)
    }
}

fn pack(text: &str) -> rusqlite::Result<ToSqlOutput<'_>> {
    if text.len() < PACK_ABOVE {
        return Ok(ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())));
    }
    let packed = zstd::bulk::compress(text.as_bytes(), PACK_LEVEL)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    Ok(ToSqlOutput::Owned(rusqlite::types::Value::Blob(packed)))
}

/// The most a packed text may expand to (the largest accepted config is 64 MiB).
const UNPACK_LIMIT: usize = 256 * 1024 * 1024;

impl FromSql for Packed {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        match v {
            ValueRef::Text(t) => std::str::from_utf8(t)
                .map(|s| Packed(s.to_string()))
                .map_err(|e| FromSqlError::Other(Box::new(e))),
            ValueRef::Blob(b) => {
                let bytes = zstd::bulk::decompress(b, UNPACK_LIMIT)
                    .map_err(|e| FromSqlError::Other(Box::new(e)))?;
                String::from_utf8(bytes)
                    .map(Packed)
                    .map_err(|e| FromSqlError::Other(Box::new(e)))
            }
            _ => Err(FromSqlError::InvalidType),
        }
    }
}

impl FromSql for PackedOpt {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        match v {
            ValueRef::Null => Ok(PackedOpt(None)),
            other => Packed::column_result(other).map(|p| PackedOpt(Some(p.0))),
        }
    }
}

/// An owned text bound as [`PackRef`] (for parameter lists of boxed values).
pub(super) struct PackedText(pub(super) String);

impl ToSql for PackedText {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        pack(&self.0)
    }
}

/// A nullable [`Packed`] column.
pub(super) struct PackedOpt(pub(super) Option<String>);
