//! Follow-up surveys over HTTP: the JSON API (send, list, record on a call, refusals), the
//! customer's public page /s/{key} posted as a plain form without signing in, and the desk's
//! pending list and recording page behind a session.

use std::sync::Arc;

use app::admin::UnitInput;
use app::tickets::TicketInput;
use app::{App, Clock, Ctx, Settings, SystemClock};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use testkit::each_backend;
use tower::ServiceExt;
use web::AppState;

struct Site {
    router: Router,
    token: String,
    ticket: i64,
    number: String,
}

/// A router over `db` with an admin (API token), a service department and a ticket about a
/// customer.
async fn site(db: store::Db) -> Site {
    let app = App::new(db, Arc::new(web::assets::regions()), Settings::default());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let sys = Ctx::system("test", clock.clone());
    let admin = app::admin::init_admin(&app, &sys, "admin", "secret-pass-1")
        .await
        .unwrap();
    let user = app::admin::user(&app, &sys, admin).await.unwrap();
    let ctx = app::auth::Principal::of_user(user, None).unwrap().ctx(
        clock.clone(),
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
    let customer = app::ledger::create_customer(
        &app,
        &ctx,
        app::ledger::CustomerInput {
            kind: "individual".into(),
            name: "赵女士".into(),
            phone: Some("13900001234".into()),
            ..app::ledger::CustomerInput::default()
        },
    )
    .await
    .unwrap();
    let t = app::tickets::create(
        &app,
        &ctx,
        TicketInput {
            kind: "repair_request".into(),
            subject: "热水器不出热水".into(),
            customer_id: Some(customer.id.0),
            ..TicketInput::default()
        },
    )
    .await
    .unwrap();
    let router = web::router(AppState {
        app,
        clock,
        metrics: None,
        secure_cookies: false,
    });
    Site {
        router,
        token,
        ticket: t.id,
        number: t.number,
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
    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

async fn send(router: &Router, req: Request<Body>) -> Resp {
    let r = router.clone().oneshot(req).await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    let bytes = r.into_body().collect().await.unwrap().to_bytes();
    Resp {
        status,
        headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

async fn api(s: &Site, method: &str, uri: &str, body: Option<Value>) -> Resp {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {}", s.token))
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    send(&s.router, req).await
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push_str(&hex::encode_upper([b]));
        }
    }
    out
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A browser without any session, as the customer's phone is.
async fn anon_get(s: &Site, uri: &str) -> Resp {
    send(&s.router, Request::get(uri).body(Body::empty()).unwrap()).await
}

async fn anon_post(s: &Site, uri: &str, pairs: &[(&str, &str)]) -> Resp {
    let req = Request::post(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form(pairs)))
        .unwrap();
    send(&s.router, req).await
}

async fn invite(s: &Site, channel: &str) -> (i64, String) {
    let r = api(
        s,
        "POST",
        "/api/v1/surveys/invitations",
        Some(json!({"subject_kind": "ticket", "subject_id": s.ticket, "channel": channel})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let b = r.json();
    (
        b["id"].as_i64().unwrap(),
        b["link"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn the_api_sends_lists_and_records_answers_given_on_a_call() {
    each_backend(|db, which| async move {
        let s = site(db).await;
        let r = api(&s, "GET", "/api/v1/surveys/templates", None).await;
        assert_eq!(r.status, StatusCode::OK);
        let codes: Vec<String> = r
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["code"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(codes, ["ticket_followup", "visit_followup"]);

        let (id, link) = invite(&s, "call").await;
        assert!(link.starts_with("/s/"), "{link}");
        let list = api(
            &s,
            "GET",
            &format!(
                "/api/v1/surveys/invitations?subject_kind=ticket&subject_id={}",
                s.ticket
            ),
            None,
        )
        .await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.text);
        let items = list.json()["items"].as_array().unwrap().clone();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["status"], "sent");
        assert_eq!(items[0]["subject_label"], s.number);

        let uri = format!("/api/v1/surveys/invitations/{id}/responses");
        let answer = |a: serde_json::Value| api(&s, "POST", &uri, Some(json!({ "answers": a })));
        let bad = answer(json!({"satisfaction": 7, "solved": true})).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{which:?}");
        assert_eq!(bad.json()["error"]["code"], "validation");
        assert_eq!(
            bad.json()["error"]["fields"]["answers.satisfaction"],
            "a rating from 1 to 5"
        );

        let ok = answer(json!({"satisfaction": 2, "solved": true, "comment": "师傅迟到"})).await;
        assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.text);
        let out = ok.json();
        assert_eq!(out["poor"], true);
        let number = out["follow_up_number"].as_str().unwrap().to_string();
        assert!(number.starts_with("KF"), "{number}");

        let again = answer(json!({"satisfaction": 5, "solved": true})).await;
        assert_eq!(again.status, StatusCode::CONFLICT);
        assert_eq!(again.json()["error"]["code"], "conflict");
        assert_eq!(
            again.json()["error"]["message"],
            app::surveys::ALREADY_ANSWERED
        );
        // A retry of the recorded answers (the first answer was lost on the way back) gets what
        // they made, with 200 and nothing recorded twice.
        let retry = answer(json!({"satisfaction": 2, "solved": true, "comment": "师傅迟到"})).await;
        assert_eq!(retry.status, StatusCode::OK, "{}", retry.text);
        assert_eq!(retry.headers["idempotent-replayed"], "true");
        assert_eq!(retry.json()["follow_up_number"], number.as_str());

        let list = api(
            &s,
            "GET",
            &format!(
                "/api/v1/surveys/invitations?subject_kind=ticket&subject_id={}",
                s.ticket
            ),
            None,
        )
        .await;
        let inv = &list.json()["items"][0];
        assert_eq!(inv["status"], "answered");
        assert_eq!(inv["response"]["follow_up_number"], json!(number));
        assert_eq!(inv["response"]["channel"], "call");

        let missing = api(
            &s,
            "POST",
            "/api/v1/surveys/invitations/999999/responses",
            Some(json!({"answers": {}})),
        )
        .await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        let half = api(&s, "GET", "/api/v1/surveys/invitations?subject_id=1", None).await;
        assert_eq!(half.status, StatusCode::UNPROCESSABLE_ENTITY);
    })
    .await;
}

#[tokio::test]
async fn the_customer_answers_the_public_form_without_signing_in() {
    each_backend(|db, which| async move {
        let s = site(db).await;
        let (_, link) = invite(&s, "link").await;

        let page = anon_get(&s, &link).await;
        assert_eq!(page.status, StatusCode::OK, "{which:?}: {}", page.text);
        assert!(page.text.contains("<html lang=\"zh-CN\">"));
        assert!(page.text.contains("您对本次服务的满意程度如何"));
        assert!(
            page.text
                .contains("name=\"answers.satisfaction\" value=\"5\"")
        );
        assert!(page.text.contains("name=\"answers.solved\" value=\"no\""));
        assert!(page.text.contains(&s.number));
        assert!(!page.text.contains("<script"), "works without script");
        let en = anon_get(&s, &format!("{link}?lang=en")).await;
        assert!(en.text.contains("How satisfied are you"));
        assert!(en.text.contains("Submit"));

        // A rating out of range comes back with the message next to the question, values kept.
        let bad = anon_post(
            &s,
            &link,
            &[
                ("answers.satisfaction", "7"),
                ("answers.solved", "no"),
                ("answers.comment", "等太久"),
            ],
        )
        .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(bad.text.contains("请选择 1 到 5 分"), "{}", bad.text);
        assert!(bad.text.contains("等太久"));
        assert!(bad.text.contains("value=\"no\" checked"));

        let answered = [
            ("answers.satisfaction", "1"),
            ("answers.solved", "no"),
            ("answers.speed", ""),
            ("answers.comment", "等太久"),
        ];
        let ok = anon_post(&s, &format!("{link}?lang=zh-CN"), &answered).await;
        assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text);
        assert_eq!(ok.location(), format!("{link}?lang=zh-CN"));
        let thanks = anon_get(&s, ok.location()).await;
        assert_eq!(thanks.status, StatusCode::OK);
        assert!(thanks.text.contains("感谢您的反馈"));
        assert!(!thanks.text.contains("<form"));

        let twice = anon_post(
            &s,
            &link,
            &[("answers.satisfaction", "5"), ("answers.solved", "yes")],
        )
        .await;
        assert_eq!(twice.status, StatusCode::CONFLICT);
        assert!(twice.text.contains("您已经提交过这份问卷了"));
        // The same form sent again (a second tap on 提交) lands on the thanks page.
        let again = anon_post(&s, &format!("{link}?lang=zh-CN"), &answered).await;
        assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.text);
        assert_eq!(again.location(), format!("{link}?lang=zh-CN"));

        let forged = anon_get(&s, "/s/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").await;
        assert_eq!(forged.status, StatusCode::NOT_FOUND);
        assert!(forged.text.contains("这个回访链接无效或已过期"));
        let forged = anon_post(&s, "/s/nope", &[("answers.satisfaction", "5")]).await;
        assert_eq!(forged.status, StatusCode::NOT_FOUND);

        // The poor answer opened a follow-up complaint.
        let list = api(
            &s,
            "GET",
            &format!(
                "/api/v1/surveys/invitations?subject_kind=ticket&subject_id={}",
                s.ticket
            ),
            None,
        )
        .await;
        let r = &list.json()["items"][0]["response"];
        assert_eq!(r["poor"], true);
        assert_eq!(r["channel"], "link");
        assert!(
            r["follow_up_number"]
                .as_str()
                .is_some_and(|n| n.starts_with("KF"))
        );
    })
    .await;
}

#[tokio::test]
async fn the_desk_records_a_call_on_the_survey_page() {
    let tdb = testkit::TestDb::sqlite().await;
    let s = site(tdb.db.clone()).await;
    let (id, _) = invite(&s, "call").await;

    // Sign in as the admin (browser session).
    let login = anon_post(
        &s,
        "/login",
        &[
            ("login", "admin"),
            ("password", "secret-pass-1"),
            ("next", "/surveys"),
        ],
    )
    .await;
    assert_eq!(login.status, StatusCode::SEE_OTHER, "{}", login.text);
    let cookie = login
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|c| c.split(';').next().unwrap_or("").to_string())
        .collect::<Vec<_>>()
        .join("; ");
    let get = |uri: String| {
        let cookie = cookie.clone();
        let router = s.router.clone();
        async move {
            send(
                &router,
                Request::get(uri)
                    .header(header::COOKIE, cookie)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
        }
    };
    let list = get("/surveys".into()).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    assert!(
        list.text.contains("href=\"/surveys\""),
        "the nav links the list"
    );
    assert!(list.text.contains(&format!("href=\"/surveys/{id}\"")));
    assert!(list.text.contains("赵女士"));
    assert!(list.text.contains(&s.number));
    let at = list.text.find("name=\"_csrf\" value=\"").unwrap() + 20;
    let csrf = list.text[at..at + list.text[at..].find('"').unwrap()].to_string();

    let page = get(format!("/surveys/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("name=\"answers.satisfaction\""));
    assert!(page.text.contains("tel:13900001234"));

    let post = |pairs: Vec<(&'static str, &'static str)>| {
        let cookie = cookie.clone();
        let router = s.router.clone();
        let mut all = vec![("_csrf", csrf.as_str())];
        all.extend(pairs);
        let body = form(&all);
        async move {
            send(
                &router,
                Request::post(format!("/surveys/{id}"))
                    .header(header::COOKIE, cookie)
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from(body))
                    .unwrap(),
            )
            .await
        }
    };
    let bad = post(vec![
        ("answers.satisfaction", "4"),
        ("answers.speed", "warp"),
    ])
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text.contains("不是可选的答案"), "{}", bad.text);
    assert!(bad.text.contains("必填"));

    let ok = post(vec![
        ("answers.satisfaction", "4"),
        ("answers.solved", "yes"),
        ("answers.speed", "fast"),
    ])
    .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text);
    assert_eq!(
        ok.location(),
        format!("/surveys/{id}?flash=survey_recorded")
    );
    let done = get(ok.location().to_string()).await;
    assert!(done.text.contains("回访结果已记录"));
    assert!(done.text.contains("4 / 5"));
    assert!(done.text.contains("很快"));
    assert!(!done.text.contains("name=\"answers.satisfaction\""));
    let list = get("/surveys".into()).await;
    assert!(list.text.contains("没有待回访的问卷"));
}
