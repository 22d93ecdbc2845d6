//! Messages that leave the system (D7). Use cases write them to the outbox in their own
//! transaction (`store::outbox::insert`); the `deliver_outbox` job hands each to the `Channel`
//! adapter of its channel. An adapter sends one message and says whether a failure is worth
//! retrying (timeouts, 5xx, throttling) or final (the receiver refused it). The first adapter is
//! a generic signed webhook; SMS providers (signature + template id + parameters), email, WeChat
//! subscription messages and 企业微信 group bots fit the same shape: a recipient, a template and
//! its parameters.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use domain::{BrandId, OutboxId, Timestamp};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use store::BoxFuture;
use store::outbox::{Channel as ChannelKind, Message};

use crate::{Error, Result, Settings};

mod aliyun_sms;
mod email;
pub mod subscriptions;
mod wechat;
mod wecom;

pub use aliyun_sms::{
    ALIYUN_SMS_ENDPOINT, AliyunSms, AliyunSmsConfig, OPT_OUT, aliyun_percent_encode,
    aliyun_signature, sms_template_params,
};
pub use email::{Email, EmailConfig, email_text};
pub use wechat::{
    WECHAT_API_BASE, WechatConfig, WechatFields, WechatSubscribe, wechat_subscribe_body,
};
pub use wecom::{WECOM_API_BASE, WecomBot, wecom_markdown};

/// One message as an adapter sees it.
#[derive(Debug, Clone)]
pub struct OutboundMessage {
    /// The outbox id: the delivery id receivers deduplicate on (a retry carries the same one).
    pub id: OutboxId,
    pub channel: ChannelKind,
    /// Phone, address, openid, bot key or URL, as the channel needs.
    pub recipient: String,
    /// The event name (webhook) or the provider's template id (SMS, WeChat).
    pub template: String,
    /// The template's parameters or the event's data.
    pub params: Value,
    pub brand_id: Option<BrandId>,
    /// When the message was written.
    pub created_at: Timestamp,
    /// When this attempt is made (the job's clock).
    pub attempt_at: Timestamp,
}

impl OutboundMessage {
    pub fn new(m: &Message, attempt_at: Timestamp) -> Self {
        Self {
            id: m.id,
            channel: m.channel,
            recipient: m.recipient.clone(),
            template: m.template.clone(),
            params: m.payload.clone(),
            brand_id: m.brand_id,
            created_at: m.created_at,
            attempt_at,
        }
    }
}

/// What the provider said about an accepted message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    /// The provider's id for the message, or the receiver's request id.
    pub provider_ref: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth trying again later: a timeout, a refused connection, 5xx, throttling.
    #[error("{0}")]
    Retryable(String),
    /// Trying again would fail the same way: a malformed recipient, 4xx, no adapter.
    #[error("{0}")]
    Permanent(String),
}

impl SendError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, SendError::Retryable(_))
    }
}

/// A way to send messages.
pub trait Channel: Send + Sync {
    fn send<'a>(&'a self, msg: &'a OutboundMessage) -> BoxFuture<'a, Result<Delivery, SendError>>;
}

/// The adapters this process has, by channel. A channel without one fails its messages for good
/// (recorded on the row) rather than holding them forever.
#[derive(Clone, Default)]
pub struct Channels {
    adapters: HashMap<ChannelKind, Arc<dyn Channel>>,
}

impl Channels {
    pub fn new() -> Self {
        Self::default()
    }

    /// The adapters the settings configure: the signed webhook when a secret is set, Aliyun SMS,
    /// email and WeChat subscription messages when their settings are, and the 企业微信 bot (whose
    /// recipient carries its own key) always.
    pub fn from_settings(settings: &Settings) -> Result<Self> {
        let mut channels = Self::new();
        if let Some(secret) = &settings.webhook_secret {
            channels = channels.with(ChannelKind::Webhook, Webhook::new(secret.clone())?);
        }
        if let Some(sms) = &settings.sms_aliyun {
            channels = channels.with(ChannelKind::Sms, AliyunSms::new(sms.clone())?);
        }
        if let Some(email) = &settings.email {
            channels = channels.with(ChannelKind::Email, Email::new(email)?);
        }
        if let Some(wechat) = &settings.wechat {
            channels = channels.with(ChannelKind::Wechat, WechatSubscribe::new(wechat.clone())?);
        }
        let wecom_base = settings.wecom_api_base.as_deref().unwrap_or(WECOM_API_BASE);
        channels = channels.with(ChannelKind::Wecom, WecomBot::new(wecom_base)?);
        Ok(channels)
    }

    #[must_use]
    pub fn with(mut self, kind: ChannelKind, adapter: impl Channel + 'static) -> Self {
        self.adapters.insert(kind, Arc::new(adapter));
        self
    }

    pub fn get(&self, kind: ChannelKind) -> Option<&Arc<dyn Channel>> {
        self.adapters.get(&kind)
    }
}

/// A secret that never shows in logs or `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<str>);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(Arc::from(s.into()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// `sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`: the `X-Kefu-Signature` header.
/// Receivers recompute it over the raw body and compare in constant time, and refuse old
/// timestamps to stop replays.
pub fn webhook_signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The generic signed webhook: POSTs JSON to the recipient URL.
///
/// Body: `{"id": <outbox id>, "event": <template>, "created_at": <RFC 3339>, "data": <params>}`.
/// Headers: `X-Kefu-Event`, `X-Kefu-Delivery` (the outbox id, the same on every retry — receivers
/// deduplicate on it), `X-Kefu-Timestamp` (Unix seconds of this attempt) and `X-Kefu-Signature`.
/// 2xx is delivered (the response's `X-Request-Id`, if any, is kept as the provider ref); 408,
/// 425, 429, 5xx, timeouts and connection errors are retried; any other answer is final.
/// Redirects are not followed: a signed POST goes where it was configured to go.
pub struct Webhook {
    client: reqwest::Client,
    secret: Secret,
}

impl Webhook {
    pub fn new(secret: Secret) -> Result<Self> {
        let client = http_client("webhook")?;
        Ok(Self { client, secret })
    }

    async fn post(&self, msg: &OutboundMessage) -> Result<Delivery, SendError> {
        let url = reqwest::Url::parse(&msg.recipient)
            .map_err(|e| SendError::Permanent(format!("webhook URL {:?}: {e}", msg.recipient)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(SendError::Permanent(format!(
                "webhook URL {:?}: only http and https",
                msg.recipient
            )));
        }
        let body = json!({
            "id": msg.id.0,
            "event": msg.template,
            "created_at": rfc3339(msg.created_at),
            "data": msg.params,
        })
        .to_string();
        let timestamp = msg.attempt_at.0.div_euclid(1000).to_string();
        let signature = webhook_signature(self.secret.expose(), &timestamp, body.as_bytes());
        let response = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Kefu-Event", &msg.template)
            .header("X-Kefu-Delivery", msg.id.0.to_string())
            .header("X-Kefu-Timestamp", &timestamp)
            .header("X-Kefu-Signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                if e.is_builder() {
                    SendError::Permanent(format!("webhook request: {e}"))
                } else {
                    SendError::Retryable(format!("webhook: {e}"))
                }
            })?;
        let status = response.status();
        if status.is_success() {
            let provider_ref = response
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
                .map_or_else(|| format!("HTTP {}", status.as_u16()), str::to_string);
            return Ok(Delivery {
                provider_ref: Some(provider_ref),
            });
        }
        // A few hundred bytes of the answer say why better than the status alone.
        let text = response.text().await.unwrap_or_default();
        let snippet: String = text.chars().take(300).collect();
        let why = format!(
            "webhook answered HTTP {}: {}",
            status.as_u16(),
            snippet.trim()
        );
        if status.is_server_error() || matches!(status.as_u16(), 408 | 425 | 429) {
            Err(SendError::Retryable(why))
        } else {
            Err(SendError::Permanent(why))
        }
    }
}

impl Channel for Webhook {
    fn send<'a>(&'a self, msg: &'a OutboundMessage) -> BoxFuture<'a, Result<Delivery, SendError>> {
        Box::pin(self.post(msg))
    }
}

fn rfc3339(t: Timestamp) -> String {
    chrono::DateTime::from_timestamp_millis(t.0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The HTTP client every adapter uses: short timeouts, no redirects (a signed request goes where
/// it was configured to go).
fn http_client(what: &str) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(format!("kefu-{what}/{}", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Conflict(format!("{what} client: {e}")))
}

/// A request that did not get an answer: a malformed request is final, anything else (timeout,
/// refused connection, broken body) is worth another try.
fn transport_error(what: &str, e: &reqwest::Error) -> SendError {
    if e.is_builder() {
        SendError::Permanent(format!("{what} request: {e}"))
    } else {
        SendError::Retryable(format!("{what}: {e}"))
    }
}

/// An answer whose status is not 2xx: 408, 425, 429 and 5xx are retried, the rest are final.
async fn status_error(what: &str, response: reqwest::Response) -> SendError {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let snippet: String = text.chars().take(300).collect();
    let why = format!(
        "{what} answered HTTP {}: {}",
        status.as_u16(),
        snippet.trim()
    );
    if status.is_server_error() || matches!(status.as_u16(), 408 | 425 | 429) {
        SendError::Retryable(why)
    } else {
        SendError::Permanent(why)
    }
}

/// A template parameter as the text providers take: strings as they are, other values as JSON.
fn param_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}
