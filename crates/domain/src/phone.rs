//! Chinese phone numbers. Input arrives in every shape people write ("+86 138-1234-5678",
//! "(021)6234 5678", "400 820 8820"); it is normalised to digits so that duplicates are found by
//! equality. Masking keeps the prefix and the last four digits (138****5678), which is what agents
//! read back to callers.

use serde::{Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Phone(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("empty phone number")]
    Empty,
    #[error("a phone number may contain only digits, spaces, '+', '-' and brackets")]
    BadCharacters,
    #[error("not a Chinese mobile, landline or 400/800 number")]
    BadShape,
}

impl Phone {
    /// Parses and normalises. Mobiles become 11 digits (13812345678); landlines keep their
    /// leading zero and area code (02162345678); 400/800 service numbers are 10 digits.
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(PhoneError::Empty);
        }
        let mut digits = String::with_capacity(trimmed.len());
        for (i, ch) in trimmed.chars().enumerate() {
            match ch {
                '0'..='9' => digits.push(ch),
                '+' if i == 0 => {}
                ' ' | '-' | '(' | ')' | '\u{3000}' | '（' | '）' => {}
                _ => return Err(PhoneError::BadCharacters),
            }
        }
        let digits = if let Some(rest) = digits.strip_prefix("0086") {
            rest.to_string()
        } else if digits.len() == 13 && digits.starts_with("86") {
            digits[2..].to_string()
        } else if digits.len() > 11 && trimmed.starts_with('+') && digits.starts_with("86") {
            // +86 21 6234 5678: landline written without its trunk zero.
            format!("0{}", &digits[2..])
        } else {
            digits
        };
        if is_mobile(&digits) || is_landline(&digits) || is_service(&digits) {
            Ok(Self(digits))
        } else {
            Err(PhoneError::BadShape)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_mobile(&self) -> bool {
        is_mobile(&self.0)
    }

    /// 138****5678 for mobiles; area code + **** + last four for landlines.
    pub fn masked(&self) -> String {
        let d = &self.0;
        // Mobiles, 400/800 numbers and the two-digit area codes (010, 02x) keep three digits.
        let keep_head =
            if is_mobile(d) || is_service(d) || d.starts_with("01") || d.starts_with("02") {
                3
            } else {
                4
            };
        let tail = d.len().saturating_sub(4).max(keep_head);
        format!("{}****{}", &d[..keep_head], &d[tail..])
    }
}

fn is_mobile(d: &str) -> bool {
    d.len() == 11 && d.starts_with('1') && matches!(d.as_bytes()[1], b'3'..=b'9')
}

fn is_landline(d: &str) -> bool {
    // 0 + 2- or 3-digit area code + 7- or 8-digit subscriber number.
    d.starts_with('0') && (10..=12).contains(&d.len()) && d.as_bytes()[1] != b'0'
}

fn is_service(d: &str) -> bool {
    d.len() == 10 && (d.starts_with("400") || d.starts_with("800"))
}

impl std::fmt::Display for Phone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Phone {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Whether a search term looks like (part of) a phone number rather than a name.
pub fn looks_like_phone_fragment(q: &str) -> bool {
    let digits = q.chars().filter(char::is_ascii_digit).count();
    digits >= 4
        && q.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '+'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_the_shapes_people_write() {
        let cases = [
            ("13812345678", "13812345678"),
            ("+86 138-1234-5678", "13812345678"),
            ("0086 13812345678", "13812345678"),
            ("8613812345678", "13812345678"),
            ("(021)6234 5678", "02162345678"),
            ("0571-88881234", "057188881234"),
            ("+86 21 6234 5678", "02162345678"),
            ("400 820 8820", "4008208820"),
            ("１3812345678", ""),
        ];
        for (input, want) in cases {
            match Phone::parse(input) {
                Ok(p) => assert_eq!(p.as_str(), want, "{input}"),
                Err(_) => assert!(want.is_empty(), "{input} should parse"),
            }
        }
    }

    #[test]
    fn refuses_what_is_not_a_phone() {
        for input in [
            "",
            "12345",
            "23812345678",
            "1381234567",
            "138123456789",
            "<script>",
            "1' OR 1=1",
            "0012345678",
        ] {
            assert!(Phone::parse(input).is_err(), "{input}");
        }
    }

    #[test]
    fn masks_keep_prefix_and_last_four() {
        assert_eq!(Phone::parse("13812341234").unwrap().masked(), "138****1234");
        assert_eq!(
            Phone::parse("021-62345678").unwrap().masked(),
            "021****5678"
        );
        assert_eq!(
            Phone::parse("0571-88881234").unwrap().masked(),
            "0571****1234"
        );
        assert_eq!(Phone::parse("4008208820").unwrap().masked(), "400****8820");
    }
}
