//! fetchmail's keywords: the word table the lexer classifies bare words with (a `const` FNV-1a
//! hash table, see the module root), the canonical names of synonyms, and which keywords are
//! statements, server options and user options.

macro_rules! keywords {
    ($($kw:ident = $name:literal,)*) => {
        /// A fetchmail keyword (as written, or the canonical name of a synonym).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(super) enum Kw {
            $($kw,)*
        }

        impl Kw {
            /// The keyword as written (and as a map key).
            pub(super) fn name(self) -> &'static str {
                match self {
                    $(Kw::$kw => $name,)*
                }
            }
        }

        /// Every keyword fetchmail's lexer knows, with its word.
        pub(super) const KEYWORDS: &[(&str, Kw)] = &[$(($name, Kw::$kw),)*];
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
pub(super) enum Class {
    Kw(Kw),
    /// `and with has wants options`: ignored.
    Noise,
    /// A `no`-prefixed word that fetchmail's lexer splits into `no` + this keyword.
    No(Kw),
}

pub(super) const NOISE: [&str; 5] = ["and", "with", "has", "wants", "options"];

/// `no`-prefixed keywords that fetchmail's lexer splits into `no` + keyword.
pub(super) const NO_WORDS: [(&str, Kw); 19] = [
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
pub(super) const WORDS: [(&str, Class); KEYWORDS.len() + NOISE.len() + NO_WORDS.len()] = {
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
pub(super) fn classify(w: &[u8]) -> Option<Class> {
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
pub(super) fn keyword_of(w: &str) -> Option<Kw> {
    match classify(w.as_bytes()) {
        Some(Class::Kw(k)) => Some(k),
        _ => None,
    }
}

/// The canonical keyword of a keyword with synonyms. `bad-header` becomes `badheader`, which
/// is no keyword of the lexer: [`Canon::BadHeader`].
pub(super) fn canonical(k: Kw) -> Canon {
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
pub(super) enum Canon {
    Kw(Kw),
    /// `bad-header`, stored as `badheader`.
    BadHeader,
}

impl Canon {
    pub(super) fn name(self) -> &'static str {
        match self {
            Canon::Kw(k) => k.name(),
            Canon::BadHeader => "badheader",
        }
    }
}

pub(super) fn is_statement(k: Kw) -> bool {
    matches!(k, Kw::Set | Kw::Defaults | Kw::Poll | Kw::Server | Kw::Skip)
}

pub(super) fn is_server_option(k: Canon) -> bool {
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
pub(super) fn is_server_flag(k: Kw) -> bool {
    matches!(
        k,
        Kw::Uidl | Kw::Checkalias | Kw::Dns | Kw::Tracepolls | Kw::Envelope
    )
}

pub(super) fn is_user_flag(k: Kw) -> bool {
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

pub(super) fn is_user_string(k: Kw) -> bool {
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

pub(super) fn is_user_number(k: Kw) -> bool {
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
pub(super) fn is_user_option(k: Kw) -> bool {
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

/// The `set` keywords that are flags (`set no X` turns them off).
pub(super) fn is_set_flag(k: Kw) -> bool {
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
