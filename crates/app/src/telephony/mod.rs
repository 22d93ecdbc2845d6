//! The telephony system on the other side of the hotline (D8). Inbound, it reports call events
//! to `POST /api/v1/telephony/events`, signed with a shared secret ([`verify_callback`]; the
//! [`SimulatedTelephony`] client sends them the same way, for tests and the demo). Outbound, the
//! [`Telephony`] trait places click-to-call calls: the platform rings the agent first, then the
//! customer, and shows both the bound landline — never the 400 number (customers block it, and
//! showing it on outbound calls is not allowed). The real adapter is 阿里云语音服务 `ClickToDial`.

mod aliyun_voice;
mod simulate;

use domain::{Phone, Timestamp};
use store::BoxFuture;

use crate::notify::{Secret, webhook_signature};

pub use aliyun_voice::{ALIYUN_VOICE_ENDPOINT, AliyunVoice, AliyunVoiceConfig};
pub use simulate::{Answer, SimulatedTelephony, TelephonyEvent, scenario};

/// How old a signed callback may be (and how far in the future): 5 minutes.
pub const MAX_SKEW_SECS: i64 = 300;

/// A click-to-call request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialRequest {
    /// The agent's phone, rung first.
    pub agent_phone: Phone,
    /// The customer's phone, rung once the agent answers.
    pub customer_phone: Phone,
    /// The number both parties see: the bound landline.
    pub show_number: Phone,
    /// Our reference, echoed in the provider's call reports.
    pub out_id: String,
    /// When the request is made (the request's timestamp).
    pub at: Timestamp,
}

/// What the provider said about a placed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialed {
    /// The provider's id of the call; its events name it.
    pub call_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialError {
    /// The provider refused the call (wrong number, unapproved show number, no balance, …).
    #[error("the telephony provider refused the call: {0}")]
    Refused(String),
    /// The provider could not be reached or failed; trying again later may work.
    #[error("the telephony provider is unavailable: {0}")]
    Unavailable(String),
}

/// A way to place calls.
pub trait Telephony: Send + Sync {
    fn click_to_dial<'a>(
        &'a self,
        req: &'a DialRequest,
    ) -> BoxFuture<'a, Result<Dialed, DialError>>;
}

/// Why a callback's signature was refused. `code()` names are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CallbackRefusal {
    #[error("telephony callbacks are disabled: KEFU_TELEPHONY_SECRET is not set")]
    Disabled,
    #[error("missing or wrong X-Kefu-Signature")]
    BadSignature,
    #[error("X-Kefu-Timestamp is missing, malformed or more than 5 minutes away from now")]
    StaleTimestamp,
}

impl CallbackRefusal {
    pub fn code(self) -> &'static str {
        match self {
            CallbackRefusal::Disabled => "telephony_disabled",
            CallbackRefusal::BadSignature => "bad_signature",
            CallbackRefusal::StaleTimestamp => "stale_timestamp",
        }
    }
}

/// Checks a callback: `signature` must be `sha256=<hex HMAC-SHA256(secret, timestamp + "." +
/// body)>` (compared in constant time) and `timestamp` Unix seconds within [`MAX_SKEW_SECS`] of
/// `now`, so that a captured callback cannot be replayed later.
pub fn verify_callback(
    secret: Option<&Secret>,
    now: Timestamp,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
) -> Result<(), CallbackRefusal> {
    let secret = secret.ok_or(CallbackRefusal::Disabled)?;
    let ts = timestamp.map(str::trim).unwrap_or_default();
    let secs: i64 = ts.parse().map_err(|_| CallbackRefusal::StaleTimestamp)?;
    if (now.0.div_euclid(1000) - secs).abs() > MAX_SKEW_SECS {
        return Err(CallbackRefusal::StaleTimestamp);
    }
    let given = signature
        .map(str::trim)
        .ok_or(CallbackRefusal::BadSignature)?;
    let expected = webhook_signature(secret.expose(), ts, body);
    if constant_eq(given.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(CallbackRefusal::BadSignature)
    }
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The click-to-call adapter the settings configure, if any.
pub fn from_settings(settings: &crate::Settings) -> crate::Result<Option<Box<dyn Telephony>>> {
    match &settings.voice_aliyun {
        Some(c) => Ok(Some(Box::new(AliyunVoice::new(c.clone())?))),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callbacks_are_checked() {
        let secret = Secret::new("s3cret");
        let now = Timestamp(1_795_395_600_000);
        let body = br#"{"event_id":"e1"}"#;
        let ts = "1795395600";
        let sig = webhook_signature("s3cret", ts, body);
        let ok = verify_callback(Some(&secret), now, Some(ts), Some(&sig), body);
        assert_eq!(ok, Ok(()));
        assert_eq!(
            verify_callback(None, now, Some(ts), Some(&sig), body),
            Err(CallbackRefusal::Disabled)
        );
        assert_eq!(
            verify_callback(Some(&secret), now, Some(ts), Some(&sig), b"{}"),
            Err(CallbackRefusal::BadSignature)
        );
        assert_eq!(
            verify_callback(Some(&secret), now, Some(ts), None, body),
            Err(CallbackRefusal::BadSignature)
        );
        let forged = webhook_signature("guess", ts, body);
        assert_eq!(
            verify_callback(Some(&secret), now, Some(ts), Some(&forged), body),
            Err(CallbackRefusal::BadSignature)
        );
        let late = Timestamp(now.0 + 301_000);
        assert_eq!(
            verify_callback(Some(&secret), late, Some(ts), Some(&sig), body),
            Err(CallbackRefusal::StaleTimestamp)
        );
        let slightly_late = Timestamp(now.0 + 299_000);
        assert_eq!(
            verify_callback(Some(&secret), slightly_late, Some(ts), Some(&sig), body),
            Ok(())
        );
        assert_eq!(
            verify_callback(Some(&secret), now, Some("soon"), Some(&sig), body),
            Err(CallbackRefusal::StaleTimestamp)
        );
        assert_eq!(
            verify_callback(Some(&secret), now, None, Some(&sig), body),
            Err(CallbackRefusal::StaleTimestamp)
        );
    }
}
