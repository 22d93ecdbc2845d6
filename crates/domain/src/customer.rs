//! The customer ledger (SPEC A1–A3): customers of three kinds, their contacts and addresses, the
//! products they own (the installed base) and one timeline per customer and per device.

use serde::Serialize;

use crate::access::string_enum;
use crate::{
    Address, AddressId, BrandId, ContactId, CustomerId, Date, DeviceId, NoteCategoryId, Phone,
    TimelineId, Timestamp, UserId,
};

string_enum!(
    CustomerKind {
        Individual = "individual",
        Dealer = "dealer",
        BrandClient = "brand_client",
    }
);

string_enum!(
    CustomerStatus {
        Active = "active",
        Merged = "merged",
    }
);

string_enum!(
    /// How a product reached its owner (A2).
    PurchaseChannel {
        Dealer = "dealer",
        Online = "online",
        Store = "store",
        Project = "project",
        Other = "other",
    }
);

string_enum!(
    /// What a timeline entry records. Later capabilities add their kinds here.
    TimelineKind {
        Note = "note",
        Created = "created",
        Merged = "merged",
        DeviceAdded = "device_added",
        Ticket = "ticket",
        Call = "call",
        Survey = "survey",
    }
);

#[derive(Debug, Clone, Serialize)]
pub struct Customer {
    pub id: CustomerId,
    pub kind: CustomerKind,
    pub name: String,
    pub phone: Option<Phone>,
    pub email: Option<String>,
    pub dealer_id: Option<CustomerId>,
    pub owner_user_id: Option<UserId>,
    pub province: Option<String>,
    pub city: Option<String>,
    pub district: Option<String>,
    pub remark: Option<String>,
    pub status: CustomerStatus,
    pub merged_into: Option<CustomerId>,
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Serialize)]
pub struct Contact {
    pub id: ContactId,
    pub customer_id: CustomerId,
    pub name: String,
    pub phone: Option<Phone>,
    pub title: Option<String>,
    pub is_primary: bool,
    pub version: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CustomerAddress {
    pub id: AddressId,
    pub customer_id: CustomerId,
    pub label: Option<String>,
    pub address: Address,
    pub is_default: bool,
    pub version: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Device {
    pub id: DeviceId,
    pub customer_id: CustomerId,
    pub brand_id: Option<BrandId>,
    pub category: String,
    pub model: String,
    pub serial: Option<String>,
    pub production_date: Option<Date>,
    pub purchase_date: Option<Date>,
    pub purchase_channel: Option<PurchaseChannel>,
    pub install_date: Option<Date>,
    pub installer: Option<String>,
    pub warranty_end: Option<Date>,
    pub address_id: Option<AddressId>,
    pub version: i64,
    pub created_at: Timestamp,
}

impl Device {
    /// Whether the device is under warranty on `day` (inclusive of the end date).
    pub fn in_warranty_on(&self, day: Date) -> Option<bool> {
        self.warranty_end.map(|end| day <= end)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct NoteCategory {
    pub id: NoteCategoryId,
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub active: bool,
}

impl NoteCategory {
    pub fn name(&self, locale: &str) -> &str {
        if locale.starts_with("en") {
            &self.name_en
        } else {
            &self.name_zh
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TimelineEntry {
    pub id: TimelineId,
    pub customer_id: CustomerId,
    pub device_id: Option<DeviceId>,
    pub brand_id: Option<BrandId>,
    pub at: Timestamp,
    pub kind: TimelineKind,
    pub category_id: Option<NoteCategoryId>,
    pub author_id: Option<UserId>,
    pub author_name: Option<String>,
    pub body: String,
    /// The ticket an entry is about, for ticket entries.
    pub ticket_id: Option<crate::TicketId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warranty_is_inclusive_of_its_last_day() {
        let mut d = Device {
            id: DeviceId(1),
            customer_id: CustomerId(1),
            brand_id: None,
            category: "净水器".into(),
            model: "RO-400".into(),
            serial: None,
            production_date: None,
            purchase_date: None,
            purchase_channel: None,
            install_date: None,
            installer: None,
            warranty_end: Date::parse("2026-11-23"),
            address_id: None,
            version: 1,
            created_at: Timestamp(0),
        };
        assert_eq!(
            d.in_warranty_on(Date::parse("2026-11-23").unwrap()),
            Some(true)
        );
        assert_eq!(
            d.in_warranty_on(Date::parse("2026-11-24").unwrap()),
            Some(false)
        );
        d.warranty_end = None;
        assert_eq!(d.in_warranty_on(Date::parse("2026-11-24").unwrap()), None);
    }
}

/// A validated customer as the ledger stores it; `None` fields are left empty.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerDraft {
    pub kind: CustomerKind,
    pub name: String,
    pub phone: Option<Phone>,
    pub email: Option<String>,
    pub dealer_id: Option<CustomerId>,
    pub owner_user_id: Option<UserId>,
    pub remark: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ContactDraft {
    pub name: String,
    pub phone: Option<Phone>,
    pub title: Option<String>,
    pub is_primary: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AddressDraft {
    pub label: Option<String>,
    pub address: Address,
    pub is_default: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeviceDraft {
    pub brand_id: Option<BrandId>,
    pub category: String,
    pub model: String,
    pub serial: Option<String>,
    pub production_date: Option<Date>,
    pub purchase_date: Option<Date>,
    pub purchase_channel: Option<PurchaseChannel>,
    pub install_date: Option<Date>,
    pub installer: Option<String>,
    pub warranty_end: Option<Date>,
    pub address_id: Option<AddressId>,
}

/// The key names are searched by: lower case, spaces removed, so "Zhang San" finds "zhangsan".
pub fn name_key(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}
