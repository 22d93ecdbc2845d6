//! Bounded free text: names, notes and labels are trimmed, must not be empty where required, and
//! have a maximum length in characters (not bytes). Control characters other than line breaks and
//! tabs are refused so that nothing invisible ends up in a ledger that people read.

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("required")]
    Empty,
    #[error("too long (at most {0} characters)")]
    TooLong(usize),
    #[error("contains control characters")]
    Control,
}

pub fn required(s: &str, max: usize) -> Result<String, TextError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(TextError::Empty);
    }
    bounded(t, max)
}

pub fn optional(s: Option<&str>, max: usize) -> Result<Option<String>, TextError> {
    match s.map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => bounded(t, max).map(Some),
    }
}

fn bounded(t: &str, max: usize) -> Result<String, TextError> {
    if t.chars().count() > max {
        return Err(TextError::TooLong(max));
    }
    if t.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(TextError::Control);
    }
    Ok(t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_in_characters() {
        assert_eq!(required("  张三 ", 2), Ok("张三".into()));
        assert_eq!(required("张三丰", 2), Err(TextError::TooLong(2)));
        assert_eq!(required("   ", 2), Err(TextError::Empty));
        assert_eq!(required("a\u{0}b", 9), Err(TextError::Control));
        assert_eq!(optional(Some(" "), 5), Ok(None));
        assert_eq!(optional(Some("<script>"), 20), Ok(Some("<script>".into())));
        assert_eq!(
            required(&"字".repeat(100_000), 200),
            Err(TextError::TooLong(200))
        );
    }
}
