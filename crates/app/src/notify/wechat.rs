//! 微信订阅消息 (WeChat subscription messages, mini program / 公众号 `message/subscribe/send`).
//!
//! An `access_token` comes from `GET <base>/cgi-bin/token?grant_type=client_credential&appid=…
//! &secret=…` (`{"access_token":…,"expires_in":7200}`) and is kept until five minutes before it
//! expires; an answer of errcode 40001, 40014 or 42001 (invalid or expired token) drops it, and
//! the message is sent once more with a fresh one. The message is
//! `POST <base>/cgi-bin/message/subscribe/send?access_token=…` with
//! `{"touser": <openid>, "template_id": <template>, "page": …, "data": {key: {"value": …}}}`:
//! the recipient is the openid, the template the template id, each parameter one data entry;
//! `_page`, `_miniprogram_state` and `_lang` set those fields instead. `{"errcode":0}` is
//! delivered (the `msgid`, when given, is the provider ref); -1 (busy) and 45009 (quota) are
//! retried; any other errcode — 43101 the user refused, 40003 a bad openid, 40037 a bad
//! template — is final.

use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use store::BoxFuture;
use tokio::sync::Mutex;

use super::{
    Channel, Delivery, OutboundMessage, Secret, SendError, http_client, param_text, status_error,
    transport_error,
};
use crate::{Error, Result};

/// The public API host.
pub const WECHAT_API_BASE: &str = "https://api.weixin.qq.com";

/// The app's credentials and the API base (`https://api.weixin.qq.com` unless set).
#[derive(Debug, Clone)]
pub struct WechatConfig {
    pub appid: String,
    pub secret: Secret,
    pub api_base: String,
}

impl WechatConfig {
    pub fn new(appid: impl Into<String>, secret: Secret) -> Self {
        Self {
            appid: appid.into(),
            secret,
            api_base: WECHAT_API_BASE.to_string(),
        }
    }

    #[must_use]
    pub fn api_base(mut self, base: impl Into<String>) -> Self {
        self.api_base = base.into();
        self
    }
}

struct Token {
    value: String,
    refresh_at: Instant,
}

pub struct WechatSubscribe {
    client: reqwest::Client,
    config: WechatConfig,
    base: String,
    token: Mutex<Option<Token>>,
}

/// The errcodes that mean the access token is no longer good.
fn token_invalid(code: i64) -> bool {
    matches!(code, 40001 | 40014 | 42001)
}

fn refusal(what: &str, body: &Value) -> SendError {
    let code = body["errcode"].as_i64();
    let why = format!(
        "WeChat {what} refused: errcode {} {}",
        code.map_or_else(|| "?".to_string(), |c| c.to_string()),
        body["errmsg"].as_str().unwrap_or_default()
    );
    match code {
        Some(-1 | 45009) => SendError::Retryable(why),
        Some(c) if token_invalid(c) => SendError::Retryable(why),
        _ => SendError::Permanent(why),
    }
}

/// The request body for one message.
pub fn wechat_subscribe_body(msg: &OutboundMessage) -> Result<Value, SendError> {
    let openid = msg.recipient.trim();
    if openid.is_empty() {
        return Err(SendError::Permanent(
            "WeChat message without an openid".into(),
        ));
    }
    if msg.template.trim().is_empty() {
        return Err(SendError::Permanent(
            "WeChat message without a template id".into(),
        ));
    }
    let empty = Map::new();
    let params = match &msg.params {
        Value::Object(o) => o,
        Value::Null => &empty,
        other => {
            return Err(SendError::Permanent(format!(
                "WeChat parameters must be an object, not {other}"
            )));
        }
    };
    let data: Map<String, Value> = params
        .iter()
        .filter(|(k, _)| !k.starts_with('_'))
        .map(|(k, v)| (k.clone(), json!({ "value": param_text(v) })))
        .collect();
    let mut body = json!({
        "touser": openid,
        "template_id": msg.template.trim(),
        "data": data,
    });
    for (key, field) in [
        ("_page", "page"),
        ("_miniprogram_state", "miniprogram_state"),
        ("_lang", "lang"),
    ] {
        if let Some(v) = params.get(key) {
            body[field] = Value::String(param_text(v));
        }
    }
    Ok(body)
}

impl WechatSubscribe {
    pub fn new(config: WechatConfig) -> Result<Self> {
        reqwest::Url::parse(&config.api_base)
            .map_err(|e| Error::Conflict(format!("WeChat API base {:?}: {e}", config.api_base)))?;
        Ok(Self {
            client: http_client("wechat")?,
            base: config.api_base.trim_end_matches('/').to_string(),
            config,
            token: Mutex::new(None),
        })
    }

    /// The cached token, or a fresh one.
    async fn token(&self) -> Result<String, SendError> {
        let mut slot = self.token.lock().await;
        if let Some(t) = slot.as_ref().filter(|t| Instant::now() < t.refresh_at) {
            return Ok(t.value.clone());
        }
        let url = reqwest::Url::parse_with_params(
            &format!("{}/cgi-bin/token", self.base),
            [
                ("grant_type", "client_credential"),
                ("appid", self.config.appid.as_str()),
                ("secret", self.config.secret.expose()),
            ],
        )
        .map_err(|e| SendError::Permanent(format!("WeChat token URL: {e}")))?;
        let response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| transport_error("WeChat token", &e))?;
        if !response.status().is_success() {
            return Err(status_error("WeChat token", response).await);
        }
        let body: Value = response
            .json()
            .await
            .map_err(|e| SendError::Retryable(format!("WeChat token answer: {e}")))?;
        let Some(value) = body["access_token"].as_str().filter(|s| !s.is_empty()) else {
            return Err(refusal("token", &body));
        };
        let expires_in = body["expires_in"].as_u64().unwrap_or(7200);
        *slot = Some(Token {
            value: value.to_string(),
            refresh_at: Instant::now() + Duration::from_secs(expires_in.saturating_sub(300)),
        });
        Ok(value.to_string())
    }

    async fn forget_token(&self, used: &str) {
        let mut slot = self.token.lock().await;
        if slot.as_ref().is_some_and(|t| t.value == used) {
            *slot = None;
        }
    }

    async fn post(&self, body: &Value, token: &str) -> Result<Value, SendError> {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/cgi-bin/message/subscribe/send", self.base),
            [("access_token", token)],
        )
        .map_err(|e| SendError::Permanent(format!("WeChat send URL: {e}")))?;
        let response = self
            .client
            .post(url)
            .json(body)
            .send()
            .await
            .map_err(|e| transport_error("WeChat", &e))?;
        if !response.status().is_success() {
            return Err(status_error("WeChat", response).await);
        }
        response
            .json()
            .await
            .map_err(|e| SendError::Retryable(format!("WeChat answer: {e}")))
    }

    async fn send_message(&self, msg: &OutboundMessage) -> Result<Delivery, SendError> {
        let body = wechat_subscribe_body(msg)?;
        let mut token = self.token().await?;
        let mut answer = self.post(&body, &token).await?;
        if answer["errcode"].as_i64().is_some_and(token_invalid) {
            self.forget_token(&token).await;
            token = self.token().await?;
            answer = self.post(&body, &token).await?;
            if answer["errcode"].as_i64().is_some_and(token_invalid) {
                self.forget_token(&token).await;
            }
        }
        if answer["errcode"].as_i64().unwrap_or(0) == 0 {
            let provider_ref = match &answer["msgid"] {
                Value::Null => None,
                v => Some(param_text(v)),
            };
            Ok(Delivery { provider_ref })
        } else {
            Err(refusal("message", &answer))
        }
    }
}

impl Channel for WechatSubscribe {
    fn send<'a>(&'a self, msg: &'a OutboundMessage) -> BoxFuture<'a, Result<Delivery, SendError>> {
        Box::pin(self.send_message(msg))
    }
}

/// Which data key of the brand's subscription template holds what (templates differ per
/// account: each `thingN`, `timeN`, `character_stringN` is chosen when the template is added in
/// the WeChat console). `KEFU_WECHAT_FIELDS="number=character_string1,status=thing2,time=time3,
/// detail=thing4"` is the default; a key set to nothing is left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WechatFields {
    /// The ticket number.
    pub number: String,
    /// The status text.
    pub status: String,
    /// When it happened (`YYYY-MM-DD HH:MM`).
    pub time: String,
    /// A short detail: the subject, the plan, the reply.
    pub detail: String,
}

impl Default for WechatFields {
    fn default() -> Self {
        Self {
            number: "character_string1".into(),
            status: "thing2".into(),
            time: "time3".into(),
            detail: "thing4".into(),
        }
    }
}

impl WechatFields {
    /// Parses `role=key` pairs separated by commas; roles are number, status, time and detail.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut f = Self::default();
        for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (role, key) = pair
                .split_once('=')
                .ok_or_else(|| format!("{pair:?} is not role=key"))?;
            let key = key.trim().to_string();
            if !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("{key:?} is not a template data key"));
            }
            match role.trim() {
                "number" => f.number = key,
                "status" => f.status = key,
                "time" => f.time = key,
                "detail" => f.detail = key,
                other => {
                    return Err(format!(
                        "unknown role {other:?} (number, status, time, detail)"
                    ));
                }
            }
        }
        Ok(f)
    }

    /// The subscription message's parameters. WeChat limits values by the key's type: `thing`
    /// 20 characters, `character_string` 32, `phrase` 5; longer text is cut with an ellipsis.
    /// `page` (the status link) becomes the message's page.
    pub fn params(
        &self,
        number: &str,
        status: &str,
        time: &str,
        detail: &str,
        page: Option<&str>,
    ) -> Value {
        let mut m = Map::new();
        for (key, value) in [
            (&self.number, number),
            (&self.status, status),
            (&self.time, time),
            (&self.detail, detail),
        ] {
            if key.is_empty() || value.trim().is_empty() {
                continue;
            }
            m.insert(key.clone(), Value::String(fit(key, value.trim())));
        }
        if let Some(p) = page {
            m.insert("_page".into(), Value::String(p.to_string()));
        }
        Value::Object(m)
    }
}

/// Cuts a value to what its template key type takes.
fn fit(key: &str, value: &str) -> String {
    let max = if key.starts_with("thing") {
        20
    } else if key.starts_with("character_string") {
        32
    } else if key.starts_with("phrase") {
        5
    } else {
        return value.to_string();
    };
    let value = value.replace(['\n', '\r'], " ");
    if value.chars().count() <= max {
        return value;
    }
    let mut out: String = value.chars().take(max - 1).collect();
    out.push('…');
    out
}
