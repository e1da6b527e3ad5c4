//! Checks of free text and names a request carries. Titles, reasons, tickets and the like are
//! one line; notes and comments may span lines. Neither may hold another control character (a
//! terminal escape sequence in a title would run in the terminal of whoever lists changes):
//! such input is refused with 422 naming the field, so what the store holds is always safe to
//! print. Unknown names are refused with the nearest known one.

use super::{Result, Runtime, ServiceError};

/// What a text field may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Text {
    /// One line: no control character at all.
    Line,
    /// Several lines: newlines and tabs, no other control character.
    Lines,
}

/// Whether `c` may not be stored in a field of this kind: C0 controls (but newline and tab in
/// [`Text::Lines`]), DEL and C1 controls.
pub fn forbidden(c: char, kind: Text) -> bool {
    match c {
        '\n' | '\t' => kind == Text::Line,
        c => c.is_control(),
    }
}

/// Refuses a field holding a control character (422 naming the field and where).
pub fn text_field(field: &str, value: &str, kind: Text) -> Result<()> {
    if let Some((i, c)) = value.char_indices().find(|(_, c)| forbidden(*c, kind)) {
        return Err(ServiceError::invalid(
            field,
            format!(
                "control character U+{:04X} at byte {i}; {} may not hold control characters{}",
                c as u32,
                field,
                if kind == Text::Lines {
                    " other than newlines and tabs"
                } else {
                    ""
                }
            ),
        ));
    }
    Ok(())
}

pub use guardrail_core::document::names::{nearest, unknown_name};

/// Refuses an environment guardrail.yaml does not declare (a typo must not create a change or a
/// freeze that applies to nothing, nor get a gate answer or an evaluation for nothing): 422
/// naming the field, the nearest name and the declared ones.
pub(super) fn known_env(rt: &Runtime, env: &str) -> Result<()> {
    if rt.config.environments.iter().any(|e| e == env) {
        return Ok(());
    }
    Err(ServiceError::invalid(
        "env",
        unknown_name(
            "environment",
            env,
            rt.config.environments.iter().map(String::as_str),
        ) + " (guardrail.yaml declares them)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_refused_by_field_kind() {
        assert!(text_field("title", "raise timeout", Text::Line).is_ok());
        assert!(text_field("title", "a\x1b[31mred", Text::Line).is_err());
        assert!(text_field("title", "two\nlines", Text::Line).is_err());
        assert!(text_field("note", "two\nlines\tok", Text::Lines).is_ok());
        assert!(text_field("note", "bell\x07", Text::Lines).is_err());
        assert!(text_field("note", "c1\u{9b}31m", Text::Lines).is_err());
        let e = text_field("comment", "x\x1b", Text::Lines).unwrap_err();
        assert!(matches!(e, ServiceError::Unprocessable { field: Some(f), .. } if f == "comment"));
    }

    #[test]
    fn the_nearest_name_is_offered() {
        let envs = ["staging", "production"];
        assert_eq!(nearest("stagign", envs), Some("staging"));
        assert_eq!(nearest("prod", envs), None);
        assert_eq!(nearest("moon", envs), None);
        let m = unknown_name("environment", "stagign", envs);
        assert!(
            m.contains("did you mean `staging`") && m.contains("production"),
            "{m}"
        );
    }
}
