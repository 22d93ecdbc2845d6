//! Email over SMTP (`lettre`).
//!
//! The server is a URL (`KEFU_SMTP_URL`): `smtps://user:pass@host:465` (TLS from the start),
//! `smtp://user:pass@host:587?tls=required` (STARTTLS) or `smtp://host:25` (no TLS, for a
//! relay on the same host). The sender is `KEFU_MAIL_FROM` (`客服中心 <service@example.com>`).
//! The recipient is the address; the subject is the `subject` parameter (else the template) and
//! the plain-text body the `body` parameter, else one `key: value` line per parameter (keys
//! starting with `_` are left out). The body goes base64-encoded UTF-8 so Chinese text
//! survives any relay; the Message-ID names the outbox row, the same on every retry. The
//! payload may steer threading with adapter instructions (`app::mail` writes them for ticket
//! mails): `_message_id` (an id without `@` gets `@<sender domain>`), `_reply_to` (`+TAG` is the
//! sender's address with that sub-address, `service+TAG@domain`; anything with `@` is used as
//! is) and `_in_reply_to` (the Message-ID answered; also sent as References). The
//! server's last reply (`250 … queued as …`) is kept as the provider ref; a 4xx reply, a
//! timeout or a lost connection is retried, a 5xx reply or a malformed address is final.

use std::fmt::Write as _;
use std::time::Duration;

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde_json::Value;
use store::BoxFuture;

use super::{Channel, Delivery, OutboundMessage, Secret, SendError, param_text};
use crate::{Error, Result};

/// The SMTP server (a URL that may hold credentials) and the sender.
#[derive(Debug, Clone)]
pub struct EmailConfig {
    pub smtp_url: Secret,
    pub from: String,
}

pub struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    domain: String,
}

/// The subject and plain-text body of a message.
pub fn email_text(template: &str, params: &Value) -> (String, String) {
    let subject = params
        .get("subject")
        .map(param_text)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| template.to_string());
    let body = params
        .get("body")
        .map(param_text)
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| {
            let mut out = String::new();
            if let Value::Object(o) = params {
                for (k, v) in o {
                    if k == "subject" || k.starts_with('_') {
                        continue;
                    }
                    let _ = writeln!(out, "{k}: {}", param_text(v));
                }
            }
            out
        });
    (subject, body)
}

impl Email {
    pub fn new(config: &EmailConfig) -> Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(config.smtp_url.expose())
            .map_err(|e| Error::Conflict(format!("KEFU_SMTP_URL: {e}")))?
            .timeout(Some(Duration::from_secs(15)))
            .build();
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| Error::Conflict(format!("mail sender {:?}: {e}", config.from)))?;
        let domain = from.email.domain().to_string();
        Ok(Self {
            transport,
            from,
            domain,
        })
    }

    /// `_message_id` completed with our domain, else one naming the outbox row.
    fn message_id(&self, msg: &OutboundMessage) -> String {
        match instruction(&msg.params, "_message_id") {
            Some(id) if id.contains('@') => format!("<{}>", id.trim_matches(['<', '>'])),
            Some(id) => format!("<{id}@{}>", self.domain),
            None => format!("<kefu-outbox-{}@{}>", msg.id.0, self.domain),
        }
    }

    /// `_reply_to`: `+TAG` is our own address with that sub-address.
    fn reply_to(&self, params: &Value) -> Result<Option<Mailbox>, SendError> {
        let Some(r) = instruction(params, "_reply_to") else {
            return Ok(None);
        };
        let bad = |e: &dyn std::fmt::Display| SendError::Permanent(format!("Reply-To {r:?}: {e}"));
        match r.strip_prefix('+') {
            Some(tag) => {
                let email = format!("{}+{tag}@{}", self.from.email.user(), self.domain)
                    .parse()
                    .map_err(|e| bad(&e))?;
                Ok(Some(Mailbox::new(self.from.name.clone(), email)))
            }
            None => r.parse().map(Some).map_err(|e| bad(&e)),
        }
    }

    async fn send_mail(&self, msg: &OutboundMessage) -> Result<Delivery, SendError> {
        let to: Mailbox =
            msg.recipient.trim().parse().map_err(|e| {
                SendError::Permanent(format!("email address {:?}: {e}", msg.recipient))
            })?;
        let (subject, text) = email_text(&msg.template, &msg.params);
        let body = Body::new_with_encoding(text, ContentTransferEncoding::Base64)
            .map_err(|_| SendError::Permanent("email body cannot be encoded".into()))?;
        let mut builder = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(self.message_id(msg)));
        if let Some(r) = self.reply_to(&msg.params)? {
            builder = builder.reply_to(r);
        }
        if let Some(id) = instruction(&msg.params, "_in_reply_to") {
            let id = format!("<{}>", id.trim_matches(['<', '>']));
            builder = builder.in_reply_to(id.clone()).references(id);
        }
        let email = builder
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| SendError::Permanent(format!("email: {e}")))?;
        match self.transport.send(email).await {
            Ok(response) => {
                let text = response.message().collect::<Vec<_>>().join(" ");
                Ok(Delivery {
                    provider_ref: Some(format!("{} {text}", response.code()).trim().to_string()),
                })
            }
            Err(e) if e.is_permanent() => Err(SendError::Permanent(format!("SMTP: {e}"))),
            Err(e) => Err(SendError::Retryable(format!("SMTP: {e}"))),
        }
    }
}

impl Channel for Email {
    fn send<'a>(&'a self, msg: &'a OutboundMessage) -> BoxFuture<'a, Result<Delivery, SendError>> {
        Box::pin(self.send_mail(msg))
    }
}

/// A non-empty string instruction of the payload.
fn instruction<'a>(params: &'a Value, key: &str) -> Option<&'a str> {
    params
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty() && !s.contains(['\r', '\n']))
}
