//! Notification adapters (D7) against fake providers started inside each test: 阿里云短信
//! `SendSms` (the fake recomputes the HMAC-SHA1 signature), 企业微信 group bots and WeChat
//! subscription messages (the fake issues and expires access tokens). Each fake checks the
//! request's documented format and answers the provider's documented JSON; every adapter also
//! runs once end to end through the outbox and the `deliver_outbox` job.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use app::jobs::{RunStats, Runner};
use app::notify::{
    AliyunSms, AliyunSmsConfig, Channel as _, OPT_OUT, OutboundMessage, SendError, WechatConfig,
    WechatSubscribe, WecomBot,
};
use app::{App, Clock as _, Settings};
use axum::Json;
use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use base64::Engine as _;
use domain::{OutboxId, Timestamp};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha1::Sha1;
use store::outbox::{Channel, Message, NewMessage, OutboxStatus};
use testkit::each_backend;

use crate::{MONDAY_9AM, World};

fn msg(channel: Channel, recipient: &str, template: &str, params: Value) -> OutboundMessage {
    OutboundMessage {
        id: OutboxId(7),
        channel,
        recipient: recipient.into(),
        template: template.into(),
        params,
        brand_id: None,
        created_at: MONDAY_9AM,
        attempt_at: Timestamp(MONDAY_9AM.0 + 1_500),
    }
}

async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

async fn queue(
    w: &World,
    channel: Channel,
    recipient: &str,
    template: &str,
    payload: Value,
) -> OutboxId {
    let at = w.clock.now();
    let m = NewMessage {
        channel,
        recipient: recipient.into(),
        template: template.into(),
        payload,
        ref_entity: Some("ticket".into()),
        ref_id: Some(42),
        brand_id: None,
    };
    w.app
        .db
        .write(move |c| Box::pin(async move { store::outbox::insert(c, &m, at).await }))
        .await
        .unwrap()
}

async fn message(w: &World, id: OutboxId) -> Message {
    w.app
        .db
        .read(move |c| Box::pin(async move { store::outbox::get(c, id).await }))
        .await
        .unwrap()
}

fn with_settings(w: &mut World, settings: Settings) {
    w.app = App::new(w.app.db.clone(), w.app.regions.clone(), settings);
}

fn stats(claimed: usize, done: usize, retried: usize, dead: usize) -> RunStats {
    RunStats {
        claimed,
        done,
        retried,
        dead,
        lost: 0,
    }
}

// ---------------------------------------------------------------------------------------------
// 阿里云短信 SendSms

const KEY_ID: &str = "LTAI-test-key";
const KEY_SECRET: &str = "test-secret/+=";
const SIGN_NAME: &str = "客服中心";

#[derive(Default)]
struct SmsFake {
    /// Every well-signed request's parameters.
    requests: Vec<BTreeMap<String, String>>,
    problems: Vec<String>,
    nonces: Vec<String>,
}

type SmsShared = Arc<Mutex<SmsFake>>;

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// The provider's documented encoding, written independently of the adapter's: encode every
/// UTF-8 byte outside the RFC 3986 unreserved set.
fn pop_encode(s: &str) -> String {
    const UNRESERVED: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~";
    s.bytes()
        .map(|b| {
            if UNRESERVED.as_bytes().contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn sms_fake(State(state): State<SmsShared>, RawQuery(query): RawQuery) -> impl IntoResponse {
    let mut params = BTreeMap::new();
    for pair in query.unwrap_or_default().split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        params.insert(decode(k), decode(v));
    }
    let mut fake = state.lock().unwrap();
    let got = params.remove("Signature").unwrap_or_default();
    let canonical = params
        .iter()
        .map(|(k, v)| format!("{}={}", pop_encode(k), pop_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let to_sign = format!("GET&%2F&{}", pop_encode(&canonical));
    let mut mac = Hmac::<Sha1>::new_from_slice(format!("{KEY_SECRET}&").as_bytes()).unwrap();
    mac.update(to_sign.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    if got != expected {
        fake.problems.push(format!("bad signature {got}"));
        return (
            StatusCode::BAD_REQUEST,
            Json(
                json!({"Code": "SignatureDoesNotMatch", "Message": "Specified signature is not matched with our calculation.", "RequestId": "req-sig"}),
            ),
        );
    }
    for (k, v) in [
        ("Action", "SendSms"),
        ("Version", "2017-05-25"),
        ("Format", "JSON"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("AccessKeyId", KEY_ID),
        ("SignName", SIGN_NAME),
    ] {
        if params.get(k).map(String::as_str) != Some(v) {
            fake.problems.push(format!("{k} is {:?}", params.get(k)));
        }
    }
    let ts = params.get("Timestamp").cloned().unwrap_or_default();
    if chrono::NaiveDateTime::parse_from_str(&ts, "%Y-%m-%dT%H:%M:%SZ").is_err() {
        fake.problems
            .push(format!("Timestamp {ts:?} is not ISO 8601 UTC"));
    }
    let nonce = params.get("SignatureNonce").cloned().unwrap_or_default();
    if nonce.is_empty() || fake.nonces.contains(&nonce) {
        fake.problems.push(format!("nonce {nonce:?} reused"));
    }
    fake.nonces.push(nonce.clone());
    let template_param: Value =
        serde_json::from_str(params.get("TemplateParam").map_or("", String::as_str))
            .unwrap_or(Value::Null);
    if !template_param.is_object() {
        fake.problems
            .push("TemplateParam is not a JSON object".into());
    }
    let phone = params.get("PhoneNumbers").cloned().unwrap_or_default();
    fake.requests.push(params);
    let answer = match phone.as_str() {
        "13900000000" => {
            json!({"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发分钟级流控Permits:1", "RequestId": "req-limit"})
        }
        "123" => {
            json!({"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "非法手机号", "RequestId": "req-illegal"})
        }
        _ => {
            json!({"Code": "OK", "Message": "OK", "BizId": format!("biz-{}", fake.requests.len()), "RequestId": "req-ok"})
        }
    };
    (StatusCode::OK, Json(answer))
}

async fn sms_server() -> (String, SmsShared) {
    let state = SmsShared::default();
    let addr = serve(
        axum::Router::new()
            .route("/", axum::routing::get(sms_fake))
            .with_state(state.clone()),
    )
    .await;
    (format!("http://{addr}/"), state)
}

fn sms_config(endpoint: &str, secret: &str) -> AliyunSmsConfig {
    AliyunSmsConfig::new(KEY_ID, app::notify::Secret::new(secret), SIGN_NAME).endpoint(endpoint)
}

#[tokio::test]
async fn aliyun_sms_is_signed_and_maps_the_answer_codes() {
    let (endpoint, fake) = sms_server().await;
    let sms = AliyunSms::new(sms_config(&endpoint, KEY_SECRET)).unwrap();

    let ok = sms
        .send(&msg(
            Channel::Sms,
            "13800000001",
            "SMS_123456789",
            json!({"ticket_no": "TK20261123-000042", "count": 2, "note": "明天 9:00*上门~"}),
        ))
        .await
        .unwrap();
    assert_eq!(
        ok.provider_ref.as_deref(),
        Some("biz-1"),
        "the BizId is kept"
    );
    {
        let f = fake.lock().unwrap();
        assert!(f.problems.is_empty(), "{:?}", f.problems);
        let r = &f.requests[0];
        assert_eq!(r["PhoneNumbers"], "13800000001");
        assert_eq!(r["TemplateCode"], "SMS_123456789");
        assert_eq!(r["OutId"], "7");
        assert_eq!(r["Timestamp"], "2026-11-23T01:00:01Z");
        let p: Value = serde_json::from_str(&r["TemplateParam"]).unwrap();
        assert_eq!(
            p,
            json!({"ticket_no": "TK20261123-000042", "count": "2", "note": "明天 9:00*上门~"}),
            "every parameter is text"
        );
    }

    let limited = sms
        .send(&msg(Channel::Sms, "13900000000", "SMS_1", json!({})))
        .await
        .unwrap_err();
    assert!(limited.is_retryable(), "{limited}");
    assert!(limited.to_string().contains("isv.BUSINESS_LIMIT_CONTROL"));

    let illegal = sms
        .send(&msg(Channel::Sms, "123", "SMS_1", json!({})))
        .await
        .unwrap_err();
    assert!(
        matches!(illegal, SendError::Permanent(ref e) if e.contains("isv.MOBILE_NUMBER_ILLEGAL")),
        "{illegal}"
    );

    // A wrong secret: the provider refuses the signature, for good.
    let wrong = AliyunSms::new(sms_config(&endpoint, "not-the-secret")).unwrap();
    let e = wrong
        .send(&msg(Channel::Sms, "13800000001", "SMS_1", json!({})))
        .await
        .unwrap_err();
    assert!(
        matches!(e, SendError::Permanent(ref m) if m.contains("SignatureDoesNotMatch")),
        "{e}"
    );
    assert_eq!(fake.lock().unwrap().problems.len(), 1);

    // Nothing listening: retried later.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down =
        AliyunSms::new(sms_config(&format!("http://127.0.0.1:{port}/"), KEY_SECRET)).unwrap();
    assert!(
        down.send(&msg(Channel::Sms, "13800000001", "SMS_1", json!({})))
            .await
            .unwrap_err()
            .is_retryable()
    );
}

#[tokio::test]
async fn marketing_sms_always_carry_the_opt_out() {
    let (endpoint, fake) = sms_server().await;
    let sms = AliyunSms::new(sms_config(&endpoint, KEY_SECRET)).unwrap();
    for content in ["双十一滤芯八折", "双十一滤芯八折 回T退订"] {
        sms.send(&msg(
            Channel::Sms,
            "13800000001",
            "SMS_88",
            json!({"_kind": "marketing", "content": content}),
        ))
        .await
        .unwrap();
    }
    // Without a content parameter there is nowhere to put the opt-out: refused before sending.
    let e = sms
        .send(&msg(
            Channel::Sms,
            "13800000001",
            "SMS_88",
            json!({"_kind": "marketing", "product": "滤芯"}),
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(e, SendError::Permanent(ref m) if m.contains(OPT_OUT)),
        "{e}"
    );
    let f = fake.lock().unwrap();
    assert!(f.problems.is_empty(), "{:?}", f.problems);
    assert_eq!(f.requests.len(), 2);
    for r in &f.requests {
        let p: Value = serde_json::from_str(&r["TemplateParam"]).unwrap();
        assert_eq!(
            p,
            json!({"content": "双十一滤芯八折 回T退订"}),
            "the opt-out once, and no `_` keys"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_go_through_the_outbox() {
    each_backend(|db, which| async move {
        let (endpoint, fake) = sms_server().await;
        let mut w = World::new(db, which);
        with_settings(
            &mut w,
            Settings {
                sms_aliyun: Some(sms_config(&endpoint, KEY_SECRET)),
                ..Settings::default()
            },
        );
        let runner = Runner::standard(w.app.clone(), w.clock(), "w").unwrap();
        let params = json!({"ticket_no": "TK20261123-000042"});
        let ok = queue(&w, Channel::Sms, "13800000001", "SMS_1001", params.clone()).await;
        let limited = queue(&w, Channel::Sms, "13900000000", "SMS_1001", params.clone()).await;
        let illegal = queue(&w, Channel::Sms, "123", "SMS_1001", params).await;
        assert_eq!(
            runner.run_once().await.unwrap(),
            stats(3, 1, 1, 1),
            "{which:?}"
        );

        let m = message(&w, ok).await;
        assert_eq!(m.status, OutboxStatus::Sent, "{which:?}");
        assert!(
            m.provider_ref.as_deref().unwrap().starts_with("biz-"),
            "{:?}",
            m.provider_ref
        );
        let m = message(&w, limited).await;
        assert_eq!(
            (m.status, m.attempts),
            (OutboxStatus::Pending, 1),
            "{which:?}"
        );
        assert!(m.last_error.unwrap().contains("isv.BUSINESS_LIMIT_CONTROL"));
        let m = message(&w, illegal).await;
        assert_eq!(m.status, OutboxStatus::Failed, "{which:?}");
        assert!(m.last_error.unwrap().contains("isv.MOBILE_NUMBER_ILLEGAL"));

        // The throttled one is tried again after the backoff (and is throttled again).
        w.clock.advance_ms(10_000);
        assert_eq!(
            runner.run_once().await.unwrap(),
            stats(1, 0, 1, 0),
            "{which:?}"
        );
        let f = fake.lock().unwrap();
        assert!(f.problems.is_empty(), "{which:?}: {:?}", f.problems);
        assert_eq!(f.requests.len(), 4);
        assert!(f.requests.iter().all(|r| r["TemplateCode"] == "SMS_1001"));
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// 企业微信群机器人

#[derive(Default)]
struct WecomFake {
    bodies: Vec<(String, Value)>,
    problems: Vec<String>,
    busy_once: bool,
}

type WecomShared = Arc<Mutex<WecomFake>>;

async fn wecom_fake(
    State(state): State<WecomShared>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Json<Value> {
    let mut fake = state.lock().unwrap();
    let key = q.get("key").cloned().unwrap_or_default();
    if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/json") {
        fake.problems.push("not JSON".into());
    }
    let ok = match body["msgtype"].as_str() {
        Some("markdown") => body["markdown"]["content"].is_string(),
        Some("text") => body["text"]["content"].is_string(),
        _ => false,
    };
    if !ok {
        fake.problems.push(format!("malformed {body}"));
        return Json(json!({"errcode": 40008, "errmsg": "invalid message type"}));
    }
    fake.bodies.push((key.clone(), body));
    match key.as_str() {
        "bad-key" => Json(json!({"errcode": 93000, "errmsg": "invalid webhook url"})),
        "busy-key" if !fake.busy_once => {
            fake.busy_once = true;
            Json(json!({"errcode": 45009, "errmsg": "api freq out of limit"}))
        }
        _ => Json(json!({"errcode": 0, "errmsg": "ok"})),
    }
}

async fn wecom_server() -> (String, WecomShared) {
    let state = WecomShared::default();
    let addr = serve(
        axum::Router::new()
            .route("/cgi-bin/webhook/send", axum::routing::post(wecom_fake))
            .with_state(state.clone()),
    )
    .await;
    (format!("http://{addr}"), state)
}

#[tokio::test]
async fn wecom_bots_get_markdown_and_map_errcodes() {
    let (base, fake) = wecom_server().await;
    let bot = WecomBot::new(&base).unwrap();
    let params = json!({"title": "大客户工单已派单", "ticket_no": "TK20261123-000042", "engineer": "王师傅"});
    let d = bot
        .send(&msg(
            Channel::Wecom,
            "good-key",
            "ticket.dispatched",
            params.clone(),
        ))
        .await
        .unwrap();
    assert_eq!(d.provider_ref, None);
    // The full webhook URL works as a recipient too; text on request.
    bot.send(&msg(
        Channel::Wecom,
        &format!("{base}/cgi-bin/webhook/send?key=url-key"),
        "ticket.dispatched",
        json!({"_msgtype": "text", "ticket_no": "TK1", "_mentioned_mobile_list": ["13800000001"]}),
    ))
    .await
    .unwrap();
    let e = bot
        .send(&msg(Channel::Wecom, "busy-key", "t", json!({})))
        .await
        .unwrap_err();
    assert!(e.is_retryable() && e.to_string().contains("45009"), "{e}");
    let e = bot
        .send(&msg(Channel::Wecom, "bad-key", "t", json!({})))
        .await
        .unwrap_err();
    assert!(
        matches!(e, SendError::Permanent(ref m) if m.contains("93000")),
        "{e}"
    );
    let e = bot
        .send(&msg(Channel::Wecom, "not a key!", "t", json!({})))
        .await
        .unwrap_err();
    assert!(!e.is_retryable());

    let f = fake.lock().unwrap();
    assert!(f.problems.is_empty(), "{:?}", f.problems);
    let (key, body) = &f.bodies[0];
    assert_eq!(key, "good-key");
    assert_eq!(body["msgtype"], "markdown");
    assert_eq!(
        body["markdown"]["content"],
        "**大客户工单已派单**\n> engineer：王师傅\n> ticket_no：TK20261123-000042"
    );
    let (key, body) = &f.bodies[1];
    assert_eq!(key, "url-key");
    assert_eq!(body["msgtype"], "text");
    assert_eq!(
        body["text"]["content"],
        "ticket.dispatched\n> ticket_no：TK1"
    );
    assert_eq!(
        body["text"]["mentioned_mobile_list"],
        json!(["13800000001"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wecom_messages_go_through_the_outbox() {
    each_backend(|db, which| async move {
        let (base, fake) = wecom_server().await;
        let mut w = World::new(db, which);
        with_settings(
            &mut w,
            Settings {
                wecom_api_base: Some(base),
                ..Settings::default()
            },
        );
        let runner = Runner::standard(w.app.clone(), w.clock(), "w").unwrap();
        let busy = queue(
            &w,
            Channel::Wecom,
            "busy-key",
            "ticket.urged",
            json!({"ticket_no": "TK9"}),
        )
        .await;
        let bad = queue(
            &w,
            Channel::Wecom,
            "bad-key",
            "ticket.urged",
            json!({"ticket_no": "TK9"}),
        )
        .await;
        assert_eq!(
            runner.run_once().await.unwrap(),
            stats(2, 0, 1, 1),
            "{which:?}"
        );
        assert_eq!(
            message(&w, bad).await.status,
            OutboxStatus::Failed,
            "{which:?}"
        );
        w.clock.advance_ms(10_000);
        assert_eq!(
            runner.run_once().await.unwrap(),
            stats(1, 1, 0, 0),
            "{which:?}"
        );
        let m = message(&w, busy).await;
        assert_eq!((m.status, m.attempts), (OutboxStatus::Sent, 2), "{which:?}");
        let f = fake.lock().unwrap();
        assert!(f.problems.is_empty(), "{which:?}: {:?}", f.problems);
        assert_eq!(
            f.bodies.last().unwrap().1["markdown"]["content"],
            "**ticket.urged**\n> ticket_no：TK9"
        );
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// 微信订阅消息

const APPID: &str = "wx1234567890abcdef";
const APP_SECRET: &str = "wechat-app-secret";

#[derive(Default)]
struct WechatFake {
    tokens_issued: usize,
    /// The token the fake accepts now.
    current: Option<String>,
    sends: Vec<Value>,
    problems: Vec<String>,
}

type WechatShared = Arc<Mutex<WechatFake>>;

async fn wechat_token(
    State(state): State<WechatShared>,
    Query(q): Query<HashMap<String, String>>,
) -> Json<Value> {
    let mut fake = state.lock().unwrap();
    if q.get("grant_type").map(String::as_str) != Some("client_credential") {
        fake.problems
            .push(format!("grant_type {:?}", q.get("grant_type")));
    }
    if q.get("appid").map(String::as_str) != Some(APPID) {
        return Json(json!({"errcode": 40013, "errmsg": "invalid appid"}));
    }
    if q.get("secret").map(String::as_str) != Some(APP_SECRET) {
        return Json(json!({"errcode": 40125, "errmsg": "invalid appsecret"}));
    }
    fake.tokens_issued += 1;
    let token = format!("ACCESS_TOKEN_{}", fake.tokens_issued);
    fake.current = Some(token.clone());
    Json(json!({"access_token": token, "expires_in": 7200}))
}

async fn wechat_send(
    State(state): State<WechatShared>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let mut fake = state.lock().unwrap();
    let token = q.get("access_token").cloned();
    if token.is_none() || token != fake.current {
        return Json(json!({"errcode": 42001, "errmsg": "access_token expired"}));
    }
    let data_ok = body["data"]
        .as_object()
        .is_some_and(|d| d.values().all(|v| v["value"].is_string()));
    if !body["touser"].is_string() || !body["template_id"].is_string() || !data_ok {
        fake.problems.push(format!("malformed {body}"));
        return Json(json!({"errcode": 47003, "errmsg": "argument invalid!"}));
    }
    fake.sends.push(body.clone());
    match body["touser"].as_str().unwrap() {
        "o-refused" => Json(json!({"errcode": 43101, "errmsg": "user refuse to accept the msg"})),
        "o-busy" => Json(json!({"errcode": -1, "errmsg": "system error"})),
        _ => Json(json!({"errcode": 0, "errmsg": "ok", "msgid": 1_000 + fake.sends.len()})),
    }
}

async fn wechat_server() -> (String, WechatShared) {
    let state = WechatShared::default();
    let addr = serve(
        axum::Router::new()
            .route("/cgi-bin/token", axum::routing::get(wechat_token))
            .route(
                "/cgi-bin/message/subscribe/send",
                axum::routing::post(wechat_send),
            )
            .with_state(state.clone()),
    )
    .await;
    (format!("http://{addr}"), state)
}

fn wechat_config(base: &str, secret: &str) -> WechatConfig {
    WechatConfig::new(APPID, app::notify::Secret::new(secret)).api_base(base)
}

#[tokio::test]
async fn wechat_subscription_messages_cache_and_refresh_the_token() {
    let (base, fake) = wechat_server().await;
    let wx = WechatSubscribe::new(wechat_config(&base, APP_SECRET)).unwrap();
    let params = json!({"thing1": "净水器维修", "time2": "2026-11-24 09:00", "number3": 2, "_page": "pages/ticket?id=42"});
    let d = wx
        .send(&msg(
            Channel::Wechat,
            "o-user-1",
            "TPL-REPAIR",
            params.clone(),
        ))
        .await
        .unwrap();
    assert_eq!(d.provider_ref.as_deref(), Some("1001"), "the msgid is kept");
    wx.send(&msg(
        Channel::Wechat,
        "o-user-2",
        "TPL-REPAIR",
        params.clone(),
    ))
    .await
    .unwrap();
    assert_eq!(fake.lock().unwrap().tokens_issued, 1, "the token is cached");

    // The provider expires the token: the adapter fetches a new one and sends again.
    fake.lock().unwrap().current = Some("revoked".into());
    let d = wx
        .send(&msg(
            Channel::Wechat,
            "o-user-3",
            "TPL-REPAIR",
            params.clone(),
        ))
        .await
        .unwrap();
    assert_eq!(d.provider_ref.as_deref(), Some("1003"));
    assert_eq!(fake.lock().unwrap().tokens_issued, 2);

    let e = wx
        .send(&msg(
            Channel::Wechat,
            "o-refused",
            "TPL-REPAIR",
            params.clone(),
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(e, SendError::Permanent(ref m) if m.contains("43101")),
        "{e}"
    );
    let e = wx
        .send(&msg(
            Channel::Wechat,
            "o-busy",
            "TPL-REPAIR",
            params.clone(),
        ))
        .await
        .unwrap_err();
    assert!(
        e.is_retryable() && e.to_string().contains("errcode -1"),
        "{e}"
    );

    let bad = WechatSubscribe::new(wechat_config(&base, "wrong")).unwrap();
    let e = bad
        .send(&msg(Channel::Wechat, "o-user-1", "TPL-REPAIR", params))
        .await
        .unwrap_err();
    assert!(
        matches!(e, SendError::Permanent(ref m) if m.contains("40125")),
        "{e}"
    );

    let f = fake.lock().unwrap();
    assert!(f.problems.is_empty(), "{:?}", f.problems);
    assert_eq!(
        f.sends[0],
        json!({
            "touser": "o-user-1",
            "template_id": "TPL-REPAIR",
            "page": "pages/ticket?id=42",
            "data": {
                "thing1": {"value": "净水器维修"},
                "time2": {"value": "2026-11-24 09:00"},
                "number3": {"value": "2"},
            },
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wechat_messages_go_through_the_outbox() {
    each_backend(|db, which| async move {
        let (base, fake) = wechat_server().await;
        let mut w = World::new(db, which);
        with_settings(
            &mut w,
            Settings {
                wechat: Some(wechat_config(&base, APP_SECRET)),
                ..Settings::default()
            },
        );
        let runner = Runner::standard(w.app.clone(), w.clock(), "w").unwrap();
        let params = json!({"thing1": "安装预约成功"});
        let ok = queue(
            &w,
            Channel::Wechat,
            "o-user-1",
            "TPL-INSTALL",
            params.clone(),
        )
        .await;
        let busy = queue(&w, Channel::Wechat, "o-busy", "TPL-INSTALL", params.clone()).await;
        let refused = queue(&w, Channel::Wechat, "o-refused", "TPL-INSTALL", params).await;
        assert_eq!(
            runner.run_once().await.unwrap(),
            stats(3, 1, 1, 1),
            "{which:?}"
        );
        let m = message(&w, ok).await;
        assert_eq!(m.status, OutboxStatus::Sent, "{which:?}");
        assert!(m.provider_ref.is_some(), "{which:?}");
        assert_eq!(
            message(&w, busy).await.status,
            OutboxStatus::Pending,
            "{which:?}"
        );
        let m = message(&w, refused).await;
        assert_eq!(m.status, OutboxStatus::Failed, "{which:?}");
        assert!(m.last_error.unwrap().contains("43101"));
        let f = fake.lock().unwrap();
        assert!(f.problems.is_empty(), "{which:?}: {:?}", f.problems);
        assert_eq!(f.tokens_issued, 1, "{which:?}: one token for the whole run");
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Email over SMTP

#[derive(Default)]
struct Sink {
    /// (MAIL FROM, RCPT TO, DATA) per accepted message.
    mails: Vec<(String, Vec<String>, String)>,
    problems: Vec<String>,
}

type SinkShared = Arc<Mutex<Sink>>;

/// Enough SMTP to take a message: 220, EHLO → 250, MAIL/RCPT → 250 (452 for a full mailbox,
/// 550 for an unknown one), DATA → 354 … `.` → 250 with a queue id, QUIT → 221.
async fn smtp_sink() -> (SocketAddr, SinkShared) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let state = SinkShared::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shared = state.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let state = shared.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read);
                write.write_all(b"220 sink.test ESMTP\r\n").await.unwrap();
                let (mut from, mut rcpt) = (String::new(), Vec::new());
                let mut line = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let upper = line.to_ascii_uppercase();
                    let reply: String = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        "250 sink.test\r\n".into()
                    } else if upper.starts_with("MAIL FROM:") {
                        from = line[10..].trim().to_string();
                        "250 2.1.0 Ok\r\n".into()
                    } else if upper.starts_with("RCPT TO:") {
                        let to = line[8..].trim().to_string();
                        if to.contains("full@") {
                            "452 4.2.2 Mailbox full\r\n".into()
                        } else if to.contains("nobody@") {
                            "550 5.1.1 No such user\r\n".into()
                        } else {
                            rcpt.push(to);
                            "250 2.1.5 Ok\r\n".into()
                        }
                    } else if upper.starts_with("DATA") {
                        write
                            .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                            .await
                            .unwrap();
                        let mut data = String::new();
                        loop {
                            line.clear();
                            if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                                return;
                            }
                            if line == ".\r\n" {
                                break;
                            }
                            if !line.ends_with("\r\n") {
                                state
                                    .lock()
                                    .unwrap()
                                    .problems
                                    .push(format!("bare LF in {line:?}"));
                            }
                            data.push_str(&line);
                        }
                        let mut s = state.lock().unwrap();
                        s.mails
                            .push((from.clone(), std::mem::take(&mut rcpt), data));
                        format!("250 2.0.0 Ok: queued as Q{}\r\n", s.mails.len())
                    } else if upper.starts_with("QUIT") {
                        write.write_all(b"221 2.0.0 Bye\r\n").await.unwrap();
                        return;
                    } else if upper.starts_with("RSET") || upper.starts_with("NOOP") {
                        "250 2.0.0 Ok\r\n".into()
                    } else {
                        state
                            .lock()
                            .unwrap()
                            .problems
                            .push(format!("unexpected {line:?}"));
                        "502 5.5.2 Error: command not recognized\r\n".into()
                    };
                    if write.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, state)
}

/// The headers (unfolded) and the decoded base64 body of a captured message.
fn parse_mail(data: &str) -> (HashMap<String, String>, String) {
    let (head, body) = data.split_once("\r\n\r\n").unwrap();
    let mut headers = HashMap::new();
    let mut last = String::new();
    for l in head.split("\r\n") {
        if l.starts_with(' ') || l.starts_with('\t') {
            headers
                .entry(last.clone())
                .and_modify(|v: &mut String| v.push_str(l));
        } else if let Some((k, v)) = l.split_once(':') {
            last = k.to_ascii_lowercase();
            headers.insert(last.clone(), v.trim().to_string());
        }
    }
    let raw: String = body.split("\r\n").collect();
    let text = base64::engine::general_purpose::STANDARD
        .decode(raw.trim())
        .unwrap();
    (headers, String::from_utf8(text).unwrap())
}

/// An RFC 2047 header (`=?utf-8?b?…?=` words and plain words) as text: the space between two
/// encoded words is dropped, any other kept.
fn decode_words(v: &str) -> String {
    let mut out = String::new();
    let mut last_encoded = false;
    for (i, token) in v.split_whitespace().enumerate() {
        let encoded = token.starts_with("=?") && token.ends_with("?=");
        if i > 0 && !(encoded && last_encoded) {
            out.push(' ');
        }
        if encoded {
            let inner = &token[2..token.len() - 2];
            let mut parts = inner.splitn(3, '?');
            let (_charset, kind, text) = (
                parts.next().unwrap(),
                parts.next().unwrap(),
                parts.next().unwrap(),
            );
            assert!(
                kind.eq_ignore_ascii_case("b"),
                "only base64 words expected: {v}"
            );
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text)
                .unwrap();
            out.push_str(&String::from_utf8(bytes).unwrap());
        } else {
            out.push_str(token);
        }
        last_encoded = encoded;
    }
    out
}

fn email_config(addr: SocketAddr) -> app::notify::EmailConfig {
    app::notify::EmailConfig {
        smtp_url: app::notify::Secret::new(format!("smtp://{addr}")),
        from: "客服中心 <service@kefu.test>".into(),
    }
}

#[tokio::test]
async fn email_reaches_an_smtp_server_with_subject_and_body() {
    let (addr, sink) = smtp_sink().await;
    let mail = app::notify::Email::new(&email_config(addr)).unwrap();
    let d = mail
        .send(&msg(
            Channel::Email,
            "张三 <zhangsan@example.com>",
            "ticket.replied",
            json!({"subject": "您的工单 TK20261123-000042 已回复", "body": "师傅明天上午上门。\n如有疑问请回复本邮件。"}),
        ))
        .await
        .unwrap();
    assert_eq!(
        d.provider_ref.as_deref(),
        Some("250 2.0.0 Ok: queued as Q1")
    );
    // Without subject and body: the template and one line per parameter.
    mail.send(&msg(
        Channel::Email,
        "lisi@example.com",
        "ticket.closed",
        json!({"ticket_no": "TK1", "_internal": "x"}),
    ))
    .await
    .unwrap();

    let e = mail
        .send(&msg(Channel::Email, "full@example.com", "t", json!({})))
        .await
        .unwrap_err();
    assert!(e.is_retryable(), "a 4xx is retried: {e}");
    let e = mail
        .send(&msg(Channel::Email, "nobody@example.com", "t", json!({})))
        .await
        .unwrap_err();
    assert!(!e.is_retryable(), "a 5xx is final: {e}");
    let e = mail
        .send(&msg(Channel::Email, "not an address", "t", json!({})))
        .await
        .unwrap_err();
    assert!(!e.is_retryable(), "{e}");

    let s = sink.lock().unwrap();
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    assert_eq!(s.mails.len(), 2);
    let (from, rcpt, data) = &s.mails[0];
    assert_eq!(from, "<service@kefu.test>");
    assert_eq!(rcpt, &vec!["<zhangsan@example.com>".to_string()]);
    let (h, body) = parse_mail(data);
    assert_eq!(
        decode_words(&h["subject"]),
        "您的工单 TK20261123-000042 已回复"
    );
    assert!(
        decode_words(&h["from"]).contains("<service@kefu.test>"),
        "{:?}",
        h["from"]
    );
    assert!(h["to"].contains("<zhangsan@example.com>"), "{:?}", h["to"]);
    assert_eq!(h["message-id"], "<kefu-outbox-7@kefu.test>");
    assert_eq!(
        h["content-type"].to_ascii_lowercase(),
        "text/plain; charset=utf-8"
    );
    assert_eq!(h["content-transfer-encoding"], "base64");
    assert_eq!(
        body, "师傅明天上午上门。\r\n如有疑问请回复本邮件。",
        "text lines end in CRLF, as MIME wants"
    );
    let (h, body) = parse_mail(&s.mails[1].2);
    assert_eq!(h["subject"], "ticket.closed");
    assert_eq!(body, "ticket_no: TK1\r\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_goes_through_the_outbox() {
    each_backend(|db, which| async move {
        let (addr, sink) = smtp_sink().await;
        let mut w = World::new(db, which);
        with_settings(
            &mut w,
            Settings {
                email: Some(email_config(addr)),
                ..Settings::default()
            },
        );
        let runner = Runner::standard(w.app.clone(), w.clock(), "w").unwrap();
        let params = json!({"subject": "工单已完工", "body": "感谢您的耐心等待。"});
        let ok = queue(
            &w,
            Channel::Email,
            "zhangsan@example.com",
            "wo.completed",
            params.clone(),
        )
        .await;
        let full = queue(
            &w,
            Channel::Email,
            "full@example.com",
            "wo.completed",
            params.clone(),
        )
        .await;
        let unknown = queue(
            &w,
            Channel::Email,
            "nobody@example.com",
            "wo.completed",
            params,
        )
        .await;
        assert_eq!(
            runner.run_once().await.unwrap(),
            stats(3, 1, 1, 1),
            "{which:?}"
        );
        let m = message(&w, ok).await;
        assert_eq!(m.status, OutboxStatus::Sent, "{which:?}");
        assert!(m.provider_ref.unwrap().contains("queued as"), "{which:?}");
        assert_eq!(
            message(&w, full).await.status,
            OutboxStatus::Pending,
            "{which:?}"
        );
        assert_eq!(
            message(&w, unknown).await.status,
            OutboxStatus::Failed,
            "{which:?}"
        );
        let s = sink.lock().unwrap();
        assert!(s.problems.is_empty(), "{which:?}: {:?}", s.problems);
        let (h, body) = parse_mail(&s.mails[0].2);
        assert_eq!(h["message-id"], format!("<kefu-outbox-{}@kefu.test>", ok.0));
        assert_eq!(body, "感谢您的耐心等待。");
    })
    .await;
}
