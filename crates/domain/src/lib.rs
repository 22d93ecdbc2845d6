//! Pure business types and rules of kefu: typed ids, instants and civil dates, money in fen,
//! phone numbers with masking, addresses keyed by GB/T 2260 region codes, roles, permissions,
//! the visibility `Scope`, business calendars for SLA deadlines and the ticket workflow.
//! Nothing here does IO, reads a clock or knows about SQL or HTTP: values of these types are
//! valid by construction, so the layers above parse input into them once, at the edge, and
//! trust them afterwards.

pub mod access;
pub mod account;
pub mod address;
pub mod calendar;
pub mod call;
pub mod cursor;
pub mod customer;
pub mod ids;
pub mod money;
pub mod phone;
pub mod sla;
pub mod survey;
pub mod text;
pub mod ticket;
pub mod time;

pub use access::{Permission, Role, Scope};
pub use address::{Address, GeoPoint, RegionCode, RegionLevel};
pub use cursor::Cursor;
pub use ids::*;
pub use money::Money;
pub use phone::Phone;
pub use time::{Date, Timestamp};
