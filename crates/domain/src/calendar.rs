//! Business calendars and the arithmetic that SLA deadlines rest on (D4). A service level such as
//! "first reply within 1 h" counts only the hours a desk is open — 8:00–21:00 every day in the
//! organisation's zone, minus holidays, plus make-up working days (调休) from the `calendar_days`
//! table — and stops while the ticket waits on the customer. Getting this wrong breaches tickets at
//! night or hides real breaches, and the cases that break it (closing time, week-long holidays,
//! DST in a foreign zone) are rare enough that nobody notices in review, so the arithmetic lives
//! here as pure code with property tests and no clock: app/ supplies "now" and the pauses.
//!
//! The model: each local date has a list of openings in minutes since local midnight (an
//! exception for that date replaces the weekday's hours). An opening `[s, e)` on date `d` is the
//! span of instants from `instant(d, s)` to `instant(d, e)`, where a local time that does not
//! exist (skipped by a DST jump) becomes the first instant after the jump and a local time that
//! occurs twice is taken at its first occurrence. That rule is monotone in local time, so spans
//! never overlap and come out in order; an opening lying wholly inside a repeated hour is open
//! once. Instants before 1900 or from the year 10000 on are treated as closed.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::ControlFlow;

use chrono::{DateTime, Datelike, MappedLocalTime, NaiveDate, TimeDelta, TimeZone};
use chrono_tz::Tz;

use crate::time::{Date, Timestamp};

/// Minutes in a civil day; an opening may end at this value (24:00).
pub const MINUTES_PER_DAY: u16 = 1440;

/// How far past its start a deadline is searched for. A calendar that offers less business time
/// than asked within this many days yields [`DeadlineError::BeyondHorizon`] instead of looping:
/// real SLA targets are hours to weeks, and the longest Chinese closure is about eight days.
pub const HORIZON_DAYS: i64 = 1096;

const MS_PER_DAY: i64 = 86_400_000;
const HORIZON_MS: i64 = HORIZON_DAYS * MS_PER_DAY;
/// 1900-01-01T00:00:00Z and 10000-01-01T00:00:00Z: every date near them has a successor and a
/// predecessor, so day stepping never runs off chrono's range.
const FIRST_SUPPORTED_MS: i64 = -2_208_988_800_000;
const END_SUPPORTED_MS: i64 = 253_402_300_800_000;
/// Longest run of non-existent local time searched when resolving a DST gap (Samoa skipped a
/// whole day in 2011); no zone has a longer one.
const MAX_GAP_MINUTES: u32 = 2 * 1440;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("an opening must start before it ends and end by 24:00 (got minutes {start}..{end})")]
    InvalidOpening { start: u16, end: u16 },
    #[error("openings {first} and {second} overlap")]
    Overlap { first: Opening, second: Opening },
    #[error("cannot read opening hours {0:?}; expected e.g. 08:00-12:00,13:30-21:00")]
    Parse(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DeadlineError {
    #[error("a duration cannot be negative")]
    NegativeDuration,
    #[error("the calendar does not offer that much business time within {HORIZON_DAYS} days")]
    BeyondHorizon,
}

/// One opening within a local day, `[start, end)` in minutes since local midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Opening {
    start: u16,
    end: u16,
}

impl Opening {
    /// `end` may be 1440 (24:00) so that an opening can run to midnight.
    pub fn new(start_minute: u16, end_minute: u16) -> Result<Self, CalendarError> {
        if start_minute < end_minute && end_minute <= MINUTES_PER_DAY {
            Ok(Self {
                start: start_minute,
                end: end_minute,
            })
        } else {
            Err(CalendarError::InvalidOpening {
                start: start_minute,
                end: end_minute,
            })
        }
    }

    /// The whole day, 00:00–24:00.
    pub fn all_day() -> Self {
        Self {
            start: 0,
            end: MINUTES_PER_DAY,
        }
    }

    /// Reads `HH:MM-HH:MM` (an en dash or `~` also separates; 24:00 only as the end).
    pub fn parse(s: &str) -> Result<Self, CalendarError> {
        let bad = || CalendarError::Parse(s.to_string());
        let (a, b) = s.split_once(['-', '–', '~']).ok_or_else(bad)?;
        let start = parse_clock(a).ok_or_else(bad)?;
        let end = parse_clock(b).ok_or_else(bad)?;
        Self::new(start, end)
    }

    pub fn start_minute(self) -> u16 {
        self.start
    }

    pub fn end_minute(self) -> u16 {
        self.end
    }
}

/// `H:MM` or `HH:MM`, 00:00 to 24:00, as minutes since midnight.
fn parse_clock(s: &str) -> Option<u16> {
    let (h, m) = s.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    if !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    let minutes = h.checked_mul(60)?.checked_add(m)?;
    (m < 60 && minutes <= MINUTES_PER_DAY).then_some(minutes)
}

impl fmt::Display for Opening {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02}:{:02}-{:02}:{:02}",
            self.start / 60,
            self.start % 60,
            self.end / 60,
            self.end % 60
        )
    }
}

/// The openings of one day: sorted, non-overlapping, touching openings merged — a canonical form,
/// so two equal schedules compare equal. Empty means closed all day.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct DayHours(Vec<Opening>);

static CLOSED_DAY: DayHours = DayHours(Vec::new());

impl DayHours {
    /// Accepts openings in any order; overlapping ones are refused because an admin who typed
    /// 8:00–12:00 and 11:00–13:00 most likely mistyped one of them.
    pub fn new(mut openings: Vec<Opening>) -> Result<Self, CalendarError> {
        openings.sort_unstable();
        let mut merged: Vec<Opening> = Vec::with_capacity(openings.len());
        for o in openings {
            match merged.last_mut() {
                Some(last) if last.end > o.start => {
                    return Err(CalendarError::Overlap {
                        first: *last,
                        second: o,
                    });
                }
                Some(last) if last.end == o.start => last.end = o.end,
                _ => merged.push(o),
            }
        }
        Ok(Self(merged))
    }

    pub fn closed() -> Self {
        Self(Vec::new())
    }

    pub fn single(opening: Opening) -> Self {
        Self(vec![opening])
    }

    /// Reads a comma-separated list such as `08:00-12:00,13:30-21:00`; an empty string is closed.
    pub fn parse(s: &str) -> Result<Self, CalendarError> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(Self::closed());
        }
        let openings = s
            .split([',', '，', ';'])
            .map(Opening::parse)
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(openings)
    }

    pub fn openings(&self) -> &[Opening] {
        &self.0
    }

    pub fn is_closed(&self) -> bool {
        self.0.is_empty()
    }

    /// Business minutes in the day as written (a DST day may really have more or fewer).
    pub fn minutes(&self) -> u32 {
        self.0.iter().map(|o| u32::from(o.end - o.start)).sum()
    }
}

impl fmt::Display for DayHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, o) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{o}")?;
        }
        Ok(())
    }
}

/// What a `calendar_days` row says about one date, overriding the weekday's hours.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DayRule {
    /// A public holiday or a closure.
    Closed,
    /// A make-up working day (调休) or special hours, e.g. a Saturday worked 9:00–18:00.
    Open(DayHours),
}

/// When a warning before breach is due, measured in business time like the target itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WarnAt {
    /// After this percentage of the target has elapsed (values above 100 count as 100).
    Elapsed { percent: u8 },
    /// This much business time before the deadline (at the start if the target is shorter;
    /// a negative lead counts as 0, i.e. at the deadline).
    Before { ms: i64 },
}

impl WarnAt {
    /// The business time after which the warning is due, for a target of `duration_ms`; feed it
    /// to [`BusinessCalendar::deadline_with_pauses`] when the ticket has pauses.
    pub fn elapsed_ms(self, duration_ms: i64) -> i64 {
        let d = duration_ms.max(0);
        match self {
            Self::Elapsed { percent } => {
                let p = i64::from(percent.min(100));
                // floor(d·p/100) without the overflow of d·p.
                d / 100 * p + d % 100 * p / 100
            }
            Self::Before { ms } => d.saturating_sub(ms.max(0)).max(0),
        }
    }
}

/// A paused span of an SLA clock, `[start, end)`; `None` as the end means still paused.
pub type Pause = (Timestamp, Option<Timestamp>);

/// Opening hours per weekday in a time zone, with per-date exceptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessCalendar {
    tz: Tz,
    /// Monday first, as `Weekday::num_days_from_monday`.
    week: [DayHours; 7],
    exceptions: BTreeMap<Date, DayRule>,
}

impl BusinessCalendar {
    /// Infallible because its parts are already valid: [`Opening`] and [`DayHours`] refuse bad
    /// minutes and overlaps when they are made.
    pub fn new(tz: Tz, week: [DayHours; 7], exceptions: BTreeMap<Date, DayRule>) -> Self {
        Self {
            tz,
            week,
            exceptions,
        }
    }

    /// The same hours every day of the year, e.g. 8:00–21:00.
    pub fn every_day(tz: Tz, opening: Opening) -> Self {
        Self::new(
            tz,
            std::array::from_fn(|_| DayHours::single(opening)),
            BTreeMap::new(),
        )
    }

    /// Monday to Friday with the same hours, closed at weekends.
    pub fn weekdays(tz: Tz, hours: &DayHours) -> Self {
        Self::new(
            tz,
            std::array::from_fn(|i| {
                if i < 5 {
                    hours.clone()
                } else {
                    DayHours::closed()
                }
            }),
            BTreeMap::new(),
        )
    }

    /// Open around the clock: business time equals elapsed time.
    pub fn always(tz: Tz) -> Self {
        Self::every_day(tz, Opening::all_day())
    }

    /// Adds or replaces the rule for one date (a row of `calendar_days`).
    #[must_use]
    pub fn with_exception(mut self, date: Date, rule: DayRule) -> Self {
        self.exceptions.insert(date, rule);
        self
    }

    pub fn tz(&self) -> Tz {
        self.tz
    }

    pub fn week(&self) -> &[DayHours; 7] {
        &self.week
    }

    pub fn exceptions(&self) -> &BTreeMap<Date, DayRule> {
        &self.exceptions
    }

    /// The hours that apply on `date`: its exception if any, else its weekday's.
    pub fn hours_on(&self, date: Date) -> &DayHours {
        match self.exceptions.get(&date) {
            Some(DayRule::Closed) => &CLOSED_DAY,
            Some(DayRule::Open(hours)) => hours,
            None => &self.week[date.0.weekday().num_days_from_monday() as usize],
        }
    }

    pub fn is_open(&self, t: Timestamp) -> bool {
        self.first_span(t.0, t.0.saturating_add(1)).is_some()
    }

    /// The first instant at or after `t` when the calendar is open (`t` itself if open); `None`
    /// if it is not open within [`HORIZON_DAYS`].
    pub fn next_opening(&self, t: Timestamp) -> Option<Timestamp> {
        self.first_span(t.0, t.0.saturating_add(HORIZON_MS))
            .map(|(a, _)| Timestamp(a))
    }

    /// The first instant at or after `t` when the calendar is closed (`t` itself if closed);
    /// `None` if it stays open for [`HORIZON_DAYS`] (a 24×7 calendar).
    pub fn next_closing(&self, t: Timestamp) -> Option<Timestamp> {
        let limit = t.0.saturating_add(HORIZON_MS);
        let mut end = t.0;
        // Spans of consecutive days touch at midnight; the run is over at the first gap.
        let gap = self.walk(t.0, limit, |a, b| {
            if a > end {
                ControlFlow::Break(())
            } else {
                end = b;
                ControlFlow::Continue(())
            }
        });
        (gap.is_some() || end < limit).then_some(Timestamp(end))
    }

    /// The instant at which `duration_ms` of business time has elapsed after `start` — the
    /// deadline of an SLA target. Counting begins at `start` if open, else at the next opening.
    ///
    /// A deadline that falls exactly at a closing time is that closing time (20:00 + 1 h with
    /// 8:00–21:00 is due at 21:00, not at 8:00 next morning). A zero duration yields the instant
    /// counting begins — `start` if open, else the next opening — which is when an after-hours
    /// return call is due.
    pub fn add_business(
        &self,
        start: Timestamp,
        duration_ms: i64,
    ) -> Result<Timestamp, DeadlineError> {
        self.deadline_with_pauses(start, duration_ms, &[])?
            .ok_or(DeadlineError::BeyondHorizon)
    }

    /// Business time between two instants; 0 if `to <= from`. Costs one step per day in the range.
    pub fn business_ms_between(&self, from: Timestamp, to: Timestamp) -> i64 {
        self.elapsed_with_pauses(from, to, &[])
    }

    /// Like [`Self::add_business`], but the clock does not run during `pauses` (waiting on the
    /// customer), which may overlap, come in any order or start before `start`. `Ok(None)`: the
    /// clock is stopped by a pause without an end before the target was reached, so there is
    /// no deadline yet. An open pause that starts after the deadline does not matter: the
    /// target was already missed.
    pub fn deadline_with_pauses(
        &self,
        start: Timestamp,
        duration_ms: i64,
        pauses: &[Pause],
    ) -> Result<Option<Timestamp>, DeadlineError> {
        if duration_ms < 0 {
            return Err(DeadlineError::NegativeDuration);
        }
        let pauses = normalise_pauses(start.0, pauses);
        let paused_ms: i64 = pauses
            .iter()
            .filter(|p| p.1 != i64::MAX)
            .map(|p| p.1 - p.0)
            .fold(0, i64::saturating_add);
        // Time spent paused does not use up the horizon.
        let limit = start.0.saturating_add(HORIZON_MS).saturating_add(paused_ms);
        let mut remaining = duration_ms;
        let found = self.walk_running(start.0, limit, &pauses, |a, b| {
            if remaining <= b - a {
                ControlFlow::Break(a + remaining)
            } else {
                remaining -= b - a;
                ControlFlow::Continue(())
            }
        });
        match found {
            Some(t) => Ok(Some(Timestamp(t))),
            None => match pauses.last() {
                Some(&(stop, i64::MAX)) if stop < limit => Ok(None),
                _ => Err(DeadlineError::BeyondHorizon),
            },
        }
    }

    /// Business time during which the clock ran between `start` and `now`, leaving out pauses (a
    /// pause without an end runs to `now`). The remaining time of a target is its duration minus
    /// this.
    pub fn elapsed_with_pauses(&self, start: Timestamp, now: Timestamp, pauses: &[Pause]) -> i64 {
        let pauses = normalise_pauses(start.0, pauses);
        let mut total = 0_i64;
        self.walk_running::<()>(start.0, now.0, &pauses, |a, b| {
            total += b - a;
            ControlFlow::Continue(())
        });
        total
    }

    /// When a warning before breach is due: after `warn`'s share of the target, in business time.
    pub fn warning_at(
        &self,
        start: Timestamp,
        duration_ms: i64,
        warn: WarnAt,
    ) -> Result<Timestamp, DeadlineError> {
        if duration_ms < 0 {
            return Err(DeadlineError::NegativeDuration);
        }
        self.add_business(start, warn.elapsed_ms(duration_ms))
    }

    fn first_span(&self, from: i64, limit: i64) -> Option<(i64, i64)> {
        self.walk(from, limit, |a, b| ControlFlow::Break((a, b)))
    }

    /// Calls `f` with each open span `[a, b)` (UTC ms) within `[from, limit)`, in order, until it
    /// breaks. Closed days cost a map lookup and no time-zone work, so long holidays are cheap.
    /// Spans of adjacent openings are not merged: callers that care (`next_closing`) do it.
    fn walk<B>(
        &self,
        from: i64,
        limit: i64,
        mut f: impl FnMut(i64, i64) -> ControlFlow<B>,
    ) -> Option<B> {
        let lo = from.max(FIRST_SUPPORTED_MS);
        let hi = limit.min(END_SUPPORTED_MS);
        if lo >= hi {
            return None;
        }
        // One day of slack on each side: a zone that falls back across midnight can show the
        // previous date again after `lo`, and the spans are clipped to [lo, hi) anyway.
        let mut day = self.local_date(lo)?.pred_opt()?;
        let last = self.local_date(hi)?.succ_opt()?;
        while day <= last {
            for o in self.hours_on(Date(day)).openings() {
                let (Some(a), Some(b)) = (self.instant(day, o.start), self.instant(day, o.end))
                else {
                    continue;
                };
                let (a, b) = (a.max(lo), b.min(hi));
                if a < b
                    && let ControlFlow::Break(out) = f(a, b)
                {
                    return Some(out);
                }
            }
            day = day.succ_opt()?;
        }
        None
    }

    /// [`Self::walk`] with the `pauses` (sorted, merged, see [`normalise_pauses`]) cut out.
    fn walk_running<B>(
        &self,
        from: i64,
        limit: i64,
        pauses: &[(i64, i64)],
        mut f: impl FnMut(i64, i64) -> ControlFlow<B>,
    ) -> Option<B> {
        let mut next_pause = 0;
        self.walk(from, limit, |a, b| {
            let mut cur = a;
            while cur < b {
                while pauses.get(next_pause).is_some_and(|p| p.1 <= cur) {
                    next_pause += 1;
                }
                let end = match pauses.get(next_pause) {
                    Some(&(ps, pe)) if ps <= cur => {
                        cur = pe.min(b);
                        continue;
                    }
                    Some(&(ps, _)) => ps.min(b),
                    None => b,
                };
                f(cur, end)?;
                cur = end;
            }
            ControlFlow::Continue(())
        })
    }

    fn local_date(&self, ms: i64) -> Option<NaiveDate> {
        DateTime::from_timestamp_millis(ms).map(|t| t.with_timezone(&self.tz).date_naive())
    }

    /// The instant of local `minute` on `date`: the earliest instant whose local time is at or
    /// after it, which is the first occurrence of a repeated time and the end of a DST gap for
    /// a skipped one. Gaps are whole minutes in every zone still in use.
    fn instant(&self, date: NaiveDate, minute: u16) -> Option<i64> {
        let (date, minute) = if minute >= MINUTES_PER_DAY {
            (date.succ_opt()?, minute - MINUTES_PER_DAY)
        } else {
            (date, minute)
        };
        let mut local = date.and_hms_opt(u32::from(minute / 60), u32::from(minute % 60), 0)?;
        for _ in 0..=MAX_GAP_MINUTES {
            match self.tz.from_local_datetime(&local) {
                MappedLocalTime::Single(t) => return Some(t.timestamp_millis()),
                MappedLocalTime::Ambiguous(x, y) => {
                    return Some(x.timestamp_millis().min(y.timestamp_millis()));
                }
                MappedLocalTime::None => {
                    local = local.checked_add_signed(TimeDelta::minutes(1))?;
                }
            }
        }
        None
    }
}

/// Pauses as sorted, disjoint `[start, end)` spans in ms, clipped to begin at `start`; an open
/// pause ends at `i64::MAX` and so can only be the last.
fn normalise_pauses(start: i64, pauses: &[Pause]) -> Vec<(i64, i64)> {
    let mut spans: Vec<(i64, i64)> = pauses
        .iter()
        .map(|(a, b)| (a.0.max(start), b.map_or(i64::MAX, |b| b.0)))
        .filter(|(a, b)| a < b)
        .collect();
    spans.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::with_capacity(spans.len());
    for (a, b) in spans {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Timelike;
    use proptest::prelude::*;

    const SHANGHAI: Tz = chrono_tz::Asia::Shanghai;
    const NEW_YORK: Tz = chrono_tz::America::New_York;
    const HOUR: i64 = 3_600_000;
    const MINUTE: i64 = 60_000;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap_or_else(|| panic!("bad instant {s}"))
    }

    fn date(s: &str) -> Date {
        Date::parse(s).unwrap_or_else(|| panic!("bad date {s}"))
    }

    fn hours(s: &str) -> DayHours {
        DayHours::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn opening(s: &str) -> Opening {
        Opening::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn show(t: Timestamp, tz: Tz) -> String {
        t.rfc3339_in(tz)
    }

    /// 8:00–21:00 every day, as in the issue.
    fn desk() -> BusinessCalendar {
        BusinessCalendar::every_day(SHANGHAI, opening("08:00-21:00"))
    }

    fn with_national_day(mut cal: BusinessCalendar) -> BusinessCalendar {
        for d in 1..=7 {
            cal = cal.with_exception(date(&format!("2026-10-0{d}")), DayRule::Closed);
        }
        cal
    }

    fn office() -> BusinessCalendar {
        BusinessCalendar::weekdays(SHANGHAI, &hours("09:00-18:00"))
    }

    #[test]
    fn deadlines_in_shanghai() {
        let national_day = with_national_day(desk());
        // A Saturday worked to make up for the holiday (调休).
        let office_holiday = with_national_day(office())
            .with_exception(date("2026-10-10"), DayRule::Open(hours("09:00-18:00")));
        let lunch = BusinessCalendar::every_day(SHANGHAI, opening("09:00-18:00")).with_exception(
            date("2026-11-24"),
            DayRule::Open(hours("09:00-12:00,13:30-18:00")),
        );
        let cases: [(&str, &BusinessCalendar, &str, i64, &str); 19] = [
            (
                "call at 20:30, 1 h first reply",
                &desk(),
                "2026-11-23T20:30:00+08:00",
                HOUR,
                "2026-11-24T08:30:00.000+08:00",
            ),
            (
                "reply due at closing stays at closing",
                &desk(),
                "2026-11-23T20:00:00+08:00",
                HOUR,
                "2026-11-23T21:00:00.000+08:00",
            ),
            (
                "start exactly at opening",
                &desk(),
                "2026-11-23T08:00:00+08:00",
                HOUR,
                "2026-11-23T09:00:00.000+08:00",
            ),
            (
                "start exactly at closing",
                &desk(),
                "2026-11-23T21:00:00+08:00",
                HOUR,
                "2026-11-24T09:00:00.000+08:00",
            ),
            (
                "zero at closing waits for the opening",
                &desk(),
                "2026-11-23T21:00:00+08:00",
                0,
                "2026-11-24T08:00:00.000+08:00",
            ),
            (
                "zero while open is now",
                &desk(),
                "2026-11-23T10:17:00+08:00",
                0,
                "2026-11-23T10:17:00.000+08:00",
            ),
            (
                "after-midnight call counts from 8:00",
                &desk(),
                "2026-11-24T02:00:00+08:00",
                HOUR,
                "2026-11-24T09:00:00.000+08:00",
            ),
            (
                "24 h opinion reply spans two days",
                &desk(),
                "2026-11-23T10:00:00+08:00",
                24 * HOUR,
                "2026-11-24T21:00:00.000+08:00",
            ),
            (
                "48 h proposal across National Day",
                &national_day,
                "2026-09-30T20:00:00+08:00",
                48 * HOUR,
                "2026-10-11T16:00:00.000+08:00",
            ),
            (
                "1 h on the eve of National Day",
                &national_day,
                "2026-09-30T20:30:00+08:00",
                HOUR,
                "2026-10-08T08:30:00.000+08:00",
            ),
            (
                "weekday office over a weekend",
                &office(),
                "2026-11-20T17:00:00+08:00",
                2 * HOUR,
                "2026-11-23T10:00:00.000+08:00",
            ),
            (
                "Friday evening call waits for Monday",
                &office(),
                "2026-11-20T19:00:00+08:00",
                HOUR,
                "2026-11-23T10:00:00.000+08:00",
            ),
            (
                "Saturday call waits for Monday",
                &office(),
                "2026-11-21T11:00:00+08:00",
                0,
                "2026-11-23T09:00:00.000+08:00",
            ),
            (
                "make-up Saturday counts",
                &office_holiday,
                "2026-09-30T17:00:00+08:00",
                24 * HOUR,
                "2026-10-10T14:00:00.000+08:00",
            ),
            (
                "without the make-up day it is Monday",
                &with_national_day(office()),
                "2026-09-30T17:00:00+08:00",
                24 * HOUR,
                "2026-10-12T14:00:00.000+08:00",
            ),
            (
                "lunch break is skipped",
                &lunch,
                "2026-11-24T11:30:00+08:00",
                HOUR,
                "2026-11-24T14:00:00.000+08:00",
            ),
            (
                "start during lunch",
                &lunch,
                "2026-11-24T12:15:00+08:00",
                30 * MINUTE,
                "2026-11-24T14:00:00.000+08:00",
            ),
            (
                "24×7 is plain addition",
                &BusinessCalendar::always(SHANGHAI),
                "2026-11-23T20:30:00+08:00",
                48 * HOUR + 7,
                "2026-11-25T20:30:00.007+08:00",
            ),
            (
                "a week of business time",
                &desk(),
                "2026-11-23T08:00:00+08:00",
                7 * 13 * HOUR,
                "2026-11-29T21:00:00.000+08:00",
            ),
        ];
        for (name, cal, start, d, want) in cases {
            let got = cal.add_business(ts(start), d);
            assert_eq!(
                got.map(|t| show(t, SHANGHAI)),
                Ok(want.to_string()),
                "{name}"
            );
            assert_eq!(
                cal.business_ms_between(ts(start), got.unwrap()),
                d,
                "{name}"
            );
        }
    }

    #[test]
    fn opening_and_closing_instants() {
        let cal = with_national_day(desk());
        let cases = [
            (
                "2026-11-23T07:59:59.999+08:00",
                false,
                "2026-11-23T08:00:00.000+08:00",
            ),
            (
                "2026-11-23T08:00:00+08:00",
                true,
                "2026-11-23T08:00:00.000+08:00",
            ),
            (
                "2026-11-23T20:59:59.999+08:00",
                true,
                "2026-11-23T20:59:59.999+08:00",
            ),
            (
                "2026-11-23T21:00:00+08:00",
                false,
                "2026-11-24T08:00:00.000+08:00",
            ),
            // An after-hours call during the holiday is returned when the desk reopens.
            (
                "2026-10-03T22:15:00+08:00",
                false,
                "2026-10-08T08:00:00.000+08:00",
            ),
        ];
        for (t, open, next) in cases {
            assert_eq!(cal.is_open(ts(t)), open, "{t}");
            assert_eq!(
                cal.next_opening(ts(t)).map(|x| show(x, SHANGHAI)),
                Some(next.to_string()),
                "{t}"
            );
        }
        assert_eq!(
            cal.next_closing(ts("2026-11-23T10:00:00+08:00")),
            Some(ts("2026-11-23T21:00:00+08:00"))
        );
        assert_eq!(
            cal.next_closing(ts("2026-11-23T22:00:00+08:00")),
            Some(ts("2026-11-23T22:00:00+08:00"))
        );
        // Midnight is not a closing of a 24×7 calendar.
        assert_eq!(
            BusinessCalendar::always(SHANGHAI).next_closing(ts("2026-11-23T10:00:00+08:00")),
            None
        );
        let half = BusinessCalendar::every_day(SHANGHAI, opening("12:00-24:00"))
            .with_exception(date("2026-11-24"), DayRule::Open(hours("00:00-03:00")));
        assert_eq!(
            half.next_closing(ts("2026-11-23T13:00:00+08:00")),
            Some(ts("2026-11-24T03:00:00+08:00"))
        );
    }

    #[test]
    fn business_time_between_instants() {
        let cal = with_national_day(desk());
        let cases = [
            (
                "2026-11-23T10:00:00+08:00",
                "2026-11-23T11:00:00+08:00",
                HOUR,
            ),
            ("2026-11-23T11:00:00+08:00", "2026-11-23T10:00:00+08:00", 0),
            (
                "2026-11-23T20:00:00+08:00",
                "2026-11-24T09:00:00+08:00",
                2 * HOUR,
            ),
            (
                "2026-09-30T00:00:00+08:00",
                "2026-10-09T00:00:00+08:00",
                13 * HOUR * 2,
            ),
            ("2026-11-23T22:00:00+08:00", "2026-11-24T07:00:00+08:00", 0),
        ];
        for (from, to, want) in cases {
            assert_eq!(
                cal.business_ms_between(ts(from), ts(to)),
                want,
                "{from}..{to}"
            );
        }
    }

    #[test]
    fn daylight_saving_in_a_foreign_zone() {
        let always = BusinessCalendar::always(NEW_YORK);
        // 2026-03-08 springs forward at 02:00, 2026-11-01 falls back at 02:00.
        assert_eq!(
            always.business_ms_between(
                ts("2026-03-08T00:00:00-05:00"),
                ts("2026-03-09T00:00:00-04:00")
            ),
            23 * HOUR
        );
        assert_eq!(
            always.business_ms_between(
                ts("2026-11-01T00:00:00-04:00"),
                ts("2026-11-02T00:00:00-05:00")
            ),
            25 * HOUR
        );
        // An opening at a skipped time starts when the clocks jump.
        let early = BusinessCalendar::every_day(NEW_YORK, opening("02:30-04:00"));
        assert_eq!(
            early.next_opening(ts("2026-03-08T00:00:00-05:00")),
            Some(ts("2026-03-08T03:00:00-04:00"))
        );
        assert_eq!(
            early.business_ms_between(
                ts("2026-03-08T00:00:00-05:00"),
                ts("2026-03-09T00:00:00-04:00")
            ),
            HOUR
        );
        // An opening inside the repeated hour is open at its first occurrence only.
        let repeated = BusinessCalendar::every_day(NEW_YORK, opening("01:00-01:30"));
        assert!(repeated.is_open(ts("2026-11-01T01:15:00-04:00")));
        assert!(!repeated.is_open(ts("2026-11-01T01:15:00-05:00")));
        assert_eq!(
            repeated.business_ms_between(
                ts("2026-11-01T00:00:00-04:00"),
                ts("2026-11-02T00:00:00-05:00")
            ),
            30 * MINUTE
        );
        // One spanning the repeat runs from the first 01:30 to the only 02:30.
        let across = BusinessCalendar::every_day(NEW_YORK, opening("01:30-02:30"));
        assert_eq!(
            across.add_business(ts("2026-11-01T00:00:00-04:00"), 2 * HOUR),
            Ok(ts("2026-11-01T02:30:00-05:00"))
        );
    }

    #[test]
    fn pauses_stop_the_clock() {
        let cal = desk();
        let start = ts("2026-11-23T10:00:00+08:00");
        let p = |a: &str, b: Option<&str>| (ts(a), b.map(ts));
        let cases: [(&str, Vec<Pause>, Option<&str>); 7] = [
            ("no pause", vec![], Some("2026-11-23T14:00:00.000+08:00")),
            (
                "waiting on the customer 11:00–13:00",
                vec![p(
                    "2026-11-23T11:00:00+08:00",
                    Some("2026-11-23T13:00:00+08:00"),
                )],
                Some("2026-11-23T16:00:00.000+08:00"),
            ),
            (
                "overlapping and unordered pauses count once",
                vec![
                    p(
                        "2026-11-23T12:00:00+08:00",
                        Some("2026-11-23T13:00:00+08:00"),
                    ),
                    p(
                        "2026-11-23T11:00:00+08:00",
                        Some("2026-11-23T12:30:00+08:00"),
                    ),
                ],
                Some("2026-11-23T16:00:00.000+08:00"),
            ),
            (
                "a pause before the start is ignored",
                vec![p(
                    "2026-11-22T11:00:00+08:00",
                    Some("2026-11-23T10:00:00+08:00"),
                )],
                Some("2026-11-23T14:00:00.000+08:00"),
            ),
            (
                "a pause over the night costs only its open part",
                vec![p(
                    "2026-11-23T13:00:00+08:00",
                    Some("2026-11-24T09:00:00+08:00"),
                )],
                Some("2026-11-24T10:00:00.000+08:00"),
            ),
            (
                "still waiting: no deadline",
                vec![p("2026-11-23T11:00:00+08:00", None)],
                None,
            ),
            (
                "waiting only after the breach",
                vec![p("2026-11-23T15:00:00+08:00", None)],
                Some("2026-11-23T14:00:00.000+08:00"),
            ),
        ];
        for (name, pauses, want) in cases {
            let got = cal.deadline_with_pauses(start, 4 * HOUR, &pauses);
            assert_eq!(
                got.map(|t| t.map(|t| show(t, SHANGHAI))),
                Ok(want.map(str::to_string)),
                "{name}"
            );
            if let Ok(Some(deadline)) = got {
                assert_eq!(cal.elapsed_with_pauses(start, deadline, &pauses), 4 * HOUR);
            }
        }
        // The elapsed time of a still-paused ticket stops growing.
        let waiting = [p("2026-11-23T11:00:00+08:00", None)];
        assert_eq!(
            cal.elapsed_with_pauses(start, ts("2026-11-25T11:00:00+08:00"), &waiting),
            HOUR
        );
    }

    #[test]
    fn warnings_before_breach() {
        let cal = desk();
        let start = ts("2026-11-23T20:30:00+08:00");
        let cases = [
            (
                WarnAt::Elapsed { percent: 80 },
                "2026-11-24T08:18:00.000+08:00",
            ),
            (
                WarnAt::Elapsed { percent: 50 },
                "2026-11-23T21:00:00.000+08:00",
            ),
            (
                WarnAt::Elapsed { percent: 0 },
                "2026-11-23T20:30:00.000+08:00",
            ),
            (
                WarnAt::Elapsed { percent: 250 },
                "2026-11-24T08:30:00.000+08:00",
            ),
            (
                WarnAt::Before { ms: 15 * MINUTE },
                "2026-11-24T08:15:00.000+08:00",
            ),
            (
                WarnAt::Before { ms: 2 * HOUR },
                "2026-11-23T20:30:00.000+08:00",
            ),
            (WarnAt::Before { ms: -5 }, "2026-11-24T08:30:00.000+08:00"),
        ];
        for (warn, want) in cases {
            assert_eq!(
                cal.warning_at(start, HOUR, warn).map(|t| show(t, SHANGHAI)),
                Ok(want.to_string()),
                "{warn:?}"
            );
        }
        assert_eq!(
            WarnAt::Elapsed { percent: 80 }.elapsed_ms(i64::MAX),
            i64::MAX / 100 * 80 + 5
        );
    }

    #[test]
    fn refusals() {
        assert!(Opening::new(600, 600).is_err());
        assert!(Opening::new(0, 1441).is_err());
        assert!(Opening::new(700, 600).is_err());
        assert_eq!(Opening::new(0, 1440), Ok(Opening::all_day()));
        assert!(matches!(
            DayHours::parse("08:00-12:00,11:00-13:00"),
            Err(CalendarError::Overlap { .. })
        ));
        for bad in [
            "8-12",
            "08:00",
            "08:00-25:00",
            "24:00-24:00",
            "08:60-09:00",
            "ab:cd-09:00",
        ] {
            assert!(DayHours::parse(bad).is_err(), "{bad}");
        }
        let never = BusinessCalendar::new(SHANGHAI, Default::default(), BTreeMap::new());
        let t = ts("2026-11-23T10:00:00+08:00");
        assert_eq!(
            never.add_business(t, HOUR),
            Err(DeadlineError::BeyondHorizon)
        );
        assert_eq!(never.next_opening(t), None);
        assert_eq!(
            desk().add_business(t, -1),
            Err(DeadlineError::NegativeDuration)
        );
        // Exactly the business time within the horizon is still found; a millisecond more is not.
        let most = HORIZON_DAYS * 13 * HOUR;
        assert_eq!(desk().add_business(t, most), Ok(t.plus_millis(HORIZON_MS)));
        assert_eq!(
            desk().add_business(t, most + 1),
            Err(DeadlineError::BeyondHorizon)
        );
        // Outside the supported years everything is closed rather than wrong.
        let always = BusinessCalendar::always(chrono_tz::UTC);
        assert!(!always.is_open(Timestamp(i64::MIN)));
        assert_eq!(
            always.business_ms_between(Timestamp(i64::MIN), ts("1900-01-02T00:00:00Z")),
            MS_PER_DAY
        );
        assert_eq!(
            always.business_ms_between(ts("9999-12-31T00:00:00Z"), Timestamp(i64::MAX)),
            MS_PER_DAY
        );
    }

    #[test]
    fn hours_read_and_print_canonically() {
        let cases = [
            ("08:00-21:00", "08:00-21:00"),
            ("13:30-18:00, 9:00-12:00", "09:00-12:00,13:30-18:00"),
            ("08:00–12:00，12:00–24:00", "08:00-24:00"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(hours(input).to_string(), want, "{input}");
        }
        assert_eq!(hours("09:00-12:00,13:30-18:00").minutes(), 7 * 60 + 30);
        let cal = with_national_day(office());
        assert!(cal.hours_on(date("2026-10-01")).is_closed());
        assert!(cal.hours_on(date("2026-11-21")).is_closed());
        assert_eq!(cal.hours_on(date("2026-11-23")), &hours("09:00-18:00"));
    }

    // ---- properties ----

    /// Zones with a fixed offset (Kathmandu's is not a whole hour), where a local wall clock is
    /// an exact oracle, and zones with DST, including Lord Howe's half-hour shift.
    const FIXED_ZONES: [Tz; 3] = [SHANGHAI, chrono_tz::UTC, chrono_tz::Asia::Kathmandu];
    const DST_ZONES: [Tz; 3] = [
        NEW_YORK,
        chrono_tz::Europe::Berlin,
        chrono_tz::Australia::Lord_Howe,
    ];

    fn day_hours() -> impl Strategy<Value = DayHours> {
        prop::collection::btree_set(0..=MINUTES_PER_DAY, 0..=6).prop_map(|cuts| {
            let cuts: Vec<u16> = cuts.into_iter().collect();
            let openings = cuts
                .chunks_exact(2)
                .map(|c| Opening::new(c[0], c[1]).expect("sorted distinct cut points"))
                .collect();
            DayHours::new(openings).expect("disjoint by construction")
        })
    }

    fn calendar_in(zones: &'static [Tz]) -> impl Strategy<Value = BusinessCalendar> {
        let week = prop::array::uniform7(day_hours());
        let exceptions = prop::collection::btree_map(
            (0_i64..60).prop_map(|i| {
                Date(NaiveDate::from_ymd_opt(2026, 9, 20).expect("valid") + TimeDelta::days(i))
            }),
            prop_oneof![Just(DayRule::Closed), day_hours().prop_map(DayRule::Open)],
            0..12,
        );
        (prop::sample::select(zones), week, exceptions).prop_map(|(tz, mut week, exceptions)| {
            // At least 8 h a week, so that four weeks of business time fit well within the
            // horizon and every property has a deadline to talk about.
            if week.iter().map(DayHours::minutes).sum::<u32>() < 480 {
                week[2] = DayHours::single(Opening::new(540, 1020).expect("valid"));
            }
            BusinessCalendar::new(tz, week, exceptions)
        })
    }

    fn any_calendar() -> impl Strategy<Value = BusinessCalendar> {
        prop_oneof![calendar_in(&FIXED_ZONES), calendar_in(&DST_ZONES)]
    }

    /// Instants from September to December 2026 (National Day, a DST change on both
    /// hemispheres), at millisecond or at whole-minute resolution.
    fn instant() -> impl Strategy<Value = Timestamp> {
        let lo = 1_788_000_000_000_i64;
        let hi = 1_798_000_000_000_i64;
        prop_oneof![
            (lo..hi).prop_map(Timestamp),
            (lo / MINUTE..hi / MINUTE).prop_map(|m| Timestamp(m * MINUTE)),
        ]
    }

    fn duration() -> impl Strategy<Value = i64> {
        prop_oneof![Just(0), 0..4 * HOUR, 0..14 * 24 * HOUR]
    }

    /// The definition, read off a local wall clock: exact where the offset is fixed.
    fn oracle_open(cal: &BusinessCalendar, t: Timestamp) -> bool {
        let local = t.to_utc().with_timezone(&cal.tz());
        let minute = u16::try_from(local.hour() * 60 + local.minute()).expect("< 1440");
        cal.hours_on(Date(local.date_naive()))
            .openings()
            .iter()
            .any(|o| o.start <= minute && minute < o.end)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Spans agree with the wall-clock definition, instant by instant and summed minute by
        /// minute over three days.
        #[test]
        fn matches_wall_clock_where_offsets_are_fixed(
            cal in calendar_in(&FIXED_ZONES),
            t in instant(),
        ) {
            let from = Timestamp(t.0 / MINUTE * MINUTE);
            let mut want = 0;
            for m in 0..3 * 1440 {
                let at = from.plus_millis(m * MINUTE);
                let open = oracle_open(&cal, at);
                prop_assert_eq!(cal.is_open(at), open);
                want += if open { MINUTE } else { 0 };
            }
            prop_assert_eq!(cal.is_open(t), oracle_open(&cal, t));
            prop_assert_eq!(cal.business_ms_between(from, from.plus_millis(3 * 1440 * MINUTE)), want);
        }

        /// The deadline is never early, uses exactly the business time asked for, and lies where
        /// the clock was running: for d > 0 the millisecond before it was open; for d = 0 it is
        /// the next opening, open itself.
        #[test]
        fn deadline_consumes_exactly_the_duration(
            cal in any_calendar(), s in instant(), d in duration(),
        ) {
            let r = cal.add_business(s, d).expect("open within the horizon");
            prop_assert!(r >= s);
            prop_assert_eq!(cal.business_ms_between(s, r), d);
            if d == 0 {
                prop_assert!(cal.is_open(r));
                prop_assert_eq!(cal.next_opening(s), Some(r));
            } else {
                prop_assert!(cal.is_open(r.plus_millis(-1)));
                // Nothing earlier would do: the business time before r - 1 ms is short.
                prop_assert_eq!(cal.business_ms_between(s, r.plus_millis(-1)), d - 1);
            }
        }

        #[test]
        fn deadline_is_monotone(
            cal in any_calendar(), s in instant(), a in duration(), b in duration(),
        ) {
            let (a, b) = (a.min(b), a.max(b));
            prop_assert!(cal.add_business(s, a).expect("open") <= cal.add_business(s, b).expect("open"));
            let later = s.plus_millis(b - a);
            prop_assert!(cal.add_business(s, a).expect("open") <= cal.add_business(later, a).expect("open"));
        }

        /// Adding a then b equals adding a + b whenever b > 0; with b = 0 the second step only
        /// moves a deadline that falls on a closing time to the next opening.
        #[test]
        fn deadlines_compose(
            cal in any_calendar(), s in instant(), a in duration(), b in duration(),
        ) {
            let first = cal.add_business(s, a).expect("open");
            let both = cal.add_business(s, a + b).expect("open");
            if b > 0 {
                prop_assert_eq!(cal.add_business(first, b).expect("open"), both);
            } else {
                prop_assert_eq!(cal.add_business(first, 0).expect("open"), cal.next_opening(first).expect("open"));
            }
        }

        #[test]
        fn business_time_is_additive(
            cal in any_calendar(), x in instant(), y in instant(), z in instant(),
        ) {
            let mut v = [x, y, z];
            v.sort();
            let [x, y, z] = v;
            prop_assert_eq!(
                cal.business_ms_between(x, y) + cal.business_ms_between(y, z),
                cal.business_ms_between(x, z)
            );
            prop_assert!(cal.business_ms_between(x, z) <= z.0 - x.0);
            prop_assert_eq!(cal.business_ms_between(z, x), 0);
        }

        /// Around the clock is plain addition, DST or not.
        #[test]
        fn always_open_is_plain_addition(
            tz in prop::sample::select(&[SHANGHAI, NEW_YORK, chrono_tz::Australia::Lord_Howe][..]),
            s in instant(), d in duration(),
        ) {
            let cal = BusinessCalendar::always(tz);
            prop_assert_eq!(cal.add_business(s, d), Ok(s.plus_millis(d)));
            prop_assert_eq!(cal.business_ms_between(s, s.plus_millis(d)), d);
            prop_assert!(cal.is_open(s));
        }

        #[test]
        fn no_pauses_is_add_business(cal in any_calendar(), s in instant(), d in duration()) {
            prop_assert_eq!(
                cal.deadline_with_pauses(s, d, &[]),
                cal.add_business(s, d).map(Some)
            );
        }

        /// A pause lying in closed time changes nothing; any finite pause only delays the
        /// deadline, and the running time up to the deadline is exactly the target.
        #[test]
        fn pauses_in_closed_time_change_nothing(
            cal in any_calendar(), s in instant(), d in duration(),
            p in instant(), len in 0..7 * 24 * HOUR, share in 0_u8..=100,
        ) {
            let plain = cal.add_business(s, d).expect("open");
            let shut = cal.next_closing(p).expect("closes");
            let reopen = cal.next_opening(shut).expect("reopens");
            let end = shut.plus_millis((reopen.0 - shut.0) / 100 * i64::from(share));
            let closed_pause = [(shut, Some(end))];
            prop_assert_eq!(cal.deadline_with_pauses(s, d, &closed_pause), Ok(Some(plain)));

            let pause = [(p, Some(p.plus_millis(len)))];
            let delayed = cal.deadline_with_pauses(s, d, &pause).expect("open").expect("finite");
            prop_assert!(delayed >= plain);
            prop_assert_eq!(cal.elapsed_with_pauses(s, delayed, &pause), d);
            // Running time is business time minus the business time paused, counted separately.
            for t in [plain, delayed, p, p.plus_millis(len / 2)] {
                let paused = cal.business_ms_between(p.max(s), p.plus_millis(len).min(t));
                prop_assert_eq!(
                    cal.elapsed_with_pauses(s, t, &pause),
                    cal.business_ms_between(s, t) - paused
                );
            }
            if d > 0 {
                prop_assert_eq!(cal.elapsed_with_pauses(s, delayed.plus_millis(-1), &pause), d - 1);
            }
        }

        /// Inclusion–exclusion over two pauses, which may overlap, nest or start before `s`.
        #[test]
        fn running_time_is_business_time_minus_paused_business_time(
            cal in any_calendar(), s in instant(), t in instant(),
            p1 in instant(), len1 in 0..5 * 24 * HOUR, shift in -5 * 24 * HOUR..5 * 24 * HOUR,
            len2 in 0..5 * 24 * HOUR,
        ) {
            let p2 = p1.plus_millis(shift);
            let (q1, q2) = (p1.plus_millis(len1), p2.plus_millis(len2));
            let within = |a: Timestamp, b: Timestamp| cal.business_ms_between(a.max(s), b.min(t));
            let paused = within(p1, q1) + within(p2, q2) - within(p1.max(p2), q1.min(q2));
            let pauses = [(p2, Some(q2)), (p1, Some(q1))];
            prop_assert_eq!(
                cal.elapsed_with_pauses(s, t, &pauses),
                cal.business_ms_between(s, t) - paused
            );
            // Running out exactly at a pause or a closing lands there, not at the next opening.
            for edge in [p1, q1, cal.next_closing(s).expect("closes")] {
                let d = cal.elapsed_with_pauses(s, edge, &pauses);
                if d > 0 {
                    let due = cal.deadline_with_pauses(s, d, &pauses).expect("open").expect("finite");
                    prop_assert!(due <= edge);
                    prop_assert_eq!(cal.elapsed_with_pauses(s, due, &pauses), d);
                }
            }
        }

        /// A deadline of exactly the business time up to a closing is that closing.
        #[test]
        fn deadline_at_a_closing_is_the_closing(cal in any_calendar(), s in instant()) {
            let open = cal.next_opening(s).expect("opens");
            let close = cal.next_closing(open).expect("closes");
            let d = cal.business_ms_between(s, close);
            prop_assert_eq!(cal.add_business(s, d), Ok(close));
        }

        /// A pause without an end leaves the deadline known only if it was reached before the
        /// pause began.
        #[test]
        fn open_pause_hides_only_later_deadlines(
            cal in any_calendar(), s in instant(), d in duration(), p in instant(),
        ) {
            let plain = cal.add_business(s, d).expect("open");
            let got = cal.deadline_with_pauses(s, d, &[(p, None)]).expect("open");
            let reached_before_pause = if d == 0 { plain < p.max(s) } else { plain <= p.max(s) };
            prop_assert_eq!(got, reached_before_pause.then_some(plain));
        }

        #[test]
        fn warning_comes_before_the_deadline(
            cal in any_calendar(), s in instant(), d in duration(), percent in 0_u8..=100,
        ) {
            let warn = cal.warning_at(s, d, WarnAt::Elapsed { percent }).expect("open");
            prop_assert!(warn <= cal.add_business(s, d).expect("open"));
            prop_assert_eq!(cal.business_ms_between(s, warn), WarnAt::Elapsed { percent }.elapsed_ms(d));
        }

        #[test]
        fn hours_round_trip_through_text(h in day_hours()) {
            prop_assert_eq!(DayHours::parse(&h.to_string()), Ok(h));
        }
    }
}
