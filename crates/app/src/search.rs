//! Full-text search (SPEC D9) over customers, devices, tickets and knowledge, in Chinese and
//! English. Text is segmented here, before the write, with jieba (`cut_for_search`, its
//! dictionary loaded once per process); the store keeps the words in FTS5 (SQLite) or a
//! `tsvector` (PostgreSQL) and ranks hits by bm25 / `ts_rank` — the newest
//! [`store::search::CANDIDATES`] matches of a search, so that its cost does not grow with the
//! number of matches (docs/decisions.md). A search sees only the kinds its
//! caller may read and, within them, only what the caller's `Scope` shows; highlights come back
//! as segments `{text, hit}` of the original title and body, never as markup.
//!
//! # Indexing a record (for other modules)
//!
//! Fill a [`Doc`] from the record as it will be after the write, call [`Doc::prepare`] *before*
//! the write (segmenting is CPU work and does not belong in a transaction), move the
//! [`Prepared`] into the write closure and call [`index`] there, after the record's own SQL, so
//! that the record and its document commit together:
//!
//! ```ignore
//! let doc = search::Doc {
//!     kind: DocKind::Ticket, id: ticket.id.0, brand_id: ticket.brand_id,
//!     customer_id: Some(ticket.customer_id), title: ticket.subject.clone(),
//!     body: format!("{}\n{}", ticket.description, replies.join("\n")),
//!     keys: vec![ticket.number.clone()], status: Some(ticket.status.as_str().into()),
//!     sub_kind: Some(ticket.kind.as_str().into()), at: now,
//! };
//! let mut prepared = doc.prepare();
//! app.db.write(move |c| Box::pin(async move {
//!     let (id, number) = store::tickets::insert_numbered(c, …).await?;
//!     prepared.set_id(id.0);            // when the id is only known inside the write
//!     search::index(c, &prepared).await?;
//!     …
//! })).await?;
//! ```
//!
//! `keys` are searched but never shown (phone numbers, numbers people type); `title` and `body`
//! are what a hit displays. A record that leaves search is removed with [`unindex`].

use std::collections::BTreeSet;
use std::sync::LazyLock;

use domain::address::Regions;
use domain::{BrandId, Cursor, CustomerId, Permission, Phone, Timestamp};
use jieba_rs::Jieba;
use serde::{Deserialize, Serialize};
use store::search::{self as index_store, CustomerSource, DeviceSource, DocRow, Term};
use utoipa::ToSchema;

pub use store::search::DocKind;

use crate::error::Fields;
use crate::{App, Ctx, Error, Result};

// ---------------------------------------------------------------- segmentation

/// jieba's dictionary, loaded on first use (~0.1 s, ~35 MB) and shared by the whole process.
static JIEBA: LazyLock<Jieba> = LazyLock::new(Jieba::new);

/// Loads the dictionary now (at start-up) rather than in the first request that searches.
pub fn warm_up() {
    LazyLock::force(&JIEBA);
}

/// Longest text segmented per document: beyond it a document is long enough to be found.
const MAX_TEXT_CHARS: usize = 20_000;

fn is_han(c: char) -> bool {
    matches!(c,
        '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{2A6DF}' | '\u{2A700}'..='\u{2EBEF}' | '\u{30000}'..='\u{3134F}')
}

/// Full-width ASCII (ＡＢＣ１２３) as ASCII, and lower case; other characters unchanged.
fn fold(c: char) -> char {
    let c = match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    };
    if c.is_uppercase() {
        c.to_lowercase().next().unwrap_or(c)
    } else {
        c
    }
}

/// A piece of text between separators.
enum Run {
    Han(String),
    Word(String),
}

/// Splits folded text into runs of Chinese characters and runs of other letters and digits;
/// everything else (punctuation, spaces, search operators) separates.
fn runs(text: &str) -> Vec<Run> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut han = false;
    for c in text.chars().take(MAX_TEXT_CHARS).map(fold) {
        let kind = if is_han(c) {
            Some(true)
        } else if c.is_alphanumeric() {
            Some(false)
        } else {
            None
        };
        match kind {
            Some(h) if !cur.is_empty() && h == han => cur.push(c),
            Some(h) => {
                flush(&mut out, &mut cur, han);
                han = h;
                cur.push(c);
            }
            None => flush(&mut out, &mut cur, han),
        }
    }
    flush(&mut out, &mut cur, han);
    out
}

fn flush(out: &mut Vec<Run>, cur: &mut String, han: bool) {
    if !cur.is_empty() {
        let s = std::mem::take(cur);
        out.push(if han { Run::Han(s) } else { Run::Word(s) });
    }
}

/// Phone numbers as people write them ("138-1234-5678", "(021) 6234 5678", "+86 138 1234
/// 5678"): digit groups joined by spaces, dashes, brackets or a leading plus that together parse
/// as a `Phone`. Each is given as its normalised digits.
fn phones_in(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut digits = 0;
    let mut finish = |cur: &mut String, digits: &mut usize| {
        if *digits >= 7
            && let Ok(p) = Phone::parse(cur.trim())
        {
            out.push(p.as_str().to_string());
        }
        cur.clear();
        *digits = 0;
    };
    for c in text.chars().take(MAX_TEXT_CHARS).map(fold) {
        match c {
            '0'..='9' => {
                cur.push(c);
                digits += 1;
            }
            ' ' | '-' | '(' | ')' | '（' | '）' => {
                if !cur.is_empty() || c == '(' || c == '（' {
                    cur.push(c);
                }
            }
            '+' if cur.is_empty() => cur.push(c),
            _ => finish(&mut cur, &mut digits),
        }
    }
    finish(&mut cur, &mut digits);
    out
}

/// The words of a document, as indexed: Chinese segmented for search (`cut_for_search`: whole
/// words and the shorter words inside them, so 北京海淀区 is found by 海淀 and by 海淀区), other
/// letters and digits as words, lower case; phone numbers also as their normalised digits and
/// their last four digits, so that a caller's number or its tail finds the customer.
pub fn tokens(text: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    for run in runs(text) {
        match run {
            Run::Han(s) => out.extend(
                JIEBA
                    .cut_for_search(&s, true)
                    .into_iter()
                    .map(|t| t.word.to_string()),
            ),
            Run::Word(w) => {
                if w.len() >= 7 && w.bytes().all(|b| b.is_ascii_digit()) {
                    out.push(w[w.len() - 4..].to_string());
                }
                out.push(w);
            }
        }
    }
    for p in phones_in(text) {
        if !out.contains(&p) {
            out.push(p[p.len() - 4..].to_string());
            out.push(p);
        }
    }
    out.retain(|w| !w.trim().is_empty());
    out.join(" ")
}

/// Most words a query is made of; more narrows nothing useful and costs time.
const MAX_TERMS: usize = 12;

/// The words of a query: Chinese segmented into whole words (`cut`: each must then occur among
/// a document's words, which hold the whole words and their parts), single characters dropped
/// when the query has longer words (了, 的 would otherwise have to occur too); other words match
/// as a prefix (`kfr` finds `kfr35gw`, `1381234` a phone number). A query that is a phone number
/// written with separators becomes its digits.
pub fn query_terms(q: &str) -> Vec<Term> {
    let mut terms: Vec<Term> = Vec::new();
    if let Ok(p) = Phone::parse(q.trim())
        && q.chars().any(|c| !c.is_ascii_digit())
    {
        terms.push(Term {
            text: p.as_str().to_string(),
            prefix: false,
        });
        return terms;
    }
    for run in runs(q) {
        match run {
            Run::Han(s) => {
                for t in JIEBA.cut(&s, true) {
                    terms.push(Term {
                        text: t.word.to_string(),
                        prefix: false,
                    });
                }
            }
            Run::Word(w) => terms.push(Term {
                text: w,
                prefix: true,
            }),
        }
    }
    if terms.iter().any(|t| t.prefix || t.text.chars().count() > 1) {
        terms.retain(|t| t.prefix || t.text.chars().count() > 1);
    }
    let mut seen = BTreeSet::new();
    terms.retain(|t| seen.insert(t.text.clone()));
    terms.truncate(MAX_TERMS);
    terms
}

// ---------------------------------------------------------------- documents

/// A record as search shows and finds it. Other modules fill one per record they index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doc {
    pub kind: DocKind,
    /// The record's id (customer, device, ticket, knowledge article).
    pub id: i64,
    /// The brand that owns the record; `None` for the operating company's own records (brand
    /// users never see those). Customers: `None` — brands see them through their links.
    pub brand_id: Option<BrandId>,
    /// The customer the record belongs to (the customer itself for a customer document): dealer
    /// and customer scopes see a document through it, brands through its links.
    pub customer_id: Option<CustomerId>,
    /// What a hit shows as its heading (a name, a subject).
    pub title: String,
    /// What a hit shows below (a description with its replies, an address); highlighted.
    pub body: String,
    /// Searched but never shown: phone numbers (normalised digits), numbers people quote.
    pub keys: Vec<String>,
    /// A filter facet: the ticket's status, the customer's status.
    pub status: Option<String>,
    /// A filter facet: the ticket's kind, the customer's kind, the device's category.
    pub sub_kind: Option<String>,
    /// When the record last changed; orders equally ranked hits.
    pub at: Timestamp,
}

/// A document with its words segmented, ready to be written inside a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared(DocRow);

impl Doc {
    /// Segments the document (CPU only; call it before the write).
    pub fn prepare(&self) -> Prepared {
        let mut words = tokens(&self.title);
        for part in std::iter::once(&self.body).chain(&self.keys) {
            let more = tokens(part);
            if !more.is_empty() {
                if !words.is_empty() {
                    words.push(' ');
                }
                words.push_str(&more);
            }
        }
        Prepared(DocRow {
            kind: self.kind,
            doc_id: self.id,
            brand_id: self.brand_id,
            customer_id: self.customer_id,
            status: self.status.clone(),
            sub_kind: self.sub_kind.clone(),
            updated_at: self.at.0,
            title: self.title.clone(),
            body: self.body.clone(),
            tokens: words,
        })
    }
}

impl Prepared {
    /// Sets the record's id when it is known only inside the write (a create). For a
    /// customer document the customer is the record itself, so its `customer_id` follows.
    pub fn set_id(&mut self, id: i64) {
        self.0.doc_id = id;
        if self.0.kind == DocKind::Customer {
            self.0.customer_id = Some(CustomerId(id));
        }
    }

    /// Adds words known only inside the write (a ticket's number). For short texts only:
    /// segmenting is CPU work that belongs before the transaction.
    pub fn push_words(&mut self, text: &str) {
        let more = tokens(text);
        if !more.is_empty() {
            if !self.0.tokens.is_empty() {
                self.0.tokens.push(' ');
            }
            self.0.tokens.push_str(&more);
        }
    }

    /// Sets the owning customer when it is known only inside the write.
    pub fn set_customer(&mut self, customer: CustomerId) {
        self.0.customer_id = Some(customer);
    }

    pub fn row(&self) -> &DocRow {
        &self.0
    }

    pub fn into_row(self) -> DocRow {
        self.0
    }
}

/// Writes (or replaces) a record's document; call it inside the record's write closure.
pub async fn index(c: &mut store::Conn, doc: &Prepared) -> Result<()> {
    index_store::upsert(c, &doc.0).await?;
    Ok(())
}

/// Updates a document's status facet (a ticket moving along) without re-segmenting it.
pub async fn set_status(
    c: &mut store::Conn,
    kind: DocKind,
    id: i64,
    status: &str,
    at: Timestamp,
) -> Result<()> {
    index_store::set_status(c, kind, id, status, at.0).await?;
    Ok(())
}

/// Removes a record's document; call it inside the write that removes the record.
pub async fn unindex(c: &mut store::Conn, kind: DocKind, id: i64) -> Result<()> {
    index_store::delete(c, kind, id).await?;
    Ok(())
}

/// A customer's document: its name; its region, address, remark, email and contacts' names as
/// the body; its phones and its contacts' phones as hidden keys.
pub fn customer_doc(regions: &Regions, s: &CustomerSource) -> Doc {
    let region: String = [&s.province_code, &s.city_code, &s.district_code]
        .into_iter()
        .flatten()
        .filter_map(|code| regions.get(code).map(|r| r.name.as_str()))
        .filter(|n| *n != "市辖区")
        .collect();
    let mut body: Vec<String> = Vec::new();
    match (&region, &s.address_detail) {
        (r, Some(d)) => body.push(format!("{r}{d}")),
        (r, None) if !r.is_empty() => body.push(r.clone()),
        _ => {}
    }
    if !s.contacts.is_empty() {
        body.push(
            s.contacts
                .iter()
                .map(|(_, n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join("、"),
        );
    }
    body.extend(s.email.clone());
    body.extend(s.remark.clone());
    Doc {
        kind: DocKind::Customer,
        id: s.id,
        brand_id: None,
        customer_id: Some(CustomerId(s.id)),
        title: s.name.clone(),
        body: body.join(" · "),
        keys: s
            .phone
            .iter()
            .chain(s.contacts.iter().filter_map(|(_, _, p)| p.as_ref()))
            .cloned()
            .collect(),
        status: Some(s.status.clone()),
        sub_kind: Some(s.kind.clone()),
        at: Timestamp(s.updated_at),
    }
}

/// A device's document: category and model; serial and installer as the body.
pub fn device_doc(s: &DeviceSource) -> Doc {
    let body: Vec<&str> = [s.serial.as_deref(), s.installer.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    Doc {
        kind: DocKind::Device,
        id: s.id,
        brand_id: s.brand_id.map(BrandId),
        customer_id: Some(CustomerId(s.customer_id)),
        title: format!("{} {}", s.category, s.model),
        body: body.join(" · "),
        keys: Vec::new(),
        status: None,
        sub_kind: Some(s.category.clone()),
        at: Timestamp(s.updated_at),
    }
}

/// Reads a customer (whatever its status) as its document would show it, outside any write.
pub(crate) async fn customer_source(app: &App, id: CustomerId) -> Result<CustomerSource> {
    Ok(app
        .db
        .read(move |c| Box::pin(async move { index_store::customer_source(c, id).await }))
        .await?)
}

/// The customer's document as it will be after a change, segmented before the write that
/// makes the change: read now, changed by `change`, stamped `at`.
pub(crate) async fn customer_doc_after(
    app: &App,
    id: CustomerId,
    at: Timestamp,
    change: impl FnOnce(&mut CustomerSource),
) -> Result<Prepared> {
    let mut s = customer_source(app, id).await?;
    change(&mut s);
    s.updated_at = at.0;
    Ok(customer_doc(&app.regions, &s).prepare())
}

/// A device's document from its draft, for creates and updates (the owning customer is set
/// inside the write when only known there).
pub(crate) fn device_draft_doc(
    id: i64,
    customer: CustomerId,
    d: &domain::customer::DeviceDraft,
    at: Timestamp,
) -> Prepared {
    device_doc(&DeviceSource {
        id,
        customer_id: customer.0,
        brand_id: d.brand_id.map(|b| b.0),
        category: d.category.clone(),
        model: d.model.clone(),
        serial: d.serial.clone(),
        installer: d.installer.clone(),
        updated_at: at.0,
    })
    .prepare()
}

// ---------------------------------------------------------------- searching

/// Which permission lets a caller read hits of a kind. Customers, devices (and until the
/// knowledge base brings a permission of its own, articles) are read by whoever reads the
/// customer ledger, tickets by whoever reads tickets; the scope still decides which records.
fn read_permission(kind: DocKind) -> Permission {
    match kind {
        DocKind::Customer | DocKind::Device | DocKind::Knowledge => Permission::CustomerRead,
        DocKind::Ticket => Permission::TicketRead,
    }
}

/// Longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 100;

/// A search as it arrives from a query string.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, utoipa::IntoParams)]
pub struct SearchInput {
    /// Words to find (1–100 characters), Chinese or English; a phone number or its last four
    /// digits find the customer.
    pub q: Option<String>,
    /// Kinds to search, comma-separated: customer, device, ticket, knowledge (default: all the
    /// caller may read).
    pub kind: Option<String>,
    /// Only documents with this status (a ticket's status, a customer's `active`).
    pub status: Option<String>,
    /// Only documents of this sub-kind (a ticket's kind, a customer's kind, a device's
    /// category).
    pub sub_kind: Option<String>,
    /// Only documents owned by this brand.
    pub brand_id: Option<i64>,
    pub cursor: Option<String>,
    /// 1–200, default 20.
    pub limit: Option<u32>,
}

/// A piece of highlighted text: `hit` pieces matched the query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Segment {
    pub text: String,
    pub hit: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchHit {
    /// customer, device, ticket or knowledge
    pub kind: String,
    /// The record's id (a customer, a device, a ticket…).
    pub id: i64,
    pub customer_id: Option<i64>,
    pub brand_id: Option<i64>,
    pub status: Option<String>,
    pub sub_kind: Option<String>,
    /// The title, in pieces that did and did not match.
    pub title: Vec<Segment>,
    /// A passage of the body around the first match (the start when none), in pieces.
    pub snippet: Vec<Segment>,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchPage {
    /// Best first. When a search matches 2,000 or more records the caller may see, the newest
    /// 2,000 of them are ranked and older matches are left out: add words or filters to reach
    /// them.
    pub items: Vec<SearchHit>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next: Option<String>,
    /// The words searched for, as segmented.
    pub terms: Vec<String>,
    /// More matched than were ranked (see `items`); the search page says so. Not part of the
    /// JSON answer (its shape is fixed); its description above tells API clients.
    #[serde(skip)]
    pub capped: bool,
}

fn parse_kinds(f: &mut Fields, s: Option<&str>) -> Vec<DocKind> {
    let mut kinds = Vec::new();
    for part in s
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        match DocKind::parse(part) {
            Some(k) if !kinds.contains(&k) => kinds.push(k),
            Some(_) => {}
            None => f.add("kind", "customer, device, ticket or knowledge"),
        }
    }
    kinds
}

const CURSOR_KEY: &str = "search";

/// Searches what the caller may read and see, best match first.
pub async fn search(app: &App, ctx: &Ctx, input: SearchInput) -> Result<SearchPage> {
    let readable: Vec<DocKind> = DocKind::ALL
        .iter()
        .copied()
        .filter(|k| ctx.can(read_permission(*k)))
        .collect();
    if readable.is_empty() {
        return Err(Error::Forbidden);
    }
    let mut f = Fields::new();
    let q = f.take(
        "q",
        domain::text::required(input.q.as_deref().unwrap_or(""), MAX_QUERY_CHARS),
    );
    let mut kinds = parse_kinds(&mut f, input.kind.as_deref());
    let status = f
        .take(
            "status",
            domain::text::optional(input.status.as_deref(), 40),
        )
        .flatten();
    let sub_kind = f
        .take(
            "sub_kind",
            domain::text::optional(input.sub_kind.as_deref(), 40),
        )
        .flatten();
    let offset = match input.cursor.as_deref().filter(|s| !s.is_empty()) {
        None => 0,
        Some(s) => {
            let o = Cursor::decode(s)
                .filter(|c| c.key == CURSOR_KEY)
                .and_then(|c| u32::try_from(c.id).ok())
                .filter(|o| *o <= index_store::MAX_OFFSET);
            if o.is_none() {
                f.add("cursor", "not a cursor this server issued");
            }
            o.unwrap_or(0)
        }
    };
    f.finish()?;
    if kinds.iter().any(|k| !readable.contains(k)) {
        return Err(Error::Forbidden);
    }
    if kinds.is_empty() {
        kinds = readable;
    }
    let limit = input.limit.unwrap_or(20).clamp(1, 200);
    let terms = query_terms(&q.unwrap_or_default());
    let query = index_store::Query {
        terms: terms.clone(),
        kinds,
        status,
        sub_kind,
        brand: input.brand_id.map(BrandId),
        offset,
        limit,
    };
    let scope = ctx.scope.clone();
    let hits = app
        .db
        .read(move |c| Box::pin(async move { index_store::query(c, &scope, &query).await }))
        .await?;
    let words: Vec<String> = terms.iter().map(|t| t.text.clone()).collect();
    let next_offset = offset + u32::try_from(hits.items.len()).unwrap_or(0);
    let next = (hits.more && next_offset <= index_store::MAX_OFFSET).then(|| {
        Cursor {
            key: CURSOR_KEY.into(),
            id: i64::from(next_offset),
        }
        .encode()
    });
    Ok(SearchPage {
        items: hits
            .items
            .into_iter()
            .map(|h| SearchHit {
                kind: h.kind.as_str().into(),
                id: h.doc_id,
                customer_id: h.customer_id.map(|x| x.0),
                brand_id: h.brand_id.map(|x| x.0),
                status: h.status,
                sub_kind: h.sub_kind,
                title: highlight(&h.title, &words),
                snippet: snippet(&h.body, &words, SNIPPET_CHARS),
                updated_at: Timestamp(h.updated_at),
            })
            .collect(),
        next,
        terms: words,
        capped: hits.capped,
    })
}

// ---------------------------------------------------------------- highlights

/// Characters of body shown with a hit.
const SNIPPET_CHARS: usize = 160;
/// Characters kept before the first match in a snippet.
const SNIPPET_LEAD: usize = 30;

/// Which characters of `chars` fall inside an occurrence of a word (case-insensitively).
fn marks(chars: &[char], words: &[Vec<char>]) -> Vec<bool> {
    let folded: Vec<char> = chars.iter().map(|c| fold(*c)).collect();
    let mut hit = vec![false; chars.len()];
    for w in words.iter().filter(|w| !w.is_empty()) {
        if w.len() > folded.len() {
            continue;
        }
        for start in 0..=folded.len() - w.len() {
            if folded[start..start + w.len()] == w[..] {
                hit[start..start + w.len()]
                    .iter_mut()
                    .for_each(|h| *h = true);
            }
        }
    }
    hit
}

fn segments(chars: &[char], hit: &[bool]) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    for (c, h) in chars.iter().zip(hit) {
        match out.last_mut() {
            Some(s) if s.hit == *h => s.text.push(*c),
            _ => out.push(Segment {
                text: c.to_string(),
                hit: *h,
            }),
        }
    }
    out
}

fn word_chars(words: &[String]) -> Vec<Vec<char>> {
    words
        .iter()
        .map(|w| w.chars().map(fold).collect())
        .collect()
}

/// `text` in pieces, those matching one of `words` marked.
pub fn highlight(text: &str, words: &[String]) -> Vec<Segment> {
    let chars: Vec<char> = text.chars().collect();
    let hit = marks(&chars, &word_chars(words));
    segments(&chars, &hit)
}

/// At most `max` characters of `text` around its first match (from the start when nothing
/// matches), in pieces; cut ends are marked with "…".
pub fn snippet(text: &str, words: &[String], max: usize) -> Vec<Segment> {
    let chars: Vec<char> = text.chars().collect();
    let hit = marks(&chars, &word_chars(words));
    if chars.len() <= max {
        return segments(&chars, &hit);
    }
    let first = hit.iter().position(|h| *h).unwrap_or(0);
    let start = first.saturating_sub(SNIPPET_LEAD).min(chars.len() - max);
    let end = start + max;
    let mut out = Vec::new();
    if start > 0 {
        out.push(Segment {
            text: "…".into(),
            hit: false,
        });
    }
    out.extend(segments(&chars[start..end], &hit[start..end]));
    if end < chars.len() {
        match out.last_mut() {
            Some(s) if !s.hit => s.text.push('…'),
            _ => out.push(Segment {
                text: "…".into(),
                hit: false,
            }),
        }
    }
    if let Some(Segment { text, hit: false }) = out.first()
        && text == "…"
        && let Some(next) = out.get(1)
        && !next.hit
    {
        let merged = format!("…{}", next.text);
        out.remove(0);
        out[0].text = merged;
    }
    out
}

// ---------------------------------------------------------------- rebuilding

/// Records (re)indexed per transaction by `reindex`.
const REINDEX_CHUNK: u32 = 500;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReindexReport {
    pub customers: u64,
    pub devices: u64,
    pub elapsed_ms: u128,
}

/// Rebuilds the documents of customers and devices from the ledger (after an upgrade that
/// brought search, or to repair the index), in chunks: each chunk is read, segmented outside
/// any transaction, then its range of documents replaced in one short write. Merged customers
/// lose their document. Safe while the server runs: a record changed meanwhile is re-indexed by
/// its own write, and a chunk only replaces documents of the ids it read.
pub async fn reindex(app: &App, ctx: &Ctx) -> Result<ReindexReport> {
    ctx.require(Permission::CustomerWrite)?;
    let started = std::time::Instant::now();
    let mut report = ReindexReport::default();
    let backend = app.db.backend();
    let mut after = 0;
    loop {
        let sources = app
            .db
            .read(move |c| {
                Box::pin(
                    async move { index_store::customer_sources(c, after, REINDEX_CHUNK).await },
                )
            })
            .await?;
        let Some(last) = sources.last().map(|s| s.id) else {
            break;
        };
        let docs: Vec<DocRow> = sources
            .iter()
            .filter(|s| s.status == "active")
            .map(|s| customer_doc(&app.regions, s).prepare().into_row())
            .collect();
        report.customers += docs.len() as u64;
        replace_range(app, backend, DocKind::Customer, after, Some(last), docs).await?;
        after = last;
    }
    replace_range(app, backend, DocKind::Customer, after, None, Vec::new()).await?;
    let mut after = 0;
    loop {
        let sources = app
            .db
            .read(move |c| {
                Box::pin(async move { index_store::device_sources(c, after, REINDEX_CHUNK).await })
            })
            .await?;
        let Some(last) = sources.last().map(|s| s.id) else {
            break;
        };
        let docs: Vec<DocRow> = sources
            .iter()
            .map(|s| device_doc(s).prepare().into_row())
            .collect();
        report.devices += docs.len() as u64;
        replace_range(app, backend, DocKind::Device, after, Some(last), docs).await?;
        after = last;
    }
    replace_range(app, backend, DocKind::Device, after, None, Vec::new()).await?;
    report.elapsed_ms = started.elapsed().as_millis();
    tracing::info!(
        customers = report.customers,
        devices = report.devices,
        elapsed_ms = report.elapsed_ms,
        "search index rebuilt"
    );
    Ok(report)
}

/// Replaces the documents of `kind` with ids in (`after`, `last`] (to the end when `last` is
/// None) by `docs`.
async fn replace_range(
    app: &App,
    backend: store::Backend,
    kind: DocKind,
    after: i64,
    last: Option<i64>,
    docs: Vec<DocRow>,
) -> Result<()> {
    app.db
        .write(move |c| {
            Box::pin(async move {
                index_store::delete_range(c, kind, after, last).await?;
                store::bulk::search_docs(c, backend, &docs).await?;
                Ok::<_, Error>(())
            })
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        tokens(s).split(' ').map(str::to_string).collect()
    }

    fn texts(q: &str) -> Vec<String> {
        query_terms(q).into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn chinese_is_segmented_for_search() {
        let w = words("北京市海淀区张伟");
        for expected in ["北京", "海淀", "海淀区", "张伟"] {
            assert!(w.iter().any(|x| x == expected), "{expected} in {w:?}");
        }
        let w = words("冰箱漏水，请尽快上门");
        assert!(w.iter().any(|x| x == "漏水"), "{w:?}");
        assert!(w.iter().any(|x| x == "冰箱"), "{w:?}");
        assert!(!w.iter().any(|x| x.contains('，')), "{w:?}");
    }

    #[test]
    fn english_and_digits_are_words() {
        let w = words("Haier KFR-35GW/BP sn: SN20260001");
        for expected in ["haier", "kfr", "35gw", "bp", "sn", "sn20260001"] {
            assert!(w.iter().any(|x| x == expected), "{expected} in {w:?}");
        }
        assert_eq!(words("ＡＢＣ１２３"), vec!["abc123"]);
    }

    #[test]
    fn phones_give_digits_and_tail() {
        let w = words("电话 +86 138-1234-5678");
        assert!(w.iter().any(|x| x == "13812345678"), "{w:?}");
        assert!(w.iter().any(|x| x == "5678"), "{w:?}");
        let w = words("13912345678");
        assert!(w.iter().any(|x| x == "13912345678"), "{w:?}");
        assert!(w.iter().any(|x| x == "5678"), "{w:?}");
        let w = words("(021) 6234 5678");
        assert!(w.iter().any(|x| x == "02162345678"), "{w:?}");
        assert_eq!(texts("138-1234-5678"), vec!["13812345678"]);
    }

    #[test]
    fn query_words_are_plain() {
        assert_eq!(texts("冰箱漏水了"), vec!["冰箱", "漏水"]);
        assert_eq!(texts("漏水"), vec!["漏水"]);
        assert!(
            query_terms("\" * NEAR( OR '")
                .iter()
                .all(|t| t.text.chars().all(char::is_alphanumeric))
        );
        assert!(query_terms("\"*(").is_empty());
        assert_eq!(texts("Haier KFR"), vec!["haier", "kfr"]);
        assert!(query_terms("kfr")[0].prefix);
        assert!(!query_terms("漏水")[0].prefix);
    }

    #[test]
    fn highlights_mark_matches_case_insensitively() {
        let segs = highlight("Haier 冰箱漏水", &["haier".into(), "漏水".into()]);
        assert_eq!(
            segs,
            vec![
                Segment {
                    text: "Haier".into(),
                    hit: true
                },
                Segment {
                    text: " 冰箱".into(),
                    hit: false
                },
                Segment {
                    text: "漏水".into(),
                    hit: true
                },
            ]
        );
        let long = format!("{}漏水{}", "甲".repeat(100), "乙".repeat(100));
        let s = snippet(&long, &["漏水".into()], 40);
        assert!(s[0].text.starts_with('…'));
        assert_eq!(s[1].text, "漏水");
        assert!(s[1].hit);
        assert!(s[2].text.ends_with('…'));
        let total: usize = s.iter().map(|x| x.text.chars().count()).sum();
        assert_eq!(total, 42);
    }
}
