//! GET /api/v1/search: words found with highlights, filters, paging, bad input with stable codes.

use testkit::each_backend;

use crate::kit::kit;

const HAIDIAN: &str = r#""address": {"province_code": "110000", "city_code": "110100", "district_code": "110108", "detail": "中关村大街 1 号"}"#;

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

#[tokio::test]
async fn search_finds_words_with_highlights_and_refuses_bad_input() {
    each_backend(|db, which| async move {
        let k = kit(db).await;
        let body = format!(r#"{{"kind": "individual", "name": "张伟", "phone": "13812345678", "remark": "冰箱漏水, needs a visit", {HAIDIAN}}}"#);
        let r = k.post("/api/v1/customers", &body).await;
        assert_eq!(r.status, 201, "{which:?}: {}", r.body);
        let id = r.body["id"].as_i64().unwrap();
        let r = k
            .post(&format!("/api/v1/customers/{id}/devices"), r#"{"category": "空调", "model": "KFR-35GW", "serial": "SN0042"}"#)
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let device = r.body["id"].as_i64().unwrap();

        let r = k.get(&format!("/api/v1/search?q={}", enc("漏水"))).await;
        assert_eq!(r.status, 200, "{which:?}: {}", r.body);
        assert_eq!(r.body["items"][0]["kind"], "customer");
        assert_eq!(r.body["items"][0]["id"], id);
        assert_eq!(r.body["items"][0]["title"][0], serde_json::json!({"text": "张伟", "hit": false}));
        let snippet = r.body["items"][0]["snippet"].as_array().unwrap();
        assert!(snippet.iter().any(|s| s["text"] == "漏水" && s["hit"] == true), "{}", r.body);
        assert_eq!(r.body["terms"], serde_json::json!(["漏水"]));
        assert!(r.body["next"].is_null());

        let r = k.get(&format!("/api/v1/search?q={}", enc("北京海淀区张伟"))).await;
        assert_eq!(r.body["items"][0]["id"], id, "{which:?}: {}", r.body);
        let r = k.get("/api/v1/search?q=5678").await;
        assert_eq!(r.body["items"][0]["id"], id, "phone tail: {}", r.body);
        let r = k.get("/api/v1/search?q=kfr&kind=device").await;
        assert_eq!(r.body["items"].as_array().map(Vec::len), Some(1), "{}", r.body);
        assert_eq!(r.body["items"][0]["id"], device);
        let r = k.get(&format!("/api/v1/search?q={}&kind=customer", enc("空调"))).await;
        assert_eq!(r.body["items"].as_array().map(Vec::len), Some(0));

        for (uri, field) in [
            ("/api/v1/search".to_string(), "q"),
            ("/api/v1/search?q=%20%20".to_string(), "q"),
            (format!("/api/v1/search?q={}", "a".repeat(101)), "q"),
            ("/api/v1/search?q=x&kind=order".to_string(), "kind"),
            ("/api/v1/search?q=x&cursor=garbage".to_string(), "cursor"),
        ] {
            let r = k.get(&uri).await;
            assert_eq!((r.status.as_u16(), r.code()), (422, "validation"), "{which:?} {uri}: {}", r.body);
            assert!(r.body["error"]["fields"][field].is_string(), "{uri}: {}", r.body);
        }
        for nasty in ["\"", "NEAR(", "a OR b", "'; DROP TABLE search_docs; --", "*", "a:*&!"] {
            let r = k.get(&format!("/api/v1/search?q={}", enc(nasty))).await;
            assert_eq!(r.status, 200, "{which:?} {nasty}: {}", r.body);
        }
        let r = k.call("GET", "/api/v1/search?q=x", &[("authorization", "Bearer nope")], None).await;
        assert_eq!((r.status.as_u16(), r.code()), (401, "unauthenticated"));
    })
    .await;
}
