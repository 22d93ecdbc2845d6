//! Tickets (受理单) and what hangs off them: the event history, replies and notes, attachments,
//! plan parts, compensation records, negative-review recoveries and human numbers. A ticket row
//! always has exactly one owner column set (a CHECK and `domain::ticket::Owner` both hold it).

use domain::ticket::{
    Channel, Compensation, CompensationPayer, CompensationStatus, ComplaintCategory, CostShare,
    Liability, Owner, PlanPart, Priority, Remedy, RemoteOutcome, Ticket, TicketKind, TicketState,
    TicketStatus,
};
use domain::{
    BrandId, CustomerId, DeviceId, Money, OrgUnitId, Scope, TicketId, Timestamp, UserId,
    WorkOrderId,
};
use sqlx::FromRow;

use crate::error::corrupt;
use crate::sql::{Batch, Filter, Value};
use crate::{Conn, Error, Page};

// ---------------------------------------------------------------- numbers

/// The next human number of `series` on business `day` (`YYYYMMDD`), starting at 1.
pub async fn next_number(c: &mut Conn, series: &str, day: &str) -> Result<i64, Error> {
    let (n,): (i64,) = sqlx::query_as(
        "INSERT INTO number_counters (series, day, last) VALUES ($1, $2, 1)
         ON CONFLICT (series, day) DO UPDATE SET last = number_counters.last + 1 RETURNING last",
    )
    .bind(series)
    .bind(day)
    .fetch_one(&mut *c)
    .await?;
    Ok(n)
}

// ---------------------------------------------------------------- tickets

/// Visibility of tickets per scope: a brand sees its brand's tickets, a dealer the tickets it
/// asked for or that belong to it, a customer its own.
pub(crate) fn scope_filter(f: &mut Filter, scope: &Scope) {
    match scope {
        Scope::All => {}
        Scope::Brands(brands) => {
            let list = f.bind_list(brands.iter().map(|b| b.0));
            f.and_raw(format!("t.brand_id IN ({list})"));
        }
        Scope::Dealer(d) => {
            let p1 = f.bind(d.0);
            let p2 = f.bind(d.0);
            f.and_raw(format!("(t.dealer_id = {p1} OR t.requester_id = {p2})"));
        }
        Scope::Customer(id) => {
            let p1 = f.bind(id.0);
            let p2 = f.bind(id.0);
            f.and_raw(format!("(t.customer_id = {p1} OR t.requester_id = {p2})"));
        }
        Scope::Outlet(_) | Scope::Engineer(_) => {
            f.and_raw("1 = 0".to_string());
        }
    }
}

const SELECT_TICKETS: &str = "SELECT t.id, t.number, t.brand_id, t.kind, t.channel, t.priority, t.status, t.subject, t.description, t.customer_id, t.requester_id, t.dealer_id, t.device_id, t.contact_name, t.contact_phone, t.contact_email, t.owner_user_id, t.owner_queue_id, t.tracker_user_id, t.department_id, t.paused_from, t.round, t.urges, t.last_urged_at, t.settled_at, t.work_order_id, t.merged_into, t.complaint_category, t.liability, t.remedy, t.cost_allocation, t.plan_committed_at, t.remote_outcome, t.pre_diagnosis, t.parts_list, t.first_reply_at, t.informed_at, t.confirmed_at, t.escalated_at, t.source_call_id, t.created_by, t.version, t.created_at, t.updated_at, t.closed_at FROM tickets t";

#[derive(FromRow)]
struct TicketRow {
    id: i64,
    number: String,
    brand_id: Option<i64>,
    kind: String,
    channel: String,
    priority: String,
    status: String,
    subject: String,
    description: String,
    customer_id: Option<i64>,
    requester_id: Option<i64>,
    dealer_id: Option<i64>,
    device_id: Option<i64>,
    contact_name: Option<String>,
    contact_phone: Option<String>,
    contact_email: Option<String>,
    owner_user_id: Option<i64>,
    owner_queue_id: Option<i64>,
    tracker_user_id: Option<i64>,
    department_id: Option<i64>,
    paused_from: Option<String>,
    round: i64,
    urges: i64,
    last_urged_at: Option<i64>,
    settled_at: Option<i64>,
    work_order_id: Option<i64>,
    merged_into: Option<i64>,
    complaint_category: Option<String>,
    liability: Option<String>,
    remedy: Option<String>,
    cost_allocation: Option<String>,
    plan_committed_at: Option<i64>,
    remote_outcome: Option<String>,
    pre_diagnosis: Option<String>,
    parts_list: Option<String>,
    first_reply_at: Option<i64>,
    informed_at: Option<i64>,
    confirmed_at: Option<i64>,
    escalated_at: Option<i64>,
    source_call_id: Option<i64>,
    created_by: Option<i64>,
    version: i64,
    created_at: i64,
    updated_at: i64,
    closed_at: Option<i64>,
}

fn parse_opt<T>(
    what: &str,
    v: Option<String>,
    parse: fn(&str) -> Option<T>,
) -> Result<Option<T>, Error> {
    v.map(|s| parse(&s).ok_or_else(|| corrupt(what, &s)))
        .transpose()
}

impl TryFrom<TicketRow> for Ticket {
    type Error = Error;
    fn try_from(r: TicketRow) -> Result<Self, Error> {
        let owner =
            Owner::from_columns(r.owner_user_id.map(UserId), r.owner_queue_id.map(OrgUnitId))
                .ok_or_else(|| corrupt("ticket owner", &r.id.to_string()))?;
        let ts = |v: Option<i64>| v.map(Timestamp);
        let state = TicketState {
            id: TicketId(r.id),
            kind: TicketKind::parse(&r.kind).ok_or_else(|| corrupt("ticket kind", &r.kind))?,
            status: TicketStatus::parse(&r.status)
                .ok_or_else(|| corrupt("ticket status", &r.status))?,
            owner,
            tracker: r.tracker_user_id.map(UserId),
            department: r.department_id.map(OrgUnitId),
            paused_from: parse_opt("paused_from", r.paused_from, TicketStatus::parse)?,
            priority: Priority::parse(&r.priority)
                .ok_or_else(|| corrupt("ticket priority", &r.priority))?,
            urges: u32::try_from(r.urges).unwrap_or(u32::MAX),
            settled_at: ts(r.settled_at),
            work_order: r.work_order_id.map(WorkOrderId),
            merged_into: r.merged_into.map(TicketId),
        };
        let cost_shares: Vec<CostShare> = match &r.cost_allocation {
            Some(s) => serde_json::from_str(s).map_err(|_| corrupt("cost allocation", s))?,
            None => Vec::new(),
        };
        let parts_list: Vec<String> = match &r.parts_list {
            Some(s) => serde_json::from_str(s).map_err(|_| corrupt("parts list", s))?,
            None => Vec::new(),
        };
        Ok(Ticket {
            state,
            number: r.number,
            brand_id: r.brand_id.map(BrandId),
            channel: Channel::parse(&r.channel)
                .ok_or_else(|| corrupt("ticket channel", &r.channel))?,
            subject: r.subject,
            description: r.description,
            customer_id: r.customer_id.map(CustomerId),
            requester_id: r.requester_id.map(CustomerId),
            dealer_id: r.dealer_id.map(CustomerId),
            device_id: r.device_id.map(DeviceId),
            contact_name: r.contact_name,
            contact_phone: r.contact_phone,
            contact_email: r.contact_email,
            round: r.round,
            last_urged_at: ts(r.last_urged_at),
            complaint_category: parse_opt(
                "complaint category",
                r.complaint_category,
                ComplaintCategory::parse,
            )?,
            liability: parse_opt("liability", r.liability, Liability::parse)?,
            remedy: parse_opt("remedy", r.remedy, Remedy::parse)?,
            cost_shares,
            plan_committed_at: ts(r.plan_committed_at),
            remote_outcome: parse_opt("remote outcome", r.remote_outcome, RemoteOutcome::parse)?,
            pre_diagnosis: r.pre_diagnosis,
            parts_list,
            first_reply_at: ts(r.first_reply_at),
            informed_at: ts(r.informed_at),
            confirmed_at: ts(r.confirmed_at),
            escalated_at: ts(r.escalated_at),
            source_call_id: r.source_call_id,
            created_by: r.created_by.map(UserId),
            version: r.version,
            created_at: Timestamp(r.created_at),
            updated_at: Timestamp(r.updated_at),
            closed_at: ts(r.closed_at),
        })
    }
}

fn json_or_null<T: serde::Serialize>(v: &[T]) -> Option<String> {
    if v.is_empty() {
        None
    } else {
        serde_json::to_string(v).ok()
    }
}

/// The ticket INSERT: the columns `$1` (the number) to `$23` stand for ([`ticket_values`]),
/// after `$id_col` / `$id_val` (the id, when the writer hands it out) and before `$tail`.
macro_rules! insert_ticket {
    ($id_col:literal, $id_val:literal, $tail:literal) => {
        concat!(
            "INSERT INTO tickets (",
            $id_col,
            "number, brand_id, kind, channel, priority, status, subject, description, customer_id, requester_id, dealer_id, device_id, contact_name, contact_phone, contact_email, owner_user_id, owner_queue_id, tracker_user_id, complaint_category, source_call_id, access_key_hash, created_by, version, created_at, updated_at) VALUES (",
            $id_val,
            "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, 1, $23, $23)",
            $tail
        )
    };
}

const INSERT_TICKET_WITH_ID: &str = insert_ticket!("id, ", "$24, ", "");

const INSERT_TICKET: &str = insert_ticket!("", "", " RETURNING id");

/// The values of the ticket INSERTs above, `$1` (the number) to `$23`.
fn ticket_values(t: &Ticket, number: String, access_key_hash: Option<&str>) -> Vec<Value> {
    let s = &t.state;
    vec![
        number.into(),
        t.brand_id.map(|x| x.0).into(),
        s.kind.as_str().into(),
        t.channel.as_str().into(),
        s.priority.as_str().into(),
        s.status.as_str().into(),
        t.subject.as_str().into(),
        t.description.as_str().into(),
        t.customer_id.map(|x| x.0).into(),
        t.requester_id.map(|x| x.0).into(),
        t.dealer_id.map(|x| x.0).into(),
        t.device_id.map(|x| x.0).into(),
        t.contact_name.as_deref().into(),
        t.contact_phone.as_deref().into(),
        t.contact_email.as_deref().into(),
        s.owner.user().map(|x| x.0).into(),
        s.owner.queue().map(|x| x.0).into(),
        s.tracker.map(|x| x.0).into(),
        t.complaint_category
            .map(domain::ticket::ComplaintCategory::as_str)
            .into(),
        t.source_call_id.into(),
        access_key_hash.into(),
        t.created_by.map(|x| x.0).into(),
        t.created_at.0.into(),
    ]
}

/// Inserts `t` (its `number` is ignored) numbered by the series' counter for `day`: the
/// number is `prefix` and the day's next value, six digits at least. Returns the id and the
/// number given.
///
/// In the SQLite writer, the id and the day's value are counted by the writer
/// ([`crate::dialect::sqlite_next_id`]) and the counter is stored back with the row: no read
/// of the counter or of the new id. Elsewhere (PostgreSQL) the counter is counted up in the
/// database and the row returns its id.
pub async fn insert_numbered(
    c: &mut Conn,
    t: &Ticket,
    access_key_hash: Option<&str>,
    series: &str,
    day: &str,
    prefix: &str,
) -> Result<(TicketId, String), Error> {
    if let Some(n) = crate::dialect::sqlite_next_count(c, series, day).await? {
        let id = crate::dialect::sqlite_next_id(c, "tickets")
            .await?
            .ok_or(Error::WriterGone)?;
        let number = format!("{prefix}{n:06}");
        let mut values = ticket_values(t, number.clone(), access_key_hash);
        values.push(id.into());
        let mut batch = Batch::new();
        batch.push(
            "INSERT INTO number_counters (series, day, last) VALUES ($1, $2, $3) ON CONFLICT (series, day) DO UPDATE SET last = MAX(number_counters.last, excluded.last)",
            vec![series.into(), day.into(), n.into()],
        );
        batch.push(INSERT_TICKET_WITH_ID, values);
        batch.run(c).await?;
        return Ok((TicketId(id), number));
    }
    let number = format!("{prefix}{:06}", next_number(c, series, day).await?);
    let (id,): (i64,) = Batch::one(
        INSERT_TICKET,
        ticket_values(t, number.clone(), access_key_hash),
    )
    .fetch_one(c)
    .await?;
    Ok((TicketId(id), number))
}

/// Writes every mutable column of `t` if the stored version is still `t.version`, and bumps the
/// version. Another version → `VersionConflict`; no such row → `NotFound`.
pub async fn update(c: &mut Conn, t: &Ticket, now: Timestamp) -> Result<i64, Error> {
    let s = &t.state;
    let res = sqlx::query(
        "UPDATE tickets SET priority = $1, status = $2, subject = $3, description = $4, customer_id = $5, device_id = $6, contact_name = $7, contact_phone = $8, contact_email = $9, owner_user_id = $10, owner_queue_id = $11, tracker_user_id = $12, department_id = $13, paused_from = $14, round = $15, urges = $16, last_urged_at = $17, settled_at = $18, work_order_id = $19, merged_into = $20, complaint_category = $21, liability = $22, remedy = $23, cost_allocation = $24, plan_committed_at = $25, remote_outcome = $26, pre_diagnosis = $27, parts_list = $28, first_reply_at = $29, informed_at = $30, confirmed_at = $31, escalated_at = COALESCE($32, escalated_at), closed_at = $33, kind = $34, version = version + 1, updated_at = $35
         WHERE id = $36 AND version = $37",
    )
    .bind(s.priority.as_str())
    .bind(s.status.as_str())
    .bind(&t.subject)
    .bind(&t.description)
    .bind(t.customer_id.map(|x| x.0))
    .bind(t.device_id.map(|x| x.0))
    .bind(&t.contact_name)
    .bind(&t.contact_phone)
    .bind(&t.contact_email)
    .bind(s.owner.user().map(|x| x.0))
    .bind(s.owner.queue().map(|x| x.0))
    .bind(s.tracker.map(|x| x.0))
    .bind(s.department.map(|x| x.0))
    .bind(s.paused_from.map(domain::ticket::TicketStatus::as_str))
    .bind(t.round)
    .bind(i64::from(s.urges))
    .bind(t.last_urged_at.map(|x| x.0))
    .bind(s.settled_at.map(|x| x.0))
    .bind(s.work_order.map(|x| x.0))
    .bind(s.merged_into.map(|x| x.0))
    .bind(t.complaint_category.map(domain::ticket::ComplaintCategory::as_str))
    .bind(t.liability.map(domain::ticket::Liability::as_str))
    .bind(t.remedy.map(domain::ticket::Remedy::as_str))
    .bind(json_or_null(&t.cost_shares))
    .bind(t.plan_committed_at.map(|x| x.0))
    .bind(t.remote_outcome.map(domain::ticket::RemoteOutcome::as_str))
    .bind(&t.pre_diagnosis)
    .bind(json_or_null(&t.parts_list))
    .bind(t.first_reply_at.map(|x| x.0))
    .bind(t.informed_at.map(|x| x.0))
    .bind(t.confirmed_at.map(|x| x.0))
    .bind(t.escalated_at.map(|x| x.0))
    .bind(t.closed_at.map(|x| x.0))
    .bind(s.kind.as_str())
    .bind(now.0)
    .bind(s.id.0)
    .bind(t.version)
    .execute(&mut *c)
    .await?;
    if res.rows_affected() == 0 {
        let exists: Option<(i64,)> = sqlx::query_as("SELECT id FROM tickets WHERE id = $1")
            .bind(s.id.0)
            .fetch_optional(&mut *c)
            .await?;
        return Err(if exists.is_some() {
            Error::VersionConflict
        } else {
            Error::NotFound
        });
    }
    Ok(t.version + 1)
}

pub async fn get(c: &mut Conn, scope: &Scope, id: TicketId) -> Result<Ticket, Error> {
    let mut f = Filter::new();
    f.and("t.id = ?", vec![id.0]);
    scope_filter(&mut f, scope);
    let rows: Vec<TicketRow> = f.fetch_all(c, SELECT_TICKETS, "").await?;
    rows.into_iter()
        .next()
        .ok_or(Error::NotFound)
        .and_then(Ticket::try_from)
}

pub async fn get_by_number(c: &mut Conn, scope: &Scope, number: &str) -> Result<Ticket, Error> {
    let mut f = Filter::new();
    f.and("t.number = ?", vec![number.to_string()]);
    scope_filter(&mut f, scope);
    let rows: Vec<TicketRow> = f.fetch_all(c, SELECT_TICKETS, "").await?;
    rows.into_iter()
        .next()
        .ok_or(Error::NotFound)
        .and_then(Ticket::try_from)
}

/// The SHA-256 (hex) of the key in the requester's status link, if one was issued.
pub async fn access_key_hash(c: &mut Conn, id: TicketId) -> Result<Option<String>, Error> {
    let row: Option<(Option<String>,)> =
        sqlx::query_as("SELECT access_key_hash FROM tickets WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&mut *c)
            .await?;
    row.map(|r| r.0).ok_or(Error::NotFound)
}

pub async fn set_access_key_hash(c: &mut Conn, id: TicketId, hash: &str) -> Result<(), Error> {
    sqlx::query("UPDATE tickets SET access_key_hash = $1 WHERE id = $2")
        .bind(hash)
        .bind(id.0)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Which tickets a list shows. Every field narrows; `open_only` leaves out closed, merged and
/// cancelled ones.
#[derive(Debug, Clone, Default)]
pub struct TicketQuery {
    pub owner_user: Option<UserId>,
    pub owner_queue: Option<OrgUnitId>,
    pub tracker: Option<UserId>,
    pub customer: Option<CustomerId>,
    pub requester_or_dealer: Option<CustomerId>,
    /// Tickets of these dealers (an account owner's dealers).
    pub dealers: Option<Vec<CustomerId>>,
    pub device: Option<DeviceId>,
    pub kind: Option<TicketKind>,
    pub status: Option<TicketStatus>,
    pub priority: Option<Priority>,
    pub open_only: bool,
    pub escalated_only: bool,
    pub urged_only: bool,
    /// Tickets with a running SLA clock due before this instant (breaching soon, or late).
    pub due_before: Option<Timestamp>,
    pub before: Option<TicketId>,
    pub limit: u32,
}

const OPEN_STATUSES: &str = "t.status NOT IN ('closed', 'merged', 'cancelled')";

/// Newest first, keyset by id.
/// The WHERE clauses of a ticket query: the scope and every field of `q` that narrows (paging
/// aside), shared by the list and its counts.
fn query_filter(scope: &Scope, q: &TicketQuery) -> Filter {
    let mut f = Filter::new();
    scope_filter(&mut f, scope);
    if let Some(u) = q.owner_user {
        f.and("t.owner_user_id = ?", vec![u.0]);
    }
    if let Some(d) = q.owner_queue {
        f.and("t.owner_queue_id = ?", vec![d.0]);
    }
    if let Some(u) = q.tracker {
        f.and("t.tracker_user_id = ?", vec![u.0]);
    }
    if let Some(cu) = q.customer {
        f.and("t.customer_id = ?", vec![cu.0]);
    }
    if let Some(r) = q.requester_or_dealer {
        let p1 = f.bind(r.0);
        let p2 = f.bind(r.0);
        f.and_raw(format!("(t.requester_id = {p1} OR t.dealer_id = {p2})"));
    }
    if let Some(ds) = &q.dealers {
        if ds.is_empty() {
            f.and_raw("1 = 0".to_string());
        } else {
            let list = f.bind_list(ds.iter().map(|d| d.0));
            f.and_raw(format!("t.dealer_id IN ({list})"));
        }
    }
    if let Some(d) = q.device {
        f.and("t.device_id = ?", vec![d.0]);
    }
    if let Some(k) = q.kind {
        f.and("t.kind = ?", vec![k.as_str().to_string()]);
    }
    if let Some(s) = q.status {
        f.and("t.status = ?", vec![s.as_str().to_string()]);
    }
    if let Some(p) = q.priority {
        f.and("t.priority = ?", vec![p.as_str().to_string()]);
    }
    if q.open_only {
        f.and_raw(OPEN_STATUSES.to_string());
    }
    if q.escalated_only {
        f.and_raw("t.escalated_at IS NOT NULL".to_string());
    }
    if q.urged_only {
        f.and_raw("t.urges > 0".to_string());
    }
    if let Some(due) = q.due_before {
        let p = f.bind(due.0);
        f.and_raw(format!("EXISTS (SELECT 1 FROM sla_clocks k WHERE k.subject_kind = 'ticket' AND k.subject_id = t.id AND k.stopped_at IS NULL AND k.due_at IS NOT NULL AND k.due_at <= {p})"));
    }
    f
}

pub async fn list(c: &mut Conn, scope: &Scope, q: &TicketQuery) -> Result<Page<Ticket>, Error> {
    let mut f = query_filter(scope, q);
    if let Some(b) = q.before {
        f.and("t.id < ?", vec![b.0]);
    }
    let limit = q.limit.clamp(1, 200);
    let lim = f.bind(i64::from(limit) + 1);
    let rows: Vec<TicketRow> = f
        .fetch_all(
            c,
            SELECT_TICKETS,
            &format!(" ORDER BY t.id DESC LIMIT {lim}"),
        )
        .await?;
    let items = rows
        .into_iter()
        .map(Ticket::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(crate::customers::page(items, i64::from(limit), |t| {
        domain::Cursor {
            key: String::new(),
            id: t.id().0,
        }
    }))
}

/// The newest open ticket of a customer (as customer or requester), for attaching a repeat
/// caller to it (D10) instead of opening another.
pub async fn open_of_customer(
    c: &mut Conn,
    scope: &Scope,
    customer: CustomerId,
) -> Result<Option<Ticket>, Error> {
    let mut f = Filter::new();
    scope_filter(&mut f, scope);
    let p1 = f.bind(customer.0);
    let p2 = f.bind(customer.0);
    f.and_raw(format!("(t.customer_id = {p1} OR t.requester_id = {p2})"));
    f.and_raw(OPEN_STATUSES.to_string());
    let rows: Vec<TicketRow> = f
        .fetch_all(c, SELECT_TICKETS, " ORDER BY t.id DESC LIMIT 1")
        .await?;
    rows.into_iter().next().map(Ticket::try_from).transpose()
}

/// How many open tickets match `q` (its paging aside), for the queue counters.
pub async fn count_open(c: &mut Conn, scope: &Scope, q: &TicketQuery) -> Result<i64, Error> {
    let f = query_filter(
        scope,
        &TicketQuery {
            open_only: true,
            ..q.clone()
        },
    );
    let (n,): (i64,) = f.fetch_one(c, "SELECT COUNT(*) FROM tickets t", "").await?;
    Ok(n)
}

// ---------------------------------------------------------------- events

#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub ticket_id: TicketId,
    pub brand_id: Option<BrandId>,
    pub at: Timestamp,
    pub actor_id: Option<UserId>,
    /// Who acted when it was not a user: "customer", "dealer", "system", "telephony".
    pub actor_label: Option<&'a str>,
    pub event: &'a str,
    pub from: TicketStatus,
    pub to: TicketStatus,
    pub owner: Owner,
    pub data: serde_json::Value,
}

pub async fn insert_event(c: &mut Conn, e: &NewEvent<'_>) -> Result<i64, Error> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO ticket_events (ticket_id, brand_id, at, actor_id, actor_label, event, from_status, to_status, owner_user_id, owner_queue_id, data)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
    )
    .bind(e.ticket_id.0)
    .bind(e.brand_id.map(|x| x.0))
    .bind(e.at.0)
    .bind(e.actor_id.map(|x| x.0))
    .bind(e.actor_label)
    .bind(e.event)
    .bind(e.from.as_str())
    .bind(e.to.as_str())
    .bind(e.owner.user().map(|x| x.0))
    .bind(e.owner.queue().map(|x| x.0))
    .bind(e.data.to_string())
    .fetch_one(&mut *c)
    .await?;
    Ok(id)
}

/// `insert_event`, sent with the other statements of `b` (the new row's id is not needed).
pub fn insert_event_into(b: &mut crate::sql::Batch, e: &NewEvent<'_>) {
    b.push(
        "INSERT INTO ticket_events (ticket_id, brand_id, at, actor_id, actor_label, event, from_status, to_status, owner_user_id, owner_queue_id, data)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        vec![
            e.ticket_id.0.into(),
            e.brand_id.map(|x| x.0).into(),
            e.at.0.into(),
            e.actor_id.map(|x| x.0).into(),
            e.actor_label.into(),
            e.event.into(),
            e.from.as_str().into(),
            e.to.as_str().into(),
            e.owner.user().map(|x| x.0).into(),
            e.owner.queue().map(|x| x.0).into(),
            e.data.to_string().into(),
        ],
    );
}

/// One line of a ticket's history.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EventRecord {
    pub id: i64,
    pub at: Timestamp,
    pub actor_id: Option<UserId>,
    pub actor_name: Option<String>,
    pub actor_label: Option<String>,
    pub event: String,
    pub from_status: String,
    pub to_status: String,
    pub owner: Option<Owner>,
    pub owner_name: Option<String>,
    pub data: serde_json::Value,
}

#[derive(FromRow)]
struct EventRow {
    id: i64,
    at: i64,
    actor_id: Option<i64>,
    actor_name: Option<String>,
    actor_label: Option<String>,
    event: String,
    from_status: String,
    to_status: String,
    owner_user_id: Option<i64>,
    owner_queue_id: Option<i64>,
    owner_name: Option<String>,
    data: String,
}

pub async fn events(c: &mut Conn, id: TicketId) -> Result<Vec<EventRecord>, Error> {
    let rows: Vec<EventRow> = sqlx::query_as(
        "SELECT e.id, e.at, e.actor_id, u.display_name AS actor_name, e.actor_label, e.event, e.from_status, e.to_status, e.owner_user_id, e.owner_queue_id, COALESCE(ou.display_name, q.name) AS owner_name, e.data
         FROM ticket_events e LEFT JOIN users u ON u.id = e.actor_id LEFT JOIN users ou ON ou.id = e.owner_user_id LEFT JOIN org_units q ON q.id = e.owner_queue_id
         WHERE e.ticket_id = $1 ORDER BY e.id",
    )
    .bind(id.0)
    .fetch_all(&mut *c)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| EventRecord {
            id: r.id,
            at: Timestamp(r.at),
            actor_id: r.actor_id.map(UserId),
            actor_name: r.actor_name,
            actor_label: r.actor_label,
            event: r.event,
            from_status: r.from_status,
            to_status: r.to_status,
            owner: Owner::from_columns(
                r.owner_user_id.map(UserId),
                r.owner_queue_id.map(OrgUnitId),
            ),
            owner_name: r.owner_name,
            data: serde_json::from_str(&r.data).unwrap_or(serde_json::Value::Null),
        })
        .collect())
}

// ---------------------------------------------------------------- messages

#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    pub ticket_id: TicketId,
    pub brand_id: Option<BrandId>,
    pub at: Timestamp,
    pub author_id: Option<UserId>,
    pub author_label: Option<&'a str>,
    /// reply | internal | inbound
    pub visibility: &'a str,
    /// A ticket channel or "desk".
    pub channel: &'a str,
    pub body: &'a str,
    pub email_message_id: Option<&'a str>,
    pub in_reply_to: Option<&'a str>,
}

pub async fn insert_message(c: &mut Conn, m: &NewMessage<'_>) -> Result<i64, Error> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO ticket_messages (ticket_id, brand_id, at, author_id, author_label, visibility, channel, body, email_message_id, in_reply_to)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(m.ticket_id.0)
    .bind(m.brand_id.map(|x| x.0))
    .bind(m.at.0)
    .bind(m.author_id.map(|x| x.0))
    .bind(m.author_label)
    .bind(m.visibility)
    .bind(m.channel)
    .bind(m.body)
    .bind(m.email_message_id)
    .bind(m.in_reply_to)
    .fetch_one(&mut *c)
    .await?;
    Ok(id)
}

#[derive(Debug, Clone, serde::Serialize, FromRow)]
pub struct MessageRecord {
    pub id: i64,
    pub at: i64,
    pub author_id: Option<i64>,
    pub author_name: Option<String>,
    pub author_label: Option<String>,
    pub visibility: String,
    pub channel: String,
    pub body: String,
    pub email_message_id: Option<String>,
}

/// A ticket's messages, oldest first; `internal` false leaves the internal notes out (what the
/// requester may see).
pub async fn messages(
    c: &mut Conn,
    id: TicketId,
    internal: bool,
) -> Result<Vec<MessageRecord>, Error> {
    let sql = if internal {
        "SELECT m.id, m.at, m.author_id, u.display_name AS author_name, m.author_label, m.visibility, m.channel, m.body, m.email_message_id FROM ticket_messages m LEFT JOIN users u ON u.id = m.author_id WHERE m.ticket_id = $1 ORDER BY m.id"
    } else {
        "SELECT m.id, m.at, m.author_id, u.display_name AS author_name, m.author_label, m.visibility, m.channel, m.body, m.email_message_id FROM ticket_messages m LEFT JOIN users u ON u.id = m.author_id WHERE m.ticket_id = $1 AND m.visibility <> 'internal' ORDER BY m.id"
    };
    Ok(sqlx::query_as(sql).bind(id.0).fetch_all(&mut *c).await?)
}

/// The ticket a mail answers, by the Message-ID it names.
pub async fn ticket_of_message_id(
    c: &mut Conn,
    message_id: &str,
) -> Result<Option<TicketId>, Error> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT ticket_id FROM ticket_messages WHERE email_message_id = $1")
            .bind(message_id)
            .fetch_optional(&mut *c)
            .await?;
    Ok(row.map(|r| TicketId(r.0)))
}

// ---------------------------------------------------------------- plan

#[derive(FromRow)]
struct PartRow {
    department_id: i64,
    summary: String,
    remedy: Option<String>,
    committed_at: i64,
    signed_by: Option<i64>,
    signed_at: Option<i64>,
}

pub async fn plan_parts(c: &mut Conn, id: TicketId, round: i64) -> Result<Vec<PlanPart>, Error> {
    let rows: Vec<PartRow> = sqlx::query_as(
        "SELECT department_id, summary, remedy, committed_at, signed_by, signed_at FROM ticket_plan_parts WHERE ticket_id = $1 AND round = $2 ORDER BY id",
    )
    .bind(id.0)
    .bind(round)
    .fetch_all(&mut *c)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(PlanPart {
                department: OrgUnitId(r.department_id),
                summary: r.summary,
                remedy: parse_opt("remedy", r.remedy, Remedy::parse)?,
                committed_at: Timestamp(r.committed_at),
                signed_by: r.signed_by.map(UserId),
                signed_at: r.signed_at.map(Timestamp),
            })
        })
        .collect()
}

/// Writes a round's parts as the plan now stands: new parts inserted, signatures recorded.
pub async fn save_plan_part(
    c: &mut Conn,
    id: TicketId,
    round: i64,
    p: &PlanPart,
    by: Option<UserId>,
    at: Timestamp,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO ticket_plan_parts (ticket_id, round, department_id, summary, remedy, committed_at, signed_by, signed_at, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (ticket_id, round, department_id) DO UPDATE SET signed_by = excluded.signed_by, signed_at = excluded.signed_at",
    )
    .bind(id.0)
    .bind(round)
    .bind(p.department.0)
    .bind(&p.summary)
    .bind(p.remedy.map(domain::ticket::Remedy::as_str))
    .bind(p.committed_at.0)
    .bind(p.signed_by.map(|x| x.0))
    .bind(p.signed_at.map(|x| x.0))
    .bind(by.map(|x| x.0))
    .bind(at.0)
    .execute(&mut *c)
    .await?;
    Ok(())
}

// ---------------------------------------------------------------- compensation

#[derive(Debug, Clone, serde::Serialize)]
pub struct CompensationRecord {
    pub id: i64,
    pub ticket_id: TicketId,
    pub compensation: Compensation,
    pub reason: String,
    pub created_by: Option<UserId>,
    pub approved_by: Option<UserId>,
    pub paid_at: Option<Timestamp>,
    pub version: i64,
    pub created_at: Timestamp,
}

#[derive(FromRow)]
struct CompRow {
    id: i64,
    ticket_id: i64,
    amount_fen: i64,
    payer: String,
    status: String,
    reason: String,
    created_by: Option<i64>,
    approved_by: Option<i64>,
    paid_at: Option<i64>,
    version: i64,
    created_at: i64,
}

impl TryFrom<CompRow> for CompensationRecord {
    type Error = Error;
    fn try_from(r: CompRow) -> Result<Self, Error> {
        Ok(CompensationRecord {
            id: r.id,
            ticket_id: TicketId(r.ticket_id),
            compensation: Compensation {
                amount: Money::fen(r.amount_fen),
                payer: CompensationPayer::parse(&r.payer)
                    .ok_or_else(|| corrupt("payer", &r.payer))?,
                status: CompensationStatus::parse(&r.status)
                    .ok_or_else(|| corrupt("compensation status", &r.status))?,
            },
            reason: r.reason,
            created_by: r.created_by.map(UserId),
            approved_by: r.approved_by.map(UserId),
            paid_at: r.paid_at.map(Timestamp),
            version: r.version,
            created_at: Timestamp(r.created_at),
        })
    }
}

pub async fn insert_compensation(
    c: &mut Conn,
    ticket: &Ticket,
    comp: &Compensation,
    reason: &str,
    by: Option<UserId>,
    at: Timestamp,
) -> Result<i64, Error> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO compensations (ticket_id, brand_id, amount_fen, payer, status, reason, created_by, version, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $8) RETURNING id",
    )
    .bind(ticket.id().0)
    .bind(ticket.brand_id.map(|x| x.0))
    .bind(comp.amount.as_fen())
    .bind(comp.payer.as_str())
    .bind(comp.status.as_str())
    .bind(reason)
    .bind(by.map(|x| x.0))
    .bind(at.0)
    .fetch_one(&mut *c)
    .await?;
    Ok(id)
}

const SELECT_COMPS: &str = "SELECT id, ticket_id, amount_fen, payer, status, reason, created_by, approved_by, paid_at, version, created_at FROM compensations";

pub async fn compensations(c: &mut Conn, id: TicketId) -> Result<Vec<CompensationRecord>, Error> {
    let mut f = Filter::new();
    f.and("ticket_id = ?", vec![id.0]);
    let rows: Vec<CompRow> = f.fetch_all(c, SELECT_COMPS, " ORDER BY id").await?;
    rows.into_iter().map(CompensationRecord::try_from).collect()
}

pub async fn compensation(c: &mut Conn, id: i64) -> Result<CompensationRecord, Error> {
    let mut f = Filter::new();
    f.and("id = ?", vec![id]);
    let rows: Vec<CompRow> = f.fetch_all(c, SELECT_COMPS, "").await?;
    rows.into_iter()
        .next()
        .ok_or(Error::NotFound)
        .and_then(CompensationRecord::try_from)
}

pub async fn update_compensation(
    c: &mut Conn,
    id: i64,
    version: i64,
    status: CompensationStatus,
    approved_by: Option<UserId>,
    paid_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<(), Error> {
    let res = sqlx::query(
        "UPDATE compensations SET status = $1, approved_by = COALESCE($2, approved_by), paid_at = COALESCE($3, paid_at), version = version + 1, updated_at = $4 WHERE id = $5 AND version = $6",
    )
    .bind(status.as_str())
    .bind(approved_by.map(|x| x.0))
    .bind(paid_at.map(|x| x.0))
    .bind(now.0)
    .bind(id)
    .bind(version)
    .execute(&mut *c)
    .await?;
    if res.rows_affected() == 0 {
        return Err(Error::VersionConflict);
    }
    Ok(())
}

pub async fn open_compensations(c: &mut Conn, id: TicketId) -> Result<u32, Error> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM compensations WHERE ticket_id = $1 AND status IN ('proposed', 'approved')",
    )
    .bind(id.0)
    .fetch_one(&mut *c)
    .await?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// One month of the complaint report (D5): compensation paid by payer, complaints opened and
/// closed. `from`/`to` bound the month in UTC milliseconds.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct MonthFigures {
    pub complaints_opened: i64,
    pub complaints_closed: i64,
    pub paid_count: i64,
    pub paid_fen_company: i64,
    pub paid_fen_manufacturer: i64,
    pub paid_fen_insurer: i64,
}

#[derive(FromRow)]
struct PayerRow {
    payer: String,
    n: i64,
    fen: i64,
}

pub async fn month_figures(
    c: &mut Conn,
    scope: &Scope,
    from: Timestamp,
    to: Timestamp,
) -> Result<MonthFigures, Error> {
    let mut f = Filter::new();
    scope_filter(&mut f, scope);
    let lo = f.bind(from.0);
    let hi = f.bind(to.0);
    f.and_raw(format!(
        "t.kind = 'complaint' AND t.created_at >= {lo} AND t.created_at < {hi}"
    ));
    let (opened,): (i64,) = f.fetch_one(c, "SELECT COUNT(*) FROM tickets t", "").await?;
    let mut f = Filter::new();
    scope_filter(&mut f, scope);
    let lo = f.bind(from.0);
    let hi = f.bind(to.0);
    f.and_raw(format!(
        "t.kind = 'complaint' AND t.status = 'closed' AND t.closed_at >= {lo} AND t.closed_at < {hi}"
    ));
    let (closed,): (i64,) = f.fetch_one(c, "SELECT COUNT(*) FROM tickets t", "").await?;
    let mut f = Filter::new();
    scope_filter(&mut f, scope);
    let lo = f.bind(from.0);
    let hi = f.bind(to.0);
    f.and_raw(format!(
        "k.status = 'paid' AND k.paid_at >= {lo} AND k.paid_at < {hi}"
    ));
    let rows: Vec<PayerRow> = f
        .fetch_all(
            c,
            "SELECT k.payer AS payer, COUNT(*) AS n, CAST(COALESCE(SUM(k.amount_fen), 0) AS BIGINT) AS fen FROM compensations k JOIN tickets t ON t.id = k.ticket_id",
            " GROUP BY k.payer",
        )
        .await?;
    let mut m = MonthFigures {
        complaints_opened: opened,
        complaints_closed: closed,
        ..MonthFigures::default()
    };
    for r in rows {
        m.paid_count += r.n;
        match CompensationPayer::parse(&r.payer) {
            Some(CompensationPayer::Company) => m.paid_fen_company += r.fen,
            Some(CompensationPayer::Manufacturer) => m.paid_fen_manufacturer += r.fen,
            Some(CompensationPayer::Insurer) => m.paid_fen_insurer += r.fen,
            None => return Err(corrupt("payer", &r.payer)),
        }
    }
    Ok(m)
}

// ---------------------------------------------------------------- review recovery

#[derive(Debug, Clone, serde::Serialize, FromRow)]
pub struct ReviewRecord {
    pub id: i64,
    pub ticket_id: i64,
    pub platform: String,
    pub order_ref: String,
    pub rating: Option<i64>,
    pub review_text: String,
    pub reviewed_at: Option<i64>,
    pub called_back_at: Option<i64>,
    pub recovery: Option<String>,
    pub review_updated_by_customer: Option<i64>,
    pub bought_again: Option<i64>,
    pub version: i64,
}

pub async fn insert_review(
    c: &mut Conn,
    ticket: TicketId,
    brand: Option<BrandId>,
    r: &ReviewRecord,
    at: Timestamp,
) -> Result<i64, Error> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO review_recoveries (ticket_id, brand_id, platform, order_ref, rating, review_text, reviewed_at, version, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $8) RETURNING id",
    )
    .bind(ticket.0)
    .bind(brand.map(|b| b.0))
    .bind(&r.platform)
    .bind(&r.order_ref)
    .bind(r.rating)
    .bind(&r.review_text)
    .bind(r.reviewed_at)
    .bind(at.0)
    .fetch_one(&mut *c)
    .await?;
    Ok(id)
}

pub async fn review_of(c: &mut Conn, ticket: TicketId) -> Result<Option<ReviewRecord>, Error> {
    Ok(sqlx::query_as(
        "SELECT id, ticket_id, platform, order_ref, rating, review_text, reviewed_at, called_back_at, recovery, review_updated_by_customer, bought_again, version FROM review_recoveries WHERE ticket_id = $1",
    )
    .bind(ticket.0)
    .fetch_optional(&mut *c)
    .await?)
}

pub async fn update_review(c: &mut Conn, r: &ReviewRecord, at: Timestamp) -> Result<(), Error> {
    let res = sqlx::query(
        "UPDATE review_recoveries SET called_back_at = $1, recovery = $2, review_updated_by_customer = $3, bought_again = $4, version = version + 1, updated_at = $5 WHERE id = $6 AND version = $7",
    )
    .bind(r.called_back_at)
    .bind(&r.recovery)
    .bind(r.review_updated_by_customer)
    .bind(r.bought_again)
    .bind(at.0)
    .bind(r.id)
    .bind(r.version)
    .execute(&mut *c)
    .await?;
    if res.rows_affected() == 0 {
        return Err(Error::VersionConflict);
    }
    Ok(())
}

// ---------------------------------------------------------------- attachments

/// An attachment's row, with who added it and whether it belongs to an internal note.
#[derive(Debug, Clone, serde::Serialize, FromRow)]
pub struct AttachmentRecord {
    pub id: i64,
    pub ticket_id: i64,
    pub message_id: Option<i64>,
    pub file_name: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub created_by: Option<i64>,
    pub author_name: Option<String>,
    pub author_label: Option<String>,
    /// 1 when the message it belongs to is an internal note.
    pub internal: i64,
    pub created_at: i64,
}

/// A new attachment row; the bytes are already durable under `sha256`.
#[derive(Debug, Clone)]
pub struct NewAttachment<'a> {
    pub message_id: Option<i64>,
    pub file_name: &'a str,
    pub content_type: &'a str,
    pub size: i64,
    pub sha256: &'a str,
    pub by: Option<UserId>,
    pub label: Option<&'a str>,
    pub at: Timestamp,
}

pub async fn insert_attachment(
    c: &mut Conn,
    ticket: &Ticket,
    a: &NewAttachment<'_>,
) -> Result<i64, Error> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO ticket_attachments (ticket_id, message_id, brand_id, file_name, content_type, size, sha256, created_by, author_label, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(ticket.id().0)
    .bind(a.message_id)
    .bind(ticket.brand_id.map(|x| x.0))
    .bind(a.file_name)
    .bind(a.content_type)
    .bind(a.size)
    .bind(a.sha256)
    .bind(a.by.map(|x| x.0))
    .bind(a.label)
    .bind(a.at.0)
    .fetch_one(&mut *c)
    .await?;
    Ok(id)
}

macro_rules! select_attachments {
    () => {
        "SELECT a.id, a.ticket_id, a.message_id, a.file_name, a.content_type, a.size, a.sha256, a.created_by, u.display_name AS author_name, a.author_label, CASE WHEN m.visibility = 'internal' THEN 1 ELSE 0 END AS internal, a.created_at
     FROM ticket_attachments a LEFT JOIN users u ON u.id = a.created_by LEFT JOIN ticket_messages m ON m.id = a.message_id"
    };
}

/// A ticket's attachments, oldest first; `internal` false leaves out those of internal notes
/// (what the requester's side may see).
pub async fn attachments(
    c: &mut Conn,
    id: TicketId,
    internal: bool,
) -> Result<Vec<AttachmentRecord>, Error> {
    let sql = if internal {
        concat!(
            select_attachments!(),
            " WHERE a.ticket_id = $1 ORDER BY a.id"
        )
    } else {
        concat!(
            select_attachments!(),
            " WHERE a.ticket_id = $1 AND (m.visibility IS NULL OR m.visibility <> 'internal') ORDER BY a.id"
        )
    };
    Ok(sqlx::query_as(sql).bind(id.0).fetch_all(&mut *c).await?)
}

/// One attachment by id (the caller checks the ticket's visibility).
pub async fn attachment(c: &mut Conn, id: i64) -> Result<AttachmentRecord, Error> {
    sqlx::query_as(concat!(select_attachments!(), " WHERE a.id = $1"))
        .bind(id)
        .fetch_optional(&mut *c)
        .await?
        .ok_or(Error::NotFound)
}

/// The visibility of a message of ticket `ticket` (reply | internal | inbound), None when the
/// ticket has no such message.
pub async fn message_visibility(
    c: &mut Conn,
    ticket: TicketId,
    message: i64,
) -> Result<Option<String>, Error> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT visibility FROM ticket_messages WHERE id = $1 AND ticket_id = $2")
            .bind(message)
            .bind(ticket.0)
            .fetch_optional(&mut *c)
            .await?;
    Ok(row.map(|r| r.0))
}

/// Moves a ticket's `updated_at` without a new version: something was added beside the ticket
/// (an attachment) and an agent's open edit stays valid.
pub async fn touch(c: &mut Conn, id: TicketId, at: Timestamp) -> Result<(), Error> {
    sqlx::query("UPDATE tickets SET updated_at = $1 WHERE id = $2 AND updated_at < $1")
        .bind(at.0)
        .bind(id.0)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Marks a ticket escalated (an SLA breach, an urge past the threshold); the first escalation
/// stays on record. Returns whether the ticket exists. The version is left alone: escalation is
/// the system's annotation, not an edit, so an agent midway through an action is not refused
/// for it — and `update` never clears it (`COALESCE`), whatever version the agent read.
pub async fn mark_escalated(c: &mut Conn, id: TicketId, at: Timestamp) -> Result<bool, Error> {
    let res = sqlx::query(
        "UPDATE tickets SET escalated_at = COALESCE(escalated_at, $1), updated_at = $1 WHERE id = $2",
    )
    .bind(at.0)
    .bind(id.0)
    .execute(&mut *c)
    .await?;
    Ok(res.rows_affected() > 0)
}

/// Whether `user` is a member of department `unit` (or of a unit below it).
pub async fn is_member(c: &mut Conn, user: UserId, unit: OrgUnitId) -> Result<bool, Error> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT u.id FROM users u LEFT JOIN org_units o ON o.id = u.org_unit_id WHERE u.id = $1 AND u.active = 1 AND (u.org_unit_id = $2 OR o.parent_id = $3)",
    )
    .bind(user.0)
    .bind(unit.0)
    .bind(unit.0)
    .fetch_optional(&mut *c)
    .await?;
    Ok(row.is_some())
}
