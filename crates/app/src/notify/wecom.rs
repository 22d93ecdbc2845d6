//! 企业微信群机器人 (`WeCom` group bot webhooks) for key accounts.
//!
//! The recipient is the bot's key (`…/cgi-bin/webhook/send?key=<key>` on the configured base) or
//! its full webhook URL. The message is `{"msgtype":"markdown","markdown":{"content":…}}` — a
//! title (the `title` parameter, else the template) in bold and one quoted `key：value` line per
//! other parameter — or, with `_msgtype: "text"`, `{"msgtype":"text","text":{"content":…}}`
//! (`_mentioned_mobile_list`, a list of phones, is passed through for text messages).
//! The bot answers `{"errcode":0,"errmsg":"ok"}`; errcode 45009 (too many messages) and -1
//! (busy) are retried, any other errcode is final. The bot returns no message id, so a sent
//! row keeps no provider ref.

use std::fmt::Write as _;

use serde_json::{Value, json};
use store::BoxFuture;

use super::{
    Channel, Delivery, OutboundMessage, SendError, http_client, param_text, status_error,
    transport_error,
};
use crate::{Error, Result};

/// The public API host.
pub const WECOM_API_BASE: &str = "https://qyapi.weixin.qq.com";

pub struct WecomBot {
    client: reqwest::Client,
    base: String,
}

/// The markdown text of a message: the title in bold, then one quoted line per parameter.
pub fn wecom_markdown(template: &str, params: &Value) -> String {
    let title = params
        .get("title")
        .map(param_text)
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| template.to_string());
    let mut out = format!("**{title}**");
    if let Value::Object(o) = params {
        for (k, v) in o {
            if k == "title" || k.starts_with('_') {
                continue;
            }
            let _ = write!(out, "\n> {k}：{}", param_text(v));
        }
    }
    out
}

impl WecomBot {
    pub fn new(base: &str) -> Result<Self> {
        reqwest::Url::parse(base)
            .map_err(|e| Error::Conflict(format!("企业微信 API base {base:?}: {e}")))?;
        Ok(Self {
            client: http_client("wecom")?,
            base: base.trim_end_matches('/').to_string(),
        })
    }

    fn url(&self, recipient: &str) -> Result<reqwest::Url, SendError> {
        let r = recipient.trim();
        if r.is_empty() {
            return Err(SendError::Permanent("企业微信 bot without a key".into()));
        }
        let url = if r.starts_with("http://") || r.starts_with("https://") {
            reqwest::Url::parse(r)
        } else if r.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            reqwest::Url::parse(&format!("{}/cgi-bin/webhook/send?key={r}", self.base))
        } else {
            return Err(SendError::Permanent(format!(
                "企业微信 bot key {r:?} is neither a key nor a URL"
            )));
        };
        url.map_err(|e| SendError::Permanent(format!("企业微信 bot URL {r:?}: {e}")))
    }

    fn body(msg: &OutboundMessage) -> Value {
        if msg.params.get("_msgtype").and_then(Value::as_str) == Some("text") {
            let mut text =
                json!({ "content": wecom_markdown(&msg.template, &msg.params).replace("**", "") });
            if let Some(list) = msg.params.get("_mentioned_mobile_list") {
                text["mentioned_mobile_list"] = list.clone();
            }
            json!({ "msgtype": "text", "text": text })
        } else {
            json!({
                "msgtype": "markdown",
                "markdown": { "content": wecom_markdown(&msg.template, &msg.params) },
            })
        }
    }

    async fn post(&self, msg: &OutboundMessage) -> Result<Delivery, SendError> {
        let url = self.url(&msg.recipient)?;
        let response = self
            .client
            .post(url)
            .json(&Self::body(msg))
            .send()
            .await
            .map_err(|e| transport_error("企业微信", &e))?;
        if !response.status().is_success() {
            return Err(status_error("企业微信", response).await);
        }
        let body: Value = response.json().await.map_err(|e| {
            SendError::Retryable(format!("企业微信 answered something else than JSON: {e}"))
        })?;
        match body["errcode"].as_i64() {
            Some(0) => Ok(Delivery { provider_ref: None }),
            code => {
                let why = format!(
                    "企业微信 refused: errcode {} {}",
                    code.map_or_else(|| "?".to_string(), |c| c.to_string()),
                    body["errmsg"].as_str().unwrap_or_default()
                );
                if matches!(code, Some(45009 | -1)) {
                    Err(SendError::Retryable(why))
                } else {
                    Err(SendError::Permanent(why))
                }
            }
        }
    }
}

impl Channel for WecomBot {
    fn send<'a>(&'a self, msg: &'a OutboundMessage) -> BoxFuture<'a, Result<Delivery, SendError>> {
        Box::pin(self.post(msg))
    }
}
