//! The full-text search index (SPEC D9): one `search_docs` row per searchable record with the
//! words app/ segmented (`tokens`), what a hit shows (title, body), its facets and the columns
//! visibility is decided by. SQLite indexes `tokens` with FTS5 (ranked by bm25), PostgreSQL with
//! a `tsvector('simple')` column under GIN (ranked by `ts_rank`); the two dialects sit side by
//! side in `match_clause` and `HEAD_*` below, everything else is the one query set.
//!
//! Query words never reach either search syntax as typed: each is a run of letters and digits
//! (app/ makes them so), and is quoted for the backend here besides, so FTS5 operators
//! (`"`, `*`, `NEAR(`, `OR`) or tsquery operators in a search box are just text.

use domain::{BrandId, CustomerId, Scope};
use sqlx::FromRow;

use crate::error::corrupt;
use crate::sql::{Batch, Filter, Value};
use crate::{Conn, Error};

/// What a search document stands for; `doc_id` is that record's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DocKind {
    Customer,
    Device,
    Ticket,
    Knowledge,
}

impl DocKind {
    pub const ALL: &'static [DocKind] = &[
        DocKind::Customer,
        DocKind::Device,
        DocKind::Ticket,
        DocKind::Knowledge,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Customer => "customer",
            DocKind::Device => "device",
            DocKind::Ticket => "ticket",
            DocKind::Knowledge => "knowledge",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.as_str() == s)
    }
}

/// One search document as written: `tokens` are the segmented words, space-separated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocRow {
    pub kind: DocKind,
    pub doc_id: i64,
    pub brand_id: Option<BrandId>,
    pub customer_id: Option<CustomerId>,
    pub status: Option<String>,
    pub sub_kind: Option<String>,
    pub updated_at: i64,
    pub title: String,
    pub body: String,
    pub tokens: String,
}

const UPSERT: &str = "INSERT INTO search_docs (doc_kind, doc_id, brand_id, customer_id, status, sub_kind, updated_at, title, body, tokens)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     ON CONFLICT (doc_kind, doc_id) DO UPDATE SET brand_id = excluded.brand_id, customer_id = excluded.customer_id,
         status = excluded.status, sub_kind = excluded.sub_kind, updated_at = excluded.updated_at,
         title = excluded.title, body = excluded.body, tokens = excluded.tokens";

/// SQLite: whether any search document changed since the index last took the changes in.
pub(crate) const SQLITE_ANY_PENDING: &str = "SELECT 1 FROM search_pending LIMIT 1";

/// SQLite: the FTS5 index takes in the documents noted in `search_pending` (by the triggers of
/// migration 20261201000000): the words it held for each are taken out, the current words of
/// those still there put in, the notes cleared. The writer runs this right before each commit,
/// outside every write's savepoint: FTS5 writes a segment of its index at every savepoint, so
/// indexing inside the writes' savepoints wrote one segment per write; here it is one per
/// group commit. Readers see committed transactions only, whose index is always complete.
pub(crate) const SQLITE_INDEX_PENDING: [&str; 3] = [
    "INSERT INTO search_fts (search_fts, rowid, tokens)
         SELECT 'delete', id, indexed_tokens FROM search_pending WHERE indexed_tokens IS NOT NULL",
    "INSERT INTO search_fts (rowid, tokens)
         SELECT d.id, d.tokens FROM search_pending p JOIN search_docs d ON d.id = p.id",
    "DELETE FROM search_pending",
];

fn upsert_values(d: &DocRow) -> Vec<Value> {
    vec![
        d.kind.as_str().into(),
        d.doc_id.into(),
        d.brand_id.map(|b| b.0).into(),
        d.customer_id.map(|x| x.0).into(),
        d.status.clone().into(),
        d.sub_kind.clone().into(),
        d.updated_at.into(),
        d.title.clone().into(),
        d.body.clone().into(),
        d.tokens.clone().into(),
    ]
}

/// Writes the document, replacing the one of the same record (and its index entries).
pub async fn upsert(c: &mut Conn, d: &DocRow) -> Result<(), Error> {
    let mut b = Batch::new();
    upsert_into(&mut b, d);
    b.run(c).await
}

/// `upsert`, sent with the other statements of `b`.
pub fn upsert_into(b: &mut Batch, d: &DocRow) {
    b.push(UPSERT, upsert_values(d));
}

/// Sets the status facet of a document (no re-indexing of its words).
pub async fn set_status(
    c: &mut Conn,
    kind: DocKind,
    doc_id: i64,
    status: &str,
    at: i64,
) -> Result<(), Error> {
    sqlx::query(
        "UPDATE search_docs SET status = $1, updated_at = $2 WHERE doc_kind = $3 AND doc_id = $4",
    )
    .bind(status)
    .bind(at)
    .bind(kind.as_str())
    .bind(doc_id)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Removes a record's document (nothing happens when it has none).
pub async fn delete(c: &mut Conn, kind: DocKind, doc_id: i64) -> Result<(), Error> {
    sqlx::query("DELETE FROM search_docs WHERE doc_kind = $1 AND doc_id = $2")
        .bind(kind.as_str())
        .bind(doc_id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Removes the documents of `kind` with record ids in (`after`, `last`], or above `after` when
/// `last` is None (`kefu reindex` replaces the index range by range).
pub async fn delete_range(
    c: &mut Conn,
    kind: DocKind,
    after: i64,
    last: Option<i64>,
) -> Result<(), Error> {
    sqlx::query("DELETE FROM search_docs WHERE doc_kind = $1 AND doc_id > $2 AND doc_id <= $3")
        .bind(kind.as_str())
        .bind(after)
        .bind(last.unwrap_or(i64::MAX))
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// After a customer merge moved `from`'s devices to `into`: their documents follow, so that
/// visibility (decided by the owning customer) follows too.
pub async fn move_devices(c: &mut Conn, from: CustomerId, into: CustomerId) -> Result<(), Error> {
    sqlx::query(
        "UPDATE search_docs SET customer_id = $1 WHERE customer_id = $2 AND doc_kind = 'device'",
    )
    .bind(into.0)
    .bind(from.0)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Number of documents of a kind (for `kefu reindex` reports and tests).
pub async fn count(c: &mut Conn, kind: DocKind) -> Result<i64, Error> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM search_docs WHERE doc_kind = $1")
        .bind(kind.as_str())
        .fetch_one(&mut *c)
        .await?;
    Ok(n)
}

/// The largest record id among documents of a kind (0 when none).
pub async fn max_doc_id(c: &mut Conn, kind: DocKind) -> Result<i64, Error> {
    let (n,): (Option<i64>,) =
        sqlx::query_as("SELECT MAX(doc_id) FROM search_docs WHERE doc_kind = $1")
            .bind(kind.as_str())
            .fetch_one(&mut *c)
            .await?;
    Ok(n.unwrap_or(0))
}

/// A query word: matched whole, or as the beginning of indexed words when `prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub text: String,
    pub prefix: bool,
}

/// What a search asks: every term must occur (AND); the filters narrow further.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub terms: Vec<Term>,
    /// Empty: every kind.
    pub kinds: Vec<DocKind>,
    pub status: Option<String>,
    pub sub_kind: Option<String>,
    pub brand: Option<BrandId>,
    /// Results already shown (rank order has no keyset); at most `MAX_OFFSET`.
    pub offset: u32,
    pub limit: u32,
}

/// Ranked results go this deep and no further: beyond it a search should be narrowed, and
/// paging far into a ranked list costs as much as ranking everything.
pub const MAX_OFFSET: u32 = 1000;

/// A hit, best first.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub kind: DocKind,
    pub doc_id: i64,
    pub brand_id: Option<BrandId>,
    pub customer_id: Option<CustomerId>,
    pub status: Option<String>,
    pub sub_kind: Option<String>,
    pub updated_at: i64,
    pub title: String,
    pub body: String,
}

#[derive(FromRow)]
struct HitRow {
    doc_kind: String,
    doc_id: i64,
    brand_id: Option<i64>,
    customer_id: Option<i64>,
    status: Option<String>,
    sub_kind: Option<String>,
    updated_at: i64,
    title: String,
    body: String,
    /// How many candidates were ranked (at most `CANDIDATES`); SQLite's query counts them,
    /// PostgreSQL's caller knows.
    #[sqlx(default)]
    matched: i64,
}

impl TryFrom<HitRow> for Hit {
    type Error = Error;
    fn try_from(r: HitRow) -> Result<Self, Error> {
        Ok(Hit {
            kind: DocKind::parse(&r.doc_kind).ok_or_else(|| corrupt("doc kind", &r.doc_kind))?,
            doc_id: r.doc_id,
            brand_id: r.brand_id.map(BrandId),
            customer_id: r.customer_id.map(CustomerId),
            status: r.status,
            sub_kind: r.sub_kind,
            updated_at: r.updated_at,
            title: r.title,
            body: r.body,
        })
    }
}

/// A page of hits and whether more follow.
#[derive(Debug, Clone)]
pub struct Hits {
    pub items: Vec<Hit>,
    pub more: bool,
    /// [`CANDIDATES`] or more documents matched: the hits are the best of the newest
    /// `CANDIDATES` of them, and older matches (if any) were not ranked.
    pub capped: bool,
}

/// The matches a search ranks: the newest this many (by document id, i.e. when the record was
/// first indexed) of those the caller may see that pass the filters. Ranking every match of a
/// common word (~125,000 of a million documents) cost 50–100 ms of CPU per search; walking the
/// newest matches costs the same whatever the match count. A product decision, see
/// docs/decisions.md ("Search ranks the newest 2,000 matches").
pub const CANDIDATES: u32 = 2000;

// ------------------------------------------------------------------ the two dialects

// Both dialects rank in two steps: the inner query walks the matches the caller may see, newest
// first, and stops at `CANDIDATES`; the outer one ranks those and joins the page's rows only.

/// SQLite: `$1` is the MATCH expression. `CROSS JOIN` keeps the full-text index the outer loop
/// (left to itself, the planner walked all of `search_docs` and ran the MATCH once per row:
/// 105 s over a million documents). FTS5 hands out a match's rowids in descending order without
/// sorting, so the inner `ORDER BY search_fts.rowid DESC LIMIT` reads `CANDIDATES` matches and
/// stops; bm25 is computed for those only. Ties rank newest first.
const HEAD_SQLITE: &str = "SELECT d.doc_kind, d.doc_id, d.brand_id, d.customer_id, d.status, d.sub_kind, d.updated_at, d.title, d.body, m.matched
    FROM (SELECT rid, score, COUNT(*) OVER () AS matched
          FROM (SELECT search_fts.rowid AS rid, bm25(search_fts) AS score
                FROM search_fts CROSS JOIN search_docs s";
/// PostgreSQL: `$1` is the tsquery text, parsed once as `q`; the caller adds the ids the
/// windows found (see [`query_postgres`]) and the ranking order.
const HEAD_POSTGRES: &str = "SELECT d.doc_kind, d.doc_id, d.brand_id, d.customer_id, d.status, d.sub_kind, d.updated_at, d.title, d.body
    FROM search_docs d CROSS JOIN to_tsquery('simple', $1) q";

/// The match expression: FTS5 `"w1" AND "w2"*`, or tsquery `'w1' & 'w2':*`. Each word is
/// quoted (quotes inside doubled, backslashes escaped for tsquery), so no word is an operator.
fn match_expr(postgres: bool, terms: &[Term]) -> String {
    let words = terms.iter().map(|t| {
        if postgres {
            let w = t.text.replace('\\', "\\\\").replace('\'', "''");
            format!("'{w}'{}", if t.prefix { ":*" } else { "" })
        } else {
            let w = t.text.replace('"', "\"\"");
            format!("\"{w}\"{}", if t.prefix { "*" } else { "" })
        }
    });
    words
        .collect::<Vec<_>>()
        .join(if postgres { " & " } else { " AND " })
}

/// Searches the documents `scope` may see. An empty term list finds nothing.
pub async fn query(c: &mut Conn, scope: &Scope, q: &Query) -> Result<Hits, Error> {
    if q.terms.is_empty() {
        return Ok(Hits {
            items: Vec::new(),
            more: false,
            capped: false,
        });
    }
    if c.backend_name() == "PostgreSQL" {
        return query_postgres(c, scope, q, FIRST_WINDOW).await;
    }
    let mut f = Filter::new();
    // First bind: the head refers to it as $1.
    let m = f.bind(match_expr(false, &q.terms));
    debug_assert_eq!(m, "$1");
    f.and_raw(format!("search_fts MATCH {m}"));
    f.and_raw("s.id = search_fts.rowid".to_string());
    narrow(&mut f, scope, q);
    let limit = page_limit(q);
    let cap = f.bind(i64::from(CANDIDATES));
    let lim = f.bind(limit + 1);
    let off = f.bind(i64::from(q.offset.min(MAX_OFFSET)));
    let tail = format!(
        " ORDER BY search_fts.rowid DESC LIMIT {cap})
          ORDER BY score, rid DESC LIMIT {lim} OFFSET {off}) m
         CROSS JOIN search_docs d WHERE d.id = m.rid ORDER BY m.score, m.rid DESC"
    );
    let rows: Vec<HitRow> = f.fetch_all(c, HEAD_SQLITE, &tail).await?;
    let matched = rows.first().map_or(0, |r| r.matched);
    hits(rows, limit, matched)
}

/// The id range the PostgreSQL search looks at first, from the newest document down. Later
/// windows are sized from the share of ids that matched so far (see [`next_window`]).
pub const FIRST_WINDOW: i64 = 1024;

/// PostgreSQL: the newest matches, taken window by window from the newest id down, then ranked.
///
/// A GIN index hands out its matches in no order, so `ORDER BY id DESC LIMIT` over the whole
/// table reads every match's row before keeping the newest: for words that nearly always occur
/// together (扫地 机器人) the planner takes them as independent, expects a few thousand
/// matches, and reads ~66,000 rows (0.3–0.6 s over a million documents). Within an id window
/// the work is bounded whatever plan is chosen: the window's rows, or its matches. Windows grow
/// with how rare the words turned out to be, so a rare word still needs only a few queries.
/// Each window is planned for its own bounds ([`Filter::plan_each_time`]): with a generic plan
/// PostgreSQL walked every id of a 500,000-id window for a rare pair of words (0.47 s) where
/// the GIN index answers in 55 ms.
///
/// `first_window` is public for the tests, which use small windows to cross many of them.
#[doc(hidden)]
pub async fn query_postgres(
    c: &mut Conn,
    scope: &Scope,
    q: &Query,
    first_window: i64,
) -> Result<Hits, Error> {
    let expr = match_expr(true, &q.terms);
    let (top,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM search_docs")
        .fetch_one(&mut *c)
        .await?;
    let cap = i64::from(CANDIDATES);
    let mut ids: Vec<i64> = Vec::new();
    let got = |ids: &Vec<i64>| i64::try_from(ids.len()).unwrap_or(cap);
    let mut hi = top.unwrap_or(0);
    let mut window = first_window.max(1);
    let mut looked = 0i64;
    while hi > 0 && got(&ids) < cap {
        let lo = hi.saturating_sub(window).max(0);
        let mut filter = Filter::new();
        let first = filter.bind(expr.clone());
        debug_assert_eq!(first, "$1");
        filter.and_raw("s.tsv @@ q".to_string());
        let (low, high) = (filter.bind(lo), filter.bind(hi));
        filter.and_raw(format!("s.id > {low} AND s.id <= {high}"));
        narrow(&mut filter, scope, q);
        let need = filter.bind(cap - got(&ids));
        filter.plan_each_time();
        let found: Vec<(i64,)> = filter
            .fetch_all(
                c,
                "SELECT s.id FROM search_docs s CROSS JOIN to_tsquery('simple', $1) q",
                &format!(" ORDER BY s.id DESC LIMIT {need}"),
            )
            .await?;
        ids.extend(found.into_iter().map(|(id,)| id));
        looked += hi - lo;
        hi = lo;
        window = next_window(window, looked, got(&ids), cap);
    }
    if ids.is_empty() {
        return Ok(Hits {
            items: Vec::new(),
            more: false,
            capped: false,
        });
    }
    let limit = page_limit(q);
    let mut filter = Filter::new();
    let first = filter.bind(expr);
    debug_assert_eq!(first, "$1");
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let array = filter.bind(format!("{{{list}}}"));
    filter.and_raw(format!("d.id = ANY(CAST({array} AS BIGINT[]))"));
    let lim = filter.bind(limit + 1);
    let off = filter.bind(i64::from(q.offset.min(MAX_OFFSET)));
    let rows: Vec<HitRow> = filter
        .fetch_all(
            c,
            HEAD_POSTGRES,
            &format!(
                " ORDER BY ts_rank(d.tsv, q) DESC, d.updated_at DESC, d.id DESC LIMIT {lim} OFFSET {off}"
            ),
        )
        .await?;
    hits(rows, limit, got(&ids))
}

/// The size of the next id window: enough, at the share of ids that matched so far, for the
/// matches still wanted and a quarter more; at least the last window and at most eight times
/// it, so one unlucky window cannot make the next one cover everything at once or crawl.
pub fn next_window(last: i64, looked: i64, found: i64, cap: i64) -> i64 {
    let want = (cap - found).max(0);
    let grown = last.saturating_mul(8);
    if found == 0 || looked == 0 {
        return grown;
    }
    // want / (found / looked) * 5 / 4, in integers.
    let sized = want.saturating_mul(looked).saturating_mul(5) / found.saturating_mul(4).max(1);
    sized.clamp(last, grown)
}

/// The conditions both dialects share: what `scope` may see and the query's filters.
fn narrow(f: &mut Filter, scope: &Scope, q: &Query) {
    scope_filter(f, scope);
    // Every kind asked for is no filter at all (and spares a condition per match).
    if !q.kinds.is_empty() && DocKind::ALL.iter().any(|k| !q.kinds.contains(k)) {
        let list = f.bind_list(q.kinds.iter().map(|k| k.as_str().to_string()));
        f.and_raw(format!("s.doc_kind IN ({list})"));
    }
    if let Some(s) = &q.status {
        f.and("s.status = ?", vec![s.clone()]);
    }
    if let Some(s) = &q.sub_kind {
        f.and("s.sub_kind = ?", vec![s.clone()]);
    }
    if let Some(b) = q.brand {
        f.and("s.brand_id = ?", vec![b.0]);
    }
}

fn page_limit(q: &Query) -> i64 {
    i64::from(q.limit.clamp(1, 200))
}

/// A page from ranked rows (one more than `limit` asked, to tell whether more follow);
/// `matched` is how many candidates were ranked.
fn hits(rows: Vec<HitRow>, limit: i64, matched: i64) -> Result<Hits, Error> {
    let mut items = rows
        .into_iter()
        .map(Hit::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = items.len() > limit;
    items.truncate(limit);
    Ok(Hits {
        items,
        more,
        capped: matched >= i64::from(CANDIDATES),
    })
}

/// Restricts `search_docs s` to what `scope` may see, as the owning records' own queries do
/// (`customers::scope_filter`, `devices::device_scope`): a customer document through the
/// customer's brand links, a brand-owned document by its brand and its customer's links, a
/// dealer's slice by the live customer row (itself and the customers it serves), a customer
/// by itself. Outlets and engineers see no customer records yet, so no documents.
fn scope_filter(f: &mut Filter, scope: &Scope) {
    match scope {
        Scope::All => {}
        Scope::Brands(brands) => {
            let ids: Vec<i64> = brands.iter().map(|b| b.0).collect();
            let l1 = f.bind_list(ids.clone());
            let l2 = f.bind_list(ids.clone());
            let l3 = f.bind_list(ids);
            f.and_raw(format!(
                "((s.doc_kind = 'customer' AND EXISTS (SELECT 1 FROM customer_brand_links l WHERE l.customer_id = s.customer_id AND l.brand_id IN ({l1})))
                  OR (s.doc_kind <> 'customer' AND s.brand_id IN ({l2})
                      AND (s.customer_id IS NULL OR EXISTS (SELECT 1 FROM customer_brand_links l WHERE l.customer_id = s.customer_id AND l.brand_id IN ({l3})))))"
            ));
        }
        Scope::Dealer(dealer) => {
            let p1 = f.bind(dealer.0);
            let p2 = f.bind(dealer.0);
            f.and_raw(format!(
                "EXISTS (SELECT 1 FROM customers c WHERE c.id = s.customer_id AND (c.id = {p1} OR c.dealer_id = {p2}))"
            ));
        }
        Scope::Customer(id) => {
            f.and("s.customer_id = ?", vec![id.0]);
        }
        Scope::Outlet(_) | Scope::Engineer(_) => {
            f.and_raw("1 = 0".to_string());
        }
    }
}

// ------------------------------------------------------------------ sources for (re)indexing

/// What a customer's document is made of, read from the ledger.
#[derive(Debug, Clone, FromRow)]
pub struct CustomerSource {
    pub id: i64,
    pub kind: String,
    pub name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub remark: Option<String>,
    pub status: String,
    pub province_code: Option<String>,
    pub city_code: Option<String>,
    pub district_code: Option<String>,
    pub updated_at: i64,
    /// The default address's street detail.
    pub address_detail: Option<String>,
    /// Contacts: (id, name, phone); phones are indexed but never shown.
    #[sqlx(skip)]
    pub contacts: Vec<(i64, String, Option<String>)>,
}

const SELECT_CUSTOMER_SOURCES: &str = "SELECT c.id, c.kind, c.name, c.phone, c.email, c.remark, c.status, c.province_code, c.city_code, c.district_code, c.updated_at,
    (SELECT a.detail FROM addresses a WHERE a.customer_id = c.id ORDER BY a.is_default DESC, a.id LIMIT 1) AS address_detail
    FROM customers c";

/// Customers with ids above `after`, in id order, at most `limit`, with their contacts.
pub async fn customer_sources(
    c: &mut Conn,
    after: i64,
    limit: u32,
) -> Result<Vec<CustomerSource>, Error> {
    let mut f = Filter::new();
    f.and("c.id > ?", vec![after]);
    let lim = f.bind(i64::from(limit.max(1)));
    let rows: Vec<CustomerSource> = f
        .fetch_all(
            c,
            SELECT_CUSTOMER_SOURCES,
            &format!(" ORDER BY c.id LIMIT {lim}"),
        )
        .await?;
    with_contacts(c, rows).await
}

/// One customer's source, whatever its status (`NotFound` when there is no such customer).
pub async fn customer_source(c: &mut Conn, id: CustomerId) -> Result<CustomerSource, Error> {
    let mut f = Filter::new();
    f.and("c.id = ?", vec![id.0]);
    let row: CustomerSource = f.fetch_one(c, SELECT_CUSTOMER_SOURCES, "").await?;
    Ok(with_contacts(c, vec![row]).await?.remove(0))
}

async fn with_contacts(
    c: &mut Conn,
    mut rows: Vec<CustomerSource>,
) -> Result<Vec<CustomerSource>, Error> {
    if rows.is_empty() {
        return Ok(rows);
    }
    let mut f = Filter::new();
    let list = f.bind_list(rows.iter().map(|r| r.id));
    f.and_raw(format!("customer_id IN ({list})"));
    let contacts: Vec<(i64, i64, String, Option<String>)> = f
        .fetch_all(
            c,
            "SELECT customer_id, id, name, phone FROM contacts",
            " ORDER BY customer_id, id",
        )
        .await?;
    for (customer, id, name, phone) in contacts {
        if let Some(r) = rows.iter_mut().find(|r| r.id == customer) {
            r.contacts.push((id, name, phone));
        }
    }
    Ok(rows)
}

/// What a device's document is made of.
#[derive(Debug, Clone, FromRow)]
pub struct DeviceSource {
    pub id: i64,
    pub customer_id: i64,
    pub brand_id: Option<i64>,
    pub category: String,
    pub model: String,
    pub serial: Option<String>,
    pub installer: Option<String>,
    pub updated_at: i64,
}

const SELECT_DEVICE_SOURCES: &str = "SELECT d.id, d.customer_id, d.brand_id, d.category, d.model, d.serial, d.installer, d.updated_at FROM devices d";

/// Devices with ids above `after`, in id order, at most `limit`.
pub async fn device_sources(
    c: &mut Conn,
    after: i64,
    limit: u32,
) -> Result<Vec<DeviceSource>, Error> {
    let mut f = Filter::new();
    f.and("d.id > ?", vec![after]);
    let lim = f.bind(i64::from(limit.max(1)));
    f.fetch_all(
        c,
        SELECT_DEVICE_SOURCES,
        &format!(" ORDER BY d.id LIMIT {lim}"),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_for_each_dialect() {
        let terms = vec![
            Term {
                text: "漏水".into(),
                prefix: false,
            },
            Term {
                text: "a\"b'c\\".into(),
                prefix: true,
            },
        ];
        assert_eq!(match_expr(false, &terms), "\"漏水\" AND \"a\"\"b'c\\\"*");
        assert_eq!(match_expr(true, &terms), "'漏水' & 'a\"b''c\\\\':*");
    }

    #[test]
    fn windows_grow_with_rarity_and_stay_bounded() {
        // Nothing yet: eight times wider.
        assert_eq!(next_window(1024, 1024, 0, 2000), 8192);
        // A common pair (~6.6 %): 67 of 1,024 → capped at 8×; then sized to the rest.
        assert_eq!(next_window(1024, 1024, 67, 2000), 8192);
        let w = next_window(8192, 9216, 608, 2000);
        assert!((26_000..=27_000).contains(&w), "{w}");
        // Dense matches: the rest is near; never below the last window.
        assert_eq!(next_window(1024, 1024, 1000, 2000), 1280);
        assert_eq!(next_window(1024, 1024, 1900, 2000), 1024);
        // Done: the rest of the cap is nothing, the window stays.
        assert_eq!(next_window(4096, 4096, 2000, 2000), 4096);
        // No overflow at the extremes.
        assert_eq!(next_window(i64::MAX / 4, 10, 1, 2000), i64::MAX / 4);
        assert_eq!(next_window(i64::MAX, 1, 0, 2000), i64::MAX);
    }
}
