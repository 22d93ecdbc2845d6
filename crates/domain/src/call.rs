//! Calls on the hotline (SPEC D8). The telephony system reports a call as events (ringing,
//! answered, missed, abandoned, voicemail, ended, recording) over HTTP callbacks that may arrive
//! twice or out of order, so a call's state is derived from the *set* of its events, never from
//! the last one received: an `answered` that arrives after `ended` still makes the call answered
//! at the right time, a late `missed` does not undo an answer, a recording URL arriving last is
//! attached. Unanswered and after-hours calls are owed a return call (回拨).

use crate::access::string_enum;
use crate::{BrandId, CallId, CustomerId, Phone, ReturnCallId, Timestamp, UserId};

string_enum!(
    /// What a telephony event says happened.
    CallEventKind {
        Ringing = "ringing",
        Answered = "answered",
        Missed = "missed",
        Abandoned = "abandoned",
        Voicemail = "voicemail",
        Ended = "ended",
        Recording = "recording",
    }
);

string_enum!(
    /// Where a call stands, as derived from its events. `dialing`: an outbound call placed through
    /// click-to-call that no event has reported on yet.
    CallState {
        Dialing = "dialing",
        Ringing = "ringing",
        Answered = "answered",
        Completed = "completed",
        Missed = "missed",
        Abandoned = "abandoned",
        Voicemail = "voicemail",
    }
);

string_enum!(
    Direction {
        Inbound = "inbound",
        Outbound = "outbound",
    }
);

string_enum!(
    /// Why a return call is owed.
    ReturnReason {
        Missed = "missed",
        Abandoned = "abandoned",
        Voicemail = "voicemail",
        AfterHours = "after_hours",
    }
);

string_enum!(
    /// A return-call task: open until an attempt reaches the customer or the attempts run out;
    /// cancelled when the only call behind it turned out answered.
    ReturnStatus {
        Open = "open",
        Reached = "reached",
        GivenUp = "given_up",
        Cancelled = "cancelled",
    }
);

string_enum!(
    /// How one return-call attempt went.
    AttemptOutcome {
        Reached = "reached",
        NoAnswer = "no_answer",
        Busy = "busy",
        WrongNumber = "wrong_number",
    }
);

impl CallEventKind {
    /// Events after which the call is over.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            CallEventKind::Missed
                | CallEventKind::Abandoned
                | CallEventKind::Voicemail
                | CallEventKind::Ended
        )
    }

    /// Events that pop the caller on an agent's page.
    pub fn pops(self) -> bool {
        matches!(self, CallEventKind::Ringing | CallEventKind::Answered)
    }
}

impl CallState {
    pub fn is_answered(self) -> bool {
        matches!(self, CallState::Answered | CallState::Completed)
    }
}

/// One event of a call as far as the derivation cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallEventFact {
    pub kind: CallEventKind,
    pub at: Timestamp,
    /// The agent's extension the event names, if any.
    pub extension: Option<String>,
    /// The recording (`recording`) or voicemail (`voicemail`) URL the event carries.
    pub media_url: Option<String>,
}

/// What a set of events says about a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallFacts {
    pub state: CallState,
    /// The first ringing event, or the first event of any kind when none rang.
    pub ringing_at: Timestamp,
    pub answered_at: Option<Timestamp>,
    /// The last terminal event.
    pub ended_at: Option<Timestamp>,
    pub recording_url: Option<String>,
    pub voicemail_url: Option<String>,
    /// The extension that answered, else the last one that rang.
    pub extension: Option<String>,
}

impl CallFacts {
    /// Milliseconds from the first ring to the answer.
    pub fn time_to_answer_ms(&self) -> Option<i64> {
        self.answered_at.map(|a| (a.0 - self.ringing_at.0).max(0))
    }
}

/// A call as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub id: CallId,
    pub provider: String,
    pub provider_call_id: String,
    pub brand_id: Option<BrandId>,
    pub direction: Direction,
    /// The caller's number, normalised; None when withheld or not a phone number.
    pub caller: Option<Phone>,
    pub caller_raw: String,
    pub called: String,
    pub customer_id: Option<CustomerId>,
    pub customer_name: Option<String>,
    pub extension: Option<String>,
    pub agent_user_id: Option<UserId>,
    pub agent_name: Option<String>,
    pub state: CallState,
    pub ringing_at: Timestamp,
    pub answered_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    pub after_hours: bool,
    pub recording_url: Option<String>,
    pub voicemail_url: Option<String>,
    pub return_call_id: Option<ReturnCallId>,
    pub version: i64,
}

/// A return call owed to a caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnCall {
    pub id: ReturnCallId,
    pub brand_id: Option<BrandId>,
    /// The call that made it.
    pub call_id: CallId,
    pub customer_id: Option<CustomerId>,
    pub customer_name: Option<String>,
    pub phone: Phone,
    pub reason: ReturnReason,
    /// How many unanswered calls from this number it stands for.
    pub calls_count: i64,
    pub due_at: Timestamp,
    pub status: ReturnStatus,
    pub attempts: i64,
    pub max_attempts: i64,
    pub assignee_id: Option<UserId>,
    pub closed_at: Option<Timestamp>,
    pub version: i64,
    pub created_at: Timestamp,
}

impl ReturnCall {
    /// Open and due at `now`: it may be dialled (an after-hours call only from the opening).
    pub fn callable(&self, now: Timestamp) -> bool {
        self.status == ReturnStatus::Open && self.due_at <= now
    }
}

/// One attempt to call a customer back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnAttempt {
    pub at: Timestamp,
    pub by: Option<UserId>,
    pub by_name: Option<String>,
    pub outcome: AttemptOutcome,
    pub note: Option<String>,
}

/// Derives a call from its events, whatever order they arrived in. `None` for no events.
pub fn derive(events: &[CallEventFact]) -> Option<CallFacts> {
    let mut sorted: Vec<&CallEventFact> = events.iter().collect();
    // A total order so that the same set always gives the same answer.
    sorted.sort_by(|a, b| {
        (a.at, a.kind, &a.extension, &a.media_url).cmp(&(b.at, b.kind, &b.extension, &b.media_url))
    });
    let first = sorted.first()?;
    let of = |k: CallEventKind| sorted.iter().filter(move |e| e.kind == k);
    let ringing_at = of(CallEventKind::Ringing).next().map_or(first.at, |e| e.at);
    let answered = of(CallEventKind::Answered).next();
    let answered_at = answered.map(|e| e.at);
    let ended_at = sorted
        .iter()
        .filter(|e| e.kind.is_terminal())
        .map(|e| e.at)
        .max();
    let any = |k: CallEventKind| of(k).next().is_some();
    let state = if answered_at.is_some() {
        if ended_at.is_some() {
            CallState::Completed
        } else {
            CallState::Answered
        }
    } else if any(CallEventKind::Voicemail) {
        CallState::Voicemail
    } else if any(CallEventKind::Abandoned) {
        CallState::Abandoned
    } else if any(CallEventKind::Missed) || any(CallEventKind::Ended) {
        // Ended without an answer: nobody took it.
        CallState::Missed
    } else {
        CallState::Ringing
    };
    let last_url = |k: CallEventKind| {
        of(k)
            .filter_map(|e| e.media_url.clone())
            .rfind(|u| !u.is_empty())
    };
    let extension = answered
        .and_then(|e| e.extension.clone())
        .or_else(|| {
            of(CallEventKind::Ringing)
                .filter_map(|e| e.extension.clone())
                .next_back()
        })
        .or_else(|| {
            sorted
                .iter()
                .filter_map(|e| e.extension.clone())
                .next_back()
        });
    Some(CallFacts {
        state,
        ringing_at,
        answered_at,
        ended_at,
        recording_url: last_url(CallEventKind::Recording),
        voicemail_url: last_url(CallEventKind::Voicemail),
        extension,
    })
}

/// Whether a call is owed a return call, and why: an answered call never is; an inbound call
/// while the desk is closed always is (the caller is called back at opening); otherwise a call
/// that ended unanswered.
pub fn return_reason(
    direction: Direction,
    state: CallState,
    after_hours: bool,
) -> Option<ReturnReason> {
    if direction == Direction::Outbound || state.is_answered() {
        return None;
    }
    if after_hours {
        return Some(ReturnReason::AfterHours);
    }
    match state {
        CallState::Missed => Some(ReturnReason::Missed),
        CallState::Abandoned => Some(ReturnReason::Abandoned),
        CallState::Voicemail => Some(ReturnReason::Voicemail),
        _ => None,
    }
}

/// Where a return call goes after an attempt with `outcome`, the `attempts` made so far
/// included: reached ends it; otherwise it stays open until `max_attempts` are used up.
pub fn after_attempt(outcome: AttemptOutcome, attempts: i64, max_attempts: i64) -> ReturnStatus {
    if outcome == AttemptOutcome::Reached {
        ReturnStatus::Reached
    } else if attempts >= max_attempts {
        ReturnStatus::GivenUp
    } else {
        ReturnStatus::Open
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: CallEventKind, at: i64) -> CallEventFact {
        CallEventFact {
            kind,
            at: Timestamp(at),
            extension: None,
            media_url: None,
        }
    }

    fn with_url(kind: CallEventKind, at: i64, url: &str) -> CallEventFact {
        CallEventFact {
            media_url: Some(url.into()),
            ..ev(kind, at)
        }
    }

    use CallEventKind as K;

    #[test]
    fn state_follows_the_set_of_events_in_any_order() {
        /// Events, the state they make, when answered and when ended.
        type Case<'a> = (&'a [CallEventFact], CallState, Option<i64>, Option<i64>);
        let cases: &[Case] = &[
            (&[ev(K::Ringing, 0)], CallState::Ringing, None, None),
            (
                &[ev(K::Ringing, 0), ev(K::Answered, 9_000)],
                CallState::Answered,
                Some(9_000),
                None,
            ),
            (
                &[
                    ev(K::Ringing, 0),
                    ev(K::Answered, 9_000),
                    ev(K::Ended, 60_000),
                ],
                CallState::Completed,
                Some(9_000),
                Some(60_000),
            ),
            // answered arriving after ended
            (
                &[
                    ev(K::Ringing, 0),
                    ev(K::Ended, 60_000),
                    ev(K::Answered, 9_000),
                ],
                CallState::Completed,
                Some(9_000),
                Some(60_000),
            ),
            // a late missed does not undo the answer
            (
                &[
                    ev(K::Answered, 5_000),
                    ev(K::Ringing, 0),
                    ev(K::Missed, 30_000),
                ],
                CallState::Completed,
                Some(5_000),
                Some(30_000),
            ),
            (
                &[ev(K::Ringing, 0), ev(K::Missed, 30_000)],
                CallState::Missed,
                None,
                Some(30_000),
            ),
            (
                &[ev(K::Ringing, 0), ev(K::Ended, 30_000)],
                CallState::Missed,
                None,
                Some(30_000),
            ),
            (
                &[ev(K::Abandoned, 12_000), ev(K::Ringing, 0)],
                CallState::Abandoned,
                None,
                Some(12_000),
            ),
            (
                &[
                    ev(K::Ringing, 0),
                    ev(K::Missed, 20_000),
                    ev(K::Voicemail, 50_000),
                ],
                CallState::Voicemail,
                None,
                Some(50_000),
            ),
        ];
        for (events, state, answered, ended) in cases {
            let f = derive(events).unwrap();
            assert_eq!(f.state, *state, "{events:?}");
            assert_eq!(f.answered_at.map(|t| t.0), *answered, "{events:?}");
            assert_eq!(f.ended_at.map(|t| t.0), *ended, "{events:?}");
            assert_eq!(f.ringing_at, Timestamp(0), "{events:?}");
            let mut reversed = events.to_vec();
            reversed.reverse();
            assert_eq!(derive(&reversed).as_ref(), Some(&f));
        }
        assert_eq!(derive(&[]), None);
    }

    #[test]
    fn media_and_extension_are_attached_whenever_they_arrive() {
        let mut answered = ev(K::Answered, 4_000);
        answered.extension = Some("8002".into());
        let mut ringing = ev(K::Ringing, 0);
        ringing.extension = Some("8001".into());
        let f = derive(&[
            with_url(K::Recording, 99_000, "https://rec/1.mp3"),
            ev(K::Ended, 90_000),
            answered,
            ringing.clone(),
        ])
        .unwrap();
        assert_eq!(f.recording_url.as_deref(), Some("https://rec/1.mp3"));
        assert_eq!(f.extension.as_deref(), Some("8002"));
        assert_eq!(f.time_to_answer_ms(), Some(4_000));
        let v = derive(&[ringing, with_url(K::Voicemail, 40_000, "https://vm/2.wav")]).unwrap();
        assert_eq!(v.voicemail_url.as_deref(), Some("https://vm/2.wav"));
        assert_eq!(v.extension.as_deref(), Some("8001"));
        assert_eq!(v.time_to_answer_ms(), None);
    }

    #[test]
    fn who_is_owed_a_return_call() {
        use Direction::{Inbound, Outbound};
        let table = [
            (Inbound, CallState::Ringing, false, None),
            (Inbound, CallState::Answered, false, None),
            (Inbound, CallState::Completed, true, None),
            (
                Inbound,
                CallState::Missed,
                false,
                Some(ReturnReason::Missed),
            ),
            (
                Inbound,
                CallState::Abandoned,
                false,
                Some(ReturnReason::Abandoned),
            ),
            (
                Inbound,
                CallState::Voicemail,
                false,
                Some(ReturnReason::Voicemail),
            ),
            (
                Inbound,
                CallState::Ringing,
                true,
                Some(ReturnReason::AfterHours),
            ),
            (
                Inbound,
                CallState::Missed,
                true,
                Some(ReturnReason::AfterHours),
            ),
            (Outbound, CallState::Missed, false, None),
        ];
        for (d, s, after, want) in table {
            assert_eq!(return_reason(d, s, after), want, "{d} {s} {after}");
        }
    }

    #[test]
    fn attempts_end_when_reached_or_used_up() {
        use AttemptOutcome as O;
        assert_eq!(after_attempt(O::Reached, 1, 3), ReturnStatus::Reached);
        assert_eq!(after_attempt(O::NoAnswer, 1, 3), ReturnStatus::Open);
        assert_eq!(after_attempt(O::Busy, 2, 3), ReturnStatus::Open);
        assert_eq!(after_attempt(O::NoAnswer, 3, 3), ReturnStatus::GivenUp);
        assert_eq!(after_attempt(O::WrongNumber, 3, 3), ReturnStatus::GivenUp);
        assert_eq!(after_attempt(O::Reached, 3, 3), ReturnStatus::Reached);
    }
}
