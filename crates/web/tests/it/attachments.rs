//! Ticket attachments over HTTP: multipart upload → list → download with the same bytes and
//! hash, deduplicated storage, Idempotency-Key retries, the refusals (413, 415, 404) that store
//! nothing, hostile names, scopes (another brand, a dealer and an internal note), a mail's
//! attachment landing on its ticket, and the ticket page's composer and the status page.

#![allow(clippy::many_single_char_names)] // k, r, t: the kit and its replies

use std::path::{Path, PathBuf};
use std::sync::Arc;

use app::notify::{EmailConfig, Secret};
use app::{App, Clock, Ctx, Settings, SystemClock};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use testkit::each_backend;
use tower::ServiceExt;
use web::AppState;

const LIMIT: u64 = 64 * 1024;
const BOUNDARY: &str = "----kefu-test-boundary-7MA4YWxk";

struct Site {
    router: Router,
    app: App,
    sys: Ctx,
    admin_token: String,
    files: PathBuf,
    _dir: testkit::TempDir,
}

struct Got {
    status: u16,
    headers: HeaderMap,
    bytes: Vec<u8>,
}

impl Got {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }
    fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

async fn site(db: store::Db) -> Site {
    let dir = testkit::TempDir::new().unwrap();
    let files = dir.path().join("files");
    let settings = Settings {
        files_dir: Some(files.clone()),
        max_attachment_bytes: LIMIT,
        // Our mail domain, for threading by the +T address (nothing is delivered here).
        email: Some(EmailConfig {
            smtp_url: Secret::new("smtp://127.0.0.1:9"),
            from: "客服中心 <service@kefu.test>".into(),
        }),
        ..Settings::default()
    };
    let app = App::new(db, Arc::new(web::assets::regions()), settings);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let sys = Ctx::system("test", clock.clone());
    let admin = app::admin::init_admin(&app, &sys, "admin", "secret-pass-1")
        .await
        .unwrap();
    app::admin::create_unit(
        &app,
        &sys,
        app::admin::UnitInput {
            parent_id: None,
            kind: "department".into(),
            function: Some("service".into()),
            code: "SVC".into(),
            name: "客服中心".into(),
            city_code: None,
            active: true,
        },
    )
    .await
    .unwrap();
    let admin_token = token_of(&app, &sys, admin, None).await;
    let router = web::router(AppState {
        app: app.clone(),
        clock,
        metrics: None,
        secure_cookies: false,
    });
    Site {
        router,
        app,
        sys,
        admin_token,
        files,
        _dir: dir,
    }
}

async fn ctx_of(app: &App, sys: &Ctx, id: domain::UserId) -> Ctx {
    let user = app::admin::user(app, sys, id).await.unwrap();
    app::auth::Principal::of_user(user, None).unwrap().ctx(
        sys.clock.clone(),
        String::new(),
        "zh-CN".into(),
    )
}

async fn token_of(
    app: &App,
    sys: &Ctx,
    user: domain::UserId,
    brand: Option<domain::BrandId>,
) -> String {
    let ctx = ctx_of(app, sys, user).await;
    let ctx = if brand.is_some() { sys.clone() } else { ctx };
    let ctx = Ctx {
        actor: app::Actor::User {
            id: user,
            login: "t".into(),
            name: "t".into(),
        },
        ..ctx
    };
    app::auth::create_token(app, &ctx, "tests", brand)
        .await
        .unwrap()
        .1
}

/// A multipart body: (field, file name, bytes) in order.
fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut b = Vec::new();
    for (name, file, bytes) in parts {
        b.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match file {
            Some(f) => b.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: image/jpeg\r\n\r\n").as_bytes(),
            ),
            None => b.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        b.extend_from_slice(bytes);
        b.extend_from_slice(b"\r\n");
    }
    b.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    b
}

impl Site {
    async fn send(&self, req: Request<Body>) -> Got {
        let r = self.router.clone().oneshot(req).await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let bytes = r.into_body().collect().await.unwrap().to_bytes().to_vec();
        Got {
            status,
            headers,
            bytes,
        }
    }

    async fn get(&self, token: &str, path: &str) -> Got {
        self.send(
            Request::get(path)
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    async fn json(&self, token: &str, path: &str, body: &Value) -> Got {
        self.send(
            Request::post(path)
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
    }

    async fn upload(
        &self,
        token: &str,
        ticket: i64,
        key: Option<&str>,
        parts: &[(&str, Option<&str>, &[u8])],
    ) -> Got {
        let mut req = Request::post(format!("/api/v1/tickets/{ticket}/attachments"))
            .header("authorization", format!("Bearer {token}"))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            );
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        self.send(req.body(Body::from(multipart(parts))).unwrap())
            .await
    }

    fn blobs(&self) -> Vec<PathBuf> {
        files_under(&self.files.join("attachments"))
    }
}

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

#[tokio::test]
async fn attachments_over_http_upload_list_download_and_refusals() {
    Box::pin(each_backend(|db, which| async move {
        let s = site(db).await;
        let admin = s.admin_token.clone();
        let r = s
            .json(&admin, "/api/v1/tickets", &json!({"kind": "repair_request", "subject": "洗衣机漏水", "phone": "13700001111", "contact_email": "wang@example.cn"}))
            .await;
        assert_eq!(r.status, 201, "{which:?}: {}", r.json());
        let tid = r.json()["id"].as_i64().unwrap();
        let number = r.json()["number"].as_str().unwrap().to_string();
        let version = s.get(&admin, &format!("/api/v1/tickets/{tid}")).await.json()["version"].clone();

        // Upload with a hostile name and an Idempotency-Key.
        let photo = jpeg(7, 5000);
        let parts: &[(&str, Option<&str>, &[u8])] = &[("file", Some("../../故障 照片.jpg"), &photo)];
        let up = s.upload(&admin, tid, Some("up-1"), parts).await;
        assert_eq!(up.status, 201, "{which:?}: {}", up.json());
        let a = up.json();
        let aid = a["id"].as_i64().unwrap();
        assert_eq!(a["file_name"], "故障 照片.jpg", "{which:?}");
        assert_eq!(a["content_type"], "image/jpeg");
        assert_eq!(a["size"], photo.len());
        assert_eq!(a["sha256"], sha(&photo));
        assert_eq!(a["url"], format!("/api/v1/attachments/{aid}"));
        // The retry: the same attachment, marked as a replay; no second row.
        let again = s.upload(&admin, tid, Some("up-1"), parts).await;
        assert_eq!((again.status, again.json()["id"].as_i64()), (201, Some(aid)));
        assert_eq!(again.header("idempotent-replayed"), "true");
        // The same bytes without a key: a new row, still one file.
        let second = s.upload(&admin, tid, None, &[("file", Some("copy.jpg"), &photo)]).await;
        assert_eq!(second.status, 201);
        assert_ne!(second.json()["id"].as_i64(), Some(aid));
        assert_eq!(s.blobs().len(), 1, "{which:?}: same bytes, one file");

        let list = s.get(&admin, &format!("/api/v1/tickets/{tid}/attachments")).await;
        assert_eq!(list.status, 200);
        assert_eq!(list.json().as_array().map(Vec::len), Some(2));

        // Download: the same bytes, a safe disposition, nosniff.
        let d = s.get(&admin, &format!("/api/v1/attachments/{aid}")).await;
        assert_eq!(d.status, 200);
        assert_eq!(sha(&d.bytes), sha(&photo));
        assert_eq!(d.bytes, photo);
        assert_eq!(d.header("content-type"), "image/jpeg");
        assert_eq!(
            d.header("content-disposition"),
            "attachment; filename=\"__ __.jpg\"; filename*=UTF-8''%E6%95%85%E9%9A%9C%20%E7%85%A7%E7%89%87.jpg"
        );
        assert_eq!(d.header("x-content-type-options"), "nosniff");
        let inline = s.get(&admin, &format!("/api/v1/attachments/{aid}?inline=true")).await;
        assert!(inline.header("content-disposition").starts_with("inline;"));

        // The ticket shows it in its history, with the same version.
        let t = s.get(&admin, &format!("/api/v1/tickets/{tid}")).await.json();
        assert_eq!(t["version"], version, "{which:?}: an attachment is no new version");
        assert_eq!(t["attachments"].as_array().map(Vec::len), Some(2));
        let events: Vec<&str> = t["history"].as_array().unwrap().iter().filter_map(|h| h["event"].as_str()).collect();
        assert_eq!(events.iter().filter(|e| **e == "attachment").count(), 2);

        // Refusals store nothing: too large, a disguised executable, no file, an unknown ticket.
        let blobs = s.blobs().len();
        let big = jpeg(1, 70 * 1024);
        let r = s.upload(&admin, tid, None, &[("file", Some("big.jpg"), &big)]).await;
        assert_eq!((r.status, r.code().as_str()), (413, "payload_too_large"), "{which:?}");
        let r = s.upload(&admin, tid, None, &[("file", Some("照片.jpg"), &elf())]).await;
        assert_eq!((r.status, r.code().as_str()), (415, "unsupported_media_type"));
        let r = s.upload(&admin, tid, None, &[("message_id", None, b"")]).await;
        assert_eq!((r.status, r.code().as_str()), (422, "validation"));
        let r = s.upload(&admin, 987_654, None, &[("file", Some("a.jpg"), &jpeg(2, 10))]).await;
        assert_eq!((r.status, r.code().as_str()), (404, "not_found"));
        assert_eq!(s.blobs().len(), blobs);
        assert!(files_under(&s.files.join("tmp")).is_empty(), "no temporary file left");
        let list = s.get(&admin, &format!("/api/v1/tickets/{tid}/attachments")).await;
        assert_eq!(list.json().as_array().map(Vec::len), Some(2));
        // A body declared larger than the limit is refused before it is read.
        let r = s
            .send(
                Request::post(format!("/api/v1/tickets/{tid}/attachments"))
                    .header("authorization", format!("Bearer {admin}"))
                    .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
                    .header("content-length", (LIMIT + 1024 * 1024).to_string())
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, 413);

        // Another brand's token sees nothing of it.
        let brand = app::admin::create_brand(&s.app, &s.sys, "b", "乙品牌", "standard").await.unwrap();
        let admin_id = app::admin::users(&s.app, &s.sys).await.unwrap()[0].id;
        let other = token_of(&s.app, &s.sys, admin_id, Some(brand)).await;
        let r = s.upload(&other, tid, None, &[("file", Some("a.jpg"), &jpeg(2, 10))]).await;
        assert_eq!((r.status, r.code().as_str()), (404, "not_found"), "{which:?}");
        assert_eq!(s.get(&other, &format!("/api/v1/tickets/{tid}/attachments")).await.status, 404);
        assert_eq!(s.get(&other, &format!("/api/v1/attachments/{aid}")).await.status, 404);
        assert_eq!(s.blobs().len(), blobs);

        // A dealer's own ticket: the desk's internal note's file stays with the desk.
        let dealer = app::ledger::create_customer(
            &s.app,
            &s.sys,
            app::ledger::CustomerInput {
                kind: "dealer".into(),
                name: "杭州好家居经销部".into(),
                phone: Some("0571-8765-4321".into()),
                ..app::ledger::CustomerInput::default()
            },
        )
        .await
        .unwrap()
        .id;
        let dealer_user = app::admin::create_user(
            &s.app,
            &s.sys,
            app::admin::UserInput {
                login: "dealer.hj".into(),
                display_name: "好家居".into(),
                roles: vec!["dealer_user".into()],
                dealer_id: Some(dealer.0),
                password: Some("password-123".into()),
                active: true,
                ..app::admin::UserInput::default()
            },
        )
        .await
        .unwrap();
        let dealer_token = token_of(&s.app, &s.sys, dealer_user, None).await;
        let r = s
            .json(&dealer_token, "/api/v1/tickets", &json!({"kind": "repair_request", "subject": "门板开裂", "phone": "13900002222"}))
            .await;
        assert_eq!(r.status, 201, "{which:?}: {}", r.json());
        let dt = r.json()["id"].as_i64().unwrap();
        let r = s.upload(&dealer_token, dt, None, &[("file", Some("门板.jpg"), &jpeg(4, 300))]).await;
        assert_eq!(r.status, 201, "{which:?}: the dealer adds a photo to its own ticket: {}", r.json());
        let note = s
            .json(&admin, &format!("/api/v1/tickets/{dt}/messages"), &json!({"body": "内部：质检照片", "internal": true}))
            .await;
        let mid = note.json()["id"].as_i64().unwrap();
        let inner = s
            .upload(&admin, dt, None, &[("message_id", None, mid.to_string().as_bytes()), ("file", Some("质检.jpg"), &jpeg(6, 300))])
            .await;
        assert_eq!(inner.status, 201, "{}", inner.json());
        assert_eq!(inner.json()["internal"], true);
        let iid = inner.json()["id"].as_i64().unwrap();
        let seen = s.get(&dealer_token, &format!("/api/v1/tickets/{dt}/attachments")).await.json();
        let ids: Vec<i64> = seen.as_array().unwrap().iter().filter_map(|a| a["id"].as_i64()).collect();
        assert_eq!(ids.len(), 1, "{which:?}: {seen}");
        assert!(!ids.contains(&iid));
        assert_eq!(s.get(&dealer_token, &format!("/api/v1/attachments/{iid}")).await.status, 404);
        let desk = s.get(&admin, &format!("/api/v1/tickets/{dt}/attachments")).await.json();
        assert_eq!(desk.as_array().map(Vec::len), Some(2));
        // The dealer cannot reach the admin's ticket either.
        assert_eq!(s.get(&dealer_token, &format!("/api/v1/attachments/{aid}")).await.status, 404);

        // A mail answering the ticket: its photo lands on the ticket, an executable is noted.
        let mail_photo = jpeg(8, 1200);
        let b64 = |b: &[u8]| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(b)
        };
        let raw = format!(
            "From: 王先生 <wang@example.cn>\r\nTo: service+T{number}@kefu.test\r\nSubject: 补充照片\r\nMessage-ID: <photo-1@mail.example.cn>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"zz\"\r\n\r\n--zz\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n漏水位置见照片。\r\n--zz\r\nContent-Type: image/jpeg; name=\"leak.jpg\"\r\nContent-Disposition: attachment; filename=\"leak.jpg\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--zz\r\nContent-Type: image/jpeg; name=\"virus.jpg\"\r\nContent-Disposition: attachment; filename=\"virus.jpg\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--zz--\r\n",
            b64(&mail_photo),
            b64(&elf())
        );
        let r = s
            .send(
                Request::post("/api/v1/inbound/email")
                    .header("authorization", format!("Bearer {admin}"))
                    .header("content-type", "message/rfc822")
                    .body(Body::from(raw))
                    .unwrap(),
            )
            .await;
        assert_eq!((r.status, r.json()["status"].as_str()), (201, Some("threaded")), "{which:?}: {}", r.json());
        let t = s.get(&admin, &format!("/api/v1/tickets/{tid}")).await.json();
        let from_mail = t["attachments"].as_array().unwrap().iter().find(|a| a["file_name"] == "leak.jpg").cloned().expect("the mail's photo is on the ticket");
        assert_eq!(from_mail["sha256"], sha(&mail_photo), "{which:?}");
        assert_eq!(from_mail["added_by"], "王先生 <wang@example.cn>");
        let last_msg = t["messages"].as_array().unwrap().last().unwrap()["id"].clone();
        assert_eq!(from_mail["message_id"], last_msg);
        assert!(t["attachments"].as_array().unwrap().iter().all(|a| a["file_name"] != "virus.jpg"));
        let refused = t["history"].as_array().unwrap().iter().find(|h| h["event"] == "attachment_refused").expect("the refused part is noted");
        assert_eq!(refused["data"]["file_name"], "virus.jpg");
        let d = s.get(&admin, from_mail["url"].as_str().unwrap()).await;
        assert_eq!(d.bytes, mail_photo);
    }))
    .await;
}

/// Signs in through the login form; returns the session cookie and the CSRF token of `page`.
async fn browser(s: &Site, page: &str) -> (String, String) {
    let r = s
        .send(
            Request::post("/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(
                    "login=admin&password=secret-pass-1&next=%2Ftickets",
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, 303);
    let cookie = r
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("kefu_session="))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_string();
    let html = s.page(&cookie, page).await.1;
    let at = html.find("name=\"_csrf\" value=\"").expect("a CSRF field") + 20;
    let csrf = html[at..at + html[at..].find('"').unwrap()].to_string();
    (cookie, csrf)
}

impl Site {
    async fn page(&self, cookie: &str, path: &str) -> (u16, String) {
        let r = self
            .send(
                Request::get(path)
                    .header(header::COOKIE, cookie)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        (r.status, String::from_utf8_lossy(&r.bytes).into_owned())
    }

    async fn form(
        &self,
        cookie: Option<&str>,
        path: &str,
        parts: &[(&str, Option<&str>, &[u8])],
    ) -> Got {
        let mut req = Request::post(path)
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .header(header::ACCEPT, "text/html");
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        self.send(req.body(Body::from(multipart(parts))).unwrap())
            .await
    }
}

#[tokio::test]
async fn the_ticket_page_and_the_status_page_take_files() {
    Box::pin(each_backend(|db, which| async move {
        let s = site(db).await;
        let admin = s.admin_token.clone();
        let r = s
            .json(&admin, "/api/v1/tickets", &json!({"kind": "repair_request", "subject": "热水器不点火", "phone": "13700003333"}))
            .await;
        let tid = r.json()["id"].as_i64().unwrap();
        let page = format!("/tickets/{tid}");
        let (cookie, csrf) = browser(&s, &page).await;
        let (_, html) = s.page(&cookie, &page).await;
        assert!(html.contains("id=\"attachments\""), "{which:?}");
        assert!(html.contains("enctype=\"multipart/form-data\""));

        // A reply with a photo: the CSRF token is the form's first field.
        let photo = jpeg(21, 3000);
        let r = s
            .form(Some(&cookie), &format!("{page}/messages"), &[
                ("_csrf", None, csrf.as_bytes()),
                ("body", None, "请看照片".as_bytes()),
                ("internal", None, b""),
                ("file", Some("热水器.jpg"), &photo),
            ])
            .await;
        assert_eq!(r.status, 303, "{which:?}: {}", String::from_utf8_lossy(&r.bytes));
        assert!(r.header("location").contains("flash=ticket_replied"));
        let (_, html) = s.page(&cookie, &page).await;
        assert!(html.contains("热水器.jpg"), "{which:?}");
        let list = s.get(&admin, &format!("/api/v1/tickets/{tid}/attachments")).await.json();
        let aid = list[0]["id"].as_i64().unwrap();
        assert!(list[0]["message_id"].as_i64().is_some(), "the file came with the reply");
        assert!(html.contains(&format!("<img src=\"/api/v1/attachments/{aid}?inline=true\"")));

        // Without the token first, or with an executable: refused, nothing added.
        let r = s
            .form(Some(&cookie), &format!("{page}/messages"), &[
                ("body", None, "x".as_bytes()),
                ("_csrf", None, csrf.as_bytes()),
                ("file", Some("x.jpg"), &photo),
            ])
            .await;
        assert_eq!(r.status, 403, "{which:?}");
        let r = s
            .form(Some(&cookie), &format!("{page}/messages"), &[
                ("_csrf", None, csrf.as_bytes()),
                ("body", None, "病毒".as_bytes()),
                ("file", Some("photo.jpg"), &elf()),
            ])
            .await;
        // The page again, the refusal next to the file field.
        assert_eq!(r.status, 422, "{which:?}");
        assert!(String::from_utf8_lossy(&r.bytes).contains("不支持这种文件"));
        let list = s.get(&admin, &format!("/api/v1/tickets/{tid}/attachments")).await.json();
        assert_eq!(list.as_array().map(Vec::len), Some(1));
        let t = s.get(&admin, &format!("/api/v1/tickets/{tid}")).await.json();
        assert!(t["messages"].as_array().unwrap().iter().all(|m| m["body"] != "病毒"), "the message was not sent either");

        // The requester adds a photo through the status link; a forged key stores nothing.
        let link = s.json(&admin, &format!("/api/v1/tickets/{tid}/status-link"), &json!({})).await.json()["link"]
            .as_str()
            .unwrap()
            .to_string();
        let (path, key) = link.split_once("?k=").unwrap();
        let shot = jpeg(33, 900);
        let blobs = s.blobs().len();
        let r = s.form(None, &format!("{path}/files?k=forged"), &[("file", Some("a.jpg"), &shot)]).await;
        assert_eq!(r.status, 404);
        assert_eq!(s.blobs().len(), blobs);
        let r = s.form(None, &format!("{path}/files?k={key}"), &[("file", Some("铭牌.jpg"), &shot)]).await;
        assert_eq!(r.status, 303, "{which:?}: {}", String::from_utf8_lossy(&r.bytes));
        assert!(r.header("location").contains("done=file"));
        let (status, html) = s.page("", &format!("{path}?k={key}")).await;
        assert_eq!(status, 200);
        assert!(html.contains("铭牌.jpg") && html.contains("热水器.jpg"), "{which:?}");
        let number = path.trim_start_matches("/t/");
        let mine = s.get(&admin, &format!("/api/v1/tickets/{tid}/attachments")).await.json();
        let pid = mine.as_array().unwrap().iter().find(|a| a["file_name"] == "铭牌.jpg").unwrap()["id"].as_i64().unwrap();
        assert_eq!(mine.as_array().unwrap().iter().find(|a| a["id"] == pid).unwrap()["added_by"], "requester");
        let d = s.send(Request::get(format!("/t/{number}/files/{pid}?k={key}")).body(Body::empty()).unwrap()).await;
        assert_eq!((d.status, d.bytes == shot), (200, true));
        assert!(d.header("content-disposition").starts_with("attachment;"));
        let d = s.send(Request::get(format!("/t/{number}/files/{pid}?k=forged")).body(Body::empty()).unwrap()).await;
        assert_eq!(d.status, 404);
    }))
    .await;
}
