//! The golden-file rendering of a tree: one node per line, `@line`, type and scalar value,
//! indented by depth. Stable on purpose: golden tests and `guardrail parse` print it.
//!
//! ```text
//! map @1
//!   backends: list @10
//!     - map @10
//!       name: str @10 "web"
//!       rules: list @11 ordered
//! ```
//!
//! A list whose order is behaviour is marked `ordered`.

use std::fmt::Write;

use super::{Node, Value};

pub(super) fn dump(root: &Node) -> String {
    let mut out = String::new();
    node(&mut out, root, 0, None);
    out
}

fn node(out: &mut String, n: &Node, depth: usize, label: Option<&str>) {
    for _ in 0..depth {
        out.push_str("  ");
    }
    if let Some(l) = label {
        out.push_str(l);
    }
    let _ = write!(out, "{} @{}", n.value.type_name(), n.line);
    match &n.value {
        Value::List(items) => {
            if items.is_ordered() {
                out.push_str(" ordered");
            }
            out.push('\n');
            for item in items {
                node(out, item, depth + 1, Some("- "));
            }
        }
        Value::Map(m) => {
            out.push('\n');
            for (k, v) in m.iter() {
                let label = format!("{}: ", quote_key(k));
                node(out, v, depth + 1, Some(&label));
            }
        }
        Value::Null => out.push('\n'),
        other => {
            let _ = writeln!(out, " {}", other.display_short());
        }
    }
}

fn quote_key(k: &str) -> String {
    let plain = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'));
    if plain {
        k.to_string()
    } else {
        serde_json::to_string(k).unwrap_or_else(|_| k.to_string())
    }
}
