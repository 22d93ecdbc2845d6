//! The public request form (SPEC D1, channel `web_form`): anyone may ask a brand for help
//! without signing in, from a phone browser (WeChat's included) or from a mini-program through
//! the JSON twin. A submission becomes a ticket through `tickets::create` acting as the system for
//! that brand; the customer is found by phone within the brand or made anew; a repeat caller's
//! open ticket gets the message instead (D10).
//!
//! Abuse is kept out in three ways. The form carries a token signed with a key the server keeps
//! in the database (`server_secrets`), naming the brand and when the form was issued: a forged
//! token is refused, an old one sends the visitor back to the form. The token is also the
//! submission's idempotency key, so a double click or a refresh answers with the first ticket.
//! A hidden field that people never fill (the honeypot) refuses what machines fill in. And every
//! accepted submission is counted per client address and per phone in `web_form_hits`: more than
//! `MAX_PER_IP` or `MAX_PER_PHONE` within `RATE_WINDOW_MS` is refused with `rate_limited`.

use std::collections::BTreeSet;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::{BrandId, Phone, Scope, TicketId, Timestamp};
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use store::idempotency::{self, IdemKey};
use store::webform::{self, Hit};
use store::{customers, org};
use utoipa::ToSchema;

use crate::error::Fields;
use crate::tickets::TicketInput;
use crate::{App, Clock, Ctx, Error, Result};

/// How long a form stays good after it was opened.
pub const TOKEN_VALID_MS: i64 = 2 * 3600 * 1000;
/// The window the rate limit counts in, and its limits.
pub const RATE_WINDOW_MS: i64 = 3600 * 1000;
pub const MAX_PER_IP: i64 = 10;
pub const MAX_PER_PHONE: i64 = 5;
/// Longest description accepted.
pub const DESCRIPTION_MAX: usize = 2000;
const NAME_MAX: usize = 50;
const PRODUCT_MAX: usize = 100;
const ADDRESS_MAX: usize = 200;
/// How much of the description becomes the ticket's subject.
const SUBJECT_CHARS: usize = 40;
/// The name of the token signing key in `server_secrets`.
const KEY_NAME: &str = "web_form_token";

/// What a visitor may ask for, in the form's order.
pub const KINDS: [&str; 6] = [
    "consultation",
    "repair_request",
    "installation_request",
    "complaint",
    "return_exchange",
    "suggestion",
];

/// A brand as its public form shows it.
#[derive(Debug, Clone)]
pub struct PublicBrand {
    pub id: BrandId,
    pub code: String,
    pub name: String,
}

/// A request for help, as the form or a mini-program sends it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebFormInput {
    pub name: String,
    /// A mainland mobile number (any common spelling: +86 138-0000-0000).
    pub phone: String,
    /// consultation | `repair_request` | `installation_request` | complaint | `return_exchange`
    /// | suggestion
    pub kind: String,
    /// Product model or serial number.
    #[serde(default)]
    pub product: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    /// What happened (at most 2000 characters).
    pub description: String,
}

/// How a submission arrived.
#[derive(Debug, Clone)]
pub enum Via {
    /// The HTML form: its signed token and the honeypot field's value.
    Form { token: String, honeypot: String },
    /// The JSON API: the optional Idempotency-Key header and the body's SHA-256.
    Api {
        idempotency_key: Option<String>,
        body_hash: String,
    },
}

/// What the visitor is told.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Submitted {
    /// The ticket's number (KF…): a new one, or the open ticket the message was added to.
    pub number: String,
    /// The caller already had an open ticket: the request was added to it (D10).
    pub attached: bool,
    /// The requester's status page (signed; absolute when the server's public address is set);
    /// none when the request was added to an open ticket.
    pub status_link: Option<String>,
    /// This answer repeats an earlier submission with the same token or key.
    pub replayed: bool,
}

/// An active brand by its code; an unknown or inactive one is not found.
pub async fn brand(app: &App, code: &str) -> Result<PublicBrand> {
    let code = code.trim().to_string();
    let brands = app
        .db
        .read(|c| Box::pin(async move { org::brands(c).await }))
        .await?;
    brands
        .into_iter()
        .find(|b| b.active && b.code == code)
        .map(|b| PublicBrand {
            id: b.id,
            code: b.code,
            name: b.name,
        })
        .ok_or(Error::NotFound)
}

/// The key form tokens are signed with: made by the first node that needs it, then read.
async fn signing_key(app: &App, now: Timestamp) -> Result<String> {
    let candidate = crate::secret::random_token();
    Ok(app
        .db
        .write(move |c| {
            Box::pin(async move { webform::secret(c, KEY_NAME, &candidate, now).await })
        })
        .await?)
}

fn mac(key: &str, data: &str) -> Vec<u8> {
    let mut m =
        Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes keys of any length");
    m.update(data.as_bytes());
    m.finalize().into_bytes().to_vec()
}

fn signed_part(brand: BrandId, issued: i64, nonce: &str) -> String {
    format!("web_form:{}:{issued}:{nonce}", brand.0)
}

/// A fresh form token for `brand`: `<issued ms>.<nonce>.<signature>`.
pub async fn new_token(app: &App, brand: &PublicBrand, now: Timestamp) -> Result<String> {
    let key = signing_key(app, now).await?;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let nonce = URL_SAFE_NO_PAD.encode(bytes);
    let sig = URL_SAFE_NO_PAD.encode(mac(&key, &signed_part(brand.id, now.0, &nonce)));
    Ok(format!("{}.{nonce}.{sig}", now.0))
}

/// Whether `token` was signed here for `brand`; Ok(issued) or `form_token_invalid`.
fn verify(key: &str, brand: BrandId, token: &str) -> Result<i64> {
    let mut parts = token.trim().split('.');
    let (Some(issued), Some(nonce), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Error::FormTokenInvalid);
    };
    let issued: i64 = issued.parse().map_err(|_| Error::FormTokenInvalid)?;
    let expected = URL_SAFE_NO_PAD.encode(mac(key, &signed_part(brand, issued, nonce)));
    if crate::secret::constant_time_eq(expected.as_bytes(), sig.as_bytes()) {
        Ok(issued)
    } else {
        Err(Error::FormTokenInvalid)
    }
}

/// The form's fields, parsed.
struct Parsed {
    name: String,
    phone: Phone,
    kind: String,
    product: Option<String>,
    address: Option<String>,
    description: String,
}

fn text(f: &mut Fields, field: &str, v: &str, max: usize) -> Option<String> {
    f.take(field, domain::text::required(v, max))
}

fn opt_text(f: &mut Fields, field: &str, v: Option<&str>, max: usize) -> Option<String> {
    f.take(field, domain::text::optional(v, max)).flatten()
}

fn parse(input: &WebFormInput) -> Result<Parsed> {
    let mut f = Fields::new();
    let name = text(&mut f, "name", &input.name, NAME_MAX);
    let phone = match Phone::parse(&input.phone) {
        Ok(p) if p.is_mobile() => Some(p),
        Ok(_) => {
            f.add("phone", "not a mobile number");
            None
        }
        Err(e) => {
            f.add("phone", e.to_string());
            None
        }
    };
    let kind = input.kind.trim();
    let kind = if kind.is_empty() {
        f.add("kind", "required");
        None
    } else if KINDS.contains(&kind) {
        Some(kind.to_string())
    } else {
        f.add("kind", format!("unknown value {kind:?}"));
        None
    };
    let product = opt_text(&mut f, "product", input.product.as_deref(), PRODUCT_MAX);
    let address = opt_text(&mut f, "address", input.address.as_deref(), ADDRESS_MAX);
    let description = text(&mut f, "description", &input.description, DESCRIPTION_MAX);
    f.finish()?;
    match (name, phone, kind, description) {
        (Some(name), Some(phone), Some(kind), Some(description)) => Ok(Parsed {
            name,
            phone,
            kind,
            product,
            address,
            description,
        }),
        _ => Err(Error::field("description", "required")),
    }
}

/// The subject: the description's first line, shortened.
fn subject_of(description: &str) -> String {
    let line = description
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    if line.chars().count() > SUBJECT_CHARS {
        let mut s: String = line.chars().take(SUBJECT_CHARS).collect();
        s.push('…');
        s
    } else {
        line.to_string()
    }
}

/// The ticket's description: what the visitor wrote, then the product and the address.
fn description_of(p: &Parsed) -> String {
    let mut out = p.description.clone();
    let mut extra = Vec::new();
    if let Some(x) = &p.product {
        extra.push(format!("产品型号/序列号：{x}"));
    }
    if let Some(x) = &p.address {
        extra.push(format!("地址：{x}"));
    }
    if !extra.is_empty() {
        out.push_str("\n\n");
        out.push_str(&extra.join("\n"));
    }
    out
}

/// The digest a form submission's idempotency key is checked against: the parsed fields, so
/// that a refresh (same values) is a replay and an edited resubmission of the same form is not.
fn form_body_hash(p: &Parsed) -> String {
    let canonical = serde_json::json!([
        p.name,
        p.phone.as_str(),
        p.kind,
        p.product,
        p.address,
        p.description
    ]);
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

/// The system acting for the brand: it sees and creates only within that brand.
fn brand_ctx(clock: Arc<dyn Clock>, brand: BrandId) -> Ctx {
    let mut ctx = Ctx::system("web_form", clock);
    ctx.scope = Scope::Brands(BTreeSet::from([brand]));
    ctx
}

/// Turns a submission into a ticket (or a message on the caller's open ticket) and says which.
pub async fn submit(
    app: &App,
    clock: Arc<dyn Clock>,
    code: &str,
    ip: &str,
    input: WebFormInput,
    via: Via,
) -> Result<Submitted> {
    let brand = brand(app, code).await?;
    let now = clock.now();
    let route = format!("POST /help/{}", brand.code);
    let (idem, key, p) = match via {
        Via::Form { token, honeypot } => {
            if !honeypot.trim().is_empty() {
                return Err(Error::FormRefused);
            }
            let key = signing_key(app, now).await?;
            let issued = verify(&key, brand.id, &token)?;
            let parsed = parse(&input)?;
            let idem = IdemKey {
                principal: "web_form".into(),
                route: route.clone(),
                key: token.trim().to_string(),
                body_hash: form_body_hash(&parsed),
            };
            if issued > now.0 + 60_000 {
                return Err(Error::FormTokenInvalid);
            }
            if now.0 - issued > TOKEN_VALID_MS {
                // A refresh of a form sent long ago still answers with its ticket.
                let k = idem.clone();
                let used = app
                    .db
                    .read(move |c| Box::pin(async move { idempotency::find(c, &k).await }))
                    .await?;
                if used.is_none() {
                    return Err(Error::FormTokenExpired);
                }
            }
            (Some(idem), Some(key), parsed)
        }
        Via::Api {
            idempotency_key,
            body_hash,
        } => {
            let parsed = parse(&input)?;
            match idempotency_key
                .map(|k| k.trim().to_string())
                .filter(|k| !k.is_empty())
            {
                Some(k) => {
                    let key = signing_key(app, now).await?;
                    let idem = IdemKey {
                        principal: "public_api".into(),
                        route: format!("POST /api/v1/public/brands/{}/tickets", brand.code),
                        key: k,
                        body_hash,
                    };
                    (Some(idem), Some(key), parsed)
                }
                None => (None, None, parsed),
            }
        }
    };

    // The rate limit: one hit per token (a replay is not counted again).
    let hit_token = idem.as_ref().map_or_else(crate::secret::random_token, |k| {
        format!("{}:{}:{}", k.principal, k.route, k.key)
    });
    let (ip_s, phone_s, b) = (ip.to_string(), p.phone.as_str().to_string(), brand.id);
    app.db
        .write(move |c| {
            Box::pin(async move {
                let fresh = webform::record_hit(
                    c,
                    &Hit {
                        brand_id: b,
                        token: &hit_token,
                        ip: &ip_s,
                        phone: &phone_s,
                        at: now,
                    },
                )
                .await?;
                if fresh {
                    let since = Timestamp(now.0 - RATE_WINDOW_MS);
                    let (by_ip, by_phone) = webform::hits_since(c, &ip_s, &phone_s, since).await?;
                    if by_ip > MAX_PER_IP || by_phone > MAX_PER_PHONE {
                        return Err(Error::RateLimited);
                    }
                }
                Ok(())
            })
        })
        .await?;

    let ctx = brand_ctx(clock, brand.id);
    let customer = customer_for(app, &ctx, &p, idem.as_ref()).await?;
    // The status-link key follows from the signed token, so a replay can show the link again.
    let link_key = match (&idem, &key) {
        (Some(i), Some(k)) => Some(URL_SAFE_NO_PAD.encode(mac(
            k,
            &format!("status_link:{}:{}:{}", i.principal, i.route, i.key),
        ))),
        _ => None,
    };
    let created = crate::tickets::create_keyed(
        app,
        &ctx.clone().with_idem(idem),
        TicketInput {
            kind: p.kind.clone(),
            channel: Some("web_form".into()),
            subject: subject_of(&p.description),
            description: description_of(&p),
            customer_id: Some(customer),
            phone: Some(p.phone.as_str().to_string()),
            contact_name: Some(p.name.clone()),
            ..TicketInput::default()
        },
        link_key.clone(),
    )
    .await?;
    if !created.replayed {
        return Ok(Submitted {
            number: created.number,
            attached: created.attached,
            status_link: created.status_link,
            replayed: false,
        });
    }
    // A replay: the first answer made the ticket when the derived key opens it, else it added
    // the message to an open one.
    let id = TicketId(created.id);
    let k = link_key.clone();
    let (number, made_here) = app
        .db
        .read(move |c| {
            Box::pin(async move {
                let t = store::tickets::get(c, &Scope::All, id).await?;
                let made = match &k {
                    Some(k) => crate::tickets::link_key_matches(c, id, k).await?,
                    None => false,
                };
                Ok::<_, Error>((t.number, made))
            })
        })
        .await?;
    Ok(Submitted {
        status_link: link_key
            .filter(|_| made_here)
            .map(|k| crate::tickets::status_link_of(app, &number, &k)),
        number,
        attached: !made_here,
        replayed: true,
    })
}

/// The customer with this phone within the brand, or a new individual customer (linked to the
/// brand) named as the visitor wrote.
async fn customer_for(app: &App, ctx: &Ctx, p: &Parsed, idem: Option<&IdemKey>) -> Result<i64> {
    let scope = ctx.scope.clone();
    let phone = p.phone.clone();
    let find = move |app: App| {
        let (scope, phone) = (scope.clone(), phone.clone());
        async move {
            app.db
                .read(move |c| {
                    Box::pin(async move { customers::find_by_phone(c, &scope, &phone).await })
                })
                .await
                .map(|found| found.first().map(|c| c.id.0))
        }
    };
    if let Some(id) = find(app.clone()).await? {
        return Ok(id);
    }
    let idem = idem.map(|k| IdemKey {
        principal: k.principal.clone(),
        route: format!("{} customer", k.route),
        key: k.key.clone(),
        body_hash: hex::encode(Sha256::digest(
            format!("{}\n{}", p.name, p.phone.as_str()).as_bytes(),
        )),
    });
    let made = crate::ledger::create_customer(
        app,
        &ctx.clone().with_idem(idem),
        crate::ledger::CustomerInput {
            kind: "individual".into(),
            name: p.name.clone(),
            phone: Some(p.phone.as_str().to_string()),
            ..crate::ledger::CustomerInput::default()
        },
    )
    .await;
    match made {
        Ok(c) => Ok(c.id.0),
        // Another submission for the same phone made the customer first.
        Err(Error::Duplicate { .. }) => find(app.clone()).await?.ok_or(Error::NotFound),
        Err(e) => Err(e),
    }
}
