//! Inside each crate, the modules form the layers ARCHITECTURE.md draws: every `crate::X` path in
//! a module's code (imports, grouped imports, expressions, types, wherever it appears; test code
//! excluded) must name a module that the module's row in ARCHITECTURE.md lists under "may depend
//! on", and the modules of a crate never form a cycle. The code is parsed with `syn`, not
//! scanned as text.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// (crate directory, the heading of its section in ARCHITECTURE.md).
const CRATES: &[(&str, &str)] = &[
    ("crates/guardrail-core", "### guardrail-core"),
    ("crates/guardrail-store", "### guardrail-store"),
    ("crates/guardrail-daemon", "### guardrail-daemon"),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file belongs to (`src/policy/eval.rs` -> `policy`); `None` for the
/// crate root.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next()?.as_os_str().to_string_lossy();
    let name = first.trim_end_matches(".rs").to_string();
    (name != "lib").then_some(name)
}

fn is_test_attr(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && matches!(&a.meta, syn::Meta::List(l) if l.tokens.to_string().contains("test"))
    })
}

/// Collects the first segment after `crate::` of every path, skipping `#[cfg(test)]` items.
#[derive(Default)]
struct CratePaths {
    used: BTreeSet<String>,
}

impl<'ast> Visit<'ast> for CratePaths {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        let attrs: &[syn::Attribute] = match item {
            syn::Item::Mod(m) => &m.attrs,
            syn::Item::Fn(f) => &f.attrs,
            syn::Item::Use(u) => &u.attrs,
            syn::Item::Impl(i) => &i.attrs,
            _ => &[],
        };
        if !is_test_attr(attrs) {
            syn::visit::visit_item(self, item);
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segs: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        if segs.len() >= 2 && segs[0] == "crate" {
            self.used.insert(segs[1].clone());
        }
        syn::visit::visit_path(self, path);
    }

    fn visit_use_tree(&mut self, tree: &'ast syn::UseTree) {
        fn walk(prefix: &[String], tree: &syn::UseTree, out: &mut BTreeSet<String>) {
            match tree {
                syn::UseTree::Path(p) => {
                    let mut next = prefix.to_vec();
                    next.push(p.ident.to_string());
                    walk(&next, &p.tree, out);
                }
                syn::UseTree::Group(g) => {
                    for t in &g.items {
                        walk(prefix, t, out);
                    }
                }
                syn::UseTree::Name(n) => {
                    let mut full = prefix.to_vec();
                    full.push(n.ident.to_string());
                    note(&full, out);
                }
                syn::UseTree::Rename(r) => {
                    let mut full = prefix.to_vec();
                    full.push(r.ident.to_string());
                    note(&full, out);
                }
                syn::UseTree::Glob(_) => note(prefix, out),
            }
        }
        fn note(full: &[String], out: &mut BTreeSet<String>) {
            if full.len() >= 2 && full[0] == "crate" {
                out.insert(full[1].clone());
            }
        }
        walk(&[], tree, &mut self.used);
    }
}

/// The modules each module's row in ARCHITECTURE.md allows: the backquoted names of the last
/// column of the section's table.
fn allowed(section: &str) -> BTreeMap<String, BTreeSet<String>> {
    let doc = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let start = doc
        .find(section)
        .unwrap_or_else(|| panic!("ARCHITECTURE.md has no section {section}"));
    let mut out = BTreeMap::new();
    for line in doc[start..].lines().skip(1) {
        if line.starts_with("### ") || line.starts_with("## ") {
            break;
        }
        if !line.starts_with("| `") {
            continue;
        }
        let cells: Vec<&str> = line.split(" | ").collect();
        let name = cells[0]
            .trim_start_matches("| ")
            .trim_matches('`')
            .to_string();
        let last = cells.last().unwrap();
        let names: BTreeSet<String> = last
            .split('`')
            .skip(1)
            .step_by(2)
            .map(|n| n.split("::").next().unwrap().to_string())
            .collect();
        out.insert(name, names);
    }
    out
}

fn graph(dir: &str) -> BTreeMap<String, BTreeSet<String>> {
    let src = root().join(dir).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let Some(module) = module_of(&src, &file) else {
            continue;
        };
        let name = file.file_name().unwrap().to_string_lossy();
        if name == "tests.rs" || name.ends_with("_tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let parsed = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let mut v = CratePaths::default();
        v.visit_file(&parsed);
        let entry = graph.entry(module.clone()).or_default();
        entry.extend(v.used.into_iter().filter(|m| *m != module));
    }
    // `crate::Name` may name an item of the crate root (`crate::Store`): only modules count.
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for uses in graph.values_mut() {
        uses.retain(|u| modules.contains(u));
    }
    graph
}

#[test]
fn every_module_uses_only_what_architecture_md_allows() {
    let mut problems = Vec::new();
    for (dir, section) in CRATES {
        let allowed = allowed(section);
        for (module, uses) in graph(dir) {
            let Some(ok) = allowed.get(&module) else {
                problems.push(format!(
                    "{dir}: module `{module}` has no row under {section}"
                ));
                continue;
            };
            for used in uses {
                if !ok.contains(&used) {
                    problems.push(format!(
                        "{dir}: `{module}` uses `crate::{used}`, which its row in ARCHITECTURE.md does not allow"
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn no_crate_has_a_module_cycle() {
    for (dir, _) in CRATES {
        let g = graph(dir);
        // Depth-first search with colours; a grey node met again closes a cycle.
        fn visit(
            n: &str,
            g: &BTreeMap<String, BTreeSet<String>>,
            state: &mut BTreeMap<String, u8>,
            stack: &mut Vec<String>,
        ) -> Option<Vec<String>> {
            match state.get(n) {
                Some(1) => {
                    let from = stack.iter().position(|s| s == n).unwrap();
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(n.to_string());
                    return Some(cycle);
                }
                Some(2) => return None,
                _ => {}
            }
            state.insert(n.to_string(), 1);
            stack.push(n.to_string());
            for m in g.get(n).into_iter().flatten() {
                if let Some(c) = visit(m, g, state, stack) {
                    return Some(c);
                }
            }
            stack.pop();
            state.insert(n.to_string(), 2);
            None
        }
        let mut state = BTreeMap::new();
        for n in g.keys() {
            let mut stack = Vec::new();
            if let Some(cycle) = visit(n, &g, &mut state, &mut stack) {
                panic!("{dir}: module cycle {}", cycle.join(" -> "));
            }
        }
    }
}

#[test]
fn the_scan_sees_grouped_imports_paths_in_code_and_skips_test_code() {
    let code = r#"
        use crate::{alpha::A, beta::{self, B}};
        fn f() { let _ = crate::gamma::g(); }
        #[cfg(test)]
        mod tests { use crate::delta::D; }
    "#;
    let mut v = CratePaths::default();
    v.visit_file(&syn::parse_file(code).unwrap());
    let expected: BTreeSet<String> = ["alpha", "beta", "gamma"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(v.used, expected);
}
