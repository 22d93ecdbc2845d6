//! Who else hears about a ticket (D7): organisations — key accounts, dealers, integrators —
//! follow ticket events through a 企业微信 group bot or a signed webhook, and a customer who
//! subscribed in the brand's mini program / 公众号 gets subscription messages at the milestones.
//!
//! `publish` is the one place that turns a ticket event into subscription messages; the use
//! cases that cause an event (create, route, plan, urge, resolve, close, compensation, the SLA
//! breach) call it inside their own transaction, so the message exists exactly when the change
//! does.

use std::collections::BTreeSet;

use chrono_tz::Tz;
use domain::customer::CustomerKind;
use domain::ticket::Ticket;
use domain::{BrandId, Cursor, CustomerId, OutboxId, Permission, Scope, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use store::notify::{self as db, Subscription, SubscriptionDraft, WechatBinding};
use store::outbox::{self, Channel, Message, NewMessage, OutboxQuery, OutboxStatus};
use store::{Conn, Page, customers};
use utoipa::ToSchema;

use crate::admin::audit_entry;
use crate::error::Fields;
use crate::once::create_once;
use crate::{App, Created, Ctx, Error, Result};

/// The ticket events organisations can follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Received,
    Routed,
    Plan,
    /// An SLA breach or an urge that raised the priority.
    Escalated,
    Urged,
    Resolved,
    Closed,
    /// A compensation was proposed or approved on a complaint.
    Compensation,
}

impl Event {
    pub const ALL: [Event; 8] = [
        Event::Received,
        Event::Routed,
        Event::Plan,
        Event::Escalated,
        Event::Urged,
        Event::Resolved,
        Event::Closed,
        Event::Compensation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Event::Received => "ticket.received",
            Event::Routed => "ticket.routed",
            Event::Plan => "ticket.plan",
            Event::Escalated => "ticket.escalated",
            Event::Urged => "ticket.urged",
            Event::Resolved => "ticket.resolved",
            Event::Closed => "ticket.closed",
            Event::Compensation => "complaint.compensation",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// The headline of a 企业微信 message.
    fn title(self, en: bool) -> &'static str {
        match (self, en) {
            (Event::Received, false) => "新工单",
            (Event::Received, true) => "New ticket",
            (Event::Routed, false) => "工单已派至部门",
            (Event::Routed, true) => "Ticket routed to a department",
            (Event::Plan, false) => "处理方案已签署",
            (Event::Plan, true) => "Plan signed",
            (Event::Escalated, false) => "工单升级",
            (Event::Escalated, true) => "Ticket escalated",
            (Event::Urged, false) => "客户催单",
            (Event::Urged, true) => "Customer urged",
            (Event::Resolved, false) => "工单已处理",
            (Event::Resolved, true) => "Ticket resolved",
            (Event::Closed, false) => "工单已关闭",
            (Event::Closed, true) => "Ticket closed",
            (Event::Compensation, false) => "投诉补偿",
            (Event::Compensation, true) => "Complaint compensation",
        }
    }
}

fn status_text(s: domain::ticket::TicketStatus, en: bool) -> &'static str {
    use domain::ticket::TicketStatus as S;
    if en {
        return match s {
            S::Open => "Open",
            S::Routed => "Routed",
            S::Accepted => "Accepted",
            S::PlanSigned => "Plan signed",
            S::PlanReturned => "Plan returned",
            S::InProgress => "In progress",
            S::WaitingOnCustomer => "Waiting on customer",
            S::Resolved => "Resolved",
            S::Confirmed => "Confirmed",
            S::Closed => "Closed",
            _ => "Merged",
        };
    }
    match s {
        S::Open => "已受理",
        S::Routed => "已派单",
        S::Accepted => "处理中",
        S::PlanSigned => "方案已签署",
        S::PlanReturned => "方案待告知",
        S::InProgress => "跟进中",
        S::WaitingOnCustomer => "等待客户",
        S::Resolved => "已处理",
        S::Confirmed => "已确认",
        S::Closed => "已关闭",
        _ => "已合并",
    }
}

/// The requester-facing status text of a subscription message (WeChat `thing` fields hold at
/// most 20 characters; these are short).
pub fn requester_status(s: domain::ticket::TicketStatus) -> &'static str {
    status_text(s, false)
}

fn priority_text(p: domain::ticket::Priority, en: bool) -> &'static str {
    use domain::ticket::Priority as P;
    match (p, en) {
        (P::Low, false) => "低",
        (P::Normal, false) => "普通",
        (P::High, false) => "高",
        (P::Urgent, false) => "紧急",
        (P::Low, true) => "Low",
        (P::Normal, true) => "Normal",
        (P::High, true) => "High",
        (P::Urgent, true) => "Urgent",
    }
}

/// The staff page of a ticket.
fn ticket_link(t: &Ticket) -> String {
    format!("/tickets/{}", t.id().0)
}

/// Writes one outbox message per active subscription that follows `event` on this ticket (the
/// same brand or platform-wide; the ticket's dealer when the subscription names one), in the
/// caller's transaction. `extra` adds event details (`reason`, compensation amount …) to the
/// data. Returns how many were written.
///
/// Webhook data: `{"event", "at", "ticket": {"id", "number", "kind", "status", "priority",
/// "brand", "owner", "department", "committed_at", "link"}, …extra}`. 企业微信: markdown in the
/// subscription's language, a title and one line per fact.
pub async fn publish(
    c: &mut Conn,
    tz: Tz,
    event: Event,
    t: &Ticket,
    extra: Value,
    at: Timestamp,
) -> Result<usize, store::Error> {
    let following = db::following(c, event.as_str()).await?;
    publish_among(c, &following, tz, event, t, extra, at).await
}

/// [`publish`] to those of `following` (read before the write with `db::following`) that cover
/// the ticket: a ticket create, which runs on the one writer, reads them there rather than in
/// its write. A subscription saved between that read and the write is not told of this ticket,
/// as if the ticket had come a moment earlier.
pub async fn publish_among(
    c: &mut Conn,
    following: &[db::Subscription],
    tz: Tz,
    event: Event,
    t: &Ticket,
    extra: Value,
    at: Timestamp,
) -> Result<usize, store::Error> {
    let subs: Vec<&db::Subscription> = following
        .iter()
        .filter(|s| s.covers(t.brand_id, t.dealer_id))
        .collect();
    if subs.is_empty() {
        return Ok(0);
    }
    let (brand, owner, department) = db::names(
        c,
        t.brand_id,
        t.state.owner.user(),
        t.state.owner.queue().or(t.state.department),
    )
    .await?;
    let committed = t.plan_committed_at.map(|d| d.rfc3339_in(tz));
    let mut data = json!({
        "event": event.as_str(),
        "at": at.rfc3339_in(tz),
        "ticket": {
            "id": t.id().0,
            "number": t.number,
            "kind": t.state.kind.as_str(),
            "status": t.state.status.as_str(),
            "priority": t.state.priority.as_str(),
            "brand": brand,
            "owner": owner,
            "department": department,
            "committed_at": committed,
            "link": ticket_link(t),
        },
    });
    if let (Value::Object(d), Value::Object(x)) = (&mut data, &extra) {
        for (k, v) in x {
            d.insert(k.clone(), v.clone());
        }
    }
    for s in &subs {
        let (template, payload) = match s.channel {
            Channel::Wecom => (
                event.as_str().to_string(),
                wecom_params(event, t, &data, &s.locale, tz),
            ),
            _ => (event.as_str().to_string(), data.clone()),
        };
        outbox::insert(
            c,
            &NewMessage {
                channel: s.channel,
                recipient: s.target.clone(),
                template,
                payload,
                ref_entity: Some("ticket".into()),
                ref_id: Some(t.id().0),
                brand_id: t.brand_id,
            },
            at,
        )
        .await?;
    }
    Ok(subs.len())
}

/// The facts of a 企业微信 message, keyed by their label in the subscription's language (the
/// adapter writes one `label：value` line each).
fn wecom_params(event: Event, t: &Ticket, data: &Value, locale: &str, tz: Tz) -> Value {
    let en = locale.starts_with("en");
    let labels: [&str; 8] = if en {
        [
            "Ticket",
            "Status",
            "Priority",
            "Brand",
            "Owner",
            "Committed",
            "Link",
            "Reason",
        ]
    } else {
        [
            "工单",
            "状态",
            "优先级",
            "品牌",
            "负责人",
            "承诺时间",
            "链接",
            "原因",
        ]
    };
    let ticket = &data["ticket"];
    let mut m = Map::new();
    m.insert(
        "title".into(),
        json!(format!("{} {}", event.title(en), t.number)),
    );
    m.insert(labels[0].into(), json!(t.subject));
    m.insert(labels[1].into(), json!(status_text(t.state.status, en)));
    m.insert(labels[2].into(), json!(priority_text(t.state.priority, en)));
    if let Some(b) = ticket["brand"].as_str() {
        m.insert(labels[3].into(), json!(b));
    }
    let owner = [ticket["department"].as_str(), ticket["owner"].as_str()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" / ");
    if !owner.is_empty() {
        m.insert(labels[4].into(), json!(owner));
    }
    if let Some(at) = t.plan_committed_at {
        m.insert(labels[5].into(), json!(at.display_in(tz)));
    }
    m.insert(labels[6].into(), json!(ticket_link(t)));
    if let Some(r) = data["reason"].as_str() {
        let text = match (r, en) {
            ("sla_breach", false) => "SLA 超时",
            ("sla_breach", true) => "SLA breached",
            ("urge", false) => "催单升级",
            ("urge", true) => "Urged and raised",
            ("proposed", false) => "补偿已提出",
            ("proposed", true) => "Compensation proposed",
            ("approved", false) => "补偿已批准",
            ("approved", true) => "Compensation approved",
            (other, _) => other,
        };
        m.insert(labels[7].into(), json!(text));
    }
    Value::Object(m)
}

// ---------------------------------------------------------------- subscription administration

/// A subscription as an administrator types it.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct SubscriptionInput {
    /// Who it is for, e.g. "华东大客户群".
    pub name: String,
    /// `wecom` or `webhook`.
    pub channel: String,
    /// The 企业微信 bot key or its full webhook URL; the webhook's http(s) URL.
    pub target: String,
    /// Event names: ticket.received, ticket.routed, ticket.plan, ticket.escalated, ticket.urged,
    /// ticket.resolved, ticket.closed, complaint.compensation.
    #[serde(default)]
    pub events: Vec<String>,
    /// zh-CN (default) or en: the language of 企业微信 texts.
    #[serde(default)]
    pub locale: Option<String>,
    /// The brand whose tickets it follows; empty = every brand (platform administrators only).
    /// A brand's administrator may leave it empty for their own brand.
    #[serde(default)]
    pub brand_id: Option<i64>,
    /// Only this dealer's tickets.
    #[serde(default)]
    pub dealer_id: Option<i64>,
    /// Default true.
    #[serde(default)]
    pub active: Option<bool>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SubscriptionView {
    pub id: i64,
    pub brand_id: Option<i64>,
    pub dealer_id: Option<i64>,
    pub name: String,
    pub channel: String,
    pub target: String,
    pub events: Vec<String>,
    pub locale: String,
    pub active: bool,
    pub created_by: Option<i64>,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

fn sub_view(app: &App, s: Subscription) -> SubscriptionView {
    let tz = app.settings.tz;
    SubscriptionView {
        id: s.id,
        brand_id: s.brand_id.map(|b| b.0),
        dealer_id: s.dealer_id.map(|d| d.0),
        name: s.name,
        channel: s.channel.as_str().into(),
        target: s.target,
        events: s.events,
        locale: s.locale,
        active: s.active,
        created_by: s.created_by.map(|u| u.0),
        version: s.version,
        created_at: s.created_at.rfc3339_in(tz),
        updated_at: s.updated_at.rfc3339_in(tz),
    }
}

/// Subscription administration: platform administrators (all brands) and a brand's
/// administrators (a token or account narrowed to their brand).
fn require_admin(ctx: &Ctx) -> Result<()> {
    ctx.require(Permission::NotifyAdmin)?;
    match ctx.scope {
        Scope::All | Scope::Brands(_) => Ok(()),
        _ => Err(Error::Forbidden),
    }
}

/// Whether a 企业微信 target is a bot key or a URL.
fn valid_wecom_target(t: &str) -> bool {
    if t.starts_with("http://") || t.starts_with("https://") {
        return valid_url(t);
    }
    !t.is_empty() && t.len() <= 100 && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn valid_url(t: &str) -> bool {
    reqwest::Url::parse(t)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

/// Parses the input into a draft (everything but the dealer's existence, checked in the
/// transaction).
fn parse_input(ctx: &Ctx, input: &SubscriptionInput) -> Result<SubscriptionDraft> {
    let mut f = Fields::new();
    let name = input.name.trim();
    if name.is_empty() {
        f.add("name", "required");
    } else if name.chars().count() > 100 {
        f.add("name", "at most 100 characters");
    }
    let channel = match input.channel.trim() {
        "wecom" => Some(Channel::Wecom),
        "webhook" => Some(Channel::Webhook),
        _ => {
            f.add("channel", "wecom or webhook");
            None
        }
    };
    let target = input.target.trim();
    match channel {
        _ if target.is_empty() => f.add("target", "required"),
        Some(Channel::Webhook) if !valid_url(target) => {
            f.add("target", "an http:// or https:// URL");
        }
        Some(Channel::Wecom) if !valid_wecom_target(target) => {
            f.add("target", "a 企业微信 bot key or its webhook URL");
        }
        _ => {}
    }
    let mut events = Vec::new();
    let mut seen = BTreeSet::new();
    for e in &input.events {
        let e = e.trim();
        match Event::parse(e) {
            Some(ev) if seen.insert(ev.as_str()) => events.push(ev.as_str().to_string()),
            Some(_) => {}
            None => f.add("events", format!("unknown event {e:?}")),
        }
    }
    if input.events.is_empty() {
        f.add("events", "choose at least one event");
    }
    let locale = match input.locale.as_deref().map(str::trim) {
        None | Some("" | "zh-CN") => "zh-CN",
        Some("en") => "en",
        Some(_) => {
            f.add("locale", "zh-CN or en");
            "zh-CN"
        }
    };
    let brand_id = match (&ctx.scope, input.brand_id) {
        (Scope::All, b) => b.map(BrandId),
        (Scope::Brands(set), Some(b)) if set.contains(&BrandId(b)) => Some(BrandId(b)),
        (Scope::Brands(_), Some(_)) => {
            f.add("brand_id", "not one of your brands");
            None
        }
        (Scope::Brands(set), None) if set.len() == 1 => set.iter().next().copied(),
        (Scope::Brands(_), None) => {
            f.add("brand_id", "required: choose one of your brands");
            None
        }
        _ => None,
    };
    f.finish()?;
    Ok(SubscriptionDraft {
        brand_id,
        dealer_id: input.dealer_id.map(CustomerId),
        name: name.to_string(),
        channel: channel.ok_or_else(|| Error::field("channel", "wecom or webhook"))?,
        target: target.to_string(),
        events,
        locale: locale.to_string(),
        active: input.active.unwrap_or(true),
    })
}

/// The brand exists and the dealer (when named) is a dealer the caller sees.
async fn check_refs(c: &mut Conn, scope: &Scope, d: &SubscriptionDraft) -> Result<()> {
    if let Some(b) = d.brand_id
        && !store::org::brands(c).await?.iter().any(|x| x.id == b)
    {
        return Err(Error::field("brand_id", "no such brand"));
    }
    if let Some(id) = d.dealer_id {
        match customers::get(c, scope, id).await {
            Ok(cu) if cu.kind == CustomerKind::Dealer => {}
            Ok(_) => return Err(Error::field("dealer_id", "not a dealer")),
            Err(store::Error::NotFound) => return Err(Error::field("dealer_id", "no such dealer")),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

pub async fn list_subscriptions(app: &App, ctx: &Ctx) -> Result<Vec<SubscriptionView>> {
    require_admin(ctx)?;
    let scope = ctx.scope.clone();
    let subs = app
        .db
        .read(move |c| Box::pin(async move { db::list_subscriptions(c, &scope).await }))
        .await?;
    Ok(subs.into_iter().map(|s| sub_view(app, s)).collect())
}

pub async fn get_subscription(app: &App, ctx: &Ctx, id: i64) -> Result<SubscriptionView> {
    require_admin(ctx)?;
    let scope = ctx.scope.clone();
    let s = app
        .db
        .read(move |c| Box::pin(async move { db::get_subscription(c, &scope, id).await }))
        .await?;
    Ok(sub_view(app, s))
}

pub async fn create_subscription(
    app: &App,
    ctx: &Ctx,
    input: SubscriptionInput,
) -> Result<SubscriptionView> {
    let made = create_subscription_once(app, ctx, input).await?;
    get_subscription(app, ctx, made.id).await
}

/// Creates a subscription once per the request's Idempotency-Key: a retry answers with the first.
pub async fn create_subscription_once(
    app: &App,
    ctx: &Ctx,
    input: SubscriptionInput,
) -> Result<Created<i64>> {
    require_admin(ctx)?;
    let draft = parse_input(ctx, &input)?;
    let scope = ctx.scope.clone();
    let audit = audit_entry(ctx, "create", "notify_subscription");
    let by = ctx.actor.user_id();
    create_once(app, ctx, |x| x, move |c| {
            Box::pin(async move {
                check_refs(c, &scope, &draft).await?;
                let id = db::insert_subscription(c, &draft, by, audit.at).await?;
                audit
                    .write(
                        c,
                        Some(id),
                        draft.brand_id,
                        None,
                        Some(json!({ "name": draft.name, "channel": draft.channel.as_str(), "events": draft.events, "active": draft.active })),
                    )
                    .await?;
                Ok::<_, Error>(id)
            })
        })
        .await
}

/// Replaces the subscription read at `version` (deactivate with `active: false`).
pub async fn update_subscription(
    app: &App,
    ctx: &Ctx,
    id: i64,
    version: i64,
    input: SubscriptionInput,
) -> Result<SubscriptionView> {
    require_admin(ctx)?;
    let draft = parse_input(ctx, &input)?;
    let scope = ctx.scope.clone();
    let audit = audit_entry(ctx, "update", "notify_subscription");
    app.db
        .write(move |c| {
            Box::pin(async move {
                let before = db::get_subscription(c, &scope, id).await?;
                if before.version != version {
                    return Err(Error::VersionConflict);
                }
                check_refs(c, &scope, &draft).await?;
                db::update_subscription(c, id, version, &draft, audit.at).await?;
                audit
                    .write(
                        c,
                        Some(id),
                        draft.brand_id,
                        Some(json!({ "name": before.name, "target": before.target, "events": before.events, "active": before.active })),
                        Some(json!({ "name": draft.name, "target": draft.target, "events": draft.events, "active": draft.active })),
                    )
                    .await?;
                Ok::<_, Error>(())
            })
        })
        .await?;
    get_subscription(app, ctx, id).await
}

pub async fn delete_subscription(app: &App, ctx: &Ctx, id: i64) -> Result<()> {
    require_admin(ctx)?;
    let scope = ctx.scope.clone();
    let audit = audit_entry(ctx, "delete", "notify_subscription");
    app.db
        .write(move |c| {
            Box::pin(async move {
                let s = db::get_subscription(c, &scope, id).await?;
                db::delete_subscription(c, id).await?;
                audit
                    .write(
                        c,
                        Some(id),
                        s.brand_id,
                        Some(json!({ "name": s.name, "target": s.target })),
                        None,
                    )
                    .await?;
                Ok::<_, Error>(())
            })
        })
        .await
}

/// Queues a test message to the subscription's target (whether it is active or not), so the
/// administrator sees the bot post or the webhook arrive; returns the outbox id.
pub async fn send_test(app: &App, ctx: &Ctx, id: i64) -> Result<i64> {
    require_admin(ctx)?;
    let scope = ctx.scope.clone();
    let audit = audit_entry(ctx, "send_test", "notify_subscription");
    let tz = app.settings.tz;
    app.db
        .write(move |c| {
            Box::pin(async move {
                let s = db::get_subscription(c, &scope, id).await?;
                let en = s.locale.starts_with("en");
                let payload = match s.channel {
                    Channel::Wecom => {
                        let mut m = Map::new();
                        let (title, name, events) = if en {
                            ("kefu test message", "Subscription", "Events")
                        } else {
                            ("客服系统测试消息", "订阅", "事件")
                        };
                        m.insert("title".into(), json!(title));
                        m.insert(name.into(), json!(s.name));
                        m.insert(events.into(), json!(s.events.join(", ")));
                        Value::Object(m)
                    }
                    _ => json!({
                        "event": "notify.test",
                        "at": audit.at.rfc3339_in(tz),
                        "subscription": { "id": s.id, "name": s.name, "events": s.events },
                    }),
                };
                let oid = outbox::insert(
                    c,
                    &NewMessage {
                        channel: s.channel,
                        recipient: s.target.clone(),
                        template: "notify.test".into(),
                        payload,
                        ref_entity: Some("notify_subscription".into()),
                        ref_id: Some(s.id),
                        brand_id: s.brand_id,
                    },
                    audit.at,
                )
                .await?;
                audit
                    .write(
                        c,
                        Some(id),
                        s.brand_id,
                        None,
                        Some(json!({ "outbox_id": oid.0 })),
                    )
                    .await?;
                Ok::<_, Error>(oid.0)
            })
        })
        .await
}

// ---------------------------------------------------------------- WeChat bindings

/// What the brand's mini program / 公众号 backend sends after the user subscribed.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct WechatBindingInput {
    pub openid: String,
    /// The WeChat app; default the configured one (`KEFU_WECHAT_APPID`).
    #[serde(default)]
    pub appid: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WechatBindingView {
    pub customer_id: i64,
    pub brand_id: Option<i64>,
    pub appid: String,
    pub openid: String,
    pub bound_at: String,
}

fn wechat_appid(app: &App, given: Option<&str>) -> Result<String> {
    match given.map(str::trim).filter(|s| !s.is_empty()) {
        Some(a) if a.len() <= 64 && a.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
            Ok(a.to_string())
        }
        Some(_) => Err(Error::field("appid", "not a WeChat appid")),
        None => app
            .settings
            .wechat
            .as_ref()
            .map(|w| w.appid.clone())
            .ok_or_else(|| Error::field("appid", "required: no WeChat app is configured")),
    }
}

/// Binds the customer's openid (the customer must be visible and writable to the caller).
pub async fn bind_wechat(
    app: &App,
    ctx: &Ctx,
    customer: CustomerId,
    input: WechatBindingInput,
) -> Result<WechatBindingView> {
    ctx.require(Permission::CustomerWrite)?;
    let mut f = Fields::new();
    let openid = input.openid.trim().to_string();
    if openid.is_empty() {
        f.add("openid", "required");
    } else if openid.len() > 128
        || !openid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        f.add("openid", "not a WeChat openid");
    }
    let appid = match wechat_appid(app, input.appid.as_deref()) {
        Ok(a) => Some(a),
        Err(e) => {
            f.add("appid", e.to_string().trim_start_matches("appid: "));
            None
        }
    };
    f.finish()?;
    let appid = appid.unwrap_or_default();
    let brand = match &ctx.scope {
        Scope::Brands(set) if set.len() == 1 => set.iter().next().copied(),
        _ => None,
    };
    let scope = ctx.scope.clone();
    let audit = audit_entry(ctx, "bind_wechat", "customer");
    let b = WechatBinding {
        customer_id: customer,
        brand_id: brand,
        appid,
        openid,
        bound_at: audit.at,
    };
    let out = b.clone();
    app.db
        .write(move |c| {
            Box::pin(async move {
                customers::get(c, &scope, customer).await?;
                match db::bind_wechat(c, &b).await {
                    Err(store::Error::Duplicate(_)) => {
                        return Err(Error::Duplicate {
                            message: "this openid is bound to another customer".into(),
                            existing: None,
                        });
                    }
                    r => r?,
                }
                audit
                    .write(
                        c,
                        Some(customer.0),
                        b.brand_id,
                        None,
                        Some(json!({ "appid": b.appid, "openid": b.openid })),
                    )
                    .await?;
                Ok::<_, Error>(())
            })
        })
        .await?;
    Ok(WechatBindingView {
        customer_id: out.customer_id.0,
        brand_id: out.brand_id.map(|b| b.0),
        appid: out.appid,
        openid: out.openid,
        bound_at: out.bound_at.rfc3339_in(app.settings.tz),
    })
}

/// Removes the customer's binding (the user unsubscribed); `not_found` when there was none.
pub async fn unbind_wechat(
    app: &App,
    ctx: &Ctx,
    customer: CustomerId,
    appid: Option<&str>,
) -> Result<()> {
    ctx.require(Permission::CustomerWrite)?;
    let appid = wechat_appid(app, appid)?;
    let scope = ctx.scope.clone();
    let audit = audit_entry(ctx, "unbind_wechat", "customer");
    app.db
        .write(move |c| {
            Box::pin(async move {
                customers::get(c, &scope, customer).await?;
                if !db::unbind_wechat(c, customer, &appid).await? {
                    return Err(Error::NotFound);
                }
                audit
                    .write(
                        c,
                        Some(customer.0),
                        None,
                        Some(json!({ "appid": appid })),
                        None,
                    )
                    .await?;
                Ok::<_, Error>(())
            })
        })
        .await
}

// ---------------------------------------------------------------- delivery status

/// One outbox row as staff see it: phones masked unless the viewer may see them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OutboxView {
    pub id: i64,
    pub channel: String,
    pub recipient: String,
    /// The event or the provider's template id.
    pub template: String,
    /// pending, sent, failed (refused for good) or dead (given up after the last retry).
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub provider_ref: Option<String>,
    pub ref_entity: Option<String>,
    pub ref_id: Option<i64>,
    pub created_at: String,
    pub sent_at: Option<String>,
}

fn outbox_view(app: &App, ctx: &Ctx, m: Message) -> OutboxView {
    let tz = app.settings.tz;
    let recipient = match m.channel {
        Channel::Sms => domain::Phone::parse(&m.recipient)
            .map_or_else(|_| "***".to_string(), |p| ctx.show_phone(&p)),
        // A bot key or a signed URL is a credential: show its start only.
        Channel::Wecom => mask_secret(&m.recipient),
        _ => m.recipient,
    };
    OutboxView {
        id: m.id.0,
        channel: m.channel.as_str().into(),
        recipient,
        template: m.template,
        status: m.status.as_str().into(),
        attempts: m.attempts,
        last_error: m.last_error,
        provider_ref: m.provider_ref,
        ref_entity: m.ref_entity,
        ref_id: m.ref_id,
        created_at: m.created_at.rfc3339_in(tz),
        sent_at: m.sent_at.map(|t| t.rfc3339_in(tz)),
    }
}

/// The first few characters of a secret, then `***`.
pub fn mask_secret(s: &str) -> String {
    let head: String = s.chars().take(6).collect();
    format!("{head}***")
}

/// The messages about one ticket, newest first (staff of the operating company only).
pub async fn ticket_notifications(
    app: &App,
    ctx: &Ctx,
    ticket: domain::TicketId,
) -> Result<Vec<OutboxView>> {
    ctx.require(Permission::TicketRead)?;
    if !matches!(ctx.scope, Scope::All) {
        return Err(Error::Forbidden);
    }
    let rows = app
        .db
        .read(move |c| {
            Box::pin(async move {
                store::tickets::get(c, &Scope::All, ticket).await?;
                let q = OutboxQuery {
                    about: Some(("ticket".into(), ticket.0)),
                    limit: 200,
                    ..OutboxQuery::default()
                };
                Ok::<_, Error>(outbox::list(c, &Scope::All, &q).await?)
            })
        })
        .await?;
    Ok(rows
        .items
        .into_iter()
        .map(|m| outbox_view(app, ctx, m))
        .collect())
}

/// Filters of the outbox page.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, utoipa::IntoParams)]
pub struct OutboxListInput {
    /// pending, sent, failed or dead.
    #[serde(default)]
    pub status: Option<String>,
    /// webhook, sms, email, wechat or wecom.
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub cursor: Option<String>,
    #[serde(default)]
    pub limit: Option<u32>,
}

pub struct OutboxPage {
    pub items: Vec<OutboxView>,
    pub next: Option<Cursor>,
}

/// The outbox, newest first; a brand administrator sees its brand's messages.
pub async fn list_outbox(app: &App, ctx: &Ctx, input: OutboxListInput) -> Result<OutboxPage> {
    require_admin(ctx)?;
    let mut f = Fields::new();
    let status = match input.status.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => {
            let p = OutboxStatus::parse(s);
            if p.is_none() {
                f.add("status", "pending, sent, failed or dead");
            }
            p
        }
    };
    let channel = match input.channel.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => {
            let p = Channel::parse(s);
            if p.is_none() {
                f.add("channel", "webhook, sms, email, wechat or wecom");
            }
            p
        }
    };
    let after = match input.cursor.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => {
            let c = Cursor::decode(s);
            if c.is_none() {
                f.add("cursor", "invalid");
            }
            c
        }
    };
    f.finish()?;
    let q = OutboxQuery {
        status,
        channel,
        about: None,
        after,
        limit: input.limit.unwrap_or(50),
    };
    let scope = ctx.scope.clone();
    let page: Page<Message> = app
        .db
        .read(move |c| Box::pin(async move { outbox::list(c, &scope, &q).await }))
        .await?;
    Ok(OutboxPage {
        items: page
            .items
            .into_iter()
            .map(|m| outbox_view(app, ctx, m))
            .collect(),
        next: page.next,
    })
}

/// Sends a failed or dead message again now, with a fresh set of attempts. A pending or sent
/// message is a `conflict`.
pub async fn retry_outbox(app: &App, ctx: &Ctx, id: i64) -> Result<()> {
    require_admin(ctx)?;
    let scope = ctx.scope.clone();
    let audit = audit_entry(ctx, "retry", "outbox");
    app.db
        .write(move |c| {
            Box::pin(async move {
                let m = outbox::get(c, OutboxId(id)).await?;
                if !scope.sees_brand(m.brand_id) {
                    return Err(Error::NotFound);
                }
                if !outbox::requeue(c, m.id, audit.at).await? {
                    return Err(Error::Conflict(format!(
                        "message #{id} is {}; only failed messages are sent again",
                        m.status.as_str()
                    )));
                }
                audit
                    .write(
                        c,
                        Some(id),
                        m.brand_id,
                        Some(json!({ "status": m.status.as_str(), "attempts": m.attempts })),
                        Some(json!({ "status": "pending" })),
                    )
                    .await?;
                Ok::<_, Error>(())
            })
        })
        .await
}
