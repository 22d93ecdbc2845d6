//! The customer ledger pages: the list with live search, the new-customer form, the customer
//! page people use all day (details, contacts, addresses, devices, timeline, notes), the device
//! page, and duplicates with merge.

use app::ledger::{
    self, AddressInput, ContactInput, CustomerFilter, CustomerInput, CustomerView, DeviceInput,
    DeviceView, NoteInput, TimelineView,
};
use app::{Error, IdemKey};
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use domain::{ContactId, CustomerId, DeviceId, Permission};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use store::timeline::Of;

use super::chrome::{
    Chrome, FormData, FormState, OrPage, PageCtx, PageError, query_string, refused,
};
use super::regions::Picker;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/customers", get(list).post(create))
        .route("/customers/new", get(new_form))
        .route("/customers/duplicates", get(duplicates))
        .route("/customers/duplicates/merge", post(merge))
        .route("/customers/{id}", get(show).post(edit))
        .route("/customers/{id}/timeline", get(customer_timeline))
        .route("/customers/{id}/notes", post(customer_note))
        .route("/customers/{id}/reveal", post(reveal))
        .route("/customers/{id}/contacts", post(add_contact))
        .route(
            "/customers/{id}/contacts/{contact}/delete",
            post(delete_contact),
        )
        .route("/customers/{id}/addresses", post(add_address))
        .route("/customers/{id}/devices", post(add_device))
        .route("/devices/{id}", get(device_page).post(edit_device))
        .route("/devices/{id}/timeline", get(device_timeline))
        .route("/devices/{id}/notes", post(device_note))
        .route("/regions/options", get(super::regions::options))
}

fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

fn tz(s: &AppState) -> &app::Settings {
    &s.app.settings
}

// ---------------------------------------------------------------- list

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    province: Option<String>,
    #[serde(default)]
    city: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
}

/// A customer as a table row.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub phone: String,
    pub region: String,
    pub created: String,
}

impl Row {
    fn of(v: &CustomerView, tz: &app::Settings) -> Self {
        Self {
            id: v.id,
            name: v.name.clone(),
            kind: v.kind.clone(),
            phone: v.phone.clone().unwrap_or_default(),
            region: v.region.clone(),
            created: v.created_at.date_in(tz.tz).to_string(),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "customers/list.html")]
pub struct ListPage {
    pub c: Chrome,
    pub f: FormState,
    pub rp: Picker,
    pub rows: Vec<Row>,
    pub next_href: Option<String>,
    pub first_href: Option<String>,
    pub can_create: bool,
    pub searching: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "customers/_results.html")]
pub struct ResultsPartial {
    pub c: Chrome,
    pub rows: Vec<Row>,
    pub next_href: Option<String>,
    pub first_href: Option<String>,
    pub searching: bool,
}

pub async fn list(
    State(s): State<AppState>,
    pc: PageCtx,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let clean = |v: &Option<String>| v.as_deref().map_or("", str::trim).to_string();
    let (text, kind, province) = (clean(&q.q), clean(&q.kind), clean(&q.province));
    // A city left over from another province would match nothing: drop it.
    let city = Some(clean(&q.city))
        .filter(|c| {
            s.app
                .regions
                .get(c)
                .is_some_and(|r| r.parent.as_ref().is_some_and(|p| p.0 == province))
        })
        .unwrap_or_default();
    let filter = CustomerFilter {
        q: Some(text.clone()).filter(|x| !x.is_empty()),
        kind: Some(kind.clone()).filter(|x| !x.is_empty()),
        province: Some(province.clone()).filter(|x| !x.is_empty()),
        city: Some(city.clone()).filter(|x| !x.is_empty()),
        cursor: q.cursor.clone().filter(|x| !x.is_empty()),
        ..CustomerFilter::default()
    };
    let page = ledger::list_customers(&s.app, &pc.ctx, filter)
        .await
        .page(&pc)?;
    let base = [
        ("q", text.as_str()),
        ("kind", kind.as_str()),
        ("province", province.as_str()),
        ("city", city.as_str()),
    ];
    let next_href = page.next.map(|cur| {
        let cur = cur.encode();
        let mut pairs = base.to_vec();
        pairs.push(("cursor", cur.as_str()));
        format!("/customers?{}", query_string(&pairs))
    });
    let first_href = q
        .cursor
        .as_deref()
        .filter(|x| !x.is_empty())
        .map(|_| format!("/customers?{}", query_string(&base)));
    let rows: Vec<Row> = page.items.iter().map(|v| Row::of(v, tz(&s))).collect();
    let searching = !text.is_empty() || !kind.is_empty() || !province.is_empty();
    if pc.targets("results") {
        return Ok(ResultsPartial {
            c: pc.c,
            rows,
            next_href,
            first_href,
            searching,
        }
        .into_response());
    }
    let f = FormState::default()
        .with("q", text)
        .with("kind", kind)
        .with("province", province.clone());
    let rp = Picker::new(
        &pc.c,
        &s.app.regions,
        "f",
        &["province", "city"],
        &[&province, &city],
        "common.all",
    );
    Ok(ListPage {
        can_create: pc.can(Permission::CustomerWrite),
        c: pc.c,
        f,
        rp,
        rows,
        next_href,
        first_href,
        searching,
    }
    .into_response())
}

// ---------------------------------------------------------------- new customer

#[derive(Template, WebTemplate)]
#[template(path = "customers/new.html")]
pub struct NewPage {
    pub c: Chrome,
    pub f: FormState,
    pub rp: Picker,
    pub idem: String,
}

const ADDRESS_FIELDS: [&str; 4] = ["province_code", "city_code", "district_code", "street_code"];

fn address_picker(c: &Chrome, s: &AppState, prefix: &str, f: &FormState) -> Picker {
    let chosen: Vec<&str> = ADDRESS_FIELDS.iter().map(|n| f.v(n)).collect();
    Picker::new(
        c,
        &s.app.regions,
        prefix,
        &ADDRESS_FIELDS,
        &chosen,
        "common.choose",
    )
}

pub async fn new_form(State(s): State<AppState>, pc: PageCtx) -> Result<Response, PageError> {
    if !pc.can(Permission::CustomerWrite) {
        return Err(pc.fail(Error::Forbidden));
    }
    let f = FormState::default().with("kind", "individual");
    let rp = address_picker(&pc.c, &s, "na", &f);
    Ok(NewPage {
        idem: pc.request_id.clone(),
        c: pc.c,
        f,
        rp,
    }
    .into_response())
}

fn address_input(f: &FormData, is_default: bool) -> Option<AddressInput> {
    let any = ADDRESS_FIELDS
        .iter()
        .chain(&["detail"])
        .any(|n| f.opt(n).is_some());
    any.then(|| AddressInput {
        label: f.opt("label"),
        province_code: f.raw("province_code").trim().to_string(),
        city_code: f.raw("city_code").trim().to_string(),
        district_code: f.opt("district_code"),
        street_code: f.opt("street_code"),
        detail: f.raw("detail").to_string(),
        lng: None,
        lat: None,
        is_default: is_default || f.checked("is_default"),
    })
}

/// The SHA-256 of a form's fields, without the CSRF token and the idempotency key.
fn form_hash(f: &FormData) -> String {
    let mut h = Sha256::new();
    for (k, v) in &f.0 {
        if k != "_csrf" && k != "_idem" {
            h.update(k.as_bytes());
            h.update([0]);
            h.update(v.as_bytes());
            h.update([0]);
        }
    }
    hex::encode(h.finalize())
}

pub async fn create(
    State(s): State<AppState>,
    pc: PageCtx,
    form: FormData,
) -> Result<Response, PageError> {
    let contact =
        (form.opt("contact.name").is_some() || form.opt("contact.phone").is_some()).then(|| {
            ContactInput {
                name: form.raw("contact.name").to_string(),
                phone: form.opt("contact.phone"),
                title: form.opt("contact.title"),
                is_primary: true,
            }
        });
    let input = CustomerInput {
        kind: form.raw("kind").to_string(),
        name: form.raw("name").to_string(),
        phone: form.opt("phone"),
        email: form.opt("email"),
        remark: form.opt("remark"),
        address: address_input(&form, true),
        contacts: contact.into_iter().collect(),
        allow_duplicate: form.checked("allow_duplicate"),
        ..CustomerInput::default()
    };
    // A double click or a resent form creates one customer: the form carries a key of its own.
    let idem = form
        .opt("_idem")
        .filter(|k| k.len() <= 255)
        .map(|key| IdemKey {
            principal: pc.principal.key(),
            route: "POST /customers (form)".into(),
            key,
            body_hash: form_hash(&form),
        });
    let ctx = pc.ctx.clone().with_idem(idem);
    match ledger::create_customer(&s.app, &ctx, input).await {
        Ok(made) => Ok(see_other(&format!(
            "/customers/{}?flash=created",
            made.id.0
        ))),
        Err(e) => {
            let (status, f) = refused(
                &pc,
                &form,
                e,
                &[
                    ("address.address", "address"),
                    ("address.label", "address"),
                    ("address.lng", "address"),
                    ("contacts[0].name", "contact.name"),
                    ("contacts[0].phone", "contact.phone"),
                    ("contacts[0].title", "contact.title"),
                ],
            )?;
            let rp = address_picker(&pc.c, &s, "na", &f);
            Ok((
                status,
                NewPage {
                    // A corrected form is another request.
                    idem: pc.request_id.clone(),
                    c: pc.c,
                    f,
                    rp,
                },
            )
                .into_response())
        }
    }
}

// ---------------------------------------------------------------- the customer page

/// A timeline entry as shown.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: i64,
    pub at: String,
    pub kind: String,
    pub category: Option<String>,
    pub category_code: String,
    pub author: String,
    pub body: String,
    pub device_id: Option<i64>,
    pub ticket_id: Option<i64>,
}

impl Entry {
    fn of(v: TimelineView, tz: &app::Settings) -> Self {
        Self {
            id: v.id,
            at: v.at.display_in(tz.tz),
            kind: v.kind,
            category: v.category_name,
            category_code: v.category.unwrap_or_default(),
            author: v.author.unwrap_or_default(),
            body: v.body,
            device_id: v.device_id,
            ticket_id: v.ticket_id,
        }
    }
}

/// A device as a table row.
#[derive(Debug, Clone)]
pub struct DeviceRow {
    pub id: i64,
    pub brand: String,
    pub category: String,
    pub model: String,
    pub serial: String,
    pub purchase_date: String,
    pub warranty_end: String,
    /// "in", "out" or "unknown".
    pub warranty: &'static str,
}

fn warranty(v: &DeviceView) -> &'static str {
    match v.in_warranty {
        Some(true) => "in",
        Some(false) => "out",
        None => "unknown",
    }
}

impl DeviceRow {
    fn of(v: &DeviceView, brands: &[(i64, String)]) -> Self {
        Self {
            id: v.id,
            brand: brand_name(brands, v.brand_id),
            category: v.category.clone(),
            model: v.model.clone(),
            serial: v.serial.clone().unwrap_or_default(),
            purchase_date: v.purchase_date.clone().unwrap_or_default(),
            warranty_end: v.warranty_end.clone().unwrap_or_default(),
            warranty: warranty(v),
        }
    }
}

fn brand_name(brands: &[(i64, String)], id: Option<i64>) -> String {
    id.map(|b| {
        brands
            .iter()
            .find(|(i, _)| *i == b)
            .map_or_else(|| format!("#{b}"), |(_, n)| n.clone())
    })
    .unwrap_or_default()
}

/// The timeline block shared by the customer and the device page.
#[derive(Debug, Clone)]
pub struct Timeline {
    /// "/customers/5" or "/devices/7": where the partials and the note form post.
    pub base: String,
    pub entries: Vec<Entry>,
    pub older: Option<String>,
    pub categories: Vec<(String, String)>,
    pub category: String,
    pub can_note: bool,
    pub note: FormState,
}

impl Timeline {
    /// The query string of the "older" link.
    pub fn older_query(&self) -> Option<String> {
        self.older.as_ref().map(|cur| {
            query_string(&[
                ("category", self.category.as_str()),
                ("cursor", cur.as_str()),
            ])
        })
    }
}

/// Which of the customer page's forms is open again after an error.
#[derive(Debug, Clone, Default)]
pub struct Forms {
    pub edit: FormState,
    pub contact: FormState,
    pub address: FormState,
    pub device: FormState,
    pub note: FormState,
    pub open: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "customers/show.html")]
#[allow(clippy::struct_excessive_bools)] // what the user may do here, one flag per action
pub struct ShowPage {
    pub c: Chrome,
    pub cust: CustomerView,
    pub contacts: Vec<app::ledger::ContactView>,
    pub addresses: Vec<app::ledger::AddressView>,
    pub devices: Vec<DeviceRow>,
    pub tl: Timeline,
    pub forms: Forms,
    pub rp: Picker,
    pub brands: Vec<(i64, String)>,
    pub created: String,
    pub updated: String,
    pub can_write: bool,
    pub can_device: bool,
    pub can_reveal: bool,
    pub phone_masked: bool,
    pub tickets: super::tickets::TicketList,
}

#[derive(Debug, Default, Deserialize)]
pub struct TimelineQuery {
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
}

async fn categories(s: &AppState, pc: &PageCtx) -> Result<Vec<(String, String)>, PageError> {
    Ok(ledger::note_categories(&s.app)
        .await
        .page(pc)?
        .into_iter()
        .filter(|c| c.active)
        .map(|c| (c.name(pc.lang()).to_string(), c.code))
        .map(|(name, code)| (code, name))
        .collect())
}

async fn brand_list(s: &AppState, pc: &PageCtx) -> Vec<(i64, String)> {
    app::admin::brands(&s.app, &pc.ctx)
        .await
        .map(|bs| bs.into_iter().map(|b| (b.id.0, b.name)).collect())
        .unwrap_or_default()
}

fn edit_defaults(v: &CustomerView) -> FormState {
    let mut f = FormState::default()
        .with("kind", v.kind.clone())
        .with("name", v.name.clone())
        .with("version", v.version.to_string());
    if !v.phone_masked {
        f.set_opt("phone", v.phone.clone());
    }
    f.set_opt("email", v.email.clone());
    f.set_opt("remark", v.remark.clone());
    f
}

async fn render_customer(
    s: &AppState,
    pc: PageCtx,
    id: CustomerId,
    q: &TimelineQuery,
    mut forms: Forms,
) -> Result<ShowPage, PageError> {
    let o = ledger::overview(&s.app, &pc.ctx, id).await.page(&pc)?;
    let category = q.category.clone().unwrap_or_default();
    let cursor = q.cursor.clone().unwrap_or_default();
    let (entries, older) = if category.is_empty() && cursor.is_empty() {
        (o.timeline, o.timeline_next)
    } else {
        ledger::timeline(
            &s.app,
            &pc.ctx,
            Of::Customer(id),
            Some(&category),
            Some(&cursor),
            None,
        )
        .await
        .page(&pc)?
    };
    let brands = brand_list(s, &pc).await;
    let cats = categories(s, &pc).await?;
    if forms.edit.v("version").is_empty() && !forms.edit.has_errors() {
        forms.edit = edit_defaults(&o.customer);
    }
    if forms.note.v("category").is_empty() {
        forms.note.set("category", "consultation");
    }
    let tz = tz(s);
    let rp = address_picker(&pc.c, s, "ad", &forms.address);
    let tl = Timeline {
        base: format!("/customers/{}", id.0),
        entries: entries.into_iter().map(|e| Entry::of(e, tz)).collect(),
        older,
        categories: cats,
        category,
        can_note: pc.can(Permission::NoteWrite) && o.customer.merged_into.is_none(),
        note: std::mem::take(&mut forms.note),
    };
    let active = o.customer.merged_into.is_none();
    let tickets = super::tickets::TicketList::of(s, &pc, Some(id.0), None).await?;
    Ok(ShowPage {
        tickets,
        devices: o
            .devices
            .iter()
            .map(|d| DeviceRow::of(d, &brands))
            .collect(),
        created: o.customer.created_at.display_in(tz.tz),
        updated: o.customer.updated_at.display_in(tz.tz),
        can_write: pc.can(Permission::CustomerWrite) && active,
        can_device: pc.can(Permission::DeviceWrite) && active,
        can_reveal: o.customer.phone_masked && pc.can(Permission::PhoneReveal),
        phone_masked: o.customer.phone_masked,
        cust: o.customer,
        contacts: o.contacts,
        addresses: o.addresses,
        tl,
        forms,
        rp,
        brands,
        c: pc.c,
    })
}

pub async fn show(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
    Query(q): Query<TimelineQuery>,
) -> Result<ShowPage, PageError> {
    render_customer(&s, pc, CustomerId(id), &q, Forms::default()).await
}

/// Shows the customer page again with a form's errors (status from the error).
async fn again(
    s: &AppState,
    pc: PageCtx,
    id: i64,
    status: StatusCode,
    forms: Forms,
) -> Result<Response, PageError> {
    let page = render_customer(s, pc, CustomerId(id), &TimelineQuery::default(), forms).await?;
    Ok((status, page).into_response())
}

fn status_for(e: &Error) -> StatusCode {
    crate::error::status_of(e.code())
}

pub async fn edit(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
    form: FormData,
) -> Result<Response, PageError> {
    let version = form.version(&pc)?;
    let input = CustomerInput {
        kind: form.raw("kind").to_string(),
        name: form.raw("name").to_string(),
        phone: form.opt("phone"),
        email: form.opt("email"),
        remark: form.opt("remark"),
        allow_duplicate: form.checked("allow_duplicate"),
        ..CustomerInput::default()
    };
    // Someone who sees the phone masked cannot send it back: an empty field keeps it.
    let masked = !pc.can(Permission::PhoneView);
    let r = if masked {
        ledger::update_customer_keep_phone(&s.app, &pc.ctx, CustomerId(id), version, input).await
    } else {
        ledger::update_customer(&s.app, &pc.ctx, CustomerId(id), version, input).await
    };
    match r {
        Ok(_) => Ok(see_other(&format!("/customers/{id}?flash=saved"))),
        Err(e) => {
            let (status, f) = refused(&pc, &form, e, &[])?;
            let forms = Forms {
                edit: f,
                open: "edit",
                ..Forms::default()
            };
            again(&s, pc, id, status, forms).await
        }
    }
}

pub async fn add_contact(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
    form: FormData,
) -> Result<Response, PageError> {
    let input = ContactInput {
        name: form.raw("name").to_string(),
        phone: form.opt("phone"),
        title: form.opt("title"),
        is_primary: form.checked("is_primary"),
    };
    match ledger::add_contact(&s.app, &pc.ctx, CustomerId(id), input).await {
        Ok(_) => Ok(see_other(&format!(
            "/customers/{id}?flash=contact_added#contacts"
        ))),
        Err(e) => {
            let (status, f) = refused(&pc, &form, e, &[])?;
            let forms = Forms {
                contact: f,
                open: "contact",
                ..Forms::default()
            };
            again(&s, pc, id, status, forms).await
        }
    }
}

pub async fn delete_contact(
    State(s): State<AppState>,
    pc: PageCtx,
    Path((id, contact)): Path<(i64, i64)>,
    form: FormData,
) -> Result<Response, PageError> {
    let version = form.version(&pc)?;
    match ledger::delete_contact(&s.app, &pc.ctx, CustomerId(id), ContactId(contact), version).await
    {
        Ok(()) => Ok(see_other(&format!(
            "/customers/{id}?flash=contact_deleted#contacts"
        ))),
        Err(e) => {
            let (status, f) = refused(&pc, &FormData::default(), e, &[])?;
            let forms = Forms {
                contact: f,
                open: "contact",
                ..Forms::default()
            };
            again(&s, pc, id, status, forms).await
        }
    }
}

pub async fn add_address(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
    form: FormData,
) -> Result<Response, PageError> {
    let input = address_input(&form, false).unwrap_or_default();
    match ledger::add_address(&s.app, &pc.ctx, CustomerId(id), input).await {
        Ok(_) => Ok(see_other(&format!(
            "/customers/{id}?flash=address_added#addresses"
        ))),
        Err(e) => {
            let (status, f) = refused(&pc, &form, e, &[("lng", "address"), ("label", "address")])?;
            let forms = Forms {
                address: f,
                open: "address",
                ..Forms::default()
            };
            again(&s, pc, id, status, forms).await
        }
    }
}

fn device_input(form: &FormData) -> DeviceInput {
    DeviceInput {
        brand_id: form.i64("brand_id"),
        category: form.raw("category").to_string(),
        model: form.raw("model").to_string(),
        serial: form.opt("serial"),
        production_date: form.opt("production_date"),
        purchase_date: form.opt("purchase_date"),
        purchase_channel: form.opt("purchase_channel"),
        install_date: form.opt("install_date"),
        installer: form.opt("installer"),
        warranty_end: form.opt("warranty_end"),
        address_id: form.i64("address_id"),
    }
}

pub async fn add_device(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
    form: FormData,
) -> Result<Response, PageError> {
    match ledger::add_device(&s.app, &pc.ctx, CustomerId(id), device_input(&form)).await {
        Ok(made) => Ok(see_other(&format!(
            "/customers/{id}?flash=device_added#devices-{}",
            made.id.0
        ))),
        Err(e) => {
            let (status, f) = refused(&pc, &form, e, &[])?;
            let forms = Forms {
                device: f,
                open: "device",
                ..Forms::default()
            };
            again(&s, pc, id, status, forms).await
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "customers/_revealed.html")]
pub struct Revealed {
    pub c: Chrome,
    pub phones: Vec<(String, String)>,
}

pub async fn reveal(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let phones = ledger::reveal_phones(&s.app, &pc.ctx, CustomerId(id))
        .await
        .page(&pc)?;
    Ok(Revealed { c: pc.c, phones }.into_response())
}

// ---------------------------------------------------------------- timeline partials and notes

#[derive(Template, WebTemplate)]
#[template(path = "customers/_timeline_body.html")]
pub struct TimelineBody {
    pub c: Chrome,
    pub tl: Timeline,
}

#[derive(Template, WebTemplate)]
#[template(path = "customers/_older_page.html")]
pub struct OlderPage {
    pub c: Chrome,
    pub tl: Timeline,
}

#[derive(Template, WebTemplate)]
#[template(path = "customers/_new_entry.html")]
pub struct NewEntry {
    pub c: Chrome,
    pub e: Entry,
}

#[derive(Template, WebTemplate)]
#[template(path = "customers/_note_error.html")]
pub struct NoteError {
    pub message: String,
}

async fn timeline_partial(
    s: &AppState,
    pc: PageCtx,
    of: Of,
    base: String,
    q: TimelineQuery,
) -> Result<Response, PageError> {
    let category = q.category.clone().unwrap_or_default();
    let cursor = q.cursor.clone().unwrap_or_default();
    if !pc.htmx {
        let qs = query_string(&[("category", &category), ("cursor", &cursor)]);
        return Ok(see_other(&format!("{base}?{qs}#timeline")));
    }
    let (entries, older) =
        ledger::timeline(&s.app, &pc.ctx, of, Some(&category), Some(&cursor), None)
            .await
            .page(&pc)?;
    let tz = tz(s);
    let tl = Timeline {
        base,
        entries: entries.into_iter().map(|e| Entry::of(e, tz)).collect(),
        older,
        categories: Vec::new(),
        category,
        can_note: false,
        note: FormState::default(),
    };
    if cursor.is_empty() {
        Ok(TimelineBody { c: pc.c, tl }.into_response())
    } else {
        Ok(OlderPage { c: pc.c, tl }.into_response())
    }
}

pub async fn customer_timeline(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
    Query(q): Query<TimelineQuery>,
) -> Result<Response, PageError> {
    timeline_partial(
        &s,
        pc,
        Of::Customer(CustomerId(id)),
        format!("/customers/{id}"),
        q,
    )
    .await
}

pub async fn device_timeline(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
    Query(q): Query<TimelineQuery>,
) -> Result<Response, PageError> {
    timeline_partial(
        &s,
        pc,
        Of::Device(DeviceId(id)),
        format!("/devices/{id}"),
        q,
    )
    .await
}

/// Adds a note; htmx gets the new entry to put on top of the timeline, a plain form a redirect.
async fn note(
    s: &AppState,
    pc: PageCtx,
    customer: i64,
    device: Option<i64>,
    form: &FormData,
) -> Result<Response, PageError> {
    let input = NoteInput {
        category: form.raw("category").to_string(),
        body: form.raw("body").to_string(),
        device_id: device,
    };
    let back = device.map_or_else(
        || format!("/customers/{customer}"),
        |d| format!("/devices/{d}"),
    );
    match ledger::add_note(&s.app, &pc.ctx, CustomerId(customer), input).await {
        Ok(made) => {
            if !pc.htmx {
                return Ok(see_other(&format!("{back}?flash=note_added#timeline")));
            }
            let of = device.map_or(Of::Customer(CustomerId(customer)), |d| {
                Of::Device(DeviceId(d))
            });
            let (list, _) = ledger::timeline(&s.app, &pc.ctx, of, None, None, Some(10))
                .await
                .page(&pc)?;
            let Some(v) = list.into_iter().find(|e| e.id == made.id.0) else {
                return Ok(see_other(&back));
            };
            let mut r = NewEntry {
                e: Entry::of(v, tz(s)),
                c: pc.c,
            }
            .into_response();
            r.headers_mut()
                .insert("hx-trigger", HeaderValue::from_static("kefu-note-added"));
            Ok(r)
        }
        Err(e) => {
            let (status, f) = refused(&pc, form, e, &[])?;
            if pc.htmx {
                let message = ["body", "category", "device_id"]
                    .iter()
                    .find_map(|k| f.err(k).map(str::to_string))
                    .or(f.message.clone())
                    .unwrap_or_default();
                let mut r = (status, NoteError { message }).into_response();
                r.headers_mut()
                    .insert("hx-retarget", HeaderValue::from_static("#note-error"));
                r.headers_mut()
                    .insert("hx-reswap", HeaderValue::from_static("innerHTML"));
                return Ok(r);
            }
            match device {
                None => {
                    let forms = Forms {
                        note: f,
                        open: "note",
                        ..Forms::default()
                    };
                    again(s, pc, customer, status, forms).await
                }
                Some(d) => {
                    let page = render_device(s, pc, d, f, FormState::default()).await?;
                    Ok((status, page).into_response())
                }
            }
        }
    }
}

pub async fn customer_note(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
    form: FormData,
) -> Result<Response, PageError> {
    note(&s, pc, id, form.i64("device_id"), &form).await
}

pub async fn device_note(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
    form: FormData,
) -> Result<Response, PageError> {
    let d = ledger::get_device(&s.app, &pc.ctx, DeviceId(id))
        .await
        .page(&pc)?;
    note(&s, pc, d.customer_id, Some(id), &form).await
}

// ---------------------------------------------------------------- the device page

#[derive(Template, WebTemplate)]
#[template(path = "customers/device.html")]
pub struct DevicePage {
    pub c: Chrome,
    pub d: DeviceView,
    pub brand: String,
    pub warranty: &'static str,
    pub address: String,
    pub cust: CustomerView,
    pub tl: Timeline,
    pub edit: FormState,
    pub brands: Vec<(i64, String)>,
    pub addresses: Vec<(i64, String)>,
    pub can_edit: bool,
    pub tickets: super::tickets::TicketList,
}

fn device_defaults(d: &DeviceView) -> FormState {
    let mut f = FormState::default()
        .with("category", d.category.clone())
        .with("model", d.model.clone())
        .with("version", d.version.to_string());
    f.set_opt("brand_id", d.brand_id.map(|x| x.to_string()));
    f.set_opt("serial", d.serial.clone());
    f.set_opt("production_date", d.production_date.clone());
    f.set_opt("purchase_date", d.purchase_date.clone());
    f.set_opt("purchase_channel", d.purchase_channel.clone());
    f.set_opt("install_date", d.install_date.clone());
    f.set_opt("installer", d.installer.clone());
    f.set_opt("warranty_end", d.warranty_end.clone());
    f.set_opt("address_id", d.address_id.map(|x| x.to_string()));
    f
}

async fn render_device(
    s: &AppState,
    pc: PageCtx,
    id: i64,
    note: FormState,
    edit: FormState,
) -> Result<DevicePage, PageError> {
    let d = ledger::get_device(&s.app, &pc.ctx, DeviceId(id))
        .await
        .page(&pc)?;
    let o = ledger::overview(&s.app, &pc.ctx, CustomerId(d.customer_id))
        .await
        .page(&pc)?;
    let (entries, older) =
        ledger::timeline(&s.app, &pc.ctx, Of::Device(DeviceId(id)), None, None, None)
            .await
            .page(&pc)?;
    let brands = brand_list(s, &pc).await;
    let mut note = note;
    if note.v("category").is_empty() {
        note.set("category", "consultation");
    }
    let tz = tz(s);
    let tl = Timeline {
        base: format!("/devices/{id}"),
        entries: entries.into_iter().map(|e| Entry::of(e, tz)).collect(),
        older,
        categories: categories(s, &pc).await?,
        category: String::new(),
        can_note: pc.can(Permission::NoteWrite),
        note,
    };
    let edit = if edit.v("version").is_empty() && !edit.has_errors() {
        device_defaults(&d)
    } else {
        edit
    };
    let address = d
        .address_id
        .and_then(|a| o.addresses.iter().find(|x| x.id == a))
        .map(|a| a.text.clone())
        .unwrap_or_default();
    let tickets = super::tickets::TicketList::of(s, &pc, Some(d.customer_id), Some(id)).await?;
    Ok(DevicePage {
        tickets,
        brand: brand_name(&brands, d.brand_id),
        warranty: warranty(&d),
        address,
        addresses: o.addresses.iter().map(|a| (a.id, a.text.clone())).collect(),
        cust: o.customer,
        can_edit: pc.can(Permission::DeviceWrite),
        d,
        tl,
        edit,
        brands,
        c: pc.c,
    })
}

pub async fn device_page(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
) -> Result<DevicePage, PageError> {
    render_device(&s, pc, id, FormState::default(), FormState::default()).await
}

pub async fn edit_device(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
    form: FormData,
) -> Result<Response, PageError> {
    let version = form.version(&pc)?;
    match ledger::update_device(&s.app, &pc.ctx, DeviceId(id), version, device_input(&form)).await {
        Ok(_) => Ok(see_other(&format!("/devices/{id}?flash=saved"))),
        Err(e) => {
            let (status, f) = refused(&pc, &form, e, &[])?;
            let page = render_device(&s, pc, id, FormState::default(), f).await?;
            Ok((status, page).into_response())
        }
    }
}

// ---------------------------------------------------------------- duplicates and merge

#[derive(Debug, Clone)]
pub struct Group {
    pub phone: String,
    pub rows: Vec<Row>,
    pub versions: Vec<(i64, i64)>,
    /// The suggested survivor: the oldest record.
    pub survivor: i64,
}

#[derive(Template, WebTemplate)]
#[template(path = "customers/duplicates.html")]
pub struct DuplicatesPage {
    pub c: Chrome,
    pub groups: Vec<Group>,
    pub can_merge: bool,
    pub message: Option<String>,
}

async fn render_duplicates(
    s: &AppState,
    pc: PageCtx,
    message: Option<String>,
) -> Result<DuplicatesPage, PageError> {
    let groups = ledger::duplicates(&s.app, &pc.ctx).await.page(&pc)?;
    let tz = tz(s);
    let groups = groups
        .into_iter()
        .map(|g| Group {
            survivor: g.customers.iter().map(|c| c.id).min().unwrap_or_default(),
            versions: g.customers.iter().map(|c| (c.id, c.version)).collect(),
            rows: g.customers.iter().map(|c| Row::of(c, tz)).collect(),
            phone: g.phone,
        })
        .collect();
    Ok(DuplicatesPage {
        can_merge: pc.can(Permission::CustomerMerge),
        c: pc.c,
        groups,
        message,
    })
}

pub async fn duplicates(
    State(s): State<AppState>,
    pc: PageCtx,
) -> Result<DuplicatesPage, PageError> {
    render_duplicates(&s, pc, None).await
}

/// Merges every other customer of a group into the chosen survivor, each with the version the
/// user saw.
pub async fn merge(
    State(s): State<AppState>,
    pc: PageCtx,
    form: FormData,
) -> Result<Response, PageError> {
    if !pc.can(Permission::CustomerMerge) {
        return Err(pc.fail(Error::Forbidden));
    }
    let Some(survivor) = form.i64("survivor") else {
        let msg = pc.c.t("duplicates.choose_survivor");
        let page = render_duplicates(&s, pc, Some(msg)).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    };
    let version_of = |id: i64| form.i64(&format!("v_{id}"));
    let Some(mut into_version) = version_of(survivor) else {
        return Err(pc.fail(Error::PreconditionRequired));
    };
    let others: Vec<i64> = form
        .all("member")
        .iter()
        .filter_map(|x| x.parse().ok())
        .filter(|x| *x != survivor)
        .collect();
    for other in others {
        let Some(v) = version_of(other) else {
            return Err(pc.fail(Error::PreconditionRequired));
        };
        match ledger::merge(
            &s.app,
            &pc.ctx,
            CustomerId(survivor),
            into_version,
            CustomerId(other),
            v,
        )
        .await
        {
            Ok(view) => into_version = view.version,
            Err(e @ (Error::VersionConflict | Error::Conflict(_) | Error::Validation { .. })) => {
                let status = status_for(&e);
                let msg = super::chrome::error_message(&pc.c, &e);
                let page = render_duplicates(&s, pc, Some(msg)).await?;
                return Ok((status, page).into_response());
            }
            Err(e) => return Err(pc.fail(e)),
        }
    }
    Ok(Redirect::to(&format!("/customers/{survivor}?flash=merged")).into_response())
}
