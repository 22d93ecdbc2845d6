//! The installed base: products customers own.

use domain::customer::{Device, DeviceDraft, PurchaseChannel};
use domain::{AddressId, BrandId, CustomerId, Date, DeviceId, Scope, Timestamp};
use sqlx::FromRow;

use crate::customers::{scope_filter, stale_or_missing};
use crate::error::corrupt;
use crate::sql::Filter;
use crate::{Conn, Error};

#[derive(FromRow)]
struct DeviceRow {
    id: i64,
    customer_id: i64,
    brand_id: Option<i64>,
    category: String,
    model: String,
    serial: Option<String>,
    production_date: Option<String>,
    purchase_date: Option<String>,
    purchase_channel: Option<String>,
    install_date: Option<String>,
    installer: Option<String>,
    warranty_end: Option<String>,
    address_id: Option<i64>,
    version: i64,
    created_at: i64,
}

const SELECT_DEVICES: &str = "SELECT d.id, d.customer_id, d.brand_id, d.category, d.model, d.serial, d.production_date, d.purchase_date, d.purchase_channel, d.install_date, d.installer, d.warranty_end, d.address_id, d.version, d.created_at FROM devices d JOIN customers c ON c.id = d.customer_id";

fn date(v: Option<String>) -> Result<Option<Date>, Error> {
    v.map(|s| Date::parse(&s).ok_or_else(|| corrupt("date", &s)))
        .transpose()
}

impl TryFrom<DeviceRow> for Device {
    type Error = Error;
    fn try_from(r: DeviceRow) -> Result<Self, Error> {
        Ok(Device {
            id: DeviceId(r.id),
            customer_id: CustomerId(r.customer_id),
            brand_id: r.brand_id.map(BrandId),
            category: r.category,
            model: r.model,
            serial: r.serial,
            production_date: date(r.production_date)?,
            purchase_date: date(r.purchase_date)?,
            purchase_channel: r
                .purchase_channel
                .map(|s| PurchaseChannel::parse(&s).ok_or_else(|| corrupt("purchase channel", &s)))
                .transpose()?,
            install_date: date(r.install_date)?,
            installer: r.installer,
            warranty_end: date(r.warranty_end)?,
            address_id: r.address_id.map(AddressId),
            version: r.version,
            created_at: Timestamp(r.created_at),
        })
    }
}

/// Devices visible in `scope`: the customer must be visible, and a brand sees only its own.
fn device_scope(f: &mut Filter, scope: &Scope) {
    scope_filter(f, scope);
    if let Scope::Brands(brands) = scope {
        let list = f.bind_list(brands.iter().map(|b| b.0));
        f.and_raw(format!("d.brand_id IN ({list})"));
    }
}

pub async fn insert(
    c: &mut Conn,
    customer: CustomerId,
    d: &DeviceDraft,
    at: Timestamp,
) -> Result<DeviceId, Error> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO devices (customer_id, brand_id, category, model, serial, production_date, purchase_date, purchase_channel, install_date, installer, warranty_end, address_id, version, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 1, $13, $13) RETURNING id",
    )
    .bind(customer.0)
    .bind(d.brand_id.map(|b| b.0))
    .bind(&d.category)
    .bind(&d.model)
    .bind(&d.serial)
    .bind(d.production_date.map(|x| x.to_string()))
    .bind(d.purchase_date.map(|x| x.to_string()))
    .bind(d.purchase_channel.map(|x| x.as_str().to_string()))
    .bind(d.install_date.map(|x| x.to_string()))
    .bind(&d.installer)
    .bind(d.warranty_end.map(|x| x.to_string()))
    .bind(d.address_id.map(|x| x.0))
    .bind(at.0)
    .fetch_one(&mut *c)
    .await?;
    Ok(DeviceId(id))
}

pub async fn update(
    c: &mut Conn,
    id: DeviceId,
    version: i64,
    d: &DeviceDraft,
    at: Timestamp,
) -> Result<i64, Error> {
    let done = sqlx::query(
        "UPDATE devices SET brand_id = $1, category = $2, model = $3, serial = $4, production_date = $5, purchase_date = $6, purchase_channel = $7,
         install_date = $8, installer = $9, warranty_end = $10, address_id = $11, version = version + 1, updated_at = $12 WHERE id = $13 AND version = $14",
    )
    .bind(d.brand_id.map(|b| b.0))
    .bind(&d.category)
    .bind(&d.model)
    .bind(&d.serial)
    .bind(d.production_date.map(|x| x.to_string()))
    .bind(d.purchase_date.map(|x| x.to_string()))
    .bind(d.purchase_channel.map(|x| x.as_str().to_string()))
    .bind(d.install_date.map(|x| x.to_string()))
    .bind(&d.installer)
    .bind(d.warranty_end.map(|x| x.to_string()))
    .bind(d.address_id.map(|x| x.0))
    .bind(at.0)
    .bind(id.0)
    .bind(version)
    .execute(&mut *c)
    .await?;
    if done.rows_affected() == 0 {
        return Err(stale_or_missing(c, "SELECT version FROM devices WHERE id = $1", id.0).await);
    }
    Ok(version + 1)
}

pub async fn get(c: &mut Conn, scope: &Scope, id: DeviceId) -> Result<Device, Error> {
    let mut f = Filter::new();
    f.and("d.id = ?", vec![id.0]);
    device_scope(&mut f, scope);
    let row: DeviceRow = f.fetch_one(c, SELECT_DEVICES, "").await?;
    row.try_into()
}

pub async fn of_customer(
    c: &mut Conn,
    scope: &Scope,
    customer: CustomerId,
) -> Result<Vec<Device>, Error> {
    let mut f = Filter::new();
    f.and("d.customer_id = ?", vec![customer.0]);
    device_scope(&mut f, scope);
    let rows: Vec<DeviceRow> = f.fetch_all(c, SELECT_DEVICES, " ORDER BY d.id").await?;
    rows.into_iter().map(Device::try_from).collect()
}

/// Devices with this serial number (a duplicate warranty claim shows up here).
pub async fn by_serial(c: &mut Conn, scope: &Scope, serial: &str) -> Result<Vec<Device>, Error> {
    let mut f = Filter::new();
    f.and("d.serial = ?", vec![serial.to_string()]);
    device_scope(&mut f, scope);
    let rows: Vec<DeviceRow> = f
        .fetch_all(c, SELECT_DEVICES, " ORDER BY d.id LIMIT 20")
        .await?;
    rows.into_iter().map(Device::try_from).collect()
}
