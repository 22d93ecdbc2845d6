//! "A retried request never duplicates": every create that takes an Idempotency-Key, posted
//! twice with the same key (the second answer is a replay of the first: same status, same id,
//! `Idempotent-Replayed: true`, nothing new in the list) and once more with another body (422
//! `idempotency_key_reused`, nothing new either).

use serde_json::{Value, json};
use testkit::each_backend;

use crate::kit::{Kit, kit};

/// One create: where it posts, two different bodies, and where its records are listed
/// (a GET and the JSON pointer of the array in its answer).
struct Case {
    post: String,
    body: Value,
    other: Value,
    list: String,
    items: &'static str,
    /// Whether the same body without a key makes another record (codes, logins and numbers
    /// are unique, so those creates refuse it instead).
    repeatable: bool,
}

async fn count(k: &Kit, c: &Case) -> usize {
    let r = k.get(&c.list).await;
    assert_eq!(r.status, 200, "{}: {}", c.list, r.body);
    r.body
        .pointer(c.items)
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("{} has no array at {}: {}", c.list, c.items, r.body))
        .len()
}

#[tokio::test]
async fn a_retried_create_replays_and_another_body_with_the_key_is_refused() {
    each_backend(|db, which| async move {
        let k = kit(db).await;
        // A complaint to reply to and to propose a compensation on.
        let t = k
            .post(
                "/api/v1/tickets",
                &json!({"kind": "complaint", "subject": "配送延误三天", "phone": "13700001111", "complaint_category": "shipping"}).to_string(),
            )
            .await;
        assert_eq!(t.status, 201, "{which:?}: {}", t.body);
        let ticket = t.body["id"].as_i64().unwrap();
        let ticket_url = format!("/api/v1/tickets/{ticket}");
        let week = json!({"mon": "10:00-16:00", "tue": "10:00-16:00", "wed": "10:00-16:00", "thu": "10:00-16:00", "fri": "10:00-16:00", "sat": "", "sun": ""});

        let cases = [
            Case {
                post: format!("{ticket_url}/messages"),
                body: json!({"body": "您好，我们已安排补发。", "internal": false}),
                other: json!({"body": "另一条回复", "internal": false}),
                list: ticket_url.clone(),
                items: "/messages",
                repeatable: true,
            },
            Case {
                post: format!("{ticket_url}/compensations"),
                body: json!({"amount_fen": 20_000, "payer": "company", "reason": "延误补偿"}),
                other: json!({"amount_fen": 30_000, "payer": "company", "reason": "延误补偿"}),
                list: ticket_url.clone(),
                items: "/compensations",
                repeatable: true,
            },
            Case {
                post: "/api/v1/users".into(),
                body: json!({"login": "lisa", "display_name": "李莎", "roles": ["agent"], "password": "lisa-pass-123"}),
                other: json!({"login": "lisa2", "display_name": "李莎", "roles": ["agent"], "password": "lisa-pass-123"}),
                list: "/api/v1/users".into(),
                items: "",
                repeatable: false,
            },
            Case {
                post: "/api/v1/org-units".into(),
                body: json!({"kind": "department", "function": "service", "code": "SVC", "name": "客服中心"}),
                other: json!({"kind": "department", "function": "quality", "code": "QA", "name": "质量部"}),
                list: "/api/v1/org-units".into(),
                items: "",
                repeatable: false,
            },
            Case {
                post: "/api/v1/brands".into(),
                body: json!({"code": "HAIER", "name": "海尔", "tier": "premium"}),
                other: json!({"code": "MIDEA", "name": "美的", "tier": "standard"}),
                list: "/api/v1/brands".into(),
                items: "",
                repeatable: false,
            },
            Case {
                post: "/api/v1/sla/policies".into(),
                body: json!({"name": "紧急投诉方案 4 小时", "metric": "proposal", "kind": "complaint", "priority": "urgent", "target_minutes": 240, "calendar_id": 3}),
                other: json!({"name": "紧急投诉方案 3 小时", "metric": "proposal", "kind": "complaint", "priority": "urgent", "target_minutes": 180, "calendar_id": 3}),
                list: "/api/v1/sla/policies".into(),
                items: "",
                repeatable: false,
            },
            Case {
                post: "/api/v1/calendars".into(),
                body: json!({"name": "华东专线", "tz": "Asia/Shanghai", "week": week, "copy_days_from": 2}),
                other: json!({"name": "华南专线", "tz": "Asia/Shanghai", "week": week}),
                list: "/api/v1/calendars".into(),
                items: "",
                repeatable: false,
            },
            Case {
                post: "/api/v1/hotline/lines".into(),
                body: json!({"number": "400-222-3333", "name": "华东专线"}),
                other: json!({"number": "400-222-4444", "name": "华南专线"}),
                list: "/api/v1/hotline/lines".into(),
                items: "",
                repeatable: false,
            },
            Case {
                post: "/api/v1/notify/subscriptions".into(),
                body: json!({"name": "华东大客户群", "channel": "webhook", "target": "https://hooks.example.cn/kefu", "events": ["ticket.received"]}),
                other: json!({"name": "华南大客户群", "channel": "webhook", "target": "https://hooks.example.cn/south", "events": ["ticket.received"]}),
                list: "/api/v1/notify/subscriptions".into(),
                items: "",
                repeatable: false,
            },
        ];

        for (i, c) in cases.iter().enumerate() {
            let key = format!("retry-{i}");
            let h = [("idempotency-key", key.as_str())];
            let before = count(&k, c).await;
            let first = k.call("POST", &c.post, &h, Some(&c.body.to_string())).await;
            assert!(first.status.is_success(), "{which:?} {}: {}", c.post, first.body);
            assert!(!first.headers.contains_key("idempotent-replayed"), "{which:?} {}", c.post);
            let id = first.body["id"].as_i64();
            assert!(id.is_some(), "{which:?} {}: {}", c.post, first.body);
            assert_eq!(count(&k, c).await, before + 1, "{which:?} {}", c.post);

            let again = k.call("POST", &c.post, &h, Some(&c.body.to_string())).await;
            assert_eq!(
                (again.status, again.body["id"].as_i64()),
                (first.status, id),
                "{which:?} {}: a retry answers like the first: {}",
                c.post,
                again.body
            );
            assert_eq!(again.headers["idempotent-replayed"], "true", "{which:?} {}", c.post);
            assert_eq!(count(&k, c).await, before + 1, "{which:?} {}: nothing made twice", c.post);

            let other = k.call("POST", &c.post, &h, Some(&c.other.to_string())).await;
            assert_eq!(
                (other.status.as_u16(), other.code()),
                (422, "idempotency_key_reused"),
                "{which:?} {}: {}",
                c.post,
                other.body
            );
            assert_eq!(count(&k, c).await, before + 1, "{which:?} {}", c.post);

            if !c.repeatable {
                continue;
            }
            // Without a key, the same body is a new record (a second reply is a real reply).
            let plain = k.post(&c.post, &c.body.to_string()).await;
            assert!(plain.status.is_success(), "{which:?} {}: {}", c.post, plain.body);
            assert_ne!(plain.body["id"].as_i64(), id, "{which:?} {}", c.post);
            assert_eq!(count(&k, c).await, before + 2, "{which:?} {}", c.post);
        }
    })
    .await;
}
