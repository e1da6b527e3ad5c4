//! Replays every input the fuzzers kept (`fuzz/regressions/<target>-<name>`) through the same
//! checks the fuzz targets run (`fuzz/checks.rs`), on stable Rust: a crash, hang or leak once
//! found stays fixed. docs/reliability.md says how the campaigns ran.

#[path = "../fuzz/checks.rs"]
mod checks;

use std::path::Path;

#[test]
fn every_kept_fuzz_input_passes_its_target() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut replayed = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("fuzz/regressions exists")
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name == "README.md" {
            continue;
        }
        // The longest target name that prefixes the file name (`parse_yaml-...`).
        let target = checks::TARGETS
            .iter()
            .filter(|t| name.starts_with(&format!("{t}-")))
            .max_by_key(|t| t.len())
            .unwrap_or_else(|| panic!("{name}: names no fuzz target ({:?})", checks::TARGETS));
        let data = std::fs::read(&path).unwrap();
        // Each case on a thread with the default test stack: a case that needs more stack
        // than that is a crash the fuzzer found on small stacks.
        let t = target.to_string();
        std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || checks::run(&t, &data))
            .unwrap()
            .join()
            .unwrap_or_else(|_| panic!("{name}: the {target} check failed"));
        replayed += 1;
    }
    assert!(replayed >= 1, "no regression input replayed");
}

#[test]
fn every_target_accepts_the_empty_and_a_small_input() {
    for target in checks::TARGETS {
        checks::run(target, b"");
        checks::run(target, b"\x03a: 1\nb: [x, y]\n");
    }
}
