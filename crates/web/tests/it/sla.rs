//! The SLA endpoints: deadline arithmetic on a calendar, calendars and their days with versions,
//! policies, and their refusals.

use serde_json::json;
use testkit::each_backend;

use crate::kit::kit;

#[tokio::test]
async fn sla_deadline_endpoint() {
    each_backend(|db, which| async move {
        let k = kit(db).await;
        let r = k
            .post(
                "/api/v1/calendars/1/deadline",
                r#"{"start": "2026-11-23T20:30:00+08:00", "duration_minutes": 60}"#,
            )
            .await;
        assert_eq!(r.status, 200, "{which:?}: {}", r.body);
        assert_eq!(r.body["deadline_local"], "2026-11-24T08:30:00.000+08:00");
        assert_eq!(r.body["deadline"], "2026-11-24T00:30:00.000Z");
        assert_eq!(r.body["business_ms"], 3_600_000);
        assert_eq!(r.body["elapsed_ms"], 12 * 3_600_000);
        // 48 business hours on the office calendar across National Day and the 调休 Saturday.
        let r = k
            .post(
                "/api/v1/calendars/2/deadline",
                r#"{"start": "2026-09-30T09:00:00+08:00", "duration_minutes": 2880}"#,
            )
            .await;
        assert_eq!(r.body["deadline_local"], "2026-10-13T12:00:00.000+08:00", "{which:?}");
        // A pause moves it; an open pause leaves none.
        let r = k
            .post(
                "/api/v1/calendars/1/deadline",
                r#"{"start": "2026-11-23T09:00:00+08:00", "duration_minutes": 60, "pauses": [{"from": "2026-11-23T09:30:00+08:00", "to": "2026-11-23T10:00:00+08:00"}]}"#,
            )
            .await;
        assert_eq!(r.body["deadline_local"], "2026-11-23T10:30:00.000+08:00");
        let r = k
            .post(
                "/api/v1/calendars/1/deadline",
                r#"{"start": "2026-11-23T09:00:00+08:00", "duration_minutes": 60, "pauses": [{"from": "2026-11-23T09:30:00+08:00"}]}"#,
            )
            .await;
        assert_eq!(r.status, 200);
        assert!(r.body["deadline"].is_null());
        // Refusals.
        let bad = [
            ("/api/v1/calendars/99/deadline", r#"{"start": "2026-11-23T09:00:00+08:00", "duration_minutes": 60}"#, 404, "not_found", None),
            ("/api/v1/calendars/1/deadline", r#"{"start": "2026-11-23T09:00:00+08:00", "duration_minutes": -1}"#, 422, "validation", Some("duration_minutes")),
            ("/api/v1/calendars/1/deadline", r#"{"start": "2026-11-23 09:00", "duration_minutes": 60}"#, 422, "validation", Some("start")),
            ("/api/v1/calendars/1/deadline", r#"{"start": "2026-11-23T09:00:00+08:00", "duration_minutes": 60, "pauses": [{"from": "x"}]}"#, 422, "validation", Some("pauses[0].from")),
            ("/api/v1/calendars/1/deadline", r#"{"start": "2026-11-23T09:00:00+08:00"}"#, 422, "validation", Some("duration_minutes")),
            ("/api/v1/calendars/1/deadline", r#"{"start": "#, 400, "malformed_json", None),
        ];
        for (uri, body, status, code, field) in bad {
            let r = k.post(uri, body).await;
            assert_eq!((r.status.as_u16(), r.code()), (status, code), "{which:?}: {body}: {}", r.body);
            if let Some(f) = field {
                assert!(r.body["error"]["fields"].get(f).is_some(), "{body}: {}", r.body);
            }
        }
    })
    .await;
}

#[tokio::test]
async fn sla_calendars_days_and_policies_over_http() {
    each_backend(|db, which| async move {
        let k = kit(db).await;
        let list = k.get("/api/v1/calendars").await;
        assert_eq!(list.status, 200);
        let names: Vec<&str> = list.body.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(names[0], "客服中心 8:00–21:00 每天", "{which:?}: the default first");
        assert_eq!(names.len(), 3);
        let cal = k.get("/api/v1/calendars/2").await;
        assert_eq!(cal.headers["etag"], "\"1\"");
        assert_eq!(cal.body["week"]["sat"], "");
        let days = cal.body["days"].as_array().unwrap();
        assert!(days.iter().any(|d| d["date"] == "2026-10-01" && d["rule"] == "closed" && d["name"] == "国庆节"));
        assert!(days.iter().any(|d| d["date"] == "2026-10-10" && d["rule"] == "open" && d["hours"] == "09:00-18:00"));

        // A holiday on Christmas Day; the calendar's version moves.
        let put = k
            .call("PUT", "/api/v1/calendars/2/days/2026-12-25", &[], Some(r#"{"rule": "closed", "name": "年会"}"#))
            .await;
        assert_eq!(put.status, 200, "{}", put.body);
        assert_eq!(put.body["calendar_version"], 2);
        assert_eq!(k.get("/api/v1/calendars/2/days/2026-12-25").await.body["name"], "年会");
        let d = k
            .post("/api/v1/calendars/2/deadline", r#"{"start": "2026-12-24T17:00:00+08:00", "duration_minutes": 120}"#)
            .await;
        assert_eq!(d.body["deadline_local"], "2026-12-28T10:00:00.000+08:00", "{which:?}: Fri 25 closed, then the weekend");
        let bad_day = k
            .call("PUT", "/api/v1/calendars/2/days/2026-02-30", &[], Some(r#"{"rule": "closed"}"#))
            .await;
        assert_eq!((bad_day.status.as_u16(), bad_day.code()), (422, "validation"));
        let bad_hours = k
            .call("PUT", "/api/v1/calendars/2/days/2026-12-26", &[], Some(r#"{"rule": "open", "hours": "25:00-26:00"}"#))
            .await;
        assert!(bad_hours.body["error"]["fields"]["hours"].is_string(), "{}", bad_hours.body);
        let del = k.call("DELETE", "/api/v1/calendars/2/days/2026-12-25", &[], None).await;
        assert_eq!(del.status, 204);
        assert_eq!(k.call("DELETE", "/api/v1/calendars/2/days/2026-12-25", &[], None).await.status, 404);

        // Weekly hours with If-Match.
        let body = json!({"name": "工作日 8:30–18:00", "tz": "Asia/Shanghai", "week": {"mon": "08:30-18:00", "tue": "08:30-18:00", "wed": "08:30-18:00", "thu": "08:30-18:00", "fri": "08:30-18:00", "sat": "", "sun": ""}}).to_string();
        let missing = k.call("PUT", "/api/v1/calendars/2", &[], Some(&body)).await;
        assert_eq!((missing.status.as_u16(), missing.code()), (428, "precondition_required"));
        let stale = k.call("PUT", "/api/v1/calendars/2", &[("if-match", "\"1\"")], Some(&body)).await;
        assert_eq!((stale.status.as_u16(), stale.code()), (409, "version_conflict"));
        let bad = body.replace("08:30-18:00", "08:30-25:00");
        let r = k.call("PUT", "/api/v1/calendars/2", &[("if-match", "\"3\"")], Some(&bad)).await;
        assert_eq!((r.status.as_u16(), r.code()), (422, "validation"), "{}", r.body);
        let ok = k.call("PUT", "/api/v1/calendars/2", &[("if-match", "\"3\"")], Some(&body)).await;
        assert_eq!(ok.status, 200, "{}", ok.body);
        assert_eq!(ok.headers["etag"], "\"4\"");
        assert_eq!(ok.body["week"]["mon"], "08:30-18:00");

        // Policies.
        let all = k.get("/api/v1/sla/policies").await;
        assert_eq!(all.body.as_array().unwrap().len(), 10);
        let new = json!({"name": "紧急投诉方案 4 小时", "metric": "proposal", "kind": "complaint", "priority": "urgent", "target_minutes": 240, "calendar_id": 3}).to_string();
        let made = k.post("/api/v1/sla/policies", &new).await;
        assert_eq!(made.status, 201, "{}", made.body);
        assert_eq!(made.body["warn_percent"], 80);
        let id = made.body["id"].as_i64().unwrap();
        let upd = new.replace("240", "180");
        let r = k.call("PUT", &format!("/api/v1/sla/policies/{id}"), &[("if-match", "\"1\"")], Some(&upd)).await;
        assert_eq!((r.status.as_u16(), r.body["target_minutes"].as_i64()), (200, Some(180)));
        let r = k.call("PUT", &format!("/api/v1/sla/policies/{id}"), &[("if-match", "\"1\"")], Some(&upd)).await;
        assert_eq!(r.code(), "version_conflict");
        let r = k.post("/api/v1/sla/policies", &new.replace("\"complaint\"", "\"gossip\"")).await;
        assert_eq!((r.status.as_u16(), r.code()), (422, "validation"));
        assert_eq!(k.get("/api/v1/sla/policies").await.body.as_array().unwrap().len(), 11);
        // The supervisor lists answer (empty here).
        assert_eq!(k.get("/api/v1/sla/breaching?within_minutes=30").await.body, json!([]));
        assert_eq!(k.get("/api/v1/sla/breached").await.body, json!([]));
        assert_eq!(k.get("/api/v1/sla/clocks?subject_kind=ticket&subject_id=1").await.body, json!([]));
        assert_eq!(k.get("/api/v1/sla/clocks?subject_kind=order&subject_id=1").await.code(), "validation");
    })
    .await;
}
