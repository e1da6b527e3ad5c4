//! The CEL values rules see: the documents, the diff, the target, the change and the
//! inventory, built once per target ([`Shared`]) and lent to every rule through a variable
//! resolver ([`Vars`]).

use std::sync::OnceLock;

use cel::common::types::{CelBool, CelInt, CelNull};
use cel::common::value::{CowVal, Val};
use cel::context::VariableResolver;

use super::{InventoryEntry, TargetInfo, TargetInput};
use crate::diff::DiffEntry;
use crate::policy::value::{DocList, DocMap, Side, optional_node_value, string, string_list};

/// The values shared by every rule on one target.
pub(super) struct Shared<'a> {
    pub(super) old: Box<dyn Val + 'a>,
    pub(super) new: Box<dyn Val + 'a>,
    pub(super) diff: Box<dyn Val + 'a>,
    pub(super) target: Box<dyn Val + 'a>,
    pub(super) change: Box<dyn Val + 'a>,
    pub(super) inventory: OnceLock<Box<dyn Val + 'a>>,
    pub(super) inventory_src: &'a [InventoryEntry<'a>],
    pub(super) env: &'a str,
    /// The line (and side) of the first diff entry: where a finding points by default.
    pub(super) first_line: Option<(u32, Side)>,
}

impl<'a> Shared<'a> {
    pub(super) fn new(input: &TargetInput<'a>) -> Self {
        let first_line = input.diff.iter().find_map(|e| {
            e.new_line()
                .map(|l| (l, Side::New))
                .or_else(|| e.old_line().map(|l| (l, Side::Old)))
        });
        Shared {
            old: optional_node_value(input.old, Side::Old),
            new: optional_node_value(input.new, Side::New),
            diff: diff_value(input.diff),
            target: target_value(input.target),
            change: Box::new(DocMap::built(
                vec![
                    ("author".into(), string(&input.change.author), 0),
                    ("ticket".into(), string(&input.change.ticket), 0),
                    ("title".into(), string(&input.change.title), 0),
                ],
                0,
            )),
            inventory: OnceLock::new(),
            inventory_src: input.inventory,
            env: &input.target.env,
            first_line,
        }
    }

    /// Built on first use: most rules never look at the inventory.
    fn inventory(&self) -> &(dyn Val + 'a) {
        self.inventory
            .get_or_init(|| {
                let items = self
                    .inventory_src
                    .iter()
                    .filter(|e| e.target.env == self.env)
                    .map(|e| {
                        let mut entries = target_entries(&e.target);
                        entries.push(("doc".into(), optional_node_value(e.doc, Side::Other), 0));
                        (Box::new(DocMap::built(entries, 0)) as Box<dyn Val + 'a>, 0)
                    })
                    .collect();
                Box::new(DocList::built(items, 0))
            })
            .as_ref()
    }
}

fn target_entries<'a>(t: &TargetInfo) -> Vec<(String, Box<dyn Val + 'a>, u32)> {
    vec![
        ("name".into(), string(&t.name), 0),
        ("kind".into(), string(&t.kind), 0),
        ("env".into(), string(&t.env), 0),
        ("owners".into(), string_list(&t.owners), 0),
        ("critical".into(), Box::new(CelBool::from(t.critical)), 0),
        ("format".into(), string(&t.format), 0),
    ]
}

fn target_value<'a>(t: &TargetInfo) -> Box<dyn Val + 'a> {
    Box::new(DocMap::built(target_entries(t), 0))
}

fn line_value<'a>(line: Option<u32>) -> Box<dyn Val + 'a> {
    match line {
        Some(l) => Box::new(CelInt::from(i64::from(l))),
        None => Box::new(CelNull),
    }
}

fn position_value<'a>(position: Option<usize>) -> Box<dyn Val + 'a> {
    match position.and_then(|p| i64::try_from(p).ok()) {
        Some(p) => Box::new(CelInt::from(p)),
        None => Box::new(CelNull),
    }
}

/// The `diff` variable: a list of maps `{op, path, segments, old, new, old_line, new_line,
/// old_position, new_position}` (positions are 1-based, set for `moved` entries, else null).
fn diff_value<'a>(entries: &'a [DiffEntry<'a>]) -> Box<dyn Val + 'a> {
    let items = entries
        .iter()
        .map(|e| {
            let (line, side) = match (e.new_line(), e.old_line()) {
                (Some(l), _) => (l, Side::New),
                (None, Some(l)) => (l, Side::Old),
                (None, None) => (0, Side::Other),
            };
            let map = DocMap::built_with_side(
                vec![
                    ("op".into(), string(e.op.name()), 0),
                    ("path".into(), string(e.path.to_string()), 0),
                    ("segments".into(), string_list(&e.path.segments()), 0),
                    (
                        "old".into(),
                        optional_node_value(e.old, Side::Old),
                        e.old_line().unwrap_or(0),
                    ),
                    (
                        "new".into(),
                        optional_node_value(e.new, Side::New),
                        e.new_line().unwrap_or(0),
                    ),
                    ("old_line".into(), line_value(e.old_line()), 0),
                    ("new_line".into(), line_value(e.new_line()), 0),
                    (
                        "old_position".into(),
                        position_value(e.moved.map(|m| m.from)),
                        0,
                    ),
                    (
                        "new_position".into(),
                        position_value(e.moved.map(|m| m.to)),
                        0,
                    ),
                ],
                line,
                side,
            );
            (Box::new(map) as Box<dyn Val + 'a>, line)
        })
        .collect();
    Box::new(DocList::built(items, 0))
}

/// The variables of one policy's rules: the shared values plus that policy's params.
pub(super) struct Vars<'s, 'a> {
    pub(super) shared: &'s Shared<'a>,
    pub(super) params: &'s dyn Val,
}

impl VariableResolver for Vars<'_, '_> {
    fn resolve<'b>(&'b self, variable: &str) -> Option<CowVal<'b, 'b>> {
        let s = self.shared;
        let v: &'b dyn Val = match variable {
            "old" => s.old.as_ref(),
            "new" => s.new.as_ref(),
            "diff" => s.diff.as_ref(),
            "target" => s.target.as_ref(),
            "change" => s.change.as_ref(),
            "inventory" => s.inventory(),
            "params" => self.params,
            _ => return None,
        };
        Some(CowVal::Borrowed(v))
    }
}
