//! nginx parser: blocks and directives into the documented tree (`docs/formats.md`,
//! section nginx).
//!
//! One pass over the bytes with nginx's own word rules: whitespace separates words, `;` ends a
//! directive, `{` opens a block and `}` closes it, `#` at the start of a word starts a comment,
//! `"..."` and `'...'` quote (with backslash escapes) and may span lines. Blocks are kept on an
//! explicit stack, never by recursion, and nesting deeper than [`MAX_DEPTH`] is an error.
//!
//! `http` and `stream` get views for routing: `upstreams` with their `servers` (address,
//! weight, down, backup...), virtual `servers` with `listen`, `server_names` and `locations`
//! (with `proxy_pass`, listed in nginx's lookup order), `default_for` (the listen addresses a
//! server is the default for), and the ordered `rewrites` (`rewrite`, `return`, `set`, `break`,
//! `if`) and `access` (`allow`, `deny`) lists. Every other directive is kept, whitespace
//! normalised and comments stripped, in the `directives` list of its block; other blocks
//! (`map`, `geo`, `types`, ...) are kept generically. `include` is kept as a directive and not
//! followed. A site file (top-level `server` / `upstream` blocks, no `http`) is read as an
//! implicit `http` block.

mod text;
mod tree;

use std::ops::Range;

use crate::document::{Diagnostic, Document, Format};
use crate::formats::MAX_DEPTH;

use text::{Tok, find_secrets, join};
use tree::{Frame, Kind};

/// Parses nginx configuration text into a document. Never panics.
pub fn parse(text: &str) -> Document {
    if let Some((vendor, line)) = crate::formats::foreign::looks_like(text) {
        let mut doc = Document::empty(Format::Nginx);
        doc.diagnostics.push(Diagnostic::error(
            "nginx.not-nginx",
            line,
            crate::formats::foreign::message(vendor, "nginx configs"),
        ));
        return doc;
    }
    let mut p = Parser::new(text);
    p.run();
    p.finish()
}

/// Directive names that, found as the first word of a line in the middle of an unfinished
/// directive, almost certainly mean the previous line lacks its `;`. Only names that are not
/// also common parameter values are listed (`ssl`, `http2` and `proxy_protocol` are not).
const STATEMENT_STARTERS: &[&str] = &[
    "access_log",
    "add_header",
    "alias",
    "allow",
    "auth_basic",
    "auth_basic_user_file",
    "client_max_body_size",
    "default_type",
    "deny",
    "error_log",
    "error_page",
    "expires",
    "fastcgi_param",
    "fastcgi_pass",
    "grpc_pass",
    "include",
    "index",
    "keepalive_timeout",
    "limit_req",
    "listen",
    "location",
    "proxy_buffering",
    "proxy_connect_timeout",
    "proxy_http_version",
    "proxy_pass",
    "proxy_read_timeout",
    "proxy_redirect",
    "proxy_send_timeout",
    "proxy_set_header",
    "return",
    "rewrite",
    "root",
    "server",
    "server_name",
    "ssl_certificate",
    "ssl_certificate_key",
    "ssl_ciphers",
    "ssl_protocols",
    "try_files",
    "upstream",
    "uwsgi_pass",
];

struct Parser<'a> {
    src: &'a str,
    /// Open blocks; `stack[0]` is the root and is never popped before the end.
    stack: Vec<Frame>,
    toks: Vec<Tok>,
    secrets: Vec<Range<usize>>,
    /// Levels of blocks beyond [`MAX_DEPTH`] being skipped.
    skipped: usize,
    diagnostics: Vec<Diagnostic>,
    secret_spans: Vec<Range<usize>>,
    /// Source lines spanned by directives and block headers in structural blocks, and by those
    /// among them that do not start with an nginx-like name (for `nginx.not-nginx`).
    statement_lines: usize,
    odd_lines: usize,
    odd_statements: usize,
    first_odd: u32,
    /// The first block whose closing `}` is indented differently from its header: the likely
    /// place of a missing `}` when braces do not balance.
    misindented: Option<(u32, u32)>,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Self {
        Parser {
            src,
            stack: vec![Frame::new(Kind::Root, 1)],
            toks: Vec::new(),
            secrets: Vec::new(),
            skipped: 0,
            diagnostics: Vec::new(),
            secret_spans: Vec::new(),
            statement_lines: 0,
            odd_lines: 0,
            odd_statements: 0,
            first_odd: 0,
            misindented: None,
        }
    }

    fn run(&mut self) {
        let b = self.src.as_bytes();
        let n = b.len();
        let mut i = 0;
        let mut line = 1u32;
        while i < n {
            match b[i] {
                b'\n' => {
                    line += 1;
                    i += 1;
                }
                c if c.is_ascii_whitespace() => i += 1,
                b'#' => {
                    while i < n && b[i] != b'\n' {
                        i += 1;
                    }
                }
                b';' => {
                    self.end_directive(line);
                    i += 1;
                }
                b'{' => {
                    self.open_block(line, i);
                    i += 1;
                }
                b'}' => {
                    self.close_block(line, i);
                    i += 1;
                }
                q @ (b'"' | b'\'') => {
                    let start = i;
                    let start_line = line;
                    i += 1;
                    while i < n && b[i] != q {
                        if b[i] == b'\\' && i + 1 < n {
                            i += 1;
                        }
                        if b[i] == b'\n' {
                            line += 1;
                        }
                        i += 1;
                    }
                    if i >= n {
                        self.diagnostics.push(Diagnostic::error(
                            "nginx.unterminated-quote",
                            start_line,
                            "this quote is never closed; the rest of the file was read as one word",
                        ));
                    } else {
                        i += 1;
                    }
                    self.push_tok(Tok {
                        start,
                        end: i.min(n),
                        line: start_line,
                    });
                }
                _ => {
                    let start = i;
                    while i < n {
                        match b[i] {
                            b'\\' if i + 1 < n && b[i + 1] != b'\n' => i += 2,
                            b'{' if i > start && b[i - 1] == b'$' => i += 1,
                            b';' | b'{' => break,
                            c if c.is_ascii_whitespace() => break,
                            _ => i += 1,
                        }
                    }
                    // Words stop on ASCII bytes or at the end, so `i` is a char boundary.
                    let end = i.min(n);
                    self.push_tok(Tok { start, end, line });
                    i = end;
                }
            }
        }
        let last_line = line;
        if !self.toks.is_empty() {
            let first = self.toks[0];
            self.diagnostics.push(Diagnostic::error(
                "nginx.missing-semicolon",
                first.line,
                format!(
                    "`{}` is not ended by `;` before the end of the file",
                    short(&join(self.src, &self.toks))
                ),
            ));
            self.end_directive(last_line);
        }
        if self.stack.len() > 1 || self.skipped > 0 {
            let open = self.stack.len() - 1 + self.skipped;
            let innermost = self.stack.last().map_or(1, |f| f.line);
            let mut msg = format!(
                "{open} block{} not closed by the end of the file; the innermost open block starts here",
                if open == 1 { " is" } else { "s are" }
            );
            if let Some((open, close)) = self.misindented {
                msg.push_str(&format!(
                    "; the block opened on line {open} is probably the one missing its `}}` (the `}}` on line {close} that closed it is indented differently)"
                ));
            }
            self.diagnostics
                .push(Diagnostic::error("nginx.unbalanced-braces", innermost, msg));
            while self.stack.len() > 1 {
                self.pop();
            }
        }
    }

    fn push_tok(&mut self, tok: Tok) {
        if let Some(prev) = self.toks.last()
            && tok.line > prev.line
            && !tok.quoted(self.src)
            && STATEMENT_STARTERS.contains(&tok.text(self.src))
        {
            let prev_line = prev.line;
            self.diagnostics.push(Diagnostic::error(
                "nginx.missing-semicolon",
                prev_line,
                format!(
                    "`{}` is not ended by `;` (the next line starts a new directive)",
                    short(&join(self.src, &self.toks))
                ),
            ));
            self.end_directive(prev_line);
        }
        self.toks.push(tok);
    }

    /// Counts a statement (`toks` non-empty) for the not-nginx check, when it sits where
    /// directive names live (not in `map`, `types` and other generic blocks, whose entries are
    /// data).
    fn count_statement(&mut self, toks: &[Tok]) {
        let top = self.stack.last().map(|f| &f.kind);
        if matches!(top, Some(Kind::Generic)) {
            return;
        }
        let name = toks[0];
        let spanned = (toks[toks.len() - 1].line - name.line) as usize + 1;
        self.statement_lines += spanned;
        let w = name.text(self.src).as_bytes();
        let nginx_like = !w.is_empty()
            && w[0].is_ascii_alphabetic()
            && w.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_');
        if !nginx_like {
            if self.odd_statements == 0 {
                self.first_odd = name.line;
            }
            self.odd_statements += 1;
            self.odd_lines += spanned;
        }
    }

    fn end_directive(&mut self, line: u32) {
        let toks = std::mem::take(&mut self.toks);
        if self.skipped > 0 {
            self.toks = toks;
            self.toks.clear();
            return;
        }
        if toks.is_empty() {
            self.diagnostics.push(Diagnostic::error(
                "nginx.syntax",
                line,
                "unexpected `;` with no directive before it",
            ));
            self.toks = toks;
            return;
        }
        self.count_statement(&toks);
        let mut secrets = std::mem::take(&mut self.secrets);
        find_secrets(self.src, &toks, &mut secrets);
        self.secret_spans.extend(secrets.iter().cloned());
        let src = self.src;
        let top = self.stack.last_mut().expect("root frame");
        let warnings = top.directive(src, &toks, &secrets);
        self.diagnostics.extend(warnings);
        self.secrets = secrets;
        self.toks = toks;
        self.toks.clear();
    }

    fn open_block(&mut self, line: u32, pos: usize) {
        let toks = std::mem::take(&mut self.toks);
        if self.skipped > 0 {
            self.skipped += 1;
            self.toks = toks;
            self.toks.clear();
            return;
        }
        if self.stack.len() > MAX_DEPTH {
            self.skipped = 1;
            self.diagnostics.push(Diagnostic::error(
                "nginx.too-deep",
                line,
                format!(
                    "blocks are nested more than {MAX_DEPTH} deep; the content below this depth is not kept"
                ),
            ));
            self.toks = toks;
            self.toks.clear();
            return;
        }
        let header_line = toks.first().map_or(line, |t| t.line);
        if toks.is_empty() {
            self.diagnostics.push(Diagnostic::error(
                "nginx.syntax",
                line,
                "`{` opens a block with no name before it",
            ));
        } else {
            self.count_statement(&toks);
        }
        let mut secrets = std::mem::take(&mut self.secrets);
        find_secrets(self.src, &toks, &mut secrets);
        self.secret_spans.extend(secrets.iter().cloned());
        let parent = &self.stack.last().expect("root frame").kind;
        let mut frame = Frame::open(parent, self.src, &toks, &secrets, header_line);
        frame.indent = indent_of(self.src, toks.first().map_or(pos, |t| t.start)).0;
        self.stack.push(frame);
        self.secrets = secrets;
        self.toks = toks;
        self.toks.clear();
    }

    fn close_block(&mut self, line: u32, pos: usize) {
        if !self.toks.is_empty() {
            let first = self.toks[0];
            self.diagnostics.push(Diagnostic::error(
                "nginx.missing-semicolon",
                first.line,
                format!(
                    "`{}` is not ended by `;` before `}}`",
                    short(&join(self.src, &self.toks))
                ),
            ));
            self.end_directive(line);
        }
        if self.skipped > 0 {
            self.skipped -= 1;
            return;
        }
        let Some(top) = self.stack.last() else { return };
        if self.stack.len() == 1 {
            let mut msg = "`}` closes no open block".to_string();
            if let Some((open, close)) = self.misindented {
                msg.push_str(&format!(
                    "; the `}}` on line {close} (closing the block opened on line {open}) is indented differently and is probably the extra one"
                ));
            }
            self.diagnostics
                .push(Diagnostic::error("nginx.unbalanced-braces", line, msg));
            return;
        }
        let (indent, leads) = indent_of(self.src, pos);
        if leads && indent != top.indent && self.misindented.is_none() {
            self.misindented = Some((top.line, line));
        }
        self.pop();
    }

    fn pop(&mut self) {
        let Some(frame) = self.stack.pop() else {
            return;
        };
        let parent = self.stack.last_mut().expect("root frame");
        if let Some(d) = parent.attach(frame) {
            self.diagnostics.push(d);
        }
    }

    fn finish(mut self) -> Document {
        let mut doc = Document::empty(Format::Nginx);
        if self.statement_lines > 0 && self.odd_lines * 2 > self.statement_lines {
            self.diagnostics
                .retain(|d| d.severity != crate::document::Severity::Error);
            self.diagnostics.insert(
                0,
                Diagnostic::error(
                    "nginx.not-nginx",
                    self.first_odd,
                    format!(
                        "this does not look like an nginx configuration: {} of {} lines of directives do not start with a directive name",
                        self.odd_lines, self.statement_lines
                    ),
                ),
            );
        }
        let root = self.stack.pop().expect("root frame");
        let (root, misplaced) = root.into_root();
        if let Some(line) = misplaced {
            self.diagnostics.push(Diagnostic::error(
                "nginx.misplaced-block",
                line,
                "a `server` or `upstream` block at the top level of a file that has `http`, `stream` or `events` blocks: nginx refuses it (put it inside `http` or `stream`)",
            ));
        }
        doc.root = root;
        doc.diagnostics = self.diagnostics;
        doc.secret_spans = self.secret_spans;
        doc
    }
}

/// The indentation (leading whitespace bytes) of the line holding byte `pos`, and whether
/// only whitespace precedes `pos` on that line.
fn indent_of(src: &str, pos: usize) -> (usize, bool) {
    let b = src.as_bytes();
    let start = b[..pos]
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(0, |i| i + 1);
    let indent = b[start..]
        .iter()
        .take_while(|&&c| c == b' ' || c == b'\t')
        .count();
    (indent, start + indent == pos)
}

/// A statement cut for messages.
fn short(s: &str) -> String {
    let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(60) {
        Some((i, _)) => format!("{}...", &one_line[..i]),
        None => one_line,
    }
}

#[cfg(test)]
mod tests;
