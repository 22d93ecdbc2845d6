//! Customers, their phones, contacts, addresses and brand links; duplicate detection and merge.

use domain::customer::{
    AddressDraft, Contact, ContactDraft, Customer, CustomerAddress, CustomerDraft, CustomerKind,
    CustomerStatus, name_key,
};
use domain::{
    Address, AddressId, BrandId, ContactId, Cursor, CustomerId, GeoPoint, Phone, RegionCode, Scope,
    Timestamp, UserId,
};
use sqlx::FromRow;

use crate::error::corrupt;
use crate::sql::Filter;
use crate::{Conn, Error, Page};

#[derive(FromRow)]
struct CustomerRow {
    id: i64,
    kind: String,
    name: String,
    phone: Option<String>,
    email: Option<String>,
    dealer_id: Option<i64>,
    owner_user_id: Option<i64>,
    province_code: Option<String>,
    city_code: Option<String>,
    district_code: Option<String>,
    remark: Option<String>,
    status: String,
    merged_into_id: Option<i64>,
    version: i64,
    created_at: i64,
    updated_at: i64,
}

const SELECT_CUSTOMERS: &str = "SELECT c.id, c.kind, c.name, c.phone, c.email, c.dealer_id, c.owner_user_id, c.province_code, c.city_code, c.district_code, c.remark, c.status, c.merged_into_id, c.version, c.created_at, c.updated_at FROM customers c";

impl TryFrom<CustomerRow> for Customer {
    type Error = Error;
    fn try_from(r: CustomerRow) -> Result<Self, Error> {
        Ok(Customer {
            id: CustomerId(r.id),
            kind: CustomerKind::parse(&r.kind).ok_or_else(|| corrupt("customer kind", &r.kind))?,
            name: r.name,
            phone: r
                .phone
                .as_deref()
                .map(Phone::parse)
                .transpose()
                .map_err(|_| corrupt("phone", r.phone.as_deref().unwrap_or("")))?,
            email: r.email,
            dealer_id: r.dealer_id.map(CustomerId),
            owner_user_id: r.owner_user_id.map(UserId),
            province: r.province_code,
            city: r.city_code,
            district: r.district_code,
            remark: r.remark,
            status: CustomerStatus::parse(&r.status)
                .ok_or_else(|| corrupt("customer status", &r.status))?,
            merged_into: r.merged_into_id.map(CustomerId),
            version: r.version,
            created_at: Timestamp(r.created_at),
            updated_at: Timestamp(r.updated_at),
        })
    }
}

/// Restricts a query over `customers c` to what `scope` may see.
pub(crate) fn scope_filter(f: &mut Filter, scope: &Scope) {
    match scope {
        Scope::All => {}
        Scope::Brands(brands) => {
            let list = f.bind_list(brands.iter().map(|b| b.0));
            f.and_raw(format!("EXISTS (SELECT 1 FROM customer_brand_links l WHERE l.customer_id = c.id AND l.brand_id IN ({list}))"));
        }
        Scope::Dealer(dealer) => {
            let p1 = f.bind(dealer.0);
            let p2 = f.bind(dealer.0);
            f.and_raw(format!("(c.id = {p1} OR c.dealer_id = {p2})"));
        }
        Scope::Customer(id) => {
            f.and("c.id = ?", vec![id.0]);
        }
        // Outlets and engineers reach customers only through their work orders, which arrive
        // with field operations; until a work order links them, they see none.
        Scope::Outlet(_) | Scope::Engineer(_) => {
            f.and_raw("1 = 0".to_string());
        }
    }
}

pub async fn insert(
    c: &mut Conn,
    d: &CustomerDraft,
    by: Option<UserId>,
    at: Timestamp,
) -> Result<CustomerId, Error> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO customers (kind, name, name_key, phone, email, dealer_id, owner_user_id, remark, status, created_by, version, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'active', $9, 1, $10, $10) RETURNING id",
    )
    .bind(d.kind.as_str())
    .bind(&d.name)
    .bind(name_key(&d.name))
    .bind(d.phone.as_ref().map(Phone::as_str))
    .bind(&d.email)
    .bind(d.dealer_id.map(|x| x.0))
    .bind(d.owner_user_id.map(|x| x.0))
    .bind(&d.remark)
    .bind(by.map(|x| x.0))
    .bind(at.0)
    .fetch_one(&mut *c)
    .await?;
    if let Some(p) = &d.phone {
        add_phone(c, CustomerId(id), None, p).await?;
    }
    Ok(CustomerId(id))
}

async fn add_phone(
    c: &mut Conn,
    customer: CustomerId,
    contact: Option<ContactId>,
    phone: &Phone,
) -> Result<(), Error> {
    sqlx::query("INSERT INTO customer_phones (phone, customer_id, contact_id) VALUES ($1, $2, $3)")
        .bind(phone.as_str())
        .bind(customer.0)
        .bind(contact.map(|x| x.0))
        .execute(&mut *c)
        .await?;
    Ok(())
}

async fn remove_phone(
    c: &mut Conn,
    customer: CustomerId,
    contact: Option<ContactId>,
) -> Result<(), Error> {
    match contact {
        None => {
            sqlx::query("DELETE FROM customer_phones WHERE customer_id = $1 AND contact_id IS NULL")
                .bind(customer.0)
                .execute(&mut *c)
                .await?
        }
        Some(ct) => {
            sqlx::query("DELETE FROM customer_phones WHERE contact_id = $1")
                .bind(ct.0)
                .execute(&mut *c)
                .await?
        }
    };
    Ok(())
}

pub async fn get(c: &mut Conn, scope: &Scope, id: CustomerId) -> Result<Customer, Error> {
    let mut f = Filter::new();
    f.and("c.id = ?", vec![id.0]);
    scope_filter(&mut f, scope);
    let row: CustomerRow = f.fetch_one(c, SELECT_CUSTOMERS, "").await?;
    row.try_into()
}

/// What the customer list can be narrowed by.
#[derive(Debug, Clone, Default)]
pub struct CustomerQuery {
    /// A name prefix, or digits of a phone number (prefix match on any of the customer's phones).
    pub q: Option<String>,
    pub kind: Option<CustomerKind>,
    pub province: Option<String>,
    pub city: Option<String>,
    pub dealer: Option<CustomerId>,
    pub owner: Option<UserId>,
    pub include_merged: bool,
    pub after: Option<Cursor>,
    pub limit: u32,
}

/// Customers newest first (keyset on id), filtered and scoped.
/// Customers newest first, or by name when searching by name (so that a common surname walks
/// the name index instead of sorting every match). Keyset cursors follow the order used.
pub async fn list(c: &mut Conn, scope: &Scope, q: &CustomerQuery) -> Result<Page<Customer>, Error> {
    let mut f = Filter::new();
    scope_filter(&mut f, scope);
    let mut by_name = false;
    if let Some(text) = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        if domain::phone::looks_like_phone_fragment(text) {
            let digits: String = text.chars().filter(char::is_ascii_digit).collect();
            let digits = digits
                .strip_prefix("86")
                .filter(|d| d.len() == 11)
                .map_or(digits.clone(), str::to_string);
            let lo = f.bind(digits.clone());
            let hi = f.bind(format!("{digits}\u{7f}"));
            f.and_raw(format!("c.id IN (SELECT p.customer_id FROM customer_phones p WHERE p.phone >= {lo} AND p.phone < {hi})"));
        } else {
            let key = name_key(text);
            let lo = f.bind(key.clone());
            let hi = f.bind(format!("{key}\u{10ffff}"));
            f.and_raw(format!("c.name_key >= {lo} AND c.name_key < {hi}"));
            by_name = true;
        }
    }
    if let Some(kind) = q.kind {
        f.and("c.kind = ?", vec![kind.as_str().to_string()]);
    }
    if let Some(p) = &q.province {
        f.and("c.province_code = ?", vec![p.clone()]);
    }
    if let Some(city) = &q.city {
        f.and("c.city_code = ?", vec![city.clone()]);
    }
    if let Some(d) = q.dealer {
        f.and("c.dealer_id = ?", vec![d.0]);
    }
    if let Some(o) = q.owner {
        f.and("c.owner_user_id = ?", vec![o.0]);
    }
    if !q.include_merged {
        f.and_raw("c.status = 'active'".to_string());
    }
    match (&q.after, by_name) {
        (None, _) => {}
        (Some(after), false) => {
            f.and("c.id < ?", vec![after.id]);
        }
        (Some(after), true) => {
            let (k1, k2, id) = (
                f.bind(after.key.clone()),
                f.bind(after.key.clone()),
                f.bind(after.id),
            );
            f.and_raw(format!(
                "(c.name_key > {k1} OR (c.name_key = {k2} AND c.id > {id}))"
            ));
        }
    }
    let limit = i64::from(q.limit.clamp(1, 200));
    let lim = f.bind(limit + 1);
    let order = if by_name {
        "c.name_key, c.id"
    } else {
        "c.id DESC"
    };
    let rows: Vec<CustomerRow> = f
        .fetch_all(
            c,
            SELECT_CUSTOMERS,
            &format!(" ORDER BY {order} LIMIT {lim}"),
        )
        .await?;
    let items = rows
        .into_iter()
        .map(Customer::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(page(items, limit, |c: &Customer| Cursor {
        key: if by_name {
            name_key(&c.name)
        } else {
            String::new()
        },
        id: c.id.0,
    }))
}

/// Cuts the one extra row a keyset query fetched and turns it into the next page's cursor.
pub(crate) fn page<T>(mut items: Vec<T>, limit: i64, cursor: impl Fn(&T) -> Cursor) -> Page<T> {
    let limit = usize::try_from(limit).unwrap_or(0);
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(&cursor)
    } else {
        None
    };
    Page { items, next }
}

/// Customers reachable at `phone` (their own or a contact's), for screen-pop and duplicates.
pub async fn find_by_phone(
    c: &mut Conn,
    scope: &Scope,
    phone: &Phone,
) -> Result<Vec<Customer>, Error> {
    let mut f = Filter::new();
    f.and(
        "c.id IN (SELECT p.customer_id FROM customer_phones p WHERE p.phone = ?)",
        vec![phone.as_str().to_string()],
    );
    f.and_raw("c.status = 'active'".to_string());
    scope_filter(&mut f, scope);
    let rows: Vec<CustomerRow> = f.fetch_all(c, SELECT_CUSTOMERS, " ORDER BY c.id").await?;
    rows.into_iter().map(Customer::try_from).collect()
}

/// Updates the customer's own fields if it is still at `version`; returns the new version.
pub async fn update(
    c: &mut Conn,
    id: CustomerId,
    version: i64,
    d: &CustomerDraft,
    at: Timestamp,
) -> Result<i64, Error> {
    let done = sqlx::query(
        "UPDATE customers SET kind = $1, name = $2, name_key = $3, phone = $4, email = $5, dealer_id = $6, owner_user_id = $7, remark = $8,
         version = version + 1, updated_at = $9 WHERE id = $10 AND version = $11 AND status = 'active'",
    )
    .bind(d.kind.as_str())
    .bind(&d.name)
    .bind(name_key(&d.name))
    .bind(d.phone.as_ref().map(Phone::as_str))
    .bind(&d.email)
    .bind(d.dealer_id.map(|x| x.0))
    .bind(d.owner_user_id.map(|x| x.0))
    .bind(&d.remark)
    .bind(at.0)
    .bind(id.0)
    .bind(version)
    .execute(&mut *c)
    .await?;
    if done.rows_affected() == 0 {
        return Err(stale_or_missing(c, "SELECT version FROM customers WHERE id = $1", id.0).await);
    }
    remove_phone(c, id, None).await?;
    if let Some(p) = &d.phone {
        add_phone(c, id, None, p).await?;
    }
    Ok(version + 1)
}

/// After an update matched no row: was the row gone, or at another version?
pub(crate) async fn stale_or_missing(c: &mut Conn, sql: &'static str, id: i64) -> Error {
    match sqlx::query_as::<_, (i64,)>(sql)
        .bind(id)
        .fetch_optional(&mut *c)
        .await
    {
        Ok(Some(_)) => Error::VersionConflict,
        Ok(None) => Error::NotFound,
        Err(e) => e.into(),
    }
}

/// Makes the customer visible to a brand (idempotent).
pub async fn link_brand(
    c: &mut Conn,
    customer: CustomerId,
    brand: BrandId,
    at: Timestamp,
) -> Result<(), Error> {
    sqlx::query("INSERT INTO customer_brand_links (customer_id, brand_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
        .bind(customer.0)
        .bind(brand.0)
        .bind(at.0)
        .execute(&mut *c)
        .await?;
    Ok(())
}

// ---- contacts ----

#[derive(FromRow)]
struct ContactRow {
    id: i64,
    customer_id: i64,
    name: String,
    phone: Option<String>,
    title: Option<String>,
    is_primary: i64,
    version: i64,
}

impl TryFrom<ContactRow> for Contact {
    type Error = Error;
    fn try_from(r: ContactRow) -> Result<Self, Error> {
        Ok(Contact {
            id: ContactId(r.id),
            customer_id: CustomerId(r.customer_id),
            name: r.name,
            phone: r
                .phone
                .as_deref()
                .map(Phone::parse)
                .transpose()
                .map_err(|_| corrupt("phone", r.phone.as_deref().unwrap_or("")))?,
            title: r.title,
            is_primary: r.is_primary != 0,
            version: r.version,
        })
    }
}

pub async fn insert_contact(
    c: &mut Conn,
    customer: CustomerId,
    d: &ContactDraft,
    at: Timestamp,
) -> Result<ContactId, Error> {
    if d.is_primary {
        sqlx::query("UPDATE contacts SET is_primary = 0 WHERE customer_id = $1 AND is_primary = 1")
            .bind(customer.0)
            .execute(&mut *c)
            .await?;
    }
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO contacts (customer_id, name, phone, title, is_primary, version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 1, $6, $6) RETURNING id",
    )
    .bind(customer.0)
    .bind(&d.name)
    .bind(d.phone.as_ref().map(Phone::as_str))
    .bind(&d.title)
    .bind(i64::from(d.is_primary))
    .bind(at.0)
    .fetch_one(&mut *c)
    .await?;
    if let Some(p) = &d.phone {
        add_phone(c, customer, Some(ContactId(id)), p).await?;
    }
    Ok(ContactId(id))
}

pub async fn contacts(c: &mut Conn, customer: CustomerId) -> Result<Vec<Contact>, Error> {
    let rows: Vec<ContactRow> = sqlx::query_as(
        "SELECT id, customer_id, name, phone, title, is_primary, version FROM contacts WHERE customer_id = $1 ORDER BY is_primary DESC, id",
    )
    .bind(customer.0)
    .fetch_all(&mut *c)
    .await?;
    rows.into_iter().map(Contact::try_from).collect()
}

pub async fn get_contact(
    c: &mut Conn,
    customer: CustomerId,
    id: ContactId,
) -> Result<Contact, Error> {
    let row: ContactRow = sqlx::query_as("SELECT id, customer_id, name, phone, title, is_primary, version FROM contacts WHERE id = $1 AND customer_id = $2")
        .bind(id.0)
        .bind(customer.0)
        .fetch_one(&mut *c)
        .await?;
    row.try_into()
}

pub async fn delete_contact(
    c: &mut Conn,
    customer: CustomerId,
    id: ContactId,
    version: i64,
) -> Result<(), Error> {
    let done =
        sqlx::query("DELETE FROM contacts WHERE id = $1 AND customer_id = $2 AND version = $3")
            .bind(id.0)
            .bind(customer.0)
            .bind(version)
            .execute(&mut *c)
            .await?;
    if done.rows_affected() == 0 {
        return Err(stale_or_missing(c, "SELECT version FROM contacts WHERE id = $1", id.0).await);
    }
    remove_phone(c, customer, Some(id)).await
}

// ---- addresses ----

#[derive(FromRow)]
struct AddressRow {
    id: i64,
    customer_id: i64,
    label: Option<String>,
    province_code: String,
    city_code: String,
    district_code: Option<String>,
    street_code: Option<String>,
    detail: String,
    lng: Option<f64>,
    lat: Option<f64>,
    is_default: i64,
    version: i64,
}

impl TryFrom<AddressRow> for CustomerAddress {
    type Error = Error;
    fn try_from(r: AddressRow) -> Result<Self, Error> {
        Ok(CustomerAddress {
            id: AddressId(r.id),
            customer_id: CustomerId(r.customer_id),
            label: r.label,
            address: Address {
                province: RegionCode(r.province_code),
                city: RegionCode(r.city_code),
                district: r.district_code.map(RegionCode),
                street: r.street_code.map(RegionCode),
                detail: r.detail,
                geo: r.lng.zip(r.lat).map(|(lng, lat)| GeoPoint { lng, lat }),
            },
            is_default: r.is_default != 0,
            version: r.version,
        })
    }
}

pub async fn insert_address(
    c: &mut Conn,
    customer: CustomerId,
    d: &AddressDraft,
    at: Timestamp,
) -> Result<AddressId, Error> {
    let (existing,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM addresses WHERE customer_id = $1")
            .bind(customer.0)
            .fetch_one(&mut *c)
            .await?;
    // The first address is the default whatever the caller said: a customer with addresses
    // always has one to send an engineer to.
    let is_default = d.is_default || existing == 0;
    if is_default {
        sqlx::query(
            "UPDATE addresses SET is_default = 0 WHERE customer_id = $1 AND is_default = 1",
        )
        .bind(customer.0)
        .execute(&mut *c)
        .await?;
    }
    let a = &d.address;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO addresses (customer_id, label, province_code, city_code, district_code, street_code, detail, lng, lat, is_default, version, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, $11, $11) RETURNING id",
    )
    .bind(customer.0)
    .bind(&d.label)
    .bind(a.province.as_str())
    .bind(a.city.as_str())
    .bind(a.district.as_ref().map(|x| x.0.clone()))
    .bind(a.street.as_ref().map(|x| x.0.clone()))
    .bind(&a.detail)
    .bind(a.geo.map(|g| g.lng))
    .bind(a.geo.map(|g| g.lat))
    .bind(i64::from(is_default))
    .bind(at.0)
    // sqlx 0.9's Any driver sends a NULL f64 as float4; a cached PostgreSQL statement prepared
    // that way then refuses real coordinates ("incorrect binary data format"): prepare each time.
    .persistent(false)
    .fetch_one(&mut *c)
    .await?;
    if is_default {
        sqlx::query("UPDATE customers SET province_code = $1, city_code = $2, district_code = $3 WHERE id = $4")
            .bind(a.province.as_str())
            .bind(a.city.as_str())
            .bind(a.district.as_ref().map(|x| x.0.clone()))
            .bind(customer.0)
            .execute(&mut *c)
            .await?;
    }
    Ok(AddressId(id))
}

pub async fn addresses(c: &mut Conn, customer: CustomerId) -> Result<Vec<CustomerAddress>, Error> {
    let rows: Vec<AddressRow> = sqlx::query_as(
        "SELECT id, customer_id, label, province_code, city_code, district_code, street_code, detail, lng, lat, is_default, version
         FROM addresses WHERE customer_id = $1 ORDER BY is_default DESC, id",
    )
    .bind(customer.0)
    .fetch_all(&mut *c)
    .await?;
    rows.into_iter().map(CustomerAddress::try_from).collect()
}

// ---- duplicates and merge ----

/// Customers sharing a phone number: each group is one phone and the active customers at it.
pub async fn duplicate_groups(
    c: &mut Conn,
    scope: &Scope,
    limit: u32,
) -> Result<Vec<(Phone, Vec<Customer>)>, Error> {
    let phones: Vec<(String,)> = sqlx::query_as(
        "SELECT p.phone FROM customer_phones p JOIN customers c ON c.id = p.customer_id WHERE c.status = 'active'
         GROUP BY p.phone HAVING COUNT(DISTINCT p.customer_id) > 1 ORDER BY p.phone LIMIT $1",
    )
    .bind(i64::from(limit.clamp(1, 500)))
    .fetch_all(&mut *c)
    .await?;
    let mut groups = Vec::new();
    for (raw,) in phones {
        let phone = Phone::parse(&raw).map_err(|_| corrupt("phone", &raw))?;
        let customers = find_by_phone(c, scope, &phone).await?;
        if customers.len() > 1 {
            groups.push((phone, customers));
        }
    }
    Ok(groups)
}

/// Moves everything of `from` to `into` and leaves `from` as a tombstone pointing at `into`.
/// Timeline entries keep `origin_customer_id`, so the history says where each came from.
pub async fn merge(
    c: &mut Conn,
    into: CustomerId,
    from: CustomerId,
    at: Timestamp,
) -> Result<(), Error> {
    // The duplicate's own name and phone live on as a contact of the survivor.
    let (name, phone): (String, Option<String>) =
        sqlx::query_as("SELECT name, phone FROM customers WHERE id = $1")
            .bind(from.0)
            .fetch_one(&mut *c)
            .await?;
    if phone.is_some() {
        let (contact,): (i64,) = sqlx::query_as(
            "INSERT INTO contacts (customer_id, name, phone, title, is_primary, version, created_at, updated_at) VALUES ($1, $2, $3, NULL, 0, 1, $4, $4) RETURNING id",
        )
        .bind(from.0)
        .bind(&name)
        .bind(&phone)
        .bind(at.0)
        .fetch_one(&mut *c)
        .await?;
        sqlx::query("UPDATE customer_phones SET contact_id = $1 WHERE customer_id = $2 AND contact_id IS NULL").bind(contact).bind(from.0).execute(&mut *c).await?;
    }
    for sql in [
        "UPDATE contacts SET customer_id = $1 WHERE customer_id = $2",
        "UPDATE addresses SET customer_id = $1, is_default = 0 WHERE customer_id = $2",
        "UPDATE devices SET customer_id = $1 WHERE customer_id = $2",
        "UPDATE customer_phones SET customer_id = $1 WHERE customer_id = $2",
        "UPDATE timeline_entries SET origin_customer_id = COALESCE(origin_customer_id, customer_id), customer_id = $1 WHERE customer_id = $2",
        "UPDATE customers SET dealer_id = $1 WHERE dealer_id = $2",
        "UPDATE users SET dealer_id = $1 WHERE dealer_id = $2",
    ] {
        sqlx::query(sql)
            .bind(into.0)
            .bind(from.0)
            .execute(&mut *c)
            .await?;
    }
    sqlx::query(
        "INSERT INTO customer_brand_links (customer_id, brand_id, created_at) SELECT $1, brand_id, created_at FROM customer_brand_links WHERE customer_id = $2 ON CONFLICT DO NOTHING",
    )
    .bind(into.0)
    .bind(from.0)
    .execute(&mut *c)
    .await?;
    sqlx::query("DELETE FROM customer_brand_links WHERE customer_id = $1")
        .bind(from.0)
        .execute(&mut *c)
        .await?;
    sqlx::query("UPDATE customers SET status = 'merged', merged_into_id = $1, version = version + 1, updated_at = $2 WHERE id = $3")
        .bind(into.0)
        .bind(at.0)
        .bind(from.0)
        .execute(&mut *c)
        .await?;
    sqlx::query("UPDATE customers SET version = version + 1, updated_at = $1 WHERE id = $2")
        .bind(at.0)
        .bind(into.0)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Number of active customers (for the dashboard header and the demo report).
pub async fn count(c: &mut Conn, scope: &Scope) -> Result<i64, Error> {
    let mut f = Filter::new();
    scope_filter(&mut f, scope);
    f.and_raw("c.status = 'active'".to_string());
    let (n,): (i64,) = f
        .fetch_one(c, "SELECT COUNT(*) FROM customers c", "")
        .await?;
    Ok(n)
}
