//! Administration pages: users, org units, the role × permission table, the audit log and API
//! tokens. Permission checks are the use cases' own; a refusal renders the 403 page.

use std::collections::HashMap;

use app::Error;
use app::admin::{self, UnitInput, UserInput};
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use domain::account::{OrgFunction, OrgUnit, OrgUnitKind, User};
use domain::{ApiTokenId, BrandId, OrgUnitId, Permission, Role, UserId};
use serde::Deserialize;

use super::chrome::{Chrome, FormData, FormState, OrPage, PageCtx, PageError, query_string};
use super::regions::Picker;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/users", get(users).post(create_user))
        .route("/admin/users/{id}", get(user_page).post(update_user))
        .route("/admin/users/{id}/password", post(reset_password))
        .route("/admin/org-units", get(units).post(create_unit))
        .route("/admin/org-units/{id}", get(unit_page).post(update_unit))
        .route("/admin/roles", get(roles))
        .route("/admin/audit", get(audit))
        .route("/admin/tokens", get(tokens).post(create_token))
        .route("/admin/tokens/{id}/revoke", post(revoke_token))
}

fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

fn status_for(e: &Error) -> StatusCode {
    crate::error::status_of(e.code())
}

/// (code, localized name) of every role.
fn role_options(c: &Chrome) -> Vec<(String, String)> {
    Role::ALL
        .iter()
        .map(|r| (r.as_str().to_string(), c.role(r.as_str())))
        .collect()
}

/// Org units in tree order with their depth.
fn tree(units: &[OrgUnit]) -> Vec<(usize, &OrgUnit)> {
    fn walk<'a>(
        units: &'a [OrgUnit],
        parent: Option<OrgUnitId>,
        depth: usize,
        out: &mut Vec<(usize, &'a OrgUnit)>,
    ) {
        let mut kids: Vec<&OrgUnit> = units.iter().filter(|u| u.parent_id == parent).collect();
        kids.sort_by(|a, b| a.code.cmp(&b.code));
        for u in kids {
            out.push((depth, u));
            if depth < 16 {
                walk(units, Some(u.id), depth + 1, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(units, None, 0, &mut out);
    // Units whose parent is missing still show, at the top level.
    for u in units {
        if !out.iter().any(|(_, x)| x.id == u.id) {
            out.push((0, u));
        }
    }
    out
}

/// Indented names for a parent select.
fn unit_options(units: &[OrgUnit]) -> Vec<(i64, String)> {
    tree(units)
        .into_iter()
        .map(|(d, u)| (u.id.0, format!("{}{}", "\u{3000}".repeat(d), u.name)))
        .collect()
}

fn brand_options(brands: &[domain::account::Brand]) -> Vec<(i64, String)> {
    brands.iter().map(|b| (b.id.0, b.name.clone())).collect()
}

// ---------------------------------------------------------------- users

#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: i64,
    pub login: String,
    pub name: String,
    pub roles: String,
    pub unit: String,
    pub active: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/users.html")]
pub struct UsersPage {
    pub c: Chrome,
    pub users: Vec<UserRow>,
    pub f: FormState,
    pub roles: Vec<(String, String)>,
    pub units: Vec<(i64, String)>,
    pub brands: Vec<(i64, String)>,
    pub can_admin: bool,
    /// The form creates an account (and so asks for its password).
    pub creating: bool,
}

fn user_input(form: &FormData, with_password: bool) -> UserInput {
    UserInput {
        login: form.raw("login").trim().to_string(),
        display_name: form.raw("display_name").to_string(),
        phone: form.opt("phone"),
        email: form.opt("email"),
        org_unit_id: form.i64("org_unit_id"),
        brand_id: form.i64("brand_id"),
        dealer_id: form.i64("dealer_id"),
        roles: form.all("roles"),
        locale: form.opt("locale"),
        active: form.checked("active"),
        password: if with_password {
            Some(form.raw("password").to_string())
        } else {
            None
        },
        ..UserInput::default()
    }
}

async fn render_users(s: &AppState, pc: PageCtx, f: FormState) -> Result<UsersPage, PageError> {
    let list = admin::users(&s.app, &pc.ctx).await.page(&pc)?;
    let units = admin::units(&s.app, &pc.ctx).await.page(&pc)?;
    let brands = admin::brands(&s.app, &pc.ctx).await.page(&pc)?;
    let unit_name: HashMap<i64, String> = units.iter().map(|u| (u.id.0, u.name.clone())).collect();
    let users = list
        .into_iter()
        .map(|u| UserRow {
            id: u.id.0,
            roles: u
                .roles
                .iter()
                .map(|r| pc.c.role(r.as_str()))
                .collect::<Vec<_>>()
                .join("、"),
            unit: u
                .org_unit_id
                .and_then(|x| unit_name.get(&x.0).cloned())
                .unwrap_or_default(),
            login: u.login,
            name: u.display_name,
            active: u.active,
        })
        .collect();
    Ok(UsersPage {
        roles: role_options(&pc.c),
        units: unit_options(&units),
        brands: brand_options(&brands),
        can_admin: pc.can(Permission::UserAdmin),
        creating: true,
        users,
        f,
        c: pc.c,
    })
}

pub async fn users(State(s): State<AppState>, pc: PageCtx) -> Result<UsersPage, PageError> {
    let f = FormState::default()
        .with("active", "1")
        .with("locale", "zh-CN");
    render_users(&s, pc, f).await
}

pub async fn create_user(
    State(s): State<AppState>,
    pc: PageCtx,
    form: FormData,
) -> Result<Response, PageError> {
    match admin::create_user(&s.app, &pc.ctx, user_input(&form, true)).await {
        Ok(id) => Ok(see_other(&format!(
            "/admin/users/{}?flash=user_created",
            id.0
        ))),
        Err(e) => {
            let status = status_for(&e);
            let mut f = FormState::from_form(&form);
            f.absorb(&pc.c, e, &[]).page(&pc)?;
            f.set("password", "");
            let page = render_users(&s, pc, f).await?;
            Ok((status, page).into_response())
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/user.html")]
pub struct UserPage {
    pub c: Chrome,
    pub id: i64,
    pub login: String,
    pub created: String,
    pub f: FormState,
    pub pw: FormState,
    pub roles: Vec<(String, String)>,
    pub units: Vec<(i64, String)>,
    pub brands: Vec<(i64, String)>,
    pub can_admin: bool,
    pub creating: bool,
}

fn user_defaults(u: &User) -> FormState {
    let mut f = FormState::default()
        .with("login", u.login.clone())
        .with("display_name", u.display_name.clone())
        .with("locale", u.locale.clone())
        .with("version", u.version.to_string());
    f.set_opt("phone", u.phone.clone());
    f.set_opt("email", u.email.clone());
    f.set_opt("org_unit_id", u.org_unit_id.map(|x| x.0.to_string()));
    f.set_opt("brand_id", u.links.brand.map(|x| x.0.to_string()));
    f.set_opt("dealer_id", u.links.dealer.map(|x| x.0.to_string()));
    if u.active {
        f.set("active", "1");
    }
    for r in &u.roles {
        f.push("roles", r.as_str());
    }
    f
}

async fn render_user(
    s: &AppState,
    pc: PageCtx,
    id: i64,
    f: Option<FormState>,
    pw: FormState,
) -> Result<UserPage, PageError> {
    let u = admin::user(&s.app, &pc.ctx, UserId(id)).await.page(&pc)?;
    let units = admin::units(&s.app, &pc.ctx).await.page(&pc)?;
    let brands = admin::brands(&s.app, &pc.ctx).await.page(&pc)?;
    let mut pw = pw;
    pw.set("version", u.version.to_string());
    Ok(UserPage {
        id,
        login: u.login.clone(),
        created: u.created_at.display_in(s.app.settings.tz),
        f: f.unwrap_or_else(|| user_defaults(&u)),
        pw,
        roles: role_options(&pc.c),
        units: unit_options(&units),
        brands: brand_options(&brands),
        can_admin: pc.can(Permission::UserAdmin),
        creating: false,
        c: pc.c,
    })
}

pub async fn user_page(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
) -> Result<UserPage, PageError> {
    render_user(&s, pc, id, None, FormState::default()).await
}

pub async fn update_user(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
    form: FormData,
) -> Result<Response, PageError> {
    let version = form.version(&pc)?;
    match admin::update_user(
        &s.app,
        &pc.ctx,
        UserId(id),
        version,
        user_input(&form, false),
    )
    .await
    {
        Ok(_) => Ok(see_other(&format!("/admin/users/{id}?flash=saved"))),
        Err(e) => {
            let status = status_for(&e);
            let mut f = FormState::from_form(&form);
            f.absorb(&pc.c, e, &[]).page(&pc)?;
            let page = render_user(&s, pc, id, Some(f), FormState::default()).await?;
            Ok((status, page).into_response())
        }
    }
}

/// A new password for a user: the account is saved as it is, with the password replaced.
pub async fn reset_password(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
    form: FormData,
) -> Result<Response, PageError> {
    let version = form.version(&pc)?;
    let u = admin::user(&s.app, &pc.ctx, UserId(id)).await.page(&pc)?;
    let input = UserInput {
        login: u.login.clone(),
        display_name: u.display_name.clone(),
        phone: u.phone.clone(),
        email: u.email.clone(),
        org_unit_id: u.org_unit_id.map(|x| x.0),
        brand_id: u.links.brand.map(|x| x.0),
        dealer_id: u.links.dealer.map(|x| x.0),
        roles: u.roles.iter().map(|r| r.as_str().to_string()).collect(),
        locale: Some(u.locale.clone()),
        active: u.active,
        password: Some(form.raw("password").to_string()),
        ..UserInput::default()
    };
    match admin::update_user(&s.app, &pc.ctx, UserId(id), version, input).await {
        Ok(_) => Ok(see_other(&format!(
            "/admin/users/{id}?flash=password_reset"
        ))),
        Err(e) => {
            let status = status_for(&e);
            let mut pw = FormState::default();
            pw.absorb(&pc.c, e, &[]).page(&pc)?;
            let page = render_user(&s, pc, id, None, pw).await?;
            Ok((status, page).into_response())
        }
    }
}

// ---------------------------------------------------------------- org units

#[derive(Debug, Clone)]
pub struct UnitRow {
    pub id: i64,
    pub depth: usize,
    pub code: String,
    pub name: String,
    pub kind: String,
    pub function: String,
    pub city: String,
    pub active: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/units.html")]
pub struct UnitsPage {
    pub c: Chrome,
    pub rows: Vec<UnitRow>,
    pub f: FormState,
    pub rp: Picker,
    pub parents: Vec<(i64, String)>,
    pub kinds: Vec<&'static str>,
    pub functions: Vec<&'static str>,
    pub can_admin: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/unit.html")]
pub struct UnitPage {
    pub c: Chrome,
    pub id: i64,
    pub name: String,
    pub f: FormState,
    pub rp: Picker,
    pub parents: Vec<(i64, String)>,
    pub kinds: Vec<&'static str>,
    pub functions: Vec<&'static str>,
    pub can_admin: bool,
}

fn city_picker(c: &Chrome, s: &AppState, prefix: &str, f: &FormState) -> Picker {
    let city = f.v("city_code");
    let province = s
        .app
        .regions
        .get(city)
        .and_then(|r| r.parent.clone())
        .map_or_else(|| f.v("province").to_string(), |p| p.0);
    Picker::new(
        c,
        &s.app.regions,
        prefix,
        &["province", "city_code"],
        &[&province, city],
        "common.choose",
    )
}

/// A city as people name it: the municipalities' "市辖区" is the province (上海市).
fn city_name(regions: &domain::address::Regions, code: Option<&str>) -> String {
    let Some(r) = code.and_then(|c| regions.get(c)) else {
        return String::new();
    };
    if r.name == "市辖区" {
        r.parent
            .as_ref()
            .map_or_else(String::new, |p| regions.name(p).to_string())
    } else {
        r.name.clone()
    }
}

fn unit_input(form: &FormData, active: bool) -> UnitInput {
    UnitInput {
        parent_id: form.i64("parent_id"),
        kind: form.raw("kind").to_string(),
        function: form.opt("function"),
        code: form.raw("code").to_string(),
        name: form.raw("name").to_string(),
        city_code: form.opt("city_code"),
        active,
    }
}

fn kinds() -> Vec<&'static str> {
    OrgUnitKind::ALL.iter().map(|k| k.as_str()).collect()
}

fn functions() -> Vec<&'static str> {
    OrgFunction::ALL.iter().map(|k| k.as_str()).collect()
}

async fn render_units(s: &AppState, pc: PageCtx, f: FormState) -> Result<UnitsPage, PageError> {
    let units = admin::units(&s.app, &pc.ctx).await.page(&pc)?;
    let rows = tree(&units)
        .into_iter()
        .map(|(depth, u)| UnitRow {
            id: u.id.0,
            depth,
            code: u.code.clone(),
            name: u.name.clone(),
            kind: u.kind.as_str().to_string(),
            function: u
                .function
                .map(|f| f.as_str().to_string())
                .unwrap_or_default(),
            city: city_name(&s.app.regions, u.city_code.as_deref()),
            active: u.active,
        })
        .collect();
    let rp = city_picker(&pc.c, s, "ou", &f);
    Ok(UnitsPage {
        parents: unit_options(&units),
        kinds: kinds(),
        functions: functions(),
        can_admin: pc.can(Permission::OrgAdmin),
        rows,
        f,
        rp,
        c: pc.c,
    })
}

pub async fn units(State(s): State<AppState>, pc: PageCtx) -> Result<UnitsPage, PageError> {
    render_units(&s, pc, FormState::default().with("kind", "department")).await
}

pub async fn create_unit(
    State(s): State<AppState>,
    pc: PageCtx,
    form: FormData,
) -> Result<Response, PageError> {
    match admin::create_unit(&s.app, &pc.ctx, unit_input(&form, true)).await {
        Ok(_) => Ok(see_other("/admin/org-units?flash=unit_created")),
        Err(e) => {
            let status = status_for(&e);
            let mut f = FormState::from_form(&form);
            f.absorb(&pc.c, e, &[]).page(&pc)?;
            let page = render_units(&s, pc, f).await?;
            Ok((status, page).into_response())
        }
    }
}

async fn render_unit(
    s: &AppState,
    pc: PageCtx,
    id: i64,
    f: Option<FormState>,
) -> Result<UnitPage, PageError> {
    let units = admin::units(&s.app, &pc.ctx).await.page(&pc)?;
    let Some(u) = units.iter().find(|u| u.id.0 == id) else {
        return Err(pc.fail(Error::NotFound));
    };
    let f = f.unwrap_or_else(|| {
        let mut f = FormState::default()
            .with("kind", u.kind.as_str())
            .with("code", u.code.clone())
            .with("name", u.name.clone())
            .with("version", u.version.to_string());
        f.set_opt("parent_id", u.parent_id.map(|p| p.0.to_string()));
        f.set_opt("function", u.function.map(OrgFunction::as_str));
        f.set_opt("city_code", u.city_code.clone());
        if u.active {
            f.set("active", "1");
        }
        f
    });
    let rp = city_picker(&pc.c, s, "ou", &f);
    let others: Vec<OrgUnit> = units.iter().filter(|x| x.id.0 != id).cloned().collect();
    Ok(UnitPage {
        id,
        name: u.name.clone(),
        parents: unit_options(&others),
        kinds: kinds(),
        functions: functions(),
        can_admin: pc.can(Permission::OrgAdmin),
        f,
        rp,
        c: pc.c,
    })
}

pub async fn unit_page(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
) -> Result<UnitPage, PageError> {
    render_unit(&s, pc, id, None).await
}

pub async fn update_unit(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
    form: FormData,
) -> Result<Response, PageError> {
    let version = form.version(&pc)?;
    let input = unit_input(&form, form.checked("active"));
    match admin::update_unit(&s.app, &pc.ctx, OrgUnitId(id), version, input).await {
        Ok(_) => Ok(see_other("/admin/org-units?flash=saved")),
        Err(e) => {
            let status = status_for(&e);
            let mut f = FormState::from_form(&form);
            f.absorb(&pc.c, e, &[]).page(&pc)?;
            let page = render_unit(&s, pc, id, Some(f)).await?;
            Ok((status, page).into_response())
        }
    }
}

// ---------------------------------------------------------------- roles

#[derive(Template, WebTemplate)]
#[template(path = "admin/roles.html")]
pub struct RolesPage {
    pub c: Chrome,
    /// (code, name) of each permission: the columns.
    pub perms: Vec<(String, String)>,
    /// (code, name, granted per column) of each role.
    pub rows: Vec<(String, String, Vec<bool>)>,
}

pub async fn roles(pc: PageCtx) -> RolesPage {
    let perms: Vec<(String, String)> = Permission::ALL
        .iter()
        .map(|p| {
            (
                p.as_str().to_string(),
                pc.c.t(&format!("perms.{}", p.as_str())),
            )
        })
        .collect();
    let rows = admin::role_table()
        .into_iter()
        .map(|(r, granted)| {
            (
                r.as_str().to_string(),
                pc.c.role(r.as_str()),
                Permission::ALL
                    .iter()
                    .map(|p| granted.contains(p))
                    .collect(),
            )
        })
        .collect();
    RolesPage {
        c: pc.c,
        perms,
        rows,
    }
}

// ---------------------------------------------------------------- audit

#[derive(Debug, Default, Deserialize)]
pub struct AuditFilter {
    #[serde(default)]
    entity: Option<String>,
    #[serde(default)]
    entity_id: Option<String>,
    #[serde(default)]
    actor_id: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
}

#[derive(Debug, Clone)]
pub struct AuditLine {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub entity: String,
    pub entity_id: String,
    pub link: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
    pub request_id: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/audit.html")]
pub struct AuditPage {
    pub c: Chrome,
    pub f: FormState,
    pub rows: Vec<AuditLine>,
    pub next_href: Option<String>,
    pub entities: Vec<&'static str>,
    pub actions: Vec<&'static str>,
}

const AUDIT_ENTITIES: &[&str] = &[
    "customer",
    "contact",
    "address",
    "device",
    "note",
    "user",
    "org_unit",
    "brand",
    "api_token",
];
const AUDIT_ACTIONS: &[&str] = &[
    "create",
    "update",
    "delete",
    "merge",
    "reveal_phone",
    "login",
    "revoke",
];

fn pretty(json: Option<&str>) -> Option<String> {
    json.map(|j| {
        serde_json::from_str::<serde_json::Value>(j)
            .and_then(|v| serde_json::to_string_pretty(&v))
            .unwrap_or_else(|_| j.to_string())
    })
}

pub async fn audit(
    State(s): State<AppState>,
    pc: PageCtx,
    Query(q): Query<AuditFilter>,
) -> Result<AuditPage, PageError> {
    let text = |v: &Option<String>| v.as_deref().map_or("", str::trim).to_string();
    let (entity, entity_id, actor_id, action) = (
        text(&q.entity),
        text(&q.entity_id),
        text(&q.actor_id),
        text(&q.action),
    );
    let mut f = FormState::default()
        .with("entity", entity.clone())
        .with("entity_id", entity_id.clone())
        .with("actor_id", actor_id.clone())
        .with("action", action.clone());
    let not_a_number = pc.c.t("fieldmsg.number");
    let num = |f: &mut FormState, name: &str, v: &str| -> Option<i64> {
        if v.is_empty() {
            return None;
        }
        let n = v.parse().ok();
        if n.is_none() {
            f.add_error(name, not_a_number.clone());
        }
        n
    };
    let eid = num(&mut f, "entity_id", &entity_id);
    let aid = num(&mut f, "actor_id", &actor_id);
    let query = admin::audit_query(
        Some(entity.clone()),
        eid,
        aid,
        Some(action.clone()),
        q.cursor.as_deref(),
        Some(100),
    )
    .page(&pc)?;
    let page = admin::audit_log(&s.app, &pc.ctx, query).await.page(&pc)?;
    let tz = s.app.settings.tz;
    let rows = page
        .items
        .into_iter()
        .map(|r| AuditLine {
            at: domain::Timestamp(r.at).display_in(tz),
            link: r.entity_id.and_then(|id| match r.entity.as_str() {
                "customer" => Some(format!("/customers/{id}")),
                "device" => Some(format!("/devices/{id}")),
                "user" => Some(format!("/admin/users/{id}")),
                "org_unit" => Some(format!("/admin/org-units/{id}")),
                _ => None,
            }),
            actor: r.actor,
            action: r.action,
            entity: r.entity,
            entity_id: r.entity_id.map(|x| x.to_string()).unwrap_or_default(),
            before: pretty(r.before_json.as_deref()),
            after: pretty(r.after_json.as_deref()),
            request_id: r.request_id.unwrap_or_default(),
        })
        .collect();
    let next_href = page.next.map(|cur| {
        let cur = cur.encode();
        format!(
            "/admin/audit?{}",
            query_string(&[
                ("entity", &entity),
                ("entity_id", &entity_id),
                ("actor_id", &actor_id),
                ("action", &action),
                ("cursor", &cur),
            ])
        )
    });
    Ok(AuditPage {
        c: pc.c,
        f,
        rows,
        next_href,
        entities: AUDIT_ENTITIES.to_vec(),
        actions: AUDIT_ACTIONS.to_vec(),
    })
}

// ---------------------------------------------------------------- API tokens

#[derive(Debug, Clone)]
pub struct TokenLine {
    pub id: i64,
    pub name: String,
    pub owner: String,
    pub brand: String,
    pub created: String,
    pub last_used: String,
    pub revoked: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/tokens.html")]
pub struct TokensPage {
    pub c: Chrome,
    pub tokens: Vec<TokenLine>,
    pub f: FormState,
    pub brands: Vec<(i64, String)>,
    pub can_brand: bool,
    /// A token just made: shown once.
    pub new_token: Option<String>,
}

async fn render_tokens(
    s: &AppState,
    pc: PageCtx,
    f: FormState,
    new_token: Option<String>,
) -> Result<TokensPage, PageError> {
    let list = app::auth::tokens(&s.app, &pc.ctx).await.page(&pc)?;
    let owners: HashMap<i64, String> = admin::users(&s.app, &pc.ctx)
        .await
        .map(|us| us.into_iter().map(|u| (u.id.0, u.login)).collect())
        .unwrap_or_default();
    let brands = admin::brands(&s.app, &pc.ctx).await.unwrap_or_default();
    let brand_names: HashMap<i64, String> =
        brands.iter().map(|b| (b.id.0, b.name.clone())).collect();
    let tz = s.app.settings.tz;
    let tokens = list
        .into_iter()
        .map(|t| TokenLine {
            id: t.id.0,
            owner: owners
                .get(&t.user_id.0)
                .cloned()
                .unwrap_or_else(|| format!("#{}", t.user_id.0)),
            brand: t
                .brand_id
                .map(|b| {
                    brand_names
                        .get(&b.0)
                        .cloned()
                        .unwrap_or_else(|| format!("#{}", b.0))
                })
                .unwrap_or_default(),
            created: t.created_at.display_in(tz),
            last_used: t.last_used_at.map(|x| x.display_in(tz)).unwrap_or_default(),
            revoked: t.revoked_at.map(|x| x.display_in(tz)).unwrap_or_default(),
            name: t.name,
        })
        .collect();
    Ok(TokensPage {
        can_brand: pc.can(Permission::TokenAdmin),
        brands: brand_options(&brands),
        tokens,
        f,
        new_token,
        c: pc.c,
    })
}

pub async fn tokens(State(s): State<AppState>, pc: PageCtx) -> Result<TokensPage, PageError> {
    render_tokens(&s, pc, FormState::default(), None).await
}

pub async fn create_token(
    State(s): State<AppState>,
    pc: PageCtx,
    form: FormData,
) -> Result<Response, PageError> {
    let brand = form.i64("brand_id").map(BrandId);
    match app::auth::create_token(&s.app, &pc.ctx, form.raw("name"), brand).await {
        Ok((_, token)) => {
            let page = render_tokens(&s, pc, FormState::default(), Some(token)).await?;
            // The token is in this page only: keep it out of caches.
            Ok((
                StatusCode::CREATED,
                [(header::CACHE_CONTROL, "no-store")],
                page,
            )
                .into_response())
        }
        Err(e) => {
            let status = status_for(&e);
            let mut f = FormState::from_form(&form);
            f.absorb(&pc.c, e, &[]).page(&pc)?;
            let page = render_tokens(&s, pc, f, None).await?;
            Ok((status, page).into_response())
        }
    }
}

pub async fn revoke_token(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    app::auth::revoke_token(&s.app, &pc.ctx, ApiTokenId(id))
        .await
        .page(&pc)?;
    Ok(see_other("/admin/tokens?flash=token_revoked"))
}
