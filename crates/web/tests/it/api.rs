use serde_json::json;
use testkit::each_backend;

use crate::kit::kit;

const HANGZHOU: &str = r#""address": {"province_code": "330000", "city_code": "330100", "district_code": "330106", "detail": "文三路 90 号"}"#;

#[tokio::test]
async fn create_read_update_with_versions_and_idempotency() {
    each_backend(|db, which| async move {
        let k = kit(db).await;
        let body = format!(
            r#"{{"kind": "individual", "name": "张伟", "phone": "138 1234 5678", {HANGZHOU}}}"#
        );
        let r = k
            .call(
                "POST",
                "/api/v1/customers",
                &[("idempotency-key", "k1")],
                Some(&body),
            )
            .await;
        assert_eq!(r.status, 201, "{which:?}: {}", r.body);
        assert_eq!(r.body["phone"], "13812345678");
        assert_eq!(r.body["region"], "浙江省杭州市西湖区");
        assert_eq!(r.headers["etag"], "\"1\"");
        let id = r.body["id"].as_i64().unwrap();

        // The same key and body: the same customer, flagged as a replay, nothing new.
        let again = k
            .call(
                "POST",
                "/api/v1/customers",
                &[("idempotency-key", "k1")],
                Some(&body),
            )
            .await;
        assert_eq!(
            (again.status.as_u16(), again.body["id"].as_i64()),
            (201, Some(id))
        );
        assert_eq!(again.headers["idempotent-replayed"], "true");
        // The same key with another body is refused.
        let other = k
            .call(
                "POST",
                "/api/v1/customers",
                &[("idempotency-key", "k1")],
                Some(r#"{"kind": "individual", "name": "李娜"}"#),
            )
            .await;
        assert_eq!(
            (other.status.as_u16(), other.code()),
            (422, "idempotency_key_reused")
        );
        assert_eq!(k.count_customers().await, 1, "{which:?}");

        // Updates need If-Match; a stale one is refused and changes nothing.
        let upd = r#"{"kind": "individual", "name": "张伟（老客户）", "phone": "13812345678"}"#;
        let missing = k
            .call("PUT", &format!("/api/v1/customers/{id}"), &[], Some(upd))
            .await;
        assert_eq!(
            (missing.status.as_u16(), missing.code()),
            (428, "precondition_required")
        );
        let ok = k
            .call(
                "PUT",
                &format!("/api/v1/customers/{id}"),
                &[("if-match", "\"1\"")],
                Some(upd),
            )
            .await;
        assert_eq!(ok.status, 200, "{}", ok.body);
        assert_eq!(ok.headers["etag"], "\"2\"");
        let stale = k
            .call(
                "PUT",
                &format!("/api/v1/customers/{id}"),
                &[("if-match", "\"1\"")],
                Some(r#"{"kind": "individual", "name": "覆盖"}"#),
            )
            .await;
        assert_eq!(
            (stale.status.as_u16(), stale.code()),
            (409, "version_conflict")
        );
        assert_eq!(
            k.get(&format!("/api/v1/customers/{id}")).await.body["name"],
            "张伟（老客户）"
        );

        // The overview carries the customer page data.
        let note = k
            .post(
                &format!("/api/v1/customers/{id}/timeline"),
                r#"{"category": "quality", "body": "<script>alert(1)</script>"}"#,
            )
            .await;
        assert_eq!(note.status, 201, "{}", note.body);
        let ov = k.get(&format!("/api/v1/customers/{id}/overview")).await;
        assert_eq!(
            ov.body["addresses"][0]["text"],
            "浙江省杭州市西湖区 文三路 90 号"
        );
        assert_eq!(ov.body["timeline"][0]["body"], "<script>alert(1)</script>");
        assert_eq!(ov.body["timeline"][0]["category"], "quality");
    })
    .await;
}

#[tokio::test]
async fn bad_input_gets_a_stable_code_and_changes_nothing() {
    each_backend(|db, which| async move {
        let k = kit(db).await;
        let cases: Vec<(&str, Option<&str>, &str, u16, &str)> = vec![
            ("malformed", None, r#"{"kind": "individual", "name": "#, 400, "malformed_json"),
            ("wrong type", None, r#"{"kind": "individual", "name": 42}"#, 422, "validation"),
            ("missing field", None, r#"{"kind": "individual"}"#, 422, "validation"),
            ("unknown field", None, r#"{"kind": "individual", "name": "x", "nmae": "y"}"#, 422, "validation"),
            ("bad phone", None, r#"{"kind": "individual", "name": "x", "phone": "12345"}"#, 422, "validation"),
            ("bad kind", None, r#"{"kind": "alien", "name": "x"}"#, 422, "validation"),
            ("bad region", None, r#"{"kind": "individual", "name": "x", "address": {"province_code": "110000", "city_code": "330100", "detail": "x"}}"#, 422, "validation"),
            ("not json", Some("text/plain"), r#"{"kind": "individual", "name": "x"}"#, 415, "unsupported_media_type"),
        ];
        for (what, ct, body, status, code) in cases {
            let headers: Vec<(&str, &str)> = ct.map(|c| vec![("content-type", c)]).unwrap_or_default();
            let r = k.call("POST", "/api/v1/customers", &headers, Some(body)).await;
            assert_eq!((r.status.as_u16(), r.code()), (status, code), "{which:?} {what}: {}", r.body);
            assert!(r.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}");
        }
        let r = k.post("/api/v1/customers", r#"{"kind": "individual", "name": "x", "phone": "12345"}"#).await;
        assert_eq!(r.body["error"]["fields"]["phone"].as_str().map(|s| !s.is_empty()), Some(true), "{}", r.body);
        let huge = json!({"kind": "individual", "name": "字".repeat(100_000)}).to_string();
        let r = k.post("/api/v1/customers", &huge).await;
        assert_eq!((r.status.as_u16(), r.code()), (422, "validation"));
        let too_big = json!({"kind": "individual", "name": "x", "remark": "a".repeat(2 * 1024 * 1024)}).to_string();
        let r = k.post("/api/v1/customers", &too_big).await;
        assert_eq!((r.status.as_u16(), r.code()), (413, "payload_too_large"), "{which:?}");
        let sql = r#"{"kind": "individual", "name": "'; DROP TABLE customers; --"}"#;
        assert_eq!(k.post("/api/v1/customers", sql).await.status, 201);
        assert_eq!(k.count_customers().await, 1, "{which:?}: only the last, valid create landed");
        assert_eq!(k.get("/api/v1/customers/999999").await.code(), "not_found");
        assert_eq!(k.get("/api/v1/customers?cursor=garbage").await.code(), "validation");
    })
    .await;
}

#[tokio::test]
async fn without_credentials_the_api_answers_401_json() {
    each_backend(|db, _| async move {
        let k = kit(db).await;
        let r = k
            .call(
                "GET",
                "/api/v1/customers",
                &[("authorization", "Basic eA==")],
                None,
            )
            .await;
        assert_eq!((r.status.as_u16(), r.code()), (401, "unauthenticated"));
        let r = k
            .call(
                "GET",
                "/api/v1/customers",
                &[("authorization", "Bearer not-a-token")],
                None,
            )
            .await;
        assert_eq!((r.status.as_u16(), r.code()), (401, "unauthenticated"));
        let ready = k.call("GET", "/readyz", &[], None).await;
        assert_eq!(ready.status, 200);
    })
    .await;
}

#[tokio::test]
async fn duplicates_are_found_and_merged_keeping_history() {
    each_backend(|db, which| async move {
        let k = kit(db).await;
        let a = k.post("/api/v1/customers", r#"{"kind": "individual", "name": "王芳", "phone": "13900001111"}"#).await.body["id"].as_i64().unwrap();
        let dup = k.post("/api/v1/customers", r#"{"kind": "individual", "name": "王芳(老客户)", "phone": "13900001111"}"#).await;
        assert_eq!((dup.status.as_u16(), dup.code()), (409, "duplicate"));
        assert_eq!(dup.body["error"]["existing_id"].as_i64(), Some(a));
        let b = k.post("/api/v1/customers", r#"{"kind": "individual", "name": "王芳(老客户)", "phone": "13900001111", "allow_duplicate": true}"#).await.body["id"].as_i64().unwrap();
        let dev = k.post(&format!("/api/v1/customers/{b}/devices"), r#"{"category": "净水器", "model": "QQ-RO500", "purchase_date": "2025-03-01", "warranty_end": "2027-03-01"}"#).await;
        assert_eq!(dev.status, 201, "{}", dev.body);
        let groups = k.get("/api/v1/customers/duplicates").await;
        assert_eq!(groups.body.as_array().map(Vec::len), Some(1), "{which:?}: {}", groups.body);
        let merged = k.call("POST", &format!("/api/v1/customers/{a}/merge"), &[("if-match", "\"1\"")], Some(&format!(r#"{{"from_id": {b}, "from_version": 1}}"#))).await;
        assert_eq!(merged.status, 200, "{which:?}: {}", merged.body);
        let ov = k.get(&format!("/api/v1/customers/{a}/overview")).await;
        assert_eq!(ov.body["devices"][0]["model"], "QQ-RO500");
        assert!(ov.body["timeline"].as_array().unwrap().iter().any(|e| e["kind"] == "merged"), "{}", ov.body);
        let tomb = k.get(&format!("/api/v1/customers/{b}")).await;
        assert_eq!((tomb.body["status"].as_str(), tomb.body["merged_into"].as_i64()), (Some("merged"), Some(a)));
        assert_eq!(k.get("/api/v1/customers/duplicates").await.body.as_array().map(Vec::len), Some(0));
    })
    .await;
}
