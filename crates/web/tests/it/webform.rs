//! The public request form `/help/{brand}` and its JSON twin over HTTP, without signing in: a
//! submission makes a ticket (channel `web_form`) and a customer, a second one from the same phone
//! lands on the open ticket, replays answer with the first result, and forged, stale, machine
//! filled or too frequent submissions are refused without writing anything. Links that leave the
//! system are absolute once the public address is set; an agent's survey goes out by SMS.

use std::collections::BTreeMap;
use std::sync::Arc;

use app::admin::UnitInput;
use app::{App, Clock, Ctx, FixedClock, Settings};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use domain::{Scope, Timestamp};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use store::outbox::{Channel, OutboxQuery};
use testkit::each_backend;
use tower::ServiceExt;
use web::AppState;

const PUBLIC_URL: &str = "https://kefu.example.com";
const WECHAT_UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.44(0x18002c2f) NetType/WIFI Language/zh_CN";

struct Site {
    router: Router,
    app: App,
    clock: Arc<FixedClock>,
    token: String,
}

/// A router with the public address and SMS templates set, an admin (API token), a service
/// department and the brand ACME.
async fn site(db: store::Db) -> Site {
    let settings = Settings {
        public_url: Some(PUBLIC_URL.into()),
        sms_templates: BTreeMap::from([
            ("ticket.received".to_string(), "SMS_100001".to_string()),
            ("survey.invite".to_string(), "SMS_100009".to_string()),
        ]),
        ..Settings::default()
    };
    let app = App::new(db, Arc::new(web::assets::regions()), settings);
    let clock = Arc::new(FixedClock::at(Timestamp(1_795_395_600_000)));
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let sys = Ctx::system("test", dyn_clock.clone());
    let admin = app::admin::init_admin(&app, &sys, "admin", "secret-pass-1")
        .await
        .unwrap();
    let user = app::admin::user(&app, &sys, admin).await.unwrap();
    let ctx = app::auth::Principal::of_user(user, None).unwrap().ctx(
        dyn_clock.clone(),
        String::new(),
        "zh-CN".into(),
    );
    let (_, token) = app::auth::create_token(&app, &ctx, "tests", None)
        .await
        .unwrap();
    app::admin::create_unit(
        &app,
        &sys,
        UnitInput {
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
    app::admin::create_brand(&app, &sys, "acme", "艾可美净水", "standard")
        .await
        .unwrap();
    let router = web::router(AppState {
        app: app.clone(),
        clock: dyn_clock,
        metrics: None,
        secure_cookies: false,
    });
    Site {
        router,
        app,
        clock,
        token,
    }
}

struct Resp {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    text: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
    /// The form token on a form page.
    fn token(&self) -> String {
        let needle = "name=\"token\" value=\"";
        let at = self.text.find(needle).expect("a form token") + needle.len();
        self.text[at..].split('"').next().unwrap().to_string()
    }
}

fn html_decode(s: &str) -> String {
    s.replace("&#x2f;", "/")
        .replace("&#x2F;", "/")
        .replace("&#x3d;", "=")
        .replace("&#x3D;", "=")
        .replace("&#61;", "=")
        .replace("&#47;", "/")
        .replace("&amp;", "&")
        .replace("&#38;", "&")
}

impl Site {
    async fn send(&self, req: Request<Body>) -> Resp {
        let r = self.router.clone().oneshot(req).await.unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        let bytes = r.into_body().collect().await.unwrap().to_bytes();
        Resp {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    async fn page(&self, uri: &str) -> Resp {
        self.send(
            Request::get(uri)
                .header(header::USER_AGENT, WECHAT_UA)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    async fn post_form(&self, uri: &str, fields: &[(&str, &str)]) -> Resp {
        let body = serde_urlencoded::to_string(fields).unwrap();
        self.send(
            Request::post(uri)
                .header(header::USER_AGENT, WECHAT_UA)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .unwrap(),
        )
        .await
    }

    async fn api(&self, method: &str, uri: &str, body: Option<Value>) -> Resp {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token));
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        self.send(
            req.body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
                .unwrap(),
        )
        .await
    }

    async fn tickets(&self) -> Vec<Value> {
        let r = self.api("GET", "/api/v1/tickets?limit=200", None).await;
        r.json()["items"].as_array().cloned().unwrap_or_default()
    }

    async fn customers(&self) -> Vec<Value> {
        let r = self.api("GET", "/api/v1/customers?limit=200", None).await;
        r.json()["items"].as_array().cloned().unwrap_or_default()
    }

    async fn outbox(&self, channel: Channel) -> Vec<store::outbox::Message> {
        self.app
            .db
            .read(move |c| {
                Box::pin(async move {
                    store::outbox::list(
                        c,
                        &Scope::All,
                        &OutboxQuery {
                            status: None,
                            channel: Some(channel),
                            about: None,
                            after: None,
                            limit: 100,
                        },
                    )
                    .await
                })
            })
            .await
            .unwrap()
            .items
    }

    /// Opens the form and submits it with `phone` and `description` (and `extra` fields).
    async fn submit(&self, phone: &str, description: &str, extra: &[(&str, &str)]) -> Resp {
        let form = self.page("/help/acme").await;
        assert_eq!(form.status, StatusCode::OK);
        let token = form.token();
        let mut fields = vec![
            ("token", token.as_str()),
            ("lang", "zh-CN"),
            ("website", ""),
            ("name", "钱先生"),
            ("phone", phone),
            ("kind", "repair_request"),
            ("product", "RO-500 / SN 8812"),
            ("address", "杭州市西湖区文三路 90 号"),
            ("description", description),
        ];
        for (k, v) in extra {
            fields.retain(|(f, _)| f != k);
            fields.push((k, v));
        }
        self.post_form("/help/acme", &fields).await
    }
}

fn link_on(page: &str) -> String {
    let needle = "class=\"btn btn-primary btn-block\" href=\"";
    let at = page.find(needle).expect("a status link") + needle.len();
    html_decode(page[at..].split('"').next().unwrap())
}

#[tokio::test]
async fn the_form_shows_for_a_brand_and_a_stranger_brand_is_not_found() {
    each_backend(|db, _| async move {
        let s = site(db).await;
        let r = s.page("/help/acme").await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(
            r.text.contains("艾可美净水"),
            "the brand's name heads the form"
        );
        assert!(r.text.contains("服务申请"));
        assert!(r.text.contains("name=\"website\""), "the honeypot is there");
        assert!(r.text.contains("value=\"installation_request\""));
        assert!(!r.text.contains("<script"), "the form needs no JavaScript");
        let en = s.page("/help/acme?lang=en").await;
        assert!(en.text.contains("Ask for service"));
        assert!(en.text.contains("Mobile number"));

        let missing = s.page("/help/nobody").await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert!(missing.text.contains("页面不存在"));
        let post = s
            .post_form("/help/nobody", &[("token", "x"), ("name", "钱先生")])
            .await;
        assert_eq!(post.status, StatusCode::NOT_FOUND);
    })
    .await;
}

#[tokio::test]
async fn a_submission_makes_a_ticket_and_a_customer_and_a_repeat_lands_on_the_open_ticket() {
    each_backend(|db, _| async move {
        let s = site(db).await;
        let r = s
            .submit("+86 139-0000-1111", "净水器漏水，地上都是水", &[])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert!(r.text.contains("已收到您的服务请求"));
        let link = link_on(&r.text);
        assert!(link.starts_with(&format!("{PUBLIC_URL}/t/KF")), "{link}");

        let tickets = s.tickets().await;
        assert_eq!(tickets.len(), 1);
        let t = &tickets[0];
        assert_eq!(t["channel"], "web_form");
        assert_eq!(t["kind"], "repair_request");
        assert_eq!(t["subject"], "净水器漏水，地上都是水");
        assert!(r.text.contains(t["number"].as_str().unwrap()));
        let full = s
            .api("GET", &format!("/api/v1/tickets/{}", t["id"]), None)
            .await
            .json();
        let desc = full["description"].as_str().unwrap_or_default();
        assert!(
            desc.contains("RO-500 / SN 8812") && desc.contains("文三路"),
            "{desc}"
        );

        let customers = s.customers().await;
        assert_eq!(customers.len(), 1);
        assert_eq!(customers[0]["name"], "钱先生");
        assert_eq!(t["customer_id"], customers[0]["id"]);

        // The status link opens the requester's page.
        let path = link.trim_start_matches(PUBLIC_URL);
        let status = s.page(path).await;
        assert_eq!(status.status, StatusCode::OK);
        assert!(status.text.contains("净水器漏水"));

        // The received notice went out by SMS with the absolute link.
        let sms = s.outbox(Channel::Sms).await;
        assert_eq!(sms.len(), 1);
        assert_eq!(sms[0].recipient, "13900001111");
        assert_eq!(sms[0].template, "SMS_100001");
        assert_eq!(sms[0].payload["link"].as_str(), Some(link.as_str()));

        // The same phone again: the message joins the open ticket.
        let again = s.submit("13900001111", "还是在漏水，请尽快上门", &[]).await;
        assert_eq!(again.status, StatusCode::OK);
        assert!(
            again.text.contains("已补充到您未完结的服务请求"),
            "{}",
            again.text
        );
        assert!(again.text.contains(t["number"].as_str().unwrap()));
        assert_eq!(s.tickets().await.len(), 1);
        assert_eq!(s.customers().await.len(), 1);
        let full = s
            .api("GET", &format!("/api/v1/tickets/{}", t["id"]), None)
            .await
            .json();
        let bodies: Vec<&str> = full["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["body"].as_str())
            .collect();
        assert!(
            bodies.iter().any(|b| b.contains("请尽快上门")),
            "{bodies:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_replayed_token_shows_the_same_ticket_and_makes_no_other() {
    each_backend(|db, _| async move {
        let s = site(db).await;
        let form = s.page("/help/acme").await;
        let token = form.token();
        let fields = [
            ("token", token.as_str()),
            ("name", "孙女士"),
            ("phone", "13700002222"),
            ("kind", "installation_request"),
            ("description", "新买的空调需要安装"),
        ];
        let first = s.post_form("/help/acme", &fields).await;
        assert_eq!(first.status, StatusCode::OK);
        let second = s.post_form("/help/acme", &fields).await;
        assert_eq!(second.status, StatusCode::OK);
        assert!(
            second.text.contains("已收到您的服务请求"),
            "a refresh shows the same confirmation"
        );
        assert_eq!(link_on(&first.text), link_on(&second.text));
        assert_eq!(s.tickets().await.len(), 1);
        assert_eq!(s.customers().await.len(), 1);
        assert_eq!(s.outbox(Channel::Sms).await.len(), 1);

        // The same token with other content is refused; the form comes back with a new token.
        let edited = s
            .post_form(
                "/help/acme",
                &[
                    ("token", token.as_str()),
                    ("name", "孙女士"),
                    ("phone", "13700002222"),
                    ("kind", "installation_request"),
                    ("description", "改了内容"),
                ],
            )
            .await;
        assert_eq!(edited.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(edited.text.contains("改了内容"));
        assert_ne!(edited.token(), token);
        assert_eq!(s.tickets().await.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn honeypot_forged_and_expired_tokens_are_refused_and_write_nothing() {
    each_backend(|db, _| async move {
        let s = site(db).await;
        let r = s
            .submit(
                "13600003333",
                "我要投诉",
                &[("website", "http://spam.example")],
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.text.contains("请求已被拒绝"));

        let form = s.page("/help/acme").await;
        let token = form.token();
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged_issued = (1_795_395_600_000_i64 + 1).to_string();
        parts[0] = &forged_issued;
        let forged = parts.join(".");
        for bad in [forged.as_str(), "garbage", ""] {
            let r = s.submit("13600003333", "水管爆了", &[("token", bad)]).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
            assert!(r.text.contains("不是本站签发"), "{bad}");
            assert!(r.text.contains("水管爆了"), "what was typed is kept");
        }

        // Opened, left for three hours, then sent.
        let form = s.page("/help/acme").await;
        s.clock.advance_ms(3 * 3600 * 1000);
        let r = s
            .post_form(
                "/help/acme",
                &[
                    ("token", form.token().as_str()),
                    ("name", "钱先生"),
                    ("phone", "13600003333"),
                    ("kind", "consultation"),
                    ("description", "滤芯多久换一次"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.text.contains("已失效"));
        assert!(r.text.contains("滤芯多久换一次"));

        // A token of another brand is not this brand's.
        app::admin::create_brand(
            &s.app,
            &Ctx::system("test", s.clock.clone()),
            "other",
            "别家",
            "standard",
        )
        .await
        .unwrap();
        let other = s.page("/help/other").await.token();
        let r = s
            .submit("13600003333", "水管爆了", &[("token", &other)])
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);

        assert!(s.tickets().await.is_empty());
        assert!(s.customers().await.is_empty());
        assert!(s.outbox(Channel::Sms).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn invalid_fields_come_back_with_messages_and_the_values_kept() {
    each_backend(|db, _| async move {
        let s = site(db).await;
        let r = s
            .submit("12345", "", &[("name", "周先生"), ("kind", "")])
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.text.contains("周先生"));
        assert!(r.text.contains("value=\"12345\""));
        assert!(r.text.contains("不是有效的手机、座机或 400/800 号码"));
        assert!(r.text.contains("必填"));
        let landline = s.submit("021-6234 5678", "咨询", &[]).await;
        assert_eq!(landline.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(landline.text.contains("请填写 11 位手机号码"));
        let long = "很".repeat(2001);
        let r = s.submit("13500004444", &long, &[]).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            r.text.contains("最多 2000 个字符"),
            "the length limit is named"
        );
        assert!(s.tickets().await.is_empty());
        assert!(s.customers().await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn the_rate_limit_refuses_the_sixth_submission_for_a_phone_within_the_hour() {
    each_backend(|db, _| async move {
        let s = site(db).await;
        for n in 0..5 {
            let r = s.submit("13400005555", &format!("第 {n} 次"), &[]).await;
            assert_eq!(r.status, StatusCode::OK, "{n}: {}", r.text);
        }
        let r = s.submit("13400005555", "第 6 次", &[]).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(r.text.contains("提交过于频繁"));
        // An hour later the phone may ask again.
        s.clock.advance_ms(3600 * 1000 + 1);
        let r = s.submit("13400005555", "一小时后", &[]).await;
        assert_eq!(r.status, StatusCode::OK);

        // The JSON twin: by address (all of these come from one), with the code and 429.
        let mut last = None;
        for n in 0..12 {
            let body = json!({"name": "吴先生", "phone": format!("1330000{:04}", n), "kind": "consultation", "description": "想咨询一下"});
            let r = s
                .send(
                    Request::post("/api/v1/public/brands/acme/tickets")
                        .header(header::CONTENT_TYPE, "application/json")
                        .body(Body::from(body.to_string()))
                        .unwrap(),
                )
                .await;
            last = Some((n, r));
            if last.as_ref().unwrap().1.status == StatusCode::TOO_MANY_REQUESTS {
                break;
            }
        }
        let (n, r) = last.unwrap();
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.json()["error"]["code"], "rate_limited");
        // 10 an hour per address; the form's submission an hour later counted as one.
        assert_eq!(n, 9);
    })
    .await;
}

#[tokio::test]
async fn the_json_twin_creates_replays_by_idempotency_key_and_explains_refusals() {
    each_backend(|db, _| async move {
        let s = site(db).await;
        let post = |body: Value, key: Option<&'static str>| {
            let mut req = Request::post("/api/v1/public/brands/acme/tickets")
                .header(header::CONTENT_TYPE, "application/json");
            if let Some(k) = key {
                req = req.header("idempotency-key", k);
            }
            req.body(Body::from(body.to_string())).unwrap()
        };
        let body = json!({"name": "郑女士", "phone": "13200006666", "kind": "complaint", "description": "安装师傅迟到三小时", "address": "上海市徐汇区"});
        let r = s.send(post(body.clone(), Some("mp-1"))).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let first = r.json();
        assert!(first["status_link"].as_str().unwrap().starts_with(PUBLIC_URL));
        assert_eq!(first["attached"], false);
        let again = s.send(post(body.clone(), Some("mp-1"))).await;
        assert_eq!(again.status, StatusCode::OK);
        assert_eq!(again.json()["number"], first["number"]);
        assert_eq!(again.json()["status_link"], first["status_link"]);
        assert_eq!(again.json()["replayed"], true);
        assert_eq!(s.tickets().await.len(), 1);
        assert_eq!(s.tickets().await[0]["kind"], "complaint");

        let bad = s
            .send(post(json!({"name": "", "phone": "1", "kind": "party", "description": ""}), None))
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        let fields = &bad.json()["error"]["fields"];
        for f in ["name", "phone", "kind", "description"] {
            assert!(fields[f].is_string(), "{f}: {fields}");
        }
        let nobody = s
            .send(
                Request::post("/api/v1/public/brands/nobody/tickets")
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(body.to_string()))
                    .unwrap(),
            )
            .await;
        assert_eq!(nobody.status, StatusCode::NOT_FOUND);
        assert_eq!(s.tickets().await.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn an_agents_survey_goes_out_by_sms_with_an_absolute_link() {
    each_backend(|db, _| async move {
        let s = site(db).await;
        let r = s.submit("13100007777", "热水器打不着火", &[]).await;
        assert_eq!(r.status, StatusCode::OK);
        let t = s.tickets().await[0].clone();
        let r = s
            .api(
                "POST",
                "/api/v1/surveys/invitations",
                Some(json!({"subject_kind": "ticket", "subject_id": t["id"]})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let v = r.json();
        let link = v["link"].as_str().unwrap().to_string();
        assert!(link.starts_with(&format!("{PUBLIC_URL}/s/")), "{link}");
        assert_eq!(v["sent_by"], json!(["sms"]));
        let sms = s.outbox(Channel::Sms).await;
        let invite = sms
            .iter()
            .find(|m| m.template == "SMS_100009")
            .expect("the survey SMS");
        assert_eq!(invite.recipient, "13100007777");
        assert_eq!(invite.payload["link"].as_str(), Some(link.as_str()));
        assert_eq!(invite.payload["number"], t["number"]);
        // The link opens the questionnaire.
        let page = s.page(link.trim_start_matches(PUBLIC_URL)).await;
        assert_eq!(page.status, StatusCode::OK);

        // A call survey sends nothing.
        let r = s
            .api(
                "POST",
                "/api/v1/surveys/invitations",
                Some(json!({"subject_kind": "ticket", "subject_id": t["id"], "channel": "call"})),
            )
            .await;
        assert_eq!(r.json()["sent_by"], json!([]));
        assert_eq!(s.outbox(Channel::Sms).await.len(), sms.len());
    })
    .await;
}

#[tokio::test]
async fn a_survey_retried_with_its_idempotency_key_is_sent_once() {
    each_backend(|db, which| async move {
        let s = site(db).await;
        let r = s.submit("13100008888", "燃气灶打不着火", &[]).await;
        assert_eq!(r.status, StatusCode::OK);
        let t = s.tickets().await[0].clone();
        let invite = |body: Value, key: Option<&'static str>| {
            let mut req = Request::post("/api/v1/surveys/invitations")
                .header(header::AUTHORIZATION, format!("Bearer {}", s.token))
                .header(header::CONTENT_TYPE, "application/json");
            if let Some(k) = key {
                req = req.header("idempotency-key", k);
            }
            req.body(Body::from(body.to_string())).unwrap()
        };
        let surveys_sms = || async {
            s.outbox(Channel::Sms)
                .await
                .into_iter()
                .filter(|m| m.template == "SMS_100009")
                .count()
        };
        let invitations = || async {
            let r = s
                .api(
                    "GET",
                    &format!(
                        "/api/v1/surveys/invitations?subject_kind=ticket&subject_id={}",
                        t["id"]
                    ),
                    None,
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            r.json()["items"].as_array().cloned().unwrap_or_default()
        };
        let body = json!({"subject_kind": "ticket", "subject_id": t["id"]});

        let first = s.send(invite(body.clone(), Some("survey-1"))).await;
        assert_eq!(
            first.status,
            StatusCode::CREATED,
            "{which:?}: {}",
            first.text
        );
        assert!(first.headers.get("idempotent-replayed").is_none());
        let first = first.json();
        let link = first["link"]
            .as_str()
            .expect("the link, shown once")
            .to_string();
        assert_eq!(first["sent_by"], json!(["sms"]));
        assert_eq!(surveys_sms().await, 1);

        // The retry: the same invitation, without its link, and no second message.
        let again = s.send(invite(body.clone(), Some("survey-1"))).await;
        assert_eq!(
            again.status,
            StatusCode::CREATED,
            "{which:?}: {}",
            again.text
        );
        assert_eq!(
            again
                .headers
                .get("idempotent-replayed")
                .and_then(|v| v.to_str().ok()),
            Some("true")
        );
        let again = again.json();
        assert_eq!(again["id"], first["id"]);
        assert_eq!(again["link"], Value::Null);
        assert_eq!(again["expires_at"], first["expires_at"]);
        assert_eq!(again["sent_by"], json!(["sms"]));
        assert_eq!(
            surveys_sms().await,
            1,
            "{which:?}: the retry sent the SMS again"
        );
        let list = invitations().await;
        assert_eq!(list.len(), 1, "{which:?}: {list:?}");
        assert_eq!(list[0]["status"], "sent");
        // The first link still opens the questionnaire.
        let page = s.page(link.trim_start_matches(PUBLIC_URL)).await;
        assert_eq!(page.status, StatusCode::OK);

        // The key with another body is refused, and nothing is sent.
        let other = s
            .send(invite(
                json!({"subject_kind": "ticket", "subject_id": t["id"], "channel": "call"}),
                Some("survey-1"),
            ))
            .await;
        assert_eq!(
            other.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            other.text
        );
        assert_eq!(other.json()["error"]["code"], "idempotency_key_reused");
        assert_eq!(invitations().await.len(), 1);
        assert_eq!(surveys_sms().await, 1);

        // Without a key, sending again is a new invitation: the first link stops working.
        let anew = s.send(invite(body.clone(), None)).await;
        assert_eq!(anew.status, StatusCode::CREATED, "{}", anew.text);
        assert_ne!(anew.json()["id"], first["id"]);
        assert!(anew.json()["link"].is_string());
        assert_eq!(surveys_sms().await, 2);
        assert_eq!(invitations().await.len(), 2);
        let page = s.page(link.trim_start_matches(PUBLIC_URL)).await;
        assert_ne!(page.status, StatusCode::OK);
    })
    .await;
}
