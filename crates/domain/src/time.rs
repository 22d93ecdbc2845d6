//! Instants are UTC milliseconds; civil dates are `YYYY-MM-DD` without a zone. The business day
//! of an instant depends on the organisation's time zone, so conversions take the zone.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An instant as milliseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn from_millis(ms: i64) -> Self {
        Self(ms)
    }
    pub fn millis(self) -> i64 {
        self.0
    }
    pub fn to_utc(self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.0)
            .single()
            .unwrap_or_default()
    }
    /// RFC 3339 with the offset of `tz`, the wire format for instants.
    pub fn rfc3339_in(self, tz: Tz) -> String {
        self.to_utc()
            .with_timezone(&tz)
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
    }
    /// `YYYY-MM-DD HH:MM` in `tz`, for pages.
    pub fn display_in(self, tz: Tz) -> String {
        self.to_utc()
            .with_timezone(&tz)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    }
    /// The civil date of this instant in `tz` (the business day).
    pub fn date_in(self, tz: Tz) -> Date {
        Date(self.to_utc().with_timezone(&tz).date_naive())
    }
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|d| Self(d.timestamp_millis()))
    }
    #[must_use]
    pub fn plus_millis(self, ms: i64) -> Self {
        Self(self.0.saturating_add(ms))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(
            &self
                .to_utc()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        )
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse_rfc3339(&s)
            .ok_or_else(|| serde::de::Error::custom("expected an RFC 3339 instant with offset"))
    }
}

/// A civil date (purchase date, warranty end, business day).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub NaiveDate);

impl Date {
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if s.len() != 10 {
            return None;
        }
        NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().map(Self)
    }
    pub fn ymd(y: i32, m: u32, d: u32) -> Option<Self> {
        NaiveDate::from_ymd_opt(y, m, d).map(Self)
    }
    /// The first instant of this date in `tz` (midnight, or the first instant after a DST gap).
    pub fn start_in(self, tz: chrono_tz::Tz) -> Timestamp {
        use chrono::TimeZone;
        let midnight = self.0.and_hms_opt(0, 0, 0).expect("midnight exists");
        let t = match tz.from_local_datetime(&midnight) {
            chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => t,
            chrono::LocalResult::None => tz
                .from_local_datetime(&(midnight + chrono::TimeDelta::hours(1)))
                .earliest()
                .expect("an hour after a gap exists"),
        };
        Timestamp(t.timestamp_millis())
    }
    /// The date `months` calendar months later, clamped to the month's last day.
    #[must_use]
    pub fn plus_months(self, months: u32) -> Self {
        Self(
            self.0
                .checked_add_months(chrono::Months::new(months))
                .unwrap_or(self.0),
        )
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).ok_or_else(|| serde::de::Error::custom("expected a date YYYY-MM-DD"))
    }
}

/// The organisation's default time zone.
pub const DEFAULT_TZ: Tz = chrono_tz::Asia::Shanghai;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn business_day_follows_the_zone() {
        // 2026-11-23 17:30 UTC is already the 24th in Shanghai.
        let t = Timestamp::parse_rfc3339("2026-11-23T17:30:00Z").unwrap();
        assert_eq!(t.date_in(DEFAULT_TZ).to_string(), "2026-11-24");
        assert_eq!(t.date_in(chrono_tz::UTC).to_string(), "2026-11-23");
        assert_eq!(t.rfc3339_in(DEFAULT_TZ), "2026-11-24T01:30:00.000+08:00");
    }

    #[test]
    fn dates_parse_strictly() {
        assert!(Date::parse("2026-02-29").is_none());
        assert!(Date::parse("2026-2-1").is_none());
        assert!(Date::parse("2026-02-28").is_some());
        assert_eq!(
            Date::parse("2025-01-31")
                .unwrap()
                .plus_months(1)
                .to_string(),
            "2025-02-28"
        );
    }
}
