//! Tickets (受理单/客诉单) as a status machine: what a ticket is (D1), how it travels between the
//! front desk and the responsible departments with a signed plan and time (D2, seed 000), who owns
//! it at every moment (D3, 首问负责制 of seed 004), the complaint facts it carries (D5), urging
//! (D10) and remote support (D11).
//!
//! This module owns the rules, not the records: [`TicketState`] is the part of a stored ticket that
//! the workflow reads and writes (status, owner, tracker, department, …), and
//! [`TicketState::transition`] decides whether an event is allowed and where it leads. Facts that
//! live in other rows — whether every part of the plan is signed, how many compensations are still
//! open, whether the actor belongs to the department queue, the time now — come in as [`Guards`]
//! supplied by app/, so the decision stays pure and is tested here once, as a table.
//!
//! Ownership is a type, not a convention: a ticket holds exactly one [`Owner`] (a person or a
//! department queue) in every state, so "nobody owns it" and "two people own it" cannot be written
//! down. Which owner a state has is fixed by the machine: a routed ticket belongs to the
//! department's queue, an accepted one to the handler who accepted it, and from the moment the
//! plan returns the named tracker (the agent or dealer account owner who received the request)
//! owns it until it closes — the seed's 专项跟踪 by the person the customer first spoke to.
//!
//! The moves, with the owner afterwards (T = the tracker, H = the department handler, Q(d) =
//! department d's queue, "=" = unchanged); anything not listed is refused with `NotAllowed`:
//!
//! ```text
//! main line (D2)
//!   Open          ─Route{d}──────────→ Routed          Q(d)   needs a tracker
//!   Routed        ─Accept{by}────────→ Accepted        by     by is in the queue's department
//!   Accepted      ─SignPlan{by,at}───→ PlanSigned      =      by owns; all parts signed; at > now
//!   PlanSigned    ─ReturnPlan{by}────→ PlanReturned    T      by owns
//!   PlanReturned  ─InformRequester{by}→ InProgress     =      by owns (the reassurance contact)
//!   InProgress    ─Resolve{by}───────→ Resolved        =      by owns
//!   Resolved      ─Confirm───────────→ Confirmed       =
//!   Confirmed     ─Close─────────────→ Closed          =      no open compensation
//! short cuts and detours
//!   Open          ─Resolve{by}───────→ Resolved        =      answered at the front desk
//!   Open, Accepted, InProgress ─SolvedRemotely / ConvertedToWorkOrder{by}→ Resolved   T
//!                                                             by owns; repair requests only (D11)
//!   InProgress    ─Route{d}──────────→ Routed          Q(d)   another round with a department
//!   Routed, Accepted ─Transfer{d}────→ Routed          Q(d)   d may be the same: back to the queue
//!   Open, Accepted, InProgress ─WaitForCustomer→ WaitingOnCustomer   =   SLA clocks pause
//!   WaitingOnCustomer ─CustomerResponded→ the state it was waiting in   =
//!   Resolved, Confirmed, Closed ─Reopen→ InProgress    T      within the reopen window
//! anywhere open
//!   every open state but Routed    ─Reassign{u}→ same state  u   (tracker's stages: u becomes T)
//!   Open … InProgress, Waiting     ─MergeInto{t}→ Merged     =   t ≠ self; no open compensation
//!   Open … InProgress, Waiting     ─Cancel──────→ Cancelled  =   no open compensation
//!   Open … Resolved (not Confirmed) ─Urge───────→ same state =   counted; priority up every N
//! Merged and Cancelled are terminal; Closed moves only by Reopen.
//! ```

use serde::{Deserialize, Serialize};

use crate::access::string_enum;
use crate::{
    BrandId, CustomerId, DeviceId, Money, OrgUnitId, TicketId, Timestamp, UserId, WorkOrderId,
};

string_enum!(
    /// What the requester wants (D1). Opinion tickets are `Suggestion`.
    TicketKind {
        Consultation = "consultation",
        Complaint = "complaint",
        RepairRequest = "repair_request",
        InstallationRequest = "installation_request",
        ReturnExchange = "return_exchange",
        Suggestion = "suggestion",
    }
);

string_enum!(
    /// Where a ticket came in (D1).
    Channel {
        Phone = "phone",
        WebForm = "web_form",
        DealerPortal = "dealer_portal",
        Api = "api",
        Email = "email",
        WalkIn = "walk_in",
        Wechat = "wechat",
    }
);

string_enum!(
    /// Ordered from least to most pressing, so `max` and comparisons mean what they say.
    Priority {
        Low = "low",
        Normal = "normal",
        High = "high",
        Urgent = "urgent",
    }
);

impl Priority {
    /// One step up, staying at `Urgent`.
    #[must_use]
    pub fn raised(self) -> Self {
        match self {
            Priority::Low => Priority::Normal,
            Priority::Normal => Priority::High,
            Priority::High | Priority::Urgent => Priority::Urgent,
        }
    }
}

string_enum!(
    /// Where a ticket is in the cross-department workflow (D2).
    TicketStatus {
        // Received by the front desk or a dealer's account owner; not yet with a department.
        Open = "open",
        // In a department's queue, waiting for a handler to accept it.
        Routed = "routed",
        // A department handler has taken it and is working out the plan.
        Accepted = "accepted",
        // Every part of the plan (处理方案) is signed with a committed time.
        PlanSigned = "plan_signed",
        // The plan is back with the tracker, who has yet to tell the requester.
        PlanReturned = "plan_returned",
        // The requester knows how and when; the tracker follows it through (专项跟踪).
        InProgress = "in_progress",
        // Waiting on the customer; SLA clocks are paused.
        WaitingOnCustomer = "waiting_on_customer",
        // Done from our side; waiting for the requester to confirm.
        Resolved = "resolved",
        // The requester confirmed; closes once nothing is left open (compensation).
        Confirmed = "confirmed",
        Closed = "closed",
        // A duplicate folded into another ticket; terminal.
        Merged = "merged",
        // Withdrawn or raised in error; terminal.
        Cancelled = "cancelled",
    }
);

impl TicketStatus {
    /// Whether the ticket still asks for work or attention: everything but closed, merged and
    /// cancelled. A resolved ticket is open — the requester has not confirmed yet.
    pub fn is_open(self) -> bool {
        !matches!(
            self,
            TicketStatus::Closed | TicketStatus::Merged | TicketStatus::Cancelled
        )
    }

    /// The states whose owner is the tracker: the person who received the request owns it
    /// outside the department's part of the journey (首问负责制).
    fn tracker_owned(self) -> bool {
        matches!(
            self,
            TicketStatus::Open
                | TicketStatus::PlanReturned
                | TicketStatus::InProgress
                | TicketStatus::Resolved
                | TicketStatus::Confirmed
                | TicketStatus::Closed
        )
    }
}

/// Who answers for a ticket right now. Exactly one, always (D3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Owner {
    User(UserId),
    /// A department's queue: any member may accept it.
    Queue(OrgUnitId),
}

impl Owner {
    /// From the two nullable columns a store keeps; `None` unless exactly one is set, so a row
    /// that breaks the invariant is caught when read instead of being shown as ownerless.
    pub fn from_columns(user: Option<UserId>, queue: Option<OrgUnitId>) -> Option<Self> {
        match (user, queue) {
            (Some(u), None) => Some(Owner::User(u)),
            (None, Some(q)) => Some(Owner::Queue(q)),
            _ => None,
        }
    }
    pub fn user(self) -> Option<UserId> {
        match self {
            Owner::User(u) => Some(u),
            Owner::Queue(_) => None,
        }
    }
    pub fn queue(self) -> Option<OrgUnitId> {
        match self {
            Owner::Queue(q) => Some(q),
            Owner::User(_) => None,
        }
    }
}

string_enum!(
    /// The name of a [`TicketEvent`], for errors, audit rows and the timeline.
    TicketEventKind {
        Route = "route",
        Transfer = "transfer",
        Accept = "accept",
        SignPlan = "sign_plan",
        ReturnPlan = "return_plan",
        InformRequester = "inform_requester",
        WaitForCustomer = "wait_for_customer",
        CustomerResponded = "customer_responded",
        Resolve = "resolve",
        SolvedRemotely = "solved_remotely",
        ConvertedToWorkOrder = "converted_to_work_order",
        Confirm = "confirm",
        Close = "close",
        Reopen = "reopen",
        Reassign = "reassign",
        MergeInto = "merge_into",
        Cancel = "cancel",
        Urge = "urge",
    }
);

/// Something that happens to a ticket. `by` is named where the workflow names a person for the
/// act (the handler signs, the tracker informs); supervisor acts (route, transfer, reassign,
/// merge, cancel) are authorised by permission in app/, not by ownership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TicketEvent {
    /// Send to a department's queue with the whole history (单据随行).
    Route {
        to: OrgUnitId,
    },
    /// Move from one department's queue or handler to another department's queue.
    Transfer {
        to: OrgUnitId,
    },
    /// A member of the owning department takes it.
    Accept {
        by: UserId,
    },
    /// The handler completes the plan; `committed_at` is the plan's committed time (the latest
    /// of its parts).
    SignPlan {
        by: UserId,
        committed_at: Timestamp,
    },
    /// The handler sends the signed plan back to the tracker.
    ReturnPlan {
        by: UserId,
    },
    /// The tracker told the requester how and when, and recorded the reassurance contact (心理辅导).
    InformRequester {
        by: UserId,
    },
    WaitForCustomer,
    CustomerResponded,
    Resolve {
        by: UserId,
    },
    /// A repair request fixed by phone or video (D11), counted in the remote-resolution rate.
    SolvedRemotely {
        by: UserId,
    },
    /// A repair request handed to field service; the ticket resolves with a link to the order.
    ConvertedToWorkOrder {
        by: UserId,
        work_order: WorkOrderId,
    },
    /// The requester confirms the outcome.
    Confirm,
    Close,
    /// The requester says it is not solved after all.
    Reopen,
    /// Hand the ticket to another person without moving it along.
    Reassign {
        to: UserId,
    },
    /// Fold this duplicate into `target`.
    MergeInto {
        target: TicketId,
    },
    Cancel,
    /// 催单: counted and may raise the priority, never moves the ticket.
    Urge,
}

impl TicketEvent {
    pub fn kind(&self) -> TicketEventKind {
        use TicketEventKind as K;
        match self {
            TicketEvent::Route { .. } => K::Route,
            TicketEvent::Transfer { .. } => K::Transfer,
            TicketEvent::Accept { .. } => K::Accept,
            TicketEvent::SignPlan { .. } => K::SignPlan,
            TicketEvent::ReturnPlan { .. } => K::ReturnPlan,
            TicketEvent::InformRequester { .. } => K::InformRequester,
            TicketEvent::WaitForCustomer => K::WaitForCustomer,
            TicketEvent::CustomerResponded => K::CustomerResponded,
            TicketEvent::Resolve { .. } => K::Resolve,
            TicketEvent::SolvedRemotely { .. } => K::SolvedRemotely,
            TicketEvent::ConvertedToWorkOrder { .. } => K::ConvertedToWorkOrder,
            TicketEvent::Confirm => K::Confirm,
            TicketEvent::Close => K::Close,
            TicketEvent::Reopen => K::Reopen,
            TicketEvent::Reassign { .. } => K::Reassign,
            TicketEvent::MergeInto { .. } => K::MergeInto,
            TicketEvent::Cancel => K::Cancel,
            TicketEvent::Urge => K::Urge,
        }
    }
}

/// How long after resolution (or closing) a requester may still reopen, unless configured.
pub const DEFAULT_REOPEN_WINDOW_MS: i64 = 7 * 24 * 3_600_000;
/// Urges that raise the priority one step, unless configured.
pub const DEFAULT_URGE_THRESHOLD: u32 = 3;

/// Facts from outside the ticket row, and the two settings the machine needs, supplied by app/
/// for one transition. The domain decides; app/ only gathers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guards {
    /// The instant of the transition (from `Ctx.clock`).
    pub now: Timestamp,
    /// Every part of the ticket's plan is signed ([`Plan::is_fully_signed`]).
    pub plan_fully_signed: bool,
    /// Compensation records on the ticket that are neither paid nor cancelled.
    pub open_compensations: u32,
    /// The actor of an `Accept` belongs to the department whose queue owns the ticket.
    pub actor_in_queue: bool,
    pub reopen_window_ms: i64,
    /// Every this many urges raise the priority one step; 0 never does.
    pub urge_threshold: u32,
}

impl Guards {
    /// Guards that refuse anything depending on an outside fact; set the facts that hold.
    pub fn at(now: Timestamp) -> Self {
        Self {
            now,
            plan_fully_signed: false,
            open_compensations: 0,
            actor_in_queue: false,
            reopen_window_ms: DEFAULT_REOPEN_WINDOW_MS,
            urge_threshold: DEFAULT_URGE_THRESHOLD,
        }
    }
}

/// Why a transition was refused. Stable: app/ maps each to an error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    #[error("a ticket in state {from} does not allow {event}")]
    NotAllowed {
        from: TicketStatus,
        event: TicketEventKind,
    },
    #[error("only the ticket's owner may {event}")]
    NotOwner { event: TicketEventKind },
    #[error("{event} applies only to repair requests")]
    WrongKind { event: TicketEventKind },
    #[error("nobody has taken responsibility for the ticket yet; assign it to a person first")]
    NoTracker,
    #[error("every part of the plan must be signed first")]
    PlanNotSigned,
    #[error("the committed time {committed_at:?} is not after now ({now:?})")]
    CommittedTimeInPast {
        committed_at: Timestamp,
        now: Timestamp,
    },
    #[error("{open} compensation record(s) are still open")]
    CompensationOpen { open: u32 },
    #[error("the time to reopen this ticket has passed")]
    ReopenWindowPassed,
    #[error("a ticket cannot be merged into itself")]
    MergeIntoSelf,
}

/// What an accepted event changes. `None` fields stay as they were.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub status: TicketStatus,
    pub owner: Option<Owner>,
    pub priority: Option<Priority>,
}

/// The workflow part of a stored ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketState {
    pub id: TicketId,
    pub kind: TicketKind,
    pub status: TicketStatus,
    pub owner: Owner,
    /// The named tracker (首问负责人): who received the request and reports back to the
    /// requester. `None` only while an unclaimed ticket sits in an intake queue.
    pub tracker: Option<UserId>,
    /// The department last routed to.
    pub department: Option<OrgUnitId>,
    /// Where a waiting ticket resumes; set only while `WaitingOnCustomer`.
    pub paused_from: Option<TicketStatus>,
    pub priority: Priority,
    pub urges: u32,
    /// When it last became resolved or closed; the reopen window runs from here.
    pub settled_at: Option<Timestamp>,
    pub work_order: Option<WorkOrderId>,
    pub merged_into: Option<TicketId>,
}

impl TicketState {
    /// A new ticket. Received by a person, that person owns and tracks it; arriving unattended
    /// (web form, API, email) it sits in an intake queue until someone takes it.
    pub fn new(id: TicketId, kind: TicketKind, received_by: Owner, priority: Priority) -> Self {
        Self {
            id,
            kind,
            status: TicketStatus::Open,
            owner: received_by,
            tracker: received_by.user(),
            department: None,
            paused_from: None,
            priority,
            urges: 0,
            settled_at: None,
            work_order: None,
            merged_into: None,
        }
    }

    /// Whether `event` is allowed now and where it leads; changes nothing. Checks in a fixed
    /// order — state, actor, kind, then guards — so the same request always gets the same error.
    pub fn transition(&self, event: &TicketEvent, guards: &Guards) -> Result<Step, TicketError> {
        use TicketEvent as E;
        use TicketStatus as S;
        let from = self.status;
        let kind = event.kind();
        let refuse = || TicketError::NotAllowed { from, event: kind };
        let stay = |status| Step {
            status,
            owner: None,
            priority: None,
        };
        let to_owner = |status, owner| Step {
            status,
            owner: Some(owner),
            priority: None,
        };
        let must_own = |by: &UserId| {
            if self.owner == Owner::User(*by) {
                Ok(())
            } else {
                Err(TicketError::NotOwner { event: kind })
            }
        };
        let no_open_compensation = || match guards.open_compensations {
            0 => Ok(()),
            open => Err(TicketError::CompensationOpen { open }),
        };
        let tracker = || self.tracker.ok_or(TicketError::NoTracker);

        match (from, event) {
            (S::Open | S::InProgress, E::Route { to }) => {
                tracker()?;
                Ok(to_owner(S::Routed, Owner::Queue(*to)))
            }
            (S::Routed | S::Accepted, E::Transfer { to }) => {
                Ok(to_owner(S::Routed, Owner::Queue(*to)))
            }
            (S::Routed, E::Accept { by }) => {
                if guards.actor_in_queue {
                    Ok(to_owner(S::Accepted, Owner::User(*by)))
                } else {
                    Err(TicketError::NotOwner { event: kind })
                }
            }
            (S::Accepted, E::SignPlan { by, committed_at }) => {
                must_own(by)?;
                if !guards.plan_fully_signed {
                    return Err(TicketError::PlanNotSigned);
                }
                if *committed_at <= guards.now {
                    return Err(TicketError::CommittedTimeInPast {
                        committed_at: *committed_at,
                        now: guards.now,
                    });
                }
                Ok(stay(S::PlanSigned))
            }
            (S::PlanSigned, E::ReturnPlan { by }) => {
                must_own(by)?;
                Ok(to_owner(S::PlanReturned, Owner::User(tracker()?)))
            }
            (S::PlanReturned, E::InformRequester { by }) => {
                must_own(by)?;
                Ok(stay(S::InProgress))
            }
            (S::Open | S::Accepted | S::InProgress, E::WaitForCustomer) => {
                Ok(stay(S::WaitingOnCustomer))
            }
            (S::WaitingOnCustomer, E::CustomerResponded) => {
                // A waiting ticket always knows where it came from; `Open` is the safe fallback
                // for a row written without it, as no owner rule is stricter there.
                Ok(stay(self.paused_from.unwrap_or(S::Open)))
            }
            (S::Open | S::InProgress, E::Resolve { by }) => {
                must_own(by)?;
                Ok(stay(S::Resolved))
            }
            (
                S::Open | S::Accepted | S::InProgress,
                E::SolvedRemotely { by } | E::ConvertedToWorkOrder { by, .. },
            ) => {
                must_own(by)?;
                if self.kind != TicketKind::RepairRequest {
                    return Err(TicketError::WrongKind { event: kind });
                }
                Ok(to_owner(S::Resolved, Owner::User(tracker()?)))
            }
            (S::Resolved, E::Confirm) => Ok(stay(S::Confirmed)),
            (S::Confirmed, E::Close) => {
                no_open_compensation()?;
                Ok(stay(S::Closed))
            }
            (S::Resolved | S::Confirmed | S::Closed, E::Reopen) => {
                let settled = self.settled_at.unwrap_or(guards.now);
                if guards.now.millis() - settled.millis() > guards.reopen_window_ms {
                    return Err(TicketError::ReopenWindowPassed);
                }
                Ok(to_owner(S::InProgress, Owner::User(tracker()?)))
            }
            (
                S::Open
                | S::Accepted
                | S::PlanSigned
                | S::PlanReturned
                | S::InProgress
                | S::WaitingOnCustomer
                | S::Resolved
                | S::Confirmed,
                E::Reassign { to },
            ) => Ok(to_owner(from, Owner::User(*to))),
            (
                S::Open
                | S::Routed
                | S::Accepted
                | S::PlanSigned
                | S::PlanReturned
                | S::InProgress
                | S::WaitingOnCustomer,
                E::MergeInto { target },
            ) => {
                if *target == self.id {
                    return Err(TicketError::MergeIntoSelf);
                }
                // Compensation must be settled or moved first, or it would hang on a ticket
                // nobody looks at any more.
                no_open_compensation()?;
                Ok(stay(S::Merged))
            }
            (
                S::Open
                | S::Routed
                | S::Accepted
                | S::PlanSigned
                | S::PlanReturned
                | S::InProgress
                | S::WaitingOnCustomer,
                E::Cancel,
            ) => {
                no_open_compensation()?;
                Ok(stay(S::Cancelled))
            }
            (
                S::Open
                | S::Routed
                | S::Accepted
                | S::PlanSigned
                | S::PlanReturned
                | S::InProgress
                | S::WaitingOnCustomer
                | S::Resolved,
                E::Urge,
            ) => {
                let new = priority_after_urge(
                    self.priority,
                    self.urges.saturating_add(1),
                    guards.urge_threshold,
                );
                Ok(Step {
                    status: from,
                    owner: None,
                    priority: (new != self.priority).then_some(new),
                })
            }
            _ => Err(refuse()),
        }
    }

    /// Applies `event` if allowed, updating every field the workflow keeps; on error nothing
    /// changes.
    pub fn apply(&mut self, event: &TicketEvent, guards: &Guards) -> Result<Step, TicketError> {
        let step = self.transition(event, guards)?;
        let before = self.status;
        match event {
            TicketEvent::Route { to } | TicketEvent::Transfer { to } => {
                self.department = Some(*to);
            }
            TicketEvent::WaitForCustomer => self.paused_from = Some(before),
            TicketEvent::ConvertedToWorkOrder { work_order, .. } => {
                self.work_order = Some(*work_order);
            }
            TicketEvent::MergeInto { target } => self.merged_into = Some(*target),
            TicketEvent::Reopen => self.settled_at = None,
            TicketEvent::Urge => self.urges = self.urges.saturating_add(1),
            _ => {}
        }
        if let Some(owner) = step.owner {
            // In the tracker's stages the owner *is* the tracker: handing the ticket to another
            // person there hands over the tracking too, so the two never drift apart.
            let stage = if before == TicketStatus::WaitingOnCustomer {
                self.paused_from.unwrap_or(TicketStatus::Open)
            } else {
                step.status
            };
            if stage.tracker_owned()
                && let Owner::User(u) = owner
            {
                self.tracker = Some(u);
            }
            self.owner = owner;
        }
        if let Some(p) = step.priority {
            self.priority = p;
        }
        if matches!(step.status, TicketStatus::Resolved | TicketStatus::Closed)
            && step.status != before
        {
            self.settled_at = Some(guards.now);
        }
        if step.status != TicketStatus::WaitingOnCustomer {
            // Leaving the wait by any way (reply, cancel, merge) forgets where it would resume.
            self.paused_from = None;
        }
        self.status = step.status;
        Ok(step)
    }

    /// Whether the owner fits the state (D3): a routed ticket sits in its department's queue,
    /// the tracker's stages belong to the tracker, and a ticket outside an intake queue has a
    /// tracker. The type already guarantees exactly one owner; this checks it is the right one.
    pub fn owner_fits_status(&self) -> bool {
        let stage = match self.status {
            TicketStatus::WaitingOnCustomer => match self.paused_from {
                Some(s) => s,
                None => return false,
            },
            s => s,
        };
        match stage {
            TicketStatus::Open => match self.owner {
                Owner::User(u) => self.tracker == Some(u),
                Owner::Queue(_) => true,
            },
            TicketStatus::Routed => {
                self.tracker.is_some() && self.department.map(Owner::Queue) == Some(self.owner)
            }
            TicketStatus::Accepted | TicketStatus::PlanSigned => {
                self.tracker.is_some() && self.owner.user().is_some()
            }
            TicketStatus::PlanReturned
            | TicketStatus::InProgress
            | TicketStatus::Resolved
            | TicketStatus::Confirmed
            | TicketStatus::Closed => self.tracker.is_some() && self.owner.user() == self.tracker,
            // Terminal: whoever held it last stays on record.
            TicketStatus::Merged | TicketStatus::Cancelled => true,
            TicketStatus::WaitingOnCustomer => false,
        }
    }
}

/// The priority after the `urges`-th urge: one step up each time the count reaches a multiple of
/// `threshold` (0 = never), so a customer who keeps calling keeps climbing until `Urgent`.
pub fn priority_after_urge(current: Priority, urges: u32, threshold: u32) -> Priority {
    if threshold != 0 && urges != 0 && urges.is_multiple_of(threshold) {
        current.raised()
    } else {
        current
    }
}

string_enum!(
    /// The outcome of a product problem (D2).
    Remedy {
        // 补件: send the missing or broken parts.
        ResendParts = "resend_parts",
        // 返修: repair the product.
        Repair = "repair",
        // 重做: make it again.
        Remake = "remake",
    }
);

string_enum!(
    /// Who is responsible (D2, D5). D2's "factory" and D5's "product defect" are one party seen
    /// from a manufacturer and from a platform — the maker of the product — so they are one value.
    Liability {
        // 厂方/产品缺陷: production or design of the product.
        ProductDefect = "product_defect",
        Dealer = "dealer",
        Logistics = "logistics",
        Installation = "installation",
        CustomerMisuse = "customer_misuse",
        Undetermined = "undetermined",
    }
);

string_enum!(
    /// Complaint categories (D5).
    ComplaintCategory {
        ExpressDelivery = "express_delivery",
        Shipping = "shipping",
        ServiceAttitude = "service_attitude",
        Product = "product",
        ProductQuality = "product_quality",
        EngineerConduct = "engineer_conduct",
        Hotline = "hotline",
    }
);

string_enum!(
    CompensationPayer {
        Company = "company",
        Manufacturer = "manufacturer",
        Insurer = "insurer",
    }
);

string_enum!(
    CompensationStatus {
        Proposed = "proposed",
        Approved = "approved",
        Paid = "paid",
        Cancelled = "cancelled",
    }
);

string_enum!(
    CompensationEvent {
        Approve = "approve",
        Pay = "pay",
        Cancel = "cancel",
    }
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a compensation that is {from} cannot {event}")]
pub struct CompensationError {
    pub from: CompensationStatus,
    pub event: CompensationEvent,
}

impl CompensationStatus {
    /// Closed compensations no longer hold a complaint open.
    pub fn is_closed(self) -> bool {
        matches!(
            self,
            CompensationStatus::Paid | CompensationStatus::Cancelled
        )
    }

    /// Paying needs an approval first, so money never leaves on a proposal alone.
    pub fn transition(self, event: CompensationEvent) -> Result<Self, CompensationError> {
        use CompensationEvent as E;
        use CompensationStatus as S;
        match (self, event) {
            (S::Proposed, E::Approve) => Ok(S::Approved),
            (S::Approved, E::Pay) => Ok(S::Paid),
            (S::Proposed | S::Approved, E::Cancel) => Ok(S::Cancelled),
            (from, event) => Err(CompensationError { from, event }),
        }
    }
}

/// A compensation record on a complaint (D5); amounts in fen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Compensation {
    pub amount: Money,
    pub payer: CompensationPayer,
    pub status: CompensationStatus,
}

/// One department's share of a plan: what it will do and by when, and its signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanPart {
    pub department: OrgUnitId,
    pub summary: String,
    pub remedy: Option<Remedy>,
    pub committed_at: Timestamp,
    pub signed_by: Option<UserId>,
    pub signed_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("a plan part needs a summary")]
    EmptySummary,
    #[error("the committed time {committed_at:?} is not after now ({now:?})")]
    CommittedTimeInPast {
        committed_at: Timestamp,
        now: Timestamp,
    },
    #[error("department {0} already has a part in this plan")]
    DuplicateDepartment(OrgUnitId),
    #[error("department {0} has no part in this plan")]
    NoSuchPart(OrgUnitId),
    #[error("department {0} has already signed its part")]
    AlreadySigned(OrgUnitId),
}

/// A resolution plan (处理方案): one part per department involved, e.g. production remakes the
/// door and logistics delivers it. It binds only when every part is signed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub parts: Vec<PlanPart>,
}

impl Plan {
    pub fn add_part(
        &mut self,
        department: OrgUnitId,
        summary: &str,
        remedy: Option<Remedy>,
        committed_at: Timestamp,
        now: Timestamp,
    ) -> Result<(), PlanError> {
        let summary = summary.trim();
        if summary.is_empty() {
            return Err(PlanError::EmptySummary);
        }
        if committed_at <= now {
            return Err(PlanError::CommittedTimeInPast { committed_at, now });
        }
        if self.parts.iter().any(|p| p.department == department) {
            return Err(PlanError::DuplicateDepartment(department));
        }
        self.parts.push(PlanPart {
            department,
            summary: summary.to_owned(),
            remedy,
            committed_at,
            signed_by: None,
            signed_at: None,
        });
        Ok(())
    }

    /// Signs a department's part. A time that has passed meanwhile is refused: a signature on a
    /// promise already broken would mislead the requester.
    pub fn sign(
        &mut self,
        department: OrgUnitId,
        by: UserId,
        now: Timestamp,
    ) -> Result<(), PlanError> {
        let part = self
            .parts
            .iter_mut()
            .find(|p| p.department == department)
            .ok_or(PlanError::NoSuchPart(department))?;
        if part.signed_by.is_some() {
            return Err(PlanError::AlreadySigned(department));
        }
        if part.committed_at <= now {
            return Err(PlanError::CommittedTimeInPast {
                committed_at: part.committed_at,
                now,
            });
        }
        part.signed_by = Some(by);
        part.signed_at = Some(now);
        Ok(())
    }

    pub fn is_fully_signed(&self) -> bool {
        !self.parts.is_empty() && self.parts.iter().all(|p| p.signed_by.is_some())
    }

    /// The plan's committed time: when the last part is due.
    pub fn committed_at(&self) -> Option<Timestamp> {
        self.parts.iter().map(|p| p.committed_at).max()
    }
}

string_enum!(
    /// How remote support ended (D11).
    RemoteOutcome {
        Solved = "solved",
        Converted = "converted",
    }
);

/// One party's share of the cost of a remedy (D2: cost allocation), in percent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CostShare {
    pub party: Liability,
    pub percent: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CostShareError {
    #[error("the shares must add up to 100 percent (they add up to {0})")]
    NotWhole(u32),
    #[error("{0} appears twice")]
    Repeated(Liability),
    #[error("a share must be between 1 and 100 percent")]
    OutOfRange,
}

/// Checks that the shares name each party once and add up to 100 %.
pub fn check_cost_shares(shares: &[CostShare]) -> Result<(), CostShareError> {
    let mut seen = Vec::new();
    let mut total = 0u32;
    for s in shares {
        if s.percent == 0 || s.percent > 100 {
            return Err(CostShareError::OutOfRange);
        }
        if seen.contains(&s.party) {
            return Err(CostShareError::Repeated(s.party));
        }
        seen.push(s.party);
        total += u32::from(s.percent);
    }
    if !shares.is_empty() && total != 100 {
        return Err(CostShareError::NotWhole(total));
    }
    Ok(())
}

/// A stored ticket: its workflow state and what it is about.
#[derive(Debug, Clone, Serialize)]
pub struct Ticket {
    pub state: TicketState,
    /// The human number, e.g. `KF20261130-000042` (per business day).
    pub number: String,
    pub brand_id: Option<BrandId>,
    pub channel: Channel,
    pub subject: String,
    pub description: String,
    /// The end customer the ticket is about.
    pub customer_id: Option<CustomerId>,
    /// Who asked: the customer, or a dealer acting for its customer (D2).
    pub requester_id: Option<CustomerId>,
    /// The dealer the ticket belongs to, for the dealer's own view.
    pub dealer_id: Option<CustomerId>,
    pub device_id: Option<DeviceId>,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub contact_email: Option<String>,
    /// Trips to a department so far; the current plan is the plan of this round.
    pub round: i64,
    pub last_urged_at: Option<Timestamp>,
    pub complaint_category: Option<ComplaintCategory>,
    pub liability: Option<Liability>,
    pub remedy: Option<Remedy>,
    pub cost_shares: Vec<CostShare>,
    pub plan_committed_at: Option<Timestamp>,
    pub remote_outcome: Option<RemoteOutcome>,
    pub pre_diagnosis: Option<String>,
    pub parts_list: Vec<String>,
    pub first_reply_at: Option<Timestamp>,
    pub informed_at: Option<Timestamp>,
    pub confirmed_at: Option<Timestamp>,
    pub escalated_at: Option<Timestamp>,
    pub source_call_id: Option<i64>,
    pub created_by: Option<UserId>,
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub closed_at: Option<Timestamp>,
}

impl Ticket {
    pub fn id(&self) -> TicketId {
        self.state.id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TicketEventKind as K;
    use TicketStatus as S;

    const TRACKER: UserId = UserId(1);
    const HANDLER: UserId = UserId(2);
    const OTHER: UserId = UserId(3);
    const DEPT: OrgUnitId = OrgUnitId(10);
    const DEPT2: OrgUnitId = OrgUnitId(11);
    const ID: TicketId = TicketId(100);
    const NOW: Timestamp = Timestamp(1_800_000_000_000);
    const HOUR: i64 = 3_600_000;

    fn u(id: UserId) -> Owner {
        Owner::User(id)
    }
    fn q(id: OrgUnitId) -> Owner {
        Owner::Queue(id)
    }

    /// A ticket as the workflow leaves it in `status`, tracked by TRACKER, with DEPT involved.
    fn state_in(status: TicketStatus) -> TicketState {
        let mut t = TicketState::new(ID, TicketKind::RepairRequest, u(TRACKER), Priority::Normal);
        t.status = status;
        t.department = Some(DEPT);
        t.owner = match status {
            S::Routed => q(DEPT),
            S::Accepted | S::PlanSigned => u(HANDLER),
            _ => u(TRACKER),
        };
        if status == S::WaitingOnCustomer {
            t.paused_from = Some(S::InProgress);
        }
        if matches!(status, S::Resolved | S::Confirmed | S::Closed) {
            t.settled_at = Some(NOW.plus_millis(-HOUR));
        }
        t
    }

    /// Guards under which every outside fact holds.
    fn passing() -> Guards {
        Guards {
            plan_fully_signed: true,
            actor_in_queue: true,
            urge_threshold: 1,
            ..Guards::at(NOW)
        }
    }

    /// The event of `kind`, acted by the current owner where an actor is named.
    fn event_for(kind: TicketEventKind, t: &TicketState) -> TicketEvent {
        let by = t.owner.user().unwrap_or(HANDLER);
        match kind {
            K::Route => TicketEvent::Route { to: DEPT2 },
            K::Transfer => TicketEvent::Transfer { to: DEPT2 },
            K::Accept => TicketEvent::Accept { by: HANDLER },
            K::SignPlan => TicketEvent::SignPlan {
                by,
                committed_at: NOW.plus_millis(24 * HOUR),
            },
            K::ReturnPlan => TicketEvent::ReturnPlan { by },
            K::InformRequester => TicketEvent::InformRequester { by },
            K::WaitForCustomer => TicketEvent::WaitForCustomer,
            K::CustomerResponded => TicketEvent::CustomerResponded,
            K::Resolve => TicketEvent::Resolve { by },
            K::SolvedRemotely => TicketEvent::SolvedRemotely { by },
            K::ConvertedToWorkOrder => TicketEvent::ConvertedToWorkOrder {
                by,
                work_order: WorkOrderId(7),
            },
            K::Confirm => TicketEvent::Confirm,
            K::Close => TicketEvent::Close,
            K::Reopen => TicketEvent::Reopen,
            K::Reassign => TicketEvent::Reassign { to: OTHER },
            K::MergeInto => TicketEvent::MergeInto {
                target: TicketId(200),
            },
            K::Cancel => TicketEvent::Cancel,
            K::Urge => TicketEvent::Urge,
        }
    }

    /// Every allowed move: (from, event, to, owner afterwards). Everything else is refused.
    fn allowed() -> Vec<(TicketStatus, TicketEventKind, TicketStatus, Owner)> {
        let t = u(TRACKER);
        let h = u(HANDLER);
        vec![
            (S::Open, K::Route, S::Routed, q(DEPT2)),
            (S::Open, K::WaitForCustomer, S::WaitingOnCustomer, t),
            (S::Open, K::Resolve, S::Resolved, t),
            (S::Open, K::SolvedRemotely, S::Resolved, t),
            (S::Open, K::ConvertedToWorkOrder, S::Resolved, t),
            (S::Open, K::Reassign, S::Open, u(OTHER)),
            (S::Open, K::MergeInto, S::Merged, t),
            (S::Open, K::Cancel, S::Cancelled, t),
            (S::Open, K::Urge, S::Open, t),
            (S::Routed, K::Transfer, S::Routed, q(DEPT2)),
            (S::Routed, K::Accept, S::Accepted, h),
            (S::Routed, K::MergeInto, S::Merged, q(DEPT)),
            (S::Routed, K::Cancel, S::Cancelled, q(DEPT)),
            (S::Routed, K::Urge, S::Routed, q(DEPT)),
            (S::Accepted, K::Transfer, S::Routed, q(DEPT2)),
            (S::Accepted, K::SignPlan, S::PlanSigned, h),
            (S::Accepted, K::WaitForCustomer, S::WaitingOnCustomer, h),
            (S::Accepted, K::SolvedRemotely, S::Resolved, t),
            (S::Accepted, K::ConvertedToWorkOrder, S::Resolved, t),
            (S::Accepted, K::Reassign, S::Accepted, u(OTHER)),
            (S::Accepted, K::MergeInto, S::Merged, h),
            (S::Accepted, K::Cancel, S::Cancelled, h),
            (S::Accepted, K::Urge, S::Accepted, h),
            (S::PlanSigned, K::ReturnPlan, S::PlanReturned, t),
            (S::PlanSigned, K::Reassign, S::PlanSigned, u(OTHER)),
            (S::PlanSigned, K::MergeInto, S::Merged, h),
            (S::PlanSigned, K::Cancel, S::Cancelled, h),
            (S::PlanSigned, K::Urge, S::PlanSigned, h),
            (S::PlanReturned, K::InformRequester, S::InProgress, t),
            (S::PlanReturned, K::Reassign, S::PlanReturned, u(OTHER)),
            (S::PlanReturned, K::MergeInto, S::Merged, t),
            (S::PlanReturned, K::Cancel, S::Cancelled, t),
            (S::PlanReturned, K::Urge, S::PlanReturned, t),
            (S::InProgress, K::Route, S::Routed, q(DEPT2)),
            (S::InProgress, K::WaitForCustomer, S::WaitingOnCustomer, t),
            (S::InProgress, K::Resolve, S::Resolved, t),
            (S::InProgress, K::SolvedRemotely, S::Resolved, t),
            (S::InProgress, K::ConvertedToWorkOrder, S::Resolved, t),
            (S::InProgress, K::Reassign, S::InProgress, u(OTHER)),
            (S::InProgress, K::MergeInto, S::Merged, t),
            (S::InProgress, K::Cancel, S::Cancelled, t),
            (S::InProgress, K::Urge, S::InProgress, t),
            (S::WaitingOnCustomer, K::CustomerResponded, S::InProgress, t),
            (
                S::WaitingOnCustomer,
                K::Reassign,
                S::WaitingOnCustomer,
                u(OTHER),
            ),
            (S::WaitingOnCustomer, K::MergeInto, S::Merged, t),
            (S::WaitingOnCustomer, K::Cancel, S::Cancelled, t),
            (S::WaitingOnCustomer, K::Urge, S::WaitingOnCustomer, t),
            (S::Resolved, K::Confirm, S::Confirmed, t),
            (S::Resolved, K::Reopen, S::InProgress, t),
            (S::Resolved, K::Reassign, S::Resolved, u(OTHER)),
            (S::Resolved, K::Urge, S::Resolved, t),
            (S::Confirmed, K::Close, S::Closed, t),
            (S::Confirmed, K::Reopen, S::InProgress, t),
            (S::Confirmed, K::Reassign, S::Confirmed, u(OTHER)),
            (S::Closed, K::Reopen, S::InProgress, t),
        ]
    }

    #[test]
    fn every_status_and_event_pair() {
        let table = allowed();
        let (mut ok, mut refused) = (0, 0);
        for &from in S::ALL {
            for &kind in K::ALL {
                let mut t = state_in(from);
                let before = t.clone();
                let event = event_for(kind, &t);
                assert_eq!(event.kind(), kind);
                let got = t.apply(&event, &passing());
                if let Some(&(_, _, to, owner)) =
                    table.iter().find(|(f, k, _, _)| *f == from && *k == kind)
                {
                    let step = got.unwrap_or_else(|e| panic!("{from} {kind}: {e}"));
                    assert_eq!(step.status, to, "{from} {kind}");
                    assert_eq!((t.status, t.owner), (to, owner), "{from} {kind}");
                    assert!(t.owner_fits_status(), "{from} {kind}: {t:?}");
                    ok += 1;
                } else {
                    assert_eq!(
                        got,
                        Err(TicketError::NotAllowed { from, event: kind }),
                        "{from} {kind}"
                    );
                    assert_eq!(t, before, "a refused move changes nothing");
                    refused += 1;
                }
            }
        }
        assert_eq!((ok, refused), (55, 12 * 18 - 55));
    }

    #[test]
    fn fixtures_satisfy_the_owner_rule() {
        for &s in S::ALL {
            assert!(state_in(s).owner_fits_status(), "{s}");
        }
    }

    fn refused(t: &TicketState, event: TicketEvent, guards: &Guards) -> TicketError {
        t.transition(&event, guards).expect_err("should be refused")
    }

    #[test]
    fn routing_needs_someone_who_took_responsibility() {
        let t = TicketState::new(ID, TicketKind::Complaint, q(DEPT), Priority::Normal);
        assert_eq!(t.tracker, None);
        assert_eq!(
            refused(&t, TicketEvent::Route { to: DEPT2 }, &passing()),
            TicketError::NoTracker
        );
        // Taking it from the intake queue makes the taker the tracker.
        let mut t = t;
        t.apply(&TicketEvent::Reassign { to: OTHER }, &passing())
            .unwrap();
        assert_eq!((t.owner, t.tracker), (u(OTHER), Some(OTHER)));
        t.apply(&TicketEvent::Route { to: DEPT2 }, &passing())
            .unwrap();
        assert_eq!(
            (t.status, t.owner, t.department),
            (S::Routed, q(DEPT2), Some(DEPT2))
        );
    }

    #[test]
    fn acts_named_for_a_person_check_the_person() {
        let g = passing();
        let routed = state_in(S::Routed);
        let not_member = Guards {
            actor_in_queue: false,
            ..g
        };
        let accept = TicketEvent::Accept { by: HANDLER };
        assert_eq!(
            refused(&routed, accept, &not_member),
            TicketError::NotOwner { event: K::Accept }
        );
        let sign = TicketEvent::SignPlan {
            by: OTHER,
            committed_at: NOW.plus_millis(HOUR),
        };
        assert_eq!(
            refused(&state_in(S::Accepted), sign, &g),
            TicketError::NotOwner { event: K::SignPlan }
        );
        let ret = TicketEvent::ReturnPlan { by: TRACKER };
        assert_eq!(
            refused(&state_in(S::PlanSigned), ret, &g),
            TicketError::NotOwner {
                event: K::ReturnPlan
            }
        );
        let inform = TicketEvent::InformRequester { by: HANDLER };
        assert_eq!(
            refused(&state_in(S::PlanReturned), inform, &g),
            TicketError::NotOwner {
                event: K::InformRequester
            }
        );
        let resolve = TicketEvent::Resolve { by: HANDLER };
        assert_eq!(
            refused(&state_in(S::InProgress), resolve, &g),
            TicketError::NotOwner { event: K::Resolve }
        );
        let queued = TicketState::new(ID, TicketKind::RepairRequest, q(DEPT), Priority::Normal);
        assert_eq!(
            refused(&queued, TicketEvent::Resolve { by: TRACKER }, &g),
            TicketError::NotOwner { event: K::Resolve }
        );
    }

    #[test]
    fn plan_must_be_signed_in_full_with_a_future_time() {
        let t = state_in(S::Accepted);
        let sign = |committed_at| TicketEvent::SignPlan {
            by: HANDLER,
            committed_at,
        };
        let unsigned = Guards {
            plan_fully_signed: false,
            ..passing()
        };
        assert_eq!(
            refused(&t, sign(NOW.plus_millis(HOUR)), &unsigned),
            TicketError::PlanNotSigned
        );
        assert_eq!(
            refused(&t, sign(NOW), &passing()),
            TicketError::CommittedTimeInPast {
                committed_at: NOW,
                now: NOW
            }
        );
        assert!(t.transition(&sign(NOW.plus_millis(1)), &passing()).is_ok());
    }

    #[test]
    fn remote_support_only_for_repair_requests() {
        let mut t = state_in(S::InProgress);
        t.kind = TicketKind::Complaint;
        let event = TicketEvent::SolvedRemotely { by: TRACKER };
        assert_eq!(
            refused(&t, event, &passing()),
            TicketError::WrongKind {
                event: K::SolvedRemotely
            }
        );
        // The actor is checked before the kind.
        assert_eq!(
            refused(&t, TicketEvent::SolvedRemotely { by: OTHER }, &passing()),
            TicketError::NotOwner {
                event: K::SolvedRemotely
            }
        );
        let mut t = state_in(S::Accepted);
        let convert = TicketEvent::ConvertedToWorkOrder {
            by: HANDLER,
            work_order: WorkOrderId(9),
        };
        t.apply(&convert, &passing()).unwrap();
        assert_eq!(
            (t.status, t.owner, t.work_order, t.settled_at),
            (S::Resolved, u(TRACKER), Some(WorkOrderId(9)), Some(NOW))
        );
    }

    #[test]
    fn open_compensation_keeps_the_ticket_open() {
        let g = Guards {
            open_compensations: 2,
            ..passing()
        };
        let err = TicketError::CompensationOpen { open: 2 };
        assert_eq!(
            refused(&state_in(S::Confirmed), TicketEvent::Close, &g),
            err
        );
        assert_eq!(
            refused(&state_in(S::InProgress), TicketEvent::Cancel, &g),
            err
        );
        let merge = TicketEvent::MergeInto {
            target: TicketId(5),
        };
        assert_eq!(refused(&state_in(S::Open), merge, &g), err);
        // Resolving and confirming do not wait for the money; closing does.
        assert!(
            state_in(S::Resolved)
                .transition(&TicketEvent::Confirm, &g)
                .is_ok()
        );
    }

    #[test]
    fn reopen_only_within_the_window() {
        let mut t = state_in(S::Closed);
        t.settled_at = Some(NOW);
        let at = |ms| Guards {
            now: NOW.plus_millis(ms),
            ..passing()
        };
        assert!(
            t.transition(&TicketEvent::Reopen, &at(DEFAULT_REOPEN_WINDOW_MS))
                .is_ok()
        );
        assert_eq!(
            refused(&t, TicketEvent::Reopen, &at(DEFAULT_REOPEN_WINDOW_MS + 1)),
            TicketError::ReopenWindowPassed
        );
        t.apply(&TicketEvent::Reopen, &at(HOUR)).unwrap();
        assert_eq!(
            (t.status, t.owner, t.settled_at),
            (S::InProgress, u(TRACKER), None)
        );
    }

    #[test]
    fn merge_needs_another_ticket() {
        let mut t = state_in(S::Open);
        assert_eq!(
            refused(&t, TicketEvent::MergeInto { target: ID }, &passing()),
            TicketError::MergeIntoSelf
        );
        t.apply(
            &TicketEvent::MergeInto {
                target: TicketId(1),
            },
            &passing(),
        )
        .unwrap();
        assert_eq!((t.status, t.merged_into), (S::Merged, Some(TicketId(1))));
    }

    #[test]
    fn reassigning_a_trackers_stage_hands_over_the_tracking() {
        let mut t = state_in(S::InProgress);
        t.apply(&TicketEvent::Reassign { to: OTHER }, &passing())
            .unwrap();
        assert_eq!(t.tracker, Some(OTHER));
        // A department handler handing over keeps the tracker.
        let mut t = state_in(S::Accepted);
        t.apply(&TicketEvent::WaitForCustomer, &passing()).unwrap();
        t.apply(&TicketEvent::Reassign { to: OTHER }, &passing())
            .unwrap();
        assert_eq!((t.owner, t.tracker), (u(OTHER), Some(TRACKER)));
        t.apply(&TicketEvent::CustomerResponded, &passing())
            .unwrap();
        assert_eq!((t.status, t.paused_from), (S::Accepted, None));
        assert!(t.owner_fits_status());
    }

    #[test]
    fn urges_count_and_raise_priority_every_n() {
        assert_eq!(
            priority_after_urge(Priority::Normal, 2, 3),
            Priority::Normal
        );
        assert_eq!(priority_after_urge(Priority::Normal, 3, 3), Priority::High);
        assert_eq!(priority_after_urge(Priority::High, 6, 3), Priority::Urgent);
        assert_eq!(
            priority_after_urge(Priority::Urgent, 9, 3),
            Priority::Urgent
        );
        assert_eq!(priority_after_urge(Priority::Low, 5, 0), Priority::Low);
        let mut t = state_in(S::Routed);
        let g = Guards::at(NOW);
        let mut raised = Vec::new();
        for _ in 0..7 {
            let step = t.apply(&TicketEvent::Urge, &g).unwrap();
            assert_eq!((step.status, step.owner), (S::Routed, None));
            raised.push(step.priority);
        }
        assert_eq!(t.urges, 7);
        assert_eq!(t.priority, Priority::Urgent);
        assert_eq!(
            raised,
            [
                None,
                None,
                Some(Priority::High),
                None,
                None,
                Some(Priority::Urgent),
                None
            ]
        );
        assert!(Priority::Low < Priority::Urgent);
    }

    /// Seed 000: a dealer's complaint received by its account owner, routed to quality, a plan
    /// signed by production and logistics, returned, the dealer told, confirmed, compensation
    /// settled, closed.
    #[test]
    fn a_dealer_complaint_from_call_to_close() {
        let account_owner = UserId(50);
        let quality = OrgUnitId(1);
        let (production, logistics) = (OrgUnitId(2), OrgUnitId(3));
        let handler = UserId(60);
        let mut t = TicketState::new(ID, TicketKind::Complaint, u(account_owner), Priority::High);
        let mut g = Guards::at(NOW);
        t.apply(&TicketEvent::Route { to: quality }, &g).unwrap();
        g.actor_in_queue = true;
        t.apply(&TicketEvent::Accept { by: handler }, &g).unwrap();

        let mut plan = Plan::default();
        let day = 24 * HOUR;
        plan.add_part(
            production,
            "重做门扇",
            Some(Remedy::Remake),
            NOW.plus_millis(5 * day),
            NOW,
        )
        .unwrap();
        plan.add_part(
            logistics,
            "补发到经销商",
            Some(Remedy::ResendParts),
            NOW.plus_millis(7 * day),
            NOW,
        )
        .unwrap();
        plan.sign(production, UserId(61), NOW).unwrap();
        g.plan_fully_signed = plan.is_fully_signed();
        let sign = TicketEvent::SignPlan {
            by: handler,
            committed_at: plan.committed_at().unwrap(),
        };
        assert_eq!(t.apply(&sign, &g), Err(TicketError::PlanNotSigned));
        plan.sign(logistics, UserId(62), NOW).unwrap();
        g.plan_fully_signed = plan.is_fully_signed();
        t.apply(&sign, &g).unwrap();
        t.apply(&TicketEvent::ReturnPlan { by: handler }, &g)
            .unwrap();
        assert_eq!(t.owner, u(account_owner));
        t.apply(&TicketEvent::InformRequester { by: account_owner }, &g)
            .unwrap();
        t.apply(&TicketEvent::Resolve { by: account_owner }, &g)
            .unwrap();
        t.apply(&TicketEvent::Confirm, &g).unwrap();

        let mut comp = Compensation {
            amount: Money::fen(20_000),
            payer: CompensationPayer::Manufacturer,
            status: CompensationStatus::Proposed,
        };
        g.open_compensations = u32::from(!comp.status.is_closed());
        assert_eq!(
            t.apply(&TicketEvent::Close, &g),
            Err(TicketError::CompensationOpen { open: 1 })
        );
        comp.status = comp.status.transition(CompensationEvent::Approve).unwrap();
        comp.status = comp.status.transition(CompensationEvent::Pay).unwrap();
        g.open_compensations = u32::from(!comp.status.is_closed());
        t.apply(&TicketEvent::Close, &g).unwrap();
        assert_eq!(
            (t.status, t.owner, t.tracker),
            (S::Closed, u(account_owner), Some(account_owner))
        );
    }

    #[test]
    fn plan_parts() {
        let mut plan = Plan::default();
        assert!(!plan.is_fully_signed(), "an empty plan promises nothing");
        assert_eq!(plan.committed_at(), None);
        let later = NOW.plus_millis(HOUR);
        assert_eq!(
            plan.add_part(DEPT, "  ", None, later, NOW),
            Err(PlanError::EmptySummary)
        );
        assert_eq!(
            plan.add_part(DEPT, "返修", Some(Remedy::Repair), NOW, NOW),
            Err(PlanError::CommittedTimeInPast {
                committed_at: NOW,
                now: NOW
            })
        );
        plan.add_part(DEPT, " 返修 ", Some(Remedy::Repair), later, NOW)
            .unwrap();
        assert_eq!(plan.parts[0].summary, "返修");
        assert_eq!(
            plan.add_part(DEPT, "again", None, later, NOW),
            Err(PlanError::DuplicateDepartment(DEPT))
        );
        assert_eq!(
            plan.sign(DEPT2, HANDLER, NOW),
            Err(PlanError::NoSuchPart(DEPT2))
        );
        assert_eq!(
            plan.sign(DEPT, HANDLER, later),
            Err(PlanError::CommittedTimeInPast {
                committed_at: later,
                now: later
            })
        );
        plan.sign(DEPT, HANDLER, NOW).unwrap();
        assert_eq!(
            plan.sign(DEPT, HANDLER, NOW),
            Err(PlanError::AlreadySigned(DEPT))
        );
        assert!(plan.is_fully_signed());
        assert_eq!(plan.committed_at(), Some(later));
        assert_eq!(
            (plan.parts[0].signed_by, plan.parts[0].signed_at),
            (Some(HANDLER), Some(NOW))
        );
    }

    #[test]
    fn compensation_status_table() {
        use CompensationEvent as E;
        use CompensationStatus as C;
        let allowed = [
            (C::Proposed, E::Approve, C::Approved),
            (C::Proposed, E::Cancel, C::Cancelled),
            (C::Approved, E::Pay, C::Paid),
            (C::Approved, E::Cancel, C::Cancelled),
        ];
        for &from in C::ALL {
            for &event in E::ALL {
                let want = allowed
                    .iter()
                    .find(|(f, e, _)| *f == from && *e == event)
                    .map(|&(_, _, to)| to)
                    .ok_or(CompensationError { from, event });
                assert_eq!(from.transition(event), want, "{from} {event}");
            }
        }
        let closed: Vec<_> = C::ALL.iter().filter(|c| c.is_closed()).collect();
        assert_eq!(closed, [&C::Paid, &C::Cancelled]);
    }

    #[test]
    fn owner_columns_and_wire_forms() {
        assert_eq!(Owner::from_columns(Some(TRACKER), None), Some(u(TRACKER)));
        assert_eq!(Owner::from_columns(None, Some(DEPT)), Some(q(DEPT)));
        assert_eq!(Owner::from_columns(None, None), None);
        assert_eq!(Owner::from_columns(Some(TRACKER), Some(DEPT)), None);
        assert_eq!(
            serde_json::to_string(&q(DEPT)).unwrap(),
            r#"{"type":"queue","id":10}"#
        );
        let event = TicketEvent::Route { to: DEPT };
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(json, r#"{"event":"route","to":10}"#);
        assert_eq!(serde_json::from_str::<TicketEvent>(&json).unwrap(), event);
        assert_eq!(K::ALL.len(), 18);
        assert_eq!(S::ALL.len(), 12);
        for k in TicketKind::ALL {
            assert_eq!(TicketKind::parse(k.as_str()), Some(*k));
        }
        for s in S::ALL {
            assert_eq!(S::parse(s.as_str()), Some(*s));
        }
        assert_eq!(
            Liability::parse("product_defect"),
            Some(Liability::ProductDefect)
        );
        assert_eq!(Channel::ALL.len(), 7);
        assert_eq!(ComplaintCategory::ALL.len(), 7);
    }

    mod random_sequences {
        use proptest::prelude::*;

        use super::*;

        fn event(
            kind: usize,
            who: i64,
            dept: i64,
            target: i64,
            offset_ms: i64,
            now: Timestamp,
        ) -> TicketEvent {
            // Indices past the list repeat the events that move a ticket forward, so random
            // runs get deep into the workflow instead of mostly cancelling early.
            const FORWARD: [TicketEventKind; 10] = [
                K::Route,
                K::Accept,
                K::SignPlan,
                K::ReturnPlan,
                K::InformRequester,
                K::Resolve,
                K::Confirm,
                K::Close,
                K::CustomerResponded,
                K::Reopen,
            ];
            let by = UserId(who);
            let k = K::ALL
                .get(kind)
                .copied()
                .unwrap_or_else(|| FORWARD[(kind - K::ALL.len()) % FORWARD.len()]);
            match k {
                K::Route => TicketEvent::Route {
                    to: OrgUnitId(dept),
                },
                K::Transfer => TicketEvent::Transfer {
                    to: OrgUnitId(dept),
                },
                K::Accept => TicketEvent::Accept { by },
                K::SignPlan => TicketEvent::SignPlan {
                    by,
                    committed_at: now.plus_millis(offset_ms),
                },
                K::ReturnPlan => TicketEvent::ReturnPlan { by },
                K::InformRequester => TicketEvent::InformRequester { by },
                K::WaitForCustomer => TicketEvent::WaitForCustomer,
                K::CustomerResponded => TicketEvent::CustomerResponded,
                K::Resolve => TicketEvent::Resolve { by },
                K::SolvedRemotely => TicketEvent::SolvedRemotely { by },
                K::ConvertedToWorkOrder => TicketEvent::ConvertedToWorkOrder {
                    by,
                    work_order: WorkOrderId(target),
                },
                K::Confirm => TicketEvent::Confirm,
                K::Close => TicketEvent::Close,
                K::Reopen => TicketEvent::Reopen,
                K::Reassign => TicketEvent::Reassign { to: by },
                K::MergeInto => TicketEvent::MergeInto {
                    target: TicketId(target),
                },
                K::Cancel => TicketEvent::Cancel,
                K::Urge => TicketEvent::Urge,
            }
        }

        /// (event kind, actor, department, target, committed offset, guard facts, time step)
        type Action = (usize, i64, i64, i64, i64, (bool, u32, bool), i64);

        fn action() -> impl Strategy<Value = Action> {
            (
                0..K::ALL.len() + 2 * 10,
                0..4i64,
                10..13i64,
                99..102i64,
                -HOUR..48 * HOUR,
                (any::<bool>(), 0..3u32, any::<bool>()),
                0..3 * 24 * HOUR,
            )
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(1000))]

            /// D3 for the model: whatever happens, after every accepted step the owner fits the
            /// state; a refused step changes nothing; a closed ticket moves only by reopening and
            /// a merged or cancelled one never moves; priority never drops.
            #[test]
            fn owner_invariant_holds_after_every_step(
                kind in proptest::sample::select(TicketKind::ALL),
                queued in any::<bool>(),
                actions in proptest::collection::vec(action(), 1..80),
            ) {
                let first = if queued { q(DEPT) } else { u(TRACKER) };
                let mut t = TicketState::new(ID, kind, first, Priority::Low);
                let mut now = NOW;
                prop_assert!(t.owner_fits_status());
                for (k, who, dept, target, offset, (signed, comps, member), dt) in actions {
                    now = now.plus_millis(dt);
                    let g = Guards {
                        now,
                        plan_fully_signed: signed,
                        open_compensations: comps,
                        actor_in_queue: member,
                        reopen_window_ms: DEFAULT_REOPEN_WINDOW_MS,
                        urge_threshold: 2,
                    };
                    // Actor 0 is whoever owns the ticket now: acts named for the owner then pass.
                    let who = match (who, t.owner) {
                        (0, Owner::User(owner)) => owner.0,
                        (0, Owner::Queue(_)) => 1,
                        (n, _) => n,
                    };
                    let e = event(k, who, dept, target, offset, now);
                    let before = t.clone();
                    if let Ok(step) = t.apply(&e, &g) {
                        prop_assert_eq!(step.status, t.status);
                        prop_assert!(t.owner_fits_status(), "{:?} after {:?}", t, e);
                        prop_assert!(before.status.is_open() || before.status == S::Closed);
                        if before.status == S::Closed {
                            prop_assert_eq!(e.kind(), K::Reopen);
                        }
                        prop_assert!(t.priority >= before.priority);
                        prop_assert_eq!(
                            t.paused_from.is_some(),
                            t.status == S::WaitingOnCustomer
                        );
                    } else {
                        prop_assert_eq!(&t, &before);
                    }
                    if !t.status.is_open() {
                        // Try everything on a finished ticket, with every outside fact holding:
                        // only reopening a closed one, inside its window, may pass.
                        let probe_guards = Guards { now, ..passing() };
                        let in_window = t
                            .settled_at
                            .is_some_and(|at| now.millis() - at.millis() <= DEFAULT_REOPEN_WINDOW_MS);
                        for &k in K::ALL {
                            let ok = t.transition(&event_for(k, &t), &probe_guards).is_ok();
                            let expected = t.status == S::Closed && k == K::Reopen && in_window;
                            prop_assert_eq!(ok, expected, "{} {}", t.status, k);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn signing_a_plan_through_apply_stops_the_proposal_clock() {
        use crate::sla::{ClockEffect, SlaMetric};
        let mut t = state_in(S::Accepted);
        let sign = TicketEvent::SignPlan {
            by: HANDLER,
            committed_at: NOW.plus_millis(48 * HOUR),
        };
        // A part still unsigned: refused, the ticket stays where it was.
        let unsigned = Guards {
            plan_fully_signed: false,
            ..passing()
        };
        assert_eq!(t.apply(&sign, &unsigned), Err(TicketError::PlanNotSigned));
        assert_eq!(t.status, S::Accepted);
        // Every part signed: the plan is signed, the handler keeps the ticket, and the event is
        // the one on which the proposal clock stops (and only that clock).
        let step = t.apply(&sign, &passing()).unwrap();
        assert_eq!(step.status, S::PlanSigned);
        assert_eq!((t.status, t.owner), (S::PlanSigned, u(HANDLER)));
        assert_eq!(
            ClockEffect::of(&sign),
            ClockEffect::Stop(&[SlaMetric::Proposal])
        );
        // Returning the plan to the tracker leaves the clocks alone.
        let back = TicketEvent::ReturnPlan { by: HANDLER };
        t.apply(&back, &passing()).unwrap();
        assert_eq!(ClockEffect::of(&back), ClockEffect::None);
    }
}
