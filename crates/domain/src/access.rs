//! Who may do what, and what they may see. A `Role` grants a fixed set of `Permission`s (the
//! table below is the one place that says so); a `Scope` limits which rows are visible at all and
//! is applied in SQL by the store, so a row outside it is simply not found.

use std::collections::BTreeSet;

use crate::{BrandId, CustomerId, EngineerId, OutletId};

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $s:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),* }
            }
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some($name::$variant),)* _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use string_enum;

string_enum!(
    /// The roles of SPEC "Users and roles": operating-company staff first, outside parties last.
    Role {
        Admin = "admin",
        Manager = "manager",
        Agent = "agent",
        Dispatcher = "dispatcher",
        CitySupervisor = "city_supervisor",
        DepartmentHandler = "department_handler",
        AccountOwner = "account_owner",
        RemoteSupport = "remote_support",
        FollowupSpecialist = "followup_specialist",
        PartsWarehouse = "parts_warehouse",
        SettlementFinance = "settlement_finance",
        QualityChecker = "quality_checker",
        Engineer = "engineer",
        OutletAdmin = "outlet_admin",
        DealerUser = "dealer_user",
        BrandUser = "brand_user",
    }
);

string_enum!(
    Permission {
        CustomerRead = "customer_read",
        CustomerWrite = "customer_write",
        CustomerMerge = "customer_merge",
        DeviceWrite = "device_write",
        NoteWrite = "note_write",
        PhoneView = "phone_view",
        PhoneReveal = "phone_reveal",
        UserRead = "user_read",
        UserAdmin = "user_admin",
        OrgAdmin = "org_admin",
        AuditRead = "audit_read",
        TokenAdmin = "token_admin",
        // Service desk (D1–D11).
        TicketRead = "ticket_read",
        TicketCreate = "ticket_create",
        // Act on tickets one owns or is asked to: reply, note, accept, sign, inform, resolve.
        TicketWork = "ticket_work",
        // Send tickets to departments, take over, transfer.
        TicketRoute = "ticket_route",
        // Supervisor acts on anyone's ticket: reassign, merge, cancel, close escalations.
        TicketSupervise = "ticket_supervise",
        // The requester's side: confirm the outcome, reopen.
        TicketConfirm = "ticket_confirm",
        CompensationPropose = "compensation_propose",
        CompensationApprove = "compensation_approve",
        CompensationPay = "compensation_pay",
        ReportRead = "report_read",
        // Edit business calendars and SLA policies.
        SlaAdmin = "sla_admin",
        // See which tickets are about to breach or have breached (supervisor screens).
        SlaMonitor = "sla_monitor",
        // Work the hotline: see calls, call customers back, record return-call attempts.
        CallHandle = "call_handle",
        // Manage who outside hears of ticket events (企业微信 bots, webhooks) and see the outbox.
        NotifyAdmin = "notify_admin",
    }
);

impl Role {
    /// Outside parties see only their own slice of the data and cannot hold staff roles.
    pub fn is_outside_party(self) -> bool {
        matches!(
            self,
            Role::Engineer | Role::OutletAdmin | Role::DealerUser | Role::BrandUser
        )
    }

    /// What the role grants. Phone numbers: roles that call customers every day see them
    /// (`PhoneView`); roles that only occasionally need one may reveal it, audited (`PhoneReveal`);
    /// the rest see masks only.
    pub fn permissions(self) -> &'static [Permission] {
        use Permission as P;
        match self {
            Role::Admin => P::ALL,
            Role::Manager => &[
                P::CustomerRead,
                P::CustomerWrite,
                P::CustomerMerge,
                P::DeviceWrite,
                P::NoteWrite,
                P::PhoneReveal,
                P::UserRead,
                P::AuditRead,
                P::TicketRead,
                P::TicketCreate,
                P::TicketWork,
                P::TicketRoute,
                P::TicketSupervise,
                P::TicketConfirm,
                P::CompensationPropose,
                P::CompensationApprove,
                P::ReportRead,
                P::SlaMonitor,
                P::CallHandle,
            ],
            Role::Agent => &[
                P::CustomerRead,
                P::CustomerWrite,
                P::DeviceWrite,
                P::NoteWrite,
                P::PhoneView,
                P::TicketRead,
                P::TicketCreate,
                P::TicketWork,
                P::TicketRoute,
                P::TicketConfirm,
                P::CompensationPropose,
                P::CallHandle,
            ],
            Role::DealerUser => &[
                P::CustomerRead,
                P::CustomerWrite,
                P::DeviceWrite,
                P::NoteWrite,
                P::PhoneView,
                P::TicketRead,
                P::TicketCreate,
                P::TicketConfirm,
            ],
            Role::Dispatcher => &[P::CustomerRead, P::NoteWrite, P::PhoneView, P::TicketRead],
            Role::FollowupSpecialist => &[
                P::CustomerRead,
                P::NoteWrite,
                P::PhoneView,
                P::TicketRead,
                P::TicketCreate,
                P::TicketWork,
                P::TicketConfirm,
                P::CallHandle,
            ],
            Role::CitySupervisor => &[
                P::CustomerRead,
                P::CustomerWrite,
                P::CustomerMerge,
                P::DeviceWrite,
                P::NoteWrite,
                P::PhoneView,
                P::TicketRead,
                P::TicketCreate,
                P::TicketWork,
                P::TicketRoute,
                P::TicketSupervise,
                P::TicketConfirm,
                P::CompensationPropose,
                P::CompensationApprove,
                P::ReportRead,
                P::SlaMonitor,
            ],
            Role::DepartmentHandler | Role::QualityChecker => &[
                P::CustomerRead,
                P::NoteWrite,
                P::PhoneReveal,
                P::TicketRead,
                P::TicketWork,
                P::TicketRoute,
                P::CompensationPropose,
            ],
            // Key accounts' calls ring at their account owner's extension (D2, D8).
            Role::AccountOwner => &[
                P::CustomerRead,
                P::CustomerWrite,
                P::NoteWrite,
                P::PhoneView,
                P::TicketRead,
                P::TicketCreate,
                P::TicketWork,
                P::TicketRoute,
                P::TicketConfirm,
                P::CompensationPropose,
                P::CallHandle,
            ],
            Role::RemoteSupport => &[
                P::CustomerRead,
                P::DeviceWrite,
                P::NoteWrite,
                P::PhoneView,
                P::TicketRead,
                P::TicketCreate,
                P::TicketWork,
                P::TicketRoute,
            ],
            Role::SettlementFinance => &[
                P::CustomerRead,
                P::TicketRead,
                P::CompensationPay,
                P::ReportRead,
            ],
            Role::PartsWarehouse | Role::Engineer | Role::OutletAdmin => &[P::CustomerRead],
            Role::BrandUser => &[
                P::CustomerRead,
                P::DeviceWrite,
                P::TicketRead,
                P::TicketCreate,
                P::TicketConfirm,
            ],
        }
    }
}

/// The set of permissions of a principal: the union over its roles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions(BTreeSet<Permission>);

impl Permissions {
    pub fn of_roles(roles: &[Role]) -> Self {
        Self(
            roles
                .iter()
                .flat_map(|r| r.permissions().iter().copied())
                .collect(),
        )
    }
    pub fn has(&self, p: Permission) -> bool {
        self.0.contains(&p)
    }
    pub fn iter(&self) -> impl Iterator<Item = Permission> + '_ {
        self.0.iter().copied()
    }
}

/// Which rows a principal can see at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Operating-company staff.
    All,
    /// A brand's users and integrations: only rows owned by these brands.
    Brands(BTreeSet<BrandId>),
    /// A service outlet: its own work orders, engineers and their customers.
    Outlet(OutletId),
    /// A dealer: itself and the customers it serves.
    Dealer(CustomerId),
    /// An engineer: only the jobs assigned to them.
    Engineer(EngineerId),
    /// A customer on the self-service pages: only themselves.
    Customer(CustomerId),
}

impl Scope {
    /// Whether a brand-owned row (`brand_id` NULL = the operating company's own) is visible.
    pub fn sees_brand(&self, brand: Option<BrandId>) -> bool {
        match self {
            Scope::All => true,
            Scope::Brands(set) => brand.is_some_and(|b| set.contains(&b)),
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleSetError {
    #[error("a user needs at least one role")]
    Empty,
    #[error("outside-party roles cannot be combined with other roles")]
    Mixed,
    #[error("a brand user must belong to a brand")]
    BrandMissing,
    #[error("a dealer user must belong to a dealer")]
    DealerMissing,
    #[error("an outlet admin must belong to an outlet")]
    OutletMissing,
    #[error("an engineer account must be linked to an engineer")]
    EngineerMissing,
}

/// The links that tie an account to an outside party.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccountLinks {
    pub brand: Option<BrandId>,
    pub dealer: Option<CustomerId>,
    pub outlet: Option<OutletId>,
    pub engineer: Option<EngineerId>,
}

/// Checks a role set and derives the account's scope from it.
pub fn scope_for(roles: &[Role], links: AccountLinks) -> Result<Scope, RoleSetError> {
    let Some(&first) = roles.first() else {
        return Err(RoleSetError::Empty);
    };
    if roles.iter().any(|r| r.is_outside_party()) && roles.iter().any(|r| *r != first) {
        return Err(RoleSetError::Mixed);
    }
    match first {
        Role::BrandUser => links
            .brand
            .map(|b| Scope::Brands(BTreeSet::from([b])))
            .ok_or(RoleSetError::BrandMissing),
        Role::DealerUser => links
            .dealer
            .map(Scope::Dealer)
            .ok_or(RoleSetError::DealerMissing),
        Role::OutletAdmin => links
            .outlet
            .map(Scope::Outlet)
            .ok_or(RoleSetError::OutletMissing),
        Role::Engineer => links
            .engineer
            .map(Scope::Engineer)
            .ok_or(RoleSetError::EngineerMissing),
        _ => Ok(Scope::All),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_round_trips_and_has_read() {
        assert_eq!(Role::ALL.len(), 16);
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(*r));
            assert!(r.permissions().contains(&Permission::CustomerRead), "{r}");
        }
    }

    #[test]
    fn phone_visibility_by_role() {
        let sees = |r: Role| Permissions::of_roles(&[r]).has(Permission::PhoneView);
        assert!(sees(Role::Agent));
        assert!(sees(Role::Dispatcher));
        assert!(!sees(Role::SettlementFinance));
        assert!(!sees(Role::BrandUser));
        assert!(!sees(Role::Engineer));
        assert!(Permissions::of_roles(&[Role::DepartmentHandler]).has(Permission::PhoneReveal));
    }

    #[test]
    fn scopes_follow_roles() {
        let links = AccountLinks {
            brand: Some(BrandId(7)),
            ..AccountLinks::default()
        };
        assert_eq!(
            scope_for(&[Role::Agent, Role::Dispatcher], links),
            Ok(Scope::All)
        );
        assert_eq!(
            scope_for(&[Role::BrandUser], links),
            Ok(Scope::Brands(BTreeSet::from([BrandId(7)])))
        );
        assert_eq!(
            scope_for(&[Role::BrandUser, Role::Agent], links),
            Err(RoleSetError::Mixed)
        );
        assert_eq!(
            scope_for(&[Role::Agent, Role::BrandUser], links),
            Err(RoleSetError::Mixed)
        );
        assert_eq!(
            scope_for(&[Role::DealerUser], links),
            Err(RoleSetError::DealerMissing)
        );
        assert_eq!(scope_for(&[], links), Err(RoleSetError::Empty));
    }

    #[test]
    fn brand_rows_visibility() {
        let b = Scope::Brands(BTreeSet::from([BrandId(1)]));
        assert!(b.sees_brand(Some(BrandId(1))));
        assert!(!b.sees_brand(Some(BrandId(2))));
        assert!(!b.sees_brand(None));
        assert!(Scope::All.sees_brand(None));
    }
}
