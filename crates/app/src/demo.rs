//! The demo (`kefu demo`, SPEC I1): a realistic operating company — head office, departments and
//! city branches, three client brands, one user per role — and a customer ledger of dealers and
//! end customers in five cities, with their products and a classified timeline, built
//! deterministically from a seed on an empty database.
//!
//! It is a system import, written the way imports must be at a million customers: the data of
//! each chunk of customers is generated outside the transaction, then written by `store::bulk`
//! in one short transaction with one `demo_import` audit row, while the next chunk is generated.
//! Every instant derives from the `Ctx` clock, so a fixed clock and a seed give the same demo.

use std::collections::HashSet;
use std::time::Instant;

use chrono::{Datelike, Days, NaiveTime, TimeZone};
use chrono_tz::Tz;
use domain::access::AccountLinks;
use domain::account::{BrandTier, OrgFunction, OrgUnitKind};
use domain::customer::{CustomerKind, DeviceDraft, PurchaseChannel, TimelineKind};
use domain::{
    Address, AddressId, BrandId, ContactId, CustomerId, Date, DeviceId, EngineerId, GeoPoint,
    NoteCategoryId, OrgUnitId, OutletId, Phone, RegionCode, RegionLevel, Role, Timestamp, UserId,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use store::bulk::{self, NewAddress, NewContact, NewCustomer, NewDevice, NewEntry, Written};
use store::org::UnitDraft;
use store::search::{CustomerSource, DocRow};
use store::users::UserDraft;
use store::{Backend, org, timeline, users};

use crate::admin::{AuditEntry, audit_entry};
use crate::search;
use crate::secret::hash_password;
use crate::{App, Ctx, Error, Result};

/// The password of every demo account.
pub const PASSWORD: &str = "kefu-demo";

/// Customers per write transaction: some 12,000 rows with their index entries, 0.1–0.4 s on
/// SQLite at a million customers on two cores.
const CHUNK: usize = 1000;
/// Progress is logged every this many customers.
const LOG_EVERY: u64 = 50_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoOptions {
    /// Customers in all (at least 20): dealers (2 %, at least 5 and at most 600), end
    /// customers and among them duplicates (0.1 %, at least 3).
    pub customers: u64,
    /// The same seed (and clock) builds the same demo.
    pub seed: u64,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            customers: 300,
            seed: 2026,
        }
    }
}

#[derive(Debug, Clone)]
pub struct DemoReport {
    pub customers: u64,
    pub devices: u64,
    pub timeline: u64,
    /// (login, role, display name) of every demo account.
    pub users: Vec<(String, String, String)>,
    pub password: String,
    pub elapsed_ms: u128,
    /// The longest of the chunk transactions, from asking to write until durable.
    pub slowest_write_ms: u128,
}

/// Builds the demo on an empty database; refuses (`conflict`) when any user exists.
pub async fn build(app: &App, ctx: &Ctx, opts: &DemoOptions) -> Result<DemoReport> {
    let started = Instant::now();
    if opts.customers < 20 {
        return Err(Error::field("customers", "at least 20"));
    }
    let existing = app
        .db
        .read(|c| Box::pin(async move { users::count(c).await }))
        .await?;
    if existing > 0 {
        return Err(Error::Conflict(
            "the demo is built only on an empty database: users exist".into(),
        ));
    }
    let geo = Geo::new(app)?;
    let hash = hash_password(PASSWORD.to_string()).await?;
    let setup = setup(app, ctx, &hash).await?;
    let cats = note_categories(app).await?;
    let next = app
        .db
        .read(|c| Box::pin(async move { bulk::next_ids(c).await }))
        .await?;
    let backend = app.db.backend();

    let n = opts.customers;
    // A manufacturer has a few hundred dealers (SPEC, Scale), however many end customers.
    let dealers = (n / 50).clamp(5, 600);
    let duplicates = (n / 1000).max(3);
    let individuals = n - dealers;
    let mut g = Gen::new(
        app,
        ctx,
        opts.seed,
        &geo,
        &setup,
        cats,
        next,
        duplicates,
        individuals,
        dealers,
    );
    let mut progress = Progress {
        total: Written::default(),
        slowest_ms: 0,
        started,
    };
    let before = app
        .db
        .write(move |c| Box::pin(async move { bulk::tune_for_import(c, backend).await }))
        .await?;
    let ledger = ledger(app, ctx, &hash, &mut g, &mut progress, dealers, individuals).await;
    let restored = app
        .db
        .write(move |c| Box::pin(async move { bulk::restore(c, before).await }))
        .await;
    ledger?;
    restored?;
    let total = progress.total;
    tracing::info!(
        customers = total.customers,
        devices = total.devices,
        timeline = total.timeline,
        slowest_write_ms = progress.slowest_ms,
        elapsed_ms = started.elapsed().as_millis(),
        "demo built"
    );
    Ok(DemoReport {
        customers: total.customers,
        devices: total.devices,
        timeline: total.timeline,
        users: USERS
            .iter()
            .map(|u| (u.login.into(), u.role.as_str().into(), u.name.into()))
            .collect(),
        password: PASSWORD.into(),
        elapsed_ms: started.elapsed().as_millis(),
        slowest_write_ms: progress.slowest_ms,
    })
}

/// Dealers, the dealer's account, then the end customers; each chunk is generated while the
/// one before is being written.
async fn ledger(
    app: &App,
    ctx: &Ctx,
    hash: &str,
    g: &mut Gen<'_>,
    progress: &mut Progress,
    dealers: u64,
    individuals: u64,
) -> Result<()> {
    let backend = app.db.backend();
    let mut made = 0;
    while made < dealers {
        let k = chunk_len(dealers - made);
        let (customers, entries) = g.dealers(k);
        let docs = chunk_search_docs(app, &customers);
        let w = write_chunk(
            app.clone(),
            backend,
            chunk_audit(ctx),
            customers,
            entries,
            docs,
        )
        .await;
        progress.add(w)?;
        made += k as u64;
    }
    add_dealer_user(app, ctx, hash, g.dealers[0].id).await?;

    let mut pending: Option<Pending> = None;
    let mut made = 0;
    while made < individuals {
        let k = chunk_len(individuals - made);
        let (customers, entries) = g.individuals(made, k);
        let docs = chunk_search_docs(app, &customers);
        if let Some(h) = pending.take() {
            progress.add(joined(h).await)?;
        }
        pending = Some(tokio::spawn(write_chunk(
            app.clone(),
            backend,
            chunk_audit(ctx),
            customers,
            entries,
            docs,
        )));
        made += k as u64;
    }
    if let Some(h) = pending {
        progress.add(joined(h).await)?;
    }
    Ok(())
}

fn chunk_len(left: u64) -> usize {
    usize::try_from(left).map_or(CHUNK, |l| l.min(CHUNK))
}

fn chunk_audit(ctx: &Ctx) -> AuditEntry {
    audit_entry(ctx, "demo_import", "customer")
}

/// A chunk's write: what it wrote and how long its transaction took, in milliseconds.
type Chunk = Result<(Written, u128)>;
type Pending = tokio::task::JoinHandle<Chunk>;

async fn joined(h: Pending) -> Chunk {
    h.await
        .map_err(|e| Error::Conflict(format!("demo import stopped: {e}")))?
}

struct Progress {
    total: Written,
    slowest_ms: u128,
    started: Instant,
}

impl Progress {
    fn add(&mut self, chunk: Chunk) -> Result<()> {
        let (w, ms) = chunk?;
        let t = &mut self.total;
        let before = t.customers;
        t.customers += w.customers;
        t.contacts += w.contacts;
        t.addresses += w.addresses;
        t.devices += w.devices;
        t.phones += w.phones;
        t.brand_links += w.brand_links;
        t.timeline += w.timeline;
        self.slowest_ms = self.slowest_ms.max(ms);
        if t.customers / LOG_EVERY > before / LOG_EVERY {
            tracing::info!(
                customers = t.customers,
                devices = t.devices,
                timeline = t.timeline,
                slowest_write_ms = self.slowest_ms,
                elapsed_ms = self.started.elapsed().as_millis(),
                "demo: customers written"
            );
        }
        Ok(())
    }
}

/// One chunk in one transaction, with one audit row that counts what it wrote.
async fn write_chunk(
    app: App,
    backend: Backend,
    audit: AuditEntry,
    customers: Vec<NewCustomer>,
    entries: Vec<NewEntry>,
    docs: Vec<DocRow>,
) -> Chunk {
    let asked = Instant::now();
    let w = app
        .db
        .write(move |c| {
            Box::pin(async move {
                let w = bulk::insert(c, backend, &customers, &entries).await?;
                bulk::search_docs(c, backend, &docs).await?;
                let after = serde_json::json!({
                    "customers": w.customers, "contacts": w.contacts, "addresses": w.addresses,
                    "devices": w.devices, "brand_links": w.brand_links, "timeline": w.timeline,
                    "first_id": customers.first().map(|x| x.id), "last_id": customers.last().map(|x| x.id),
                });
                audit.write(c, None, None, None, Some(after)).await?;
                Ok::<_, Error>(w)
            })
        })
        .await?;
    Ok((w, asked.elapsed().as_millis()))
}

/// The search documents of a chunk's customers and devices, segmented before its write.
fn chunk_search_docs(app: &App, customers: &[NewCustomer]) -> Vec<DocRow> {
    let mut docs = Vec::with_capacity(customers.len() * 2);
    for x in customers {
        let a = x.addresses.first().map(|a| &a.address);
        let source = CustomerSource {
            id: x.id.0,
            kind: x.kind.as_str().into(),
            name: x.name.clone(),
            phone: x.phone.as_ref().map(|p| p.as_str().into()),
            email: x.email.clone(),
            remark: x.remark.clone(),
            status: "active".into(),
            province_code: a.map(|a| a.province.0.clone()),
            city_code: a.map(|a| a.city.0.clone()),
            district_code: a.and_then(|a| a.district.as_ref().map(|d| d.0.clone())),
            updated_at: x.created_at.0,
            address_detail: a.map(|a| a.detail.clone()),
            contacts: x
                .contacts
                .iter()
                .map(|c| {
                    (
                        c.id.0,
                        c.name.clone(),
                        c.phone.as_ref().map(|p| p.as_str().into()),
                    )
                })
                .collect(),
        };
        docs.push(
            search::customer_doc(&app.regions, &source)
                .prepare()
                .into_row(),
        );
        for d in &x.devices {
            docs.push(search::device_draft_doc(d.id.0, x.id, &d.draft, d.at).into_row());
        }
    }
    docs
}

// ---------------------------------------------------------------- organisation and accounts

struct UnitSpec {
    code: &'static str,
    name: &'static str,
    kind: OrgUnitKind,
    function: Option<OrgFunction>,
    city: Option<&'static str>,
}

const fn dept(code: &'static str, name: &'static str, f: OrgFunction) -> UnitSpec {
    UnitSpec {
        code,
        name,
        kind: OrgUnitKind::Department,
        function: Some(f),
        city: None,
    }
}

const fn branch(code: &'static str, name: &'static str, city: &'static str) -> UnitSpec {
    UnitSpec {
        code,
        name,
        kind: OrgUnitKind::Branch,
        function: Some(OrgFunction::Service),
        city: Some(city),
    }
}

/// The head office first: everything else hangs under it.
const UNITS: &[UnitSpec] = &[
    UnitSpec {
        code: "HQ",
        name: "总部",
        kind: OrgUnitKind::Company,
        function: None,
        city: None,
    },
    dept("SVC", "客服中心", OrgFunction::Service),
    dept("QA", "质量部", OrgFunction::Quality),
    dept("PROD", "生产部", OrgFunction::Production),
    dept("LOG", "物流部", OrgFunction::Logistics),
    dept("SUP", "供应部", OrgFunction::Supply),
    dept("FIN", "财务部", OrgFunction::Finance),
    dept("RND", "研发部", OrgFunction::Rnd),
    dept("PARTS", "配件仓", OrgFunction::Warehouse),
    branch("BR-HZ", "杭州分公司", "330100"),
    branch("BR-SH", "上海分公司", "310100"),
    branch("BR-GZ", "广州分公司", "440100"),
    branch("BR-CD", "成都分公司", "510100"),
    branch("BR-WH", "武汉分公司", "420100"),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Link {
    None,
    Brand,
    Dealer,
    Outlet,
    Engineer,
}

struct UserSpec {
    login: &'static str,
    role: Role,
    name: &'static str,
    unit: Option<&'static str>,
    link: Link,
}

const fn user(
    login: &'static str,
    role: Role,
    name: &'static str,
    unit: Option<&'static str>,
    link: Link,
) -> UserSpec {
    UserSpec {
        login,
        role,
        name,
        unit,
        link,
    }
}

/// One account per role. The dealer user comes last: its dealer is written with the ledger.
const USERS: &[UserSpec] = &[
    user("admin", Role::Admin, "周振华", Some("HQ"), Link::None),
    user("manager", Role::Manager, "陈静怡", Some("SVC"), Link::None),
    user("agent", Role::Agent, "李晓萌", Some("SVC"), Link::None),
    user(
        "dispatcher",
        Role::Dispatcher,
        "王志强",
        Some("SVC"),
        Link::None,
    ),
    user(
        "supervisor",
        Role::CitySupervisor,
        "赵立新",
        Some("BR-HZ"),
        Link::None,
    ),
    user(
        "quality",
        Role::DepartmentHandler,
        "孙海燕",
        Some("QA"),
        Link::None,
    ),
    user(
        "owner",
        Role::AccountOwner,
        "刘建军",
        Some("HQ"),
        Link::None,
    ),
    user(
        "remote",
        Role::RemoteSupport,
        "吴昊天",
        Some("SVC"),
        Link::None,
    ),
    user(
        "followup",
        Role::FollowupSpecialist,
        "黄丽娟",
        Some("SVC"),
        Link::None,
    ),
    user(
        "parts",
        Role::PartsWarehouse,
        "马国庆",
        Some("PARTS"),
        Link::None,
    ),
    user(
        "finance",
        Role::SettlementFinance,
        "郑雅琴",
        Some("FIN"),
        Link::None,
    ),
    user(
        "qc",
        Role::QualityChecker,
        "何思雨",
        Some("SVC"),
        Link::None,
    ),
    user("engineer", Role::Engineer, "张建国", None, Link::Engineer),
    user("outlet", Role::OutletAdmin, "杨帆", None, Link::Outlet),
    user("brand", Role::BrandUser, "林清", None, Link::Brand),
    user("dealer", Role::DealerUser, "钱丽华", None, Link::Dealer),
];

/// What the rest of the build needs from the organisation.
struct Setup {
    brands: [BrandId; 3],
    agent: UserId,
    followup: UserId,
    owner: UserId,
}

fn user_draft(u: &UserSpec, unit: Option<OrgUnitId>, links: AccountLinks) -> UserDraft {
    UserDraft {
        login: u.login.into(),
        display_name: u.name.into(),
        phone: None,
        email: None,
        org_unit_id: unit,
        links,
        roles: vec![u.role],
        locale: "zh-CN".into(),
        active: true,
    }
}

fn user_json(d: &UserDraft) -> serde_json::Value {
    serde_json::json!({
        "login": d.login, "display_name": d.display_name, "org_unit_id": d.org_unit_id, "roles": d.roles,
        "brand_id": d.links.brand, "dealer_id": d.links.dealer, "active": d.active, "locale": d.locale,
    })
}

/// Org units, brands and every account but the dealer's, each with its audit row, in one
/// transaction. The password was hashed once, before.
async fn setup(app: &App, ctx: &Ctx, hash: &str) -> Result<Setup> {
    let units: Vec<UnitDraft> = UNITS
        .iter()
        .map(|u| UnitDraft {
            parent_id: None,
            kind: u.kind,
            function: u.function,
            code: u.code.into(),
            name: u.name.into(),
            city_code: u.city.map(str::to_string),
            active: true,
        })
        .collect();
    let unit_audit = audit_entry(ctx, "create", "org_unit");
    let brand_audit = audit_entry(ctx, "create", "brand");
    let user_audit = audit_entry(ctx, "create", "user");
    let hash = hash.to_string();
    app.db
        .write(move |c| {
            Box::pin(async move {
                let at = unit_audit.at;
                let mut unit_ids = Vec::with_capacity(units.len());
                for mut d in units {
                    d.parent_id = unit_ids.first().map(|(_, id)| *id);
                    let id = org::insert_unit(c, &d, at).await?;
                    let after = serde_json::json!({ "code": d.code, "name": d.name, "kind": d.kind, "function": d.function, "parent_id": d.parent_id });
                    unit_audit.write(c, Some(id.0), None, None, Some(after)).await?;
                    unit_ids.push((d.code, id));
                }
                let mut brands = [BrandId(0); 3];
                for (slot, b) in brands.iter_mut().zip(BRANDS) {
                    let id = org::insert_brand(c, b.code, b.name, b.tier, at).await?;
                    let after = serde_json::json!({ "code": b.code, "name": b.name, "tier": b.tier });
                    brand_audit.write(c, Some(id.0), Some(id), None, Some(after)).await?;
                    *slot = id;
                }
                let mut ids = Vec::new();
                for u in USERS.iter().filter(|u| u.link != Link::Dealer) {
                    let unit = u
                        .unit
                        .and_then(|code| unit_ids.iter().find(|(c, _)| c == code).map(|(_, id)| *id));
                    let links = AccountLinks {
                        brand: (u.link == Link::Brand).then_some(brands[0]),
                        dealer: None,
                        outlet: (u.link == Link::Outlet).then_some(OutletId(1)),
                        engineer: (u.link == Link::Engineer).then_some(EngineerId(1)),
                    };
                    let d = user_draft(u, unit, links);
                    let id = users::insert(c, &d, &hash, at).await?;
                    user_audit.write(c, Some(id.0), None, None, Some(user_json(&d))).await?;
                    ids.push((u.login, id));
                }
                let find = |login: &str| {
                    ids.iter()
                        .find(|(l, _)| *l == login)
                        .map(|(_, id)| *id)
                        .ok_or(Error::NotFound)
                };
                Ok(Setup {
                    brands,
                    agent: find("agent")?,
                    followup: find("followup")?,
                    owner: find("owner")?,
                })
            })
        })
        .await
}

async fn add_dealer_user(app: &App, ctx: &Ctx, hash: &str, dealer: CustomerId) -> Result<()> {
    let spec = USERS
        .iter()
        .find(|u| u.link == Link::Dealer)
        .ok_or(Error::NotFound)?;
    let d = user_draft(
        spec,
        None,
        AccountLinks {
            dealer: Some(dealer),
            ..AccountLinks::default()
        },
    );
    let audit = audit_entry(ctx, "create", "user");
    let hash = hash.to_string();
    app.db
        .write(move |c| {
            Box::pin(async move {
                let id = users::insert(c, &d, &hash, audit.at).await?;
                audit
                    .write(c, Some(id.0), None, None, Some(user_json(&d)))
                    .await?;
                Ok(())
            })
        })
        .await
}

// ---------------------------------------------------------------- note categories

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cat {
    Consultation,
    Quality,
    Installation,
    Service,
    Logistics,
    Price,
    Suggestion,
    Sales,
    Other,
}

const CATS: [Cat; 9] = [
    Cat::Consultation,
    Cat::Quality,
    Cat::Installation,
    Cat::Service,
    Cat::Logistics,
    Cat::Price,
    Cat::Suggestion,
    Cat::Sales,
    Cat::Other,
];

impl Cat {
    fn code(self) -> &'static str {
        match self {
            Cat::Consultation => "consultation",
            Cat::Quality => "quality",
            Cat::Installation => "installation",
            Cat::Service => "service",
            Cat::Logistics => "logistics",
            Cat::Price => "price",
            Cat::Suggestion => "suggestion",
            Cat::Sales => "sales",
            Cat::Other => "other",
        }
    }
}

async fn note_categories(app: &App) -> Result<[NoteCategoryId; 9]> {
    let all = app
        .db
        .read(|c| Box::pin(async move { timeline::categories(c).await }))
        .await?;
    let mut out = [NoteCategoryId(0); 9];
    for (slot, cat) in out.iter_mut().zip(CATS) {
        *slot = all
            .iter()
            .find(|c| c.code == cat.code())
            .map(|c| c.id)
            .ok_or_else(|| Error::Conflict(format!("note category {} is missing", cat.code())))?;
    }
    Ok(out)
}

// ---------------------------------------------------------------- catalogue

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Water,
    Door,
    Ac,
    /// Notes about no particular product.
    General,
    Dealer,
}

struct Product {
    category: &'static str,
    model: &'static str,
    weight: u32,
    warranty_months: u32,
}

struct BrandSpec {
    code: &'static str,
    name: &'static str,
    tier: BrandTier,
    /// Serial numbers start with it.
    prefix: &'static str,
    family: Family,
    /// Share of the installed base.
    weight: u32,
    /// Days from purchase to installation: doors are made to measure.
    install_days: (u64, u64),
    shop_kinds: &'static [&'static str],
    products: &'static [Product],
}

const fn product(
    category: &'static str,
    model: &'static str,
    weight: u32,
    warranty_months: u32,
) -> Product {
    Product {
        category,
        model,
        weight,
        warranty_months,
    }
}

/// Fictional brands; the first is the premium client the demo's brand user belongs to.
const BRANDS: [BrandSpec; 3] = [
    BrandSpec {
        code: "QQ",
        name: "清泉净水",
        tier: BrandTier::Premium,
        prefix: "QQ",
        family: Family::Water,
        weight: 45,
        install_days: (1, 5),
        shop_kinds: &["专卖店", "服务中心", "体验店"],
        products: &[
            product("净水器", "QQ-RO500", 45, 24),
            product("净水器", "QQ-RO800G", 25, 24),
            product("前置过滤器", "QQ-QZ40", 20, 12),
            product("管线机", "QQ-GX3", 10, 12),
        ],
    },
    BrandSpec {
        code: "AJ",
        name: "安居门业",
        tier: BrandTier::Standard,
        prefix: "AJ",
        family: Family::Door,
        weight: 25,
        install_days: (7, 21),
        shop_kinds: &["专卖店", "旗舰店", "形象店"],
        products: &[
            product("防盗门", "AJ-M601", 35, 36),
            product("防盗门", "AJ-M702", 15, 36),
            product("木门", "AJ-S305", 35, 24),
            product("木门", "AJ-S310", 15, 24),
        ],
    },
    BrandSpec {
        code: "LF",
        name: "凉风空调",
        tier: BrandTier::Standard,
        prefix: "LF",
        family: Family::Ac,
        weight: 30,
        install_days: (1, 4),
        shop_kinds: &["专营店", "售后服务中心", "专卖店"],
        products: &[
            product("挂机空调", "LF-26GW", 40, 36),
            product("挂机空调", "LF-35GW", 30, 36),
            product("柜机", "LF-72LW", 30, 36),
        ],
    },
];

// ---------------------------------------------------------------- geography

struct CitySpec {
    code: &'static str,
    short: &'static str,
    area_code: &'static str,
    lng: f64,
    lat: f64,
    weight: u32,
    roads: &'static [&'static str],
}

const CITIES: [CitySpec; 5] = [
    CitySpec {
        code: "330100",
        short: "杭州",
        area_code: "0571",
        lng: 120.155,
        lat: 30.274,
        weight: 30,
        roads: &[
            "文三路",
            "文一西路",
            "天目山路",
            "莫干山路",
            "古墩路",
            "教工路",
            "学院路",
            "延安路",
            "庆春路",
            "解放路",
            "江南大道",
            "滨盛路",
            "市心中路",
            "湖墅南路",
            "秋涛路",
            "凤起路",
            "东新路",
            "留和路",
            "丰潭路",
            "西溪路",
        ],
    },
    CitySpec {
        code: "310100",
        short: "上海",
        area_code: "021",
        lng: 121.473,
        lat: 31.230,
        weight: 25,
        roads: &[
            "南京西路",
            "淮海中路",
            "肇嘉浜路",
            "漕溪北路",
            "中山北路",
            "四平路",
            "张杨路",
            "世纪大道",
            "长宁路",
            "虹桥路",
            "共和新路",
            "曹杨路",
            "莲花路",
            "沪太路",
            "浦东南路",
            "龙阳路",
            "控江路",
            "大渡河路",
        ],
    },
    CitySpec {
        code: "440100",
        short: "广州",
        area_code: "020",
        lng: 113.264,
        lat: 23.129,
        weight: 15,
        roads: &[
            "天河路",
            "中山大道",
            "环市东路",
            "东风中路",
            "江南大道",
            "工业大道",
            "广州大道",
            "黄埔大道",
            "解放北路",
            "机场路",
            "番禺大道",
            "新港西路",
            "沙河大街",
            "宝岗大道",
        ],
    },
    CitySpec {
        code: "510100",
        short: "成都",
        area_code: "028",
        lng: 104.066,
        lat: 30.572,
        weight: 15,
        roads: &[
            "人民南路",
            "蜀都大道",
            "天府大道",
            "一环路",
            "建设路",
            "红星路",
            "光华大道",
            "科华北路",
            "双林路",
            "金府路",
            "府青路",
            "玉林路",
            "蜀汉路",
            "交子大道",
        ],
    },
    CitySpec {
        code: "420100",
        short: "武汉",
        area_code: "027",
        lng: 114.305,
        lat: 30.593,
        weight: 15,
        roads: &[
            "解放大道",
            "中山大道",
            "武珞路",
            "珞喻路",
            "雄楚大道",
            "中南路",
            "建设大道",
            "沿江大道",
            "发展大道",
            "光谷大道",
            "民族大道",
            "汉阳大道",
            "友谊大道",
            "和平大道",
        ],
    },
];

const ESTATES: &[&str] = &[
    "阳光花园",
    "翠苑新村",
    "锦绣家园",
    "金色家园",
    "和平小区",
    "幸福里",
    "怡景苑",
    "明珠花园",
    "滨江花苑",
    "紫荆苑",
    "春晓苑",
    "枫林小区",
    "望江新村",
    "丽景湾",
    "书香门第",
    "嘉和苑",
    "宏福小区",
    "碧水华庭",
    "康乐新村",
    "朝阳小区",
    "香樟园",
    "锦华苑",
    "东方名苑",
    "新河湾",
];

const MALLS: &[&str] = &[
    "家居广场",
    "建材市场",
    "装饰城",
    "家居生活馆",
    "建材城",
    "家电广场",
];

struct District {
    code: RegionCode,
    name: String,
    streets: Vec<(RegionCode, String)>,
    weight: u32,
}

struct City {
    spec: &'static CitySpec,
    province: RegionCode,
    code: RegionCode,
    districts: Vec<District>,
}

/// The five cities with their districts and streets, from the GB/T 2260 registry.
struct Geo {
    cities: Vec<City>,
}

impl Geo {
    fn new(app: &App) -> Result<Self> {
        let r = &app.regions;
        let mut cities = Vec::new();
        for spec in &CITIES {
            let city = r
                .get(spec.code)
                .filter(|c| c.level == RegionLevel::City)
                .ok_or_else(|| {
                    Error::Conflict(format!(
                        "region {} is not in the division data (run scripts/assets)",
                        spec.code
                    ))
                })?;
            let province = city
                .parent
                .clone()
                .ok_or_else(|| Error::Conflict(format!("region {} has no province", spec.code)))?;
            let districts: Vec<District> = r
                .children(Some(spec.code))
                .into_iter()
                .map(|d| District {
                    code: d.code.clone(),
                    name: d.name.clone(),
                    streets: r
                        .children(Some(d.code.as_str()))
                        .into_iter()
                        .map(|s| (s.code.clone(), s.name.clone()))
                        .collect(),
                    // Most customers live in the urban districts, fewer in counties.
                    weight: if d.name.ends_with('区') { 3 } else { 1 },
                })
                .collect();
            if districts.is_empty() {
                return Err(Error::Conflict(format!(
                    "region {} has no districts (run scripts/assets)",
                    spec.code
                )));
            }
            cities.push(City {
                spec,
                province,
                code: city.code.clone(),
                districts,
            });
        }
        Ok(Self { cities })
    }
}

// ---------------------------------------------------------------- people

/// Surnames with their approximate frequency per ten thousand people.
const SURNAMES: &[(&str, u32)] = &[
    ("王", 710),
    ("李", 700),
    ("张", 670),
    ("刘", 540),
    ("陈", 450),
    ("杨", 310),
    ("黄", 210),
    ("赵", 200),
    ("吴", 200),
    ("周", 190),
    ("徐", 160),
    ("孙", 150),
    ("马", 140),
    ("朱", 130),
    ("胡", 130),
    ("郭", 120),
    ("何", 120),
    ("林", 110),
    ("罗", 110),
    ("高", 110),
    ("郑", 100),
    ("梁", 90),
    ("谢", 80),
    ("宋", 80),
    ("唐", 80),
    ("许", 70),
    ("韩", 70),
    ("冯", 70),
    ("邓", 70),
    ("曹", 70),
    ("彭", 60),
    ("曾", 60),
    ("肖", 60),
    ("田", 50),
    ("董", 50),
    ("袁", 50),
    ("潘", 50),
    ("于", 50),
    ("蒋", 50),
    ("蔡", 50),
    ("余", 50),
    ("杜", 50),
    ("叶", 40),
    ("程", 40),
    ("苏", 40),
    ("魏", 40),
    ("吕", 40),
    ("丁", 40),
    ("任", 40),
    ("沈", 40),
    ("姚", 40),
    ("卢", 40),
    ("姜", 30),
    ("崔", 30),
    ("钟", 30),
    ("谭", 30),
    ("陆", 30),
    ("汪", 30),
    ("范", 30),
    ("金", 30),
    ("石", 30),
    ("廖", 30),
    ("贾", 30),
    ("夏", 30),
    ("韦", 30),
    ("付", 30),
    ("方", 30),
    ("白", 30),
    ("邹", 30),
    ("孟", 30),
    ("熊", 30),
    ("秦", 30),
    ("邱", 30),
    ("江", 30),
    ("尹", 30),
    ("薛", 30),
    ("闫", 20),
    ("段", 20),
    ("雷", 20),
    ("侯", 20),
    ("龙", 20),
    ("史", 20),
    ("陶", 20),
    ("黎", 20),
    ("贺", 20),
    ("顾", 20),
    ("毛", 20),
    ("郝", 20),
    ("龚", 20),
    ("邵", 20),
    ("万", 20),
    ("钱", 20),
    ("严", 20),
    ("武", 20),
    ("戴", 20),
    ("莫", 20),
    ("孔", 20),
    ("向", 20),
    ("汤", 20),
    ("欧阳", 5),
    ("司马", 1),
    ("诸葛", 1),
];

const MALE: &[&str] = &[
    "伟", "强", "磊", "军", "勇", "杰", "涛", "斌", "超", "明", "刚", "平", "辉", "鹏", "华", "飞",
    "鑫", "波", "宇", "浩", "凯", "健", "俊", "帆", "旭", "宁", "龙", "林", "峰", "建", "国", "文",
    "志", "海", "东", "亮", "成", "兵", "晨", "阳", "博", "翔", "轩", "睿", "泽", "宏", "永", "春",
    "德", "江", "子", "嘉", "振", "立", "新", "家", "荣", "庆",
];

const FEMALE: &[&str] = &[
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "秀", "燕", "玲", "桂", "丹", "萍", "红", "玉",
    "兰", "婷", "雪", "琳", "晶", "倩", "颖", "慧", "莉", "梅", "琴", "云", "洁", "欣", "怡", "佳",
    "璐", "蕾", "薇", "露", "月", "瑶", "雯", "悦", "梦", "婉", "思", "雨", "涵", "晓", "春", "凤",
];

/// Mobile prefixes of the three carriers.
const MOBILE_PREFIXES: &[&str] = &[
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "150", "151", "152",
    "153", "155", "156", "157", "158", "159", "166", "176", "177", "178", "180", "181", "182",
    "183", "184", "185", "186", "187", "188", "189", "191", "198", "199",
];

#[derive(Debug, Clone)]
struct Person {
    surname: &'static str,
    given: String,
    male: bool,
}

impl Person {
    fn name(&self) -> String {
        format!("{}{}", self.surname, self.given)
    }
}

/// Contacts of end customers: mostly family (家人).
const RELATIONS: &[(&str, u32)] = &[
    ("家人", 40),
    ("配偶", 30),
    ("儿子", 10),
    ("女儿", 10),
    ("父亲", 5),
    ("母亲", 5),
];

const REMARKS: &[&str] = &[
    "老客户，家中有老人，上门前请提前电话联系",
    "工作日白天不在家，请约周末上门",
    "小区需登记才能进入，师傅请带工牌",
    "对噪音敏感，施工时请注意",
    "客户只接受下午上门",
    "重点客户，多次复购",
];

// ---------------------------------------------------------------- notes

/// Category weights per family, in the order of `CATS`.
fn cat_weights(f: Family) -> [u32; 9] {
    match f {
        Family::Water => [25, 10, 10, 20, 5, 8, 4, 15, 3],
        Family::Door => [10, 22, 22, 15, 12, 7, 6, 4, 2],
        Family::Ac => [15, 18, 15, 25, 6, 10, 4, 5, 2],
        Family::General => [30, 0, 5, 10, 5, 15, 15, 10, 20],
        Family::Dealer => [15, 12, 8, 10, 15, 12, 8, 15, 5],
    }
}

/// Note bodies per family and category (`CATS` order); `{model}` and `{brand}` are filled in.
fn bodies(f: Family, c: Cat) -> &'static [&'static str] {
    use Cat as C;
    use Family as F;
    match (f, c) {
        (F::Water, C::Consultation) => &[
            "客户来电咨询滤芯更换周期，已告知PP棉3个月一换",
            "咨询{model}出水量变小的原因，已指导客户检查进水阀和前置滤芯",
            "客户询问TDS值比刚装机时偏高，已解释RO膜使用一年后略有升高属正常",
            "客户出差半个月未用水，咨询如何处理，已告知先放水5分钟再饮用",
            "客户询问{model}的废水比，已告知纯废水比为2:1",
        ],
        (F::Water, C::Quality) => &[
            "反馈{model}机器底部渗水，已转质量部并安排师傅上门检查",
            "客户反映净水器增压泵声音大，已记录转质量部跟进",
            "反馈龙头出水有异味，已安排上门冲洗并更换活性炭滤芯",
            "客户反映滤芯提醒灯无法复位，疑似主板故障，已登记转质量部",
        ],
        (F::Water, C::Installation) => &[
            "安装师傅上门准时，客户满意",
            "安装时发现厨下柜空间不足，与客户协商改为侧装",
            "客户家进水压力偏低，安装师傅加装了增压泵",
            "客户要求改约周六上午安装，已通知师傅",
        ],
        (F::Water, C::Service) => &[
            "回访：上门更换滤芯，师傅服务态度好，客户评价非常满意",
            "回访：客户反映师傅未穿鞋套，已向网点反馈并向客户致歉",
            "回访：维修后漏水问题已解决，客户满意",
            "客户投诉维修师傅迟到2小时，已安抚并按标准补偿一支PP棉滤芯",
        ],
        (F::Water, C::Logistics) => &[
            "客户查询滤芯订单物流，已告知预计后天送达",
            "快递外箱破损，滤芯包装完好，客户已签收",
            "客户反映送货前未电话联系，已反馈物流部",
        ],
        (F::Water, C::Price) => &[
            "客户咨询滤芯价格，已报价：PP棉35元/支，RO膜399元/支",
            "客户对过保上门费50元有异议，已解释收费标准并发送价目表",
            "客户咨询以旧换新活动，已告知旧机可抵300元",
        ],
        (F::Water, C::Suggestion) => &[
            "客户建议滤芯到期前能短信提醒",
            "客户希望增加晚上8点以后的上门时段",
        ],
        (F::Water, C::Sales) => &[
            "滤芯到期提醒：客户同意更换全套滤芯，已下单",
            "外呼提醒更换滤芯，客户暂不需要，三个月后再联系",
            "客户有意给父母家再装一台{model}，已转销售跟进",
            "客户咨询升级为{model}，已发送产品介绍",
        ],
        (F::Water, C::Other) => &[
            "客户来电更改联系电话，已更新",
            "客户要求开具发票，已转财务部",
        ],
        (F::Door, C::Consultation) => &[
            "客户咨询{model}锁芯级别，已告知为C级锁芯",
            "客户咨询木门日常保养，已告知避免湿布擦拭、定期打蜡",
            "客户询问防盗门能否加装智能锁，已说明需更换锁体并上门测量",
        ],
        (F::Door, C::Quality) => &[
            "反馈门框与墙体有缝隙，已记录转质量部",
            "客户反映门扇下沉、关门时擦地，已安排师傅上门调整合页",
            "木门表面漆膜起泡，已拍照上传并转质量部判定",
            "反馈防盗门锁芯卡顿、钥匙难拔出，已转质量部",
            "门套线条色差明显，客户要求更换，已登记转质量部",
        ],
        (F::Door, C::Installation) => &[
            "安装师傅上门准时，客户满意",
            "安装后门缝不均匀，已约师傅二次上门调整",
            "测量尺寸与实际洞口不符，需重新下单，已转生产部",
            "安装完成，现场清理干净，客户签字确认",
        ],
        (F::Door, C::Service) => &[
            "回访：门锁维修后使用正常，客户满意",
            "回访：客户反映安装时划伤地板，已协调经销商赔偿",
            "回访：客户对安装质量满意，还推荐了邻居",
        ],
        (F::Door, C::Logistics) => &[
            "到货时门扇包装破损，已拍照留证并转物流部补发",
            "客户查询定制木门交期，已告知生产周期约25天",
            "送货延误两天，已向客户致歉并告知新的送货时间",
        ],
        (F::Door, C::Price) => &[
            "客户咨询更换锁芯费用，已告知过保需收材料费180元",
            "客户对加急生产费用有异议，已转区域经理处理",
        ],
        (F::Door, C::Suggestion) => &[
            "客户建议增加门吸等五金配件的颜色选择",
            "客户希望下单前能提供效果图",
        ],
        (F::Door, C::Sales) => &[
            "客户装修二期，想再订3樘室内门，已转经销商跟进",
            "客户咨询入户门升级智能锁款，已推荐{model}",
        ],
        (F::Door, C::Other) => &["客户来电更改送货地址，已更新"],
        (F::Ac, C::Consultation) => &[
            "客户咨询{model}制热效果，已告知低温时开启电辅热",
            "客户咨询空调清洗周期，建议每年换季前清洗一次",
            "客户询问遥控器显示E1代码，已指导断电重启",
        ],
        (F::Ac, C::Quality) => &[
            "反馈空调不制冷，疑似缺氟，已转质量部并派工检测",
            "客户反映室外机噪音大，已安排师傅上门检查减震垫",
            "室内机漏水，已记录转质量部",
        ],
        (F::Ac, C::Installation) => &[
            "安装师傅上门准时，客户满意",
            "安装需加长铜管2米，已告知客户按收费标准收费",
            "外墙无空调位需高空作业，已改派有资质的师傅",
        ],
        (F::Ac, C::Service) => &[
            "回访：加氟后制冷正常，客户满意",
            "回访：客户投诉师傅收费未出示价目表，核实后退还多收的60元",
            "回访：清洗服务及时，客户评价满意",
        ],
        (F::Ac, C::Logistics) => &[
            "客户查询空调送货时间，已告知明天上午送达",
            "送货时外包装受潮，开箱验机无损坏，客户已签收",
        ],
        (F::Ac, C::Price) => &[
            "客户咨询移机费用，已报价260元（不含加氟）",
            "客户咨询延保价格，已告知三年延保199元",
        ],
        (F::Ac, C::Suggestion) => &["客户建议APP增加定时开关机功能"],
        (F::Ac, C::Sales) => &[
            "客户新房装修，有意再购两台挂机，已转销售跟进",
            "换季清洗外呼，客户预约了下周上门清洗",
        ],
        (F::Ac, C::Other) => &["客户要求补寄说明书，已安排"],
        (F::General, C::Consultation) => &[
            "客户来电咨询服务网点地址，已告知最近的网点",
            "客户咨询400热线服务时间，已告知每天8:00–21:00",
        ],
        (F::General, C::Installation) => &["客户新房尚未交付，登记了预约安装需求"],
        (F::General, C::Service) => &["客户表扬客服接听及时、解答清楚"],
        (F::General, C::Logistics) => &["客户查询订单是否已发货，已告知已出库"],
        (F::General, C::Price) => &["客户咨询上门收费标准，已告知保内免费、保外按价目表收费"],
        (F::General, C::Suggestion) => &["客户建议增加微信预约渠道"],
        (F::General, C::Sales) => &["客户朋友有购买意向，已留联系方式转销售"],
        (F::General, C::Quality | C::Other) => &[
            "客户来电核实身份信息，已更新档案",
            "未接来电回拨，客户表示问题已解决，无需服务",
        ],
        (F::Dealer, C::Consultation) => &[
            "新经销商入驻培训：已讲解{brand}产品价格组成、工艺细节、特殊工艺定货注意事项和售后流程，店长确认已理解",
            "店长咨询特殊规格产品定货注意事项，已发送说明文件并电话确认理解",
        ],
        (F::Dealer, C::Quality) => &[
            "经销商反馈同批次产品色差，已拍照转质量部",
            "经销商反馈终端客户投诉产品质量，已建客诉单转质量部",
        ],
        (F::Dealer, C::Installation) => &["经销商申请安装培训，已安排下周技术员到店"],
        (F::Dealer, C::Service) => &[
            "经销商反馈售后响应慢，已与区域经理沟通改进",
            "例行回访：店长对本季度售后处理结果满意",
        ],
        (F::Dealer, C::Logistics) => &[
            "经销商反馈到货包装破损2件，已转物流部补发",
            "经销商催问订单发货时间，已协调物流部确认",
        ],
        (F::Dealer, C::Price) => &["经销商咨询新品出厂价及促销政策，已转区域经理答复"],
        (F::Dealer, C::Suggestion) => &["经销商建议增加小尺寸规格，已转研发部"],
        (F::Dealer, C::Sales) => &[
            "例行回访：了解本月出货情况，店长反馈旺季备货不足，已转生产部评估",
            "经销商提交下季度订货预估，已转生产部排产",
        ],
        (F::Dealer, C::Other) => &["经销商变更对账联系人，已更新"],
    }
}

const DUPLICATE_NOTE: &str = "客户来电报修，按来电姓名未查到档案，已先新建客户，待核实后合并";

// ---------------------------------------------------------------- the generator

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// A dealer and the brand it sells.
struct DealerRef {
    id: CustomerId,
    brand: usize,
}

/// Who an end customer is, kept for a while so that a later record can duplicate it.
#[derive(Clone)]
struct Original {
    person: Person,
    phone: Phone,
    city: usize,
    address: Address,
    created_at: Timestamp,
}

/// One customer's devices as the notes need them.
struct Owned {
    id: DeviceId,
    brand: usize,
    model: &'static str,
    at: Timestamp,
    /// When it was installed, if that happened while the customer was in the ledger.
    installed: Option<Timestamp>,
}

/// A bijection of 0..modulus that looks random: multiplies by a unit of the ring.
#[derive(Clone, Copy)]
struct Scramble {
    mul: u64,
    add: u64,
    modulus: u64,
}

impl Scramble {
    fn new(rng: &mut StdRng, modulus: u64) -> Self {
        // A multiplier coprime to every modulus used here (their primes are 2, 3 and 5).
        let mut mul = rng.random_range(modulus / 3..modulus) | 1;
        while mul % 3 == 0 || mul % 5 == 0 {
            mul += 2;
        }
        Self {
            mul: mul % modulus,
            add: rng.random_range(0..modulus),
            modulus,
        }
    }
    fn apply(self, k: u64) -> u64 {
        let m = u128::from(self.modulus);
        let v = (u128::from(k) * u128::from(self.mul) + u128::from(self.add)) % m;
        u64::try_from(v).unwrap_or(0)
    }
}

struct Gen<'a> {
    rng: StdRng,
    geo: &'a Geo,
    tz: Tz,
    now: Timestamp,
    today: Date,
    /// Start of today in the organisation's time zone.
    midnight: i64,
    brands: [BrandId; 3],
    cats: [NoteCategoryId; 9],
    agent: UserId,
    followup: UserId,
    owner: UserId,
    next_customer: i64,
    next_contact: i64,
    next_address: i64,
    next_device: i64,
    mobiles: u64,
    mobile_scramble: Scramble,
    landlines: u64,
    landline_scramble: Scramble,
    serials: [u64; 3],
    dealers: Vec<DealerRef>,
    dealers_by_city: Vec<Vec<usize>>,
    dealer_names: HashSet<String>,
    recent: Vec<Original>,
    duplicates: u64,
    individuals: u64,
    dealer_total: u64,
}

impl<'a> Gen<'a> {
    #[allow(clippy::too_many_arguments)]
    fn new(
        app: &App,
        ctx: &Ctx,
        seed: u64,
        geo: &'a Geo,
        setup: &Setup,
        cats: [NoteCategoryId; 9],
        next: bulk::NextIds,
        duplicates: u64,
        individuals: u64,
        dealer_total: u64,
    ) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let tz = app.settings.tz;
        let now = ctx.now();
        let today = now.date_in(tz);
        let midnight = tz
            .from_local_datetime(&today.0.and_time(NaiveTime::MIN))
            .earliest()
            .map_or(now.0 - now.0.rem_euclid(DAY), |d| d.timestamp_millis());
        let mobile_scramble = Scramble::new(&mut rng, MOBILE_PREFIXES.len() as u64 * 100_000_000);
        let landline_scramble = Scramble::new(&mut rng, 40_000_000);
        Self {
            rng,
            geo,
            tz,
            now,
            today,
            midnight,
            brands: setup.brands,
            cats,
            agent: setup.agent,
            followup: setup.followup,
            owner: setup.owner,
            next_customer: next.customer,
            next_contact: next.contact,
            next_address: next.address,
            next_device: next.device,
            mobiles: 0,
            mobile_scramble,
            landlines: 0,
            landline_scramble,
            serials: [0; 3],
            dealers: Vec::new(),
            dealers_by_city: vec![Vec::new(); geo.cities.len()],
            dealer_names: HashSet::new(),
            recent: Vec::new(),
            duplicates,
            individuals,
            dealer_total,
        }
    }

    // ---- randomness helpers

    fn pick<T: Copy>(&mut self, items: &[(T, u32)]) -> T {
        let total: u32 = items.iter().map(|(_, w)| w).sum();
        let mut x = self.rng.random_range(0..total.max(1));
        for (v, w) in items {
            if x < *w {
                return *v;
            }
            x -= w;
        }
        items[items.len() - 1].0
    }

    fn one<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.rng.random_range(0..items.len())]
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    fn weighted_index(&mut self, weights: impl Iterator<Item = u32>) -> usize {
        let items: Vec<(usize, u32)> = weights.enumerate().collect();
        self.pick(&items)
    }

    // ---- time

    /// An instant during business hours (8:00–21:00) `days_ago` days before today, never in
    /// the future.
    fn time_on(&mut self, days_ago: u64) -> Timestamp {
        let days = i64::try_from(days_ago).unwrap_or(0);
        let t = self.midnight - days * DAY + 8 * HOUR + self.rng.random_range(0..13 * HOUR);
        Timestamp(t.min(self.now.0 - MINUTE))
    }

    fn days_ago(&self, days: u64) -> Date {
        Date(self.today.0 - Days::new(days))
    }

    fn days_since(&self, t: Timestamp) -> u64 {
        let d = t.date_in(self.tz);
        u64::try_from((self.today.0 - d.0).num_days()).unwrap_or(0)
    }

    // ---- identities

    fn person(&mut self, male: bool) -> Person {
        let surname = self.pick(SURNAMES);
        let pool = if male { MALE } else { FEMALE };
        let mut given = String::new();
        given.push_str(self.one(pool));
        if self.chance(0.75) {
            given.push_str(self.one(pool));
        }
        Person {
            surname,
            given,
            male,
        }
    }

    fn mobile(&mut self) -> Phone {
        let k = self.mobile_scramble.apply(self.mobiles);
        self.mobiles += 1;
        let n = MOBILE_PREFIXES.len() as u64;
        let prefix = MOBILE_PREFIXES[usize::try_from(k % n).unwrap_or(0)];
        Phone::parse(&format!("{prefix}{:08}", k / n)).expect("a valid mobile number")
    }

    fn landline(&mut self, city: usize) -> Phone {
        let k = self.landline_scramble.apply(self.landlines);
        self.landlines += 1;
        let area = self.geo.cities[city].spec.area_code;
        Phone::parse(&format!("{area}{}", 50_000_000 + k)).expect("a valid landline number")
    }

    fn city(&mut self) -> usize {
        self.weighted_index(CITIES.iter().map(|c| c.weight))
    }

    fn district(&mut self, city: usize) -> usize {
        let geo = self.geo;
        self.weighted_index(geo.cities[city].districts.iter().map(|d| d.weight))
    }

    fn geo_point(&mut self, city: usize) -> Option<GeoPoint> {
        let s = self.geo.cities[city].spec;
        GeoPoint::new(
            s.lng + self.rng.random_range(-0.18..0.18),
            s.lat + self.rng.random_range(-0.12..0.12),
        )
    }

    /// A home address in a district (and street) of the city.
    fn home(&mut self, city: usize, district: usize) -> Address {
        let geo = self.geo;
        let c = &geo.cities[city];
        let d = &c.districts[district];
        let street = (!d.streets.is_empty()).then(|| {
            d.streets[self.rng.random_range(0..d.streets.len())]
                .0
                .clone()
        });
        let road = self.one(c.spec.roads);
        let estate = self.one(ESTATES);
        let no = self.rng.random_range(1..=600);
        let building = self.rng.random_range(1..=30);
        let room = self.rng.random_range(1..=28) * 100 + self.rng.random_range(1..=4);
        let detail = match self.rng.random_range(0..4) {
            0 => format!("{road} {no} 号 {building} 幢 {room} 室"),
            1 => format!(
                "{road} {no} 号 {estate} {building} 幢 {} 单元 {room} 室",
                self.rng.random_range(1..=4)
            ),
            2 => format!("{estate} {building} 栋 {room} 室"),
            _ => format!("{road} {no} 弄 {building} 号 {room} 室"),
        };
        Address {
            province: c.province.clone(),
            city: c.code.clone(),
            district: Some(d.code.clone()),
            street,
            detail,
            geo: self.geo_point(city),
        }
    }

    fn ids(&mut self) -> (CustomerId, AddressId) {
        let c = CustomerId(self.next_customer);
        let a = AddressId(self.next_address);
        self.next_customer += 1;
        self.next_address += 1;
        (c, a)
    }

    fn contact_id(&mut self) -> ContactId {
        let id = ContactId(self.next_contact);
        self.next_contact += 1;
        id
    }

    // ---- dealers

    fn dealers(&mut self, n: usize) -> (Vec<NewCustomer>, Vec<NewEntry>) {
        let mut out = Vec::with_capacity(n);
        let mut entries = Vec::new();
        for _ in 0..n {
            let first = self.dealers.is_empty();
            // The first dealer is the one the demo's dealer account belongs to.
            let (city, brand) = if first {
                (0, 1)
            } else {
                (self.city(), self.pick(&[(0, 40), (1, 40), (2, 20)]))
            };
            let district = if first {
                self.geo.cities[0]
                    .districts
                    .iter()
                    .position(|d| d.name == "西湖区")
                    .unwrap_or(0)
            } else {
                self.district(city)
            };
            let (id, address_id) = self.ids();
            let mut address = self.home(city, district);
            let road = self.one(self.geo.cities[city].spec.roads);
            address.detail = format!(
                "{road} {} 号 {} {} 楼 {}{:02} 号",
                self.rng.random_range(1..=800),
                self.one(MALLS),
                self.rng.random_range(1..=4),
                self.one(&["A", "B", "C"]),
                self.rng.random_range(1..=60)
            );
            let name = self.dealer_name(city, district, brand, &address, first);
            let days = 1460 - 730 * self.dealers.len() as u64 / self.dealer_total.max(1);
            let created_at = self.time_on(days);
            let male = self.chance(0.6);
            let manager = self.person(male);
            let mut contacts = vec![NewContact {
                id: self.contact_id(),
                name: manager.name(),
                phone: Some(self.mobile()),
                title: Some("店长".into()),
            }];
            if self.chance(0.5) {
                let p = self.person(true);
                contacts.push(NewContact {
                    id: self.contact_id(),
                    name: p.name(),
                    phone: Some(self.mobile()),
                    title: Some(self.one(&["安装主管", "售后专员", "财务"]).into()),
                });
            }
            let b = &BRANDS[brand];
            let mut used = Vec::new();
            entries.push(self.entry(
                id,
                None,
                None,
                created_at,
                TimelineKind::Created,
                None,
                Some(self.owner),
                String::new(),
            ));
            for _ in 0..self.rng.random_range(1..=4) {
                let days = self.rng.random_range(0..=730);
                let at = self.time_on(days);
                let cat = self.category(Family::Dealer);
                let body = self.body(Family::Dealer, cat, b.name, "", &mut used);
                entries.push(self.entry(
                    id,
                    None,
                    None,
                    at,
                    TimelineKind::Note,
                    Some(cat),
                    Some(self.owner),
                    body,
                ));
            }
            out.push(NewCustomer {
                id,
                kind: CustomerKind::Dealer,
                name,
                phone: Some(self.landline(city)),
                email: None,
                dealer_id: None,
                owner_user_id: (first || self.chance(0.85)).then_some(self.owner),
                remark: Some(format!("主营{}全系列产品", b.name)),
                created_by: Some(self.owner),
                created_at,
                addresses: vec![NewAddress {
                    id: address_id,
                    label: Some("门店".into()),
                    address,
                }],
                contacts,
                devices: Vec::new(),
            });
            self.dealers_by_city[city].push(self.dealers.len());
            self.dealers.push(DealerRef { id, brand });
        }
        (out, entries)
    }

    fn dealer_name(
        &mut self,
        city: usize,
        district: usize,
        brand: usize,
        address: &Address,
        first: bool,
    ) -> String {
        let geo = self.geo;
        let c = &geo.cities[city];
        let d = &c.districts[district];
        let kind = if first {
            BRANDS[brand].shop_kinds[0]
        } else {
            self.one(BRANDS[brand].shop_kinds)
        };
        let base = format!("{}{}{}{kind}", c.spec.short, d.name, BRANDS[brand].name);
        let mut name = base.clone();
        if self.dealer_names.contains(&name)
            && let Some(street) = address
                .street
                .as_ref()
                .and_then(|s| d.streets.iter().find(|(code, _)| code == s))
        {
            let short = street
                .1
                .trim_end_matches("街道")
                .trim_end_matches('镇')
                .trim_end_matches('乡');
            name = format!("{base}({short}店)");
        }
        let mut n = 2;
        while self.dealer_names.contains(&name) {
            name = format!("{base}({n}号店)");
            n += 1;
        }
        self.dealer_names.insert(name.clone());
        name
    }

    // ---- end customers

    /// Whether the `j`-th end customer is a duplicate: `duplicates` of them, evenly spread.
    fn is_duplicate(&self, j: u64) -> bool {
        let (p, n) = (self.duplicates, self.individuals);
        (j + 1) * p / n > j * p / n
    }

    fn individuals(&mut self, start: u64, n: usize) -> (Vec<NewCustomer>, Vec<NewEntry>) {
        let mut out = Vec::with_capacity(n);
        let mut entries = Vec::with_capacity(n * 6);
        for j in start..start + n as u64 {
            if self.is_duplicate(j) && !self.recent.is_empty() {
                let k = self.rng.random_range(0..self.recent.len());
                let original = self.recent[k].clone();
                self.duplicate(&original, &mut out, &mut entries);
            } else {
                self.individual(j, &mut out, &mut entries);
            }
        }
        (out, entries)
    }

    fn individual(&mut self, j: u64, out: &mut Vec<NewCustomer>, entries: &mut Vec<NewEntry>) {
        let (id, address_id) = self.ids();
        let male = self.chance(0.5);
        let person = self.person(male);
        let phone = self.mobile();
        let city = self.city();
        let district = self.district(city);
        let address = self.home(city, district);
        // Ids follow the order in which customers joined the ledger over the last two years,
        // as they would have; it also keeps the index on created_at an append.
        let created_days = 730 - 730 * j / self.individuals;
        let created_at = self.time_on(created_days);
        let dealer = if self.chance(0.4) && !self.dealers.is_empty() {
            let local = &self.dealers_by_city[city];
            let i = if local.is_empty() {
                self.rng.random_range(0..self.dealers.len())
            } else {
                local[self.rng.random_range(0..local.len())]
            };
            Some(i)
        } else {
            None
        };
        let mut contacts = Vec::new();
        if self.chance(0.3) {
            let relation = self.pick(RELATIONS);
            let mut p = match relation {
                "配偶" => self.person(!person.male),
                "父亲" | "儿子" => self.person(true),
                "母亲" | "女儿" => self.person(false),
                _ => {
                    let male = self.chance(0.5);
                    self.person(male)
                }
            };
            if matches!(relation, "父亲" | "儿子" | "女儿")
                || (relation == "家人" && self.chance(0.5))
            {
                p.surname = person.surname;
            }
            contacts.push(NewContact {
                id: self.contact_id(),
                name: p.name(),
                phone: Some(self.mobile()),
                title: Some(relation.into()),
            });
        }
        entries.push(self.entry(
            id,
            None,
            None,
            created_at,
            TimelineKind::Created,
            None,
            Some(self.agent),
            String::new(),
        ));

        let count = self.pick(&[(1usize, 30), (2, 40), (3, 30)]);
        let mut devices = Vec::with_capacity(count);
        let mut owned: Vec<Owned> = Vec::with_capacity(count);
        for n in 0..count {
            let brand = match (n, dealer) {
                (0, Some(d)) => self.dealers[d].brand,
                (0, None) => self.weighted_index(BRANDS.iter().map(|b| b.weight)),
                _ if self.chance(0.5) => owned[n - 1].brand,
                _ => self.weighted_index(BRANDS.iter().map(|b| b.weight)),
            };
            let via_dealer = n == 0 && dealer.is_some();
            let (dev, product, installed) =
                self.device(brand, via_dealer, address_id, created_at, created_days);
            entries.push(self.entry(
                id,
                Some(dev.id),
                dev.draft.brand_id,
                dev.at,
                TimelineKind::DeviceAdded,
                None,
                Some(self.agent),
                format!("{} {}", product.category, product.model),
            ));
            owned.push(Owned {
                id: dev.id,
                brand,
                model: product.model,
                at: dev.at,
                installed,
            });
            devices.push(dev);
        }

        let mut used = Vec::new();
        for _ in 0..self.rng.random_range(0..=5) {
            let days = self.rng.random_range(0..=created_days);
            let mut at = Timestamp(self.time_on(days).0.max(created_at.0 + MINUTE));
            let candidates: Vec<usize> = (0..owned.len()).filter(|&k| owned[k].at <= at).collect();
            let on = (!candidates.is_empty() && self.chance(0.8))
                .then(|| candidates[self.rng.random_range(0..candidates.len())]);
            let (family, device, brand, model) = match on {
                Some(k) => {
                    let o = &owned[k];
                    (
                        BRANDS[o.brand].family,
                        Some(o),
                        Some(self.brands[o.brand]),
                        o.model,
                    )
                }
                None => (Family::General, None, None, ""),
            };
            let mut cat = self.category(family);
            // Installation and delivery notes belong to the days of the installation; a
            // product installed before the customer was in the ledger gets a service note.
            let early = match cat {
                Cat::Installation => family != Family::General,
                Cat::Logistics => matches!(family, Family::Door | Family::Ac),
                _ => false,
            };
            if early {
                match device.and_then(|o| o.installed) {
                    Some(t) => {
                        at = Timestamp(
                            (t.0 + self.rng.random_range(HOUR..2 * DAY)).min(self.now.0 - MINUTE),
                        );
                    }
                    None => cat = Cat::Service,
                }
            }
            let body = self.body(family, cat, "", model, &mut used);
            let author = self.author(cat);
            entries.push(self.entry(
                id,
                device.map(|o| o.id),
                brand,
                at,
                TimelineKind::Note,
                Some(cat),
                Some(author),
                body,
            ));
        }

        let remark = self.chance(0.05).then(|| self.one(REMARKS).to_string());
        self.remember(Original {
            person: person.clone(),
            phone: phone.clone(),
            city,
            address: address.clone(),
            created_at,
        });
        out.push(NewCustomer {
            id,
            kind: CustomerKind::Individual,
            name: person.name(),
            phone: Some(phone),
            email: None,
            dealer_id: dealer.map(|d| self.dealers[d].id),
            owner_user_id: None,
            remark,
            created_by: Some(self.agent),
            created_at,
            addresses: vec![NewAddress {
                id: address_id,
                label: Some("家".into()),
                address,
            }],
            contacts,
            devices,
        });
    }

    fn remember(&mut self, o: Original) {
        const KEEP: usize = 64;
        if self.recent.len() == KEEP {
            let k = self.rng.random_range(0..KEEP);
            self.recent[k] = o;
        } else {
            self.recent.push(o);
        }
    }

    /// Somebody already in the ledger calls in under another form of their name; the agent
    /// does not find them and creates them again (`allow_duplicate`): work for the merge page.
    fn duplicate(&mut self, o: &Original, out: &mut Vec<NewCustomer>, entries: &mut Vec<NewEntry>) {
        let (id, address_id) = self.ids();
        let p = &o.person;
        let name = match self.rng.random_range(0..4) {
            0 => format!("{}(老客户)", p.name()),
            1 => format!("{}{}", p.surname, if p.male { "先生" } else { "女士" }),
            2 => format!("{} {}", p.surname, p.given),
            _ => {
                let pool = if p.male { MALE } else { FEMALE };
                let mut given: String = p
                    .given
                    .chars()
                    .take(p.given.chars().count().saturating_sub(1))
                    .collect();
                given.push_str(self.one(pool));
                format!("{}{given}", p.surname)
            }
        };
        // The customer calls again within two months.
        let since = self.days_since(o.created_at);
        let days = since - self.rng.random_range(0..=since.min(60));
        let created_at = Timestamp(
            self.time_on(days)
                .0
                .max(o.created_at.0 + HOUR)
                .min(self.now.0 - MINUTE),
        );
        let address = if self.chance(0.5) {
            o.address.clone()
        } else {
            let d = self.district(o.city);
            self.home(o.city, d)
        };
        entries.push(self.entry(
            id,
            None,
            None,
            created_at,
            TimelineKind::Created,
            None,
            Some(self.agent),
            String::new(),
        ));
        entries.push(self.entry(
            id,
            None,
            None,
            Timestamp(created_at.0 + 2 * MINUTE),
            TimelineKind::Note,
            Some(Cat::Other),
            Some(self.agent),
            DUPLICATE_NOTE.into(),
        ));
        out.push(NewCustomer {
            id,
            kind: CustomerKind::Individual,
            name,
            phone: Some(o.phone.clone()),
            email: None,
            dealer_id: None,
            owner_user_id: None,
            remark: None,
            created_by: Some(self.agent),
            created_at,
            addresses: vec![NewAddress {
                id: address_id,
                label: Some("家".into()),
                address,
            }],
            contacts: Vec::new(),
            devices: Vec::new(),
        });
    }

    /// A product of `brand`, bought 0–4 years ago, registered when the customer was created or,
    /// if bought later, when it was installed.
    fn device(
        &mut self,
        brand: usize,
        via_dealer: bool,
        address: AddressId,
        customer_created: Timestamp,
        customer_days: u64,
    ) -> (NewDevice, &'static Product, Option<Timestamp>) {
        let b = &BRANDS[brand];
        let p = {
            let items: Vec<(usize, u32)> =
                b.products.iter().map(|p| p.weight).enumerate().collect();
            &b.products[self.pick(&items)]
        };
        let bought_days = self.rng.random_range(0..=4 * 365);
        let purchase = self.days_ago(bought_days);
        let production = Date(purchase.0 - Days::new(self.rng.random_range(20..=180)));
        let install_after = self.rng.random_range(b.install_days.0..=b.install_days.1);
        let install =
            (install_after <= bought_days).then(|| Date(purchase.0 + Days::new(install_after)));
        let (at, installed) = match install {
            Some(_) if bought_days - install_after < customer_days => {
                let t = self.time_on(bought_days - install_after);
                (t, Some(t))
            }
            None if bought_days < customer_days => (self.time_on(bought_days), None),
            _ => (
                Timestamp(customer_created.0 + self.rng.random_range(2..30) * MINUTE),
                None,
            ),
        };
        let at = Timestamp(at.0.max(customer_created.0 + MINUTE).min(self.now.0));
        let installed = installed.map(|_| at);
        let channel = if via_dealer {
            PurchaseChannel::Dealer
        } else {
            self.pick(&[
                (PurchaseChannel::Online, 45),
                (PurchaseChannel::Store, 30),
                (PurchaseChannel::Dealer, 10),
                (
                    PurchaseChannel::Project,
                    if b.family == Family::Door { 10 } else { 3 },
                ),
                (PurchaseChannel::Other, 5),
            ])
        };
        // Brand, production month and the brand's running number: serials of one month sort
        // together, as on a production line.
        self.serials[brand] += 1;
        let seq = self.serials[brand];
        let serial = format!(
            "{}{:02}{:02}{seq:08}",
            b.prefix,
            production.0.year() % 100,
            production.0.month()
        );
        let fitter = install.map(|_| {
            let male = self.chance(0.92);
            let p = self.person(male);
            p.name()
        });
        let id = DeviceId(self.next_device);
        self.next_device += 1;
        let dev = NewDevice {
            id,
            draft: DeviceDraft {
                brand_id: Some(self.brands[brand]),
                category: p.category.into(),
                model: p.model.into(),
                serial: Some(serial),
                production_date: Some(production),
                purchase_date: Some(purchase),
                purchase_channel: Some(channel),
                install_date: install,
                installer: fitter,
                warranty_end: Some(purchase.plus_months(p.warranty_months)),
                address_id: Some(address),
            },
            at,
        };
        (dev, p, installed)
    }

    // ---- notes

    fn category(&mut self, f: Family) -> Cat {
        let w = cat_weights(f);
        let items: Vec<(Cat, u32)> = CATS.iter().copied().zip(w).collect();
        self.pick(&items)
    }

    /// A note body not yet `used` on this customer's timeline if one is left.
    fn body(
        &mut self,
        f: Family,
        c: Cat,
        brand: &str,
        model: &str,
        used: &mut Vec<&'static str>,
    ) -> String {
        let all = bodies(f, c);
        let mut t = self.one(all);
        for _ in 0..3 {
            if !used.contains(&t) {
                break;
            }
            t = self.one(all);
        }
        used.push(t);
        t.replace("{model}", model).replace("{brand}", brand)
    }

    fn author(&mut self, c: Cat) -> UserId {
        let followup = match c {
            Cat::Service => 0.7,
            Cat::Sales => 0.5,
            _ => 0.2,
        };
        if self.chance(followup) {
            self.followup
        } else {
            self.agent
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn entry(
        &self,
        customer: CustomerId,
        device: Option<DeviceId>,
        brand: Option<BrandId>,
        at: Timestamp,
        kind: TimelineKind,
        cat: Option<Cat>,
        author: Option<UserId>,
        body: String,
    ) -> NewEntry {
        NewEntry {
            customer_id: customer,
            device_id: device,
            brand_id: brand,
            at,
            kind,
            category_id: cat.and_then(|c| CATS.iter().position(|x| *x == c).map(|i| self.cats[i])),
            author_id: author,
            body,
        }
    }
}

// ---------------------------------------------------------------- search benchmark documents

/// Ticket-like search documents per write transaction.
const SEARCH_CHUNK: usize = 2000;

const SEARCH_PRODUCTS: &[&str] = &[
    "冰箱",
    "空调",
    "洗衣机",
    "热水器",
    "净水器",
    "油烟机",
    "燃气灶",
    "洗碗机",
    "电视",
    "空气净化器",
    "新风系统",
    "地暖",
    "防盗门",
    "智能门锁",
    "扫地机器人",
];
const SEARCH_FAULTS: &[&str] = &[
    "漏水",
    "不制冷",
    "不制热",
    "噪音大",
    "无法开机",
    "显示故障代码E1",
    "异味",
    "漏电",
    "滴水",
    "不出水",
    "遥控失灵",
    "结冰",
    "温度不稳定",
    "振动",
    "门关不上",
    "指示灯闪烁",
    "耗电异常",
];
const SEARCH_ASKS: &[&str] = &[
    "请尽快安排师傅上门维修",
    "客户要求更换新机",
    "已远程指导,问题未解决",
    "要求退货退款",
    "配件已寄出,等待安装",
    "客户情绪激动,投诉处理慢",
    "保修期内免费维修",
    "预约明天上午上门",
    "已催单两次",
    "需要确认购买凭证",
];
const SEARCH_PLACES: &[&str] = &[
    "北京市海淀区",
    "上海市浦东新区",
    "杭州市西湖区",
    "广州市天河区",
    "成都市武侯区",
    "武汉市洪山区",
    "深圳市南山区",
    "南京市鼓楼区",
];
const SEARCH_STATUSES: &[&str] = &["open", "in_progress", "waiting", "resolved", "closed"];
const SEARCH_KINDS: &[&str] = &["repair", "complaint", "consultation", "install"];

/// Adds `n` ticket-like search documents with Chinese text (product, fault, request, place,
/// an English model) for the search benchmark (`kefu demo --search-docs N`), in chunks; ids
/// follow the largest ticket document id. They belong to existing customers (the first 1,000
/// by id, or none) and to the demo's brands, so scoped searches have something to find.
pub async fn search_docs(app: &App, ctx: &Ctx, n: u64, seed: u64) -> Result<u64> {
    let backend = app.db.backend();
    let (first, customers, brands) = app
        .db
        .read(|c| {
            Box::pin(async move {
                let first = store::search::max_doc_id(c, store::search::DocKind::Ticket).await? + 1;
                let customers: Vec<i64> = store::search::customer_sources(c, 0, 1000)
                    .await?
                    .into_iter()
                    .map(|s| s.id)
                    .collect();
                let brands: Vec<BrandId> =
                    org::brands(c).await?.into_iter().map(|b| b.id).collect();
                Ok::<_, Error>((first, customers, brands))
            })
        })
        .await?;
    let mut rng = StdRng::seed_from_u64(seed ^ 0x005E_A2C4);
    let pick = |rng: &mut StdRng, list: &[&'static str]| list[rng.random_range(0..list.len())];
    let at = ctx.now().0;
    let mut made = 0u64;
    let mut pending: Option<tokio::task::JoinHandle<Result<u64>>> = None;
    while made < n {
        let k = usize::try_from(n - made).map_or(SEARCH_CHUNK, |l| l.min(SEARCH_CHUNK));
        let docs: Vec<DocRow> = (0..k)
            .map(|i| {
                let id = first + i64::try_from(made).unwrap_or(0) + i64::try_from(i).unwrap_or(0);
                let (product, fault) = (
                    pick(&mut rng, SEARCH_PRODUCTS),
                    pick(&mut rng, SEARCH_FAULTS),
                );
                let body = format!(
                    "客户反映{product}{fault},{}。地址:{}{}号。型号 KF{}-{}W,编号 SN{:08}。",
                    pick(&mut rng, SEARCH_ASKS),
                    pick(&mut rng, SEARCH_PLACES),
                    rng.random_range(1..300),
                    rng.random_range(10..99),
                    rng.random_range(20..80),
                    id
                );
                search::Doc {
                    kind: search::DocKind::Ticket,
                    id,
                    brand_id: (!brands.is_empty())
                        .then(|| brands[rng.random_range(0..brands.len())]),
                    customer_id: (!customers.is_empty())
                        .then(|| CustomerId(customers[rng.random_range(0..customers.len())])),
                    title: format!("{product}{fault}"),
                    body,
                    keys: vec![format!("TK{id:08}")],
                    status: Some(pick(&mut rng, SEARCH_STATUSES).into()),
                    sub_kind: Some(pick(&mut rng, SEARCH_KINDS).into()),
                    at: Timestamp(at - rng.random_range(0..365 * 86_400_000)),
                }
                .prepare()
                .into_row()
            })
            .collect();
        if let Some(h) = pending.take() {
            h.await
                .map_err(|e| Error::Conflict(format!("search documents stopped: {e}")))??;
        }
        let a = app.clone();
        pending = Some(tokio::spawn(async move {
            let len = docs.len() as u64;
            a.db.write(move |c| {
                Box::pin(async move { Ok::<_, Error>(bulk::search_docs(c, backend, &docs).await?) })
            })
            .await?;
            Ok(len)
        }));
        made += k as u64;
        if made % 100_000 < k as u64 {
            tracing::info!(documents = made, "demo: search documents written");
        }
    }
    if let Some(h) = pending {
        h.await
            .map_err(|e| Error::Conflict(format!("search documents stopped: {e}")))??;
    }
    Ok(made)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::{Arc, Mutex};

    use domain::Scope;

    use super::*;
    use crate::auth::Principal;
    use crate::ledger::{self, CustomerFilter, CustomerView};
    use crate::{Clock, FixedClock, Settings};

    /// 2026-11-23 09:00 in Shanghai.
    const MONDAY_9AM: Timestamp = Timestamp(1_795_395_600_000);
    const SMALL: DemoOptions = DemoOptions {
        customers: 200,
        seed: 7,
    };

    fn world(db: store::Db) -> (App, Arc<dyn Clock>, Ctx) {
        let app = App::new(db, Arc::new(testkit::regions()), Settings::default());
        let clock: Arc<dyn Clock> = Arc::new(FixedClock::at(MONDAY_9AM));
        let sys = Ctx::system("demo", clock.clone());
        (app, clock, sys)
    }

    async fn sign_in(app: &App, clock: &Arc<dyn Clock>, login: &str) -> Ctx {
        let s = crate::auth::login(app, clock, login, PASSWORD, "10.0.0.1")
            .await
            .unwrap_or_else(|e| panic!("login {login}: {e}"));
        Principal::of_user(s.user, None).expect("principal").ctx(
            clock.clone(),
            "req".into(),
            "zh-CN".into(),
        )
    }

    /// Every customer `ctx` can list, oldest first.
    async fn everyone(app: &App, ctx: &Ctx) -> Vec<CustomerView> {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page = ledger::list_customers(
                app,
                ctx,
                CustomerFilter {
                    cursor: cursor.take(),
                    limit: Some(200),
                    ..CustomerFilter::default()
                },
            )
            .await
            .expect("list customers");
            out.extend(page.items);
            match page.next {
                Some(c) => cursor = Some(c.encode()),
                None => break,
            }
        }
        out.reverse();
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_demo_for_every_role_on_both_backends() {
        let firsts: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
        testkit::each_backend(|db, which| {
            let firsts = firsts.clone();
            async move {
                let (app, clock, sys) = world(db);
                let r = build(&app, &sys, &SMALL)
                    .await
                    .unwrap_or_else(|e| panic!("{which:?}: demo: {e}"));

                // What the report says is what the database holds.
                let n = app
                    .db
                    .read(|c| Box::pin(async move { bulk::counts(c).await }))
                    .await
                    .expect("counts");
                assert_eq!(r.customers, 200, "{which:?}");
                assert_eq!(n.customers, r.customers, "{which:?}");
                assert_eq!(n.devices, r.devices, "{which:?}");
                assert_eq!(n.timeline, r.timeline, "{which:?}");
                assert!(
                    (300..=500).contains(&r.devices),
                    "{which:?}: {} devices",
                    r.devices
                );
                assert!(
                    (900..=1400).contains(&r.timeline),
                    "{which:?}: {} entries",
                    r.timeline
                );
                assert!(n.contacts > 50 && n.brand_links > 200, "{which:?}: {n:?}");
                let roles: BTreeSet<&str> =
                    r.users.iter().map(|(_, role, _)| role.as_str()).collect();
                assert_eq!(roles.len(), Role::ALL.len(), "{which:?}: one user per role");
                assert_eq!(r.password, "kefu-demo");

                // Once is enough.
                let again = build(&app, &sys, &SMALL).await;
                assert!(
                    matches!(again, Err(Error::Conflict(_))),
                    "{which:?}: {again:?}"
                );

                let admin = sign_in(&app, &clock, "admin").await;
                let brand = sign_in(&app, &clock, "brand").await;
                let dealer = sign_in(&app, &clock, "dealer").await;

                let all = everyone(&app, &admin).await;
                assert_eq!(all.len(), 200, "{which:?}");
                let dealers = all.iter().filter(|c| c.kind == "dealer").count();
                assert_eq!(dealers, 5, "{which:?}");
                assert_eq!(all[0].name, "杭州西湖区安居门业专卖店", "{which:?}");
                assert!(
                    all.iter()
                        .all(|c| !c.region.is_empty() && c.phone.is_some()),
                    "{which:?}"
                );

                // The merge page has work.
                let dups = ledger::duplicates(&app, &admin).await.expect("duplicates");
                assert!(
                    dups.len() >= 3,
                    "{which:?}: {} duplicate groups",
                    dups.len()
                );
                assert!(dups.iter().all(|g| g.customers.len() == 2), "{which:?}");

                // The brand sees exactly the customers owning one of its devices, and of
                // those only its own devices and timeline.
                let qq = crate::admin::brands(&app, &admin)
                    .await
                    .expect("brands")
                    .into_iter()
                    .find(|b| b.code == "QQ")
                    .expect("清泉净水")
                    .id;
                assert_eq!(brand.scope, Scope::Brands(BTreeSet::from([qq])));
                let mut owners = BTreeSet::new();
                for c in &all {
                    let o = ledger::overview(&app, &admin, CustomerId(c.id))
                        .await
                        .expect("overview");
                    if o.devices.iter().any(|d| d.brand_id == Some(qq.0)) {
                        owners.insert(c.id);
                    }
                }
                let seen = everyone(&app, &brand).await;
                let seen_ids: BTreeSet<i64> = seen.iter().map(|c| c.id).collect();
                assert_eq!(seen_ids, owners, "{which:?}");
                assert!(!owners.is_empty() && owners.len() < all.len(), "{which:?}");
                assert!(seen.iter().all(|c| c.phone_masked), "{which:?}");
                let o = ledger::overview(&app, &brand, CustomerId(seen[0].id))
                    .await
                    .expect("overview");
                let mine: BTreeSet<i64> = o.devices.iter().map(|d| d.id).collect();
                assert!(
                    o.devices.iter().all(|d| d.brand_id == Some(qq.0)),
                    "{which:?}"
                );
                assert!(
                    o.timeline
                        .iter()
                        .all(|e| e.device_id.is_some_and(|d| mine.contains(&d))),
                    "{which:?}"
                );

                // The dealer sees itself and the customers it serves.
                let served = everyone(&app, &dealer).await;
                let me = all[0].id;
                assert!(served.len() > 3, "{which:?}: {}", served.len());
                assert!(
                    served.iter().all(|c| c.id == me || c.dealer_id == Some(me)),
                    "{which:?}"
                );

                // Ids chosen by the import leave room for ordinary creates (PostgreSQL's
                // identity sequences were moved past them).
                let added = ledger::create_customer(
                    &app,
                    &admin,
                    ledger::CustomerInput {
                        kind: "individual".into(),
                        name: "新客户".into(),
                        phone: Some("13900000001".into()),
                        contacts: vec![ledger::ContactInput {
                            name: "家人".into(),
                            phone: Some("13900000002".into()),
                            ..ledger::ContactInput::default()
                        }],
                        address: Some(ledger::AddressInput {
                            province_code: "330000".into(),
                            city_code: "330100".into(),
                            district_code: Some("330106".into()),
                            detail: "文三路 1 号".into(),
                            ..ledger::AddressInput::default()
                        }),
                        ..ledger::CustomerInput::default()
                    },
                )
                .await
                .unwrap_or_else(|e| panic!("{which:?}: create after demo: {e}"))
                .id;
                assert!(added.0 > 200, "{which:?}");
                ledger::add_device(
                    &app,
                    &admin,
                    added,
                    ledger::DeviceInput {
                        brand_id: Some(qq.0),
                        category: "净水器".into(),
                        model: "QQ-RO500".into(),
                        ..ledger::DeviceInput::default()
                    },
                )
                .await
                .unwrap_or_else(|e| panic!("{which:?}: add device after demo: {e}"));

                // One audit row per chunk, none per row.
                let audit = crate::admin::audit_log(
                    &app,
                    &admin,
                    store::audit::AuditQuery {
                        action: Some("demo_import".into()),
                        limit: 200,
                        ..store::audit::AuditQuery::default()
                    },
                )
                .await
                .expect("audit");
                assert_eq!(audit.items.len(), 2, "{which:?}: dealers and end customers");

                let names = all
                    .iter()
                    .skip(5)
                    .take(10)
                    .map(|c| c.name.clone())
                    .collect();
                firsts.lock().expect("lock").push(names);
            }
        })
        .await;
        let firsts = firsts.lock().expect("lock");
        assert!(firsts.windows(2).all(|w| w[0] == w[1]), "{firsts:?}");
    }

    async fn first_customers(seed: u64) -> Vec<(String, Option<String>, String)> {
        let t = testkit::TestDb::sqlite().await;
        let (app, _, sys) = world(t.db.clone());
        build(&app, &sys, &DemoOptions { seed, ..SMALL })
            .await
            .expect("demo");
        let out = everyone(&app, &sys)
            .await
            .into_iter()
            .take(30)
            .map(|c| (c.name, c.phone, c.region))
            .collect();
        t.finish().await;
        out
    }

    #[tokio::test]
    async fn the_same_seed_builds_the_same_demo() {
        let a = first_customers(7).await;
        assert_eq!(a, first_customers(7).await);
        assert_ne!(a, first_customers(8).await);
    }

    #[test]
    fn scrambles_are_bijections() {
        let mut rng = StdRng::seed_from_u64(1);
        for m in [36_000u64, 40_000, 10_000] {
            let s = Scramble::new(&mut rng, m);
            let seen: HashSet<u64> = (0..m).map(|k| s.apply(k)).collect();
            assert_eq!(seen.len() as u64, m);
        }
    }
}
