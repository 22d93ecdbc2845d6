//! User accounts and their roles.

use domain::access::AccountLinks;
use domain::account::User;
use domain::{BrandId, CustomerId, EngineerId, OrgUnitId, OutletId, Role, Timestamp, UserId};
use sqlx::FromRow;

use crate::customers::stale_or_missing;
use crate::error::corrupt;
use crate::{Conn, Error};

#[derive(FromRow)]
struct UserRow {
    id: i64,
    login: String,
    display_name: String,
    phone: Option<String>,
    email: Option<String>,
    org_unit_id: Option<i64>,
    brand_id: Option<i64>,
    dealer_id: Option<i64>,
    outlet_id: Option<i64>,
    engineer_id: Option<i64>,
    locale: String,
    active: i64,
    version: i64,
    created_at: i64,
}

/// A user as an administrator edits it.
#[derive(Debug, Clone)]
pub struct UserDraft {
    pub login: String,
    pub display_name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub org_unit_id: Option<OrgUnitId>,
    pub links: AccountLinks,
    pub roles: Vec<Role>,
    pub locale: String,
    pub active: bool,
}

async fn with_roles(c: &mut Conn, r: UserRow) -> Result<User, Error> {
    let roles: Vec<(String,)> =
        sqlx::query_as("SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role")
            .bind(r.id)
            .fetch_all(&mut *c)
            .await?;
    let mut roles = roles
        .into_iter()
        .map(|(s,)| Role::parse(&s).ok_or_else(|| corrupt("role", &s)))
        .collect::<Result<Vec<_>, _>>()?;
    roles.sort();
    Ok(User {
        id: UserId(r.id),
        login: r.login,
        display_name: r.display_name,
        phone: r.phone,
        email: r.email,
        org_unit_id: r.org_unit_id.map(OrgUnitId),
        links: AccountLinks {
            brand: r.brand_id.map(BrandId),
            dealer: r.dealer_id.map(CustomerId),
            outlet: r.outlet_id.map(OutletId),
            engineer: r.engineer_id.map(EngineerId),
        },
        roles,
        locale: r.locale,
        active: r.active != 0,
        version: r.version,
        created_at: Timestamp(r.created_at),
    })
}

pub async fn insert(
    c: &mut Conn,
    d: &UserDraft,
    password_hash: &str,
    at: Timestamp,
) -> Result<UserId, Error> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO users (login, display_name, phone, email, password_hash, org_unit_id, brand_id, dealer_id, outlet_id, engineer_id, locale, active, version, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 1, $13, $13) RETURNING id",
    )
    .bind(&d.login)
    .bind(&d.display_name)
    .bind(&d.phone)
    .bind(&d.email)
    .bind(password_hash)
    .bind(d.org_unit_id.map(|x| x.0))
    .bind(d.links.brand.map(|x| x.0))
    .bind(d.links.dealer.map(|x| x.0))
    .bind(d.links.outlet.map(|x| x.0))
    .bind(d.links.engineer.map(|x| x.0))
    .bind(&d.locale)
    .bind(i64::from(d.active))
    .bind(at.0)
    .fetch_one(&mut *c)
    .await?;
    set_roles(c, UserId(id), &d.roles).await?;
    Ok(UserId(id))
}

async fn set_roles(c: &mut Conn, id: UserId, roles: &[Role]) -> Result<(), Error> {
    sqlx::query("DELETE FROM user_roles WHERE user_id = $1")
        .bind(id.0)
        .execute(&mut *c)
        .await?;
    for r in roles {
        sqlx::query(
            "INSERT INTO user_roles (user_id, role) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(id.0)
        .bind(r.as_str())
        .execute(&mut *c)
        .await?;
    }
    Ok(())
}

pub async fn update(
    c: &mut Conn,
    id: UserId,
    version: i64,
    d: &UserDraft,
    at: Timestamp,
) -> Result<i64, Error> {
    let done = sqlx::query(
        "UPDATE users SET login = $1, display_name = $2, phone = $3, email = $4, org_unit_id = $5, brand_id = $6, dealer_id = $7, outlet_id = $8, engineer_id = $9,
         locale = $10, active = $11, version = version + 1, updated_at = $12 WHERE id = $13 AND version = $14",
    )
    .bind(&d.login)
    .bind(&d.display_name)
    .bind(&d.phone)
    .bind(&d.email)
    .bind(d.org_unit_id.map(|x| x.0))
    .bind(d.links.brand.map(|x| x.0))
    .bind(d.links.dealer.map(|x| x.0))
    .bind(d.links.outlet.map(|x| x.0))
    .bind(d.links.engineer.map(|x| x.0))
    .bind(&d.locale)
    .bind(i64::from(d.active))
    .bind(at.0)
    .bind(id.0)
    .bind(version)
    .execute(&mut *c)
    .await?;
    if done.rows_affected() == 0 {
        return Err(stale_or_missing(c, "SELECT version FROM users WHERE id = $1", id.0).await);
    }
    set_roles(c, id, &d.roles).await?;
    if !d.active {
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(id.0)
            .execute(&mut *c)
            .await?;
    }
    Ok(version + 1)
}

pub async fn set_password(
    c: &mut Conn,
    id: UserId,
    password_hash: &str,
    at: Timestamp,
) -> Result<(), Error> {
    let done = sqlx::query(
        "UPDATE users SET password_hash = $1, version = version + 1, updated_at = $2 WHERE id = $3",
    )
    .bind(password_hash)
    .bind(at.0)
    .bind(id.0)
    .execute(&mut *c)
    .await?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound);
    }
    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(id.0)
        .execute(&mut *c)
        .await?;
    Ok(())
}

pub async fn get(c: &mut Conn, id: UserId) -> Result<User, Error> {
    let row: UserRow = sqlx::query_as(SELECT_USERS_BY_ID)
        .bind(id.0)
        .fetch_one(&mut *c)
        .await?;
    with_roles(c, row).await
}

const LIST_USERS: &str = "SELECT id, login, display_name, phone, email, org_unit_id, brand_id, dealer_id, outlet_id, engineer_id, locale, active, version, created_at FROM users ORDER BY login";
const SELECT_USERS_BY_ID: &str = "SELECT id, login, display_name, phone, email, org_unit_id, brand_id, dealer_id, outlet_id, engineer_id, locale, active, version, created_at FROM users WHERE id = $1";

/// The user and its password hash, for logging in.
pub async fn by_login(c: &mut Conn, login: &str) -> Result<Option<(User, String)>, Error> {
    let row: Option<(i64, String)> =
        sqlx::query_as("SELECT id, password_hash FROM users WHERE login = $1")
            .bind(login)
            .fetch_optional(&mut *c)
            .await?;
    match row {
        None => Ok(None),
        Some((id, hash)) => Ok(Some((get(c, UserId(id)).await?, hash))),
    }
}

pub async fn list(c: &mut Conn) -> Result<Vec<User>, Error> {
    let rows: Vec<UserRow> = sqlx::query_as(LIST_USERS).fetch_all(&mut *c).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(with_roles(c, r).await?);
    }
    Ok(out)
}

pub async fn count(c: &mut Conn) -> Result<i64, Error> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
        .fetch_one(&mut *c)
        .await?;
    Ok(n)
}
