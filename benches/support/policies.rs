//! A 50-rule policy set for the `check` benchmark, in the shapes rule authors are told to use
//! (docs/policies.md, performance guidance): rules scoped to the diff, a few that look up the
//! changed object in the new document, and a few whole-document guards with `when`.
#![allow(dead_code)]

/// 50 rules for `kind` over the list `section` of the tree (`interfaces`, `backends`).
pub fn policy(id: &str, kind: &str, section: &str) -> String {
    let mut s = format!(
        "id: {id}\ndescription: benchmark policy with 50 rules\nmatch:\n  kinds: [{kind}]\nrules:\n"
    );
    for i in 0..35 {
        s.push_str(&format!(
            "  - id: scoped-{i}\n    enforcement: advisory\n    for_each: diff_under(diff, \"{section}\").filter(e, e.op == \"changed\")\n    condition: item.new == null || string(item.new) != \"forbidden-{i}\"\n    message: \"{{{{ item.path }}}} may not be forbidden-{i}\"\n"
        ));
    }
    for i in 0..10 {
        s.push_str(&format!(
            "  - id: lookup-{i}\n    enforcement: approval\n    for_each: diff_under(diff, \"{section}\").filter(e, e.segments.size() >= 2)\n    condition: new == null || new.{section}.exists(x, x.name == item.segments[1]) || item.op == \"removed\"\n    message: \"{{{{ item.segments[1] }}}} changed but is missing from the new config ({i})\"\n"
        ));
    }
    for i in 0..5 {
        s.push_str(&format!(
            "  - id: guard-{i}\n    enforcement: mandatory\n    when: diff.exists(e, e.path == \".\")\n    condition: new != null && size(new.{section}) > 0\n    message: \"the config lost its {section} ({i})\"\n"
        ));
    }
    s
}
