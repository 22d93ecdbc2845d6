//! The public request form's own rows: the server's signing key for form tokens (made once,
//! shared by every node through the database) and the accepted submissions the rate limit counts.

use domain::{BrandId, Timestamp};

use crate::{Conn, Error};

/// The secret stored under `name`; `candidate` becomes it when there is none yet (the first
/// node to ask wins, every later caller reads the same value).
pub async fn secret(
    c: &mut Conn,
    name: &str,
    candidate: &str,
    at: Timestamp,
) -> Result<String, Error> {
    sqlx::query("INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .bind(candidate)
        .bind(at.0)
        .execute(&mut *c)
        .await?;
    let (value,): (String,) = sqlx::query_as("SELECT value FROM server_secrets WHERE name = $1")
        .bind(name)
        .fetch_one(&mut *c)
        .await?;
    Ok(value)
}

/// A submission to count.
#[derive(Debug, Clone)]
pub struct Hit<'a> {
    pub brand_id: BrandId,
    /// The form token or the API's Idempotency-Key: a replay of it is not a new hit.
    pub token: &'a str,
    pub ip: &'a str,
    pub phone: &'a str,
    pub at: Timestamp,
}

/// Records a submission unless its token was counted already; returns whether it is new.
pub async fn record_hit(c: &mut Conn, h: &Hit<'_>) -> Result<bool, Error> {
    let inserted: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO web_form_hits (brand_id, token, ip, phone, at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (token) DO NOTHING RETURNING id",
    )
    .bind(h.brand_id.0)
    .bind(h.token)
    .bind(h.ip)
    .bind(h.phone)
    .bind(h.at.0)
    .fetch_optional(&mut *c)
    .await?;
    Ok(inserted.is_some())
}

/// Submissions since `since` from this address and for this phone.
pub async fn hits_since(
    c: &mut Conn,
    ip: &str,
    phone: &str,
    since: Timestamp,
) -> Result<(i64, i64), Error> {
    let (by_ip,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM web_form_hits WHERE ip = $1 AND at >= $2")
            .bind(ip)
            .bind(since.0)
            .fetch_one(&mut *c)
            .await?;
    let (by_phone,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM web_form_hits WHERE phone = $1 AND at >= $2")
            .bind(phone)
            .bind(since.0)
            .fetch_one(&mut *c)
            .await?;
    Ok((by_ip, by_phone))
}
