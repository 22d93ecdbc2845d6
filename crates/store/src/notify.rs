//! Who hears about what beyond the requester's own email and SMS (D7): the WeChat openids bound
//! to customers, and the organisations' subscriptions to ticket events (企业微信 bots, webhooks).

use domain::{BrandId, CustomerId, Scope, Timestamp, UserId};

use crate::error::corrupt;
use crate::outbox::Channel;
use crate::sql::Filter;
use crate::{Conn, Error};

// ---------------------------------------------------------------- WeChat bindings

/// A customer's openid under one WeChat app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WechatBinding {
    pub customer_id: CustomerId,
    pub brand_id: Option<BrandId>,
    pub appid: String,
    pub openid: String,
    pub bound_at: Timestamp,
}

/// Binds (or re-binds) the customer's openid under `appid`. An openid already bound to another
/// customer of the app is a `Duplicate`.
pub async fn bind_wechat(c: &mut Conn, b: &WechatBinding) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO customer_wechat (customer_id, brand_id, appid, openid, bound_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (customer_id, appid) DO UPDATE SET openid = excluded.openid, brand_id = excluded.brand_id, bound_at = excluded.bound_at",
    )
    .bind(b.customer_id.0)
    .bind(b.brand_id.map(|x| x.0))
    .bind(&b.appid)
    .bind(&b.openid)
    .bind(b.bound_at.0)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Removes the customer's binding under `appid`; false when there was none.
pub async fn unbind_wechat(c: &mut Conn, customer: CustomerId, appid: &str) -> Result<bool, Error> {
    let n = sqlx::query("DELETE FROM customer_wechat WHERE customer_id = $1 AND appid = $2")
        .bind(customer.0)
        .bind(appid)
        .execute(&mut *c)
        .await?
        .rows_affected();
    Ok(n > 0)
}

#[derive(sqlx::FromRow)]
struct BindingRow {
    customer_id: i64,
    brand_id: Option<i64>,
    appid: String,
    openid: String,
    bound_at: i64,
}

impl From<BindingRow> for WechatBinding {
    fn from(r: BindingRow) -> Self {
        Self {
            customer_id: CustomerId(r.customer_id),
            brand_id: r.brand_id.map(BrandId),
            appid: r.appid,
            openid: r.openid,
            bound_at: Timestamp(r.bound_at),
        }
    }
}

/// The customer's binding under `appid`, if any.
pub async fn wechat_of(
    c: &mut Conn,
    customer: CustomerId,
    appid: &str,
) -> Result<Option<WechatBinding>, Error> {
    let row: Option<BindingRow> = sqlx::query_as(
        "SELECT customer_id, brand_id, appid, openid, bound_at FROM customer_wechat WHERE customer_id = $1 AND appid = $2",
    )
    .bind(customer.0)
    .bind(appid)
    .fetch_optional(&mut *c)
    .await?;
    Ok(row.map(Into::into))
}

// ---------------------------------------------------------------- subscriptions

/// An organisation's subscription to ticket events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: i64,
    /// None: every brand (set by platform administrators only).
    pub brand_id: Option<BrandId>,
    /// Only tickets of this dealer, when set.
    pub dealer_id: Option<CustomerId>,
    pub name: String,
    /// `Wecom` or `Webhook`.
    pub channel: Channel,
    pub target: String,
    pub events: Vec<String>,
    /// `zh-CN` or `en`: the language of 企业微信 texts.
    pub locale: String,
    pub active: bool,
    pub created_by: Option<UserId>,
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Subscription {
    /// Whether it covers a ticket of `brand` and `dealer`: a platform-wide subscription (no
    /// brand) covers every brand, a brand's covers only its own; one that names a dealer covers
    /// only that dealer's tickets.
    pub fn covers(&self, brand: Option<BrandId>, dealer: Option<CustomerId>) -> bool {
        self.brand_id.is_none_or(|b| Some(b) == brand)
            && self.dealer_id.is_none_or(|d| Some(d) == dealer)
    }
}

#[derive(sqlx::FromRow)]
struct SubscriptionRow {
    id: i64,
    brand_id: Option<i64>,
    dealer_id: Option<i64>,
    name: String,
    channel: String,
    target: String,
    events: String,
    locale: String,
    active: i64,
    created_by: Option<i64>,
    version: i64,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<SubscriptionRow> for Subscription {
    type Error = Error;
    fn try_from(r: SubscriptionRow) -> Result<Self, Error> {
        Ok(Subscription {
            id: r.id,
            brand_id: r.brand_id.map(BrandId),
            dealer_id: r.dealer_id.map(CustomerId),
            name: r.name,
            channel: Channel::parse(&r.channel).ok_or_else(|| corrupt("channel", &r.channel))?,
            target: r.target,
            events: serde_json::from_str(&r.events)
                .map_err(|_| corrupt("subscription events", &r.events))?,
            locale: r.locale,
            active: r.active != 0,
            created_by: r.created_by.map(UserId),
            version: r.version,
            created_at: Timestamp(r.created_at),
            updated_at: Timestamp(r.updated_at),
        })
    }
}

const SELECT_SUBSCRIPTIONS: &str = "SELECT s.id, s.brand_id, s.dealer_id, s.name, s.channel, s.target, s.events, s.locale, s.active, s.created_by, s.version, s.created_at, s.updated_at FROM notify_subscriptions s";

/// What a new or changed subscription holds.
#[derive(Debug, Clone)]
pub struct SubscriptionDraft {
    pub brand_id: Option<BrandId>,
    pub dealer_id: Option<CustomerId>,
    pub name: String,
    pub channel: Channel,
    pub target: String,
    pub events: Vec<String>,
    pub locale: String,
    pub active: bool,
}

fn events_json(events: &[String]) -> String {
    serde_json::Value::from(events.to_vec()).to_string()
}

pub async fn insert_subscription(
    c: &mut Conn,
    d: &SubscriptionDraft,
    by: Option<UserId>,
    at: Timestamp,
) -> Result<i64, Error> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO notify_subscriptions (brand_id, dealer_id, name, channel, target, events, locale, active, created_by, version, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10, $10) RETURNING id",
    )
    .bind(d.brand_id.map(|b| b.0))
    .bind(d.dealer_id.map(|x| x.0))
    .bind(&d.name)
    .bind(d.channel.as_str())
    .bind(&d.target)
    .bind(events_json(&d.events))
    .bind(&d.locale)
    .bind(i64::from(d.active))
    .bind(by.map(|u| u.0))
    .bind(at.0)
    .fetch_one(&mut *c)
    .await?;
    Ok(id)
}

/// Writes the draft over the subscription read at `version`; returns the new version.
pub async fn update_subscription(
    c: &mut Conn,
    id: i64,
    version: i64,
    d: &SubscriptionDraft,
    at: Timestamp,
) -> Result<i64, Error> {
    let row: Option<(i64,)> = sqlx::query_as(
        "UPDATE notify_subscriptions SET brand_id = $1, dealer_id = $2, name = $3, channel = $4, target = $5, events = $6, locale = $7, active = $8, version = version + 1, updated_at = $9
         WHERE id = $10 AND version = $11 RETURNING version",
    )
    .bind(d.brand_id.map(|b| b.0))
    .bind(d.dealer_id.map(|x| x.0))
    .bind(&d.name)
    .bind(d.channel.as_str())
    .bind(&d.target)
    .bind(events_json(&d.events))
    .bind(&d.locale)
    .bind(i64::from(d.active))
    .bind(at.0)
    .bind(id)
    .bind(version)
    .fetch_optional(&mut *c)
    .await?;
    match row {
        Some((v,)) => Ok(v),
        None => Err(Error::VersionConflict),
    }
}

pub async fn delete_subscription(c: &mut Conn, id: i64) -> Result<bool, Error> {
    let n = sqlx::query("DELETE FROM notify_subscriptions WHERE id = $1")
        .bind(id)
        .execute(&mut *c)
        .await?
        .rows_affected();
    Ok(n > 0)
}

fn scoped(f: &mut Filter, scope: &Scope) {
    match scope {
        Scope::All => {}
        Scope::Brands(brands) => {
            let list = f.bind_list(brands.iter().map(|b| b.0));
            f.and_raw(format!("s.brand_id IN ({list})"));
        }
        Scope::Outlet(_) | Scope::Dealer(_) | Scope::Engineer(_) | Scope::Customer(_) => {
            f.and_raw("1 = 0".to_string());
        }
    }
}

/// One subscription the scope sees (a brand sees its own; platform-wide ones only `All`).
pub async fn get_subscription(c: &mut Conn, scope: &Scope, id: i64) -> Result<Subscription, Error> {
    let mut f = Filter::new();
    f.and("s.id = ?", vec![id]);
    scoped(&mut f, scope);
    let row: SubscriptionRow = f.fetch_one(c, SELECT_SUBSCRIPTIONS, "").await?;
    row.try_into()
}

/// The subscriptions the scope sees, by name.
pub async fn list_subscriptions(c: &mut Conn, scope: &Scope) -> Result<Vec<Subscription>, Error> {
    let mut f = Filter::new();
    scoped(&mut f, scope);
    let rows: Vec<SubscriptionRow> = f
        .fetch_all(c, SELECT_SUBSCRIPTIONS, " ORDER BY s.name, s.id")
        .await?;
    rows.into_iter().map(Subscription::try_from).collect()
}

/// The active subscriptions that follow `event`, on any brand and dealer: a write that
/// publishes reads them before it starts (on a read connection) and picks those that cover its
/// ticket with [`Subscription::covers`].
pub async fn following(c: &mut Conn, event: &str) -> Result<Vec<Subscription>, Error> {
    let mut f = Filter::new();
    f.and_raw("s.active = 1".to_string());
    let rows: Vec<SubscriptionRow> = f
        .fetch_all(c, SELECT_SUBSCRIPTIONS, " ORDER BY s.id")
        .await?;
    let mut out = Vec::new();
    for r in rows {
        let s = Subscription::try_from(r)?;
        if s.events.iter().any(|e| e == event) {
            out.push(s);
        }
    }
    Ok(out)
}

/// The names a subscription's message shows: the brand's code, a user's and a unit's name.
pub async fn names(
    c: &mut Conn,
    brand: Option<BrandId>,
    user: Option<UserId>,
    unit: Option<domain::OrgUnitId>,
) -> Result<(Option<String>, Option<String>, Option<String>), Error> {
    Ok((
        text_of(
            c,
            "SELECT code FROM brands WHERE id = $1",
            brand.map(|b| b.0),
        )
        .await?,
        text_of(
            c,
            "SELECT display_name FROM users WHERE id = $1",
            user.map(|u| u.0),
        )
        .await?,
        text_of(
            c,
            "SELECT name FROM org_units WHERE id = $1",
            unit.map(|u| u.0),
        )
        .await?,
    ))
}

/// The one text column `sql` selects for `id`; None without an id or a row.
async fn text_of(
    c: &mut Conn,
    sql: &'static str,
    id: Option<i64>,
) -> Result<Option<String>, Error> {
    let Some(id) = id else {
        return Ok(None);
    };
    let row: Option<(String,)> = sqlx::query_as(sql).bind(id).fetch_optional(&mut *c).await?;
    Ok(row.map(|r| r.0))
}
