//! Opaque keyset cursors: base64 of (sort key, id). Clients pass them back unchanged; anything
//! else is refused rather than guessed at.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub key: String,
    pub id: i64,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}\u{1f}{}", self.id, self.key))
    }
    pub fn decode(s: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(s.as_bytes()).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (id, key) = text.split_once('\u{1f}')?;
        Some(Self {
            key: key.to_string(),
            id: id.parse().ok()?,
        })
    }
}

/// The page size asked for, clamped to 1..=200 (default 50).
pub fn limit(requested: Option<u32>) -> u32 {
    requested.unwrap_or(50).clamp(1, 200)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let c = Cursor {
            key: "张三\u{1f}x".into(),
            id: 42,
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("!!"), None);
        assert_eq!(Cursor::decode("Zm9v"), None);
        assert_eq!(limit(Some(1000)), 200);
        assert_eq!(limit(Some(0)), 1);
        assert_eq!(limit(None), 50);
    }
}
