//! Large texts stored compressed: config contents and evaluations of [`PACK_ABOVE`] bytes or
//! more are zstd frames, smaller ones plain text; both read back as text.
//!
//! The commit of a write transaction is what every other writer waits for, and a 10 MB config
//! is ~1 MB compressed. SQLite keeps a small text as `TEXT` and a frame as `BLOB` in the same
//! column (rows written before compression read as they are); PostgreSQL's column is `BYTEA`
//! and holds either the text's UTF-8 bytes or a frame, told apart by the frame's magic number
//! (`28 B5 2F FD`, which no UTF-8 text starts with: `B5` cannot follow an ASCII byte).

use crate::StoreError;

/// Texts shorter than this are stored plain: compressing them saves nothing worth a frame.
pub(crate) const PACK_ABOVE: usize = 4096;

/// zstd's default level: ~8x on config text at hundreds of MB/s.
const PACK_LEVEL: i32 = 3;

/// The most a packed text may expand to (the largest accepted config is 64 MiB).
const UNPACK_LIMIT: usize = 256 * 1024 * 1024;

/// The first bytes of every zstd frame.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// A text as stored.
pub(crate) enum Packed<'a> {
    Plain(&'a str),
    Zstd(Vec<u8>),
}

pub(crate) fn pack(text: &str) -> Result<Packed<'_>, StoreError> {
    if text.len() < PACK_ABOVE {
        return Ok(Packed::Plain(text));
    }
    zstd::bulk::compress(text.as_bytes(), PACK_LEVEL)
        .map(Packed::Zstd)
        .map_err(|e| StoreError::Backend(format!("compressing a text: {e}")))
}

/// A stored byte string back to its text: a zstd frame is decompressed, anything else is the
/// text's UTF-8.
pub(crate) fn unpack(bytes: Vec<u8>) -> Result<String, StoreError> {
    let bytes = if bytes.starts_with(&ZSTD_MAGIC) {
        zstd::bulk::decompress(&bytes, UNPACK_LIMIT)
            .map_err(|e| StoreError::Corrupt(format!("a compressed text: {e}")))?
    } else {
        bytes
    };
    String::from_utf8(bytes).map_err(|e| StoreError::Corrupt(format!("a stored text: {e}")))
}
