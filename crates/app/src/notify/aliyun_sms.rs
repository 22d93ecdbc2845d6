//! SMS through 阿里云短信 (Aliyun Dysms) `SendSms`, the RPC-style API of version 2017-05-25.
//!
//! The request is a GET whose query carries the common parameters (`AccessKeyId`, `Action`,
//! `Format`, `SignatureMethod=HMAC-SHA1`, `SignatureNonce`, `SignatureVersion=1.0`,
//! `Timestamp`, `Version`) and the action's (`PhoneNumbers`, `SignName`, `TemplateCode`,
//! `TemplateParam`, `OutId`), signed as the provider documents: the parameters sorted by name,
//! each name and value percent-encoded (RFC 3986 unreserved characters kept, so a space is `%20`,
//! `*` is `%2A`, `~` stays), joined with `&`; the string to sign is
//! `GET&%2F&<percent-encoded canonical query>` and `Signature` is the Base64 HMAC-SHA1 of it
//! keyed with `<AccessKeySecret>&`.
//!
//! The answer is JSON: `{"Code":"OK","BizId":…,"RequestId":…}` when accepted (the `BizId` is kept
//! as the provider ref), another `Code` otherwise — throttling and provider faults are retried,
//! anything else (an illegal number, an unknown template, a wrong signature) is final.
//!
//! The outbox row's template is the approved template code (`SMS_123456789`), its payload the
//! template's parameters. Keys starting with `_` are instructions to the adapter, not parameters:
//! `_kind: "marketing"` marks a marketing message, which must carry the opt-out [`OPT_OUT`]
//! (回T退订): its text goes in the `content` parameter and the adapter appends the opt-out when
//! it is missing; a marketing message without `content` is refused.

use serde_json::{Map, Value};
use store::BoxFuture;

use super::{
    Channel, Delivery, OutboundMessage, Secret, SendError, http_client, param_text, status_error,
    transport_error,
};
use crate::aliyun::signed_get_url;
pub use crate::aliyun::{aliyun_percent_encode, aliyun_signature};
use crate::{Error, Result};

/// The public endpoint of the SMS API.
pub const ALIYUN_SMS_ENDPOINT: &str = "https://dysmsapi.aliyuncs.com/";
/// The opt-out every marketing SMS carries.
pub const OPT_OUT: &str = "回T退订";

/// What the adapter needs: the RAM user's key, the approved signature (签名) and the endpoint.
#[derive(Debug, Clone)]
pub struct AliyunSmsConfig {
    pub access_key_id: String,
    pub access_key_secret: Secret,
    /// The approved signature shown in 【】 before the text.
    pub sign_name: String,
    /// `https://dysmsapi.aliyuncs.com/` unless set (tests point it at a local fake).
    pub endpoint: String,
}

impl AliyunSmsConfig {
    pub fn new(
        access_key_id: impl Into<String>,
        access_key_secret: Secret,
        sign_name: impl Into<String>,
    ) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            access_key_secret,
            sign_name: sign_name.into(),
            endpoint: ALIYUN_SMS_ENDPOINT.to_string(),
        }
    }

    #[must_use]
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = endpoint.into();
        self
    }
}

/// The template parameters to send: the payload without the adapter's `_` keys, every value as
/// text; a marketing message's `content` ends with the opt-out.
pub fn sms_template_params(params: &Value) -> Result<Map<String, Value>, SendError> {
    let obj = match params {
        Value::Object(o) => o,
        Value::Null => &Map::new(),
        other => {
            return Err(SendError::Permanent(format!(
                "SMS parameters must be an object, not {other}"
            )));
        }
    };
    let marketing = obj.get("_kind").and_then(Value::as_str) == Some("marketing");
    let mut out: Map<String, Value> = obj
        .iter()
        .filter(|(k, _)| !k.starts_with('_'))
        .map(|(k, v)| (k.clone(), Value::String(param_text(v))))
        .collect();
    if marketing {
        let Some(Value::String(content)) = out.get_mut("content") else {
            return Err(SendError::Permanent(format!(
                "a marketing SMS carries its text in the content parameter, which ends with {OPT_OUT}"
            )));
        };
        if !content.contains(OPT_OUT) {
            if !content.is_empty() && !content.ends_with(char::is_whitespace) {
                content.push(' ');
            }
            content.push_str(OPT_OUT);
        }
    }
    Ok(out)
}

/// Codes worth another try later: throttling and the provider's own faults.
fn retryable_code(code: &str) -> bool {
    code == "isv.BUSINESS_LIMIT_CONTROL"
        || code.starts_with("Throttling")
        || code.starts_with("isp.")
        || matches!(
            code,
            "SignatureNonceUsed" | "InternalError" | "ServiceUnavailable" | "isv.SYSTEM_ERROR"
        )
}

/// The 阿里云短信 adapter (see the module's documentation).
pub struct AliyunSms {
    client: reqwest::Client,
    config: AliyunSmsConfig,
}

impl AliyunSms {
    pub fn new(config: AliyunSmsConfig) -> Result<Self> {
        reqwest::Url::parse(&config.endpoint)
            .map_err(|e| Error::Conflict(format!("SMS endpoint {:?}: {e}", config.endpoint)))?;
        Ok(Self {
            client: http_client("sms")?,
            config,
        })
    }

    /// The signed `SendSms` URL for one message; `nonce` must never repeat.
    pub fn request_url(&self, msg: &OutboundMessage, nonce: &str) -> Result<String, SendError> {
        let phone = msg.recipient.trim();
        if phone.is_empty() {
            return Err(SendError::Permanent("SMS without a phone number".into()));
        }
        if msg.template.trim().is_empty() {
            return Err(SendError::Permanent("SMS without a template code".into()));
        }
        let template_param = Value::Object(sms_template_params(&msg.params)?).to_string();
        let c = &self.config;
        let out_id = msg.id.0.to_string();
        Ok(signed_get_url(
            &c.endpoint,
            &c.access_key_id,
            c.access_key_secret.expose(),
            "SendSms",
            "2017-05-25",
            msg.attempt_at,
            nonce,
            &[
                ("OutId", &out_id),
                ("PhoneNumbers", phone),
                ("SignName", &c.sign_name),
                ("TemplateCode", msg.template.trim()),
                ("TemplateParam", &template_param),
            ],
        ))
    }

    async fn send_sms(&self, msg: &OutboundMessage) -> Result<Delivery, SendError> {
        let nonce = format!(
            "{}-{}-{:016x}",
            msg.id.0,
            msg.attempt_at.0,
            rand::random::<u64>()
        );
        let url = self.request_url(msg, &nonce)?;
        let response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| transport_error("SMS", &e))?;
        let status = response.status();
        if status.is_server_error() {
            return Err(status_error("SMS", response).await);
        }
        let text = response
            .text()
            .await
            .map_err(|e| transport_error("SMS", &e))?;
        let Ok(body) = serde_json::from_str::<Value>(&text) else {
            let snippet: String = text.chars().take(300).collect();
            let why = format!("SMS answered HTTP {}: {}", status.as_u16(), snippet.trim());
            return Err(if status.is_success() || status.as_u16() == 429 {
                SendError::Retryable(why)
            } else {
                SendError::Permanent(why)
            });
        };
        let code = body["Code"].as_str().unwrap_or_default();
        if code == "OK" {
            let biz_id = body["BizId"]
                .as_str()
                .filter(|s| !s.is_empty())
                .or_else(|| body["RequestId"].as_str())
                .map(str::to_string);
            return Ok(Delivery {
                provider_ref: biz_id,
            });
        }
        let why = format!(
            "SMS refused: {} {}",
            if code.is_empty() { "(no Code)" } else { code },
            body["Message"].as_str().unwrap_or_default()
        );
        if retryable_code(code) || status.as_u16() == 429 {
            Err(SendError::Retryable(why))
        } else {
            Err(SendError::Permanent(why))
        }
    }
}

impl Channel for AliyunSms {
    fn send<'a>(&'a self, msg: &'a OutboundMessage) -> BoxFuture<'a, Result<Delivery, SendError>> {
        Box::pin(self.send_sms(msg))
    }
}
