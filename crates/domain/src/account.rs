//! Accounts, the organisation's units (departments and city branches) and client brands.

use serde::Serialize;

use crate::access::{AccountLinks, Role, string_enum};
use crate::{BrandId, OrgUnitId, Timestamp, UserId};

string_enum!(
    OrgUnitKind {
        Company = "company",
        Department = "department",
        Branch = "branch",
        Team = "team",
    }
);

string_enum!(
    /// What a department does; tickets are routed to departments by function (SPEC D2).
    OrgFunction {
        Service = "service",
        Quality = "quality",
        Production = "production",
        Logistics = "logistics",
        Supply = "supply",
        Finance = "finance",
        Rnd = "rnd",
        Sales = "sales",
        Warehouse = "warehouse",
    }
);

string_enum!(
    BrandTier {
        Standard = "standard",
        Premium = "premium",
    }
);

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: UserId,
    pub login: String,
    pub display_name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub org_unit_id: Option<OrgUnitId>,
    #[serde(skip)]
    pub links: AccountLinks,
    pub roles: Vec<Role>,
    pub locale: String,
    pub active: bool,
    pub version: i64,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Serialize)]
pub struct OrgUnit {
    pub id: OrgUnitId,
    pub parent_id: Option<OrgUnitId>,
    pub kind: OrgUnitKind,
    pub function: Option<OrgFunction>,
    pub code: String,
    pub name: String,
    pub city_code: Option<String>,
    pub active: bool,
    pub version: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Brand {
    pub id: BrandId,
    pub code: String,
    pub name: String,
    pub tier: BrandTier,
    pub active: bool,
    pub version: i64,
}

/// Login names: 2–64 characters of letters, digits, '.', '_' or '-'.
pub fn valid_login(s: &str) -> bool {
    (2..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Passwords: at least 8 characters, at most 256.
pub fn valid_password(s: &str) -> bool {
    (8..=256).contains(&s.chars().count())
}
