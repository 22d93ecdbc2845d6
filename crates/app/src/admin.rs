//! Administration: users and their roles, org units, brands, the audit log, and `kefu init`.

use domain::access::{AccountLinks, scope_for};
use domain::account::{
    Brand, BrandTier, OrgFunction, OrgUnit, OrgUnitKind, User, valid_login, valid_password,
};
use domain::{BrandId, Cursor, CustomerId, OrgUnitId, Permission, Role, Timestamp, UserId};
use serde::Deserialize;
use store::audit::{AuditQuery, AuditRow, NewAudit};
use store::org::UnitDraft;
use store::users::UserDraft;
use store::{Conn, Page, org, users};

use crate::error::Fields;
use crate::once::create_once;
use crate::secret::hash_password;
use crate::{Created, Ctx, Error, Result};

/// The who/when/why of an audit row, taken from the `Ctx` before the transaction starts.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// The instant of the change (the request's clock), used for every row it writes.
    pub at: Timestamp,
    actor_id: Option<UserId>,
    actor: String,
    pub(crate) action: &'static str,
    entity: &'static str,
    request_id: String,
}

pub fn audit_entry(ctx: &Ctx, action: &'static str, entity: &'static str) -> AuditEntry {
    AuditEntry {
        at: ctx.now(),
        actor_id: ctx.actor.user_id(),
        actor: ctx.actor.label(),
        action,
        entity,
        request_id: ctx.request_id.clone(),
    }
}

impl AuditEntry {
    pub async fn write(
        &self,
        c: &mut Conn,
        entity_id: Option<i64>,
        brand_id: Option<BrandId>,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) -> Result<()> {
        store::audit::record(
            c,
            &NewAudit {
                at: self.at,
                actor_id: self.actor_id,
                actor: &self.actor,
                action: self.action,
                entity: self.entity,
                entity_id,
                brand_id,
                before,
                after,
                request_id: (!self.request_id.is_empty()).then_some(self.request_id.as_str()),
            },
        )
        .await?;
        Ok(())
    }

    /// `write`, sent with the other statements of `b` (see `store::sql::Batch`).
    pub fn write_into(
        &self,
        b: &mut store::sql::Batch,
        entity_id: Option<i64>,
        brand_id: Option<BrandId>,
        after: Option<serde_json::Value>,
    ) {
        store::audit::record_into(
            b,
            &NewAudit {
                at: self.at,
                actor_id: self.actor_id,
                actor: &self.actor,
                action: self.action,
                entity: self.entity,
                entity_id,
                brand_id,
                before: None,
                after,
                request_id: (!self.request_id.is_empty()).then_some(self.request_id.as_str()),
            },
        );
    }
}

/// A user as an administrator types it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct UserInput {
    pub login: String,
    pub display_name: String,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub org_unit_id: Option<i64>,
    #[serde(default)]
    pub brand_id: Option<i64>,
    #[serde(default)]
    pub dealer_id: Option<i64>,
    /// The service outlet an outlet admin belongs to (outlets arrive with field operations).
    #[serde(default)]
    pub outlet_id: Option<i64>,
    /// The engineer record an engineer account acts as.
    #[serde(default)]
    pub engineer_id: Option<i64>,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub locale: Option<String>,
    #[serde(default = "yes")]
    pub active: bool,
    /// Required when creating; when updating, a new password replaces the old one.
    #[serde(default)]
    pub password: Option<String>,
}

fn yes() -> bool {
    true
}

fn parse_user(input: &UserInput) -> Result<UserDraft> {
    let mut f = Fields::new();
    if !valid_login(input.login.trim()) {
        f.add("login", "2–64 letters, digits, '.', '_' or '-'");
    }
    let display_name = f.take(
        "display_name",
        domain::text::required(&input.display_name, 60),
    );
    let phone = f.take(
        "phone",
        input
            .phone
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(domain::Phone::parse)
            .transpose(),
    );
    let email = f.take("email", domain::text::optional(input.email.as_deref(), 120));
    let mut roles = Vec::new();
    for r in &input.roles {
        match Role::parse(r) {
            Some(role) => roles.push(role),
            None => f.add("roles", format!("unknown role {r:?}")),
        }
    }
    roles.sort();
    roles.dedup();
    let links = AccountLinks {
        brand: input.brand_id.map(BrandId),
        dealer: input.dealer_id.map(CustomerId),
        outlet: input.outlet_id.map(domain::OutletId),
        engineer: input.engineer_id.map(domain::EngineerId),
    };
    if f.is_empty()
        && let Err(e) = scope_for(&roles, links)
    {
        f.add("roles", e.to_string());
    }
    let locale = match input.locale.as_deref() {
        None | Some("" | "zh-CN") => "zh-CN",
        Some("en") => "en",
        Some(_) => {
            f.add("locale", "zh-CN or en");
            "zh-CN"
        }
    };
    if let Some(p) = &input.password
        && !valid_password(p)
    {
        f.add("password", "8 to 256 characters");
    }
    f.finish()?;
    Ok(UserDraft {
        login: input.login.trim().to_string(),
        display_name: display_name.unwrap_or_default(),
        phone: phone.flatten().map(|p| p.as_str().to_string()),
        email: email.flatten(),
        org_unit_id: input.org_unit_id.map(OrgUnitId),
        links,
        roles,
        locale: locale.into(),
        active: input.active,
    })
}

fn user_json(d: &UserDraft) -> serde_json::Value {
    serde_json::json!({
        "login": d.login, "display_name": d.display_name, "org_unit_id": d.org_unit_id, "roles": d.roles,
        "brand_id": d.links.brand, "dealer_id": d.links.dealer, "active": d.active, "locale": d.locale,
    })
}

/// A unique key already held by another record becomes a refusal of `field`.
fn taken(field: &'static str) -> impl FnOnce(store::Error) -> Error {
    move |e| match e {
        store::Error::Duplicate(_) => Error::field(field, "already taken"),
        e => e.into(),
    }
}

pub async fn create_user(app: &crate::App, ctx: &Ctx, input: UserInput) -> Result<UserId> {
    Ok(create_user_once(app, ctx, input).await?.id)
}

/// Creates a user once per the request's Idempotency-Key: a retry answers with the first user.
pub async fn create_user_once(
    app: &crate::App,
    ctx: &Ctx,
    input: UserInput,
) -> Result<Created<UserId>> {
    ctx.require(Permission::UserAdmin)?;
    let d = parse_user(&input)?;
    let Some(password) = input.password.clone() else {
        return Err(Error::field("password", "required"));
    };
    let hash = hash_password(password).await?;
    let audit = audit_entry(ctx, "create", "user");
    let after = user_json(&d);
    create_once(app, ctx, UserId, move |c| {
        Box::pin(async move {
            let id = users::insert(c, &d, &hash, audit.at)
                .await
                .map_err(taken("login"))?;
            audit.write(c, Some(id.0), None, None, Some(after)).await?;
            Ok(id.0)
        })
    })
    .await
}

pub async fn update_user(
    app: &crate::App,
    ctx: &Ctx,
    id: UserId,
    version: i64,
    input: UserInput,
) -> Result<i64> {
    ctx.require(Permission::UserAdmin)?;
    let d = parse_user(&input)?;
    if ctx.actor.user_id() == Some(id) && (!d.active || !d.roles.contains(&Role::Admin)) {
        return Err(Error::Conflict(
            "you cannot disable yourself or remove your own admin role".into(),
        ));
    }
    let hash = match input.password.clone() {
        Some(p) => Some(hash_password(p).await?),
        None => None,
    };
    let audit = audit_entry(ctx, "update", "user");
    let after = user_json(&d);
    let v = app
        .db
        .write(move |c| {
            Box::pin(async move {
                let before = users::get(c, id).await?;
                let v = users::update(c, id, version, &d, audit.at)
                    .await
                    .map_err(taken("login"))?;
                if let Some(h) = hash {
                    users::set_password(c, id, &h, audit.at).await?;
                }
                audit
                    .write(
                        c,
                        Some(id.0),
                        None,
                        Some(serde_json::to_value(&before).unwrap_or_default()),
                        Some(after),
                    )
                    .await?;
                Ok::<_, Error>(v)
            })
        })
        .await?;
    // Roles, scope or the account itself changed: cached tokens must be resolved again.
    app.tokens.clear();
    Ok(v)
}

pub async fn users(app: &crate::App, ctx: &Ctx) -> Result<Vec<User>> {
    ctx.require(Permission::UserRead)
        .or_else(|_| ctx.require(Permission::UserAdmin))?;
    Ok(app
        .db
        .read(|c| Box::pin(async move { users::list(c).await }))
        .await?)
}

pub async fn user(app: &crate::App, ctx: &Ctx, id: UserId) -> Result<User> {
    if ctx.actor.user_id() != Some(id) {
        ctx.require(Permission::UserRead)
            .or_else(|_| ctx.require(Permission::UserAdmin))?;
    }
    Ok(app
        .db
        .read(move |c| Box::pin(async move { users::get(c, id).await }))
        .await?)
}

/// Every role with the permissions it grants, for the roles page.
pub fn role_table() -> Vec<(Role, &'static [Permission])> {
    Role::ALL.iter().map(|r| (*r, r.permissions())).collect()
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct UnitInput {
    #[serde(default)]
    pub parent_id: Option<i64>,
    pub kind: String,
    #[serde(default)]
    pub function: Option<String>,
    pub code: String,
    pub name: String,
    #[serde(default)]
    pub city_code: Option<String>,
    #[serde(default = "yes")]
    pub active: bool,
}

fn parse_unit(app: &crate::App, input: &UnitInput) -> Result<UnitDraft> {
    let mut f = Fields::new();
    let kind = OrgUnitKind::parse(&input.kind);
    if kind.is_none() {
        f.add("kind", "company, department, branch or team");
    }
    let function = match input.function.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => {
            let v = OrgFunction::parse(s);
            if v.is_none() {
                f.add("function", format!("unknown function {s:?}"));
            }
            v
        }
    };
    let code = f.take("code", domain::text::required(&input.code, 32));
    let name = f.take("name", domain::text::required(&input.name, 60));
    let city_code = input.city_code.clone().filter(|s| !s.is_empty());
    if let Some(cc) = &city_code
        && app
            .regions
            .get(cc)
            .is_none_or(|r| r.level != domain::RegionLevel::City)
    {
        f.add("city_code", "not a city code");
    }
    f.finish()?;
    Ok(UnitDraft {
        parent_id: input.parent_id.map(OrgUnitId),
        kind: kind.unwrap_or(OrgUnitKind::Department),
        function,
        code: code.unwrap_or_default(),
        name: name.unwrap_or_default(),
        city_code,
        active: input.active,
    })
}

pub async fn create_unit(app: &crate::App, ctx: &Ctx, input: UnitInput) -> Result<OrgUnitId> {
    Ok(create_unit_once(app, ctx, input).await?.id)
}

/// Creates an org unit once per the request's Idempotency-Key: a retry answers with the first.
pub async fn create_unit_once(
    app: &crate::App,
    ctx: &Ctx,
    input: UnitInput,
) -> Result<Created<OrgUnitId>> {
    ctx.require(Permission::OrgAdmin)?;
    let d = parse_unit(app, &input)?;
    let audit = audit_entry(ctx, "create", "org_unit");
    let after = serde_json::json!({ "code": d.code, "name": d.name, "kind": d.kind, "function": d.function, "parent_id": d.parent_id });
    create_once(app, ctx, OrgUnitId, move |c| {
        Box::pin(async move {
            if let Some(p) = d.parent_id {
                org::unit(c, p)
                    .await
                    .map_err(|_| Error::field("parent_id", "unknown org unit"))?;
            }
            let id = org::insert_unit(c, &d, audit.at)
                .await
                .map_err(taken("code"))?;
            audit.write(c, Some(id.0), None, None, Some(after)).await?;
            Ok(id.0)
        })
    })
    .await
}

pub async fn update_unit(
    app: &crate::App,
    ctx: &Ctx,
    id: OrgUnitId,
    version: i64,
    input: UnitInput,
) -> Result<i64> {
    ctx.require(Permission::OrgAdmin)?;
    let d = parse_unit(app, &input)?;
    if d.parent_id == Some(id) {
        return Err(Error::field("parent_id", "a unit cannot contain itself"));
    }
    let audit = audit_entry(ctx, "update", "org_unit");
    let after = serde_json::json!({ "code": d.code, "name": d.name, "kind": d.kind, "function": d.function, "parent_id": d.parent_id, "active": d.active });
    app.db
        .write(move |c| {
            Box::pin(async move {
                let before = org::unit(c, id).await?;
                let v = org::update_unit(c, id, version, &d, audit.at)
                    .await
                    .map_err(taken("code"))?;
                audit
                    .write(
                        c,
                        Some(id.0),
                        None,
                        Some(serde_json::to_value(&before).unwrap_or_default()),
                        Some(after),
                    )
                    .await?;
                Ok(v)
            })
        })
        .await
}

pub async fn units(app: &crate::App, ctx: &Ctx) -> Result<Vec<OrgUnit>> {
    ctx.require(Permission::CustomerRead)?;
    Ok(app
        .db
        .read(|c| Box::pin(async move { org::units(c).await }))
        .await?)
}

pub async fn brands(app: &crate::App, ctx: &Ctx) -> Result<Vec<Brand>> {
    ctx.require(Permission::CustomerRead)?;
    let scope = ctx.scope.clone();
    let all = app
        .db
        .read(|c| Box::pin(async move { org::brands(c).await }))
        .await?;
    Ok(all
        .into_iter()
        .filter(|b| scope.sees_brand(Some(b.id)))
        .collect())
}

pub async fn create_brand(
    app: &crate::App,
    ctx: &Ctx,
    code: &str,
    name: &str,
    tier: &str,
) -> Result<BrandId> {
    Ok(create_brand_once(app, ctx, code, name, tier).await?.id)
}

/// Creates a brand once per the request's Idempotency-Key: a retry answers with the first.
pub async fn create_brand_once(
    app: &crate::App,
    ctx: &Ctx,
    code: &str,
    name: &str,
    tier: &str,
) -> Result<Created<BrandId>> {
    ctx.require(Permission::OrgAdmin)?;
    let mut f = Fields::new();
    let code = f.take("code", domain::text::required(code, 32));
    let name = f.take("name", domain::text::required(name, 60));
    let tier = BrandTier::parse(tier);
    if tier.is_none() {
        f.add("tier", "standard or premium");
    }
    f.finish()?;
    let (code, name, tier) = (
        code.unwrap_or_default(),
        name.unwrap_or_default(),
        tier.unwrap_or(BrandTier::Standard),
    );
    let audit = audit_entry(ctx, "create", "brand");
    create_once(app, ctx, BrandId, move |c| {
        Box::pin(async move {
            let id = org::insert_brand(c, &code, &name, tier, audit.at)
                .await
                .map_err(taken("code"))?;
            audit
                .write(
                    c,
                    Some(id.0),
                    Some(id),
                    None,
                    Some(serde_json::json!({ "code": code, "name": name, "tier": tier })),
                )
                .await?;
            Ok(id.0)
        })
    })
    .await
}

pub async fn audit_log(app: &crate::App, ctx: &Ctx, q: AuditQuery) -> Result<Page<AuditRow>> {
    ctx.require(Permission::AuditRead)?;
    Ok(app
        .db
        .read(move |c| Box::pin(async move { store::audit::list(c, &q).await }))
        .await?)
}

/// Parses the audit page's filters.
pub fn audit_query(
    entity: Option<String>,
    entity_id: Option<i64>,
    actor: Option<i64>,
    action: Option<String>,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<AuditQuery> {
    let after = match cursor.filter(|s| !s.is_empty()) {
        Some(s) => Some(
            Cursor::decode(s)
                .ok_or_else(|| Error::field("cursor", "not a cursor this server issued"))?,
        ),
        None => None,
    };
    Ok(AuditQuery {
        entity: entity.filter(|s| !s.is_empty()),
        entity_id,
        actor_id: actor.map(UserId),
        action: action.filter(|s| !s.is_empty()),
        after,
        limit: domain::cursor::limit(limit),
    })
}

/// `kefu init`: the first administrator, when there is no user yet.
pub async fn init_admin(
    app: &crate::App,
    ctx: &Ctx,
    login: &str,
    password: &str,
) -> Result<UserId> {
    let n = app
        .db
        .read(|c| Box::pin(async move { users::count(c).await }))
        .await?;
    if n > 0 {
        return Err(Error::Conflict(
            "kefu is already initialised: users exist".into(),
        ));
    }
    let input = UserInput {
        login: login.into(),
        display_name: "系统管理员".into(),
        roles: vec!["admin".into()],
        password: Some(password.into()),
        active: true,
        ..UserInput::default()
    };
    let d = parse_user(&input)?;
    let hash = hash_password(password.to_string()).await?;
    let audit = audit_entry(ctx, "create", "user");
    let after = user_json(&d);
    app.db
        .write(move |c| {
            Box::pin(async move {
                let id = users::insert(c, &d, &hash, audit.at).await?;
                audit.write(c, Some(id.0), None, None, Some(after)).await?;
                Ok(id)
            })
        })
        .await
}
