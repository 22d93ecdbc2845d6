//! Browser sessions, API tokens and failed logins. Only SHA-256 digests of secrets are stored.

use domain::{ApiTokenId, BrandId, Timestamp, UserId};

use crate::{Conn, Error};

#[derive(Debug, Clone)]
pub struct SessionRow {
    pub id: i64,
    pub user_id: UserId,
    pub csrf_token: String,
    pub last_seen_at: Timestamp,
    pub expires_at: Timestamp,
}

pub async fn create(
    c: &mut Conn,
    token_hash: &str,
    user: UserId,
    csrf: &str,
    at: Timestamp,
    expires: Timestamp,
) -> Result<(), Error> {
    sqlx::query("INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $4, $5)")
        .bind(token_hash)
        .bind(user.0)
        .bind(csrf)
        .bind(at.0)
        .bind(expires.0)
        .execute(&mut *c)
        .await?;
    Ok(())
}

pub async fn find(
    c: &mut Conn,
    token_hash: &str,
    now: Timestamp,
) -> Result<Option<SessionRow>, Error> {
    let row: Option<(i64, i64, String, i64, i64)> = sqlx::query_as(
        "SELECT s.id, s.user_id, s.csrf_token, s.last_seen_at, s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.active = 1",
    )
    .bind(token_hash)
    .bind(now.0)
    .fetch_optional(&mut *c)
    .await?;
    Ok(row.map(|(id, user, csrf, seen, exp)| SessionRow {
        id,
        user_id: UserId(user),
        csrf_token: csrf,
        last_seen_at: Timestamp(seen),
        expires_at: Timestamp(exp),
    }))
}

pub async fn touch(c: &mut Conn, id: i64, at: Timestamp, expires: Timestamp) -> Result<(), Error> {
    sqlx::query("UPDATE sessions SET last_seen_at = $1, expires_at = $2 WHERE id = $3")
        .bind(at.0)
        .bind(expires.0)
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

pub async fn delete(c: &mut Conn, token_hash: &str) -> Result<(), Error> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Removes what has expired: sessions, old login failures and web-form hits, idempotency keys
/// past their day.
pub async fn sweep(
    c: &mut Conn,
    now: Timestamp,
    failures_before: Timestamp,
    idempotency_before: Timestamp,
) -> Result<u64, Error> {
    let a = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(now.0)
        .execute(&mut *c)
        .await?
        .rows_affected();
    let b = sqlx::query("DELETE FROM login_failures WHERE at < $1")
        .bind(failures_before.0)
        .execute(&mut *c)
        .await?
        .rows_affected();
    let d = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
        .bind(idempotency_before.0)
        .execute(&mut *c)
        .await?
        .rows_affected();
    // The web form's rate limit looks back an hour; a day of hits is plenty.
    let hits = sqlx::query("DELETE FROM web_form_hits WHERE at < $1")
        .bind(failures_before.0)
        .execute(&mut *c)
        .await?
        .rows_affected();
    Ok(a + b + d + hits)
}

#[derive(Debug, Clone)]
pub struct TokenRow {
    pub id: ApiTokenId,
    pub name: String,
    pub user_id: UserId,
    pub brand_id: Option<BrandId>,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

type TokenTuple = (i64, String, i64, Option<i64>, i64, Option<i64>, Option<i64>);

fn token(t: TokenTuple) -> TokenRow {
    TokenRow {
        id: ApiTokenId(t.0),
        name: t.1,
        user_id: UserId(t.2),
        brand_id: t.3.map(BrandId),
        created_at: Timestamp(t.4),
        last_used_at: t.5.map(Timestamp),
        revoked_at: t.6.map(Timestamp),
    }
}

pub async fn create_token(
    c: &mut Conn,
    token_hash: &str,
    name: &str,
    user: UserId,
    brand: Option<BrandId>,
    at: Timestamp,
) -> Result<ApiTokenId, Error> {
    let (id,): (i64,) = sqlx::query_as("INSERT INTO api_tokens (token_hash, name, user_id, brand_id, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id")
        .bind(token_hash)
        .bind(name)
        .bind(user.0)
        .bind(brand.map(|b| b.0))
        .bind(at.0)
        .fetch_one(&mut *c)
        .await?;
    Ok(ApiTokenId(id))
}

/// The live token with this digest, if any, and whether its owner is active.
pub async fn find_token(c: &mut Conn, token_hash: &str) -> Result<Option<TokenRow>, Error> {
    let row: Option<TokenTuple> = sqlx::query_as(
        "SELECT t.id, t.name, t.user_id, t.brand_id, t.created_at, t.last_used_at, t.revoked_at FROM api_tokens t JOIN users u ON u.id = t.user_id
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.active = 1",
    )
    .bind(token_hash)
    .fetch_optional(&mut *c)
    .await?;
    Ok(row.map(token))
}

pub async fn touch_token(c: &mut Conn, id: ApiTokenId, at: Timestamp) -> Result<(), Error> {
    sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
        .bind(at.0)
        .bind(id.0)
        .execute(&mut *c)
        .await?;
    Ok(())
}

pub async fn tokens(c: &mut Conn, user: Option<UserId>) -> Result<Vec<TokenRow>, Error> {
    let rows: Vec<TokenTuple> = sqlx::query_as(
        "SELECT id, name, user_id, brand_id, created_at, last_used_at, revoked_at FROM api_tokens WHERE ($1 IS NULL OR user_id = $1) ORDER BY id DESC",
    )
    .bind(user.map(|u| u.0))
    .fetch_all(&mut *c)
    .await?;
    Ok(rows.into_iter().map(token).collect())
}

pub async fn revoke_token(c: &mut Conn, id: ApiTokenId, at: Timestamp) -> Result<TokenRow, Error> {
    let row: Option<TokenTuple> = sqlx::query_as(
        "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL RETURNING id, name, user_id, brand_id, created_at, last_used_at, revoked_at",
    )
    .bind(at.0)
    .bind(id.0)
    .fetch_optional(&mut *c)
    .await?;
    row.map(token).ok_or(Error::NotFound)
}

pub async fn record_failure(
    c: &mut Conn,
    login: &str,
    ip: &str,
    at: Timestamp,
) -> Result<(), Error> {
    sqlx::query("INSERT INTO login_failures (login, ip, at) VALUES ($1, $2, $3)")
        .bind(login)
        .bind(ip)
        .bind(at.0)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Failed logins since `since` for this login and for this address.
pub async fn failures_since(
    c: &mut Conn,
    login: &str,
    ip: &str,
    since: Timestamp,
) -> Result<(i64, i64), Error> {
    let (by_login,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM login_failures WHERE login = $1 AND at >= $2")
            .bind(login)
            .bind(since.0)
            .fetch_one(&mut *c)
            .await?;
    let (by_ip,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM login_failures WHERE ip = $1 AND at >= $2")
            .bind(ip)
            .bind(since.0)
            .fetch_one(&mut *c)
            .await?;
    Ok((by_login, by_ip))
}

pub async fn clear_failures(c: &mut Conn, login: &str) -> Result<(), Error> {
    sqlx::query("DELETE FROM login_failures WHERE login = $1")
        .bind(login)
        .execute(&mut *c)
        .await?;
    Ok(())
}
