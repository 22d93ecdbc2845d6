//! Click-to-call through 阿里云语音服务 (Dyvms) `ClickToDial`, the RPC-style API of version
//! 2017-05-25 (signed as in [`crate::aliyun`]). The platform calls `CallerNumber` (the agent)
//! showing `CallerShowNumber`, then `CalledNumber` (the customer) showing `CalledShowNumber`;
//! both show numbers are the bound landline, never the 400 number. `OutId` carries our
//! reference (1–15 bytes). The answer is JSON: `{"Code":"OK","CallId":…,"RequestId":…}` when the
//! call is placed, another `Code` otherwise.

use serde_json::Value;
use store::BoxFuture;

use super::{DialError, DialRequest, Dialed, Telephony};
use crate::aliyun::signed_get_url;
use crate::notify::Secret;
use crate::{Error, Result};

/// The public endpoint of the voice API.
pub const ALIYUN_VOICE_ENDPOINT: &str = "https://dyvmsapi.aliyuncs.com/";

#[derive(Debug, Clone)]
pub struct AliyunVoiceConfig {
    pub access_key_id: String,
    pub access_key_secret: Secret,
    /// `https://dyvmsapi.aliyuncs.com/` unless set (tests point it at a local fake).
    pub endpoint: String,
    /// Record the calls (`RecordFlag`).
    pub record: bool,
}

impl AliyunVoiceConfig {
    pub fn new(access_key_id: impl Into<String>, access_key_secret: Secret) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            access_key_secret,
            endpoint: ALIYUN_VOICE_ENDPOINT.to_string(),
            record: true,
        }
    }

    #[must_use]
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = endpoint.into();
        self
    }
}

pub struct AliyunVoice {
    client: reqwest::Client,
    config: AliyunVoiceConfig,
}

impl AliyunVoice {
    pub fn new(config: AliyunVoiceConfig) -> Result<Self> {
        reqwest::Url::parse(&config.endpoint)
            .map_err(|e| Error::Conflict(format!("voice endpoint {:?}: {e}", config.endpoint)))?;
        let client = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(5))
            .timeout(std::time::Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(format!("kefu-voice/{}", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Conflict(format!("voice client: {e}")))?;
        Ok(Self { client, config })
    }

    /// The signed `ClickToDial` URL; `nonce` must never repeat.
    pub fn request_url(&self, req: &DialRequest, nonce: &str) -> String {
        let c = &self.config;
        let out_id: String = req.out_id.chars().take(15).collect();
        signed_get_url(
            &c.endpoint,
            &c.access_key_id,
            c.access_key_secret.expose(),
            "ClickToDial",
            "2017-05-25",
            req.at,
            nonce,
            &[
                ("CalledNumber", req.customer_phone.as_str()),
                ("CalledShowNumber", req.show_number.as_str()),
                ("CallerNumber", req.agent_phone.as_str()),
                ("CallerShowNumber", req.show_number.as_str()),
                ("OutId", &out_id),
                ("RecordFlag", if c.record { "true" } else { "false" }),
            ],
        )
    }

    async fn dial(&self, req: &DialRequest) -> Result<Dialed, DialError> {
        let nonce = format!("{}-{}-{:016x}", req.out_id, req.at.0, rand::random::<u64>());
        let url = self.request_url(req, &nonce);
        let response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| DialError::Unavailable(e.to_string()))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| DialError::Unavailable(e.to_string()))?;
        let snippet = || text.chars().take(300).collect::<String>();
        let Ok(body) = serde_json::from_str::<Value>(&text) else {
            return Err(if status.is_server_error() {
                DialError::Unavailable(format!("HTTP {}: {}", status.as_u16(), snippet()))
            } else {
                DialError::Refused(format!("HTTP {}: {}", status.as_u16(), snippet()))
            });
        };
        let code = body["Code"].as_str().unwrap_or_default();
        if code == "OK"
            && let Some(call_id) = body["CallId"].as_str().filter(|s| !s.is_empty())
        {
            return Ok(Dialed {
                call_id: call_id.to_string(),
            });
        }
        let why = format!(
            "{} {}",
            if code.is_empty() { "(no Code)" } else { code },
            body["Message"].as_str().unwrap_or_default()
        );
        if status.is_server_error()
            || code.starts_with("isp.")
            || code.starts_with("Throttling")
            || matches!(code, "InternalError" | "ServiceUnavailable")
        {
            Err(DialError::Unavailable(why))
        } else {
            Err(DialError::Refused(why))
        }
    }
}

impl Telephony for AliyunVoice {
    fn click_to_dial<'a>(
        &'a self,
        req: &'a DialRequest,
    ) -> BoxFuture<'a, Result<Dialed, DialError>> {
        Box::pin(self.dial(req))
    }
}
