//! One timeline per customer and per device. Later capabilities (tickets, calls, visits,
//! reminders) write their entries here too.

use domain::customer::{NoteCategory, TimelineEntry, TimelineKind};
use domain::{
    BrandId, CustomerId, DeviceId, NoteCategoryId, Scope, TicketId, TimelineId, Timestamp, UserId,
};
use sqlx::FromRow;

use crate::error::corrupt;
use crate::sql::{Batch, Filter};
use crate::{Conn, Error};

#[derive(Debug, Clone)]
pub struct NewEntry<'a> {
    pub customer_id: CustomerId,
    pub device_id: Option<DeviceId>,
    pub brand_id: Option<BrandId>,
    pub at: Timestamp,
    pub kind: TimelineKind,
    pub category_id: Option<NoteCategoryId>,
    pub author_id: Option<UserId>,
    pub body: &'a str,
}

pub async fn append(c: &mut Conn, e: &NewEntry<'_>) -> Result<TimelineId, Error> {
    append_about(c, e, None).await
}

/// Appends an entry that is about a ticket (linked from the timeline).
pub async fn append_about(
    c: &mut Conn,
    e: &NewEntry<'_>,
    ticket: Option<TicketId>,
) -> Result<TimelineId, Error> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO timeline_entries (customer_id, device_id, brand_id, at, kind, category_id, author_id, body, ticket_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(e.customer_id.0)
    .bind(e.device_id.map(|x| x.0))
    .bind(e.brand_id.map(|x| x.0))
    .bind(e.at.0)
    .bind(e.kind.as_str())
    .bind(e.category_id.map(|x| x.0))
    .bind(e.author_id.map(|x| x.0))
    .bind(e.body)
    .bind(ticket.map(|t| t.0))
    .fetch_one(&mut *c)
    .await?;
    Ok(TimelineId(id))
}

/// [`append_about`] as a statement of `batch`, for a write that does not need the entry's id.
pub fn append_about_into(batch: &mut Batch, e: &NewEntry<'_>, ticket: Option<TicketId>) {
    batch.push(
        "INSERT INTO timeline_entries (customer_id, device_id, brand_id, at, kind, category_id, author_id, body, ticket_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        vec![
            e.customer_id.0.into(),
            e.device_id.map(|x| x.0).into(),
            e.brand_id.map(|x| x.0).into(),
            e.at.0.into(),
            e.kind.as_str().into(),
            e.category_id.map(|x| x.0).into(),
            e.author_id.map(|x| x.0).into(),
            e.body.into(),
            ticket.map(|t| t.0).into(),
        ],
    );
}

#[derive(FromRow)]
struct EntryRow {
    id: i64,
    customer_id: i64,
    device_id: Option<i64>,
    brand_id: Option<i64>,
    at: i64,
    kind: String,
    category_id: Option<i64>,
    author_id: Option<i64>,
    author_name: Option<String>,
    body: String,
    ticket_id: Option<i64>,
}

impl TryFrom<EntryRow> for TimelineEntry {
    type Error = Error;
    fn try_from(r: EntryRow) -> Result<Self, Error> {
        Ok(TimelineEntry {
            id: TimelineId(r.id),
            customer_id: CustomerId(r.customer_id),
            device_id: r.device_id.map(DeviceId),
            brand_id: r.brand_id.map(BrandId),
            at: Timestamp(r.at),
            kind: TimelineKind::parse(&r.kind).ok_or_else(|| corrupt("timeline kind", &r.kind))?,
            category_id: r.category_id.map(NoteCategoryId),
            author_id: r.author_id.map(UserId),
            author_name: r.author_name,
            body: r.body,
            ticket_id: r.ticket_id.map(TicketId),
        })
    }
}

const SELECT_ENTRIES: &str = "SELECT t.id, t.customer_id, t.device_id, t.brand_id, t.at, t.kind, t.category_id, t.author_id, u.display_name AS author_name, t.body, t.ticket_id FROM timeline_entries t LEFT JOIN users u ON u.id = t.author_id";

/// Which timeline to read.
#[derive(Debug, Clone, Copy)]
pub enum Of {
    Customer(CustomerId),
    Device(DeviceId),
}

/// Newest first; `before` is the (at, id) of the last entry already shown. A brand scope sees
/// only its own brand's entries; the caller has already checked the customer is visible.
pub async fn list(
    c: &mut Conn,
    scope: &Scope,
    of: Of,
    category: Option<NoteCategoryId>,
    before: Option<(i64, i64)>,
    limit: u32,
) -> Result<Vec<TimelineEntry>, Error> {
    let mut f = Filter::new();
    match of {
        Of::Customer(id) => f.and("t.customer_id = ?", vec![id.0]),
        Of::Device(id) => f.and("t.device_id = ?", vec![id.0]),
    };
    if let Some(cat) = category {
        f.and("t.category_id = ?", vec![cat.0]);
    }
    if let Scope::Brands(brands) = scope {
        let list = f.bind_list(brands.iter().map(|b| b.0));
        f.and_raw(format!("t.brand_id IN ({list})"));
    }
    if let Some((at, id)) = before {
        let a1 = f.bind(at);
        let a2 = f.bind(at);
        let i = f.bind(id);
        f.and_raw(format!("(t.at < {a1} OR (t.at = {a2} AND t.id < {i}))"));
    }
    let lim = f.bind(i64::from(limit.clamp(1, 200)));
    let rows: Vec<EntryRow> = f
        .fetch_all(
            c,
            SELECT_ENTRIES,
            &format!(" ORDER BY t.at DESC, t.id DESC LIMIT {lim}"),
        )
        .await?;
    rows.into_iter().map(TimelineEntry::try_from).collect()
}

#[derive(FromRow)]
struct CategoryRow {
    id: i64,
    code: String,
    name_zh: String,
    name_en: String,
    active: i64,
}

pub async fn categories(c: &mut Conn) -> Result<Vec<NoteCategory>, Error> {
    let rows: Vec<CategoryRow> = sqlx::query_as(
        "SELECT id, code, name_zh, name_en, active FROM note_categories ORDER BY sort, id",
    )
    .fetch_all(&mut *c)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| NoteCategory {
            id: NoteCategoryId(r.id),
            code: r.code,
            name_zh: r.name_zh,
            name_en: r.name_en,
            active: r.active != 0,
        })
        .collect())
}
