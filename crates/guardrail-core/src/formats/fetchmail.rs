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
//! once, through a hash table built at compile time, into a [`Kw`] (or noise, or a `no...` word),
//! so the parser compares small integers, never strings; map keys are the keywords' static
//! names; tokens are read by reference; and the entries' nodes are moved into the tree, only
//! what is inherited from `defaults` being cloned. The word table is a small `const` FNV-1a
//! table rather than the `phf` crate (already in the tree through chrono-tz): measured on the
//! bench file's 96,635 words, `phf`'s SipHash lookup costs 23.5 ns a word and this one 9.2 ns,
//! 1.4 ms more per 6 ms parse.

use std::borrow::Cow;
use std::ops::Range;

use crate::document::secret::url_credential_ranges;
use crate::document::{Diagnostic, Document, Format, Map, Node, Secret, Value};

/// Parses fetchmail rc text into a document. Never panics.
pub fn parse(text: &str) -> Document {
    let mut diagnostics = Vec::new();
    let tokens = lex(text, &mut diagnostics);
    let mut p = Parser {
        tokens: &tokens,
        pos: 0,
        diagnostics,
        spans: Vec::new(),
        set: set_map(),
        set_line: 0,
        set_other: Vec::new(),
        defaults: None,
        polls: Vec::new(),
        known: 0,
        unknown: 0,
    };
    p.statements();
    p.finish()
}

// ---- keywords ---------------------------------------------------------------------------

macro_rules! keywords {
    ($($kw:ident = $name:literal,)*) => {
        /// A fetchmail keyword (as written, or the canonical name of a synonym).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum Kw {
            $($kw,)*
        }

        impl Kw {
            /// The keyword as written (and as a map key).
            fn name(self) -> &'static str {
                match self {
                    $(Kw::$kw => $name,)*
                }
            }
        }

        /// Every keyword fetchmail's lexer knows, with its word.
        const KEYWORDS: &[(&str, Kw)] = &[$(($name, Kw::$kw),)*];
    };
}

keywords! {
    Set = "set",
    Logfile = "logfile",
    Idfile = "idfile",
    Pidfile = "pidfile",
    Daemon = "daemon",
    Syslog = "syslog",
    Invisible = "invisible",
    Showdots = "showdots",
    Postmaster = "postmaster",
    Bouncemail = "bouncemail",
    Spambounce = "spambounce",
    Softbounce = "softbounce",
    Warnings = "warnings",
    Tracepolls = "tracepolls",
    Defaults = "defaults",
    Server = "server",
    Poll = "poll",
    Skip = "skip",
    Via = "via",
    Aka = "aka",
    Local = "local",
    Localdomains = "localdomains",
    Proto = "proto",
    Protocol = "protocol",
    Service = "service",
    Port = "port",
    Interval = "interval",
    Preauth = "preauth",
    Preauthenticate = "preauthenticate",
    Auth = "auth",
    Authenticate = "authenticate",
    Timeout = "timeout",
    Idletimeout = "idletimeout",
    Envelope = "envelope",
    Qvirtual = "qvirtual",
    Principal = "principal",
    Esmtpname = "esmtpname",
    Esmtppassword = "esmtppassword",
    BadHeader = "bad-header",
    Accept = "accept",
    Reject = "reject",
    User = "user",
    Username = "username",
    Pass = "pass",
    Password = "password",
    Folder = "folder",
    Folders = "folders",
    Smtp = "smtp",
    Smtphost = "smtphost",
    Fetchdomains = "fetchdomains",
    Smtpaddress = "smtpaddress",
    Smtpname = "smtpname",
    Antispam = "antispam",
    Mda = "mda",
    Bsmtp = "bsmtp",
    Lmtp = "lmtp",
    Pre = "pre",
    Preconnect = "preconnect",
    Post = "post",
    Postconnect = "postconnect",
    Interface = "interface",
    Monitor = "monitor",
    Plugin = "plugin",
    Plugout = "plugout",
    Batchlimit = "batchlimit",
    Fetchlimit = "fetchlimit",
    Fetchsizelimit = "fetchsizelimit",
    Fastuidl = "fastuidl",
    Expunge = "expunge",
    Properties = "properties",
    Is = "is",
    Here = "here",
    There = "there",
    To = "to",
    No = "no",
    Keep = "keep",
    Flush = "flush",
    Limitflush = "limitflush",
    Fetchall = "fetchall",
    Rewrite = "rewrite",
    Forcecr = "forcecr",
    Stripcr = "stripcr",
    Pass8 = "pass8",
    Pass8bits = "pass8bits",
    Dropstatus = "dropstatus",
    Dropdelivered = "dropdelivered",
    Mimedec = "mimedec",
    Mimedecode = "mimedecode",
    Idle = "idle",
    Forceidle = "forceidle",
    Dns = "dns",
    Uidl = "uidl",
    Ssl = "ssl",
    Sslkey = "sslkey",
    Sslcert = "sslcert",
    Sslproto = "sslproto",
    Sslcertck = "sslcertck",
    Sslcertfile = "sslcertfile",
    Sslcertpath = "sslcertpath",
    Sslcommonname = "sslcommonname",
    Sslfingerprint = "sslfingerprint",
    Checkalias = "checkalias",
    Limit = "limit",
}

/// What a bare word is to the lexer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Kw(Kw),
    /// `and with has wants options`: ignored.
    Noise,
    /// A `no`-prefixed word that fetchmail's lexer splits into `no` + this keyword.
    No(Kw),
}

const NOISE: [&str; 5] = ["and", "with", "has", "wants", "options"];

/// `no`-prefixed keywords that fetchmail's lexer splits into `no` + keyword.
const NO_WORDS: [(&str, Kw); 19] = [
    ("nobouncemail", Kw::Bouncemail),
    ("nouidl", Kw::Uidl),
    ("nocheckalias", Kw::Checkalias),
    ("nodns", Kw::Dns),
    ("noenvelope", Kw::Envelope),
    ("nokeep", Kw::Keep),
    ("noflush", Kw::Flush),
    ("nolimitflush", Kw::Limitflush),
    ("nofetchall", Kw::Fetchall),
    ("norewrite", Kw::Rewrite),
    ("noforcecr", Kw::Forcecr),
    ("nostripcr", Kw::Stripcr),
    ("nopass8", Kw::Pass8),
    ("nopass8bits", Kw::Pass8bits),
    ("nodropstatus", Kw::Dropstatus),
    ("nodropdelivered", Kw::Dropdelivered),
    ("nomimedec", Kw::Mimedec),
    ("nomimedecode", Kw::Mimedecode),
    ("nospambounce", Kw::Spambounce),
];

/// The words [`classify`] knows. `badheader` (the canonical name of `bad-header`) is no word
/// of the lexer: it is not in [`KEYWORDS`] and stays unknown when written.
const WORDS: [(&str, Class); KEYWORDS.len() + NOISE.len() + NO_WORDS.len()] = {
    let mut out = [("", Class::Noise); KEYWORDS.len() + NOISE.len() + NO_WORDS.len()];
    let mut n = 0;
    let mut i = 0;
    while i < KEYWORDS.len() {
        out[n] = (KEYWORDS[i].0, Class::Kw(KEYWORDS[i].1));
        n += 1;
        i += 1;
    }
    i = 0;
    while i < NOISE.len() {
        out[n] = (NOISE[i], Class::Noise);
        n += 1;
        i += 1;
    }
    i = 0;
    while i < NO_WORDS.len() {
        out[n] = (NO_WORDS[i].0, Class::No(NO_WORDS[i].1));
        n += 1;
        i += 1;
    }
    out
};

/// No word of [`WORDS`] is longer: a longer word is a value without being hashed.
const MAX_WORD: usize = {
    let mut max = 0;
    let mut i = 0;
    while i < WORDS.len() {
        if WORDS[i].0.len() > max {
            max = WORDS[i].0.len();
        }
        i += 1;
    }
    max
};

const TABLE_BITS: u32 = 9;
const TABLE_LEN: usize = 1 << TABLE_BITS;

/// FNV-1a over the word, spread to the table's size.
const fn word_hash(w: &[u8]) -> usize {
    let mut h: u32 = 0x811c_9dc5;
    let mut i = 0;
    while i < w.len() {
        h = (h ^ w[i] as u32).wrapping_mul(0x0100_0193);
        i += 1;
    }
    (h.wrapping_mul(0x9e37_79b9) >> (32 - TABLE_BITS)) as usize
}

/// Open addressing with linear probing: slot → 1 + index in [`WORDS`], 0 for empty. The table
/// is less than a third full, so a lookup ends in one or two probes.
const TABLE: [u8; TABLE_LEN] = {
    assert!(WORDS.len() < 255 && WORDS.len() * 2 < TABLE_LEN);
    let mut t = [0u8; TABLE_LEN];
    let mut i = 0;
    while i < WORDS.len() {
        let mut h = word_hash(WORDS[i].0.as_bytes());
        while t[h] != 0 {
            h = (h + 1) & (TABLE_LEN - 1);
        }
        t[h] = (i + 1) as u8;
        i += 1;
    }
    t
};

/// What `w` is: a keyword, a noise word, a `no...` word, or nothing (a value).
#[inline]
fn classify(w: &[u8]) -> Option<Class> {
    if w.is_empty() || w.len() > MAX_WORD {
        return None;
    }
    let mut h = word_hash(w);
    loop {
        let slot = TABLE[h] as usize;
        let (name, class) = *WORDS.get(slot.checked_sub(1)?)?;
        if name.as_bytes() == w {
            return Some(class);
        }
        h = (h + 1) & (TABLE_LEN - 1);
    }
}

/// The keyword `w` is, if any.
fn keyword_of(w: &str) -> Option<Kw> {
    match classify(w.as_bytes()) {
        Some(Class::Kw(k)) => Some(k),
        _ => None,
    }
}

/// The canonical keyword of a keyword with synonyms. `bad-header` becomes `badheader`, which
/// is no keyword of the lexer: [`Canon::BadHeader`].
fn canonical(k: Kw) -> Canon {
    Canon::Kw(match k {
        Kw::Username => Kw::User,
        Kw::Pass => Kw::Password,
        Kw::Proto => Kw::Protocol,
        Kw::Local => Kw::Localdomains,
        Kw::Preauth | Kw::Preauthenticate | Kw::Authenticate => Kw::Auth,
        Kw::Folders => Kw::Folder,
        Kw::Smtp => Kw::Smtphost,
        Kw::Pre => Kw::Preconnect,
        Kw::Post => Kw::Postconnect,
        Kw::Pass8 => Kw::Pass8bits,
        Kw::Mimedec => Kw::Mimedecode,
        Kw::Server => Kw::Poll,
        Kw::BadHeader => return Canon::BadHeader,
        other => other,
    })
}

/// A canonical keyword: the key an option is stored under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Canon {
    Kw(Kw),
    /// `bad-header`, stored as `badheader`.
    BadHeader,
}

impl Canon {
    fn name(self) -> &'static str {
        match self {
            Canon::Kw(k) => k.name(),
            Canon::BadHeader => "badheader",
        }
    }
}

fn is_statement(k: Kw) -> bool {
    matches!(k, Kw::Set | Kw::Defaults | Kw::Poll | Kw::Server | Kw::Skip)
}

fn is_server_option(k: Canon) -> bool {
    let Canon::Kw(k) = k else {
        return true; // badheader
    };
    matches!(
        k,
        Kw::Via
            | Kw::Aka
            | Kw::Localdomains
            | Kw::Protocol
            | Kw::Principal
            | Kw::Esmtpname
            | Kw::Esmtppassword
            | Kw::Uidl
            | Kw::Checkalias
            | Kw::Service
            | Kw::Port
            | Kw::Interval
            | Kw::Auth
            | Kw::Timeout
            | Kw::Envelope
            | Kw::Qvirtual
            | Kw::Interface
            | Kw::Monitor
            | Kw::Plugin
            | Kw::Plugout
            | Kw::Dns
            | Kw::Tracepolls
    )
}

/// Server options that take no value and can be negated with `no`.
fn is_server_flag(k: Kw) -> bool {
    matches!(
        k,
        Kw::Uidl | Kw::Checkalias | Kw::Dns | Kw::Tracepolls | Kw::Envelope
    )
}

fn is_user_flag(k: Kw) -> bool {
    matches!(
        k,
        Kw::Keep
            | Kw::Flush
            | Kw::Limitflush
            | Kw::Fetchall
            | Kw::Rewrite
            | Kw::Forcecr
            | Kw::Stripcr
            | Kw::Pass8bits
            | Kw::Dropstatus
            | Kw::Dropdelivered
            | Kw::Mimedecode
            | Kw::Idle
            | Kw::Ssl
            | Kw::Sslcertck
    )
}

fn is_user_string(k: Kw) -> bool {
    matches!(
        k,
        Kw::Smtpaddress
            | Kw::Smtpname
            | Kw::Mda
            | Kw::Bsmtp
            | Kw::Preconnect
            | Kw::Postconnect
            | Kw::Sslkey
            | Kw::Sslcert
            | Kw::Sslproto
            | Kw::Sslcertfile
            | Kw::Sslcertpath
            | Kw::Sslcommonname
            | Kw::Sslfingerprint
            | Kw::Properties
    )
}

fn is_user_number(k: Kw) -> bool {
    matches!(
        k,
        Kw::Limit
            | Kw::Warnings
            | Kw::Fetchlimit
            | Kw::Fetchsizelimit
            | Kw::Fastuidl
            | Kw::Batchlimit
            | Kw::Expunge
    )
}

/// The keywords that start or continue a user's options outside `user ...` itself.
fn is_user_option(k: Kw) -> bool {
    matches!(
        k,
        Kw::Is
            | Kw::To
            | Kw::Password
            | Kw::Folder
            | Kw::Smtphost
            | Kw::Fetchdomains
            | Kw::Antispam
            | Kw::Lmtp
    ) || is_user_flag(k)
        || is_user_string(k)
        || is_user_number(k)
}

// ---- lexer ------------------------------------------------------------------------------

/// One token: a word or string (unescaped), or the `=` mapping sign.
#[derive(Debug, Clone)]
struct Tok<'a> {
    text: Cow<'a, str>,
    /// The keyword, for a bare word read where a keyword may stand (not quoted, not a name
    /// after `user` etc.) that is one.
    kw: Option<Kw>,
    /// The `=` sign.
    map: bool,
    line: u32,
    /// Byte range of the word or of the string's content in the source.
    span: Range<usize>,
}

impl Tok<'_> {
    /// True for the keyword `kw` (a bare word in keyword position).
    #[inline]
    fn is(&self, kw: Kw) -> bool {
        self.kw == Some(kw)
    }

    /// A value: a quoted string, a name, or a bare word that is not a keyword.
    #[inline]
    fn is_value(&self) -> bool {
        !self.map && self.kw.is_none()
    }
}

/// Bytes that end a word: whitespace and `= ; : ,`.
const WORD_END: [bool; 256] = {
    let mut t = [false; 256];
    t[b'=' as usize] = true;
    t[b';' as usize] = true;
    t[b':' as usize] = true;
    t[b',' as usize] = true;
    t[b' ' as usize] = true;
    t[b'\t' as usize] = true;
    t[b'\r' as usize] = true;
    t[b'\n' as usize] = true;
    t
};

#[inline]
fn is_word_end(b: u8) -> bool {
    WORD_END[b as usize]
}

/// The end of the word starting at `i`, and whether it holds a backslash.
#[inline]
fn word_end(b: &[u8], mut i: usize) -> (usize, bool) {
    let mut backslash = false;
    while let Some(&c) = b.get(i) {
        if is_word_end(c) {
            break;
        }
        backslash |= c == b'\\';
        i += 1;
    }
    (i, backslash)
}

fn lex<'a>(src: &'a str, diagnostics: &mut Vec<Diagnostic>) -> Vec<Tok<'a>> {
    let b = src.as_bytes();
    // About one token per eight bytes in typical files; the vector grows past that if needed.
    let mut out = Vec::with_capacity(b.len() / 8 + 4);
    let mut i = 0;
    let mut line = 1u32;
    // The next word is a name (after `user`, `password`, `is`, `to`, `=`).
    let mut name_next = false;
    // The next word is an authentication type (after `auth`): `password` there is no keyword.
    let mut auth_next = false;
    while let Some(&c) = b.get(i) {
        match c {
            b'\n' => {
                line += 1;
                i += 1;
            }
            b' ' | b'\t' | b'\r' | b';' | b':' | b',' => i += 1,
            b'\\'
                if b.get(i + 1) == Some(&b'\n')
                    || (b.get(i + 1) == Some(&b'\r') && b.get(i + 2) == Some(&b'\n')) =>
            {
                i += 1;
            }
            b'#' => {
                i = match b[i..].iter().position(|&c| c == b'\n') {
                    Some(p) => i + p,
                    None => b.len(),
                };
            }
            b'=' => {
                out.push(Tok {
                    text: Cow::Borrowed("="),
                    kw: None,
                    map: true,
                    line,
                    span: i..i + 1,
                });
                name_next = true;
                i += 1;
            }
            q @ (b'"' | b'\'') => {
                // The closing quote, and whether the content has a backslash or newlines.
                let mut close = None;
                let mut backslash = false;
                let mut newlines = 0u32;
                let mut j = i + 1;
                while let Some(&c) = b.get(j) {
                    if c == q {
                        close = Some(j);
                        break;
                    }
                    backslash |= c == b'\\';
                    newlines += u32::from(c == b'\n');
                    j += 1;
                }
                if name_next {
                    // fetchmail's lexer takes the longest match: in name position a quoted
                    // string followed by more non-separator text is read as one bare word.
                    let (end, word_backslash) = word_end(b, i);
                    let bare_longer = close.is_none_or(|c| end > c + 1);
                    if bare_longer && end > i + 1 {
                        out.push(word(src, i, end, line, word_backslash, None));
                        name_next = false;
                        i = end;
                        continue;
                    }
                }
                let (end, next) = match close {
                    Some(c) => (c, c + 1),
                    None => {
                        diagnostics.push(Diagnostic::error(
                            "fetchmail.unterminated-string",
                            line,
                            format!(
                                "string opened with {} is never closed; close it on the line where it should end",
                                q as char
                            ),
                        ));
                        (b.len(), b.len())
                    }
                };
                out.push(word(src, i + 1, end, line, backslash, None));
                line += newlines;
                name_next = false;
                auth_next = false;
                i = next;
            }
            _ => {
                let start = i;
                let (end, backslash) = word_end(b, i);
                i = end;
                if name_next {
                    out.push(word(src, start, end, line, backslash, None));
                    name_next = false;
                    continue;
                }
                let raw = classify(&b[start..end]);
                let kw = match raw {
                    Some(Class::Noise) => continue,
                    Some(Class::No(rest)) => {
                        out.push(word(src, start, start + 2, line, false, Some(Kw::No)));
                        out.push(word(src, start + 2, end, line, false, Some(rest)));
                        continue;
                    }
                    Some(Class::Kw(k)) => Some(k),
                    None => None,
                };
                let mut tok = word(src, start, end, line, backslash, kw);
                if backslash {
                    // The keyword is the unescaped word's (`kee\p` is `keep`).
                    tok.kw = keyword_of(&tok.text);
                }
                if !auth_next {
                    name_next = matches!(
                        kw,
                        Some(Kw::User | Kw::Username | Kw::Pass | Kw::Password | Kw::Is | Kw::To)
                    );
                }
                auth_next = matches!(
                    kw,
                    Some(Kw::Auth | Kw::Authenticate | Kw::Preauth | Kw::Preauthenticate)
                );
                out.push(tok);
            }
        }
    }
    out
}

/// The token of `src[start..end]`, unescaped when it holds a backslash.
#[inline]
fn word(
    src: &str,
    start: usize,
    end: usize,
    line: u32,
    backslash: bool,
    kw: Option<Kw>,
) -> Tok<'_> {
    let s = src.get(start..end).unwrap_or_default();
    Tok {
        text: if backslash {
            unescape(s)
        } else {
            Cow::Borrowed(s)
        },
        kw,
        map: false,
        line,
        span: start..end,
    }
}

/// fetchmail's escapes: `\\ \n \t \b \r`, `\xHH`, `\0OO` (octal), `\DDD` (decimal), any other
/// `\c` is `c`, a backslash before a newline joins lines.
fn unescape(s: &str) -> Cow<'_, str> {
    if !s.contains('\\') {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        i += 1;
        let Some(&c) = b.get(i) else { break };
        match c {
            b'x' | b'X' => {
                i += 1;
                let mut v: u32 = 0;
                let mut n = 0;
                while n < 2 && i < b.len() && b[i].is_ascii_hexdigit() {
                    v = v * 16 + (b[i] as char).to_digit(16).unwrap_or(0);
                    i += 1;
                    n += 1;
                }
                out.push(v as u8);
            }
            b'0' => {
                let mut v: u32 = 0;
                let mut n = 0;
                while n < 3 && i < b.len() && (b'0'..=b'7').contains(&b[i]) {
                    v = v * 8 + u32::from(b[i] - b'0');
                    i += 1;
                    n += 1;
                }
                out.push(v as u8);
            }
            b'1'..=b'9' => {
                let mut v: u32 = 0;
                let mut n = 0;
                while n < 3 && i < b.len() && b[i].is_ascii_digit() {
                    v = v * 10 + u32::from(b[i] - b'0');
                    i += 1;
                    n += 1;
                }
                out.push(v as u8);
            }
            b'\n' => i += 1,
            _ => {
                out.push(match c {
                    b'n' => b'\n',
                    b't' => b'\t',
                    b'b' => 8,
                    b'r' => b'\r',
                    other => other,
                });
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

// ---- parser -----------------------------------------------------------------------------

/// Server options that a `defaults` entry does not pass on (fetchmail's `optmerge` skips them).
const NOT_INHERITED: [&str; 5] = [
    "aka",
    "esmtpname",
    "esmtppassword",
    "badheader",
    "sslcertfile",
];

/// A poll entry or the defaults entry, as written.
struct Server {
    line: u32,
    name: Option<Node>,
    skip: bool,
    via: Option<Node>,
    protocol: Option<Node>,
    port: Option<Node>,
    auth: Option<Node>,
    options: Map,
    users: Vec<User>,
    /// A user description has begun: server options are no longer allowed.
    in_users: bool,
}

impl Server {
    fn new(line: u32) -> Self {
        Server {
            line,
            name: None,
            skip: false,
            via: None,
            protocol: None,
            port: None,
            auth: None,
            options: Map::new(),
            users: Vec::new(),
            in_users: false,
        }
    }

    /// Keeps an unknown word in the `unknown` options of the user being described, else of
    /// the server.
    fn keep_unknown(&mut self, t: &Tok<'_>) {
        let target = if self.in_users {
            &mut self.current_user(t.line).options
        } else {
            &mut self.options
        };
        push_unknown(target, t);
    }

    /// The user that options apply to: the last one, or an implicit one.
    fn current_user(&mut self, line: u32) -> &mut User {
        self.in_users = true;
        if self.users.is_empty() {
            self.users.push(User::new(line));
        }
        let last = self.users.len() - 1;
        &mut self.users[last]
    }
}

/// A user description, as written.
struct User {
    line: u32,
    name: Option<Node>,
    local: Option<Node>,
    password: Option<Node>,
    folders: Option<Node>,
    keep: Option<Node>,
    flush: Option<Node>,
    fetchall: Option<Node>,
    limitflush: Option<Node>,
    ssl: Option<Node>,
    options: Map,
}

impl User {
    fn new(line: u32) -> Self {
        User {
            line,
            name: None,
            local: None,
            password: None,
            folders: None,
            keep: None,
            flush: None,
            fetchall: None,
            limitflush: None,
            ssl: None,
            options: Map::new(),
        }
    }
}

struct Parser<'t, 'a> {
    tokens: &'t [Tok<'a>],
    pos: usize,
    diagnostics: Vec<Diagnostic>,
    spans: Vec<Range<usize>>,
    set: Map,
    set_line: u32,
    set_other: Vec<Node>,
    defaults: Option<Server>,
    polls: Vec<Server>,
    known: u32,
    unknown: u32,
}

/// The `set` map with every global option present (null = not set, fetchmail's default).
fn set_map() -> Map {
    Map::from_entries([
        ("daemon", Node::null(1)),
        ("logfile", Node::null(1)),
        ("idfile", Node::null(1)),
        ("pidfile", Node::null(1)),
        ("postmaster", Node::null(1)),
        ("properties", Node::null(1)),
        ("bouncemail", Node::null(1)),
        ("spambounce", Node::null(1)),
        ("softbounce", Node::null(1)),
        ("syslog", Node::null(1)),
        ("invisible", Node::null(1)),
        ("showdots", Node::null(1)),
    ])
}

fn parse_number(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A string node of a token's text.
#[inline]
fn str_node(line: u32, t: &Tok<'_>) -> Node {
    Node::str(line, t.text.as_ref())
}

impl<'t, 'a> Parser<'t, 'a> {
    #[inline]
    fn peek(&self) -> Option<&'t Tok<'a>> {
        self.tokens.get(self.pos)
    }

    #[inline]
    fn next(&mut self) -> Option<&'t Tok<'a>> {
        let t = self.tokens.get(self.pos);
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    /// The next token if it is a value (not a keyword, not `=`).
    #[inline]
    fn value(&mut self) -> Option<&'t Tok<'a>> {
        if self.peek().is_some_and(Tok::is_value) {
            self.next()
        } else {
            None
        }
    }

    /// The next token if it is no `=`; the `=` is consumed all the same.
    #[inline]
    fn next_not_map(&mut self) -> Option<&'t Tok<'a>> {
        self.next().filter(|v| !v.map)
    }

    fn error(&mut self, code: &'static str, line: u32, message: String) {
        self.diagnostics
            .push(Diagnostic::error(code, line, message));
    }

    fn missing(&mut self, what: &str, line: u32) {
        self.error(
            "fetchmail.missing-value",
            line,
            format!("`{what}` needs a value here"),
        );
    }

    fn statements(&mut self) {
        let mut seen_statement = false;
        let mut garbage_reported = false;
        while let Some(t) = self.next() {
            match t.kw.map(canonical) {
                Some(Canon::Kw(Kw::Set)) => self.set_statement(t),
                Some(Canon::Kw(Kw::Defaults)) => self.server(t, true, false),
                Some(Canon::Kw(Kw::Poll)) => self.server(t, false, false),
                Some(Canon::Kw(Kw::Skip)) => self.server(t, false, true),
                _ => {
                    if !seen_statement {
                        if !garbage_reported {
                            garbage_reported = true;
                            self.error(
                                "fetchmail.not-fetchmailrc",
                                t.line,
                                format!(
                                    "this does not look like a fetchmail rc file: it starts with `{}` where `set`, `defaults`, `poll` or `skip` is expected; check the file or its --format",
                                    t.text
                                ),
                            );
                        }
                    } else {
                        self.unknown_word(t);
                        self.set_other.push(str_node(t.line, t));
                    }
                    continue;
                }
            }
            seen_statement = true;
        }
    }

    fn unknown_word(&mut self, t: &Tok<'_>) {
        self.unknown += 1;
        self.diagnostics.push(Diagnostic::warning(
            "fetchmail.unknown-keyword",
            t.line,
            format!(
                "`{}` is not a fetchmail keyword here (fetchmail itself would refuse the file); it is kept in the `unknown` options",
                t.text
            ),
        ));
    }

    fn set_statement(&mut self, set_tok: &Tok<'a>) {
        if self.set_line == 0 {
            self.set_line = set_tok.line;
        }
        let Some(t) = self.next() else {
            self.missing("set", set_tok.line);
            return;
        };
        let line = t.line;
        match t.kw {
            Some(
                k @ (Kw::Logfile | Kw::Idfile | Kw::Pidfile | Kw::Postmaster | Kw::Properties),
            ) => {
                if self.peek().is_some_and(|t| t.map) {
                    self.pos += 1;
                }
                match self.value() {
                    Some(v) => {
                        let node = self.string_node(v, line);
                        self.set.insert(k.name(), node);
                    }
                    None => self.missing(k.name(), line),
                }
            }
            Some(Kw::Daemon) => {
                if self.peek().is_some_and(|t| t.map) {
                    self.pos += 1;
                }
                match self.value() {
                    Some(v) => match parse_number(&v.text) {
                        Some(n) => {
                            self.set.insert("daemon", Node::int(line, n));
                        }
                        None => self.bad_value("daemon", v),
                    },
                    None => self.missing("daemon", line),
                }
            }
            Some(k) if is_set_flag(k) => {
                self.set.insert(k.name(), Node::bool(line, true));
            }
            Some(Kw::No) => match self.peek().and_then(|t| t.kw) {
                Some(k) if is_set_flag(k) => {
                    self.pos += 1;
                    self.set.insert(k.name(), Node::bool(line, false));
                }
                _ => {
                    self.unknown_word(t);
                    self.set_other.push(Node::str(line, "no"));
                }
            },
            _ => {
                self.unknown_word(t);
                self.set_other.push(str_node(line, t));
            }
        }
        self.known += 1;
    }

    fn bad_value(&mut self, what: &str, v: &Tok<'_>) {
        self.error(
            "fetchmail.bad-value",
            v.line,
            format!("`{what}` needs a number, not `{}`", v.text),
        );
    }

    /// A string value; URL credentials inside it (`imap://user:pass@host`) are redacted.
    fn string_node(&mut self, v: &Tok<'_>, line: u32) -> Node {
        if v.text.contains("://") {
            let ranges = url_credential_ranges(&v.text);
            if !ranges.is_empty() {
                let shown = crate::document::secret::redact_spans(&v.text, &ranges);
                if matches!(v.text, Cow::Borrowed(_)) {
                    for r in &ranges {
                        self.spans
                            .push(v.span.start + r.start..v.span.start + r.end);
                    }
                } else {
                    self.spans.push(v.span.clone());
                }
                return Node::new(line, Value::Secret(Secret::within(shown, &v.text)));
            }
        }
        str_node(line, v)
    }

    fn secret_node(&mut self, v: &Tok<'_>, line: u32) -> Node {
        self.spans.push(v.span.clone());
        Node::new(line, Value::Secret(Secret::whole(&v.text)))
    }

    /// `poll|skip NAME ...`, `defaults ...`: server options, then user descriptions.
    fn server(&mut self, head: &Tok<'a>, is_defaults: bool, skip: bool) {
        let mut srv = Server::new(head.line);
        srv.skip = skip;
        if !is_defaults {
            match self.value() {
                Some(v) => srv.name = Some(str_node(v.line, v)),
                None => self.error(
                    "fetchmail.missing-server",
                    head.line,
                    format!(
                        "`{}` must be followed by the name of the mail server to poll",
                        head.text
                    ),
                ),
            }
        }
        while let Some(t) = self.peek() {
            if t.kw.is_some_and(is_statement) {
                break;
            }
            self.pos += 1;
            let Some(kw) = t.kw.map(canonical) else {
                self.unknown_word(t);
                srv.keep_unknown(t);
                continue;
            };
            self.known += 1;
            match kw {
                Canon::Kw(Kw::No) => self.negated(&mut srv, t),
                k if is_server_option(k) => {
                    if srv.in_users {
                        self.error(
                            "fetchmail.server-option-after-user",
                            t.line,
                            format!(
                                "server option `{}` after user options; fetchmail refuses this: move it before the first user option of this entry",
                                t.text
                            ),
                        );
                    }
                    self.server_option(&mut srv, k, t);
                }
                Canon::Kw(Kw::User) => {
                    srv.in_users = true;
                    self.user_description(&mut srv, t);
                }
                // Stray `here`/`there` outside a mapping: nothing to record.
                Canon::Kw(Kw::Here | Kw::There) => {}
                Canon::Kw(k) if is_user_option(k) => {
                    self.user_option(srv.current_user(t.line), k, t);
                }
                _ => {
                    self.unknown_word(t);
                    srv.keep_unknown(t);
                }
            }
        }
        if is_defaults {
            if self.defaults.is_some() || !self.polls.is_empty() || srv.users.len() > 1 {
                self.error(
                    "fetchmail.defaults-misplaced",
                    head.line,
                    "fetchmail accepts one `defaults` entry with at most one user, before every poll entry".to_string(),
                );
            }
            if self.defaults.is_none() {
                self.defaults = Some(srv);
            }
        } else {
            self.polls.push(srv);
        }
    }

    /// `no X` for a server flag (`no dns`, `no envelope`) or a user flag (`no keep`).
    fn negated(&mut self, srv: &mut Server, no: &Tok<'_>) {
        let k = match self.peek().and_then(|t| t.kw).map(canonical) {
            Some(Canon::Kw(k)) if is_server_flag(k) || is_user_flag(k) => k,
            _ => {
                self.unknown_word(no);
                push_unknown(&mut srv.options, no);
                return;
            }
        };
        let line = no.line;
        self.pos += 1;
        if is_server_flag(k) {
            if srv.in_users {
                self.error(
                    "fetchmail.server-option-after-user",
                    line,
                    format!(
                        "server option `no {}` after user options; fetchmail refuses this: move it before the first user option of this entry",
                        k.name()
                    ),
                );
            }
            srv.options.insert(k.name(), Node::bool(line, false));
        } else {
            let user = srv.current_user(line);
            set_flag(user, k, Node::bool(line, false));
        }
    }

    fn server_option(&mut self, srv: &mut Server, kw: Canon, t: &Tok<'_>) {
        let line = t.line;
        let key = kw.name();
        let Canon::Kw(k) = kw else {
            // `bad-header accept|reject`
            match self.next() {
                Some(v) if v.is(Kw::Accept) || v.is(Kw::Reject) => {
                    srv.options.insert(key, str_node(line, v));
                }
                _ => self.missing("bad-header", line),
            }
            return;
        };
        match k {
            Kw::Via => match self.value() {
                Some(v) => srv.via = Some(str_node(line, v)),
                None => self.missing("via", line),
            },
            Kw::Protocol => match self.next() {
                Some(v) if !v.map => {
                    srv.protocol = Some(Node::str(line, v.text.to_ascii_lowercase()));
                }
                _ => self.missing(&t.text, line),
            },
            Kw::Auth => match self.next() {
                Some(v) if !v.map => {
                    srv.auth = Some(Node::str(line, v.text.to_ascii_lowercase()));
                }
                _ => self.missing(&t.text, line),
            },
            Kw::Port | Kw::Service => match self.value() {
                Some(v) => {
                    let node = match parse_number(&v.text) {
                        Some(n) => Node::int(line, n),
                        None if k == Kw::Service => str_node(line, v),
                        None => {
                            self.bad_value("port", v);
                            str_node(line, v)
                        }
                    };
                    srv.port = Some(node);
                }
                None => self.missing(key, line),
            },
            Kw::Timeout | Kw::Interval => match self.value() {
                Some(v) => match parse_number(&v.text) {
                    Some(n) => {
                        srv.options.insert(key, Node::int(line, n));
                    }
                    None => self.bad_value(key, v),
                },
                None => self.missing(key, line),
            },
            Kw::Aka | Kw::Localdomains => {
                let list = self.string_list(line);
                if list.is_empty() {
                    self.missing(key, line);
                }
                srv.options.insert(key, Node::unordered_list(line, list));
            }
            Kw::Esmtppassword => match self.value() {
                Some(v) => {
                    let node = self.secret_node(v, line);
                    srv.options.insert(key, node);
                }
                None => self.missing(key, line),
            },
            Kw::Envelope => {
                if let Some(v) = self.peek().filter(|v| v.is_value())
                    && let Some(n) = parse_number(&v.text)
                {
                    self.pos += 1;
                    srv.options.insert("envelope_skip", Node::int(line, n));
                }
                match self.value() {
                    Some(v) => {
                        srv.options.insert(key, str_node(line, v));
                    }
                    None => self.missing(key, line),
                }
            }
            k if is_server_flag(k) => {
                srv.options.insert(key, Node::bool(line, true));
            }
            _ => match self.value() {
                Some(v) => {
                    let node = self.string_node(v, line);
                    srv.options.insert(key, node);
                }
                None => self.missing(key, line),
            },
        }
    }

    /// Following values (strings or `a = b` mappings) as a list.
    fn string_list(&mut self, line: u32) -> Vec<Node> {
        let mut out = Vec::new();
        while let Some(v) = self.value() {
            out.push(str_node(line.max(v.line), v));
        }
        out
    }

    /// `user NAME [there]`, `user NAME... here` (local names), then the user's options.
    fn user_description(&mut self, srv: &mut Server, t: &Tok<'_>) {
        let line = t.line;
        let mut user = User::new(line);
        let Some(first) = self.next_not_map() else {
            self.missing("user", line);
            srv.users.push(user);
            return;
        };
        if self.peek().is_some_and(|n| n.is(Kw::There)) {
            self.pos += 1;
            user.name = Some(str_node(line, first));
        } else if self
            .peek()
            .is_some_and(|n| n.is(Kw::Here) || n.map || n.is_value())
        {
            // `user a b = c here`: local names. Without the closing `here` only the first word
            // is the (remote) user name; the words after it are read as options.
            let save = self.pos;
            let mut names = vec![str_node(line, first)];
            self.mapping_list(&mut names, line);
            if self.peek().is_some_and(|n| n.is(Kw::Here)) {
                self.pos += 1;
                user.local = Some(Node::unordered_list(line, names));
            } else {
                self.pos = save;
                user.name = Some(str_node(line, first));
            }
        } else {
            user.name = Some(str_node(line, first));
        }
        srv.users.push(user);
    }

    /// More names after the first: values, and `= name` turning the last one into a mapping.
    fn mapping_list(&mut self, names: &mut Vec<Node>, line: u32) {
        loop {
            if self.peek().is_some_and(|n| n.map) {
                self.pos += 1;
                let Some(target) = self.next_not_map() else {
                    self.missing("=", line);
                    return;
                };
                if let Some(last) = names.last_mut()
                    && let Value::Str(s) = &mut last.value
                {
                    s.push_str(" = ");
                    s.push_str(&target.text);
                }
                continue;
            }
            match self.value() {
                Some(v) => names.push(str_node(v.line, v)),
                None => return,
            }
        }
    }

    fn user_option(&mut self, user: &mut User, kw: Kw, t: &Tok<'_>) {
        let line = t.line;
        let key = kw.name();
        match kw {
            Kw::Is | Kw::To => {
                let Some(first) = self.next_not_map() else {
                    self.missing(key, line);
                    return;
                };
                if self.peek().is_some_and(|n| n.is(Kw::There)) {
                    // `is NAME there` names the remote user.
                    self.pos += 1;
                    user.name = Some(str_node(line, first));
                    return;
                }
                let mut names = vec![str_node(line, first)];
                self.mapping_list(&mut names, line);
                if self.peek().is_some_and(|n| n.is(Kw::Here)) {
                    self.pos += 1;
                }
                match &mut user.local {
                    Some(Node {
                        value: Value::List(existing),
                        ..
                    }) => existing.extend(names),
                    _ => user.local = Some(Node::unordered_list(line, names)),
                }
            }
            Kw::Password => match self.next_not_map() {
                Some(v) => user.password = Some(self.secret_node(v, line)),
                None => self.missing("password", line),
            },
            Kw::Folder | Kw::Smtphost | Kw::Fetchdomains => {
                let list = self.string_list(line);
                if list.is_empty() {
                    self.missing(key, line);
                }
                // fetchmail tries the `smtphost` list in order and forwards to the first host
                // that answers; folders and fetchdomains are sets.
                let node = if kw == Kw::Smtphost {
                    Node::ordered_list(line, list)
                } else {
                    Node::unordered_list(line, list)
                };
                if kw == Kw::Folder {
                    user.folders = Some(node);
                } else {
                    user.options.insert(key, node);
                }
            }
            Kw::Antispam => {
                let mut codes = Vec::new();
                while let Some(v) = self.peek().filter(|v| v.is_value()) {
                    let Some(n) = parse_number(&v.text) else {
                        break;
                    };
                    codes.push(Node::int(v.line, n));
                    self.pos += 1;
                }
                if codes.is_empty() {
                    self.missing(key, line);
                }
                user.options.insert(key, Node::unordered_list(line, codes));
            }
            Kw::Lmtp => {
                user.options.insert(key, Node::bool(line, true));
            }
            k if is_user_flag(k) => set_flag(user, k, Node::bool(line, true)),
            k if is_user_number(k) => match self.value() {
                Some(v) => match parse_number(&v.text) {
                    Some(n) => {
                        user.options.insert(key, Node::int(line, n));
                    }
                    None => self.bad_value(key, v),
                },
                None => self.missing(key, line),
            },
            _ => match self.value() {
                Some(v) => {
                    let node = self.string_node(v, line);
                    user.options.insert(key, node);
                }
                None => self.missing(key, line),
            },
        }
    }

    fn finish(mut self) -> Document {
        if self.unknown >= 3 && self.unknown > self.known && !self.has("fetchmail.not-fetchmailrc")
        {
            let line = self
                .diagnostics
                .iter()
                .find(|d| d.code == "fetchmail.unknown-keyword")
                .map_or(0, |d| d.line);
            self.diagnostics.push(Diagnostic::error(
                "fetchmail.not-fetchmailrc",
                line,
                format!(
                    "this does not look like a fetchmail rc file: {} of {} words are not fetchmail keywords; check the file or its --format",
                    self.unknown,
                    self.unknown + self.known
                ),
            ));
        }
        let mut set = std::mem::take(&mut self.set);
        set.push(
            "other",
            Node::unordered_list(self.set_line.max(1), std::mem::take(&mut self.set_other)),
        );
        let defaults = self.defaults.take();
        let inherited = Inherited::new(defaults.as_ref());
        let servers = std::mem::take(&mut self.polls);
        let mut polls = Vec::with_capacity(servers.len());
        polls.extend(servers.into_iter().map(|p| poll_node(p, &inherited)));
        drop(inherited);
        let defaults = match defaults {
            Some(d) => defaults_node(d),
            None => Node::null(1),
        };
        let polls_line = polls.first().map_or(1, |p| p.line);
        let root = Map::from_entries([
            ("set", Node::map(self.set_line.max(1), set)),
            ("defaults", defaults),
            ("polls", Node::unordered_list(polls_line, polls)),
        ]);
        self.diagnostics.sort_by_key(|d| d.line);
        Document {
            format: Format::Fetchmail,
            root: Node::map(1, root),
            diagnostics: self.diagnostics,
            secret_spans: self.spans,
        }
    }

    fn has(&self, code: &str) -> bool {
        self.diagnostics.iter().any(|d| d.code == code)
    }
}

/// The `set` keywords that are flags (`set no X` turns them off).
fn is_set_flag(k: Kw) -> bool {
    matches!(
        k,
        Kw::Bouncemail
            | Kw::Spambounce
            | Kw::Softbounce
            | Kw::Syslog
            | Kw::Invisible
            | Kw::Showdots
    )
}

fn push_unknown(options: &mut Map, t: &Tok<'_>) {
    let node = str_node(t.line, t);
    match options.get_mut("unknown") {
        Some(Node {
            value: Value::List(items),
            ..
        }) => items.push(node),
        _ => {
            options.insert("unknown", Node::unordered_list(t.line, vec![node]));
        }
    }
}

fn set_flag(user: &mut User, k: Kw, node: Node) {
    match k {
        Kw::Keep => user.keep = Some(node),
        Kw::Flush => user.flush = Some(node),
        Kw::Fetchall => user.fetchall = Some(node),
        Kw::Limitflush => user.limitflush = Some(node),
        Kw::Ssl => user.ssl = Some(node),
        _ => {
            user.options.insert(k.name(), node);
        }
    }
}

// ---- the tree ---------------------------------------------------------------------------

/// What the `defaults` entry passes on to every poll and its users.
struct Inherited<'d> {
    server: Option<&'d Server>,
    /// The server options it passes on, in order, with their keys.
    options: Vec<(MapKey, &'d Node)>,
    user: Option<&'d User>,
    user_options: Vec<(MapKey, &'d Node)>,
}

type MapKey = Cow<'static, str>;

impl<'d> Inherited<'d> {
    fn new(defaults: Option<&'d Server>) -> Self {
        let user = defaults.and_then(|d| d.users.first());
        Inherited {
            server: defaults,
            options: defaults.map_or_else(Vec::new, |d| inheritable(&d.options)),
            user,
            user_options: user.map_or_else(Vec::new, |u| inheritable(&u.options)),
        }
    }
}

/// The options of a `defaults` entry that it passes on: all but [`NOT_INHERITED`] and the
/// `unknown` list.
fn inheritable(options: &Map) -> Vec<(MapKey, &Node)> {
    options
        .iter()
        .filter(|(k, _)| !NOT_INHERITED.contains(k) && *k != "unknown")
        .map(|(k, v)| (static_key(k), v))
        .collect()
}

/// An option key as the static name it was stored under (every option key is a keyword's
/// name or `envelope_skip`), so that copying it allocates nothing.
fn static_key(k: &str) -> MapKey {
    match k {
        "envelope_skip" => Cow::Borrowed("envelope_skip"),
        "badheader" => Cow::Borrowed("badheader"),
        _ => match keyword_of(k) {
            Some(kw) => Cow::Borrowed(kw.name()),
            None => Cow::Owned(k.to_string()),
        },
    }
}

/// The entry's own node, else a copy of the one inherited from `defaults`, else `default`.
#[inline]
fn inherit(
    own: Option<Node>,
    inherited: Option<&Option<Node>>,
    default: impl FnOnce() -> Node,
) -> Node {
    match own {
        Some(n) => n,
        None => match inherited {
            Some(Some(n)) => n.clone(),
            _ => default(),
        },
    }
}

/// `own` options, plus the inherited options it does not set.
fn merged_options(own: Map, inherited: &[(MapKey, &Node)]) -> Map {
    let mut m = own;
    for (k, v) in inherited {
        if !m.contains_key(k) {
            m.push(k.clone(), (*v).clone());
        }
    }
    m
}

fn poll_node(p: Server, inh: &Inherited<'_>) -> Node {
    let line = p.line;
    let d = inh.server;
    let null = || Node::null(line);
    let mut users = p.users;
    if users.is_empty() {
        users.push(User::new(line));
    }
    // Collected into a vector of its own size: collecting in place would keep the (much
    // larger) buffer of the `User`s.
    let mut user_nodes = Vec::with_capacity(users.len());
    user_nodes.extend(users.into_iter().map(|u| effective_user_node(u, inh)));
    Node::map(
        line,
        Map::from_entries([
            ("name", p.name.unwrap_or_else(null)),
            ("skip", Node::bool(line, p.skip)),
            ("via", inherit(p.via, d.map(|d| &d.via), null)),
            (
                "protocol",
                inherit(p.protocol, d.map(|d| &d.protocol), null),
            ),
            ("port", inherit(p.port, d.map(|d| &d.port), null)),
            ("auth", inherit(p.auth, d.map(|d| &d.auth), null)),
            (
                "options",
                Node::map(line, merged_options(p.options, &inh.options)),
            ),
            ("users", Node::unordered_list(line, user_nodes)),
        ]),
    )
}

/// A user map of a poll: unset fields take the defaults entry's value, else fetchmail's
/// built-in default (flags false, lists empty, names null).
fn effective_user_node(u: User, inh: &Inherited<'_>) -> Node {
    let line = u.line;
    let d = inh.user;
    let null = || Node::null(line);
    let empty = || Node::unordered_list(line, Vec::new());
    let no = || Node::bool(line, false);
    Node::map(
        line,
        Map::from_entries([
            ("name", inherit(u.name, d.map(|d| &d.name), null)),
            ("local", inherit(u.local, d.map(|d| &d.local), empty)),
            (
                "password",
                inherit(u.password, d.map(|d| &d.password), null),
            ),
            ("folders", inherit(u.folders, d.map(|d| &d.folders), empty)),
            ("keep", inherit(u.keep, d.map(|d| &d.keep), no)),
            ("flush", inherit(u.flush, d.map(|d| &d.flush), no)),
            ("fetchall", inherit(u.fetchall, d.map(|d| &d.fetchall), no)),
            (
                "limitflush",
                inherit(u.limitflush, d.map(|d| &d.limitflush), no),
            ),
            ("ssl", inherit(u.ssl, d.map(|d| &d.ssl), no)),
            (
                "options",
                Node::map(line, merged_options(u.options, &inh.user_options)),
            ),
        ]),
    )
}

/// The defaults entry's user as written: unset fields are null.
fn written_user_node(u: User) -> Node {
    let line = u.line;
    let or_null = |n: Option<Node>| n.unwrap_or_else(|| Node::null(line));
    Node::map(
        line,
        Map::from_entries([
            ("name", or_null(u.name)),
            ("local", or_null(u.local)),
            ("password", or_null(u.password)),
            ("folders", or_null(u.folders)),
            ("keep", or_null(u.keep)),
            ("flush", or_null(u.flush)),
            ("fetchall", or_null(u.fetchall)),
            ("limitflush", or_null(u.limitflush)),
            ("ssl", or_null(u.ssl)),
            ("options", Node::map(line, u.options)),
        ]),
    )
}

fn defaults_node(d: Server) -> Node {
    let line = d.line;
    let or_null = |n: Option<Node>| n.unwrap_or_else(|| Node::null(line));
    let user = match d.users.into_iter().next() {
        Some(u) => written_user_node(u),
        None => Node::null(line),
    };
    Node::map(
        line,
        Map::from_entries([
            ("via", or_null(d.via)),
            ("protocol", or_null(d.protocol)),
            ("port", or_null(d.port)),
            ("auth", or_null(d.auth)),
            ("options", Node::map(line, d.options)),
            ("user", user),
        ]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at<'a>(node: &'a Node, path: &str) -> &'a Node {
        node.at_path(path)
            .unwrap_or_else(|| panic!("no node at {path} in {:?}", node.value))
    }

    fn v(node: &Node, path: &str) -> Value {
        at(node, path).value.clone()
    }

    fn st(s: &str) -> Value {
        Value::Str(s.to_string())
    }

    fn codes(doc: &Document) -> Vec<&'static str> {
        doc.diagnostics.iter().map(|d| d.code).collect()
    }

    fn clean(text: &str) -> Document {
        let doc = parse(text);
        assert!(doc.diagnostics.is_empty(), "{:?}", doc.diagnostics);
        doc
    }

    #[test]
    fn keep_flush_fetchall_and_defaults() {
        let doc = clean(concat!(
            "set daemon 300\n",
            "set no bouncemail\n",
            "defaults proto imap keep ssl\n",
            "poll a.example user alice password \"x\"\n",
            "poll b.example with proto pop3\n",
            "  user bob there with password 'y' is bob here no keep flush fetchall\n",
            "poll c.example user carol nokeep\n",
            "poll d.example\n",
        ));
        let r = &doc.root;
        assert_eq!(v(r, "set.daemon"), Value::Int(300));
        assert_eq!(v(r, "set.bouncemail"), Value::Bool(false));
        assert_eq!(v(r, "set.logfile"), Value::Null);
        assert_eq!(v(r, "defaults.protocol"), st("imap"));
        assert_eq!(v(r, "defaults.user.keep"), Value::Bool(true));
        assert_eq!(v(r, "defaults.user.flush"), Value::Null);
        // alice inherits keep and ssl from defaults; the node points at the defaults line.
        assert_eq!(v(r, "polls.0.users.0.keep"), Value::Bool(true));
        assert_eq!(at(r, "polls.0.users.0.keep").line, 3);
        assert_eq!(v(r, "polls.0.protocol"), st("imap"));
        assert_eq!(v(r, "polls.1.protocol"), st("pop3"));
        assert_eq!(v(r, "polls.1.users.0.name"), st("bob"));
        assert_eq!(v(r, "polls.1.users.0.keep"), Value::Bool(false));
        assert_eq!(v(r, "polls.1.users.0.flush"), Value::Bool(true));
        assert_eq!(v(r, "polls.1.users.0.fetchall"), Value::Bool(true));
        assert_eq!(v(r, "polls.1.users.0.local.0"), st("bob"));
        assert_eq!(v(r, "polls.2.users.0.keep"), Value::Bool(false));
        // A poll without a user description polls one implicit user.
        assert_eq!(v(r, "polls.3.users.0.name"), Value::Null);
        assert_eq!(v(r, "polls.3.users.0.keep"), Value::Bool(true));
    }

    #[test]
    fn without_defaults_keep_is_false() {
        let doc = clean("poll mail.example.net protocol imap user u password p\n");
        assert_eq!(v(&doc.root, "defaults"), Value::Null);
        assert_eq!(v(&doc.root, "polls.0.users.0.keep"), Value::Bool(false));
        assert_eq!(v(&doc.root, "polls.0.users.0.ssl"), Value::Bool(false));
    }

    #[test]
    fn several_users_folders_and_local_names() {
        let doc = clean(concat!(
            "poll imap.example.org proto imap port 993 auth password timeout 60:\n",
            "  user \"ann\" with pass \"a1\" is ann annie here options keep ssl\n",
            "    folder INBOX, \"Sent Items\", Archive\n",
            "  user joe there is * here fetchall\n",
            "  user x y = z here\n",
        ));
        let r = &doc.root;
        assert_eq!(v(r, "polls.0.port"), Value::Int(993));
        assert_eq!(v(r, "polls.0.auth"), st("password"));
        assert_eq!(v(r, "polls.0.options.timeout"), Value::Int(60));
        assert_eq!(v(r, "polls.0.users.0.name"), st("ann"));
        assert_eq!(v(r, "polls.0.users.0.local.1"), st("annie"));
        assert_eq!(v(r, "polls.0.users.0.folders.1"), st("Sent Items"));
        assert_eq!(at(r, "polls.0.users.0.folders.2").line, 3);
        assert_eq!(v(r, "polls.0.users.1.local.0"), st("*"));
        assert_eq!(v(r, "polls.0.users.1.fetchall"), Value::Bool(true));
        assert_eq!(v(r, "polls.0.users.2.name"), Value::Null);
        assert_eq!(v(r, "polls.0.users.2.local.1"), st("y = z"));
    }

    #[test]
    fn skip_via_service_and_server_synonym() {
        let doc = clean(concat!(
            "skip old.example via 10.0.0.1 protocol IMAP service imaps\n",
            "server new.example proto POP3 uidl no dns user u\n",
        ));
        let r = &doc.root;
        assert_eq!(v(r, "polls.0.skip"), Value::Bool(true));
        assert_eq!(v(r, "polls.0.via"), st("10.0.0.1"));
        assert_eq!(v(r, "polls.0.protocol"), st("imap"));
        assert_eq!(v(r, "polls.0.port"), st("imaps"));
        assert_eq!(v(r, "polls.1.name"), st("new.example"));
        assert_eq!(v(r, "polls.1.options.uidl"), Value::Bool(true));
        assert_eq!(v(r, "polls.1.options.dns"), Value::Bool(false));
    }

    #[test]
    fn names_after_user_may_look_like_keywords() {
        let doc = clean("poll p user keep password keep is keep here\n");
        let r = &doc.root;
        assert_eq!(v(r, "polls.0.users.0.name"), st("keep"));
        assert_eq!(v(r, "polls.0.users.0.local.0"), st("keep"));
        assert_eq!(v(r, "polls.0.users.0.keep"), Value::Bool(false));
    }

    #[test]
    fn passwords_are_secrets_with_spans() {
        let text = "poll p user u password \"s3cr et\" esmtppassword Esmtp-Pw\npoll q user v pass 'single#q'\n";
        let doc = parse(text);
        assert!(
            doc.diagnostics
                .iter()
                .any(|d| d.code == "fetchmail.server-option-after-user")
        );
        let doc = clean(
            "poll p esmtppassword Esmtp-Pw user u password \"s3cr et\"\npoll q user v pass 'single#q'\n",
        );
        let dump = doc.dump();
        let redacted = doc.redact_source(text);
        for secret in ["s3cr et", "Esmtp-Pw", "single#q"] {
            assert!(!dump.contains(secret), "{secret}");
        }
        assert!(!doc
            .redact_source("poll p esmtppassword Esmtp-Pw user u password \"s3cr et\"\npoll q user v pass 'single#q'\n")
            .contains("s3cr"));
        assert!(redacted.contains("poll"));
        assert_eq!(doc.secret_spans.len(), 3);
        assert_ne!(
            parse("poll p user u password a\n").content_hash(),
            parse("poll p user u password b\n").content_hash()
        );
    }

    #[test]
    fn strings_escapes_comments_and_continuations() {
        let doc = clean(concat!(
            "# comment line\n",
            "poll p.example # trailing comment\n",
            "  user u password \"a\\x41\\101\\n\" \\\n",
            "  mda \"/usr/bin/procmail -d %T\"\n",
            "  folder \"multi\nline\"\n",
            "  keep\n",
        ));
        let r = &doc.root;
        assert_eq!(
            v(r, "polls.0.users.0.options.mda"),
            st("/usr/bin/procmail -d %T")
        );
        assert_eq!(v(r, "polls.0.users.0.folders.0"), st("multi\nline"));
        assert_eq!(at(r, "polls.0.users.0.keep").line, 7);
    }

    #[test]
    fn fetchmail_escape_rules() {
        assert_eq!(unescape("a\\x41\\101\\n\\\\"), "aAe\n\\");
        assert_eq!(unescape("\\0101x"), "\u{8}1x");
        assert_eq!(unescape("\\q"), "q");
        assert_eq!(unescape("end\\"), "end");
    }

    #[test]
    fn quoted_name_followed_by_text_is_one_word() {
        // fetchmail's lexer takes the longest match here: the password is `"a"b"`.
        let doc = clean("poll p user u password \"a\\\"b\" keep\n");
        assert_eq!(doc.secret_spans, vec![23..29]);
        assert_eq!(
            v(&doc.root, "polls.0.users.0.password"),
            Value::Secret(Secret::whole("\"a\"b\""))
        );
    }

    #[test]
    fn url_credentials_in_strings_are_redacted() {
        let doc = clean("poll p plugin \"proxy http://me:Pr0xyPw@proxy:3128\" user u\n");
        assert!(!doc.dump().contains("Pr0xyPw"));
        assert_eq!(doc.secret_spans.len(), 1);
    }

    #[test]
    fn diagnostics() {
        let doc = parse("poll\npoll user x\n");
        assert_eq!(
            codes(&doc),
            ["fetchmail.missing-server", "fetchmail.missing-server"]
        );
        let doc = parse("poll p user u frobnicate keep\n");
        assert_eq!(codes(&doc), ["fetchmail.unknown-keyword"]);
        assert!(!doc.has_errors());
        assert_eq!(
            v(&doc.root, "polls.0.users.0.options.unknown.0"),
            st("frobnicate")
        );
        let doc = parse("poll p user u keep via relay\n");
        assert_eq!(codes(&doc), ["fetchmail.server-option-after-user"]);
        let doc = parse("poll p user u\ndefaults keep\n");
        assert_eq!(codes(&doc), ["fetchmail.defaults-misplaced"]);
        let doc = parse("poll p port abc user u password\n");
        assert_eq!(
            codes(&doc),
            ["fetchmail.bad-value", "fetchmail.missing-value"]
        );
        let doc = parse("poll p user u mda \"never closed\n");
        assert_eq!(codes(&doc), ["fetchmail.unterminated-string"]);
        let doc = parse("set frobnicate\n");
        assert_eq!(codes(&doc), ["fetchmail.unknown-keyword"]);
    }

    #[test]
    fn not_a_fetchmailrc() {
        for text in [
            "polls:\n  - server: mail.example.com\n    user: alice\n",
            "{\"poll\": \"x\"}",
            "[section]\nkey = value\n",
        ] {
            let doc = parse(text);
            assert!(
                codes(&doc).contains(&"fetchmail.not-fetchmailrc"),
                "{text}: {:?}",
                doc.diagnostics
            );
        }
    }

    #[test]
    fn identity_keys() {
        let doc = clean("poll a user u1 user u2\n");
        let id = |p: &str| crate::diff::identity_of(at(&doc.root, p));
        assert_eq!(id("polls.0").as_deref(), Some("a"));
        assert_eq!(id("polls.0.users.1").as_deref(), Some("u2"));
    }

    /// The keyword list of the first, string-matching lexer: the reference for [`classify`].
    const REFERENCE_KEYWORDS: &[&str] = &[
        "set",
        "logfile",
        "idfile",
        "pidfile",
        "daemon",
        "syslog",
        "invisible",
        "showdots",
        "postmaster",
        "bouncemail",
        "spambounce",
        "softbounce",
        "warnings",
        "tracepolls",
        "defaults",
        "server",
        "poll",
        "skip",
        "via",
        "aka",
        "local",
        "localdomains",
        "proto",
        "protocol",
        "service",
        "port",
        "interval",
        "preauth",
        "preauthenticate",
        "auth",
        "authenticate",
        "timeout",
        "idletimeout",
        "envelope",
        "qvirtual",
        "principal",
        "esmtpname",
        "esmtppassword",
        "bad-header",
        "accept",
        "reject",
        "user",
        "username",
        "pass",
        "password",
        "folder",
        "folders",
        "smtp",
        "smtphost",
        "fetchdomains",
        "smtpaddress",
        "smtpname",
        "antispam",
        "mda",
        "bsmtp",
        "lmtp",
        "pre",
        "preconnect",
        "post",
        "postconnect",
        "interface",
        "monitor",
        "plugin",
        "plugout",
        "batchlimit",
        "fetchlimit",
        "fetchsizelimit",
        "fastuidl",
        "expunge",
        "properties",
        "is",
        "here",
        "there",
        "to",
        "no",
        "keep",
        "flush",
        "limitflush",
        "fetchall",
        "rewrite",
        "forcecr",
        "stripcr",
        "pass8",
        "pass8bits",
        "dropstatus",
        "dropdelivered",
        "mimedec",
        "mimedecode",
        "idle",
        "forceidle",
        "dns",
        "uidl",
        "ssl",
        "sslkey",
        "sslcert",
        "sslproto",
        "sslcertck",
        "sslcertfile",
        "sslcertpath",
        "sslcommonname",
        "sslfingerprint",
        "checkalias",
        "limit",
    ];

    #[test]
    fn word_table_agrees_with_the_keyword_lists() {
        assert_eq!(KEYWORDS.len(), REFERENCE_KEYWORDS.len());
        for &w in REFERENCE_KEYWORDS {
            let k = keyword_of(w).unwrap_or_else(|| panic!("{w} is a keyword"));
            assert_eq!(k.name(), w);
        }
        for w in NOISE {
            assert_eq!(classify(w.as_bytes()), Some(Class::Noise), "{w}");
        }
        for (w, _) in NO_WORDS {
            // `nokeep` is `no` + the keyword `keep`.
            let rest = keyword_of(&w[2..]);
            assert!(rest.is_some(), "{w}");
            assert_eq!(classify(w.as_bytes()), rest.map(Class::No), "{w}");
        }
        for w in [
            "",
            "x",
            "*",
            "badheader",
            "KEEP",
            "Keep",
            "keeps",
            "kee",
            "nokee",
            "nokeeps",
            "noset",
            "an",
            "andd",
            "nono",
            "sslcertcheck",
            "preauthenticated",
            "a-very-long-word-that-is-no-keyword",
            "imap.example.net",
            "é",
            "keep\\",
        ] {
            assert_eq!(classify(w.as_bytes()), None, "{w:?}");
        }
        // Every word of every length up to the longest, with any last byte, is looked up
        // without a panic and only the table's words are found.
        for (w, class) in WORDS {
            for b in 0..=255u8 {
                let mut v = w.as_bytes().to_vec();
                if let Some(last) = v.last_mut() {
                    *last = b;
                }
                let found = classify(&v);
                let expected = WORDS.iter().find(|(x, _)| x.as_bytes() == v).map(|e| e.1);
                assert_eq!(found, expected, "{w} / {b}");
            }
            assert_eq!(classify(w.as_bytes()), Some(class));
        }
    }

    #[test]
    fn canonical_names_are_keywords_or_badheader() {
        // Option keys are stored as static names; `static_key` finds them again.
        for (w, k) in KEYWORDS {
            let name = canonical(*k).name();
            assert_eq!(static_key(name), name, "{w}");
            assert!(matches!(static_key(name), Cow::Borrowed(_)), "{w}");
        }
    }

    #[test]
    fn escaped_bare_words_are_keywords_by_their_unescaped_text() {
        // Words are unescaped before they are told apart: `kee\p` is the keyword `keep` and
        // `us\er` the keyword `user`.
        let doc = clean("poll p user u kee\\p\n");
        assert_eq!(v(&doc.root, "polls.0.users.0.keep"), Value::Bool(true));
        let doc = clean("poll p us\\er alice\n");
        assert_eq!(v(&doc.root, "polls.0.users.0.name"), st("alice"));
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_any_text(text in "(\\PC{0,40}\n){0,8}") {
            let _ = parse(&text);
        }

        #[test]
        fn rc_like_text_keeps_secret_spans_in_bounds(
            text in "((poll|user|password|pass|esmtppassword|is|here|there|keep|no|nokeep|auth|with|defaults|set|mda|=|\"|'|\\\\|#|,|\n|é|http://u:p@h|[a-z]{1,6})[ \n]){0,40}"
        ) {
            let doc = parse(&text);
            for r in &doc.secret_spans {
                proptest::prop_assert!(r.start <= r.end && r.end <= text.len());
                proptest::prop_assert!(text.is_char_boundary(r.start) && text.is_char_boundary(r.end));
            }
        }
    }

    #[test]
    fn never_panics() {
        for text in [
            "poll",
            "set",
            "set daemon",
            "user",
            "\"",
            "'",
            "=",
            "poll p user",
            "poll p is",
            "poll p user a =",
            "poll p envelope 1",
            "poll p bad-header",
            "\\",
            "poll p \\\n",
            "poll p user u antispam",
            "no",
            "poll p no",
            "poll p no frob",
            "poll p auth",
        ] {
            let _ = parse(text);
        }
    }
}
