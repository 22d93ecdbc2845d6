//! The service desk's pages (受理单): the queues with their counts, the new-ticket form with the
//! caller looked up as the number is typed, the ticket page with its plan, history, messages,
//! complaint facts, compensation and 差评回访 and exactly the actions the user may take now, and
//! the monthly complaint report. Outside parties (dealers, brands) see the same pages as "my
//! requests", without the staff-only parts.

use app::desk_pickers::{self, Choice};
use app::ledger::{self, CustomerFilter, CustomerView};
use app::tickets::{
    self, ActionInput, CompensationInput, CostShareInput, MessageInput, QueueCounts, ReviewInput,
    ReviewOutcomeInput, TicketInput, TicketListInput, TicketSummary, TicketView,
};
use app::{Error, IdemKey};
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{FromRequest, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::TimeZone;
use domain::{CustomerId, Money, Permission, Phone, Role, Scope, TicketId};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::chrome::{
    Chrome, FormData, FormState, OrPage, PageCtx, PageError, query_string, refused, try_tr,
};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tickets", get(list).post(create))
        .route("/tickets/new", get(new_form))
        .route("/tickets/caller", get(caller))
        .route("/tickets/{id}", get(show))
        .route("/tickets/{id}/act", post(act))
        .route(
            "/tickets/{id}/messages",
            // The composer may carry a file: `limit_body` caps it, not axum's default.
            post(message).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/tickets/{id}/compensations", post(propose))
        .route(
            "/tickets/{id}/compensations/{comp}",
            post(compensation_step),
        )
        .route("/tickets/{id}/review", post(record_review))
        .route("/tickets/{id}/review/outcome", post(review_outcome))
        .route("/tickets/{id}/status-link", post(status_link))
        .route("/reports/complaints", get(report))
}

/// Exact English phrases the ticket use cases put on fields and conflicts → `fieldmsg.*` keys
/// (looked up together with `chrome::FIELD_MESSAGES`).
pub const MESSAGES: &[(&str, &str)] = &[
    ("only complaints have a category", "category_not_complaint"),
    ("unknown department", "unknown_department"),
    ("not an active department", "inactive_department"),
    ("must lie in the future", "in_future"),
    (
        "this department already has a part in the plan",
        "part_repeated",
    ),
    ("this department has no part in the plan", "no_part"),
    ("this part is already signed", "part_signed"),
    ("unknown user", "unknown_user"),
    ("this user cannot work on tickets", "not_a_worker"),
    ("unknown ticket", "unknown_ticket"),
    ("the target ticket is not open", "target_closed"),
    ("unknown party", "unknown_party"),
    ("a share must be between 1 and 100 percent", "share_range"),
    ("must be more than 0", "positive"),
    (
        "more than 1,000,000 yuan needs a contract, not a compensation record",
        "too_much",
    ),
    ("1 to 5", "rating_range"),
    ("name one of your brands", "brand_choose"),
    ("unknown requester", "unknown_requester"),
    ("belongs to another customer", "device_other_customer"),
    ("at most 50 parts", "too_many_parts"),
    ("a part name is at most 200 characters", "part_too_long"),
    ("a date and time", "datetime_invalid"),
    ("an amount in yuan, e.g. 200 or 199.50", "amount_invalid"),
    ("a whole percent", "percent_invalid"),
    (
        "compensation is recorded on complaints",
        "compensation_complaints",
    ),
    ("the complaint is no longer open", "complaint_closed"),
    (
        "a negative review is recorded on a complaint ticket",
        "review_complaints",
    ),
    ("this ticket already has a review record", "review_exists"),
    ("you do not belong to a department", "no_department"),
    (
        "no active service department (function 'service') to receive tickets; create one under Admin → Org units",
        "no_service_department",
    ),
];

/// The codes of the ticket enums, for selects and labels (`ticket.<group>.<code>` keys).
pub const KINDS: &[&str] = &[
    "consultation",
    "complaint",
    "repair_request",
    "installation_request",
    "return_exchange",
    "suggestion",
];
pub const STATUSES: &[&str] = &[
    "open",
    "routed",
    "accepted",
    "plan_signed",
    "plan_returned",
    "in_progress",
    "waiting_on_customer",
    "resolved",
    "confirmed",
    "closed",
    "merged",
    "cancelled",
];
pub const PRIORITIES: &[&str] = &["low", "normal", "high", "urgent"];
/// Channels a desk user records a ticket from by hand.
pub const DESK_CHANNELS: &[&str] = &["phone", "walk_in", "wechat", "email", "web_form"];
pub const CATEGORIES: &[&str] = &[
    "express_delivery",
    "shipping",
    "service_attitude",
    "product",
    "product_quality",
    "engineer_conduct",
    "hotline",
];
pub const LIABILITIES: &[&str] = &[
    "product_defect",
    "dealer",
    "logistics",
    "installation",
    "customer_misuse",
    "undetermined",
];
pub const REMEDIES: &[&str] = &["resend_parts", "repair", "remake"];
pub const PAYERS: &[&str] = &["company", "manufacturer", "insurer"];
/// Every action of `ActionInput`, for labels and flash messages.
pub const ACTIONS: &[&str] = &[
    "route",
    "transfer",
    "accept",
    "add_plan_part",
    "sign_part",
    "sign_plan",
    "return_plan",
    "inform_requester",
    "wait_for_customer",
    "customer_responded",
    "resolve",
    "solved_remotely",
    "convert_for_field",
    "confirm",
    "close",
    "reopen",
    "reassign",
    "merge_into",
    "cancel",
    "urge",
    "set_complaint",
];
/// How many cost-share rows the complaint form offers.
const SHARE_ROWS: usize = 3;

fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

/// A file size for people: 532 B, 12.5 KB, 3.2 MB.
#[allow(clippy::trivially_copy_pass_by_ref)] // askama passes arguments by reference
pub fn human_size(bytes: &i64) -> String {
    #[allow(clippy::cast_precision_loss)] // one decimal shown
    let b = *bytes as f64;
    if *bytes < 1024 {
        format!("{bytes} B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.1} KB", b / 1024.0)
    } else {
        format!("{:.1} MB", b / (1024.0 * 1024.0))
    }
}

/// A content type's short name (JPEG, PDF, docx …).
pub fn type_label(content_type: &str) -> &str {
    app::attachments::ALLOWED
        .iter()
        .find(|(ct, _)| *ct == content_type)
        .map_or(content_type, |(_, what)| what)
}

/// Whether an attachment is shown as a small picture.
pub fn is_image(content_type: &str) -> bool {
    app::attachments::is_image(content_type)
}

/// "2026-11-30T18:00:00.000+08:00" (already in the organisation's zone) → "2026-11-30 18:00".
pub fn short_time(rfc3339: &str) -> String {
    rfc3339.get(..16).unwrap_or(rfc3339).replace('T', " ")
}

/// Fen as yuan for people: 20000 → "¥200.00".
pub fn yuan(fen: i64) -> String {
    format!("¥{}", Money::fen(fen))
}

/// The action that moves the ticket on (shown as the primary button).
pub fn is_primary(action: &str) -> bool {
    matches!(
        action,
        "accept" | "sign_plan" | "return_plan" | "inform_requester" | "resolve" | "confirm"
    )
}

/// Whether the user is an outside party (dealer, brand): "my requests", no staff-only parts.
fn outside(pc: &PageCtx) -> bool {
    !matches!(pc.ctx.scope, Scope::All)
}

// ---------------------------------------------------------------- the queues

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    queue: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
}

/// One queue tab.
#[derive(Debug, Clone)]
pub struct Tab {
    pub code: &'static str,
    pub label: String,
    pub count: Option<i64>,
    pub active: bool,
    pub href: String,
}

/// A ticket as a table row.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: i64,
    pub number: String,
    pub subject: String,
    pub kind: String,
    pub priority: String,
    pub status: String,
    pub owner: String,
    pub owner_is_queue: bool,
    pub urges: u32,
    pub escalated: bool,
    pub committed: String,
    pub updated: String,
}

impl Row {
    fn of(t: &TicketSummary) -> Self {
        Self {
            id: t.id,
            number: t.number.clone(),
            subject: t.subject.clone(),
            kind: t.kind.clone(),
            priority: t.priority.clone(),
            status: t.status.clone(),
            owner: t.owner.name.clone(),
            owner_is_queue: t.owner.kind == "queue",
            urges: t.urges,
            escalated: t.escalated,
            committed: t
                .plan_committed_at
                .as_deref()
                .map(short_time)
                .unwrap_or_default(),
            updated: short_time(&t.updated_at),
        }
    }
}

/// The queues `app::tickets::list` knows, in tab order, for desk staff. A queue added there
/// (the SLA module's "breaching soon", which belongs after `urged`) is one more entry here and
/// one more arm in `count_of`.
const STAFF_QUEUES: &[&str] = &[
    "mine",
    "department",
    "unassigned",
    "tracking",
    "dealers",
    "escalated",
    "urged",
    "breaching",
    "all",
];

fn count_of(counts: &QueueCounts, queue: &str) -> Option<i64> {
    match queue {
        "mine" => Some(counts.mine),
        "department" => Some(counts.department),
        "unassigned" => Some(counts.unassigned),
        "escalated" => Some(counts.escalated),
        "urged" => Some(counts.urged),
        "breaching" => Some(counts.breaching),
        _ => None,
    }
}

/// The queues this user has: a department only for members of one, "my dealers" only for
/// account owners; outside parties have their requests only.
fn queues_of(pc: &PageCtx) -> Vec<&'static str> {
    if outside(pc) {
        return vec!["all"];
    }
    let user = &pc.principal.user;
    STAFF_QUEUES
        .iter()
        .copied()
        .filter(|q| match *q {
            "department" => user.org_unit_id.is_some(),
            "dealers" => user.roles.contains(&Role::AccountOwner),
            _ => true,
        })
        .collect()
}

#[derive(Template, WebTemplate)]
#[template(path = "tickets/list.html")]
pub struct ListPage {
    pub c: Chrome,
    pub tabs: Vec<Tab>,
    pub queue: String,
    pub f: FormState,
    pub rows: Vec<Row>,
    pub next_href: Option<String>,
    pub first_href: Option<String>,
    pub can_create: bool,
    pub outside: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "tickets/_results.html")]
pub struct ResultsPartial {
    pub c: Chrome,
    pub rows: Vec<Row>,
    pub next_href: Option<String>,
    pub first_href: Option<String>,
}

pub async fn list(
    State(s): State<AppState>,
    pc: PageCtx,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let clean = |v: &Option<String>| v.as_deref().map_or("", str::trim).to_string();
    let queues = queues_of(&pc);
    let default_queue = queues[0];
    let queue = Some(clean(&q.queue))
        .filter(|x| queues.contains(&x.as_str()))
        .unwrap_or_else(|| default_queue.to_string());
    let (status, kind) = (clean(&q.status), clean(&q.kind));
    let status = Some(status).filter(|x| STATUSES.contains(&x.as_str()));
    let kind = Some(kind).filter(|x| KINDS.contains(&x.as_str()));
    let page = tickets::list(
        &s.app,
        &pc.ctx,
        TicketListInput {
            queue: Some(queue.clone()),
            status: status.clone(),
            kind: kind.clone(),
            // A status filter looks at closed tickets too.
            open: status.as_ref().map(|_| false),
            cursor: q.cursor.clone().filter(|x| !x.is_empty()),
            ..TicketListInput::default()
        },
    )
    .await
    .page(&pc)?;
    let (status, kind) = (status.unwrap_or_default(), kind.unwrap_or_default());
    let base = [
        ("queue", queue.as_str()),
        ("status", status.as_str()),
        ("kind", kind.as_str()),
    ];
    let next_href = page.next_cursor.as_deref().map(|cur| {
        let mut pairs = base.to_vec();
        pairs.push(("cursor", cur));
        format!("/tickets?{}", query_string(&pairs))
    });
    let first_href = q
        .cursor
        .as_deref()
        .filter(|x| !x.is_empty())
        .map(|_| format!("/tickets?{}", query_string(&base)));
    let rows: Vec<Row> = page.items.iter().map(Row::of).collect();
    if pc.targets("ticket-results") {
        return Ok(ResultsPartial {
            c: pc.c,
            rows,
            next_href,
            first_href,
        }
        .into_response());
    }
    let counts = tickets::queue_counts(&s.app, &pc.ctx).await.page(&pc)?;
    let tabs = queues
        .iter()
        .map(|&code| Tab {
            code,
            label: pc.c.t(&format!("tickets.queue.{code}")),
            count: count_of(&counts, code),
            active: queue == code,
            href: format!(
                "/tickets?{}",
                query_string(&[("queue", code), ("status", &status), ("kind", &kind)])
            ),
        })
        .collect();
    let f = FormState::default()
        .with("status", status)
        .with("kind", kind);
    Ok(ListPage {
        can_create: pc.can(Permission::TicketCreate),
        outside: outside(&pc),
        c: pc.c,
        tabs,
        queue,
        f,
        rows,
        next_href,
        first_href,
    }
    .into_response())
}

/// The tickets card of the customer and device pages: the latest tickets and where to start a
/// new one for this customer (and device).
#[derive(Debug, Clone, Default)]
pub struct TicketList {
    /// False when the user may not read tickets: the card is left out.
    pub shown: bool,
    pub rows: Vec<Row>,
    pub more: bool,
    pub new_href: Option<String>,
}

impl TicketList {
    pub async fn of(
        s: &AppState,
        pc: &PageCtx,
        customer: Option<i64>,
        device: Option<i64>,
    ) -> Result<Self, PageError> {
        if !pc.can(Permission::TicketRead) {
            return Ok(Self::default());
        }
        let page = tickets::list(
            &s.app,
            &pc.ctx,
            TicketListInput {
                customer_id: customer,
                device_id: device,
                limit: Some(10),
                ..TicketListInput::default()
            },
        )
        .await
        .page(pc)?;
        let (c, d) = (
            customer.map(|x| x.to_string()).unwrap_or_default(),
            device.map(|x| x.to_string()).unwrap_or_default(),
        );
        let new_href = pc.can(Permission::TicketCreate).then(|| {
            format!(
                "/tickets/new?{}",
                query_string(&[("customer_id", &c), ("device_id", &d)])
            )
        });
        Ok(Self {
            shown: true,
            rows: page.items.iter().map(Row::of).collect(),
            more: page.next_cursor.is_some(),
            new_href,
        })
    }
}

// ---------------------------------------------------------------- new ticket

/// A customer the caller's number (or the screen-pop) points at.
#[derive(Debug, Clone)]
pub struct Match {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub phone: String,
    pub region: String,
    pub dealer: Option<(i64, String)>,
    pub devices: Vec<(i64, String)>,
    /// Open tickets: (id, number, subject, status).
    pub open: Vec<(i64, String, String, String)>,
}

/// What the lookup found for the number typed.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub searched: bool,
    pub matches: Vec<Match>,
}

impl Caller {
    pub fn has_open(&self) -> bool {
        self.matches.iter().any(|m| !m.open.is_empty())
    }

    /// The dealers of the matches: who may be asking for their customer.
    pub fn dealers(&self) -> Vec<(i64, String)> {
        let mut out: Vec<(i64, String)> = Vec::new();
        for m in &self.matches {
            if let Some(d) = &m.dealer
                && !out.iter().any(|x| x.0 == d.0)
            {
                out.push(d.clone());
            }
        }
        out
    }
}

async fn match_of(s: &AppState, pc: &PageCtx, v: CustomerView) -> Match {
    let devices = ledger::overview(&s.app, &pc.ctx, CustomerId(v.id))
        .await
        .map(|o| {
            o.devices
                .into_iter()
                .map(|d| {
                    let serial = d.serial.map(|x| format!(" · {x}")).unwrap_or_default();
                    (d.id, format!("{} {}{serial}", d.category, d.model))
                })
                .collect()
        })
        .unwrap_or_default();
    let dealer = match v.dealer_id {
        Some(d) => ledger::get_customer(&s.app, &pc.ctx, CustomerId(d))
            .await
            .ok()
            .map(|x| (x.id, x.name)),
        None => None,
    };
    let open = tickets::list(
        &s.app,
        &pc.ctx,
        TicketListInput {
            customer_id: Some(v.id),
            open: Some(true),
            limit: Some(5),
            ..TicketListInput::default()
        },
    )
    .await
    .map(|p| {
        p.items
            .into_iter()
            .map(|t| (t.id, t.number, t.subject, t.status))
            .collect()
    })
    .unwrap_or_default();
    Match {
        id: v.id,
        name: v.name,
        kind: v.kind,
        phone: v.phone.unwrap_or_default(),
        region: v.region,
        dealer,
        devices,
        open,
    }
}

/// Finds the caller: the customer named by id (screen-pop), else everyone reachable at the
/// number, else (a partial number of at least four digits) the ledger search.
async fn look_up(s: &AppState, pc: &PageCtx, phone: &str, customer: Option<i64>) -> Caller {
    let phone = phone.trim();
    let found: Vec<CustomerView> = if let Some(id) = customer {
        ledger::get_customer(&s.app, &pc.ctx, CustomerId(id))
            .await
            .map(|v| vec![v])
            .unwrap_or_default()
    } else if Phone::parse(phone).is_ok() {
        ledger::find_by_phone(&s.app, &pc.ctx, phone)
            .await
            .unwrap_or_default()
    } else if phone.chars().filter(char::is_ascii_digit).count() >= 4 {
        let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
        ledger::list_customers(
            &s.app,
            &pc.ctx,
            CustomerFilter {
                q: Some(digits),
                limit: Some(5),
                ..CustomerFilter::default()
            },
        )
        .await
        .map(|p| p.items)
        .unwrap_or_default()
    } else {
        return Caller::default();
    };
    let mut matches = Vec::new();
    for v in found
        .into_iter()
        .filter(|v| v.merged_into.is_none())
        .take(5)
    {
        matches.push(match_of(s, pc, v).await);
    }
    Caller {
        searched: true,
        matches,
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "tickets/new.html")]
pub struct NewPage {
    pub c: Chrome,
    pub f: FormState,
    pub idem: String,
    pub caller: Caller,
    pub outside: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "tickets/_caller.html")]
pub struct CallerPartial {
    pub c: Chrome,
    pub f: FormState,
    pub caller: Caller,
    pub outside: bool,
}

#[derive(Debug, Default, Deserialize)]
pub struct NewQuery {
    #[serde(default)]
    customer_id: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    call_id: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    device_id: Option<String>,
}

fn id_param(v: Option<&String>) -> Option<i64> {
    v.and_then(|x| x.trim().parse().ok())
}

pub async fn new_form(
    State(s): State<AppState>,
    pc: PageCtx,
    Query(q): Query<NewQuery>,
) -> Result<Response, PageError> {
    if !pc.can(Permission::TicketCreate) {
        return Err(pc.fail(Error::Forbidden));
    }
    let customer = id_param(q.customer_id.as_ref());
    let phone = q.phone.clone().unwrap_or_default();
    let caller = look_up(&s, &pc, &phone, customer).await;
    let kind = q
        .kind
        .clone()
        .filter(|k| KINDS.contains(&k.as_str()))
        .unwrap_or_else(|| "consultation".into());
    let mut f = FormState::default()
        .with("kind", kind)
        .with("phone", phone)
        .with("channel", "phone")
        .with("priority", "");
    f.set_opt(
        "call_id",
        id_param(q.call_id.as_ref()).map(|x| x.to_string()),
    );
    f.set_opt(
        "device_id",
        id_param(q.device_id.as_ref()).map(|x| x.to_string()),
    );
    if let Some(m) = caller.matches.first() {
        f.set("customer_id", m.id.to_string());
    }
    Ok(NewPage {
        idem: pc.request_id.clone(),
        outside: outside(&pc),
        c: pc.c,
        f,
        caller,
    }
    .into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct CallerQuery {
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    customer_id: Option<String>,
}

/// The caller block of the new-ticket form, for htmx while the number is typed.
pub async fn caller(
    State(s): State<AppState>,
    pc: PageCtx,
    Query(q): Query<CallerQuery>,
) -> Result<Response, PageError> {
    if !pc.htmx {
        let qs = query_string(&[
            ("phone", q.phone.as_deref().unwrap_or("")),
            ("customer_id", q.customer_id.as_deref().unwrap_or("")),
        ]);
        return Ok(see_other(&format!("/tickets/new?{qs}")));
    }
    let phone = q.phone.clone().unwrap_or_default();
    let caller = look_up(&s, &pc, &phone, id_param(q.customer_id.as_ref())).await;
    let mut f = FormState::default();
    if let Some(m) = caller.matches.first() {
        f.set("customer_id", m.id.to_string());
    }
    Ok(CallerPartial {
        outside: outside(&pc),
        c: pc.c,
        f,
        caller,
    }
    .into_response())
}

/// The SHA-256 of a form's fields without the CSRF token and the idempotency key.
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

fn ticket_input(form: &FormData, outside: bool) -> TicketInput {
    let kind = form.raw("kind").trim().to_string();
    TicketInput {
        complaint_category: form
            .opt("complaint_category")
            .filter(|_| kind == "complaint"),
        kind,
        channel: if outside { None } else { form.opt("channel") },
        priority: form.opt("priority"),
        subject: form.raw("subject").to_string(),
        description: form.raw("description").to_string(),
        customer_id: form.i64("customer_id"),
        phone: form.opt("phone"),
        contact_name: form.opt("contact_name"),
        contact_email: form.opt("contact_email"),
        requester_id: if outside {
            None
        } else {
            form.i64("requester_id")
        },
        device_id: form.i64("device_id"),
        brand_id: form.i64("brand_id"),
        call_id: form.i64("call_id"),
        force_new: form.checked("force_new"),
    }
}

pub async fn create(
    State(s): State<AppState>,
    pc: PageCtx,
    form: FormData,
) -> Result<Response, PageError> {
    let input = ticket_input(&form, outside(&pc));
    // A double click or a resent form makes one ticket: the form carries a key of its own.
    let idem = form
        .opt("_idem")
        .filter(|k| k.len() <= 255)
        .map(|key| IdemKey {
            principal: pc.principal.key(),
            route: "POST /tickets (form)".into(),
            key,
            body_hash: form_hash(&form),
        });
    let ctx = pc.ctx.clone().with_idem(idem);
    match tickets::create(&s.app, &ctx, input).await {
        Ok(made) if made.attached => Ok(see_other(&format!("/tickets/{}?attached=1", made.id))),
        Ok(made) => Ok(see_other(&format!(
            "/tickets/{}?flash=ticket_created",
            made.id
        ))),
        Err(e) => {
            let (status, f) = refused(&pc, &form, e, &[])?;
            let caller = look_up(
                &s,
                &pc,
                form.raw("phone"),
                form.i64("customer_id")
                    .filter(|_| form.opt("phone").is_none()),
            )
            .await;
            Ok((
                status,
                NewPage {
                    // A corrected form is another request.
                    idem: pc.request_id.clone(),
                    outside: outside(&pc),
                    c: pc.c,
                    f,
                    caller,
                },
            )
                .into_response())
        }
    }
}

// ---------------------------------------------------------------- the ticket page

/// The page's forms: at most one comes back with its values and errors.
#[derive(Debug, Clone, Default)]
pub struct Forms {
    pub open: String,
    pub f: FormState,
    empty: FormState,
}

impl Forms {
    fn refused(open: &str, f: FormState) -> Self {
        Self {
            open: open.to_string(),
            f,
            empty: FormState::default(),
        }
    }

    /// The state of one form: the refused one, or empty.
    pub fn of(&self, name: &str) -> &FormState {
        if self.open == name {
            &self.f
        } else {
            &self.empty
        }
    }

    pub fn is(&self, name: &str) -> bool {
        self.open == name
    }
}

/// A row of history as shown.
#[derive(Debug, Clone)]
pub struct HistoryRow {
    pub at: String,
    pub actor: String,
    pub event: String,
    pub label: String,
    pub from: String,
    pub to: String,
    pub owner: Option<String>,
    pub detail: String,
}

/// A compensation as shown, with the steps this user may take.
#[derive(Debug, Clone)]
pub struct CompRow {
    pub id: i64,
    pub amount: String,
    pub payer: String,
    pub status: String,
    pub reason: String,
    pub paid_at: String,
    pub version: i64,
    pub steps: Vec<&'static str>,
}

/// A plan part as shown.
#[derive(Debug, Clone)]
pub struct PartRow {
    pub department_id: i64,
    pub department: String,
    pub summary: String,
    pub remedy: Option<String>,
    pub committed: String,
    pub signed_by: Option<String>,
    pub signed_at: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "tickets/show.html")]
#[allow(clippy::struct_excessive_bools)] // what the user may do here, one flag per area
pub struct ShowPage {
    pub c: Chrome,
    pub t: TicketView,
    pub forms: Forms,
    pub plan: Vec<PartRow>,
    pub history: Vec<HistoryRow>,
    pub comps: Vec<CompRow>,
    pub departments: Vec<Choice>,
    pub assignees: Vec<Choice>,
    /// The customer's other open tickets (merge targets): (id, number, subject).
    pub siblings: Vec<(i64, String, String)>,
    /// Actions for the panel (`sign_part`, `add_plan_part` and `set_complaint` live in their
    /// cards).
    pub panel: Vec<String>,
    pub notice: Option<String>,
    /// A status link just issued, whole.
    pub link: Option<String>,
    pub now_local: String,
    /// The ticket's SLA clocks: (metric, due or stopped time, state), for staff.
    pub clocks: Vec<(String, String, String)>,
    /// The ticket's outbox messages with their delivery status, for staff.
    pub notifications: Vec<app::notify::subscriptions::OutboxView>,
    pub outside: bool,
    pub can_work: bool,
    pub can_propose: bool,
    pub is_complaint: bool,
    pub open: bool,
    /// The attachment limit in MB, for the composer's hint.
    pub max_mb: u64,
}

impl ShowPage {
    /// The attachments that came with message `id`.
    #[allow(clippy::trivially_copy_pass_by_ref)] // askama passes arguments by reference
    pub fn files_of(&self, id: &i64) -> Vec<&app::tickets::AttachmentView> {
        self.t
            .attachments
            .iter()
            .filter(|a| a.message_id == Some(*id))
            .collect()
    }

    pub fn can(&self, action: &str) -> bool {
        self.t.actions.iter().any(|a| a == action)
    }

    pub fn owner_label(&self) -> String {
        if self.t.summary.owner.kind == "queue" {
            self.c
                .t1("ticket.owner_queue", "name", &self.t.summary.owner.name)
        } else {
            self.t.summary.owner.name.clone()
        }
    }

    pub fn committed(&self) -> String {
        self.t
            .summary
            .plan_committed_at
            .as_deref()
            .map(short_time)
            .unwrap_or_default()
    }

    /// The cost-share rows of the complaint form: (index, party, percent), filled from the
    /// shares recorded so far.
    pub fn shares(&self) -> Vec<(usize, String, String)> {
        (0..SHARE_ROWS)
            .map(|i| {
                let (party, percent) = self
                    .t
                    .cost_shares
                    .get(i)
                    .map(|s| (s.party.clone(), s.percent.to_string()))
                    .unwrap_or_default();
                (i, party, percent)
            })
            .collect()
    }
}

/// A label from `prefix.code` if the locale has it, else the code itself (events the SLA module
/// or later features add still show).
fn label_or_code(c: &Chrome, prefix: &str, code: &str) -> String {
    try_tr(&c.lang, &format!("{prefix}.{code}")).unwrap_or_else(|| code.to_string())
}

/// The readable part of an event's data: texts people typed and times, never ids.
fn detail_of(c: &Chrome, data: &serde_json::Value, departments: &[Choice]) -> String {
    let mut out = Vec::new();
    if let Some(d) = data
        .get("department_id")
        .and_then(serde_json::Value::as_i64)
        && let Some(x) = departments.iter().find(|x| x.id == d)
    {
        out.push(x.name.clone());
    }
    for key in [
        "summary",
        "note",
        "file_name",
        "reason",
        "contact_note",
        "pre_diagnosis",
        "target",
        "recovery",
        "platform",
    ] {
        if let Some(v) = data.get(key).and_then(serde_json::Value::as_str)
            && !v.is_empty()
        {
            out.push(v.to_string());
        }
    }
    if let Some(v) = data.get("committed_at").and_then(serde_json::Value::as_str) {
        out.push(c.t1("ticket.committed_to", "at", short_time(v)));
    }
    out.join(" · ")
}

async fn render(
    s: &AppState,
    pc: PageCtx,
    id: i64,
    forms: Forms,
    notice: Option<String>,
    link: Option<String>,
) -> Result<ShowPage, PageError> {
    let t = tickets::get(&s.app, &pc.ctx, TicketId(id))
        .await
        .page(&pc)?;
    let outside = outside(&pc);
    let can_work = pc.can(Permission::TicketWork);
    let departments = if outside {
        Vec::new()
    } else {
        desk_pickers::departments(&s.app, &pc.ctx).await.page(&pc)?
    };
    let assignees = if t.actions.iter().any(|a| a == "reassign") {
        desk_pickers::assignees(&s.app, &pc.ctx).await.page(&pc)?
    } else {
        Vec::new()
    };
    let siblings = match t.summary.customer_id {
        Some(cu) if t.actions.iter().any(|a| a == "merge_into") => tickets::list(
            &s.app,
            &pc.ctx,
            TicketListInput {
                customer_id: Some(cu),
                open: Some(true),
                limit: Some(20),
                ..TicketListInput::default()
            },
        )
        .await
        .page(&pc)?
        .items
        .into_iter()
        .filter(|x| x.id != t.summary.id)
        .map(|x| (x.id, x.number, x.subject))
        .collect(),
        _ => Vec::new(),
    };
    let c = &pc.c;
    let history = t
        .history
        .iter()
        .rev()
        .map(|h| HistoryRow {
            at: short_time(&h.at),
            actor: if h.actor == "requester" {
                c.t("ticket.requester")
            } else {
                h.actor.clone()
            },
            label: label_or_code(c, "ticket.event", &h.event),
            event: h.event.clone(),
            from: h.from_status.clone(),
            to: h.to_status.clone(),
            owner: h.owner.clone(),
            // Notes on routing and the like are internal: outside parties see what happened.
            detail: if outside {
                String::new()
            } else {
                detail_of(c, &h.data, &departments)
            },
        })
        .collect();
    let approve = pc.can(Permission::CompensationApprove);
    let pay = pc.can(Permission::CompensationPay);
    let comps = t
        .compensations
        .iter()
        .map(|k| {
            let mut steps = Vec::new();
            if approve && k.status == "proposed" {
                steps.push("approve");
            }
            if pay && k.status == "approved" {
                steps.push("pay");
            }
            if approve && matches!(k.status.as_str(), "proposed" | "approved") {
                steps.push("cancel");
            }
            CompRow {
                id: k.id,
                amount: yuan(k.amount_fen),
                payer: k.payer.clone(),
                status: k.status.clone(),
                reason: k.reason.clone(),
                paid_at: k.paid_at.as_deref().map(short_time).unwrap_or_default(),
                version: k.version,
                steps,
            }
        })
        .collect();
    let plan = t
        .plan
        .iter()
        .map(|p| PartRow {
            department_id: p.department_id,
            department: p.department.clone(),
            summary: p.summary.clone(),
            remedy: p.remedy.clone(),
            committed: short_time(&p.committed_at),
            signed_by: p.signed_by.clone(),
            signed_at: p.signed_at.as_deref().map(short_time).unwrap_or_default(),
        })
        .collect();
    let panel = t
        .actions
        .iter()
        .filter(|a| !matches!(a.as_str(), "sign_part" | "add_plan_part" | "set_complaint"))
        .cloned()
        .collect();
    let open = !matches!(t.summary.status.as_str(), "closed" | "merged" | "cancelled");
    let is_complaint = t.summary.kind == "complaint";
    let now_local = pc
        .ctx
        .now()
        .to_utc()
        .with_timezone(&s.app.settings.tz)
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let clocks = if outside {
        Vec::new()
    } else {
        app::sla::clocks_of(&s.app, &pc.ctx, domain::sla::Subject::ticket(TicketId(id)))
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|k| {
                let at = k.stopped_at.or(k.due_at).map_or_else(String::new, |t| {
                    t.to_utc()
                        .with_timezone(&s.app.settings.tz)
                        .format("%m-%d %H:%M")
                        .to_string()
                });
                (k.metric, at, k.state)
            })
            .collect()
    };
    let notifications = if outside {
        Vec::new()
    } else {
        app::notify::subscriptions::ticket_notifications(&s.app, &pc.ctx, TicketId(id))
            .await
            .unwrap_or_default()
    };
    Ok(ShowPage {
        notifications,
        max_mb: s.app.settings.max_attachment_bytes / (1024 * 1024),
        clocks,
        can_propose: pc.can(Permission::CompensationPropose) && is_complaint && open,
        can_work,
        outside,
        is_complaint,
        open,
        now_local,
        plan,
        history,
        comps,
        departments,
        assignees,
        siblings,
        panel,
        notice,
        link,
        forms,
        t,
        c: pc.c,
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct ShowQuery {
    #[serde(default)]
    attached: Option<String>,
}

pub async fn show(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
    Query(q): Query<ShowQuery>,
) -> Result<ShowPage, PageError> {
    let mut page = render(&s, pc, id, Forms::default(), None, None).await?;
    if q.attached.is_some() {
        page.notice = Some(
            page.c
                .t1("ticket.attached_to", "number", &page.t.summary.number),
        );
    }
    Ok(page)
}

/// The ticket page again with the refused form open, its values and its errors.
async fn again(
    s: &AppState,
    pc: PageCtx,
    id: i64,
    form: &FormData,
    which: &str,
    e: Error,
    rename: &[(&str, &str)],
) -> Result<Response, PageError> {
    let (status, f) = refused(&pc, form, e, rename)?;
    let page = render(s, pc, id, Forms::refused(which, f), None, None).await?;
    Ok((status, page).into_response())
}

/// "2026-12-03T18:00" from a datetime-local field, in the organisation's zone → RFC 3339.
fn local_to_rfc3339<Z: TimeZone>(tz: &Z, v: &str) -> Result<String, Error>
where
    Z::Offset: std::fmt::Display,
{
    let v = v.trim();
    if v.is_empty() {
        return Err(Error::field("committed_at", "required"));
    }
    let naive = chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| Error::field("committed_at", "a date and time"))?;
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.to_rfc3339())
        .ok_or_else(|| Error::field("committed_at", "a date and time"))
}

fn need_id(form: &FormData, field: &str) -> Result<i64, Error> {
    form.i64(field)
        .ok_or_else(|| Error::field(field, "required"))
}

/// The action a panel form asks for.
async fn action_input(s: &AppState, pc: &PageCtx, form: &FormData) -> Result<ActionInput, Error> {
    let note = || form.opt("note");
    let text = |name: &str| form.raw(name).to_string();
    Ok(match form.raw("action") {
        "route" => ActionInput::Route {
            department_id: need_id(form, "department_id")?,
            note: note(),
        },
        "transfer" => ActionInput::Transfer {
            department_id: need_id(form, "department_id")?,
            note: note(),
        },
        "accept" => ActionInput::Accept,
        "add_plan_part" => ActionInput::AddPlanPart {
            department_id: need_id(form, "department_id")?,
            summary: text("summary"),
            remedy: form.opt("remedy"),
            committed_at: local_to_rfc3339(&s.app.settings.tz, form.raw("committed_at"))?,
        },
        "sign_part" => ActionInput::SignPart {
            department_id: need_id(form, "department_id")?,
        },
        "sign_plan" => ActionInput::SignPlan,
        "return_plan" => ActionInput::ReturnPlan { note: note() },
        "inform_requester" => ActionInput::InformRequester {
            contact_note: text("contact_note"),
            message: form.opt("message"),
        },
        "wait_for_customer" => ActionInput::WaitForCustomer { note: note() },
        "customer_responded" => ActionInput::CustomerResponded { note: note() },
        "resolve" => ActionInput::Resolve {
            summary: text("summary"),
        },
        "solved_remotely" => ActionInput::SolvedRemotely {
            summary: text("summary"),
        },
        "convert_for_field" => ActionInput::ConvertForField {
            pre_diagnosis: text("pre_diagnosis"),
            parts: form
                .raw("parts")
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect(),
        },
        "confirm" => ActionInput::Confirm { note: note() },
        "close" => ActionInput::Close,
        "reopen" => ActionInput::Reopen {
            reason: text("reason"),
        },
        "reassign" => ActionInput::Reassign {
            user_id: need_id(form, "user_id")?,
        },
        "merge_into" => {
            let target = form.raw("target").trim();
            let target = if target.is_empty() {
                form.raw("sibling").trim()
            } else {
                target
            };
            let target_id = match target.parse::<i64>() {
                Ok(id) => id,
                Err(_) if target.is_empty() => return Err(Error::field("target", "required")),
                Err(_) => {
                    desk_pickers::ticket_by_number(&s.app, &pc.ctx, target)
                        .await?
                        .0
                }
            };
            ActionInput::MergeInto { target_id }
        }
        "cancel" => ActionInput::Cancel {
            reason: text("reason"),
        },
        "urge" => ActionInput::Urge { note: note() },
        "set_complaint" => {
            let mut shares = Vec::new();
            for i in 0..SHARE_ROWS {
                let Some(party) = form.opt(&format!("party_{i}")) else {
                    continue;
                };
                let percent = form
                    .raw(&format!("percent_{i}"))
                    .trim()
                    .parse::<u8>()
                    .map_err(|_| Error::field("cost_shares", "a whole percent"))?;
                shares.push(CostShareInput { party, percent });
            }
            ActionInput::SetComplaint {
                category: form.opt("category"),
                liability: form.opt("liability"),
                remedy: form.opt("remedy"),
                cost_shares: shares,
            }
        }
        other => return Err(Error::field("action", format!("unknown value {other:?}"))),
    })
}

/// App field names → the names of the page's inputs.
const ACT_RENAME: &[(&str, &str)] = &[
    ("target_id", "target"),
    ("cost_shares[0].party", "cost_shares"),
    ("cost_shares[1].party", "cost_shares"),
    ("cost_shares[2].party", "cost_shares"),
];

pub async fn act(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
    form: FormData,
) -> Result<Response, PageError> {
    let version = form.version(&pc)?;
    let name = form.raw("action").to_string();
    let which = if ACTIONS.contains(&name.as_str()) {
        name.as_str()
    } else {
        "action"
    };
    let r = match action_input(&s, &pc, &form).await {
        Ok(input) => tickets::act(&s.app, &pc.ctx, TicketId(id), version, input).await,
        Err(e) => Err(e),
    };
    match r {
        Ok(_) => Ok(see_other(&format!("/tickets/{id}?flash=ticket_{which}"))),
        Err(e) => again(&s, pc, id, &form, which, e, ACT_RENAME).await,
    }
}

/// A refusal of the composer's file in the user's words, on the `file` field.
fn file_error(c: &Chrome, e: Error) -> Error {
    match e {
        Error::PayloadTooLarge { limit } => Error::field(
            "file",
            c.t1("ticket.attach_too_large", "mb", limit / (1024 * 1024)),
        ),
        Error::UnsupportedMediaType(_) => Error::field("file", c.t("ticket.attach_unsupported")),
        Error::Validation { fields, .. }
            if fields.get("file").is_some_and(|m| m == "the file is empty") =>
        {
            Error::field("file", c.t("ticket.attach_empty"))
        }
        other => other,
    }
}

/// The composer: a reply, an internal note or a message to the desk, with an optional file
/// (then the form is multipart: the file is received and its type checked before the message is
/// written, and kept with it). A file alone is kept on the ticket without a message.
pub async fn message(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
    req: axum::extract::Request,
) -> Result<Response, PageError> {
    let ticket = TicketId(id);
    let (form, file) = if crate::upload::is_multipart(req.headers()) {
        // Refused before a byte is received.
        app::attachments::check_upload(&s.app, &pc.ctx, ticket)
            .await
            .page(&pc)?;
        let received = match axum::extract::Multipart::from_request(req, &s).await {
            Ok(mp) => crate::upload::receive(&s.app, mp).await,
            Err(e) => Err(Error::field("file", e.body_text())),
        };
        match received {
            Ok(r) => (FormData(r.fields), r.file),
            Err(e) => {
                let e = file_error(&pc.c, e);
                return again(&s, pc, id, &FormData(Vec::new()), "message", e, &[]).await;
            }
        }
    } else {
        match FormData::from_request(req, &s).await {
            Ok(f) => (f, None),
            Err(r) => return Ok(r),
        }
    };
    let internal = form.checked("internal");
    if let Some((_, staged)) = &file
        && let Err(e) = staged.content_type()
    {
        let e = file_error(&pc.c, e);
        return again(&s, pc, id, &form, "message", e, &[]).await;
    }
    let body = form.raw("body").to_string();
    let mid = if file.is_none() || !body.trim().is_empty() || internal {
        let input = MessageInput { body, internal };
        match tickets::add_message(&s.app, &pc.ctx, ticket, input).await {
            Ok(made) => Some(made.id),
            Err(e) => return again(&s, pc, id, &form, "message", e, &[]).await,
        }
    } else {
        None
    };
    if let Some((file_name, staged)) = file {
        let input = app::attachments::NewUpload {
            file_name,
            message_id: mid,
            file: staged,
        };
        if let Err(e) = app::attachments::add(&s.app, &pc.ctx, ticket, input).await {
            let e = file_error(&pc.c, e);
            return again(&s, pc, id, &form, "message", e, &[]).await;
        }
        if mid.is_none() {
            return Ok(see_other(&format!(
                "/tickets/{id}?flash=ticket_attached#attachments"
            )));
        }
    }
    Ok(see_other(&format!(
        "/tickets/{id}?flash={}#messages",
        if !pc.can(Permission::TicketWork) {
            "ticket_sent"
        } else if internal {
            "ticket_noted"
        } else {
            "ticket_replied"
        }
    )))
}

pub async fn propose(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
    form: FormData,
) -> Result<Response, PageError> {
    let r = match Money::parse_yuan(form.raw("amount")) {
        Some(m) => {
            let input = CompensationInput {
                amount_fen: m.as_fen(),
                payer: form.raw("payer").to_string(),
                reason: form.raw("reason").to_string(),
            };
            tickets::add_compensation(&s.app, &pc.ctx, TicketId(id), input).await
        }
        None if form.opt("amount").is_none() => Err(Error::field("amount", "required")),
        None => Err(Error::field(
            "amount",
            "an amount in yuan, e.g. 200 or 199.50",
        )),
    };
    match r {
        Ok(_) => Ok(see_other(&format!(
            "/tickets/{id}?flash=compensation_proposed#compensation"
        ))),
        Err(e) => {
            again(
                &s,
                pc,
                id,
                &form,
                "compensation",
                e,
                &[("amount_fen", "amount")],
            )
            .await
        }
    }
}

pub async fn compensation_step(
    State(s): State<AppState>,
    pc: PageCtx,
    Path((id, comp)): Path<(i64, i64)>,
    form: FormData,
) -> Result<Response, PageError> {
    let version = form.version(&pc)?;
    let step = form.raw("step").to_string();
    match tickets::compensation_step(&s.app, &pc.ctx, TicketId(id), comp, version, &step).await {
        Ok(()) => Ok(see_other(&format!(
            "/tickets/{id}?flash=compensation_{}#compensation",
            if matches!(step.as_str(), "approve" | "pay" | "cancel") {
                step.as_str()
            } else {
                "saved"
            }
        ))),
        Err(e) => again(&s, pc, id, &form, "compensation_step", e, &[]).await,
    }
}

pub async fn record_review(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
    form: FormData,
) -> Result<Response, PageError> {
    let input = ReviewInput {
        platform: form.raw("platform").to_string(),
        order_ref: form.raw("order_ref").to_string(),
        rating: form.i64("rating"),
        review_text: form.raw("review_text").to_string(),
        reviewed_at: None,
    };
    match tickets::record_review(&s.app, &pc.ctx, TicketId(id), input).await {
        Ok(()) => Ok(see_other(&format!(
            "/tickets/{id}?flash=review_recorded#review"
        ))),
        Err(e) => again(&s, pc, id, &form, "review", e, &[]).await,
    }
}

pub async fn review_outcome(
    State(s): State<AppState>,
    pc: PageCtx,
    Path(id): Path<i64>,
    form: FormData,
) -> Result<Response, PageError> {
    let version = form.version(&pc)?;
    // Unticked boxes say "no": the call back asked, and the answer was recorded.
    let input = ReviewOutcomeInput {
        recovery: form.raw("recovery").to_string(),
        review_updated_by_customer: Some(form.checked("review_updated_by_customer")),
        bought_again: Some(form.checked("bought_again")),
    };
    match tickets::review_outcome(&s.app, &pc.ctx, TicketId(id), version, input).await {
        Ok(()) => Ok(see_other(&format!(
            "/tickets/{id}?flash=review_called_back#review"
        ))),
        Err(e) => again(&s, pc, id, &form, "review_outcome", e, &[]).await,
    }
}

/// Issues a new status link and shows it once on the page (never in a URL).
pub async fn status_link(
    State(s): State<AppState>,
    pc: PageCtx,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let path = tickets::new_status_link(&s.app, &pc.ctx, TicketId(id))
        .await
        .page(&pc)?;
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let link = if host.is_empty() {
        path
    } else {
        let scheme = if s.secure_cookies { "https" } else { "http" };
        format!("{scheme}://{host}{path}")
    };
    let notice = Some(pc.c.t("ticket.link_issued"));
    let page = render(&s, pc, id, Forms::default(), notice, Some(link)).await?;
    Ok(page.into_response())
}

// ---------------------------------------------------------------- the monthly report

#[derive(Debug, Default, Deserialize)]
pub struct MonthQuery {
    #[serde(default)]
    month: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "tickets/report.html")]
pub struct ReportPage {
    pub c: Chrome,
    pub month: String,
    pub r: Option<tickets::MonthReport>,
    pub error: Option<String>,
    pub prev: String,
    pub next: String,
}

fn shift_month(month: &str, by: i32) -> Option<String> {
    let (y, m) = month.split_once('-')?;
    let (y, m): (i32, i32) = (y.parse().ok()?, m.parse().ok()?);
    let n = y * 12 + (m - 1) + by;
    Some(format!(
        "{:04}-{:02}",
        n.div_euclid(12),
        n.rem_euclid(12) + 1
    ))
}

pub async fn report(
    State(s): State<AppState>,
    pc: PageCtx,
    Query(q): Query<MonthQuery>,
) -> Result<Response, PageError> {
    if !pc.can(Permission::ReportRead) {
        return Err(pc.fail(Error::Forbidden));
    }
    let this_month = pc
        .ctx
        .now()
        .date_in(s.app.settings.tz)
        .to_string()
        .get(..7)
        .unwrap_or_default()
        .to_string();
    let month = q
        .month
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .unwrap_or(&this_month)
        .to_string();
    let (r, error, status) = match tickets::month_report(&s.app, &pc.ctx, &month).await {
        Ok(r) => (Some(r), None, StatusCode::OK),
        Err(e @ Error::Validation { .. }) => (
            None,
            Some(super::chrome::error_message(&pc.c, &e)),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(e) => return Err(pc.fail(e)),
    };
    let prev = shift_month(&month, -1).unwrap_or_else(|| this_month.clone());
    let next = shift_month(&month, 1).unwrap_or_else(|| this_month.clone());
    Ok((
        status,
        ReportPage {
            c: pc.c,
            month,
            r,
            error,
            prev,
            next,
        },
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every channel a ticket can come from (labels on the ticket page).
    const CHANNELS: &[&str] = &[
        "phone",
        "web_form",
        "dealer_portal",
        "api",
        "email",
        "walk_in",
        "wechat",
    ];

    #[test]
    fn every_ticket_message_has_both_translations() {
        for (_, key) in MESSAGES {
            for lang in ["zh-CN", "en"] {
                assert!(
                    crate::_rust_i18n_backend()
                        .translate(lang, &format!("fieldmsg.{key}"))
                        .is_some(),
                    "fieldmsg.{key} missing in {lang}"
                );
            }
        }
    }

    #[test]
    fn every_code_has_a_label_in_both_languages() {
        let groups: &[(&str, &[&str])] = &[
            ("ticket.kind", KINDS),
            ("ticket.status", STATUSES),
            ("ticket.priority", PRIORITIES),
            ("ticket.channel", CHANNELS),
            ("ticket.category", CATEGORIES),
            ("ticket.liability", LIABILITIES),
            ("ticket.remedy", REMEDIES),
            ("ticket.payer", PAYERS),
            ("ticket.action", ACTIONS),
            ("ticket.event", ACTIONS),
            ("tickets.queue", STAFF_QUEUES),
            (
                "ticket.comp_status",
                &["proposed", "approved", "paid", "cancelled"],
            ),
            ("ticket.comp_step", &["approve", "pay", "cancel"]),
            ("ticket.visibility", &["reply", "internal", "inbound"]),
        ];
        for (prefix, codes) in groups {
            for code in *codes {
                for lang in ["zh-CN", "en"] {
                    assert!(
                        crate::_rust_i18n_backend()
                            .translate(lang, &format!("{prefix}.{code}"))
                            .is_some(),
                        "{prefix}.{code} missing in {lang}"
                    );
                }
            }
        }
        for a in ACTIONS {
            for lang in ["zh-CN", "en"] {
                assert!(
                    crate::_rust_i18n_backend()
                        .translate(lang, &format!("flash.ticket_{a}"))
                        .is_some(),
                    "flash.ticket_{a} missing in {lang}"
                );
            }
        }
    }

    #[test]
    fn the_enum_lists_match_the_domain() {
        use domain::ticket as t;
        let names = |all: &[&str]| all.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
        assert_eq!(
            names(KINDS),
            t::TicketKind::ALL
                .iter()
                .map(|x| x.as_str().to_string())
                .collect::<Vec<_>>()
        );
        assert_eq!(
            names(STATUSES),
            t::TicketStatus::ALL
                .iter()
                .map(|x| x.as_str().to_string())
                .collect::<Vec<_>>()
        );
        assert_eq!(
            names(CATEGORIES),
            t::ComplaintCategory::ALL
                .iter()
                .map(|x| x.as_str().to_string())
                .collect::<Vec<_>>()
        );
        assert_eq!(
            names(LIABILITIES),
            t::Liability::ALL
                .iter()
                .map(|x| x.as_str().to_string())
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn local_times_are_read_in_the_organisation_zone() {
        let tz = app::Settings::default().tz;
        assert_eq!(
            local_to_rfc3339(&tz, "2026-12-03T18:00").unwrap(),
            "2026-12-03T18:00:00+08:00"
        );
        assert_eq!(local_to_rfc3339(&tz, "").unwrap_err().code(), "validation");
        assert_eq!(
            local_to_rfc3339(&tz, "tomorrow").unwrap_err().code(),
            "validation"
        );
        assert_eq!(
            short_time("2026-11-30T18:05:00.000+08:00"),
            "2026-11-30 18:05"
        );
        assert_eq!(yuan(20_000), "¥200.00");
        assert_eq!(shift_month("2026-01", -1).as_deref(), Some("2025-12"));
        assert_eq!(shift_month("2026-12", 1).as_deref(), Some("2027-01"));
    }
}
