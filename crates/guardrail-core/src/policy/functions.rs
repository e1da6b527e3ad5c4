//! The CEL environment every rule is compiled and run with: the standard library, the `strings`,
//! `lists` and `math` extensions, and guardrail's helper functions (documented in
//! `docs/policies.md`). Built once per policy set and shared by every evaluation.

use std::collections::HashMap;

use cel::common::types::{CelDouble, CelInt, CelList, CelNull, CelString, DYN_TYPE, Kind};
use cel::common::types::{INT_TYPE, LIST_TYPE, STRING_TYPE};
use cel::common::value::{CowVal, Val};
use cel::{Env, ExecutionError, extensions};

use super::value::{self, LineQuery, as_int, as_str};
use crate::diff::IDENTITY_KEYS;

/// Builds the shared environment. Registration of fixed overloads cannot fail at run time; a
/// test builds it once.
pub(crate) fn build_env() -> Env {
    let mut env = Env::stdlib();
    let ok = env.add_extension(extensions::strings).is_ok()
        && env.add_extension(extensions::lists).is_ok()
        && env.add_extension(extensions::math).is_ok()
        && env
            .add_overload("sum", "guardrail_sum_list", vec![LIST_TYPE], sum)
            .is_ok()
        && env
            .add_overload("line", "guardrail_line_dyn", vec![DYN_TYPE], line)
            .is_ok()
        && env
            .add_overload(
                "line",
                "guardrail_line_dyn_string",
                vec![DYN_TYPE, STRING_TYPE],
                line_of_key,
            )
            .is_ok()
        && env
            .add_overload(
                "line",
                "guardrail_line_dyn_int",
                vec![DYN_TYPE, INT_TYPE],
                line_of_index,
            )
            .is_ok()
        && env
            .add_overload(
                "diff_under",
                "guardrail_diff_under_list_string",
                vec![LIST_TYPE, STRING_TYPE],
                diff_under,
            )
            .is_ok()
        && env
            .add_overload(
                "removed_share",
                "guardrail_removed_share_dyn_dyn",
                vec![DYN_TYPE, DYN_TYPE],
                removed_share,
            )
            .is_ok()
        && env
            .add_overload(
                "identity",
                "guardrail_identity_dyn",
                vec![DYN_TYPE],
                identity,
            )
            .is_ok()
        && env
            .add_overload(
                "count_by",
                "guardrail_count_by_list_string",
                vec![LIST_TYPE, STRING_TYPE],
                count_by,
            )
            .is_ok();
    assert!(ok, "guardrail's CEL helper overloads are declared once");
    env
}

type Ret<'b, 'v> = Result<CowVal<'b, 'v>, ExecutionError>;

fn not_a_list(function: &str, v: &dyn Val) -> ExecutionError {
    ExecutionError::function_error(
        function,
        format!("expected a list, got {}", v.get_type().name()),
    )
}

/// `sum(list)`: the sum of a list of numbers; `int` when all are ints, else `double`; 0 when empty.
fn sum<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Ret<'b, 'v> {
    let list = &args[0];
    let iterable = list
        .as_iterable()
        .ok_or_else(|| not_a_list("sum", list.as_ref()))?;
    let mut items = iterable.iter();
    let mut int_total: i64 = 0;
    let mut float_total: f64 = 0.0;
    let mut is_float = false;
    let mut index = 0usize;
    while let Some(item) = items.next() {
        match item.get_type().kind() {
            Kind::Int | Kind::UInt => {
                let i = as_int(item).ok_or_else(|| {
                    ExecutionError::function_error("sum", format!("element {index} overflows int"))
                })?;
                int_total = int_total.checked_add(i).ok_or_else(|| {
                    ExecutionError::function_error("sum", "the total overflows int")
                })?;
            }
            Kind::Double => {
                is_float = true;
                float_total += item
                    .downcast_ref::<CelDouble>()
                    .map(|d| *d.inner())
                    .unwrap_or(0.0);
            }
            _ => {
                return Err(ExecutionError::function_error(
                    "sum",
                    format!(
                        "element {index} is a {}, not a number",
                        item.get_type().name()
                    ),
                ));
            }
        }
        index += 1;
    }
    if is_float {
        Ok(CowVal::owned(CelDouble::from(
            float_total + int_total as f64,
        )))
    } else {
        Ok(CowVal::owned(CelInt::from(int_total)))
    }
}

fn line_answer<'b, 'v>(v: Option<i64>) -> Ret<'b, 'v> {
    Ok(match v {
        Some(l) if l > 0 => CowVal::owned(CelInt::from(l)),
        _ => CowVal::owned(CelNull),
    })
}

/// `line(x)`: the source line of a document map or list (or of a diff entry); `null` otherwise.
fn line<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Ret<'b, 'v> {
    line_answer(value::query(args[0].as_ref(), LineQuery::Node))
}

/// `line(map, key)`: the line of a map entry (works for scalar entries too).
fn line_of_key<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Ret<'b, 'v> {
    let key = as_str(args[1].as_ref()).unwrap_or_default().to_string();
    line_answer(value::query(args[0].as_ref(), LineQuery::Key(key)))
}

/// `line(list, index)`: the line of a list element (works for scalar elements too).
fn line_of_index<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Ret<'b, 'v> {
    let index = as_int(args[1].as_ref()).unwrap_or(-1);
    line_answer(value::query(args[0].as_ref(), LineQuery::Index(index)))
}

/// True when `path` is `prefix` or lies under it (`backends` covers `backends[web].weight` and
/// `backends.x`, not `backends2`).
pub(crate) fn path_under(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim();
    if prefix.is_empty() || prefix == "." {
        return true;
    }
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('.') || rest.starts_with('['),
        None => false,
    }
}

/// `diff_under(diff, "backends")`: the diff entries whose path is that path or lies under it.
fn diff_under<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Ret<'b, 'v> {
    let list = &args[0];
    let prefix = as_str(args[1].as_ref()).unwrap_or_default();
    let iterable = list
        .as_iterable()
        .ok_or_else(|| not_a_list("diff_under", list.as_ref()))?;
    let mut items = iterable.iter();
    let mut out: Vec<Box<dyn Val + 'v>> = Vec::new();
    while let Some(entry) = items.next() {
        let path = value::field(entry, "path");
        let Some(path) = path.as_ref().and_then(|p| as_str(p.as_ref())) else {
            return Err(ExecutionError::function_error(
                "diff_under",
                "expected a list of diff entries (maps with a string `path`)",
            ));
        };
        if path_under(path, prefix) {
            out.push(entry.clone_as_boxed());
        }
    }
    Ok(CowVal::owned(CelList::from(out)))
}

/// The identity of a list item under the diff's rules (see `crate::diff::identity_of`): a map by
/// its first scalar `name`/`id`/`seq`/`address`/`line`, a scalar by its value, else none.
pub(crate) fn identity_of(v: &dyn Val) -> Option<String> {
    match v.get_type().kind() {
        Kind::Map => IDENTITY_KEYS.iter().find_map(|k| {
            let f = value::field(v, k)?;
            match f.get_type().kind() {
                Kind::String => as_str(f.as_ref()).map(str::to_string),
                Kind::Int | Kind::UInt => as_int(f.as_ref()).map(|i| i.to_string()),
                _ => None,
            }
        }),
        Kind::String => as_str(v).map(str::to_string),
        Kind::Int | Kind::UInt => as_int(v).map(|i| i.to_string()),
        Kind::Boolean => value::as_bool(v).map(|b| b.to_string()),
        Kind::Double => v.downcast_ref::<CelDouble>().map(|d| d.inner().to_string()),
        Kind::NullType => Some("null".to_string()),
        _ => None,
    }
}

/// `identity(x)`: the identity the diff gives a list item, or `null`.
fn identity<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Ret<'b, 'v> {
    Ok(match identity_of(args[0].as_ref()) {
        Some(id) => CowVal::owned(CelString::from(id)),
        None => CowVal::owned(CelNull),
    })
}

/// Counts of identities in a list (`None` when the value is null).
fn identity_counts(
    function: &str,
    v: &dyn Val,
) -> Result<Option<HashMap<String, usize>>, ExecutionError> {
    if value::is_null(v) {
        return Ok(None);
    }
    let iterable = v.as_iterable().ok_or_else(|| not_a_list(function, v))?;
    if v.get_type().kind() != Kind::List {
        return Err(not_a_list(function, v));
    }
    let mut counts = HashMap::new();
    let mut items = iterable.iter();
    while let Some(item) = items.next() {
        if let Some(id) = identity_of(item) {
            *counts.entry(id).or_insert(0) += 1;
        }
    }
    Ok(Some(counts))
}

/// `removed_share(old_list, new_list)`: the share (0..1) of the identified items of `old_list`
/// that `new_list` no longer has. `null` lists count as empty; an empty old list gives 0.
fn removed_share<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Ret<'b, 'v> {
    let old = identity_counts("removed_share", args[0].as_ref())?.unwrap_or_default();
    let new = identity_counts("removed_share", args[1].as_ref())?.unwrap_or_default();
    let total: usize = old.values().sum();
    if total == 0 {
        return Ok(CowVal::owned(CelDouble::from(0.0)));
    }
    let missing: usize = old
        .iter()
        .map(|(id, n)| n.saturating_sub(new.get(id).copied().unwrap_or(0)))
        .sum();
    Ok(CowVal::owned(CelDouble::from(
        missing as f64 / total as f64,
    )))
}

/// `count_by(list, "field")`: a map from each value of `field` (as a string) to how many
/// elements carry it; elements without the field are not counted.
fn count_by<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Ret<'b, 'v> {
    let list = &args[0];
    let key = as_str(args[1].as_ref()).unwrap_or_default();
    let iterable = list
        .as_iterable()
        .ok_or_else(|| not_a_list("count_by", list.as_ref()))?;
    let mut order: Vec<String> = Vec::new();
    let mut counts: HashMap<String, i64> = HashMap::new();
    let mut items = iterable.iter();
    while let Some(item) = items.next() {
        let Some(v) = value::field(item, key) else {
            continue;
        };
        let k = match v.get_type().kind() {
            Kind::String => as_str(v.as_ref()).unwrap_or_default().to_string(),
            _ => value::render(v.as_ref()),
        };
        let slot = counts.entry(k.clone()).or_insert(0);
        if *slot == 0 {
            order.push(k);
        }
        *slot += 1;
    }
    let entries = order
        .into_iter()
        .map(|k| {
            let n = counts.get(&k).copied().unwrap_or(0);
            (k, Box::new(CelInt::from(n)) as Box<dyn Val + 'v>, 0)
        })
        .collect();
    Ok(CowVal::owned(value::DocMap::built(entries, 0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_under_a_prefix() {
        assert!(path_under("backends", "backends"));
        assert!(path_under("backends[web].servers[web1]", "backends"));
        assert!(path_under("backends.x", "backends"));
        assert!(!path_under("backends2", "backends"));
        assert!(path_under("anything", "."));
        assert!(path_under("backends[web].servers[web1]", "backends[web]"));
    }

    #[test]
    fn env_builds() {
        let env = build_env();
        assert!(
            env.compile("sum([1, 2]) == 3 && 'A'.lowerAscii() == 'a'")
                .is_ok()
        );
    }
}
