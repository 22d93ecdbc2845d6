//! The customer ledger (SPEC A1–A3): customers, contacts, addresses, devices, the timeline with
//! classified notes, duplicate detection by phone and a merge that keeps every history.

use domain::customer::{
    AddressDraft, Contact, ContactDraft, Customer, CustomerAddress, CustomerDraft, CustomerKind,
    Device, DeviceDraft, NoteCategory, PurchaseChannel, TimelineEntry, TimelineKind,
};
use domain::{
    AddressId, BrandId, ContactId, Cursor, CustomerId, Date, DeviceId, Permission, Phone, Scope,
    TimelineId, UserId,
};
use serde::{Deserialize, Serialize};
use store::customers::{self, CustomerQuery};
use store::timeline::{self, NewEntry, Of};
use store::{Page, devices};
use utoipa::ToSchema;

use crate::admin::audit_entry;
use crate::error::Fields;
use crate::once::create_once;
use crate::search;
use crate::{App, Created, Ctx, Error, Result};

// ---------------------------------------------------------------- input

/// A customer as typed by an agent or sent by an integration.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerInput {
    /// `individual`, `dealer` or `brand_client`
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// The dealer that sold to or serves this customer.
    #[serde(default)]
    pub dealer_id: Option<i64>,
    /// The account owner (区域经理) of a dealer or key account.
    #[serde(default)]
    pub owner_user_id: Option<i64>,
    #[serde(default)]
    pub remark: Option<String>,
    /// The first address (becomes the default one); only on create.
    #[serde(default)]
    pub address: Option<AddressInput>,
    /// Contacts to add with the customer; only on create.
    #[serde(default)]
    pub contacts: Vec<ContactInput>,
    /// Create even when another customer already has this phone.
    #[serde(default)]
    pub allow_duplicate: bool,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    pub name: String,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub is_primary: bool,
}

/// An address by GB/T 2260 codes (province 330000, city 330100, district 330106, street
/// 330106004) and the street detail; coordinates are GCJ-02.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressInput {
    #[serde(default)]
    pub label: Option<String>,
    pub province_code: String,
    pub city_code: String,
    #[serde(default)]
    pub district_code: Option<String>,
    #[serde(default)]
    pub street_code: Option<String>,
    pub detail: String,
    #[serde(default)]
    pub lng: Option<f64>,
    #[serde(default)]
    pub lat: Option<f64>,
    #[serde(default)]
    pub is_default: bool,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceInput {
    #[serde(default)]
    pub brand_id: Option<i64>,
    /// Product category, e.g. 净水器, 空调, 防盗门.
    pub category: String,
    pub model: String,
    #[serde(default)]
    pub serial: Option<String>,
    #[serde(default)]
    pub production_date: Option<String>,
    #[serde(default)]
    pub purchase_date: Option<String>,
    /// dealer, online, store, project or other
    #[serde(default)]
    pub purchase_channel: Option<String>,
    #[serde(default)]
    pub install_date: Option<String>,
    #[serde(default)]
    pub installer: Option<String>,
    #[serde(default)]
    pub warranty_end: Option<String>,
    #[serde(default)]
    pub address_id: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteInput {
    /// A note category code (consultation, quality, installation, service, …).
    pub category: String,
    pub body: String,
    /// Also put the note on this device's timeline.
    #[serde(default)]
    pub device_id: Option<i64>,
}

fn opt_phone(f: &mut Fields, field: &str, s: Option<&str>) -> Option<Phone> {
    f.take(
        field,
        s.map(str::trim)
            .filter(|s| !s.is_empty())
            .map(Phone::parse)
            .transpose(),
    )
    .flatten()
}

fn opt_date(f: &mut Fields, field: &str, s: Option<&str>) -> Option<Date> {
    match s.map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(v) => {
            let d = Date::parse(v);
            if d.is_none() {
                f.add(field, "a date YYYY-MM-DD");
            }
            d
        }
    }
}

fn parse_customer(f: &mut Fields, i: &CustomerInput) -> Option<CustomerDraft> {
    let kind = CustomerKind::parse(i.kind.trim());
    if kind.is_none() {
        f.add("kind", "individual, dealer or brand_client");
    }
    let name = f.take("name", domain::text::required(&i.name, 100));
    let phone = opt_phone(f, "phone", i.phone.as_deref());
    let email = f
        .take("email", domain::text::optional(i.email.as_deref(), 120))
        .flatten();
    if email
        .as_deref()
        .is_some_and(|e| !e.contains('@') || e.contains(char::is_whitespace))
    {
        f.add("email", "not an email address");
    }
    let remark = f
        .take("remark", domain::text::optional(i.remark.as_deref(), 2000))
        .flatten();
    Some(CustomerDraft {
        kind: kind?,
        name: name?,
        phone,
        email,
        dealer_id: i.dealer_id.map(CustomerId),
        owner_user_id: i.owner_user_id.map(UserId),
        remark,
    })
}

fn parse_contact(f: &mut Fields, prefix: &str, i: &ContactInput) -> Option<ContactDraft> {
    let name = f.take(
        &format!("{prefix}name"),
        domain::text::required(&i.name, 60),
    );
    let phone = opt_phone(f, &format!("{prefix}phone"), i.phone.as_deref());
    let title = f
        .take(
            &format!("{prefix}title"),
            domain::text::optional(i.title.as_deref(), 60),
        )
        .flatten();
    Some(ContactDraft {
        name: name?,
        phone,
        title,
        is_primary: i.is_primary,
    })
}

fn parse_address(
    app: &App,
    f: &mut Fields,
    prefix: &str,
    i: &AddressInput,
) -> Option<AddressDraft> {
    let label = f
        .take(
            &format!("{prefix}label"),
            domain::text::optional(i.label.as_deref(), 30),
        )
        .flatten();
    let geo = match (i.lng, i.lat) {
        (Some(lng), Some(lat)) => Some((lng, lat)),
        (None, None) => None,
        _ => {
            f.add(&format!("{prefix}lng"), "give both lng and lat, or neither");
            None
        }
    };
    let address = f.take(
        &format!("{prefix}address"),
        app.regions.address(
            &i.province_code,
            &i.city_code,
            i.district_code.as_deref(),
            i.street_code.as_deref(),
            &i.detail,
            geo,
        ),
    );
    Some(AddressDraft {
        label,
        address: address?,
        is_default: i.is_default,
    })
}

fn parse_device(f: &mut Fields, i: &DeviceInput) -> Option<DeviceDraft> {
    let category = f.take("category", domain::text::required(&i.category, 40));
    let model = f.take("model", domain::text::required(&i.model, 80));
    let serial = f
        .take("serial", domain::text::optional(i.serial.as_deref(), 80))
        .flatten();
    let channel = match i
        .purchase_channel
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(s) => {
            let c = PurchaseChannel::parse(s);
            if c.is_none() {
                f.add(
                    "purchase_channel",
                    "dealer, online, store, project or other",
                );
            }
            c
        }
    };
    let production_date = opt_date(f, "production_date", i.production_date.as_deref());
    let purchase_date = opt_date(f, "purchase_date", i.purchase_date.as_deref());
    let install_date = opt_date(f, "install_date", i.install_date.as_deref());
    let warranty_end = opt_date(f, "warranty_end", i.warranty_end.as_deref());
    if let (Some(p), Some(b)) = (production_date, purchase_date)
        && b < p
    {
        f.add("purchase_date", "before the production date");
    }
    if let (Some(b), Some(w)) = (purchase_date, warranty_end)
        && w < b
    {
        f.add("warranty_end", "before the purchase date");
    }
    let installer = f
        .take(
            "installer",
            domain::text::optional(i.installer.as_deref(), 60),
        )
        .flatten();
    Some(DeviceDraft {
        brand_id: i.brand_id.map(BrandId),
        category: category?,
        model: model?,
        serial,
        production_date,
        purchase_date,
        purchase_channel: channel,
        install_date,
        installer,
        warranty_end,
        address_id: i.address_id.map(AddressId),
    })
}

// ---------------------------------------------------------------- views

/// A customer as the caller may see it (phones masked unless the role may see them).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CustomerView {
    pub id: i64,
    pub kind: String,
    pub name: String,
    pub phone: Option<String>,
    pub phone_masked: bool,
    pub email: Option<String>,
    pub dealer_id: Option<i64>,
    pub owner_user_id: Option<i64>,
    pub province_code: Option<String>,
    pub city_code: Option<String>,
    pub district_code: Option<String>,
    /// The region of the default address, e.g. 浙江省杭州市西湖区.
    pub region: String,
    pub remark: Option<String>,
    pub status: String,
    pub merged_into: Option<i64>,
    pub version: i64,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: domain::Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: domain::Timestamp,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ContactView {
    pub id: i64,
    pub name: String,
    pub phone: Option<String>,
    pub title: Option<String>,
    pub is_primary: bool,
    pub version: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AddressView {
    pub id: i64,
    pub label: Option<String>,
    pub province_code: String,
    pub city_code: String,
    pub district_code: Option<String>,
    pub street_code: Option<String>,
    pub detail: String,
    /// The whole address as people write it.
    pub text: String,
    pub lng: Option<f64>,
    pub lat: Option<f64>,
    pub is_default: bool,
    pub version: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeviceView {
    pub id: i64,
    pub customer_id: i64,
    pub brand_id: Option<i64>,
    pub category: String,
    pub model: String,
    pub serial: Option<String>,
    pub production_date: Option<String>,
    pub purchase_date: Option<String>,
    pub purchase_channel: Option<String>,
    pub install_date: Option<String>,
    pub installer: Option<String>,
    pub warranty_end: Option<String>,
    /// Under warranty today (in the organisation's time zone); null when the end is unknown.
    pub in_warranty: Option<bool>,
    pub address_id: Option<i64>,
    pub version: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimelineView {
    pub id: i64,
    #[schema(value_type = String, format = DateTime)]
    pub at: domain::Timestamp,
    pub kind: String,
    pub category: Option<String>,
    pub category_name: Option<String>,
    pub device_id: Option<i64>,
    pub author: Option<String>,
    pub body: String,
    /// The ticket an entry is about.
    pub ticket_id: Option<i64>,
}

/// Everything the customer page shows.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CustomerOverview {
    pub customer: CustomerView,
    pub contacts: Vec<ContactView>,
    pub addresses: Vec<AddressView>,
    pub devices: Vec<DeviceView>,
    pub timeline: Vec<TimelineView>,
    /// Cursor for older timeline entries.
    pub timeline_next: Option<String>,
}

impl CustomerView {
    fn of(app: &App, ctx: &Ctx, c: Customer) -> Self {
        let region = [
            c.province.as_deref(),
            c.city.as_deref(),
            c.district.as_deref(),
        ]
        .into_iter()
        .flatten()
        .map(|code| app.regions.get(code).map_or("", |r| r.name.as_str()))
        .filter(|n| *n != "市辖区")
        .collect::<String>();
        Self {
            id: c.id.0,
            kind: c.kind.as_str().into(),
            phone_masked: c.phone.is_some() && !ctx.can(Permission::PhoneView),
            phone: c.phone.as_ref().map(|p| ctx.show_phone(p)),
            name: c.name,
            email: c.email,
            dealer_id: c.dealer_id.map(|x| x.0),
            owner_user_id: c.owner_user_id.map(|x| x.0),
            province_code: c.province,
            city_code: c.city,
            district_code: c.district,
            region,
            remark: c.remark,
            status: c.status.as_str().into(),
            merged_into: c.merged_into.map(|x| x.0),
            version: c.version,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

fn contact_view(ctx: &Ctx, c: Contact) -> ContactView {
    ContactView {
        id: c.id.0,
        name: c.name,
        phone: c.phone.as_ref().map(|p| ctx.show_phone(p)),
        title: c.title,
        is_primary: c.is_primary,
        version: c.version,
    }
}

fn address_view(app: &App, a: CustomerAddress) -> AddressView {
    AddressView {
        id: a.id.0,
        text: app.regions.format(&a.address),
        label: a.label,
        province_code: a.address.province.0,
        city_code: a.address.city.0,
        district_code: a.address.district.map(|x| x.0),
        street_code: a.address.street.map(|x| x.0),
        detail: a.address.detail,
        lng: a.address.geo.map(|g| g.lng),
        lat: a.address.geo.map(|g| g.lat),
        is_default: a.is_default,
        version: a.version,
    }
}

fn device_view(app: &App, ctx: &Ctx, d: Device) -> DeviceView {
    let today = ctx.now().date_in(app.settings.tz);
    DeviceView {
        in_warranty: d.in_warranty_on(today),
        id: d.id.0,
        customer_id: d.customer_id.0,
        brand_id: d.brand_id.map(|x| x.0),
        category: d.category,
        model: d.model,
        serial: d.serial,
        production_date: d.production_date.map(|x| x.to_string()),
        purchase_date: d.purchase_date.map(|x| x.to_string()),
        purchase_channel: d.purchase_channel.map(|x| x.as_str().to_string()),
        install_date: d.install_date.map(|x| x.to_string()),
        installer: d.installer,
        warranty_end: d.warranty_end.map(|x| x.to_string()),
        address_id: d.address_id.map(|x| x.0),
        version: d.version,
    }
}

fn timeline_view(ctx: &Ctx, cats: &[NoteCategory], e: TimelineEntry) -> TimelineView {
    let cat = e
        .category_id
        .and_then(|id| cats.iter().find(|c| c.id == id));
    TimelineView {
        id: e.id.0,
        at: e.at,
        kind: e.kind.as_str().into(),
        category: cat.map(|c| c.code.clone()),
        category_name: cat.map(|c| c.name(&ctx.locale).to_string()),
        device_id: e.device_id.map(|x| x.0),
        author: e.author_name,
        body: e.body,
        ticket_id: e.ticket_id.map(|t| t.0),
    }
}

fn timeline_cursor(list: &[TimelineView], limit: u32) -> Option<String> {
    (list.len() == limit as usize)
        .then(|| {
            list.last().map(|e| {
                Cursor {
                    key: e.at.0.to_string(),
                    id: e.id,
                }
                .encode()
            })
        })
        .flatten()
}

fn timeline_before(cursor: Option<&str>) -> Result<Option<(i64, i64)>> {
    match cursor.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => {
            let c = Cursor::decode(s)
                .ok_or_else(|| Error::field("cursor", "not a cursor this server issued"))?;
            let at = c
                .key
                .parse()
                .map_err(|_| Error::field("cursor", "not a cursor this server issued"))?;
            Ok(Some((at, c.id)))
        }
    }
}

// ---------------------------------------------------------------- customers

/// Creates a customer with its first address and contacts. A phone that another visible
/// customer already has is refused as a duplicate (naming it) unless `allow_duplicate`.
pub async fn create_customer(
    app: &App,
    ctx: &Ctx,
    input: CustomerInput,
) -> Result<Created<CustomerId>> {
    ctx.require(Permission::CustomerWrite)?;
    let mut f = Fields::new();
    let draft = parse_customer(&mut f, &input);
    let address = input
        .address
        .as_ref()
        .and_then(|a| parse_address(app, &mut f, "address.", a));
    let contacts: Vec<Option<ContactDraft>> = input
        .contacts
        .iter()
        .enumerate()
        .map(|(n, c)| parse_contact(&mut f, &format!("contacts[{n}]."), c))
        .collect();
    if input.contacts.len() > 20 {
        f.add("contacts", "at most 20 at once");
    }
    f.finish()?;
    let mut draft = draft.ok_or_else(|| Error::field("name", "required"))?;
    let contacts: Vec<ContactDraft> = contacts.into_iter().flatten().collect();
    // Outside parties create within their own slice: a dealer's customers are its own, a
    // brand's customers are linked to the brand.
    let mut brand_link = None;
    match &ctx.scope {
        Scope::Dealer(d) => draft.dealer_id = Some(*d),
        Scope::Brands(set) if set.len() == 1 => brand_link = set.iter().next().copied(),
        Scope::All => {}
        _ => return Err(Error::Forbidden),
    }
    let scope = ctx.scope.clone();
    let audit = audit_entry(ctx, "create", "customer");
    let allow_duplicate = input.allow_duplicate;
    let after = serde_json::json!({ "kind": draft.kind, "name": draft.name, "phone": draft.phone.as_ref().map(Phone::masked), "dealer_id": draft.dealer_id });
    let author = ctx.actor.user_id();
    let mut doc = search::customer_doc(
        &app.regions,
        &new_customer_source(&draft, address.as_ref(), &contacts, audit.at),
    )
    .prepare();
    create_once(app, ctx, CustomerId, move |c| {
        Box::pin(async move {
            if let Some(d) = draft.dealer_id {
                let dealer = customers::get(c, &scope, d)
                    .await
                    .map_err(|_| Error::field("dealer_id", "unknown dealer"))?;
                if dealer.kind != CustomerKind::Dealer {
                    return Err(Error::field("dealer_id", "not a dealer"));
                }
            }
            if let Some(p) = &draft.phone
                && !allow_duplicate
                && let Some(existing) = customers::find_by_phone(c, &scope, p).await?.first()
            {
                return Err(Error::Duplicate {
                    message: format!("customer {} already has this phone", existing.id),
                    existing: Some(existing.id.0),
                });
            }
            let id = customers::insert(c, &draft, author, audit.at).await?;
            if let Some(a) = &address {
                customers::insert_address(c, id, a, audit.at).await?;
            }
            for ct in &contacts {
                customers::insert_contact(c, id, ct, audit.at).await?;
            }
            if let Some(b) = brand_link {
                customers::link_brand(c, id, b, audit.at).await?;
            }
            timeline::append(
                c,
                &NewEntry {
                    customer_id: id,
                    device_id: None,
                    brand_id: brand_link,
                    at: audit.at,
                    kind: TimelineKind::Created,
                    category_id: None,
                    author_id: author,
                    body: "",
                },
            )
            .await?;
            doc.set_id(id.0);
            search::index(c, &doc).await?;
            audit
                .write(c, Some(id.0), brand_link, None, Some(after))
                .await?;
            Ok(id.0)
        })
    })
    .await
}

pub async fn get_customer(app: &App, ctx: &Ctx, id: CustomerId) -> Result<CustomerView> {
    ctx.require(Permission::CustomerRead)?;
    let scope = ctx.scope.clone();
    let c = app
        .db
        .read(move |c| Box::pin(async move { customers::get(c, &scope, id).await }))
        .await?;
    Ok(CustomerView::of(app, ctx, c))
}

/// The customer page: the customer, contacts, addresses, devices and the latest 50 timeline
/// entries, read on one connection.
pub async fn overview(app: &App, ctx: &Ctx, id: CustomerId) -> Result<CustomerOverview> {
    ctx.require(Permission::CustomerRead)?;
    let scope = ctx.scope.clone();
    let cats = note_categories(app).await?;
    let (c, contacts, addresses, devs, entries) = app
        .db
        .read(move |c| {
            Box::pin(async move {
                let cust = customers::get(c, &scope, id).await?;
                let contacts = customers::contacts(c, id).await?;
                let addresses = customers::addresses(c, id).await?;
                let devs = devices::of_customer(c, &scope, id).await?;
                let entries =
                    timeline::list(c, &scope, Of::Customer(id), None, None, TIMELINE_PAGE).await?;
                Ok::<_, Error>((cust, contacts, addresses, devs, entries))
            })
        })
        .await?;
    let timeline: Vec<TimelineView> = entries
        .into_iter()
        .map(|e| timeline_view(ctx, &cats, e))
        .collect();
    Ok(CustomerOverview {
        customer: CustomerView::of(app, ctx, c),
        contacts: contacts.into_iter().map(|x| contact_view(ctx, x)).collect(),
        addresses: addresses
            .into_iter()
            .map(|a| address_view(app, a))
            .collect(),
        devices: devs.into_iter().map(|d| device_view(app, ctx, d)).collect(),
        timeline_next: timeline_cursor(&timeline, TIMELINE_PAGE),
        timeline,
    })
}

const TIMELINE_PAGE: u32 = 50;

/// The list's filters as they arrive from a query string.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, utoipa::IntoParams)]
pub struct CustomerFilter {
    /// A name prefix (张 finds every 张…) or at least four digits of a phone number.
    pub q: Option<String>,
    pub kind: Option<String>,
    pub province: Option<String>,
    pub city: Option<String>,
    pub dealer_id: Option<i64>,
    pub owner_user_id: Option<i64>,
    pub cursor: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<u32>,
}

pub async fn list_customers(
    app: &App,
    ctx: &Ctx,
    filter: CustomerFilter,
) -> Result<Page<CustomerView>> {
    ctx.require(Permission::CustomerRead)?;
    let mut f = Fields::new();
    let kind = match filter.kind.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(k) => {
            let v = CustomerKind::parse(k);
            if v.is_none() {
                f.add("kind", "individual, dealer or brand_client");
            }
            v
        }
    };
    let after = match filter.cursor.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => {
            let c = Cursor::decode(s);
            if c.is_none() {
                f.add("cursor", "not a cursor this server issued");
            }
            c
        }
    };
    let q = f
        .take("q", domain::text::optional(filter.q.as_deref(), 100))
        .flatten();
    f.finish()?;
    let query = CustomerQuery {
        q,
        kind,
        province: filter.province.filter(|s| !s.is_empty()),
        city: filter.city.filter(|s| !s.is_empty()),
        dealer: filter.dealer_id.map(CustomerId),
        owner: filter.owner_user_id.map(UserId),
        include_merged: false,
        after,
        limit: domain::cursor::limit(filter.limit),
    };
    let scope = ctx.scope.clone();
    let page = app
        .db
        .read(move |c| Box::pin(async move { customers::list(c, &scope, &query).await }))
        .await?;
    Ok(Page {
        items: page
            .items
            .into_iter()
            .map(|c| CustomerView::of(app, ctx, c))
            .collect(),
        next: page.next,
    })
}

/// Customers reachable at a phone number (the caller on the line).
pub async fn find_by_phone(app: &App, ctx: &Ctx, phone: &str) -> Result<Vec<CustomerView>> {
    ctx.require(Permission::CustomerRead)?;
    let phone = Phone::parse(phone).map_err(|e| Error::field("phone", e.to_string()))?;
    let scope = ctx.scope.clone();
    let list = app
        .db
        .read(move |c| Box::pin(async move { customers::find_by_phone(c, &scope, &phone).await }))
        .await?;
    Ok(list
        .into_iter()
        .map(|c| CustomerView::of(app, ctx, c))
        .collect())
}

pub async fn update_customer(
    app: &App,
    ctx: &Ctx,
    id: CustomerId,
    version: i64,
    input: CustomerInput,
) -> Result<CustomerView> {
    ctx.require(Permission::CustomerWrite)?;
    let mut f = Fields::new();
    let draft = parse_customer(&mut f, &input);
    if input.address.is_some() || !input.contacts.is_empty() {
        f.add("address", "addresses and contacts have their own endpoints");
    }
    f.finish()?;
    let mut draft = draft.ok_or_else(|| Error::field("name", "required"))?;
    if let Scope::Dealer(d) = ctx.scope
        && id != d
    {
        draft.dealer_id = Some(d);
    }
    let scope = ctx.scope.clone();
    let audit = audit_entry(ctx, "update", "customer");
    let allow_duplicate = input.allow_duplicate;
    let doc = search::customer_doc_after(app, id, audit.at, |s| {
        s.kind = draft.kind.as_str().into();
        s.name.clone_from(&draft.name);
        s.phone = draft.phone.as_ref().map(|p| p.as_str().to_string());
        s.email.clone_from(&draft.email);
        s.remark.clone_from(&draft.remark);
    })
    .await?;
    let c = app
        .db
        .write(move |c| {
            Box::pin(async move {
                let before = customers::get(c, &scope, id).await?;
                if let Some(into) = before.merged_into {
                    return Err(Error::Conflict(format!(
                        "this customer was merged into #{into}; edit that one"
                    )));
                }
                if let Some(d) = draft.dealer_id {
                    if d == id {
                        return Err(Error::field(
                            "dealer_id",
                            "a customer cannot be its own dealer",
                        ));
                    }
                    let dealer = customers::get(c, &scope, d)
                        .await
                        .map_err(|_| Error::field("dealer_id", "unknown dealer"))?;
                    if dealer.kind != CustomerKind::Dealer {
                        return Err(Error::field("dealer_id", "not a dealer"));
                    }
                }
                if let Some(p) = &draft.phone
                    && !allow_duplicate
                    && before.phone.as_ref() != Some(p)
                    && let Some(existing) = customers::find_by_phone(c, &scope, p)
                        .await?
                        .into_iter()
                        .find(|x| x.id != id)
                {
                    return Err(Error::Duplicate {
                        message: format!("customer {} already has this phone", existing.id),
                        existing: Some(existing.id.0),
                    });
                }
                customers::update(c, id, version, &draft, audit.at).await?;
                search::index(c, &doc).await?;
                let after = customers::get(c, &scope, id).await?;
                audit
                    .write(
                        c,
                        Some(id.0),
                        None,
                        Some(customer_audit(&before)),
                        Some(customer_audit(&after)),
                    )
                    .await?;
                Ok::<_, Error>(after)
            })
        })
        .await?;
    Ok(CustomerView::of(app, ctx, c))
}

/// `update_customer` for forms of people who see the phone masked and so cannot send it back:
/// an absent phone keeps the stored one instead of clearing it.
pub async fn update_customer_keep_phone(
    app: &App,
    ctx: &Ctx,
    id: CustomerId,
    version: i64,
    mut input: CustomerInput,
) -> Result<CustomerView> {
    if input.phone.as_deref().is_none_or(|p| p.trim().is_empty()) {
        ctx.require(Permission::CustomerWrite)?;
        let scope = ctx.scope.clone();
        let current = app
            .db
            .read(move |c| Box::pin(async move { customers::get(c, &scope, id).await }))
            .await?;
        input.phone = current.phone.map(|p| p.as_str().to_string());
    }
    update_customer(app, ctx, id, version, input).await
}

/// The audit form of a customer: phones are recorded masked, like everywhere people read.
fn customer_audit(c: &Customer) -> serde_json::Value {
    serde_json::json!({
        "kind": c.kind, "name": c.name, "phone": c.phone.as_ref().map(Phone::masked), "email": c.email,
        "dealer_id": c.dealer_id, "owner_user_id": c.owner_user_id, "remark": c.remark, "status": c.status, "version": c.version,
    })
}

/// The full phone numbers of a customer and its contacts, for someone whose role shows masks.
/// Every reveal is written to the audit log.
pub async fn reveal_phones(app: &App, ctx: &Ctx, id: CustomerId) -> Result<Vec<(String, String)>> {
    if !ctx.can(Permission::PhoneView) {
        ctx.require(Permission::PhoneReveal)?;
    }
    let scope = ctx.scope.clone();
    let audit = audit_entry(ctx, "reveal_phone", "customer");
    app.db
        .write(move |c| {
            Box::pin(async move {
                let cust = customers::get(c, &scope, id).await?;
                let mut out = Vec::new();
                if let Some(p) = &cust.phone {
                    out.push((cust.name.clone(), p.as_str().to_string()));
                }
                for ct in customers::contacts(c, id).await? {
                    if let Some(p) = ct.phone {
                        out.push((ct.name, p.as_str().to_string()));
                    }
                }
                audit
                    .write(
                        c,
                        Some(id.0),
                        None,
                        None,
                        Some(serde_json::json!({ "revealed": out.len() })),
                    )
                    .await?;
                Ok(out)
            })
        })
        .await
}

// ---------------------------------------------------------------- contacts and addresses

pub async fn add_contact(
    app: &App,
    ctx: &Ctx,
    customer: CustomerId,
    input: ContactInput,
) -> Result<Created<ContactId>> {
    ctx.require(Permission::CustomerWrite)?;
    let mut f = Fields::new();
    let d = parse_contact(&mut f, "", &input);
    f.finish()?;
    let d = d.ok_or_else(|| Error::field("name", "required"))?;
    let scope = ctx.scope.clone();
    let audit = audit_entry(ctx, "create", "contact");
    let after = serde_json::json!({ "customer_id": customer, "name": d.name, "phone": d.phone.as_ref().map(Phone::masked), "title": d.title });
    let doc = search::customer_doc_after(app, customer, audit.at, |s| {
        s.contacts.push((
            0,
            d.name.clone(),
            d.phone.as_ref().map(|p| p.as_str().into()),
        ));
    })
    .await?;
    create_once(app, ctx, ContactId, move |c| {
        Box::pin(async move {
            customers::get(c, &scope, customer).await?;
            let id = customers::insert_contact(c, customer, &d, audit.at).await?;
            search::index(c, &doc).await?;
            audit.write(c, Some(id.0), None, None, Some(after)).await?;
            Ok(id.0)
        })
    })
    .await
}

pub async fn delete_contact(
    app: &App,
    ctx: &Ctx,
    customer: CustomerId,
    id: ContactId,
    version: i64,
) -> Result<()> {
    ctx.require(Permission::CustomerWrite)?;
    let scope = ctx.scope.clone();
    let audit = audit_entry(ctx, "delete", "contact");
    let doc = search::customer_doc_after(app, customer, audit.at, |s| {
        s.contacts.retain(|(ct, _, _)| *ct != id.0);
    })
    .await?;
    app.db
        .write(move |c| {
            Box::pin(async move {
                customers::get(c, &scope, customer).await?;
                let before = customers::get_contact(c, customer, id).await?;
                customers::delete_contact(c, customer, id, version).await?;
                search::index(c, &doc).await?;
                audit.write(c, Some(id.0), None, Some(serde_json::json!({ "customer_id": customer, "name": before.name, "phone": before.phone.as_ref().map(Phone::masked) })), None)
                    .await?;
                Ok(())
            })
        })
        .await
}

pub async fn add_address(
    app: &App,
    ctx: &Ctx,
    customer: CustomerId,
    input: AddressInput,
) -> Result<Created<AddressId>> {
    ctx.require(Permission::CustomerWrite)?;
    let mut f = Fields::new();
    let d = parse_address(app, &mut f, "", &input);
    f.finish()?;
    let d = d.ok_or_else(|| Error::field("address", "required"))?;
    let scope = ctx.scope.clone();
    let audit = audit_entry(ctx, "create", "address");
    let after = serde_json::json!({ "customer_id": customer, "text": app.regions.format(&d.address), "is_default": d.is_default });
    let doc = search::customer_doc_after(app, customer, audit.at, |s| {
        if d.is_default || s.address_detail.is_none() {
            set_region(s, &d.address);
        }
    })
    .await?;
    create_once(app, ctx, AddressId, move |c| {
        Box::pin(async move {
            customers::get(c, &scope, customer).await?;
            let id = customers::insert_address(c, customer, &d, audit.at).await?;
            search::index(c, &doc).await?;
            audit.write(c, Some(id.0), None, None, Some(after)).await?;
            Ok(id.0)
        })
    })
    .await
}

// ---------------------------------------------------------------- devices

pub async fn add_device(
    app: &App,
    ctx: &Ctx,
    customer: CustomerId,
    input: DeviceInput,
) -> Result<Created<DeviceId>> {
    ctx.require(Permission::DeviceWrite)?;
    let mut f = Fields::new();
    let d = parse_device(&mut f, &input);
    f.finish()?;
    let mut d = d.ok_or_else(|| Error::field("model", "required"))?;
    if let Scope::Brands(set) = &ctx.scope {
        match d.brand_id {
            None if set.len() == 1 => d.brand_id = set.iter().next().copied(),
            Some(b) if set.contains(&b) => {}
            _ => return Err(Error::field("brand_id", "not one of your brands")),
        }
    }
    let scope = ctx.scope.clone();
    let audit = audit_entry(ctx, "create", "device");
    let author = ctx.actor.user_id();
    let mut doc = search::device_draft_doc(0, customer, &d, audit.at);
    create_once(app, ctx, DeviceId, move |c| {
        Box::pin(async move {
            // A brand adds devices only to customers it already serves; linking a customer it
            // cannot see would hand it that customer's record (brand isolation, SPEC G3).
            customers::get(c, &scope, customer).await?;
            check_device_refs(c, customer, &d).await?;
            let id = devices::insert(c, customer, &d, audit.at).await?;
            if let Some(b) = d.brand_id {
                customers::link_brand(c, customer, b, audit.at).await?;
            }
            let body = format!("{} {}", d.category, d.model);
            timeline::append(
                c,
                &NewEntry {
                    customer_id: customer,
                    device_id: Some(id),
                    brand_id: d.brand_id,
                    at: audit.at,
                    kind: TimelineKind::DeviceAdded,
                    category_id: None,
                    author_id: author,
                    body: &body,
                },
            )
            .await?;
            doc.set_id(id.0);
            search::index(c, &doc).await?;
            audit
                .write(c, Some(id.0), d.brand_id, None, Some(device_audit(&d)))
                .await?;
            Ok(id.0)
        })
    })
    .await
}

async fn check_device_refs(
    c: &mut store::Conn,
    customer: CustomerId,
    d: &DeviceDraft,
) -> Result<()> {
    if let Some(b) = d.brand_id
        && !store::org::brands(c).await?.iter().any(|x| x.id == b)
    {
        return Err(Error::field("brand_id", "unknown brand"));
    }
    if let Some(a) = d.address_id
        && !customers::addresses(c, customer)
            .await?
            .iter()
            .any(|x| x.id == a)
    {
        return Err(Error::field(
            "address_id",
            "not an address of this customer",
        ));
    }
    Ok(())
}

fn device_audit(d: &DeviceDraft) -> serde_json::Value {
    serde_json::json!({
        "brand_id": d.brand_id, "category": d.category, "model": d.model, "serial": d.serial,
        "purchase_date": d.purchase_date.map(|x| x.to_string()), "warranty_end": d.warranty_end.map(|x| x.to_string()),
    })
}

pub async fn get_device(app: &App, ctx: &Ctx, id: DeviceId) -> Result<DeviceView> {
    ctx.require(Permission::CustomerRead)?;
    let scope = ctx.scope.clone();
    let d = app
        .db
        .read(move |c| Box::pin(async move { devices::get(c, &scope, id).await }))
        .await?;
    Ok(device_view(app, ctx, d))
}

pub async fn update_device(
    app: &App,
    ctx: &Ctx,
    id: DeviceId,
    version: i64,
    input: DeviceInput,
) -> Result<DeviceView> {
    ctx.require(Permission::DeviceWrite)?;
    let mut f = Fields::new();
    let d = parse_device(&mut f, &input);
    f.finish()?;
    let d = d.ok_or_else(|| Error::field("model", "required"))?;
    if let Scope::Brands(set) = &ctx.scope
        && d.brand_id.is_none_or(|b| !set.contains(&b))
    {
        return Err(Error::field("brand_id", "not one of your brands"));
    }
    let scope = ctx.scope.clone();
    let audit = audit_entry(ctx, "update", "device");
    let mut doc = search::device_draft_doc(id.0, CustomerId(0), &d, audit.at);
    let dev = app
        .db
        .write(move |c| {
            Box::pin(async move {
                let before = devices::get(c, &scope, id).await?;
                check_device_refs(c, before.customer_id, &d).await?;
                devices::update(c, id, version, &d, audit.at).await?;
                doc.set_customer(before.customer_id);
                search::index(c, &doc).await?;
                let after = devices::get(c, &scope, id).await?;
                audit
                    .write(
                        c,
                        Some(id.0),
                        after.brand_id,
                        Some(serde_json::to_value(&before).unwrap_or_default()),
                        Some(device_audit(&d)),
                    )
                    .await?;
                Ok::<_, Error>(after)
            })
        })
        .await?;
    Ok(device_view(app, ctx, dev))
}

// ---------------------------------------------------------------- timeline

/// The note categories, read once per process: the list is reference data that every
/// timeline page needs.
pub async fn note_categories(app: &App) -> Result<Vec<NoteCategory>> {
    let cats = app
        .note_categories
        .get_or_try_init(|| async {
            app.db
                .read(|c| Box::pin(async move { timeline::categories(c).await }))
                .await
        })
        .await?;
    Ok(cats.clone())
}

/// Adds a classified note to the customer's timeline (and the device's, when given).
pub async fn add_note(
    app: &App,
    ctx: &Ctx,
    customer: CustomerId,
    input: NoteInput,
) -> Result<Created<TimelineId>> {
    ctx.require(Permission::NoteWrite)?;
    let mut f = Fields::new();
    let body = f.take("body", domain::text::required(&input.body, 4000));
    let cats = note_categories(app).await?;
    let cat = cats
        .iter()
        .find(|c| c.code == input.category.trim() && c.active)
        .map(|c| c.id);
    if cat.is_none() {
        f.add("category", "unknown note category");
    }
    f.finish()?;
    let (body, cat) = (body.unwrap_or_default(), cat);
    let device = input.device_id.map(DeviceId);
    let scope = ctx.scope.clone();
    let brand = match &ctx.scope {
        Scope::Brands(set) if set.len() == 1 => set.iter().next().copied(),
        _ => None,
    };
    let audit = audit_entry(ctx, "create", "note");
    let author = ctx.actor.user_id();
    create_once(app, ctx, TimelineId, move |c| {
        Box::pin(async move {
            customers::get(c, &scope, customer).await?;
            let brand = match device {
                Some(d) => {
                    let dev = devices::get(c, &scope, d).await.map_err(|_| Error::field("device_id", "unknown device"))?;
                    if dev.customer_id != customer {
                        return Err(Error::field("device_id", "not a device of this customer"));
                    }
                    dev.brand_id.or(brand)
                }
                None => brand,
            };
            let id = timeline::append(c, &NewEntry { customer_id: customer, device_id: device, brand_id: brand, at: audit.at, kind: TimelineKind::Note, category_id: cat, author_id: author, body: &body })
                .await?;
            audit.write(c, Some(id.0), brand, None, Some(serde_json::json!({ "customer_id": customer, "device_id": device, "category_id": cat, "chars": body.chars().count() })))
                .await?;
            Ok(id.0)
        })
    })
    .await
}

/// A page of a customer's (or a device's) timeline, newest first.
pub async fn timeline(
    app: &App,
    ctx: &Ctx,
    of: Of,
    category: Option<&str>,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<(Vec<TimelineView>, Option<String>)> {
    ctx.require(Permission::CustomerRead)?;
    let before = timeline_before(cursor)?;
    let limit = domain::cursor::limit(limit);
    let cats = note_categories(app).await?;
    let cat = match category.filter(|s| !s.is_empty()) {
        None => None,
        Some(code) => Some(
            cats.iter()
                .find(|c| c.code == code)
                .map(|c| c.id)
                .ok_or_else(|| Error::field("category", "unknown note category"))?,
        ),
    };
    let scope = ctx.scope.clone();
    let entries = app
        .db
        .read(move |c| {
            Box::pin(async move {
                match of {
                    Of::Customer(id) => {
                        customers::get(c, &scope, id).await?;
                    }
                    Of::Device(id) => {
                        devices::get(c, &scope, id).await?;
                    }
                }
                Ok::<_, Error>(timeline::list(c, &scope, of, cat, before, limit).await?)
            })
        })
        .await?;
    let list: Vec<TimelineView> = entries
        .into_iter()
        .map(|e| timeline_view(ctx, &cats, e))
        .collect();
    let next = timeline_cursor(&list, limit);
    Ok((list, next))
}

// ---------------------------------------------------------------- duplicates and merge

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DuplicateGroup {
    /// The shared phone, as the caller may see it.
    pub phone: String,
    pub customers: Vec<CustomerView>,
}

pub async fn duplicates(app: &App, ctx: &Ctx) -> Result<Vec<DuplicateGroup>> {
    ctx.require(Permission::CustomerRead)?;
    let scope = ctx.scope.clone();
    let groups = app
        .db
        .read(move |c| Box::pin(async move { customers::duplicate_groups(c, &scope, 200).await }))
        .await?;
    Ok(groups
        .into_iter()
        .map(|(phone, list)| DuplicateGroup {
            phone: ctx.show_phone(&phone),
            customers: list
                .into_iter()
                .map(|c| CustomerView::of(app, ctx, c))
                .collect(),
        })
        .collect())
}

/// Merges `from` into `into`: contacts, addresses, devices, phones, brand links and the whole
/// timeline move to `into`; `from` stays as a tombstone pointing at `into`. Both versions must be
/// the ones the user looked at.
pub async fn merge(
    app: &App,
    ctx: &Ctx,
    into: CustomerId,
    into_version: i64,
    from: CustomerId,
    from_version: i64,
) -> Result<CustomerView> {
    ctx.require(Permission::CustomerMerge)?;
    if into == from {
        return Err(Error::field(
            "from_id",
            "a customer cannot be merged into itself",
        ));
    }
    let scope = ctx.scope.clone();
    let audit = audit_entry(ctx, "merge", "customer");
    let author = ctx.actor.user_id();
    // The survivor is found by everything the duplicate was found by: its name and phone become
    // a contact, its contacts and devices move over.
    let gone = search::customer_source(app, from)
        .await
        .map_err(|_| Error::field("from_id", "unknown customer"))?;
    let doc = search::customer_doc_after(app, into, audit.at, move |s| {
        s.contacts.push((0, gone.name, gone.phone));
        s.contacts.extend(gone.contacts);
    })
    .await?;
    let c = app
        .db
        .write(move |c| {
            Box::pin(async move {
                let a = customers::get(c, &scope, into).await?;
                let b = customers::get(c, &scope, from).await.map_err(|_| Error::field("from_id", "unknown customer"))?;
                if a.version != into_version || b.version != from_version {
                    return Err(Error::VersionConflict);
                }
                if a.merged_into.is_some() || b.merged_into.is_some() {
                    return Err(Error::Conflict("one of these customers was already merged".into()));
                }
                customers::merge(c, into, from, audit.at).await?;
                search::index(c, &doc).await?;
                search::unindex(c, search::DocKind::Customer, from.0).await?;
                store::search::move_devices(c, from, into).await?;
                let body = format!("{} (#{})", b.name, b.id);
                timeline::append(c, &NewEntry { customer_id: into, device_id: None, brand_id: None, at: audit.at, kind: TimelineKind::Merged, category_id: None, author_id: author, body: &body })
                    .await?;
                audit.write(c, Some(into.0), None, Some(serde_json::json!({ "into": customer_audit(&a), "from": customer_audit(&b), "from_id": from })), None).await?;
                Ok(customers::get(c, &scope, into).await?)
            })
        })
        .await?;
    Ok(CustomerView::of(app, ctx, c))
}

// ---------------------------------------------------------------- search documents

/// A customer about to be created, as its search document reads it.
fn new_customer_source(
    d: &CustomerDraft,
    address: Option<&AddressDraft>,
    contacts: &[ContactDraft],
    at: domain::Timestamp,
) -> store::search::CustomerSource {
    let mut s = store::search::CustomerSource {
        id: 0,
        kind: d.kind.as_str().into(),
        name: d.name.clone(),
        phone: d.phone.as_ref().map(|p| p.as_str().into()),
        email: d.email.clone(),
        remark: d.remark.clone(),
        status: "active".into(),
        province_code: None,
        city_code: None,
        district_code: None,
        updated_at: at.0,
        address_detail: None,
        contacts: contacts
            .iter()
            .map(|c| {
                (
                    0,
                    c.name.clone(),
                    c.phone.as_ref().map(|p| p.as_str().into()),
                )
            })
            .collect(),
    };
    if let Some(a) = address {
        set_region(&mut s, &a.address);
    }
    s
}

/// The default address's region and street, as the customer's document shows them.
fn set_region(s: &mut store::search::CustomerSource, a: &domain::Address) {
    s.province_code = Some(a.province.0.clone());
    s.city_code = Some(a.city.0.clone());
    s.district_code = a.district.as_ref().map(|x| x.0.clone());
    s.address_detail = Some(a.detail.clone());
}
