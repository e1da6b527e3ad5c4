//! Reading guardrail's own YAML files (guardrail.yaml, policies, waivers, test cases) with
//! `serde-saphyr`, and turning its errors into line-precise diagnostics. An unknown key names
//! the nearest known one (`unknown field `enforcment` (did you mean `enforcement`?)`).

use serde::de::DeserializeOwned;
use serde_saphyr::Error;

use super::Diagnostic;
use super::names::hint_unknown_field;

/// The 1-based line of a spanned value.
pub fn line_of<T>(s: &serde_saphyr::Spanned<T>) -> u32 {
    u32::try_from(s.referenced.line()).unwrap_or(u32::MAX)
}

/// Deserializes `text`; on failure returns one error diagnostic whose code is
/// `<prefix>.unknown-field`, `<prefix>.missing-field`, `<prefix>.duplicate-key`,
/// `<prefix>.schema` (a value of the wrong type) or `<prefix>.yaml` (a syntax error).
pub fn parse<T: DeserializeOwned>(text: &str, codes: &Codes) -> Result<T, Diagnostic> {
    let blank = text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t == "---"
    });
    if blank {
        return Err(Diagnostic::error(codes.empty, 1, "the file is empty"));
    }
    serde_saphyr::from_str::<T>(text).map_err(|e| to_diagnostic(&e, codes))
}

/// The codes one kind of file uses for its YAML problems.
pub struct Codes {
    pub empty: &'static str,
    pub yaml: &'static str,
    pub unknown_field: &'static str,
    pub missing_field: &'static str,
    pub duplicate_key: &'static str,
    pub schema: &'static str,
}

pub const CONFIG_CODES: Codes = Codes {
    empty: "config.empty",
    yaml: "config.syntax",
    unknown_field: "config.unknown-field",
    missing_field: "config.missing-field",
    duplicate_key: "config.duplicate-key",
    schema: "config.schema",
};

pub const POLICY_CODES: Codes = Codes {
    empty: "policy.empty",
    yaml: "policy.yaml",
    unknown_field: "policy.unknown-field",
    missing_field: "policy.missing-field",
    duplicate_key: "policy.duplicate-key",
    schema: "policy.schema",
};

pub const WAIVER_CODES: Codes = Codes {
    empty: "waiver.empty",
    yaml: "waiver.yaml",
    unknown_field: "waiver.unknown-field",
    missing_field: "waiver.missing-field",
    duplicate_key: "waiver.duplicate-key",
    schema: "waiver.schema",
};

pub const TEST_CODES: Codes = Codes {
    empty: "test.empty",
    yaml: "test.yaml",
    unknown_field: "test.unknown-field",
    missing_field: "test.missing-field",
    duplicate_key: "test.duplicate-key",
    schema: "test.schema",
};

pub fn to_diagnostic(e: &Error, codes: &Codes) -> Diagnostic {
    let inner = e.without_snippet();
    let code = match inner {
        Error::SerdeUnknownField { .. } => codes.unknown_field,
        Error::SerdeMissingField { .. } => codes.missing_field,
        Error::DuplicateMappingKey { .. } => codes.duplicate_key,
        Error::SerdeInvalidType { .. }
        | Error::SerdeInvalidValue { .. }
        | Error::SerdeUnknownVariant { .. }
        | Error::SerdeInvalidLength { .. }
        | Error::InvalidScalar { .. }
        | Error::NullIntoString { .. }
        | Error::InvalidBooleanStrict { .. }
        | Error::Message { .. } => codes.schema,
        _ => codes.yaml,
    };
    let line = e.location().map(|l| l.line()).unwrap_or(0);
    let mut message = inner.to_string();
    // The message ends with "at line N, column M"; the diagnostic carries the line itself.
    if let Some(i) = message.rfind(" at line ") {
        message.truncate(i);
    }
    let message = hint_unknown_field(message.trim());
    let message = if message.is_empty() {
        "the file is not valid YAML".to_string()
    } else {
        message
    };
    Diagnostic::error(code, u32::try_from(line).unwrap_or(0), message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        a: u32,
    }

    #[test]
    fn errors_carry_codes_and_lines() {
        let e = parse::<T>("a: 1\nb: 2\n", &POLICY_CODES).unwrap_err();
        assert_eq!((e.code, e.line), ("policy.unknown-field", 2));
        assert!(e.message.contains("unknown field `b`"), "{}", e.message);
        let e = parse::<T>("a: [1,\n  b: {\n", &POLICY_CODES).unwrap_err();
        assert_eq!(e.code, "policy.yaml");
        let e = parse::<T>("a: many\n", &POLICY_CODES).unwrap_err();
        assert_eq!((e.code, e.line), ("policy.schema", 1));
        let e = parse::<T>("# nothing\n", &POLICY_CODES).unwrap_err();
        assert_eq!(e.code, "policy.empty");
    }
}
