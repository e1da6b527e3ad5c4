//! What a project is made of on disk, read in one place: policy directories (or the library
//! embedded in the binary), waiver files, and the files they name.

pub mod policies;

use std::path::Path;

use crate::pipeline::BadInput;

/// Reads a file from disk; a missing or unreadable file is bad input naming the file.
pub fn read(path: &Path) -> Result<Vec<u8>, BadInput> {
    std::fs::read(path).map_err(|e| {
        BadInput::one(format!(
            "{}: error[input.unreadable]: cannot read file: {}",
            path.display(),
            io_reason(&e)
        ))
    })
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::IsADirectory => "is a directory".to_string(),
        _ => e.to_string(),
    }
}
