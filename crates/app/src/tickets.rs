//! The service desk (SPEC D1–D11): tickets (受理单) from every channel, the cross-department
//! workflow with a signed plan and time, one owner at every moment, complaints with liability and
//! compensation, negative-review recovery, urging and remote support.
//!
//! The rules of the workflow live in `domain::ticket`; this module gathers the facts the rules
//! need (the plan's signatures, open compensations, department membership, the clock), checks who
//! may act, and writes the change with its history row, timeline entry, requester notification and
//! audit row in one transaction.

use domain::customer::{CustomerKind, TimelineKind};
use domain::ticket::{
    Channel, Compensation, CompensationEvent, CompensationPayer, CompensationStatus,
    ComplaintCategory, CostShare, Guards, Liability, Owner, Plan, Priority, Remedy, RemoteOutcome,
    Ticket, TicketEvent, TicketKind, TicketState, TicketStatus, check_cost_shares,
};
use domain::{
    BrandId, Cursor, CustomerId, DeviceId, Money, OrgUnitId, Permission, Phone, Scope, TicketId,
    Timestamp, UserId,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use store::tickets::{
    self, AttachmentRecord, CompensationRecord, EventRecord, MessageRecord, MonthFigures, NewEvent,
    NewMessage, ReviewRecord, TicketQuery,
};
use store::timeline::{self, NewEntry};
use store::{Conn, Page, customers, devices, org, outbox, users};
use utoipa::ToSchema;

use crate::admin::audit_entry;
use crate::error::Fields;
use crate::notify::subscriptions::Event;
use crate::once::create_once;
use crate::{App, Created, Ctx, Error, Result};

/// How far ahead "breaching soon" looks.
const BREACHING_SOON_MS: i64 = 2 * 3_600_000;

/// Longest subject and description accepted.
const SUBJECT_MAX: usize = 200;
const BODY_MAX: usize = 20_000;
const NOTE_MAX: usize = 4_000;

// ---------------------------------------------------------------- inputs

/// A new ticket. The customer is named by id or found by phone (the caller's number); a dealer
/// acting for its customer is the requester.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct TicketInput {
    /// consultation | complaint | `repair_request` | `installation_request` | `return_exchange` | suggestion
    pub kind: String,
    /// phone | `web_form` | `dealer_portal` | api | email | `walk_in` | wechat (default: phone for
    /// desk users, `dealer_portal` for dealers, api for tokens)
    #[serde(default)]
    pub channel: Option<String>,
    /// low | normal | high | urgent (default normal; complaints high)
    #[serde(default)]
    pub priority: Option<String>,
    pub subject: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub customer_id: Option<i64>,
    /// The caller's phone: finds the customer when no id is given, and is kept as the contact.
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub contact_name: Option<String>,
    #[serde(default)]
    pub contact_email: Option<String>,
    /// A dealer asking for its customer (D2).
    #[serde(default)]
    pub requester_id: Option<i64>,
    #[serde(default)]
    pub device_id: Option<i64>,
    /// For complaints: `express_delivery` | shipping | `service_attitude` | product | `product_quality`
    /// | `engineer_conduct` | hotline
    #[serde(default)]
    pub complaint_category: Option<String>,
    #[serde(default)]
    pub brand_id: Option<i64>,
    /// The hotline call this ticket came from.
    #[serde(default)]
    pub call_id: Option<i64>,
    /// Open a new ticket even when the customer already has an open one (a different problem).
    #[serde(default)]
    pub force_new: bool,
}

/// One party's share of the cost.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct CostShareInput {
    /// `product_defect` | dealer | logistics | installation | `customer_misuse` | undetermined
    pub party: String,
    pub percent: u8,
}

/// An action on a ticket. `action` names it; the other fields belong to it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ActionInput {
    /// Send to a department's queue with the whole history (单据随行).
    Route {
        department_id: i64,
        #[serde(default)]
        note: Option<String>,
    },
    /// Move to another department's queue (or back to the same queue).
    Transfer {
        department_id: i64,
        #[serde(default)]
        note: Option<String>,
    },
    /// A member of the owning department takes the ticket.
    Accept,
    /// Adds one department's part to the plan (处理方案) with its committed time.
    AddPlanPart {
        department_id: i64,
        summary: String,
        /// `resend_parts` | repair | remake
        #[serde(default)]
        remedy: Option<String>,
        /// RFC 3339, in the future.
        committed_at: String,
    },
    /// A member of the part's department signs it.
    SignPart {
        department_id: i64,
    },
    /// The handler signs the whole plan once every part is signed.
    SignPlan,
    /// The handler returns the signed plan to the tracker.
    ReturnPlan {
        #[serde(default)]
        note: Option<String>,
    },
    /// The tracker told the requester how and when; records the reassurance contact (心理辅导).
    InformRequester {
        contact_note: String,
        /// Sent to the requester as a reply (SMS/email) when given.
        #[serde(default)]
        message: Option<String>,
    },
    WaitForCustomer {
        #[serde(default)]
        note: Option<String>,
    },
    CustomerResponded {
        #[serde(default)]
        note: Option<String>,
    },
    Resolve {
        summary: String,
    },
    /// A repair request fixed by phone or video (远程指导).
    SolvedRemotely {
        summary: String,
    },
    /// Remote support could not fix it: the ticket becomes a repair request for field service,
    /// carrying the pre-diagnosis and the parts to bring.
    ConvertForField {
        pre_diagnosis: String,
        #[serde(default)]
        parts: Vec<String>,
    },
    /// The requester confirms the outcome (recorded by the desk, or by the dealer itself).
    Confirm {
        #[serde(default)]
        note: Option<String>,
    },
    Close,
    Reopen {
        reason: String,
    },
    Reassign {
        user_id: i64,
    },
    MergeInto {
        target_id: i64,
    },
    Cancel {
        reason: String,
    },
    /// 催单.
    Urge {
        #[serde(default)]
        note: Option<String>,
    },
    /// Complaint facts: category, liability, remedy and cost allocation.
    SetComplaint {
        #[serde(default)]
        category: Option<String>,
        #[serde(default)]
        liability: Option<String>,
        #[serde(default)]
        remedy: Option<String>,
        #[serde(default)]
        cost_shares: Vec<CostShareInput>,
    },
}

impl ActionInput {
    pub fn name(&self) -> &'static str {
        match self {
            ActionInput::Route { .. } => "route",
            ActionInput::Transfer { .. } => "transfer",
            ActionInput::Accept => "accept",
            ActionInput::AddPlanPart { .. } => "add_plan_part",
            ActionInput::SignPart { .. } => "sign_part",
            ActionInput::SignPlan => "sign_plan",
            ActionInput::ReturnPlan { .. } => "return_plan",
            ActionInput::InformRequester { .. } => "inform_requester",
            ActionInput::WaitForCustomer { .. } => "wait_for_customer",
            ActionInput::CustomerResponded { .. } => "customer_responded",
            ActionInput::Resolve { .. } => "resolve",
            ActionInput::SolvedRemotely { .. } => "solved_remotely",
            ActionInput::ConvertForField { .. } => "convert_for_field",
            ActionInput::Confirm { .. } => "confirm",
            ActionInput::Close => "close",
            ActionInput::Reopen { .. } => "reopen",
            ActionInput::Reassign { .. } => "reassign",
            ActionInput::MergeInto { .. } => "merge_into",
            ActionInput::Cancel { .. } => "cancel",
            ActionInput::Urge { .. } => "urge",
            ActionInput::SetComplaint { .. } => "set_complaint",
        }
    }
}

/// A reply to the requester or an internal note.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct MessageInput {
    pub body: String,
    /// true: an internal note the requester never sees.
    #[serde(default)]
    pub internal: bool,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CompensationInput {
    /// Amount in fen (分).
    pub amount_fen: i64,
    /// company | manufacturer | insurer
    pub payer: String,
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ReviewInput {
    /// Where the review was left (e.g. 京东, 天猫).
    pub platform: String,
    pub order_ref: String,
    #[serde(default)]
    pub rating: Option<i64>,
    pub review_text: String,
    #[serde(default)]
    pub reviewed_at: Option<String>,
}

/// What the call back found. There is deliberately no field for paying or discounting for a
/// review's removal (forbidden since 2024-09-01, SPEC D6).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ReviewOutcomeInput {
    pub recovery: String,
    /// Whether the customer changed the review of their own accord (recorded, never asked for).
    #[serde(default)]
    pub review_updated_by_customer: Option<bool>,
    #[serde(default)]
    pub bought_again: Option<bool>,
}

/// Which list of tickets.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, utoipa::IntoParams)]
pub struct TicketListInput {
    /// mine | department | unassigned | tracking | dealers | escalated | urged | breaching | all
    /// (default all); breaching: a running SLA clock falls due within two hours, or is late
    #[serde(default)]
    pub queue: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub customer_id: Option<i64>,
    #[serde(default)]
    pub device_id: Option<i64>,
    /// Open tickets only (default true for queues, false for `all`).
    #[serde(default)]
    pub open: Option<bool>,
    #[serde(default)]
    pub cursor: Option<String>,
    #[serde(default)]
    pub limit: Option<u32>,
}

// ---------------------------------------------------------------- views

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OwnerView {
    /// user | queue
    #[serde(rename = "type")]
    pub kind: String,
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TicketSummary {
    pub id: i64,
    pub number: String,
    pub kind: String,
    pub channel: String,
    pub priority: String,
    pub status: String,
    pub subject: String,
    pub customer_id: Option<i64>,
    pub requester_id: Option<i64>,
    pub dealer_id: Option<i64>,
    pub device_id: Option<i64>,
    pub owner: OwnerView,
    pub tracker_id: Option<i64>,
    pub department_id: Option<i64>,
    pub urges: u32,
    pub escalated: bool,
    pub plan_committed_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub version: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlanPartView {
    pub department_id: i64,
    pub department: String,
    pub summary: String,
    pub remedy: Option<String>,
    pub committed_at: String,
    pub signed_by: Option<String>,
    pub signed_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HistoryView {
    pub at: String,
    pub actor: String,
    pub event: String,
    pub from_status: String,
    pub to_status: String,
    pub owner: Option<String>,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageView {
    pub id: i64,
    pub at: String,
    pub author: String,
    /// reply | internal | inbound
    pub visibility: String,
    pub channel: String,
    pub body: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CompensationView {
    pub id: i64,
    pub amount_fen: i64,
    pub payer: String,
    pub status: String,
    pub reason: String,
    pub paid_at: Option<String>,
    pub version: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReviewView {
    pub platform: String,
    pub order_ref: String,
    pub rating: Option<i64>,
    pub review_text: String,
    pub called_back_at: Option<String>,
    pub recovery: Option<String>,
    pub review_updated_by_customer: Option<bool>,
    pub bought_again: Option<bool>,
    pub version: i64,
}

pub use crate::attachments::AttachmentView;

/// Everything the ticket page shows.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TicketView {
    #[serde(flatten)]
    pub summary: TicketSummary,
    pub description: String,
    pub customer_name: Option<String>,
    pub requester_name: Option<String>,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub contact_email: Option<String>,
    pub tracker_name: Option<String>,
    pub department_name: Option<String>,
    pub complaint_category: Option<String>,
    pub liability: Option<String>,
    pub remedy: Option<String>,
    pub cost_shares: Vec<CostShareInput>,
    pub remote_outcome: Option<String>,
    pub pre_diagnosis: Option<String>,
    pub parts_list: Vec<String>,
    pub work_order_id: Option<i64>,
    pub merged_into: Option<i64>,
    pub informed_at: Option<String>,
    pub confirmed_at: Option<String>,
    pub closed_at: Option<String>,
    pub round: i64,
    pub plan: Vec<PlanPartView>,
    pub history: Vec<HistoryView>,
    pub messages: Vec<MessageView>,
    pub compensations: Vec<CompensationView>,
    pub review: Option<ReviewView>,
    pub attachments: Vec<AttachmentView>,
    /// The actions this user may take now (names of `ActionInput`).
    pub actions: Vec<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TicketCreated {
    pub id: i64,
    pub number: String,
    /// The caller already had an open ticket: this request was attached to it (D10).
    pub attached: bool,
    /// The requester's status page (signed link), when a new ticket was made.
    pub status_link: Option<String>,
    #[serde(skip)]
    pub replayed: bool,
}

// ---------------------------------------------------------------- helpers

fn parse_enum<T>(
    f: &mut Fields,
    field: &str,
    v: Option<&str>,
    parse: fn(&str) -> Option<T>,
) -> Option<T> {
    let v = v.map(str::trim).filter(|s| !s.is_empty())?;
    let out = parse(v);
    if out.is_none() {
        f.add(field, format!("unknown value {v:?}"));
    }
    out
}

fn text(f: &mut Fields, field: &str, v: &str, max: usize) -> Option<String> {
    match domain::text::required(v, max) {
        Ok(s) => Some(s),
        Err(e) => {
            f.add(field, e.to_string());
            None
        }
    }
}

fn opt_text(f: &mut Fields, field: &str, v: Option<&str>, max: usize) -> Option<String> {
    match domain::text::optional(v, max) {
        Ok(s) => s,
        Err(e) => {
            f.add(field, e.to_string());
            None
        }
    }
}

fn ts(app: &App, t: Timestamp) -> String {
    t.rfc3339_in(app.settings.tz)
}

/// The first active department whose function is `service`: where unattended tickets wait.
async fn intake_queue(c: &mut Conn) -> Result<OrgUnitId> {
    org::units(c)
        .await?
        .into_iter()
        .find(|u| {
            u.active
                && u.kind == domain::account::OrgUnitKind::Department
                && u.function == Some(domain::account::OrgFunction::Service)
        })
        .map(|u| u.id)
        .ok_or_else(|| {
            Error::Conflict(
                "no active service department (function 'service') to receive tickets; create one under Admin → Org units".into(),
            )
        })
}

async fn department(c: &mut Conn, field: &str, id: i64) -> Result<OrgUnitId> {
    match org::unit(c, OrgUnitId(id)).await {
        Ok(u)
            if u.active
                && matches!(
                    u.kind,
                    domain::account::OrgUnitKind::Department | domain::account::OrgUnitKind::Branch
                ) =>
        {
            Ok(u.id)
        }
        Ok(_) => Err(Error::field(field, "not an active department")),
        Err(store::Error::NotFound) => Err(Error::field(field, "unknown department")),
        Err(e) => Err(e.into()),
    }
}

/// Stores a new ticket (`t.number` and `t.state.id` are ignored) with the next number of the
/// day `t.created_at` falls on in `tz`: `KF20261001-000123`. Sets both on `t`.
pub(crate) async fn insert_new(
    c: &mut Conn,
    t: &mut Ticket,
    access_key_hash: Option<&str>,
    tz: chrono_tz::Tz,
) -> Result<TicketId> {
    let day = t.created_at.date_in(tz);
    let prefix = format!("KF{}-", day.to_string().replace('-', ""));
    let (id, number) =
        tickets::insert_numbered(c, t, access_key_hash, "ticket", &day.to_string(), &prefix)
            .await?;
    t.state.id = id;
    t.number = number;
    Ok(id)
}

/// The requester's status link: the ticket number and a key only the requester holds.
fn status_link(number: &str, key: &str) -> String {
    format!("/t/{number}?k={key}")
}

/// One row of history, written with every change.
#[allow(clippy::too_many_arguments)]
async fn history(
    c: &mut Conn,
    t: &Ticket,
    at: Timestamp,
    actor: Option<UserId>,
    label: Option<&str>,
    event: &str,
    from: TicketStatus,
    data: serde_json::Value,
) -> Result<()> {
    tickets::insert_event(
        c,
        &NewEvent {
            ticket_id: t.id(),
            brand_id: t.brand_id,
            at,
            actor_id: actor,
            actor_label: label,
            event,
            from,
            to: t.state.status,
            owner: t.state.owner,
            data,
        },
    )
    .await?;
    Ok(())
}

/// A line on the customer's (and device's) timeline about the ticket.
async fn on_timeline(
    c: &mut Conn,
    t: &Ticket,
    at: Timestamp,
    author: Option<UserId>,
    body: &str,
) -> Result<()> {
    if let Some(customer) = t.customer_id.or(t.requester_id) {
        let mut batch = store::sql::Batch::new();
        timeline::append_about_into(
            &mut batch,
            &NewEntry {
                customer_id: customer,
                device_id: t.device_id,
                brand_id: t.brand_id,
                at,
                kind: TimelineKind::Ticket,
                category_id: None,
                author_id: author,
                body,
            },
            Some(t.id()),
        );
        batch.run(c).await?;
    }
    Ok(())
}

/// Milestones the requester hears about (D7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Milestone {
    Received,
    PlanInformed,
    Replied,
    Resolved,
    Closed,
}

impl Milestone {
    pub fn template(self) -> &'static str {
        match self {
            Milestone::Received => "ticket.received",
            Milestone::PlanInformed => "ticket.plan",
            Milestone::Replied => "ticket.replied",
            Milestone::Resolved => "ticket.resolved",
            Milestone::Closed => "ticket.closed",
        }
    }

    /// Subject and text in the requester's language (zh-CN unless `en`).
    pub fn render(self, locale: &str, number: &str, detail: &str) -> (String, String) {
        let en = locale.starts_with("en");
        let (subject, lead) = match (self, en) {
            (Milestone::Received, false) => (
                format!("您的服务请求 {number} 已受理"),
                "我们已收到您的请求，专人跟进，处理进展会及时告知您。",
            ),
            (Milestone::Received, true) => (
                format!("Your request {number} has been received"),
                "We have received your request; a named person follows it and will keep you informed.",
            ),
            (Milestone::PlanInformed, false) => (
                format!("服务请求 {number} 的处理方案"),
                "您的问题已有处理方案：",
            ),
            (Milestone::PlanInformed, true) => (
                format!("How we will solve {number}"),
                "Here is how and when we will solve it:",
            ),
            (Milestone::Replied, false) => (format!("服务请求 {number} 有新回复"), ""),
            (Milestone::Replied, true) => (format!("New reply on {number}"), ""),
            (Milestone::Resolved, false) => (
                format!("服务请求 {number} 已处理，请确认"),
                "您的问题已处理完毕，请通过链接确认结果；如未解决，可直接回复或重新打开。",
            ),
            (Milestone::Resolved, true) => (
                format!("{number} is resolved — please confirm"),
                "Your request is resolved. Please confirm through the link; if it is not solved, reply or reopen it.",
            ),
            (Milestone::Closed, false) => (
                format!("服务请求 {number} 已关闭"),
                "感谢您的耐心，本次服务已完成。",
            ),
            (Milestone::Closed, true) => (
                format!("{number} is closed"),
                "Thank you for your patience; this request is complete.",
            ),
        };
        let body = [lead, detail]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("\n\n");
        (subject, body)
    }
}

/// The provider templates of one milestone, read from the settings before the transaction.
#[derive(Debug, Clone)]
struct Templates {
    /// The approved SMS template code.
    sms: Option<String>,
    /// The WeChat app, the subscription template id and its data keys.
    wechat: Option<(String, String, crate::notify::WechatFields)>,
    tz: chrono_tz::Tz,
}

fn templates(app: &App, m: Milestone) -> Templates {
    let s = &app.settings;
    Templates {
        sms: s.sms_templates.get(m.template()).cloned(),
        wechat: match (&s.wechat, s.wechat_templates.get(m.template())) {
            (Some(w), Some(tpl)) => Some((w.appid.clone(), tpl.clone(), s.wechat_fields.clone())),
            _ => None,
        },
        tz: s.tz,
    }
}

/// Writes the requester's notifications for a milestone into the outbox (same transaction):
/// email when the ticket has an address; SMS when it has a mobile phone and the SMS template for
/// the milestone is configured (`KEFU_SMS_TEMPLATE_<MILESTONE>`); a WeChat subscription message
/// when the customer bound an openid under the configured app and the milestone's WeChat
/// template is configured (`KEFU_WECHAT_TEMPLATE_<MILESTONE>`).
async fn notify_requester(
    c: &mut Conn,
    t: &Ticket,
    m: Milestone,
    tpl: &Templates,
    detail: &str,
    link: Option<&str>,
    at: Timestamp,
) -> Result<()> {
    let short_detail = detail;
    let detail = match link {
        Some(l) => format!("{detail}\n\n{l}").trim().to_string(),
        None => detail.to_string(),
    };
    let (subject, body) = m.render("zh-CN", &t.number, &detail);
    if let Some(email) = &t.contact_email {
        let mut payload = json!({ "subject": subject, "body": body, "ticket": t.number });
        // Email threading (app::mail): Message-ID, Reply-To +T tag, In-Reply-To.
        crate::mail::thread_outbound(c, t, m, at, &mut payload).await?;
        outbox::insert(
            c,
            &outbox::NewMessage {
                channel: outbox::Channel::Email,
                recipient: email.clone(),
                template: m.template().into(),
                payload,
                ref_entity: Some("ticket".into()),
                ref_id: Some(t.id().0),
                brand_id: t.brand_id,
            },
            at,
        )
        .await?;
    }
    if let (Some(phone), Some(code)) = (&t.contact_phone, tpl.sms.as_deref())
        && Phone::parse(phone).is_ok_and(|p| p.is_mobile())
    {
        outbox::insert(
            c,
            &outbox::NewMessage {
                channel: outbox::Channel::Sms,
                recipient: phone.clone(),
                template: code.to_string(),
                payload: match link {
                    Some(l) => json!({ "number": t.number, "link": l }),
                    None => json!({ "number": t.number }),
                },
                ref_entity: Some("ticket".into()),
                ref_id: Some(t.id().0),
                brand_id: t.brand_id,
            },
            at,
        )
        .await?;
    }
    if let (Some((appid, template_id, fields)), Some(customer)) =
        (&tpl.wechat, t.customer_id.or(t.requester_id))
        && let Some(b) = store::notify::wechat_of(c, customer, appid).await?
    {
        let detail = if short_detail.trim().is_empty() {
            t.subject.as_str()
        } else {
            short_detail
        };
        let params = fields.params(
            &t.number,
            crate::notify::subscriptions::requester_status(t.state.status),
            &at.display_in(tpl.tz),
            detail,
            link,
        );
        outbox::insert(
            c,
            &outbox::NewMessage {
                channel: outbox::Channel::Wechat,
                recipient: b.openid,
                template: template_id.clone(),
                payload: params,
                ref_entity: Some("ticket".into()),
                ref_id: Some(t.id().0),
                brand_id: t.brand_id,
            },
            at,
        )
        .await?;
    }
    Ok(())
}

// ---------------------------------------------------------------- search

/// A ticket's search document: the subject as title, the description and the messages as body,
/// the caller's phone and email as hidden keys; status and kind as facets.
fn ticket_doc(t: &Ticket, messages: &[String]) -> crate::search::Doc {
    let mut body = t.description.clone();
    for m in messages {
        body.push('\n');
        body.push_str(m);
    }
    crate::search::Doc {
        kind: store::search::DocKind::Ticket,
        id: t.id().0,
        brand_id: t.brand_id,
        customer_id: t.customer_id.or(t.requester_id),
        title: format!("{} {}", t.number, t.subject),
        body,
        keys: t
            .contact_phone
            .iter()
            .chain(t.contact_email.iter())
            .cloned()
            .collect(),
        status: Some(t.state.status.as_str().to_string()),
        sub_kind: Some(t.state.kind.as_str().to_string()),
        at: t.updated_at,
    }
}

/// Keeps the search document in step after a message; a failure leaves the message stored and
/// is logged (`kefu reindex` repairs the index).
pub(crate) async fn index_after_message(app: &App, id: TicketId) {
    if let Err(e) = reindex_ticket(app, id).await {
        tracing::warn!(ticket = id.0, error = %e, "ticket not re-indexed after a message");
    }
}

/// Re-indexes a ticket with all its messages (after a message arrives); reads, segments
/// outside any transaction, then writes.
pub(crate) async fn reindex_ticket(app: &App, id: TicketId) -> Result<()> {
    let (t, msgs) = app
        .db
        .read(move |c| {
            Box::pin(async move {
                let t = tickets::get(c, &Scope::All, id).await?;
                let msgs = tickets::messages(c, id, false).await?;
                Ok::<_, Error>((t, msgs))
            })
        })
        .await?;
    let texts: Vec<String> = msgs.into_iter().map(|m| m.body).collect();
    let doc = ticket_doc(&t, &texts).prepare();
    app.db
        .write(move |c| Box::pin(async move { crate::search::index(c, &doc).await }))
        .await
}

// ---------------------------------------------------------------- SLA clocks (D4)

/// The clocks a ticket runs from its creation: first reply and resolution for every kind, and
/// the 48 h proposal (处理方案) for complaints, where liability or compensation is at stake.
fn sla_metrics(kind: TicketKind) -> Vec<domain::sla::SlaMetric> {
    use domain::sla::SlaMetric as M;
    if kind == TicketKind::Complaint {
        vec![M::FirstReply, M::Proposal, M::Resolution]
    } else {
        vec![M::FirstReply, M::Resolution]
    }
}

fn policy_key(t: &Ticket) -> domain::sla::PolicyKey {
    domain::sla::PolicyKey {
        kind: t.state.kind,
        category: t.complaint_category,
        priority: t.state.priority,
        tier: None,
    }
}

// ---------------------------------------------------------------- create

struct Resolved {
    customer: Option<CustomerId>,
    requester: Option<CustomerId>,
    dealer: Option<CustomerId>,
    device: Option<DeviceId>,
    brand: Option<BrandId>,
    owner: Owner,
    tracker: Option<UserId>,
}

/// Creates a ticket — or, when the customer already has an open one and `force_new` is not set,
/// attaches the request to it as an inbound message (D10: a repeat caller is not given a new
/// ticket).
pub async fn create(app: &App, ctx: &Ctx, input: TicketInput) -> Result<TicketCreated> {
    create_keyed(app, ctx, input, None).await
}

/// `create` with the requester's status-link key chosen by the caller: the public web form
/// derives it from its signed token, so that a replayed submission can show the same link again.
pub(crate) async fn create_keyed(
    app: &App,
    ctx: &Ctx,
    input: TicketInput,
    link_key: Option<String>,
) -> Result<TicketCreated> {
    ctx.require(Permission::TicketCreate)?;
    let mut f = Fields::new();
    let kind = parse_enum(&mut f, "kind", Some(&input.kind), TicketKind::parse);
    if input.kind.trim().is_empty() {
        f.add("kind", "required");
    }
    let default_channel = match &ctx.scope {
        Scope::Dealer(_) => Channel::DealerPortal,
        _ if ctx.actor.user_id().is_none() => Channel::Api,
        _ => Channel::Phone,
    };
    let channel = parse_enum(&mut f, "channel", input.channel.as_deref(), Channel::parse)
        .unwrap_or(default_channel);
    let priority = parse_enum(
        &mut f,
        "priority",
        input.priority.as_deref(),
        Priority::parse,
    );
    let subject = text(&mut f, "subject", &input.subject, SUBJECT_MAX);
    let description =
        opt_text(&mut f, "description", Some(&input.description), BODY_MAX).unwrap_or_default();
    let category = parse_enum(
        &mut f,
        "complaint_category",
        input.complaint_category.as_deref(),
        ComplaintCategory::parse,
    );
    let phone = match input
        .phone
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(p) => match Phone::parse(p) {
            Ok(p) => Some(p),
            Err(e) => {
                f.add("phone", e.to_string());
                None
            }
        },
        None => None,
    };
    let contact_name = opt_text(&mut f, "contact_name", input.contact_name.as_deref(), 100);
    let contact_email = opt_text(&mut f, "contact_email", input.contact_email.as_deref(), 200);
    if let Some(e) = &contact_email
        && !e.contains('@')
    {
        f.add("contact_email", "not an email address");
    }
    if category.is_some() && kind != Some(TicketKind::Complaint) {
        f.add("complaint_category", "only complaints have a category");
    }
    f.finish()?;
    let kind = kind.ok_or_else(|| Error::field("kind", "required"))?;
    let subject = subject.ok_or_else(|| Error::field("subject", "required"))?;
    let priority = priority.unwrap_or(if kind == TicketKind::Complaint {
        Priority::High
    } else {
        Priority::Normal
    });

    let scope = ctx.scope.clone();
    let actor = ctx.actor.user_id();
    let actor_can_work = ctx.can(Permission::TicketWork);
    let label = ctx.actor.label();
    let audit = audit_entry(ctx, "create", "ticket");
    let tz = app.settings.tz;
    let key = link_key.unwrap_or_else(crate::secret::random_token);
    let key_hash = crate::secret::digest(&key);
    let sms = templates(app, Milestone::Received);
    let settings = app.settings.clone();
    let force_new = input.force_new;
    let call_id = input.call_id;
    let input_customer = input.customer_id;
    let input_requester = input.requester_id;
    let input_device = input.device_id;
    let input_brand = input.brand_id;
    let link_key = key.clone();
    // The ticket as far as it is known before the write; the transaction adds its number, its
    // parties and its first owner.
    let draft = Ticket {
        state: TicketState::new(TicketId(0), kind, Owner::User(UserId(0)), priority),
        number: String::new(),
        brand_id: None,
        channel,
        subject: subject.clone(),
        description: description.clone(),
        customer_id: None,
        requester_id: None,
        dealer_id: None,
        device_id: None,
        contact_name,
        contact_phone: phone.as_ref().map(|p| p.as_str().to_string()),
        contact_email,
        round: 0,
        last_urged_at: None,
        complaint_category: category,
        liability: None,
        remedy: None,
        cost_shares: Vec::new(),
        plan_committed_at: None,
        remote_outcome: None,
        pre_diagnosis: None,
        parts_list: Vec::new(),
        first_reply_at: None,
        informed_at: None,
        confirmed_at: None,
        escalated_at: None,
        source_call_id: call_id,
        created_by: actor,
        version: 1,
        created_at: ctx.now(),
        updated_at: ctx.now(),
        closed_at: None,
    };
    let mut doc = ticket_doc(&draft, &[]).prepare();
    // The brand's tier picks its SLA policies (a premium brand's first reply is sooner); the
    // brand is known here from the caller's scope or the request, else from the device.
    let tier = {
        let scope = ctx.scope.clone();
        let brand = match &ctx.scope {
            Scope::Brands(set) if set.len() == 1 => set.iter().next().copied(),
            _ => input_brand.map(BrandId),
        };
        app.db
            .read(move |c| {
                Box::pin(async move {
                    let brand = match (brand, input_device) {
                        (Some(b), _) => Some(b),
                        (None, Some(d)) => devices::get(c, &scope, DeviceId(d))
                            .await
                            .ok()
                            .and_then(|d| d.brand_id),
                        (None, None) => None,
                    };
                    let Some(b) = brand else {
                        return Ok::<_, Error>(None);
                    };
                    Ok(org::brands(c)
                        .await?
                        .into_iter()
                        .find(|x| x.id == b)
                        .map(|x| x.tier))
                })
            })
            .await?
    };
    let mut policy = policy_key(&draft);
    policy.tier = tier;
    let sla_plans = crate::sla::plan(app, &policy, &sla_metrics(kind)).await?;
    // A new caller's phone matches no customer: looked up here, on a read connection, the
    // write skips the lookup (the writer runs one write after another, so each statement taken
    // out of it raises the rate of creates). A customer saved with that phone between this read
    // and the write is not linked — as if the ticket had been created a moment earlier. When
    // the phone does match, the write looks it up again and decides with what it reads there.
    let phone_is_new = match (&phone, input_customer, input_device) {
        (Some(p), None, None) => {
            let (scope, p) = (ctx.scope.clone(), p.clone());
            app.db
                .read(move |c| {
                    Box::pin(async move { customers::find_by_phone(c, &scope, &p).await })
                })
                .await?
                .is_empty()
        }
        _ => false,
    };
    // Who follows new tickets (D7 subscriptions), read here for the same reason.
    let following = app
        .db
        .read(|c| {
            Box::pin(async move { store::notify::following(c, Event::Received.as_str()).await })
        })
        .await?;

    // Attaching to an open ticket is an answer of its own: the id is that ticket's.
    let attached = std::sync::Arc::new(std::sync::Mutex::new(None::<(i64, String)>));
    let attached_w = attached.clone();
    // The new ticket's number, known only inside the write: the answer needs no read after it.
    let numbered = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
    let numbered_w = numbered.clone();
    let created = create_once(app, ctx, TicketId, move |c| {
        Box::pin(async move {
            let now = audit.at;
            let r = resolve_parties(
                c,
                &scope,
                actor,
                actor_can_work,
                input_customer,
                input_requester,
                input_device,
                input_brand,
                phone.as_ref().filter(|_| !phone_is_new),
            )
            .await?;
            // D10: a repeat caller with an open ticket is attached to it.
            if !force_new
                && let Some(cust) = r.customer.or(r.requester)
                && let Some(open) = tickets::open_of_customer(c, &scope, cust).await?
            {
                let body = if description.is_empty() {
                    subject.clone()
                } else {
                    format!("{subject}\n{description}")
                };
                tickets::insert_message(
                    c,
                    &NewMessage {
                        ticket_id: open.id(),
                        brand_id: open.brand_id,
                        at: now,
                        author_id: actor,
                        author_label: Some(&label),
                        visibility: "inbound",
                        channel: channel.as_str(),
                        body: &body,
                        email_message_id: None,
                        in_reply_to: None,
                    },
                )
                .await?;
                history(
                    c,
                    &open,
                    now,
                    actor,
                    None,
                    "repeat_contact",
                    open.state.status,
                    json!({ "channel": channel.as_str() }),
                )
                .await?;
                let open_id = open.id().0;
                *attached_w.lock().expect("not poisoned") = Some((open_id, open.number));
                return Ok(open_id);
            }
            let mut state = TicketState::new(TicketId(0), kind, r.owner, priority);
            state.tracker = r.tracker;
            let mut t = draft;
            t.state = state;
            t.brand_id = r.brand;
            t.customer_id = r.customer;
            t.requester_id = r.requester;
            t.dealer_id = r.dealer;
            t.device_id = r.device;
            t.created_at = now;
            t.updated_at = now;
            let id = insert_new(c, &mut t, Some(&key_hash), tz).await?;
            crate::sla::start_new(
                c,
                domain::sla::Subject::ticket(id),
                t.brand_id,
                t.customer_id.or(t.requester_id),
                &sla_plans,
                now,
            )
            .await?;
            doc.set_id(id.0);
            doc.push_words(&t.number);
            let mut row = doc.into_row();
            row.brand_id = t.brand_id;
            row.customer_id = t.customer_id.or(t.requester_id);
            row.title = format!("{} {}", t.number, t.subject);
            // The search document, the history row and the audit row.
            let mut batch = store::sql::Batch::new();
            store::search::upsert_into(&mut batch, &row);
            tickets::insert_event_into(
                &mut batch,
                &NewEvent {
                    ticket_id: t.id(),
                    brand_id: t.brand_id,
                    at: now,
                    actor_id: actor,
                    actor_label: None,
                    event: "create",
                    from: TicketStatus::Open,
                    to: t.state.status,
                    owner: t.state.owner,
                    data: json!({ "channel": channel.as_str(), "kind": kind.as_str() }),
                },
            );
            on_timeline(
                c,
                &t,
                now,
                actor,
                &format!("{} {} · {}", t.number, kind.as_str(), t.subject),
            )
            .await?;
            notify_requester(
                c,
                &t,
                Milestone::Received,
                &sms,
                &t.subject,
                Some(&settings.public_link(&status_link(&t.number, &link_key))),
                now,
            )
            .await?;
            crate::notify::subscriptions::publish_among(
                c,
                &following,
                tz,
                Event::Received,
                &t,
                json!({}),
                now,
            )
            .await?;
            audit.write_into(
                &mut batch,
                Some(id.0),
                t.brand_id,
                Some(json!({ "number": t.number, "kind": kind.as_str(), "owner": t.state.owner })),
            );
            batch.run(c).await?;
            *numbered_w.lock().expect("not poisoned") = Some(t.number);
            Ok(id.0)
        })
    })
    .await?;
    let Created { id, replayed } = created;
    let attached = attached.lock().expect("not poisoned").take();
    if let Some((tid, number)) = attached {
        index_after_message(app, TicketId(tid)).await;
        return Ok(TicketCreated {
            id: tid,
            number,
            attached: true,
            status_link: None,
            replayed,
        });
    }
    // A replay made nothing here (its write rolled back): the number is the stored ticket's,
    // and the key cannot be shown again — it was handed out once.
    let made = numbered.lock().expect("not poisoned").take();
    let number = match made {
        Some(n) if !replayed => n,
        _ => {
            let scope = ctx.scope.clone();
            app.db
                .read(move |c| Box::pin(async move { tickets::get(c, &scope, id).await }))
                .await?
                .number
        }
    };
    Ok(TicketCreated {
        id: id.0,
        status_link: (!replayed).then(|| app.settings.public_link(&status_link(&number, &key))),
        number,
        attached: false,
        replayed,
    })
}

/// Works out customer, requester, dealer, device, brand and the first owner of a new ticket.
#[allow(clippy::too_many_arguments)]
async fn resolve_parties(
    c: &mut Conn,
    scope: &Scope,
    actor: Option<UserId>,
    actor_can_work: bool,
    customer: Option<i64>,
    requester: Option<i64>,
    device: Option<i64>,
    brand: Option<i64>,
    phone: Option<&Phone>,
) -> Result<Resolved> {
    let mut customer_id = match customer {
        Some(id) => Some(
            customers::get(c, scope, CustomerId(id))
                .await
                .map_err(|_| Error::field("customer_id", "unknown customer"))?
                .id,
        ),
        None => None,
    };
    if customer_id.is_none()
        && let Some(p) = phone
    {
        customer_id = customers::find_by_phone(c, scope, p)
            .await?
            .first()
            .map(|c| c.id);
    }
    let device_id = match device {
        Some(id) => {
            let d = devices::get(c, scope, DeviceId(id))
                .await
                .map_err(|_| Error::field("device_id", "unknown device"))?;
            match customer_id {
                Some(cu) if cu != d.customer_id => {
                    return Err(Error::field("device_id", "belongs to another customer"));
                }
                None => customer_id = Some(d.customer_id),
                _ => {}
            }
            Some(d)
        }
        None => None,
    };
    let mut requester_id = match requester {
        Some(id) => {
            let r = customers::get(c, scope, CustomerId(id))
                .await
                .map_err(|_| Error::field("requester_id", "unknown requester"))?;
            Some(r)
        }
        None => None,
    };
    if let Scope::Dealer(d) = scope {
        requester_id = Some(customers::get(c, scope, *d).await?);
    }
    let mut dealer_id = requester_id
        .as_ref()
        .filter(|r| r.kind == CustomerKind::Dealer)
        .map(|r| r.id);
    let mut customer_rec = None;
    if let Some(cu) = customer_id {
        let rec = customers::get(c, scope, cu).await?;
        if dealer_id.is_none() {
            dealer_id = rec.dealer_id;
        }
        customer_rec = Some(rec);
    }
    let brand_id = match scope {
        Scope::Brands(set) if set.len() == 1 => set.iter().next().copied(),
        Scope::Brands(set) => match brand.map(BrandId) {
            Some(b) if set.contains(&b) => Some(b),
            _ => return Err(Error::field("brand_id", "name one of your brands")),
        },
        _ => brand
            .map(BrandId)
            .or_else(|| device_id.as_ref().and_then(|d| d.brand_id)),
    };
    // Who owns it first: the desk user who took it; for a dealer's request, the dealer's account
    // owner (who stays the named tracker, D2); otherwise the intake queue.
    let dealer_owner = match &requester_id {
        Some(r) if r.kind == CustomerKind::Dealer => r.owner_user_id,
        _ => customer_rec
            .as_ref()
            .filter(|c| c.kind == CustomerKind::Dealer)
            .and_then(|c| c.owner_user_id),
    };
    let (owner, tracker) = match (actor, actor_can_work, dealer_owner) {
        (Some(u), true, _) => (Owner::User(u), Some(u)),
        (_, _, Some(o)) => (Owner::User(o), Some(o)),
        _ => (Owner::Queue(intake_queue(c).await?), None),
    };
    Ok(Resolved {
        customer: customer_id,
        requester: requester_id.map(|r| r.id),
        dealer: dealer_id,
        device: device_id.map(|d| d.id),
        brand: brand_id,
        owner,
        tracker,
    })
}

// ---------------------------------------------------------------- read

fn owner_view(o: Owner, names: &Names) -> OwnerView {
    match o {
        Owner::User(u) => OwnerView {
            kind: "user".into(),
            id: u.0,
            name: names.user(u),
        },
        Owner::Queue(q) => OwnerView {
            kind: "queue".into(),
            id: q.0,
            name: names.unit(q),
        },
    }
}

/// Display names of users and units, read once per request.
#[derive(Default)]
struct Names {
    users: std::collections::HashMap<i64, String>,
    units: std::collections::HashMap<i64, String>,
}

impl Names {
    async fn load(c: &mut Conn) -> Result<Self> {
        let users = users::list(c)
            .await?
            .into_iter()
            .map(|u| (u.id.0, u.display_name))
            .collect();
        let units = org::units(c)
            .await?
            .into_iter()
            .map(|u| (u.id.0, u.name))
            .collect();
        Ok(Self { users, units })
    }
    fn user(&self, u: UserId) -> String {
        self.users
            .get(&u.0)
            .cloned()
            .unwrap_or_else(|| format!("#{}", u.0))
    }
    fn unit(&self, u: OrgUnitId) -> String {
        self.units
            .get(&u.0)
            .cloned()
            .unwrap_or_else(|| format!("#{}", u.0))
    }
}

fn summary(app: &App, t: &Ticket, names: &Names) -> TicketSummary {
    TicketSummary {
        id: t.id().0,
        number: t.number.clone(),
        kind: t.state.kind.as_str().into(),
        channel: t.channel.as_str().into(),
        priority: t.state.priority.as_str().into(),
        status: t.state.status.as_str().into(),
        subject: t.subject.clone(),
        customer_id: t.customer_id.map(|x| x.0),
        requester_id: t.requester_id.map(|x| x.0),
        dealer_id: t.dealer_id.map(|x| x.0),
        device_id: t.device_id.map(|x| x.0),
        owner: owner_view(t.state.owner, names),
        tracker_id: t.state.tracker.map(|x| x.0),
        department_id: t.state.department.map(|x| x.0),
        urges: t.state.urges,
        escalated: t.escalated_at.is_some(),
        plan_committed_at: t.plan_committed_at.map(|x| ts(app, x)),
        created_at: ts(app, t.created_at),
        updated_at: ts(app, t.updated_at),
        version: t.version,
    }
}

/// A page of tickets.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TicketPage {
    pub items: Vec<TicketSummary>,
    pub next_cursor: Option<String>,
}

/// Queues (D3): mine, my department's, unassigned (the intake queue), those I track, my
/// dealers' (account owner), escalated, urged, or all visible.
pub async fn list(app: &App, ctx: &Ctx, input: TicketListInput) -> Result<TicketPage> {
    ctx.require(Permission::TicketRead)?;
    let mut f = Fields::new();
    let status = parse_enum(
        &mut f,
        "status",
        input.status.as_deref(),
        TicketStatus::parse,
    );
    let kind = parse_enum(&mut f, "kind", input.kind.as_deref(), TicketKind::parse);
    let before = match input.cursor.as_deref() {
        Some(s) => {
            if let Some(c) = Cursor::decode(s) {
                Some(TicketId(c.id))
            } else {
                f.add("cursor", "not a cursor this server issued");
                None
            }
        }
        None => None,
    };
    let queue = input.queue.as_deref().unwrap_or("all");
    if !matches!(
        queue,
        "mine"
            | "department"
            | "unassigned"
            | "tracking"
            | "dealers"
            | "escalated"
            | "urged"
            | "breaching"
            | "all"
    ) {
        f.add("queue", format!("unknown queue {queue:?}"));
    }
    f.finish()?;
    let me = ctx.actor.user_id();
    let now = ctx.now();
    let scope = ctx.scope.clone();
    let queue = queue.to_string();
    let limit = domain::cursor::limit(input.limit);
    let open_default = queue != "all";
    let open = input.open.unwrap_or(open_default);
    let customer = input.customer_id.map(CustomerId);
    let device = input.device_id.map(DeviceId);
    let (page, names) = app
        .db
        .read(move |c| {
            Box::pin(async move {
                let mut q = TicketQuery {
                    status,
                    kind,
                    customer,
                    device,
                    open_only: open,
                    before,
                    limit,
                    ..TicketQuery::default()
                };
                let my_unit = match me {
                    Some(u) => users::get(c, u).await?.org_unit_id,
                    None => None,
                };
                match queue.as_str() {
                    "mine" => q.owner_user = Some(me.ok_or(Error::Forbidden)?),
                    "tracking" => q.tracker = Some(me.ok_or(Error::Forbidden)?),
                    "department" => {
                        q.owner_queue = Some(my_unit.ok_or_else(|| {
                            Error::Conflict("you do not belong to a department".into())
                        })?);
                    }
                    "unassigned" => q.owner_queue = Some(intake_queue(c).await?),
                    "dealers" => {
                        let me = me.ok_or(Error::Forbidden)?;
                        let dealers = customers::list(
                            c,
                            &scope,
                            &customers::CustomerQuery {
                                kind: Some(CustomerKind::Dealer),
                                owner: Some(me),
                                limit: 200,
                                ..customers::CustomerQuery::default()
                            },
                        )
                        .await?;
                        q.dealers = Some(dealers.items.into_iter().map(|d| d.id).collect());
                    }
                    "escalated" => q.escalated_only = true,
                    "urged" => q.urged_only = true,
                    "breaching" => q.due_before = Some(Timestamp(now.0 + BREACHING_SOON_MS)),
                    _ => {}
                }
                let page = tickets::list(c, &scope, &q).await?;
                let names = Names::load(c).await?;
                Ok::<_, Error>((page, names))
            })
        })
        .await?;
    let Page { items, next } = page;
    Ok(TicketPage {
        items: items.iter().map(|t| summary(app, t, &names)).collect(),
        next_cursor: next.map(|c| c.encode()),
    })
}

/// Counts for the queue tabs.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueueCounts {
    pub mine: i64,
    pub department: i64,
    pub unassigned: i64,
    pub escalated: i64,
    pub urged: i64,
    /// Open tickets with an SLA clock due within two hours, or late.
    pub breaching: i64,
}

pub async fn queue_counts(app: &App, ctx: &Ctx) -> Result<QueueCounts> {
    ctx.require(Permission::TicketRead)?;
    let now = ctx.now();
    let me = ctx.actor.user_id();
    let scope = ctx.scope.clone();
    app.db
        .read(move |c| {
            Box::pin(async move {
                let my_unit = match me {
                    Some(u) => users::get(c, u).await?.org_unit_id,
                    None => None,
                };
                let mine = match me {
                    Some(u) => {
                        tickets::count_open(
                            c,
                            &scope,
                            &TicketQuery {
                                owner_user: Some(u),
                                ..TicketQuery::default()
                            },
                        )
                        .await?
                    }
                    None => 0,
                };
                let department = match my_unit {
                    Some(d) => {
                        tickets::count_open(
                            c,
                            &scope,
                            &TicketQuery {
                                owner_queue: Some(d),
                                ..TicketQuery::default()
                            },
                        )
                        .await?
                    }
                    None => 0,
                };
                let unassigned = match intake_queue(c).await {
                    Ok(q) => {
                        tickets::count_open(
                            c,
                            &scope,
                            &TicketQuery {
                                owner_queue: Some(q),
                                ..TicketQuery::default()
                            },
                        )
                        .await?
                    }
                    Err(_) => 0,
                };
                let escalated = tickets::count_open(
                    c,
                    &scope,
                    &TicketQuery {
                        escalated_only: true,
                        ..TicketQuery::default()
                    },
                )
                .await?;
                let urged = tickets::count_open(
                    c,
                    &scope,
                    &TicketQuery {
                        urged_only: true,
                        ..TicketQuery::default()
                    },
                )
                .await?;
                let breaching = tickets::count_open(
                    c,
                    &scope,
                    &TicketQuery {
                        due_before: Some(Timestamp(now.0 + BREACHING_SOON_MS)),
                        ..TicketQuery::default()
                    },
                )
                .await?;
                Ok(QueueCounts {
                    mine,
                    department,
                    unassigned,
                    escalated,
                    urged,
                    breaching,
                })
            })
        })
        .await
}

struct Loaded {
    t: Ticket,
    names: Names,
    plan: Vec<domain::ticket::PlanPart>,
    events: Vec<EventRecord>,
    messages: Vec<MessageRecord>,
    comps: Vec<CompensationRecord>,
    review: Option<ReviewRecord>,
    files: Vec<AttachmentRecord>,
    customer_name: Option<String>,
    requester_name: Option<String>,
    in_department: bool,
}

pub async fn get(app: &App, ctx: &Ctx, id: TicketId) -> Result<TicketView> {
    ctx.require(Permission::TicketRead)?;
    let scope = ctx.scope.clone();
    let internal = ctx.can(Permission::TicketWork);
    let me = ctx.actor.user_id();
    let l = app
        .db
        .read(move |c| {
            Box::pin(async move {
                let t = tickets::get(c, &scope, id).await?;
                let plan = tickets::plan_parts(c, id, t.round).await?;
                let mut events = tickets::events(c, id).await?;
                if !internal {
                    // Attachments of internal notes are the desk's own.
                    events
                        .retain(|e| e.data.get("internal") != Some(&serde_json::Value::Bool(true)));
                }
                let messages = tickets::messages(c, id, internal).await?;
                let comps = tickets::compensations(c, id).await?;
                let review = tickets::review_of(c, id).await?;
                let files = tickets::attachments(c, id, internal).await?;
                let names = Names::load(c).await?;
                let customer_name = match t.customer_id {
                    Some(cu) => customers::get(c, &scope, cu).await.ok().map(|c| c.name),
                    None => None,
                };
                let requester_name = match t.requester_id {
                    Some(cu) => customers::get(c, &scope, cu).await.ok().map(|c| c.name),
                    None => None,
                };
                let in_department = match (me, t.state.owner) {
                    (Some(u), Owner::Queue(q)) => tickets::is_member(c, u, q).await?,
                    _ => false,
                };
                Ok::<_, Error>(Loaded {
                    t,
                    names,
                    plan,
                    events,
                    messages,
                    comps,
                    review,
                    files,
                    customer_name,
                    requester_name,
                    in_department,
                })
            })
        })
        .await?;
    Ok(view(app, ctx, l))
}

fn view(app: &App, ctx: &Ctx, l: Loaded) -> TicketView {
    let Loaded {
        t,
        names,
        plan,
        events,
        messages,
        comps,
        review,
        files,
        customer_name,
        requester_name,
        in_department,
    } = l;
    let actions = allowed_actions(ctx, &t, in_department, &plan);
    let contact_phone = t
        .contact_phone
        .as_deref()
        .map(|p| Phone::parse(p).map_or_else(|_| p.to_string(), |p| ctx.show_phone(&p)));
    TicketView {
        summary: summary(app, &t, &names),
        description: t.description.clone(),
        customer_name,
        requester_name,
        contact_name: t.contact_name.clone(),
        contact_phone,
        contact_email: t.contact_email.clone(),
        tracker_name: t.state.tracker.map(|u| names.user(u)),
        department_name: t.state.department.map(|d| names.unit(d)),
        complaint_category: t.complaint_category.map(|x| x.as_str().into()),
        liability: t.liability.map(|x| x.as_str().into()),
        remedy: t.remedy.map(|x| x.as_str().into()),
        cost_shares: t
            .cost_shares
            .iter()
            .map(|s| CostShareInput {
                party: s.party.as_str().into(),
                percent: s.percent,
            })
            .collect(),
        remote_outcome: t.remote_outcome.map(|x| x.as_str().into()),
        pre_diagnosis: t.pre_diagnosis.clone(),
        parts_list: t.parts_list.clone(),
        work_order_id: t.state.work_order.map(|x| x.0),
        merged_into: t.state.merged_into.map(|x| x.0),
        informed_at: t.informed_at.map(|x| ts(app, x)),
        confirmed_at: t.confirmed_at.map(|x| ts(app, x)),
        closed_at: t.closed_at.map(|x| ts(app, x)),
        round: t.round,
        plan: plan
            .iter()
            .map(|p| PlanPartView {
                department_id: p.department.0,
                department: names.unit(p.department),
                summary: p.summary.clone(),
                remedy: p.remedy.map(|r| r.as_str().into()),
                committed_at: ts(app, p.committed_at),
                signed_by: p.signed_by.map(|u| names.user(u)),
                signed_at: p.signed_at.map(|x| ts(app, x)),
            })
            .collect(),
        history: events
            .into_iter()
            .map(|e| HistoryView {
                at: ts(app, e.at),
                actor: e
                    .actor_name
                    .or(e.actor_label)
                    .unwrap_or_else(|| "system".into()),
                event: e.event,
                from_status: e.from_status,
                to_status: e.to_status,
                owner: e.owner_name,
                data: e.data,
            })
            .collect(),
        messages: messages
            .into_iter()
            .map(|m| MessageView {
                id: m.id,
                at: ts(app, Timestamp(m.at)),
                author: m
                    .author_name
                    .or(m.author_label)
                    .unwrap_or_else(|| "—".into()),
                visibility: m.visibility,
                channel: m.channel,
                body: m.body,
            })
            .collect(),
        compensations: comps
            .into_iter()
            .map(|k| CompensationView {
                id: k.id,
                amount_fen: k.compensation.amount.as_fen(),
                payer: k.compensation.payer.as_str().into(),
                status: k.compensation.status.as_str().into(),
                reason: k.reason,
                paid_at: k.paid_at.map(|x| ts(app, x)),
                version: k.version,
            })
            .collect(),
        review: review.map(|r| ReviewView {
            platform: r.platform,
            order_ref: r.order_ref,
            rating: r.rating,
            review_text: r.review_text,
            called_back_at: r.called_back_at.map(|x| ts(app, Timestamp(x))),
            recovery: r.recovery,
            review_updated_by_customer: r.review_updated_by_customer.map(|x| x != 0),
            bought_again: r.bought_again.map(|x| x != 0),
            version: r.version,
        }),
        attachments: files
            .into_iter()
            .map(|a| crate::attachments::view(app, a))
            .collect(),
        actions,
    }
}

/// The actions this user may offer now. The domain has the last word when one is taken; this
/// only keeps buttons off the page that would certainly be refused.
fn allowed_actions(
    ctx: &Ctx,
    t: &Ticket,
    in_department: bool,
    plan: &[domain::ticket::PlanPart],
) -> Vec<String> {
    use TicketStatus as S;
    let me = ctx.actor.user_id();
    let owns = me.is_some() && t.state.owner.user() == me;
    let work = ctx.can(Permission::TicketWork);
    let route = ctx.can(Permission::TicketRoute);
    let sup = ctx.can(Permission::TicketSupervise);
    let confirm = ctx.can(Permission::TicketConfirm);
    let s = t.state.status;
    let mut out = Vec::new();
    let mut add = |cond: bool, name: &str| {
        if cond {
            out.push(name.to_string());
        }
    };
    add(
        matches!(s, S::Open | S::InProgress) && route && (owns || sup) && t.state.tracker.is_some(),
        "route",
    );
    add(
        matches!(s, S::Routed | S::Accepted) && route && (owns || in_department || sup),
        "transfer",
    );
    add(s == S::Routed && work && in_department, "accept");
    add(s == S::Accepted && work && owns, "add_plan_part");
    add(
        s == S::Accepted && work && plan.iter().any(|p| p.signed_by.is_none()),
        "sign_part",
    );
    add(
        s == S::Accepted && work && owns && !plan.is_empty(),
        "sign_plan",
    );
    add(s == S::PlanSigned && work && owns, "return_plan");
    add(s == S::PlanReturned && work && owns, "inform_requester");
    add(
        matches!(s, S::Open | S::Accepted | S::InProgress) && work && (owns || sup),
        "wait_for_customer",
    );
    add(
        s == S::WaitingOnCustomer && work && (owns || sup),
        "customer_responded",
    );
    add(
        matches!(s, S::Open | S::InProgress) && work && owns,
        "resolve",
    );
    let repair = t.state.kind == TicketKind::RepairRequest;
    add(
        matches!(s, S::Open | S::Accepted | S::InProgress) && work && owns && repair,
        "solved_remotely",
    );
    add(
        matches!(s, S::Open | S::Accepted | S::InProgress)
            && work
            && owns
            && matches!(
                t.state.kind,
                TicketKind::RepairRequest | TicketKind::Consultation
            )
            && t.remote_outcome.is_none(),
        "convert_for_field",
    );
    add(
        s == S::Resolved
            && confirm
            && (owns
                || sup
                || ctx.actor.user_id().is_some()
                    && matches!(ctx.scope, Scope::Dealer(_) | Scope::Brands(_))),
        "confirm",
    );
    add(s == S::Confirmed && work && (owns || sup), "close");
    add(
        matches!(s, S::Resolved | S::Confirmed | S::Closed) && (confirm || work),
        "reopen",
    );
    add(
        s.is_open() && s != S::Routed && work && (owns || sup),
        "reassign",
    );
    add(
        s.is_open() && !matches!(s, S::Resolved | S::Confirmed) && (sup || owns && route),
        "merge_into",
    );
    add(
        s.is_open() && !matches!(s, S::Resolved | S::Confirmed) && (sup || owns && route),
        "cancel",
    );
    add(
        s.is_open() && s != S::Confirmed && ctx.can(Permission::TicketRead),
        "urge",
    );
    add(
        t.state.kind == TicketKind::Complaint && s.is_open() && work,
        "set_complaint",
    );
    out
}

// ---------------------------------------------------------------- act

/// The facts and settings one action needs, gathered in the transaction.
async fn guards(
    c: &mut Conn,
    t: &Ticket,
    actor: Option<UserId>,
    now: Timestamp,
) -> Result<(Guards, Plan)> {
    let parts = tickets::plan_parts(c, t.id(), t.round).await?;
    let plan = Plan { parts };
    let actor_in_queue = match (actor, t.state.owner) {
        (Some(u), Owner::Queue(q)) => tickets::is_member(c, u, q).await?,
        _ => false,
    };
    let mut g = Guards::at(now);
    g.plan_fully_signed = plan.is_fully_signed();
    g.open_compensations = tickets::open_compensations(c, t.id()).await?;
    g.actor_in_queue = actor_in_queue;
    Ok((g, plan))
}

/// Takes an action on a ticket at `version` (If-Match). Returns the new version.
pub async fn act(
    app: &App,
    ctx: &Ctx,
    id: TicketId,
    version: i64,
    action: ActionInput,
) -> Result<i64> {
    ctx.require(Permission::TicketRead)?;
    let me = ctx.actor.user_id();
    // What each action needs beyond reading the ticket; ownership is the domain's check.
    let needs = match &action {
        ActionInput::Route { .. }
        | ActionInput::Transfer { .. }
        | ActionInput::MergeInto { .. }
        | ActionInput::Cancel { .. } => Permission::TicketRoute,
        ActionInput::Confirm { .. } => Permission::TicketConfirm,
        ActionInput::Urge { .. } => Permission::TicketRead,
        ActionInput::Reopen { .. } => {
            if ctx.can(Permission::TicketConfirm) {
                Permission::TicketConfirm
            } else {
                Permission::TicketWork
            }
        }
        _ => Permission::TicketWork,
    };
    ctx.require(needs)?;
    let sup = ctx.can(Permission::TicketSupervise);
    let work = ctx.can(Permission::TicketWork);
    let outside = !matches!(ctx.scope, Scope::All);
    // Parse what can be parsed before the transaction.
    let mut fields = Fields::new();
    let now = ctx.now();
    let parsed = parse_action(&mut fields, &action, now);
    fields.finish()?;
    let parsed = parsed.ok_or_else(|| Error::field("action", "invalid"))?;
    let scope = ctx.scope.clone();
    let label = ctx.actor.label();
    let mut audit = audit_entry(ctx, "update", "ticket");
    audit.action = action.name();
    // What the SLA clocks need, read before the write: calendars to resume on, the resolution
    // target to restart on reopening.
    let cals = match &action {
        ActionInput::CustomerResponded { .. } => Some(crate::sla::calendars(app).await?),
        _ => None,
    };
    let reopen_plan = match &action {
        ActionInput::Reopen { .. } => {
            let scope = ctx.scope.clone();
            let t = app
                .db
                .read(move |c| Box::pin(async move { tickets::get(c, &scope, id).await }))
                .await?;
            resolution_plan(app, &t).await?
        }
        _ => None,
    };
    let sms_resolved = templates(app, Milestone::Resolved);
    let sms_plan = templates(app, Milestone::PlanInformed);
    let sms_closed = templates(app, Milestone::Closed);
    let tz = app.settings.tz;
    let survey_ctx = ctx.clone();
    let settings = app.settings.clone();
    app.db
        .write(move |c| {
            Box::pin(async move {
                let mut t = tickets::get(c, &scope, id).await?;
                if t.version != version {
                    return Err(Error::VersionConflict);
                }
                let before = t.clone();
                let from = t.state.status;
                let (mut guard, mut plan) = guards(c, &t, me, now).await?;
                let owns = me.is_some() && t.state.owner.user() == me;
                let mut data = json!({});
                let mut timeline_line: Option<String> = None;
                let mut notify: Option<(Milestone, Templates, String)> = None;
                let mut reply: Option<(String, &'static str)> = None;
                let event: Option<TicketEvent> = match parsed {
                    Parsed::Route { to, note } => {
                        let to = department(c, "department_id", to).await?;
                        if !(owns || sup) {
                            return Err(not_owner(domain::ticket::TicketEventKind::Route));
                        }
                        data = json!({ "department_id": to.0, "note": note });
                        if let Some(n) = note {
                            reply = Some((n, "internal"));
                        }
                        Some(TicketEvent::Route { to })
                    }
                    Parsed::Transfer { to, note } => {
                        let to = department(c, "department_id", to).await?;
                        if !(owns || guard.actor_in_queue || sup) {
                            return Err(not_owner(domain::ticket::TicketEventKind::Transfer));
                        }
                        data = json!({ "department_id": to.0, "note": note });
                        if let Some(n) = note {
                            reply = Some((n, "internal"));
                        }
                        Some(TicketEvent::Transfer { to })
                    }
                    Parsed::Accept => Some(TicketEvent::Accept {
                        by: me.ok_or(Error::Forbidden)?,
                    }),
                    Parsed::AddPart {
                        department: d,
                        summary,
                        remedy,
                        committed_at,
                    } => {
                        if from != TicketStatus::Accepted {
                            return Err(not_allowed(from, domain::ticket::TicketEventKind::SignPlan));
                        }
                        if !owns {
                            return Err(not_owner(domain::ticket::TicketEventKind::SignPlan));
                        }
                        let d = department(c, "department_id", d).await?;
                        plan.add_part(d, &summary, remedy, committed_at, now)
                            .map_err(plan_error)?;
                        let part = plan.parts.last().expect("just added").clone();
                        tickets::save_plan_part(c, t.id(), t.round, &part, me, now).await?;
                        data = json!({ "department_id": d.0, "summary": summary, "committed_at": committed_at.rfc3339_in(tz) });
                        None
                    }
                    Parsed::SignPart { department: d } => {
                        let d = OrgUnitId(d);
                        let u = me.ok_or(Error::Forbidden)?;
                        if from != TicketStatus::Accepted {
                            return Err(not_allowed(from, domain::ticket::TicketEventKind::SignPlan));
                        }
                        // A part is signed by its own department (or the handler for the
                        // handler's department).
                        let member = tickets::is_member(c, u, d).await?;
                        if !(member || owns && t.state.department == Some(d)) {
                            return Err(not_owner(domain::ticket::TicketEventKind::SignPlan));
                        }
                        sign_part(c, &t, &mut plan, d, u, now).await?;
                        data = json!({ "department_id": d.0 });
                        None
                    }
                    Parsed::SignPlan => {
                        let u = me.ok_or(Error::Forbidden)?;
                        // The handler's own department's part is signed with the plan.
                        if let Some(d) = t.state.department
                            && owns
                            && plan.parts.iter().any(|p| p.department == d && p.signed_by.is_none())
                        {
                            sign_part(c, &t, &mut plan, d, u, now).await?;
                        }
                        let committed_at = plan.committed_at().unwrap_or(now);
                        data = json!({ "committed_at": committed_at.rfc3339_in(tz), "parts": plan.parts.len() });
                        timeline_line = Some(format!(
                            "{} 处理方案已签署，承诺时间 {}",
                            t.number,
                            committed_at.display_in(tz)
                        ));
                        Some(TicketEvent::SignPlan { by: u, committed_at })
                    }
                    Parsed::ReturnPlan { note } => {
                        data = json!({ "note": note });
                        if let Some(n) = note {
                            reply = Some((n, "internal"));
                        }
                        Some(TicketEvent::ReturnPlan {
                            by: me.ok_or(Error::Forbidden)?,
                        })
                    }
                    Parsed::Inform {
                        contact_note,
                        message,
                    } => {
                        t.informed_at = Some(now);
                        data = json!({ "contact_note": contact_note });
                        reply = Some((contact_note.clone(), "internal"));
                        let detail = plan
                            .parts
                            .iter()
                            .map(|p| format!("· {}（{}前）", p.summary, p.committed_at.display_in(tz)))
                            .collect::<Vec<_>>()
                            .join("\n");
                        let text = match &message {
                            Some(m) => format!("{m}\n{detail}"),
                            None => detail,
                        };
                        notify = Some((Milestone::PlanInformed, sms_plan.clone(), text));
                        if let Some(m) = message {
                            tickets::insert_message(
                                c,
                                &NewMessage {
                                    ticket_id: t.id(),
                                    brand_id: t.brand_id,
                                    at: now,
                                    author_id: me,
                                    author_label: None,
                                    visibility: "reply",
                                    channel: "desk",
                                    body: &m,
                                    email_message_id: None,
                                    in_reply_to: None,
                                },
                            )
                            .await?;
                            t.first_reply_at.get_or_insert(now);
                        }
                        timeline_line = Some(format!("{} 已告知处理方案并安抚客户", t.number));
                        Some(TicketEvent::InformRequester {
                            by: me.ok_or(Error::Forbidden)?,
                        })
                    }
                    Parsed::Wait { note } => {
                        data = json!({ "note": note });
                        if !(owns || sup) {
                            return Err(not_owner(domain::ticket::TicketEventKind::WaitForCustomer));
                        }
                        Some(TicketEvent::WaitForCustomer)
                    }
                    Parsed::Responded { note } => {
                        data = json!({ "note": note });
                        if !(owns || sup) {
                            return Err(not_owner(domain::ticket::TicketEventKind::CustomerResponded));
                        }
                        Some(TicketEvent::CustomerResponded)
                    }
                    Parsed::Resolve { summary } => {
                        data = json!({ "summary": summary });
                        reply = Some((summary.clone(), "reply"));
                        notify = Some((Milestone::Resolved, sms_resolved.clone(), summary));
                        timeline_line = Some(format!("{} 已处理，待客户确认", t.number));
                        Some(TicketEvent::Resolve {
                            by: me.ok_or(Error::Forbidden)?,
                        })
                    }
                    Parsed::SolvedRemotely { summary } => {
                        data = json!({ "summary": summary });
                        t.remote_outcome = Some(RemoteOutcome::Solved);
                        reply = Some((summary.clone(), "reply"));
                        notify = Some((Milestone::Resolved, sms_resolved.clone(), summary));
                        timeline_line = Some(format!("{} 远程指导解决", t.number));
                        Some(TicketEvent::SolvedRemotely {
                            by: me.ok_or(Error::Forbidden)?,
                        })
                    }
                    Parsed::Convert { pre_diagnosis, parts } => {
                        let u = me.ok_or(Error::Forbidden)?;
                        if !matches!(
                            from,
                            TicketStatus::Open | TicketStatus::Accepted | TicketStatus::InProgress
                        ) {
                            return Err(not_allowed(from, domain::ticket::TicketEventKind::ConvertedToWorkOrder));
                        }
                        if t.state.owner != Owner::User(u) {
                            return Err(not_owner(domain::ticket::TicketEventKind::ConvertedToWorkOrder));
                        }
                        if !matches!(
                            t.state.kind,
                            TicketKind::RepairRequest | TicketKind::Consultation
                        ) {
                            return Err(wrong_kind(domain::ticket::TicketEventKind::ConvertedToWorkOrder));
                        }
                        t.state.kind = TicketKind::RepairRequest;
                        t.remote_outcome = Some(RemoteOutcome::Converted);
                        t.pre_diagnosis = Some(pre_diagnosis.clone());
                        t.parts_list.clone_from(&parts);
                        data = json!({ "pre_diagnosis": pre_diagnosis, "parts": parts });
                        timeline_line = Some(format!(
                            "{} 远程未解决，转上门维修：{}",
                            t.number, pre_diagnosis
                        ));
                        None
                    }
                    Parsed::Confirm { note } => {
                        // The desk records a confirmation it received; an outside party confirms
                        // its own request.
                        if !(owns || sup || outside) {
                            return Err(not_owner(domain::ticket::TicketEventKind::Confirm));
                        }
                        t.confirmed_at = Some(now);
                        data = json!({ "note": note });
                        timeline_line = Some(format!("{} 客户已确认", t.number));
                        Some(TicketEvent::Confirm)
                    }
                    Parsed::Close => {
                        if !(owns || sup) {
                            return Err(not_owner(domain::ticket::TicketEventKind::Close));
                        }
                        t.closed_at = Some(now);
                        notify = Some((Milestone::Closed, sms_closed.clone(), String::new()));
                        timeline_line = Some(format!("{} 已关闭", t.number));
                        Some(TicketEvent::Close)
                    }
                    Parsed::Reopen { reason } => {
                        if !(work || outside || sup) {
                            return Err(Error::Forbidden);
                        }
                        t.closed_at = None;
                        t.confirmed_at = None;
                        data = json!({ "reason": reason });
                        reply = Some((reason, "inbound"));
                        timeline_line = Some(format!("{} 重新打开", t.number));
                        Some(TicketEvent::Reopen)
                    }
                    Parsed::Reassign { to } => {
                        if !(owns || sup) {
                            return Err(not_owner(domain::ticket::TicketEventKind::Reassign));
                        }
                        let u = users::get(c, UserId(to))
                            .await
                            .map_err(|_| Error::field("user_id", "unknown user"))?;
                        if !u.active || !u.roles.iter().any(|r| r.permissions().contains(&Permission::TicketWork)) {
                            return Err(Error::field("user_id", "this user cannot work on tickets"));
                        }
                        data = json!({ "user_id": to });
                        Some(TicketEvent::Reassign { to: u.id })
                    }
                    Parsed::Merge { target } => {
                        if !(owns || sup) {
                            return Err(not_owner(domain::ticket::TicketEventKind::MergeInto));
                        }
                        let target = tickets::get(c, &scope, TicketId(target))
                            .await
                            .map_err(|_| Error::field("target_id", "unknown ticket"))?;
                        if !target.state.status.is_open() {
                            return Err(Error::field("target_id", "the target ticket is not open"));
                        }
                        data = json!({ "target": target.number });
                        Some(TicketEvent::MergeInto { target: target.id() })
                    }
                    Parsed::Cancel { reason } => {
                        if !(owns || sup) {
                            return Err(not_owner(domain::ticket::TicketEventKind::Cancel));
                        }
                        data = json!({ "reason": reason });
                        Some(TicketEvent::Cancel)
                    }
                    Parsed::Urge { note } => {
                        data = json!({ "note": note, "by": label });
                        t.last_urged_at = Some(now);
                        timeline_line = Some(format!("{} 催单", t.number));
                        Some(TicketEvent::Urge)
                    }
                    Parsed::Complaint {
                        category,
                        liability,
                        remedy,
                        shares,
                    } => {
                        if t.state.kind != TicketKind::Complaint {
                            return Err(wrong_kind(domain::ticket::TicketEventKind::Resolve));
                        }
                        if !t.state.status.is_open() {
                            return Err(not_allowed(from, domain::ticket::TicketEventKind::Resolve));
                        }
                        if category.is_some() {
                            t.complaint_category = category;
                        }
                        if liability.is_some() {
                            t.liability = liability;
                        }
                        if remedy.is_some() {
                            t.remedy = remedy;
                        }
                        if !shares.is_empty() {
                            t.cost_shares = shares;
                        }
                        data = json!({
                            "category": t.complaint_category.map(domain::ticket::ComplaintCategory::as_str),
                            "liability": t.liability.map(domain::ticket::Liability::as_str),
                            "remedy": t.remedy.map(domain::ticket::Remedy::as_str),
                            "cost_shares": t.cost_shares,
                        });
                        None
                    }
                };
                let replied_before = t.first_reply_at.is_some();
                let priority_before = t.state.priority;
                if let Some(ev) = &event {
                    // The plan as the arm left it (a handler signing the plan signs their own
                    // department's part with it).
                    guard.plan_fully_signed = plan.is_fully_signed();
                    t.state.apply(ev, &guard)?;
                    match ev {
                        TicketEvent::Route { .. } => t.round += 1,
                        TicketEvent::SignPlan { committed_at, .. } => {
                            t.plan_committed_at = Some(*committed_at);
                        }
                        TicketEvent::Close => t.closed_at = Some(now),
                        _ => {}
                    }
                }
                if let Some((body, visibility)) = &reply {
                    tickets::insert_message(
                        c,
                        &NewMessage {
                            ticket_id: t.id(),
                            brand_id: t.brand_id,
                            at: now,
                            author_id: me,
                            author_label: None,
                            visibility,
                            channel: "desk",
                            body,
                            email_message_id: None,
                            in_reply_to: None,
                        },
                    )
                    .await?;
                    if *visibility == "reply" {
                        t.first_reply_at.get_or_insert(now);
                    }
                }
                // D10: an urge that raises the priority escalates the ticket to supervisors.
                let urge_escalated = matches!(event, Some(TicketEvent::Urge))
                    && t.state.priority != priority_before;
                if urge_escalated {
                    t.escalated_at.get_or_insert(now);
                    data["escalated"] = json!(true);
                    data["priority"] = json!(t.state.priority.as_str());
                }
                let new_version = tickets::update(c, &t, now).await?;
                t.version = new_version;
                sla_follow(
                    c,
                    &t,
                    event.as_ref(),
                    !replied_before && t.first_reply_at.is_some(),
                    cals.as_deref(),
                    reopen_plan.as_ref(),
                    now,
                )
                .await?;
                crate::search::set_status(
                    c,
                    store::search::DocKind::Ticket,
                    t.id().0,
                    t.state.status.as_str(),
                    now,
                )
                .await?;
                let name = audit.action;
                history(c, &t, now, me, None, name, from, data).await?;
                if let Some(line) = timeline_line {
                    on_timeline(c, &t, now, me, &line).await?;
                }
                // F5: a closed ticket gets its follow-up questionnaire; the link goes out with the
                // closing notice.
                if matches!(event, Some(TicketEvent::Close))
                    && let Some((_, _, detail)) = notify.as_mut()
                {
                    let invited = crate::surveys::invite_in_tx(
                        c,
                        &survey_ctx,
                        &crate::surveys::Subject::of_ticket(&t),
                        crate::surveys::TICKET_TEMPLATE,
                        domain::survey::SurveyChannel::Link,
                    )
                    .await?;
                    *detail = format!(
                        "请花一分钟评价本次服务：{}",
                        settings.public_link(&invited.link)
                    );
                }
                // Organisations following the ticket (企业微信 bots, webhooks).
                let mut events: Vec<(Event, serde_json::Value)> = Vec::new();
                match &event {
                    Some(TicketEvent::Route { .. } | TicketEvent::Transfer { .. }) => {
                        events.push((Event::Routed, json!({})));
                    }
                    Some(TicketEvent::Urge) => events.push((Event::Urged, json!({}))),
                    _ => {}
                }
                if urge_escalated {
                    events.push((Event::Escalated, json!({ "reason": "urge" })));
                }
                match notify.as_ref().map(|n| n.0) {
                    Some(Milestone::PlanInformed) => events.push((Event::Plan, json!({}))),
                    Some(Milestone::Resolved) => events.push((Event::Resolved, json!({}))),
                    Some(Milestone::Closed) => events.push((Event::Closed, json!({}))),
                    _ => {}
                }
                for (e, extra) in events {
                    crate::notify::subscriptions::publish(c, tz, e, &t, extra, now).await?;
                }
                if let Some((m, sms, detail)) = notify {
                    notify_requester(c, &t, m, &sms, &detail, None, now).await?;
                }
                audit
                    .write(
                        c,
                        Some(t.id().0),
                        t.brand_id,
                        Some(json!({ "status": before.state.status, "owner": before.state.owner, "priority": before.state.priority })),
                        Some(json!({ "status": t.state.status, "owner": t.state.owner, "priority": t.state.priority })),
                    )
                    .await?;
                Ok(new_version)
            })
        })
        .await
}

/// Moves the ticket's SLA clocks along with an accepted event, as `ClockEffect` says: pause
/// while waiting on the customer, resume after, stop the proposal clock when the plan is signed,
/// the clocks met on resolving, everything on closing, cancelling or merging; restart resolution
/// on reopening. A first reply stops the first-reply clock.
/// The resolution clock a reopened ticket restarts on (read before the write).
async fn resolution_plan(app: &App, t: &Ticket) -> Result<Option<crate::sla::ClockPlan>> {
    Ok(
        crate::sla::plan(app, &policy_key(t), &[domain::sla::SlaMetric::Resolution])
            .await?
            .into_iter()
            .next(),
    )
}

async fn sla_follow(
    c: &mut Conn,
    t: &Ticket,
    event: Option<&TicketEvent>,
    first_reply: bool,
    cals: Option<&crate::sla::Calendars>,
    reopen_plan: Option<&crate::sla::ClockPlan>,
    now: Timestamp,
) -> Result<()> {
    use domain::sla::{ClockEffect, SlaMetric as M};
    let subject = domain::sla::Subject::ticket(t.id());
    if first_reply {
        crate::sla::stop(c, subject, M::FirstReply, now).await?;
    }
    match event.map_or(ClockEffect::None, ClockEffect::of) {
        ClockEffect::None => {}
        ClockEffect::Pause => {
            crate::sla::pause(c, subject, now).await?;
        }
        ClockEffect::Resume => {
            if let Some(cals) = cals {
                crate::sla::resume(c, subject, now, cals).await?;
            }
        }
        ClockEffect::Stop(metrics) => {
            for &m in metrics {
                crate::sla::stop(c, subject, m, now).await?;
            }
        }
        ClockEffect::StopAll => {
            crate::sla::stop_all(c, subject, now).await?;
        }
        ClockEffect::RestartResolution => {
            if let Some(p) = reopen_plan {
                crate::sla::restart(
                    c,
                    subject,
                    t.brand_id,
                    t.customer_id.or(t.requester_id),
                    p,
                    now,
                )
                .await?;
            }
        }
    }
    Ok(())
}

fn not_owner(event: domain::ticket::TicketEventKind) -> Error {
    Error::Workflow(domain::ticket::TicketError::NotOwner { event })
}

fn not_allowed(from: TicketStatus, event: domain::ticket::TicketEventKind) -> Error {
    Error::Workflow(domain::ticket::TicketError::NotAllowed { from, event })
}

fn wrong_kind(event: domain::ticket::TicketEventKind) -> Error {
    Error::Workflow(domain::ticket::TicketError::WrongKind { event })
}

/// Signs department `d`'s part of the plan as `by` and stores the signature.
async fn sign_part(
    c: &mut Conn,
    t: &Ticket,
    plan: &mut Plan,
    d: OrgUnitId,
    by: UserId,
    now: Timestamp,
) -> Result<()> {
    plan.sign(d, by, now).map_err(plan_error)?;
    let part = plan
        .parts
        .iter()
        .find(|p| p.department == d)
        .expect("just signed");
    tickets::save_plan_part(c, t.id(), t.round, part, Some(by), now).await?;
    Ok(())
}

fn plan_error(e: domain::ticket::PlanError) -> Error {
    use domain::ticket::PlanError as P;
    match e {
        P::EmptySummary => Error::field("summary", "required"),
        P::CommittedTimeInPast { committed_at, now } => {
            Error::Workflow(domain::ticket::TicketError::CommittedTimeInPast { committed_at, now })
        }
        P::DuplicateDepartment(_) => Error::field(
            "department_id",
            "this department already has a part in the plan",
        ),
        P::NoSuchPart(_) => {
            Error::field("department_id", "this department has no part in the plan")
        }
        P::AlreadySigned(_) => Error::Conflict("this part is already signed".into()),
    }
}

enum Parsed {
    Route {
        to: i64,
        note: Option<String>,
    },
    Transfer {
        to: i64,
        note: Option<String>,
    },
    Accept,
    AddPart {
        department: i64,
        summary: String,
        remedy: Option<Remedy>,
        committed_at: Timestamp,
    },
    SignPart {
        department: i64,
    },
    SignPlan,
    ReturnPlan {
        note: Option<String>,
    },
    Inform {
        contact_note: String,
        message: Option<String>,
    },
    Wait {
        note: Option<String>,
    },
    Responded {
        note: Option<String>,
    },
    Resolve {
        summary: String,
    },
    SolvedRemotely {
        summary: String,
    },
    Convert {
        pre_diagnosis: String,
        parts: Vec<String>,
    },
    Confirm {
        note: Option<String>,
    },
    Close,
    Reopen {
        reason: String,
    },
    Reassign {
        to: i64,
    },
    Merge {
        target: i64,
    },
    Cancel {
        reason: String,
    },
    Urge {
        note: Option<String>,
    },
    Complaint {
        category: Option<ComplaintCategory>,
        liability: Option<Liability>,
        remedy: Option<Remedy>,
        shares: Vec<CostShare>,
    },
}

fn parse_action(f: &mut Fields, a: &ActionInput, now: Timestamp) -> Option<Parsed> {
    let note = |f: &mut Fields, n: &Option<String>| opt_text(f, "note", n.as_deref(), NOTE_MAX);
    Some(match a {
        ActionInput::Route {
            department_id,
            note: n,
        } => Parsed::Route {
            to: *department_id,
            note: note(f, n),
        },
        ActionInput::Transfer {
            department_id,
            note: n,
        } => Parsed::Transfer {
            to: *department_id,
            note: note(f, n),
        },
        ActionInput::Accept => Parsed::Accept,
        ActionInput::AddPlanPart {
            department_id,
            summary,
            remedy,
            committed_at,
        } => {
            let summary = text(f, "summary", summary, NOTE_MAX);
            let remedy = parse_enum(f, "remedy", remedy.as_deref(), Remedy::parse);
            let at = Timestamp::parse_rfc3339(committed_at);
            match at {
                None => f.add(
                    "committed_at",
                    "not an RFC 3339 time (e.g. 2026-12-01T18:00:00+08:00)",
                ),
                Some(at) if at <= now => f.add("committed_at", "must lie in the future"),
                Some(_) => {}
            }
            Parsed::AddPart {
                department: *department_id,
                summary: summary?,
                remedy,
                committed_at: at?,
            }
        }
        ActionInput::SignPart { department_id } => Parsed::SignPart {
            department: *department_id,
        },
        ActionInput::SignPlan => Parsed::SignPlan,
        ActionInput::ReturnPlan { note: n } => Parsed::ReturnPlan { note: note(f, n) },
        ActionInput::InformRequester {
            contact_note,
            message,
        } => Parsed::Inform {
            contact_note: text(f, "contact_note", contact_note, NOTE_MAX)?,
            message: opt_text(f, "message", message.as_deref(), BODY_MAX),
        },
        ActionInput::WaitForCustomer { note: n } => Parsed::Wait { note: note(f, n) },
        ActionInput::CustomerResponded { note: n } => Parsed::Responded { note: note(f, n) },
        ActionInput::Resolve { summary } => Parsed::Resolve {
            summary: text(f, "summary", summary, BODY_MAX)?,
        },
        ActionInput::SolvedRemotely { summary } => Parsed::SolvedRemotely {
            summary: text(f, "summary", summary, BODY_MAX)?,
        },
        ActionInput::ConvertForField {
            pre_diagnosis,
            parts,
        } => {
            let d = text(f, "pre_diagnosis", pre_diagnosis, NOTE_MAX);
            if parts.len() > 50 {
                f.add("parts", "at most 50 parts");
            }
            let parts: Vec<String> = parts
                .iter()
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect();
            if parts.iter().any(|p| p.chars().count() > 200) {
                f.add("parts", "a part name is at most 200 characters");
            }
            Parsed::Convert {
                pre_diagnosis: d?,
                parts,
            }
        }
        ActionInput::Confirm { note: n } => Parsed::Confirm { note: note(f, n) },
        ActionInput::Close => Parsed::Close,
        ActionInput::Reopen { reason } => Parsed::Reopen {
            reason: text(f, "reason", reason, NOTE_MAX)?,
        },
        ActionInput::Reassign { user_id } => Parsed::Reassign { to: *user_id },
        ActionInput::MergeInto { target_id } => Parsed::Merge { target: *target_id },
        ActionInput::Cancel { reason } => Parsed::Cancel {
            reason: text(f, "reason", reason, NOTE_MAX)?,
        },
        ActionInput::Urge { note: n } => Parsed::Urge { note: note(f, n) },
        ActionInput::SetComplaint {
            category,
            liability,
            remedy,
            cost_shares,
        } => {
            let category = parse_enum(f, "category", category.as_deref(), ComplaintCategory::parse);
            let liability = parse_enum(f, "liability", liability.as_deref(), Liability::parse);
            let remedy = parse_enum(f, "remedy", remedy.as_deref(), Remedy::parse);
            let mut shares = Vec::new();
            for (i, s) in cost_shares.iter().enumerate() {
                match Liability::parse(&s.party) {
                    Some(p) => shares.push(CostShare {
                        party: p,
                        percent: s.percent,
                    }),
                    None => f.add(&format!("cost_shares[{i}].party"), "unknown party"),
                }
            }
            if let Err(e) = check_cost_shares(&shares) {
                f.add("cost_shares", e.to_string());
            }
            Parsed::Complaint {
                category,
                liability,
                remedy,
                shares,
            }
        }
    })
}

// ---------------------------------------------------------------- messages

/// Adds a reply (sent to the requester by email when the ticket has an address) or an internal
/// note. Replies count as the first reply for the SLA. A retry with the request's
/// Idempotency-Key answers with the message the first request posted.
pub async fn add_message(
    app: &App,
    ctx: &Ctx,
    id: TicketId,
    input: MessageInput,
) -> Result<Created<i64>> {
    // Staff reply or note; the requester's side (a dealer, a brand) writes to the desk.
    let staff = ctx.can(Permission::TicketWork);
    if !staff {
        ctx.require(Permission::TicketConfirm)?;
        if input.internal {
            return Err(Error::Forbidden);
        }
    }
    let body = domain::text::required(&input.body, BODY_MAX)
        .map_err(|e| Error::field("body", e.to_string()))?;
    let scope = ctx.scope.clone();
    let me = ctx.actor.user_id();
    let now = ctx.now();
    let internal = input.internal;
    let audit = audit_entry(ctx, "message", "ticket");
    let sms = templates(app, Milestone::Replied);
    let made = create_once(
        app,
        ctx,
        |x| x,
        move |c| {
            Box::pin(async move {
                let mut t = tickets::get(c, &scope, id).await?;
                let mid = tickets::insert_message(
                    c,
                    &NewMessage {
                        ticket_id: t.id(),
                        brand_id: t.brand_id,
                        at: now,
                        author_id: me,
                        author_label: None,
                        visibility: match (staff, internal) {
                            (false, _) => "inbound",
                            (true, true) => "internal",
                            (true, false) => "reply",
                        },
                        channel: if staff { "desk" } else { "dealer_portal" },
                        body: &body,
                        email_message_id: None,
                        in_reply_to: None,
                    },
                )
                .await?;
                if staff && !internal {
                    if t.first_reply_at.is_none() {
                        t.first_reply_at = Some(now);
                        t.version = tickets::update(c, &t, now).await?;
                        crate::sla::stop(
                            c,
                            domain::sla::Subject::ticket(t.id()),
                            domain::sla::SlaMetric::FirstReply,
                            now,
                        )
                        .await?;
                    }
                    notify_requester(c, &t, Milestone::Replied, &sms, &body, None, now).await?;
                }
                history(
                    c,
                    &t,
                    now,
                    me,
                    None,
                    match (staff, internal) {
                        (false, _) => "inbound",
                        (true, true) => "note",
                        (true, false) => "reply",
                    },
                    t.state.status,
                    json!({ "message_id": mid }),
                )
                .await?;
                audit
                    .write(
                        c,
                        Some(t.id().0),
                        t.brand_id,
                        None,
                        Some(json!({ "message_id": mid, "internal": internal })),
                    )
                    .await?;
                Ok::<_, Error>(mid)
            })
        },
    )
    .await?;
    if !internal && !made.replayed {
        index_after_message(app, id).await;
    }
    Ok(made)
}

// ---------------------------------------------------------------- compensation (D5)

pub async fn add_compensation(
    app: &App,
    ctx: &Ctx,
    id: TicketId,
    input: CompensationInput,
) -> Result<Created<i64>> {
    ctx.require(Permission::CompensationPropose)?;
    let mut f = Fields::new();
    if input.amount_fen <= 0 {
        f.add("amount_fen", "must be more than 0");
    }
    if input.amount_fen > 100_000_000 {
        f.add(
            "amount_fen",
            "more than 1,000,000 yuan needs a contract, not a compensation record",
        );
    }
    let payer = parse_enum(
        &mut f,
        "payer",
        Some(&input.payer),
        CompensationPayer::parse,
    );
    let reason = text(&mut f, "reason", &input.reason, NOTE_MAX);
    f.finish()?;
    let (payer, reason) = (
        payer.ok_or_else(|| Error::field("payer", "required"))?,
        reason.unwrap_or_default(),
    );
    let scope = ctx.scope.clone();
    let me = ctx.actor.user_id();
    let now = ctx.now();
    let audit = audit_entry(ctx, "create", "compensation");
    let amount = Money::fen(input.amount_fen);
    let tz = app.settings.tz;
    create_once(app, ctx, |x| x, move |c| {
            Box::pin(async move {
                let t = tickets::get(c, &scope, id).await?;
                if t.state.kind != TicketKind::Complaint {
                    return Err(Error::Conflict("compensation is recorded on complaints".into()));
                }
                if !t.state.status.is_open() {
                    return Err(Error::Conflict("the complaint is no longer open".into()));
                }
                let comp = Compensation {
                    amount,
                    payer,
                    status: CompensationStatus::Proposed,
                };
                let kid = tickets::insert_compensation(c, &t, &comp, &reason, me, now).await?;
                history(
                    c,
                    &t,
                    now,
                    me,
                    None,
                    "compensation_proposed",
                    t.state.status,
                    json!({ "compensation_id": kid, "amount_fen": amount.as_fen(), "payer": payer.as_str() }),
                )
                .await?;
                crate::notify::subscriptions::publish(
                    c,
                    tz,
                    Event::Compensation,
                    &t,
                    json!({ "reason": "proposed", "compensation_id": kid, "amount_fen": amount.as_fen(), "payer": payer.as_str() }),
                    now,
                )
                .await?;
                audit.write(c, Some(kid), t.brand_id, None, Some(json!({ "ticket_id": t.id().0, "amount_fen": amount.as_fen(), "payer": payer.as_str() }))).await?;
                Ok(kid)
            })
        })
        .await
}

/// approve (manager/supervisor), pay (finance) or cancel.
pub async fn compensation_step(
    app: &App,
    ctx: &Ctx,
    ticket: TicketId,
    comp: i64,
    version: i64,
    step: &str,
) -> Result<()> {
    let event = CompensationEvent::parse(step)
        .ok_or_else(|| Error::field("step", "approve, pay or cancel"))?;
    ctx.require(match event {
        CompensationEvent::Approve | CompensationEvent::Cancel => Permission::CompensationApprove,
        CompensationEvent::Pay => Permission::CompensationPay,
    })?;
    let scope = ctx.scope.clone();
    let me = ctx.actor.user_id();
    let now = ctx.now();
    let audit = audit_entry(ctx, "update", "compensation");
    let tz = app.settings.tz;
    app.db
        .write(move |c| {
            Box::pin(async move {
                let t = tickets::get(c, &scope, ticket).await?;
                let k = tickets::compensation(c, comp).await?;
                if k.ticket_id != t.id() {
                    return Err(Error::NotFound);
                }
                if k.version != version {
                    return Err(Error::VersionConflict);
                }
                let to = k
                    .compensation
                    .status
                    .transition(event)
                    .map_err(|e| Error::Conflict(e.to_string()))?;
                let approved_by = (event == CompensationEvent::Approve)
                    .then_some(me)
                    .flatten();
                let paid_at = (event == CompensationEvent::Pay).then_some(now);
                tickets::update_compensation(c, comp, version, to, approved_by, paid_at, now)
                    .await?;
                if event == CompensationEvent::Approve {
                    crate::notify::subscriptions::publish(
                        c,
                        tz,
                        Event::Compensation,
                        &t,
                        json!({ "reason": "approved", "compensation_id": comp, "amount_fen": k.compensation.amount.as_fen(), "payer": k.compensation.payer.as_str() }),
                        now,
                    )
                    .await?;
                }
                history(
                    c,
                    &t,
                    now,
                    me,
                    None,
                    &format!("compensation_{}", to.as_str()),
                    t.state.status,
                    json!({ "compensation_id": comp }),
                )
                .await?;
                audit
                    .write(
                        c,
                        Some(comp),
                        t.brand_id,
                        Some(json!({ "status": k.compensation.status })),
                        Some(json!({ "status": to })),
                    )
                    .await?;
                Ok(())
            })
        })
        .await
}

/// The monthly complaint report (D5): complaints opened and closed, compensation paid by payer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MonthReport {
    pub month: String,
    pub complaints_opened: i64,
    pub complaints_closed: i64,
    pub compensations_paid: i64,
    pub paid_fen_company: i64,
    pub paid_fen_manufacturer: i64,
    pub paid_fen_insurer: i64,
    pub paid_fen_total: i64,
}

pub async fn month_report(app: &App, ctx: &Ctx, month: &str) -> Result<MonthReport> {
    ctx.require(Permission::ReportRead)?;
    let first = domain::Date::parse(&format!("{month}-01"))
        .ok_or_else(|| Error::field("month", "expected YYYY-MM"))?;
    let next = first.plus_months(1);
    let tz = app.settings.tz;
    let from = first.start_in(tz);
    let to = next.start_in(tz);
    let scope = ctx.scope.clone();
    let m: MonthFigures = app
        .db
        .read(move |c| Box::pin(async move { tickets::month_figures(c, &scope, from, to).await }))
        .await?;
    Ok(MonthReport {
        month: month.to_string(),
        complaints_opened: m.complaints_opened,
        complaints_closed: m.complaints_closed,
        compensations_paid: m.paid_count,
        paid_fen_company: m.paid_fen_company,
        paid_fen_manufacturer: m.paid_fen_manufacturer,
        paid_fen_insurer: m.paid_fen_insurer,
        paid_fen_total: m.paid_fen_company + m.paid_fen_manufacturer + m.paid_fen_insurer,
    })
}

// ---------------------------------------------------------------- negative reviews (D6)

/// Records a negative review as a complaint ticket's 差评回访 record.
pub async fn record_review(app: &App, ctx: &Ctx, id: TicketId, input: ReviewInput) -> Result<()> {
    ctx.require(Permission::TicketWork)?;
    let mut f = Fields::new();
    let platform = text(&mut f, "platform", &input.platform, 50);
    let order_ref = text(&mut f, "order_ref", &input.order_ref, 100);
    let review_text = text(&mut f, "review_text", &input.review_text, BODY_MAX);
    if let Some(r) = input.rating
        && !(1..=5).contains(&r)
    {
        f.add("rating", "1 to 5");
    }
    let reviewed_at = match input.reviewed_at.as_deref() {
        Some(s) => {
            if let Some(t) = Timestamp::parse_rfc3339(s) {
                Some(t.0)
            } else {
                f.add("reviewed_at", "not an RFC 3339 time");
                None
            }
        }
        None => None,
    };
    f.finish()?;
    let rec = ReviewRecord {
        id: 0,
        ticket_id: id.0,
        platform: platform.unwrap_or_default(),
        order_ref: order_ref.unwrap_or_default(),
        rating: input.rating,
        review_text: review_text.unwrap_or_default(),
        reviewed_at,
        called_back_at: None,
        recovery: None,
        review_updated_by_customer: None,
        bought_again: None,
        version: 1,
    };
    let scope = ctx.scope.clone();
    let me = ctx.actor.user_id();
    let now = ctx.now();
    let audit = audit_entry(ctx, "create", "review_recovery");
    app.db
        .write(move |c| {
            Box::pin(async move {
                let t = tickets::get(c, &scope, id).await?;
                if t.state.kind != TicketKind::Complaint {
                    return Err(Error::Conflict(
                        "a negative review is recorded on a complaint ticket".into(),
                    ));
                }
                let rid = tickets::insert_review(c, id, t.brand_id, &rec, now)
                    .await
                    .map_err(|e| match e {
                        store::Error::Duplicate(_) => {
                            Error::Conflict("this ticket already has a review record".into())
                        }
                        e => e.into(),
                    })?;
                history(
                    c,
                    &t,
                    now,
                    me,
                    None,
                    "review_recorded",
                    t.state.status,
                    json!({ "platform": rec.platform, "order_ref": rec.order_ref }),
                )
                .await?;
                audit
                    .write(
                        c,
                        Some(rid),
                        t.brand_id,
                        None,
                        Some(json!({ "ticket_id": id.0 })),
                    )
                    .await?;
                Ok(())
            })
        })
        .await
}

/// Records the call back (回访) and the recovery.
pub async fn review_outcome(
    app: &App,
    ctx: &Ctx,
    id: TicketId,
    version: i64,
    input: ReviewOutcomeInput,
) -> Result<()> {
    ctx.require(Permission::TicketWork)?;
    let recovery = domain::text::required(&input.recovery, NOTE_MAX)
        .map_err(|e| Error::field("recovery", e.to_string()))?;
    let scope = ctx.scope.clone();
    let me = ctx.actor.user_id();
    let now = ctx.now();
    let audit = audit_entry(ctx, "update", "review_recovery");
    app.db
        .write(move |c| {
            Box::pin(async move {
                let t = tickets::get(c, &scope, id).await?;
                let mut r = tickets::review_of(c, id).await?.ok_or(Error::NotFound)?;
                if r.version != version {
                    return Err(Error::VersionConflict);
                }
                r.called_back_at = Some(now.0);
                r.recovery = Some(recovery.clone());
                r.review_updated_by_customer = input.review_updated_by_customer.map(i64::from);
                r.bought_again = input.bought_again.map(i64::from);
                tickets::update_review(c, &r, now).await?;
                history(c, &t, now, me, None, "review_called_back", t.state.status, json!({ "recovery": recovery, "review_updated_by_customer": input.review_updated_by_customer, "bought_again": input.bought_again })).await?;
                on_timeline(c, &t, now, me, &format!("{} 差评回访：{}", t.number, recovery)).await?;
                audit.write(c, Some(r.id), t.brand_id, None, Some(json!({ "recovery": recovery }))).await?;
                Ok(())
            })
        })
        .await
}

// ---------------------------------------------------------------- the requester's signed link

/// What the requester sees through the signed link: no internal notes, no staff names beyond
/// the tracker, no other customers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicTicketView {
    pub number: String,
    pub kind: String,
    pub status: String,
    pub subject: String,
    pub created_at: String,
    pub plan: Vec<PlanPartView>,
    pub messages: Vec<MessageView>,
    /// Files the requester and the desk shared (never those of internal notes); `url` is the
    /// download through this link.
    pub attachments: Vec<AttachmentView>,
    pub can_confirm: bool,
    pub can_reopen: bool,
    pub version: i64,
}

pub(crate) async fn by_link(c: &mut Conn, number: &str, key: &str) -> Result<Ticket> {
    let t = tickets::get_by_number(c, &Scope::All, number).await?;
    let stored = tickets::access_key_hash(c, t.id()).await?;
    let given = crate::secret::digest(key);
    match stored {
        Some(h) if crate::secret::constant_time_eq(h.as_bytes(), given.as_bytes()) => Ok(t),
        _ => Err(Error::NotFound),
    }
}

pub async fn public_view(app: &App, number: &str, key: &str) -> Result<PublicTicketView> {
    let (number, key) = (number.to_string(), key.to_string());
    let link_key = key.clone();
    let (t, plan, messages, files, names) = app
        .db
        .read(move |c| {
            Box::pin(async move {
                let t = by_link(c, &number, &key).await?;
                let plan = tickets::plan_parts(c, t.id(), t.round).await?;
                let messages = tickets::messages(c, t.id(), false).await?;
                let files = tickets::attachments(c, t.id(), false).await?;
                let names = Names::load(c).await?;
                Ok::<_, Error>((t, plan, messages, files, names))
            })
        })
        .await?;
    let attachments = files
        .into_iter()
        .map(|a| {
            let staff = a.created_by.is_some();
            let mut v = crate::attachments::view(app, a);
            v.url = format!("/t/{}/files/{}?k={}", t.number, v.id, link_key);
            // The requester sees "you" or the service, not staff names.
            v.added_by = if staff { "service" } else { "requester" }.into();
            v
        })
        .collect();
    let signed = plan.iter().all(|p| p.signed_by.is_some());
    Ok(PublicTicketView {
        number: t.number.clone(),
        kind: t.state.kind.as_str().into(),
        status: t.state.status.as_str().into(),
        subject: t.subject.clone(),
        created_at: ts(app, t.created_at),
        plan: if signed && t.informed_at.is_some() {
            plan.iter()
                .map(|p| PlanPartView {
                    department_id: p.department.0,
                    department: names.unit(p.department),
                    summary: p.summary.clone(),
                    remedy: p.remedy.map(|r| r.as_str().into()),
                    committed_at: ts(app, p.committed_at),
                    signed_by: None,
                    signed_at: None,
                })
                .collect()
        } else {
            Vec::new()
        },
        messages: messages
            .into_iter()
            .map(|m| MessageView {
                id: m.id,
                at: ts(app, Timestamp(m.at)),
                author: if m.visibility == "inbound" {
                    "您".into()
                } else {
                    "客服".into()
                },
                visibility: m.visibility,
                channel: m.channel,
                body: m.body,
            })
            .collect(),
        attachments,
        can_confirm: t.state.status == TicketStatus::Resolved,
        can_reopen: matches!(
            t.state.status,
            TicketStatus::Resolved | TicketStatus::Confirmed | TicketStatus::Closed
        ),
        version: t.version,
    })
}

/// confirm | reopen | urge | message, by the requester through the signed link.
pub async fn public_act(
    app: &App,
    clock_now: Timestamp,
    number: &str,
    key: &str,
    version: i64,
    what: &str,
    text_in: Option<String>,
) -> Result<()> {
    let what = match what {
        "confirm" | "reopen" | "urge" | "message" => what.to_string(),
        _ => return Err(Error::field("action", "confirm, reopen, urge or message")),
    };
    let body = match (&*what, text_in.as_deref()) {
        ("reopen" | "message", t) => Some(
            domain::text::required(t.unwrap_or(""), BODY_MAX)
                .map_err(|e| Error::field("text", e.to_string()))?,
        ),
        (_, t) => {
            domain::text::optional(t, NOTE_MAX).map_err(|e| Error::field("text", e.to_string()))?
        }
    };
    let (number, key) = (number.to_string(), key.to_string());
    let tz = app.settings.tz;
    // Reopening restarts the resolution clock, as at the desk: its target is read before the
    // write.
    let reopen_plan = if what == "reopen" {
        let (n, k) = (number.clone(), key.clone());
        let t = app
            .db
            .read(move |c| Box::pin(async move { by_link(c, &n, &k).await }))
            .await?;
        resolution_plan(app, &t).await?
    } else {
        None
    };
    app.db
        .write(move |c| {
            Box::pin(async move {
                let mut t = by_link(c, &number, &key).await?;
                let priority_before = t.state.priority;
                if t.version != version {
                    return Err(Error::VersionConflict);
                }
                let from = t.state.status;
                let (g, _) = guards(c, &t, None, clock_now).await?;
                let ev = match &*what {
                    "confirm" => Some(TicketEvent::Confirm),
                    "reopen" => Some(TicketEvent::Reopen),
                    "urge" => Some(TicketEvent::Urge),
                    _ => None,
                };
                if let Some(ev) = &ev {
                    t.state.apply(ev, &g)?;
                }
                match &*what {
                    "confirm" => t.confirmed_at = Some(clock_now),
                    "reopen" => {
                        t.closed_at = None;
                        t.confirmed_at = None;
                    }
                    "urge" => t.last_urged_at = Some(clock_now),
                    _ => {}
                }
                // D10: an urge that raises the priority escalates, as at the desk.
                let escalated = what == "urge" && t.state.priority != priority_before;
                if escalated {
                    t.escalated_at.get_or_insert(clock_now);
                }
                if let Some(b) = &body {
                    tickets::insert_message(
                        c,
                        &NewMessage {
                            ticket_id: t.id(),
                            brand_id: t.brand_id,
                            at: clock_now,
                            author_id: None,
                            author_label: Some("requester"),
                            visibility: "inbound",
                            channel: "web_form",
                            body: b,
                            email_message_id: None,
                            in_reply_to: None,
                        },
                    )
                    .await?;
                }
                t.version = tickets::update(c, &t, clock_now).await?;
                sla_follow(
                    c,
                    &t,
                    ev.as_ref(),
                    false,
                    None,
                    reopen_plan.as_ref(),
                    clock_now,
                )
                .await?;
                crate::search::set_status(
                    c,
                    store::search::DocKind::Ticket,
                    t.id().0,
                    t.state.status.as_str(),
                    clock_now,
                )
                .await?;
                let name = if what == "message" { "inbound" } else { &what };
                history(
                    c,
                    &t,
                    clock_now,
                    None,
                    Some("requester"),
                    name,
                    from,
                    json!({ "via": "status_link" }),
                )
                .await?;
                if what != "message" {
                    let line = match &*what {
                        "confirm" => format!("{} 客户已确认", t.number),
                        "reopen" => format!("{} 客户重新打开", t.number),
                        _ => format!("{} 客户催单", t.number),
                    };
                    on_timeline(c, &t, clock_now, None, &line).await?;
                }
                if what == "urge" {
                    let publish = crate::notify::subscriptions::publish;
                    publish(
                        c,
                        tz,
                        Event::Urged,
                        &t,
                        json!({ "via": "status_link" }),
                        clock_now,
                    )
                    .await?;
                    if escalated {
                        publish(
                            c,
                            tz,
                            Event::Escalated,
                            &t,
                            json!({ "reason": "urge" }),
                            clock_now,
                        )
                        .await?;
                    }
                }
                Ok(())
            })
        })
        .await
}

/// Issues a new status link for the requester (the old one stops working).
pub async fn new_status_link(app: &App, ctx: &Ctx, id: TicketId) -> Result<String> {
    ctx.require(Permission::TicketWork)?;
    let key = crate::secret::random_token();
    let hash = crate::secret::digest(&key);
    let scope = ctx.scope.clone();
    let audit = audit_entry(ctx, "new_link", "ticket");
    let number = app
        .db
        .write(move |c| {
            Box::pin(async move {
                let t = tickets::get(c, &scope, id).await?;
                tickets::set_access_key_hash(c, id, &hash).await?;
                audit.write(c, Some(id.0), t.brand_id, None, None).await?;
                Ok::<_, Error>(t.number)
            })
        })
        .await?;
    Ok(app.settings.public_link(&status_link(&number, &key)))
}

/// The status link a key opens, as sent (absolute when the public address is set).
pub(crate) fn status_link_of(app: &App, number: &str, key: &str) -> String {
    app.settings.public_link(&status_link(number, key))
}

/// Whether `key` is the ticket's current status-link key.
pub(crate) async fn link_key_matches(c: &mut Conn, id: TicketId, key: &str) -> Result<bool> {
    let stored = tickets::access_key_hash(c, id).await?;
    let given = crate::secret::digest(key);
    Ok(stored.is_some_and(|h| crate::secret::constant_time_eq(h.as_bytes(), given.as_bytes())))
}
