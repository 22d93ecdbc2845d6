//! Email in and out (SPEC D1, D7).
//!
//! In: the MTA (a Postfix pipe, an inbound-mail webhook) posts each raw RFC 5322 message. It is
//! stored as it came before anything else happens, so nothing is lost; a malformed one stays
//! stored with status `failed` and the reason. A readable one is put on a ticket:
//! 1. a Message-ID it answers (In-Reply-To, then References, newest first) that is one of our
//!    outgoing mails recorded on a ticket message, one of our own ids (`ticket-<id>-…@<our
//!    domain>`), or an earlier inbound mail already on a ticket;
//! 2. else a `+T<number>` tag in a recipient address (`service+TKF20261130-000001@…`, the
//!    Reply-To of every ticket mail we send);
//! 3. else a new consultation ticket through `tickets::create` (channel email, the customer found
//!    by the sender's address, the sender as contact) — which, like any repeat contact (D10),
//!    attaches the mail to the customer's open ticket if there is one.
//!
//! A matched mail becomes an inbound message with its Message-ID plus a history row. A mail to a
//! resolved, confirmed or closed ticket does not reopen it: the history row is
//! `inbound_after_resolve`, for the tracker to decide (reopening is the requester's or the desk's
//! explicit act, with its own rules and window). The same Message-ID posted again is answered as
//! a duplicate and not processed twice.
//!
//! Out: ticket mails carry adapter instructions in their payload (see `notify::email`): a
//! Message-ID of our own (`ticket-<id>-msg-<message id>` for replies, recorded on the ticket
//! message), Reply-To with the ticket's `+T` tag, and In-Reply-To the requester's latest mail.

use std::fmt::Write as _;

use domain::ticket::{Ticket, TicketStatus};
use domain::{Cursor, Permission, Scope, TicketId, Timestamp};
use mail_parser::{Address, HeaderValue, MessageParser, MimeHeaders, PartType};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use store::Conn;
use store::mail::{self as mails, MailRecord, MailStatus, NewMail};
use store::tickets::{self as ticket_store, NewEvent, NewMessage};
use utoipa::{IntoParams, ToSchema};

use crate::admin::audit_entry;
use crate::tickets::{Milestone, TicketInput};
use crate::{Actor, App, Ctx, Error, IdemKey, Result};

/// Longest subject and text a ticket takes (as `tickets`).
const SUBJECT_MAX: usize = 200;
const BODY_MAX: usize = 20_000;

// ---------------------------------------------------------------- reading a mail

/// The sender of a mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sender {
    pub name: Option<String>,
    pub address: String,
}

/// A part that is not the text: recorded, not kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AttachmentMeta {
    pub name: Option<String>,
    pub content_type: String,
    pub size: u64,
}

/// The header fields a stored mail is filed under; read even from a malformed mail where they
/// can be.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Envelope {
    /// Without angle brackets; a mail without one gets `<sha256 of the bytes>@sha256.invalid`.
    pub message_id: String,
    pub from: Option<Sender>,
    /// To, Cc and the MTA's Delivered-To / X-Original-To / Envelope-To.
    pub recipients: Vec<String>,
    pub subject: Option<String>,
}

/// What a readable mail says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailContent {
    /// The ids it answers: In-Reply-To first, then References newest first.
    pub answers: Vec<String>,
    /// The text as sent (text/plain, else text/html as text), quotes included.
    pub text: String,
    pub attachments: Vec<AttachmentMeta>,
    /// The attachments' bytes, kept on the ticket (`attachments::keep_mail_parts`).
    pub parts: Vec<crate::attachments::MailPart>,
}

/// A mail as read: its envelope, and its content or why it cannot be read.
#[derive(Debug, Clone)]
pub struct ReadMail {
    pub envelope: Envelope,
    pub content: std::result::Result<MailContent, String>,
}

fn clean_id(s: &str) -> Option<String> {
    let t = s
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    (!t.is_empty() && t.len() <= 250 && !t.chars().any(|c| c.is_whitespace() || c.is_control()))
        .then(|| t.to_string())
}

fn header_ids(v: &HeaderValue<'_>) -> Vec<String> {
    match v {
        HeaderValue::Text(t) => t.split_whitespace().filter_map(clean_id).collect(),
        HeaderValue::TextList(l) => l.iter().filter_map(|t| clean_id(t)).collect(),
        _ => Vec::new(),
    }
}

fn addresses(a: Option<&Address<'_>>) -> Vec<String> {
    a.map(|a| {
        a.iter()
            .filter_map(|x| x.address())
            .map(|s| s.trim().to_string())
            .filter(|s| s.contains('@'))
            .collect()
    })
    .unwrap_or_default()
}

/// An address from a raw header such as `Delivered-To: service+T…@example.cn`.
fn raw_address(v: &str) -> Option<String> {
    let v = v.trim();
    let v = match (v.rfind('<'), v.rfind('>')) {
        (Some(a), Some(b)) if a < b => &v[a + 1..b],
        _ => v,
    };
    let v = v.trim();
    (v.contains('@') && !v.contains(char::is_whitespace)).then(|| v.to_string())
}

/// Whether the bytes begin like a message: a header field name and a colon (an mbox `From `
/// line before it is tolerated).
fn starts_with_header(raw: &[u8]) -> bool {
    let first = raw.split(|b| *b == b'\n').next().unwrap_or_default();
    let Some(colon) = first.iter().position(|b| *b == b':') else {
        return false;
    };
    colon > 0 && first[..colon].iter().all(|b| (33..=126).contains(b))
}

/// Reads a raw message. Never fails: what cannot be read is said in `content`.
pub fn read(raw: &[u8]) -> ReadMail {
    let digest_id = || format!("{}@sha256.invalid", hex::encode(Sha256::digest(raw)));
    let mut body = raw;
    // An mbox separator line (`From sender date`) some pipes put first.
    if body.starts_with(b"From ") {
        body = body
            .iter()
            .position(|b| *b == b'\n')
            .map_or(&[][..], |i| &body[i + 1..]);
    }
    let fail = |why: &str| ReadMail {
        envelope: Envelope {
            message_id: digest_id(),
            ..Envelope::default()
        },
        content: Err(why.to_string()),
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return fail("the message is empty");
    }
    if !starts_with_header(body) {
        return fail("not an RFC 5322 message: it does not begin with a header field");
    }
    let Some(msg) = MessageParser::new().parse(body) else {
        return fail("not an RFC 5322 message: no header fields");
    };
    let from = msg.from().and_then(|a| a.first()).and_then(|a| {
        let address = a.address()?.trim().to_string();
        address.contains('@').then(|| Sender {
            name: a
                .name()
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty()),
            address,
        })
    });
    let mut recipients = addresses(msg.to());
    recipients.extend(addresses(msg.cc()));
    for (name, value) in msg.headers_raw() {
        if ["delivered-to", "x-original-to", "envelope-to"]
            .iter()
            .any(|h| name.eq_ignore_ascii_case(h))
            && let Some(a) = raw_address(value)
        {
            recipients.push(a);
        }
    }
    recipients.dedup();
    let envelope = Envelope {
        message_id: msg
            .message_id()
            .and_then(clean_id)
            .unwrap_or_else(digest_id),
        from,
        recipients,
        subject: msg
            .subject()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()),
    };
    let content = check_structure(&msg, body).and_then(|()| {
        if envelope.from.is_none() {
            return Err("no sender address (From)".to_string());
        }
        let mut answers = header_ids(msg.in_reply_to());
        let mut refs = header_ids(msg.references());
        refs.reverse();
        answers.extend(refs);
        answers.dedup();
        let text = msg
            .body_text(0)
            .map(std::borrow::Cow::into_owned)
            .unwrap_or_default();
        let parts = msg
            .attachments()
            .map(|p| crate::attachments::MailPart {
                name: p.attachment_name().map(str::to_string),
                bytes: std::sync::Arc::new(p.contents().to_vec()),
            })
            .collect();
        let attachments = msg
            .attachments()
            .map(|p| AttachmentMeta {
                name: p.attachment_name().map(str::to_string),
                content_type: p.content_type().map_or_else(
                    || "application/octet-stream".to_string(),
                    |ct| match ct.subtype() {
                        Some(sub) => format!("{}/{sub}", ct.ctype()),
                        None => ct.ctype().to_string(),
                    },
                ),
                size: p.len() as u64,
            })
            .collect();
        Ok(MailContent {
            answers,
            text,
            attachments,
            parts,
        })
    });
    ReadMail { envelope, content }
}

/// Refuses a broken MIME structure that the lenient parser would silently turn into text: a
/// multipart without a boundary, a boundary that never comes or never closes (a truncated
/// mail), a part whose transfer encoding does not decode.
fn check_structure(msg: &mail_parser::Message<'_>, raw: &[u8]) -> std::result::Result<(), String> {
    let only_headers = msg.parts.len() == 1 && msg.parts[0].offset_body as usize >= raw.len();
    for (i, part) in msg.parts.iter().enumerate() {
        let ct = part.content_type();
        let what = ct.map_or_else(
            || "text/plain".to_string(),
            |c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("")),
        );
        if let Some(ct) = ct
            && ct.ctype().eq_ignore_ascii_case("multipart")
        {
            let Some(boundary) = ct.attribute("boundary").filter(|b| !b.is_empty()) else {
                return Err(format!("part {i} ({what}) has no boundary parameter"));
            };
            if !matches!(part.body, PartType::Multipart(_)) {
                return Err(format!(
                    "part {i} ({what}): the boundary {boundary:?} never appears"
                ));
            }
            let close = format!("--{boundary}--");
            let from = (part.offset_body as usize).min(raw.len());
            if !raw[from..]
                .windows(close.len())
                .any(|w| w == close.as_bytes())
            {
                return Err(format!(
                    "part {i} ({what}): the closing boundary {close:?} is missing (truncated mail?)"
                ));
            }
        }
        if part.is_encoding_problem && !only_headers {
            let cte = part.content_transfer_encoding().unwrap_or("7bit");
            return Err(format!(
                "part {i} ({what}): the content does not decode as {cte}"
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- text

/// Lines that begin the quoted earlier message in a reply: "On … wrote:", "在 … 写道：", the
/// Outlook and Foxmail/QQ separators.
fn is_quote_header(line: &str, next: Option<&str>) -> bool {
    let l = line.trim();
    let lower = l.to_lowercase();
    if (lower.starts_with("on ") && lower.ends_with("wrote:"))
        || (l.starts_with('在') && (l.ends_with("写道：") || l.ends_with("写道:")))
    {
        return true;
    }
    // "On Mon, 1 Dec 2026 at 10:00, Someone <a@b>" wrapped before "wrote:".
    if lower.starts_with("on ") && next.is_some_and(|n| n.trim().to_lowercase().ends_with("wrote:"))
    {
        return true;
    }
    let bare = l.trim_matches(|c: char| c == '-' || c == ' ' || c == '_');
    if l.starts_with("---")
        && (bare.eq_ignore_ascii_case("original message")
            || bare == "原始邮件"
            || bare == "原始邮件信息"
            || bare.eq_ignore_ascii_case("forwarded message"))
    {
        return true;
    }
    // Outlook without a separator: "From: …" directly followed by "Sent: …" (发件人/发送时间).
    let n = next.map_or("", str::trim);
    (l.starts_with("From:") && (n.starts_with("Sent:") || n.starts_with("Date:")))
        || ((l.starts_with("发件人:") || l.starts_with("发件人："))
            && (n.starts_with("发送时间") || n.starts_with("时间") || n.starts_with("日期")))
}

/// The new text of a reply: the quoted earlier message (after its header line, and every line
/// starting with `>`) left out. Returns the whole text when nothing would remain.
pub fn strip_quotes(text: &str) -> String {
    let text = text.replace("\r\n", "\n");
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<&str> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if is_quote_header(line, lines.get(i + 1).copied()) {
            break;
        }
        if line.trim_start().starts_with('>') {
            continue;
        }
        out.push(line);
    }
    let kept = out.join("\n").trim().to_string();
    if kept.is_empty() {
        text.trim().to_string()
    } else {
        kept
    }
}

/// Text as a ticket takes it: no control characters but line breaks and tabs, no runs of blank
/// lines, at most `max` characters.
fn ticket_text(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max * 4));
    let mut blank = 0;
    for line in s.lines() {
        let line: String = line
            .chars()
            .filter(|c| !c.is_control() || *c == '\t')
            .collect();
        let line = line.trim_end();
        if line.trim().is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    let t = out.trim();
    if t.chars().count() > max {
        let mut cut: String = t.chars().take(max - 1).collect();
        cut.push('…');
        cut
    } else {
        t.to_string()
    }
}

/// A subject without the `Re:`, `Fwd:`, `回复:`, `转发:` prefixes and the `[KF…]` tag of our own mails.
fn base_subject(s: &str) -> String {
    let mut t = s.trim();
    loop {
        let lower = t.to_lowercase();
        let cut = [
            "re:",
            "re：",
            "fw:",
            "fwd:",
            "aw:",
            "回复:",
            "回复：",
            "答复:",
            "答复：",
            "转发:",
            "转发：",
        ]
        .iter()
        .find(|p| lower.starts_with(*p))
        .map(|p| p.len());
        match cut {
            Some(n) => t = t[n..].trim_start(),
            None if t.starts_with("[KF") => match t.find(']') {
                Some(i) => t = t[i + 1..].trim_start(),
                None => break,
            },
            None => break,
        }
    }
    t.to_string()
}

/// The message body an agent reads: the new text, then the attachments' names.
fn message_body(content: &MailContent, subject: Option<&str>) -> String {
    let mut body = strip_quotes(&content.text);
    if body.trim().is_empty() {
        body = subject.unwrap_or("").to_string();
    }
    if !content.attachments.is_empty() {
        body.push_str("\n\n附件 / attachments:");
        for a in &content.attachments {
            let _ = write!(
                body,
                "\n- {} ({}, {} B)",
                a.name.as_deref().unwrap_or("(unnamed)"),
                a.content_type,
                a.size
            );
        }
    }
    let body = ticket_text(&body, BODY_MAX);
    if body.is_empty() {
        "（邮件无正文 / empty mail）".to_string()
    } else {
        body
    }
}

// ---------------------------------------------------------------- our addresses and ids

/// The sender of our mails as configured (`KEFU_MAIL_FROM`): (local part, domain).
fn our_address(app: &App) -> Option<(String, String)> {
    let from = app.settings.email.as_ref()?.from.clone();
    let mbox: lettre::message::Mailbox = from.parse().ok()?;
    Some((
        mbox.email.user().to_string(),
        mbox.email.domain().to_lowercase(),
    ))
}

/// The ticket number in a `+T` recipient tag (`service+TKF20261130-000001@…`); tags come back
/// lower-cased through some relays.
pub fn reply_tag(address: &str) -> Option<String> {
    let local = address.rsplit_once('@')?.0;
    let tag = local.rsplit_once('+')?.1;
    let rest = tag.strip_prefix('T').or_else(|| tag.strip_prefix('t'))?;
    let number = rest.to_ascii_uppercase();
    (number.starts_with("KF")
        && number.len() <= 40
        && number
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-'))
    .then_some(number)
}

/// The ticket id in one of our own Message-IDs (`ticket-<id>-…`).
fn ticket_in_our_id(local: &str) -> Option<TicketId> {
    let rest = local.strip_prefix("ticket-")?;
    let digits = rest.split('-').next()?;
    digits.parse().ok().map(TicketId)
}

// ---------------------------------------------------------------- out

/// Adds the adapter instructions that thread a ticket's email to its outbox payload (called by
/// `tickets::notify_requester` in the same transaction): our Message-ID (recorded on the reply's
/// ticket message for `ticket.replied`), Reply-To with the ticket's `+T` tag, In-Reply-To the
/// requester's latest mail, and for a reply the subject `Re: [KF…] <ticket subject>`.
pub(crate) async fn thread_outbound(
    c: &mut Conn,
    t: &Ticket,
    m: Milestone,
    at: Timestamp,
    payload: &mut Value,
) -> Result<()> {
    let tid = t.id().0;
    let message_id = if m == Milestone::Replied {
        mails::claim_reply_for_mail(c, t.id(), |mid| format!("ticket-{tid}-msg-{mid}")).await?
    } else {
        None
    };
    let message_id = message_id.unwrap_or_else(|| {
        let what = m.template().trim_start_matches("ticket.");
        format!("ticket-{tid}-{what}-{}", at.0)
    });
    let in_reply_to = mails::last_inbound_message_id(c, t.id()).await?;
    if let Value::Object(o) = payload {
        o.insert("_message_id".into(), json!(message_id));
        o.insert("_reply_to".into(), json!(format!("+T{}", t.number)));
        if let Some(irt) = in_reply_to {
            o.insert("_in_reply_to".into(), json!(irt));
        }
        if m == Milestone::Replied {
            o.insert(
                "subject".into(),
                json!(format!("Re: [{}] {}", t.number, t.subject)),
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- in

/// What became of a posted mail.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InboundOutcome {
    /// The stored mail's id (`inbound_mails`).
    pub id: i64,
    /// received | threaded | created | failed
    pub status: String,
    pub ticket_id: Option<i64>,
    pub ticket_number: Option<String>,
    /// The same Message-ID was posted before: nothing was done this time.
    pub duplicate: bool,
}

/// How a mail found its ticket.
#[derive(Debug, Clone, Copy)]
enum Match {
    MessageId,
    ReplyTag,
}

impl Match {
    fn as_str(self) -> &'static str {
        match self {
            Match::MessageId => "message_id",
            Match::ReplyTag => "reply_tag",
        }
    }
}

/// The ticket an answer belongs to, following merges; None when it is not visible.
async fn visible_ticket(c: &mut Conn, scope: &Scope, id: TicketId) -> Result<Option<Ticket>> {
    let mut id = id;
    for _ in 0..4 {
        match ticket_store::get(c, scope, id).await {
            Ok(t) => match t.state.merged_into {
                Some(into) if t.state.status == TicketStatus::Merged => id = into,
                _ => return Ok(Some(t)),
            },
            Err(store::Error::NotFound) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(None)
}

async fn find_ticket(
    c: &mut Conn,
    scope: &Scope,
    our_domain: Option<&str>,
    envelope: &Envelope,
    content: &MailContent,
) -> Result<Option<(Ticket, Match)>> {
    for id in &content.answers {
        let mut found = mails::ticket_of_message_id(c, id).await?;
        if found.is_none()
            && let (Some(ours), Some((local, domain))) = (our_domain, id.rsplit_once('@'))
            && domain.eq_ignore_ascii_case(ours)
        {
            found = match ticket_store::ticket_of_message_id(c, local).await? {
                Some(t) => Some(t),
                None => ticket_in_our_id(local),
            };
        }
        if let Some(tid) = found
            && let Some(t) = visible_ticket(c, scope, tid).await?
        {
            return Ok(Some((t, Match::MessageId)));
        }
    }
    for r in &envelope.recipients {
        if let Some(number) = reply_tag(r) {
            match ticket_store::get_by_number(c, scope, &number).await {
                Ok(t) => {
                    if let Some(t) = visible_ticket(c, scope, t.id()).await? {
                        return Ok(Some((t, Match::ReplyTag)));
                    }
                }
                Err(store::Error::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(None)
}

fn outcome(r: &MailRecord, number: Option<String>, duplicate: bool) -> InboundOutcome {
    InboundOutcome {
        id: r.id,
        status: r.status.as_str().to_string(),
        ticket_id: r.ticket_id.map(|t| t.0),
        ticket_number: number,
        duplicate,
    }
}

fn sees_brand(scope: &Scope, brand: Option<domain::BrandId>) -> bool {
    match scope {
        Scope::All => true,
        Scope::Brands(set) => brand.is_some_and(|b| set.contains(&b)),
        _ => false,
    }
}

/// Takes one raw message from the MTA: stores it, then threads it onto its ticket or opens one.
/// A malformed mail is stored as `failed` and refused with `Error::MalformedMail`.
pub async fn receive(app: &App, ctx: &Ctx, raw: Vec<u8>) -> Result<InboundOutcome> {
    ctx.require(Permission::TicketCreate)?;
    let brand = match &ctx.scope {
        Scope::All => None,
        Scope::Brands(set) if set.len() == 1 => set.iter().next().copied(),
        Scope::Brands(_) => {
            return Err(Error::Conflict(
                "inbound mail needs a token scoped to one brand (or to the whole company)".into(),
            ));
        }
        _ => return Err(Error::Forbidden),
    };
    let mail = read(&raw);
    let ReadMail { envelope, content } = mail;
    let (status, error) = match &content {
        Ok(_) => (MailStatus::Received, None),
        Err(e) => (MailStatus::Failed, Some(e.clone())),
    };
    let meta = match &content {
        Ok(c) => {
            json!({ "answers": c.answers, "attachments": c.attachments, "recipients": envelope.recipients })
        }
        Err(_) => json!({ "recipients": envelope.recipients }),
    };
    let now = ctx.now();
    let by = ctx.actor.user_id();
    let body_hash = hex::encode(Sha256::digest(&raw));
    let env = envelope.clone();
    let raw_len = raw.len();
    let (id, existing) = app
        .db
        .write(move |c| {
            Box::pin(async move {
                let from = env.from.as_ref().map(|f| match &f.name {
                    Some(n) => format!("{n} <{}>", f.address),
                    None => f.address.clone(),
                });
                let to = env.recipients.join(", ");
                let new = mails::insert(
                    c,
                    &NewMail {
                        brand_id: brand,
                        message_id: &env.message_id,
                        from_addr: from.as_deref(),
                        to_addrs: &to,
                        subject: env.subject.as_deref(),
                        raw: &raw,
                        received_at: now,
                        received_by: by,
                        status,
                        error: error.as_deref(),
                        meta: &meta,
                    },
                )
                .await?;
                if let Some(id) = new {
                    Ok::<_, Error>((id, None))
                } else {
                    let r = mails::by_message_id(c, &env.message_id)
                        .await?
                        .ok_or(Error::NotFound)?;
                    Ok((r.id, Some(r)))
                }
            })
        })
        .await?;
    tracing::info!(mail_id = id, message_id = %envelope.message_id, size = raw_len, duplicate = existing.is_some(), "inbound mail");
    if let Some(r) = &existing {
        match r.status {
            MailStatus::Failed => {
                return Err(Error::MalformedMail {
                    id: r.id,
                    reason: r.error.clone().unwrap_or_default(),
                });
            }
            MailStatus::Threaded | MailStatus::Created => {
                let visible = sees_brand(&ctx.scope, r.brand_id);
                let mut o = outcome(r, None, true);
                if !visible {
                    o.ticket_id = None;
                }
                return Ok(o);
            }
            // Stored by an earlier post that did not finish: process it now.
            MailStatus::Received => {}
        }
    }
    let content = match content {
        Ok(c) => c,
        Err(reason) => return Err(Error::MalformedMail { id, reason }),
    };
    match process(app, ctx, id, &envelope, &content, &body_hash).await {
        Ok(o) => Ok(o),
        Err(e) => {
            let why = format!("{}: {e}", e.code());
            let _ = app
                .db
                .write(move |c| Box::pin(async move { mails::note_error(c, id, &why).await }))
                .await;
            Err(e)
        }
    }
}

async fn process(
    app: &App,
    ctx: &Ctx,
    id: i64,
    envelope: &Envelope,
    content: &MailContent,
    body_hash: &str,
) -> Result<InboundOutcome> {
    let scope = ctx.scope.clone();
    let domain = our_address(app).map(|(_, d)| d);
    let env = envelope.clone();
    let cont = content.clone();
    let (found, customer) = app
        .db
        .read(move |c| {
            Box::pin(async move {
                let found = find_ticket(c, &scope, domain.as_deref(), &env, &cont).await?;
                let customer = match (&found, &env.from) {
                    (None, Some(f)) => mails::customers_by_email(c, &scope, &f.address)
                        .await?
                        .first()
                        .copied(),
                    _ => None,
                };
                Ok::<_, Error>((found, customer))
            })
        })
        .await?;
    let body = message_body(content, envelope.subject.as_deref());
    let sender = envelope
        .from
        .clone()
        .ok_or_else(|| Error::Conflict("no sender".into()))?;
    let now = ctx.now();
    if let Some((t, how)) = found {
        let audit = audit_entry(ctx, "inbound_mail", "ticket");
        let message_id = envelope.message_id.clone();
        let in_reply_to = content.answers.first().cloned();
        let meta = json!({ "answers": content.answers, "attachments": content.attachments, "recipients": envelope.recipients, "matched_by": how.as_str() });
        let label: String = match &sender.name {
            Some(n) => format!("{n} <{}>", sender.address),
            None => sender.address.clone(),
        }
        .chars()
        .take(200)
        .collect();
        let from_contact = t
            .contact_email
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case(&sender.address));
        let number = t.number.clone();
        // The bytes are kept before the transaction that names them.
        let files = crate::attachments::keep_mail_parts(app, &content.parts).await?;
        let settled = app
            .db
            .write(move |c| {
                Box::pin(async move {
                    if !mails::settle(c, id, MailStatus::Threaded, t.id(), &meta, now).await? {
                        return Ok::<_, Error>(false);
                    }
                    let mid = ticket_store::insert_message(
                        c,
                        &NewMessage {
                            ticket_id: t.id(),
                            brand_id: t.brand_id,
                            at: now,
                            author_id: None,
                            author_label: Some(&label),
                            visibility: "inbound",
                            channel: "email",
                            body: &body,
                            email_message_id: Some(&message_id),
                            in_reply_to: in_reply_to.as_deref(),
                        },
                    )
                    .await?;
                    let after_resolve = matches!(
                        t.state.status,
                        TicketStatus::Resolved
                            | TicketStatus::Confirmed
                            | TicketStatus::Closed
                            | TicketStatus::Cancelled
                    );
                    ticket_store::insert_event(
                        c,
                        &NewEvent {
                            ticket_id: t.id(),
                            brand_id: t.brand_id,
                            at: now,
                            actor_id: None,
                            actor_label: Some("customer"),
                            event: if after_resolve {
                                "inbound_after_resolve"
                            } else {
                                "inbound"
                            },
                            from: t.state.status,
                            to: t.state.status,
                            owner: t.state.owner,
                            data: json!({ "via": "email", "message_id": mid, "inbound_mail_id": id, "matched_by": how.as_str(), "from_contact": from_contact }),
                        },
                    )
                    .await?;
                    crate::attachments::record_mail_parts(c, &t, &files, Some(mid), &label, now)
                        .await?;
                    audit
                        .write(
                            c,
                            Some(t.id().0),
                            t.brand_id,
                            None,
                            Some(json!({ "inbound_mail_id": id, "message_id": mid })),
                        )
                        .await?;
                    Ok(true)
                })
            })
            .await?;
        let r = app
            .db
            .read(move |c| Box::pin(async move { mails::get(c, &Scope::All, id).await }))
            .await?;
        return Ok(outcome(&r, Some(number), !settled));
    }

    // A new ticket (or, D10, the customer's open one): once per Message-ID, even when this post
    // is a retry of one that stopped half-way.
    let subject = envelope
        .subject
        .as_deref()
        .map(base_subject)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "（无主题）".to_string());
    let subject = ticket_text(&subject.replace(['\r', '\n'], " "), SUBJECT_MAX);
    let contact_name = sender
        .name
        .as_deref()
        .map(|n| ticket_text(n, 100))
        .filter(|n| !n.is_empty());
    let contact_email = (sender.address.chars().count() <= 200).then(|| sender.address.clone());
    let sys = Ctx {
        actor: Actor::System("inbound_mail"),
        perms: ctx.perms.clone(),
        scope: ctx.scope.clone(),
        clock: ctx.clock.clone(),
        request_id: ctx.request_id.clone(),
        locale: ctx.locale.clone(),
        idem: Some(IdemKey {
            principal: "inbound_mail".into(),
            route: "POST /inbound/email".into(),
            key: hex::encode(Sha256::digest(envelope.message_id.as_bytes())),
            body_hash: body_hash.to_string(),
        }),
    };
    let created = crate::tickets::create(
        app,
        &sys,
        TicketInput {
            kind: "consultation".into(),
            channel: Some("email".into()),
            subject,
            description: body,
            customer_id: customer.map(|c| c.0),
            contact_name,
            contact_email,
            ..TicketInput::default()
        },
    )
    .await?;
    let status = if created.attached {
        MailStatus::Threaded
    } else {
        MailStatus::Created
    };
    let tid = TicketId(created.id);
    let meta = json!({ "answers": content.answers, "attachments": content.attachments, "recipients": envelope.recipients, "matched_by": if created.attached { "open_ticket_of_customer" } else { "new_ticket" } });
    let files = crate::attachments::keep_mail_parts(app, &content.parts).await?;
    let label: String = sender.address.chars().take(200).collect();
    let scope = ctx.scope.clone();
    app.db
        .write(move |c| {
            Box::pin(async move {
                if mails::settle(c, id, status, tid, &meta, now).await? {
                    let t = ticket_store::get(c, &scope, tid).await?;
                    crate::attachments::record_mail_parts(c, &t, &files, None, &label, now).await?;
                }
                Ok::<_, Error>(())
            })
        })
        .await?;
    let r = app
        .db
        .read(move |c| Box::pin(async move { mails::get(c, &Scope::All, id).await }))
        .await?;
    Ok(outcome(&r, Some(created.number), false))
}

// ---------------------------------------------------------------- the list

/// One stored mail as an administrator sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InboundMailView {
    pub id: i64,
    pub message_id: String,
    pub from: Option<String>,
    pub to: String,
    pub subject: Option<String>,
    pub size: i64,
    pub received_at: String,
    /// received | threaded | created | failed
    pub status: String,
    pub ticket_id: Option<i64>,
    /// Why it failed (or why processing stopped while it is still `received`).
    pub error: Option<String>,
    pub attachments: Vec<AttachmentMeta>,
    pub processed_at: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InboundMailFilter {
    /// received | threaded | created | failed
    pub status: Option<String>,
    pub cursor: Option<String>,
    /// 1–200, default 50
    pub limit: Option<u32>,
}

fn view(app: &App, r: MailRecord) -> InboundMailView {
    let attachments = r
        .meta
        .get("attachments")
        .cloned()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    InboundMailView {
        id: r.id,
        message_id: r.message_id,
        from: r.from_addr,
        to: r.to_addrs,
        subject: r.subject,
        size: r.size,
        received_at: r.received_at.rfc3339_in(app.settings.tz),
        status: r.status.as_str().to_string(),
        ticket_id: r.ticket_id.map(|t| t.0),
        error: r.error,
        attachments,
        processed_at: r.processed_at.map(|t| t.rfc3339_in(app.settings.tz)),
    }
}

/// Received mail, newest first (administrators and managers).
pub async fn list(
    app: &App,
    ctx: &Ctx,
    f: InboundMailFilter,
) -> Result<store::Page<InboundMailView>> {
    ctx.require(Permission::AuditRead)?;
    let status = match f.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => Some(
            MailStatus::parse(s)
                .ok_or_else(|| Error::field("status", "received, threaded, created or failed"))?,
        ),
        None => None,
    };
    let before = match f.cursor.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(
            Cursor::decode(s)
                .ok_or_else(|| Error::field("cursor", "not a cursor of this list"))?
                .id,
        ),
        None => None,
    };
    let limit = f.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(Error::field("limit", "1–200"));
    }
    let scope = ctx.scope.clone();
    let page = app
        .db
        .read(move |c| Box::pin(async move { mails::list(c, &scope, status, before, limit).await }))
        .await?;
    Ok(store::Page {
        items: page.items.into_iter().map(|r| view(app, r)).collect(),
        next: page.next,
    })
}

/// The raw bytes of a stored mail, as received (administrators and managers).
pub async fn raw(app: &App, ctx: &Ctx, id: i64) -> Result<Vec<u8>> {
    ctx.require(Permission::AuditRead)?;
    let scope = ctx.scope.clone();
    Ok(app
        .db
        .read(move |c| Box::pin(async move { mails::raw(c, &scope, id).await }))
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_left_out() {
        let t = "好的，明天上午可以。\r\n\r\n在 2026年11月30日 10:00，客服中心 <service@kefu.test> 写道：\r\n> 请问明天上午方便吗？\r\n";
        assert_eq!(strip_quotes(t), "好的，明天上午可以。");
        let t =
            "Still broken.\n\nOn Mon, 30 Nov 2026 at 10:00, Service <s@k.test>\nwrote:\n> fixed?\n";
        assert_eq!(strip_quotes(t), "Still broken.");
        let t = "Thanks\n> quoted\nmore\n-----Original Message-----\nFrom: x\n";
        assert_eq!(strip_quotes(t), "Thanks\nmore");
        let t = "见下\n\n发件人: 客服中心\n发送时间: 2026年11月30日\n主题: x\n";
        assert_eq!(strip_quotes(t), "见下");
        // Nothing but a quote: keep everything rather than nothing.
        assert_eq!(strip_quotes("> only\n> quote"), "> only\n> quote");
    }

    #[test]
    fn reply_tags_and_subjects() {
        assert_eq!(
            reply_tag("service+TKF20261130-000001@example.cn").as_deref(),
            Some("KF20261130-000001")
        );
        assert_eq!(
            reply_tag("service+tkf20261130-000001@example.cn").as_deref(),
            Some("KF20261130-000001")
        );
        assert_eq!(reply_tag("service@example.cn"), None);
        assert_eq!(reply_tag("a+news@example.cn"), None);
        assert_eq!(
            base_subject("Re: 回复：[KF20261130-000001] 洗衣机漏水"),
            "洗衣机漏水"
        );
        assert_eq!(base_subject("Fwd: RE: hello"), "hello");
        assert_eq!(ticket_in_our_id("ticket-42-msg-7"), Some(TicketId(42)));
        assert_eq!(ticket_in_our_id("kefu-outbox-42"), None);
    }

    #[test]
    fn a_plain_mail_is_read() {
        let raw = b"From: =?utf-8?b?546L5YWI55Sf?= <wang@example.cn>\r\nTo: service+TKF20261130-000002@kefu.test\r\nDelivered-To: service+TKF20261130-000003@kefu.test\r\nSubject: Re: hello\r\nMessage-ID: <abc@example.cn>\r\nIn-Reply-To: <ticket-1-msg-2@kefu.test>\r\nReferences: <a@x> <b@y>\r\n\r\nHello\r\n";
        let m = read(raw);
        let c = m.content.unwrap();
        assert_eq!(m.envelope.message_id, "abc@example.cn");
        assert_eq!(
            m.envelope.from,
            Some(Sender {
                name: Some("王先生".into()),
                address: "wang@example.cn".into()
            })
        );
        assert_eq!(
            m.envelope.recipients,
            vec![
                "service+TKF20261130-000002@kefu.test".to_string(),
                "service+TKF20261130-000003@kefu.test".to_string()
            ]
        );
        assert_eq!(c.answers, vec!["ticket-1-msg-2@kefu.test", "b@y", "a@x"]);
        assert_eq!(c.text.trim(), "Hello");
    }

    #[test]
    fn html_only_is_text_without_markup_or_script() {
        let raw = b"From: a@b.cn\r\nSubject: x\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><head><style>p{}</style></head><body><script>alert('x')</script><p>Hello <b>there</b> &amp; you</p><img src=x onerror=alert(1)></body></html>\r\n";
        let m = read(raw);
        let c = m.content.unwrap();
        assert!(c.text.contains("Hello there & you"), "{:?}", c.text);
        assert!(!c.text.contains("alert"), "{:?}", c.text);
        assert!(!c.text.contains('<'), "{:?}", c.text);
    }

    #[test]
    fn broken_structures_are_refused_with_a_reason() {
        let cases: [(&[u8], &str); 6] = [
            (b"", "empty"),
            (b"just some words\r\nand more\r\n", "header field"),
            (
                b"From: a@b.cn\r\nSubject: x\r\nContent-Type: multipart/mixed\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n--x--\r\n",
                "no boundary",
            ),
            (
                b"From: a@b.cn\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary=\"zzz\"\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n",
                "never appears",
            ),
            (
                b"From: a@b.cn\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary=\"zzz\"\r\n\r\n--zzz\r\nContent-Type: text/plain\r\n\r\nhi\r\n--zzz\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0x",
                "closing boundary",
            ),
            (
                b"From: a@b.cn\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary=\"zzz\"\r\n\r\n--zzz\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!\r\n--zzz--\r\n",
                "does not decode",
            ),
        ];
        for (raw, why) in cases {
            let m = read(raw);
            let e = m.content.expect_err(why);
            assert!(e.contains(why), "{why}: {e}");
            assert!(m.envelope.message_id.ends_with("@sha256.invalid") || !raw.is_empty());
        }
        let m = read(b"Subject: no sender\r\nMessage-ID: <n@x>\r\n\r\nhi\r\n");
        assert_eq!(m.content.unwrap_err(), "no sender address (From)");
        assert_eq!(m.envelope.message_id, "n@x");
    }

    #[test]
    fn attachments_are_listed_and_named_in_the_message() {
        let raw = b"From: a@b.cn\r\nSubject: photo\r\nContent-Type: multipart/mixed; boundary=\"zzz\"\r\n\r\n--zzz\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsee photo\r\n--zzz\r\nContent-Type: image/jpeg; name=\"leak.jpg\"\r\nContent-Disposition: attachment; filename=\"leak.jpg\"\r\nContent-Transfer-Encoding: base64\r\n\r\n/9j/4AAQSkZJRgABAQ==\r\n--zzz--\r\n";
        let m = read(raw);
        let c = m.content.unwrap();
        assert_eq!(
            c.attachments,
            vec![AttachmentMeta {
                name: Some("leak.jpg".into()),
                content_type: "image/jpeg".into(),
                size: 13
            }]
        );
        let body = message_body(&c, Some("photo"));
        assert!(body.starts_with("see photo"), "{body}");
        assert!(body.contains("leak.jpg (image/jpeg, 13 B)"), "{body}");
    }
}
