//! The layering of the workspace, read from `cargo metadata`: Cargo enforces that a crate uses
//! only the crates it declares; this test keeps the declarations themselves in order, so that no
//! crate depends on one above it and the pure core's dependency tree holds no IO crate.

use std::collections::{BTreeSet, HashMap};
use std::process::Command;

use serde_json::Value;

/// The workspace's crates, bottom layer first: each may depend only on crates before it.
const LAYERS: &[&str] = &[
    "guardrail-core",
    "guardrail-store",
    "guardrail-daemon",
    "guardrail",
];

/// Crates that do network, database or async IO: none may be in the core's normal tree.
const IO_CRATES: &[&str] = &[
    "tokio",
    "axum",
    "hyper",
    "hyper-util",
    "reqwest",
    "rusqlite",
    "libsqlite3-sys",
    "tower",
    "tower-http",
    "mio",
    "socket2",
    "h2",
    "rustls",
    "governor",
    "tracing-subscriber",
];

fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

/// Package id → name, for every package in the graph.
fn names(meta: &Value) -> HashMap<String, String> {
    meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_string(),
                p["name"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The resolved graph: package id → (dependency id, is a normal (not dev or build) dependency).
fn graph(meta: &Value) -> HashMap<String, Vec<(String, bool)>> {
    meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let deps = n["deps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| {
                    let normal = d["dep_kinds"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|k| k["kind"].is_null());
                    (d["pkg"].as_str().unwrap().to_string(), normal)
                })
                .collect();
            (n["id"].as_str().unwrap().to_string(), deps)
        })
        .collect()
}

fn id_of(names: &HashMap<String, String>, name: &str) -> String {
    names
        .iter()
        .find(|(_, n)| n.as_str() == name)
        .map(|(id, _)| id.clone())
        .unwrap_or_else(|| panic!("{name} is not in the workspace"))
}

#[test]
fn the_workspace_is_the_four_layers() {
    let meta = metadata();
    let names = names(&meta);
    let members: BTreeSet<String> = meta["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| names[id.as_str().unwrap()].clone())
        .collect();
    let expected: BTreeSet<String> = LAYERS.iter().map(|s| s.to_string()).collect();
    assert_eq!(members, expected);
}

#[test]
fn no_crate_depends_on_one_above_it() {
    let meta = metadata();
    let names = names(&meta);
    let graph = graph(&meta);
    for (i, layer) in LAYERS.iter().enumerate() {
        let id = id_of(&names, layer);
        for (dep, _) in &graph[&id] {
            let dep_name = &names[dep];
            if let Some(j) = LAYERS.iter().position(|l| l == dep_name) {
                assert!(
                    j < i,
                    "{layer} depends on {dep_name}, which is not below it (layers: {LAYERS:?})"
                );
            }
        }
    }
}

#[test]
fn the_core_dependency_tree_has_no_io_crate() {
    let meta = metadata();
    let names = names(&meta);
    let graph = graph(&meta);
    let core = id_of(&names, "guardrail-core");
    // Every package reachable from the core through normal dependencies, with the path that
    // reaches it for the message.
    let mut seen: HashMap<String, Vec<String>> = HashMap::new();
    let mut todo = vec![(core.clone(), vec!["guardrail-core".to_string()])];
    while let Some((id, path)) = todo.pop() {
        for (dep, normal) in &graph[&id] {
            if !normal || seen.contains_key(dep) {
                continue;
            }
            let mut p = path.clone();
            p.push(names[dep].clone());
            seen.insert(dep.clone(), p.clone());
            todo.push((dep.clone(), p));
        }
    }
    assert!(seen.len() > 20, "the walk found the core's dependencies");
    let found: Vec<String> = seen
        .values()
        .filter(|p| IO_CRATES.contains(&p.last().unwrap().as_str()))
        .map(|p| p.join(" -> "))
        .collect();
    assert!(found.is_empty(), "IO crates in the core's tree: {found:#?}");
    // And the layers above are not in it either.
    for above in &LAYERS[1..] {
        assert!(
            !seen.values().any(|p| p.last().unwrap() == above),
            "the core reaches {above}"
        );
    }
}
