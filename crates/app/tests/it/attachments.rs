//! Ticket attachments as their users see them: a file kept under its SHA-256 (once for the same
//! bytes), retries that never duplicate, refusals that store nothing, names made harmless, and
//! the ticket's visibility — internal notes' files stay with the desk.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use app::attachments::{self, NewUpload, Staged, Upload};
use app::ledger::CustomerInput;
use app::tickets::{self, MessageInput, TicketInput};
use app::{App, Ctx, IdemKey, Settings};
use domain::TicketId;
use sha2::{Digest, Sha256};
use testkit::each_backend;

use crate::{World, individual};

const LIMIT: u64 = 64 * 1024;

/// A JPEG's signature followed by `n` bytes of `fill`.
fn jpeg(fill: u8, n: usize) -> Vec<u8> {
    let mut b = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00".to_vec();
    b.extend(std::iter::repeat_n(fill, n));
    b.extend_from_slice(b"\xff\xd9");
    b
}

fn elf() -> Vec<u8> {
    let mut b = b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00".to_vec();
    b.extend(std::iter::repeat_n(0x90, 400));
    b
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

async fn stage(app: &App, bytes: &[u8]) -> Staged {
    let mut up = Upload::begin(app).await.expect("begin");
    // In pieces, as a body arrives.
    for chunk in bytes.chunks(1000) {
        up.write(chunk).await.expect("write");
    }
    up.finish().await.expect("finish")
}

async fn upload(
    app: &App,
    ctx: &Ctx,
    id: TicketId,
    name: &str,
    bytes: &[u8],
    message_id: Option<i64>,
) -> Result<app::Created<i64>, app::Error> {
    let file = stage(app, bytes).await;
    attachments::add(
        app,
        ctx,
        id,
        NewUpload {
            file_name: name.into(),
            message_id,
            file,
        },
    )
    .await
}

#[tokio::test]
async fn files_are_kept_once_by_content_and_seen_like_their_ticket() {
    Box::pin(each_backend(|db, which| async move {
        let dir = testkit::TempDir::new().unwrap();
        let files = dir.path().join("files");
        let mut w = World::new(db, which);
        w.app = App::new(
            w.app.db.clone(),
            Arc::new(testkit::regions()),
            Settings {
                files_dir: Some(files.clone()),
                max_attachment_bytes: LIMIT,
                ..Settings::default()
            },
        );
        w.department("SVC", "客服中心", "service").await;
        let brand_b = w.brand("b", "乙品牌").await;
        let agent = w.user("agent.li", &["agent"]).await;
        let dealer = w
            .customer(
                &w.sys,
                CustomerInput {
                    kind: "dealer".into(),
                    name: "杭州好家居经销部".into(),
                    phone: Some("0571-8765-4321".into()),
                    ..CustomerInput::default()
                },
            )
            .await;
        let end = w
            .customer(
                &w.sys,
                CustomerInput {
                    dealer_id: Some(dealer.0),
                    ..individual("李女士", "13900001111")
                },
            )
            .await;
        let dealer_user = w
            .user_linked("dealer.hj", &["dealer_user"], None, Some(dealer))
            .await;
        let other_brand = w
            .user_linked("brand.b", &["brand_user"], Some(brand_b), None)
            .await;
        let made = tickets::create(
            &w.app,
            &dealer_user,
            TicketInput {
                kind: "repair_request".into(),
                subject: "洗衣机漏水".into(),
                customer_id: Some(end.0),
                ..TicketInput::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{which:?}: {e}"));
        let id = TicketId(made.id);
        let before = tickets::get(&w.app, &agent, id).await.unwrap();
        w.clock.advance_ms(60_000);

        // The desk adds a photo with a hostile name: kept under its hash, the name made harmless.
        let photo = jpeg(7, 5000);
        let a1 = upload(
            &w.app,
            &agent,
            id,
            "../../故障\u{202e}照片\r\n.jpg",
            &photo,
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("{which:?}: {} {e}", e.code()));
        let list = attachments::list(&w.app, &agent, id).await.unwrap();
        assert_eq!(list.len(), 1);
        let a = &list[0];
        assert_eq!(a.id, a1.id);
        assert_eq!(a.file_name, "故障照片.jpg", "{which:?}");
        assert_eq!(a.content_type, "image/jpeg");
        assert_eq!(a.size, i64::try_from(photo.len()).unwrap());
        assert_eq!(a.sha256, sha(&photo));
        assert_eq!(a.added_by, "agent.li 的名字");
        let d = attachments::open(&w.app, &agent, a1.id).await.unwrap();
        assert_eq!(
            d.path,
            files
                .join("attachments")
                .join(&a.sha256[..2])
                .join(&a.sha256)
        );
        assert_eq!(
            std::fs::read(&d.path).unwrap(),
            photo,
            "the bytes read back"
        );
        // History says so; the ticket moved on without a new version (an open edit stays valid).
        let after = tickets::get(&w.app, &agent, id).await.unwrap();
        assert_eq!(after.summary.version, before.summary.version, "{which:?}");
        assert!(after.summary.updated_at > before.summary.updated_at);
        let ev = after.history.last().unwrap();
        assert_eq!(ev.event, "attachment");
        assert_eq!(ev.data["file_name"], "故障照片.jpg");
        assert_eq!(after.attachments.len(), 1);

        // The dealer sends the same photo under another name: a second row, one file.
        upload(&w.app, &dealer_user, id, "IMG_0001.JPG", &photo, None)
            .await
            .unwrap();
        assert_eq!(
            files_under(&files.join("attachments")).len(),
            1,
            "same bytes, one file"
        );
        assert_eq!(
            attachments::list(&w.app, &dealer_user, id)
                .await
                .unwrap()
                .len(),
            2
        );

        // A retry with the same Idempotency-Key: the first attachment, no new row.
        let video = {
            let mut v = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom".to_vec();
            v.extend(std::iter::repeat_n(1u8, 3000));
            v
        };
        let keyed = |body_hash: String| {
            agent.clone().with_idem(Some(IdemKey {
                principal: "user:agent".into(),
                route: format!("POST /tickets/{}/attachments", id.0),
                key: "retry-1".into(),
                body_hash,
            }))
        };
        let mut ids = Vec::new();
        for _ in 0..2 {
            let file = stage(&w.app, &video).await;
            let input = NewUpload {
                file_name: "现场.mp4".into(),
                message_id: None,
                file,
            };
            let ctx = keyed(input.fingerprint());
            ids.push(attachments::add(&w.app, &ctx, id, input).await.unwrap());
        }
        assert_eq!(
            ids[0].id, ids[1].id,
            "{which:?}: a retry answers with the first"
        );
        assert!(!ids[0].replayed && ids[1].replayed);
        let list = attachments::list(&w.app, &agent, id).await.unwrap();
        assert_eq!(list.len(), 3);
        assert_eq!(list[2].content_type, "video/mp4");
        let blobs = files_under(&files.join("attachments")).len();

        // Too large: refused while it arrives; nothing kept, not even the temporary file.
        let mut up = Upload::begin(&w.app).await.unwrap();
        let big = jpeg(9, 10_000);
        let mut refused = None;
        for _ in 0..10 {
            if let Err(e) = up.write(&big).await {
                refused = Some(e);
                break;
            }
        }
        assert_eq!(refused.map(|e| e.code()), Some("payload_too_large"));
        drop(up);
        // A disguised executable (ELF or PE bytes named .jpg): refused, nothing kept.
        let r = upload(&w.app, &agent, id, "照片.jpg", &elf(), None).await;
        assert_eq!(app_code(&r), "unsupported_media_type", "{which:?}");
        let mut pe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00".to_vec();
        pe.extend(std::iter::repeat_n(0u8, 200));
        let r = upload(&w.app, &dealer_user, id, "invoice.pdf", &pe, None).await;
        assert_eq!(app_code(&r), "unsupported_media_type");
        assert_eq!(files_under(&files.join("attachments")).len(), blobs);
        assert!(
            files_under(&files.join("tmp")).is_empty(),
            "no temporary file left"
        );
        assert_eq!(
            attachments::list(&w.app, &agent, id).await.unwrap().len(),
            3
        );

        // An unknown ticket, another brand's user: not found, nothing written.
        let other = jpeg(3, 100);
        assert_eq!(
            app_code(&attachments::check_upload(&w.app, &agent, TicketId(987_654)).await),
            "not_found"
        );
        let r = upload(&w.app, &agent, TicketId(987_654), "x.jpg", &other, None).await;
        assert_eq!(app_code(&r), "not_found");
        let r = upload(&w.app, &other_brand, id, "x.jpg", &other, None).await;
        assert_eq!(app_code(&r), "not_found", "{which:?}");
        assert_eq!(files_under(&files.join("attachments")).len(), blobs);
        assert_eq!(
            app_code(&attachments::list(&w.app, &other_brand, id).await),
            "not_found"
        );
        assert_eq!(
            app_code(&attachments::open(&w.app, &other_brand, a1.id).await),
            "not_found"
        );

        // An internal note's file: the desk sees it, the dealer and the status page never do.
        let note = tickets::add_message(
            &w.app,
            &agent,
            id,
            MessageInput {
                body: "铭牌照片，供质量部判断".into(),
                internal: true,
            },
        )
        .await
        .unwrap()
        .id;
        let secret = jpeg(5, 2000);
        let inner = upload(&w.app, &agent, id, "铭牌.jpg", &secret, Some(note))
            .await
            .unwrap();
        let desk_list = attachments::list(&w.app, &agent, id).await.unwrap();
        assert!(desk_list.iter().any(|a| a.id == inner.id && a.internal));
        let dealer_list = attachments::list(&w.app, &dealer_user, id).await.unwrap();
        assert!(
            dealer_list.iter().all(|a| a.id != inner.id),
            "{which:?}: the dealer does not see the note's file"
        );
        assert_eq!(
            app_code(&attachments::open(&w.app, &dealer_user, inner.id).await),
            "not_found"
        );
        let seen = tickets::get(&w.app, &dealer_user, id).await.unwrap();
        assert!(seen.attachments.iter().all(|a| a.id != inner.id));
        assert!(
            seen.history
                .iter()
                .all(|h| h.data["attachment_id"].as_i64() != Some(inner.id)),
            "nor its history line"
        );
        // The dealer cannot hang a file on the note either.
        let r = upload(&w.app, &dealer_user, id, "x.jpg", &other, Some(note)).await;
        assert_eq!(app_code(&r), "validation");

        // The requester's link: its files without the note's, and a photo of their own.
        let link = made.status_link.clone().unwrap();
        let (path, key) = link.split_once("?k=").unwrap();
        let number = path.trim_start_matches("/t/");
        let public = attachments::public_list(&w.app, number, key).await.unwrap();
        assert_eq!(public.len(), 3);
        assert!(public.iter().all(|a| a.id != inner.id));
        let shot = jpeg(11, 800);
        let pid = attachments::public_add(
            &w.app,
            app::Clock::now(w.clock.as_ref()),
            number,
            key,
            "IMG_2024.jpg",
            stage(&w.app, &shot).await,
        )
        .await
        .unwrap();
        let view = tickets::public_view(&w.app, number, key).await.unwrap();
        let mine = view.attachments.iter().find(|a| a.id == pid).unwrap();
        assert_eq!(mine.added_by, "requester");
        assert!(mine.url.starts_with(&format!("/t/{number}/files/{pid}?k=")));
        assert_eq!(
            app_code(&attachments::public_open(&w.app, number, key, inner.id).await),
            "not_found"
        );
        assert_eq!(
            app_code(&attachments::public_open(&w.app, number, "forged", pid).await),
            "not_found"
        );
        let d = attachments::public_open(&w.app, number, key, pid)
            .await
            .unwrap();
        assert_eq!(std::fs::read(d.path).unwrap(), shot);
    }))
    .await;
}

fn app_code<T>(r: &Result<T, app::Error>) -> &'static str {
    crate::code(r)
}
