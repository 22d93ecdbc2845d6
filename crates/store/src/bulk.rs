//! Bulk inserts for system imports (the demo builder): whole customers with their addresses,
//! contacts, devices and timeline, written many rows per statement. The caller chooses the ids
//! of customers, contacts, addresses and devices (from `next_ids`), so that one batch can refer
//! to its own rows without a round trip per row; everything derived — the phone index, the
//! customer's region from its default address, the brand links of its devices — is derived
//! here, as the single-row functions of `customers` do. Only for a database with no concurrent
//! writer creating the same kinds of rows: the ids are taken, not allocated.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use domain::customer::{CustomerKind, DeviceDraft, PurchaseChannel, TimelineKind, name_key};
use domain::{
    Address, AddressId, BrandId, ContactId, CustomerId, DeviceId, NoteCategoryId, Phone,
    RegionCode, Timestamp, UserId,
};
use sqlx::any::AnyArguments;
use sqlx::{Arguments, AssertSqlSafe};

use crate::{Backend, Conn, Error};

/// A customer with everything it owns, as one import writes it.
#[derive(Debug, Clone)]
pub struct NewCustomer {
    pub id: CustomerId,
    pub kind: CustomerKind,
    pub name: String,
    pub phone: Option<Phone>,
    pub email: Option<String>,
    pub dealer_id: Option<CustomerId>,
    pub owner_user_id: Option<UserId>,
    pub remark: Option<String>,
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
    /// The first one is the default address (and gives the customer its region).
    pub addresses: Vec<NewAddress>,
    pub contacts: Vec<NewContact>,
    pub devices: Vec<NewDevice>,
}

#[derive(Debug, Clone)]
pub struct NewAddress {
    pub id: AddressId,
    pub label: Option<String>,
    pub address: Address,
}

#[derive(Debug, Clone)]
pub struct NewContact {
    pub id: ContactId,
    pub name: String,
    pub phone: Option<Phone>,
    pub title: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewDevice {
    pub id: DeviceId,
    pub draft: DeviceDraft,
    /// When the device was registered; its brand link dates from its first device.
    pub at: Timestamp,
}

/// A timeline entry with an owned body.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub customer_id: CustomerId,
    pub device_id: Option<DeviceId>,
    pub brand_id: Option<BrandId>,
    pub at: Timestamp,
    pub kind: TimelineKind,
    pub category_id: Option<NoteCategoryId>,
    pub author_id: Option<UserId>,
    pub body: String,
}

/// The next free id of each table whose ids a batch chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextIds {
    pub customer: i64,
    pub contact: i64,
    pub address: i64,
    pub device: i64,
}

pub async fn next_ids(c: &mut Conn) -> Result<NextIds, Error> {
    let (customer, contact, address, device): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT COALESCE(MAX(id), 0) + 1 FROM customers), (SELECT COALESCE(MAX(id), 0) + 1 FROM contacts),
                (SELECT COALESCE(MAX(id), 0) + 1 FROM addresses), (SELECT COALESCE(MAX(id), 0) + 1 FROM devices)",
    )
    .fetch_one(&mut *c)
    .await?;
    Ok(NextIds {
        customer,
        contact,
        address,
        device,
    })
}

/// The settings of SQLite's writing connection that an import changes, to be put back after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterSettings {
    cache_size: i64,
    autocheckpoint: i64,
}

/// Prepares SQLite's writing connection for an import and returns what to restore:
/// - a page cache (256 MiB at most, allocated as used) that holds the indexes an import
///   touches in random order (names, phones). With the default 2 MB, a million-customer import
///   spilled and re-read pages all the time and wrote some 100 GB of WAL and sub-journal for a
///   1.7 GB database;
/// - checkpoints every 64 MB of WAL instead of 4 MB, so that an index page rewritten by many
///   consecutive chunks is copied into the database once, not after every chunk.
///
/// PostgreSQL needs nothing.
pub async fn tune_for_import(
    c: &mut Conn,
    backend: Backend,
) -> Result<Option<WriterSettings>, Error> {
    if backend != Backend::Sqlite {
        return Ok(None);
    }
    let (cache_size,): (i64,) = sqlx::query_as("PRAGMA cache_size")
        .fetch_one(&mut *c)
        .await?;
    let (autocheckpoint,): (i64,) = sqlx::query_as("PRAGMA wal_autocheckpoint")
        .fetch_one(&mut *c)
        .await?;
    sqlx::query("PRAGMA cache_size = -262144")
        .execute(&mut *c)
        .await?;
    sqlx::query("PRAGMA wal_autocheckpoint = 16384")
        .execute(&mut *c)
        .await?;
    Ok(Some(WriterSettings {
        cache_size,
        autocheckpoint,
    }))
}

/// Puts back what `tune_for_import` changed.
pub async fn restore(c: &mut Conn, before: Option<WriterSettings>) -> Result<(), Error> {
    let Some(s) = before else {
        return Ok(());
    };
    // PRAGMA values cannot be bound; these are integers SQLite itself reported.
    for sql in [
        format!("PRAGMA cache_size = {}", s.cache_size),
        format!("PRAGMA wal_autocheckpoint = {}", s.autocheckpoint),
    ] {
        sqlx::query(AssertSqlSafe(sql)).execute(&mut *c).await?;
    }
    Ok(())
}

/// Rows in the tables an import writes, for reports and checks.
pub async fn counts(c: &mut Conn) -> Result<Written, Error> {
    let (customers, contacts, addresses, devices, phones, brand_links, timeline): (i64, i64, i64, i64, i64, i64, i64) =
        sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM customers), (SELECT COUNT(*) FROM contacts), (SELECT COUNT(*) FROM addresses),
                    (SELECT COUNT(*) FROM devices), (SELECT COUNT(*) FROM customer_phones),
                    (SELECT COUNT(*) FROM customer_brand_links), (SELECT COUNT(*) FROM timeline_entries)",
        )
        .fetch_one(&mut *c)
        .await?;
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok(Written {
        customers: n(customers),
        contacts: n(contacts),
        addresses: n(addresses),
        devices: n(devices),
        phones: n(phones),
        brand_links: n(brand_links),
        timeline: n(timeline),
    })
}

/// What one `insert` wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    pub customers: u64,
    pub contacts: u64,
    pub addresses: u64,
    pub devices: u64,
    pub phones: u64,
    pub brand_links: u64,
    pub timeline: u64,
}

/// Writes the customers (with their addresses, contacts, devices, phone index and brand links)
/// and the timeline entries. Dealers referred to must exist already or come earlier in
/// `customers`.
pub async fn insert(
    c: &mut Conn,
    backend: Backend,
    customers: &[NewCustomer],
    timeline: &[NewEntry],
) -> Result<Written, Error> {
    let mut w = Written::default();

    rows(c, backend, &CUSTOMERS, customers, |a, x| {
        let region = x.addresses.first().map(|a| &a.address);
        add(a, x.id.0);
        add(a, x.kind.as_str());
        add(a, x.name.as_str());
        add(a, name_key(&x.name));
        add(a, x.phone.as_ref().map(Phone::as_str));
        add(a, x.email.as_deref());
        add(a, x.dealer_id.map(|d| d.0));
        add(a, x.owner_user_id.map(|u| u.0));
        add(a, region.map(|r| r.province.as_str()));
        add(a, region.map(|r| r.city.as_str()));
        add(
            a,
            region.and_then(|r| r.district.as_ref().map(RegionCode::as_str)),
        );
        add(a, x.remark.as_deref());
        add(a, x.created_by.map(|u| u.0));
        add(a, x.created_at.0);
        add(a, x.created_at.0);
    })
    .await?;
    w.customers = customers.len() as u64;

    let addresses: Vec<(&NewCustomer, usize, &NewAddress)> = customers
        .iter()
        .flat_map(|x| x.addresses.iter().enumerate().map(move |(n, a)| (x, n, a)))
        .collect();
    rows(c, backend, &ADDRESSES, &addresses, |a, (x, n, ad)| {
        let r = &ad.address;
        add(a, ad.id.0);
        add(a, x.id.0);
        add(a, ad.label.as_deref());
        add(a, r.province.as_str());
        add(a, r.city.as_str());
        add(a, r.district.as_ref().map(RegionCode::as_str));
        add(a, r.street.as_ref().map(RegionCode::as_str));
        add(a, r.detail.as_str());
        add(a, r.geo.map(|g| g.lng));
        add(a, r.geo.map(|g| g.lat));
        add(a, i64::from(*n == 0));
        add(a, x.created_at.0);
        add(a, x.created_at.0);
    })
    .await?;
    w.addresses = addresses.len() as u64;

    let contacts: Vec<(&NewCustomer, &NewContact)> = customers
        .iter()
        .flat_map(|x| x.contacts.iter().map(move |ct| (x, ct)))
        .collect();
    rows(c, backend, &CONTACTS, &contacts, |a, (x, ct)| {
        add(a, ct.id.0);
        add(a, x.id.0);
        add(a, ct.name.as_str());
        add(a, ct.phone.as_ref().map(Phone::as_str));
        add(a, ct.title.as_deref());
        add(a, x.created_at.0);
        add(a, x.created_at.0);
    })
    .await?;
    w.contacts = contacts.len() as u64;

    let phones: Vec<(&str, CustomerId, Option<ContactId>)> = customers
        .iter()
        .flat_map(|x| {
            let own = x.phone.as_ref().map(|p| (p.as_str(), x.id, None));
            let of_contacts = x
                .contacts
                .iter()
                .filter_map(move |ct| ct.phone.as_ref().map(|p| (p.as_str(), x.id, Some(ct.id))));
            own.into_iter().chain(of_contacts)
        })
        .collect();
    rows(c, backend, &PHONES, &phones, |a, (p, cust, ct)| {
        add(a, *p);
        add(a, cust.0);
        add(a, ct.map(|x| x.0));
    })
    .await?;
    w.phones = phones.len() as u64;

    let devices: Vec<(&NewCustomer, &NewDevice)> = customers
        .iter()
        .flat_map(|x| x.devices.iter().map(move |d| (x, d)))
        .collect();
    rows(c, backend, &DEVICES, &devices, |a, (x, dev)| {
        let d = &dev.draft;
        add(a, dev.id.0);
        add(a, x.id.0);
        add(a, d.brand_id.map(|b| b.0));
        add(a, d.category.as_str());
        add(a, d.model.as_str());
        add(a, d.serial.as_deref());
        add(a, d.production_date.map(|x| x.to_string()));
        add(a, d.purchase_date.map(|x| x.to_string()));
        add(a, d.purchase_channel.map(PurchaseChannel::as_str));
        add(a, d.install_date.map(|x| x.to_string()));
        add(a, d.installer.as_deref());
        add(a, d.warranty_end.map(|x| x.to_string()));
        add(a, d.address_id.map(|x| x.0));
        add(a, dev.at.0);
        add(a, dev.at.0);
    })
    .await?;
    w.devices = devices.len() as u64;

    // A brand sees a customer once it has one of the brand's devices; the link dates from the
    // first such device.
    let mut links: Vec<(CustomerId, BrandId, Timestamp)> = Vec::new();
    for x in customers {
        let mut first: BTreeMap<BrandId, Timestamp> = BTreeMap::new();
        for d in &x.devices {
            if let Some(b) = d.draft.brand_id {
                first
                    .entry(b)
                    .and_modify(|t| *t = (*t).min(d.at))
                    .or_insert(d.at);
            }
        }
        links.extend(first.into_iter().map(|(b, t)| (x.id, b, t)));
    }
    rows(c, backend, &LINKS, &links, |a, (cust, b, t)| {
        add(a, cust.0);
        add(a, b.0);
        add(a, t.0);
    })
    .await?;
    w.brand_links = links.len() as u64;

    rows(c, backend, &TIMELINE, timeline, |a, e| {
        add(a, e.customer_id.0);
        add(a, e.device_id.map(|x| x.0));
        add(a, e.brand_id.map(|x| x.0));
        add(a, e.at.0);
        add(a, e.kind.as_str());
        add(a, e.category_id.map(|x| x.0));
        add(a, e.author_id.map(|x| x.0));
        add(a, e.body.as_str());
    })
    .await?;
    w.timeline = timeline.len() as u64;

    if backend == Backend::Postgres {
        // Rows written with their own ids leave the identity sequences behind; move them past
        // the largest id so that the next ordinary insert does not collide.
        for sql in [
            "SELECT setval(pg_get_serial_sequence('customers', 'id'), (SELECT MAX(id) FROM customers)) WHERE EXISTS (SELECT 1 FROM customers)",
            "SELECT setval(pg_get_serial_sequence('contacts', 'id'), (SELECT MAX(id) FROM contacts)) WHERE EXISTS (SELECT 1 FROM contacts)",
            "SELECT setval(pg_get_serial_sequence('addresses', 'id'), (SELECT MAX(id) FROM addresses)) WHERE EXISTS (SELECT 1 FROM addresses)",
            "SELECT setval(pg_get_serial_sequence('devices', 'id'), (SELECT MAX(id) FROM devices)) WHERE EXISTS (SELECT 1 FROM devices)",
        ] {
            sqlx::query(sql).execute(&mut *c).await?;
        }
    }
    Ok(w)
}

/// Writes search documents many rows per statement (documents of records this import just
/// wrote, none of which has one yet), in the caller's transaction: the demo indexes each chunk
/// with the chunk, `kefu reindex` in chunks of its own.
pub async fn search_docs(
    c: &mut Conn,
    backend: Backend,
    docs: &[crate::search::DocRow],
) -> Result<u64, Error> {
    rows(c, backend, &SEARCH_DOCS, docs, |a, d| {
        add(a, d.kind.as_str());
        add(a, d.doc_id);
        add(a, d.brand_id.map(|b| b.0));
        add(a, d.customer_id.map(|x| x.0));
        add(a, d.status.as_deref());
        add(a, d.sub_kind.as_deref());
        add(a, d.updated_at);
        add(a, d.title.as_str());
        add(a, d.body.as_str());
        add(a, d.tokens.as_str());
    })
    .await?;
    Ok(docs.len() as u64)
}

/// A table written by `rows`: its columns, and whether the caller supplies the id (which
/// PostgreSQL's `GENERATED ALWAYS` identity accepts only with `OVERRIDING SYSTEM VALUE`).
struct Table {
    name: &'static str,
    /// The bound columns first, then those set to `constants`.
    columns: &'static str,
    binds: usize,
    /// Per row, after the bound values: literal SQL for the remaining columns.
    constants: &'static str,
    explicit_id: bool,
}

const CUSTOMERS: Table = Table {
    name: "customers",
    columns: "id, kind, name, name_key, phone, email, dealer_id, owner_user_id, province_code, city_code, district_code, remark, created_by, created_at, updated_at, status, version",
    binds: 15,
    constants: "'active', 1",
    explicit_id: true,
};
const ADDRESSES: Table = Table {
    name: "addresses",
    columns: "id, customer_id, label, province_code, city_code, district_code, street_code, detail, lng, lat, is_default, created_at, updated_at, version",
    binds: 13,
    constants: "1",
    explicit_id: true,
};
const CONTACTS: Table = Table {
    name: "contacts",
    columns: "id, customer_id, name, phone, title, created_at, updated_at, is_primary, version",
    binds: 7,
    constants: "0, 1",
    explicit_id: true,
};
const PHONES: Table = Table {
    name: "customer_phones",
    columns: "phone, customer_id, contact_id",
    binds: 3,
    constants: "",
    explicit_id: false,
};
const DEVICES: Table = Table {
    name: "devices",
    columns: "id, customer_id, brand_id, category, model, serial, production_date, purchase_date, purchase_channel, install_date, installer, warranty_end, address_id, created_at, updated_at, version",
    binds: 15,
    constants: "1",
    explicit_id: true,
};
const LINKS: Table = Table {
    name: "customer_brand_links",
    columns: "customer_id, brand_id, created_at",
    binds: 3,
    constants: "",
    explicit_id: false,
};
const TIMELINE: Table = Table {
    name: "timeline_entries",
    columns: "customer_id, device_id, brand_id, at, kind, category_id, author_id, body",
    binds: 8,
    constants: "",
    explicit_id: false,
};

const SEARCH_DOCS: Table = Table {
    name: "search_docs",
    columns: "doc_kind, doc_id, brand_id, customer_id, status, sub_kind, updated_at, title, body, tokens",
    binds: 10,
    constants: "",
    explicit_id: false,
};

/// Rows per statement at most; smaller remainders go in power-of-two statements so that a
/// handful of distinct statements per table serve every batch from the statement cache.
const MAX_ROWS: usize = 128;

/// `INSERT INTO t (cols) VALUES (…), (…)` for `n` rows, built only from this module's literals
/// and placeholders, hence safe to hand to sqlx as SQL. Placeholders are `$N` on PostgreSQL but
/// anonymous `?` on SQLite: sqlx looks up the name of every numbered parameter, a linear scan
/// in SQLite, which made statements of a thousand `$N` spend half the import in that lookup.
fn statement(t: &Table, backend: Backend, n: usize) -> String {
    let mut s = String::with_capacity(64 + n * (t.binds * 5 + 16));
    let _ = write!(s, "INSERT INTO {} ({})", t.name, t.columns);
    if t.explicit_id && backend == Backend::Postgres {
        s.push_str(" OVERRIDING SYSTEM VALUE");
    }
    s.push_str(" VALUES ");
    let mut p = 0;
    for r in 0..n {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for k in 0..t.binds {
            p += 1;
            if k > 0 {
                s.push_str(", ");
            }
            match backend {
                Backend::Sqlite => s.push('?'),
                Backend::Postgres => {
                    let _ = write!(s, "${p}");
                }
            }
        }
        if !t.constants.is_empty() {
            s.push_str(", ");
            s.push_str(t.constants);
        }
        s.push(')');
    }
    s
}

fn add<'t, T>(a: &mut AnyArguments, v: T)
where
    T: sqlx::Encode<'t, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    a.add(v).expect("Any encodes every type it accepts");
}

async fn rows<T>(
    c: &mut Conn,
    backend: Backend,
    t: &Table,
    items: &[T],
    bind: impl Fn(&mut AnyArguments, &T),
) -> Result<(), Error> {
    let mut rest = items;
    while !rest.is_empty() {
        let n = if rest.len() >= MAX_ROWS {
            MAX_ROWS
        } else {
            // The largest power of two not above what is left.
            1 << rest.len().ilog2()
        };
        let (now, later) = rest.split_at(n);
        let mut args = AnyArguments::default();
        args.reserve(n * t.binds, 0);
        for item in now {
            bind(&mut args, item);
        }
        debug_assert_eq!(
            args.len(),
            n * t.binds,
            "{}: one value per bound column",
            t.name
        );
        sqlx::query_with(AssertSqlSafe(statement(t, backend, n)), args)
            .execute(&mut *c)
            .await?;
        rest = later;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_have_one_placeholder_per_bound_column() {
        let s = statement(&CONTACTS, Backend::Postgres, 2);
        assert_eq!(
            s,
            "INSERT INTO contacts (id, customer_id, name, phone, title, created_at, updated_at, is_primary, version) OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 1), ($8, $9, $10, $11, $12, $13, $14, 0, 1)"
        );
        let s = statement(&PHONES, Backend::Sqlite, 2);
        assert_eq!(
            s,
            "INSERT INTO customer_phones (phone, customer_id, contact_id) VALUES (?, ?, ?), (?, ?, ?)"
        );
        for t in [
            &CUSTOMERS,
            &ADDRESSES,
            &CONTACTS,
            &PHONES,
            &DEVICES,
            &LINKS,
            &TIMELINE,
            &SEARCH_DOCS,
        ] {
            let cols = t.columns.split(", ").count();
            let consts = if t.constants.is_empty() {
                0
            } else {
                t.constants.split(", ").count()
            };
            assert_eq!(cols, t.binds + consts, "{}", t.name);
        }
    }
}
