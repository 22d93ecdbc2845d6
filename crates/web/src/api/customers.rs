//! Customers, contacts, addresses, devices, notes and timelines, duplicates and merge.

use app::ledger::{
    self, AddressInput, ContactInput, CustomerFilter, CustomerInput, CustomerOverview,
    CustomerView, DeviceInput, DeviceView, DuplicateGroup, NoteInput, TimelineView,
};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use domain::{AddressId, ContactId, CustomerId, DeviceId};
use serde::{Deserialize, Serialize};
use store::timeline::Of;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Paged;
use crate::AppState;
use crate::auth::ApiCtx;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{IfMatch, JsonBody, etag};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_customers, create_customer))
        .routes(routes!(duplicates))
        .routes(routes!(lookup))
        .routes(routes!(get_customer, update_customer))
        .routes(routes!(overview))
        .routes(routes!(reveal_phones))
        .routes(routes!(merge))
        .routes(routes!(add_contact))
        .routes(routes!(delete_contact))
        .routes(routes!(add_address))
        .routes(routes!(add_device))
        .routes(routes!(get_device, update_device))
        .routes(routes!(customer_timeline, add_note))
        .routes(routes!(device_timeline))
        .routes(routes!(note_categories))
        .routes(routes!(regions))
}

/// 201 with the record and its `ETag`; a replayed create says so in `Idempotent-Replayed`.
pub(crate) fn created<T: Serialize>(replayed: bool, version: i64, body: T) -> Response {
    let mut r = (StatusCode::CREATED, etag(version), Json(body)).into_response();
    if replayed {
        r.headers_mut().insert(
            "idempotent-replayed",
            axum::http::HeaderValue::from_static("true"),
        );
    }
    r
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedId {
    pub id: i64,
}

#[utoipa::path(get, path = "/customers", tag = "customers", params(CustomerFilter),
    responses((status = 200, body = Paged<CustomerView>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_customers(
    State(s): State<AppState>,
    api: ApiCtx,
    Query(f): Query<CustomerFilter>,
) -> Result<Json<Paged<CustomerView>>, ApiError> {
    Ok(Json(Paged::of(
        ledger::list_customers(&s.app, &api.ctx, f).await?,
    )))
}

#[utoipa::path(post, path = "/customers", tag = "customers", request_body = CustomerInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key return the first result")),
    responses((status = 201, body = CustomerView), (status = 409, description = "duplicate phone", body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_customer(
    State(s): State<AppState>,
    api: ApiCtx,
    headers: HeaderMap,
    body: JsonBody<CustomerInput>,
) -> Result<Response, ApiError> {
    let ctx = api.with_idem(&headers, "POST /customers", &body.hash)?;
    let made = ledger::create_customer(&s.app, &ctx, body.value).await?;
    let view = ledger::get_customer(&s.app, &ctx, made.id).await?;
    Ok(created(made.replayed, view.version, view))
}

#[utoipa::path(get, path = "/customers/duplicates", tag = "customers", responses((status = 200, body = Vec<DuplicateGroup>)))]
async fn duplicates(
    State(s): State<AppState>,
    api: ApiCtx,
) -> Result<Json<Vec<DuplicateGroup>>, ApiError> {
    Ok(Json(ledger::duplicates(&s.app, &api.ctx).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
struct PhoneQuery {
    /// A phone number in any common format.
    phone: String,
}

#[utoipa::path(get, path = "/customers/lookup", tag = "customers", params(PhoneQuery),
    responses((status = 200, description = "Customers reachable at this phone", body = Vec<CustomerView>), (status = 422, body = ErrorBody)))]
async fn lookup(
    State(s): State<AppState>,
    api: ApiCtx,
    Query(q): Query<PhoneQuery>,
) -> Result<Json<Vec<CustomerView>>, ApiError> {
    Ok(Json(
        ledger::find_by_phone(&s.app, &api.ctx, &q.phone).await?,
    ))
}

#[utoipa::path(get, path = "/customers/{id}", tag = "customers", params(("id" = i64, Path)),
    responses((status = 200, body = CustomerView), (status = 404, body = ErrorBody)))]
async fn get_customer(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let v = ledger::get_customer(&s.app, &api.ctx, CustomerId(id)).await?;
    Ok((etag(v.version), Json(v)).into_response())
}

#[utoipa::path(put, path = "/customers/{id}", tag = "customers", request_body = CustomerInput,
    params(("id" = i64, Path), ("If-Match" = String, Header, description = "\"<version>\" as read")),
    responses((status = 200, body = CustomerView), (status = 409, body = ErrorBody), (status = 428, body = ErrorBody)))]
async fn update_customer(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
    IfMatch(v): IfMatch,
    body: JsonBody<CustomerInput>,
) -> Result<Response, ApiError> {
    let view = ledger::update_customer(&s.app, &api.ctx, CustomerId(id), v, body.value).await?;
    Ok((etag(view.version), Json(view)).into_response())
}

#[utoipa::path(get, path = "/customers/{id}/overview", tag = "customers", params(("id" = i64, Path)),
    responses((status = 200, description = "Customer, contacts, addresses, devices and the latest 50 timeline entries", body = CustomerOverview), (status = 404, body = ErrorBody)))]
async fn overview(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
) -> Result<Json<CustomerOverview>, ApiError> {
    Ok(Json(
        ledger::overview(&s.app, &api.ctx, CustomerId(id)).await?,
    ))
}

#[derive(Debug, Serialize, ToSchema)]
struct RevealedPhone {
    name: String,
    phone: String,
}

#[utoipa::path(post, path = "/customers/{id}/reveal-phones", tag = "customers", params(("id" = i64, Path)),
    responses((status = 200, description = "Full numbers; the reveal is audited", body = Vec<RevealedPhone>), (status = 403, body = ErrorBody)))]
async fn reveal_phones(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
) -> Result<Json<Vec<RevealedPhone>>, ApiError> {
    let list = ledger::reveal_phones(&s.app, &api.ctx, CustomerId(id)).await?;
    Ok(Json(
        list.into_iter()
            .map(|(name, phone)| RevealedPhone { name, phone })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MergeInput {
    /// The duplicate that is merged into the customer of the path.
    from_id: i64,
    /// The duplicate's version as read.
    from_version: i64,
}

#[utoipa::path(post, path = "/customers/{id}/merge", tag = "customers", request_body = MergeInput,
    params(("id" = i64, Path, description = "The surviving customer"), ("If-Match" = String, Header, description = "The survivor's version")),
    responses((status = 200, body = CustomerView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn merge(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
    IfMatch(v): IfMatch,
    body: JsonBody<MergeInput>,
) -> Result<Response, ApiError> {
    let view = ledger::merge(
        &s.app,
        &api.ctx,
        CustomerId(id),
        v,
        CustomerId(body.value.from_id),
        body.value.from_version,
    )
    .await?;
    Ok((etag(view.version), Json(view)).into_response())
}

#[utoipa::path(post, path = "/customers/{id}/contacts", tag = "customers", request_body = ContactInput,
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = CreatedId), (status = 422, body = ErrorBody)))]
async fn add_contact(
    State(s): State<AppState>,
    api: ApiCtx,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: JsonBody<ContactInput>,
) -> Result<Response, ApiError> {
    let ctx = api.with_idem(
        &headers,
        &format!("POST /customers/{id}/contacts"),
        &body.hash,
    )?;
    let made = ledger::add_contact(&s.app, &ctx, CustomerId(id), body.value).await?;
    Ok(created(made.replayed, 1, CreatedId { id: made.id.0 }))
}

#[utoipa::path(delete, path = "/customers/{id}/contacts/{contact_id}", tag = "customers",
    params(("id" = i64, Path), ("contact_id" = i64, Path), ("If-Match" = String, Header)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn delete_contact(
    State(s): State<AppState>,
    api: ApiCtx,
    Path((id, contact)): Path<(i64, i64)>,
    IfMatch(v): IfMatch,
) -> Result<StatusCode, ApiError> {
    ledger::delete_contact(&s.app, &api.ctx, CustomerId(id), ContactId(contact), v).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/customers/{id}/addresses", tag = "customers", request_body = AddressInput,
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = CreatedId), (status = 422, body = ErrorBody)))]
async fn add_address(
    State(s): State<AppState>,
    api: ApiCtx,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: JsonBody<AddressInput>,
) -> Result<Response, ApiError> {
    let ctx = api.with_idem(
        &headers,
        &format!("POST /customers/{id}/addresses"),
        &body.hash,
    )?;
    let made = ledger::add_address(&s.app, &ctx, CustomerId(id), body.value).await?;
    let AddressId(aid) = made.id;
    Ok(created(made.replayed, 1, CreatedId { id: aid }))
}

#[utoipa::path(post, path = "/customers/{id}/devices", tag = "devices", request_body = DeviceInput,
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = DeviceView), (status = 422, body = ErrorBody)))]
async fn add_device(
    State(s): State<AppState>,
    api: ApiCtx,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: JsonBody<DeviceInput>,
) -> Result<Response, ApiError> {
    let ctx = api.with_idem(
        &headers,
        &format!("POST /customers/{id}/devices"),
        &body.hash,
    )?;
    let made = ledger::add_device(&s.app, &ctx, CustomerId(id), body.value).await?;
    let view = ledger::get_device(&s.app, &ctx, made.id).await?;
    Ok(created(made.replayed, view.version, view))
}

#[utoipa::path(get, path = "/devices/{id}", tag = "devices", params(("id" = i64, Path)), responses((status = 200, body = DeviceView), (status = 404, body = ErrorBody)))]
async fn get_device(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let v = ledger::get_device(&s.app, &api.ctx, DeviceId(id)).await?;
    Ok((etag(v.version), Json(v)).into_response())
}

#[utoipa::path(put, path = "/devices/{id}", tag = "devices", request_body = DeviceInput, params(("id" = i64, Path), ("If-Match" = String, Header)),
    responses((status = 200, body = DeviceView), (status = 409, body = ErrorBody), (status = 428, body = ErrorBody)))]
async fn update_device(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
    IfMatch(v): IfMatch,
    body: JsonBody<DeviceInput>,
) -> Result<Response, ApiError> {
    let view = ledger::update_device(&s.app, &api.ctx, DeviceId(id), v, body.value).await?;
    Ok((etag(view.version), Json(view)).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
struct TimelineQuery {
    /// Only notes of this category code.
    category: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/customers/{id}/timeline", tag = "timeline", params(("id" = i64, Path), TimelineQuery),
    responses((status = 200, body = Paged<TimelineView>), (status = 404, body = ErrorBody)))]
async fn customer_timeline(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
    Query(q): Query<TimelineQuery>,
) -> Result<Json<Paged<TimelineView>>, ApiError> {
    let (items, next_cursor) = ledger::timeline(
        &s.app,
        &api.ctx,
        Of::Customer(CustomerId(id)),
        q.category.as_deref(),
        q.cursor.as_deref(),
        q.limit,
    )
    .await?;
    Ok(Json(Paged { items, next_cursor }))
}

#[utoipa::path(post, path = "/customers/{id}/timeline", tag = "timeline", request_body = NoteInput,
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = CreatedId), (status = 422, body = ErrorBody)))]
async fn add_note(
    State(s): State<AppState>,
    api: ApiCtx,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: JsonBody<NoteInput>,
) -> Result<Response, ApiError> {
    let ctx = api.with_idem(
        &headers,
        &format!("POST /customers/{id}/timeline"),
        &body.hash,
    )?;
    let made = ledger::add_note(&s.app, &ctx, CustomerId(id), body.value).await?;
    Ok(created(made.replayed, 1, CreatedId { id: made.id.0 }))
}

#[utoipa::path(get, path = "/devices/{id}/timeline", tag = "timeline", params(("id" = i64, Path), TimelineQuery),
    responses((status = 200, body = Paged<TimelineView>), (status = 404, body = ErrorBody)))]
async fn device_timeline(
    State(s): State<AppState>,
    api: ApiCtx,
    Path(id): Path<i64>,
    Query(q): Query<TimelineQuery>,
) -> Result<Json<Paged<TimelineView>>, ApiError> {
    let (items, next_cursor) = ledger::timeline(
        &s.app,
        &api.ctx,
        Of::Device(DeviceId(id)),
        q.category.as_deref(),
        q.cursor.as_deref(),
        q.limit,
    )
    .await?;
    Ok(Json(Paged { items, next_cursor }))
}

#[derive(Debug, Serialize, ToSchema)]
struct CategoryView {
    code: String,
    name: String,
    active: bool,
}

#[utoipa::path(get, path = "/note-categories", tag = "timeline", responses((status = 200, body = Vec<CategoryView>)))]
async fn note_categories(
    State(s): State<AppState>,
    api: ApiCtx,
) -> Result<Json<Vec<CategoryView>>, ApiError> {
    let cats = ledger::note_categories(&s.app).await?;
    Ok(Json(
        cats.into_iter()
            .map(|c| CategoryView {
                name: c.name(&api.ctx.locale).to_string(),
                code: c.code,
                active: c.active,
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
struct RegionQuery {
    /// A region code; omitted for the provinces.
    parent: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegionView {
    pub code: String,
    pub name: String,
}

#[utoipa::path(get, path = "/regions", tag = "customers", params(RegionQuery),
    responses((status = 200, description = "GB/T 2260 regions under a parent (provinces when no parent)", body = Vec<RegionView>)))]
async fn regions(
    State(s): State<AppState>,
    _api: ApiCtx,
    Query(q): Query<RegionQuery>,
) -> Json<Vec<RegionView>> {
    Json(
        s.app
            .regions
            .children(q.parent.as_deref())
            .into_iter()
            .map(|r| RegionView {
                code: r.code.0.clone(),
                name: r.name.clone(),
            })
            .collect(),
    )
}
