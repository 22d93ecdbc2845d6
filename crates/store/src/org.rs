//! Org units (departments, city branches) and client brands.

use domain::account::{Brand, BrandTier, OrgFunction, OrgUnit, OrgUnitKind};
use domain::{BrandId, OrgUnitId, Timestamp};
use sqlx::FromRow;

use crate::customers::stale_or_missing;
use crate::error::corrupt;
use crate::{Conn, Error};

#[derive(FromRow)]
struct UnitRow {
    id: i64,
    parent_id: Option<i64>,
    kind: String,
    function: Option<String>,
    code: String,
    name: String,
    city_code: Option<String>,
    active: i64,
    version: i64,
}

impl TryFrom<UnitRow> for OrgUnit {
    type Error = Error;
    fn try_from(r: UnitRow) -> Result<Self, Error> {
        Ok(OrgUnit {
            id: OrgUnitId(r.id),
            parent_id: r.parent_id.map(OrgUnitId),
            kind: OrgUnitKind::parse(&r.kind).ok_or_else(|| corrupt("org unit kind", &r.kind))?,
            function: r
                .function
                .map(|f| OrgFunction::parse(&f).ok_or_else(|| corrupt("org function", &f)))
                .transpose()?,
            code: r.code,
            name: r.name,
            city_code: r.city_code,
            active: r.active != 0,
            version: r.version,
        })
    }
}

#[derive(Debug, Clone)]
pub struct UnitDraft {
    pub parent_id: Option<OrgUnitId>,
    pub kind: OrgUnitKind,
    pub function: Option<OrgFunction>,
    pub code: String,
    pub name: String,
    pub city_code: Option<String>,
    pub active: bool,
}

pub async fn insert_unit(c: &mut Conn, d: &UnitDraft, at: Timestamp) -> Result<OrgUnitId, Error> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO org_units (parent_id, kind, function, code, name, city_code, active, version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $8) RETURNING id",
    )
    .bind(d.parent_id.map(|x| x.0))
    .bind(d.kind.as_str())
    .bind(d.function.map(|f| f.as_str().to_string()))
    .bind(&d.code)
    .bind(&d.name)
    .bind(&d.city_code)
    .bind(i64::from(d.active))
    .bind(at.0)
    .fetch_one(&mut *c)
    .await?;
    Ok(OrgUnitId(id))
}

pub async fn update_unit(
    c: &mut Conn,
    id: OrgUnitId,
    version: i64,
    d: &UnitDraft,
    at: Timestamp,
) -> Result<i64, Error> {
    let done = sqlx::query(
        "UPDATE org_units SET parent_id = $1, kind = $2, function = $3, code = $4, name = $5, city_code = $6, active = $7, version = version + 1, updated_at = $8 WHERE id = $9 AND version = $10",
    )
    .bind(d.parent_id.map(|x| x.0))
    .bind(d.kind.as_str())
    .bind(d.function.map(|f| f.as_str().to_string()))
    .bind(&d.code)
    .bind(&d.name)
    .bind(&d.city_code)
    .bind(i64::from(d.active))
    .bind(at.0)
    .bind(id.0)
    .bind(version)
    .execute(&mut *c)
    .await?;
    if done.rows_affected() == 0 {
        return Err(stale_or_missing(c, "SELECT version FROM org_units WHERE id = $1", id.0).await);
    }
    Ok(version + 1)
}

pub async fn units(c: &mut Conn) -> Result<Vec<OrgUnit>, Error> {
    let rows: Vec<UnitRow> =
        sqlx::query_as("SELECT id, parent_id, kind, function, code, name, city_code, active, version FROM org_units ORDER BY COALESCE(parent_id, 0), code").fetch_all(&mut *c).await?;
    rows.into_iter().map(OrgUnit::try_from).collect()
}

pub async fn unit(c: &mut Conn, id: OrgUnitId) -> Result<OrgUnit, Error> {
    let row: UnitRow = sqlx::query_as("SELECT id, parent_id, kind, function, code, name, city_code, active, version FROM org_units WHERE id = $1").bind(id.0).fetch_one(&mut *c).await?;
    row.try_into()
}

#[derive(FromRow)]
struct BrandRow {
    id: i64,
    code: String,
    name: String,
    tier: String,
    active: i64,
    version: i64,
}

pub async fn insert_brand(
    c: &mut Conn,
    code: &str,
    name: &str,
    tier: BrandTier,
    at: Timestamp,
) -> Result<BrandId, Error> {
    let (id,): (i64,) = sqlx::query_as("INSERT INTO brands (code, name, tier, active, version, created_at, updated_at) VALUES ($1, $2, $3, 1, 1, $4, $4) RETURNING id")
        .bind(code)
        .bind(name)
        .bind(tier.as_str())
        .bind(at.0)
        .fetch_one(&mut *c)
        .await?;
    Ok(BrandId(id))
}

pub async fn brands(c: &mut Conn) -> Result<Vec<Brand>, Error> {
    let rows: Vec<BrandRow> =
        sqlx::query_as("SELECT id, code, name, tier, active, version FROM brands ORDER BY name")
            .fetch_all(&mut *c)
            .await?;
    rows.into_iter()
        .map(|r| {
            Ok(Brand {
                id: BrandId(r.id),
                tier: BrandTier::parse(&r.tier).ok_or_else(|| corrupt("brand tier", &r.tier))?,
                code: r.code,
                name: r.name,
                active: r.active != 0,
                version: r.version,
            })
        })
        .collect()
}
