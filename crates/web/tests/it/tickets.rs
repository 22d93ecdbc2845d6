//! The ticket API over HTTP: create, act under If-Match, the workflow's refusals with their
//! stable codes and statuses, and the requester's status link without a session.

#![allow(clippy::many_single_char_names)] // k, r, t, p, u, v: the kit and its replies

use serde_json::json;
use testkit::each_backend;

use crate::kit::kit;

#[tokio::test]
async fn tickets_over_http_with_versions_refusals_and_the_status_link() {
    each_backend(|db, which| async move {
        let k = kit(db).await;
        let unit = |code: &str, name: &str, function: &str| {
            json!({"kind": "department", "function": function, "code": code, "name": name}).to_string()
        };
        let svc = k.post("/api/v1/org-units", &unit("SVC", "客服中心", "service")).await;
        assert_eq!(svc.status, 201, "{which:?}: {}", svc.body);
        let qa = k.post("/api/v1/org-units", &unit("QA", "质量部", "quality")).await;
        let qa = qa.body["id"].as_i64().unwrap();

        // Through the API with the administrator's token: the token's user took it, so owns it.
        let body = json!({"kind": "complaint", "subject": "配送延误三天", "phone": "13700001111", "contact_email": "a@example.cn", "complaint_category": "shipping"}).to_string();
        let r = k.call("POST", "/api/v1/tickets", &[("idempotency-key", "t1")], Some(&body)).await;
        assert_eq!(r.status, 201, "{which:?}: {}", r.body);
        let id = r.body["id"].as_i64().unwrap();
        let number = r.body["number"].as_str().unwrap().to_string();
        let link = r.body["status_link"].as_str().unwrap().to_string();
        let again = k.call("POST", "/api/v1/tickets", &[("idempotency-key", "t1")], Some(&body)).await;
        assert_eq!((again.status.as_u16(), again.body["id"].as_i64()), (201, Some(id)), "a retry does not duplicate");

        let t = k.get(&format!("/api/v1/tickets/{id}")).await;
        assert_eq!(t.status, 200);
        assert_eq!((t.body["status"].as_str(), t.body["owner"]["type"].as_str(), t.body["owner"]["name"].as_str()), (Some("open"), Some("user"), Some("系统管理员")));
        assert_eq!(t.headers["etag"], "\"1\"");

        let act = |v: &str, a: serde_json::Value| {
            let k = &k;
            let v = v.to_string();
            async move {
                let mut h = vec![];
                if !v.is_empty() {
                    h.push(("if-match", v.as_str()));
                }
                k.call("POST", &format!("/api/v1/tickets/{id}/actions"), &h, Some(&a.to_string())).await
            }
        };
        // Without If-Match: 428.
        let r = act("", json!({"action": "route", "department_id": qa})).await;
        assert_eq!((r.status.as_u16(), r.code()), (428, "precondition_required"));
        // Unknown action, wrong types, unknown department: clear errors, nothing changed.
        let r = act("\"1\"", json!({"action": "fly"})).await;
        assert_eq!(r.status.as_u16(), 422, "{}", r.body);
        let r = act("\"1\"", json!({"action": "route", "department_id": "QA"})).await;
        assert_eq!(r.status.as_u16(), 422, "{}", r.body);
        let r = act("\"1\"", json!({"action": "route", "department_id": 987_654})).await;
        assert_eq!((r.status.as_u16(), r.code()), (422, "validation"));
        // Closing an open ticket is not a move the workflow has.
        let r = act("\"1\"", json!({"action": "close"})).await;
        assert_eq!((r.status.as_u16(), r.code()), (409, "not_allowed"));
        let r = act("\"1\"", json!({"action": "route", "department_id": qa})).await;
        assert_eq!((r.status.as_u16(), r.body["version"].as_i64()), (200, Some(2)), "{which:?}: {}", r.body);
        let t = k.get(&format!("/api/v1/tickets/{id}")).await;
        assert_eq!((t.body["owner"]["type"].as_str(), t.body["owner"]["name"].as_str()), (Some("queue"), Some("质量部")));
        // A stale version changes nothing.
        let r = act("\"1\"", json!({"action": "urge"})).await;
        assert_eq!((r.status.as_u16(), r.code()), (409, "version_conflict"));
        // The admin is not in the quality department's queue.
        let r = act("\"2\"", json!({"action": "accept"})).await;
        assert_eq!((r.status.as_u16(), r.code()), (403, "not_owner"));

        // The requester's link works without a session and shows no internal notes.
        let (path, key) = link.split_once("?k=").unwrap();
        assert_eq!(path, format!("/t/{number}"));
        let p = k.call("GET", &format!("/api/v1/public/tickets/{number}?k={key}"), &[("authorization", "")], None).await;
        assert_eq!((p.status.as_u16(), p.body["status"].as_str()), (200, Some("routed")), "{}", p.body);
        let bad = k.call("GET", &format!("/api/v1/public/tickets/{number}?k=forged"), &[("authorization", "")], None).await;
        assert_eq!(bad.status.as_u16(), 404);
        let v = p.body["version"].as_i64().unwrap();
        let u = k.call("POST", &format!("/api/v1/public/tickets/{number}/actions?k={key}"), &[("authorization", "")], Some(&json!({"action": "urge", "text": "请尽快", "version": v}).to_string())).await;
        assert_eq!(u.status.as_u16(), 204, "{}", u.body);
        let t = k.get(&format!("/api/v1/tickets/{id}")).await;
        assert_eq!(t.body["urges"].as_i64(), Some(1));
        let list = k.get("/api/v1/tickets?queue=urged").await;
        assert_eq!(list.body["items"].as_array().map(Vec::len), Some(1), "{}", list.body);
    })
    .await;
}
