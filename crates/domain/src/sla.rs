//! Service levels (D4): which target applies to a ticket or work order, and what state one of its
//! clocks is in. The arithmetic of business time is [`crate::calendar`]; this module names the
//! things around it — metrics, the subjects a clock runs for, policies and how the most specific
//! one is chosen — so that app/ and store/ agree on them and the choice is tested here once.

use std::collections::BTreeMap;

pub use chrono_tz::Tz;

use crate::access::string_enum;
use crate::account::BrandTier;
use crate::calendar::{BusinessCalendar, DayHours, DayRule, DeadlineError, Pause, WarnAt};
use crate::ids::{BrandId, CalendarId, CustomerId, SlaClockId, SlaPolicyId};
use crate::ticket::{ComplaintCategory, Priority, TicketEvent, TicketKind};
use crate::time::{Date, Timestamp};

string_enum!(
    /// What a clock measures.
    SlaMetric {
        // Until the first answer to the requester.
        FirstReply = "first_reply",
        // Until a handling plan (处理方案) is given; complaints with liability or compensation.
        Proposal = "proposal",
        // Until the matter is resolved.
        Resolution = "resolution",
    }
);

string_enum!(
    /// What a clock runs for; clocks are generic so work orders reuse them.
    SubjectKind {
        Ticket = "ticket",
        WorkOrder = "work_order",
    }
);

string_enum!(
    /// How a stopped clock ended.
    SlaOutcome {
        Met = "met",
        Breached = "breached",
    }
);

string_enum!(
    /// What a person looking at a clock needs to know first.
    ClockState {
        Running = "running",
        Paused = "paused",
        // Past its warning instant, not yet due.
        Warning = "warning",
        Breached = "breached",
        Met = "met",
    }
);

/// What an accepted ticket event does to the ticket's clocks. Every event goes through
/// `TicketState::apply` and then through this one table, so no action can leave a clock running
/// that its event should have stopped (a signed plan stops the proposal clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockEffect {
    None,
    /// Waiting on the customer: the running clocks pause.
    Pause,
    /// The customer answered: the paused clocks run again.
    Resume,
    /// These targets were reached: their clocks stop, met or breached.
    Stop(&'static [SlaMetric]),
    /// Closed, cancelled or merged: every clock stops.
    StopAll,
    /// Reopened: the resolution clock starts again.
    RestartResolution,
}

impl ClockEffect {
    pub fn of(event: &TicketEvent) -> Self {
        match event {
            TicketEvent::WaitForCustomer => Self::Pause,
            TicketEvent::CustomerResponded => Self::Resume,
            TicketEvent::SignPlan { .. } => Self::Stop(&[SlaMetric::Proposal]),
            TicketEvent::Resolve { .. }
            | TicketEvent::SolvedRemotely { .. }
            | TicketEvent::ConvertedToWorkOrder { .. } => Self::Stop(&[
                SlaMetric::FirstReply,
                SlaMetric::Proposal,
                SlaMetric::Resolution,
            ]),
            TicketEvent::Close | TicketEvent::Cancel | TicketEvent::MergeInto { .. } => {
                Self::StopAll
            }
            TicketEvent::Reopen => Self::RestartResolution,
            TicketEvent::Route { .. }
            | TicketEvent::Transfer { .. }
            | TicketEvent::Accept { .. }
            | TicketEvent::ReturnPlan { .. }
            | TicketEvent::InformRequester { .. }
            | TicketEvent::Confirm
            | TicketEvent::Reassign { .. }
            | TicketEvent::Urge => Self::None,
        }
    }
}

/// One ticket or work order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Subject {
    pub kind: SubjectKind,
    pub id: i64,
}

impl Subject {
    pub fn ticket(id: crate::TicketId) -> Self {
        Self {
            kind: SubjectKind::Ticket,
            id: id.0,
        }
    }

    pub fn work_order(id: crate::WorkOrderId) -> Self {
        Self {
            kind: SubjectKind::WorkOrder,
            id: id.0,
        }
    }
}

/// A target for one metric, for the tickets its match columns select (`None` = any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaPolicy {
    pub id: SlaPolicyId,
    pub name: String,
    pub metric: SlaMetric,
    pub kind: Option<TicketKind>,
    pub category: Option<ComplaintCategory>,
    pub priority: Option<Priority>,
    pub tier: Option<BrandTier>,
    /// Business minutes on `calendar_id`.
    pub target_minutes: i64,
    pub calendar_id: CalendarId,
    /// The warning is due after this share of the target (0–100).
    pub warn_percent: u8,
    pub active: bool,
    pub version: i64,
}

/// What a ticket is, as far as choosing its targets goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyKey {
    pub kind: TicketKind,
    pub category: Option<ComplaintCategory>,
    pub priority: Priority,
    pub tier: Option<BrandTier>,
}

impl SlaPolicy {
    /// Whether every match column is either empty or equal to the key's value.
    pub fn matches(&self, key: &PolicyKey) -> bool {
        self.active
            && self.kind.is_none_or(|k| k == key.kind)
            && self.category.is_none_or(|c| Some(c) == key.category)
            && self.priority.is_none_or(|p| p == key.priority)
            && self.tier.is_none_or(|t| Some(t) == key.tier)
    }

    /// Orders candidates: more match columns set wins; between equally many, the columns weigh
    /// kind > category > priority > tier; then the older policy (smaller id).
    fn rank(&self) -> (u32, u8, std::cmp::Reverse<i64>) {
        let bits = [
            (self.kind.is_some(), 8_u8),
            (self.category.is_some(), 4),
            (self.priority.is_some(), 2),
            (self.tier.is_some(), 1),
        ];
        let count = bits.iter().filter(|(set, _)| *set).count();
        let weight = bits.iter().filter(|(set, _)| *set).map(|(_, w)| w).sum();
        (
            u32::try_from(count).unwrap_or(0),
            weight,
            std::cmp::Reverse(self.id.0),
        )
    }
}

/// The policy that applies to `key` for `metric`: the most specific active match, ties broken
/// by column weight and then by the smallest id, so the choice never depends on row order.
pub fn choose<'a>(
    policies: &'a [SlaPolicy],
    metric: SlaMetric,
    key: &PolicyKey,
) -> Option<&'a SlaPolicy> {
    policies
        .iter()
        .filter(|p| p.metric == metric && p.matches(key))
        .max_by_key(|p| p.rank())
}

/// A stored business calendar: its weekly hours; its exceptional days are [`CalendarDay`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarRecord {
    pub id: CalendarId,
    pub brand_id: Option<BrandId>,
    pub name: String,
    pub tz: Tz,
    /// Monday first.
    pub week: [DayHours; 7],
    pub is_default: bool,
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A holiday, a make-up working day (调休) or a day with special hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarDay {
    pub date: Date,
    pub rule: DayRule,
    /// 国庆节, 春节调休 …
    pub name: String,
}

impl CalendarRecord {
    /// The calculable calendar: the weekly hours with `days` as exceptions.
    pub fn calendar(&self, days: &[CalendarDay]) -> BusinessCalendar {
        let exceptions: BTreeMap<Date, DayRule> =
            days.iter().map(|d| (d.date, d.rule.clone())).collect();
        BusinessCalendar::new(self.tz, self.week.clone(), exceptions)
    }
}

/// An SLA clock of one subject and metric. The deadline follows from the start, the pauses and
/// the calendar; while paused there is none (`due_at` and `warn_at` are `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaClock {
    pub id: SlaClockId,
    pub subject: Subject,
    pub brand_id: Option<BrandId>,
    pub customer_id: Option<CustomerId>,
    pub metric: SlaMetric,
    pub policy_id: Option<SlaPolicyId>,
    pub calendar_id: CalendarId,
    pub started_at: Timestamp,
    /// Business time allowed.
    pub target_ms: i64,
    /// Business time after which the warning is due.
    pub warn_ms: i64,
    pub due_at: Option<Timestamp>,
    pub warn_at: Option<Timestamp>,
    /// The start of the pause in progress.
    pub paused_at: Option<Timestamp>,
    /// Pauses that ended, in order.
    pub pauses: Vec<(Timestamp, Timestamp)>,
    pub stopped_at: Option<Timestamp>,
    pub outcome: Option<SlaOutcome>,
    pub warned_at: Option<Timestamp>,
    pub breached_at: Option<Timestamp>,
    pub escalated_at: Option<Timestamp>,
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl SlaClock {
    pub fn is_running(&self) -> bool {
        self.stopped_at.is_none() && self.paused_at.is_none()
    }

    /// All pauses, the one in progress without an end, as the calendar arithmetic takes them.
    pub fn all_pauses(&self) -> Vec<Pause> {
        self.pauses
            .iter()
            .map(|&(a, b)| (a, Some(b)))
            .chain(self.paused_at.map(|p| (p, None)))
            .collect()
    }

    /// Whether the deadline has passed (a breach recorded, or `now` after `due_at`).
    pub fn is_late(&self, now: Timestamp) -> bool {
        self.breached_at.is_some() || self.due_at.is_some_and(|d| now > d)
    }

    pub fn state(&self, now: Timestamp) -> ClockState {
        if let Some(o) = self.outcome {
            return match o {
                SlaOutcome::Met => ClockState::Met,
                SlaOutcome::Breached => ClockState::Breached,
            };
        }
        if self.is_late(now) {
            ClockState::Breached
        } else if self.paused_at.is_some() {
            ClockState::Paused
        } else if self.warned_at.is_some() || self.warn_at.is_some_and(|w| now >= w) {
            ClockState::Warning
        } else {
            ClockState::Running
        }
    }

    /// Business time still left at `now` (negative once late); stops counting at the stop.
    pub fn remaining_ms(&self, cal: &BusinessCalendar, now: Timestamp) -> i64 {
        let until = self.stopped_at.map_or(now, |s| s.min(now));
        self.target_ms - cal.elapsed_with_pauses(self.started_at, until, &self.all_pauses())
    }

    /// Recomputes `due_at` and `warn_at` from the start and the pauses: both `None` while
    /// paused.
    pub fn schedule(&mut self, cal: &BusinessCalendar) -> Result<(), DeadlineError> {
        let pauses = self.all_pauses();
        self.due_at = cal.deadline_with_pauses(self.started_at, self.target_ms, &pauses)?;
        self.warn_at = if self.due_at.is_some() {
            cal.deadline_with_pauses(self.started_at, self.warn_ms, &pauses)?
        } else {
            None
        };
        Ok(())
    }

    /// Stops the clock from running at `now`. False if it was not running. A clock already
    /// past its deadline keeps it: the breach happened, waiting on the customer now does not
    /// undo it.
    pub fn pause(&mut self, now: Timestamp) -> bool {
        if !self.is_running() {
            return false;
        }
        self.paused_at = Some(now.max(self.started_at));
        if !self.is_late(now) {
            self.due_at = None;
            self.warn_at = None;
        }
        true
    }

    /// Lets a paused clock run again from `now`, with a new deadline. False if it was not
    /// paused.
    pub fn resume(
        &mut self,
        now: Timestamp,
        cal: &BusinessCalendar,
    ) -> Result<bool, DeadlineError> {
        let Some(from) = self.paused_at.take() else {
            return Ok(false);
        };
        if self.stopped_at.is_some() {
            return Ok(false);
        }
        self.pauses.push((from, now.max(from)));
        self.schedule(cal)?;
        Ok(true)
    }

    /// Ends the clock at `now`: met if the target was reached in time, else breached. `None`
    /// if it had already stopped.
    pub fn stop(&mut self, now: Timestamp) -> Option<SlaOutcome> {
        if self.stopped_at.is_some() {
            return None;
        }
        if let Some(from) = self.paused_at.take() {
            self.pauses.push((from, now.max(from)));
        }
        let outcome = if self.is_late(now) {
            SlaOutcome::Breached
        } else {
            SlaOutcome::Met
        };
        self.stopped_at = Some(now);
        self.outcome = Some(outcome);
        Some(outcome)
    }
}

/// The warning rule of a policy's percentage.
pub fn warn_ms(target_ms: i64, warn_percent: u8) -> i64 {
    WarnAt::Elapsed {
        percent: warn_percent,
    }
    .elapsed_ms(target_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(id: i64, metric: SlaMetric) -> SlaPolicy {
        SlaPolicy {
            id: SlaPolicyId(id),
            name: String::new(),
            metric,
            kind: None,
            category: None,
            priority: None,
            tier: None,
            target_minutes: 60,
            calendar_id: CalendarId(1),
            warn_percent: 80,
            active: true,
            version: 1,
        }
    }

    fn key(kind: TicketKind) -> PolicyKey {
        PolicyKey {
            kind,
            category: None,
            priority: Priority::Normal,
            tier: None,
        }
    }

    #[test]
    fn the_most_specific_active_policy_wins() {
        let any = policy(1, SlaMetric::FirstReply);
        let suggestion = SlaPolicy {
            kind: Some(TicketKind::Suggestion),
            ..policy(2, SlaMetric::FirstReply)
        };
        let premium = SlaPolicy {
            tier: Some(BrandTier::Premium),
            ..policy(3, SlaMetric::FirstReply)
        };
        let urgent_complaint = SlaPolicy {
            kind: Some(TicketKind::Complaint),
            priority: Some(Priority::Urgent),
            ..policy(4, SlaMetric::FirstReply)
        };
        let inactive = SlaPolicy {
            kind: Some(TicketKind::Complaint),
            priority: Some(Priority::Urgent),
            tier: Some(BrandTier::Premium),
            active: false,
            ..policy(5, SlaMetric::FirstReply)
        };
        let twin = SlaPolicy {
            kind: Some(TicketKind::Suggestion),
            ..policy(6, SlaMetric::FirstReply)
        };
        let other_metric = SlaPolicy {
            kind: Some(TicketKind::Suggestion),
            ..policy(7, SlaMetric::Resolution)
        };
        // Row order must not matter.
        let mut all = vec![
            twin,
            other_metric,
            inactive,
            urgent_complaint,
            premium,
            suggestion,
            any,
        ];
        for _ in 0..2 {
            let pick = |k: PolicyKey| choose(&all, SlaMetric::FirstReply, &k).map(|p| p.id.0);
            assert_eq!(pick(key(TicketKind::Consultation)), Some(1));
            // Equally specific twins: the smaller id.
            assert_eq!(pick(key(TicketKind::Suggestion)), Some(2));
            let premium_suggestion = PolicyKey {
                tier: Some(BrandTier::Premium),
                ..key(TicketKind::Suggestion)
            };
            // One column each: kind outweighs tier.
            assert_eq!(pick(premium_suggestion), Some(2));
            let premium_repair = PolicyKey {
                tier: Some(BrandTier::Premium),
                ..key(TicketKind::RepairRequest)
            };
            assert_eq!(pick(premium_repair), Some(3));
            let urgent = PolicyKey {
                priority: Priority::Urgent,
                tier: Some(BrandTier::Premium),
                ..key(TicketKind::Complaint)
            };
            // Two columns beat one; the inactive three-column policy is ignored.
            assert_eq!(pick(urgent), Some(4));
            assert_eq!(
                choose(&all, SlaMetric::Proposal, &key(TicketKind::Complaint)),
                None
            );
            all.reverse();
        }
    }

    #[test]
    fn names_round_trip() {
        for m in SlaMetric::ALL {
            assert_eq!(SlaMetric::parse(m.as_str()), Some(*m));
        }
        for s in ClockState::ALL {
            assert_eq!(ClockState::parse(s.as_str()), Some(*s));
        }
        assert_eq!(
            SubjectKind::parse("work_order"),
            Some(SubjectKind::WorkOrder)
        );
        assert_eq!(SlaOutcome::parse("late"), None);
    }

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).expect("instant")
    }

    /// A first-reply clock on 8:00–21:00 started at 20:30 Monday.
    fn desk_clock() -> (SlaClock, BusinessCalendar) {
        let cal = BusinessCalendar::every_day(
            chrono_tz::Asia::Shanghai,
            crate::calendar::Opening::parse("08:00-21:00").expect("hours"),
        );
        let mut k = SlaClock {
            id: SlaClockId(1),
            subject: Subject::ticket(crate::TicketId(9)),
            brand_id: None,
            customer_id: None,
            metric: SlaMetric::FirstReply,
            policy_id: None,
            calendar_id: CalendarId(1),
            started_at: ts("2026-11-23T20:30:00+08:00"),
            target_ms: 3_600_000,
            warn_ms: warn_ms(3_600_000, 80),
            due_at: None,
            warn_at: None,
            paused_at: None,
            pauses: vec![],
            stopped_at: None,
            outcome: None,
            warned_at: None,
            breached_at: None,
            escalated_at: None,
            version: 1,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
        };
        k.schedule(&cal).expect("deadline");
        (k, cal)
    }

    #[test]
    fn a_clock_pauses_resumes_and_stops() {
        let (mut k, cal) = desk_clock();
        assert_eq!(k.due_at, Some(ts("2026-11-24T08:30:00+08:00")));
        assert_eq!(k.warn_at, Some(ts("2026-11-24T08:18:00+08:00")));
        assert_eq!(
            k.state(ts("2026-11-23T20:40:00+08:00")),
            ClockState::Running
        );
        assert_eq!(
            k.state(ts("2026-11-24T08:18:00+08:00")),
            ClockState::Warning
        );
        assert_eq!(
            k.state(ts("2026-11-24T08:30:00+08:00")),
            ClockState::Warning
        );
        assert_eq!(
            k.state(ts("2026-11-24T08:30:00.001+08:00")),
            ClockState::Breached
        );
        // 20:40 to 08:10: ten minutes before closing, ten after opening.
        assert!(k.pause(ts("2026-11-23T20:40:00+08:00")));
        assert!(!k.pause(ts("2026-11-23T20:41:00+08:00")));
        assert_eq!((k.due_at, k.warn_at), (None, None));
        assert_eq!(k.state(ts("2026-11-30T00:00:00+08:00")), ClockState::Paused);
        assert_eq!(
            k.remaining_ms(&cal, ts("2026-11-24T08:00:00+08:00")),
            50 * 60_000
        );
        assert_eq!(k.resume(ts("2026-11-24T08:10:00+08:00"), &cal), Ok(true));
        assert_eq!(k.resume(ts("2026-11-24T08:11:00+08:00"), &cal), Ok(false));
        assert_eq!(k.due_at, Some(ts("2026-11-24T09:00:00+08:00")));
        assert_eq!(
            k.stop(ts("2026-11-24T09:00:00+08:00")),
            Some(SlaOutcome::Met)
        );
        assert_eq!(k.stop(ts("2026-11-24T10:00:00+08:00")), None);
        assert_eq!(k.state(ts("2026-11-25T00:00:00+08:00")), ClockState::Met);

        // Late, then paused: the deadline stays and the clock stays breached.
        let (mut late, _) = desk_clock();
        assert!(late.pause(ts("2026-11-24T09:00:00+08:00")));
        assert_eq!(late.due_at, Some(ts("2026-11-24T08:30:00+08:00")));
        assert_eq!(
            late.state(ts("2026-11-24T09:00:00+08:00")),
            ClockState::Breached
        );
        assert_eq!(
            late.stop(ts("2026-11-24T09:30:00+08:00")),
            Some(SlaOutcome::Breached)
        );
    }
}
