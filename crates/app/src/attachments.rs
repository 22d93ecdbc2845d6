//! Ticket attachments (SPEC D2): photos of the fault, PDFs, videos, call recordings, office
//! documents. The bytes live in the files folder under their SHA-256
//! (`files/attachments/ab/abcdef…`): an upload is streamed to a temporary file while it is
//! hashed and counted, its type is read from the bytes (never from the name or the declared
//! type), and only an allowed type is kept — fsynced, renamed into place and the directory
//! fsynced BEFORE the row naming it is written, so an acknowledged upload survives a crash.
//! The same bytes twice are one file. A file whose row was never written (the transaction
//! failed after the bytes were kept) is an orphan that no page names; it is harmless and
//! `ticket_attachments.sha256` is indexed so a clean-up can tell orphans apart.
//!
//! Visibility is the ticket's: whoever reads the ticket reads its attachments, except that an
//! attachment of an internal note is shown only to the desk (never to dealers, brands or the
//! requester's status page).

use std::path::{Path, PathBuf};

use domain::ticket::Ticket;
use domain::{Permission, TicketId, Timestamp, UserId};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use store::Conn;
use store::tickets::{self, AttachmentRecord, NewAttachment, NewEvent};
use tokio::io::AsyncWriteExt;
use utoipa::ToSchema;

use crate::admin::audit_entry;
use crate::once::create_once;
use crate::{App, Created, Ctx, Error, Result};

/// Default largest file (`KEFU_MAX_ATTACHMENT_BYTES`).
pub const DEFAULT_MAX_BYTES: u64 = 20 * 1024 * 1024;
/// Longest file name kept (characters).
const NAME_MAX: usize = 120;
/// How much of the start of a file is kept for reading its type.
const HEAD: usize = 8192;

// ---------------------------------------------------------------- types

/// The types accepted, read from the bytes: (content type, what it is).
pub const ALLOWED: &[(&str, &str)] = &[
    ("image/jpeg", "JPEG"),
    ("image/png", "PNG"),
    ("image/webp", "WebP"),
    ("image/gif", "GIF"),
    ("image/heif", "HEIC/HEIF"),
    ("application/pdf", "PDF"),
    ("video/mp4", "MP4"),
    ("video/quicktime", "MOV"),
    ("audio/mpeg", "MP3"),
    ("audio/amr", "AMR"),
    ("audio/m4a", "M4A"),
    (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "xlsx",
    ),
    (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "docx",
    ),
    ("text/plain; charset=utf-8", "text"),
];

/// The content type of a file from its first bytes, if it is one we accept; otherwise what it
/// seems to be (for the refusal).
pub fn sniff(head: &[u8]) -> std::result::Result<&'static str, String> {
    use infer::{archive, audio, doc, image, video};
    type Check = (fn(&[u8]) -> bool, &'static str);
    let checks: &[Check] = &[
        (image::is_jpeg, "image/jpeg"),
        (image::is_png, "image/png"),
        (image::is_webp, "image/webp"),
        (image::is_gif, "image/gif"),
        (image::is_heif, "image/heif"),
        (archive::is_pdf, "application/pdf"),
        (audio::is_m4a, "audio/m4a"),
        (video::is_mov, "video/quicktime"),
        (video::is_mp4, "video/mp4"),
        (audio::is_amr, "audio/amr"),
        (audio::is_mp3, "audio/mpeg"),
        (
            doc::is_xlsx,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        (
            doc::is_docx,
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
    ];
    if let Some((_, ct)) = checks.iter().find(|(is, _)| is(head)) {
        return Ok(ct);
    }
    if let Some(t) = infer::get(head) {
        return Err(t.mime_type().to_string());
    }
    if is_text(head) {
        return Ok("text/plain; charset=utf-8");
    }
    Err("binary data of unknown type".to_string())
}

/// UTF-8 text without NULs or control characters other than tab, line breaks and form feed (a
/// character cut by the end of the head is fine).
fn is_text(head: &[u8]) -> bool {
    if head.is_empty() {
        return false;
    }
    let s = match std::str::from_utf8(head) {
        Ok(s) => s,
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or("")
        }
        Err(_) => return false,
    };
    !s.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t' | '\u{c}'))
}

/// Whether a type is shown inline (as an image on the ticket page) rather than downloaded.
pub fn is_image(content_type: &str) -> bool {
    matches!(
        content_type,
        "image/jpeg" | "image/png" | "image/webp" | "image/gif"
    )
}

fn refuse_type(found: &str) -> Error {
    let list = ALLOWED
        .iter()
        .map(|(_, what)| *what)
        .collect::<Vec<_>>()
        .join(", ");
    Error::UnsupportedMediaType(format!(
        "files of this type ({found}) are not accepted; send one of: {list}"
    ))
}

/// A file name as kept: the last path segment, without control or direction-changing
/// characters, without leading dots or spaces, at most 120 characters (the extension kept).
/// Nothing usable left → "file".
pub fn clean_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .filter(|c| {
            !c.is_control()
                && !matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
        })
        .map(|c| match c {
            '"' | '<' | '>' | ':' | '|' | '?' | '*' => '_',
            c => c,
        })
        .collect();
    let cleaned = cleaned.trim().trim_start_matches(['.', ' ']).to_string();
    let name = if cleaned.chars().count() > NAME_MAX {
        match cleaned.rsplit_once('.') {
            Some((stem, ext)) if !ext.is_empty() && ext.chars().count() <= 10 => {
                let keep = NAME_MAX - ext.chars().count() - 1;
                format!("{}.{ext}", stem.chars().take(keep).collect::<String>())
            }
            _ => cleaned.chars().take(NAME_MAX).collect(),
        }
    } else {
        cleaned
    };
    if name.is_empty() || name.chars().all(|c| c == '.') {
        "file".to_string()
    } else {
        name
    }
}

// ---------------------------------------------------------------- the bytes

fn root(app: &App) -> Result<PathBuf> {
    app.settings.files_dir.clone().ok_or_else(|| {
        Error::Conflict(
            "attachments need a files folder (kefu serve sets it from --data-dir)".into(),
        )
    })
}

fn blob_path(root: &Path, sha256: &str) -> PathBuf {
    root.join("attachments").join(&sha256[..2]).join(sha256)
}

async fn fsync_dir(dir: &Path) -> std::io::Result<()> {
    tokio::fs::File::open(dir).await?.sync_all().await
}

/// A file being received: written to a temporary file in the files folder, hashed and counted
/// as it arrives. Dropped before `finish`, the temporary file goes.
pub struct Upload {
    root: PathBuf,
    tmp: PathBuf,
    file: Option<tokio::fs::File>,
    hasher: Sha256,
    size: u64,
    limit: u64,
    head: Vec<u8>,
}

impl Upload {
    pub async fn begin(app: &App) -> Result<Self> {
        let root = root(app)?;
        let dir = root.join("tmp");
        tokio::fs::create_dir_all(&dir).await.map_err(Error::Io)?;
        let tmp = dir.join(format!(
            "upload-{}.part",
            crate::secret::digest(&crate::secret::random_token())
        ));
        let file = tokio::fs::File::create(&tmp).await.map_err(Error::Io)?;
        Ok(Self {
            root,
            tmp,
            file: Some(file),
            hasher: Sha256::new(),
            size: 0,
            limit: app.settings.max_attachment_bytes,
            head: Vec::new(),
        })
    }

    /// Adds bytes; past the size limit the upload is refused (and its file removed on drop).
    pub async fn write(&mut self, chunk: &[u8]) -> Result<()> {
        self.size += chunk.len() as u64;
        if self.size > self.limit {
            return Err(Error::PayloadTooLarge { limit: self.limit });
        }
        if self.head.len() < HEAD {
            let n = (HEAD - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..n]);
        }
        self.hasher.update(chunk);
        let file = self.file.as_mut().ok_or(Error::NotFound)?;
        file.write_all(chunk).await.map_err(Error::Io)
    }

    /// The whole file received and on disk (fsynced), with its type read from its bytes.
    pub async fn finish(mut self) -> Result<Staged> {
        let mut file = self.file.take().ok_or(Error::NotFound)?;
        file.flush().await.map_err(Error::Io)?;
        file.sync_all().await.map_err(Error::Io)?;
        drop(file);
        let sha256 = hex::encode(std::mem::take(&mut self.hasher).finalize());
        Ok(Staged {
            root: self.root.clone(),
            tmp: Some(std::mem::take(&mut self.tmp)),
            sha256,
            size: self.size,
            kind: sniff(&self.head),
        })
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// A received file not yet kept: its hash, size and type. Dropped without `keep`, the
/// temporary file goes and nothing is stored.
pub struct Staged {
    root: PathBuf,
    tmp: Option<PathBuf>,
    pub sha256: String,
    pub size: u64,
    /// The accepted content type, or what the bytes seem to be.
    pub kind: std::result::Result<&'static str, String>,
}

impl Staged {
    /// Stages bytes already in memory (a mail's part).
    pub async fn from_bytes(app: &App, bytes: &[u8]) -> Result<Self> {
        let mut up = Upload::begin(app).await?;
        up.write(bytes).await?;
        up.finish().await
    }

    /// The accepted content type, or the refusal.
    pub fn content_type(&self) -> Result<&'static str> {
        self.kind
            .as_ref()
            .copied()
            .map_err(|found| refuse_type(found))
    }

    /// Makes the bytes durable under their hash: the temporary file renamed into place (or
    /// dropped when the same bytes are already there) and the directories fsynced.
    async fn keep(mut self) -> Result<Kept> {
        let content_type = self.content_type()?;
        let tmp = self.tmp.take().ok_or(Error::NotFound)?;
        let to = blob_path(&self.root, &self.sha256);
        let dir = to.parent().map(Path::to_path_buf).unwrap_or_default();
        let fresh_dir = !tokio::fs::try_exists(&dir).await.map_err(Error::Io)?;
        tokio::fs::create_dir_all(&dir).await.map_err(Error::Io)?;
        if tokio::fs::try_exists(&to).await.map_err(Error::Io)? {
            let _ = tokio::fs::remove_file(&tmp).await;
        } else {
            tokio::fs::rename(&tmp, &to).await.map_err(Error::Io)?;
        }
        fsync_dir(&dir).await.map_err(Error::Io)?;
        if fresh_dir && let Some(parent) = dir.parent() {
            fsync_dir(parent).await.map_err(Error::Io)?;
        }
        Ok(Kept {
            sha256: self.sha256.clone(),
            size: i64::try_from(self.size).unwrap_or(i64::MAX),
            content_type,
        })
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(tmp) = &self.tmp {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// Bytes durable under their hash, ready to be named by a row.
#[derive(Debug, Clone)]
pub(crate) struct Kept {
    sha256: String,
    size: i64,
    content_type: &'static str,
}

// ---------------------------------------------------------------- views

/// An attachment as listed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttachmentView {
    pub id: i64,
    pub ticket_id: i64,
    /// The reply or note it came with.
    pub message_id: Option<i64>,
    pub file_name: String,
    /// Read from the bytes.
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    /// Who added it: a user's name, "requester" (status link) or a mail's sender.
    pub added_by: String,
    /// Whether it belongs to an internal note (shown to the desk only).
    pub internal: bool,
    pub created_at: String,
    /// Where to download it.
    pub url: String,
}

pub(crate) fn view(app: &App, a: AttachmentRecord) -> AttachmentView {
    AttachmentView {
        url: format!("/api/v1/attachments/{}", a.id),
        id: a.id,
        ticket_id: a.ticket_id,
        message_id: a.message_id,
        file_name: a.file_name,
        content_type: a.content_type,
        size: a.size,
        sha256: a.sha256,
        added_by: a
            .author_name
            .or(a.author_label)
            .unwrap_or_else(|| "system".into()),
        internal: a.internal != 0,
        created_at: Timestamp(a.created_at).rfc3339_in(app.settings.tz),
    }
}

/// A file to send back: what it is and where its bytes are.
#[derive(Debug, Clone)]
pub struct Download {
    pub view: AttachmentView,
    pub path: PathBuf,
}

// ---------------------------------------------------------------- use cases

/// The desk works tickets it sees; dealers and brands write to their own tickets (as
/// `tickets::add_message`).
fn may_write(ctx: &Ctx) -> Result<bool> {
    if ctx.can(Permission::TicketWork) {
        return Ok(true);
    }
    ctx.require(Permission::TicketConfirm)?;
    Ok(false)
}

/// Refuses before any byte is received: no right to write, or a ticket this user does not see.
pub async fn check_upload(app: &App, ctx: &Ctx, id: TicketId) -> Result<()> {
    may_write(ctx)?;
    let scope = ctx.scope.clone();
    app.db
        .read(move |c| Box::pin(async move { Ok::<_, Error>(tickets::get(c, &scope, id).await?) }))
        .await?;
    Ok(())
}

/// A file for a ticket, optionally with one of its messages.
pub struct NewUpload {
    pub file_name: String,
    pub message_id: Option<i64>,
    pub file: Staged,
}

impl NewUpload {
    /// What an Idempotency-Key is checked against: the bytes, the name and the message.
    pub fn fingerprint(&self) -> String {
        hex::encode(Sha256::digest(
            format!(
                "{}\n{}\n{:?}",
                self.file.sha256,
                clean_name(&self.file_name),
                self.message_id
            )
            .as_bytes(),
        ))
    }
}

/// Writes the row, the history line and the audit row for kept bytes; the ticket's
/// `updated_at` moves, its version does not.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn record(
    c: &mut Conn,
    t: &Ticket,
    kept: &Kept,
    file_name: &str,
    message_id: Option<i64>,
    internal: bool,
    by: Option<UserId>,
    label: Option<&str>,
    at: Timestamp,
) -> Result<i64> {
    let aid = tickets::insert_attachment(
        c,
        t,
        &NewAttachment {
            message_id,
            file_name,
            content_type: kept.content_type,
            size: kept.size,
            sha256: &kept.sha256,
            by,
            label,
            at,
        },
    )
    .await?;
    tickets::insert_event(
        c,
        &NewEvent {
            ticket_id: t.id(),
            brand_id: t.brand_id,
            at,
            actor_id: by,
            actor_label: label.map(|l| if by.is_none() && l != "requester" { "customer" } else { l }),
            event: "attachment",
            from: t.state.status,
            to: t.state.status,
            owner: t.state.owner,
            data: json!({ "attachment_id": aid, "file_name": file_name, "content_type": kept.content_type, "size": kept.size, "message_id": message_id, "internal": internal }),
        },
    )
    .await?;
    tickets::touch(c, t.id(), at).await?;
    Ok(aid)
}

/// Keeps an uploaded file on a ticket. The type must be allowed (`unsupported_media_type`),
/// the ticket visible and writable (`not_found`, `forbidden`); a message named must be the
/// ticket's (and, for dealers and brands, not an internal note). A retry with the same
/// Idempotency-Key answers with the first attachment.
pub async fn add(app: &App, ctx: &Ctx, id: TicketId, input: NewUpload) -> Result<Created<i64>> {
    let staff = may_write(ctx)?;
    input.file.content_type()?;
    let name = clean_name(&input.file_name);
    let message_id = input.message_id;
    let scope = ctx.scope.clone();
    // Before the bytes are kept: nothing lands on disk for a ticket this user cannot write to.
    let internal = app
        .db
        .read(move |c| {
            Box::pin(async move {
                tickets::get(c, &scope, id).await?;
                message_of(c, id, message_id, staff).await
            })
        })
        .await?;
    let kept = input.file.keep().await?;
    let scope = ctx.scope.clone();
    let me = ctx.actor.user_id();
    let now = ctx.now();
    let audit = audit_entry(ctx, "attach", "ticket");
    create_once(app, ctx, |x| x, move |c| {
        Box::pin(async move {
            let t = tickets::get(c, &scope, id).await?;
            let aid = record(c, &t, &kept, &name, message_id, internal, me, None, now).await?;
            audit
                .write(
                    c,
                    Some(t.id().0),
                    t.brand_id,
                    None,
                    Some(json!({ "attachment_id": aid, "file_name": name, "sha256": kept.sha256, "size": kept.size })),
                )
                .await?;
            Ok(aid)
        })
    })
    .await
}

/// Whether the message `message_id` of ticket `id` is an internal note; an unknown message, or
/// an internal one for someone outside the desk, is a field error.
async fn message_of(
    c: &mut Conn,
    id: TicketId,
    message_id: Option<i64>,
    staff: bool,
) -> Result<bool> {
    let Some(m) = message_id else {
        return Ok(false);
    };
    match tickets::message_visibility(c, id, m).await?.as_deref() {
        Some("internal") if staff => Ok(true),
        Some("internal") | None => {
            Err(Error::field("message_id", "no such message on this ticket"))
        }
        Some(_) => Ok(false),
    }
}

/// A ticket's attachments as this user may see them, oldest first.
pub async fn list(app: &App, ctx: &Ctx, id: TicketId) -> Result<Vec<AttachmentView>> {
    ctx.require(Permission::TicketRead)?;
    let scope = ctx.scope.clone();
    let internal = ctx.can(Permission::TicketWork);
    let rows = app
        .db
        .read(move |c| {
            Box::pin(async move {
                tickets::get(c, &scope, id).await?;
                Ok::<_, Error>(tickets::attachments(c, id, internal).await?)
            })
        })
        .await?;
    Ok(rows.into_iter().map(|a| view(app, a)).collect())
}

/// One attachment to download, if this user sees its ticket (and, outside the desk, it is not
/// an internal note's).
pub async fn open(app: &App, ctx: &Ctx, id: i64) -> Result<Download> {
    ctx.require(Permission::TicketRead)?;
    let scope = ctx.scope.clone();
    let internal = ctx.can(Permission::TicketWork);
    let a = app
        .db
        .read(move |c| {
            Box::pin(async move {
                let a = tickets::attachment(c, id).await?;
                tickets::get(c, &scope, TicketId(a.ticket_id)).await?;
                if a.internal != 0 && !internal {
                    return Err(Error::NotFound);
                }
                Ok::<_, Error>(a)
            })
        })
        .await?;
    download(app, a)
}

fn download(app: &App, a: AttachmentRecord) -> Result<Download> {
    let path = blob_path(&root(app)?, &a.sha256);
    Ok(Download {
        view: view(app, a),
        path,
    })
}

// ---------------------------------------------------------------- the requester's link

/// The attachments the requester sees through the status link (none of internal notes).
pub async fn public_list(app: &App, number: &str, key: &str) -> Result<Vec<AttachmentView>> {
    let (number, key) = (number.to_string(), key.to_string());
    let rows = app
        .db
        .read(move |c| {
            Box::pin(async move {
                let t = crate::tickets::by_link(c, &number, &key).await?;
                Ok::<_, Error>(tickets::attachments(c, t.id(), false).await?)
            })
        })
        .await?;
    Ok(rows.into_iter().map(|a| view(app, a)).collect())
}

/// Checks the status link before any byte is received.
pub async fn public_check(app: &App, number: &str, key: &str) -> Result<()> {
    let (number, key) = (number.to_string(), key.to_string());
    app.db
        .read(move |c| {
            Box::pin(async move {
                crate::tickets::by_link(c, &number, &key).await?;
                Ok::<_, Error>(())
            })
        })
        .await
}

/// The requester adds a file (a photo of the fault) through the status link.
pub async fn public_add(
    app: &App,
    now: Timestamp,
    number: &str,
    key: &str,
    file_name: &str,
    file: Staged,
) -> Result<i64> {
    file.content_type()?;
    public_check(app, number, key).await?;
    let name = clean_name(file_name);
    let kept = file.keep().await?;
    let (number, key) = (number.to_string(), key.to_string());
    app.db
        .write(move |c| {
            Box::pin(async move {
                let t = crate::tickets::by_link(c, &number, &key).await?;
                if matches!(
                    t.state.status,
                    domain::ticket::TicketStatus::Closed
                        | domain::ticket::TicketStatus::Merged
                        | domain::ticket::TicketStatus::Cancelled
                ) {
                    return Err(Error::Conflict("the ticket is closed".into()));
                }
                record(
                    c,
                    &t,
                    &kept,
                    &name,
                    None,
                    false,
                    None,
                    Some("requester"),
                    now,
                )
                .await
            })
        })
        .await
}

/// One attachment through the status link (none of internal notes).
pub async fn public_open(app: &App, number: &str, key: &str, id: i64) -> Result<Download> {
    let (number, key) = (number.to_string(), key.to_string());
    let a = app
        .db
        .read(move |c| {
            Box::pin(async move {
                let t = crate::tickets::by_link(c, &number, &key).await?;
                let a = tickets::attachment(c, id).await?;
                if a.ticket_id != t.id().0 || a.internal != 0 {
                    return Err(Error::NotFound);
                }
                Ok::<_, Error>(a)
            })
        })
        .await?;
    let mut d = download(app, a)?;
    d.view.url = String::new();
    Ok(d)
}

// ---------------------------------------------------------------- inbound mail

/// A mail's part to keep on its ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailPart {
    pub name: Option<String>,
    pub bytes: std::sync::Arc<Vec<u8>>,
}

/// Mail parts kept as files, and those refused with why.
#[derive(Debug, Clone, Default)]
pub(crate) struct MailFiles {
    pub kept: Vec<(String, Kept)>,
    pub refused: Vec<(String, String)>,
}

/// Keeps a threaded mail's parts under the same rules as uploads; a part too large or of a
/// type not accepted is refused (and noted on the ticket by the caller).
pub(crate) async fn keep_mail_parts(app: &App, parts: &[MailPart]) -> Result<MailFiles> {
    let mut out = MailFiles::default();
    if parts.is_empty() {
        return Ok(out);
    }
    let limit = app.settings.max_attachment_bytes;
    // Without a files folder attachments are off: the message still lists the parts by name.
    if app.settings.files_dir.is_none() {
        return Ok(out);
    }
    for p in parts {
        let name = clean_name(p.name.as_deref().unwrap_or(""));
        if p.bytes.len() as u64 > limit {
            out.refused
                .push((name, format!("larger than {limit} bytes")));
            continue;
        }
        let staged = Staged::from_bytes(app, &p.bytes).await?;
        match staged.content_type() {
            Ok(_) => out.kept.push((name, staged.keep().await?)),
            Err(e) => out.refused.push((name, e.to_string())),
        }
    }
    Ok(out)
}

/// Writes the rows for a mail's kept parts (with its message) and a history line for each
/// refused one.
pub(crate) async fn record_mail_parts(
    c: &mut Conn,
    t: &Ticket,
    files: &MailFiles,
    message_id: Option<i64>,
    sender: &str,
    at: Timestamp,
) -> Result<()> {
    for (name, kept) in &files.kept {
        record(c, t, kept, name, message_id, false, None, Some(sender), at).await?;
    }
    for (name, why) in &files.refused {
        tickets::insert_event(
            c,
            &NewEvent {
                ticket_id: t.id(),
                brand_id: t.brand_id,
                at,
                actor_id: None,
                actor_label: Some("customer"),
                event: "attachment_refused",
                from: t.state.status,
                to: t.state.status,
                owner: t.state.owner,
                data: json!({ "file_name": name, "reason": why, "message_id": message_id, "via": "email" }),
            },
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_paths_controls_and_length() {
        assert_eq!(clean_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_name("C:\\Users\\a\\故障照片.jpg"), "故障照片.jpg");
        assert_eq!(clean_name("a\u{202e}gpj.exe"), "agpj.exe");
        assert_eq!(clean_name("x\r\nSet-Cookie: y.png"), "xSet-Cookie_ y.png");
        assert_eq!(clean_name("..."), "file");
        assert_eq!(clean_name(""), "file");
        assert_eq!(clean_name(".htaccess"), "htaccess");
        let long = format!("{}.pdf", "长".repeat(300));
        let c = clean_name(&long);
        assert_eq!(c.chars().count(), NAME_MAX);
        assert_eq!(c.rsplit('.').next(), Some("pdf"));
    }

    #[test]
    fn types_come_from_the_bytes() {
        assert_eq!(sniff(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"), Ok("image/jpeg"));
        assert_eq!(sniff(b"%PDF-1.7\n%\xe2\xe3"), Ok("application/pdf"));
        assert_eq!(
            sniff("你好，空调不制冷\n".as_bytes()),
            Ok("text/plain; charset=utf-8")
        );
        assert!(sniff(b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00").is_err());
        assert!(sniff(b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff").is_err());
        assert!(sniff(b"\x00\x01\x02\x03").is_err());
        assert!(sniff(b"").is_err());
    }
}
