//! fetchmail run-control files (`.fetchmailrc`).
//!
//! A hand-written lexer follows fetchmail's own (`rcfile_l.l`): words end at whitespace or one of
//! `= ; : ,`; `;`, `:`, `,` and the noise words `and with has wants options` are ignored; `#`
//! starts a comment; `"..."` and `'...'` strings may span lines and take C escapes (`\n`, `\x41`,
//! `\101`) but cannot contain their own quote; a backslash before a newline joins lines;
//! keywords are case-sensitive; after `user`, `password`, `is`, `to` and `=` the next word is a
//! name even if it looks like a keyword. The parser follows `rcfile_y.y`: `set` statements,
//! an optional `defaults` entry, and `poll` / `skip` (`server` is a synonym) entries with server
//! options, then user descriptions (`user R [there] ... [is L [here]] options`).
//!
//! Tree (see `docs/formats.md`): `{set, defaults, polls}`. Each poll carries the
//! *effective* settings: what the `defaults` entry sets is applied to every poll and user that
//! does not set it itself (as fetchmail does), and a poll without a user description gets one
//! implicit user (fetchmail polls as the local login user), so rules such as "does this entry
//! delete mail on the server" see what fetchmail will do. Inherited nodes keep the line of the
//! `defaults` entry that set them.
//!
//! Diagnostics: `fetchmail.not-fetchmailrc`, `fetchmail.missing-server`, `fetchmail.missing-value`,
//! `fetchmail.bad-value`, `fetchmail.server-option-after-user`, `fetchmail.defaults-misplaced`,
//! `fetchmail.unterminated-string` (errors: fetchmail itself refuses such a
//! file), `fetchmail.unknown-keyword` (warning; the word is kept in the `unknown` list of the
//! entry's options).
//!
//! Speed (the format is held to the 100 MB/s parse target): the lexer classifies every bare word
//! once, through a hash table built at compile time, into a [`Kw`](keywords::Kw) (or noise, or
//! a `no...` word), so the parser compares small integers, never strings; map keys are the
//! keywords' static names; tokens are read by reference; and the entries' nodes are moved into
//! the tree, only what is inherited from `defaults` being cloned. The word table is a small
//! `const` FNV-1a table rather than the `phf` crate (already in the tree through chrono-tz):
//! measured on the bench file's 96,635 words, `phf`'s SipHash lookup costs 23.5 ns a word and
//! this one 9.2 ns, 1.4 ms more per 6 ms parse.
//!
//! Layout: [`keywords`] (the word table and what each keyword is), [`lexer`] (bytes to
//! tokens), [`parser`] (statements and entries) with the poll and user options in [`options`],
//! and [`tree`] (the effective tree, with what `defaults` passes on).

mod keywords;
mod lexer;
mod options;
mod parser;
#[cfg(test)]
mod tests;
mod tree;

use crate::document::Document;

use lexer::lex;
use parser::Parser;

/// Parses fetchmail rc text into a document. Never panics.
pub fn parse(text: &str) -> Document {
    let mut diagnostics = Vec::new();
    let tokens = lex(text, &mut diagnostics);
    let mut p = Parser::new(&tokens, diagnostics);
    p.statements();
    p.finish()
}
