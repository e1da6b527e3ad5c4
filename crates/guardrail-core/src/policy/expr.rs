//! Compiling the CEL expressions of a policy file, with the load-time checks the interpreter does
//! not make: a size and nesting cap (long chains overflow the parser's and interpreter's stack),
//! syntax errors mapped to the file line, and unknown top-level variables (the interpreter has no
//! type checker, so a misspelled variable would only fail, closed, at run time).

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use cel::common::ast::{EntryExpr, Expr, IdedExpr};
use cel::{Env, Program};

/// The longest expression source accepted, in characters.
pub const MAX_EXPR_CHARS: usize = 4096;
/// The deepest expression tree accepted (a chain `a + b + c ...` is as deep as it is long).
pub const MAX_EXPR_DEPTH: usize = 200;

/// Identifiers that are namespaces of functions or type names, not variables.
const NON_VARIABLES: &[&str] = &[
    "math",
    "lists",
    "strings",
    "optional",
    "base64",
    "google",
    "bool",
    "bytes",
    "double",
    "int",
    "uint",
    "string",
    "list",
    "map",
    "null_type",
    "type",
    "dyn",
    "timestamp",
    "duration",
];

/// The variables every expression may use.
pub const VARIABLES: [&str; 7] = [
    "old",
    "new",
    "diff",
    "target",
    "change",
    "inventory",
    "params",
];

/// An expression with its source and where it was written: compiled at load, or (for the
/// embedded policy library, see [`Compile::Deferred`]) on first use.
#[derive(Debug)]
pub struct Expression {
    pub source: String,
    /// 1-based line of the expression (its first line) in the policy file.
    pub line: u32,
    program: Compiled,
}

enum Compiled {
    Ready(Program),
    /// Not compiled yet: compiled, with every load-time check, the first time it is run.
    Deferred {
        env: Arc<Env>,
        what: &'static str,
        item: bool,
        program: OnceLock<Result<Program, String>>,
    },
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Compiled::Ready(_) => f.write_str("Ready"),
            Compiled::Deferred { program, .. } => match program.get() {
                None => f.write_str("Deferred"),
                Some(Ok(_)) => f.write_str("Deferred(compiled)"),
                Some(Err(e)) => write!(f, "Deferred(error: {e})"),
            },
        }
    }
}

impl Expression {
    /// The compiled program. A deferred expression is compiled here, once; when it does not
    /// compile the error says why, with the file line (the caller fails closed).
    pub(crate) fn program(&self) -> Result<&Program, String> {
        match &self.program {
            Compiled::Ready(p) => Ok(p),
            Compiled::Deferred {
                env,
                what,
                item,
                program,
            } => program
                .get_or_init(|| {
                    parse_checked(env, &self.source, self.line, what, *item).map_err(|errors| {
                        errors
                            .iter()
                            .map(|e| format!("line {}: {}", e.line, e.message))
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
                })
                .as_ref()
                .map_err(|e| format!("it does not compile ({e})")),
        }
    }
}

/// When expressions are compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compile {
    /// At load, so that every syntax error and unknown variable is a load-time diagnostic with
    /// its file and line. Used for every policy file read from disk.
    Eager,
    /// On first use. Used only for the policy library embedded in the binary, which cannot change
    /// after the build and is compiled whole by its own tests and by `guardrail policy test
    /// policies/` in CI; a check of one switch then compiles only the rules it runs, not the
    /// load-balancer pack's. The cheap checks (length, empty) still run at load; should a
    /// deferred expression not compile, the rule fails closed and says why.
    Deferred,
}

/// Why an expression was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    pub code: &'static str,
    /// 1-based line in the policy file.
    pub line: u32,
    pub message: String,
}

/// Compiles `source`, written at `line` of the file, as the expression called `what` (for
/// messages), now or on first use as `mode` says. `item` says whether the `item` variable is
/// bound.
pub fn compile(
    env: &Arc<Env>,
    mode: Compile,
    source: &str,
    line: u32,
    what: &'static str,
    item: bool,
) -> Result<Expression, Vec<ExprError>> {
    check_size(source, line, what)?;
    let program = match mode {
        Compile::Eager => Compiled::Ready(parse_checked(env, source, line, what, item)?),
        Compile::Deferred => Compiled::Deferred {
            env: Arc::clone(env),
            what,
            item,
            program: OnceLock::new(),
        },
    };
    Ok(Expression {
        source: source.to_string(),
        line,
        program,
    })
}

/// The checks that need no parsing: length and emptiness.
fn check_size(source: &str, line: u32, what: &str) -> Result<(), Vec<ExprError>> {
    let chars = source.chars().count();
    if chars > MAX_EXPR_CHARS {
        return Err(vec![ExprError {
            code: "policy.expr-too-long",
            line,
            message: format!(
                "{what} is {chars} characters long; the limit is {MAX_EXPR_CHARS}: split it into several rules or helper lists"
            ),
        }]);
    }
    if source.trim().is_empty() {
        return Err(vec![ExprError {
            code: "policy.cel-syntax",
            line,
            message: format!("{what} is empty"),
        }]);
    }
    Ok(())
}

/// Parses `source` and makes the checks the interpreter does not: nesting depth and unknown
/// variables.
fn parse_checked(
    env: &Env,
    source: &str,
    line: u32,
    what: &str,
    item: bool,
) -> Result<Program, Vec<ExprError>> {
    let program = match env.compile(source) {
        Ok(p) => p,
        Err(errors) => {
            return Err(errors
                .errors
                .iter()
                .map(|e| {
                    let rel = u32::try_from(e.pos.0.max(1) - 1).unwrap_or(0);
                    ExprError {
                        code: "policy.cel-syntax",
                        line: line.saturating_add(rel),
                        message: format!(
                            "CEL syntax error in {what} (column {}): {}",
                            e.pos.1.max(1),
                            shorten(&e.msg)
                        ),
                    }
                })
                .collect());
        }
    };
    let mut walk = Walk::default();
    walk.visit(program.expression(), &mut Vec::new(), 1);
    let mut errors = Vec::new();
    if walk.max_depth > MAX_EXPR_DEPTH {
        errors.push(ExprError {
            code: "policy.expr-too-deep",
            line,
            message: format!(
                "{what} nests {} levels deep; the limit is {MAX_EXPR_DEPTH}: split long chains into several rules or use a list with all()/exists()",
                walk.max_depth
            ),
        });
    }
    let mut unknown: Vec<&String> = walk
        .free
        .iter()
        .filter(|v| {
            let known = VARIABLES.contains(&v.as_str())
                || NON_VARIABLES.contains(&v.as_str())
                || (item && v.as_str() == "item");
            !known
        })
        .collect();
    unknown.sort();
    for name in unknown {
        let hint = if name == "item" {
            " (`item` is only bound in rules with `for_each`, in their condition, message and line)"
                .to_string()
        } else {
            format!(
                "; the variables are {}{}",
                VARIABLES.join(", "),
                if item { ", item" } else { "" }
            )
        };
        errors.push(ExprError {
            code: "policy.unknown-variable",
            line,
            message: format!("{what} uses unknown variable `{name}`{hint}"),
        });
    }
    if errors.is_empty() {
        Ok(program)
    } else {
        Err(errors)
    }
}

/// The parser's messages list every expected token; keep the first part.
fn shorten(msg: &str) -> String {
    match msg.find(" expecting {") {
        Some(i) => format!("{} (an operand or closing bracket is missing?)", &msg[..i]),
        None => msg.to_string(),
    }
}

/// Collects the free identifiers of an expression and its depth.
#[derive(Default)]
struct Walk {
    free: HashSet<String>,
    max_depth: usize,
}

impl Walk {
    fn visit(&mut self, e: &IdedExpr, bound: &mut Vec<String>, depth: usize) {
        self.max_depth = self.max_depth.max(depth);
        // The nesting check above refuses deeper trees; stop walking well before the stack matters.
        if depth > MAX_EXPR_DEPTH + 1 {
            return;
        }
        match &e.expr {
            Expr::Unspecified | Expr::Literal(_) => {}
            Expr::Ident(name) => {
                if !name.starts_with('@') && !bound.iter().any(|b| b == name) {
                    self.free.insert(name.clone());
                }
            }
            Expr::Call(call) => {
                if let Some(t) = &call.target {
                    self.visit(t, bound, depth + 1);
                }
                for a in &call.args {
                    self.visit(a, bound, depth + 1);
                }
            }
            Expr::Select(sel) => self.visit(&sel.operand, bound, depth + 1),
            Expr::List(list) => {
                for el in &list.elements {
                    self.visit(el, bound, depth + 1);
                }
            }
            Expr::Map(map) => {
                for entry in &map.entries {
                    self.visit_entry(&entry.expr, bound, depth + 1);
                }
            }
            Expr::Struct(s) => {
                for entry in &s.entries {
                    self.visit_entry(&entry.expr, bound, depth + 1);
                }
            }
            Expr::Comprehension(c) => {
                self.visit(&c.iter_range, bound, depth + 1);
                self.visit(&c.accu_init, bound, depth + 1);
                let before = bound.len();
                bound.push(c.iter_var.clone());
                if let Some(v2) = &c.iter_var2 {
                    bound.push(v2.clone());
                }
                bound.push(c.accu_var.clone());
                self.visit(&c.loop_cond, bound, depth + 1);
                self.visit(&c.loop_step, bound, depth + 1);
                self.visit(&c.result, bound, depth + 1);
                bound.truncate(before);
            }
        }
    }

    fn visit_entry(&mut self, e: &EntryExpr, bound: &mut Vec<String>, depth: usize) {
        match e {
            EntryExpr::StructField(f) => self.visit(&f.value, bound, depth),
            EntryExpr::MapEntry(m) => {
                self.visit(&m.key, bound, depth);
                self.visit(&m.value, bound, depth);
            }
        }
    }
}

/// A message with `{{ expr }}` placeholders, compiled at load.
#[derive(Debug)]
pub struct Template {
    pub source: String,
    pub(crate) parts: Vec<Part>,
}

#[derive(Debug)]
pub(crate) enum Part {
    Text(String),
    Expr(Expression),
}

/// Compiles a message template written at `line`. Placeholders are `{{ expr }}`; the expression
/// cannot contain `}}`.
pub fn compile_template(
    env: &Arc<Env>,
    mode: Compile,
    source: &str,
    line: u32,
    item: bool,
) -> Result<Template, Vec<ExprError>> {
    let mut parts = Vec::new();
    let mut errors = Vec::new();
    let mut rest = source;
    let mut consumed = 0usize;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            parts.push(Part::Text(rest[..open].to_string()));
        }
        let at_line = line.saturating_add(newlines(&source[..consumed + open]));
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            errors.push(ExprError {
                code: "policy.bad-placeholder",
                line: at_line,
                message: "message has `{{` without a closing `}}`".to_string(),
            });
            rest = "";
            break;
        };
        let expr_src = after[..close].trim();
        match compile(env, mode, expr_src, at_line, "message placeholder", item) {
            Ok(e) => parts.push(Part::Expr(e)),
            Err(errs) => errors.extend(errs.into_iter().map(|mut e| {
                if e.code == "policy.cel-syntax" {
                    e.code = "policy.bad-placeholder";
                }
                e
            })),
        }
        let advance = open + 2 + close + 2;
        consumed += advance;
        rest = &rest[advance..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_string()));
    }
    if errors.is_empty() {
        Ok(Template {
            source: source.to_string(),
            parts,
        })
    } else {
        Err(errors)
    }
}

fn newlines(s: &str) -> u32 {
    u32::try_from(s.bytes().filter(|b| *b == b'\n').count()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::functions::build_env;

    #[test]
    fn loop_variables_are_not_unknown() {
        let env = Arc::new(build_env());
        assert!(
            compile(
                &env,
                Compile::Eager,
                "new.backends.all(b, b.servers.exists(s, !s.disabled))",
                1,
                "condition",
                false
            )
            .is_ok()
        );
        assert!(
            compile(
                &env,
                Compile::Eager,
                "math.greatest([1, 2]) == 2 && type(1) == int",
                1,
                "condition",
                false
            )
            .is_ok()
        );
        let err = compile(&env, Compile::Eager, "neww.x == 1", 7, "condition", false).unwrap_err();
        assert_eq!(err[0].code, "policy.unknown-variable");
        assert_eq!(err[0].line, 7);
        let err = compile(&env, Compile::Eager, "item.x", 3, "condition", false).unwrap_err();
        assert!(err[0].message.contains("for_each"), "{}", err[0].message);
    }

    #[test]
    fn syntax_errors_point_at_the_file_line() {
        let env = Arc::new(build_env());
        let err = compile(
            &env,
            Compile::Eager,
            "new.x ==\n  && true",
            10,
            "condition",
            false,
        )
        .unwrap_err();
        assert_eq!(err[0].code, "policy.cel-syntax");
        assert_eq!(err[0].line, 11);
    }

    #[test]
    fn long_chains_are_refused() {
        let env = Arc::new(build_env());
        let chain = vec!["1"; 300].join(" + ");
        let err = compile(&env, Compile::Eager, &chain, 1, "condition", false).unwrap_err();
        assert_eq!(err[0].code, "policy.expr-too-deep");
        let huge = vec!["1"; 3000].join(" + ");
        let err = compile(&env, Compile::Eager, &huge, 1, "condition", false).unwrap_err();
        assert_eq!(err[0].code, "policy.expr-too-long");
    }

    #[test]
    fn templates_split_text_and_placeholders() {
        let env = Arc::new(build_env());
        let t = compile_template(
            &env,
            Compile::Eager,
            "server {{ item.name }} has weight {{item.weight}}.",
            1,
            true,
        )
        .unwrap();
        assert_eq!(t.parts.len(), 5);
        let err = compile_template(&env, Compile::Eager, "a\n{{ item.( }}", 4, true).unwrap_err();
        assert_eq!(err[0].code, "policy.bad-placeholder");
        assert_eq!(err[0].line, 5);
        let err = compile_template(&env, Compile::Eager, "x {{ new.a", 4, false).unwrap_err();
        assert_eq!(err[0].code, "policy.bad-placeholder");
    }

    #[test]
    fn deferred_expressions_compile_on_first_use_and_fail_closed() {
        let env = Arc::new(build_env());
        // Size checks still run at load.
        let huge = vec!["1"; 3000].join(" + ");
        let err = compile(&env, Compile::Deferred, &huge, 1, "condition", false).unwrap_err();
        assert_eq!(err[0].code, "policy.expr-too-long");
        let ok = compile(&env, Compile::Deferred, "new.x == 1", 3, "condition", false).unwrap();
        assert_eq!(format!("{:?}", ok.program), "Deferred");
        assert!(ok.program().is_ok());
        assert_eq!(format!("{:?}", ok.program), "Deferred(compiled)");
        // Errors the eager mode reports at load come out on first use, with the line.
        let bad = compile(
            &env,
            Compile::Deferred,
            "neww.x == 1",
            7,
            "condition",
            false,
        )
        .unwrap();
        let msg = bad.program().unwrap_err();
        assert!(msg.starts_with("it does not compile (line 7:"), "{msg}");
        assert!(msg.contains("unknown variable `neww`"), "{msg}");
        let syntax = compile(
            &env,
            Compile::Deferred,
            "new.x ==\n  && true",
            10,
            "when",
            false,
        )
        .unwrap();
        let msg = syntax.program().unwrap_err();
        assert!(msg.starts_with("it does not compile (line 11:"), "{msg}");
    }
}
