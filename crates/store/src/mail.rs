//! Inbound email: the raw messages the MTA posts (`inbound_mails`), what became of each, and the
//! look-ups that thread a reply onto its ticket.

use domain::{BrandId, CustomerId, Scope, TicketId, Timestamp, UserId};
use sqlx::FromRow;

use crate::sql::Filter;
use crate::{Conn, Error, Page};

/// What became of a received mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MailStatus {
    /// Stored; not on a ticket yet (a retry of the post processes it again).
    Received,
    /// Added to an existing ticket.
    Threaded,
    /// Opened a new ticket.
    Created,
    /// Malformed: kept with the reason, never processed.
    Failed,
}

impl MailStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MailStatus::Received => "received",
            MailStatus::Threaded => "threaded",
            MailStatus::Created => "created",
            MailStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "received" => MailStatus::Received,
            "threaded" => MailStatus::Threaded,
            "created" => MailStatus::Created,
            "failed" => MailStatus::Failed,
            _ => return None,
        })
    }
}

/// A mail to store as it came.
#[derive(Debug, Clone)]
pub struct NewMail<'a> {
    pub brand_id: Option<BrandId>,
    pub message_id: &'a str,
    pub from_addr: Option<&'a str>,
    pub to_addrs: &'a str,
    pub subject: Option<&'a str>,
    pub raw: &'a [u8],
    pub received_at: Timestamp,
    pub received_by: Option<UserId>,
    /// `Received`, or `Failed` with `error` for a malformed mail.
    pub status: MailStatus,
    pub error: Option<&'a str>,
    pub meta: &'a serde_json::Value,
}

/// One stored mail without its raw bytes.
#[derive(Debug, Clone)]
pub struct MailRecord {
    pub id: i64,
    pub brand_id: Option<BrandId>,
    pub message_id: String,
    pub from_addr: Option<String>,
    pub to_addrs: String,
    pub subject: Option<String>,
    pub size: i64,
    pub received_at: Timestamp,
    pub status: MailStatus,
    pub ticket_id: Option<TicketId>,
    pub error: Option<String>,
    pub meta: serde_json::Value,
    pub processed_at: Option<Timestamp>,
}

#[derive(FromRow)]
struct MailRow {
    id: i64,
    brand_id: Option<i64>,
    message_id: String,
    from_addr: Option<String>,
    to_addrs: String,
    subject: Option<String>,
    size: i64,
    received_at: i64,
    status: String,
    ticket_id: Option<i64>,
    error: Option<String>,
    meta: String,
    processed_at: Option<i64>,
}

impl TryFrom<MailRow> for MailRecord {
    type Error = Error;
    fn try_from(r: MailRow) -> Result<Self, Error> {
        Ok(MailRecord {
            id: r.id,
            brand_id: r.brand_id.map(BrandId),
            message_id: r.message_id,
            from_addr: r.from_addr,
            to_addrs: r.to_addrs,
            subject: r.subject,
            size: r.size,
            received_at: Timestamp(r.received_at),
            status: MailStatus::parse(&r.status)
                .ok_or_else(|| crate::error::corrupt("mail status", &r.status))?,
            ticket_id: r.ticket_id.map(TicketId),
            error: r.error,
            meta: serde_json::from_str(&r.meta).unwrap_or(serde_json::Value::Null),
            processed_at: r.processed_at.map(Timestamp),
        })
    }
}

const SELECT_MAILS: &str = "SELECT m.id, m.brand_id, m.message_id, m.from_addr, m.to_addrs, m.subject, m.size, m.received_at, m.status, m.ticket_id, m.error, m.meta, m.processed_at FROM inbound_mails m";

/// Stores a mail unless one with its Message-ID is already there. Returns the new row's id, or
/// None for a duplicate.
pub async fn insert(c: &mut Conn, m: &NewMail<'_>) -> Result<Option<i64>, Error> {
    let row: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO inbound_mails (brand_id, message_id, from_addr, to_addrs, subject, raw, size, received_at, received_by, status, error, meta, processed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (message_id) DO NOTHING RETURNING id",
    )
    .bind(m.brand_id.map(|b| b.0))
    .bind(m.message_id)
    .bind(m.from_addr)
    .bind(m.to_addrs)
    .bind(m.subject)
    .bind(m.raw.to_vec())
    .bind(i64::try_from(m.raw.len()).unwrap_or(i64::MAX))
    .bind(m.received_at.0)
    .bind(m.received_by.map(|u| u.0))
    .bind(m.status.as_str())
    .bind(m.error)
    .bind(m.meta.to_string())
    .bind((m.status == MailStatus::Failed).then_some(m.received_at.0))
    .fetch_optional(&mut *c)
    .await?;
    Ok(row.map(|r| r.0))
}

/// The stored mail with this Message-ID, whatever its brand (duplicates are found globally: the
/// same mail is processed once).
pub async fn by_message_id(c: &mut Conn, message_id: &str) -> Result<Option<MailRecord>, Error> {
    let mut f = Filter::new();
    f.and("m.message_id = ?", vec![message_id.to_string()]);
    let rows: Vec<MailRow> = f.fetch_all(c, SELECT_MAILS, "").await?;
    rows.into_iter()
        .next()
        .map(MailRecord::try_from)
        .transpose()
}

fn scope_filter(f: &mut Filter, scope: &Scope) {
    match scope {
        Scope::All => {}
        Scope::Brands(brands) => {
            let list = f.bind_list(brands.iter().map(|b| b.0));
            f.and_raw(format!("m.brand_id IN ({list})"));
        }
        // Mail intake is the operating company's and the brands' business.
        Scope::Dealer(_) | Scope::Customer(_) | Scope::Outlet(_) | Scope::Engineer(_) => {
            f.and_raw("1 = 0".to_string());
        }
    }
}

pub async fn get(c: &mut Conn, scope: &Scope, id: i64) -> Result<MailRecord, Error> {
    let mut f = Filter::new();
    f.and("m.id = ?", vec![id]);
    scope_filter(&mut f, scope);
    let rows: Vec<MailRow> = f.fetch_all(c, SELECT_MAILS, "").await?;
    rows.into_iter()
        .next()
        .ok_or(Error::NotFound)
        .and_then(MailRecord::try_from)
}

/// The raw bytes of a stored mail.
pub async fn raw(c: &mut Conn, scope: &Scope, id: i64) -> Result<Vec<u8>, Error> {
    let mut f = Filter::new();
    f.and("m.id = ?", vec![id]);
    scope_filter(&mut f, scope);
    let rows: Vec<(Vec<u8>,)> = f
        .fetch_all(c, "SELECT m.raw FROM inbound_mails m", "")
        .await?;
    rows.into_iter().next().map(|r| r.0).ok_or(Error::NotFound)
}

/// Newest first, keyset by id.
pub async fn list(
    c: &mut Conn,
    scope: &Scope,
    status: Option<MailStatus>,
    before: Option<i64>,
    limit: u32,
) -> Result<Page<MailRecord>, Error> {
    let mut f = Filter::new();
    scope_filter(&mut f, scope);
    if let Some(s) = status {
        f.and("m.status = ?", vec![s.as_str().to_string()]);
    }
    if let Some(b) = before {
        f.and("m.id < ?", vec![b]);
    }
    let limit = limit.clamp(1, 200);
    let lim = f.bind(i64::from(limit) + 1);
    let rows: Vec<MailRow> = f
        .fetch_all(c, SELECT_MAILS, &format!(" ORDER BY m.id DESC LIMIT {lim}"))
        .await?;
    let items = rows
        .into_iter()
        .map(MailRecord::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(crate::customers::page(items, i64::from(limit), |m| {
        domain::Cursor {
            key: String::new(),
            id: m.id,
        }
    }))
}

/// Marks a received mail as put on `ticket` (threaded or created). Returns false when it was not
/// in `received` any more: another delivery of the same mail got there first.
pub async fn settle(
    c: &mut Conn,
    id: i64,
    status: MailStatus,
    ticket: TicketId,
    meta: &serde_json::Value,
    at: Timestamp,
) -> Result<bool, Error> {
    let res = sqlx::query(
        "UPDATE inbound_mails SET status = $1, ticket_id = $2, meta = $3, error = NULL, processed_at = $4 WHERE id = $5 AND status = 'received'",
    )
    .bind(status.as_str())
    .bind(ticket.0)
    .bind(meta.to_string())
    .bind(at.0)
    .bind(id)
    .execute(&mut *c)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// Notes why processing a received mail did not finish (it stays `received`, to be tried again
/// when the MTA posts it again).
pub async fn note_error(c: &mut Conn, id: i64, error: &str) -> Result<(), Error> {
    sqlx::query("UPDATE inbound_mails SET error = $1 WHERE id = $2 AND status = 'received'")
        .bind(error)
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// The ticket a mail answers, by a Message-ID it names: one of our outgoing mails recorded on a
/// ticket message, or an earlier inbound mail that went onto a ticket.
pub async fn ticket_of_message_id(
    c: &mut Conn,
    message_id: &str,
) -> Result<Option<TicketId>, Error> {
    if let Some(t) = crate::tickets::ticket_of_message_id(c, message_id).await? {
        return Ok(Some(t));
    }
    let row: Option<(Option<i64>,)> =
        sqlx::query_as("SELECT ticket_id FROM inbound_mails WHERE message_id = $1")
            .bind(message_id)
            .fetch_optional(&mut *c)
            .await?;
    Ok(row.and_then(|r| r.0).map(TicketId))
}

/// The Message-ID of the newest mail the requester sent on a ticket (what a reply answers).
pub async fn last_inbound_message_id(
    c: &mut Conn,
    ticket: TicketId,
) -> Result<Option<String>, Error> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT message_id FROM inbound_mails WHERE ticket_id = $1 AND status IN ('threaded', 'created') ORDER BY id DESC LIMIT 1",
    )
    .bind(ticket.0)
    .fetch_optional(&mut *c)
    .await?;
    Ok(row.map(|r| r.0))
}

/// The newest desk reply on a ticket that no mail carries yet: the one a `ticket.replied`
/// notification sends. Records `message_id` on it and returns the message's id.
pub async fn claim_reply_for_mail(
    c: &mut Conn,
    ticket: TicketId,
    message_id: impl Fn(i64) -> String,
) -> Result<Option<String>, Error> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT id FROM ticket_messages WHERE ticket_id = $1 AND visibility = 'reply' AND email_message_id IS NULL ORDER BY id DESC LIMIT 1",
    )
    .bind(ticket.0)
    .fetch_optional(&mut *c)
    .await?;
    let Some((id,)) = row else {
        return Ok(None);
    };
    let mid = message_id(id);
    sqlx::query("UPDATE ticket_messages SET email_message_id = $1 WHERE id = $2")
        .bind(&mid)
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(Some(mid))
}

/// Active customers with this email address (case-insensitive) in `scope`, oldest first.
pub async fn customers_by_email(
    c: &mut Conn,
    scope: &Scope,
    email: &str,
) -> Result<Vec<CustomerId>, Error> {
    let mut f = Filter::new();
    f.and("lower(c.email) = ?", vec![email.to_lowercase()]);
    f.and_raw("c.status = 'active'".to_string());
    crate::customers::scope_filter(&mut f, scope);
    let rows: Vec<(i64,)> = f
        .fetch_all(c, "SELECT c.id FROM customers c", " ORDER BY c.id LIMIT 5")
        .await?;
    Ok(rows.into_iter().map(|r| CustomerId(r.0)).collect())
}
