//! Money is an integer number of fen (0.01 yuan); never a float.

use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Money(pub i64);

impl Money {
    pub fn fen(fen: i64) -> Self {
        Self(fen)
    }
    pub fn as_fen(self) -> i64 {
        self.0
    }
    /// Parses a yuan amount as people type it: "12", "12.5", "12.50", "-3.05".
    pub fn parse_yuan(s: &str) -> Option<Self> {
        let s = s.trim();
        let (neg, s) = s.strip_prefix('-').map_or((false, s), |r| (true, r));
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        if int.is_empty()
            || frac.len() > 2
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let yuan: i64 = int.parse().ok()?;
        let mut fen: i64 = if frac.is_empty() {
            0
        } else {
            frac.parse().ok()?
        };
        if frac.len() == 1 {
            fen *= 10;
        }
        let total = yuan.checked_mul(100)?.checked_add(fen)?;
        Some(Self(if neg { -total } else { total }))
    }
    #[must_use]
    pub fn checked_add(self, other: Self) -> Option<Self> {
        self.0.checked_add(other.0).map(Self)
    }
}

impl std::fmt::Display for Money {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_yuan() {
        for (s, fen) in [
            ("12", 1200),
            ("12.5", 1250),
            ("12.05", 1205),
            ("-3.05", -305),
            ("0.01", 1),
        ] {
            assert_eq!(Money::parse_yuan(s), Some(Money(fen)), "{s}");
        }
        for s in ["", ".5", "1.234", "1,00", "abc", "1e3", "--1"] {
            assert_eq!(Money::parse_yuan(s), None, "{s}");
        }
    }

    proptest! {
        #[test]
        fn display_round_trips(fen in -1_000_000_000_000i64..1_000_000_000_000) {
            let m = Money(fen);
            prop_assert_eq!(Money::parse_yuan(&m.to_string()), Some(m));
        }
    }
}
