//! The committed openapi.json is what the server serves; a change to the API shows up as a diff
//! in review. Regenerate with `UPDATE_OPENAPI=1 cargo test -p web openapi`.

#[test]
fn openapi_document_matches_the_committed_snapshot() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    let current = web::openapi_json();
    if std::env::var("UPDATE_OPENAPI").is_ok() {
        std::fs::write(&path, &current).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == current,
        "openapi.json is out of date: run UPDATE_OPENAPI=1 cargo test -p web openapi and commit it"
    );
    let doc: serde_json::Value = serde_json::from_str(&current).unwrap();
    for path in [
        "/api/v1/customers",
        "/api/v1/customers/{id}/overview",
        "/api/v1/customers/{id}/merge",
        "/api/v1/audit",
        "/api/v1/users",
        "/api/v1/search",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is not documented");
    }
}
