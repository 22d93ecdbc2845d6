//! The outbox (ARCHITECTURE, "Background work"): every message that leaves the system — SMS,
//! email, WeChat, 企业微信 bots, webhooks — is a row written in the same transaction as the change
//! that causes it, together with the `deliver_outbox` job that sends it. Its status (pending,
//! sent, failed for good, dead after the retries) stays visible.

use domain::{BrandId, Cursor, OutboxId, Scope, Timestamp};
use serde_json::{Value, json};

use crate::error::corrupt;
use crate::jobs::{self, NewJob};
use crate::sql::Filter;
use crate::{Conn, Error, Page};

/// The job kind that delivers one outbox row; its payload is `{"outbox_id": N}`.
pub const DELIVER_KIND: &str = "deliver_outbox";
/// Attempts before a message is given up (dead): with backoff from 10 s doubling to a 1 h cap,
/// about two and a half hours of trying.
pub const DELIVER_MAX_ATTEMPTS: i64 = 10;

/// How a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    Webhook,
    Sms,
    Email,
    Wechat,
    Wecom,
}

impl Channel {
    pub const ALL: [Channel; 5] = [
        Channel::Webhook,
        Channel::Sms,
        Channel::Email,
        Channel::Wechat,
        Channel::Wecom,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Webhook => "webhook",
            Channel::Sms => "sms",
            Channel::Email => "email",
            Channel::Wechat => "wechat",
            Channel::Wecom => "wecom",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxStatus {
    /// Not delivered yet; may be waiting for a retry.
    Pending,
    Sent,
    /// Refused for good (the receiver said no, or no adapter serves the channel).
    Failed,
    /// Every attempt failed.
    Dead,
}

impl OutboxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Sent => "sent",
            OutboxStatus::Failed => "failed",
            OutboxStatus::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => OutboxStatus::Pending,
            "sent" => OutboxStatus::Sent,
            "failed" => OutboxStatus::Failed,
            "dead" => OutboxStatus::Dead,
            _ => return None,
        })
    }
}

/// A message to send.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub channel: Channel,
    /// A phone, an address, an openid, a bot key or a URL, as the channel needs.
    pub recipient: String,
    /// The event or template id (`ticket.replied`, an SMS provider's template code …).
    pub template: String,
    /// Template parameters or the event's data.
    pub payload: Value,
    /// What the message is about (`ticket`, 42), for the record's page.
    pub ref_entity: Option<String>,
    pub ref_id: Option<i64>,
    pub brand_id: Option<BrandId>,
}

/// Writes the message and the job that delivers it, in the caller's transaction.
pub async fn insert(c: &mut Conn, m: &NewMessage, at: Timestamp) -> Result<OutboxId, Error> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO outbox (channel, recipient, template, payload, status, attempts, ref_entity, ref_id, brand_id, created_at)
         VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6, $7, $8) RETURNING id",
    )
    .bind(m.channel.as_str())
    .bind(&m.recipient)
    .bind(&m.template)
    .bind(m.payload.to_string())
    .bind(m.ref_entity.as_deref())
    .bind(m.ref_id)
    .bind(m.brand_id.map(|b| b.0))
    .bind(at.0)
    .fetch_one(&mut *c)
    .await?;
    jobs::enqueue(
        c,
        &NewJob::new(DELIVER_KIND, json!({ "outbox_id": id }), at)
            .dedupe(format!("outbox:{id}"))
            .max_attempts(DELIVER_MAX_ATTEMPTS),
        at,
    )
    .await?;
    Ok(OutboxId(id))
}

#[derive(Debug, Clone)]
pub struct Message {
    pub id: OutboxId,
    pub channel: Channel,
    pub recipient: String,
    pub template: String,
    pub payload: Value,
    pub status: OutboxStatus,
    pub attempts: i64,
    pub last_error: Option<String>,
    /// What the provider calls the delivery (its message id), when it said.
    pub provider_ref: Option<String>,
    pub ref_entity: Option<String>,
    pub ref_id: Option<i64>,
    pub brand_id: Option<BrandId>,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    id: i64,
    channel: String,
    recipient: String,
    template: String,
    payload: String,
    status: String,
    attempts: i64,
    last_error: Option<String>,
    provider_ref: Option<String>,
    ref_entity: Option<String>,
    ref_id: Option<i64>,
    brand_id: Option<i64>,
    created_at: i64,
    sent_at: Option<i64>,
}

impl TryFrom<MessageRow> for Message {
    type Error = Error;
    fn try_from(r: MessageRow) -> Result<Self, Error> {
        Ok(Message {
            id: OutboxId(r.id),
            channel: Channel::parse(&r.channel).ok_or_else(|| corrupt("channel", &r.channel))?,
            recipient: r.recipient,
            template: r.template,
            payload: serde_json::from_str(&r.payload)
                .map_err(|_| corrupt("outbox payload", &r.payload))?,
            status: OutboxStatus::parse(&r.status)
                .ok_or_else(|| corrupt("outbox status", &r.status))?,
            attempts: r.attempts,
            last_error: r.last_error,
            provider_ref: r.provider_ref,
            ref_entity: r.ref_entity,
            ref_id: r.ref_id,
            brand_id: r.brand_id.map(BrandId),
            created_at: Timestamp(r.created_at),
            sent_at: r.sent_at.map(Timestamp),
        })
    }
}

const SELECT_MESSAGES: &str = "SELECT o.id, o.channel, o.recipient, o.template, o.payload, o.status, o.attempts, o.last_error, o.provider_ref, o.ref_entity, o.ref_id, o.brand_id, o.created_at, o.sent_at FROM outbox o";

/// One message, whoever may see it (the delivering job's view).
pub async fn get(c: &mut Conn, id: OutboxId) -> Result<Message, Error> {
    let mut f = Filter::new();
    f.and("o.id = ?", vec![id.0]);
    let row: MessageRow = f.fetch_one(c, SELECT_MESSAGES, "").await?;
    row.try_into()
}

/// Records a delivery. False when the message was no longer pending (already sent, or given up).
pub async fn mark_sent(
    c: &mut Conn,
    id: OutboxId,
    provider_ref: Option<&str>,
    at: Timestamp,
) -> Result<bool, Error> {
    let n = sqlx::query(
        "UPDATE outbox SET status = 'sent', attempts = attempts + 1, provider_ref = $2, last_error = NULL, sent_at = $3
         WHERE id = $1 AND status = 'pending'",
    )
    .bind(id.0)
    .bind(provider_ref)
    .bind(at.0)
    .execute(&mut *c)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Records a failed attempt: the message stays pending when it will be tried again, else it is
/// failed for good. False when the message was no longer pending.
pub async fn mark_failed(
    c: &mut Conn,
    id: OutboxId,
    error: &str,
    will_retry: bool,
) -> Result<bool, Error> {
    let status = if will_retry {
        OutboxStatus::Pending
    } else {
        OutboxStatus::Failed
    };
    let n = sqlx::query(
        "UPDATE outbox SET status = $2, attempts = attempts + 1, last_error = $3
         WHERE id = $1 AND status = 'pending'",
    )
    .bind(id.0)
    .bind(status.as_str())
    .bind(jobs::truncate(error))
    .execute(&mut *c)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Gives a message up after its last attempt (its job died).
pub async fn mark_dead(c: &mut Conn, id: OutboxId, error: &str) -> Result<bool, Error> {
    let n = sqlx::query(
        "UPDATE outbox SET status = 'dead', last_error = $2 WHERE id = $1 AND status = 'pending'",
    )
    .bind(id.0)
    .bind(jobs::truncate(error))
    .execute(&mut *c)
    .await?
    .rows_affected();
    Ok(n == 1)
}

#[derive(Debug, Clone, Default)]
pub struct OutboxQuery {
    pub status: Option<OutboxStatus>,
    pub channel: Option<Channel>,
    /// Messages about one record.
    pub about: Option<(String, i64)>,
    pub after: Option<Cursor>,
    pub limit: u32,
}

/// Messages newest first, a page at a time. A brand scope sees its own brand's messages; the
/// operating company's (no brand) and other scopes' are not listed.
pub async fn list(c: &mut Conn, scope: &Scope, q: &OutboxQuery) -> Result<Page<Message>, Error> {
    let mut f = Filter::new();
    match scope {
        Scope::All => {}
        Scope::Brands(brands) => {
            let list = f.bind_list(brands.iter().map(|b| b.0));
            f.and_raw(format!("o.brand_id IN ({list})"));
        }
        Scope::Outlet(_) | Scope::Dealer(_) | Scope::Engineer(_) | Scope::Customer(_) => {
            f.and_raw("1 = 0".to_string());
        }
    }
    if let Some(s) = q.status {
        f.and("o.status = ?", vec![s.as_str().to_string()]);
    }
    if let Some(ch) = q.channel {
        f.and("o.channel = ?", vec![ch.as_str().to_string()]);
    }
    if let Some((entity, id)) = &q.about {
        f.and("o.ref_entity = ?", vec![entity.clone()]);
        f.and("o.ref_id = ?", vec![*id]);
    }
    if let Some(cur) = &q.after {
        f.and("o.id < ?", vec![cur.id]);
    }
    let limit = i64::from(q.limit.clamp(1, 200));
    let lim = f.bind(limit + 1);
    let rows: Vec<MessageRow> = f
        .fetch_all(
            c,
            SELECT_MESSAGES,
            &format!(" ORDER BY o.id DESC LIMIT {lim}"),
        )
        .await?;
    let items = rows
        .into_iter()
        .map(Message::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(crate::customers::page(items, limit, |m: &Message| Cursor {
        key: String::new(),
        id: m.id.0,
    }))
}

/// Puts a failed or dead message back to pending with a new delivery job (a fresh set of
/// attempts) due at `at`. False when the message was not failed or dead.
pub async fn requeue(c: &mut Conn, id: OutboxId, at: Timestamp) -> Result<bool, Error> {
    let row: Option<(i64,)> = sqlx::query_as(
        "UPDATE outbox SET status = 'pending' WHERE id = $1 AND status IN ('failed', 'dead') RETURNING attempts",
    )
    .bind(id.0)
    .fetch_optional(&mut *c)
    .await?;
    let Some((attempts,)) = row else {
        return Ok(false);
    };
    jobs::enqueue(
        c,
        &NewJob::new(DELIVER_KIND, json!({ "outbox_id": id.0 }), at)
            .dedupe(format!("outbox:{}:again:{attempts}:{}", id.0, at.0))
            .max_attempts(DELIVER_MAX_ATTEMPTS),
        at,
    )
    .await?;
    Ok(true)
}
