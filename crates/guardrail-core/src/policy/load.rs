//! Loading policy files: raw YAML structs (unknown fields refused), then validation that collects
//! every problem of every file at once (`guardrail policy lint`), then the compiled [`PolicySet`].

use std::collections::HashMap;
use std::sync::Arc;

use cel::Env;
use cel::common::value::Val;
use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::expr::{self, Compile, ExprError, Expression, Template};
use super::functions::build_env;
use super::stack::with_big_stack;
use super::value::json_value;
use super::{KINDS, PolicyDiagnostic};
use crate::document::Diagnostic;
use crate::document::config_yaml::{self as yaml, POLICY_CODES, line_of};
use crate::report::{ApprovalGate, Enforcement};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    id: Spanned<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    docs: Option<Spanned<String>>,
    #[serde(default, rename = "match")]
    matcher: Option<RawMatch>,
    #[serde(default)]
    params: Option<Spanned<serde_json::Value>>,
    rules: Vec<Spanned<RawRule>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatch {
    #[serde(default)]
    kinds: Vec<Spanned<String>>,
    #[serde(default)]
    targets: Vec<Spanned<String>>,
    #[serde(default)]
    environments: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: Spanned<String>,
    #[serde(default)]
    description: Option<String>,
    enforcement: Spanned<String>,
    message: Spanned<String>,
    #[serde(default)]
    condition: Option<Spanned<String>>,
    #[serde(default)]
    for_each: Option<Spanned<String>>,
    #[serde(default)]
    when: Option<Spanned<String>>,
    #[serde(default)]
    line: Option<Spanned<String>>,
    #[serde(default)]
    approvals: Option<Spanned<RawApprovals>>,
    #[serde(default)]
    waivable: bool,
    #[serde(default)]
    existing: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApprovals {
    count: u32,
    #[serde(default)]
    groups: Vec<String>,
}

/// A loaded, compiled policy.
#[derive(Debug)]
pub struct Policy {
    pub id: String,
    pub description: Option<String>,
    pub docs: Option<String>,
    /// The file it was loaded from, as given to [`PolicySet::load`].
    pub file: String,
    /// `match.kinds`; empty matches every kind.
    pub kinds: Vec<String>,
    /// `match.targets` (globs); empty matches every target.
    pub targets: Vec<String>,
    /// `match.environments`; empty matches every environment.
    pub environments: Vec<String>,
    /// The default params, before per-policy overrides.
    pub params: serde_json::Map<String, serde_json::Value>,
    pub rules: Vec<Rule>,
    target_globs: Option<GlobSet>,
    pub(crate) params_value: Box<dyn Val + 'static>,
    /// Some rule mentions `inventory` ([`Rule::uses_inventory`]), computed once at load.
    reads_inventory: bool,
}

impl Policy {
    /// True when the policy applies to a target of this kind, name and environment.
    pub fn matches(&self, kind: &str, target: &str, env: &str) -> bool {
        (self.kinds.is_empty() || self.kinds.iter().any(|k| k == kind))
            && self
                .target_globs
                .as_ref()
                .is_none_or(|g| g.is_match(target))
            && (self.environments.is_empty() || self.environments.iter().any(|e| e == env))
    }
}

/// One rule of a policy.
#[derive(Debug)]
pub struct Rule {
    pub id: String,
    pub description: Option<String>,
    pub enforcement: Enforcement,
    /// The line of the rule in its policy file.
    pub line: u32,
    pub message: Template,
    pub condition: Expression,
    pub for_each: Option<Expression>,
    pub when: Option<Expression>,
    /// The `line:` expression: the line a finding points at.
    pub line_expr: Option<Expression>,
    /// The gate as written. Findings carry it with `target.owners` replaced by the target's
    /// owners (`eval::OWNERS_GROUP`).
    pub approvals: Option<ApprovalGate>,
    /// Set by the policy author: a waiver may cover this rule even when it is mandatory.
    pub waivable: bool,
    /// What a finding that already held before the change (and that the change does not
    /// touch) becomes: a notice (the default) or a finding like any other.
    pub existing: Existing,
}

/// `existing:` of a rule: whether the rule judges what a change introduces or the whole state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Existing {
    /// A finding that the old version also had, at a place the change does not touch, is a
    /// notice (`finding.preexisting`), not a finding: the change did not introduce it.
    #[default]
    Notice,
    /// Every finding counts, whether or not the change introduced it.
    Enforce,
}

impl Existing {
    pub const NAMES: [&'static str; 2] = ["notice", "enforce"];

    pub fn from_name(s: &str) -> Option<Existing> {
        match s {
            "notice" => Some(Existing::Notice),
            "enforce" => Some(Existing::Enforce),
            _ => None,
        }
    }
}

impl Rule {
    /// True when a waiver may cover this rule: always for advisory and approval rules; for a
    /// mandatory rule only when the policy file declares it `waivable: true`.
    /// True when any expression of the rule (or its message) mentions `inventory`, so callers
    /// can skip building the inventory when no rule reads it. Textual, so it errs on the side of
    /// building it.
    pub fn uses_inventory(&self) -> bool {
        [
            Some(&self.condition),
            self.for_each.as_ref(),
            self.when.as_ref(),
            self.line_expr.as_ref(),
        ]
        .into_iter()
        .flatten()
        .any(|e| e.source.contains("inventory"))
            || self.message.source.contains("inventory")
    }

    pub fn accepts_waivers(&self) -> bool {
        self.enforcement != Enforcement::Mandatory || self.waivable
    }
}

/// The compiled policies, with the CEL environment they run in.
pub struct PolicySet {
    pub(crate) env: Arc<Env>,
    pub(crate) policies: Vec<Policy>,
}

impl std::fmt::Debug for PolicySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicySet")
            .field("policies", &self.policies)
            .finish_non_exhaustive()
    }
}

impl PolicySet {
    /// A set with no policies.
    pub fn empty() -> Self {
        PolicySet {
            env: Arc::new(build_env()),
            policies: Vec::new(),
        }
    }

    /// Loads policy files given as `(path, text)` pairs, in path order. Returns the policies that
    /// loaded cleanly and every diagnostic of every file; a file with an error contributes no
    /// policy, so callers must refuse the set when any diagnostic is an error
    /// ([`super::has_errors`]). Every expression is compiled now ([`Compile::Eager`]).
    pub fn load(files: &[(String, String)]) -> (PolicySet, Vec<PolicyDiagnostic>) {
        Self::load_with(files, Compile::Eager)
    }

    /// [`PolicySet::load`], compiling expressions as `mode` says. [`Compile::Deferred`] is only
    /// for the embedded library: its syntax errors and unknown variables would not be
    /// diagnostics at load.
    pub fn load_with(
        files: &[(String, String)],
        mode: Compile,
    ) -> (PolicySet, Vec<PolicyDiagnostic>) {
        let env = Arc::new(build_env());
        let mut sorted: Vec<&(String, String)> = files.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let (policies, diagnostics) = with_big_stack(|| {
            let mut policies: Vec<Policy> = Vec::new();
            let mut diagnostics = Vec::new();
            let mut seen: HashMap<String, (String, u32)> = HashMap::new();
            for (path, text) in sorted {
                let mut diags = Vec::new();
                let loaded = load_file(&env, mode, path, text, &mut diags);
                let has_error = diags
                    .iter()
                    .any(|d: &Diagnostic| d.severity == crate::document::Severity::Error);
                if let Some((policy, id_line)) = loaded {
                    if let Some((first_file, first_line)) = seen.get(&policy.id) {
                        diags.push(Diagnostic::error(
                            "policy.duplicate-id",
                            id_line,
                            format!(
                                "policy id `{}` is already used by {first_file}:{first_line}",
                                policy.id
                            ),
                        ));
                    } else {
                        seen.insert(policy.id.clone(), (path.clone(), id_line));
                        if !has_error {
                            policies.push(policy);
                        }
                    }
                }
                diagnostics.extend(diags.into_iter().map(|d| PolicyDiagnostic {
                    file: path.clone(),
                    diagnostic: d,
                }));
            }
            (policies, diagnostics)
        });
        (PolicySet { env, policies }, diagnostics)
    }

    /// The policies, in load order.
    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }

    /// True when any rule mentions `inventory` (callers skip parsing other targets otherwise).
    pub fn uses_inventory(&self) -> bool {
        self.policies.iter().any(|p| p.reads_inventory)
    }

    /// True when a rule of a policy that applies to this target mentions `inventory`.
    pub fn uses_inventory_for(&self, kind: &str, target: &str, env: &str) -> bool {
        self.policies
            .iter()
            .any(|p| p.reads_inventory && p.matches(kind, target, env))
    }

    /// A policy by id.
    pub fn policy(&self, id: &str) -> Option<&Policy> {
        self.policies.iter().find(|p| p.id == id)
    }

    /// A rule by policy id and rule id.
    pub fn rule(&self, policy: &str, rule: &str) -> Option<(&Policy, &Rule)> {
        let p = self.policy(policy)?;
        p.rules.iter().find(|r| r.id == rule).map(|r| (p, r))
    }

    /// Problems with per-policy param overrides (from `guardrail.yaml` or a test case): overrides
    /// for a policy that is not loaded, or for a param the policy does not declare, each naming
    /// the nearest valid name. An override that names nothing is a typo that would silently put a
    /// limit back to its default, so callers refuse the configuration (exit 2).
    pub fn check_overrides(&self, overrides: &super::ParamOverrides) -> Vec<OverrideProblem> {
        let mut problems = Vec::new();
        for (id, params) in overrides {
            match self.policy(id) {
                None => problems.push(OverrideProblem {
                    policy: id.clone(),
                    param: None,
                    message: format!(
                        "params given for {}",
                        crate::document::names::unknown_name(
                            "policy",
                            id,
                            self.policies.iter().map(|p| p.id.as_str())
                        )
                    ),
                }),
                Some(p) => {
                    for name in params.keys() {
                        if !p.params.contains_key(name) {
                            problems.push(OverrideProblem {
                                policy: id.clone(),
                                param: Some(name.clone()),
                                message: format!(
                                    "policy `{id}`: {}",
                                    crate::document::names::unknown_name(
                                        "param",
                                        name,
                                        p.params.keys().map(String::as_str)
                                    )
                                ),
                            });
                        }
                    }
                }
            }
        }
        problems
    }

    /// Every rule as `policy/rule`, in load order (for messages naming the nearest one).
    pub fn rule_refs(&self) -> Vec<String> {
        self.policies
            .iter()
            .flat_map(|p| p.rules.iter().map(move |r| format!("{}/{}", p.id, r.id)))
            .collect()
    }

    /// The number of rules over all policies.
    pub fn rule_count(&self) -> usize {
        self.policies.iter().map(|p| p.rules.len()).sum()
    }
}

/// A param override that names no loaded policy, or a param its policy does not declare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverrideProblem {
    pub policy: String,
    /// The param, when the policy exists but the param does not.
    pub param: Option<String>,
    /// A sentence naming the policy or param and the nearest valid name.
    pub message: String,
}

/// True for ids made of letters, digits, `_`, `-` and `.`, starting with a letter or digit (they
/// appear in `<policy>/<rule>` references and metric labels).
pub(crate) fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn push_expr_errors(diags: &mut Vec<Diagnostic>, errors: Vec<ExprError>) {
    diags.extend(
        errors
            .into_iter()
            .map(|e| Diagnostic::error(e.code, e.line, e.message)),
    );
}

/// Loads one file. Returns the policy (and the line of its id) when the YAML could be read, even
/// if validation found errors (the caller still checks duplicate ids), plus diagnostics.
fn load_file(
    env: &Arc<Env>,
    mode: Compile,
    path: &str,
    text: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<(Policy, u32)> {
    let raw: RawPolicy = match yaml::parse(text, &POLICY_CODES) {
        Ok(r) => r,
        Err(d) => {
            diags.push(d);
            return None;
        }
    };
    let id_line = line_of(&raw.id);
    let id = raw.id.value.trim().to_string();
    if !valid_id(&id) {
        diags.push(Diagnostic::error(
            "policy.bad-id",
            id_line,
            format!(
                "policy id `{id}` must start with a letter or digit and contain only letters, digits, `_`, `-` and `.`"
            ),
        ));
    }
    let docs = load_docs(raw.docs.as_ref(), diags);
    let matcher = load_matcher(raw.matcher.unwrap_or_default(), diags);
    let params = load_params(raw.params, diags);
    let params_value = json_value(&serde_json::Value::Object(params.clone()));

    if raw.rules.is_empty() {
        diags.push(Diagnostic::warning(
            "policy.no-rules",
            id_line,
            format!("policy `{id}` has no rules"),
        ));
    }
    let rules = load_rules(env, mode, raw.rules, diags);

    let reads_inventory = rules.iter().any(Rule::uses_inventory);
    Some((
        Policy {
            id,
            description: raw.description,
            docs,
            file: path.to_string(),
            kinds: matcher.kinds,
            targets: matcher.targets,
            environments: matcher.environments,
            params,
            rules,
            target_globs: matcher.target_globs,
            params_value,
            reads_inventory,
        },
        id_line,
    ))
}

/// The policy's `docs` link; one that is no http(s) URL is kept with a warning.
fn load_docs(raw: Option<&Spanned<String>>, diags: &mut Vec<Diagnostic>) -> Option<String> {
    let docs = raw.map(|d| d.value.trim().to_string());
    if let (Some(d), Some(span)) = (&docs, raw)
        && !(d.starts_with("https://") || d.starts_with("http://"))
    {
        diags.push(Diagnostic::warning(
            "policy.bad-docs",
            line_of(span),
            format!("docs should be an http(s) URL, got `{d}`"),
        ));
    }
    docs
}

/// What a policy's `match` selects, checked: unknown kinds and invalid target globs are errors
/// (and left out).
struct Matcher {
    kinds: Vec<String>,
    targets: Vec<String>,
    target_globs: Option<GlobSet>,
    environments: Vec<String>,
}

fn load_matcher(matcher: RawMatch, diags: &mut Vec<Diagnostic>) -> Matcher {
    let mut kinds = Vec::new();
    for k in &matcher.kinds {
        let kind = k.value.trim();
        if KINDS.contains(&kind) {
            kinds.push(kind.to_string());
        } else {
            diags.push(Diagnostic::error(
                "policy.bad-kind",
                line_of(k),
                format!("unknown kind `{kind}`; the kinds are {}", KINDS.join(", ")),
            ));
        }
    }
    let mut targets = Vec::new();
    let mut builder = GlobSetBuilder::new();
    for t in &matcher.targets {
        match Glob::new(t.value.trim()) {
            Ok(g) => {
                builder.add(g);
                targets.push(t.value.trim().to_string());
            }
            Err(e) => diags.push(Diagnostic::error(
                "policy.bad-glob",
                line_of(t),
                format!("target pattern `{}` is not a valid glob: {e}", t.value),
            )),
        }
    }
    let target_globs = if targets.is_empty() {
        None
    } else {
        builder.build().ok()
    };
    let environments = matcher
        .environments
        .iter()
        .map(|e| e.value.trim().to_string())
        .collect();
    Matcher {
        kinds,
        targets,
        target_globs,
        environments,
    }
}

/// The policy's default `params`: a map (none or null is an empty one).
fn load_params(
    raw: Option<Spanned<serde_json::Value>>,
    diags: &mut Vec<Diagnostic>,
) -> serde_json::Map<String, serde_json::Value> {
    match raw {
        None => serde_json::Map::new(),
        Some(p) => match p.value {
            serde_json::Value::Object(ref m) => m.clone(),
            serde_json::Value::Null => serde_json::Map::new(),
            ref other => {
                diags.push(Diagnostic::error(
                    "policy.schema",
                    line_of(&p),
                    format!(
                        "params must be a map of names to values, got {}",
                        json_kind(other)
                    ),
                ));
                serde_json::Map::new()
            }
        },
    }
}

/// The policy's rules; a rule id used twice is an error.
fn load_rules(
    env: &Arc<Env>,
    mode: Compile,
    raw: Vec<Spanned<RawRule>>,
    diags: &mut Vec<Diagnostic>,
) -> Vec<Rule> {
    let mut rules = Vec::new();
    let mut rule_lines: HashMap<String, u32> = HashMap::new();
    for raw_rule in raw {
        let rule_line = line_of(&raw_rule);
        let rule_id = raw_rule.value.id.value.trim().to_string();
        if let Some(first) = rule_lines.get(&rule_id) {
            diags.push(Diagnostic::error(
                "policy.duplicate-rule",
                rule_line,
                format!("rule id `{rule_id}` is already used in this policy at line {first}"),
            ));
        } else {
            rule_lines.insert(rule_id, rule_line);
        }
        if let Some(rule) = load_rule(env, mode, raw_rule.value, rule_line, diags) {
            rules.push(rule);
        }
    }
    rules
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a bool",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "a map",
    }
}

fn load_rule(
    env: &Arc<Env>,
    mode: Compile,
    raw: RawRule,
    rule_line: u32,
    diags: &mut Vec<Diagnostic>,
) -> Option<Rule> {
    let id = raw.id.value.trim().to_string();
    if !valid_id(&id) {
        diags.push(Diagnostic::error(
            "policy.bad-id",
            line_of(&raw.id),
            format!(
                "rule id `{id}` must start with a letter or digit and contain only letters, digits, `_`, `-` and `.`"
            ),
        ));
    }
    let enforcement = Enforcement::from_name(raw.enforcement.value.trim());
    if enforcement.is_none() {
        diags.push(Diagnostic::error(
            "policy.bad-enforcement",
            line_of(&raw.enforcement),
            format!(
                "enforcement `{}` is not one of advisory, approval, mandatory",
                raw.enforcement.value.trim()
            ),
        ));
    }
    let has_item = raw.for_each.is_some();
    let mut compile = |src: &Option<Spanned<String>>, what: &'static str, item: bool| {
        let s = src.as_ref()?;
        match expr::compile(env, mode, &s.value, line_of(s), what, item) {
            Ok(e) => Some(e),
            Err(errs) => {
                push_expr_errors(diags, errs);
                None
            }
        }
    };
    let condition = compile(&raw.condition, "condition", has_item);
    let for_each = compile(&raw.for_each, "for_each", false);
    let when = compile(&raw.when, "when", false);
    let line_expr = compile(&raw.line, "line", has_item);
    if raw.condition.is_none() {
        diags.push(Diagnostic::error(
            "policy.missing-field",
            rule_line,
            format!("rule `{id}` has no `condition` (the CEL expression that must hold for the rule to pass)"),
        ));
    }
    let message = load_message(env, mode, &raw.message, has_item, &id, diags);
    let approvals = load_approvals(&raw, enforcement, &id, diags);
    let existing = load_existing(raw.existing.as_ref(), &id, diags);
    if raw.waivable && enforcement.is_some_and(|e| e != Enforcement::Mandatory) {
        diags.push(Diagnostic::warning(
            "policy.waivable-ignored",
            rule_line,
            format!(
                "rule `{id}` is `{}`: waivers may cover it anyway, `waivable` only matters for mandatory rules",
                raw.enforcement.value.trim()
            ),
        ));
    }
    Some(Rule {
        id,
        description: raw.description,
        enforcement: enforcement?,
        line: rule_line,
        message: message?,
        condition: condition?,
        for_each,
        when,
        line_expr,
        approvals,
        waivable: raw.waivable,
        existing: existing?,
    })
}

/// The rule's message template; an empty message is an error.
fn load_message(
    env: &Arc<Env>,
    mode: Compile,
    raw: &Spanned<String>,
    has_item: bool,
    id: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<Template> {
    let message = match expr::compile_template(env, mode, &raw.value, line_of(raw), has_item) {
        Ok(t) => Some(t),
        Err(errs) => {
            push_expr_errors(diags, errs);
            None
        }
    };
    if raw.value.trim().is_empty() {
        diags.push(Diagnostic::error(
            "policy.schema",
            line_of(raw),
            format!("rule `{id}` has an empty message"),
        ));
    }
    message
}

/// The rule's approval gate; a count of 0 is an error, and a gate on a rule that is not an
/// `approval` rule is kept with a warning (it gates nothing).
fn load_approvals(
    raw: &RawRule,
    enforcement: Option<Enforcement>,
    id: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<ApprovalGate> {
    let approvals = raw.approvals.as_ref().map(|a| ApprovalGate {
        count: a.value.count,
        groups: a.value.groups.clone(),
    });
    if let Some(a) = &raw.approvals {
        if a.value.count == 0 {
            diags.push(Diagnostic::error(
                "policy.schema",
                line_of(a),
                "approvals.count must be at least 1",
            ));
        }
        if enforcement.is_some_and(|e| e != Enforcement::Approval) {
            diags.push(Diagnostic::warning(
                "policy.approvals-ignored",
                line_of(a),
                format!(
                    "rule `{id}` declares approvals but its enforcement is `{}`; approvals only gate `approval` rules",
                    raw.enforcement.value.trim()
                ),
            ));
        }
    }
    approvals
}

/// The rule's `existing` (the default when it gives none); `None` for an unknown value.
fn load_existing(
    raw: Option<&Spanned<String>>,
    id: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<Existing> {
    match raw {
        None => Some(Existing::default()),
        Some(e) => {
            let found = Existing::from_name(e.value.trim());
            if found.is_none() {
                diags.push(Diagnostic::error(
                    "policy.schema",
                    line_of(e),
                    format!(
                        "rule `{id}`: existing: {}",
                        crate::document::names::unknown_name(
                            "value",
                            e.value.trim(),
                            Existing::NAMES
                        )
                    ),
                ));
            }
            found
        }
    }
}
