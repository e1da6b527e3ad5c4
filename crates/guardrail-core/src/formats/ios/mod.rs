//! IOS-style configs: Cisco IOS / IOS-XE, Arista EOS and FRR (`frr.conf`).
//!
//! One pass over the lines builds the block hierarchy from indentation with an explicit stack
//! (children are indented under their parent; FRR/EOS `exit`, `exit-address-family` and `!`
//! separators are honoured; Quagga-style address families whose children share the header's
//! indentation are closed by `exit-address-family`). Each finished top-level block is handed to
//! [`build`], which files it into the document's views: `hostname`, `interfaces`, `vlans`, `acls`,
//! `prefix_lists`, `as_path_lists`, `community_lists`, `nat`, `bgp`, `banners`, and `lines` for
//! everything else. Lists whose order is behaviour (entries without sequence numbers, NAT rules,
//! `route-policy` statements, `policy-map` classes) are ordered. Every source line lands in exactly one
//! place of the tree. The shape is documented in `docs/formats.md`.
//!
//! Skipped: comment lines (`!`, `#`, including volatile ones such as `! Last configuration
//! change at ...`), the `Building configuration...` / `Current configuration : N bytes` preamble
//! of `show running-config`, `ntp clock-period` (the device rewrites it on its own), `exit`
//! lines, and everything after a top-level `end` (with a warning when that is not empty).
//! Multi-line banners (`banner motd ^C ... ^C`, any delimiter, EOS `banner login` ... `EOF`) and
//! `macro name` bodies are read whole and never parsed as config.
//!
//! Diagnostics: `ios.not-ios` (error: most lines are not config commands), `ios.too-deep`
//! (error: nesting deeper than [`MAX_DEPTH`]), `ios.banner-unterminated` and
//! `ios.macro-unterminated` (errors), `ios.after-end`, `ios.vlan-syntax`, `ios.acl-syntax`,
//! `ios.acl-duplicate-seq`, `ios.bgp-syntax`, `ios.bgp-duplicate`, `ios.interface-syntax`,
//! `ios.expansion-limit` (warnings; the line is kept raw).

mod build;
mod secrets;
#[cfg(test)]
mod tests;
mod words;

use crate::document::{Diagnostic, Document, Format, Node, Value};
use crate::formats::MAX_DEPTH;
use crate::formats::lines::{Line, lines};

use build::Builder;
use words::first_word;

/// One config line of the block being read. A block's lines are kept in source order, which
/// is the pre-order of its tree; `end` is the index past the last line nested under this one.
/// One list, reused for every block, instead of a vector of children per line.
struct Flat<'a> {
    /// The line without indentation and trailing whitespace.
    text: &'a str,
    number: u32,
    /// Byte offset of `text` in the whole input (for secret spans).
    offset: usize,
    end: usize,
}

/// One config line and the lines nested under it: a view of a block's [`Flat`] lines.
#[derive(Clone, Copy)]
pub(super) struct Raw<'r, 'a> {
    pub(super) text: &'a str,
    pub(super) number: u32,
    pub(super) offset: usize,
    pub(super) children: Children<'r, 'a>,
}

impl<'r, 'a> Raw<'r, 'a> {
    fn at(lines: &'r [Flat<'a>], i: usize) -> Self {
        let l = &lines[i];
        Raw {
            text: l.text,
            number: l.number,
            offset: l.offset,
            children: Children {
                lines,
                start: i + 1,
                end: l.end,
            },
        }
    }

    /// A line with nothing nested under it.
    fn leaf(text: &'a str, number: u32, offset: usize) -> Self {
        Raw {
            text,
            number,
            offset,
            children: Children {
                lines: &[],
                start: 0,
                end: 0,
            },
        }
    }
}

/// The lines directly nested under a line.
#[derive(Clone, Copy)]
pub(super) struct Children<'r, 'a> {
    lines: &'r [Flat<'a>],
    start: usize,
    end: usize,
}

impl<'r, 'a> Children<'r, 'a> {
    pub(super) fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// The number of children.
    pub(super) fn count(&self) -> usize {
        self.into_iter().count()
    }

    /// The number of lines nested under the block, at every depth.
    pub(super) fn nested_lines(&self) -> usize {
        self.end - self.start
    }
}

impl<'r, 'a> IntoIterator for &Children<'r, 'a> {
    type Item = Raw<'r, 'a>;
    type IntoIter = ChildIter<'r, 'a>;

    fn into_iter(self) -> ChildIter<'r, 'a> {
        ChildIter {
            lines: self.lines,
            next: self.start,
            end: self.end,
        }
    }
}

pub(super) struct ChildIter<'r, 'a> {
    lines: &'r [Flat<'a>],
    next: usize,
    end: usize,
}

impl<'r, 'a> Iterator for ChildIter<'r, 'a> {
    type Item = Raw<'r, 'a>;

    fn next(&mut self) -> Option<Raw<'r, 'a>> {
        if self.next >= self.end {
            return None;
        }
        let raw = Raw::at(self.lines, self.next);
        // The next child follows this one's nested lines.
        self.next = raw.children.end;
        Some(raw)
    }
}

/// An open block on the stack.
struct Frame {
    /// Index of the block's line in [`Parser::lines`].
    at: usize,
    indent: usize,
    /// Opened by `address-family`: may be closed by `exit-address-family`.
    af: bool,
    /// A Quagga-style address family whose children are written at its own indentation.
    sticky: bool,
}

/// The secret rules of IOS-style configs as a Markdown table (the one in docs/formats.md).
pub fn secret_rules_markdown() -> String {
    secrets::rules_markdown()
}

/// Parses IOS-style text into a document. Never panics.
pub fn parse(text: &str) -> Document {
    if let Some((vendor, line)) = crate::formats::foreign::looks_like(text) {
        let mut doc = Document::empty(Format::Ios);
        doc.diagnostics.push(Diagnostic::error(
            "ios.not-ios",
            line,
            crate::formats::foreign::message(vendor, "IOS-style configs"),
        ));
        return doc;
    }
    let mut p = Parser {
        lines: Vec::new(),
        stack: Vec::with_capacity(16),
        build: Builder::new(),
        too_deep_reported: false,
        lines_seen: 0,
        implausible: 0,
        first_implausible: 0,
        diagnostics: Vec::new(),
    };
    let mut it = lines(text);
    while let Some(line) = it.next() {
        let indent = line
            .text
            .bytes()
            .position(|b| b != b' ' && b != b'\t')
            .unwrap_or(line.text.len());
        let body = trim_end(&line.text[indent..]);
        let Some(&first) = body.as_bytes().first() else {
            continue;
        };
        // Comments; ASA writes `: Saved`, `: end` and similar lines as comments too.
        if first == b'!' || first == b'#' || (first == b':' && indent == 0) {
            continue;
        }
        let w0 = first_word(body);
        p.observe(body, w0, line.number);
        let offset = line.offset + indent;
        if indent == 0 {
            match w0 {
                "end" if body == "end" => {
                    p.close_all();
                    p.after_end(&mut it);
                    break;
                }
                "banner" => {
                    p.close_all();
                    p.banner(body, line.number, offset, &mut it);
                    continue;
                }
                "macro" if body.starts_with("macro name ") => {
                    p.close_all();
                    p.macro_body(body, line.number, offset, &mut it);
                    continue;
                }
                "Building" if body.starts_with("Building configuration") => continue,
                "Current" if body.starts_with("Current configuration") => continue,
                "ntp" if body.starts_with("ntp clock-period") => continue,
                _ => {}
            }
        }
        if body == "exit" || (body.starts_with("exit-") && !body.contains(' ')) {
            p.exit(body, indent);
            continue;
        }
        // IOS-XR closes its policy language blocks with `end-policy`, `end-set`,
        // `end-policy-map`, `end-class-map`...: like `exit`, not stored.
        if body.starts_with("end-") && !body.contains(' ') {
            p.exit("exit", indent);
            continue;
        }
        p.line(body, w0, indent, line.number, offset);
    }
    p.close_all();
    p.finish()
}

/// `s.trim_end()`, with a fast path for the usual line that ends in a visible ASCII character.
#[inline]
fn trim_end(s: &str) -> &str {
    match s.as_bytes().last() {
        Some(&b) if b > b' ' && b < 0x80 => s,
        _ => s.trim_end(),
    }
}

/// `first_word(body[w0.len()..].trim_start()) == "="` for `w0`, the first word of `body`, with a
/// fast path for ASCII text (the general form trims Unicode whitespace).
fn second_word_is_equals(body: &str, w0: &str) -> bool {
    let rest = &body.as_bytes()[w0.len()..];
    let start = rest.iter().position(|&b| !b.is_ascii_whitespace());
    match start.map(|i| &rest[i..]) {
        None => false,
        Some([b'=']) => true,
        Some([b'=', next, ..]) if next.is_ascii_whitespace() => true,
        Some([first, ..]) if first.is_ascii_graphic() => false,
        Some(_) => first_word(body[w0.len()..].trim_start()) == "=",
    }
}

struct Parser<'a> {
    /// The lines of the top-level block being read (see [`Flat`]).
    lines: Vec<Flat<'a>>,
    stack: Vec<Frame>,
    build: Builder,
    too_deep_reported: bool,
    lines_seen: u32,
    implausible: u32,
    first_implausible: u32,
    diagnostics: Vec<Diagnostic>,
}

impl<'a> Parser<'a> {
    /// Counts lines that no IOS-style config would contain (JSON, YAML, INI, binary junk).
    /// `w0` is the first word of `body`.
    fn observe(&mut self, body: &str, w0: &str, number: u32) {
        self.lines_seen += 1;
        let first = body.as_bytes()[0];
        let implausible = if !first.is_ascii_alphanumeric() {
            true
        } else {
            w0.ends_with(':') || w0.bytes().any(|b| b == b'=') || second_word_is_equals(body, w0)
        };
        if implausible {
            if self.implausible == 0 {
                self.first_implausible = number;
            }
            self.implausible += 1;
        }
    }

    /// Places one ordinary line in the hierarchy; `w0` is its first word.
    fn line(&mut self, body: &'a str, w0: &str, indent: usize, number: u32, offset: usize) {
        while let Some(top) = self.stack.last_mut() {
            if top.indent > indent {
                self.pop();
                continue;
            }
            if top.indent == indent {
                if top.af {
                    let is_af = w0 == "address-family";
                    let no_children = self.lines.len() == top.at + 1;
                    if !top.sticky && no_children && !is_af {
                        top.sticky = true;
                    }
                    if top.sticky && !is_af {
                        break;
                    }
                }
                self.pop();
                continue;
            }
            break;
        }
        let at = self.lines.len();
        self.lines.push(Flat {
            text: body,
            number,
            offset,
            end: at + 1,
        });
        if self.stack.len() >= MAX_DEPTH {
            // Kept as a line with nothing nested under it, inside the block on top.
            if !self.too_deep_reported {
                self.too_deep_reported = true;
                self.diagnostics.push(Diagnostic::error(
                    "ios.too-deep",
                    number,
                    format!(
                        "nesting is deeper than {MAX_DEPTH} levels; deeper lines are kept flat under the block at level {MAX_DEPTH}. Check the indentation of this file"
                    ),
                ));
            }
            return;
        }
        self.stack.push(Frame {
            at,
            indent,
            af: w0 == "address-family",
            sticky: false,
        });
    }

    /// `exit` closes the block at its indentation; `exit-X` closes the innermost open `X` block
    /// (`exit-address-family`, `exit-vrf`, `exit-vni`), or acts as `exit` when none is open.
    fn exit(&mut self, body: &str, indent: usize) {
        if let Some(kind) = body.strip_prefix("exit-")
            && let Some(pos) = self
                .stack
                .iter()
                .rposition(|f| first_word(self.lines[f.at].text) == kind)
        {
            while self.stack.len() > pos {
                self.pop();
            }
            return;
        }
        while self.stack.last().is_some_and(|top| top.indent >= indent) {
            self.pop();
        }
    }

    fn pop(&mut self) {
        let Some(frame) = self.stack.pop() else {
            return;
        };
        self.lines[frame.at].end = self.lines.len();
        if self.stack.is_empty() {
            self.build.top(Raw::at(&self.lines, frame.at));
            self.lines.clear();
        }
    }

    fn close_all(&mut self) {
        while !self.stack.is_empty() {
            self.pop();
        }
    }

    /// Warns about config after a top-level `end`, which the parse ignores.
    fn after_end(&mut self, it: &mut impl Iterator<Item = Line<'a>>) {
        let mut first = 0;
        let mut count = 0;
        for line in it {
            let t = line.text.trim();
            if t.is_empty() || t.starts_with('!') || t.starts_with('#') {
                continue;
            }
            if count == 0 {
                first = line.number;
            }
            count += 1;
        }
        if count > 0 {
            self.diagnostics.push(Diagnostic::warning(
                "ios.after-end",
                first,
                format!(
                    "{count} line(s) after `end` are ignored; move them before `end` or remove them"
                ),
            ));
        }
    }

    /// Reads a banner whole: `banner TYPE <d>text<d>` with any delimiter character (or the
    /// two characters `^C`), possibly over many lines; EOS `banner TYPE` then lines up to `EOF`;
    /// FRR `banner motd line TEXT`. `banner motd default` / `file X` are ordinary lines.
    fn banner(
        &mut self,
        body: &'a str,
        number: u32,
        offset: usize,
        it: &mut impl Iterator<Item = Line<'a>>,
    ) {
        let w = words::Words::new(body);
        let kind = w.get(1);
        let rest = w.rest(2);
        if kind.is_empty() || rest == "default" || rest.starts_with("file ") {
            self.build.top(Raw::leaf(body, number, offset));
            return;
        }
        if let Some(text) = rest.strip_prefix("line ") {
            self.build.banner(kind, number, text.trim().to_string());
            return;
        }
        if rest.is_empty() {
            let mut pieces: Vec<&str> = Vec::new();
            for line in it.by_ref() {
                if line.text.trim() == "EOF" {
                    self.build.banner(kind, number, pieces.join("\n"));
                    return;
                }
                pieces.push(line.text);
            }
            self.unterminated_banner(kind, number, "EOF", pieces.join("\n"));
            return;
        }
        // ASA and NX-OS `banner motd TEXT`: one line of text per command, no delimiter (IOS
        // delimiters are never letters or digits in practice); repeated lines add lines.
        if rest.starts_with(|c: char| c.is_alphanumeric()) {
            self.build.banner_line(kind, number, rest.to_string());
            return;
        }
        let delim = if rest.starts_with("^C") {
            "^C"
        } else {
            let len = rest.chars().next().map_or(1, char::len_utf8);
            &rest[..len]
        };
        let opening = &rest[delim.len()..];
        if let Some(end) = opening.find(delim) {
            self.build
                .banner(kind, number, opening[..end].trim().to_string());
            return;
        }
        let mut text = String::new();
        if !opening.trim().is_empty() {
            text.push_str(opening);
        }
        for line in it.by_ref() {
            if let Some(end) = line.text.find(delim) {
                let last = &line.text[..end];
                if !last.trim().is_empty() {
                    if !text.is_empty() {
                        text.push('\n');
                    }
                    text.push_str(last);
                }
                self.build.banner(kind, number, text);
                return;
            }
            if !text.is_empty() || !line.text.is_empty() {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(line.text);
            }
        }
        self.unterminated_banner(kind, number, delim, text);
    }

    fn unterminated_banner(&mut self, kind: &str, number: u32, delim: &str, text: String) {
        self.diagnostics.push(Diagnostic::error(
            "ios.banner-unterminated",
            number,
            format!(
                "banner {kind} is never closed by its delimiter `{delim}`; everything after this line was read as banner text"
            ),
        ));
        self.build.banner(kind, number, text);
    }

    /// `macro name NAME` then the macro's lines up to a line `@`.
    fn macro_body(
        &mut self,
        body: &'a str,
        number: u32,
        offset: usize,
        it: &mut impl Iterator<Item = Line<'a>>,
    ) {
        // The stack is empty here (`close_all`), so is `lines`: the macro is one block.
        debug_assert!(self.lines.is_empty());
        self.lines.push(Flat {
            text: body,
            number,
            offset,
            end: 0,
        });
        let mut closed = false;
        for line in it.by_ref() {
            let unindented = line.text.trim_start();
            let t = unindented.trim_end();
            if t == "@" {
                closed = true;
                break;
            }
            if t.is_empty() {
                continue;
            }
            let at = self.lines.len();
            self.lines.push(Flat {
                text: t,
                number: line.number,
                offset: line.offset + (line.text.len() - unindented.len()),
                end: at + 1,
            });
        }
        if !closed {
            self.diagnostics.push(Diagnostic::error(
                "ios.macro-unterminated",
                number,
                "macro is never closed by a line `@`; everything after this line was read as the macro body",
            ));
        }
        self.lines[0].end = self.lines.len();
        self.build.top(Raw::at(&self.lines, 0));
        self.lines.clear();
    }

    fn finish(mut self) -> Document {
        if self.lines_seen > 0 && self.implausible * 2 > self.lines_seen {
            self.diagnostics.insert(
                0,
                Diagnostic::error(
                    "ios.not-ios",
                    self.first_implausible,
                    format!(
                        "this does not look like an IOS-style config: {} of {} lines are not config commands (JSON, YAML or other text?); check the file or its --format",
                        self.implausible, self.lines_seen
                    ),
                ),
            );
        }
        let (root, mut diagnostics, secret_spans) = self.build.finish();
        self.diagnostics.append(&mut diagnostics);
        self.diagnostics.sort_by_key(|d| d.line);
        Document {
            format: Format::Ios,
            root: Node::new(1, Value::Map(root)),
            diagnostics: self.diagnostics,
            secret_spans,
        }
    }
}
