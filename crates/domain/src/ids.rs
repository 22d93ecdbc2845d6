//! Typed ids: a `CustomerId` cannot be passed where a `DeviceId` is expected.

use serde::{Deserialize, Serialize};

macro_rules! ids {
    ($($name:ident),* $(,)?) => {$(
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}

ids!(
    CustomerId,
    ContactId,
    AddressId,
    DeviceId,
    TimelineId,
    NoteCategoryId,
    UserId,
    OrgUnitId,
    BrandId,
    OutletId,
    EngineerId,
    ApiTokenId,
    AuditId,
    JobId,
    OutboxId,
    TicketId,
    WorkOrderId,
    CalendarId,
    SlaPolicyId,
    SlaClockId,
    CallId,
    ReturnCallId,
    SurveyTemplateId,
    SurveyInvitationId,
);
