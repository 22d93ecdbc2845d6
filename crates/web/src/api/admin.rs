//! Users, roles, org units, brands, API tokens and the audit log.

use app::admin::{self, UnitInput, UserInput};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use domain::{ApiTokenId, BrandId, OrgUnitId, UserId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Paged;
use super::customers::{CreatedId, created};
use crate::AppState;
use crate::auth::ApiCtx;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{IfMatch, JsonBody, etag};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user))
        .routes(routes!(roles))
        .routes(routes!(list_units, create_unit))
        .routes(routes!(update_unit))
        .routes(routes!(list_brands, create_brand))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
        .routes(routes!(audit))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    id: i64,
    login: String,
    display_name: String,
    phone: Option<String>,
    email: Option<String>,
    org_unit_id: Option<i64>,
    brand_id: Option<i64>,
    dealer_id: Option<i64>,
    roles: Vec<String>,
    locale: String,
    active: bool,
    version: i64,
}

impl From<domain::account::User> for UserView {
    fn from(u: domain::account::User) -> Self {
        Self {
            id: u.id.0,
            login: u.login,
            display_name: u.display_name,
            phone: u.phone,
            email: u.email,
            org_unit_id: u.org_unit_id.map(|x| x.0),
            brand_id: u.links.brand.map(|x| x.0),
            dealer_id: u.links.dealer.map(|x| x.0),
            roles: u.roles.iter().map(|r| r.as_str().to_string()).collect(),
            locale: u.locale,
            active: u.active,
            version: u.version,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
struct MeView {
    user: UserView,
    permissions: Vec<String>,
}

#[utoipa::path(get, path = "/me", tag = "admin", responses((status = 200, body = MeView), (status = 401, body = ErrorBody)))]
async fn me(api: ApiCtx) -> Json<MeView> {
    Json(MeView {
        permissions: api
            .principal
            .perms
            .iter()
            .map(|p| p.as_str().to_string())
            .collect(),
        user: api.principal.user.into(),
    })
}

#[utoipa::path(get, path = "/users", tag = "admin", responses((status = 200, body = Vec<UserView>), (status = 403, body = ErrorBody)))]
async fn list_users(
    State(s): State<AppState>,
    api: ApiCtx,
) -> Result<Json<Vec<UserView>>, ApiError> {
    Ok(Json(
        admin::users(&s.app, &api.ctx)
            .await?
            .into_iter()
            .map(UserView::from)
            .collect(),
    ))
}

#[utoipa::path(post, path = "/users", tag = "admin", request_body(content = inline(serde_json::Value), description = "login, display_name, roles[], password, optional phone, email, org_unit_id, brand_id, dealer_id, locale, active"),
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first result")),
    responses((status = 201, body = UserView), (status = 422, body = ErrorBody)))]
async fn create_user(
    State(s): State<AppState>,
    api: ApiCtx,
    headers: HeaderMap,
    body: JsonBody<UserInput>,
) -> Result<Response, ApiError> {
    let ctx = api.with_idem(&headers, "POST /users", &body.hash)?;
    let made = admin::create_user_once(&s.app, &ctx, body.value).await?;
    let u = admin::user(&s.app, &ctx, made.id).await?;
    Ok(created(made.replayed, u.version, UserView::from(u)))
}

#[utoipa::path(get, path = "/users/{id}", tag = "admin", params(("id" = i64, Path)), responses((status = 200, body = UserView), (status = 404, body = ErrorBody)))]
async fn get_user(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let u = admin::user(&s.app, &api.ctx, UserId(id)).await?;
    Ok((etag(u.version), Json(UserView::from(u))).into_response())
}

#[utoipa::path(put, path = "/users/{id}", tag = "admin", params(("id" = i64, Path), ("If-Match" = String, Header)),
    request_body(content = inline(serde_json::Value), description = "as for create; password optional"),
    responses((status = 200, body = UserView), (status = 409, body = ErrorBody), (status = 428, body = ErrorBody)))]
async fn update_user(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
    IfMatch(v): IfMatch,
    body: JsonBody<UserInput>,
) -> Result<Response, ApiError> {
    admin::update_user(&s.app, &api.ctx, UserId(id), v, body.value).await?;
    let u = admin::user(&s.app, &api.ctx, UserId(id)).await?;
    Ok((etag(u.version), Json(UserView::from(u))).into_response())
}

#[derive(Debug, Serialize, ToSchema)]
struct RoleView {
    role: String,
    permissions: Vec<String>,
}

#[utoipa::path(get, path = "/roles", tag = "admin", responses((status = 200, body = Vec<RoleView>)))]
async fn roles(_api: ApiCtx) -> Json<Vec<RoleView>> {
    Json(
        admin::role_table()
            .into_iter()
            .map(|(r, ps)| RoleView {
                role: r.as_str().into(),
                permissions: ps.iter().map(|p| p.as_str().into()).collect(),
            })
            .collect(),
    )
}

#[derive(Debug, Serialize, ToSchema)]
struct UnitView {
    id: i64,
    parent_id: Option<i64>,
    kind: String,
    function: Option<String>,
    code: String,
    name: String,
    city_code: Option<String>,
    active: bool,
    version: i64,
}

impl From<domain::account::OrgUnit> for UnitView {
    fn from(u: domain::account::OrgUnit) -> Self {
        Self {
            id: u.id.0,
            parent_id: u.parent_id.map(|x| x.0),
            kind: u.kind.as_str().into(),
            function: u.function.map(|f| f.as_str().into()),
            code: u.code,
            name: u.name,
            city_code: u.city_code,
            active: u.active,
            version: u.version,
        }
    }
}

#[utoipa::path(get, path = "/org-units", tag = "admin", responses((status = 200, body = Vec<UnitView>)))]
async fn list_units(
    State(s): State<AppState>,
    api: ApiCtx,
) -> Result<Json<Vec<UnitView>>, ApiError> {
    Ok(Json(
        admin::units(&s.app, &api.ctx)
            .await?
            .into_iter()
            .map(UnitView::from)
            .collect(),
    ))
}

#[utoipa::path(post, path = "/org-units", tag = "admin", request_body(content = inline(serde_json::Value), description = "kind, code, name, optional parent_id, function, city_code"),
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first result")),
    responses((status = 201, body = CreatedId), (status = 422, body = ErrorBody)))]
async fn create_unit(
    State(s): State<AppState>,
    api: ApiCtx,
    headers: HeaderMap,
    body: JsonBody<UnitInput>,
) -> Result<Response, ApiError> {
    let ctx = api.with_idem(&headers, "POST /org-units", &body.hash)?;
    let made = admin::create_unit_once(&s.app, &ctx, body.value).await?;
    let OrgUnitId(id) = made.id;
    Ok(created(made.replayed, 1, CreatedId { id }))
}

#[utoipa::path(put, path = "/org-units/{id}", tag = "admin", params(("id" = i64, Path), ("If-Match" = String, Header)),
    request_body(content = inline(serde_json::Value)), responses((status = 204), (status = 409, body = ErrorBody)))]
async fn update_unit(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
    IfMatch(v): IfMatch,
    body: JsonBody<UnitInput>,
) -> Result<Response, ApiError> {
    let nv = admin::update_unit(&s.app, &api.ctx, OrgUnitId(id), v, body.value).await?;
    Ok((StatusCode::NO_CONTENT, etag(nv)).into_response())
}

#[derive(Debug, Serialize, ToSchema)]
struct BrandView {
    id: i64,
    code: String,
    name: String,
    tier: String,
    active: bool,
}

#[utoipa::path(get, path = "/brands", tag = "admin", responses((status = 200, body = Vec<BrandView>)))]
async fn list_brands(
    State(s): State<AppState>,
    api: ApiCtx,
) -> Result<Json<Vec<BrandView>>, ApiError> {
    let list = admin::brands(&s.app, &api.ctx).await?;
    Ok(Json(
        list.into_iter()
            .map(|b| BrandView {
                id: b.id.0,
                code: b.code,
                name: b.name,
                tier: b.tier.as_str().into(),
                active: b.active,
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct BrandInput {
    code: String,
    name: String,
    /// standard or premium
    #[serde(default = "standard")]
    tier: String,
}

fn standard() -> String {
    "standard".into()
}

#[utoipa::path(post, path = "/brands", tag = "admin", request_body = BrandInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first result")),
    responses((status = 201, body = CreatedId), (status = 422, body = ErrorBody)))]
async fn create_brand(
    State(s): State<AppState>,
    api: ApiCtx,
    headers: HeaderMap,
    body: JsonBody<BrandInput>,
) -> Result<Response, ApiError> {
    let ctx = api.with_idem(&headers, "POST /brands", &body.hash)?;
    let b = body.value;
    let made = admin::create_brand_once(&s.app, &ctx, &b.code, &b.name, &b.tier).await?;
    let BrandId(id) = made.id;
    Ok(created(made.replayed, 1, CreatedId { id }))
}

#[derive(Debug, Serialize, ToSchema)]
struct TokenView {
    id: i64,
    name: String,
    user_id: i64,
    brand_id: Option<i64>,
    #[schema(value_type = String, format = DateTime)]
    created_at: domain::Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    last_used_at: Option<domain::Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    revoked_at: Option<domain::Timestamp>,
}

#[utoipa::path(get, path = "/tokens", tag = "admin", responses((status = 200, body = Vec<TokenView>)))]
async fn list_tokens(
    State(s): State<AppState>,
    api: ApiCtx,
) -> Result<Json<Vec<TokenView>>, ApiError> {
    let list = app::auth::tokens(&s.app, &api.ctx).await?;
    Ok(Json(
        list.into_iter()
            .map(|t| TokenView {
                id: t.id.0,
                name: t.name,
                user_id: t.user_id.0,
                brand_id: t.brand_id.map(|b| b.0),
                created_at: t.created_at,
                last_used_at: t.last_used_at,
                revoked_at: t.revoked_at,
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TokenInput {
    name: String,
    /// Limit the token to one brand's data (integrations of a client brand).
    brand_id: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
struct NewToken {
    id: i64,
    /// Shown once; only its digest is stored.
    token: String,
}

#[utoipa::path(post, path = "/tokens", tag = "admin", request_body = TokenInput, responses((status = 201, body = NewToken), (status = 422, body = ErrorBody)))]
async fn create_token(
    State(s): State<AppState>,
    api: ApiCtx,
    _h: HeaderMap,
    body: JsonBody<TokenInput>,
) -> Result<Response, ApiError> {
    let (ApiTokenId(id), token) = app::auth::create_token(
        &s.app,
        &api.ctx,
        &body.value.name,
        body.value.brand_id.map(BrandId),
    )
    .await?;
    Ok(created(false, 1, NewToken { id, token }))
}

#[utoipa::path(delete, path = "/tokens/{id}", tag = "admin", params(("id" = i64, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
async fn revoke_token(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    app::auth::revoke_token(&s.app, &api.ctx, ApiTokenId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
struct AuditParams {
    entity: Option<String>,
    entity_id: Option<i64>,
    actor_id: Option<i64>,
    action: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    id: i64,
    #[schema(value_type = String, format = DateTime)]
    at: domain::Timestamp,
    actor_id: Option<i64>,
    actor: String,
    action: String,
    entity: String,
    entity_id: Option<i64>,
    brand_id: Option<i64>,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
    request_id: Option<String>,
}

impl From<store::audit::AuditRow> for AuditView {
    fn from(r: store::audit::AuditRow) -> Self {
        let parse = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
        Self {
            id: r.id,
            at: domain::Timestamp(r.at),
            actor_id: r.actor_id,
            actor: r.actor,
            action: r.action,
            entity: r.entity,
            entity_id: r.entity_id,
            brand_id: r.brand_id,
            before: parse(r.before_json),
            after: parse(r.after_json),
            request_id: r.request_id,
        }
    }
}

#[utoipa::path(get, path = "/audit", tag = "admin", params(AuditParams), responses((status = 200, body = Paged<AuditView>), (status = 403, body = ErrorBody)))]
async fn audit(
    State(s): State<AppState>,
    api: ApiCtx,
    Query(p): Query<AuditParams>,
) -> Result<Json<Paged<AuditView>>, ApiError> {
    let q = admin::audit_query(
        p.entity,
        p.entity_id,
        p.actor_id,
        p.action,
        p.cursor.as_deref(),
        p.limit,
    )?;
    let page = admin::audit_log(&s.app, &api.ctx, q).await?;
    Ok(Json(Paged {
        next_cursor: page.next.map(|c| c.encode()),
        items: page.items.into_iter().map(AuditView::from).collect(),
    }))
}
