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

#[tokio::test]
async fn sla_create_calendar_use_it_and_refusals() {
    each_backend(|db, which| async move {
        let k = kit(db).await;
        let week = json!({"mon": "10:00-16:00", "tue": "10:00-16:00", "wed": "10:00-16:00", "thu": "10:00-16:00", "fri": "10:00-16:00", "sat": "", "sun": ""});
        let body = json!({"name": "华东专线 10:00–16:00", "tz": "Asia/Shanghai", "week": week, "copy_days_from": 2});
        let made = k.post("/api/v1/calendars", &body.to_string()).await;
        assert_eq!(made.status, 201, "{which:?}: {}", made.body);
        assert_eq!(made.headers["etag"], "\"1\"");
        let id = made.body["id"].as_i64().unwrap();
        assert!(id > 3, "{which:?}: a new id after the seeded calendars, got {id}");
        assert_eq!((made.body["is_default"].as_bool(), made.body["week"]["mon"].as_str()), (Some(false), Some("10:00-16:00")));
        // It starts with the office calendar's holidays and 调休.
        let days = made.body["days"].as_array().unwrap();
        assert!(days.iter().any(|d| d["date"] == "2026-10-01" && d["rule"] == "closed" && d["name"] == "国庆节"), "{}", made.body);
        assert!(days.iter().any(|d| d["date"] == "2026-10-10" && d["rule"] == "open" && d["hours"] == "09:00-18:00"));
        let office_days = k.get("/api/v1/calendars/2").await.body["days"].as_array().unwrap().len();
        assert_eq!(days.len(), office_days);
        let list = k.get("/api/v1/calendars").await;
        assert_eq!(list.body.as_array().unwrap().len(), 4);
        let audit = k.get(&format!("/api/v1/audit?entity=business_calendar&entity_id={id}")).await;
        let items = audit.body["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{}", audit.body);
        assert_eq!((items[0]["action"].as_str(), items[0]["after"]["days_copied"].as_u64()), (Some("create"), Some(office_days as u64)));

        // Its own hours and the copied holidays decide deadlines: from Wednesday 30 September
        // 15:00, two business hours are one hour that day, then nothing until Thursday 8 October
        // (National Day, 1–7 October) 10:00–11:00.
        let due = k
            .post(&format!("/api/v1/calendars/{id}/deadline"), r#"{"start": "2026-09-30T15:00:00+08:00", "duration_minutes": 120}"#)
            .await;
        assert_eq!(due.status, 200, "{}", due.body);
        assert_eq!(due.body["deadline_local"], "2026-10-08T11:00:00.000+08:00", "{which:?}");
        // Without copied days the same question ends on the holiday.
        let bare = k
            .post("/api/v1/calendars", &json!({"name": "无节假日", "tz": "Asia/Shanghai", "week": week}).to_string())
            .await;
        assert_eq!(bare.status, 201, "{}", bare.body);
        assert_eq!(bare.body["days"], json!([]));
        let bare_id = bare.body["id"].as_i64().unwrap();
        let due = k
            .post(&format!("/api/v1/calendars/{bare_id}/deadline"), r#"{"start": "2026-09-30T15:00:00+08:00", "duration_minutes": 120}"#)
            .await;
        assert_eq!(due.body["deadline_local"], "2026-10-01T11:00:00.000+08:00");

        // A policy on the new calendar times a new ticket's first reply on it.
        let policy = json!({"name": "华东咨询首响 2 小时", "metric": "first_reply", "kind": "consultation", "target_minutes": 120, "calendar_id": id}).to_string();
        let made_policy = k.post("/api/v1/sla/policies", &policy).await;
        assert_eq!(made_policy.status, 201, "{}", made_policy.body);
        let policy_id = made_policy.body["id"].as_i64().unwrap();
        let ticket = k
            .post("/api/v1/tickets", &json!({"kind": "consultation", "subject": "华东专线咨询", "phone": "13700002222"}).to_string())
            .await;
        assert_eq!(ticket.status, 201, "{which:?}: {}", ticket.body);
        let clocks = k.get(&format!("/api/v1/sla/clocks?subject_kind=ticket&subject_id={}", ticket.body["id"])).await;
        let first = clocks.body.as_array().unwrap().iter().find(|c| c["metric"] == "first_reply").cloned().unwrap_or_else(|| panic!("{}", clocks.body));
        assert_eq!((first["calendar_id"].as_i64(), first["policy_id"].as_i64()), (Some(id), Some(policy_id)), "{first}");
        let expected = k
            .post(&format!("/api/v1/calendars/{id}/deadline"), &json!({"start": first["started_at"], "duration_minutes": 120}).to_string())
            .await;
        assert_eq!(first["due_at"], expected.body["deadline"], "{which:?}: the clock is due when the calendar says");
        // A hotline line may open on it.
        let line = k
            .post("/api/v1/hotline/lines", &json!({"number": "400-222-3333", "name": "华东专线", "calendar_id": id}).to_string())
            .await;
        assert_eq!((line.status.as_u16(), line.body["calendar_id"].as_i64()), (201, Some(id)), "{}", line.body);

        // Refusals: stable codes, the field named, nothing added.
        let with = |field: &str, v: serde_json::Value| {
            let mut b = body.clone();
            b[field] = v;
            b.to_string()
        };
        let mut bad_week = week.clone();
        bad_week["mon"] = json!("16:00-10:00");
        let bad = [
            (with("name", json!("  ")), 422, "validation", Some("name")),
            (with("name", json!("名".repeat(101))), 422, "validation", Some("name")),
            (with("tz", json!("Mars/Olympus")), 422, "validation", Some("tz")),
            (with("week", bad_week), 422, "validation", Some("week.mon")),
            (with("copy_days_from", json!(99)), 422, "validation", Some("copy_days_from")),
            (with("brand_id", json!(99)), 422, "validation", Some("brand_id")),
            (with("is_default", json!(true)), 422, "validation", None),
            (r#"{"name": "#.to_string(), 400, "malformed_json", None),
        ];
        for (b, status, code, field) in bad {
            let r = k.post("/api/v1/calendars", &b).await;
            assert_eq!((r.status.as_u16(), r.code()), (status, code), "{which:?}: {b}: {}", r.body);
            if let Some(f) = field {
                assert!(r.body["error"]["fields"].get(f).is_some(), "{b}: {}", r.body);
            }
        }
        assert_eq!(k.get("/api/v1/calendars").await.body.as_array().unwrap().len(), 5, "only the two good ones");
        let audit = k.get("/api/v1/audit?entity=business_calendar&action=create").await;
        assert_eq!(audit.body["items"].as_array().unwrap().len(), 2, "{}", audit.body);

        // Deleting: only a calendar nobody uses, at its current version; never the default.
        let del = |cal: i64, version: Option<&'static str>| {
            let k = &k;
            async move {
                let headers: Vec<(&str, &str)> = version.map(|v| ("if-match", v)).into_iter().collect();
                k.call("DELETE", &format!("/api/v1/calendars/{cal}"), &headers, None).await
            }
        };
        let in_use = del(id, Some("\"1\"")).await;
        assert_eq!((in_use.status.as_u16(), in_use.code()), (409, "conflict"), "{which:?}: {}", in_use.body);
        let message = in_use.body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("1 SLA policies") && message.contains("SLA clocks") && message.contains("1 hotline lines"), "{message}");
        let default = del(1, Some("\"1\"")).await;
        assert_eq!((default.status.as_u16(), default.code()), (409, "conflict"), "{}", default.body);
        assert_eq!(del(bare_id, None).await.status.as_u16(), 428);
        assert_eq!(del(bare_id, Some("\"7\"")).await.status.as_u16(), 409);
        assert_eq!(del(999, Some("\"1\"")).await.status.as_u16(), 404);
        assert_eq!(k.get("/api/v1/calendars").await.body.as_array().unwrap().len(), 5, "refusals delete nothing");
        let gone = del(bare_id, Some("\"1\"")).await;
        assert_eq!(gone.status.as_u16(), 204, "{which:?}: {}", gone.body);
        assert_eq!(k.get(&format!("/api/v1/calendars/{bare_id}")).await.status.as_u16(), 404);
        assert_eq!(k.get("/api/v1/calendars").await.body.as_array().unwrap().len(), 4);
        let audit = k.get(&format!("/api/v1/audit?entity=business_calendar&entity_id={bare_id}&action=delete")).await;
        assert_eq!(audit.body["items"].as_array().unwrap().len(), 1, "{}", audit.body);
        assert_eq!(audit.body["items"][0]["before"]["week"]["mon"], "10:00-16:00", "{}", audit.body);
    })
    .await;
}
