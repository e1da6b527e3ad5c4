//! What only the SQLite store does, against a real file: compression on disk (`BLOB` for large
//! texts, `TEXT` for small ones and for rows written before compression) and the private data
//! directory. The records on both backends are tested in `sql::tests`.

use std::path::Path;

use super::*;
use crate::sql::tests::{big_config, change, key, target};

#[test]
fn large_contents_are_stored_compressed_and_read_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&dir.path().join("data")).unwrap();
    let big = big_config();
    let small = "backend a\n".to_string();
    let id: i64 = write(&s, &key(), |tx| {
        let id = tx.insert_change(&change(Utc::now()))?;
        tx.set_change_targets(id, &[target("big", &big), target("small", &small)])?;
        tx.set_change_evaluation(id, &big)?;
        Ok::<_, StoreError>(id)
    })
    .unwrap();
    let (targets, evaluation) = read(&s, |tx| {
        Ok::<_, StoreError>((tx.change_targets(id)?, tx.change_evaluation(id)?))
    })
    .unwrap();
    assert_eq!(targets[0].content, big);
    assert_eq!(targets[1].content, small);
    assert_eq!(evaluation.as_deref(), Some(big.as_str()));
    // On disk: the large text is a much smaller BLOB, the small one plain TEXT.
    let conn = Connection::open(dir.path().join("data").join("guardrail.sqlite")).unwrap();
    let (kind, len): (String, i64) = conn
        .query_row(
            "SELECT typeof(content), length(content) FROM change_targets WHERE target = 'big'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(kind, "blob");
    assert!((len as usize) * 4 < big.len(), "{len} of {}", big.len());
    let kind: String = conn
        .query_row(
            "SELECT typeof(content) FROM change_targets WHERE target = 'small'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(kind, "text");
    // A row written before compression (plain TEXT, whatever its size) reads as it is.
    conn.execute(
        "UPDATE change_targets SET content = ?1 WHERE target = 'big'",
        [big.as_str()],
    )
    .unwrap();
    drop(conn);
    let targets = read(&s, |tx| tx.change_targets(id)).unwrap();
    assert_eq!(targets[0].content, big);
}

#[test]
fn the_store_is_private_and_an_open_directory_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = SqliteStore::open(&data).unwrap();
    write(&s, &key(), |tx| {
        tx.append_audit(&AuditEntry::default(), Utc::now())
            .map(|_| ())
    })
    .unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    for e in std::fs::read_dir(&data).unwrap().flatten() {
        assert_eq!(mode(&e.path()), 0o600, "{}", e.path().display());
    }
    drop(s);
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let err = SqliteStore::open(&data).err().unwrap().to_string();
    assert!(err.contains("chmod 700"), "{err}");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    let file = data.join(FILE_NAME);
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = SqliteStore::open(&data).err().unwrap().to_string();
    assert!(
        err.contains("chmod 600") && err.contains(FILE_NAME),
        "{err}"
    );
}
