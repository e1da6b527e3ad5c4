use std::borrow::Cow;

use super::keywords::{Class, KEYWORDS, NO_WORDS, NOISE, WORDS, canonical, classify, keyword_of};
use super::lexer::unescape;
use super::parse;
use super::tree::static_key;
use crate::document::{Document, Node, Secret, Value};

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
