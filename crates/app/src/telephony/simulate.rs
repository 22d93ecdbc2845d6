//! The callback wire format, and a telephony client that speaks it: it signs events with the
//! shared secret and posts them over HTTP the way the telephony system does. Tests drive the
//! hotline with it (duplicates, out-of-order events, forged signatures) and `kefu simulate-call`
//! uses it for the demo.

use domain::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::notify::{Secret, webhook_signature};
use crate::{Error, Result};

/// One call event as the telephony system posts it to `POST /api/v1/telephony/events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TelephonyEvent {
    /// The provider's id of this event, unique per provider: a retried callback carries the same
    /// id and is acknowledged without effect.
    pub event_id: String,
    /// The provider's id of the call; every event of one call carries it.
    pub call_id: String,
    /// `ringing`, `answered`, `missed`, `abandoned`, `voicemail`, `ended` or `recording`.
    #[serde(rename = "type")]
    pub kind: String,
    /// When it happened, RFC 3339 with offset (`2026-11-23T09:00:00+08:00`).
    pub at: String,
    /// The caller's number as the network presents it (may be empty when withheld).
    #[serde(default)]
    pub caller: String,
    /// The number called: the hotline (400) number for inbound calls.
    #[serde(default)]
    pub called: String,
    /// `inbound` (default) or `outbound`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    /// The agent's extension (分机) the event concerns, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
    /// The recording (`recording`) or voicemail (`voicemail`) URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_url: Option<String>,
    /// Which telephony system sends it (default `default`); call and event ids are unique per
    /// provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

impl TelephonyEvent {
    /// An event of an inbound call.
    pub fn inbound(
        event_id: &str,
        call_id: &str,
        kind: &str,
        at: Timestamp,
        from: &str,
        to: &str,
    ) -> Self {
        Self {
            event_id: event_id.to_string(),
            call_id: call_id.to_string(),
            kind: kind.to_string(),
            at: rfc3339(at),
            caller: from.to_string(),
            called: to.to_string(),
            direction: None,
            extension: None,
            recording_url: None,
            provider: None,
        }
    }

    #[must_use]
    pub fn extension(mut self, ext: &str) -> Self {
        self.extension = Some(ext.to_string());
        self
    }

    #[must_use]
    pub fn recording(mut self, url: &str) -> Self {
        self.recording_url = Some(url.to_string());
        self
    }
}

fn rfc3339(t: Timestamp) -> String {
    chrono::DateTime::from_timestamp_millis(t.0)
        .unwrap_or_default()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8 is an offset"))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
}

/// What the hotline answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: serde_json::Value,
}

/// A telephony system posting signed callbacks to a kefu server.
pub struct SimulatedTelephony {
    client: reqwest::Client,
    url: String,
    secret: Secret,
}

impl SimulatedTelephony {
    /// `base` is the server (`http://127.0.0.1:8080`).
    pub fn new(base: &str, secret: Secret) -> Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(15))
            .build()
            .map_err(|e| Error::Conflict(format!("telephony client: {e}")))?;
        Ok(Self {
            client,
            url: format!("{}/api/v1/telephony/events", base.trim_end_matches('/')),
            secret,
        })
    }

    /// Posts `event`, signed at `signed_at` (the sender's clock).
    pub async fn send(&self, event: &TelephonyEvent, signed_at: Timestamp) -> Result<Answer> {
        let body = serde_json::to_string(event).map_err(|e| Error::Conflict(e.to_string()))?;
        let ts = signed_at.0.div_euclid(1000).to_string();
        let sig = webhook_signature(self.secret.expose(), &ts, body.as_bytes());
        self.send_raw(&body, Some(&ts), Some(&sig)).await
    }

    /// Posts `body` with exactly these headers (a forged or missing signature, a stale
    /// timestamp).
    pub async fn send_raw(
        &self,
        body: &str,
        timestamp: Option<&str>,
        signature: Option<&str>,
    ) -> Result<Answer> {
        let mut req = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        if let Some(ts) = timestamp {
            req = req.header("X-Kefu-Timestamp", ts);
        }
        if let Some(sig) = signature {
            req = req.header("X-Kefu-Signature", sig);
        }
        let res = req
            .send()
            .await
            .map_err(|e| Error::Conflict(format!("posting to {}: {e}", self.url)))?;
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        Ok(Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        })
    }
}

/// The events of a typical call, for the demo: a ring, then an answer and hang-up 45 s later,
/// or (`missed`) a hang-up after 30 s of ringing. Each event is 1 s apart from `start` at most
/// as a person would see them.
pub fn scenario(
    call_id: &str,
    start: Timestamp,
    from: &str,
    to: &str,
    extension: Option<&str>,
    missed: bool,
) -> Vec<TelephonyEvent> {
    let ev = |n: u32, kind: &str, at: i64| {
        let e = TelephonyEvent::inbound(
            &format!("{call_id}-{n}"),
            call_id,
            kind,
            Timestamp(at),
            from,
            to,
        );
        match extension {
            Some(x) => e.extension(x),
            None => e,
        }
    };
    if missed {
        vec![ev(1, "ringing", start.0), ev(2, "missed", start.0 + 30_000)]
    } else {
        vec![
            ev(1, "ringing", start.0),
            ev(2, "answered", start.0 + 8_000),
            ev(3, "ended", start.0 + 53_000),
        ]
    }
}
