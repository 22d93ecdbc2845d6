//! The hotline (D8) driven the way the telephony system drives it: a simulated telephony client
//! posts real signed HTTP callbacks to a running server (duplicates, out-of-order events, forged
//! signatures, stale timestamps), agents watch their live event streams, and click-to-call goes
//! to a fake 阿里云语音服务 started inside the test that checks the signature and parameters.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::admin::UserInput;
use app::auth::Principal;
use app::ledger::CustomerInput;
use app::notify::{Secret, aliyun_signature, webhook_signature};
use app::telephony::{AliyunVoiceConfig, SimulatedTelephony, TelephonyEvent};
use app::{App, Clock, Ctx, FixedClock, Settings};
use axum::Json;
use axum::extract::{RawQuery, State};
use domain::{BrandId, Timestamp};
use serde_json::{Value, json};
use store::Db;
use testkit::each_backend;
use web::AppState;

/// 2026-11-23 09:00 in Shanghai, a Monday: the desk is open (08:00–21:00).
const MONDAY_9AM: i64 = 1_795_395_600_000;
const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
const SECRET: &str = "telephony-shared-secret";
const HOTLINE: &str = "4008208820";
const LANDLINE: &str = "057188886666";
const PASSWORD: &str = "correct horse battery";

async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

struct Hot {
    app: App,
    clock: Arc<FixedClock>,
    sys: Ctx,
    base: String,
    tel: SimulatedTelephony,
    http: reqwest::Client,
    /// The administrator and their bearer token.
    admin: domain::UserId,
    token: String,
}

async fn hot_with(db: Db, settings: Settings) -> Hot {
    let app = App::new(db, Arc::new(web::assets::regions()), settings);
    let clock = Arc::new(FixedClock::at(Timestamp(MONDAY_9AM)));
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let sys = Ctx::system("test", dyn_clock.clone());
    let admin = app::admin::init_admin(&app, &sys, "admin", "secret-pass-1")
        .await
        .unwrap();
    let user = app::admin::user(&app, &sys, admin).await.unwrap();
    let ctx = Principal::of_user(user, None).unwrap().ctx(
        dyn_clock.clone(),
        String::new(),
        "zh-CN".into(),
    );
    let (_, token) = app::auth::create_token(&app, &ctx, "tests", None)
        .await
        .unwrap();
    let addr = serve(web::router(AppState {
        app: app.clone(),
        clock: dyn_clock,
        metrics: None,
        secure_cookies: false,
    }))
    .await;
    let base = format!("http://{addr}");
    Hot {
        tel: SimulatedTelephony::new(&base, Secret::new(SECRET)).unwrap(),
        app,
        clock,
        sys,
        base,
        http: reqwest::Client::new(),
        admin,
        token,
    }
}

fn settings() -> Settings {
    Settings {
        telephony_secret: Some(Secret::new(SECRET)),
        ..Settings::default()
    }
}

async fn hot(db: Db) -> Hot {
    hot_with(db, settings()).await
}

impl Hot {
    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Posts an event signed now, as the telephony system would; returns (status, body).
    async fn send(&self, e: &TelephonyEvent) -> (u16, Value) {
        let a = self.tel.send(e, self.now()).await.unwrap();
        (a.status, a.body)
    }

    async fn api(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.api_h(method, path, token, body, &[]).await
    }

    async fn api_h(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(
                method.parse().unwrap(),
                format!("{}/api/v1{path}", self.base),
            )
            .bearer_auth(token);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.api("GET", path, &self.token, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    async fn customer(&self, name: &str, phone: &str) -> i64 {
        app::ledger::create_customer(
            &self.app,
            &self.sys,
            CustomerInput {
                kind: "individual".into(),
                name: name.into(),
                phone: Some(phone.into()),
                ..CustomerInput::default()
            },
        )
        .await
        .unwrap()
        .id
        .0
    }

    /// An agent account with an extension; returns (user id, session cookie).
    async fn agent(&self, login: &str, ext: &str, phone: &str) -> (i64, String) {
        let id = app::admin::create_user(
            &self.app,
            &self.sys,
            UserInput {
                login: login.into(),
                display_name: format!("坐席{login}"),
                roles: vec!["agent".into()],
                password: Some(PASSWORD.into()),
                active: true,
                ..UserInput::default()
            },
        )
        .await
        .unwrap();
        let (status, body) = self
            .api(
                "PUT",
                &format!("/hotline/extensions/{ext}"),
                &self.token,
                Some(json!({ "user_id": id.0, "phone": phone })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let dyn_clock: Arc<dyn Clock> = self.clock.clone();
        let s = app::auth::login(&self.app, &dyn_clock, login, PASSWORD, "10.0.0.9")
            .await
            .unwrap();
        (id.0, format!("kefu_session={}", s.token))
    }

    async fn agent_token(&self, login: &str) -> String {
        let dyn_clock: Arc<dyn Clock> = self.clock.clone();
        let s = app::auth::login(&self.app, &dyn_clock, login, PASSWORD, "10.0.0.9")
            .await
            .unwrap();
        let ctx =
            Principal::of_user(s.user, None)
                .unwrap()
                .ctx(dyn_clock, String::new(), "zh-CN".into());
        app::auth::create_token(&self.app, &ctx, "agent", None)
            .await
            .unwrap()
            .1
    }

    async fn calls(&self) -> Vec<Value> {
        self.get("/calls?limit=200").await["items"]
            .as_array()
            .unwrap()
            .clone()
    }

    async fn returns(&self) -> Vec<Value> {
        self.get("/return-calls?limit=200").await["items"]
            .as_array()
            .unwrap()
            .clone()
    }
}

fn ev(id: &str, call: &str, kind: &str, at: i64, caller: &str) -> TelephonyEvent {
    TelephonyEvent::inbound(id, call, kind, Timestamp(at), caller, HOTLINE)
}

fn same_instant(v: &Value, t: i64) -> bool {
    v.as_str()
        .and_then(Timestamp::parse_rfc3339)
        .is_some_and(|x| x.0 == t)
}

#[tokio::test]
async fn answered_calls_owe_nothing_and_missed_calls_are_called_back_now() {
    each_backend(|db, which| async move {
        let h = hot(db).await;
        let zhang = h.customer("张三", "13800138000").await;
        let t0 = MONDAY_9AM;
        h.clock.set(Timestamp(t0 + 2 * MIN));
        for e in [
            ev("a1", "A", "ringing", t0, "+86 138-0013-8000"),
            ev("a2", "A", "answered", t0 + 9_000, "13800138000"),
            ev("a3", "A", "ended", t0 + 90_000, "13800138000"),
        ] {
            let (status, body) = h.send(&e).await;
            assert_eq!(status, 200, "{which:?} {body}");
            assert_eq!(body["duplicate"], false);
        }
        let calls = h.calls().await;
        assert_eq!(calls.len(), 1, "{which:?}");
        let a = &calls[0];
        assert_eq!(a["state"], "completed");
        assert_eq!(a["customer_id"], zhang, "matched by the normalised phone");
        assert_eq!(a["customer_name"], "张三");
        assert_eq!(a["caller"], "13800138000");
        assert_eq!(a["time_to_answer_ms"], 9_000);
        assert_eq!(a["after_hours"], false);
        assert!(same_instant(&a["answered_at"], t0 + 9_000));
        assert!(
            h.returns().await.is_empty(),
            "an answered call owes nothing"
        );

        // A caller nobody answered: one return call, due now, for the matched customer.
        let (_, r) = h
            .send(&ev("b1", "B", "ringing", t0 + 5 * MIN, "13800138000"))
            .await;
        assert_eq!(r["return_call_id"], Value::Null, "still ringing");
        h.clock.set(Timestamp(t0 + 6 * MIN));
        let (status, r) = h
            .send(&ev(
                "b2",
                "B",
                "missed",
                t0 + 5 * MIN + 30_000,
                "13800138000",
            ))
            .await;
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["state"], "missed");
        let rc_id = r["return_call_id"].as_i64().expect("a return call");
        let returns = h.returns().await;
        assert_eq!(returns.len(), 1);
        let rc = &returns[0];
        assert_eq!(rc["id"], rc_id);
        assert_eq!(rc["status"], "open");
        assert_eq!(rc["reason"], "missed");
        assert_eq!(rc["customer_id"], zhang);
        assert_eq!(rc["phone"], "13800138000");
        assert_eq!(rc["attempts"], 0);
        assert_eq!(rc["max_attempts"], 3);
        assert!(
            same_instant(&rc["due_at"], t0 + 6 * MIN),
            "due now: {}",
            rc["due_at"]
        );

        // The same number calls again and gives up in the queue: added to the open task.
        h.send(&ev("c1", "C", "ringing", t0 + 20 * MIN, "13800138000"))
            .await;
        let (_, r) = h
            .send(&ev(
                "c2",
                "C",
                "abandoned",
                t0 + 20 * MIN + 40_000,
                "13800138000",
            ))
            .await;
        assert_eq!(r["return_call_id"], rc_id, "{r}");
        let returns = h.returns().await;
        assert_eq!(returns.len(), 1, "one task per number");
        assert_eq!(returns[0]["calls_count"], 2);

        // A caller who is not a customer yet is still called back.
        let (_, r) = h
            .send(
                &ev("d1", "D", "voicemail", t0 + 30 * MIN, "021-6234 5678")
                    .recording("https://rec.example/vm/d.wav"),
            )
            .await;
        assert_eq!(r["state"], "voicemail");
        let call = h.get(&format!("/calls/{}", r["call_id"])).await;
        assert_eq!(call["voicemail_url"], "https://rec.example/vm/d.wav");
        assert_eq!(call["customer_id"], Value::Null);
        let rc = h
            .get(&format!("/return-calls/{}", r["return_call_id"]))
            .await;
        assert_eq!(rc["reason"], "voicemail");
        assert_eq!(rc["phone"], "02162345678");
    })
    .await;
}

#[tokio::test]
async fn after_hours_calls_are_due_at_opening() {
    each_backend(|db, which| async move {
        let h = hot(db).await;
        // Monday 22:30: the desk closed at 21:00.
        let t = MONDAY_9AM + 13 * HOUR + 30 * MIN;
        h.clock.set(Timestamp(t + MIN));
        let (_, r) = h.send(&ev("n1", "N", "ringing", t, "13900139000")).await;
        let rc_id = r["return_call_id"].as_i64().expect("owed at once");
        let (_, r) = h
            .send(&ev("n2", "N", "ended", t + 20_000, "13900139000"))
            .await;
        assert_eq!(r["return_call_id"], rc_id, "{which:?}: exactly one task");
        let rc = h.get(&format!("/return-calls/{rc_id}")).await;
        assert_eq!(rc["reason"], "after_hours");
        // Tuesday 08:00 in Shanghai.
        assert!(
            same_instant(&rc["due_at"], MONDAY_9AM + 23 * HOUR),
            "{}",
            rc["due_at"]
        );
        assert_eq!(rc["overdue"], false);
        let call = h.get(&format!("/calls/{}", r["call_id"])).await;
        assert_eq!(call["after_hours"], true);
        assert_eq!(call["state"], "missed");

        // Sunday 07:59 (a minute before opening) is after hours too; 08:00 is not.
        let early = MONDAY_9AM - HOUR - MIN;
        let (_, r) = h.send(&ev("e1", "E", "missed", early, "13700137000")).await;
        let rc = h
            .get(&format!("/return-calls/{}", r["return_call_id"]))
            .await;
        assert!(
            same_instant(&rc["due_at"], MONDAY_9AM - HOUR),
            "{}",
            rc["due_at"]
        );
    })
    .await;
}

#[tokio::test]
async fn duplicate_and_out_of_order_events_make_one_call_and_one_task() {
    each_backend(|db, which| async move {
        let h = hot(db).await;
        h.customer("李四", "13600136000").await;
        let t0 = MONDAY_9AM + HOUR;
        h.clock.set(Timestamp(t0 + 10 * MIN));
        // The hang-up arrives first, the answer last, the recording after everything; every
        // callback is retried once.
        let events = [
            ev("x3", "X", "ended", t0 + 70_000, "13600136000"),
            ev("x1", "X", "ringing", t0, "13600136000"),
            ev("x4", "X", "recording", t0 + 75_000, "13600136000")
                .recording("https://rec.example/x.mp3"),
            ev("x2", "X", "answered", t0 + 12_000, "13600136000"),
        ];
        for e in &events {
            let (status, first) = h.send(e).await;
            assert_eq!(status, 200, "{which:?} {first}");
            assert_eq!(first["duplicate"], false);
            let (status, again) = h.send(e).await;
            assert_eq!(status, 200);
            assert_eq!(again["duplicate"], true, "{again}");
            assert_eq!(again["call_id"], first["call_id"]);
        }
        let calls = h.calls().await;
        assert_eq!(calls.len(), 1, "{which:?}");
        let x = &calls[0];
        assert_eq!(
            x["state"], "completed",
            "answered after ended is still answered"
        );
        assert!(same_instant(&x["ringing_at"], t0));
        assert!(same_instant(&x["answered_at"], t0 + 12_000));
        assert!(same_instant(&x["ended_at"], t0 + 70_000));
        assert_eq!(x["time_to_answer_ms"], 12_000);
        assert_eq!(x["recording_url"], "https://rec.example/x.mp3");
        // While only the hang-up was known the call looked missed and was owed a call back;
        // the late answer cancelled that.
        let returns = h.returns().await;
        assert!(
            returns.iter().all(|r| r["status"] == "cancelled"),
            "{returns:?}"
        );
        assert_eq!(x["return_call_id"], Value::Null);

        // A missed event after the answer does not undo it.
        h.send(&ev("y1", "Y", "ringing", t0 + HOUR, "13600136000"))
            .await;
        h.send(&ev("y2", "Y", "answered", t0 + HOUR + 3_000, "13600136000"))
            .await;
        let (_, r) = h
            .send(&ev("y3", "Y", "missed", t0 + HOUR + 60_000, "13600136000"))
            .await;
        assert_eq!(r["state"], "completed");
        assert_eq!(r["return_call_id"], Value::Null);

        // A missed call whose events repeat: one task, once.
        let m = [
            ev("z2", "Z", "missed", t0 + 2 * HOUR + 30_000, "13600136000"),
            ev("z1", "Z", "ringing", t0 + 2 * HOUR, "13600136000"),
        ];
        for e in m.iter().chain(m.iter()) {
            h.send(e).await;
        }
        let open: Vec<Value> = h
            .returns()
            .await
            .into_iter()
            .filter(|r| r["status"] == "open")
            .collect();
        assert_eq!(open.len(), 1, "{open:?}");
        assert_eq!(open[0]["calls_count"], 1);
        assert_eq!(h.calls().await.len(), 3);
    })
    .await;
}

#[tokio::test]
async fn forged_stale_and_unsigned_callbacks_are_refused_and_store_nothing() {
    each_backend(|db, which| async move {
        let h = hot(db).await;
        let e = ev("f1", "F", "ringing", MONDAY_9AM, "13800138000");
        let body = serde_json::to_string(&e).unwrap();
        let now = (MONDAY_9AM / 1000).to_string();
        let forged = webhook_signature("a guessed secret", &now, body.as_bytes());
        let cases = [
            (Some(now.as_str()), Some(forged.as_str()), "bad_signature"),
            (Some(now.as_str()), None, "bad_signature"),
            (Some(now.as_str()), Some("sha256=00"), "bad_signature"),
        ];
        for (ts, sig, code) in cases {
            let a = h.tel.send_raw(&body, ts, sig).await.unwrap();
            assert_eq!(a.status, 401, "{which:?} {:?}", a.body);
            assert_eq!(a.body["error"]["code"], code);
        }
        // Signed right, but six minutes ago (a replay).
        let old = ((MONDAY_9AM - 6 * MIN) / 1000).to_string();
        let sig = webhook_signature(SECRET, &old, body.as_bytes());
        let a = h.tel.send_raw(&body, Some(&old), Some(&sig)).await.unwrap();
        assert_eq!(a.status, 401);
        assert_eq!(a.body["error"]["code"], "stale_timestamp");
        // Signed over another body.
        let sig = webhook_signature(SECRET, &now, b"{}");
        let a = h.tel.send_raw(&body, Some(&now), Some(&sig)).await.unwrap();
        assert_eq!(a.body["error"]["code"], "bad_signature");
        // Signed right but not an event.
        let bad = r#"{"event_id":"g1","call_id":"G","type":"exploded","at":"yesterday"}"#;
        let sig = webhook_signature(SECRET, &now, bad.as_bytes());
        let a = h.tel.send_raw(bad, Some(&now), Some(&sig)).await.unwrap();
        assert_eq!(a.status, 422, "{:?}", a.body);
        assert_eq!(a.body["error"]["code"], "validation");
        assert!(a.body["error"]["fields"]["type"].is_string());
        assert!(a.body["error"]["fields"]["at"].is_string());
        let a = h
            .tel
            .send_raw(
                "{not json",
                Some(&now),
                Some(&webhook_signature(SECRET, &now, b"{not json")),
            )
            .await
            .unwrap();
        assert_eq!(a.body["error"]["code"], "malformed_json");
        assert!(h.calls().await.is_empty(), "nothing stored");
        assert!(h.returns().await.is_empty());
        // The genuine event still goes through afterwards.
        let (status, _) = h.send(&e).await;
        assert_eq!(status, 200);
        assert_eq!(h.calls().await.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn without_a_secret_callbacks_are_disabled() {
    each_backend(|db, _| async move {
        let h = hot_with(db, Settings::default()).await;
        let (status, body) = h
            .send(&ev("h1", "H", "ringing", MONDAY_9AM, "13800138000"))
            .await;
        assert_eq!(status, 503);
        assert_eq!(body["error"]["code"], "telephony_disabled");
        assert!(h.calls().await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn return_calls_end_when_reached_or_after_n_attempts() {
    each_backend(|db, which| async move {
        let h = hot(db).await;
        h.agent("wang", "8001", "13511112222").await;
        let agent = h.agent_token("wang").await;
        let t0 = MONDAY_9AM;
        let (_, r1) = h.send(&ev("p1", "P", "missed", t0, "13800000001")).await;
        let (_, r2) = h
            .send(&ev("q1", "Q", "missed", t0 + MIN, "13800000002"))
            .await;
        let (one, two) = (
            r1["return_call_id"].as_i64().unwrap(),
            r2["return_call_id"].as_i64().unwrap(),
        );

        let attempt = |id: i64, version: i64, outcome: &'static str| {
            let h = &h;
            let agent = agent.clone();
            async move {
                h.api_h(
                    "POST",
                    &format!("/return-calls/{id}/attempts"),
                    &agent,
                    Some(json!({ "outcome": outcome, "note": "试了一次" })),
                    &[("if-match", &format!("\"{version}\""))],
                )
                .await
            }
        };
        // Three unanswered attempts: given up.
        let mut version = h.get(&format!("/return-calls/{one}")).await["version"]
            .as_i64()
            .unwrap();
        for (n, outcome) in (0i64..).zip(["no_answer", "busy", "no_answer"]) {
            let (status, body) = attempt(one, version, outcome).await;
            assert_eq!(status, 200, "{which:?} {body}");
            assert_eq!(body["attempts"], n + 1);
            assert_eq!(body["status"], if n < 2 { "open" } else { "given_up" });
            version = body["version"].as_i64().unwrap();
        }
        let rc = h.get(&format!("/return-calls/{one}")).await;
        assert_eq!(rc["attempt_log"].as_array().unwrap().len(), 3);
        assert_eq!(rc["attempt_log"][0]["outcome"], "no_answer");
        assert_eq!(rc["attempt_log"][0]["by_name"], "坐席wang");
        assert_eq!(rc["attempt_log"][0]["note"], "试了一次");
        assert!(rc["closed_at"].is_string());
        let (status, body) = attempt(one, version, "reached").await;
        assert_eq!(status, 409, "no attempts on a closed task: {body}");
        assert_eq!(body["error"]["code"], "conflict");

        // Reached on the second try: done.
        let v = h.get(&format!("/return-calls/{two}")).await["version"]
            .as_i64()
            .unwrap();
        let (_, body) = attempt(two, v, "busy").await;
        let v2 = body["version"].as_i64().unwrap();
        let (status, body) = attempt(two, v, "reached").await;
        assert_eq!(status, 409, "stale version");
        assert_eq!(body["error"]["code"], "version_conflict");
        let (status, body) = attempt(two, v2, "called").await;
        assert_eq!(status, 422);
        assert_eq!(
            body["error"]["fields"]["outcome"],
            "reached, no_answer, busy or wrong_number"
        );
        let (status, body) = h
            .api(
                "POST",
                &format!("/return-calls/{two}/attempts"),
                &agent,
                Some(json!({ "outcome": "reached" })),
            )
            .await;
        assert_eq!(status, 428, "{body}");
        let (status, body) = attempt(two, v2, "reached").await;
        assert_eq!(status, 200);
        assert_eq!(body["status"], "reached");
        assert_eq!(body["attempts"], 2);
        // The next missed call from that number opens a new task.
        let (_, r3) = h
            .send(&ev("q2", "Q2", "missed", t0 + HOUR, "13800000002"))
            .await;
        assert_ne!(r3["return_call_id"], two);
        let open: Vec<Value> = h
            .returns()
            .await
            .into_iter()
            .filter(|r| r["status"] == "open")
            .collect();
        assert_eq!(open.len(), 1);
        assert_eq!(h.returns().await[0]["status"], "open", "open tasks first");
    })
    .await;
}

/// Reads `call` events from an SSE response until one arrives or `wait` passes.
async fn next_pop(res: &mut reqwest::Response, buf: &mut String, wait: Duration) -> Option<String> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        if let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            if frame.lines().any(|l| l == "event: call") {
                let data: Vec<&str> = frame
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:")))
                    .collect();
                return Some(data.join("\n"));
            }
            continue;
        }
        match tokio::time::timeout_at(deadline, res.chunk()).await {
            Ok(Ok(Some(bytes))) => buf.push_str(&String::from_utf8_lossy(&bytes)),
            _ => return None,
        }
    }
}

#[tokio::test]
async fn callers_pop_on_the_right_agents_page() {
    each_backend(|db, which| async move {
        let h = hot(db).await;
        let zhang = h.customer("张三", "13800138000").await;
        let (_, cookie_a) = h.agent("alice", "8001", "13511110001").await;
        let (_, cookie_b) = h.agent("bob", "8002", "13511110002").await;
        let open = |cookie: String| {
            let h = &h;
            async move {
                let res = h
                    .http
                    .get(format!("{}/ui/events", h.base))
                    .header("cookie", cookie)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 200);
                assert!(
                    res.headers()["content-type"]
                        .to_str()
                        .unwrap()
                        .starts_with("text/event-stream")
                );
                res
            }
        };
        let (mut a, mut b) = (open(cookie_a).await, open(cookie_b).await);
        let (mut buf_a, mut buf_b) = (String::new(), String::new());
        let wait = Duration::from_secs(5);

        // Rings at Alice's extension: only Alice sees it.
        h.send(&ev("s1", "S1", "ringing", MONDAY_9AM, "13800138000").extension("8001"))
            .await;
        let pop = next_pop(&mut a, &mut buf_a, wait)
            .await
            .expect("Alice's pop");
        assert!(
            pop.contains("13800138000"),
            "{which:?} agents see phones: {pop}"
        );
        assert!(pop.contains("张三"), "{pop}");
        assert!(pop.contains(&format!("/customers/{zhang}")), "{pop}");
        assert!(
            pop.contains(&format!("/tickets/new?customer_id={zhang}&#38;call_id=")),
            "{pop}"
        );
        assert!(pop.contains("来电"), "in the user's language: {pop}");

        // Rings at Bob's: Bob's first pop is this one, not Alice's call.
        h.send(&ev("s2", "S2", "ringing", MONDAY_9AM + MIN, "13900139000").extension("8002"))
            .await;
        let pop = next_pop(&mut b, &mut buf_b, wait).await.expect("Bob's pop");
        assert!(pop.contains("13900139000"), "{pop}");
        assert!(!pop.contains("13800138000"), "{pop}");
        assert!(pop.contains("未知客户"), "{pop}");

        // No extension named (still in the queue): every agent sees it.
        h.send(&ev(
            "s3",
            "S3",
            "ringing",
            MONDAY_9AM + 2 * MIN,
            "13700137000",
        ))
        .await;
        for (res, buf) in [(&mut a, &mut buf_a), (&mut b, &mut buf_b)] {
            let pop = next_pop(res, buf, wait).await.expect("a queue pop");
            assert!(pop.contains("13700137000"), "{pop}");
        }
        // A hang-up pops nothing; Alice's next pop is her answered call.
        h.send(&ev(
            "s4",
            "S3",
            "ended",
            MONDAY_9AM + 3 * MIN,
            "13700137000",
        ))
        .await;
        h.send(&ev("s5", "S1", "answered", MONDAY_9AM + 5_000, "13800138000").extension("8001"))
            .await;
        let pop = next_pop(&mut a, &mut buf_a, wait)
            .await
            .expect("answered pop");
        assert!(pop.contains("已接通"), "{pop}");
        assert!(
            next_pop(&mut b, &mut buf_b, Duration::from_millis(600))
                .await
                .is_none()
        );

        // Without a session the stream is not served.
        let res = h
            .http
            .get(format!("{}/ui/events", h.base))
            .send()
            .await
            .unwrap();
        assert_ne!(
            res.headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap_or("")),
            Some("text/event-stream")
        );
    })
    .await;
}

#[tokio::test]
async fn answer_rate_and_time_to_answer_are_exact_and_scoped_by_brand() {
    each_backend(|db, which| async move {
        let h = hot(db).await;
        let brand = app::admin::create_brand(&h.app, &h.sys, "aq", "安泉净水", "standard")
            .await
            .unwrap();
        let (status, body) = h
            .api(
                "PUT",
                "/hotline/lines/4001112222",
                &h.token,
                Some(json!({ "brand_id": brand.0, "name": "安泉 400" })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let t0 = MONDAY_9AM;
        // Answered after 5, 10, 20 and 40 s; one missed, one abandoned — on the company's line.
        let mut n = 0;
        for (i, wait) in (0i64..).zip([5_000, 10_000, 20_000, 40_000]) {
            let at = t0 + i * 10 * MIN;
            n += 1;
            h.send(&ev(
                &format!("r{n}"),
                &format!("K{i}"),
                "ringing",
                at,
                "13800138000",
            ))
            .await;
            n += 1;
            h.send(&ev(
                &format!("r{n}"),
                &format!("K{i}"),
                "answered",
                at + wait,
                "13800138000",
            ))
            .await;
            n += 1;
            h.send(&ev(
                &format!("r{n}"),
                &format!("K{i}"),
                "ended",
                at + wait + 60_000,
                "13800138000",
            ))
            .await;
        }
        h.send(&ev("m1", "M", "ringing", t0 + HOUR, "13800138001"))
            .await;
        h.send(&ev("m2", "M", "missed", t0 + HOUR + 30_000, "13800138001"))
            .await;
        h.send(&ev("m3", "Ab", "abandoned", t0 + HOUR + MIN, "13800138002"))
            .await;
        // The brand's line: one answered call (3 s), one missed.
        let brand_ev = |id: &str, call: &str, kind: &str, at: i64| {
            TelephonyEvent::inbound(id, call, kind, Timestamp(at), "13600136000", "400-111-2222")
        };
        h.send(&brand_ev("b1", "B1", "ringing", t0 + 2 * HOUR))
            .await;
        h.send(&brand_ev("b2", "B1", "answered", t0 + 2 * HOUR + 3_000))
            .await;
        h.send(&brand_ev("b3", "B2", "missed", t0 + 3 * HOUR)).await;
        // Yesterday's call is outside the day.
        h.send(&ev("old", "OLD", "missed", t0 - 20 * HOUR, "13800138009"))
            .await;

        let s = h.get("/calls/stats?from=2026-11-23&to=2026-11-23").await;
        assert_eq!(s["offered"], 8, "{which:?} {s}");
        assert_eq!(s["answered"], 5);
        assert_eq!(s["missed"], 2);
        assert_eq!(s["abandoned"], 1);
        assert_eq!(s["answer_rate"], json!(5.0 / 8.0));
        // (5 + 10 + 20 + 40 + 3) / 5 = 15.6 s
        assert_eq!(s["avg_answer_ms"], 15_600);
        // Nearest rank: the 5th of 5.
        assert_eq!(s["p90_answer_ms"], 40_000);
        assert_eq!(s["answer_target_secs"], 15);
        assert_eq!(s["answered_within_target"], 3);
        assert_eq!(s["within_target_share"], json!(3.0 / 5.0));
        assert_eq!(s["answer_rate_target"], json!(0.85));
        let only = h
            .get(&format!(
                "/calls/stats?from=2026-11-23&brand_id={}",
                brand.0
            ))
            .await;
        assert_eq!(only["offered"], 2);
        assert_eq!(only["answered"], 1);
        assert_eq!(only["p90_answer_ms"], 3_000);

        // A brand's own token sees its line only, calls and figures alike.
        let dyn_clock: Arc<dyn Clock> = h.clock.clone();
        let admin = app::admin::user(&h.app, &h.sys, h.admin).await.unwrap();
        let ctx =
            Principal::of_user(admin, None)
                .unwrap()
                .ctx(dyn_clock, String::new(), "zh-CN".into());
        let (_, brand_token) =
            app::auth::create_token(&h.app, &ctx, "brand", Some(BrandId(brand.0)))
                .await
                .unwrap();
        let (_, s) = h
            .api("GET", "/calls/stats?from=2026-11-23", &brand_token, None)
            .await;
        assert_eq!(s["offered"], 2, "{s}");
        let (_, calls) = h.api("GET", "/calls", &brand_token, None).await;
        assert_eq!(calls["items"].as_array().unwrap().len(), 2);
        let (_, rcs) = h.api("GET", "/return-calls", &brand_token, None).await;
        assert_eq!(rcs["items"].as_array().unwrap().len(), 1, "{rcs}");
        let (status, _) = h
            .api(
                "GET",
                &format!("/calls/{}", h.calls().await.last().unwrap()["id"]),
                &brand_token,
                None,
            )
            .await;
        assert_eq!(status, 404, "another line's call is not found");

        let (status, body) = h
            .api("GET", "/calls/stats?from=tomorrow", &h.token, None)
            .await;
        assert_eq!(status, 422);
        assert!(body["error"]["fields"]["from"].is_string());
        let empty = h.get("/calls/stats?from=2026-12-01").await;
        assert_eq!(empty["offered"], 0);
        assert_eq!(empty["answer_rate"], Value::Null);
        assert_eq!(empty["p90_answer_ms"], Value::Null);
    })
    .await;
}

/// What the fake 阿里云语音服务 saw.
#[derive(Default)]
struct FakeVoice {
    requests: Mutex<Vec<BTreeMap<String, String>>>,
}

async fn click_to_dial(State(fake): State<Arc<FakeVoice>>, RawQuery(q): RawQuery) -> Json<Value> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&q.unwrap_or_default()).unwrap();
    let mut params: BTreeMap<String, String> = pairs.into_iter().collect();
    let given = params.remove("Signature").unwrap_or_default();
    let list: Vec<(String, String)> = params.clone().into_iter().collect();
    let (_, expected) = aliyun_signature("voice-secret", "GET", &list);
    fake.requests.lock().unwrap().push(params.clone());
    if given != expected {
        return Json(
            json!({ "Code": "SignatureDoesNotMatch", "Message": "Specified signature is not matched with our calculation." }),
        );
    }
    if params.get("Action").map(String::as_str) != Some("ClickToDial")
        || params.get("Version").map(String::as_str) != Some("2017-05-25")
    {
        return Json(json!({ "Code": "InvalidAction.NotFound", "Message": "bad action" }));
    }
    if params.get("CalledNumber").map(String::as_str) == Some("13800000666") {
        return Json(
            json!({ "Code": "isv.OUT_OF_SERVICE", "Message": "业务停机", "RequestId": "r-2" }),
        );
    }
    Json(
        json!({ "Code": "OK", "Message": "OK", "RequestId": "D9CB3933-9FE3-4870-BA8E-2BEE91B69D23", "CallId": "116012354148^1028137841" }),
    )
}

/// A desk whose click-to-call goes to a fake 阿里云语音 server started here, with
/// `KEFU_HOTLINE_LANDLINE` bound; the fake keeps the requests it was sent.
async fn with_voice_provider(db: Db) -> (Arc<FakeVoice>, Hot) {
    let fake = Arc::new(FakeVoice::default());
    let provider = serve(
        axum::Router::new()
            .route("/", axum::routing::get(click_to_dial))
            .with_state(fake.clone()),
    )
    .await;
    let h = hot_with(
        db,
        Settings {
            hotline_landline: Some(domain::Phone::parse(LANDLINE).unwrap()),
            voice_aliyun: Some(
                AliyunVoiceConfig::new("voice-key", Secret::new("voice-secret"))
                    .endpoint(format!("http://{provider}/")),
            ),
            ..settings()
        },
    )
    .await;
    (fake, h)
}

#[tokio::test]
async fn click_to_call_shows_the_bound_landline_never_the_400_number() {
    each_backend(|db, which| async move {
        let (fake, h) = with_voice_provider(db).await;
        h.agent("zhao", "8003", "13522223333").await;
        let agent = h.agent_token("zhao").await;
        let (_, r) = h
            .send(&ev("k1", "KK", "missed", MONDAY_9AM, "13800138000"))
            .await;
        let rc = r["return_call_id"].as_i64().unwrap();

        let (status, body) = h
            .api("POST", &format!("/return-calls/{rc}/dial"), &agent, None)
            .await;
        assert_eq!(status, 200, "{which:?} {body}");
        assert_eq!(body["shown_number"], LANDLINE);
        assert_eq!(body["provider_call_id"], "116012354148^1028137841");
        let seen = fake.requests.lock().unwrap().clone();
        assert_eq!(seen.len(), 1);
        let p = &seen[0];
        assert_eq!(p["Action"], "ClickToDial");
        assert_eq!(p["AccessKeyId"], "voice-key");
        assert_eq!(p["CallerNumber"], "13522223333", "the agent is rung first");
        assert_eq!(p["CalledNumber"], "13800138000");
        assert_eq!(p["CallerShowNumber"], LANDLINE);
        assert_eq!(p["CalledShowNumber"], LANDLINE);
        assert!(
            p.values().all(|v| !v.contains(HOTLINE)),
            "never the 400 number: {p:?}"
        );
        assert_eq!(p["OutId"], format!("rc{rc}"));
        assert_eq!(p["SignatureMethod"], "HMAC-SHA1");
        assert_eq!(p["Format"], "JSON");
        // The outbound call is on record, linked to the task.
        let call = h.get(&format!("/calls/{}", body["call_id"])).await;
        assert_eq!(call["direction"], "outbound");
        assert_eq!(call["state"], "dialing");
        assert_eq!(call["return_call_id"], rc);
        assert_eq!(call["called"], "13800138000");

        // The provider refuses another number: said clearly, nothing recorded.
        let (_, r) = h
            .send(&ev("k2", "KK2", "missed", MONDAY_9AM + MIN, "13800000666"))
            .await;
        let rc2 = r["return_call_id"].as_i64().unwrap();
        let before = h.calls().await.len();
        let (status, body) = h
            .api("POST", &format!("/return-calls/{rc2}/dial"), &agent, None)
            .await;
        assert_eq!(status, 409);
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("isv.OUT_OF_SERVICE"),
            "{body}"
        );
        assert_eq!(h.calls().await.len(), before);
        // The administrator has no extension nor phone to ring first.
        let (status, body) = h
            .api("POST", &format!("/return-calls/{rc}/dial"), &h.token, None)
            .await;
        assert_eq!(status, 409);
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("no phone"),
            "{body}"
        );
    })
    .await;
}

#[tokio::test]
async fn click_to_call_refuses_without_a_landline() {
    each_backend(|db, _| async move {
        let h = hot_with(
            db,
            Settings {
                hotline_landline: Some(domain::Phone::parse(HOTLINE).unwrap()),
                voice_aliyun: Some(
                    AliyunVoiceConfig::new("k", Secret::new("s")).endpoint("http://127.0.0.1:9/"),
                ),
                ..settings()
            },
        )
        .await;
        h.agent("qian", "8004", "13533334444").await;
        let agent = h.agent_token("qian").await;
        let (_, r) = h
            .send(&ev("l1", "L", "missed", MONDAY_9AM, "13800138000"))
            .await;
        let (status, body) = h
            .api(
                "POST",
                &format!("/return-calls/{}/dial", r["return_call_id"]),
                &agent,
                None,
            )
            .await;
        assert_eq!(status, 409);
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("never the 400 number"),
            "{body}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_line_with_its_own_calendar_and_landline_calls_back_on_its_hours_showing_its_landline() {
    each_backend(|db, which| async move {
        let (fake, h) = with_voice_provider(db).await;
        // The seeded office-hours calendar: weekdays 09:00–18:00, closed at weekends, while the
        // desk's default is 08:00–21:00 every day.
        let calendars = h.get("/calendars").await;
        let office = calendars
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["week"]["mon"] == "09:00-18:00" && c["week"]["sat"] == "")
            .unwrap_or_else(|| panic!("{which:?}: an office-hours calendar: {calendars}"))
            .clone();
        assert_eq!(office["is_default"], false);
        let (status, line) = h
            .api(
                "POST",
                "/hotline/lines",
                &h.token,
                Some(json!({
                    "number": "400-111-2222",
                    "name": "工作日专线",
                    "landline": "0571-8765 4321",
                    "calendar_id": office["id"],
                })),
            )
            .await;
        assert_eq!(status, 201, "{which:?} {line}");
        assert_eq!(line["landline"], "057187654321");
        assert_eq!(line["calendar_id"], office["id"]);
        let (status, other) = h
            .api(
                "POST",
                "/hotline/lines",
                &h.token,
                Some(json!({ "number": "800-810-0000", "name": "总机" })),
            )
            .await;
        assert_eq!(status, 201, "{other}");
        assert_eq!(other["calendar_id"], Value::Null);
        assert_eq!(other["landline"], Value::Null);

        // Monday 19:30: the desk is open until 21:00, the office-hours line closed at 18:00.
        let evening = MONDAY_9AM + 10 * HOUR + 30 * MIN;
        h.clock.set(Timestamp(evening + MIN));
        let to_line = |id: &str, call: &str, at: i64, caller: &str, called: &str| {
            TelephonyEvent::inbound(id, call, "missed", Timestamp(at), caller, called)
        };
        let (status, r) = h
            .send(&to_line("m1", "M1", evening, "13800138000", "4001112222"))
            .await;
        assert_eq!(status, 200, "{r}");
        let rc_line = r["return_call_id"].as_i64().expect("a return call");
        let call = h.get(&format!("/calls/{}", r["call_id"])).await;
        assert_eq!(call["after_hours"], true, "outside the line's hours");
        let rc = h.get(&format!("/return-calls/{rc_line}")).await;
        assert_eq!(rc["reason"], "after_hours");
        // Tuesday 09:00 in Shanghai, the line's next opening.
        assert!(
            same_instant(&rc["due_at"], MONDAY_9AM + 24 * HOUR),
            "{which:?}: {}",
            rc["due_at"]
        );
        assert_eq!(rc["overdue"], false);

        // The same minute on a line without a calendar of its own: the desk is open, due now.
        let (status, r) = h
            .send(&to_line("m2", "M2", evening, "13900139000", "8008100000"))
            .await;
        assert_eq!(status, 200, "{r}");
        let rc_other = r["return_call_id"].as_i64().expect("a return call");
        let call = h.get(&format!("/calls/{}", r["call_id"])).await;
        assert_eq!(call["after_hours"], false);
        let rc = h.get(&format!("/return-calls/{rc_other}")).await;
        assert_eq!(rc["reason"], "missed");
        assert!(
            same_instant(&rc["due_at"], evening + MIN),
            "due at once: {}",
            rc["due_at"]
        );

        // Saturday 10:00: the desk is open, the line closed for the weekend → Monday 09:00.
        let saturday = MONDAY_9AM + 5 * 24 * HOUR + HOUR;
        h.clock.set(Timestamp(saturday + MIN));
        let (_, r) = h
            .send(&to_line("m3", "M3", saturday, "13700137000", "4001112222"))
            .await;
        let rc = h
            .get(&format!("/return-calls/{}", r["return_call_id"]))
            .await;
        assert_eq!(rc["reason"], "after_hours");
        assert!(
            same_instant(&rc["due_at"], MONDAY_9AM + 7 * 24 * HOUR),
            "{}",
            rc["due_at"]
        );
        let rc_weekend = r["return_call_id"].as_i64().expect("a return call");
        // Within the line's hours its missed calls are owed at once.
        let tuesday = MONDAY_9AM + 24 * HOUR + HOUR;
        h.clock.set(Timestamp(tuesday + MIN));
        let (_, r) = h
            .send(&to_line("m4", "M4", tuesday, "13600136000", "4001112222"))
            .await;
        let rc = h
            .get(&format!("/return-calls/{}", r["return_call_id"]))
            .await;
        assert_eq!(rc["reason"], "missed");
        assert!(
            same_instant(&rc["due_at"], tuesday + MIN),
            "{}",
            rc["due_at"]
        );

        // Click-to-call: the customer of the line sees the line's own landline; the other
        // line's customer the bound KEFU_HOTLINE_LANDLINE.
        h.agent("zhao", "8003", "13522223333").await;
        let agent = h.agent_token("zhao").await;
        let dial = async |rc: i64| {
            h.api("POST", &format!("/return-calls/{rc}/dial"), &agent, None)
                .await
        };
        let (status, body) = dial(rc_line).await;
        assert_eq!(status, 200, "{which:?} {body}");
        assert_eq!(body["shown_number"], "057187654321");
        let dialled = h.get(&format!("/calls/{}", body["call_id"])).await;
        assert_eq!(dialled["direction"], "outbound");
        assert_eq!(dialled["caller"], "057187654321");
        assert_eq!(dialled["return_call_id"], rc_line);
        let (status, body) = dial(rc_other).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["shown_number"], LANDLINE);
        // The weekend call is owed from next Monday's opening: not dialled before, nothing sent.
        let (status, body) = dial(rc_weekend).await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["error"]["code"], "conflict", "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("due from")),
            "{body}"
        );

        let seen = fake.requests.lock().unwrap().clone();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0]["CalledNumber"], "13800138000");
        assert_eq!(seen[0]["CallerShowNumber"], "057187654321");
        assert_eq!(seen[0]["CalledShowNumber"], "057187654321");
        assert_eq!(seen[0]["OutId"], format!("rc{rc_line}"));
        assert_eq!(seen[1]["CalledNumber"], "13900139000");
        assert_eq!(seen[1]["CallerShowNumber"], LANDLINE);
        assert_eq!(seen[1]["CalledShowNumber"], LANDLINE);
        assert_eq!(seen[1]["OutId"], format!("rc{rc_other}"));
        assert!(
            seen.iter()
                .flat_map(|p| p.values())
                .all(|v| !v.contains("4001112222") && !v.contains("8008100000")),
            "never a service number: {seen:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn the_calls_page_shows_figures_and_return_calls_and_records_attempts() {
    each_backend(|db, which| async move {
        let h = hot(db).await;
        let (_, cookie) = h.agent("sun", "8005", "13544445555").await;
        h.customer("周五", "13800138000").await;
        h.send(&ev("u1", "U", "ringing", MONDAY_9AM, "13800138000"))
            .await;
        h.send(&ev("u2", "U", "missed", MONDAY_9AM + 30_000, "13800138000"))
            .await;
        h.send(&ev("v1", "V", "ringing", MONDAY_9AM + MIN, "13900139000"))
            .await;
        h.send(&ev(
            "v2",
            "V",
            "answered",
            MONDAY_9AM + MIN + 4_000,
            "13900139000",
        ))
        .await;
        let page = |path: &'static str, lang: &'static str| {
            let h = &h;
            let cookie = cookie.clone();
            async move {
                let res = h
                    .http
                    .get(format!("{}{path}", h.base))
                    .header("cookie", format!("{cookie}; kefu_lang={lang}"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 200, "{path}");
                res.text().await.unwrap()
            }
        };
        let html = page("/calls?day=2026-11-23", "zh-CN").await;
        assert!(html.contains("热线电话"), "{which:?}");
        assert!(html.contains("href=\"/calls\""), "in the main nav");
        assert!(html.contains("50.0%"), "answer rate 1 of 2: {html}");
        assert!(html.contains("4.0 s"), "time to answer");
        assert!(html.contains("未接来电"));
        assert!(html.contains("周五"));
        assert!(html.contains("0 / 3"));
        assert!(html.contains("一键外呼"));
        let rc = h.returns().await[0].clone();
        let action = format!("/calls/return/{}/attempt", rc["id"]);
        assert!(html.contains(&action));
        let csrf = html
            .split("name=\"_csrf\" value=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap()
            .to_string();
        let res = h
            .http
            .post(format!("{}{action}", h.base))
            .header("cookie", cookie.clone())
            .form(&[
                ("_csrf", csrf.as_str()),
                ("version", &rc["version"].to_string()),
                ("outcome", "reached"),
                ("note", "客户说滤芯已换好"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "followed the redirect");
        let html = res.text().await.unwrap();
        assert!(html.contains("回拨结果已记录"), "{html}");
        assert!(html.contains("已联系"));
        let rc = h.get(&format!("/return-calls/{}", rc["id"])).await;
        assert_eq!(rc["status"], "reached");
        assert_eq!(rc["attempt_log"][0]["note"], "客户说滤芯已换好");

        let html = page("/calls", "en").await;
        assert!(
            html.contains("Return calls") && html.contains("Reached"),
            "{html}"
        );
    })
    .await;
}

// ---------------------------------------------------------------- pages, lists and figures

impl Hot {
    /// The administrator's browser session.
    async fn admin_cookie(&self) -> String {
        let dyn_clock: Arc<dyn Clock> = self.clock.clone();
        let s = app::auth::login(&self.app, &dyn_clock, "admin", "secret-pass-1", "10.0.0.8")
            .await
            .unwrap();
        format!("kefu_session={}", s.token)
    }

    /// GETs a page with a session; returns (status, html).
    async fn page(&self, cookie: &str, path: &str) -> (u16, String) {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", format!("{cookie}; kefu_lang=zh-CN"))
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    }

    /// Posts a form with the CSRF token of `from` (a page of the same session); the redirect is
    /// followed. Returns (status, html).
    async fn form(
        &self,
        cookie: &str,
        from: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> (u16, String) {
        let (_, html) = self.page(cookie, from).await;
        let csrf = html
            .split("name=\"_csrf\" value=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("a CSRF token on the page")
            .to_string();
        let mut pairs: Vec<(&str, &str)> = vec![("_csrf", csrf.as_str())];
        pairs.extend_from_slice(fields);
        let res = self
            .http
            .post(format!("{}{action}", self.base))
            .header("cookie", format!("{cookie}; kefu_lang=zh-CN"))
            .form(&pairs)
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    }

    /// One inbound call: rings at `at`, then `end` ("answered" after `wait` ms, or a final
    /// state at `at + wait`), optionally at an extension.
    async fn call(&self, id: &str, caller: &str, at: i64, end: &str, wait: i64, ext: Option<&str>) {
        let with = |e: TelephonyEvent| match ext {
            Some(x) => e.extension(x),
            None => e,
        };
        let (status, body) = self
            .send(&with(ev(&format!("{id}-r"), id, "ringing", at, caller)))
            .await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = self
            .send(&with(ev(&format!("{id}-e"), id, end, at + wait, caller)))
            .await;
        assert_eq!(status, 200, "{body}");
    }
}

#[tokio::test]
async fn lines_and_extensions_are_administered_on_pages_and_refused_to_agents() {
    each_backend(|db, which| async move {
        let h = hot(db).await;
        let admin = h.admin_cookie().await;
        let brand = app::admin::create_brand(&h.app, &h.sys, "aq", "安泉净水", "standard")
            .await
            .unwrap();
        let (status, html) = h.page(&admin, "/admin/hotline-lines").await;
        assert_eq!(status, 200, "{which:?} {html}");
        assert!(html.contains("添加热线号码"), "{html}");
        assert!(html.contains("href=\"/admin/hotline-lines\""), "in the nav");
        assert!(html.contains("安泉净水"), "brands offered");

        // A mobile is not a service number: shown in the form, nothing stored.
        let (status, html) = h
            .form(
                &admin,
                "/admin/hotline-lines",
                "/admin/hotline-lines",
                &[
                    ("number", "13800138000"),
                    ("name", "错号"),
                    ("brand_id", ""),
                ],
            )
            .await;
        assert_eq!(status, 422, "{html}");
        assert!(html.contains("须为 400 或 800 服务号码"), "{html}");
        assert!(html.contains("value=\"错号\""), "values kept");
        let (status, html) = h
            .form(
                &admin,
                "/admin/hotline-lines",
                "/admin/hotline-lines",
                &[("number", "12ab"), ("name", "坏号码")],
            )
            .await;
        assert_eq!(status, 422);
        assert!(html.contains("class=\"err\""), "{html}");
        assert!(h.get("/hotline/lines").await.as_array().unwrap().is_empty());

        // A good line, for the brand, with its own landline.
        let (status, html) = h
            .form(
                &admin,
                "/admin/hotline-lines",
                "/admin/hotline-lines",
                &[
                    ("number", "400-111-2222"),
                    ("name", "安泉 400"),
                    ("brand_id", &brand.0.to_string()),
                    ("landline", "0571-8888 6666"),
                ],
            )
            .await;
        assert_eq!(status, 200, "{html}");
        assert!(html.contains("热线号码已添加"), "{html}");
        assert!(html.contains("4001112222") && html.contains("057188886666"));
        let line = &h.get("/hotline/lines").await[0];
        assert_eq!(line["brand_id"], brand.0);
        assert_eq!(line["landline"], "057188886666");
        assert_eq!(line["active"], true);

        // Edit: a 400 number is no landline; then deactivate.
        let (status, html) = h.page(&admin, "/admin/hotline-lines/4001112222").await;
        assert_eq!(status, 200);
        assert!(html.contains("value=\"安泉 400\""), "{html}");
        let version = line["version"].to_string();
        let (status, html) = h
            .form(
                &admin,
                "/admin/hotline-lines/4001112222",
                "/admin/hotline-lines/4001112222",
                &[
                    ("version", &version),
                    ("name", "安泉 400"),
                    ("landline", "4008208820"),
                    ("active", "1"),
                ],
            )
            .await;
        assert_eq!(status, 422);
        assert!(html.contains("不能是 400/800 号码或手机"), "{html}");
        let (status, html) = h
            .form(
                &admin,
                "/admin/hotline-lines/4001112222",
                "/admin/hotline-lines/4001112222",
                &[
                    ("version", &version),
                    ("name", "安泉热线"),
                    ("brand_id", &brand.0.to_string()),
                ],
            )
            .await;
        assert_eq!(status, 200, "{html}");
        assert!(
            html.contains("已停用") && html.contains("安泉热线"),
            "{html}"
        );
        // A stale form is refused, saying so.
        let (status, html) = h
            .form(
                &admin,
                "/admin/hotline-lines/4001112222",
                "/admin/hotline-lines/4001112222",
                &[("version", &version), ("name", "又改"), ("active", "1")],
            )
            .await;
        assert_eq!(status, 409, "{html}");
        let line = &h.get("/hotline/lines/4001112222").await;
        assert_eq!(line["name"], "安泉热线");
        assert_eq!(line["active"], false);
        // A deactivated line's calls are the company's own.
        h.send(&TelephonyEvent::inbound(
            "x1",
            "X1",
            "missed",
            Timestamp(MONDAY_9AM),
            "13600136000",
            "4001112222",
        ))
        .await;
        assert_eq!(h.calls().await[0]["brand_id"], Value::Null);

        // The API: stable codes, nothing changed by bad input.
        let (status, body) = h
            .api(
                "POST",
                "/hotline/lines",
                &h.token,
                Some(json!({ "number": "12345", "name": "x" })),
            )
            .await;
        assert_eq!(status, 422);
        assert_eq!(body["error"]["code"], "validation");
        assert!(body["error"]["fields"]["number"].is_string(), "{body}");
        let (status, body) = h
            .api(
                "POST",
                "/hotline/lines",
                &h.token,
                Some(json!({ "number": "4001112222", "name": "again" })),
            )
            .await;
        assert_eq!(status, 409);
        assert_eq!(body["error"]["code"], "duplicate");
        let (status, body) = h
            .api(
                "POST",
                "/hotline/lines",
                &h.token,
                Some(json!({ "number": "8008100000", "name": "免费", "calendar_id": 999_999 })),
            )
            .await;
        assert_eq!(status, 422);
        assert_eq!(body["error"]["fields"]["calendar_id"], "unknown calendar");
        let (status, body) = h
            .api_h(
                "PUT",
                "/hotline/lines/4001112222",
                &h.token,
                Some(json!({ "name": "x", "active": true })),
                &[("if-match", "\"1\"")],
            )
            .await;
        assert_eq!(status, 409);
        assert_eq!(body["error"]["code"], "version_conflict");
        assert_eq!(h.get("/hotline/lines").await.as_array().unwrap().len(), 1);

        // Extensions: add, edit, deactivate.
        let (wang, agent) = h.agent("wang", "8001", "13511112222").await;
        let (status, html) = h.page(&admin, "/admin/extensions").await;
        assert_eq!(status, 200);
        assert!(html.contains("坐席wang") && html.contains("8001"), "{html}");
        let (status, html) = h
            .form(
                &admin,
                "/admin/extensions",
                "/admin/extensions",
                &[("extension", "80 02"), ("user_id", &wang.to_string())],
            )
            .await;
        assert_eq!(status, 422);
        assert!(html.contains("class=\"err\""), "{html}");
        let (status, html) = h
            .form(
                &admin,
                "/admin/extensions",
                "/admin/extensions",
                &[("extension", "8001"), ("user_id", &wang.to_string())],
            )
            .await;
        assert_eq!(status, 422, "an extension in use is not taken over");
        assert!(
            html.contains("已被占用") || html.contains("class=\"err\""),
            "{html}"
        );
        let ext = h.get("/hotline/extensions").await[0].clone();
        let (status, html) = h
            .form(
                &admin,
                "/admin/extensions/8001",
                "/admin/extensions/8001",
                &[
                    ("version", &ext["version"].to_string()),
                    ("user_id", &wang.to_string()),
                    ("phone", "13599998888"),
                ],
            )
            .await;
        assert_eq!(status, 200, "{html}");
        let ext = h.get("/hotline/extensions").await[0].clone();
        assert_eq!(ext["active"], false);
        assert_eq!(ext["phone"], "13599998888");
        // A deactivated extension names no agent.
        h.send(&ev("y1", "Y1", "ringing", MONDAY_9AM + HOUR, "13700137000").extension("8001"))
            .await;
        assert_eq!(h.calls().await[0]["agent_user_id"], Value::Null);

        // Agents get the 403 page.
        for path in [
            "/admin/hotline-lines",
            "/admin/extensions",
            "/admin/hotline-lines/4001112222",
        ] {
            let (status, html) = h.page(&agent, path).await;
            assert_eq!(status, 403, "{path}: {html}");
        }
        let (_, html) = h.page(&agent, "/calls").await;
        assert!(
            !html.contains("href=\"/admin/hotline-lines\""),
            "not in an agent's nav"
        );
    })
    .await;
}

#[tokio::test]
async fn call_lists_page_by_cursor_and_filters_combine() {
    each_backend(|db, which| async move {
        let h = hot(db).await;
        let (alice, _) = h.agent("alice", "8001", "13511110001").await;
        let (status, _) = h
            .api(
                "POST",
                "/hotline/lines",
                &h.token,
                Some(json!({ "number": "4001112222", "name": "二号线" })),
            )
            .await;
        assert_eq!(status, 201);
        let t0 = MONDAY_9AM;
        // Eleven calls; two ring at the same instant (the id breaks the tie).
        for i in 0..9i64 {
            let (end, wait) = match i % 3 {
                0 => ("answered", 5_000),
                1 => ("missed", 30_000),
                _ => ("abandoned", 20_000),
            };
            let ext = (i % 2 == 0).then_some("8001");
            h.call(&format!("C{i}"), &format!("1380000000{i}"), t0 + i * MIN, end, wait, ext)
                .await;
        }
        h.call("T1", "13900000001", t0 + 20 * MIN, "missed", 1_000, None).await;
        h.send(&TelephonyEvent::inbound(
            "T2-r",
            "T2",
            "missed",
            Timestamp(t0 + 20 * MIN),
            "13900000002",
            "4001112222",
        ))
        .await;
        // Yesterday's: outside the period.
        h.call("OLD", "13900000009", t0 - 20 * HOUR, "missed", 1_000, None).await;

        let all = h.calls().await;
        assert_eq!(all.len(), 12, "{which:?}");
        let mut seen = Vec::new();
        let mut path = "/calls?limit=5&from=2026-11-23&to=2026-11-23".to_string();
        let mut pages = 0;
        loop {
            let page = h.get(&path).await;
            pages += 1;
            let items = page["items"].as_array().unwrap();
            assert!(items.len() <= 5);
            seen.extend(items.iter().map(|c| c["id"].as_i64().unwrap()));
            match page["next_cursor"].as_str() {
                Some(c) => path = format!("/calls?limit=5&from=2026-11-23&to=2026-11-23&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(pages, 3, "11 calls in pages of 5");
        let expected: Vec<i64> = all
            .iter()
            .filter(|c| !same_instant(&c["ringing_at"], t0 - 20 * HOUR))
            .map(|c| c["id"].as_i64().unwrap())
            .collect();
        assert_eq!(seen, expected, "every call once, newest first");
        let mut dedup = seen.clone();
        dedup.sort_unstable();
        dedup.dedup();
        assert_eq!(dedup.len(), 11);

        // Filters combine.
        let ids = |v: &Value| -> Vec<i64> {
            v["items"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect()
        };
        let answered = h.get("/calls?outcome=answered&from=2026-11-23").await;
        assert_eq!(ids(&answered).len(), 3);
        let mine_missed = h
            .get(&format!("/calls?outcome=missed&agent_id={alice}&from=2026-11-23"))
            .await;
        // Missed calls are i = 1, 4, 7; at Alice's extension only the even ones: 4.
        assert_eq!(ids(&mine_missed).len(), 1, "{mine_missed}");
        assert_eq!(mine_missed["items"][0]["caller"], "13800000004");
        let line = h.get("/calls?line=400-111-2222&outcome=missed").await;
        assert_eq!(ids(&line).len(), 1);
        assert_eq!(line["items"][0]["caller"], "13900000002");
        let abandoned_in = h
            .get("/calls?outcome=abandoned&direction=inbound&from=2026-11-23T09:03:00%2B08:00&to=2026-11-23T09:06:00%2B08:00")
            .await;
        // Abandoned: i = 2, 5, 8 → only 5 rings between 09:03 and 09:06.
        assert_eq!(ids(&abandoned_in).len(), 1, "{abandoned_in}");
        let none = h.get("/calls?outcome=answered&direction=outbound").await;
        assert!(ids(&none).is_empty());
        for bad in ["/calls?cursor=nonsense", "/calls?outcome=lost", "/calls?line=abc"] {
            let (status, body) = h.api("GET", bad, &h.token, None).await;
            assert_eq!(status, 422, "{bad}: {body}");
            assert_eq!(body["error"]["code"], "validation");
        }

        // Return calls: by due time, paged, filtered by state and due time.
        let mut seen = Vec::new();
        let mut path = "/return-calls?limit=2".to_string();
        loop {
            let page = h.get(&path).await;
            seen.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => path = format!("/return-calls?limit=2&cursor={c}"),
                None => break,
            }
        }
        let all_rc = h.returns().await;
        assert_eq!(seen, all_rc, "every task once, in order");
        assert_eq!(all_rc.len(), 9, "6 missed or abandoned, T1, T2 and OLD");
        let dues: Vec<&str> = all_rc.iter().map(|r| r["due_at"].as_str().unwrap()).collect();
        let mut sorted = dues.clone();
        sorted.sort_unstable();
        assert_eq!(dues, sorted, "ordered by due time");
        let (_, rc) = h
            .api_h(
                "POST",
                &format!("/return-calls/{}/attempts", all_rc[0]["id"]),
                &h.token,
                Some(json!({ "outcome": "reached" })),
                &[("if-match", &format!("\"{}\"", all_rc[0]["version"]))],
            )
            .await;
        assert_eq!(rc["status"], "reached", "{rc}");
        let open = h.get("/return-calls?status=open").await;
        assert_eq!(open["items"].as_array().unwrap().len(), 8);
        let reached = h.get("/return-calls?status=reached").await;
        assert_eq!(reached["items"][0]["attempt_log"][0]["outcome"], "reached");
        let due_today = h.get("/return-calls?status=open&due_from=2026-11-23&due_to=2026-11-23").await;
        assert_eq!(due_today["items"].as_array().unwrap().len(), 8);
        let due_later = h.get("/return-calls?due_from=2026-11-24").await;
        assert!(due_later["items"].as_array().unwrap().is_empty());
        let (status, _) = h.api("GET", "/return-calls?status=lost", &h.token, None).await;
        assert_eq!(status, 422);

        // The page: filters in the URL, a next-page link keeping them, events one click away.
        let admin = h.admin_cookie().await;
        let (status, html) = h
            .page(&admin, &format!("/calls?from=2026-11-23&to=2026-11-23&outcome=missed&agent={alice}"))
            .await;
        assert_eq!(status, 200);
        assert!(html.contains("13800000004"), "{html}");
        assert_eq!(html.matches("data-call=").count(), 1, "filtered");
        assert!(html.contains("<option value=\"missed\" selected>"), "filter kept");
        assert!(html.contains(&format!("<option value=\"{alice}\" selected>")), "filter kept");
        let (_, html) = h.page(&admin, "/calls?from=2026-11-23&to=2026-11-23&outcome=missed").await;
        let rows = html.matches("data-call=").count();
        assert_eq!(rows, 5, "missed: 1, 4, 7, T1, T2");
        let (_, html) = h.page(&admin, "/calls?from=2026-11-23&to=2026-11-23").await;
        let first = all.iter().find(|c| c["caller"] == "13800000000").unwrap();
        let call_id = first["id"].as_i64().unwrap();
        assert!(html.contains(&format!("href=\"/calls/{call_id}\"")));
        let (status, html) = h.page(&admin, &format!("/calls/{call_id}")).await;
        assert_eq!(status, 200);
        assert!(html.contains("通话事件") && html.contains("振铃"), "{html}");
        let events = h.get(&format!("/calls/{call_id}/events")).await;
        assert!(!events.as_array().unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn kpis_are_computed_from_the_call_records_with_the_answer_target() {
    each_backend(|db, which| async move {
        let h = hot(db).await;
        let t0 = MONDAY_9AM;
        // 7 answered after 3, 5, 8, 12, 15, 20 and 30 s; 2 missed; 1 abandoned.
        for (i, wait) in (0i64..).zip([3, 5, 8, 12, 15, 20, 30]) {
            h.call(
                &format!("A{i}"),
                "13800138000",
                t0 + i * MIN,
                "answered",
                wait * 1000,
                None,
            )
            .await;
        }
        h.call("M1", "13800138001", t0 + HOUR, "missed", 30_000, None)
            .await;
        h.call("M2", "13800138002", t0 + HOUR + MIN, "missed", 30_000, None)
            .await;
        h.call(
            "B1",
            "13800138003",
            t0 + 2 * HOUR,
            "abandoned",
            10_000,
            None,
        )
        .await;

        let s = h.get("/calls/stats?from=2026-11-23&to=2026-11-23").await;
        assert_eq!(s["offered"], 10, "{which:?} {s}");
        assert_eq!(s["answered"], 7);
        assert_eq!(s["missed"], 2);
        assert_eq!(s["abandoned"], 1);
        assert_eq!(s["answer_rate"], json!(0.7));
        // (3 + 5 + 8 + 12 + 15 + 20 + 30) / 7 s = 13 285.7 ms, rounded.
        assert_eq!(s["avg_answer_ms"], 13_286);
        // Nearest rank: ceil(0.9 × 7) = the 7th.
        assert_eq!(s["p90_answer_ms"], 30_000);
        assert_eq!(s["answer_target_secs"], 15);
        assert_eq!(s["answered_within_target"], 5, "3, 5, 8, 12 and 15 s");
        assert_eq!(s["within_target_share"], json!(5.0 / 7.0));

        let admin = h.admin_cookie().await;
        let (status, html) = h.page(&admin, "/calls?from=2026-11-23&to=2026-11-23").await;
        assert_eq!(status, 200);
        assert!(html.contains("70.0%"), "{html}");
        assert!(html.contains("13.3 s") && html.contains("30.0 s"));
        assert!(html.contains("71.4%") && html.contains("15 秒内"));
        // Another period has none of them.
        let (_, html) = h.page(&admin, "/calls?from=2026-11-24&to=2026-11-25").await;
        assert!(!html.contains("70.0%"));

        // The target is a setting (KEFU_HOTLINE_ANSWER_TARGET_SECS): 10 s counts three.
        let strict = App::new(
            h.app.db.clone(),
            Arc::new(web::assets::regions()),
            Settings {
                hotline_answer_target_secs: 10,
                ..settings()
            },
        );
        let dyn_clock: Arc<dyn Clock> = h.clock.clone();
        let user = app::admin::user(&h.app, &h.sys, h.admin).await.unwrap();
        let ctx =
            Principal::of_user(user, None)
                .unwrap()
                .ctx(dyn_clock, String::new(), "zh-CN".into());
        let s = app::hotline::stats(
            &strict,
            &ctx,
            app::hotline::StatsQuery {
                from: Some("2026-11-23".into()),
                to: None,
                brand_id: None,
            },
        )
        .await
        .unwrap();
        assert_eq!(s.answer_target_secs, 10);
        assert_eq!(s.answered_within_target, 3);
        assert_eq!(s.within_target_share, Some(3.0 / 7.0));
        assert_eq!(s.answer_rate, Some(0.7));
    })
    .await;
}

#[tokio::test]
async fn return_calls_are_worked_from_the_list_with_their_history() {
    each_backend(|db, which| async move {
        let h = hot(db).await;
        let (_, cookie) = h.agent("sun", "8005", "13544445555").await;
        let zhou = h.customer("周五", "13800138000").await;
        h.call("U", "13800138000", MONDAY_9AM, "missed", 30_000, None)
            .await;
        h.call("W", "13900139000", MONDAY_9AM + MIN, "missed", 30_000, None)
            .await;
        let rcs = h.returns().await;
        let (u, w) = (rcs[0].clone(), rcs[1].clone());
        let (status, html) = h.page(&cookie, "/calls?rc_status=open").await;
        assert_eq!(status, 200, "{which:?}");
        assert!(
            html.contains(&format!("href=\"/customers/{zhou}\"")),
            "links to the customer"
        );
        assert!(
            html.contains(&format!("href=\"/calls/{}\"", u["call_id"])),
            "and the call's events"
        );
        assert!(
            html.contains(&format!("/calls/return/{}/dial", u["id"])),
            "click-to-call"
        );

        // Three unanswered attempts: given up, every attempt listed with its note.
        let action = format!("/calls/return/{}/attempt", w["id"]);
        for (n, (outcome, note)) in [
            ("no_answer", "第一次没人接"),
            ("busy", "占线"),
            ("wrong_number", "号码不对"),
        ]
        .into_iter()
        .enumerate()
        {
            let version = h.get(&format!("/return-calls/{}", w["id"])).await["version"].to_string();
            let (status, html) = h
                .form(
                    &cookie,
                    "/calls",
                    &action,
                    &[
                        ("version", &version),
                        ("outcome", outcome),
                        ("note", note),
                        ("back", "/calls?rc_status=&from=2026-11-23"),
                    ],
                )
                .await;
            assert_eq!(status, 200, "attempt {n}: {html}");
            assert!(html.contains("回拨结果已记录"));
        }
        let rc = h.get(&format!("/return-calls/{}", w["id"])).await;
        assert_eq!(rc["status"], "given_up");
        assert_eq!(rc["attempts"], 3);
        let (_, html) = h.page(&cookie, "/calls?rc_status=given_up").await;
        assert!(html.contains("已放弃"), "{html}");
        assert!(html.contains("回拨记录 (3)"), "{html}");
        assert!(
            html.contains("第一次没人接") && html.contains("占线") && html.contains("号码不对")
        );
        assert!(!html.contains(&action), "no more attempts on a closed task");
        // Reached closes the other at once.
        let (status, _) = h
            .form(
                &cookie,
                "/calls",
                &format!("/calls/return/{}/attempt", u["id"]),
                &[
                    ("version", &u["version"].to_string()),
                    ("outcome", "reached"),
                    ("note", "已解决"),
                ],
            )
            .await;
        assert_eq!(status, 200);
        let open = h.get("/return-calls?status=open").await;
        assert!(open["items"].as_array().unwrap().is_empty());

        // A call at 22:00 is owed from the next opening: listed, but not dialled before.
        let night = MONDAY_9AM + 13 * HOUR;
        h.clock.set(Timestamp(night + MIN));
        h.call("N", "13700137000", night, "missed", 30_000, None)
            .await;
        let n = h
            .returns()
            .await
            .into_iter()
            .find(|r| r["status"] == "open");
        let n = n.expect("the night call's task");
        assert_eq!(n["reason"], "after_hours");
        assert_eq!(n["callable"], false);
        // (The morning's sign-in has expired by now.)
        let (_, cookie) = h.agent("qian", "8006", "13566667777").await;
        let (_, html) = h.page(&cookie, "/calls?rc_status=open").await;
        assert!(html.contains(&format!("data-return-call=\"{}\"", n["id"])));
        assert!(
            !html.contains(&format!("/calls/return/{}/dial", n["id"])),
            "{html}"
        );
        assert!(html.contains("尚未到回拨时间"), "{html}");
    })
    .await;
}
