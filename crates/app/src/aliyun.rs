//! 阿里云 RPC-style OpenAPI requests (短信 Dysms, 语音服务 Dyvms): the common parameters and the
//! signature every such request carries, in one place.
//!
//! A request is a GET whose query holds the common parameters (`AccessKeyId`, `Action`,
//! `Format=JSON`, `SignatureMethod=HMAC-SHA1`, `SignatureNonce`, `SignatureVersion=1.0`,
//! `Timestamp` in UTC ISO 8601, `Version`) and the action's own, signed as the provider
//! documents: the parameters sorted by name, each name and value percent-encoded (RFC 3986
//! unreserved characters kept, so a space is `%20`, `*` is `%2A`, `~` stays), joined with `&`;
//! the string to sign is `GET&%2F&<percent-encoded canonical query>` and `Signature` is the
//! Base64 HMAC-SHA1 of it keyed with `<AccessKeySecret>&`.

use std::fmt::Write as _;

use base64::Engine as _;
use domain::Timestamp;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Percent-encoding as the Aliyun RPC signature wants it: every byte but `A-Z a-z 0-9 - _ . ~`
/// as `%XX` (upper-case hex).
pub fn aliyun_percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The canonical query (sorted, encoded) and its `Signature` for `method` (`GET`).
pub fn aliyun_signature(
    secret: &str,
    method: &str,
    params: &[(String, String)],
) -> (String, String) {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let canonical = sorted
        .iter()
        .map(|(k, v)| format!("{}={}", aliyun_percent_encode(k), aliyun_percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let to_sign = format!(
        "{method}&{}&{}",
        aliyun_percent_encode("/"),
        aliyun_percent_encode(&canonical)
    );
    let mut mac = Hmac::<Sha1>::new_from_slice(format!("{secret}&").as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(to_sign.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    (canonical, signature)
}

/// The signed GET URL of `action` (API `version`) at `endpoint` with the action's `params`;
/// `nonce` must never repeat.
#[allow(clippy::too_many_arguments)]
pub fn signed_get_url(
    endpoint: &str,
    access_key_id: &str,
    access_key_secret: &str,
    action: &str,
    version: &str,
    at: Timestamp,
    nonce: &str,
    params: &[(&str, &str)],
) -> String {
    let timestamp = chrono::DateTime::from_timestamp_millis(at.0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let mut all: Vec<(String, String)> = [
        ("AccessKeyId", access_key_id),
        ("Action", action),
        ("Format", "JSON"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureNonce", nonce),
        ("SignatureVersion", "1.0"),
        ("Timestamp", &timestamp),
        ("Version", version),
    ]
    .into_iter()
    .chain(params.iter().copied())
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    all.sort();
    let (canonical, signature) = aliyun_signature(access_key_secret, "GET", &all);
    let base = endpoint.split('?').next().unwrap_or_default();
    format!(
        "{base}?Signature={}&{canonical}",
        aliyun_percent_encode(&signature)
    )
}
