//! Unknown names answered with the nearest known one: keys of guardrail.yaml, policy, test and
//! waiver files, policy and parameter names, environments, formats. One rule everywhere, so a
//! typo reads the same whatever file it is in: "unknown environment `prodution` (did you mean
//! `production`?); known: production, staging".

/// The known name closest to `given` by edit distance (Damerau-Levenshtein, so a swap of two
/// letters is one edit), when it is close enough to be a typo: at most a third of the longer
/// name's length, and at least one edit. Ties go to the first known name.
pub fn nearest<'a>(given: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let given_lower = given.to_ascii_lowercase();
    known
        .into_iter()
        .map(|k| {
            (
                strsim::damerau_levenshtein(&given_lower, &k.to_ascii_lowercase()),
                k,
            )
        })
        .filter(|(d, k)| *d <= (k.chars().count().max(given.chars().count()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// ` (did you mean `x`?)`, or nothing when no known name is close.
pub fn did_you_mean<'a>(given: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    nearest(given, known)
        .map(|n| format!(" (did you mean `{n}`?)"))
        .unwrap_or_default()
}

/// "unknown WHAT `given` (did you mean `x`?); known: a, b".
pub fn unknown_name<'a>(
    what: &str,
    given: &str,
    known: impl IntoIterator<Item = &'a str> + Clone,
) -> String {
    let list: Vec<&str> = known.clone().into_iter().collect();
    format!(
        "unknown {what} `{given}`{}; known: {}",
        did_you_mean(given, known),
        if list.is_empty() {
            "none".to_string()
        } else {
            list.join(", ")
        }
    )
}

/// Rewrites serde's "unknown field `x`, expected one of `a`, `b`" (or "expected `a`") so that it
/// names the nearest field: "unknown field `x` (did you mean `a`?), expected one of `a`, `b`".
/// Other messages are returned unchanged.
pub fn hint_unknown_field(message: &str) -> String {
    const MARK: &str = "unknown field `";
    let Some(start) = message.find(MARK) else {
        return message.to_string();
    };
    let name_start = start + MARK.len();
    let Some(name_len) = message[name_start..].find('`') else {
        return message.to_string();
    };
    let name = &message[name_start..name_start + name_len];
    let rest = &message[name_start + name_len + 1..];
    let expected = rest
        .find("expected")
        .map(|i| &rest[i..])
        .unwrap_or_default();
    let known: Vec<&str> = expected
        .trim_start_matches("expected one of")
        .trim_start_matches("expected")
        .split(',')
        .map(|w| w.trim().trim_matches('`').trim())
        .filter(|w| !w.is_empty() && !w.contains(' '))
        .collect();
    let hint = did_you_mean(name, known.iter().copied());
    if hint.is_empty() {
        return message.to_string();
    }
    format!("{}{name}`{hint}{rest}", &message[..name_start])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_their_name_and_strangers_do_not() {
        let known = ["production", "staging", "headroom", "max_removed_share"];
        assert_eq!(nearest("prodution", known), Some("production"));
        assert_eq!(nearest("Production", known), Some("production"));
        assert_eq!(nearest("stagnig", known), Some("staging"));
        assert_eq!(nearest("headrom", known), Some("headroom"));
        assert_eq!(
            nearest("max_removed_shar", known),
            Some("max_removed_share")
        );
        assert_eq!(nearest("qa", known), None);
        assert_eq!(nearest("completely-different", known), None);
    }

    #[test]
    fn unknown_name_lists_the_known_ones() {
        assert_eq!(
            unknown_name("environment", "prodution", ["production", "staging"]),
            "unknown environment `prodution` (did you mean `production`?); known: production, staging"
        );
        assert_eq!(
            unknown_name("format", "xml", ["yaml", "json"]),
            "unknown format `xml`; known: yaml, json"
        );
    }

    #[test]
    fn serde_unknown_field_messages_gain_a_hint() {
        assert_eq!(
            hint_unknown_field(
                "unknown field `enforcment`, expected one of id, description, enforcement, message"
            ),
            "unknown field `enforcment` (did you mean `enforcement`?), expected one of id, description, enforcement, message"
        );
        assert_eq!(
            hint_unknown_field(
                "error: line 4 column 5: unknown field `pth`, expected one of `name`, `kind`, `path`"
            ),
            "error: line 4 column 5: unknown field `pth` (did you mean `path`?), expected one of `name`, `kind`, `path`"
        );
        assert_eq!(
            hint_unknown_field("unknown field `zzzzzz`, expected `id`"),
            "unknown field `zzzzzz`, expected `id`"
        );
        assert_eq!(hint_unknown_field("invalid type"), "invalid type");
    }
}
